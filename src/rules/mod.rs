//! Recording and alerting rules, as upstream's `rules` package: the rule file
//! format (`rulefmt`), rules and groups, the rule manager that evaluates them
//! on their intervals, and the promtool `check rules`/`test rules` commands.

pub mod rulefmt;
mod yamlpos;

/// Checks a rule expression with the PromQL parser, as rule files are validated.
pub fn check_expr(expr: &str) -> Result<(), String> {
    crate::promql::parse_expr(expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
