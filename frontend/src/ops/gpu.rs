//! Eager ops on GPU tensors (feature `gpu`): each op is a one-node graph compiled by the
//! GPU compiler into a program (a generated kernel, a cuBLAS matmul, a view, or a node run
//! on the host), cached by the op and its inputs' dtypes and layouts, and run on the
//! inputs' device. Inputs on the CPU are copied to that device first (PyTorch allows that
//! for 0-dim tensors only; here it serves scalars and tensors made on the host alike).

use ignis_compiler::gpu_program;
use ignis_ir::{DType, Graph, GraphBuilder, Op, ValueType};
use ignis_runtime::gpu::GpuDevice;
use ignis_runtime::gpu::program::GpuProgram;
use ignis_runtime::interpret::Output;
use ignis_runtime::{Device, Layout, View};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

type Key = (String, Device, Vec<(DType, Vec<usize>, Vec<isize>)>);

fn programs() -> &'static Mutex<HashMap<Key, Arc<GpuProgram>>> {
    static PROGRAMS: OnceLock<Mutex<HashMap<Key, Arc<GpuProgram>>>> = OnceLock::new();
    PROGRAMS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The device of an op's inputs: the GPU one if any is on a GPU. Panics when inputs are on
/// two different GPUs.
pub(crate) fn device_of(op: &Op, views: &[View]) -> Device {
    let mut device = Device::Cpu;
    for v in views {
        let d = v.storage.device();
        if d != Device::Cpu {
            assert!(
                device == Device::Cpu || device == d,
                "{}: expected every tensor on one device, found {device} and {d}",
                op.name()
            );
            device = d;
        }
    }
    device
}

/// Runs `op` (result 0, of type `dtype` and `shape`) on `device`.
pub(crate) fn run(op: &Op, views: &[View], dtype: DType, shape: &[usize], device: Device) -> Output {
    let moved: Vec<Output> = views
        .iter()
        .map(|v| {
            if v.storage.device() == device {
                (v.storage.clone(), v.layout.clone())
            } else {
                let storage = v.storage.to_device(device).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
                (storage, v.layout.clone())
            }
        })
        .collect();
    let key: Key = (
        format!("{op:?} -> {dtype} {shape:?}"),
        device,
        moved.iter().map(|(s, l)| (s.dtype(), l.shape.to_vec(), l.strides.to_vec())).collect(),
    );
    let found = programs().lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
    let program = match found {
        Some(p) => p,
        None => {
            let program = Arc::new(compile(op, &moved, dtype, shape, device));
            programs().lock().unwrap_or_else(|e| e.into_inner()).insert(key, program.clone());
            program
        }
    };
    let mut outputs = program.run(&moved).unwrap_or_else(|e| panic!("{} on {device}: {e}", op.name()));
    outputs.pop().expect("one output")
}

fn compile(op: &Op, inputs: &[Output], dtype: DType, shape: &[usize], device: Device) -> GpuProgram {
    let mut builder = GraphBuilder::new(op.name());
    let params: Vec<_> = inputs.iter().map(|(s, l)| builder.param(s.dtype(), &l.shape)).collect();
    let out = builder
        .push_typed(op.clone(), &params, ValueType::of(dtype, shape))
        .unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    builder.output(out).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    let graph: Graph = builder.finish();
    let gpu = GpuDevice::open(device).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    let layouts: Vec<Layout> = inputs.iter().map(|(_, l)| l.clone()).collect();
    let (program, report) = gpu_program::compile(&graph, layouts, None, &gpu)
        .unwrap_or_else(|e| panic!("{} on {device}: no GPU program: {e}", op.name()));
    for line in &report.host_nodes {
        tracing::debug!(target: "ignis::gpu", "{line}");
    }
    program
}
