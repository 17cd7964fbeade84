//! A differential fuzzer of `compile()` against eager execution.
//!
//! A seed names a random program (`generate`): one to three inputs of random shapes and
//! layouts, then straight-line steps of random ops (`program` is the vocabulary and its
//! pseudo-code, `infer` the rules a valid program obeys, `execute` the `Tensor` calls).
//! `runner` runs a program eagerly and through its target (`targets`), by default
//! `compile_with(f, CompileOptions::default().strict(true))` with whatever backend is the
//! default: values, then a second call on new values that must replay the cached program,
//! then gradients through a weighted loss. `compare` holds the comparison, whose
//! tolerances come from the precision a value was computed at (`infer`), the magnitudes it
//! was computed from, and a rounding-noise model (`noise`) run beside every eager
//! reference; gradient passes near a point where a gradient jumps compare values only
//! (`kinks`). On a failure `minimize` shrinks the program while it still fails, and the
//! report shows the seed and the smallest program as Rust-like pseudo-code.
//!
//! `tests/fuzz_compiled.rs` runs seeds 0..300 in CI; `src/bin/fuzz.rs` runs many more:
//! `cargo run --release -p ignis-tests --bin fuzz -- --cases 100000 [--seed S] [--verbose]`.
//! Its `--against widened` and `--against perturbed` run the stand-in targets that check
//! the tolerances themselves.
//!
//! The fuzzer draws from its own generator (`rng`), never from the library's global one,
//! so cases need no lock and may run on several threads.

pub mod compare;
pub mod coverage;
pub mod execute;
pub mod generate;
pub mod infer;
pub mod kinks;
pub mod minimize;
pub mod noise;
pub mod program;
pub mod rng;
pub mod runner;
pub mod targets;

use coverage::Coverage;
use generate::{GenerateOptions, generate};
use infer::{Limits, infer};
use minimize::{Minimized, minimize};
use program::{Program, render};
use runner::{CaseOptions, CaseReport, Failure, run_case};
use std::fmt::Write as _;
use targets::Target;

/// Everything a fuzzing run needs besides its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzOptions {
    pub generate: GenerateOptions,
    pub case: CaseOptions,
    pub target: Target,
    /// Candidate cases the minimizer may run per failing seed (0: no minimizing).
    pub minimize_attempts: usize,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        let limits = Limits::default();
        FuzzOptions {
            generate: GenerateOptions { limits, ..GenerateOptions::default() },
            case: CaseOptions { limits, ..CaseOptions::default() },
            target: Target::Compiled,
            minimize_attempts: 300,
        }
    }
}

/// A seed whose program failed, and its minimized form.
#[derive(Clone, Debug)]
pub struct SeedFailure {
    pub seed: u64,
    pub program: Program,
    pub failure: Failure,
    pub minimized: Minimized,
}

impl SeedFailure {
    /// The seed, the first failure, and the minimized program with what it fails on.
    pub fn report(&self, limits: &Limits) -> String {
        let mut text = format!("seed {}: {}\n", self.seed, self.failure);
        let small = &self.minimized.program;
        writeln!(
            text,
            "minimized from {} steps to {} ({} candidate runs); it fails with: {}",
            self.program.steps.len(),
            small.steps.len(),
            self.minimized.attempts,
            self.minimized.failure
        )
        .unwrap();
        match infer(small, limits) {
            Ok(metas) => {
                for line in render(small, &metas).lines() {
                    writeln!(text, "    {line}").unwrap();
                }
            }
            Err(e) => writeln!(text, "    (the program does not check: {e})").unwrap(),
        }
        write!(
            text,
            "rerun: cargo run --release -p ignis-tests --bin fuzz -- --seed {} --cases 1 --verbose",
            self.seed
        )
        .unwrap();
        text
    }
}

/// Generates the program of `seed` and runs its case, minimizing it on a failure.
pub fn check_seed(seed: u64, options: &FuzzOptions) -> (Program, Result<CaseReport, Box<SeedFailure>>) {
    let program = generate(seed, &options.generate);
    let outcome = run_case(&program, &options.target, &options.case).map_err(|failure| {
        let minimized = minimize(&program, &failure, &options.target, &options.case, options.minimize_attempts);
        Box::new(SeedFailure { seed, program: program.clone(), failure, minimized })
    });
    (program, outcome)
}

/// Runs every seed of `seeds`; returns the failures and what the run covered.
pub fn check_seeds(seeds: std::ops::Range<u64>, options: &FuzzOptions) -> (Vec<SeedFailure>, Coverage) {
    let mut failures = Vec::new();
    let mut coverage = Coverage::default();
    for seed in seeds {
        let (program, outcome) = check_seed(seed, options);
        coverage.record(&program, outcome.as_ref().ok().copied(), &options.case.limits);
        if let Err(failure) = outcome {
            failures.push(*failure);
        }
    }
    (failures, coverage)
}
