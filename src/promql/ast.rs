//! The PromQL syntax tree, shaped like upstream's `parser` package so that a
//! Prometheus engineer finds the same nouns. Positions are byte offsets into
//! the query string; durations are milliseconds.

use crate::model::Matcher;

/// A half-open byte range `[start, end)` in the query text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PosRange {
    pub start: usize,
    pub end: usize,
}

impl PosRange {
    pub fn new(start: usize, end: usize) -> PosRange {
        PosRange { start, end }
    }
}

/// The type an expression evaluates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    None,
    Vector,
    Scalar,
    Matrix,
    String,
}

impl ValueType {
    /// Upstream's names, used in error messages ("instant vector", "range vector", ...).
    pub fn document_name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Vector => "instant vector",
            ValueType::Scalar => "scalar",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }

    /// Upstream's API `resultType` names.
    pub fn api_name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Vector => "vector",
            ValueType::Scalar => "scalar",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

/// Any PromQL expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Aggregate(AggregateExpr),
    Binary(BinaryExpr),
    Call(Call),
    MatrixSelector(MatrixSelector),
    Subquery(SubqueryExpr),
    NumberLiteral(NumberLiteral),
    Paren(ParenExpr),
    StringLiteral(StringLiteral),
    Unary(UnaryExpr),
    VectorSelector(VectorSelector),
    /// Wraps a sub-tree whose value is the same at every step of a range
    /// query; inserted by the engine's preprocessing, never by the parser.
    StepInvariant(StepInvariantExpr),
}

/// Aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggOp {
    Sum,
    Min,
    Max,
    Avg,
    Group,
    Stddev,
    Stdvar,
    Count,
    CountValues,
    Bottomk,
    Topk,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggOp {
    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Avg => "avg",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Count => "count",
            AggOp::CountValues => "count_values",
            AggOp::Bottomk => "bottomk",
            AggOp::Topk => "topk",
            AggOp::Quantile => "quantile",
            AggOp::Limitk => "limitk",
            AggOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the operator takes a parameter before the vector.
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggOp::CountValues
                | AggOp::Bottomk
                | AggOp::Topk
                | AggOp::Quantile
                | AggOp::Limitk
                | AggOp::LimitRatio
        )
    }
}

/// `sum by (a) (x)`, `topk(3, x)`, ...
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    pub op: AggOp,
    pub expr: Box<Expr>,
    pub param: Option<Box<Expr>>,
    pub grouping: Vec<String>,
    /// `without (...)` instead of `by (...)`.
    pub without: bool,
    pub pos: PosRange,
}

/// Binary operators, arithmetic, comparison and set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Gtr => ">",
            BinOp::Lss => "<",
            BinOp::Gte => ">=",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// Upstream precedence: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Atan2 => 5,
            BinOp::Pow => 6,
        }
    }

    pub fn is_right_associative(self) -> bool {
        self == BinOp::Pow
    }
}

/// How the two sides of a vector/vector binary operation are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)` and fill values.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// Labels listed in `on` or `ignoring`.
    pub matching_labels: Vec<String>,
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    /// Extra labels of `group_left(...)`/`group_right(...)`.
    pub include: Vec<String>,
    /// `fill(v)` / `fill_left(v)` / `fill_right(v)` (experimental upstream modifiers).
    pub fill_left: Option<f64>,
    pub fill_right: Option<f64>,
}

impl Default for VectorMatching {
    fn default() -> Self {
        VectorMatching {
            card: Cardinality::OneToOne,
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill_left: None,
            fill_right: None,
        }
    }
}

/// `a + b`, `a > bool b`, `a and on(x) b`, ...
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    pub op: BinOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    /// Present when both sides are vectors (and for set operators always).
    pub matching: Option<VectorMatching>,
    /// The `bool` modifier on a comparison.
    pub return_bool: bool,
}

/// A function call; `name` is one of upstream's functions, checked by the parser.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Expr>,
    pub pos: PosRange,
}

/// `start()` / `end()` in an `@` modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtModifier {
    Start,
    End,
}

/// Extended range-selector modifiers (experimental upstream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RangeModifier {
    #[default]
    None,
    Anchored,
    Smoothed,
}

/// `name{matchers} offset d @ t`.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The metric name, if given outside the braces.
    pub name: Option<String>,
    /// All matchers, including a `__name__` matcher for `name`.
    pub matchers: Vec<Matcher>,
    /// Offset in ms as written (may be negative).
    pub original_offset: i64,
    /// Offset as a duration expression (`offset (1m * 2)`), resolved to
    /// `original_offset` before evaluation.
    pub offset_expr: Option<Box<Expr>>,
    /// `@ <timestamp>` in ms.
    pub timestamp: Option<i64>,
    /// `@ start()` / `@ end()`.
    pub start_or_end: Option<AtModifier>,
    /// `anchored` / `smoothed`.
    pub modifier: RangeModifier,
    pub pos: PosRange,
}

/// `v[5m]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    /// Always an `Expr::VectorSelector`.
    pub vector_selector: Box<Expr>,
    /// Range in ms.
    pub range: i64,
    /// The range as a duration expression (`[5m + 1m]`), resolved to `range`.
    pub range_expr: Option<Box<Expr>>,
    pub end_pos: usize,
}

/// `expr[range:step] offset d @ t`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubqueryExpr {
    pub expr: Box<Expr>,
    pub range: i64,
    pub range_expr: Option<Box<Expr>>,
    /// Step in ms; 0 means "the default evaluation interval".
    pub step: i64,
    pub step_expr: Option<Box<Expr>>,
    pub original_offset: i64,
    pub offset_expr: Option<Box<Expr>>,
    pub timestamp: Option<i64>,
    pub start_or_end: Option<AtModifier>,
    pub end_pos: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NumberLiteral {
    pub val: f64,
    /// Written as a duration (`5m` as a number): printed back the same way.
    pub duration: bool,
    pub pos: PosRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StringLiteral {
    pub val: String,
    pub pos: PosRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParenExpr {
    pub expr: Box<Expr>,
    pub pos: PosRange,
}

/// Unary `-` or `+`.
#[derive(Clone, Debug, PartialEq)]
pub struct UnaryExpr {
    /// `Sub` or `Add`.
    pub op: BinOp,
    pub expr: Box<Expr>,
    pub start_pos: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepInvariantExpr {
    pub expr: Box<Expr>,
}
