//! Operator overloads: `&a + &b`, `&a * 2.0`, `1.0 - &a`, `-&a`.

use crate::tensor::Tensor;
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

macro_rules! tensor_ops {
    ($trait:ident, $method:ident, $tensor_fn:ident, $scalar_fn:ident, $rscalar_fn:ident) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                self.$tensor_fn(rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                (&self).$tensor_fn(&rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                (&self).$tensor_fn(rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                self.$tensor_fn(&rhs)
            }
        }
        impl $trait<f64> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                self.$scalar_fn(rhs)
            }
        }
        impl $trait<f64> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                (&self).$scalar_fn(rhs)
            }
        }
        impl $trait<&Tensor> for f64 {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                rhs.$rscalar_fn(self)
            }
        }
        impl $trait<Tensor> for f64 {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                rhs.$rscalar_fn(self)
            }
        }
    };
}

tensor_ops!(Add, add, add, add_scalar, add_scalar);
tensor_ops!(Sub, sub, sub, sub_scalar, rsub_scalar);
tensor_ops!(Mul, mul, mul, mul_scalar, mul_scalar);
tensor_ops!(Div, div, div, div_scalar, rdiv_scalar);

impl Rem<&Tensor> for &Tensor {
    type Output = Tensor;
    fn rem(self, rhs: &Tensor) -> Tensor {
        Tensor::rem(self, rhs)
    }
}

impl Rem<f64> for &Tensor {
    type Output = Tensor;
    fn rem(self, rhs: f64) -> Tensor {
        self.rem_scalar(rhs)
    }
}

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
