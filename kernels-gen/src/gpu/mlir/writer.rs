//! MLIR text, one SSA value at a time: numbered values, indented regions, and constants
//! gathered at the top of the function so that they dominate every region.

use std::collections::HashMap;
use std::fmt::{self, Display, Write};

/// An SSA value: `%12`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct V(u32);

impl Display for V {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

#[derive(Default)]
pub(crate) struct Writer {
    body: String,
    constants: String,
    constant_values: HashMap<(String, &'static str), V>,
    depth: usize,
    next: u32,
}

impl Writer {
    /// A value name for a region argument or an op result written by hand.
    pub(crate) fn fresh(&mut self) -> V {
        self.next += 1;
        V(self.next - 1)
    }

    pub(crate) fn line(&mut self, text: impl Display) {
        for _ in 0..self.depth {
            self.body.push_str("  ");
        }
        writeln!(self.body, "{text}").unwrap();
    }

    /// `%n = <op>`.
    pub(crate) fn op(&mut self, op: impl Display) -> V {
        let v = self.fresh();
        self.line(format_args!("{v} = {op}"));
        v
    }

    /// Opens a region: `header` ends with `{`.
    pub(crate) fn open(&mut self, header: impl Display) {
        self.line(header);
        self.depth += 1;
    }

    pub(crate) fn close(&mut self, footer: impl Display) {
        self.depth -= 1;
        self.line(footer);
    }

    /// `arith.constant <literal> : <ty>`, once per function.
    pub(crate) fn constant(&mut self, literal: String, ty: &'static str) -> V {
        if let Some(&v) = self.constant_values.get(&(literal.clone(), ty)) {
            return v;
        }
        let v = self.fresh();
        if ty == "i1" {
            // `true` and `false` carry their type.
            writeln!(self.constants, "{v} = arith.constant {literal}").unwrap();
        } else {
            writeln!(self.constants, "{v} = arith.constant {literal} : {ty}").unwrap();
        }
        self.constant_values.insert((literal, ty), v);
        v
    }

    pub(crate) fn f32(&mut self, value: f32) -> V {
        self.constant(float_literal(value), "f32")
    }

    pub(crate) fn i32(&mut self, value: i32) -> V {
        self.constant(value.to_string(), "i32")
    }

    pub(crate) fn int(&mut self, value: i64, ty: &'static str) -> V {
        self.constant(value.to_string(), ty)
    }

    pub(crate) fn flag(&mut self, value: bool) -> V {
        self.constant(value.to_string(), "i1")
    }

    /// The function body: its constants, then its ops, indented by `depth` levels.
    pub(crate) fn finish(self, depth: usize) -> String {
        let pad = "  ".repeat(depth);
        let mut out = String::new();
        for line in self.constants.lines().chain(self.body.lines()) {
            writeln!(out, "{pad}{line}").unwrap();
        }
        out
    }
}

/// An f32 as MLIR reads it back exactly: the shortest decimal that round-trips, or the bit
/// pattern in hex for NaNs and infinities.
pub(crate) fn float_literal(value: f32) -> String {
    if !value.is_finite() {
        return format!("0x{:08X}", value.to_bits());
    }
    let mut text = format!("{value:?}");
    // MLIR wants a point in a float literal: 1e-5 is 1.0e-5 to it.
    if !text.contains('.') {
        match text.find('e') {
            Some(e) => text.insert_str(e, ".0"),
            None => text.push_str(".0"),
        }
    }
    debug_assert_eq!(text.parse::<f32>().map(f32::to_bits), Ok(value.to_bits()));
    text
}

#[cfg(test)]
mod tests {
    use super::float_literal;

    #[test]
    fn float_literals_read_back_exactly() {
        for v in
            [0.0f32, -0.0, 1.0, 0.1, 1e-5, -3.2e38, f32::MIN_POSITIVE, 1.0e-45, 12_582_912.0, std::f32::consts::LN_2]
        {
            let text = float_literal(v);
            assert!(text.contains('.'), "{text}");
            assert_eq!(text.parse::<f32>().unwrap().to_bits(), v.to_bits(), "{text}");
        }
        assert_eq!(float_literal(f32::INFINITY), "0x7F800000");
        assert_eq!(float_literal(f32::NEG_INFINITY), "0xFF800000");
        assert_eq!(float_literal(f32::NAN), "0x7FC00000");
    }
}
