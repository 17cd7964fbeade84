//! `tanh`: an odd polynomial below 0.625, where it keeps full relative accuracy, and
//! `1 - 2 / (e^(2|x|) + 1)` above, where the subtraction no longer cancels.
//! Measured: 7.8e-8 absolute, 1.31 ulp (see tests).

use super::exp::exp;
use super::lanes::Lanes;
use cranelift_codegen::ir::Value;
use cranelift_codegen::ir::condcodes::FloatCC;

const POLYNOMIAL_LIMIT: f32 = 0.625;

/// `p` with `tanh(x) ~ x + x^3 p(x^2)` on `|x| <= 0.625`, relative error 4.5e-9 (fitted minimax,
/// coefficients rounded to f32 one at a time).
const ODD_TAIL: [f32; 5] = [-0.333_332_8, 0.133_314_06, -0.053_736_515, 0.020_628_167, -0.005_692_296_7];

pub(super) fn tanh(lanes: &mut Lanes, x: Value) -> Value {
    let a = lanes.abs(x);
    let a_squared = lanes.mul(a, a);
    let tail = lanes.polynomial(a_squared, &ODD_TAIL);
    let a_cubed = lanes.mul(a_squared, a);
    let near_zero = lanes.fma(a_cubed, tail, a);

    // e^(2a) = +inf for large a still gives exactly 1.
    let two_a = lanes.add(a, a);
    let e = exp(lanes, two_a);
    let one = lanes.float(1.0);
    let e_plus_one = lanes.add(e, one);
    let two = lanes.float(2.0);
    let quotient = lanes.div(two, e_plus_one);
    let away_from_zero = lanes.sub(one, quotient);

    let is_near_zero = lanes.compare_with(FloatCC::LessThan, a, POLYNOMIAL_LIMIT);
    let magnitude = lanes.select(is_near_zero, near_zero, away_from_zero);
    // tanh is odd, and tanh(-0) = -0.
    lanes.copy_sign(magnitude, x)
}
