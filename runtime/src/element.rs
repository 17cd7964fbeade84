//! The Rust types behind each dtype, and macros that dispatch on a dtype to generic code.

use half::{bf16, f16};
use ignis_ir::DType;

/// A Rust type that stores one element of a dtype.
pub trait Element: Copy + Send + Sync + PartialOrd + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn to_f32(self) -> f32 {
        self.to_f64() as f32
    }
    fn from_f32(v: f32) -> Self {
        Self::from_f64(v as f64)
    }
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    fn from_i64(v: i64) -> Self {
        Self::from_f64(v as f64)
    }
    fn zero() -> Self;
    fn one() -> Self;
}

macro_rules! int_element {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            // Directly, not through f64: a large i64 would be rounded twice.
            fn to_f32(self) -> f32 {
                self as f32
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn zero() -> Self {
                0
            }
            fn one() -> Self {
                1
            }
        }
    };
}
int_element!(i64, DType::I64);
int_element!(i32, DType::I32);
int_element!(u8, DType::U8);

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
    fn zero() -> Self {
        f16::ZERO
    }
    fn one() -> Self {
        f16::ONE
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    fn to_f64(self) -> f64 {
        bf16::to_f64(self)
    }
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
    fn zero() -> Self {
        bf16::ZERO
    }
    fn one() -> Self {
        bf16::ONE
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
}

/// Runs `$body` with `$T` bound to the Rust type of `$dtype` (every dtype).
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            ignis_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            ignis_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            ignis_ir::DType::F16 => {
                type $T = half::f16;
                $body
            }
            ignis_ir::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            ignis_ir::DType::I64 => {
                type $T = i64;
                $body
            }
            ignis_ir::DType::I32 => {
                type $T = i32;
                $body
            }
            ignis_ir::DType::U8 => {
                type $T = u8;
                $body
            }
            ignis_ir::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Like `with_dtype!` for the dtypes that compute natively: f32, f64 and the integers.
/// Half floats and bool hit `$other`.
#[macro_export]
macro_rules! with_native_dtype {
    ($dtype:expr, $T:ident => $body:expr, $other:expr) => {
        match $dtype {
            ignis_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            ignis_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            ignis_ir::DType::I64 => {
                type $T = i64;
                $body
            }
            ignis_ir::DType::I32 => {
                type $T = i32;
                $body
            }
            ignis_ir::DType::U8 => {
                type $T = u8;
                $body
            }
            _ => $other,
        }
    };
}

/// Like `with_dtype!` for f32 and f64 only; other dtypes hit `$other`.
#[macro_export]
macro_rules! with_float_dtype {
    ($dtype:expr, $T:ident => $body:expr, $other:expr) => {
        match $dtype {
            ignis_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            ignis_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $other,
        }
    };
}
