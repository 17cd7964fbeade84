//! ignis-runtime: where tensors' bytes live and where eager ops run.
//!
//! Devices, storage, the caching allocator, the thread pool and the hand-written eager CPU
//! kernels (the reference every generated kernel is tested against). The runtime knows
//! dtypes, layouts and the op vocabulary of `ignis-ir`; it never knows about autograd,
//! tracing or the user-facing `Tensor`.

pub mod allocator;
pub mod cpu;
pub mod device;
pub mod element;
pub mod error;
pub mod executor;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod interpret;
pub mod layout;
pub mod parallel;
pub mod program;
pub mod random;
pub mod storage;
pub mod strided;

pub use device::Device;
pub use element::Element;
pub use error::{Error, Result};
pub use layout::Layout;
pub use storage::{Storage, View, write_view};
