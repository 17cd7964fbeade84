//! Median GFLOP/s of square `matmul`s on the CPU.
//!
//! ```text
//! cargo run --release -p ignis-runtime --example matmul_gflops -- 1024 4096
//! cargo run --release -p ignis-runtime --example matmul_gflops -- --dtype f16 --threads 1 256
//! ```
//! `--dtype` is f32 (default), f64, f16 or bf16; `--threads` resizes the pool (default:
//! `IGNIS_NUM_THREADS` or every core); `--gemm-f16` also times gemm's own f16 kernel, the
//! alternative to widening half floats to f32.

use ignis_ir::DType;
use ignis_runtime::cpu::{cast, matmul};
use ignis_runtime::layout::Layout;
use ignis_runtime::parallel;
use ignis_runtime::storage::{Storage, View};
use std::time::{Duration, Instant};

/// Runs `f` until about `budget` has passed (at least 3 times); returns the median and the
/// fastest time (the fastest shows the kernel's speed when other work shares the cores).
fn median_time(budget: Duration, mut f: impl FnMut()) -> (Duration, Duration) {
    f(); // warm-up: page faults, packing buffers, thread wake-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed() < budget && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[0])
}

fn report(n: usize, what: &str, flops: f64, median: Duration, best: Duration) {
    let rate = |t: Duration| flops / t.as_secs_f64() / 1e9;
    println!(
        "{n:>6}^3  {what}  median {:>7.1} GFLOP/s ({:.3} ms)  best {:>7.1} GFLOP/s",
        rate(median),
        median.as_secs_f64() * 1e3,
        rate(best)
    );
}

fn main() {
    let mut dtype = DType::F32;
    let mut sizes = Vec::new();
    let mut gemm_f16 = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dtype" => {
                dtype = match args.next().as_deref() {
                    Some("f32") => DType::F32,
                    Some("f64") => DType::F64,
                    Some("f16") => DType::F16,
                    Some("bf16") => DType::BF16,
                    other => panic!("--dtype takes f32, f64, f16 or bf16, got {other:?}"),
                }
            }
            "--threads" => {
                let n = args.next().and_then(|v| v.parse().ok()).expect("--threads takes a positive number");
                parallel::set_num_threads(n);
            }
            "--gemm-f16" => gemm_f16 = true,
            size => sizes.push(size.parse::<usize>().unwrap_or_else(|_| panic!("not a size: {size}"))),
        }
    }
    if sizes.is_empty() {
        sizes = vec![1024, 4096];
    }
    println!("threads: {}, dtype: {dtype}", parallel::num_threads());
    for n in sizes {
        let data: Vec<f32> = (0..n * n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let f32s = Storage::from_vec(data);
        let layout = Layout::contiguous(&[n, n]);
        let a = cast(View::new(&f32s, &layout), dtype);
        let b = cast(View::new(&f32s, &layout), dtype);
        let flops = 2.0 * (n as f64).powi(3);
        let budget = Duration::from_secs_f64(2.0);
        let (t, best) = median_time(budget, || {
            std::hint::black_box(matmul(View::new(&a, &layout), View::new(&b, &layout)));
        });
        report(n, "matmul  ", flops, t, best);
        if gemm_f16 && dtype == DType::F16 {
            let out = Storage::uninit(DType::F16, n * n);
            let threads = parallel::num_threads();
            let (t, best) = median_time(budget, || {
                parallel::pool().install(|| {
                    // SAFETY: three distinct n x n row-major buffers of f16.
                    unsafe {
                        gemm::gemm(
                            n,
                            n,
                            n,
                            out.as_ptr::<half::f16>(),
                            1,
                            n as isize,
                            false,
                            a.as_ptr::<half::f16>() as *const half::f16,
                            1,
                            n as isize,
                            b.as_ptr::<half::f16>() as *const half::f16,
                            1,
                            n as isize,
                            half::f16::ZERO,
                            half::f16::ONE,
                            false,
                            false,
                            false,
                            if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None },
                        )
                    }
                })
            });
            report(n, "gemm f16", flops, t, best);
        }
    }
}
