//! Graphviz DOT of a graph, for pictures in dumps: parameters as ellipses, nodes as boxes
//! labelled with their op, attributes and type, outputs as double octagons.

use crate::attrs::attributes;
use crate::graph::{Graph, Value, ValueDef};
use crate::op::Op;
use std::fmt::Write;

/// Escapes a label for a double-quoted DOT string.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn vertex(value: Value) -> String {
    match value.def() {
        ValueDef::Param(i) => format!("p{i}"),
        ValueDef::Node(n) => format!("n{}", n.index()),
    }
}

/// The DOT text of `graph`.
pub fn to_dot(graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(&graph.name));
    out.push_str("  node [fontname=\"monospace\"];\n");
    for (i, param) in graph.params.iter().enumerate() {
        let label = format!("%{}\\n{}", escape(&param.name), param.ty);
        let _ = writeln!(out, "  p{i} [shape=ellipse, label=\"{label}\"];");
    }
    for id in graph.node_ids() {
        let node = graph.node(id);
        let mut label = format!("{} = {}", id.value(), node.op.name());
        if node.result != 0 {
            let _ = write!(label, "#{}", node.result);
        }
        if let Op::Constant(value) = &node.op {
            let _ = write!(label, " {value}");
        }
        for (key, value) in attributes(&node.op) {
            let _ = write!(label, "\\n{key}={}", escape(&value.to_string()));
        }
        let _ = write!(label, "\\n{}", node.ty);
        let _ = writeln!(out, "  n{} [shape=box, label=\"{label}\"];", id.index());
        for (position, &input) in node.inputs.iter().enumerate() {
            // Operand order matters (sub, matmul), so multi-input edges carry it.
            let edge_label = if node.inputs.len() > 1 { format!(" [label=\"{position}\"]") } else { String::new() };
            let _ = writeln!(out, "  {} -> n{}{edge_label};", vertex(input), id.index());
        }
    }
    for (i, &output) in graph.outputs.iter().enumerate() {
        let _ = writeln!(out, "  out{i} [shape=doubleoctagon, label=\"output {i}\"];");
        let _ = writeln!(out, "  {} -> out{i};", vertex(output));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn draws_params_nodes_and_outputs() {
        let g = parse(
            "graph @f(%x: f32[4,8], %w: f32[8,2]) -> (f32[4,2]) {
              %0 = matmul %x, %w : f32[4,2]
              %1 = leaky_relu %0, slope=0.01 : f32[4,2]
              return %1
            }",
        )
        .unwrap();
        assert_eq!(
            to_dot(&g),
            r#"digraph "f" {
  node [fontname="monospace"];
  p0 [shape=ellipse, label="%x\nf32[4,8]"];
  p1 [shape=ellipse, label="%w\nf32[8,2]"];
  n0 [shape=box, label="%0 = matmul\nf32[4,2]"];
  p0 -> n0 [label="0"];
  p1 -> n0 [label="1"];
  n1 [shape=box, label="%1 = leaky_relu\nslope=0.01\nf32[4,2]"];
  n0 -> n1;
  out0 [shape=doubleoctagon, label="output 0"];
  n1 -> out0;
}
"#
        );
    }
}
