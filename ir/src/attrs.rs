//! An op's attributes as `key=value` pairs: the one mapping between `Op` and the text form
//! that both the printer and the parser use.
//!
//! Values are scalars (`0.01`, `3`, `true`, `-inf`), words (`f16`, `reflect`, `s0`) and
//! bracketed lists of values (`[1,2]`, `[[0,0],[1,2]]`). Every attribute is printed, so that
//! the text states the op completely; only `clamp`'s bounds are optional.

use crate::dtype::DType;
use crate::op::{BinaryOp, Op, PadMode, ReduceOp, UnaryOp, Window2d};
use crate::scalar::Scalar;
use crate::shape::{Dim, Shape, Symbol};
use std::fmt;

/// An attribute value as the text form spells it.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Scalar(Scalar),
    Word(String),
    List(Vec<Attr>),
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Attr::Scalar(s) => write!(f, "{s}"),
            Attr::Word(w) => f.write_str(w),
            Attr::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

fn uint(n: usize) -> Attr {
    Attr::Scalar(Scalar::Int(n as i64))
}

fn uints(list: &[usize]) -> Attr {
    Attr::List(list.iter().map(|&n| uint(n)).collect())
}

fn shape(dims: &Shape) -> Attr {
    Attr::List(
        dims.iter()
            .map(|d| match d {
                Dim::Const(n) => uint(*n),
                Dim::Sym(s) => Attr::Word(s.to_string()),
            })
            .collect(),
    )
}

fn flag(b: bool) -> Attr {
    Attr::Scalar(Scalar::Bool(b))
}

fn window(w: &Window2d) -> Vec<(&'static str, Attr)> {
    vec![
        ("kernel", uints(&w.kernel)),
        ("stride", uints(&w.stride)),
        ("padding", uints(&w.padding)),
        ("dilation", uints(&w.dilation)),
    ]
}

/// The attributes of `op`, in the order they are printed. A constant's value is not among
/// them: it is printed in place of operands (`constant 0.5`).
pub fn attributes(op: &Op) -> Vec<(&'static str, Attr)> {
    match op {
        Op::Constant(_) | Op::RandUniform | Op::RandNormal | Op::Binary(_) | Op::Where | Op::Matmul => vec![],
        Op::MaskedSelect | Op::Embedding => vec![],
        Op::Iota { dim } | Op::CumSum { dim } | Op::Concat { dim } | Op::Softmax { dim } | Op::LogSoftmax { dim } => {
            vec![("dim", uint(*dim))]
        }
        Op::IndexSelect { dim }
        | Op::Gather { dim }
        | Op::Scatter { dim }
        | Op::ScatterAdd { dim }
        | Op::IndexAdd { dim } => vec![("dim", uint(*dim))],
        Op::Unary(u) => match u {
            UnaryOp::LeakyRelu { slope } => vec![("slope", Attr::Scalar(*slope))],
            UnaryOp::Elu { alpha } => vec![("alpha", Attr::Scalar(*alpha))],
            UnaryOp::Clamp { min, max } => {
                let mut out = vec![];
                if let Some(min) = min {
                    out.push(("min", Attr::Scalar(*min)));
                }
                if let Some(max) = max {
                    out.push(("max", Attr::Scalar(*max)));
                }
                out
            }
            UnaryOp::NanToNum { nan, posinf, neginf } => {
                vec![("nan", Attr::Scalar(*nan)), ("posinf", Attr::Scalar(*posinf)), ("neginf", Attr::Scalar(*neginf))]
            }
            _ => vec![],
        },
        Op::Cast(dtype) => vec![("to", Attr::Word(dtype.name().to_string()))],
        Op::Reduce { axes, keepdim, .. } | Op::LogSumExp { axes, keepdim } => {
            vec![("axes", uints(axes)), ("keepdim", flag(*keepdim))]
        }
        Op::Var { axes, correction, keepdim } => {
            vec![("axes", uints(axes)), ("correction", uint(*correction)), ("keepdim", flag(*keepdim))]
        }
        Op::Reshape { shape: s } | Op::Expand { shape: s } => vec![("shape", shape(s))],
        Op::Permute { perm } => vec![("perm", uints(perm))],
        Op::Slice { dim, start, len, step } => {
            vec![("dim", uint(*dim)), ("start", uint(*start)), ("len", uint(*len)), ("step", uint(*step))]
        }
        Op::Pad { pads, mode, value } => vec![
            ("pads", Attr::List(pads.iter().map(|&(a, b)| uints(&[a, b])).collect())),
            ("mode", Attr::Word(mode.name().to_string())),
            ("value", Attr::Scalar(*value)),
        ],
        Op::Flip { dims } => vec![("dims", uints(dims))],
        Op::Roll { shifts, dims } => vec![
            ("shifts", Attr::List(shifts.iter().map(|&s| Attr::Scalar(Scalar::Int(s as i64))).collect())),
            ("dims", uints(dims)),
        ],
        Op::OneHot { classes } => vec![("classes", uint(*classes))],
        Op::LayerNorm { axes, eps } | Op::RmsNorm { axes, eps } => {
            vec![("axes", uint(*axes)), ("eps", Attr::Scalar(*eps))]
        }
        Op::Conv { dims, stride, padding, dilation, groups } => vec![
            ("dims", uint(*dims)),
            ("stride", uints(stride)),
            ("padding", uints(padding)),
            ("dilation", uints(dilation)),
            ("groups", uint(*groups)),
        ],
        Op::Unfold { kernel, stride, padding, dilation } => vec![
            ("kernel", uints(kernel)),
            ("stride", uints(stride)),
            ("padding", uints(padding)),
            ("dilation", uints(dilation)),
        ],
        Op::Fold { output, kernel, stride, padding, dilation } => vec![
            ("output", uints(output)),
            ("kernel", uints(kernel)),
            ("stride", uints(stride)),
            ("padding", uints(padding)),
            ("dilation", uints(dilation)),
        ],
        Op::MaxPool2d(w) | Op::AvgPool2d(w) => window(w),
        Op::AvgPool2dBackward { window: w, input } => {
            let mut out = window(w);
            out.push(("input", uints(input)));
            out
        }
        Op::MaxPool2dBackward { input }
        | Op::AdaptiveAvgPool2dBackward { input }
        | Op::UpsampleNearest2dBackward { input } => vec![("input", uints(input))],
        Op::AdaptiveAvgPool2d { output } | Op::UpsampleNearest2d { output } => vec![("output", uints(output))],
    }
}

/// A problem with one attribute (or a missing one), for the parser to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrError {
    /// The attribute at fault; `None` when the op name itself is unknown.
    pub key: Option<String>,
    pub message: String,
}

/// The attributes of one node as parsed, taken out one by one as the op is rebuilt.
#[derive(Debug, Default)]
pub struct AttrSet {
    entries: Vec<(String, Attr)>,
}

impl AttrSet {
    pub fn new(entries: Vec<(String, Attr)>) -> AttrSet {
        AttrSet { entries }
    }

    /// The keys not taken yet: each one is an attribute the op does not have.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    fn error(key: &str, message: String) -> AttrError {
        AttrError { key: Some(key.to_string()), message }
    }

    fn take_optional(&mut self, key: &str) -> Option<Attr> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    fn take(&mut self, key: &'static str) -> Result<Attr, AttrError> {
        self.take_optional(key).ok_or_else(|| AttrError { key: None, message: format!("missing attribute `{key}`") })
    }

    fn scalar(&mut self, key: &'static str) -> Result<Scalar, AttrError> {
        match self.take(key)? {
            Attr::Scalar(s) => Ok(s),
            other => Err(Self::error(key, format!("`{key}` must be a number, got `{other}`"))),
        }
    }

    fn optional_scalar(&mut self, key: &'static str) -> Result<Option<Scalar>, AttrError> {
        match self.take_optional(key) {
            None => Ok(None),
            Some(Attr::Scalar(s)) => Ok(Some(s)),
            Some(other) => Err(Self::error(key, format!("`{key}` must be a number, got `{other}`"))),
        }
    }

    fn usize(&mut self, key: &'static str) -> Result<usize, AttrError> {
        let value = self.take(key)?;
        as_usize(&value)
            .ok_or_else(|| Self::error(key, format!("`{key}` must be a count (0, 1, 2, ...), got `{value}`")))
    }

    fn bool(&mut self, key: &'static str) -> Result<bool, AttrError> {
        match self.take(key)? {
            Attr::Scalar(Scalar::Bool(b)) => Ok(b),
            other => Err(Self::error(key, format!("`{key}` must be true or false, got `{other}`"))),
        }
    }

    fn word(&mut self, key: &'static str) -> Result<String, AttrError> {
        match self.take(key)? {
            Attr::Word(w) => Ok(w),
            other => Err(Self::error(key, format!("`{key}` must be a name, got `{other}`"))),
        }
    }

    fn list(&mut self, key: &'static str) -> Result<Vec<Attr>, AttrError> {
        match self.take(key)? {
            Attr::List(items) => Ok(items),
            other => Err(Self::error(key, format!("`{key}` must be a list `[...]`, got `{other}`"))),
        }
    }

    fn usizes(&mut self, key: &'static str) -> Result<Vec<usize>, AttrError> {
        let items = self.list(key)?;
        items
            .iter()
            .map(|item| {
                as_usize(item).ok_or_else(|| Self::error(key, format!("`{key}` must list counts, got `{item}`")))
            })
            .collect()
    }

    fn pair(&mut self, key: &'static str) -> Result<[usize; 2], AttrError> {
        let items = self.usizes(key)?;
        <[usize; 2]>::try_from(items.as_slice()).map_err(|_| {
            Self::error(key, format!("`{key}` must have two entries (height, width), got {}", items.len()))
        })
    }

    fn shape(&mut self, key: &'static str) -> Result<Shape, AttrError> {
        let items = self.list(key)?;
        items
            .iter()
            .map(|item| {
                match item {
                    Attr::Word(w) => parse_symbol(w).map(Dim::Sym),
                    other => as_usize(other).map(Dim::Const),
                }
                .ok_or_else(|| Self::error(key, format!("a dim is a count or a symbol like `s0`, got `{item}`")))
            })
            .collect()
    }

    fn window(&mut self) -> Result<Window2d, AttrError> {
        Ok(Window2d {
            kernel: self.pair("kernel")?,
            stride: self.pair("stride")?,
            padding: self.pair("padding")?,
            dilation: self.pair("dilation")?,
        })
    }
}

fn as_usize(attr: &Attr) -> Option<usize> {
    match attr {
        Attr::Scalar(Scalar::Int(n)) => usize::try_from(*n).ok(),
        _ => None,
    }
}

/// `s0`, `s12`: a symbolic dim.
pub fn parse_symbol(word: &str) -> Option<Symbol> {
    let digits = word.strip_prefix('s')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Symbol)
}

/// Rebuilds the op called `name` from its attributes. A constant's value comes in `value`.
pub fn build_op(name: &str, value: Option<Scalar>, attrs: &mut AttrSet) -> Result<Op, AttrError> {
    if let Some(u) = UnaryOp::ALL.iter().find(|u| u.name() == name) {
        return Ok(Op::Unary(match u {
            UnaryOp::LeakyRelu { .. } => UnaryOp::LeakyRelu { slope: attrs.scalar("slope")? },
            UnaryOp::Elu { .. } => UnaryOp::Elu { alpha: attrs.scalar("alpha")? },
            UnaryOp::Clamp { .. } => {
                UnaryOp::Clamp { min: attrs.optional_scalar("min")?, max: attrs.optional_scalar("max")? }
            }
            UnaryOp::NanToNum { .. } => UnaryOp::NanToNum {
                nan: attrs.scalar("nan")?,
                posinf: attrs.scalar("posinf")?,
                neginf: attrs.scalar("neginf")?,
            },
            plain => *plain,
        }));
    }
    if let Some(b) = BinaryOp::ALL.iter().find(|b| b.name() == name) {
        return Ok(Op::Binary(*b));
    }
    if let Some(r) = ReduceOp::ALL.iter().find(|r| r.name() == name) {
        return Ok(Op::Reduce { op: *r, axes: attrs.usizes("axes")?, keepdim: attrs.bool("keepdim")? });
    }
    let op = match name {
        "constant" => Op::Constant(value.ok_or_else(|| AttrError {
            key: None,
            message: "constant needs its value, as in `constant 0.5`".into(),
        })?),
        "iota" => Op::Iota { dim: attrs.usize("dim")? },
        "rand_uniform" => Op::RandUniform,
        "rand_normal" => Op::RandNormal,
        "where" => Op::Where,
        "cast" => {
            let word = attrs.word("to")?;
            Op::Cast(word.parse::<DType>().map_err(|e| AttrSet::error("to", e))?)
        }
        "var" => Op::Var {
            axes: attrs.usizes("axes")?,
            correction: attrs.usize("correction")?,
            keepdim: attrs.bool("keepdim")?,
        },
        "logsumexp" => Op::LogSumExp { axes: attrs.usizes("axes")?, keepdim: attrs.bool("keepdim")? },
        "cumsum" => Op::CumSum { dim: attrs.usize("dim")? },
        "reshape" => Op::Reshape { shape: attrs.shape("shape")? },
        "permute" => Op::Permute { perm: attrs.usizes("perm")? },
        "expand" => Op::Expand { shape: attrs.shape("shape")? },
        "slice" => Op::Slice {
            dim: attrs.usize("dim")?,
            start: attrs.usize("start")?,
            len: attrs.usize("len")?,
            step: attrs.usize("step")?,
        },
        "pad" => {
            let pads = attrs
                .list("pads")?
                .iter()
                .map(|item| match item {
                    Attr::List(pair) => match pair.as_slice() {
                        [a, b] => Some((as_usize(a)?, as_usize(b)?)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| AttrSet::error("pads", "`pads` lists [before,after] pairs, one per dim".into()))?;
            let word = attrs.word("mode")?;
            let mode = PadMode::ALL.into_iter().find(|m| m.name() == word).ok_or_else(|| {
                AttrSet::error("mode", format!("unknown pad mode `{word}` (constant, reflect, replicate)"))
            })?;
            Op::Pad { pads, mode, value: attrs.scalar("value")? }
        }
        "concat" => Op::Concat { dim: attrs.usize("dim")? },
        "flip" => Op::Flip { dims: attrs.usizes("dims")? },
        "roll" => {
            let shifts = attrs
                .list("shifts")?
                .iter()
                .map(|item| match item {
                    Attr::Scalar(Scalar::Int(n)) => isize::try_from(*n).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| AttrSet::error("shifts", "`shifts` lists integers".into()))?;
            Op::Roll { shifts, dims: attrs.usizes("dims")? }
        }
        "matmul" => Op::Matmul,
        "index_select" => Op::IndexSelect { dim: attrs.usize("dim")? },
        "gather" => Op::Gather { dim: attrs.usize("dim")? },
        "scatter" => Op::Scatter { dim: attrs.usize("dim")? },
        "scatter_add" => Op::ScatterAdd { dim: attrs.usize("dim")? },
        "index_add" => Op::IndexAdd { dim: attrs.usize("dim")? },
        "masked_select" => Op::MaskedSelect,
        "one_hot" => Op::OneHot { classes: attrs.usize("classes")? },
        "embedding" => Op::Embedding,
        "softmax" => Op::Softmax { dim: attrs.usize("dim")? },
        "log_softmax" => Op::LogSoftmax { dim: attrs.usize("dim")? },
        "layer_norm" => Op::LayerNorm { axes: attrs.usize("axes")?, eps: attrs.scalar("eps")? },
        "rms_norm" => Op::RmsNorm { axes: attrs.usize("axes")?, eps: attrs.scalar("eps")? },
        "conv" => Op::Conv {
            dims: attrs.usize("dims")?,
            stride: attrs.usizes("stride")?,
            padding: attrs.usizes("padding")?,
            dilation: attrs.usizes("dilation")?,
            groups: attrs.usize("groups")?,
        },
        "unfold" => Op::Unfold {
            kernel: attrs.usizes("kernel")?,
            stride: attrs.usizes("stride")?,
            padding: attrs.usizes("padding")?,
            dilation: attrs.usizes("dilation")?,
        },
        "fold" => Op::Fold {
            output: attrs.usizes("output")?,
            kernel: attrs.usizes("kernel")?,
            stride: attrs.usizes("stride")?,
            padding: attrs.usizes("padding")?,
            dilation: attrs.usizes("dilation")?,
        },
        "max_pool2d" => Op::MaxPool2d(attrs.window()?),
        "avg_pool2d" => Op::AvgPool2d(attrs.window()?),
        "max_pool2d_backward" => Op::MaxPool2dBackward { input: attrs.pair("input")? },
        "avg_pool2d_backward" => Op::AvgPool2dBackward { window: attrs.window()?, input: attrs.pair("input")? },
        "adaptive_avg_pool2d" => Op::AdaptiveAvgPool2d { output: attrs.pair("output")? },
        "adaptive_avg_pool2d_backward" => Op::AdaptiveAvgPool2dBackward { input: attrs.pair("input")? },
        "upsample_nearest2d" => Op::UpsampleNearest2d { output: attrs.pair("output")? },
        "upsample_nearest2d_backward" => Op::UpsampleNearest2dBackward { input: attrs.pair("input")? },
        _ => return Err(AttrError { key: None, message: format!("unknown op `{name}`") }),
    };
    Ok(op)
}
