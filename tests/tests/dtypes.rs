//! Every dtype: creation, conversion rules, type promotion of mixed ops, half-precision
//! rounding and integer arithmetic, with PyTorch's semantics.

use ignis::{DType, Tensor, bf16, f16};

const ALL: [DType; 8] =
    [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64, DType::I32, DType::U8, DType::Bool];

/// A small deterministic generator for test inputs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
}

#[test]
fn every_dtype_can_be_created_and_read_back() {
    for dtype in ALL {
        let z = Tensor::zeros([2, 3], dtype);
        let o = Tensor::ones([2, 3], dtype);
        let f = Tensor::full([2], 1, dtype);
        assert_eq!((z.dtype(), o.dtype(), f.dtype()), (dtype, dtype, dtype));
        assert_eq!(z.to_vec::<f64>(), vec![0.0; 6], "{dtype}");
        assert_eq!(o.to_vec::<f64>(), vec![1.0; 6], "{dtype}");
        assert_eq!(o.sum_all().item_f64(), 6.0, "{dtype}");
        assert_eq!(Tensor::arange(0.0, 4.0, 1.0, dtype).dtype(), dtype);
        assert_eq!(Tensor::eye(2, dtype).to_vec::<f64>(), vec![1.0, 0.0, 0.0, 1.0], "{dtype}");
    }
    // from_vec of each element type picks its dtype.
    let cases: [(Tensor, DType); 8] = [
        (Tensor::from_vec(vec![1.5f32, -2.0], 2), DType::F32),
        (Tensor::from_vec(vec![1.5f64, -2.0], 2), DType::F64),
        (Tensor::from_vec(vec![f16::from_f32(1.5), f16::from_f32(-2.0)], 2), DType::F16),
        (Tensor::from_vec(vec![bf16::from_f32(1.5), bf16::from_f32(-2.0)], 2), DType::BF16),
        (Tensor::from_vec(vec![3i64, -2], 2), DType::I64),
        (Tensor::from_vec(vec![3i32, -2], 2), DType::I32),
        (Tensor::from_vec(vec![3u8, 254], 2), DType::U8),
        (Tensor::from_vec(vec![true, false], 2), DType::Bool),
    ];
    for (t, dtype) in &cases {
        assert_eq!(t.dtype(), *dtype);
        assert_eq!(t.shape(), &[2]);
    }
    assert_eq!(cases[2].0.to_vec::<f32>(), vec![1.5, -2.0]);
    assert_eq!(cases[3].0.to_vec::<f32>(), vec![1.5, -2.0]);
    assert_eq!(cases[6].0.to_vec::<i64>(), vec![3, 254]);
    assert_eq!(cases[7].0.to_vec::<u8>(), vec![1, 0]);
}

#[test]
fn conversions_round_trip_values_every_dtype_holds() {
    // Small non-negative integers are exact in every dtype except bool.
    let values = [0.0, 1.0, 2.0, 7.0, 100.0, 255.0];
    let base = Tensor::from_vec(values.to_vec(), values.len());
    for from in ALL.into_iter().filter(|&d| d != DType::Bool) {
        let t = base.to_dtype(from);
        for to in ALL.into_iter().filter(|&d| d != DType::Bool) {
            let back = t.to_dtype(to).to_dtype(from).to_vec::<f64>();
            assert_eq!(back, values.to_vec(), "{from} -> {to} -> {from}");
        }
        let b = t.to_dtype(DType::Bool);
        assert_eq!(b.to_vec::<bool>(), vec![false, true, true, true, true, true], "{from} -> bool");
        assert_eq!(b.to_dtype(from).to_vec::<f64>(), vec![0.0, 1.0, 1.0, 1.0, 1.0, 1.0], "bool -> {from}");
    }
    // to_dtype to the same dtype is the tensor itself.
    assert!(base.to_dtype(DType::F64).shares_storage(&base));
}

#[test]
fn float_to_int_truncates_toward_zero() {
    let x = Tensor::from_vec(vec![-2.7f32, -0.5, 0.5, 2.7, 1e3], 5);
    assert_eq!(x.to_dtype(DType::I64).to_vec::<i64>(), vec![-2, 0, 0, 2, 1000]);
    assert_eq!(x.to_dtype(DType::I32).to_vec::<i32>(), vec![-2, 0, 0, 2, 1000]);
    let p = Tensor::from_vec(vec![0.9f64, 2.7, 255.0], 3);
    assert_eq!(p.to_dtype(DType::U8).to_vec::<u8>(), vec![0, 2, 255]);
    let h = Tensor::from_vec(vec![-3.9f32, 3.9], 2).to_dtype(DType::F16);
    assert_eq!(h.to_dtype(DType::I32).to_vec::<i32>(), vec![-3, 3]);
    // Reading an integer out of a float tensor with to_vec follows the same rule.
    assert_eq!(x.to_vec::<i64>(), vec![-2, 0, 0, 2, 1000]);
}

#[test]
fn nonzero_is_true() {
    let x = Tensor::from_vec(vec![0.0f32, -0.0, 0.1, f32::NAN, -3.0, 1e-30], 6);
    assert_eq!(x.to_dtype(DType::Bool).to_vec::<bool>(), vec![false, false, true, true, true, true]);
    let i = Tensor::from_vec(vec![0i64, 5, -1], 3);
    assert_eq!(i.to_dtype(DType::Bool).to_vec::<bool>(), vec![false, true, true]);
    let u = Tensor::from_vec(vec![0u8, 128], 2);
    assert_eq!(u.to_dtype(DType::Bool).to_vec::<bool>(), vec![false, true]);
}

#[test]
fn narrowing_integer_conversions_wrap() {
    // PyTorch wraps: 300 as u8 = 44, -1 as u8 = 255, 2^32 + 5 as i32 = 5
    let x = Tensor::from_vec(vec![300i64, -1, (1 << 32) + 5], 3);
    assert_eq!(x.to_dtype(DType::U8).to_vec::<u8>(), vec![44, 255, 5]);
    assert_eq!(x.to_dtype(DType::I32).to_vec::<i32>(), vec![300, -1, 5]);
}

#[test]
fn conversions_to_float_round_once() {
    // f32 -> f16: 1 + 2^-11 is halfway between 1 and the next f16, so it rounds to even (1);
    // 1 + 3 * 2^-11 rounds up to 1 + 2^-9; 65520 overflows to inf; 2^-25 underflows to 0.
    let x =
        Tensor::from_vec(vec![1.0 + 2f32.powi(-11), 1.0 + 3.0 * 2f32.powi(-11), 65520.0, 2f32.powi(-25), 65504.0], 5);
    let h = x.to_dtype(DType::F16).to_vec::<f32>();
    assert_eq!(h, vec![1.0, 1.0 + 2f32.powi(-9), f32::INFINITY, 0.0, 65504.0]);
    // bf16 keeps f32's range with 8 bits of mantissa: 1 + 2^-8 ties to 1, 3e38 stays finite.
    let y = Tensor::from_vec(vec![1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8), 3e38], 3);
    let b = y.to_dtype(DType::BF16).to_vec::<f32>();
    assert_eq!(b[..2], [1.0, 1.0 + 2f32.powi(-6)]);
    assert!(b[2].is_finite() && (b[2] - 3e38).abs() < 3e38 * 4e-3);
    // Random f32 values round to f16 and bf16 as IEEE conversion does.
    let mut rng = Lcg(1);
    let v: Vec<f32> = (0..2000).map(|_| ((rng.next() - 0.5) * 2e4) as f32).collect();
    let t = Tensor::from_vec(v.clone(), v.len());
    let want16: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
    let wantb16: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
    assert_eq!(t.to_dtype(DType::F16).to_vec::<f16>(), want16);
    assert_eq!(t.to_dtype(DType::BF16).to_vec::<bf16>(), wantb16);
    // i64 -> f32 rounds the integer directly: 2^60 + 2^36 + 1 lies just above the midpoint
    // of 2^60 and 2^60 + 2^37, so it rounds up (going through f64 first would round it to the
    // midpoint and then to even, 2^60).
    let big = (1i64 << 60) + (1 << 36) + 1;
    let f = Tensor::from_vec(vec![big, -big], 2).to_dtype(DType::F32).to_vec::<f32>();
    assert_eq!(f, vec![big as f32, -big as f32]);
    assert_eq!(f[0], ((1i64 << 60) + (1 << 37)) as f32);
}

#[test]
fn type_promotion_of_mixed_ops() {
    let f16t = Tensor::ones([2], DType::F16);
    let bf16t = Tensor::ones([2], DType::BF16);
    let f32t = Tensor::ones([2], DType::F32);
    let f64t = Tensor::ones([2], DType::F64);
    let i64t = Tensor::ones([2], DType::I64);
    let i32t = Tensor::ones([2], DType::I32);
    let u8t = Tensor::ones([2], DType::U8);
    let boolt = Tensor::ones([2], DType::Bool);
    let cases = [
        ("f16 + f32", f16t.add(&f32t), DType::F32),
        ("f16 + bf16", f16t.add(&bf16t), DType::F32),
        ("f32 + f64", f32t.add(&f64t), DType::F64),
        ("i32 + f16", i32t.add(&f16t), DType::F16),
        ("i64 * bf16", i64t.mul(&bf16t), DType::BF16),
        ("i64 + f32", i64t.add(&f32t), DType::F32),
        ("u8 + i32", u8t.add(&i32t), DType::I32),
        ("i32 + i64", i32t.add(&i64t), DType::I64),
        ("bool + u8", boolt.add(&u8t), DType::U8),
        ("bool + f16", boolt.add(&f16t), DType::F16),
        ("bool + bool", boolt.add(&boolt), DType::Bool),
        ("i32 * 2.5", i32t.mul_scalar(2.5), DType::F32),
        ("i64 + 3", i64t.add_scalar(3i64), DType::I64),
        ("i32 + 3", i32t.add_scalar(3i64), DType::I32),
        ("u8 * 2", u8t.mul_scalar(2i64), DType::U8),
        ("f16 * 2.0", f16t.mul_scalar(2.0), DType::F16),
        ("bf16 - 1.0", bf16t.sub_scalar(1.0), DType::BF16),
        ("bool * 2", boolt.mul_scalar(2i64), DType::I64),
        ("bool * 0.5", boolt.mul_scalar(0.5), DType::F32),
        ("i32 / i32", i32t.div(&i32t), DType::F32),
        ("f16 / i64", f16t.div(&i64t), DType::F16),
        ("i64 sum", i64t.sum_all(), DType::I64),
        ("i32 sum", i32t.sum_all(), DType::I64),
        ("u8 sum", u8t.sum_all(), DType::I64),
        ("bool sum", boolt.sum_all(), DType::I64),
        ("f16 sum", f16t.sum_all(), DType::F16),
        ("i64 mean", i64t.mean_all(), DType::F32),
        ("i32 max", i32t.max_all(), DType::I32),
        ("f16 exp", f16t.exp(), DType::F16),
        ("i64 neg", i64t.neg(), DType::I64),
        ("f16 > f32", f16t.gt(&f32t), DType::Bool),
        ("f16 argmax", f16t.argmax(0, false), DType::I64),
        ("f16 @ f32", Tensor::ones([2, 2], DType::F16).matmul(&Tensor::ones([2, 2], DType::F32)), DType::F32),
    ];
    for (what, t, want) in cases {
        assert_eq!(t.dtype(), want, "{what}");
    }
    // Values: u8 1 * 2 = 2, bool true * 0.5 = 0.5, i32 1 * 2.5 = 2.5, true + true = true
    assert_eq!(u8t.mul_scalar(2i64).to_vec::<u8>(), vec![2, 2]);
    assert_eq!(boolt.mul_scalar(0.5).to_vec::<f32>(), vec![0.5, 0.5]);
    assert_eq!(i32t.mul_scalar(2.5).to_vec::<f32>(), vec![2.5, 2.5]);
    assert_eq!(boolt.add(&boolt).to_vec::<bool>(), vec![true, true]);
    assert_eq!(Tensor::from_vec(vec![true, false, true], 3).sum_all().item::<i64>(), 2);
}

/// Compares element by element, reporting the first difference rather than the whole vectors.
fn assert_same(got: &[f32], want: &[f32], inputs: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Some(i) =
        (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits() && !(got[i].is_nan() && want[i].is_nan()))
    {
        panic!("{what}: element {i} (input {}) is {}, expected {}", inputs[i], got[i], want[i]);
    }
}

/// Random f16-representable values in [-scale, scale], as f32.
fn half_values(rng: &mut Lcg, n: usize, scale: f64, positive: bool) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v = if positive { rng.next() * scale + 1e-3 } else { (rng.next() * 2.0 - 1.0) * scale };
            f16::from_f64(v).to_f32()
        })
        .collect()
}

#[test]
fn half_ops_round_the_f32_result_once() {
    let mut rng = Lcg(42);
    let n = 4096;
    let a = half_values(&mut rng, n, 50.0, false);
    let b = half_values(&mut rng, n, 50.0, false);
    let p = half_values(&mut rng, n, 50.0, true);
    for dtype in [DType::F16, DType::BF16] {
        let round = |v: f32| -> f32 {
            if dtype == DType::F16 { f16::from_f32(v).to_f32() } else { bf16::from_f32(v).to_f32() }
        };
        // Inputs rounded to the dtype first, so the reference sees exactly the stored values.
        let (a, b, p): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            a.iter().map(|&v| round(v)).collect(),
            b.iter().map(|&v| round(v)).collect(),
            p.iter().map(|&v| round(v)).collect(),
        );
        let ta = Tensor::from_vec(a.clone(), n).to_dtype(dtype);
        let tb = Tensor::from_vec(b.clone(), n).to_dtype(dtype);
        let tp = Tensor::from_vec(p.clone(), n).to_dtype(dtype);
        type Binary = (&'static str, fn(&Tensor, &Tensor) -> Tensor, fn(f32, f32) -> f32);
        let binaries: [Binary; 5] = [
            ("add", |x, y| x.add(y), |x, y| x + y),
            ("sub", |x, y| x.sub(y), |x, y| x - y),
            ("mul", |x, y| x.mul(y), |x, y| x * y),
            ("div", |x, y| x.div(y), |x, y| x / y),
            ("maximum", |x, y| x.maximum(y), f32::max),
        ];
        for (name, op, reference) in binaries {
            let got = op(&ta, &tb);
            assert_eq!(got.dtype(), dtype);
            let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| round(reference(x, y))).collect();
            assert_same(&got.to_vec::<f32>(), &want, &a, &format!("{dtype} {name}"));
        }
        // Two ops round twice: once after the product, once after the sum.
        let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| round(round(x * y) + x)).collect();
        assert_same(&ta.mul(&tb).add(&ta).to_vec::<f32>(), &want, &a, &format!("{dtype} a * b + a"));
        let want: Vec<f32> = p.iter().map(|&x| round(x.sqrt())).collect();
        assert_same(&tp.sqrt().to_vec::<f32>(), &want, &p, &format!("{dtype} sqrt"));
        // A float scalar takes the tensor's dtype first (as PyTorch casts a wrapped number to
        // the common dtype), then the product is computed in f32 and rounded.
        let tenth = round(0.1);
        let want: Vec<f32> = a.iter().map(|&x| round(x * tenth)).collect();
        assert_same(&ta.mul_scalar(0.1).to_vec::<f32>(), &want, &a, &format!("{dtype} * 0.1"));
        // Transcendental ops: the dtype's result is the f32 result rounded once.
        type Unary = (&'static str, fn(&Tensor) -> Tensor);
        let unaries: [Unary; 7] = [
            ("exp", |x| x.mul_scalar(0.1).exp()),
            ("tanh", |x| x.tanh()),
            ("sigmoid", |x| x.sigmoid()),
            ("gelu", |x| x.gelu()),
            ("log", |x| x.abs().add_scalar(1.0).log()),
            ("sin", |x| x.sin()),
            ("silu", |x| x.silu()),
        ];
        for (name, op) in unaries {
            let got = op(&ta).to_vec::<f32>();
            let via_f32 = op(&ta.to_dtype(DType::F32)).to_dtype(dtype).to_vec::<f32>();
            // `exp` and `log` include a scalar op that itself rounds; compare op by op.
            let want = if name == "exp" {
                ta.mul_scalar(0.1).to_dtype(DType::F32).exp().to_dtype(dtype).to_vec::<f32>()
            } else if name == "log" {
                ta.abs().add_scalar(1.0).to_dtype(DType::F32).log().to_dtype(dtype).to_vec::<f32>()
            } else {
                via_f32
            };
            assert_same(&got, &want, &a, &format!("{dtype} {name}"));
        }
        // A sum accumulates in f32 and rounds at the end: 1000 x f16(0.1) = 99.9755859375,
        // which is 100 in f16 (an f16 accumulator would drift far from it).
        let tenth = Tensor::full([1000], 0.1, dtype);
        let step = round(0.1);
        assert_eq!(tenth.sum_all().item::<f32>(), round(step * 1000.0), "{dtype} sum");
        // A long sum lands within one unit of the dtype of the exact sum.
        let exact: f64 = a.iter().map(|&v| v as f64).sum();
        let unit = if dtype == DType::F16 { 2f64.powi(-10) } else { 2f64.powi(-7) };
        let got = ta.sum_all().item::<f64>();
        assert!((got - exact).abs() <= exact.abs() * unit, "{dtype} sum: {got}, exact {exact}");
        assert_eq!(ta.mean_all().dtype(), dtype);
    }
}

#[test]
fn integer_arithmetic_wraps_like_pytorch() {
    let a = Tensor::from_vec(vec![i32::MAX, i32::MIN, 5], 3);
    let one = Tensor::from_vec(vec![1i32, 1, 1], 3);
    assert_eq!(a.add(&one).to_vec::<i32>(), vec![i32::MIN, i32::MIN + 1, 6]);
    assert_eq!(a.sub(&one).to_vec::<i32>(), vec![i32::MAX - 1, i32::MAX, 4]);
    assert_eq!(a.neg().to_vec::<i32>(), vec![-i32::MAX, i32::MIN, -5]);
    assert_eq!(a.abs().to_vec::<i32>(), vec![i32::MAX, i32::MIN, 5]);
    let big = Tensor::from_vec(vec![i64::MAX], 1);
    assert_eq!(big.add_scalar(1i64).to_vec::<i64>(), vec![i64::MIN]);
    assert_eq!(big.mul_scalar(2i64).to_vec::<i64>(), vec![-2]);
    let u = Tensor::from_vec(vec![250u8, 3, 0], 3);
    assert_eq!(u.add_scalar(10i64).to_vec::<u8>(), vec![4, 13, 10]);
    assert_eq!(u.neg().to_vec::<u8>(), vec![6, 253, 0]);
    assert_eq!(u.mul(&u).to_vec::<u8>(), vec![36, 9, 0]);
}

#[test]
fn integer_reductions_and_comparisons() {
    // [[3, -7, 2],
    //  [9, 0, -1]]
    let x = Tensor::from_vec(vec![3i64, -7, 2, 9, 0, -1], [2, 3]);
    assert_eq!(x.sum_all().item::<i64>(), 6);
    assert_eq!(x.sum(1, false).to_vec::<i64>(), vec![-2, 8]);
    assert_eq!(x.prod_dims(&[0], false).to_vec::<i64>(), vec![27, 0, -2]);
    assert_eq!(x.max(0, false).to_vec::<i64>(), vec![9, 0, 2]);
    assert_eq!(x.min(1, false).to_vec::<i64>(), vec![-7, -1]);
    assert_eq!(x.argmax(1, false).to_vec::<i64>(), vec![0, 0]);
    assert_eq!(x.argmin(0, false).to_vec::<i64>(), vec![0, 0, 1]);
    let m = x.mean(1, false);
    assert_eq!(m.dtype(), DType::F32);
    assert_eq!(m.to_vec::<f32>(), vec![-2.0 / 3.0, 8.0 / 3.0]);
    assert_eq!(x.gt_scalar(0i64).to_vec::<bool>(), vec![true, false, true, true, false, false]);
    assert!(x.eq(&x.t().t()).all_dims(&[], false).item::<bool>());
    // i32 sums do not overflow: they accumulate in i64, as PyTorch.
    let wide = Tensor::from_vec(vec![i32::MAX, i32::MAX], 2);
    assert_eq!(wide.sum_all().item::<i64>(), 2 * i32::MAX as i64);
    let bytes = Tensor::from_vec(vec![200u8, 100, 255], 3);
    assert_eq!(bytes.sum_all().item::<i64>(), 555);
    assert_eq!(bytes.argmax(0, false).item::<i64>(), 2);
    assert_eq!(bytes.lt(&Tensor::from_vec(vec![201u8, 100, 0], 3)).to_vec::<bool>(), vec![true, false, false]);
    // Integer max of i32 keeps i32; clamp and relu of ints stay exact.
    let i = Tensor::from_vec(vec![-5i32, 7], 2);
    assert_eq!(i.relu().to_vec::<i32>(), vec![0, 7]);
    assert_eq!(i.square().to_vec::<i32>(), vec![25, 49]);
    assert_eq!(i.sign().to_vec::<i32>(), vec![-1, 1]);
}
