//! Errors the CLI reports to the user: each names the flag or the path that was wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--device {0}: not available in this build; ignis has no GPU backend yet (use --device cpu)")]
    DeviceUnavailable(String),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot encode the results as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot draw the plot {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;
