//! Hand-checked values of the eager ops, and comparisons against naive f64 references
//! written here. Only `random_numbers_and_dropout` touches the global generator, since
//! tests of one binary run in parallel and would otherwise draw from each other's streams.

use ignis::{ConvOptions, CrossEntropyOptions, DType, PadMode, Reduction, Tensor, Window2d};

fn f32s(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape.to_vec())
}

fn f64s(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape.to_vec())
}

fn i64s(values: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape.to_vec())
}

fn bools(values: &[bool]) -> Tensor {
    Tensor::from_vec(values.to_vec(), values.len())
}

/// `0, 1, ..., n-1` as f32 in the given shape.
fn arange(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::arange(0.0, n as f64, 1.0, DType::F32).reshape(shape.to_vec())
}

/// A small deterministic generator for test inputs, independent of the library's.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
    /// Uniform in [-scale, scale).
    fn values(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| (self.next() * 2.0 - 1.0) * scale).collect()
    }
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= tol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan()) || g == w;
        assert!(ok, "{what}: element {i} is {g}, expected {w}");
    }
}

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

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
fn softplus64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}
fn gelu64(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}
fn gelu_tanh64(x: f64) -> f64 {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (k * (x + 0.044715 * x.powi(3))).tanh())
}

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

// ---------------------------------------------------------------------------------------
// Reductions

#[test]
fn reductions_over_dims() {
    // [[1, 5, 3],
    //  [4, 2, 6]]
    let x = f32s(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]);
    let s0 = x.sum_dims(&[0], true);
    assert_eq!((s0.shape(), s0.to_vec::<f32>()), (&[1usize, 3][..], vec![5.0, 7.0, 9.0]));
    let s1 = x.sum(-1, false);
    assert_eq!((s1.shape(), s1.to_vec::<f32>()), (&[2usize][..], vec![9.0, 12.0]));
    assert_eq!(x.sum_all().item::<f32>(), 21.0);
    assert_eq!(x.sum_all().shape(), &[] as &[usize]);
    assert_eq!(x.sum_dims(&[0, 1], true).shape(), &[1, 1]);
    assert_eq!(x.mean(1, false).to_vec::<f32>(), vec![3.0, 4.0]);
    assert_eq!(x.mean_all().item::<f32>(), 3.5);
    assert_eq!(x.prod_dims(&[1], false).to_vec::<f32>(), vec![15.0, 48.0]);
    assert_eq!(x.max(1, false).to_vec::<f32>(), vec![5.0, 6.0]);
    assert_eq!(x.min(0, true).to_vec::<f32>(), vec![1.0, 2.0, 3.0]);
    assert_eq!(x.min(0, true).shape(), &[1, 3]);
    assert_eq!(x.max_all().item::<f32>(), 6.0);
    assert_eq!(x.min_all().item::<f32>(), 1.0);
    let am = x.argmax(1, false);
    assert_eq!((am.dtype(), am.to_vec::<i64>()), (DType::I64, vec![1, 2]));
    assert_eq!(x.argmin(1, true).to_vec::<i64>(), vec![0, 1]);
    assert_eq!(x.argmin(1, true).shape(), &[2, 1]);
    assert_eq!(x.argmax(0, false).to_vec::<i64>(), vec![1, 0, 1]);
    assert_eq!(x.argmax_all().item::<i64>(), 5);
    // Ties go to the first index.
    assert_eq!(f32s(&[2.0, 7.0, 7.0, 1.0], &[4]).argmax(0, false).item::<i64>(), 1);
    assert_eq!(f32s(&[2.0, 1.0, 7.0, 1.0], &[4]).argmin(0, false).item::<i64>(), 1);
    // Rows [1,5,3] and [4,2,6] both have mean m and squared deviations summing to 8:
    // var = 8 / 2 = 4 (unbiased), 8 / 3 (biased); std = 2
    assert_eq!(x.var(1, false).to_vec::<f32>(), vec![4.0, 4.0]);
    assert_eq!(x.std(1, true).to_vec::<f32>(), vec![2.0, 2.0]);
    assert_close(&x.var_dims(&[1], 0, false).to_vec::<f64>(), &[8.0 / 3.0, 8.0 / 3.0], 1e-6, "biased var");
    // All six values: mean 3.5, squared deviations 6.25+2.25+0.25+0.25+2.25+6.25 = 17.5
    assert_close(&[x.var_dims(&[], 1, false).item::<f64>()], &[3.5], 1e-6, "var of all");
    let lse = x.logsumexp(&[1], false).to_vec::<f64>();
    let want = [(1f64.exp() + 5f64.exp() + 3f64.exp()).ln(), (4f64.exp() + 2f64.exp() + 6f64.exp()).ln()];
    assert_close(&lse, &want, 1e-6, "logsumexp");
    assert_eq!(x.logsumexp(&[0], true).shape(), &[1, 3]);
}

#[test]
fn reductions_over_several_dims_of_a_3d_tensor() {
    // x[i][j][k] = 12 i + 4 j + k; summing over i and k: 32 j + 48 + 12
    let x = arange(&[2, 3, 4]);
    let s = x.sum_dims(&[0, 2], true);
    assert_eq!(s.shape(), &[1, 3, 1]);
    assert_eq!(s.to_vec::<f32>(), vec![60.0, 92.0, 124.0]);
    assert_eq!(x.sum_dims(&[-1, 0], false).to_vec::<f32>(), vec![60.0, 92.0, 124.0]);
    // max over j and k: 12 i + 8 + 3
    assert_eq!(x.max_dims(&[1, 2], false).to_vec::<f32>(), vec![11.0, 23.0]);
    assert_eq!(x.mean_dims(&[1, 2], false).to_vec::<f32>(), vec![5.5, 17.5]);
    // Reductions of a non-contiguous view: x^T over (k, j, i), summing i
    let t = x.permute(&[2, 1, 0]).sum(2, false);
    let want: Vec<f32> = (0..4).flat_map(|k| (0..3).map(move |j| (12 + 8 * j + 2 * k) as f32)).collect();
    assert_eq!(t.to_vec::<f32>(), want);
    // Empty reductions: sum 0, prod 1.
    let e = Tensor::zeros([0, 3], DType::F32);
    assert_eq!(e.sum(0, false).to_vec::<f32>(), vec![0.0; 3]);
    assert_eq!(e.prod_dims(&[0], false).to_vec::<f32>(), vec![1.0; 3]);
}

#[test]
fn all_and_any() {
    let b = Tensor::from_vec(vec![true, false, true, true], [2, 2]);
    assert_eq!(b.all_dims(&[1], false).to_vec::<bool>(), vec![false, true]);
    assert_eq!(b.any_dims(&[0], true).to_vec::<bool>(), vec![true, true]);
    assert_eq!(b.any_dims(&[0], true).shape(), &[1, 2]);
    assert!(!b.all());
    assert!(b.any());
    let f = f32s(&[0.0, 0.5, 0.0, 0.0], &[2, 2]);
    assert_eq!(f.any_dims(&[1], false).to_vec::<bool>(), vec![true, false]);
    assert!(!f.all());
    assert!(Tensor::zeros([0], DType::Bool).all());
    assert!(!Tensor::zeros([0], DType::Bool).any());
}

// ---------------------------------------------------------------------------------------
// Matrix products

/// `a @ b` for row-major `[batch.., m, k]` and `[batch.., k, n]` with numpy broadcasting of
/// the batch dims, in f64.
fn naive_batched_matmul(a: &[f64], a_shape: &[usize], b: &[f64], b_shape: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let n = b_shape[b_shape.len() - 1];
    let (ab, bb) = (&a_shape[..a_shape.len() - 2], &b_shape[..b_shape.len() - 2]);
    let rank = ab.len().max(bb.len());
    let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
    let (ap, bp) = (pad(ab), pad(bb));
    let batch: Vec<usize> = ap.iter().zip(&bp).map(|(&x, &y)| x.max(y)).collect();
    let count: usize = batch.iter().product();
    let mut out = Vec::with_capacity(count * m * n);
    for flat in 0..count {
        let mut rest = flat;
        let mut idx = vec![0; rank];
        for d in (0..rank).rev() {
            idx[d] = rest % batch[d];
            rest /= batch[d];
        }
        let offset = |p: &[usize]| idx.iter().zip(p).fold(0, |acc, (&i, &s)| acc * s + if s == 1 { 0 } else { i });
        let (oa, ob) = (offset(&ap) * m * k, offset(&bp) * k * n);
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).map(|p| a[oa + i * k + p] * b[ob + p * n + j]).sum());
            }
        }
    }
    let mut shape = batch;
    shape.extend([m, n]);
    (out, shape)
}

#[test]
fn matmul_of_vectors_and_matrices() {
    let v = f32s(&[1.0, 2.0, 3.0], &[3]);
    let dot = v.matmul(&f32s(&[4.0, 5.0, 6.0], &[3]));
    assert_eq!(dot.shape(), &[] as &[usize]);
    assert_eq!(dot.item::<f32>(), 32.0);
    // [1, 2] @ [[1, 2, 3], [4, 5, 6]] = [9, 12, 15]
    let m = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let vm = f32s(&[1.0, 2.0], &[2]).matmul(&m);
    assert_eq!((vm.shape(), vm.to_vec::<f32>()), (&[3usize][..], vec![9.0, 12.0, 15.0]));
    // [[1, 2, 3], [4, 5, 6]] @ [1, 0, -1] = [-2, -2]
    let mv = m.matmul(&f32s(&[1.0, 0.0, -1.0], &[3]));
    assert_eq!((mv.shape(), mv.to_vec::<f32>()), (&[2usize][..], vec![-2.0, -2.0]));
    // m @ m^T = [[14, 32], [32, 77]]
    assert_eq!(m.matmul(&m.t()).to_vec::<f32>(), vec![14.0, 32.0, 32.0, 77.0]);
    // A batched 1-d case: [4] @ [2, 4, 3] -> [2, 3]
    let b = arange(&[2, 4, 3]);
    let vb = f32s(&[1.0, 0.0, 0.0, 1.0], &[4]).matmul(&b);
    assert_eq!(vb.shape(), &[2, 3]);
    // rows 0 and 3 of each batch: [0+9, 1+10, 2+11], [12+21, 13+22, 14+23]
    assert_eq!(vb.to_vec::<f32>(), vec![9.0, 11.0, 13.0, 33.0, 35.0, 37.0]);
}

#[test]
fn batched_matmul_broadcasts_like_a_naive_loop() {
    let mut rng = Lcg(11);
    let cases: [(&[usize], &[usize]); 5] = [
        (&[2, 1, 3, 4], &[5, 4, 2]),
        (&[3, 5, 7], &[7, 6]),
        (&[4, 6], &[2, 3, 6, 5]),
        (&[1, 17, 33], &[4, 33, 9]),
        (&[2, 0, 3], &[3, 4]),
    ];
    for (sa, sb) in cases {
        let a: Vec<f64> = rng.values(sa.iter().product(), 1.0);
        let b: Vec<f64> = rng.values(sb.iter().product(), 1.0);
        let (want, shape) = naive_batched_matmul(&a, sa, &b, sb);
        let got = f32s(&a.iter().map(|&v| v as f32).collect::<Vec<_>>(), sa)
            .matmul(&f32s(&b.iter().map(|&v| v as f32).collect::<Vec<_>>(), sb));
        assert_eq!(got.shape(), shape.as_slice(), "{sa:?} @ {sb:?}");
        assert_close(&got.to_vec::<f64>(), &want, 1e-5, "f32 matmul");
        let got64 = f64s(&a, sa).matmul(&f64s(&b, sb));
        assert_close(&got64.to_vec::<f64>(), &want, 1e-13, "f64 matmul");
    }
    // A transposed (non-contiguous) right operand.
    let a: Vec<f64> = rng.values(3 * 4, 1.0);
    let bt: Vec<f64> = rng.values(5 * 4, 1.0);
    let b: Vec<f64> = (0..4).flat_map(|p| (0..5).map(move |j| (p, j))).map(|(p, j)| bt[j * 4 + p]).collect();
    let (want, _) = naive_batched_matmul(&a, &[3, 4], &b, &[4, 5]);
    let got = f64s(&a, &[3, 4]).matmul(&f64s(&bt, &[5, 4]).t());
    assert_close(&got.to_vec::<f64>(), &want, 1e-13, "matmul with a transposed operand");
}

#[test]
fn linear_layer() {
    // [1, 2.5] @ W^T with W = [[1, 2], [3, 4], [5, 6]] is [6, 13, 20]; plus b = [1, 1, 1]
    let x = f32s(&[1.0, 2.5], &[1, 2]);
    let w = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let b = f32s(&[1.0, 1.0, 1.0], &[3]);
    assert_eq!(x.linear(&w, Some(&b)).to_vec::<f32>(), vec![7.0, 14.0, 21.0]);
    assert_eq!(x.linear(&w, None).to_vec::<f32>(), vec![6.0, 13.0, 20.0]);
}

// ---------------------------------------------------------------------------------------
// Movement

#[test]
fn reshape_permute_transpose_narrow() {
    // [[0, 1, 2],
    //  [3, 4, 5]]
    let x = arange(&[2, 3]);
    let r = x.reshape([3, 2]);
    assert_eq!((r.shape(), r.to_vec::<f32>()), (&[3usize, 2][..], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    assert!(r.shares_storage(&x));
    assert_eq!(x.reshape_infer(&[-1]).shape(), &[6]);
    assert_eq!(x.reshape_infer(&[3, -1]).shape(), &[3, 2]);
    assert_eq!(x.view([6, 1]).to_vec::<f32>(), x.to_vec::<f32>());
    let t = x.transpose(0, 1);
    assert_eq!((t.shape(), t.to_vec::<f32>()), (&[3usize, 2][..], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
    assert!(!t.is_contiguous());
    assert_eq!(x.permute(&[1, 0]).to_vec::<f32>(), t.to_vec::<f32>());
    assert_eq!(x.t().to_vec::<f32>(), t.to_vec::<f32>());
    // Reshaping a transposed view copies: [[0, 3, 1], [4, 2, 5]]
    assert_eq!(t.reshape([2, 3]).to_vec::<f32>(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert_eq!(x.narrow(1, 1, 2).to_vec::<f32>(), vec![1.0, 2.0, 4.0, 5.0]);
    assert_eq!(x.select(0, 1).to_vec::<f32>(), vec![3.0, 4.0, 5.0]);
    assert_eq!(x.select(1, 2).shape(), &[2]);
    // [2,3,4] permuted to [4,2,3]: y[k][i][j] = x[i][j][k] = 12 i + 4 j + k
    let p = arange(&[2, 3, 4]).permute(&[2, 0, 1]);
    assert_eq!(p.shape(), &[4, 2, 3]);
    let want: Vec<f32> =
        (0..4).flat_map(|k| (0..2).flat_map(move |i| (0..3).map(move |j| (12 * i + 4 * j + k) as f32))).collect();
    assert_eq!(p.to_vec::<f32>(), want);
    assert_eq!(p.contiguous().to_vec::<f32>(), want);
}

#[test]
fn slices_with_steps() {
    let x = arange(&[10]);
    assert_eq!(x.slice(0, 1, 8, 3).to_vec::<f32>(), vec![1.0, 4.0, 7.0]);
    assert_eq!(x.slice(0, -3, 10, 1).to_vec::<f32>(), vec![7.0, 8.0, 9.0]);
    assert_eq!(x.slice(0, 0, 100, 4).to_vec::<f32>(), vec![0.0, 4.0, 8.0]);
    assert_eq!(x.slice(0, 5, 2, 1).shape(), &[0]);
    // Columns 0 and 2 of [[0, 1, 2], [3, 4, 5]]
    assert_eq!(arange(&[2, 3]).slice(1, 0, 3, 2).to_vec::<f32>(), vec![0.0, 2.0, 3.0, 5.0]);
}

#[test]
fn expand_squeeze_unsqueeze_flatten() {
    let row = f32s(&[1.0, 2.0, 3.0], &[3]);
    let e = row.expand([2, 3]);
    assert_eq!(e.to_vec::<f32>(), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    assert_eq!(e.strides(), &[0, 1]);
    let col = f32s(&[1.0, 2.0], &[2, 1]);
    assert_eq!(col.expand([2, 3]).to_vec::<f32>(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    assert_eq!(col.expand_as(&e).shape(), &[2, 3]);
    let u = row.unsqueeze(0);
    assert_eq!(u.shape(), &[1, 3]);
    assert_eq!(row.unsqueeze(-1).shape(), &[3, 1]);
    assert_eq!(u.squeeze(0).shape(), &[3]);
    assert_eq!(row.squeeze(0).shape(), &[3], "squeezing a dim that is not 1 does nothing");
    assert_eq!(arange(&[1, 3, 1, 2]).squeeze_all().shape(), &[3, 2]);
    let x = arange(&[2, 3, 4]);
    assert_eq!(x.flatten(1, 2).shape(), &[2, 12]);
    assert_eq!(x.flatten(0, -1).to_vec::<f32>(), x.to_vec::<f32>());
    assert_eq!(Tensor::scalar(5.0f32).flatten(0, 0).shape(), &[1]);
    let u = x.flatten(1, 2).unflatten(1, &[3, -1]);
    assert_eq!(u.shape(), &[2, 3, 4]);
    assert_eq!(u.to_vec::<f32>(), x.to_vec::<f32>());
}

#[test]
fn cat_stack_split_chunk() {
    let a = arange(&[2, 2]);
    let b = f32s(&[9.0, 8.0], &[1, 2]);
    let c0 = Tensor::cat(&[&a, &b], 0);
    assert_eq!((c0.shape(), c0.to_vec::<f32>()), (&[3usize, 2][..], vec![0.0, 1.0, 2.0, 3.0, 9.0, 8.0]));
    let c1 = Tensor::cat(&[&a, &b.t()], 1);
    assert_eq!((c1.shape(), c1.to_vec::<f32>()), (&[2usize, 3][..], vec![0.0, 1.0, 9.0, 2.0, 3.0, 8.0]));
    // cat promotes: i64 with f32 gives f32
    let mixed = Tensor::cat(&[&i64s(&[1], &[1]), &f32s(&[0.5], &[1])], 0);
    assert_eq!((mixed.dtype(), mixed.to_vec::<f32>()), (DType::F32, vec![1.0, 0.5]));

    let p = f32s(&[1.0, 2.0], &[2]);
    let q = f32s(&[3.0, 4.0], &[2]);
    let s0 = Tensor::stack(&[&p, &q], 0);
    assert_eq!((s0.shape(), s0.to_vec::<f32>()), (&[2usize, 2][..], vec![1.0, 2.0, 3.0, 4.0]));
    let s1 = Tensor::stack(&[&p, &q], 1);
    assert_eq!((s1.shape(), s1.to_vec::<f32>()), (&[2usize, 2][..], vec![1.0, 3.0, 2.0, 4.0]));
    assert_eq!(Tensor::stack(&[&p, &q, &p], -1).shape(), &[2, 3]);

    let x = arange(&[2, 5]);
    let parts = x.split(2, 1);
    assert_eq!(parts.iter().map(|t| t.shape()[1]).collect::<Vec<_>>(), vec![2, 2, 1]);
    assert_eq!(parts[1].to_vec::<f32>(), vec![2.0, 3.0, 7.0, 8.0]);
    assert_eq!(parts[2].to_vec::<f32>(), vec![4.0, 9.0]);
    let sized = x.split_sizes(&[1, 4], 1);
    assert_eq!(sized[1].to_vec::<f32>(), vec![1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0]);
    // chunk(7 elements, 3) = sizes 3, 3, 1 (PyTorch)
    let chunks = arange(&[7]).chunk(3, 0);
    assert_eq!(chunks.iter().map(|t| t.numel()).collect::<Vec<_>>(), vec![3, 3, 1]);
    assert_eq!(chunks[2].to_vec::<f32>(), vec![6.0]);
    assert_eq!(arange(&[6]).chunk(3, 0).iter().map(|t| t.numel()).collect::<Vec<_>>(), vec![2, 2, 2]);
}

#[test]
fn flip_roll_repeat() {
    let x = arange(&[2, 3]);
    assert_eq!(x.flip(&[0]).to_vec::<f32>(), vec![3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
    assert_eq!(x.flip(&[-1]).to_vec::<f32>(), vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    assert_eq!(x.flip(&[0, 1]).to_vec::<f32>(), vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
    let v = arange(&[5]);
    assert_eq!(v.roll(&[2], &[0]).to_vec::<f32>(), vec![3.0, 4.0, 0.0, 1.0, 2.0]);
    assert_eq!(v.roll(&[-1], &[0]).to_vec::<f32>(), vec![1.0, 2.0, 3.0, 4.0, 0.0]);
    assert_eq!(v.roll(&[7], &[0]).to_vec::<f32>(), vec![3.0, 4.0, 0.0, 1.0, 2.0]);
    assert_eq!(x.roll(&[1], &[1]).to_vec::<f32>(), vec![2.0, 0.0, 1.0, 5.0, 3.0, 4.0]);
    assert_eq!(x.roll(&[1, 1], &[0, 1]).to_vec::<f32>(), vec![5.0, 3.0, 4.0, 2.0, 0.0, 1.0]);
    // No dims: roll the flattened tensor
    assert_eq!(x.roll(&[1], &[]).to_vec::<f32>(), vec![5.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
    let r = f32s(&[1.0, 2.0], &[2]).repeat(&[2, 2]);
    assert_eq!((r.shape(), r.to_vec::<f32>()), (&[2usize, 4][..], vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]));
    let r = arange(&[2, 1]).repeat(&[1, 3]);
    assert_eq!(r.to_vec::<f32>(), vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
}

#[test]
fn pad_modes() {
    let x = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let c = x.pad(&[1, 1], PadMode::Constant, 0.0);
    assert_eq!(c.shape(), &[2, 5]);
    assert_eq!(c.to_vec::<f32>(), vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 4.0, 5.0, 6.0, 0.0]);
    // Last dim (1, 0), first dim (0, 1), filled with -1
    let c2 = x.pad(&[1, 0, 0, 1], PadMode::Constant, -1.0);
    assert_eq!(c2.to_vec::<f32>(), vec![-1.0, 1.0, 2.0, 3.0, -1.0, 4.0, 5.0, 6.0, -1.0, -1.0, -1.0, -1.0]);
    // reflect (2, 1) of [1, 2, 3]: 3 2 | 1 2 3 | 2
    let r = x.pad(&[2, 1], PadMode::Reflect, 0.0);
    assert_eq!(r.to_vec::<f32>(), vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 6.0, 5.0, 4.0, 5.0, 6.0, 5.0]);
    // replicate (2, 1): 1 1 | 1 2 3 | 3
    let p = x.pad(&[2, 1], PadMode::Replicate, 0.0);
    assert_eq!(p.to_vec::<f32>(), vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0, 6.0, 6.0]);
    // Both dims: replicate one row above
    let p2 = x.pad(&[0, 0, 1, 0], PadMode::Replicate, 0.0);
    assert_eq!(p2.to_vec::<f32>(), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let r2 = x.pad(&[0, 0, 1, 1], PadMode::Reflect, 0.0);
    assert_eq!(r2.to_vec::<f32>(), vec![4.0, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0, 3.0]);
}

// ---------------------------------------------------------------------------------------
// Indexing

#[test]
fn index_select_gather_scatter() {
    // [[0, 1, 2],
    //  [3, 4, 5]]
    let x = arange(&[2, 3]);
    let rows = x.index_select(0, &i64s(&[1, 1, 0], &[3]));
    assert_eq!(rows.to_vec::<f32>(), vec![3.0, 4.0, 5.0, 3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
    let cols = x.index_select(1, &Tensor::from_vec(vec![2i32, 0], [2]));
    assert_eq!((cols.shape(), cols.to_vec::<f32>()), (&[2usize, 2][..], vec![2.0, 0.0, 5.0, 3.0]));
    // out[i][j] = x[i][index[i][j]]
    let g = x.gather(1, &i64s(&[0, 0, 2, 1], &[2, 2]));
    assert_eq!(g.to_vec::<f32>(), vec![0.0, 0.0, 5.0, 4.0]);
    // out[i][j] = x[index[i][j]][j]
    assert_eq!(x.gather(0, &i64s(&[1, 0, 1], &[1, 3])).to_vec::<f32>(), vec![3.0, 1.0, 5.0]);
    let s = Tensor::zeros([2, 3], DType::F32).scatter(1, &i64s(&[2, 0], &[2, 1]), &f32s(&[9.0, 8.0], &[2, 1]));
    assert_eq!(s.to_vec::<f32>(), vec![0.0, 0.0, 9.0, 8.0, 0.0, 0.0]);
    let sa = Tensor::zeros([3], DType::F32).scatter_add(
        0,
        &i64s(&[0, 1, 0, 2, 0], &[5]),
        &f32s(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5]),
    );
    assert_eq!(sa.to_vec::<f32>(), vec![9.0, 2.0, 4.0]);
    let ia = Tensor::ones([3, 2], DType::F32).index_add(0, &i64s(&[2, 0, 2], &[3]), &arange(&[3, 2]));
    // row 0 += [2, 3]; row 2 += [0, 1] + [4, 5]
    assert_eq!(ia.to_vec::<f32>(), vec![3.0, 4.0, 1.0, 1.0, 5.0, 7.0]);
}

#[test]
fn masks_one_hot_embedding() {
    let x = arange(&[2, 3]);
    assert_eq!(x.masked_select(&x.gt_scalar(2.0)).to_vec::<f32>(), vec![3.0, 4.0, 5.0]);
    // A row mask broadcasts over both rows.
    let m = bools(&[true, false, true]);
    assert_eq!(x.masked_select(&m).to_vec::<f32>(), vec![0.0, 2.0, 3.0, 5.0]);
    assert_eq!(x.masked_fill(&m, -1.0).to_vec::<f32>(), vec![-1.0, 1.0, -1.0, -1.0, 4.0, -1.0]);
    let oh = i64s(&[2, 0, 1], &[3]).one_hot(3);
    assert_eq!(oh.dtype(), DType::I64);
    assert_eq!((oh.shape(), oh.to_vec::<i64>()), (&[3usize, 3][..], vec![0, 0, 1, 1, 0, 0, 0, 1, 0]));
    let table = arange(&[3, 2]);
    let e = table.embedding(&i64s(&[2, 0, 1, 1], &[2, 2]));
    assert_eq!(e.shape(), &[2, 2, 2]);
    assert_eq!(e.to_vec::<f32>(), vec![4.0, 5.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0]);
}

// ---------------------------------------------------------------------------------------
// Softmax and normalization

/// Rows of a row-major `[rows, n]` array.
fn rows(values: &[f64], n: usize) -> impl Iterator<Item = &[f64]> {
    values.chunks(n)
}

#[test]
fn softmax_and_log_softmax_match_f64() {
    let mut rng = Lcg(3);
    let xs = rng.values(4 * 7, 6.0);
    let x = f64s(&xs, &[4, 7]);
    let mut soft = Vec::new();
    let mut log_soft = Vec::new();
    for row in rows(&xs, 7) {
        let total: f64 = row.iter().map(|v| v.exp()).sum();
        soft.extend(row.iter().map(|v| v.exp() / total));
        log_soft.extend(row.iter().map(|v| v - total.ln()));
    }
    assert_close(&x.softmax(-1).to_vec::<f64>(), &soft, 1e-14, "softmax");
    assert_close(&x.log_softmax(1).to_vec::<f64>(), &log_soft, 1e-14, "log_softmax");
    // Along dim 0 equals along dim 1 of the transpose.
    assert_close(&x.t().softmax(0).t().to_vec::<f64>(), &soft, 1e-14, "softmax over dim 0");
    // Large logits do not overflow.
    let big = f32s(&[1000.0, 1000.0, -1000.0], &[3]);
    assert_eq!(big.softmax(0).to_vec::<f32>(), vec![0.5, 0.5, 0.0]);
}

#[test]
fn layer_norm_and_rms_norm_match_f64() {
    let mut rng = Lcg(5);
    let (n, d) = (3, 8);
    let xs = rng.values(n * d, 3.0);
    let ws = rng.values(d, 1.0);
    let bs = rng.values(d, 1.0);
    let eps = 1e-5;
    let mut ln = Vec::new();
    let mut rms = Vec::new();
    for row in rows(&xs, d) {
        let mean = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        ln.extend(row.iter().enumerate().map(|(j, v)| (v - mean) / (var + eps).sqrt() * ws[j] + bs[j]));
        let ms = row.iter().map(|v| v * v).sum::<f64>() / d as f64;
        rms.extend(row.iter().enumerate().map(|(j, v)| v / (ms + eps).sqrt() * ws[j]));
    }
    let x = f64s(&xs, &[n, d]);
    let (w, b) = (f64s(&ws, &[d]), f64s(&bs, &[d]));
    assert_close(&x.layer_norm(&[d], Some(&w), Some(&b), eps).to_vec::<f64>(), &ln, 1e-12, "layer_norm");
    assert_close(&x.rms_norm(&[d], Some(&w), eps).to_vec::<f64>(), &rms, 1e-12, "rms_norm");
    // f32 agrees with the f64 reference to f32 precision.
    let x32 = x.to_dtype(DType::F32);
    let got = x32.layer_norm(&[d], Some(&w.to_dtype(DType::F32)), Some(&b.to_dtype(DType::F32)), eps);
    assert_close(&got.to_vec::<f64>(), &ln, 1e-5, "layer_norm f32");
    // Normalizing over two trailing dims is normalizing the flattened pair.
    let two = x.reshape([n, 2, 4]).layer_norm(&[2, 4], Some(&w.reshape([2, 4])), Some(&b.reshape([2, 4])), eps);
    assert_close(&two.to_vec::<f64>(), &ln, 1e-12, "layer_norm over [2, 4]");
}

// ---------------------------------------------------------------------------------------
// Convolution, pooling, upsampling

/// Direct 2-d convolution in f64: input [N, C, H, W], weight [O, C/g, kH, kW].
fn naive_conv2d(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    bias: Option<&[f64]>,
    o: &ConvOptions,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c, h, wd] = xs;
    let [oc, cg, kh, kw] = ws;
    let g = o.groups;
    let out_len =
        |size: usize, k: usize, d: usize| (size + 2 * o.padding[d] - o.dilation[d] * (k - 1) - 1) / o.stride[d] + 1;
    let (oh, ow) = (out_len(h, kh, 0), out_len(wd, kw, 1));
    let mut out = vec![0.0; n * oc * oh * ow];
    for b in 0..n {
        for f in 0..oc {
            let group = f / (oc / g);
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = bias.map_or(0.0, |bs| bs[f]);
                    for ci in 0..cg {
                        let ch = group * cg + ci;
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let y = (i * o.stride[0] + ki * o.dilation[0]) as isize - o.padding[0] as isize;
                                let xx = (j * o.stride[1] + kj * o.dilation[1]) as isize - o.padding[1] as isize;
                                if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                let xv = x[((b * c + ch) * h + y as usize) * wd + xx as usize];
                                acc += xv * w[((f * cg + ci) * kh + ki) * kw + kj];
                            }
                        }
                    }
                    out[((b * oc + f) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    (out, [n, oc, oh, ow])
}

#[test]
fn conv2d_matches_a_naive_loop() {
    let mut rng = Lcg(21);
    let cases = [
        ([1, 1, 4, 4], [1, 1, 3, 3], ConvOptions::new(2)),
        ([2, 3, 7, 6], [4, 3, 3, 2], ConvOptions::new(2).padding(1)),
        ([2, 4, 9, 8], [6, 2, 3, 3], ConvOptions::new(2).stride(2).padding(2).groups(2)),
        ([1, 2, 9, 9], [3, 2, 3, 2], ConvOptions::new(2).dilation(2)),
        (
            [1, 6, 8, 7],
            [6, 1, 2, 3],
            ConvOptions { stride: vec![2, 1], padding: vec![1, 0], dilation: vec![1, 2], groups: 6 },
        ),
    ];
    for (xs, ws, options) in cases {
        let x: Vec<f64> = rng.values(xs.iter().product(), 1.0);
        let w: Vec<f64> = rng.values(ws.iter().product(), 1.0);
        let b: Vec<f64> = rng.values(ws[0], 1.0);
        let (want, shape) = naive_conv2d(&x, xs, &w, ws, Some(&b), &options);
        let got = f64s(&x, &xs).conv2d(&f64s(&w, &ws), Some(&f64s(&b, &[ws[0]])), &options);
        assert_eq!(got.shape(), &shape, "{xs:?} * {ws:?} with {options:?}");
        assert_close(&got.to_vec::<f64>(), &want, 1e-12, "conv2d");
        let (want, _) = naive_conv2d(&x, xs, &w, ws, None, &options);
        let got32 = f64s(&x, &xs).to_dtype(DType::F32).conv2d(&f64s(&w, &ws).to_dtype(DType::F32), None, &options);
        assert_close(&got32.to_vec::<f64>(), &want, 1e-5, "conv2d f32");
    }
    // A 3x3 box filter of ones over 0..16 (4x4): window sums of x[i][j] = 4 i + j
    let ones = Tensor::ones([1, 1, 3, 3], DType::F32);
    let y = arange(&[1, 1, 4, 4]).conv2d(&ones, None, &ConvOptions::new(2));
    // centre values x[1][1] = 5, x[1][2] = 6, x[2][1] = 9, x[2][2] = 10, times 9
    assert_eq!(y.to_vec::<f32>(), vec![45.0, 54.0, 81.0, 90.0]);
}

#[test]
fn conv1d_is_a_one_row_conv2d() {
    // [1, 2, 3, 4, 5] * [1, 0, -1] = [1-3, 2-4, 3-5] = [-2, -2, -2]
    let x = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1, 1, 5]);
    let w = f32s(&[1.0, 0.0, -1.0], &[1, 1, 3]);
    assert_eq!(x.conv1d(&w, None, &ConvOptions::new(1)).to_vec::<f32>(), vec![-2.0, -2.0, -2.0]);
    // padding 1, stride 2: [0,1,2] [2,3,4] [4,5,0] -> [-2, -2, 4]
    let y = x.conv1d(&w, Some(&f32s(&[0.5], &[1])), &ConvOptions::new(1).padding(1).stride(2));
    assert_eq!(y.to_vec::<f32>(), vec![-1.5, -1.5, 4.5]);
}

fn window(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Window2d {
    Window2d { kernel: [kernel; 2], stride: [stride; 2], padding: [padding; 2], dilation: [dilation; 2] }
}

#[test]
fn pooling_by_hand() {
    // x[i][j] = 4 i + j on a 4x4 plane
    let x = arange(&[1, 1, 4, 4]);
    let (m, idx) = x.max_pool2d_with_indices(&window(2, 2, 0, 1));
    assert_eq!(m.to_vec::<f32>(), vec![5.0, 7.0, 13.0, 15.0]);
    assert_eq!(idx.to_vec::<i64>(), vec![5, 7, 13, 15]);
    // Dilation 2, stride 1: max of x[i][j], x[i][j+2], x[i+2][j], x[i+2][j+2] = x[i+2][j+2]
    assert_eq!(x.max_pool2d(&window(2, 1, 0, 2)).to_vec::<f32>(), vec![10.0, 11.0, 14.0, 15.0]);
    // Padding counts as -inf: on -(x + 1) the padded windows still pick real values.
    let neg = x.add_scalar(1.0).neg();
    let (m, idx) = neg.max_pool2d_with_indices(&window(3, 2, 1, 1));
    assert_eq!(m.to_vec::<f32>(), vec![-1.0, -2.0, -5.0, -6.0]);
    assert_eq!(idx.to_vec::<i64>(), vec![0, 1, 4, 5]);

    assert_eq!(x.avg_pool2d(&window(2, 2, 0, 1), true).to_vec::<f32>(), vec![2.5, 4.5, 10.5, 12.5]);
    // Kernel 2, stride 2, padding 1: windows cover rows {0}, {1, 2}, {3} (and the same columns).
    // Window sums: [0, 3, 3, 12, 30, 18, 12, 27, 15] over [1, 2, 1, 2, 4, 2, 1, 2, 1] real cells.
    let with_pad = x.avg_pool2d(&window(2, 2, 1, 1), true).to_vec::<f32>();
    assert_eq!(with_pad, vec![0.0, 0.75, 0.75, 3.0, 7.5, 4.5, 3.0, 6.75, 3.75]);
    let without_pad = x.avg_pool2d(&window(2, 2, 1, 1), false).to_vec::<f32>();
    assert_eq!(without_pad, vec![0.0, 1.5, 3.0, 6.0, 7.5, 9.0, 12.0, 13.5, 15.0]);

    // Adaptive: an exact division is plain average pooling...
    assert_eq!(x.adaptive_avg_pool2d([2, 2]).to_vec::<f32>(), vec![2.5, 4.5, 10.5, 12.5]);
    assert_eq!(x.adaptive_avg_pool2d([1, 1]).to_vec::<f32>(), vec![7.5]);
    // ...and 5 -> 3 uses windows [0, 2), [1, 4), [3, 5): means 0.5, 2, 3.5
    let row = arange(&[1, 1, 1, 5]);
    assert_eq!(row.adaptive_avg_pool2d([1, 3]).to_vec::<f32>(), vec![0.5, 2.0, 3.5]);
}

#[test]
fn nearest_upsampling_by_hand() {
    let x = f32s(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
    let up = x.upsample_nearest2d([4, 4]);
    assert_eq!(up.shape(), &[1, 1, 4, 4]);
    assert_eq!(
        up.to_vec::<f32>(),
        vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]
    );
    // Width 2 -> 3: source columns floor(j * 2 / 3) = 0, 0, 1
    assert_eq!(x.upsample_nearest2d([2, 3]).to_vec::<f32>(), vec![1.0, 1.0, 2.0, 3.0, 3.0, 4.0]);
    // Downsampling picks columns floor(j * 4 / 2) = 0, 2
    assert_eq!(arange(&[1, 1, 1, 4]).upsample_nearest2d([1, 2]).to_vec::<f32>(), vec![0.0, 2.0]);
}

// ---------------------------------------------------------------------------------------
// Losses

/// Per-row log-softmax of a row-major `[n, c]` array.
fn log_softmax_rows(logits: &[f64], c: usize) -> Vec<f64> {
    rows(logits, c)
        .flat_map(|row| {
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            row.iter().map(move |v| v - lse).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn cross_entropy_with_ignore_index_and_label_smoothing() {
    let logits_v = [1.0, 2.0, 3.0, 1.0, 0.0, -1.0, 0.5, 0.5, 0.5, -2.0, 4.0, 0.0];
    let (n, c) = (4, 3);
    let logits = f64s(&logits_v, &[n, c]);
    let lp = log_softmax_rows(&logits_v, c);
    let targets = [2i64, 0, 1, 1];
    let nll: Vec<f64> = targets.iter().enumerate().map(|(i, &t)| -lp[i * c + t as usize]).collect();
    let target = i64s(&targets, &[n]);

    let mean = logits.cross_entropy(&target, &CrossEntropyOptions::default());
    assert_close(&[mean.item::<f64>()], &[nll.iter().sum::<f64>() / n as f64], 1e-14, "mean");
    let none = logits.cross_entropy(&target, &CrossEntropyOptions { reduction: Reduction::None, ..Default::default() });
    assert_close(&none.to_vec::<f64>(), &nll, 1e-14, "none");

    // Sample 1 ignored: the mean is over the other three.
    let ignored = i64s(&[2, -100, 1, 1], &[n]);
    let options = CrossEntropyOptions { ignore_index: Some(-100), ..Default::default() };
    let want = (nll[0] + nll[2] + nll[3]) / 3.0;
    assert_close(&[logits.cross_entropy(&ignored, &options).item::<f64>()], &[want], 1e-14, "ignore_index");

    // Smoothing eps: loss_i = (1 - eps) nll_i + eps / C * sum_c(-log p_ic)
    let eps = 0.2;
    let smooth: Vec<f64> =
        (0..n).map(|i| (1.0 - eps) * nll[i] - eps / c as f64 * lp[i * c..(i + 1) * c].iter().sum::<f64>()).collect();
    let options = CrossEntropyOptions { label_smoothing: eps, reduction: Reduction::Sum, ..Default::default() };
    assert_close(&[logits.cross_entropy(&target, &options).item::<f64>()], &[smooth.iter().sum()], 1e-14, "smoothing");
    // Smoothing and ignore_index together: the ignored sample contributes nothing.
    let options = CrossEntropyOptions { ignore_index: Some(-100), label_smoothing: eps, reduction: Reduction::Mean };
    let want = (smooth[0] + smooth[2] + smooth[3]) / 3.0;
    assert_close(&[logits.cross_entropy(&ignored, &options).item::<f64>()], &[want], 1e-14, "smoothing + ignore");

    // Probability targets: -sum_c q_c log p_c
    let q = [0.1, 0.2, 0.7, 1.0, 0.0, 0.0, 0.3, 0.3, 0.4, 0.0, 0.5, 0.5];
    let want: f64 = (0..n).map(|i| -(0..c).map(|j| q[i * c + j] * lp[i * c + j]).sum::<f64>()).sum::<f64>() / n as f64;
    let got = logits.cross_entropy(&f64s(&q, &[n, c]), &CrossEntropyOptions::default()).item::<f64>();
    assert_close(&[got], &[want], 1e-14, "probability targets");

    // A 1-d input is a single sample: -log softmax(x)[t]
    let single = f64s(&[1.0, 2.0, 3.0], &[3]).cross_entropy(&Tensor::scalar(2i64), &CrossEntropyOptions::default());
    assert_close(&[single.item::<f64>()], &[nll[0]], 1e-14, "1-d");
}

#[test]
fn nll_mse_and_bce() {
    // [[-0.5, -1], [-3, -2]] picked at targets [0, 1]: 0.5 + 2 = 2.5
    let lp = f32s(&[-0.5, -1.0, -3.0, -2.0], &[2, 2]);
    let t = i64s(&[0, 1], &[2]);
    assert_eq!(lp.nll_loss(&t, None, Reduction::Sum).item::<f32>(), 2.5);
    assert_eq!(lp.nll_loss(&t, None, Reduction::None).to_vec::<f32>(), vec![0.5, 2.0]);
    assert_eq!(lp.nll_loss(&t, None, Reduction::Mean).item::<f32>(), 1.25);
    assert_eq!(lp.nll_loss(&i64s(&[0, 5], &[2]), Some(5), Reduction::Mean).item::<f32>(), 0.5);
    // i32 targets work too: picked at [1, 0], 1 + 3
    assert_eq!(lp.nll_loss(&Tensor::from_vec(vec![1i32, 0], [2]), None, Reduction::Sum).item::<f32>(), 4.0);

    // squared errors [0, 4, 9]
    let a = f32s(&[1.0, 2.0, 3.0], &[3]);
    let b = f32s(&[1.0, 0.0, 6.0], &[3]);
    assert_eq!(a.mse_loss(&b, Reduction::Sum).item::<f32>(), 13.0);
    assert_eq!(a.mse_loss(&b, Reduction::Mean).item::<f32>(), 13.0 / 3.0);
    assert_eq!(a.mse_loss(&b, Reduction::None).to_vec::<f32>(), vec![0.0, 4.0, 9.0]);

    // -(y log s(x) + (1 - y) log(1 - s(x)))
    let xs = [0.0, 2.0, -3.0, 0.7];
    let ys = [1.0, 0.0, 0.5, 0.25];
    let want: Vec<f64> =
        xs.iter().zip(&ys).map(|(&x, &y)| -(y * sigmoid64(x).ln() + (1.0 - y) * (1.0 - sigmoid64(x)).ln())).collect();
    let got = f64s(&xs, &[4]).binary_cross_entropy_with_logits(&f64s(&ys, &[4]), Reduction::None);
    assert_close(&got.to_vec::<f64>(), &want, 1e-14, "bce");
    let mean = f64s(&xs, &[4]).binary_cross_entropy_with_logits(&f64s(&ys, &[4]), Reduction::Mean);
    assert_close(&[mean.item::<f64>()], &[want.iter().sum::<f64>() / 4.0], 1e-14, "bce mean");
    // Stable at extreme logits: a confident wrong answer costs |x|.
    let extreme =
        f32s(&[100.0, -100.0], &[2]).binary_cross_entropy_with_logits(&f32s(&[0.0, 1.0], &[2]), Reduction::None);
    assert_eq!(extreme.to_vec::<f32>(), vec![100.0, 100.0]);
}

// ---------------------------------------------------------------------------------------
// Creation and the global generator

#[test]
fn deterministic_creation() {
    assert_eq!(Tensor::zeros([2, 2], DType::F32).to_vec::<f32>(), vec![0.0; 4]);
    assert_eq!(Tensor::ones([3], DType::I64).to_vec::<i64>(), vec![1; 3]);
    let f = Tensor::full([2], 2.5, DType::F64);
    assert_eq!((f.dtype(), f.to_vec::<f64>()), (DType::F64, vec![2.5, 2.5]));
    assert_eq!(Tensor::full([2], 2.5, DType::I32).to_vec::<i32>(), vec![2, 2]);
    assert_eq!(Tensor::arange(0.0, 1.0, 0.25, DType::F32).to_vec::<f32>(), vec![0.0, 0.25, 0.5, 0.75]);
    assert_eq!(Tensor::arange(5.0, 0.0, -2.0, DType::I64).to_vec::<i64>(), vec![5, 3, 1]);
    assert_eq!(Tensor::arange(0.0, 1.0, 0.3, DType::F64).numel(), 4);
    assert_eq!(Tensor::linspace(0.0, 1.0, 5, DType::F32).to_vec::<f32>(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(Tensor::linspace(-1.0, 1.0, 1, DType::F32).to_vec::<f32>(), vec![-1.0]);
    // The last point is exactly `end` even when the step is not representable.
    assert_eq!(*Tensor::linspace(0.0, 1.0, 11, DType::F64).to_vec::<f64>().last().unwrap(), 1.0);
    assert_eq!(Tensor::eye(3, DType::F32).to_vec::<f32>(), vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    let s = Tensor::scalar(3i64);
    assert_eq!((s.rank(), s.numel(), s.item::<i64>()), (0, 1, 3));
    let z = Tensor::zeros([2, 3], DType::F32);
    assert_eq!(z.ones_like().to_vec::<f32>(), vec![1.0; 6]);
    assert_eq!(z.full_like(7).to_vec::<f32>(), vec![7.0; 6]);
}

#[test]
fn random_numbers_and_dropout() {
    ignis::manual_seed(1234);
    let a = Tensor::rand([1000], DType::F32);
    let b = Tensor::randn([1000], DType::F64);
    ignis::manual_seed(1234);
    assert_eq!(Tensor::rand([1000], DType::F32).to_vec::<f32>(), a.to_vec::<f32>(), "same seed, same numbers");
    assert_eq!(Tensor::randn([1000], DType::F64).to_vec::<f64>(), b.to_vec::<f64>());
    // The stream moves on: a second draw differs from the first.
    assert_ne!(Tensor::rand([1000], DType::F32).to_vec::<f32>(), a.to_vec::<f32>());
    ignis::manual_seed(99);
    assert_ne!(Tensor::rand([1000], DType::F32).to_vec::<f32>(), a.to_vec::<f32>(), "another seed, other numbers");

    let n = 200_000;
    let u = Tensor::rand([n], DType::F64).to_vec::<f64>();
    assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
    // mean 1/2, variance 1/12; the standard error of the mean is about 6.5e-4
    let mean = u.iter().sum::<f64>() / n as f64;
    let var = u.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    assert!((mean - 0.5).abs() < 0.005 && (var - 1.0 / 12.0).abs() < 0.002, "uniform: mean {mean}, var {var}");
    let z = Tensor::randn([n], DType::F64).to_vec::<f64>();
    let mean = z.iter().sum::<f64>() / n as f64;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    let skew = z.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / n as f64;
    let kurt = z.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n as f64;
    assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "normal: mean {mean}, var {var}");
    assert!(skew.abs() < 0.05 && (kurt - 3.0).abs() < 0.1, "normal: skew {skew}, kurtosis {kurt}");
    let within_one = z.iter().filter(|v| v.abs() < 1.0).count() as f64 / n as f64;
    assert!((within_one - 0.6827).abs() < 0.01, "P(|z| < 1) = {within_one}");
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        let r = Tensor::rand([1000], dtype);
        assert_eq!(r.dtype(), dtype);
        assert!(r.to_vec::<f64>().iter().all(|&v| (0.0..1.0).contains(&v)), "rand {dtype} leaves [0, 1)");
    }

    let ints = Tensor::randint(-3, 4, [10_000]);
    assert_eq!(ints.dtype(), DType::I64);
    let ints = ints.to_vec::<i64>();
    assert!(ints.iter().all(|v| (-3..4).contains(v)));
    for v in -3..4 {
        let count = ints.iter().filter(|&&x| x == v).count();
        assert!((1200..1660).contains(&count), "randint drew {v} {count} times of 10000");
    }

    // Dropout in training: zero with probability p, the rest scaled by 1 / (1 - p).
    let p = 0.3;
    let x = Tensor::ones([n], DType::F32);
    ignis::manual_seed(5);
    let y = x.dropout(p, true).to_vec::<f32>();
    let scale = (1.0 / (1.0 - p)) as f32;
    assert!(y.iter().all(|&v| v == 0.0 || v == scale), "dropout kept a value other than 0 or {scale}");
    let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
    assert!((dropped - p).abs() < 0.01, "dropped fraction {dropped}, expected {p}");
    ignis::manual_seed(5);
    assert_eq!(x.dropout(p, true).to_vec::<f32>(), y, "dropout is reproducible after manual_seed");
    // Values, not just ones, are scaled.
    let v = f32s(&[1.0, -2.0, 3.0, 4.0], &[4]);
    let d = v.dropout(0.5, true).to_vec::<f32>();
    for (got, orig) in d.iter().zip([1.0, -2.0, 3.0, 4.0]) {
        assert!(*got == 0.0 || *got == orig * 2.0);
    }
    // Evaluation, p = 0 and p = 1
    assert_eq!(v.dropout(0.5, false).to_vec::<f32>(), v.to_vec::<f32>());
    assert_eq!(v.dropout(0.0, true).to_vec::<f32>(), v.to_vec::<f32>());
    assert_eq!(v.dropout(1.0, true).to_vec::<f32>(), vec![0.0; 4]);
}

// ---------------------------------------------------------------------------------------
// Printing and reading values back

#[test]
fn display_prints_like_pytorch() {
    assert_eq!(i64s(&[1, -20, 300, 4], &[2, 2]).to_string(), "tensor([[  1, -20],\n        [300,   4]])");
    assert_eq!(f32s(&[-0.5, 1.25, 100.0], &[3]).to_string(), "tensor([ -0.5000,   1.2500, 100.0000])");
    assert_eq!(Tensor::scalar(2.5f32).to_string(), "tensor(2.5000)");
    assert_eq!(f32s(&[1.0, -2.0], &[2]).to_string(), "tensor([ 1., -2.])");
    assert_eq!(Tensor::zeros([2, 1, 2], DType::I64).to_string(), "tensor([[[0, 0]],\n\n        [[0, 0]]])");
    assert_eq!(f32s(&[f32::NAN, f32::INFINITY, 1.5], &[3]).to_string(), "tensor([   nan,    inf, 1.5000])");
    assert_eq!(Tensor::from_vec(vec![1i32, 2], [2]).to_string(), "tensor([1, 2], dtype=i32)");
    // Widely spread magnitudes switch to scientific notation with a two-digit exponent.
    assert_eq!(f32s(&[1e-5, 1.0], &[2]).to_string(), "tensor([1.0000e-05, 1.0000e+00])");
    assert_eq!(f64s(&[1.5e10, -2.0], &[2]).to_string(), "tensor([ 1.5000e+10, -2.0000e+00], dtype=f64)");
    let x = f32s(&[1.0, 2.0], &[2]).requires_grad_(true);
    assert_eq!(x.mul_scalar(2.0).to_string(), "tensor([2., 4.], grad_fn=<ScalarOpBackward>)");
}

#[test]
fn to_vec_and_item() {
    let x = arange(&[2, 3]);
    // to_vec reads a view in its logical order and converts the dtype.
    assert_eq!(x.t().to_vec::<i64>(), vec![0, 3, 1, 4, 2, 5]);
    assert_eq!(x.slice(1, 0, 3, 2).to_vec::<f64>(), vec![0.0, 2.0, 3.0, 5.0]);
    assert_eq!(x.narrow(1, 2, 1).narrow(0, 1, 1).item::<f32>(), 5.0);
    assert_eq!(x.sum_all().item_f64(), 15.0);
    assert_eq!(f32s(&[0.0, 2.0], &[2]).to_vec::<bool>(), vec![false, true]);
    assert_eq!(Tensor::zeros([0, 4], DType::F32).to_vec::<f32>(), Vec::<f32>::new());
}

#[test]
fn empty_views_read_back_empty() {
    // Narrowing an empty tensor along its non-empty dim gives a view whose offset lies past
    // the end of its (empty) storage.
    let e = Tensor::zeros([3, 0], DType::F32).narrow(0, 1, 1);
    assert_eq!(e.shape(), &[1, 0]);
    assert_eq!(e.to_vec::<f32>(), Vec::<f32>::new());
    assert_eq!(e.contiguous().to_vec::<f32>(), Vec::<f32>::new());
    assert_eq!(e.to_dtype(DType::F64).shape(), &[1, 0]);
    assert_eq!(e.sum(1, false).to_vec::<f32>(), vec![0.0]);
    assert_eq!(Tensor::zeros([2, 0, 3], DType::F32).permute(&[2, 0, 1]).sum(0, false).shape(), &[2, 0]);
}
