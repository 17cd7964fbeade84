//! Wide routines: each math function over a block of values in place, compiled from the Rust
//! form (`evaluate`) by rustc for the building machine's full vector width (16 lanes with
//! AVX-512), where Cranelift's x64 backend stops at 4. Generated kernels call them through a
//! table passed as an argument, which keeps the code free of relocations (so it can be cached
//! on disk) and calls the routines of whichever process runs it. Their results are those of
//! the inline code bit for bit, so which one a kernel uses never shows in its output.

use super::{MathFn, evaluate};

/// A routine: `values[i] = f(values[i])` for `i < n`.
pub type WideFn = unsafe extern "C" fn(values: *mut f32, n: i64);

macro_rules! routines {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(
            unsafe extern "C" fn $name(values: *mut f32, n: i64) {
                // SAFETY: the caller passes `n` writable values.
                let values = unsafe { std::slice::from_raw_parts_mut(values, n as usize) };
                for v in values {
                    *v = evaluate($f, *v);
                }
            }
        )*
        /// The routines in the order of [`MathFn::ALL`].
        static ROUTINES: [WideFn; MathFn::ALL.len()] = [$($name),*];
    };
}

routines! {
    wide_exp => MathFn::Exp,
    wide_log => MathFn::Log,
    wide_log1p => MathFn::Log1p,
    wide_expm1 => MathFn::Expm1,
    wide_tanh => MathFn::Tanh,
    wide_erf => MathFn::Erf,
    wide_sigmoid => MathFn::Sigmoid,
    wide_gelu => MathFn::Gelu,
    wide_gelu_tanh => MathFn::GeluTanh,
    wide_silu => MathFn::Silu,
    wide_softplus => MathFn::Softplus,
    wide_mish => MathFn::Mish,
}

/// The table generated kernels take as their last argument.
pub fn support_table() -> *const u8 {
    ROUTINES.as_ptr() as *const u8
}

/// Where `f`'s routine sits in the table.
fn index(f: MathFn) -> usize {
    MathFn::ALL.iter().position(|&g| g == f).expect("every function has a routine")
}

/// Where `f`'s routine sits in the table, in bytes.
pub(crate) fn table_offset(f: MathFn) -> i32 {
    (index(f) * std::mem::size_of::<WideFn>()) as i32
}

/// `f` over `values` through its routine.
#[cfg(test)]
pub(crate) fn run(f: MathFn, values: &mut [f32]) {
    // SAFETY: the slice holds `len` writable values.
    unsafe { ROUTINES[index(f)](values.as_mut_ptr(), values.len() as i64) }
}
