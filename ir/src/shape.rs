//! Dimensions (constant or symbolic) and the shape rules every op obeys.
//!
//! The rules are generic over the dimension type so that eager execution (plain `usize`
//! dims) and the graph IR (`Dim`, possibly symbolic) share one implementation.

use smallvec::SmallVec;
use std::fmt;

/// A named symbolic size (`s0`, `s1`, ...) of a dynamic-shape graph.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(pub u32);

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// One dimension of an IR shape.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Const(usize),
    Sym(Symbol),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Dim::Const(n) => write!(f, "{n}"),
            Dim::Sym(s) => write!(f, "{s}"),
        }
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Const(n)
    }
}

/// Shapes small enough to live inline, so that eager ops on small tensors do not allocate.
pub type Dims = SmallVec<[usize; 6]>;

/// The shape of an IR value.
pub type Shape = SmallVec<[Dim; 6]>;

/// What the shape rules need of a dimension: equality, and its value when it is known.
pub trait DimValue: Copy + PartialEq + fmt::Display {
    fn from_usize(n: usize) -> Self;
    fn known(self) -> Option<usize>;
}

impl DimValue for usize {
    fn from_usize(n: usize) -> Self {
        n
    }
    fn known(self) -> Option<usize> {
        Some(self)
    }
}

impl DimValue for Dim {
    fn from_usize(n: usize) -> Self {
        Dim::Const(n)
    }
    fn known(self) -> Option<usize> {
        match self {
            Dim::Const(n) => Some(n),
            Dim::Sym(_) => None,
        }
    }
}

/// A violated shape rule; the caller adds the op's name in front.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

pub type ShapeResult<T> = Result<T, ShapeError>;

/// `[4, 1024]`, the spelling of shapes in messages and in the text form.
pub fn format_shape<D: DimValue>(shape: &[D]) -> String {
    let mut s = String::from("[");
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&d.to_string());
    }
    s.push(']');
    s
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Resolves a possibly negative axis against `rank` (`-1` is the last axis).
pub fn normalize_axis(axis: isize, rank: usize) -> ShapeResult<usize> {
    // A rank-0 tensor accepts dim 0 and -1, as in PyTorch.
    let r = rank.max(1) as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(ShapeError(format!(
            "dim {axis} is out of range for a tensor of rank {rank} (expected a dim in [{}, {}])",
            -r,
            r - 1
        )));
    }
    Ok(a as usize)
}

/// Resolves a list of axes, rejecting repeats; an empty list means every axis.
pub fn normalize_axes(axes: &[isize], rank: usize) -> ShapeResult<SmallVec<[usize; 6]>> {
    if axes.is_empty() {
        return Ok((0..rank).collect());
    }
    let mut out = SmallVec::new();
    for &a in axes {
        let n = normalize_axis(a, rank)?;
        if out.contains(&n) {
            return Err(ShapeError(format!("dim {n} appears more than once in {axes:?}")));
        }
        out.push(n);
    }
    out.sort_unstable();
    Ok(out)
}

/// NumPy broadcasting: align trailing dims; each pair must be equal or contain a 1.
pub fn broadcast<D: DimValue>(a: &[D], b: &[D]) -> ShapeResult<SmallVec<[D; 6]>> {
    let rank = a.len().max(b.len());
    let mut out = SmallVec::with_capacity(rank);
    for i in 0..rank {
        let da = if i + a.len() >= rank { Some(a[i + a.len() - rank]) } else { None };
        let db = if i + b.len() >= rank { Some(b[i + b.len() - rank]) } else { None };
        let d = match (da, db) {
            (Some(x), None) | (None, Some(x)) => x,
            (Some(x), Some(y)) if x == y => x,
            (Some(x), Some(y)) if x.known() == Some(1) => y,
            (Some(x), Some(y)) if y.known() == Some(1) => x,
            (Some(x), Some(y)) => {
                return Err(ShapeError(format!(
                    "shapes {} and {} cannot be broadcast: dim {} is {x} in one and {y} in the other (expected equal sizes or a 1)",
                    format_shape(a),
                    format_shape(b),
                    i as isize - rank as isize,
                )));
            }
            (None, None) => unreachable!("i < rank means one side has the dim"),
        };
        out.push(d);
    }
    Ok(out)
}

/// Whether `from` can be broadcast to exactly `to` (the rule of `expand`).
pub fn expand<D: DimValue>(from: &[D], to: &[D]) -> ShapeResult<()> {
    if from.len() > to.len() {
        return Err(ShapeError(format!(
            "cannot expand {} to {}: the target has fewer dims",
            format_shape(from),
            format_shape(to)
        )));
    }
    let lead = to.len() - from.len();
    for (i, &d) in from.iter().enumerate() {
        let t = to[lead + i];
        if d != t && d.known() != Some(1) {
            return Err(ShapeError(format!(
                "cannot expand {} to {}: dim {i} is {d}, expected {t} or 1",
                format_shape(from),
                format_shape(to)
            )));
        }
    }
    Ok(())
}

/// The shape after reducing `axes` (already normalized).
pub fn reduce<D: DimValue>(shape: &[D], axes: &[usize], keepdim: bool) -> SmallVec<[D; 6]> {
    let mut out = SmallVec::new();
    for (i, &d) in shape.iter().enumerate() {
        if axes.contains(&i) {
            if keepdim {
                out.push(D::from_usize(1));
            }
        } else {
            out.push(d);
        }
    }
    out
}

/// `matmul` as in PyTorch: 1-d operands are promoted (and the added dim removed after),
/// batch dims broadcast.
pub fn matmul<D: DimValue>(a: &[D], b: &[D]) -> ShapeResult<SmallVec<[D; 6]>> {
    let fail =
        |why: String| Err(ShapeError(format!("cannot multiply {} by {}: {why}", format_shape(a), format_shape(b))));
    if a.is_empty() || b.is_empty() {
        return fail("both operands need at least one dim".into());
    }
    let k_a = a[a.len() - 1];
    let k_b = if b.len() == 1 { b[0] } else { b[b.len() - 2] };
    if k_a != k_b {
        return fail(format!("the inner dimensions ({k_a} and {k_b}) must match"));
    }
    let batch_a = if a.len() > 2 { &a[..a.len() - 2] } else { &[][..] };
    let batch_b = if b.len() > 2 { &b[..b.len() - 2] } else { &[][..] };
    let mut out = broadcast(batch_a, batch_b).or_else(|e| fail(format!("batch dims: {e}")))?;
    if a.len() >= 2 {
        out.push(a[a.len() - 2]);
    }
    if b.len() >= 2 {
        out.push(b[b.len() - 1]);
    }
    Ok(out)
}

/// Resolves a reshape target that may hold one `-1`, checking the element count.
pub fn reshape(from: &[usize], to: &[isize]) -> ShapeResult<Dims> {
    let total = numel(from);
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in to.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                return Err(ShapeError(format!("only one dim can be -1 in {to:?}")));
            }
            infer = Some(i);
        } else if d < 0 {
            return Err(ShapeError(format!("invalid size {d} in {to:?}")));
        } else {
            known *= d as usize;
        }
    }
    let mut out: Dims = to.iter().map(|&d| d.max(0) as usize).collect();
    match infer {
        Some(i) => {
            if known == 0 || !total.is_multiple_of(known) {
                return Err(ShapeError(format!("cannot reshape {} ({total} elements) to {to:?}", format_shape(from))));
            }
            out[i] = total / known;
        }
        None if known != total => {
            return Err(ShapeError(format!(
                "cannot reshape {} ({total} elements) to {} ({known} elements)",
                format_shape(from),
                format_shape(&out)
            )));
        }
        None => {}
    }
    Ok(out)
}

/// Checks that `perm` is a permutation of `0..rank` and returns it normalized.
pub fn permutation(perm: &[isize], rank: usize) -> ShapeResult<SmallVec<[usize; 6]>> {
    if perm.len() != rank {
        return Err(ShapeError(format!("permutation {perm:?} has {} entries, expected {rank}", perm.len())));
    }
    let mut seen = [false; 64];
    let mut out = SmallVec::new();
    for &p in perm {
        let a = normalize_axis(p, rank)?;
        if seen[a] {
            return Err(ShapeError(format!("{perm:?} is not a permutation: dim {a} repeats")));
        }
        seen[a] = true;
        out.push(a);
    }
    Ok(out)
}

pub fn permute<D: DimValue>(shape: &[D], perm: &[usize]) -> SmallVec<[D; 6]> {
    perm.iter().map(|&p| shape[p]).collect()
}

/// A resolved `start:end:step` slice along one dim: where it starts and how many it keeps.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SliceRange {
    pub start: usize,
    pub len: usize,
    pub step: usize,
}

/// Python slice semantics: negative bounds count from the end, bounds are clamped.
pub fn slice(size: usize, start: isize, end: isize, step: isize) -> ShapeResult<SliceRange> {
    if step <= 0 {
        return Err(ShapeError(format!("slice step must be positive, got {step}")));
    }
    let n = size as isize;
    let clamp = |v: isize| if v < 0 { (v + n).clamp(0, n) } else { v.min(n) };
    let (s, e) = (clamp(start), clamp(end));
    let len = if e > s { ((e - s) + step - 1) / step } else { 0 };
    Ok(SliceRange { start: s as usize, len: len as usize, step: step as usize })
}

/// The shape of `cat(shapes, dim)`: all equal except along `dim`, whose sizes add up.
pub fn concat<D: DimValue>(shapes: &[&[D]], dim: usize) -> ShapeResult<SmallVec<[D; 6]>> {
    let Some(first) = shapes.first() else {
        return Err(ShapeError("needs at least one tensor".into()));
    };
    if dim >= first.len() {
        return Err(ShapeError(format!("dim {dim} is out of range for {}", format_shape(first))));
    }
    let mut out: SmallVec<[D; 6]> = first.iter().copied().collect();
    for s in &shapes[1..] {
        if s.len() != first.len() {
            return Err(ShapeError(format!(
                "all tensors need the same rank, got {} and {}",
                format_shape(first),
                format_shape(s)
            )));
        }
        for (i, (&a, &b)) in first.iter().zip(s.iter()).enumerate() {
            if i != dim && a != b {
                return Err(ShapeError(format!(
                    "shapes {} and {} differ in dim {i} (only dim {dim} may differ)",
                    format_shape(first),
                    format_shape(s)
                )));
            }
        }
        out[dim] = add_dims(out[dim], s[dim]).ok_or_else(|| {
            ShapeError(format!("cannot add the sizes {} and {} of dim {dim}: one is symbolic", out[dim], s[dim]))
        })?;
    }
    Ok(out)
}

/// `a + b` where that is known without knowing symbols (adding 0 keeps a symbol).
pub fn add_dims<D: DimValue>(a: D, b: D) -> Option<D> {
    match (a.known(), b.known()) {
        (Some(x), Some(y)) => Some(D::from_usize(x + y)),
        (Some(0), None) => Some(b),
        (None, Some(0)) => Some(a),
        _ => None,
    }
}

/// `a * b` where that is known without knowing symbols (multiplying by 1 keeps a symbol).
pub fn mul_dims<D: DimValue>(a: D, b: D) -> Option<D> {
    match (a.known(), b.known()) {
        (Some(x), Some(y)) => Some(D::from_usize(x * y)),
        (Some(1), None) => Some(b),
        (None, Some(1)) => Some(a),
        _ => None,
    }
}

/// Checks that a reshape from `from` to `to` keeps the element count. With symbols the
/// counts must be provably equal: the same symbols on both sides and equal constant products.
pub fn reshape_to<D: DimValue>(from: &[D], to: &[D]) -> ShapeResult<()> {
    let split = |shape: &[D]| {
        let mut constant = 1usize;
        let mut symbols: Vec<String> = Vec::new();
        for &d in shape {
            match d.known() {
                Some(n) => constant *= n,
                None => symbols.push(d.to_string()),
            }
        }
        symbols.sort();
        (constant, symbols)
    };
    let (from_count, from_symbols) = split(from);
    let (to_count, to_symbols) = split(to);
    if from_count == to_count && from_symbols == to_symbols {
        return Ok(());
    }
    if from_symbols.is_empty() && to_symbols.is_empty() {
        return Err(ShapeError(format!(
            "cannot reshape {} ({from_count} elements) to {} ({to_count} elements)",
            format_shape(from),
            format_shape(to)
        )));
    }
    Err(ShapeError(format!(
        "cannot reshape {} to {}: the element counts are not provably equal",
        format_shape(from),
        format_shape(to)
    )))
}

/// The size of a strided slice `start, start+step, ...` of `len` elements along a dim of
/// `size`, checking that the last element is in range.
pub fn slice_len<D: DimValue>(size: D, start: usize, len: usize, step: usize) -> ShapeResult<D> {
    if step == 0 {
        return Err(ShapeError("slice step must be positive, got 0".into()));
    }
    if let Some(n) = size.known() {
        let end = if len == 0 { start } else { start + (len - 1) * step + 1 };
        if start > n || end > n {
            return Err(ShapeError(format!(
                "slice of {len} elements from {start} with step {step} runs past the end of a dim of size {n}"
            )));
        }
    }
    Ok(D::from_usize(len))
}

/// [`conv_out_len`] for a dim that may be symbolic: a window that maps each position to
/// itself (kernel 1, stride 1, no padding) keeps the symbol; any other window needs a size.
pub fn window_out_len<D: DimValue>(
    input: D,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> ShapeResult<D> {
    if stride == 0 {
        return Err(ShapeError("stride must be positive, got 0".into()));
    }
    match input.known() {
        Some(n) => conv_out_len(n, kernel, stride, padding, dilation).map(D::from_usize),
        None if kernel == 1 && stride == 1 && padding == 0 => Ok(input),
        None => Err(ShapeError(format!("a window over the symbolic size {input} needs a known size"))),
    }
}

/// Output length of a convolution or pooling window along one spatial dim.
pub fn conv_out_len(input: usize, kernel: usize, stride: usize, padding: usize, dilation: usize) -> ShapeResult<usize> {
    let span = dilation * (kernel.max(1) - 1) + 1;
    if input + 2 * padding < span {
        return Err(ShapeError(format!(
            "input size {input} with padding {padding} is smaller than the kernel's span {span}"
        )));
    }
    Ok((input + 2 * padding - span) / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_aligns_trailing_dims() {
        assert_eq!(broadcast(&[4usize, 1, 3], &[5, 1]).unwrap().as_slice(), &[4, 5, 3]);
        assert_eq!(broadcast::<usize>(&[], &[2, 2]).unwrap().as_slice(), &[2, 2]);
        let e = broadcast(&[2usize, 3], &[4]).unwrap_err();
        assert!(e.0.contains("dim -1 is 3 in one and 4"), "{e}");
    }

    #[test]
    fn broadcast_keeps_symbols() {
        let s = Dim::Sym(Symbol(0));
        assert_eq!(broadcast(&[s, Dim::Const(1)], &[Dim::Const(3)]).unwrap().as_slice(), &[s, Dim::Const(3)]);
    }

    #[test]
    fn matmul_shapes() {
        assert_eq!(matmul(&[2usize, 3], &[3, 4]).unwrap().as_slice(), &[2, 4]);
        assert_eq!(matmul(&[3usize], &[3, 4]).unwrap().as_slice(), &[4]);
        assert_eq!(matmul(&[2usize, 3], &[3]).unwrap().as_slice(), &[2]);
        assert_eq!(matmul(&[3usize], &[3]).unwrap().as_slice(), &[] as &[usize]);
        assert_eq!(matmul(&[5usize, 1, 2, 3], &[7, 3, 4]).unwrap().as_slice(), &[5, 7, 2, 4]);
        let e = matmul(&[8usize, 16], &[12, 4]).unwrap_err();
        assert_eq!(e.0, "cannot multiply [8,16] by [12,4]: the inner dimensions (16 and 12) must match");
    }

    #[test]
    fn reshape_infers_one_dim() {
        assert_eq!(reshape(&[2, 6], &[3, -1]).unwrap().as_slice(), &[3, 4]);
        assert!(reshape(&[2, 6], &[5, -1]).is_err());
        assert!(reshape(&[2, 6], &[-1, -1]).is_err());
        assert!(reshape(&[2, 6], &[13]).is_err());
    }

    #[test]
    fn slices_follow_python() {
        assert_eq!(slice(10, 1, 8, 3).unwrap(), SliceRange { start: 1, len: 3, step: 3 });
        assert_eq!(slice(10, -3, isize::MAX, 1).unwrap(), SliceRange { start: 7, len: 3, step: 1 });
        assert_eq!(slice(10, 8, 2, 1).unwrap().len, 0);
    }

    #[test]
    fn axes_normalize() {
        assert_eq!(normalize_axis(-1, 3).unwrap(), 2);
        assert!(normalize_axis(3, 3).is_err());
        assert_eq!(normalize_axis(-1, 0).unwrap(), 0);
        assert!(normalize_axes(&[0, -3], 3).is_err());
    }

    #[test]
    fn concat_adds_the_joined_dim() {
        assert_eq!(concat::<usize>(&[&[2, 3], &[2, 5]], 1).unwrap().as_slice(), &[2, 8]);
        let s = Dim::Sym(Symbol(0));
        let joined = concat(&[&[s, Dim::Const(3)], &[s, Dim::Const(1)]], 1).unwrap();
        assert_eq!(joined.as_slice(), &[s, Dim::Const(4)]);
        assert!(concat(&[&[s], &[Dim::Const(2)]], 0).is_err());
    }

    #[test]
    fn reshape_with_symbols() {
        let s = Dim::Sym(Symbol(0));
        assert!(reshape_to(&[s, Dim::Const(6)], &[Dim::Const(2), s, Dim::Const(3)]).is_ok());
        assert!(reshape_to(&[s, Dim::Const(6)], &[Dim::Const(6)]).is_err());
        assert!(reshape_to(&[2usize, 6], &[3, 4]).is_ok());
        assert_eq!(
            reshape_to(&[2usize, 6], &[5]).unwrap_err().0,
            "cannot reshape [2,6] (12 elements) to [5] (5 elements)"
        );
    }

    #[test]
    fn slice_lengths_are_checked() {
        assert_eq!(slice_len(10usize, 1, 3, 3).unwrap(), 3);
        assert!(slice_len(10usize, 1, 4, 3).is_err());
        assert_eq!(slice_len(10usize, 10, 0, 1).unwrap(), 0);
    }

    #[test]
    fn conv_lengths() {
        assert_eq!(conv_out_len(32, 3, 1, 1, 1).unwrap(), 32);
        assert_eq!(conv_out_len(32, 3, 2, 1, 1).unwrap(), 16);
        assert_eq!(conv_out_len(7, 3, 1, 0, 2).unwrap(), 3);
    }
}
