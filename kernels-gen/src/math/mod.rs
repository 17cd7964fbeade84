//! Elementwise math functions, written once against [`Arith`]: emitted inline as Cranelift IR
//! (for `f32` and `f32x4` alike), computed in Rust for the wide routines, and written as MLIR
//! for GPUs (`gpu::mlir`).
//!
//! Cranelift has no `exp` or `log` instruction, and the GPU back ends would call device
//! libraries for them; these are range reductions on the float bits plus
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

mod activations;
mod erf;
mod exp;
mod lanes;
mod log;
mod scalar;
mod sigmoid;
mod tanh;
pub(crate) mod wide;

#[cfg(test)]
mod tests;

use cranelift_codegen::ir::Value;
use cranelift_frontend::FunctionBuilder;
pub(crate) use lanes::Arith;
use lanes::Lanes;
use scalar::Scalar;

/// A math function that `emit` can inline, and that `wide` runs over blocks of values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MathFn {
    Exp,
    Log,
    Log1p,
    Expm1,
    Tanh,
    Erf,
    Sigmoid,
    Gelu,
    GeluTanh,
    Silu,
    Softplus,
    Mish,
}

impl MathFn {
    pub const ALL: [MathFn; 12] = [
        MathFn::Exp,
        MathFn::Log,
        MathFn::Log1p,
        MathFn::Expm1,
        MathFn::Tanh,
        MathFn::Erf,
        MathFn::Sigmoid,
        MathFn::Gelu,
        MathFn::GeluTanh,
        MathFn::Silu,
        MathFn::Softplus,
        MathFn::Mish,
    ];
}

/// `f(x)` in either form. The core functions may lose a NaN input (clamps turn it into a
/// bound) and get it back in [`core`]; the activations are built from the core functions.
#[inline(always)]
pub(crate) fn apply<A: Arith>(lanes: &mut A, f: MathFn, x: A::F) -> A::F {
    match f {
        MathFn::Exp => core(lanes, x, exp::exp),
        MathFn::Log => core(lanes, x, log::log),
        MathFn::Log1p => core(lanes, x, log::log1p),
        MathFn::Expm1 => core(lanes, x, exp::expm1),
        MathFn::Tanh => core(lanes, x, tanh::tanh),
        MathFn::Erf => core(lanes, x, erf::erf),
        MathFn::Sigmoid => core(lanes, x, sigmoid::sigmoid),
        MathFn::Gelu => activations::gelu(lanes, x),
        MathFn::GeluTanh => activations::gelu_tanh(lanes, x),
        MathFn::Silu => activations::silu(lanes, x),
        MathFn::Softplus => activations::softplus(lanes, x),
        MathFn::Mish => activations::mish(lanes, x),
    }
}

/// A core function with the NaN input restored.
#[inline(always)]
fn core<A: Arith>(lanes: &mut A, x: A::F, f: impl FnOnce(&mut A, A::F) -> A::F) -> A::F {
    let result = f(lanes, x);
    lanes.pass_nan_through(x, result)
}

/// `f(x)` computed in Rust: bit for bit what [`emit`] generates.
#[inline(always)]
pub(crate) fn evaluate(f: MathFn, x: f32) -> f32 {
    apply(&mut Scalar, f, x)
}

/// Emits `f(x)` inline (no calls) for `x` of type F32 or F32X4; the result has x's type.
///
/// Panics if `x` has any other type.
pub fn emit(builder: &mut FunctionBuilder, f: MathFn, x: Value) -> Value {
    let mut lanes = Lanes::new(builder, x);
    apply(&mut lanes, f, x)
}
