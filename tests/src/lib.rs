//! ignis-tests: integration, property and differential tests; the tests live in `tests/`.
