//! Deterministic, vectorizable folds over contiguous runs, shared by the reductions and the
//! fused normalization kernels.
//!
//! A run is folded into `LANES` independent accumulators (several vector registers, so the
//! loop is not bound by the latency of one add chain) and runs longer than `LEAF` are split
//! in halves first (pairwise summation). The grouping depends only on the run's length, so
//! the result has the same bits on every call and for any thread count, and rounding error
//! grows with `log(n)` instead of `n`. Nothing here knows about layouts or threads.

use crate::element::Element;

/// Independent accumulators per run: four AVX-512 registers of f32.
pub const LANES: usize = 32;
/// Runs longer than this are split in halves.
pub const LEAF: usize = 1024;

/// Arithmetic the reductions need on every dtype they compute in. Integer sums and products
/// wrap, as in PyTorch.
pub trait Arith: Element {
    fn plus(self, other: Self) -> Self;
    fn times(self, other: Self) -> Self;
    /// The identity of `max`: nothing compares below it.
    fn lowest() -> Self;
    /// The identity of `min`.
    fn highest() -> Self;
}

macro_rules! float_arith {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)]
            fn plus(self, other: Self) -> Self {
                self + other
            }
            #[inline(always)]
            fn times(self, other: Self) -> Self {
                self * other
            }
            fn lowest() -> Self {
                <$t>::NEG_INFINITY
            }
            fn highest() -> Self {
                <$t>::INFINITY
            }
        }
    };
}
float_arith!(f32);
float_arith!(f64);

macro_rules! int_arith {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)]
            fn plus(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            #[inline(always)]
            fn times(self, other: Self) -> Self {
                self.wrapping_mul(other)
            }
            fn lowest() -> Self {
                <$t>::MIN
            }
            fn highest() -> Self {
                <$t>::MAX
            }
        }
    };
}
int_arith!(i64);
int_arith!(i32);
int_arith!(u8);

impl Arith for bool {
    #[inline(always)]
    fn plus(self, other: Self) -> Self {
        self | other
    }
    #[inline(always)]
    fn times(self, other: Self) -> Self {
        self & other
    }
    fn lowest() -> Self {
        false
    }
    fn highest() -> Self {
        true
    }
}

/// The float types kernels compute in (half floats are widened to f32 first).
pub trait Real:
    Arith
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn from_usize(n: usize) -> Self;
    /// e^x; f32 uses the vectorizable polynomial and flushes results below the smallest
    /// normal number to zero, so that `exp(-inf)` is exactly 0 (masked softmax entries).
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn is_finite(self) -> bool;
}

impl Real for f32 {
    #[inline(always)]
    fn from_usize(n: usize) -> Self {
        n as f32
    }
    #[inline(always)]
    fn exp(self) -> Self {
        // The clamp inside sits at -87.34, where e^x is the smallest normal f32.
        if self < -87.336_54 { 0.0 } else { exp_f32_vector(self) }
    }
    fn ln(self) -> Self {
        f32::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn from_usize(n: usize) -> Self {
        n as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

/// e^x for f32, vectorizable; see `math::exp_f32`.
#[inline(always)]
pub fn exp_f32_vector(x: f32) -> f32 {
    super::math::exp_f32(x)
}

/// `max` that propagates NaN: `a` wins when it is larger or NaN. The form (compare, NaN
/// test, select) vectorizes to three instructions.
#[inline(always)]
pub fn max_nan<T: PartialOrd + Copy>(a: T, b: T) -> T {
    #[allow(clippy::eq_op)]
    let a_nan = a != a;
    if a > b || a_nan { a } else { b }
}

/// `min` that propagates NaN.
#[inline(always)]
pub fn min_nan<T: PartialOrd + Copy>(a: T, b: T) -> T {
    #[allow(clippy::eq_op)]
    let a_nan = a != a;
    if a < b || a_nan { a } else { b }
}

/// Folds `map(x)` over `xs` with the associative `f`: lanes, then pairwise halves.
#[inline]
pub fn fold_map<T: Copy, A: Copy>(
    xs: &[T],
    identity: A,
    map: impl Fn(T) -> A + Copy,
    f: impl Fn(A, A) -> A + Copy,
) -> A {
    if xs.len() > LEAF {
        // Split on a multiple of LANES so both halves keep whole vectors.
        let half = (xs.len() / 2).div_ceil(LANES) * LANES;
        let (a, b) = xs.split_at(half);
        return f(fold_map(a, identity, map, f), fold_map(b, identity, map, f));
    }
    fold_leaf(xs, identity, map, f)
}

/// Kept out of line on purpose: inlined into the recursive `fold_map`, LLVM's SLP
/// vectorizer packs the lanes two at a time instead of into whole vector registers.
#[inline(never)]
fn fold_leaf<T: Copy, A: Copy>(xs: &[T], identity: A, map: impl Fn(T) -> A, f: impl Fn(A, A) -> A) -> A {
    let mut acc = [identity; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for i in 0..LANES {
            acc[i] = f(acc[i], map(chunk[i]));
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = f(*a, map(x));
    }
    combine_lanes(acc, f)
}

/// Combines the lanes pairwise (lane i with lane i + width/2), a fixed tree.
#[inline(always)]
pub fn combine_lanes<A: Copy>(mut acc: [A; LANES], f: impl Fn(A, A) -> A) -> A {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] = f(acc[i], acc[i + width]);
        }
    }
    acc[0]
}

/// Sums `xs` pairwise.
#[inline]
pub fn sum<T: Arith>(xs: &[T]) -> T {
    fold_map(xs, T::zero(), |x| x, T::plus)
}

/// Combines `parts` (results of consecutive pieces, in order) as a balanced tree that
/// keeps earlier pieces on the left.
pub fn tree<A: Copy>(parts: &[A], identity: A, f: &impl Fn(A, A) -> A) -> A {
    match parts.len() {
        0 => identity,
        1 => parts[0],
        n => {
            let (a, b) = parts.split_at(n / 2);
            f(tree(a, identity, f), tree(b, identity, f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_of_ones_is_exact() {
        // Every partial sum is a small integer, exactly representable: 3000 ones sum to 3000
        // however they are grouped, including the ragged remainder past the lanes.
        let xs = vec![1.0f32; 3000];
        assert_eq!(sum(&xs), 3000.0);
    }

    #[test]
    fn pairwise_sum_beats_sequential_on_a_million_terms() {
        // 0.1 is not exact in binary; a sequential f32 sum of 1e6 copies drifts by ~1e-3
        // relative, the pairwise one stays within a few ulp of the f64 sum.
        let xs = vec![0.1f32; 1_000_000];
        let exact = 0.1f32 as f64 * 1e6;
        let got = sum(&xs) as f64;
        assert!(((got - exact) / exact).abs() < 1e-6, "{got} vs {exact}");
    }

    #[test]
    fn max_and_min_propagate_nan_from_either_side() {
        assert!(max_nan(f32::NAN, 1.0).is_nan());
        assert!(max_nan(1.0, f32::NAN).is_nan());
        assert!(min_nan(f32::NAN, 1.0).is_nan());
        assert!(min_nan(1.0f32, f32::NAN).is_nan());
        assert_eq!(max_nan(1.0f32, 2.0), 2.0);
        assert_eq!(min_nan(1.0f32, 2.0), 1.0);
    }

    #[test]
    fn vector_exp_within_3_ulp_of_f64() {
        let mut worst = 0.0f64;
        let mut x = -87.3f32;
        while x < 88.7 {
            let exact = (x as f64).exp();
            worst = worst.max((exp_f32_vector(x) as f64 - exact).abs() / exact / f32::EPSILON as f64);
            x += 0.000_97;
        }
        assert!(worst <= 3.0, "worst error {worst} ulp");
        assert_eq!(exp_f32_vector(0.0), 1.0);
        assert!(exp_f32_vector(f32::NAN).is_nan());
        assert!(exp_f32_vector(100.0) > 1e38);
    }

    #[test]
    fn exp_flushes_minus_infinity_to_zero() {
        assert_eq!(<f32 as Real>::exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(<f32 as Real>::exp(0.0), 1.0);
        assert!(<f32 as Real>::exp(f32::NAN).is_nan());
    }
}
