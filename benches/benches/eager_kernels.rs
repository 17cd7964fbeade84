//! Criterion benches of the main eager CPU kernels at modest sizes (a 1024x1024 f32 matrix is
//! 4 MiB: past L2, inside the last-level cache), so a `--quick` run takes a couple of minutes.
//! The workload-level numbers come from the `ignis-bench` CLI; these localize a regression to
//! one kernel.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ignis::{DType, Tensor};
use ignis_runtime::{Layout, Storage, View};
use std::hint::black_box;

const ROWS: usize = 1024;
const COLUMNS: usize = 1024;

fn matrix(seed: u64) -> Tensor {
    ignis::manual_seed(seed);
    Tensor::randn([ROWS, COLUMNS], DType::F32)
}

/// Bytes read plus written by an op that reads `inputs` matrices and writes `outputs`.
fn matrix_traffic(inputs: u64, outputs: u64) -> Throughput {
    Throughput::Bytes((inputs + outputs) * (ROWS * COLUMNS * 4) as u64)
}

fn elementwise(c: &mut Criterion) {
    let (x, y) = (matrix(0), matrix(1));
    let row = Tensor::randn([COLUMNS], DType::F32);
    let column = Tensor::randn([ROWS, 1], DType::F32);
    let mut group = c.benchmark_group("elementwise");
    group.throughput(matrix_traffic(2, 1));
    group.bench_function("add", |b| b.iter(|| black_box(x.add(&y))));
    group.bench_function("mul", |b| b.iter(|| black_box(x.mul(&y))));
    group.throughput(matrix_traffic(1, 1));
    group.bench_function("add_broadcast_row", |b| b.iter(|| black_box(x.add(&row))));
    group.bench_function("mul_broadcast_column", |b| b.iter(|| black_box(x.mul(&column))));
    group.bench_function("gelu_tanh", |b| b.iter(|| black_box(x.gelu_tanh())));
    group.bench_function("tanh", |b| b.iter(|| black_box(x.tanh())));
    group.finish();
}

fn reductions_and_norms(c: &mut Criterion) {
    let x = matrix(2);
    let weight = Tensor::randn([COLUMNS], DType::F32);
    let bias = Tensor::randn([COLUMNS], DType::F32);
    let mut group = c.benchmark_group("reduce");
    group.throughput(matrix_traffic(1, 0));
    group.bench_function("sum_last_dim", |b| b.iter(|| black_box(x.sum(-1, false))));
    group.bench_function("sum_dim_0", |b| b.iter(|| black_box(x.sum(0, false))));
    group.throughput(matrix_traffic(1, 1));
    group.bench_function("softmax", |b| b.iter(|| black_box(x.softmax(-1))));
    group.bench_function("layer_norm", |b| {
        b.iter(|| black_box(x.layer_norm(&[COLUMNS], Some(&weight), Some(&bias), 1e-5)))
    });
    group.finish();
}

fn movement(c: &mut Criterion) {
    let x = matrix(3);
    let mut group = c.benchmark_group("movement");
    group.throughput(matrix_traffic(1, 1));
    group.bench_function("transpose_contiguous", |b| b.iter(|| black_box(x.t().contiguous())));

    // cat and index_select have runtime kernels but no `Tensor` methods yet, so these call
    // the kernels on the runtime's storage directly.
    let layout = Layout::contiguous(&[ROWS, COLUMNS]);
    let first = Storage::from_vec(x.to_vec::<f32>());
    let second = Storage::from_vec(matrix(4).to_vec::<f32>());
    group.throughput(matrix_traffic(2, 2));
    group.bench_function("cat_dim_0", |b| {
        b.iter(|| black_box(ignis_runtime::cpu::cat(&[View::new(&first, &layout), View::new(&second, &layout)], 0)))
    });
    group.bench_function("cat_dim_1", |b| {
        b.iter(|| black_box(ignis_runtime::cpu::cat(&[View::new(&first, &layout), View::new(&second, &layout)], 1)))
    });
    // Every row once, in a scrambled order, as an embedding lookup or a shuffle would.
    let rows: Vec<i64> = (0..ROWS as i64).map(|i| (i * 389) % ROWS as i64).collect();
    let index_layout = Layout::contiguous(&[ROWS]);
    let index = Storage::from_vec(rows);
    group.throughput(matrix_traffic(1, 1));
    group.bench_function("index_select_rows", |b| {
        b.iter(|| {
            black_box(ignis_runtime::cpu::index_select(View::new(&first, &layout), 0, View::new(&index, &index_layout)))
        })
    });
    group.finish();
}

criterion_group!(eager_kernels, elementwise, reductions_and_norms, movement);
criterion_main!(eager_kernels);
