//! Elementwise ops of one tensor and their gradients.

use super::run_op;
use crate::autograd::{Saved, record_out};
use crate::tensor::Tensor;
use ignis_ir::{DType, Op, Scalar, UnaryOp};
use std::f64::consts::{LN_2, PI};

impl Tensor {
    /// Applies `op`; `rule(g, x, y)` gives the input gradient from the output gradient,
    /// the input and the output.
    fn unary_with_grad(
        &self,
        op: UnaryOp,
        name: &'static str,
        rule: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor + Send + Sync + 'static,
    ) -> Tensor {
        let out = run_op(Op::Unary(op), &[self], op.result_dtype(self.dtype()), self.shape());
        if op.is_predicate() || !self.dtype().is_float() || !crate::autograd::needs_grad(&[self]) {
            return out;
        }
        let x = Saved::new(name, self);
        // The output is saved as a detached handle: the node cannot own its own output.
        let y = Saved::new(name, &out.detach());
        record_out(name, &[self], out, move |g| {
            // A recorded backward (create_graph) needs the output as a function of the input.
            let y = if crate::is_grad_enabled() { x.get().apply_unary(op) } else { y.get().clone() };
            vec![Some(rule(g, x.get(), &y))]
        })
    }

    /// The differentiable op behind `op`, for recomputing an output under recording.
    pub(crate) fn apply_unary(&self, op: UnaryOp) -> Tensor {
        use UnaryOp::*;
        match op {
            Neg => self.neg(),
            Abs => self.abs(),
            Sign => self.sign(),
            Recip => self.recip(),
            Square => self.square(),
            Exp => self.exp(),
            Exp2 => self.exp2(),
            Log => self.log(),
            Log2 => self.log2(),
            Log1p => self.log1p(),
            Expm1 => self.expm1(),
            Sqrt => self.sqrt(),
            Rsqrt => self.rsqrt(),
            Sin => self.sin(),
            Cos => self.cos(),
            Tan => self.tan(),
            Tanh => self.tanh(),
            Erf => self.erf(),
            Sigmoid => self.sigmoid(),
            Relu => self.relu(),
            Gelu => self.gelu(),
            GeluTanh => self.gelu_tanh(),
            Silu => self.silu(),
            Softplus => self.softplus(),
            Mish => self.mish(),
            Floor => self.floor(),
            Ceil => self.ceil(),
            Round => self.round(),
            Trunc => self.trunc(),
            LeakyRelu { slope } => self.leaky_relu(slope.to_f64()),
            Elu { alpha } => self.elu(alpha.to_f64()),
            Clamp { min, max } => self.clamp(min.map(|v| v.to_f64()), max.map(|v| v.to_f64())),
            NanToNum { nan, posinf, neginf } => {
                self.nan_to_num(nan.to_f64(), Some(posinf.to_f64()), Some(neginf.to_f64()))
            }
            LogicalNot => self.logical_not(),
            IsNan => self.isnan(),
            IsInf => self.isinf(),
        }
    }

    fn zero_grad_unary(&self, op: UnaryOp, name: &'static str) -> Tensor {
        self.unary_with_grad(op, name, |g, _, _| g.zeros_like())
    }

    pub fn neg(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Neg, "NegBackward", |g, _, _| g.neg())
    }
    pub fn abs(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Abs, "AbsBackward", |g, x, _| g.mul(&x.sign()))
    }
    pub fn sign(&self) -> Tensor {
        self.zero_grad_unary(UnaryOp::Sign, "SignBackward")
    }
    pub fn recip(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Recip, "ReciprocalBackward", |g, _, y| g.mul(&y.square()).neg())
    }
    pub fn square(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Square, "SquareBackward", |g, x, _| g.mul(x).mul_scalar(2.0))
    }
    pub fn exp(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Exp, "ExpBackward", |g, _, y| g.mul(y))
    }
    pub fn exp2(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Exp2, "Exp2Backward", |g, _, y| g.mul(y).mul_scalar(LN_2))
    }
    pub fn log(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Log, "LogBackward", |g, x, _| g.div(x))
    }
    pub fn log2(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Log2, "Log2Backward", |g, x, _| g.div(x).mul_scalar(1.0 / LN_2))
    }
    pub fn log1p(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Log1p, "Log1pBackward", |g, x, _| g.div(&x.add_scalar(1.0)))
    }
    pub fn expm1(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Expm1, "Expm1Backward", |g, _, y| g.mul(&y.add_scalar(1.0)))
    }
    pub fn sqrt(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Sqrt, "SqrtBackward", |g, _, y| g.div(y).mul_scalar(0.5))
    }
    pub fn rsqrt(&self) -> Tensor {
        // d(x^-1/2)/dx = -1/2 x^-3/2 = -1/2 y^3
        self.unary_with_grad(UnaryOp::Rsqrt, "RsqrtBackward", |g, _, y| g.mul(&y.pow_scalar(3.0)).mul_scalar(-0.5))
    }
    pub fn sin(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Sin, "SinBackward", |g, x, _| g.mul(&x.cos()))
    }
    pub fn cos(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Cos, "CosBackward", |g, x, _| g.mul(&x.sin()).neg())
    }
    pub fn tan(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Tan, "TanBackward", |g, _, y| g.mul(&y.square().add_scalar(1.0)))
    }
    pub fn tanh(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Tanh, "TanhBackward", |g, _, y| g.mul(&y.square().rsub_scalar(1.0)))
    }
    pub fn erf(&self) -> Tensor {
        // d erf(x)/dx = 2/sqrt(pi) e^(-x^2)
        self.unary_with_grad(UnaryOp::Erf, "ErfBackward", |g, x, _| {
            g.mul(&x.square().neg().exp()).mul_scalar(2.0 / PI.sqrt())
        })
    }
    pub fn sigmoid(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Sigmoid, "SigmoidBackward", |g, _, y| g.mul(y).mul(&y.rsub_scalar(1.0)))
    }
    pub fn relu(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Relu, "ReluBackward", |g, x, _| g.mul(&x.gt_scalar(0.0).to_dtype(g.dtype())))
    }
    /// GELU, exact (erf) form.
    pub fn gelu(&self) -> Tensor {
        // d/dx x Phi(x) = Phi(x) + x phi(x)
        self.unary_with_grad(UnaryOp::Gelu, "GeluBackward", |g, x, _| {
            let cdf = x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5);
            let pdf = x.square().mul_scalar(-0.5).exp().mul_scalar(1.0 / (2.0 * PI).sqrt());
            g.mul(&cdf.add(&x.mul(&pdf)))
        })
    }
    /// GELU, tanh approximation.
    pub fn gelu_tanh(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::GeluTanh, "GeluTanhBackward", |g, x, _| {
            // u = k (x + c x^3), t = tanh(u): d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)
            let (k, c) = ((2.0 / PI).sqrt(), 0.044715);
            let x2 = x.square();
            let t = x.add(&x.mul(&x2).mul_scalar(c)).mul_scalar(k).tanh();
            let left = t.add_scalar(1.0).mul_scalar(0.5);
            let right =
                x.mul(&t.square().rsub_scalar(1.0)).mul(&x2.mul_scalar(3.0 * c).add_scalar(1.0)).mul_scalar(0.5 * k);
            g.mul(&left.add(&right))
        })
    }
    pub fn silu(&self) -> Tensor {
        // d/dx x s(x) = s (1 + x (1 - s))
        self.unary_with_grad(UnaryOp::Silu, "SiluBackward", |g, x, _| {
            let s = x.sigmoid();
            g.mul(&s.mul(&x.mul(&s.rsub_scalar(1.0)).add_scalar(1.0)))
        })
    }
    pub fn softplus(&self) -> Tensor {
        self.unary_with_grad(UnaryOp::Softplus, "SoftplusBackward", |g, x, _| g.mul(&x.sigmoid()))
    }
    pub fn mish(&self) -> Tensor {
        // d/dx x tanh(sp(x)) = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x)
        self.unary_with_grad(UnaryOp::Mish, "MishBackward", |g, x, _| {
            let t = x.softplus().tanh();
            g.mul(&t.add(&x.mul(&t.square().rsub_scalar(1.0)).mul(&x.sigmoid())))
        })
    }
    pub fn floor(&self) -> Tensor {
        self.zero_grad_unary(UnaryOp::Floor, "FloorBackward")
    }
    pub fn ceil(&self) -> Tensor {
        self.zero_grad_unary(UnaryOp::Ceil, "CeilBackward")
    }
    /// Rounds half to even, as PyTorch.
    pub fn round(&self) -> Tensor {
        self.zero_grad_unary(UnaryOp::Round, "RoundBackward")
    }
    pub fn trunc(&self) -> Tensor {
        self.zero_grad_unary(UnaryOp::Trunc, "TruncBackward")
    }
    pub fn leaky_relu(&self, slope: f64) -> Tensor {
        self.unary_with_grad(UnaryOp::LeakyRelu { slope: Scalar::Float(slope) }, "LeakyReluBackward", move |g, x, _| {
            let positive = x.gt_scalar(0.0);
            g.mul(&positive.where_(&g.ones_like(), &g.full_like(slope)))
        })
    }
    pub fn elu(&self, alpha: f64) -> Tensor {
        // For x <= 0: d/dx alpha (e^x - 1) = y + alpha.
        self.unary_with_grad(UnaryOp::Elu { alpha: Scalar::Float(alpha) }, "EluBackward", move |g, x, y| {
            g.mul(&x.gt_scalar(0.0).where_(&g.ones_like(), &y.add_scalar(alpha)))
        })
    }
    /// Clamps into `[min, max]`; either bound may be `None`. Gradient flows where the
    /// input was inside the bounds (inclusive), as in PyTorch.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Tensor {
        if let (Some(lo), Some(hi)) = (min, max) {
            assert!(lo <= hi || lo.is_nan() || hi.is_nan(), "clamp: min ({lo}) is greater than max ({hi})");
        }
        let op = UnaryOp::Clamp { min: min.map(Scalar::Float), max: max.map(Scalar::Float) };
        let op = if self.dtype().is_float() {
            op
        } else {
            UnaryOp::Clamp { min: min.map(|v| Scalar::Int(v as i64)), max: max.map(|v| Scalar::Int(v as i64)) }
        };
        self.unary_with_grad(op, "ClampBackward", move |g, x, _| {
            let mut inside = x.eq(x);
            if let Some(lo) = min {
                inside = inside.logical_and(&x.ge_scalar(lo));
            }
            if let Some(hi) = max {
                inside = inside.logical_and(&x.le_scalar(hi));
            }
            g.mul(&inside.to_dtype(g.dtype()))
        })
    }
    pub fn clamp_min(&self, min: f64) -> Tensor {
        self.clamp(Some(min), None)
    }
    pub fn clamp_max(&self, max: f64) -> Tensor {
        self.clamp(None, Some(max))
    }
    /// Replaces NaN by `nan` and infinities by `posinf`/`neginf` (default: the dtype's
    /// largest finite values).
    pub fn nan_to_num(&self, nan: f64, posinf: Option<f64>, neginf: Option<f64>) -> Tensor {
        let big = match self.dtype() {
            DType::F64 => f64::MAX,
            DType::F16 => half::f16::MAX.to_f64(),
            DType::BF16 => half::bf16::MAX.to_f64(),
            _ => f32::MAX as f64,
        };
        let op = UnaryOp::NanToNum {
            nan: Scalar::Float(nan),
            posinf: Scalar::Float(posinf.unwrap_or(big)),
            neginf: Scalar::Float(neginf.unwrap_or(-big)),
        };
        self.unary_with_grad(op, "NanToNumBackward", |g, x, _| {
            let finite = x.isnan().logical_or(&x.isinf()).logical_not();
            g.mul(&finite.to_dtype(g.dtype()))
        })
    }
    pub fn logical_not(&self) -> Tensor {
        run_op(Op::Unary(UnaryOp::LogicalNot), &[self], DType::Bool, self.shape())
    }
    pub fn isnan(&self) -> Tensor {
        run_op(Op::Unary(UnaryOp::IsNan), &[self], DType::Bool, self.shape())
    }
    pub fn isinf(&self) -> Tensor {
        run_op(Op::Unary(UnaryOp::IsInf), &[self], DType::Bool, self.shape())
    }
}
