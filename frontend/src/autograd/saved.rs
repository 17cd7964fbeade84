//! Tensors saved for backward, with a check that nobody modified them in place since.

use crate::tensor::Tensor;

/// A tensor an op keeps for its backward rule, stamped with the storage version it saw.
#[derive(Clone)]
pub(crate) struct Saved {
    tensor: Tensor,
    /// `None` for a traced value: it is a value of the graph, not yet a buffer that an
    /// in-place op could change.
    version: Option<u64>,
    op: &'static str,
}

impl Saved {
    pub(crate) fn new(op: &'static str, tensor: &Tensor) -> Saved {
        let version = if tensor.pending_value().is_some() { None } else { Some(tensor.version()) };
        Saved { tensor: tensor.saved_alias(), version, op }
    }

    /// The saved tensor; panics if its storage was written in place after it was saved,
    /// since the gradient would silently be wrong.
    pub(crate) fn get(&self) -> &Tensor {
        // A traced value is checked against the version it had when its segment computed it.
        let saved = match (self.version, &self.tensor.0.data) {
            (Some(v), _) => v,
            (None, crate::tensor::Data::Traced(v)) if v.is_filled() => v.computed_version(),
            (None, _) => return &self.tensor,
        };
        let now = self.tensor.version();
        assert!(
            now == saved,
            "backward of {}: a tensor it saved ({}) was modified by an in-place operation after it was saved \
             (its version is {now}, expected {}); clone it before modifying it in place",
            self.op,
            self.tensor.describe(),
            saved
        );
        &self.tensor
    }
}
