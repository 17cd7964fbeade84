//! The `--plot` output: eager and compiled milliseconds per workload (and the memory floor
//! where one applies) as points on a log scale, since the workloads span four decades.

use crate::error::{Error, Result};
use crate::report::Row;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::Path;

/// A plotted series: its legend label, its colour, and the value it takes from a row.
type Series = (&'static str, RGBColor, fn(&Row) -> Option<f64>);

pub fn draw(path: &Path, rows: &[Row]) -> Result<()> {
    let failed = |error: &dyn std::fmt::Display| Error::Plot { path: path.to_path_buf(), message: error.to_string() };
    if rows.is_empty() {
        return Err(failed(&"no workloads to plot"));
    }
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|row| [row.eager_ms, row.compiled_ms, row.floor_ms])
        .flatten()
        .filter(|value| *value > 0.0)
        .collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    // Headroom of 2x either side keeps points off the frame; a fixed range when nothing ran.
    let (low, high) = if values.is_empty() { (0.01, 1000.0) } else { (low / 2.0, high * 2.0) };

    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("ignis-bench: milliseconds per call (log scale)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((0..rows.len()).into_segmented(), (low..high).log_scale())
        .map_err(|e| failed(&e))?;
    let workload_name = |value: &SegmentValue<usize>| match value {
        SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => {
            rows.get(*index).map(|row| row.workload.clone()).unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&workload_name)
        .y_desc("ms per call")
        .draw()
        .map_err(|e| failed(&e))?;

    let at = |index: usize, value: f64| (SegmentValue::CenterOf(index), value);
    let series: [Series; 3] = [
        ("eager", BLUE, |row| row.eager_ms),
        ("compiled", RED, |row| row.compiled_ms),
        ("memory floor", RGBColor(0, 140, 0), |row| row.floor_ms),
    ];
    for (label, color, pick) in series {
        let points: Vec<_> =
            rows.iter().enumerate().filter_map(|(index, row)| pick(row).map(|value| at(index, value))).collect();
        chart
            .draw_series(points.into_iter().map(|point| Circle::new(point, 6, color.filled())))
            .map_err(|e| failed(&e))?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 8, y), 6, color.filled()));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}
