//! Comparing a compiled result with eager's: dtype, shape, then every element.
//!
//! Bools and integers must be equal. A float element passes when
//! `|got - want| <= rtol * (|want| + scale) + floor + NOISE_FACTOR * noise`, where `rtol`
//! and `floor` come from the precision the value was computed at (the floor is the spacing
//! of f16's subnormals), `scale` is the magnitude the value was computed from
//! (cancellation leaves small results with large errors), and `noise` is the spread the
//! noise model measured at that element, or a quarter of the tensor's largest spread when
//! that is more (the model's signs can cancel at one element by chance). Exact
//! values (rtol 0, no noise) must match bit for bit. NaN must meet NaN and an infinity the
//! same infinity, except where the noise model itself left the finite range.

use ignis::{DType, Tensor, no_grad};

/// How many times the measured noise a backend may show: the model moves each rounding
/// step by about two ulps; a polynomial `exp` plus eager's own half-ulp can reach a few.
pub const NOISE_FACTOR: f64 = 4.0;

/// What an eager value allows a compiled one.
#[derive(Clone, Debug)]
pub struct Tolerance {
    pub rtol: f64,
    pub floor: f64,
    pub scale: f64,
    /// Per element (empty: none measured).
    pub noise: Vec<f64>,
}

/// Per element, how far the perturbed runs strayed from `reference`: 0 where they all
/// agree (NaN with NaN too), infinite where one left or entered the finite range.
pub fn noise(reference: &Tensor, perturbed: &[&Tensor]) -> Vec<f64> {
    if !reference.dtype().is_float() {
        return Vec::new();
    }
    let want = no_grad(|| reference.to_vec::<f64>());
    let mut spread = vec![0.0f64; want.len()];
    for p in perturbed {
        if p.shape() != reference.shape() || !p.dtype().is_float() {
            spread.iter_mut().for_each(|s| *s = f64::INFINITY);
            continue;
        }
        for (s, (w, v)) in spread.iter_mut().zip(want.iter().zip(no_grad(|| p.to_vec::<f64>()))) {
            let distance = if *w == v || (w.is_nan() && v.is_nan()) {
                0.0
            } else if w.is_finite() && v.is_finite() {
                (w - v).abs()
            } else {
                f64::INFINITY
            };
            *s = s.max(distance);
        }
    }
    spread
}

/// `[1, 0, 3]`: the multi-index of flat index `flat` in a row-major `shape`.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            index[i] = flat % n;
            flat /= n;
        }
    }
    index
}

/// `None` when `got` (compiled) agrees with `want` (eager), else the first difference.
pub fn difference(got: &Tensor, want: &Tensor, tolerance: &Tolerance) -> Option<String> {
    if got.dtype() != want.dtype() {
        return Some(format!("dtype {} compiled, {} eager", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Some(format!("shape {:?} compiled, {:?} eager", got.shape(), want.shape()));
    }
    let at = |i: usize| format!("element {i} at {:?}", unravel(i, want.shape()));
    match want.dtype() {
        DType::Bool => {
            let (g, w) = no_grad(|| (got.to_vec::<bool>(), want.to_vec::<bool>()));
            let i = g.iter().zip(&w).position(|(a, b)| a != b)?;
            Some(format!("{} is {} compiled, {} eager", at(i), g[i], w[i]))
        }
        d if d.is_float() => {
            let (g, w) = no_grad(|| (got.to_vec::<f64>(), want.to_vec::<f64>()));
            let typical = tolerance.noise.iter().filter(|n| n.is_finite()).fold(0.0, |m: f64, &n| m.max(n)) / 4.0;
            for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
                let noise = tolerance.noise.get(i).copied().unwrap_or(0.0);
                let allowed =
                    tolerance.rtol * (b.abs() + tolerance.scale) + tolerance.floor + NOISE_FACTOR * noise.max(typical);
                let ok = if noise.is_infinite() || a == b {
                    true
                } else if b.is_nan() {
                    a.is_nan()
                } else if b.is_infinite() {
                    false
                } else {
                    a.is_finite() && (a - b).abs() <= allowed
                };
                if !ok {
                    return Some(format!(
                        "{} is {a:e} compiled, {b:e} eager (allowed difference {allowed:.3e})",
                        at(i)
                    ));
                }
            }
            None
        }
        _ => {
            let (g, w) = no_grad(|| (got.to_vec::<i64>(), want.to_vec::<i64>()));
            let i = g.iter().zip(&w).position(|(a, b)| a != b)?;
            Some(format!("{} is {} compiled, {} eager", at(i), g[i], w[i]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(values: &[f32]) -> Tensor {
        Tensor::from_vec(values.to_vec(), [values.len()])
    }

    fn tolerance(rtol: f64, scale: f64, noise: &[f64]) -> Tolerance {
        Tolerance { rtol, floor: 0.0, scale, noise: noise.to_vec() }
    }

    #[test]
    fn exact_values_must_match_bit_for_bit() {
        let want = f32s(&[1.0, -2.5]);
        assert_eq!(difference(&f32s(&[1.0, -2.5]), &want, &tolerance(0.0, 2.5, &[])), None);
        let off_by_an_ulp = f32s(&[1.0, f32::from_bits((-2.5f32).to_bits() + 1)]);
        assert!(difference(&off_by_an_ulp, &want, &tolerance(0.0, 2.5, &[])).unwrap().starts_with("element 1 at [1]"));
    }

    #[test]
    fn relative_absolute_and_noise_terms_each_allow_a_difference() {
        let want = f32s(&[1000.0, 0.001]);
        // 1e-5 relative of 1000 allows 0.01; the small element gets 1e-5 * scale.
        let got = f32s(&[1000.009, 0.001 + 9e-5]);
        assert_eq!(difference(&got, &want, &tolerance(1e-5, 10.0, &[])), None);
        assert!(difference(&got, &want, &tolerance(1e-5, 1.0, &[])).is_some());
        assert_eq!(difference(&got, &want, &tolerance(1e-5, 1.0, &[0.0, 3e-5])), None);
        // A quarter of the largest spread counts everywhere.
        assert_eq!(difference(&got, &want, &tolerance(1e-5, 1.0, &[12e-5, 0.0])), None);
        assert!(difference(&got, &want, &tolerance(1e-5, 1.0, &[4e-5, 0.0])).is_some());
    }

    #[test]
    fn nan_meets_nan_and_infinity_the_same_infinity() {
        let want = f32s(&[f32::NAN, f32::INFINITY, 1.0]);
        let loose = tolerance(1e-5, 1.0, &[]);
        assert_eq!(difference(&f32s(&[f32::NAN, f32::INFINITY, 1.0]), &want, &loose), None);
        assert!(difference(&f32s(&[0.0, f32::INFINITY, 1.0]), &want, &loose).is_some());
        assert!(difference(&f32s(&[f32::NAN, f32::NEG_INFINITY, 1.0]), &want, &loose).is_some());
        assert!(difference(&f32s(&[f32::NAN, f32::INFINITY, f32::NAN]), &want, &loose).is_some());
        // Where the noise model itself left the finite range, anything goes.
        let unbounded = tolerance(1e-5, 1.0, &[0.0, f64::INFINITY, 0.0]);
        assert_eq!(difference(&f32s(&[f32::NAN, 3.0, 1.0]), &want, &unbounded), None);
    }

    #[test]
    fn dtype_shape_and_integer_differences_are_named() {
        let want = f32s(&[1.0, 2.0]);
        let none = tolerance(1e-5, 1.0, &[]);
        assert_eq!(difference(&want.to_dtype(DType::F64), &want, &none), Some("dtype f64 compiled, f32 eager".into()));
        assert!(difference(&want.reshape([2, 1]), &want, &none).unwrap().starts_with("shape"));
        let ints = Tensor::from_vec(vec![1i64, 2], [2]);
        let got = Tensor::from_vec(vec![1i64, 3], [2]);
        assert_eq!(difference(&got, &ints, &none), Some("element 1 at [1] is 3 compiled, 2 eager".into()));
    }

    #[test]
    fn noise_is_the_largest_spread_of_the_perturbed_runs() {
        let reference = f32s(&[1.0, f32::NAN, 2.0]);
        let a = f32s(&[1.5, f32::NAN, 2.0]);
        let b = f32s(&[0.75, f32::NAN, f32::INFINITY]);
        assert_eq!(noise(&reference, &[&a, &b]), vec![0.5, 0.0, f64::INFINITY]);
    }

    #[test]
    fn unravel_gives_row_major_indices() {
        assert_eq!(unravel(7, &[2, 3, 2]), vec![1, 0, 1]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
