//! `log` and `log1p`: `x = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))` read off the bits, then
//! `log x = e ln 2 + log1p(m - 1)`, the latter as `2 atanh(s)` with `s = f / (2 + f)`.
//! Measured: log 0.83 ulp, log1p 0.88 ulp (see tests).

use super::exp::{LN2_HI, LN2_LO};
use super::lanes::Arith;
use cranelift_codegen::ir::condcodes::FloatCC;

/// The bits of `sqrt(1/2)`: subtracting them moves the mantissa boundary from 1 to `sqrt(1/2)`.
const SQRT_HALF_BITS: i32 = 0x3f35_04f3;

/// `t` with `2 atanh(s) / s - 2 ~ z t(z)`, `z = s^2 <= 0.0295`; its share of `log1p` is off by
/// at most 8.2e-10 relative (fitted minimax, coefficients rounded to f32 one at a time).
const ATANH_TAIL: [f32; 3] = [0.666_667_76, 0.399_775_6, 0.298_719];

/// `x = 2^exponent (1 + f)` with `1 + f` in `[sqrt(1/2), sqrt(2))`; `x` positive and normal.
struct Split<F> {
    exponent: F,
    f: F,
}

#[inline(always)]
fn split<A: Arith>(lanes: &mut A, x: A::F) -> Split<A::F> {
    let bits = lanes.bits_of(x);
    let offset = lanes.int_add(bits, -SQRT_HALF_BITS);
    let exponent_int = lanes.shift_right_arithmetic(offset, 23);
    let exponent = lanes.int_to_float(exponent_int);
    let mantissa_offset = lanes.int_and(offset, 0x007f_ffff);
    let mantissa_bits = lanes.int_add(mantissa_offset, SQRT_HALF_BITS);
    let mantissa = lanes.float_from_bits(mantissa_bits);
    let one = lanes.float(1.0);
    // Exact (Sterbenz): the mantissa is within a factor of two of 1.
    let f = lanes.sub(mantissa, one);
    Split { exponent, f }
}

/// `log1p(f) - f` for `f` in `[sqrt(1/2) - 1, sqrt(2) - 1)`.
///
/// `log1p(f) = f - f^2/2 + s (f^2/2 + R)`, with `R = 2 atanh(s)/s - 2`: `f` is exact and
/// carries most of the result, so the rounding in the division and the tail barely shows.
#[inline(always)]
fn log1p_minus_f<A: Arith>(lanes: &mut A, f: A::F) -> A::F {
    let two = lanes.float(2.0);
    let denominator = lanes.add(f, two);
    let s = lanes.div(f, denominator);
    let z = lanes.mul(s, s);
    let tail = lanes.polynomial(z, &ATANH_TAIL);
    let r = lanes.mul(z, tail);
    let half = lanes.float(0.5);
    let half_f = lanes.mul(f, half);
    let half_f_squared = lanes.mul(half_f, f);
    let sum = lanes.add(half_f_squared, r);
    let minus_half_f_squared = lanes.neg(half_f_squared);
    lanes.fma(s, sum, minus_half_f_squared)
}

/// `exponent ln 2 + f + small`, adding the small parts first.
#[inline(always)]
fn combine<A: Arith>(lanes: &mut A, exponent: A::F, f: A::F, small: A::F) -> A::F {
    let ln2_lo = lanes.float(LN2_LO);
    let low = lanes.fma(exponent, ln2_lo, small);
    let fraction = lanes.add(f, low);
    let ln2_hi = lanes.float(LN2_HI);
    lanes.fma(exponent, ln2_hi, fraction)
}

/// `+inf` where `x` is `+inf`, `-inf` where `x == pole`, NaN below `pole`, else `result`.
#[inline(always)]
fn special_cases<A: Arith>(lanes: &mut A, x: A::F, pole: f32, result: A::F) -> A::F {
    let infinity = lanes.float(f32::INFINITY);
    let is_infinite = lanes.compare(FloatCC::Equal, x, infinity);
    let result = lanes.select(is_infinite, infinity, result);
    let minus_infinity = lanes.float(f32::NEG_INFINITY);
    let at_pole = lanes.compare_with(FloatCC::Equal, x, pole);
    let result = lanes.select(at_pole, minus_infinity, result);
    let nan = lanes.float(f32::NAN);
    let outside_domain = lanes.compare_with(FloatCC::LessThan, x, pole);
    lanes.select(outside_domain, nan, result)
}

#[inline(always)]
pub(super) fn log<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    // Subnormals have no implicit leading bit; scaling by 2^23 makes them normal.
    let is_subnormal = lanes.compare_with(FloatCC::LessThan, x, f32::MIN_POSITIVE);
    let two_to_23 = lanes.float(8_388_608.0);
    let scaled = lanes.mul(x, two_to_23);
    let normal = lanes.select(is_subnormal, scaled, x);
    let split = split(lanes, normal);
    let minus_23 = lanes.float(-23.0);
    let zero = lanes.float(0.0);
    let exponent_adjustment = lanes.select(is_subnormal, minus_23, zero);
    let exponent = lanes.add(split.exponent, exponent_adjustment);
    let small = log1p_minus_f(lanes, split.f);
    let result = combine(lanes, exponent, split.f, small);
    special_cases(lanes, x, 0.0, result)
}

#[inline(always)]
pub(super) fn log1p<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    // u = 1 + x rounds; `error` is what it lost (two-sum), so log1p x = log u + error / u.
    let one = lanes.float(1.0);
    let u = lanes.add(one, x);
    let x_in_u = lanes.sub(u, one);
    let one_in_u = lanes.sub(u, x_in_u);
    let one_error = lanes.sub(one, one_in_u);
    let x_error = lanes.sub(x, x_in_u);
    let error = lanes.add(one_error, x_error);
    // For x > -1, u >= 2^-24 is normal.
    let split = split(lanes, u);
    let small = log1p_minus_f(lanes, split.f);
    let error_over_u = lanes.div(error, u);
    let small = lanes.add(small, error_over_u);
    let result = combine(lanes, split.exponent, split.f, small);
    // log1p has the sign of x; this also keeps log1p(-0) = -0.
    let result = lanes.copy_sign(result, x);
    special_cases(lanes, x, -1.0, result)
}
