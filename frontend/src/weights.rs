//! Weight files: state dicts as safetensors, the format the Python `safetensors` package and
//! PyTorch read and write.
//!
//! Everything read from a file is checked before use (header, dtype, shape against byte
//! count), so a truncated or corrupt file is an `Err` naming the path and the problem.

use crate::error::{Error, Result};
use crate::nn::{Module, StateDict};
use crate::tensor::Tensor;
use half::{bf16, f16};
use ignis_ir::DType;
use safetensors::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `state` to `path` as safetensors.
pub fn save(state: &StateDict, path: impl AsRef<Path>) -> Result<()> {
    save_with_metadata(state, &BTreeMap::new(), path)
}

/// Writes `state` with string metadata in the header's `__metadata__` field.
pub fn save_with_metadata(
    state: &StateDict,
    metadata: &BTreeMap<String, String>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(state, metadata)?;
    std::fs::write(path, bytes).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// Serializes `state` into safetensors bytes.
pub fn to_bytes(state: &StateDict, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let views: Vec<(&str, TensorBytes)> = state.iter().map(|(k, t)| (k.as_str(), TensorBytes::new(t))).collect();
    let info = (!metadata.is_empty()).then(|| metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    safetensors::serialize(views, info).map_err(|e| Error::Msg(format!("safetensors: cannot serialize: {e}")))
}

/// Reads every tensor of a safetensors file.
pub fn load(path: impl AsRef<Path>) -> Result<StateDict> {
    Ok(load_with_metadata(path)?.0)
}

/// Reads every tensor of a safetensors file and its `__metadata__` strings.
pub fn load_with_metadata(path: impl AsRef<Path>) -> Result<(StateDict, BTreeMap<String, String>)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    from_bytes(&bytes).map_err(|message| Error::Weights { path: path.to_path_buf(), message })
}

/// Parses safetensors bytes; the error says what is wrong with them.
pub fn from_bytes(bytes: &[u8]) -> std::result::Result<(StateDict, BTreeMap<String, String>), String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let mut state = StateDict::new();
    for (name, view) in file.tensors() {
        let shape = view.shape().to_vec();
        let tensor =
            tensor_from_le_bytes(view.dtype(), view.data(), &shape).map_err(|e| format!("tensor {name}: {e}"))?;
        state.insert(name, tensor);
    }
    let metadata = match header.metadata() {
        Some(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        None => BTreeMap::new(),
    };
    Ok((state, metadata))
}

/// Loads a safetensors file into `module` (see `Module::load_state_dict` for `strict`).
pub fn load_into(module: &(impl Module + ?Sized), path: impl AsRef<Path>, strict: bool) -> Result<()> {
    let path = path.as_ref();
    let state = load(path)?;
    module.load_state_dict(&state, strict).map_err(|e| match e {
        Error::StateDict(message) => Error::Weights { path: path.to_path_buf(), message },
        other => other,
    })
}

fn dtype_from_file(dtype: Dtype) -> std::result::Result<DType, String> {
    Ok(match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I64 => DType::I64,
        Dtype::I32 => DType::I32,
        Dtype::U8 => DType::U8,
        Dtype::BOOL => DType::Bool,
        other => {
            return Err(format!("dtype {other:?} is not supported (ignis reads F32 F64 F16 BF16 I64 I32 U8 BOOL)"));
        }
    })
}

fn dtype_to_file(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::U8 => Dtype::U8,
        DType::Bool => Dtype::BOOL,
    }
}

fn decode<T, const N: usize>(data: &[u8], read: impl Fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N).map(|c| read(c.try_into().expect("chunks_exact yields N bytes"))).collect()
}

fn tensor_from_le_bytes(dtype: Dtype, data: &[u8], shape: &[usize]) -> std::result::Result<Tensor, String> {
    let dtype = dtype_from_file(dtype)?;
    let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("shape overflows")?;
    let expected = numel.checked_mul(dtype.size()).ok_or("shape overflows")?;
    if data.len() != expected {
        return Err(format!(
            "{dtype}{} needs {expected} bytes, the file holds {}",
            ignis_ir::shape::format_shape(shape),
            data.len()
        ));
    }
    Ok(match dtype {
        DType::F32 => Tensor::from_vec(decode(data, f32::from_le_bytes), shape),
        DType::F64 => Tensor::from_vec(decode(data, f64::from_le_bytes), shape),
        DType::F16 => Tensor::from_vec(decode(data, |b| f16::from_bits(u16::from_le_bytes(b))), shape),
        DType::BF16 => Tensor::from_vec(decode(data, |b| bf16::from_bits(u16::from_le_bytes(b))), shape),
        DType::I64 => Tensor::from_vec(decode(data, i64::from_le_bytes), shape),
        DType::I32 => Tensor::from_vec(decode(data, i32::from_le_bytes), shape),
        DType::U8 => Tensor::from_vec(data.to_vec(), shape),
        DType::Bool => {
            if let Some(bad) = data.iter().find(|&&b| b > 1) {
                return Err(format!("bool tensor holds the byte {bad}, expected 0 or 1"));
            }
            Tensor::from_vec(data.iter().map(|&b| b == 1).collect::<Vec<bool>>(), shape)
        }
    })
}

/// A tensor's elements as little-endian bytes, for the serializer.
struct TensorBytes {
    dtype: DType,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl TensorBytes {
    fn new(t: &Tensor) -> TensorBytes {
        fn encode<T, const N: usize>(values: Vec<T>, write: impl Fn(T) -> [u8; N]) -> Vec<u8> {
            values.into_iter().flat_map(write).collect()
        }
        let bytes = match t.dtype() {
            DType::F32 => encode(t.to_vec::<f32>(), f32::to_le_bytes),
            DType::F64 => encode(t.to_vec::<f64>(), f64::to_le_bytes),
            DType::F16 => encode(t.to_vec::<f16>(), |v| v.to_bits().to_le_bytes()),
            DType::BF16 => encode(t.to_vec::<bf16>(), |v| v.to_bits().to_le_bytes()),
            DType::I64 => encode(t.to_vec::<i64>(), i64::to_le_bytes),
            DType::I32 => encode(t.to_vec::<i32>(), i32::to_le_bytes),
            DType::U8 => t.to_vec::<u8>(),
            DType::Bool => t.to_vec::<bool>().into_iter().map(u8::from).collect(),
        };
        TensorBytes { dtype: t.dtype(), shape: t.shape().to_vec(), bytes }
    }
}

impl View for TensorBytes {
    fn dtype(&self) -> Dtype {
        dtype_to_file(self.dtype)
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}
