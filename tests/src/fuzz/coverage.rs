//! What a fuzzing run exercised: ops by name, and features of inputs and programs (ranks,
//! layouts, dtypes, size-0 dims, NaN and infinities, gradients), as counts.

use super::infer::{Limits, Precision, infer};
use super::program::{Layout, Program};
use super::runner::CaseReport;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Steps per op name.
    pub ops: BTreeMap<String, usize>,
    /// Cases (or inputs, or values, as the name says) per feature.
    pub features: BTreeMap<String, usize>,
}

impl Coverage {
    fn count(&mut self, feature: String) {
        *self.features.entry(feature).or_default() += 1;
    }

    /// Counts what `program` exercised; `report` is `Some` for a case that passed.
    pub fn record(&mut self, program: &Program, report: Option<CaseReport>, limits: &Limits) {
        for step in &program.steps {
            *self.ops.entry(step.op.name()).or_default() += 1;
        }
        for input in &program.inputs {
            self.count(format!("input rank {}", input.shape.len()));
            self.count(format!("input layout {}", input.layout.kind()));
            self.count(format!("input dtype {}", input.dtype.name()));
            if input.shape.contains(&0) {
                self.count("input with a size-0 dim".into());
            }
            if input.fill.quantum > 0.0 {
                self.count("input with ties (few distinct values)".into());
            }
            if matches!(input.layout, Layout::Expanded(_)) && input.requires_grad {
                self.count("expanded input that requires grad".into());
            }
        }
        if program.inputs.iter().any(|i| i.fill.specials > 0.0) {
            self.count("case with NaN/inf inputs".into());
        }
        self.count(format!("case with {} inputs", program.inputs.len()));
        self.count(format!("case with {} outputs", program.outputs.len()));
        if let Ok(metas) = infer(program, limits) {
            let first_step = program.inputs.len();
            for meta in &metas[first_step..] {
                self.count(format!("step result rank {}", meta.rank()));
                if meta.shape.contains(&0) {
                    self.count("step result with a size-0 dim".into());
                }
                if meta.dtype.is_half() {
                    self.count(format!("step result in {}", meta.dtype.name()));
                }
            }
            if program.outputs.iter().any(|o| metas[o.0].precision == Precision::Exact) {
                self.count("case with an exact output (compared bit for bit)".into());
            }
        }
        match report {
            Some(r) if r.gradients => self.count("case with gradients compared".into()),
            Some(_) => self.count("case with values only".into()),
            None => {}
        }
        if report.is_some_and(|r| r.near_kink) {
            self.count("case with a call near a gradient kink (its gradients not compared)".into());
        }
    }

    /// Adds another run's counts (for runs split over threads).
    pub fn merge(&mut self, other: &Coverage) {
        for (k, v) in &other.ops {
            *self.ops.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.features {
            *self.features.entry(k.clone()).or_default() += v;
        }
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut text = String::from("ops (steps):\n");
        let ops: Vec<String> = self.ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        for line in ops.chunks(6) {
            writeln!(text, "  {}", line.join(", ")).unwrap();
        }
        text.push_str("features:\n");
        for (k, v) in &self.features {
            writeln!(text, "  {k}: {v}").unwrap();
        }
        f.write_str(text.trim_end())
    }
}
