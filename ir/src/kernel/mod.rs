//! The kernel IR: what one generated function computes, for every backend.
//!
//! A kernel runs over an *outer* iteration space (the loops the runtime splits across
//! threads). For each outer point it runs its stages in order; a stage runs over an *inner*
//! space (possibly empty) and either reduces an expression to one value per outer point
//! (`Reduce`, read by later stages as `Expr::Stage`) or stores expressions into output
//! buffers (`Store`). An elementwise kernel is one store stage; softmax is two reductions
//! (max, sum of exponentials) and a store; layer norm is two reductions (mean, variance)
//! and a store.
//!
//! Buffers are addressed through affine indices: an element offset plus one stride per
//! outer and per inner loop, in elements of the buffer's dtype. Broadcasting is a stride
//! of 0, a transpose permuted strides, a slice an offset. Expressions form a DAG in an
//! arena; every expression has a dtype (`f32` or `bool` inside the kernel: half-precision
//! buffers load as `f32` and store back rounded, f64 buffers are only read, rounded to
//! `f32`).

mod text;

use crate::dtype::DType;
use crate::op::{BinaryOp, UnaryOp};
use std::fmt;

/// An expression of a kernel: `e7` in the text form.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(u32);

impl ExprId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ExprId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}

/// Whether the kernel reads or writes a buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
}

/// A buffer parameter: `b2: f32 write`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BufferParam {
    pub dtype: DType,
    pub access: Access,
}

/// Where an element lives: `offset + sum(outer[i] * o_i) + sum(inner[j] * i_j)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Index {
    pub offset: i64,
    /// One stride per outer loop of the kernel.
    pub outer: Vec<i64>,
    /// One stride per inner loop of the stage that evaluates the access (empty in stages
    /// without inner loops).
    pub inner: Vec<i64>,
}

impl Index {
    /// The stride of the innermost loop (0 when there is none).
    pub fn innermost(&self) -> i64 {
        self.inner.last().copied().unwrap_or(0)
    }

    /// Whether the address depends on the inner loops at all.
    pub fn varies_inside(&self) -> bool {
        self.inner.iter().any(|&s| s != 0)
    }
}

/// How a reduction combines values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Combine {
    Sum,
    Prod,
    Max,
    Min,
}

impl Combine {
    pub fn name(self) -> &'static str {
        match self {
            Combine::Sum => "sum",
            Combine::Prod => "prod",
            Combine::Max => "max",
            Combine::Min => "min",
        }
    }

    /// The neutral element the accumulator starts from.
    pub fn identity(self) -> f32 {
        match self {
            Combine::Sum => 0.0,
            Combine::Prod => 1.0,
            Combine::Max => f32::NEG_INFINITY,
            Combine::Min => f32::INFINITY,
        }
    }
}

/// One node of a kernel's expression DAG.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An element of a buffer parameter, converted to the kernel's compute type.
    Load {
        buffer: usize,
        index: Index,
    },
    Const(f32),
    /// A boolean constant.
    Flag(bool),
    Unary(UnaryOp, ExprId),
    Binary(BinaryOp, ExprId, ExprId),
    /// `a * b + c` in one rounding.
    Fma(ExprId, ExprId, ExprId),
    /// `if cond { a } else { b }`.
    Select(ExprId, ExprId, ExprId),
    /// A bool as 0.0 / 1.0.
    BoolToFloat(ExprId),
    /// The result of an earlier reduction stage at the current outer point.
    Stage(usize),
    /// The number of points of a stage's inner space as an `f32`: the count of the elements
    /// it reduces, which a mean or a variance divides by. It is an expression rather than a
    /// constant so that the code reads it from the extents and serves every size.
    Count(usize),
}

impl Eq for Expr {}

impl std::hash::Hash for Expr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Expr::Load { buffer, index } => (buffer, index).hash(state),
            Expr::Const(v) => v.to_bits().hash(state),
            Expr::Flag(b) => b.hash(state),
            Expr::Unary(op, a) => (op, a).hash(state),
            Expr::Binary(op, a, b) => (op, a, b).hash(state),
            Expr::Fma(a, b, c) | Expr::Select(a, b, c) => (a, b, c).hash(state),
            Expr::BoolToFloat(a) => a.hash(state),
            Expr::Stage(s) | Expr::Count(s) => s.hash(state),
        }
    }
}

impl Expr {
    /// The expressions this one reads.
    pub fn operands(&self) -> Vec<ExprId> {
        match self {
            Expr::Load { .. } | Expr::Const(_) | Expr::Flag(_) | Expr::Stage(_) | Expr::Count(_) => vec![],
            Expr::Unary(_, a) | Expr::BoolToFloat(a) => vec![*a],
            Expr::Binary(_, a, b) => vec![*a, *b],
            Expr::Fma(a, b, c) | Expr::Select(a, b, c) => vec![*a, *b, *c],
        }
    }
}

/// A store of one expression into an output buffer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Store {
    pub buffer: usize,
    pub index: Index,
    pub value: ExprId,
}

/// What a stage does at each point of its inner space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// Combines `value` over the inner space into one value per outer point.
    Reduce {
        combine: Combine,
        value: ExprId,
    },
    Store(Vec<Store>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stage {
    /// The inner loops' extents, outermost first (empty: the stage runs once per outer point).
    pub inner: Vec<usize>,
    pub kind: StageKind,
}

impl Stage {
    /// The expressions the stage computes: its reduced value or its stored values.
    pub fn roots(&self) -> Vec<ExprId> {
        match &self.kind {
            StageKind::Reduce { value, .. } => vec![*value],
            StageKind::Store(stores) => stores.iter().map(|s| s.value).collect(),
        }
    }
}

/// A generated function: `kernel @name(b0: f32 read, b1: f32 write) outer [64, 1024] { ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub name: String,
    pub buffers: Vec<BufferParam>,
    /// The outer loops' extents, outermost first; the runtime splits their flattened range.
    pub outer: Vec<usize>,
    pub stages: Vec<Stage>,
    pub exprs: Vec<Expr>,
}

impl Kernel {
    pub fn new(name: impl Into<String>, outer: Vec<usize>) -> Kernel {
        Kernel { name: name.into(), buffers: Vec::new(), outer, stages: Vec::new(), exprs: Vec::new() }
    }

    /// The expressions `roots` depend on (themselves included), operands before their users.
    pub fn reachable(&self, roots: &[ExprId]) -> Vec<ExprId> {
        fn visit(k: &Kernel, id: ExprId, seen: &mut [bool], order: &mut Vec<ExprId>) {
            if std::mem::replace(&mut seen[id.index()], true) {
                return;
            }
            for o in k.expr(id).operands() {
                visit(k, o, seen, order);
            }
            order.push(id);
        }
        let mut seen = vec![false; self.exprs.len()];
        let mut order = Vec::new();
        for &r in roots {
            visit(self, r, &mut seen, &mut order);
        }
        order
    }

    /// Every index of the kernel: its loads' (in expression order), then its stores'.
    pub fn indices(&self) -> impl Iterator<Item = &Index> {
        let loads = self.exprs.iter().filter_map(|e| match e {
            Expr::Load { index, .. } => Some(index),
            _ => None,
        });
        let stores = self.stages.iter().flat_map(|stage| match &stage.kind {
            StageKind::Store(list) => list.iter().map(|s| &s.index).collect(),
            StageKind::Reduce { .. } => Vec::new(),
        });
        loads.chain(stores)
    }

    /// Every index of the kernel, mutably, in the order of [`Kernel::indices`].
    pub fn for_each_index_mut(&mut self, mut f: impl FnMut(&mut Index)) {
        for e in &mut self.exprs {
            if let Expr::Load { index, .. } = e {
                f(index);
            }
        }
        for stage in &mut self.stages {
            if let StageKind::Store(list) = &mut stage.kind {
                list.iter_mut().for_each(|s| f(&mut s.index));
            }
        }
    }

    pub fn expr(&self, id: ExprId) -> &Expr {
        &self.exprs[id.index()]
    }

    /// Adds an expression, reusing an identical one.
    pub fn push(&mut self, expr: Expr) -> ExprId {
        if let Some(i) = self.exprs.iter().position(|e| *e == expr) {
            return ExprId(i as u32);
        }
        self.exprs.push(expr);
        ExprId(self.exprs.len() as u32 - 1)
    }

    pub fn add_buffer(&mut self, dtype: DType, access: Access) -> usize {
        self.buffers.push(BufferParam { dtype, access });
        self.buffers.len() - 1
    }

    /// The number of points of the outer space.
    pub fn outer_points(&self) -> usize {
        self.outer.iter().product()
    }

    /// Elementwise work per outer point, summed over the stages (for grain decisions).
    pub fn inner_points(&self) -> usize {
        self.stages.iter().map(|s| s.inner.iter().product::<usize>().max(1)).sum()
    }

    /// Whether an expression depends on the inner loops (reads a buffer through an index
    /// that moves with them); the rest can be computed once per outer point.
    pub fn varies_inside(&self, id: ExprId) -> bool {
        let mut memo = vec![None; self.exprs.len()];
        self.varies_inside_memo(id, &mut memo)
    }

    fn varies_inside_memo(&self, id: ExprId, memo: &mut Vec<Option<bool>>) -> bool {
        if let Some(v) = memo[id.index()] {
            return v;
        }
        let v = match self.expr(id) {
            Expr::Load { index, .. } => index.varies_inside(),
            e => e.operands().into_iter().any(|o| self.varies_inside_memo(o, memo)),
        };
        memo[id.index()] = Some(v);
        v
    }

    /// The dtype an expression computes in (`F32` or `Bool`).
    pub fn expr_dtype(&self, id: ExprId) -> DType {
        match self.expr(id) {
            Expr::Load { buffer, .. } => {
                if self.buffers[*buffer].dtype == DType::Bool {
                    DType::Bool
                } else {
                    DType::F32
                }
            }
            Expr::Flag(_) => DType::Bool,
            Expr::Unary(op, _) if op.is_predicate() => DType::Bool,
            Expr::Binary(op, _, _) if op.is_comparison() || op.is_logical() => DType::Bool,
            Expr::Select(_, a, _) => self.expr_dtype(*a),
            _ => DType::F32,
        }
    }
}
