//! Datasets: indexable collections of samples, and the ways to combine and split them.

use super::collate::Collate;
use super::sampler::permutation;
use crate::tensor::Tensor;
use std::sync::Arc;

/// A collection of `len()` samples addressed by index, like `torch.utils.data.Dataset`.
///
/// Datasets are `Send + Sync` so that loader workers can share one behind an `Arc`.
pub trait Dataset: Send + Sync {
    /// One sample.
    type Item;

    /// The number of samples.
    fn len(&self) -> usize;

    /// Sample `index`; panics when `index >= len()`.
    fn get(&self, index: usize) -> Self::Item;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The default-collated batch of the samples at `indices`, when the dataset can build it
    /// faster than `get` followed by [`Collate::collate`]; `None` (the default) means it
    /// cannot. A result must equal what `get` and `collate` give.
    fn get_batch(&self, indices: &[usize]) -> Option<<Self::Item as Collate>::Batch>
    where
        Self::Item: Collate,
    {
        let _ = indices;
        None
    }
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        (**self).len()
    }

    fn get(&self, index: usize) -> D::Item {
        (**self).get(index)
    }

    fn get_batch(&self, indices: &[usize]) -> Option<<Self::Item as Collate>::Batch>
    where
        Self::Item: Collate,
    {
        (**self).get_batch(indices)
    }
}

fn check_index(what: &str, index: usize, len: usize) {
    assert!(index < len, "{what}: index {index} is out of range for a dataset of {len} samples");
}

/// Samples are the rows of some tensors: sample `i` holds row `i` (along dim 0) of each.
#[derive(Clone)]
pub struct TensorDataset {
    tensors: Vec<Tensor>,
}

impl TensorDataset {
    /// Panics unless there is at least one tensor and all have the same size along dim 0.
    pub fn new(tensors: Vec<Tensor>) -> TensorDataset {
        assert!(!tensors.is_empty(), "TensorDataset: expected at least one tensor");
        for t in &tensors {
            assert!(t.rank() > 0, "TensorDataset: a 0-d tensor has no dim 0 to index, got {}", t.describe());
        }
        let rows = tensors[0].shape()[0];
        if let Some(t) = tensors.iter().find(|t| t.shape()[0] != rows) {
            panic!(
                "TensorDataset: all tensors need the same size along dim 0, got {} and {} ({rows} and {} rows)",
                tensors[0].describe(),
                t.describe(),
                t.shape()[0]
            );
        }
        TensorDataset { tensors }
    }

    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }
}

impl Dataset for TensorDataset {
    type Item = Vec<Tensor>;

    fn len(&self) -> usize {
        self.tensors[0].shape()[0]
    }

    fn get(&self, index: usize) -> Vec<Tensor> {
        check_index("TensorDataset", index, self.len());
        self.tensors.iter().map(|t| t.select(0, index)).collect()
    }

    /// One `index_select` per tensor instead of stacking one view per sample.
    fn get_batch(&self, indices: &[usize]) -> Option<Vec<Tensor>> {
        let len = self.len();
        let rows: Vec<i64> = indices
            .iter()
            .map(|&i| {
                check_index("TensorDataset", i, len);
                i as i64
            })
            .collect();
        let rows = Tensor::from_vec(rows, [indices.len()]);
        Some(self.tensors.iter().map(|t| t.index_select(0, &rows)).collect())
    }
}

/// The samples of `dataset` at `indices`, in that order.
pub struct Subset<D: Dataset> {
    dataset: Arc<D>,
    indices: Vec<usize>,
}

impl<D: Dataset> Clone for Subset<D> {
    fn clone(&self) -> Self {
        Subset { dataset: Arc::clone(&self.dataset), indices: self.indices.clone() }
    }
}

impl<D: Dataset> Subset<D> {
    /// Panics when an index is out of range for `dataset`.
    pub fn new(dataset: Arc<D>, indices: Vec<usize>) -> Subset<D> {
        let len = dataset.len();
        for &i in &indices {
            check_index("Subset", i, len);
        }
        Subset { dataset, indices }
    }

    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }

    /// The positions in the underlying dataset, in the subset's order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn get(&self, index: usize) -> D::Item {
        check_index("Subset", index, self.len());
        self.dataset.get(self.indices[index])
    }

    fn get_batch(&self, indices: &[usize]) -> Option<<Self::Item as Collate>::Batch>
    where
        Self::Item: Collate,
    {
        let len = self.len();
        let inner: Vec<usize> = indices
            .iter()
            .map(|&i| {
                check_index("Subset", i, len);
                self.indices[i]
            })
            .collect();
        self.dataset.get_batch(&inner)
    }
}

/// Several datasets one after another.
pub struct ConcatDataset<D: Dataset> {
    parts: Vec<D>,
    /// `ends[k]` is one past the last index of part `k`.
    ends: Vec<usize>,
}

impl<D: Dataset> ConcatDataset<D> {
    pub fn new(parts: Vec<D>) -> ConcatDataset<D> {
        let ends = parts
            .iter()
            .scan(0, |end, part| {
                *end += part.len();
                Some(*end)
            })
            .collect();
        ConcatDataset { parts, ends }
    }

    pub fn parts(&self) -> &[D] {
        &self.parts
    }
}

impl<D: Dataset> Dataset for ConcatDataset<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    fn get(&self, index: usize) -> D::Item {
        check_index("ConcatDataset", index, self.len());
        let part = self.ends.partition_point(|&end| end <= index);
        let start = if part == 0 { 0 } else { self.ends[part - 1] };
        self.parts[part].get(index - start)
    }
}

/// How [`random_split`] sizes its pieces: sample counts, or fractions of the dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitLengths {
    /// Exact sizes, summing to the dataset's length.
    Counts(Vec<usize>),
    /// Fractions in `[0, 1]` summing to 1; each piece gets `floor(len * fraction)` samples
    /// and the remainder is handed out one at a time, round-robin from the first piece.
    Fractions(Vec<f64>),
}

impl From<Vec<usize>> for SplitLengths {
    fn from(counts: Vec<usize>) -> Self {
        SplitLengths::Counts(counts)
    }
}

impl From<&[usize]> for SplitLengths {
    fn from(counts: &[usize]) -> Self {
        SplitLengths::Counts(counts.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for SplitLengths {
    fn from(counts: [usize; N]) -> Self {
        SplitLengths::Counts(counts.to_vec())
    }
}

impl From<Vec<f64>> for SplitLengths {
    fn from(fractions: Vec<f64>) -> Self {
        SplitLengths::Fractions(fractions)
    }
}

impl From<&[f64]> for SplitLengths {
    fn from(fractions: &[f64]) -> Self {
        SplitLengths::Fractions(fractions.to_vec())
    }
}

impl<const N: usize> From<[f64; N]> for SplitLengths {
    fn from(fractions: [f64; N]) -> Self {
        SplitLengths::Fractions(fractions.to_vec())
    }
}

impl SplitLengths {
    /// The sample count of each piece of a dataset of `len` samples.
    pub fn counts(&self, len: usize) -> Vec<usize> {
        let counts = match self {
            SplitLengths::Counts(counts) => counts.clone(),
            SplitLengths::Fractions(fractions) => {
                let total: f64 = fractions.iter().sum();
                assert!(
                    fractions.iter().all(|f| (0.0..=1.0).contains(f)) && (total - 1.0).abs() <= 1e-9,
                    "random_split: fractions must lie in [0, 1] and sum to 1, got {fractions:?} (sum {total})"
                );
                let mut counts: Vec<usize> = fractions.iter().map(|f| (len as f64 * f).floor() as usize).collect();
                let remainder = len.saturating_sub(counts.iter().sum());
                let pieces = counts.len();
                for i in 0..remainder {
                    counts[i % pieces] += 1;
                }
                counts
            }
        };
        let total: usize = counts.iter().sum();
        assert_eq!(
            total, len,
            "random_split: the lengths {counts:?} sum to {total}, but the dataset has {len} samples"
        );
        counts
    }
}

/// Splits `dataset` into non-overlapping random subsets of the given sizes, like
/// `torch.utils.data.random_split`; the same seed gives the same split.
///
/// ```
/// # use ignis::{DType, Tensor};
/// # use ignis::data::{Dataset, TensorDataset, random_split};
/// let data = TensorDataset::new(vec![Tensor::arange(0.0, 10.0, 1.0, DType::F32)]);
/// let parts = random_split(data, [0.8, 0.2], 42);
/// assert_eq!((parts[0].len(), parts[1].len()), (8, 2));
/// ```
pub fn random_split<D: Dataset>(dataset: D, lengths: impl Into<SplitLengths>, seed: u64) -> Vec<Subset<D>> {
    let dataset = Arc::new(dataset);
    let counts = lengths.into().counts(dataset.len());
    let order = permutation(dataset.len(), seed);
    let mut start = 0;
    counts
        .into_iter()
        .map(|count| {
            let indices = order[start..start + count].to_vec();
            start += count;
            Subset { dataset: Arc::clone(&dataset), indices }
        })
        .collect()
}
