//! Sizes as arguments: the numbers of a kernel that its code reads at run time.
//!
//! Generated code depends on a kernel's structure, not on its sizes. Every loop extent, every
//! stride other than 0 and 1 and every non-zero offset is an argument that the code reads
//! from the kernel's size table. One function therefore serves every kernel of one
//! structure: the same model at another sequence length or batch size, or a symbolic dim at
//! each of its sizes. Strides of 0 (a broadcast) and 1 (contiguous) and offsets of 0 stay
//! in the code, because they decide how an access is vectorized.
//!
//! [`split`] divides a kernel into its *shape* (the kernel the code is generated from, and
//! the key it is cached under) and its size table. In the shape:
//! - the name is blank and the outermost extent 0: the code never reads them (the caller
//!   passes the range of outer points);
//! - every other extent is replaced by its class ([`extent_class`]). The code generator's
//!   decisions on an extent (long enough for vectors, for several partial sums, for blocks
//!   of wide routines; how many outer points share a vector) only compare it with the class
//!   bounds, so one code serves every extent of a class;
//! - every stride and offset that is an argument is replaced by a tagged slot number
//!   ([`Number::Slot`]), one per distinct value. Accesses that are equal in the kernel stay
//!   equal in the code, which computes their address once (contiguous operands of one shape
//!   share every stride). Which numbers are equal is part of the shape, and it rarely
//!   depends on the sizes: it does where two sizes happen to coincide, and such a kernel
//!   gets code of its own.
//!
//! The size table holds the inner outer extents (outermost but one first), then each stage's
//! inner extents, then the distinct strides and offsets in order of first appearance.

use ignis_ir::kernel::Kernel;
use std::collections::HashMap;

/// The smallest extent of each class. The code generator compares extents only with these
/// (a test in `emit` checks its thresholds against the list).
pub(crate) const CLASS_BOUNDS: [usize; 8] = [0, 1, 2, 4, 8, 12, 16, 64];

/// Tagged slot numbers are `TAG + slot`: far below any real stride or offset.
const TAG: i64 = i64::MIN;
const MAX_SLOTS: i64 = 1 << 32;

/// A stride or offset of a kernel shape: in the code, or read from the size table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Number {
    Immediate(i64),
    Slot(usize),
}

impl Number {
    pub(crate) fn of(value: i64) -> Number {
        if value < TAG + MAX_SLOTS { Number::Slot((value - TAG) as usize) } else { Number::Immediate(value) }
    }
}

/// The class of an extent: the largest of [`CLASS_BOUNDS`] not above it.
pub(crate) fn extent_class(extent: usize) -> usize {
    CLASS_BOUNDS.iter().copied().rev().find(|&bound| bound <= extent).unwrap_or(0)
}

/// The slot of outer extent `dim` (never the outermost one, which is not an argument).
pub(crate) fn outer_extent_slot(dim: usize) -> usize {
    debug_assert!(dim > 0, "the outermost extent is not an argument");
    dim - 1
}

/// The slot of inner extent `level` of stage `stage`.
pub(crate) fn inner_extent_slot(shape: &Kernel, stage: usize, level: usize) -> usize {
    let before: usize = shape.stages[..stage].iter().map(|s| s.inner.len()).sum();
    shape.outer.len().saturating_sub(1) + before + level
}

/// The shape of `kernel` that its code is generated from, and the size table the code reads.
pub(crate) fn split(kernel: &Kernel) -> (Kernel, Vec<i64>) {
    let mut shape = kernel.clone();
    shape.name = String::new();
    let mut sizes: Vec<i64> = Vec::new();
    for (d, extent) in shape.outer.iter_mut().enumerate() {
        if d > 0 {
            sizes.push(*extent as i64);
        }
        *extent = if d == 0 { 0 } else { extent_class(*extent) };
    }
    for stage in &mut shape.stages {
        for extent in &mut stage.inner {
            sizes.push(*extent as i64);
            *extent = extent_class(*extent);
        }
    }
    let mut slots: HashMap<i64, usize> = HashMap::new();
    let mut tag = |value: &mut i64, immediate: bool| {
        if !immediate {
            let slot = *slots.entry(*value).or_insert_with(|| {
                sizes.push(*value);
                sizes.len() - 1
            });
            *value = TAG + slot as i64;
        }
    };
    shape.for_each_index_mut(|index| {
        let zero_offset = index.offset == 0;
        tag(&mut index.offset, zero_offset);
        for stride in index.outer.iter_mut().chain(&mut index.inner) {
            let structural = *stride == 0 || *stride == 1;
            tag(stride, structural);
        }
    });
    assert!((sizes.len() as i64) < MAX_SLOTS, "kernel @{}: too many size arguments", kernel.name);
    (shape, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ignis_ir::DType;
    use ignis_ir::kernel::{Access, Expr, Index, Stage, StageKind, Store};

    /// `out[i, j] = x[i, j] + x[i, 0]` over `[rows, cols]`, rows as the outer loop.
    fn row_kernel(rows: usize, cols: usize, row_stride: i64) -> Kernel {
        let mut k = Kernel::new("rows", vec![rows]);
        let x = k.add_buffer(DType::F32, Access::Read);
        let out = k.add_buffer(DType::F32, Access::Write);
        let a = k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![row_stride], inner: vec![1] } });
        let first =
            k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![row_stride], inner: vec![0] } });
        let sum = k.push(Expr::Binary(ignis_ir::op::BinaryOp::Add, a, first));
        let index = Index { offset: 0, outer: vec![cols as i64], inner: vec![1] };
        k.stages
            .push(Stage { inner: vec![cols], kind: StageKind::Store(vec![Store { buffer: out, index, value: sum }]) });
        k
    }

    #[test]
    fn kernels_that_differ_in_sizes_of_one_class_share_a_shape() {
        let (a, a_sizes) = split(&row_kernel(3, 100, 100));
        let (b, b_sizes) = split(&row_kernel(7, 300, 300));
        assert_eq!(a, b);
        // The extent, then the one stride every access shares.
        assert_eq!(a_sizes, vec![100, 100]);
        assert_eq!(b_sizes, vec![300, 300]);
        // A short row falls into another class: its code may differ.
        let (short, _) = split(&row_kernel(3, 20, 20));
        assert_ne!(a, short);
        // Rows apart from each other by more than their length: the strides are no longer
        // all equal, another shape.
        let (padded, padded_sizes) = split(&row_kernel(3, 100, 128));
        assert_ne!(a, padded);
        assert_eq!(padded_sizes, vec![100, 128, 100]);
    }

    #[test]
    fn zero_and_unit_strides_stay_in_the_code() {
        let (shape, _) = split(&row_kernel(3, 100, 100));
        let Expr::Load { index, .. } = &shape.exprs[0] else { panic!("the first expression is a load") };
        assert_eq!(Number::of(index.offset), Number::Immediate(0));
        assert_eq!(Number::of(index.inner[0]), Number::Immediate(1));
        assert_eq!(Number::of(index.outer[0]), Number::Slot(1));
    }

    #[test]
    fn slots_name_their_place_in_the_size_table() {
        let kernel = row_kernel(5, 70, 90);
        let (shape, sizes) = split(&kernel);
        assert_eq!(sizes[inner_extent_slot(&shape, 0, 0)], 70);
        for (e, original) in shape.exprs.iter().zip(&kernel.exprs) {
            if let (Expr::Load { index, .. }, Expr::Load { index: real, .. }) = (e, original) {
                for (&tagged, &stride) in index.outer.iter().zip(&real.outer) {
                    match Number::of(tagged) {
                        Number::Slot(s) => assert_eq!(sizes[s], stride),
                        Number::Immediate(v) => assert_eq!(v, stride),
                    }
                }
            }
        }
    }

    #[test]
    fn extents_fall_into_the_class_of_the_largest_bound_below() {
        let classes: Vec<usize> = [0, 1, 2, 3, 4, 7, 8, 11, 12, 15, 16, 63, 64, 5000].map(extent_class).to_vec();
        assert_eq!(classes, vec![0, 1, 2, 2, 4, 4, 8, 8, 12, 12, 16, 16, 64, 64]);
    }
}
