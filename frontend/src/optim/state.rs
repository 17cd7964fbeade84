//! An optimizer's saved state: tensors (momentum buffers, moment estimates) under dotted
//! keys, and numbers (hyper-parameters, step counts) as text, so that both can be written
//! to a safetensors file, the numbers going into its metadata header.
//!
//! Keys follow PyTorch's `state_dict()` layout, flattened: `state.3.exp_avg` is the
//! `exp_avg` of parameter 3 (counting across groups, in order), `param_groups.1.lr` the
//! learning rate of group 1, `param_groups.1.params` the indices of its parameters.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// What `Optimizer::state_dict` returns and `Optimizer::load_state_dict` reads.
///
/// The tensors are the optimizer's own buffers (shared handles, as in PyTorch);
/// loading copies them, so a loaded optimizer never shares state with its source.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

/// Key of the optimizer's kind (`"sgd"`, `"adam"`, ...), checked when loading.
pub(crate) const KIND_KEY: &str = "optimizer";

pub(crate) fn optimizer_error(message: impl Into<String>) -> Error {
    Error::Optimizer(message.into())
}

/// Writes one group's options or one parameter's state under a key prefix.
pub struct StateWriter<'a> {
    state: &'a mut OptimizerState,
    prefix: String,
}

impl<'a> StateWriter<'a> {
    pub(crate) fn new(state: &'a mut OptimizerState, prefix: String) -> Self {
        StateWriter { state, prefix }
    }

    /// A number or flag, written in Rust's shortest round-trip form.
    pub fn value(&mut self, key: &str, value: impl Display) {
        self.state.metadata.insert(format!("{}.{key}", self.prefix), value.to_string());
    }

    pub fn tensor(&mut self, key: &str, tensor: &Tensor) {
        self.state.tensors.insert(format!("{}.{key}", self.prefix), tensor.clone());
    }
}

/// Reads one group's options or one parameter's state, naming the full key in errors.
pub struct StateReader<'a> {
    state: &'a OptimizerState,
    prefix: String,
}

impl<'a> StateReader<'a> {
    pub(crate) fn new(state: &'a OptimizerState, prefix: String) -> Self {
        StateReader { state, prefix }
    }

    fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    /// A number or flag; an error names the key when it is missing or does not parse.
    pub fn value<T: FromStr>(&self, key: &str) -> Result<T> {
        let full = self.key(key);
        let text = self.state.metadata.get(&full).ok_or_else(|| optimizer_error(format!("missing key {full}")))?;
        text.parse()
            .map_err(|_| optimizer_error(format!("{full}: cannot parse {text:?} as {}", std::any::type_name::<T>())))
    }

    /// A value that may be absent.
    pub fn optional_value<T: FromStr>(&self, key: &str) -> Result<Option<T>> {
        if self.state.metadata.contains_key(&self.key(key)) { self.value(key).map(Some) } else { Ok(None) }
    }

    pub fn has_tensor(&self, key: &str) -> bool {
        self.state.tensors.contains_key(&self.key(key))
    }

    /// A state tensor for `param`: it must have the parameter's shape; the result is a
    /// fresh contiguous copy in the parameter's dtype (PyTorch casts state the same way).
    pub fn tensor_like(&self, key: &str, param: &Tensor) -> Result<Tensor> {
        let full = self.key(key);
        let t = self.state.tensors.get(&full).ok_or_else(|| optimizer_error(format!("missing tensor {full}")))?;
        if t.shape() != param.shape() {
            return Err(optimizer_error(format!(
                "{full} has shape {}, but its parameter is {}",
                ignis_ir::shape::format_shape(t.shape()),
                param.describe()
            )));
        }
        if !t.dtype().is_float() {
            return Err(optimizer_error(format!("{full} is {}, expected a floating point tensor", t.describe())));
        }
        Ok(crate::no_grad(|| t.detach().to_dtype(param.dtype()).contiguous_copy()))
    }
}

/// Per-parameter state of an optimizer: saved and restored through `StateWriter`/`StateReader`.
pub trait ParamState: Sized {
    fn save(&self, out: &mut StateWriter);
    /// Restores the state of `param`, which has at least one key under the reader's prefix.
    fn load(input: &StateReader, param: &Tensor) -> Result<Self>;
}

/// Parses `"0,1,2"`, the parameter indices of a group.
pub(crate) fn parse_indices(key: &str, text: &str) -> Result<Vec<usize>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|s| s.trim().parse().map_err(|_| optimizer_error(format!("{key}: cannot parse {text:?} as indices"))))
        .collect()
}

/// The keys of `state` (tensors and metadata together) that start with `prefix`.
pub(crate) fn keys_under<'a>(state: &'a OptimizerState, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    state.tensors.keys().chain(state.metadata.keys()).filter(move |k| k.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ignis_ir::DType;

    fn state() -> OptimizerState {
        let mut s = OptimizerState::default();
        StateWriter::new(&mut s, "state.0".into()).value("step", 3u64);
        StateWriter::new(&mut s, "state.0".into()).tensor("sum", &Tensor::zeros([2], DType::F64));
        s
    }

    #[test]
    fn values_and_tensors_round_trip_under_their_prefix() {
        let s = state();
        assert_eq!(s.metadata["state.0.step"], "3");
        let reader = StateReader::new(&s, "state.0".into());
        assert_eq!(reader.value::<u64>("step").unwrap(), 3);
        assert_eq!(reader.optional_value::<f64>("lr").unwrap(), None);
        // Cast to the parameter's dtype, in a storage of its own.
        let param = Tensor::ones([2], DType::F32);
        let sum = reader.tensor_like("sum", &param).unwrap();
        assert_eq!(sum.dtype(), DType::F32);
        assert!(!sum.shares_storage(&s.tensors["state.0.sum"]));
    }

    #[test]
    fn readers_name_the_key_they_could_not_use() {
        let s = state();
        let reader = StateReader::new(&s, "state.0".into());
        let err = reader.value::<bool>("step").unwrap_err().to_string();
        assert_eq!(err, "optimizer state: state.0.step: cannot parse \"3\" as bool");
        let err = reader.tensor_like("exp_avg", &Tensor::ones([2], DType::F32)).unwrap_err().to_string();
        assert_eq!(err, "optimizer state: missing tensor state.0.exp_avg");
        let err = reader.tensor_like("sum", &Tensor::ones([3], DType::F32)).unwrap_err().to_string();
        assert_eq!(err, "optimizer state: state.0.sum has shape [2], but its parameter is f32[3]");
    }

    #[test]
    fn group_indices_parse() {
        assert_eq!(parse_indices("k", "0,1, 2").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_indices("k", "").unwrap(), Vec::<usize>::new());
        assert_eq!(
            parse_indices("k", "0,x").unwrap_err().to_string(),
            "optimizer state: k: cannot parse \"0,x\" as indices"
        );
    }
}
