//! Runs upstream's PromQL test scripts (`promql/promqltest/testdata/*.test`)
//! over `storage::memory::MemStorage`: `load`, `clear`, `eval instant at`,
//! `eval range from ... to ... step`, the `expect` lines and the deprecated
//! `eval_fail`/`eval_warn`/`eval_info`/`eval_ordered` forms. Instant evals
//! also get upstream's two extra checks: a re-run with `@ <eval time>` on
//! every selector at several evaluation times, and a re-run in range mode
//! whose middle step must match.
//!
//! Native histograms are not stored by promlite: their load lines are
//! skipped, and an eval that expects native-histogram values, or fails
//! while native histograms were loaded, is reported as skipped.

use std::fmt;

use regex::Regex;

use crate::model::duration::parse_duration;
use crate::model::{is_stale_nan, Labels};
use crate::promql::ast::{Expr, SubqueryExpr};
use crate::promql::engine::{Engine, EngineOpts};
use crate::promql::value::Value;
use crate::promql::{parse_expr, parse_series_desc, SequenceValue};
use crate::storage::memory::MemStorage;

/// A script that cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// How one `eval` went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// The outcome of the `eval` at `line` (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub line: usize,
    pub outcome: Outcome,
    /// Named by the caller's skip list.
    pub listed: bool,
}

/// How an expected message is matched.
#[derive(Debug, Clone)]
enum MsgMatch {
    Any,
    Exact(String),
    Regex(Regex),
}

impl MsgMatch {
    fn matches(&self, s: &str) -> bool {
        match self {
            MsgMatch::Any => true,
            MsgMatch::Exact(m) => m == s,
            MsgMatch::Regex(r) => r.is_match(s),
        }
    }
}

#[derive(Debug, Clone)]
enum EvalKind {
    Instant { at: i64 },
    Range { start: i64, end: i64, step: i64 },
}

#[derive(Debug, Clone, Default)]
struct AnnoExpect {
    /// `expect warn ...` lines.
    lines: Vec<MsgMatch>,
    /// `expect no_warn`.
    none: bool,
    /// Deprecated `eval_warn`: at least one.
    at_least_one: bool,
}

#[derive(Debug, Clone)]
struct EvalCmd {
    expr: String,
    kind: EvalKind,
    fail: Option<MsgMatch>,
    warn: AnnoExpect,
    info: AnnoExpect,
    ordered: bool,
    range_vector: Option<(i64, i64, i64)>,
    string: Option<String>,
    scalar: Option<f64>,
    /// Expected series in the order written.
    series: Vec<(Labels, Vec<SequenceValue>)>,
    native_histograms: bool,
}

/// Runs one script; `skip(line)` names evals expected to fail (with a
/// reason): they still run, and count as skipped only if they do fail.
pub fn run_script(
    text: &str,
    skip: &dyn Fn(usize) -> Option<String>,
) -> Result<Vec<CaseResult>, ScriptError> {
    let lines: Vec<&str> = text.lines().collect();
    let storage = MemStorage::new();
    let engine = Engine::new(EngineOpts {
        max_samples: 10_000,
        timeout: std::time::Duration::from_secs(100),
        ..EngineOpts::default()
    });
    let mut results = Vec::new();
    let mut nh_loaded = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let header_line = i + 1;
        let mut block = Vec::new();
        i += 1;
        // `clear` has no block: the next line may be a command.
        while i < lines.len() && line != "clear" {
            let l = lines[i].trim();
            if l.is_empty() || l.starts_with('#') {
                break;
            }
            block.push((i + 1, l));
            i += 1;
        }
        if line == "clear" {
            storage.clear();
            nh_loaded = false;
        } else if let Some(step) = line
            .strip_prefix("load_with_nhcb ")
            .or_else(|| line.strip_prefix("load "))
        {
            if line.starts_with("load_with_nhcb") {
                nh_loaded = true;
            }
            let step = parse_time(step.trim(), header_line)?;
            nh_loaded |= load(&storage, step, &block)?;
        } else if line.starts_with("eval") {
            let cmd = parse_eval(line, header_line, &block)?;
            let listed = skip(header_line);
            let outcome = if cmd.native_histograms {
                Outcome::Skipped("native histograms are not supported by promlite".into())
            } else {
                // Listed cases still run, so that a fixed one shows up.
                match (run_eval(&engine, &storage, &cmd), listed.clone()) {
                    (Ok(()), _) => Outcome::Passed,
                    (Err(_), Some(reason)) => Outcome::Skipped(reason),
                    (Err(e), None) if nh_loaded => Outcome::Skipped(format!(
                        "native histograms in storage are not supported by promlite ({e})"
                    )),
                    (Err(e), None) => Outcome::Failed(e),
                }
            };
            results.push(CaseResult {
                line: header_line,
                outcome,
                listed: listed.is_some(),
            });
        } else {
            return Err(ScriptError {
                line: header_line,
                message: format!("invalid command {line:?}"),
            });
        }
    }
    Ok(results)
}

fn parse_time(s: &str, line: usize) -> Result<i64, ScriptError> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    parse_duration(body)
        .map(|d| if neg { -d } else { d })
        .map_err(|e| ScriptError {
            line,
            message: format!("invalid time {s:?}: {e}"),
        })
}

/// Loads a block; returns whether it held native histograms (not loaded).
fn load(storage: &MemStorage, step: i64, block: &[(usize, &str)]) -> Result<bool, ScriptError> {
    let mut nh = false;
    for &(n, l) in block {
        let owned;
        let mut l = l;
        if l.contains("{{") {
            // Native histograms are not stored; the float samples of the
            // same series still are, at their positions.
            nh = true;
            owned = histogram_items_as_gaps(l);
            l = &owned;
        }
        let first = l.split_whitespace().next().unwrap_or("");
        if first.ends_with("@st") || l.contains("}@st") {
            // Start timestamps are not stored by promlite.
            continue;
        }
        let (labels, vals) = parse_series_desc(l).map_err(|e| ScriptError {
            line: n,
            message: format!("invalid series line: {e}"),
        })?;
        for (k, v) in vals.iter().enumerate() {
            if v.omitted {
                continue;
            }
            storage.insert(&labels, k as i64 * step, v.value);
        }
    }
    Ok(nh)
}

/// Replaces every native-histogram item of a series line by as many `_`.
fn histogram_items_as_gaps(line: &str) -> String {
    let re = Regex::new(r"\{\{[^}]*\}\}(?:[+-]\{\{[^}]*\}\})?(?:x(\d+))?");
    match re {
        Ok(re) => re
            .replace_all(line, |c: &regex::Captures| match c.get(1) {
                Some(n) => format!("_ _x{}", n.as_str()),
                None => "_".to_string(),
            })
            .into_owned(),
        Err(_) => line.to_string(),
    }
}

fn parse_msg(rest: &str, line: usize) -> Result<MsgMatch, ScriptError> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(MsgMatch::Any);
    }
    if let Some(m) = rest.strip_prefix("msg:") {
        return Ok(MsgMatch::Exact(m.trim().to_string()));
    }
    if let Some(r) = rest.strip_prefix("regex:") {
        return Regex::new(r.trim())
            .map(MsgMatch::Regex)
            .map_err(|e| ScriptError {
                line,
                message: format!("invalid regex: {e}"),
            });
    }
    Err(ScriptError {
        line,
        message: format!("invalid expect line: {rest:?}"),
    })
}

fn parse_eval(header: &str, line: usize, block: &[(usize, &str)]) -> Result<EvalCmd, ScriptError> {
    let err = |m: String| ScriptError { line, message: m };
    let (cmd, rest) = header.split_once(' ').unwrap_or((header, ""));
    let rest = rest.trim();
    let (kind, expr) = if let Some(r) = rest.strip_prefix("instant at ") {
        let (t, e) = r
            .trim()
            .split_once(' ')
            .ok_or_else(|| err("missing query".into()))?;
        (
            EvalKind::Instant {
                at: parse_time(t, line)?,
            },
            e.trim(),
        )
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let parts: Vec<&str> = r.trim().splitn(6, ' ').collect();
        match parts.as_slice() {
            [s, "to", e, "step", st, q] => (
                EvalKind::Range {
                    start: parse_time(s, line)?,
                    end: parse_time(e, line)?,
                    step: parse_time(st, line)?,
                },
                q.trim(),
            ),
            _ => return Err(err(format!("invalid range eval: {header:?}"))),
        }
    } else {
        return Err(err(format!("invalid eval command: {header:?}")));
    };
    let mut c = EvalCmd {
        expr: expr.to_string(),
        kind,
        fail: None,
        warn: AnnoExpect::default(),
        info: AnnoExpect::default(),
        ordered: false,
        range_vector: None,
        string: None,
        scalar: None,
        series: Vec::new(),
        native_histograms: false,
    };
    match cmd {
        "eval" => {}
        "eval_fail" => c.fail = Some(MsgMatch::Any),
        "eval_warn" => c.warn.at_least_one = true,
        "eval_info" => c.info.at_least_one = true,
        "eval_ordered" => c.ordered = true,
        other => return Err(err(format!("invalid command {other:?}"))),
    }
    for &(n, l) in block {
        if let Some(r) = l.strip_prefix("expected_fail_message") {
            c.fail = Some(MsgMatch::Exact(r.trim().to_string()));
        } else if let Some(r) = l.strip_prefix("expected_fail_regexp") {
            c.fail = Some(parse_msg(&format!("regex:{r}"), n)?);
        } else if let Some(r) = l.strip_prefix("expect ") {
            let r = r.trim();
            if let Some(m) = r.strip_prefix("fail") {
                c.fail = Some(parse_msg(m, n)?);
            } else if let Some(m) = r.strip_prefix("warn") {
                c.warn.lines.push(parse_msg(m, n)?);
            } else if let Some(m) = r.strip_prefix("info") {
                c.info.lines.push(parse_msg(m, n)?);
            } else if r == "no_warn" {
                c.warn.none = true;
            } else if r == "no_info" {
                c.info.none = true;
            } else if r == "ordered" {
                c.ordered = true;
            } else if let Some(m) = r.strip_prefix("range vector from ") {
                let parts: Vec<&str> = m.split_whitespace().collect();
                match parts.as_slice() {
                    [s, "to", e, "step", st] => {
                        c.range_vector =
                            Some((parse_time(s, n)?, parse_time(e, n)?, parse_time(st, n)?))
                    }
                    _ => return Err(err(format!("invalid expect range vector: {l:?}"))),
                }
            } else if let Some(m) = r.strip_prefix("string ") {
                let m = m.trim();
                let inner = m
                    .strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .or_else(|| m.strip_prefix('`').and_then(|x| x.strip_suffix('`')))
                    .ok_or_else(|| err(format!("invalid expect string: {l:?}")))?;
                c.string = Some(inner.to_string());
            } else {
                return Err(ScriptError {
                    line: n,
                    message: format!("invalid expect line: {l:?}"),
                });
            }
        } else if l.contains("{{") {
            c.native_histograms = true;
        } else if let Some(v) = parse_number(l) {
            c.scalar = Some(v);
        } else {
            let (labels, vals) = parse_series_desc(l).map_err(|e| ScriptError {
                line: n,
                message: format!("invalid expected series: {e}"),
            })?;
            c.series.push((labels, vals));
        }
    }
    Ok(c)
}

fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    match t {
        "Inf" | "+Inf" | "inf" | "+inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        "NaN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') {
        return None;
    }
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok().map(|v| v as f64);
    }
    t.parse::<f64>().ok()
}

fn run_eval(engine: &Engine, storage: &MemStorage, c: &EvalCmd) -> Result<(), String> {
    match c.kind {
        EvalKind::Range { start, end, step } => {
            let res = engine.range_query(storage, &c.expr, start, end, step);
            let res = match (res, &c.fail) {
                (Err(e), Some(m)) => return check_failure(&e.message, m),
                (Err(e), None) => return Err(format!("unexpected error: {e}")),
                (Ok(_), Some(_)) => return Err("expected an error, got none".into()),
                (Ok(r), None) => r,
            };
            check_annotations(c, &res.warnings, &res.infos)?;
            compare(c, &res.value, start, step, end)
        }
        EvalKind::Instant { at } => {
            let mut runs = vec![(c.expr.clone(), at)];
            if let Some(variants) = at_modifier_variants(&c.expr, at) {
                runs.extend(variants);
            }
            for (q, t) in &runs {
                let res = engine.instant_query(storage, q, *t);
                let res = match (res, &c.fail) {
                    (Err(e), Some(m)) => {
                        check_failure(&e.message, m).map_err(|e| format!("{q} at {t}: {e}"))?;
                        continue;
                    }
                    (Err(e), None) => return Err(format!("{q} at {t}: unexpected error: {e}")),
                    (Ok(_), Some(_)) => {
                        return Err(format!("{q} at {t}: expected an error, got none"))
                    }
                    (Ok(r), None) => r,
                };
                check_annotations(c, &res.warnings, &res.infos)
                    .map_err(|e| format!("{q} at {t}: {e}"))?;
                let (s, e, st) = c.range_vector.unwrap_or((*t, *t, 0));
                compare(c, &res.value, s, st, e).map_err(|e| format!("{q} at {t}: {e}"))?;
                if c.ordered || c.range_vector.is_some() || c.string.is_some() {
                    continue;
                }
                let lower = q.to_ascii_lowercase();
                if ["start()", "end()", "range()", "step()"]
                    .iter()
                    .any(|f| lower.contains(f))
                {
                    continue;
                }
                let rr = engine
                    .range_query(storage, q, t - 60_000, t + 60_000, 60_000)
                    .map_err(|e| format!("{q} at {t} in range mode: unexpected error: {e}"))?;
                let mid = middle_step(&rr.value, *t);
                let mid = match (&res.value, mid) {
                    (Value::Scalar { .. }, Value::Vector(v)) => Value::Scalar {
                        t: *t,
                        v: v.first().map(|s| s.v).unwrap_or(f64::NAN),
                    },
                    (_, m) => m,
                };
                compare(c, &mid, *t, 0, *t)
                    .map_err(|e| format!("{q} at {t} in range mode: {e}"))?;
            }
            Ok(())
        }
    }
}

fn middle_step(v: &Value, t: i64) -> Value {
    match v {
        Value::Matrix(m) => Value::Vector(
            m.iter()
                .filter_map(|s| {
                    s.samples
                        .iter()
                        .find(|p| p.0 == t)
                        .map(|p| crate::promql::VectorSample {
                            labels: s.labels.clone(),
                            t,
                            v: p.1,
                        })
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn check_failure(msg: &str, m: &MsgMatch) -> Result<(), String> {
    if m.matches(msg) {
        Ok(())
    } else {
        Err(format!("unexpected error message {msg:?}, expected {m:?}"))
    }
}

fn check_kind(kind: &str, exp: &AnnoExpect, got: &[String]) -> Result<(), String> {
    if exp.none && !got.is_empty() {
        return Err(format!("unexpected {kind} annotations: {got:?}"));
    }
    if exp.at_least_one && got.is_empty() {
        return Err(format!("expected {kind} annotations, got none"));
    }
    if exp.lines.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!("expected {kind} annotations, got none"));
    }
    for m in &exp.lines {
        if !got.iter().any(|g| m.matches(g)) {
            return Err(format!("expected {kind} {m:?} not found in {got:?}"));
        }
    }
    for g in got {
        if !exp.lines.iter().any(|m| m.matches(g)) {
            return Err(format!("unexpected {kind} annotation {g:?}"));
        }
    }
    Ok(())
}

fn check_annotations(c: &EvalCmd, warnings: &[String], infos: &[String]) -> Result<(), String> {
    if c.ordered && c.warn.lines.is_empty() && c.info.lines.is_empty() {
        // Upstream ignores annotations when testing for order.
        return Ok(());
    }
    check_kind("warn", &c.warn, warnings)?;
    check_kind("info", &c.info, infos)
}

/// Floats equal within upstream's test tolerance; NaN matches NaN, a stale
/// marker only a stale marker.
fn float_eq(exp: f64, got: f64) -> bool {
    if is_stale_nan(exp) || is_stale_nan(got) {
        return is_stale_nan(exp) && is_stale_nan(got);
    }
    if exp.is_nan() && got.is_nan() {
        return true;
    }
    if exp == got {
        return true;
    }
    let abs_sum = exp.abs() + got.abs();
    let diff = (exp - got).abs();
    if exp == 0.0 || got == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < 1e-6 * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < 1e-6
}

/// Compares a result with the expectation; `start`/`step`/`end` place the
/// expected values of matrix results.
fn compare(c: &EvalCmd, v: &Value, start: i64, step: i64, end: i64) -> Result<(), String> {
    if let Some(s) = &c.string {
        return match v {
            Value::String { s: got, .. } if got == s => Ok(()),
            other => Err(format!("expected string {s:?}, got {other}")),
        };
    }
    match v {
        Value::Scalar { v, .. } => match c.scalar {
            Some(exp) if float_eq(exp, *v) => Ok(()),
            Some(exp) => Err(format!("expected scalar {exp}, got {v}")),
            None => Err(format!("unexpected scalar result {v}")),
        },
        Value::String { s, .. } => Err(format!("unexpected string result {s:?}")),
        Value::Vector(vec) => {
            if c.scalar.is_some() {
                return Err(format!("expected a scalar, got vector {v}"));
            }
            let mut seen = vec![false; c.series.len()];
            for (pos, s) in vec.iter().enumerate() {
                let idx = c
                    .series
                    .iter()
                    .position(|(l, _)| *l == s.labels)
                    .ok_or_else(|| {
                        format!(
                            "unexpected metric {} in result, has value {}",
                            s.labels, s.v
                        )
                    })?;
                if c.ordered && idx != pos {
                    return Err(format!(
                        "expected metric {} at position {} but was at {}",
                        s.labels,
                        idx + 1,
                        pos + 1
                    ));
                }
                let exp = &c.series[idx].1;
                let e = exp.first().map(|x| x.value).unwrap_or(f64::NAN);
                if exp.len() != 1 || !float_eq(e, s.v) {
                    return Err(format!("expected {} for {} but got {}", e, s.labels, s.v));
                }
                seen[idx] = true;
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected metric {} not found", c.series[i].0));
            }
            Ok(())
        }
        Value::Matrix(m) => {
            if c.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if c.scalar.is_some() {
                return Err(format!("expected scalar result, but got matrix {v}"));
            }
            if m.windows(2).any(|w| w[0].labels > w[1].labels) {
                return Err("matrix results should always be sorted".into());
            }
            let mut seen = vec![false; c.series.len()];
            for s in m {
                let idx = c
                    .series
                    .iter()
                    .position(|(l, _)| *l == s.labels)
                    .ok_or_else(|| format!("unexpected metric {} in result", s.labels))?;
                seen[idx] = true;
                let mut expected = Vec::new();
                for (i, e) in c.series[idx].1.iter().enumerate() {
                    let t = start + i as i64 * step;
                    if t > end || (step == 0 && i > 0) {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many points",
                            c.series[idx].1.len(),
                            s.labels
                        ));
                    }
                    if !e.omitted {
                        expected.push((t, e.value));
                    }
                }
                if expected.len() != s.samples.len() {
                    return Err(format!(
                        "expected {} points for {}, got {}: {:?}",
                        expected.len(),
                        s.labels,
                        s.samples.len(),
                        s.samples
                    ));
                }
                for (e, g) in expected.iter().zip(&s.samples) {
                    if e.0 != g.0 || !float_eq(e.1, g.1) {
                        return Err(format!(
                            "for {} expected {:?} got {:?}",
                            s.labels, expected, s.samples
                        ));
                    }
                }
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected metric {} not found", c.series[i].0));
            }
            Ok(())
        }
    }
}

/// The query with `@ <t>` on every selector and subquery that has none,
/// run at upstream's extra evaluation times; `None` when the query uses a
/// function whose value depends on the evaluation time.
fn at_modifier_variants(query: &str, t: i64) -> Option<Vec<(String, i64)>> {
    let mut expr = parse_expr(query).ok()?;
    let mut unsafe_fn = false;
    set_at(&mut expr, t, &mut unsafe_fn);
    if unsafe_fn {
        return None;
    }
    let q = expr.to_string();
    let times: Vec<i64> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    Some(times.into_iter().map(|et| (q.clone(), et)).collect())
}

fn set_at(e: &mut Expr, t: i64, unsafe_fn: &mut bool) {
    match e {
        Expr::VectorSelector(vs) => {
            if vs.timestamp.is_none() && vs.start_or_end.is_none() {
                vs.timestamp = Some(t);
            }
        }
        Expr::MatrixSelector(ms) => set_at(&mut ms.vector_selector, t, unsafe_fn),
        Expr::Subquery(SubqueryExpr {
            timestamp,
            start_or_end,
            expr,
            ..
        }) => {
            if timestamp.is_none() && start_or_end.is_none() {
                *timestamp = Some(t);
            }
            // Upstream leaves everything below a pinned subquery alone.
            let _ = expr;
        }
        Expr::Aggregate(a) => {
            set_at(&mut a.expr, t, unsafe_fn);
            if let Some(p) = a.param.as_mut() {
                set_at(p, t, unsafe_fn);
            }
        }
        Expr::Binary(b) => {
            set_at(&mut b.lhs, t, unsafe_fn);
            set_at(&mut b.rhs, t, unsafe_fn);
        }
        Expr::Call(c) => {
            // `start()`, `end()`, `range()` and `step()` change with the
            // evaluation times of the re-runs as well.
            if crate::promql::engine::AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.name.as_str())
                || matches!(c.name.as_str(), "start" | "end" | "range" | "step")
            {
                *unsafe_fn = true;
            }
            for a in c.args.iter_mut() {
                set_at(a, t, unsafe_fn);
            }
        }
        Expr::Paren(p) => set_at(&mut p.expr, t, unsafe_fn),
        Expr::Unary(u) => set_at(&mut u.expr, t, unsafe_fn),
        Expr::StepInvariant(s) => set_at(&mut s.expr, t, unsafe_fn),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_small_script() {
        let script = "load 1m\n  up{job=\"a\"} 1 2 3\n\neval instant at 2m up\n  up{job=\"a\"} 3\n\neval instant at 2m up\n  up{job=\"a\"} 4\n\neval range from 0 to 2m step 1m up * 2\n  {job=\"a\"} 2 4 6\n";
        let res = run_script(script, &|_| None).unwrap();
        assert_eq!(res.len(), 3);
        assert_eq!(res[0].outcome, Outcome::Passed);
        assert!(matches!(res[1].outcome, Outcome::Failed(_)));
        assert_eq!(res[2].outcome, Outcome::Passed, "{:?}", res[2]);
    }
}
