//! Storage: a reference-counted buffer of one dtype on one device, shared by views.

use crate::Device;
use crate::allocator;
use crate::element::Element;
use crate::layout::Layout;
use ignis_ir::DType;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

struct Block {
    ptr: NonNull<u8>,
    class: usize,
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: the block came from `allocator::allocate` and is dropped once.
        unsafe { allocator::release(self.ptr, self.class) };
    }
}

/// Where the bytes are: host memory, or a GPU's.
enum Memory {
    Host(Block),
    #[cfg(feature = "gpu")]
    Gpu(crate::gpu::DeviceMemory),
}

/// The bytes behind one or more tensor views.
///
/// Invariant: `len` elements of `dtype` fit in the block. Elements are read and written
/// through raw pointers; views that alias and in-place ops that write through one of them
/// see each other's writes, as in PyTorch. Concurrent in-place writes to one storage from
/// several threads are the caller's race to avoid, again as in PyTorch.
pub struct StorageInner {
    memory: Memory,
    len: usize,
    dtype: DType,
    device: Device,
    /// Bumped by every in-place write; autograd compares it to detect stale saved tensors.
    version: AtomicU64,
}

// SAFETY: the block is plain memory owned by this value; see the invariant above.
unsafe impl Send for StorageInner {}
unsafe impl Sync for StorageInner {}

/// A cheap handle to shared storage.
#[derive(Clone)]
pub struct Storage(Arc<StorageInner>);

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "Storage({} x {}, {})", self.0.len, self.0.dtype, self.0.device)
    }
}

impl Storage {
    /// Uninitialized storage for `len` elements: every kernel that creates one writes all of it.
    pub fn uninit(dtype: DType, len: usize) -> Storage {
        let bytes = len * dtype.size();
        let (ptr, class) = allocator::allocate(bytes).unwrap_or_else(|e| panic!("{e}"));
        Storage(Arc::new(StorageInner {
            memory: Memory::Host(Block { ptr, class }),
            len,
            dtype,
            device: Device::Cpu,
            version: AtomicU64::new(0),
        }))
    }

    pub fn from_vec<T: Element>(data: Vec<T>) -> Storage {
        Self::from_slice(&data)
    }

    pub fn from_slice<T: Element>(data: &[T]) -> Storage {
        let s = Storage::uninit(T::DTYPE, data.len());
        // SAFETY: fresh storage of the same dtype and length, no other handle exists.
        unsafe { s.slice_mut::<T>().copy_from_slice(data) };
        s
    }

    pub fn filled<T: Element>(value: T, len: usize) -> Storage {
        let s = Storage::uninit(T::DTYPE, len);
        // SAFETY: fresh storage, no other handle exists.
        let out = unsafe { s.slice_mut::<T>() };
        crate::parallel::for_chunks_mut(out, crate::parallel::ELEMENTWISE_GRAIN, |_, chunk| chunk.fill(value));
        s
    }

    pub fn len(&self) -> usize {
        self.0.len
    }

    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    pub fn device(&self) -> Device {
        self.0.device
    }

    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    pub fn bump_version(&self) {
        self.0.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether two handles share one buffer.
    pub fn same(&self, other: &Storage) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// An id for the buffer, stable while any handle lives.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// Whether this handle is the only one (so the buffer may be reused in place).
    pub fn is_unique(&self) -> bool {
        Arc::strong_count(&self.0) == 1
    }

    /// The first byte of the buffer, whatever its dtype (for generated kernels).
    ///
    /// Panics if the storage is on a GPU.
    pub fn as_raw_ptr(&self) -> *mut u8 {
        self.host_block().ptr.as_ptr()
    }

    /// Panics if the storage is on a GPU.
    pub fn as_ptr<T: Element>(&self) -> *mut T {
        assert_eq!(T::DTYPE, self.0.dtype, "storage holds {} but was read as {}", self.0.dtype, T::DTYPE);
        self.host_block().ptr.as_ptr() as *mut T
    }

    fn host_block(&self) -> &Block {
        match &self.0.memory {
            Memory::Host(block) => block,
            #[cfg(feature = "gpu")]
            Memory::Gpu(_) => panic!(
                "a {} tensor's storage on {} was read as host memory; copy it to the CPU first (to_device(Device::Cpu))",
                self.0.dtype, self.0.device
            ),
        }
    }

    /// Whether the bytes are in host memory.
    pub fn is_host(&self) -> bool {
        matches!(self.0.memory, Memory::Host(_))
    }

    /// The GPU memory behind the storage, if it is on a GPU.
    #[cfg(feature = "gpu")]
    pub fn gpu_memory(&self) -> Option<&crate::gpu::DeviceMemory> {
        match &self.0.memory {
            Memory::Gpu(memory) => Some(memory),
            Memory::Host(_) => None,
        }
    }

    /// Uninitialized storage for `len` elements on `device`.
    pub fn uninit_on(device: Device, dtype: DType, len: usize) -> crate::Result<Storage> {
        match device {
            Device::Cpu => Ok(Storage::uninit(dtype, len)),
            Device::Cuda(_) => Self::uninit_gpu(device, dtype, len),
        }
    }

    #[cfg(feature = "gpu")]
    fn uninit_gpu(device: Device, dtype: DType, len: usize) -> crate::Result<Storage> {
        let gpu = crate::gpu::GpuDevice::open(device)?;
        let memory = gpu.allocate(len * dtype.size())?;
        Ok(Storage(Arc::new(StorageInner {
            memory: Memory::Gpu(memory),
            len,
            dtype,
            device,
            version: AtomicU64::new(0),
        })))
    }

    #[cfg(not(feature = "gpu"))]
    fn uninit_gpu(device: Device, _: DType, _: usize) -> crate::Result<Storage> {
        Err(crate::Error::NoDevice {
            device: device.to_string(),
            reason: "ignis was built without the `gpu` feature".into(),
        })
    }

    /// Overwrites every element with `src`'s (same dtype and length, any devices).
    pub fn overwrite_from(&self, src: &Storage) -> crate::Result<()> {
        assert!(
            src.dtype() == self.dtype() && src.len() == self.len(),
            "overwrite_from: {} x {} from {} x {}",
            self.len(),
            self.dtype(),
            src.len(),
            src.dtype()
        );
        if self.same(src) {
            return Ok(());
        }
        let bytes = self.0.len * self.0.dtype.size();
        match (&self.0.memory, &src.0.memory) {
            (Memory::Host(to), Memory::Host(from)) => {
                // SAFETY: distinct blocks of `bytes` bytes each.
                unsafe { std::ptr::copy_nonoverlapping(from.ptr.as_ptr(), to.ptr.as_ptr(), bytes) };
            }
            #[cfg(feature = "gpu")]
            (Memory::Gpu(to), Memory::Host(from)) => {
                // SAFETY: the block holds `bytes` initialized bytes.
                to.gpu().upload(to, unsafe { std::slice::from_raw_parts(from.ptr.as_ptr(), bytes) })?;
            }
            #[cfg(feature = "gpu")]
            (Memory::Host(to), Memory::Gpu(from)) => {
                // SAFETY: the block holds `bytes` bytes; writers of this storage are the
                // caller's to order, as for every in-place write.
                from.gpu().download(unsafe { std::slice::from_raw_parts_mut(to.ptr.as_ptr(), bytes) }, from)?;
            }
            #[cfg(feature = "gpu")]
            (Memory::Gpu(to), Memory::Gpu(from)) => {
                if to.device() == from.device() {
                    to.gpu().copy(to, 0, from, 0, bytes)?;
                } else {
                    self.overwrite_from(&src.to_device(Device::Cpu)?)?;
                }
            }
        }
        Ok(())
    }

    /// The whole buffer copied to `device` (a new storage, even on the same device).
    pub fn to_device(&self, device: Device) -> crate::Result<Storage> {
        let out = Storage::uninit_on(device, self.0.dtype, self.0.len)?;
        out.overwrite_from(self)?;
        Ok(out)
    }

    /// The elements as a slice.
    ///
    /// # Safety
    /// No `slice_mut` of the same storage may be alive while the slice is used.
    pub unsafe fn slice<T: Element>(&self) -> &[T] {
        // SAFETY: the block holds `len` initialized elements of T (checked dtype).
        unsafe { std::slice::from_raw_parts(self.as_ptr::<T>(), self.0.len) }
    }

    /// The elements as a mutable slice.
    ///
    /// # Safety
    /// No other slice of the same storage may be alive while this one is used.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut<T: Element>(&self) -> &mut [T] {
        // SAFETY: as for `slice`, plus exclusivity guaranteed by the caller.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr::<T>(), self.0.len) }
    }

    /// Copies the elements out (of the whole buffer, ignoring any layout).
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        // SAFETY: a shared read; writers are only in-place ops of the same thread.
        unsafe { self.slice::<T>().to_vec() }
    }
}

/// A storage seen through a layout: what every kernel takes as input.
#[derive(Copy, Clone)]
pub struct View<'a> {
    pub storage: &'a Storage,
    pub layout: &'a Layout,
}

impl<'a> View<'a> {
    pub fn new(storage: &'a Storage, layout: &'a Layout) -> Self {
        View { storage, layout }
    }

    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }

    pub fn shape(&self) -> &'a [usize] {
        &self.layout.shape
    }

    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// A contiguous slice of the viewed elements, when the layout is contiguous.
    pub fn contiguous_slice<T: Element>(&self) -> Option<&'a [T]> {
        if !self.layout.is_contiguous() {
            return None;
        }
        let n = self.layout.numel();
        if n == 0 {
            // An empty view may sit at any offset, even past the end of its storage.
            return Some(&[]);
        }
        // SAFETY: the layout lies within the storage (Layout invariant).
        let all = unsafe { self.storage.slice::<T>() };
        Some(&all[self.layout.offset..self.layout.offset + n])
    }

    /// Base pointer of the view (element at index 0 of every dim).
    pub fn base_ptr<T: Element>(&self) -> *const T {
        // SAFETY: offset is within the storage (Layout invariant).
        unsafe { self.storage.as_ptr::<T>().add(self.layout.offset) }
    }
}

/// Writes `src`'s elements into `dst`'s (same shape; `src` converted to `dst`'s dtype),
/// whichever devices they are on. On the host this is the strided copy; a destination that
/// is a whole device buffer is overwritten on its device; a view of part of a device buffer
/// is written through a host copy of that buffer.
pub fn write_view(dst: View, src: View) -> crate::Result<()> {
    if dst.storage.is_host() && src.storage.is_host() {
        crate::cpu::copy_into(dst, src);
        return Ok(());
    }
    let on_host = |v: View| -> crate::Result<Storage> { v.storage.to_device(Device::Cpu) };
    let src_host = if src.storage.is_host() { src.storage.clone() } else { on_host(src)? };
    let whole = dst.layout.is_contiguous() && dst.layout.offset == 0 && dst.layout.numel() == dst.storage.len();
    if whole {
        // The values, contiguous and in the destination's dtype, then one copy.
        let values = crate::cpu::contiguous(View::new(&src_host, src.layout));
        let values = if values.dtype() == dst.dtype() {
            values
        } else {
            crate::cpu::cast(View::new(&values, &Layout::contiguous(src.shape())), dst.dtype())
        };
        return dst.storage.overwrite_from(&values);
    }
    let dst_host = on_host(dst)?;
    crate::cpu::copy_into(View::new(&dst_host, dst.layout), View::new(&src_host, src.layout));
    dst.storage.overwrite_from(&dst_host)
}
