//! A compiled program on a GPU: the steps of a graph, each a kernel launch, a cuBLAS
//! matmul, a view (a new layout over the same device memory), or a node run on the host
//! (its inputs copied to the CPU, the eager kernel, its result copied back, for the ops GPU
//! code does not cover; the compiler logs which).
//!
//! Values are device storages seen through layouts; a value dies after its last use.

use super::{DeviceKernel, Gemm, GpuDevice, Operand};
use crate::interpret::{Output, concrete_shape, eval, view_op};
use crate::layout::Layout;
use crate::storage::{Storage, View};
use crate::{Device, Result};
use ignis_ir::{DType, Graph, NodeId, Value, ValueDef};
use std::sync::Arc;

/// A kernel of the program and the values behind its buffers.
pub struct GpuLaunch {
    pub kernel: Arc<DeviceKernel>,
    /// The values behind the kernel's buffer parameters, in order (reads and writes).
    pub buffers: Vec<Value>,
    /// The values it writes: fresh contiguous device buffers.
    pub outputs: Vec<(NodeId, DType, Vec<usize>)>,
}

pub enum GpuStep {
    Kernel(GpuLaunch),
    /// An f32 matmul node through cuBLAS, or on the host when its operands' layouts do not
    /// suit cuBLAS (checked when it runs).
    Matmul(NodeId),
    /// A movement op that is a view of its input.
    View(NodeId),
    /// A node the GPU code does not cover, run by the eager kernels on the host.
    Host(NodeId),
}

pub struct GpuProgram {
    graph: Graph,
    steps: Vec<GpuStep>,
    /// Node values that die after each step.
    frees_after: Vec<Vec<usize>>,
    device: Device,
}

impl GpuProgram {
    pub fn new(graph: Graph, steps: Vec<GpuStep>, device: Device) -> GpuProgram {
        let mut last_use = vec![0usize; graph.nodes.len()];
        let mut note = |v: &Value, at: usize| {
            if let ValueDef::Node(id) = v.def() {
                last_use[id.index()] = last_use[id.index()].max(at);
            }
        };
        for (i, step) in steps.iter().enumerate() {
            match step {
                GpuStep::Kernel(k) => k.buffers.iter().for_each(|v| note(v, i)),
                GpuStep::Matmul(n) | GpuStep::View(n) | GpuStep::Host(n) => {
                    graph.node(*n).inputs.iter().for_each(|v| note(v, i))
                }
            }
        }
        let mut outputs = vec![false; graph.nodes.len()];
        graph.outputs.iter().filter_map(|v| v.node()).for_each(|n| outputs[n.index()] = true);
        let mut frees_after = vec![Vec::new(); steps.len()];
        for (value, &at) in last_use.iter().enumerate() {
            if !outputs[value] && !steps.is_empty() {
                frees_after[at.min(steps.len() - 1)].push(value);
            }
        }
        GpuProgram { graph, steps, frees_after, device }
    }

    /// Runs the program on `params` (device storages of this program's device).
    pub fn run(&self, params: &[Output]) -> Result<Vec<Output>> {
        assert_eq!(params.len(), self.graph.params.len(), "run {}: wrong number of inputs", self.graph.name);
        let gpu = GpuDevice::open(self.device)?;
        let mut values: Vec<Option<Output>> = vec![None; self.graph.nodes.len()];
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                GpuStep::Kernel(launch) => self.launch(&gpu, launch, &mut values, params)?,
                GpuStep::Matmul(id) => {
                    let out = match self.matmul(&gpu, *id, &values, params)? {
                        Some(out) => out,
                        None => self.on_host(*id, &values, params)?,
                    };
                    values[id.index()] = Some(out);
                }
                GpuStep::View(id) => {
                    let node = self.graph.node(*id);
                    let shape = concrete_shape(&node.ty);
                    let x = view(&values, params, node.inputs[0]);
                    let out = match view_op(&node.op, x, &shape) {
                        Some(out) => out,
                        None => self.on_host(*id, &values, params)?,
                    };
                    values[id.index()] = Some(out);
                }
                GpuStep::Host(id) => {
                    let out = self.on_host(*id, &values, params)?;
                    values[id.index()] = Some(out);
                }
            }
            for &dead in &self.frees_after[i] {
                values[dead] = None;
            }
        }
        Ok(self
            .graph
            .outputs
            .iter()
            .map(|v| match v.def() {
                ValueDef::Param(p) => params[p].clone(),
                ValueDef::Node(id) => values[id.index()].clone().expect("outputs are kept"),
            })
            .collect())
    }

    fn launch(
        &self,
        gpu: &Arc<GpuDevice>,
        launch: &GpuLaunch,
        values: &mut [Option<Output>],
        params: &[Output],
    ) -> Result<()> {
        for (node, dtype, shape) in &launch.outputs {
            let storage = Storage::uninit_on(self.device, *dtype, shape.iter().product())?;
            values[node.index()] = Some((storage, Layout::contiguous(shape)));
        }
        let addresses: Vec<u64> = launch.buffers.iter().map(|&v| address(view(values, params, v))).collect();
        // SAFETY: the kernel was generated for exactly these buffers' dtypes and layouts
        // (a program is compiled per input layout), and its outputs were just allocated.
        unsafe { gpu.launch(&launch.kernel, &addresses) }
    }

    /// The product through cuBLAS, or `None` when the operands' layouts do not suit it
    /// (batch dims that do not collapse into one stride, vectors).
    fn matmul(
        &self,
        gpu: &Arc<GpuDevice>,
        id: NodeId,
        values: &[Option<Output>],
        params: &[Output],
    ) -> Result<Option<Output>> {
        let node = self.graph.node(id);
        let shape = concrete_shape(&node.ty);
        let a = view(values, params, node.inputs[0]);
        let b = view(values, params, node.inputs[1]);
        let Some(plan) = gemm_plan(a.layout, b.layout) else { return Ok(None) };
        let out = Storage::uninit_on(self.device, DType::F32, shape.iter().product())?;
        let gemm = Gemm {
            a: Operand { address: address(a), ..plan.a },
            b: Operand { address: address(b), ..plan.b },
            c: out.gpu_memory().expect("device storage").address(),
            ..plan
        };
        // SAFETY: the operands' layouts lie in their storages (Layout invariant) and were
        // described by `gemm_plan`; the output holds `batch * m * n` elements.
        unsafe { gpu.gemm_f32(&gemm) }?;
        Ok(Some((out, Layout::contiguous(&shape))))
    }

    /// Runs node `id` with the eager kernels: inputs copied to the CPU, the result back.
    fn on_host(&self, id: NodeId, values: &[Option<Output>], params: &[Output]) -> Result<Output> {
        let node = self.graph.node(id);
        let inputs: Vec<Output> = node
            .inputs
            .iter()
            .map(|&v| {
                let x = view(values, params, v);
                Ok((x.storage.to_device(Device::Cpu)?, x.layout.clone()))
            })
            .collect::<Result<_>>()?;
        let views: Vec<View> = inputs.iter().map(|(s, l)| View::new(s, l)).collect();
        let (storage, layout) = eval(&node.op, node.result, &views, node.ty.dtype, &concrete_shape(&node.ty));
        Ok((storage.to_device(self.device)?, layout))
    }
}

/// The device address of a view's first element.
fn address(view: View) -> u64 {
    let memory = view.storage.gpu_memory().expect("GPU programs run on device storage");
    memory.address() + (view.layout.offset * view.dtype().size()) as u64
}

fn view<'a>(values: &'a [Option<Output>], params: &'a [Output], v: Value) -> View<'a> {
    let (s, l) = match v.def() {
        ValueDef::Param(p) => &params[p],
        ValueDef::Node(id) => values[id.index()].as_ref().expect("a value is used after its last use"),
    };
    View::new(s, l)
}

/// One operand of an f32 matmul as cuBLAS reads it: each matrix of the batch row-major or
/// column-major, matrices one stride apart (the batch dims collapse into one). Returns the
/// operand (its address still 0), the batch size, rows and columns.
fn operand(layout: &Layout) -> Option<(Operand, usize, usize, usize)> {
    let (shape, strides) = (&layout.shape, &layout.strides);
    let rank = shape.len();
    if rank < 2 {
        return None;
    }
    let (rows, cols) = (shape[rank - 2], shape[rank - 1]);
    let (row_stride, col_stride) = (strides[rank - 2] as usize, strides[rank - 1] as usize);
    let (column_major, leading) = if col_stride == 1 || cols == 1 {
        (false, row_stride.max(cols))
    } else if row_stride == 1 || rows == 1 {
        (true, col_stride.max(rows))
    } else {
        return None;
    };
    let batch: usize = shape[..rank - 2].iter().product();
    let mut batch_stride = 0usize;
    let mut next: Option<usize> = None;
    for d in (0..rank - 2).rev().filter(|&d| shape[d] != 1) {
        let stride = strides[d] as usize;
        match next {
            None => batch_stride = stride,
            Some(expected) if expected == stride => {}
            Some(_) => return None,
        }
        next = Some(stride * shape[d]);
    }
    Some((Operand { address: 0, leading, column_major, batch_stride }, batch, rows, cols))
}

/// The f32 matmul of operands with these layouts as one strided-batched gemm (addresses
/// still 0), if the layouts allow it: each batch of matrices at one stride, and the same
/// batch on both sides or one matrix against a batch.
pub fn gemm_plan(a: &Layout, b: &Layout) -> Option<Gemm> {
    let (a_op, a_batch, m, k) = operand(a)?;
    let (b_op, b_batch, k2, n) = operand(b)?;
    let batch = a_batch.max(b_batch);
    if k != k2 || (a_batch != batch && a_batch != 1) || (b_batch != batch && b_batch != 1) {
        return None;
    }
    let single = |o: Operand, size: usize| if size == 1 { Operand { batch_stride: 0, ..o } } else { o };
    Some(Gemm { m, n, k, batch, a: single(a_op, a_batch), b: single(b_op, b_batch), c: 0 })
}
