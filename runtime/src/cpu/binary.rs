//! Elementwise ops of two operands with broadcasting, and `where`.

use super::copy::scalar_as;
use crate::element::Element;
use crate::layout::Layout;
use crate::parallel::{ELEMENTWISE_GRAIN, SendPtr};
use crate::storage::{Storage, View};
use crate::strided::Plan;
use half::{bf16, f16};
use ignis_ir::{BinaryOp, DType, Scalar};

/// Arithmetic and comparison per element type.
pub trait Arith: Element {
    fn arith(op: BinaryOp, a: Self, b: Self) -> Self;
    fn compare(op: BinaryOp, a: Self, b: Self) -> bool {
        use BinaryOp::*;
        match op {
            Eq => a == b,
            Ne => a != b,
            Lt => a < b,
            Le => a <= b,
            Gt => a > b,
            Ge => a >= b,
            LogicalAnd => a != Self::zero() && b != Self::zero(),
            LogicalOr => a != Self::zero() || b != Self::zero(),
            LogicalXor => (a != Self::zero()) != (b != Self::zero()),
            other => unreachable!("{} is not a comparison", other.name()),
        }
    }
}

macro_rules! float_arith {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)]
            fn arith(op: BinaryOp, a: $t, b: $t) -> $t {
                use BinaryOp::*;
                match op {
                    Add => a + b,
                    Sub => a - b,
                    Mul => a * b,
                    Div => a / b,
                    Rem => {
                        let r = a % b;
                        if r != 0.0 && (r < 0.0) != (b < 0.0) { r + b } else { r }
                    }
                    Pow => a.powf(b),
                    Minimum => {
                        if a.is_nan() || b.is_nan() {
                            <$t>::NAN
                        } else {
                            a.min(b)
                        }
                    }
                    Maximum => {
                        if a.is_nan() || b.is_nan() {
                            <$t>::NAN
                        } else {
                            a.max(b)
                        }
                    }
                    other => unreachable!("{} is not arithmetic", other.name()),
                }
            }
        }
    };
}
float_arith!(f32);
float_arith!(f64);

macro_rules! int_arith {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)]
            fn arith(op: BinaryOp, a: $t, b: $t) -> $t {
                use BinaryOp::*;
                match op {
                    Add => a.wrapping_add(b),
                    Sub => a.wrapping_sub(b),
                    Mul => a.wrapping_mul(b),
                    Div | Rem if b == 0 => panic!("{}: integer division by zero", op.name()),
                    Div => a.wrapping_div(b),
                    Rem => {
                        let r = a.wrapping_rem(b);
                        #[allow(unused_comparisons)]
                        if r != 0 && ((r < 0) != (b < 0)) { r.wrapping_add(b) } else { r }
                    }
                    Pow => {
                        #[allow(unused_comparisons)]
                        if b < 0 {
                            panic!("pow: integers cannot be raised to a negative power ({b})");
                        }
                        a.wrapping_pow(b as u32)
                    }
                    Minimum => a.min(b),
                    Maximum => a.max(b),
                    other => unreachable!("{} is not arithmetic", other.name()),
                }
            }
        }
    };
}
int_arith!(i64);
int_arith!(i32);
int_arith!(u8);

impl Arith for bool {
    fn arith(op: BinaryOp, a: bool, b: bool) -> bool {
        use BinaryOp::*;
        match op {
            Add | Maximum => a | b,
            Mul | Minimum => a & b,
            other => panic!("{}: not defined for bool tensors", other.name()),
        }
    }
}

/// `a op b` with broadcasting to `out_shape`. Both operands have the same dtype, the one
/// `op.compute_dtype` chose; half floats compute in f32 and round once at the end.
pub fn binary(op: BinaryOp, a: View, b: View, out_shape: &[usize]) -> Storage {
    let dtype = a.dtype();
    assert_eq!(dtype, b.dtype(), "{}: operands must share a dtype", op.name());
    let la = a.layout.expand(out_shape).expect("shapes were broadcast by the caller");
    let lb = b.layout.expand(out_shape).expect("shapes were broadcast by the caller");
    let out_layout = Layout::contiguous(out_shape);
    let plan = Plan::new(out_shape, [&out_layout.strides, &la.strides, &lb.strides]);
    let out_dtype = op.result_dtype(dtype);
    let out = Storage::uninit(out_dtype, out_layout.numel());
    let (va, vb) = (View::new(a.storage, &la), View::new(b.storage, &lb));
    let compare = op.is_comparison() || op.is_logical();
    macro_rules! go {
        ($t:ty) => {
            if compare {
                run::<$t, bool>(&plan, va, vb, &out, move |x, y| <$t>::compare(op, x, y))
            } else {
                arith_loops::<$t>(op, &plan, va, vb, &out)
            }
        };
    }
    match dtype {
        DType::F32 => go!(f32),
        DType::F64 => go!(f64),
        DType::I64 => go!(i64),
        DType::I32 => go!(i32),
        DType::U8 => go!(u8),
        DType::Bool => go!(bool),
        DType::F16 => half_binary::<f16>(op, compare, &plan, va, vb, &out),
        DType::BF16 => half_binary::<bf16>(op, compare, &plan, va, vb, &out),
    }
    out
}

fn half_binary<H: Element>(op: BinaryOp, compare: bool, plan: &Plan<3>, a: View, b: View, out: &Storage) {
    if compare {
        run::<H, bool>(plan, a, b, out, move |x, y| f32::compare(op, x.to_f32(), y.to_f32()))
    } else {
        run::<H, H>(plan, a, b, out, move |x, y| H::from_f32(f32::arith(op, x.to_f32(), y.to_f32())))
    }
}

/// One loop per arithmetic op, so each inner loop is a straight-line vectorizable body.
fn arith_loops<T: Arith>(op: BinaryOp, plan: &Plan<3>, a: View, b: View, out: &Storage) {
    use BinaryOp::*;
    match op {
        Add => run::<T, T>(plan, a, b, out, |x, y| T::arith(Add, x, y)),
        Sub => run::<T, T>(plan, a, b, out, |x, y| T::arith(Sub, x, y)),
        Mul => run::<T, T>(plan, a, b, out, |x, y| T::arith(Mul, x, y)),
        Div => run::<T, T>(plan, a, b, out, |x, y| T::arith(Div, x, y)),
        other => run::<T, T>(plan, a, b, out, move |x, y| T::arith(other, x, y)),
    }
}

/// The strided driver: picks a loop shape per segment from the inner strides.
fn run<T: Element, U: Element>(plan: &Plan<3>, a: View, b: View, out: &Storage, f: impl Fn(T, T) -> U + Sync) {
    let [_, sa, sb] = plan.inner_strides();
    let pa = SendPtr(a.base_ptr::<T>() as *mut T);
    let pb = SendPtr(b.base_ptr::<T>() as *mut T);
    let po = SendPtr(out.as_ptr::<U>());
    plan.par_segments(ELEMENTWISE_GRAIN, |[oo, oa, ob], len| {
        // SAFETY: offsets come from layouts within their storages; output segments are
        // disjoint and the output is fresh storage.
        unsafe {
            let o = std::slice::from_raw_parts_mut(po.get().offset(oo), len);
            let xa = pa.get().offset(oa) as *const T;
            let xb = pb.get().offset(ob) as *const T;
            match (sa, sb) {
                (1, 1) => {
                    let (sa, sb) = (std::slice::from_raw_parts(xa, len), std::slice::from_raw_parts(xb, len));
                    for ((d, &x), &y) in o.iter_mut().zip(sa).zip(sb) {
                        *d = f(x, y);
                    }
                }
                (1, 0) => {
                    let (sa, y) = (std::slice::from_raw_parts(xa, len), *xb);
                    for (d, &x) in o.iter_mut().zip(sa) {
                        *d = f(x, y);
                    }
                }
                (0, 1) => {
                    let (x, sb) = (*xa, std::slice::from_raw_parts(xb, len));
                    for (d, &y) in o.iter_mut().zip(sb) {
                        *d = f(x, y);
                    }
                }
                _ => {
                    for (i, d) in o.iter_mut().enumerate() {
                        let i = i as isize;
                        *d = f(*xa.offset(i * sa), *xb.offset(i * sb));
                    }
                }
            }
        }
    });
}

/// `a op s` (or `s op a` when `scalar_first`) for a host scalar, without materializing it.
pub fn binary_scalar(op: BinaryOp, a: View, s: Scalar, scalar_first: bool) -> Storage {
    let dtype = a.dtype();
    let scalar_storage = match dtype {
        DType::F16 | DType::BF16 => Storage::from_slice(&[s.to_f64() as f32]),
        _ => crate::with_dtype!(dtype, T => Storage::from_slice(&[scalar_as::<T>(s)])),
    };
    let scalar_storage = if dtype.is_half() {
        super::copy::cast(View::new(&scalar_storage, &Layout::contiguous(&[])), dtype)
    } else {
        scalar_storage
    };
    let scalar_layout = Layout { shape: Default::default(), strides: Default::default(), offset: 0 };
    let sv = View::new(&scalar_storage, &scalar_layout);
    if scalar_first { binary(op, sv, a, a.shape()) } else { binary(op, a, sv, a.shape()) }
}

/// `where(cond, a, b)`: picks from `a` where `cond` is true, else from `b`, broadcasting all three.
pub fn where_select(cond: View, a: View, b: View, out_shape: &[usize]) -> Storage {
    assert_eq!(cond.dtype(), DType::Bool, "where: the condition must be bool");
    assert_eq!(a.dtype(), b.dtype(), "where: both branches must share a dtype");
    let lc = cond.layout.expand(out_shape).expect("broadcast by caller");
    let la = a.layout.expand(out_shape).expect("broadcast by caller");
    let lb = b.layout.expand(out_shape).expect("broadcast by caller");
    let out_layout = Layout::contiguous(out_shape);
    let plan = Plan::new(out_shape, [&out_layout.strides, &lc.strides, &la.strides, &lb.strides]);
    let out = Storage::uninit(a.dtype(), out_layout.numel());
    crate::with_dtype!(a.dtype(), T => {
        let [_, sc, sa, sb] = plan.inner_strides();
        let pc = SendPtr(View::new(cond.storage, &lc).base_ptr::<bool>() as *mut bool);
        let pa = SendPtr(View::new(a.storage, &la).base_ptr::<T>() as *mut T);
        let pb = SendPtr(View::new(b.storage, &lb).base_ptr::<T>() as *mut T);
        let po = SendPtr(out.as_ptr::<T>());
        plan.par_segments(ELEMENTWISE_GRAIN, |[oo, oc, oa, ob], len| {
            for i in 0..len as isize {
                // SAFETY: offsets within the layouts; disjoint output segments.
                unsafe {
                    let c = *pc.get().offset(oc + i * sc);
                    *po.get().offset(oo + i) = if c { *pa.get().offset(oa + i * sa) } else { *pb.get().offset(ob + i * sb) };
                }
            }
        });
    });
    out
}
