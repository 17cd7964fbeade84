//! 2-d pooling and nearest upsampling over `[N, C, H, W]` inputs, with their backward kernels.
//!
//! Every op works plane by plane (one `H x W` image per batch entry and channel), so planes
//! are the unit of parallel work and backward kernels never race. Floats other than f32/f64
//! are computed in f32. This module knows about windows only, not about autograd.

use super::conv::{DenseInput, Real, narrow_to};
use crate::element::Element;
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use ignis_ir::{DType, Window2d};

/// Splits an input shape `[N, C, H, W]` (or `[C, H, W]`) into a plane count and `[H, W]`.
fn planes_of(op: &str, v: View) -> (usize, [usize; 2]) {
    let s = v.shape();
    assert!(
        s.len() == 3 || s.len() == 4,
        "{op}: expects an input of shape [N, C, H, W] or [C, H, W], got {}{s:?}",
        v.dtype()
    );
    let r = s.len();
    (s[..r - 2].iter().product(), [s[r - 2], s[r - 1]])
}

/// Runs `f(plane, out)` for every plane, `out` being that plane's slice of a fresh storage
/// of `planes * out_len` elements of `T`; in parallel when there is enough work.
fn per_plane<T: Element>(planes: usize, out_len: usize, work: usize, f: impl Fn(usize, &mut [T]) + Sync) -> Storage {
    let out = Storage::uninit(T::DTYPE, planes * out_len);
    let dst = SendPtr(out.as_ptr::<T>());
    let grain = (parallel::ELEMENTWISE_GRAIN / work.max(1)).max(1);
    parallel::parallel_for(planes, grain, |start, end| {
        for plane in start..end {
            // SAFETY: each plane owns a disjoint `out_len` range of fresh storage; tasks get
            // disjoint plane ranges.
            let o = unsafe { std::slice::from_raw_parts_mut(dst.get().add(plane * out_len), out_len) };
            f(plane, o);
        }
    });
    out
}

/// Output size of a window op along both dims.
fn window_output(op: &str, input: [usize; 2], w: &Window2d) -> [usize; 2] {
    assert!(
        w.kernel.iter().chain(&w.stride).chain(&w.dilation).all(|&v| v > 0),
        "{op}: kernel {:?}, stride {:?} and dilation {:?} must be positive",
        w.kernel,
        w.stride,
        w.dilation
    );
    // PyTorch's rule: it guarantees every window holds at least one real element.
    assert!(
        w.padding[0] <= w.kernel[0] / 2 && w.padding[1] <= w.kernel[1] / 2,
        "{op}: padding {:?} must be at most half the kernel {:?}",
        w.padding,
        w.kernel
    );
    std::array::from_fn(|i| {
        ignis_ir::shape::conv_out_len(input[i], w.kernel[i], w.stride[i], w.padding[i], w.dilation[i])
            .unwrap_or_else(|e| panic!("{op}: input {input:?} with kernel {:?}: {e}", w.kernel))
    })
}

/// The input positions along one dim that window `out_index` covers, as a start and a step
/// count (padding taps skipped), plus the first tap index that is inside.
fn taps(
    out_index: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> (usize, usize, usize) {
    let start = (out_index * stride) as isize - padding as isize;
    let d = dilation as isize;
    let first = if start >= 0 { 0 } else { ((-start + d - 1) / d) as usize };
    let mut last = kernel; // one past the last tap inside
    while last > first && start + (last as isize - 1) * d >= input as isize {
        last -= 1;
    }
    let begin = if first < last { (start + first as isize * d) as usize } else { 0 };
    (begin, last.saturating_sub(first), first)
}

/// Max pooling with PyTorch's semantics: padding counts as -inf, the first maximum wins,
/// and NaN propagates. Returns the values and, as i64, each maximum's flat `h * W + w`
/// position within its input plane; both of shape `[N, C, OH, OW]`.
pub fn max_pool2d(x: View, window: &Window2d) -> (Storage, Storage) {
    let (planes, input) = planes_of("max_pool2d", x);
    let output = window_output("max_pool2d", input, window);
    let dense = DenseInput::new(x, "max_pool2d");
    let indices = Storage::uninit(DType::I64, planes * output[0] * output[1]);
    let values = match dense.dtype() {
        DType::F32 => {
            max_pool_typed::<f32>(dense.slice(planes * input[0] * input[1]), planes, input, output, window, &indices)
        }
        _ => max_pool_typed::<f64>(dense.slice(planes * input[0] * input[1]), planes, input, output, window, &indices),
    };
    (narrow_to(values, x.dtype()), indices)
}

fn max_pool_typed<T: Real>(
    x: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    win: &Window2d,
    indices: &Storage,
) -> Storage {
    let idx = SendPtr(indices.as_ptr::<i64>());
    let out_len = oh * ow;
    per_plane::<T>(planes, out_len, out_len * win.kernel[0] * win.kernel[1], |plane, out| {
        let src = &x[plane * h * w..(plane + 1) * h * w];
        // SAFETY: this plane's disjoint range of the fresh index storage, as for `out`.
        let ids = unsafe { std::slice::from_raw_parts_mut(idx.get().add(plane * out_len), out_len) };
        for i in 0..oh {
            let (row0, rows, _) = taps(i, h, win.kernel[0], win.stride[0], win.padding[0], win.dilation[0]);
            for j in 0..ow {
                let (col0, cols, _) = taps(j, w, win.kernel[1], win.stride[1], win.padding[1], win.dilation[1]);
                let mut best = T::from_f64(f64::NEG_INFINITY);
                let mut at = row0 * w + col0;
                'window: for r in 0..rows {
                    let row = (row0 + r * win.dilation[0]) * w;
                    for c in 0..cols {
                        let p = row + col0 + c * win.dilation[1];
                        let v = src[p];
                        // `v != v` is NaN: it wins and stays, as in PyTorch.
                        #[allow(clippy::eq_op)]
                        if v > best || v != v {
                            best = v;
                            at = p;
                            if v != v {
                                break 'window;
                            }
                        }
                    }
                }
                out[i * ow + j] = best;
                ids[i * ow + j] = at as i64;
            }
        }
    })
}

/// Routes `grad` (`[N, C, OH, OW]`) to the input positions in `indices` (from `max_pool2d`),
/// summing where windows overlap; returns `[N, C, H, W]` with `[H, W] = input_hw`.
pub fn max_pool2d_backward(grad: View, indices: View, input_hw: [usize; 2]) -> Storage {
    let (planes, [oh, ow]) = planes_of("max_pool2d_backward", grad);
    assert_eq!(
        grad.shape(),
        indices.shape(),
        "max_pool2d_backward: grad {}{:?} and indices {}{:?} must have one shape",
        grad.dtype(),
        grad.shape(),
        indices.dtype(),
        indices.shape()
    );
    assert_eq!(indices.dtype(), DType::I64, "max_pool2d_backward: indices must be i64, got {}", indices.dtype());
    let ids = crate::cpu::copy::contiguous(indices);
    // SAFETY: fresh storage read only here.
    let ids = unsafe { ids.slice::<i64>() };
    let dense = DenseInput::new(grad, "max_pool2d_backward");
    let plane_len = input_hw[0] * input_hw[1];
    let out = match dense.dtype() {
        DType::F32 => max_unpool::<f32>(dense.slice(planes * oh * ow), ids, planes, oh * ow, plane_len),
        _ => max_unpool::<f64>(dense.slice(planes * oh * ow), ids, planes, oh * ow, plane_len),
    };
    narrow_to(out, grad.dtype())
}

fn max_unpool<T: Real>(grad: &[T], ids: &[i64], planes: usize, out_len: usize, plane_len: usize) -> Storage {
    per_plane::<T>(planes, plane_len, out_len, |plane, out| {
        out.fill(T::zero());
        let range = plane * out_len..(plane + 1) * out_len;
        for (&g, &at) in grad[range.clone()].iter().zip(&ids[range]) {
            let p = usize::try_from(at).ok().filter(|&p| p < plane_len).unwrap_or_else(|| {
                panic!("max_pool2d_backward: index {at} lies outside an input plane of {plane_len} elements")
            });
            out[p] += g;
        }
    })
}

/// Average pooling (no dilation, as in PyTorch). With `count_include_pad` every window
/// divides by `kh * kw`; without, by the number of real elements it covers.
pub fn avg_pool2d(x: View, window: &Window2d, count_include_pad: bool) -> Storage {
    let (planes, input) = planes_of("avg_pool2d", x);
    let output = avg_window_output("avg_pool2d", input, window);
    let dense = DenseInput::new(x, "avg_pool2d");
    let out = match dense.dtype() {
        DType::F32 => avg_typed::<f32>(
            dense.slice(planes * input[0] * input[1]),
            planes,
            input,
            output,
            window,
            count_include_pad,
        ),
        _ => avg_typed::<f64>(
            dense.slice(planes * input[0] * input[1]),
            planes,
            input,
            output,
            window,
            count_include_pad,
        ),
    };
    narrow_to(out, x.dtype())
}

fn avg_window_output(op: &str, input: [usize; 2], w: &Window2d) -> [usize; 2] {
    assert_eq!(w.dilation, [1, 1], "{op}: dilation {:?} is not supported, only [1, 1]", w.dilation);
    window_output(op, input, w)
}

/// The rows (or columns) of window `i` inside the input, and its divisor along that dim.
fn avg_extent(
    i: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    include_pad: bool,
) -> (usize, usize, usize) {
    let (begin, count, _) = taps(i, input, kernel, stride, padding, 1);
    // Without ceil mode a window never reaches past the padding, so it always spans `kernel`.
    (begin, count, if include_pad { kernel } else { count })
}

fn avg_typed<T: Real>(
    x: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    win: &Window2d,
    include_pad: bool,
) -> Storage {
    per_plane::<T>(planes, oh * ow, oh * ow * win.kernel[0] * win.kernel[1], |plane, out| {
        let src = &x[plane * h * w..(plane + 1) * h * w];
        for i in 0..oh {
            let (r0, rows, rdiv) = avg_extent(i, h, win.kernel[0], win.stride[0], win.padding[0], include_pad);
            for j in 0..ow {
                let (c0, cols, cdiv) = avg_extent(j, w, win.kernel[1], win.stride[1], win.padding[1], include_pad);
                let mut sum = T::zero();
                for r in r0..r0 + rows {
                    for &v in &src[r * w + c0..r * w + c0 + cols] {
                        sum += v;
                    }
                }
                out[i * ow + j] = sum / T::from_f64((rdiv * cdiv) as f64);
            }
        }
    })
}

/// The gradient of `avg_pool2d`: each output's gradient, divided as in the forward pass,
/// added to every input element of its window.
pub fn avg_pool2d_backward(grad: View, window: &Window2d, input_hw: [usize; 2], count_include_pad: bool) -> Storage {
    let (planes, out_hw) = planes_of("avg_pool2d_backward", grad);
    let expected = avg_window_output("avg_pool2d_backward", input_hw, window);
    assert_eq!(
        out_hw, expected,
        "avg_pool2d_backward: grad of spatial size {out_hw:?} does not match input {input_hw:?} with {window:?}"
    );
    let dense = DenseInput::new(grad, "avg_pool2d_backward");
    let n = planes * out_hw[0] * out_hw[1];
    let out = match dense.dtype() {
        DType::F32 => avg_backward_typed::<f32>(dense.slice(n), planes, input_hw, out_hw, window, count_include_pad),
        _ => avg_backward_typed::<f64>(dense.slice(n), planes, input_hw, out_hw, window, count_include_pad),
    };
    narrow_to(out, grad.dtype())
}

fn avg_backward_typed<T: Real>(
    g: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    win: &Window2d,
    include_pad: bool,
) -> Storage {
    per_plane::<T>(planes, h * w, oh * ow * win.kernel[0] * win.kernel[1], |plane, out| {
        out.fill(T::zero());
        let src = &g[plane * oh * ow..(plane + 1) * oh * ow];
        for i in 0..oh {
            let (r0, rows, rdiv) = avg_extent(i, h, win.kernel[0], win.stride[0], win.padding[0], include_pad);
            for j in 0..ow {
                let (c0, cols, cdiv) = avg_extent(j, w, win.kernel[1], win.stride[1], win.padding[1], include_pad);
                let share = src[i * ow + j] / T::from_f64((rdiv * cdiv) as f64);
                for r in r0..r0 + rows {
                    for o in &mut out[r * w + c0..r * w + c0 + cols] {
                        *o += share;
                    }
                }
            }
        }
    })
}

/// PyTorch's adaptive window along one dim: `[floor(i*in/out), ceil((i+1)*in/out))`.
fn adaptive_range(i: usize, input: usize, output: usize) -> (usize, usize) {
    (i * input / output, ((i + 1) * input).div_ceil(output))
}

fn check_adaptive(op: &str, input: [usize; 2], output: [usize; 2]) {
    assert!((0..2).all(|d| output[d] == 0 || input[d] > 0), "{op}: cannot pool an empty input {input:?} to {output:?}");
}

/// Average pooling to a fixed output size; windows follow `adaptive_range` and may overlap.
pub fn adaptive_avg_pool2d(x: View, output_hw: [usize; 2]) -> Storage {
    let (planes, input) = planes_of("adaptive_avg_pool2d", x);
    check_adaptive("adaptive_avg_pool2d", input, output_hw);
    let dense = DenseInput::new(x, "adaptive_avg_pool2d");
    let n = planes * input[0] * input[1];
    let out = match dense.dtype() {
        DType::F32 => adaptive_typed::<f32>(dense.slice(n), planes, input, output_hw),
        _ => adaptive_typed::<f64>(dense.slice(n), planes, input, output_hw),
    };
    narrow_to(out, x.dtype())
}

fn adaptive_typed<T: Real>(x: &[T], planes: usize, [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Storage {
    per_plane::<T>(planes, oh * ow, h * w + oh * ow, |plane, out| {
        let src = &x[plane * h * w..(plane + 1) * h * w];
        for i in 0..oh {
            let (r0, r1) = adaptive_range(i, h, oh);
            for j in 0..ow {
                let (c0, c1) = adaptive_range(j, w, ow);
                let mut sum = T::zero();
                for r in r0..r1 {
                    for &v in &src[r * w + c0..r * w + c1] {
                        sum += v;
                    }
                }
                out[i * ow + j] = sum / T::from_f64(((r1 - r0) * (c1 - c0)) as f64);
            }
        }
    })
}

/// The gradient of `adaptive_avg_pool2d` for an input of spatial size `input_hw`.
pub fn adaptive_avg_pool2d_backward(grad: View, input_hw: [usize; 2]) -> Storage {
    let (planes, out_hw) = planes_of("adaptive_avg_pool2d_backward", grad);
    check_adaptive("adaptive_avg_pool2d_backward", input_hw, out_hw);
    let dense = DenseInput::new(grad, "adaptive_avg_pool2d_backward");
    let n = planes * out_hw[0] * out_hw[1];
    let out = match dense.dtype() {
        DType::F32 => adaptive_backward_typed::<f32>(dense.slice(n), planes, input_hw, out_hw),
        _ => adaptive_backward_typed::<f64>(dense.slice(n), planes, input_hw, out_hw),
    };
    narrow_to(out, grad.dtype())
}

fn adaptive_backward_typed<T: Real>(g: &[T], planes: usize, [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Storage {
    per_plane::<T>(planes, h * w, h * w + oh * ow, |plane, out| {
        out.fill(T::zero());
        let src = &g[plane * oh * ow..(plane + 1) * oh * ow];
        for i in 0..oh {
            let (r0, r1) = adaptive_range(i, h, oh);
            for j in 0..ow {
                let (c0, c1) = adaptive_range(j, w, ow);
                let share = src[i * ow + j] / T::from_f64(((r1 - r0) * (c1 - c0)) as f64);
                for r in r0..r1 {
                    for o in &mut out[r * w + c0..r * w + c1] {
                        *o += share;
                    }
                }
            }
        }
    })
}

/// Nearest-neighbour source index along one dim: `floor(dst * in / out)`, computed exactly
/// in integers (PyTorch computes it in f32, which agrees except where rounding bites).
fn nearest(dst: usize, input: usize, output: usize) -> usize {
    dst * input / output
}

/// Nearest-neighbour upsampling (or downsampling) to `output_hw`.
pub fn upsample_nearest2d(x: View, output_hw: [usize; 2]) -> Storage {
    let (planes, input) = planes_of("upsample_nearest2d", x);
    check_adaptive("upsample_nearest2d", input, output_hw);
    let dense = DenseInput::new(x, "upsample_nearest2d");
    let n = planes * input[0] * input[1];
    let out = match dense.dtype() {
        DType::F32 => upsample_typed::<f32>(dense.slice(n), planes, input, output_hw),
        _ => upsample_typed::<f64>(dense.slice(n), planes, input, output_hw),
    };
    narrow_to(out, x.dtype())
}

fn upsample_typed<T: Real>(x: &[T], planes: usize, [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Storage {
    let cols: Vec<usize> = (0..ow).map(|j| nearest(j, w, ow)).collect();
    per_plane::<T>(planes, oh * ow, oh * ow, |plane, out| {
        let src = &x[plane * h * w..(plane + 1) * h * w];
        for (i, line) in out.chunks_exact_mut(ow.max(1)).enumerate() {
            let row = &src[nearest(i, h, oh) * w..][..w];
            for (o, &c) in line.iter_mut().zip(&cols) {
                *o = row[c];
            }
        }
    })
}

/// The gradient of `upsample_nearest2d`: each output's gradient added to its source element.
pub fn upsample_nearest2d_backward(grad: View, input_hw: [usize; 2]) -> Storage {
    let (planes, out_hw) = planes_of("upsample_nearest2d_backward", grad);
    check_adaptive("upsample_nearest2d_backward", input_hw, out_hw);
    let dense = DenseInput::new(grad, "upsample_nearest2d_backward");
    let n = planes * out_hw[0] * out_hw[1];
    let out = match dense.dtype() {
        DType::F32 => upsample_backward_typed::<f32>(dense.slice(n), planes, input_hw, out_hw),
        _ => upsample_backward_typed::<f64>(dense.slice(n), planes, input_hw, out_hw),
    };
    narrow_to(out, grad.dtype())
}

fn upsample_backward_typed<T: Real>(g: &[T], planes: usize, [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Storage {
    let cols: Vec<usize> = (0..ow).map(|j| nearest(j, w, ow)).collect();
    per_plane::<T>(planes, h * w, oh * ow, |plane, out| {
        out.fill(T::zero());
        let src = &g[plane * oh * ow..(plane + 1) * oh * ow];
        for (i, line) in src.chunks_exact(ow.max(1)).enumerate().take(oh) {
            let row = &mut out[nearest(i, h, oh) * w..][..w];
            for (&v, &c) in line.iter().zip(&cols) {
                row[c] += v;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn window(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2]) -> Window2d {
        Window2d { kernel, stride, padding, dilation }
    }

    fn tensor(data: &[f64], shape: &[usize]) -> (Storage, Layout) {
        (Storage::from_slice(data), Layout::contiguous(shape))
    }

    fn random(seed: u64, len: usize) -> Vec<f64> {
        let mut v = vec![0.0; len];
        crate::random::fill_uniform(&mut v, seed, 0);
        v.iter().map(|x| x * 2.0 - 1.0).collect()
    }

    #[rustfmt::skip]
    const X4: [f64; 16] = [
        1.0, 5.0, 2.0, 0.0,
        3.0, 4.0, 8.0, 7.0,
        9.0, 6.0, 1.0, 2.0,
        0.0, 2.0, 3.0, 4.0,
    ];

    #[test]
    fn max_pool_by_hand() {
        let (s, l) = tensor(&X4, &[1, 1, 4, 4]);
        // 2x2 windows, stride 2: maxima 5 (at 1), 8 (at 6), 9 (at 8), 4 (at 15).
        let (v, i) = max_pool2d(View::new(&s, &l), &window([2, 2], [2, 2], [0, 0], [1, 1]));
        assert_eq!(v.to_vec::<f64>(), vec![5.0, 8.0, 9.0, 4.0]);
        assert_eq!(i.to_vec::<i64>(), vec![1, 6, 8, 15]);
        // Padding 1: windows cover rows {0}, {1,2}, {3} and the same columns.
        // Row {0}: 1 (0), max(5,2) = 5 (1), 0 (3). Rows {1,2}: max(3,9) = 9 (8),
        // max(4,8,6,1) = 8 (6), max(7,2) = 7 (7). Row {3}: 0 (12), max(2,3) = 3 (14), 4 (15).
        let (v, i) = max_pool2d(View::new(&s, &l), &window([2, 2], [2, 2], [1, 1], [1, 1]));
        assert_eq!(v.to_vec::<f64>(), vec![1.0, 5.0, 0.0, 9.0, 8.0, 7.0, 0.0, 3.0, 4.0]);
        assert_eq!(i.to_vec::<i64>(), vec![0, 1, 3, 8, 6, 7, 12, 14, 15]);
        // Dilation 2 with a 2x2 kernel reads corners of 3x3 squares:
        // max(1,2,9,1) = 9 (8), max(5,0,6,2) = 6 (9), max(3,8,0,3) = 8 (6), max(4,7,2,4) = 7 (7).
        let (v, i) = max_pool2d(View::new(&s, &l), &window([2, 2], [1, 1], [0, 0], [2, 2]));
        assert_eq!(v.to_vec::<f64>(), vec![9.0, 6.0, 8.0, 7.0]);
        assert_eq!(i.to_vec::<i64>(), vec![8, 9, 6, 7]);
    }

    #[test]
    fn max_pool_backward_accumulates_overlaps() {
        // x = [1 3 2] with 1x2 windows at stride 1: both windows pick 3 (index 1), so its
        // gradient is 10 + 20 and the others get nothing.
        let (s, l) = tensor(&[1.0, 3.0, 2.0], &[1, 1, 1, 3]);
        let (_, i) = max_pool2d(View::new(&s, &l), &window([1, 2], [1, 1], [0, 0], [1, 1]));
        let (g, gl) = tensor(&[10.0, 20.0], &[1, 1, 1, 2]);
        let dx = max_pool2d_backward(View::new(&g, &gl), View::new(&i, &gl), [1, 3]);
        assert_eq!(dx.to_vec::<f64>(), vec![0.0, 30.0, 0.0]);
    }

    #[test]
    fn avg_pool_by_hand() {
        // x = [[1 2 3], [4 5 6], [7 8 9]], 2x2 windows, stride 2, padding 1: windows cover
        // {1}, {2,3}, {4,7}, {5,6,8,9} with sums 1, 5, 11, 28. Including padding each
        // divides by 4; excluding it, by 1, 2, 2, 4.
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        let (s, l) = tensor(&x, &[1, 1, 3, 3]);
        let w = window([2, 2], [2, 2], [1, 1], [1, 1]);
        assert_eq!(avg_pool2d(View::new(&s, &l), &w, true).to_vec::<f64>(), vec![0.25, 1.25, 2.75, 7.0]);
        assert_eq!(avg_pool2d(View::new(&s, &l), &w, false).to_vec::<f64>(), vec![1.0, 2.5, 5.5, 7.0]);
        // Backward of ones: windows tile the input, so each element gets 1 / its window's divisor.
        let (g, gl) = tensor(&[1.0; 4], &[1, 1, 2, 2]);
        assert_eq!(avg_pool2d_backward(View::new(&g, &gl), &w, [3, 3], true).to_vec::<f64>(), vec![0.25; 9]);
        assert_eq!(
            avg_pool2d_backward(View::new(&g, &gl), &w, [3, 3], false).to_vec::<f64>(),
            vec![1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.5, 0.25, 0.25]
        );
    }

    #[test]
    fn adaptive_avg_pool_by_hand() {
        // Width 5 to 3: windows [0,2), [1,4), [3,5) (floor(i*5/3) to ceil((i+1)*5/3)),
        // means of [1 2], [2 3 4], [4 5].
        let (s, l) = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1, 1, 1, 5]);
        assert_eq!(adaptive_avg_pool2d(View::new(&s, &l), [1, 3]).to_vec::<f64>(), vec![1.5, 3.0, 4.5]);
        // Backward of ones: 1/2 from the first window, 1/3 from the second, 1/2 from the third.
        let (g, gl) = tensor(&[1.0; 3], &[1, 1, 1, 3]);
        let dx = adaptive_avg_pool2d_backward(View::new(&g, &gl), [1, 5]).to_vec::<f64>();
        let third = 1.0 / 3.0;
        let expected = [0.5, 0.5 + third, third, third + 0.5, 0.5];
        assert!(dx.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-15), "{dx:?}");
    }

    #[test]
    fn upsample_nearest_by_hand() {
        // [[1 2 3], [4 5 6]] to 3x2: source rows floor(i*2/3) = 0, 0, 1 and columns
        // floor(j*3/2) = 0, 1.
        let (s, l) = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 1, 2, 3]);
        assert_eq!(upsample_nearest2d(View::new(&s, &l), [3, 2]).to_vec::<f64>(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 5.0]);
        // Backward of ones counts how often each source is read: row 0 twice, row 1 once,
        // column 2 never.
        let (g, gl) = tensor(&[1.0; 6], &[1, 1, 3, 2]);
        let dx = upsample_nearest2d_backward(View::new(&g, &gl), [2, 3]).to_vec::<f64>();
        assert_eq!(dx, vec![2.0, 2.0, 0.0, 1.0, 1.0, 0.0]);
    }

    /// Checks `backward(g)` against central differences of `x -> <forward(x), g>`.
    fn check_gradient(
        shape: &[usize],
        forward: &dyn Fn(View) -> Storage,
        backward: &dyn Fn(View, View) -> Storage,
        seed: u64,
    ) {
        let x = random(seed, shape.iter().product());
        let (xs, xl) = tensor(&x, shape);
        let y = forward(View::new(&xs, &xl));
        let g = random(seed + 100, y.len());
        let gs = Storage::from_slice(&g);
        let dx: Vec<f64> = backward(View::new(&gs, &Layout::contiguous(&[y.len()])), View::new(&xs, &xl)).to_vec();
        assert_eq!(dx.len(), x.len());
        let loss = |x: &[f64]| -> f64 {
            let (s, l) = tensor(x, shape);
            forward(View::new(&s, &l)).to_vec::<f64>().iter().zip(&g).map(|(a, b)| a * b).sum()
        };
        let eps = 1e-6;
        for i in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += eps;
            down[i] -= eps;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * eps);
            assert!((numeric - dx[i]).abs() < 1e-6, "element {i}: numeric {numeric} vs backward {}", dx[i]);
        }
    }

    /// A gradient laid out flat, reshaped to the forward output's shape.
    fn shaped<'a>(g: View<'a>, layout: &'a Layout) -> View<'a> {
        View::new(g.storage, layout)
    }

    #[test]
    fn backward_kernels_match_finite_differences() {
        let shape = [2, 2, 6, 5];
        let hw = [6, 5];
        for w in [
            window([3, 2], [2, 1], [1, 1], [1, 1]),
            window([2, 2], [1, 2], [0, 1], [2, 1]),
            window([3, 3], [1, 1], [1, 1], [1, 1]),
        ] {
            let out = window_output("test", hw, &w);
            let ol = Layout::contiguous(&[2, 2, out[0], out[1]]);
            check_gradient(
                &shape,
                &|x| max_pool2d(x, &w).0,
                &|g, x| {
                    let (_, i) = max_pool2d(x, &w);
                    max_pool2d_backward(shaped(g, &ol), View::new(&i, &ol), hw)
                },
                1,
            );
            if w.dilation == [1, 1] {
                for include in [true, false] {
                    check_gradient(
                        &shape,
                        &|x| avg_pool2d(x, &w, include),
                        &|g, _| avg_pool2d_backward(shaped(g, &ol), &w, hw, include),
                        2,
                    );
                }
            }
        }
        for out in [[4, 3], [3, 5], [1, 1], [9, 7]] {
            let ol = Layout::contiguous(&[2, 2, out[0], out[1]]);
            check_gradient(
                &shape,
                &|x| adaptive_avg_pool2d(x, out),
                &|g, _| adaptive_avg_pool2d_backward(shaped(g, &ol), hw),
                3,
            );
            check_gradient(
                &shape,
                &|x| upsample_nearest2d(x, out),
                &|g, _| upsample_nearest2d_backward(shaped(g, &ol), hw),
                4,
            );
        }
    }

    #[test]
    fn strided_f32_and_half_inputs_agree_with_f64() {
        // A transposed view, an f32 copy and a bf16 copy agree with the dense f64 input.
        let x = random(9, 2 * 3 * 5 * 6);
        let (s, l) = tensor(&x, &[2, 3, 6, 5]);
        let t = l.transpose(2, 3);
        let dense = crate::cpu::copy::contiguous(View::new(&s, &t));
        let dl = Layout::contiguous(&[2, 3, 5, 6]);
        let w = window([2, 3], [2, 2], [1, 1], [1, 1]);
        let expected: Vec<f64> = max_pool2d(View::new(&dense, &dl), &w).0.to_vec();
        let from_view: Vec<f64> = max_pool2d(View::new(&s, &t), &w).0.to_vec();
        assert_eq!(from_view, expected);
        let f32s = crate::cpu::copy::cast(View::new(&s, &t), DType::F32);
        let (v32, _) = max_pool2d(View::new(&f32s, &dl), &w);
        assert!(v32.to_vec::<f32>().iter().zip(&expected).all(|(a, b)| (*a as f64 - b).abs() < 1e-6));
        let half = crate::cpu::copy::cast(View::new(&dense, &dl), DType::BF16);
        let hv = avg_pool2d(View::new(&half, &dl), &w, true);
        assert_eq!(hv.dtype(), DType::BF16);
        let exact: Vec<f64> = avg_pool2d(View::new(&dense, &dl), &w, true).to_vec();
        for (a, b) in hv.to_vec::<half::bf16>().iter().zip(&exact) {
            assert!((a.to_f64() - b).abs() < 0.01, "{a} vs {b}");
        }
    }

    #[test]
    fn max_pool_propagates_nan() {
        let (s, l) = tensor(&[1.0, f64::NAN, 3.0, 2.0], &[1, 1, 2, 2]);
        let (v, i) = max_pool2d(View::new(&s, &l), &window([2, 2], [2, 2], [0, 0], [1, 1]));
        assert!(v.to_vec::<f64>()[0].is_nan());
        assert_eq!(i.to_vec::<i64>(), vec![1]);
    }

    #[test]
    #[should_panic(expected = "max_pool2d: padding [2, 0] must be at most half the kernel [3, 3]")]
    fn too_much_padding_panics() {
        let (s, l) = tensor(&[0.0; 25], &[1, 1, 5, 5]);
        max_pool2d(View::new(&s, &l), &window([3, 3], [1, 1], [2, 0], [1, 1]));
    }
}
