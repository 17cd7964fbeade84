//! `exp` and `expm1`: `x = n ln 2 + r` with `n` an integer, `e^x = 2^n e^r`, and one minimax
//! polynomial for `e^r - 1` on `|r| <= ln 2`. Measured: exp 1.05 ulp, expm1 1.41 ulp (see tests).
//!
//! Subnormal results of `exp` are rounded correctly, not flushed.

use super::lanes::Arith;

/// `ln 2` split so that `n * LN2_HI` is exact inside an `fma` and `LN2_HI + LN2_LO` is `ln 2` to
/// about 2^-53.
pub(super) const LN2_HI: f32 = std::f32::consts::LN_2;
pub(super) const LN2_LO: f32 = -1.904_654_2e-9;

/// `q` with `e^r - 1 ~ r + r^2 q(r)` on `|r| <= 0.7`, relative error 1.6e-9 (fitted minimax,
/// coefficients rounded to f32 one at a time, lowest first, refitting the rest).
const EXPM1_TAIL: [f32; 7] =
    [0.5, 0.166_666_72, 0.041_666_64, 0.008_332_652, 0.001_388_993, 0.000_200_937_87, 2.482_102_9e-5];

/// `x - n ln 2 = r_hi + r_lo` for an integral `n`, with `r_hi` exact.
struct Reduced<F> {
    r_hi: F,
    r_lo: F,
}

#[inline(always)]
fn reduce<A: Arith>(lanes: &mut A, x: A::F, n: A::F) -> Reduced<A::F> {
    let minus_n = lanes.neg(n);
    let ln2_hi = lanes.float(LN2_HI);
    // Exact: |r_hi| < 1 is a multiple of 2^-24 whenever n != 0.
    let r_hi = lanes.fma(minus_n, ln2_hi, x);
    let ln2_lo = lanes.float(LN2_LO);
    let r_lo = lanes.mul(minus_n, ln2_lo);
    Reduced { r_hi, r_lo }
}

/// `e^(r_hi + r_lo) - 1` for `|r_hi| <= 0.7` and tiny `r_lo`.
#[inline(always)]
fn expm1_of_reduced<A: Arith>(lanes: &mut A, reduced: &Reduced<A::F>) -> A::F {
    let r = reduced.r_hi;
    let tail = lanes.polynomial(r, &EXPM1_TAIL);
    let r_squared = lanes.mul(r, r);
    let p = lanes.fma(r_squared, tail, r);
    // e^(r + lo) - 1 = p + lo (1 + p) to first order in lo; lo alone is worth up to 10 ulp of r.
    let correction = lanes.fma(reduced.r_lo, p, reduced.r_lo);
    lanes.add(p, correction)
}

#[inline(always)]
pub(super) fn exp<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    // Outside this range e^x rounds to 0 or +inf anyway; inside it, n fits the exponent tricks.
    let x = lanes.clamp(x, -104.0, 89.0);
    let log2_e = lanes.float(std::f32::consts::LOG2_E);
    let scaled = lanes.mul(x, log2_e);
    let n = lanes.round_nearest(scaled);
    let reduced = reduce(lanes, x, n);
    let p = expm1_of_reduced(lanes, &reduced);
    // 2^n in two factors, each a normal float for n in [-150, 128]: the first product is exact,
    // and only the last one rounds, once, where the result overflows or is subnormal.
    let k = lanes.float_to_int(n);
    let k_first = lanes.shift_right_arithmetic(k, 1);
    let k_second = lanes.int_sub(k, k_first);
    let scale_first = lanes.power_of_two(k_first);
    let scale_second = lanes.power_of_two(k_second);
    let scaled = lanes.fma(p, scale_first, scale_first);
    lanes.mul(scaled, scale_second)
}

#[inline(always)]
pub(super) fn expm1<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    // Below -18, e^x - 1 rounds to -1; above 89 it is +inf.
    let clamped = lanes.clamp(x, -18.0, 89.0);
    // Rounding toward zero gives r the sign of x, so 2^n p and 2^n - 1 below share a sign and
    // their sum cannot cancel. n stops at 127: 2^n stays finite, and past 128 ln 2 the
    // polynomial (then at r > ln 2) exceeds 1 and the product overflows as it should.
    let log2_e = lanes.float(std::f32::consts::LOG2_E);
    let scaled = lanes.mul(clamped, log2_e);
    let truncated = lanes.round_toward_zero(scaled);
    let max_n = lanes.float(127.0);
    let n = lanes.min(truncated, max_n);
    let reduced = reduce(lanes, clamped, n);
    let p = expm1_of_reduced(lanes, &reduced);
    let k = lanes.float_to_int(n);
    let scale = lanes.power_of_two(k);
    let one = lanes.float(1.0);
    // Exact for n in [-24, 24]; beyond, the 1 it drops is at most half an ulp of the result.
    let scale_minus_one = lanes.sub(scale, one);
    let result = lanes.fma(scale, p, scale_minus_one);
    // expm1 has the sign of x; this also keeps expm1(-0) = -0.
    lanes.copy_sign(result, x)
}
