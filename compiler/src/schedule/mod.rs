//! Fusion and scheduling: a graph becomes a sequence of kernels (`ir::kernel::Kernel`) and
//! nodes that run through the eager kernels, with a memory plan.
//!
//! `schedule` reads like the pipeline: classify every node, fix every value's layout,
//! decide which pointwise values are stored, group nodes into kernels, finish each kernel
//! (loop merging, the parallel grain), fuse kernels that take a matmul's product row by
//! row as its epilogue, then plan buffer reuse.

mod build;
mod classify;
mod epilogue;
mod finish;
mod fuse;
mod layouts;
mod memory;
#[cfg(test)]
mod tests;

pub use classify::{Class, classify};
pub use finish::Finished;

use fuse::Planned;
use ignis_ir::{Graph, NodeId, Value, ValueDef};
use ignis_runtime::Layout;

pub enum ScheduledStep {
    Kernel(Finished),
    Node(NodeId),
    /// An f32 matmul and the kernel that runs on each band of its product's rows.
    MatmulEpilogue {
        matmul: NodeId,
        epilogue: Finished,
    },
}

pub struct Schedule {
    pub steps: Vec<ScheduledStep>,
    /// One line per fusion that was refused or node left to the eager kernels, with why.
    pub log: Vec<String>,
    pub slot_of: Vec<Option<usize>>,
    pub slots: usize,
}

impl Schedule {
    pub fn kernel_count(&self) -> usize {
        self.steps.iter().filter(|s| !matches!(s, ScheduledStep::Node(_))).count()
    }
}

/// Schedules `graph` for inputs with `param_layouts`. An error means the graph should run
/// on the interpreter.
pub fn schedule(graph: &Graph, param_layouts: Vec<Layout>) -> Result<Schedule, String> {
    schedule_for(graph, param_layouts, Machine::Cpu)
}

/// What the kernels will run on, where that changes the schedule.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Machine {
    /// A softmax or normalization that nothing fuses with runs on its hand-written eager
    /// kernel, which is wider than generated code.
    Cpu,
    /// Everything that can be a kernel is one: eager nodes would run on the host.
    Gpu,
}

/// [`schedule`] for `machine`.
pub fn schedule_for(graph: &Graph, param_layouts: Vec<Layout>, machine: Machine) -> Result<Schedule, String> {
    let classes: Vec<Class> = graph.nodes.iter().map(|n| classify::classify(graph, n)).collect();
    let layouts = layouts::layouts(graph, &classes, param_layouts);
    let materialized = fuse::materialized(graph, &classes);
    let mut log = Vec::new();
    let planned = fuse::group(graph, (&classes, &layouts, &materialized), machine, &mut log)?;

    let mut home: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    for (k, p) in planned.iter().enumerate() {
        match p {
            Planned::Kernel(b) => b.members.iter().for_each(|m| home[m.index()] = Some(k)),
            Planned::Node(n) => home[n.index()] = Some(k),
        }
    }
    let users = users(graph);
    let outputs: Vec<bool> = {
        let mut o = vec![false; graph.nodes.len()];
        graph.outputs.iter().filter_map(|v| v.node()).for_each(|n| o[n.index()] = true);
        o
    };
    let is_kernel: Vec<bool> = planned.iter().map(|p| matches!(p, Planned::Kernel(_))).collect();
    let needed_outside = |n: NodeId, k: usize| -> bool {
        if outputs[n.index()] {
            return true;
        }
        let mut stack = users[n.index()].clone();
        while let Some(u) = stack.pop() {
            match home[u] {
                Some(h) if h == k && is_kernel[h] => {}
                Some(_) => return true,
                None => stack.extend(users[u].iter().copied()),
            }
        }
        false
    };
    let mut steps = Vec::new();
    for (k, p) in planned.into_iter().enumerate() {
        steps.push(match p {
            Planned::Node(n) => ScheduledStep::Node(n),
            Planned::Kernel(b) => ScheduledStep::Kernel(finish::finish(*b, graph, |n| needed_outside(n, k))),
        });
    }

    let steps = epilogue::fuse(graph, steps, &mut log);

    let mut defined_at = vec![None; graph.nodes.len()];
    let mut kernel_outputs = vec![false; graph.nodes.len()];
    let mut used_at: Vec<Vec<Value>> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            ScheduledStep::Node(n) => {
                defined_at[n.index()] = Some(i);
                used_at.push(graph.node(*n).inputs.clone());
            }
            ScheduledStep::Kernel(f) => {
                for o in &f.outputs {
                    defined_at[o.index()] = Some(i);
                    kernel_outputs[o.index()] = true;
                }
                used_at.push(f.buffers.clone());
            }
            ScheduledStep::MatmulEpilogue { matmul, epilogue } => {
                defined_at[matmul.index()] = Some(i);
                for o in &epilogue.outputs {
                    defined_at[o.index()] = Some(i);
                    kernel_outputs[o.index()] = true;
                }
                let mut used = graph.node(*matmul).inputs.clone();
                used.extend(epilogue.buffers.iter().copied());
                used_at.push(used);
            }
        }
    }
    let plan = memory::plan(graph, &defined_at, &used_at, &kernel_outputs, &layouts.is_view);
    Ok(Schedule { steps, log, slot_of: plan.slot_of, slots: plan.slots })
}

fn users(graph: &Graph) -> Vec<Vec<usize>> {
    let mut users = vec![Vec::new(); graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        for v in &node.inputs {
            if let ValueDef::Node(p) = v.def() {
                users[p.index()].push(i);
            }
        }
    }
    users
}
