//! `DataLoader`: batches of a dataset in sequential or shuffled order, on the calling thread
//! or prefetched by worker threads.

use super::collate::{Collate, CollateFn};
use super::dataset::Dataset;
use super::sampler::{Sampler, word_pair};
use super::worker::{LoadFn, WorkerPool};
use crate::random::seed_offset_pair;
use ignis_runtime::random::philox;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a batch is built from the dataset and its indices.
enum Collator<D: Dataset, B> {
    /// The default collate, which may take the dataset's `get_batch` fast path.
    Default(fn(&D, &[usize]) -> B),
    Custom(CollateFn<D::Item, B>),
}

impl<D: Dataset, B> Clone for Collator<D, B> {
    fn clone(&self) -> Self {
        match self {
            Collator::Default(f) => Collator::Default(*f),
            Collator::Custom(f) => Collator::Custom(Arc::clone(f)),
        }
    }
}

/// `get_batch` when the dataset offers it, else `get` for each index and the default collate.
fn default_batch<D: Dataset>(dataset: &D, indices: &[usize]) -> <D::Item as Collate>::Batch
where
    D::Item: Collate,
{
    dataset.get_batch(indices).unwrap_or_else(|| D::Item::collate(indices.iter().map(|&i| dataset.get(i)).collect()))
}

/// Iterates a dataset in batches, like `torch.utils.data.DataLoader`.
///
/// ```
/// # use ignis::{DType, Tensor};
/// # use ignis::data::{DataLoader, TensorDataset};
/// let x = Tensor::arange(0.0, 10.0, 1.0, DType::F32).reshape([5, 2]);
/// let y = Tensor::arange(0.0, 5.0, 1.0, DType::I64);
/// let loader = DataLoader::builder(TensorDataset::new(vec![x, y])).batch_size(2).shuffle(true).seed(7).build();
/// assert_eq!(loader.len(), 3);
/// for batch in &loader {
///     let (xb, yb) = (&batch[0], &batch[1]); // [2, 2] and [2], then [1, 2] and [1]
///     assert_eq!(xb.shape()[0], yb.shape()[0]);
/// }
/// ```
pub struct DataLoader<D: Dataset, B> {
    dataset: Arc<D>,
    collator: Collator<D, B>,
    batch_size: usize,
    drop_last: bool,
    sampler: Sampler,
    num_workers: usize,
    prefetch_factor: usize,
    /// The number of `iter()` calls so far; epoch `e` of a shuffled loader uses order `e`.
    epoch: AtomicU64,
}

/// Options of a [`DataLoader`]; see [`DataLoader::builder`].
pub struct DataLoaderBuilder<D: Dataset, B> {
    dataset: D,
    collator: Collator<D, B>,
    batch_size: usize,
    shuffle: bool,
    seed: Option<u64>,
    drop_last: bool,
    num_workers: usize,
    prefetch_factor: usize,
}

impl<D: Dataset> DataLoader<D, <D::Item as Collate>::Batch>
where
    D::Item: Collate,
{
    /// A loader with the default options: batches of 1, sequential, no workers.
    pub fn new(dataset: D) -> Self {
        Self::builder(dataset).build()
    }

    /// Options for a loader with the default collate, which stacks each field of the samples
    /// along a new dim 0 (for a `TensorDataset`, one `index_select` per tensor instead).
    pub fn builder(dataset: D) -> DataLoaderBuilder<D, <D::Item as Collate>::Batch> {
        DataLoaderBuilder::with_collator(dataset, Collator::Default(default_batch::<D>))
    }
}

impl<D: Dataset, B> DataLoader<D, B> {
    /// Options for a loader whose samples are batched by `collate`; for sample types without
    /// a [`Collate`] implementation.
    pub fn with_collate(
        dataset: D,
        collate: impl Fn(Vec<D::Item>) -> B + Send + Sync + 'static,
    ) -> DataLoaderBuilder<D, B> {
        DataLoaderBuilder::with_collator(dataset, Collator::Custom(Arc::new(collate)))
    }

    /// The number of batches an epoch yields.
    pub fn len(&self) -> usize {
        let samples = self.dataset.len();
        if self.drop_last { samples / self.batch_size } else { samples.div_ceil(self.batch_size) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dataset(&self) -> &D {
        &self.dataset
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The index order: sequential, or shuffled with the seed it was given or drew.
    pub fn sampler(&self) -> Sampler {
        self.sampler
    }

    pub fn num_workers(&self) -> usize {
        self.num_workers
    }
}

impl<D: Dataset + 'static, B: Send + 'static> DataLoader<D, B> {
    /// The batches of the next epoch. A shuffled loader visits a new order each call.
    pub fn iter(&self) -> DataLoaderIter<B> {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed);
        let order = self.sampler.order(self.dataset.len(), epoch);
        let count = self.len();
        let (dataset, collator, batch_size) = (Arc::clone(&self.dataset), self.collator.clone(), self.batch_size);
        let load: LoadFn<B> = Arc::new(move |batch: usize| {
            let start = batch * batch_size;
            let indices = &order[start..order.len().min(start + batch_size)];
            match &collator {
                Collator::Default(build) => build(&dataset, indices),
                Collator::Custom(collate) => collate(indices.iter().map(|&i| dataset.get(i)).collect()),
            }
        });
        let source = if self.num_workers == 0 {
            Source::Inline { load, next: 0, count }
        } else {
            Source::Workers(WorkerPool::spawn(self.num_workers, self.prefetch_factor, count, load))
        };
        DataLoaderIter { source }
    }
}

impl<D: Dataset + 'static, B: Send + 'static> IntoIterator for &DataLoader<D, B> {
    type Item = B;
    type IntoIter = DataLoaderIter<B>;

    fn into_iter(self) -> DataLoaderIter<B> {
        self.iter()
    }
}

impl<D: Dataset, B> DataLoaderBuilder<D, B> {
    fn with_collator(dataset: D, collator: Collator<D, B>) -> Self {
        DataLoaderBuilder {
            dataset,
            collator,
            batch_size: 1,
            shuffle: false,
            seed: None,
            drop_last: false,
            num_workers: 0,
            prefetch_factor: 2,
        }
    }

    /// Samples per batch (default 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        assert!(batch_size > 0, "DataLoader: batch_size must be at least 1");
        self.batch_size = batch_size;
        self
    }

    /// Visit the samples in a new random order each epoch (default off).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed of the shuffled orders. Without one, `build` draws a seed from the global
    /// generator, so `ignis::manual_seed` makes the orders reproducible. Ignored unless
    /// shuffling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Leave out the last batch when it would be smaller than `batch_size` (default off).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Threads that load batches ahead of the consumer; 0 (the default) loads on the thread
    /// that iterates.
    pub fn num_workers(mut self, num_workers: usize) -> Self {
        self.num_workers = num_workers;
        self
    }

    /// Batches each worker may have loaded ahead (default 2).
    pub fn prefetch_factor(mut self, prefetch_factor: usize) -> Self {
        assert!(prefetch_factor > 0, "DataLoader: prefetch_factor must be at least 1");
        self.prefetch_factor = prefetch_factor;
        self
    }

    /// Batch the samples with `collate` instead of the default collate.
    pub fn collate_fn<C>(self, collate: impl Fn(Vec<D::Item>) -> C + Send + Sync + 'static) -> DataLoaderBuilder<D, C> {
        DataLoaderBuilder {
            dataset: self.dataset,
            collator: Collator::Custom(Arc::new(collate)),
            batch_size: self.batch_size,
            shuffle: self.shuffle,
            seed: self.seed,
            drop_last: self.drop_last,
            num_workers: self.num_workers,
            prefetch_factor: self.prefetch_factor,
        }
    }

    pub fn build(self) -> DataLoader<D, B> {
        let sampler = if self.shuffle {
            let seed = self.seed.unwrap_or_else(|| {
                let (seed, offset) = seed_offset_pair(1);
                word_pair(philox(seed, offset))
            });
            Sampler::Shuffled { seed }
        } else {
            Sampler::Sequential
        };
        DataLoader {
            dataset: Arc::new(self.dataset),
            collator: self.collator,
            batch_size: self.batch_size,
            drop_last: self.drop_last,
            sampler,
            num_workers: self.num_workers,
            prefetch_factor: self.prefetch_factor,
            epoch: AtomicU64::new(0),
        }
    }
}

/// The batches of one epoch. Dropping it early stops and joins the workers.
pub struct DataLoaderIter<B> {
    source: Source<B>,
}

enum Source<B> {
    Inline { load: LoadFn<B>, next: usize, count: usize },
    Workers(WorkerPool<B>),
}

impl<B: Send + 'static> Iterator for DataLoaderIter<B> {
    type Item = B;

    fn next(&mut self) -> Option<B> {
        match &mut self.source {
            Source::Inline { load, next, count } => {
                if *next >= *count {
                    return None;
                }
                *next += 1;
                Some(load(*next - 1))
            }
            Source::Workers(pool) => pool.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = match &self.source {
            Source::Inline { next, count, .. } => count - next,
            Source::Workers(pool) => pool.remaining(),
        };
        (remaining, Some(remaining))
    }
}

impl<B: Send + 'static> ExactSizeIterator for DataLoaderIter<B> {}
