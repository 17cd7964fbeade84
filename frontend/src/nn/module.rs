//! The `Module` trait: a layer's forward function plus a walk over its parameters, buffers
//! and children, from which everything else (naming, modes, state dicts) is derived.
//!
//! Modes and parameters live behind shared handles (`Tensor` is an `Arc`, modes are atomic),
//! so every method takes `&self`: a model can be shared between threads and an optimizer can
//! hold the very tensors the model reads.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashSet};

/// Named tensors: a model's parameters and buffers (running statistics) by dotted name.
pub type StateDict = BTreeMap<String, Tensor>;

/// One direct member of a module, as `Module::visit` reports it.
pub enum Entry<'a> {
    /// A tensor that is trained (requires grad).
    Parameter(&'a Tensor),
    /// State that is saved but not trained, such as batch norm's running mean.
    Buffer(&'a Tensor),
    /// A sub-module; its members are named `name.member`.
    Child(&'a dyn Module),
}

/// A layer or a model.
///
/// Implementors provide `forward` and `visit`; modules whose behaviour depends on
/// training mode (dropout, batch norm) also override `set_training`. Modules with several
/// inputs (attention) offer their own methods beside `forward`.
pub trait Module: Send + Sync {
    /// Applies the module to one input.
    fn forward(&self, input: &Tensor) -> Tensor;

    /// Calls `visit` on each direct parameter, buffer and child, in a fixed order, with the
    /// name it has in state dicts.
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>));

    /// Switches this module (not its children) between training and evaluation behaviour.
    fn set_training(&self, _training: bool) {}

    /// Parameters of this module and all its children with dotted names, each tensor once
    /// (a tensor shared by two layers keeps its first name).
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        walk(self, "", &mut |name, entry| {
            if let Entry::Parameter(t) = entry
                && seen.insert(t.identity())
            {
                out.push((name.to_string(), Tensor::clone(t)));
            }
        });
        out
    }

    /// The parameters in the order of `named_parameters`.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Buffers of this module and its children with dotted names.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        walk(self, "", &mut |name, entry| {
            if let Entry::Buffer(t) = entry {
                out.push((name.to_string(), Tensor::clone(t)));
            }
        });
        out
    }

    /// The number of trainable scalars.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }

    /// Training mode for this module and every child.
    fn train(&self) {
        set_mode(self, true);
    }

    /// Evaluation mode for this module and every child.
    fn eval(&self) {
        set_mode(self, false);
    }

    /// Clears the gradients of every parameter.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Parameters and buffers by dotted name. The tensors are the module's own (shared
    /// storage); `deep_clone` them to keep a snapshot.
    fn state_dict(&self) -> StateDict {
        let mut out = StateDict::new();
        walk(self, "", &mut |name, entry| match entry {
            Entry::Parameter(t) | Entry::Buffer(t) => {
                out.entry(name.to_string()).or_insert_with(|| Tensor::clone(t));
            }
            Entry::Child(_) => {}
        });
        out
    }

    /// Copies values from `state` into this module's tensors in place (so optimizers that
    /// hold the parameters see the new values).
    ///
    /// With `strict`, keys must match exactly. Either way, a tensor whose shape or dtype
    /// differs is an error (convert with `to_dtype` first to load other precisions). Nothing is written unless every check passes; the error lists every missing,
    /// unexpected and mis-shaped key.
    fn load_state_dict(&self, state: &StateDict, strict: bool) -> Result<()> {
        let own = self.state_dict();
        let missing: Vec<&str> = own.keys().filter(|k| !state.contains_key(*k)).map(String::as_str).collect();
        let unexpected: Vec<&str> = state.keys().filter(|k| !own.contains_key(*k)).map(String::as_str).collect();
        let mis_shaped: Vec<String> = own
            .iter()
            .filter_map(|(k, t)| {
                let s = state.get(k)?;
                (s.shape() != t.shape() || s.dtype() != t.dtype())
                    .then(|| format!("{k} (expected {}, got {})", t.describe(), s.describe()))
            })
            .collect();
        let mut problems = Vec::new();
        if strict && !missing.is_empty() {
            problems.push(format!("missing keys: {}", missing.join(", ")));
        }
        if strict && !unexpected.is_empty() {
            problems.push(format!("unexpected keys: {}", unexpected.join(", ")));
        }
        if !mis_shaped.is_empty() {
            problems.push(format!("shape or dtype mismatch: {}", mis_shaped.join(", ")));
        }
        if !problems.is_empty() {
            return Err(Error::StateDict(problems.join("; ")));
        }
        crate::no_grad(|| {
            for (k, t) in &own {
                if let Some(s) = state.get(k) {
                    t.copy_(s);
                }
            }
        });
        Ok(())
    }
}

/// Walks `module` depth first, calling `f` with the dotted name of every parameter, buffer
/// and child.
pub(crate) fn walk<M: Module + ?Sized>(module: &M, prefix: &str, f: &mut dyn FnMut(&str, &Entry<'_>)) {
    module.visit(&mut |name, entry| {
        let full = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        f(&full, &entry);
        if let Entry::Child(child) = entry {
            walk(child, &full, f);
        }
    });
}

/// A module's train/eval flag. Reading it inside a compiled function's trace makes the
/// flag (and the value read) part of the function's guards, so `train()`/`eval()` on that
/// module, and only that one, makes the function trace again.
/// A module made inside the compiled function is rebuilt on every call, so its flag is a
/// constant of the trace, not a guard.
#[derive(Debug)]
pub(crate) struct ModeFlag {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The trace the module was made in (0: none).
    born_in: u64,
}

impl ModeFlag {
    pub(crate) fn new(training: bool) -> ModeFlag {
        ModeFlag {
            flag: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(training)),
            born_in: crate::compile::trace::current_trace_id(),
        }
    }

    pub(crate) fn get(&self) -> bool {
        let value = self.flag.load(std::sync::atomic::Ordering::Relaxed);
        if self.born_in != crate::compile::trace::current_trace_id() {
            crate::compile::trace::note_mode_read(&self.flag, value);
        }
        value
    }

    pub(crate) fn set(&self, training: bool) {
        self.flag.store(training, std::sync::atomic::Ordering::Relaxed);
    }
}

fn set_mode<M: Module + ?Sized>(module: &M, training: bool) {
    module.set_training(training);
    walk(module, "", &mut |_, entry| {
        if let Entry::Child(child) = entry {
            child.set_training(training);
        }
    });
}
