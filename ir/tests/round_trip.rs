//! Property: any valid graph prints, parses back to an equal graph, and prints the same.

use ignis_ir::builder::GraphBuilder;
use ignis_ir::graph::{Graph, Value, ValueType};
use ignis_ir::parse::parse;
use ignis_ir::verify::verify;
use ignis_ir::{BinaryOp, DType, Dim, Op, ReduceOp, Scalar, Shape, Symbol, UnaryOp};
use proptest::prelude::*;

/// One step of a random program: which op, which earlier values, and a free parameter.
#[derive(Clone, Debug)]
struct Step {
    op: u8,
    a: usize,
    b: usize,
    knob: u8,
}

fn dim(code: u8) -> Dim {
    match code % 5 {
        0 => Dim::Const(1),
        1 => Dim::Const(2),
        2 => Dim::Const(3),
        3 => Dim::Const(4),
        _ => Dim::Sym(Symbol(0)),
    }
}

fn param_type(dtype: u8, dims: &[u8]) -> ValueType {
    let dtype = [DType::F32, DType::F16, DType::I64, DType::Bool][dtype as usize % 4];
    ValueType::new(dtype, dims.iter().map(|&d| dim(d)).collect())
}

/// Applies `step` if the op accepts the chosen values; a rejected step is skipped, so the
/// graph stays valid.
fn apply(b: &mut GraphBuilder, values: &mut Vec<Value>, step: &Step) {
    let x = values[step.a % values.len()];
    let y = values[step.b % values.len()];
    let rank = b.value_type(x).map(|t| t.rank()).unwrap_or(0);
    let axis = step.knob as usize % rank.max(1);
    let knob = step.knob as usize;
    let op = match step.op % 14 {
        0 => Op::Unary(UnaryOp::ALL[knob % UnaryOp::ALL.len()]),
        1 => Op::Unary(UnaryOp::LeakyRelu { slope: Scalar::Float(knob as f64 / 7.0) }),
        2 => Op::Binary(BinaryOp::ALL[knob % BinaryOp::ALL.len()]),
        3 => Op::Reduce { op: ReduceOp::ALL[knob % ReduceOp::ALL.len()], axes: vec![axis], keepdim: knob % 2 == 0 },
        4 => Op::Cast(DType::ALL[knob % DType::ALL.len()]),
        5 => Op::Matmul,
        6 => Op::Softmax { dim: axis },
        7 => Op::Permute { perm: (0..rank).rev().collect() },
        8 => Op::Concat { dim: axis },
        9 => Op::Where,
        10 => Op::Unary(UnaryOp::Clamp { min: Some(Scalar::Int(-(knob as i64))), max: None }),
        11 => Op::Var { axes: vec![axis], correction: knob % 2, keepdim: true },
        12 => Op::Flip { dims: vec![axis] },
        _ => {
            let ty = ValueType::new(DType::ALL[knob % DType::ALL.len()], Shape::from_slice(&[Dim::Const(knob % 3)]));
            if let Ok(v) = b.constant(Scalar::Float(knob as f64 * 0.25), ty) {
                values.push(v);
            }
            return;
        }
    };
    let inputs: Vec<Value> = match op.arity().min {
        1 => vec![x],
        2 => vec![x, y],
        _ => vec![x, y, values[step.a.wrapping_add(step.b) % values.len()]],
    };
    if let Ok(v) = b.push(op, &inputs) {
        values.push(v);
    }
}

fn graphs() -> impl Strategy<Value = Graph> {
    let params = prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..4)), 1..4);
    let steps = prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), any::<u8>()), 0..16);
    let outputs = prop::collection::vec(any::<usize>(), 0..3);
    (params, steps, outputs).prop_map(|(params, steps, outputs)| {
        let mut b = GraphBuilder::new("random");
        let mut values: Vec<Value> = params
            .iter()
            .enumerate()
            .map(|(i, (dtype, dims))| b.named_param(&format!("in{i}"), param_type(*dtype, dims)).unwrap())
            .collect();
        for (op, a, b_index, knob) in steps {
            apply(&mut b, &mut values, &Step { op, a, b: b_index, knob });
        }
        for pick in outputs {
            b.output(values[pick % values.len()]).unwrap();
        }
        b.finish()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn print_parse_print_is_identity(graph in graphs()) {
        prop_assert_eq!(verify(&graph), Ok(()));
        let text = graph.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\nin\n{text}")))?;
        prop_assert_eq!(parsed.to_string(), text);
        prop_assert_eq!(parsed, graph);
    }
}

#[test]
fn random_graphs_are_not_trivial() {
    // Guards the generator: most steps must produce nodes, or the property tests little.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let total: usize = (0..50).map(|_| graphs().new_tree(&mut runner).unwrap().current().nodes.len()).sum();
    assert!(total > 150, "only {total} nodes in 50 graphs");
}
