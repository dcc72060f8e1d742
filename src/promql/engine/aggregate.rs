//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...), as
//! upstream's `rangeEvalAgg`. Each input series is assigned to its group
//! once per query; values are then accumulated per group and step in
//! input order, which keeps upstream's floating-point summation order.

use std::collections::HashMap;

use crate::model::labels::METRIC_NAME;
use crate::model::value::{format_go_f, format_go_g};
use crate::model::{Labels, LabelsBuilder};
use crate::promql::ast::{AggOp, AggregateExpr, Expr, ValueType};

use super::eval::{expr_pos, expr_type, unwrap, Evaluator, Matrix, Series};
use super::range_functions::{kahan_sum_inc, quantile};
use super::QueryError;

/// One group's running state at one step.
#[derive(Clone, Copy, Default)]
struct Acc {
    seen: bool,
    count: f64,
    value: f64,
    kahan_c: f64,
    mean: f64,
    incremental: bool,
}

impl Acc {
    fn add(&mut self, op: AggOp, f: f64) {
        if !self.seen {
            self.seen = true;
            self.count = 1.0;
            self.value = f;
            self.mean = f;
            self.kahan_c = 0.0;
            if matches!(op, AggOp::Stddev | AggOp::Stdvar) {
                self.value = if f.is_finite() { 0.0 } else { f64::NAN };
            }
            if op == AggOp::Group {
                self.value = 1.0;
            }
            return;
        }
        match op {
            AggOp::Sum => {
                (self.value, self.kahan_c) = kahan_sum_inc(f, self.value, self.kahan_c);
            }
            AggOp::Avg => {
                self.count += 1.0;
                if !self.incremental {
                    let (nv, nc) = kahan_sum_inc(f, self.value, self.kahan_c);
                    if !nv.is_infinite() {
                        self.value = nv;
                        self.kahan_c = nc;
                        return;
                    }
                    self.incremental = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.kahan_c /= self.count - 1.0;
                }
                let q = (self.count - 1.0) / self.count;
                (self.mean, self.kahan_c) =
                    kahan_sum_inc(f / self.count, q * self.mean, q * self.kahan_c);
            }
            AggOp::Max if self.value < f || self.value.is_nan() => self.value = f,
            AggOp::Min if self.value > f || self.value.is_nan() => self.value = f,
            AggOp::Count => self.count += 1.0,
            AggOp::Group => {}
            AggOp::Stddev | AggOp::Stdvar => {
                self.count += 1.0;
                let delta = f - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (f - self.mean);
            }
            _ => {}
        }
    }

    fn result(&self, op: AggOp) -> f64 {
        match op {
            AggOp::Sum => {
                if self.value.is_infinite() {
                    self.value
                } else {
                    self.value + self.kahan_c
                }
            }
            AggOp::Avg => {
                if self.incremental {
                    self.mean + self.kahan_c
                } else if self.count == 1.0 {
                    self.value
                } else {
                    self.value / self.count + self.kahan_c / self.count
                }
            }
            AggOp::Count => self.count,
            AggOp::Stdvar => self.value / self.count,
            AggOp::Stddev => (self.value / self.count).sqrt(),
            _ => self.value,
        }
    }
}

/// The hash that puts a series into its group (by or without the
/// grouping labels), as upstream groups.
fn group_hash(metric: &Labels, a: &AggregateExpr) -> u64 {
    if a.without {
        metric.hash_without_labels(&a.grouping)
    } else {
        metric.hash_for_labels(&a.grouping)
    }
}

/// Series grouped by the hash of their grouping labels, as upstream groups
/// them; a group's label set is built only for its first member.
#[derive(Default)]
struct Groups {
    index: HashMap<u64, usize>,
    /// Group labels and whether `__name__` goes at the end.
    labels: Vec<(Labels, bool)>,
}

impl Groups {
    /// The group of `metric` (created on first sight) and whether it is new.
    fn assign(&mut self, a: &AggregateExpr, metric: &Labels, drop_name: bool) -> (usize, bool) {
        let next = self.labels.len();
        let g = *self.index.entry(group_hash(metric, a)).or_insert(next);
        if g == next {
            self.labels.push((group_labels(metric, a), false));
        }
        if let Some((labels, drop)) = self.labels.get_mut(g) {
            *drop |= drop_name && labels.has(METRIC_NAME);
        }
        (g, g == next)
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// The labels of the group a series belongs to.
fn group_labels(metric: &Labels, a: &AggregateExpr) -> Labels {
    if a.without {
        let mut names: Vec<&str> = a.grouping.iter().map(String::as_str).collect();
        names.push(METRIC_NAME);
        metric.without(&names)
    } else {
        metric.keep_only(&a.grouping)
    }
}

/// `sum`, `avg`, `min`, `max`, `count`, `group`, `stddev` and `stdvar`:
/// series are folded in one at a time, so the input never has to be held
/// whole; groups are keyed by a hash of their labels, as upstream.
struct SimpleAggregator<'e> {
    a: &'e AggregateExpr,
    steps: usize,
    groups: Groups,
    /// `steps` accumulators per group.
    accs: Vec<Acc>,
}

impl<'e> SimpleAggregator<'e> {
    fn new(a: &'e AggregateExpr, steps: usize) -> SimpleAggregator<'e> {
        SimpleAggregator {
            a,
            steps,
            groups: Groups::default(),
            accs: Vec::new(),
        }
    }
}

impl StreamingAggregator for SimpleAggregator<'_> {
    fn add_points(
        &mut self,
        ev: &Evaluator,
        metric: &Labels,
        drop_name: bool,
        floats: &[(i64, f64)],
    ) -> Result<(), QueryError> {
        let (g, new) = self.groups.assign(self.a, metric, drop_name);
        if new {
            self.accs
                .resize(self.accs.len() + self.steps, Acc::default());
        }
        let base = g * self.steps;
        for &(t, v) in floats {
            if let Some(acc) = self.accs.get_mut(base + ev.step_index(t)) {
                acc.add(self.a.op, v);
            }
        }
        Ok(())
    }

    fn finish(self, ev: &mut Evaluator) -> Result<Matrix, QueryError> {
        let n = self.steps;
        let mut out = Vec::with_capacity(self.groups.len());
        for (g, (metric, drop)) in self.groups.labels.into_iter().enumerate() {
            let floats: Vec<(i64, f64)> = self.accs[g * n..(g + 1) * n]
                .iter()
                .enumerate()
                .filter(|(_, acc)| acc.seen)
                .map(|(k, acc)| (ev.start + k as i64 * ev.interval, acc.result(self.a.op)))
                .collect();
            if !floats.is_empty() {
                ev.account(floats.len())?;
                out.push(Series {
                    metric,
                    floats,
                    drop_name: drop,
                });
            }
        }
        Ok(out)
    }
}

fn is_simple(op: AggOp) -> bool {
    matches!(
        op,
        AggOp::Sum
            | AggOp::Avg
            | AggOp::Max
            | AggOp::Min
            | AggOp::Count
            | AggOp::Group
            | AggOp::Stddev
            | AggOp::Stdvar
    )
}

pub(crate) fn eval_aggregate(ev: &mut Evaluator, a: &AggregateExpr) -> Result<Matrix, QueryError> {
    let param_pos = a.param.as_deref().map(expr_pos).unwrap_or(a.pos);
    let mut params: Vec<f64> = Vec::new();
    let mut label_param = String::new();
    match a.op {
        AggOp::CountValues => {
            if let Some(p) = a.param.as_deref() {
                label_param = ev.eval_string(p)?;
            }
            if label_param.is_empty() {
                return Err(QueryError::exec(format!(
                    "invalid label name {}",
                    crate::model::labels::go_quote(&label_param)
                )));
            }
        }
        op if op.has_param() => {
            if let Some(p) = a.param.as_deref() {
                params = ev.eval_scalar_steps(p)?;
            }
        }
        _ => {}
    }
    if is_simple(a.op) {
        return stream_aggregate(ev, &a.expr, SimpleAggregator::new(a, ev.num_steps()));
    }
    if matches!(a.op, AggOp::Topk | AggOp::Bottomk) {
        return eval_topk(ev, a, params);
    }
    let m = ev.eval_matrix(&a.expr)?;
    let mut grouping = Groups::default();
    let group_of: Vec<usize> = m
        .iter()
        .map(|s| grouping.assign(a, &s.metric, s.drop_name).0)
        .collect();
    let groups = grouping.labels;
    let n = ev.num_steps();
    let out = match a.op {
        AggOp::Quantile => {
            let mut vals: Vec<Vec<f64>> = vec![Vec::new(); groups.len() * n];
            for (s, g) in m.iter().zip(&group_of) {
                for &(t, v) in &s.floats {
                    if let Some(b) = vals.get_mut(g * n + ev.step_index(t)) {
                        b.push(v);
                    }
                }
            }
            if params.iter().any(|q| q.is_nan() || *q < 0.0 || *q > 1.0) {
                let q = params
                    .iter()
                    .find(|q| q.is_nan() || **q < 0.0 || **q > 1.0)
                    .copied()
                    .unwrap_or(f64::NAN);
                ev.annotations.warn(
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        format_go_g(q)
                    ),
                    param_pos,
                );
            }
            let mut out = Vec::new();
            for (g, (metric, drop)) in groups.into_iter().enumerate() {
                let mut floats = Vec::new();
                for k in 0..n {
                    let b = &mut vals[g * n + k];
                    if !b.is_empty() {
                        let q = params.get(k).copied().unwrap_or(f64::NAN);
                        floats.push((ev.start + k as i64 * ev.interval, quantile(q, b)));
                    }
                }
                if !floats.is_empty() {
                    ev.account(floats.len())?;
                    out.push(Series {
                        metric,
                        floats,
                        drop_name: drop,
                    });
                }
            }
            out
        }
        AggOp::CountValues => {
            let mut index: HashMap<Labels, usize> = HashMap::new();
            let mut out: Matrix = Vec::new();
            // Counts per output series and step, filled step by step in input order.
            let mut counts: Vec<Vec<f64>> = Vec::new();
            for (s, g) in m.iter().zip(&group_of) {
                for &(t, v) in &s.floats {
                    let mut b = LabelsBuilder::new();
                    for l in groups[*g].0.iter() {
                        b.set(&l.name, &l.value);
                    }
                    b.set(&label_param, &format_go_f(v));
                    let key = b.build();
                    let i = match index.get(&key) {
                        Some(i) => *i,
                        None => {
                            index.insert(key.clone(), out.len());
                            out.push(Series {
                                metric: key,
                                floats: Vec::new(),
                                drop_name: false,
                            });
                            counts.push(vec![0.0; n]);
                            out.len() - 1
                        }
                    };
                    if let Some(c) = counts[i].get_mut(ev.step_index(t)) {
                        *c += 1.0;
                    }
                }
            }
            for (s, c) in out.iter_mut().zip(counts) {
                s.floats = c
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0.0)
                    .map(|(k, c)| (ev.start + k as i64 * ev.interval, *c))
                    .collect();
                ev.account(s.floats.len())?;
            }
            out
        }
        AggOp::Limitk | AggOp::LimitRatio => select_k(ev, a, &m, &group_of, &params, param_pos)?,
        // Handled by `SimpleAggregator` and `eval_topk` above.
        _ => Vec::new(),
    };
    ev.release_matrix(&m);
    Ok(out)
}

/// `limitk` and `limit_ratio`: the output keeps the selected input series,
/// with their labels.
fn select_k(
    ev: &mut Evaluator,
    a: &AggregateExpr,
    m: &Matrix,
    group_of: &[usize],
    params: &[f64],
    param_pos: crate::promql::ast::PosRange,
) -> Result<Matrix, QueryError> {
    let n = ev.num_steps();
    // Per step: (group, series, value) in input order.
    let mut buckets: Vec<Vec<(usize, usize, f64)>> = vec![Vec::new(); n];
    for (i, (s, g)) in m.iter().zip(group_of).enumerate() {
        for &(t, v) in &s.floats {
            if let Some(step) = buckets.get_mut(ev.step_index(t)) {
                step.push((*g, i, v));
            }
        }
    }
    let mut selected: Vec<Vec<(i64, f64)>> = vec![Vec::new(); m.len()];
    // For instant queries the output order is the selection order.
    let mut order: Vec<usize> = Vec::new();
    let mut warned = false;
    if params.iter().any(|p| p.is_nan()) {
        return Err(QueryError::exec(if a.op == AggOp::LimitRatio {
            "Ratio value is NaN"
        } else {
            "Parameter value is NaN"
        }));
    }
    for (k, mut step) in buckets.into_iter().enumerate() {
        let t = ev.start + k as i64 * ev.interval;
        let p = params.get(k).copied().unwrap_or(f64::NAN);
        if step.is_empty() {
            continue;
        }
        // Stable: members stay in input order within their group.
        step.sort_by_key(|e| e.0);
        if p.is_nan() {
            return Err(QueryError::exec(if a.op == AggOp::LimitRatio {
                "Ratio value is NaN"
            } else {
                "Parameter value is NaN"
            }));
        }
        for group in step.chunk_by(|x, y| x.0 == y.0) {
            let mut members: Vec<(usize, f64)> = group.iter().map(|e| (e.1, e.2)).collect();
            let chosen: Vec<(usize, f64)> = match a.op {
                AggOp::LimitRatio => {
                    let mut r = p;
                    if !(-1.0..=1.0).contains(&r) {
                        let capped = r.clamp(-1.0, 1.0);
                        if !warned {
                            warned = true;
                            ev.annotations.warn(
                                format!(
                                    "ratio value should be between -1 and 1, got {}, capping to {}",
                                    format_go_g(r),
                                    format_go_g(capped)
                                ),
                                param_pos,
                            );
                        }
                        r = capped;
                    }
                    members
                        .into_iter()
                        .filter(|(i, _)| {
                            let off = m[*i].metric.stable_hash() as f64 / u64::MAX as f64;
                            if r >= 0.0 {
                                off < r
                            } else {
                                off >= 1.0 + r
                            }
                        })
                        .collect()
                }
                _ => {
                    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&p) {
                        return Err(QueryError::exec(format!(
                            "Scalar value {} overflows int64",
                            format_go_g(p)
                        )));
                    }
                    let kk = p as i64;
                    if kk < 1 {
                        continue;
                    }
                    members.truncate(kk as usize);
                    members
                }
            };
            for (i, v) in chosen {
                selected[i].push((t, v));
                if k == 0 {
                    order.push(i);
                }
            }
        }
    }
    let mut out = Vec::new();
    let idxs: Vec<usize> = if ev.start == ev.end {
        order
    } else {
        (0..m.len()).collect()
    };
    for i in idxs {
        let floats = std::mem::take(&mut selected[i]);
        if floats.is_empty() {
            continue;
        }
        ev.account(floats.len())?;
        out.push(Series {
            metric: m[i].metric.clone(),
            floats,
            drop_name: m[i].drop_name,
        });
    }
    Ok(out)
}

/// A `topk`/`bottomk` heap entry: a value and the series it came from.
#[derive(Clone, Copy)]
struct Ranked {
    v: f64,
    /// Index into `TopkAggregator::kept`.
    kept: u32,
}

/// Upstream's heap order: for `topk` (`vectorByValueHeap`) the smallest
/// value is on top, for `bottomk` (`vectorByReverseValueHeap`) the largest;
/// a NaN is "less" than anything in both.
fn heap_less(desc: bool, a: f64, b: f64) -> bool {
    if a.is_nan() {
        return true;
    }
    if desc {
        a < b
    } else {
        a > b
    }
}

/// Go's `container/heap` `up`.
fn heap_up(h: &mut [Ranked], mut j: usize, desc: bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !heap_less(desc, h[j].v, h[i].v) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` `down`; whether the entry moved.
fn heap_down(h: &mut [Ranked], i0: usize, desc: bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && heap_less(desc, h[j1 + 1].v, h[j1].v) {
            j = j1 + 1;
        }
        if !heap_less(desc, h[j].v, h[i].v) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// Orders a group's heap best first as upstream's `sort.Sort(sort.Reverse(heap))`:
/// Go sorts up to 12 elements by insertion sort, reproduced exactly so ties
/// come out in upstream's order; longer heaps are sorted stably by value.
fn sort_best_first(h: &mut [Ranked], desc: bool) {
    if h.len() <= 12 {
        for i in 1..h.len() {
            let mut j = i;
            while j > 0 && heap_less(desc, h[j - 1].v, h[j].v) {
                h.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    h.sort_by(|a, b| {
        use std::cmp::Ordering;
        match (a.v.is_nan(), b.v.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if desc => b.v.partial_cmp(&a.v).unwrap_or(Ordering::Equal),
            _ => a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal),
        }
    });
}

/// `topk` and `bottomk`, streamed as upstream's `aggregationK`: each input
/// series is offered to its group's heap of at most k at every step it has
/// a point, with upstream's heap discipline, so ties are broken the same
/// way. Labels are cloned only for series that enter a heap: `topk(10, x)`
/// over thousands of series keeps a few dozen label sets, not a copy of
/// the whole input.
struct TopkAggregator<'e> {
    a: &'e AggregateExpr,
    desc: bool,
    steps: usize,
    /// k at each step; 0 selects nothing.
    ks: Vec<usize>,
    /// The parameter of steps whose k does not fit an int64.
    overflow: Vec<Option<f64>>,
    index: HashMap<u64, usize>,
    /// `steps` heaps per group, groups in order of their first member.
    heaps: Vec<Vec<Ranked>>,
    /// Labels and `drop_name` of every series that entered a heap.
    kept: Vec<(Labels, bool)>,
}

impl<'e> TopkAggregator<'e> {
    fn new(a: &'e AggregateExpr, steps: usize, params: &[f64]) -> TopkAggregator<'e> {
        let mut ks = vec![0; steps];
        let mut overflow = vec![None; steps];
        for (k, p) in params.iter().enumerate().take(steps) {
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(p) {
                overflow[k] = Some(*p);
            } else if *p >= 1.0 {
                ks[k] = *p as i64 as usize;
            }
        }
        TopkAggregator {
            a,
            desc: a.op == AggOp::Topk,
            steps,
            ks,
            overflow,
            index: HashMap::new(),
            heaps: Vec::new(),
            kept: Vec::new(),
        }
    }
}

impl StreamingAggregator for TopkAggregator<'_> {
    fn add_points(
        &mut self,
        ev: &Evaluator,
        metric: &Labels,
        drop_name: bool,
        floats: &[(i64, f64)],
    ) -> Result<(), QueryError> {
        let h = group_hash(metric, self.a);
        let g = match self.index.get(&h) {
            Some(g) => *g,
            None => {
                let g = self.heaps.len() / self.steps.max(1);
                self.index.insert(h, g);
                self.heaps
                    .resize_with(self.heaps.len() + self.steps, Vec::new);
                g
            }
        };
        let desc = self.desc;
        let mut kept: Option<u32> = None;
        for &(t, v) in floats {
            let k = ev.step_index(t);
            if let Some(Some(p)) = self.overflow.get(k) {
                return Err(QueryError::exec(format!(
                    "Scalar value {} overflows int64",
                    format_go_g(*p)
                )));
            }
            let limit = self.ks.get(k).copied().unwrap_or(0);
            let Some(heap) = self.heaps.get_mut(g * self.steps + k) else {
                continue;
            };
            let push = heap.len() < limit;
            // As upstream: only a strictly better value (or a number over
            // a NaN) replaces the top of a full heap.
            let replace = !push
                && heap.first().is_some_and(|top| {
                    let better = if desc { top.v < v } else { top.v > v };
                    better || (top.v.is_nan() && !v.is_nan())
                });
            if !push && !replace {
                continue;
            }
            let kept = *kept.get_or_insert_with(|| {
                self.kept.push((metric.clone(), drop_name));
                (self.kept.len() - 1) as u32
            });
            let entry = Ranked { v, kept };
            if push {
                heap.push(entry);
                let last = heap.len() - 1;
                heap_up(heap, last, desc);
            } else {
                heap[0] = entry;
                if limit > 1 && !heap_down(heap, 0, desc) {
                    heap_up(heap, 0, desc);
                }
            }
        }
        Ok(())
    }

    fn finish(self, ev: &mut Evaluator) -> Result<Matrix, QueryError> {
        let instant = ev.start == ev.end;
        let desc = self.desc;
        let mut selected: Vec<Vec<(i64, f64)>> = vec![Vec::new(); self.kept.len()];
        // An instant query lists groups in order, each best first.
        let mut order: Vec<u32> = Vec::new();
        for (i, mut heap) in self.heaps.into_iter().enumerate() {
            let k = i % self.steps.max(1);
            let t = ev.start + k as i64 * ev.interval;
            if instant {
                sort_best_first(&mut heap, desc);
            }
            for e in heap {
                if let Some(points) = selected.get_mut(e.kept as usize) {
                    points.push((t, e.v));
                }
                if instant {
                    order.push(e.kept);
                }
            }
        }
        if !instant {
            // A range result lists series in input order. Each series is in
            // one group, whose heaps were walked in step order, so its
            // points are already in time order.
            order = (0..self.kept.len() as u32).collect();
        }
        let mut out = Vec::with_capacity(order.len());
        let mut kept: Vec<Option<(Labels, bool)>> = self.kept.into_iter().map(Some).collect();
        for i in order {
            let i = i as usize;
            let floats = selected.get_mut(i).map(std::mem::take).unwrap_or_default();
            let Some((metric, drop_name)) = kept.get_mut(i).and_then(Option::take) else {
                continue;
            };
            if floats.is_empty() {
                continue;
            }
            ev.account(floats.len())?;
            out.push(Series {
                metric,
                floats,
                drop_name,
            });
        }
        Ok(out)
    }
}

/// `topk`/`bottomk`, streamed into a heap per group and step.
fn eval_topk(
    ev: &mut Evaluator,
    a: &AggregateExpr,
    params: Vec<f64>,
) -> Result<Matrix, QueryError> {
    if params.iter().any(|p| p.is_nan()) {
        return Err(QueryError::exec("Parameter value is NaN"));
    }
    stream_aggregate(ev, &a.expr, TopkAggregator::new(a, ev.num_steps(), &params))
}

/// An aggregation that takes its input one series at a time.
trait StreamingAggregator {
    fn add_points(
        &mut self,
        ev: &Evaluator,
        metric: &Labels,
        drop_name: bool,
        floats: &[(i64, f64)],
    ) -> Result<(), QueryError>;

    fn finish(self, ev: &mut Evaluator) -> Result<Matrix, QueryError>;
}

/// Feeds `expr`'s series into `agg`: a selector or a range function below
/// streams its series straight in, so the input is never held whole;
/// anything else is evaluated first.
fn stream_aggregate<A: StreamingAggregator>(
    ev: &mut Evaluator,
    expr: &Expr,
    mut agg: A,
) -> Result<Matrix, QueryError> {
    if let Expr::VectorSelector(vs) = unwrap(expr) {
        ev.for_each_selected(vs, false, &mut |ev, metric, floats| {
            agg.add_points(ev, metric, false, &floats)
        })?;
        return agg.finish(ev);
    }
    if let Expr::Call(c) = unwrap(expr) {
        if let Some(idx) = c
            .args
            .iter()
            .position(|x| expr_type(x) == ValueType::Matrix)
        {
            super::range_functions::for_each_range_result(ev, c, idx, &mut |ev, s| {
                ev.release(s.floats.len());
                agg.add_points(ev, &s.metric, s.drop_name, &s.floats)
            })?;
            return agg.finish(ev);
        }
    }
    let m = ev.eval_matrix(expr)?;
    for s in &m {
        agg.add_points(ev, &s.metric, s.drop_name, &s.floats)?;
    }
    ev.release_matrix(&m);
    agg.finish(ev)
}
