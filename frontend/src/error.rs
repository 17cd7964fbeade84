//! Errors at the library's boundaries: files, weights, data sets, devices, options.
//! Programmer errors (a shape or dtype mismatch) panic instead, with a message that
//! names the op, the shapes and what was expected.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Runtime(ignis_runtime::Error),
    /// A device this build or this machine does not have (`Device::Cuda` without the `gpu`
    /// feature, without a CUDA driver, or past the last GPU), with why.
    #[error("no device {device}: {reason}")]
    NoDevice { device: String, reason: String },
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

impl From<ignis_runtime::Error> for Error {
    fn from(e: ignis_runtime::Error) -> Error {
        match e {
            ignis_runtime::Error::NoDevice { device, reason } => Error::NoDevice { device, reason },
            other => Error::Runtime(other),
        }
    }
}
