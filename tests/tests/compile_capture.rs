//! compile(): capture, replay under guards, recompiles, lifted parameters, in-place writes,
//! graph breaks and explain, autograd through compiled segments, threads, randomness.

use ignis::compile::{CompileOptions, DynamicShapes, Static};
use ignis::{DType, Tensor, compile, compile_with, explain, manual_seed, no_grad};
use std::sync::Arc;

/// Tests that draw from the global generator take turns.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn ramp(shape: &[usize], scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((i as f64 * 0.37).sin() * scale) as f32).collect();
    Tensor::from_vec(values, shape.to_vec())
}

/// Compiled results run through generated kernels (fma, their own exp/tanh polynomials,
/// another summation order): equal to eager up to rounding.
const NATIVE_TOL: f64 = 1e-5;

fn assert_close(a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let (x, y) = (a.to_vec::<f64>(), b.to_vec::<f64>());
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        assert!((p - q).abs() <= tol * (1.0 + q.abs()), "element {i}: {p} vs {q}");
    }
}

#[test]
fn a_compiled_function_matches_eager_and_replays_without_tracing() {
    let f = |x: Tensor| x.mul_scalar(2.0).add_scalar(1.0).tanh().sum(-1, false);
    let compiled = compile(f);
    let x = ramp(&[4, 8], 1.0);
    assert_close(&compiled.call(x.clone()), &f(x.clone()), NATIVE_TOL);
    let y = ramp(&[4, 8], -0.5);
    assert_close(&compiled.call(y.clone()), &f(y.clone()), NATIVE_TOL);
    let stats = compiled.stats();
    assert_eq!((stats.traces, stats.replays, stats.compiles), (1, 1, 1), "{stats:?}");
}

#[test]
fn a_new_shape_is_a_guard_miss_and_traces_again() {
    let options = CompileOptions::default().dynamic(DynamicShapes::Off);
    let compiled = compile_with(|x: Tensor| x.softmax(-1), options);
    let a = ramp(&[2, 5], 1.0);
    let b = ramp(&[3, 5], 1.0);
    compiled.call(a.clone());
    compiled.call(b.clone());
    compiled.call(a.clone());
    compiled.call(b.clone());
    assert_eq!(compiled.cache_len(), 2);
    let stats = compiled.stats();
    assert_eq!((stats.traces, stats.replays), (2, 2), "{stats:?}");
    assert_close(&compiled.call(b.clone()), &b.softmax(-1), NATIVE_TOL);
}

#[test]
fn past_the_recompile_limit_new_shapes_run_eagerly() {
    let options = CompileOptions::default().recompile_limit(2).dynamic(DynamicShapes::Off);
    let compiled = compile_with(|x: Tensor| x.exp(), options);
    for n in 1..=5 {
        let x = ramp(&[n], 1.0);
        assert_close(&compiled.call(x.clone()), &x.exp(), NATIVE_TOL);
    }
    let stats = compiled.stats();
    assert_eq!(compiled.cache_len(), 2);
    assert_eq!(stats.eager_fallbacks, 3, "{stats:?}");
}

#[test]
fn captured_parameters_are_inputs_so_in_place_updates_are_seen() {
    let w = ramp(&[3, 3], 1.0);
    let w_in = w.clone();
    let compiled = compile(move |x: Tensor| x.matmul(&w_in));
    let x = ramp(&[2, 3], 0.5);
    let first = compiled.call(x.clone());
    assert_close(&first, &x.matmul(&w), NATIVE_TOL);
    w.mul_scalar_(2.0);
    let second = compiled.call(x.clone());
    assert_close(&second, &x.matmul(&w), NATIVE_TOL);
    assert_eq!(compiled.stats().replays, 1);
}

#[test]
fn in_place_updates_of_captured_tensors_are_written_back_on_every_call() {
    let running = Tensor::zeros([4], DType::F32);
    let state = running.clone();
    let compiled = compile(move |x: Tensor| {
        no_grad(|| state.mul_scalar_(0.5).add_(&x.mean(0, false)));
        x.sub(&state)
    });
    let x = ramp(&[3, 4], 1.0);
    // Eager reference of the same updates.
    let reference = Tensor::zeros([4], DType::F32);
    for _ in 0..3 {
        let out = compiled.call(x.clone());
        reference.mul_scalar_(0.5).add_(&x.mean(0, false));
        assert_close(&running, &reference, 1e-7);
        assert_close(&out, &x.sub(&reference), 1e-7);
    }
    assert_eq!(compiled.stats().replays, 2);
}

#[test]
fn a_host_read_breaks_the_graph_and_explain_names_the_place() {
    let f = |x: Tensor| {
        let s = x.sum_all();
        if s.item::<f32>() > 0.0 { x.relu() } else { x.neg() }
    };
    let compiled = compile(f);
    for scale in [1.0, -1.0] {
        let x = ramp(&[5], scale).add_scalar(scale * 0.5);
        assert_close(&compiled.call(x.clone()), &f(x.clone()), NATIVE_TOL);
    }
    let stats = compiled.stats();
    assert_eq!(stats.replays, 0, "a function with breaks is traced on every call");
    let report = explain(&compiled, ramp(&[5], 1.0).add_scalar(0.5));
    assert_eq!(report.break_count(), 1);
    assert_eq!(report.graph_count(), 2);
    let location = report.breaks[0].location.clone().expect("a location");
    assert!(location.contains("compile_capture.rs"), "{location}");
    assert!(report.to_string().contains("host read"), "{report}");
    assert!(report.replayable.is_err());
}

#[test]
fn segments_are_found_by_structure_so_retracing_does_not_recompile() {
    let compiled = compile(|x: Tensor| {
        let y = x.mul_scalar(3.0);
        let _ = y.to_vec::<f32>();
        y.add_scalar(1.0)
    });
    for _ in 0..4 {
        compiled.call(ramp(&[6], 1.0));
    }
    let stats = compiled.stats();
    assert_eq!(stats.traces, 4);
    assert_eq!(stats.compiles, 2, "{stats:?}");
}

#[test]
#[should_panic(expected = "compile (strict)")]
fn strict_mode_turns_a_break_into_an_error() {
    let compiled = compile_with(
        |x: Tensor| {
            let _ = x.sum_all().item::<f32>();
            x
        },
        CompileOptions::default().strict(true),
    );
    compiled.call(ramp(&[3], 1.0));
}

#[test]
fn static_arguments_are_part_of_the_guard() {
    let compiled = compile(|(x, Static(double)): (Tensor, Static<bool>)| if double { x.mul_scalar(2.0) } else { x });
    let x = ramp(&[3], 1.0);
    assert_close(&compiled.call((x.clone(), Static(true))), &x.mul_scalar(2.0), NATIVE_TOL);
    assert_close(&compiled.call((x.clone(), Static(false))), &x, NATIVE_TOL);
    assert_close(&compiled.call((x.clone(), Static(true))), &x.mul_scalar(2.0), NATIVE_TOL);
    assert_eq!(compiled.cache_len(), 2);
}

#[test]
fn gradients_flow_through_a_compiled_function_into_eager_code() {
    let w = ramp(&[4, 3], 0.3).requires_grad_(true);
    let w_in = w.clone();
    let compiled = compile(move |x: Tensor| x.matmul(&w_in).gelu().layer_norm(&[3], None, None, 1e-5));
    // The first call traces; the second replays the forward program and wires the cached
    // backward program to a fresh node.
    for call in 0..3 {
        let x = ramp(&[5, 4], 1.0 + call as f64).requires_grad_(true);
        let out = compiled.call(x.clone());
        assert_eq!(out.grad_fn_name(), Some("CompiledSegmentBackward"));
        // Weighted, so that the loss is not (nearly) constant: the sum of squares of a
        // normalized row is, and its gradient would be rounding noise.
        let weights = ramp(&[5, 3], 1.0);
        let loss = out.mul(&weights).sum_all();
        loss.backward();
        let (gx, gw) = (x.grad().unwrap(), w.grad().unwrap());
        x.zero_grad();
        w.zero_grad();
        let eager = x.matmul(&w).gelu().layer_norm(&[3], None, None, 1e-5).mul(&weights).sum_all();
        eager.backward();
        assert_close(&loss, &eager, NATIVE_TOL);
        // Layer norm over three GELU outputs divides by a small deviation, which amplifies
        // the last-bit differences of the generated erf/exp (compared in f32).
        assert_close(&gx, &x.grad().unwrap(), 1e-4);
        assert_close(&gw, &w.grad().unwrap(), 1e-4);
        w.zero_grad();
    }
    let stats = compiled.stats();
    assert_eq!((stats.traces, stats.replays), (1, 2), "{stats:?}");
}

#[test]
fn a_training_step_compiled_whole_matches_eager_after_ten_steps() {
    let make = || (ramp(&[4, 8], 0.2).requires_grad_(true), ramp(&[8, 1], 0.3).requires_grad_(true));
    let step = |w1: &Tensor, w2: &Tensor, x: &Tensor, y: &Tensor| {
        w1.zero_grad();
        w2.zero_grad();
        let loss = x.matmul(w1).tanh().matmul(w2).sub(y).square().mean_all();
        loss.backward();
        no_grad(|| {
            w1.add_scaled_(&w1.grad().unwrap(), -0.1);
            w2.add_scaled_(&w2.grad().unwrap(), -0.1);
        });
        loss.detach()
    };
    let (x, y) = (ramp(&[16, 4], 1.0), ramp(&[16, 1], 0.5));
    let (e1, e2) = make();
    let (c1, c2) = make();
    let (p1, p2) = (c1.clone(), c2.clone());
    let compiled = compile(move |(x, y): (Tensor, Tensor)| step(&p1, &p2, &x, &y));
    for _ in 0..10 {
        let eager_loss = step(&e1, &e2, &x, &y);
        let compiled_loss = compiled.call((x.clone(), y.clone()));
        assert_close(&compiled_loss, &eager_loss, 1e-5);
    }
    assert_close(&c1, &e1, 1e-5);
    assert_close(&c2, &e2, 1e-5);
    assert_close(&c1.grad().unwrap(), &e1.grad().unwrap(), 1e-5);
    // The step leaves its gradients in `.grad` and updates the weights in place: both are
    // effects a replay reproduces, so only the first call traces.
    assert_eq!(compiled.stats().replays, 9, "{:?}", compiled.stats());
}

#[test]
fn one_compiled_function_serves_several_threads() {
    let compiled = Arc::new(compile(|x: Tensor| x.exp().sum(-1, true).log()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let compiled = compiled.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let x = ramp(&[3, 7], 0.1 * (t * 20 + i) as f64);
                    let expected = x.exp().sum(-1, true).log();
                    assert_close(&compiled.call(x), &expected, NATIVE_TOL);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panicked");
    }
}

#[test]
fn random_ops_draw_fresh_numbers_on_every_call_as_eager_does() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let f = |x: Tensor| x.add(&Tensor::rand([5], DType::F32));
    let compiled = compile(f);
    let x = ramp(&[5], 1.0);
    manual_seed(7);
    let eager: Vec<Tensor> = (0..3).map(|_| f(x.clone())).collect();
    manual_seed(7);
    let traced: Vec<Tensor> = (0..3).map(|_| compiled.call(x.clone())).collect();
    for (a, b) in traced.iter().zip(&eager) {
        assert_close(a, b, NATIVE_TOL);
    }
    assert!(eager[0].to_vec::<f32>() != eager[1].to_vec::<f32>());
    assert_eq!(compiled.stats().replays, 2);
}

#[test]
fn the_dump_dir_gets_each_captured_segment_as_text_and_dot() {
    let dir = std::env::temp_dir().join(format!("ignis-dump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = CompileOptions::default().dump_dir(&dir).name("mlp");
    let w = ramp(&[4, 4], 0.5);
    let compiled = compile_with(move |x: Tensor| x.matmul(&w).relu(), options);
    compiled.call(ramp(&[2, 4], 1.0));
    let text = std::fs::read_to_string(dir.join("mlp_000.captured.txt")).expect("the captured graph");
    assert!(text.contains("matmul") && text.contains("relu"), "{text}");
    let parsed = ignis_ir::parse(&text).expect("a dump parses back");
    assert_eq!(parsed.nodes.len(), 2);
    let dot = std::fs::read_to_string(dir.join("mlp_000.captured.dot")).expect("the DOT picture");
    assert!(dot.starts_with("digraph"), "{dot}");
    let guards = std::fs::read_to_string(dir.join("mlp.guards.txt")).expect("the guards");
    assert!(guards.contains("arg 0: f32[2, 4]"), "{guards}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_compiled_transformer_block_is_one_segment_and_replays() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    use ignis::nn::{BlockConfig, Module, TransformerBlock};
    manual_seed(5);
    let block = TransformerBlock::decoder(&BlockConfig::new(16, 2));
    let compiled = compile(move |x: Tensor| block.forward(&x));
    let x = Tensor::randn([2, 6, 16], DType::F32);
    let report = no_grad(|| explain(&compiled, x.clone()));
    assert_eq!(report.break_count(), 0, "{report}");
    assert!(report.replayable.is_ok(), "{report}");
    let eager = no_grad(|| compiled.call_eager(x.clone()));
    for _ in 0..2 {
        assert_close(&no_grad(|| compiled.call(x.clone())), &eager, NATIVE_TOL);
    }
    assert_eq!(compiled.stats().replays, 1);
}

#[test]
fn one_backward_crosses_segments_and_eager_ops() {
    let w = ramp(&[3, 3], 0.4).requires_grad_(true);
    let w_in = w.clone();
    let f = move |x: Tensor| {
        let h = x.matmul(&w_in).tanh();
        // A host read: the first segment ends here, the second starts from its values.
        let scale = if h.sum_all().item::<f32>() > 0.0 { 2.0 } else { 3.0 };
        h.mul_scalar(scale).sigmoid().matmul(&w_in)
    };
    let compiled = compile(f.clone());
    let x = ramp(&[4, 3], 1.0).requires_grad_(true);
    let loss = compiled.call(x.clone()).exp().mean_all();
    loss.backward();
    let (gx, gw) = (x.grad().unwrap(), w.grad().unwrap());
    x.zero_grad();
    w.zero_grad();
    let eager = f(x.clone()).exp().mean_all();
    eager.backward();
    assert_close(&loss, &eager, NATIVE_TOL);
    assert_close(&gx, &x.grad().unwrap(), 1e-5);
    assert_close(&gw, &w.grad().unwrap(), 1e-5);
    assert_eq!(explain(&compiled, x.clone()).graph_count(), 2);
}

#[test]
fn second_derivatives_through_compiled_code_match_eager() {
    let f = |x: Tensor| x.tanh().mul(&x).sum_all();
    let compiled = compile(f);
    let second = |use_compiled: bool| {
        let x = ramp(&[5], 1.0).requires_grad_(true);
        let y = if use_compiled { compiled.call(x.clone()) } else { f(x.clone()) };
        y.backward_with(None, false, true);
        let gx = x.grad().unwrap();
        assert!(gx.requires_grad(), "the first derivative carries a graph");
        x.zero_grad();
        gx.square().sum_all().backward();
        (gx.detach(), x.grad().unwrap())
    };
    let (g1, h1) = second(true);
    let (g2, h2) = second(false);
    assert_close(&g1, &g2, 1e-6);
    assert_close(&h1, &h2, 1e-5);
}

#[test]
fn a_differentiable_segment_dumps_its_joint_forward_and_backward_graphs() {
    let dir = std::env::temp_dir().join(format!("ignis-joint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let w = ramp(&[4, 4], 0.5).requires_grad_(true);
    let w_in = w.clone();
    let compiled =
        compile_with(move |x: Tensor| x.matmul(&w_in).tanh(), CompileOptions::default().dump_dir(&dir).name("layer"));
    compiled.call(ramp(&[2, 4], 1.0)).sum_all().backward();
    for kind in ["joint", "forward", "backward"] {
        let text = std::fs::read_to_string(dir.join(format!("layer_000.{kind}.txt")))
            .or_else(|_| std::fs::read_to_string(dir.join(format!("layer_001.{kind}.txt"))))
            .unwrap_or_else(|_| panic!("a {kind} dump"));
        ignis_ir::parse(&text).unwrap_or_else(|e| panic!("the {kind} dump parses back: {e}\n{text}"));
    }
    let backward = std::fs::read_to_string(dir.join("layer_001.backward.txt")).expect("the backward program");
    // The backward reads the saved tanh output instead of recomputing the product.
    assert!(!backward.contains("tanh"), "{backward}");
    assert!(backward.contains("matmul"), "{backward}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_transformer_training_step_compiles_and_matches_eager() {
    use ignis::nn::{BlockConfig, Module, TransformerBlock};
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    manual_seed(6);
    let block = Arc::new(TransformerBlock::decoder(&BlockConfig::new(8, 2)));
    let x = Tensor::randn([2, 5, 8], DType::F32);
    let step = |block: &TransformerBlock, x: &Tensor| {
        block.zero_grad();
        let loss = block.forward(x).square().mean_all();
        loss.backward();
        loss.detach()
    };
    let inner = block.clone();
    let compiled = compile(move |x: Tensor| step(&inner, &x));
    for call in 0..3 {
        let c = compiled.call(x.clone());
        let c_grads: Vec<Tensor> = block.parameters().iter().map(|p| p.grad().unwrap()).collect();
        let e = step(&block, &x);
        assert_close(&c, &e, 1e-6);
        for (g, p) in c_grads.iter().zip(block.parameters()) {
            assert_close(g, &p.grad().unwrap(), 1e-5);
        }
        let _ = call;
    }
}

#[test]
fn one_trace_serves_many_batch_sizes_once_the_batch_dim_is_symbolic() {
    let w = ramp(&[4, 2], 0.3);
    let w_in = w.clone();
    let f = move |x: Tensor| {
        let b = x.shape()[0];
        x.reshape([b * 3, 4]).matmul(&w_in).softmax(-1).reshape([b, 3, 2]).sum(1, false)
    };
    let compiled = compile(f.clone());
    for b in [2, 3, 5, 8, 3, 2, 13] {
        let x = ramp(&[b, 3, 4], 1.0 + b as f64 * 0.1);
        assert_close(&compiled.call(x.clone()), &f(x), NATIVE_TOL);
    }
    let stats = compiled.stats();
    assert_eq!(stats.traces, 2, "the second size makes the batch dim symbolic: {stats:?}");
    assert_eq!(stats.replays, 5, "{stats:?}");
    assert_eq!(compiled.cache_len(), 1);
    // Sizes 0 and 1 broadcast and reduce differently: they get their own trace.
    let one = ramp(&[1, 3, 4], 1.0);
    assert_close(&compiled.call(one.clone()), &f(one), NATIVE_TOL);
    assert_eq!(compiled.stats().traces, 3);
}

#[test]
fn with_dynamic_shapes_off_every_size_traces() {
    let compiled = compile_with(|x: Tensor| x.mul_scalar(2.0), CompileOptions::default().dynamic(DynamicShapes::Off));
    for n in [2, 3, 4] {
        compiled.call(ramp(&[n], 1.0));
    }
    assert_eq!(compiled.stats().traces, 3);
}

#[test]
fn a_float_that_depends_on_the_size_keeps_per_size_traces() {
    // 1/n is a float constant of the trace: the graphs differ in more than sizes.
    let f = |x: Tensor| x.mul_scalar(1.0 / x.shape()[0] as f64).sum_all();
    let compiled = compile(f);
    for n in [2, 3, 4, 3] {
        let x = ramp(&[n], 1.0);
        assert_close(&compiled.call(x.clone()), &f(x), NATIVE_TOL);
    }
    let stats = compiled.stats();
    assert_eq!((stats.traces, stats.replays), (3, 1), "{stats:?}");
}

#[test]
fn the_bisector_finds_no_divergence_in_a_faithful_program() {
    let w = ramp(&[4, 4], 0.5);
    let w_in = w.clone();
    let compiled = compile(move |x: Tensor| x.matmul(&w_in).gelu().softmax(-1).sum(-1, false));
    let report = ignis::debug::bisect(&compiled, ramp(&[3, 4], 1.0));
    assert_eq!(report.first_divergence, None, "{report}");
    assert_eq!(report.checked, 4);
}

#[test]
fn the_bisector_names_the_first_node_that_diverges() {
    use ignis::debug::{BisectOptions, bisect_with};
    let compiled = compile(|x: Tensor| {
        let h = x.exp().tanh();
        let _ = h.to_vec::<f32>();
        h.mul_scalar(3.0).sin().add_scalar(1.0)
    });
    // Segment 1 is `mul_scalar, sin, add_scalar` (constant 3.0 is node 0): break node 2.
    let options = BisectOptions { inject_fault: Some((1, 2)), ..BisectOptions::default() };
    let report = bisect_with(&compiled, ramp(&[5], 1.0), &options);
    let found = report.first_divergence.clone().expect("the injected fault is found");
    assert_eq!((found.segment, found.node), (1, 2), "{report}");
    assert!(found.line.contains("sin"), "{report}");
    assert!((found.max_abs_diff - 1.0).abs() < 1e-6, "{report}");
}

#[test]
fn switching_a_module_between_train_and_eval_traces_again() {
    use ignis::nn::{Dropout, Module};
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let dropout = Arc::new(Dropout::new(0.5));
    let inner = dropout.clone();
    let compiled = compile(move |x: Tensor| inner.forward(&x));
    let x = Tensor::ones([64], DType::F32);
    dropout.train();
    let trained = compiled.call(x.clone());
    assert!(trained.to_vec::<f32>().contains(&0.0), "dropout in training mode zeroes some elements");
    dropout.eval();
    assert_close(&compiled.call(x.clone()), &x, NATIVE_TOL);
    assert_eq!(compiled.stats().traces, 2);
}

/// A user's op without a lowering: it reads the elements on the host and builds a tensor.
fn clip_on_host(x: &Tensor) -> Tensor {
    let values: Vec<f32> = x.to_vec::<f32>().iter().map(|v| v.clamp(-0.5, 0.5)).collect();
    Tensor::from_vec(values, x.shape().to_vec())
}

#[test]
fn a_user_defined_eager_op_breaks_the_graph_and_keeps_the_eager_result() {
    let f = |x: Tensor| clip_on_host(&x.sin()).mul_scalar(2.0).add(&x);
    let compiled = compile(f);
    for scale in [1.0, 3.0] {
        let x = ramp(&[7], scale);
        assert_close(&compiled.call(x.clone()), &f(x), NATIVE_TOL);
    }
    let report = explain(&compiled, ramp(&[7], 1.0));
    assert_eq!((report.graph_count(), report.break_count()), (2, 1), "{report}");
    assert!(report.breaks[0].location.as_deref().is_some_and(|l| l.contains("compile_capture.rs")), "{report}");
}

#[test]
fn an_adam_step_with_a_scheduler_compiled_matches_eager() {
    use ignis::optim::{Adam, AdamOptions, LrScheduler, Optimizer, StepLR};
    use std::sync::Mutex;
    let make = || {
        let w = ramp(&[4, 3], 0.2).requires_grad_(true);
        let mut adam = Adam::new(vec![w.clone()], AdamOptions::default().lr(0.1).weight_decay(0.01));
        let scheduler = StepLR::new(&mut adam, 3, 0.5);
        (w, adam, scheduler)
    };
    let step = |w: &Tensor, adam: &mut Adam, x: &Tensor| {
        adam.zero_grad();
        let loss = x.matmul(w).tanh().square().mean_all();
        loss.backward();
        adam.step();
        loss.detach()
    };
    let x = ramp(&[5, 4], 1.0);
    let (we, mut adam_e, mut sched_e) = make();
    let (wc, adam_c, mut sched_c) = make();
    let (w_in, adam_c) = (wc.clone(), Arc::new(Mutex::new(adam_c)));
    let inner = adam_c.clone();
    let compiled = compile(move |x: Tensor| step(&w_in, &mut inner.lock().unwrap(), &x));
    for _ in 0..10 {
        let eager = step(&we, &mut adam_e, &x);
        sched_e.step(&mut adam_e);
        let got = compiled.call(x.clone());
        sched_c.step(&mut *adam_c.lock().unwrap());
        assert_close(&got, &eager, 1e-5);
    }
    assert_close(&wc, &we, 1e-5);
    // Learning rate and bias corrections are read anew each call (never replayed), but
    // the program's structure stays the same: after the first steps nothing recompiles.
    let stats = compiled.stats();
    assert_eq!(stats.replays, 0, "{stats:?}");
    assert!(stats.compiles <= 4, "{stats:?}");
}

#[test]
fn a_dead_differentiable_value_does_not_stop_replay() {
    let compiled = compile(|x: Tensor| {
        let _ = x.cos();
        x
    });
    let x = ramp(&[3], 1.0).requires_grad_(true);
    let report = explain(&compiled, x.clone());
    assert_eq!(report.replayable, Ok(()));
    for _ in 0..3 {
        let y = compiled.call(x.clone());
        assert_eq!(y.to_vec::<f32>(), x.to_vec::<f32>());
    }
    let stats = compiled.stats();
    assert_eq!((stats.traces, stats.replays), (1, 2), "{stats:?}");
}
