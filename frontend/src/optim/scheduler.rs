//! Learning-rate schedules (`torch.optim.lr_scheduler`).
//!
//! A schedule sets the lr of every parameter group from the group's initial lr (PyTorch's
//! `initial_lr`, recorded by the first scheduler built on the optimizer) and the number of
//! steps taken. Building a scheduler writes the lrs of step 0, as PyTorch's constructors
//! do; call `step` after each `Optimizer::step`.
//!
//! The lrs come from each schedule's closed form. For plain stepping this is the sequence
//! of PyTorch's `get_last_lr()` (PyTorch's recursive forms differ from it only by
//! rounding); what it does not reproduce is PyTorch's chaining of two schedulers that
//! step the same optimizer at once (`ChainedScheduler`): here the last one wins.
//! `SequentialLR` runs schedules one after another, e.g. a linear warm-up then a cosine.

use super::Optimizer;
use std::f64::consts::PI;

/// A learning-rate schedule driving an optimizer.
pub trait LrScheduler {
    /// Advances one step and writes each group's new lr into `opt`.
    fn step(&mut self, opt: &mut dyn Optimizer) {
        let next = self.last_epoch() + 1;
        self.set_epoch(opt, next);
    }

    /// Moves the schedule to step `epoch` and writes that step's lrs (to resume training,
    /// or to restart a schedule inside `SequentialLR`).
    fn set_epoch(&mut self, opt: &mut dyn Optimizer, epoch: usize);

    /// Steps taken (PyTorch's `last_epoch`): 0 right after construction.
    fn last_epoch(&self) -> usize;

    /// The lrs last written, one per group (PyTorch's `get_last_lr()`).
    fn last_lr(&self) -> &[f64];
}

/// What every schedule keeps: each group's base lr, the step, and the lrs last written.
#[derive(Clone, Debug)]
struct Progress {
    base_lrs: Vec<f64>,
    epoch: usize,
    last_lr: Vec<f64>,
}

impl Progress {
    /// Takes each group's `initial_lr` as its base, first setting it to the current lr
    /// where no scheduler has yet.
    fn new(opt: &mut dyn Optimizer) -> Progress {
        let base_lrs = (0..opt.num_groups())
            .map(|g| {
                opt.initial_lr(g).unwrap_or_else(|| {
                    let lr = opt.lr(g);
                    opt.set_initial_lr(g, lr);
                    lr
                })
            })
            .collect();
        Progress { base_lrs, epoch: 0, last_lr: Vec::new() }
    }

    fn set(&mut self, opt: &mut dyn Optimizer, epoch: usize, lrs: Vec<f64>) {
        assert_eq!(
            opt.num_groups(),
            lrs.len(),
            "lr scheduler: built for an optimizer with {} parameter groups, stepped with one of {}",
            lrs.len(),
            opt.num_groups()
        );
        for (g, &lr) in lrs.iter().enumerate() {
            opt.set_lr(g, lr);
        }
        self.epoch = epoch;
        self.last_lr = lrs;
    }
}

/// `LrScheduler` for schedules with an `lr_at(base_lr, epoch)` closed form.
macro_rules! closed_form {
    ($($name:ident),*) => {$(
        impl LrScheduler for $name {
            fn set_epoch(&mut self, opt: &mut dyn Optimizer, epoch: usize) {
                let lrs = self.progress.base_lrs.iter().map(|&base| self.lr_at(base, epoch)).collect();
                self.progress.set(opt, epoch, lrs);
            }
            fn last_epoch(&self) -> usize {
                self.progress.epoch
            }
            fn last_lr(&self) -> &[f64] {
                &self.progress.last_lr
            }
        }
    )*};
}

closed_form!(StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR);

/// Multiplies the lr by `gamma` every `step_size` steps (PyTorch's default gamma is 0.1).
#[derive(Clone, Debug)]
pub struct StepLR {
    step_size: usize,
    gamma: f64,
    progress: Progress,
}

impl StepLR {
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> StepLR {
        assert!(step_size > 0, "StepLR: step_size must be positive");
        start(opt, |progress| StepLR { step_size, gamma, progress })
    }

    fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        base * self.gamma.powf((epoch / self.step_size) as f64)
    }
}

/// Multiplies the lr by `gamma` at each milestone step (a milestone listed twice counts
/// twice, as in PyTorch).
#[derive(Clone, Debug)]
pub struct MultiStepLR {
    milestones: Vec<usize>,
    gamma: f64,
    progress: Progress,
}

impl MultiStepLR {
    pub fn new(opt: &mut dyn Optimizer, mut milestones: Vec<usize>, gamma: f64) -> MultiStepLR {
        milestones.sort_unstable();
        start(opt, |progress| MultiStepLR { milestones, gamma, progress })
    }

    fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        base * self.gamma.powf(passed as f64)
    }
}

/// Multiplies the lr by `gamma` every step.
#[derive(Clone, Debug)]
pub struct ExponentialLR {
    gamma: f64,
    progress: Progress,
}

impl ExponentialLR {
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> ExponentialLR {
        start(opt, |progress| ExponentialLR { gamma, progress })
    }

    fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        base * self.gamma.powf(epoch as f64)
    }
}

/// Half a cosine from the base lr down to `eta_min` over `t_max` steps (and back up over
/// the next `t_max`, as PyTorch's does when stepped past `t_max`).
#[derive(Clone, Debug)]
pub struct CosineAnnealingLR {
    t_max: usize,
    eta_min: f64,
    progress: Progress,
}

impl CosineAnnealingLR {
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> CosineAnnealingLR {
        assert!(t_max > 0, "CosineAnnealingLR: t_max must be positive");
        start(opt, |progress| CosineAnnealingLR { t_max, eta_min, progress })
    }

    fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        self.eta_min + (base - self.eta_min) * (1.0 + (PI * epoch as f64 / self.t_max as f64).cos()) / 2.0
    }
}

/// Scales the lr by a factor going linearly from `start_factor` to `end_factor` over
/// `total_iters` steps, then keeps `end_factor`: a linear warm-up. PyTorch's defaults are
/// `start_factor = 1/3`, `end_factor = 1`, `total_iters = 5`.
#[derive(Clone, Debug)]
pub struct LinearLR {
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
    progress: Progress,
}

impl LinearLR {
    pub fn new(opt: &mut dyn Optimizer, start_factor: f64, end_factor: f64, total_iters: usize) -> LinearLR {
        assert!(
            start_factor > 0.0 && start_factor <= 1.0,
            "LinearLR: start_factor must be in (0, 1], got {start_factor}"
        );
        assert!((0.0..=1.0).contains(&end_factor), "LinearLR: end_factor must be in [0, 1], got {end_factor}");
        assert!(total_iters > 0, "LinearLR: total_iters must be positive");
        start(opt, |progress| LinearLR { start_factor, end_factor, total_iters, progress })
    }

    fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        let done = epoch.min(self.total_iters) as f64;
        base * (self.start_factor + (self.end_factor - self.start_factor) * done / self.total_iters as f64)
    }
}

/// Builds a schedule on the groups' base lrs and writes its step-0 lrs.
fn start<S: LrScheduler>(opt: &mut dyn Optimizer, build: impl FnOnce(Progress) -> S) -> S {
    let mut scheduler = build(Progress::new(opt));
    scheduler.set_epoch(opt, 0);
    scheduler
}

/// How `OneCycleLR` moves between two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anneal {
    Cos,
    Linear,
}

impl Anneal {
    fn between(self, from: f64, to: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => to + (from - to) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (to - from) * pct + from,
        }
    }
}

/// `OneCycleLR`'s settings, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleOptions {
    /// The peak lr: one value for all groups, or one per group.
    pub max_lr: Vec<f64>,
    /// Steps in the cycle; stepping beyond it panics.
    pub total_steps: usize,
    /// Fraction of the cycle spent increasing the lr; default 0.3.
    pub pct_start: f64,
    pub anneal: Anneal,
    /// Move the momentum (SGD's/RMSprop's `momentum`, Adam's `beta1`) inversely to the lr,
    /// between `base_momentum` and `max_momentum`. Default true.
    pub cycle_momentum: bool,
    pub base_momentum: f64,
    pub max_momentum: f64,
    /// The lr starts at `max_lr / div_factor`; default 25.
    pub div_factor: f64,
    /// ... and ends at `max_lr / div_factor / final_div_factor`; default 1e4.
    pub final_div_factor: f64,
    /// Warm up, come back down to the initial lr symmetrically, then anneal to the minimum.
    pub three_phase: bool,
}

impl OneCycleOptions {
    pub fn new(max_lr: f64, total_steps: usize) -> Self {
        OneCycleOptions {
            max_lr: vec![max_lr],
            total_steps,
            pct_start: 0.3,
            anneal: Anneal::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

/// The 1cycle policy (Smith & Topin): the lr rises from `max_lr / div_factor` to
/// `max_lr`, then anneals far below the start, while the momentum does the opposite.
#[derive(Clone, Debug)]
pub struct OneCycleLR {
    options: OneCycleOptions,
    /// Per group: (initial, max, min) lr.
    lrs: Vec<(f64, f64, f64)>,
    phases: Vec<Phase>,
    progress: Progress,
}

/// One phase: ends at step `end` (fractional, as in PyTorch), moving the lr and the
/// momentum between the named end points.
#[derive(Clone, Copy, Debug)]
struct Phase {
    end: f64,
    lr: (Lr, Lr),
    momentum: (Momentum, Momentum),
}

/// A group's lr end points: `max_lr / div_factor`, `max_lr`, and the final minimum.
#[derive(Clone, Copy, Debug)]
enum Lr {
    Initial,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug)]
enum Momentum {
    Base,
    Max,
}

impl OneCycleLR {
    /// Panics when `cycle_momentum` is set but the optimizer has no momentum (Adagrad),
    /// or when `max_lr` has neither one value nor one per group.
    pub fn new(opt: &mut dyn Optimizer, options: OneCycleOptions) -> OneCycleLR {
        let groups = opt.num_groups();
        let o = &options;
        assert!(o.total_steps > 0, "OneCycleLR: total_steps must be positive");
        assert!((0.0..=1.0).contains(&o.pct_start), "OneCycleLR: pct_start must be in [0, 1], got {}", o.pct_start);
        let max_lrs = match o.max_lr.len() {
            1 => vec![o.max_lr[0]; groups],
            n if n == groups => o.max_lr.clone(),
            n => panic!("OneCycleLR: expected 1 or {groups} values of max_lr (one per group), got {n}"),
        };
        let lrs: Vec<_> = max_lrs
            .iter()
            .map(|&max| {
                let initial = max / o.div_factor;
                (initial, max, initial / o.final_div_factor)
            })
            .collect();
        for (g, &(initial, ..)) in lrs.iter().enumerate() {
            opt.set_initial_lr(g, initial);
        }
        if o.cycle_momentum {
            assert!(
                (0..groups).all(|g| opt.momentum(g).is_some()),
                "OneCycleLR: the optimizer must have a momentum or beta1 to cycle (or set cycle_momentum = false)"
            );
        }
        let total = o.total_steps as f64;
        let warm_end = o.pct_start * total - 1.0;
        let phases = if o.three_phase {
            vec![
                Phase { end: warm_end, lr: (Lr::Initial, Lr::Max), momentum: (Momentum::Max, Momentum::Base) },
                Phase {
                    end: 2.0 * o.pct_start * total - 2.0,
                    lr: (Lr::Max, Lr::Initial),
                    momentum: (Momentum::Base, Momentum::Max),
                },
                Phase { end: total - 1.0, lr: (Lr::Initial, Lr::Min), momentum: (Momentum::Max, Momentum::Max) },
            ]
        } else {
            vec![
                Phase { end: warm_end, lr: (Lr::Initial, Lr::Max), momentum: (Momentum::Max, Momentum::Base) },
                Phase { end: total - 1.0, lr: (Lr::Max, Lr::Min), momentum: (Momentum::Base, Momentum::Max) },
            ]
        };
        start(opt, |progress| OneCycleLR { options, lrs, phases, progress })
    }

    /// The phase holding `step` and how far into it the step is.
    fn phase_at(&self, step: usize) -> (&Phase, f64) {
        let step = step as f64;
        let mut start = 0.0;
        for (i, phase) in self.phases.iter().enumerate() {
            if step <= phase.end || i == self.phases.len() - 1 {
                return (phase, (step - start) / (phase.end - start));
            }
            start = phase.end;
        }
        unreachable!("OneCycleLR has at least one phase")
    }
}

impl LrScheduler for OneCycleLR {
    fn set_epoch(&mut self, opt: &mut dyn Optimizer, epoch: usize) {
        assert!(
            epoch <= self.options.total_steps,
            "OneCycleLR: tried to step {epoch} times, but the cycle has {} steps",
            self.options.total_steps
        );
        let (phase, pct) = self.phase_at(epoch);
        let anneal = self.options.anneal;
        let lrs = self
            .lrs
            .iter()
            .map(|&(initial, max, min)| {
                let level = |l| match l {
                    Lr::Initial => initial,
                    Lr::Max => max,
                    Lr::Min => min,
                };
                anneal.between(level(phase.lr.0), level(phase.lr.1), pct)
            })
            .collect();
        if self.options.cycle_momentum {
            let level = |m| match m {
                Momentum::Base => self.options.base_momentum,
                Momentum::Max => self.options.max_momentum,
            };
            let momentum = anneal.between(level(phase.momentum.0), level(phase.momentum.1), pct);
            for g in 0..opt.num_groups() {
                opt.set_momentum(g, momentum);
            }
        }
        self.progress.set(opt, epoch, lrs);
    }

    fn last_epoch(&self) -> usize {
        self.progress.epoch
    }

    fn last_lr(&self) -> &[f64] {
        &self.progress.last_lr
    }
}

/// Runs schedules one after another: `schedulers[i + 1]` takes over, restarted at its
/// step 0, when the step count reaches `milestones[i]`. Build the inner schedulers on
/// the same optimizer first; they all take the groups' initial lrs as their base.
pub struct SequentialLR {
    schedulers: Vec<Box<dyn LrScheduler>>,
    milestones: Vec<usize>,
    epoch: usize,
    last_lr: Vec<f64>,
}

impl SequentialLR {
    pub fn new(opt: &mut dyn Optimizer, schedulers: Vec<Box<dyn LrScheduler>>, milestones: Vec<usize>) -> SequentialLR {
        assert!(!schedulers.is_empty(), "SequentialLR: expected at least one scheduler");
        assert_eq!(
            milestones.len() + 1,
            schedulers.len(),
            "SequentialLR: expected one milestone fewer than schedulers, got {} milestones for {} schedulers",
            milestones.len(),
            schedulers.len()
        );
        assert!(milestones.is_sorted(), "SequentialLR: milestones must be increasing, got {milestones:?}");
        // Building the inner schedulers wrote their own step-0 lrs; start from the
        // initial ones again.
        for g in 0..opt.num_groups() {
            if let Some(lr) = opt.initial_lr(g) {
                opt.set_lr(g, lr);
            }
        }
        let mut sequential = SequentialLR { schedulers, milestones, epoch: 0, last_lr: Vec::new() };
        sequential.set_epoch(opt, 0);
        sequential
    }
}

impl LrScheduler for SequentialLR {
    fn set_epoch(&mut self, opt: &mut dyn Optimizer, epoch: usize) {
        let index = self.milestones.partition_point(|&m| m <= epoch);
        let begins = if index == 0 { 0 } else { self.milestones[index - 1] };
        let scheduler = &mut self.schedulers[index];
        scheduler.set_epoch(opt, epoch - begins);
        self.epoch = epoch;
        self.last_lr = scheduler.last_lr().to_vec();
    }

    fn last_epoch(&self) -> usize {
        self.epoch
    }

    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }
}
