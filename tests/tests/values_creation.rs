//! Creation functions, the global generator, dropout and printing. Only
//! `random_numbers_and_dropout` touches the global generator, since tests of one binary run
//! in parallel and would otherwise draw from each other's streams.

mod common;

use common::*;
use ignis::{DType, Tensor};

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
