//! Backends that run a captured segment. The interpreter runs the graph node by node through
//! the eager kernels; it is the reference every later backend is compared with.

use ignis_ir::Graph;
use ignis_runtime::executor::Interpreter;
use ignis_runtime::{Layout, Storage};

/// Which backend runs compiled segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Every node through the eager kernels (as torch.compile's "aot_eager").
    #[default]
    Interpreter,
}

/// A compiled segment: the graph it was built from and the code that runs it.
pub(crate) struct SegmentProgram {
    interpreter: Interpreter,
}

impl SegmentProgram {
    pub(crate) fn compile(graph: Graph, backend: Backend) -> SegmentProgram {
        match backend {
            Backend::Interpreter => SegmentProgram { interpreter: Interpreter::new(graph) },
        }
    }

    /// A program with no inputs and no outputs.
    pub(crate) fn empty() -> SegmentProgram {
        SegmentProgram { interpreter: Interpreter::new(Graph::new("empty")) }
    }

    pub(crate) fn graph(&self) -> &Graph {
        self.interpreter.graph()
    }

    pub(crate) fn run(&self, params: &[(Storage, Layout)]) -> Vec<(Storage, Layout)> {
        self.interpreter.run(params)
    }

    /// Runs with every node's result handed to `inspect`, which may replace it.
    pub(crate) fn run_inspected(
        &self,
        params: &[(Storage, Layout)],
        inspect: impl FnMut(ignis_ir::NodeId, &mut (Storage, Layout)),
    ) -> Vec<(Storage, Layout)> {
        self.interpreter.run_inspected(params, inspect)
    }
}
