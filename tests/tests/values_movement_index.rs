//! Hand-checked values of views, movement and indexing ops.

mod common;

use common::*;
use ignis::{DType, PadMode, Tensor};

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
