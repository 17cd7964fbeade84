//! Dynamic shapes: one trace that serves every size of one argument dim.
//!
//! When two traces of a function differ only in one dim of one argument (a batch size),
//! their graphs are compared in their text form: every number that differs between them
//! must be a whole multiple of that dim in both (`8` and `16` at sizes 8 and 16; `1024` and
//! `2048` where a reshape flattened batch and sequence), and everything else must be the
//! same. The result is a template: the graph with those numbers as multiples of a symbol.
//! A call with a new size specializes the template (writes the numbers for that size and
//! parses the text back, checked by the verifier) instead of running the function again.
//! Anything else (a float constant that depends on the size, a constant tensor whose shape
//! does) keeps per-size traces.

use ignis_ir::Graph;

/// Where the symbolic dim lives: argument `arg`, dim `dim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SymbolicDim {
    pub(crate) arg: usize,
    pub(crate) dim: usize,
}

/// A graph whose numbers at some places scale with one symbolic size.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    /// The text split around the numbers: `pieces[0] n0 pieces[1] n1 ...`.
    pieces: Vec<String>,
    /// Each number: a constant, or `coefficient * size`.
    numbers: Vec<Number>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Number {
    Fixed(u64),
    Scaled(u64),
}

/// Splits text into non-digit pieces and the digit runs between them. A digit run glued
/// to a letter or `%` (names like `%12`, `f32`, `x0`) stays part of its piece: it names
/// something and never scales.
fn tokenize(text: &str) -> (Vec<String>, Vec<u64>) {
    let mut pieces = vec![String::new()];
    let mut numbers = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let glued =
            i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'%' | b'_' | b'.' | b'-'));
        if c.is_ascii_digit() && !glued {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // A number followed by `.` or `e` is a float: keep it in the piece.
            if i < bytes.len() && matches!(bytes[i], b'.' | b'e' | b'E') {
                pieces.last_mut().expect("a piece").push_str(&text[start..i]);
                continue;
            }
            numbers.push(text[start..i].parse().unwrap_or(u64::MAX));
            pieces.push(String::new());
        } else {
            pieces.last_mut().expect("a piece").push(c as char);
            i += 1;
        }
    }
    (pieces, numbers)
}

impl Template {
    /// The template of two graphs traced at sizes `a` and `b` of the symbolic dim, when
    /// every difference between them scales with it.
    pub(crate) fn generalize(first: &Graph, a: usize, second: &Graph, b: usize) -> Option<Template> {
        if a == b || a == 0 || b == 0 {
            return None;
        }
        let (pieces, xs) = tokenize(&first.to_string());
        let (other_pieces, ys) = tokenize(&second.to_string());
        if pieces != other_pieces || xs.len() != ys.len() {
            return None;
        }
        let (a, b) = (a as u64, b as u64);
        let mut numbers = Vec::with_capacity(xs.len());
        for (&x, &y) in xs.iter().zip(&ys) {
            numbers.push(if x == y {
                Number::Fixed(x)
            } else if x % a == 0 && y % b == 0 && x / a == y / b {
                Number::Scaled(x / a)
            } else {
                return None;
            });
        }
        Some(Template { pieces, numbers })
    }

    /// The graph for size `size`, checked by the verifier.
    pub(crate) fn specialize(&self, size: usize) -> Option<Graph> {
        let mut text = String::new();
        for (piece, number) in self.pieces.iter().zip(self.numbers.iter().map(Some).chain(std::iter::repeat(None))) {
            text.push_str(piece);
            match number {
                Some(Number::Fixed(n)) => text.push_str(&n.to_string()),
                Some(Number::Scaled(c)) => text.push_str(&(c * size as u64).to_string()),
                None => {}
            }
        }
        let graph = ignis_ir::parse(&text).ok()?;
        ignis_ir::verify(&graph).ok()?;
        Some(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_glued_to_names_are_not_sizes() {
        let (pieces, numbers) = tokenize("%x0: f32[8,16] %3 = sum %2, axes=[1] 1e-5 0.5");
        assert_eq!(numbers, vec![8, 16, 1]);
        assert!(pieces[0].ends_with("f32["), "{pieces:?}");
        assert!(pieces.last().unwrap().contains("1e-5 0.5"), "{pieces:?}");
    }
}
