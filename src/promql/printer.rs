//! Canonical PromQL text for a syntax tree, as upstream's `String()` methods
//! print it (rule files, test output, logs):
//! `sum by (job) (rate(x{a="b"}[5m] offset 1m))`, and upstream's prettier
//! (`Expr::pretty`), which splits long expressions over indented lines for
//! `/api/v1/format_query`. Printing never fails.
use std::fmt::{self, Display, Formatter, Write};

use super::ast::{
    AggregateExpr, AtModifier, BinaryExpr, Cardinality, Expr, MatrixSelector, NumberLiteral,
    RangeModifier, SubqueryExpr, VectorSelector,
};
use crate::model::duration::format_duration;
use crate::model::labels::{go_quote, is_valid_legacy_label_name, is_valid_legacy_metric_name};
use crate::model::value::format_go_f;
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

/// `sum by (job) ` / `sum without () ` / `sum`: the operator and its
/// grouping, as upstream's `getAggOpStr` (the trailing space is upstream's).
fn write_aggregate_op(f: &mut Formatter<'_>, a: &AggregateExpr) -> fmt::Result {
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
    Ok(())
}

fn write_aggregate(f: &mut Formatter<'_>, a: &AggregateExpr) -> fmt::Result {
    write_aggregate_op(f, a)?;
    f.write_char('(')?;
    if let Some(p) = &a.param {
        write!(f, "{p}, ")?;
    }
    write!(f, "{})", a.expr)
}

/// ` bool`, ` on (a) group_left (b)`, ` fill (0)`: everything between a
/// binary operator and its right operand (upstream's `getMatchingStr`).
fn write_binary_modifiers(f: &mut Formatter<'_>, b: &BinaryExpr) -> fmt::Result {
    if b.return_bool {
        f.write_str(" bool")?;
    }
    let Some(vm) = &b.matching else {
        return Ok(());
    };
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
            write!(f, " fill ({})", format_go_f(l))?;
        }
        (l, r) => {
            if let Some(l) = l {
                write!(f, " fill_left ({})", format_go_f(l))?;
            }
            if let Some(r) = r {
                write!(f, " fill_right ({})", format_go_f(r))?;
            }
        }
    }
    Ok(())
}

fn write_binary(f: &mut Formatter<'_>, b: &BinaryExpr) -> fmt::Result {
    write!(f, "{} {}", b.lhs, b.op.as_str())?;
    write_binary_modifiers(f, b)?;
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
    f.write_str(&format_go_f(n.val))
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

/// `[range:step] @ t offset d` after a subquery's expression.
fn write_subquery_suffix(f: &mut Formatter<'_>, s: &SubqueryExpr) -> fmt::Result {
    f.write_char('[')?;
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

fn write_subquery(f: &mut Formatter<'_>, s: &SubqueryExpr) -> fmt::Result {
    write!(f, "{}", s.expr)?;
    write_subquery_suffix(f, s)
}

/// Adapts a `write_*` helper to `Display`, so pieces render into strings.
struct Piece<'a, T>(&'a T, fn(&mut Formatter<'_>, &T) -> fmt::Result);

impl<T> Display for Piece<'_, T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        (self.1)(f, self.0)
    }
}

/// Nodes whose text is longer than this are split by `Expr::pretty`.
const MAX_CHARACTERS_PER_LINE: usize = 100;

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

impl Expr {
    /// Upstream's `Pretty(level)`: the canonical text, but every node whose
    /// text is longer than 100 bytes is split over lines, indented by two
    /// spaces per level. `/api/v1/format_query` answers with `pretty(0)`.
    pub fn pretty(&self, level: usize) -> String {
        self.pretty_width(level, MAX_CHARACTERS_PER_LINE)
    }

    fn pretty_width(&self, level: usize, width: usize) -> String {
        let flat = self.to_string();
        let split = flat.len() > width;
        match self {
            Expr::Aggregate(a) if split => {
                let mut s = format!("{}{}(\n", indent(level), Piece(a, write_aggregate_op));
                if let Some(p) = &a.param {
                    s.push_str(&p.pretty_width(level + 1, width));
                    s.push_str(",\n");
                }
                s.push_str(&a.expr.pretty_width(level + 1, width));
                s.push('\n');
                s.push_str(&indent(level));
                s.push(')');
                s
            }
            Expr::Binary(b) if split => format!(
                "{}\n{}{}{}\n{}",
                b.lhs.pretty_width(level + 1, width),
                indent(level),
                b.op.as_str(),
                Piece(b, write_binary_modifiers),
                b.rhs.pretty_width(level + 1, width)
            ),
            Expr::Call(c) if split => {
                let args: Vec<String> = c
                    .args
                    .iter()
                    .map(|a| a.pretty_width(level + 1, width))
                    .collect();
                format!(
                    "{}{}(\n{}\n{})",
                    indent(level),
                    c.name,
                    args.join(",\n"),
                    indent(level)
                )
            }
            Expr::Paren(p) if split => format!(
                "{}(\n{}\n{})",
                indent(level),
                p.expr.pretty_width(level + 1, width),
                indent(level)
            ),
            Expr::Subquery(sq) if split => {
                format!(
                    "{}{}",
                    sq.expr.pretty_width(level, width),
                    Piece(sq, write_subquery_suffix)
                )
            }
            // Upstream returns an unsplit subquery without indentation.
            Expr::Subquery(_) => flat,
            Expr::Unary(u) => {
                let child = u.expr.pretty_width(level, width);
                format!("{}{}{}", indent(level), u.op.as_str(), child.trim())
            }
            Expr::StepInvariant(s) => s.expr.pretty_width(level, width),
            _ => format!("{}{}", indent(level), flat),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::promql::parse_expr;

    /// Upstream's `prettier_test.go` cases, which use a 10-byte line limit.
    const PRETTY_CASES: &[(&str, &str)] = &[
        ("sum(foo)", "sum(foo)"),
        (r#"sum by() (task:errors:rate10s{job="s"})"#, "sum(\n  task:errors:rate10s{job=\"s\"}\n)"),
        (r#"sum(task:errors:rate10s{job="s"}) without(job,foo)"#, "sum without (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)"),
        (r#"topk(10, ask:errors:rate10s{job="s"})"#, "topk(\n  10,\n  ask:errors:rate10s{job=\"s\"}\n)"),
        (
            "sum by(job,foo) # Comment 1.\n(sum by(job,foo) ( # Comment 2.\ntask:errors:rate10s{job=\"s\"}))",
            "sum by (job, foo) (\n  sum by (job, foo) (\n    task:errors:rate10s{job=\"s\"}\n  )\n)",
        ),
        ("a+b", "a + b"),
        ("a == bool 1", "  a\n== bool\n  1"),
        ("a + ignoring(job) b", "  a\n+ ignoring (job)\n  b"),
        ("foo_1 + foo_2 + foo_3", "    foo_1\n  +\n    foo_2\n+\n  foo_3"),
        ("foo + baar + foo_3", "  foo + baar\n+\n  foo_3"),
        (
            "foo_1 + ignoring(foo) foo_2 + ignoring(job) group_left foo_3 + on(instance) group_right foo_4",
            "      foo_1\n    + ignoring (foo)\n      foo_2\n  + ignoring (job) group_left ()\n    foo_3\n+ on (instance) group_right ()\n  foo_4",
        ),
        ("rate(foo[1m])", "rate(\n  foo[1m]\n)"),
        ("rate(long_vector_selector[10m:1m] @ start() offset 1m)", "rate(\n  long_vector_selector[10m:1m] @ start() offset 1m\n)"),
        (
            "max_over_time(rate(demo_api_request_duration_seconds_count[1m])[1m:] @ start() offset 1m)",
            "max_over_time(\n  rate(\n    demo_api_request_duration_seconds_count[1m]\n  )[1m:] @ start() offset 1m\n)",
        ),
        (
            r#"label_replace(up{job="api-server",service="a:c"}, "foo", "$1", "service", "(.*):.*")"#,
            "label_replace(\n  up{job=\"api-server\",service=\"a:c\"},\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
        ),
        ("(foo)", "(foo)"),
        ("((_foo_long_))", "(\n  (\n    _foo_long_\n  )\n)"),
        ("(((foo_long)))", "(\n  (\n    (foo_long)\n  )\n)"),
        ("a @ 1", "a @ 1.000"),
        ("vector_selector @ start()", "vector_selector @ start()"),
        ("(1 + 2)", "(1 + 2)"),
        ("(foo + bar)", "(\n  foo + bar\n)"),
        ("((foo_long + bar_long) + bar_2_long)", "(\n    (\n        foo_long\n      +\n        bar_long\n    )\n  +\n    bar_2_long\n)"),
        (
            "(node_timex_offset_seconds > 0.05 and deriv(node_timex_offset_seconds[5m]) >= 0) or (node_timex_offset_seconds < -0.05 and deriv(node_timex_offset_seconds[5m]) <= 0)",
            "  (\n        node_timex_offset_seconds\n      >\n        0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      >=\n        0\n  )\nor\n  (\n        node_timex_offset_seconds\n      <\n        -0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      <=\n        0\n  )",
        ),
        (
            r#"(count by (job) (changes(process_start_time_seconds{job="alertmanager"}[10m]) > 4) / count by (job) (up{job="alertmanager"})) >= 0.5"#,
            "  (\n      count by (job) (\n          changes(\n            process_start_time_seconds{job=\"alertmanager\"}[10m]\n          )\n        >\n          4\n      )\n    /\n      count by (job) (\n        up{job=\"alertmanager\"}\n      )\n  )\n>=\n  0.5",
        ),
        ("-1", "-1"),
        ("-vector_selector", "-vector_selector"),
        ("(-vector_selector)", "(\n  -vector_selector\n)"),
        (
            "-histogram_quantile(0.9, -rate(foo[1m] @ start()))",
            "-histogram_quantile(\n  0.9,\n  -rate(\n    foo[1m] @ start()\n  )\n)",
        ),
        ("rate(foo[2*1h])", "rate(\n  foo[2 * 1h]\n)"),
        ("rate(foo[-5m+35m])", "rate(\n  foo[-5m + 35m]\n)"),
    ];

    #[test]
    fn pretty_prints_like_upstream() {
        for (input, want) in PRETTY_CASES {
            let expr = parse_expr(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(expr.pretty_width(0, 10), *want, "{input}");
        }
    }

    #[test]
    fn short_expressions_stay_on_one_line() {
        let q = r#"sum by (job) (rate(http_requests_total{job="api"}[5m]))"#;
        let expr = parse_expr(q).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(expr.pretty(0), q);
    }
}
