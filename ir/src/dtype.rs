//! Element types and the promotion rules that decide the dtype of a mixed-type op.

use std::fmt;
use std::str::FromStr;

/// The element type of a tensor or an IR value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    U8,
    Bool,
}

/// What kind of number a dtype holds; promotion moves up this order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DTypeKind {
    Bool,
    Int,
    Float,
}

impl DType {
    pub const ALL: [DType; 8] =
        [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64, DType::I32, DType::U8, DType::Bool];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::U8 | DType::Bool => 1,
        }
    }

    pub fn kind(self) -> DTypeKind {
        match self {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => DTypeKind::Float,
            DType::I64 | DType::I32 | DType::U8 => DTypeKind::Int,
            DType::Bool => DTypeKind::Bool,
        }
    }

    pub fn is_float(self) -> bool {
        self.kind() == DTypeKind::Float
    }

    pub fn is_int(self) -> bool {
        self.kind() == DTypeKind::Int
    }

    /// Half-width floats are stored in 16 bits and computed in f32.
    pub fn is_half(self) -> bool {
        matches!(self, DType::F16 | DType::BF16)
    }

    /// The name used in the IR text form and in messages (`f32`, `i64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::U8 => "u8",
            DType::Bool => "bool",
        }
    }

    /// The dtype of `a op b` for two tensors, as PyTorch's `result_type` decides it:
    /// a higher kind wins (bool < int < float); within a kind the wider type wins, and
    /// f16 with bf16 gives f32.
    pub fn promote(a: DType, b: DType) -> DType {
        if a == b {
            return a;
        }
        match a.kind().cmp(&b.kind()) {
            std::cmp::Ordering::Greater => a,
            std::cmp::Ordering::Less => b,
            std::cmp::Ordering::Equal => match a.kind() {
                DTypeKind::Float => {
                    if a.is_half() && b.is_half() {
                        DType::F32
                    } else if a.size() >= b.size() {
                        a
                    } else {
                        b
                    }
                }
                DTypeKind::Int => {
                    if a.size() >= b.size() {
                        a
                    } else {
                        b
                    }
                }
                DTypeKind::Bool => DType::Bool,
            },
        }
    }

    /// The dtype of `tensor op scalar`: a scalar never widens a tensor of the same kind
    /// (`f16_tensor * 2.0` stays f16), but a float scalar makes an integer tensor float.
    pub fn promote_with_scalar(tensor: DType, scalar_kind: DTypeKind) -> DType {
        if scalar_kind <= tensor.kind() {
            tensor
        } else {
            match scalar_kind {
                DTypeKind::Float => DType::F32,
                DTypeKind::Int => DType::I64,
                DTypeKind::Bool => DType::Bool,
            }
        }
    }

    /// The dtype float-only math (exp, sqrt, mean, ...) computes in for inputs of this dtype:
    /// floats keep their type, integers and bools become f32, as in PyTorch.
    pub fn to_float(self) -> DType {
        if self.is_float() { self } else { DType::F32 }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DType::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| format!("unknown dtype `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(DType::promote(DType::F32, DType::F64), DType::F64);
        assert_eq!(DType::promote(DType::F16, DType::BF16), DType::F32);
        assert_eq!(DType::promote(DType::I64, DType::F16), DType::F16);
        assert_eq!(DType::promote(DType::U8, DType::I32), DType::I32);
        assert_eq!(DType::promote(DType::Bool, DType::U8), DType::U8);
        assert_eq!(DType::promote_with_scalar(DType::F16, DTypeKind::Float), DType::F16);
        assert_eq!(DType::promote_with_scalar(DType::I32, DTypeKind::Float), DType::F32);
        assert_eq!(DType::promote_with_scalar(DType::I32, DTypeKind::Int), DType::I32);
    }

    #[test]
    fn names_parse_back() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
        }
    }
}
