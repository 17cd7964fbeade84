//! `ignis::data`: datasets, samplers, collation, the loader and its worker threads.
//!
//! Only `shuffle_without_a_seed_follows_manual_seed` touches the global generator, so tests
//! running beside it cannot change what it draws.

use ignis::data::{
    ConcatDataset, DataLoader, Dataset, Sampler, Subset, TensorDataset, default_collate, permutation, random_split,
};
use ignis::{DType, Tensor};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// `n` samples: features `[2i, 2i + 1]` (f32) and label `i` (i64).
fn rows(n: usize) -> TensorDataset {
    let x = Tensor::arange(0.0, 2.0 * n as f64, 1.0, DType::F32).reshape([n, 2]);
    let y = Tensor::arange(0.0, n as f64, 1.0, DType::I64);
    TensorDataset::new(vec![x, y])
}

/// The labels of each batch of an epoch of a `rows` loader, checking features against labels.
fn labels<D: Dataset<Item = Vec<Tensor>> + 'static>(loader: &DataLoader<D, Vec<Tensor>>) -> Vec<Vec<i64>> {
    loader
        .iter()
        .map(|batch| {
            assert_eq!(batch.len(), 2);
            let y = batch[1].to_vec::<i64>();
            let expected: Vec<f32> = y.iter().flat_map(|&i| [2.0 * i as f32, 2.0 * i as f32 + 1.0]).collect();
            assert_eq!(batch[0].shape(), &[y.len(), 2]);
            assert_eq!(batch[0].to_vec::<f32>(), expected);
            y
        })
        .collect()
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ---- datasets ----

#[test]
fn tensor_dataset_items_are_rows_of_each_tensor() {
    let data = rows(5);
    assert_eq!(data.len(), 5);
    let item = data.get(3);
    assert_eq!(item.len(), 2);
    assert_eq!(item[0].shape(), &[2]);
    assert_eq!(item[0].to_vec::<f32>(), vec![6.0, 7.0]);
    assert_eq!(item[1].shape(), &[] as &[usize]);
    assert_eq!(item[1].item::<i64>(), 3);
}

#[test]
#[should_panic(expected = "TensorDataset: all tensors need the same size along dim 0, got f32[4,2] and i64[3]")]
fn tensor_dataset_rejects_different_row_counts() {
    TensorDataset::new(vec![Tensor::zeros([4, 2], DType::F32), Tensor::zeros([3], DType::I64)]);
}

#[test]
#[should_panic(expected = "TensorDataset: index 5 is out of range for a dataset of 5 samples")]
fn tensor_dataset_index_out_of_range_panics() {
    rows(5).get(5);
}

#[test]
#[should_panic(expected = "Subset: index 9 is out of range for a dataset of 4 samples")]
fn subset_rejects_indices_outside_the_dataset() {
    Subset::new(Arc::new(rows(4)), vec![0, 9]);
}

#[test]
fn subset_and_concat_map_indices() {
    let subset = Subset::new(Arc::new(rows(6)), vec![4, 1, 5]);
    assert_eq!(subset.len(), 3);
    assert_eq!(subset.get(0)[1].item::<i64>(), 4);
    assert_eq!(subset.get(2)[0].to_vec::<f32>(), vec![10.0, 11.0]);

    let concat = ConcatDataset::new(vec![rows(2), rows(0), rows(3)]);
    assert_eq!(concat.len(), 5);
    let got: Vec<i64> = (0..5).map(|i| concat.get(i)[1].item::<i64>()).collect();
    assert_eq!(got, vec![0, 1, 0, 1, 2]);
}

// ---- sampling ----

#[test]
fn permutations_are_uniform() {
    // Each of the 24 orders of 4 elements should come up about 1000 times in 24000 seeds
    // (standard deviation about 31); a skewed shuffle would miss some orders entirely.
    let mut counts: HashMap<Vec<usize>, usize> = HashMap::new();
    for seed in 0..24_000 {
        *counts.entry(permutation(4, seed)).or_default() += 1;
    }
    assert_eq!(counts.len(), 24);
    assert!(counts.values().all(|&c| (850..1150).contains(&c)), "{counts:?}");
}

#[test]
fn sampler_orders() {
    assert_eq!(Sampler::Sequential.order(4, 7), vec![0, 1, 2, 3]);
    let shuffled = Sampler::Shuffled { seed: 5 };
    assert_eq!(shuffled.order(50, 0), shuffled.order(50, 0));
    assert_ne!(shuffled.order(50, 0), shuffled.order(50, 1));
    let mut order = shuffled.order(50, 3);
    order.sort();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
}

// ---- loading ----

#[test]
fn sequential_batches_and_the_last_partial_one() {
    let loader = DataLoader::builder(rows(5)).batch_size(2).build();
    assert_eq!(loader.len(), 3);
    assert_eq!(loader.iter().len(), 3);
    assert_eq!(labels(&loader), vec![vec![0, 1], vec![2, 3], vec![4]]);
}

#[test]
fn default_options_give_batches_of_one() {
    let loader = DataLoader::new(rows(3));
    let batches: Vec<Vec<Tensor>> = loader.iter().collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[2][0].shape(), &[1, 2]);
    assert_eq!(batches[2][1].to_vec::<i64>(), vec![2]);
}

#[test]
fn drop_last_controls_the_partial_batch() {
    let keep = DataLoader::builder(rows(10)).batch_size(3).build();
    assert_eq!(keep.len(), 4);
    let sizes: Vec<usize> = labels(&keep).iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![3, 3, 3, 1]);

    let drop = DataLoader::builder(rows(10)).batch_size(3).drop_last(true).build();
    assert_eq!(drop.len(), 3);
    assert_eq!(labels(&drop), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]]);

    // An exact multiple loses nothing; a dataset smaller than a batch gives none.
    assert_eq!(DataLoader::builder(rows(9)).batch_size(3).drop_last(true).build().len(), 3);
    let tiny = DataLoader::builder(rows(2)).batch_size(3).drop_last(true).build();
    assert_eq!((tiny.len(), tiny.iter().count()), (0, 0));
}

#[test]
fn an_empty_dataset_gives_no_batches() {
    let empty = TensorDataset::new(vec![Tensor::zeros([0, 3], DType::F32)]);
    let loader = DataLoader::builder(empty).batch_size(4).num_workers(2).build();
    assert!(loader.is_empty());
    assert_eq!(loader.iter().count(), 0);
}

#[test]
fn shuffle_visits_every_sample_once_per_epoch() {
    let loader = DataLoader::builder(rows(100)).batch_size(7).shuffle(true).seed(11).build();
    for _ in 0..3 {
        let epoch = labels(&loader);
        assert_eq!(epoch.len(), 15);
        assert_eq!(epoch.last().unwrap().len(), 2);
        let mut seen: Vec<i64> = epoch.concat();
        assert_ne!(seen, (0..100).collect::<Vec<_>>(), "the order should be shuffled");
        seen.sort();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}

#[test]
fn same_seed_same_orders_and_each_epoch_reshuffles() {
    let build = |seed| DataLoader::builder(rows(40)).batch_size(8).shuffle(true).seed(seed).build();
    let (a, b, c) = (build(3), build(3), build(4));
    let a_epochs: Vec<Vec<Vec<i64>>> = (0..3).map(|_| labels(&a)).collect();
    let b_epochs: Vec<Vec<Vec<i64>>> = (0..3).map(|_| labels(&b)).collect();
    assert_eq!(a_epochs, b_epochs);
    assert_ne!(a_epochs[0], a_epochs[1]);
    assert_ne!(a_epochs[1], a_epochs[2]);
    assert_ne!(a_epochs[0], labels(&c));
    assert_eq!(a.sampler(), Sampler::Shuffled { seed: 3 });
}

#[test]
fn shuffle_without_a_seed_follows_manual_seed() {
    let epochs = |seed| {
        ignis::manual_seed(seed);
        let loader = DataLoader::builder(rows(30)).batch_size(30).shuffle(true).build();
        [labels(&loader), labels(&loader)]
    };
    let first = epochs(21);
    assert_eq!(first, epochs(21));
    assert_ne!(first[0], first[1]);
    assert_ne!(first, epochs(22));
}

#[test]
fn fast_path_matches_stacking_samples() {
    // The default collate of a TensorDataset takes one index_select per tensor; collating
    // with `default_collate` stacks the per-sample views instead.
    let x = Tensor::arange(0.0, 60.0, 1.0, DType::F64).reshape([10, 3, 2]).permute(&[0, 2, 1]);
    let y = Tensor::arange(0.0, 10.0, 1.0, DType::I64);
    let data = TensorDataset::new(vec![x, y]);
    let fast = DataLoader::builder(data.clone()).batch_size(4).shuffle(true).seed(2).build();
    let slow =
        DataLoader::builder(data.clone()).batch_size(4).shuffle(true).seed(2).collate_fn(default_collate).build();
    let (fast, slow): (Vec<_>, Vec<_>) = (fast.iter().collect(), slow.iter().collect());
    assert_eq!(fast.len(), 3);
    for (f, s) in fast.iter().zip(&slow) {
        assert_eq!(f[0].shape(), s[0].shape());
        assert_eq!(f[0].dtype(), DType::F64);
        assert_eq!(f[0].to_vec::<f64>(), s[0].to_vec::<f64>());
        assert_eq!(f[1].dtype(), DType::I64);
        assert_eq!(f[1].to_vec::<i64>(), s[1].to_vec::<i64>());
    }
    // Through a subset the fast path reads the subset's rows.
    let subset = Subset::new(Arc::new(data), vec![9, 0, 4]);
    let batch = DataLoader::builder(subset).batch_size(3).build().iter().next().unwrap();
    assert_eq!(batch[1].to_vec::<i64>(), vec![9, 0, 4]);
    assert_eq!(batch[0].shape(), &[3, 2, 3]);
    // Sample 9 of x, transposed: [[54, 56, 58], [55, 57, 59]].
    assert_eq!(batch[0].select(0, 0).to_vec::<f64>(), vec![54.0, 56.0, 58.0, 55.0, 57.0, 59.0]);
}

#[test]
fn custom_collate_receives_the_samples_of_each_batch() {
    let loader = DataLoader::builder(rows(7))
        .batch_size(3)
        .collate_fn(|samples: Vec<Vec<Tensor>>| {
            let labels: Vec<i64> = samples.iter().map(|s| s[1].item::<i64>()).collect();
            (samples.len(), labels.iter().sum::<i64>())
        })
        .build();
    let batches: Vec<(usize, i64)> = loader.iter().collect();
    // Labels 0 + 1 + 2, 3 + 4 + 5 and 6.
    assert_eq!(batches, vec![(3, 3), (3, 12), (1, 6)]);
}

/// A dataset of plain numbers, to check collation of tuples and loaders over any item type.
struct Squares;

impl Dataset for Squares {
    type Item = (Tensor, i64);

    fn len(&self) -> usize {
        5
    }

    fn get(&self, index: usize) -> (Tensor, i64) {
        (Tensor::from_vec(vec![index as f32; 2], [2]), (index * index) as i64)
    }
}

#[test]
fn default_collate_batches_tuples_and_numbers() {
    let loader = DataLoader::builder(Squares).batch_size(2).build();
    let batches: Vec<(Tensor, Tensor)> = loader.iter().collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[1].0.shape(), &[2, 2]);
    assert_eq!(batches[1].0.to_vec::<f32>(), vec![2.0, 2.0, 3.0, 3.0]);
    assert_eq!(batches[1].1.dtype(), DType::I64);
    assert_eq!(batches[1].1.to_vec::<i64>(), vec![4, 9]);
    assert_eq!(batches[2].1.to_vec::<i64>(), vec![16]);

    // A loader over items without a default collate.
    let names = DataLoader::with_collate(Squares, |s: Vec<(Tensor, i64)>| {
        format!("{:?}", s.iter().map(|p| p.1).collect::<Vec<_>>())
    })
    .batch_size(4)
    .build();
    assert_eq!(names.iter().collect::<Vec<_>>(), vec!["[0, 1, 4, 9]".to_string(), "[16]".to_string()]);
}

// ---- workers ----

/// Rows whose loading takes longer for some indices, so workers finish out of order.
struct Uneven {
    inner: TensorDataset,
    loaded: Arc<AtomicUsize>,
}

impl Dataset for Uneven {
    type Item = Vec<Tensor>;

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn get(&self, index: usize) -> Vec<Tensor> {
        if index.is_multiple_of(5) {
            thread::sleep(Duration::from_micros(300));
        }
        self.loaded.fetch_add(1, Ordering::SeqCst);
        self.inner.get(index)
    }
}

fn uneven(n: usize) -> (Uneven, Arc<AtomicUsize>) {
    let loaded = Arc::new(AtomicUsize::new(0));
    (Uneven { inner: rows(n), loaded: Arc::clone(&loaded) }, loaded)
}

#[test]
fn workers_deliver_the_same_batches_in_the_same_order() {
    for (shuffle, drop_last) in [(false, false), (true, false), (true, true)] {
        let build = |workers| {
            DataLoader::builder(uneven(53).0)
                .batch_size(4)
                .shuffle(shuffle)
                .seed(9)
                .drop_last(drop_last)
                .num_workers(workers)
                .build()
        };
        let reference = build(0);
        let expected = [labels(&reference), labels(&reference)];
        assert_eq!(expected[0].len(), if drop_last { 13 } else { 14 });
        for workers in [1, 2, 4] {
            let loader = build(workers);
            assert_eq!([labels(&loader), labels(&loader)], expected, "{workers} workers, shuffle {shuffle}");
        }
    }
    // The fast path on workers too.
    let plain = DataLoader::builder(rows(21)).batch_size(5).shuffle(true).seed(1).build();
    let threaded = DataLoader::builder(rows(21)).batch_size(5).shuffle(true).seed(1).num_workers(3).build();
    assert_eq!(labels(&threaded), labels(&plain));
}

#[test]
fn dropping_the_iterator_early_stops_and_joins_the_workers() {
    let (data, loaded) = uneven(10_000);
    let loader = DataLoader::builder(data).batch_size(1).num_workers(4).prefetch_factor(2).build();
    let mut batches = loader.iter();
    assert_eq!(batches.next().unwrap()[1].to_vec::<i64>(), vec![0]);
    assert_eq!(batches.next().unwrap()[1].to_vec::<i64>(), vec![1]);
    drop(batches);
    // Each worker can have had at most its queue full plus the batch it was loading.
    let after_drop = loaded.load(Ordering::SeqCst);
    assert!((2..=2 + 4 * (2 + 1)).contains(&after_drop), "{after_drop} samples loaded");
    // The workers were joined, so nothing loads any more.
    thread::sleep(Duration::from_millis(20));
    assert_eq!(loaded.load(Ordering::SeqCst), after_drop);

    // An iterator dropped before its first batch, and the next epoch still works.
    drop(loader.iter());
    assert_eq!(loader.iter().take(3).count(), 3);
}

/// Panics on one sample.
struct Cursed;

impl Dataset for Cursed {
    type Item = Vec<Tensor>;

    fn len(&self) -> usize {
        40
    }

    fn get(&self, index: usize) -> Vec<Tensor> {
        assert_ne!(index, 13, "sample 13 is cursed");
        vec![Tensor::scalar(index as i64)]
    }
}

#[test]
#[should_panic(expected = "sample 13 is cursed")]
fn a_worker_panic_reaches_the_consumer() {
    let loader = DataLoader::builder(Cursed).batch_size(2).num_workers(2).build();
    for _ in &loader {}
}

#[test]
fn a_worker_panic_names_the_worker_and_batch_and_ends_the_epoch() {
    let loader = DataLoader::builder(Cursed).batch_size(1).num_workers(2).build();
    let mut batches = loader.iter();
    let mut seen = Vec::new();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        for batch in &mut batches {
            seen.push(batch[0].to_vec::<i64>()[0]);
        }
    }))
    .expect_err("the cursed sample should panic");
    let message = panic_text(payload);
    assert!(
        message.starts_with(
            "DataLoader worker 1 panicked while loading batch 13: assertion `left != right` failed: sample 13 is cursed"
        ),
        "{message}"
    );
    assert_eq!(seen, (0..13).collect::<Vec<_>>());
    assert!(batches.next().is_none());
}

// ---- random_split ----

#[test]
fn random_split_by_counts_is_disjoint_and_covers_the_dataset() {
    let parts = random_split(rows(10), [3, 7], 5);
    assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![3, 7]);
    let mut all: Vec<usize> = parts.iter().flat_map(|p| p.indices().to_vec()).collect();
    // The subsets read the rows they name.
    for p in &parts {
        for (i, &source) in p.indices().iter().enumerate() {
            assert_eq!(p.get(i)[1].item::<i64>(), source as i64);
        }
    }
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    let again = random_split(rows(10), vec![3, 7], 5);
    assert_eq!(again[0].indices(), parts[0].indices());
    let other = random_split(rows(10), [3, 7], 6);
    assert_ne!(other[1].indices(), parts[1].indices());
}

#[test]
fn random_split_by_fractions_hands_out_the_remainder_round_robin() {
    // floor(10 * 0.33) = 3, 3, floor(10 * 0.34) = 3: one left over goes to the first piece.
    let parts = random_split(rows(10), [0.33, 0.33, 0.34], 0);
    assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![4, 3, 3]);
    // 7 * 0.25 = 1.75 each: four pieces of 1, three left over for the first three.
    let parts = random_split(rows(7), [0.25; 4], 0);
    assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![2, 2, 2, 1]);
    let mut all: Vec<usize> = parts.iter().flat_map(|p| p.indices().to_vec()).collect();
    all.sort();
    assert_eq!(all, (0..7).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "random_split: the lengths [3, 6] sum to 9, but the dataset has 10 samples")]
fn random_split_counts_must_cover_the_dataset() {
    random_split(rows(10), [3, 6], 0);
}

#[test]
#[should_panic(expected = "random_split: fractions must lie in [0, 1] and sum to 1")]
fn random_split_fractions_must_sum_to_one() {
    random_split(rows(10), [0.5, 0.4], 0);
}

#[test]
fn split_subsets_load_through_workers() {
    let parts = random_split(rows(30), [0.8, 0.2], 3);
    let train = DataLoader::builder(parts[0].clone()).batch_size(5).shuffle(true).seed(0).num_workers(2).build();
    let mut seen: Vec<i64> = labels(&train).concat();
    seen.sort();
    let mut expected: Vec<i64> = parts[0].indices().iter().map(|&i| i as i64).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn readme_data_example_runs() {
    let n = 50;
    let x = Tensor::zeros([n, 784], DType::F32);
    let y = Tensor::arange(0.0, n as f64, 1.0, DType::I64);
    let parts = random_split(TensorDataset::new(vec![x, y]), [0.9, 0.1], 42);
    let train = DataLoader::builder(parts[0].clone()).batch_size(16).shuffle(true).num_workers(2).build();
    let shapes: Vec<(Vec<usize>, Vec<usize>)> =
        train.iter().map(|batch| (batch[0].shape().to_vec(), batch[1].shape().to_vec())).collect();
    // 45 training samples: two batches of 16 and one of 13.
    assert_eq!(shapes, vec![(vec![16, 784], vec![16]), (vec![16, 784], vec![16]), (vec![13, 784], vec![13])]);
}
