//! Innermost loops with costly math, run in blocks: for each block of `BLOCK` elements, the
//! argument of each such function is computed into a stack buffer (four lanes at a time),
//! the function's wide routine runs over the buffer in place (`math::wide`: 16 lanes with
//! AVX-512, against Cranelift's 4), and the later phases read the results back from it. The
//! routines compute exactly what the inline code would, so only the speed changes.

use super::super::loops::counted;
use super::super::ops::{self, Lanes};
use super::{Accumulators, Base, Emitter, Point, UNROLL, VECTORS, combine_values, element_access};
use crate::math::{MathFn, wide};
use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Value, types,
};
use cranelift_frontend::FunctionBuilder;
use ignis_ir::kernel::{Combine, Expr, ExprId, Index, Stage};
use std::collections::HashMap;

/// Elements per block: the buffers stay in L1 and a call costs little per element. Buffers
/// are 64-byte aligned (`align_shift` 6), a whole cache line per 16 values.
pub(super) const BLOCK: i64 = 256;

/// Innermost loops shorter than this run inline: the calls would not pay.
pub(super) const MIN_EXTENT: usize = 64;

/// What one pass over a block computes at each point.
#[derive(Clone, Copy)]
enum Phase {
    /// The value of `value` into the buffer at `buffer`.
    Spill { value: ExprId, buffer: Value },
    /// The stage's own work: accumulate its reduction or do its stores.
    Finish,
}

/// A math node run by its wide routine.
#[derive(Clone, Copy)]
pub(super) struct WideNode {
    node: ExprId,
    argument: ExprId,
    f: MathFn,
}

impl Emitter<'_> {
    /// The math nodes of a stage worth a wide routine, arguments first: they vary with the
    /// inner loops (the others run once per outer point).
    pub(super) fn wide_nodes(&self, roots: &[ExprId], invariant: &HashMap<ExprId, Value>) -> Vec<WideNode> {
        self.kernel
            .reachable(roots)
            .into_iter()
            .filter(|id| !invariant.contains_key(id))
            .filter_map(|node| match self.kernel.expr(node) {
                Expr::Unary(op, argument) => ops::wide_fn(op).map(|f| WideNode { node, argument: *argument, f }),
                _ => None,
            })
            .collect()
    }

    /// The innermost loop of a vectorizable stage in blocks of `BLOCK` elements, the last one
    /// shorter. Returns the stage's accumulators (reductions) updated from `accs`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn blocked(
        &mut self,
        b: &mut FunctionBuilder,
        stage: &Stage,
        bases: &HashMap<(usize, Index), Base>,
        invariant: &HashMap<ExprId, Value>,
        wide_nodes: &[WideNode],
        reduce: Option<(Combine, ExprId)>,
        accs: Accumulators,
    ) -> Accumulators {
        let extent = *self.extents.last().expect("an inner loop");
        let slots: Vec<_> = wide_nodes
            .iter()
            .map(|_| b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, (BLOCK * 4) as u32, 6)))
            .collect();
        // Reductions carry four vector accumulators and a scalar one (for the tails).
        let mut carried = Vec::new();
        if reduce.is_some() {
            carried = accs.vectors.clone();
            carried.push(accs.scalar.expect("a reduction carries a scalar accumulator"));
        }
        let block = |this: &mut Self, b: &mut FunctionBuilder, start: Value, length: Value, carried: &[Value]| {
            for (wide, &slot) in wide_nodes.iter().zip(&slots) {
                let buffer = b.ins().stack_addr(this.pointer, slot, 0);
                let spill = Phase::Spill { value: wide.argument, buffer };
                this.phase(b, spill, stage, bases, invariant, start, length, reduce, &[]);
                this.call_wide(b, wide.f, buffer, length);
                this.spilled.insert(wide.node, buffer);
            }
            let out = this.phase(b, Phase::Finish, stage, bases, invariant, start, length, reduce, carried);
            this.spilled.clear();
            out
        };
        // One loop over the blocks, the last one short: `start < extent` is
        // `start + BLOCK <= extent + BLOCK - 1`.
        let zero = b.ins().iconst(types::I64, 0);
        let end = b.ins().iadd_imm_s(extent, BLOCK - 1);
        let (_, out) = counted(b, zero, end, BLOCK, &carried, |b, start, carried| {
            let left = b.ins().isub(extent, start);
            let full = b.ins().iconst(types::I64, BLOCK);
            let length = b.ins().umin(left, full);
            block(self, b, start, length, carried)
        });
        carried = out;
        if reduce.is_none() {
            return accs;
        }
        Accumulators { scalar: Some(carried[VECTORS as usize]), vectors: carried[..VECTORS as usize].to_vec() }
    }

    /// One pass over the block `[start, start + length)`: sixteen elements per iteration on
    /// vectors, then scalars. Returns the updated accumulators of a `Finish` pass.
    #[allow(clippy::too_many_arguments)]
    fn phase(
        &mut self,
        b: &mut FunctionBuilder,
        phase: Phase,
        stage: &Stage,
        bases: &HashMap<(usize, Index), Base>,
        invariant: &HashMap<ExprId, Value>,
        start: Value,
        length: Value,
        reduce: Option<(Combine, ExprId)>,
        carried: &[Value],
    ) -> Vec<Value> {
        let accumulate = matches!(phase, Phase::Finish) && reduce.is_some();
        let zero = b.ins().iconst(types::I64, 0);
        // `UNROLL` is a power of two: `-UNROLL` masks off the remainder.
        let vector_end = b.ins().band_imm_s(length, -UNROLL);
        let end = length;
        let vectors = if accumulate { carried[..VECTORS as usize].to_vec() } else { vec![] };
        let (_, vectors) = counted(b, zero, vector_end, UNROLL, &vectors, |b, offset, accs| {
            let mut updated = Vec::new();
            for part in 0..VECTORS {
                let offset = b.ins().iadd_imm_s(offset, part * 4);
                let at = b.ins().iadd(start, offset);
                let point =
                    Point { lanes: Lanes::Four, innermost: Some(at), bases, outer_part: None, block: Some(offset) };
                let acc = accumulate.then(|| accs[part as usize]);
                updated.extend(self.phase_point(b, phase, stage, &point, invariant, reduce, acc));
            }
            updated
        });
        let scalar = if accumulate { vec![carried[VECTORS as usize]] } else { vec![] };
        let (_, scalar) = counted(b, vector_end, end, 1, &scalar, |b, offset, accs| {
            let at = b.ins().iadd(start, offset);
            let point = Point { lanes: Lanes::One, innermost: Some(at), bases, outer_part: None, block: Some(offset) };
            self.phase_point(b, phase, stage, &point, invariant, reduce, accs.first().copied()).into_iter().collect()
        });
        vectors.into_iter().chain(scalar).collect()
    }

    /// One point of a pass; returns the updated accumulator when there is one.
    #[allow(clippy::too_many_arguments)]
    fn phase_point(
        &mut self,
        b: &mut FunctionBuilder,
        phase: Phase,
        stage: &Stage,
        point: &Point,
        invariant: &HashMap<ExprId, Value>,
        reduce: Option<(Combine, ExprId)>,
        acc: Option<Value>,
    ) -> Option<Value> {
        let mut memo = HashMap::new();
        match phase {
            Phase::Spill { value, buffer } => {
                let v = self.expr(b, value, point, &mut memo, invariant);
                let address = self.block_address(b, buffer, point);
                b.ins().store(element_access(), v, address, 0);
                None
            }
            Phase::Finish => match (reduce, acc) {
                (Some((combine, value)), Some(acc)) => {
                    let v = self.expr(b, value, point, &mut memo, invariant);
                    Some(combine_values(b, combine, acc, v))
                }
                _ => {
                    self.stores(b, stage, point, &mut memo, invariant);
                    None
                }
            },
        }
    }

    /// Where the current point's value lives in a block buffer.
    pub(super) fn block_address(&self, b: &mut FunctionBuilder, buffer: Value, point: &Point) -> Value {
        let offset = point.block.expect("block buffers are read inside blocks");
        let bytes = b.ins().imul_imm_s(offset, 4);
        b.ins().iadd(buffer, bytes)
    }

    /// `f` over `length` values at `buffer`, through its routine in the support table.
    fn call_wide(&mut self, b: &mut FunctionBuilder, f: MathFn, buffer: Value, length: Value) {
        let signature = *self.wide_signature.get_or_insert_with(|| {
            let mut signature = Signature::new(b.func.signature.call_conv);
            signature.params.push(AbiParam::new(self.pointer));
            signature.params.push(AbiParam::new(types::I64));
            b.import_signature(signature)
        });
        let routine =
            b.ins().load(self.pointer, MemFlagsData::trusted().with_readonly(), self.support, wide::table_offset(f));
        b.ins().call_indirect(signature, routine, &[buffer, length]);
    }
}
