//! Elementwise ops of two tensors (or a tensor and a scalar), with broadcasting.

use super::{run_op, traced_constant};
use super::{shape_or_panic, sum_to};
use crate::autograd::{Saved, record_out};
use crate::tensor::Tensor;
use ignis_ir::{BinaryOp, DType, Op, Scalar};
use ignis_runtime::{Device, Layout, cpu};

/// Runs `op` with PyTorch's promotion and broadcasting; no autograd.
pub(crate) fn binary_raw(op: BinaryOp, a: &Tensor, b: &Tensor) -> Tensor {
    let shape = shape_or_panic(op.name(), ignis_ir::shape::broadcast(a.shape(), b.shape()));
    let compute = op.compute_dtype(DType::promote(a.dtype(), b.dtype()));
    let a = a.to_dtype_raw(compute);
    let b = b.to_dtype_raw(compute);
    run_op(Op::Binary(op), &[&a, &b], op.result_dtype(compute), &shape)
}

fn scalar_raw(op: BinaryOp, a: &Tensor, s: Scalar, scalar_first: bool) -> Tensor {
    let compute = op.compute_dtype(DType::promote_with_scalar(a.dtype(), s.kind()));
    let a = a.to_dtype_raw(compute);
    // Traced, the scalar is a constant node; eager, it never becomes a tensor.
    if let Some(c) = traced_constant(s, compute, &[]) {
        let inputs: [&Tensor; 2] = if scalar_first { [&c, &a] } else { [&a, &c] };
        return run_op(Op::Binary(op), &inputs, op.result_dtype(compute), a.shape());
    }
    if a.device() != Device::Cpu {
        // On a GPU the scalar travels as a 0-dim tensor.
        let c = Tensor::full(Vec::<usize>::new(), s, compute);
        let inputs: [&Tensor; 2] = if scalar_first { [&c, &a] } else { [&a, &c] };
        return run_op(Op::Binary(op), &inputs, op.result_dtype(compute), a.shape());
    }
    let storage = cpu::binary_scalar(op, a.kernel_view(), s, scalar_first);
    Tensor::from_parts(storage, Layout::contiguous(a.shape()))
}

impl Tensor {
    /// A dtype conversion that records nothing (for internal promotion; the caller's rule
    /// casts the gradient back itself).
    pub(crate) fn to_dtype_raw(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype { self.clone() } else { run_op(Op::Cast(dtype), &[self], dtype, self.shape()) }
    }

    fn binary_with_grad(&self, other: &Tensor, op: BinaryOp) -> Tensor {
        let out = binary_raw(op, self, other);
        let (sa, sb) = ((self.dims(), self.dtype()), (other.dims(), other.dtype()));
        let (want_a, want_b) = (self.requires_grad(), other.requires_grad());
        let name = match op {
            BinaryOp::Add => "AddBackward",
            BinaryOp::Sub => "SubBackward",
            BinaryOp::Mul => "MulBackward",
            BinaryOp::Div => "DivBackward",
            BinaryOp::Pow => "PowBackward",
            BinaryOp::Minimum => "MinimumBackward",
            BinaryOp::Maximum => "MaximumBackward",
            BinaryOp::Rem => "RemainderBackward",
            _ => "NonDifferentiable",
        };
        if op.is_comparison() || op.is_logical() {
            return out;
        }
        // Sums and differences need no operand values; keeping them would hold memory.
        let keeps_operands = !matches!(op, BinaryOp::Add | BinaryOp::Sub);
        let a = keeps_operands.then(|| Saved::new(name, self));
        let b = keeps_operands.then(|| Saved::new(name, other));
        record_out(name, &[self, other], out, move |g| {
            let operand = |s: &Option<Saved>| s.as_ref().expect("saved for this op").get().clone();
            let (a, b) = (|| operand(&a), || operand(&b));
            let (ga, gb): (Option<Tensor>, Option<Tensor>) = match op {
                BinaryOp::Add => (want_a.then(|| g.clone()), want_b.then(|| g.clone())),
                BinaryOp::Sub => (want_a.then(|| g.clone()), want_b.then(|| g.neg())),
                BinaryOp::Mul => (want_a.then(|| g.mul(&b())), want_b.then(|| g.mul(&a()))),
                BinaryOp::Div => {
                    let (x, y) = (&a(), &b());
                    (want_a.then(|| g.div(y)), want_b.then(|| g.mul(x).div(&y.mul(y)).neg()))
                }
                BinaryOp::Pow => {
                    let (x, y) = (&a(), &b());
                    let ga = want_a.then(|| g.mul(y).mul(&x.pow(&y.sub_scalar(1.0))));
                    // d(x^y)/dy = x^y ln x, taken as 0 where x <= 0 (as for integer powers).
                    let gb = want_b.then(|| {
                        let positive = x.gt_scalar(0.0);
                        let safe = positive.where_(x, &x.ones_like());
                        g.mul(&x.pow(y)).mul(&safe.log()).mul(&positive.to_dtype(g.dtype()))
                    });
                    (ga, gb)
                }
                BinaryOp::Minimum | BinaryOp::Maximum => {
                    let (x, y) = (&a(), &b());
                    let x_wins = if op == BinaryOp::Minimum { x.lt(y) } else { x.gt(y) };
                    // Ties split the gradient evenly, as in PyTorch.
                    let tie = x.eq(y).to_dtype(g.dtype()).mul_scalar(0.5);
                    let share_a = x_wins.to_dtype(g.dtype()).add(&tie);
                    let ga = want_a.then(|| g.mul(&share_a));
                    let gb = want_b.then(|| g.mul(&share_a.rsub_scalar(1.0)));
                    (ga, gb)
                }
                BinaryOp::Rem => {
                    let (x, y) = (&a(), &b());
                    (want_a.then(|| g.clone()), want_b.then(|| g.mul(&x.div(y).floor()).neg()))
                }
                _ => unreachable!("non-differentiable ops returned above"),
            };
            vec![ga.map(|g| sum_to(&g, &sa.0, sa.1)), gb.map(|g| sum_to(&g, &sb.0, sb.1))]
        })
    }

    fn scalar_with_grad(&self, s: Scalar, op: BinaryOp, scalar_first: bool) -> Tensor {
        let out = scalar_raw(op, self, s, scalar_first);
        if op.is_comparison() || op.is_logical() {
            return out;
        }
        let dtype = self.dtype();
        let v = s.to_f64();
        let linear =
            matches!((op, scalar_first), (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul, _) | (BinaryOp::Div, false));
        let saved = (!linear).then(|| Saved::new("ScalarOpBackward", self));
        record_out("ScalarOpBackward", &[self], out, move |g| {
            let x = || saved.as_ref().expect("saved for this op");
            let gx = match (op, scalar_first) {
                (BinaryOp::Add, _) => g.clone(),
                (BinaryOp::Sub, false) => g.clone(),
                (BinaryOp::Sub, true) => g.neg(),
                (BinaryOp::Mul, _) => g.mul_scalar(v),
                (BinaryOp::Div, false) => g.mul_scalar(1.0 / v),
                // d(v / x)/dx = -v / x^2
                (BinaryOp::Div, true) => g.mul(&x().get().square().recip()).mul_scalar(-v),
                (BinaryOp::Pow, false) => g.mul(&x().get().pow_scalar(v - 1.0)).mul_scalar(v),
                // d(v^x)/dx = v^x ln v
                (BinaryOp::Pow, true) => g.mul(&x().get().rpow_scalar(v)).mul_scalar(v.ln()),
                (BinaryOp::Minimum, _) | (BinaryOp::Maximum, _) => {
                    let xv = x().get();
                    let wins = if op == BinaryOp::Minimum { xv.lt_scalar(v) } else { xv.gt_scalar(v) };
                    let tie = xv.eq_scalar(v).to_dtype(g.dtype()).mul_scalar(0.5);
                    g.mul(&wins.to_dtype(g.dtype()).add(&tie))
                }
                (BinaryOp::Rem, false) => g.clone(),
                (BinaryOp::Rem, true) => g.mul(&x().get().rdiv_scalar(v).floor()).neg(),
                _ => unreachable!(),
            };
            vec![Some(if gx.dtype() != dtype { gx.to_dtype(dtype) } else { gx })]
        })
    }

    pub fn add(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Add)
    }
    pub fn sub(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Sub)
    }
    pub fn mul(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Mul)
    }
    /// True division: integer tensors divide as floats.
    pub fn div(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Div)
    }
    /// Remainder with the sign of the divisor (Python's `%`).
    pub fn rem(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Rem)
    }
    pub fn pow(&self, exponent: &Tensor) -> Tensor {
        self.binary_with_grad(exponent, BinaryOp::Pow)
    }
    /// Elementwise minimum; NaN wins.
    pub fn minimum(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Minimum)
    }
    /// Elementwise maximum; NaN wins.
    pub fn maximum(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Maximum)
    }

    pub fn add_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Add, false)
    }
    pub fn sub_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Sub, false)
    }
    /// `s - self`.
    pub fn rsub_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Sub, true)
    }
    pub fn mul_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Mul, false)
    }
    pub fn div_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Div, false)
    }
    /// `s / self`.
    pub fn rdiv_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Div, true)
    }
    pub fn pow_scalar(&self, exponent: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(exponent.into(), BinaryOp::Pow, false)
    }
    /// `s ^ self`.
    pub fn rpow_scalar(&self, base: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(base.into(), BinaryOp::Pow, true)
    }
    pub fn rem_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Rem, false)
    }
    pub fn minimum_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Minimum, false)
    }
    pub fn maximum_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Maximum, false)
    }

    pub fn eq(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Eq)
    }
    pub fn ne(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Ne)
    }
    pub fn lt(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Lt)
    }
    pub fn le(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Le)
    }
    pub fn gt(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Gt)
    }
    pub fn ge(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::Ge)
    }
    pub fn eq_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Eq, false)
    }
    pub fn ne_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Ne, false)
    }
    pub fn lt_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Lt, false)
    }
    pub fn le_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Le, false)
    }
    pub fn gt_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Gt, false)
    }
    pub fn ge_scalar(&self, s: impl Into<Scalar>) -> Tensor {
        self.scalar_with_grad(s.into(), BinaryOp::Ge, false)
    }
    pub fn logical_and(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::LogicalAnd)
    }
    pub fn logical_or(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::LogicalOr)
    }
    pub fn logical_xor(&self, other: &Tensor) -> Tensor {
        self.binary_with_grad(other, BinaryOp::LogicalXor)
    }

    /// `where(self, a, b)` with `self` a bool condition: `a` where true, else `b`.
    pub fn where_(&self, a: &Tensor, b: &Tensor) -> Tensor {
        assert_eq!(self.dtype(), DType::Bool, "where: the condition must be bool, got {}", self.describe());
        let shape = shape_or_panic("where", ignis_ir::shape::broadcast(self.shape(), a.shape()));
        let shape = shape_or_panic("where", ignis_ir::shape::broadcast(&shape, b.shape()));
        let dtype = DType::promote(a.dtype(), b.dtype());
        let (ac, bc) = (a.to_dtype_raw(dtype), b.to_dtype_raw(dtype));
        let out = run_op(Op::Where, &[self, &ac, &bc], dtype, &shape);
        let cond = self.clone();
        let (sa, sb) = ((a.dims(), a.dtype()), (b.dims(), b.dtype()));
        record_out("WhereBackward", &[a, b], out, move |g| {
            let zero = g.zeros_like();
            vec![Some(sum_to(&cond.where_(g, &zero), &sa.0, sa.1)), Some(sum_to(&cond.where_(&zero, g), &sb.0, sb.1))]
        })
    }

    /// Fills `value` where `mask` is true (mask broadcasts to self).
    pub fn masked_fill(&self, mask: &Tensor, value: impl Into<Scalar>) -> Tensor {
        let fill = Tensor::full((), value, self.dtype());
        mask.where_(&fill, self)
    }
}
