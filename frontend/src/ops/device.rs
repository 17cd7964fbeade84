//! Moving tensors between devices, and the device new tensors are made on.

use crate::autograd::record_out;
use crate::tensor::Tensor;
use ignis_runtime::{Device, Layout};
use std::cell::Cell;

thread_local! {
    static DEFAULT_DEVICE: Cell<Device> = const { Cell::new(Device::Cpu) };
}

/// Makes this thread's new tensors (`zeros`, `randn`, `from_vec`, ... and the parameters
/// of layers built afterwards) on `device`, as `torch.set_default_device` does. Fails if
/// the device cannot be opened; the default stays as it was.
pub fn set_default_device(device: Device) -> crate::Result<()> {
    if device != Device::Cpu {
        ignis_runtime::Storage::uninit_on(device, ignis_ir::DType::F32, 1)?;
    }
    DEFAULT_DEVICE.with(|d| d.set(device));
    Ok(())
}

/// Waits until the work issued to `device` is done (GPU launches return before their
/// kernels finish); for timing. Nothing to wait for on the CPU.
pub fn synchronize(device: Device) -> crate::Result<()> {
    match device {
        Device::Cpu => Ok(()),
        #[cfg(feature = "gpu")]
        Device::Cuda(_) => Ok(ignis_runtime::gpu::GpuDevice::open(device)?.synchronize()?),
        #[cfg(not(feature = "gpu"))]
        Device::Cuda(_) => Err(crate::Error::NoDevice {
            device: device.to_string(),
            reason: "ignis was built without the `gpu` feature".into(),
        }),
    }
}

/// What `device` is: `cpu`, or a GPU's name (`NVIDIA H100 80GB HBM3`, `host emulation`).
pub fn device_name(device: Device) -> crate::Result<String> {
    match device {
        Device::Cpu => Ok("cpu".into()),
        #[cfg(feature = "gpu")]
        Device::Cuda(_) => Ok(ignis_runtime::gpu::GpuDevice::open(device)?.describe()),
        #[cfg(not(feature = "gpu"))]
        Device::Cuda(_) => Err(crate::Error::NoDevice {
            device: device.to_string(),
            reason: "ignis was built without the `gpu` feature".into(),
        }),
    }
}

/// The device this thread's new tensors are made on (`Device::Cpu` unless set).
pub fn default_device() -> Device {
    DEFAULT_DEVICE.with(Cell::get)
}

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

    /// A tensor just made on the host, moved to the default device.
    pub(crate) fn placed_default(self) -> Tensor {
        match default_device() {
            Device::Cpu => self,
            device => self.to_device(device).unwrap_or_else(|e| panic!("new tensor on the default device: {e}")),
        }
    }

    /// The tensor on GPU 0 (`to_device(Device::Cuda(0))`).
    pub fn cuda(&self) -> crate::Result<Tensor> {
        self.to_device(Device::Cuda(0))
    }
}
