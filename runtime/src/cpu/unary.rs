//! Elementwise ops of one operand.

use super::copy::{cast, contiguous};
use super::math::*;
use crate::element::Element;
use crate::layout::Layout;
use crate::parallel::{self, ELEMENTWISE_GRAIN};
use crate::storage::{Storage, View};
use ignis_ir::{DType, UnaryOp};

/// Float math per element type: f32 takes the vectorizable approximations of `math`,
/// f64 the exact `std`/`libm` functions.
pub trait Float: Element + std::ops::Neg<Output = Self> {
    fn apply(op: UnaryOp, x: Self) -> Self;
}

macro_rules! float_apply {
    ($t:ty, $x:ident, $op:ident, $exp:expr, $tanh:expr, $sigmoid:expr, $gelu_tanh:expr, $silu:expr, $softplus:expr, $erf:expr) => {{
        use UnaryOp::*;
        let x = $x;
        match $op {
            Neg => -x,
            Abs => x.abs(),
            Sign => sign(x, 0.0, 1.0, -1.0),
            Recip => 1.0 / x,
            Square => x * x,
            Exp => $exp(x),
            Exp2 => x.exp2(),
            Log => x.ln(),
            Log2 => x.log2(),
            Log1p => x.ln_1p(),
            Expm1 => x.exp_m1(),
            Sqrt => x.sqrt(),
            Rsqrt => 1.0 / x.sqrt(),
            Sin => x.sin(),
            Cos => x.cos(),
            Tan => x.tan(),
            Tanh => $tanh(x),
            Erf => $erf(x),
            Sigmoid => $sigmoid(x),
            Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Gelu => 0.5 * x * (1.0 + $erf(x * std::f64::consts::FRAC_1_SQRT_2 as $t)),
            GeluTanh => $gelu_tanh(x),
            Silu => $silu(x),
            Softplus => $softplus(x),
            Mish => x * $tanh($softplus(x)),
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round_ties_even(),
            Trunc => x.trunc(),
            LeakyRelu { slope } => {
                if x > 0.0 {
                    x
                } else {
                    x * slope.to_f64() as $t
                }
            }
            Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha.to_f64() as $t * x.exp_m1()
                }
            }
            Clamp { min, max } => {
                let mut v = x;
                if let Some(lo) = min {
                    v = v.max(lo.to_f64() as $t)
                }
                if let Some(hi) = max {
                    v = v.min(hi.to_f64() as $t)
                }
                if x.is_nan() { x } else { v }
            }
            NanToNum { nan, posinf, neginf } => {
                if x.is_nan() {
                    nan.to_f64() as $t
                } else if x == <$t>::INFINITY {
                    posinf.to_f64() as $t
                } else if x == <$t>::NEG_INFINITY {
                    neginf.to_f64() as $t
                } else {
                    x
                }
            }
            LogicalNot | IsNan | IsInf => unreachable!("predicates are handled by `predicate`"),
        }
    }};
}

impl Float for f32 {
    #[inline(always)]
    fn apply(op: UnaryOp, x: f32) -> f32 {
        float_apply!(f32, x, op, exp_f32, tanh_f32, sigmoid_f32, gelu_tanh_f32, silu_f32, softplus_f32, libm::erff)
    }
}

impl Float for f64 {
    #[inline(always)]
    fn apply(op: UnaryOp, x: f64) -> f64 {
        float_apply!(
            f64,
            x,
            op,
            f64::exp,
            f64::tanh,
            |v: f64| 1.0 / (1.0 + (-v).exp()),
            gelu_tanh_f64,
            |v: f64| v / (1.0 + (-v).exp()),
            softplus_f64,
            libm::erf
        )
    }
}

/// Applies `op` to every element; the result is contiguous.
pub fn unary(op: UnaryOp, x: View) -> Storage {
    let dtype = x.dtype();
    if op.is_predicate() {
        return predicate(op, x);
    }
    if op.needs_float() && !dtype.is_float() {
        let xf = cast(x, DType::F32);
        let l = Layout::contiguous(x.shape());
        return unary(op, View::new(&xf, &l));
    }
    if dtype.is_half() {
        let xf = cast(x, DType::F32);
        let l = Layout::contiguous(x.shape());
        let y = unary(op, View::new(&xf, &l));
        return cast(View::new(&y, &l), dtype);
    }
    let mut holder = None;
    let x = dense(x, &mut holder);
    let out = Storage::uninit(dtype, x.numel());
    match dtype {
        DType::F32 => map_float::<f32>(op, x, &out),
        DType::F64 => map_float::<f64>(op, x, &out),
        DType::I64 => map_int::<i64>(op, x, &out),
        DType::I32 => map_int::<i32>(op, x, &out),
        DType::U8 => map_int::<u8>(op, x, &out),
        DType::Bool => map_bool(op, x, &out),
        DType::F16 | DType::BF16 => unreachable!("half floats were widened above"),
    }
    out
}

/// Maps a contiguous float input. The match on `op` sits outside the loop: each arm is
/// its own monomorphized, vectorizable loop.
fn map_float<T: Float>(op: UnaryOp, x: View, out: &Storage) {
    let input = x.contiguous_slice::<T>().expect("contiguous");
    // SAFETY: `out` is fresh storage owned by the caller; nothing else reads it yet.
    let o = unsafe { out.slice_mut::<T>() };
    macro_rules! run {
        ($($pat:ident),*) => {
            match op {
                $($pat => parallel::for_chunks_mut(o, ELEMENTWISE_GRAIN, |s, c| {
                    let n = c.len();
                    for (d, &v) in c.iter_mut().zip(&input[s..s + n]) {
                        *d = T::apply($pat, v);
                    }
                }),)*
                other => parallel::for_chunks_mut(o, ELEMENTWISE_GRAIN, |s, c| {
                    let n = c.len();
                    for (d, &v) in c.iter_mut().zip(&input[s..s + n]) {
                        *d = T::apply(other, v);
                    }
                }),
            }
        };
    }
    use UnaryOp::*;
    run!(Neg, Abs, Exp, Tanh, Sigmoid, Relu, GeluTanh, Silu, Square, Sqrt, Rsqrt, Recip, Gelu, Log)
}

trait Int: Element + Ord {
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn sign(self) -> Self;
    fn square(self) -> Self;
}

macro_rules! int_impl {
    ($t:ty, signed) => {
        impl Int for $t {
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            fn abs(self) -> Self {
                self.wrapping_abs()
            }
            fn sign(self) -> Self {
                self.signum()
            }
            fn square(self) -> Self {
                self.wrapping_mul(self)
            }
        }
    };
    ($t:ty, unsigned) => {
        impl Int for $t {
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            fn abs(self) -> Self {
                self
            }
            fn sign(self) -> Self {
                (self > 0) as $t
            }
            fn square(self) -> Self {
                self.wrapping_mul(self)
            }
        }
    };
}
int_impl!(i64, signed);
int_impl!(i32, signed);
int_impl!(u8, unsigned);

fn map_int<T: Int>(op: UnaryOp, x: View, out: &Storage) {
    let input = x.contiguous_slice::<T>().expect("contiguous");
    // SAFETY: fresh storage owned by the caller.
    let o = unsafe { out.slice_mut::<T>() };
    let f = |v: T| -> T {
        use UnaryOp::*;
        match op {
            Neg => v.neg(),
            Abs => v.abs(),
            Sign => v.sign(),
            Square => v.square(),
            Relu => v.max(T::zero()),
            Floor | Ceil | Round | Trunc => v,
            Clamp { min, max } => {
                let mut r = v;
                if let Some(lo) = min {
                    r = r.max(T::from_i64(lo.to_i64()));
                }
                if let Some(hi) = max {
                    r = r.min(T::from_i64(hi.to_i64()));
                }
                r
            }
            other => unreachable!("{} on integers is computed in float", other.name()),
        }
    };
    parallel::for_chunks_mut(o, ELEMENTWISE_GRAIN, |s, c| {
        let n = c.len();
        for (d, &v) in c.iter_mut().zip(&input[s..s + n]) {
            *d = f(v);
        }
    });
}

fn map_bool(op: UnaryOp, x: View, out: &Storage) {
    let input = x.contiguous_slice::<bool>().expect("contiguous");
    // SAFETY: fresh storage owned by the caller.
    let o = unsafe { out.slice_mut::<bool>() };
    for (d, &v) in o.iter_mut().zip(input) {
        *d = match op {
            UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Sign | UnaryOp::Square | UnaryOp::Clamp { .. } => v,
            other => panic!("{}: not defined for bool tensors", other.name()),
        };
    }
}

/// `x` itself when contiguous, else a contiguous copy kept alive in `holder`.
fn dense<'a>(x: View<'a>, holder: &'a mut Option<(Storage, Layout)>) -> View<'a> {
    if x.layout.is_contiguous() {
        return x;
    }
    let (storage, layout) = holder.insert((contiguous(x), Layout::contiguous(x.shape())));
    View::new(storage, layout)
}

/// Ops that answer a question per element (isnan, isinf, logical_not): always bool.
fn predicate(op: UnaryOp, x: View) -> Storage {
    let mut holder = None;
    let x = dense(x, &mut holder);
    let out = Storage::uninit(DType::Bool, x.numel());
    // SAFETY: fresh storage owned here.
    let o = unsafe { out.slice_mut::<bool>() };
    crate::with_dtype!(x.dtype(), T => {
        let input = x.contiguous_slice::<T>().expect("contiguous");
        for (d, &v) in o.iter_mut().zip(input) {
            let f = v.to_f64();
            *d = match op {
                UnaryOp::IsNan => f.is_nan(),
                UnaryOp::IsInf => f.is_infinite(),
                UnaryOp::LogicalNot => f == 0.0,
                _ => unreachable!(),
            };
        }
    });
    out
}
