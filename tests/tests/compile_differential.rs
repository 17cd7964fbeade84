//! Differential tests of `compile()`: every op of the library run eagerly and inside a
//! compiled function must give the same values, dtypes and shapes, and the same gradients
//! for every input (and every parameter a closure captures).
//!
//! Each case is one or two lines: `diff(name, inputs).run(f!(|a, b| ...))`. The helper
//! compiles the function (strict by default: a graph break fails the test), then
//!  1. under `no_grad` calls it twice, the second time on new values (the inputs reversed in
//!     place, same layouts) so that it replays the cached program (which the helper checks),
//!     and compares both results with eager runs on the same values;
//!  2. with every float input a leaf that requires grad, calls it twice more, reduces the
//!     outputs to one scalar loss outside the function, runs `backward()` and compares
//!     every input's (and parameter's) `.grad()` with the eager run's, zeroing in between.
//!
//! Tolerances: `TOL` (1e-5, mixed relative/absolute) for f32 and f64 (the interpreter is
//! bit-identical; the default Cranelift backend contracts `a * b + c` into fma, sums rows in
//! another order and evaluates exp/tanh/erf with its own polynomials), the dtype's own
//! precision for f16/bf16, and exact equality for integer and bool results.
//!
//! Ops that run eagerly inside compiled functions (graph break), tested without strict
//! mode (`.breaks()`):
//!  - host reads: `item`, `item_f64`, `to_vec`, `all()`, `any()`, `masked_select`,
//!    `randint`, `BatchNorm` with a cumulative average (`momentum: None`);
//!  - ops without a lowering: `avg_pool2d` with `count_include_pad = false` (the graph op
//!    counts the padding);
//!  - in-place writes to intermediates of the trace (`x.exp().add_scalar_(1)`, or a write
//!    through a view such as `x.t().mul_scalar_(2)`);
//!  - an in-place write to a tensor that a traced view reads (the view must see it).

use ignis::compile::Static;
use ignis::nn::{
    AdaptiveAvgPool2d, AttentionMask, AvgPool2d, BCELoss, BCEWithLogitsLoss, BatchNorm1d, BatchNorm2d, BlockConfig,
    Conv1d, Conv2d, ConvTranspose2d, CrossEntropyLoss, Dropout, Embedding, FeedForward, Flatten, GELU, GroupNorm,
    Identity, KLDivLoss, L1Loss, LayerNorm, LeakyReLU, Linear, MSELoss, MaxPool2d, Module, MultiheadAttention, NLLLoss,
    RMSNorm, ReLU, Sequential, SiLU, Sigmoid, SmoothL1Loss, Softmax, Tanh, TransformerBlock,
};
use ignis::{
    CompileOptions, ConvOptions, CrossEntropyOptions, DType, PadMode, Reduction, Tensor, Window2d, compile,
    compile_with, manual_seed, no_grad,
};
use std::sync::Mutex;

/// Relative (and, near zero, absolute) tolerance for f32 and f64 results.
const TOL: f64 = 1e-5;

/// The global generator (parameter init, dropout, rand) is shared by the test threads:
/// whoever seeds it and draws holds this.
static SEEDED: Mutex<()> = Mutex::new(());

/// Runs `f` right after `manual_seed(seed)`, holding the generator.
fn seeded<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    manual_seed(seed);
    f()
}

// ---------------------------------------------------------------------------------------
// Deterministic inputs

/// Values uniform in `[lo, hi)` from a small generator of its own (not the library's).
fn uniform(shape: &[usize], seed: u64, lo: f64, hi: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D;
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            (lo + (hi - lo) * unit) as f32
        })
        .collect();
    Tensor::from_vec(values, shape.to_vec())
}

/// Makes an input of a shape from a seed.
type Gen = fn(&[usize], u64) -> Tensor;
/// An op of one or two tensors, for tables of cases.
type Op1 = fn(&Tensor) -> Tensor;
type Op2 = fn(&Tensor, &Tensor) -> Tensor;
/// An in-place update of the first tensor from the second.
type Write2 = fn(&Tensor, &Tensor);

/// In `[-2, 2)`.
fn real(shape: &[usize], seed: u64) -> Tensor {
    uniform(shape, seed, -2.0, 2.0)
}
/// In `[0.25, 2.25)`: for log, sqrt, divisors.
fn pos(shape: &[usize], seed: u64) -> Tensor {
    uniform(shape, seed, 0.25, 2.25)
}
/// In `[-0.7, 0.7)`: for tan.
fn small(shape: &[usize], seed: u64) -> Tensor {
    uniform(shape, seed, -0.7, 0.7)
}
/// Away from zero, either sign: `±[0.5, 1.5)` (prod divides by its input).
fn away(shape: &[usize], seed: u64) -> Tensor {
    let magnitude = uniform(shape, seed, 0.5, 1.5);
    let sign = uniform(shape, seed + 100, -1.0, 1.0).ge_scalar(0.0).where_(&magnitude, &magnitude.neg());
    sign.detach()
}
/// Probabilities in `[0.05, 0.95)`.
fn prob(shape: &[usize], seed: u64) -> Tensor {
    uniform(shape, seed, 0.05, 0.95)
}
/// Integers in `[-4, 4]` as i64.
fn int(shape: &[usize], seed: u64) -> Tensor {
    uniform(shape, seed, -4.0, 5.0).floor().to_dtype(DType::I64)
}
/// A bool mask, about half true.
fn mask(shape: &[usize], seed: u64) -> Tensor {
    uniform(shape, seed, -1.0, 1.0).gt_scalar(0.0)
}
fn i64s(values: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape.to_vec())
}
fn f32s(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape.to_vec())
}

/// NaN, infinities, signed zeros and halves (rounding ties).
fn specials() -> Tensor {
    f32s(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, 1e-3, -7.25], &[12])
}

/// One input in the layouts every elementwise op must handle.
fn variants(g: Gen) -> Vec<(&'static str, Tensor)> {
    vec![
        ("contiguous", g(&[3, 5], 1)),
        ("transposed", g(&[5, 3], 2).t()),
        ("stepped slice", g(&[3, 10], 3).slice(1, 1, 10, 2)),
        ("expanded", g(&[1, 5], 4).expand([3, 5])),
        ("size-1 dims", g(&[1, 4, 1], 5)),
        ("size-0 dim", g(&[0, 3], 6)),
        ("0-dim", g(&[], 7)),
    ]
}

/// Two operands in the layouts and broadcasts every binary op must handle.
fn pairs(ga: Gen, gb: Gen) -> Vec<(&'static str, Tensor, Tensor)> {
    vec![
        ("same shape", ga(&[3, 4], 1), gb(&[3, 4], 2)),
        ("row broadcast", ga(&[3, 4], 3), gb(&[4], 4)),
        ("outer broadcast", ga(&[3, 1], 5), gb(&[1, 4], 6)),
        ("0-dim operand", ga(&[], 7), gb(&[2, 3], 8)),
        ("strided operands", ga(&[4, 3], 9).t(), gb(&[3, 8], 10).slice(1, 0, 8, 2)),
        ("expanded operand", ga(&[1, 4], 11).expand([3, 4]), gb(&[3, 4], 12)),
        ("size-0 dim", ga(&[0, 4], 13), gb(&[4], 14)),
        ("ties", ga(&[2, 3], 15), ga(&[2, 3], 15)),
        ("f32 with f64", ga(&[2, 3], 16), gb(&[2, 3], 17).to_dtype(DType::F64)),
    ]
}

// ---------------------------------------------------------------------------------------
// The differential harness

/// What a function under test returns: one tensor, several, or a list.
trait IntoOuts {
    fn into_outs(self) -> Vec<Tensor>;
}
impl IntoOuts for Tensor {
    fn into_outs(self) -> Vec<Tensor> {
        vec![self]
    }
}
impl IntoOuts for Vec<Tensor> {
    fn into_outs(self) -> Vec<Tensor> {
        self
    }
}
impl IntoOuts for (Tensor, Tensor) {
    fn into_outs(self) -> Vec<Tensor> {
        vec![self.0, self.1]
    }
}
impl IntoOuts for (Tensor, Tensor, Tensor) {
    fn into_outs(self) -> Vec<Tensor> {
        vec![self.0, self.1, self.2]
    }
}

/// `f!(|a, b| body)`: a function of the inputs slice, its elements bound by name.
macro_rules! f {
    (|$($x:ident),*| $body:expr) => {
        |xs: &[Tensor]| -> Vec<Tensor> {
            let [$($x),*] = xs else { panic!("wrong number of inputs: {}", xs.len()) };
            IntoOuts::into_outs($body)
        }
    };
}

/// Asserts that `got` (compiled) equals `want` (eager) in dtype, shape and values.
fn assert_same(what: &str, got: &Tensor, want: &Tensor, tol: f64) {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype of {} vs eager {}", got.describe(), want.describe());
    assert_eq!(got.shape(), want.shape(), "{what}: shape of {} vs eager {}", got.describe(), want.describe());
    match want.dtype() {
        DType::Bool => assert_eq!(got.to_vec::<bool>(), want.to_vec::<bool>(), "{what}: values"),
        d if d.is_float() => {
            let tol = match d {
                DType::F16 => tol.max(2e-3),
                DType::BF16 => tol.max(1.6e-2),
                _ => tol,
            };
            let (g, w) = (got.to_vec::<f64>(), want.to_vec::<f64>());
            for (i, (a, b)) in g.iter().zip(&w).enumerate() {
                let ok = a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + b.abs());
                assert!(ok, "{what}: element {i} is {a} compiled, {b} eager");
            }
        }
        _ => assert_eq!(got.to_vec::<i64>(), want.to_vec::<i64>(), "{what}: values"),
    }
}

fn assert_all_same(what: &str, got: &[Tensor], want: &[Tensor], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: number of outputs");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_same(&format!("{what}, output {i}"), g, w, tol);
    }
}

fn assert_grads_same(what: &str, got: &[Option<Tensor>], want: &[Option<Tensor>], tol: f64) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w) {
            (Some(g), Some(w)) => assert_same(&format!("{what}: grad of tensor {i}"), g, w, tol),
            (None, None) => {}
            _ => panic!(
                "{what}: tensor {i} has a gradient in one run only (compiled: {}, eager: {})",
                g.is_some(),
                w.is_some()
            ),
        }
    }
}

/// Deterministic weights for the loss, so that every output element gets its own gradient.
fn loss_weights(shape: &[usize], output: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * 0.618 + output as f64).cos() + 0.25).collect();
    Tensor::from_vec(values, shape.to_vec())
}

/// One scalar (f64) from every output that requires grad; `None` when none does.
fn loss_of(outputs: &[Tensor]) -> Option<Tensor> {
    let mut total: Option<Tensor> = None;
    for (i, o) in outputs.iter().enumerate().filter(|(_, o)| o.requires_grad()) {
        let term = o.to_dtype(DType::F64).mul(&loss_weights(o.shape(), i)).sum_all();
        total = Some(match total {
            Some(t) => t.add(&term),
            None => term,
        });
    }
    total
}

fn grads(tensors: &[Tensor]) -> Vec<Option<Tensor>> {
    tensors.iter().map(Tensor::grad).collect()
}

fn zero_grads(tensors: &[Tensor]) {
    tensors.iter().for_each(Tensor::zero_grad);
}

/// Copies of `inputs` to restore them from after `reverse_in_place`.
fn reversible(inputs: &[Tensor]) -> Vec<Tensor> {
    inputs.iter().map(Tensor::contiguous_copy).collect()
}

/// Reverses every input along all its dims, in place: new values (from the same domain, and
/// still valid indices) in the same layouts, so a compiled function replays on them.
fn reverse_in_place(inputs: &[Tensor]) {
    no_grad(|| {
        for t in inputs {
            let dims: Vec<isize> = (0..t.rank() as isize).collect();
            t.copy_(&t.flip(&dims));
        }
    });
}

fn restore(inputs: &[Tensor], originals: &[Tensor]) {
    no_grad(|| {
        for (t, o) in inputs.iter().zip(originals) {
            t.copy_(o);
        }
    });
}

/// One differential case: a function of `inputs`, run eagerly and compiled.
struct Diff {
    name: String,
    inputs: Vec<Tensor>,
    params: Vec<Tensor>,
    strict: bool,
    tol: f64,
    reseed: Option<u64>,
}

fn diff(name: impl Into<String>, inputs: impl Into<Vec<Tensor>>) -> Diff {
    Diff { name: name.into(), inputs: inputs.into(), params: Vec::new(), strict: true, tol: TOL, reseed: None }
}

impl Diff {
    /// The function has graph breaks: compile without strict mode.
    fn breaks_if(self, breaks: bool) -> Self {
        if breaks { self.breaks() } else { self }
    }

    fn breaks(mut self) -> Self {
        self.strict = false;
        self
    }
    /// Tensors the function captures (layer parameters) whose gradients are compared too.
    fn params(mut self, params: Vec<Tensor>) -> Self {
        self.params = params;
        self
    }
    fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    /// The function draws random numbers: seed the generator before every run.
    fn reseed(mut self, seed: u64) -> Self {
        self.reseed = Some(seed);
        self
    }

    fn run<F>(self, f: F)
    where
        F: Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync,
    {
        let _turn = self.reseed.map(|_| SEEDED.lock().unwrap_or_else(|e| e.into_inner()));
        let seed = || {
            if let Some(s) = self.reseed {
                manual_seed(s);
            }
        };
        let name = &self.name;
        let options = CompileOptions::default().strict(self.strict).name(name.clone());
        let compiled = compile_with(|xs: Vec<Tensor>| f(&xs), options);

        // Values, twice: the first call traces; the second, on new values in the same
        // layouts (every input reversed in place), replays the cached program.
        let originals = reversible(&self.inputs);
        for call in 1..=2 {
            if call == 2 {
                reverse_in_place(&self.inputs);
            }
            seed();
            let eager = no_grad(|| f(&self.inputs));
            seed();
            let got = no_grad(|| compiled.call(self.inputs.clone()));
            assert_all_same(&format!("{name}: values, call {call}"), &got, &eager, self.tol);
        }
        restore(&self.inputs, &originals);
        if self.strict {
            let stats = compiled.stats();
            assert_eq!((stats.traces, stats.replays), (1, 1), "{name}: the second call must replay: {stats:?}");
        }

        // Gradients: float inputs become leaves that require grad.
        let leaves: Vec<Tensor> = self
            .inputs
            .iter()
            .map(|t| if t.dtype().is_float() { t.detach().requires_grad_(true) } else { t.clone() })
            .collect();
        let watched: Vec<Tensor> = leaves.iter().chain(&self.params).cloned().collect();
        zero_grads(&watched);
        seed();
        let eager = f(&leaves);
        let Some(eager_loss) = loss_of(&eager) else {
            return;
        };
        eager_loss.backward();
        let eager_grads = grads(&watched);
        zero_grads(&watched);
        for call in 1..=2 {
            let what = format!("{name}: with grads, call {call}");
            seed();
            let got = compiled.call(leaves.clone());
            assert_all_same(&what, &got, &eager, self.tol);
            for (i, (g, e)) in got.iter().zip(&eager).enumerate() {
                assert_eq!(g.requires_grad(), e.requires_grad(), "{what}: requires_grad of output {i}");
            }
            let loss = loss_of(&got).expect("the outputs require grad as the eager ones do");
            assert_same(&format!("{what}: loss"), &loss, &eager_loss, self.tol);
            loss.backward();
            assert_grads_same(&what, &grads(&watched), &eager_grads, self.tol);
            zero_grads(&watched);
        }
    }
}

/// One test per op, each over every layout of `variants`.
macro_rules! unary_tests {
    ($($test:ident: $gen:expr, |$x:ident| $body:expr;)*) => {$(
        #[test]
        fn $test() {
            for (layout, input) in variants($gen) {
                diff(format!("{} ({layout})", stringify!($test)), [input]).run(f!(|$x| $body));
            }
        }
    )*};
}

/// One test per op, each over every operand pair of `pairs`.
macro_rules! binary_tests {
    ($($test:ident: $ga:expr, $gb:expr, |$a:ident, $b:ident| $body:expr;)*) => {$(
        #[test]
        fn $test() {
            for (layout, a, b) in pairs($ga, $gb) {
                diff(format!("{} ({layout})", stringify!($test)), [a, b]).run(f!(|$a, $b| $body));
            }
        }
    )*};
}

// ---------------------------------------------------------------------------------------
// Unary elementwise ops

unary_tests! {
    unary_neg: real, |x| x.neg();
    unary_neg_operator: real, |x| -x;
    unary_abs: real, |x| x.abs();
    unary_sign: real, |x| x.sign();
    unary_recip: pos, |x| x.recip();
    unary_square: real, |x| x.square();
    unary_exp: real, |x| x.exp();
    unary_exp2: real, |x| x.exp2();
    unary_log: pos, |x| x.log();
    unary_log2: pos, |x| x.log2();
    unary_log1p: pos, |x| x.log1p();
    unary_expm1: real, |x| x.expm1();
    unary_sqrt: pos, |x| x.sqrt();
    unary_rsqrt: pos, |x| x.rsqrt();
    unary_sin: real, |x| x.sin();
    unary_cos: real, |x| x.cos();
    unary_tan: small, |x| x.tan();
    unary_tanh: real, |x| x.tanh();
    unary_erf: real, |x| x.erf();
    unary_sigmoid: real, |x| x.sigmoid();
    unary_relu: real, |x| x.relu();
    unary_gelu: real, |x| x.gelu();
    unary_gelu_tanh: real, |x| x.gelu_tanh();
    unary_silu: real, |x| x.silu();
    unary_softplus: real, |x| x.softplus();
    unary_mish: real, |x| x.mish();
    unary_leaky_relu: real, |x| x.leaky_relu(0.1);
    unary_elu: real, |x| x.elu(0.7);
    unary_clamp: real, |x| x.clamp(Some(-0.5), Some(1.0));
    unary_clamp_min_max: real, |x| (x.clamp_min(0.25), x.clamp_max(-0.25), x.clamp(None, None));
    unary_floor: real, |x| x.floor();
    unary_ceil: real, |x| x.ceil();
    unary_round: real, |x| x.mul_scalar(2.0).round();
    unary_trunc: real, |x| x.trunc();
    unary_nan_to_num: real, |x| x.log().nan_to_num(0.5, Some(9.0), None);
    unary_isnan: real, |x| x.log().isnan();
    unary_isinf: real, |x| x.rdiv_scalar(0.0).isinf();
    unary_logical_not: real, |x| x.logical_not();
    unary_chain: real, |x| x.mul_scalar(0.5).tanh().exp().sub_scalar(1.0).abs().sqrt();
}

#[test]
fn unary_ops_on_special_values() {
    let ops: Vec<(&str, Op1)> = vec![
        ("neg", |x| x.neg()),
        ("abs", |x| x.abs()),
        ("sign", |x| x.sign()),
        ("exp", |x| x.exp()),
        ("log", |x| x.log()),
        ("sqrt", |x| x.sqrt()),
        ("tanh", |x| x.tanh()),
        ("sigmoid", |x| x.sigmoid()),
        ("relu", |x| x.relu()),
        ("gelu", |x| x.gelu()),
        ("softplus", |x| x.softplus()),
        ("mish", |x| x.mish()),
        ("floor", |x| x.floor()),
        ("ceil", |x| x.ceil()),
        ("round", |x| x.round()),
        ("trunc", |x| x.trunc()),
        ("clamp", |x| x.clamp(Some(-1.0), Some(1.0))),
        ("nan_to_num", |x| x.nan_to_num(0.0, None, None)),
        ("nan_to_num with values", |x| x.nan_to_num(-1.0, Some(100.0), Some(-100.0))),
        ("isnan", |x| x.isnan()),
        ("isinf", |x| x.isinf()),
        ("logical_not", |x| x.logical_not()),
        ("minimum", |x| x.minimum_scalar(0.5)),
        ("maximum", |x| x.maximum(&x.flip(&[0]))),
    ];
    for (name, op) in ops {
        diff(format!("{name} of specials"), [specials()]).run(move |xs: &[Tensor]| vec![op(&xs[0])]);
    }
}

#[test]
fn unary_ops_on_other_dtypes() {
    let ops: Vec<(&str, Op1)> = vec![
        ("neg", |x| x.neg()),
        ("abs", |x| x.abs()),
        ("sign", |x| x.sign()),
        ("square", |x| x.square()),
        ("exp", |x| x.exp()),
        ("sqrt of abs", |x| x.abs().sqrt()),
        ("sigmoid", |x| x.sigmoid()),
        ("tanh", |x| x.tanh()),
        ("relu", |x| x.relu()),
        ("floor", |x| x.floor()),
        ("clamp", |x| x.clamp(Some(-1.0), Some(2.0))),
        ("logical_not", |x| x.logical_not()),
        ("isnan", |x| x.isnan()),
    ];
    for dtype in [DType::F64, DType::F16, DType::BF16, DType::I64, DType::I32] {
        let x = real(&[3, 4], 1).mul_scalar(3.0).to_dtype(dtype);
        for (name, op) in &ops {
            let op = *op;
            diff(format!("{name} of {dtype}"), [x.clone()]).run(move |xs: &[Tensor]| vec![op(&xs[0])]);
        }
    }
    let b = mask(&[2, 5], 3);
    diff("logical_not of bool", [b.clone()]).run(f!(|b| b.logical_not()));
    diff("abs of u8", [int(&[6], 2).abs().to_dtype(DType::U8)]).run(f!(|x| (x.abs(), x.exp())));
}

// ---------------------------------------------------------------------------------------
// Binary elementwise ops, their scalar forms, comparisons and logical ops

binary_tests! {
    binary_add: real, real, |a, b| a.add(b);
    binary_sub: real, real, |a, b| a.sub(b);
    binary_mul: real, real, |a, b| a.mul(b);
    binary_div: real, pos, |a, b| a.div(b);
    binary_pow: pos, real, |a, b| a.pow(b);
    binary_rem: real, pos, |a, b| a.rem(b);
    binary_minimum: real, real, |a, b| a.minimum(b);
    binary_maximum: real, real, |a, b| a.maximum(b);
    binary_operators: real, pos, |a, b| vec![a + b, a - b, a * b, a / b, a % b];
    binary_eq: int_valued, int_valued, |a, b| a.eq(b);
    binary_ne: int_valued, int_valued, |a, b| a.ne(b);
    binary_lt: int_valued, int_valued, |a, b| a.lt(b);
    binary_le: int_valued, int_valued, |a, b| a.le(b);
    binary_gt: int_valued, int_valued, |a, b| a.gt(b);
    binary_ge: int_valued, int_valued, |a, b| a.ge(b);
    binary_logical_and: int_valued, int_valued, |a, b| a.logical_and(b);
    binary_logical_or: int_valued, int_valued, |a, b| a.logical_or(b);
    binary_logical_xor: int_valued, int_valued, |a, b| a.logical_xor(b);
    binary_where: real, real, |a, b| a.gt(b).where_(a, b);
    binary_chain: real, pos, |a, b| a.mul(b).add(a).div(&b.add_scalar(1.0)).maximum(&a.neg());
}

/// Small integers as f32: comparisons and logical ops see ties and zeros.
fn int_valued(shape: &[usize], seed: u64) -> Tensor {
    uniform(shape, seed, -2.0, 3.0).floor()
}

#[test]
fn binary_ops_on_integer_and_bool_tensors() {
    let (a, b) = (int(&[3, 4], 1), int(&[4], 2).abs().add_scalar(1));
    diff("i64 arithmetic", [a.clone(), b.clone()]).run(f!(|a, b| vec![
        a.add(b),
        a.sub(b),
        a.mul(b),
        a.div(b),
        a.rem(b),
        a.minimum(b),
        a.maximum(b)
    ]));
    diff("i64 pow", [a.clone(), b.clone()]).run(f!(|a, b| a.pow(b)));
    diff("i64 comparisons", [a.clone(), b.clone()]).run(f!(|a, b| vec![
        a.eq(b),
        a.ne(b),
        a.lt(b),
        a.le(b),
        a.gt(b),
        a.ge(b)
    ]));
    let (p, q) = (mask(&[3, 4], 3), mask(&[3, 4], 4));
    diff("bool logic", [p.clone(), q.clone()]).run(f!(|p, q| vec![
        p.logical_and(q),
        p.logical_or(q),
        p.logical_xor(q),
        p.eq(q),
        p.add(q)
    ]));
    diff("i32 with i64", [a.to_dtype(DType::I32), b.clone()]).run(f!(|a, b| (a.add(b), a.mul(b))));
}

#[test]
fn scalar_forms_of_binary_ops() {
    let ops: Vec<(&str, Gen, Op1)> = vec![
        ("add_scalar", real, |x| x.add_scalar(1.5)),
        ("sub_scalar", real, |x| x.sub_scalar(0.25)),
        ("rsub_scalar", real, |x| x.rsub_scalar(2.0)),
        ("mul_scalar", real, |x| x.mul_scalar(-3.0)),
        ("div_scalar", real, |x| x.div_scalar(4.0)),
        ("rdiv_scalar", pos, |x| x.rdiv_scalar(2.0)),
        ("pow_scalar", real, |x| x.pow_scalar(3.0)),
        ("pow_scalar fractional", pos, |x| x.pow_scalar(0.5)),
        ("rpow_scalar", real, |x| x.rpow_scalar(2.0)),
        ("rem_scalar", real, |x| x.rem_scalar(0.75)),
        ("minimum_scalar", real, |x| x.minimum_scalar(0.2)),
        ("maximum_scalar", real, |x| x.maximum_scalar(0.2)),
        ("comparisons", int_valued, |x| Tensor::stack(&[&x.eq_scalar(1.0), &x.ne_scalar(0.0), &x.lt_scalar(1.0)], 0)),
        ("more comparisons", int_valued, |x| {
            Tensor::stack(&[&x.le_scalar(1.0), &x.gt_scalar(0.0), &x.ge_scalar(-1)], 0)
        }),
        ("operators", real, |x| (x + 1.0) * 2.0 - x / 3.0 + (1.0 - x) * (2.0 / (x.abs() + 1.0))),
        ("rem operator", real, |x| x % 0.5),
    ];
    for (name, g, op) in ops {
        for (layout, input) in variants(g) {
            diff(format!("{name} ({layout})"), [input]).run(move |xs: &[Tensor]| vec![op(&xs[0])]);
        }
    }
}

#[test]
fn scalar_forms_on_integer_tensors() {
    let x = int(&[3, 4], 5);
    diff("int tensor, int scalars", [x.clone()]).run(f!(|x| vec![
        x.add_scalar(3),
        x.mul_scalar(-2),
        x.sub_scalar(1),
        x.rem_scalar(3),
        x.pow_scalar(2)
    ]));
    diff("int tensor, float scalars", [x.clone()]).run(f!(|x| vec![
        x.add_scalar(0.5),
        x.mul_scalar(1.5),
        x.div_scalar(2),
        x.rdiv_scalar(1.0)
    ]));
    diff("int tensor comparisons", [x.clone()]).run(f!(|x| vec![x.gt_scalar(0), x.eq_scalar(1.0), x.le_scalar(-1)]));
    diff("bool tensor, scalars", [mask(&[5], 1)]).run(f!(|b| vec![
        b.add_scalar(1),
        b.mul_scalar(2.5),
        b.eq_scalar(true)
    ]));
}

// ---------------------------------------------------------------------------------------
// Dtype promotion, casts, where and masked_fill

#[test]
fn dtype_promotion_between_operands() {
    let f32_ = real(&[2, 3], 1);
    let f64_ = real(&[2, 3], 2).to_dtype(DType::F64);
    let f16_ = real(&[2, 3], 3).to_dtype(DType::F16);
    let bf16_ = real(&[2, 3], 4).to_dtype(DType::BF16);
    let i64_ = int(&[2, 3], 5);
    let i32_ = int(&[3], 6).to_dtype(DType::I32);
    let bool_ = mask(&[2, 3], 7);
    let u8_ = int(&[2, 3], 8).abs().to_dtype(DType::U8);
    let all = [&f32_, &f64_, &f16_, &bf16_, &i64_, &i32_, &bool_, &u8_];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i..] {
            let name = format!("{} with {}", a.describe(), b.describe());
            diff(name, [Tensor::clone(a), Tensor::clone(b)]).run(f!(|a, b| vec![a.add(b), a.mul(b), a.lt(b)]));
        }
    }
    diff("f32 with f64 div, pow, where", [f32_.clone(), f64_.abs().add_scalar(0.5)]).run(f!(|a, b| vec![
        a.div(b),
        b.pow(a),
        a.gt_scalar(0.0).where_(a, b)
    ]));
    diff("int with float matmul", [i64_.clone(), f32_.t()]).run(f!(|a, b| a.matmul(b)));
    diff("cat of mixed dtypes", [f16_.clone(), f32_.clone(), i64_.clone()])
        .run(f!(|a, b, c| Tensor::cat(&[a, b, c], 0)));
}

#[test]
fn casts_between_every_pair_of_dtypes() {
    let dtypes = [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64, DType::I32, DType::U8, DType::Bool];
    let base = uniform(&[3, 4], 1, -3.0, 9.0);
    for from in dtypes {
        for to in dtypes {
            let x = if from == DType::U8 { base.abs().to_dtype(from) } else { base.to_dtype(from) };
            diff(format!("cast {from} to {to}"), [x]).run(move |xs: &[Tensor]| vec![xs[0].to_dtype(to)]);
        }
    }
    let x = real(&[4, 3], 2).t();
    diff("cast chain through f16 and bf16 (strided)", [x.clone()]).run(f!(|x| x
        .to_dtype(DType::F16)
        .exp()
        .to_dtype(DType::BF16)
        .mul_scalar(2.0)
        .to_dtype(DType::F32)));
    diff("cast round trip through f64", [x.clone()]).run(f!(|x| x.to_dtype(DType::F64).sin().to_dtype(DType::F32)));
    diff("casts of specials", [specials()]).run(f!(|x| vec![
        x.to_dtype(DType::F16),
        x.to_dtype(DType::BF16),
        x.to_dtype(DType::Bool),
        x.to_dtype(DType::F64)
    ]));
}

#[test]
fn where_and_masked_fill() {
    let (c, a, b) = (mask(&[3, 4], 1), real(&[3, 4], 2), real(&[4], 3));
    diff("where broadcast", [c.clone(), a.clone(), b.clone()]).run(f!(|c, a, b| c.where_(a, b)));
    diff("where with 0-dim branch", [c.clone(), a.clone(), real(&[], 4)]).run(f!(|c, a, b| c.where_(a, b)));
    diff("where mixed dtypes", [c.clone(), a.clone(), b.to_dtype(DType::F64)]).run(f!(|c, a, b| c.where_(a, b)));
    diff("where condition broadcast, strided", [mask(&[4, 1], 5), a.t(), real(&[4, 3], 6)])
        .run(f!(|c, a, b| c.where_(a, b)));
    diff("where size-0", [mask(&[0, 4], 7), real(&[0, 4], 8), b.clone()]).run(f!(|c, a, b| c.where_(a, b)));
    diff("masked_fill", [a.clone(), c.clone()])
        .run(f!(|a, c| vec![a.masked_fill(c, -1.5), a.masked_fill(c, f64::NEG_INFINITY).softmax(-1)]));
    diff("masked_fill broadcast mask", [a.clone(), mask(&[4], 9)]).run(f!(|a, m| a.masked_fill(m, 0.0)));
    diff("masked_fill of ints", [int(&[3, 4], 10), c.clone()]).run(f!(|a, c| a.masked_fill(c, 7)));
}

// ---------------------------------------------------------------------------------------
// Reductions

/// The layouts and dim sets every reduction is run over.
fn reduce_inputs(g: Gen) -> Vec<(&'static str, Tensor)> {
    vec![
        ("contiguous", g(&[2, 3, 4], 1)),
        ("permuted", g(&[4, 2, 3], 2).permute(&[1, 2, 0])),
        ("stepped", g(&[2, 3, 8], 3).slice(2, 0, 8, 2)),
        ("expanded", g(&[1, 3, 4], 4).expand([2, 3, 4])),
    ]
}

const DIM_SETS: [&[isize]; 5] = [&[], &[0], &[-1], &[0, 2], &[1]];

/// Runs `op(x, dims, keepdim)` over every input layout, dim set and keepdim.
fn reduce_cases(name: &str, g: Gen, op: fn(&Tensor, &[isize], bool) -> Tensor) {
    for (layout, x) in reduce_inputs(g) {
        for dims in DIM_SETS {
            for keepdim in [false, true] {
                let what = format!("{name} over {dims:?} keepdim {keepdim} ({layout})");
                diff(what, [x.clone()]).run(move |xs: &[Tensor]| vec![op(&xs[0], dims, keepdim)]);
            }
        }
    }
}

/// Like `reduce_cases` for ops of one dim.
fn reduce_one_dim_cases(name: &str, g: Gen, op: fn(&Tensor, isize, bool) -> Tensor) {
    for (layout, x) in reduce_inputs(g) {
        for dim in [0, 1, -1] {
            for keepdim in [false, true] {
                let what = format!("{name} over {dim} keepdim {keepdim} ({layout})");
                diff(what, [x.clone()]).run(move |xs: &[Tensor]| vec![op(&xs[0], dim, keepdim)]);
            }
        }
    }
}

#[test]
fn reduce_sum() {
    reduce_cases("sum", real, |x, d, k| x.sum_dims(d, k));
    reduce_one_dim_cases("sum", real, |x, d, k| x.sum(d, k));
    diff("sum_all", [real(&[3, 4], 1)]).run(f!(|x| x.sum_all()));
}

#[test]
fn reduce_mean() {
    reduce_cases("mean", real, |x, d, k| x.mean_dims(d, k));
    reduce_one_dim_cases("mean", real, |x, d, k| x.mean(d, k));
    diff("mean_all", [real(&[3, 4], 1)]).run(f!(|x| x.mean_all()));
}

#[test]
fn reduce_prod() {
    reduce_cases("prod", away, |x, d, k| x.prod_dims(d, k));
}

#[test]
fn reduce_max_and_min() {
    reduce_cases("max", real, |x, d, k| x.max_dims(d, k));
    reduce_cases("min", real, |x, d, k| x.min_dims(d, k));
    reduce_one_dim_cases("max", int_valued, |x, d, k| x.max(d, k));
    reduce_one_dim_cases("min", int_valued, |x, d, k| x.min(d, k));
    diff("max_all and min_all with ties", [int_valued(&[4, 5], 3)]).run(f!(|x| (x.max_all(), x.min_all())));
}

#[test]
fn reduce_argmax_and_argmin() {
    reduce_one_dim_cases("argmax", int_valued, |x, d, k| x.argmax(d, k));
    reduce_one_dim_cases("argmin", int_valued, |x, d, k| x.argmin(d, k));
    diff("argmax_all", [real(&[3, 5], 1).t()]).run(f!(|x| x.argmax_all()));
}

#[test]
fn reduce_all_and_any() {
    reduce_cases("all", int_valued, |x, d, k| x.all_dims(d, k));
    reduce_cases("any", int_valued, |x, d, k| x.any_dims(d, k));
    diff("all and any of bools", [mask(&[3, 4], 2)]).run(f!(|m| vec![m.all_dims(&[1], false), m.any_dims(&[0], true)]));
}

#[test]
fn reduce_var_and_std() {
    reduce_cases("var", real, |x, d, k| x.var_dims(d, 1, k));
    reduce_cases("var biased", real, |x, d, k| x.var_dims(d, 0, k));
    reduce_cases("std", real, |x, d, k| x.std_dims(d, 1, k));
    reduce_one_dim_cases("var", real, |x, d, k| x.var(d, k));
    reduce_one_dim_cases("std", real, |x, d, k| x.std(d, k));
    diff("var of ints", [int(&[3, 4], 1)]).run(f!(|x| x.var(1, false)));
}

#[test]
fn reduce_logsumexp() {
    reduce_cases("logsumexp", real, |x, d, k| x.logsumexp(d, k));
    let rows = f32s(&[f32::NEG_INFINITY, f32::NEG_INFINITY, 1.0, 2.0, 1000.0, 1000.0], &[3, 2]);
    diff("logsumexp of infinite and large rows", [rows]).run(f!(|x| x.logsumexp(&[1], false)));
}

#[test]
fn reduce_cumsum() {
    for (layout, x) in reduce_inputs(real) {
        for dim in [0, 1, 2, -1] {
            diff(format!("cumsum over {dim} ({layout})"), [x.clone()])
                .run(move |xs: &[Tensor]| vec![xs[0].cumsum(dim)]);
        }
    }
    diff("cumsum of ints and bools", [int(&[3, 4], 1).to_dtype(DType::I32), mask(&[5], 2)])
        .run(f!(|i, b| (i.cumsum(1), b.cumsum(0))));
}

#[test]
fn reductions_of_integer_and_bool_tensors() {
    let (i, b) = (int(&[3, 4], 1), mask(&[3, 4], 2));
    diff("int reductions", [i.clone()]).run(f!(|i| vec![
        i.sum_all(),
        i.sum(0, false),
        i.mean(1, true),
        i.prod_dims(&[1], false),
        i.max(0, false),
        i.min_dims(&[], false),
        i.argmax(1, false),
        i.all_dims(&[1], false),
        i.any_dims(&[], false)
    ]));
    diff("bool reductions", [b.clone()]).run(f!(|b| vec![
        b.sum_all(),
        b.sum(1, true),
        b.mean_all(),
        b.all_dims(&[], false)
    ]));
}

#[test]
fn reductions_over_size_0_dims() {
    let empty = real(&[0, 3], 1);
    diff("reductions of an empty dim", [empty.clone()]).run(f!(|x| vec![
        x.sum(0, false),
        x.sum(1, false),
        x.sum_all(),
        x.mean(0, true),
        x.prod_dims(&[0], false),
        x.all_dims(&[0], false),
        x.any_dims(&[0], false),
        x.cumsum(0),
        x.max(1, false),
        x.var(0, false)
    ]));
    diff("sum over a size-1 dim", [real(&[3, 1, 2], 2)]).run(f!(|x| (
        x.sum(1, false),
        x.max(1, true),
        x.argmin(1, false)
    )));
    diff("reductions of a 0-dim tensor", [real(&[], 3)]).run(f!(|x| (x.sum_all(), x.mean_all(), x.max_all())));
}

#[test]
fn all_and_any_read_on_the_host() {
    // `all()` and `any()` return Rust bools: a host read inside the compiled function.
    diff("all and any", [int_valued(&[3, 4], 1)]).breaks().run(f!(|x| {
        let flag = x.all() || x.gt_scalar(1.5).any();
        x.mul_scalar(if flag { 2.0 } else { 3.0 })
    }));
    diff("item", [real(&[3], 2)]).breaks().run(f!(|x| x.mul_scalar(x.sum_all().item::<f32>() as f64)));
    diff("item_f64 and to_vec", [real(&[3], 3)])
        .breaks()
        .run(f!(|x| x.add_scalar(x.max_all().item_f64() + x.to_vec::<f32>()[0] as f64)));
}

// ---------------------------------------------------------------------------------------
// Movement ops

#[test]
fn movement_reshape_and_view() {
    for (layout, x) in variants(real).into_iter().filter(|(_, x)| x.rank() == 2 && x.numel() == 15) {
        diff(format!("reshape ({layout})"), [x.clone()]).run(f!(|x| vec![
            x.reshape([5, 3]),
            x.reshape([15]),
            x.reshape([1, 3, 1, 5])
        ]));
        diff(format!("reshape_infer ({layout})"), [x.clone()]).run(f!(|x| x.reshape_infer(&[-1, 5])));
    }
    diff("view", [real(&[2, 6], 1)]).run(f!(|x| vec![x.view([3, 4]), x.view([12]), x.view([2, 3, 2])]));
    diff("view of a traced value", [real(&[4, 3], 2).t()]).run(f!(|x| x.exp().view([12])));
    diff("reshape size-0", [real(&[0, 6], 3)]).run(f!(|x| vec![x.reshape([3, 0, 2]), x.reshape_infer(&[2, -1, 3])]));
    diff("reshape 0-dim", [real(&[], 4)]).run(f!(|x| vec![x.reshape([1, 1]), x.reshape([1]).reshape(())]));
}

#[test]
fn movement_permute_transpose_t() {
    let x = real(&[2, 3, 4], 1);
    diff("permute", [x.clone()]).run(f!(|x| vec![x.permute(&[2, 0, 1]), x.permute(&[-1, -3, -2])]));
    diff("transpose", [x.clone()]).run(f!(|x| vec![x.transpose(0, 2), x.transpose(-1, 1), x.transpose(1, 1)]));
    diff("mt", [x.clone()]).run(f!(|x| x.mt()));
    diff("t", [real(&[3, 4], 2)]).run(f!(|x| vec![x.t(), x.t().t()]));
    diff("t of 1-d and 0-dim", [real(&[4], 3), real(&[], 4)]).run(f!(|a, b| (a.t(), b.t())));
    diff("permute of strided", [real(&[8, 3, 4], 5).slice(0, 0, 8, 4)]).run(f!(|x| x.permute(&[1, 2, 0]).exp()));
    diff("permute then reshape copies", [x.clone()]).run(f!(|x| x.permute(&[2, 1, 0]).reshape([4, 6])));
}

#[test]
fn movement_narrow_slice_select() {
    let x = real(&[5, 6], 1);
    diff("narrow", [x.clone()]).run(f!(|x| vec![x.narrow(0, 1, 3), x.narrow(-1, 2, 4), x.narrow(1, 6, 0)]));
    diff("slice with steps", [x.clone()]).run(f!(|x| vec![
        x.slice(0, 0, 5, 2),
        x.slice(1, 1, 6, 3),
        x.slice(1, -4, -1, 1),
        x.slice(0, 3, 100, 1),
        x.slice(1, 0, 6, 7),
        x.slice(0, 4, 2, 1)
    ]));
    diff("slice of slice", [x.clone()]).run(f!(|x| x.slice(1, 1, 6, 2).slice(0, 1, 5, 2).slice(1, 0, 3, 2)));
    diff("select", [x.clone()]).run(f!(|x| vec![x.select(0, 2), x.select(1, 5), x.select(-1, 0)]));
    diff("select of transposed", [x.t()]).run(f!(|x| x.select(1, 3)));
}

#[test]
fn movement_expand_squeeze_unsqueeze() {
    let x = real(&[3, 1], 1);
    diff("expand", [x.clone()]).run(f!(|x| vec![x.expand([3, 4]), x.expand([2, 3, 4]), x.broadcast_to([3, 2])]));
    diff("expand_as", [x.clone(), real(&[2, 3, 5], 2)]).run(f!(|x, y| x.expand_as(y).add(y)));
    diff("expand size-0", [real(&[1, 3], 3)]).run(f!(|x| x.expand([0, 3])));
    let y = real(&[1, 3, 1, 2], 4);
    diff("squeeze", [y.clone()]).run(f!(|y| vec![
        y.squeeze(0),
        y.squeeze(2),
        y.squeeze(1),
        y.squeeze(-2),
        y.squeeze_all()
    ]));
    diff("unsqueeze", [real(&[3, 2], 5)]).run(f!(|x| vec![
        x.unsqueeze(0),
        x.unsqueeze(1),
        x.unsqueeze(2),
        x.unsqueeze(-1)
    ]));
    diff("unsqueeze of strided", [real(&[2, 3], 6).t()]).run(f!(|x| x.unsqueeze(1).expand([3, 4, 2])));
}

#[test]
fn movement_flatten_unflatten() {
    let x = real(&[2, 3, 4], 1);
    diff("flatten", [x.clone()]).run(f!(|x| vec![x.flatten(0, -1), x.flatten(1, 2), x.flatten(0, 1), x.flatten(1, 1)]));
    diff("flatten transposed", [x.transpose(0, 2)]).run(f!(|x| x.flatten(0, 1)));
    diff("flatten 0-dim", [real(&[], 2)]).run(f!(|x| x.flatten(0, 0)));
    diff("unflatten", [x.clone()]).run(f!(|x| vec![
        x.unflatten(2, &[2, 2]),
        x.unflatten(1, &[-1, 1]),
        x.unflatten(0, &[1, 2])
    ]));
}

#[test]
fn movement_split_chunk() {
    let x = real(&[7, 4], 1);
    diff("split", [x.clone()]).run(f!(|x| x.split(3, 0)));
    diff("split last dim", [x.t()]).run(f!(|x| x.split(2, -1)));
    diff("split_sizes", [x.clone()]).run(f!(|x| x.split_sizes(&[1, 0, 4, 2], 0)));
    diff("chunk", [x.clone()]).run(f!(|x| x.chunk(3, 0)));
    diff("chunk of dim 1", [x.clone()]).run(f!(|x| x.chunk(4, 1)));
    diff("chunks used in a sum", [x.clone()]).run(f!(|x| {
        let parts = x.chunk(2, 1);
        parts[0].mul(&parts[1])
    }));
    diff("split of size-0", [real(&[0, 4], 2)]).run(f!(|x| x.split(2, 1)));
}

#[test]
fn movement_repeat() {
    let x = real(&[2, 3], 1);
    diff("repeat", [x.clone()]).run(f!(|x| vec![
        x.repeat(&[2, 1]),
        x.repeat(&[1, 3]),
        x.repeat(&[2, 2, 2]),
        x.repeat(&[1, 1])
    ]));
    diff("repeat strided", [x.t()]).run(f!(|x| x.repeat(&[3, 1])));
    diff("repeat zero times", [x.clone()]).run(f!(|x| x.repeat(&[0, 2])));
}

#[test]
fn movement_cat_stack() {
    let (a, b, c) = (real(&[2, 3], 1), real(&[4, 3], 2), real(&[1, 3], 3));
    diff("cat dim 0", [a.clone(), b.clone(), c.clone()]).run(f!(|a, b, c| Tensor::cat(&[a, b, c], 0)));
    diff("cat dim 1 strided", [a.t(), b.t()]).run(f!(|a, b| Tensor::cat(&[a, b], -1)));
    diff("cat with an empty piece", [a.clone(), real(&[0, 3], 4)]).run(f!(|a, e| Tensor::cat(&[a, e, a], 0)));
    diff("cat of one", [a.clone()]).run(f!(|a| Tensor::cat(&[a], 1)));
    diff("cat of expanded", [c.clone(), a.clone()]).run(f!(|c, a| Tensor::cat(&[&c.expand([2, 3]), a], 1)));
    diff("cat of f32 and f64", [a.clone(), b.to_dtype(DType::F64)]).run(f!(|a, b| Tensor::cat(&[a, b], 0)));
    diff("cat of ints", [int(&[2, 2], 5), int(&[1, 2], 6)]).run(f!(|a, b| Tensor::cat(&[a, b], 0)));
    let d = real(&[2, 3], 7);
    for dim in [0, 1, 2, -1] {
        diff(format!("stack dim {dim}"), [a.clone(), d.clone()])
            .run(move |xs: &[Tensor]| vec![Tensor::stack(&[&xs[0], &xs[1], &xs[0]], dim)]);
    }
}

#[test]
fn movement_flip_roll() {
    let x = real(&[3, 4, 2], 1);
    diff("flip", [x.clone()]).run(f!(|x| vec![x.flip(&[0]), x.flip(&[-1, 1]), x.flip(&[0, 1, 2]), x.flip(&[])]));
    diff("flip strided", [x.transpose(0, 1)]).run(f!(|x| x.flip(&[0])));
    diff("roll", [x.clone()]).run(f!(|x| vec![
        x.roll(&[1], &[0]),
        x.roll(&[-3, 5], &[1, 2]),
        x.roll(&[7], &[]),
        x.roll(&[0], &[1])
    ]));
    diff("roll strided", [x.slice(1, 0, 4, 2)]).run(f!(|x| x.roll(&[1], &[1])));
}

#[test]
fn movement_pad_all_modes() {
    let x = real(&[2, 3, 4], 1);
    for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Replicate] {
        let cases: Vec<&[usize]> = vec![&[1, 2], &[0, 3], &[1, 1, 2, 0], &[2, 1, 1, 2, 1, 1]];
        for pads in cases {
            for (layout, input) in [("contiguous", x.clone()), ("transposed", real(&[2, 4, 3], 2).transpose(1, 2))] {
                let what = format!("pad {pads:?} {mode:?} ({layout})");
                diff(what, [input]).run(move |xs: &[Tensor]| vec![xs[0].pad(pads, mode, 0.5)]);
            }
        }
        diff(format!("pad_dims {mode:?}"), [x.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].pad_dims(&[(0, 1), (1, 0), (2, 3)], mode, -1.0)]);
    }
    diff("pad of ints", [int(&[3, 3], 3)])
        .run(f!(|x| vec![x.pad(&[1, 1], PadMode::Constant, 7.0), x.pad(&[2, 0], PadMode::Reflect, 0.0)]));
    diff("constant pad of size-0", [real(&[0, 2], 4)]).run(f!(|x| x.pad(&[1, 1, 2, 0], PadMode::Constant, 1.0)));
}

#[test]
fn movement_contiguous_and_copies() {
    let x = real(&[4, 3], 1);
    diff("contiguous", [x.t()]).run(f!(|x| vec![x.contiguous(), x.contiguous_copy(), x.deep_clone()]));
    diff("contiguous of contiguous", [x.clone()]).run(f!(|x| x.contiguous().mul_scalar(2.0)));
    diff("detach", [x.clone()]).run(f!(|x| x.detach().mul(x)));
}

// ---------------------------------------------------------------------------------------
// Matrix products

#[test]
fn matmul_all_rank_combinations() {
    let cases: Vec<(&str, Tensor, Tensor)> = vec![
        ("1-d @ 1-d", real(&[4], 1), real(&[4], 2)),
        ("1-d @ 2-d", real(&[4], 3), real(&[4, 3], 4)),
        ("2-d @ 1-d", real(&[3, 4], 5), real(&[4], 6)),
        ("2-d @ 2-d", real(&[3, 4], 7), real(&[4, 5], 8)),
        ("3-d @ 3-d", real(&[2, 3, 4], 9), real(&[2, 4, 5], 10)),
        ("3-d @ 2-d", real(&[2, 3, 4], 11), real(&[4, 5], 12)),
        ("2-d @ 3-d", real(&[3, 4], 13), real(&[2, 4, 5], 14)),
        ("1-d @ 3-d", real(&[4], 15), real(&[2, 4, 5], 16)),
        ("3-d @ 1-d", real(&[2, 3, 4], 17), real(&[4], 18)),
        ("broadcast batch", real(&[2, 1, 3, 4], 19), real(&[5, 4, 2], 20)),
        ("broadcast size-1 batch", real(&[1, 3, 4], 21), real(&[3, 4, 2], 22)),
        ("transposed operands", real(&[4, 3], 23).t(), real(&[5, 4], 24).t()),
        ("column-major weight", real(&[6, 4], 25), real(&[3, 4], 26).t()),
        ("stepped operands", real(&[3, 8], 27).slice(1, 0, 8, 2), real(&[8, 5], 28).slice(0, 1, 8, 2)),
        ("expanded batch", real(&[1, 3, 4], 29).expand([2, 3, 4]), real(&[2, 4, 2], 30)),
        ("size-0 rows", real(&[0, 4], 33), real(&[4, 2], 34)),
        ("size-1 dims", real(&[1, 4], 35), real(&[4, 1], 36)),
        ("f32 @ f64", real(&[3, 4], 37), real(&[4, 2], 38).to_dtype(DType::F64)),
        ("f64 @ f64", real(&[3, 4], 39).to_dtype(DType::F64), real(&[4, 2], 40).to_dtype(DType::F64)),
        ("f16 @ f16", real(&[3, 4], 41).to_dtype(DType::F16), real(&[4, 2], 42).to_dtype(DType::F16)),
        ("bf16 @ bf16", real(&[3, 4], 43).to_dtype(DType::BF16), real(&[4, 2], 44).to_dtype(DType::BF16)),
        ("i64 @ i64", int(&[3, 4], 45), int(&[4, 2], 46)),
    ];
    for (name, a, b) in cases {
        diff(format!("matmul {name}"), [a, b]).run(f!(|a, b| a.matmul(b)));
    }
}

/// The backward of `matmul` with a size-0 inner dim (the weight-gradient path once computed
/// its row count as `numel / k`, 0 when `k` is 0, and panicked).
#[test]
fn matmul_with_a_size_0_inner_dim() {
    diff("matmul size-0 inner dim", [real(&[3, 0], 31), real(&[0, 4], 32)]).run(f!(|a, b| a.matmul(b)));
}

#[test]
fn linear_with_and_without_bias() {
    let (x, w, b) = (real(&[5, 4], 1), real(&[3, 4], 2), real(&[3], 3));
    diff("linear", [x.clone(), w.clone(), b.clone()]).run(f!(|x, w, b| x.linear(w, Some(b))));
    diff("linear without bias", [x.clone(), w.clone()]).run(f!(|x, w| x.linear(w, None)));
    diff("linear of 3-d input", [real(&[2, 5, 4], 4), w.clone(), b.clone()]).run(f!(|x, w, b| x.linear(w, Some(b))));
    diff("linear of 1-d input", [real(&[4], 5), w.clone(), b.clone()]).run(f!(|x, w, b| x.linear(w, Some(b))));
    diff("linear of strided input", [real(&[4, 5], 6).t(), w.clone(), b.clone()])
        .run(f!(|x, w, b| x.linear(w, Some(b))));
    diff("linear of empty batch", [real(&[0, 4], 7), w.clone(), b.clone()]).run(f!(|x, w, b| x.linear(w, Some(b))));
}

// ---------------------------------------------------------------------------------------
// Index ops

#[test]
fn index_select_and_embedding() {
    let x = real(&[5, 4], 1);
    let idx = i64s(&[4, 0, 2, 2], &[4]);
    diff("index_select dim 0", [x.clone(), idx.clone()]).run(f!(|x, i| x.index_select(0, i)));
    diff("index_select dim 1", [x.clone(), i64s(&[3, 1, 3], &[3])]).run(f!(|x, i| x.index_select(-1, i)));
    diff("index_select strided", [x.t(), idx.clone()]).run(f!(|x, i| x.index_select(1, i)));
    diff("index_select i32", [x.clone(), idx.to_dtype(DType::I32)]).run(f!(|x, i| x.index_select(0, i)));
    diff("index_select empty index", [x.clone(), i64s(&[], &[0])]).run(f!(|x, i| x.index_select(0, i)));
    let captured = idx.clone();
    diff("index_select captured index", [x.clone()]).run(move |xs: &[Tensor]| vec![xs[0].index_select(0, &captured)]);
    let ids = i64s(&[1, 4, 4, 0, 2, 3], &[2, 3]);
    diff("embedding", [x.clone(), ids.clone()]).run(f!(|w, ids| w.embedding(ids)));
    diff("embedding 1-d ids", [x.clone(), i64s(&[3, 3, 1], &[3])]).run(f!(|w, ids| w.embedding(ids)));
}

#[test]
fn gather_scatter_index_add() {
    let x = real(&[3, 4], 1);
    let idx0 = i64s(&[2, 0, 1, 2, 0, 0, 2, 1], &[2, 4]);
    let idx1 = i64s(&[3, 0, 1, 1, 2, 3], &[3, 2]);
    diff("gather dim 0", [x.clone(), idx0.clone()]).run(f!(|x, i| x.gather(0, i)));
    diff("gather dim 1", [x.clone(), idx1.clone()]).run(f!(|x, i| x.gather(1, i)));
    diff("gather strided", [x.t(), i64s(&[0, 2, 1, 1], &[4, 1])]).run(f!(|x, i| x.gather(1, i)));
    // Scatter indices without repeats along the scattered dim, so the result does not
    // depend on write order.
    let unique0 = i64s(&[2, 0, 1, 0, 1, 2, 0, 1], &[2, 4]);
    diff("scatter dim 0", [x.clone(), unique0.clone(), real(&[2, 4], 2)]).run(f!(|x, i, s| x.scatter(0, i, s)));
    diff("scatter larger src", [x.clone(), unique0.clone(), real(&[3, 5], 3)]).run(f!(|x, i, s| x.scatter(0, i, s)));
    diff("scatter dim 1", [x.clone(), i64s(&[3, 0, 1, 2, 0, 3], &[3, 2]), real(&[3, 2], 4)])
        .run(f!(|x, i, s| x.scatter(1, i, s)));
    diff("scatter_add dim 0", [x.clone(), idx0.clone(), real(&[2, 4], 5)]).run(f!(|x, i, s| x.scatter_add(0, i, s)));
    diff("scatter_add dim 1", [x.clone(), idx1.clone(), real(&[3, 2], 6)]).run(f!(|x, i, s| x.scatter_add(1, i, s)));
    diff("scatter_add f64 src", [x.clone(), idx1.clone(), real(&[3, 2], 7).to_dtype(DType::F64)])
        .run(f!(|x, i, s| x.scatter_add(1, i, s)));
    let rows = i64s(&[2, 0, 2], &[3]);
    diff("index_add dim 0", [x.clone(), rows.clone(), real(&[3, 4], 8)]).run(f!(|x, i, s| x.index_add(0, i, s)));
    diff("index_add dim 1", [x.clone(), i64s(&[1, 1], &[2]), real(&[3, 2], 9)]).run(f!(|x, i, s| x.index_add(1, i, s)));
    diff("index_add strided", [x.t(), rows.clone(), real(&[3, 3], 10)]).run(f!(|x, i, s| x.index_add(0, i, s)));
}

#[test]
fn one_hot_and_masked_select() {
    diff("one_hot", [i64s(&[0, 3, 1, 1, 2, 0], &[2, 3])])
        .run(f!(|i| vec![i.one_hot(4), i.one_hot(5).to_dtype(DType::F32)]));
    diff("one_hot i32 empty", [i64s(&[], &[0]).to_dtype(DType::I32)]).run(f!(|i| i.one_hot(3)));
    // masked_select reads the mask on the host to size its result.
    diff("masked_select", [real(&[3, 4], 1), mask(&[3, 4], 2)]).breaks().run(f!(|x, m| x.masked_select(m)));
    diff("masked_select broadcast", [real(&[3, 4], 3), mask(&[4], 4)])
        .breaks()
        .run(f!(|x, m| x.masked_select(m).exp()));
}

// ---------------------------------------------------------------------------------------
// Softmax and normalization

#[test]
fn softmax_and_log_softmax() {
    for (layout, x) in reduce_inputs(real) {
        for dim in [0, 1, 2, -1] {
            diff(format!("softmax over {dim} ({layout})"), [x.clone()])
                .run(move |xs: &[Tensor]| vec![xs[0].softmax(dim)]);
            diff(format!("log_softmax over {dim} ({layout})"), [x.clone()])
                .run(move |xs: &[Tensor]| vec![xs[0].log_softmax(dim)]);
        }
    }
    diff("softmax of ints", [int(&[2, 5], 1)]).run(f!(|x| (x.softmax(1), x.log_softmax(0))));
    diff("softmax of f64 and f16", [real(&[2, 5], 2).to_dtype(DType::F64), real(&[2, 5], 3).to_dtype(DType::F16)])
        .run(f!(|a, b| (a.softmax(-1), b.softmax(-1), b.log_softmax(-1))));
    diff("softmax with -inf", [real(&[3, 4], 4), mask(&[3, 4], 5)])
        .run(f!(|x, m| x.masked_fill(m, f64::NEG_INFINITY).softmax(0)));
    diff("softmax size-0", [real(&[0, 4], 6)]).run(f!(|x| (x.softmax(1), x.log_softmax(0))));
    diff("softmax of large logits", [real(&[2, 3], 7).mul_scalar(500.0)]).run(f!(|x| (x.softmax(1), x.log_softmax(1))));
}

#[test]
fn layer_norm_with_and_without_affine() {
    let x = real(&[2, 3, 4], 1);
    let (w, b) = (real(&[4], 2), real(&[4], 3));
    diff("layer_norm", [x.clone()]).run(f!(|x| x.layer_norm(&[4], None, None, 1e-5)));
    diff("layer_norm weight", [x.clone(), w.clone()]).run(f!(|x, w| x.layer_norm(&[4], Some(w), None, 1e-5)));
    diff("layer_norm weight and bias", [x.clone(), w.clone(), b.clone()]).run(f!(|x, w, b| x.layer_norm(
        &[4],
        Some(w),
        Some(b),
        1e-5
    )));
    diff("layer_norm over 2 dims", [x.clone(), real(&[3, 4], 4), real(&[3, 4], 5)]).run(f!(|x, w, b| x.layer_norm(
        &[3, 4],
        Some(w),
        Some(b),
        1e-3
    )));
    diff("layer_norm strided", [real(&[2, 4, 3], 6).transpose(1, 2), w.clone(), b.clone()])
        .run(f!(|x, w, b| x.layer_norm(&[4], Some(w), Some(b), 1e-5)));
    diff("layer_norm f64", [x.to_dtype(DType::F64), w.to_dtype(DType::F64)]).run(f!(|x, w| x.layer_norm(
        &[4],
        Some(w),
        None,
        1e-5
    )));
    diff("layer_norm 1-d and size-0 rows", [real(&[4], 7), real(&[0, 4], 8)])
        .run(f!(|a, b| (a.layer_norm(&[4], None, None, 1e-5), b.layer_norm(&[4], None, None, 1e-5))));
}

/// `layer_norm` with a bias but no weight: the graph op takes its optional inputs by
/// position, so the tracer passes a weight of ones (the bias was once read as the weight).
#[test]
fn layer_norm_with_bias_but_no_weight() {
    diff("layer_norm bias only", [real(&[2, 3, 4], 1), real(&[4], 3)]).run(f!(|x, b| x.layer_norm(
        &[4],
        None,
        Some(b),
        1e-5
    )));
}

#[test]
fn rms_norm_with_and_without_weight() {
    let x = real(&[2, 3, 4], 1);
    let w = real(&[4], 2);
    diff("rms_norm", [x.clone()]).run(f!(|x| x.rms_norm(&[4], None, 1e-6)));
    diff("rms_norm weight", [x.clone(), w.clone()]).run(f!(|x, w| x.rms_norm(&[4], Some(w), 1e-6)));
    diff("rms_norm over 2 dims", [x.clone(), real(&[3, 4], 3)]).run(f!(|x, w| x.rms_norm(&[3, 4], Some(w), 1e-5)));
    diff("rms_norm strided", [real(&[4, 3], 4).t(), w.clone()]).run(f!(|x, w| x.rms_norm(&[4], Some(w), 1e-6)));
    diff("rms_norm f64", [x.to_dtype(DType::F64)]).run(f!(|x| x.rms_norm(&[4], None, 1e-6)));
}

// ---------------------------------------------------------------------------------------
// Losses

const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];

#[test]
fn regression_losses() {
    let (x, y) = (real(&[3, 4], 1), real(&[3, 4], 2));
    for r in REDUCTIONS {
        diff(format!("mse {r:?}"), [x.clone(), y.clone()]).run(move |xs: &[Tensor]| vec![xs[0].mse_loss(&xs[1], r)]);
        diff(format!("l1 {r:?}"), [x.clone(), y.clone()]).run(move |xs: &[Tensor]| vec![xs[0].l1_loss(&xs[1], r)]);
        for beta in [0.0, 0.5, 1.0] {
            diff(format!("smooth_l1 beta {beta} {r:?}"), [x.clone(), y.clone()])
                .run(move |xs: &[Tensor]| vec![xs[0].smooth_l1_loss(&xs[1], r, beta)]);
        }
    }
    diff("mse strided", [x.t(), real(&[4, 3], 3)]).run(f!(|x, y| x.mse_loss(y, Reduction::Mean)));
    diff("mse size-0", [real(&[0, 2], 4), real(&[0, 2], 5)]).run(f!(|x, y| x.mse_loss(y, Reduction::Sum)));
}

#[test]
fn cross_entropy_with_options() {
    let logits = real(&[4, 5], 1);
    let target = i64s(&[1, 0, 4, 2], &[4]);
    let ignoring = i64s(&[1, -100, 4, 2], &[4]);
    for reduction in REDUCTIONS {
        for label_smoothing in [0.0, 0.1] {
            for ignore_index in [None, Some(-100)] {
                let options = CrossEntropyOptions { ignore_index, label_smoothing, reduction };
                let t = if ignore_index.is_some() { ignoring.clone() } else { target.clone() };
                let what = format!("cross_entropy {options:?}");
                diff(what, [logits.clone(), t]).run(move |xs: &[Tensor]| vec![xs[0].cross_entropy(&xs[1], &options)]);
            }
        }
    }
    let default = CrossEntropyOptions::default();
    diff("cross_entropy probabilities", [logits.clone(), real(&[4, 5], 2).softmax(1)])
        .run(f!(|x, p| x.cross_entropy(p, &CrossEntropyOptions::default())));
    let smoothed = CrossEntropyOptions { label_smoothing: 0.2, ..Default::default() };
    diff("cross_entropy probabilities smoothed", [logits.clone(), real(&[4, 5], 3).softmax(1)])
        .run(move |xs: &[Tensor]| vec![xs[0].cross_entropy(&xs[1], &smoothed)]);
    diff("cross_entropy 1-d logits", [real(&[5], 4), i64s(&[3], &[])])
        .run(move |xs: &[Tensor]| vec![xs[0].cross_entropy(&xs[1], &default)]);
    diff("cross_entropy [N, C, L] logits", [real(&[2, 5, 3], 5), i64s(&[0, 1, 4, 3, 3, 2], &[2, 3])])
        .run(f!(|x, t| x.cross_entropy(t, &CrossEntropyOptions::default())));
    diff("cross_entropy strided logits, i32 targets", [real(&[5, 4], 6).t(), target.to_dtype(DType::I32)])
        .run(f!(|x, t| x.cross_entropy(t, &CrossEntropyOptions::default())));
}

#[test]
fn nll_loss_with_options() {
    let log_probs = real(&[4, 5], 1).log_softmax(1);
    let target = i64s(&[1, 0, 4, 2], &[4]);
    for reduction in REDUCTIONS {
        diff(format!("nll {reduction:?}"), [log_probs.clone(), target.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].nll_loss(&xs[1], None, reduction)]);
        diff(format!("nll ignore_index {reduction:?}"), [log_probs.clone(), i64s(&[1, 3, 3, 2], &[4])])
            .run(move |xs: &[Tensor]| vec![xs[0].nll_loss(&xs[1], Some(3), reduction)]);
    }
    diff("nll [N, C, L]", [real(&[2, 5, 3], 2), i64s(&[0, 1, 4, 3, 3, 2], &[2, 3])])
        .run(f!(|x, t| x.log_softmax(1).nll_loss(t, Some(4), Reduction::Mean)));
}

#[test]
fn binary_cross_entropy_and_kl_div() {
    let (p, y) = (prob(&[3, 4], 1), prob(&[3, 4], 2));
    let hard = mask(&[3, 4], 3).to_dtype(DType::F32);
    for r in REDUCTIONS {
        diff(format!("bce {r:?}"), [p.clone(), y.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].binary_cross_entropy(&xs[1], r)]);
        diff(format!("bce with logits {r:?}"), [real(&[3, 4], 4).mul_scalar(3.0), hard.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].binary_cross_entropy_with_logits(&xs[1], r)]);
    }
    diff("bce at 0 and 1", [f32s(&[0.0, 1.0, 0.5, 1.0], &[4]), f32s(&[1.0, 0.0, 0.5, 1.0], &[4])])
        .run(f!(|p, y| p.binary_cross_entropy(y, Reduction::None)));
    let log_q = real(&[3, 4], 5).log_softmax(1);
    let target = real(&[3, 4], 6).softmax(1);
    let with_zeros = Tensor::cat(&[&target.narrow(1, 0, 3), &Tensor::zeros([3, 1], DType::F32)], 1);
    for r in [Reduction::Mean, Reduction::Sum, Reduction::None, Reduction::BatchMean] {
        diff(format!("kl_div {r:?}"), [log_q.clone(), with_zeros.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].kl_div(&xs[1], r, false)]);
        diff(format!("kl_div log_target {r:?}"), [log_q.clone(), target.log()])
            .run(move |xs: &[Tensor]| vec![xs[0].kl_div(&xs[1], r, true)]);
    }
}

#[test]
fn loss_modules() {
    let (x, y) = (real(&[3, 4], 1), real(&[3, 4], 2));
    diff("MSELoss", [x.clone(), y.clone()]).run(f!(|x, y| MSELoss::new().forward(x, y)));
    diff("L1Loss sum", [x.clone(), y.clone()]).run(f!(|x, y| L1Loss::with_reduction(Reduction::Sum).forward(x, y)));
    diff("SmoothL1Loss", [x.clone(), y.clone()]).run(f!(|x, y| SmoothL1Loss::default().forward(x, y)));
    diff("BCELoss", [prob(&[3, 4], 3), prob(&[3, 4], 4)]).run(f!(|p, y| BCELoss::new().forward(p, y)));
    diff("BCEWithLogitsLoss", [x.clone(), prob(&[3, 4], 5)]).run(f!(|x, y| BCEWithLogitsLoss::new().forward(x, y)));
    diff("CrossEntropyLoss", [x.clone(), i64s(&[0, 3, 2], &[3])]).run(f!(|x, t| CrossEntropyLoss::new().forward(x, t)));
    diff("NLLLoss", [x.log_softmax(1), i64s(&[0, 3, 2], &[3])]).run(f!(|x, t| NLLLoss::default().forward(x, t)));
    diff("KLDivLoss", [x.log_softmax(1), y.softmax(1)]).run(f!(|x, t| KLDivLoss::default().forward(x, t)));
}

// ---------------------------------------------------------------------------------------
// Convolution and pooling (graph breaks: they run eagerly inside compiled functions)

#[test]
fn conv1d_options() {
    let x = real(&[2, 4, 9], 1);
    let cases: Vec<(&str, ConvOptions, usize)> = vec![
        ("plain", ConvOptions::new(1), 1),
        ("stride 2 padding 1", ConvOptions::new(1).stride(2).padding(1), 1),
        ("dilation 2", ConvOptions::new(1).dilation(2), 1),
        ("groups 2", ConvOptions::new(1).groups(2).padding(2), 2),
    ];
    for (name, options, groups) in cases {
        let (w, b) = (real(&[6, 4 / groups, 3], 2), real(&[6], 3));
        let o = options.clone();
        diff(format!("conv1d {name}"), [x.clone(), w.clone(), b.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].conv1d(&xs[1], Some(&xs[2]), &o)]);
        diff(format!("conv1d {name} without bias"), [x.clone(), w])
            .run(move |xs: &[Tensor]| vec![xs[0].conv1d(&xs[1], None, &options)]);
    }
}

#[test]
fn conv2d_options() {
    let x = real(&[2, 4, 7, 6], 1);
    let cases: Vec<(&str, ConvOptions, usize)> = vec![
        ("plain", ConvOptions::new(2), 1),
        ("stride 2", ConvOptions::new(2).stride(2), 1),
        ("padding 1", ConvOptions::new(2).padding(1), 1),
        ("dilation 2", ConvOptions::new(2).dilation(2).padding(1), 1),
        ("groups 2", ConvOptions::new(2).groups(2), 2),
        ("depthwise", ConvOptions::new(2).groups(4).padding(1), 4),
    ];
    for (name, options, groups) in cases {
        let (w, b) = (real(&[4, 4 / groups, 3, 2], 2), real(&[4], 3));
        let o = options.clone();
        diff(format!("conv2d {name}"), [x.clone(), w.clone(), b.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].conv2d(&xs[1], Some(&xs[2]), &o)]);
        diff(format!("conv2d {name} without bias, strided input"), [real(&[2, 4, 6, 7], 4).transpose(2, 3), w])
            .run(move |xs: &[Tensor]| vec![xs[0].conv2d(&xs[1], None, &options)]);
    }
}

#[test]
fn conv_transpose2d_options() {
    let x = real(&[2, 4, 3, 4], 1);
    let cases: Vec<(&str, ConvOptions, [usize; 2], usize)> = vec![
        ("plain", ConvOptions::new(2), [0, 0], 1),
        ("stride 2", ConvOptions::new(2).stride(2), [0, 0], 1),
        ("stride 2 output_padding", ConvOptions::new(2).stride(2), [1, 0], 1),
        ("padding 1", ConvOptions::new(2).padding(1), [0, 0], 1),
        ("dilation 2", ConvOptions::new(2).dilation(2), [0, 0], 1),
        ("dilation 2 stride 2 output_padding", ConvOptions::new(2).dilation(2).stride(2), [1, 1], 1),
        ("groups 2", ConvOptions::new(2).groups(2).stride(2), [0, 0], 2),
    ];
    for (name, options, output_padding, groups) in cases {
        let (w, b) = (real(&[4, 6 / groups, 3, 3], 2), real(&[6], 3));
        diff(format!("conv_transpose2d {name}"), [x.clone(), w, b])
            .run(move |xs: &[Tensor]| vec![xs[0].conv_transpose2d(&xs[1], Some(&xs[2]), &options, output_padding)]);
    }
}

/// `conv_transpose2d` with an `output_padding` up to `max(stride, dilation) - 1`, as PyTorch
/// allows (an output padding not below the stride once panicked in `fold`).
#[test]
fn conv_transpose2d_output_padding_from_dilation() {
    let (x, w, b) = (real(&[2, 4, 3, 4], 1), real(&[4, 6, 3, 3], 2), real(&[6], 3));
    let options = ConvOptions::new(2).dilation(2);
    diff("conv_transpose2d dilation 2 output_padding [0, 1]", [x, w, b])
        .run(move |xs: &[Tensor]| vec![xs[0].conv_transpose2d(&xs[1], Some(&xs[2]), &options, [0, 1])]);
}

#[test]
fn unfold_and_fold_windows() {
    let x = real(&[2, 3, 5, 4], 1);
    diff("unfold", [x.clone()]).run(f!(|x| x.unfold_windows(&[2, 3], &[1, 1], &[1, 0], &[1, 1])));
    diff("unfold 1-d", [real(&[2, 3, 7], 2)]).run(f!(|x| x.unfold_windows(&[3], &[2], &[1], &[1])));
    diff("fold", [real(&[2, 12, 6], 3)]).run(f!(|c| c.fold_windows(&[3, 4], &[2, 2], &[1, 1], &[0, 0], &[1, 1])));
}

fn window(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Window2d {
    Window2d { kernel: [kernel; 2], stride: [stride; 2], padding: [padding; 2], dilation: [dilation; 2] }
}

#[test]
fn pooling_max_avg_adaptive() {
    let x = real(&[2, 3, 6, 5], 1);
    let strided = real(&[2, 3, 5, 6], 2).transpose(2, 3);
    for (name, w) in
        [("2x2", window(2, 2, 0, 1)), ("3x3 stride 1 pad 1", window(3, 1, 1, 1)), ("dilated", window(2, 1, 0, 2))]
    {
        for (layout, input) in [("contiguous", x.clone()), ("strided", strided.clone())] {
            let w2 = w.clone();
            diff(format!("max_pool2d {name} ({layout})"), [input.clone()])
                .run(move |xs: &[Tensor]| vec![xs[0].max_pool2d(&w2)]);
            let w2 = w.clone();
            diff(format!("max_pool2d_with_indices {name} ({layout})"), [input.clone()])
                .run(move |xs: &[Tensor]| IntoOuts::into_outs(xs[0].max_pool2d_with_indices(&w2)));
            if w.dilation == [1, 1] {
                for count_include_pad in [true, false] {
                    let w2 = w.clone();
                    diff(
                        format!("avg_pool2d {name} count_include_pad {count_include_pad} ({layout})"),
                        [input.clone()],
                    )
                    .breaks_if(!count_include_pad)
                    .run(move |xs: &[Tensor]| vec![xs[0].avg_pool2d(&w2, count_include_pad)]);
                }
            }
        }
    }
    for output in [[1, 1], [3, 2], [4, 5], [6, 5]] {
        diff(format!("adaptive_avg_pool2d {output:?}"), [x.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].adaptive_avg_pool2d(output)]);
    }
    for output in [[12, 10], [3, 7]] {
        diff(format!("upsample_nearest2d {output:?}"), [x.clone()])
            .run(move |xs: &[Tensor]| vec![xs[0].upsample_nearest2d(output)]);
    }
}

// ---------------------------------------------------------------------------------------
// Creation, random and in-place ops inside compiled functions

#[test]
fn creation_ops_inside_compiled_functions() {
    let x = real(&[2, 3], 1);
    diff("zeros, ones, full", [x.clone()]).run(f!(|x| vec![
        x.add(&Tensor::zeros([2, 3], DType::F32)),
        x.mul(&Tensor::ones([3], DType::F32)),
        x.add(&Tensor::full([2, 1], 0.5, DType::F64)),
        Tensor::full([2], 3, DType::I64).add(&x.sum(1, false).to_dtype(DType::I64))
    ]));
    diff("zeros_like, ones_like, full_like", [x.clone()]).run(f!(|x| vec![
        x.zeros_like().add(x),
        x.ones_like().sub(x),
        x.full_like(2.5).mul(x)
    ]));
    diff("arange, linspace, eye", [x.clone()]).run(f!(|x| vec![
        x.add(&Tensor::arange(0.0, 3.0, 1.0, DType::F32)),
        x.mul(&Tensor::linspace(-1.0, 1.0, 3, DType::F32)),
        x.matmul(&Tensor::eye(3, DType::F32)),
        x.add(&Tensor::arange(5.0, -1.0, -2.0, DType::I64))
    ]));
    diff("from_vec and scalar", [x.clone()])
        .run(f!(|x| x.add(&f32s(&[1.0, 2.0, 3.0], &[3])).mul(&Tensor::scalar(2.0f32))));
}

#[test]
fn random_ops_inside_compiled_functions() {
    let x = real(&[3, 4], 1);
    diff("rand and randn", [x.clone()]).reseed(11).run(f!(|x| vec![
        x.add(&Tensor::rand([3, 4], DType::F32)),
        x.mul(&Tensor::randn([4], DType::F32)),
        x.rand_like(),
        x.randn_like()
    ]));
    diff("dropout", [x.clone()]).reseed(12).run(f!(|x| vec![
        x.dropout(0.5, true),
        x.dropout(0.5, false),
        x.dropout(1.0, true)
    ]));
    diff("Dropout layer", [x.clone()]).reseed(13).run(f!(|x| Dropout::new(0.25).forward(x)));
    diff("randint", [x.clone()]).reseed(14).breaks().run(f!(|x| x.index_select(1, &Tensor::randint(0, 4, [6]))));
}

/// In-place ops write into arguments or captured tensors; they run under `no_grad` here
/// (in-place on tensors that require grad is refused, eagerly and compiled alike).
#[test]
fn in_place_ops_on_arguments() {
    let ops: Vec<(&str, Write2)> = vec![
        ("add_", |x, y| {
            x.add_(y);
        }),
        ("sub_", |x, y| {
            x.sub_(y);
        }),
        ("mul_", |x, y| {
            x.mul_(y);
        }),
        ("div_", |x, y| {
            x.div_(&y.abs().add_scalar(0.5));
        }),
        ("add_scalar_ and mul_scalar_", |x, _| {
            x.add_scalar_(1.5).mul_scalar_(-2.0);
        }),
        ("add_scaled_", |x, y| {
            x.add_scaled_(y, 0.25);
        }),
        ("clamp_", |x, _| {
            x.clamp_(Some(-0.5), Some(0.5));
        }),
        ("fill_", |x, _| {
            x.fill_(3.25);
        }),
        ("zero_", |x, _| {
            x.zero_();
        }),
        ("copy_ broadcast", |x, y| {
            x.copy_(&y.sum(0, true));
        }),
        ("copy_ of f64", |x, y| {
            x.copy_(&y.to_dtype(DType::F64).exp());
        }),
        ("two writes", |x, y| {
            x.mul_scalar_(0.5);
            x.add_(&y.mul(x));
        }),
    ];
    for (name, op) in ops {
        // Fresh arguments for every run, since each run writes into them.
        let fresh = || (real(&[3, 4], 1), real(&[3, 4], 2));
        let compiled = compile_with(
            move |(x, y): (Tensor, Tensor)| {
                no_grad(|| op(&x, &y));
                x.mul_scalar(2.0)
            },
            CompileOptions::default().strict(true),
        );
        let (xe, ye) = fresh();
        no_grad(|| op(&xe, &ye));
        let eager = xe.mul_scalar(2.0);
        for call in 1..=2 {
            let (x, y) = fresh();
            let out = compiled.call((x.clone(), y.clone()));
            assert_same(&format!("{name}: result, call {call}"), &out, &eager, TOL);
            assert_same(&format!("{name}: argument written, call {call}"), &x, &xe, TOL);
            assert_same(&format!("{name}: other argument untouched, call {call}"), &y, &ye, TOL);
        }
        assert_eq!(compiled.stats().replays, 1, "{name}: {:?}", compiled.stats());
    }
}

#[test]
fn in_place_ops_on_captured_tensors_accumulate_over_calls() {
    let (eager_state, compiled_state) = (real(&[4], 1), real(&[4], 1));
    let state = compiled_state.clone();
    let compiled = compile(move |x: Tensor| {
        no_grad(|| state.mul_scalar_(0.9).add_(&x.mean(0, false)));
        x.sub(&state)
    });
    let x = real(&[3, 4], 2);
    for call in 1..=3 {
        let got = compiled.call(x.clone());
        no_grad(|| eager_state.mul_scalar_(0.9).add_(&x.mean(0, false)));
        assert_same(&format!("call {call}: output"), &got, &x.sub(&eager_state), TOL);
        assert_same(&format!("call {call}: state"), &compiled_state, &eager_state, TOL);
    }
    assert_eq!(compiled.stats().replays, 2);
}

/// `op` writes into its argument: every run gets a fresh argument; the result and the
/// argument afterwards must match eager, on the tracing call and on the replay.
fn check_mutating(name: &str, strict: bool, op: Op1) {
    let fresh = || real(&[3, 4], 1);
    let compiled = compile_with(move |x: Tensor| op(&x), CompileOptions::default().strict(strict));
    let xe = fresh();
    let want = no_grad(|| op(&xe));
    for call in 1..=2 {
        let x = fresh();
        let got = no_grad(|| compiled.call(x.clone()));
        assert_same(&format!("{name}: result, call {call}"), &got, &want, TOL);
        assert_same(&format!("{name}: argument afterwards, call {call}"), &x, &xe, TOL);
    }
}

#[test]
fn in_place_writes_to_intermediates_and_through_views() {
    // An in-place write to an intermediate (or to a view, which is an intermediate of the
    // trace) runs eagerly: a graph break.
    check_mutating("in-place on an intermediate", false, |x| {
        let y = x.exp();
        y.add_scalar_(1.0);
        y.mul(x)
    });
    check_mutating("write through select", false, |x| {
        x.select(0, 1).fill_(7.0);
        x.add_scalar(1.0)
    });
    check_mutating("write through transpose", false, |x| {
        x.t().mul_scalar_(2.0);
        x.add_scalar(1.0)
    });
    check_mutating("write through narrow", false, |x| {
        x.narrow(1, 1, 2).zero_();
        x.add_scalar(1.0)
    });
    // Writes to the argument itself are captured.
    // A write to a tensor a traced view reads ends the segment (the view must see it).
    check_mutating("a view returned after a write to its base", false, |x| {
        let v = x.t();
        x.add_scalar_(1.0);
        v
    });
    check_mutating("a value computed before a write", true, |x| {
        let y = x.exp();
        x.add_scalar_(1.0);
        y.add(x)
    });
}

/// A view taken before an in-place write to its base and read after it sees the write, as
/// eager views do: the write ends the segment (a graph break) and runs on the storage.
#[test]
fn a_view_read_after_an_in_place_write_to_its_base_sees_the_write() {
    check_mutating("transpose read after a write", false, |x| {
        let v = x.t();
        x.add_scalar_(1.0);
        v.exp()
    });
    check_mutating("reshape read after a write", false, |x| {
        let v = x.reshape([12]);
        x.mul_scalar_(2.0);
        v.add_scalar(0.0)
    });
}

/// The guards check whether arguments alias each other: a function traced with two separate
/// tensors that writes one and reads the other is traced again when called with a view of
/// the first as the second.
#[test]
fn arguments_that_alias_each_other_are_guarded() {
    let f = |(x, y): (Tensor, Tensor)| {
        no_grad(|| x.add_scalar_(1.0));
        y.exp()
    };
    let compiled = compile(f);
    let (x, y) = (real(&[3, 3], 1), real(&[3, 3], 2).t());
    assert_same("separate arguments", &compiled.call((x.clone(), y.clone())), &f((real(&[3, 3], 1), y.clone())), TOL);
    let xe = real(&[3, 3], 1);
    let want = f((xe.clone(), xe.t()));
    let xc = real(&[3, 3], 1);
    let got = compiled.call((xc.clone(), xc.t()));
    assert_same("the second argument a view of the first", &got, &want, TOL);
    assert_same("the first argument afterwards", &xc, &xe, TOL);
}

/// `contiguous()` of a strided value inside a compiled function is a copy, as eagerly:
/// traced values report the strides eager mode would give them.
#[test]
fn contiguous_of_a_strided_value_is_a_copy() {
    check_mutating("contiguous then write to the base", true, |x| {
        let c = x.t().contiguous();
        x.add_scalar_(1.0);
        c
    });
}

/// A tensor saved for backward and then modified in place makes the eager backward panic
/// ("modified by an in-place operation"). A compiled backward that saved the value refuses
/// the same way; one that recomputes it from the inputs (a cheap elementwise op) never sees
/// the write and gives the gradient of the function as written.
#[test]
fn a_saved_tensor_modified_in_place_fails_backward_as_eagerly() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let backward = |out: Tensor, w: &Tensor| {
        out.sum_all().backward();
        w.grad().expect("a gradient").to_vec::<f32>()
    };
    // Saved (a matmul is not recomputed): compiled refuses as eager does.
    let m = real(&[3, 3], 4);
    let saved = move |(x, w): (Tensor, Tensor)| {
        let y = x.matmul(&m);
        let z = y.mul(&w);
        no_grad(|| y.add_scalar_(1.0));
        z
    };
    let (x, w) = (real(&[2, 3], 1), real(&[2, 3], 2).requires_grad_(true));
    let eager = catch_unwind(AssertUnwindSafe(|| backward(saved((x.clone(), w.clone())), &w)));
    assert!(eager.is_err(), "eagerly the backward refuses the modified saved tensor");
    w.zero_grad();
    let compiled = compile(saved);
    let got = catch_unwind(AssertUnwindSafe(|| backward(compiled.call((x.clone(), w.clone())), &w)));
    assert!(got.is_err(), "compiled, the backward refuses too; it gave the gradient {:?}", got.ok());

    // Recomputed (exp of an input): the gradient is exp(x), the value before the write.
    let recomputed = |(x, w): (Tensor, Tensor)| {
        let y = x.exp();
        let z = y.mul(&w);
        no_grad(|| y.add_scalar_(1.0));
        z
    };
    let (x, w) = (real(&[3], 1), real(&[3], 2).requires_grad_(true));
    let compiled = compile(recomputed);
    let got = backward(compiled.call((x.clone(), w.clone())), &w);
    assert_same("recomputed saved value", &Tensor::from_vec(got, [3]), &x.exp(), TOL);
}

/// `view` refuses a shape its input's strides cannot express, traced as eagerly.
#[test]
fn a_view_that_needs_a_copy_is_refused_as_eagerly() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let x = real(&[3, 4], 1);
    let f = |x: Tensor| x.t().view([12]);
    assert!(catch_unwind(AssertUnwindSafe(|| f(x.clone()))).is_err(), "eagerly, view refuses");
    let got = catch_unwind(AssertUnwindSafe(|| compile(f).call(x.clone())));
    assert!(got.is_err(), "compiled, view should refuse too; it gave {:?}", got.ok());
}

// ---------------------------------------------------------------------------------------
// Argument and result kinds, grads on some inputs, backward inside the function

#[test]
fn tuple_arguments_and_results() {
    let (a, b, c) = (real(&[3, 4], 1), real(&[4], 2), pos(&[3, 4], 3));
    let f2 = |(a, b): (Tensor, Tensor)| (a.add(&b).tanh(), a.mul(&b).sum(0, false));
    let f3 = |(a, b, c): (Tensor, Tensor, Tensor)| (a.div(&c), b.exp(), c.log().add(&b));
    let (c2, c3) = (compile_with(f2, strict()), compile_with(f3, strict()));
    let (e2, e3) = (no_grad(|| f2((a.clone(), b.clone()))), no_grad(|| f3((a.clone(), b.clone(), c.clone()))));
    for call in 1..=2 {
        let g2 = no_grad(|| c2.call((a.clone(), b.clone())));
        assert_all_same(&format!("pair, call {call}"), &[g2.0, g2.1], &[e2.0.clone(), e2.1.clone()], TOL);
        let g3 = no_grad(|| c3.call((a.clone(), b.clone(), c.clone())));
        assert_all_same(
            &format!("triple, call {call}"),
            &[g3.0, g3.1, g3.2],
            &[e3.0.clone(), e3.1.clone(), e3.2.clone()],
            TOL,
        );
    }
    assert_eq!((c2.stats().replays, c3.stats().replays), (1, 1));
    // Gradients through the tuple forms.
    let leaves = [a.detach().requires_grad_(true), b.detach().requires_grad_(true), c.detach().requires_grad_(true)];
    let total = |o: (Tensor, Tensor, Tensor)| loss_of(&[o.0, o.1, o.2]).expect("differentiable");
    total(f3((leaves[0].clone(), leaves[1].clone(), leaves[2].clone()))).backward();
    let want = grads(&leaves);
    zero_grads(&leaves);
    for call in 1..=2 {
        total(c3.call((leaves[0].clone(), leaves[1].clone(), leaves[2].clone()))).backward();
        assert_grads_same(&format!("triple grads, call {call}"), &grads(&leaves), &want, TOL);
        zero_grads(&leaves);
    }
}

fn strict() -> CompileOptions {
    CompileOptions::default().strict(true)
}

#[test]
fn vec_arguments_and_results() {
    let f = |xs: Vec<Tensor>| -> Vec<Tensor> { xs.iter().map(|x| x.mul(&xs[0].sum_all())).collect() };
    let compiled = compile_with(f, strict());
    let xs = vec![real(&[3], 1), real(&[2, 2], 2), real(&[], 3)];
    let eager = no_grad(|| f(xs.clone()));
    for call in 1..=2 {
        assert_all_same(&format!("vec, call {call}"), &no_grad(|| compiled.call(xs.clone())), &eager, TOL);
    }
    assert_eq!(compiled.stats().replays, 1);
    // A list of another length is another signature.
    let longer = vec![real(&[3], 4), real(&[3], 5), real(&[3], 6), real(&[1], 7)];
    assert_all_same("longer vec", &no_grad(|| compiled.call(longer.clone())), &f(longer), TOL);
    let f_single = |xs: Vec<Tensor>| Tensor::stack(&xs.iter().collect::<Vec<_>>(), 0).sum(0, false);
    diff("vec to one tensor", vec![real(&[4], 8), real(&[4], 9), real(&[4], 10)])
        .run(|xs: &[Tensor]| vec![f_single(xs.to_vec())]);
}

#[test]
fn no_arguments_and_mixed_argument_kinds() {
    let w = real(&[3, 4], 1);
    let captured = w.clone();
    let compiled = compile_with(move |()| captured.exp().sum(0, false), strict());
    for call in 1..=2 {
        assert_same(&format!("no arguments, call {call}"), &compiled.call(()), &w.exp().sum(0, false), TOL);
    }
    let f = |(x, xs, Static(scale), y): (Tensor, Vec<Tensor>, Static<i32>, Tensor)| {
        let total = xs.iter().fold(x.clone(), |acc, t| acc.add(t));
        (total.mul_scalar(scale).add(&y), y.exp())
    };
    let compiled = compile_with(f, strict());
    let args = || (real(&[2, 3], 2), vec![real(&[2, 3], 3), real(&[3], 4)], Static(3), real(&[2, 1], 5));
    let want = f(args());
    for call in 1..=2 {
        let got = compiled.call(args());
        assert_all_same(
            &format!("mixed arguments, call {call}"),
            &[got.0, got.1],
            &[want.0.clone(), want.1.clone()],
            TOL,
        );
    }
    assert_eq!(compiled.stats().replays, 1);
}

#[test]
fn one_compiled_function_over_changing_layouts_and_dtypes() {
    // A change of shape, dtype or contiguity is a guard miss and a new trace; going back to
    // an earlier signature, or to another non-contiguous layout of the same shape, replays.
    let f = |x: Tensor| x.softmax(-1).mul(&x.sum(0, true)).add_scalar(1.0);
    let compiled = compile_with(f, strict());
    let inputs = [
        real(&[3, 4], 1),
        real(&[4, 3], 2).t(),
        real(&[3, 8], 3).slice(1, 0, 8, 2),
        real(&[1, 4], 4).expand([3, 4]),
        real(&[3, 4], 5).to_dtype(DType::F64),
        real(&[2, 4], 6),
        real(&[3, 4], 7),
        real(&[4, 3], 8).t(),
    ];
    for (i, x) in inputs.iter().enumerate() {
        assert_same(
            &format!("input {i} ({})", x.describe()),
            &no_grad(|| compiled.call(x.clone())),
            &f(x.clone()),
            TOL,
        );
    }
    let stats = compiled.stats();
    assert_eq!((stats.traces, stats.replays), (4, 4), "{stats:?}");
}

#[test]
fn static_arguments_select_the_program() {
    let f = |(x, Static(k)): (Tensor, Static<usize>)| x.narrow(1, 0, k).softmax(-1);
    let compiled = compile_with(f, strict());
    let x = real(&[3, 5], 1);
    for k in [2, 4, 2, 4, 5] {
        assert_same(
            &format!("k = {k}"),
            &no_grad(|| compiled.call((x.clone(), Static(k)))),
            &f((x.clone(), Static(k))),
            TOL,
        );
    }
    assert_eq!(compiled.cache_len(), 3);
}

#[test]
fn grads_flow_only_to_inputs_that_require_them() {
    let (a, b) = (real(&[3, 4], 1), real(&[3, 4], 2).requires_grad_(true));
    let f = |(a, b): (Tensor, Tensor)| a.mul(&b).add(&a.exp());
    let compiled = compile_with(f, strict());
    let want = {
        f((a.clone(), b.clone())).sum_all().backward();
        b.grad()
    };
    b.zero_grad();
    for call in 1..=2 {
        let out = compiled.call((a.clone(), b.clone()));
        out.sum_all().backward();
        assert!(a.grad().is_none(), "call {call}: a does not require grad");
        assert_grads_same(&format!("call {call}"), &[b.grad()], std::slice::from_ref(&want), TOL);
        b.zero_grad();
    }
    // detach and no_grad inside the function cut the graph, as eagerly.
    diff("detach inside", [real(&[3], 3), real(&[3], 4)]).run(f!(|a, b| a.mul(&b.detach()).add(&no_grad(|| b.exp()))));
}

#[test]
fn backward_inside_the_compiled_function() {
    // The whole step (forward, backward) is traced; the backward rules then rebuild saved
    // statistics from graph ops (layer_norm, rms_norm, softmax) rather than the eager
    // kernels' side results. The gradient of a slice (`narrow`, `select`, `slice`) is
    // traced as a zero padding (or an index_add for strided slices).
    let cases: Vec<(&str, bool, Op2)> = vec![
        ("matmul tanh", true, |x, w| x.matmul(w).tanh().sum_all()),
        ("layer_norm", true, |x, w| x.matmul(w).layer_norm(&[3], None, None, 1e-5).square().sum_all()),
        ("rms_norm", true, |x, w| x.matmul(w).rms_norm(&[3], None, 1e-6).exp().sum_all()),
        ("softmax", true, |x, w| x.matmul(w).softmax(-1).mul(&x.matmul(w).sigmoid()).sum_all()),
        ("log_softmax", true, |x, w| x.matmul(w).log_softmax(0).sum_all()),
        ("max and prod", true, |x, w| x.matmul(w).max(1, false).sum_all().add(&w.prod_dims(&[], false))),
        ("cross_entropy", true, |x, w| {
            x.matmul(w).cross_entropy(&i64s(&[0, 2, 1, 1, 0], &[5]), &CrossEntropyOptions::default())
        }),
        ("linear (column-major weight)", true, |x, w| x.linear(&w.t(), None).sigmoid().sum_all()),
        ("narrow", true, |x, w| x.matmul(w).softmax(-1).mul(&x.narrow(1, 0, 3)).sum_all()),
        ("strided slice", true, |x, w| x.matmul(w).mul(&x.slice(1, 0, 4, 2).sum(1, true)).sum_all()),
    ];
    for (name, strict, loss) in cases {
        let (x, w) = (real(&[5, 4], 1).requires_grad_(true), real(&[4, 3], 2).requires_grad_(true));
        let (px, pw) = (x.clone(), w.clone());
        let compiled = compile_with(
            move |s: Tensor| {
                px.zero_grad();
                pw.zero_grad();
                let l = loss(&px, &pw).mul(&s);
                l.backward();
                (l.detach(), px.grad().expect("x has a grad"), pw.grad().expect("w has a grad"))
            },
            CompileOptions::default().strict(strict),
        );
        let s = Tensor::scalar(1.5f32);
        let eager = loss(&x, &w).mul(&s);
        eager.backward();
        let want = [eager.detach(), x.grad().unwrap(), w.grad().unwrap()];
        for call in 1..=2 {
            let got = compiled.call(s.clone());
            assert_all_same(&format!("{name}: call {call}"), &[got.0, got.1, got.2], &want, TOL);
        }
    }
}

#[test]
fn nested_compiled_functions_trace_into_the_outer_one() {
    let inner = compile(|x: Tensor| x.gelu().mul_scalar(2.0));
    diff("nested", [real(&[3, 4], 1)]).run(|xs: &[Tensor]| vec![inner.call(xs[0].exp()).sum(1, false)]);
}

// ---------------------------------------------------------------------------------------
// nn layers: compare outputs, input grads and parameter grads

#[test]
fn nn_linear_and_sequential_mlp() {
    let linear = seeded(1, || Linear::new(4, 3));
    diff("Linear", [real(&[5, 4], 1)]).params(linear.parameters()).run(|xs: &[Tensor]| vec![linear.forward(&xs[0])]);
    let no_bias = seeded(2, || Linear::with_bias(4, 3, false));
    diff("Linear without bias, 3-d input", [real(&[2, 5, 4], 2)])
        .params(no_bias.parameters())
        .run(|xs: &[Tensor]| vec![no_bias.forward(&xs[0])]);
    let mlp = seeded(3, || {
        Sequential::new()
            .add(Flatten::default())
            .add(Linear::new(6, 8))
            .add(ReLU)
            .add(Linear::new(8, 8))
            .add(GELU::default())
            .add(Linear::new(8, 8))
            .add(GELU::tanh())
            .add(Linear::new(8, 8))
            .add(SiLU)
            .add(Tanh)
            .add(LeakyReLU::default())
            .add(Identity)
            .add(Linear::new(8, 4))
            .add(Sigmoid)
            .add(Softmax::new(-1))
    });
    diff("Sequential MLP", [real(&[5, 2, 3], 3)])
        .params(mlp.parameters())
        .run(|xs: &[Tensor]| vec![mlp.forward(&xs[0])]);
    diff("Sequential MLP, loss inside", [real(&[5, 2, 3], 4), i64s(&[0, 3, 1, 1, 2], &[5])])
        .params(mlp.parameters())
        .run(|xs: &[Tensor]| vec![mlp.forward(&xs[0]).log().nll_loss(&xs[1], None, Reduction::Mean)]);
    let ff = seeded(4, || FeedForward::new(6, 12, false));
    diff("FeedForward", [real(&[2, 3, 6], 5)]).params(ff.parameters()).run(|xs: &[Tensor]| vec![ff.forward(&xs[0])]);
}

#[test]
fn nn_normalization_layers() {
    let ln = seeded(1, || LayerNorm::new(&[6]));
    diff("LayerNorm", [real(&[2, 3, 6], 1)]).params(ln.parameters()).run(|xs: &[Tensor]| vec![ln.forward(&xs[0])]);
    let ln_plain = LayerNorm::with_options(&[3, 6], 1e-6, false, false);
    diff("LayerNorm without affine", [real(&[2, 3, 6], 2)]).run(|xs: &[Tensor]| vec![ln_plain.forward(&xs[0])]);
    let ln_no_bias = LayerNorm::with_options(&[6], 1e-5, true, false);
    diff("LayerNorm without bias", [real(&[4, 6], 3)])
        .params(ln_no_bias.parameters())
        .run(|xs: &[Tensor]| vec![ln_no_bias.forward(&xs[0])]);
    let rms = RMSNorm::new(&[6]);
    diff("RMSNorm", [real(&[2, 3, 6], 4)]).params(rms.parameters()).run(|xs: &[Tensor]| vec![rms.forward(&xs[0])]);
    let rms_plain = RMSNorm::with_options(&[6], 1e-5, false);
    diff("RMSNorm without weight", [real(&[3, 6], 5)]).run(|xs: &[Tensor]| vec![rms_plain.forward(&xs[0])]);
    let gn = seeded(2, || GroupNorm::new(2, 4));
    diff("GroupNorm", [real(&[2, 4, 3, 2], 6)]).params(gn.parameters()).run(|xs: &[Tensor]| vec![gn.forward(&xs[0])]);
}

#[test]
fn nn_embedding() {
    let emb = seeded(1, || Embedding::new(7, 4));
    let ids = i64s(&[0, 6, 2, 2, 5, 1], &[2, 3]);
    diff("Embedding", [ids.clone()])
        .params(emb.parameters())
        .run(|xs: &[Tensor]| vec![emb.forward(&xs[0]).mul_scalar(1.0)]);
    let padded = seeded(2, || Embedding::with_padding_idx(7, 4, 2));
    diff("Embedding with padding_idx", [ids.clone()])
        .params(padded.parameters())
        .run(|xs: &[Tensor]| vec![padded.forward(&xs[0]).tanh()]);
    diff("Embedding then mean", [ids.clone(), real(&[2, 3, 4], 3)])
        .params(emb.parameters())
        .run(|xs: &[Tensor]| vec![emb.forward(&xs[0]).add(&xs[1]).mean(1, false)]);
}

#[test]
fn nn_multihead_attention() {
    let mha = seeded(1, || MultiheadAttention::new(8, 2));
    let x = real(&[2, 5, 8], 1);
    diff("self-attention, causal", [x.clone()])
        .params(mha.parameters())
        .run(|xs: &[Tensor]| vec![mha.self_attention(&xs[0], &AttentionMask::causal())]);
    diff("self-attention, unmasked", [x.clone()])
        .params(mha.parameters())
        .run(|xs: &[Tensor]| vec![mha.forward(&xs[0])]);
    diff("attend with weights, causal, cross", [x.clone(), real(&[2, 5, 8], 2), real(&[2, 5, 8], 3)])
        .params(mha.parameters())
        .run(|xs: &[Tensor]| IntoOuts::into_outs(mha.attend(&xs[0], &xs[1], &xs[2], &AttentionMask::causal())));
    let padding = Tensor::from_vec(vec![false, false, false, true, true, false, false, false, false, true], [2, 5]);
    diff("self-attention, causal and key padding", [x.clone(), padding.clone()]).params(mha.parameters()).run(
        |xs: &[Tensor]| {
            let mask = AttentionMask { causal: true, key_padding: Some(&xs[1]), attn_mask: None };
            vec![mha.self_attention(&xs[0], &mask)]
        },
    );
    diff("attend, float attn_mask", [x.clone(), real(&[5, 5], 4)]).params(mha.parameters()).run(|xs: &[Tensor]| {
        let mask = AttentionMask { attn_mask: Some(&xs[1]), ..Default::default() };
        IntoOuts::into_outs(mha.attend(&xs[0], &xs[0], &xs[0], &mask))
    });
    let no_bias = seeded(2, || MultiheadAttention::with_options(8, 4, 0.0, false));
    diff("attention without bias, 4 heads, strided input", [real(&[5, 2, 8], 5).transpose(0, 1)])
        .params(no_bias.parameters())
        .run(|xs: &[Tensor]| vec![no_bias.self_attention(&xs[0], &AttentionMask::causal())]);
}

#[test]
fn nn_transformer_blocks() {
    let config = BlockConfig::new(8, 2);
    let encoder = seeded(1, || TransformerBlock::encoder(&config));
    let decoder = seeded(2, || TransformerBlock::decoder(&config.clone().d_ff(16)));
    let x = real(&[2, 6, 8], 1);
    diff("encoder block", [x.clone()])
        .params(encoder.parameters())
        .tol(1e-5)
        .run(|xs: &[Tensor]| vec![encoder.forward(&xs[0])]);
    diff("decoder block", [x.clone()])
        .params(decoder.parameters())
        .tol(1e-5)
        .run(|xs: &[Tensor]| vec![decoder.forward(&xs[0])]);
    let padding = mask(&[2, 6], 3).logical_and(&Tensor::from_vec(vec![false, true, true, true, true, true], [6]));
    diff("encoder block, key padding", [x.clone(), padding])
        .params(encoder.parameters())
        .tol(1e-5)
        .run(|xs: &[Tensor]| vec![encoder.forward_masked(&xs[0], Some(&xs[1]))]);
    diff("two decoder blocks, loss inside", [x.clone()])
        .params(decoder.parameters())
        .tol(1e-5)
        .run(|xs: &[Tensor]| vec![decoder.forward(&decoder.forward(&xs[0])).square().mean_all()]);
    let dropout_block = seeded(3, || TransformerBlock::decoder(&BlockConfig::new(8, 2).dropout(0.2)));
    diff("decoder block with dropout", [x.clone()])
        .params(dropout_block.parameters())
        .tol(1e-5)
        .reseed(4)
        .run(|xs: &[Tensor]| vec![dropout_block.forward(&xs[0])]);
    dropout_block.eval();
    diff("decoder block with dropout, eval", [x.clone()])
        .params(dropout_block.parameters())
        .tol(1e-5)
        .run(|xs: &[Tensor]| vec![dropout_block.forward(&xs[0])]);
}

#[test]
fn nn_conv_and_pool_layers() {
    let conv2d = seeded(1, || Conv2d::with_config(Conv2d::config(3, 4, 3).padding(1).stride(2)));
    diff("Conv2d", [real(&[2, 3, 7, 6], 1)])
        .params(conv2d.parameters())
        .run(|xs: &[Tensor]| vec![conv2d.forward(&xs[0])]);
    let conv1d = seeded(2, || Conv1d::with_config(Conv1d::config(4, 6, 3).groups(2).bias(false)));
    diff("Conv1d", [real(&[2, 4, 9], 2)]).params(conv1d.parameters()).run(|xs: &[Tensor]| vec![conv1d.forward(&xs[0])]);
    let deconv = seeded(3, || ConvTranspose2d::new(3, 2, 3));
    diff("ConvTranspose2d", [real(&[2, 3, 4, 4], 3)])
        .params(deconv.parameters())
        .run(|xs: &[Tensor]| vec![deconv.forward(&xs[0])]);
    let pools: Vec<(&str, Box<dyn Module>)> = vec![
        ("MaxPool2d", Box::new(MaxPool2d::new(2))),
        ("MaxPool2d with options", Box::new(MaxPool2d::with_options(3, 2, 1))),
        ("AvgPool2d", Box::new(AvgPool2d::new(2))),
        ("AvgPool2d with options", Box::new(AvgPool2d::with_options(3, 2, 1, false))),
        ("AdaptiveAvgPool2d", Box::new(AdaptiveAvgPool2d::new([3, 2]))),
    ];
    for (name, pool) in &pools {
        // AvgPool2d without count_include_pad runs eagerly (the graph op counts the padding).
        let breaks = name.starts_with("AvgPool2d with");
        diff(*name, [real(&[2, 3, 6, 5], 4)]).breaks_if(breaks).run(|xs: &[Tensor]| vec![pool.forward(&xs[0])]);
    }
    let cnn = seeded(4, || {
        Sequential::new()
            .add(Conv2d::with_config(Conv2d::config(1, 4, 3).padding(1)))
            .add(ReLU)
            .add(MaxPool2d::new(2))
            .add(Flatten::default())
            .add(Linear::new(4 * 3 * 3, 5))
    });
    diff("small CNN", [real(&[2, 1, 6, 6], 5)]).params(cnn.parameters()).run(|xs: &[Tensor]| vec![cnn.forward(&xs[0])]);
}

/// Two batch-norm layers built alike: one runs eagerly, the other compiled; outputs,
/// running statistics and gradients must agree after every call, in training mode
/// (statistics updated in place) and in evaluation mode (statistics read).
fn batch_norm_agrees<M: Module>(
    name: &str,
    make: impl Fn() -> M,
    stats: impl Fn(&M) -> Vec<Tensor>,
    x: Tensor,
    strict: bool,
) {
    let (eager, compiled_layer) = (make(), make());
    // The layer's mode is Rust state, not a tensor: the guards do not see it, so the mode
    // is passed as a static argument (each mode gets its own program).
    let compiled = compile_with(
        |(x, Static(training)): (Tensor, Static<bool>)| {
            compiled_layer.set_training(training);
            compiled_layer.forward(&x)
        },
        CompileOptions::default().strict(strict),
    );
    let check_stats = |what: &str| {
        for (i, (c, e)) in stats(&compiled_layer).iter().zip(stats(&eager)).enumerate() {
            assert_same(&format!("{name}: {what}: running statistic {i}"), c, &e, TOL);
        }
    };
    // Training mode, values: the running statistics move on every call.
    for call in 1..=2 {
        let want = no_grad(|| eager.forward(&x));
        let got = no_grad(|| compiled.call((x.clone(), Static(true))));
        assert_same(&format!("{name}: train, call {call}"), &got, &want, TOL);
        check_stats(&format!("train, call {call}"));
    }
    // Training mode, gradients of the input and the affine parameters.
    let leaf = x.detach().requires_grad_(true);
    for call in 1..=2 {
        let want = eager.forward(&leaf);
        loss_of(std::slice::from_ref(&want)).unwrap().backward();
        let mut want_grads = grads(&eager.parameters());
        want_grads.push(leaf.grad());
        leaf.zero_grad();
        let got = compiled.call((leaf.clone(), Static(true)));
        assert_same(&format!("{name}: train with grads, call {call}"), &got, &want, TOL);
        loss_of(std::slice::from_ref(&got)).unwrap().backward();
        let mut got_grads = grads(&compiled_layer.parameters());
        got_grads.push(leaf.grad());
        assert_grads_same(&format!("{name}: train, call {call}"), &got_grads, &want_grads, TOL);
        leaf.zero_grad();
        eager.zero_grad();
        compiled_layer.zero_grad();
        check_stats(&format!("train with grads, call {call}"));
    }
    // Evaluation mode: the running statistics normalize and stay put.
    eager.eval();
    let x2 = x.mul_scalar(0.5).add_scalar(0.25);
    for call in 1..=2 {
        let want = no_grad(|| eager.forward(&x2));
        let got = no_grad(|| compiled.call((x2.clone(), Static(false))));
        assert_same(&format!("{name}: eval, call {call}"), &got, &want, TOL);
        check_stats(&format!("eval, call {call}"));
    }
    let want = eager.forward(&leaf);
    loss_of(std::slice::from_ref(&want)).unwrap().backward();
    let want_grads = [grads(&eager.parameters()), vec![leaf.grad()]].concat();
    leaf.zero_grad();
    let got = compiled.call((leaf.clone(), Static(false)));
    loss_of(std::slice::from_ref(&got)).unwrap().backward();
    assert_same(&format!("{name}: eval with grads"), &got, &want, TOL);
    assert_grads_same(
        &format!("{name}: eval"),
        &[grads(&compiled_layer.parameters()), vec![leaf.grad()]].concat(),
        &want_grads,
        TOL,
    );
}

fn bn_stats(bn: &ignis::nn::BatchNorm) -> Vec<Tensor> {
    [&bn.running_mean, &bn.running_var, &bn.num_batches_tracked].into_iter().flatten().cloned().collect()
}

#[test]
fn nn_batch_norm_train_and_eval() {
    let bias = |bn: &ignis::nn::BatchNorm| {
        no_grad(|| {
            if let Some(b) = &bn.bias {
                b.copy_(&real(&[bn.num_features], 9));
            }
            if let Some(w) = &bn.weight {
                w.copy_(&pos(&[bn.num_features], 10));
            }
        })
    };
    let make_1d = || {
        let bn = BatchNorm1d::new(3);
        bias(&bn);
        bn
    };
    batch_norm_agrees("BatchNorm1d [N, C]", make_1d, |bn| bn_stats(bn), real(&[5, 3], 1), true);
    batch_norm_agrees("BatchNorm1d [N, C, L]", make_1d, |bn| bn_stats(bn), real(&[4, 3, 6], 2), true);
    let make_2d = || {
        let bn = BatchNorm2d::new(3);
        bias(&bn);
        bn
    };
    batch_norm_agrees("BatchNorm2d", make_2d, |bn| bn_stats(bn), real(&[2, 3, 4, 5], 3), true);
    batch_norm_agrees("BatchNorm2d strided", make_2d, |bn| bn_stats(bn), real(&[2, 3, 5, 4], 4).transpose(2, 3), true);
    let untracked = || BatchNorm1d::with_options(3, 1e-3, Some(0.3), false, false);
    batch_norm_agrees(
        "BatchNorm1d without affine or running statistics",
        untracked,
        |bn| bn_stats(bn),
        real(&[6, 3], 5),
        true,
    );
    // A cumulative average reads the batch count on the host (graph break).
    let cumulative = || {
        let bn = BatchNorm1d::with_options(3, 1e-5, None, true, true);
        bias(&bn);
        bn
    };
    batch_norm_agrees("BatchNorm1d cumulative average", cumulative, |bn| bn_stats(bn), real(&[5, 3], 6), false);
}
