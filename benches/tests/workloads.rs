//! The workloads compute what BENCHMARKS.md says, checked on tiny inputs against values worked
//! out by hand or in f64, independently of ignis.

use ignis::Tensor;
use ignis_bench::workloads::{self, TINY_ROUNDS, Workload};

fn assert_close(actual: &[f32], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len(), "lengths differ: {actual:?} vs {expected:?}");
    for (index, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let error = (a as f64 - e).abs() / e.abs().max(1e-6);
        assert!(error <= tolerance, "element {index}: got {a}, expected {e} (relative error {error:.2e})");
    }
}

/// Tests that draw from the global generator take turns, so that two preparations of one
/// workload see the same numbers.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn w1_is_gelu_tanh_of_x_times_w_plus_b() {
    let x = Tensor::from_vec(vec![1.0f32, -0.5, 2.0], [3]);
    let w = Tensor::from_vec(vec![0.5f32, 2.0, -1.0], [3]);
    let b = Tensor::from_vec(vec![0.25f32, 0.5, 1.0], [3]);
    // x * w + b = [0.75, -0.5, -1.0]; gelu_tanh(z) = z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
    // = [0.579960555, -0.154285990, -0.158808009]
    let y = workloads::elementwise_chain(&x, &w, &b).to_vec::<f32>();
    assert_close(&y, &[0.579960555, -0.154285990, -0.158808009], 1e-5);
}

#[test]
fn w2_normalizes_each_row_then_scales_and_shifts() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 10.0, 10.0, 10.0], [2, 3]);
    let weight = Tensor::from_vec(vec![1.0f32, 2.0, 0.5], [3]);
    let bias = Tensor::from_vec(vec![0.0f32, 1.0, -1.0], [3]);
    // Row [1, 2, 3]: mean 2, biased variance 2/3, so (x - 2) / sqrt(2/3 + 1e-5) = [-s, 0, s]
    // with s = 1.2247357; times weight plus bias: [-s, 1, 0.5 s - 1].
    // Row [10, 10, 10]: variance 0, normalized to zeros, leaving the bias [0, 1, -1].
    let s = 1.0 / (2.0f64 / 3.0 + 1e-5).sqrt();
    let y = workloads::layer_norm(&x, &weight, &bias).to_vec::<f32>();
    assert_close(&y, &[-s, 1.0, 0.5 * s - 1.0, 0.0, 1.0, -1.0], 1e-5);
}

#[test]
fn w3_is_softmax_over_the_last_dim() {
    // exp of [0, ln 2, ln 4] is [1, 2, 4]: the softmax is [1/7, 2/7, 4/7]; each row on its own.
    let (two, four) = (2.0f32.ln(), 4.0f32.ln());
    let x = Tensor::from_vec(vec![0.0f32, two, four, 5.0, 5.0, 5.0], [2, 3]);
    let y = workloads::softmax(&x).to_vec::<f32>();
    let third = 1.0 / 3.0;
    assert_close(&y, &[1.0 / 7.0, 2.0 / 7.0, 4.0 / 7.0, third, third, third], 1e-6);
}

#[test]
fn w4_is_three_linear_layers_with_gelu_between() {
    use ignis_bench::workloads::Linear;
    // Weights stored [in, out]. Layer 1: [1, 2] @ [[1, 0, -1], [0, 1, 1]] + [0, 0, 0.5]
    // = [1, 2, 1.5]; gelu_tanh of that is [0.841192, 1.954598, 1.399572].
    // Layer 2 sums those three ([3, 1] of ones, bias 0): 4.195361; gelu_tanh: 4.195335.
    // Layer 3 doubles it and adds 1: 9.390669.
    let linear = |weight: Vec<f32>, shape: [usize; 2], bias: Vec<f32>| Linear {
        weight: Tensor::from_vec(weight, shape),
        bias: Tensor::from_vec(bias.clone(), [bias.len()]),
    };
    let layers = [
        linear(vec![1.0, 0.0, -1.0, 0.0, 1.0, 1.0], [2, 3], vec![0.0, 0.0, 0.5]),
        linear(vec![1.0, 1.0, 1.0], [3, 1], vec![0.0]),
        linear(vec![2.0], [1, 1], vec![1.0]),
    ];
    let gelu = |z: f64| 0.5 * z * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (z + 0.044715 * z * z * z)).tanh());
    let hidden = gelu(gelu(1.0) + gelu(2.0) + gelu(1.5));
    assert!((hidden - 4.195335).abs() < 1e-5, "the hand-worked value above: {hidden}");
    let y = workloads::mlp_forward(&Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]), &layers);
    assert_eq!(y.shape(), &[1, 1]);
    assert_close(&y.to_vec::<f32>(), &[2.0 * hidden + 1.0], 1e-5);
}

#[test]
fn w7_chain_matches_the_same_chain_in_f64() {
    let x = Tensor::from_vec(vec![0.5f32], [1]);
    let mut expected = 0.5f64;
    for round in 0..TINY_ROUNDS {
        expected = if round % 2 == 0 { expected * 1.0001 } else { expected + 0.0001 };
        expected = expected.tanh();
    }
    // The same loop in Python's float gives 0.16450188817442332.
    assert!((expected - 0.164501888).abs() < 1e-8);
    // 100 f32 roundings compound to a few ulps at most.
    assert_close(&workloads::tiny_op_chain(&x).to_vec::<f32>(), &[expected], 1e-5);
}

#[test]
fn w7_is_one_hundred_ops() {
    assert_eq!(2 * TINY_ROUNDS, 100);
}

#[test]
fn every_workload_prepares_eagerly() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    // W1-W5 build large inputs; W6f and W7 are cheap enough to run here.
    let mut prepared = Workload::W7.prepare_eager().expect("W7 runs eagerly");
    assert_eq!((prepared.call)().shape(), &[workloads::TINY_LENGTH]);
    assert_eq!(prepared.bytes_moved, None);
    let mut block = Workload::W6f.prepare_eager().expect("W6f runs eagerly");
    let y = (block.call)();
    assert_eq!(y.shape(), &[workloads::BLOCK_BATCH, workloads::BLOCK_SEQ, workloads::BLOCK_WIDTH]);
    assert!(!y.requires_grad(), "W6f runs under no_grad");
}

#[test]
fn compiled_workloads_give_the_eager_results() {
    use ignis_bench::workloads::Mode;
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    for workload in [Workload::W6f, Workload::W7] {
        let mut eager = workload.prepare(Mode::Eager).expect("runs eagerly");
        let mut compiled = workload.prepare(Mode::Compiled).expect("runs compiled");
        for _ in 0..2 {
            let (e, c) = ((eager.call)(), (compiled.call)());
            // Generated kernels differ from the eager ones in the last bits (fma, summation
            // order, polynomial tanh/erf): compared relative to max(|eager|, 1) so that
            // elements near zero do not turn rounding into large relative errors.
            let (c, e) = (c.to_vec::<f32>(), e.to_vec::<f32>());
            for (i, (a, b)) in c.iter().zip(&e).enumerate() {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{}: element {i}: {a} vs {b}", workload.name());
            }
        }
    }
}

#[test]
fn w5_step_is_sgd_on_the_mse_gradient() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    use ignis_bench::workloads::{LEARNING_RATE, TrainingStep};
    ignis::manual_seed(4);
    let mut step = TrainingStep::with_sizes(6, 10);
    let x = Tensor::randn([5, 6], ignis::DType::F32);
    let target = Tensor::randn([5, 6], ignis::DType::F32);
    let before: Vec<Vec<f32>> = step.parameters().iter().map(|p| p.to_vec::<f32>()).collect();
    let first = step.run(&x, &target).item_f64();
    // The update is p - lr * grad, with the gradients left by that step.
    for ((p, old), name) in step.parameters().iter().zip(&before).zip(0..) {
        let grad = p.grad().expect("every parameter has a gradient").to_vec::<f32>();
        for ((new, old), g) in p.to_vec::<f32>().iter().zip(old).zip(&grad) {
            let want = old - LEARNING_RATE as f32 * g;
            assert!((new - want).abs() <= 1e-6 * want.abs().max(1.0), "parameter {name}: {new} vs {want}");
        }
    }
    // And repeated steps lower the loss.
    let mut last = first;
    for _ in 0..200 {
        last = step.run(&x, &target).item_f64();
    }
    assert!(last < first, "loss went from {first} to {last}");
}

#[test]
fn w6_block_backward_reaches_every_parameter() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let (block, x) = workloads::transformer_block();
    use ignis::nn::Module;
    let y = block.forward(&x);
    assert_eq!(y.shape(), x.shape());
    // Causal: the first position's output depends on the first position only.
    let x2 = x.detach().contiguous_copy();
    ignis::no_grad(|| {
        x2.narrow(1, 1, workloads::BLOCK_SEQ - 1).fill_(0.5);
    });
    let first = |t: &Tensor| t.narrow(1, 0, 1).to_vec::<f32>();
    assert_eq!(first(&block.forward(&x2)), first(&y));
    y.square().mean_all().backward();
    for (name, p) in block.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("{name} has no gradient"));
        assert!(g.abs().sum_all().item_f64() > 0.0, "{name} has a zero gradient");
    }
}

#[test]
fn every_workload_has_at_least_twenty_timed_calls_by_default() {
    for workload in Workload::ALL {
        assert!(workload.default_iterations() >= 20, "{}", workload.name());
    }
}
