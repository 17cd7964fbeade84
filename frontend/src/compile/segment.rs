//! What one traced call leaves behind: its segments, its breaks, and (when the trace can be
//! replayed without running the function) the recipe to replay it.

use super::backend::SegmentProgram;
use super::trace::{Binding, BreakReason, CompiledBackward};
use crate::tensor::{Data, Tensor, TensorImpl};
use ignis_ir::Graph;
use std::sync::{Arc, Weak};

/// How a replay finds a program input (or the target of a write-back).
#[derive(Clone)]
pub(crate) enum BindingSpec {
    Arg(usize),
    Captured(Weak<TensorImpl>),
    Constant(Tensor),
    RngSeed {
        count: u64,
    },
    RngOffset,
    /// A value this trace computed in an earlier segment: cannot be replayed alone.
    Unreplayable,
    /// An output gradient of a joint graph (only the backward program reads it).
    Gradient,
}

impl BindingSpec {
    pub(crate) fn of(binding: &Binding, args: &[Tensor]) -> BindingSpec {
        match binding {
            Binding::Arg(i, _) => BindingSpec::Arg(*i),
            Binding::Captured(t) => BindingSpec::target(t, args),
            Binding::Constant(t) => match &t.0.data {
                Data::Concrete(..) => BindingSpec::Constant(t.detach()),
                Data::Traced(_) => BindingSpec::Unreplayable,
            },
            Binding::RngSeed { count, .. } => BindingSpec::RngSeed { count: *count },
            Binding::RngOffset { .. } => BindingSpec::RngOffset,
            // Bound by the backward, never by the forward program.
            Binding::Gradient => BindingSpec::Gradient,
        }
    }

    pub(crate) fn target(t: &Tensor, args: &[Tensor]) -> BindingSpec {
        if let Some(i) = args.iter().position(|a| a.identity() == t.identity()) {
            return BindingSpec::Arg(i);
        }
        match &t.0.data {
            Data::Concrete(..) => BindingSpec::Captured(Arc::downgrade(&t.0)),
            Data::Traced(_) => BindingSpec::Unreplayable,
        }
    }
}

/// A segment that ran: its program and how its inputs and outputs were wired.
pub(crate) struct FinishedSegment {
    pub(crate) program: Arc<SegmentProgram>,
    pub(crate) bindings: Vec<BindingSpec>,
    /// The traced values the program's first outputs filled.
    pub(crate) live: Vec<Weak<super::trace::TracedValue>>,
    /// The slot (node index) of each of those values: a differentiable output's place in
    /// the segment's autograd node.
    pub(crate) live_slots: Vec<u32>,
    /// The targets of the program's remaining outputs (written back in order).
    pub(crate) mutations: Vec<BindingSpec>,
    /// The compiled backward, and which joint parameters the forward program takes.
    pub(crate) backward: Option<(Arc<CompiledBackward>, Vec<usize>)>,
    pub(crate) last: bool,
}

/// For `explain`: one segment's captured graph and op count.
#[derive(Clone)]
pub struct SegmentRecord {
    pub index: usize,
    pub ops: usize,
    pub graph: Graph,
    /// For the accuracy bisector: the program that ran and the inputs it ran on.
    pub(crate) run: Option<RecordedRun>,
}

/// A segment's program and the inputs it ran on.
pub(crate) type RecordedRun = (Arc<SegmentProgram>, Vec<(ignis_runtime::Storage, ignis_runtime::Layout)>);

impl std::fmt::Debug for SegmentRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("SegmentRecord").field("index", &self.index).field("ops", &self.ops).finish()
    }
}

/// For `explain`: where and why a segment ended.
#[derive(Clone, Debug)]
pub struct BreakRecord {
    /// The segment the break ended (segments that ran before it, minus one).
    pub after_segment: usize,
    pub reason: BreakReason,
    /// `file:line:column` of the call that caused it, when known.
    pub location: Option<String>,
}

/// How a replay produces one of the function's outputs.
#[derive(Clone)]
pub(crate) enum OutputSpec {
    Program(usize),
    Arg(usize),
}

/// Everything a replay needs besides the program.
#[derive(Clone)]
pub(crate) struct Replay {
    pub(crate) program: Arc<SegmentProgram>,
    pub(crate) bindings: Vec<BindingSpec>,
    pub(crate) outputs: Vec<OutputSpec>,
    /// Program output index and target of every write-back.
    pub(crate) writes: Vec<(usize, BindingSpec)>,
    /// Program output index and the tensor whose `.grad` it becomes (a backward traced
    /// inside the call leaves gradients in lifted leaves).
    pub(crate) grads: Vec<(usize, BindingSpec)>,
    /// For a differentiable segment: its backward, the joint parameters the forward takes
    /// (`bindings` holds every joint parameter), and each program output's slot.
    pub(crate) backward: Option<ReplayBackward>,
}

#[derive(Clone)]
pub(crate) struct ReplayBackward {
    pub(crate) spec: Arc<CompiledBackward>,
    pub(crate) forward_params: Vec<usize>,
    /// The slot of each output of the forward program that is a live value.
    pub(crate) slots: Vec<u32>,
}

/// What a traced call saw.
pub(crate) struct TraceOutcome {
    pub(crate) segments: Vec<SegmentRecord>,
    pub(crate) breaks: Vec<BreakRecord>,
    /// Present when the call can be replayed from its one program.
    pub(crate) replay: Option<Replay>,
    /// Why it cannot, for the logs.
    pub(crate) not_replayable: Option<String>,
    /// The modules' train/eval flags the function read, with their values.
    pub(crate) modes: Vec<(Weak<std::sync::atomic::AtomicBool>, bool)>,
}

impl TraceOutcome {
    pub(crate) fn new(
        finished: Vec<FinishedSegment>,
        segments: Vec<SegmentRecord>,
        breaks: Vec<BreakRecord>,
        outputs: &[Tensor],
        args: &[Tensor],
    ) -> TraceOutcome {
        let verdict = replay_of(finished, &breaks, outputs, args);
        let (replay, not_replayable) = match verdict {
            Ok(r) => (Some(r), None),
            Err(why) => (None, Some(why)),
        };
        TraceOutcome { segments, breaks, replay, not_replayable, modes: Vec::new() }
    }
}

fn replay_of(
    mut finished: Vec<FinishedSegment>,
    breaks: &[BreakRecord],
    outputs: &[Tensor],
    args: &[Tensor],
) -> Result<Replay, String> {
    if !breaks.is_empty() {
        return Err(format!("{} graph break(s)", breaks.len()));
    }
    if finished.len() > 1 {
        return Err(format!("{} segments", finished.len()));
    }
    let differentiable = finished.last().is_some_and(|s| s.backward.is_some());
    if !differentiable && let Some(t) = outputs.iter().find(|t| t.grad_fn().is_some_and(|n| n.has_rule())) {
        return Err(format!("an output ({}) carries a backward graph", t.describe()));
    }
    let segment = match finished.pop() {
        Some(s) => s,
        None => {
            // Nothing was traced: the outputs are arguments passed through.
            let outputs = outputs
                .iter()
                .map(|t| {
                    args.iter()
                        .position(|a| a.identity() == t.identity())
                        .map(OutputSpec::Arg)
                        .ok_or_else(|| "an output is neither an argument nor computed by the function".to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Replay {
                program: Arc::new(SegmentProgram::empty()),
                bindings: Vec::new(),
                outputs,
                writes: Vec::new(),
                grads: Vec::new(),
                backward: None,
            });
        }
    };
    debug_assert!(segment.last);
    if segment.bindings.iter().chain(&segment.mutations).any(|b| matches!(b, BindingSpec::Unreplayable)) {
        return Err("a value of an earlier segment is an input".into());
    }
    let live: Vec<Option<Arc<super::trace::TracedValue>>> = segment.live.iter().map(Weak::upgrade).collect();
    let mut used = vec![false; live.len()];
    let mut specs = Vec::new();
    for t in outputs {
        let spec = match &t.0.data {
            Data::Traced(v) => live.iter().position(|l| l.as_ref().is_some_and(|l| Arc::ptr_eq(l, v))).map(|i| {
                used[i] = true;
                OutputSpec::Program(i)
            }),
            Data::Concrete(..) => args.iter().position(|a| a.identity() == t.identity()).map(OutputSpec::Arg),
        };
        specs.push(spec.ok_or_else(|| format!("an output ({}) does not come from this call's program", t.describe()))?);
    }
    // Gradients a backward inside the call left in lifted leaves are outputs too.
    let mut grads = Vec::new();
    for spec in &segment.bindings {
        let tensor = match spec {
            BindingSpec::Arg(i) => args.get(*i).cloned(),
            BindingSpec::Captured(weak) => weak.upgrade().map(Tensor),
            _ => None,
        };
        let Some(grad) = tensor.and_then(|t| t.grad()) else { continue };
        let Data::Traced(v) = &grad.0.data else { continue };
        if let Some(i) = live.iter().position(|l| l.as_ref().is_some_and(|l| Arc::ptr_eq(l, v))) {
            used[i] = true;
            if !grads.iter().any(|(_, s): &(usize, BindingSpec)| same_target(s, spec)) {
                grads.push((i, spec.clone()));
            }
        }
    }
    if used.iter().zip(&live).any(|(u, l)| !u && l.is_some()) {
        return Err("a traced value escaped other than as an output or a gradient (stored in a struct?)".into());
    }
    let writes = segment.mutations.iter().enumerate().map(|(k, target)| (live.len() + k, target.clone())).collect();
    let backward = segment.backward.map(|(spec, forward_params)| ReplayBackward {
        spec,
        forward_params,
        slots: segment.live_slots.clone(),
    });
    Ok(Replay { program: segment.program, bindings: segment.bindings, outputs: specs, writes, grads, backward })
}

fn same_target(a: &BindingSpec, b: &BindingSpec) -> bool {
    match (a, b) {
        (BindingSpec::Arg(i), BindingSpec::Arg(j)) => i == j,
        (BindingSpec::Captured(x), BindingSpec::Captured(y)) => Weak::ptr_eq(x, y),
        _ => false,
    }
}
