//! Tensors on a GPU against the same ops on the CPU: eager ops (generated kernels, cuBLAS
//! matmuls, views, nodes run on the host), autograd, and moving tensors between devices.
//!
//! By default the GPU is the host emulation: device storage and GPU programs as on a card,
//! kernels run through the host form of their GPU code. `IGNIS_TEST_GPU=cuda` runs the
//! same tests on CUDA device 0 (`scripts/gpu-check.sh`).

use ignis::{DType, Device, Tensor};
use std::sync::Mutex;

static SEEDED: Mutex<()> = Mutex::new(());

fn gpu() -> Device {
    static SAID: std::sync::Once = std::sync::Once::new();
    let real = std::env::var("IGNIS_TEST_GPU").is_ok_and(|v| v == "cuda");
    SAID.call_once(|| {
        if !real {
            eprintln!("GPU tests run on the host emulation of a GPU; IGNIS_TEST_GPU=cuda runs them on CUDA device 0");
        }
    });
    ignis::gpu::emulate_on_host(!real);
    Device::Cuda(0)
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    ignis::manual_seed(seed);
    Tensor::randn(shape.to_vec(), DType::F32)
}

fn on_gpu(t: &Tensor) -> Tensor {
    t.to_device(gpu()).unwrap()
}

/// `got` (on the GPU) against `want` (on the CPU): same shape and dtype, values within
/// `tol` relative (NaNs in the same places).
fn assert_close(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.device(), gpu(), "{what}: the result stays on the GPU");
    assert_eq!(got.shape(), want.shape(), "{what}");
    assert_eq!(got.dtype(), want.dtype(), "{what}");
    let (g, w) = (got.to_vec::<f64>(), want.to_vec::<f64>());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * b.abs().max(1.0);
        assert!(ok, "{what}[{i}]: gpu {a}, cpu {b}");
    }
}

#[test]
fn tensors_move_to_the_gpu_and_back_unchanged() {
    let x = randn(&[3, 5, 7], 1);
    let g = on_gpu(&x);
    assert_eq!(g.device(), gpu());
    assert_eq!(g.to_vec::<f32>(), x.to_vec::<f32>());
    assert_eq!(g.cpu().device(), Device::Cpu);
    // A view of part of a storage travels alone.
    let part = x.narrow(1, 1, 3).transpose(0, 2);
    assert_eq!(on_gpu(&part).to_vec::<f32>(), part.to_vec::<f32>());
    for dtype in [DType::F16, DType::BF16, DType::F64, DType::I64, DType::Bool] {
        let t = x.to_dtype(dtype);
        assert_eq!(on_gpu(&t).cpu().to_vec::<f64>(), t.to_vec::<f64>(), "{dtype}");
    }
}

#[test]
fn elementwise_ops_broadcast_and_read_any_layout() {
    let x = randn(&[16, 33], 2);
    let y = randn(&[33], 3);
    let t = randn(&[33, 16], 4).t();
    let (gx, gy, gt) = (on_gpu(&x), on_gpu(&y), on_gpu(&t));
    type Case = (&'static str, Box<dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor>);
    let cases: Vec<Case> = vec![
        ("add", Box::new(|x, y, _| x.add(y))),
        ("mul transposed", Box::new(|x, _, t| x.mul(t))),
        ("gelu_tanh", Box::new(|x, y, _| x.mul(y).gelu_tanh())),
        ("exp", Box::new(|x, _, _| x.exp())),
        ("log of abs", Box::new(|x, _, _| x.abs().log())),
        ("tanh sigmoid", Box::new(|x, _, t| x.tanh().add(&t.sigmoid()))),
        ("where", Box::new(|x, y, _| x.gt(y).where_(x, &y.neg()))),
        ("clamp sqrt", Box::new(|x, _, _| x.clamp(Some(0.0), Some(0.5)).sqrt())),
        ("floor round", Box::new(|x, _, _| x.mul_scalar(3.7).floor().add(&x.mul_scalar(2.5).round()))),
        ("scalar", Box::new(|x, _, _| x.add_scalar(1.5).div_scalar(3.0))),
        ("maximum", Box::new(|x, y, _| x.maximum(y))),
    ];
    for (name, f) in cases {
        let want = f(&x, &y, &t);
        let got = f(&gx, &gy, &gt);
        assert_close(&got, &want, 1e-6, name);
    }
}

#[test]
fn half_precision_and_bool_results_round_like_the_cpu() {
    let x = randn(&[8, 40], 5);
    let h = x.to_dtype(DType::F16);
    let gh = on_gpu(&h);
    assert_close(&gh.mul_scalar(3.0).exp(), &h.mul_scalar(3.0).exp(), 0.0, "f16 exp");
    let b = x.to_dtype(DType::BF16);
    assert_close(&on_gpu(&b).add(&on_gpu(&b)), &b.add(&b), 0.0, "bf16 add");
    assert_close(&on_gpu(&x).gt_scalar(0.1), &x.gt_scalar(0.1), 0.0, "bool");
}

#[test]
fn reductions_and_normalizations_match_the_cpu() {
    let x = randn(&[24, 300], 6);
    let g = on_gpu(&x);
    assert_close(&g.sum(1, false), &x.sum(1, false), 1e-5, "row sums");
    assert_close(&g.sum(0, true), &x.sum(0, true), 1e-5, "column sums");
    assert_close(&g.mean_all(), &x.mean_all(), 1e-5, "mean of all");
    assert_close(&g.max(1, false), &x.max(1, false), 0.0, "row max");
    assert_close(&g.softmax(1), &x.softmax(1), 1e-6, "softmax");
    assert_close(&g.log_softmax(0), &x.log_softmax(0), 1e-5, "log_softmax over columns");
    let (w, b) = (randn(&[300], 7), randn(&[300], 8));
    let want = x.layer_norm(&[300], Some(&w), Some(&b), 1e-5);
    let got = g.layer_norm(&[300], Some(&on_gpu(&w)), Some(&on_gpu(&b)), 1e-5);
    assert_close(&got, &want, 1e-5, "layer_norm");
}

#[test]
fn matmuls_go_through_blas_in_every_layout() {
    let a = randn(&[2, 3, 20, 30], 9);
    let b = randn(&[2, 3, 30, 10], 10);
    let w = randn(&[10, 30], 11);
    let m = randn(&[20, 30], 12);
    let (ga, gb, gw, gm) = (on_gpu(&a), on_gpu(&b), on_gpu(&w), on_gpu(&m));
    assert_close(&gm.matmul(&gw.t()), &m.matmul(&w.t()), 1e-5, "x @ w.t()");
    assert_close(&ga.matmul(&gb), &a.matmul(&b), 1e-5, "batched");
    assert_close(&ga.matmul(&gw.t()), &a.matmul(&w.t()), 1e-5, "batch against a matrix");
    // Permuted batch dims do not collapse into one stride: the product runs on the host.
    let pa = a.permute(&[1, 0, 2, 3]);
    let pb = b.permute(&[1, 0, 2, 3]);
    assert_close(&on_gpu(&pa).matmul(&on_gpu(&pb)), &pa.matmul(&pb), 1e-5, "permuted batch");
}

#[test]
fn views_share_device_memory_and_other_ops_run_on_the_host() {
    let x = randn(&[6, 8], 13);
    let g = on_gpu(&x);
    let v = g.reshape([2, 24]).narrow(1, 4, 10);
    assert_eq!(v.device(), gpu());
    assert!(v.shares_storage(&g), "a view is a layout over the same device memory");
    assert_close(&v.exp(), &x.reshape([2, 24]).narrow(1, 4, 10).exp(), 1e-6, "op on a view");
    // cumsum has no generated code: it runs on the host and comes back.
    assert_close(&g.cumsum(1), &x.cumsum(1), 1e-6, "cumsum");
    let idx = Tensor::from_vec(vec![3i64, 0, 5], [3]);
    assert_close(&g.index_select(0, &on_gpu(&idx)), &x.index_select(0, &idx), 0.0, "index_select");
}

#[test]
fn gradients_flow_through_gpu_ops_and_back_to_the_host() {
    let x = randn(&[8, 16], 14).requires_grad_(true);
    let w = randn(&[16, 4], 15).requires_grad_(true);
    let loss_of = |x: &Tensor, w: &Tensor| x.matmul(w).gelu_tanh().softmax(1).square().mean_all();
    let want = loss_of(&x, &w);
    want.backward();
    let (want_x, want_w) = (x.grad().unwrap(), w.grad().unwrap());
    x.zero_grad();
    w.zero_grad();
    // The leaves stay on the CPU: their copies on the GPU pass the gradient back.
    let got = loss_of(&on_gpu(&x), &on_gpu(&w));
    assert_eq!(got.device(), gpu());
    got.backward();
    let (got_x, got_w) = (x.grad().unwrap(), w.grad().unwrap());
    assert_eq!(got_x.device(), Device::Cpu);
    // Within 1e-4 of the gradient's largest element: the summation orders differ.
    let close = |a: &Tensor, b: &Tensor, what: &str| {
        let want = b.to_vec::<f32>();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (p, q) in a.to_vec::<f32>().iter().zip(&want) {
            assert!((p - q).abs() <= 1e-4 * scale, "{what}: gpu {p}, cpu {q} (largest {scale})");
        }
    };
    close(&got_x, &want_x, "dx");
    close(&got_w, &want_w, "dw");
    // A leaf on the GPU gets its gradient there.
    let gw = on_gpu(&w.detach()).requires_grad_(true);
    loss_of(&on_gpu(&x.detach()), &gw).backward();
    assert_eq!(gw.grad().unwrap().device(), gpu());
    close(&gw.grad().unwrap().cpu(), &want_w, "dw on the GPU");
}

#[test]
fn compiled_functions_run_their_fused_kernels_on_the_gpu() {
    use ignis::{CompileOptions, compile_with};
    let x = randn(&[64, 256], 16);
    let w = randn(&[256, 128], 17);
    let b = randn(&[128], 18);
    let (g, gamma) = (randn(&[128], 19), randn(&[128], 20));
    let f = |(x, w, b, g, gamma): (Tensor, Tensor, Tensor, Tensor, Tensor)| {
        let h = x.matmul(&w).add(&b).gelu_tanh();
        h.layer_norm(&[128], Some(&g), Some(&gamma), 1e-5).softmax(1)
    };
    let want = ignis::no_grad(|| f((x.clone(), w.clone(), b.clone(), g.clone(), gamma.clone())));
    let dumps = tempfile::tempdir().unwrap();
    let compiled = compile_with(f, CompileOptions::default().strict(true).dump_dir(dumps.path()).name("on_gpu"));
    let args = (on_gpu(&x), on_gpu(&w), on_gpu(&b), on_gpu(&g), on_gpu(&gamma));
    for call in 0..2 {
        let got = ignis::no_grad(|| compiled.call(args.clone()));
        assert_close(&got, &want, 1e-5, &format!("call {call}"));
    }
    let stats = compiled.stats();
    assert_eq!((stats.traces, stats.replays, stats.native_fallbacks), (1, 1, 0), "{stats:?}");
    // The matmul's epilogue (bias, GELU) and the layer norm with the softmax: two kernels
    // at most, besides the cuBLAS product.
    assert!((1..=3).contains(&stats.gpu_kernels), "{stats:?}");
    let mlir = std::fs::read_to_string(dumps.path().join("on_gpu_000.captured.gpu.mlir")).unwrap();
    assert!(mlir.contains("gpu.func") && mlir.contains("gpu.barrier"), "{mlir}");
}

#[test]
fn compiled_training_steps_give_gradients_on_the_gpu() {
    use ignis::{CompileOptions, compile_with};
    let x = randn(&[32, 64], 21);
    let w = randn(&[64, 16], 22).requires_grad_(true);
    let loss_of = |(x, w): (Tensor, Tensor)| x.matmul(&w).tanh().square().mean_all();
    let want = loss_of((x.clone(), w.clone()));
    want.backward();
    let want_grad = w.grad().unwrap();

    let gw = on_gpu(&w.detach()).requires_grad_(true);
    let compiled = compile_with(loss_of, CompileOptions::default().strict(true));
    let got = compiled.call((on_gpu(&x), gw.clone()));
    assert_close(&got, &want.detach(), 1e-5, "loss");
    got.backward();
    let grad = gw.grad().unwrap();
    assert_eq!(grad.device(), gpu());
    let scale = want_grad.abs().max_all().item::<f32>();
    for (p, q) in grad.to_vec::<f32>().iter().zip(want_grad.to_vec::<f32>()) {
        assert!((p - q).abs() <= 1e-4 * scale, "dw: gpu {p}, cpu {q}");
    }
}

#[test]
fn a_default_device_makes_new_tensors_and_layers_on_the_gpu() {
    use ignis::nn::{Linear, Module};
    let device = gpu();
    ignis::set_default_device(device).unwrap();
    let layer = Linear::new(8, 3);
    let x = Tensor::randn([5, 8], DType::F32);
    let zeros = Tensor::zeros([2, 2], DType::F32);
    ignis::set_default_device(Device::Cpu).unwrap();
    assert_eq!(ignis::default_device(), Device::Cpu);
    assert!(layer.parameters().iter().all(|p| p.device() == device));
    assert_eq!((x.device(), zeros.device()), (device, device));
    let y = layer.forward(&x);
    let params: Vec<Tensor> = layer.parameters().iter().map(|p| p.cpu()).collect();
    let want = x.cpu().matmul(&params[0].t()).add(&params[1]);
    assert_close(&y, &want, 1e-6, "linear");
    assert_eq!(Tensor::zeros([1], DType::F32).device(), Device::Cpu, "other threads and later tensors");
}

#[test]
fn in_place_ops_write_device_memory() {
    let x = randn(&[4, 6], 23);
    let y = randn(&[6], 24);
    let g = on_gpu(&x);
    g.add_(&on_gpu(&y));
    assert_close(&g, &x.add(&y), 0.0, "add_");
    g.narrow(1, 2, 3).fill_(7.0);
    let want = x.add(&y);
    want.narrow(1, 2, 3).fill_(7.0);
    assert_close(&g, &want, 0.0, "fill_ of a view");
    g.copy_(&y);
    assert_close(&g, &y.expand([4, 6]).contiguous(), 0.0, "copy_ from the host, broadcast");
}

#[test]
fn optimizers_step_parameters_on_the_gpu_as_on_the_cpu() {
    use ignis::optim::{Adam, AdamOptions, Optimizer, Sgd, SgdOptions};
    let start = randn(&[6, 5], 25);
    let x = randn(&[4, 6], 26);
    let run = |device: Device, adam: bool| -> Tensor {
        // A copy: the steps write the parameter in place.
        let p = start.contiguous_copy().to_device(device).unwrap().detach().requires_grad_(true);
        let mut opt: Box<dyn Optimizer> = if adam {
            Box::new(Adam::new(vec![p.clone()], AdamOptions { lr: 0.05, ..Default::default() }))
        } else {
            Box::new(Sgd::new(vec![p.clone()], SgdOptions::default().lr(0.1).momentum(0.9)))
        };
        let xs = x.to_device(device).unwrap();
        for _ in 0..3 {
            opt.zero_grad();
            xs.matmul(&p).tanh().square().mean_all().backward();
            opt.step();
        }
        p.detach()
    };
    for adam in [false, true] {
        let want = run(Device::Cpu, adam);
        let got = run(gpu(), adam);
        assert_close(&got, &want, 1e-5, if adam { "adam" } else { "sgd with momentum" });
    }
}
