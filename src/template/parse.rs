//! The parser of the Go `text/template` subset: builds the node tree
//! (text, actions, `if`/`range`/`with` with `else`/`else if`, `define`,
//! `template`, `break`/`continue`) and checks, as Go does at parse time, that
//! every function exists and every variable is declared.

use std::collections::HashMap;

use super::lex::{lex, line_of, Keyword, Tok, Token};
use super::TemplateError;

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub struct Arg {
    pub pos: usize,
    pub kind: ArgKind,
}

#[derive(Debug, Clone)]
pub enum ArgKind {
    Dot,
    Nil,
    Bool(bool),
    Number(Number),
    Str(String),
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B`
    Variable(String, Vec<String>),
    /// A function name.
    Ident(String),
    Pipe(Box<Pipe>),
    /// `(pipeline).A.B`
    Chain(Box<Arg>, Vec<String>),
}

/// A number literal with the Go kinds it can stand for.
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
}

impl Number {
    /// Go's `idealConstant`: a literal with `.`/`e` is a float, else an int.
    pub fn is_float_literal(&self) -> bool {
        let t = self.text.to_ascii_lowercase();
        !t.starts_with("0x") && (t.contains('.') || t.contains('e')) || self.int.is_none()
    }
}

/// A parsed template: the main tree plus the trees `{{define}}`d in it.
#[derive(Debug, Clone)]
pub struct Tree {
    pub name: String,
    pub text: String,
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

/// Parses `text` as template `name`; `is_func` says which function names exist.
pub fn parse(
    name: &str,
    text: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Tree, TemplateError> {
    let toks = lex(name, text)?;
    let mut p = Parser {
        name,
        text,
        toks,
        i: 0,
        vars: vec!["$".to_string()],
        defines: HashMap::new(),
        is_func,
    };
    let (root, end) = p.item_list(true)?;
    if let Some(e) = end {
        return Err(p.err_at(e.pos, format!("unexpected {}", end_name(&e.kind))));
    }
    Ok(Tree {
        name: name.to_string(),
        text: text.to_string(),
        root,
        defines: p.defines,
    })
}

struct Parser<'a> {
    name: &'a str,
    text: &'a str,
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    defines: HashMap<String, Vec<Node>>,
    is_func: &'a dyn Fn(&str) -> bool,
}

/// How an item list ended: `{{end}}` or `{{else ...}}`.
struct ListEnd {
    pos: usize,
    kind: EndKind,
}

enum EndKind {
    End,
    Else,
    /// `{{else if|with pipeline}}`: the keyword and its position.
    ElseChain(Keyword, usize),
}

fn end_name(k: &EndKind) -> &'static str {
    match k {
        EndKind::End => "{{end}}",
        _ => "{{else}}",
    }
}

fn tok_desc(t: &Tok) -> String {
    match t {
        Tok::Text(s) => format!("{s:?}"),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LeftParen => "\"(\"".into(),
        Tok::RightParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Dot => "<.>".into(),
        Tok::Variable(v) => format!("<{v}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Keyword(k) => format!("<{}>", format!("{k:?}").to_lowercase()),
        Tok::Bool(b) => format!("<{b}>"),
        Tok::Nil => "<nil>".into(),
        Tok::Number(n) => format!("{n:?}"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Char(c) => format!("{c:?}"),
        Tok::Eof => "EOF".into(),
    }
}

impl<'a> Parser<'a> {
    fn err_at(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::parse(self.name, line_of(self.text, pos), msg)
    }

    fn peek(&self) -> &Token {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.i.min(last)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn peek_non_space(&mut self) -> &Token {
        while self.peek().kind == Tok::Space {
            self.i += 1;
        }
        self.peek()
    }

    fn next_non_space(&mut self) -> Token {
        self.peek_non_space();
        self.next()
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), TemplateError> {
        let t = self.next_non_space();
        if t.kind != Tok::RightDelim {
            return Err(self.err_at(
                t.pos,
                format!("unexpected {} in {context}", tok_desc(&t.kind)),
            ));
        }
        Ok(())
    }

    /// Parses nodes until EOF (top level) or an `{{end}}`/`{{else}}`.
    fn item_list(&mut self, top: bool) -> Result<(Vec<Node>, Option<ListEnd>), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            match t.kind {
                Tok::Eof => {
                    if top {
                        return Ok((nodes, None));
                    }
                    return Err(self.err_at(t.pos, "unexpected EOF"));
                }
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::LeftDelim => {
                    let kw = self.peek_non_space().clone();
                    match kw.kind {
                        Tok::Keyword(Keyword::End) => {
                            self.next();
                            self.expect_right_delim("end")?;
                            return Ok((
                                nodes,
                                Some(ListEnd {
                                    pos: kw.pos,
                                    kind: EndKind::End,
                                }),
                            ));
                        }
                        Tok::Keyword(Keyword::Else) => {
                            self.next();
                            let after = self.peek_non_space().clone();
                            let kind = match after.kind {
                                Tok::Keyword(k @ (Keyword::If | Keyword::With)) => {
                                    // The chained keyword is parsed by the caller.
                                    EndKind::ElseChain(k, after.pos)
                                }
                                _ => {
                                    self.expect_right_delim("else")?;
                                    EndKind::Else
                                }
                            };
                            return Ok((nodes, Some(ListEnd { pos: kw.pos, kind })));
                        }
                        _ => {
                            if let Some(n) = self.action()? {
                                nodes.push(n);
                            }
                        }
                    }
                }
                other => return Err(self.err_at(t.pos, format!("unexpected {}", tok_desc(&other)))),
            }
        }
    }

    /// Parses one action after its `{{`; `define` adds to `defines` and yields nothing.
    fn action(&mut self) -> Result<Option<Node>, TemplateError> {
        let t = self.peek_non_space().clone();
        match t.kind {
            Tok::Keyword(Keyword::If) => {
                self.next();
                Ok(Some(Node::If(self.branch(t.pos, "if")?)))
            }
            Tok::Keyword(Keyword::Range) => {
                self.next();
                Ok(Some(Node::Range(self.branch(t.pos, "range")?)))
            }
            Tok::Keyword(Keyword::With) => {
                self.next();
                Ok(Some(Node::With(self.branch(t.pos, "with")?)))
            }
            Tok::Keyword(Keyword::Break) => {
                self.next();
                self.expect_right_delim("break")?;
                Ok(Some(Node::Break))
            }
            Tok::Keyword(Keyword::Continue) => {
                self.next();
                self.expect_right_delim("continue")?;
                Ok(Some(Node::Continue))
            }
            Tok::Keyword(Keyword::Define) => {
                self.next();
                let name_tok = self.next_non_space();
                let Tok::Str(name) = name_tok.kind else {
                    return Err(
                        self.err_at(name_tok.pos, "name of template in define must be a string")
                    );
                };
                self.expect_right_delim("define clause")?;
                let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                let (list, end) = self.item_list(false)?;
                self.vars = saved;
                match end {
                    Some(ListEnd {
                        kind: EndKind::End, ..
                    }) => {}
                    Some(e) => return Err(self.err_at(e.pos, "unexpected {{else}} in define")),
                    None => return Err(self.err_at(t.pos, "unexpected EOF")),
                }
                self.defines.insert(name, list);
                Ok(None)
            }
            Tok::Keyword(Keyword::Template) => {
                self.next();
                let name_tok = self.next_non_space();
                let Tok::Str(name) = name_tok.kind else {
                    return Err(self.err_at(
                        name_tok.pos,
                        format!("unexpected {} in template clause", tok_desc(&name_tok.kind)),
                    ));
                };
                let pipe = if self.peek_non_space().kind == Tok::RightDelim {
                    self.next();
                    None
                } else {
                    Some(self.pipeline("template", false)?)
                };
                Ok(Some(Node::Template {
                    pos: t.pos,
                    name,
                    pipe,
                }))
            }
            Tok::Keyword(Keyword::Block) => {
                Err(self.err_at(t.pos, "{{block}} is not supported by promlite templates"))
            }
            _ => Ok(Some(Node::Action(self.pipeline("command", false)?))),
        }
    }

    /// `if`/`range`/`with` after the keyword: pipeline, list, optional else.
    fn branch(&mut self, pos: usize, ctx: &str) -> Result<Branch, TemplateError> {
        let scope = self.vars.len();
        let pipe = self.pipeline(ctx, ctx == "range")?;
        let (list, end) = self.item_list(false)?;
        let else_list = match end {
            Some(ListEnd {
                kind: EndKind::End, ..
            }) => None,
            Some(ListEnd {
                kind: EndKind::Else,
                ..
            }) => {
                let (else_list, end2) = self.item_list(false)?;
                match end2 {
                    Some(ListEnd {
                        kind: EndKind::End, ..
                    }) => Some(else_list),
                    Some(e) => return Err(self.err_at(e.pos, "expected end; found {{else}}")),
                    None => return Err(self.err_at(pos, "unexpected EOF")),
                }
            }
            Some(ListEnd {
                kind: EndKind::ElseChain(kw, kpos),
                ..
            }) => {
                // `{{else if x}}` is `{{else}}{{if x}}...{{end}}{{end}}` sharing one end.
                self.peek_non_space();
                self.next();
                let inner_ctx = if kw == Keyword::If { "if" } else { "with" };
                let inner = self.branch(kpos, inner_ctx)?;
                let node = if kw == Keyword::If {
                    Node::If(inner)
                } else {
                    Node::With(inner)
                };
                Some(vec![node])
            }
            None => return Err(self.err_at(pos, "unexpected EOF")),
        };
        self.vars.truncate(scope);
        Ok(Branch {
            pos,
            pipe,
            list,
            else_list,
        })
    }

    /// A pipeline up to the closing `}}` (or `)` when `in_paren` is handled by caller).
    fn pipeline(&mut self, ctx: &str, allow_two_vars: bool) -> Result<Pipe, TemplateError> {
        let start = self.peek_non_space().pos;
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $e :=`.
        if let Tok::Variable(v) = self.peek().kind.clone() {
            let save = self.i;
            self.next();
            let after = self.peek_non_space().kind.clone();
            match after {
                Tok::Declare | Tok::Assign => {
                    self.next();
                    is_assign = after == Tok::Assign;
                    decl.push(v);
                }
                Tok::Comma if allow_two_vars => {
                    self.next();
                    let second = self.next_non_space();
                    let Tok::Variable(v2) = second.kind else {
                        return Err(self.err_at(second.pos, "range can only initialize variables"));
                    };
                    let op = self.next_non_space();
                    if op.kind != Tok::Declare && op.kind != Tok::Assign {
                        return Err(self.err_at(
                            op.pos,
                            format!("unexpected {} in range", tok_desc(&op.kind)),
                        ));
                    }
                    is_assign = op.kind == Tok::Assign;
                    decl.push(v);
                    decl.push(v2);
                }
                _ => self.i = save,
            }
        }
        if is_assign {
            for v in &decl {
                if !self.vars.contains(v) {
                    return Err(self.err_at(start, format!("undefined variable \"{v}\"")));
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let t = self.peek_non_space().clone();
            match t.kind {
                Tok::RightDelim | Tok::RightParen => {
                    if t.kind == Tok::RightDelim {
                        self.next();
                    }
                    if cmds.is_empty() {
                        return Err(self.err_at(t.pos, format!("missing value for {ctx}")));
                    }
                    break;
                }
                _ => {
                    let cmd = self.command()?;
                    cmds.push(cmd);
                    let sep = self.peek_non_space().clone();
                    match sep.kind {
                        Tok::Pipe => {
                            self.next();
                        }
                        Tok::RightDelim | Tok::RightParen => {}
                        other => {
                            return Err(self.err_at(
                                sep.pos,
                                format!("unexpected {} in {ctx}", tok_desc(&other)),
                            ))
                        }
                    }
                }
            }
        }
        if !is_assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe {
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Command, TemplateError> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            match self.operand()? {
                Some(a) => args.push(a),
                None => break,
            }
            match self.peek().kind {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen | Tok::Pipe => break,
                ref other => {
                    let other = other.clone();
                    return Err(self.err_at(
                        self.peek().pos,
                        format!("unexpected {} in operand", tok_desc(&other)),
                    ));
                }
            }
        }
        if args.is_empty() {
            let t = self.peek().clone();
            return Err(self.err_at(
                t.pos,
                format!("unexpected {} in command", tok_desc(&t.kind)),
            ));
        }
        Ok(Command { pos, args })
    }

    /// A term plus trailing `.Field`s; `None` at a pipeline separator.
    fn operand(&mut self) -> Result<Option<Arg>, TemplateError> {
        let t = self.peek().clone();
        let kind = match t.kind {
            Tok::RightDelim | Tok::RightParen | Tok::Pipe => return Ok(None),
            Tok::Dot => {
                self.next();
                ArgKind::Dot
            }
            Tok::Nil => {
                self.next();
                ArgKind::Nil
            }
            Tok::Bool(b) => {
                self.next();
                ArgKind::Bool(b)
            }
            Tok::Str(s) => {
                self.next();
                ArgKind::Str(s)
            }
            Tok::Char(c) => {
                self.next();
                ArgKind::Number(Number {
                    text: format!("{:?}", c),
                    int: Some(c as i64),
                    float: Some(c as u32 as f64),
                })
            }
            Tok::Number(n) => {
                self.next();
                ArgKind::Number(self.number(t.pos, &n)?)
            }
            Tok::Field(f) => {
                self.next();
                let mut fields = vec![f];
                fields.extend(self.trailing_fields());
                ArgKind::Field(fields)
            }
            Tok::Variable(v) => {
                self.next();
                if !self.vars.contains(&v) {
                    return Err(self.err_at(t.pos, format!("undefined variable \"{v}\"")));
                }
                ArgKind::Variable(v, self.trailing_fields())
            }
            Tok::Ident(name) => {
                self.next();
                if !(self.is_func)(&name) {
                    return Err(self.err_at(t.pos, format!("function \"{name}\" not defined")));
                }
                ArgKind::Ident(name)
            }
            Tok::LeftParen => {
                self.next();
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                let close = self.next_non_space();
                if close.kind != Tok::RightParen {
                    return Err(self.err_at(close.pos, "unclosed left paren"));
                }
                let inner = Arg {
                    pos: t.pos,
                    kind: ArgKind::Pipe(Box::new(pipe)),
                };
                let fields = self.trailing_fields();
                if fields.is_empty() {
                    return Ok(Some(inner));
                }
                ArgKind::Chain(Box::new(inner), fields)
            }
            other => {
                return Err(
                    self.err_at(t.pos, format!("unexpected {} in operand", tok_desc(&other)))
                )
            }
        };
        Ok(Some(Arg { pos: t.pos, kind }))
    }

    fn trailing_fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Tok::Field(f) = &self.peek().kind {
            out.push(f.clone());
            self.i += 1;
        }
        out
    }

    fn number(&self, pos: usize, text: &str) -> Result<Number, TemplateError> {
        let clean: String = text.chars().filter(|&c| c != '_').collect();
        let (neg, body) = match clean.strip_prefix('-') {
            Some(b) => (true, b.to_string()),
            None => (false, clean.trim_start_matches('+').to_string()),
        };
        let lower = body.to_ascii_lowercase();
        let int = if let Some(h) = lower.strip_prefix("0x") {
            i64::from_str_radix(h, 16).ok()
        } else if let Some(o) = lower.strip_prefix("0o") {
            i64::from_str_radix(o, 8).ok()
        } else if let Some(b) = lower.strip_prefix("0b") {
            i64::from_str_radix(b, 2).ok()
        } else if lower.len() > 1
            && lower.starts_with('0')
            && lower.chars().all(|c| c.is_ascii_digit())
        {
            i64::from_str_radix(&lower[1..], 8).ok()
        } else {
            lower.parse::<i64>().ok()
        }
        .map(|v| if neg { -v } else { v });
        let float = match int {
            Some(i) => Some(i as f64),
            None => lower.parse::<f64>().ok().map(|v| if neg { -v } else { v }),
        };
        if int.is_none() && float.is_none() {
            return Err(self.err_at(pos, format!("bad number syntax: {text:?}")));
        }
        Ok(Number {
            text: text.to_string(),
            int,
            float,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Tree, String> {
        parse("test", s, &|n| n == "f").map_err(|e| e.to_string())
    }

    #[test]
    fn parses_control_structures() {
        assert!(p("{{ if 1 }}a{{ else if 2 }}b{{ else }}c{{ end }}").is_ok());
        assert!(p("{{ range $i, $e := . }}{{ $i }}{{ end }}").is_ok());
        assert!(p("{{ with $x := 1 }}{{ $x }}{{ end }}").is_ok());
        assert!(p("{{ define \"a\" }}x{{ end }}{{ template \"a\" . }}").is_ok());
        assert!(p("{{ (f 1).A.B | f }}").is_ok());
    }

    #[test]
    fn reports_upstream_errors() {
        assert_eq!(
            p("{{ if 1 }}").err().as_deref(),
            Some("template: test:1: unexpected EOF")
        );
        assert_eq!(
            p("{{ end }}").err().as_deref(),
            Some("template: test:1: unexpected {{end}}")
        );
        assert_eq!(
            p("{{ g 1 }}").err().as_deref(),
            Some("template: test:1: function \"g\" not defined")
        );
        assert_eq!(
            p("\n{{ $x }}").err().as_deref(),
            Some("template: test:2: undefined variable \"$x\"")
        );
        assert!(p("{{ range $i := . }}{{ end }}{{ $i }}").is_err());
    }
}
