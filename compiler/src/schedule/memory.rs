//! The memory plan: kernel outputs that die inside the program share buffers.
//!
//! A buffer lives from the step that writes it to the last step that reads it or any view
//! of it. Buffers of the same dtype and size whose lifetimes do not overlap get the same
//! slot; the runtime hands a dead buffer back to its slot and the next writer reuses it.

use ignis_ir::shape::DimValue;
use ignis_ir::{Graph, ValueDef};

pub struct Plan {
    /// Per node, the slot its storage returns to when it dies.
    pub slot_of: Vec<Option<usize>>,
    pub slots: usize,
}

/// `defined_at[n]`: the step computing node n (None when inlined); `used_at`: per step,
/// the values it reads; `kernel_outputs[n]`: whether a kernel writes n; `is_view[n]`:
/// whether n shares its first input's storage.
pub fn plan(
    graph: &Graph,
    defined_at: &[Option<usize>],
    used_at: &[Vec<ignis_ir::Value>],
    kernel_outputs: &[bool],
    is_view: &[bool],
) -> Plan {
    let n = graph.nodes.len();
    let mut root: Vec<usize> = (0..n).collect();
    for i in 0..n {
        if is_view[i]
            && let ValueDef::Node(p) = graph.nodes[i].inputs[0].def()
        {
            root[i] = root[p.index()];
        }
    }
    let mut pinned = vec![false; n];
    for v in &graph.outputs {
        if let Some(p) = v.node() {
            pinned[root[p.index()]] = true;
        }
    }
    let mut last = vec![0usize; n];
    for (step, values) in used_at.iter().enumerate() {
        for v in values {
            if let Some(p) = v.node() {
                let r = root[p.index()];
                last[r] = last[r].max(step);
            }
        }
    }
    let mut candidates: Vec<usize> =
        (0..n).filter(|&i| kernel_outputs[i] && !pinned[i] && defined_at[i].is_some()).collect();
    candidates.sort_by_key(|&i| defined_at[i]);
    // Per slot: dtype, element count, and the last step of its current holder.
    let mut slots: Vec<(ignis_ir::DType, usize, usize)> = Vec::new();
    let mut slot_of_root = vec![None; n];
    for i in candidates {
        let ty = &graph.nodes[i].ty;
        let numel: usize = ty.shape.iter().map(|d| d.known().unwrap_or(0)).product();
        let def = defined_at[i].unwrap();
        let end = last[i].max(def);
        let found = slots.iter().position(|&(d, m, busy_until)| d == ty.dtype && m == numel && busy_until < def);
        let slot = match found {
            Some(s) => {
                slots[s].2 = end;
                s
            }
            None => {
                slots.push((ty.dtype, numel, end));
                slots.len() - 1
            }
        };
        slot_of_root[i] = Some(slot);
    }
    let slot_of = (0..n).map(|i| slot_of_root[root[i]]).collect();
    Plan { slot_of, slots: slots.len() }
}
