//! What every value of a program is before anything runs: dtype, shape, an interval that
//! holds its values (from the input ranges, ignoring injected NaN and infinities), and the
//! precision to which a correct backend must reproduce it.
//!
//! This is also the program's validity check: a step whose arguments do not fit (shapes,
//! dtypes, a reduction over nothing, a result that could overflow, a comparison of values
//! that rounding may move) is rejected with the reason. The generator proposes steps and
//! keeps those this module accepts; the minimizer keeps only candidates it accepts.

use super::program::{
    ABS_EPS, Binary, DENOMINATOR_SHIFT, Layout, Logical, Op, POW_EXPONENT_LIMIT, Program, Reduction, Reshape, ScalarOp,
    Step, Unary,
};
use ignis::DType;
use ignis_ir::shape;

/// How precisely a correct backend reproduces a value, from bit-exact to the coarsest
/// rounding it went through; ordered from finest to coarsest.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// Inputs, and values only selected, moved or compared from exact values.
    Exact,
    F64,
    F32,
    F16,
    BF16,
}

impl Precision {
    /// The rounding a value of `dtype` suffers when it is computed.
    pub fn of(dtype: DType) -> Precision {
        match dtype {
            DType::F64 => Precision::F64,
            DType::F32 => Precision::F32,
            DType::F16 => Precision::F16,
            DType::BF16 => Precision::BF16,
            _ => Precision::Exact,
        }
    }

    /// The relative tolerance of a value computed at this precision: room for a few ulps
    /// of difference per op (fma contraction, polynomial `exp`/`tanh`, another summation
    /// order) over a chain of a dozen ops. Half types may be computed in f32 and rounded
    /// once instead of per op, which moves results by an ulp of the half type.
    /// The absolute tolerance at this precision: f16's subnormals are spaced 2^-24 apart,
    /// so a tiny f16 value (or gradient) has no relative precision left.
    pub fn absolute_floor(self) -> f64 {
        match self {
            Precision::F16 => 4.0 * 2f64.powi(-24),
            _ => 0.0,
        }
    }

    pub fn relative_tolerance(self) -> f64 {
        match self {
            Precision::Exact => 0.0,
            Precision::F64 => 1e-10,
            Precision::F32 => 1e-5,
            Precision::F16 => 4e-3,
            Precision::BF16 => 3e-2,
        }
    }
}

/// What one value of the pool is.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Every finite value lies in `[lo, hi]` (bool as 0/1).
    pub lo: f64,
    pub hi: f64,
    pub precision: Precision,
}

impl Meta {
    pub fn is_exact(&self) -> bool {
        self.precision == Precision::Exact
    }
    pub fn is_float(&self) -> bool {
        self.dtype.is_float()
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// The largest magnitude a value can have.
    pub fn bound(&self) -> f64 {
        self.lo.abs().max(self.hi.abs())
    }
    /// Whether no value can be zero (or near enough for a gradient to blow up).
    pub fn away_from_zero(&self) -> bool {
        self.lo >= 0.25 || self.hi <= -0.25
    }
}

/// Size limits of generated programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// No input or step result holds more elements.
    pub max_numel: usize,
    pub max_rank: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_numel: 2048, max_rank: 5 }
    }
}

/// The largest magnitude a value of `dtype` may reach: far from overflow, so that sums and
/// gradients of the result stay finite too.
pub fn max_bound(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 3e4,
        _ => 1e5,
    }
}

/// Every value of `program`, inputs first, or the first reason it is not a valid program.
pub fn infer(program: &Program, limits: &Limits) -> Result<Vec<Meta>, String> {
    let metas = infer_values(program, limits)?;
    if program.outputs.is_empty() {
        return Err("the program returns nothing".into());
    }
    if let Some(bad) = program.outputs.iter().find(|o| o.0 >= metas.len()) {
        return Err(format!("returns {bad}, which does not exist"));
    }
    Ok(metas)
}

/// `infer` of the inputs and steps alone (a program still being built returns nothing yet).
pub fn infer_values(program: &Program, limits: &Limits) -> Result<Vec<Meta>, String> {
    let mut metas = Vec::with_capacity(program.inputs.len() + program.steps.len());
    for (i, input) in program.inputs.iter().enumerate() {
        let fits = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("input v{i}: {what}")) };
        let rank = input.shape.len();
        fits(rank <= limits.max_rank, "rank over the limit")?;
        fits(input.shape.iter().product::<usize>() <= limits.max_numel, "too many elements")?;
        fits(!input.requires_grad || input.dtype.is_float(), "only float inputs can require grad")?;
        fits(input.dtype.is_float(), "inputs are float")?;
        fits(input.fill.lo < input.fill.hi, "empty value range")?;
        match &input.layout {
            Layout::Contiguous => {}
            Layout::Permuted(perm) => {
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                fits(sorted == (0..rank).collect::<Vec<_>>(), "not a permutation of its dims")?;
            }
            Layout::Stepped { dim, step } => fits(*dim < rank && *step >= 2, "bad stepped layout")?,
            Layout::Offset { dim, start } => fits(*dim < rank && *start >= 1, "bad offset layout")?,
            Layout::Expanded(dims) => fits(!dims.is_empty() && dims.iter().all(|&d| d < rank), "bad expanded layout")?,
        }
        metas.push(Meta {
            dtype: input.dtype,
            shape: input.shape.clone(),
            lo: input.fill.lo - input.fill.quantum,
            hi: input.fill.hi + input.fill.quantum,
            precision: Precision::Exact,
        });
    }
    for (i, step) in program.steps.iter().enumerate() {
        let id = program.inputs.len() + i;
        let mut args = Vec::with_capacity(step.args.len());
        for a in &step.args {
            if a.0 >= id {
                return Err(format!("v{id}: uses {a}, which is not defined before it"));
            }
            args.push(&metas[a.0]);
        }
        let meta = infer_step(step, &args, limits).map_err(|e| format!("v{id} = {}: {e}", step.op.name()))?;
        metas.push(meta);
    }
    Ok(metas)
}

/// The value one step makes from its arguments, or why it cannot.
pub fn infer_step(step: &Step, args: &[&Meta], limits: &Limits) -> Result<Meta, String> {
    let op = &step.op;
    let arity = match op {
        Op::Unary(_)
        | Op::Scalar(..)
        | Op::CompareScalar(..)
        | Op::Logical(Logical::Not)
        | Op::Cast(_)
        | Op::Reduce { .. }
        | Op::Softmax { .. }
        | Op::Reshape(_)
        | Op::Permute(_)
        | Op::Transpose(..)
        | Op::Expand(_)
        | Op::Slice { .. }
        | Op::Narrow { .. }
        | Op::Squeeze(_)
        | Op::Unsqueeze(_)
        | Op::Flip(_)
        | Op::Contiguous => Some(1),
        Op::Binary(_) | Op::Compare(_) | Op::Logical(_) | Op::Matmul => Some(2),
        Op::Where => Some(3),
        Op::LayerNorm { weight, bias, .. } => Some(1 + *weight as usize + *bias as usize),
        Op::Concat(_) => None,
    };
    match arity {
        Some(n) if n != args.len() => return Err(format!("takes {n} arguments, got {}", args.len())),
        None if args.is_empty() || args.len() > 4 => return Err("takes 1 to 4 tensors".into()),
        _ => {}
    }
    if op.needs_exact_args() && !args.iter().all(|a| a.is_exact()) {
        return Err("its result jumps, so its arguments must be exact".into());
    }
    let x = args[0];
    let float_args = || {
        if args.iter().all(|a| a.is_float()) { Ok(()) } else { Err("needs float arguments".to_string()) }
    };
    let (dtype, shape, (lo, hi)): Inferred = match op {
        Op::Unary(u) => {
            float_args()?;
            (x.dtype, x.shape.clone(), unary_interval(*u, x.lo, x.hi))
        }
        Op::Binary(b) => {
            float_args()?;
            let y = args[1];
            let shape = broadcast(&x.shape, &y.shape)?;
            (DType::promote(x.dtype, y.dtype), shape, binary_interval(*b, x, y))
        }
        Op::Scalar(s, c) => {
            float_args()?;
            if *s == ScalarOp::Div && c.abs() < 1e-3 {
                return Err("divides by (nearly) zero".into());
            }
            let interval = match s {
                ScalarOp::Add => (x.lo + c, x.hi + c),
                ScalarOp::Sub => (x.lo - c, x.hi - c),
                ScalarOp::Mul => hull(&[x.lo * c, x.hi * c]),
                ScalarOp::Div => hull(&[x.lo / c, x.hi / c]),
                ScalarOp::Rsub => (c - x.hi, c - x.lo),
            };
            (x.dtype, x.shape.clone(), interval)
        }
        Op::Compare(_) => {
            if args.iter().any(|a| a.dtype == DType::Bool) {
                return Err("compares numbers, not bools".into());
            }
            (DType::Bool, broadcast(&x.shape, &args[1].shape)?, (0.0, 1.0))
        }
        Op::CompareScalar(..) => {
            if x.dtype == DType::Bool {
                return Err("compares numbers, not bools".into());
            }
            (DType::Bool, x.shape.clone(), (0.0, 1.0))
        }
        Op::Logical(l) => {
            if !args.iter().all(|a| a.dtype == DType::Bool) {
                return Err("needs bool arguments".into());
            }
            let shape = if *l == Logical::Not { x.shape.clone() } else { broadcast(&x.shape, &args[1].shape)? };
            (DType::Bool, shape, (0.0, 1.0))
        }
        Op::Where => {
            let (a, b) = (args[1], args[2]);
            if x.dtype != DType::Bool || !a.is_float() || !b.is_float() {
                return Err("needs a bool condition and float values".into());
            }
            let shape = broadcast(&broadcast(&x.shape, &a.shape)?, &b.shape)?;
            (DType::promote(a.dtype, b.dtype), shape, (a.lo.min(b.lo), a.hi.max(b.hi)))
        }
        Op::Cast(to) => {
            if !to.is_float() {
                return Err("casts only to float dtypes".into());
            }
            (*to, x.shape.clone(), (x.lo, x.hi))
        }
        Op::Reduce { kind, axes, keepdim } => reduce(*kind, axes, *keepdim, x)?,
        Op::Softmax { dim, log } => {
            float_args()?;
            if *dim >= x.rank() {
                return Err("dim out of range".into());
            }
            let n = x.shape[*dim].max(1) as f64;
            let interval = if *log { (x.lo - x.hi - n.ln(), 0.0) } else { (0.0, 1.0) };
            (x.dtype, x.shape.clone(), interval)
        }
        Op::LayerNorm { axes, weight, bias } => {
            float_args()?;
            if *axes == 0 || *axes > x.rank() {
                return Err("normalizes over 1 to rank trailing dims".into());
            }
            let normalized = &x.shape[x.rank() - axes..];
            for affine in &args[1..] {
                if affine.shape != normalized || affine.dtype != x.dtype {
                    return Err(format!("weight and bias must be {}{normalized:?}", x.dtype.name()));
                }
            }
            let count: usize = normalized.iter().product();
            // A normalized value is at most sqrt(count) away from zero.
            let spread = (count.max(1) as f64).sqrt();
            let scale = if *weight { args[1].bound() } else { 1.0 };
            let (shift_lo, shift_hi) =
                if *bias { (args[args.len() - 1].lo, args[args.len() - 1].hi) } else { (0.0, 0.0) };
            (x.dtype, x.shape.clone(), (shift_lo - spread * scale, shift_hi + spread * scale))
        }
        Op::Matmul => {
            float_args()?;
            let y = args[1];
            if x.rank() == 0 || y.rank() == 0 {
                return Err("needs operands of rank 1 or more".into());
            }
            let shape = shape::matmul(&x.shape, &y.shape).map_err(|e| e.to_string())?.to_vec();
            let k = x.shape[x.rank() - 1] as f64;
            let (lo, hi) = hull(&[x.lo * y.lo, x.lo * y.hi, x.hi * y.lo, x.hi * y.hi]);
            (DType::promote(x.dtype, y.dtype), shape, (k * lo.min(0.0), k * hi.max(0.0)))
        }
        Op::Reshape(r) => (x.dtype, reshaped(r, &x.shape)?, (x.lo, x.hi)),
        Op::Permute(perm) => {
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..x.rank()).collect::<Vec<_>>() {
                return Err(format!("{perm:?} is not a permutation of {} dims", x.rank()));
            }
            (x.dtype, perm.iter().map(|&p| x.shape[p]).collect(), (x.lo, x.hi))
        }
        Op::Transpose(a, b) => {
            if *a >= x.rank() || *b >= x.rank() {
                return Err("dim out of range".into());
            }
            let mut shape = x.shape.clone();
            shape.swap(*a, *b);
            (x.dtype, shape, (x.lo, x.hi))
        }
        Op::Expand(target) => {
            shape::expand(&x.shape, target).map_err(|e| e.to_string())?;
            (x.dtype, target.clone(), (x.lo, x.hi))
        }
        Op::Slice { dim, start, end, step } => {
            if *dim >= x.rank() || *step == 0 {
                return Err("bad slice".into());
            }
            let range = shape::slice(x.shape[*dim], *start as isize, *end as isize, *step as isize)
                .map_err(|e| e.to_string())?;
            let mut shape = x.shape.clone();
            shape[*dim] = range.len;
            (x.dtype, shape, (x.lo, x.hi))
        }
        Op::Narrow { dim, start, len } => {
            if *dim >= x.rank() || start + len > x.shape[*dim] {
                return Err("narrow past the end of the dim".into());
            }
            let mut shape = x.shape.clone();
            shape[*dim] = *len;
            (x.dtype, shape, (x.lo, x.hi))
        }
        Op::Squeeze(d) => {
            if *d >= x.rank() {
                return Err("dim out of range".into());
            }
            let mut shape = x.shape.clone();
            if shape[*d] == 1 {
                shape.remove(*d);
            }
            (x.dtype, shape, (x.lo, x.hi))
        }
        Op::Unsqueeze(d) => {
            if *d > x.rank() {
                return Err("dim out of range".into());
            }
            let mut shape = x.shape.clone();
            shape.insert(*d, 1);
            (x.dtype, shape, (x.lo, x.hi))
        }
        Op::Concat(d) => {
            if args.iter().any(|a| a.dtype != x.dtype) {
                return Err("concatenates tensors of one dtype".into());
            }
            let shapes: Vec<&[usize]> = args.iter().map(|a| a.shape.as_slice()).collect();
            let shape = shape::concat(&shapes, *d).map_err(|e| e.to_string())?.to_vec();
            let lo = args.iter().map(|a| a.lo).fold(f64::INFINITY, f64::min);
            let hi = args.iter().map(|a| a.hi).fold(f64::NEG_INFINITY, f64::max);
            (x.dtype, shape, (lo, hi))
        }
        Op::Flip(dims) => {
            let mut sorted = dims.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if dims.is_empty() || sorted.len() != dims.len() || dims.iter().any(|&d| d >= x.rank()) {
                return Err("flips distinct dims in range".into());
            }
            (x.dtype, x.shape.clone(), (x.lo, x.hi))
        }
        Op::Contiguous => (x.dtype, x.shape.clone(), (x.lo, x.hi)),
    };
    if shape.len() > limits.max_rank {
        return Err(format!("rank {} is over the limit", shape.len()));
    }
    let numel: usize = shape.iter().product();
    if numel > limits.max_numel {
        return Err(format!("{numel} elements are over the limit"));
    }
    if !(lo.is_finite() && hi.is_finite()) || lo.abs().max(hi.abs()) > max_bound(dtype) {
        return Err(format!("values could reach {:.3e}, too close to overflow for {}", lo.abs().max(hi.abs()), dtype));
    }
    let precision = if op.keeps_exact() && args.iter().all(|a| a.is_exact()) {
        Precision::Exact
    } else {
        // The guards of the safe composites compute in their argument's dtype (`|b| + 0.5`
        // of an f32 `b` rounds in f32 even when the quotient is f64).
        let guarded = match op {
            Op::Binary(Binary::DivSafe) => Precision::of(args[1].dtype),
            Op::Binary(Binary::PowSafe) => Precision::of(args[0].dtype),
            _ => Precision::Exact,
        };
        args.iter().map(|a| a.precision).max().unwrap_or(Precision::Exact).max(Precision::of(dtype)).max(guarded)
    };
    Ok(Meta { dtype, shape, lo, hi, precision })
}

/// A step's dtype, shape and value interval.
type Inferred = (DType, Vec<usize>, (f64, f64));

fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    shape::broadcast(a, b).map(|s| s.to_vec()).map_err(|e| e.to_string())
}

/// The smallest interval holding `values`.
fn hull(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// The interval of `|x|` for `x` in `[lo, hi]`.
fn magnitude(lo: f64, hi: f64) -> (f64, f64) {
    if lo >= 0.0 {
        (lo, hi)
    } else if hi <= 0.0 {
        (-hi, -lo)
    } else {
        (0.0, (-lo).max(hi))
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn unary_interval(op: Unary, lo: f64, hi: f64) -> (f64, f64) {
    let (abs_lo, abs_hi) = magnitude(lo, hi);
    // Non-monotone activations dip below zero for negative inputs, never below these.
    let activation = |dip: f64| (if lo < 0.0 { dip } else { 0.0 }, hi.max(0.0));
    match op {
        Unary::Neg => (-hi, -lo),
        Unary::Abs => (abs_lo, abs_hi),
        Unary::Exp => (lo.exp(), hi.exp()),
        Unary::Expm1 => (lo.exp_m1(), hi.exp_m1()),
        Unary::LogAbs => ((abs_lo + ABS_EPS).ln(), (abs_hi + ABS_EPS).ln()),
        Unary::Log1pAbs => (abs_lo.ln_1p(), abs_hi.ln_1p()),
        Unary::SqrtAbs => ((abs_lo + ABS_EPS).sqrt(), (abs_hi + ABS_EPS).sqrt()),
        Unary::RsqrtAbs => (1.0 / (abs_hi + ABS_EPS).sqrt(), 1.0 / (abs_lo + ABS_EPS).sqrt()),
        Unary::Recip => (1.0 / (abs_hi + DENOMINATOR_SHIFT), 1.0 / (abs_lo + DENOMINATOR_SHIFT)),
        Unary::Square => (abs_lo * abs_lo, abs_hi * abs_hi),
        Unary::Tanh => (lo.tanh(), hi.tanh()),
        Unary::Sigmoid => (sigmoid(lo), sigmoid(hi)),
        Unary::Relu => (lo.max(0.0), hi.max(0.0)),
        Unary::Gelu | Unary::GeluTanh => activation(-0.2),
        Unary::Silu => activation(-0.3),
        Unary::Mish => activation(-0.32),
        Unary::Softplus => (softplus(lo), softplus(hi)),
        Unary::Erf | Unary::Sin | Unary::Cos => (-1.0, 1.0),
        Unary::Floor => (lo.floor(), hi.floor()),
        Unary::Ceil => (lo.ceil(), hi.ceil()),
        Unary::Round => (lo.round(), hi.round()),
        Unary::Trunc => (lo.trunc(), hi.trunc()),
        Unary::Sign => (lo.signum().min(0.0), hi.signum().max(0.0)),
        Unary::Clamp(min, max) => (lo.clamp(min, max), hi.clamp(min, max)),
        Unary::LeakyRelu(slope) => (if lo < 0.0 { lo * slope } else { lo }, if hi < 0.0 { hi * slope } else { hi }),
        Unary::Elu(alpha) => {
            let f = |x: f64| if x > 0.0 { x } else { alpha * x.exp_m1() };
            (f(lo), f(hi))
        }
    }
}

fn binary_interval(op: Binary, x: &Meta, y: &Meta) -> (f64, f64) {
    match op {
        Binary::Add => (x.lo + y.lo, x.hi + y.hi),
        Binary::Sub => (x.lo - y.hi, x.hi - y.lo),
        Binary::Mul => hull(&[x.lo * y.lo, x.lo * y.hi, x.hi * y.lo, x.hi * y.hi]),
        Binary::DivSafe => {
            let (d_lo, d_hi) = magnitude(y.lo, y.hi);
            let (d_lo, d_hi) = (d_lo + DENOMINATOR_SHIFT, d_hi + DENOMINATOR_SHIFT);
            hull(&[x.lo / d_lo, x.lo / d_hi, x.hi / d_lo, x.hi / d_hi])
        }
        Binary::Maximum => (x.lo.max(y.lo), x.hi.max(y.hi)),
        Binary::Minimum => (x.lo.min(y.lo), x.hi.min(y.hi)),
        Binary::PowSafe => {
            // A positive base: the extremes are at the corners of the argument box.
            let (b_lo, b_hi) = magnitude(x.lo, x.hi);
            let (b_lo, b_hi) = (b_lo + DENOMINATOR_SHIFT, b_hi + DENOMINATOR_SHIFT);
            let limit = POW_EXPONENT_LIMIT;
            let (e_lo, e_hi) = (y.lo.clamp(-limit, limit), y.hi.clamp(-limit, limit));
            hull(&[b_lo.powf(e_lo), b_lo.powf(e_hi), b_hi.powf(e_lo), b_hi.powf(e_hi)])
        }
    }
}

fn reduce(kind: Reduction, axes: &[usize], keepdim: bool, x: &Meta) -> Result<Inferred, String> {
    if !x.is_float() {
        return Err("reduces float tensors".into());
    }
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != axes.len() || axes.iter().any(|&a| a >= x.rank()) || (axes.is_empty() && x.rank() > 0) {
        return Err(format!("axes {axes:?} are not distinct dims of a rank-{} tensor", x.rank()));
    }
    let count: usize = axes.iter().map(|&a| x.shape[a]).product();
    let shape = shape::reduce(&x.shape, axes, keepdim).to_vec();
    let n = count as f64;
    let interval = match kind {
        Reduction::Sum => (n * x.lo.min(0.0), n * x.hi.max(0.0)),
        Reduction::Mean | Reduction::Max | Reduction::Min => (x.lo, x.hi),
        Reduction::Prod => {
            if count > 8 || !x.away_from_zero() {
                return Err("multiplies at most 8 values bounded away from zero".into());
            }
            let m = x.bound().max(1.0).powi(count as i32);
            (-m, m)
        }
        Reduction::Var { .. } => (0.0, (x.hi - x.lo).powi(2)),
        Reduction::LogSumExp => (x.lo, x.hi + n.max(1.0).ln()),
        Reduction::ArgMax | Reduction::ArgMin => {
            if axes.len() != 1 {
                return Err("takes one dim".into());
            }
            (0.0, n)
        }
    };
    let needs_values = !matches!(kind, Reduction::Sum | Reduction::Prod);
    if needs_values && count == 0 {
        return Err("reduces over no values".into());
    }
    if matches!(kind, Reduction::Var { .. }) && count < 2 {
        return Err("a variance needs two values".into());
    }
    let dtype = if matches!(kind, Reduction::ArgMax | Reduction::ArgMin) { DType::I64 } else { x.dtype };
    Ok((dtype, shape, interval))
}

/// The shape a reshape makes of `shape`.
pub fn reshaped(reshape: &Reshape, shape: &[usize]) -> Result<Vec<usize>, String> {
    match *reshape {
        Reshape::Merge { start, end } => {
            if start >= end || end >= shape.len() {
                return Err("merges a range of two or more dims".into());
            }
            let mut out = shape[..start].to_vec();
            out.push(shape[start..=end].iter().product());
            out.extend_from_slice(&shape[end + 1..]);
            Ok(out)
        }
        Reshape::Split { dim, first } => {
            if dim >= shape.len() || first == 0 || !shape[dim].is_multiple_of(first) {
                return Err(format!("cannot split a dim into {first} parts"));
            }
            let mut out = shape[..dim].to_vec();
            out.push(first);
            out.push(shape[dim] / first);
            out.extend_from_slice(&shape[dim + 1..]);
            Ok(out)
        }
        Reshape::Flatten => Ok(vec![shape.iter().product()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::program::{Comparison, Fill, InputSpec, ValueId};

    fn meta(shape: &[usize], lo: f64, hi: f64, precision: Precision) -> Meta {
        Meta { dtype: DType::F32, shape: shape.to_vec(), lo, hi, precision }
    }

    fn check(op: Op, args: &[&Meta]) -> Result<Meta, String> {
        let step = Step { op, args: (0..args.len()).map(ValueId).collect() };
        infer_step(&step, args, &Limits::default())
    }

    #[test]
    fn comparisons_and_floors_take_only_exact_values() {
        let exact = meta(&[3], -2.0, 2.0, Precision::Exact);
        let rounded = meta(&[3], -2.0, 2.0, Precision::F32);
        assert!(check(Op::Compare(Comparison::Lt), &[&exact, &exact]).is_ok());
        assert!(check(Op::Compare(Comparison::Lt), &[&exact, &rounded]).is_err());
        assert!(check(Op::Unary(Unary::Floor), &[&rounded]).is_err());
        // Moving, selecting and comparing keep exactness; arithmetic does not.
        assert!(check(Op::Unary(Unary::Relu), &[&exact]).unwrap().is_exact());
        assert!(check(Op::Scalar(ScalarOp::Mul, 4.0), &[&exact]).unwrap().is_exact());
        assert!(!check(Op::Scalar(ScalarOp::Mul, 3.0), &[&exact]).unwrap().is_exact());
        assert_eq!(check(Op::Unary(Unary::Tanh), &[&exact]).unwrap().precision, Precision::F32);
    }

    #[test]
    fn a_value_rounded_to_half_precision_stays_that_coarse() {
        let rounded = meta(&[3], -2.0, 2.0, Precision::F32);
        let half = check(Op::Cast(DType::F16), &[&rounded]).unwrap();
        assert_eq!(half.precision, Precision::F16);
        assert_eq!(check(Op::Cast(DType::F64), &[&half]).unwrap().precision, Precision::F16);
        let exact = meta(&[3], -2.0, 2.0, Precision::Exact);
        assert!(check(Op::Cast(DType::BF16), &[&exact]).unwrap().is_exact());
    }

    #[test]
    fn steps_that_could_overflow_or_reduce_nothing_are_rejected() {
        let wide = meta(&[4], -20.0, 20.0, Precision::Exact);
        assert!(check(Op::Unary(Unary::Exp), &[&wide]).unwrap_err().contains("overflow"));
        let empty = meta(&[0, 3], -1.0, 1.0, Precision::Exact);
        let max = Op::Reduce { kind: Reduction::Max, axes: vec![0], keepdim: false };
        assert!(check(max, &[&empty]).is_err());
        let sum = Op::Reduce { kind: Reduction::Sum, axes: vec![0], keepdim: false };
        assert_eq!(check(sum, &[&empty]).unwrap().shape, vec![3]);
        let near_zero = meta(&[4], -1.0, 1.0, Precision::Exact);
        assert!(check(Op::Reduce { kind: Reduction::Prod, axes: vec![0], keepdim: false }, &[&near_zero]).is_err());
    }

    #[test]
    fn shapes_follow_the_library_rules() {
        let a = meta(&[2, 3, 4], -1.0, 1.0, Precision::Exact);
        let b = meta(&[4, 5], -1.0, 1.0, Precision::Exact);
        assert_eq!(check(Op::Matmul, &[&a, &b]).unwrap().shape, vec![2, 3, 5]);
        assert!(check(Op::Matmul, &[&b, &a]).is_err());
        assert_eq!(
            check(Op::Binary(Binary::Add), &[&a, &meta(&[3, 1], 0.0, 1.0, Precision::Exact)]).unwrap().shape,
            [2, 3, 4]
        );
        assert_eq!(check(Op::Reshape(Reshape::Split { dim: 2, first: 2 }), &[&a]).unwrap().shape, vec![2, 3, 2, 2]);
        assert_eq!(check(Op::Slice { dim: 2, start: 1, end: 9, step: 2 }, &[&a]).unwrap().shape, vec![2, 3, 2]);
    }

    #[test]
    fn inputs_and_references_are_checked() {
        let program = Program {
            seed: 0,
            inputs: vec![InputSpec {
                shape: vec![2],
                dtype: DType::F32,
                layout: Layout::Permuted(vec![0, 1]),
                fill: Fill { lo: 0.0, hi: 1.0, quantum: 0.0, specials: 0.0 },
                requires_grad: false,
                seed: 0,
            }],
            steps: Vec::new(),
            outputs: vec![ValueId(0)],
        };
        assert!(infer(&program, &Limits::default()).unwrap_err().contains("permutation"));
        let mut forward_reference = program.clone();
        forward_reference.inputs[0].layout = Layout::Contiguous;
        forward_reference.steps.push(Step { op: Op::Unary(Unary::Neg), args: vec![ValueId(1)] });
        assert!(infer(&forward_reference, &Limits::default()).unwrap_err().contains("not defined before"));
    }
}
