//! im2col (`unfold`) and its adjoint col2im (`fold`), over 1 or 2 spatial dims.
//!
//! Convolutions are built on these by the frontend (unfold, matmul with the weight, reshape),
//! so this module knows about windows and planes only, not about weights, groups or autograd.
//! A 1-d problem is run as a 2-d one with a height of 1.

use crate::element::Element;
use crate::layout::Layout;
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use ignis_ir::DType;
use std::ops::{Add, AddAssign, Div, Mul, Sub};

/// The arithmetic the window kernels need; f32 and f64 are the types they are run with.
pub(crate) trait Real:
    Element + Add<Output = Self> + AddAssign + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
}
impl<T> Real for T where T: Element + Add<Output = T> + AddAssign + Sub<Output = T> + Mul<Output = T> + Div<Output = T> {}

/// A float input as a dense row-major buffer: the view's own storage when it is already
/// contiguous f32/f64, otherwise a copy (half floats widened to f32).
pub(crate) struct DenseInput {
    pub storage: Storage,
    /// Element index of the view's first element in `storage`.
    pub offset: usize,
}

impl DenseInput {
    pub fn new(v: View, op: &str) -> DenseInput {
        match v.dtype() {
            DType::F32 | DType::F64 if v.layout.is_contiguous() => {
                DenseInput { storage: v.storage.clone(), offset: v.layout.offset }
            }
            DType::F32 | DType::F64 => DenseInput { storage: crate::cpu::copy::contiguous(v), offset: 0 },
            DType::F16 | DType::BF16 => DenseInput { storage: crate::cpu::copy::cast(v, DType::F32), offset: 0 },
            other => panic!("{op}: expects a float tensor, got {other}{:?}", v.shape()),
        }
    }

    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }

    /// The first `len` elements of the view.
    pub fn slice<T: Element>(&self, len: usize) -> &[T] {
        // SAFETY: the storage holds the view's elements from `offset` on (contiguous layout
        // invariant), and nothing writes to it while a kernel reads its input.
        unsafe { &self.storage.slice::<T>()[self.offset..self.offset + len] }
    }
}

/// Converts a result computed in f32 back to the caller's half dtype.
pub(crate) fn narrow_to(result: Storage, dtype: DType) -> Storage {
    if result.dtype() == dtype {
        return result;
    }
    let l = Layout::contiguous(&[result.len()]);
    crate::cpu::copy::cast(View::new(&result, &l), dtype)
}

/// Windows over a 2-d plane (1-d problems have a unit height).
#[derive(Clone, Debug)]
struct Geometry {
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    /// The image's spatial size.
    input: [usize; 2],
    /// The number of window positions along each dim.
    output: [usize; 2],
}

impl Geometry {
    fn new(
        op: &str,
        spatial: &[usize],
        kernel: &[usize],
        stride: &[usize],
        padding: &[usize],
        dilation: &[usize],
    ) -> Geometry {
        let d = kernel.len();
        assert!(
            (d == 1 || d == 2) && [spatial.len(), stride.len(), padding.len(), dilation.len()].iter().all(|&l| l == d),
            "{op}: expects 1 or 2 spatial dims with one kernel, stride, padding and dilation entry each, got \
             spatial {spatial:?}, kernel {kernel:?}, stride {stride:?}, padding {padding:?}, dilation {dilation:?}"
        );
        assert!(
            kernel.iter().chain(stride).chain(dilation).all(|&v| v > 0),
            "{op}: kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must be positive"
        );
        let two = |v: &[usize], fill: usize| if d == 1 { [fill, v[0]] } else { [v[0], v[1]] };
        let g = Geometry {
            kernel: two(kernel, 1),
            stride: two(stride, 1),
            padding: two(padding, 0),
            dilation: two(dilation, 1),
            input: two(spatial, 1),
            output: [0, 0],
        };
        let out = |i: usize| {
            ignis_ir::shape::conv_out_len(g.input[i], g.kernel[i], g.stride[i], g.padding[i], g.dilation[i])
                .unwrap_or_else(|e| panic!("{op}: spatial size {spatial:?} with kernel {kernel:?}: {e}"))
        };
        Geometry { output: [out(0), out(1)], ..g }
    }

    fn kernel_len(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    fn positions(&self) -> usize {
        self.output[0] * self.output[1]
    }

    fn plane(&self) -> usize {
        self.input[0] * self.input[1]
    }

    /// Along `dim`, for kernel tap `tap`: the input index of window position 0 (may be
    /// negative) and the range of positions whose input index lies inside the image.
    fn taps(&self, dim: usize, tap: usize) -> (isize, usize, usize) {
        let offset = (tap * self.dilation[dim]) as isize - self.padding[dim] as isize;
        let stride = self.stride[dim] as isize;
        let lo = if offset >= 0 { 0 } else { ((-offset + stride - 1) / stride) as usize };
        let last = self.input[dim] as isize - 1 - offset;
        let hi = if last < 0 { 0 } else { ((last / stride + 1) as usize).min(self.output[dim]) };
        (offset, lo.min(hi), hi)
    }
}

/// Sliding-window columns (im2col): `x` of shape `[N, C, *spatial]` (1 or 2 spatial dims)
/// becomes `[N, C * prod(kernel), L]`, L the number of window positions; padding reads zeros.
/// Rows are ordered channel-major, then by kernel tap, as in PyTorch's `unfold`.
pub fn unfold(x: View, kernel: &[usize], stride: &[usize], padding: &[usize], dilation: &[usize]) -> Storage {
    let shape = x.shape();
    assert!(
        shape.len() == kernel.len() + 2,
        "unfold: expects an input of shape [N, C, *spatial] with {} spatial dims for kernel {kernel:?}, got {}{shape:?}",
        kernel.len(),
        x.dtype()
    );
    let g = Geometry::new("unfold", &shape[2..], kernel, stride, padding, dilation);
    let planes = shape[0] * shape[1];
    let input = DenseInput::new(x, "unfold");
    let out = match input.dtype() {
        DType::F32 => unfold_typed::<f32>(&g, planes, input.slice(planes * g.plane())),
        _ => unfold_typed::<f64>(&g, planes, input.slice(planes * g.plane())),
    };
    narrow_to(out, x.dtype())
}

fn unfold_typed<T: Real>(g: &Geometry, planes: usize, x: &[T]) -> Storage {
    let (k, l) = (g.kernel_len(), g.positions());
    let out = Storage::uninit(T::DTYPE, planes * k * l);
    let dst = SendPtr(out.as_ptr::<T>());
    let [w, ow] = [g.input[1], g.output[1]];
    let grain = (parallel::ELEMENTWISE_GRAIN / (k * l).max(1)).max(1);
    parallel::parallel_for(planes, grain, |start, end| {
        for plane in start..end {
            let src = &x[plane * g.plane()..(plane + 1) * g.plane()];
            // SAFETY: plane `plane` owns output elements [plane*k*l, (plane+1)*k*l) of fresh
            // storage; tasks get disjoint plane ranges.
            let cols = unsafe { std::slice::from_raw_parts_mut(dst.get().add(plane * k * l), k * l) };
            for kh in 0..g.kernel[0] {
                let (row_off, row_lo, row_hi) = g.taps(0, kh);
                for kw in 0..g.kernel[1] {
                    let (col_off, lo, hi) = g.taps(1, kw);
                    let rows = &mut cols[(kh * g.kernel[1] + kw) * l..][..l];
                    for (oh, line) in rows.chunks_exact_mut(ow).enumerate() {
                        if oh < row_lo || oh >= row_hi {
                            line.fill(T::zero());
                            continue;
                        }
                        let ih = (oh as isize * g.stride[0] as isize + row_off) as usize;
                        let image_row = &src[ih * w..(ih + 1) * w];
                        line[..lo].fill(T::zero());
                        line[hi..].fill(T::zero());
                        if lo < hi {
                            let first = (lo as isize * g.stride[1] as isize + col_off) as usize;
                            if g.stride[1] == 1 {
                                line[lo..hi].copy_from_slice(&image_row[first..first + hi - lo]);
                            } else {
                                for (o, v) in
                                    line[lo..hi].iter_mut().zip(image_row[first..].iter().step_by(g.stride[1]))
                                {
                                    *o = *v;
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    out
}

/// Sums sliding-window columns back into an image (col2im), the adjoint of `unfold`:
/// `cols` of shape `[N, C * prod(kernel), L]` becomes `[N, C, *output]`, where `output` is
/// the image's spatial size and L must be the number of window positions over it.
pub fn fold(
    cols: View,
    output: &[usize],
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
) -> Storage {
    let g = Geometry::new("fold", output, kernel, stride, padding, dilation);
    let shape = cols.shape();
    let (k, l) = (g.kernel_len(), g.positions());
    assert!(
        shape.len() == 3 && shape[1].is_multiple_of(k) && shape[2] == l,
        "fold: expects columns of shape [N, C * {k}, {l}] for output {output:?} with kernel {kernel:?}, got {}{shape:?}",
        cols.dtype()
    );
    let planes = shape[0] * (shape[1] / k);
    let input = DenseInput::new(cols, "fold");
    let out = match input.dtype() {
        DType::F32 => fold_typed::<f32>(&g, planes, input.slice(planes * k * l)),
        _ => fold_typed::<f64>(&g, planes, input.slice(planes * k * l)),
    };
    narrow_to(out, cols.dtype())
}

fn fold_typed<T: Real>(g: &Geometry, planes: usize, cols: &[T]) -> Storage {
    let (k, l) = (g.kernel_len(), g.positions());
    let out = Storage::uninit(T::DTYPE, planes * g.plane());
    let dst = SendPtr(out.as_ptr::<T>());
    let [w, ow] = [g.input[1], g.output[1]];
    let grain = (parallel::ELEMENTWISE_GRAIN / (k * l).max(1)).max(1);
    parallel::parallel_for(planes, grain, |start, end| {
        for plane in start..end {
            let src = &cols[plane * k * l..(plane + 1) * k * l];
            // SAFETY: plane `plane` owns its own image of fresh storage; tasks get disjoint
            // plane ranges.
            let image = unsafe { std::slice::from_raw_parts_mut(dst.get().add(plane * g.plane()), g.plane()) };
            image.fill(T::zero());
            for kh in 0..g.kernel[0] {
                let (row_off, row_lo, row_hi) = g.taps(0, kh);
                for kw in 0..g.kernel[1] {
                    let (col_off, lo, hi) = g.taps(1, kw);
                    if lo >= hi {
                        continue;
                    }
                    let rows = &src[(kh * g.kernel[1] + kw) * l..][..l];
                    for oh in row_lo..row_hi {
                        let ih = (oh as isize * g.stride[0] as isize + row_off) as usize;
                        let image_row = &mut image[ih * w..(ih + 1) * w];
                        let line = &rows[oh * ow..(oh + 1) * ow];
                        let first = (lo as isize * g.stride[1] as isize + col_off) as usize;
                        for (o, v) in image_row[first..].iter_mut().step_by(g.stride[1]).zip(&line[lo..hi]) {
                            *o += *v;
                        }
                    }
                }
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: u64, len: usize) -> Vec<f64> {
        let mut v = vec![0.0; len];
        crate::random::fill_uniform(&mut v, seed, 0);
        v.iter().map(|x| x * 2.0 - 1.0).collect()
    }

    fn unfold_f64(x: &[f64], shape: &[usize], k: &[usize], s: &[usize], p: &[usize], d: &[usize]) -> Vec<f64> {
        let st = Storage::from_slice(x);
        unfold(View::new(&st, &Layout::contiguous(shape)), k, s, p, d).to_vec()
    }

    #[test]
    fn unfold_1d_by_hand() {
        // x = [1 2 3 4 5], kernel 2, stride 2, padding 1: windows start at -1, 1, 3 and
        // read [0 1], [2 3], [4 5]. Row 0 holds the first taps, row 1 the second.
        let cols = unfold_f64(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1, 1, 5], &[2], &[2], &[1], &[1]);
        assert_eq!(cols, vec![0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
    }

    #[test]
    fn unfold_2d_by_hand() {
        // x = [[1 2 3], [4 5 6], [7 8 9]], kernel 2x2, stride 1, no padding: four windows
        // whose top-left corners are 1, 2, 4, 5. Rows are taps (0,0), (0,1), (1,0), (1,1).
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        let cols = unfold_f64(&x, &[1, 1, 3, 3], &[2, 2], &[1, 1], &[0, 0], &[1, 1]);
        #[rustfmt::skip]
        let expected = vec![
            1.0, 2.0, 4.0, 5.0,
            2.0, 3.0, 5.0, 6.0,
            4.0, 5.0, 7.0, 8.0,
            5.0, 6.0, 8.0, 9.0,
        ];
        assert_eq!(cols, expected);
    }

    #[test]
    fn fold_counts_overlaps() {
        // Folding all-ones columns of a 2x2 kernel over a 3x3 image counts how many windows
        // cover each pixel: corners 1, edges 2, centre 4.
        let ones = Storage::from_vec(vec![1.0f32; 16]);
        let out = fold(View::new(&ones, &Layout::contiguous(&[1, 4, 4])), &[3, 3], &[2, 2], &[1, 1], &[0, 0], &[1, 1]);
        assert_eq!(out.to_vec::<f32>(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    }

    #[test]
    fn fold_is_the_adjoint_of_unfold() {
        // <unfold(x), y> == <x, fold(y)> for any x and y, so fold is unfold's transpose.
        // (input shape, kernel, stride, padding, dilation)
        type Case = (&'static [usize], &'static [usize], &'static [usize], &'static [usize], &'static [usize]);
        let cases: &[Case] = &[
            (&[2, 3, 7, 6], &[3, 2], &[2, 1], &[1, 2], &[2, 1]),
            (&[1, 2, 5, 5], &[3, 3], &[1, 1], &[1, 1], &[1, 1]),
            (&[2, 1, 9, 4], &[2, 3], &[3, 2], &[0, 1], &[1, 2]),
            (&[3, 2, 11], &[3], &[2], &[2], &[3]),
            (&[1, 4, 6], &[1], &[1], &[0], &[1]),
        ];
        for (i, &(shape, k, s, p, d)) in cases.iter().enumerate() {
            let spatial = &shape[2..];
            let x = random(2 * i as u64, shape.iter().product());
            let cols = unfold_f64(&x, shape, k, s, p, d);
            let y = random(2 * i as u64 + 1, cols.len());
            let per = (cols.len() / shape[0]) / (shape[1] * k.iter().product::<usize>());
            let ys = Storage::from_slice(&y);
            let yl = Layout::contiguous(&[shape[0], shape[1] * k.iter().product::<usize>(), per]);
            let folded: Vec<f64> = fold(View::new(&ys, &yl), spatial, k, s, p, d).to_vec();
            let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&folded).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "case {i}: {lhs} vs {rhs}");
        }
    }

    #[test]
    fn conv2d_through_unfold_and_matmul() {
        // A conv2d as the frontend builds it: weight [O, C*KH*KW] @ unfold(x) [N, C*KH*KW, L]
        // gives [N, O, L], compared with a direct convolution loop.
        let (n, c, h, w, o) = (2, 3, 7, 6, 4);
        let (kh, kw) = (3, 2);
        let (stride, padding, dilation) = ([2, 1], [1, 2], [2, 1]);
        let x = random(1, n * c * h * w);
        let weight = random(2, o * c * kh * kw);
        let out_len = |i: usize, size: usize, k: usize| {
            ignis_ir::shape::conv_out_len(size, k, stride[i], padding[i], dilation[i]).unwrap()
        };
        let (oh, ow) = (out_len(0, h, kh), out_len(1, w, kw));
        let mut direct = vec![0.0; n * o * oh * ow];
        for b in 0..n {
            for f in 0..o {
                for y in 0..oh {
                    for z in 0..ow {
                        let mut s = 0.0;
                        for ch in 0..c {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (y * stride[0] + i * dilation[0]) as isize - padding[0] as isize;
                                    let iz = (z * stride[1] + j * dilation[1]) as isize - padding[1] as isize;
                                    if iy < 0 || iz < 0 || iy >= h as isize || iz >= w as isize {
                                        continue;
                                    }
                                    let xv = x[((b * c + ch) * h + iy as usize) * w + iz as usize];
                                    s += xv * weight[((f * c + ch) * kh + i) * kw + j];
                                }
                            }
                        }
                        direct[((b * o + f) * oh + y) * ow + z] = s;
                    }
                }
            }
        }
        for dtype in [DType::F64, DType::F32] {
            let cast = |v: &[f64], shape: &[usize]| {
                let s = Storage::from_slice(v);
                crate::cpu::copy::cast(View::new(&s, &Layout::contiguous(shape)), dtype)
            };
            let xs = cast(&x, &[n, c, h, w]);
            let cols =
                unfold(View::new(&xs, &Layout::contiguous(&[n, c, h, w])), &[kh, kw], &stride, &padding, &dilation);
            let ws = cast(&weight, &[o, c * kh * kw]);
            let (out, shape) = crate::cpu::matmul::matmul(
                View::new(&ws, &Layout::contiguous(&[o, c * kh * kw])),
                View::new(&cols, &Layout::contiguous(&[n, c * kh * kw, oh * ow])),
            );
            assert_eq!(shape.as_slice(), &[n, o, oh * ow]);
            let got = crate::cpu::copy::cast(View::new(&out, &Layout::contiguous(&[out.len()])), DType::F64);
            for (i, (a, b)) in got.to_vec::<f64>().iter().zip(&direct).enumerate() {
                assert!((a - b).abs() < 1e-5, "{dtype} at {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn strided_and_half_inputs() {
        // A transposed input is read through its layout, and bf16 is computed in f32: both
        // must match unfolding a contiguous f64 copy.
        let x = random(5, 2 * 3 * 4 * 5);
        let st = Storage::from_slice(&x);
        let base = Layout::contiguous(&[2, 3, 5, 4]);
        let view = base.transpose(2, 3);
        let args = (&[2usize, 3][..], &[1usize, 2][..], &[1usize, 0][..], &[1usize, 1][..]);
        let strided: Vec<f64> = unfold(View::new(&st, &view), args.0, args.1, args.2, args.3).to_vec();
        let dense = crate::cpu::copy::contiguous(View::new(&st, &view));
        let expected: Vec<f64> =
            unfold(View::new(&dense, &Layout::contiguous(&[2, 3, 4, 5])), args.0, args.1, args.2, args.3).to_vec();
        assert_eq!(strided, expected);
        let half = crate::cpu::copy::cast(View::new(&dense, &Layout::contiguous(&[dense.len()])), DType::BF16);
        let out = unfold(View::new(&half, &Layout::contiguous(&[2, 3, 4, 5])), args.0, args.1, args.2, args.3);
        assert_eq!(out.dtype(), DType::BF16);
        for (a, b) in out.to_vec::<half::bf16>().iter().zip(&expected) {
            assert!((a.to_f64() - b).abs() <= 0.01, "{a} vs {b}");
        }
    }

    #[test]
    #[should_panic(expected = "fold: expects columns of shape [N, C * 4, 4]")]
    fn fold_rejects_wrong_column_count() {
        let s = Storage::from_vec(vec![0.0f32; 15]);
        fold(View::new(&s, &Layout::contiguous(&[1, 5, 3])), &[3, 3], &[2, 2], &[1, 1], &[0, 0], &[1, 1]);
    }
}
