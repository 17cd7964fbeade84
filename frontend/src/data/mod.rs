//! Datasets and batched loading, the analogue of `torch.utils.data`.
//!
//! A [`Dataset`] maps an index to a sample; a [`DataLoader`] walks a dataset in sequential or
//! seeded shuffled order ([`Sampler`]), groups the samples into batches and collates each
//! batch ([`Collate`]), optionally on worker threads that load ahead of the consumer.
//!
//! This module sits on top of `Tensor` and its ops; it knows nothing of autograd internals or
//! the runtime's kernels, and the worker pool knows nothing of datasets.

mod collate;
mod dataset;
mod loader;
mod sampler;
mod worker;

pub use collate::{Collate, CollateFn, default_collate};
pub use dataset::{ConcatDataset, Dataset, SplitLengths, Subset, TensorDataset, random_split};
pub use loader::{DataLoader, DataLoaderBuilder, DataLoaderIter};
pub use sampler::{Sampler, permutation};
