//! Tensors saved for backward, with a check that nobody modified them in place since.

use crate::tensor::Tensor;

/// A tensor an op keeps for its backward rule, stamped with the storage version it saw.
#[derive(Clone)]
pub(crate) struct Saved {
    tensor: Tensor,
    version: u64,
    op: &'static str,
}

impl Saved {
    pub(crate) fn new(op: &'static str, tensor: &Tensor) -> Saved {
        Saved { tensor: tensor.clone(), version: tensor.version(), op }
    }

    /// The saved tensor; panics if its storage was written in place after it was saved,
    /// since the gradient would silently be wrong.
    pub(crate) fn get(&self) -> &Tensor {
        let now = self.tensor.version();
        assert!(
            now == self.version,
            "backward of {}: a tensor it saved ({}) was modified by an in-place operation after it was saved \
             (its version is {now}, expected {}); clone it before modifying it in place",
            self.op,
            self.tensor.describe(),
            self.version
        );
        &self.tensor
    }
}
