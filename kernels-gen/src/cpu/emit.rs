//! Kernel IR to a Cranelift function.
//!
//! Layout of the generated code: load the buffer pointers; loop over the outer points of
//! `[begin, end)` (the coordinates of `begin` by division, then of each next point by a
//! carried increment); for each point run
//! the stages in order. A stage computes its loop-invariant expressions once, then runs its
//! inner loops; the innermost one processes four `f32x4` vectors per iteration when every
//! access that moves with it is contiguous `f32` or bool (or fixed), followed by a scalar
//! tail. Reductions keep four vector accumulators and fold them with the tail's scalar one;
//! a reduction whose loop runs on scalars keeps four scalar partial results.
//!
//! Kernels whose inner loops cannot be vectorized but whose accesses are contiguous (or
//! fixed) along the last outer dim, such as a sum over the leading axis of a matrix, are
//! vectorized across outer points instead: up to four groups of four consecutive outer
//! points run together, each lane its own point, with scalar code for the points left
//! at the end of a row or of the range.
//!
//! The code is generated from a kernel's shape ([`sizes::split`]): extents, and strides
//! and offsets other than 0 and 1, are read from the size table at run time, and decisions
//! on an extent look only at its class. The outermost extent is not read at all: the
//! caller passes the range of outer points, and only the inner outer extents decompose a
//! point into coordinates.

mod blocked;

use super::f16;
use super::jit::CodegenError;
use super::loops::counted;
use super::ops::{self, Lanes};
use super::sizes::{self, Number};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{BlockArg, Function, InstBuilder, MemFlagsData, SigRef, Type, Value, types};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use ignis_ir::DType;
use ignis_ir::kernel::{Access, Combine, Expr, ExprId, Index, Kernel, Stage, StageKind};
use std::collections::HashMap;

/// Vectors the inner loop handles per iteration: independent chains that hide the latency
/// of long polynomial evaluations.
const VECTORS: i64 = 4;
/// Elements per iteration of the vector loop.
const UNROLL: i64 = 4 * VECTORS;
/// Partial results of a reduction whose inner loop runs on scalars.
const SCALAR_ACCUMULATORS: i64 = 4;

/// Defines `func` as the code of a kernel shape ([`sizes::split`]); `name` is for messages.
pub(crate) fn define(
    kernel: &Kernel,
    name: &str,
    func: &mut Function,
    pointer: Type,
    target: TargetFrontendConfig,
) -> Result<(), CodegenError> {
    check(kernel, name)?;
    let mut context = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut context);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let (table, size_table, begin, end, support) = (params[0], params[1], params[2], params[3], params[4]);
    let buffers = (0..kernel.buffers.len())
        .map(|i| b.ins().load(pointer, MemFlagsData::trusted(), table, (i * 8) as i32))
        .collect();
    let mut emitter = Emitter {
        kernel,
        buffers,
        stage_results: vec![Vec::new(); kernel.stages.len()],
        pointer,
        support,
        sizes: size_table,
        outer_extents: Vec::new(),
        extents: Vec::new(),
        spilled: HashMap::new(),
        wide_signature: None,
    };
    emitter.outer_extents =
        (1..kernel.outer.len()).map(|d| emitter.size(&mut b, sizes::outer_extent_slot(d))).collect();
    match emitter.outer_groups() {
        Some(parts) => emitter.grouped_points(&mut b, begin, end, parts),
        None => {
            let first = emitter.coordinates(&mut b, begin);
            counted(&mut b, begin, end, 1, &first, |b, _, coords| {
                emitter.point(b, coords, None);
                let one = b.ins().iconst(types::I64, 1);
                emitter.advance(b, coords, one)
            });
        }
    }
    b.ins().return_(&[]);
    b.finalize(target);
    Ok(())
}

fn check(kernel: &Kernel, name: &str) -> Result<(), CodegenError> {
    for (i, buffer) in kernel.buffers.iter().enumerate() {
        let readable = buffer.access == Access::Read && buffer.dtype == DType::F64;
        if !matches!(buffer.dtype, DType::F32 | DType::BF16 | DType::F16 | DType::Bool) && !readable {
            return Err(CodegenError::Unsupported {
                kernel: name.to_string(),
                message: format!(
                    "buffer b{i} is {} {:?}; kernels read and write f32, bf16, f16 and bool, and read f64",
                    buffer.dtype, buffer.access
                ),
            });
        }
    }
    for (i, e) in kernel.exprs.iter().enumerate() {
        let ok = match e {
            Expr::Unary(op, _) => ops::supports_unary(op),
            Expr::Binary(op, _, _) => ops::supports_binary(op),
            _ => true,
        };
        if !ok {
            return Err(CodegenError::Unsupported { kernel: name.to_string(), message: format!("e{i} = {e:?}") });
        }
    }
    Ok(())
}

/// Buffer elements never trap (the runtime sized the buffers) but a vector of four need
/// not be 16-byte aligned (rows start anywhere), so the flags never promise alignment.
fn element_access() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

fn element_size(dtype: DType) -> i64 {
    dtype.size() as i64
}

/// An access at the current point of every loop but the innermost.
#[derive(Copy, Clone)]
struct Base {
    /// The element offset.
    elements: Value,
    /// The innermost stride when the size table holds it.
    step: Option<Value>,
}

/// Where the innermost loop currently is, for address computation.
struct Point<'p> {
    lanes: Lanes,
    /// The innermost loop's counter (none in stages without inner loops).
    innermost: Option<Value>,
    /// Per access (buffer, index), where it is at the current point of every loop but the
    /// innermost.
    bases: &'p HashMap<(usize, Index), Base>,
    /// When lanes span outer points: which group of four points past the first.
    outer_part: Option<usize>,
    /// Inside a block of a blocked loop (see `blocked`): the point's place in the block.
    block: Option<Value>,
}

struct Emitter<'k> {
    kernel: &'k Kernel,
    buffers: Vec<Value>,
    /// Per stage, its result for each group of outer points (one group in scalar code).
    stage_results: Vec<Vec<Value>>,
    pointer: Type,
    /// The table of wide routines (`math::wide`).
    support: Value,
    /// The size table: the numbers the shape leaves out ([`sizes`]).
    sizes: Value,
    /// The outer extents but the outermost one.
    outer_extents: Vec<Value>,
    /// The current stage's inner extents.
    extents: Vec<Value>,
    /// In the current block, the nodes whose values a wide routine left in a block buffer.
    spilled: HashMap<ExprId, Value>,
    wide_signature: Option<SigRef>,
}

impl Emitter<'_> {
    /// Entry `slot` of the size table.
    fn size(&self, b: &mut FunctionBuilder, slot: usize) -> Value {
        b.ins().load(types::I64, MemFlagsData::trusted().with_readonly(), self.sizes, (slot * 8) as i32)
    }

    /// A stride or offset of the shape as a value.
    fn number(&self, b: &mut FunctionBuilder, tagged: i64) -> Value {
        match Number::of(tagged) {
            Number::Immediate(v) => b.ins().iconst(types::I64, v),
            Number::Slot(slot) => self.size(b, slot),
        }
    }

    /// `coord * stride`, nothing when the stride is 0.
    fn scaled(&self, b: &mut FunctionBuilder, coord: Value, tagged: i64) -> Option<Value> {
        match Number::of(tagged) {
            Number::Immediate(0) => None,
            Number::Immediate(1) => Some(coord),
            Number::Immediate(v) => Some(b.ins().imul_imm_s(coord, v)),
            Number::Slot(slot) => {
                let stride = self.size(b, slot);
                Some(b.ins().imul(coord, stride))
            }
        }
    }

    /// The extent of outer dim `dim` (not the outermost one), read once at entry.
    fn outer_extent(&self, dim: usize) -> Value {
        self.outer_extents[sizes::outer_extent_slot(dim)]
    }

    /// The outer coordinates of a flattened outer point, outermost first (by division: once
    /// per call, then [`Self::advance`] moves them).
    fn coordinates(&self, b: &mut FunctionBuilder, point: Value) -> Vec<Value> {
        let dims = &self.kernel.outer;
        let mut coords = vec![point; dims.len()];
        let mut rest = point;
        for d in (0..dims.len()).rev() {
            if d == 0 {
                coords[d] = rest;
            } else if dims[d] <= 1 {
                // One coordinate (or none: the space is empty and nothing runs).
                coords[d] = b.ins().iconst(types::I64, 0);
            } else {
                let size = self.outer_extent(d);
                coords[d] = b.ins().urem(rest, size);
                rest = b.ins().udiv(rest, size);
            }
        }
        coords
    }

    /// The coordinates `by` points after `coords`; `by` must not pass the end of the current
    /// row of the last outer dim, so each dim carries at most one into the next.
    fn advance(&self, b: &mut FunctionBuilder, coords: &[Value], by: Value) -> Vec<Value> {
        let dims = &self.kernel.outer;
        let mut next = coords.to_vec();
        let mut carry = by;
        for d in (0..dims.len()).rev() {
            let sum = b.ins().iadd(coords[d], carry);
            if d == 0 {
                next[d] = sum;
            } else if dims[d] > 1 {
                let extent = self.outer_extent(d);
                let wraps = b.ins().icmp(IntCC::Equal, sum, extent);
                let zero = b.ins().iconst(types::I64, 0);
                next[d] = b.ins().select(wraps, zero, sum);
                carry = b.ins().uextend(types::I64, wraps);
            }
        }
        next
    }

    /// Every stage at the outer point `coords`, or at `parts` groups of four points from it.
    fn point(&mut self, b: &mut FunctionBuilder, coords: &[Value], parts: Option<usize>) {
        for (i, stage) in self.kernel.stages.iter().enumerate() {
            self.stage(b, i, stage, coords, parts);
        }
    }

    /// Groups of four outer points per vector when that is how the kernel vectorizes: its
    /// inner loops cannot run on vectors, every load is contiguous `f32` or bool (every
    /// store contiguous `f32`) or fixed along the last outer dim, and some stage has inner loops to speed up. Returns how many
    /// groups run together.
    /// The outermost extent never shapes the code (see [`sizes`]): with one outer dim
    /// the number of groups is fixed and short ranges take the single-point path.
    fn outer_groups(&self) -> Option<usize> {
        let last = match self.kernel.outer.as_slice() {
            [] => return None,
            [_] => 4 * VECTORS as usize,
            [.., last] => *last,
        };
        if last < 4 {
            return None;
        }
        let along_last = |index: &Index| index.outer.last().copied().unwrap_or(0);
        let mut has_inner = false;
        for stage in &self.kernel.stages {
            let roots = stage.roots();
            if !stage.inner.is_empty() && self.vectorizable(stage, &roots) {
                return None;
            }
            has_inner |= !stage.inner.is_empty();
            for id in self.kernel.reachable(&roots) {
                if let Expr::Load { buffer, index } = self.kernel.expr(id) {
                    match along_last(index) {
                        0 => {}
                        1 if matches!(self.kernel.buffers[*buffer].dtype, DType::F32 | DType::Bool) => {}
                        _ => return None,
                    }
                }
            }
            if let StageKind::Store(stores) = &stage.kind
                && !stores
                    .iter()
                    .all(|s| along_last(&s.index) == 1 && self.kernel.buffers[s.buffer].dtype == DType::F32)
            {
                return None;
            }
        }
        has_inner.then_some((last / 4).min(VECTORS as usize))
    }

    /// The outer loop of a kernel vectorized across outer points: `4 * parts` points at a
    /// time while they lie in one row of the last outer dim and in the range, else one.
    fn grouped_points(&mut self, b: &mut FunctionBuilder, begin: Value, end: Value, parts: usize) {
        let width = 4 * parts as i64;
        // With one outer dim the range check alone keeps a group in the row.
        let dims = self.kernel.outer.len();
        assert!(dims > 0, "grouped kernels have outer dims");
        let row = (dims > 1).then(|| self.outer_extent(dims - 1));
        let header = b.create_block();
        let check = b.create_block();
        let group = b.create_block();
        let single = b.create_block();
        let exit = b.create_block();
        // The header carries the flattened point and its coordinates.
        for _ in 0..=dims {
            b.append_block_param(header, types::I64);
        }
        let first = self.coordinates(b, begin);
        let jump_args = |point: Value, coords: &[Value]| -> Vec<BlockArg> {
            std::iter::once(point).chain(coords.iter().copied()).map(BlockArg::from).collect()
        };
        b.ins().jump(header, &jump_args(begin, &first));

        b.switch_to_block(header);
        let params = b.block_params(header).to_vec();
        let (point, coords) = (params[0], &params[1..]);
        let more = b.ins().icmp(IntCC::SignedLessThan, point, end);
        b.ins().brif(more, check, &[], exit, &[]);

        b.switch_to_block(check);
        b.seal_block(check);
        let group_end = b.ins().iadd_imm_s(point, width);
        let mut fits = b.ins().icmp(IntCC::SignedLessThanOrEqual, group_end, end);
        if let Some(row) = row {
            let row_end = b.ins().iadd_imm_s(coords[dims - 1], width);
            let fits_row = b.ins().icmp(IntCC::SignedLessThanOrEqual, row_end, row);
            fits = b.ins().band(fits_row, fits);
        }
        b.ins().brif(fits, group, &[], single, &[]);

        b.switch_to_block(group);
        b.seal_block(group);
        self.point(b, coords, Some(parts));
        let by = b.ins().iconst(types::I64, width);
        let next = self.advance(b, coords, by);
        b.ins().jump(header, &jump_args(group_end, &next));

        b.switch_to_block(single);
        b.seal_block(single);
        self.point(b, coords, None);
        let one = b.ins().iconst(types::I64, 1);
        let next = self.advance(b, coords, one);
        let next_point = b.ins().iadd_imm_s(point, 1);
        b.ins().jump(header, &jump_args(next_point, &next));
        b.seal_block(header);

        b.switch_to_block(exit);
        b.seal_block(exit);
    }

    fn stage(&mut self, b: &mut FunctionBuilder, index: usize, stage: &Stage, outer: &[Value], parts: Option<usize>) {
        let roots = stage.roots();
        let accesses = self.accesses(stage, &roots);
        let empty = stage.inner.contains(&0);
        self.extents =
            (0..stage.inner.len()).map(|l| self.size(b, sizes::inner_extent_slot(self.kernel, index, l))).collect();
        let outer_bases = self.bases_at(b, &accesses, outer, &[]);
        let (lanes, groups): (Lanes, Vec<Option<usize>>) = match parts {
            None => (Lanes::One, vec![None]),
            Some(n) => (Lanes::Four, (0..n).map(Some).collect()),
        };
        // Values that do not move with the inner loops: once per outer point (group).
        let mut invariants = Vec::new();
        for &outer_part in &groups {
            let point = Point { lanes, innermost: None, bases: &outer_bases, outer_part, block: None };
            let mut invariant = HashMap::new();
            if !empty {
                for id in self.kernel.reachable(&roots) {
                    if !self.kernel.varies_inside(id) {
                        let v = self.expr(b, id, &point, &mut invariant, &HashMap::new());
                        invariant.insert(id, v);
                    }
                }
            }
            invariants.push(invariant);
        }
        let at_outer =
            |part: Option<usize>| Point { lanes, innermost: None, bases: &outer_bases, outer_part: part, block: None };
        match &stage.kind {
            StageKind::Reduce { combine, value } => {
                let identity = lanes.f32(b, combine.identity());
                let results = if empty {
                    vec![identity; groups.len()]
                } else if stage.inner.is_empty() {
                    let mut results = Vec::new();
                    for (&part, invariant) in groups.iter().zip(&invariants) {
                        let v = self.expr(b, *value, &at_outer(part), &mut HashMap::new(), invariant);
                        results.push(combine_values(b, *combine, identity, v));
                    }
                    results
                } else if parts.is_some() {
                    let start = vec![identity; groups.len()];
                    self.grouped_nest(b, stage, outer, &accesses, &invariants, 0, &mut Vec::new(), start)
                } else {
                    let vectorize = self.vectorizable(stage, &roots);
                    let invariant = &invariants[0];
                    let start = Accumulators::start(b, *combine, vectorize);
                    let accs = self.nest(b, stage, outer, &accesses, invariant, vectorize, 0, &mut Vec::new(), start);
                    vec![accs.fold(b, *combine)]
                };
                self.stage_results[index] = results;
            }
            StageKind::Store(_) => {
                if empty {
                    return;
                }
                if stage.inner.is_empty() {
                    for (&part, invariant) in groups.iter().zip(&invariants) {
                        self.stores(b, stage, &at_outer(part), &mut HashMap::new(), invariant);
                    }
                } else if parts.is_some() {
                    self.grouped_nest(b, stage, outer, &accesses, &invariants, 0, &mut Vec::new(), Vec::new());
                } else {
                    let vectorize = self.vectorizable(stage, &roots);
                    let none = Accumulators { scalar: None, vectors: Vec::new() };
                    self.nest(b, stage, outer, &accesses, &invariants[0], vectorize, 0, &mut Vec::new(), none);
                }
            }
        }
    }

    /// Inner loop `level` of a stage whose lanes span outer points: every group of points
    /// per iteration; returns the groups' accumulators (reductions).
    #[allow(clippy::too_many_arguments)]
    fn grouped_nest(
        &mut self,
        b: &mut FunctionBuilder,
        stage: &Stage,
        outer: &[Value],
        accesses: &[(usize, Index)],
        invariants: &[HashMap<ExprId, Value>],
        level: usize,
        coords: &mut Vec<Value>,
        accs: Vec<Value>,
    ) -> Vec<Value> {
        let zero = b.ins().iconst(types::I64, 0);
        let extent = self.extents[level];
        if level + 1 < stage.inner.len() {
            let (_, out) = counted(b, zero, extent, 1, &accs, |b, iv, carried| {
                coords.push(iv);
                let accs =
                    self.grouped_nest(b, stage, outer, accesses, invariants, level + 1, coords, carried.to_vec());
                coords.pop();
                accs
            });
            return out;
        }
        let bases = self.bases_at(b, accesses, outer, coords);
        let (_, out) = counted(b, zero, extent, 1, &accs, |b, iv, carried| {
            let mut updated = Vec::new();
            for (part, invariant) in invariants.iter().enumerate() {
                let point = Point {
                    lanes: Lanes::Four,
                    innermost: Some(iv),
                    bases: &bases,
                    outer_part: Some(part),
                    block: None,
                };
                let mut memo = HashMap::new();
                match &stage.kind {
                    StageKind::Reduce { combine, value } => {
                        let v = self.expr(b, *value, &point, &mut memo, invariant);
                        updated.push(combine_values(b, *combine, carried[part], v));
                    }
                    StageKind::Store(_) => self.stores(b, stage, &point, &mut memo, invariant),
                }
            }
            updated
        });
        out
    }

    /// Runs inner loop `level` (and the ones inside it); returns the stage's accumulators,
    /// carried through every level (vector partial sums are folded once, by the caller).
    #[allow(clippy::too_many_arguments)]
    fn nest(
        &mut self,
        b: &mut FunctionBuilder,
        stage: &Stage,
        outer: &[Value],
        accesses: &[(usize, Index)],
        invariant: &HashMap<ExprId, Value>,
        vectorize: bool,
        level: usize,
        coords: &mut Vec<Value>,
        accs: Accumulators,
    ) -> Accumulators {
        let zero = b.ins().iconst(types::I64, 0);
        let extent = self.extents[level];
        if level + 1 < stage.inner.len() {
            let shape = accs.shape();
            let (_, out) = counted(b, zero, extent, 1, &accs.values(), |b, iv, carried| {
                coords.push(iv);
                let accs = Accumulators::from_values(shape, carried);
                let accs = self.nest(b, stage, outer, accesses, invariant, vectorize, level + 1, coords, accs);
                coords.pop();
                accs.values()
            });
            return Accumulators::from_values(shape, &out);
        }
        let bases = self.bases_at(b, accesses, outer, coords);
        let reduce = match &stage.kind {
            StageKind::Reduce { combine, value } => Some((*combine, *value)),
            StageKind::Store(_) => None,
        };
        if vectorize && stage.inner[level] >= blocked::MIN_EXTENT {
            let wide_nodes = self.wide_nodes(&stage.roots(), invariant);
            if !wide_nodes.is_empty() {
                return self.blocked(b, stage, &bases, invariant, &wide_nodes, reduce, accs);
            }
        }
        let mut start = zero;
        let Accumulators { mut scalar, mut vectors } = accs;
        if vectorize {
            let (next, vaccs) = counted(b, zero, extent, UNROLL, &vectors, |b, iv, carried| {
                let mut updated = Vec::new();
                for part in 0..VECTORS {
                    let at = b.ins().iadd_imm_s(iv, part * 4);
                    let point =
                        Point { lanes: Lanes::Four, innermost: Some(at), bases: &bases, outer_part: None, block: None };
                    let mut memo = HashMap::new();
                    match reduce {
                        Some((combine, value)) => {
                            let v = self.expr(b, value, &point, &mut memo, invariant);
                            updated.push(combine_values(b, combine, carried[part as usize], v));
                        }
                        None => self.stores(b, stage, &point, &mut memo, invariant),
                    }
                }
                updated
            });
            start = next;
            vectors = vaccs;
        }
        if !vectorize
            && let Some((combine, value)) = reduce
            && stage.inner[level] >= 2 * SCALAR_ACCUMULATORS as usize
        {
            // Scalar reductions keep several partial results too: independent chains, and
            // each partial sum grows a quarter as large (less rounding error).
            let identity = b.ins().f32const(combine.identity());
            let init = vec![identity; SCALAR_ACCUMULATORS as usize];
            let (next, partial) = counted(b, start, extent, SCALAR_ACCUMULATORS, &init, |b, iv, carried| {
                let mut updated = Vec::new();
                for (k, &before) in carried.iter().enumerate() {
                    let at = b.ins().iadd_imm_s(iv, k as i64);
                    let point =
                        Point { lanes: Lanes::One, innermost: Some(at), bases: &bases, outer_part: None, block: None };
                    let v = self.expr(b, value, &point, &mut HashMap::new(), invariant);
                    updated.push(combine_values(b, combine, before, v));
                }
                updated
            });
            start = next;
            let all = combine_pairwise(b, combine, partial);
            let before = scalar.expect("a reduction carries a scalar accumulator");
            scalar = Some(combine_values(b, combine, before, all));
        }
        let carried: Vec<Value> = scalar.into_iter().collect();
        let (_, out) = counted(b, start, extent, 1, &carried, |b, iv, carried| {
            let point = Point { lanes: Lanes::One, innermost: Some(iv), bases: &bases, outer_part: None, block: None };
            let mut memo = HashMap::new();
            match reduce {
                Some((combine, value)) => {
                    let v = self.expr(b, value, &point, &mut memo, invariant);
                    vec![combine_values(b, combine, carried[0], v)]
                }
                None => {
                    self.stores(b, stage, &point, &mut memo, invariant);
                    vec![]
                }
            }
        });
        Accumulators { scalar: out.first().copied(), vectors }
    }

    fn stores(
        &mut self,
        b: &mut FunctionBuilder,
        stage: &Stage,
        point: &Point,
        memo: &mut HashMap<ExprId, Value>,
        invariant: &HashMap<ExprId, Value>,
    ) {
        let StageKind::Store(stores) = &stage.kind else { unreachable!() };
        for store in stores {
            let value = self.expr(b, store.value, point, memo, invariant);
            let dtype = self.kernel.buffers[store.buffer].dtype;
            let address = self.address(b, store.buffer, &store.index, point);
            let flags = element_access();
            match dtype {
                DType::F32 => {
                    b.ins().store(flags, value, address, 0);
                }
                DType::Bool => {
                    b.ins().store(flags, value, address, 0);
                }
                DType::BF16 => {
                    let bits = round_to_bf16(b, value);
                    b.ins().istore16(flags, bits, address, 0);
                }
                DType::F16 => {
                    let bits = f16::narrow(b, value);
                    b.ins().istore16(flags, bits, address, 0);
                }
                other => unreachable!("store of {other}"),
            }
        }
    }

    fn address(&self, b: &mut FunctionBuilder, buffer: usize, index: &Index, point: &Point) -> Value {
        let size = element_size(self.kernel.buffers[buffer].dtype);
        let base = point.bases[&(buffer, index.clone())];
        let mut elements = base.elements;
        if let Some(iv) = point.innermost {
            let step = match base.step {
                Some(stride) => Some(b.ins().imul(iv, stride)),
                None => self.scaled(b, iv, index.innermost()),
            };
            if let Some(step) = step {
                elements = b.ins().iadd(elements, step);
            }
        }
        if let Some(part) = point.outer_part {
            let four_points = b.ins().iconst(types::I64, 4 * part as i64);
            let last = index.outer.last().copied().unwrap_or(0);
            if let Some(step) = self.scaled(b, four_points, last) {
                elements = b.ins().iadd(elements, step);
            }
        }
        let bytes = b.ins().imul_imm_s(elements, size);
        b.ins().iadd(self.buffers[buffer], bytes)
    }

    /// The element offsets of every access at the given outer point and outer inner
    /// coordinates (all inner loops but the innermost).
    fn bases_at(
        &self,
        b: &mut FunctionBuilder,
        accesses: &[(usize, Index)],
        outer: &[Value],
        inner: &[Value],
    ) -> HashMap<(usize, Index), Base> {
        let mut bases = HashMap::new();
        for (buffer, index) in accesses {
            let mut sum = self.number(b, index.offset);
            for (&coord, &stride) in outer.iter().chain(inner).zip(index.outer.iter().chain(&index.inner)) {
                if let Some(term) = self.scaled(b, coord, stride) {
                    sum = b.ins().iadd(sum, term);
                }
            }
            // The innermost stride is read here, once, rather than in the loop that uses it.
            let step = match Number::of(index.innermost()) {
                Number::Slot(slot) if inner.len() < index.inner.len() => Some(self.size(b, slot)),
                _ => None,
            };
            bases.insert((*buffer, index.clone()), Base { elements: sum, step });
        }
        bases
    }

    /// Every (buffer, index) the stage reads or writes.
    fn accesses(&self, stage: &Stage, roots: &[ExprId]) -> Vec<(usize, Index)> {
        let mut out: Vec<(usize, Index)> = Vec::new();
        for id in self.kernel.reachable(roots) {
            if let Expr::Load { buffer, index } = self.kernel.expr(id) {
                out.push((*buffer, index.clone()));
            }
        }
        if let StageKind::Store(stores) = &stage.kind {
            out.extend(stores.iter().map(|s| (s.buffer, s.index.clone())));
        }
        out.sort_by_key(|(b, i)| (*b, i.offset, i.outer.clone(), i.inner.clone()));
        out.dedup();
        out
    }

    /// Whether the innermost loop can run on `f32x4`: every load that moves with it is a
    /// contiguous f32 or bool one, every store a contiguous f32 one.
    fn vectorizable(&self, stage: &Stage, roots: &[ExprId]) -> bool {
        let contiguous = |buffer: usize, index: &Index| {
            index.innermost() == 0
                || (index.innermost() == 1 && matches!(self.kernel.buffers[buffer].dtype, DType::F32 | DType::Bool))
        };
        let loads_ok = self.kernel.reachable(roots).into_iter().all(|id| match self.kernel.expr(id) {
            Expr::Load { buffer, index } => contiguous(*buffer, index),
            _ => true,
        });
        let stores_ok = match &stage.kind {
            StageKind::Store(stores) => {
                stores.iter().all(|s| s.index.innermost() == 1 && self.kernel.buffers[s.buffer].dtype == DType::F32)
            }
            StageKind::Reduce { .. } => true,
        };
        loads_ok && stores_ok && *stage.inner.last().unwrap_or(&0) >= UNROLL as usize
    }

    fn expr(
        &mut self,
        b: &mut FunctionBuilder,
        id: ExprId,
        point: &Point,
        memo: &mut HashMap<ExprId, Value>,
        invariant: &HashMap<ExprId, Value>,
    ) -> Value {
        if let Some(&v) = memo.get(&id) {
            return v;
        }
        if let Some(&buffer) = self.spilled.get(&id) {
            let address = self.block_address(b, buffer, point);
            let ty = if point.lanes == Lanes::Four { types::F32X4 } else { types::F32 };
            let v = b.ins().load(ty, element_access(), address, 0);
            memo.insert(id, v);
            return v;
        }
        if let Some(&v) = invariant.get(&id) {
            let wide = point.lanes.widen(b, v);
            memo.insert(id, wide);
            return wide;
        }
        let lanes = point.lanes;
        let v = match self.kernel.expr(id).clone() {
            Expr::Load { buffer, index } => self.load(b, buffer, &index, point),
            Expr::Const(c) => lanes.f32(b, c),
            Expr::Flag(f) => lanes.flag(b, f),
            Expr::Unary(op, a) => {
                let a = self.expr(b, a, point, memo, invariant);
                ops::unary(b, lanes, &op, a)
            }
            Expr::Binary(op, x, y) => {
                let x = self.expr(b, x, point, memo, invariant);
                let y = self.expr(b, y, point, memo, invariant);
                ops::binary(b, lanes, &op, x, y)
            }
            Expr::Fma(x, y, z) => {
                let x = self.expr(b, x, point, memo, invariant);
                let y = self.expr(b, y, point, memo, invariant);
                let z = self.expr(b, z, point, memo, invariant);
                b.ins().fma(x, y, z)
            }
            Expr::Select(c, x, y) => {
                let c = self.expr(b, c, point, memo, invariant);
                let x = self.expr(b, x, point, memo, invariant);
                let y = self.expr(b, y, point, memo, invariant);
                ops::select(b, lanes, c, x, y)
            }
            Expr::BoolToFloat(c) => {
                let c = self.expr(b, c, point, memo, invariant);
                ops::bool_to_float(b, lanes, c)
            }
            Expr::Count(s) => {
                let mut points = b.ins().iconst(types::I64, 1);
                for level in 0..self.kernel.stages[s].inner.len() {
                    let extent = self.size(b, sizes::inner_extent_slot(self.kernel, s, level));
                    points = b.ins().imul(points, extent);
                }
                let count = b.ins().fcvt_from_uint(types::F32, points);
                lanes.widen(b, count)
            }
            Expr::Stage(s) => {
                let v = *self.stage_results[s]
                    .get(point.outer_part.unwrap_or(0))
                    .expect("a stage reads only earlier stages");
                lanes.widen(b, v)
            }
        };
        memo.insert(id, v);
        v
    }

    fn load(&mut self, b: &mut FunctionBuilder, buffer: usize, index: &Index, point: &Point) -> Value {
        let dtype = self.kernel.buffers[buffer].dtype;
        let address = self.address(b, buffer, index, point);
        let flags = element_access();
        let moves = match point.outer_part {
            Some(_) => index.outer.last().is_some_and(|&s| s != 0),
            None => point.innermost.is_some() && index.innermost() != 0,
        };
        if point.lanes == Lanes::Four && moves {
            return match dtype {
                DType::F32 => b.ins().load(types::F32X4, flags, address, 0),
                DType::Bool => bool_mask4(b, flags, address),
                other => unreachable!("vector load of {other}"),
            };
        }
        let scalar = match dtype {
            DType::F32 => b.ins().load(types::F32, flags, address, 0),
            DType::BF16 => {
                let bits = b.ins().uload16(types::I32, flags, address, 0);
                let wide = b.ins().ishl_imm_u(bits, 16);
                b.ins().bitcast(types::F32, MemFlagsData::new(), wide)
            }
            DType::F16 => {
                let bits = b.ins().uload16(types::I32, flags, address, 0);
                f16::widen(b, bits)
            }
            DType::F64 => {
                let wide = b.ins().load(types::F64, flags, address, 0);
                b.ins().fdemote(types::F32, wide)
            }
            DType::Bool => {
                let byte = b.ins().uload8(types::I32, flags, address, 0);
                b.ins().icmp_imm_s(IntCC::NotEqual, byte, 0)
            }
            other => unreachable!("load of {other}"),
        };
        point.lanes.widen(b, scalar)
    }
}

/// What a reduction carries through its inner loops: one scalar partial result and, when
/// its innermost loop runs on vectors, `VECTORS` vector ones. Store stages carry nothing.
#[derive(Clone)]
pub(super) struct Accumulators {
    pub(super) scalar: Option<Value>,
    pub(super) vectors: Vec<Value>,
}

impl Accumulators {
    fn start(b: &mut FunctionBuilder, combine: Combine, vectors: bool) -> Accumulators {
        let scalar = Some(b.ins().f32const(combine.identity()));
        let vector = Lanes::Four.f32(b, combine.identity());
        Accumulators { scalar, vectors: if vectors { vec![vector; VECTORS as usize] } else { Vec::new() } }
    }

    /// `(has a scalar, vector count)`: enough to rebuild the struct from loop values.
    fn shape(&self) -> (bool, usize) {
        (self.scalar.is_some(), self.vectors.len())
    }

    fn values(&self) -> Vec<Value> {
        self.scalar.iter().chain(&self.vectors).copied().collect()
    }

    fn from_values((scalar, vectors): (bool, usize), values: &[Value]) -> Accumulators {
        let skip = usize::from(scalar);
        debug_assert_eq!(values.len(), skip + vectors);
        Accumulators { scalar: scalar.then(|| values[0]), vectors: values[skip..].to_vec() }
    }

    /// The reduction's result: the vectors folded pairwise, their lanes, then the scalar.
    fn fold(self, b: &mut FunctionBuilder, combine: Combine) -> Value {
        let mut acc = self.scalar.expect("a reduction carries a scalar accumulator");
        if !self.vectors.is_empty() {
            let all = combine_pairwise(b, combine, self.vectors);
            let lanes: Vec<Value> = (0..4u8).map(|lane| b.ins().extractlane(all, lane)).collect();
            let lanes = combine_pairwise(b, combine, lanes);
            acc = combine_values(b, combine, acc, lanes);
        }
        acc
    }
}

/// Four bool bytes as an `i32x4` mask (all-ones where the byte is non-zero): one 32-bit
/// load, widened twice.
fn bool_mask4(b: &mut FunctionBuilder, flags: MemFlagsData, address: Value) -> Value {
    let bytes = b.ins().load(types::I32, flags, address, 0);
    let vector = b.ins().scalar_to_vector(types::I32X4, bytes);
    let vector = b.ins().bitcast(types::I8X16, ops::vector_flags(), vector);
    let halves = b.ins().uwiden_low(vector);
    let words = b.ins().uwiden_low(halves);
    let zero = b.ins().iconst(types::I32, 0);
    let zero = b.ins().splat(types::I32X4, zero);
    b.ins().icmp(IntCC::NotEqual, words, zero)
}

/// `((v0 . v1) . (v2 . v3)) ...`: partial results combined in pairs, level by level.
fn combine_pairwise(b: &mut FunctionBuilder, combine: Combine, mut values: Vec<Value>) -> Value {
    while values.len() > 1 {
        values = values
            .chunks(2)
            .map(|pair| match *pair {
                [x, y] => combine_values(b, combine, x, y),
                [x] => x,
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    values[0]
}

fn combine_values(b: &mut FunctionBuilder, combine: Combine, acc: Value, v: Value) -> Value {
    match combine {
        Combine::Sum => b.ins().fadd(acc, v),
        Combine::Prod => b.ins().fmul(acc, v),
        Combine::Max => b.ins().fmax(acc, v),
        Combine::Min => b.ins().fmin(acc, v),
    }
}

/// f32 to bf16 bits with round-to-nearest-even; NaN stays a (quiet) NaN.
fn round_to_bf16(b: &mut FunctionBuilder, v: Value) -> Value {
    let bits = b.ins().bitcast(types::I32, MemFlagsData::new(), v);
    let lsb = b.ins().ushr_imm_u(bits, 16);
    let lsb = b.ins().band_imm_u(lsb, 1);
    let bias = b.ins().iadd_imm_u(lsb, 0x7FFF);
    let rounded = b.ins().iadd(bits, bias);
    let rounded = b.ins().ushr_imm_u(rounded, 16);
    let nan = b.ins().fcmp(FloatCC::Unordered, v, v);
    let quiet = b.ins().ushr_imm_u(bits, 16);
    let quiet = b.ins().bor_imm_u(quiet, 0x40);
    b.ins().select(nan, quiet, rounded)
}

#[cfg(test)]
mod tests {
    use super::sizes::CLASS_BOUNDS;
    use super::*;

    /// Every extent the code generator compares an extent with is a class bound, so all
    /// extents of a class get the same code.
    #[test]
    fn decisions_on_extents_compare_with_class_bounds() {
        let groups = (1..=VECTORS as usize).map(|parts| 4 * parts);
        let thresholds = [UNROLL as usize, 2 * SCALAR_ACCUMULATORS as usize, blocked::MIN_EXTENT, 1].into_iter();
        for threshold in thresholds.chain(groups) {
            assert!(CLASS_BOUNDS.contains(&threshold), "{threshold} is not a class bound: {CLASS_BOUNDS:?}");
        }
    }
}
