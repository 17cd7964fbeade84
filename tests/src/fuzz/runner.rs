//! One fuzz case: a program run eagerly and through its target (`targets`: the compiled
//! function, or a stand-in that tests the fuzzer itself), values then gradients.
//!
//! 1. Values, under `no_grad`, twice: the first call traces, the second runs on new input
//!    values of the same shapes and layouts and must replay the cached program.
//! 2. Gradients, when an input requires grad and an output depends on it: inputs become
//!    leaves, the loss is `sum(output * fixed weights)` over the outputs that require
//!    grad, and after `backward()` every input's `.grad()` is compared; again twice.
//!
//! Each eager reference comes with noise-model runs (`noise`) that set the tolerance of
//! every element. Panics are caught: in eager code they are a fault of the generator (or
//! an eager bug), in the target a compiler failure (strict mode turns graph breaks into
//! panics).

use super::compare::{Tolerance, difference, noise};
use super::execute::{input_tensors, run_with};
use super::infer::{Limits, Meta, Precision, infer};
use super::kinks::near_kink;
use super::noise::{max_abs, step_magnitude};
use super::program::Program;
use super::rng::Rng;
use super::targets::{Subject, Target, perturbed_run, subject};
use ignis::compile::is_tracing;
use ignis::{DType, Tensor, no_grad};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The program breaks a rule of `infer` (only the minimizer meets these).
    Invalid,
    /// Eager code panicked on a program `infer` accepted: a generator or eager bug.
    EagerPanic,
    /// The target panicked (a graph break in strict mode, a compiler error).
    TargetPanic,
    /// A value, dtype, shape, `requires_grad` flag or gradient differs.
    Mismatch,
    /// The second call on same-layout inputs traced again instead of replaying.
    NoReplay,
}

/// Why a case failed.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    /// Where: `values, call 1, output 0 (v7)`, `with grads, call 2, grad of v0`...
    pub phase: String,
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let kind = match self.kind {
            FailureKind::Invalid => "invalid program",
            FailureKind::EagerPanic => "eager panic",
            FailureKind::TargetPanic => "compiled panic",
            FailureKind::Mismatch => "mismatch",
            FailureKind::NoReplay => "no replay",
        };
        write!(f, "{kind} in {}: {}", self.phase, self.detail)
    }
}

/// How a case runs.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseOptions {
    pub limits: Limits,
    /// Noise-model runs per reference (0 leaves only the relative and absolute tolerances).
    pub perturbed_runs: u64,
}

impl Default for CaseOptions {
    fn default() -> Self {
        CaseOptions { limits: Limits::default(), perturbed_runs: 3 }
    }
}

/// What a passing case covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaseReport {
    /// Gradients were compared (an output depended on an input that requires grad).
    pub gradients: bool,
    /// Gradients were not compared in some call: a value lay within rounding distance of
    /// a point where a gradient jumps (`kinks`).
    pub near_kink: bool,
}

/// Runs `program` eagerly and through `target`; `Err` says what differed first.
pub fn run_case(program: &Program, target: &Target, options: &CaseOptions) -> Result<CaseReport, Failure> {
    let metas = infer(program, &options.limits).map_err(|e| failure(FailureKind::Invalid, "checking", e))?;
    let subject = subject(target, program, &metas, options);
    let kinked = check_values(program, &metas, subject.as_ref(), options)?;
    subject.check_replays(1)?;
    let near_kink = kinked.contains(&true);
    let gradients = check_gradients(program, &metas, subject.as_ref(), options, kinked)?;
    if gradients.is_some() {
        subject.check_replays(2)?;
    }
    Ok(CaseReport { gradients: gradients.unwrap_or(false), near_kink })
}

fn eager_panic(phase: &str, message: String) -> Failure {
    failure(FailureKind::EagerPanic, phase, message)
}

/// The values pass, two calls under `no_grad`; per call, whether a value lies near a
/// gradient kink (so that its gradient pass compares values only).
fn check_values(
    program: &Program,
    metas: &[Meta],
    subject: &dyn Subject,
    options: &CaseOptions,
) -> Result<[bool; 2], Failure> {
    let mut kinked = [false; 2];
    for call in 1..=2 {
        let phase = format!("values, call {call}");
        let inputs = guarded(|| input_tensors(program, call)).map_err(|m| eager_panic(&phase, m))?;
        let reference = guarded(|| no_grad(|| reference_run(program, &inputs))).map_err(|m| eager_panic(&phase, m))?;
        let (perturbed, perturbed_pools): (Vec<Vec<Tensor>>, Vec<Vec<Tensor>>) = (1..=options.perturbed_runs)
            .map(|salt| guarded(|| no_grad(|| perturbed_run(program, metas, &inputs, salt))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| eager_panic(&phase, m))?
            .into_iter()
            .unzip();
        kinked[call as usize - 1] =
            guarded(|| near_kink(program, metas, &reference.pool, &reference.scales, &perturbed_pools))
                .map_err(|m| eager_panic(&phase, m))?
                .is_some();
        let got = guarded_target(|| no_grad(|| subject.call(inputs.clone()))).map_err(|m| target_panic(&phase, m))?;
        let scales = reference.output_scales(program);
        compare_outputs(&phase, program, metas, &got, &reference.outputs, &scales, &perturbed)?;
    }
    Ok(kinked)
}

/// The gradient pass, two calls with grad; `None` when no output depends on an input that
/// requires grad, else whether some call compared gradients (`kinked` calls do not).
fn check_gradients(
    program: &Program,
    metas: &[Meta],
    subject: &dyn Subject,
    options: &CaseOptions,
    kinked: [bool; 2],
) -> Result<Option<bool>, Failure> {
    if !program.inputs.iter().any(|input| input.requires_grad) {
        return Ok(None);
    }
    // Backward passes through every value and rounds gradients to each value's dtype: the
    // coarsest of those applies.
    let precision = metas.iter().map(|m| m.precision.max(Precision::of(m.dtype))).max().unwrap_or(Precision::Exact);
    for call in 1..=2 {
        let phase = format!("with grads, call {call}");
        let want =
            guarded(|| gradient_run(program, metas, call, Mode::Reference)).map_err(|m| eager_panic(&phase, m))?;
        if !want.has_loss {
            return Ok(None);
        }
        let perturbed = (1..=options.perturbed_runs)
            .map(|salt| guarded(|| gradient_run(program, metas, call, Mode::Perturbed(salt))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| eager_panic(&phase, m))?;
        let got = guarded_target(|| gradient_run(program, metas, call, Mode::Target(subject)))
            .map_err(|m| target_panic(&phase, m))?;
        let perturbed_outputs: Vec<Vec<Tensor>> = perturbed.iter().map(|p| p.outputs.clone()).collect();
        compare_outputs(&phase, program, metas, &got.outputs, &want.outputs, &want.scales, &perturbed_outputs)?;
        for (i, (g, w)) in got.outputs.iter().zip(&want.outputs).enumerate() {
            if g.requires_grad() != w.requires_grad() {
                let detail = format!("requires_grad is {} compiled, {} eager", g.requires_grad(), w.requires_grad());
                return Err(failure(FailureKind::Mismatch, &format!("{phase}, output {i}"), detail));
            }
        }
        if !kinked[call as usize - 1] {
            compare_grads(&phase, &got, &want, &perturbed, precision)?;
        }
    }
    Ok(Some(!kinked.iter().all(|&k| k)))
}

/// Every input's gradient against eager's.
fn compare_grads(
    phase: &str,
    got: &GradientRun,
    want: &GradientRun,
    perturbed: &[GradientRun],
    precision: Precision,
) -> Result<(), Failure> {
    for (i, (g, w)) in got.grads.iter().zip(&want.grads).enumerate() {
        let what = format!("{phase}, grad of v{i}");
        match (g, w) {
            (Some(g), Some(w)) => {
                let spread: Vec<&Tensor> = perturbed.iter().filter_map(|p| p.grads[i].as_ref()).collect();
                let precision = precision.max(Precision::of(w.dtype()));
                let tolerance = Tolerance {
                    rtol: precision.relative_tolerance(),
                    floor: precision.absolute_floor(),
                    scale: max_abs(w).max(want.grad_scales[i]),
                    noise: noise(w, &spread),
                };
                if let Some(detail) = difference(g, w, &tolerance) {
                    return Err(failure(FailureKind::Mismatch, &what, detail));
                }
            }
            (None, None) => {}
            _ => {
                let detail = format!("a gradient in one run only (compiled: {}, eager: {})", g.is_some(), w.is_some());
                return Err(failure(FailureKind::Mismatch, &what, detail));
            }
        }
    }
    Ok(())
}

fn failure(kind: FailureKind, phase: &str, detail: String) -> Failure {
    Failure { kind, phase: phase.to_string(), detail }
}

fn target_panic(phase: &str, message: String) -> Failure {
    failure(FailureKind::TargetPanic, phase, message)
}

fn compare_outputs(
    phase: &str,
    program: &Program,
    metas: &[Meta],
    got: &[Tensor],
    want: &[Tensor],
    scales: &[f64],
    perturbed: &[Vec<Tensor>],
) -> Result<(), Failure> {
    if got.len() != want.len() {
        let detail = format!("{} outputs compiled, {} eager", got.len(), want.len());
        return Err(failure(FailureKind::Mismatch, phase, detail));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let id = program.outputs[i];
        let meta = &metas[id.0];
        let spread: Vec<&Tensor> = perturbed.iter().map(|p| &p[i]).collect();
        let precision = if meta.is_exact() { Precision::Exact } else { meta.precision.max(Precision::of(w.dtype())) };
        let tolerance = Tolerance {
            rtol: precision.relative_tolerance(),
            floor: precision.absolute_floor(),
            scale: scales[i],
            noise: noise(w, &spread),
        };
        if let Some(detail) = difference(g, w, &tolerance) {
            return Err(failure(FailureKind::Mismatch, &format!("{phase}, output {i} ({id})"), detail));
        }
    }
    Ok(())
}

/// An eager run with every value of the pool, and the magnitude each was computed from.
struct Reference {
    outputs: Vec<Tensor>,
    pool: Vec<Tensor>,
    scales: Vec<f64>,
}

impl Reference {
    fn output_scales(&self, program: &Program) -> Vec<f64> {
        program.outputs.iter().map(|o| self.scales[o.0]).collect()
    }
}

fn reference_run(program: &Program, inputs: &[Tensor]) -> Reference {
    let mut scales: Vec<f64> = inputs.iter().map(max_abs).collect();
    let mut pool: Vec<Tensor> = inputs.to_vec();
    let outputs = run_with(program, inputs, |_, step, args, result| {
        let scale = if !result.dtype().is_float() {
            0.0
        } else if step.op.rounds() {
            step_magnitude(&step.op, args, &result)
        } else {
            // Moving or selecting values keeps the magnitude they came from.
            step.args.iter().map(|a| scales[a.0]).fold(max_abs(&result), f64::max)
        };
        scales.push(scale);
        pool.push(result.clone());
        result
    });
    Reference { outputs, pool, scales }
}

#[derive(Clone, Copy)]
enum Mode<'a> {
    Reference,
    Perturbed(u64),
    Target(&'a dyn Subject),
}

struct GradientRun {
    outputs: Vec<Tensor>,
    scales: Vec<f64>,
    /// Per input.
    grads: Vec<Option<Tensor>>,
    /// Per input, for the reference run: the largest gradient of any value computed from
    /// it, the magnitude its own gradient was computed from (backward cancels as forward
    /// does: a bf16 round trip's gradient minus the identity's is rounding noise of both).
    grad_scales: Vec<f64>,
    has_loss: bool,
}

/// A forward and backward pass on fresh leaves made from call `call`'s input values.
fn gradient_run(program: &Program, metas: &[Meta], call: u64, mode: Mode) -> GradientRun {
    let leaves: Vec<Tensor> = input_tensors(program, call)
        .into_iter()
        .zip(&program.inputs)
        .map(|(t, spec)| if spec.requires_grad { t.detach().requires_grad_(true) } else { t })
        .collect();
    let mut pool = Vec::new();
    let (outputs, scales, salt) = match mode {
        Mode::Reference => {
            let reference = reference_run(program, &leaves);
            let scales = reference.output_scales(program);
            pool = reference.pool;
            pool.iter().filter(|t| t.requires_grad()).for_each(Tensor::retain_grad);
            (reference.outputs, scales, 0)
        }
        Mode::Perturbed(salt) => (perturbed_run(program, metas, &leaves, salt).0, Vec::new(), salt),
        Mode::Target(subject) => (subject.call(leaves.clone()), Vec::new(), 0),
    };
    let loss = weighted_loss(program, &outputs, salt);
    if let Some(loss) = &loss {
        loss.backward();
    }
    let grad_scales = if pool.is_empty() { Vec::new() } else { cone_grad_scales(program, &pool) };
    GradientRun {
        grads: leaves.iter().map(Tensor::grad).collect(),
        outputs,
        scales,
        grad_scales,
        has_loss: loss.is_some(),
    }
}

/// Per input, the largest gradient magnitude of the values computed from it (and its own).
fn cone_grad_scales(program: &Program, pool: &[Tensor]) -> Vec<f64> {
    let magnitudes: Vec<f64> = pool.iter().map(|t| t.grad().map_or(0.0, |g| max_abs(&g))).collect();
    let inputs = program.inputs.len();
    (0..inputs)
        .map(|input| {
            let mut reached = vec![false; pool.len()];
            reached[input] = true;
            for (i, step) in program.steps.iter().enumerate() {
                reached[inputs + i] = step.args.iter().any(|a| reached[a.0]);
            }
            (0..pool.len()).filter(|&v| reached[v]).map(|v| magnitudes[v]).fold(0.0, f64::max)
        })
        .collect()
}

/// `sum(output_i * w_i)` in f64 over the outputs that require grad, with fixed weights in
/// `±[0.5, 1.5)` (moved by an f32 ulp or two for the noise model's runs, `salt > 0`).
fn weighted_loss(program: &Program, outputs: &[Tensor], salt: u64) -> Option<Tensor> {
    let mut total: Option<Tensor> = None;
    for (i, output) in outputs.iter().enumerate().filter(|(_, o)| o.requires_grad()) {
        let mut rng = Rng::derive(program.seed, 1_000_000 + i as u64);
        let mut jitter = Rng::derive(program.seed ^ salt.wrapping_mul(0x9E37_79B9), 2_000_000 + i as u64);
        let weights: Vec<f64> = (0..output.numel())
            .map(|_| {
                let w = rng.uniform(0.5, 1.5) * if rng.chance(0.5) { -1.0 } else { 1.0 };
                if salt == 0 { w } else { w * (1.0 + jitter.uniform(-2.0, 2.0) * f32::EPSILON as f64) }
            })
            .collect();
        let weights = Tensor::from_vec(weights, output.shape().to_vec());
        let term = output.to_dtype(DType::F64).mul(&weights).sum_all();
        total = Some(match total {
            Some(t) => t.add(&term),
            None => term,
        });
    }
    total
}

// ---- panics

thread_local! {
    /// Set while a panic is expected and caught: the hook stays quiet on this thread only,
    /// so other tests' panics still print.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into its message.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_quiet_hook();
    let was_quiet = QUIET.with(|q| q.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was_quiet));
    result.map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else if let Some(s) = payload.downcast_ref::<&str>() {
            s.to_string()
        } else {
            "a panic without a message".to_string()
        }
    })
}

/// `guarded`, noting when a panic left the thread in trace mode (which would corrupt every
/// later case on the thread).
fn guarded_target<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    guarded(f).map_err(|message| {
        if is_tracing() { format!("{message} (and the thread is still in trace mode)") } else { message }
    })
}
