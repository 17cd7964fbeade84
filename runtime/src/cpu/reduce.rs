//! Reductions (a plain reference version; the tuned kernels replace it).

use crate::element::Element;
use crate::layout::Layout;
use crate::storage::{Storage, View};
use ignis_ir::{DType, ReduceOp};

pub fn reduce(op: ReduceOp, x: View, axes: &[usize], keepdim: bool) -> Storage {
    let shape = x.shape();
    let out_shape = ignis_ir::shape::reduce(shape, axes, keepdim);
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let perm: Vec<usize> = kept.iter().copied().chain(axes.iter().copied()).collect();
    let l = x.layout.permute(&perm);
    let c = super::copy::cast(View::new(x.storage, &l), DType::F64);
    let vals = c.to_vec::<f64>();
    let inner: usize = axes.iter().map(|&a| shape[a]).product();
    let rows = if inner == 0 { ignis_ir::shape::numel(&out_shape) } else { vals.len() / inner };
    let mut out = Vec::with_capacity(rows);
    for r in 0..rows {
        let row = &vals[r * inner..(r + 1) * inner];
        let v = match op {
            ReduceOp::Sum => row.iter().sum(),
            ReduceOp::Mean => row.iter().sum::<f64>() / inner as f64,
            ReduceOp::Prod => row.iter().product(),
            ReduceOp::Max => row.iter().copied().fold(f64::NEG_INFINITY, |a, b| if a.is_nan() || b > a || b.is_nan() { b } else { a }),
            ReduceOp::Min => row.iter().copied().fold(f64::INFINITY, |a, b| if a.is_nan() || b < a || b.is_nan() { b } else { a }),
            ReduceOp::ArgMax => row.iter().enumerate().fold((0, f64::NEG_INFINITY), |(i, m), (j, &v)| if v > m { (j, v) } else { (i, m) }).0 as f64,
            ReduceOp::ArgMin => row.iter().enumerate().fold((0, f64::INFINITY), |(i, m), (j, &v)| if v < m { (j, v) } else { (i, m) }).0 as f64,
            ReduceOp::Any => row.iter().any(|&v| v != 0.0) as u8 as f64,
            ReduceOp::All => row.iter().all(|&v| v != 0.0) as u8 as f64,
        };
        out.push(v);
    }
    let s = Storage::from_vec(out);
    let dtype = op.result_dtype(x.dtype());
    super::copy::cast(View::new(&s, &Layout::contiguous(&out_shape)), dtype)
}

#[allow(dead_code)]
fn _unused<T: Element>() {}
