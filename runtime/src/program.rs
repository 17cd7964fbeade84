//! A compiled program: generated kernels and eager-kernel nodes in one schedule.
//!
//! Each step either launches a native kernel over its outer points (split across the
//! thread pool when the work is large enough), runs one graph node through
//! [`interpret::eval`](crate::interpret::eval), as the interpreter does, or runs an f32
//! matmul whose epilogue kernel takes each band of product rows while it is in cache. Values die after
//! their last use; the storage of a kernel output that dies goes back to its memory-plan
//! slot, where a later kernel output of the same size reuses it within the same run.

use crate::cpu;
use crate::interpret::{Output, concrete_shape, eval};
use crate::layout::Layout;
use crate::parallel::{SendPtr, parallel_for};
use crate::storage::{Storage, View};
use ignis_ir::{DType, Graph, NodeId, Value, ValueDef};
use std::any::Any;
use std::sync::Arc;

/// A native kernel: `entry(buffers, sizes, begin, end, support)` runs outer points
/// `[begin, end)`; `sizes` is the kernel's size table, `support` the code generator's table
/// of routines the code calls.
pub type KernelEntry = unsafe extern "C" fn(*const *mut u8, *const i64, i64, i64, *const u8);

/// The table of routines generated code calls (static, immutable data of the code generator).
#[derive(Clone, Copy, Debug)]
pub struct SupportTable(pub *const u8);

// SAFETY: the table is static and never written.
unsafe impl Send for SupportTable {}
unsafe impl Sync for SupportTable {}

/// A kernel ready to launch, and what keeps its code alive.
pub struct NativeKernel {
    pub name: String,
    pub entry: KernelEntry,
    /// The extents, strides and offsets the code reads at run time.
    pub sizes: Vec<i64>,
    pub support: SupportTable,
    pub outer_points: usize,
    /// Outer points per parallel task; at least `outer_points` runs inline.
    pub grain: usize,
    pub code: Arc<dyn Any + Send + Sync>,
}

/// A value a kernel writes: a fresh contiguous buffer, from a memory-plan slot if it has one.
#[derive(Clone, Debug)]
pub struct KernelOutput {
    pub node: NodeId,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub slot: Option<usize>,
}

pub struct KernelLaunch {
    pub kernel: Arc<NativeKernel>,
    /// The values behind the kernel's buffer parameters, in order (reads and writes).
    pub buffers: Vec<Value>,
    pub outputs: Vec<KernelOutput>,
}

pub enum Step {
    Kernel(KernelLaunch),
    /// One node through the eager kernels.
    Node(NodeId),
    /// An f32 matmul node whose product feeds the kernel row by row: the kernel runs on each
    /// band of rows as soon as `gemm` has computed it (its outer points split the product's
    /// rows evenly, in order).
    MatmulEpilogue {
        matmul: NodeId,
        epilogue: KernelLaunch,
    },
}

pub struct Program {
    graph: Graph,
    steps: Vec<Step>,
    /// Node values that die after each step.
    frees_after: Vec<Vec<usize>>,
    /// Per node value, the memory-plan slot its storage returns to when it dies.
    slot_of: Vec<Option<usize>>,
    slots: usize,
}

impl Program {
    pub fn new(graph: Graph, steps: Vec<Step>, slot_of: Vec<Option<usize>>, slots: usize) -> Program {
        let mut step_of = vec![usize::MAX; graph.nodes.len()];
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Node(n) => step_of[n.index()] = i,
                Step::Kernel(k) => k.outputs.iter().for_each(|o| step_of[o.node.index()] = i),
                Step::MatmulEpilogue { matmul, epilogue } => {
                    step_of[matmul.index()] = i;
                    epilogue.outputs.iter().for_each(|o| step_of[o.node.index()] = i);
                }
            }
        }
        let mut last_use = vec![None; graph.nodes.len()];
        let mut note = |v: &Value, at: usize| {
            if let ValueDef::Node(id) = v.def() {
                let slot = &mut last_use[id.index()];
                *slot = Some(slot.map_or(at, |s: usize| s.max(at)));
            }
        };
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Node(n) => graph.node(*n).inputs.iter().for_each(|v| note(v, i)),
                Step::Kernel(k) => k.buffers.iter().for_each(|v| note(v, i)),
                Step::MatmulEpilogue { matmul, epilogue } => {
                    graph.node(*matmul).inputs.iter().for_each(|v| note(v, i));
                    epilogue.buffers.iter().for_each(|v| note(v, i));
                }
            }
        }
        let outputs: Vec<bool> = {
            let mut o = vec![false; graph.nodes.len()];
            graph.outputs.iter().filter_map(|v| v.node()).for_each(|n| o[n.index()] = true);
            o
        };
        let mut frees_after = vec![Vec::new(); steps.len()];
        for (value, last) in last_use.iter().enumerate() {
            if let Some(at) = last
                && !outputs[value]
                && step_of[value] != usize::MAX
            {
                frees_after[(*at).max(step_of[value])].push(value);
            }
        }
        Program { graph, steps, frees_after, slot_of, slots }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn run(&self, params: &[Output]) -> Vec<Output> {
        assert_eq!(params.len(), self.graph.params.len(), "run {}: wrong number of inputs", self.graph.name);
        let mut values: Vec<Option<Output>> = vec![None; self.graph.nodes.len()];
        let mut slots: Vec<Option<Storage>> = vec![None; self.slots];
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Node(id) => {
                    let node = self.graph.node(*id);
                    let out = {
                        let views: Vec<View> = node.inputs.iter().map(|&v| view(&values, params, v)).collect();
                        eval(&node.op, node.result, &views, node.ty.dtype, &concrete_shape(&node.ty))
                    };
                    values[id.index()] = Some(out);
                }
                Step::Kernel(launch) => self.launch(launch, &mut values, params, &mut slots),
                Step::MatmulEpilogue { matmul, epilogue } => {
                    self.matmul_epilogue(*matmul, epilogue, &mut values, params, &mut slots)
                }
            }
            for &dead in &self.frees_after[i] {
                if let Some((storage, _)) = values[dead].take()
                    && let Some(slot) = self.slot_of[dead]
                    && storage.is_unique()
                {
                    slots[slot] = Some(storage);
                }
            }
        }
        self.graph
            .outputs
            .iter()
            .map(|v| match v.def() {
                ValueDef::Param(p) => params[p].clone(),
                ValueDef::Node(id) => values[id.index()].clone().expect("outputs are kept"),
            })
            .collect()
    }

    fn launch(
        &self,
        launch: &KernelLaunch,
        values: &mut [Option<Output>],
        params: &[Output],
        slots: &mut [Option<Storage>],
    ) {
        let table = Self::prepare(launch, values, params, slots);
        let kernel = &launch.kernel;
        let table = SendPtr(table.as_ptr() as *mut *mut u8);
        parallel_for(kernel.outer_points, kernel.grain, |begin, end| {
            // SAFETY: the kernel was generated for exactly these buffers' dtypes and layouts
            // (the program is compiled per input layout) and tasks write disjoint outer points.
            unsafe {
                (kernel.entry)(
                    table.get() as *const *mut u8,
                    kernel.sizes.as_ptr(),
                    begin as i64,
                    end as i64,
                    kernel.support.0,
                )
            };
        });
    }

    fn matmul_epilogue(
        &self,
        matmul: NodeId,
        epilogue: &KernelLaunch,
        values: &mut [Option<Output>],
        params: &[Output],
        slots: &mut [Option<Storage>],
    ) {
        let node = self.graph.node(matmul);
        let shape = concrete_shape(&node.ty);
        let product = Storage::uninit(node.ty.dtype, shape.iter().product());
        values[matmul.index()] = Some((product.clone(), Layout::contiguous(&shape)));
        let table = Self::prepare(epilogue, values, params, slots);
        let kernel = &epilogue.kernel;
        let rows = shape.iter().rev().skip(1).product::<usize>();
        assert!(
            rows > 0 && kernel.outer_points.is_multiple_of(rows),
            "kernel {}: {} outer points do not split into {rows} product rows",
            kernel.name,
            kernel.outer_points
        );
        let per_row = kernel.outer_points / rows;
        let table = SendPtr(table.as_ptr() as *mut *mut u8);
        let a = view(values, params, node.inputs[0]);
        let b = view(values, params, node.inputs[1]);
        cpu::matmul::matmul_f32_into(a, b, &product, &|first, end| {
            // SAFETY: as in `launch`; the rows reported are final and each comes once.
            let (begin, end) = ((first * per_row) as i64, (end * per_row) as i64);
            unsafe {
                (kernel.entry)(table.get() as *const *mut u8, kernel.sizes.as_ptr(), begin, end, kernel.support.0)
            };
        });
    }

    /// Allocates the kernel's outputs (from their memory-plan slots where they fit) and
    /// returns its buffer table.
    fn prepare(
        launch: &KernelLaunch,
        values: &mut [Option<Output>],
        params: &[Output],
        slots: &mut [Option<Storage>],
    ) -> Vec<*mut u8> {
        for out in &launch.outputs {
            let numel: usize = out.shape.iter().product();
            let storage = match out.slot.and_then(|s| slots[s].take()) {
                Some(s) if s.dtype() == out.dtype && s.len() == numel => s,
                _ => Storage::uninit(out.dtype, numel),
            };
            values[out.node.index()] = Some((storage, Layout::contiguous(&out.shape)));
        }
        launch
            .buffers
            .iter()
            .map(|&v| {
                let view = view(values, params, v);
                let size = view.dtype().size();
                // SAFETY: the layout's offset lies inside the storage (Layout invariant).
                unsafe { (view.storage.as_raw_ptr()).add(view.layout.offset * size) }
            })
            .collect()
    }
}

fn view<'a>(values: &'a [Option<Output>], params: &'a [Output], v: Value) -> View<'a> {
    let (s, l) = match v.def() {
        ValueDef::Param(p) => &params[p],
        ValueDef::Node(id) => values[id.index()].as_ref().expect("a value is used after its last use"),
    };
    View::new(s, l)
}
