//! Reads the text form (see `text`) back into a verified `Graph`.
//!
//! Parameters keep their names. Node values are numbered by position: `%N` in the text
//! names whatever node defines it, and the parsed graph numbers nodes in order, so text that
//! the printer wrote parses back to an equal graph, and hand-written text may skip numbers.
//! Every error carries the line and column it was found at.

use crate::attrs::{Attr, AttrSet, build_op, parse_symbol};
use crate::dtype::DType;
use crate::graph::{Graph, Node, Value, ValueType, is_param_name};
use crate::lex::{Spanned, Token, tokenize};
use crate::scalar::Scalar;
use crate::shape::{Dim, Shape};
use crate::verify::verify;
use std::collections::HashMap;

/// What is wrong with the text, and where (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, column: usize, message: String) -> ParseError {
        ParseError { line, column, message }
    }
}

/// Parses one graph and verifies it; a node that fails verification is reported at its line.
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    let mut parser = Parser { tokens: tokenize(text)?, at: 0, names: HashMap::new(), node_positions: Vec::new() };
    let (graph, return_position) = parser.graph()?;
    if let Err(errors) = verify(&graph) {
        let first = &errors[0];
        let (line, column) = match first.node {
            Some(id) => parser.node_positions[id.index()],
            None => return_position,
        };
        return Err(ParseError::new(line, column, first.to_string()));
    }
    Ok(graph)
}

struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
    /// Text name (without `%`) to value.
    names: HashMap<String, Value>,
    /// Where each node's line starts, for verifier errors.
    node_positions: Vec<(usize, usize)>,
}

type Parsed<T> = Result<T, ParseError>;

impl Parser {
    fn peek(&self) -> &Spanned {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Spanned {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn error_at<T>(spanned: &Spanned, message: String) -> Parsed<T> {
        Err(ParseError::new(spanned.line, spanned.column, message))
    }

    fn unexpected<T>(&self, expected: &str) -> Parsed<T> {
        let found = self.peek();
        Self::error_at(found, format!("expected {expected}, found {}", found.token.describe()))
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek().token == Token::Punct(c)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let found = self.is_punct(c);
        if found {
            self.next();
        }
        found
    }

    fn expect_punct(&mut self, c: char) -> Parsed<()> {
        if self.eat_punct(c) { Ok(()) } else { self.unexpected(&format!("`{c}`")) }
    }

    fn expect_keyword(&mut self, word: &str) -> Parsed<()> {
        match &self.peek().token {
            Token::Ident(w) if w == word => {
                self.next();
                Ok(())
            }
            _ => self.unexpected(&format!("`{word}`")),
        }
    }

    /// Parses `item (, item)*` up to the closing `close`, which it consumes.
    fn list<T>(&mut self, close: char, mut item: impl FnMut(&mut Self) -> Parsed<T>) -> Parsed<Vec<T>> {
        let mut items = Vec::new();
        if self.eat_punct(close) {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if self.eat_punct(close) {
                return Ok(items);
            }
            if !self.eat_punct(',') {
                return self.unexpected(&format!("`,` or `{close}`"));
            }
        }
    }

    fn graph(&mut self) -> Parsed<(Graph, (usize, usize))> {
        self.expect_keyword("graph")?;
        let name = match self.next() {
            Spanned { token: Token::At(name), .. } => name,
            other => {
                return Self::error_at(
                    &other,
                    format!("expected the graph's name `@name`, found {}", other.token.describe()),
                );
            }
        };
        let mut graph = Graph::new(name);
        self.expect_punct('(')?;
        self.list(')', |p| p.param(&mut graph))?;
        if self.next().token != Token::Arrow {
            return Self::error_at(&self.tokens[self.at - 1], "expected `->` and the output types".into());
        }
        self.expect_punct('(')?;
        let declared_outputs = self.list(')', |p| {
            let position = p.peek().clone();
            Ok((p.value_type()?, position))
        })?;
        self.expect_punct('{')?;
        while !matches!(&self.peek().token, Token::Ident(w) if w == "return") {
            self.node(&mut graph)?;
        }
        let return_token = self.next();
        if !self.is_punct('}') {
            loop {
                let value = self.operand()?;
                graph.outputs.push(value);
                if !self.eat_punct(',') {
                    break;
                }
            }
        }
        self.expect_punct('}')?;
        if self.peek().token != Token::End {
            return self.unexpected("the end of the text after the graph");
        }
        self.check_output_types(&graph, &declared_outputs, &return_token)?;
        Ok((graph, (return_token.line, return_token.column)))
    }

    fn check_output_types(&self, graph: &Graph, declared: &[(ValueType, Spanned)], ret: &Spanned) -> Parsed<()> {
        if declared.len() != graph.outputs.len() {
            return Self::error_at(
                ret,
                format!(
                    "the signature lists {} output types but {} values are returned",
                    declared.len(),
                    graph.outputs.len()
                ),
            );
        }
        for ((ty, position), &value) in declared.iter().zip(&graph.outputs) {
            let actual = graph.value_type(value);
            if actual != Some(ty) {
                let actual = actual.map_or("undefined".to_string(), |t| t.to_string());
                return Self::error_at(
                    position,
                    format!("the signature says {ty}, but the returned value is {actual}"),
                );
            }
        }
        Ok(())
    }

    fn param(&mut self, graph: &mut Graph) -> Parsed<()> {
        let start = self.next();
        let Token::Percent(name) = &start.token else {
            return Self::error_at(&start, format!("expected a parameter `%name`, found {}", start.token.describe()));
        };
        if !is_param_name(name) {
            return Self::error_at(
                &start,
                format!("`%{name}` cannot name a parameter: names start with a letter or `_`"),
            );
        }
        if self.names.contains_key(name) {
            return Self::error_at(&start, format!("a parameter named `%{name}` already exists"));
        }
        self.expect_punct(':')?;
        let ty = self.value_type()?;
        let value = graph.push_param(name.clone(), ty);
        self.names.insert(name.clone(), value);
        Ok(())
    }

    fn value_type(&mut self) -> Parsed<ValueType> {
        let start = self.next();
        let dtype = match &start.token {
            Token::Ident(word) => word.parse::<DType>().or_else(|e| Self::error_at(&start, e))?,
            other => {
                return Self::error_at(&start, format!("expected a type like `f32[2,3]`, found {}", other.describe()));
            }
        };
        self.expect_punct('[')?;
        let dims = self.list(']', |p| p.dim())?;
        Ok(ValueType::new(dtype, Shape::from_vec(dims)))
    }

    fn dim(&mut self) -> Parsed<Dim> {
        let start = self.next();
        match &start.token {
            Token::Number(text) => match text.parse::<usize>() {
                Ok(n) => Ok(Dim::Const(n)),
                Err(_) => Self::error_at(&start, format!("a dim is a count or a symbol like `s0`, found `{text}`")),
            },
            Token::Ident(word) => match parse_symbol(word) {
                Some(symbol) => Ok(Dim::Sym(symbol)),
                None => Self::error_at(&start, format!("a dim is a count or a symbol like `s0`, found `{word}`")),
            },
            other => Self::error_at(&start, format!("expected a dim, found {}", other.describe())),
        }
    }

    fn operand(&mut self) -> Parsed<Value> {
        let start = self.next();
        let Token::Percent(name) = &start.token else {
            return Self::error_at(&start, format!("expected a value `%name`, found {}", start.token.describe()));
        };
        match self.names.get(name) {
            Some(&value) => Ok(value),
            None => Self::error_at(&start, format!("`%{name}` is not defined before this use")),
        }
    }

    fn node(&mut self, graph: &mut Graph) -> Parsed<()> {
        let start = self.next();
        let name = match &start.token {
            Token::Percent(name) if name.bytes().all(|b| b.is_ascii_digit()) => name.clone(),
            Token::Percent(name) => {
                return Self::error_at(
                    &start,
                    format!("a node's value is named by a number, like `%0`, not `%{name}`"),
                );
            }
            other => {
                return Self::error_at(
                    &start,
                    format!("expected a node `%N = ...` or `return`, found {}", other.describe()),
                );
            }
        };
        if self.names.contains_key(&name) {
            return Self::error_at(&start, format!("`%{name}` is defined twice"));
        }
        self.expect_punct('=')?;
        let op_token = self.next();
        let Token::Ident(op_name) = &op_token.token else {
            return Self::error_at(&op_token, format!("expected an op name, found {}", op_token.token.describe()));
        };
        let result = if self.eat_punct('#') { self.count()? } else { 0 };

        let mut inputs = Vec::new();
        let mut literal = None;
        let mut attributes: Vec<(String, Attr)> = Vec::new();
        let mut key_positions: HashMap<String, Spanned> = HashMap::new();
        if !self.is_punct(':') {
            loop {
                let item = self.peek().clone();
                let is_key =
                    matches!(item.token, Token::Ident(_)) && self.tokens[self.at + 1].token == Token::Punct('=');
                match &item.token {
                    Token::Percent(_) if attributes.is_empty() && literal.is_none() => inputs.push(self.operand()?),
                    Token::Percent(_) => return Self::error_at(&item, "operands come before attributes".into()),
                    Token::Ident(key) if is_key => {
                        self.next();
                        self.next();
                        if key_positions.insert(key.clone(), item.clone()).is_some() {
                            return Self::error_at(&item, format!("attribute `{key}` is given twice"));
                        }
                        attributes.push((key.clone(), self.attr()?));
                    }
                    Token::Number(_) | Token::Ident(_) if op_name == "constant" && literal.is_none() => {
                        match self.attr()? {
                            Attr::Scalar(s) => literal = Some(s),
                            _ => {
                                return Self::error_at(
                                    &item,
                                    "a constant's value is a number, `true` or `false`".into(),
                                );
                            }
                        }
                    }
                    _ => return self.unexpected("an operand `%name` or an attribute `key=value`"),
                }
                if !self.eat_punct(',') {
                    break;
                }
            }
        }
        self.expect_punct(':')?;
        let ty = self.value_type()?;

        let mut set = AttrSet::new(attributes);
        let op = build_op(op_name, literal, &mut set).or_else(|e| {
            let position = e.key.as_ref().and_then(|k| key_positions.get(k)).unwrap_or(&op_token);
            Self::error_at(position, format!("{op_name}: {}", e.message))
        })?;
        if let Some(extra) = set.remaining().next() {
            let position = key_positions.get(extra).unwrap_or(&op_token);
            return Self::error_at(position, format!("{op_name} has no attribute `{extra}`"));
        }
        let value = graph.push_node(Node { op, inputs, result, ty });
        self.names.insert(name, value);
        self.node_positions.push((start.line, start.column));
        Ok(())
    }

    fn count(&mut self) -> Parsed<usize> {
        let start = self.next();
        match &start.token {
            Token::Number(text) => {
                text.parse::<usize>().or_else(|_| Self::error_at(&start, format!("expected a count, found `{text}`")))
            }
            other => Self::error_at(&start, format!("expected a count, found {}", other.describe())),
        }
    }

    fn attr(&mut self) -> Parsed<Attr> {
        let start = self.next();
        match &start.token {
            Token::Punct('[') => Ok(Attr::List(self.list(']', |p| p.attr())?)),
            Token::Number(text) => text.parse::<Scalar>().map(Attr::Scalar).or_else(|e| Self::error_at(&start, e)),
            Token::Ident(word) => Ok(match word.as_str() {
                "true" | "false" | "nan" | "inf" => {
                    Attr::Scalar(word.parse::<Scalar>().or_else(|e| Self::error_at(&start, e))?)
                }
                _ => Attr::Word(word.clone()),
            }),
            other => Self::error_at(&start, format!("expected an attribute value, found {}", other.describe())),
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
