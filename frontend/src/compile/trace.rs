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

use super::backend::SegmentProgram;
use super::segment::{BindingSpec, BreakRecord, FinishedSegment, SegmentRecord, TraceOutcome};
use super::shared::FunctionShared;
use crate::autograd::{BackwardFn, Edge, Node, SlotsBackwardFn, Wiring, edge_of, grads_of_lifted};
use crate::tensor::{Data, Tensor, TensorImpl};
use ignis_ir::Node as GraphNode;
use ignis_ir::{DType, Graph, Op, Value, ValueDef, ValueType};
use ignis_runtime::{Layout, Storage, View, cpu};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

static NEXT_TRACE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT_ID: Cell<u64> = const { Cell::new(0) };
    static STATE: RefCell<Option<TraceState>> = const { RefCell::new(None) };
    /// The user's handles to traced values of the open segment: the outputs whose
    /// gradients a compiled backward must accept.
    static HANDLES: RefCell<Vec<Weak<TensorImpl>>> = const { RefCell::new(Vec::new()) };
}

/// A host value the traced code depends on and that may change between calls (a learning
/// rate a scheduler sets, Adam's bias correction at this step): a parameter of the graph
/// rather than a constant, so the program's structure stays the same from call to call,
/// and the trace is not replayed without running the function (the value is read anew).
/// `None` outside a trace.
pub(crate) fn host_scalar(value: f64, dtype: DType) -> Option<Tensor> {
    if current_trace_id() == 0 {
        return None;
    }
    with_state(|state| state.host_values = true);
    // A host tensor made inside the call is bound by value, never hashed into the program.
    Some(Tensor::scalar(value).to_dtype(dtype))
}

/// Notes that the traced code read host state that may change between calls, so its
/// trace must not be replayed without running the function.
pub(crate) fn note_host_state() {
    if current_trace_id() != 0 {
        with_state(|state| state.host_values = true);
    }
}

/// Notes that the trace read a module's train/eval flag: the flag and the value read join
/// the guards.
pub(crate) fn note_mode_read(flag: &Arc<std::sync::atomic::AtomicBool>, value: bool) {
    if current_trace_id() != 0 {
        with_state(|state| {
            if !state.modes.iter().any(|(f, _)| Weak::ptr_eq(f, &Arc::downgrade(flag))) {
                state.modes.push((Arc::downgrade(flag), value));
            }
        });
    }
}

/// Notes a new handle to a traced value (called for every traced tensor made).
pub(crate) fn register_handle(t: &Tensor) {
    if current_trace_id() != 0 && t.pending_value().is_some() {
        HANDLES.with(|h| h.borrow_mut().push(Arc::downgrade(&t.0)));
    }
}

/// The per-op node of `t` if it is a value of the segment being traced.
pub(crate) fn op_node_of(t: &Tensor) -> Option<Arc<Node>> {
    match &t.0.data {
        Data::Traced(v) if !v.is_filled() => v.op_node.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        _ => None,
    }
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
    /// The layout eager mode would give this value (strides of a view, contiguous for a
    /// fresh result), for shape and stride queries before the value exists.
    hint: Layout,
    /// The storage this value is a view of, when it is one (movement ops of a lifted
    /// tensor): an in-place write to that storage must be seen through it.
    view_of: Option<usize>,
    filled: OnceLock<(Storage, Layout)>,
    computed_version: OnceLock<u64>,
    /// The per-op autograd node of the op that made this value, while its segment is open:
    /// backward rules traced inside the call walk these; the segment's compiled backward
    /// replaces them when the segment ends.
    op_node: Mutex<Option<Arc<Node>>>,
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

    /// The storage version when the value was computed (0 before): backward rules that
    /// saved the value check it, as they check any saved tensor.
    pub(crate) fn computed_version(&self) -> u64 {
        *self.computed_version.get().unwrap_or(&0)
    }

    /// The value's storage, running its segment first if it has not run yet.
    pub(crate) fn get_or_materialize(&self) -> &(Storage, Layout) {
        if let Some(filled) = self.filled.get() {
            return filled;
        }
        let open = with_state(|state| state.id == self.trace && state.segment.index == self.segment);
        if open == Some(true) {
            flush(BreakReason::Materialize, None);
        }
        assert!(
            self.filled.get().is_some(),
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
    /// An in-place op wrote to a tensor that a traced view reads.
    InplaceViewed,
    /// A traced value was needed as storage (an eager op, or code outside the call).
    Materialize,
}

impl BreakReason {
    pub fn kind(&self) -> &'static str {
        match self {
            BreakReason::HostRead(_) => "host read",
            BreakReason::EagerOp => "op without a lowering",
            BreakReason::InplaceIntermediate => "in-place write to an intermediate",
            BreakReason::InplaceViewed => "in-place write to a viewed tensor",
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
            BreakReason::InplaceViewed => "write before taking views of the tensor, or use out-of-place ops",
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
    /// The gradient of an output, in a joint forward+backward graph.
    Gradient,
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
    /// The autograd node every differentiable output of this segment points to.
    grad_node: Option<Arc<Node>>,
    /// Values that carry a per-op node, to release when the segment ends.
    with_op_nodes: Vec<Weak<TracedValue>>,
    /// Layouts (and viewed storage) of lifted tensors and of movement ops' results.
    views: HashMap<Value, (Layout, Option<usize>)>,
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
            grad_node: None,
            with_op_nodes: Vec::new(),
            views: HashMap::new(),
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
    /// True while a segment's program runs: the kernels it calls must not be traced.
    executing: bool,
    /// The modules' train/eval flags read, with their values.
    modes: Vec<(Weak<std::sync::atomic::AtomicBool>, bool)>,
    /// Whether the code read host values that may change between calls.
    host_values: bool,
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
        modes: Vec::new(),
        host_values: false,
    };
    STATE.with(|s| *s.borrow_mut() = Some(state));
    HANDLES.with(|h| h.borrow_mut().clear());
    CURRENT_ID.with(|c| c.set(id));
    // Leave the thread clean even if `f` panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CURRENT_ID.with(|c| c.set(0));
            STATE.with(|s| s.borrow_mut().take());
            HANDLES.with(|h| h.borrow_mut().clear());
        }
    }
    let reset = Reset;
    let result = f();
    let outputs = result.tensors();
    // Outputs are kept alive by `outputs`, so the last segment returns them.
    finish_segment(None, None, true);
    let state = STATE.with(|s| s.borrow_mut().take()).expect("the trace state lives until the call ends");
    CURRENT_ID.with(|c| c.set(0));
    drop(reset);
    let outcome = state.into_outcome(&outputs);
    (result, outcome)
}

/// Lifting an input or writing in place found a reason to end the segment first.
struct EndFirst;

/// Records `op` on `inputs` if this thread is tracing; `None` means "run it eagerly".
///
/// `declared` is the result type of ops whose type does not follow from their inputs.
pub(crate) fn record_op(op: &Op, inputs: &[&Tensor], declared: Option<ValueType>) -> Option<Tensor> {
    record(op, inputs, declared, 0)
}

/// Records result number `result` of a multi-result op (max pooling's values and indices).
pub(crate) fn record_op_result(op: &Op, inputs: &[&Tensor], result: usize) -> Option<Tensor> {
    record(op, inputs, None, result)
}

fn record(op: &Op, inputs: &[&Tensor], declared: Option<ValueType>, result: usize) -> Option<Tensor> {
    if current_trace_id() == 0 {
        return None;
    }
    loop {
        let attempt = with_state(|state| {
            if state.executing {
                return None;
            }
            Some(state.push(op.clone(), inputs, declared.clone(), result))
        })
        .flatten()?;
        match attempt {
            Ok(t) => return Some(t),
            Err(EndFirst) => flush(BreakReason::Materialize, None),
        }
    }
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
    let breaks = with_state(|state| {
        // Host data made inside the call (a mask built from `ones`) may be computed
        // eagerly: it is the same on every call and becomes a constant of the program.
        let host_constant = matches!(t.0.data, Data::Concrete(..)) && t.0.born_in == state.id;
        !state.executing && !host_constant
    });
    if breaks == Some(true) {
        flush(BreakReason::EagerOp, Some(location));
    }
}

/// Called before host code reads the elements of `t`.
pub(crate) fn host_read(t: &Tensor, what: &'static str, location: &'static Location<'static>) {
    if current_trace_id() == 0 {
        return;
    }
    if with_state(|state| !state.executing) == Some(true) {
        flush(BreakReason::HostRead(what), Some(location));
    }
    let _ = t;
}

/// An in-place write of `value` into `target` inside a trace. Returns false when the write
/// must run eagerly (the trace ended the segment first).
pub(crate) fn record_write(target: &Tensor, value: &Tensor, location: &'static Location<'static>) -> bool {
    if current_trace_id() == 0 {
        return false;
    }
    loop {
        let attempt = with_state(|state| {
            if state.executing {
                return Ok(false);
            }
            if target.pending_value().is_some() {
                // Intermediates are values, not buffers: run the write eagerly on storage.
                return Err(Some(BreakReason::InplaceIntermediate));
            }
            let storage = target.resolved().0.id();
            let viewed = state.segment.live.iter().filter_map(Weak::upgrade).any(|v| v.view_of == Some(storage));
            if viewed {
                // A traced view of this storage must see the write, as eager views do: run
                // the segment (its views become views of the storage) and write eagerly.
                return Err(Some(BreakReason::InplaceViewed));
            }
            if state.segment.storages.get(&storage).is_some_and(|&holder| holder != target.identity()) {
                // Another view of this storage is in the segment: keep program order simple.
                return Err(None);
            }
            let new_value = state.value_of(value).map_err(|_| None)?;
            state.segment.storages.insert(storage, target.identity());
            state.segment.written.push(storage);
            state.segment.lifted.insert(target.identity(), new_value);
            state.segment.mutations.push((target.clone(), new_value));
            Ok(true)
        });
        match attempt {
            None => return false,
            Some(Ok(done)) => return done,
            Some(Err(Some(reason))) => {
                flush(reason, Some(location));
                return false;
            }
            Some(Err(None)) => flush(BreakReason::Materialize, Some(location)),
        }
    }
}

/// Records the autograd node of an op traced in the open segment. The op's own node (its
/// rule over traced values) stays with the value for backward passes traced inside the
/// call; the tensor the user gets points to the segment's node, which the compiled
/// backward wires when the segment ends.
pub(crate) fn record_grad(name: &'static str, inputs: &[&Tensor], out: Tensor, rule: BackwardFn) -> Tensor {
    let edges: Vec<Option<Edge>> = inputs.iter().map(|t| grad_edge(t)).collect();
    let shapes = inputs.iter().map(|t| (t.dims(), t.dtype())).collect();
    let node = Node::new(name, edges, shapes, rule);
    let value = out.pending_value().expect("record_grad is for traced values").clone();
    *value.op_node.lock().unwrap_or_else(|e| e.into_inner()) = Some(node);
    let slot = value.value.node().map_or(0, |n| n.index() as u32);
    let segment_node = with_state(|state| {
        state.segment.with_op_nodes.push(Arc::downgrade(&value));
        state.segment.grad_node.get_or_insert_with(|| Arc::new(Node::unwired("CompiledSegmentBackward"))).clone()
    })
    .expect("a trace is active");
    Tensor::with_grad_fn(&out, segment_node, slot)
}

/// The edge of an input of a traced op: its own op's node for a value of this segment, or
/// the lifted tensor (by parameter) for anything from outside.
fn grad_edge(t: &Tensor) -> Option<Edge> {
    if let Some(node) = op_node_of(t) {
        return Some(Edge::Node(node, 0));
    }
    if !t.requires_grad() {
        return None;
    }
    if t.pending_value().is_some() {
        // A traced value without a node of its own (made under no_grad) passes no gradient.
        return edge_of(t);
    }
    let param = loop {
        let attempt = with_state(|state| state.value_of(t)).expect("a trace is active");
        match attempt {
            Ok(v) => break v,
            Err(EndFirst) => flush(BreakReason::Materialize, None),
        }
    };
    match param.def() {
        ValueDef::Param(index) => Some(Edge::Lifted(index, t.clone())),
        ValueDef::Node(_) => edge_of(t),
    }
}

/// Ends the current segment. Runs outside any borrow of the trace state: tracing the
/// backward rules of the segment's differentiable outputs records ops into it first.
fn flush(reason: BreakReason, location: Option<&'static Location<'static>>) {
    finish_segment(Some(reason), location, false);
}

fn finish_segment(reason: Option<BreakReason>, location: Option<&'static Location<'static>>, last: bool) {
    // A segment that ends in the middle of a backward pass (a rule read a value on the
    // host) keeps its per-op nodes: the pass still has to walk them.
    let walking = crate::autograd::is_walking();
    let roots = if walking { Vec::new() } else { with_state(|state| state.grad_roots()).unwrap_or_default() };
    let joint = if roots.is_empty() { None } else { trace_backward(roots) };
    with_state(|state| state.end_segment(reason, location, joint, last));
}

/// The joint part of a segment: gradient parameters for its differentiable outputs, and
/// the gradient each lifted input receives.
pub(crate) struct Joint {
    /// (gradient parameter index, the output value it belongs to, its slot).
    gradients: Vec<(usize, Arc<TracedValue>, u32)>,
    /// (lifted parameter index, the value of its gradient). The traced gradient tensors
    /// themselves are dropped: they are not outputs of the forward program.
    input_grads: Vec<(usize, Value)>,
}

/// `None` when tracing the rules ended the segment (a rule needed a value on the host):
/// then the segment keeps its per-op nodes and its backward runs them.
fn trace_backward(roots: Vec<(Arc<TracedValue>, Arc<Node>)>) -> Option<Joint> {
    let segment = with_state(|state| state.segment.index)?;
    let mut gradients = Vec::new();
    let mut walk = Vec::new();
    for (value, node) in roots {
        let ty = ValueType::of(value.dtype, &value.hint.shape);
        let (param, grad) = with_state(|state| state.gradient_param(ty)).expect("a trace is active");
        let slot = value.value.node().map_or(0, |n| n.index() as u32);
        gradients.push((param, value, slot));
        walk.push((node, grad));
    }
    let grads = grads_of_lifted(walk);
    if with_state(|state| state.segment.index) != Some(segment) {
        return None;
    }
    let mut input_grads = Vec::new();
    for (param, g) in grads {
        let value = match with_state(|state| state.value_of(&g)).expect("a trace is active") {
            Ok(v) => v,
            Err(EndFirst) => unreachable!("a gradient never aliases a written storage"),
        };
        input_grads.push((param, value));
    }
    Some(Joint { gradients, input_grads })
}

impl TraceState {
    fn push(
        &mut self,
        op: Op,
        inputs: &[&Tensor],
        declared: Option<ValueType>,
        result: usize,
    ) -> Result<Tensor, EndFirst> {
        let values: Vec<Value> = inputs.iter().map(|t| self.value_of(t)).collect::<Result<_, _>>()?;
        let ty = match declared {
            Some(ty) => ty,
            None => {
                let types: Vec<&ValueType> =
                    values.iter().map(|&v| self.segment.graph.value_type(v).expect("a value of this graph")).collect();
                ignis_ir::infer::infer_result(&op, &types, result).unwrap_or_else(|e| panic!("{e}"))
            }
        };
        Ok(self.push_node_result(op, values, ty, result))
    }

    fn push_node(&mut self, op: Op, inputs: Vec<Value>, ty: ValueType) -> Tensor {
        self.push_node_result(op, inputs, ty, 0)
    }

    fn push_node_result(&mut self, op: Op, inputs: Vec<Value>, ty: ValueType, result: usize) -> Tensor {
        let view = self.view_layout(&op, &inputs, &ty);
        let value = self.segment.graph.push_node(GraphNode { op, inputs, result, ty: ty.clone() });
        self.segment.ops += 1;
        let mut traced = self.traced_value(value, &ty);
        if let Some((layout, storage)) = view {
            let t = Arc::get_mut(&mut traced).expect("a fresh value");
            t.hint = layout.clone();
            t.view_of = storage;
            self.segment.views.insert(value, (layout, storage));
        }
        self.segment.live.push(Arc::downgrade(&traced));
        Tensor::traced(traced)
    }

    /// The layout eager mode would give a movement op's result, and the storage it views.
    fn view_layout(&self, op: &Op, inputs: &[Value], ty: &ValueType) -> Option<(Layout, Option<usize>)> {
        let (input, storage) = match inputs.first().and_then(|v| self.segment.views.get(v)) {
            Some((layout, storage)) => (layout.clone(), *storage),
            None => {
                let t = self.segment.graph.value_type(*inputs.first()?)?;
                (Layout::contiguous(&ignis_runtime::interpret::concrete_shape(t)), None)
            }
        };
        let shape = ignis_runtime::interpret::concrete_shape(ty);
        let layout = match op {
            Op::Permute { perm } => input.permute(perm),
            Op::Expand { .. } => input.expand(&shape).ok()?,
            Op::Slice { dim, start, step, .. } => input.slice(*dim, *start, shape[*dim], *step),
            // A reshape that strides cannot express copies: a fresh, contiguous result.
            Op::Reshape { .. } => return input.reshape(&shape).map(|l| (l, storage)),
            _ => return None,
        };
        Some((layout, storage))
    }

    fn traced_value(&self, value: Value, ty: &ValueType) -> Arc<TracedValue> {
        let shape = ignis_runtime::interpret::concrete_shape(ty);
        Arc::new(TracedValue {
            trace: self.id,
            segment: self.segment.index,
            value,
            dtype: ty.dtype,
            hint: Layout::contiguous(&shape),
            view_of: None,
            filled: OnceLock::new(),
            computed_version: OnceLock::new(),
            op_node: Mutex::new(None),
        })
    }

    /// A gradient parameter of the joint graph and a traced tensor standing for it.
    fn gradient_param(&mut self, ty: ValueType) -> (usize, Tensor) {
        let value = self.add_param("g", ty.clone(), Binding::Gradient);
        let index = match value.def() {
            ValueDef::Param(i) => i,
            ValueDef::Node(_) => unreachable!("add_param makes parameters"),
        };
        (index, Tensor::traced(self.traced_value(value, &ty)))
    }

    fn add_param(&mut self, prefix: &str, ty: ValueType, binding: Binding) -> Value {
        let name = format!("{prefix}{}", self.segment.bindings.len());
        self.segment.bindings.push(binding);
        self.segment.graph.push_param(name, ty)
    }

    /// The graph value of `t` in the current segment, lifting it if it is concrete.
    fn value_of(&mut self, t: &Tensor) -> Result<Value, EndFirst> {
        if let Data::Traced(v) = &t.0.data
            && v.trace == self.id
            && v.segment == self.segment.index
            && !v.is_filled()
        {
            return Ok(v.value);
        }
        if let Some(&v) = self.segment.lifted.get(&t.identity()) {
            return Ok(v);
        }
        let storage = t.resolved().0.id();
        if let Some(&holder) = self.segment.storages.get(&storage)
            && holder != t.identity()
            && self.segment.written.contains(&storage)
        {
            // A view of a storage this segment writes: read it after the write has landed.
            return Err(EndFirst);
        }
        self.segment.storages.entry(storage).or_insert(t.identity());
        let ty = ValueType::of(t.dtype(), t.shape());
        let value = match self.args.iter().position(|a| a.identity() == t.identity()) {
            Some(i) => self.add_param("x", ty, Binding::Arg(i, t.clone())),
            None if t.0.born_in == self.id => self.add_param("c", ty, Binding::Constant(t.clone())),
            None => self.add_param("p", ty, Binding::Captured(t.clone())),
        };
        self.segment.lifted.insert(t.identity(), value);
        self.segment.views.insert(value, (t.layout().clone(), Some(storage)));
        Ok(value)
    }

    /// The differentiable outputs the user still holds: values of this segment with a
    /// per-op rule not yet used by a backward traced inside the call.
    fn grad_roots(&self) -> Vec<(Arc<TracedValue>, Arc<Node>)> {
        let handles: Vec<Tensor> = HANDLES.with(|h| h.borrow().iter().filter_map(Weak::upgrade).map(Tensor).collect());
        let mut roots: Vec<(Arc<TracedValue>, Arc<Node>)> = Vec::new();
        for t in handles {
            let Data::Traced(v) = &t.0.data else { continue };
            if v.trace != self.id || v.segment != self.segment.index || v.is_filled() {
                continue;
            }
            let Some(node) = v.op_node.lock().unwrap_or_else(|e| e.into_inner()).clone() else { continue };
            if node.has_rule() && !roots.iter().any(|(r, _)| Arc::ptr_eq(r, v)) {
                roots.push((v.clone(), node));
            }
        }
        roots
    }

    /// Ends the current segment: compiles (or finds) and runs it, fills every live traced
    /// value, writes mutations back, wires the segment's compiled backward, and starts a new
    /// segment. `reason` is `None` at the end of the call.
    fn end_segment(
        &mut self,
        reason: Option<BreakReason>,
        location: Option<&'static Location<'static>>,
        joint: Option<Joint>,
        last: bool,
    ) {
        let had_work = !self.segment.is_empty();
        self.run_segment(joint, last);
        let Some(reason) = reason else { return };
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

    fn run_segment(&mut self, joint: Option<Joint>, last: bool) {
        let next = SegmentBuilder::new(self.segment.index + 1, self.function.name());
        let mut segment = std::mem::replace(&mut self.segment, next);
        let handles: Vec<Tensor> =
            HANDLES.with(|h| h.borrow_mut().drain(..).filter_map(|w| w.upgrade()).map(Tensor).collect());
        if joint.is_some() {
            // The per-op rules have served (for backward passes traced inside the call, and
            // to trace the joint graph); dropping them frees what they saved.
            for value in segment.with_op_nodes.iter().filter_map(Weak::upgrade) {
                if let Some(node) = value.op_node.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    node.release();
                }
            }
        } else if let Some(node) = &segment.grad_node {
            wire_per_op(node, &handles);
            // The op nodes now live through the edges that reach them. A value's own
            // reference to its node would keep the value alive after the user dropped it
            // (the rule saves the op's output), and a dead value must not become an output.
            for value in segment.with_op_nodes.iter().filter_map(Weak::upgrade) {
                value.op_node.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
        }
        drop(handles);
        if segment.is_empty() {
            return;
        }
        // Every traced handle still alive leaves the segment as an output.
        let live: Vec<Arc<TracedValue>> = segment.live.iter().filter_map(Weak::upgrade).collect();
        let mut outputs: Vec<Value> = live.iter().map(|v| v.value).collect();
        outputs.extend(segment.mutations.iter().map(|(_, v)| *v));
        self.executing = true;
        let (program, params, backward) = match &joint {
            None => {
                segment.graph.outputs = outputs;
                let params: Vec<(Storage, Layout)> = segment.bindings.iter().map(bind).collect();
                (self.function.segment_program(&segment.graph, "captured"), params, None)
            }
            Some(joint) => {
                let gradients: Vec<usize> = joint.gradients.iter().map(|(p, _, _)| *p).collect();
                let grad_values: Vec<Value> = joint.input_grads.iter().map(|(_, v)| *v).collect();
                let split = ignis_compiler::partition::partition(&segment.graph, &outputs, &gradients, &grad_values);
                let params: Vec<(Storage, Layout)> =
                    split.forward_params.iter().map(|&p| bind(&segment.bindings[p])).collect();
                segment.graph.outputs = outputs.iter().copied().chain(grad_values).collect();
                // The joint graph is dumped under the number its forward program gets (when
                // that program is new).
                let index = self.function.next_index();
                let forward = self.function.segment_program(&split.forward, "forward");
                if self.function.next_index() > index {
                    self.function.dump(index, "joint", &segment.graph);
                }
                let backward = self.function.segment_program(&split.backward, "backward");
                (forward, params, Some((backward, split)))
            }
        };
        let results = program.run(&params);
        self.executing = false;
        let (values, rest) = results.split_at(live.len());
        let (writes, saved) = rest.split_at(segment.mutations.len());
        for (traced, result) in live.iter().zip(values) {
            let _ = traced.computed_version.set(result.0.version());
            let _ = traced.filled.set(result.clone());
        }
        for ((target, _), (storage, layout)) in segment.mutations.iter().zip(writes) {
            write_back(target, storage, layout);
        }
        let mut compiled_backward = None;
        if let (Some(joint), Some((backward, split)), Some(node)) = (&joint, backward, &segment.grad_node) {
            let mut joint_graph = segment.graph.clone();
            joint_graph.outputs = joint.input_grads.iter().map(|(_, v)| *v).collect();
            let spec = Arc::new(CompiledBackward {
                program: backward,
                joint: joint_graph,
                gradients: joint
                    .gradients
                    .iter()
                    .map(|(param, value, slot)| (*param, *slot, ValueType::of(value.dtype, &value.hint.shape)))
                    .collect(),
                input_grads: joint.input_grads.iter().map(|(p, _)| *p).collect(),
            });
            spec.wire(node, saved[..split.saved].to_vec(), joint_inputs(&segment.bindings));
            compiled_backward = Some((spec, split.forward_params.clone()));
        }
        let run = self.function.keep_inputs().then(|| (program.clone(), params.clone()));
        self.records.push(SegmentRecord { index: segment.index, ops: segment.ops, graph: segment.graph.clone(), run });
        self.finished.push(FinishedSegment {
            program,
            bindings: segment.bindings.iter().map(|b| BindingSpec::of(b, &self.args)).collect(),
            live: live.iter().map(Arc::downgrade).collect(),
            live_slots: live.iter().map(|v| v.value.node().map_or(0, |n| n.index() as u32)).collect(),
            mutations: segment.mutations.iter().map(|(t, _)| BindingSpec::target(t, &self.args)).collect(),
            backward: compiled_backward,
            last,
        });
    }

    fn into_outcome(self, outputs: &[Tensor]) -> TraceOutcome {
        let mut outcome = TraceOutcome::new(self.finished, self.records, self.breaks, outputs, &self.args);
        outcome.modes = self.modes;
        if self.host_values && outcome.replay.is_some() {
            outcome.replay = None;
            outcome.not_replayable = Some("it reads host values that may change between calls (an optimizer's)".into());
        }
        outcome
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
        Binding::Gradient => unreachable!("gradient parameters belong to the backward program"),
    }
}

/// Without a compiled backward, a segment's node hands each output's gradient to the node
/// of the op that made it: the backward then runs the per-op rules, as eager mode does.
fn wire_per_op(node: &Arc<Node>, handles: &[Tensor]) {
    let mut slots: Vec<u32> = Vec::new();
    let mut edges = Vec::new();
    let mut inputs = Vec::new();
    for t in handles {
        let Data::Traced(v) = &t.0.data else { continue };
        let Some(op_node) = v.op_node.lock().unwrap_or_else(|e| e.into_inner()).clone() else { continue };
        let slot = v.value.node().map_or(0, |n| n.index() as u32);
        if slots.contains(&slot) {
            continue;
        }
        slots.push(slot);
        edges.push(Some(Edge::Node(op_node, 0)));
        inputs.push((t.dims(), t.dtype()));
    }
    let rule: SlotsBackwardFn = Box::new(move |grads: &[(u32, Tensor)]| {
        slots.iter().map(|slot| grads.iter().find(|(s, _)| s == slot).map(|(_, g)| g.clone())).collect()
    });
    node.wire(Wiring { edges, inputs }, rule);
}

/// Gives a segment's node its edges (the lifted inputs that receive a gradient) and a rule
/// that runs the backward program on the saved values and the incoming gradients.
/// A segment's compiled backward, shared by every call that runs the segment: the program,
/// how many saved values it reads, and how gradients map to it.
pub(crate) struct CompiledBackward {
    program: Arc<SegmentProgram>,
    /// The joint graph, for a recorded backward (`create_graph`).
    joint: Graph,
    /// (joint parameter, output slot, type) of each output gradient.
    gradients: Vec<(usize, u32, ValueType)>,
    /// The joint parameters (lifted inputs) that receive a gradient, in edge order.
    pub(crate) input_grads: Vec<usize>,
}

impl CompiledBackward {
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.gradients.iter().map(|(_, slot, _)| *slot)
    }

    /// Gives a segment's node its edges (the lifted inputs that receive a gradient) and a
    /// rule that runs the backward program on `saved` and the incoming gradients.
    /// `inputs` are the joint graph's parameters as tensors (`None` for gradients).
    pub(crate) fn wire(self: &Arc<Self>, node: &Node, saved: Vec<(Storage, Layout)>, inputs: Vec<Option<Tensor>>) {
        let saved_versions: Vec<u64> = saved.iter().map(|(s, _)| s.version()).collect();
        let mut edges = Vec::new();
        let mut shapes = Vec::new();
        for &param in &self.input_grads {
            let tensor = inputs[param].as_ref().expect("gradients flow to tensors");
            edges.push(edge_of(tensor));
            shapes.push((tensor.dims(), tensor.dtype()));
        }
        let spec = self.clone();
        let rule: SlotsBackwardFn = Box::new(move |grads: &[(u32, Tensor)]| {
            for ((storage, layout), &version) in saved.iter().zip(&saved_versions) {
                assert!(
                    storage.version() == version,
                    "backward of a compiled segment: a tensor it saved ({}{}) was modified by an in-place operation \
                     after it was saved (its version is {}, expected {version}); clone it before modifying it in place",
                    storage.dtype(),
                    ignis_ir::shape::format_shape(&layout.shape),
                    storage.version()
                );
            }
            let grad_for = |slot: u32| grads.iter().find(|(s, _)| *s == slot).map(|(_, g)| g);
            if crate::is_grad_enabled() {
                // Recorded: the joint graph as differentiable tensor ops over the inputs.
                let mut joint_inputs = inputs.clone();
                for (param, slot, ty) in &spec.gradients {
                    joint_inputs[*param] = Some(match grad_for(*slot) {
                        Some(g) => g.clone(),
                        None => Tensor::zeros(ignis_runtime::interpret::concrete_shape(ty), ty.dtype),
                    });
                }
                return crate::ops::replay_as_ops(&spec.joint, &joint_inputs).into_iter().map(Some).collect();
            }
            let mut params = saved.clone();
            for (_, slot, ty) in &spec.gradients {
                params.push(match grad_for(*slot) {
                    Some(g) => {
                        let g = crate::no_grad(|| g.to_dtype(ty.dtype));
                        let (s, l) = g.resolved();
                        (s.clone(), l.clone())
                    }
                    None => zeros(ty),
                });
            }
            let outputs = spec.program.run(&params);
            outputs.into_iter().map(|(s, l)| Some(Tensor::from_parts(s, l))).collect()
        });
        node.wire(Wiring { edges, inputs: shapes }, rule);
    }
}

/// The joint graph's parameters as tensors: what a recorded backward replays over, and what
/// the compiled backward's edges point to.
fn joint_inputs(bindings: &[Binding]) -> Vec<Option<Tensor>> {
    bindings
        .iter()
        .map(|b| match b {
            Binding::Arg(_, t) | Binding::Captured(t) | Binding::Constant(t) => Some(t.clone()),
            Binding::RngSeed { seed, .. } => Some(Tensor::scalar(*seed as i64)),
            Binding::RngOffset { offset } => Some(Tensor::scalar(*offset as i64)),
            Binding::Gradient => None,
        })
        .collect()
}

fn zeros(ty: &ValueType) -> (Storage, Layout) {
    let shape = ignis_runtime::interpret::concrete_shape(ty);
    let layout = Layout::contiguous(&shape);
    let storage = Storage::uninit(ty.dtype, layout.numel());
    cpu::fill_view(View::new(&storage, &layout), ignis_ir::Scalar::Int(0));
    (storage, layout)
}

pub(crate) fn scalar_i64(v: i64) -> (Storage, Layout) {
    (Storage::from_vec(vec![v]), Layout::contiguous(&[]))
}

/// Writes a segment's new value of a lifted tensor into its storage.
pub(crate) fn write_back(target: &Tensor, storage: &Storage, layout: &Layout) {
    let (ts, tl) = target.resolved();
    let src = View::new(storage, layout);
    let written = if storage.same(ts) {
        // The program returned a view of the target itself; copy through a temporary.
        let copy = storage.to_device(storage.device());
        copy.and_then(|copy| ignis_runtime::write_view(View::new(ts, tl), View::new(&copy, layout)))
    } else {
        ignis_runtime::write_view(View::new(ts, tl), src)
    };
    written.unwrap_or_else(|e| panic!("write-back into a tensor on {}: {e}", ts.device()));
    ts.bump_version();
}
