//! Elementwise math functions emitted inline as Cranelift IR, for `f32` and `f32x4` alike.
//!
//! Cranelift has no `exp` or `log` instruction; these are range reductions on the float bits plus
//! polynomials fitted for f32, branch-free (lanes pick their case with masks), and free of calls.
//! The same IR runs per lane, so a scalar and a vector evaluation of one input agree bitwise.
//! Measured maximum errors against f64 references, over every 61st finite f32 bit pattern of
//! each sign, every 7th with |x| in [2^-6, 20], and edge cases (see `tests.rs`); the last column
//! is the ulp error for |x| < 1/64, where tanh and erf are nearly linear:
//!
//! | function | ulp  | absolute | ulp near 0 |
//! |----------|------|----------|------------|
//! | exp      | 1.05 |          |            |
//! | log      | 0.83 |          |            |
//! | log1p    | 0.88 |          |            |
//! | expm1    | 1.41 |          |            |
//! | tanh     | 4.75 | 2.8e-7   | 2.67       |
//! | erf      | 1.09 | 6.5e-8   | 1.00       |
//! | sigmoid  | 2.34 | 8.9e-8   |            |
//!
//! Ulps are those of the correctly rounded result. A NaN input comes back (quieted); infinities,
//! zeros (with their signs for the odd functions and for log1p and expm1) and subnormals give the
//! IEEE results, subnormal outputs included.
//!
//! This module knows nothing of kernels or tensors: callers hand it a value and get one back.

mod erf;
mod exp;
mod lanes;
mod log;
mod sigmoid;
mod tanh;

#[cfg(test)]
mod tests;

use cranelift_codegen::ir::Value;
use cranelift_frontend::FunctionBuilder;
use lanes::Lanes;

/// A math function that `emit` can inline.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MathFn {
    Exp,
    Log,
    Log1p,
    Expm1,
    Tanh,
    Erf,
    Sigmoid,
}

/// Emits `f(x)` inline (no calls) for `x` of type F32 or F32X4; the result has x's type.
///
/// Panics if `x` has any other type.
pub fn emit(builder: &mut FunctionBuilder, f: MathFn, x: Value) -> Value {
    let mut lanes = Lanes::new(builder, x);
    let result = match f {
        MathFn::Exp => exp::exp(&mut lanes, x),
        MathFn::Log => log::log(&mut lanes, x),
        MathFn::Log1p => log::log1p(&mut lanes, x),
        MathFn::Expm1 => exp::expm1(&mut lanes, x),
        MathFn::Tanh => tanh::tanh(&mut lanes, x),
        MathFn::Erf => erf::erf(&mut lanes, x),
        MathFn::Sigmoid => sigmoid::sigmoid(&mut lanes, x),
    };
    // The functions above may lose a NaN input (clamps turn it into a bound); restore it here.
    lanes.pass_nan_through(x, result)
}
