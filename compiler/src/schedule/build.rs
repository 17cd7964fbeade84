//! Building one kernel: its members' expressions at the kernel's loop coordinates.
//!
//! A kernel has a *space*: a pointwise kernel loops over a shape (every dim an outer loop);
//! a reduction kernel over the shape of its reductions' input, with the kept dims as outer
//! loops and the reduced dims as inner loops. A value is reached through a *mapping* from
//! its dims to loop coordinates (broadcast dims map to nothing). Pointwise producers that
//! are not stored are inlined (recomputed); reductions of the same kernel are read as stage
//! results; everything else is loaded from its buffer through its layout's strides.

use super::classify::Class;
use super::layouts::Layouts;
use ignis_ir::kernel::{Access, Combine, Expr, ExprId, Index, Kernel, Stage, StageKind};
use ignis_ir::{BinaryOp, DType, Graph, NodeId, Op, ReduceOp, UnaryOp, Value, ValueDef};
use ignis_runtime::interpret::concrete_shape;
use std::collections::HashMap;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Coord {
    Outer(usize),
    Inner(usize),
    Zero,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Space {
    Pointwise(Vec<usize>),
    Reduction { shape: Vec<usize>, axes: Vec<usize> },
}

/// Facts about the whole graph the builder reads.
pub struct Context<'g> {
    pub graph: &'g Graph,
    pub classes: &'g [Class],
    pub layouts: &'g Layouts,
    /// Pointwise nodes that are stored rather than inlined.
    pub materialized: &'g [bool],
    /// The step that produces each node's value, once scheduled.
    pub produced_at: &'g [Option<usize>],
}

/// A value stored by the kernel if something outside it reads it.
#[derive(Clone, Debug)]
pub struct StoreCandidate {
    pub node: NodeId,
    pub stage: usize,
    pub index: Index,
    pub value: ExprId,
}

#[derive(Clone, Debug)]
pub struct KernelBuilder {
    pub kernel: Kernel,
    pub space: Space,
    pub position: usize,
    pub members: Vec<NodeId>,
    /// Reductions of this kernel: their value expression and whether it lives in the row
    /// space (softmax, layer norm) or the reduced space (sum, var).
    reductions: HashMap<NodeId, (ExprId, bool)>,
    /// Buffers read, by value.
    reads: HashMap<Value, usize>,
    pub buffers: Vec<Value>,
    pub stores: Vec<StoreCandidate>,
}

fn shape_of(graph: &Graph, v: Value) -> Vec<usize> {
    concrete_shape(graph.value_type(v).expect("values are defined"))
}

impl KernelBuilder {
    pub fn new(name: String, space: Space, position: usize) -> KernelBuilder {
        KernelBuilder {
            kernel: Kernel::new(name, vec![]),
            space,
            position,
            members: vec![],
            reductions: HashMap::new(),
            reads: HashMap::new(),
            buffers: vec![],
            stores: vec![],
        }
    }

    pub fn contains(&self, n: NodeId) -> bool {
        self.members.contains(&n)
    }

    fn outer_count(&self) -> usize {
        match &self.space {
            Space::Pointwise(s) => s.len(),
            Space::Reduction { shape, axes } => shape.len() - axes.len(),
        }
    }

    fn inner_count(&self) -> usize {
        match &self.space {
            Space::Pointwise(_) => 0,
            Space::Reduction { axes, .. } => axes.len(),
        }
    }

    /// The mapping of a value with the space's full shape.
    fn canonical(&self) -> Vec<Coord> {
        match &self.space {
            Space::Pointwise(s) => (0..s.len()).map(Coord::Outer).collect(),
            Space::Reduction { shape, axes } => {
                let mut outer = 0;
                (0..shape.len())
                    .map(|d| match axes.iter().position(|&a| a == d) {
                        Some(i) => Coord::Inner(i),
                        None => {
                            outer += 1;
                            Coord::Outer(outer - 1)
                        }
                    })
                    .collect()
            }
        }
    }

    /// The mapping of a value of the reduced shape (with or without the reduced dims kept
    /// as size 1); `None` if `shape` is neither.
    fn reduced_mapping(&self, shape: &[usize]) -> Option<Vec<Coord>> {
        let Space::Reduction { shape: full, axes } = &self.space else { return None };
        let kept: Vec<usize> = (0..full.len()).filter(|d| !axes.contains(d)).map(|d| full[d]).collect();
        if shape == kept.as_slice() {
            return Some((0..kept.len()).map(Coord::Outer).collect());
        }
        let keepdim: Vec<usize> = (0..full.len()).map(|d| if axes.contains(&d) { 1 } else { full[d] }).collect();
        if shape == keepdim.as_slice() {
            let mut outer = 0;
            return Some(
                (0..full.len())
                    .map(|d| {
                        if axes.contains(&d) {
                            Coord::Zero
                        } else {
                            outer += 1;
                            Coord::Outer(outer - 1)
                        }
                    })
                    .collect(),
            );
        }
        None
    }

    /// Adds a pointwise or reduction node; on failure the builder is unusable (callers try
    /// on a clone) and the reason says why the fusion was refused.
    pub fn add(&mut self, cx: &Context, n: NodeId) -> Result<(), String> {
        let node = cx.graph.node(n);
        let shape = concrete_shape(&node.ty);
        match &cx.classes[n.index()] {
            Class::Pointwise => {
                let full = match &self.space {
                    Space::Pointwise(s) => s.clone(),
                    Space::Reduction { shape, .. } => shape.clone(),
                };
                let (mapping, inner) = if shape == full {
                    (self.canonical(), self.inner_count())
                } else if let Some(m) = self.reduced_mapping(&shape) {
                    (m, 0)
                } else {
                    return Err(format!("its shape {shape:?} is not the kernel's space {full:?}"));
                };
                let value = self.node_expr(cx, n, &mapping, inner)?;
                self.members.push(n);
                self.store(n, &shape, &mapping, inner, value);
                Ok(())
            }
            Class::Reduction { axes } => {
                let input = shape_of(cx.graph, node.inputs[0]);
                let space = Space::Reduction { shape: input.clone(), axes: axes.clone() };
                if self.space != space {
                    return Err(format!("it reduces {input:?} over {axes:?}, the kernel runs over {:?}", self.space));
                }
                let (value, row) = self.reduction(cx, n)?;
                self.members.push(n);
                self.reductions.insert(n, (value, row));
                let (mapping, inner) = if row {
                    (self.canonical(), self.inner_count())
                } else {
                    (self.reduced_mapping(&shape).expect("a reduction's result has the reduced shape"), 0)
                };
                self.store(n, &shape, &mapping, inner, value);
                Ok(())
            }
            other => Err(format!("{other:?} nodes are not fused")),
        }
    }

    fn store(&mut self, n: NodeId, shape: &[usize], mapping: &[Coord], inner: usize, value: ExprId) {
        let layout = ignis_runtime::Layout::contiguous(shape);
        let index = self.index(&layout.strides, mapping, inner);
        let extents = self.inner_extents(inner);
        let stage = match self.kernel.stages.last() {
            Some(s) if matches!(s.kind, StageKind::Store(_)) && s.inner == extents => self.kernel.stages.len() - 1,
            _ => {
                self.kernel.stages.push(Stage { inner: extents, kind: StageKind::Store(vec![]) });
                self.kernel.stages.len() - 1
            }
        };
        self.stores.push(StoreCandidate { node: n, stage, index, value });
    }

    fn inner_extents(&self, inner: usize) -> Vec<usize> {
        match &self.space {
            Space::Reduction { shape, axes } if inner > 0 => axes.iter().map(|&a| shape[a]).collect(),
            _ => vec![],
        }
    }

    fn index(&self, strides: &[isize], mapping: &[Coord], inner: usize) -> Index {
        let mut index = Index { offset: 0, outer: vec![0; self.outer_count()], inner: vec![0; inner] };
        for (d, c) in mapping.iter().enumerate() {
            match c {
                Coord::Outer(i) => index.outer[*i] += strides[d] as i64,
                Coord::Inner(i) => index.inner[*i] += strides[d] as i64,
                Coord::Zero => {}
            }
        }
        index
    }

    fn push(&mut self, e: Expr) -> ExprId {
        self.kernel.push(e)
    }

    fn constant(&mut self, v: f64) -> ExprId {
        self.push(Expr::Const(v as f32))
    }

    fn binary(&mut self, op: BinaryOp, a: ExprId, b: ExprId) -> ExprId {
        if op == BinaryOp::Add {
            for (m, other) in [(a, b), (b, a)] {
                if let Expr::Binary(BinaryOp::Mul, x, y) = *self.kernel.expr(m) {
                    return self.push(Expr::Fma(x, y, other));
                }
            }
        }
        self.push(Expr::Binary(op, a, b))
    }

    fn unary(&mut self, op: UnaryOp, a: ExprId) -> ExprId {
        self.push(Expr::Unary(op, a))
    }

    fn as_bool(&mut self, e: ExprId) -> ExprId {
        if self.kernel.expr_dtype(e) == DType::Bool {
            return e;
        }
        let zero = self.constant(0.0);
        self.push(Expr::Binary(BinaryOp::Ne, e, zero))
    }

    fn as_float(&mut self, e: ExprId) -> ExprId {
        if self.kernel.expr_dtype(e) == DType::Bool { self.push(Expr::BoolToFloat(e)) } else { e }
    }

    /// The expression of value `v` seen through `mapping`, in a stage with `inner` loops.
    fn value_expr(&mut self, cx: &Context, v: Value, mapping: &[Coord], inner: usize) -> Result<ExprId, String> {
        let ValueDef::Node(n) = v.def() else { return Ok(self.load(cx, v, mapping, inner)) };
        if let Some(&(value, row)) = self.reductions.get(&n) {
            let ok = if row {
                inner == self.inner_count() && same_coords(cx, v, mapping, &self.canonical())
            } else {
                let shape = shape_of(cx.graph, v);
                self.reduced_mapping(&shape).is_some_and(|m| same_coords(cx, v, mapping, &m))
            };
            return if ok {
                Ok(value)
            } else {
                Err(format!("it reads reduction {n} at other coordinates than the kernel's"))
            };
        }
        let inline = cx.classes[n.index()] == Class::Pointwise && (!cx.materialized[n.index()] || self.contains(n));
        if inline {
            let dtype = cx.graph.node(n).ty.dtype;
            if self.contains(n) && matches!(dtype, DType::BF16 | DType::F16) {
                return Err(format!("it reads {n}, a {dtype} value this kernel rounds when it stores it"));
            }
            return self.node_expr(cx, n, mapping, inner);
        }
        match cx.produced_at[n.index()] {
            Some(step) if step < self.position => Ok(self.load(cx, v, mapping, inner)),
            _ => Err(format!("its input {n} is computed after this kernel")),
        }
    }

    fn load(&mut self, cx: &Context, v: Value, mapping: &[Coord], inner: usize) -> ExprId {
        let buffer = match self.reads.get(&v) {
            Some(&b) => b,
            None => {
                let dtype = cx.graph.value_type(v).unwrap().dtype;
                let b = self.kernel.add_buffer(dtype, Access::Read);
                self.reads.insert(v, b);
                self.buffers.push(v);
                b
            }
        };
        let index = self.index(&cx.layouts.of(v).strides, mapping, inner);
        self.push(Expr::Load { buffer, index })
    }

    /// The mapping of input `u` of a node of shape `shape` seen through `mapping`
    /// (numpy broadcasting: dims align from the right, size-1 dims stay put).
    fn broadcast(shape: &[usize], mapping: &[Coord], input: &[usize]) -> Vec<Coord> {
        let offset = shape.len() - input.len();
        (0..input.len())
            .map(|i| if input[i] == 1 && shape[offset + i] != 1 { Coord::Zero } else { mapping[offset + i] })
            .collect()
    }

    fn input_expr(
        &mut self,
        cx: &Context,
        n: NodeId,
        i: usize,
        mapping: &[Coord],
        inner: usize,
    ) -> Result<ExprId, String> {
        let node = cx.graph.node(n);
        let shape = concrete_shape(&node.ty);
        let u = node.inputs[i];
        let m = Self::broadcast(&shape, mapping, &shape_of(cx.graph, u));
        self.value_expr(cx, u, &m, inner)
    }

    fn node_expr(&mut self, cx: &Context, n: NodeId, mapping: &[Coord], inner: usize) -> Result<ExprId, String> {
        let node = cx.graph.node(n);
        Ok(match &node.op {
            Op::Constant(s) => {
                match node.ty.dtype {
                    DType::Bool => self.push(Expr::Flag(s.to_bool())),
                    // Rounded to the constant's own precision, as eager mode stores it.
                    DType::F16 => self.constant(half::f16::from_f64(s.to_f64()).to_f64()),
                    DType::BF16 => self.constant(half::bf16::from_f64(s.to_f64()).to_f64()),
                    _ => self.constant(s.to_f64()),
                }
            }
            Op::Unary(op) => {
                let a = self.input_expr(cx, n, 0, mapping, inner)?;
                self.unary(*op, a)
            }
            Op::Binary(op) => {
                let a = self.input_expr(cx, n, 0, mapping, inner)?;
                let b = self.input_expr(cx, n, 1, mapping, inner)?;
                if op.is_logical() {
                    let (a, b) = (self.as_bool(a), self.as_bool(b));
                    self.push(Expr::Binary(*op, a, b))
                } else {
                    let (a, b) = (self.as_float(a), self.as_float(b));
                    self.binary(*op, a, b)
                }
            }
            Op::Where => {
                let c = self.input_expr(cx, n, 0, mapping, inner)?;
                let a = self.input_expr(cx, n, 1, mapping, inner)?;
                let b = self.input_expr(cx, n, 2, mapping, inner)?;
                if node.ty.dtype == DType::Bool {
                    let (a, b) = (self.as_bool(a), self.as_bool(b));
                    self.push(Expr::Select(c, a, b))
                } else {
                    let (a, b) = (self.as_float(a), self.as_float(b));
                    self.push(Expr::Select(c, a, b))
                }
            }
            Op::Cast(to) => {
                let a = self.input_expr(cx, n, 0, mapping, inner)?;
                if *to == DType::Bool { self.as_bool(a) } else { self.as_float(a) }
            }
            op => return Err(format!("{} is not pointwise", op.name())),
        })
    }

    /// Adds a reduction's stages; returns its value and whether it lives in the row space.
    fn reduction(&mut self, cx: &Context, n: NodeId) -> Result<(ExprId, bool), String> {
        let node = cx.graph.node(n);
        let canonical = self.canonical();
        let inner = self.inner_count();
        let x = self.value_expr(cx, node.inputs[0], &canonical, inner)?;
        let x = self.as_float(x);
        let Space::Reduction { shape, axes } = self.space.clone() else { unreachable!() };
        let count = axes.iter().map(|&a| shape[a]).product::<usize>() as f64;
        let extents: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        // What a mean divides by: the count of a reduction stage's points, read from its
        // extents at run time (see `Expr::Count`).
        let count_of = |b: &mut Self, stage: ExprId| {
            let Expr::Stage(s) = *b.kernel.expr(stage) else { unreachable!("a stage result") };
            b.push(Expr::Count(s))
        };
        let reduce = |b: &mut Self, combine: Combine, value: ExprId| {
            b.kernel.stages.push(Stage { inner: extents.clone(), kind: StageKind::Reduce { combine, value } });
            let s = b.kernel.stages.len() - 1;
            b.push(Expr::Stage(s))
        };
        Ok(match &node.op {
            Op::Reduce { op, .. } => {
                let combine = match op {
                    ReduceOp::Sum | ReduceOp::Mean => Combine::Sum,
                    ReduceOp::Prod => Combine::Prod,
                    ReduceOp::Max => Combine::Max,
                    ReduceOp::Min => Combine::Min,
                    other => return Err(format!("{} is not fused", other.name())),
                };
                let s = reduce(self, combine, x);
                if *op == ReduceOp::Mean {
                    let c = count_of(self, s);
                    (self.push(Expr::Binary(BinaryOp::Div, s, c)), false)
                } else {
                    (s, false)
                }
            }
            Op::Softmax { .. } | Op::LogSoftmax { .. } | Op::LogSumExp { .. } => {
                let max = reduce(self, Combine::Max, x);
                let shifted = self.push(Expr::Binary(BinaryOp::Sub, x, max));
                let exp = self.unary(UnaryOp::Exp, shifted);
                let sum = reduce(self, Combine::Sum, exp);
                match &node.op {
                    Op::Softmax { .. } => {
                        let one = self.constant(1.0);
                        let inverse = self.push(Expr::Binary(BinaryOp::Div, one, sum));
                        (self.push(Expr::Binary(BinaryOp::Mul, exp, inverse)), true)
                    }
                    Op::LogSoftmax { .. } => {
                        let log_sum = self.unary(UnaryOp::Log, sum);
                        (self.push(Expr::Binary(BinaryOp::Sub, shifted, log_sum)), true)
                    }
                    _ => {
                        let log_sum = self.unary(UnaryOp::Log, sum);
                        let total = self.push(Expr::Binary(BinaryOp::Add, max, log_sum));
                        let minus_inf = self.constant(f64::NEG_INFINITY);
                        let empty = self.push(Expr::Binary(BinaryOp::Eq, max, minus_inf));
                        (self.push(Expr::Select(empty, max, total)), false)
                    }
                }
            }
            Op::Var { .. } | Op::LayerNorm { .. } => {
                let sum = reduce(self, Combine::Sum, x);
                let points = count_of(self, sum);
                let mean = self.push(Expr::Binary(BinaryOp::Div, sum, points));
                let centered = self.push(Expr::Binary(BinaryOp::Sub, x, mean));
                let square = self.push(Expr::Binary(BinaryOp::Mul, centered, centered));
                let squares = reduce(self, Combine::Sum, square);
                if let Op::Var { correction, .. } = &node.op {
                    if count - (*correction as f64) <= 0.0 {
                        (self.constant(f64::NAN), false)
                    } else {
                        let d = match *correction {
                            0 => points,
                            c => {
                                let c = self.constant(c as f64);
                                self.push(Expr::Binary(BinaryOp::Sub, points, c))
                            }
                        };
                        (self.push(Expr::Binary(BinaryOp::Div, squares, d)), false)
                    }
                } else {
                    let Op::LayerNorm { eps, .. } = &node.op else { unreachable!() };
                    let variance = self.push(Expr::Binary(BinaryOp::Div, squares, points));
                    let mut y = self.normalize(cx, n, centered, variance, eps.to_f64())?;
                    if node.inputs.len() > 2 {
                        let b = self.input_expr(cx, n, 2, &canonical, inner)?;
                        y = self.push(Expr::Binary(BinaryOp::Add, y, b));
                    }
                    (y, true)
                }
            }
            Op::RmsNorm { eps, .. } => {
                let square = self.push(Expr::Binary(BinaryOp::Mul, x, x));
                let sum = reduce(self, Combine::Sum, square);
                let points = count_of(self, sum);
                let mean = self.push(Expr::Binary(BinaryOp::Div, sum, points));
                (self.normalize(cx, n, x, mean, eps.to_f64())?, true)
            }
            op => return Err(format!("{} is not a fused reduction", op.name())),
        })
    }
}

impl KernelBuilder {
    /// `value / sqrt(spread + eps)`, times the node's weight (input 1) if it has one: the
    /// normalization layer norm and RMS norm share (`1 / sqrt`, as the eager kernels do).
    fn normalize(
        &mut self,
        cx: &Context,
        n: NodeId,
        value: ExprId,
        spread: ExprId,
        eps: f64,
    ) -> Result<ExprId, String> {
        let eps = self.constant(eps);
        let shifted = self.push(Expr::Binary(BinaryOp::Add, spread, eps));
        let root = self.unary(UnaryOp::Sqrt, shifted);
        let one = self.constant(1.0);
        let rstd = self.push(Expr::Binary(BinaryOp::Div, one, root));
        let y = self.push(Expr::Binary(BinaryOp::Mul, value, rstd));
        if cx.graph.node(n).inputs.len() > 1 {
            let w = self.input_expr(cx, n, 1, &self.canonical(), self.inner_count())?;
            return Ok(self.push(Expr::Binary(BinaryOp::Mul, y, w)));
        }
        Ok(y)
    }
}

/// Whether two mappings of value `v` address the same elements (size-1 dims are always 0).
fn same_coords(cx: &Context, v: Value, a: &[Coord], b: &[Coord]) -> bool {
    let shape = shape_of(cx.graph, v);
    a.len() == b.len() && (0..a.len()).all(|d| shape[d] == 1 || a[d] == b[d])
}
