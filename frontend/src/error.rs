//! Errors at the library's boundaries: files, weights, data sets, devices, options.
//! Programmer errors (a shape or dtype mismatch) panic instead, with a message that
//! names the op, the shapes and what was expected.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Runtime(#[from] ignis_runtime::Error),
    /// `load_state_dict` found missing, unexpected or mis-shaped keys.
    #[error("load_state_dict: {0}")]
    StateDict(String),
    /// A weights file that cannot be read as what it claims to be.
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error("{0}")]
    Msg(String),
    #[error("optimizer state: {0}")]
    Optimizer(String),
}

pub type Result<T> = std::result::Result<T, Error>;
