//! IEEE half precision in and out of f32 with integer operations (Cranelift has no portable
//! f16 conversion): exact widening, and narrowing rounded to nearest even with overflow to
//! infinity, subnormal results and NaNs kept NaN.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;

/// The exponent bias difference, 127 - 15, in f32's exponent field.
const REBIAS: i64 = 112 << 23;
/// The smallest f32 that rounds to infinity in f16: 65520.
const OVERFLOW: i64 = 0x477f_f000;
/// The smallest normal f16, 2^-14, as f32 bits.
const SMALLEST_NORMAL: i64 = 0x3880_0000;

fn bits(b: &mut FunctionBuilder, v: Value) -> Value {
    b.ins().bitcast(types::I32, MemFlagsData::new(), v)
}

fn float(b: &mut FunctionBuilder, v: Value) -> Value {
    b.ins().bitcast(types::F32, MemFlagsData::new(), v)
}

/// f16 bits (zero-extended in an i32) to the f32 of the same value.
pub(crate) fn widen(b: &mut FunctionBuilder, half: Value) -> Value {
    let sign = b.ins().band_imm_u(half, 0x8000);
    let sign = b.ins().ishl_imm_u(sign, 16);
    let magnitude = b.ins().band_imm_u(half, 0x7fff);
    let shifted = b.ins().ishl_imm_u(magnitude, 13);
    let normal = b.ins().iadd_imm_s(shifted, REBIAS);
    let special = b.ins().iadd_imm_s(shifted, 2 * REBIAS);
    // Zero and subnormals: the mantissa times 2^-24, exact in f32.
    let count = b.ins().fcvt_from_sint(types::F32, magnitude);
    let ulp = b.ins().f32const(f32::from_bits(0x3380_0000));
    let small = b.ins().fmul(count, ulp);
    let small = bits(b, small);
    let exponent = b.ins().band_imm_u(half, 0x7c00);
    let is_special = b.ins().icmp_imm_s(IntCC::Equal, exponent, 0x7c00);
    let is_small = b.ins().icmp_imm_s(IntCC::Equal, exponent, 0);
    let value = b.ins().select(is_small, small, normal);
    let value = b.ins().select(is_special, special, value);
    let value = b.ins().bor(value, sign);
    float(b, value)
}

/// An f32 to f16 bits (in the low half of an i32), rounded to nearest even.
pub(crate) fn narrow(b: &mut FunctionBuilder, v: Value) -> Value {
    let all = bits(b, v);
    let sign = b.ins().ushr_imm_u(all, 16);
    let sign = b.ins().band_imm_u(sign, 0x8000);
    let magnitude = b.ins().band_imm_u(all, 0x7fff_ffff);
    // Normal results: rebias, then round the 13 dropped bits to nearest even.
    let rebiased = b.ins().iadd_imm_s(magnitude, -REBIAS);
    let odd = b.ins().ushr_imm_u(rebiased, 13);
    let odd = b.ins().band_imm_u(odd, 1);
    let rounded = b.ins().iadd_imm_s(rebiased, 0xfff);
    let rounded = b.ins().iadd(rounded, odd);
    let normal = b.ins().ushr_imm_u(rounded, 13);
    // Subnormal results: adding 0.5 (whose ulp is 2^-24, the f16 subnormal step) makes the
    // FPU round the value to a multiple of 2^-24; the mantissa bits are then the result.
    let absolute = float(b, magnitude);
    let half = b.ins().f32const(0.5);
    let aligned = b.ins().fadd(absolute, half);
    let aligned = bits(b, aligned);
    let small = b.ins().iadd_imm_s(aligned, -0x3f00_0000);
    let is_small = b.ins().icmp_imm_s(IntCC::UnsignedLessThan, magnitude, SMALLEST_NORMAL);
    let overflows = b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, magnitude, OVERFLOW);
    let is_nan = b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, magnitude, 0x7f80_0000);
    let infinity = b.ins().iconst(types::I32, 0x7c00);
    let quiet_nan = b.ins().iconst(types::I32, 0x7e00);
    let value = b.ins().select(is_small, small, normal);
    let value = b.ins().select(overflows, infinity, value);
    let value = b.ins().select(is_nan, quiet_nan, value);
    b.ins().bor(value, sign)
}
