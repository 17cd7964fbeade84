//! Exact arithmetic on splat constants, for constant folding in the analysis.
//!
//! A folded value must be the very number the runtime would compute, so each op is folded
//! only where that is certain: in the dtype's own arithmetic (f64 in f64, f32 in f32; f16 and
//! bf16 compute in f32 and are kept only when the f32 result is exactly representable, so the
//! final rounding cannot change it), integers wrapping at their width, bools as bools. Casts
//! follow the runtime's conversions (`as` semantics: saturating float to int, wrapping int to
//! int). Transcendental functions (exp, tanh, ...) are never folded: their runtime
//! implementations are approximations that no host function reproduces bit for bit.
//!
//! A splat value is kept as the number the dtype holds: `Scalar::Float` for floats,
//! `Scalar::Int` (within range) for integers, `Scalar::Bool` for bools.

use ignis_ir::{BinaryOp, DType, Op, Scalar, UnaryOp, ValueType};

/// The value of `op` on operands of these types and splat values (`None` where unknown),
/// when it is a splat the runtime computes exactly; `ty` is the result's type.
pub fn fold(op: &Op, inputs: &[(&ValueType, Option<Scalar>)], ty: &ValueType) -> Option<Scalar> {
    let value = |i: usize| inputs.get(i).and_then(|(_, v)| *v);
    let dtype = |i: usize| inputs[i].0.dtype;
    match op {
        Op::Constant(value) => filled(*value, ty.dtype),
        // A view of a splat is the same splat.
        Op::Reshape { .. } | Op::Permute { .. } | Op::Expand { .. } | Op::Slice { .. } => value(0),
        Op::Cast(to) => cast(value(0)?, dtype(0), *to),
        Op::Unary(u) => unary(*u, value(0)?, dtype(0), ty.dtype),
        Op::Binary(b) => {
            let compute = b.compute_dtype(DType::promote(dtype(0), dtype(1)));
            let a = cast(value(0)?, dtype(0), compute)?;
            let c = cast(value(1)?, dtype(1), compute)?;
            binary(*b, a, c, compute)
        }
        Op::Where => {
            let chosen = if value(0)?.to_bool() { 1 } else { 2 };
            cast(value(chosen)?, dtype(chosen), ty.dtype)
        }
        _ => None,
    }
}

/// What a tensor of `dtype` filled with `value` holds (the runtime's `fill`).
pub fn filled(value: Scalar, dtype: DType) -> Option<Scalar> {
    match value {
        // Integers go through f64 to reach a float, as the runtime's fill does.
        Scalar::Int(i) if dtype.is_float() => float(i as f64, dtype),
        Scalar::Int(i) => Some(from_i64(i, dtype)),
        Scalar::Bool(b) => filled(Scalar::Int(b as i64), dtype),
        Scalar::Float(v) => from_f64(v, dtype),
    }
}

/// `value`, held by `from`, converted to `to` as the runtime's cast converts it.
pub fn cast(value: Scalar, from: DType, to: DType) -> Option<Scalar> {
    if from == to {
        return Some(value);
    }
    let narrow_floats = to.is_float() && from != DType::F64 && to != DType::F64;
    if narrow_floats {
        // Through f32: integers convert to f32 directly, in one rounding.
        let single = match value {
            Scalar::Float(v) => v as f32,
            Scalar::Int(i) => i as f32,
            Scalar::Bool(b) => b as u8 as f32,
        };
        return float(single as f64, to);
    }
    if to.is_float() || from.is_float() {
        return from_f64(value.to_f64(), to);
    }
    Some(from_i64(value.to_i64(), to))
}

/// A float value of `dtype`, if the dtype holds it exactly (f16 and bf16 may not).
fn float(v: f64, dtype: DType) -> Option<Scalar> {
    match dtype {
        DType::F64 => Some(Scalar::Float(v)),
        DType::F32 => Some(Scalar::Float(v as f32 as f64)),
        DType::F16 | DType::BF16 => half_exact(v, dtype).then_some(Scalar::Float(v)),
        _ => None,
    }
}

/// An f64 converted to `dtype` (`as` semantics; bools are `v != 0`).
fn from_f64(v: f64, dtype: DType) -> Option<Scalar> {
    Some(match dtype {
        DType::F64 | DType::F32 | DType::F16 | DType::BF16 => return float(v, dtype),
        DType::I64 => Scalar::Int(v as i64),
        DType::I32 => Scalar::Int(v as i32 as i64),
        DType::U8 => Scalar::Int(v as u8 as i64),
        DType::Bool => Scalar::Bool(v != 0.0),
    })
}

/// An integer converted to a non-float `dtype`, wrapping at its width.
fn from_i64(i: i64, dtype: DType) -> Scalar {
    match dtype {
        DType::I32 => Scalar::Int(i as i32 as i64),
        DType::U8 => Scalar::Int(i as u8 as i64),
        DType::Bool => Scalar::Bool(i != 0),
        _ => Scalar::Int(i),
    }
}

/// Whether a half-width float holds `v` exactly: it has at most as many significant bits as
/// the format and lies within its range (subnormals included).
fn half_exact(v: f64, dtype: DType) -> bool {
    let (precision, min_exponent, max_exponent) = match dtype {
        DType::F16 => (11, -14, 15),
        DType::BF16 => (8, -126, 127),
        _ => return false,
    };
    if v == 0.0 || !v.is_finite() {
        return true;
    }
    let bits = v.abs().to_bits();
    let biased = (bits >> 52) as i32;
    if biased == 0 {
        // An f64 subnormal is far below either format's range.
        return false;
    }
    let exponent = biased - 1023;
    if exponent > max_exponent {
        return false;
    }
    // Fraction bits the format keeps at this exponent; fewer below its normal range.
    let kept = precision - 1 - (min_exponent - exponent).max(0);
    if kept < 0 {
        return false;
    }
    let fraction = bits & ((1u64 << 52) - 1);
    fraction.trailing_zeros() as i32 >= 52 - kept
}

/// A unary op on a splat; only ops that are exact in the dtype's arithmetic.
fn unary(op: UnaryOp, x: Scalar, input: DType, output: DType) -> Option<Scalar> {
    use UnaryOp::*;
    if input == DType::Bool {
        return match (op, x) {
            (LogicalNot, Scalar::Bool(b)) => Some(Scalar::Bool(!b)),
            _ => None,
        };
    }
    if !input.is_float() || output != input {
        return None;
    }
    let Scalar::Float(v) = x else { return None };
    macro_rules! apply {
        ($t:ty) => {{
            let v = v as $t;
            let r: $t = match op {
                Neg => -v,
                Abs => v.abs(),
                Square => v * v,
                Sqrt => v.sqrt(),
                Rsqrt => 1.0 / v.sqrt(),
                Recip => 1.0 / v,
                Relu => {
                    if v < 0.0 {
                        0.0
                    } else {
                        v
                    }
                }
                Floor => v.floor(),
                Ceil => v.ceil(),
                Round => v.round_ties_even(),
                Trunc => v.trunc(),
                _ => return None,
            };
            r as f64
        }};
    }
    let result = if input == DType::F64 { apply!(f64) } else { apply!(f32) };
    float(result, output)
}

/// A binary op on splats already converted to the dtype it computes in.
fn binary(op: BinaryOp, a: Scalar, b: Scalar, compute: DType) -> Option<Scalar> {
    use BinaryOp::*;
    if op.is_comparison() {
        let ordering = match (a, b) {
            (Scalar::Float(x), Scalar::Float(y)) => x.partial_cmp(&y),
            (Scalar::Int(x), Scalar::Int(y)) => Some(x.cmp(&y)),
            (Scalar::Bool(x), Scalar::Bool(y)) => Some(x.cmp(&y)),
            _ => return None,
        };
        // Every comparison with NaN is false except `ne`.
        let holds = match (op, ordering) {
            (Ne, None) => true,
            (_, None) => false,
            (Eq, Some(o)) => o.is_eq(),
            (Ne, Some(o)) => o.is_ne(),
            (Lt, Some(o)) => o.is_lt(),
            (Le, Some(o)) => o.is_le(),
            (Gt, Some(o)) => o.is_gt(),
            (Ge, Some(o)) => o.is_ge(),
            _ => return None,
        };
        return Some(Scalar::Bool(holds));
    }
    match (a, b) {
        (Scalar::Bool(x), Scalar::Bool(y)) => Some(Scalar::Bool(match op {
            LogicalAnd | Mul | Minimum => x & y,
            LogicalOr | Add | Maximum => x | y,
            LogicalXor => x ^ y,
            _ => return None,
        })),
        (Scalar::Int(x), Scalar::Int(y)) => {
            let r = match op {
                Add => x.wrapping_add(y),
                Sub => x.wrapping_sub(y),
                Mul => x.wrapping_mul(y),
                Minimum => x.min(y),
                Maximum => x.max(y),
                _ => return None,
            };
            Some(from_i64(r, compute))
        }
        (Scalar::Float(x), Scalar::Float(y)) => {
            macro_rules! apply {
                ($t:ty) => {{
                    let (x, y) = (x as $t, y as $t);
                    let r: $t = match op {
                        Add => x + y,
                        Sub => x - y,
                        Mul => x * y,
                        Div => x / y,
                        Minimum | Maximum if x.is_nan() || y.is_nan() => <$t>::NAN,
                        Minimum => x.min(y),
                        Maximum => x.max(y),
                        _ => return None,
                    };
                    r as f64
                }};
            }
            let result = if compute == DType::F64 { apply!(f64) } else { apply!(f32) };
            float(result, compute)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(dims: &[usize]) -> ValueType {
        ValueType::of(DType::F32, dims)
    }

    #[test]
    fn f32_arithmetic_rounds_like_f32() {
        let t = f32s(&[]);
        let sum = fold(
            &Op::Binary(BinaryOp::Add),
            &[(&t, filled(Scalar::Float(0.1), DType::F32)), (&t, filled(Scalar::Float(0.2), DType::F32))],
            &t,
        );
        assert_eq!(sum, Some(Scalar::Float((0.1f32 + 0.2f32) as f64)));
        let f64s = ValueType::of(DType::F64, &[]);
        let sum =
            fold(&Op::Binary(BinaryOp::Add), &[(&f64s, Some(Scalar::Float(0.1))), (&f64s, Some(0.2.into()))], &f64s);
        assert_eq!(sum, Some(Scalar::Float(0.1 + 0.2)));
    }

    #[test]
    fn transcendental_ops_are_not_folded() {
        let t = f32s(&[]);
        assert_eq!(fold(&Op::Unary(UnaryOp::Exp), &[(&t, Some(Scalar::Float(1.0)))], &t), None);
        assert_eq!(fold(&Op::Unary(UnaryOp::Sqrt), &[(&t, Some(Scalar::Float(4.0)))], &t), Some(Scalar::Float(2.0)));
    }

    #[test]
    fn half_floats_keep_only_exact_values() {
        assert!(half_exact(1.0, DType::F16));
        assert!(half_exact(2048.0, DType::F16));
        assert!(!half_exact(2049.0, DType::F16));
        assert!(half_exact(65504.0, DType::F16));
        assert!(!half_exact(65536.0, DType::F16));
        assert!(half_exact(2f64.powi(-24), DType::F16));
        assert!(!half_exact(2f64.powi(-25), DType::F16));
        assert!(!half_exact(0.1, DType::F16));
        assert!(half_exact(256.0, DType::BF16));
        assert!(!half_exact(257.0, DType::BF16));
        assert_eq!(filled(Scalar::Float(0.1), DType::F16), None);
        assert_eq!(filled(Scalar::Float(0.5), DType::BF16), Some(Scalar::Float(0.5)));
    }

    #[test]
    fn casts_follow_the_runtime() {
        assert_eq!(cast(Scalar::Float(-1.5), DType::F32, DType::I32), Some(Scalar::Int(-1)));
        assert_eq!(cast(Scalar::Float(f64::NAN), DType::F32, DType::I64), Some(Scalar::Int(0)));
        assert_eq!(cast(Scalar::Float(300.0), DType::F32, DType::U8), Some(Scalar::Int(255)));
        assert_eq!(cast(Scalar::Int(300), DType::I64, DType::U8), Some(Scalar::Int(44)));
        assert_eq!(cast(Scalar::Float(f64::NAN), DType::F32, DType::Bool), Some(Scalar::Bool(true)));
        assert_eq!(cast(Scalar::Bool(true), DType::Bool, DType::F32), Some(Scalar::Float(1.0)));
        assert_eq!(cast(Scalar::Int(i64::MAX), DType::I64, DType::F32), Some(Scalar::Float(i64::MAX as f32 as f64)));
    }

    #[test]
    fn integers_wrap_and_comparisons_give_bools() {
        let i32s = ValueType::of(DType::I32, &[]);
        let big = Some(Scalar::Int(i32::MAX as i64));
        let sum = fold(&Op::Binary(BinaryOp::Add), &[(&i32s, big), (&i32s, Some(Scalar::Int(1)))], &i32s);
        assert_eq!(sum, Some(Scalar::Int(i32::MIN as i64)));
        let t = f32s(&[]);
        let bools = ValueType::of(DType::Bool, &[]);
        let nan = Some(Scalar::Float(f64::NAN));
        assert_eq!(fold(&Op::Binary(BinaryOp::Ne), &[(&t, nan), (&t, nan)], &bools), Some(Scalar::Bool(true)));
        assert_eq!(fold(&Op::Binary(BinaryOp::Eq), &[(&t, nan), (&t, nan)], &bools), Some(Scalar::Bool(false)));
    }
}
