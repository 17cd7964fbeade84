//! ignis-bench: runs the standard workloads of BENCHMARKS.md and reports eager and compiled
//! timings next to the machine's memory and compute limits.
//!
//! The library holds everything but `main`, so tests can drive the parser, the workloads and
//! the writers directly on tiny inputs.

pub mod bandwidth;
pub mod cli;
pub mod codegen;
pub mod error;
pub mod json;
pub mod limits;
pub mod plot;
pub mod report;
pub mod timing;
pub mod workloads;

use crate::cli::Args;
use crate::error::{Error, Result};
use crate::report::{Machine, Row};
use crate::workloads::{Mode, Workload};
use std::path::Path;

/// Runs what `args` asks for and prints the table; writes JSON and SVG where asked.
pub fn run(args: &Args) -> Result<()> {
    args.check_supported()?;
    if args.codegen_only {
        let rows = codegen::run(args)?;
        print!("{}", codegen::table(&args.gpu_target()?, &rows));
        return Ok(());
    }
    // Fail on an unwritable output path now, not after minutes of measuring.
    for path in args.json.iter().chain(&args.plot) {
        check_writable(path)?;
    }
    if let Some(threads) = args.threads {
        ignis::runtime::set_num_threads(threads as usize);
    }
    let threads = ignis::runtime::num_threads();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let device = match args.device {
        cli::DeviceChoice::Cuda => ignis::Device::Cuda(0),
        _ => ignis::Device::Cpu,
    };
    let unavailable = |e: ignis::Error| Error::DeviceUnavailable { device: device.to_string(), reason: e.to_string() };

    eprintln!("measuring memory bandwidth ...");
    let (bandwidth, limits, described) = if device == ignis::Device::Cpu {
        let bandwidth = bandwidth::measure(threads, bandwidth::DEFAULT_BUFFER_BYTES, bandwidth::DEFAULT_RUNS);
        if args.limits != cli::LimitsChoice::Bandwidth {
            eprintln!("measuring matmul throughput ...");
        }
        (bandwidth, limits::measure(args.limits).iter().map(limits::MatmulLimit::describe).collect(), None)
    } else {
        // Every workload's tensors (inputs, weights, layers) are made on the GPU.
        ignis::set_default_device(device).map_err(unavailable)?;
        let name = ignis::device_name(device).map_err(unavailable)?;
        let bandwidth = bandwidth::measure_device(device, bandwidth::DEFAULT_BUFFER_BYTES, bandwidth::DEFAULT_RUNS)
            .map_err(unavailable)?;
        (bandwidth, Vec::new(), Some(format!("{device}, {name}")))
    };
    let rows: Vec<Row> = args
        .selected_workloads()
        .into_iter()
        .map(|workload| {
            eprintln!("running {} ...", workload.name());
            measure_workload_on(workload, args.iters.map(|n| n as usize), &bandwidth, device)
        })
        .collect();
    ignis::set_default_device(ignis::Device::Cpu).map_err(unavailable)?;

    let machine = Machine { device: described, cores, threads, bandwidth, limits };
    print!("{}", report::table(&machine, &rows));
    if let Some(path) = &args.json {
        json::write_json(path, &rows)?;
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &rows)?;
    }
    Ok(())
}

/// One row: eager and compiled medians, the first compiled call's time, the largest
/// relative difference between the two (outputs, and gradients for training workloads), and
/// the memory floor.
pub fn measure_workload(workload: Workload, iterations: Option<usize>, bandwidth: &bandwidth::Bandwidth) -> Row {
    measure_workload_on(workload, iterations, bandwidth, ignis::Device::Cpu)
}

/// [`measure_workload`] with the workload's tensors on `device` (which must be the default
/// device): each call waits for the device to finish.
pub fn measure_workload_on(
    workload: Workload,
    iterations: Option<usize>,
    bandwidth: &bandwidth::Bandwidth,
    device: ignis::Device,
) -> Row {
    let mut row = Row::empty(workload.name());
    let calls = iterations.unwrap_or_else(|| workload.default_iterations());
    let (Some(mut eager), Some(mut compiled)) = (workload.prepare(Mode::Eager), workload.prepare(Mode::Compiled))
    else {
        return row;
    };
    if device != ignis::Device::Cpu {
        for prepared in [&mut eager, &mut compiled] {
            let mut call = std::mem::replace(&mut prepared.call, Box::new(|| unreachable!("replaced")));
            prepared.call = Box::new(move || {
                let out = call();
                ignis::synchronize(device).unwrap_or_else(|e| panic!("{e}"));
                out
            });
        }
    }
    // The first call of each, from the same initial state: the accuracy comparison, and
    // for the compiled function its compile time.
    let eager_first = eager.call.as_mut()();
    let eager_gradients = (eager.gradients)();
    let start = std::time::Instant::now();
    let compiled_first = compiled.call.as_mut()();
    row.compile_ms = Some(start.elapsed().as_secs_f64() * 1e3);
    let compiled_gradients = (compiled.gradients)();
    let mut expected = vec![eager_first];
    expected.extend(eager_gradients);
    let mut found = vec![compiled_first];
    found.extend(compiled_gradients);
    row.max_rel_err = Some(max_relative_error(&found, &expected));

    let timing = timing::time_calls(workload.warmup_calls(), calls, &mut eager.call);
    row.eager_ms = Some(timing.median_ms);
    row.floor_ms = eager.bytes_moved.map(|bytes| bandwidth.floor_ms(bytes));
    drop(eager);
    let timing = timing::time_calls(workload.warmup_calls(), calls, &mut compiled.call);
    row.compiled_ms = Some(timing.median_ms);
    row.speedup = Some(row.eager_ms.unwrap_or(0.0) / timing.median_ms);
    row
}

/// `max |found - expected| / max(|expected|, 1e-6)` over every element of every tensor;
/// infinite when the tensors do not line up.
pub fn max_relative_error(found: &[ignis::Tensor], expected: &[ignis::Tensor]) -> f64 {
    if found.len() != expected.len() {
        return f64::INFINITY;
    }
    let mut worst = 0.0f64;
    for (f, e) in found.iter().zip(expected) {
        if f.shape() != e.shape() {
            return f64::INFINITY;
        }
        for (a, b) in f.to_vec::<f64>().iter().zip(e.to_vec::<f64>()) {
            let err = (a - b).abs() / b.abs().max(1e-6);
            worst = if err.is_nan() { f64::INFINITY } else { worst.max(err) };
        }
    }
    worst
}

fn check_writable(path: &Path) -> Result<()> {
    std::fs::File::create(path).map(drop).map_err(|source| Error::Write { path: path.to_path_buf(), source })
}
