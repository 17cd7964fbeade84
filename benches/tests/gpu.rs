//! `--device cuda`: the workloads made and timed on a GPU (by default the host emulation of
//! one, so the path runs without a GPU; `IGNIS_TEST_GPU=cuda` uses CUDA device 0).

use ignis::Device;
use ignis_bench::bandwidth;
use ignis_bench::workloads::Workload;

#[test]
fn workloads_run_and_agree_on_a_gpu() {
    let real = std::env::var("IGNIS_TEST_GPU").is_ok_and(|v| v == "cuda");
    ignis::gpu::emulate_on_host(!real);
    let device = Device::Cuda(0);
    ignis::set_default_device(device).unwrap();
    let bandwidth = bandwidth::measure_device(device, 1 << 22, 2).unwrap();
    assert!(bandwidth.gigabytes_per_second() > 0.0);
    for (workload, tolerance) in [(Workload::W7, 1e-5), (Workload::W2, 1e-4), (Workload::W4, 1e-1)] {
        let row = ignis_bench::measure_workload_on(workload, Some(2), &bandwidth, device);
        let err = row.max_rel_err.unwrap();
        assert!(err <= tolerance, "{}: compiled and eager differ by {err}", row.workload);
        assert!(row.eager_ms.is_some() && row.compiled_ms.is_some(), "{row:?}");
    }
    ignis::set_default_device(Device::Cpu).unwrap();
}
