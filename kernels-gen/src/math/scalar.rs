//! The math functions computed in Rust, one `f32` at a time, with exactly the operations the
//! Cranelift form emits: IEEE arithmetic, a fused `mul_add`, ties-to-even rounding, wrapping
//! integer operations on the bits. Inlined into a loop over a slice, this form vectorizes to
//! whatever width the machine that built it has (see `wide`).

use super::lanes::Arith;
use cranelift_codegen::ir::condcodes::FloatCC;

/// Evaluates [`Arith`] operations on plain `f32` values.
pub(crate) struct Scalar;

impl Arith for Scalar {
    type F = f32;
    type I = i32;
    type M = bool;

    #[inline(always)]
    fn float(&mut self, value: f32) -> f32 {
        value
    }

    #[inline(always)]
    fn int(&mut self, value: i32) -> i32 {
        value
    }

    #[inline(always)]
    fn add(&mut self, a: f32, b: f32) -> f32 {
        a + b
    }

    #[inline(always)]
    fn sub(&mut self, a: f32, b: f32) -> f32 {
        a - b
    }

    #[inline(always)]
    fn mul(&mut self, a: f32, b: f32) -> f32 {
        a * b
    }

    #[inline(always)]
    fn div(&mut self, a: f32, b: f32) -> f32 {
        a / b
    }

    #[inline(always)]
    fn fma(&mut self, a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }

    #[inline(always)]
    fn neg(&mut self, a: f32) -> f32 {
        -a
    }

    #[inline(always)]
    fn abs(&mut self, a: f32) -> f32 {
        a.abs()
    }

    #[inline(always)]
    fn round_nearest(&mut self, a: f32) -> f32 {
        a.round_ties_even()
    }

    #[inline(always)]
    fn round_toward_zero(&mut self, a: f32) -> f32 {
        a.trunc()
    }

    #[inline(always)]
    fn compare(&mut self, condition: FloatCC, a: f32, b: f32) -> bool {
        // As `fcmp`: `NotEqual` holds for unordered operands, the `Unordered*` forms too.
        let unordered = a.is_nan() || b.is_nan();
        match condition {
            FloatCC::Ordered => !unordered,
            FloatCC::Unordered => unordered,
            FloatCC::Equal => a == b,
            FloatCC::NotEqual => a != b,
            FloatCC::OrderedNotEqual => !unordered && a != b,
            FloatCC::UnorderedOrEqual => unordered || a == b,
            FloatCC::LessThan => a < b,
            FloatCC::LessThanOrEqual => a <= b,
            FloatCC::GreaterThan => a > b,
            FloatCC::GreaterThanOrEqual => a >= b,
            FloatCC::UnorderedOrLessThan => unordered || a < b,
            FloatCC::UnorderedOrLessThanOrEqual => unordered || a <= b,
            FloatCC::UnorderedOrGreaterThan => unordered || a > b,
            FloatCC::UnorderedOrGreaterThanOrEqual => unordered || a >= b,
        }
    }

    #[inline(always)]
    fn select(&mut self, condition: bool, if_true: f32, if_false: f32) -> f32 {
        if condition { if_true } else { if_false }
    }

    #[inline(always)]
    fn bits_of(&mut self, a: f32) -> i32 {
        a.to_bits() as i32
    }

    #[inline(always)]
    fn float_from_bits(&mut self, bits: i32) -> f32 {
        f32::from_bits(bits as u32)
    }

    #[inline(always)]
    fn int_add(&mut self, a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    #[inline(always)]
    fn int_sub(&mut self, a: i32, b: i32) -> i32 {
        a.wrapping_sub(b)
    }

    #[inline(always)]
    fn int_and(&mut self, a: i32, mask: i32) -> i32 {
        a & mask
    }

    #[inline(always)]
    fn int_or(&mut self, a: i32, b: i32) -> i32 {
        a | b
    }

    #[inline(always)]
    fn shift_left(&mut self, a: i32, bits: i32) -> i32 {
        a.wrapping_shl(bits as u32)
    }

    #[inline(always)]
    fn shift_right_arithmetic(&mut self, a: i32, bits: i32) -> i32 {
        a.wrapping_shr(bits as u32)
    }

    #[inline(always)]
    fn int_to_float(&mut self, a: i32) -> f32 {
        a as f32
    }
}
