//! `Tensor`: a cheap handle to storage seen through a layout, plus its autograd state.

mod create;
mod display;
mod shape_arg;

pub use shape_arg::IntoShape;

use crate::autograd::{self, Node};
use ignis_ir::{DType, Dims};
use ignis_runtime::{Device, Element, Layout, Storage, View};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct TensorImpl {
    pub(crate) storage: Storage,
    pub(crate) layout: Layout,
    /// The node that produced this tensor; `None` for leaves.
    pub(crate) grad_fn: Option<Arc<Node>>,
    /// For leaves: whether gradients should flow to it. Non-leaves require grad iff they
    /// have a `grad_fn`.
    pub(crate) requires_grad: AtomicBool,
    /// Accumulated gradient of a leaf (or of a non-leaf that called `retain_grad`).
    pub(crate) grad: Mutex<Option<Tensor>>,
}

/// An n-dimensional array of one dtype, with autograd.
///
/// Cloning a `Tensor` clones the handle, not the data: both see the same storage.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

impl Tensor {
    /// Wraps a storage and layout as a new leaf tensor.
    pub(crate) fn from_parts(storage: Storage, layout: Layout) -> Tensor {
        debug_assert!(layout.storage_extent() <= storage.len());
        Tensor(Arc::new(TensorImpl {
            storage,
            layout,
            grad_fn: None,
            requires_grad: AtomicBool::new(false),
            grad: Mutex::new(None),
        }))
    }

    /// A fresh contiguous tensor over `storage`.
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Tensor {
        Tensor::from_parts(storage, Layout::contiguous(shape))
    }

    pub(crate) fn with_grad_fn(storage: Storage, layout: Layout, grad_fn: Arc<Node>) -> Tensor {
        Tensor(Arc::new(TensorImpl {
            storage,
            layout,
            grad_fn: Some(grad_fn),
            requires_grad: AtomicBool::new(true),
            grad: Mutex::new(None),
        }))
    }

    pub(crate) fn kernel_view(&self) -> View<'_> {
        View::new(&self.0.storage, &self.0.layout)
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.0.storage
    }

    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }

    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }

    pub(crate) fn dims(&self) -> Dims {
        self.0.layout.shape.clone()
    }

    /// The size of one dim (negative dims count from the end).
    pub fn size(&self, dim: isize) -> usize {
        let d = self.norm_dim("size", dim);
        self.shape()[d]
    }

    pub fn strides(&self) -> &[isize] {
        &self.0.layout.strides
    }

    pub fn storage_offset(&self) -> usize {
        self.0.layout.offset
    }

    pub fn rank(&self) -> usize {
        self.0.layout.rank()
    }

    pub fn dim(&self) -> usize {
        self.rank()
    }

    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }

    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }

    pub fn device(&self) -> Device {
        self.0.storage.device()
    }

    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }

    /// Whether two tensors view the same storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        self.0.storage.same(&other.0.storage)
    }

    /// A number that identifies this tensor handle (not its storage): clones of one handle
    /// share it, views do not.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// How many in-place writes the storage has seen.
    pub fn version(&self) -> u64 {
        self.0.storage.version()
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
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        let t = if self.dtype() == T::DTYPE { self.clone() } else { self.to_dtype(T::DTYPE) };
        match t.kernel_view().contiguous_slice::<T>() {
            Some(s) => s.to_vec(),
            None => {
                let c = ignis_runtime::cpu::contiguous(t.kernel_view());
                c.to_vec::<T>()
            }
        }
    }

    /// The single element of a one-element tensor.
    pub fn item<T: Element>(&self) -> T {
        assert_eq!(self.numel(), 1, "item: expected a tensor with one element, got {}", self.describe());
        self.to_vec::<T>()[0]
    }

    /// The single element as an `f64` (any dtype).
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
        Tensor::from_parts(self.0.storage.clone(), self.0.layout.clone())
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
