//! Convolution layers, with PyTorch's weight layouts and default initialisation.

use super::init;
use super::module::{Entry, Module};
use crate::ops::ConvOptions;
use crate::tensor::Tensor;

/// Size, stride, padding, dilation and groups of a convolution layer.
#[derive(Clone, Debug)]
pub struct ConvConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: Vec<usize>,
    pub options: ConvOptions,
    pub bias: bool,
}

impl ConvConfig {
    pub fn stride(mut self, s: usize) -> Self {
        self.options = self.options.stride(s);
        self
    }
    pub fn padding(mut self, p: usize) -> Self {
        self.options = self.options.padding(p);
        self
    }
    pub fn dilation(mut self, d: usize) -> Self {
        self.options = self.options.dilation(d);
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.options = self.options.groups(g);
        self
    }
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

fn check_groups(layer: &str, config: &ConvConfig) {
    let g = config.options.groups;
    assert!(
        g > 0 && config.in_channels.is_multiple_of(g) && config.out_channels.is_multiple_of(g),
        "{layer}: in_channels {} and out_channels {} must both divide into {g} groups",
        config.in_channels,
        config.out_channels
    );
}

/// Weight `[out, in / groups, *kernel]` and bias `[out]`, initialised as PyTorch does.
fn conv_parameters(config: &ConvConfig, weight_shape: Vec<usize>) -> (Tensor, Option<Tensor>) {
    let weight = init::parameter(&weight_shape);
    init::default_weight_(&weight);
    let (fan_in, _) = init::fan_in_and_fan_out(&weight);
    let bias = config.bias.then(|| {
        let b = init::parameter(&[config.out_channels]);
        init::default_bias_(&b, fan_in);
        b
    });
    (weight, bias)
}

fn visit_weight_bias<'a>(weight: &'a Tensor, bias: &'a Option<Tensor>, visit: &mut dyn FnMut(&str, Entry<'a>)) {
    visit("weight", Entry::Parameter(weight));
    if let Some(b) = bias {
        visit("bias", Entry::Parameter(b));
    }
}

/// 2-d convolution over `[N, C, H, W]`.
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub options: ConvOptions,
}

impl Conv2d {
    /// A square `kernel`, stride 1, no padding; adjust with `Conv2d::with_config`.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Conv2d {
        Self::with_config(Self::config(in_channels, out_channels, kernel))
    }

    /// The default configuration, to adjust builder style:
    /// `Conv2d::with_config(Conv2d::config(1, 8, 3).padding(1))`.
    pub fn config(in_channels: usize, out_channels: usize, kernel: usize) -> ConvConfig {
        ConvConfig { in_channels, out_channels, kernel: vec![kernel; 2], options: ConvOptions::new(2), bias: true }
    }

    pub fn with_config(config: ConvConfig) -> Conv2d {
        check_groups("Conv2d", &config);
        let mut shape = vec![config.out_channels, config.in_channels / config.options.groups];
        shape.extend_from_slice(&config.kernel);
        let (weight, bias) = conv_parameters(&config, shape);
        Conv2d { weight, bias, options: config.options }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(&self.weight, self.bias.as_ref(), &self.options)
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit_weight_bias(&self.weight, &self.bias, visit);
    }
}

/// 1-d convolution over `[N, C, L]`.
pub struct Conv1d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub options: ConvOptions,
}

impl Conv1d {
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Conv1d {
        Self::with_config(Self::config(in_channels, out_channels, kernel))
    }

    pub fn config(in_channels: usize, out_channels: usize, kernel: usize) -> ConvConfig {
        ConvConfig { in_channels, out_channels, kernel: vec![kernel], options: ConvOptions::new(1), bias: true }
    }

    pub fn with_config(config: ConvConfig) -> Conv1d {
        check_groups("Conv1d", &config);
        let shape = vec![config.out_channels, config.in_channels / config.options.groups, config.kernel[0]];
        let (weight, bias) = conv_parameters(&config, shape);
        Conv1d { weight, bias, options: config.options }
    }
}

impl Module for Conv1d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv1d(&self.weight, self.bias.as_ref(), &self.options)
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit_weight_bias(&self.weight, &self.bias, visit);
    }
}

/// Transposed 2-d convolution; weight `[in, out / groups, kH, kW]` as in PyTorch.
pub struct ConvTranspose2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub options: ConvOptions,
    pub output_padding: [usize; 2],
}

impl ConvTranspose2d {
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> ConvTranspose2d {
        Self::with_config(Conv2d::config(in_channels, out_channels, kernel), [0, 0])
    }

    pub fn with_config(config: ConvConfig, output_padding: [usize; 2]) -> ConvTranspose2d {
        check_groups("ConvTranspose2d", &config);
        let mut shape = vec![config.in_channels, config.out_channels / config.options.groups];
        shape.extend_from_slice(&config.kernel);
        // PyTorch computes the fan-in of this layout from dim 1 (out / groups), for the
        // weight and the bias alike.
        let (weight, bias) = conv_parameters(&config, shape);
        ConvTranspose2d { weight, bias, options: config.options, output_padding }
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv_transpose2d(&self.weight, self.bias.as_ref(), &self.options, self.output_padding)
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit_weight_bias(&self.weight, &self.bias, visit);
    }
}
