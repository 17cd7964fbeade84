//! Shapes as arguments: `&[2, 3]`, `[2, 3]`, `vec![2, 3]` or `(2, 3)`.

use ignis_ir::Dims;

pub trait IntoShape {
    fn into_shape(self) -> Dims;
}

impl IntoShape for &[usize] {
    fn into_shape(self) -> Dims {
        self.iter().copied().collect()
    }
}

impl<const N: usize> IntoShape for [usize; N] {
    fn into_shape(self) -> Dims {
        self.iter().copied().collect()
    }
}

impl<const N: usize> IntoShape for &[usize; N] {
    fn into_shape(self) -> Dims {
        self.iter().copied().collect()
    }
}

impl IntoShape for Vec<usize> {
    fn into_shape(self) -> Dims {
        self.into_iter().collect()
    }
}

impl IntoShape for &Vec<usize> {
    fn into_shape(self) -> Dims {
        self.iter().copied().collect()
    }
}

impl IntoShape for Dims {
    fn into_shape(self) -> Dims {
        self
    }
}

impl IntoShape for usize {
    fn into_shape(self) -> Dims {
        std::iter::once(self).collect()
    }
}

impl IntoShape for () {
    fn into_shape(self) -> Dims {
        Dims::new()
    }
}

impl IntoShape for (usize, usize) {
    fn into_shape(self) -> Dims {
        [self.0, self.1].into_iter().collect()
    }
}

impl IntoShape for (usize, usize, usize) {
    fn into_shape(self) -> Dims {
        [self.0, self.1, self.2].into_iter().collect()
    }
}

impl IntoShape for (usize, usize, usize, usize) {
    fn into_shape(self) -> Dims {
        [self.0, self.1, self.2, self.3].into_iter().collect()
    }
}
