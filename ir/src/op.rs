//! The one op vocabulary of ignis.
//!
//! Eager kernels, shape inference, the text form, autograd rules, the e-graph language and
//! the kernel lowering all match on these enums; none keeps its own list of op names.

use crate::dtype::DType;
use crate::scalar::Scalar;
use crate::shape::Shape;
use std::fmt;

/// Elementwise ops of one operand. Parameters (a slope, bounds) are attributes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Recip,
    Square,
    Exp,
    Exp2,
    Log,
    Log2,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tan,
    Tanh,
    Erf,
    Sigmoid,
    Relu,
    /// GELU with the exact erf form.
    Gelu,
    /// GELU with the tanh approximation.
    GeluTanh,
    Silu,
    Softplus,
    Mish,
    Floor,
    Ceil,
    Round,
    Trunc,
    LeakyRelu {
        slope: Scalar,
    },
    Elu {
        alpha: Scalar,
    },
    /// `clamp(x, min, max)`; either bound may be absent.
    Clamp {
        min: Option<Scalar>,
        max: Option<Scalar>,
    },
    NanToNum {
        nan: Scalar,
        posinf: Scalar,
        neginf: Scalar,
    },
    LogicalNot,
    IsNan,
    IsInf,
}

impl UnaryOp {
    pub fn name(&self) -> &'static str {
        use UnaryOp::*;
        match self {
            Neg => "neg",
            Abs => "abs",
            Sign => "sign",
            Recip => "recip",
            Square => "square",
            Exp => "exp",
            Exp2 => "exp2",
            Log => "log",
            Log2 => "log2",
            Log1p => "log1p",
            Expm1 => "expm1",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Sin => "sin",
            Cos => "cos",
            Tan => "tan",
            Tanh => "tanh",
            Erf => "erf",
            Sigmoid => "sigmoid",
            Relu => "relu",
            Gelu => "gelu",
            GeluTanh => "gelu_tanh",
            Silu => "silu",
            Softplus => "softplus",
            Mish => "mish",
            Floor => "floor",
            Ceil => "ceil",
            Round => "round",
            Trunc => "trunc",
            LeakyRelu { .. } => "leaky_relu",
            Elu { .. } => "elu",
            Clamp { .. } => "clamp",
            NanToNum { .. } => "nan_to_num",
            LogicalNot => "logical_not",
            IsNan => "isnan",
            IsInf => "isinf",
        }
    }

    /// Ops whose result is bool whatever the input.
    pub fn is_predicate(&self) -> bool {
        matches!(self, UnaryOp::LogicalNot | UnaryOp::IsNan | UnaryOp::IsInf)
    }

    /// Ops that are only defined on floats: integer inputs are computed as f32.
    pub fn needs_float(&self) -> bool {
        use UnaryOp::*;
        !matches!(
            self,
            Neg | Abs | Sign | Square | Relu | Clamp { .. } | LogicalNot | IsNan | IsInf | Floor | Ceil | Round | Trunc
        )
    }

    /// The dtype of the result for an input of dtype `input`.
    pub fn result_dtype(&self, input: DType) -> DType {
        if self.is_predicate() {
            DType::Bool
        } else if self.needs_float() {
            input.to_float()
        } else {
            input
        }
    }
}

/// Elementwise ops of two operands, broadcast against each other.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Python-style remainder: the result has the sign of the divisor.
    Rem,
    Pow,
    Minimum,
    Maximum,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
}

impl BinaryOp {
    pub fn name(&self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Rem => "rem",
            Pow => "pow",
            Minimum => "minimum",
            Maximum => "maximum",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
            LogicalXor => "logical_xor",
        }
    }

    pub fn is_comparison(&self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }

    pub fn is_logical(&self) -> bool {
        matches!(self, BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::LogicalXor)
    }

    /// The dtype both operands are converted to before the op runs, given the promoted
    /// dtype of the operands. Division is true division, so integers divide as floats.
    pub fn compute_dtype(&self, promoted: DType) -> DType {
        match self {
            BinaryOp::Div => promoted.to_float(),
            op if op.is_logical() => DType::Bool,
            _ => promoted,
        }
    }

    /// The dtype of the result given the dtype it computes in.
    pub fn result_dtype(&self, compute: DType) -> DType {
        if self.is_comparison() || self.is_logical() { DType::Bool } else { compute }
    }
}

/// Reductions over a set of axes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Prod,
    Max,
    Min,
    ArgMax,
    ArgMin,
    Any,
    All,
}

impl ReduceOp {
    pub fn name(&self) -> &'static str {
        use ReduceOp::*;
        match self {
            Sum => "sum",
            Mean => "mean",
            Prod => "prod",
            Max => "max",
            Min => "min",
            ArgMax => "argmax",
            ArgMin => "argmin",
            Any => "any",
            All => "all",
        }
    }

    pub fn result_dtype(&self, input: DType) -> DType {
        use ReduceOp::*;
        match self {
            ArgMax | ArgMin => DType::I64,
            Any | All => DType::Bool,
            Mean => input.to_float(),
            // Summing bools or small integers widens to i64, as in PyTorch.
            Sum | Prod if !input.is_float() => DType::I64,
            _ => input,
        }
    }
}

/// How a padded border is filled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum PadMode {
    Constant,
    Reflect,
    Replicate,
}

/// Window parameters of a 2-d convolution or pooling op, as (height, width) pairs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window2d {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

/// Every operation a graph node can perform.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A scalar constant broadcast to the node's shape.
    Constant(Scalar),
    /// `0, 1, 2, ...` along `dim` of the node's shape.
    Iota {
        dim: usize,
    },
    /// Uniform [0,1) numbers from the counter-based generator; inputs: seed and offset (i64).
    RandUniform,
    /// Standard normal numbers; inputs as `RandUniform`.
    RandNormal,

    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(cond, a, b)`.
    Where,
    Cast(DType),

    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        keepdim: bool,
    },
    /// Variance with Bessel's `correction` (1 for the unbiased estimate).
    Var {
        axes: Vec<usize>,
        correction: usize,
        keepdim: bool,
    },
    LogSumExp {
        axes: Vec<usize>,
        keepdim: bool,
    },
    CumSum {
        dim: usize,
    },

    Reshape {
        shape: Shape,
    },
    Permute {
        perm: Vec<usize>,
    },
    Expand {
        shape: Shape,
    },
    Slice {
        dim: usize,
        start: usize,
        len: usize,
        step: usize,
    },
    Pad {
        pads: Vec<(usize, usize)>,
        mode: PadMode,
        value: Scalar,
    },
    Concat {
        dim: usize,
    },
    Flip {
        dims: Vec<usize>,
    },
    Roll {
        shifts: Vec<isize>,
        dims: Vec<usize>,
    },

    /// Matrix product with PyTorch's rules for 1-d operands and batch broadcasting.
    Matmul,

    IndexSelect {
        dim: usize,
    },
    Gather {
        dim: usize,
    },
    /// `scatter(dest, dim, index, src)`: inputs dest, index, src.
    Scatter {
        dim: usize,
    },
    ScatterAdd {
        dim: usize,
    },
    MaskedSelect,
    OneHot {
        classes: usize,
    },
    /// Rows of a table: inputs weight `[count, features]` and integer indices of any shape;
    /// the result is `indices.shape + [features]`.
    Embedding,

    Softmax {
        dim: usize,
    },
    LogSoftmax {
        dim: usize,
    },
    /// Normalizes over the trailing `axes` dims; optional weight and bias inputs follow x.
    LayerNorm {
        axes: usize,
        eps: Scalar,
    },
    RmsNorm {
        axes: usize,
        eps: Scalar,
    },
    /// Convolution over `dims` spatial dims (1 or 2); inputs x, weight and optional bias.
    Conv {
        dims: usize,
        stride: Vec<usize>,
        padding: Vec<usize>,
        dilation: Vec<usize>,
        groups: usize,
    },
    /// im2col: `[N, C, *spatial]` to `[N, C * prod(kernel), L]` sliding-window columns.
    Unfold {
        kernel: Vec<usize>,
        stride: Vec<usize>,
        padding: Vec<usize>,
        dilation: Vec<usize>,
    },
    /// col2im, the adjoint of `Unfold`: sums the columns back into `[N, C, *output]`.
    Fold {
        output: Vec<usize>,
        kernel: Vec<usize>,
        stride: Vec<usize>,
        padding: Vec<usize>,
        dilation: Vec<usize>,
    },
    /// Max pooling; a second output holds the flat per-plane index of each maximum.
    MaxPool2d(Window2d),
    /// Routes gradients to the maxima: inputs grad and indices.
    MaxPool2dBackward {
        input: [usize; 2],
    },
    AvgPool2d(Window2d),
    AvgPool2dBackward {
        window: Window2d,
        input: [usize; 2],
    },
    AdaptiveAvgPool2d {
        output: [usize; 2],
    },
    AdaptiveAvgPool2dBackward {
        input: [usize; 2],
    },
    UpsampleNearest2d {
        output: [usize; 2],
    },
    UpsampleNearest2dBackward {
        input: [usize; 2],
    },
    /// `index_add(dest, dim, index, src)`: adds rows of src into dest at index (VJP of index_select).
    IndexAdd {
        dim: usize,
    },
}

impl Op {
    /// The op's name in the text form and in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Constant(_) => "constant",
            Op::Iota { .. } => "iota",
            Op::RandUniform => "rand_uniform",
            Op::RandNormal => "rand_normal",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Where => "where",
            Op::Cast(_) => "cast",
            Op::Reduce { op, .. } => op.name(),
            Op::Var { .. } => "var",
            Op::LogSumExp { .. } => "logsumexp",
            Op::CumSum { .. } => "cumsum",
            Op::Reshape { .. } => "reshape",
            Op::Permute { .. } => "permute",
            Op::Expand { .. } => "expand",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::Flip { .. } => "flip",
            Op::Roll { .. } => "roll",
            Op::Matmul => "matmul",
            Op::IndexSelect { .. } => "index_select",
            Op::Gather { .. } => "gather",
            Op::Scatter { .. } => "scatter",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::MaskedSelect => "masked_select",
            Op::OneHot { .. } => "one_hot",
            Op::Embedding => "embedding",
            Op::Softmax { .. } => "softmax",
            Op::LogSoftmax { .. } => "log_softmax",
            Op::LayerNorm { .. } => "layer_norm",
            Op::RmsNorm { .. } => "rms_norm",
            Op::Conv { .. } => "conv",
            Op::Unfold { .. } => "unfold",
            Op::Fold { .. } => "fold",
            Op::MaxPool2d(_) => "max_pool2d",
            Op::MaxPool2dBackward { .. } => "max_pool2d_backward",
            Op::AvgPool2d(_) => "avg_pool2d",
            Op::AvgPool2dBackward { .. } => "avg_pool2d_backward",
            Op::AdaptiveAvgPool2d { .. } => "adaptive_avg_pool2d",
            Op::AdaptiveAvgPool2dBackward { .. } => "adaptive_avg_pool2d_backward",
            Op::UpsampleNearest2d { .. } => "upsample_nearest2d",
            Op::UpsampleNearest2dBackward { .. } => "upsample_nearest2d_backward",
            Op::IndexAdd { .. } => "index_add",
        }
    }
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ReduceOp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many inputs an op takes: `min..=max`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Arity {
    pub min: usize,
    pub max: usize,
}

impl Arity {
    const fn exactly(n: usize) -> Arity {
        Arity { min: n, max: n }
    }

    pub fn accepts(self, count: usize) -> bool {
        (self.min..=self.max).contains(&count)
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else if self.max == usize::MAX {
            write!(f, "at least {}", self.min)
        } else {
            write!(f, "{} to {}", self.min, self.max)
        }
    }
}

impl Op {
    /// The number of inputs the op takes.
    pub fn arity(&self) -> Arity {
        match self {
            Op::Constant(_) | Op::Iota { .. } => Arity::exactly(0),
            Op::RandUniform | Op::RandNormal => Arity::exactly(2),
            Op::Unary(_) | Op::Cast(_) => Arity::exactly(1),
            Op::Binary(_) => Arity::exactly(2),
            Op::Where => Arity::exactly(3),
            Op::Reduce { .. } | Op::Var { .. } | Op::LogSumExp { .. } | Op::CumSum { .. } => Arity::exactly(1),
            Op::Reshape { .. }
            | Op::Permute { .. }
            | Op::Expand { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Flip { .. }
            | Op::Roll { .. } => Arity::exactly(1),
            Op::Concat { .. } => Arity { min: 1, max: usize::MAX },
            Op::Matmul => Arity::exactly(2),
            Op::IndexSelect { .. } | Op::Gather { .. } | Op::MaskedSelect | Op::Embedding => Arity::exactly(2),
            Op::Scatter { .. } | Op::ScatterAdd { .. } | Op::IndexAdd { .. } => Arity::exactly(3),
            Op::OneHot { .. } => Arity::exactly(1),
            Op::Softmax { .. } | Op::LogSoftmax { .. } => Arity::exactly(1),
            Op::LayerNorm { .. } => Arity { min: 1, max: 3 },
            Op::RmsNorm { .. } => Arity { min: 1, max: 2 },
            Op::Conv { .. } => Arity { min: 2, max: 3 },
            Op::Unfold { .. } | Op::Fold { .. } => Arity::exactly(1),
            Op::MaxPool2d(_) | Op::AvgPool2d(_) | Op::AdaptiveAvgPool2d { .. } => Arity::exactly(1),
            Op::MaxPool2dBackward { .. } => Arity::exactly(2),
            Op::AvgPool2dBackward { .. }
            | Op::AdaptiveAvgPool2dBackward { .. }
            | Op::UpsampleNearest2d { .. }
            | Op::UpsampleNearest2dBackward { .. } => Arity::exactly(1),
        }
    }

    /// How many results the op computes. A graph node takes one of them (see `graph::Node`).
    pub fn result_count(&self) -> usize {
        match self {
            // The values and the flat index of each maximum.
            Op::MaxPool2d(_) => 2,
            _ => 1,
        }
    }

    /// Ops whose result type cannot be derived from their inputs: the node states it, and
    /// inference only checks that it is legal. Sources make values from nothing (or from a
    /// seed); `masked_select` has a data-dependent length.
    pub fn declares_result_type(&self) -> bool {
        matches!(self, Op::Constant(_) | Op::Iota { .. } | Op::RandUniform | Op::RandNormal | Op::MaskedSelect)
    }
}

impl UnaryOp {
    /// One of each op, with placeholder parameters, so that a name can be looked up
    /// without a second list of names.
    pub const ALL: [UnaryOp; 36] = {
        use UnaryOp::*;
        let zero = Scalar::Float(0.0);
        [
            Neg,
            Abs,
            Sign,
            Recip,
            Square,
            Exp,
            Exp2,
            Log,
            Log2,
            Log1p,
            Expm1,
            Sqrt,
            Rsqrt,
            Sin,
            Cos,
            Tan,
            Tanh,
            Erf,
            Sigmoid,
            Relu,
            Gelu,
            GeluTanh,
            Silu,
            Softplus,
            Mish,
            Floor,
            Ceil,
            Round,
            Trunc,
            LeakyRelu { slope: zero },
            Elu { alpha: zero },
            Clamp { min: None, max: None },
            NanToNum { nan: zero, posinf: zero, neginf: zero },
            LogicalNot,
            IsNan,
            IsInf,
        ]
    };
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 17] = {
        use BinaryOp::*;
        [Add, Sub, Mul, Div, Rem, Pow, Minimum, Maximum, Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor]
    };
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 9] = {
        use ReduceOp::*;
        [Sum, Mean, Prod, Max, Min, ArgMax, ArgMin, Any, All]
    };
}

impl PadMode {
    pub const ALL: [PadMode; 3] = [PadMode::Constant, PadMode::Reflect, PadMode::Replicate];

    pub fn name(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Replicate => "replicate",
        }
    }
}
