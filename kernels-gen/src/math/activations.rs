//! Activations built from the core functions, written once for both forms (see `lanes`), with
//! the eager kernels' formulas.

use super::lanes::Arith;
use super::{core, erf, exp, log, sigmoid, tanh};
use cranelift_codegen::ir::condcodes::FloatCC;

/// `0.5 x (1 + erf(x / sqrt 2))`.
#[inline(always)]
pub(super) fn gelu<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    let k = lanes.float(std::f32::consts::FRAC_1_SQRT_2);
    let scaled = lanes.mul(x, k);
    let erf = core(lanes, scaled, erf::erf);
    let one = lanes.float(1.0);
    let half = lanes.float(0.5);
    let sum = lanes.add(one, erf);
    let half_x = lanes.mul(half, x);
    lanes.mul(half_x, sum)
}

/// `0.5 x (1 + tanh(u))` with `u = sqrt(2/pi) (x + 0.044715 x^3)`, as `x / (1 + e^(-2u))`: one
/// exponential and one division instead of tanh's rational function and selects.
#[inline(always)]
pub(super) fn gelu_tanh<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    let k = lanes.float(-2.0 * 0.797_884_6);
    let c = lanes.float(0.044_715);
    let x2 = lanes.mul(x, x);
    let x3 = lanes.mul(x2, x);
    let inner = lanes.fma(c, x3, x);
    let arg = lanes.mul(k, inner);
    let e = core(lanes, arg, exp::exp);
    let one = lanes.float(1.0);
    let denominator = lanes.add(one, e);
    lanes.div(x, denominator)
}

/// `x sigmoid(x)`.
#[inline(always)]
pub(super) fn silu<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    let s = core(lanes, x, sigmoid::sigmoid);
    lanes.mul(x, s)
}

/// `max(x, 0) + log1p(exp(-|x|))`.
#[inline(always)]
pub(super) fn softplus<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    let zero = lanes.float(0.0);
    let a = lanes.abs(x);
    let minus_a = lanes.neg(a);
    let e = core(lanes, minus_a, exp::exp);
    let l = core(lanes, e, log::log1p);
    let negative = lanes.compare(FloatCC::LessThan, x, zero);
    let m = lanes.select(negative, zero, x);
    lanes.add(m, l)
}

/// `x tanh(softplus(x))`.
#[inline(always)]
pub(super) fn mish<A: Arith>(lanes: &mut A, x: A::F) -> A::F {
    let sp = softplus(lanes, x);
    let t = core(lanes, sp, tanh::tanh);
    lanes.mul(x, t)
}
