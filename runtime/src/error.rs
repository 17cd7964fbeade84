//! Errors at the runtime's boundaries: devices and memory.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("out of memory: could not allocate {bytes} bytes")]
    OutOfMemory { bytes: usize },
    #[error("device `{0}` is not available")]
    DeviceUnavailable(String),
    /// A device that this build or this machine cannot open, with why.
    #[error("no device {device}: {reason}")]
    NoDevice { device: String, reason: String },
    /// The GPU driver refused an operation.
    #[error("{device}: {operation} failed: {message}")]
    Driver { device: String, operation: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;
