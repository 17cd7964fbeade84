//! Constructors: from host data, filled, ranges, identity, and random.

use super::{IntoShape, Tensor};
use crate::random::seed_offset_pair;
use ignis_ir::{DType, Op, Scalar, ValueType};
use ignis_runtime::cpu::fill_view;
use ignis_runtime::interpret::truncate_to_significand;
use ignis_runtime::{Element, Layout, Storage, View, random};

impl Tensor {
    /// A tensor holding `data` in row-major order with the given shape.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl IntoShape) -> Tensor {
        Tensor::from_slice(&data, shape)
    }

    pub fn from_slice<T: Element>(data: &[T], shape: impl IntoShape) -> Tensor {
        let shape = shape.into_shape();
        let n: usize = shape.iter().product();
        assert_eq!(
            data.len(),
            n,
            "from_vec: {} elements cannot fill shape {} ({n} elements)",
            data.len(),
            ignis_ir::shape::format_shape(&shape)
        );
        Tensor::from_storage(Storage::from_slice(data), &shape).placed_default()
    }

    /// A 0-dim tensor.
    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor::from_slice(&[value], ())
    }

    /// Every element set to `value`, converted to `dtype`.
    pub fn full(shape: impl IntoShape, value: impl Into<Scalar>, dtype: DType) -> Tensor {
        let shape = shape.into_shape();
        let value = value.into();
        if let Some(traced) = crate::ops::traced_constant(value, dtype, &shape) {
            return traced;
        }
        let n: usize = shape.iter().product();
        let storage = Storage::uninit(dtype, n);
        let layout = Layout::contiguous(&shape);
        fill_view(View::new(&storage, &layout), value);
        Tensor::from_parts(storage, layout).placed_default()
    }

    pub fn zeros(shape: impl IntoShape, dtype: DType) -> Tensor {
        Tensor::full(shape, Scalar::Int(0), dtype)
    }

    pub fn ones(shape: impl IntoShape, dtype: DType) -> Tensor {
        Tensor::full(shape, Scalar::Int(1), dtype)
    }

    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.dims(), self.dtype()).placed_like(self)
    }

    pub fn ones_like(&self) -> Tensor {
        Tensor::ones(self.dims(), self.dtype()).placed_like(self)
    }

    pub fn full_like(&self, value: impl Into<Scalar>) -> Tensor {
        Tensor::full(self.dims(), value, self.dtype()).placed_like(self)
    }

    /// `self` on `like`'s device (made on the host, then copied there).
    pub(crate) fn placed_like(self, like: &Tensor) -> Tensor {
        let device = like.device();
        if device == self.device() {
            return self;
        }
        self.to_device(device).unwrap_or_else(|e| panic!("a tensor like one on {device}: {e}"))
    }

    /// `start, start + step, ...` up to but excluding `end`.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Tensor {
        assert!(step != 0.0, "arange: step must be nonzero");
        assert!((end - start) * step >= 0.0, "arange: the range [{start}, {end}) cannot be walked with step {step}");
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Tensor::from_vec(values, n).to_dtype(dtype)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive.
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Tensor {
        let values: Vec<f64> = match steps {
            0 => vec![],
            1 => vec![start],
            _ => {
                let step = (end - start) / (steps - 1) as f64;
                // Fill from both ends so the last value is exactly `end`, as PyTorch does.
                (0..steps)
                    .map(|i| if i < steps / 2 { start + step * i as f64 } else { end - step * (steps - 1 - i) as f64 })
                    .collect()
            }
        };
        Tensor::from_vec(values, steps).to_dtype(dtype)
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize, dtype: DType) -> Tensor {
        let mut values = vec![0.0f64; n * n];
        for i in 0..n {
            values[i * n + i] = 1.0;
        }
        Tensor::from_vec(values, [n, n]).to_dtype(dtype)
    }

    /// Uniform numbers in [0, 1) from the global generator.
    pub fn rand(shape: impl IntoShape, dtype: DType) -> Tensor {
        Tensor::random(shape.into_shape(), dtype, Op::RandUniform, |values, seed, offset| {
            random::fill_uniform(values, seed, offset);
            // Keep as many bits as the dtype's significand holds, as PyTorch does, so that
            // rounding to the dtype can never produce 1.
            truncate_to_significand(values, dtype);
        })
    }

    /// Standard normal numbers from the global generator.
    pub fn randn(shape: impl IntoShape, dtype: DType) -> Tensor {
        Tensor::random(shape.into_shape(), dtype, Op::RandNormal, random::fill_normal)
    }

    /// Integers uniform in `[low, high)`, as i64.
    pub fn randint(low: i64, high: i64, shape: impl IntoShape) -> Tensor {
        assert!(low < high, "randint: empty range [{low}, {high})");
        let u = Tensor::random(shape.into_shape(), DType::F64, Op::RandUniform, random::fill_uniform);
        let span = (high - low) as f64;
        let values: Vec<i64> =
            u.to_vec::<f64>().iter().map(|&x| low + ((x * span) as i64).min(high - low - 1)).collect();
        Tensor::from_vec(values, u.dims())
    }

    pub fn rand_like(&self) -> Tensor {
        Tensor::rand(self.dims(), self.dtype()).placed_like(self)
    }

    pub fn randn_like(&self) -> Tensor {
        Tensor::randn(self.dims(), self.dtype()).placed_like(self)
    }

    fn random(shape: ignis_ir::Dims, dtype: DType, op: Op, fill: impl Fn(&mut [f64], u64, u64)) -> Tensor {
        assert!(dtype.is_float(), "rand/randn: need a floating point dtype, got {dtype}");
        let n: usize = shape.iter().product();
        // Traced, the draw is a node whose seed and offset are drawn again on every call.
        if let Some(traced) = crate::compile::trace::record_random(op, ValueType::of(dtype, &shape), n as u64) {
            return traced;
        }
        let (seed, offset) = seed_offset_pair(n as u64);
        let mut values = vec![0.0f64; n];
        fill(&mut values, seed, offset);
        Tensor::from_vec(values, shape).to_dtype(dtype)
    }
}
