//! The standard workloads of BENCHMARKS.md: their inputs, their eager computation, and the
//! bytes each must move. Timing and reporting live elsewhere; nothing here measures.

use clap::ValueEnum;
use ignis::nn::{self, BlockConfig, Module, Sequential, TransformerBlock};
use ignis::optim::{Optimizer, Sgd, SgdOptions};
use ignis::{DType, Reduction, Tensor};

/// Rows and columns of the W1-W3 inputs.
pub const ROWS: usize = 4096;
pub const COLUMNS: usize = 1024;
/// W4's batch, model width and hidden width.
pub const MLP_BATCH: usize = 256;
pub const MLP_WIDTH: usize = 1024;
pub const MLP_HIDDEN: usize = 4096;
/// W6's batch, sequence length, model width and heads.
pub const BLOCK_BATCH: usize = 8;
pub const BLOCK_SEQ: usize = 128;
pub const BLOCK_WIDTH: usize = 256;
pub const BLOCK_HEADS: usize = 4;
/// W5's SGD learning rate.
pub const LEARNING_RATE: f64 = 1e-3;
/// Length of the W7 input.
pub const TINY_LENGTH: usize = 64;
const F32_BYTES: u64 = 4;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Workload {
    #[value(name = "W1")]
    W1,
    #[value(name = "W2")]
    W2,
    #[value(name = "W3")]
    W3,
    #[value(name = "W4")]
    W4,
    #[value(name = "W5")]
    W5,
    #[value(name = "W6f")]
    W6f,
    #[value(name = "W6b")]
    W6b,
    #[value(name = "W7")]
    W7,
}

/// A workload ready to time: its inputs are built, so each call does only the workload's work.
pub struct Prepared {
    pub call: Box<dyn FnMut() -> Tensor>,
    /// Each input read once plus each output written once, where a memory floor applies.
    pub bytes_moved: Option<u64>,
    /// The gradients a training workload leaves after a call (empty for forward-only ones),
    /// compared between eager and compiled runs.
    pub gradients: Box<dyn Fn() -> Vec<Tensor>>,
}

/// Eager ops, or the same function wrapped in `ignis::compile`.
#[derive(Clone, Debug)]
pub enum Mode {
    Eager,
    Compiled,
    /// Compiled, and every kernel also written for a GPU (nothing runs on it).
    GpuCodegen(GpuCodegen),
}

/// Where `Mode::GpuCodegen` writes, and where it leaves the reports of the last call.
#[derive(Clone, Debug)]
pub struct GpuCodegen {
    pub target: ignis::compile::GpuTarget,
    /// The dumps' directory (every stage's IR, the MLIR and the assembly).
    pub dump_dir: Option<std::path::PathBuf>,
    /// The name of the dump files.
    pub name: String,
    pub reports: std::sync::Arc<std::sync::Mutex<Vec<ignis::compile::GpuReport>>>,
}

/// The workload's function as a call: run as is, or through `compile()`. Tensors the
/// function uses are captured, so the compiled function lifts them as inputs.
fn call_in(mode: Mode, f: impl Fn() -> Tensor + Send + Sync + 'static) -> Box<dyn FnMut() -> Tensor> {
    match mode {
        Mode::Eager => Box::new(f),
        Mode::Compiled => {
            let compiled = ignis::compile(move |(): ()| f());
            Box::new(move || compiled.call(()))
        }
        Mode::GpuCodegen(codegen) => {
            let mut options = ignis::CompileOptions::default().gpu_codegen(codegen.target).name(codegen.name);
            if let Some(dir) = codegen.dump_dir {
                options = options.dump_dir(dir);
            }
            let compiled = ignis::compile_with(move |(): ()| f(), options);
            let reports = codegen.reports;
            Box::new(move || {
                let out = compiled.call(());
                *reports.lock().unwrap_or_else(|e| e.into_inner()) = compiled.gpu_reports();
                out
            })
        }
    }
}

fn no_gradients() -> Box<dyn Fn() -> Vec<Tensor>> {
    Box::new(Vec::new)
}

fn gradients_of(parameters: Vec<Tensor>) -> Box<dyn Fn() -> Vec<Tensor>> {
    Box::new(move || parameters.iter().filter_map(Tensor::grad).collect())
}

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W5,
        Workload::W6f,
        Workload::W6b,
        Workload::W7,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
            Workload::W5 => "W5",
            Workload::W6f => "W6f",
            Workload::W6b => "W6b",
            Workload::W7 => "W7",
        }
    }

    /// Timed calls when `--iters` is not given; the counts the peer measurements used, so
    /// medians compare like for like.
    pub fn default_iterations(self) -> usize {
        match self {
            Workload::W1 | Workload::W2 | Workload::W3 => 50,
            Workload::W4 | Workload::W6f | Workload::W6b => 30,
            Workload::W5 => 20,
            Workload::W7 => 300,
        }
    }

    /// Untimed calls first: they fill the allocator's cache and the thread pool's queues.
    pub fn warmup_calls(self) -> usize {
        match self {
            // A W7 call is tens of microseconds, so more warm-up costs nothing.
            Workload::W7 => 50,
            _ => 5,
        }
    }

    /// Builds the inputs (from a fixed seed) and the eager call; `None` when ignis lacks
    /// what the workload needs.
    pub fn prepare_eager(self) -> Option<Prepared> {
        self.prepare(Mode::Eager)
    }

    /// Builds the inputs (from the same seeds) and the call in `mode`.
    pub fn prepare(self, mode: Mode) -> Option<Prepared> {
        let matrix_bytes = (ROWS * COLUMNS) as u64 * F32_BYTES;
        let row_bytes = COLUMNS as u64 * F32_BYTES;
        match self {
            Workload::W1 => {
                ignis::manual_seed(0);
                let x = Tensor::randn([ROWS, COLUMNS], DType::F32);
                let w = Tensor::randn([ROWS, COLUMNS], DType::F32);
                let b = Tensor::randn([ROWS, COLUMNS], DType::F32);
                Some(Prepared {
                    call: inference(mode, move || elementwise_chain(&x, &w, &b)),
                    bytes_moved: Some(4 * matrix_bytes),
                    gradients: no_gradients(),
                })
            }
            Workload::W2 => {
                ignis::manual_seed(0);
                let x = Tensor::randn([ROWS, COLUMNS], DType::F32);
                // Weight near one and bias near zero, as a trained layer's are, but never
                // exactly the identity, which a compiler could fold away.
                let weight = Tensor::randn([COLUMNS], DType::F32).mul_scalar(0.1).add_scalar(1.0);
                let bias = Tensor::randn([COLUMNS], DType::F32).mul_scalar(0.1);
                Some(Prepared {
                    call: inference(mode, move || layer_norm(&x, &weight, &bias)),
                    bytes_moved: Some(2 * matrix_bytes + 2 * row_bytes),
                    gradients: no_gradients(),
                })
            }
            Workload::W3 => {
                ignis::manual_seed(0);
                let x = Tensor::randn([ROWS, COLUMNS], DType::F32);
                Some(Prepared {
                    call: inference(mode, move || softmax(&x)),
                    bytes_moved: Some(2 * matrix_bytes),
                    gradients: no_gradients(),
                })
            }
            Workload::W4 => {
                ignis::manual_seed(1);
                let x = Tensor::randn([MLP_BATCH, MLP_WIDTH], DType::F32);
                let layers = [
                    Linear::random(MLP_WIDTH, MLP_HIDDEN),
                    Linear::random(MLP_HIDDEN, MLP_WIDTH),
                    Linear::random(MLP_WIDTH, MLP_WIDTH),
                ];
                Some(Prepared {
                    call: inference(mode, move || mlp_forward(&x, &layers)),
                    bytes_moved: None,
                    gradients: no_gradients(),
                })
            }
            Workload::W7 => {
                ignis::manual_seed(3);
                let x = Tensor::randn([TINY_LENGTH], DType::F32);
                Some(Prepared {
                    call: inference(mode, move || tiny_op_chain(&x)),
                    bytes_moved: None,
                    gradients: no_gradients(),
                })
            }
            Workload::W5 => {
                ignis::manual_seed(1);
                let x = Tensor::randn([MLP_BATCH, MLP_WIDTH], DType::F32);
                let target = Tensor::randn([MLP_BATCH, MLP_WIDTH], DType::F32);
                let step = TrainingStep::new();
                let gradients = gradients_of(step.parameters());
                // The whole step (forward, loss, backward, SGD update) is one function.
                let step = std::sync::Mutex::new(step);
                let call = call_in(mode, move || step.lock().unwrap_or_else(|e| e.into_inner()).run(&x, &target));
                Some(Prepared { call, bytes_moved: None, gradients })
            }
            Workload::W6f => {
                let (block, x) = transformer_block();
                Some(Prepared {
                    call: inference(mode, move || block.forward(&x)),
                    bytes_moved: None,
                    gradients: no_gradients(),
                })
            }
            Workload::W6b => {
                let (block, x) = transformer_block();
                let gradients = gradients_of(block.parameters());
                let call = call_in(mode, move || {
                    block.zero_grad();
                    let loss = block.forward(&x).square().mean_all();
                    loss.backward();
                    loss.detach()
                });
                Some(Prepared { call, bytes_moved: None, gradients })
            }
        }
    }
}

/// A forward-only call, timed without recording autograd (as the peers time it under
/// `torch.no_grad()`).
fn inference(mode: Mode, f: impl Fn() -> Tensor + Send + Sync + 'static) -> Box<dyn FnMut() -> Tensor> {
    let mut call = call_in(mode, f);
    Box::new(move || ignis::no_grad(&mut call))
}

/// W1: `gelu_tanh(x * w + b)`, three eager ops.
pub fn elementwise_chain(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    x.mul(w).add(b).gelu_tanh()
}

/// W2: layer norm over the last dimension, eps 1e-5.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    let last = x.shape()[x.rank() - 1];
    x.layer_norm(&[last], Some(weight), Some(bias), 1e-5)
}

/// W3: softmax over the last dimension.
pub fn softmax(x: &Tensor) -> Tensor {
    x.softmax(-1)
}

/// A linear layer `y = x @ weight + bias`.
///
/// The weight is stored `[in, out]`, contiguous, so the forward pass is one plain matmul with
/// no transposed view (PyTorch stores `[out, in]` and multiplies by the transpose; the
/// products are the same).
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// Weights from randn scaled by 1/sqrt(fan_in), so activations keep unit scale through
    /// the layers; biases small (0.01 randn), as the peer measurements drew them.
    pub fn random(inputs: usize, outputs: usize) -> Linear {
        let weight = Tensor::randn([inputs, outputs], DType::F32).mul_scalar(1.0 / (inputs as f64).sqrt());
        let bias = Tensor::randn([outputs], DType::F32).mul_scalar(0.01);
        Linear { weight, bias }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.matmul(&self.weight).add(&self.bias)
    }
}

/// W4: Linear -> GELU -> Linear -> GELU -> Linear, GELU in its tanh form as the peers ran it.
pub fn mlp_forward(x: &Tensor, layers: &[Linear; 3]) -> Tensor {
    let hidden = layers[0].forward(x).gelu_tanh();
    let hidden = layers[1].forward(&hidden).gelu_tanh();
    layers[2].forward(&hidden)
}

/// W5's model: W4's MLP built from `nn::Linear` (weights `[out, in]` as in PyTorch), trained
/// with MSE and SGD.
pub struct TrainingStep {
    model: Sequential,
    optimizer: Sgd,
}

impl TrainingStep {
    pub fn new() -> TrainingStep {
        Self::with_sizes(MLP_WIDTH, MLP_HIDDEN)
    }

    /// The same model at other sizes (for tests).
    pub fn with_sizes(width: usize, hidden: usize) -> TrainingStep {
        let linear = |inputs: usize, outputs: usize| {
            let weight = Tensor::randn([outputs, inputs], DType::F32).mul_scalar(1.0 / (inputs as f64).sqrt());
            let bias = Tensor::randn([outputs], DType::F32).mul_scalar(0.01);
            nn::Linear::from_weights(weight.requires_grad_(true), Some(bias.requires_grad_(true)))
        };
        let model = Sequential::new()
            .add(linear(width, hidden))
            .add(nn::GELU::tanh())
            .add(linear(hidden, width))
            .add(nn::GELU::tanh())
            .add(linear(width, width));
        let optimizer = Sgd::new(model.parameters(), SgdOptions { lr: LEARNING_RATE, ..Default::default() });
        TrainingStep { model, optimizer }
    }

    /// One step: zero grads, forward, MSE loss, backward, SGD update; returns the loss.
    pub fn run(&mut self, x: &Tensor, target: &Tensor) -> Tensor {
        self.optimizer.zero_grad();
        let loss = self.model.forward(x).mse_loss(target, Reduction::Mean);
        loss.backward();
        self.optimizer.step();
        loss.detach()
    }
}

impl Default for TrainingStep {
    fn default() -> Self {
        Self::new()
    }
}

impl TrainingStep {
    pub fn parameters(&self) -> Vec<Tensor> {
        self.model.parameters()
    }
}

/// W6's block (pre-LN, causal, 4 heads, MLP 4x with tanh GELU, no dropout) and its input,
/// weights drawn as the peers drew them: randn / sqrt(fan_in), biases 0.01 randn.
pub fn transformer_block() -> (TransformerBlock, Tensor) {
    ignis::manual_seed(2);
    let x = Tensor::randn([BLOCK_BATCH, BLOCK_SEQ, BLOCK_WIDTH], DType::F32);
    let block = TransformerBlock::decoder(&BlockConfig::new(BLOCK_WIDTH, BLOCK_HEADS));
    ignis::no_grad(|| {
        for (name, p) in block.named_parameters() {
            if name.starts_with("ln") {
                continue;
            }
            let fan_in = *p.shape().last().expect("parameters have a dim");
            let values = if name.ends_with("weight") {
                Tensor::randn(p.shape(), DType::F32).mul_scalar(1.0 / (fan_in as f64).sqrt())
            } else {
                Tensor::randn(p.shape(), DType::F32).mul_scalar(0.01)
            };
            p.copy_(&values);
        }
    });
    (block, x)
}

/// Rounds of W7's chain; each round is two ops.
pub const TINY_ROUNDS: usize = 50;

/// W7: 100 tiny ops. Round `i` scales by 1.0001 (even `i`) or adds 0.0001 (odd `i`), then
/// takes tanh: the chain the peer measurements ran, so per-op overheads compare directly.
pub fn tiny_op_chain(x: &Tensor) -> Tensor {
    let mut y = x.clone();
    for round in 0..TINY_ROUNDS {
        y = if round % 2 == 0 { y.mul_scalar(1.0001) } else { y.add_scalar(0.0001) };
        y = y.tanh();
    }
    y
}
