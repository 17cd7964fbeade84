//! `--codegen-only`: every workload's kernels written for a GPU without one. With the `gpu`
//! feature the kernels are also lowered, and the PTX and AMDGPU assembly must assemble.

use clap::Parser;
use ignis_bench::cli::Args;
use ignis_bench::codegen;

fn args(line: &[&str]) -> Args {
    Args::try_parse_from(std::iter::once("ignis-bench").chain(line.iter().copied())).unwrap()
}

#[test]
fn codegen_only_writes_each_workloads_kernels_for_cuda_and_rocm() {
    for (device, extension) in [("cuda", "ptx"), ("rocm", "s")] {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().to_str().unwrap();
        let args = args(&["--device", device, "--codegen-only", "--dump", dump]);
        args.check_supported().unwrap();
        let rows = codegen::run(&args).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
        assert_eq!(names, ["W1", "W2", "W3", "W4", "W5", "W6f", "W6b", "W7"]);
        let row = |name: &str| rows.iter().find(|r| r.workload == name).unwrap();
        // One fused kernel each for W1-W3: on a GPU the layer norm and the softmax are
        // kernels too. W7's hundred tiny ops are one kernel.
        for name in ["W1", "W2", "W3", "W7"] {
            assert_eq!((row(name).kernels, row(name).eager_nodes), (1, 0), "{:?}", row(name));
        }
        assert!(row("W6f").kernels >= 5, "{:?}", row("W6f"));
        assert!(row("W6b").kernels > row("W6f").kernels, "{:?}", row("W6b"));
        assert!(rows.iter().all(|r| r.refused == 0), "{rows:?}");

        let mlir = std::fs::read_to_string(dir.path().join("W3/w3_000.captured.gpu.mlir")).unwrap();
        assert!(mlir.contains("gpu.func @k0_softmax"), "{mlir}");
        assert!(mlir.contains("gpu.barrier"), "{mlir}");
        let assembly = dir.path().join(format!("W3/w3_000.captured.{extension}"));
        if cfg!(feature = "gpu") {
            assert!(rows.iter().all(|r| r.assembly_lines.is_some_and(|n| n > 0)), "{rows:?}");
            let text = std::fs::read_to_string(&assembly).unwrap();
            let entry = if device == "cuda" { ".entry k0_softmax" } else { ".amdhsa_kernel k0_softmax" };
            assert!(text.contains(entry), "{text}");
            assert!(dir.path().join("W3/w3_000.captured.gpu.lowered.mlir").is_file());
        } else {
            assert!(rows.iter().all(|r| r.assembly_lines.is_none()), "{rows:?}");
            assert!(!assembly.exists());
        }
        #[cfg(feature = "gpu")]
        assemble_every_kernel(&rows, &args.gpu_target().unwrap());
        let table = codegen::table(&args.gpu_target().unwrap(), &rows);
        assert!(table.contains("nothing was launched"), "{table}");
        assert_eq!(table.lines().count(), 2 + rows.len(), "{table}");
    }
}

#[test]
fn codegen_only_asks_for_a_gpu_device_and_a_known_architecture() {
    let e = args(&["--codegen-only"]).check_supported().unwrap_err().to_string();
    assert!(e.contains("--device cuda or --device rocm"), "{e}");
    let e = args(&["--device", "cuda", "--codegen-only", "--arch", "gfx942"]).check_supported().unwrap_err();
    assert!(e.to_string().contains("--arch gfx942: not an architecture for --device cuda"), "{e}");
    let target = args(&["--device", "cuda", "--codegen-only", "--arch", "sm_80"]).gpu_target().unwrap();
    assert_eq!(target.chip(), "sm_80");
    let target = args(&["--device", "rocm", "--codegen-only", "--arch", "gfx90a"]).gpu_target().unwrap();
    assert_eq!(target.chip(), "gfx90a");
    // Without --codegen-only a GPU run is refused with what to do instead.
    let e = args(&["--device", "cuda"]).check_supported().unwrap_err().to_string();
    assert!(e.contains("--codegen-only"), "{e}");
    assert!(Args::try_parse_from(["ignis-bench", "--dump", "d"]).is_err(), "--dump needs --codegen-only");
}

/// Every kernel of every workload goes through its target's assembler.
#[cfg(feature = "gpu")]
fn assemble_every_kernel(rows: &[codegen::CodegenRow], target: &ignis::compile::GpuTarget) {
    let dir = tempfile::tempdir().unwrap();
    for row in rows {
        for (p, report) in row.reports.iter().enumerate() {
            for kernel in &report.kernels {
                let assembly = kernel.assembly.as_ref().unwrap();
                let stem = format!("{}_{p}_{}", row.workload, kernel.name);
                ignis::compile::gpu_tools::assemble(assembly, target, dir.path(), &stem)
                    .unwrap_or_else(|e| panic!("{stem}: {e}"));
            }
        }
    }
}
