//! What a compiled function takes and returns: tensors (alone, in tuples or `Vec`s) and
//! static values that are part of the guard.

use crate::tensor::Tensor;
use std::hash::{DefaultHasher, Hash};

/// A non-tensor argument whose value is fixed in the trace and checked by the guard: a
/// `bool` training flag, a size. Each distinct value gets its own compiled program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Static<T>(pub T);

/// The arguments of a compiled function.
pub trait Args: Clone {
    /// The tensors, in order.
    fn tensors(&self) -> Vec<Tensor>;
    /// A hash of the static values (0 when there are none).
    fn static_key(&self, hasher: &mut DefaultHasher);
}

/// What a compiled function returns.
pub trait Outputs {
    fn tensors(&self) -> Vec<Tensor>;
    /// Rebuilds the value from tensors in the order `tensors` gave them.
    fn from_tensors(template_len: usize, tensors: &mut std::vec::IntoIter<Tensor>) -> Self;
    /// How many tensors `tensors` yields, or `None` when it varies (a `Vec`).
    fn fixed_len() -> Option<usize>;
}

impl Args for () {
    fn tensors(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn static_key(&self, _: &mut DefaultHasher) {}
}

impl Args for Tensor {
    fn tensors(&self) -> Vec<Tensor> {
        vec![self.clone()]
    }
    fn static_key(&self, _: &mut DefaultHasher) {}
}

impl Args for Vec<Tensor> {
    fn tensors(&self) -> Vec<Tensor> {
        self.clone()
    }
    fn static_key(&self, hasher: &mut DefaultHasher) {
        self.len().hash(hasher);
    }
}

impl<T: Hash + Clone> Args for Static<T> {
    fn tensors(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn static_key(&self, hasher: &mut DefaultHasher) {
        self.0.hash(hasher);
    }
}

macro_rules! tuple_args {
    ($($name:ident . $idx:tt),+) => {
        impl<$($name: Args),+> Args for ($($name,)+) {
            fn tensors(&self) -> Vec<Tensor> {
                let mut all = Vec::new();
                $(all.extend(self.$idx.tensors());)+
                all
            }
            fn static_key(&self, hasher: &mut DefaultHasher) {
                $(self.$idx.static_key(hasher);)+
            }
        }
    };
}
tuple_args!(A.0);
tuple_args!(A.0, B.1);
tuple_args!(A.0, B.1, C.2);
tuple_args!(A.0, B.1, C.2, D.3);
tuple_args!(A.0, B.1, C.2, D.3, E.4);

impl Outputs for Tensor {
    fn tensors(&self) -> Vec<Tensor> {
        vec![self.clone()]
    }
    fn from_tensors(_: usize, tensors: &mut std::vec::IntoIter<Tensor>) -> Self {
        tensors.next().expect("one tensor per output")
    }
    fn fixed_len() -> Option<usize> {
        Some(1)
    }
}

impl Outputs for Vec<Tensor> {
    fn tensors(&self) -> Vec<Tensor> {
        self.clone()
    }
    fn from_tensors(len: usize, tensors: &mut std::vec::IntoIter<Tensor>) -> Self {
        tensors.take(len).collect()
    }
    fn fixed_len() -> Option<usize> {
        None
    }
}

macro_rules! tuple_outputs {
    ($($name:ident . $idx:tt),+) => {
        impl<$($name: Outputs),+> Outputs for ($($name,)+) {
            fn tensors(&self) -> Vec<Tensor> {
                let mut all = Vec::new();
                $(all.extend(self.$idx.tensors());)+
                all
            }
            fn from_tensors(len: usize, tensors: &mut std::vec::IntoIter<Tensor>) -> Self {
                ($($name::from_tensors(len, tensors),)+)
            }
            fn fixed_len() -> Option<usize> {
                Some(0 $(+ $name::fixed_len()?)+)
            }
        }
    };
}
tuple_outputs!(A.0, B.1);
tuple_outputs!(A.0, B.1, C.2);
tuple_outputs!(A.0, B.1, C.2, D.3);
