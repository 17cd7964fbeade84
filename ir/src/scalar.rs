//! A host scalar: an op attribute or a constant, hashable so graphs can be hashed.

use crate::dtype::{DType, DTypeKind};
use std::fmt;
use std::hash::{Hash, Hasher};

/// A number carried by an op (`x * 0.5`, `clamp(min=0)`, `full(3)`).
#[derive(Copy, Clone, Debug)]
pub enum Scalar {
    Float(f64),
    Int(i64),
    Bool(bool),
}

impl Scalar {
    pub fn kind(self) -> DTypeKind {
        match self {
            Scalar::Float(_) => DTypeKind::Float,
            Scalar::Int(_) => DTypeKind::Int,
            Scalar::Bool(_) => DTypeKind::Bool,
        }
    }

    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Float(v) => v,
            Scalar::Int(v) => v as f64,
            Scalar::Bool(v) => v as u8 as f64,
        }
    }

    pub fn to_i64(self) -> i64 {
        match self {
            Scalar::Float(v) => v as i64,
            Scalar::Int(v) => v,
            Scalar::Bool(v) => v as i64,
        }
    }

    pub fn to_bool(self) -> bool {
        match self {
            Scalar::Float(v) => v != 0.0,
            Scalar::Int(v) => v != 0,
            Scalar::Bool(v) => v,
        }
    }

    /// The default dtype of a tensor made from this scalar alone.
    pub fn default_dtype(self) -> DType {
        match self {
            Scalar::Float(_) => DType::F32,
            Scalar::Int(_) => DType::I64,
            Scalar::Bool(_) => DType::Bool,
        }
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Scalar::Float(a), Scalar::Float(b)) => a.to_bits() == b.to_bits(),
            (Scalar::Int(a), Scalar::Int(b)) => a == b,
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Scalar {}

impl Hash for Scalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Scalar::Float(v) => v.to_bits().hash(state),
            Scalar::Int(v) => v.hash(state),
            Scalar::Bool(v) => v.hash(state),
        }
    }
}

impl fmt::Display for Scalar {
    /// Floats always print with a decimal point or exponent so they parse back as floats.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Scalar::Float(v) if v.is_nan() => f.write_str("nan"),
            Scalar::Float(v) if v.is_infinite() => f.write_str(if *v > 0.0 { "inf" } else { "-inf" }),
            Scalar::Float(v) => write!(f, "{v:?}"),
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::Bool(v) => write!(f, "{v}"),
        }
    }
}

impl std::str::FromStr for Scalar {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "true" => return Ok(Scalar::Bool(true)),
            "false" => return Ok(Scalar::Bool(false)),
            "nan" => return Ok(Scalar::Float(f64::NAN)),
            "inf" => return Ok(Scalar::Float(f64::INFINITY)),
            "-inf" => return Ok(Scalar::Float(f64::NEG_INFINITY)),
            _ => {}
        }
        if s.contains(['.', 'e', 'E']) {
            s.parse::<f64>().map(Scalar::Float).map_err(|e| format!("bad float `{s}`: {e}"))
        } else {
            s.parse::<i64>().map(Scalar::Int).map_err(|e| format!("bad integer `{s}`: {e}"))
        }
    }
}

impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::Float(v)
    }
}
impl From<f32> for Scalar {
    fn from(v: f32) -> Self {
        Scalar::Float(v as f64)
    }
}
impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::Int(v)
    }
}
impl From<i32> for Scalar {
    fn from(v: i32) -> Self {
        Scalar::Int(v as i64)
    }
}
impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        for s in [
            Scalar::Float(0.5),
            Scalar::Float(1.0),
            Scalar::Float(-1e-30),
            Scalar::Int(-3),
            Scalar::Bool(true),
            Scalar::Float(f64::NEG_INFINITY),
        ] {
            assert_eq!(s.to_string().parse::<Scalar>().unwrap(), s);
        }
    }
}
