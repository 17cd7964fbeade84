//! The device layer on the host emulation: memory reuse, copies, matmul. (The CUDA driver
//! runs these paths on a GPU in `scripts/gpu-check.sh`.)

use super::{Gemm, GpuDevice, Operand, emulate_on_host};
use crate::Device;

fn device() -> std::sync::Arc<GpuDevice> {
    emulate_on_host(true);
    GpuDevice::open(Device::Cuda(0)).unwrap()
}

fn bytes_of(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats(b: &[u8]) -> Vec<f32> {
    b.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn freed_blocks_are_reused_by_their_size_class() {
    // A device of its own: the other tests' blocks would come and go in its cache.
    emulate_on_host(true);
    let gpu = GpuDevice::open(Device::Cuda(1)).unwrap();
    assert!(gpu.is_emulated());
    gpu.empty_cache();
    let first = gpu.allocate(1000).unwrap();
    assert_eq!(first.bytes(), 1024);
    let address = first.address();
    drop(first);
    assert_eq!(gpu.cached_bytes(), 1024);
    let again = gpu.allocate(600).unwrap();
    assert_eq!(again.address(), address, "a block of the same class is reused");
    assert_eq!(gpu.cached_bytes(), 0);
    let small = gpu.allocate(3).unwrap();
    assert_eq!(small.bytes(), 512);
}

#[test]
fn copies_round_trip_and_move_ranges() {
    let gpu = device();
    let data: Vec<f32> = (0..300).map(|i| i as f32 * 0.5 - 7.0).collect();
    let a = gpu.allocate(1200).unwrap();
    gpu.upload(&a, &bytes_of(&data)).unwrap();
    let b = gpu.allocate(1200).unwrap();
    gpu.copy(&b, 0, &a, 400, 800).unwrap();
    let mut back = vec![0u8; 800];
    gpu.download(&mut back, &b).unwrap();
    assert_eq!(floats(&back), data[100..].to_vec());
}

#[test]
fn matmul_reads_row_and_column_major_operands_and_batches() {
    let gpu = device();
    let (m, k, n, batch) = (5, 7, 3, 2);
    let a: Vec<f32> = (0..batch * m * k).map(|i| (i % 11) as f32 - 5.0).collect();
    // b is given column-major: element (p, j) of batch t at t*k*n + j*k + p.
    let b: Vec<f32> = (0..batch * k * n).map(|i| (i % 5) as f32 * 0.25).collect();
    let (da, db, dc) = (
        gpu.allocate(a.len() * 4).unwrap(),
        gpu.allocate(b.len() * 4).unwrap(),
        gpu.allocate(batch * m * n * 4).unwrap(),
    );
    gpu.upload(&da, &bytes_of(&a)).unwrap();
    gpu.upload(&db, &bytes_of(&b)).unwrap();
    let gemm = Gemm {
        m,
        n,
        k,
        batch,
        a: Operand { address: da.address(), leading: k, column_major: false, batch_stride: m * k },
        b: Operand { address: db.address(), leading: k, column_major: true, batch_stride: k * n },
        c: dc.address(),
    };
    // SAFETY: the operands were allocated with these sizes.
    unsafe { gpu.gemm_f32(&gemm) }.unwrap();
    let mut out = vec![0u8; batch * m * n * 4];
    gpu.download(&mut out, &dc).unwrap();
    let c = floats(&out);
    for t in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[t * m * k + i * k + p] * b[t * k * n + j * k + p]).sum();
                assert_eq!(c[t * m * n + i * n + j], want, "batch {t} ({i}, {j})");
            }
        }
    }
}

#[test]
fn without_a_driver_a_cuda_device_is_an_error_that_says_why() {
    // On a machine without CUDA the driver is missing; on one with CUDA there is no 65th GPU.
    let e = super::cuda::CudaDriver::open(64).err().expect("no GPU 64").to_string();
    assert!(e.starts_with("no device cuda:64: "), "{e}");
}
