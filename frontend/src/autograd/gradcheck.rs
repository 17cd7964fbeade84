//! Checks a function's analytical gradients against central finite differences in f64.

use crate::tensor::Tensor;
use ignis_ir::DType;

#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-6, atol: 1e-5, rtol: 1e-3 }
    }
}

/// Compares `d(sum(f(x) * v))/dx` from autograd with finite differences, for a random `v`.
///
/// Inputs are copied to f64 leaves that require grad (integer inputs are passed through
/// unchanged and not checked). Returns a description of the first mismatch.
pub fn gradcheck(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor], options: &GradcheckOptions) -> Result<(), String> {
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|t| {
            if t.dtype().is_float() { t.to_dtype(DType::F64).contiguous_copy().requires_grad_(true) } else { t.clone() }
        })
        .collect();
    let out = f(&leaves);
    if !out.dtype().is_float() {
        return Err(format!("gradcheck: the function returned {}, expected a float tensor", out.describe()));
    }
    let weights = crate::no_grad(|| Tensor::randn(out.dims(), DType::F64));
    // `f` runs with grad mode on, so a function that itself calls backward (a gradient
    // being checked for second derivatives) works during the probes too.
    let objective = |xs: &[Tensor]| -> f64 {
        let out = f(xs).detach();
        crate::no_grad(|| out.to_dtype(DType::F64).mul(&weights).sum_all().item::<f64>())
    };
    out.to_dtype(DType::F64).mul(&weights).sum_all().backward();

    for (index, leaf) in leaves.iter().enumerate() {
        if !leaf.dtype().is_float() {
            continue;
        }
        let analytical = leaf.grad().map(|g| g.to_vec::<f64>()).unwrap_or_else(|| vec![0.0; leaf.numel()]);
        let base = leaf.to_vec::<f64>();
        for k in 0..base.len() {
            let probe = |delta: f64| {
                let mut values = base.clone();
                values[k] += delta;
                let mut xs = leaves.clone();
                xs[index] = Tensor::from_vec(values, leaf.dims());
                objective(&xs)
            };
            let numerical = (probe(options.eps) - probe(-options.eps)) / (2.0 * options.eps);
            let a = analytical[k];
            if (a - numerical).abs() > options.atol + options.rtol * numerical.abs() {
                return Err(format!(
                    "gradcheck: input {index} ({}), element {k}: autograd gives {a:.8}, finite differences give {numerical:.8}",
                    inputs[index].describe()
                ));
            }
        }
    }
    Ok(())
}
