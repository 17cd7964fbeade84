//! Printing in the manner of PyTorch: `tensor([[ 0.5000, -1.0000], ...])`.

use super::Tensor;
use ignis_ir::DType;
use std::fmt;

/// Tensors above this many elements print only their first and last few items per dim.
const SUMMARIZE_ABOVE: usize = 1000;
const EDGE_ITEMS: usize = 3;

enum Style {
    Int,
    Bool,
    /// Every value is integral: `1., 2.`
    WholeFloat,
    Fixed,
    Scientific,
}

fn style_for(dtype: DType, values: &[f64]) -> Style {
    if dtype == DType::Bool {
        return Style::Bool;
    }
    if !dtype.is_float() {
        return Style::Int;
    }
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.iter().all(|v| v.fract() == 0.0) {
        return if finite.iter().any(|v| v.abs() >= 1e8) { Style::Scientific } else { Style::WholeFloat };
    }
    let nonzero: Vec<f64> = finite.iter().map(|v| v.abs()).filter(|&v| v > 0.0).collect();
    let max = nonzero.iter().copied().fold(0.0, f64::max);
    let min = nonzero.iter().copied().fold(f64::INFINITY, f64::min);
    if max >= 1e8 || (min < 1e-4 && max / min > 1000.0) { Style::Scientific } else { Style::Fixed }
}

fn format_value(v: f64, style: &Style) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    match style {
        Style::Int => format!("{}", v as i64),
        Style::Bool => {
            if v != 0.0 {
                "True".into()
            } else {
                "False".into()
            }
        }
        Style::WholeFloat => format!("{v:.0}."),
        Style::Fixed => format!("{v:.4}"),
        Style::Scientific => {
            // Rust writes `1.0000e-5`; PyTorch writes `1.0000e-05`.
            let text = format!("{v:.4e}");
            let (mantissa, exponent) = text.split_once('e').expect("`e` formatting has an exponent");
            let (sign, digits) = exponent.strip_prefix('-').map_or(("+", exponent), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let values = self.to_vec::<f64>();
        let shape = self.shape().to_vec();
        let summarize = values.len() > SUMMARIZE_ABOVE;
        let style = style_for(self.dtype(), &values);
        let texts: Vec<String> = values.iter().map(|&v| format_value(v, &style)).collect();
        let width = texts.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut out = String::from("tensor(");
        if shape.is_empty() {
            out.push_str(&texts[0]);
        } else {
            write_dim(&mut out, &texts, &shape, 0, 0, width, summarize, "tensor(".len());
        }
        let mut extras = Vec::new();
        if self.dtype() != DType::F32 && self.dtype() != DType::I64 && self.dtype() != DType::Bool {
            extras.push(format!("dtype={}", self.dtype()));
        }
        if shape.contains(&0) {
            extras.push(format!("size={}", ignis_ir::shape::format_shape(&shape)));
        }
        if let Some(name) = self.grad_fn_name() {
            extras.push(format!("grad_fn=<{name}>"));
        } else if self.requires_grad() {
            extras.push("requires_grad=true".into());
        }
        for e in extras {
            out.push_str(", ");
            out.push_str(&e);
        }
        out.push(')');
        f.write_str(&out)
    }
}

#[allow(clippy::too_many_arguments)]
fn write_dim(
    out: &mut String,
    texts: &[String],
    shape: &[usize],
    dim: usize,
    base: usize,
    width: usize,
    summarize: bool,
    indent: usize,
) {
    let n = shape[dim];
    let inner: usize = shape[dim + 1..].iter().product();
    out.push('[');
    let indices: Vec<Option<usize>> = if summarize && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).map(Some).chain(std::iter::once(None)).chain((n - EDGE_ITEMS..n).map(Some)).collect()
    } else {
        (0..n).map(Some).collect()
    };
    for (k, i) in indices.iter().enumerate() {
        if k > 0 {
            if dim + 1 == shape.len() {
                out.push_str(", ");
            } else {
                out.push(',');
                for _ in 0..(shape.len() - dim - 1) {
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent + dim + 1));
            }
        }
        match i {
            None => out.push_str("..."),
            Some(i) if dim + 1 == shape.len() => out.push_str(&format!("{:>width$}", texts[base + i])),
            Some(i) => write_dim(out, texts, shape, dim + 1, base + i * inner, width, summarize, indent),
        }
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use crate::Tensor;
    use ignis_ir::DType;

    #[test]
    fn prints_like_pytorch() {
        let t = Tensor::from_vec(vec![0.5f32, -1.0, 2.25, 3.0], [2, 2]);
        assert_eq!(t.to_string(), "tensor([[ 0.5000, -1.0000],\n        [ 2.2500,  3.0000]])");
        let w = Tensor::from_vec(vec![1.0f64, 2.0], [2]);
        assert_eq!(w.to_string(), "tensor([1., 2.], dtype=f64)");
        assert_eq!(Tensor::from_vec(vec![true, false], [2]).to_string(), "tensor([ True, False])");
        assert_eq!(Tensor::scalar(7i64).to_string(), "tensor(7)");
        assert_eq!(Tensor::zeros([0, 2], DType::F32).to_string(), "tensor([], size=[0,2])");
    }

    #[test]
    fn summarizes_large_tensors() {
        let t = Tensor::arange(0.0, 2000.0, 1.0, DType::I64);
        assert_eq!(t.to_string(), "tensor([   0,    1,    2, ..., 1997, 1998, 1999])");
    }
}
