//! ignis-ir: the vocabulary every other crate speaks.
//!
//! Dtypes, shapes with constant or symbolic dims and the shape rules of every op, the one
//! `Op` enum, and the graph IR with its text form. This crate knows nothing of storage,
//! kernels or devices: it describes computations, it never runs them.

pub mod algo;
pub mod attrs;
pub mod builder;
pub mod dot;
pub mod dtype;
pub mod graph;
pub mod infer;
mod lex;
pub mod op;
pub mod parse;
pub mod scalar;
pub mod shape;
pub mod text;
pub mod verify;

pub use dtype::{DType, DTypeKind};
pub use op::{BinaryOp, Op, PadMode, ReduceOp, UnaryOp, Window2d};
pub use scalar::Scalar;
pub use shape::{Dim, Dims, Shape, ShapeError, Symbol};
