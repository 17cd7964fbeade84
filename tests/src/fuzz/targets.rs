//! What eager results are compared with: the compiled function, and stand-ins that test
//! the fuzzer itself (a planted fault that must be found; backends that round differently
//! but correctly, which must pass).

use super::execute::{run, run_with};
use super::infer::{Meta, infer};
use super::noise::perturb;
use super::program::{Op, Program};
use super::runner::{CaseOptions, Failure, FailureKind};
use ignis::compile::Compiled;
use ignis::{CompileOptions, DType, Tensor, compile_with};

/// What a case runs the program through, to compare with eager.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `compile_with(f, CompileOptions::default().strict(true))`: the default backend.
    Compiled,
    /// Eager, with the results of every step of one op scaled: a known bug, for tests of
    /// the fuzzer and the minimizer.
    Faulty(Fault),
    /// Eager, with every rounding step moved as the noise model moves it (with this salt,
    /// which the reference's own noise runs do not use): a correct backend that rounds
    /// differently, which must pass; a test of the tolerances.
    Perturbed(u64),
    /// Eager's result moved away from the exact one by as much again: `2 * wide - eager`,
    /// where `wide` is the program run with f32 values widened to f64. A backend whose
    /// error is twice eager's own, which must pass; a test of the tolerances against real
    /// rounding rather than the noise model's.
    Widened,
}

/// A planted bug: every float result of the op named `op` is multiplied by `factor`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub op: String,
    pub factor: f64,
}

/// The program as the thing under test runs it.
pub(crate) trait Subject {
    fn call(&self, inputs: Vec<Tensor>) -> Vec<Tensor>;
    /// After `passes` passes of two calls each, each pass must have traced once and
    /// replayed once.
    fn check_replays(&self, passes: usize) -> Result<(), Failure>;
}

/// What runs `program` for `target`.
pub(crate) fn subject(target: &Target, program: &Program, metas: &[Meta], options: &CaseOptions) -> Box<dyn Subject> {
    match target {
        Target::Compiled => compiled(program),
        Target::Faulty(fault) => Box::new(FaultyEager { program: program.clone(), fault: fault.clone() }),
        Target::Perturbed(salt) => {
            Box::new(PerturbedEager { program: program.clone(), metas: metas.to_vec(), salt: *salt })
        }
        Target::Widened => {
            let narrows_widened = program
                .steps
                .iter()
                .map(|s| matches!(s.op, Op::Cast(to) if to.is_half()) && metas[s.args[0].0].dtype == DType::F32)
                .collect();
            let wide = widened(program, metas, options);
            Box::new(WidenedEager { program: program.clone(), wide, narrows_widened })
        }
    }
}

/// A noise-model run: its outputs and every value of its pool.
pub(crate) fn perturbed_run(
    program: &Program,
    metas: &[Meta],
    inputs: &[Tensor],
    salt: u64,
) -> (Vec<Tensor>, Vec<Tensor>) {
    let mut pool: Vec<Tensor> = inputs.to_vec();
    let outputs = run_with(program, inputs, |i, step, args, result| {
        let exact_args = step.args.iter().all(|a| metas[a.0].is_exact());
        let moved = perturb(i, step, args, result, salt, exact_args);
        pool.push(moved.clone());
        moved
    });
    (outputs, pool)
}

struct CompiledProgram<F>(Compiled<Vec<Tensor>, Vec<Tensor>, F>);

impl<F> Subject for CompiledProgram<F>
where
    F: Fn(Vec<Tensor>) -> Vec<Tensor> + Send + Sync,
{
    fn call(&self, inputs: Vec<Tensor>) -> Vec<Tensor> {
        self.0.call(inputs)
    }

    fn check_replays(&self, passes: usize) -> Result<(), Failure> {
        let stats = self.0.stats();
        if (stats.traces, stats.replays) == (passes, passes) {
            return Ok(());
        }
        let phase = if passes == 1 { "values, call 2" } else { "with grads, call 2" };
        Err(Failure {
            kind: FailureKind::NoReplay,
            phase: phase.to_string(),
            detail: format!("expected {passes} traces and {passes} replays: {stats:?}"),
        })
    }
}

fn compiled(program: &Program) -> Box<dyn Subject> {
    let owned = program.clone();
    let f = move |inputs: Vec<Tensor>| run(&owned, &inputs);
    let options = CompileOptions::default().strict(true).name(format!("fuzz_{}", program.seed));
    Box::new(CompiledProgram(compile_with(f, options)))
}

struct FaultyEager {
    program: Program,
    fault: Fault,
}

impl Subject for FaultyEager {
    fn call(&self, inputs: Vec<Tensor>) -> Vec<Tensor> {
        run_with(&self.program, &inputs, |_, step, _, result| {
            if step.op.name() == self.fault.op && result.dtype().is_float() {
                result.mul_scalar(self.fault.factor)
            } else {
                result
            }
        })
    }

    fn check_replays(&self, _: usize) -> Result<(), Failure> {
        Ok(())
    }
}

struct PerturbedEager {
    program: Program,
    metas: Vec<Meta>,
    salt: u64,
}

impl Subject for PerturbedEager {
    fn call(&self, inputs: Vec<Tensor>) -> Vec<Tensor> {
        perturbed_run(&self.program, &self.metas, &inputs, self.salt).0
    }

    fn check_replays(&self, _: usize) -> Result<(), Failure> {
        Ok(())
    }
}

struct WidenedEager {
    program: Program,
    /// `None` where widening would change what the program means.
    wide: Option<Program>,
    /// Per step: a cast to a half type of a value that was f32 and is f64 in `wide`.
    narrows_widened: Vec<bool>,
}

impl Subject for WidenedEager {
    fn call(&self, inputs: Vec<Tensor>) -> Vec<Tensor> {
        let eager = run(&self.program, &inputs);
        let Some(wide) = &self.wide else { return eager };
        let wide_inputs: Vec<Tensor> =
            inputs.iter().map(|t| if t.dtype() == DType::F32 { t.to_dtype(DType::F64) } else { t.clone() }).collect();
        // Half casts of widened values go through f32 (exact for the values that were f32,
        // and `half`'s own f64 conversion misrounds just above ties, half-rs#151).
        let wide = run_with(wide, &wide_inputs, |i, step, args, result| match step.op {
            Op::Cast(to) if self.narrows_widened[i] => args[0].to_dtype(DType::F32).to_dtype(to),
            _ => result,
        });
        eager
            .into_iter()
            .zip(wide)
            .map(|(e, w)| {
                if !e.dtype().is_float() {
                    return e;
                }
                // Where the two agree (an exact value, an infinity) there is no error to double.
                let w = w.to_dtype(e.dtype());
                e.eq(&w).where_(&e, &w.mul_scalar(2.0).sub(&e))
            })
            .collect()
    }

    fn check_replays(&self, _: usize) -> Result<(), Failure> {
        Ok(())
    }
}

/// `program` computing in f64 what it computed in f32 (the caller widens its f32 inputs):
/// casts to f32 of half, integer and bool values become casts to f64 (exact either way);
/// casts to f32 of f64 values stay, they round in the program too. `None` when the result
/// does not check (a layer norm or a `cat` would mix dtypes), or when NaN and infinities
/// are about: the doubled error of an infinite gradient is NaN.
fn widened(program: &Program, metas: &[Meta], options: &CaseOptions) -> Option<Program> {
    if program.inputs.iter().any(|input| input.fill.specials > 0.0) {
        return None;
    }
    let mut wide = program.clone();
    for step in &mut wide.steps {
        if step.op == Op::Cast(DType::F32) && metas[step.args[0].0].dtype != DType::F64 {
            step.op = Op::Cast(DType::F64);
        }
    }
    let mut inputs_wide = wide.clone();
    for input in &mut inputs_wide.inputs {
        if input.dtype == DType::F32 {
            input.dtype = DType::F64;
        }
    }
    infer(&inputs_wide, &options.limits).ok().map(|_| wide)
}
