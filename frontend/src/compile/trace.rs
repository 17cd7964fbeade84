//! Trace mode: while a compiled function runs for tracing, tensor ops append nodes to a
//! graph instead of computing.
//!
//! A thread-local `TraceState` is active during a tracing call. Ops on tensors go through
//! [`record_op`]; concrete tensors they meet are lifted to graph parameters by identity
//! (the call's arguments, tensors the closure captured, host data made inside the call,
//! random draws). A host read (`item`, `to_vec`), an op the tracer cannot capture, or an
//! in-place write to an intermediate ends the segment: the segment is compiled (or found
//! in the function's cache by its structure), run, and every traced handle still alive is
//! filled with its value; tracing then goes on in a new segment. In-place writes to lifted
//! tensors become program outputs written back into their storage after the segment runs.

use super::segment::{BindingSpec, BreakRecord, FinishedSegment, SegmentRecord, TraceOutcome};
use super::shared::FunctionShared;
use crate::tensor::{Data, Tensor};
use ignis_ir::{DType, Graph, Node, Op, Value, ValueType};
use ignis_runtime::{Layout, Storage, View, cpu};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

static NEXT_TRACE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT_ID: Cell<u64> = const { Cell::new(0) };
    static STATE: RefCell<Option<TraceState>> = const { RefCell::new(None) };
}

/// The id of the trace active on this thread (0 when none).
pub(crate) fn current_trace_id() -> u64 {
    CURRENT_ID.with(|c| c.get())
}

/// Whether this thread is tracing a compiled function.
pub fn is_tracing() -> bool {
    current_trace_id() != 0
}

/// A value of the graph being traced; filled with storage once its segment has run.
pub(crate) struct TracedValue {
    trace: u64,
    segment: usize,
    value: Value,
    pub(crate) dtype: DType,
    /// The logical (contiguous) layout, for shape queries before the value exists.
    hint: Layout,
    filled: OnceLock<(Storage, Layout)>,
}

impl TracedValue {
    pub(crate) fn is_filled(&self) -> bool {
        self.filled.get().is_some()
    }

    pub(crate) fn layout(&self) -> &Layout {
        self.filled.get().map_or(&self.hint, |(_, l)| l)
    }

    pub(crate) fn version(&self) -> u64 {
        self.filled.get().map_or(0, |(s, _)| s.version())
    }

    /// The value's storage, running its segment first if it has not run yet.
    pub(crate) fn get_or_materialize(&self) -> &(Storage, Layout) {
        if let Some(filled) = self.filled.get() {
            return filled;
        }
        let flushed = with_state(|state| {
            if state.id == self.trace && state.segment.index == self.segment {
                state.end_segment(BreakReason::Materialize, None);
                true
            } else {
                false
            }
        });
        assert!(
            flushed == Some(true),
            "a tensor traced inside a compiled function was used outside the call that traced it \
             (or on another thread) before its value existed"
        );
        self.filled.get().expect("the segment that defines this value has run")
    }
}

/// Why a segment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakReason {
    /// `item()`, `to_vec()`, printing or another read of elements by host code.
    HostRead(&'static str),
    /// An op the tracer cannot capture ran eagerly on traced data.
    EagerOp,
    /// An in-place op wrote to an intermediate value of the trace.
    InplaceIntermediate,
    /// A traced value was needed as storage (an eager op, or code outside the call).
    Materialize,
}

impl BreakReason {
    pub fn kind(&self) -> &'static str {
        match self {
            BreakReason::HostRead(_) => "host read",
            BreakReason::EagerOp => "op without a lowering",
            BreakReason::InplaceIntermediate => "in-place write to an intermediate",
            BreakReason::Materialize => "value needed as storage",
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            BreakReason::HostRead(_) => {
                "keep the value as a tensor (use where_/masked ops instead of Rust control flow on it), \
                 or move the read out of the compiled function"
            }
            BreakReason::EagerOp => {
                "use an op with a lowering, or compile the parts before and after this op separately"
            }
            BreakReason::InplaceIntermediate => "use the out-of-place op (x = x.add(&y) instead of x.add_(&y))",
            BreakReason::Materialize => "avoid reading storage (strides, raw data) of traced tensors",
        }
    }
}

/// How a graph parameter gets its value when the segment runs.
pub(crate) enum Binding {
    /// Argument number `i` of the call.
    Arg(usize, Tensor),
    /// A tensor from outside the call (a parameter the closure captured, or the value of
    /// an earlier segment).
    Captured(Tensor),
    /// Host data made inside the call: a constant of the program.
    Constant(Tensor),
    /// A random draw: the generator's (seed, offset) for `count` numbers, drawn per call.
    RngSeed {
        count: u64,
        seed: u64,
    },
    RngOffset {
        offset: u64,
    },
}

/// The segment being traced.
struct SegmentBuilder {
    index: usize,
    graph: Graph,
    lifted: HashMap<usize, Value>,
    bindings: Vec<Binding>,
    live: Vec<Weak<TracedValue>>,
    /// In-place writes to lifted tensors: (target, new value), in program order.
    mutations: Vec<(Tensor, Value)>,
    /// The storages of lifted and mutated tensors, with the handle that holds them, so that
    /// two different views of one storage never meet in a segment that writes to it.
    storages: HashMap<usize, usize>,
    written: Vec<usize>,
    ops: usize,
}

impl SegmentBuilder {
    fn new(index: usize, name: &str) -> SegmentBuilder {
        SegmentBuilder {
            index,
            graph: Graph::new(format!("{name}_{index}")),
            lifted: HashMap::new(),
            bindings: Vec::new(),
            live: Vec::new(),
            mutations: Vec::new(),
            storages: HashMap::new(),
            written: Vec::new(),
            ops: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.graph.nodes.is_empty() && self.mutations.is_empty()
    }
}

pub(crate) struct TraceState {
    id: u64,
    function: Arc<FunctionShared>,
    args: Vec<Tensor>,
    segment: SegmentBuilder,
    records: Vec<SegmentRecord>,
    breaks: Vec<BreakRecord>,
    finished: Vec<FinishedSegment>,
    /// The pending break (reason and place) that the next segment end reports.
    executing: bool,
}

fn with_state<R>(f: impl FnOnce(&mut TraceState) -> R) -> Option<R> {
    STATE.with(|s| {
        let mut guard = s.borrow_mut();
        guard.as_mut().map(f)
    })
}

/// Runs `f` with tracing on, for one call of a compiled function with these arguments.
/// Returns what `f` returned and what the trace saw.
pub(crate) fn trace_call<R>(
    function: &Arc<FunctionShared>,
    args: Vec<Tensor>,
    f: impl FnOnce() -> R,
) -> (R, TraceOutcome)
where
    R: super::args::Outputs,
{
    let id = NEXT_TRACE.fetch_add(1, Ordering::Relaxed);
    let state = TraceState {
        id,
        function: function.clone(),
        args,
        segment: SegmentBuilder::new(0, function.name()),
        records: Vec::new(),
        breaks: Vec::new(),
        finished: Vec::new(),
        executing: false,
    };
    STATE.with(|s| *s.borrow_mut() = Some(state));
    CURRENT_ID.with(|c| c.set(id));
    // Leave the thread clean even if `f` panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CURRENT_ID.with(|c| c.set(0));
            STATE.with(|s| s.borrow_mut().take());
        }
    }
    let reset = Reset;
    let result = f();
    let outputs = result.tensors();
    let mut state = STATE.with(|s| s.borrow_mut().take()).expect("the trace state lives until the call ends");
    // Outputs are kept alive by `outputs`, so the last segment returns them.
    state.end_final_segment();
    CURRENT_ID.with(|c| c.set(0));
    drop(reset);
    let outcome = state.into_outcome(&outputs);
    (result, outcome)
}

/// Records `op` on `inputs` if this thread is tracing; `None` means "run it eagerly".
///
/// `declared` is the result type of ops whose type does not follow from their inputs.
pub(crate) fn record_op(op: &Op, inputs: &[&Tensor], declared: Option<ValueType>) -> Option<Tensor> {
    if current_trace_id() == 0 {
        return None;
    }
    with_state(|state| {
        if state.executing {
            return None;
        }
        Some(state.push(op.clone(), inputs, declared))
    })
    .flatten()
}

/// Records a random draw of `count` numbers: the generator's (seed, offset) become two
/// parameters drawn again on every call, so each call sees fresh numbers as eager does.
pub(crate) fn record_random(op: Op, ty: ValueType, count: u64) -> Option<Tensor> {
    if current_trace_id() == 0 {
        return None;
    }
    with_state(|state| {
        let (seed, offset) = crate::random::seed_offset_pair(count);
        let scalar = ValueType::of(DType::I64, &[]);
        let seed_value = state.add_param("rng", scalar.clone(), Binding::RngSeed { count, seed });
        let offset_value = state.add_param("rng", scalar, Binding::RngOffset { offset });
        state.push_node(op, vec![seed_value, offset_value], ty)
    })
}

/// Called before an eager kernel reads `t` inside a trace: the op has no lowering, so the
/// segment ends first.
pub(crate) fn before_eager_read(t: &Tensor, location: &'static Location<'static>) {
    if current_trace_id() == 0 {
        return;
    }
    with_state(|state| {
        // Host data made inside the call (a mask built from `ones`) may be computed
        // eagerly: it is the same on every call and becomes a constant of the program.
        let host_constant = matches!(t.0.data, Data::Concrete(..)) && t.0.born_in == state.id;
        if !state.executing && !host_constant {
            state.end_segment(BreakReason::EagerOp, Some(location));
        }
    });
}

/// Called before host code reads the elements of `t`.
pub(crate) fn host_read(t: &Tensor, what: &'static str, location: &'static Location<'static>) {
    if current_trace_id() == 0 {
        return;
    }
    with_state(|state| {
        if !state.executing {
            state.end_segment(BreakReason::HostRead(what), Some(location));
        }
    });
    let _ = t;
}

/// An in-place write of `value` into `target` inside a trace. Returns false when the write
/// must run eagerly (the trace ended the segment first).
pub(crate) fn record_write(target: &Tensor, value: &Tensor, location: &'static Location<'static>) -> bool {
    if current_trace_id() == 0 {
        return false;
    }
    with_state(|state| {
        if state.executing {
            return false;
        }
        if target.pending_value().is_some() || matches!(target.0.data, Data::Traced(_)) {
            // Intermediates are values, not buffers: run the write eagerly on their storage.
            state.end_segment(BreakReason::InplaceIntermediate, Some(location));
            return false;
        }
        let storage = target.resolved().0.id();
        if state.segment.storages.get(&storage).is_some_and(|&holder| holder != target.identity()) {
            // Another view of this storage is in the segment: keep program order simple.
            state.end_segment(BreakReason::Materialize, Some(location));
        }
        let new_value = state.value_of(value);
        state.segment.storages.insert(storage, target.identity());
        state.segment.written.push(storage);
        state.segment.lifted.insert(target.identity(), new_value);
        state.segment.mutations.push((target.clone(), new_value));
        true
    })
    .unwrap_or(false)
}

impl TraceState {
    fn push(&mut self, op: Op, inputs: &[&Tensor], declared: Option<ValueType>) -> Tensor {
        // Lifting an input may end the segment; then every input is looked up again.
        let values = loop {
            let segment = self.segment.index;
            let values: Vec<Value> = inputs.iter().map(|t| self.value_of(t)).collect();
            if self.segment.index == segment {
                break values;
            }
        };
        let ty = match declared {
            Some(ty) => ty,
            None => {
                let types: Vec<&ValueType> =
                    values.iter().map(|&v| self.segment.graph.value_type(v).expect("a value of this graph")).collect();
                ignis_ir::infer::infer(&op, &types).unwrap_or_else(|e| panic!("{e}"))
            }
        };
        self.push_node(op, values, ty)
    }

    fn push_node(&mut self, op: Op, inputs: Vec<Value>, ty: ValueType) -> Tensor {
        let shape = ignis_runtime::interpret::concrete_shape(&ty);
        let dtype = ty.dtype;
        let value = self.segment.graph.push_node(Node { op, inputs, result: 0, ty });
        self.segment.ops += 1;
        let traced = Arc::new(TracedValue {
            trace: self.id,
            segment: self.segment.index,
            value,
            dtype,
            hint: Layout::contiguous(&shape),
            filled: OnceLock::new(),
        });
        self.segment.live.push(Arc::downgrade(&traced));
        Tensor::traced(traced)
    }

    fn add_param(&mut self, prefix: &str, ty: ValueType, binding: Binding) -> Value {
        let name = format!("{prefix}{}", self.segment.bindings.len());
        self.segment.bindings.push(binding);
        self.segment.graph.push_param(name, ty)
    }

    /// The graph value of `t` in the current segment, lifting it if it is concrete.
    fn value_of(&mut self, t: &Tensor) -> Value {
        if let Data::Traced(v) = &t.0.data
            && v.trace == self.id
            && v.segment == self.segment.index
            && !v.is_filled()
        {
            return v.value;
        }
        if let Some(&v) = self.segment.lifted.get(&t.identity()) {
            return v;
        }
        let storage = t.resolved().0.id();
        if let Some(&holder) = self.segment.storages.get(&storage)
            && holder != t.identity()
            && self.segment.written.contains(&storage)
        {
            // A view of a storage this segment writes: read it after the write has landed.
            self.end_segment(BreakReason::Materialize, None);
        }
        self.segment.storages.entry(storage).or_insert(t.identity());
        let ty = ValueType::of(t.dtype(), t.shape());
        let value = match self.args.iter().position(|a| a.identity() == t.identity()) {
            Some(i) => self.add_param("x", ty, Binding::Arg(i, t.clone())),
            None if t.0.born_in == self.id => self.add_param("c", ty, Binding::Constant(t.clone())),
            None => self.add_param("p", ty, Binding::Captured(t.clone())),
        };
        self.segment.lifted.insert(t.identity(), value);
        value
    }

    /// Ends the current segment: compiles (or finds) and runs it, fills every live traced
    /// value, writes mutations back, and starts a new segment.
    fn end_segment(&mut self, reason: BreakReason, location: Option<&'static Location<'static>>) {
        let had_work = !self.segment.is_empty();
        self.run_segment(false);
        // Eager ops one after another with nothing traced between them are one break.
        let repeated = self.breaks.last().is_some_and(|b| b.after_segment == self.records.len().saturating_sub(1));
        if had_work || (!repeated && !matches!(reason, BreakReason::Materialize)) {
            self.breaks.push(BreakRecord {
                after_segment: self.records.len().saturating_sub(1),
                reason,
                location: location.map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            });
        }
    }

    fn end_final_segment(&mut self) {
        self.run_segment(true);
    }

    fn run_segment(&mut self, last: bool) {
        let next = SegmentBuilder::new(self.segment.index + 1, self.function.name());
        let mut segment = std::mem::replace(&mut self.segment, next);
        if segment.is_empty() {
            return;
        }
        // Every traced handle still alive leaves the segment as an output.
        let live: Vec<Arc<TracedValue>> = segment.live.iter().filter_map(Weak::upgrade).collect();
        let mut outputs: Vec<Value> = live.iter().map(|v| v.value).collect();
        outputs.extend(segment.mutations.iter().map(|(_, v)| *v));
        segment.graph.outputs = outputs;
        self.executing = true;
        let program = self.function.segment_program(&segment.graph);
        let params: Vec<(Storage, Layout)> = segment.bindings.iter().map(bind).collect();
        let results = program.run(&params);
        self.executing = false;
        let (values, writes) = results.split_at(live.len());
        for (traced, result) in live.iter().zip(values) {
            let _ = traced.filled.set(result.clone());
        }
        for ((target, _), (storage, layout)) in segment.mutations.iter().zip(writes) {
            write_back(target, storage, layout);
        }
        self.records.push(SegmentRecord { index: segment.index, ops: segment.ops, graph: segment.graph.clone() });
        self.finished.push(FinishedSegment {
            program,
            bindings: segment.bindings.iter().map(|b| BindingSpec::of(b, &self.args)).collect(),
            live: live.iter().map(Arc::downgrade).collect(),
            mutations: segment.mutations.iter().map(|(t, _)| BindingSpec::target(t, &self.args)).collect(),
            last,
        });
    }

    fn into_outcome(self, outputs: &[Tensor]) -> TraceOutcome {
        TraceOutcome::new(self.finished, self.records, self.breaks, outputs, &self.args)
    }
}

/// The storage and layout a binding supplies for this run.
fn bind(binding: &Binding) -> (Storage, Layout) {
    match binding {
        Binding::Arg(_, t) | Binding::Captured(t) | Binding::Constant(t) => {
            let (s, l) = t.resolved();
            (s.clone(), l.clone())
        }
        Binding::RngSeed { seed, .. } => scalar_i64(*seed as i64),
        Binding::RngOffset { offset } => scalar_i64(*offset as i64),
    }
}

pub(crate) fn scalar_i64(v: i64) -> (Storage, Layout) {
    (Storage::from_vec(vec![v]), Layout::contiguous(&[]))
}

/// Writes a segment's new value of a lifted tensor into its storage.
pub(crate) fn write_back(target: &Tensor, storage: &Storage, layout: &Layout) {
    let (ts, tl) = target.resolved();
    let src = View::new(storage, layout);
    if storage.same(ts) {
        // The program returned a view of the target itself; copy through a temporary.
        let copy = cpu::contiguous(src);
        cpu::copy_into(View::new(ts, tl), View::new(&copy, &Layout::contiguous(&layout.shape)));
    } else {
        cpu::copy_into(View::new(ts, tl), src);
    }
    ts.bump_version();
}
