//! ignis-ir: the vocabulary every other crate speaks.
//!
//! Dtypes, shapes with constant or symbolic dims and the shape rules of every op, the one
//! `Op` enum, and the graph IR: typed ids and nodes (`graph`), shape and dtype inference
//! (`infer`), a checked builder, the verifier, the text form (`text`, `parse`), DOT output
//! and petgraph-based graph algorithms (`algo`), and the kernel IR every code generator reads
//! (`kernel`). This crate knows nothing of storage or devices: it describes computations,
//! it never runs them.

pub mod algo;
pub mod attrs;
pub mod builder;
pub mod dot;
pub mod dtype;
pub mod graph;
pub mod infer;
pub mod kernel;
mod lex;
pub mod op;
pub mod parse;
pub mod scalar;
pub mod shape;
pub mod text;
pub mod verify;

pub use builder::{BuildError, GraphBuilder};
pub use dtype::{DType, DTypeKind};
pub use graph::{Graph, Node, NodeId, Param, Value, ValueDef, ValueType};
pub use infer::{InferError, infer};
pub use op::{BinaryOp, Op, PadMode, ReduceOp, UnaryOp, Window2d};
pub use parse::{ParseError, parse};
pub use scalar::Scalar;
pub use shape::{Dim, Dims, Shape, ShapeError, Symbol};
pub use verify::{VerifyError, verify};
