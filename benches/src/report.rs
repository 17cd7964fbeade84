//! One result row per workload, and the human table printed on stdout.

use crate::bandwidth::Bandwidth;
use serde::Serialize;
use std::fmt::Write;

/// A workload's results. Serialized field for field as the JSON keys of BENCHMARKS.md, in
/// that order; `None` is `null` (not measured yet, or not applicable).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    pub workload: String,
    pub eager_ms: Option<f64>,
    pub compiled_ms: Option<f64>,
    pub compile_ms: Option<f64>,
    pub speedup: Option<f64>,
    pub max_rel_err: Option<f64>,
    pub floor_ms: Option<f64>,
}

impl Row {
    /// A row with nothing measured yet.
    pub fn empty(workload: &str) -> Row {
        Row {
            workload: workload.to_string(),
            eager_ms: None,
            compiled_ms: None,
            compile_ms: None,
            speedup: None,
            max_rel_err: None,
            floor_ms: None,
        }
    }
}

/// What the table header says about the machine and the run.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The GPU the workloads ran on (`cuda:0, NVIDIA H100 80GB HBM3`); `None` on the CPU.
    pub device: Option<String>,
    pub cores: usize,
    pub threads: usize,
    pub bandwidth: Bandwidth,
    /// Compute limits as (label, value) lines, e.g. ("f32 matmul 1024^3", "180 GFLOP/s").
    pub limits: Vec<(String, String)>,
}

/// The header, the limits section and one line per row.
pub fn table(machine: &Machine, rows: &[Row]) -> String {
    let mut out = String::new();
    let bandwidth = &machine.bandwidth;
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "ignis-bench: {}, {} cores, {} threads, memory bandwidth {:.1} GB/s",
        machine.device.as_deref().unwrap_or("cpu"),
        machine.cores,
        machine.threads,
        bandwidth.gigabytes_per_second()
    );
    let _ = writeln!(out, "\nlimits");
    let bandwidth_line = match machine.device {
        None => format!(
            "{:.1} GB/s (parallel copy of {} MiB on {} threads, best of {}, read+write counted)",
            bandwidth.gigabytes_per_second(),
            bandwidth.buffer_bytes >> 20,
            bandwidth.threads,
            bandwidth.runs
        ),
        Some(_) => format!(
            "{:.1} GB/s (device-to-device copy of {} MiB, best of {}, read+write counted)",
            bandwidth.gigabytes_per_second(),
            bandwidth.buffer_bytes >> 20,
            bandwidth.runs
        ),
    };
    let limits = std::iter::once(("memory bandwidth", bandwidth_line.as_str()))
        .chain(machine.limits.iter().map(|(label, value)| (label.as_str(), value.as_str())));
    for (label, value) in limits {
        let _ = writeln!(out, "  {label:<19}{value}");
    }
    let _ = writeln!(out);
    let header = ["workload", "eager_ms", "compiled_ms", "compile_ms", "speedup", "max_rel_err", "floor_ms"];
    let mut lines = vec![header.map(String::from).to_vec()];
    for row in rows {
        lines.push(vec![
            row.workload.clone(),
            cell(row.eager_ms, milliseconds),
            cell(row.compiled_ms, milliseconds),
            cell(row.compile_ms, milliseconds),
            cell(row.speedup, |v| format!("{v:.2}x")),
            cell(row.max_rel_err, |v| format!("{v:.1e}")),
            // A missing floor means none applies (only W1-W3 are memory bound), not "later".
            row.floor_ms.map_or_else(|| "-".to_string(), milliseconds),
        ]);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|column| lines.iter().map(|line| line[column].len()).max().unwrap_or(0)).collect();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(
                |(column, (text, &width))| {
                    if column == 0 { format!("{text:<width$}") } else { format!("{text:>width$}") }
                },
            )
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

fn cell(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "not yet".to_string(), format)
}

/// Three significant digits from 0.01 ms to seconds.
fn milliseconds(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}
