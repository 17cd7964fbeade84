//! In-place ops. Each bumps the storage's version counter, which autograd uses to detect
//! tensors that were saved for backward and modified afterwards.
//!
//! In-place ops on tensors that take part in autograd (require grad, with grad mode on)
//! are refused: rewriting history in place is not supported; use the out-of-place op.

use crate::autograd::{is_grad_enabled, record};
use crate::compile::trace;
use crate::tensor::Tensor;
use ignis_ir::{DType, Scalar};
use ignis_runtime::{Device, Layout, Storage, View, cpu};

impl Tensor {
    fn check_inplace(&self, op: &str, other: Option<&Tensor>) {
        if is_grad_enabled() && (self.requires_grad() || other.is_some_and(|o| o.requires_grad())) {
            panic!(
                "{op}: in-place ops on tensors that require grad are not supported ({}); \
                 use the out-of-place op, or run the update under no_grad",
                self.describe()
            );
        }
    }

    /// Writes `src` (broadcast and converted to this tensor's shape and dtype) into `self`.
    #[track_caller]
    pub fn copy_(&self, src: &Tensor) -> &Tensor {
        self.check_inplace("copy_", Some(src));
        self.write_from(src);
        self
    }

    /// The shared tail of every in-place op: copy `src` into this tensor's elements.
    #[track_caller]
    fn write_from(&self, src: &Tensor) {
        let src = src.expand(self.dims());
        if crate::compile::is_tracing() {
            // Traced, the write becomes a program output stored into this tensor's storage
            // after the segment runs.
            let value = src.to_dtype_raw(self.dtype());
            if trace::record_write(self, &value, std::panic::Location::caller()) {
                return;
            }
        }
        let src = if src.shares_storage(self) { src.contiguous_copy() } else { src };
        ignis_runtime::write_view(self.kernel_view(), src.kernel_view())
            .unwrap_or_else(|e| panic!("in-place write into a tensor on {}: {e}", self.device()));
        self.storage().bump_version();
    }

    #[track_caller]
    fn update_with(&self, op: &str, other: Option<&Tensor>, compute: impl FnOnce() -> Tensor) -> &Tensor {
        self.check_inplace(op, other);
        let result = crate::no_grad(compute);
        self.write_from(&result);
        self
    }

    #[track_caller]
    pub fn add_(&self, other: &Tensor) -> &Tensor {
        self.update_with("add_", Some(other), || self.add(other))
    }
    #[track_caller]
    pub fn sub_(&self, other: &Tensor) -> &Tensor {
        self.update_with("sub_", Some(other), || self.sub(other))
    }
    #[track_caller]
    pub fn mul_(&self, other: &Tensor) -> &Tensor {
        self.update_with("mul_", Some(other), || self.mul(other))
    }
    #[track_caller]
    pub fn div_(&self, other: &Tensor) -> &Tensor {
        self.update_with("div_", Some(other), || self.div(other))
    }
    #[track_caller]
    pub fn add_scalar_(&self, s: impl Into<Scalar>) -> &Tensor {
        let s = s.into();
        self.update_with("add_", None, || self.add_scalar(s))
    }
    #[track_caller]
    pub fn mul_scalar_(&self, s: impl Into<Scalar>) -> &Tensor {
        let s = s.into();
        self.update_with("mul_", None, || self.mul_scalar(s))
    }
    /// `self += alpha * other`, the update of SGD.
    #[track_caller]
    pub fn add_scaled_(&self, other: &Tensor, alpha: f64) -> &Tensor {
        self.update_with("add_", Some(other), || self.add(&other.mul_scalar(alpha)))
    }
    #[track_caller]
    pub fn clamp_(&self, min: Option<f64>, max: Option<f64>) -> &Tensor {
        self.update_with("clamp_", None, || self.clamp(min, max))
    }

    #[track_caller]
    pub fn fill_(&self, value: impl Into<Scalar>) -> &Tensor {
        self.check_inplace("fill_", None);
        let value = value.into();
        if let Some(filled) = crate::ops::traced_constant(value, self.dtype(), self.shape()) {
            self.write_from(&filled);
            return self;
        }
        if self.device() != Device::Cpu {
            self.write_from(&Tensor::full(self.dims(), value, self.dtype()));
            return self;
        }
        cpu::fill_view(self.kernel_view(), value);
        self.storage().bump_version();
        self
    }

    #[track_caller]
    pub fn zero_(&self) -> &Tensor {
        self.fill_(Scalar::Int(0))
    }

    /// Zeros of `shape` with `self` written at `start, start + step, ...` along `dim`:
    /// the gradient of a slice. Its own gradient is the slice again.
    pub(crate) fn slice_scatter_into_zeros(
        &self,
        shape: &[usize],
        dtype: DType,
        dim: usize,
        start: usize,
        step: usize,
    ) -> Tensor {
        if crate::compile::is_tracing() {
            return self.slice_scatter_traced(shape, dtype, dim, start, step);
        }
        if self.device() != Device::Cpu {
            // Built on the host; both moves are differentiable.
            let on_host = self.cpu().slice_scatter_into_zeros(shape, dtype, dim, start, step);
            return on_host.to_device(self.device()).unwrap_or_else(|e| panic!("slice backward: {e}"));
        }
        let n: usize = shape.iter().product();
        let storage = Storage::uninit(dtype, n);
        let layout = Layout::contiguous(shape);
        cpu::fill_view(View::new(&storage, &layout), Scalar::Int(0));
        let len = self.shape()[dim];
        let window = layout.slice(dim, start, len, step);
        cpu::copy_into(View::new(&storage, &window), self.to_dtype_raw(dtype).kernel_view());
        let end = (start + len.saturating_sub(1) * step + 1) as isize;
        record("SliceScatterBackward", &[self], storage, layout, move |g| {
            vec![Some(g.slice(dim as isize, start as isize, end, step as isize))]
        })
    }

    /// `slice_scatter_into_zeros` from graph ops: a zero padding for a unit step, else an
    /// `index_add` of the rows into zeros.
    fn slice_scatter_traced(&self, shape: &[usize], dtype: DType, dim: usize, start: usize, step: usize) -> Tensor {
        let len = self.shape()[dim];
        let src = self.to_dtype(dtype);
        if step == 1 {
            let mut pads = vec![(0, 0); shape.len()];
            pads[dim] = (start, shape[dim] - start - len);
            return src.pad_dims(&pads, ignis_ir::PadMode::Constant, 0.0);
        }
        let rows: Vec<i64> = (0..len).map(|i| (start + i * step) as i64).collect();
        Tensor::zeros(shape.to_vec(), dtype).index_add(dim as isize, &Tensor::from_vec(rows, len), &src)
    }
}
