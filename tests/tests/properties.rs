//! Property tests of views, broadcasting and reductions against a model written here: a
//! plain row-major `Vec` that every op rebuilds by index arithmetic (no strides involved).

use ignis::{DType, Tensor};
use proptest::prelude::*;

/// A dense row-major array: the reference every tensor result is compared with.
#[derive(Clone, Debug)]
struct Dense {
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The multi-index of flat position `flat` in a row-major array of `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = flat % shape[d];
        flat /= shape[d];
    }
    index
}

fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + i)
}

impl Dense {
    fn arange(shape: &[usize]) -> Dense {
        Dense { shape: shape.to_vec(), data: (0..numel(shape)).map(|i| i as f64).collect() }
    }

    /// A new array of `shape` whose element at each index is `self` at `source(index)`.
    fn gather(&self, shape: Vec<usize>, source: impl Fn(&[usize]) -> Vec<usize>) -> Dense {
        let data =
            (0..numel(&shape)).map(|flat| self.data[ravel(&source(&unravel(flat, &shape)), &self.shape)]).collect();
        Dense { shape, data }
    }

    fn permute(&self, perm: &[usize]) -> Dense {
        let shape = perm.iter().map(|&p| self.shape[p]).collect();
        self.gather(shape, |index| {
            let mut src = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                src[p] = index[i];
            }
            src
        })
    }

    fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Dense {
        let mut shape = self.shape.clone();
        shape[dim] = len;
        self.gather(shape, |index| {
            let mut src = index.to_vec();
            src[dim] = start + index[dim] * step;
            src
        })
    }

    fn expand(&self, target: &[usize]) -> Dense {
        let lead = target.len() - self.shape.len();
        self.gather(target.to_vec(), |index| {
            index[lead..].iter().zip(&self.shape).map(|(&i, &s)| if s == 1 { 0 } else { i }).collect()
        })
    }

    fn reshape(&self, shape: &[usize]) -> Dense {
        Dense { shape: shape.to_vec(), data: self.data.clone() }
    }

    fn unsqueeze(&self, dim: usize) -> Dense {
        let mut shape = self.shape.clone();
        shape.insert(dim, 1);
        self.reshape(&shape)
    }

    fn squeeze(&self, dim: usize) -> Dense {
        let mut shape = self.shape.clone();
        if shape[dim] == 1 {
            shape.remove(dim);
        }
        self.reshape(&shape)
    }
}

/// One step of a view chain, drawn as raw numbers and fitted to the current shape when
/// applied (so every drawn chain is valid for whatever shape it meets).
#[derive(Clone, Debug)]
struct Step {
    kind: u8,
    a: usize,
    b: usize,
    c: usize,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..8, 0usize..64, 0usize..64, 0usize..64).prop_map(|(kind, a, b, c)| Step { kind, a, b, c })
}

fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![3 => 1usize..5, 1 => Just(0usize), 2 => Just(1usize)], 0..=max_rank)
}

/// A random shape with `n` elements and up to 4 dims, from the seed `s`.
fn factor_shape(n: usize, s: usize) -> Vec<usize> {
    if n == 0 {
        return match s % 3 {
            0 => vec![0],
            1 => vec![s % 4, 0],
            _ => vec![0, 1 + s % 3],
        };
    }
    let mut factors = Vec::new();
    let mut m = n;
    let mut p = 2;
    while m > 1 {
        while m.is_multiple_of(p) {
            factors.push(p);
            m /= p;
        }
        p += 1;
    }
    let rank = 1 + s % 4;
    let mut shape = vec![1; rank];
    let mut seed = s;
    for f in factors {
        seed = seed.wrapping_mul(31).wrapping_add(7);
        shape[(seed / 7) % rank] *= f;
    }
    if s.is_multiple_of(5) && shape.len() < 4 {
        shape.insert(s % (shape.len() + 1), 1);
    }
    shape
}

/// Applies one step to both the tensor and the model; returns a description for messages.
fn apply(step: &Step, t: &Tensor, m: &Dense) -> (Tensor, Dense, String) {
    let rank = m.shape.len();
    let (a, b, c) = (step.a, step.b, step.c);
    match step.kind {
        // permute by a rotation of the dims and a swap
        0 if rank > 0 => {
            let mut perm: Vec<usize> = (0..rank).map(|i| (i + a) % rank).collect();
            perm.swap(b % rank, c % rank);
            let p: Vec<isize> = perm.iter().map(|&x| x as isize).collect();
            (t.permute(&p), m.permute(&perm), format!("permute({perm:?})"))
        }
        1 if rank > 0 => {
            let (x, y) = (a % rank, b % rank);
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(x, y);
            // negative dims count from the end
            let ny = y as isize - rank as isize;
            (t.transpose(x as isize, ny), m.permute(&perm), format!("transpose({x}, {ny})"))
        }
        2 if rank > 0 => {
            let d = a % rank;
            let n = m.shape[d];
            let start = b % (n + 1);
            let end = start + c % (n - start + 1);
            let step = 1 + (a / 8) % 3;
            let len = (end - start).div_ceil(step);
            (
                t.slice(d as isize, start as isize, end as isize, step as isize),
                m.slice(d, start, len, step),
                format!("slice({d}, {start}, {end}, {step})"),
            )
        }
        3 if rank > 0 => {
            let d = a % rank;
            let n = m.shape[d];
            let start = b % (n + 1);
            let len = c % (n - start + 1);
            (t.narrow(d as isize, start, len), m.slice(d, start, len, 1), format!("narrow({d}, {start}, {len})"))
        }
        4 if rank < 6 => {
            // expand every size-1 dim to a size from the seed, and maybe add a leading dim
            let mut target: Vec<usize> =
                m.shape.iter().enumerate().map(|(i, &s)| if s == 1 { (a >> i) % 4 } else { s }).collect();
            if b % 2 == 0 {
                target.insert(0, c % 3 + 1);
            }
            (t.expand(target.clone()), m.expand(&target), format!("expand({target:?})"))
        }
        5 if rank < 6 => {
            let d = a % (rank + 1);
            (t.unsqueeze(d as isize), m.unsqueeze(d), format!("unsqueeze({d})"))
        }
        6 if rank > 0 => {
            // prefer a size-1 dim when there is one
            let d = (0..rank).map(|i| (i + a) % rank).find(|&i| m.shape[i] == 1).unwrap_or(a % rank);
            (t.squeeze(d as isize), m.squeeze(d), format!("squeeze({d})"))
        }
        7 => {
            let target = factor_shape(numel(&m.shape), a * 64 + b);
            (t.reshape(target.clone()), m.reshape(&target), format!("reshape({target:?})"))
        }
        _ => (t.clone(), m.clone(), "nothing".into()),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn view_chains_match_the_model(start in shape(4), steps in prop::collection::vec(step(), 0..7), dtype_pick in 0usize..3) {
        let dtype = [DType::F32, DType::F64, DType::I64][dtype_pick];
        let mut m = Dense::arange(&start);
        let mut t = Tensor::arange(0.0, numel(&start) as f64, 1.0, dtype).reshape(start.clone());
        let mut log = Vec::new();
        for s in &steps {
            let (nt, nm, what) = apply(s, &t, &m);
            log.push(what);
            t = nt;
            m = nm;
            prop_assert_eq!(t.shape(), m.shape.as_slice(), "after {:?}", log);
        }
        prop_assert_eq!(t.dtype(), dtype);
        prop_assert_eq!(t.to_vec::<f64>(), m.data.clone(), "after {:?}", log);
        let c = t.contiguous();
        prop_assert!(c.is_contiguous());
        prop_assert_eq!(c.to_vec::<f64>(), m.data.clone(), "contiguous() after {:?}", log);
        // A copy owns its data and matches too.
        let copy = t.contiguous_copy();
        prop_assert!(!copy.shares_storage(&t) || t.numel() == 0);
        prop_assert_eq!(copy.to_vec::<f64>(), m.data, "contiguous_copy() after {:?}", log);
    }
}

/// The shape an operand of a broadcast to `out` may have: some leading dims dropped and
/// some others set to 1.
fn operand_shape(out: &[usize], drop: usize, ones_mask: u8) -> Vec<usize> {
    let drop = drop.min(out.len());
    out[drop..].iter().enumerate().map(|(i, &d)| if ones_mask >> i & 1 == 1 { 1 } else { d }).collect()
}

/// A tensor holding `values` (row-major for `shape`) that is, depending on `layout`, a
/// plain contiguous tensor, a permuted view of a transposed buffer, or a strided slice.
fn make_operand(values: &[f32], shape: &[usize], layout: u8) -> Tensor {
    let rank = shape.len();
    match layout % 3 {
        1 if rank >= 2 => {
            // Store with the last two dims swapped, then transpose back.
            let mut swapped = shape.to_vec();
            swapped.swap(rank - 2, rank - 1);
            let m = Dense { shape: shape.to_vec(), data: values.iter().map(|&v| v as f64).collect() };
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(rank - 2, rank - 1);
            let stored = m.permute(&perm);
            let data: Vec<f32> = stored.data.iter().map(|&v| v as f32).collect();
            Tensor::from_vec(data, swapped).transpose(-2, -1)
        }
        2 if rank >= 1 => {
            // Every other element of a buffer twice as long in dim 0.
            let mut doubled = shape.to_vec();
            doubled[0] *= 2;
            let inner: usize = shape[1..].iter().product();
            let mut data = vec![f32::NAN; numel(&doubled)];
            for (i, chunk) in values.chunks(inner.max(1)).enumerate().take(shape[0]) {
                if inner > 0 {
                    data[2 * i * inner..(2 * i + 1) * inner].copy_from_slice(chunk);
                }
            }
            Tensor::from_vec(data, doubled).slice(0, 0, (2 * shape[0]) as isize, 2)
        }
        _ => Tensor::from_vec(values.to_vec(), shape.to_vec()),
    }
}

/// `op` applied elementwise with numpy broadcasting of `a` and `b` to `out`.
fn naive_broadcast(out: &[usize], a: &Dense, b: &Dense, op: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    let (ea, eb) = (a.expand(out), b.expand(out));
    ea.data.iter().zip(&eb.data).map(|(&x, &y)| op(x as f32, y as f32)).collect()
}

fn values(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1000i32..1000, n).prop_map(|v| v.into_iter().map(|x| x as f32 / 8.0).collect())
}

/// Output shape, operand shapes, operand values and operand layouts.
type BroadcastCase = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<f32>, Vec<f32>, u8, u8);

fn broadcast_case() -> impl Strategy<Value = BroadcastCase> {
    (shape(4), 0usize..3, any::<u8>(), 0usize..3, any::<u8>(), any::<u8>(), any::<u8>()).prop_flat_map(
        |(out, drop_a, ones_a, drop_b, ones_b, layout_a, layout_b)| {
            let sa = operand_shape(&out, drop_a, ones_a);
            let sb = operand_shape(&out, drop_b, ones_b);
            let (na, nb) = (numel(&sa), numel(&sb));
            (Just(out), Just(sa), Just(sb), values(na), values(nb), Just(layout_a), Just(layout_b))
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn broadcast_binary_ops_match_the_naive_loop((_, sa, sb, va, vb, la, lb) in broadcast_case()) {
        let a = make_operand(&va, &sa, la);
        let b = make_operand(&vb, &sb, lb);
        prop_assert_eq!(a.to_vec::<f32>(), va.clone());
        prop_assert_eq!(b.to_vec::<f32>(), vb.clone());
        // The true output shape: the case's shape may have had every dim of one size set to 1.
        let rank = sa.len().max(sb.len());
        let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
        let out: Vec<usize> = pad(&sa).iter().zip(pad(&sb)).map(|(&x, y)| if x == 1 { y } else { x }).collect();
        let da = Dense { shape: sa.clone(), data: va.iter().map(|&v| v as f64).collect() };
        let db = Dense { shape: sb.clone(), data: vb.iter().map(|&v| v as f64).collect() };
        type Case = (&'static str, fn(&Tensor, &Tensor) -> Tensor, fn(f32, f32) -> f32);
        let cases: [Case; 4] = [
            ("add", |x, y| x.add(y), |x, y| x + y),
            ("mul", |x, y| x.mul(y), |x, y| x * y),
            ("sub", |x, y| x.sub(y), |x, y| x - y),
            ("maximum", |x, y| x.maximum(y), f32::max),
        ];
        for (name, op, reference) in cases {
            let got = op(&a, &b);
            prop_assert_eq!(got.shape(), out.as_slice(), "{} of {:?} and {:?}", name, &sa, &sb);
            let want = naive_broadcast(&out, &da, &db, reference);
            prop_assert_eq!(got.to_vec::<f32>(), want, "{} of {:?} and {:?}", name, &sa, &sb);
        }
    }
}

/// Sums `m` over `dims` in f64, keeping them as size 1 when `keepdim`.
fn naive_sum(m: &Dense, dims: &[usize], keepdim: bool) -> Dense {
    let kept: Vec<usize> = m.shape.iter().enumerate().map(|(i, &s)| if dims.contains(&i) { 1 } else { s }).collect();
    let mut data = vec![0.0; numel(&kept)];
    for (flat, &v) in m.data.iter().enumerate() {
        let mut index = unravel(flat, &m.shape);
        for &d in dims {
            index[d] = 0;
        }
        data[ravel(&index, &kept)] += v;
    }
    let shape = if keepdim {
        kept
    } else {
        m.shape.iter().enumerate().filter(|(i, _)| !dims.contains(i)).map(|(_, &s)| s).collect()
    };
    Dense { shape, data }
}

fn sum_case() -> impl Strategy<Value = (Vec<usize>, Vec<f32>, u8, bool, u8)> {
    (shape(4), any::<u8>(), any::<bool>(), any::<u8>()).prop_flat_map(|(s, mask, keepdim, layout)| {
        let n = numel(&s);
        (Just(s), values(n), Just(mask), Just(keepdim), Just(layout))
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sums_over_random_dims_match_the_naive_loop((s, v, mask, keepdim, layout) in sum_case()) {
        let rank = s.len();
        let dims: Vec<usize> = (0..rank).filter(|i| mask >> i & 1 == 1).collect();
        let t = make_operand(&v, &s, layout);
        let m = Dense { shape: s.clone(), data: v.iter().map(|&x| x as f64).collect() };
        // An empty list means all dims; negative spellings are the same dims.
        let all: Vec<usize> = if dims.is_empty() { (0..rank).collect() } else { dims.clone() };
        let want = naive_sum(&m, &all, keepdim);
        let spelled: Vec<isize> = dims.iter().map(|&d| if mask & 0x80 != 0 { d as isize - rank as isize } else { d as isize }).collect();
        let got = t.sum_dims(&spelled, keepdim);
        prop_assert_eq!(got.shape(), want.shape.as_slice(), "sum over {:?} of {:?}", &spelled, &s);
        // Multiples of 1/8 below 2^13 add exactly in f32 in any order.
        prop_assert_eq!(got.to_vec::<f64>(), want.data.clone(), "sum over {:?} of {:?}", &spelled, &s);
        // The same in f64, and the mean is the sum over the count.
        let got64 = t.to_dtype(DType::F64).sum_dims(&spelled, keepdim).to_vec::<f64>();
        prop_assert_eq!(got64, want.data.clone());
        let count: usize = all.iter().map(|&d| s[d]).product();
        if count > 0 {
            let mean = t.to_dtype(DType::F64).mean_dims(&spelled, keepdim).to_vec::<f64>();
            for (g, w) in mean.iter().zip(&want.data) {
                prop_assert!((g - w / count as f64).abs() <= 1e-12 * (1.0 + w.abs()), "mean {} vs {}", g, w / count as f64);
            }
        }
    }

    #[test]
    fn results_are_identical_when_computed_twice(n in 1usize..70_000, seed in any::<u64>()) {
        // Inputs with rounding in every sum, so the order of accumulation would show.
        let mut state = seed | 1;
        let data: Vec<f32> = (0..n).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2_000_001) as f32 / 1000.0 - 1000.0 + 0.1
        }).collect();
        let rows = (n as f64).sqrt() as usize;
        let x = Tensor::from_vec(data[..rows * (n / rows)].to_vec(), [rows, n / rows]);
        let run = || -> Vec<Vec<u32>> {
            let bits = |t: Tensor| t.to_vec::<f32>().iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
            vec![
                bits(x.sum_all()),
                bits(x.sum(0, false)),
                bits(x.sum(1, false)),
                bits(x.mean_all()),
                bits(x.t().sum(1, false)),
                bits(x.mul_scalar(1e-3).exp().sum_all()),
                bits(x.softmax(-1)),
            ]
        };
        prop_assert_eq!(run(), run());
    }
}
