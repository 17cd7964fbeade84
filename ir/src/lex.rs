//! Splits the text form into tokens that know their line and column.

use crate::parse::ParseError;

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// `graph`, `matmul`, `f32`, `true`, `s0`.
    Ident(String),
    /// `3`, `-1`, `0.5`, `1e-5`, `-inf`: kept as written; the parser decides what it is.
    Number(String),
    /// `%x`, `%3`: the text after `%`.
    Percent(String),
    /// `@mlp`: the text after `@`.
    At(String),
    /// One of `( ) [ ] { } , : = #`.
    Punct(char),
    Arrow,
    End,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Token::Ident(s) | Token::Number(s) => format!("`{s}`"),
            Token::Percent(s) => format!("`%{s}`"),
            Token::At(s) => format!("`@{s}`"),
            Token::Punct(c) => format!("`{c}`"),
            Token::Arrow => "`->`".into(),
            Token::End => "the end of the text".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub line: usize,
    pub column: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Tokens of `text`, ending with `Token::End`. `//` starts a comment to the end of the line.
pub fn tokenize(text: &str) -> Result<Vec<Spanned>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut column) = (0, 1, 1);
    // Consumes characters while `keep` holds, tracking the column (no newlines inside tokens).
    let take_while = |i: &mut usize, column: &mut usize, keep: &dyn Fn(char) -> bool| {
        let start = *i;
        while *i < chars.len() && keep(chars[*i]) {
            *i += 1;
            *column += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (start_line, start_column) = (line, column);
        let token = match c {
            '\n' => {
                i += 1;
                line += 1;
                column = 1;
                continue;
            }
            c if c.is_whitespace() => {
                i += 1;
                column += 1;
                continue;
            }
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '%' | '@' => {
                i += 1;
                column += 1;
                let name = take_while(&mut i, &mut column, &is_word_char);
                if name.is_empty() {
                    return Err(ParseError::new(start_line, start_column, format!("expected a name after `{c}`")));
                }
                if c == '%' { Token::Percent(name) } else { Token::At(name) }
            }
            '-' if next == Some('>') => {
                i += 2;
                column += 2;
                Token::Arrow
            }
            '-' if chars[i + 1..].starts_with(&['i', 'n', 'f']) => {
                i += 4;
                column += 4;
                Token::Number("-inf".into())
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit() || n == '.')) => {
                let mut text = String::from(c);
                i += 1;
                column += 1;
                loop {
                    let rest = take_while(&mut i, &mut column, &|c: char| c.is_ascii_alphanumeric() || c == '.');
                    text.push_str(&rest);
                    // A sign right after an exponent belongs to the number: `1e-5`.
                    let after_exponent = text.ends_with(['e', 'E']);
                    match chars.get(i) {
                        Some(&sign @ ('-' | '+')) if after_exponent => {
                            text.push(sign);
                            i += 1;
                            column += 1;
                        }
                        _ => break,
                    }
                }
                Token::Number(text)
            }
            c if c.is_ascii_alphabetic() || c == '_' => Token::Ident(take_while(&mut i, &mut column, &is_word_char)),
            '(' | ')' | '[' | ']' | '{' | '}' | ',' | ':' | '=' | '#' => {
                i += 1;
                column += 1;
                Token::Punct(c)
            }
            other => {
                return Err(ParseError::new(start_line, start_column, format!("unexpected character `{other}`")));
            }
        };
        tokens.push(Spanned { token, line: start_line, column: start_column });
    }
    tokens.push(Spanned { token: Token::End, line, column });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token> {
        tokenize(text).unwrap().into_iter().map(|s| s.token).collect()
    }

    #[test]
    fn splits_a_node_line() {
        assert_eq!(
            kinds("%2 = sum %x, axes=[1] : f32[4,s0] // note"),
            vec![
                Token::Percent("2".into()),
                Token::Punct('='),
                Token::Ident("sum".into()),
                Token::Percent("x".into()),
                Token::Punct(','),
                Token::Ident("axes".into()),
                Token::Punct('='),
                Token::Punct('['),
                Token::Number("1".into()),
                Token::Punct(']'),
                Token::Punct(':'),
                Token::Ident("f32".into()),
                Token::Punct('['),
                Token::Number("4".into()),
                Token::Punct(','),
                Token::Ident("s0".into()),
                Token::Punct(']'),
                Token::End,
            ]
        );
    }

    #[test]
    fn numbers_keep_signs_and_exponents() {
        assert_eq!(
            kinds("-1 1e-5 -2.5E+3 -inf ->"),
            vec![
                Token::Number("-1".into()),
                Token::Number("1e-5".into()),
                Token::Number("-2.5E+3".into()),
                Token::Number("-inf".into()),
                Token::Arrow,
                Token::End,
            ]
        );
    }

    #[test]
    fn positions_count_lines_and_columns() {
        let tokens = tokenize("graph\n  @f ?").unwrap_err();
        assert_eq!((tokens.line, tokens.column), (2, 6));
        let ok = tokenize("a\n  b").unwrap();
        assert_eq!((ok[1].line, ok[1].column), (2, 3));
    }
}
