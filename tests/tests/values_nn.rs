//! Hand-checked values of softmax, normalization, convolution, pooling and losses.

mod common;

use common::*;
use ignis::{ConvOptions, CrossEntropyOptions, DType, Reduction, Tensor, Window2d};

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
