//! Counted loops with loop-carried values, built from blocks and block parameters.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, Value, types};
use cranelift_frontend::FunctionBuilder;

fn args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|&v| BlockArg::from(v)).collect()
}

/// Runs `body(iv, carried)` for `iv = start, start + step, ...` while `iv + step <= end`,
/// threading the carried values through; returns the first `iv` not run and the final
/// carried values. With `step > 1` the caller handles the remainder from the returned `iv`.
pub fn counted(
    b: &mut FunctionBuilder,
    start: Value,
    end: Value,
    step: i64,
    carried: &[Value],
    mut body: impl FnMut(&mut FunctionBuilder, Value, &[Value]) -> Vec<Value>,
) -> (Value, Vec<Value>) {
    let header = b.create_block();
    let body_block = b.create_block();
    let exit = b.create_block();
    b.append_block_param(header, types::I64);
    b.append_block_param(exit, types::I64);
    for &v in carried {
        let ty = b.func.dfg.value_type(v);
        b.append_block_param(header, ty);
        b.append_block_param(exit, ty);
    }
    let mut entry_args = vec![start];
    entry_args.extend_from_slice(carried);
    b.ins().jump(header, &args(&entry_args));

    b.switch_to_block(header);
    let params = b.block_params(header).to_vec();
    let iv = params[0];
    let next = b.ins().iadd_imm_s(iv, step);
    let fits = b.ins().icmp(IntCC::SignedLessThanOrEqual, next, end);
    b.ins().brif(fits, body_block, &[], exit, &args(&params));

    b.switch_to_block(body_block);
    b.seal_block(body_block);
    let updated = body(b, iv, &params[1..]);
    let mut back = vec![next];
    back.extend(updated);
    b.ins().jump(header, &args(&back));
    b.seal_block(header);

    b.switch_to_block(exit);
    b.seal_block(exit);
    let out = b.block_params(exit).to_vec();
    (out[0], out[1..].to_vec())
}
