//! Optimizers, schedulers and gradient clipping against PyTorch.
//!
//! The reference values in `optim_reference/mod.rs` were recorded with PyTorch 2.15.0 by
//! tests/reference/optim_reference.py (rerun it to regenerate them). Every optimizer
//! configuration runs in three set-ups: a contiguous f32 parameter (the fused kernels
//! where there are some), a transposed f32 parameter (tensor ops) and an f64 parameter.

mod common;
mod optim_reference;

use common::{assert_close, f32s};
use ignis::optim::*;
use ignis::{DType, Error, Tensor, no_grad};
use optim_reference as reference;

// ---------------------------------------------------------------------------------------
// Optimizer updates

#[derive(Clone, Copy, Debug, PartialEq)]
enum Setup {
    F32,
    F32Transposed,
    F64,
}

const SETUPS: [Setup; 3] = [Setup::F32, Setup::F32Transposed, Setup::F64];

/// `values` as a `[2, 3]` parameter laid out as `setup` says.
fn param(values: &[f64], setup: Setup) -> Tensor {
    let t = Tensor::from_vec(values.to_vec(), [2, 3]);
    let p = match setup {
        Setup::F32 => t.to_dtype(DType::F32),
        // A column-major copy seen through a transpose: same values, not contiguous.
        Setup::F32Transposed => t.to_dtype(DType::F32).t().contiguous().t(),
        Setup::F64 => t,
    };
    assert_eq!(p.is_contiguous(), setup != Setup::F32Transposed);
    p.requires_grad_(true)
}

fn constant(values: &[f64], like: &Tensor) -> Tensor {
    Tensor::from_vec(values.to_vec(), [2, 3]).to_dtype(like.dtype())
}

type Make<'a> = dyn Fn(Vec<Tensor>) -> Box<dyn Optimizer> + 'a;

/// The parameter after each of the recorded steps, with gradient `A * p + B`.
fn trajectory(setup: Setup, steps: usize, make: &Make<'_>) -> Vec<Vec<f64>> {
    let p = param(&reference::P0, setup);
    let (a, b) = (constant(&reference::A, &p), constant(&reference::B, &p));
    let mut opt = make(vec![p.clone()]);
    (0..steps)
        .map(|_| {
            opt.zero_grad();
            p.set_grad(Some(no_grad(|| p.mul(&a).add(&b))));
            let version = p.version();
            opt.step();
            assert!(p.version() > version, "the step writes the parameter in place");
            p.to_vec::<f64>()
        })
        .collect()
}

fn check(name: &str, case: &reference::Case, make: impl Fn(Vec<Tensor>) -> Box<dyn Optimizer>) {
    for setup in SETUPS {
        let got = trajectory(setup, case.f32.len(), &make);
        for (step, got) in got.iter().enumerate() {
            let what = format!("{name}, {setup:?}, step {}", step + 1);
            match setup {
                Setup::F64 => assert_close(got, &case.f64[step], 1e-12, &what),
                _ => assert_close(got, &case.f32[step].map(f64::from), 1e-6, &what),
            }
        }
    }
}

#[test]
fn sgd_matches_pytorch() {
    check("sgd", &reference::SGD, |p| Box::new(Sgd::new(p, SgdOptions::default().lr(0.1))));
    check("sgd momentum", &reference::SGD_MOMENTUM, |p| {
        Box::new(Sgd::new(p, SgdOptions::default().lr(0.1).momentum(0.9)))
    });
    check("sgd dampening, weight decay", &reference::SGD_DAMPENING_WEIGHT_DECAY, |p| {
        Box::new(Sgd::new(
            p,
            SgdOptions { lr: 0.05, momentum: 0.9, dampening: 0.3, weight_decay: 0.1, ..Default::default() },
        ))
    });
    check("sgd nesterov, weight decay", &reference::SGD_NESTEROV_WEIGHT_DECAY, |p| {
        Box::new(Sgd::new(p, SgdOptions::default().lr(0.05).momentum(0.8).nesterov(true).weight_decay(0.01)))
    });
    check("sgd maximize", &reference::SGD_MAXIMIZE, |p| {
        Box::new(Sgd::new(p, SgdOptions::default().lr(0.02).momentum(0.5).maximize(true)))
    });
}

#[test]
fn adam_matches_pytorch() {
    check("adam", &reference::ADAM, |p| Box::new(Adam::new(p, AdamOptions::default().lr(0.1))));
    check("adam weight decay, amsgrad", &reference::ADAM_WEIGHT_DECAY_AMSGRAD, |p| {
        Box::new(Adam::new(p, AdamOptions::default().lr(0.05).betas(0.8, 0.9).weight_decay(0.1).amsgrad(true)))
    });
    check("adam amsgrad", &reference::ADAM_AMSGRAD, |p| {
        Box::new(Adam::new(p, AdamOptions { lr: 0.1, betas: (0.9, 0.5), amsgrad: true, ..Default::default() }))
    });
    check("adam maximize", &reference::ADAM_MAXIMIZE, |p| {
        Box::new(Adam::new(p, AdamOptions::default().lr(0.01).eps(1e-3).maximize(true)))
    });
}

#[test]
fn adamw_matches_pytorch() {
    check("adamw", &reference::ADAMW, |p| Box::new(AdamW::new(p, AdamWOptions::default().lr(0.1))));
    check("adamw amsgrad", &reference::ADAMW_AMSGRAD, |p| {
        Box::new(AdamW::new(p, AdamWOptions::default().lr(0.05).betas(0.9, 0.5).weight_decay(0.5).amsgrad(true)))
    });
}

#[test]
fn rmsprop_matches_pytorch() {
    check("rmsprop", &reference::RMSPROP, |p| Box::new(RmsProp::new(p, RmsPropOptions::default())));
    check("rmsprop momentum", &reference::RMSPROP_MOMENTUM, |p| {
        Box::new(RmsProp::new(p, RmsPropOptions::default().momentum(0.5)))
    });
    check("rmsprop centered", &reference::RMSPROP_CENTERED, |p| {
        Box::new(RmsProp::new(p, RmsPropOptions::default().lr(0.05).centered(true)))
    });
    check("rmsprop centered, momentum, weight decay", &reference::RMSPROP_CENTERED_MOMENTUM_WEIGHT_DECAY, |p| {
        let options =
            RmsPropOptions { alpha: 0.9, momentum: 0.9, centered: true, weight_decay: 0.1, ..Default::default() };
        Box::new(RmsProp::new(p, options))
    });
}

#[test]
fn adagrad_matches_pytorch() {
    check("adagrad", &reference::ADAGRAD, |p| Box::new(Adagrad::new(p, AdagradOptions::default().lr(0.1))));
    check("adagrad lr decay, weight decay", &reference::ADAGRAD_LR_DECAY_WEIGHT_DECAY, |p| {
        let options =
            AdagradOptions::default().lr(0.1).lr_decay(0.5).weight_decay(0.1).initial_accumulator_value(0.2).eps(1e-6);
        Box::new(Adagrad::new(p, options))
    });
    check("adagrad maximize", &reference::ADAGRAD_MAXIMIZE, |p| {
        Box::new(Adagrad::new(p, AdagradOptions::default().lr(0.05).maximize(true)))
    });
}

#[test]
fn defaults_are_pytorchs() {
    let sgd = SgdOptions::default();
    assert_eq!((sgd.lr, sgd.momentum, sgd.dampening, sgd.weight_decay, sgd.nesterov), (1e-3, 0.0, 0.0, 0.0, false));
    let adam = AdamOptions::default();
    assert_eq!(
        (adam.lr, adam.betas, adam.eps, adam.weight_decay, adam.amsgrad),
        (1e-3, (0.9, 0.999), 1e-8, 0.0, false)
    );
    let adamw = AdamWOptions::default();
    assert_eq!((adamw.lr, adamw.betas, adamw.eps, adamw.weight_decay), (1e-3, (0.9, 0.999), 1e-8, 1e-2));
    let rms = RmsPropOptions::default();
    assert_eq!((rms.lr, rms.alpha, rms.eps, rms.momentum, rms.centered), (1e-2, 0.99, 1e-8, 0.0, false));
    let ada = AdagradOptions::default();
    assert_eq!((ada.lr, ada.lr_decay, ada.initial_accumulator_value, ada.eps), (1e-2, 0.0, 0.0, 1e-10));
}

#[test]
fn each_group_uses_its_own_options() {
    let p = f32s(&reference::P0[..3].iter().map(|&v| v as f32).collect::<Vec<_>>(), &[3]).requires_grad_(true);
    let q = f32s(&reference::P0[3..].iter().map(|&v| v as f32).collect::<Vec<_>>(), &[3]).requires_grad_(true);
    let defaults = AdamOptions::default().lr(0.1);
    let mut opt = Adam::with_groups(vec![
        ParamGroup::new(vec![p.clone()], defaults.clone()),
        ParamGroup::new(vec![q.clone()], AdamOptions { lr: 0.01, weight_decay: 0.1, amsgrad: true, ..defaults }),
    ]);
    assert_eq!(opt.num_groups(), 2);
    assert_eq!((opt.lr(0), opt.lr(1)), (0.1, 0.01));
    let ab = |i: usize| (reference::A[i] as f32, reference::B[i] as f32);
    for _ in 0..3 {
        for (t, offset) in [(&p, 0), (&q, 3)] {
            let values = t.to_vec::<f32>();
            let grad: Vec<f32> = (0..3).map(|i| values[i] * ab(offset + i).0 + ab(offset + i).1).collect();
            t.set_grad(Some(f32s(&grad, &[3])));
        }
        opt.step();
    }
    let got: Vec<f64> = p.to_vec::<f64>().into_iter().chain(q.to_vec::<f64>()).collect();
    assert_close(&got, &reference::ADAM_GROUPS.map(f64::from), 1e-6, "two Adam groups");
    // Only the second group keeps an AMSGrad maximum.
    assert!(opt.param_state(0, 0).unwrap().max_exp_avg_sq.is_none());
    assert!(opt.param_state(1, 0).unwrap().max_exp_avg_sq.is_some());
}

#[test]
fn training_with_backward_matches_pytorch() {
    let x = f32s(&[1.0, 2.0, -1.0, 0.5, -1.0, 2.0, -1.5, 0.25, 1.0, 2.0, 1.0, 0.5], &[4, 3]);
    let y = f32s(&[1.0, -2.0, 0.5, 3.0], &[4, 1]);
    let w = f32s(&[0.1, -0.2, 0.3], &[3, 1]).requires_grad_(true);
    let b = f32s(&[0.05], &[1]).requires_grad_(true);
    let mut opt = Sgd::new(vec![w.clone(), b.clone()], SgdOptions::default().lr(0.05).momentum(0.9));
    let mut losses = Vec::new();
    for _ in 0..3 {
        opt.zero_grad();
        let loss = x.matmul(&w).add(&b).sub(&y).square().mean_all();
        loss.backward();
        opt.step();
        losses.push(loss.item_f64());
    }
    assert_close(&losses, &reference::REGRESSION_LOSSES.map(f64::from), 1e-6, "losses");
    assert_close(&w.to_vec::<f64>(), &reference::REGRESSION_W.map(f64::from), 1e-6, "w");
    assert_close(&b.to_vec::<f64>(), &[reference::REGRESSION_B as f64], 1e-6, "b");
}

#[test]
fn parameters_without_gradients_are_skipped() {
    let with = f32s(&[1.0, 2.0], &[2]).requires_grad_(true);
    let without = f32s(&[3.0, 4.0], &[2]).requires_grad_(true);
    // Weight decay and momentum would move `without` if it were visited.
    let mut sgd =
        Sgd::new(vec![with.clone(), without.clone()], SgdOptions::default().lr(0.5).momentum(0.9).weight_decay(0.1));
    let mut adam = Adam::new(vec![with.clone(), without.clone()], AdamOptions::default().weight_decay(0.1));
    let mut rms = RmsProp::new(vec![with.clone(), without.clone()], RmsPropOptions::default());
    let mut ada = Adagrad::new(vec![with.clone(), without.clone()], AdagradOptions::default());
    with.set_grad(Some(f32s(&[1.0, 1.0], &[2])));
    let optimizers: [&mut dyn Optimizer; 4] = [&mut sgd, &mut adam, &mut rms, &mut ada];
    for opt in optimizers {
        let before = with.to_vec::<f32>();
        opt.step();
        assert_ne!(with.to_vec::<f32>(), before);
        assert_eq!(without.to_vec::<f32>(), vec![3.0, 4.0]);
        assert!(without.grad().is_none());
    }
    assert!(sgd.param_state(0, 0).is_some());
    assert!(sgd.param_state(0, 1).is_none());
    assert_eq!(adam.param_state(0, 0).unwrap().step, 1);
    assert!(adam.param_state(0, 1).is_none());
    assert!(rms.param_state(0, 1).is_none() && ada.param_state(0, 1).is_none());
}

#[test]
fn sgd_step_is_exact_on_simple_values() {
    let p = f32s(&[1.0, 2.0], &[2]).requires_grad_(true);
    let mut sgd = Sgd::new(vec![p.clone()], SgdOptions::default().lr(0.5).weight_decay(0.5));
    p.set_grad(Some(f32s(&[1.0, -1.0], &[2])));
    sgd.step();
    // p - 0.5 * (g + 0.5 p) = [1 - 0.5 * 1.5, 2 - 0.5 * 0]
    assert_eq!(p.to_vec::<f32>(), vec![0.25, 2.0]);
}

#[test]
fn a_gradient_aliasing_the_parameter_is_read_before_the_write() {
    // The fused kernels need the gradient apart from what they write; this one takes the
    // tensor-op path and still computes p - lr * p.
    let p = f32s(&[1.0, 2.0], &[2]).requires_grad_(true);
    let mut adam = Adam::new(vec![p.clone()], AdamOptions::default().lr(0.5));
    let mut sgd = Sgd::new(vec![p.clone()], SgdOptions::default().lr(0.5).momentum(0.9));
    p.set_grad(Some(p.detach()));
    sgd.step();
    assert_eq!(p.to_vec::<f32>(), vec![0.5, 1.0]);
    // A momentum buffer handed back as the gradient takes the tensor-op path too, which
    // (as PyTorch's `buf.mul_(momentum).add_(grad)`) sees the buffer already scaled.
    let buffer = sgd.param_state(0, 0).unwrap().momentum_buffer.clone();
    assert_eq!(buffer.to_vec::<f32>(), vec![1.0, 2.0]);
    p.set_grad(Some(buffer.clone()));
    sgd.step();
    // buffer = 0.9 * [1, 2], doubled; p -= 0.5 * buffer
    assert_eq!(buffer.to_vec::<f32>(), vec![1.8, 3.6]);
    assert_eq!(p.to_vec::<f32>(), vec![0.5 - 0.9, 1.0 - 1.8]);
    // Adam's first step moves each element by about lr against the gradient's sign.
    p.set_grad(Some(p.detach()));
    adam.step();
    assert_close(&p.to_vec::<f64>(), &[-0.4 + 0.5, -0.8 + 0.5], 1e-6, "adam on an aliased gradient");
}

#[test]
fn zero_grad_sets_every_gradient_to_none() {
    let p = f32s(&[1.0, 2.0], &[2]).requires_grad_(true);
    let q = f32s(&[3.0], &[1]).requires_grad_(true);
    let opt = Sgd::with_groups(vec![
        ParamGroup::new(vec![p.clone()], SgdOptions::default()),
        ParamGroup::new(vec![q.clone()], SgdOptions::default().lr(0.1)),
    ]);
    p.mul(&p).sum_all().add(&q.mul_scalar(2.0).sum_all()).backward();
    assert_eq!(p.grad().unwrap().to_vec::<f32>(), vec![2.0, 4.0]);
    assert_eq!(q.grad().unwrap().to_vec::<f32>(), vec![2.0]);
    opt.zero_grad();
    assert!(p.grad().is_none() && q.grad().is_none());
}

#[test]
fn learning_rates_can_be_read_and_changed_per_group() {
    let p = f32s(&[1.0], &[1]).requires_grad_(true);
    let q = f32s(&[1.0], &[1]).requires_grad_(true);
    let mut opt = Sgd::with_groups(vec![
        ParamGroup::new(vec![p.clone()], SgdOptions::default().lr(0.5)),
        ParamGroup::new(vec![q.clone()], SgdOptions::default().lr(0.25)),
    ]);
    opt.set_lr(0, 0.0);
    assert_eq!((opt.lr(0), opt.lr(1)), (0.0, 0.25));
    p.set_grad(Some(f32s(&[1.0], &[1])));
    q.set_grad(Some(f32s(&[1.0], &[1])));
    opt.step();
    assert_eq!((p.item::<f32>(), q.item::<f32>()), (1.0, 0.75));
    opt.options_mut(1).lr = 0.5;
    opt.step();
    assert_eq!(q.item::<f32>(), 0.25);
    assert_eq!(opt.params(1).len(), 1);
    assert_eq!(opt.momentum(0), Some(0.0));
}

type MakeFn = fn(Vec<Tensor>) -> Box<dyn Optimizer>;

#[test]
fn large_parameters_take_the_fused_kernels_and_agree_with_tensor_ops() {
    // Large enough for the fused kernels to split the work across threads; the
    // transposed copy of the same values goes through tensor ops.
    let (rows, cols) = (300, 257);
    let n = rows * cols;
    let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0).collect();
    let grads: Vec<f32> = (0..n).map(|i| ((i * 104729) % 1999) as f32 / 999.5 - 1.0).collect();
    let contiguous = f32s(&values, &[rows, cols]).requires_grad_(true);
    let transposed = f32s(&values, &[rows, cols]).t().contiguous().t().requires_grad_(true);
    assert!(!transposed.is_contiguous());
    let make: [MakeFn; 2] = [
        |p| Box::new(Sgd::new(p, SgdOptions::default().lr(0.1).momentum(0.9).nesterov(true).weight_decay(0.01))),
        |p| Box::new(AdamW::new(p, AdamWOptions::default().lr(0.01).amsgrad(true))),
    ];
    for make in make {
        let a = contiguous.detach().deep_clone().requires_grad_(true);
        let b = transposed.detach().t().deep_clone().t().requires_grad_(true);
        assert!(!b.is_contiguous());
        let (mut oa, mut ob) = (make(vec![a.clone()]), make(vec![b.clone()]));
        for _ in 0..3 {
            a.set_grad(Some(f32s(&grads, &[rows, cols])));
            b.set_grad(Some(f32s(&grads, &[rows, cols])));
            oa.step();
            ob.step();
        }
        let (ga, gb) = (a.to_vec::<f64>(), b.to_vec::<f64>());
        assert_close(&ga, &gb, 1e-6, "fused vs tensor ops");
        assert_ne!(ga, values.iter().map(|&v| v as f64).collect::<Vec<_>>());
    }
}

#[test]
fn readme_example_trains() {
    // The README's optim example, with data it can fit: y = x @ [1, -2, 0.5] + 0.25.
    let x = f32s(&[1.0, 2.0, -1.0, 0.5, -1.0, 2.0, -1.5, 0.25, 1.0, 2.0, 1.0, 0.5], &[4, 3]);
    let y = x.matmul(&f32s(&[1.0, -2.0, 0.5], &[3, 1])).add_scalar(0.25);
    let w = Tensor::zeros([3, 1], DType::F32).requires_grad_(true);
    let b = Tensor::zeros([1], DType::F32).requires_grad_(true);
    let loss = || x.matmul(&w).add(&b).sub(&y).square().mean_all().item_f64();
    let initial = loss();

    let mut opt = Sgd::new(vec![w.clone(), b.clone()], SgdOptions::default().lr(0.1).momentum(0.9));
    let warmup = LinearLR::new(&mut opt, 0.1, 1.0, 5);
    let cosine = CosineAnnealingLR::new(&mut opt, 95, 0.0);
    let mut schedule = SequentialLR::new(&mut opt, vec![Box::new(warmup), Box::new(cosine)], vec![5]);
    for _ in 0..100 {
        opt.zero_grad();
        x.matmul(&w).add(&b).sub(&y).square().mean_all().backward();
        ignis::optim::clip_grad_norm_(&[w.clone(), b.clone()], 1.0, 2.0);
        opt.step();
        schedule.step(&mut opt);
    }
    assert!(loss() < initial * 1e-3, "loss went from {initial} to {}", loss());
    assert_eq!(opt.lr(0), 0.0, "the cosine ends at eta_min");
}

// ---------------------------------------------------------------------------------------
// Construction errors

fn leaf() -> Tensor {
    f32s(&[1.0, 2.0], &[2]).requires_grad_(true)
}

#[test]
#[should_panic(expected = "nesterov momentum requires momentum > 0 and dampening = 0")]
fn nesterov_without_momentum_is_refused() {
    Sgd::new(vec![leaf()], SgdOptions::default().nesterov(true));
}

#[test]
#[should_panic(expected = "lr must be >= 0, got -0.1")]
fn negative_learning_rate_is_refused() {
    Adagrad::new(vec![leaf()], AdagradOptions::default().lr(-0.1));
}

#[test]
#[should_panic(expected = "beta1 must be in [0, 1), got 1")]
fn beta_of_one_is_refused() {
    AdamW::new(vec![leaf()], AdamWOptions::default().betas(1.0, 0.999));
}

#[test]
#[should_panic(expected = "appears more than once")]
fn a_parameter_in_two_groups_is_refused() {
    let p = leaf();
    Sgd::with_groups(vec![
        ParamGroup::new(vec![p.clone()], SgdOptions::default()),
        ParamGroup::new(vec![p], SgdOptions::default()),
    ]);
}

#[test]
#[should_panic(expected = "can't optimize a non-leaf tensor")]
fn non_leaf_parameters_are_refused() {
    Sgd::new(vec![leaf().mul_scalar(2.0)], SgdOptions::default());
}

#[test]
#[should_panic(expected = "empty parameter list")]
fn an_empty_parameter_list_is_refused() {
    Adam::new(vec![], AdamOptions::default());
}

// ---------------------------------------------------------------------------------------
// State dicts

/// Five parameters in two groups, with gradients that change from step to step.
fn model() -> Vec<Tensor> {
    [&[0.5, -1.0, 2.0, 0.25][..], &[1.5, -0.5], &[-2.0], &[0.75, 1.25, -0.25], &[3.0, -3.0]]
        .iter()
        .map(|v| Tensor::from_vec(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), v.len()).requires_grad_(true))
        .collect()
}

fn copies(params: &[Tensor]) -> Vec<Tensor> {
    params.iter().map(|p| p.detach().deep_clone().requires_grad_(true)).collect()
}

fn set_grads(params: &[Tensor], step: usize) {
    for (i, p) in params.iter().enumerate() {
        let g = no_grad(|| p.mul_scalar(0.5 + i as f64).add_scalar(step as f64 * 0.1 - 0.3).sin());
        p.set_grad(Some(g));
    }
}

fn groups<O: Clone>(params: &[Tensor], first: O, second: O) -> Vec<ParamGroup<O>> {
    vec![ParamGroup::new(params[..2].to_vec(), first), ParamGroup::new(params[2..].to_vec(), second)]
}

/// Trains 3 steps, saves, loads into a fresh optimizer over copies of the parameters,
/// then checks both continue identically for 3 more steps.
fn round_trip(make: &dyn Fn(&[Tensor]) -> Box<dyn Optimizer>) -> OptimizerState {
    let params = model();
    let mut opt = make(&params);
    for step in 0..3 {
        set_grads(&params, step);
        opt.step();
    }
    let saved = opt.state_dict();
    let restored_params = copies(&params);
    let mut restored = make(&restored_params);
    restored.load_state_dict(&saved).unwrap();
    for step in 3..6 {
        set_grads(&params, step);
        set_grads(&restored_params, step);
        opt.step();
        restored.step();
    }
    for (a, b) in params.iter().zip(&restored_params) {
        assert_eq!(a.to_vec::<f32>(), b.to_vec::<f32>(), "the restored optimizer continues identically");
    }
    saved
}

#[test]
fn state_dict_round_trips_for_every_optimizer() {
    let saved = round_trip(&|p| {
        Box::new(Sgd::with_groups(groups(
            p,
            SgdOptions::default().lr(0.1).momentum(0.9),
            SgdOptions::default().lr(0.05),
        )))
    });
    // Momentum buffers exist only for the first group; the second has momentum 0.
    assert_eq!(saved.tensors.keys().collect::<Vec<_>>(), ["state.0.momentum_buffer", "state.1.momentum_buffer"]);
    assert_eq!(saved.metadata["optimizer"], "sgd");
    assert_eq!(saved.metadata["param_groups.0.params"], "0,1");
    assert_eq!(saved.metadata["param_groups.1.params"], "2,3,4");
    assert_eq!(saved.metadata["param_groups.1.lr"], "0.05");
    assert_eq!(saved.metadata["param_groups.0.nesterov"], "false");

    let saved = round_trip(&|p| {
        let first = AdamOptions::default().lr(0.01).amsgrad(true);
        Box::new(Adam::with_groups(groups(p, first, AdamOptions::default().weight_decay(0.1))))
    });
    assert_eq!(saved.metadata["state.4.step"], "3");
    assert_eq!(saved.metadata["param_groups.0.beta2"], "0.999");
    assert!(saved.tensors.contains_key("state.1.max_exp_avg_sq"));
    assert!(!saved.tensors.contains_key("state.2.max_exp_avg_sq"));
    assert_eq!(saved.tensors["state.3.exp_avg"].shape(), &[3]);

    round_trip(&|p| Box::new(AdamW::with_groups(groups(p, AdamWOptions::default(), AdamWOptions::default().lr(0.1)))));
    let saved = round_trip(&|p| {
        let centered = RmsPropOptions::default().centered(true).momentum(0.9);
        Box::new(RmsProp::with_groups(groups(p, centered, RmsPropOptions::default())))
    });
    assert!(saved.tensors.contains_key("state.0.grad_avg") && saved.tensors.contains_key("state.1.momentum_buffer"));
    assert!(!saved.tensors.contains_key("state.2.grad_avg"));
    let saved = round_trip(&|p| {
        let decaying = AdagradOptions::default().lr_decay(0.1).initial_accumulator_value(0.5);
        Box::new(Adagrad::with_groups(groups(p, decaying, AdagradOptions::default())))
    });
    assert_eq!(saved.metadata["param_groups.0.initial_accumulator_value"], "0.5");
}

#[test]
fn loading_restores_hyper_parameters_and_copies_state() {
    let params = model();
    let mut source = Sgd::new(params.clone(), SgdOptions::default().lr(0.3).momentum(0.5).dampening(0.1));
    set_grads(&params, 0);
    source.step();
    let saved = source.state_dict();
    let mut target = Sgd::new(copies(&params), SgdOptions::default());
    target.load_state_dict(&saved).unwrap();
    assert_eq!(target.param_groups()[0].options, SgdOptions::default().lr(0.3).momentum(0.5).dampening(0.1));
    // The loaded buffers are copies: stepping the source leaves the target's alone.
    let before = target.param_state(0, 0).unwrap().momentum_buffer.to_vec::<f32>();
    set_grads(&params, 1);
    source.step();
    assert_eq!(target.param_state(0, 0).unwrap().momentum_buffer.to_vec::<f32>(), before);
}

fn adam_state() -> (Vec<Tensor>, OptimizerState) {
    let params = model();
    let mut opt = Adam::with_groups(groups(&params, AdamOptions::default(), AdamOptions::default().amsgrad(true)));
    set_grads(&params, 0);
    opt.step();
    (params, opt.state_dict())
}

fn load_error(state: &OptimizerState) -> String {
    let params = copies(&adam_state().0);
    let mut opt = Adam::with_groups(groups(&params, AdamOptions::default().lr(0.5), AdamOptions::default()));
    let err = opt.load_state_dict(state).unwrap_err();
    assert!(matches!(err, Error::Optimizer(_)), "{err:?}");
    // A failed load changes nothing.
    assert_eq!(opt.lr(0), 0.5);
    assert!(opt.param_state(0, 0).is_none());
    err.to_string()
}

#[test]
fn load_state_dict_errors_name_what_is_wrong() {
    let (params, good) = adam_state();

    let mut state = good.clone();
    state.metadata.insert("optimizer".into(), "sgd".into());
    assert_eq!(load_error(&state), "optimizer state: the state is for sgd, this optimizer is adam");

    let mut state = good.clone();
    state.metadata.insert("param_groups.0.lr".into(), "fast".into());
    assert_eq!(load_error(&state), "optimizer state: param_groups.0.lr: cannot parse \"fast\" as f64");

    let mut state = good.clone();
    state.metadata.insert("state.2.step".into(), "-1".into());
    assert_eq!(load_error(&state), "optimizer state: state.2.step: cannot parse \"-1\" as u64");

    let mut state = good.clone();
    state.metadata.remove("param_groups.1.eps");
    assert_eq!(load_error(&state), "optimizer state: missing key param_groups.1.eps");

    let mut state = good.clone();
    state.metadata.insert("param_groups.0.beta1".into(), "1.5".into());
    assert_eq!(load_error(&state), "optimizer state: param_groups.0: beta1 must be in [0, 1), got 1.5");

    let mut state = good.clone();
    state.tensors.insert("state.3.exp_avg".into(), Tensor::zeros([2, 2], DType::F32));
    assert_eq!(load_error(&state), "optimizer state: state.3.exp_avg has shape [2,2], but its parameter is f32[3]");

    let mut state = good.clone();
    state.tensors.insert("state.7.exp_avg".into(), Tensor::zeros([1], DType::F32));
    assert_eq!(load_error(&state), "optimizer state: unexpected key state.7.exp_avg (the optimizer has 5 parameters)");

    // Fewer groups, and a different split of the parameters into groups.
    let mut opt = Adam::new(copies(&params), AdamOptions::default());
    let err = opt.load_state_dict(&good).unwrap_err().to_string();
    assert_eq!(err, "optimizer state: the state has 2 parameter groups, the optimizer 1");
    let mut opt = Adam::with_groups(vec![
        ParamGroup::new(copies(&params[..3]), AdamOptions::default()),
        ParamGroup::new(copies(&params[3..]), AdamOptions::default()),
    ]);
    let err = opt.load_state_dict(&good).unwrap_err().to_string();
    assert_eq!(err, "optimizer state: group 0 has 3 parameters (indices 0..=2), the state lists 0..=1");
}

// ---------------------------------------------------------------------------------------
// Learning-rate schedulers

/// An SGD optimizer with two groups at base lrs 0.1 and 0.05, as in the reference.
fn two_groups() -> Sgd {
    let a = f32s(&[0.0], &[1]).requires_grad_(true);
    let b = f32s(&[0.0], &[1]).requires_grad_(true);
    Sgd::with_groups(vec![
        ParamGroup::new(vec![a], SgdOptions::default().lr(0.1)),
        ParamGroup::new(vec![b], SgdOptions::default().lr(0.05)),
    ])
}

/// The lrs after construction and after each step, checking the optimizer follows.
fn lr_sequence(opt: &mut dyn Optimizer, scheduler: &mut dyn LrScheduler, steps: usize) -> Vec<[f64; 2]> {
    let mut seen = vec![[scheduler.last_lr()[0], scheduler.last_lr()[1]]];
    for step in 1..=steps {
        opt.step();
        scheduler.step(opt);
        assert_eq!(scheduler.last_epoch(), step);
        let lr = [scheduler.last_lr()[0], scheduler.last_lr()[1]];
        assert_eq!([opt.lr(0), opt.lr(1)], lr, "the optimizer's lrs are the scheduler's");
        seen.push(lr);
    }
    seen
}

fn check_schedule(name: &str, want: &[[f64; 2]], make: impl Fn(&mut dyn Optimizer) -> Box<dyn LrScheduler>) {
    let mut opt = two_groups();
    let mut scheduler = make(&mut opt);
    let got = lr_sequence(&mut opt, scheduler.as_mut(), want.len() - 1);
    for (step, (got, want)) in got.iter().zip(want).enumerate() {
        assert_close(got, want, 1e-12, &format!("{name} at step {step}"));
    }
    // Jumping straight to a step gives the same lrs as stepping there.
    let mut opt = two_groups();
    let mut jumped = make(&mut opt);
    jumped.set_epoch(&mut opt, 7);
    assert_close(jumped.last_lr(), &want[7], 1e-12, &format!("{name} set_epoch(7)"));
}

#[test]
fn schedulers_match_pytorch() {
    check_schedule("StepLR", &reference::STEP_LR, |o| Box::new(StepLR::new(o, 3, 0.5)));
    check_schedule("MultiStepLR", &reference::MULTI_STEP_LR, |o| Box::new(MultiStepLR::new(o, vec![5, 2, 9], 0.1)));
    check_schedule("ExponentialLR", &reference::EXPONENTIAL_LR, |o| Box::new(ExponentialLR::new(o, 0.9)));
    check_schedule("CosineAnnealingLR", &reference::COSINE_ANNEALING_LR, |o| {
        Box::new(CosineAnnealingLR::new(o, 10, 0.001))
    });
    check_schedule("LinearLR defaults", &reference::LINEAR_LR_DEFAULTS, |o| {
        Box::new(LinearLR::new(o, 1.0 / 3.0, 1.0, 5))
    });
    check_schedule("LinearLR decreasing", &reference::LINEAR_LR_DECREASING, |o| {
        Box::new(LinearLR::new(o, 0.5, 0.1, 4))
    });
}

#[test]
fn warm_up_then_another_schedule_matches_pytorch() {
    check_schedule("LinearLR then CosineAnnealingLR", &reference::WARMUP_THEN_COSINE, |o| {
        let warmup = LinearLR::new(o, 0.1, 1.0, 3);
        let cosine = CosineAnnealingLR::new(o, 8, 0.0);
        Box::new(SequentialLR::new(o, vec![Box::new(warmup), Box::new(cosine)], vec![3]))
    });
    check_schedule("LinearLR then ExponentialLR", &reference::WARMUP_THEN_EXPONENTIAL, |o| {
        let warmup = LinearLR::new(o, 0.25, 1.0, 4);
        let decay = ExponentialLR::new(o, 0.8);
        Box::new(SequentialLR::new(o, vec![Box::new(warmup), Box::new(decay)], vec![4]))
    });
}

#[test]
fn one_cycle_matches_pytorch_including_momentum() {
    let mut opt = two_groups();
    let options = OneCycleOptions { max_lr: vec![1.0, 0.5], ..OneCycleOptions::new(0.0, 12) };
    let mut scheduler = OneCycleLR::new(&mut opt, options);
    let mut momenta = vec![opt.momentum(0).unwrap()];
    let mut lrs = vec![[opt.lr(0), opt.lr(1)]];
    for _ in 0..12 {
        opt.step();
        scheduler.step(&mut opt);
        lrs.push([opt.lr(0), opt.lr(1)]);
        momenta.push(opt.momentum(0).unwrap());
        assert_eq!(opt.momentum(1), opt.momentum(0));
    }
    for (step, (got, want)) in lrs.iter().zip(&reference::ONE_CYCLE_COS).enumerate() {
        assert_close(got, want, 1e-12, &format!("one cycle (cos) lr at step {step}"));
    }
    assert_close(&momenta, &reference::ONE_CYCLE_COS_MOMENTUM, 1e-12, "one cycle (cos) momentum");

    // Adam cycles beta1; linear annealing in three phases.
    let p = f32s(&[0.0], &[1]).requires_grad_(true);
    let q = f32s(&[0.0], &[1]).requires_grad_(true);
    let mut adam = Adam::with_groups(vec![
        ParamGroup::new(vec![p], AdamOptions::default().lr(0.1)),
        ParamGroup::new(vec![q], AdamOptions::default().lr(0.05)),
    ]);
    let options =
        OneCycleOptions { pct_start: 0.25, anneal: Anneal::Linear, three_phase: true, ..OneCycleOptions::new(0.2, 12) };
    let mut scheduler = OneCycleLR::new(&mut adam, options);
    let mut betas = vec![adam.param_groups()[0].options.betas.0];
    let mut lrs = vec![[adam.lr(0), adam.lr(1)]];
    for _ in 0..12 {
        scheduler.step(&mut adam);
        lrs.push([scheduler.last_lr()[0], scheduler.last_lr()[1]]);
        betas.push(adam.param_groups()[0].options.betas.0);
    }
    for (step, (got, want)) in lrs.iter().zip(&reference::ONE_CYCLE_LINEAR_THREE_PHASE).enumerate() {
        assert_close(got, want, 1e-12, &format!("one cycle (linear, three phase) lr at step {step}"));
    }
    assert_close(&betas, &reference::ONE_CYCLE_LINEAR_THREE_PHASE_MOMENTUM, 1e-12, "one cycle beta1");
    assert_eq!(adam.param_groups()[1].options.betas.1, 0.999, "beta2 is left alone");
}

#[test]
#[should_panic(expected = "OneCycleLR: tried to step 4 times, but the cycle has 3 steps")]
fn one_cycle_refuses_to_step_past_its_end() {
    let mut opt = two_groups();
    let mut scheduler = OneCycleLR::new(&mut opt, OneCycleOptions::new(0.1, 3));
    for _ in 0..4 {
        scheduler.step(&mut opt);
    }
}

#[test]
#[should_panic(expected = "must have a momentum or beta1 to cycle")]
fn one_cycle_needs_a_momentum_to_cycle() {
    let mut opt = Adagrad::new(vec![leaf()], AdagradOptions::default());
    OneCycleLR::new(&mut opt, OneCycleOptions::new(0.1, 10));
}

#[test]
fn one_cycle_without_momentum_works_on_adagrad() {
    let mut opt = Adagrad::new(vec![leaf()], AdagradOptions::default());
    let options = OneCycleOptions { cycle_momentum: false, anneal: Anneal::Linear, ..OneCycleOptions::new(0.5, 10) };
    let mut scheduler = OneCycleLR::new(&mut opt, options);
    assert_eq!(opt.lr(0), 0.02); // max_lr / 25
    for _ in 0..2 {
        scheduler.step(&mut opt);
    }
    // The peak comes at step pct_start * total_steps - 1 = 2.
    assert_close(&[opt.lr(0)], &[0.5], 1e-15, "one cycle peak");
}

#[test]
fn schedulers_record_the_initial_lr_once() {
    let mut opt = two_groups();
    let _decay = ExponentialLR::new(&mut opt, 0.5);
    assert_eq!(opt.initial_lr(0), Some(0.1));
    opt.set_lr(0, 0.01);
    // A second scheduler starts from the recorded initial lr, not the current one.
    let step = StepLR::new(&mut opt, 2, 0.1);
    assert_eq!(step.last_lr(), &[0.1, 0.05]);
    assert_eq!(opt.state_dict().metadata["param_groups.1.initial_lr"], "0.05");
}

// ---------------------------------------------------------------------------------------
// Gradient clipping

fn clip_params() -> Vec<Tensor> {
    let p1 = Tensor::zeros([2, 3], DType::F32).requires_grad_(true);
    let p2 = Tensor::zeros([4], DType::F32).requires_grad_(true);
    let p3 = Tensor::zeros([5], DType::F32).requires_grad_(true); // no gradient: ignored
    p1.set_grad(Some(f32s(&reference::CLIP_G1, &[2, 3])));
    p2.set_grad(Some(f32s(&reference::CLIP_G2, &[4])));
    vec![p1, p2, p3]
}

fn grads(params: &[Tensor]) -> (Vec<f64>, Vec<f64>) {
    (params[0].grad().unwrap().to_vec::<f64>(), params[1].grad().unwrap().to_vec::<f64>())
}

#[test]
fn clip_grad_norm_matches_pytorch() {
    for &(max_norm, norm_type, total, g1, g2) in reference::CLIP_NORM {
        let what = format!("clip_grad_norm_(max_norm {max_norm}, norm_type {norm_type})");
        let params = clip_params();
        let got = clip_grad_norm_(&params, max_norm, norm_type);
        assert_close(&[got], &[total], 1e-6, &what);
        let (got1, got2) = grads(&params);
        assert_close(&got1, &g1.map(f64::from), 1e-6, &what);
        assert_close(&got2, &g2.map(f64::from), 1e-6, &what);
        assert!(params[2].grad().is_none());
        // The checked form agrees on finite norms.
        let params = clip_params();
        assert_close(&[try_clip_grad_norm_(&params, max_norm, norm_type).unwrap()], &[total], 1e-6, &what);
        assert_close(&grads(&params).0, &g1.map(f64::from), 1e-6, &what);
    }
}

#[test]
fn clip_grad_norm_of_nothing_is_zero() {
    let p = leaf();
    assert_eq!(clip_grad_norm_(std::slice::from_ref(&p), 1.0, 2.0), 0.0);
    assert!(p.grad().is_none());
}

#[test]
fn non_finite_norms_are_errors_only_when_asked() {
    let params = clip_params();
    params[1].set_grad(Some(f32s(&[1.0, f32::INFINITY, 0.0, 0.0], &[4])));
    let err = try_clip_grad_norm_(&params, 1.0, 2.0).unwrap_err().to_string();
    assert!(err.contains("non-finite (inf)"), "{err}");
    assert_eq!(grads(&params).0, reference::CLIP_G1.map(f64::from), "left unclipped");
    // Without the check, PyTorch's arithmetic: the scale is 1 / inf = 0.
    assert_eq!(clip_grad_norm_(&params, 1.0, 2.0), f64::INFINITY);
    assert!(grads(&params).0.iter().all(|&g| g == 0.0));
}

#[test]
fn clip_grad_value_matches_pytorch() {
    let params = clip_params();
    clip_grad_value_(&params, 0.6);
    let (g1, g2) = grads(&params);
    assert_eq!(g1, reference::CLIP_VALUE.0.map(f64::from));
    assert_eq!(g2, reference::CLIP_VALUE.1.map(f64::from));
    assert!(params[2].grad().is_none());
}
