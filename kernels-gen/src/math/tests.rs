//! Accuracy and special values of the emitted functions: each is JIT-compiled into a loop over a
//! buffer, run over sampled f32 inputs in both widths, and compared with an f64 reference.

use super::{MathFn, emit};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F32, F32X4};
use cranelift_codegen::ir::{AbiParam, Function, InstBuilder, MemFlagsData};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

type Apply = unsafe extern "C" fn(input: *const f32, output: *mut f32, n: usize);

/// `output[i] = f(input[i])`, compiled; owns the module so that the code stays mapped.
struct Kernel {
    _module: JITModule,
    apply: Apply,
}

impl Kernel {
    /// With `vectors`, four lanes at a time with a scalar tail; without, scalar throughout.
    fn compile(f: MathFn, vectors: bool) -> Kernel {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").unwrap();
        let isa = cranelift_native::builder().unwrap().finish(settings::Flags::new(flags)).unwrap();
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let pointer = module.target_config().pointer_type();
        let mut context = module.make_context();
        context.func.signature.params.extend([AbiParam::new(pointer); 3]);
        let mut function_context = FunctionBuilderContext::new();
        let mut builder = FunctionBuilder::new(&mut context.func, &mut function_context);
        let memory = MemFlagsData::new().with_notrap();

        let entry = builder.create_block();
        builder.append_block_params_for_function_params(entry);
        let vector_head = builder.create_block();
        let vector_index = builder.append_block_param(vector_head, pointer);
        let vector_body = builder.create_block();
        let scalar_head = builder.create_block();
        let scalar_index = builder.append_block_param(scalar_head, pointer);
        let scalar_body = builder.create_block();
        let exit = builder.create_block();

        builder.switch_to_block(entry);
        let &[input, output, n] = builder.block_params(entry) else { unreachable!("three parameters") };
        let zero = builder.ins().iconst(pointer, 0);
        let one = builder.ins().iconst(pointer, 1);
        let four = builder.ins().iconst(pointer, 4);
        builder.ins().jump(if vectors { vector_head } else { scalar_head }, &[zero.into()]);

        builder.switch_to_block(vector_head);
        let vector_next = builder.ins().iadd(vector_index, four);
        let whole_vector_left = builder.ins().icmp(IntCC::UnsignedLessThanOrEqual, vector_next, n);
        builder.ins().brif(whole_vector_left, vector_body, &[], scalar_head, &[vector_index.into()]);

        builder.switch_to_block(vector_body);
        let offset = builder.ins().imul(vector_index, four);
        let source = builder.ins().iadd(input, offset);
        let x = builder.ins().load(F32X4, memory, source, 0);
        let y = emit(&mut builder, f, x);
        let destination = builder.ins().iadd(output, offset);
        builder.ins().store(memory, y, destination, 0);
        builder.ins().jump(vector_head, &[vector_next.into()]);

        builder.switch_to_block(scalar_head);
        let element_left = builder.ins().icmp(IntCC::UnsignedLessThan, scalar_index, n);
        builder.ins().brif(element_left, scalar_body, &[], exit, &[]);

        builder.switch_to_block(scalar_body);
        let offset = builder.ins().imul(scalar_index, four);
        let source = builder.ins().iadd(input, offset);
        let x = builder.ins().load(F32, memory, source, 0);
        let y = emit(&mut builder, f, x);
        let destination = builder.ins().iadd(output, offset);
        builder.ins().store(memory, y, destination, 0);
        let scalar_next = builder.ins().iadd(scalar_index, one);
        builder.ins().jump(scalar_head, &[scalar_next.into()]);

        builder.switch_to_block(exit);
        builder.ins().return_(&[]);
        builder.seal_all_blocks();
        builder.finalize(module.target_config());

        let id = module.declare_function("apply", Linkage::Local, &context.func.signature).unwrap();
        module.define_function(id, &mut context).unwrap();
        module.finalize_definitions().unwrap();
        let code = module.get_finalized_function(id);
        // SAFETY: the function was built above with exactly this signature (three pointer-sized
        // parameters, no results) and the default calling convention of the host.
        let apply = unsafe { std::mem::transmute::<*const u8, Apply>(code) };
        Kernel { _module: module, apply }
    }

    fn run(&self, input: &[f32], output: &mut [f32]) {
        assert_eq!(input.len(), output.len());
        // SAFETY: the kernel reads `input.len()` floats from `input` and writes as many to
        // `output`, both valid for that length; unaligned accesses are allowed (no `aligned` flag).
        unsafe { (self.apply)(input.as_ptr(), output.as_mut_ptr(), input.len()) }
    }
}

/// Stride through all finite f32 bit patterns of each sign.
const WHOLE_RANGE_STRIDE: usize = 61;
/// Stride through the patterns with `|x|` in `[2^-6, 20]`, where the functions are not saturated.
const DENSE_STRIDE: usize = 7;

/// The sampled inputs, in chunks: whole range, dense region, then edge cases.
fn for_each_input_chunk(mut visit: impl FnMut(&[f32])) {
    const CHUNK: usize = 1 << 20;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut flush = |chunk: &mut Vec<f32>, force: bool| {
        if chunk.len() >= CHUNK || (force && !chunk.is_empty()) {
            visit(chunk);
            chunk.clear();
        }
    };
    let dense_low = 2f32.powi(-6).to_bits();
    let dense_high = 20f32.to_bits();
    let patterns =
        (0..f32::INFINITY.to_bits()).step_by(WHOLE_RANGE_STRIDE).chain((dense_low..=dense_high).step_by(DENSE_STRIDE));
    for bits in patterns {
        let x = f32::from_bits(bits);
        chunk.extend([x, -x]);
        flush(&mut chunk, false);
    }
    chunk.extend(EDGE_CASES);
    flush(&mut chunk, true);
}

const EDGE_CASES: [f32; 22] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    f32::MIN_POSITIVE,
    -f32::MIN_POSITIVE,
    1.0e-45,
    -1.0e-45,
    f32::MAX,
    f32::MIN,
    1.0,
    -1.0,
    88.722_83,
    88.722_84,
    -87.336_55,
    // Either side of -150 ln 2, where e^x crosses half the smallest subnormal.
    -103.972_08,
    -103.972_09,
    3.92,
    -0.999_999_94,
    0.625,
    0.875,
];

/// Largest errors seen over the samples, and where.
#[derive(Debug, Default)]
struct Errors {
    ulp: f64,
    ulp_at: f32,
    absolute: f64,
    absolute_at: f32,
    /// Over `|x| < NEAR_ZERO` only: relative accuracy where tanh(x) ~ x and erf(x) ~ 2x/sqrt(pi).
    ulp_near_zero: f64,
    ulp_near_zero_at: f32,
}

const NEAR_ZERO: f32 = 1.0 / 64.0;

/// Distance between `r` and the next float away from zero (the subnormal spacing below 2^-126).
fn ulp_of(r: f32) -> f64 {
    let magnitude = r.abs().min(f32::MAX);
    if magnitude < f32::MIN_POSITIVE {
        return 2f64.powi(-149);
    }
    let exponent = (magnitude.to_bits() >> 23) as i32 - 127;
    2f64.powi(exponent - 23)
}

/// Error of `got` in ulps of the correctly rounded `want`; infinite where NaN-ness or infinity
/// disagree.
fn ulp_error(got: f32, want: f64) -> f64 {
    let rounded = want as f32;
    if got.to_bits() == rounded.to_bits() || (got.is_nan() && want.is_nan()) {
        return 0.0;
    }
    if got.is_nan() || want.is_nan() || got.is_infinite() {
        return f64::INFINITY;
    }
    let want = want.clamp(f64::from(f32::MIN), f64::from(f32::MAX));
    (f64::from(got) - want).abs() / ulp_of(rounded)
}

fn absolute_error(got: f32, want: f64) -> f64 {
    if got.to_bits() == (want as f32).to_bits() || (got.is_nan() && want.is_nan()) {
        return 0.0;
    }
    if got.is_nan() || want.is_nan() {
        return f64::INFINITY;
    }
    (f64::from(got) - want).abs()
}

/// Runs `f` in both widths over the samples, checks that they agree bitwise, and measures the
/// error against `reference`.
fn measure(f: MathFn, reference: impl Fn(f64) -> f64) -> Errors {
    let vector_kernel = Kernel::compile(f, true);
    let scalar_kernel = Kernel::compile(f, false);
    let mut errors = Errors::default();
    let mut vector_output = Vec::new();
    let mut scalar_output = Vec::new();
    for_each_input_chunk(|input| {
        vector_output.resize(input.len(), 0.0);
        scalar_output.resize(input.len(), 0.0);
        vector_kernel.run(input, &mut vector_output);
        scalar_kernel.run(input, &mut scalar_output);
        for ((&x, &got), &scalar) in input.iter().zip(&vector_output).zip(&scalar_output) {
            assert_eq!(
                got.to_bits(),
                scalar.to_bits(),
                "{f:?}({x:e}): the f32x4 path gives {got:e} but the scalar path gives {scalar:e}"
            );
            let want = reference(f64::from(x));
            let ulp = ulp_error(got, want);
            if ulp > errors.ulp {
                errors.ulp = ulp;
                errors.ulp_at = x;
            }
            if x.abs() < NEAR_ZERO && ulp > errors.ulp_near_zero {
                errors.ulp_near_zero = ulp;
                errors.ulp_near_zero_at = x;
            }
            let absolute = absolute_error(got, want);
            if absolute > errors.absolute {
                errors.absolute = absolute;
                errors.absolute_at = x;
            }
        }
    });
    errors
}

fn assert_within_ulp(f: MathFn, reference: impl Fn(f64) -> f64, bound: f64) {
    let errors = measure(f, reference);
    eprintln!("{f:?}: max error {:.3} ulp at x = {:e}", errors.ulp, errors.ulp_at);
    assert!(errors.ulp < bound, "{f:?}: {} ulp at x = {:e}, expected under {bound}", errors.ulp, errors.ulp_at);
}

fn assert_within_absolute(f: MathFn, reference: impl Fn(f64) -> f64, bound: f64, ulp_bound: f64) {
    let errors = measure(f, reference);
    eprintln!(
        "{f:?}: max error {:.3e} absolute at x = {:e}; {:.3} ulp at x = {:e}; {:.3} ulp for |x| < {NEAR_ZERO} (at {:e})",
        errors.absolute, errors.absolute_at, errors.ulp, errors.ulp_at, errors.ulp_near_zero, errors.ulp_near_zero_at
    );
    assert!(
        errors.absolute < bound,
        "{f:?}: {:e} absolute at x = {:e}, expected under {bound:e}",
        errors.absolute,
        errors.absolute_at
    );
    assert!(errors.ulp < ulp_bound, "{f:?}: {} ulp at x = {:e}, expected under {ulp_bound}", errors.ulp, errors.ulp_at);
}

fn sigmoid_reference(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn exp_is_within_2_ulp() {
    assert_within_ulp(MathFn::Exp, f64::exp, 2.0);
}

#[test]
fn log_is_within_2_ulp() {
    assert_within_ulp(MathFn::Log, f64::ln, 2.0);
}

#[test]
fn log1p_is_within_2_ulp() {
    assert_within_ulp(MathFn::Log1p, f64::ln_1p, 2.0);
}

#[test]
fn expm1_is_within_2_ulp() {
    assert_within_ulp(MathFn::Expm1, f64::exp_m1, 2.0);
}

/// Near 1 the rational form's f32 evaluation costs up to ~5 ulp (3e-7 absolute); near 0,
/// where tanh(x) ~ x, relative accuracy stays within 3 ulp.
#[test]
fn tanh_is_within_5e_7_absolute_6_ulp_and_3_ulp_near_zero() {
    assert_within_absolute(MathFn::Tanh, f64::tanh, 5e-7, 6.0);
    let errors = measure(MathFn::Tanh, f64::tanh);
    assert!(errors.ulp_near_zero < 3.0, "tanh: {} ulp at x = {:e}", errors.ulp_near_zero, errors.ulp_near_zero_at);
}

/// The ulp bound also covers relative accuracy near 0, where erf(x) ~ 2x / sqrt(pi).
#[test]
fn erf_is_within_5e_7_absolute_and_3_ulp() {
    assert_within_absolute(MathFn::Erf, libm::erf, 5e-7, 3.0);
}

/// The ulp bound covers large negative x, where the result is a tiny probability.
#[test]
fn sigmoid_is_within_5e_7_absolute_and_3_ulp() {
    assert_within_absolute(MathFn::Sigmoid, sigmoid_reference, 5e-7, 3.0);
}

#[test]
fn special_values_are_ieee() {
    use MathFn::*;
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let cases: &[(MathFn, f32, f32)] = &[
        (Exp, nan, nan),
        (Exp, inf, inf),
        (Exp, -inf, 0.0),
        (Exp, 88.722_84, inf),
        (Exp, 1000.0, inf),
        (Exp, -103.972_08, 1.0e-45),
        (Exp, -103.972_09, 0.0),
        (Exp, -1000.0, 0.0),
        (Exp, 0.0, 1.0),
        (Exp, -0.0, 1.0),
        (Exp, -149.0 * std::f32::consts::LN_2, 1.0e-45),
        (Log, nan, nan),
        (Log, 0.0, -inf),
        (Log, -0.0, -inf),
        (Log, -1.0e-45, nan),
        (Log, -inf, nan),
        (Log, inf, inf),
        (Log, 1.0, 0.0),
        (Log, 1.0e-45, -103.278_93),
        (Log1p, nan, nan),
        (Log1p, -1.0, -inf),
        (Log1p, -1.000_000_1, nan),
        (Log1p, -inf, nan),
        (Log1p, inf, inf),
        (Log1p, 0.0, 0.0),
        (Log1p, -0.0, -0.0),
        (Log1p, 1.0e-45, 1.0e-45),
        (Expm1, nan, nan),
        (Expm1, -inf, -1.0),
        (Expm1, inf, inf),
        (Expm1, 88.722_84, inf),
        (Expm1, 0.0, 0.0),
        (Expm1, -0.0, -0.0),
        (Expm1, -1.0e-45, -1.0e-45),
        (Tanh, nan, nan),
        (Tanh, inf, 1.0),
        (Tanh, -inf, -1.0),
        (Tanh, 0.0, 0.0),
        (Tanh, -0.0, -0.0),
        (Tanh, -1.0e-45, -1.0e-45),
        (Erf, nan, nan),
        (Erf, inf, 1.0),
        (Erf, -inf, -1.0),
        (Erf, 0.0, 0.0),
        (Erf, -0.0, -0.0),
        (Sigmoid, nan, nan),
        (Sigmoid, inf, 1.0),
        (Sigmoid, -inf, 0.0),
        (Sigmoid, 0.0, 0.5),
        (Sigmoid, -0.0, 0.5),
    ];
    let functions = [Exp, Log, Log1p, Expm1, Tanh, Erf, Sigmoid];
    let kernels: Vec<_> = functions.iter().map(|&f| (f, Kernel::compile(f, true), Kernel::compile(f, false))).collect();
    for &(f, x, want) in cases {
        let (_, vector_kernel, scalar_kernel) = kernels.iter().find(|(g, _, _)| *g == f).unwrap();
        // Five copies: four go through the f32x4 body, the last through the scalar tail.
        let input = [x; 5];
        let mut output = [0.0; 5];
        vector_kernel.run(&input, &mut output);
        let mut scalar_output = [0.0; 5];
        scalar_kernel.run(&input, &mut scalar_output);
        for got in output.into_iter().chain(scalar_output) {
            let matches = if want.is_nan() { got.is_nan() } else { got.to_bits() == want.to_bits() };
            assert!(matches, "{f:?}({x:e}) = {got:e}, expected {want:e}");
        }
    }
}

#[test]
#[should_panic(expected = "math functions take f32 or f32x4 values")]
fn emit_rejects_other_types() {
    let mut function = Function::new();
    let mut function_context = FunctionBuilderContext::new();
    let mut builder = FunctionBuilder::new(&mut function, &mut function_context);
    let block = builder.create_block();
    builder.switch_to_block(block);
    let x = builder.ins().f64const(1.0);
    emit(&mut builder, MathFn::Exp, x);
}

/// The wide routines (the Rust form, vectorized by rustc) against the emitted code in both
/// widths, bit for bit, for every function over the whole sample set: a kernel may use either.
#[test]
fn wide_routines_match_the_emitted_code_bit_for_bit() {
    for f in MathFn::ALL {
        let (vector, scalar) = (Kernel::compile(f, true), Kernel::compile(f, false));
        let mut checked = 0usize;
        for_each_input_chunk(|inputs| {
            // An odd length leaves the routine a remainder to handle too.
            let inputs = &inputs[..inputs.len() - (1 - inputs.len() % 2)];
            let mut wide = inputs.to_vec();
            super::wide::run(f, &mut wide);
            for emitted in [&vector, &scalar] {
                let mut want = vec![0.0; inputs.len()];
                emitted.run(inputs, &mut want);
                for ((&x, &got), &want) in inputs.iter().zip(&wide).zip(&want) {
                    let same = got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan());
                    assert!(
                        same,
                        "{f:?}({x:e}): wide {got:e} ({:#x}) vs emitted {want:e} ({:#x})",
                        got.to_bits(),
                        want.to_bits()
                    );
                }
            }
            checked += inputs.len();
        });
        assert!(checked > 1_000_000, "{f:?}: {checked} inputs");
    }
}

/// The Rust form's comparisons against Cranelift's `fcmp`, for every condition over pairs
/// that include NaN, infinities and signed zeros.
#[test]
fn rust_form_comparisons_match_fcmp() {
    use super::lanes::Arith;
    use super::scalar::Scalar;
    use cranelift_codegen::ir::condcodes::FloatCC;
    use cranelift_codegen::ir::types::I8;
    type Compare = unsafe extern "C" fn(a: f32, b: f32) -> i8;
    let values = [f32::NAN, f32::NEG_INFINITY, -1.5, -0.0, 0.0, 1.5, 2.0, f32::INFINITY];
    for condition in FloatCC::all().iter().copied() {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").unwrap();
        let isa = cranelift_native::builder().unwrap().finish(settings::Flags::new(flags)).unwrap();
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let mut context = module.make_context();
        context.func.signature.params.extend([AbiParam::new(F32); 2]);
        context.func.signature.returns.push(AbiParam::new(I8));
        let mut function_context = FunctionBuilderContext::new();
        let mut builder = FunctionBuilder::new(&mut context.func, &mut function_context);
        let entry = builder.create_block();
        builder.append_block_params_for_function_params(entry);
        builder.switch_to_block(entry);
        let &[a, b] = builder.block_params(entry) else { unreachable!("two parameters") };
        let result = builder.ins().fcmp(condition, a, b);
        builder.ins().return_(&[result]);
        builder.seal_all_blocks();
        builder.finalize(module.target_config());
        let id = module.declare_function("compare", Linkage::Local, &context.func.signature).unwrap();
        module.define_function(id, &mut context).unwrap();
        module.finalize_definitions().unwrap();
        // SAFETY: built above with this signature and the host's default calling convention.
        let compare = unsafe { std::mem::transmute::<*const u8, Compare>(module.get_finalized_function(id)) };
        for &a in &values {
            for &b in &values {
                // SAFETY: a plain function of two floats.
                let want = unsafe { compare(a, b) } != 0;
                assert_eq!(Scalar.compare(condition, a, b), want, "{condition} on {a} and {b}");
            }
        }
    }
}
