//! Inclusive prefix sums along one dim.
//!
//! The input is seen as a contiguous `[outer, len, inner]`. With `inner == 1` each run is a
//! sequential scan (parallel over runs); otherwise whole rows of `inner` are added to the
//! previous output row, vectorized across columns. Sums run in order, as in PyTorch, so
//! results do not depend on the thread count.

use super::accumulate::Arith;
use super::copy::cast;
use crate::layout::Layout;
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use ignis_ir::DType;

/// About this many elements per parallel task.
const GRAIN: usize = 1 << 15;
/// Columns per task when scanning rows.
const TILE: usize = 1024;

/// Cumulative sum along `dim`. Floats keep their dtype (half floats accumulate in f32);
/// integers and bools accumulate in and return i64, as in PyTorch.
pub fn cumsum(x: View, dim: usize) -> Storage {
    let shape = x.shape();
    assert!(dim < shape.len().max(1), "cumsum(): dim {dim} is out of range for shape {shape:?}");
    let dtype = x.dtype();
    let compute = match dtype {
        DType::F32 | DType::F64 => dtype,
        DType::F16 | DType::BF16 => DType::F32,
        _ => DType::I64,
    };
    let widened;
    let layout = Layout::contiguous(shape);
    let data = if compute == dtype && x.layout.is_contiguous() {
        x
    } else {
        widened = cast(x, compute);
        View::new(&widened, &layout)
    };
    let (outer, len, inner) = if shape.is_empty() {
        (1, 1, 1)
    } else {
        (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
    };
    let out = match compute {
        DType::F32 => scan::<f32>(data, outer, len, inner),
        DType::F64 => scan::<f64>(data, outer, len, inner),
        _ => scan::<i64>(data, outer, len, inner),
    };
    if dtype.is_half() { cast(View::new(&out, &layout), dtype) } else { out }
}

fn scan<T: Arith>(x: View, outer: usize, len: usize, inner: usize) -> Storage {
    let input = x.contiguous_slice::<T>().expect("contiguous");
    let out = Storage::uninit(T::DTYPE, input.len());
    if input.is_empty() {
        return out;
    }
    let o = SendPtr(out.as_ptr::<T>());
    if inner == 1 {
        let grain = (GRAIN / len).max(1);
        parallel::parallel_for(outer, grain, |a, b| {
            // SAFETY: runs a..b of `out` belong to this task alone.
            let dst = unsafe { std::slice::from_raw_parts_mut(o.get().add(a * len), (b - a) * len) };
            for (d, s) in dst.chunks_exact_mut(len).zip(input[a * len..b * len].chunks_exact(len)) {
                let mut acc = T::zero();
                for (y, &v) in d.iter_mut().zip(s) {
                    acc = acc.plus(v);
                    *y = acc;
                }
            }
        });
        return out;
    }
    let tiles = inner.div_ceil(TILE);
    let grain = (GRAIN / (len * TILE.min(inner))).max(1);
    parallel::parallel_for(outer * tiles, grain, |a, b| {
        for item in a..b {
            let (slab, t) = (item / tiles, item % tiles);
            let (c0, c1) = (t * TILE, (t * TILE + TILE).min(inner));
            for i in 0..len {
                let at = (slab * len + i) * inner;
                // SAFETY: this task alone writes columns c0..c1 of slab `slab`; row i - 1 of
                // it was written by this task just before and does not overlap row i.
                let (row, previous) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(o.get().add(at + c0), c1 - c0),
                        (i > 0).then(|| std::slice::from_raw_parts(o.get().add(at - inner + c0), c1 - c0)),
                    )
                };
                let src = &input[at + c0..at + c1];
                match previous {
                    None => row.copy_from_slice(src),
                    Some(prev) => {
                        for ((y, &p), &v) in row.iter_mut().zip(prev).zip(src) {
                            *y = p.plus(v);
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
    use crate::element::Element;

    fn run<T: Element>(data: &[T], shape: &[usize], dim: usize) -> Storage {
        let s = Storage::from_slice(data);
        cumsum(View::new(&s, &Layout::contiguous(shape)), dim)
    }

    #[test]
    fn rows_and_columns_of_a_small_matrix() {
        // [[1, 2, 3], [4, 5, 6]]: along dim 1 each row accumulates (1, 3, 6), (4, 9, 15);
        // along dim 0 the second row adds the first (5, 7, 9).
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(run(&x, &[2, 3], 1).to_vec::<f32>(), vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
        assert_eq!(run(&x, &[2, 3], 0).to_vec::<f32>(), vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    }

    #[test]
    fn integers_and_bools_accumulate_in_i64() {
        // u8 200 + 100 would wrap in u8; in i64 it is 300.
        let s = run(&[200u8, 100, 1], &[3], 0);
        assert_eq!(s.dtype(), DType::I64);
        assert_eq!(s.to_vec::<i64>(), vec![200, 300, 301]);
        assert_eq!(run(&[true, false, true], &[3], 0).to_vec::<i64>(), vec![1, 1, 2]);
    }

    #[test]
    fn transposed_input_and_half_floats() {
        // Storage [[1, 2], [3, 4]] viewed transposed is [[1, 3], [2, 4]]; along dim 1 that
        // gives [[1, 4], [2, 6]].
        let s = Storage::from_slice(&[1.0f64, 2.0, 3.0, 4.0]);
        let t = Layout::contiguous(&[2, 2]).transpose(0, 1);
        assert_eq!(cumsum(View::new(&s, &t), 1).to_vec::<f64>(), vec![1.0, 4.0, 2.0, 6.0]);
        let h: Vec<half::f16> = [0.5f32, 0.25, 0.25].iter().map(|&v| half::f16::from_f32(v)).collect();
        let out = run(&h, &[3], 0);
        assert_eq!(out.dtype(), DType::F16);
        assert_eq!(out.to_vec::<half::f16>().iter().map(|v| v.to_f32()).collect::<Vec<_>>(), vec![0.5, 0.75, 1.0]);
    }

    #[test]
    fn large_middle_dim_matches_a_sequential_scan() {
        // [3, 50, 700]: several column tiles, scanned along the middle dim; integer-valued
        // floats keep the sums exact so equality is the right check.
        let shape = [3, 50, 700];
        let n: usize = shape.iter().product();
        let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        let got = run(&x, &shape, 1).to_vec::<f32>();
        for o in 0..3 {
            for c in 0..700 {
                let mut acc = 0.0f32;
                for i in 0..50 {
                    let at = (o * 50 + i) * 700 + c;
                    acc += x[at];
                    assert_eq!(got[at], acc);
                }
            }
        }
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert_eq!(run::<f32>(&[], &[0, 3], 1).len(), 0);
    }
}
