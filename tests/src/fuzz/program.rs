//! What the fuzzer generates: a straight-line program over a pool of values (the inputs,
//! then one value per step), and its text form, Rust-like pseudo-code with one line per
//! input or step and the shape of every value.
//!
//! This module is plain data; `infer` says what each step produces, `execute` runs it.

use super::infer::Meta;
use ignis::DType;
use std::fmt::{self, Write as _};

/// A value of the pool: inputs are `0..inputs.len()`, step `i` makes value `inputs.len() + i`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValueId(pub usize);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A random program: inputs, steps, and which values it returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The seed it was generated from; also seeds the input values and the loss weights.
    pub seed: u64,
    pub inputs: Vec<InputSpec>,
    pub steps: Vec<Step>,
    pub outputs: Vec<ValueId>,
}

/// How one input tensor is made.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// The logical shape the program sees.
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub layout: Layout,
    pub fill: Fill,
    /// Whether the gradient pass makes it a leaf that requires grad (float inputs only).
    pub requires_grad: bool,
    /// Seeds its values (with the call number), so they survive renumbering by the minimizer.
    pub seed: u64,
}

/// The memory layout of an input: contiguous, or a view of a larger or differently ordered
/// base tensor, so that compiled code meets strides, offsets and broadcast (stride-0) dims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    Contiguous,
    /// `base.permute(perm)` of a contiguous base.
    Permuted(Vec<usize>),
    /// Every `step`-th element of `dim` of a longer base.
    Stepped {
        dim: usize,
        step: usize,
    },
    /// A window of `dim` that starts at `start` in a longer base.
    Offset {
        dim: usize,
        start: usize,
    },
    /// `dims` broadcast from size 1 (stride 0).
    Expanded(Vec<usize>),
}

impl Layout {
    pub fn kind(&self) -> &'static str {
        match self {
            Layout::Contiguous => "contiguous",
            Layout::Permuted(_) => "permuted",
            Layout::Stepped { .. } => "stepped",
            Layout::Offset { .. } => "offset",
            Layout::Expanded(_) => "expanded",
        }
    }
}

/// The values of an input: uniform in `[lo, hi)`, rounded to multiples of `quantum` when
/// it is not 0 (ties for max, min and comparisons), with a fraction of NaN and infinities.
#[derive(Clone, Debug, PartialEq)]
pub struct Fill {
    pub lo: f64,
    pub hi: f64,
    pub quantum: f64,
    pub specials: f64,
}

/// One step: an op applied to earlier values of the pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub op: Op,
    pub args: Vec<ValueId>,
}

/// Every operation the fuzzer draws. Composites that keep a result finite (`log` of
/// `|x| + eps`, division by `|y| + 0.5`) are single ops, so that shrinking cannot separate
/// the guard from what it guards.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Unary(Unary),
    Binary(Binary),
    /// `x op c`.
    Scalar(ScalarOp, f64),
    /// Two operands, broadcast; bool result.
    Compare(Comparison),
    CompareScalar(Comparison, f64),
    Logical(Logical),
    /// `cond.where_(a, b)`.
    Where,
    Cast(DType),
    Reduce {
        kind: Reduction,
        axes: Vec<usize>,
        keepdim: bool,
    },
    Softmax {
        dim: usize,
        log: bool,
    },
    /// Over the trailing `axes` dims; the weight and the bias, when present, are the
    /// second and third (or second) arguments.
    LayerNorm {
        axes: usize,
        weight: bool,
        bias: bool,
    },
    Matmul,
    Reshape(Reshape),
    Permute(Vec<usize>),
    Transpose(usize, usize),
    Expand(Vec<usize>),
    /// Python's `x[start:end:step]` along `dim` (bounds clamp to the dim).
    Slice {
        dim: usize,
        start: usize,
        end: usize,
        step: usize,
    },
    Narrow {
        dim: usize,
        start: usize,
        len: usize,
    },
    Squeeze(usize),
    Unsqueeze(usize),
    Concat(usize),
    Flip(Vec<usize>),
    Contiguous,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Unary {
    Neg,
    Abs,
    Exp,
    Expm1,
    /// `(|x| + 1e-3).log()`.
    LogAbs,
    /// `|x|.log1p()`.
    Log1pAbs,
    /// `(|x| + 1e-3).sqrt()`.
    SqrtAbs,
    /// `(|x| + 1e-3).rsqrt()`.
    RsqrtAbs,
    /// `(|x| + 0.5).recip()`.
    Recip,
    Square,
    Tanh,
    Sigmoid,
    Relu,
    Gelu,
    GeluTanh,
    Silu,
    Softplus,
    Mish,
    Erf,
    Sin,
    Cos,
    Floor,
    Ceil,
    Round,
    Trunc,
    Sign,
    Clamp(f64, f64),
    LeakyRelu(f64),
    Elu(f64),
}

/// The `eps` of the guarded logarithm and square roots.
pub const ABS_EPS: f64 = 1e-3;
/// What the safe denominators add to `|y|`.
pub const DENOMINATOR_SHIFT: f64 = 0.5;
/// The exponents of `pow` are clamped to `±POW_EXPONENT_LIMIT` inside the op.
pub const POW_EXPONENT_LIMIT: f64 = 2.5;
/// The `eps` of layer norm.
pub const LAYER_NORM_EPS: f64 = 1e-5;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    /// `a / (|b| + 0.5)`.
    DivSafe,
    Maximum,
    Minimum,
    /// `(|a| + 0.5).pow(b.clamp(-2.5, 2.5))`.
    PowSafe,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ScalarOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `c - x`.
    Rsub,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Logical {
    Not,
    And,
    Or,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    /// Unbiased (`correction` 1) or biased (0).
    Var {
        correction: usize,
    },
    LogSumExp,
    ArgMax,
    ArgMin,
}

/// Reshapes described by what they do to the dims, so that they stay meaningful when the
/// minimizer shrinks sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reshape {
    /// Dims `start..=end` become one.
    Merge { start: usize, end: usize },
    /// `dim` becomes `[first, size / first]`.
    Split { dim: usize, first: usize },
    /// One dim holding everything.
    Flatten,
}

impl Op {
    /// The name that coverage counts and the minimizer's fault injection matches.
    pub fn name(&self) -> String {
        match self {
            Op::Unary(u) => u.name().to_string(),
            Op::Binary(b) => b.name().to_string(),
            Op::Scalar(s, _) => s.name().to_string(),
            Op::Compare(c) => c.name().to_string(),
            Op::CompareScalar(c, _) => format!("{}_scalar", c.name()),
            Op::Logical(l) => l.name().to_string(),
            Op::Where => "where".into(),
            Op::Cast(d) => format!("to_{}", d.name()),
            Op::Reduce { kind, .. } => kind.name().to_string(),
            Op::Softmax { log: false, .. } => "softmax".into(),
            Op::Softmax { log: true, .. } => "log_softmax".into(),
            Op::LayerNorm { weight, bias, .. } => match (weight, bias) {
                (false, false) => "layer_norm".into(),
                (true, false) => "layer_norm+weight".into(),
                (false, true) => "layer_norm+bias".into(),
                (true, true) => "layer_norm+weight+bias".into(),
            },
            Op::Matmul => "matmul".into(),
            Op::Reshape(_) => "reshape".into(),
            Op::Permute(_) => "permute".into(),
            Op::Transpose(..) => "transpose".into(),
            Op::Expand(_) => "expand".into(),
            Op::Slice { .. } => "slice".into(),
            Op::Narrow { .. } => "narrow".into(),
            Op::Squeeze(_) => "squeeze".into(),
            Op::Unsqueeze(_) => "unsqueeze".into(),
            Op::Concat(_) => "cat".into(),
            Op::Flip(_) => "flip".into(),
            Op::Contiguous => "contiguous".into(),
        }
    }

    /// Whether a result computed from bit-exact arguments is itself bit-exact on any
    /// correct backend: it selects, moves or compares values, or rounds them once in a way
    /// that has only one right answer. Values that are not exact may differ by rounding,
    /// so the fuzzer never feeds them to ops whose result jumps (comparisons, `floor`).
    pub fn keeps_exact(&self) -> bool {
        match self {
            Op::Unary(u) => matches!(
                u,
                Unary::Neg
                    | Unary::Abs
                    | Unary::Relu
                    | Unary::Floor
                    | Unary::Ceil
                    | Unary::Round
                    | Unary::Trunc
                    | Unary::Sign
                    | Unary::Clamp(..)
            ),
            Op::Binary(b) => matches!(b, Binary::Maximum | Binary::Minimum),
            // Scaling by a power of two only moves the exponent.
            Op::Scalar(ScalarOp::Mul | ScalarOp::Div, c) => c.abs().log2().fract() == 0.0,
            Op::Scalar(..) => false,
            Op::Compare(_) | Op::CompareScalar(..) | Op::Logical(_) | Op::Where | Op::Cast(_) => true,
            Op::Reduce { kind, .. } => {
                matches!(kind, Reduction::Max | Reduction::Min | Reduction::ArgMax | Reduction::ArgMin)
            }
            Op::Softmax { .. } | Op::LayerNorm { .. } | Op::Matmul => false,
            Op::Reshape(_)
            | Op::Permute(_)
            | Op::Transpose(..)
            | Op::Expand(_)
            | Op::Slice { .. }
            | Op::Narrow { .. }
            | Op::Squeeze(_)
            | Op::Unsqueeze(_)
            | Op::Concat(_)
            | Op::Flip(_)
            | Op::Contiguous => true,
        }
    }

    /// Whether the result can differ from eager's by rounding even when its arguments
    /// agree exactly (the noise model perturbs the results of these ops).
    pub fn rounds(&self) -> bool {
        !self.keeps_exact()
    }

    /// The result jumps when its argument moves by an ulp: arguments must be exact.
    pub fn needs_exact_args(&self) -> bool {
        match self {
            Op::Unary(u) => matches!(u, Unary::Floor | Unary::Ceil | Unary::Round | Unary::Trunc | Unary::Sign),
            Op::Compare(_) | Op::CompareScalar(..) => true,
            Op::Reduce { kind, .. } => matches!(kind, Reduction::ArgMax | Reduction::ArgMin),
            _ => false,
        }
    }
}

impl Unary {
    pub fn name(&self) -> &'static str {
        match self {
            Unary::Neg => "neg",
            Unary::Abs => "abs",
            Unary::Exp => "exp",
            Unary::Expm1 => "expm1",
            Unary::LogAbs => "log",
            Unary::Log1pAbs => "log1p",
            Unary::SqrtAbs => "sqrt",
            Unary::RsqrtAbs => "rsqrt",
            Unary::Recip => "recip",
            Unary::Square => "square",
            Unary::Tanh => "tanh",
            Unary::Sigmoid => "sigmoid",
            Unary::Relu => "relu",
            Unary::Gelu => "gelu",
            Unary::GeluTanh => "gelu_tanh",
            Unary::Silu => "silu",
            Unary::Softplus => "softplus",
            Unary::Mish => "mish",
            Unary::Erf => "erf",
            Unary::Sin => "sin",
            Unary::Cos => "cos",
            Unary::Floor => "floor",
            Unary::Ceil => "ceil",
            Unary::Round => "round",
            Unary::Trunc => "trunc",
            Unary::Sign => "sign",
            Unary::Clamp(..) => "clamp",
            Unary::LeakyRelu(_) => "leaky_relu",
            Unary::Elu(_) => "elu",
        }
    }

    fn render(&self, x: &str) -> String {
        match self {
            Unary::LogAbs => format!("{x}.abs().add_scalar({ABS_EPS:?}).log()"),
            Unary::Log1pAbs => format!("{x}.abs().log1p()"),
            Unary::SqrtAbs => format!("{x}.abs().add_scalar({ABS_EPS:?}).sqrt()"),
            Unary::RsqrtAbs => format!("{x}.abs().add_scalar({ABS_EPS:?}).rsqrt()"),
            Unary::Recip => format!("{x}.abs().add_scalar({DENOMINATOR_SHIFT:?}).recip()"),
            Unary::Clamp(lo, hi) => format!("{x}.clamp(Some({lo:?}), Some({hi:?}))"),
            Unary::LeakyRelu(slope) => format!("{x}.leaky_relu({slope:?})"),
            Unary::Elu(alpha) => format!("{x}.elu({alpha:?})"),
            _ => format!("{x}.{}()", self.name()),
        }
    }
}

impl Binary {
    pub const ALL: [Binary; 7] =
        [Binary::Add, Binary::Sub, Binary::Mul, Binary::DivSafe, Binary::Maximum, Binary::Minimum, Binary::PowSafe];

    pub fn name(&self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::DivSafe => "div",
            Binary::Maximum => "maximum",
            Binary::Minimum => "minimum",
            Binary::PowSafe => "pow",
        }
    }

    fn render(&self, a: &str, b: &str) -> String {
        match self {
            Binary::DivSafe => format!("{a}.div(&{b}.abs().add_scalar({DENOMINATOR_SHIFT:?}))"),
            Binary::PowSafe => format!(
                "{a}.abs().add_scalar({DENOMINATOR_SHIFT:?}).pow(&{b}.clamp(Some(-{POW_EXPONENT_LIMIT:?}), Some({POW_EXPONENT_LIMIT:?})))"
            ),
            _ => format!("{a}.{}(&{b})", self.name()),
        }
    }
}

impl ScalarOp {
    pub const ALL: [ScalarOp; 5] = [ScalarOp::Add, ScalarOp::Sub, ScalarOp::Mul, ScalarOp::Div, ScalarOp::Rsub];

    pub fn name(&self) -> &'static str {
        match self {
            ScalarOp::Add => "add_scalar",
            ScalarOp::Sub => "sub_scalar",
            ScalarOp::Mul => "mul_scalar",
            ScalarOp::Div => "div_scalar",
            ScalarOp::Rsub => "rsub_scalar",
        }
    }
}

impl Comparison {
    pub const ALL: [Comparison; 6] =
        [Comparison::Eq, Comparison::Ne, Comparison::Lt, Comparison::Le, Comparison::Gt, Comparison::Ge];

    pub fn name(&self) -> &'static str {
        match self {
            Comparison::Eq => "eq",
            Comparison::Ne => "ne",
            Comparison::Lt => "lt",
            Comparison::Le => "le",
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
        }
    }
}

impl Logical {
    pub fn name(&self) -> &'static str {
        match self {
            Logical::Not => "logical_not",
            Logical::And => "logical_and",
            Logical::Or => "logical_or",
        }
    }
}

impl Reduction {
    pub fn name(&self) -> &'static str {
        match self {
            Reduction::Sum => "sum",
            Reduction::Mean => "mean",
            Reduction::Max => "max",
            Reduction::Min => "min",
            Reduction::Prod => "prod",
            Reduction::Var { .. } => "var",
            Reduction::LogSumExp => "logsumexp",
            Reduction::ArgMax => "argmax",
            Reduction::ArgMin => "argmin",
        }
    }
}

/// `[3, 5]` as the pseudo-code spells a dims list.
pub fn dims_list(dims: &[usize]) -> String {
    let items: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// `f32[3, 5]`.
pub fn type_of(dtype: DType, shape: &[usize]) -> String {
    format!("{}{}", dtype.name(), dims_list(shape))
}

/// The pseudo-code of one step's right-hand side, given its argument names and result.
pub fn render_step(step: &Step, out: &Meta) -> String {
    let arg: Vec<String> = step.args.iter().map(|a| a.to_string()).collect();
    let signed = |dims: &[usize]| {
        let items: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        format!("&[{}]", items.join(", "))
    };
    match &step.op {
        Op::Unary(u) => u.render(&arg[0]),
        Op::Binary(b) => b.render(&arg[0], &arg[1]),
        Op::Scalar(s, c) => format!("{}.{}({c:?})", arg[0], s.name()),
        Op::Compare(c) => format!("{}.{}(&{})", arg[0], c.name(), arg[1]),
        Op::CompareScalar(c, v) => format!("{}.{}_scalar({v:?})", arg[0], c.name()),
        Op::Logical(Logical::Not) => format!("{}.logical_not()", arg[0]),
        Op::Logical(l) => format!("{}.{}(&{})", arg[0], l.name(), arg[1]),
        Op::Where => format!("{}.where_(&{}, &{})", arg[0], arg[1], arg[2]),
        Op::Cast(d) => format!("{}.to_dtype(DType::{})", arg[0], format!("{d:?}").to_uppercase()),
        Op::Reduce { kind, axes, keepdim } => match kind {
            Reduction::Sum => format!("{}.sum_dims({}, {keepdim})", arg[0], signed(axes)),
            Reduction::Mean => format!("{}.mean_dims({}, {keepdim})", arg[0], signed(axes)),
            Reduction::Max => format!("{}.max_dims({}, {keepdim})", arg[0], signed(axes)),
            Reduction::Min => format!("{}.min_dims({}, {keepdim})", arg[0], signed(axes)),
            Reduction::Prod => format!("{}.prod_dims({}, {keepdim})", arg[0], signed(axes)),
            Reduction::Var { correction } => format!("{}.var_dims({}, {correction}, {keepdim})", arg[0], signed(axes)),
            Reduction::LogSumExp => format!("{}.logsumexp({}, {keepdim})", arg[0], signed(axes)),
            Reduction::ArgMax => format!("{}.argmax({}, {keepdim})", arg[0], axes[0]),
            Reduction::ArgMin => format!("{}.argmin({}, {keepdim})", arg[0], axes[0]),
        },
        Op::Softmax { dim, log: false } => format!("{}.softmax({dim})", arg[0]),
        Op::Softmax { dim, log: true } => format!("{}.log_softmax({dim})", arg[0]),
        Op::LayerNorm { axes, weight, bias } => {
            let normalized = &out.shape[out.shape.len() - axes..];
            let w = if *weight { format!("Some(&{})", arg[1]) } else { "None".into() };
            let b = if *bias { format!("Some(&{})", arg[arg.len() - 1]) } else { "None".into() };
            format!("{}.layer_norm({}, {w}, {b}, {LAYER_NORM_EPS:?})", arg[0], signed(normalized))
        }
        Op::Matmul => format!("{}.matmul(&{})", arg[0], arg[1]),
        Op::Reshape(_) => format!("{}.reshape({})", arg[0], dims_list(&out.shape)),
        Op::Permute(perm) => format!("{}.permute({})", arg[0], signed(perm)),
        Op::Transpose(a, b) => format!("{}.transpose({a}, {b})", arg[0]),
        Op::Expand(shape) => format!("{}.expand({})", arg[0], dims_list(shape)),
        Op::Slice { dim, start, end, step } => format!("{}.slice({dim}, {start}, {end}, {step})", arg[0]),
        Op::Narrow { dim, start, len } => format!("{}.narrow({dim}, {start}, {len})", arg[0]),
        Op::Squeeze(d) => format!("{}.squeeze({d})", arg[0]),
        Op::Unsqueeze(d) => format!("{}.unsqueeze({d})", arg[0]),
        Op::Concat(d) => {
            let parts: Vec<String> = arg.iter().map(|a| format!("&{a}")).collect();
            format!("Tensor::cat(&[{}], {d})", parts.join(", "))
        }
        Op::Flip(dims) => format!("{}.flip({})", arg[0], signed(dims)),
        Op::Contiguous => format!("{}.contiguous()", arg[0]),
    }
}

impl InputSpec {
    /// `uniform(-2, 2), transposed ...` for the input's line.
    pub fn describe(&self) -> String {
        let mut text = format!("uniform({:?}, {:?})", self.fill.lo, self.fill.hi);
        if self.fill.quantum > 0.0 {
            write!(text, " in steps of {:?}", self.fill.quantum).unwrap();
        }
        if self.fill.specials > 0.0 {
            write!(text, " with {:.0}% NaN/inf", self.fill.specials * 100.0).unwrap();
        }
        match &self.layout {
            Layout::Contiguous => {}
            Layout::Permuted(perm) => write!(text, ", as .permute({}) of a contiguous base", dims_list(perm)).unwrap(),
            Layout::Stepped { dim, step } => write!(text, ", dim {dim} a slice with step {step} of a base").unwrap(),
            Layout::Offset { dim, start } => write!(text, ", dim {dim} a window from {start} of a base").unwrap(),
            Layout::Expanded(dims) => write!(text, ", dims {} expanded from size 1", dims_list(dims)).unwrap(),
        }
        text
    }
}

/// The program as pseudo-code, one line per input and step, with shapes from `metas`.
pub fn render(program: &Program, metas: &[Meta]) -> String {
    let mut text = String::new();
    for (i, input) in program.inputs.iter().enumerate() {
        let grad = if input.requires_grad { " // requires grad" } else { "" };
        writeln!(text, "let v{i}: {} = input({});{grad}", type_of(input.dtype, &input.shape), input.describe())
            .unwrap();
    }
    for (i, step) in program.steps.iter().enumerate() {
        let id = program.inputs.len() + i;
        let meta = &metas[id];
        writeln!(text, "let v{id}: {} = {};", type_of(meta.dtype, &meta.shape), render_step(step, meta)).unwrap();
    }
    let outs: Vec<String> = program.outputs.iter().map(|o| o.to_string()).collect();
    write!(text, "return ({},);", outs.join(", ")).unwrap();
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::infer::{Limits, infer};

    #[test]
    fn programs_print_as_pseudo_code_with_shapes() {
        let program = Program {
            seed: 1,
            inputs: vec![
                InputSpec {
                    shape: vec![3, 5],
                    dtype: DType::F32,
                    layout: Layout::Permuted(vec![1, 0]),
                    fill: Fill { lo: -2.0, hi: 2.0, quantum: 0.0, specials: 0.0 },
                    requires_grad: true,
                    seed: 7,
                },
                InputSpec {
                    shape: vec![5],
                    dtype: DType::F32,
                    layout: Layout::Contiguous,
                    fill: Fill { lo: -1.0, hi: 1.0, quantum: 0.5, specials: 0.0 },
                    requires_grad: false,
                    seed: 8,
                },
            ],
            steps: vec![
                Step { op: Op::Binary(Binary::DivSafe), args: vec![ValueId(0), ValueId(1)] },
                Step { op: Op::LayerNorm { axes: 1, weight: true, bias: false }, args: vec![ValueId(2), ValueId(1)] },
                Step { op: Op::Reshape(Reshape::Flatten), args: vec![ValueId(3)] },
                Step { op: Op::Reduce { kind: Reduction::Max, axes: vec![0], keepdim: true }, args: vec![ValueId(4)] },
            ],
            outputs: vec![ValueId(5), ValueId(3)],
        };
        let metas = infer(&program, &Limits::default()).unwrap();
        assert_eq!(
            render(&program, &metas),
            "\
let v0: f32[3, 5] = input(uniform(-2.0, 2.0), as .permute([1, 0]) of a contiguous base); // requires grad
let v1: f32[5] = input(uniform(-1.0, 1.0) in steps of 0.5);
let v2: f32[3, 5] = v0.div(&v1.abs().add_scalar(0.5));
let v3: f32[3, 5] = v2.layer_norm(&[5], Some(&v1), None, 1e-5);
let v4: f32[15] = v3.reshape([15]);
let v5: f32[1] = v4.max_dims(&[0], true);
return (v5, v3,);"
        );
    }
}
