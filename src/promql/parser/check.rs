//! Type checking of a parsed expression, as upstream's `checkAST`: operand
//! types of operators, aggregations and calls, vector-matching rules and
//! selector sanity ("at least one non-empty matcher"). Also `Expr::value_type`.
//! Reports the first error found, in upstream's words and positions.

use super::ParseError;
use crate::model::labels::go_quote as q;
use crate::promql::ast::{AggOp, Cardinality, Expr, PosRange, ValueType};
use crate::promql::functions::get_function;

impl Expr {
    /// The type the expression evaluates to (upstream's `Expr.Type()`).
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => get_function(&c.name)
                .map(|f| f.return_type)
                .unwrap_or(ValueType::None),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::NumberLiteral(_) => ValueType::Scalar,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::StringLiteral(_) => ValueType::String,
            Expr::Unary(u) => u.expr.value_type(),
            Expr::VectorSelector(_) => ValueType::Vector,
            Expr::StepInvariant(s) => s.expr.value_type(),
        }
    }
}

struct Checker<'a> {
    input: &'a str,
}

/// Checks `expr` (parsed from `input`).
pub(super) fn check(input: &str, expr: &mut Expr) -> Result<(), ParseError> {
    Checker { input }.check(expr).map(|_| ())
}

impl Checker<'_> {
    fn err(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, msg)
    }

    fn expect_type(&self, e: &mut Expr, want: ValueType, context: &str) -> Result<(), ParseError> {
        let got = self.check(e)?;
        if got != want {
            return Err(self.err(
                e.pos_range(),
                format!(
                    "expected type {} in {context}, got {}",
                    want.document_name(),
                    got.document_name()
                ),
            ));
        }
        Ok(())
    }

    /// The operator's position, without surrounding space (upstream's `opRange`).
    fn op_range(&self, lhs: &Expr, rhs: &Expr) -> PosRange {
        let bytes = self.input.as_bytes();
        let mut start = lhs.pos_range().end;
        let mut end = rhs.pos_range().start.saturating_sub(1);
        while start < end && bytes.get(start).is_some_and(|b| b.is_ascii_whitespace()) {
            start += 1;
        }
        while end > start && bytes.get(end).is_some_and(|b| b.is_ascii_whitespace()) {
            end -= 1;
        }
        PosRange::new(start, end)
    }

    /// Checks `e` and returns its type. Types and positions are computed
    /// from the children already checked, so a long chain is checked in
    /// linear time.
    fn check(&self, e: &mut Expr) -> Result<ValueType, ParseError> {
        match e {
            Expr::Aggregate(a) => {
                self.expect_type(&mut a.expr, ValueType::Vector, "aggregation expression")?;
                if let Some(p) = a.param.as_mut() {
                    let want = if a.op == AggOp::CountValues {
                        ValueType::String
                    } else {
                        ValueType::Scalar
                    };
                    self.expect_type(p, want, "aggregation parameter")?;
                }
                Ok(ValueType::Vector)
            }
            Expr::Binary(b) => self.check_binary(b),
            Expr::Call(c) => self.check_call(c),
            Expr::Paren(p) => self.check(&mut p.expr),
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr)?;
                if t != ValueType::Scalar && t != ValueType::Vector {
                    return Err(self.err(
                        PosRange::new(u.start_pos, u.expr.pos_range().end),
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            q(t.document_name())
                        ),
                    ));
                }
                Ok(t)
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr)?;
                if t != ValueType::Vector {
                    return Err(self.err(
                        PosRange::new(s.expr.pos_range().start, s.end_pos),
                        format!(
                            "subquery is only allowed on instant vector, got {} instead",
                            t.api_name()
                        ),
                    ));
                }
                Ok(ValueType::Matrix)
            }
            Expr::MatrixSelector(m) => {
                self.check(&mut m.vector_selector)?;
                Ok(ValueType::Matrix)
            }
            Expr::VectorSelector(vs) => {
                if let Some(name) = &vs.name {
                    // The last matcher is the one for the name outside the braces.
                    let inner = vs.matchers.len().saturating_sub(1);
                    let twice = vs
                        .matchers
                        .get(..inner)
                        .and_then(|ms| ms.iter().find(|m| m.name == "__name__"));
                    if let Some(m) = twice {
                        return Err(self.err(
                            vs.pos,
                            format!(
                                "metric name must not be set twice: {} or {}",
                                q(name),
                                q(&m.value)
                            ),
                        ));
                    }
                } else if vs.matchers.iter().all(|m| m.matches_empty()) {
                    return Err(self.err(
                        vs.pos,
                        "vector selector must contain at least one non-empty matcher",
                    ));
                }
                Ok(ValueType::Vector)
            }
            Expr::NumberLiteral(_) => Ok(ValueType::Scalar),
            Expr::StringLiteral(_) => Ok(ValueType::String),
            Expr::StepInvariant(s) => self.check(&mut s.expr),
        }
    }

    fn check_call(&self, c: &mut crate::promql::ast::Call) -> Result<ValueType, ParseError> {
        let Some(sig) = get_function(&c.name) else {
            return Err(self.err(c.pos, format!("unknown function with name {}", q(&c.name))));
        };
        let nargs = sig.arg_types.len();
        let got = c.args.len();
        if sig.variadic == 0 {
            if nargs != got {
                return Err(self.err(
                    c.pos,
                    format!(
                        "expected {nargs} argument(s) in call to {}, got {got}",
                        q(&c.name)
                    ),
                ));
            }
        } else {
            let na = nargs.saturating_sub(1);
            if na > got {
                return Err(self.err(
                    c.pos,
                    format!(
                        "expected at least {na} argument(s) in call to {}, got {got}",
                        q(&c.name)
                    ),
                ));
            }
            if let Ok(extra) = usize::try_from(sig.variadic) {
                let max = na + extra;
                if max < got {
                    return Err(self.err(
                        c.pos,
                        format!(
                            "expected at most {max} argument(s) in call to {}, got {got}",
                            q(&c.name)
                        ),
                    ));
                }
            }
        }
        if c.name == "info" {
            self.check_info(c)?;
            return Ok(sig.return_type);
        }
        let context = format!("call to function {}", q(&c.name));
        for (i, arg) in c.args.iter_mut().enumerate() {
            let ty = sig
                .arg_types
                .get(i)
                .or(sig.arg_types.last())
                .copied()
                .unwrap_or(ValueType::None);
            self.expect_type(arg, ty, &context)?;
        }
        Ok(sig.return_type)
    }

    fn check_binary(
        &self,
        b: &mut crate::promql::ast::BinaryExpr,
    ) -> Result<ValueType, ParseError> {
        let lt = self.check(&mut b.lhs)?;
        let rt = self.check(&mut b.rhs)?;
        let op_range = || self.op_range(&b.lhs, &b.rhs);
        let whole = |b: &crate::promql::ast::BinaryExpr| {
            PosRange::new(b.lhs.pos_range().start, b.rhs.pos_range().end)
        };
        if b.return_bool && !b.op.is_comparison() {
            return Err(self.err(
                op_range(),
                "bool modifier can only be used on comparison operators",
            ));
        }
        if b.op.is_comparison()
            && !b.return_bool
            && lt == ValueType::Scalar
            && rt == ValueType::Scalar
        {
            return Err(self.err(
                op_range(),
                "comparisons between scalars must use BOOL modifier",
            ));
        }
        if let Some(m) = b.matching.as_mut() {
            if b.op.is_set() && m.card == Cardinality::OneToOne {
                m.card = Cardinality::ManyToMany;
            }
        }
        let card = b.matching.as_ref().map(|m| m.card);
        if let Some(m) = &b.matching {
            if m.on {
                if let Some(l) = m.matching_labels.iter().find(|l| m.include.contains(l)) {
                    return Err(self.err(
                        op_range(),
                        format!(
                            "label {} must not occur in ON and GROUP clause at once",
                            q(l)
                        ),
                    ));
                }
            }
        }
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            return Err(self.err(
                b.lhs.pos_range(),
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            return Err(self.err(
                b.rhs.pos_range(),
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if lt != ValueType::Vector || rt != ValueType::Vector {
            if b.matching
                .as_ref()
                .is_some_and(|m| !m.matching_labels.is_empty())
            {
                return Err(self.err(
                    whole(b),
                    "vector matching only allowed between instant vectors",
                ));
            }
            // Matching only exists between two vectors (upstream drops it too).
            b.matching = None;
        } else if b.op.is_set() {
            if matches!(card, Some(Cardinality::OneToMany | Cardinality::ManyToOne)) {
                return Err(self.err(
                    whole(b),
                    format!("no grouping allowed for {} operation", q(b.op.as_str())),
                ));
            }
            if card != Some(Cardinality::ManyToMany) {
                return Err(self.err(whole(b), "set operations must always be many-to-many"));
            }
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set() {
            return Err(self.err(
                whole(b),
                format!(
                    "set operator {} not allowed in binary scalar expression",
                    q(b.op.as_str())
                ),
            ));
        }
        if lt == ValueType::Scalar && rt == ValueType::Scalar {
            Ok(ValueType::Scalar)
        } else {
            Ok(ValueType::Vector)
        }
    }

    /// `info(v, {data-label selector})`: the second argument is a selector
    /// used only for its matchers, so the "non-empty matcher" rule does not apply.
    fn check_info(&self, c: &mut crate::promql::ast::Call) -> Result<(), ParseError> {
        if let Some(first) = c.args.first_mut() {
            self.expect_type(first, ValueType::Vector, "call to function \"info\"")?;
        }
        if let Some(second) = c.args.get(1) {
            match second {
                Expr::VectorSelector(vs) if vs.name.is_none() => {}
                Expr::VectorSelector(vs) => {
                    return Err(self.err(
                        vs.pos,
                        "expected label selectors only, got vector selector instead",
                    ))
                }
                other => return Err(self.err(other.pos_range(), "expected label selectors only")),
            }
        }
        Ok(())
    }
}
