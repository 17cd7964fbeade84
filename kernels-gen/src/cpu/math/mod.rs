//! Math functions for kernels (placeholder: calls into libm lane by lane).

use cranelift_codegen::ir::{AbiParam, InstBuilder, Signature, Value, types};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;

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

extern "C" fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + x.neg_exp())
}

trait NegExp {
    fn neg_exp(self) -> f32;
}
impl NegExp for f32 {
    fn neg_exp(self) -> f32 {
        (-self).exp()
    }
}

extern "C" fn exp(x: f32) -> f32 {
    x.exp()
}
extern "C" fn log(x: f32) -> f32 {
    x.ln()
}
extern "C" fn log1p(x: f32) -> f32 {
    x.ln_1p()
}
extern "C" fn expm1(x: f32) -> f32 {
    x.exp_m1()
}
extern "C" fn tanh(x: f32) -> f32 {
    x.tanh()
}
extern "C" fn erf(x: f32) -> f32 {
    erf_f32(x)
}

fn erf_f32(x: f32) -> f32 {
    // Abramowitz-Stegun 7.1.26 is too coarse; go through f64.
    let t = x as f64;
    let mut sum = 0.0f64;
    let mut term = t;
    let mut n = 0.0f64;
    if t.abs() > 4.0 {
        return x.signum();
    }
    while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3.0 {
        sum += term / (2.0 * n + 1.0);
        n += 1.0;
        term *= -t * t / n;
        if n > 200.0 {
            break;
        }
    }
    (sum * std::f64::consts::FRAC_2_SQRT_PI) as f32
}

/// Emits `f(x)` for `x` of type F32 or F32X4.
pub fn emit(builder: &mut FunctionBuilder, f: MathFn, x: Value) -> Value {
    let callee: extern "C" fn(f32) -> f32 = match f {
        MathFn::Exp => exp,
        MathFn::Log => log,
        MathFn::Log1p => log1p,
        MathFn::Expm1 => expm1,
        MathFn::Tanh => tanh,
        MathFn::Erf => erf,
        MathFn::Sigmoid => sigmoid,
    };
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(types::F32));
    sig.returns.push(AbiParam::new(types::F32));
    let sig = builder.import_signature(sig);
    let ty = builder.func.dfg.value_type(x);
    let call = |b: &mut FunctionBuilder, v: Value| {
        let addr = b.ins().iconst(types::I64, callee as usize as i64);
        let inst = b.ins().call_indirect(sig, addr, &[v]);
        b.inst_results(inst)[0]
    };
    if ty == types::F32 {
        return call(builder, x);
    }
    let first = x.clone_first_lane(builder);
    let mut out = builder.ins().splat(types::F32X4, first);
    for lane in 0..4u8 {
        let v = builder.ins().extractlane(x, lane);
        let r = call(builder, v);
        out = builder.ins().insertlane(out, r, lane);
    }
    out
}

trait FirstLane {
    fn clone_first_lane(self, b: &mut FunctionBuilder) -> Value;
}
impl FirstLane for Value {
    fn clone_first_lane(self, b: &mut FunctionBuilder) -> Value {
        b.ins().extractlane(self, 0)
    }
}
