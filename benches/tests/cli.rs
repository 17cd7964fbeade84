//! Argument parsing and the refusal of devices this build lacks.

use clap::Parser;
use ignis_bench::cli::{Args, DeviceChoice, LimitsChoice};
use ignis_bench::workloads::Workload;
use std::process::Command;

fn parse(arguments: &[&str]) -> Result<Args, clap::Error> {
    Args::try_parse_from(std::iter::once("ignis-bench").chain(arguments.iter().copied()))
}

#[test]
fn workload_list_and_threads_parse() {
    let args = parse(&["--workload", "W1,W3", "--threads", "1"]).expect("valid arguments");
    assert_eq!(args.selected_workloads(), vec![Workload::W1, Workload::W3]);
    assert_eq!(args.threads, Some(1));
    assert_eq!(args.device, DeviceChoice::Cpu);
    assert_eq!(args.iters, None);
    assert!(args.check_supported().is_ok());
}

#[test]
fn no_flags_selects_every_workload_on_the_cpu() {
    let args = parse(&[]).expect("no arguments are valid");
    assert_eq!(args.selected_workloads(), Workload::ALL.to_vec());
    assert_eq!(args.device, DeviceChoice::Cpu);
    assert_eq!(args.limits, LimitsChoice::Quick);
    assert_eq!((args.json, args.plot), (None, None));
}

#[test]
fn workload_names_ignore_case() {
    let args = parse(&["--workload", "w6f,W6B,w7"]).expect("valid arguments");
    assert_eq!(args.selected_workloads(), vec![Workload::W6f, Workload::W6b, Workload::W7]);
}

#[test]
fn bad_values_are_rejected_with_the_flag_named() {
    for (arguments, flag) in [
        (&["--workload", "W9"][..], "--workload"),
        (&["--threads", "0"][..], "--threads"),
        (&["--iters", "many"][..], "--iters"),
        (&["--device", "tpu"][..], "--device"),
    ] {
        let error = parse(arguments).expect_err("invalid arguments").to_string();
        assert!(error.contains(flag), "{arguments:?}: {error}");
    }
}

#[test]
fn gpu_devices_parse_but_are_refused() {
    for device in ["cuda", "rocm"] {
        let args = parse(&["--device", device]).expect("a known device");
        let error = args.check_supported().expect_err("no GPU to run on").to_string();
        assert!(error.starts_with(&format!("--device {device}: ")), "{error}");
        assert!(error.contains("--codegen-only"), "{error}");
    }
}

#[test]
fn binary_exits_non_zero_on_cuda_before_measuring() {
    let output = Command::new(env!("CARGO_BIN_EXE_ignis-bench"))
        .args(["--device", "cuda"])
        .output()
        .expect("the ignis-bench binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--device cuda: "), "{stderr}");
    // Without the gpu feature the reason is the build; with it, this machine's driver.
    if !cfg!(feature = "gpu") {
        assert!(stderr.contains("built without the `gpu` feature"), "{stderr}");
    }
    assert!(output.stdout.is_empty(), "nothing measured, nothing printed");
}
