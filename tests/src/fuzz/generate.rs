//! Random programs from a seed: one to three inputs of related random shapes (so that
//! broadcasting, matrix products and affine layer norms find partners) in random layouts,
//! then steps proposed at random and kept when `infer` accepts them.
//!
//! The generator only proposes; `infer` decides what is valid, so a rule lives in one
//! place and the minimizer's candidates obey the same rules.

use super::infer::{Limits, Meta, infer_step, infer_values};
use super::program::{
    Binary, Comparison, Fill, InputSpec, Layout, Logical, Op, Program, Reduction, Reshape, ScalarOp, Step, Unary,
    ValueId,
};
use super::rng::Rng;
use ignis::DType;
use ignis_ir::shape;

/// What the generator may produce.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    pub limits: Limits,
    /// Programs have 1 to `max_steps` steps.
    pub max_steps: usize,
    /// The fraction of programs whose inputs hold NaN and infinities.
    pub special_fraction: f64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { limits: Limits::default(), max_steps: 12, special_fraction: 0.06 }
    }
}

/// Dim sizes: the small ones, powers of two, and sizes one past them (vector tails); 64 and
/// 300 give rows long enough for blocked loops (one block, and two with a partial one).
const DIM_SIZES: [usize; 12] = [0, 1, 2, 3, 5, 7, 8, 16, 17, 33, 64, 300];
/// Size 0 is rare: one program in a few dozen meets it.
const DIM_WEIGHTS: [u32; 12] = [1, 14, 14, 14, 12, 10, 10, 8, 8, 5, 3, 2];

/// The unary ops and how often each is drawn.
const UNARY_WEIGHTS: [(Unary, u32); 29] = [
    (Unary::Neg, 3),
    (Unary::Abs, 3),
    (Unary::Exp, 4),
    (Unary::Expm1, 2),
    (Unary::LogAbs, 4),
    (Unary::Log1pAbs, 2),
    (Unary::SqrtAbs, 3),
    (Unary::RsqrtAbs, 2),
    (Unary::Recip, 3),
    (Unary::Square, 3),
    (Unary::Tanh, 4),
    (Unary::Sigmoid, 4),
    (Unary::Relu, 4),
    (Unary::Gelu, 3),
    (Unary::GeluTanh, 3),
    (Unary::Silu, 3),
    (Unary::Softplus, 3),
    (Unary::Mish, 2),
    (Unary::Erf, 3),
    (Unary::Sin, 3),
    (Unary::Cos, 3),
    (Unary::Floor, 3),
    (Unary::Ceil, 1),
    (Unary::Round, 2),
    (Unary::Trunc, 1),
    (Unary::Sign, 1),
    (Unary::Clamp(-0.5, 1.0), 3),
    (Unary::LeakyRelu(0.1), 3),
    (Unary::Elu(1.0), 3),
];

/// A random program; the same seed and options always give the same program.
pub fn generate(seed: u64, options: &GenerateOptions) -> Program {
    let mut builder = Builder {
        rng: Rng::new(seed),
        program: Program { seed, inputs: Vec::new(), steps: Vec::new(), outputs: Vec::new() },
        metas: Vec::new(),
        options,
    };
    builder.add_inputs();
    let target = builder.rng.range(1, options.max_steps.max(1));
    let mut proposals = 0;
    while builder.program.steps.len() < target && proposals < 40 * target {
        proposals += 1;
        if let Some(step) = builder.propose() {
            builder.try_push(step);
        }
    }
    builder.choose_outputs();
    builder.program
}

struct Builder<'a> {
    rng: Rng,
    program: Program,
    metas: Vec<Meta>,
    options: &'a GenerateOptions,
}

impl Builder<'_> {
    fn limits(&self) -> &Limits {
        &self.options.limits
    }

    fn try_push(&mut self, step: Step) -> bool {
        let args: Vec<&Meta> = step.args.iter().map(|a| &self.metas[a.0]).collect();
        match infer_step(&step, &args, self.limits()) {
            Ok(meta) => {
                self.program.steps.push(step);
                self.metas.push(meta);
                true
            }
            Err(_) => false,
        }
    }

    // ---- inputs

    fn dim(&mut self) -> usize {
        DIM_SIZES[self.rng.weighted(&DIM_WEIGHTS)]
    }

    /// Room for the ops that grow a tensor (expand, cat, broadcasting) after the inputs.
    fn input_budget(&self) -> usize {
        self.limits().max_numel / 4
    }

    fn random_shape(&mut self, rank: usize) -> Vec<usize> {
        for _ in 0..20 {
            let shape: Vec<usize> = (0..rank).map(|_| self.dim()).collect();
            if shape.iter().product::<usize>() <= self.input_budget() {
                return shape;
            }
        }
        (0..rank).map(|_| *self.rng.pick(&[1, 2, 3])).collect()
    }

    fn random_rank(&mut self) -> usize {
        self.rng.weighted(&[1, 3, 4, 3, 2])
    }

    /// A shape that works with `first`: the same, broadcastable against it, its matrix
    /// product partner, its trailing dims (a layer norm weight), or unrelated.
    fn related_shape(&mut self, first: &[usize]) -> Vec<usize> {
        let rank = first.len();
        let shape = match self.rng.weighted(&[30, 25, 20, 10, 15]) {
            0 => first.to_vec(),
            1 => {
                let dropped = self.rng.range(0, rank);
                first[dropped..].iter().map(|&d| if self.rng.chance(0.4) { 1 } else { d }).collect()
            }
            2 if rank >= 1 => {
                let (k, n) = (first[rank - 1], self.dim().max(1));
                if rank >= 3 && self.rng.chance(0.6) {
                    let mut batched = first[..rank - 2].to_vec();
                    batched.extend([k, n]);
                    batched
                } else if self.rng.chance(0.2) {
                    vec![k]
                } else {
                    vec![k, n]
                }
            }
            3 if rank >= 1 => first[rank - self.rng.range(1, rank.min(2))..].to_vec(),
            _ => {
                let rank = self.random_rank();
                self.random_shape(rank)
            }
        };
        if shape.iter().product::<usize>() <= self.input_budget() { shape } else { vec![self.dim()] }
    }

    fn random_layout(&mut self, shape: &[usize]) -> Layout {
        let rank = shape.len();
        if rank == 0 {
            return Layout::Contiguous;
        }
        let numel: usize = shape.iter().product();
        match self.rng.weighted(&[50, 15, 12, 8, 15]) {
            1 if rank >= 2 => {
                let mut perm: Vec<usize> = (0..rank).collect();
                while perm.iter().enumerate().all(|(i, &p)| i == p) {
                    self.rng.shuffle(&mut perm);
                }
                Layout::Permuted(perm)
            }
            2 => {
                let step = self.rng.range(2, 3);
                if numel * step > self.limits().max_numel {
                    return Layout::Contiguous;
                }
                Layout::Stepped { dim: self.rng.below(rank), step }
            }
            3 => Layout::Offset { dim: self.rng.below(rank), start: self.rng.range(1, 3) },
            4 => {
                let wide: Vec<usize> = (0..rank).filter(|&d| shape[d] >= 2).collect();
                if wide.is_empty() {
                    return Layout::Contiguous;
                }
                let mut dims = vec![*self.rng.pick(&wide)];
                let second = *self.rng.pick(&wide);
                if self.rng.chance(0.3) && !dims.contains(&second) {
                    dims.push(second);
                    dims.sort_unstable();
                }
                Layout::Expanded(dims)
            }
            _ => Layout::Contiguous,
        }
    }

    fn random_fill(&mut self, specials: bool) -> Fill {
        let (lo, hi, quantum) = match self.rng.weighted(&[50, 10, 15, 10, 15]) {
            0 => (-2.0, 2.0, 0.0),
            1 => (-0.5, 0.5, 0.0),
            2 => (0.25, 2.25, 0.0),
            3 => (-6.0, 6.0, 0.0),
            // Few distinct values: ties for max and min, equal operands for comparisons.
            _ => (-1.0, 1.0, 0.5),
        };
        let specials = if specials && self.rng.chance(0.7) { 0.1 } else { 0.0 };
        Fill { lo, hi, quantum, specials }
    }

    fn add_inputs(&mut self) {
        let specials = self.rng.chance(self.options.special_fraction);
        let count = 1 + self.rng.weighted(&[35, 40, 25]);
        let rank = self.random_rank();
        let first = self.random_shape(rank);
        let mut first_dtype = DType::F32;
        for i in 0..count {
            let shape = if i == 0 { first.clone() } else { self.related_shape(&first) };
            let dtype = if i > 0 && self.rng.chance(0.7) {
                first_dtype
            } else {
                [DType::F32, DType::F64, DType::F16, DType::BF16][self.rng.weighted(&[80, 10, 5, 5])]
            };
            if i == 0 {
                first_dtype = dtype;
            }
            let layout = self.random_layout(&shape);
            let fill = self.random_fill(specials);
            let requires_grad = self.rng.chance(0.85);
            let seed = self.rng.next_u64();
            self.program.inputs.push(InputSpec { shape, dtype, layout, fill, requires_grad, seed });
        }
        self.metas = infer_values(&self.program, self.limits()).expect("generated inputs are valid");
    }

    // ---- steps

    /// A value passing `filter`; newer values are favoured, so steps tend to form chains.
    fn pick(&mut self, filter: impl Fn(ValueId, &Meta) -> bool) -> Option<ValueId> {
        let candidates: Vec<ValueId> =
            (0..self.metas.len()).map(ValueId).filter(|&id| filter(id, &self.metas[id.0])).collect();
        let last = *candidates.last()?;
        Some(if self.rng.chance(0.5) { last } else { *self.rng.pick(&candidates) })
    }

    fn meta(&self, id: ValueId) -> &Meta {
        &self.metas[id.0]
    }

    fn propose(&mut self) -> Option<Step> {
        // unary, binary, scalar, compare, where, logical, cast, reduce, softmax, layer norm,
        // matmul, movement
        match self.rng.weighted(&[26, 18, 8, 7, 5, 4, 6, 12, 4, 3, 6, 18]) {
            0 => self.unary(),
            1 => self.binary(),
            2 => self.scalar(),
            3 => self.compare(),
            4 => self.where_(),
            5 => self.logical(),
            6 => self.cast(),
            7 => self.reduce(),
            8 => self.softmax(),
            9 => self.layer_norm(),
            10 => self.matmul(),
            _ => self.movement(),
        }
    }

    fn unary(&mut self) -> Option<Step> {
        let weights: Vec<u32> = UNARY_WEIGHTS.iter().map(|(_, w)| *w).collect();
        let mut op = UNARY_WEIGHTS[self.rng.weighted(&weights)].0;
        match &mut op {
            Unary::Clamp(lo, hi) => {
                *lo = -0.25 * self.rng.range(0, 6) as f64;
                *hi = *lo + 0.25 * self.rng.range(1, 8) as f64;
            }
            Unary::LeakyRelu(slope) => *slope = *self.rng.pick(&[0.01, 0.1, 0.2]),
            Unary::Elu(alpha) => *alpha = *self.rng.pick(&[0.5, 1.0, 1.3]),
            _ => {}
        }
        let needs_exact = Op::Unary(op).needs_exact_args();
        let x = self.pick(|_, m| m.is_float() && (!needs_exact || m.is_exact()))?;
        Some(Step { op: Op::Unary(op), args: vec![x] })
    }

    fn binary(&mut self) -> Option<Step> {
        let op = *self.rng.pick(&Binary::ALL);
        let x = self.pick(|_, m| m.is_float())?;
        let x_shape = self.meta(x).shape.clone();
        // Never both operands the same value: `v - v` or `v * v - v * v` cancels exactly
        // in eager code but not under fma contraction, which is not a bug.
        let y = self.pick(|id, m| id != x && m.is_float() && shape::broadcast(&m.shape, &x_shape).is_ok())?;
        let args = if self.rng.chance(0.5) { vec![x, y] } else { vec![y, x] };
        Some(Step { op: Op::Binary(op), args })
    }

    fn scalar(&mut self) -> Option<Step> {
        let op = *self.rng.pick(&ScalarOp::ALL);
        let constant = match op {
            ScalarOp::Add | ScalarOp::Sub | ScalarOp::Rsub => *self.rng.pick(&[0.5, 1.0, -1.5, 3.0, 0.1]),
            ScalarOp::Mul => *self.rng.pick(&[2.0, 0.5, -1.0, 4.0, 3.0, -0.25, 1.5]),
            ScalarOp::Div => *self.rng.pick(&[2.0, 4.0, -0.5, 3.0, 0.75]),
        };
        let x = self.pick(|_, m| m.is_float())?;
        Some(Step { op: Op::Scalar(op, constant), args: vec![x] })
    }

    fn compare(&mut self) -> Option<Step> {
        let kind = *self.rng.pick(&Comparison::ALL);
        let x = self.pick(|_, m| m.is_exact() && m.dtype != DType::Bool)?;
        if self.rng.chance(0.5) {
            let constant = *self.rng.pick(&[0.0, 0.5, 1.0, -0.5]);
            return Some(Step { op: Op::CompareScalar(kind, constant), args: vec![x] });
        }
        let x_shape = self.meta(x).shape.clone();
        let y = self.pick(|id, m| {
            id != x && m.is_exact() && m.dtype != DType::Bool && shape::broadcast(&m.shape, &x_shape).is_ok()
        })?;
        Some(Step { op: Op::Compare(kind), args: vec![x, y] })
    }

    fn where_(&mut self) -> Option<Step> {
        let cond = self.pick(|_, m| m.dtype == DType::Bool)?;
        let cond_shape = self.meta(cond).shape.clone();
        let a = self.pick(|_, m| m.is_float() && shape::broadcast(&m.shape, &cond_shape).is_ok())?;
        let joint = shape::broadcast(&cond_shape, &self.meta(a).shape).ok()?.to_vec();
        let b = self.pick(|id, m| id != a && m.is_float() && shape::broadcast(&m.shape, &joint).is_ok())?;
        Some(Step { op: Op::Where, args: vec![cond, a, b] })
    }

    fn logical(&mut self) -> Option<Step> {
        let x = self.pick(|_, m| m.dtype == DType::Bool)?;
        if self.rng.chance(0.4) {
            return Some(Step { op: Op::Logical(Logical::Not), args: vec![x] });
        }
        let x_shape = self.meta(x).shape.clone();
        let y = self.pick(|id, m| id != x && m.dtype == DType::Bool && shape::broadcast(&m.shape, &x_shape).is_ok())?;
        let op = if self.rng.chance(0.5) { Logical::And } else { Logical::Or };
        Some(Step { op: Op::Logical(op), args: vec![x, y] })
    }

    fn cast(&mut self) -> Option<Step> {
        let x = self.pick(|_, _| true)?;
        let to = match self.meta(x).dtype {
            DType::F32 => [DType::F64, DType::F16, DType::BF16][self.rng.weighted(&[40, 30, 30])],
            DType::F64 => [DType::F32, DType::F16][self.rng.weighted(&[80, 20])],
            DType::F16 | DType::BF16 => [DType::F32, DType::F64][self.rng.weighted(&[80, 20])],
            _ => DType::F32,
        };
        Some(Step { op: Op::Cast(to), args: vec![x] })
    }

    /// One axis, two, or all of them, sorted.
    fn random_axes(&mut self, rank: usize) -> Vec<usize> {
        let count = match self.rng.weighted(&[60, 25, 15]) {
            0 => 1,
            1 => 2.min(rank),
            _ => rank,
        };
        let mut all: Vec<usize> = (0..rank).collect();
        self.rng.shuffle(&mut all);
        let mut axes = all[..count.min(rank)].to_vec();
        axes.sort_unstable();
        axes
    }

    fn reduce(&mut self) -> Option<Step> {
        let kinds = [
            (Reduction::Sum, 5),
            (Reduction::Mean, 4),
            (Reduction::Max, 3),
            (Reduction::Min, 2),
            (Reduction::Prod, 2),
            (Reduction::Var { correction: 1 }, 1),
            (Reduction::Var { correction: 0 }, 1),
            (Reduction::LogSumExp, 2),
            (Reduction::ArgMax, 1),
            (Reduction::ArgMin, 1),
        ];
        let weights: Vec<u32> = kinds.iter().map(|(_, w)| *w).collect();
        let kind = kinds[self.rng.weighted(&weights)].0;
        let single = matches!(kind, Reduction::ArgMax | Reduction::ArgMin);
        let exact = single;
        let prod = kind == Reduction::Prod;
        let x = self.pick(|_, m| {
            m.is_float() && (m.rank() >= 1 || !single) && (!exact || m.is_exact()) && (!prod || m.away_from_zero())
        })?;
        let rank = self.meta(x).rank();
        let axes = if single { vec![self.rng.below(rank)] } else { self.random_axes(rank) };
        let keepdim = self.rng.chance(0.5);
        Some(Step { op: Op::Reduce { kind, axes, keepdim }, args: vec![x] })
    }

    fn softmax(&mut self) -> Option<Step> {
        let x = self.pick(|_, m| m.is_float() && m.rank() >= 1)?;
        let dim = self.rng.below(self.meta(x).rank());
        Some(Step { op: Op::Softmax { dim, log: self.rng.chance(0.5) }, args: vec![x] })
    }

    fn layer_norm(&mut self) -> Option<Step> {
        let x = self.pick(|_, m| m.is_float() && m.rank() >= 1)?;
        let (rank, dtype) = (self.meta(x).rank(), self.meta(x).dtype);
        let axes = if rank >= 2 && self.rng.chance(0.3) { 2 } else { 1 };
        let normalized = self.meta(x).shape[rank - axes..].to_vec();
        let fits = |_: ValueId, m: &Meta| m.dtype == dtype && m.shape == normalized;
        let weight = if self.rng.chance(0.6) { self.pick(fits) } else { None };
        let bias = if self.rng.chance(0.5) { self.pick(fits) } else { None };
        let mut args = vec![x];
        args.extend(weight);
        args.extend(bias);
        Some(Step { op: Op::LayerNorm { axes, weight: weight.is_some(), bias: bias.is_some() }, args })
    }

    fn matmul(&mut self) -> Option<Step> {
        let x = self.pick(|_, m| m.is_float() && m.rank() >= 1)?;
        let x_shape = self.meta(x).shape.clone();
        if let Some(y) = self.pick(|_, m| m.is_float() && m.rank() >= 1 && shape::matmul(&x_shape, &m.shape).is_ok()) {
            return Some(Step { op: Op::Matmul, args: vec![x, y] });
        }
        // No partner yet: transpose a value whose last dim matches, for a later product.
        let k = x_shape[x_shape.len() - 1];
        let y = self.pick(|_, m| m.is_float() && m.rank() >= 2 && m.shape[m.rank() - 1] == k)?;
        let rank = self.meta(y).rank();
        Some(Step { op: Op::Transpose(rank - 2, rank - 1), args: vec![y] })
    }

    fn movement(&mut self) -> Option<Step> {
        let x = self.pick(|_, _| true)?;
        let shape = self.meta(x).shape.clone();
        let rank = shape.len();
        let op = match self.rng.weighted(&[4, 3, 3, 3, 3, 2, 2, 3, 3, 2, 2]) {
            0 => Op::Reshape(self.random_reshape(&shape)?),
            1 if rank >= 2 => {
                let mut perm: Vec<usize> = (0..rank).collect();
                self.rng.shuffle(&mut perm);
                Op::Permute(perm)
            }
            2 if rank >= 2 => {
                let a = self.rng.below(rank);
                let b = (a + self.rng.range(1, rank - 1)) % rank;
                Op::Transpose(a, b)
            }
            3 => {
                let mut target: Vec<usize> =
                    shape.iter().map(|&d| if d == 1 && self.rng.chance(0.7) { self.dim().max(2) } else { d }).collect();
                if rank < self.limits().max_rank && self.rng.chance(0.4) {
                    target.insert(0, self.rng.range(2, 3));
                }
                if target == shape {
                    return None;
                }
                Op::Expand(target)
            }
            4 if rank >= 1 => {
                let dim = self.rng.below(rank);
                let size = shape[dim];
                let start = self.rng.range(0, size.saturating_sub(1));
                let end = if self.rng.chance(0.1) { size + 3 } else { self.rng.range(start + 1, size.max(start + 1)) };
                let step = [1, 2, 3][self.rng.weighted(&[40, 40, 20])];
                Op::Slice { dim, start, end, step }
            }
            5 if rank >= 1 => {
                let dim = self.rng.below(rank);
                let start = self.rng.range(0, shape[dim]);
                let len = self.rng.range(0, shape[dim] - start);
                Op::Narrow { dim, start, len }
            }
            6 if rank >= 1 => {
                let ones: Vec<usize> = (0..rank).filter(|&d| shape[d] == 1).collect();
                let dim =
                    if !ones.is_empty() && self.rng.chance(0.8) { *self.rng.pick(&ones) } else { self.rng.below(rank) };
                Op::Squeeze(dim)
            }
            7 => Op::Unsqueeze(self.rng.range(0, rank)),
            8 if rank >= 1 => {
                let dim = self.rng.below(rank);
                let dtype = self.meta(x).dtype;
                let fits = |_: ValueId, m: &Meta| {
                    m.dtype == dtype
                        && m.rank() == rank
                        && m.shape.iter().zip(&shape).enumerate().all(|(d, (a, b))| d == dim || a == b)
                };
                let mut args = vec![x];
                for _ in 0..self.rng.range(1, 2) {
                    args.push(self.pick(fits)?);
                }
                self.rng.shuffle(&mut args);
                return Some(Step { op: Op::Concat(dim), args });
            }
            9 if rank >= 1 => {
                let mut dims: Vec<usize> = (0..rank).collect();
                self.rng.shuffle(&mut dims);
                dims.truncate(self.rng.range(1, rank.min(2)));
                Op::Flip(dims)
            }
            10 => Op::Contiguous,
            _ => return None,
        };
        Some(Step { op, args: vec![x] })
    }

    fn random_reshape(&mut self, shape: &[usize]) -> Option<Reshape> {
        let rank = shape.len();
        match self.rng.below(3) {
            0 if rank >= 2 => {
                let start = self.rng.below(rank - 1);
                let end = self.rng.range(start + 1, rank - 1);
                Some(Reshape::Merge { start, end })
            }
            1 if rank >= 1 => {
                let dim = self.rng.below(rank);
                let size = shape[dim];
                let divisors: Vec<usize> = (2..size).filter(|&f| size.is_multiple_of(f)).collect();
                let first = if divisors.is_empty() { 1 } else { *self.rng.pick(&divisors) };
                Some(Reshape::Split { dim, first })
            }
            _ if rank != 1 => Some(Reshape::Flatten),
            _ => None,
        }
    }

    fn choose_outputs(&mut self) {
        let first_step = self.program.inputs.len();
        let count = self.metas.len();
        let mut outputs = vec![ValueId(count - 1)];
        if count > first_step + 1 {
            for p in [0.4, 0.15] {
                if self.rng.chance(p) {
                    outputs.push(ValueId(self.rng.range(first_step, count - 1)));
                }
            }
        }
        if self.rng.chance(0.05) {
            outputs.push(ValueId(self.rng.below(first_step)));
        }
        let mut seen = Vec::new();
        outputs.retain(|o| {
            let new = !seen.contains(o);
            seen.push(*o);
            new
        });
        self.program.outputs = outputs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::infer::infer;
    use std::collections::BTreeSet;

    #[test]
    fn a_seed_always_gives_the_same_program() {
        let options = GenerateOptions::default();
        for seed in [0, 1, 42, 7_777, u64::MAX] {
            assert_eq!(generate(seed, &options), generate(seed, &options), "seed {seed}");
        }
    }

    #[test]
    fn different_seeds_give_different_programs() {
        let options = GenerateOptions::default();
        let programs: Vec<Program> = (0..50).map(|seed| generate(seed, &options)).collect();
        let distinct = programs.iter().enumerate().filter(|(i, p)| !programs[..*i].contains(p)).count();
        assert_eq!(distinct, 50);
    }

    #[test]
    fn every_program_checks_and_returns_a_computed_value() {
        let options = GenerateOptions::default();
        for seed in 0..1000 {
            let program = generate(seed, &options);
            let metas = infer(&program, &options.limits).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!((1..=3).contains(&program.inputs.len()), "seed {seed}: {} inputs", program.inputs.len());
            assert!(
                (1..=options.max_steps).contains(&program.steps.len()),
                "seed {seed}: {} steps",
                program.steps.len()
            );
            assert!(program.outputs[0].0 >= program.inputs.len(), "seed {seed}: the first output is an input");
            for input in &program.inputs {
                assert!(input.shape.len() <= 4 && input.shape.iter().all(|d| DIM_SIZES.contains(d)), "seed {seed}");
            }
            assert_eq!(metas.len(), program.inputs.len() + program.steps.len());
        }
    }

    #[test]
    fn the_generator_draws_every_op_layout_and_dtype() {
        let options = GenerateOptions::default();
        let (mut ops, mut features) = (BTreeSet::new(), BTreeSet::new());
        for seed in 0..3000 {
            let program = generate(seed, &options);
            ops.extend(program.steps.iter().map(|s| s.op.name()));
            for input in &program.inputs {
                features.insert(input.layout.kind().to_string());
                features.insert(input.dtype.name().to_string());
                features.insert(format!("rank {}", input.shape.len()));
                if input.shape.contains(&0) {
                    features.insert("size 0".into());
                }
                if input.fill.specials > 0.0 {
                    features.insert("specials".into());
                }
            }
        }
        let mut expected: Vec<String> = UNARY_WEIGHTS.iter().map(|(u, _)| u.name().to_string()).collect();
        expected.extend(Binary::ALL.iter().map(|b| b.name().to_string()));
        expected.extend(ScalarOp::ALL.iter().map(|s| s.name().to_string()));
        expected.extend(Comparison::ALL.iter().flat_map(|c| [c.name().to_string(), format!("{}_scalar", c.name())]));
        let others = [
            "logical_not",
            "logical_and",
            "logical_or",
            "where",
            "to_f32",
            "to_f64",
            "to_f16",
            "to_bf16",
            "sum",
            "mean",
            "max",
            "min",
            "prod",
            "var",
            "logsumexp",
            "argmax",
            "argmin",
            "softmax",
            "log_softmax",
            "layer_norm",
            "layer_norm+weight",
            "layer_norm+bias",
            "layer_norm+weight+bias",
            "matmul",
            "reshape",
            "permute",
            "transpose",
            "expand",
            "slice",
            "narrow",
            "squeeze",
            "unsqueeze",
            "cat",
            "flip",
            "contiguous",
        ];
        expected.extend(others.iter().map(|s| s.to_string()));
        let missing: Vec<&String> = expected.iter().filter(|name| !ops.contains(*name)).collect();
        assert!(missing.is_empty(), "never generated: {missing:?}");
        for feature in [
            "contiguous",
            "permuted",
            "stepped",
            "offset",
            "expanded",
            "f32",
            "f64",
            "f16",
            "bf16",
            "rank 0",
            "rank 4",
            "size 0",
            "specials",
        ] {
            assert!(features.contains(feature), "no input with {feature}");
        }
    }
}
