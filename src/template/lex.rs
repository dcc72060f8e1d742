//! The lexer of the Go `text/template` subset: splits a template into text and
//! the tokens inside `{{ }}` actions, handling `{{-`/`-}}` trim markers and
//! `{{/* */}}` comments the way Go's `text/template/parse/lex.go` does.

use super::TemplateError;

/// One token, with its byte offset in the template text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Tok,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    /// `.Name` (the name without the dot).
    Field(String),
    /// A lone `.`.
    Dot,
    /// `$name` including the `$` (a lone `$` is the root variable).
    Variable(String),
    Ident(String),
    Keyword(Keyword),
    Bool(bool),
    Nil,
    /// A number literal as written.
    Number(String),
    /// A string literal, already unquoted.
    Str(String),
    /// A character constant `'a'`, as its code point.
    Char(char),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    If,
    Else,
    End,
    Range,
    With,
    Define,
    Template,
    Block,
    Break,
    Continue,
}

/// Splits `text` into tokens; `name` is only used in error messages.
pub fn lex(name: &str, text: &str) -> Result<Vec<Token>, TemplateError> {
    let mut lx = Lexer {
        name,
        text,
        pos: 0,
        out: Vec::new(),
        paren_depth: 0,
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    name: &'a str,
    text: &'a str,
    pos: usize,
    out: Vec<Token>,
    paren_depth: usize,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'a> {
    fn err(&self, msg: impl Into<String>) -> TemplateError {
        TemplateError::parse(self.name, line_of(self.text, self.pos), msg)
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn push(&mut self, kind: Tok, pos: usize) {
        self.out.push(Token { kind, pos });
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        loop {
            // Text up to the next action.
            let start = self.pos;
            let Some(off) = self.rest().find(LEFT) else {
                if start < self.text.len() {
                    self.push(Tok::Text(self.text[start..].to_string()), start);
                }
                self.push(Tok::Eof, self.text.len());
                return Ok(());
            };
            let delim = start + off;
            let after = &self.text[delim + LEFT.len()..];
            let trim_left = after.starts_with('-') && after[1..].starts_with(is_space);
            let mut text_end = delim;
            if trim_left {
                text_end = start + self.text[start..delim].trim_end_matches(is_space).len();
            }
            if text_end > start {
                self.push(Tok::Text(self.text[start..text_end].to_string()), start);
            }
            self.pos = delim + LEFT.len();
            if trim_left {
                self.pos += 2;
            }
            // Comments are dropped entirely, with their own trim markers.
            if self.rest().starts_with("/*") {
                let Some(end) = self.rest().find("*/") else {
                    return Err(self.err("unclosed comment"));
                };
                self.pos += end + 2;
                let trim_right = self.rest().starts_with(" -}}")
                    || self.rest().starts_with("\t-}}")
                    || self.rest().starts_with("\n-}}")
                    || self.rest().starts_with("\r-}}");
                if trim_right {
                    self.pos += 4;
                    self.skip_leading_space_of_text();
                } else if self.rest().starts_with(RIGHT) {
                    self.pos += 2;
                } else {
                    return Err(self.err("comment ends before closing delimiter"));
                }
                continue;
            }
            self.push(Tok::LeftDelim, delim);
            self.paren_depth = 0;
            self.lex_inside_action()?;
        }
    }

    fn skip_leading_space_of_text(&mut self) {
        let trimmed = self.rest().trim_start_matches(is_space);
        self.pos = self.text.len() - trimmed.len();
    }

    /// Lexes tokens until the closing delimiter of the current action.
    fn lex_inside_action(&mut self) -> Result<(), TemplateError> {
        loop {
            let rest = self.rest();
            // A right trim marker needs a space before it, as in Go.
            if rest.len() >= 4 && rest.starts_with(is_space) && rest[1..].starts_with("-}}") {
                if self.paren_depth > 0 {
                    return Err(self.err("unclosed left paren"));
                }
                self.push(Tok::Space, self.pos);
                self.push(Tok::RightDelim, self.pos + 2);
                self.pos += 4;
                self.skip_leading_space_of_text();
                return Ok(());
            }
            if rest.starts_with(RIGHT) {
                if self.paren_depth > 0 {
                    return Err(self.err("unclosed left paren"));
                }
                self.push(Tok::RightDelim, self.pos);
                self.pos += 2;
                return Ok(());
            }
            let Some(c) = self.peek() else {
                return Err(self.err("unclosed action"));
            };
            let start = self.pos;
            match c {
                c if is_space(c) => {
                    let n = rest.len() - rest.trim_start_matches(is_space).len();
                    // Space directly before a trim marker belongs to the marker.
                    let after = &rest[n..];
                    if after.starts_with("-}}") && n >= 1 {
                        self.pos += n - 1;
                        if n > 1 {
                            self.push(Tok::Space, start);
                        }
                        continue;
                    }
                    self.pos += n;
                    self.push(Tok::Space, start);
                }
                '|' => {
                    self.pos += 1;
                    self.push(Tok::Pipe, start);
                }
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.push(Tok::LeftParen, start);
                }
                ')' => {
                    self.pos += 1;
                    if self.paren_depth == 0 {
                        return Err(self.err("unexpected right paren"));
                    }
                    self.paren_depth -= 1;
                    self.push(Tok::RightParen, start);
                }
                ',' => {
                    self.pos += 1;
                    self.push(Tok::Comma, start);
                }
                ':' => {
                    if rest.starts_with(":=") {
                        self.pos += 2;
                        self.push(Tok::Declare, start);
                    } else {
                        return Err(self.err("expected :="));
                    }
                }
                '=' => {
                    self.pos += 1;
                    self.push(Tok::Assign, start);
                }
                '"' => {
                    let s = self.lex_quote()?;
                    self.push(Tok::Str(s), start);
                }
                '`' => {
                    let Some(end) = rest[1..].find('`') else {
                        return Err(self.err("unterminated raw quoted string"));
                    };
                    self.pos += end + 2;
                    self.push(Tok::Str(rest[1..end + 1].to_string()), start);
                }
                '\'' => {
                    let ch = self.lex_char()?;
                    self.push(Tok::Char(ch), start);
                }
                '$' => {
                    let n = 1 + rest[1..]
                        .find(|c: char| !is_alnum(c))
                        .unwrap_or(rest.len() - 1);
                    self.pos += n;
                    self.push(Tok::Variable(rest[..n].to_string()), start);
                }
                '.' => {
                    let second = rest[1..].chars().next();
                    if second.is_some_and(|c| c.is_ascii_digit()) {
                        self.lex_number()?;
                    } else if second.is_some_and(is_alnum) {
                        let n = 1 + rest[1..]
                            .find(|c: char| !is_alnum(c))
                            .unwrap_or(rest.len() - 1);
                        self.pos += n;
                        self.push(Tok::Field(rest[1..n].to_string()), start);
                    } else {
                        self.pos += 1;
                        self.push(Tok::Dot, start);
                    }
                }
                '+' | '-' | '0'..='9' => self.lex_number()?,
                c if is_alnum(c) => {
                    let n = rest.find(|c: char| !is_alnum(c)).unwrap_or(rest.len());
                    let word = &rest[..n];
                    self.pos += n;
                    let kind = match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        "if" => Tok::Keyword(Keyword::If),
                        "else" => Tok::Keyword(Keyword::Else),
                        "end" => Tok::Keyword(Keyword::End),
                        "range" => Tok::Keyword(Keyword::Range),
                        "with" => Tok::Keyword(Keyword::With),
                        "define" => Tok::Keyword(Keyword::Define),
                        "template" => Tok::Keyword(Keyword::Template),
                        "block" => Tok::Keyword(Keyword::Block),
                        "break" => Tok::Keyword(Keyword::Break),
                        "continue" => Tok::Keyword(Keyword::Continue),
                        _ => Tok::Ident(word.to_string()),
                    };
                    self.push(kind, start);
                }
                c => {
                    return Err(self.err(format!(
                        "unrecognized character in action: {}",
                        go_char_u(c)
                    )))
                }
            }
        }
    }

    fn lex_number(&mut self) -> Result<(), TemplateError> {
        let start = self.pos;
        let rest = self.rest();
        let n = rest
            .char_indices()
            .skip(1)
            .find(|&(i, c)| {
                let prev = rest[..i].chars().last().unwrap_or(' ');
                !(c.is_ascii_alphanumeric()
                    || c == '.'
                    || c == '_'
                    || ((c == '+' || c == '-') && matches!(prev, 'e' | 'E' | 'p' | 'P')))
            })
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let lit = &rest[..n];
        if lit == "+" || lit == "-" {
            return Err(self.err(format!("bad number syntax: {lit:?}")));
        }
        self.pos += n;
        self.push(Tok::Number(lit.to_string()), start);
        Ok(())
    }

    fn lex_quote(&mut self) -> Result<String, TemplateError> {
        let rest = self.rest();
        let mut out = String::new();
        let mut chars = rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\x07'),
                        'b' => out.push('\x08'),
                        'f' => out.push('\x0c'),
                        'v' => out.push('\x0b'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'x' | 'u' | 'U' => {
                            let len = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let mut hex = String::new();
                            for _ in 0..len {
                                if let Some((_, h)) = chars.next() {
                                    hex.push(h);
                                }
                            }
                            let ch = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err("invalid syntax in quoted string"))?;
                            out.push(ch);
                        }
                        _ => return Err(self.err("invalid syntax in quoted string")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err("unterminated quoted string"))
    }

    fn lex_char(&mut self) -> Result<char, TemplateError> {
        let rest = self.rest();
        let Some(end) = rest[1..].find('\'') else {
            return Err(self.err("unterminated character constant"));
        };
        let body = &rest[1..end + 1];
        let ch = match body {
            "\\n" => '\n',
            "\\t" => '\t',
            "\\\\" => '\\',
            "\\'" => '\'',
            _ => {
                let mut it = body.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => c,
                    _ => return Err(self.err("malformed character constant")),
                }
            }
        };
        self.pos += end + 2;
        Ok(ch)
    }
}

/// Go's `%#U` form for a rune in a lexer error.
fn go_char_u(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

/// 1-based line number of byte offset `pos`.
pub fn line_of(text: &str, pos: usize) -> usize {
    let end = pos.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        lex("t", s)
            .map(|v| v.into_iter().map(|t| t.kind).collect())
            .unwrap_or_default()
    }

    #[test]
    fn trims_and_comments() {
        assert_eq!(
            kinds("a  {{- 1 -}}  b{{/* c */}}"),
            vec![
                Tok::Text("a".into()),
                Tok::LeftDelim,
                Tok::Number("1".into()),
                Tok::Space,
                Tok::RightDelim,
                Tok::Text("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn fields_and_variables() {
        assert_eq!(
            kinds("{{$x.Labels.a}}"),
            vec![
                Tok::LeftDelim,
                Tok::Variable("$x".into()),
                Tok::Field("Labels".into()),
                Tok::Field("a".into()),
                Tok::RightDelim,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors() {
        let e = lex("test", "{{").err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("template: test:1: unclosed action"));
        let e = lex("test", "{{\u{a0}}}").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("template: test:1: unrecognized character in action: U+00A0")
        );
    }
}
