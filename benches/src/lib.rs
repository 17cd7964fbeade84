//! ignis-bench: runs the standard workloads of BENCHMARKS.md and reports eager and compiled
//! timings next to the machine's memory and compute limits.
//!
//! The library holds everything but `main`, so tests can drive the parser, the workloads and
//! the writers directly on tiny inputs.

pub mod bandwidth;
pub mod cli;
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
use crate::workloads::Workload;
use std::path::Path;

/// Runs what `args` asks for and prints the table; writes JSON and SVG where asked.
pub fn run(args: &Args) -> Result<()> {
    args.check_supported()?;
    // Fail on an unwritable output path now, not after minutes of measuring.
    for path in args.json.iter().chain(&args.plot) {
        check_writable(path)?;
    }
    if let Some(threads) = args.threads {
        ignis::runtime::set_num_threads(threads as usize);
    }
    let threads = ignis::runtime::num_threads();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    eprintln!("measuring memory bandwidth ...");
    let bandwidth = bandwidth::measure(threads, bandwidth::DEFAULT_BUFFER_BYTES, bandwidth::DEFAULT_RUNS);
    if args.limits != cli::LimitsChoice::Bandwidth {
        eprintln!("measuring matmul throughput ...");
    }
    let limits = limits::measure(args.limits).iter().map(limits::MatmulLimit::describe).collect();
    let rows: Vec<Row> = args
        .selected_workloads()
        .into_iter()
        .map(|workload| {
            eprintln!("running {} ...", workload.name());
            measure_workload(workload, args.iters.map(|n| n as usize), &bandwidth)
        })
        .collect();

    let machine = Machine { cores, threads, bandwidth, limits };
    print!("{}", report::table(&machine, &rows));
    if let Some(path) = &args.json {
        json::write_json(path, &rows)?;
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &rows)?;
    }
    Ok(())
}

/// One row: the eager median where ignis can run the workload, and its memory floor.
pub fn measure_workload(workload: Workload, iterations: Option<usize>, bandwidth: &bandwidth::Bandwidth) -> Row {
    let mut row = Row::empty(workload.name());
    let calls = iterations.unwrap_or_else(|| workload.default_iterations());
    if let Some(mut prepared) = workload.prepare_eager() {
        let timing = timing::time_calls(workload.warmup_calls(), calls, &mut prepared.call);
        row.eager_ms = Some(timing.median_ms);
        row.floor_ms = prepared.bytes_moved.map(|bytes| bandwidth.floor_ms(bytes));
    }
    row
}

fn check_writable(path: &Path) -> Result<()> {
    std::fs::File::create(path).map(drop).map_err(|source| Error::Write { path: path.to_path_buf(), source })
}
