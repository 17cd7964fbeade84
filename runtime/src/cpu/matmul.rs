//! Matrix multiplication with PyTorch's `matmul` semantics: 1-d operands promoted and
//! squeezed back, batch dims broadcast.
//!
//! Floats go through the `gemm` crate, which reads any row and column strides, so
//! transposed and broadcast operands are read in place, with one exception: a column-major
//! rhs of a product with many rows (a linear layer's `x @ w.t()`) is copied row-major
//! first, since gemm would pack it again for every block of rows. Half floats are widened
//! to f32 once, integers take a plain loop. This module knows nothing about autograd or
//! the frontend.

use crate::cpu::transpose;
use crate::element::Element;
use crate::layout::Layout;
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use ignis_ir::{DType, Dims};
use smallvec::SmallVec;

/// Below this many multiply-adds a single product runs on the calling thread: waking the
/// pool and gemm's per-block barriers cost more than they save. Close to gemm's own
/// threshold for splitting a block (48*48*256). Not yet tuned: on the 2 heavily shared cores
/// it was measured on, 2 threads beat 1 at no size from 96^3 to 4096^3, so re-measure with
/// `examples/matmul_gflops --threads 1|2` on a quiet machine.
pub const GEMM_THREADING_THRESHOLD: usize = 1 << 20;

/// Multiply-adds per piece when one large product is cut into bands for threads.
const GEMM_PIECE_WORK: usize = 1 << 26;

/// Multiply-adds per task when a batch of small products is split across threads.
const BATCH_GRAIN_WORK: usize = 1 << 17;

/// Elements per task when rows are reported after the whole product.
const ROWS_GRAIN: usize = 1 << 14;

/// Rows from which a column-major rhs is copied row-major before the product. gemm packs
/// such an operand once per block of rows it computes; the copy is one pass. Measured with
/// `[1024, k] @ w.t()` on 2 threads (the four linear layers of a transformer block, k of
/// 256 and 1024), the copy saved 0.05 to 0.6 ms per product; at 256 rows (an MLP's
/// `[256, 1024] @ w.t()`) it gained nothing measurable.
const ROW_MAJOR_RHS_MIN_ROWS: usize = 512;

/// How the two operands map onto `batch x [m, k] @ [k, n]`, in strides of their storages.
#[derive(Clone)]
struct Plan {
    /// The broadcast batch dims (empty for plain 2-d products).
    batch: Dims,
    /// Per batch dim, the stride of each operand (0 where it is broadcast).
    lhs_batch_strides: SmallVec<[isize; 6]>,
    rhs_batch_strides: SmallVec<[isize; 6]>,
    m: usize,
    n: usize,
    k: usize,
    lhs_rs: isize,
    lhs_cs: isize,
    rhs_rs: isize,
    rhs_cs: isize,
}

impl Plan {
    fn new(lhs: &Layout, rhs: &Layout) -> Plan {
        // A 1-d lhs is a single row, a 1-d rhs a single column; the unused stride is 0
        // since that dim has size 1.
        let (m, k, lhs_rs, lhs_cs, lhs_batch) = match lhs.rank() {
            1 => (1, lhs.shape[0], 0, lhs.strides[0], 0),
            r => (lhs.shape[r - 2], lhs.shape[r - 1], lhs.strides[r - 2], lhs.strides[r - 1], r - 2),
        };
        let (n, rhs_rs, rhs_cs, rhs_batch) = match rhs.rank() {
            1 => (1, rhs.strides[0], 0, 0),
            r => (rhs.shape[r - 1], rhs.strides[r - 2], rhs.strides[r - 1], r - 2),
        };
        let batch_rank = lhs_batch.max(rhs_batch);
        let mut batch = Dims::new();
        let mut lhs_batch_strides = SmallVec::new();
        let mut rhs_batch_strides = SmallVec::new();
        // Align batch dims from the right; a missing or size-1 dim broadcasts with stride 0.
        let pick = |layout: &Layout, rank: usize, i: usize| -> (usize, isize) {
            let lead = batch_rank - rank;
            if i < lead { (1, 0) } else { (layout.shape[i - lead], layout.strides[i - lead]) }
        };
        for i in 0..batch_rank {
            let (ld, ls) = pick(lhs, lhs_batch, i);
            let (rd, rs) = pick(rhs, rhs_batch, i);
            let d = if ld == 1 { rd } else { ld };
            batch.push(d);
            lhs_batch_strides.push(if ld == 1 { 0 } else { ls });
            rhs_batch_strides.push(if rd == 1 { 0 } else { rs });
        }
        let plan = Plan { batch, lhs_batch_strides, rhs_batch_strides, m, n, k, lhs_rs, lhs_cs, rhs_rs, rhs_cs };
        plan.fold_batch_into_rows()
    }

    /// `[B.., m, k] @ [k, n]` (the rhs shared by every batch) is one `[B*m, k] @ [k, n]`
    /// product when the lhs rows of consecutive batches are evenly spaced: one large gemm
    /// instead of many small ones that each re-pack the same rhs. The output layout
    /// `[B.., m, n]` is the same either way.
    fn fold_batch_into_rows(self) -> Plan {
        if self.batch.is_empty() || self.rhs_batch_strides.iter().any(|&s| s != 0) {
            return self;
        }
        let mut expected = self.lhs_rs * self.m as isize;
        for (&d, &stride) in self.batch.iter().zip(&self.lhs_batch_strides).rev() {
            if d == 1 {
                continue;
            }
            if stride != expected || self.m == 0 {
                return self;
            }
            expected = stride * d as isize;
        }
        let rows = self.batch_count() * self.m;
        Plan {
            batch: Dims::new(),
            lhs_batch_strides: SmallVec::new(),
            rhs_batch_strides: SmallVec::new(),
            m: rows,
            ..self
        }
    }

    fn batch_count(&self) -> usize {
        self.batch.iter().product()
    }

    /// Storage offsets (relative to each operand's base) of the matrices of batch `index`.
    fn offsets(&self, mut index: usize) -> (isize, isize) {
        let (mut lhs, mut rhs) = (0isize, 0isize);
        for i in (0..self.batch.len()).rev() {
            let d = self.batch[i];
            let x = (index % d) as isize;
            index /= d;
            lhs += x * self.lhs_batch_strides[i];
            rhs += x * self.rhs_batch_strides[i];
        }
        (lhs, rhs)
    }

    fn work(&self) -> usize {
        self.m.saturating_mul(self.n).saturating_mul(self.k)
    }
}

/// `a @ b` with PyTorch's `matmul` semantics; returns contiguous storage and its shape.
///
/// Both operands must have the same dtype (the caller promotes). Bool is rejected, as in
/// PyTorch.
pub fn matmul(a: View, b: View) -> (Storage, Dims) {
    let describe = || format!("{}{:?} by {}{:?}", a.dtype(), a.shape(), b.dtype(), b.shape());
    assert_eq!(a.dtype(), b.dtype(), "matmul: cannot multiply {}: the dtypes differ", describe());
    let out_shape = ignis_ir::shape::matmul(a.shape(), b.shape()).unwrap_or_else(|e| panic!("matmul: {e}"));
    let plan = Plan::new(a.layout, b.layout);
    let len = plan.batch_count() * plan.m * plan.n;
    debug_assert_eq!(len, ignis_ir::shape::numel(&out_shape));
    let dtype = a.dtype();
    let out = match dtype {
        DType::F32 => float_matmul::<f32>(&plan, a.base_ptr(), b.base_ptr(), len),
        DType::F64 => float_matmul::<f64>(&plan, a.base_ptr(), b.base_ptr(), len),
        DType::F16 | DType::BF16 => half_matmul(&plan, a, b, len),
        DType::I64 => int_matmul::<i64>(&plan, a.base_ptr(), b.base_ptr(), len),
        DType::I32 => int_matmul::<i32>(&plan, a.base_ptr(), b.base_ptr(), len),
        DType::U8 => int_matmul::<u8>(&plan, a.base_ptr(), b.base_ptr(), len),
        DType::Bool => panic!("matmul: cannot multiply {}: bool matrices are not supported", describe()),
    };
    (out, out_shape)
}

/// Called with `(first, end)` once the product's rows `[first, end)` are final, counting
/// rows through the batch (`batch * m + row`).
pub type RowsDone<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// `a @ b` for f32 operands into `out` (fresh contiguous storage of the product's size),
/// calling `rows_done` for every band of rows as soon as it is computed, on the thread that
/// computed it, while the band is still in cache: the epilogue of a fused kernel. Every
/// row is reported exactly once; bands may come in any order and concurrently. Products
/// split into column bands report their rows after all bands, spread over the threads.
/// The product is the one `matmul` computes, bit for bit.
pub fn matmul_f32_into(a: View, b: View, out: &Storage, rows_done: RowsDone) {
    let describe = || format!("{}{:?} by {}{:?}", a.dtype(), a.shape(), b.dtype(), b.shape());
    assert!(
        a.dtype() == DType::F32 && b.dtype() == DType::F32 && out.dtype() == DType::F32,
        "matmul_f32_into: {} into {}: f32 only",
        describe(),
        out.dtype()
    );
    let out_shape = ignis_ir::shape::matmul(a.shape(), b.shape()).unwrap_or_else(|e| panic!("matmul: {e}"));
    let plan = Plan::new(a.layout, b.layout);
    let len = plan.batch_count() * plan.m * plan.n;
    assert_eq!(out.len(), len, "matmul_f32_into: {} into {} elements", describe(), out.len());
    debug_assert_eq!(len, ignis_ir::shape::numel(&out_shape));
    float_matmul_into::<f32>(&plan, a.base_ptr(), b.base_ptr(), out, Some(rows_done));
}

/// f32 or f64 through `gemm`.
fn float_matmul<T: Element>(plan: &Plan, lhs: *const T, rhs: *const T, len: usize) -> Storage {
    let out = Storage::uninit(T::DTYPE, len);
    float_matmul_into(plan, lhs, rhs, &out, None);
    out
}

fn float_matmul_into<T: Element>(
    plan: &Plan,
    lhs: *const T,
    rhs: *const T,
    out: &Storage,
    rows_done: Option<RowsDone>,
) {
    let rows = plan.batch_count() * plan.m;
    let report_all = |rows_done: Option<RowsDone>| {
        if let Some(done) = rows_done {
            parallel::parallel_for(rows, ROWS_GRAIN.div_ceil(plan.n.max(1)).max(1), done);
        }
    };
    if out.is_empty() {
        return;
    }
    if plan.k == 0 {
        // SAFETY: fresh storage, no other handle exists.
        unsafe { out.slice_mut::<T>() }.fill(T::zero());
        report_all(rows_done);
        return;
    }
    let row_major = row_major_rhs::<T>(plan, rhs);
    let row_major_plan;
    let (plan, rhs) = match &row_major {
        Some(copy) => {
            row_major_plan = Plan { rhs_rs: plan.n as isize, rhs_cs: 1, ..plan.clone() };
            (&row_major_plan, copy.as_ptr::<T>() as *const T)
        }
        None => (plan, rhs),
    };
    let dst = SendPtr(out.as_ptr::<T>());
    let lhs = SendPtr(lhs as *mut T);
    let rhs = SendPtr(rhs as *mut T);
    let batches = plan.batch_count();
    let matrix = plan.m * plan.n;
    let split = Split::of(plan, batches);
    // Whole rows are final when a task ends, unless the product is cut into column bands.
    let rows_per_task = (split.along_rows || split.pieces == 1).then_some(rows_done).flatten();
    let run = |task: usize| {
        let (batch, piece) = (task / split.pieces, task % split.pieces);
        let (lo, ro) = plan.offsets(batch);
        let (start, len) = split.range(piece);
        // A piece is a band of rows (split along m) or columns (along n) of the product.
        let (m, n, dst_offset, lhs_offset, rhs_offset) = if split.along_rows {
            (len, plan.n, start * plan.n, start as isize * plan.lhs_rs, 0)
        } else {
            (plan.m, len, start, 0, start as isize * plan.rhs_cs)
        };
        // SAFETY: the operand offsets come from their layouts, which lie within their
        // storages, and a piece only narrows the rows of lhs or the columns of rhs; the
        // destination is a disjoint band of this batch's m x n block of fresh storage;
        // gemm reads only the piece's elements at the given strides.
        unsafe {
            gemm::gemm(
                m,
                n,
                plan.k,
                dst.get().add(batch * matrix + dst_offset),
                1,
                plan.n as isize,
                false,
                lhs.get().offset(lo + lhs_offset) as *const T,
                plan.lhs_cs,
                plan.lhs_rs,
                rhs.get().offset(ro + rhs_offset) as *const T,
                plan.rhs_cs,
                plan.rhs_rs,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
        if let Some(done) = rows_per_task {
            let first = batch * plan.m + if split.along_rows { start } else { 0 };
            done(first, first + m);
        }
    };
    // Tasks are fixed by the problem's size, never by the thread count, so every thread
    // count computes the same pieces with the same (single-threaded) gemm calls. Splitting
    // ourselves rather than letting gemm split a product keeps both cores busy for shapes
    // where gemm's own split leaves one idle (k of a few hundred, a wide output).
    let tasks = batches * split.pieces;
    let grain = (BATCH_GRAIN_WORK / (plan.work() / split.pieces).max(1)).max(1);
    parallel::parallel_for(tasks, grain, |start, end| {
        for task in start..end {
            run(task);
        }
    });
    if rows_per_task.is_none() {
        report_all(rows_done);
    }
}

/// A row-major copy of a column-major rhs when the product has enough rows to repay it
/// (see [`ROW_MAJOR_RHS_MIN_ROWS`]); one product only, not a batch of them.
fn row_major_rhs<T: Element>(plan: &Plan, rhs: *const T) -> Option<Storage> {
    if !wants_row_major_rhs(plan) {
        return None;
    }
    let copy = Storage::uninit(T::DTYPE, plan.k * plan.n);
    // SAFETY: the plan's strides address the rhs inside its storage; the copy is fresh and
    // holds k * n elements.
    unsafe { transpose::to_row_major(rhs, plan.k, plan.n, plan.rhs_rs, plan.rhs_cs, copy.as_ptr::<T>()) };
    Some(copy)
}

fn wants_row_major_rhs(plan: &Plan) -> bool {
    let column_major = plan.rhs_rs == 1 && plan.rhs_cs != 1;
    column_major && plan.batch.is_empty() && plan.m >= ROW_MAJOR_RHS_MIN_ROWS && plan.n >= 2
}

/// How one product is cut into independent bands for threads.
struct Split {
    along_rows: bool,
    pieces: usize,
    /// Rows (or columns) per piece; the last piece takes the remainder.
    band: usize,
    dim: usize,
}

impl Split {
    /// Products above the threading threshold are cut along their larger output dim into
    /// a few bands (each re-packs the operand it shares, so there are few), never thinner
    /// than `MIN_BAND`. A batch of `MANY_BATCHES` or more products is split by whole
    /// products only.
    fn of(plan: &Plan, batches: usize) -> Split {
        const MANY_BATCHES: usize = 8;
        const MIN_BAND: usize = 64;
        const MAX_PIECES: usize = 2;
        let along_rows = plan.m >= plan.n;
        let dim = if along_rows { plan.m } else { plan.n };
        let work = plan.work();
        let wanted = if work < GEMM_THREADING_THRESHOLD || batches >= MANY_BATCHES {
            1
        } else {
            (work / GEMM_PIECE_WORK).clamp(2, MAX_PIECES)
        };
        let pieces = wanted.min(dim / MIN_BAND).max(1);
        Split { along_rows, pieces, band: dim.div_ceil(pieces), dim }
    }

    fn range(&self, piece: usize) -> (usize, usize) {
        let start = piece * self.band;
        (start, self.band.min(self.dim - start))
    }
}

/// f16 and bf16: widened to f32, multiplied by `gemm`, rounded back once.
///
/// Faster than gemm's own f16 kernel (which also widens, inside its packing) in
/// `examples/matmul_gflops --dtype f16 --gemm-f16` on one thread: 85 vs 78 GFLOP/s at
/// 256^3, 45 vs 38 at 1024^3 (a loaded machine; same run). The f32 route serves bf16 too.
fn half_matmul(plan: &Plan, a: View, b: View, len: usize) -> Storage {
    let (a32, b32) = (widen(a), widen(b));
    let product = float_matmul::<f32>(plan, a32.as_ptr::<f32>(), b32.as_ptr::<f32>(), len);
    crate::cpu::copy::cast(View::new(&product, &Layout::contiguous(&[len])), a.dtype())
}

/// The storage range a view reaches, converted to f32 with the layout's strides kept (so a
/// broadcast operand stays unexpanded). The view's base is element 0 of the result.
fn widen(v: View) -> Storage {
    let start = v.layout.offset;
    let end = v.layout.storage_extent().max(start);
    let range = Layout { shape: smallvec::smallvec![end - start], strides: smallvec::smallvec![1], offset: start };
    crate::cpu::copy::cast(View::new(v.storage, &range), DType::F32)
}

/// Integer arithmetic that wraps on overflow, as PyTorch's integer matmul does.
trait WrappingInt: Element {
    fn mul_add(self, a: Self, b: Self) -> Self;
}
macro_rules! wrapping_int {
    ($($t:ty),*) => {$(
        impl WrappingInt for $t {
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                self.wrapping_add(a.wrapping_mul(b))
            }
        }
    )*};
}
wrapping_int!(i64, i32, u8);

fn int_matmul<T: WrappingInt>(plan: &Plan, lhs: *const T, rhs: *const T, len: usize) -> Storage {
    let out = Storage::uninit(T::DTYPE, len);
    if len == 0 {
        return out;
    }
    let (m, n, k) = (plan.m, plan.n, plan.k);
    let dst = SendPtr(out.as_ptr::<T>());
    let lhs = SendPtr(lhs as *mut T);
    let rhs = SendPtr(rhs as *mut T);
    // One task item is one output row; rows are independent.
    let rows = plan.batch_count() * m;
    let grain = (BATCH_GRAIN_WORK / (n * k).max(1)).max(1);
    parallel::parallel_for(rows, grain, |start, end| {
        for row in start..end {
            let (batch, i) = (row / m, row % m);
            let (lo, ro) = plan.offsets(batch);
            // SAFETY: every offset is a valid index of the operand layouts (batch, i < m,
            // p < k, j < n); each task writes only its own output rows.
            unsafe {
                let out_row = std::slice::from_raw_parts_mut(dst.get().add(row * n), n);
                out_row.fill(T::zero());
                let a_row = lhs.get().offset(lo + i as isize * plan.lhs_rs);
                let b = rhs.get().offset(ro);
                for p in 0..k as isize {
                    let a_ip = *a_row.offset(p * plan.lhs_cs);
                    let b_row = b.offset(p * plan.rhs_rs);
                    for (j, o) in out_row.iter_mut().enumerate() {
                        *o = o.mul_add(a_ip, *b_row.offset(j as isize * plan.rhs_cs));
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

    /// Row-major values of a (possibly strided) view, as f64.
    fn values(v: View) -> Vec<f64> {
        crate::with_dtype!(v.dtype(), T => {
            let c = crate::cpu::copy::contiguous(v);
            c.to_vec::<T>().into_iter().map(|x| x.to_f64()).collect()
        })
    }

    /// A naive `matmul` on explicit nested loops over broadcast batch indices, in f64.
    fn reference(a: &[f64], a_shape: &[usize], b: &[f64], b_shape: &[usize]) -> (Vec<f64>, Vec<usize>) {
        let a_shape2: Vec<usize> = if a_shape.len() == 1 { vec![1, a_shape[0]] } else { a_shape.to_vec() };
        let b_shape2: Vec<usize> = if b_shape.len() == 1 { vec![b_shape[0], 1] } else { b_shape.to_vec() };
        let (m, k) = (a_shape2[a_shape2.len() - 2], a_shape2[a_shape2.len() - 1]);
        let n = b_shape2[b_shape2.len() - 1];
        let ab = &a_shape2[..a_shape2.len() - 2];
        let bb = &b_shape2[..b_shape2.len() - 2];
        let rank = ab.len().max(bb.len());
        let pad = |s: &[usize]| -> Vec<usize> {
            let mut v = vec![1; rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (ab, bb) = (pad(ab), pad(bb));
        let batch: Vec<usize> = ab.iter().zip(&bb).map(|(&x, &y)| x.max(y)).collect();
        let count: usize = batch.iter().product();
        let mut out = vec![0.0; count * m * n];
        for t in 0..count {
            let (mut rem, mut ai, mut bi) = (t, 0, 0);
            let (mut astride, mut bstride) = (1, 1);
            for d in (0..rank).rev() {
                let x = rem % batch[d];
                rem /= batch[d];
                ai += if ab[d] == 1 { 0 } else { x * astride };
                bi += if bb[d] == 1 { 0 } else { x * bstride };
                astride *= ab[d];
                bstride *= bb[d];
            }
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0;
                    for p in 0..k {
                        s += a[ai * m * k + i * k + p] * b[bi * k * n + p * n + j];
                    }
                    out[t * m * n + i * n + j] = s;
                }
            }
        }
        let shape = ignis_ir::shape::matmul(a_shape, b_shape).unwrap().to_vec();
        (out, shape)
    }

    /// Deterministic multiples of 0.5 in [-1, 1]: products and short sums are exact.
    fn random(seed: &mut u64, shape: &[usize]) -> Vec<f64> {
        let mut v = vec![0.0; shape.iter().product()];
        crate::random::fill_uniform(&mut v, *seed, 0);
        *seed += 1;
        v.iter().map(|x| (x * 4.0 - 2.0).round() * 0.5).collect()
    }

    /// Storage of `data` in `dtype`; integers get the values doubled so none truncate.
    fn storage_of(dtype: DType, data: &[f64]) -> Storage {
        let scale = if dtype.is_float() { 1.0 } else { 2.0 };
        crate::with_dtype!(dtype, T => {
            Storage::from_vec(data.iter().map(|&x| T::from_f64(x * scale)).collect::<Vec<T>>())
        })
    }

    /// Checks `matmul` against the reference for contiguous operands of one dtype.
    fn check(dtype: DType, a_shape: &[usize], b_shape: &[usize], seed: u64) {
        let mut g = seed;
        let (a, b) = (random(&mut g, a_shape), random(&mut g, b_shape));
        let (sa, sb) = (storage_of(dtype, &a), storage_of(dtype, &b));
        let (la, lb) = (Layout::contiguous(a_shape), Layout::contiguous(b_shape));
        let (out, shape) = matmul(View::new(&sa, &la), View::new(&sb, &lb));
        let (a, b) = (values(View::new(&sa, &la)), values(View::new(&sb, &lb)));
        let (expected, expected_shape) = reference(&a, a_shape, &b, b_shape);
        assert_eq!(shape.as_slice(), expected_shape.as_slice(), "{dtype} {a_shape:?} @ {b_shape:?}");
        let got = values(View::new(&out, &Layout::contiguous(&shape)));
        // Inputs are multiples of 0.5 below 1, so every product is exact in f32 and sums
        // stay exact while short; half floats round their outputs.
        let tol = if matches!(dtype, DType::F16 | DType::BF16) { 0.02 } else { 1e-9 };
        for (i, (x, y)) in got.iter().zip(&expected).enumerate() {
            assert!((x - y).abs() <= tol * y.abs().max(1.0), "{dtype} {a_shape:?} @ {b_shape:?} at {i}: {x} vs {y}");
        }
    }

    #[test]
    fn two_by_two_by_hand() {
        // [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]]
        let a = Storage::from_vec(vec![1.0f32, 2.0, 3.0, 4.0]);
        let b = Storage::from_vec(vec![5.0f32, 6.0, 7.0, 8.0]);
        let l = Layout::contiguous(&[2, 2]);
        let (out, shape) = matmul(View::new(&a, &l), View::new(&b, &l));
        assert_eq!(shape.as_slice(), &[2, 2]);
        assert_eq!(out.to_vec::<f32>(), vec![19.0, 22.0, 43.0, 50.0]);
    }

    #[test]
    fn shapes_against_naive_loops() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[3, 4], &[4, 5]),
            (&[4], &[4, 5]),
            (&[3, 4], &[4]),
            (&[4], &[4]),
            (&[2, 3, 4], &[4, 5]),
            (&[4], &[2, 4, 5]),
            (&[2, 3, 4], &[4]),
            (&[5, 1, 2, 3], &[7, 3, 4]),
            (&[1, 3, 4], &[6, 4, 2]),
            (&[70, 65], &[65, 130]),
            // Many small products: split across threads by batch.
            (&[300, 16, 16], &[16, 16]),
        ];
        for (i, (a, b)) in cases.iter().enumerate() {
            for dtype in [DType::F32, DType::F64, DType::I64, DType::I32] {
                check(dtype, a, b, i as u64);
            }
        }
    }

    #[test]
    fn half_floats_and_bytes() {
        for dtype in [DType::F16, DType::BF16] {
            check(dtype, &[2, 5, 8], &[8, 3], 1);
            check(dtype, &[8], &[8], 2);
        }
        // 250 * 3 = 750 wraps to 750 - 512 = 238 in u8, as in PyTorch.
        let a = Storage::from_vec(vec![250u8]);
        let b = Storage::from_vec(vec![3u8]);
        let l = Layout::contiguous(&[1, 1]);
        let (out, _) = matmul(View::new(&a, &l), View::new(&b, &l));
        assert_eq!(out.to_vec::<u8>(), vec![238]);
    }

    #[test]
    fn large_product_uses_the_threaded_path() {
        // Above the threading threshold with few matrices: gemm splits each over the pool.
        check(DType::F32, &[160, 150], &[150, 170], 3);
        check(DType::F64, &[3, 130, 140], &[140, 120], 4);
        // Enough large products to give each thread whole matrices.
        check(DType::F32, &[9, 100, 110], &[110, 105], 5);
    }

    #[test]
    fn strided_operands_are_read_in_place() {
        // a^T @ b^T from transposed views of row-major [k, m] and [n, k] buffers, and a
        // column slice; compared with the same product of contiguous copies.
        let mut g = 7;
        let (m, k, n) = (9, 13, 11);
        for dtype in [DType::F32, DType::F64, DType::F16, DType::I64] {
            let at = storage_of(dtype, &random(&mut g, &[k, m]));
            let bt = storage_of(dtype, &random(&mut g, &[n, k + 3]));
            let la = Layout::contiguous(&[k, m]).transpose(0, 1);
            let lb = Layout::contiguous(&[n, k + 3]).slice(1, 2, k, 1).transpose(0, 1);
            let (va, vb) = (View::new(&at, &la), View::new(&bt, &lb));
            let (out, shape) = matmul(va, vb);
            let (ca, cb) = (values(va), values(vb));
            let (expected, _) = reference(&ca, &[m, k], &cb, &[k, n]);
            assert_eq!(shape.as_slice(), &[m, n]);
            let got = values(View::new(&out, &Layout::contiguous(&shape)));
            let tol = if dtype == DType::F16 { 0.02 } else { 1e-9 };
            for (x, y) in got.iter().zip(&expected) {
                assert!((x - y).abs() <= tol * y.abs().max(1.0), "{dtype}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn a_column_major_rhs_of_many_rows_is_copied_and_gives_the_same_product() {
        // x @ w.t() with enough rows (600) that the rhs is copied row-major first, from a column
        // slice of w; against the reference and, bit for bit, against the rows reported
        // to an epilogue.
        let mut g = 8;
        let (m, k, n) = (600, 37, 45);
        for dtype in [DType::F32, DType::F64] {
            let a = storage_of(dtype, &random(&mut g, &[m, k]));
            let wt = storage_of(dtype, &random(&mut g, &[n, k + 3]));
            let la = Layout::contiguous(&[m, k]);
            let lb = Layout::contiguous(&[n, k + 3]).slice(1, 2, k, 1).transpose(0, 1);
            let (va, vb) = (View::new(&a, &la), View::new(&wt, &lb));
            assert!(wants_row_major_rhs(&Plan::new(&la, &lb)), "the rhs is copied");
            let (out, shape) = matmul(va, vb);
            let (expected, _) = reference(&values(va), &[m, k], &values(vb), &[k, n]);
            let got = values(View::new(&out, &Layout::contiguous(&shape)));
            for (x, y) in got.iter().zip(&expected) {
                assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{dtype}: {x} vs {y}");
            }
            if dtype == DType::F32 {
                let into = Storage::uninit(DType::F32, m * n);
                matmul_f32_into(va, vb, &into, &|_, _| {});
                assert_eq!(into.to_vec::<f32>(), out.to_vec::<f32>());
            }
        }
    }

    #[test]
    fn broadcast_operands_have_zero_strides() {
        // b is a [k, n] matrix expanded to [4, k, n] (batch stride 0) and a is a row
        // expanded along m (row stride 0): every output row of every batch is a @ b.
        let mut g = 11;
        let (m, k, n) = (3, 6, 5);
        let row = random(&mut g, &[k]);
        let bm = random(&mut g, &[k, n]);
        for dtype in [DType::F32, DType::F64, DType::I32] {
            let sa = storage_of(dtype, &row);
            let sb = storage_of(dtype, &bm);
            let la = Layout::contiguous(&[1, 1, k]).expand(&[4, m, k]).unwrap();
            let lb = Layout::contiguous(&[k, n]).expand(&[4, k, n]).unwrap();
            let (out, shape) = matmul(View::new(&sa, &la), View::new(&sb, &lb));
            assert_eq!(shape.as_slice(), &[4, m, n]);
            let row = values(View::new(&sa, &Layout::contiguous(&[k])));
            let bm = values(View::new(&sb, &Layout::contiguous(&[k, n])));
            let (one, _) = reference(&row, &[k], &bm, &[k, n]);
            let got = values(View::new(&out, &Layout::contiguous(&shape)));
            for (i, x) in got.iter().enumerate() {
                assert!((x - one[i % n]).abs() < 1e-9, "{dtype} at {i}: {x} vs {}", one[i % n]);
            }
        }
    }

    #[test]
    fn a_shared_rhs_folds_evenly_spaced_batches_into_rows() {
        let rhs = Layout::contiguous(&[4, 5]);
        let folded = Plan::new(&Layout::contiguous(&[2, 3, 3, 4]), &rhs);
        assert!(folded.batch.is_empty());
        assert_eq!(folded.m, 18);
        // Batches that are not evenly spaced rows keep one product per batch.
        let permuted = Layout::contiguous(&[3, 2, 4]).transpose(0, 1);
        assert_eq!(Plan::new(&permuted, &rhs).batch.as_slice(), &[2]);
        let batched_rhs = Layout::contiguous(&[2, 4, 5]);
        assert_eq!(Plan::new(&Layout::contiguous(&[2, 3, 4]), &batched_rhs).batch.as_slice(), &[2]);
        // Either way the values are those of the naive loops.
        let mut g = 21;
        let data = random(&mut g, &[3, 2, 4]);
        let bm = random(&mut g, &[4, 5]);
        let (sa, sb) = (storage_of(DType::F32, &data), storage_of(DType::F32, &bm));
        let (out, shape) = matmul(View::new(&sa, &permuted), View::new(&sb, &rhs));
        let (expected, _) = reference(&values(View::new(&sa, &permuted)), &[2, 3, 4], &bm, &[4, 5]);
        assert_eq!(shape.as_slice(), &[2, 3, 5]);
        let got = values(View::new(&out, &Layout::contiguous(&shape)));
        for (x, y) in got.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-9, "{x} vs {y}");
        }
    }

    #[test]
    fn empty_dims() {
        for dtype in [DType::F32, DType::I64, DType::BF16] {
            // k = 0: a [2, 3] matrix of zeros.
            let a = storage_of(dtype, &[]);
            let (out, shape) =
                matmul(View::new(&a, &Layout::contiguous(&[2, 0])), View::new(&a, &Layout::contiguous(&[0, 3])));
            assert_eq!(shape.as_slice(), &[2, 3]);
            assert_eq!(values(View::new(&out, &Layout::contiguous(&shape))), vec![0.0; 6]);
            // m = 0 and an empty batch: empty results of the right shape.
            let b = storage_of(dtype, &[1.0; 12]);
            let (out, shape) =
                matmul(View::new(&a, &Layout::contiguous(&[0, 4])), View::new(&b, &Layout::contiguous(&[4, 3])));
            assert_eq!((shape.as_slice(), out.len()), (&[0usize, 3][..], 0));
            let (out, shape) =
                matmul(View::new(&a, &Layout::contiguous(&[0, 2, 4])), View::new(&b, &Layout::contiguous(&[4, 3])));
            assert_eq!((shape.as_slice(), out.len()), (&[0usize, 2, 3][..], 0));
        }
    }

    #[test]
    #[should_panic(expected = "matmul: cannot multiply [8,16] by [12,4]: the inner dimensions (16 and 12) must match")]
    fn mismatched_inner_dims_panic() {
        let a = Storage::from_vec(vec![0.0f32; 128]);
        let b = Storage::from_vec(vec![0.0f32; 48]);
        matmul(View::new(&a, &Layout::contiguous(&[8, 16])), View::new(&b, &Layout::contiguous(&[12, 4])));
    }

    /// `matmul_f32_into` reports every row once, only after it is final (the callback sees
    /// the values `matmul` computes, bit for bit), for one-piece products, row bands, column
    /// bands (reported after the product), batches, and k = 0.
    #[test]
    fn rows_are_reported_once_and_only_when_final() {
        use std::sync::Mutex;
        let cases: [(&[usize], &[usize]); 5] = [
            (&[300, 64], &[64, 200]),
            (&[1024, 256], &[256, 512]),
            (&[128, 1024], &[1024, 2048]),
            (&[3, 40, 30], &[30, 50]),
            (&[7, 0], &[0, 9]),
        ];
        for (seed, (a_shape, b_shape)) in cases.into_iter().enumerate() {
            let mut g = seed as u64;
            let (sa, sb) =
                (storage_of(DType::F32, &random(&mut g, a_shape)), storage_of(DType::F32, &random(&mut g, b_shape)));
            let (la, lb) = (Layout::contiguous(a_shape), Layout::contiguous(b_shape));
            let (want, shape) = matmul(View::new(&sa, &la), View::new(&sb, &lb));
            let want = want.to_vec::<f32>();
            let n = shape[shape.len() - 1];
            let rows = want.len() / n.max(1);
            let out = Storage::uninit(DType::F32, want.len());
            let seen = Mutex::new(vec![0usize; rows]);
            let out_ptr = SendPtr(out.as_ptr::<f32>());
            matmul_f32_into(View::new(&sa, &la), View::new(&sb, &lb), &out, &|first, end| {
                // SAFETY: the rows reported are final and no longer written.
                let got = unsafe {
                    std::slice::from_raw_parts(out_ptr.get().add(first * n) as *const f32, (end - first) * n)
                };
                let same = got.iter().zip(&want[first * n..end * n]).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{a_shape:?} @ {b_shape:?}: rows {first}..{end} reported before they were final");
                seen.lock().unwrap()[first..end].iter_mut().for_each(|c| *c += 1);
            });
            let seen = seen.into_inner().unwrap();
            assert!(seen.iter().all(|&c| c == 1), "{a_shape:?} @ {b_shape:?}: rows reported {seen:?}");
        }
    }
}
