//! Collation: turning the samples of one batch into the batch itself.
//!
//! The default, like PyTorch's `default_collate`, stacks tensors along a new dim 0 and
//! recurses through containers: a batch of `Vec<Tensor>` samples is a `Vec<Tensor>` with
//! one stacked tensor per field, a batch of `(Tensor, i64)` pairs is a `(Tensor, Tensor)`.

use crate::tensor::Tensor;
use std::sync::Arc;

/// A user-supplied collate function: the samples of one batch, in order, to the batch.
pub type CollateFn<Item, Batch> = Arc<dyn Fn(Vec<Item>) -> Batch + Send + Sync>;

/// Sample types that the default collate knows how to batch.
pub trait Collate: Sized {
    /// What a batch of such samples becomes.
    type Batch;

    /// Combines the samples of one batch (at least one) into the batch.
    fn collate(samples: Vec<Self>) -> Self::Batch;
}

/// The default collate: stacks tensors along a new dim 0, field by field.
pub fn default_collate<T: Collate>(samples: Vec<T>) -> T::Batch {
    T::collate(samples)
}

impl Collate for Tensor {
    type Batch = Tensor;

    fn collate(samples: Vec<Tensor>) -> Tensor {
        let refs: Vec<&Tensor> = samples.iter().collect();
        Tensor::stack(&refs, 0)
    }
}

/// A sample with a list of fields; the batch holds each field collated on its own.
impl<T: Collate> Collate for Vec<T> {
    type Batch = Vec<T::Batch>;

    fn collate(samples: Vec<Vec<T>>) -> Vec<T::Batch> {
        let fields = samples.first().map_or(0, Vec::len);
        let mut columns: Vec<Vec<T>> = (0..fields).map(|_| Vec::with_capacity(samples.len())).collect();
        for (position, sample) in samples.into_iter().enumerate() {
            assert_eq!(
                sample.len(),
                fields,
                "collate: sample {position} of the batch has {} fields, but the first has {fields}",
                sample.len()
            );
            for (column, field) in columns.iter_mut().zip(sample) {
                column.push(field);
            }
        }
        columns.into_iter().map(T::collate).collect()
    }
}

impl<A: Collate, B: Collate> Collate for (A, B) {
    type Batch = (A::Batch, B::Batch);

    fn collate(samples: Vec<(A, B)>) -> Self::Batch {
        let (a, b): (Vec<A>, Vec<B>) = samples.into_iter().unzip();
        (A::collate(a), B::collate(b))
    }
}

impl<A: Collate, B: Collate, C: Collate> Collate for (A, B, C) {
    type Batch = (A::Batch, B::Batch, C::Batch);

    fn collate(samples: Vec<(A, B, C)>) -> Self::Batch {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for (x, y, z) in samples {
            a.push(x);
            b.push(y);
            c.push(z);
        }
        (A::collate(a), B::collate(b), C::collate(c))
    }
}

/// Numbers become a 1-d tensor of their own dtype, as PyTorch turns ints into an i64 tensor.
macro_rules! collate_numbers {
    ($($t:ty),*) => {$(
        impl Collate for $t {
            type Batch = Tensor;

            fn collate(samples: Vec<$t>) -> Tensor {
                let n = samples.len();
                Tensor::from_vec(samples, [n])
            }
        }
    )*};
}

collate_numbers!(f32, f64, i64, i32, bool);
