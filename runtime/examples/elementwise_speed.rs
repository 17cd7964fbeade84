//! Times the elementwise kernels of W1 on [4096, 1024] f32: median of 50 calls each.
//! `cargo run --release -p ignis-runtime --example elementwise_speed`

use ignis_ir::{BinaryOp, UnaryOp};
use ignis_runtime::{cpu, Layout, Storage, View};
use std::time::Instant;

fn median_ms(mut f: impl FnMut()) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut times: Vec<f64> = (0..50)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let shape = [4096, 1024];
    let n = shape[0] * shape[1];
    let data: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32 - 500.0) / 100.0).collect();
    let x = Storage::from_slice(&data);
    let layout = Layout::contiguous(&shape);
    let view = View::new(&x, &layout);
    println!("threads: {}", ignis_runtime::parallel::num_threads());
    for op in [UnaryOp::Exp, UnaryOp::Tanh, UnaryOp::GeluTanh, UnaryOp::Sigmoid, UnaryOp::Relu] {
        let ms = median_ms(|| drop(std::hint::black_box(cpu::unary(op, view))));
        println!("{:>10}  {ms:.3} ms", op.name());
    }
    let ms = median_ms(|| drop(std::hint::black_box(cpu::binary(BinaryOp::Mul, view, view, &shape))));
    println!("{:>10}  {ms:.3} ms", "mul");
    let t = layout.transpose(0, 1);
    let ms = median_ms(|| drop(std::hint::black_box(cpu::contiguous(View::new(&x, &t)))));
    println!("{:>10}  {ms:.3} ms", "transpose");
}
