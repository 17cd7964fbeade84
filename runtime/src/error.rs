//! Errors at the runtime's boundaries: devices and memory.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("out of memory: could not allocate {bytes} bytes")]
    OutOfMemory { bytes: usize },
    #[error("device `{0}` is not available")]
    DeviceUnavailable(String),
}

pub type Result<T> = std::result::Result<T, Error>;
