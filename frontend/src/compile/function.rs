//! `compile(f)`: the compiled function, its guarded cache of replayable programs, and the
//! path that traces on a miss.

use super::args::{Args, Outputs};
use super::backend::SegmentProgram;
use super::dynamic::{SymbolicDim, Template};
use super::guard::{Guards, Mismatch};
use super::logs::{self, Topic};
use super::options::CompileOptions;
use super::options::DynamicShapes;
use super::segment::{BindingSpec, OutputSpec, Replay, TraceOutcome};
use super::shared::{CompileStats, FunctionShared};
use super::trace::{self, is_tracing};
use crate::tensor::Tensor;
use ignis_runtime::{Layout, Storage};
use std::collections::HashMap;
use std::hash::DefaultHasher;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

/// Compiles `f` with the default options. See [`compile_with`].
pub fn compile<A, O, F>(f: F) -> Compiled<A, O, F>
where
    A: Args,
    O: Outputs,
    F: Fn(A) -> O + Send + Sync,
{
    compile_with(f, CompileOptions::default())
}

/// Wraps `f` so that calls run a captured graph instead of eager ops.
///
/// The first call traces `f`: tensor ops record into a graph, which is compiled and run. A
/// later call whose guards (argument dtypes, shapes, layouts, `requires_grad`, grad mode,
/// static arguments, the identity and signature of captured tensors) match a cached trace
/// runs that program without running `f`. A trace with graph breaks cannot be replayed
/// alone: such a function runs `f` in trace mode on each call and finds each segment's
/// program in the cache by its structure, so only new segments are compiled.
pub fn compile_with<A, O, F>(f: F, options: CompileOptions) -> Compiled<A, O, F>
where
    A: Args,
    O: Outputs,
    F: Fn(A) -> O + Send + Sync,
{
    Compiled {
        f,
        shared: Arc::new(FunctionShared::new(options)),
        entries: RwLock::new(Vec::new()),
        last: Mutex::new(None),
        warned: std::sync::atomic::AtomicBool::new(false),
        _types: PhantomData,
    }
}

/// A cached trace: the guards it holds under and how to replay it.
pub(crate) struct Entry {
    guards: Guards,
    replay: Replay,
    /// Set when one argument dim is symbolic: the template and its programs per size.
    dynamic: Option<Dynamic>,
}

pub(crate) struct Dynamic {
    dim: SymbolicDim,
    template: Template,
    programs: Mutex<HashMap<usize, Arc<SegmentProgram>>>,
}

impl Entry {
    fn check(&self, args: &[Tensor], statics: u64, grad_mode: bool) -> Result<(), Mismatch> {
        let symbolic = self.dynamic.as_ref().map(|d| (d.dim.arg, d.dim.dim));
        self.guards.check(args, statics, grad_mode, symbolic)
    }

    /// The program for these arguments: the traced one, or the template specialized to the
    /// symbolic dim's size.
    fn program(&self, args: &[Tensor], shared: &FunctionShared) -> Option<Arc<SegmentProgram>> {
        let Some(dynamic) = &self.dynamic else { return Some(self.replay.program.clone()) };
        let size = args[dynamic.dim.arg].shape()[dynamic.dim.dim];
        let mut programs = dynamic.programs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = programs.get(&size) {
            return Some(p.clone());
        }
        let graph = dynamic.template.specialize(size)?;
        let program = shared.segment_program(&graph, "captured");
        programs.insert(size, program.clone());
        Some(program)
    }
}

/// A compiled function; call it with [`Compiled::call`]. It is `Send + Sync` when `f` is,
/// so one compiled function can serve several threads.
pub struct Compiled<A, O, F> {
    f: F,
    shared: Arc<FunctionShared>,
    entries: RwLock<Vec<Arc<Entry>>>,
    last: Mutex<Option<Arc<TraceOutcome>>>,
    warned: std::sync::atomic::AtomicBool,
    _types: PhantomData<fn(A) -> O>,
}

impl<A, O, F> Compiled<A, O, F>
where
    A: Args,
    O: Outputs,
    F: Fn(A) -> O + Send + Sync,
{
    /// Runs the function: a cached program when the guards hold, else a new trace.
    #[track_caller]
    pub fn call(&self, args: A) -> O {
        if is_tracing() {
            // Called from inside another compiled function: becomes part of its trace.
            return (self.f)(args);
        }
        let tensors = args.tensors();
        let mut hasher = DefaultHasher::new();
        args.static_key(&mut hasher);
        let statics = std::hash::Hasher::finish(&hasher);
        let grad_mode = crate::is_grad_enabled();
        let entries: Vec<Arc<Entry>> = self.entries.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut first_miss: Option<Mismatch> = None;
        for entry in &entries {
            match entry.check(&tensors, statics, grad_mode) {
                Ok(()) => {
                    if let Some(program) = entry.program(&tensors, &self.shared) {
                        self.shared.replays.fetch_add(1, Ordering::Relaxed);
                        return replay::<O>(&entry.replay, &program, &tensors);
                    }
                }
                Err(m) => {
                    first_miss.get_or_insert(m);
                }
            }
        }
        if entries.len() >= self.shared.options.recompile_limit.max(1) {
            return self.eager_past_limit(args, first_miss);
        }
        if let Some(m) = &first_miss {
            logs::log(Topic::Recompiles, || format!("{}: recompiling because {m}", self.shared.name()));
        }
        self.trace(args, tensors, statics, grad_mode)
    }

    fn trace(&self, args: A, tensors: Vec<Tensor>, statics: u64, grad_mode: bool) -> O {
        self.shared.traces.fetch_add(1, Ordering::Relaxed);
        let guards = Guards::before_trace(&tensors, statics, grad_mode);
        let (result, outcome) = trace::trace_call(&self.shared, tensors, || (self.f)(args));
        self.shared.breaks.fetch_add(outcome.breaks.len(), Ordering::Relaxed);
        let dump_dir = logs::dump_dir(self.shared.options.dump_dir.as_deref());
        if let Some(dir) = &dump_dir
            && !outcome.breaks.is_empty()
        {
            let text: String = outcome
                .breaks
                .iter()
                .map(|b| {
                    format!(
                        "trace {}: break after segment {}: {} at {}\n",
                        self.shared.traces.load(Ordering::Relaxed),
                        b.after_segment,
                        b.reason.kind(),
                        b.location.as_deref().unwrap_or("?")
                    )
                })
                .collect();
            logs::append_dump(dir, &format!("{}.breaks.txt", self.shared.name()), &text);
        }
        for b in &outcome.breaks {
            logs::log(Topic::Breaks, || {
                format!(
                    "{}: graph break after segment {}: {} at {}",
                    self.shared.name(),
                    b.after_segment,
                    b.reason.kind(),
                    b.location.as_deref().unwrap_or("?")
                )
            });
        }
        if self.shared.options.strict && !outcome.breaks.is_empty() {
            let b = &outcome.breaks[0];
            panic!(
                "compile (strict): {} graph break(s) in {}; the first: {} at {}",
                outcome.breaks.len(),
                self.shared.name(),
                b.reason.kind(),
                b.location.as_deref().unwrap_or("?")
            );
        }
        let outcome = Arc::new(outcome);
        if let Some(replay) = &outcome.replay {
            let mut guards = guards.with_captured(&replay.bindings);
            guards.modes = outcome.modes.clone();
            logs::log(Topic::Guards, || format!("{}: new cache entry guarded by\n{guards}", self.shared.name()));
            if let Some(dir) = &dump_dir {
                let text = format!("entry traced on call {}:\n{guards}\n", self.shared.traces.load(Ordering::Relaxed));
                logs::append_dump(dir, &format!("{}.guards.txt", self.shared.name()), &text);
            }
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            let (dynamic, replaced) = match self.make_dynamic(&entries, &guards, replay) {
                Some((dynamic, replaced)) => (Some(dynamic), Some(replaced)),
                None => (None, None),
            };
            if let Some(index) = replaced {
                entries.remove(index);
            }
            entries.push(Arc::new(Entry { guards, replay: replay.clone(), dynamic }));
        } else if let Some(why) = &outcome.not_replayable {
            logs::log(Topic::Guards, || format!("{}: traced again on every call: {why}", self.shared.name()));
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        result
    }

    /// When the new trace differs from a cached one only in the size of one argument dim,
    /// and their graphs differ only in numbers that scale with it: a dynamic entry, and the
    /// index of the entry it replaces.
    fn make_dynamic(&self, entries: &[Arc<Entry>], guards: &Guards, replay: &Replay) -> Option<(Dynamic, usize)> {
        if self.shared.options.dynamic == DynamicShapes::Off {
            return None;
        }
        for (index, old) in entries.iter().enumerate() {
            if old.dynamic.is_some() {
                continue;
            }
            let Some((arg, dim, a, b)) = old.guards.single_dim_difference(guards) else { continue };
            if a < 2 || b < 2 {
                continue;
            }
            let (first, second) = (old.replay.program.graph(), replay.program.graph());
            // Constants and random draws are bound by value: their shapes must not scale.
            let by_value = replay.bindings.iter().enumerate().filter(|(_, b)| {
                matches!(b, BindingSpec::Constant(_) | BindingSpec::RngSeed { .. } | BindingSpec::RngOffset)
            });
            if by_value
                .into_iter()
                .any(|(i, _)| first.params.get(i).map(|p| &p.ty) != second.params.get(i).map(|p| &p.ty))
            {
                continue;
            }
            let Some(template) = Template::generalize(first, a, second, b) else { continue };
            logs::log(Topic::Recompiles, || {
                format!("{}: dim {dim} of arg {arg} is now symbolic (seen as {a} and {b})", self.shared.name())
            });
            let programs = Mutex::new(HashMap::from([(a, old.replay.program.clone()), (b, replay.program.clone())]));
            return Some((Dynamic { dim: SymbolicDim { arg, dim }, template, programs }, index));
        }
        None
    }

    fn eager_past_limit(&self, args: A, miss: Option<Mismatch>) -> O {
        assert!(
            !self.shared.options.strict,
            "compile (strict): {} reached its recompile limit of {}; the last guard failure: {}",
            self.shared.name(),
            self.shared.options.recompile_limit,
            miss.map(|m| m.to_string()).unwrap_or_default()
        );
        if !self.warned.swap(true, Ordering::Relaxed) {
            let why = miss.map(|m| m.to_string()).unwrap_or_default();
            tracing::warn!(
                target: "ignis::compile",
                "{}: recompile limit ({}) reached ({why}); new signatures run eagerly",
                self.shared.name(),
                self.shared.options.recompile_limit
            );
            eprintln!(
                "ignis: warning: {}: recompile limit ({}) reached ({why}); new signatures run eagerly",
                self.shared.name(),
                self.shared.options.recompile_limit
            );
        }
        self.shared.eager_fallbacks.fetch_add(1, Ordering::Relaxed);
        (self.f)(args)
    }

    /// What compiling has done so far.
    pub fn stats(&self) -> CompileStats {
        self.shared.stats()
    }

    /// The GPU code written for `CompileOptions::gpu_codegen`'s target, one report per
    /// compiled program (empty without that option).
    pub fn gpu_reports(&self) -> Vec<ignis_compiler::gpu::GpuReport> {
        self.shared.gpu_reports()
    }

    /// How many guarded programs are cached.
    pub fn cache_len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn options(&self) -> &CompileOptions {
        &self.shared.options
    }

    /// Traces `f` once on `args` (without using or filling the cache) and reports what the
    /// trace saw.
    pub(crate) fn trace_for_explain(&self, args: A) -> (O, TraceOutcome) {
        let tensors = args.tensors();
        trace::trace_call(&self.shared, tensors, || (self.f)(args))
    }

    /// `trace_for_explain` keeping every segment's inputs, for the accuracy bisector.
    pub(crate) fn trace_keeping_inputs(&self, args: A) -> TraceOutcome {
        self.shared.set_keep_inputs(true);
        let (_, outcome) = self.trace_for_explain(args);
        self.shared.set_keep_inputs(false);
        outcome
    }

    /// Runs `f` eagerly, bypassing compilation (for comparisons).
    pub fn call_eager(&self, args: A) -> O {
        (self.f)(args)
    }
}

/// Runs a cached program and rebuilds the function's outputs; for a differentiable segment
/// the outputs get a fresh autograd node running the cached backward program.
fn replay<O: Outputs>(replay: &Replay, program: &SegmentProgram, args: &[Tensor]) -> O {
    let bound: Vec<Option<(Storage, Layout)>> = replay
        .bindings
        .iter()
        .map(|b| (!matches!(b, BindingSpec::Gradient)).then(|| bind_for_replay(b, args)))
        .collect();
    let params: Vec<(Storage, Layout)> = match &replay.backward {
        Some(backward) => backward.forward_params.iter().map(|&p| bound[p].clone().expect("a forward input")).collect(),
        None => bound.iter().flatten().cloned().collect(),
    };
    let results = program.run(&params);
    for (index, target) in &replay.writes {
        let (storage, layout) = &results[*index];
        let target = resolve_target(target, args);
        trace::write_back(&target, storage, layout);
    }
    for (index, target) in &replay.grads {
        let (storage, layout) = &results[*index];
        resolve_target(target, args).set_grad(Some(Tensor::from_parts(storage.clone(), layout.clone())));
    }
    let node = replay.backward.as_ref().map(|backward| {
        let saved_from = backward.slots.len() + replay.writes.len();
        let inputs: Vec<Option<Tensor>> = replay
            .bindings
            .iter()
            .zip(&bound)
            .map(|(spec, value)| match spec {
                BindingSpec::Gradient => None,
                BindingSpec::RngSeed { .. } | BindingSpec::RngOffset => {
                    value.clone().map(|(s, l)| Tensor::from_parts(s, l))
                }
                other => Some(resolve_target(other, args)),
            })
            .collect();
        let node = Arc::new(crate::autograd::Node::unwired("CompiledSegmentBackward"));
        backward.spec.wire(&node, results[saved_from..].to_vec(), inputs);
        node
    });
    let tensors: Vec<Tensor> = replay
        .outputs
        .iter()
        .map(|spec| match spec {
            OutputSpec::Program(i) => {
                let (s, l) = &results[*i];
                let t = Tensor::from_parts(s.clone(), l.clone());
                match (&node, &replay.backward) {
                    (Some(node), Some(backward)) if backward.spec.slots().any(|slot| slot == backward.slots[*i]) => {
                        Tensor::with_grad_fn(&t, node.clone(), backward.slots[*i])
                    }
                    _ => t,
                }
            }
            OutputSpec::Arg(i) => args[*i].clone(),
        })
        .collect();
    let n = tensors.len();
    O::from_tensors(n, &mut tensors.into_iter())
}

fn resolve_target(spec: &BindingSpec, args: &[Tensor]) -> Tensor {
    match spec {
        BindingSpec::Arg(i) => args[*i].clone(),
        BindingSpec::Captured(weak) => Tensor(weak.upgrade().expect("the guard checked that captured tensors live")),
        BindingSpec::Constant(t) => t.clone(),
        _ => unreachable!("replays have no unreplayable bindings"),
    }
}

fn bind_for_replay(spec: &BindingSpec, args: &[Tensor]) -> (Storage, Layout) {
    match spec {
        BindingSpec::RngSeed { count } => {
            let (seed, offset) = crate::random::seed_offset_pair(*count);
            // The offset follows the seed in the parameter list; draw once for both.
            RNG_OFFSET.with(|o| o.set(offset));
            trace::scalar_i64(seed as i64)
        }
        BindingSpec::RngOffset => trace::scalar_i64(RNG_OFFSET.with(|o| o.get()) as i64),
        other => {
            let t = resolve_target(other, args);
            let (s, l) = t.resolved();
            (s.clone(), l.clone())
        }
    }
}

thread_local! {
    static RNG_OFFSET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}
