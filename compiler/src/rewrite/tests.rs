//! The pass on IR text: snapshots of what each rule family does, budgets, opaque ops, and
//! random graphs run through the interpreter before and after rewriting.

use super::analysis::node_data;
use super::*;
use ignis_ir::{BinaryOp, DType, GraphBuilder, Node, Op, ReduceOp, Scalar, UnaryOp, Value, ValueDef, ValueType, parse};

fn parsed(text: &str) -> Graph {
    parse(text).unwrap_or_else(|e| panic!("{e}\nin\n{text}"))
}

fn assert_same_signature(input: &Graph, output: &Graph) {
    verify(output).unwrap_or_else(|e| panic!("{e:?}\n{output}"));
    assert_eq!(output.name, input.name);
    assert_eq!(output.params, input.params);
    assert_eq!(output.output_types(), input.output_types(), "{input}\nbecame\n{output}");
}

/// The rewritten graph's text followed by the rules that fired, as a snapshot shows them.
fn rewritten(text: &str) -> String {
    let input = parsed(text);
    let (output, report) = rewrite(&input, RewriteBudget::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_same_signature(&input, &output);
    assert!(report.cost_after <= report.cost_before);
    let rules: Vec<String> = report.rules_applied.iter().map(|(name, n)| format!("{name} x{n}")).collect();
    format!("{output}// {}\n// rules: {}\n", report.stop_reason, rules.join(", "))
}

#[test]
fn arithmetic_identities_vanish() {
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[4,8], %y: f32[4,8]) -> (f32[4,8]) {
          %0 = constant 1.0 : f32[]
          %1 = mul %x, %0 : f32[4,8]
          %2 = constant 0.0 : f32[]
          %3 = add %2, %1 : f32[4,8]
          %4 = sub %3, %2 : f32[4,8]
          %5 = div %4, %0 : f32[4,8]
          %6 = neg %y : f32[4,8]
          %7 = add %5, %6 : f32[4,8]
          return %7
        }"
    ));
}

#[test]
fn identities_keep_the_type() {
    // x * 1.0 for an i32 x is an f32, so it stays; y + 0 with the zeros larger than y is y
    // broadcast, and the exp then runs before the broadcast.
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: i32[4], %y: f32[4]) -> (f32[4], f32[2,4]) {
          %0 = constant 1.0 : f32[]
          %1 = mul %x, %0 : f32[4]
          %2 = constant 0.0 : f32[2,4]
          %3 = add %y, %2 : f32[2,4]
          %4 = exp %3 : f32[2,4]
          return %1, %4
        }"
    ));
}

#[test]
fn negations_cancel_or_become_subtractions() {
    insta::assert_snapshot!(rewritten(
        "graph @f(%a: f32[8], %b: f32[8]) -> (f32[8], f32[8], f32[8]) {
          %0 = neg %a : f32[8]
          %1 = neg %0 : f32[8]
          %2 = sub %a, %b : f32[8]
          %3 = neg %2 : f32[8]
          %4 = neg %b : f32[8]
          %5 = mul %0, %4 : f32[8]
          %6 = constant -1.0 : f32[]
          %7 = mul %6, %a : f32[8]
          %8 = sub %7, %4 : f32[8]
          %9 = add %1, %3 : f32[8]
          return %9, %5, %8
        }"
    ));
}

#[test]
fn division_by_a_power_of_two_becomes_a_multiplication() {
    // 4 and 0.5 are powers of two; 3 is not, and 2^-149 has no f32 reciprocal.
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[8]) -> (f32[8], f32[8], f32[8], f32[8]) {
          %0 = constant 4.0 : f32[]
          %1 = div %x, %0 : f32[8]
          %2 = constant 0.5 : f32[]
          %3 = div %x, %2 : f32[8]
          %4 = constant 3.0 : f32[]
          %5 = div %x, %4 : f32[8]
          %6 = constant 1.401298464324817e-45 : f32[]
          %7 = div %x, %6 : f32[8]
          return %1, %3, %5, %7
        }"
    ));
}

#[test]
fn constants_fold_exactly_per_dtype() {
    // 0.1 + 0.2 in f32 is 0.30000001192092896; exp is not folded (its kernel approximates);
    // i32 addition wraps; a constant broadcast by expand is still the constant 1.
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[4]) -> (f32[4], i32[]) {
          %0 = constant 0.1 : f32[]
          %1 = constant 0.2 : f32[]
          %2 = add %0, %1 : f32[]
          %3 = constant 1.0 : f32[]
          %4 = exp %3 : f32[]
          %5 = add %x, %2 : f32[4]
          %6 = mul %5, %4 : f32[4]
          %7 = expand %3, shape=[4] : f32[4]
          %8 = mul %6, %7 : f32[4]
          %9 = constant 2 : i32[]
          %10 = constant 2147483647 : i32[]
          %11 = add %9, %10 : i32[]
          return %8, %11
        }"
    ));
}

#[test]
fn casts_that_round_trip_exactly_vanish() {
    // f16 -> f32 -> f16 is exact, f32 -> f16 -> f32 is not; i32 -> f64 -> f32 is i32 -> f32.
    insta::assert_snapshot!(rewritten(
        "graph @f(%h: f16[4], %x: f32[4], %i: i32[4]) -> (f16[4], f32[4], f32[4]) {
          %0 = cast %h, to=f32 : f32[4]
          %1 = cast %0, to=f16 : f16[4]
          %2 = cast %1, to=f16 : f16[4]
          %3 = mul %2, %h : f16[4]
          %4 = cast %x, to=f16 : f16[4]
          %5 = cast %4, to=f32 : f32[4]
          %6 = cast %i, to=f64 : f64[4]
          %7 = cast %6, to=f32 : f32[4]
          return %3, %5, %7
        }"
    ));
}

#[test]
fn where_picks_a_branch_when_it_can() {
    insta::assert_snapshot!(rewritten(
        "graph @f(%c: bool[4], %x: f32[4], %y: f32[4]) -> (f32[4], f32[4]) {
          %0 = where %c, %x, %x : f32[4]
          %1 = constant 2.0 : f32[]
          %2 = constant 1.0 : f32[]
          %3 = gt %1, %2 : bool[]
          %4 = where %3, %x, %y : f32[4]
          %5 = lt %1, %2 : bool[]
          %6 = where %5, %x, %y : f32[4]
          %7 = add %0, %4 : f32[4]
          return %7, %6
        }"
    ));
}

#[test]
fn reductions_over_unit_dims_become_views() {
    // The mean of i32 values is an f32, so that one stays.
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[4,1,8], %i: i32[4,1]) -> (f32[4,8], f32[4,1,8], f32[4]) {
          %0 = sum %x, axes=[1], keepdim=false : f32[4,8]
          %1 = exp %0 : f32[4,8]
          %2 = max %x, axes=[1], keepdim=true : f32[4,1,8]
          %3 = exp %2 : f32[4,1,8]
          %4 = mean %i, axes=[1], keepdim=false : f32[4]
          return %1, %3, %4
        }"
    ));
}

#[test]
fn movement_chains_collapse() {
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[4,6], %y: f32[1,6]) -> (f32[24], f32[4,6], f32[4,6], f32[4,2]) {
          %0 = reshape %x, shape=[2,12] : f32[2,12]
          %1 = reshape %0, shape=[24] : f32[24]
          %2 = permute %x, perm=[1,0] : f32[6,4]
          %3 = permute %2, perm=[1,0] : f32[4,6]
          %4 = reshape %3, shape=[4,6] : f32[4,6]
          %5 = slice %4, dim=1, start=0, len=6, step=1 : f32[4,6]
          %6 = exp %5 : f32[4,6]
          %7 = expand %y, shape=[1,6] : f32[1,6]
          %8 = expand %7, shape=[4,6] : f32[4,6]
          %9 = slice %x, dim=1, start=1, len=4, step=1 : f32[4,4]
          %10 = slice %9, dim=1, start=1, len=2, step=2 : f32[4,2]
          return %1, %6, %8, %10
        }"
    ));
}

#[test]
fn repeated_ops_collapse() {
    // relu(relu(abs(abs(-x)))) is relu(abs(x)); not(not(not(b))) is not(b); two broadcasts are
    // one, and the cast runs before it.
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[8], %b: bool[8], %y: f32[1,6]) -> (f32[8], bool[8], f16[3,5,6]) {
          %0 = neg %x : f32[8]
          %1 = abs %0 : f32[8]
          %2 = abs %1 : f32[8]
          %3 = relu %2 : f32[8]
          %4 = relu %3 : f32[8]
          %5 = logical_not %b : bool[8]
          %6 = logical_not %5 : bool[8]
          %7 = logical_not %6 : bool[8]
          %8 = expand %y, shape=[5,6] : f32[5,6]
          %9 = expand %8, shape=[3,5,6] : f32[3,5,6]
          %10 = cast %9, to=f16 : f16[3,5,6]
          return %4, %7, %10
        }"
    ));
}

#[test]
fn elementwise_work_moves_before_broadcasts() {
    insta::assert_snapshot!(rewritten(
        "graph @f(%a: f32[1,8], %b: f32[1,8]) -> (f32[4,8], f32[4,8]) {
          %0 = expand %a, shape=[4,8] : f32[4,8]
          %1 = exp %0 : f32[4,8]
          %2 = expand %b, shape=[4,8] : f32[4,8]
          %3 = add %0, %2 : f32[4,8]
          %4 = constant 3.0 : f32[]
          %5 = mul %3, %4 : f32[4,8]
          return %1, %5
        }"
    ));
}

#[test]
fn matmul_bias_and_activation_stay_one_chain() {
    insta::assert_snapshot!(rewritten(
        "graph @mlp(%x: f32[256,1024], %w: f32[1024,4096], %b: f32[4096]) -> (f32[256,4096]) {
          %0 = matmul %x, %w : f32[256,4096]
          %1 = reshape %b, shape=[1,4096] : f32[1,4096]
          %2 = expand %1, shape=[256,4096] : f32[256,4096]
          %3 = add %0, %2 : f32[256,4096]
          %4 = gelu_tanh %3 : f32[256,4096]
          return %4
        }"
    ));
}

#[test]
fn squares_and_reductions_of_copies() {
    // The max over copies is the value itself; a sum over copies is left alone (rounding).
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[4,1], %y: f32[4,8]) -> (f32[4,8], f32[4], f32[4]) {
          %0 = mul %y, %y : f32[4,8]
          %1 = expand %x, shape=[4,8] : f32[4,8]
          %2 = max %1, axes=[1], keepdim=false : f32[4]
          %3 = neg %2 : f32[4]
          %4 = sum %1, axes=[1], keepdim=false : f32[4]
          return %0, %3, %4
        }"
    ));
}

#[test]
fn opaque_ops_pass_through() {
    // Two identical random nodes (same seed and offset) are one value; the pool's two results
    // stay two nodes; softmax and gather are untouched while the rules work around them.
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[1,2,4,4], %t: f32[8,16], %i: i64[8,2], %seed: i64[], %offset: i64[])
            -> (f32[1,2,2,2], i64[1,2,2,2], f32[8,2], f32[16], f32[8,16]) {
          %0 = max_pool2d %x, kernel=[2,2], stride=[2,2], padding=[0,0], dilation=[1,1] : f32[1,2,2,2]
          %1 = max_pool2d#1 %x, kernel=[2,2], stride=[2,2], padding=[0,0], dilation=[1,1] : i64[1,2,2,2]
          %2 = gather %t, %i, dim=1 : f32[8,2]
          %3 = constant 1.0 : f32[]
          %4 = mul %2, %3 : f32[8,2]
          %5 = rand_uniform %seed, %offset : f32[16]
          %6 = rand_uniform %seed, %offset : f32[16]
          %7 = add %5, %6 : f32[16]
          %8 = softmax %t, dim=1 : f32[8,16]
          %9 = neg %8 : f32[8,16]
          %10 = neg %9 : f32[8,16]
          return %0, %1, %4, %7, %10
        }"
    ));
}

#[test]
fn an_output_never_becomes_an_alias_of_a_parameter() {
    // x * 1 is x, but the caller was given fresh storage, so it gets a copy of x.
    insta::assert_snapshot!(rewritten(
        "graph @f(%x: f32[4]) -> (f32[4], f32[4]) {
          %0 = constant 1.0 : f32[]
          %1 = mul %x, %0 : f32[4]
          %2 = add %x, %x : f32[4]
          %3 = mul %2, %0 : f32[4]
          return %1, %3
        }"
    ));
}

fn transformer_block() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/rewrite/testdata/transformer_block.txt"))
        .expect("the test graph")
}

#[test]
fn a_tiny_budget_stops_early_with_a_valid_graph() {
    let input = parsed(&transformer_block());
    let cases = [
        (RewriteBudget { nodes: 20_000, iterations: 1, time_ms: 10_000 }, "iteration limit"),
        (RewriteBudget { nodes: 1, iterations: 12, time_ms: 10_000 }, "node limit"),
        (RewriteBudget { nodes: 20_000, iterations: 0, time_ms: 10_000 }, "iteration limit"),
    ];
    for (budget, reason) in cases {
        let (output, report) = rewrite(&input, budget).unwrap();
        assert_eq!(report.stop_reason, reason, "{budget:?}");
        assert_same_signature(&input, &output);
    }
    let (_, report) = rewrite(&input, RewriteBudget::default()).unwrap();
    assert_eq!(report.stop_reason, "saturated");
}

#[test]
fn a_realistic_block_only_gets_cheaper() {
    insta::assert_snapshot!(rewritten(&transformer_block()));
}

#[test]
fn an_invalid_input_is_an_error() {
    let mut graph = parsed(
        "graph @f(%x: f32[4]) -> (f32[4]) {
          %0 = exp %x : f32[4]
          return %0
        }",
    );
    graph.nodes[0].ty = ValueType::of(DType::F16, &[4]);
    assert!(matches!(rewrite(&graph, RewriteBudget::default()), Err(RewriteError::InvalidInput(_))));
}

/// Every node of every class types as its class after all the rules have run: no rule changes
/// a value's type. Checked on each snapshot input and on random graphs.
#[test]
fn rules_never_change_a_type() {
    let mut graphs: Vec<Graph> = vec![parsed(&transformer_block())];
    let mut rng = Rng(7);
    graphs.extend((0..40).map(|i| random_graph(&mut rng, i, 12)));
    for graph in graphs {
        let egraph = convert::to_egraph(&graph).unwrap().egraph;
        let runner: Runner<language::TensorLang, analysis::TensorAnalysis> =
            Runner::new(analysis::TensorAnalysis::default()).with_egraph(egraph).run(rules::all());
        let egraph = &runner.egraph;
        assert!(egraph.analysis.problems.is_empty(), "{:?}", egraph.analysis.problems);
        for class in egraph.classes() {
            for node in &class.nodes {
                let data = node_data(node, &egraph.analysis.params, |id| &egraph[id].data).unwrap();
                assert_eq!(data.ty(), class.data.ty(), "{node} in a class of {:?}\n{graph}", class.data);
            }
        }
    }
}

/// A small deterministic generator (xorshift), enough to vary graphs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A random f32 program over `[4,8]`-ish values: elementwise ops with and without constants,
/// broadcasts, views, casts, selections, reductions and an opaque softmax.
fn random_graph(rng: &mut Rng, index: usize, steps: usize) -> Graph {
    let mut b = GraphBuilder::new(format!("random{index}"));
    let shapes: [&[usize]; 4] = [&[4, 8], &[1, 8], &[4, 1], &[8]];
    let mut values = Vec::new();
    for i in 0..3 {
        let shape = shapes[rng.below(shapes.len())];
        let ty = ValueType::of(DType::F32, shape);
        values.push(b.named_param(&format!("p{i}"), ty).unwrap());
    }
    let constants = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 3.0, 0.25];
    let unary = [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Relu, UnaryOp::Exp, UnaryOp::Square, UnaryOp::Sqrt];
    let binary = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum];
    for _ in 0..steps {
        let x = *rng.pick(&values);
        let y = *rng.pick(&values);
        let x_ty = b.value_type(x).unwrap().clone();
        let dims: Vec<usize> = x_ty.shape.iter().map(|d| ignis_ir::shape::DimValue::known(*d).unwrap()).collect();
        let made = match rng.below(13) {
            0 | 1 => b.unary(*rng.pick(&unary), x),
            2 | 3 => b.binary(*rng.pick(&binary), x, y),
            4 | 5 => {
                let c = b.constant(*rng.pick(&constants), ValueType::of(x_ty.dtype, &[])).unwrap();
                let (l, r) = if rng.below(2) == 0 { (x, c) } else { (c, x) };
                b.binary(*rng.pick(&binary), l, r)
            }
            6 => b.expand(x, &[4, 8]),
            7 => {
                let numel: usize = dims.iter().product();
                b.reshape(x, rng.pick(&[vec![numel], vec![1, numel], dims.clone()]).as_slice())
            }
            8 if dims.len() == 2 => b.permute(x, &[1, 0]),
            8 => b.unary(UnaryOp::Neg, x),
            9 => {
                let to = *rng.pick(&[DType::F64, DType::F16]);
                let there = b.cast(x, to).unwrap();
                b.cast(there, DType::F32)
            }
            10 => {
                let condition = b.binary(BinaryOp::Gt, x, y);
                condition.and_then(|c| b.where_(c, x, y))
            }
            11 if !dims.is_empty() => {
                let dim = dims.len() - 1;
                let (start, step) = (rng.below(dims[dim]), 1 + rng.below(2));
                let len = (dims[dim] - start).div_ceil(step);
                b.push(Op::Slice { dim, start, len, step }, &[x])
            }
            _ => {
                let op = *rng.pick(&[ReduceOp::Sum, ReduceOp::Max]);
                if dims.is_empty() { b.unary(UnaryOp::Relu, x) } else { b.reduce(op, x, &[-1], true) }
            }
        };
        // Combinations that do not broadcast are simply not made.
        if let Ok(v) = made {
            values.push(v);
        }
    }
    if rng.below(3) == 0 {
        let last = *values.last().unwrap();
        if let Ok(v) = b.softmax(last, -1) {
            values.push(v);
        }
    }
    b.output(*values.last().unwrap()).unwrap();
    b.output(values[values.len() / 2]).unwrap();
    b.finish()
}

/// Runs `graph` in the interpreter; every output as f64 values.
fn run(graph: &Graph, inputs: &[Vec<f32>]) -> Vec<Vec<f64>> {
    use ignis_runtime::executor::Interpreter;
    use ignis_runtime::interpret::concrete_shape;
    use ignis_runtime::{Layout, Storage, View, cpu};
    let params: Vec<(Storage, Layout)> = graph
        .params
        .iter()
        .zip(inputs)
        .map(|(p, data)| {
            let shape = concrete_shape(&p.ty);
            let n: usize = shape.iter().product();
            (Storage::from_vec(data[..n].to_vec()), Layout::contiguous(&shape))
        })
        .collect();
    let outputs = Interpreter::new(graph.clone()).run(&params);
    outputs.iter().map(|(s, l)| cpu::cast(View::new(s, l), DType::F64).to_vec::<f64>()).collect()
}

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

/// Random graphs keep their signature, verify, and compute the same numbers in the
/// interpreter (zeros compared without their sign, NaNs as equal).
#[test]
fn random_graphs_keep_their_signature_and_values() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let specials = [0.0, -0.0, 1.0, -1.0, 0.5, 3.0, -2.5, 1e-3, 100.0];
    for index in 0..64 {
        let graph = random_graph(&mut rng, index, 12);
        let (rewritten, report) = rewrite(&graph, RewriteBudget::default()).unwrap_or_else(|e| panic!("{e}\n{graph}"));
        assert_same_signature(&graph, &rewritten);
        assert!(report.cost_after <= report.cost_before, "{graph}\n{rewritten}");
        let inputs: Vec<Vec<f32>> = (0..3).map(|_| (0..32).map(|_| *rng.pick(&specials)).collect()).collect();
        let (before, after) = (run(&graph, &inputs), run(&rewritten, &inputs));
        for (k, (b, a)) in before.iter().zip(&after).enumerate() {
            assert!(same_values(b, a), "output {k} differs:\n{graph}\nbecame\n{rewritten}\n{b:?}\n{a:?}");
        }
    }
}

#[test]
fn scalars_in_random_graphs_are_constants() {
    // Keeps the generator honest: constants appear with both operand orders.
    let mut rng = Rng(3);
    let graphs: Vec<Graph> = (0..16).map(|i| random_graph(&mut rng, i, 12)).collect();
    let constants = graphs.iter().flat_map(|g| &g.nodes).filter(|n| matches!(n.op, Op::Constant(Scalar::Float(_))));
    assert!(constants.count() > 8);
}

/// Fifty blocks one after another are rewritten as fifty times one block.
#[test]
fn a_stack_of_blocks_rewrites_like_one_block() {
    let block = parsed(&transformer_block());
    let (_, one) = rewrite(&block, RewriteBudget::default()).unwrap();
    let stacked = stack(&block, 50);
    let (output, fifty) = rewrite(&stacked, RewriteBudget::default()).unwrap();
    assert_same_signature(&stacked, &output);
    let times_fifty: Vec<(String, usize)> = one.rules_applied.iter().map(|(name, n)| (name.clone(), 50 * n)).collect();
    assert_eq!(fifty.rules_applied, times_fifty);
    assert_eq!(fifty.stop_reason, "saturated");
}

/// `copies` blocks one after another: each block's output is the next one's first parameter.
fn stack(block: &Graph, copies: usize) -> Graph {
    let mut graph = Graph { name: "stack".into(), ..Graph::new("") };
    for copy in 0..copies {
        let mut map: Vec<Value> = Vec::new();
        for (i, param) in block.params.iter().enumerate() {
            if copy > 0 && i == 0 {
                map.push(graph.outputs.pop().unwrap());
            } else {
                map.push(graph.push_param(format!("{}_{copy}", param.name), param.ty.clone()));
            }
        }
        let translate = |v: Value, nodes: &[Value], map: &[Value]| match v.def() {
            ValueDef::Param(i) => map[i],
            ValueDef::Node(id) => nodes[id.index()],
        };
        let mut nodes = Vec::new();
        for node in &block.nodes {
            let inputs = node.inputs.iter().map(|&v| translate(v, &nodes, &map)).collect();
            nodes.push(graph.push_node(Node { inputs, ..node.clone() }));
        }
        graph.outputs.push(translate(block.outputs[0], &nodes, &map));
    }
    graph
}
