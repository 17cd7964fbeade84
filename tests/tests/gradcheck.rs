//! Every differentiable op's gradient against finite differences (f64), including
//! broadcasting and non-contiguous inputs.

use ignis::autograd::{GradcheckOptions, gradcheck};
use ignis::{DType, PadMode, Tensor};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape.to_vec(), DType::F64)
}

/// Values away from 0 so that |x|, relu and friends are differentiable where probed.
fn away_from_zero(shape: &[usize]) -> Tensor {
    let x = randn(shape);
    x.add(&x.sign().mul_scalar(0.2))
}

fn positive(shape: &[usize]) -> Tensor {
    Tensor::rand(shape.to_vec(), DType::F64).add_scalar(0.5)
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    ignis::manual_seed(7);
    if let Err(e) = gradcheck(f, inputs, &GradcheckOptions::default()) {
        panic!("{name}: {e}");
    }
}

#[test]
fn unary_ops() {
    let x = away_from_zero(&[2, 3]);
    let p = positive(&[2, 3]);
    type Op = fn(&Tensor) -> Tensor;
    let ops: Vec<(&str, Op, &Tensor)> = vec![
        ("neg", |x| x.neg(), &x),
        ("abs", |x| x.abs(), &x),
        ("recip", |x| x.recip(), &x),
        ("square", |x| x.square(), &x),
        ("exp", |x| x.exp(), &x),
        ("exp2", |x| x.exp2(), &x),
        ("log", |x| x.log(), &p),
        ("log2", |x| x.log2(), &p),
        ("log1p", |x| x.log1p(), &p),
        ("expm1", |x| x.expm1(), &x),
        ("sqrt", |x| x.sqrt(), &p),
        ("rsqrt", |x| x.rsqrt(), &p),
        ("sin", |x| x.sin(), &x),
        ("cos", |x| x.cos(), &x),
        ("tan", |x| x.mul_scalar(0.3).tan(), &x),
        ("tanh", |x| x.tanh(), &x),
        ("erf", |x| x.erf(), &x),
        ("sigmoid", |x| x.sigmoid(), &x),
        ("relu", |x| x.relu(), &x),
        ("gelu", |x| x.gelu(), &x),
        ("gelu_tanh", |x| x.gelu_tanh(), &x),
        ("silu", |x| x.silu(), &x),
        ("softplus", |x| x.softplus(), &x),
        ("mish", |x| x.mish(), &x),
        ("leaky_relu", |x| x.leaky_relu(0.1), &x),
        ("elu", |x| x.elu(1.3), &x),
        ("clamp", |x| x.clamp(Some(-0.5), Some(0.7)), &x),
        ("nan_to_num", |x| x.nan_to_num(0.0, None, None), &x),
        ("pow_scalar", |x| x.pow_scalar(3.0), &x),
        ("rpow_scalar", |x| x.rpow_scalar(1.7), &x),
        ("rdiv_scalar", |x| x.rdiv_scalar(2.0), &x),
        ("sign", |x| x.sign().add(x), &x),
        ("floor", |x| x.floor().add(x), &x),
    ];
    for (name, op, input) in ops {
        check(name, |xs| op(&xs[0]), std::slice::from_ref(input));
        // The same op on a transposed (non-contiguous) view.
        check(name, |xs| op(&xs[0].t()), std::slice::from_ref(input));
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    type Op = fn(&Tensor, &Tensor) -> Tensor;
    let ops: Vec<(&str, Op)> = vec![
        ("add", |a, b| a.add(b)),
        ("sub", |a, b| a.sub(b)),
        ("mul", |a, b| a.mul(b)),
        ("div", |a, b| a.div(b)),
        ("pow", |a, b| a.abs().add_scalar(0.5).pow(b)),
        ("minimum", |a, b| a.minimum(b)),
        ("maximum", |a, b| a.maximum(b)),
        ("rem", |a, b| a.rem(&b.abs().add_scalar(1.0))),
    ];
    let shapes: [(&[usize], &[usize]); 4] =
        [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[2, 1], &[1, 3]), (&[4, 1, 3], &[2, 1])];
    for (name, op) in ops {
        for (sa, sb) in shapes {
            let (a, b) = (away_from_zero(sa), away_from_zero(sb));
            check(name, |xs| op(&xs[0], &xs[1]), &[a, b]);
        }
        // A transposed left operand.
        check(name, |xs| op(&xs[0].t(), &xs[1]), &[away_from_zero(&[3, 2]), away_from_zero(&[2, 3])]);
    }
}

#[test]
fn scalar_ops_and_where() {
    let x = away_from_zero(&[3, 2]);
    check("add_scalar", |xs| xs[0].add_scalar(2.0).mul_scalar(-1.5).sub_scalar(0.25).div_scalar(3.0), &[x.clone()]);
    check("rsub_scalar", |xs| xs[0].rsub_scalar(1.0), &[x.clone()]);
    check("maximum_scalar", |xs| xs[0].maximum_scalar(0.1).minimum_scalar(0.9), &[x.clone()]);
    let cond = away_from_zero(&[3, 2]).gt_scalar(0.0);
    check("where", move |xs| cond.where_(&xs[0], &xs[1]), &[x, away_from_zero(&[2])]);
}

#[test]
fn reductions() {
    let x = away_from_zero(&[2, 3, 4]);
    check("sum_all", |xs| xs[0].sum_all(), &[x.clone()]);
    check("sum_dims", |xs| xs[0].sum_dims(&[0, 2], false), &[x.clone()]);
    check("sum keepdim", |xs| xs[0].sum(1, true), &[x.clone()]);
    check("mean", |xs| xs[0].mean_dims(&[-1], false), &[x.clone()]);
    check("prod", |xs| xs[0].prod_dims(&[1], false), &[x.clone()]);
    check("max", |xs| xs[0].max(2, false), &[x.clone()]);
    check("min", |xs| xs[0].min_dims(&[0, 1], true), &[x.clone()]);
    check("var", |xs| xs[0].var_dims(&[1, 2], 1, false), &[x.clone()]);
    check("std", |xs| xs[0].std(0, true), &[x.clone()]);
    check("logsumexp", |xs| xs[0].logsumexp(&[2], false), &[x.clone()]);
    check("cumsum", |xs| xs[0].cumsum(1), &[x.clone()]);
    check("sum of permuted", |xs| xs[0].permute(&[2, 0, 1]).sum(0, false), &[x]);
}

#[test]
fn movement_ops() {
    let x = randn(&[2, 3, 4]);
    check("reshape", |xs| xs[0].reshape([6, 4]).mul(&xs[0].reshape([6, 4])), &[x.clone()]);
    check("reshape of transposed", |xs| xs[0].transpose(0, 2).reshape([4, 6]).exp(), &[x.clone()]);
    check("permute", |xs| xs[0].permute(&[1, 2, 0]).exp(), &[x.clone()]);
    check("slice step", |xs| xs[0].slice(2, 0, 4, 2).square(), &[x.clone()]);
    check("narrow", |xs| xs[0].narrow(1, 1, 2).sin(), &[x.clone()]);
    check("select", |xs| xs[0].select(0, 1).sin(), &[x.clone()]);
    check("expand", |xs| xs[0].narrow(0, 0, 1).expand([5, 3, 4]).sin(), &[x.clone()]);
    check("squeeze/unsqueeze", |xs| xs[0].unsqueeze(1).squeeze(1).unsqueeze(-1).exp(), &[x.clone()]);
    check("flatten/unflatten", |xs| xs[0].flatten(0, 1).unflatten(0, &[3, -1]).exp(), &[x.clone()]);
    check("split", |xs| xs[0].split(3, 2)[1].exp(), &[x.clone()]);
    check("chunk", |xs| xs[0].chunk(2, 1)[0].exp(), &[x.clone()]);
    check("repeat", |xs| xs[0].repeat(&[2, 1, 1, 2]).sin(), &[x.clone()]);
    check("cat", |xs| Tensor::cat(&[&xs[0], &xs[1].t().unsqueeze(0)], 0).sin(), &[x.clone(), randn(&[4, 3])]);
    check("stack", |xs| Tensor::stack(&[&xs[0], &xs[1]], 1).sin(), &[randn(&[2, 3]), randn(&[2, 3])]);
    check("flip", |xs| xs[0].flip(&[0, 2]).sin(), &[x.clone()]);
    check("roll", |xs| xs[0].roll(&[1, -2], &[1, 2]).sin(), &[x.clone()]);
    check("pad constant", |xs| xs[0].pad(&[1, 2, 0, 1], PadMode::Constant, 0.5).sin(), &[x.clone()]);
    check("pad reflect", |xs| xs[0].pad(&[2, 1], PadMode::Reflect, 0.0).sin(), &[x.clone()]);
    check("pad replicate", |xs| xs[0].pad(&[2, 3, 1, 1], PadMode::Replicate, 0.0).sin(), &[x.clone()]);
    check("contiguous copy", |xs| xs[0].t().contiguous().exp(), &[randn(&[3, 2])]);
    // Through f32 the finite differences need a step f32 can resolve.
    let coarse = GradcheckOptions { eps: 1e-2, atol: 1e-3, rtol: 1e-3 };
    let cast = |xs: &[Tensor]| xs[0].to_dtype(DType::F32).to_dtype(DType::F64).mul_scalar(3.0);
    gradcheck(cast, &[randn(&[3])], &coarse).unwrap();
}

#[test]
fn indexing_ops() {
    let x = randn(&[4, 3]);
    let index = Tensor::from_vec(vec![3i64, 0, 3], [3]);
    let idx = index.clone();
    check("index_select", move |xs| xs[0].index_select(0, &idx).sin(), &[x.clone()]);
    let gather_index = Tensor::from_vec(vec![0i64, 2, 1, 1, 0, 0], [2, 3]);
    let gi = gather_index.clone();
    check("gather", move |xs| xs[0].gather(0, &gi).sin(), &[x.clone()]);
    let si = gather_index.clone();
    check("scatter_add", move |xs| xs[0].scatter_add(0, &si, &xs[1]).sin(), &[x.clone(), randn(&[2, 3])]);
    let unique = Tensor::from_vec(vec![1i64, 3, 0], [1, 3]);
    check("scatter", move |xs| xs[0].scatter(0, &unique, &xs[1]).sin(), &[x.clone(), randn(&[1, 3])]);
    let ia = index.clone();
    check("index_add", move |xs| xs[0].index_add(0, &ia, &xs[1]).sin(), &[x.clone(), randn(&[3, 3])]);
    let mask = Tensor::from_vec(vec![true, false, true], [3]);
    check("masked_select", move |xs| xs[0].masked_select(&mask).sin(), &[x.clone()]);
    let emb_idx = Tensor::from_vec(vec![1i64, 1, 3, 0], [2, 2]);
    check("embedding", move |xs| xs[0].embedding(&emb_idx).sin(), &[x.clone()]);
    let fill = Tensor::from_vec(vec![false, true, false], [3]);
    check("masked_fill", move |xs| xs[0].masked_fill(&fill, 2.0).sin(), &[x]);
}

#[test]
fn normalization_ops() {
    let x = randn(&[3, 5]);
    check("softmax", |xs| xs[0].softmax(-1), &[x.clone()]);
    check("softmax dim 0", |xs| xs[0].softmax(0), &[x.clone()]);
    check("log_softmax", |xs| xs[0].log_softmax(1), &[x.clone()]);
    check(
        "layer_norm",
        |xs| xs[0].layer_norm(&[5], Some(&xs[1]), Some(&xs[2]), 1e-5),
        &[x.clone(), randn(&[5]), randn(&[5])],
    );
    check("layer_norm 2 dims", |xs| xs[0].layer_norm(&[3, 5], None, None, 1e-5), &[x.clone()]);
    check("rms_norm", |xs| xs[0].rms_norm(&[5], Some(&xs[1]), 1e-6), &[x, randn(&[5])]);
}

#[test]
fn matmul_and_linear() {
    let cases: [(&[usize], &[usize]); 6] = [
        (&[2, 3], &[3, 4]),
        (&[3], &[3, 2]),
        (&[2, 3], &[3]),
        (&[3], &[3]),
        (&[2, 2, 3], &[3, 4]),
        (&[2, 1, 2, 3], &[3, 3, 2]),
    ];
    for (sa, sb) in cases {
        check("matmul", |xs| xs[0].matmul(&xs[1]), &[randn(sa), randn(sb)]);
    }
    check(
        "batched lhs view by a shared matrix",
        |xs| xs[0].transpose(0, 1).matmul(&xs[1]),
        &[randn(&[3, 2, 3]), randn(&[3, 2])],
    );
    check("matmul of transposed", |xs| xs[0].t().matmul(&xs[1].t()), &[randn(&[3, 2]), randn(&[4, 3])]);
    check("linear", |xs| xs[0].linear(&xs[1], Some(&xs[2])), &[randn(&[2, 3]), randn(&[4, 3]), randn(&[4])]);
}

#[test]
fn convolution_and_pooling() {
    use ignis::{ConvOptions, Window2d};
    let x = randn(&[2, 4, 5, 5]);
    let w = randn(&[6, 2, 3, 3]);
    let b = randn(&[6]);
    let opts = ConvOptions::new(2).stride(2).padding(1).groups(2);
    check("conv2d", |xs| xs[0].conv2d(&xs[1], Some(&xs[2]), &opts), &[x.clone(), w, b]);
    let dilated = ConvOptions::new(2).dilation(2);
    check("conv2d dilated", |xs| xs[0].conv2d(&xs[1], None, &dilated), &[randn(&[1, 2, 5, 6]), randn(&[3, 2, 2, 2])]);
    let o1 = ConvOptions::new(1).stride(2).padding(1);
    check("conv1d", |xs| xs[0].conv1d(&xs[1], Some(&xs[2]), &o1), &[randn(&[2, 3, 7]), randn(&[4, 3, 3]), randn(&[4])]);
    let window = Window2d { kernel: [2, 2], stride: [2, 1], padding: [1, 0], dilation: [1, 1] };
    let wm = window.clone();
    check("max_pool2d", move |xs| xs[0].max_pool2d(&wm), &[x.clone()]);
    let wa = window.clone();
    check("avg_pool2d", move |xs| xs[0].avg_pool2d(&wa, true), &[x.clone()]);
    let wb = window;
    check("avg_pool2d exclude pad", move |xs| xs[0].avg_pool2d(&wb, false), &[x.clone()]);
    check("adaptive_avg_pool2d", |xs| xs[0].adaptive_avg_pool2d([3, 2]), &[x.clone()]);
    check("upsample_nearest2d", |xs| xs[0].upsample_nearest2d([7, 10]), &[x]);
}

#[test]
fn losses() {
    use ignis::{CrossEntropyOptions, Reduction};
    let logits = randn(&[4, 5]);
    let target = Tensor::from_vec(vec![1i64, 4, -100, 0], [4]);
    let t = target.clone();
    let plain = CrossEntropyOptions { ignore_index: Some(-100), ..Default::default() };
    check("cross_entropy", move |xs| xs[0].cross_entropy(&t, &plain), &[logits.clone()]);
    let t = target.clone();
    let smooth = CrossEntropyOptions { ignore_index: Some(-100), label_smoothing: 0.1, reduction: Reduction::Sum };
    check("cross_entropy smoothed", move |xs| xs[0].cross_entropy(&t, &smooth), &[logits.clone()]);
    let probs = Tensor::rand([4, 5], DType::F64).softmax(1);
    check(
        "cross_entropy probabilities",
        move |xs| xs[0].cross_entropy(&probs, &CrossEntropyOptions::default()),
        &[logits.clone()],
    );
    let spatial = Tensor::from_vec(vec![0i64, 2, 1, 1, 2, 0], [2, 3]);
    check(
        "cross_entropy [N,C,d]",
        move |xs| xs[0].cross_entropy(&spatial, &CrossEntropyOptions::default()),
        &[randn(&[2, 3, 3])],
    );
    let nll_target = Tensor::from_vec(vec![2i64, 0, 1, 1], [4]);
    check("nll_loss", move |xs| xs[0].log_softmax(1).nll_loss(&nll_target, None, Reduction::Mean), &[logits.clone()]);
    check("mse_loss", |xs| xs[0].mse_loss(&xs[1], Reduction::Mean), &[randn(&[3, 2]), randn(&[3, 2])]);
    let y = Tensor::rand([3, 2], DType::F64);
    check(
        "bce_with_logits",
        move |xs| xs[0].binary_cross_entropy_with_logits(&y, Reduction::Sum),
        &[away_from_zero(&[3, 2])],
    );
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // d/dx (detach(x) * x) is x by autograd (one path cut) but 2x numerically.
    let result = gradcheck(|xs| xs[0].detach().mul(&xs[0]), &[away_from_zero(&[3])], &GradcheckOptions::default());
    let message = result.expect_err("gradcheck must notice the missing path");
    assert!(message.contains("finite differences give"), "{message}");
}

/// Second derivatives: gradcheck of a function that is itself a gradient (create_graph).
#[test]
fn second_order() {
    type Op = fn(&Tensor) -> Tensor;
    let ops: Vec<(&str, Op)> = vec![
        ("exp", |x| x.exp()),
        ("tanh", |x| x.tanh()),
        ("sigmoid", |x| x.sigmoid()),
        ("gelu_tanh", |x| x.gelu_tanh()),
        ("softmax", |x| x.softmax(-1)),
        ("log_softmax", |x| x.log_softmax(-1)),
        ("layer_norm", |x| x.layer_norm(&[3], None, None, 1e-5)),
        ("rms_norm", |x| x.rms_norm(&[3], None, 1e-5)),
        ("prod", |x| x.prod_dims(&[1], false)),
        ("matmul", |x| x.matmul(&x.t())),
    ];
    for (name, op) in ops {
        let first_derivative = move |xs: &[Tensor]| {
            // During the finite-difference probes the input is a plain tensor.
            let x = if xs[0].requires_grad() { xs[0].clone() } else { xs[0].detach().requires_grad_(true) };
            let y = op(&x).mul(&op(&x)).sum_all();
            y.backward_with(None, false, true);
            let g = x.grad().expect("a gradient");
            x.zero_grad();
            g
        };
        check(name, first_derivative, &[away_from_zero(&[2, 3])]);
    }
}
