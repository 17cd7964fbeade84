//! The GPU code run on the host against the CPU code on the same data. Elementwise results
//! agree bit for bit (both use the same math functions); reductions sum in another order
//! (the GPU's trees), so they agree to rounding.

use super::tests::{bias_relu, column_mean, every_op, mixed_dtypes, softmax};
use super::{Mapping, Target, host, write_mlir};
use ignis_ir::DType;
use ignis_ir::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
use ignis_ir::{BinaryOp, UnaryOp};

/// Inputs that probe the edges: signed zeros, halves (ties), infinities, NaN, subnormals,
/// large magnitudes, then a spread of ordinary values.
fn probe_values(n: usize) -> Vec<f32> {
    let edges = [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        1.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-40,
        -1e-40,
        8_388_607.5,
        -8_388_609.0,
        1e30,
        -1e30,
        88.0,
        -88.0,
        20.0,
        -20.0,
        1e-3,
    ];
    let mut s = 12345u32;
    (0..n)
        .map(|i| {
            if i < edges.len() {
                return edges[i];
            }
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 200_000) as f32 / 10_000.0 - 10.0
        })
        .collect()
}

fn bytes_of<T>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: plain numbers; u8 has no alignment or invalid values.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of_val(v)) }
}

/// Runs an all-f32 kernel both ways on `inputs` (read buffers first) and returns each write
/// buffer's values, CPU then GPU-on-host.
fn both(kernel: &Kernel, target: &Target, inputs: &[Vec<f32>], output_len: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    let outputs = kernel.buffers.iter().filter(|b| b.access == Access::Write).count();
    let run = |gpu: bool| {
        let mut ins: Vec<Vec<f32>> = inputs.to_vec();
        let mut outs: Vec<Vec<f32>> = vec![vec![f32::from_bits(0x7FA0_0001); output_len]; outputs];
        let mut buffers: Vec<&mut [u8]> =
            ins.iter_mut().map(|v| bytes_of(v)).chain(outs.iter_mut().map(|v| bytes_of(v))).collect();
        if gpu {
            host::run(kernel, target, &mut buffers).unwrap();
        } else {
            crate::cpu::tests::run(kernel, &mut buffers);
        }
        outs
    };
    run(false).into_iter().zip(run(true)).collect()
}

fn same_bits_or_both_nan(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn every_op_computes_on_the_gpu_what_it_computes_on_the_cpu_bit_for_bit() {
    let n = 3000;
    let x = probe_values(n);
    let mut y = probe_values(n + 7)[7..].to_vec();
    y.reverse();
    let kernel = every_op(n);
    for target in [Target::cuda(), Target::rocm()] {
        for (output, (cpu, gpu)) in both(&kernel, &target, &[x.clone(), y.clone()], n).into_iter().enumerate() {
            for i in 0..n {
                assert!(
                    same_bits_or_both_nan(cpu[i], gpu[i]),
                    "{target}: output {output} at x = {:e}, y = {:e}: cpu {:e}, gpu {:e}",
                    x[i],
                    y[i],
                    cpu[i],
                    gpu[i]
                );
            }
        }
    }
}

#[test]
fn broadcasts_and_bound_checks_cover_every_point_once() {
    let (rows, cols) = (7, 333);
    let x = probe_values(rows * cols);
    let bias: Vec<f32> = probe_values(cols + 40)[40..].to_vec();
    for (cpu, gpu) in both(&bias_relu(rows, cols), &Target::cuda(), &[x, bias], rows * cols) {
        assert!(cpu.iter().zip(&gpu).all(|(a, b)| same_bits_or_both_nan(*a, *b)));
    }
}

fn assert_close(cpu: &[f32], gpu: &[f32], tolerance: f32, what: &str) {
    for (i, (a, b)) in cpu.iter().zip(gpu).enumerate() {
        let scale = a.abs().max(b.abs()).max(1.0);
        assert!((a - b).abs() <= tolerance * scale, "{what}[{i}]: cpu {a}, gpu {b}");
    }
}

#[test]
fn softmax_rows_reduced_in_trees_match_the_cpu() {
    for (rows, cols, mapping) in [
        (64, 1000, Mapping::BlockPerPoint { threads: 256 }),
        (3, 40, Mapping::BlockPerPoint { threads: 64 }),
        (4, 9000, Mapping::BlockPerPoint { threads: 1024 }),
        (5000, 8, Mapping::ThreadPerPoint),
    ] {
        let kernel = softmax(rows, cols);
        assert_eq!(write_mlir(&kernel, &Target::cuda()).unwrap().launch.mapping, mapping);
        let x: Vec<f32> = probe_values(rows * cols + 30)[30..].to_vec();
        let results = both(&kernel, &Target::cuda(), &[x], rows * cols);
        assert_close(&results[0].0, &results[0].1, 1e-6, &format!("softmax {rows}x{cols}"));
        // Each row sums to one.
        for row in results[0].1.chunks(cols) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        }
    }
}

#[test]
fn column_means_match_the_cpu_by_thread_and_by_block() {
    for (rows, cols) in [(512, 8192), (300, 64), (0, 100)] {
        let kernel = column_mean(rows, cols);
        let x: Vec<f32> = probe_values(rows * cols + 30).into_iter().skip(30).collect();
        let x = if x.is_empty() { vec![0.0] } else { x };
        for target in [Target::cuda(), Target::rocm()] {
            let results = both(&kernel, &target, std::slice::from_ref(&x), cols);
            let (cpu, gpu) = &results[0];
            if rows == 0 {
                // 0 / 0.
                assert!(cpu.iter().chain(gpu).all(|v| v.is_nan()));
            } else {
                assert_close(cpu, gpu, 1e-5, &format!("{target} mean of {rows}x{cols}"));
            }
        }
    }
}

/// The sum over a permuted two-dim inner space behind an offset: `y[o] = sum_{i,j} x[3 + o +
/// i * 5 * 4 + j * 4]` for `o < 4`, `i < 5`... with `j` the slower inner dim.
#[test]
fn inner_spaces_of_several_dims_with_strides_and_offsets_index_like_the_cpu() {
    let (outer, a, b) = (4usize, 50usize, 6usize);
    let mut k = Kernel::new("strided_sum", vec![outer]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let z = k.add_buffer(DType::F32, Access::Write);
    let index = Index { offset: 3, outer: vec![1], inner: vec![outer as i64, (outer * a) as i64] };
    let v = k.push(Expr::Load { buffer: x, index: index.clone() });
    let sum = k.push(Expr::Stage(0));
    let centred = k.push(Expr::Binary(BinaryOp::Sub, v, sum));
    let squared = k.push(Expr::Unary(UnaryOp::Square, centred));
    k.stages.push(Stage { inner: vec![a, b], kind: StageKind::Reduce { combine: Combine::Max, value: v } });
    k.stages.push(Stage {
        inner: vec![],
        kind: StageKind::Store(vec![Store {
            buffer: y,
            index: Index { offset: 0, outer: vec![1], inner: vec![] },
            value: sum,
        }]),
    });
    // Writes each element's squared distance from its column's max, transposed.
    let out = Index { offset: 0, outer: vec![(a * b) as i64], inner: vec![b as i64, 1] };
    k.stages.push(Stage {
        inner: vec![a, b],
        kind: StageKind::Store(vec![Store { buffer: z, index: out, value: squared }]),
    });
    let x_values: Vec<f32> = probe_values(3 + outer * a * b + 40)[23..].to_vec();
    for target in [Target::cuda(), Target::rocm()] {
        let mapping = write_mlir(&k, &target).unwrap().launch.mapping;
        assert!(matches!(mapping, Mapping::BlockPerPoint { .. }), "{mapping:?}");
        let mut ins = x_values.clone();
        let run = |gpu: bool, ins: &mut Vec<f32>| {
            let mut ys = vec![0.0f32; outer];
            let mut zs = vec![0.0f32; outer * a * b];
            let mut buffers: Vec<&mut [u8]> = vec![bytes_of(ins), bytes_of(&mut ys), bytes_of(&mut zs)];
            if gpu {
                host::run(&k, &target, &mut buffers).unwrap();
            } else {
                crate::cpu::tests::run(&k, &mut buffers);
            }
            (ys, zs)
        };
        let cpu = run(false, &mut ins);
        let gpu = run(true, &mut ins);
        // Maxima and what is computed from them do not depend on the order.
        assert_eq!(cpu, gpu, "{target}");
    }
}

#[test]
fn half_f64_and_bool_buffers_round_and_convert_like_the_cpu() {
    let (rows, cols) = (6, 10);
    let kernel = mixed_dtypes(rows, cols);
    let probe = probe_values(200);
    let mut x: Vec<u16> = probe[..63].iter().map(|&v| half::bf16::from_f32(v * 1.37).to_bits()).collect();
    let mut y: Vec<f64> = probe[60..120].iter().map(|&v| f64::from(v) * 1.000_000_1 + 1e-12).collect();
    let mut mask: Vec<u8> = (0..60).map(|i| (i % 3 == 0) as u8).collect();
    let run = |gpu: bool, x: &mut Vec<u16>, y: &mut Vec<f64>, mask: &mut Vec<u8>| {
        let mut out = vec![0u16; 60];
        let mut positive = vec![7u8; 60];
        let mut buffers: Vec<&mut [u8]> =
            vec![bytes_of(x), bytes_of(y), bytes_of(mask), bytes_of(&mut out), bytes_of(&mut positive)];
        if gpu {
            host::run(&kernel, &Target::rocm(), &mut buffers).unwrap();
        } else {
            crate::cpu::tests::run(&kernel, &mut buffers);
        }
        (out, positive)
    };
    let (cpu_out, cpu_positive) = run(false, &mut x, &mut y, &mut mask);
    let (gpu_out, gpu_positive) = run(true, &mut x, &mut y, &mut mask);
    for i in 0..60 {
        let (a, b) = (half::f16::from_bits(cpu_out[i]), half::f16::from_bits(gpu_out[i]));
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "out[{i}]: cpu {a}, gpu {b}");
    }
    assert_eq!(cpu_positive, gpu_positive);
    assert!(gpu_positive.iter().all(|&p| p <= 1));
}
