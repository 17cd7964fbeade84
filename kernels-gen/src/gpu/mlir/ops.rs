//! Elementwise ops as MLIR, with the semantics of the CPU code (`cpu::ops`), NaNs included.
//!
//! Floats are `f32`, bools `i1`. The math functions are the shared ones (`crate::math`)
//! through [`Arith`]. Only ops that both GPU back ends lower natively are used: the NVVM
//! conversion sends `fabs`, `floor`, `ceil`, `roundeven`, `copysign` and `sqrt` to device
//! library calls, so those are built from bit operations and `trunc` here, and a square
//! root is the PTX instruction (`sqrt.rn.f32`, correctly rounded) or LLVM's on AMD.

use super::writer::{V, Writer};
use crate::gpu::Target;
use crate::math::{self, Arith, MathFn};
use cranelift_codegen::ir::condcodes::FloatCC;
use ignis_ir::{BinaryOp, UnaryOp};

/// 2^23: from here on every f32 is an integer.
const INTEGRAL_FROM: f32 = 8_388_608.0;

impl Arith for Writer {
    type F = V;
    type I = V;
    type M = V;

    fn float(&mut self, value: f32) -> V {
        self.f32(value)
    }

    fn int(&mut self, value: i32) -> V {
        self.i32(value)
    }

    fn add(&mut self, a: V, b: V) -> V {
        self.op(format_args!("arith.addf {a}, {b} : f32"))
    }

    fn sub(&mut self, a: V, b: V) -> V {
        self.op(format_args!("arith.subf {a}, {b} : f32"))
    }

    fn mul(&mut self, a: V, b: V) -> V {
        self.op(format_args!("arith.mulf {a}, {b} : f32"))
    }

    fn div(&mut self, a: V, b: V) -> V {
        self.op(format_args!("arith.divf {a}, {b} : f32"))
    }

    fn fma(&mut self, a: V, b: V, c: V) -> V {
        self.op(format_args!("llvm.intr.fma({a}, {b}, {c}) : (f32, f32, f32) -> f32"))
    }

    fn neg(&mut self, a: V) -> V {
        self.op(format_args!("arith.negf {a} : f32"))
    }

    fn abs(&mut self, a: V) -> V {
        let bits = self.bits_of(a);
        let magnitude = self.int_and(bits, i32::MAX);
        self.float_from_bits(magnitude)
    }

    /// Adding and subtracting 2^23 rounds a magnitude below it to an integer, ties to even,
    /// in the default rounding mode; larger magnitudes, infinities and NaNs are kept.
    fn round_nearest(&mut self, a: V) -> V {
        let magnitude = self.abs(a);
        let shift = self.float(INTEGRAL_FROM);
        let shifted = self.add(magnitude, shift);
        let rounded = self.sub(shifted, shift);
        let signed = self.copy_sign(rounded, a);
        let fractional = self.compare(FloatCC::LessThan, magnitude, shift);
        self.select(fractional, signed, a)
    }

    fn round_toward_zero(&mut self, a: V) -> V {
        self.op(format_args!("llvm.intr.trunc({a}) : (f32) -> f32"))
    }

    fn compare(&mut self, condition: FloatCC, a: V, b: V) -> V {
        let predicate = predicate(condition);
        self.op(format_args!("arith.cmpf {predicate}, {a}, {b} : f32"))
    }

    fn select(&mut self, condition: V, if_true: V, if_false: V) -> V {
        self.op(format_args!("arith.select {condition}, {if_true}, {if_false} : f32"))
    }

    fn bits_of(&mut self, a: V) -> V {
        self.op(format_args!("arith.bitcast {a} : f32 to i32"))
    }

    fn float_from_bits(&mut self, bits: V) -> V {
        self.op(format_args!("arith.bitcast {bits} : i32 to f32"))
    }

    fn int_add(&mut self, a: V, b: i32) -> V {
        let b = self.i32(b);
        self.op(format_args!("arith.addi {a}, {b} : i32"))
    }

    fn int_sub(&mut self, a: V, b: V) -> V {
        self.op(format_args!("arith.subi {a}, {b} : i32"))
    }

    fn int_and(&mut self, a: V, mask: i32) -> V {
        let mask = self.i32(mask);
        self.op(format_args!("arith.andi {a}, {mask} : i32"))
    }

    fn int_or(&mut self, a: V, b: V) -> V {
        self.op(format_args!("arith.ori {a}, {b} : i32"))
    }

    fn shift_left(&mut self, a: V, bits: i32) -> V {
        let bits = self.i32(bits);
        self.op(format_args!("arith.shli {a}, {bits} : i32"))
    }

    fn shift_right_arithmetic(&mut self, a: V, bits: i32) -> V {
        let bits = self.i32(bits);
        self.op(format_args!("arith.shrsi {a}, {bits} : i32"))
    }

    fn int_to_float(&mut self, a: V) -> V {
        self.op(format_args!("arith.sitofp {a} : i32 to f32"))
    }
}

/// The `arith.cmpf` predicate of a Cranelift condition (`NotEqual` is true for NaNs, as in
/// Rust and in the eager kernels).
fn predicate(condition: FloatCC) -> &'static str {
    match condition {
        FloatCC::Ordered => "ord",
        FloatCC::Unordered => "uno",
        FloatCC::Equal => "oeq",
        FloatCC::NotEqual => "une",
        FloatCC::OrderedNotEqual => "one",
        FloatCC::UnorderedOrEqual => "ueq",
        FloatCC::LessThan => "olt",
        FloatCC::LessThanOrEqual => "ole",
        FloatCC::GreaterThan => "ogt",
        FloatCC::GreaterThanOrEqual => "oge",
        FloatCC::UnorderedOrLessThan => "ult",
        FloatCC::UnorderedOrLessThanOrEqual => "ule",
        FloatCC::UnorderedOrGreaterThan => "ugt",
        FloatCC::UnorderedOrGreaterThanOrEqual => "uge",
    }
}

fn select_bool(w: &mut Writer, condition: V, if_true: V, if_false: V) -> V {
    w.op(format_args!("arith.select {condition}, {if_true}, {if_false} : i1"))
}

/// `if condition { a } else { b }` on values of `ty` (`f32` or `i1`).
pub(crate) fn select_typed(w: &mut Writer, ty: &str, condition: V, a: V, b: V) -> V {
    if ty == "i1" { select_bool(w, condition, a, b) } else { w.select(condition, a, b) }
}

pub(crate) fn bool_to_float(w: &mut Writer, condition: V) -> V {
    let one = w.f32(1.0);
    let zero = w.f32(0.0);
    w.select(condition, one, zero)
}

fn sqrt(w: &mut Writer, target: &Target, host: bool, x: V) -> V {
    match target {
        Target::Cuda { .. } if !host => {
            w.op(format_args!("llvm.inline_asm \"sqrt.rn.f32 $0, $1;\", \"=f,f\" {x} : (f32) -> f32"))
        }
        _ => w.op(format_args!("llvm.intr.sqrt({x}) : (f32) -> f32")),
    }
}

/// `floor` and `ceil` from `trunc`, which rounds toward zero: one step down (up) where that
/// went up (down). Zeros keep their signs and NaNs stay NaNs, as IEEE asks.
fn floor_or_ceil(w: &mut Writer, x: V, up: bool) -> V {
    let truncated = w.round_toward_zero(x);
    let step = w.f32(if up { 1.0 } else { -1.0 });
    let stepped = w.add(truncated, step);
    let condition = if up { FloatCC::GreaterThan } else { FloatCC::LessThan };
    let moved = w.compare(condition, x, truncated);
    w.select(moved, stepped, truncated)
}

/// The NaN-propagating minimum or maximum (IEEE 754-2019), as Cranelift's `fmin`/`fmax`.
fn min_max(w: &mut Writer, max: bool, a: V, b: V) -> V {
    let name = if max { "maximumf" } else { "minimumf" };
    w.op(format_args!("arith.{name} {a}, {b} : f32"))
}

/// `op(x)`; `host` when the code is written for the host (see `Form::Host`).
pub(crate) fn unary(w: &mut Writer, target: &Target, host: bool, op: &UnaryOp, x: V) -> V {
    use UnaryOp::*;
    let f = |w: &mut Writer, f: MathFn| math::apply(w, f, x);
    match op {
        Neg => w.neg(x),
        Abs => w.abs(x),
        Sign => {
            let zero = w.f32(0.0);
            let one = w.f32(1.0);
            let minus = w.f32(-1.0);
            let positive = w.compare(FloatCC::GreaterThan, x, zero);
            let negative = w.compare(FloatCC::LessThan, x, zero);
            let low = w.select(negative, minus, x);
            w.select(positive, one, low)
        }
        Recip => {
            let one = w.f32(1.0);
            w.div(one, x)
        }
        Square => w.mul(x, x),
        Exp => f(w, MathFn::Exp),
        Log => f(w, MathFn::Log),
        Log1p => f(w, MathFn::Log1p),
        Expm1 => f(w, MathFn::Expm1),
        Tanh => f(w, MathFn::Tanh),
        Erf => f(w, MathFn::Erf),
        Sigmoid => f(w, MathFn::Sigmoid),
        Gelu => f(w, MathFn::Gelu),
        GeluTanh => f(w, MathFn::GeluTanh),
        Silu => f(w, MathFn::Silu),
        Softplus => f(w, MathFn::Softplus),
        Mish => f(w, MathFn::Mish),
        Sqrt => sqrt(w, target, host, x),
        Rsqrt => {
            let one = w.f32(1.0);
            let root = sqrt(w, target, host, x);
            w.div(one, root)
        }
        Relu => {
            let zero = w.f32(0.0);
            let negative = w.compare(FloatCC::LessThan, x, zero);
            w.select(negative, zero, x)
        }
        Floor => floor_or_ceil(w, x, false),
        Ceil => floor_or_ceil(w, x, true),
        Round => w.round_nearest(x),
        Trunc => w.round_toward_zero(x),
        LeakyRelu { slope } => {
            let zero = w.f32(0.0);
            let slope = w.f32(slope.to_f64() as f32);
            let scaled = w.mul(x, slope);
            let positive = w.compare(FloatCC::GreaterThan, x, zero);
            w.select(positive, x, scaled)
        }
        Elu { alpha } => {
            let zero = w.f32(0.0);
            let alpha = w.f32(alpha.to_f64() as f32);
            let below = math::apply(w, MathFn::Expm1, x);
            let scaled = w.mul(alpha, below);
            let positive = w.compare(FloatCC::GreaterThan, x, zero);
            w.select(positive, x, scaled)
        }
        Clamp { min, max } => {
            let mut v = x;
            if let Some(low) = min {
                let low = w.f32(low.to_f64() as f32);
                v = min_max(w, true, v, low);
            }
            if let Some(high) = max {
                let high = w.f32(high.to_f64() as f32);
                v = min_max(w, false, v, high);
            }
            let nan = w.compare(FloatCC::Unordered, x, x);
            w.select(nan, x, v)
        }
        NanToNum { nan, posinf, neginf } => {
            let infinity = w.f32(f32::INFINITY);
            let negative_infinity = w.f32(f32::NEG_INFINITY);
            let nan_value = w.f32(nan.to_f64() as f32);
            let positive_value = w.f32(posinf.to_f64() as f32);
            let negative_value = w.f32(neginf.to_f64() as f32);
            let is_nan = w.compare(FloatCC::Unordered, x, x);
            let is_positive = w.compare(FloatCC::Equal, x, infinity);
            let is_negative = w.compare(FloatCC::Equal, x, negative_infinity);
            let v = w.select(is_negative, negative_value, x);
            let v = w.select(is_positive, positive_value, v);
            w.select(is_nan, nan_value, v)
        }
        LogicalNot => {
            let yes = w.flag(true);
            w.op(format_args!("arith.xori {x}, {yes} : i1"))
        }
        IsNan => w.compare(FloatCC::Unordered, x, x),
        IsInf => {
            let infinity = w.f32(f32::INFINITY);
            let magnitude = w.abs(x);
            w.compare(FloatCC::Equal, magnitude, infinity)
        }
        Exp2 | Log2 | Sin | Cos | Tan => unreachable!("{} has no generated code (check::supported)", op.name()),
    }
}

pub(crate) fn binary(w: &mut Writer, op: &BinaryOp, x: V, y: V) -> V {
    use BinaryOp::*;
    match op {
        Add => w.add(x, y),
        Sub => w.sub(x, y),
        Mul => w.mul(x, y),
        Div => w.div(x, y),
        Minimum => min_max(w, false, x, y),
        Maximum => min_max(w, true, x, y),
        Eq => w.compare(FloatCC::Equal, x, y),
        Ne => w.compare(FloatCC::NotEqual, x, y),
        Lt => w.compare(FloatCC::LessThan, x, y),
        Le => w.compare(FloatCC::LessThanOrEqual, x, y),
        Gt => w.compare(FloatCC::GreaterThan, x, y),
        Ge => w.compare(FloatCC::GreaterThanOrEqual, x, y),
        LogicalAnd => w.op(format_args!("arith.andi {x}, {y} : i1")),
        LogicalOr => w.op(format_args!("arith.ori {x}, {y} : i1")),
        LogicalXor => w.op(format_args!("arith.xori {x}, {y} : i1")),
        Rem | Pow => unreachable!("{} has no generated code (check::supported)", op.name()),
    }
}

/// `acc (+ * max min) v`, as the CPU code combines a reduction.
pub(crate) fn combine(w: &mut Writer, combine: ignis_ir::kernel::Combine, acc: V, v: V) -> V {
    use ignis_ir::kernel::Combine;
    match combine {
        Combine::Sum => w.add(acc, v),
        Combine::Prod => w.mul(acc, v),
        Combine::Max => min_max(w, true, acc, v),
        Combine::Min => min_max(w, false, acc, v),
    }
}
