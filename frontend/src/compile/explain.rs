//! `explain()`: what a compiled function's trace looks like — its segments, their op
//! counts, and every graph break with its reason, place and a hint.

use super::args::{Args, Outputs};
use super::function::Compiled;
use super::segment::{BreakRecord, SegmentRecord};
use std::fmt;

/// The report `explain` returns (and prints).
#[derive(Clone, Debug)]
pub struct Explanation {
    pub segments: Vec<SegmentRecord>,
    pub breaks: Vec<BreakRecord>,
    /// Whether later calls can run the program without running the function; if not, why.
    pub replayable: Result<(), String>,
}

impl Explanation {
    pub fn graph_count(&self) -> usize {
        self.segments.len()
    }

    pub fn break_count(&self) -> usize {
        self.breaks.len()
    }

    pub fn op_count(&self) -> usize {
        self.segments.iter().map(|s| s.ops).sum()
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(
            f,
            "{} segment(s), {} op(s), {} graph break(s)",
            self.segments.len(),
            self.op_count(),
            self.breaks.len()
        )?;
        for s in &self.segments {
            writeln!(f, "  segment {}: {} op(s)", s.index, s.ops)?;
        }
        for (i, b) in self.breaks.iter().enumerate() {
            writeln!(
                f,
                "  break {}: after segment {}: {} at {}\n    hint: {}",
                i + 1,
                b.after_segment,
                match b.reason {
                    super::trace::BreakReason::HostRead(what) => format!("{} ({what})", b.reason.kind()),
                    _ => b.reason.kind().to_string(),
                },
                b.location.as_deref().unwrap_or("unknown location"),
                b.reason.hint()
            )?;
        }
        match &self.replayable {
            Ok(()) => writeln!(f, "  later calls with matching guards replay the program without running the function"),
            Err(why) => writeln!(f, "  later calls run the function in trace mode again: {why}"),
        }
    }
}

/// Traces `compiled` once on `args` and reports its segments and graph breaks; prints the
/// report to stderr as well. The function's cache is not touched.
pub fn explain<A, O, F>(compiled: &Compiled<A, O, F>, args: A) -> Explanation
where
    A: Args,
    O: Outputs,
    F: Fn(A) -> O + Send + Sync,
{
    let (_, outcome) = compiled.trace_for_explain(args);
    let explanation = Explanation {
        segments: outcome.segments,
        breaks: outcome.breaks,
        replayable: match outcome.not_replayable {
            None => Ok(()),
            Some(why) => Err(why),
        },
    };
    eprint!("{explanation}");
    explanation
}
