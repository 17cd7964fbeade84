//! What the optimizing compiler makes of representative functions: how many kernels each
//! becomes (fusion), how many nodes stay with the eager kernels, and that the fused code
//! computes what eager mode computes. `kernels_of` is the helper: it compiles a function in
//! strict mode with the default (Cranelift) backend, calls it, compares with eager, and
//! returns the compile statistics.

use ignis::compile::CompileStats;
use ignis::{CompileOptions, DType, Tensor, compile_with, manual_seed, no_grad};
use std::sync::Mutex;

static SEEDED: Mutex<()> = Mutex::new(());

fn randn(shape: &[usize], seed: u64) -> Tensor {
    let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    manual_seed(seed);
    Tensor::randn(shape.to_vec(), DType::F32)
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (a.to_vec::<f32>(), b.to_vec::<f32>());
    a.iter().zip(&b).map(|(x, y)| ((x - y).abs() / y.abs().max(1.0)) as f64).fold(0.0, f64::max)
}

/// Compiles `f`, runs it twice on `args` (the second call replays), checks the result
/// against eager within `tol`, and returns the statistics.
fn kernels_of<A: ignis::compile::Args + Clone>(
    f: impl Fn(A) -> Tensor + Send + Sync,
    args: A,
    tol: f64,
) -> CompileStats {
    no_grad(|| {
        let want = f(args.clone());
        let compiled = compile_with(&f, CompileOptions::default().strict(true));
        for _ in 0..2 {
            let got = compiled.call(args.clone());
            let diff = max_rel_diff(&got, &want);
            assert!(diff <= tol, "compiled differs from eager by {diff:e} (tolerance {tol:e})");
        }
        compiled.stats()
    })
}

#[test]
fn an_elementwise_chain_is_one_kernel() {
    let (x, w, b) = (randn(&[64, 256], 1), randn(&[64, 256], 2), randn(&[64, 256], 3));
    let stats = kernels_of(|(x, w, b): (Tensor, Tensor, Tensor)| x.mul(&w).add(&b).gelu_tanh(), (x, w, b), 1e-5);
    assert_eq!((stats.kernels, stats.eager_nodes, stats.native_fallbacks), (1, 0, 0));
}

#[test]
fn softmax_is_one_kernel_with_its_prologue_and_epilogue() {
    let x = randn(&[32, 100], 4);
    let stats = kernels_of(|x: Tensor| x.mul_scalar(0.5).softmax(-1).mul_scalar(3.0), x, 1e-5);
    assert_eq!((stats.kernels, stats.eager_nodes), (1, 0));
}

#[test]
fn a_residual_add_and_layer_norm_with_weight_and_bias_are_one_kernel() {
    let (x, w, b) = (randn(&[16, 300], 5), randn(&[300], 6), randn(&[300], 7));
    let stats = kernels_of(
        |(x, w, b): (Tensor, Tensor, Tensor)| x.add(&w).layer_norm(&[300], Some(&w), Some(&b), 1e-5),
        (x, w, b),
        1e-5,
    );
    assert_eq!((stats.kernels, stats.eager_nodes), (1, 0));
}

#[test]
fn a_lone_softmax_keeps_its_hand_written_kernel() {
    // Nothing to fuse: the eager kernel's 16-lane vectors beat generated 4-lane code.
    let x = randn(&[32, 100], 15);
    let stats = kernels_of(|x: Tensor| x.softmax(-1), x, 1e-6);
    assert_eq!((stats.kernels, stats.eager_nodes), (0, 1));
}

#[test]
fn a_linear_layer_is_a_gemm_and_one_epilogue_kernel() {
    let (x, w, b) = (randn(&[8, 32], 8), randn(&[64, 32], 9), randn(&[64], 10));
    let stats = kernels_of(|(x, w, b): (Tensor, Tensor, Tensor)| x.matmul(&w.t()).add(&b).gelu_tanh(), (x, w, b), 1e-5);
    // The transpose is a view the GEMM reads in place; bias and GELU are one kernel.
    assert_eq!(stats.kernels, 1);
    assert_eq!(stats.eager_nodes, 2, "permute (a view) and matmul run outside kernels");
}

#[test]
fn a_hundred_tiny_ops_become_one_kernel() {
    let x = randn(&[64], 11);
    let stats = kernels_of(
        |x: Tensor| {
            let mut x = x;
            for i in 0..100 {
                x = if i % 2 == 0 { x.mul_scalar(1.0001).add_scalar(0.0001) } else { x.tanh() };
            }
            x
        },
        x,
        1e-5,
    );
    assert_eq!((stats.kernels, stats.eager_nodes), (1, 0));
}

#[test]
fn a_reduction_and_its_broadcast_consumer_share_a_kernel() {
    // x - mean(x) over rows, then the row sums of squares: one kernel, three stages.
    let x = randn(&[10, 40], 12);
    let stats = kernels_of(
        |x: Tensor| {
            let centered = x.sub(&x.mean_dims(&[-1], true));
            centered.mul(&centered).sum(-1, false)
        },
        x,
        1e-5,
    );
    assert_eq!((stats.kernels, stats.eager_nodes), (1, 0));
}

#[test]
fn transposed_and_sliced_inputs_are_read_in_place() {
    let x = randn(&[48, 40], 13);
    let stats = kernels_of(|x: Tensor| x.t().exp().add(&x.t().narrow(1, 0, 48)), x, 1e-5);
    assert_eq!(stats.native_fallbacks, 0);
    assert_eq!(stats.kernels, 1);
}

#[test]
fn dumps_show_the_optimized_graph_the_kernels_and_their_cranelift_ir() {
    let dir = std::env::temp_dir().join(format!("ignis-kernel-dumps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let x = randn(&[8, 16], 14);
    let options = CompileOptions::default().strict(true).dump_dir(&dir).name("dumped");
    let compiled = compile_with(|x: Tensor| x.mul_scalar(1.0).mul_scalar(2.0).softmax(-1), options);
    no_grad(|| compiled.call(x));
    let read = |suffix: &str| {
        let path = dir.join(format!("dumped_000.captured.{suffix}"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let optimized = read("optimized.txt");
    let muls = optimized.lines().filter(|l| l.contains(" mul ")).count();
    assert!(optimized.contains("softmax") && muls == 1, "x * 1 is rewritten away:\n{optimized}");
    let kernels = read("kernels.txt");
    assert!(kernels.contains("reduce max") && kernels.contains("reduce sum"), "{kernels}");
    let clif = read("clif");
    assert!(clif.contains("function") && clif.contains("f32x4"), "{clif}");
    read("fusion.txt");
    let _ = std::fs::remove_dir_all(&dir);
}

/// f16 values run in kernels (before, every f16 op stayed with the eager kernels): each is
/// stored rounded, as eager mode rounds it, and read back by the next kernel.
#[test]
fn half_precision_ops_run_in_kernels_with_eager_rounding() {
    let x = randn(&[48, 96], 12).to_dtype(DType::F16);
    let y = randn(&[48, 96], 13).to_dtype(DType::F16);
    let stats = kernels_of(|(x, y): (Tensor, Tensor)| x.mul(&y).add_scalar(1.0).relu().sum(0, false), (x, y), 1e-3);
    assert_eq!((stats.eager_nodes, stats.native_fallbacks), (0, 0));
    assert_eq!(stats.kernels, 4, "{stats:?}");
}

/// An f64 tensor rounded to f32 (an optimizer's step size, say) is read by the kernel that
/// uses it: f64 inputs enter kernels only through that cast; arithmetic in f64 stays eager.
#[test]
fn f64_values_rounded_to_f32_are_read_by_the_kernel() {
    let x = randn(&[32, 40], 14);
    let step = Tensor::from_vec(vec![1e-3f64 / 3.0; 40], vec![40]);
    let stats = kernels_of(
        |(x, s): (Tensor, Tensor)| x.sub(&s.to_dtype(DType::F32).mul(&x)).tanh(),
        (x.clone(), step.clone()),
        1e-5,
    );
    assert_eq!((stats.kernels, stats.eager_nodes, stats.native_fallbacks), (1, 0, 0), "{stats:?}");
    let stats = kernels_of(|(x, s): (Tensor, Tensor)| x.add(&s.mul_scalar(2.0).to_dtype(DType::F32)), (x, step), 1e-5);
    assert_eq!((stats.kernels, stats.eager_nodes), (1, 2), "the f64 constant and product run eagerly: {stats:?}");
}

/// Compiles `f` (strict), calls it on each input against eager, and asserts that every
/// input after the first finds all its kernels' code in the cache (`what` names the
/// varying size in messages).
fn assert_later_sizes_generate_no_code(f: impl Fn(Tensor) -> Tensor + Send + Sync, inputs: Vec<Tensor>, what: &str) {
    let compiled = compile_with(&f, CompileOptions::default().strict(true));
    let mut generated = None;
    for x in inputs {
        let shape = x.shape().to_vec();
        no_grad(|| {
            let diff = max_rel_diff(&compiled.call(x.clone()), &f(x));
            assert!(diff <= 1e-5, "{what}, input {shape:?}: compiled differs from eager by {diff:e}");
        });
        let stats = compiled.stats();
        assert_eq!((stats.eager_nodes, stats.native_fallbacks), (0, 0), "{stats:?}");
        match generated {
            None => generated = Some(stats.kernels_generated),
            Some(first) => {
                assert_eq!(stats.kernels_generated, first, "{what}, input {shape:?} generated code: {stats:?}")
            }
        }
    }
    assert!(compiled.stats().compiles >= 2, "{what}: sizes after the first compile programs of their own");
}

/// A batch dim that varies is the outermost loop of every kernel here, and the outermost
/// extent is a run-time range: once the first size is compiled, later sizes (made
/// symbolic by the second) find all their code in the kernel cache.
#[test]
fn new_batch_sizes_reuse_the_generated_kernels() {
    let w = randn(&[1, 64], 15);
    let f = move |x: Tensor| x.mul(&w).add_scalar(0.5).gelu_tanh().softmax(-1).add(&x.sum(1, true));
    let inputs = [8, 16, 24, 40, 3].into_iter().enumerate().map(|(i, batch)| randn(&[batch, 64], 20 + i as u64));
    assert_later_sizes_generate_no_code(f, inputs.collect(), "batch");
}

/// A sequence length that varies is an inner loop or an inner stride of several kernels
/// here (a softmax and a mean over it, a broadcast back along it). Extents and strides are
/// run-time arguments, so once the first length is compiled, later lengths of the same
/// size class find all their code in the kernel cache.
#[test]
fn new_sequence_lengths_reuse_the_generated_kernels() {
    let w = randn(&[1, 1, 48], 16);
    let f = move |x: Tensor| {
        let scores = x.mul(&w).softmax(1);
        scores.add(&x.mean(1, true)).gelu().layer_norm(&[48], None, None, 1e-5)
    };
    let lengths = [70, 90, 128, 300, 65].into_iter().enumerate();
    let inputs = lengths.map(|(i, seq)| randn(&[3, seq, 48], 25 + i as u64));
    assert_later_sizes_generate_no_code(f, inputs.collect(), "sequence length");
}

/// A kernel that takes a matmul's product row by row (bias and activation, a residual, a
/// softmax of the rows) runs on each band of rows as `gemm` finishes it: for one-piece
/// products, products cut into row bands, products cut into column bands (rows reported
/// after the whole product) and batched products.
#[test]
fn kernels_after_a_matmul_run_as_its_epilogue() {
    let cases: [(&[usize], &[usize]); 4] =
        [(&[200, 96], &[96, 300]), (&[512, 256], &[256, 512]), (&[64, 1024], &[1024, 2048]), (&[4, 50, 32], &[32, 40])];
    for (i, (x_shape, w_shape)) in cases.into_iter().enumerate() {
        let x = randn(x_shape, 30 + i as u64);
        let w = randn(w_shape, 40 + i as u64).mul_scalar(0.1);
        let b = randn(&[w_shape[1]], 50 + i as u64);
        let stats = kernels_of(
            |(x, w, b): (Tensor, Tensor, Tensor)| x.matmul(&w).add(&b).gelu_tanh(),
            (x.clone(), w.clone(), b),
            1e-6,
        );
        assert_eq!(
            (stats.kernels, stats.matmul_epilogues, stats.eager_nodes),
            (1, 1, 1),
            "{x_shape:?} @ {w_shape:?}: {stats:?}"
        );
        let stats = kernels_of(|(x, w): (Tensor, Tensor)| x.matmul(&w).mul_scalar(0.5).softmax(-1), (x, w), 1e-6);
        assert_eq!((stats.kernels, stats.matmul_epilogues), (1, 1), "softmax of {x_shape:?} @ {w_shape:?}: {stats:?}");
    }
    // Reading the product transposed is not row by row: a kernel of its own.
    let x = randn(&[48, 32], 60);
    let w = randn(&[32, 64], 61);
    let stats = kernels_of(|(x, w): (Tensor, Tensor)| x.matmul(&w).t().exp(), (x, w), 1e-6);
    assert_eq!((stats.kernels, stats.matmul_epilogues), (1, 0), "{stats:?}");
}

/// `gpu_codegen` writes every kernel of a compiled program for a GPU as well (ahead of
/// time), into the reports and the dumps, without changing what runs on the CPU.
#[test]
fn kernels_are_also_written_for_a_gpu_when_asked() {
    use ignis::compile::GpuTarget;
    let x = randn(&[64, 300], 41);
    let w = randn(&[300], 42);
    let f = |(x, w): (Tensor, Tensor)| x.mul(&w).softmax(1).add_scalar(1.0);
    let dir = tempfile::tempdir().unwrap();
    for target in [GpuTarget::Cuda { sm: 80 }, GpuTarget::rocm()] {
        let options = CompileOptions::default().strict(true).gpu_codegen(target.clone()).dump_dir(dir.path()).name("g");
        let compiled = compile_with(f, options);
        let want = no_grad(|| f((x.clone(), w.clone())));
        let got = no_grad(|| compiled.call((x.clone(), w.clone())));
        assert!(max_rel_diff(&got, &want) < 1e-6);
        let stats = compiled.stats();
        assert_eq!((stats.kernels, stats.gpu_kernels), (1, 1), "{stats:?}");
        let reports = compiled.gpu_reports();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].target, target);
        let kernel = &reports[0].kernels[0];
        assert!(kernel.kernel.contains("outer=[64]"), "{}", kernel.kernel);
        assert!(kernel.mlir.contains("gpu.func @k0_softmax"), "{}", kernel.mlir);
        assert_eq!(kernel.launch.blocks, 64);
        let dumped = std::fs::read_to_string(dir.path().join("g_000.captured.gpu.mlir")).unwrap();
        assert!(dumped.contains(&kernel.mlir), "{dumped}");
        assert_eq!(kernel.assembly.is_some(), cfg!(feature = "gpu"));
    }
}
