//! Device memory and its cache: a freed block goes to a free list of its size class and
//! the next allocation of that class takes it, so repeated temporaries of a program cost
//! no driver calls. Classes are powers of two from 512 bytes. When the driver is out of
//! memory the cache is emptied and the allocation tried once more.

use super::GpuDevice;
use super::driver::Driver;
use crate::{Device, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SMALLEST_CLASS: usize = 512;

/// A block of device memory; it returns to its device's cache when dropped.
pub struct DeviceMemory {
    address: u64,
    class: usize,
    device: Arc<GpuDevice>,
}

impl std::fmt::Debug for DeviceMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "DeviceMemory({} bytes on {})", self.class, self.device.device())
    }
}

impl DeviceMemory {
    /// The device address of the first byte.
    pub fn address(&self) -> u64 {
        self.address
    }

    /// The block's size (its class: at least what was asked for).
    pub fn bytes(&self) -> usize {
        self.class
    }

    pub fn device(&self) -> Device {
        self.device.device()
    }

    pub fn gpu(&self) -> &Arc<GpuDevice> {
        &self.device
    }
}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        self.device.cache.release(self.address, self.class);
    }
}

#[derive(Default)]
pub(super) struct Cache {
    free: Mutex<HashMap<usize, Vec<u64>>>,
}

impl Cache {
    fn take(&self, class: usize) -> Option<u64> {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&class).and_then(Vec::pop)
    }

    fn release(&self, address: u64, class: usize) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).entry(class).or_default().push(address);
    }

    pub(super) fn cached_bytes(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(class, list)| class * list.len()).sum()
    }

    pub(super) fn empty(&self, driver: &dyn Driver) {
        let free = std::mem::take(&mut *self.free.lock().unwrap_or_else(|e| e.into_inner()));
        for (class, addresses) in free {
            for address in addresses {
                // SAFETY: cached blocks are unused and were allocated with this size.
                unsafe { driver.free(address, class) };
            }
        }
    }
}

/// The size class of a request: the next power of two, at least 512 bytes.
pub(super) fn class_of(bytes: usize) -> usize {
    bytes.max(SMALLEST_CLASS).next_power_of_two()
}

pub(super) fn allocate(device: &Arc<GpuDevice>, bytes: usize) -> Result<DeviceMemory> {
    let class = class_of(bytes);
    let address = match device.cache.take(class) {
        Some(address) => address,
        None => match device.driver.allocate(class) {
            Ok(address) => address,
            Err(_) => {
                device.cache.empty(&*device.driver);
                device.driver.allocate(class)?
            }
        },
    };
    Ok(DeviceMemory { address, class, device: device.clone() })
}
