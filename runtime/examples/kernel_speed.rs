//! Times the eager kernels of the standard workloads (elementwise, transposing copy, fused
//! normalizations, reductions) on an f32 [4096, 1024] tensor:
//! median of 50 calls each, after a warm-up (outputs come from the caching allocator, so
//! repeated calls reuse mapped pages).
//!
//! `cargo run --release -p ignis-runtime --example kernel_speed`

use ignis_ir::{BinaryOp, ReduceOp, UnaryOp};
use ignis_runtime::cpu;
use ignis_runtime::{Layout, Storage, View};
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
    let (rows, cols) = (4096, 1024);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let x = Storage::from_slice(&data);
    let layout = Layout::contiguous(&[rows, cols]);
    let view = View::new(&x, &layout);
    let weight = Storage::from_slice(&vec![1.5f32; cols]);
    let bias = Storage::from_slice(&vec![0.25f32; cols]);
    let param_layout = Layout::contiguous(&[cols]);
    let w = View::new(&weight, &param_layout);
    let b = View::new(&bias, &param_layout);

    println!("f32 [{rows}, {cols}], {} threads, median of 50 calls", ignis_runtime::parallel::num_threads());
    let transposed = layout.transpose(0, 1);
    let cases: [(&str, Box<dyn FnMut()>); 11] = [
        ("mul", Box::new(|| drop(cpu::binary(BinaryOp::Mul, view, view, &[rows, cols])))),
        ("exp", Box::new(|| drop(cpu::unary(UnaryOp::Exp, view)))),
        ("tanh", Box::new(|| drop(cpu::unary(UnaryOp::Tanh, view)))),
        ("gelu_tanh", Box::new(|| drop(cpu::unary(UnaryOp::GeluTanh, view)))),
        ("sigmoid", Box::new(|| drop(cpu::unary(UnaryOp::Sigmoid, view)))),
        ("transpose copy", Box::new(|| drop(cpu::contiguous(View::new(&x, &transposed))))),
        ("softmax(dim=-1)", Box::new(|| drop(cpu::softmax(view, 1)))),
        ("layer_norm(w, b)", Box::new(|| drop(cpu::layer_norm(view, 1, Some(w), Some(b), 1e-5)))),
        ("sum(dim=-1)", Box::new(|| drop(cpu::reduce(ReduceOp::Sum, view, &[1], false)))),
        ("sum(dim=0)", Box::new(|| drop(cpu::reduce(ReduceOp::Sum, view, &[0], false)))),
        ("sum()", Box::new(|| drop(cpu::reduce(ReduceOp::Sum, view, &[0, 1], false)))),
    ];
    for (name, mut f) in cases {
        println!("{name:>18}: {:.3} ms", median_ms(&mut f));
    }
}
