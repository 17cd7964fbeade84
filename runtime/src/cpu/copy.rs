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
