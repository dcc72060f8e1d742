//! Canonical PromQL text for a syntax tree, as upstream's `String()` methods
//! print it (`/api/v1/format_query`, rule files, test output):
//! `sum by (job) (rate(x{a="b"}[5m] offset 1m))`. Printing never fails.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{
    AggregateExpr, AtModifier, BinaryExpr, Cardinality, Expr, MatrixSelector, NumberLiteral,
    RangeModifier, SubqueryExpr, VectorSelector,
};
use crate::model::duration::format_duration;
use crate::model::labels::{go_quote, is_valid_legacy_label_name, is_valid_legacy_metric_name};
use crate::model::value::format_go_g;
use crate::model::{MatchType, Matcher};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Aggregate(a) => write_aggregate(f, a),
            Expr::Binary(b) => write_binary(f, b),
            Expr::Call(c) => {
                write!(f, "{}(", c.name)?;
                write_list(f, &c.args)?;
                f.write_char(')')
            }
            Expr::MatrixSelector(m) => write_matrix(f, m),
            Expr::Subquery(s) => write_subquery(f, s),
            Expr::NumberLiteral(n) => write_number(f, n),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::StringLiteral(s) => f.write_str(&go_quote(&s.val)),
            Expr::Unary(u) => write!(f, "{}{}", u.op.as_str(), u.expr),
            Expr::VectorSelector(vs) => {
                write_selector_body(f, vs)?;
                write_modifiers(
                    f,
                    vs.timestamp,
                    vs.start_or_end,
                    vs.original_offset,
                    vs.offset_expr.as_deref(),
                )?;
                write_range_modifier(f, vs.modifier)
            }
            Expr::StepInvariant(s) => write!(f, "{}", s.expr),
        }
    }
}

fn write_list(f: &mut Formatter<'_>, args: &[Expr]) -> fmt::Result {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

/// A label name, quoted when it is not a legacy identifier (UTF-8 names).
fn label_name(name: &str) -> String {
    if is_valid_legacy_label_name(name) {
        name.to_string()
    } else {
        go_quote(name)
    }
}

fn write_grouping(f: &mut Formatter<'_>, labels: &[String]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(&label_name(l))?;
    }
    Ok(())
}

fn write_aggregate(f: &mut Formatter<'_>, a: &AggregateExpr) -> fmt::Result {
    f.write_str(a.op.as_str())?;
    if a.without {
        f.write_str(" without (")?;
        write_grouping(f, &a.grouping)?;
        f.write_str(") ")?;
    } else if !a.grouping.is_empty() {
        f.write_str(" by (")?;
        write_grouping(f, &a.grouping)?;
        f.write_str(") ")?;
    }
    f.write_char('(')?;
    if let Some(p) = &a.param {
        write!(f, "{p}, ")?;
    }
    write!(f, "{})", a.expr)
}

fn write_binary(f: &mut Formatter<'_>, b: &BinaryExpr) -> fmt::Result {
    write!(f, "{} {}", b.lhs, b.op.as_str())?;
    if b.return_bool {
        f.write_str(" bool")?;
    }
    if let Some(vm) = &b.matching {
        if !vm.matching_labels.is_empty() || vm.on {
            f.write_str(if vm.on { " on (" } else { " ignoring (" })?;
            write_grouping(f, &vm.matching_labels)?;
            f.write_char(')')?;
            match vm.card {
                Cardinality::ManyToOne | Cardinality::OneToMany => {
                    f.write_str(if vm.card == Cardinality::ManyToOne {
                        " group_left ("
                    } else {
                        " group_right ("
                    })?;
                    write_grouping(f, &vm.include)?;
                    f.write_char(')')?;
                }
                _ => {}
            }
        }
        match (vm.fill_left, vm.fill_right) {
            (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
                write!(f, " fill ({})", format_go_g(l))?;
            }
            (l, r) => {
                if let Some(l) = l {
                    write!(f, " fill_left ({})", format_go_g(l))?;
                }
                if let Some(r) = r {
                    write!(f, " fill_right ({})", format_go_g(r))?;
                }
            }
        }
    }
    write!(f, " {}", b.rhs)
}

fn write_number(f: &mut Formatter<'_>, n: &NumberLiteral) -> fmt::Result {
    if n.duration && n.val.is_finite() {
        let ms = (n.val.abs() * 1000.0).round() as i64;
        if n.val < 0.0 {
            f.write_char('-')?;
        }
        return f.write_str(&format_duration(ms));
    }
    f.write_str(&format_go_g(n.val))
}

fn write_matcher(f: &mut Formatter<'_>, m: &Matcher) -> fmt::Result {
    write!(
        f,
        "{}{}{}",
        label_name(&m.name),
        m.kind.as_str(),
        go_quote(&m.value)
    )
}

/// `name{matchers}` without modifiers. The name's own matcher is left out;
/// a name that is not a legacy identifier moves into the braces, quoted.
fn write_selector_body(f: &mut Formatter<'_>, vs: &VectorSelector) -> fmt::Result {
    let name = vs.name.as_deref().unwrap_or("");
    let mut skipped_name = false;
    let mut parts: Vec<String> = Vec::with_capacity(vs.matchers.len());
    for m in &vs.matchers {
        if !skipped_name
            && m.name == "__name__"
            && m.kind == MatchType::Equal
            && !name.is_empty()
            && m.value == name
        {
            skipped_name = true;
            continue;
        }
        parts.push(MatcherDisplay(m).to_string());
    }
    parts.sort();
    let legacy_name = name.is_empty() || is_valid_legacy_metric_name(name);
    if legacy_name {
        f.write_str(name)?;
        if parts.is_empty() {
            return Ok(());
        }
        return write!(f, "{{{}}}", parts.join(","));
    }
    f.write_char('{')?;
    f.write_str(&go_quote(name))?;
    for p in &parts {
        write!(f, ", {p}")?;
    }
    f.write_char('}')
}

struct MatcherDisplay<'a>(&'a Matcher);

impl Display for MatcherDisplay<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_matcher(f, self.0)
    }
}

fn write_modifiers(
    f: &mut Formatter<'_>,
    timestamp: Option<i64>,
    start_or_end: Option<AtModifier>,
    offset: i64,
    offset_expr: Option<&Expr>,
) -> fmt::Result {
    if let Some(ts) = timestamp {
        write!(f, " @ {:.3}", ts as f64 / 1000.0)?;
    } else if let Some(p) = start_or_end {
        f.write_str(match p {
            AtModifier::Start => " @ start()",
            AtModifier::End => " @ end()",
        })?;
    }
    if let Some(e) = offset_expr {
        return write!(f, " offset {e}");
    }
    if offset > 0 {
        write!(f, " offset {}", format_duration(offset))?;
    } else if offset < 0 {
        write!(f, " offset -{}", format_duration(-offset))?;
    }
    Ok(())
}

fn write_range_modifier(f: &mut Formatter<'_>, m: RangeModifier) -> fmt::Result {
    match m {
        RangeModifier::None => Ok(()),
        RangeModifier::Anchored => f.write_str(" anchored"),
        RangeModifier::Smoothed => f.write_str(" smoothed"),
    }
}

fn write_duration(f: &mut Formatter<'_>, ms: i64, e: Option<&Expr>) -> fmt::Result {
    match e {
        Some(e) => write!(f, "{e}"),
        None => f.write_str(&format_duration(ms)),
    }
}

fn write_matrix(f: &mut Formatter<'_>, m: &MatrixSelector) -> fmt::Result {
    match m.vector_selector.as_ref() {
        Expr::VectorSelector(vs) => {
            write_selector_body(f, vs)?;
            f.write_char('[')?;
            write_duration(f, m.range, m.range_expr.as_deref())?;
            f.write_char(']')?;
            write_modifiers(
                f,
                vs.timestamp,
                vs.start_or_end,
                vs.original_offset,
                vs.offset_expr.as_deref(),
            )?;
            write_range_modifier(f, vs.modifier)
        }
        other => {
            write!(f, "{other}[")?;
            write_duration(f, m.range, m.range_expr.as_deref())?;
            f.write_char(']')
        }
    }
}

fn write_subquery(f: &mut Formatter<'_>, s: &SubqueryExpr) -> fmt::Result {
    write!(f, "{}[", s.expr)?;
    write_duration(f, s.range, s.range_expr.as_deref())?;
    f.write_char(':')?;
    if s.step != 0 || s.step_expr.is_some() {
        write_duration(f, s.step, s.step_expr.as_deref())?;
    }
    f.write_char(']')?;
    write_modifiers(
        f,
        s.timestamp,
        s.start_or_end,
        s.original_offset,
        s.offset_expr.as_deref(),
    )
}
