//! Shrinking a failing program while it keeps failing the same way: no dead steps or
//! unread inputs, fewer outputs, steps bypassed (their uses rerouted to an earlier value of
//! the same type), smaller dims, plainer inputs. Every candidate must pass `infer`, and it
//! is kept only if its case fails with the same kind of failure (a mismatch stays a
//! mismatch). Dead steps are removed only as candidates like any other: a bug may need
//! them (a trace that keeps an unused value alive).

use super::infer::{Limits, infer};
use super::program::{Fill, Layout, Op, Program, Reshape, Step, ValueId};
use super::runner::{CaseOptions, Failure, run_case};
use super::targets::Target;
use ignis::DType;

/// A smaller program that fails like the original.
#[derive(Clone, Debug)]
pub struct Minimized {
    pub program: Program,
    pub failure: Failure,
    /// Candidate cases run.
    pub attempts: usize,
}

/// Shrinks `program`, which fails with `failure` against `target`, running at most
/// `max_attempts` candidate cases.
pub fn minimize(
    program: &Program,
    failure: &Failure,
    target: &Target,
    options: &CaseOptions,
    max_attempts: usize,
) -> Minimized {
    let mut shrinker =
        Shrinker { best: program.clone(), failure: failure.clone(), target, options, attempts: 0, max_attempts };
    loop {
        let before = shrinker.best.clone();
        shrinker.drop_dead_values();
        shrinker.drop_outputs();
        shrinker.bypass_steps();
        shrinker.shrink_dims();
        shrinker.simplify_inputs();
        if shrinker.best == before || shrinker.attempts >= max_attempts {
            break;
        }
    }
    Minimized { program: shrinker.best, failure: shrinker.failure, attempts: shrinker.attempts }
}

struct Shrinker<'a> {
    best: Program,
    failure: Failure,
    target: &'a Target,
    options: &'a CaseOptions,
    attempts: usize,
    max_attempts: usize,
}

impl Shrinker<'_> {
    fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// Keeps `candidate` if it is valid and still fails the same way.
    fn try_candidate(&mut self, candidate: Program) -> bool {
        if candidate == self.best || self.attempts >= self.max_attempts || infer(&candidate, self.limits()).is_err() {
            return false;
        }
        self.attempts += 1;
        match run_case(&candidate, self.target, self.options) {
            Err(failure) if failure.kind == self.failure.kind => {
                self.best = candidate;
                self.failure = failure;
                true
            }
            _ => false,
        }
    }

    /// All dead steps and unread inputs at once, else one at a time, last first.
    fn drop_dead_values(&mut self) {
        if self.try_candidate(prune(&self.best)) {
            return;
        }
        for id in (0..self.best.inputs.len() + self.best.steps.len()).rev() {
            if id < self.best.inputs.len() + self.best.steps.len() && !is_read(&self.best, ValueId(id)) {
                self.try_candidate(remove_value(&self.best, ValueId(id)));
            }
        }
    }

    fn drop_outputs(&mut self) {
        let outputs = self.best.outputs.clone();
        if outputs.len() < 2 {
            return;
        }
        for output in &outputs {
            let mut candidate = self.best.clone();
            candidate.outputs = vec![*output];
            if self.try_candidate(candidate) {
                return;
            }
        }
        for i in 0..outputs.len() {
            let mut candidate = self.best.clone();
            candidate.outputs.remove(i);
            if self.try_candidate(candidate) {
                return self.drop_outputs();
            }
        }
    }

    /// Removes steps one at a time, last first, rerouting their uses to an earlier value
    /// of the same dtype and shape (the step's own arguments first).
    fn bypass_steps(&mut self) {
        let mut step = self.best.steps.len();
        while step > 0 {
            step -= 1;
            if step >= self.best.steps.len() {
                continue;
            }
            let Ok(metas) = infer(&self.best, self.limits()) else { return };
            let id = self.best.inputs.len() + step;
            let own_args = self.best.steps[step].args.clone();
            let same_type = |r: usize| metas[r].dtype == metas[id].dtype && metas[r].shape == metas[id].shape;
            let mut replacements: Vec<usize> = own_args.iter().map(|a| a.0).filter(|&r| same_type(r)).collect();
            let others: Vec<usize> = (0..id).rev().filter(|&r| same_type(r) && !replacements.contains(&r)).collect();
            replacements.extend(others);
            for replacement in replacements.into_iter().take(6) {
                let rerouted = reroute(&self.best, ValueId(id), ValueId(replacement));
                if self.try_candidate(remove_value(&rerouted, ValueId(id))) {
                    break;
                }
            }
        }
    }

    /// Smaller dims: one size everywhere it appears (inputs and the sizes ops name), then
    /// single dims of single inputs.
    fn shrink_dims(&mut self) {
        let mut sizes: Vec<usize> = self.best.inputs.iter().flat_map(|i| i.shape.clone()).filter(|&d| d > 1).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.dedup();
        for size in sizes {
            for smaller in [1, 2, 3, size / 2] {
                if smaller < size && self.try_candidate(substitute_size(&self.best, size, smaller)) {
                    break;
                }
            }
        }
        for input in 0..self.best.inputs.len() {
            for dim in 0..self.best.inputs[input].shape.len() {
                let size = self.best.inputs[input].shape[dim];
                for smaller in [1, 2] {
                    if smaller < size {
                        let mut candidate = self.best.clone();
                        candidate.inputs[input].shape[dim] = smaller;
                        if self.try_candidate(candidate) {
                            break;
                        }
                    }
                }
            }
        }
    }

    fn simplify_inputs(&mut self) {
        for i in 0..self.best.inputs.len() {
            let plain_fill = Fill { lo: -2.0, hi: 2.0, quantum: 0.0, specials: 0.0 };
            let edits: [&dyn Fn(&mut Program); 5] = [
                &|p| p.inputs[i].layout = Layout::Contiguous,
                &|p| p.inputs[i].fill.specials = 0.0,
                &|p| p.inputs[i].requires_grad = false,
                &|p| p.inputs[i].dtype = DType::F32,
                &|p| p.inputs[i].fill = plain_fill.clone(),
            ];
            for edit in edits {
                let mut candidate = self.best.clone();
                edit(&mut candidate);
                self.try_candidate(candidate);
            }
        }
    }
}

/// `program` with every use of `from` (arguments and outputs) reading `to` instead.
fn reroute(program: &Program, from: ValueId, to: ValueId) -> Program {
    let mut out = program.clone();
    let swap = |v: &mut ValueId| {
        if *v == from {
            *v = to;
        }
    };
    out.steps.iter_mut().for_each(|s| s.args.iter_mut().for_each(swap));
    out.outputs.iter_mut().for_each(swap);
    out
}

/// `program` with dims of size `from` made `to`, in the inputs and in the sizes that
/// expands, slices, narrows and splits name.
fn substitute_size(program: &Program, from: usize, to: usize) -> Program {
    let mut out = program.clone();
    let swap = |d: &mut usize| {
        if *d == from {
            *d = to;
        }
    };
    for input in &mut out.inputs {
        input.shape.iter_mut().for_each(swap);
    }
    for step in &mut out.steps {
        match &mut step.op {
            Op::Expand(target) => target.iter_mut().for_each(swap),
            Op::Slice { end, .. } => swap(end),
            Op::Narrow { len, .. } => swap(len),
            Op::Reshape(Reshape::Split { first, .. }) => swap(first),
            _ => {}
        }
    }
    out
}

/// Whether a step or an output reads `value`.
fn is_read(program: &Program, value: ValueId) -> bool {
    program.outputs.contains(&value) || program.steps.iter().any(|s| s.args.contains(&value))
}

/// `program` without `value`, which nothing reads, renumbered.
fn remove_value(program: &Program, value: ValueId) -> Program {
    let mut keep = vec![true; program.inputs.len() + program.steps.len()];
    keep[value.0] = false;
    keep_values(program, &keep)
}

/// `program` without the steps no output depends on and the inputs nothing reads,
/// renumbered.
pub fn prune(program: &Program) -> Program {
    let inputs = program.inputs.len();
    let mut live = vec![false; inputs + program.steps.len()];
    for o in &program.outputs {
        live[o.0] = true;
    }
    for (i, step) in program.steps.iter().enumerate().rev() {
        if live[inputs + i] {
            step.args.iter().for_each(|a| live[a.0] = true);
        }
    }
    keep_values(program, &live)
}

/// `program` with only the values marked in `live` (a live value's arguments must be
/// live), renumbered.
fn keep_values(program: &Program, live: &[bool]) -> Program {
    let inputs = program.inputs.len();
    let mut renumbered = vec![None; live.len()];
    let mut next = 0;
    for (id, &alive) in live.iter().enumerate() {
        if alive {
            renumbered[id] = Some(ValueId(next));
            next += 1;
        }
    }
    let map = |v: &ValueId| renumbered[v.0].expect("a live value's arguments are live");
    Program {
        seed: program.seed,
        inputs: program.inputs.iter().enumerate().filter(|(i, _)| live[*i]).map(|(_, s)| s.clone()).collect(),
        steps: program
            .steps
            .iter()
            .enumerate()
            .filter(|(i, _)| live[inputs + i])
            .map(|(_, s)| Step { op: s.op.clone(), args: s.args.iter().map(map).collect() })
            .collect(),
        outputs: program.outputs.iter().map(map).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::generate::{GenerateOptions, generate};
    use crate::fuzz::program::{Binary, InputSpec, Reduction, Unary};
    use crate::fuzz::runner::FailureKind;
    use crate::fuzz::targets::Fault;

    fn input(shape: &[usize], seed: u64) -> InputSpec {
        InputSpec {
            shape: shape.to_vec(),
            dtype: DType::F32,
            layout: Layout::Contiguous,
            fill: Fill { lo: -2.0, hi: 2.0, quantum: 0.0, specials: 0.0 },
            requires_grad: true,
            seed,
        }
    }

    fn step(op: Op, args: &[usize]) -> Step {
        Step { op, args: args.iter().map(|&a| ValueId(a)).collect() }
    }

    /// `v5 = sum(sin(tanh(v0) + v1), dim 1)` and a dead `exp`, returning `v5` and `v2`.
    fn sin_program() -> Program {
        Program {
            seed: 9,
            inputs: vec![input(&[3, 5], 1), input(&[5], 2)],
            steps: vec![
                step(Op::Unary(Unary::Tanh), &[0]),
                step(Op::Binary(Binary::Add), &[2, 1]),
                step(Op::Unary(Unary::Sin), &[3]),
                step(Op::Reduce { kind: Reduction::Sum, axes: vec![1], keepdim: false }, &[4]),
                step(Op::Unary(Unary::Exp), &[0]),
            ],
            outputs: vec![ValueId(5), ValueId(2)],
        }
    }

    #[test]
    fn prune_drops_dead_steps_and_unread_inputs() {
        let mut program = sin_program();
        program.outputs = vec![ValueId(2)];
        let pruned = prune(&program);
        assert_eq!(pruned.inputs, vec![input(&[3, 5], 1)]);
        assert_eq!(pruned.steps, vec![step(Op::Unary(Unary::Tanh), &[0])]);
        assert_eq!(pruned.outputs, vec![ValueId(1)]);
    }

    #[test]
    fn a_planted_fault_shrinks_to_the_faulty_step() {
        let program = sin_program();
        let target = Target::Faulty(Fault { op: "sin".into(), factor: 1.5 });
        let options = CaseOptions::default();
        let failure = run_case(&program, &target, &options).expect_err("the fault is seen");
        assert_eq!(failure.kind, FailureKind::Mismatch);
        let small = minimize(&program, &failure, &target, &options, 300);
        let ops: Vec<String> = small.program.steps.iter().map(|s| s.op.name()).collect();
        // tanh and add are bypassed, the dead exp and the unread input pruned, the dims
        // shrunk to one element; the sum stays, as nothing else has its shape.
        assert_eq!(ops, ["sin", "sum"], "{:#?}", small.program);
        assert_eq!(small.program.inputs.len(), 1);
        assert_eq!(small.program.inputs[0].shape.iter().product::<usize>(), 1, "{:?}", small.program.inputs);
        assert_eq!(small.failure.kind, FailureKind::Mismatch);
    }

    #[test]
    fn generated_programs_shrink_around_a_planted_fault() {
        let generate_options = GenerateOptions::default();
        let options = CaseOptions::default();
        let target = Target::Faulty(Fault { op: "tanh".into(), factor: 1.01 });
        let mut shrunk = 0;
        for seed in 0..1000 {
            let program = generate(seed, &generate_options);
            let Err(failure) = run_case(&program, &target, &options) else { continue };
            let small = minimize(&program, &failure, &target, &options, 200);
            let ops: Vec<String> = small.program.steps.iter().map(|s| s.op.name()).collect();
            assert!(ops.contains(&"tanh".to_string()), "seed {seed}: the fault was shrunk away: {ops:?}");
            assert!(small.program.steps.len() <= program.steps.len(), "seed {seed}");
            shrunk += (small.program.steps.len() < program.steps.len()) as usize;
            if shrunk == 5 {
                return;
            }
        }
        panic!("only {shrunk} faulty programs shrank");
    }
}
