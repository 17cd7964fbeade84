//! The differential fuzzer in CI: the random programs of seeds 0..300 run eagerly and
//! through `compile_with(f, CompileOptions::default().strict(true))`, comparing values, a
//! replayed second call and gradients (see `ignis_tests::fuzz`). Three tests of 100 seeds
//! each, so that the harness runs them in parallel. A failure names its seeds and shows
//! each minimized program; `cargo run --release -p ignis-tests --bin fuzz -- --seed S
//! --cases 1 --verbose` reruns one seed.

use ignis_tests::fuzz::targets::Target;
use ignis_tests::fuzz::{FuzzOptions, check_seeds};
use std::ops::Range;

fn fuzz(seeds: Range<u64>, options: &FuzzOptions) {
    let failures = check_seeds(seeds.clone(), options).0;
    let failed: Vec<u64> = failures.iter().map(|f| f.seed).collect();
    let reports: Vec<String> = failures.iter().map(|f| f.report(&options.case.limits)).collect();
    assert!(failed.is_empty(), "seeds {failed:?} of {seeds:?} failed:\n\n{}", reports.join("\n\n"));
}

#[test]
fn compiled_matches_eager_on_seeds_0_to_100() {
    fuzz(0..100, &FuzzOptions::default());
}

#[test]
fn compiled_matches_eager_on_seeds_100_to_200() {
    fuzz(100..200, &FuzzOptions::default());
}

#[test]
fn compiled_matches_eager_on_seeds_200_to_300() {
    fuzz(200..300, &FuzzOptions::default());
}

/// The tolerances admit a backend twice as far from the exact result as eager is (eager's
/// error, measured against the program computed in f64, doubled): they are not so tight
/// that a correct native backend would fail. (`--against perturbed` on the CLI checks them
/// against the noise model itself.)
#[test]
fn tolerances_admit_twice_eagers_own_error() {
    let options = FuzzOptions { target: Target::Widened, minimize_attempts: 0, ..FuzzOptions::default() };
    fuzz(0..300, &options);
}
