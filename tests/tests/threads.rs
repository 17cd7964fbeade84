//! Results do not depend on the number of threads. This binary holds a single test because
//! the thread pool is global: tests running beside it would see their pool change.

use ignis::runtime::{num_threads, set_num_threads};
use ignis::{ConvOptions, DType, Tensor};

/// A deterministic input with rounding in every sum.
fn input(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed | 1;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1_000_003) as f32 / 500_000.0 - 1.0
        })
        .collect();
    Tensor::from_vec(data, shape.to_vec())
}

/// Every output of a mix of large ops (well past the point where work is split), as bits.
fn run_all() -> Vec<(&'static str, Vec<u64>)> {
    let x = input(&[300, 700], 1);
    let y = input(&[700, 130], 2);
    let image = input(&[2, 8, 40, 40], 3);
    let kernel = input(&[16, 8, 3, 3], 4);
    let bits32 = |t: Tensor| t.to_vec::<f32>().iter().map(|v| v.to_bits() as u64).collect::<Vec<_>>();
    let bits64 = |t: Tensor| t.to_vec::<f64>().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    vec![
        ("sum_all", bits32(x.sum_all())),
        ("sum rows", bits32(x.sum(1, false))),
        ("sum cols", bits32(x.sum(0, false))),
        ("sum of a transpose", bits32(x.t().sum(1, false))),
        ("mean f64", bits64(x.to_dtype(DType::F64).mean_all())),
        ("var", bits32(x.var(1, false))),
        ("max", bits32(x.max(0, false))),
        ("argmax", x.argmax(1, false).to_vec::<i64>().iter().map(|&v| v as u64).collect()),
        ("exp", bits32(x.exp())),
        ("tanh", bits32(x.tanh())),
        ("gelu", bits32(x.gelu())),
        ("add broadcast", bits32(x.add(&x.sum(0, true)))),
        ("softmax", bits32(x.softmax(-1))),
        ("log_softmax", bits32(x.log_softmax(0))),
        ("logsumexp", bits32(x.logsumexp(&[1], false))),
        ("layer_norm", bits32(x.layer_norm(&[700], None, None, 1e-5))),
        ("matmul", bits32(x.matmul(&y))),
        ("matmul f64", bits64(x.to_dtype(DType::F64).matmul(&y.to_dtype(DType::F64)))),
        ("conv2d", bits32(image.conv2d(&kernel, None, &ConvOptions::new(2).padding(1)))),
        ("cast f16", bits32(x.to_dtype(DType::F16).to_dtype(DType::F32))),
        ("f16 sum", bits32(x.to_dtype(DType::F16).sum(1, false).to_dtype(DType::F32))),
        ("cumulative grads", {
            let w = input(&[700, 130], 5).requires_grad_(true);
            x.matmul(&w).tanh().sum_all().backward();
            bits32(w.grad().unwrap())
        }),
    ]
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let original = num_threads();
    set_num_threads(1);
    assert_eq!(num_threads(), 1);
    let one = run_all();
    set_num_threads(2);
    assert_eq!(num_threads(), 2);
    let two = run_all();
    set_num_threads(3);
    let three = run_all();
    set_num_threads(original);
    for (((name, a), (_, b)), (_, c)) in one.iter().zip(&two).zip(&three) {
        assert!(a == b, "{name}: 1 and 2 threads differ");
        assert!(a == c, "{name}: 1 and 3 threads differ");
    }
    // And twice with the same count.
    assert_eq!(run_all(), two);
}
