//! The kernel cache against code generated without it: every cache lives in a temporary
//! directory of its own, and a fresh `KernelCache` over a used directory stands for a second
//! process.

use super::cache::{self, CacheOutcome, CacheStats, DiskCache, KernelCache};
use super::jit::{self, CompiledKernel, Generated};
use super::tests::{bytes, data, softmax_kernel};
use super::{compile_kernel, supports_binary, supports_unary};
use ignis_ir::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
use ignis_ir::{BinaryOp, DType, UnaryOp};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn run_code(code: &CompiledKernel, kernel: &Kernel, buffers: &mut [&mut [u8]]) {
    let table: Vec<*mut u8> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    // SAFETY: the buffers are as large as the kernel's indices reach (the tests size them).
    unsafe {
        (code.entry)(table.as_ptr(), code.sizes.as_ptr(), 0, kernel.outer_points() as i64, super::support_table())
    };
}

const ROWS: usize = 3;
const COLS: usize = 37;

/// Per row of 37: `y = erf(x) + tanh(x) * exp(x)` in f32 and `h = gelu(x)` rounded to bf16;
/// vector iterations and a scalar tail, inline math and a bf16 store.
fn math_kernel() -> Kernel {
    let mut k = Kernel::new("math", vec![ROWS]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let h = k.add_buffer(DType::BF16, Access::Write);
    let row = Index { offset: 0, outer: vec![COLS as i64], inner: vec![1] };
    let lx = k.push(Expr::Load { buffer: x, index: row.clone() });
    let erf = k.push(Expr::Unary(UnaryOp::Erf, lx));
    let tanh = k.push(Expr::Unary(UnaryOp::Tanh, lx));
    let exp = k.push(Expr::Unary(UnaryOp::Exp, lx));
    let sum = k.push(Expr::Fma(tanh, exp, erf));
    let gelu = k.push(Expr::Unary(UnaryOp::Gelu, lx));
    let stores =
        vec![Store { buffer: y, index: row.clone(), value: sum }, Store { buffer: h, index: row, value: gelu }];
    k.stages.push(Stage { inner: vec![COLS], kind: StageKind::Store(stores) });
    k
}

/// The outputs of `math_kernel` run by `code`: `y` and `h` (as bf16 bits).
fn run_math(code: &CompiledKernel) -> (Vec<f32>, Vec<u16>) {
    let n = ROWS * COLS;
    let mut x = data(n, 11);
    let mut y = vec![0.0f32; n];
    let mut h = vec![0u16; n];
    // SAFETY: plain integers viewed as bytes.
    let h_bytes = unsafe { std::slice::from_raw_parts_mut(h.as_mut_ptr() as *mut u8, n * 2) };
    run_code(code, &math_kernel(), &mut [bytes(&mut x), bytes(&mut y), h_bytes]);
    (y, h)
}

/// Checks `math_kernel`'s outputs against libm, and bit for bit against freshly generated code.
fn assert_math_correct(code: &CompiledKernel) {
    let (y, h) = run_math(code);
    let x = data(ROWS * COLS, 11);
    for i in 0..x.len() {
        let v = x[i];
        let want = libm::erff(v) + libm::tanhf(v) * libm::expf(v);
        assert!((y[i] - want).abs() <= 1e-5, "y[{i}] for x = {v}: {} vs {want}", y[i]);
        let gelu = 0.5 * v * (1.0 + libm::erff(v / std::f32::consts::SQRT_2));
        let back = f32::from_bits((h[i] as u32) << 16);
        assert!((back - gelu).abs() <= gelu.abs() / 128.0 + 1e-6, "h[{i}] for x = {v}: {back} vs {gelu}");
    }
    let fresh = compile_kernel(&math_kernel()).unwrap_or_else(|e| panic!("{e}"));
    let (fresh_y, fresh_h) = run_math(&fresh);
    assert_eq!(
        y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        fresh_y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(h, fresh_h);
}

fn assert_softmax_correct(code: &CompiledKernel, rows: usize, cols: usize) {
    let mut x = data(rows * cols, cols as u32);
    let mut y = vec![0.0f32; rows * cols];
    run_code(code, &softmax_kernel(rows, cols), &mut [bytes(&mut x), bytes(&mut y)]);
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
        for c in 0..cols {
            let want = (row[c] - max).exp() / sum;
            let got = y[r * cols + c];
            assert!((got - want).abs() <= 1e-6, "softmax {rows}x{cols} [{r},{c}]: {got} vs {want}");
        }
    }
}

fn compile(cache: &KernelCache, kernel: &Kernel) -> (CompiledKernel, CacheOutcome) {
    cache.compile(kernel).unwrap_or_else(|e| panic!("{e}"))
}

/// The files in `dir`, sorted; temporary files left behind would show up here too.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

fn stats(memory_hits: u64, disk_hits: u64, generated: u64) -> CacheStats {
    CacheStats { memory_hits, disk_hits, generated }
}

#[test]
fn first_compile_generates_and_writes_one_entry_then_memory_answers() {
    let dir = tempfile::tempdir().unwrap();
    let cache = KernelCache::new(DiskCache::new(dir.path()));
    let (code, outcome) = compile(&cache, &math_kernel());
    assert_eq!(outcome, CacheOutcome::Generated);
    assert!(!code.is_linked());
    assert_math_correct(&code);
    let written = files(dir.path());
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].extension().unwrap(), "kernel");

    // The name is not part of the key: a renamed kernel shares the code.
    let mut renamed = math_kernel();
    renamed.name = "other".into();
    let (again, outcome) = compile(&cache, &renamed);
    assert_eq!(outcome, CacheOutcome::Memory);
    assert_eq!(again.entry as usize, code.entry as usize);
    assert_eq!(cache.stats(), stats(1, 0, 1));
    assert_eq!(files(dir.path()), written);
}

/// Sizes are run-time arguments, not part of the code: softmax over 3 rows of 37 and over 11
/// rows of 50 is one function (both widths are in the class 16..64), over rows of 70 another;
/// a column sum over the first 3, 13 or 64 columns of a 64-wide matrix (vectorized across
/// columns, the single outer dim) is a third.
#[test]
fn kernels_that_differ_only_in_sizes_of_one_class_share_code() {
    let cache = KernelCache::new(DiskCache::disabled());
    let (three, outcome) = compile(&cache, &softmax_kernel(3, 37));
    assert_eq!(outcome, CacheOutcome::Generated);
    let (eleven, outcome) = compile(&cache, &softmax_kernel(11, 37));
    assert_eq!(outcome, CacheOutcome::Memory);
    assert_eq!(three.entry as usize, eleven.entry as usize);
    assert_softmax_correct(&eleven, 11, 37);
    assert_softmax_correct(&eleven, 1, 37);
    let (wider, outcome) = compile(&cache, &softmax_kernel(11, 50));
    assert_eq!(outcome, CacheOutcome::Memory);
    assert_eq!(wider.entry as usize, three.entry as usize);
    assert_softmax_correct(&wider, 11, 50);
    let (long, outcome) = compile(&cache, &softmax_kernel(11, 70));
    assert_eq!(outcome, CacheOutcome::Generated, "rows of 64 or more run in blocks");
    assert_softmax_correct(&long, 4, 70);
    assert_eq!(compile(&cache, &softmax_kernel(2, 300)).1, CacheOutcome::Memory);

    let (rows, stride) = (9, 64);
    let column_sum = |cols: usize| {
        let mut k = Kernel::new("column_sum", vec![cols]);
        let x = k.add_buffer(DType::F32, Access::Read);
        let out = k.add_buffer(DType::F32, Access::Write);
        let load = k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![1], inner: vec![stride] } });
        let sum = k.push(Expr::Stage(0));
        k.stages.push(Stage { inner: vec![rows], kind: StageKind::Reduce { combine: Combine::Sum, value: load } });
        let store = Store { buffer: out, index: Index { offset: 0, outer: vec![1], inner: vec![] }, value: sum };
        k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![store]) });
        k
    };
    let mut x = data(rows * stride as usize, 5);
    let mut entries = Vec::new();
    for cols in [3, 13, 64] {
        let kernel = column_sum(cols);
        let (code, _) = compile(&cache, &kernel);
        assert!(code.clif.contains("f32x4"), "columns run four per vector:\n{}", code.clif);
        entries.push(code.entry as usize);
        let mut out = vec![f32::NAN; cols];
        run_code(&code, &kernel, &mut [bytes(&mut x), bytes(&mut out)]);
        for (j, &got) in out.iter().enumerate() {
            let want: f32 = (0..rows).map(|i| x[i * stride as usize + j]).sum();
            assert!((got - want).abs() <= 1e-5, "{cols} columns, column {j}: {got} vs {want}");
        }
    }
    assert!(entries.windows(2).all(|w| w[0] == w[1]), "one function for every width: {entries:x?}");
    assert_eq!(cache.stats(), stats(5, 0, 3));
}

#[test]
fn a_fresh_cache_maps_the_entry_without_generating_and_computes_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let first = KernelCache::new(DiskCache::new(dir.path()));
    let (generated, _) = compile(&first, &math_kernel());
    let (generated_softmax, _) = compile(&first, &softmax_kernel(5, 13));

    let second = KernelCache::new(DiskCache::new(dir.path()));
    let (loaded, outcome) = compile(&second, &math_kernel());
    assert_eq!(outcome, CacheOutcome::Disk);
    assert_ne!(loaded.entry as usize, generated.entry as usize, "a second mapping, as in another process");
    assert_eq!(loaded.clif, generated.clif);
    assert_math_correct(&loaded);
    let (loaded_softmax, outcome) = compile(&second, &softmax_kernel(5, 13));
    assert_eq!(outcome, CacheOutcome::Disk);
    assert_eq!(loaded_softmax.clif, generated_softmax.clif);
    assert_softmax_correct(&loaded_softmax, 5, 13);
    assert_eq!(second.stats(), stats(0, 2, 0));

    // The first cache's code is still mapped after the second mapped its own copy.
    assert_math_correct(&generated);
}

#[test]
fn corrupt_entries_are_generated_again_and_rewritten() {
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 7] = [
        ("empty", |b| b.clear()),
        ("truncated to half", |b| b.truncate(b.len() / 2)),
        ("last byte missing", |b| b.truncate(b.len() - 1)),
        // magic (8), format version (4), key length (8): the first byte of the key
        ("a key byte flipped", |b| b[20] ^= 0x01),
        // the checksum is the last 8 bytes; the code ends just before it
        ("a code byte flipped", |b| {
            let at = b.len() - 9;
            b[at] ^= 0x40;
        }),
        ("the checksum flipped", |b| *b.last_mut().unwrap() ^= 0x80),
        ("another format version", |b| b[8] = b[8].wrapping_add(1)),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        compile(&KernelCache::new(DiskCache::new(dir.path())), &math_kernel());
        let [path] = files(dir.path()).try_into().unwrap();
        let whole = std::fs::read(&path).unwrap();
        let mut damaged = whole.clone();
        damage(&mut damaged);
        std::fs::write(&path, &damaged).unwrap();

        let second = KernelCache::new(DiskCache::new(dir.path()));
        let (code, outcome) = compile(&second, &math_kernel());
        assert_eq!(outcome, CacheOutcome::Generated, "{what}");
        assert_math_correct(&code);
        assert_eq!(files(dir.path()), std::slice::from_ref(&path), "{what}");
        assert!(std::fs::read(&path).unwrap() == whole, "{what}: the entry was not rewritten as generated");

        let third = KernelCache::new(DiskCache::new(dir.path()));
        assert_eq!(compile(&third, &math_kernel()).1, CacheOutcome::Disk, "{what}");
    }
}

#[test]
fn different_kernels_get_entries_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    // The widths are in different classes (the row count, or a width of the same class, would
    // share code).
    let shapes = [(5, 8), (5, 13), (4, 3), (1, 67)];
    let first = KernelCache::new(DiskCache::new(dir.path()));
    for (rows, cols) in shapes {
        assert_eq!(compile(&first, &softmax_kernel(rows, cols)).1, CacheOutcome::Generated);
    }
    assert_eq!(compile(&first, &math_kernel()).1, CacheOutcome::Generated);
    assert_eq!(files(dir.path()).len(), shapes.len() + 1);

    let second = KernelCache::new(DiskCache::new(dir.path()));
    for (rows, cols) in shapes.into_iter().rev() {
        let (code, outcome) = compile(&second, &softmax_kernel(rows, cols));
        assert_eq!(outcome, CacheOutcome::Disk, "softmax {rows}x{cols}");
        assert_softmax_correct(&code, rows, cols);
    }
    assert_math_correct(&compile(&second, &math_kernel()).0);
    assert_eq!(second.stats(), stats(0, shapes.len() as u64 + 1, 0));
}

#[test]
fn a_disabled_disk_cache_keeps_code_in_memory_only() {
    let cache = KernelCache::new(DiskCache::disabled());
    assert_eq!(cache.disk().dir(), None);
    let (code, outcome) = compile(&cache, &math_kernel());
    assert_eq!(outcome, CacheOutcome::Generated);
    assert_math_correct(&code);
    assert_eq!(compile(&cache, &math_kernel()).1, CacheOutcome::Memory);
    let fresh = KernelCache::new(DiskCache::disabled());
    assert_eq!(compile(&fresh, &math_kernel()).1, CacheOutcome::Generated);
    assert_eq!(DiskCache::disabled().load("any key"), None);
}

#[test]
fn an_entry_for_another_key_under_the_same_file_name_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskCache::new(dir.path());
    disk.store("key one", "clif one", &[0xc3]);
    let loaded = disk.load("key one").unwrap();
    assert_eq!((loaded.clif.as_str(), loaded.code.as_slice()), ("clif one", &[0xc3u8][..]));
    // What a hash collision would look like: the file of "key two" holds "key one".
    std::fs::copy(disk.path("key one").unwrap(), disk.path("key two").unwrap()).unwrap();
    assert_eq!(disk.load("key two"), None);
    assert_eq!(disk.load("key three"), None);
}

#[test]
fn keys_name_the_kernel_structure_and_the_target() {
    let isa = jit::host_isa().unwrap();
    let mut anonymous = softmax_kernel(5, 8);
    anonymous.name = String::new();
    let key = cache::key(&anonymous, &*isa);
    for part in ["ignis-kernels-gen 0.1.0 sources ", "cranelift 0.135.8", "opt_level = \"speed\"", "Kernel {"] {
        assert!(key.contains(part), "{part:?} missing from\n{key}");
    }
    assert!(key.contains(&format!("target {}", isa.triple())), "{key}");
    let mut other = softmax_kernel(5, 13);
    other.name = String::new();
    assert_ne!(cache::key(&other, &*isa), key);
}

#[cfg(unix)]
#[test]
fn a_directory_others_can_write_to_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, outcome) = compile(&KernelCache::new(DiskCache::new(&shared)), &math_kernel());
    assert_eq!(outcome, CacheOutcome::Generated);
    assert_math_correct(&code);
    assert_eq!(files(&shared), Vec::<PathBuf>::new());

    // An entry planted there is not loaded either.
    let private = dir.path().join("private");
    compile(&KernelCache::new(DiskCache::new(&private)), &math_kernel());
    let [entry] = files(&private).try_into().unwrap();
    std::fs::copy(&entry, shared.join(entry.file_name().unwrap())).unwrap();
    assert_eq!(compile(&KernelCache::new(DiskCache::new(&shared)), &math_kernel()).1, CacheOutcome::Generated);
}

#[test]
fn directory_follows_the_setting_then_xdg_then_home() {
    let some = |s: &str| Some(OsString::from(s));
    assert_eq!(cache::directory(some("/c"), some("/x"), some("/h")), Some(PathBuf::from("/c")));
    assert_eq!(cache::directory(some("off"), some("/x"), some("/h")), None);
    assert_eq!(cache::directory(some(""), some("/x"), some("/h")), None);
    assert_eq!(cache::directory(None, some("/x"), some("/h")), Some(PathBuf::from("/x/ignis/kernels")));
    assert_eq!(cache::directory(None, some("relative"), some("/h")), Some(PathBuf::from("/h/.cache/ignis/kernels")));
    assert_eq!(cache::directory(None, None, some("/h")), Some(PathBuf::from("/h/.cache/ignis/kernels")));
    assert_eq!(cache::directory(None, some(""), some("")), Some(std::env::temp_dir().join("ignis-kernels")));
}

/// Every op the kernels support, in vector loops with a tail, in a reduction, and through bf16
/// loads and stores, compiles to code that calls nothing (what makes it storable on disk).
#[test]
fn every_supported_op_compiles_without_relocations() {
    let isa = jit::host_isa().unwrap();
    let unary = UnaryOp::ALL.into_iter().filter(supports_unary).map(|op| (format!("{op:?}"), Some(op), None));
    let binary = BinaryOp::ALL.into_iter().filter(supports_binary).map(|op| (format!("{op:?}"), None, Some(op)));
    let mut checked = 0;
    for (name, unary, binary) in unary.chain(binary) {
        let mut k = Kernel::new(name.clone(), vec![2]);
        let x = k.add_buffer(DType::F32, Access::Read);
        let z = k.add_buffer(DType::BF16, Access::Read);
        let y = k.add_buffer(DType::F32, Access::Write);
        let h = k.add_buffer(DType::BF16, Access::Write);
        let row = Index { offset: 0, outer: vec![COLS as i64], inner: vec![1] };
        let lx = k.push(Expr::Load { buffer: x, index: row.clone() });
        let lz = k.push(Expr::Load { buffer: z, index: row.clone() });
        let zero = k.push(Expr::Const(0.0));
        let value = match (unary, binary) {
            (Some(UnaryOp::LogicalNot), _) => {
                let positive = k.push(Expr::Binary(BinaryOp::Gt, lx, zero));
                let not = k.push(Expr::Unary(UnaryOp::LogicalNot, positive));
                k.push(Expr::BoolToFloat(not))
            }
            (Some(op @ (UnaryOp::IsNan | UnaryOp::IsInf)), _) => {
                let flag = k.push(Expr::Unary(op, lx));
                k.push(Expr::BoolToFloat(flag))
            }
            (Some(op), _) => k.push(Expr::Unary(op, lx)),
            (_, Some(op)) if op.is_logical() => {
                let a = k.push(Expr::Binary(BinaryOp::Gt, lx, zero));
                let b = k.push(Expr::Binary(BinaryOp::Lt, lz, zero));
                let flag = k.push(Expr::Binary(op, a, b));
                k.push(Expr::BoolToFloat(flag))
            }
            (_, Some(op)) if op.is_comparison() => {
                let flag = k.push(Expr::Binary(op, lx, lz));
                k.push(Expr::Select(flag, lx, lz))
            }
            (_, Some(op)) => k.push(Expr::Binary(op, lx, lz)),
            (None, None) => unreachable!("each case names one op"),
        };
        let total = k.push(Expr::Stage(0));
        let shifted = k.push(Expr::Binary(BinaryOp::Sub, value, total));
        k.stages.push(Stage { inner: vec![COLS], kind: StageKind::Reduce { combine: Combine::Sum, value } });
        let stores =
            vec![Store { buffer: y, index: row.clone(), value: shifted }, Store { buffer: h, index: row, value }];
        k.stages.push(Stage { inner: vec![COLS], kind: StageKind::Store(stores) });
        match jit::generate(&super::sizes::split(&k).0, &name, &isa).unwrap_or_else(|e| panic!("{e}")) {
            Generated::Bytes { code, .. } => assert!(!code.is_empty(), "{name}"),
            Generated::Linked(_) => panic!("{name}: the code has relocations"),
        }
        checked += 1;
    }
    assert_eq!(checked, 31 + 15, "supported unary and binary ops");
}

/// Without FMA and SSE4.1, Cranelift calls the C library for `fma` and rounding: such code is
/// linked in memory, still correct, and never written to disk.
#[cfg(target_arch = "x86_64")]
#[test]
fn code_that_needs_linking_stays_out_of_the_disk_cache() {
    use cranelift_codegen::settings::{self, Configurable};
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").unwrap();
    // The baseline x86-64 ISA: no CPU features detected.
    let isa = cranelift_native::builder_with_options(false).unwrap().finish(settings::Flags::new(flags)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = KernelCache::with_isa(DiskCache::new(dir.path()), isa);
    let (code, outcome) = compile(&cache, &math_kernel());
    assert_eq!(outcome, CacheOutcome::Generated);
    assert!(code.is_linked());
    assert_math_correct(&code);
    assert_eq!(files(dir.path()), Vec::<PathBuf>::new());
    assert_eq!(compile(&cache, &math_kernel()).1, CacheOutcome::Memory);
}
