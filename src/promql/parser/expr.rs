//! The expression grammar: recursive descent with precedence climbing for
//! binary operators. Mirrors upstream's `generated_parser.y` rule by rule
//! (aggregations, calls, selectors, modifiers), including its "unexpected X
//! in <context>, expected Y" messages. Syntax only: type rules live in `check`.

use super::duration::{fold_constant, is_duration_call};
use super::{ParseError, ParseOptions};
use crate::model::{MatchType, Matcher};
use crate::promql::ast::{
    AggOp, AggregateExpr, AtModifier, BinOp, BinaryExpr, Call, Cardinality, Expr, MatrixSelector,
    NumberLiteral, ParenExpr, PosRange, RangeModifier, StringLiteral, SubqueryExpr, UnaryExpr,
    VectorMatching, VectorSelector,
};
use crate::promql::functions::get_function;
use crate::promql::lexer::{unquote, Keyword, Lexer, Token, TokenKind};

type PResult<T> = Result<T, ParseError>;

/// Upstream gives unary `+`/`-` the precedence of `*`, so its operand is
/// parsed at the next level up, where only `^` binds: `-2^2` is `-(2^2)`,
/// `-a * b` is `(-a) * b`.
const UNARY_PRECEDENCE: u8 = 6;

pub struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    idx: usize,
    lex_error: Option<String>,
    /// End of the last `)`, `]` or `}` consumed (upstream's `lastClosing`).
    last_closing: usize,
    opts: ParseOptions,
    /// Current recursion depth of the descent, bounded by `MAX_NESTING`.
    nesting: usize,
    /// Height of the tree the last `parse_*` call returned, bounded by
    /// `MAX_TREE_DEPTH` so that later recursive walks cannot overflow the stack.
    last_depth: usize,
    /// Operators parsed in duration expressions, bounded by `MAX_TREE_DEPTH`.
    duration_ops: usize,
    /// How errors inside `{...}` name the construct: upstream says "label
    /// matching" for selectors and "label set" for series descriptions.
    label_context: &'static str,
}

/// Deepest nesting of parentheses, calls and operators the parser descends into.
const MAX_NESTING: usize = 100;
/// Tallest expression tree accepted (a chain `a + b + ... ` of n terms is n tall).
const MAX_TREE_DEPTH: usize = 300;

fn binop(kind: TokenKind) -> Option<BinOp> {
    Some(match kind {
        TokenKind::Add => BinOp::Add,
        TokenKind::Sub => BinOp::Sub,
        TokenKind::Mul => BinOp::Mul,
        TokenKind::Div => BinOp::Div,
        TokenKind::Mod => BinOp::Mod,
        TokenKind::Pow => BinOp::Pow,
        TokenKind::Atan2 => BinOp::Atan2,
        TokenKind::Eqlc => BinOp::Eql,
        TokenKind::Neq => BinOp::Neq,
        TokenKind::Gtr => BinOp::Gtr,
        TokenKind::Lss => BinOp::Lss,
        TokenKind::Gte => BinOp::Gte,
        TokenKind::Lte => BinOp::Lte,
        TokenKind::Land => BinOp::And,
        TokenKind::Lor => BinOp::Or,
        TokenKind::Lunless => BinOp::Unless,
        _ => return None,
    })
}

/// Parses a number literal's text as upstream's `parser.number`: integers
/// with Go's base prefixes (so a leading `0` is octal), then floats; `_`
/// separates digits. The error is Go's `strconv` wording.
pub fn parse_number(text: &str) -> Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Ok(f64::NAN),
        _ => {}
    }
    let quoted = crate::model::labels::go_quote(text);
    let invalid = || format!("strconv.ParseFloat: parsing {quoted}: invalid syntax");
    let digits = lower.replace('_', "");
    if let Some(hex) = digits.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16)
            .map(|v| v as f64)
            .map_err(|_| invalid());
    }
    if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(Ok(v)) = digits.get(1..).map(|d| i64::from_str_radix(d, 8)) {
            return Ok(v as f64);
        }
    }
    if digits.is_empty() || digits.contains("inf") || digits.contains("nan") {
        return Err(invalid());
    }
    match digits.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(format!(
            "strconv.ParseFloat: parsing {quoted}: value out of range"
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(invalid()),
    }
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a str, opts: ParseOptions) -> Parser<'a> {
        let (tokens, lex_error) = Lexer::new(input).tokenize();
        Parser {
            input,
            tokens,
            idx: 0,
            lex_error,
            last_closing: 0,
            opts,
            nesting: 0,
            last_depth: 0,
            duration_ops: 0,
            label_context: "label matching",
        }
    }

    // ----- token helpers -----

    fn peek(&self) -> Token {
        self.peek_n(0)
    }

    fn peek_n(&self, n: usize) -> Token {
        match self.tokens.get(self.idx + n).or(self.tokens.last()) {
            Some(t) => *t,
            None => Token {
                kind: TokenKind::Eof,
                start: self.input.len(),
                end: self.input.len(),
            },
        }
    }

    fn next(&mut self) -> Token {
        let t = self.peek();
        if self.idx < self.tokens.len() {
            self.idx += 1;
        }
        if matches!(
            t.kind,
            TokenKind::RightParen | TokenKind::RightBracket | TokenKind::RightBrace
        ) {
            self.last_closing = t.end;
        }
        t
    }

    fn text(&self, t: Token) -> &'a str {
        t.text(self.input)
    }

    fn err(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, msg)
    }

    /// Upstream's `unexpected(context, expected)` for the next token.
    fn unexpected(&self, context: &str, expected: &str) -> ParseError {
        let t = self.peek();
        if t.kind == TokenKind::Error {
            let msg = self
                .lex_error
                .clone()
                .unwrap_or_else(|| "lexer error".into());
            return self.err(PosRange::new(t.start, t.end), msg);
        }
        let mut msg = format!("unexpected {}", t.describe(self.input));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        let end = if t.kind == TokenKind::Eof {
            t.start
        } else {
            t.end
        };
        self.err(PosRange::new(t.start, end), msg)
    }

    fn expect(&mut self, kind: TokenKind, context: &str, expected: &str) -> PResult<Token> {
        if self.peek().kind == kind {
            Ok(self.next())
        } else {
            Err(self.unexpected(context, expected))
        }
    }

    // ----- entry points -----

    pub fn parse_top(mut self) -> PResult<Expr> {
        if self.peek().kind == TokenKind::Eof {
            return Err(self.err(PosRange::new(0, 0), "no expression found in input"));
        }
        let e = self.parse_binary(0)?;
        if self.peek().kind != TokenKind::Eof {
            return Err(self.unexpected("", ""));
        }
        Ok(e)
    }

    /// Parses the metric of a series description (`name{a="b"}`).
    pub fn parse_series_metric(mut self) -> PResult<Expr> {
        self.label_context = "label set";
        self.parse_selector_top()
    }

    pub fn parse_selector_top(mut self) -> PResult<Expr> {
        let t = self.peek();
        let e = match t.kind {
            TokenKind::LeftBrace => self.parse_vector_selector(None)?,
            _ if self.is_metric_identifier(t) => {
                self.next();
                self.parse_vector_selector(Some(t))?
            }
            _ => return Err(self.unexpected("", "")),
        };
        if self.peek().kind != TokenKind::Eof {
            return Err(self.unexpected("", ""));
        }
        Ok(e)
    }

    // ----- expressions -----

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            let t = self.peek();
            return Err(self.err(
                PosRange::new(t.start, t.end),
                format!("expression is nested more than {MAX_NESTING} levels deep, which is not supported by promlite"),
            ));
        }
        Ok(())
    }

    /// Records the height of a node built over children of height `child`.
    fn grew(&mut self, child: usize, pos: PosRange) -> PResult<()> {
        self.last_depth = child + 1;
        if self.last_depth > MAX_TREE_DEPTH {
            return Err(self.err(
                pos,
                format!("expression tree is more than {MAX_TREE_DEPTH} levels deep, which is not supported by promlite"),
            ));
        }
        Ok(())
    }

    fn parse_binary(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let e = self.parse_binary_inner(min_prec);
        self.nesting -= 1;
        e
    }

    fn parse_binary_inner(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.parse_unary()?;
        let mut depth = self.last_depth;
        loop {
            let t = self.peek();
            if matches!(t.kind, TokenKind::TrimUpper | TokenKind::TrimLower) {
                return Err(self.err(
                    PosRange::new(t.start, t.end),
                    format!(
                        "the native histogram trim operator {:?} is not supported by promlite",
                        self.text(t)
                    ),
                ));
            }
            let Some(op) = binop(t.kind) else { break };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.next();
            let (return_bool, matching) = self.parse_bin_modifiers()?;
            let next_min = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs = self.parse_binary(next_min)?;
            self.grew(depth.max(self.last_depth), PosRange::new(t.start, t.end))?;
            depth = self.last_depth;
            let fill = matching.fill_left.is_some() || matching.fill_right.is_some();
            if fill && !self.opts.enable_binop_fill_modifiers {
                return Err(self.err(
                    PosRange::new(lhs.pos_range().start, rhs.pos_range().end),
                    "binop fill modifiers are experimental and not enabled",
                ));
            }
            lhs = Expr::Binary(BinaryExpr {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                matching: Some(matching),
                return_bool,
            });
        }
        self.last_depth = depth;
        Ok(lhs)
    }

    /// `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)`
    /// and the `fill` modifiers after a binary operator.
    fn parse_bin_modifiers(&mut self) -> PResult<(bool, VectorMatching)> {
        let mut vm = VectorMatching::default();
        let mut return_bool = false;
        if self.peek().kind == TokenKind::Keyword(Keyword::Bool) {
            self.next();
            return_bool = true;
        }
        match self.peek().kind {
            TokenKind::Keyword(Keyword::On) | TokenKind::Keyword(Keyword::Ignoring) => {
                vm.on = self.next().kind == TokenKind::Keyword(Keyword::On);
                vm.matching_labels = self.parse_grouping_labels()?;
                match self.peek().kind {
                    TokenKind::Keyword(Keyword::GroupLeft)
                    | TokenKind::Keyword(Keyword::GroupRight) => {
                        vm.card = if self.next().kind == TokenKind::Keyword(Keyword::GroupLeft) {
                            Cardinality::ManyToOne
                        } else {
                            Cardinality::OneToMany
                        };
                        if self.peek().kind == TokenKind::LeftParen {
                            vm.include = self.parse_grouping_labels()?;
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        self.parse_fill_modifiers(&mut vm)?;
        Ok((return_bool, vm))
    }

    fn parse_fill_modifiers(&mut self, vm: &mut VectorMatching) -> PResult<()> {
        loop {
            let which = match self.peek().kind {
                TokenKind::Keyword(Keyword::Fill) => 0,
                TokenKind::Keyword(Keyword::FillLeft) => 1,
                TokenKind::Keyword(Keyword::FillRight) => 2,
                _ => return Ok(()),
            };
            // `fill` followed by something other than `(` is a metric name.
            if self.peek_n(1).kind != TokenKind::LeftParen {
                return Ok(());
            }
            let kw = self.next();
            let ctx = format!("{} modifier", self.text(kw).to_ascii_lowercase());
            self.expect(TokenKind::LeftParen, &ctx, "\"(\"")?;
            let v = self.parse_signed_number(&ctx, "number")?;
            self.expect(TokenKind::RightParen, &ctx, "\")\"")?;
            match which {
                0 => {
                    vm.fill_left = Some(v);
                    vm.fill_right = Some(v);
                }
                1 => vm.fill_left = Some(v),
                _ => vm.fill_right = Some(v),
            }
        }
    }

    /// `[+-] number` as a plain float.
    fn parse_signed_number(&mut self, context: &str, expected: &str) -> PResult<f64> {
        let mut sign = 1.0;
        match self.peek().kind {
            TokenKind::Sub => {
                self.next();
                sign = -1.0;
            }
            TokenKind::Add => {
                self.next();
            }
            _ => {}
        }
        let t = self.peek();
        if t.kind != TokenKind::Number {
            return Err(self.unexpected(context, expected));
        }
        self.next();
        let v = self.number_value(t)?;
        Ok(sign * v)
    }

    fn number_value(&self, t: Token) -> PResult<f64> {
        let text = self.text(t);
        parse_number(text).map_err(|e| {
            self.err(
                PosRange::new(t.start, t.end),
                format!("error parsing number: {e}"),
            )
        })
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let t = self.peek();
        let op = match t.kind {
            TokenKind::Sub => BinOp::Sub,
            TokenKind::Add => BinOp::Add,
            _ => return self.parse_postfix_primary(),
        };
        self.next();
        let operand = self.parse_binary(UNARY_PRECEDENCE)?;
        if !matches!(operand, Expr::NumberLiteral(_)) {
            self.grew(self.last_depth, PosRange::new(t.start, t.end))?;
        }
        Ok(match operand {
            Expr::NumberLiteral(mut n) => {
                if op == BinOp::Sub {
                    n.val = -n.val;
                }
                n.pos.start = t.start;
                Expr::NumberLiteral(n)
            }
            other => Expr::Unary(UnaryExpr {
                op,
                expr: Box::new(other),
                start_pos: t.start,
            }),
        })
    }

    fn parse_postfix_primary(&mut self) -> PResult<Expr> {
        let mut e = self.parse_primary()?;
        loop {
            match self.peek().kind {
                TokenKind::LeftBracket => {
                    let child = self.last_depth;
                    e = self.parse_range_or_subquery(e)?;
                    self.grew(child, e.pos_range())?;
                }
                TokenKind::Keyword(Keyword::Offset) => e = self.parse_offset(e)?,
                TokenKind::At => e = self.parse_at(e)?,
                TokenKind::Keyword(Keyword::Anchored) | TokenKind::Keyword(Keyword::Smoothed) => {
                    e = self.parse_range_modifier(e)?
                }
                _ => return Ok(e),
            }
        }
    }

    /// Words that may name a metric (upstream's `metric_identifier`).
    fn is_metric_identifier(&self, t: Token) -> bool {
        matches!(
            t.kind,
            TokenKind::Identifier
                | TokenKind::MetricIdentifier
                | TokenKind::Aggregator(_)
                | TokenKind::Land
                | TokenKind::Lor
                | TokenKind::Lunless
                | TokenKind::Keyword(
                    Keyword::By
                        | Keyword::Without
                        | Keyword::Offset
                        | Keyword::Start
                        | Keyword::End
                        | Keyword::Step
                        | Keyword::Range
                        | Keyword::Anchored
                        | Keyword::Smoothed
                        | Keyword::Fill
                        | Keyword::FillLeft
                        | Keyword::FillRight
                )
        )
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let t = self.peek();
        self.last_depth = 1;
        match t.kind {
            TokenKind::Number => {
                self.next();
                Ok(Expr::NumberLiteral(NumberLiteral {
                    val: self.number_value(t)?,
                    duration: false,
                    pos: PosRange::new(t.start, t.end),
                }))
            }
            TokenKind::Duration => {
                self.next();
                Ok(Expr::NumberLiteral(self.duration_literal(t)?))
            }
            TokenKind::String => {
                self.next();
                let val = unquote(self.text(t))
                    .map_err(|e| self.err(PosRange::new(t.start, t.end), e))?;
                Ok(Expr::StringLiteral(StringLiteral {
                    val,
                    pos: PosRange::new(t.start, t.end),
                }))
            }
            TokenKind::LeftParen => {
                self.next();
                let inner = self.parse_binary(0)?;
                self.grew(self.last_depth, PosRange::new(t.start, t.end))?;
                let close = self.expect(TokenKind::RightParen, "", "")?;
                Ok(Expr::Paren(ParenExpr {
                    expr: Box::new(inner),
                    pos: PosRange::new(t.start, close.end),
                }))
            }
            TokenKind::LeftBrace => self.parse_vector_selector(None),
            TokenKind::Aggregator(op)
                if matches!(
                    self.peek_n(1).kind,
                    TokenKind::LeftParen
                        | TokenKind::Keyword(Keyword::By)
                        | TokenKind::Keyword(Keyword::Without)
                ) =>
            {
                self.parse_aggregate(op)
            }
            TokenKind::Identifier if self.peek_n(1).kind == TokenKind::LeftParen => {
                self.parse_call()
            }
            TokenKind::Keyword(Keyword::Start | Keyword::End | Keyword::Step | Keyword::Range)
                if self.peek_n(1).kind == TokenKind::LeftParen =>
            {
                self.parse_call()
            }
            _ if self.is_metric_identifier(t) => {
                self.next();
                self.parse_vector_selector(Some(t))
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    fn duration_literal(&self, t: Token) -> PResult<NumberLiteral> {
        let text = self.text(t);
        let ms = crate::model::duration::parse_duration(text)
            .map_err(|e| self.err(PosRange::new(t.start, t.end), duration_error(text, e)))?;
        Ok(NumberLiteral {
            val: ms as f64 / 1000.0,
            duration: true,
            pos: PosRange::new(t.start, t.end),
        })
    }

    // ----- aggregations and calls -----

    fn parse_aggregate(&mut self, op: AggOp) -> PResult<Expr> {
        let op_tok = self.next();
        let mut grouping = Vec::new();
        let mut without = false;
        let mut have_modifier = false;
        if let TokenKind::Keyword(kw @ (Keyword::By | Keyword::Without)) = self.peek().kind {
            self.next();
            without = kw == Keyword::Without;
            grouping = self.parse_grouping_labels()?;
            have_modifier = true;
        }
        if self.peek().kind != TokenKind::LeftParen {
            return Err(self.unexpected("aggregation", ""));
        }
        let args = self.parse_call_args()?;
        self.grew(self.last_depth, PosRange::new(op_tok.start, op_tok.end))?;
        if !have_modifier {
            if let TokenKind::Keyword(kw @ (Keyword::By | Keyword::Without)) = self.peek().kind {
                self.next();
                without = kw == Keyword::Without;
                grouping = self.parse_grouping_labels()?;
            }
        }
        let pos = PosRange::new(op_tok.start, self.last_closing);
        if matches!(op, AggOp::Limitk | AggOp::LimitRatio)
            && !self.opts.enable_experimental_functions
        {
            return Err(self.err(
                PosRange::new(op_tok.start, self.last_closing),
                format!(
                    "{}() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
                    op.as_str()
                ),
            ));
        }
        let desired = if op.has_param() { 2 } else { 1 };
        if args.is_empty() {
            return Err(self.err(pos, "no arguments for aggregate expression provided"));
        }
        if args.len() != desired {
            return Err(self.err(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            ));
        }
        let mut args = args.into_iter();
        let param = if op.has_param() {
            args.next().map(Box::new)
        } else {
            None
        };
        let expr = args
            .next()
            .ok_or_else(|| self.err(pos, "no arguments for aggregate expression provided"))?;
        Ok(Expr::Aggregate(AggregateExpr {
            op,
            expr: Box::new(expr),
            param,
            grouping,
            without,
            pos,
        }))
    }

    /// `( label, ... )` after `by`, `without`, `on`, `ignoring`, `group_*`.
    fn parse_grouping_labels(&mut self) -> PResult<Vec<String>> {
        if self.peek().kind != TokenKind::LeftParen {
            return Err(self.unexpected("grouping opts", "\"(\""));
        }
        self.next();
        let mut labels = Vec::new();
        loop {
            let t = self.peek();
            if t.kind == TokenKind::RightParen {
                self.next();
                return Ok(labels);
            }
            let label = match t.kind {
                TokenKind::String => {
                    unquote(self.text(t)).map_err(|e| self.err(PosRange::new(t.start, t.end), e))?
                }
                TokenKind::Identifier
                | TokenKind::Aggregator(_)
                | TokenKind::Keyword(_)
                | TokenKind::Land
                | TokenKind::Lor
                | TokenKind::Lunless
                | TokenKind::Atan2 => self.text(t).to_string(),
                _ => return Err(self.unexpected("grouping opts", "label")),
            };
            self.next();
            labels.push(label);
            match self.peek().kind {
                TokenKind::Comma => {
                    self.next();
                }
                TokenKind::RightParen => {}
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    /// `( expr, ... )`.
    fn parse_call_args(&mut self) -> PResult<Vec<Expr>> {
        self.expect(TokenKind::LeftParen, "function call", "\"(\"")?;
        let mut args = Vec::new();
        self.last_depth = 0;
        if self.peek().kind == TokenKind::RightParen {
            self.next();
            return Ok(args);
        }
        let mut depth = 0;
        loop {
            args.push(self.parse_binary(0)?);
            depth = depth.max(self.last_depth);
            self.last_depth = depth;
            match self.peek().kind {
                TokenKind::Comma => {
                    let comma = self.next();
                    if self.peek().kind == TokenKind::RightParen {
                        return Err(self.err(
                            PosRange::new(comma.start, comma.end),
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                TokenKind::RightParen => {
                    self.next();
                    return Ok(args);
                }
                _ => return Err(self.unexpected("", "")),
            }
        }
    }

    fn parse_call(&mut self) -> PResult<Expr> {
        let name_tok = self.next();
        let written = self.text(name_tok);
        // step(), range(), start() and end() are keywords, matched in any case.
        let name = if matches!(name_tok.kind, TokenKind::Keyword(_)) {
            written.to_ascii_lowercase()
        } else {
            written.to_string()
        };
        let name_pos = PosRange::new(name_tok.start, name_tok.end);
        let Some(sig) = get_function(&name) else {
            return Err(self.err(
                name_pos,
                format!(
                    "unknown function with name {}",
                    crate::model::labels::go_quote(&name)
                ),
            ));
        };
        if sig.experimental && !self.opts.enable_experimental_functions {
            return Err(self.err(
                name_pos,
                format!(
                    "function {} is not enabled",
                    crate::model::labels::go_quote(&name)
                ),
            ));
        }
        let args = self.parse_call_args()?;
        self.grew(self.last_depth, name_pos)?;
        Ok(Expr::Call(Call {
            name,
            args,
            pos: PosRange::new(name_tok.start, self.last_closing),
        }))
    }

    // ----- selectors -----

    fn parse_vector_selector(&mut self, name_tok: Option<Token>) -> PResult<Expr> {
        let mut matchers = Vec::new();
        let start = name_tok.map(|t| t.start).unwrap_or(self.peek().start);
        let mut end = name_tok.map(|t| t.end).unwrap_or(start);
        let name = name_tok.map(|t| self.text(t).to_string());
        if self.peek().kind == TokenKind::LeftBrace {
            self.next();
            matchers = self.parse_label_matchers()?;
            end = self.last_closing;
        }
        if let Some(n) = &name {
            matchers.push(Matcher::equal("__name__", n.clone()));
        }
        Ok(Expr::VectorSelector(VectorSelector {
            name,
            matchers,
            original_offset: 0,
            offset_expr: None,
            timestamp: None,
            start_or_end: None,
            modifier: RangeModifier::None,
            pos: PosRange::new(start, end),
        }))
    }

    /// The matchers between `{` (consumed) and `}`.
    fn parse_label_matchers(&mut self) -> PResult<Vec<Matcher>> {
        let mut matchers = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                TokenKind::RightBrace => {
                    self.next();
                    return Ok(matchers);
                }
                TokenKind::Identifier | TokenKind::String => {
                    self.next();
                    let label = if t.kind == TokenKind::String {
                        unquote(self.text(t))
                            .map_err(|e| self.err(PosRange::new(t.start, t.end), e))?
                    } else {
                        self.text(t).to_string()
                    };
                    let kind = match self.peek().kind {
                        TokenKind::Eql => Some(MatchType::Equal),
                        TokenKind::Neq => Some(MatchType::NotEqual),
                        TokenKind::EqlRegex => Some(MatchType::Regex),
                        TokenKind::NeqRegex => Some(MatchType::NotRegex),
                        _ => None,
                    };
                    match kind {
                        Some(kind) => {
                            self.next();
                            let v = self.peek();
                            if v.kind != TokenKind::String {
                                return Err(self.unexpected(self.label_context, "string"));
                            }
                            self.next();
                            let value = unquote(self.text(v))
                                .map_err(|e| self.err(PosRange::new(v.start, v.end), e))?;
                            let m = Matcher::new(kind, label, value).map_err(|e| {
                                self.err(PosRange::new(t.start, v.end), e.to_string())
                            })?;
                            matchers.push(m);
                        }
                        None if t.kind == TokenKind::String => {
                            // A lone quoted string is the metric name.
                            matchers.push(Matcher::equal("__name__", label));
                        }
                        None => {
                            return Err(
                                self.unexpected(self.label_context, "label matching operator")
                            )
                        }
                    }
                }
                _ => return Err(self.unexpected(self.label_context, "identifier or \"}\"")),
            }
            match self.peek().kind {
                TokenKind::Comma => {
                    self.next();
                }
                TokenKind::RightBrace => {}
                _ => return Err(self.unexpected(self.label_context, "\",\" or \"}\"")),
            }
        }
    }

    /// `[range]`, `[range:step]` or `[range:]` after `expr`.
    fn parse_range_or_subquery(&mut self, e: Expr) -> PResult<Expr> {
        let open = self.next();
        if !self.starts_duration_expr() {
            // `step`/`range` without `(`: upstream complains about what follows.
            if matches!(
                self.peek().kind,
                TokenKind::Keyword(Keyword::Step | Keyword::Range)
            ) {
                self.next();
            }
            return Err(self.unexpected(
                "subquery or range selector",
                "number, duration, step(), or range()",
            ));
        }
        let range = self.parse_duration_expr(0)?;
        match self.peek().kind {
            TokenKind::RightBracket => {
                let close = self.next();
                let msg = match &e {
                    Expr::VectorSelector(vs)
                        if vs.original_offset != 0 || vs.offset_expr.is_some() =>
                    {
                        Some("no offset modifiers allowed before range")
                    }
                    Expr::VectorSelector(vs)
                        if vs.timestamp.is_some() || vs.start_or_end.is_some() =>
                    {
                        Some("no @ modifiers allowed before range")
                    }
                    Expr::VectorSelector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(msg) = msg {
                    return Err(self.err(PosRange::new(open.start, close.end), msg));
                }
                let (range_ms, range_expr) = self.duration_value(range, true)?;
                Ok(Expr::MatrixSelector(MatrixSelector {
                    vector_selector: Box::new(e),
                    range: range_ms,
                    range_expr,
                    end_pos: close.end,
                }))
            }
            TokenKind::Colon => {
                self.next();
                let mut step = (0, None);
                if self.peek().kind != TokenKind::RightBracket {
                    if !self.starts_duration_expr() {
                        return Err(self.unexpected(
                            "subquery selector",
                            "number, duration, step(), range(), or \"]\"",
                        ));
                    }
                    let s = self.parse_duration_expr(0)?;
                    step = self.duration_value(s, true)?;
                }
                if self.peek().kind != TokenKind::RightBracket {
                    return Err(self.unexpected("subquery selector", "\"]\""));
                }
                let close = self.next();
                let (range_ms, range_expr) = self.duration_value(range, true)?;
                Ok(Expr::Subquery(SubqueryExpr {
                    expr: Box::new(e),
                    range: range_ms,
                    range_expr,
                    step: step.0,
                    step_expr: step.1,
                    original_offset: 0,
                    offset_expr: None,
                    timestamp: None,
                    start_or_end: None,
                    end_pos: close.end,
                }))
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    /// Splits a parsed duration expression into its constant value in ms
    /// (when it has one) and the expression to keep (when it is not a plain literal).
    fn duration_value(&self, e: Expr, must_be_positive: bool) -> PResult<(i64, Option<Box<Expr>>)> {
        let pos = e.pos_range();
        let literal = matches!(e, Expr::NumberLiteral(_));
        if !literal && !self.opts.experimental_duration_expr {
            return Err(self.err(pos, "experimental duration expression is not enabled"));
        }
        let folded = fold_constant(&e);
        if let Some(secs) = folded {
            if !secs.is_finite() {
                return Err(self.err(pos, "duration must be a finite number"));
            }
            let ms = (secs * 1000.0).round() as i64;
            // Only a literal is checked here; an expression such as `-2^2`
            // is checked when the engine resolves it, as upstream does.
            if must_be_positive && literal && ms <= 0 {
                return Err(self.err(pos, "duration must be greater than 0"));
            }
            if literal {
                return Ok((ms, None));
            }
            return Ok((ms, Some(Box::new(e))));
        }
        Ok((0, Some(Box::new(e))))
    }

    fn starts_duration_expr(&self) -> bool {
        let t = self.peek();
        match t.kind {
            TokenKind::Number
            | TokenKind::Duration
            | TokenKind::LeftParen
            | TokenKind::Add
            | TokenKind::Sub => true,
            TokenKind::Keyword(Keyword::Step | Keyword::Range) => {
                self.peek_n(1).kind == TokenKind::LeftParen
            }
            TokenKind::Identifier => {
                is_duration_call(self.text(t)) && self.peek_n(1).kind == TokenKind::LeftParen
            }
            _ => false,
        }
    }

    /// An arithmetic expression over numbers (seconds), durations, `step()`,
    /// `range()`, `min_of()` and `max_of()`, as allowed in `[...]` and after `offset`.
    fn parse_duration_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let e = self.parse_duration_expr_inner(min_prec);
        self.nesting -= 1;
        e
    }

    fn parse_duration_expr_inner(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.parse_duration_unary()?;
        loop {
            let t = self.peek();
            let op = match t.kind {
                TokenKind::Add => BinOp::Add,
                TokenKind::Sub => BinOp::Sub,
                TokenKind::Mul => BinOp::Mul,
                TokenKind::Div => BinOp::Div,
                TokenKind::Mod => BinOp::Mod,
                TokenKind::Pow => BinOp::Pow,
                _ => break,
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.duration_ops += 1;
            if self.duration_ops > MAX_TREE_DEPTH {
                return Err(self.err(
                    PosRange::new(t.start, t.end),
                    format!("duration expression has more than {MAX_TREE_DEPTH} operators, which is not supported by promlite"),
                ));
            }
            self.next();
            let next_min = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs = self.parse_duration_expr(next_min)?;
            if matches!(op, BinOp::Div | BinOp::Mod) && fold_constant(&rhs) == Some(0.0) {
                let what = if op == BinOp::Div {
                    "division"
                } else {
                    "modulo"
                };
                return Err(self.err(PosRange::new(t.start, t.end), format!("{what} by zero")));
            }
            lhs = Expr::Binary(BinaryExpr {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                matching: None,
                return_bool: false,
            });
        }
        Ok(lhs)
    }

    fn parse_duration_unary(&mut self) -> PResult<Expr> {
        let t = self.peek();
        let op = match t.kind {
            TokenKind::Sub => BinOp::Sub,
            TokenKind::Add => BinOp::Add,
            _ => return self.parse_duration_atom(),
        };
        self.next();
        let operand = self.parse_duration_expr(UNARY_PRECEDENCE)?;
        Ok(negate_or_wrap(op, t.start, operand))
    }

    fn parse_duration_atom(&mut self) -> PResult<Expr> {
        let t = self.peek();
        match t.kind {
            TokenKind::Number => {
                self.next();
                let val = self.number_value(t)?;
                // Upstream converts seconds to nanoseconds in an int64.
                if val.is_nan() || val.abs() * 1e9 >= i64::MAX as f64 {
                    return Err(self.err(PosRange::new(t.start, t.end), "duration out of range"));
                }
                Ok(Expr::NumberLiteral(NumberLiteral {
                    val,
                    duration: false,
                    pos: PosRange::new(t.start, t.end),
                }))
            }
            TokenKind::Duration => {
                self.next();
                Ok(Expr::NumberLiteral(self.duration_literal(t)?))
            }
            TokenKind::LeftParen => {
                self.next();
                let inner = self.parse_duration_expr(0)?;
                let close = self.expect(TokenKind::RightParen, "duration expression", "\")\"")?;
                Ok(Expr::Paren(ParenExpr {
                    expr: Box::new(inner),
                    pos: PosRange::new(t.start, close.end),
                }))
            }
            TokenKind::Keyword(Keyword::Step | Keyword::Range) => {
                self.next();
                self.expect(TokenKind::LeftParen, "duration expression", "\"(\"")?;
                self.expect(TokenKind::RightParen, "duration expression", "\")\"")?;
                Ok(Expr::Call(Call {
                    name: self.text(t).to_ascii_lowercase(),
                    args: Vec::new(),
                    pos: PosRange::new(t.start, self.last_closing),
                }))
            }
            TokenKind::Identifier if is_duration_call(self.text(t)) => {
                self.next();
                self.expect(TokenKind::LeftParen, "duration expression", "\"(\"")?;
                let a = self.parse_duration_expr(0)?;
                self.expect(TokenKind::Comma, "duration expression", "\",\"")?;
                let b = self.parse_duration_expr(0)?;
                self.expect(TokenKind::RightParen, "duration expression", "\")\"")?;
                Ok(Expr::Call(Call {
                    name: self.text(t).to_string(),
                    args: vec![a, b],
                    pos: PosRange::new(t.start, self.last_closing),
                }))
            }
            _ => Err(self.unexpected(
                "duration expression",
                "number, duration, step(), or range()",
            )),
        }
    }

    // ----- offset, @, anchored/smoothed -----

    fn parse_offset(&mut self, mut e: Expr) -> PResult<Expr> {
        self.next();
        // After `offset` only a signed atom is taken: `x offset 1m + 2` adds 2 to the selector.
        let t = self.peek();
        let value = match t.kind {
            TokenKind::Sub | TokenKind::Add => {
                self.next();
                if !self.starts_duration_expr() {
                    return Err(self.unexpected("offset", "number, duration, step(), or range()"));
                }
                let op = if t.kind == TokenKind::Sub {
                    BinOp::Sub
                } else {
                    BinOp::Add
                };
                let atom = self.parse_duration_atom()?;
                negate_or_wrap(op, t.start, atom)
            }
            _ => {
                if !self.starts_duration_expr() {
                    return Err(self.unexpected("offset", "number, duration, step(), or range()"));
                }
                self.parse_duration_atom()?
            }
        };
        let (offset_ms, offset_expr) = self.duration_value(value, false)?;
        let epos = e.pos_range();
        let last_closing = self.last_closing;
        let end_after = self
            .tokens
            .get(self.idx.saturating_sub(1))
            .map(|t| t.end)
            .unwrap_or(last_closing);
        let (orig, expr_slot, end) = match &mut e {
            Expr::VectorSelector(vs) => (&mut vs.original_offset, &mut vs.offset_expr, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => match ms.vector_selector.as_mut() {
                Expr::VectorSelector(vs) => (&mut vs.original_offset, &mut vs.offset_expr, &mut ms.end_pos),
                _ => return Err(self.err(epos, "ranges only allowed for vector selectors")),
            },
            Expr::Subquery(sq) => (&mut sq.original_offset, &mut sq.offset_expr, &mut sq.end_pos),
            _ => {
                return Err(self.err(
                    epos,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if *orig != 0 || expr_slot.is_some() {
            return Err(self.err(epos, "offset may not be set multiple times"));
        }
        *orig = offset_ms;
        *expr_slot = offset_expr;
        *end = end_after;
        Ok(e)
    }

    fn parse_at(&mut self, mut e: Expr) -> PResult<Expr> {
        self.next();
        let t = self.peek();
        enum At {
            Ts(f64),
            Pre(AtModifier),
        }
        let at = match t.kind {
            TokenKind::Keyword(kw @ (Keyword::Start | Keyword::End)) => {
                self.next();
                self.expect(TokenKind::LeftParen, "@", "\"(\"")?;
                self.expect(TokenKind::RightParen, "@", "\")\"")?;
                At::Pre(if kw == Keyword::Start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                })
            }
            TokenKind::Number | TokenKind::Add | TokenKind::Sub => {
                At::Ts(self.parse_signed_number("@", "timestamp")?)
            }
            TokenKind::Duration => {
                self.next();
                At::Ts(self.duration_literal(t)?.val)
            }
            _ => return Err(self.unexpected("@", "timestamp")),
        };
        let epos = e.pos_range();
        let end_after = self
            .tokens
            .get(self.idx.saturating_sub(1))
            .map(|t| t.end)
            .unwrap_or(0);
        if let At::Ts(ts) = at {
            if !ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64 {
                return Err(self.err(
                    epos,
                    format!(
                        "timestamp out of bounds for @ modifier: {}",
                        go_format_f(ts)
                    ),
                ));
            }
        }
        let (timestamp, start_or_end, end) = match &mut e {
            Expr::VectorSelector(vs) => (&mut vs.timestamp, &mut vs.start_or_end, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => match ms.vector_selector.as_mut() {
                Expr::VectorSelector(vs) => (&mut vs.timestamp, &mut vs.start_or_end, &mut ms.end_pos),
                _ => return Err(self.err(epos, "ranges only allowed for vector selectors")),
            },
            Expr::Subquery(sq) => (&mut sq.timestamp, &mut sq.start_or_end, &mut sq.end_pos),
            _ => {
                return Err(self.err(
                    epos,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if timestamp.is_some() || start_or_end.is_some() {
            return Err(self.err(epos, "@ <timestamp> may not be set multiple times"));
        }
        match at {
            At::Ts(ts) => *timestamp = Some((ts * 1000.0).round() as i64),
            At::Pre(p) => *start_or_end = Some(p),
        }
        *end = end_after;
        Ok(e)
    }

    fn parse_range_modifier(&mut self, mut e: Expr) -> PResult<Expr> {
        let t = self.next();
        let modifier = if t.kind == TokenKind::Keyword(Keyword::Anchored) {
            RangeModifier::Anchored
        } else {
            RangeModifier::Smoothed
        };
        let word = if modifier == RangeModifier::Anchored {
            "anchored"
        } else {
            "smoothed"
        };
        let epos = e.pos_range();
        if !self.opts.enable_extended_range_selectors {
            return Err(self.err(
                epos,
                format!("{word} modifier is experimental and not enabled"),
            ));
        }
        let (slot, end) = match &mut e {
            Expr::VectorSelector(vs) => (&mut vs.modifier, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => match ms.vector_selector.as_mut() {
                Expr::VectorSelector(vs) => (&mut vs.modifier, &mut ms.end_pos),
                _ => return Err(self.err(epos, "ranges only allowed for vector selectors")),
            },
            Expr::Subquery(_) => {
                return Err(self.err(
                    epos,
                    format!("{word} modifier is not supported for subqueries"),
                ))
            }
            _ => {
                return Err(self.err(
                    epos,
                    format!("{word} modifier must be preceded by an instant vector selector or range vector selector"),
                ))
            }
        };
        if *slot != RangeModifier::None && *slot != modifier {
            return Err(self.err(
                epos,
                "anchored and smoothed modifiers cannot be used together",
            ));
        }
        *slot = modifier;
        *end = t.end;
        Ok(e)
    }
}

/// Upstream's `model.ParseDuration` names an unknown unit before
/// complaining about the form.
fn duration_error(text: &str, e: crate::model::duration::DurationError) -> String {
    const UNITS: &[&str] = &["y", "w", "d", "h", "m", "s", "ms"];
    let unknown = text
        .split(|c: char| c.is_ascii_digit())
        .find(|u| !u.is_empty() && !UNITS.contains(u));
    match unknown {
        Some(u) => format!(
            "unknown unit {} in duration {}",
            crate::model::labels::go_quote(u),
            crate::model::labels::go_quote(text)
        ),
        None => e.to_string(),
    }
}

/// Go's `%f`: six decimals, and `+Inf`/`-Inf`/`NaN` spelled as Go does.
fn go_format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v:.6}")
    }
}

/// Unary minus on a literal folds into the literal, as upstream does.
fn negate_or_wrap(op: BinOp, start: usize, operand: Expr) -> Expr {
    match operand {
        Expr::NumberLiteral(mut n) => {
            if op == BinOp::Sub {
                n.val = -n.val;
            }
            n.pos.start = start;
            Expr::NumberLiteral(n)
        }
        other => Expr::Unary(UnaryExpr {
            op,
            expr: Box::new(other),
            start_pos: start,
        }),
    }
}
