//! ignis-tests: integration, property and differential tests; the tests live in `tests/`.
//! The library holds `fuzz`, a differential fuzzer of `compile()` against eager execution
//! that `tests/fuzz_compiled.rs` runs in CI and `src/bin/fuzz.rs` runs at length.

pub mod fuzz;
