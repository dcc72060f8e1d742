//! Range-vector functions (`rate`, `increase`, `delta`, `irate`, `deriv`,
//! `predict_linear`, `*_over_time`, `changes`, `resets`, smoothing, ...),
//! as upstream's `functions.go`: each input series is read once and every
//! step's left-open window `(t - range, t]` is cut from it with cursors that
//! only move forward. Also the `anchored`/`smoothed` extended ranges and
//! the numeric helpers the aggregations share (Kahan sums, quantiles).

use std::cmp::Ordering;

use crate::model::value::format_go_g;
use crate::promql::ast::{Call, RangeModifier};

use super::eval::{expr_pos, Evaluator, Matrix, RangeArg, Series};
use super::functions::{absent_labels, absent_series};
use super::QueryError;

/// A range-vector function: one output series per input series, one
/// point per step whose window has samples.
pub(super) fn eval_range_function(
    ev: &mut Evaluator,
    c: &Call,
    idx: usize,
) -> Result<Matrix, QueryError> {
    let mut out = Vec::new();
    for_each_range_result(ev, c, idx, &mut |_, s| {
        out.push(s);
        Ok(())
    })?;
    Ok(out)
}

/// Receives each output series of a range function as it is computed.
pub(super) type SeriesSink<'s> = dyn FnMut(&mut Evaluator, Series) -> Result<(), QueryError> + 's;

/// Evaluates a range-vector function and hands each output series to
/// `sink` as soon as it is computed, so that a consumer such as an
/// aggregation never holds the whole result.
pub(super) fn for_each_range_result(
    ev: &mut Evaluator,
    c: &Call,
    idx: usize,
    sink: &mut SeriesSink,
) -> Result<(), QueryError> {
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
        while let Some(s) = arg.next_series() {
            let s = s?;
            for (k, ts) in steps.iter().enumerate() {
                if !window(&arg, &s, *ts).is_empty() {
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
        for s in absent_series(ev, labels, floats)? {
            sink(ev, s)?;
        }
        return Ok(());
    }
    if arg.modifier != RangeModifier::None {
        for s in extended_range_function(ev, name, arg, &steps)? {
            sink(ev, s)?;
        }
        return Ok(());
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
    let mut pbuf = vec![0.0; params.len()];
    let counter = matches!(name, "rate" | "increase");
    let mut resets: Vec<u32> = Vec::new();
    while let Some(s) = arg.next_series() {
        let s = s?;
        ev.total_samples += s.floats.len() as u64;
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
        sink(
            ev,
            Series {
                metric: s.metric,
                floats,
                drop_name: s.drop_name || !keeps_name,
            },
        )?;
    }
    Ok(())
}

/// `rate`, `increase`, `delta`, `changes` and `resets` over `anchored` or
/// `smoothed` ranges: the window gains a point at its start (the last
/// sample before it, or a value interpolated between the samples around it)
/// and, when smoothed, an interpolated point at its end; no extrapolation.
fn extended_range_function(
    ev: &mut Evaluator,
    name: &str,
    mut arg: RangeArg,
    steps: &[i64],
) -> Result<Matrix, QueryError> {
    let smoothed = arg.modifier == RangeModifier::Smoothed;
    let counter = matches!(name, "rate" | "increase");
    let mut out = Vec::new();
    let mut pts: Vec<(i64, f64)> = Vec::new();
    while let Some(s) = arg.next_series() {
        let s = s?;
        ev.total_samples += s.floats.len() as u64;
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
                metric: s.metric,
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
}
