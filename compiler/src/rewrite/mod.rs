//! The e-graph rewrite pass: algebraic identities, cancelled movement ops, constant folding
//! and fusion-friendly canonical forms, applied by equality saturation with `egg` and
//! extracted by a cost model of bytes moved and flops.
//!
//! `rewrite` loads a graph into an e-graph (`convert`), runs the rules (`rules`) under a
//! budget of e-nodes, iterations and time, picks the cheapest node of each class (`cost`, `extract`)
//! and rebuilds a graph with re-inferred types, which it verifies. The result has the input's
//! name, parameters and output types and computes the same function: every rule is exact in
//! IEEE arithmetic up to the sign of a zero, and constant folding is exact per dtype
//! (`fold`). Ops the language does not model pass through as opaque nodes. On any failure
//! the pass returns an error and the caller keeps its graph. This module knows nothing of
//! kernels, devices or the frontend.

mod analysis;
mod attribute;
mod convert;
mod cost;
mod extract;
mod fold;
mod language;
mod rules;

#[cfg(test)]
mod tests;

use egg::{Id, Runner, StopReason};
use ignis_ir::{Graph, VerifyError, verify};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// How much search the pass may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RewriteBudget {
    /// E-nodes the e-graph may grow to.
    pub nodes: usize,
    /// Rounds of applying every rule.
    pub iterations: usize,
    pub time_ms: u64,
}

impl Default for RewriteBudget {
    /// Enough for a transformer training step within the compile-time budget.
    fn default() -> Self {
        RewriteBudget { nodes: 20_000, iterations: 12, time_ms: 200 }
    }
}

/// What the pass did.
#[derive(Clone, Debug)]
pub struct RewriteReport {
    /// Why the search stopped: `saturated`, `iteration limit`, `node limit` or `time limit`.
    pub stop_reason: String,
    pub iterations: usize,
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    /// The cost model's measure of the input graph and of the result (equal when the pass
    /// found nothing cheaper and returned the input).
    pub cost_before: f64,
    pub cost_after: f64,
    /// How many times each rule changed the e-graph, by rule name.
    pub rules_applied: Vec<(String, usize)>,
}

/// Why the pass gave up; the caller keeps the unrewritten graph.
#[derive(Clone, Debug, PartialEq)]
pub enum RewriteError {
    /// The input graph does not verify.
    InvalidInput(Vec<VerifyError>),
    /// The analysis found a node that does not type or two values of different types made
    /// equal: a faulty rule.
    Analysis(Vec<String>),
    /// The chosen nodes do not make a graph.
    Rebuild(String),
    /// The rebuilt graph does not verify.
    InvalidOutput(Vec<VerifyError>),
    /// The rebuilt graph's outputs differ in number or type from the input's.
    SignatureChanged(String),
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let lines = |errors: &[VerifyError]| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        match self {
            RewriteError::InvalidInput(errors) => write!(f, "rewrite: the input graph is invalid: {}", lines(errors)),
            RewriteError::Analysis(problems) => write!(f, "rewrite: {}", problems.join("; ")),
            RewriteError::Rebuild(message) => write!(f, "rewrite: cannot rebuild the graph: {message}"),
            RewriteError::InvalidOutput(errors) => {
                write!(f, "rewrite: the rewritten graph is invalid: {}", lines(errors))
            }
            RewriteError::SignatureChanged(message) => write!(f, "rewrite: the signature changed: {message}"),
        }
    }
}

impl std::error::Error for RewriteError {}

/// Rewrites `graph` within `budget`; see the module documentation for what it guarantees.
pub fn rewrite(graph: &Graph, budget: RewriteBudget) -> Result<(Graph, RewriteReport), RewriteError> {
    verify(graph).map_err(RewriteError::InvalidInput)?;
    let cost_before = cost::graph_cost(graph);
    let convert::Loaded { egraph, roots, node_classes } = convert::to_egraph(graph)?;
    let mut runner: Runner<language::TensorLang, analysis::TensorAnalysis> =
        Runner::new(analysis::TensorAnalysis::default())
            .with_egraph(egraph)
            .with_node_limit(budget.nodes)
            .with_iter_limit(budget.iterations)
            .with_time_limit(Duration::from_millis(budget.time_ms))
            .run(rules::all());
    let stop_reason = describe(runner.stop_reason.as_ref());
    tracing::debug!(
        target: "ignis::opt",
        graph = %graph.name,
        stop_reason = %stop_reason,
        iterations = runner.iterations.len(),
        egraph_nodes = runner.egraph.total_number_of_nodes(),
        "e-graph rewrite stopped: {stop_reason}"
    );
    let problems = std::mem::take(&mut runner.egraph.analysis.problems);
    if !problems.is_empty() {
        return Err(RewriteError::Analysis(problems));
    }

    let egraph = &runner.egraph;
    let mut positions: HashMap<Id, usize> = HashMap::with_capacity(node_classes.len());
    for (index, class) in node_classes.iter().enumerate() {
        positions.entry(egraph.find(*class)).or_insert(index);
    }
    let extraction = extract::Extraction::new(egraph);
    let mut rewritten = convert::to_graph(
        graph,
        egraph,
        &roots,
        |class| extraction.node(egraph, class),
        |class| positions.get(&egraph.find(class)).copied(),
    )?;
    convert::keep_outputs_distinct(graph, &mut rewritten);
    verify(&rewritten).map_err(RewriteError::InvalidOutput)?;
    check_signature(graph, &rewritten)?;

    // The extraction sums costs over trees; a graph shares values, so measure it as one and
    // never return something the model says is worse.
    let mut cost_after = cost::graph_cost(&rewritten);
    if cost_after > cost_before {
        tracing::debug!(target: "ignis::opt", cost_before, cost_after, "e-graph rewrite kept the input: no cheaper");
        rewritten = graph.clone();
        cost_after = cost_before;
    }
    let report = RewriteReport {
        stop_reason,
        iterations: runner.iterations.len(),
        egraph_nodes: runner.egraph.total_number_of_nodes(),
        egraph_classes: runner.egraph.number_of_classes(),
        cost_before,
        cost_after,
        rules_applied: rules_applied(&runner),
    };
    Ok((rewritten, report))
}

fn describe(reason: Option<&StopReason>) -> String {
    match reason {
        Some(StopReason::Saturated) => "saturated".into(),
        Some(StopReason::IterationLimit(_)) => "iteration limit".into(),
        Some(StopReason::NodeLimit(_)) => "node limit".into(),
        Some(StopReason::TimeLimit(_)) => "time limit".into(),
        Some(StopReason::Other(why)) => format!("other: {why}"),
        None => "not run".into(),
    }
}

/// Applications per rule over all iterations, by name.
fn rules_applied(runner: &Runner<language::TensorLang, analysis::TensorAnalysis>) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for iteration in &runner.iterations {
        for (name, count) in &iteration.applied {
            *counts.entry(name.to_string()).or_default() += count;
        }
    }
    counts.into_iter().collect()
}

fn check_signature(input: &Graph, output: &Graph) -> Result<(), RewriteError> {
    if output.name != input.name || output.params != input.params {
        return Err(RewriteError::SignatureChanged("the name or the parameters differ".into()));
    }
    if input.output_types() != output.output_types() {
        let show = |g: &Graph| format!("{:?}", g.output_types());
        return Err(RewriteError::SignatureChanged(format!("outputs {} became {}", show(input), show(output))));
    }
    Ok(())
}
