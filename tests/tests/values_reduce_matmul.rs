//! Hand-checked values of reductions and matrix products, against naive f64 loops.

mod common;

use common::*;
use ignis::{DType, Tensor};

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
