//! Copies between layouts and conversions between dtypes.

use crate::element::Element;
use crate::layout::Layout;
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use crate::strided::Plan;
use crate::with_dtype;
use ignis_ir::{DType, Scalar};

/// Copies `src` into a fresh contiguous storage of the same shape and dtype.
pub fn contiguous(src: View) -> Storage {
    let n = src.numel();
    let out = Storage::uninit(src.dtype(), n);
    let out_layout = Layout::contiguous(src.shape());
    copy_into(View::new(&out, &out_layout), src);
    out
}

/// Copies `src` into the elements of `dst` (same shape; dtypes may differ and are converted).
/// The destination must not overlap itself (no stride-0 dims) nor the source.
pub fn copy_into(dst: View, src: View) {
    assert_eq!(dst.shape(), src.shape(), "copy_: shapes differ");
    if dst.dtype() != src.dtype() {
        let converted = cast(src, dst.dtype());
        let l = Layout::contiguous(src.shape());
        return copy_into(dst, View::new(&converted, &l));
    }
    with_dtype!(dst.dtype(), T => copy_typed::<T>(dst, src))
}

fn copy_typed<T: Element>(dst: View, src: View) {
    let n = dst.numel();
    if n == 0 {
        return;
    }
    if dst.layout.is_contiguous() && src.layout.is_contiguous() {
        let d = SendPtr(dst.base_ptr::<T>() as *mut T);
        let s = SendPtr(src.base_ptr::<T>() as *mut T);
        parallel::parallel_for(n, parallel::ELEMENTWISE_GRAIN * 4, |a, b| {
            // SAFETY: both ranges lie within their storages; chunks are disjoint; the
            // caller guarantees src and dst do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(s.get().add(a), d.get().add(a), b - a) };
        });
        return;
    }
    let plan = Plan::new(dst.shape(), [&dst.layout.strides, &src.layout.strides]);
    let [ds, ss] = plan.inner_strides();
    let row = plan.row_len();
    let d = SendPtr(dst.base_ptr::<T>() as *mut T);
    let s = SendPtr(src.base_ptr::<T>() as *mut T);
    let rank = plan.shape.len();
    if rank >= 2 && ds == 1 && ss != 1 && plan.strides[1][rank - 2] == 1 {
        return copy_transposed(&plan, d, s);
    }
    let grain = (parallel::ELEMENTWISE_GRAIN / row.max(1)).max(1);
    parallel::parallel_for(plan.rows(), grain, |a, b| {
        plan.for_rows(a, b, |[od, os]| {
            // SAFETY: offsets come from the layouts, which lie within their storages.
            unsafe {
                let dp = d.get().offset(od);
                let sp = s.get().offset(os) as *const T;
                if ds == 1 && ss == 1 {
                    std::ptr::copy_nonoverlapping(sp, dp, row);
                } else {
                    for i in 0..row as isize {
                        *dp.offset(i * ds) = *sp.offset(i * ss);
                    }
                }
            }
        });
    });
}

/// A transposing copy moves tiles of `TILE_A` source-contiguous elements by `TILE_B`:
/// long enough runs for the prefetcher on the read side, whole lines on the write side.
const TILE_A: usize = 256;
const TILE_B: usize = 16;

/// A copy whose last two dims are swapped between source and destination (the source is
/// contiguous along the destination's second-to-last dim), done tile by tile through a
/// small buffer: each tile's source columns are read as runs of `TILE_A` elements and its
/// destination rows written as whole lines. Reading straight across would touch lines a
/// power-of-two stride apart, which share a cache set and evict each other.
fn copy_transposed<T: Element>(plan: &Plan<2>, d: SendPtr<T>, s: SendPtr<T>) {
    let rank = plan.shape.len();
    let (a_len, b_len) = (plan.shape[rank - 2], plan.shape[rank - 1]);
    let (da, db) = (plan.strides[0][rank - 2], plan.strides[0][rank - 1]);
    let (sa, sb) = (plan.strides[1][rank - 2], plan.strides[1][rank - 1]);
    let outer_shape = &plan.shape[..rank - 2];
    let outer: usize = outer_shape.iter().product();
    let a_blocks = a_len.div_ceil(TILE_A);
    let grain = (parallel::ELEMENTWISE_GRAIN / (TILE_A * b_len).max(1)).max(1);
    parallel::parallel_for(outer * a_blocks, grain, |start, end| {
        let mut buffer: Vec<T> = Vec::with_capacity(TILE_A * TILE_B);
        for task in start..end {
            let (o, block) = (task / a_blocks, task % a_blocks);
            let (mut od, mut os, mut rest) = (0isize, 0isize, o);
            for k in (0..rank - 2).rev() {
                let i = (rest % outer_shape[k]) as isize;
                rest /= outer_shape[k];
                od += i * plan.strides[0][k];
                os += i * plan.strides[1][k];
            }
            let (a0, a1) = (block * TILE_A, (block * TILE_A + TILE_A).min(a_len));
            let rows = a1 - a0;
            for b0 in (0..b_len).step_by(TILE_B) {
                let b1 = (b0 + TILE_B).min(b_len);
                buffer.clear();
                for b in b0..b1 {
                    let column = os + a0 as isize * sa + b as isize * sb;
                    if sa == 1 {
                        // SAFETY: rows a0..a1 of column b lie in the source storage.
                        buffer.extend_from_slice(unsafe { std::slice::from_raw_parts(s.get().offset(column), rows) });
                    } else {
                        // SAFETY: as above, element by element.
                        buffer.extend((0..rows as isize).map(|a| unsafe { *s.get().offset(column + a * sa) }));
                    }
                }
                let width = b1 - b0;
                for a in 0..rows {
                    let row = od + (a0 + a) as isize * da + b0 as isize * db;
                    if db == 1 {
                        // SAFETY: columns b0..b1 of row a lie in the destination storage, and
                        // tasks write disjoint rows.
                        let out = unsafe { std::slice::from_raw_parts_mut(d.get().offset(row), width) };
                        // Strided reads from the (L1-resident) tile; `column` walks the tile's
                        // columns without a bounds check per element.
                        for (slot, column) in out.iter_mut().zip(buffer[a..].iter().step_by(rows)) {
                            *slot = *column;
                        }
                    } else {
                        for j in 0..width {
                            // SAFETY: as above, element by element.
                            unsafe { *d.get().offset(row + j as isize * db) = buffer[j * rows + a] };
                        }
                    }
                }
            }
        }
    });
}

/// Writes `value` into every element of `dst`.
pub fn fill_view(dst: View, value: Scalar) {
    with_dtype!(dst.dtype(), T => {
        let v = scalar_as::<T>(value);
        let plan = Plan::new(dst.shape(), [&dst.layout.strides]);
        let [ds] = plan.inner_strides();
        let row = plan.row_len();
        let d = SendPtr(dst.base_ptr::<T>() as *mut T);
        let grain = (parallel::ELEMENTWISE_GRAIN / row.max(1)).max(1);
        parallel::parallel_for(plan.rows(), grain, |a, b| {
            plan.for_rows(a, b, |[od]| {
                // SAFETY: offsets lie within the destination's storage.
                unsafe {
                    let dp = d.get().offset(od);
                    for i in 0..row as isize {
                        *dp.offset(i * ds) = v;
                    }
                }
            });
        });
    })
}

/// A scalar converted to an element type (floats truncate toward zero for integers).
pub fn scalar_as<T: Element>(value: Scalar) -> T {
    match value {
        Scalar::Int(i) => T::from_i64(i),
        Scalar::Bool(b) => T::from_i64(b as i64),
        Scalar::Float(f) => T::from_f64(f),
    }
}

/// Converts to `to`, producing contiguous storage.
pub fn cast(src: View, to: DType) -> Storage {
    if src.dtype() == to {
        return contiguous(src);
    }
    let src_c;
    let src_l;
    let src = if src.layout.is_contiguous() {
        src
    } else {
        src_c = contiguous(src);
        src_l = Layout::contiguous(src.shape());
        View::new(&src_c, &src_l)
    };
    let out = Storage::uninit(to, src.numel());
    with_dtype!(src.dtype(), S => {
        let input = src.contiguous_slice::<S>().expect("made contiguous above");
        with_dtype!(to, D => {
            // SAFETY: fresh storage, no other handle exists.
            let o = unsafe { out.slice_mut::<D>() };
            parallel::for_chunks_mut(o, parallel::ELEMENTWISE_GRAIN, |start, chunk| {
                let n = chunk.len();
                convert_slice::<S, D>(&input[start..start + n], chunk)
            });
        })
    });
    out
}

/// Element conversion with PyTorch's semantics (float to int truncates; nonzero is true).
#[inline]
fn convert_slice<S: Element, D: Element>(src: &[S], dst: &mut [D]) {
    if D::DTYPE.is_float() && S::DTYPE != DType::F64 && D::DTYPE != DType::F64 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = D::from_f32(s.to_f32());
        }
    } else if D::DTYPE.is_float() || S::DTYPE.is_float() {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = D::from_f64(s.to_f64());
        }
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = D::from_i64(s.to_i64());
        }
    }
}

#[cfg(test)]
mod transpose_tests {
    use super::*;

    /// Transposed copies of sizes that do not divide the tiles, with a batch dim and a
    /// stepped slice, against direct index arithmetic.
    #[test]
    fn tiled_transpose_matches_index_arithmetic() {
        for &(batch, rows, cols, step) in &[(1, 300, 37, 1), (3, 17, 270, 1), (2, 513, 33, 2), (1, 1, 5, 1)] {
            let n = batch * rows * cols * step;
            let data: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let storage = Storage::from_slice(&data);
            // A [batch, rows, cols * step] tensor, every `step`-th column, last two dims swapped.
            let base = Layout::contiguous(&[batch, rows, cols * step]).slice(2, 0, cols, step);
            let view = base.permute(&[0, 2, 1]);
            let out = contiguous(View::new(&storage, &view)).to_vec::<f32>();
            let mut expected = Vec::with_capacity(out.len());
            for b in 0..batch {
                for c in 0..cols {
                    for r in 0..rows {
                        expected.push(data[b * rows * cols * step + r * cols * step + c * step]);
                    }
                }
            }
            assert_eq!(out, expected, "batch {batch}, rows {rows}, cols {cols}, step {step}");
        }
    }
}
