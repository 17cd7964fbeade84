//! Compute limits: f32 matmul throughput, the figure the compute-bound workloads (W4-W6) are
//! judged against.

use crate::cli::LimitsChoice;

/// One formatted line per measurement, for the table's limits section.
pub fn measure(choice: LimitsChoice) -> Vec<String> {
    match choice {
        LimitsChoice::Bandwidth => Vec::new(),
        LimitsChoice::Quick | LimitsChoice::Full => {
            vec!["f32 matmul         not yet (Tensor::matmul is not in ignis yet)".to_string()]
        }
    }
}
