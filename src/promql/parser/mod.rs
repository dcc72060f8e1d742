//! The PromQL parser: query text to a type-checked `ast::Expr`, plus the two
//! smaller languages upstream parses with the same machinery: metric
//! selectors (`match[]`) and promqltest series descriptions.
//!
//! `expr` is a hand-written recursive-descent parser with precedence
//! climbing for binary operators, over tokens from `lexer`; `check` applies
//! upstream's type rules (`checkAST`) to the finished tree; `series` parses
//! `load` lines. Errors carry upstream's messages and positions, and print as
//! upstream's `ParseErrors.Error()` does (`1:14: parse error: ...`). The parser
//! never evaluates anything except constant duration expressions.

mod check;
mod duration;
mod expr;
mod series;

use std::fmt;
use std::sync::RwLock;

use super::ast::{Expr, PosRange};
use crate::model::Matcher;

pub use duration::{eval_duration_expr, DurationContext};
pub use series::{parse_series_desc, SequenceValue};

/// A query did not parse or type-check.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// Byte range in the query the error points at.
    pub pos: PosRange,
    pub msg: String,
    /// 1-based line and (byte) column of `pos.start`, as upstream counts them.
    pub line: usize,
    pub col: usize,
}

impl ParseError {
    pub fn new(input: &str, pos: PosRange, msg: impl Into<String>) -> ParseError {
        let start = pos.start.min(input.len());
        let before = input.get(..start).unwrap_or("");
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => start - nl,
            None => start + 1,
        };
        ParseError {
            pos,
            msg: msg.into(),
            line,
            col,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: parse error: {}", self.line, self.col, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// Language features upstream keeps behind `--enable-feature` flags. With a
/// feature off, using it is a parse error worded as upstream's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// `promql-experimental-functions`: experimental functions and the
    /// `limitk`/`limit_ratio` aggregations.
    pub enable_experimental_functions: bool,
    /// `promql-duration-expr`: arithmetic, `step()`, `range()`, `min_of()`
    /// and `max_of()` in ranges, subquery steps and offsets.
    pub experimental_duration_expr: bool,
    /// `promql-extended-range-selectors`: the `anchored`/`smoothed` modifiers.
    pub enable_extended_range_selectors: bool,
    /// `promql-binop-fill-modifiers`: `fill()`, `fill_left()`, `fill_right()`.
    pub enable_binop_fill_modifiers: bool,
}

impl ParseOptions {
    /// Every experimental feature on, as upstream's test scripts run.
    pub const ALL: ParseOptions = ParseOptions {
        enable_experimental_functions: true,
        experimental_duration_expr: true,
        enable_extended_range_selectors: true,
        enable_binop_fill_modifiers: true,
    };
}

impl Default for ParseOptions {
    /// The process-wide options set with `set_default_options`.
    fn default() -> Self {
        match DEFAULT_OPTIONS.read() {
            Ok(o) => *o,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// Process-wide defaults, like upstream's package-level parser flags. All
/// features start enabled so upstream's test scripts run unchanged; the
/// server narrows them from `--enable-feature` at startup.
static DEFAULT_OPTIONS: RwLock<ParseOptions> = RwLock::new(ParseOptions::ALL);

/// Sets the options `parse_expr` and `ParseOptions::default()` use.
pub fn set_default_options(opts: ParseOptions) {
    match DEFAULT_OPTIONS.write() {
        Ok(mut o) => *o = opts,
        Err(poisoned) => *poisoned.into_inner() = opts,
    }
}

/// Parses and type-checks a PromQL expression.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    parse_expr_with_options(input, &ParseOptions::default())
}

/// `parse_expr` with explicit feature options.
pub fn parse_expr_with_options(input: &str, opts: &ParseOptions) -> Result<Expr, ParseError> {
    let mut expr = expr::Parser::new(input, *opts).parse_top()?;
    check::check(input, &mut expr)?;
    Ok(expr)
}

/// Parses a metric selector such as `up{job="x"}` (the API's `match[]`).
/// Like upstream's `ParseMetricSelector` it does not insist on a non-empty
/// matcher: the API layer reports that with its own message.
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let expr = expr::Parser::new(input, ParseOptions::default()).parse_selector_top()?;
    match expr {
        Expr::VectorSelector(vs) => Ok(vs.matchers),
        other => Err(ParseError::new(
            input,
            other.pos_range(),
            "expected a metric selector",
        )),
    }
}

impl Expr {
    /// The byte range of the expression in the query text.
    pub fn pos_range(&self) -> PosRange {
        match self {
            Expr::Aggregate(e) => e.pos,
            Expr::Binary(e) => PosRange::new(e.lhs.pos_range().start, e.rhs.pos_range().end),
            Expr::Call(e) => e.pos,
            Expr::MatrixSelector(e) => {
                PosRange::new(e.vector_selector.pos_range().start, e.end_pos)
            }
            Expr::Subquery(e) => PosRange::new(e.expr.pos_range().start, e.end_pos),
            Expr::NumberLiteral(e) => e.pos,
            Expr::Paren(e) => e.pos,
            Expr::StringLiteral(e) => e.pos,
            Expr::Unary(e) => PosRange::new(e.start_pos, e.expr.pos_range().end),
            Expr::VectorSelector(e) => e.pos,
            Expr::StepInvariant(e) => e.expr.pos_range(),
        }
    }
}

#[cfg(test)]
mod tests;
