//! PromQL function calls, as upstream's `functions.go`: the dispatch by
//! name, element-wise math and date functions, label manipulation,
//! sorting, `absent`, `scalar`/`vector`, `timestamp` and `info`.
//! Range-vector functions live in `range_functions`, classic histograms in
//! `histogram`. Native histograms are not stored by promlite: the
//! functions that only read them fail with a clear error.

use std::cmp::Ordering;
use std::collections::HashMap;

use regex::Regex;

use crate::model::civil::{civil_from_days, is_leap_year};
use crate::model::labels::METRIC_NAME;
use crate::model::{Labels, MatchType};
use crate::promql::ast::{Call, Expr, RangeModifier, ValueType};

use super::eval::{expr_type, unwrap, Evaluator, Matrix, Series, Val};
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
        return super::range_functions::eval_range_function(ev, c, idx).map(Val::Matrix);
    }
    let m =
        match name {
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
            "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn"
            | "acos" | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cos" | "cosh" | "sin"
            | "sinh" | "tan" | "tanh" | "deg" | "rad" => {
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
            "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour"
            | "minute" | "month" | "year" => {
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
            "histogram_quantile" => super::histogram::histogram_quantile(ev, c)?,
            "histogram_quantiles" => super::histogram::histogram_quantiles(ev, c)?,
            "histogram_fraction" => super::histogram::histogram_fraction(ev, c)?,
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                // These read native histograms only, which promlite's storage
                // does not hold: say so rather than answer with nothing.
                return Err(QueryError::exec(format!(
                    "{name}() reads native histograms, which are not supported by promlite"
                )));
            }
            "info" => info(ev, c)?,
            "start_timestamp" => return Err(QueryError::exec(
                "start_timestamp() is not supported by promlite: start timestamps are not stored",
            )),
            other => {
                return Err(QueryError::exec(format!(
                    "function {other:?} is not supported by promlite"
                )))
            }
        };
    Ok(Val::Matrix(m))
}

pub(super) fn arg(c: &Call, i: usize) -> Result<&Expr, QueryError> {
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
            let leap = if is_leap_year(y) && m > 2 { 1 } else { 0 };
            jan1 -= i64::from(before[(m - 1) as usize] + leap + d - 1);
            (days - jan1 + 1) as f64
        },
        "days_in_month" => |s| {
            let (y, m, _) = civil_from_days(s.div_euclid(86_400));
            match m {
                2 if is_leap_year(y) => 29.0,
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
pub(super) fn absent_labels(e: &Expr) -> Labels {
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

pub(super) fn absent_series(
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }
}
