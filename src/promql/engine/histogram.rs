//! Classic histograms: `histogram_quantile`, `histogram_quantiles` and
//! `histogram_fraction` over `le` bucket series, as upstream's
//! `quantile.go` (`BucketQuantile`, `BucketFraction`, the monotonicity fix
//! and its info annotation).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::model::labels::METRIC_NAME;
use crate::model::value::format_go_g;
use crate::model::Labels;
use crate::promql::ast::{Call, Expr, PosRange};

use super::eval::{expr_pos, Evaluator, Matrix};
use super::functions::arg;
use super::QueryError;

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

pub(super) fn histogram_quantile(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let qs = ev.eval_scalar_steps(arg(c, 0)?)?;
    classic_histograms(ev, c, arg(c, 1)?, ClassicHistogramFn::Quantile(qs))
}

pub(super) fn histogram_quantiles(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
    let label = ev.eval_string(arg(c, 1)?)?;
    let mut qs = Vec::new();
    for a in c.args.iter().skip(2) {
        qs.push(ev.eval_scalar_steps(a)?);
    }
    classic_histograms(ev, c, arg(c, 0)?, ClassicHistogramFn::Quantiles(label, qs))
}

pub(super) fn histogram_fraction(ev: &mut Evaluator, c: &Call) -> Result<Matrix, QueryError> {
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
    fn bucket_quantile_fixes_monotonicity() {
        let mut b = vec![(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 20.0)];
        let (v, forced) = bucket_quantile(0.5, &mut b);
        assert!(forced);
        assert_eq!(v, 1.0);
    }
}
