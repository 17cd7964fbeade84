//! One function for many sizes: kernels of one shape at different extents, strides and
//! offsets share their code and each computes what plain Rust does, over ranges of outer
//! points cut anywhere (each range starts from divided coordinates, then advances them).

use super::tests::{bytes, data, run_in_ranges};
use super::{CacheOutcome, DiskCache, KernelCache};
use ignis_ir::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
use ignis_ir::{BinaryOp, DType};

/// Sizes of `permuted_kernel`: outer `[a, b, c]`, inner `d`.
#[derive(Copy, Clone, Debug)]
struct Dims {
    a: usize,
    b: usize,
    c: usize,
    d: usize,
}

const X_OFFSET: usize = 3;

/// `out[a, b, c, :] = 2 * x[a, b, c, :] + y[a, :] + sum_k z[c, 2k + 1]`, with `x` stored as
/// `[c, a, b, d]` behind an offset, `y` broadcast over `b` and `c`, and `z` read with a
/// stride of 2 (a scalar reduction stage before a vectorized store stage).
fn permuted_kernel(n: Dims) -> Kernel {
    let Dims { a, b, c, d } = n;
    let i = |v: usize| v as i64;
    let mut k = Kernel::new("permuted", vec![a, b, c]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Read);
    let z = k.add_buffer(DType::F32, Access::Read);
    let out = k.add_buffer(DType::F32, Access::Write);
    let z_load =
        k.push(Expr::Load { buffer: z, index: Index { offset: 1, outer: vec![0, 0, i(2 * d)], inner: vec![2] } });
    k.stages.push(Stage { inner: vec![d], kind: StageKind::Reduce { combine: Combine::Sum, value: z_load } });
    let x_index = Index { offset: X_OFFSET as i64, outer: vec![i(b * d), i(d), i(a * b * d)], inner: vec![1] };
    let x_load = k.push(Expr::Load { buffer: x, index: x_index });
    let two = k.push(Expr::Const(2.0));
    let doubled = k.push(Expr::Binary(BinaryOp::Mul, x_load, two));
    let y_load = k.push(Expr::Load { buffer: y, index: Index { offset: 0, outer: vec![i(d), 0, 0], inner: vec![1] } });
    let sum = k.push(Expr::Binary(BinaryOp::Add, doubled, y_load));
    let row_sum = k.push(Expr::Stage(0));
    let value = k.push(Expr::Binary(BinaryOp::Add, sum, row_sum));
    let out_index = Index { offset: 0, outer: vec![i(b * c * d), i(c * d), i(d)], inner: vec![1] };
    k.stages
        .push(Stage { inner: vec![d], kind: StageKind::Store(vec![Store { buffer: out, index: out_index, value }]) });
    k
}

fn check_permuted(cache: &KernelCache, n: Dims, cuts: &[usize]) -> (usize, CacheOutcome) {
    let Dims { a, b, c, d } = n;
    let kernel = permuted_kernel(n);
    let (code, outcome) = cache.compile(&kernel).unwrap_or_else(|e| panic!("{e}"));
    let mut x = data(X_OFFSET + a * b * c * d, 1);
    let mut y = data(a * d, 2);
    let mut z = data(c * 2 * d, 3);
    let mut out = vec![f32::NAN; a * b * c * d];
    let buffers = &mut [bytes(&mut x), bytes(&mut y), bytes(&mut z), bytes(&mut out)];
    run_in_ranges(&code, buffers, kernel.outer_points(), cuts);
    for (ai, bi, ci, di) in outer_and_inner_points(a, b, c, d) {
        let x_at = X_OFFSET + ci * a * b * d + ai * b * d + bi * d + di;
        let z_sum: f64 = (0..d).map(|k| z[ci * 2 * d + 2 * k + 1] as f64).sum();
        let want = 2.0 * x[x_at] as f64 + y[ai * d + di] as f64 + z_sum;
        let got = out[((ai * b + bi) * c + ci) * d + di] as f64;
        assert!(
            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "{n:?} cuts {cuts:?} at {ai},{bi},{ci},{di}: {got} vs {want}"
        );
    }
    (code.entry as usize, outcome)
}

fn outer_and_inner_points(
    a: usize,
    b: usize,
    c: usize,
    d: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..a).flat_map(move |ai| {
        (0..b).flat_map(move |bi| (0..c).flat_map(move |ci| (0..d).map(move |di| (ai, bi, ci, di))))
    })
}

#[test]
fn kernels_of_one_shape_share_code_and_compute_their_own_sizes() {
    let cache = KernelCache::new(DiskCache::disabled());
    // Inner outer extents in the classes 2..4 and 4..8, the inner one in 16..64; the strides
    // (b*d, d, a*b*d, 2*d, b*c*d, c*d) are distinct in each.
    let sizes = [
        Dims { a: 2, b: 3, c: 5, d: 20 },
        Dims { a: 3, b: 3, c: 7, d: 33 },
        Dims { a: 4, b: 3, c: 5, d: 17 },
        Dims { a: 5, b: 3, c: 6, d: 16 },
    ];
    let mut entries = Vec::new();
    for (i, n) in sizes.into_iter().enumerate() {
        for cuts in [vec![], vec![1], vec![4, 5, 11, 29]] {
            let (entry, outcome) = check_permuted(&cache, n, &cuts);
            let first = i == 0 && cuts.is_empty();
            assert_eq!(outcome, if first { CacheOutcome::Generated } else { CacheOutcome::Memory }, "{n:?}");
            entries.push(entry);
        }
    }
    assert!(entries.windows(2).all(|w| w[0] == w[1]), "one function: {entries:x?}");
    assert_eq!(cache.stats().generated, 1);
}

#[test]
fn extents_of_other_classes_get_code_of_their_own_that_is_right_too() {
    let cache = KernelCache::new(DiskCache::disabled());
    let sizes = [
        Dims { a: 2, b: 1, c: 1, d: 1 },
        Dims { a: 2, b: 1, c: 9, d: 3 },
        Dims { a: 3, b: 13, c: 2, d: 9 },
        Dims { a: 2, b: 4, c: 17, d: 64 },
        Dims { a: 1, b: 2, c: 3, d: 300 },
        Dims { a: 2, b: 0, c: 3, d: 5 },
        Dims { a: 2, b: 3, c: 4, d: 0 },
        // Two strides that coincide (b*d and 2*d) make a shape of their own.
        Dims { a: 3, b: 2, c: 7, d: 33 },
    ];
    for n in sizes {
        for cuts in [vec![], vec![2, 3, 17]] {
            check_permuted(&cache, n, &cuts);
        }
    }
    assert_eq!(cache.stats().generated, sizes.len() as u64);
}
