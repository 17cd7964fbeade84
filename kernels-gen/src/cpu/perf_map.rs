//! Names generated code for `perf`: with `IGNIS_PERF_MAP=1` every kernel mapped into memory
//! gets a line `START SIZE NAME` in `/tmp/perf-PID.map`, the file `perf report` reads to
//! name samples that fall in JIT code.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Appends the kernel's address range to the map file when profiling is asked for.
pub(crate) fn record(start: *const u8, len: usize, name: &str) {
    static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        let wanted = std::env::var("IGNIS_PERF_MAP").is_ok_and(|v| !v.is_empty() && v != "0");
        if !wanted {
            return None;
        }
        let path = format!("/tmp/perf-{}.map", std::process::id());
        match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                tracing::warn!(target: "ignis::codegen", "IGNIS_PERF_MAP: cannot open {path}: {e}");
                None
            }
        }
    });
    if let Some(file) = file {
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{:x} {:x} ignis::{}", start as usize, len, name);
    }
}
