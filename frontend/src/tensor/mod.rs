//! `Tensor`: a cheap handle to storage seen through a layout, plus its autograd state.

mod create;
mod display;
mod shape_arg;

pub use shape_arg::IntoShape;

use crate::autograd::{self, Node};
use crate::compile::trace::{self, TracedValue};
use ignis_ir::{DType, Dims};
use ignis_runtime::{Device, Element, Layout, Storage, View};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct TensorImpl {
    pub(crate) data: Data,
    /// The node that produced this tensor; `None` for leaves.
    pub(crate) grad_fn: Option<Arc<Node>>,
    /// Which output of `grad_fn` this tensor is (0 but for compiled segments).
    pub(crate) grad_slot: u32,
    /// For leaves: whether gradients should flow to it. Non-leaves require grad iff they
    /// have a `grad_fn`.
    pub(crate) requires_grad: AtomicBool,
    /// Accumulated gradient of a leaf (or of a non-leaf that called `retain_grad`).
    pub(crate) grad: Mutex<Option<Tensor>>,
    /// The trace this tensor was created in (0: none). Host data made inside a compiled
    /// function is a constant of its program, not an input to lift.
    pub(crate) born_in: u64,
}

/// Where a tensor's elements are: in storage, or (while a compiled function is being
/// traced) a value of the graph being captured, filled in when its segment runs.
#[derive(Clone)]
pub(crate) enum Data {
    Concrete(Storage, Layout),
    Traced(Arc<TracedValue>),
}

/// An n-dimensional array of one dtype, with autograd.
///
/// Cloning a `Tensor` clones the handle, not the data: both see the same storage.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

impl Tensor {
    fn from_data(data: Data, grad_fn: Option<Arc<Node>>, grad_slot: u32) -> Tensor {
        let requires_grad = AtomicBool::new(grad_fn.is_some());
        let traced = matches!(data, Data::Traced(_));
        let t = Tensor(Arc::new(TensorImpl {
            data,
            grad_fn,
            grad_slot,
            requires_grad,
            grad: Mutex::new(None),
            born_in: trace::current_trace_id(),
        }));
        if traced {
            trace::register_handle(&t);
        }
        t
    }

    /// Wraps a storage and layout as a new leaf tensor.
    pub(crate) fn from_parts(storage: Storage, layout: Layout) -> Tensor {
        debug_assert!(layout.storage_extent() <= storage.len());
        Tensor::from_data(Data::Concrete(storage, layout), None, 0)
    }

    /// A fresh contiguous tensor over `storage`.
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Tensor {
        Tensor::from_parts(storage, Layout::contiguous(shape))
    }

    /// A handle to a value of the graph being traced.
    pub(crate) fn traced(value: Arc<TracedValue>) -> Tensor {
        Tensor::from_data(Data::Traced(value), None, 0)
    }

    /// The same elements as `out`, output `slot` of `grad_fn`.
    pub(crate) fn with_grad_fn(out: &Tensor, grad_fn: Arc<Node>, slot: u32) -> Tensor {
        Tensor::from_data(out.0.data.clone(), Some(grad_fn), slot)
    }

    /// A handle to the same traced value that tracing does not count as the user's: what
    /// backward rules save. (For concrete tensors, a clone.)
    pub(crate) fn saved_alias(&self) -> Tensor {
        match &self.0.data {
            Data::Traced(_) => Tensor(Arc::new(TensorImpl {
                data: self.0.data.clone(),
                grad_fn: self.0.grad_fn.clone(),
                grad_slot: self.0.grad_slot,
                requires_grad: AtomicBool::new(self.0.requires_grad.load(Ordering::Relaxed)),
                grad: Mutex::new(None),
                born_in: self.0.born_in,
            })),
            Data::Concrete(..) => self.clone(),
        }
    }

    /// The traced value behind this handle, if it has not been computed yet.
    pub(crate) fn pending_value(&self) -> Option<&Arc<TracedValue>> {
        match &self.0.data {
            Data::Traced(v) if !v.is_filled() => Some(v),
            _ => None,
        }
    }

    /// Storage and layout, computing a traced value's segment first if needed. Trace
    /// bookkeeping reads tensors through this; ops go through `kernel_view`.
    pub(crate) fn resolved(&self) -> (&Storage, &Layout) {
        match &self.0.data {
            Data::Concrete(s, l) => (s, l),
            Data::Traced(v) => {
                let (s, l) = v.get_or_materialize();
                (s, l)
            }
        }
    }

    /// The elements for an eager kernel. Inside a trace this is an op the tracer cannot
    /// capture, so it ends the segment (a graph break) before reading.
    #[track_caller]
    pub(crate) fn kernel_view(&self) -> View<'_> {
        trace::before_eager_read(self, std::panic::Location::caller());
        let (s, l) = self.resolved();
        View::new(s, l)
    }

    #[track_caller]
    pub(crate) fn storage(&self) -> &Storage {
        trace::before_eager_read(self, std::panic::Location::caller());
        self.resolved().0
    }

    pub fn layout(&self) -> &Layout {
        match &self.0.data {
            Data::Concrete(_, l) => l,
            Data::Traced(v) => v.layout(),
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.layout().shape
    }

    pub(crate) fn dims(&self) -> Dims {
        self.layout().shape.clone()
    }

    /// The size of one dim (negative dims count from the end).
    pub fn size(&self, dim: isize) -> usize {
        let d = self.norm_dim("size", dim);
        self.shape()[d]
    }

    pub fn strides(&self) -> &[isize] {
        &self.layout().strides
    }

    pub fn storage_offset(&self) -> usize {
        self.layout().offset
    }

    pub fn rank(&self) -> usize {
        self.layout().rank()
    }

    pub fn dim(&self) -> usize {
        self.rank()
    }

    pub fn numel(&self) -> usize {
        self.layout().numel()
    }

    pub fn dtype(&self) -> DType {
        match &self.0.data {
            Data::Concrete(s, _) => s.dtype(),
            Data::Traced(v) => v.dtype,
        }
    }

    pub fn device(&self) -> Device {
        match &self.0.data {
            Data::Concrete(s, _) => s.device(),
            // A compiled function's result lives where its program ran.
            Data::Traced(v) if v.is_filled() => v.get_or_materialize().0.device(),
            Data::Traced(_) => Device::Cpu,
        }
    }

    pub fn is_contiguous(&self) -> bool {
        self.layout().is_contiguous()
    }

    /// Whether two tensors view the same storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        match (&self.0.data, &other.0.data) {
            (Data::Traced(a), Data::Traced(b)) if Arc::ptr_eq(a, b) => true,
            _ if self.pending_value().is_some() || other.pending_value().is_some() => false,
            _ => self.resolved().0.same(other.resolved().0),
        }
    }

    /// A number that identifies this tensor handle (not its storage): clones of one handle
    /// share it, views do not.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// How many in-place writes the storage has seen.
    pub fn version(&self) -> u64 {
        match &self.0.data {
            Data::Concrete(s, _) => s.version(),
            Data::Traced(v) => v.version(),
        }
    }

    /// Resolves a possibly negative dim, panicking with the op's name when out of range.
    pub(crate) fn norm_dim(&self, op: &str, dim: isize) -> usize {
        ignis_ir::shape::normalize_axis(dim, self.rank())
            .unwrap_or_else(|e| panic!("{op}: {e} (shape {})", self.describe()))
    }

    /// `f32[2,3]`, the way messages spell a tensor.
    pub fn describe(&self) -> String {
        format!("{}{}", self.dtype(), ignis_ir::shape::format_shape(self.shape()))
    }

    /// The elements in row-major order, converted to `T`'s dtype if needed.
    #[track_caller]
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        trace::host_read(self, "to_vec", std::panic::Location::caller());
        let t = if self.dtype() == T::DTYPE { self.clone() } else { self.to_dtype(T::DTYPE) };
        // Elements on a GPU are copied to the host first.
        let t = if t.device() == Device::Cpu { t } else { crate::no_grad(|| t.cpu()) };
        match t.kernel_view().contiguous_slice::<T>() {
            Some(s) => s.to_vec(),
            None => {
                let c = ignis_runtime::cpu::contiguous(t.kernel_view());
                c.to_vec::<T>()
            }
        }
    }

    /// The single element of a one-element tensor.
    #[track_caller]
    pub fn item<T: Element>(&self) -> T {
        trace::host_read(self, "item", std::panic::Location::caller());
        assert_eq!(self.numel(), 1, "item: expected a tensor with one element, got {}", self.describe());
        self.to_vec::<T>()[0]
    }

    /// The single element as an `f64` (any dtype).
    #[track_caller]
    pub fn item_f64(&self) -> f64 {
        self.item::<f64>()
    }

    // ---- autograd state ----

    /// Whether gradients flow to (leaf) or through (non-leaf) this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.grad_fn.is_some() || self.0.requires_grad.load(Ordering::Relaxed)
    }

    /// Marks a leaf as requiring gradients; returns the same tensor for chaining.
    pub fn requires_grad_(&self, requires: bool) -> Tensor {
        assert!(
            self.is_leaf(),
            "requires_grad_: can only change requires_grad of leaf tensors; use detach() to get a leaf"
        );
        assert!(
            !requires || self.dtype().is_float(),
            "requires_grad_: only floating point tensors can require gradients, got {}",
            self.dtype()
        );
        self.0.requires_grad.store(requires, Ordering::Relaxed);
        self.clone()
    }

    /// Alias of `requires_grad_(true)` returning the tensor, for builder-style code.
    pub fn with_grad(self) -> Tensor {
        self.requires_grad_(true)
    }

    pub fn is_leaf(&self) -> bool {
        self.0.grad_fn.is_none()
    }

    pub(crate) fn grad_fn(&self) -> Option<&Arc<Node>> {
        self.0.grad_fn.as_ref()
    }

    /// The name of the op that produced this tensor, if it carries a graph.
    pub fn grad_fn_name(&self) -> Option<&'static str> {
        self.0.grad_fn.as_ref().map(|n| n.name())
    }

    /// The accumulated gradient, after `backward()`.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_grad(&self, grad: Option<Tensor>) {
        if let Some(g) = &grad {
            assert_eq!(
                g.shape(),
                self.shape(),
                "set_grad: gradient {} does not match tensor {}",
                g.describe(),
                self.describe()
            );
        }
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad;
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// Asks a non-leaf to keep its gradient after `backward()`.
    pub fn retain_grad(&self) {
        if let Some(node) = &self.0.grad_fn {
            node.retain_for(self);
        }
    }

    /// The same data without autograd history (shares storage).
    pub fn detach(&self) -> Tensor {
        Tensor::from_data(self.0.data.clone(), None, 0)
    }

    /// Back-propagates from this tensor; it must hold one element unless `grad` is given.
    pub fn backward(&self) {
        autograd::backward(self, None, false, false);
    }

    /// Back-propagates with an explicit output gradient, keeping the graph if asked and
    /// recording the backward pass itself when `create_graph` (for higher-order gradients).
    pub fn backward_with(&self, grad: Option<&Tensor>, retain_graph: bool, create_graph: bool) {
        autograd::backward(self, grad, retain_graph, create_graph);
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
