//! A kernel as an MLIR module: one `gpu.func` whose threads run the kernel's outer points as
//! [`Launch`] maps them.
//!
//! The same kernel can also be written for the host ([`Form::Host`]): a `func.func` that runs
//! every block and thread of the launch in turn, a stage at a time (which is what the
//! barriers between stages guarantee), with the tree in a stack array combined in the same
//! order. It computes what the GPU computes, bit for bit up to multiply-add contraction, and
//! tests run it where there is no GPU.

mod ops;
mod writer;

use super::{Launch, Mapping, Target};
use ignis_ir::DType;
use ignis_ir::kernel::{Combine, Expr, ExprId, Index, Kernel, Stage, StageKind};
use std::collections::HashMap;
use std::fmt::Write;
use writer::{V, Writer};

/// Which function the module holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// A `gpu.func` kernel in a `gpu.module`.
    Device,
    /// A host `func.func` that runs the whole launch in sequence.
    Host,
}

/// The MLIR module of `kernel`, its function named `name`.
pub(crate) fn write(kernel: &Kernel, name: &str, target: &Target, launch: &Launch, form: Form) -> String {
    let lengths = buffer_lengths(kernel);
    let largest = lengths.iter().copied().chain([launch.blocks as usize * launch.threads as usize]).max().unwrap_or(0);
    let index_type = if largest < i32::MAX as usize { "i32" } else { "i64" };
    let mut body = Body {
        kernel,
        target,
        launch,
        lengths: &lengths,
        index_type,
        w: Writer::default(),
        scopes: vec![HashMap::new()],
        stage_values: vec![None; kernel.stages.len()],
        thread: None,
        point: None,
        host: form == Form::Host,
    };
    body.function();
    if form == Form::Host {
        let text = body.w.finish(2);
        let params: Vec<String> =
            (0..kernel.buffers.len()).map(|b| format!("%b{b}: {}", memref_type(kernel, b, &lengths))).collect();
        let mut out = String::new();
        writeln!(out, "module {{").unwrap();
        writeln!(out, "  func.func @{name}({}) {{", params.join(", ")).unwrap();
        out.push_str(&text);
        writeln!(out, "    func.return").unwrap();
        writeln!(out, "  }}").unwrap();
        writeln!(out, "}}").unwrap();
        return out;
    }
    let text = body.w.finish(3);

    let params: Vec<String> =
        (0..kernel.buffers.len()).map(|b| format!("%b{b}: {}", memref_type(kernel, b, &lengths))).collect();
    let workgroup = match launch.mapping {
        Mapping::BlockPerPoint { threads } => format!(" workgroup(%tree: {})", tree_type(threads, false)),
        Mapping::ThreadPerPoint => String::new(),
    };
    let mut out = String::new();
    writeln!(out, "module attributes {{gpu.container_module}} {{").unwrap();
    writeln!(out, "  gpu.module @ignis {{").unwrap();
    writeln!(
        out,
        "    gpu.func @{name}({}){workgroup} kernel attributes {{known_block_size = array<i32: {}, 1, 1>}} {{",
        params.join(", "),
        launch.threads
    )
    .unwrap();
    out.push_str(&text);
    writeln!(out, "      gpu.return").unwrap();
    writeln!(out, "    }}").unwrap();
    writeln!(out, "  }}").unwrap();
    writeln!(out, "}}").unwrap();
    out
}

/// The element type of a buffer in memory.
fn element_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F64 => "f64",
        DType::Bool => "i8",
        other => unreachable!("{other} buffers are refused by check::supported"),
    }
}

fn memref_type(kernel: &Kernel, buffer: usize, lengths: &[usize]) -> String {
    format!("memref<{}x{}>", lengths[buffer], element_type(kernel.buffers[buffer].dtype))
}

fn tree_type(threads: u32, host: bool) -> String {
    if host {
        format!("memref<{threads}xf32>")
    } else {
        format!("memref<{threads}xf32, #gpu.address_space<workgroup>>")
    }
}

/// Each buffer's length in elements: one past the last element any access reaches (at least
/// one, as a memref type wants).
pub(crate) fn buffer_lengths(kernel: &Kernel) -> Vec<usize> {
    let mut lengths = vec![1usize; kernel.buffers.len()];
    let mut reach = |buffer: usize, index: &Index, inner: &[usize]| {
        let extents = kernel.outer.iter().zip(&index.outer).chain(inner.iter().zip(&index.inner));
        let mut last = index.offset;
        for (&extent, &stride) in extents {
            if extent == 0 {
                return;
            }
            last += (extent as i64 - 1) * stride;
        }
        lengths[buffer] = lengths[buffer].max(last as usize + 1);
    };
    for stage in &kernel.stages {
        for id in kernel.reachable(&stage.roots()) {
            if let Expr::Load { buffer, index } = kernel.expr(id) {
                reach(*buffer, index, &stage.inner);
            }
        }
        if let StageKind::Store(stores) = &stage.kind {
            for s in stores {
                reach(s.buffer, &s.index, &stage.inner);
            }
        }
    }
    lengths
}

/// What the memo of a region holds.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Expr(ExprId),
    /// An access's offset plus its outer terms.
    OuterPart(i64, Vec<i64>),
    OuterCoordinate(usize),
    InnerCoordinate(usize),
}

struct Body<'a> {
    kernel: &'a Kernel,
    target: &'a Target,
    launch: &'a Launch,
    lengths: &'a [usize],
    /// `i32` or `i64`: the type of index arithmetic, wide enough for every buffer.
    index_type: &'static str,
    w: Writer,
    /// Values known in each open region, innermost last: a value defined in a region is
    /// visible in the regions inside it and nowhere after it closes.
    scopes: Vec<HashMap<Key, V>>,
    stage_values: Vec<Option<V>>,
    /// The thread's index in its block (index-typed), in blocks that share a point.
    thread: Option<V>,
    /// The flattened outer point the thread runs.
    point: Option<V>,
    /// Written for the host: loops over the launch's blocks and threads.
    host: bool,
}

/// The current inner loop: its induction variable and the stage's extents.
struct Inner<'s> {
    flat: V,
    extents: &'s [usize],
}

impl Body<'_> {
    fn lookup(&self, key: &Key) -> Option<V> {
        self.scopes.iter().rev().find_map(|s| s.get(key).copied())
    }

    fn remember(&mut self, key: Key, v: V) -> V {
        self.scopes.last_mut().unwrap().insert(key, v);
        v
    }

    fn index_constant(&mut self, value: i64) -> V {
        self.w.int(value, self.index_type)
    }

    fn function(&mut self) {
        if self.host {
            return self.host_function();
        }
        let ty = self.index_type;
        let block = self.w.op("gpu.block_id x");
        let thread = self.w.op("gpu.thread_id x");
        let block_number = self.w.op(format_args!("arith.index_castui {block} : index to {ty}"));
        let points = self.kernel.outer_points() as i64;
        match self.launch.mapping {
            Mapping::ThreadPerPoint => {
                let thread_number = self.w.op(format_args!("arith.index_castui {thread} : index to {ty}"));
                let threads = self.index_constant(i64::from(self.launch.threads));
                let first = self.w.op(format_args!("arith.muli {block_number}, {threads} : {ty}"));
                let point = self.w.op(format_args!("arith.addi {first}, {thread_number} : {ty}"));
                self.point = Some(point);
                let covered = i64::from(self.launch.blocks) * i64::from(self.launch.threads);
                if covered != points {
                    let limit = self.index_constant(points);
                    let inside = self.w.op(format_args!("arith.cmpi ult, {point}, {limit} : {ty}"));
                    self.w.open(format_args!("scf.if {inside} {{"));
                    self.stages();
                    self.w.close("}");
                } else {
                    self.stages();
                }
            }
            Mapping::BlockPerPoint { .. } => {
                self.thread = Some(thread);
                self.point = Some(block_number);
                self.stages();
            }
        }
    }

    /// Every outer point in turn; in a block per point, its threads' parts of each stage in
    /// turn (see [`Self::per_thread`]).
    fn host_function(&mut self) {
        let ty = self.index_type;
        if let Mapping::BlockPerPoint { threads } = self.launch.mapping {
            self.w.line(format_args!("%tree = memref.alloca() : {}", tree_type(threads, true)));
        }
        let start = self.index_constant(0);
        let end = self.index_constant(self.kernel.outer_points() as i64);
        let step = self.index_constant(1);
        let point = self.w.fresh();
        self.w.open(format_args!("scf.for {point} = {start} to {end} step {step} : {ty} {{"));
        self.point = Some(point);
        self.stages();
        self.w.close("}");
    }

    /// Runs `part` as every thread of the block: on the GPU each thread runs it once; on the
    /// host a loop runs it for each thread number.
    fn per_thread(&mut self, part: impl FnOnce(&mut Self)) {
        match (self.host, self.launch.mapping) {
            (true, Mapping::BlockPerPoint { threads }) => {
                let start = self.w.int(0, "index");
                let end = self.w.int(i64::from(threads), "index");
                let step = self.w.int(1, "index");
                let thread = self.w.fresh();
                self.w.open(format_args!("scf.for {thread} = {start} to {end} step {step} {{"));
                self.thread = Some(thread);
                self.scopes.push(HashMap::new());
                part(self);
                self.scopes.pop();
                self.thread = None;
                self.w.close("}");
            }
            _ => part(self),
        }
    }

    fn stages(&mut self) {
        self.scopes.push(HashMap::new());
        for (s, stage) in self.kernel.stages.iter().enumerate() {
            self.stage(s, stage);
        }
        self.scopes.pop();
    }

    fn stage(&mut self, s: usize, stage: &Stage) {
        let points: usize = stage.inner.iter().product();
        match &stage.kind {
            StageKind::Reduce { combine, value } => {
                let identity = self.w.f32(combine.identity());
                let result = if points == 0 {
                    identity
                } else if stage.inner.is_empty() {
                    let v = self.expr(*value, None);
                    ops::combine(&mut self.w, *combine, identity, v)
                } else {
                    self.hoist(stage);
                    match self.launch.mapping {
                        Mapping::ThreadPerPoint => self.reduce_loop(stage, *combine, *value, identity),
                        Mapping::BlockPerPoint { threads } => {
                            let memory = tree_type(threads, self.host);
                            self.per_thread(|b| {
                                let partial = b.reduce_loop(stage, *combine, *value, identity);
                                let thread = b.thread.expect("a thread of the block");
                                b.w.line(format_args!("memref.store {partial}, %tree[{thread}] : {memory}"));
                            });
                            self.tree(*combine, threads)
                        }
                    }
                };
                self.stage_values[s] = Some(result);
            }
            StageKind::Store(_) => {
                if points == 0 {
                    return;
                }
                if !stage.inner.is_empty() {
                    self.hoist(stage);
                    self.per_thread(|b| b.store_loop(stage));
                } else if let (Some(thread), false) = (self.thread, self.host) {
                    // One thread of the block stores what all of them computed.
                    let zero = self.w.int(0, "index");
                    let first = self.w.op(format_args!("arith.cmpi eq, {thread}, {zero} : index"));
                    self.w.open(format_args!("scf.if {first} {{"));
                    self.scopes.push(HashMap::new());
                    self.stores(stage, None);
                    self.scopes.pop();
                    self.w.close("}");
                } else {
                    self.stores(stage, None);
                }
            }
        }
    }

    /// Computes before a stage's loop what does not change inside it: the expressions that
    /// do not move with the inner loops, and the outer part of every address that does.
    fn hoist(&mut self, stage: &Stage) {
        for id in self.kernel.reachable(&stage.roots()) {
            match self.kernel.expr(id) {
                Expr::Load { index, .. } if index.varies_inside() => {
                    self.outer_part(index);
                }
                _ if !self.kernel.varies_inside(id) => {
                    self.expr(id, None);
                }
                _ => {}
            }
        }
        if let StageKind::Store(stores) = &stage.kind {
            for s in stores {
                self.outer_part(&s.index);
            }
        }
    }

    /// Opens `scf.for` over this thread's inner points of `stage`: all of them one by one, or
    /// every `threads`-th from the thread's own in a block that shares the point.
    fn open_inner_loop(&mut self, stage: &Stage, carried: Option<(V, V)>) -> (V, Option<V>) {
        let ty = self.index_type;
        let points: usize = stage.inner.iter().product();
        let end = self.index_constant(points as i64);
        let (start, step) = match (self.launch.mapping, self.thread) {
            (Mapping::BlockPerPoint { threads }, Some(thread)) => {
                // The thread's own point first, then every `threads`-th.
                let start = self.w.op(format_args!("arith.index_castui {thread} : index to {ty}"));
                (start, self.index_constant(i64::from(threads)))
            }
            _ => (self.index_constant(0), self.index_constant(1)),
        };
        let flat = self.w.fresh();
        match carried {
            Some((result, initial)) => {
                let acc = self.w.fresh();
                self.w.open(format_args!(
                    "{result} = scf.for {flat} = {start} to {end} step {step} iter_args({acc} = {initial}) -> (f32) : {ty} {{"
                ));
                self.scopes.push(HashMap::new());
                (flat, Some(acc))
            }
            None => {
                self.w.open(format_args!("scf.for {flat} = {start} to {end} step {step} : {ty} {{"));
                self.scopes.push(HashMap::new());
                (flat, None)
            }
        }
    }

    fn reduce_loop(&mut self, stage: &Stage, combine: Combine, value: ExprId, identity: V) -> V {
        let result = self.w.fresh();
        let (flat, acc) = self.open_inner_loop(stage, Some((result, identity)));
        let inner = Inner { flat, extents: &stage.inner };
        let v = self.expr(value, Some(&inner));
        let next = ops::combine(&mut self.w, combine, acc.unwrap(), v);
        self.w.line(format_args!("scf.yield {next} : f32"));
        self.scopes.pop();
        self.w.close("}");
        result
    }

    fn store_loop(&mut self, stage: &Stage) {
        let (flat, _) = self.open_inner_loop(stage, None);
        let inner = Inner { flat, extents: &stage.inner };
        self.stores(stage, Some(&inner));
        self.scopes.pop();
        self.w.close("}");
    }

    /// Combines the partial values the threads stored in the tree: each step halves the
    /// threads that still combine, until the first holds the result, which all then read.
    fn tree(&mut self, combine: Combine, threads: u32) -> V {
        let memory = tree_type(threads, self.host);
        self.barrier();
        let mut half = threads / 2;
        while half >= 1 {
            let offset = self.w.int(i64::from(half), "index");
            match self.thread {
                Some(thread) => {
                    let active = self.w.op(format_args!("arith.cmpi ult, {thread}, {offset} : index"));
                    self.w.open(format_args!("scf.if {active} {{"));
                    self.combine_pair(combine, thread, offset, &memory);
                    self.w.close("}");
                }
                None => {
                    // On the host the active threads run in turn.
                    let start = self.w.int(0, "index");
                    let step = self.w.int(1, "index");
                    let thread = self.w.fresh();
                    self.w.open(format_args!("scf.for {thread} = {start} to {offset} step {step} {{"));
                    self.combine_pair(combine, thread, offset, &memory);
                    self.w.close("}");
                }
            }
            self.barrier();
            half /= 2;
        }
        let zero = self.w.int(0, "index");
        let result = self.w.op(format_args!("memref.load %tree[{zero}] : {memory}"));
        // The next tree must not overwrite the first slot before every thread has read it.
        self.barrier();
        result
    }

    fn combine_pair(&mut self, combine: Combine, thread: V, offset: V, memory: &str) {
        let partner = self.w.op(format_args!("arith.addi {thread}, {offset} : index"));
        let mine = self.w.op(format_args!("memref.load %tree[{thread}] : {memory}"));
        let theirs = self.w.op(format_args!("memref.load %tree[{partner}] : {memory}"));
        let both = ops::combine(&mut self.w, combine, mine, theirs);
        self.w.line(format_args!("memref.store {both}, %tree[{thread}] : {memory}"));
    }

    /// Waits for the block's threads (the host runs them in turn, so needs none).
    fn barrier(&mut self) {
        if !self.host {
            self.w.line("gpu.barrier");
        }
    }

    fn stores(&mut self, stage: &Stage, inner: Option<&Inner>) {
        let StageKind::Store(stores) = &stage.kind else { unreachable!("stores of a reduction") };
        for store in stores {
            let value = self.expr(store.value, inner);
            let address = self.address(&store.index, inner);
            let dtype = self.kernel.buffers[store.buffer].dtype;
            let memory = memref_type(self.kernel, store.buffer, self.lengths);
            let stored = match dtype {
                DType::F32 => value,
                DType::F16 | DType::BF16 => {
                    let ty = element_type(dtype);
                    self.w.op(format_args!("arith.truncf {value} : f32 to {ty}"))
                }
                DType::Bool => self.w.op(format_args!("arith.extui {value} : i1 to i8")),
                other => unreachable!("store of {other}"),
            };
            self.w.line(format_args!("memref.store {stored}, %b{}[{address}] : {memory}", store.buffer));
        }
    }

    /// The coordinate of the thread's outer point along outer dim `dim`.
    fn outer_coordinate(&mut self, dim: usize) -> V {
        if let Some(v) = self.lookup(&Key::OuterCoordinate(dim)) {
            return v;
        }
        let ty = self.index_type;
        let point = self.point.expect("the outer point is known");
        let v = self.coordinate(point, &self.kernel.outer.clone(), dim, ty);
        self.remember(Key::OuterCoordinate(dim), v)
    }

    /// Coordinate `dim` of a flattened position in a space of `extents` (row-major).
    fn coordinate(&mut self, flat: V, extents: &[usize], dim: usize, ty: &'static str) -> V {
        let below: usize = extents[dim + 1..].iter().product();
        let mut v = flat;
        if below != 1 {
            let divisor = self.w.int(below as i64, ty);
            v = self.w.op(format_args!("arith.divui {v}, {divisor} : {ty}"));
        }
        if dim != 0 {
            let extent = self.w.int(extents[dim] as i64, ty);
            v = self.w.op(format_args!("arith.remui {v}, {extent} : {ty}"));
        }
        v
    }

    fn inner_coordinate(&mut self, inner: &Inner, dim: usize) -> V {
        if let Some(v) = self.lookup(&Key::InnerCoordinate(dim)) {
            return v;
        }
        let v = self.coordinate(inner.flat, inner.extents, dim, self.index_type);
        self.remember(Key::InnerCoordinate(dim), v)
    }

    /// `offset + sum(outer coordinate * stride)`.
    fn outer_part(&mut self, index: &Index) -> V {
        let key = Key::OuterPart(index.offset, index.outer.clone());
        if let Some(v) = self.lookup(&key) {
            return v;
        }
        let ty = self.index_type;
        let mut sum = None;
        for (dim, &stride) in index.outer.iter().enumerate() {
            if stride == 0 {
                continue;
            }
            let coordinate = self.outer_coordinate(dim);
            let term = self.scaled(coordinate, stride);
            sum = Some(match sum {
                None => term,
                Some(s) => self.w.op(format_args!("arith.addi {s}, {term} : {ty}")),
            });
        }
        let v = match sum {
            None => self.index_constant(index.offset),
            Some(s) if index.offset == 0 => s,
            Some(s) => {
                let offset = self.index_constant(index.offset);
                self.w.op(format_args!("arith.addi {s}, {offset} : {ty}"))
            }
        };
        self.remember(key, v)
    }

    fn scaled(&mut self, v: V, stride: i64) -> V {
        if stride == 1 {
            return v;
        }
        let ty = self.index_type;
        let stride = self.index_constant(stride);
        self.w.op(format_args!("arith.muli {v}, {stride} : {ty}"))
    }

    /// The element an access reaches at the current point, as an `index`.
    fn address(&mut self, index: &Index, inner: Option<&Inner>) -> V {
        let ty = self.index_type;
        let mut sum = self.outer_part(index);
        if let Some(inner) = inner {
            for (dim, &stride) in index.inner.iter().enumerate() {
                if stride == 0 {
                    continue;
                }
                let coordinate = self.inner_coordinate(inner, dim);
                let term = self.scaled(coordinate, stride);
                sum = self.w.op(format_args!("arith.addi {sum}, {term} : {ty}"));
            }
        }
        self.w.op(format_args!("arith.index_castui {sum} : {ty} to index"))
    }

    fn load(&mut self, buffer: usize, index: &Index, inner: Option<&Inner>) -> V {
        let address = self.address(index, inner);
        let dtype = self.kernel.buffers[buffer].dtype;
        let memory = memref_type(self.kernel, buffer, self.lengths);
        let element = self.w.op(format_args!("memref.load %b{buffer}[{address}] : {memory}"));
        match dtype {
            DType::F32 => element,
            DType::F16 | DType::BF16 => {
                let ty = element_type(dtype);
                self.w.op(format_args!("arith.extf {element} : {ty} to f32"))
            }
            DType::F64 => self.w.op(format_args!("arith.truncf {element} : f64 to f32")),
            DType::Bool => {
                let zero = self.w.int(0, "i8");
                self.w.op(format_args!("arith.cmpi ne, {element}, {zero} : i8"))
            }
            other => unreachable!("load of {other}"),
        }
    }

    fn expr(&mut self, id: ExprId, inner: Option<&Inner>) -> V {
        if let Some(v) = self.lookup(&Key::Expr(id)) {
            return v;
        }
        let v = match self.kernel.expr(id).clone() {
            Expr::Load { buffer, index } => self.load(buffer, &index, inner),
            Expr::Const(c) => self.w.f32(c),
            Expr::Flag(b) => self.w.flag(b),
            Expr::Unary(op, a) => {
                let a = self.expr(a, inner);
                ops::unary(&mut self.w, self.target, self.host, &op, a)
            }
            Expr::Binary(op, a, b) => {
                let a = self.expr(a, inner);
                let b = self.expr(b, inner);
                ops::binary(&mut self.w, &op, a, b)
            }
            Expr::Fma(a, b, c) => {
                let (a, b, c) = (self.expr(a, inner), self.expr(b, inner), self.expr(c, inner));
                crate::math::Arith::fma(&mut self.w, a, b, c)
            }
            Expr::Select(c, a, b) => {
                let ty = if self.kernel.expr_dtype(a) == DType::Bool { "i1" } else { "f32" };
                let (c, a, b) = (self.expr(c, inner), self.expr(a, inner), self.expr(b, inner));
                ops::select_typed(&mut self.w, ty, c, a, b)
            }
            Expr::BoolToFloat(a) => {
                let a = self.expr(a, inner);
                ops::bool_to_float(&mut self.w, a)
            }
            Expr::Stage(s) => self.stage_values[s].expect("a stage's result is read after the stage"),
            Expr::Count(s) => {
                let count: usize = self.kernel.stages[s].inner.iter().product();
                self.w.f32(count as f32)
            }
        };
        // Values that do not move with the inner loops are remembered where they were made;
        // the rest only inside this loop.
        self.remember(Key::Expr(id), v)
    }
}
