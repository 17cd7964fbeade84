//! Lane-wise arithmetic shared by the math functions, as a trait with two implementations: one
//! emits Cranelift IR ([`Lanes`]: the same instructions for a scalar `f32` and for each lane of an
//! `f32x4`, so both widths round identically), the other computes in Rust
//! ([`super::scalar::Scalar`]). Each math function is written once against the trait, so generated
//! code and the wide routines built from the Rust form compute bit for bit the same.
//!
//! Conditions are masks of the implementation's choosing (for Cranelift, whatever `fcmp`
//! returns for the width: an `i8` for scalars, an all-ones lane mask for vectors); `select`
//! consumes them. Nothing here knows which function is being built.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, I32, I32X4};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// The operations the math functions are built from. `F` is a float (or float vector), `I` its
/// integer twin holding the IEEE bits, `M` a condition.
pub(crate) trait Arith {
    type F: Copy;
    type I: Copy;
    type M: Copy;

    /// `value` in every lane.
    fn float(&mut self, value: f32) -> Self::F;
    /// `value` in every lane of the integer twin.
    fn int(&mut self, value: i32) -> Self::I;
    fn add(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn sub(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn mul(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn div(&mut self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c` with a single rounding.
    fn fma(&mut self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    fn neg(&mut self, a: Self::F) -> Self::F;
    fn abs(&mut self, a: Self::F) -> Self::F;
    /// Nearest integer, ties to even.
    fn round_nearest(&mut self, a: Self::F) -> Self::F;
    fn round_toward_zero(&mut self, a: Self::F) -> Self::F;
    fn compare(&mut self, condition: FloatCC, a: Self::F, b: Self::F) -> Self::M;
    /// Per lane, `if_true` where `condition` (from `compare`) holds, else `if_false`.
    fn select(&mut self, condition: Self::M, if_true: Self::F, if_false: Self::F) -> Self::F;
    /// The IEEE bits of each lane, as integers.
    fn bits_of(&mut self, a: Self::F) -> Self::I;
    fn float_from_bits(&mut self, bits: Self::I) -> Self::F;
    /// Wrapping.
    fn int_add(&mut self, a: Self::I, b: i32) -> Self::I;
    /// Wrapping.
    fn int_sub(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn int_and(&mut self, a: Self::I, mask: i32) -> Self::I;
    fn int_or(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn shift_left(&mut self, a: Self::I, bits: i32) -> Self::I;
    fn shift_right_arithmetic(&mut self, a: Self::I, bits: i32) -> Self::I;
    fn int_to_float(&mut self, a: Self::I) -> Self::F;

    /// The smaller of `a` and `b`, or `b` if either is NaN (callers restore NaN inputs at the
    /// end). A select rather than Cranelift's `fmin`: one `minps` where `fmin` needs a dozen
    /// instructions to propagate NaNs.
    #[inline(always)]
    fn min(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let a_is_smaller = self.compare(FloatCC::LessThan, a, b);
        self.select(a_is_smaller, a, b)
    }

    /// The larger of `a` and `b`, or `b` if either is NaN; one `maxps`, like `min`.
    #[inline(always)]
    fn max(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let a_is_larger = self.compare(FloatCC::LessThan, b, a);
        self.select(a_is_larger, a, b)
    }

    /// `value` limited to `[low, high]`; a NaN `value` becomes `low`.
    #[inline(always)]
    fn clamp(&mut self, value: Self::F, low: f32, high: f32) -> Self::F {
        let high = self.float(high);
        let low = self.float(low);
        let below_high = self.min(value, high);
        self.max(below_high, low)
    }

    /// `coefficients[0] + coefficients[1] x + ...`, by Horner's rule with one `fma` per step.
    #[inline(always)]
    fn polynomial(&mut self, x: Self::F, coefficients: &[f32]) -> Self::F {
        let (&highest, lower) = coefficients.split_last().expect("a polynomial needs at least one coefficient");
        let mut sum = self.float(highest);
        for &coefficient in lower.iter().rev() {
            let coefficient = self.float(coefficient);
            sum = self.fma(sum, x, coefficient);
        }
        sum
    }

    /// Compares each lane of `a` with the constant `b`.
    #[inline(always)]
    fn compare_with(&mut self, condition: FloatCC, a: Self::F, b: f32) -> Self::M {
        let b = self.float(b);
        self.compare(condition, a, b)
    }

    /// The integer in each lane of `integral`, which must hold integers of magnitude below 2^22.
    ///
    /// Adding 1.5 * 2^23 puts the integer in the low mantissa bits exactly; this is the same
    /// for every width, unlike the saturating conversions, and cannot trap.
    #[inline(always)]
    fn float_to_int(&mut self, integral: Self::F) -> Self::I {
        const SHIFTER: f32 = 12_582_912.0;
        let shifter = self.float(SHIFTER);
        let shifted = self.add(integral, shifter);
        let bits = self.bits_of(shifted);
        let shifter_bits = self.int(SHIFTER.to_bits() as i32);
        self.int_sub(bits, shifter_bits)
    }

    /// `2^k` for integer lanes `k` in `[-126, 128]`; `k = 128` gives +inf.
    #[inline(always)]
    fn power_of_two(&mut self, k: Self::I) -> Self::F {
        let biased = self.int_add(k, 127);
        let bits = self.shift_left(biased, 23);
        self.float_from_bits(bits)
    }

    /// `result`, except where `x` is NaN: there `x`, quieted.
    ///
    /// Scalar and vector lowerings of `fmin`/`fmax` and friends make NaNs of different signs;
    /// passing the input's NaN through keeps every width bitwise equal.
    #[inline(always)]
    fn pass_nan_through(&mut self, x: Self::F, result: Self::F) -> Self::F {
        let is_nan = self.compare(FloatCC::Unordered, x, x);
        let quiet = self.add(x, x);
        self.select(is_nan, quiet, result)
    }

    /// `magnitude` with the sign bit of `sign`.
    #[inline(always)]
    fn copy_sign(&mut self, magnitude: Self::F, sign: Self::F) -> Self::F {
        // Cranelift's fcopysign has no vector lowering on x64, so work on the bits.
        let magnitude_bits = self.bits_of(magnitude);
        let magnitude_bits = self.int_and(magnitude_bits, i32::MAX);
        let sign_bits = self.bits_of(sign);
        let sign_bits = self.int_and(sign_bits, i32::MIN);
        let bits = self.int_or(magnitude_bits, sign_bits);
        self.float_from_bits(bits)
    }
}

/// Emits lane-wise operations on values of one float type (`F32` or `F32X4`) and its integer twin.
pub(crate) struct Lanes<'a, 'f> {
    builder: &'a mut FunctionBuilder<'f>,
    float: Type,
    int: Type,
}

impl<'a, 'f> Lanes<'a, 'f> {
    /// Works on values of `like`'s type, which must be `F32` or `F32X4`.
    pub(crate) fn new(builder: &'a mut FunctionBuilder<'f>, like: Value) -> Self {
        let float = builder.func.dfg.value_type(like);
        let int = match float {
            F32 => I32,
            F32X4 => I32X4,
            other => panic!("math functions take f32 or f32x4 values, but this value is {other}"),
        };
        Lanes { builder, float, int }
    }

    fn is_vector(&self) -> bool {
        self.float.is_vector()
    }
}

impl Arith for Lanes<'_, '_> {
    type F = Value;
    type I = Value;
    type M = Value;

    fn float(&mut self, value: f32) -> Value {
        let scalar = self.builder.ins().f32const(value);
        if self.is_vector() { self.builder.ins().splat(self.float, scalar) } else { scalar }
    }

    fn int(&mut self, value: i32) -> Value {
        let scalar = self.builder.ins().iconst(I32, i64::from(value));
        if self.is_vector() { self.builder.ins().splat(self.int, scalar) } else { scalar }
    }

    fn add(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fadd(a, b)
    }

    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fsub(a, b)
    }

    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fmul(a, b)
    }

    fn div(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fdiv(a, b)
    }

    fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.builder.ins().fma(a, b, c)
    }

    fn neg(&mut self, a: Value) -> Value {
        self.builder.ins().fneg(a)
    }

    fn abs(&mut self, a: Value) -> Value {
        self.builder.ins().fabs(a)
    }

    fn round_nearest(&mut self, a: Value) -> Value {
        self.builder.ins().nearest(a)
    }

    fn round_toward_zero(&mut self, a: Value) -> Value {
        self.builder.ins().trunc(a)
    }

    fn compare(&mut self, condition: FloatCC, a: Value, b: Value) -> Value {
        self.builder.ins().fcmp(condition, a, b)
    }

    fn select(&mut self, condition: Value, if_true: Value, if_false: Value) -> Value {
        if self.is_vector() {
            let value_type = self.builder.func.dfg.value_type(if_true);
            let mask = self.builder.ins().bitcast(value_type, MemFlagsData::new(), condition);
            self.builder.ins().bitselect(mask, if_true, if_false)
        } else {
            self.builder.ins().select(condition, if_true, if_false)
        }
    }

    fn bits_of(&mut self, a: Value) -> Value {
        self.builder.ins().bitcast(self.int, MemFlagsData::new(), a)
    }

    fn float_from_bits(&mut self, bits: Value) -> Value {
        self.builder.ins().bitcast(self.float, MemFlagsData::new(), bits)
    }

    fn int_add(&mut self, a: Value, b: i32) -> Value {
        let b = self.int(b);
        self.builder.ins().iadd(a, b)
    }

    fn int_sub(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().isub(a, b)
    }

    fn int_and(&mut self, a: Value, mask: i32) -> Value {
        let mask = self.int(mask);
        self.builder.ins().band(a, mask)
    }

    fn shift_left(&mut self, a: Value, bits: i32) -> Value {
        // The shift amount is a scalar for both widths.
        let bits = self.builder.ins().iconst(I32, i64::from(bits));
        self.builder.ins().ishl(a, bits)
    }

    fn shift_right_arithmetic(&mut self, a: Value, bits: i32) -> Value {
        let bits = self.builder.ins().iconst(I32, i64::from(bits));
        self.builder.ins().sshr(a, bits)
    }

    fn int_to_float(&mut self, a: Value) -> Value {
        self.builder.ins().fcvt_from_sint(self.float, a)
    }

    fn int_or(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().bor(a, b)
    }
}
