//! PromQL functions, as upstream's `functions.go`: range-vector functions
//! (`rate`, `*_over_time`, ...) evaluated per series over left-open
//! windows, element-wise math and date functions, label manipulation,
//! sorting, `absent`, `scalar`/`vector`, and `histogram_quantile` over
//! classic `le` buckets. Native histograms are not stored by promlite, so
//! the `histogram_*` functions that read them see no input.

use std::cmp::Ordering;
use std::collections::HashMap;

use regex::Regex;

use crate::model::labels::METRIC_NAME;
use crate::model::value::format_go_g;
use crate::model::{Labels, MatchType};
use crate::promql::ast::{Call, Expr, PosRange, RangeModifier, ValueType};

use super::eval::{expr_pos, expr_type, unwrap, Evaluator, Matrix, RangeArg, Series, Val};
use super::QueryError;

/// Evaluates a function call over every step.
pub(crate) fn eval_call(ev: &mut Evaluator, c: &Call) -> Result<Val, QueryError> {
    let name = c.name.as_str();
    check_range_modifiers(c)?;
    if let Some(idx) = c
        .args
        .iter()
        .position(|a| expr_type(a) == ValueType::Matrix)
    {
        return eval_range_function(ev, c, idx).map(Val::Matrix);
    }
    let m = match name {
        "time" => ev.scalar_matrix(|t| t as f64 / 1000.0)?,
        "pi" => ev.scalar_matrix(|_| std::f64::consts::PI)?,
        "step" => {
            let step = ev.query_step;
            ev.scalar_matrix(|_| step as f64 / 1000.0)?
        }
        "range" => {
            let r = ev.query_end - ev.query_start;
            ev.scalar_matrix(|_| r as f64 / 1000.0)?
        }
        "start" => {
            let t = ev.query_start;
            ev.scalar_matrix(|_| t as f64 / 1000.0)?
        }
        "end" => {
            let t = ev.query_end;
            ev.scalar_matrix(|_| t as f64 / 1000.0)?
        }
        "min_of" | "max_of" => {
            let a = ev.eval_scalar_steps(arg(c, 0)?)?;
            let b = ev.eval_scalar_steps(arg(c, 1)?)?;
            let min = name == "min_of";
            let (start, interval) = (ev.start, ev.interval);
            ev.scalar_matrix(|t| {
                let k = ((t - start) / interval) as usize;
                let (x, y) = (
                    a.get(k).copied().unwrap_or(f64::NAN),
                    b.get(k).copied().unwrap_or(f64::NAN),
                );
                if min {
                    go_min(x, y)
                } else {
                    go_max(x, y)
                }
            })?
        }
        "vector" => {
            let mut m = ev.eval_matrix(arg(c, 0)?)?;
            for s in m.iter_mut() {
                s.metric = Labels::empty();
            }
            m
        }
        "scalar" => {
            let m = ev.eval_matrix(arg(c, 0)?)?;
            let n = ev.num_steps();
            let mut counts = vec![0usize; n];
            let mut vals = vec![f64::NAN; n];
            for s in &m {
                for &(t, v) in &s.floats {
                    let k = ev.step_index(t);
                    if let (Some(cnt), Some(val)) = (counts.get_mut(k), vals.get_mut(k)) {
                        *cnt += 1;
                        *val = v;
                    }
                }
            }
            ev.release_matrix(&m);
            let out: Vec<f64> = counts
                .iter()
                .zip(vals)
                .map(|(c, v)| if *c == 1 { v } else { f64::NAN })
                .collect();
            let start = ev.start;
            let interval = ev.interval;
            ev.scalar_matrix(|t| {
                out.get(((t - start) / interval) as usize)
                    .copied()
                    .unwrap_or(f64::NAN)
            })?
        }
        "timestamp" => {
            let a = arg(c, 0)?;
            if let Expr::VectorSelector(vs) = unwrap(a) {
                let mut m = ev.eval_vector_selector(vs, true)?;
                for s in m.iter_mut() {
                    s.drop_name = true;
                }
                m
            } else {
                let mut m = ev.eval_matrix(a)?;
                for s in m.iter_mut() {
                    for p in s.floats.iter_mut() {
                        p.1 = p.0 as f64 / 1000.0;
                    }
                    s.drop_name = true;
                }
                m
            }
        }
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "acos"
        | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cos" | "cosh" | "sin" | "sinh"
        | "tan" | "tanh" | "deg" | "rad" => {
            let f = simple_math(name);
            let mut m = ev.eval_matrix(arg(c, 0)?)?;
            for s in m.iter_mut() {
                for p in s.floats.iter_mut() {
                    p.1 = f(p.1);
                }
                s.drop_name = true;
            }
            m
        }
        "round" => {
            let to_nearest = match c.args.get(1) {
                Some(e) => ev.eval_scalar_steps(e)?,
                None => vec![1.0; ev.num_steps()],
            };
            map_with_params(ev, arg(c, 0)?, &[to_nearest], |v, p| {
                let inv = 1.0 / p[0];
                (v * inv + 0.5).floor() / inv
            })?
        }
        "clamp" => {
            let lo = ev.eval_scalar_steps(arg(c, 1)?)?;
            let hi = ev.eval_scalar_steps(arg(c, 2)?)?;
            let mut m = map_with_params(ev, arg(c, 0)?, &[lo.clone(), hi.clone()], |v, p| {
                go_max(p[0], go_min(p[1], v))
            })?;
            // max < min yields nothing at that step.
            let (start, interval) = (ev.start, ev.interval);
            for s in m.iter_mut() {
                s.floats.retain(|p| {
                    let k = ((p.0 - start) / interval) as usize;
                    !matches!((lo.get(k), hi.get(k)), (Some(l), Some(h)) if h < l)
                });
            }
            m
        }
        "clamp_min" => {
            let lo = ev.eval_scalar_steps(arg(c, 1)?)?;
            map_with_params(ev, arg(c, 0)?, &[lo], |v, p| go_max(p[0], v))?
        }
        "clamp_max" => {
            let hi = ev.eval_scalar_steps(arg(c, 1)?)?;
            map_with_params(ev, arg(c, 0)?, &[hi], |v, p| go_min(p[0], v))?
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let f = date_fn(name);
            match c.args.first() {
                None => ev
                    .scalar_matrix(|t| f(t.div_euclid(1000)))?
                    .into_iter()
                    .map(|s| Series {
                        drop_name: false,
                        ..s
                    })
                    .collect(),
                Some(a) => {
                    let mut m = ev.eval_matrix(a)?;
                    for s in m.iter_mut() {
                        for p in s.floats.iter_mut() {
                            p.1 = f(go_f64_to_i64(p.1));
                        }
                        s.drop_name = true;
                    }
                    m
                }
            }
        }
        "label_replace" => label_replace(ev, c)?,
        "label_join" => label_join(ev, c)?,
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => sort_fn(ev, c)?,
        "absent" => {
            let a = arg(c, 0)?;
            let m = ev.eval_matrix(a)?;
            let mut present = vec![false; ev.num_steps()];
            for s in &m {
                for &(t, _) in &s.floats {
                    if let Some(p) = present.get_mut(ev.step_index(t)) {
                        *p = true;
                    }
                }
            }
            ev.release_matrix(&m);
            let floats: Vec<(i64, f64)> = ev
                .steps()
                .zip(present)
                .filter(|(_, p)| !p)
                .map(|(t, _)| (t, 1.0))
                .collect();
            absent_series(ev, absent_labels(a), floats)?
        }
        "histogram_quantile" => histogram_quantile(ev, c)?,
        "histogram_quantiles" => histogram_quantiles(ev, c)?,
        "histogram_fraction" => histogram_fraction(ev, c)?,
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => {
            // These read native histograms only, which promlite's storage
            // does not hold: say so rather than answer with nothing.
            return Err(QueryError::exec(format!(
                "{name}() reads native histograms, which are not supported by promlite"
            )));
        }
        "info" => info(ev, c)?,
        other => {
            return Err(QueryError::exec(format!(
                "function {other:?} is not supported by promlite"
            )))
        }
    };
    Ok(Val::Matrix(m))
}

fn arg(c: &Call, i: usize) -> Result<&Expr, QueryError> {
    c.args.get(i).ok_or_else(|| {
        QueryError::bad_data(format!(
            "expected at least {} argument(s) in call to {:?}",
            i + 1,
            c.name
        ))
    })
}

fn check_range_modifiers(c: &Call) -> Result<(), QueryError> {
    for a in &c.args {
        if let Expr::MatrixSelector(ms) = unwrap(a) {
            if let Expr::VectorSelector(vs) = unwrap(&ms.vector_selector) {
                let (kind, allowed): (&str, &[&str]) = match vs.modifier {
                    RangeModifier::None => continue,
                    RangeModifier::Anchored => (
                        "anchored",
                        &["changes", "delta", "increase", "rate", "resets"],
                    ),
                    RangeModifier::Smoothed => ("smoothed", &["delta", "increase", "rate"]),
                };
                if !allowed.contains(&c.name.as_str()) {
                    return Err(QueryError::exec(format!(
                        "{kind} modifier can only be used with: {} - not with {}",
                        allowed.join(", "),
                        c.name
                    )));
                }
                continue;
            }
        }
    }
    Ok(())
}

/// Applies `f(value, params at the step)` to every point of a vector argument.
fn map_with_params(
    ev: &mut Evaluator,
    e: &Expr,
    params: &[Vec<f64>],
    f: impl Fn(f64, &[f64]) -> f64,
) -> Result<Matrix, QueryError> {
    let mut m = ev.eval_matrix(e)?;
    let mut buf = vec![0.0; params.len()];
    for s in m.iter_mut() {
        for p in s.floats.iter_mut() {
            let k = ev.step_index(p.0);
            for (b, col) in buf.iter_mut().zip(params) {
                *b = col.get(k).copied().unwrap_or(f64::NAN);
            }
            p.1 = f(p.1, &buf);
        }
        s.drop_name = true;
    }
    Ok(m)
}

fn simple_math(name: &str) -> fn(f64) -> f64 {
    match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        "tanh" => f64::tanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        _ => |v: f64| v,
    }
}

/// Go's `math.Max`: NaN wins.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Go's float-to-int64 conversion as amd64 does it: out of range and NaN
/// give the minimum int64.
fn go_f64_to_i64(v: f64) -> i64 {
    if v.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn date_fn(name: &str) -> fn(i64) -> f64 {
    match name {
        "day_of_month" => |s| civil_from_days(s.div_euclid(86_400)).2 as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_year" => |s| {
            let days = s.div_euclid(86_400);
            let (y, _, _) = civil_from_days(days);
            let mut jan1 = days;
            // Walk back to January 1st of the same year.
            let (_, m, d) = civil_from_days(days);
            let before: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let leap = if is_leap(y) && m > 2 { 1 } else { 0 };
            jan1 -= i64::from(before[(m - 1) as usize] + leap + d - 1);
            (days - jan1 + 1) as f64
        },
        "days_in_month" => |s| {
            let (y, m, _) = civil_from_days(s.div_euclid(86_400));
            match m {
                2 if is_leap(y) => 29.0,
                2 => 28.0,
                4 | 6 | 9 | 11 => 30.0,
                _ => 31.0,
            }
        },
        "hour" => |s| (s.rem_euclid(86_400) / 3600) as f64,
        "minute" => |s| (s.rem_euclid(3600) / 60) as f64,
        "month" => |s| civil_from_days(s.div_euclid(86_400)).1 as f64,
        _ => |s| civil_from_days(s.div_euclid(86_400)).0 as f64,
    }
}

fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// Merges series whose labels became equal; overlapping points are an error.
fn merge_same_labels(m: Matrix) -> Result<Matrix, QueryError> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Matrix = Vec::with_capacity(m.len());
    for s in m {
        match index.get(&s.metric) {
            None => {
                index.insert(s.metric.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let e = &mut out[i];
                for p in s.floats {
                    match e.floats.binary_search_by_key(&p.0, |q| q.0) {
                        Ok(_) => {
                            return Err(QueryError::exec(
                                "vector cannot contain metrics with the same labelset",
                            ))
                        }
                        Err(pos) => e.floats.insert(pos, p),
                    }
                }
                e.drop_name |= s.drop_name;
            }
        }
    }
    Ok(out)
}

fn label_replace(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let dst = ev.eval_string(arg(c, 1)?)?;
    let repl = ev.eval_string(arg(c, 2)?)?;
    let src = ev.eval_string(arg(c, 3)?)?;
    let re_str = ev.eval_string(arg(c, 4)?)?;
    let re = Regex::new(&format!("^(?s:{re_str})$")).map_err(|_| {
        QueryError::exec(format!(
            "invalid regular expression in label_replace(): {re_str}"
        ))
    })?;
    if !is_valid_label_name(&dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut m = ev.eval_matrix(arg(c, 0)?)?;
    for s in m.iter_mut() {
        let src_val = s.metric.get_or_empty(&src).to_string();
        if let Some(caps) = re.captures(&src_val) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            let mut b = s.metric.builder();
            b.set(&dst, &res);
            s.metric = b.build();
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    merge_same_labels(m)
}

fn label_join(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let dst = ev.eval_string(arg(c, 1)?)?;
    let sep = ev.eval_string(arg(c, 2)?)?;
    let mut srcs = Vec::new();
    for a in c.args.iter().skip(3) {
        let s = ev.eval_string(a)?;
        if !is_valid_label_name(&s) {
            return Err(QueryError::exec(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
        srcs.push(s);
    }
    if !is_valid_label_name(&dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut m = ev.eval_matrix(arg(c, 0)?)?;
    for s in m.iter_mut() {
        let joined = srcs
            .iter()
            .map(|n| s.metric.get_or_empty(n))
            .collect::<Vec<_>>()
            .join(&sep);
        let mut b = s.metric.builder();
        b.set(&dst, &joined);
        s.metric = b.build();
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    merge_same_labels(m)
}

/// `info(v, {selector})`: adds the data labels of info series (by default
/// `target_info`) that share `instance` and `job` with each sample, as of the
/// sample's own reference time. When several info series of one metric
/// match, the one with the latest sample wins.
fn info(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let base_expr = arg(c, 0)?;
    let (ref_at, ref_offset) = info_reference(base_expr);
    let selector: Vec<crate::model::Matcher> = match c.args.get(1).map(unwrap) {
        Some(Expr::VectorSelector(vs)) => vs.matchers.clone(),
        _ => Vec::new(),
    };
    let (mut name_m, data_m): (Vec<_>, Vec<_>) =
        selector.into_iter().partition(|m| m.name == METRIC_NAME);
    // With only negative name matchers, info series are the `*_info` ones.
    let suffix_rule = !name_m.is_empty()
        && !name_m
            .iter()
            .any(|m| matches!(m.kind, MatchType::Equal | MatchType::Regex));
    if name_m.is_empty() {
        let m = crate::model::Matcher::new(MatchType::Equal, METRIC_NAME, "target_info")
            .map_err(|e| QueryError::exec(e.to_string()))?;
        name_m.push(m);
    }
    let base = ev.eval_matrix(base_expr)?;
    let vs = crate::promql::ast::VectorSelector {
        name: None,
        matchers: name_m.iter().chain(&data_m).cloned().collect(),
        original_offset: ref_offset,
        offset_expr: None,
        timestamp: ref_at,
        start_or_end: None,
        modifier: RangeModifier::None,
        pos: c.pos,
    };
    // Values are the info samples' timestamps, to pick the latest.
    let mut infos = ev.eval_vector_selector(&vs, true)?;
    infos.retain(|s| !suffix_rule || s.metric.get_or_empty(METRIC_NAME).ends_with("_info"));
    let ident = |l: &Labels| {
        (
            l.get_or_empty("instance").to_string(),
            l.get_or_empty("job").to_string(),
        )
    };
    let mut by_ident: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, s) in infos.iter().enumerate() {
        by_ident.entry(ident(&s.metric)).or_default().push(i);
    }
    let data_names: Vec<&str> = data_m.iter().map(|m| m.name.as_str()).collect();
    let requires_match = data_m.iter().any(|m| !m.matches(""));
    let is_info_metric = |l: &Labels| {
        let n = l.get_or_empty(METRIC_NAME);
        !n.is_empty()
            && (!suffix_rule || n.ends_with("_info"))
            && name_m.iter().all(|m| m.matches(n))
    };
    let mut col = super::eval::SeriesCollector::new();
    for s in &base {
        if is_info_metric(&s.metric) {
            for &(t, v) in &s.floats {
                col.push(&s.metric, s.drop_name, t, v)?;
            }
            continue;
        }
        let candidates = by_ident.get(&ident(&s.metric));
        for &(t, v) in &s.floats {
            // Latest info sample per info metric name at this step.
            let mut chosen: Vec<(&str, f64, usize)> = Vec::new();
            for &i in candidates.into_iter().flatten() {
                let Some(&(_, ts)) = infos[i].floats.iter().find(|p| p.0 == t) else {
                    continue;
                };
                let name = infos[i].metric.get_or_empty(METRIC_NAME);
                match chosen.iter_mut().find(|c| c.0 == name) {
                    Some(c) if ts > c.1 => *c = (name, ts, i),
                    Some(_) => {}
                    None => chosen.push((name, ts, i)),
                }
            }
            if chosen.is_empty() {
                if !requires_match {
                    col.push(&s.metric, s.drop_name, t, v)?;
                }
                continue;
            }
            let mut b = s.metric.builder();
            let mut added: Vec<(&str, &str)> = Vec::new();
            for (_, _, i) in &chosen {
                for l in infos[*i].metric.iter() {
                    let wanted = if data_names.is_empty() {
                        !matches!(l.name.as_str(), METRIC_NAME | "instance" | "job")
                    } else {
                        data_names.contains(&l.name.as_str())
                    };
                    if !wanted {
                        continue;
                    }
                    if let Some((_, prev)) = added.iter().find(|(n, _)| *n == l.name) {
                        if *prev != l.value {
                            return Err(QueryError::exec(format!(
                                "conflicting label: {} has values {} and {} in different info metrics",
                                l.name,
                                crate::model::labels::go_quote(prev),
                                crate::model::labels::go_quote(&l.value)
                            )));
                        }
                    } else if b.get(&l.name).is_none() {
                        b.set(&l.name, &l.value);
                        added.push((&l.name, &l.value));
                    }
                }
            }
            col.push(&b.build(), s.drop_name, t, v)?;
        }
    }
    ev.release_matrix(&base);
    ev.release_matrix(&infos);
    Ok(col.series)
}

/// The `@` time and offset at which the samples below `e` are read, so
/// that info series are matched as of the same time.
fn info_reference(e: &Expr) -> (Option<i64>, i64) {
    match unwrap(e) {
        Expr::VectorSelector(vs) => (vs.timestamp, vs.original_offset),
        Expr::MatrixSelector(ms) => info_reference(&ms.vector_selector),
        Expr::Subquery(sq) => {
            let (inner_at, inner_off) = info_reference(&sq.expr);
            if inner_at.is_some() {
                (inner_at, inner_off)
            } else {
                (sq.timestamp, sq.original_offset + inner_off)
            }
        }
        Expr::Call(c) => c
            .args
            .iter()
            .find(|a| matches!(expr_type(a), ValueType::Matrix | ValueType::Vector))
            .map(info_reference)
            .unwrap_or((None, 0)),
        Expr::Aggregate(a) => info_reference(&a.expr),
        Expr::Binary(b) => info_reference(&b.lhs),
        Expr::Unary(u) => info_reference(&u.expr),
        _ => (None, 0),
    }
}

/// Compares strings with runs of digits ordered by numeric value.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = a[i].cmp(&b[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn sort_fn(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let mut names = Vec::new();
    for a in c.args.iter().skip(1) {
        names.push(ev.eval_string(a)?);
    }
    let mut m = ev.eval_matrix(arg(c, 0)?)?;
    if ev.start != ev.end {
        ev.annotations.warn(
            "sort is ineffective for range queries since results are always ordered by labels",
            c.pos,
        );
        return Ok(m);
    }
    let val = |s: &Series| s.floats.first().map(|p| p.1).unwrap_or(f64::NAN);
    match c.name.as_str() {
        "sort" => m.sort_by(|a, b| nan_last(val(a), val(b), false)),
        "sort_desc" => m.sort_by(|a, b| nan_last(val(a), val(b), true)),
        name => {
            let desc = name == "sort_by_label_desc";
            m.sort_by(|a, b| {
                let mut o = Ordering::Equal;
                for n in &names {
                    o = natural_cmp(a.metric.get_or_empty(n), b.metric.get_or_empty(n));
                    if o != Ordering::Equal {
                        break;
                    }
                }
                if o == Ordering::Equal {
                    o = a.metric.cmp(&b.metric);
                }
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
    Ok(m)
}

/// Orders by value, NaN always last.
fn nan_last(a: f64, b: f64, desc: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// The labels `absent(...)` reports: the selector's equality matchers.
fn absent_labels(e: &Expr) -> Labels {
    let matchers = match unwrap(e) {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector(ms) => match unwrap(&ms.vector_selector) {
            Expr::VectorSelector(vs) => &vs.matchers,
            _ => return Labels::empty(),
        },
        _ => return Labels::empty(),
    };
    let mut b = crate::model::LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.kind == MatchType::Equal && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

fn absent_series(
    ev: &mut Evaluator,
    metric: Labels,
    floats: Vec<(i64, f64)>,
) -> Result<Matrix, QueryError> {
    if floats.is_empty() {
        return Ok(Vec::new());
    }
    ev.account(floats.len())?;
    Ok(vec![Series {
        metric,
        floats,
        drop_name: false,
    }])
}

/// A range-vector function: one output series per input series, one
/// point per step whose window has samples.
fn eval_range_function(ev: &mut Evaluator, c: &Call, idx: usize) -> Result<Matrix, QueryError> {
    let name = c.name.as_str();
    let mut params: Vec<Vec<f64>> = Vec::new();
    for (i, a) in c.args.iter().enumerate() {
        if i != idx {
            params.push(ev.eval_scalar_steps(a)?);
        }
    }
    let mut arg = ev.range_arg(&c.args[idx])?;
    let steps: Vec<i64> = ev.steps().collect();
    if name == "absent_over_time" {
        let mut present = vec![false; steps.len()];
        for s in &arg.series {
            for (k, ts) in steps.iter().enumerate() {
                if !window(&arg, s, *ts).is_empty() {
                    present[k] = true;
                }
            }
        }
        let floats = steps
            .iter()
            .zip(present)
            .filter(|(_, p)| !p)
            .map(|(t, _)| (*t, 1.0))
            .collect();
        let labels = absent_labels(&c.args[idx]);
        return absent_series(ev, labels, floats);
    }
    if arg.modifier != RangeModifier::None {
        return extended_range_function(ev, name, arg, &steps);
    }
    let f = range_fn(name).ok_or_else(|| {
        QueryError::exec(format!("function {name:?} is not supported by promlite"))
    })?;
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    let param_pos = c
        .args
        .iter()
        .enumerate()
        .find(|(i, _)| *i != idx)
        .map(|(_, a)| expr_pos(a))
        .unwrap_or(c.pos);
    let series = std::mem::take(&mut arg.series);
    let mut out = Vec::with_capacity(series.len());
    let mut pbuf = vec![0.0; params.len()];
    let counter = matches!(name, "rate" | "increase");
    let mut resets: Vec<u32> = Vec::new();
    for s in series {
        ev.check_deadline()?;
        // resets[i]: counter resets among the first i+1 samples.
        resets.clear();
        if counter {
            let mut n = 0;
            let mut prev = f64::NAN;
            for p in &s.floats {
                if p.1 < prev {
                    n += 1;
                }
                prev = p.1;
                resets.push(n);
            }
        }
        let mut floats = Vec::new();
        // Window bounds only move forward as steps advance.
        let (mut a, mut b) = (0usize, 0usize);
        for (k, &ts) in steps.iter().enumerate() {
            let reft = arg.at.unwrap_or(ts) - arg.offset;
            let lo = reft - arg.range;
            while b < s.floats.len() && s.floats[b].0 <= reft {
                b += 1;
            }
            while a < b && s.floats[a].0 <= lo {
                a += 1;
            }
            if a >= b {
                continue;
            }
            let w = &s.floats[a..b];
            for (b, col) in pbuf.iter_mut().zip(&params) {
                *b = col.get(k).copied().unwrap_or(f64::NAN);
            }
            let ctx = RangeCtx {
                ts,
                range_start: reft - arg.range,
                range_end: reft,
                range: arg.range,
                params: &pbuf,
                no_resets: resets.get(b - 1).copied().unwrap_or(0)
                    == resets.get(a).copied().unwrap_or(0),
            };
            match f(w, &ctx) {
                Ok(Some(v)) => floats.push((ts, v)),
                Ok(None) => {}
                Err(RangeFnIssue::Error(e)) => return Err(QueryError::exec(e)),
                Err(RangeFnIssue::QuantileWarning(q, v)) => {
                    ev.annotations.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            format_go_g(q)
                        ),
                        param_pos,
                    );
                    floats.push((ts, v));
                }
            }
        }
        if floats.is_empty() {
            continue;
        }
        if matches!(name, "rate" | "increase") {
            if let Some(n) = s.metric.metric_name() {
                if !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|suf| n.ends_with(suf))
                {
                    ev.annotations.info(
                        format!(
                            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                            crate::model::labels::go_quote(n)
                        ),
                        arg.pos,
                    );
                }
            }
        }
        ev.account(floats.len())?;
        out.push(Series {
            metric: s.metric,
            floats,
            drop_name: s.drop_name || !keeps_name,
        });
    }
    Ok(out)
}

/// `rate`, `increase`, `delta`, `changes` and `resets` over `anchored` or
/// `smoothed` ranges: the window gains a point at its start (the last
/// sample before it, or a value interpolated between the samples around it)
/// and, when smoothed, an interpolated point at its end; no extrapolation.
fn extended_range_function(
    ev: &mut Evaluator,
    name: &str,
    arg: RangeArg,
    steps: &[i64],
) -> Result<Matrix, QueryError> {
    let smoothed = arg.modifier == RangeModifier::Smoothed;
    let counter = matches!(name, "rate" | "increase");
    let mut out = Vec::new();
    let mut pts: Vec<(i64, f64)> = Vec::new();
    for s in &arg.series {
        ev.check_deadline()?;
        let f = &s.floats;
        let mut floats = Vec::new();
        for &ts in steps {
            let reft = arg.at.unwrap_or(ts) - arg.offset;
            let lo = reft - arg.range;
            // a..b: samples in (lo, reft]; a-1: the last one at or before lo.
            let a = f.partition_point(|p| p.0 <= lo);
            let b = f.partition_point(|p| p.0 <= reft);
            let prev = a
                .checked_sub(1)
                .and_then(|i| f.get(i))
                .filter(|p| p.0 > lo - arg.lookback);
            pts.clear();
            if smoothed {
                let next_end = f.get(b).filter(|p| p.0 < reft + arg.lookback);
                if a == b && (prev.is_none() || next_end.is_none()) {
                    continue;
                }
                let first_after = f.get(a);
                let start_v = match (prev, first_after) {
                    (Some(p), Some(n)) => interpolate(*p, *n, lo, counter),
                    (Some(p), None) => p.1,
                    (None, Some(n)) => n.1,
                    (None, None) => continue,
                };
                pts.push((lo, start_v));
                pts.extend(f[a..b].iter().filter(|p| p.0 < reft));
                let last_in = b.checked_sub(1).and_then(|i| f.get(i)).copied();
                let end_v = match (last_in, next_end) {
                    (Some(p), _) if p.0 == reft => p.1,
                    (Some(p), Some(n)) => interpolate(p, *n, reft, counter),
                    (Some(p), None) => p.1,
                    (None, _) => continue,
                };
                pts.push((reft, end_v));
            } else {
                if a == b {
                    continue;
                }
                if let Some(p) = prev {
                    pts.push((lo, p.1));
                }
                pts.extend_from_slice(&f[a..b]);
            }
            let v = match name {
                "changes" => pts
                    .windows(2)
                    .filter(|w| w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()))
                    .count() as f64,
                "resets" => pts.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64,
                _ => {
                    let (first, last) = match (pts.first(), pts.last()) {
                        (Some(x), Some(y)) => (x.1, y.1),
                        _ => continue,
                    };
                    let mut r = last - first;
                    if counter {
                        for w in pts.windows(2) {
                            if w[1].1 < w[0].1 {
                                r += w[0].1;
                            }
                        }
                    }
                    if name == "rate" {
                        r / (arg.range as f64 / 1000.0)
                    } else {
                        r
                    }
                }
            };
            floats.push((ts, v));
        }
        if !floats.is_empty() {
            ev.account(floats.len())?;
            out.push(Series {
                metric: s.metric.clone(),
                floats,
                drop_name: true,
            });
        }
    }
    Ok(out)
}

/// The value at `t` between samples `p` and `n`. For counters a reset
/// between them means the counter restarted from zero after `p`.
fn interpolate(p: (i64, f64), n: (i64, f64), t: i64, counter: bool) -> f64 {
    let frac = (t - p.0) as f64 / (n.0 - p.0) as f64;
    if counter && n.1 < p.1 {
        return n.1 * frac;
    }
    p.1 + (n.1 - p.1) * frac
}

/// The points of `s` in the left-open window ending at step `ts`.
fn window<'s>(arg: &RangeArg, s: &'s Series, ts: i64) -> &'s [(i64, f64)] {
    let reft = arg.at.unwrap_or(ts) - arg.offset;
    let lo = reft - arg.range;
    let a = s.floats.partition_point(|p| p.0 <= lo);
    let b = s.floats.partition_point(|p| p.0 <= reft);
    if a < b {
        &s.floats[a..b]
    } else {
        &[]
    }
}

/// What a range function knows besides its samples.
pub(crate) struct RangeCtx<'p> {
    pub ts: i64,
    pub range_start: i64,
    pub range_end: i64,
    pub range: i64,
    pub params: &'p [f64],
    /// The window holds no counter reset, so counter functions may skip
    /// looking for one.
    pub no_resets: bool,
}

pub(crate) enum RangeFnIssue {
    Error(String),
    /// Out-of-range quantile `q`: warn, and use the value computed anyway.
    QuantileWarning(f64, f64),
}

type RangeFn = fn(&[(i64, f64)], &RangeCtx) -> Result<Option<f64>, RangeFnIssue>;

fn range_fn(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |w, c| Ok(extrapolated_rate(w, c, true, true)),
        "increase" => |w, c| Ok(extrapolated_rate(w, c, true, false)),
        "delta" => |w, c| Ok(extrapolated_rate(w, c, false, false)),
        "irate" => |w, _| Ok(instant_value(w, true)),
        "idelta" => |w, _| Ok(instant_value(w, false)),
        "deriv" => |w, _| {
            if w.len() < 2 {
                return Ok(None);
            }
            Ok(Some(linear_regression(w, w[0].0).0))
        },
        "predict_linear" => |w, c| {
            if w.len() < 2 {
                return Ok(None);
            }
            let (slope, intercept) = linear_regression(w, c.ts);
            Ok(Some(
                slope * c.params.first().copied().unwrap_or(f64::NAN) + intercept,
            ))
        },
        "changes" => |w, _| {
            let mut n = 0.0;
            for p in w.windows(2) {
                let (prev, cur) = (p[0].1, p[1].1);
                if cur != prev && !(cur.is_nan() && prev.is_nan()) {
                    n += 1.0;
                }
            }
            Ok(Some(n))
        },
        "resets" => |w, _| Ok(Some(w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64)),
        "avg_over_time" => |w, _| Ok(Some(avg_over_time(w))),
        "sum_over_time" => |w, _| {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in w {
                (sum, c) = kahan_sum_inc(p.1, sum, c);
            }
            Ok(Some(if sum.is_infinite() { sum } else { sum + c }))
        },
        "count_over_time" => |w, _| Ok(Some(w.len() as f64)),
        "min_over_time" => |w, _| {
            let mut m = w[0].1;
            for p in w {
                if p.1 < m || m.is_nan() {
                    m = p.1;
                }
            }
            Ok(Some(m))
        },
        "max_over_time" => |w, _| {
            let mut m = w[0].1;
            for p in w {
                if p.1 > m || m.is_nan() {
                    m = p.1;
                }
            }
            Ok(Some(m))
        },
        "last_over_time" => |w, _| Ok(w.last().map(|p| p.1)),
        "first_over_time" => |w, _| Ok(w.first().map(|p| p.1)),
        "ts_of_last_over_time" => |w, _| Ok(w.last().map(|p| p.0 as f64 / 1000.0)),
        "ts_of_first_over_time" => |w, _| Ok(w.first().map(|p| p.0 as f64 / 1000.0)),
        "ts_of_max_over_time" => |w, _| {
            let mut best = w[0];
            for p in w {
                if p.1 >= best.1 || best.1.is_nan() {
                    best = *p;
                }
            }
            Ok(Some(best.0 as f64 / 1000.0))
        },
        "ts_of_min_over_time" => |w, _| {
            let mut best = w[0];
            for p in w {
                if p.1 <= best.1 || best.1.is_nan() {
                    best = *p;
                }
            }
            Ok(Some(best.0 as f64 / 1000.0))
        },
        "present_over_time" => |_, _| Ok(Some(1.0)),
        "stddev_over_time" => |w, _| Ok(Some(stdvar_over_time(w).sqrt())),
        "stdvar_over_time" => |w, _| Ok(Some(stdvar_over_time(w))),
        "quantile_over_time" => |w, c| {
            let q = c.params.first().copied().unwrap_or(f64::NAN);
            let mut v: Vec<f64> = w.iter().map(|p| p.1).collect();
            let r = quantile(q, &mut v);
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                return Err(RangeFnIssue::QuantileWarning(q, r));
            }
            Ok(Some(r))
        },
        "mad_over_time" => |w, _| {
            if w.iter().any(|p| p.1.is_nan()) {
                return Ok(Some(f64::NAN));
            }
            let mut v: Vec<f64> = w.iter().map(|p| p.1).collect();
            let median = quantile(0.5, &mut v);
            let mut d: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            Ok(Some(quantile(0.5, &mut d)))
        },
        "double_exponential_smoothing" | "holt_winters" => |w, c| {
            let sf = c.params.first().copied().unwrap_or(f64::NAN);
            let tf = c.params.get(1).copied().unwrap_or(f64::NAN);
            if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
                return Err(RangeFnIssue::Error(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
                return Err(RangeFnIssue::Error(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
            if w.len() < 2 {
                return Ok(None);
            }
            let (mut s0, mut s1) = (0.0, w[0].1);
            let mut b = w[1].1 - w[0].1;
            for (i, p) in w.iter().enumerate().skip(1) {
                let x = sf * p.1;
                if i > 1 {
                    b = tf * (s1 - s0) + (1.0 - tf) * b;
                }
                let y = (1.0 - sf) * (s1 + b);
                s0 = s1;
                s1 = x + y;
            }
            Ok(Some(s1))
        },
        _ => return None,
    })
}

/// Neumaier-compensated summation step (upstream's `kahanSumInc`).
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn avg_over_time(w: &[(i64, f64)]) -> f64 {
    let (mut sum, mut count) = (w[0].1, 1.0);
    let (mut mean, mut kc) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in w.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = kahan_sum_inc(p.1, sum, kc);
            if !ns.is_infinite() {
                sum = ns;
                kc = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            kc /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, kc) = kahan_sum_inc(p.1 / count, q * mean, q * kc);
    }
    if incremental {
        mean + kc
    } else {
        sum / count + kc / count
    }
}

fn stdvar_over_time(w: &[(i64, f64)]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut cmean) = (0.0, 0.0);
    let (mut aux, mut caux) = (0.0, 0.0);
    for p in w {
        count += 1.0;
        let delta = p.1 - (mean + cmean);
        (mean, cmean) = kahan_sum_inc(delta / count, mean, cmean);
        (aux, caux) = kahan_sum_inc(delta * (p.1 - (mean + cmean)), aux, caux);
    }
    (aux + caux) / count
}

/// Upstream's `quantile`: sorts `v` (NaN first) and interpolates.
pub(crate) fn quantile(q: f64, v: &mut [f64]) -> f64 {
    if v.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    v.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    });
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    v[lower as usize] * (1.0 - weight) + v[upper as usize] * weight
}

/// Upstream 3.x `extrapolatedRate` for floats.
fn extrapolated_rate(
    w: &[(i64, f64)],
    c: &RangeCtx,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let n1 = w.len() - 1;
    let (first_t, last_t) = (w[0].0, w[n1].0);
    let mut result = w[n1].1 - w[0].1;
    if is_counter && !c.no_resets {
        let mut prev = w[0].1;
        for p in &w[1..] {
            if p.1 < prev {
                result += prev;
            }
            prev = p.1;
        }
    }
    let mut to_start = (first_t - c.range_start) as f64 / 1000.0;
    let mut to_end = (c.range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / n1 as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && w[0].1 >= 0.0 {
        let to_zero = sampled * (w[0].1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= c.range as f64 / 1000.0;
    }
    Some(result * factor)
}

fn instant_value(w: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let last = w[w.len() - 1];
    let prev = w[w.len() - 2];
    let mut v = if is_rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let interval = last.0 - prev.0;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

fn linear_regression(w: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = w[0].1;
    let mut const_y = true;
    for (i, p) in w.iter().enumerate() {
        if const_y && i > 0 && p.1 != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.0 - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_sum_inc(x, sx, cx);
        (sy, cy) = kahan_sum_inc(p.1, sy, cy);
        (sxy, cxy) = kahan_sum_inc(x * p.1, sxy, cxy);
        (sx2, cx2) = kahan_sum_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// Whether two floats are equal within a relative tolerance (upstream's `almost.Equal`).
fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Upstream's `BucketQuantile` over classic buckets `(upper bound, count)`.
/// Returns the quantile and whether monotonicity had to be forced.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let Some((merged, forced)) = prepare_buckets(buckets) else {
        return (f64::NAN, false);
    };
    if merged.len() < 2 {
        return (f64::NAN, forced);
    }
    let n = merged.len();
    let observations = merged[n - 1].1;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let b = merged[..n - 1].partition_point(|x| x.1 < rank);
    if b == n - 1 {
        return (merged[n - 2].0, forced);
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return (merged[0].0, forced);
    }
    let mut start = 0.0;
    let end = merged[b].0;
    let mut count = merged[b].1;
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Sorts buckets by upper bound, requires a `+Inf` bucket, merges equal
/// bounds and forces counts to be monotonic (returning whether it had to).
fn prepare_buckets(buckets: &mut [(f64, f64)]) -> Option<(Vec<(f64, f64)>, bool)> {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    match buckets.last() {
        Some(b) if b.0 == f64::INFINITY => {}
        _ => return None,
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == b.0 => last.1 += b.1,
            _ => merged.push(*b),
        }
    }
    let mut forced = false;
    if let Some(first) = merged.first() {
        let mut prev = first.1;
        for b in merged.iter_mut().skip(1) {
            let cur = b.1;
            if cur == prev {
                continue;
            }
            if almost_equal(prev, cur, 1e-12) {
                b.1 = prev;
                continue;
            }
            if cur < prev {
                b.1 = prev;
                forced = true;
                continue;
            }
            prev = cur;
        }
    }
    Some((merged, forced))
}

/// What to compute from a group's classic buckets at each step.
enum ClassicHistogramFn {
    /// `histogram_quantile(q, v)`.
    Quantile(Vec<f64>),
    /// `histogram_quantiles(v, label, q...)`: one series per quantile.
    Quantiles(String, Vec<Vec<f64>>),
    /// `histogram_fraction(lower, upper, v)`.
    Fraction(Vec<f64>, Vec<f64>),
}

fn histogram_quantile(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let qs = ev.eval_scalar_steps(arg(c, 0)?)?;
    classic_histograms(ev, c, arg(c, 1)?, ClassicHistogramFn::Quantile(qs))
}

fn histogram_quantiles(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let label = ev.eval_string(arg(c, 1)?)?;
    let mut qs = Vec::new();
    for a in c.args.iter().skip(2) {
        qs.push(ev.eval_scalar_steps(a)?);
    }
    classic_histograms(ev, c, arg(c, 0)?, ClassicHistogramFn::Quantiles(label, qs))
}

fn histogram_fraction(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let lower = ev.eval_scalar_steps(arg(c, 0)?)?;
    let upper = ev.eval_scalar_steps(arg(c, 1)?)?;
    classic_histograms(
        ev,
        c,
        arg(c, 2)?,
        ClassicHistogramFn::Fraction(lower, upper),
    )
}

/// A quantile as the label value `histogram_quantiles` gives it: `0.0`, `0.25`.
fn quantile_label(q: f64) -> String {
    let s = crate::model::value::format_go_f(q);
    if q.is_finite() && !s.contains('.') {
        format!("{s}.0")
    } else {
        s
    }
}

/// Groups the classic `le` buckets of `varg` by their other labels and
/// applies `f` per group and step.
fn classic_histograms(
    ev: &mut Evaluator,
    c: &Call,
    varg: &Expr,
    f: ClassicHistogramFn,
) -> Result<Matrix, QueryError> {
    let m = ev.eval_matrix(varg)?;
    let vpos: PosRange = expr_pos(varg);
    let qpos: PosRange = c.args.first().map(expr_pos).unwrap_or(c.pos);
    // Group series by their labels without `le`, once for the whole query.
    let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (i, s) in m.iter().enumerate() {
        let le = s.metric.get_or_empty("le");
        let ub = match parse_go_float(le) {
            Some(v) => v,
            None => {
                ev.annotations.warn(
                    format!(
                        "bucket label \"le\" is missing or has a malformed value of {} for metric name {}",
                        crate::model::labels::go_quote(le),
                        crate::model::labels::go_quote(s.metric.get_or_empty(METRIC_NAME))
                    ),
                    vpos,
                );
                continue;
            }
        };
        let key = s.metric.without(&["le"]);
        let g = match index.get(&key) {
            Some(g) => *g,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, Vec::new()));
                groups.len() - 1
            }
        };
        groups[g].1.push((ub, i));
    }
    if let ClassicHistogramFn::Quantiles(label, _) = &f {
        if let Some((g, _)) = groups.iter().find(|(g, _)| g.has(label)) {
            return Err(QueryError::exec(format!(
                "label {} already exists on the input series {}",
                crate::model::labels::go_quote(label),
                g
            )));
        }
    }
    let n = ev.num_steps();
    let mut col = super::eval::SeriesCollector::new();
    // Out-of-range quantiles are reported even when there is no input.
    let qss: Vec<&Vec<f64>> = match &f {
        ClassicHistogramFn::Quantile(qs) => vec![qs],
        ClassicHistogramFn::Quantiles(_, qss) => qss.iter().collect(),
        ClassicHistogramFn::Fraction(..) => Vec::new(),
    };
    if let Some(q) = qss
        .iter()
        .flat_map(|qs| qs.iter())
        .find(|q| q.is_nan() || !(0.0..=1.0).contains(*q))
    {
        ev.annotations.warn(
            format!(
                "quantile value should be between 0 and 1, got {}",
                format_go_g(*q)
            ),
            qpos,
        );
    }
    for (metric, members) in groups {
        let mut per_step: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n];
        for (ub, i) in &members {
            for &(t, v) in &m[*i].floats {
                if let Some(b) = per_step.get_mut(ev.step_index(t)) {
                    b.push((*ub, v));
                }
            }
        }
        for (k, mut buckets) in per_step.into_iter().enumerate() {
            if buckets.is_empty() {
                continue;
            }
            let t = ev.start + k as i64 * ev.interval;
            let mut forced = false;
            match &f {
                ClassicHistogramFn::Quantile(qs) => {
                    let q = qs.get(k).copied().unwrap_or(f64::NAN);
                    let (v, fix) = bucket_quantile(q, &mut buckets);
                    forced = fix;
                    col.push(&metric, true, t, v)?;
                }
                ClassicHistogramFn::Quantiles(label, qss) => {
                    for qs in qss {
                        let q = qs.get(k).copied().unwrap_or(f64::NAN);
                        let (v, fix) = bucket_quantile(q, &mut buckets.clone());
                        forced |= fix;
                        let mut b = metric.builder();
                        b.set(label, &quantile_label(q));
                        col.push(&b.build(), true, t, v)?;
                    }
                }
                ClassicHistogramFn::Fraction(lo, hi) => {
                    let l = lo.get(k).copied().unwrap_or(f64::NAN);
                    let h = hi.get(k).copied().unwrap_or(f64::NAN);
                    let (v, fix) = bucket_fraction(l, h, &mut buckets);
                    forced = fix;
                    col.push(&metric, true, t, v)?;
                }
            }
            if forced {
                ev.annotations.info(
                    format!(
                        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {}",
                        crate::model::labels::go_quote(metric.get_or_empty(METRIC_NAME))
                    ),
                    vpos,
                );
            }
        }
    }
    ev.release_matrix(&m);
    let out = col.series;
    ev.account(out.iter().map(|s| s.floats.len()).sum())?;
    Ok(out)
}

/// Upstream's `BucketFraction`: the estimated share of observations
/// between `lower` and `upper`, interpolating linearly inside buckets.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    let Some((merged, forced)) = prepare_buckets(buckets) else {
        return (f64::NAN, false);
    };
    let count = merged.last().map(|b| b.1).unwrap_or(0.0);
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return (f64::NAN, forced);
    }
    if lower >= upper {
        return (0.0, forced);
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if merged[0].0 <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, &(upper_bound, bcount)) in merged.iter().enumerate() {
        if i > 0 {
            lower_bound = merged[i - 1].0;
        }
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                return bcount;
            }
            rank + (bcount - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bcount;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    ((upper_rank - lower_rank) / count, forced)
}

/// Parses a float as Go's `strconv.ParseFloat` accepts it (near enough for `le`).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t != s {
        return None;
    }
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 2.0, 3.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
    }

    #[test]
    fn bucket_quantile_fixes_monotonicity() {
        let mut b = vec![(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 20.0)];
        let (v, forced) = bucket_quantile(0.5, &mut b);
        assert!(forced);
        assert_eq!(v, 1.0);
    }

    #[test]
    fn dates_in_utc() {
        // 2016-02-29T12:34:56Z
        let t = 1_456_749_296;
        assert_eq!(date_fn("year")(t), 2016.0);
        assert_eq!(date_fn("month")(t), 2.0);
        assert_eq!(date_fn("day_of_month")(t), 29.0);
        assert_eq!(date_fn("days_in_month")(t), 29.0);
        assert_eq!(date_fn("day_of_year")(t), 60.0);
        assert_eq!(date_fn("day_of_week")(t), 1.0);
        assert_eq!(date_fn("hour")(t), 12.0);
        assert_eq!(date_fn("minute")(t), 34.0);
    }

    #[test]
    fn rate_extrapolates_as_upstream() {
        let w: Vec<(i64, f64)> = (0..=10).map(|i| (i * 60_000, i as f64 * 10.0)).collect();
        let c = RangeCtx {
            no_resets: false,
            ts: 600_000,
            range_start: 0,
            range_end: 600_000,
            range: 600_000,
            params: &[],
        };
        // Samples at the window's closed end only: window (0, 10m] holds 1..10.
        let r = extrapolated_rate(&w[1..], &c, true, true).unwrap_or(f64::NAN);
        assert!((r - 10.0 / 60.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }
}
