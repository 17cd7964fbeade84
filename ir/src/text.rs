//! The text form of a graph, one line per node; `parse` reads it back.
//!
//! ```text
//! graph @mlp(%x: f32[256,1024], %w1: f32[1024,4096]) -> (f32[256,4096]) {
//!   %0 = matmul %x, %w1 : f32[256,4096]
//!   %1 = gelu_tanh %0 : f32[256,4096]
//!   %2 = sum %1, axes=[1], keepdim=true : f32[256,1]
//!   return %1, %2
//! }
//! ```
//!
//! A node is `%N = op operands, key=value, ... : type`. Parameters print by their names,
//! node values as `%N`. A node taking result `k > 0` of a multi-result op writes it after the
//! op's name: `%3 = max_pool2d#1 %x, kernel=[2,2], ... : i64[1,3,4,4]`. A constant's value
//! takes the place of operands: `%5 = constant 0.5 : f32[]`.

use crate::attrs::attributes;
use crate::graph::{Graph, NodeId, Value, ValueDef};
use crate::op::Op;
use std::fmt::{self, Write};

/// How `value` is spelled in the text of `graph`.
pub fn value_name(graph: &Graph, value: Value) -> String {
    match value.def() {
        ValueDef::Param(i) => match graph.params.get(i) {
            Some(param) => format!("%{}", param.name),
            None => value.to_string(),
        },
        ValueDef::Node(_) => value.to_string(),
    }
}

/// One node's line without indentation: `%0 = matmul %x, %w1 : f32[256,4096]`.
pub fn node_line(graph: &Graph, id: NodeId) -> String {
    let node = graph.node(id);
    let mut line = format!("{} = {}", id.value(), node.op.name());
    if node.result != 0 {
        let _ = write!(line, "#{}", node.result);
    }
    let mut items: Vec<String> = node.inputs.iter().map(|&v| value_name(graph, v)).collect();
    if let Op::Constant(value) = &node.op {
        items.push(value.to_string());
    }
    items.extend(attributes(&node.op).into_iter().map(|(key, value)| format!("{key}={value}")));
    if !items.is_empty() {
        line.push(' ');
        line.push_str(&items.join(", "));
    }
    let _ = write!(line, " : {}", node.ty);
    line
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "graph @{}(", self.name)?;
        for (i, param) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "%{}: {}", param.name, param.ty)?;
        }
        f.write_str(") -> (")?;
        for (i, &output) in self.outputs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match self.value_type(output) {
                Some(ty) => write!(f, "{ty}")?,
                // Only an unverified graph gets here; the verifier names the problem.
                None => f.write_str("?")?,
            }
        }
        f.write_str(") {\n")?;
        for id in self.node_ids() {
            writeln!(f, "  {}", node_line(self, id))?;
        }
        f.write_str("  return")?;
        for (i, &output) in self.outputs.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            f.write_str(&value_name(self, output))?;
        }
        f.write_str("\n}\n")
    }
}
