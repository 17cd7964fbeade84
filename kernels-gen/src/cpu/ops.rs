//! Elementwise ops in Cranelift IR, lane-generic: a float is `f32` or `f32x4`, a bool is an
//! `i8` holding 0 or 1 (scalar) or an `i32x4` mask of all-zero / all-one lanes (vector), the
//! types `fcmp` gives. Semantics follow the eager kernels (NaN handling included).

use crate::math::{self, MathFn};
use cranelift_codegen::ir::Endianness;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;
use ignis_ir::{BinaryOp, UnaryOp};

/// Whether generated kernels compute this op (the others run through the eager kernels).
pub fn supports_unary(op: &UnaryOp) -> bool {
    use UnaryOp::*;
    !matches!(op, Exp2 | Log2 | Sin | Cos | Tan)
}

pub fn supports_binary(op: &BinaryOp) -> bool {
    !matches!(op, BinaryOp::Rem | BinaryOp::Pow)
}

/// The math function whose wide routine computes `op`, for the costly ones.
pub(crate) fn wide_fn(op: &UnaryOp) -> Option<MathFn> {
    use UnaryOp::*;
    Some(match op {
        Exp => MathFn::Exp,
        Log => MathFn::Log,
        Log1p => MathFn::Log1p,
        Expm1 => MathFn::Expm1,
        Tanh => MathFn::Tanh,
        Erf => MathFn::Erf,
        Sigmoid => MathFn::Sigmoid,
        Gelu => MathFn::Gelu,
        GeluTanh => MathFn::GeluTanh,
        Silu => MathFn::Silu,
        Softplus => MathFn::Softplus,
        Mish => MathFn::Mish,
        _ => return None,
    })
}

/// Scalar or 4-lane code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lanes {
    One,
    Four,
}

impl Lanes {
    pub(crate) fn f32(self, b: &mut FunctionBuilder, v: f32) -> Value {
        let c = b.ins().f32const(v);
        if self == Lanes::One { c } else { b.ins().splat(types::F32X4, c) }
    }

    pub(crate) fn flag(self, b: &mut FunctionBuilder, v: bool) -> Value {
        if self == Lanes::One {
            b.ins().iconst(types::I8, v as i64)
        } else {
            let c = b.ins().iconst(types::I32, if v { -1 } else { 0 });
            b.ins().splat(types::I32X4, c)
        }
    }

    /// A scalar value (computed once per outer point) in this many lanes.
    pub(crate) fn widen(self, b: &mut FunctionBuilder, scalar: Value) -> Value {
        if self == Lanes::One {
            return scalar;
        }
        match b.func.dfg.value_type(scalar) {
            types::F32X4 | types::I32X4 => scalar,
            types::F32 => b.ins().splat(types::F32X4, scalar),
            types::I8 => {
                let wide = b.ins().sextend(types::I32, scalar);
                let mask = b.ins().ineg(wide);
                b.ins().splat(types::I32X4, mask)
            }
            ty => unreachable!("widen: unexpected type {ty}"),
        }
    }
}

pub(crate) fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// `if cond { a } else { b }` lane-wise.
pub(crate) fn select(b: &mut FunctionBuilder, lanes: Lanes, cond: Value, a: Value, c: Value) -> Value {
    if lanes == Lanes::One {
        return b.ins().select(cond, a, c);
    }
    let a_ty = b.func.dfg.value_type(a);
    if a_ty == types::I32X4 {
        return b.ins().bitselect(cond, a, c);
    }
    let mask = b.ins().bitcast(types::F32X4, vector_flags(), cond);
    b.ins().bitselect(mask, a, c)
}

pub(crate) fn bool_to_float(b: &mut FunctionBuilder, lanes: Lanes, cond: Value) -> Value {
    let one = lanes.f32(b, 1.0);
    let zero = lanes.f32(b, 0.0);
    select(b, lanes, cond, one, zero)
}

fn compare(b: &mut FunctionBuilder, cc: FloatCC, x: Value, y: Value) -> Value {
    b.ins().fcmp(cc, x, y)
}

fn not(b: &mut FunctionBuilder, lanes: Lanes, x: Value) -> Value {
    if lanes == Lanes::One { b.ins().bxor_imm_u(x, 1) } else { b.ins().bnot(x) }
}

fn scalar_of(b: &mut FunctionBuilder, lanes: Lanes, v: f64) -> Value {
    lanes.f32(b, v as f32)
}

pub(crate) fn unary(b: &mut FunctionBuilder, lanes: Lanes, op: &UnaryOp, x: Value) -> Value {
    use UnaryOp::*;
    match op {
        Neg => b.ins().fneg(x),
        Abs => b.ins().fabs(x),
        Sign => {
            let zero = lanes.f32(b, 0.0);
            let one = lanes.f32(b, 1.0);
            let minus = lanes.f32(b, -1.0);
            let pos = compare(b, FloatCC::GreaterThan, x, zero);
            let neg = compare(b, FloatCC::LessThan, x, zero);
            let low = select(b, lanes, neg, minus, x);
            select(b, lanes, pos, one, low)
        }
        Recip => {
            let one = lanes.f32(b, 1.0);
            b.ins().fdiv(one, x)
        }
        Square => b.ins().fmul(x, x),
        Exp => math::emit(b, MathFn::Exp, x),
        Log => math::emit(b, MathFn::Log, x),
        Log1p => math::emit(b, MathFn::Log1p, x),
        Expm1 => math::emit(b, MathFn::Expm1, x),
        Tanh => math::emit(b, MathFn::Tanh, x),
        Erf => math::emit(b, MathFn::Erf, x),
        Sigmoid => math::emit(b, MathFn::Sigmoid, x),
        Sqrt => b.ins().sqrt(x),
        Rsqrt => {
            let one = lanes.f32(b, 1.0);
            let root = b.ins().sqrt(x);
            b.ins().fdiv(one, root)
        }
        Relu => {
            let zero = lanes.f32(b, 0.0);
            let negative = compare(b, FloatCC::LessThan, x, zero);
            select(b, lanes, negative, zero, x)
        }
        Gelu => math::emit(b, MathFn::Gelu, x),
        GeluTanh => math::emit(b, MathFn::GeluTanh, x),
        Silu => math::emit(b, MathFn::Silu, x),
        Softplus => math::emit(b, MathFn::Softplus, x),
        Mish => math::emit(b, MathFn::Mish, x),
        Floor => b.ins().floor(x),
        Ceil => b.ins().ceil(x),
        Round => b.ins().nearest(x),
        Trunc => b.ins().trunc(x),
        LeakyRelu { slope } => {
            let zero = lanes.f32(b, 0.0);
            let s = scalar_of(b, lanes, slope.to_f64());
            let scaled = b.ins().fmul(x, s);
            let positive = compare(b, FloatCC::GreaterThan, x, zero);
            select(b, lanes, positive, x, scaled)
        }
        Elu { alpha } => {
            let zero = lanes.f32(b, 0.0);
            let a = scalar_of(b, lanes, alpha.to_f64());
            let em1 = math::emit(b, MathFn::Expm1, x);
            let scaled = b.ins().fmul(a, em1);
            let positive = compare(b, FloatCC::GreaterThan, x, zero);
            select(b, lanes, positive, x, scaled)
        }
        Clamp { min, max } => {
            let mut v = x;
            if let Some(lo) = min {
                let lo = scalar_of(b, lanes, lo.to_f64());
                v = b.ins().fmax(v, lo);
            }
            if let Some(hi) = max {
                let hi = scalar_of(b, lanes, hi.to_f64());
                v = b.ins().fmin(v, hi);
            }
            let nan = compare(b, FloatCC::Unordered, x, x);
            select(b, lanes, nan, x, v)
        }
        NanToNum { nan, posinf, neginf } => {
            let inf = lanes.f32(b, f32::INFINITY);
            let ninf = lanes.f32(b, f32::NEG_INFINITY);
            let nan_v = scalar_of(b, lanes, nan.to_f64());
            let pos_v = scalar_of(b, lanes, posinf.to_f64());
            let neg_v = scalar_of(b, lanes, neginf.to_f64());
            let is_nan = compare(b, FloatCC::Unordered, x, x);
            let is_pos = compare(b, FloatCC::Equal, x, inf);
            let is_neg = compare(b, FloatCC::Equal, x, ninf);
            let v = select(b, lanes, is_neg, neg_v, x);
            let v = select(b, lanes, is_pos, pos_v, v);
            select(b, lanes, is_nan, nan_v, v)
        }
        LogicalNot => not(b, lanes, x),
        IsNan => compare(b, FloatCC::Unordered, x, x),
        IsInf => {
            let inf = lanes.f32(b, f32::INFINITY);
            let abs = b.ins().fabs(x);
            compare(b, FloatCC::Equal, abs, inf)
        }
        Exp2 | Log2 | Sin | Cos | Tan => unreachable!("{} has no generated code (supports_unary)", op.name()),
    }
}

pub(crate) fn binary(b: &mut FunctionBuilder, lanes: Lanes, op: &BinaryOp, x: Value, y: Value) -> Value {
    use BinaryOp::*;
    match op {
        Add => b.ins().fadd(x, y),
        Sub => b.ins().fsub(x, y),
        Mul => b.ins().fmul(x, y),
        Div => b.ins().fdiv(x, y),
        Minimum => b.ins().fmin(x, y),
        Maximum => b.ins().fmax(x, y),
        Eq => compare(b, FloatCC::Equal, x, y),
        Ne => compare(b, FloatCC::NotEqual, x, y),
        Lt => compare(b, FloatCC::LessThan, x, y),
        Le => compare(b, FloatCC::LessThanOrEqual, x, y),
        Gt => compare(b, FloatCC::GreaterThan, x, y),
        Ge => compare(b, FloatCC::GreaterThanOrEqual, x, y),
        LogicalAnd => b.ins().band(x, y),
        LogicalOr => b.ins().bor(x, y),
        LogicalXor => {
            let _ = lanes;
            b.ins().bxor(x, y)
        }
        Rem | Pow => unreachable!("{} has no generated code (supports_binary)", op.name()),
    }
}
