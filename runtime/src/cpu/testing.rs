//! Small owned tensors for kernel tests: literals in, views out, and layout tricks (transpose,
//! step-slice, expand) to get non-contiguous inputs that are compared against contiguous ones.
#![cfg(test)]

use crate::element::Element;
use crate::layout::Layout;
use crate::storage::{Storage, View};

pub struct Tensor {
    pub storage: Storage,
    pub layout: Layout,
}

impl Tensor {
    pub fn new<T: Element>(data: &[T], shape: &[usize]) -> Tensor {
        let layout = Layout::contiguous(shape);
        assert_eq!(data.len(), layout.numel(), "test tensor: {} values for shape {shape:?}", data.len());
        Tensor { storage: Storage::from_slice(data), layout }
    }

    /// The integers `0..n` in shape `shape`, converted to `T`.
    pub fn iota<T: Element>(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let data: Vec<T> = (0..n as i64).map(T::from_i64).collect();
        Tensor::new(&data, shape)
    }

    pub fn view(&self) -> View<'_> {
        View::new(&self.storage, &self.layout)
    }

    fn relayout(&self, layout: Layout) -> Tensor {
        Tensor { storage: self.storage.clone(), layout }
    }

    pub fn transpose(&self, a: usize, b: usize) -> Tensor {
        self.relayout(self.layout.transpose(a, b))
    }

    pub fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Tensor {
        self.relayout(self.layout.slice(dim, start, len, step))
    }

    pub fn expand(&self, shape: &[usize]) -> Tensor {
        self.relayout(self.layout.expand(shape).unwrap())
    }

    /// A contiguous copy, the reference a strided input is checked against.
    pub fn contiguous(&self) -> Tensor {
        Tensor { storage: super::copy::contiguous(self.view()), layout: Layout::contiguous(&self.layout.shape) }
    }
}

pub fn values<T: Element>(s: &Storage) -> Vec<T> {
    s.to_vec::<T>()
}

pub fn ints(values: &[i64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}
