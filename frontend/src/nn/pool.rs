//! Pooling layers.

use super::module::{Entry, Module};
use crate::tensor::Tensor;
use ignis_ir::Window2d;

fn square_window(kernel: usize, stride: Option<usize>, padding: usize) -> Window2d {
    let stride = stride.unwrap_or(kernel);
    Window2d { kernel: [kernel; 2], stride: [stride; 2], padding: [padding; 2], dilation: [1, 1] }
}

/// Max over windows; stride defaults to the kernel size.
pub struct MaxPool2d {
    pub window: Window2d,
}

impl MaxPool2d {
    pub fn new(kernel: usize) -> MaxPool2d {
        MaxPool2d { window: square_window(kernel, None, 0) }
    }
    pub fn with_options(kernel: usize, stride: usize, padding: usize) -> MaxPool2d {
        MaxPool2d { window: square_window(kernel, Some(stride), padding) }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.max_pool2d(&self.window)
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}

/// Mean over windows; stride defaults to the kernel size, padding counts in the divisor
/// unless `count_include_pad` is false.
pub struct AvgPool2d {
    pub window: Window2d,
    pub count_include_pad: bool,
}

impl AvgPool2d {
    pub fn new(kernel: usize) -> AvgPool2d {
        AvgPool2d { window: square_window(kernel, None, 0), count_include_pad: true }
    }
    pub fn with_options(kernel: usize, stride: usize, padding: usize, count_include_pad: bool) -> AvgPool2d {
        AvgPool2d { window: square_window(kernel, Some(stride), padding), count_include_pad }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.avg_pool2d(&self.window, self.count_include_pad)
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}

/// Mean pooling to a fixed output size, whatever the input size.
pub struct AdaptiveAvgPool2d {
    pub output: [usize; 2],
}

impl AdaptiveAvgPool2d {
    pub fn new(output: [usize; 2]) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d { output }
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.adaptive_avg_pool2d(self.output)
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}
