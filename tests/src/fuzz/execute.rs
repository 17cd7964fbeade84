//! Running a program on tensors: the input tensors of one call (values and layout), and
//! the steps as `ignis::Tensor` method calls. The same code runs eagerly and inside the
//! compiled function, so the two differ only in how the library executes it.

use super::infer::reshaped;
use super::program::{
    ABS_EPS, Binary, Comparison, DENOMINATOR_SHIFT, InputSpec, LAYER_NORM_EPS, Layout, Logical, Op, POW_EXPONENT_LIMIT,
    Program, Reduction, ScalarOp, Step, Unary,
};
use super::rng::Rng;
use ignis::Tensor;

/// The tensor of `spec` for call number `call` (each call draws new values, same layout).
pub fn input_tensor(spec: &InputSpec, call: u64) -> Tensor {
    let mut base_shape = spec.shape.clone();
    match &spec.layout {
        Layout::Contiguous => {}
        Layout::Permuted(perm) => {
            for (i, &p) in perm.iter().enumerate() {
                base_shape[p] = spec.shape[i];
            }
        }
        Layout::Stepped { dim, step } => base_shape[*dim] *= step,
        Layout::Offset { dim, start } => base_shape[*dim] += start + 1,
        Layout::Expanded(dims) => dims.iter().for_each(|&d| base_shape[d] = 1),
    }
    let mut rng = Rng::derive(spec.seed, call);
    let numel: usize = base_shape.iter().product();
    let fill = &spec.fill;
    let values: Vec<f64> = (0..numel)
        .map(|_| {
            let special = fill.specials > 0.0 && rng.chance(fill.specials);
            let u = rng.uniform(fill.lo, fill.hi);
            if special {
                *rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::NAN])
            } else if fill.quantum > 0.0 {
                (u / fill.quantum).round() * fill.quantum
            } else {
                u
            }
        })
        .collect();
    let base = Tensor::from_vec(values, base_shape).to_dtype(spec.dtype);
    match &spec.layout {
        Layout::Contiguous => base,
        Layout::Permuted(perm) => base.permute(&signed(perm)),
        Layout::Stepped { dim, step } => {
            base.slice(*dim as isize, 0, (spec.shape[*dim] * step) as isize, *step as isize)
        }
        Layout::Offset { dim, start } => base.narrow(*dim as isize, *start, spec.shape[*dim]),
        Layout::Expanded(_) => base.expand(spec.shape.clone()),
    }
}

/// The inputs of call number `call`.
pub fn input_tensors(program: &Program, call: u64) -> Vec<Tensor> {
    program.inputs.iter().map(|spec| input_tensor(spec, call)).collect()
}

fn signed(dims: &[usize]) -> Vec<isize> {
    dims.iter().map(|&d| d as isize).collect()
}

/// Runs the steps on `inputs` and returns the program's outputs. `after_step` sees every
/// step's arguments and result and may replace the result (to perturb or corrupt it).
pub fn run_with(
    program: &Program,
    inputs: &[Tensor],
    mut after_step: impl FnMut(usize, &Step, &[&Tensor], Tensor) -> Tensor,
) -> Vec<Tensor> {
    let mut pool: Vec<Tensor> = inputs.to_vec();
    for (i, step) in program.steps.iter().enumerate() {
        let args: Vec<&Tensor> = step.args.iter().map(|a| &pool[a.0]).collect();
        let result = apply(&step.op, &args);
        let result = after_step(i, step, &args, result);
        pool.push(result);
    }
    program.outputs.iter().map(|o| pool[o.0].clone()).collect()
}

/// Runs the program as written.
pub fn run(program: &Program, inputs: &[Tensor]) -> Vec<Tensor> {
    run_with(program, inputs, |_, _, _, result| result)
}

/// One step as `Tensor` method calls (`program::render_step` prints the same calls).
pub fn apply(op: &Op, args: &[&Tensor]) -> Tensor {
    let x = args[0];
    match op {
        Op::Unary(u) => unary(*u, x),
        Op::Binary(b) => {
            let y = args[1];
            match b {
                Binary::Add => x.add(y),
                Binary::Sub => x.sub(y),
                Binary::Mul => x.mul(y),
                Binary::DivSafe => x.div(&y.abs().add_scalar(DENOMINATOR_SHIFT)),
                Binary::Maximum => x.maximum(y),
                Binary::Minimum => x.minimum(y),
                Binary::PowSafe => x
                    .abs()
                    .add_scalar(DENOMINATOR_SHIFT)
                    .pow(&y.clamp(Some(-POW_EXPONENT_LIMIT), Some(POW_EXPONENT_LIMIT))),
            }
        }
        Op::Scalar(s, c) => match s {
            ScalarOp::Add => x.add_scalar(*c),
            ScalarOp::Sub => x.sub_scalar(*c),
            ScalarOp::Mul => x.mul_scalar(*c),
            ScalarOp::Div => x.div_scalar(*c),
            ScalarOp::Rsub => x.rsub_scalar(*c),
        },
        Op::Compare(c) => {
            let y = args[1];
            match c {
                Comparison::Eq => x.eq(y),
                Comparison::Ne => x.ne(y),
                Comparison::Lt => x.lt(y),
                Comparison::Le => x.le(y),
                Comparison::Gt => x.gt(y),
                Comparison::Ge => x.ge(y),
            }
        }
        Op::CompareScalar(c, v) => match c {
            Comparison::Eq => x.eq_scalar(*v),
            Comparison::Ne => x.ne_scalar(*v),
            Comparison::Lt => x.lt_scalar(*v),
            Comparison::Le => x.le_scalar(*v),
            Comparison::Gt => x.gt_scalar(*v),
            Comparison::Ge => x.ge_scalar(*v),
        },
        Op::Logical(Logical::Not) => x.logical_not(),
        Op::Logical(Logical::And) => x.logical_and(args[1]),
        Op::Logical(Logical::Or) => x.logical_or(args[1]),
        Op::Where => x.where_(args[1], args[2]),
        Op::Cast(dtype) => x.to_dtype(*dtype),
        Op::Reduce { kind, axes, keepdim } => {
            let (axes, keepdim) = (signed(axes), *keepdim);
            match kind {
                Reduction::Sum => x.sum_dims(&axes, keepdim),
                Reduction::Mean => x.mean_dims(&axes, keepdim),
                Reduction::Max => x.max_dims(&axes, keepdim),
                Reduction::Min => x.min_dims(&axes, keepdim),
                Reduction::Prod => x.prod_dims(&axes, keepdim),
                Reduction::Var { correction } => x.var_dims(&axes, *correction, keepdim),
                Reduction::LogSumExp => x.logsumexp(&axes, keepdim),
                Reduction::ArgMax => x.argmax(axes[0], keepdim),
                Reduction::ArgMin => x.argmin(axes[0], keepdim),
            }
        }
        Op::Softmax { dim, log: false } => x.softmax(*dim as isize),
        Op::Softmax { dim, log: true } => x.log_softmax(*dim as isize),
        Op::LayerNorm { axes, weight, bias } => {
            let normalized = &x.shape()[x.rank() - axes..];
            let w = weight.then(|| args[1]);
            let b = bias.then(|| args[args.len() - 1]);
            x.layer_norm(normalized, w, b, LAYER_NORM_EPS)
        }
        Op::Matmul => x.matmul(args[1]),
        Op::Reshape(r) => {
            x.reshape(reshaped(r, x.shape()).unwrap_or_else(|e| panic!("fuzz program: reshape of {x:?}: {e}")))
        }
        Op::Permute(perm) => x.permute(&signed(perm)),
        Op::Transpose(a, b) => x.transpose(*a as isize, *b as isize),
        Op::Expand(target) => x.expand(target.clone()),
        Op::Slice { dim, start, end, step } => x.slice(*dim as isize, *start as isize, *end as isize, *step as isize),
        Op::Narrow { dim, start, len } => x.narrow(*dim as isize, *start, *len),
        Op::Squeeze(d) => x.squeeze(*d as isize),
        Op::Unsqueeze(d) => x.unsqueeze(*d as isize),
        Op::Concat(d) => Tensor::cat(args, *d as isize),
        Op::Flip(dims) => x.flip(&signed(dims)),
        Op::Contiguous => x.contiguous(),
    }
}

fn unary(op: Unary, x: &Tensor) -> Tensor {
    match op {
        Unary::Neg => x.neg(),
        Unary::Abs => x.abs(),
        Unary::Exp => x.exp(),
        Unary::Expm1 => x.expm1(),
        Unary::LogAbs => x.abs().add_scalar(ABS_EPS).log(),
        Unary::Log1pAbs => x.abs().log1p(),
        Unary::SqrtAbs => x.abs().add_scalar(ABS_EPS).sqrt(),
        Unary::RsqrtAbs => x.abs().add_scalar(ABS_EPS).rsqrt(),
        Unary::Recip => x.abs().add_scalar(DENOMINATOR_SHIFT).recip(),
        Unary::Square => x.square(),
        Unary::Tanh => x.tanh(),
        Unary::Sigmoid => x.sigmoid(),
        Unary::Relu => x.relu(),
        Unary::Gelu => x.gelu(),
        Unary::GeluTanh => x.gelu_tanh(),
        Unary::Silu => x.silu(),
        Unary::Softplus => x.softplus(),
        Unary::Mish => x.mish(),
        Unary::Erf => x.erf(),
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        Unary::Round => x.round(),
        Unary::Trunc => x.trunc(),
        Unary::Sign => x.sign(),
        Unary::Clamp(lo, hi) => x.clamp(Some(lo), Some(hi)),
        Unary::LeakyRelu(slope) => x.leaky_relu(slope),
        Unary::Elu(alpha) => x.elu(alpha),
    }
}
