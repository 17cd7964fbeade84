//! Criterion benches of the main eager CPU kernels at modest sizes (a 1024x1024 f32 matrix is
//! 4 MiB: past L2, inside the last-level cache), so a `--quick` run takes a couple of minutes.
//! The workload-level numbers come from the `ignis-bench` CLI; these localize a regression to
//! one kernel. Throughput is bytes read + written, or flops (as elements) for matmul.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ignis::{DType, Tensor};
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

    let other = matrix(4);
    group.throughput(matrix_traffic(2, 2));
    group.bench_function("cat_dim_0", |b| b.iter(|| black_box(Tensor::cat(&[&x, &other], 0))));
    group.bench_function("cat_dim_1", |b| b.iter(|| black_box(Tensor::cat(&[&x, &other], 1))));
    // Every row once, in a scrambled order, as an embedding lookup or a shuffle would.
    let rows: Vec<i64> = (0..ROWS as i64).map(|i| (i * 389) % ROWS as i64).collect();
    let index = Tensor::from_vec(rows, [ROWS]);
    group.throughput(matrix_traffic(1, 1));
    group.bench_function("index_select_rows", |b| b.iter(|| black_box(x.index_select(0, &index))));
    group.finish();
}

fn matmul(c: &mut Criterion) {
    // W4's first layer at a quarter of its width: [256, 1024] @ [1024, 1024].
    let (m, k, n) = (256, 1024, 1024);
    ignis::manual_seed(5);
    let a = Tensor::randn([m, k], DType::F32);
    let b = Tensor::randn([k, n], DType::F32);
    let mut group = c.benchmark_group("matmul");
    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
    group.bench_function("256x1024x1024", |bencher| bencher.iter(|| black_box(a.matmul(&b))));
    group.finish();
}

criterion_group!(eager_kernels, elementwise, reductions_and_norms, movement, matmul);
criterion_main!(eager_kernels);
