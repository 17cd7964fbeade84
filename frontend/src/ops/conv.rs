//! Convolution (as unfold + matmul), pooling and nearest-neighbour upsampling.

use super::run_op;
use crate::autograd::record_out;
use crate::compile::trace::record_op_result;
use crate::tensor::Tensor;
use ignis_ir::{Op, PadMode, Window2d, shape};
use ignis_runtime::cpu;

/// Stride, padding and dilation of a convolution, per spatial dim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvOptions {
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub groups: usize,
}

impl ConvOptions {
    /// Stride 1, no padding, no dilation, one group, for `dims` spatial dims.
    pub fn new(dims: usize) -> Self {
        ConvOptions { stride: vec![1; dims], padding: vec![0; dims], dilation: vec![1; dims], groups: 1 }
    }
    pub fn stride(mut self, s: usize) -> Self {
        self.stride.iter_mut().for_each(|v| *v = s);
        self
    }
    pub fn padding(mut self, p: usize) -> Self {
        self.padding.iter_mut().for_each(|v| *v = p);
        self
    }
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation.iter_mut().for_each(|v| *v = d);
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
}

fn spatial_out(
    op: &str,
    input: &[usize],
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
) -> Vec<usize> {
    (0..kernel.len())
        .map(|i| {
            assert!(stride[i] > 0 && dilation[i] > 0, "{op}: stride and dilation must be positive");
            shape::conv_out_len(input[i], kernel[i], stride[i], padding[i], dilation[i])
                .unwrap_or_else(|e| panic!("{op}: {e}"))
        })
        .collect()
}

impl Tensor {
    /// Sliding-window columns (im2col): `[N, C, *spatial]` to `[N, C * prod(kernel), L]`.
    pub fn unfold_windows(&self, kernel: &[usize], stride: &[usize], padding: &[usize], dilation: &[usize]) -> Tensor {
        let dims = kernel.len();
        assert!(
            (1..=2).contains(&dims) && self.rank() == dims + 2,
            "unfold: expected a [N, C, *spatial] input with 1 or 2 spatial dims for a {dims}-d kernel, got {}",
            self.describe()
        );
        let out = spatial_out("unfold", &self.shape()[2..], kernel, stride, padding, dilation);
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let out_shape = [n, c * kernel.iter().product::<usize>(), out.iter().product()];
        let spatial = self.shape()[2..].to_vec();
        let (k, s, p, d) = (kernel.to_vec(), stride.to_vec(), padding.to_vec(), dilation.to_vec());
        let op = Op::Unfold { kernel: k.clone(), stride: s.clone(), padding: p.clone(), dilation: d.clone() };
        let out = run_op(op, &[self], self.dtype(), &out_shape);
        record_out("UnfoldBackward", &[self], out, move |g| vec![Some(g.fold_windows(&spatial, &k, &s, &p, &d))])
    }

    /// col2im, the adjoint of `unfold_windows`: sums columns back into `[N, C, *output]`.
    pub fn fold_windows(
        &self,
        output: &[usize],
        kernel: &[usize],
        stride: &[usize],
        padding: &[usize],
        dilation: &[usize],
    ) -> Tensor {
        let window: usize = kernel.iter().product();
        assert!(
            self.rank() == 3 && self.shape()[1].is_multiple_of(window),
            "fold: expected [N, C * {window}, L] columns, got {}",
            self.describe()
        );
        let mut out_shape = vec![self.shape()[0], self.shape()[1] / window];
        out_shape.extend_from_slice(output);
        let (k, s, p, d) = (kernel.to_vec(), stride.to_vec(), padding.to_vec(), dilation.to_vec());
        let op = Op::Fold {
            output: output.to_vec(),
            kernel: k.clone(),
            stride: s.clone(),
            padding: p.clone(),
            dilation: d.clone(),
        };
        let out = run_op(op, &[self], self.dtype(), &out_shape);
        record_out("FoldBackward", &[self], out, move |g| vec![Some(g.unfold_windows(&k, &s, &p, &d))])
    }

    /// 2-d convolution: input `[N, C, H, W]`, weight `[O, C / groups, kH, kW]`, bias `[O]`.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, options: &ConvOptions) -> Tensor {
        assert!(self.rank() == 4, "conv2d: expected a [N, C, H, W] input, got {}", self.describe());
        assert!(weight.rank() == 4, "conv2d: expected a [O, C/groups, kH, kW] weight, got {}", weight.describe());
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let (o, cg) = (weight.shape()[0], weight.shape()[1]);
        let g = options.groups;
        assert!(
            g > 0 && c % g == 0 && o % g == 0 && cg * g == c,
            "conv2d: input {} and weight {} do not fit {g} groups (expected weight dim 1 = {} / {g})",
            self.describe(),
            weight.describe(),
            c
        );
        let kernel = &weight.shape()[2..];
        let out =
            spatial_out("conv2d", &self.shape()[2..], kernel, &options.stride, &options.padding, &options.dilation);
        let cols = self.unfold_windows(kernel, &options.stride, &options.padding, &options.dilation);
        let k = cg * kernel.iter().product::<usize>();
        let l = out.iter().product::<usize>();
        // [g, O/g, K] @ [N, g, K, L] -> [N, g, O/g, L]
        let y = weight.reshape([g, o / g, k]).matmul(&cols.reshape([n, g, k, l])).reshape([n, o, out[0], out[1]]);
        match bias {
            Some(b) => {
                assert_eq!(b.shape(), &[o], "conv2d: bias must be [{o}], got {}", b.describe());
                y.add(&b.reshape([1, o, 1, 1]))
            }
            None => y,
        }
    }

    /// 1-d convolution: input `[N, C, L]`, weight `[O, C / groups, k]`.
    pub fn conv1d(&self, weight: &Tensor, bias: Option<&Tensor>, options: &ConvOptions) -> Tensor {
        assert!(self.rank() == 3, "conv1d: expected a [N, C, L] input, got {}", self.describe());
        assert!(weight.rank() == 3, "conv1d: expected a [O, C/groups, k] weight, got {}", weight.describe());
        let two_d = ConvOptions {
            stride: vec![1, options.stride[0]],
            padding: vec![0, options.padding[0]],
            dilation: vec![1, options.dilation[0]],
            groups: options.groups,
        };
        self.unsqueeze(2).conv2d(&weight.unsqueeze(2), bias, &two_d).squeeze(2)
    }

    /// Transposed 2-d convolution (the gradient of `conv2d` with respect to its input):
    /// input `[N, C, H, W]`, weight `[C, O / groups, kH, kW]`, bias `[O]`. `output_padding`
    /// adds rows and columns at the far edge to pick among the sizes a strided conv maps
    /// to the same input size.
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: &ConvOptions,
        output_padding: [usize; 2],
    ) -> Tensor {
        assert!(self.rank() == 4, "conv_transpose2d: expected a [N, C, H, W] input, got {}", self.describe());
        assert!(
            weight.rank() == 4,
            "conv_transpose2d: expected a [C, O/groups, kH, kW] weight, got {}",
            weight.describe()
        );
        let (n, c, h, w) = (self.shape()[0], self.shape()[1], self.shape()[2], self.shape()[3]);
        let g = options.groups;
        assert!(
            g > 0 && weight.shape()[0] == c && c % g == 0,
            "conv_transpose2d: input {} and weight {} do not fit {g} groups (expected weight dim 0 = {c})",
            self.describe(),
            weight.describe()
        );
        let og = weight.shape()[1];
        let kernel = [weight.shape()[2], weight.shape()[3]];
        let out: Vec<usize> = (0..2)
            .map(|i| {
                let (s, p, d) = (options.stride[i], options.padding[i], options.dilation[i]);
                assert!(
                    output_padding[i] < s.max(d),
                    "conv_transpose2d: output_padding {output_padding:?} must be smaller than stride or dilation"
                );
                let full = ([h, w][i] - 1) * s + d * (kernel[i] - 1) + output_padding[i] + 1;
                assert!(full > 2 * p, "conv_transpose2d: padding {p} leaves no output for {}", self.describe());
                full - 2 * p
            })
            .collect();
        let k = og * kernel[0] * kernel[1];
        // [g, C/g, O/g*k]^T @ [N, g, C/g, H*W] -> [N, g, O/g*k, H*W], then col2im.
        let cols = weight.reshape([g, c / g, k]).transpose(1, 2).matmul(&self.reshape([n, g, c / g, h * w]));
        // Fold onto the whole canvas (no padding), extend it by the output padding (rows no
        // window reaches), then crop the padding: output padding may reach into the
        // cropped border, so it cannot simply be added after folding with padding.
        let canvas: Vec<usize> =
            (0..2).map(|i| ([h, w][i] - 1) * options.stride[i] + options.dilation[i] * (kernel[i] - 1) + 1).collect();
        let folded =
            cols.reshape([n, g * k, h * w]).fold_windows(&canvas, &kernel, &options.stride, &[0, 0], &options.dilation);
        let extended = if output_padding == [0, 0] {
            folded
        } else {
            folded.pad_dims(&[(0, 0), (0, 0), (0, output_padding[0]), (0, output_padding[1])], PadMode::Constant, 0.0)
        };
        let y = extended.narrow(2, options.padding[0], out[0]).narrow(3, options.padding[1], out[1]);
        match bias {
            Some(b) => {
                let o = og * g;
                assert_eq!(b.shape(), &[o], "conv_transpose2d: bias must be [{o}], got {}", b.describe());
                y.add(&b.reshape([1, o, 1, 1]))
            }
            None => y,
        }
    }

    fn check_plane_input(&self, op: &str) {
        assert!(self.rank() == 4, "{op}: expected a [N, C, H, W] input, got {}", self.describe());
    }

    fn plane_hw(&self) -> [usize; 2] {
        [self.shape()[2], self.shape()[3]]
    }

    /// Max pooling; padding counts as -inf.
    pub fn max_pool2d(&self, window: &Window2d) -> Tensor {
        self.max_pool2d_with_indices(window).0
    }

    /// Max pooling and the flat `h * W + w` position of each maximum in its input plane.
    pub fn max_pool2d_with_indices(&self, window: &Window2d) -> (Tensor, Tensor) {
        self.check_plane_input("max_pool2d");
        let out = spatial_out(
            "max_pool2d",
            &self.shape()[2..],
            &window.kernel,
            &window.stride,
            &window.padding,
            &window.dilation,
        );
        let out_shape = [self.shape()[0], self.shape()[1], out[0], out[1]];
        let op = Op::MaxPool2d(window.clone());
        // Traced, the values and the indices are the two results of one op.
        let (values, indices) = match (record_op_result(&op, &[self], 0), record_op_result(&op, &[self], 1)) {
            (Some(values), Some(indices)) => (values, indices),
            _ => {
                let (values, indices) = cpu::max_pool2d(self.kernel_view(), window);
                (Tensor::from_storage(values, &out_shape), Tensor::from_storage(indices, &out_shape))
            }
        };
        let (idx, hw) = (indices.clone(), self.plane_hw());
        let values =
            record_out("MaxPool2dBackward", &[self], values, move |g| vec![Some(g.max_pool2d_backward(&idx, hw))]);
        (values, indices)
    }

    /// Routes pooled gradients back to the maxima; its own gradient gathers them again.
    fn max_pool2d_backward(&self, indices: &Tensor, input_hw: [usize; 2]) -> Tensor {
        let out_shape = [self.shape()[0], self.shape()[1], input_hw[0], input_hw[1]];
        let op = Op::MaxPool2dBackward { input: input_hw };
        let out = run_op(op, &[self, indices], self.dtype(), &out_shape);
        let (idx, pooled) = (indices.clone(), self.dims());
        record_out("MaxPool2dBackwardBackward", &[self], out, move |gg| {
            let flat = gg.flatten(2, 3);
            vec![Some(flat.gather(2, &idx.flatten(2, 3)).reshape(pooled.as_slice()))]
        })
    }

    /// Average pooling over windows (padding counted in the divisor when `count_include_pad`).
    pub fn avg_pool2d(&self, window: &Window2d, count_include_pad: bool) -> Tensor {
        self.check_plane_input("avg_pool2d");
        let out =
            spatial_out("avg_pool2d", &self.shape()[2..], &window.kernel, &window.stride, &window.padding, &[1, 1]);
        let out_shape = [self.shape()[0], self.shape()[1], out[0], out[1]];
        // The graph op counts padding in the divisor; the other convention runs eagerly.
        let out = match count_include_pad {
            true => run_op(Op::AvgPool2d(window.clone()), &[self], self.dtype(), &out_shape),
            false => Tensor::from_storage(cpu::avg_pool2d(self.kernel_view(), window, false), &out_shape),
        };
        let (w, hw) = (window.clone(), self.plane_hw());
        record_out("AvgPool2dBackward", &[self], out, move |g| {
            vec![Some(g.avg_pool2d_backward(&w, hw, count_include_pad))]
        })
    }

    fn avg_pool2d_backward(&self, window: &Window2d, input_hw: [usize; 2], count_include_pad: bool) -> Tensor {
        let out_shape = [self.shape()[0], self.shape()[1], input_hw[0], input_hw[1]];
        let out = match count_include_pad {
            true => {
                let op = Op::AvgPool2dBackward { window: window.clone(), input: input_hw };
                run_op(op, &[self], self.dtype(), &out_shape)
            }
            false => {
                let storage = cpu::avg_pool2d_backward(self.kernel_view(), window, input_hw, false);
                Tensor::from_storage(storage, &out_shape)
            }
        };
        let w = window.clone();
        record_out("AvgPool2dBackwardBackward", &[self], out, move |gg| {
            vec![Some(gg.avg_pool2d(&w, count_include_pad))]
        })
    }

    /// Average pooling to a fixed output size, with PyTorch's window rule.
    pub fn adaptive_avg_pool2d(&self, output: [usize; 2]) -> Tensor {
        self.check_plane_input("adaptive_avg_pool2d");
        assert!(output[0] > 0 && output[1] > 0, "adaptive_avg_pool2d: output size must be positive, got {output:?}");
        let op = Op::AdaptiveAvgPool2d { output };
        let out_shape = [self.shape()[0], self.shape()[1], output[0], output[1]];
        let out = run_op(op, &[self], self.dtype(), &out_shape);
        let hw = self.plane_hw();
        record_out("AdaptiveAvgPool2dBackward", &[self], out, move |g| vec![Some(g.adaptive_avg_pool2d_backward(hw))])
    }

    fn adaptive_avg_pool2d_backward(&self, input_hw: [usize; 2]) -> Tensor {
        let op = Op::AdaptiveAvgPool2dBackward { input: input_hw };
        let out_shape = [self.shape()[0], self.shape()[1], input_hw[0], input_hw[1]];
        let out = run_op(op, &[self], self.dtype(), &out_shape);
        let pooled = self.plane_hw();
        record_out("AdaptiveAvgPool2dBackwardBackward", &[self], out, move |gg| {
            vec![Some(gg.adaptive_avg_pool2d(pooled))]
        })
    }

    /// Nearest-neighbour upsampling to `output` (source index = floor(dst * in / out)).
    pub fn upsample_nearest2d(&self, output: [usize; 2]) -> Tensor {
        self.check_plane_input("upsample_nearest2d");
        let op = Op::UpsampleNearest2d { output };
        let out_shape = [self.shape()[0], self.shape()[1], output[0], output[1]];
        let out = run_op(op, &[self], self.dtype(), &out_shape);
        let hw = self.plane_hw();
        record_out("UpsampleNearest2dBackward", &[self], out, move |g| vec![Some(g.upsample_nearest2d_backward(hw))])
    }

    fn upsample_nearest2d_backward(&self, input_hw: [usize; 2]) -> Tensor {
        let op = Op::UpsampleNearest2dBackward { input: input_hw };
        let out_shape = [self.shape()[0], self.shape()[1], input_hw[0], input_hw[1]];
        let out = run_op(op, &[self], self.dtype(), &out_shape);
        let upsampled = self.plane_hw();
        record_out("UpsampleNearest2dBackwardBackward", &[self], out, move |gg| {
            vec![Some(gg.upsample_nearest2d(upsampled))]
        })
    }
}
