//! Generated kernels lowered by LLVM and accepted by each target's assembler: `ptxas` for
//! sm_80 and sm_90, `llvm-mc` and `ld.lld` for gfx90a and gfx942. No GPU is needed.

use super::lower::lower;
use super::tests::{bias_relu, column_mean, every_op, mixed_dtypes, softmax};
use super::tools::assemble;
use super::{Target, write_mlir};
use ignis_ir::kernel::Kernel;

fn targets() -> Vec<Target> {
    vec![
        Target::Cuda { sm: 80 },
        Target::Cuda { sm: 90 },
        Target::Rocm { chip: "gfx90a".into() },
        Target::Rocm { chip: "gfx942".into() },
    ]
}

fn kernels() -> Vec<Kernel> {
    vec![
        bias_relu(3, 500),
        softmax(64, 1000),
        softmax(10_000, 8),
        column_mean(512, 8192),
        mixed_dtypes(6, 10),
        every_op(1000),
    ]
}

#[test]
fn every_kernel_lowers_and_assembles_for_every_target() {
    let dir = tempfile::tempdir().unwrap();
    for target in targets() {
        for kernel in kernels() {
            let source = write_mlir(&kernel, &target).unwrap();
            let lowered = lower(&source).unwrap_or_else(|e| panic!("{target}: {e}\n{}", source.mlir));
            let asm = &lowered.assembly;
            match target {
                Target::Cuda { sm } => {
                    assert!(asm.contains(&format!(".target sm_{sm}")), "{asm}");
                    assert!(asm.contains(&format!(".entry {}(", source.name)), "{asm}");
                    // Everything is inline: no device library calls.
                    assert!(!asm.contains("call"), "{target} {}: a call in\n{asm}", source.name);
                    assert!(lowered.lowered_mlir.contains("nvvm"), "{}", lowered.lowered_mlir);
                }
                Target::Rocm { ref chip } => {
                    assert!(asm.contains(&format!(".amdhsa_kernel {}", source.name)), "{asm}");
                    assert!(asm.contains(chip.as_str()), "{asm}");
                    assert!(!asm.contains("s_swappc") && !asm.contains("__ocml"), "{target}: a call in\n{asm}");
                    assert!(lowered.lowered_mlir.contains("rocdl"), "{}", lowered.lowered_mlir);
                }
            }
            let stem = format!("{}_{}", source.name, target.chip());
            let object = assemble(asm, &target, dir.path(), &stem).unwrap_or_else(|e| panic!("{e}\n{asm}"));
            assert!(std::fs::metadata(&object).unwrap().len() > 0, "{}", object.display());
        }
    }
}

#[test]
fn reductions_keep_their_tree_in_shared_memory_and_elementwise_kernels_use_global_loads() {
    let ptx = lower(&write_mlir(&softmax(64, 1000), &Target::cuda()).unwrap()).unwrap().assembly;
    assert!(ptx.contains(".shared"), "{ptx}");
    assert!(ptx.contains("bar.sync"), "{ptx}");
    let ptx = lower(&write_mlir(&bias_relu(3, 500), &Target::cuda()).unwrap()).unwrap().assembly;
    assert!(ptx.contains("ld.global"), "{ptx}");
    assert!(ptx.contains("st.global"), "{ptx}");
}

#[test]
fn invalid_mlir_is_an_error_that_quotes_the_diagnostics() {
    let mut source = write_mlir(&bias_relu(2, 8), &Target::cuda()).unwrap();
    source.mlir = source.mlir.replace("arith.addf", "arith.no_such_op");
    let e = lower(&source).unwrap_err().to_string();
    assert!(e.contains("kernel bias_relu: MLIR parsing failed"), "{e}");
    assert!(e.contains("arith.no_such_op"), "{e}");
}
