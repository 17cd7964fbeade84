//! Errors the CLI reports to the user: each names the flag or the path that was wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--device {device}: {reason}")]
    DeviceUnavailable { device: String, reason: String },
    #[error("--codegen-only writes GPU code: use it with --device cuda or --device rocm")]
    CodegenNeedsGpu,
    #[error("--arch {arch}: not an architecture for --device {device}; expected {expected}")]
    Arch { arch: String, device: &'static str, expected: &'static str },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot encode the results as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot draw the plot {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;
