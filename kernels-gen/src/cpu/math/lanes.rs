//! Lane-wise arithmetic shared by the math functions: one call emits the same instructions for a
//! scalar `f32` and for each lane of an `f32x4`, so both widths round identically.
//!
//! Conditions are whatever `fcmp`/`icmp` return for the width (an `i8` for scalars, an all-ones
//! lane mask for vectors); `select` picks the matching instruction. Nothing here knows which
//! function is being built.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, I32, I32X4};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// Emits lane-wise operations on values of one float type (`F32` or `F32X4`) and its integer twin.
pub(super) struct Lanes<'a, 'f> {
    builder: &'a mut FunctionBuilder<'f>,
    float: Type,
    int: Type,
}

impl<'a, 'f> Lanes<'a, 'f> {
    /// Works on values of `like`'s type, which must be `F32` or `F32X4`.
    pub(super) fn new(builder: &'a mut FunctionBuilder<'f>, like: Value) -> Self {
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

    /// `value` in every lane.
    pub(super) fn float(&mut self, value: f32) -> Value {
        let scalar = self.builder.ins().f32const(value);
        if self.is_vector() { self.builder.ins().splat(self.float, scalar) } else { scalar }
    }

    /// `value` in every lane of the integer twin type.
    pub(super) fn int(&mut self, value: i32) -> Value {
        let scalar = self.builder.ins().iconst(I32, i64::from(value));
        if self.is_vector() { self.builder.ins().splat(self.int, scalar) } else { scalar }
    }

    pub(super) fn add(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fadd(a, b)
    }

    pub(super) fn sub(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fsub(a, b)
    }

    pub(super) fn mul(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fmul(a, b)
    }

    pub(super) fn div(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fdiv(a, b)
    }

    /// `a * b + c` with a single rounding.
    pub(super) fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.builder.ins().fma(a, b, c)
    }

    pub(super) fn neg(&mut self, a: Value) -> Value {
        self.builder.ins().fneg(a)
    }

    pub(super) fn abs(&mut self, a: Value) -> Value {
        self.builder.ins().fabs(a)
    }

    /// The smaller of `a` and `b`, or `b` if either is NaN (callers restore NaN inputs at the end).
    ///
    /// Written as a select so that it lowers to one `minps`, where Cranelift's `fmin` needs a
    /// dozen instructions to propagate NaNs.
    pub(super) fn min(&mut self, a: Value, b: Value) -> Value {
        let a_is_smaller = self.compare(FloatCC::LessThan, a, b);
        self.select(a_is_smaller, a, b)
    }

    /// The larger of `a` and `b`, or `b` if either is NaN; one `maxps`, like `min`.
    pub(super) fn max(&mut self, a: Value, b: Value) -> Value {
        let a_is_larger = self.compare(FloatCC::LessThan, b, a);
        self.select(a_is_larger, a, b)
    }

    /// `value` limited to `[low, high]`; a NaN `value` becomes `low`.
    pub(super) fn clamp(&mut self, value: Value, low: f32, high: f32) -> Value {
        let high = self.float(high);
        let low = self.float(low);
        let below_high = self.min(value, high);
        self.max(below_high, low)
    }

    /// Nearest integer, ties to even.
    pub(super) fn round_nearest(&mut self, a: Value) -> Value {
        self.builder.ins().nearest(a)
    }

    pub(super) fn round_toward_zero(&mut self, a: Value) -> Value {
        self.builder.ins().trunc(a)
    }

    /// `coefficients[0] + coefficients[1] x + ...`, by Horner's rule with one `fma` per step.
    pub(super) fn polynomial(&mut self, x: Value, coefficients: &[f32]) -> Value {
        let (&highest, lower) = coefficients.split_last().expect("a polynomial needs at least one coefficient");
        let mut sum = self.float(highest);
        for &coefficient in lower.iter().rev() {
            let coefficient = self.float(coefficient);
            sum = self.fma(sum, x, coefficient);
        }
        sum
    }

    pub(super) fn compare(&mut self, condition: FloatCC, a: Value, b: Value) -> Value {
        self.builder.ins().fcmp(condition, a, b)
    }

    /// Compares each lane of `a` with the constant `b`.
    pub(super) fn compare_with(&mut self, condition: FloatCC, a: Value, b: f32) -> Value {
        let b = self.float(b);
        self.compare(condition, a, b)
    }

    /// Per lane, `if_true` where `condition` (from `compare`) holds, else `if_false`.
    pub(super) fn select(&mut self, condition: Value, if_true: Value, if_false: Value) -> Value {
        if self.is_vector() {
            let value_type = self.builder.func.dfg.value_type(if_true);
            let mask = self.builder.ins().bitcast(value_type, MemFlagsData::new(), condition);
            self.builder.ins().bitselect(mask, if_true, if_false)
        } else {
            self.builder.ins().select(condition, if_true, if_false)
        }
    }

    /// The IEEE bits of each lane, as integers.
    pub(super) fn bits_of(&mut self, a: Value) -> Value {
        self.builder.ins().bitcast(self.int, MemFlagsData::new(), a)
    }

    pub(super) fn float_from_bits(&mut self, bits: Value) -> Value {
        self.builder.ins().bitcast(self.float, MemFlagsData::new(), bits)
    }

    pub(super) fn int_add(&mut self, a: Value, b: i32) -> Value {
        let b = self.int(b);
        self.builder.ins().iadd(a, b)
    }

    pub(super) fn int_sub(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().isub(a, b)
    }

    pub(super) fn int_and(&mut self, a: Value, mask: i32) -> Value {
        let mask = self.int(mask);
        self.builder.ins().band(a, mask)
    }

    pub(super) fn shift_left(&mut self, a: Value, bits: i32) -> Value {
        // The shift amount is a scalar for both widths.
        let bits = self.builder.ins().iconst(I32, i64::from(bits));
        self.builder.ins().ishl(a, bits)
    }

    pub(super) fn shift_right_arithmetic(&mut self, a: Value, bits: i32) -> Value {
        let bits = self.builder.ins().iconst(I32, i64::from(bits));
        self.builder.ins().sshr(a, bits)
    }

    pub(super) fn int_to_float(&mut self, a: Value) -> Value {
        self.builder.ins().fcvt_from_sint(self.float, a)
    }

    /// The integer in each lane of `integral`, which must hold integers of magnitude below 2^22.
    ///
    /// Adding 1.5 * 2^23 puts the integer in the low mantissa bits exactly; this is the same
    /// for both widths, unlike the saturating conversions, and cannot trap.
    pub(super) fn float_to_int(&mut self, integral: Value) -> Value {
        const SHIFTER: f32 = 12_582_912.0;
        let shifter = self.float(SHIFTER);
        let shifted = self.add(integral, shifter);
        let bits = self.bits_of(shifted);
        let shifter_bits = self.int(SHIFTER.to_bits() as i32);
        self.int_sub(bits, shifter_bits)
    }

    /// `2^k` for integer lanes `k` in `[-126, 128]`; `k = 128` gives +inf.
    pub(super) fn power_of_two(&mut self, k: Value) -> Value {
        let biased = self.int_add(k, 127);
        let bits = self.shift_left(biased, 23);
        self.float_from_bits(bits)
    }

    /// `result`, except where `x` is NaN: there `x`, quieted.
    ///
    /// Scalar and vector lowerings of `fmin`/`fmax` and friends make NaNs of different signs;
    /// passing the input's NaN through keeps both widths bitwise equal.
    pub(super) fn pass_nan_through(&mut self, x: Value, result: Value) -> Value {
        let is_nan = self.compare(FloatCC::Unordered, x, x);
        let quiet = self.add(x, x);
        self.select(is_nan, quiet, result)
    }

    /// `magnitude` with the sign bit of `sign`.
    pub(super) fn copy_sign(&mut self, magnitude: Value, sign: Value) -> Value {
        // Cranelift's fcopysign has no vector lowering on x64, so work on the bits.
        let magnitude_bits = self.bits_of(magnitude);
        let magnitude_bits = self.int_and(magnitude_bits, i32::MAX);
        let sign_bits = self.bits_of(sign);
        let sign_bits = self.int_and(sign_bits, i32::MIN);
        let bits = self.builder.ins().bor(magnitude_bits, sign_bits);
        self.float_from_bits(bits)
    }
}
