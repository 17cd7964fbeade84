//! The `--json` output: an array with one object per workload, keys as BENCHMARKS.md names them.

use crate::error::{Error, Result};
use crate::report::Row;
use std::path::Path;

pub fn to_json(rows: &[Row]) -> Result<String> {
    Ok(serde_json::to_string_pretty(rows)?)
}

pub fn write_json(path: &Path, rows: &[Row]) -> Result<()> {
    let mut text = to_json(rows)?;
    text.push('\n');
    std::fs::write(path, text).map_err(|source| Error::Write { path: path.to_path_buf(), source })
}
