//! Guards: the facts a cached trace depends on, checked in order on every call.
//!
//! For every argument and captured tensor: dtype, shape, whether it is contiguous, device
//! and `requires_grad`; then grad mode and the static arguments; captured tensors must
//! also still be alive (they are lifted by identity). A check allocates nothing.

use super::segment::BindingSpec;
use crate::tensor::{Tensor, TensorImpl};
use ignis_ir::{DType, Dims};
use ignis_runtime::Device;
use std::fmt;
use std::sync::Weak;

/// The facts about one tensor that a trace depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signature {
    dtype: DType,
    shape: Dims,
    contiguous: bool,
    device: Device,
    requires_grad: bool,
}

impl Signature {
    pub(crate) fn of(t: &Tensor) -> Signature {
        Signature {
            dtype: t.dtype(),
            shape: t.dims(),
            contiguous: t.is_contiguous(),
            device: t.device(),
            requires_grad: t.requires_grad(),
        }
    }

    /// The first fact that differs, as (what, expected, found).
    fn compare(&self, t: &Tensor) -> Option<(&'static str, String, String)> {
        if self.dtype != t.dtype() {
            return Some(("dtype", self.dtype.to_string(), t.dtype().to_string()));
        }
        if self.shape.as_slice() != t.shape() {
            return Some(("shape", format!("{:?}", self.shape.as_slice()), format!("{:?}", t.shape())));
        }
        if self.contiguous != t.is_contiguous() {
            return Some(("contiguous", self.contiguous.to_string(), t.is_contiguous().to_string()));
        }
        if self.device != t.device() {
            return Some(("device", format!("{:?}", self.device), format!("{:?}", t.device())));
        }
        if self.requires_grad != t.requires_grad() {
            return Some(("requires_grad", self.requires_grad.to_string(), t.requires_grad().to_string()));
        }
        None
    }
}

impl Signature {
    /// `compare`, letting dim `dim` be any size of 2 or more.
    fn compare_except(&self, t: &Tensor, dim: usize) -> Option<(&'static str, String, String)> {
        let shape = t.shape();
        let fits = shape.len() == self.shape.len()
            && shape.iter().zip(&self.shape).enumerate().all(|(d, (a, b))| if d == dim { *a >= 2 } else { a == b });
        if !fits {
            let expected: Vec<String> =
                self.shape.iter().enumerate().map(|(d, n)| if d == dim { "s".into() } else { n.to_string() }).collect();
            return Some(("shape", format!("[{}] (s >= 2)", expected.join(", ")), format!("{shape:?}")));
        }
        let mut same_shape = self.clone();
        same_shape.shape = t.dims();
        same_shape.compare(t)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}{:?}{}{}",
            self.dtype,
            self.shape.as_slice(),
            if self.contiguous { "" } else { " strided" },
            if self.requires_grad { " requires_grad" } else { "" }
        )
    }
}

/// Why a cached trace does not apply to a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// `arg 0`, `captured tensor 2`, `grad mode`, `static arguments`, `argument count`.
    pub subject: String,
    pub what: &'static str,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {} changed: was {}, now {}", self.subject, self.what, self.expected, self.found)
    }
}

pub(crate) struct Guards {
    args: Vec<Signature>,
    /// For each argument, the first earlier argument sharing its storage: a program traced
    /// with separate buffers must not run on aliased ones (a write to one is a read of the
    /// other).
    aliases: Vec<Option<usize>>,
    statics: u64,
    grad_mode: bool,
    captured: Vec<(Weak<TensorImpl>, Signature)>,
    /// Train/eval flags of modules the trace read, and the values it saw.
    pub(crate) modes: Vec<(Weak<std::sync::atomic::AtomicBool>, bool)>,
}

impl Guards {
    pub(crate) fn before_trace(args: &[Tensor], statics: u64, grad_mode: bool) -> Guards {
        Guards {
            args: args.iter().map(Signature::of).collect(),
            aliases: aliases(args),
            statics,
            grad_mode,
            captured: Vec::new(),
            modes: Vec::new(),
        }
    }

    /// Adds the captured tensors a replay binds.
    pub(crate) fn with_captured(mut self, bindings: &[BindingSpec]) -> Guards {
        for b in bindings {
            if let BindingSpec::Captured(weak) = b
                && let Some(t) = weak.upgrade()
            {
                self.captured.push((weak.clone(), Signature::of(&Tensor(t))));
            }
        }
        self
    }

    /// Checks the guards in order and reports the first difference; dim `symbolic.1` of argument `symbolic.0` may take any size of 2 or
    /// more (sizes 0 and 1 broadcast and reduce differently, so they keep their own traces).
    pub(crate) fn check(
        &self,
        args: &[Tensor],
        statics: u64,
        grad_mode: bool,
        symbolic: Option<(usize, usize)>,
    ) -> Result<(), Mismatch> {
        let miss = |subject: String, what: &'static str, expected: String, found: String| {
            Err(Mismatch { subject, what, expected, found })
        };
        if args.len() != self.args.len() {
            return miss("argument".into(), "count", self.args.len().to_string(), args.len().to_string());
        }
        for (i, (sig, t)) in self.args.iter().zip(args).enumerate() {
            let difference = match symbolic {
                Some((arg, dim)) if arg == i => sig.compare_except(t, dim),
                _ => sig.compare(t),
            };
            if let Some((what, expected, found)) = difference {
                return miss(format!("arg {i}"), what, expected, found);
            }
        }
        for i in 1..args.len() {
            let id = args[i].resolved().0.id();
            let now = (0..i).find(|&j| args[j].resolved().0.id() == id);
            if now != self.aliases[i] {
                let describe =
                    |a: Option<usize>| a.map_or("its own storage".to_string(), |j| format!("the storage of arg {j}"));
                return miss(format!("arg {i}"), "aliasing", describe(self.aliases[i]), describe(now));
            }
        }
        for (i, (flag, value)) in self.modes.iter().enumerate() {
            let now = flag.upgrade().map(|f| f.load(std::sync::atomic::Ordering::Relaxed));
            if now != Some(*value) {
                let describe = |v: Option<bool>| match v {
                    Some(true) => "train".to_string(),
                    Some(false) => "eval".to_string(),
                    None => "dropped".to_string(),
                };
                return miss(format!("module mode {i}"), "train/eval", describe(Some(*value)), describe(now));
            }
        }
        if grad_mode != self.grad_mode {
            return miss("grad".into(), "mode", self.grad_mode.to_string(), grad_mode.to_string());
        }
        if statics != self.statics {
            return miss("static arguments".into(), "value", format!("{:#x}", self.statics), format!("{statics:#x}"));
        }
        for (i, (weak, sig)) in self.captured.iter().enumerate() {
            match weak.upgrade() {
                None => return miss(format!("captured tensor {i}"), "liveness", "alive".into(), "dropped".into()),
                Some(t) => {
                    if let Some((what, expected, found)) = sig.compare(&Tensor(t)) {
                        return miss(format!("captured tensor {i}"), what, expected, found);
                    }
                }
            }
        }
        Ok(())
    }
}

fn aliases(args: &[Tensor]) -> Vec<Option<usize>> {
    let ids: Vec<usize> = args.iter().map(|t| t.resolved().0.id()).collect();
    ids.iter().enumerate().map(|(i, id)| ids[..i].iter().position(|other| other == id)).collect()
}

impl Guards {
    /// The one argument dim in which two guard sets differ, when everything else is the
    /// same (the condition for making that dim symbolic), with the two sizes.
    pub(crate) fn single_dim_difference(&self, other: &Guards) -> Option<(usize, usize, usize, usize)> {
        if self.args.len() != other.args.len()
            || self.aliases != other.aliases
            || self.statics != other.statics
            || self.grad_mode != other.grad_mode
            || self.captured.len() != other.captured.len()
            || self.captured.iter().zip(&other.captured).any(|((a, x), (b, y))| !Weak::ptr_eq(a, b) || x != y)
            || self.modes.len() != other.modes.len()
            || self.modes.iter().zip(&other.modes).any(|((a, x), (b, y))| !Weak::ptr_eq(a, b) || x != y)
        {
            return None;
        }
        let mut found = None;
        for (i, (a, b)) in self.args.iter().zip(&other.args).enumerate() {
            if a == b {
                continue;
            }
            if a.shape.len() != b.shape.len() || a.dtype != b.dtype || a.contiguous != b.contiguous {
                return None;
            }
            if a.device != b.device || a.requires_grad != b.requires_grad {
                return None;
            }
            for (d, (x, y)) in a.shape.iter().zip(&b.shape).enumerate() {
                if x != y {
                    if found.is_some() {
                        return None;
                    }
                    found = Some((i, d, *x, *y));
                }
            }
        }
        found
    }
}

impl fmt::Display for Guards {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, s) in self.args.iter().enumerate() {
            writeln!(f, "  arg {i}: {s}")?;
        }
        writeln!(f, "  grad mode: {}", self.grad_mode)?;
        writeln!(f, "  static arguments: {:#x}", self.statics)?;
        for (i, (_, s)) in self.captured.iter().enumerate() {
            writeln!(f, "  captured tensor {i}: {s} (by identity)")?;
        }
        for (i, (_, training)) in self.modes.iter().enumerate() {
            writeln!(f, "  module mode {i}: {}", if *training { "train" } else { "eval" })?;
        }
        Ok(())
    }
}
