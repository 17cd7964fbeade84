//! `fuzz`: long runs of the differential fuzzer of `compile()` against eager execution.
//!
//! ```sh
//! cargo run --release -p ignis-tests --bin fuzz -- --cases 3000 [--seed S] [--verbose]
//! ```
//! Prints a summary (cases, failures with their minimized programs, coverage) and exits
//! with status 1 when any case failed.

use clap::{Parser, ValueEnum};
use ignis_tests::fuzz::coverage::Coverage;
use ignis_tests::fuzz::infer::infer;
use ignis_tests::fuzz::program::render;
use ignis_tests::fuzz::targets::Target;
use ignis_tests::fuzz::{FuzzOptions, SeedFailure, check_seed};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Differential fuzzing of compile() against eager execution")]
struct Args {
    /// How many programs to generate and check.
    #[arg(long, default_value_t = 1000)]
    cases: u64,
    /// The first seed; cases use seeds `seed..seed + cases`.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print every program and its outcome.
    #[arg(long)]
    verbose: bool,
    /// The most steps a program has.
    #[arg(long, default_value_t = 12)]
    max_steps: usize,
    /// The most elements an input or a step result holds.
    #[arg(long, default_value_t = 2048)]
    max_numel: usize,
    /// Candidate runs the minimizer may spend on each failing seed (0: report unminimized).
    #[arg(long, default_value_t = 300)]
    minimize_attempts: usize,
    /// Worker threads, each running whole cases (default: the available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// What eager is compared with: the compiled function, or one of the stand-ins that
    /// check the tolerances (they must pass; a failure means a tolerance is too tight).
    #[arg(long, value_enum, default_value_t = Against::Compiled)]
    against: Against,
    /// Noise-model runs per eager reference.
    #[arg(long, default_value_t = 3)]
    noise_runs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Against {
    /// `compile_with(f, CompileOptions::default().strict(true))`.
    Compiled,
    /// Eager with every rounding step moved by the noise model (another salt).
    Perturbed,
    /// Eager with its own rounding error doubled (measured against f64).
    Widened,
}

fn main() {
    let args = Args::parse();
    let mut options = FuzzOptions::default();
    options.generate.max_steps = args.max_steps;
    options.generate.limits.max_numel = args.max_numel;
    options.case.limits.max_numel = args.max_numel;
    options.minimize_attempts = args.minimize_attempts;
    options.case.perturbed_runs = args.noise_runs;
    options.target = match args.against {
        Against::Compiled => Target::Compiled,
        Against::Perturbed => Target::Perturbed(0xD1FF),
        Against::Widened => Target::Widened,
    };
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);

    let started = Instant::now();
    let next = AtomicU64::new(args.seed);
    let end = args.seed + args.cases;
    let failures: Mutex<Vec<SeedFailure>> = Mutex::new(Vec::new());
    let coverage = Mutex::new(Coverage::default());
    let gradients = AtomicU64::new(0);
    let print = Mutex::new(());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut local = Coverage::default();
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let (program, outcome) = check_seed(seed, &options);
                    let report = outcome.as_ref().ok().copied();
                    local.record(&program, report, &options.case.limits);
                    if report.is_some_and(|r| r.gradients) {
                        gradients.fetch_add(1, Ordering::Relaxed);
                    }
                    if args.verbose {
                        let _turn = print.lock().unwrap_or_else(|e| e.into_inner());
                        let text = infer(&program, &options.case.limits)
                            .map(|metas| render(&program, &metas))
                            .unwrap_or_else(|e| format!("(invalid: {e})"));
                        let verdict = match (&outcome, report) {
                            (Ok(_), Some(r)) if r.gradients => "passed (values and gradients)".to_string(),
                            (Ok(_), _) => "passed (values)".to_string(),
                            (Err(f), _) => format!("FAILED: {}", f.failure),
                        };
                        println!("seed {seed}: {verdict}\n{}\n", indent(&text));
                    }
                    if let Err(failure) = outcome {
                        let _turn = print.lock().unwrap_or_else(|e| e.into_inner());
                        println!("{}\n", failure.report(&options.case.limits));
                        failures.lock().unwrap_or_else(|e| e.into_inner()).push(*failure);
                    }
                }
                coverage.lock().unwrap_or_else(|e| e.into_inner()).merge(&local);
            });
        }
    });

    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    let coverage = coverage.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut seeds: Vec<u64> = failures.iter().map(|f| f.seed).collect();
    seeds.sort_unstable();
    println!("{coverage}");
    println!(
        "fuzz: {} cases (seeds {}..{end}) in {:.1} s on {threads} threads: {} passed ({} with gradients), {} failed{}",
        args.cases,
        args.seed,
        started.elapsed().as_secs_f64(),
        args.cases - failures.len() as u64,
        gradients.load(Ordering::Relaxed),
        failures.len(),
        if seeds.is_empty() { String::new() } else { format!(": seeds {seeds:?}") },
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
