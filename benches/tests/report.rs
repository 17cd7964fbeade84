//! The JSON, table and plot writers.

use ignis_bench::bandwidth::Bandwidth;
use ignis_bench::report::{self, Machine, Row};
use ignis_bench::workloads::Workload;
use ignis_bench::{json, measure_workload, plot};

const KEYS: [&str; 7] = ["workload", "eager_ms", "compiled_ms", "compile_ms", "speedup", "max_rel_err", "floor_ms"];

fn bandwidth() -> Bandwidth {
    Bandwidth { bytes_per_second: 20e9, buffer_bytes: 512 << 20, threads: 2, runs: 5 }
}

fn measured_row() -> Row {
    Row { eager_ms: Some(12.5), floor_ms: Some(3.355), ..Row::empty("W1") }
}

#[test]
fn json_has_exactly_the_seven_keys_in_order_with_nulls() {
    let rows = [measured_row(), Row::empty("W5")];
    let value: serde_json::Value = serde_json::from_str(&json::to_json(&rows).unwrap()).unwrap();
    let objects = value.as_array().expect("a JSON array");
    assert_eq!(objects.len(), 2);
    for object in objects {
        let keys: Vec<&str> = object.as_object().expect("objects").keys().map(String::as_str).collect();
        let mut expected = KEYS.to_vec();
        // serde_json without `preserve_order` sorts keys; compare as sets of exactly seven.
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(sorted, expected);
    }
    assert_eq!(objects[0]["workload"], "W1");
    assert_eq!(objects[0]["eager_ms"], 12.5);
    assert_eq!(objects[0]["floor_ms"], 3.355);
    for key in ["compiled_ms", "compile_ms", "speedup", "max_rel_err"] {
        assert!(objects[0][key].is_null(), "{key}: compile() does not exist yet");
    }
    for key in &KEYS[1..] {
        assert!(objects[1][key].is_null(), "W5 {key}");
    }
}

#[test]
fn json_field_order_follows_benchmarks_md() {
    let text = json::to_json(&[Row::empty("W7")]).unwrap();
    let positions: Vec<usize> =
        KEYS.iter().map(|key| text.find(&format!("\"{key}\"")).expect("every key present")).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
}

#[test]
fn json_file_write_reports_the_path_on_failure() {
    let path = std::path::Path::new("/nonexistent-directory/results.json");
    let error = json::write_json(path, &[Row::empty("W1")]).expect_err("no such directory").to_string();
    assert!(error.contains("/nonexistent-directory/results.json"), "{error}");
}

#[test]
fn measured_w7_has_eager_and_compiled_times_and_no_floor() {
    let row = measure_workload(Workload::W7, Some(2), &bandwidth());
    assert!(row.eager_ms.is_some_and(|ms| ms > 0.0));
    assert_eq!(row.floor_ms, None, "W7 is overhead bound: no memory floor");
    assert!(row.compiled_ms.is_some_and(|ms| ms > 0.0));
    assert!(row.compile_ms.is_some_and(|ms| ms > 0.0));
    // The chain is one generated kernel: its tanh polynomial and fma differ from the eager
    // kernels in the last bits, compounded over 100 ops.
    assert!(row.max_rel_err.is_some_and(|e| e < 1e-4), "{:?}", row.max_rel_err);
}

#[test]
fn floor_is_bytes_over_bandwidth() {
    // 20 GB/s moves 20 MB in 1 ms.
    assert!((bandwidth().floor_ms(20_000_000) - 1.0).abs() < 1e-12);
}

#[test]
fn table_names_machine_and_marks_missing_values() {
    let machine = Machine {
        device: None,
        cores: 2,
        threads: 2,
        bandwidth: bandwidth(),
        limits: vec![("f32 matmul 1024^3".into(), "150 GFLOP/s".into())],
    };
    let text = report::table(&machine, &[measured_row(), Row::empty("W7")]);
    assert!(text.contains("2 cores, 2 threads, memory bandwidth 20.0 GB/s"), "{text}");
    assert!(text.contains("  f32 matmul 1024^3  150 GFLOP/s"), "{text}");
    let w1 = text.lines().find(|line| line.starts_with("W1")).expect("a W1 line");
    assert!(w1.contains("12.5") && w1.contains("3.35") && w1.contains("not yet"), "{w1}");
    let w7 = text.lines().find(|line| line.starts_with("W7")).expect("a W7 line");
    assert!(w7.ends_with(" -"), "no floor applies to W7: {w7}");
}

#[test]
fn plot_writes_an_svg_naming_each_workload() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ignis-bench-plot-test.svg");
    plot::draw(&path, &[measured_row(), Row::empty("W5"), Row { eager_ms: Some(0.05), ..Row::empty("W7") }])
        .expect("plot written");
    let svg = std::fs::read_to_string(&path).expect("plot readable");
    assert!(svg.starts_with("<svg"));
    for name in ["W1", "W5", "W7", "eager"] {
        assert!(svg.contains(name), "{name} missing from the plot");
    }
}

#[test]
fn median_of_even_and_odd_counts() {
    assert_eq!(ignis_bench::timing::median(&mut [3.0, 1.0, 2.0]), 2.0);
    assert_eq!(ignis_bench::timing::median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
}

#[test]
fn bandwidth_measurement_runs_on_a_small_buffer() {
    let measured = ignis_bench::bandwidth::measure(1, 1 << 20, 1);
    assert!(measured.bytes_per_second.is_finite() && measured.bytes_per_second > 0.0);
    assert_eq!(measured.buffer_bytes, 1 << 20);
}
