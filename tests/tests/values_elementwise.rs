//! Hand-checked values of elementwise ops and activations, and f32 math against f64.

mod common;

use common::*;
use ignis::{DType, Tensor};

// ---------------------------------------------------------------------------------------
// Elementwise

#[test]
fn arithmetic_broadcasts() {
    let a = f32s(&[1.0, 2.0, 3.0], &[3]);
    let b = f32s(&[10.0, 20.0], &[2, 1]);
    let sum = a.add(&b);
    assert_eq!(sum.shape(), &[2, 3]);
    assert_eq!(sum.to_vec::<f32>(), vec![11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    assert_eq!(a.sub(&b).to_vec::<f32>(), vec![-9.0, -8.0, -7.0, -19.0, -18.0, -17.0]);
    assert_eq!(a.mul(&b).to_vec::<f32>(), vec![10.0, 20.0, 30.0, 20.0, 40.0, 60.0]);
    assert_eq!(a.div(&f32s(&[2.0, 4.0, 8.0], &[3])).to_vec::<f32>(), vec![0.5, 0.5, 0.375]);
    // Scalars on either side: 10 - a, 12 / a, a ^ 2, 2 ^ a
    assert_eq!(a.rsub_scalar(10.0).to_vec::<f32>(), vec![9.0, 8.0, 7.0]);
    assert_eq!(a.rdiv_scalar(12.0).to_vec::<f32>(), vec![12.0, 6.0, 4.0]);
    assert_eq!(a.pow_scalar(2.0).to_vec::<f32>(), vec![1.0, 4.0, 9.0]);
    assert_eq!(a.rpow_scalar(2.0).to_vec::<f32>(), vec![2.0, 4.0, 8.0]);
    // Operator overloads go to the same ops.
    assert_eq!((&a * 2.0 + 1.0).to_vec::<f32>(), vec![3.0, 5.0, 7.0]);
    assert_eq!((1.0 - &a).to_vec::<f32>(), vec![0.0, -1.0, -2.0]);
    assert_eq!((-&a).to_vec::<f32>(), vec![-1.0, -2.0, -3.0]);
}

#[test]
fn integer_division_is_true_division() {
    let a = i64s(&[7, -7, 1, 0], &[4]);
    let b = i64s(&[2, 2, 3, 5], &[4]);
    let q = a.div(&b);
    assert_eq!(q.dtype(), DType::F32);
    assert_eq!(q.to_vec::<f32>(), vec![3.5, -3.5, 1.0 / 3.0, 0.0]);
    let h = a.div_scalar(2i64);
    assert_eq!(h.dtype(), DType::F32);
    assert_eq!(h.to_vec::<f32>(), vec![3.5, -3.5, 0.5, 0.0]);
}

#[test]
fn remainder_takes_the_sign_of_the_divisor() {
    // Python: 5 % 3 = 2, -5 % 3 = 1, 5 % -3 = -1, -5 % -3 = -2
    let a = f32s(&[5.0, -5.0, 5.0, -5.0, 5.5], &[5]);
    let b = f32s(&[3.0, 3.0, -3.0, -3.0, 2.0], &[5]);
    assert_eq!(a.rem(&b).to_vec::<f32>(), vec![2.0, 1.0, -1.0, -2.0, 1.5]);
    let ai = i64s(&[5, -5, 5, -5, 6], &[5]);
    let bi = i64s(&[3, 3, -3, -3, 3], &[5]);
    let r = ai.rem(&bi);
    assert_eq!(r.dtype(), DType::I64);
    assert_eq!(r.to_vec::<i64>(), vec![2, 1, -1, -2, 0]);
    // -1.5 % 1 = 0.5; -7 % 4 = 1
    assert_eq!(f32s(&[-1.5], &[1]).rem_scalar(1.0).to_vec::<f32>(), vec![0.5]);
    assert_eq!(i64s(&[-7], &[1]).rem_scalar(4i64).to_vec::<i64>(), vec![1]);
}

#[test]
fn pow_of_tensors() {
    let base = f32s(&[2.0, 3.0, 4.0, -2.0], &[4]);
    let exponent = f32s(&[3.0, 2.0, 0.5, 2.0], &[4]);
    assert_eq!(base.pow(&exponent).to_vec::<f32>(), vec![8.0, 9.0, 2.0, 4.0]);
    // A negative base with a fractional exponent has no real value.
    assert!(f32s(&[-2.0], &[1]).pow_scalar(0.5).to_vec::<f32>()[0].is_nan());
    let ints = i64s(&[2, 3, -2], &[3]).pow(&i64s(&[10, 3, 3], &[3]));
    assert_eq!(ints.dtype(), DType::I64);
    assert_eq!(ints.to_vec::<i64>(), vec![1024, 27, -8]);
}

#[test]
fn minimum_and_maximum_propagate_nan() {
    let nan = f32::NAN;
    let a = f32s(&[1.0, nan, 3.0, -0.5], &[4]);
    let b = f32s(&[2.0, 0.0, nan, -1.5], &[4]);
    let lo = a.minimum(&b).to_vec::<f32>();
    let hi = a.maximum(&b).to_vec::<f32>();
    assert_eq!((lo[0], lo[3]), (1.0, -1.5));
    assert_eq!((hi[0], hi[3]), (2.0, -0.5));
    assert!(lo[1].is_nan() && lo[2].is_nan() && hi[1].is_nan() && hi[2].is_nan());
    assert_eq!(i64s(&[1, 5], &[2]).maximum(&i64s(&[3, 2], &[2])).to_vec::<i64>(), vec![3, 5]);
    assert_eq!(a.maximum_scalar(2.0).to_vec::<f32>()[2], 3.0);
    assert_eq!(a.minimum_scalar(2.0).to_vec::<f32>()[0], 1.0);
}

#[test]
fn comparisons_give_bool() {
    let a = f32s(&[1.0, 2.0, 3.0, f32::NAN], &[4]);
    let b = f32s(&[2.0, 2.0, 2.0, f32::NAN], &[4]);
    let cases: [(&str, Tensor, [bool; 4]); 6] = [
        ("eq", a.eq(&b), [false, true, false, false]),
        ("ne", a.ne(&b), [true, false, true, true]),
        ("lt", a.lt(&b), [true, false, false, false]),
        ("le", a.le(&b), [true, true, false, false]),
        ("gt", a.gt(&b), [false, false, true, false]),
        ("ge", a.ge(&b), [false, true, true, false]),
    ];
    for (name, t, want) in cases {
        assert_eq!(t.dtype(), DType::Bool, "{name}");
        assert_eq!(t.to_vec::<bool>(), want.to_vec(), "{name}");
    }
    assert_eq!(a.gt_scalar(1.5).to_vec::<bool>(), vec![false, true, true, false]);
    // Mixed dtypes compare after promotion: 2 (i64) == 2.0 (f32)
    assert_eq!(i64s(&[2, 3], &[2]).eq(&f32s(&[2.0, 2.5], &[2])).to_vec::<bool>(), vec![true, false]);
}

#[test]
fn logical_ops() {
    let a = bools(&[true, true, false, false]);
    let b = bools(&[true, false, true, false]);
    assert_eq!(a.logical_and(&b).to_vec::<bool>(), vec![true, false, false, false]);
    assert_eq!(a.logical_or(&b).to_vec::<bool>(), vec![true, true, true, false]);
    assert_eq!(a.logical_xor(&b).to_vec::<bool>(), vec![false, true, true, false]);
    assert_eq!(a.logical_not().to_vec::<bool>(), vec![false, false, true, true]);
    // Numbers are true when nonzero.
    let x = f32s(&[0.0, 2.0, -1.0, 0.0], &[4]);
    let y = i64s(&[1, 1, 0, 0], &[4]);
    let both = x.logical_and(&y);
    assert_eq!(both.dtype(), DType::Bool);
    assert_eq!(both.to_vec::<bool>(), vec![false, true, false, false]);
    assert_eq!(x.logical_not().to_vec::<bool>(), vec![true, false, false, true]);
}

#[test]
fn where_selects_and_broadcasts() {
    let cond = bools(&[true, false, true]);
    let a = f32s(&[1.0, 2.0, 3.0], &[3]);
    let b = f32s(&[-1.0], &[1]);
    assert_eq!(cond.where_(&a, &b).to_vec::<f32>(), vec![1.0, -1.0, 3.0]);
    // Condition [3] against branches [2,1]: the result is [2,3]
    let rows = f32s(&[10.0, 20.0], &[2, 1]);
    let w = cond.where_(&rows, &a);
    assert_eq!(w.shape(), &[2, 3]);
    assert_eq!(w.to_vec::<f32>(), vec![10.0, 2.0, 10.0, 20.0, 2.0, 20.0]);
    // i64 and f32 branches promote to f32.
    let mixed = cond.where_(&i64s(&[7, 8, 9], &[3]), &a);
    assert_eq!(mixed.dtype(), DType::F32);
    assert_eq!(mixed.to_vec::<f32>(), vec![7.0, 2.0, 9.0]);
}

#[test]
fn clamp_nan_to_num_and_predicates() {
    let x = f32s(&[-2.0, -0.5, 0.5, 2.0, f32::NAN], &[5]);
    let c = x.clamp(Some(-1.0), Some(1.0)).to_vec::<f32>();
    assert_eq!(&c[..4], &[-1.0, -0.5, 0.5, 1.0]);
    assert!(c[4].is_nan(), "clamp keeps NaN, as PyTorch");
    assert_eq!(x.clamp_min(0.0).to_vec::<f32>()[..4], [0.0, 0.0, 0.5, 2.0]);
    assert_eq!(x.clamp_max(0.0).to_vec::<f32>()[..4], [-2.0, -0.5, 0.0, 0.0]);
    assert_eq!(i64s(&[-5, 0, 5], &[3]).clamp(Some(-2.0), Some(3.0)).to_vec::<i64>(), vec![-2, 0, 3]);

    let y = f32s(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.5], &[4]);
    assert_eq!(y.nan_to_num(0.0, None, None).to_vec::<f32>(), vec![0.0, f32::MAX, -f32::MAX, 1.5]);
    assert_eq!(y.nan_to_num(-9.0, Some(10.0), Some(-10.0)).to_vec::<f32>(), vec![-9.0, 10.0, -10.0, 1.5]);
    let y64 = y.to_dtype(DType::F64);
    assert_eq!(y64.nan_to_num(0.0, None, None).to_vec::<f64>(), vec![0.0, f64::MAX, -f64::MAX, 1.5]);
    assert_eq!(y.isnan().to_vec::<bool>(), vec![true, false, false, false]);
    assert_eq!(y.isinf().to_vec::<bool>(), vec![false, true, true, false]);
    assert_eq!(i64s(&[1, 2], &[2]).isnan().to_vec::<bool>(), vec![false, false]);
}

#[test]
fn rounding_follows_pytorch() {
    let x = f32s(&[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.7, -2.7], &[8]);
    // round is half to even
    assert_eq!(x.round().to_vec::<f32>(), vec![-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 3.0, -3.0]);
    assert_eq!(x.floor().to_vec::<f32>(), vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 2.0, -3.0]);
    assert_eq!(x.ceil().to_vec::<f32>(), vec![-2.0, -1.0, -0.0, 1.0, 2.0, 3.0, 3.0, -2.0]);
    assert_eq!(x.trunc().to_vec::<f32>(), vec![-2.0, -1.0, -0.0, 0.0, 1.0, 2.0, 2.0, -2.0]);
    assert_eq!(x.sign().to_vec::<f32>(), vec![-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0]);
}

// ---------------------------------------------------------------------------------------
// Activations and transcendental functions

#[test]
fn activations_at_known_points() {
    let x = f64s(&[-2.0, -1.0, 0.0, 1.0, 2.0], &[5]);
    assert_eq!(x.relu().to_vec::<f64>(), vec![0.0, 0.0, 0.0, 1.0, 2.0]);
    // gelu(1) = Phi(1) = 0.8413447460685429, gelu(-1) = -(1 - Phi(1))
    let gelu = x.gelu().to_vec::<f64>();
    assert_close(&gelu[1..4], &[-0.15865525393145707, 0.0, 0.8413447460685429], 1e-15, "gelu");
    assert_close(&x.sigmoid().to_vec::<f64>()[2..], &[0.5, 0.7310585786300049, 0.8807970779778823], 1e-15, "sigmoid");
    // silu(1) = sigmoid(1); silu(-1) = -sigmoid(-1) = -(1 - 0.7310585786300049)
    assert_close(&x.silu().to_vec::<f64>()[1..4], &[-0.2689414213699951, 0.0, 0.7310585786300049], 1e-15, "silu");
    // softplus(0) = ln 2; mish(1) = tanh(ln(1 + e)) = 0.8650983882673103
    assert_close(&x.softplus().to_vec::<f64>()[2..3], &[std::f64::consts::LN_2], 1e-15, "softplus");
    assert_close(&x.mish().to_vec::<f64>()[3..4], &[0.8650983882673103], 1e-15, "mish");
    // elu(-1) = e^-1 - 1, scaled by alpha
    assert_close(&x.elu(1.0).to_vec::<f64>(), &[-0.8646647167633873, -0.6321205588285577, 0.0, 1.0, 2.0], 1e-15, "elu");
    assert_close(&x.elu(2.0).to_vec::<f64>()[1..2], &[-1.2642411176571153], 1e-15, "elu alpha 2");
    assert_eq!(x.leaky_relu(0.1).to_vec::<f64>(), vec![-0.2, -0.1, 0.0, 1.0, 2.0]);
    // Softplus neither overflows nor loses small values.
    let extreme = f64s(&[100.0, -100.0], &[2]).softplus().to_vec::<f64>();
    assert_eq!(extreme[0], 100.0);
    assert_close(&extreme[1..], &[(-100.0f64).exp()], 1e-15, "softplus(-100)");
}

#[test]
fn activations_match_their_formulas_in_f64() {
    let xs: Vec<f64> = (-80..=80).map(|i| i as f64 * 0.1).collect();
    let t = f64s(&xs, &[xs.len()]);
    type Case = (&'static str, fn(&Tensor) -> Tensor, fn(f64) -> f64);
    let cases: Vec<Case> = vec![
        ("gelu", |t| t.gelu(), gelu64),
        ("gelu_tanh", |t| t.gelu_tanh(), gelu_tanh64),
        ("silu", |t| t.silu(), |x| x * sigmoid64(x)),
        ("softplus", |t| t.softplus(), softplus64),
        ("mish", |t| t.mish(), |x| x * softplus64(x).tanh()),
        ("sigmoid", |t| t.sigmoid(), sigmoid64),
        ("elu", |t| t.elu(0.7), |x| if x > 0.0 { x } else { 0.7 * x.exp_m1() }),
        ("leaky_relu", |t| t.leaky_relu(0.01), |x| if x > 0.0 { x } else { 0.01 * x }),
    ];
    for (name, op, reference) in cases {
        let want: Vec<f64> = xs.iter().map(|&x| reference(x)).collect();
        assert_close(&op(&t).to_vec::<f64>(), &want, 1e-14, name);
    }
}

/// The largest relative error of an f32 op over `inputs`, against `reference` in f64
/// evaluated at the same (f32) inputs; returns (error, input where it occurs).
fn worst_relative_error(op: fn(&Tensor) -> Tensor, reference: fn(f64) -> f64, inputs: &[f32]) -> (f64, f32) {
    let got = op(&Tensor::from_vec(inputs.to_vec(), inputs.len())).to_vec::<f32>();
    let mut worst = (0.0, 0.0);
    for (&x, &y) in inputs.iter().zip(&got) {
        let want = reference(x as f64);
        let err = if want == 0.0 { (y as f64).abs() } else { ((y as f64) - want).abs() / want.abs() };
        assert!(!err.is_nan(), "NaN at {x}: got {y}, want {want}");
        if err > worst.0 {
            worst = (err, x);
        }
    }
    worst
}

/// A dense grid over `[lo, hi]`, plus small and tiny magnitudes of both signs.
fn grid(lo: f32, hi: f32, steps: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..=steps).map(|i| lo + (hi - lo) * i as f32 / steps as f32).collect();
    for e in [-30, -20, -12, -7, -5, -3, -2, -1] {
        let m = 10f32.powi(e);
        v.extend([m, -m, 3.7 * m, -3.7 * m]);
    }
    v.retain(|x| (lo..=hi).contains(x) || x.abs() < 1.0);
    v
}

#[test]
fn f32_transcendentals_match_f64() {
    type Case = (&'static str, fn(&Tensor) -> Tensor, fn(f64) -> f64, Vec<f32>, f64);
    let positive: Vec<f32> =
        grid(1e-6, 1e6, 20_000).into_iter().filter(|&x| x > 0.0).chain([1e-30, 1e30, 3e38]).collect();
    let cases: Vec<Case> = vec![
        // Polynomial approximations, documented at a few ulp.
        ("exp", |t| t.exp(), f64::exp, grid(-87.0, 88.0, 20_000), 4e-7),
        ("tanh", |t| t.tanh(), f64::tanh, grid(-20.0, 20.0, 20_000), 4e-7),
        ("sigmoid", |t| t.sigmoid(), sigmoid64, grid(-87.0, 40.0, 20_000), 4e-7),
        // Below -1, 1 + tanh(u) cancels (as in any f32 evaluation of the formula, PyTorch's
        // included); the absolute error there is checked below.
        ("gelu_tanh", |t| t.gelu_tanh(), gelu_tanh64, grid(-1.0, 20.0, 20_000), 4e-7),
        // From std / libm.
        ("log", |t| t.log(), f64::ln, positive.clone(), 1e-6),
        ("log2", |t| t.log2(), f64::log2, positive.clone(), 1e-6),
        ("sqrt", |t| t.sqrt(), f64::sqrt, positive.clone(), 1e-6),
        ("rsqrt", |t| t.rsqrt(), |x| 1.0 / x.sqrt(), positive, 1e-6),
        ("log1p", |t| t.log1p(), f64::ln_1p, grid(-0.99, 1e4, 20_000), 1e-6),
        ("expm1", |t| t.expm1(), f64::exp_m1, grid(-80.0, 80.0, 20_000), 1e-6),
        ("exp2", |t| t.exp2(), f64::exp2, grid(-120.0, 120.0, 20_000), 1e-6),
        ("sin", |t| t.sin(), f64::sin, grid(-100.0, 100.0, 20_000), 1e-6),
        ("cos", |t| t.cos(), f64::cos, grid(-100.0, 100.0, 20_000), 1e-6),
        ("erf", |t| t.erf(), libm::erf, grid(-6.0, 6.0, 20_000), 1e-6),
        ("silu", |t| t.silu(), |x| x * sigmoid64(x), grid(-80.0, 80.0, 20_000), 1e-6),
        ("softplus", |t| t.softplus(), softplus64, grid(-80.0, 80.0, 20_000), 1e-6),
        ("gelu", |t| t.gelu(), gelu64, grid(-1.0, 20.0, 20_000), 1e-6),
    ];
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (name, op, reference, inputs, bound) in cases {
        let (err, at) = worst_relative_error(op, reference, &inputs);
        report.push(format!("{name}: {err:.3e} at {at}"));
        if err > bound {
            failures.push(format!("{name}: worst relative error {err:.3e} at x = {at} exceeds {bound:e}"));
        }
    }
    let negative: Vec<f32> = (0..=10_000).map(|i| -1.0 - 9.0 * i as f32 / 10_000.0).collect();
    type Gelu = (&'static str, fn(&Tensor) -> Tensor, fn(f64) -> f64);
    let gelus: [Gelu; 2] = [("gelu", |t| t.gelu(), gelu64), ("gelu_tanh", |t| t.gelu_tanh(), gelu_tanh64)];
    for (name, op, reference) in gelus {
        let got = op(&Tensor::from_vec(negative.clone(), negative.len())).to_vec::<f32>();
        let (err, at) = negative
            .iter()
            .zip(&got)
            .map(|(&x, &y)| ((y as f64 - reference(x as f64)).abs(), x))
            .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        report.push(format!("{name} on [-10, -1]: absolute {err:.3e} at {at}"));
        if err > 5e-7 {
            failures.push(format!("{name}: absolute error {err:.3e} at x = {at} on [-10, -1]"));
        }
    }
    eprintln!("worst relative errors of f32 ops vs f64:\n  {}", report.join("\n  "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn exp_saturates_to_zero_and_infinity() {
    let x = f32s(&[-1000.0, f32::NEG_INFINITY, 89.0, 1000.0, f32::INFINITY, -100.0], &[6]);
    let y = x.exp().to_vec::<f32>();
    assert_eq!(&y[..5], &[0.0, 0.0, f32::INFINITY, f32::INFINITY, f32::INFINITY]);
    // e^-100 = 3.72e-44 is a subnormal f32; it must not be clamped up to ~1e-38.
    assert!(y[5] < 1e-43, "exp(-100) = {}", y[5]);
    // A masked (-inf) logit gets exactly zero probability.
    let p = f32s(&[0.0, f32::NEG_INFINITY, 0.0], &[3]).softmax(0).to_vec::<f32>();
    assert_eq!(p, vec![0.5, 0.0, 0.5]);
    let s = f32s(&[-200.0, 200.0], &[2]).sigmoid().to_vec::<f32>();
    assert_eq!(s, vec![0.0, 1.0]);
    assert_eq!(f32s(&[-50.0, 50.0], &[2]).tanh().to_vec::<f32>(), vec![-1.0, 1.0]);
}
