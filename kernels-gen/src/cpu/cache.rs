//! The kernel cache: machine code by kernel structure, in memory for this process and on disk
//! for the processes after it.
//!
//! A kernel's name and sizes are not part of its identity: the code is generated from the
//! kernel's shape and reads the sizes from a table at run time ([`sizes::split`]). Kernels
//! that differ only there share one entry and one copy of the code, so a dim that varies
//! between calls compiles once per size class. In memory the code is keyed by the shape; on disk
//! by a text key ([`key`]) that also names everything else the bytes depend on: this crate's
//! version and a fingerprint of its sources (so an edited code generator never reuses old
//! code), the Cranelift version, the target triple, Cranelift's shared and ISA-specific
//! settings (opt level and the host's CPU features among them) and the kernel's full
//! structure. The file name is a hash of the key; the file repeats the whole key, so two keys
//! with one hash only evict each other.
//!
//! An entry file is
//!
//! ```text
//! "IGNISKRN"  u32 format version
//! u64 length, key bytes
//! u64 length, Cranelift IR text
//! u64 length, machine code
//! u64 FNV-1a of every byte before it
//! ```
//!
//! with integers little-endian. Anything that does not read back exactly (short file, bad
//! checksum, other format version, other key) is a miss: the kernel is generated again and the
//! file overwritten. Files are written to a temporary name in the same directory and renamed,
//! so a reader sees a whole entry or none, and processes sharing a directory need no locks.
//!
//! A second process (or a second run of the same program) builds the same keys for the same
//! kernels on the same machine, finds the files its predecessor wrote, checks them and maps
//! the code without running Cranelift: [`CacheOutcome::Disk`]. Only code without relocations
//! is stored (see `jit`), so nothing in an entry depends on the process that wrote it.
//!
//! Entries are executable code, so a directory is only used when it belongs to this user and
//! nobody else can write to it. Disk errors never fail a compilation: they are logged (target
//! `ignis::codegen`) and the kernel is generated as if there were no disk cache.
//!
//! This module knows kernels, Cranelift's settings and files; not graphs or programs.

use super::jit::{self, CodegenError, CompiledKernel, Generated};
use super::sizes;
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use ignis_ir::kernel::Kernel;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Where a kernel's code came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// This process had compiled the kernel (or one that differs only in name) before.
    Memory,
    /// An entry written earlier, by this process or another.
    Disk,
    /// Cranelift ran.
    Generated,
}

/// How often each layer answered, since the cache was made.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub generated: u64,
}

/// Generated code in memory, over a disk cache.
pub struct KernelCache {
    memory: Mutex<HashMap<Kernel, CompiledKernel>>,
    disk: DiskCache,
    /// `None`: the host ISA.
    isa: Option<OwnedTargetIsa>,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    generated: AtomicU64,
}

impl std::fmt::Debug for KernelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("KernelCache").field("disk", &self.disk).field("stats", &self.stats()).finish()
    }
}

/// Compiles a kernel through the process-wide cache, whose disk layer [`DiskCache::from_env`]
/// places.
pub fn compile_kernel_cached(kernel: &Kernel) -> Result<(CompiledKernel, CacheOutcome), CodegenError> {
    KernelCache::global().compile(kernel)
}

/// The counters of the process-wide cache.
pub fn cache_stats() -> CacheStats {
    KernelCache::global().stats()
}

impl KernelCache {
    /// An empty memory layer over `disk`, for the host ISA.
    pub fn new(disk: DiskCache) -> KernelCache {
        KernelCache {
            memory: Mutex::default(),
            disk,
            isa: None,
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            generated: AtomicU64::new(0),
        }
    }

    /// Compiles for `isa` instead of the host's (which must still be able to run the code).
    #[cfg(test)]
    pub(crate) fn with_isa(disk: DiskCache, isa: OwnedTargetIsa) -> KernelCache {
        KernelCache { isa: Some(isa), ..KernelCache::new(disk) }
    }

    /// The cache every program of this process shares.
    pub fn global() -> &'static KernelCache {
        static GLOBAL: OnceLock<KernelCache> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let disk = DiskCache::from_env();
            tracing::debug!(target: "ignis::codegen", "kernel cache on disk: {:?}", disk.dir());
            KernelCache::new(disk)
        })
    }

    pub fn disk(&self) -> &DiskCache {
        &self.disk
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            generated: self.generated.load(Ordering::Relaxed),
        }
    }

    /// The code of `kernel` with its size table, from memory, from disk, or generated (and
    /// then kept in both). Errors name `kernel` by its own name even when its code is shared.
    pub fn compile(&self, kernel: &Kernel) -> Result<(CompiledKernel, CacheOutcome), CodegenError> {
        let (shape, sizes) = sizes::split(kernel);
        let found = self.memory.lock().unwrap_or_else(|e| e.into_inner()).get(&shape).cloned();
        if let Some(found) = found {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((found.with_sizes(sizes), CacheOutcome::Memory));
        }
        // The lock is not held while compiling: two threads may both generate one kernel, and
        // the second insert wins; both results are correct.
        let (code, outcome) = self.load_or_generate(&kernel.name, &shape)?;
        tracing::debug!(target: "ignis::codegen", "kernel {}: {outcome:?}", kernel.name);
        self.memory.lock().unwrap_or_else(|e| e.into_inner()).insert(shape, code.clone());
        Ok((code.with_sizes(sizes), outcome))
    }

    fn load_or_generate(&self, name: &str, shape: &Kernel) -> Result<(CompiledKernel, CacheOutcome), CodegenError> {
        let isa = match &self.isa {
            Some(isa) => isa.clone(),
            None => jit::host_isa()?,
        };
        let key = self.disk.dir().map(|_| key(shape, &*isa));
        if let Some(key) = &key
            && let Some(entry) = self.disk.load(key)
        {
            match jit::map(name, entry.clif, &entry.code) {
                Ok(code) => {
                    self.disk_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((code, CacheOutcome::Disk));
                }
                Err(e) => tracing::warn!(target: "ignis::codegen", "cached code not usable, generating again: {e}"),
            }
        }
        let code = match jit::generate(shape, name, &isa)? {
            Generated::Bytes { clif, code } => {
                if let Some(key) = &key {
                    self.disk.store(key, &clif, &code);
                }
                jit::map(name, clif, &code)?
            }
            Generated::Linked(code) => code,
        };
        self.generated.fetch_add(1, Ordering::Relaxed);
        Ok((code, CacheOutcome::Generated))
    }
}

/// Everything the machine code of `kernel` (whose name must be blank) depends on, as text.
pub(crate) fn key(kernel: &Kernel, isa: &dyn TargetIsa) -> String {
    debug_assert!(kernel.name.is_empty(), "kernel @{}: the cache key leaves names out", kernel.name);
    let mut key = String::new();
    // The workspace pins every Cranelift crate to one version, so the frontend's is codegen's.
    let _ = writeln!(
        key,
        "ignis-kernels-gen {} sources {}\ncranelift {}\ntarget {}",
        env!("CARGO_PKG_VERSION"),
        env!("IGNIS_KERNELS_GEN_SOURCES"),
        cranelift_frontend::VERSION,
        isa.triple(),
    );
    // `[shared]` then one `name = value` line per setting, `opt_level` among them.
    let _ = write!(key, "{}", isa.flags());
    let _ = writeln!(key, "[{}]", isa.name());
    for flag in isa.isa_flags() {
        let _ = writeln!(key, "{flag}");
    }
    let _ = writeln!(key, "{kernel:?}");
    key
}

/// A directory of entry files, or nothing (every load misses, every store is dropped).
#[derive(Clone, Debug)]
pub struct DiskCache {
    dir: Option<PathBuf>,
}

/// What an entry holds besides its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub clif: String,
    pub code: Vec<u8>,
}

const MAGIC: &[u8; 8] = b"IGNISKRN";
const FORMAT_VERSION: u32 = 1;

impl DiskCache {
    pub fn new(dir: impl Into<PathBuf>) -> DiskCache {
        DiskCache { dir: Some(dir.into()) }
    }

    pub fn disabled() -> DiskCache {
        DiskCache { dir: None }
    }

    /// `IGNIS_KERNEL_CACHE` if set (`off` or empty: disabled), else
    /// `$XDG_CACHE_HOME/ignis/kernels`, else `$HOME/.cache/ignis/kernels`, else
    /// `ignis-kernels` in the temporary directory.
    pub fn from_env() -> DiskCache {
        let var = std::env::var_os;
        DiskCache { dir: directory(var("IGNIS_KERNEL_CACHE"), var("XDG_CACHE_HOME"), var("HOME")) }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The file that holds (or would hold) the entry for `key`.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("{:016x}.kernel", fnv1a(FNV_OFFSET, key.as_bytes()))))
    }

    /// The entry stored under `key`, if there is a whole and matching one.
    pub fn load(&self, key: &str) -> Option<Entry> {
        let path = self.path(key)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(target: "ignis::codegen", "kernel cache: cannot read {}: {e}", path.display());
                return None;
            }
        };
        if let Err(why) = private(path.parent()?) {
            tracing::warn!(target: "ignis::codegen", "kernel cache: not loading {}: {why}", path.display());
            return None;
        }
        match decode(&bytes, key) {
            Ok(entry) => Some(entry),
            Err(Rejected::Corrupt(why)) => {
                tracing::warn!(target: "ignis::codegen", "kernel cache: {} is corrupt ({why}); rebuilding it", path.display());
                None
            }
            Err(Rejected::Other(why)) => {
                tracing::debug!(target: "ignis::codegen", "kernel cache: {} holds {why}; replacing it", path.display());
                None
            }
        }
    }

    /// Writes the entry for `key`, replacing any file of the same name; failures are logged.
    pub fn store(&self, key: &str, clif: &str, code: &[u8]) {
        let Some(path) = self.path(key) else { return };
        if let Err(e) = write_atomically(&path, &encode(key, clif, code)) {
            tracing::warn!(target: "ignis::codegen", "kernel cache: cannot write {}: {e}", path.display());
        }
    }
}

/// The cache directory for the given `IGNIS_KERNEL_CACHE`, `XDG_CACHE_HOME` and `HOME`.
pub(crate) fn directory(setting: Option<OsString>, xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    if let Some(setting) = setting {
        return (!setting.is_empty() && setting != "off").then(|| PathBuf::from(setting));
    }
    // The XDG specification says a relative `XDG_CACHE_HOME` is to be ignored.
    let xdg = xdg.map(PathBuf::from).filter(|p| p.is_absolute());
    let home = home.filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache"));
    let base = xdg.or(home);
    Some(match base {
        Some(base) => base.join("ignis").join("kernels"),
        None => std::env::temp_dir().join("ignis-kernels"),
    })
}

fn encode(key: &str, clif: &str, code: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(48 + key.len() + clif.len() + code.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    for part in [key.as_bytes(), clif.as_bytes(), code] {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part);
    }
    let checksum = fnv1a(FNV_OFFSET, &bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

enum Rejected {
    /// Damaged: logged as a warning.
    Corrupt(String),
    /// Whole, but for another key or format: expected now and then.
    Other(String),
}

fn decode(bytes: &[u8], key: &str) -> Result<Entry, Rejected> {
    let corrupt = Rejected::Corrupt;
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(MAGIC.len()).map_err(corrupt)? != MAGIC {
        return Err(corrupt("not an entry file".to_string()));
    }
    let version = u32::from_le_bytes(reader.array().map_err(corrupt)?);
    if version != FORMAT_VERSION {
        return Err(Rejected::Other(format!("format version {version}, not {FORMAT_VERSION}")));
    }
    let Some(body_length) = bytes.len().checked_sub(8).filter(|&n| n >= reader.at) else {
        return Err(corrupt(format!("{} bytes, too short for a checksum", bytes.len())));
    };
    let stored = u64::from_le_bytes(bytes[body_length..].try_into().expect("eight bytes"));
    let computed = fnv1a(FNV_OFFSET, &bytes[..body_length]);
    if stored != computed {
        return Err(corrupt(format!("checksum {stored:016x}, computed {computed:016x}")));
    }
    let mut body = Reader { bytes: &bytes[..body_length], at: reader.at };
    let stored_key = body.part("key").map_err(corrupt)?;
    let clif = body.part("clif").map_err(corrupt)?;
    let code = body.part("code").map_err(corrupt)?;
    if body.at != body_length {
        return Err(corrupt(format!("{} bytes after the code", body_length - body.at)));
    }
    if stored_key != key.as_bytes() {
        return Err(Rejected::Other("another key".to_string()));
    }
    let clif = String::from_utf8(clif.to_vec()).map_err(|e| corrupt(format!("clif text: {e}")))?;
    Ok(Entry { clif, code: code.to_vec() })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(length).filter(|&end| end <= self.bytes.len()).ok_or_else(|| {
            format!("{length} bytes wanted at offset {}, {} left", self.at, self.bytes.len() - self.at)
        })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    /// A length-prefixed byte string.
    fn part(&mut self, what: &str) -> Result<&'a [u8], String> {
        let at = self.at;
        let length = u64::from_le_bytes(self.array().map_err(|e| format!("{what} length: {e}"))?);
        let length = usize::try_from(length).map_err(|_| format!("{what} length {length} at offset {at}"))?;
        self.take(length).map_err(|e| format!("{what}: {e}"))
    }
}

/// Writes `bytes` to a fresh file beside `path`, then renames it over `path`. A crash can leave
/// a stray temporary file or (on file systems that reorder the rename before the data) a
/// damaged entry, which the checksum turns into a miss; it cannot leave half an entry that
/// reads back as whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().ok_or_else(|| std::io::Error::other("the path has no directory"))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    private(dir).map_err(std::io::Error::other)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let temporary = dir.join(format!(".{name}.{}.{sequence}.tmp", std::process::id()));
    let result = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Whether `dir` is safe to run code from: ours, and writable by nobody else.
fn private(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let user = unsafe { libc::geteuid() };
        if metadata.uid() != user {
            return Err(format!("{} belongs to user {}, not {user}", dir.display(), metadata.uid()));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(format!("{} is writable by others (mode {:o})", dir.display(), metadata.mode() & 0o777));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: stable across platforms and Rust releases (file names outlive a build),
/// and any change confined to one byte changes it.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
