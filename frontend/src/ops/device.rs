//! Moving tensors between devices.

use crate::autograd::record_out;
use crate::tensor::Tensor;
use ignis_runtime::{Device, Layout};

impl Tensor {
    /// The tensor on `device`: itself when it is there already, else a copy. The copy is
    /// differentiable: its gradient goes back to this tensor's device.
    ///
    /// Fails with `Error::NoDevice` when the device cannot be opened (a build without the
    /// `gpu` feature, no CUDA driver, no such GPU).
    pub fn to_device(&self, device: Device) -> crate::Result<Tensor> {
        let from = self.device();
        if from == device {
            return Ok(self.clone());
        }
        // Only the viewed elements travel: a view of part of a storage is made contiguous
        // on its own device first.
        let whole = self.is_contiguous() && self.storage_offset() == 0 && self.numel() == self.storage().len();
        let source = if whole { self.clone() } else { self.contiguous_copy() };
        let storage = source.storage().to_device(device)?;
        let out = Tensor::from_parts(storage, Layout::contiguous(self.shape()));
        Ok(record_out("ToDeviceBackward", &[self], out, move |g| {
            vec![Some(g.to_device(from).unwrap_or_else(|e| panic!("to_device backward: {e}")))]
        }))
    }

    /// The tensor on the CPU (itself when it is there).
    pub fn cpu(&self) -> Tensor {
        self.to_device(Device::Cpu).unwrap_or_else(|e| panic!("cpu: {e}"))
    }

    /// The tensor on GPU 0 (`to_device(Device::Cuda(0))`).
    pub fn cuda(&self) -> crate::Result<Tensor> {
        self.to_device(Device::Cuda(0))
    }
}
