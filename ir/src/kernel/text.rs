//! The kernel IR's text form, as dumps show it.

use super::{Access, Expr, Index, Kernel, StageKind};
use crate::shape::format_shape;
use std::fmt;

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut terms = Vec::new();
        if self.offset != 0 {
            terms.push(self.offset.to_string());
        }
        let loops = self.outer.iter().enumerate().map(|(i, s)| (format!("o{i}"), *s));
        for (name, stride) in loops.chain(self.inner.iter().enumerate().map(|(i, s)| (format!("i{i}"), *s))) {
            match stride {
                0 => {}
                1 => terms.push(name),
                s => terms.push(format!("{s}*{name}")),
            }
        }
        if terms.is_empty() { write!(f, "0") } else { write!(f, "{}", terms.join(" + ")) }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let buffers: Vec<String> = self
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let access = if b.access == Access::Read { "read" } else { "write" };
                format!("b{i}: {} {access}", b.dtype)
            })
            .collect();
        writeln!(f, "kernel @{}({}) outer={} {{", self.name, buffers.join(", "), format_shape(&self.outer))?;
        for (i, e) in self.exprs.iter().enumerate() {
            let line = match e {
                Expr::Load { buffer, index } => format!("load b{buffer}[{index}]"),
                Expr::Const(v) => format!("const {v:?}"),
                Expr::Flag(b) => format!("const {b}"),
                Expr::Unary(op, a) => format!("{} e{}", op.name(), a.0),
                Expr::Binary(op, a, b) => format!("{} e{}, e{}", op.name(), a.0, b.0),
                Expr::Fma(a, b, c) => format!("fma e{}, e{}, e{}", a.0, b.0, c.0),
                Expr::Select(c, a, b) => format!("select e{}, e{}, e{}", c.0, a.0, b.0),
                Expr::BoolToFloat(a) => format!("to_float e{}", a.0),
                Expr::Stage(s) => format!("stage {s}"),
                Expr::Count(s) => format!("count {s}"),
            };
            writeln!(f, "  e{i} = {line}")?;
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let inner = format_shape(&stage.inner);
            match &stage.kind {
                StageKind::Reduce { combine, value } => {
                    writeln!(f, "  stage {i} inner={inner}: reduce {} {value}", combine.name())?
                }
                StageKind::Store(stores) => {
                    for s in stores {
                        writeln!(f, "  stage {i} inner={inner}: store b{}[{}] = {}", s.buffer, s.index, s.value)?;
                    }
                }
            }
        }
        write!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use crate::dtype::DType;
    use crate::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
    use crate::op::{BinaryOp, UnaryOp};

    #[test]
    fn a_softmax_kernel_prints_its_stages() {
        let mut k = Kernel::new("softmax", vec![4]);
        let x = k.add_buffer(DType::F32, Access::Read);
        let y = k.add_buffer(DType::F32, Access::Write);
        let row = Index { offset: 0, outer: vec![8], inner: vec![1] };
        let load = k.push(Expr::Load { buffer: x, index: row.clone() });
        let max = k.push(Expr::Stage(0));
        let shifted = k.push(Expr::Binary(BinaryOp::Sub, load, max));
        let exp = k.push(Expr::Unary(UnaryOp::Exp, shifted));
        let sum = k.push(Expr::Stage(1));
        let out = k.push(Expr::Binary(BinaryOp::Div, exp, sum));
        k.stages.push(Stage { inner: vec![8], kind: StageKind::Reduce { combine: Combine::Max, value: load } });
        k.stages.push(Stage { inner: vec![8], kind: StageKind::Reduce { combine: Combine::Sum, value: exp } });
        let store = Store { buffer: y, index: row, value: out };
        k.stages.push(Stage { inner: vec![8], kind: StageKind::Store(vec![store]) });
        assert_eq!(
            k.to_string(),
            "kernel @softmax(b0: f32 read, b1: f32 write) outer=[4] {
  e0 = load b0[8*o0 + i0]
  e1 = stage 0
  e2 = sub e0, e1
  e3 = exp e2
  e4 = stage 1
  e5 = div e3, e4
  stage 0 inner=[8]: reduce max e0
  stage 1 inner=[8]: reduce sum e3
  stage 2 inner=[8]: store b1[8*o0 + i0] = e5
}"
        );
        assert!(k.varies_inside(out));
        assert!(!k.varies_inside(max));
        assert_eq!(k.push(Expr::Stage(0)), max, "identical expressions are shared");
    }
}
