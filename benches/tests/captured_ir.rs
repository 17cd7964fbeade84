//! The graphs `compile()` captures from the standard workloads, as IR text snapshots: a
//! change in what tracing records (an op more, a cast less) shows up in review.

use ignis::nn::Module;
use ignis::{Tensor, compile, explain, no_grad};
use ignis_bench::workloads::{self, Linear, MLP_BATCH, MLP_HIDDEN, MLP_WIDTH};

/// Tests that draw from the global generator take turns.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The text of the one graph a function's trace captures.
fn captured(report: ignis::compile::Explanation) -> String {
    assert_eq!(report.break_count(), 0, "{report}");
    assert_eq!(report.graph_count(), 1, "{report}");
    report.segments[0].graph.to_string()
}

#[test]
fn w4_mlp_forward_captures_three_matmuls_with_bias_and_gelu() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    ignis::manual_seed(1);
    let layers = [
        Linear::random(MLP_WIDTH, MLP_HIDDEN),
        Linear::random(MLP_HIDDEN, MLP_WIDTH),
        Linear::random(MLP_WIDTH, MLP_WIDTH),
    ];
    let x = Tensor::randn([MLP_BATCH, MLP_WIDTH], ignis::DType::F32);
    let compiled = compile(move |x: Tensor| workloads::mlp_forward(&x, &layers));
    insta::assert_snapshot!(captured(no_grad(|| explain(&compiled, x))));
}

#[test]
fn w6_transformer_block_forward_captures_one_graph() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let (block, x) = workloads::transformer_block();
    let compiled = compile(move |x: Tensor| block.forward(&x));
    insta::assert_snapshot!(captured(no_grad(|| explain(&compiled, x))));
}
