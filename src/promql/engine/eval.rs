//! The evaluator: walks a preprocessed expression over every step of a
//! query at once, as upstream's `evaluator`. Every instant-vector or scalar
//! node evaluates to a matrix with one point per step where it has a value;
//! selectors are read from storage once per query; range windows are
//! left-open `(t - range, t]`; `__name__` removal is delayed to the end, as
//! in upstream 3.x.

use std::collections::HashMap;
use std::time::Instant;

use crate::model::labels::METRIC_NAME;
use crate::model::{is_stale_nan, Labels};
use crate::promql::ast::{
    AggregateExpr, BinOp, Call, Expr, MatrixSelector, PosRange, RangeModifier, SubqueryExpr,
    ValueType, VectorSelector,
};
use crate::promql::value::{MatrixSeries, Value, VectorSample};
use crate::storage::{Queryable, SelectHints};

use super::annotations::Annotations;
use super::{EngineOpts, QueryError};

/// One series of an intermediate result: its labels, its points (one per
/// step for instant values) and whether `__name__` goes at the end.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub metric: Labels,
    pub floats: Vec<(i64, f64)>,
    pub drop_name: bool,
}

pub(crate) type Matrix = Vec<Series>;

/// Receives an instant selector's series: labels and per-step points.
pub(crate) type SelectedSink<'s> =
    dyn FnMut(&mut Evaluator, &Labels, Vec<(i64, f64)>) -> Result<(), QueryError> + 's;

/// What a node evaluates to.
pub(crate) enum Val {
    Matrix(Matrix),
    Str(String),
}

/// The range a matrix-valued argument of a function covers at each step.
pub(crate) struct RangeArg {
    /// Where the series come from, one at a time.
    source: RangeSource,
    pub range: i64,
    pub offset: i64,
    /// `@` time, if pinned.
    pub at: Option<i64>,
    /// Position of the argument, for annotations.
    pub pos: PosRange,
    /// `anchored` / `smoothed` (selectors only).
    pub modifier: RangeModifier,
    /// The lookback delta, which bounds the boundary samples of extended ranges.
    pub lookback: i64,
}

/// The series of a range argument: a storage select read lazily (one
/// series' samples in memory at a time), or a subquery's result.
enum RangeSource {
    Select {
        set: crate::storage::SeriesSet,
        /// Kept alive while its series are read.
        _querier: Box<dyn crate::storage::Querier>,
        mint: i64,
        maxt: i64,
        size_hint: usize,
    },
    Series(std::vec::IntoIter<Series>),
}

impl RangeArg {
    /// The next series with its samples (stale markers dropped).
    pub fn next_series(&mut self) -> Option<Result<Series, QueryError>> {
        match &mut self.source {
            RangeSource::Series(it) => it.next().map(Ok),
            RangeSource::Select {
                set,
                mint,
                maxt,
                size_hint,
                ..
            } => {
                let series = match set.next()? {
                    Ok(s) => s,
                    Err(e) => return Some(Err(storage_error(e))),
                };
                let mut floats = Vec::with_capacity(*size_hint);
                let mut it = series.iterator();
                let mut cur = it.seek(*mint);
                while let Some((t, v)) = cur {
                    if t > *maxt {
                        break;
                    }
                    if !is_stale_nan(v) {
                        floats.push((t, v));
                    }
                    cur = it.next();
                }
                *size_hint = floats.len().max(16);
                Some(Ok(Series {
                    metric: series.labels().clone(),
                    floats,
                    drop_name: false,
                }))
            }
        }
    }
}

pub(crate) struct Evaluator<'a> {
    queryable: &'a dyn Queryable,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    /// The outer query's range and step, for `start()`, `end()`, `range()`, `step()`.
    pub query_start: i64,
    pub query_end: i64,
    pub query_step: i64,
    lookback: i64,
    max_samples: usize,
    cur_samples: usize,
    pub peak_samples: usize,
    /// Samples read from storage (upstream's "total queryable samples").
    pub total_samples: u64,
    deadline: Instant,
    no_step_subquery_interval: i64,
    pub annotations: Annotations,
}

/// The type an expression evaluates to, as upstream's `Expr.Type()`.
pub(crate) fn expr_type(e: &Expr) -> ValueType {
    match e {
        Expr::Aggregate(_) => ValueType::Vector,
        Expr::Binary(b) => {
            if expr_type(&b.lhs) == ValueType::Scalar && expr_type(&b.rhs) == ValueType::Scalar {
                ValueType::Scalar
            } else {
                ValueType::Vector
            }
        }
        Expr::Call(c) => crate::promql::functions::get_function(&c.name)
            .map(|f| f.return_type)
            .unwrap_or(ValueType::Vector),
        Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
        Expr::NumberLiteral(_) => ValueType::Scalar,
        Expr::Paren(p) => expr_type(&p.expr),
        Expr::StringLiteral(_) => ValueType::String,
        Expr::Unary(u) => expr_type(&u.expr),
        Expr::VectorSelector(_) => ValueType::Vector,
        Expr::StepInvariant(s) => expr_type(&s.expr),
    }
}

/// Strips parentheses and step-invariant wrappers.
pub(crate) fn unwrap(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap(&p.expr),
        Expr::StepInvariant(s) => unwrap(&s.expr),
        e => e,
    }
}

/// The source position of an expression, for annotations.
pub(crate) fn expr_pos(e: &Expr) -> PosRange {
    match e {
        Expr::Aggregate(a) => a.pos,
        Expr::Binary(b) => {
            let l = expr_pos(&b.lhs);
            let r = expr_pos(&b.rhs);
            PosRange::new(l.start, r.end)
        }
        Expr::Call(c) => c.pos,
        Expr::MatrixSelector(m) => {
            let p = expr_pos(&m.vector_selector);
            PosRange::new(p.start, m.end_pos)
        }
        Expr::Subquery(s) => PosRange::new(expr_pos(&s.expr).start, s.end_pos),
        Expr::NumberLiteral(n) => n.pos,
        Expr::Paren(p) => p.pos,
        Expr::StringLiteral(s) => s.pos,
        Expr::Unary(u) => PosRange::new(u.start_pos, expr_pos(&u.expr).end),
        Expr::VectorSelector(v) => v.pos,
        Expr::StepInvariant(s) => expr_pos(&s.expr),
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(
        queryable: &'a dyn Queryable,
        opts: &EngineOpts,
        _query: &'a str,
        start: i64,
        end: i64,
        step: i64,
        deadline: Instant,
    ) -> Evaluator<'a> {
        Evaluator {
            queryable,
            start,
            end,
            interval: if step == 0 { 1 } else { step },
            query_start: start,
            query_end: end,
            query_step: step,
            lookback: opts.lookback_delta,
            max_samples: opts.max_samples,
            cur_samples: 0,
            peak_samples: 0,
            total_samples: 0,
            deadline,
            no_step_subquery_interval: opts.no_step_subquery_interval,
            annotations: Annotations::default(),
        }
    }

    /// A child evaluator over another time range, sharing limits.
    fn child(&self, start: i64, end: i64, interval: i64) -> Evaluator<'a> {
        Evaluator {
            queryable: self.queryable,
            start,
            end,
            interval,
            query_start: self.query_start,
            query_end: self.query_end,
            query_step: self.query_step,
            lookback: self.lookback,
            max_samples: self.max_samples,
            cur_samples: self.cur_samples,
            peak_samples: self.peak_samples,
            total_samples: self.total_samples,
            deadline: self.deadline,
            no_step_subquery_interval: self.no_step_subquery_interval,
            annotations: Annotations::default(),
        }
    }

    fn adopt(&mut self, child: Evaluator<'a>) {
        self.peak_samples = self.peak_samples.max(child.peak_samples);
        self.total_samples = child.total_samples;
        self.annotations.merge(child.annotations);
    }

    /// The step a select hints at: 0 for a single evaluation (an instant
    /// query, a step-invariant sub-tree), as upstream's `SelectHints`.
    fn hint_step(&self) -> i64 {
        if self.start == self.end {
            0
        } else {
            self.interval
        }
    }

    pub fn num_steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1).max(0) as usize
    }

    /// Index of step `t` (which must be a step time).
    pub fn step_index(&self, t: i64) -> usize {
        ((t - self.start) / self.interval) as usize
    }

    pub fn steps(&self) -> impl Iterator<Item = i64> {
        let (s, e, i) = (self.start, self.end, self.interval);
        (0..).map(move |k| s + k * i).take_while(move |t| *t <= e)
    }

    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() >= self.deadline {
            return Err(QueryError::timeout("expression evaluation"));
        }
        Ok(())
    }

    /// Counts `n` more samples in memory, failing past the limit.
    pub fn account(&mut self, n: usize) -> Result<(), QueryError> {
        self.cur_samples += n;
        self.peak_samples = self.peak_samples.max(self.cur_samples);
        if self.cur_samples > self.max_samples {
            return Err(QueryError::too_many_samples("query execution"));
        }
        Ok(())
    }

    pub fn release(&mut self, n: usize) {
        self.cur_samples = self.cur_samples.saturating_sub(n);
    }

    pub fn release_matrix(&mut self, m: &Matrix) {
        let n = m.iter().map(|s| s.floats.len()).sum();
        self.release(n);
    }

    /// Evaluates the whole query and shapes the result as the API returns it.
    pub fn run(&mut self, expr: &Expr, instant: bool) -> Result<Value, QueryError> {
        let typ = expr_type(expr);
        if !instant && !matches!(typ, ValueType::Scalar | ValueType::Vector) {
            return Err(QueryError::bad_data(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                typ.document_name()
            )));
        }
        let val = self.eval(expr)?;
        let mat = match val {
            Val::Str(s) => return Ok(Value::String { t: self.start, s }),
            Val::Matrix(m) => m,
        };
        if typ == ValueType::Scalar {
            if instant {
                let v = mat
                    .first()
                    .and_then(|s| s.floats.first())
                    .map(|p| p.1)
                    .unwrap_or(f64::NAN);
                return Ok(Value::Scalar { t: self.start, v });
            }
            let out = mat
                .into_iter()
                .map(|s| MatrixSeries {
                    labels: Labels::empty(),
                    samples: s.floats,
                })
                .collect();
            return Ok(Value::Matrix(out));
        }
        let mat = cleanup_metric_labels(mat)?;
        if instant && typ == ValueType::Vector {
            let out = mat
                .into_iter()
                .filter_map(|s| {
                    s.floats.first().map(|p| VectorSample {
                        labels: s.metric,
                        t: self.start,
                        v: p.1,
                    })
                })
                .collect();
            return Ok(Value::Vector(out));
        }
        // Not sorted here: the engine sorts matrix results itself, timed as
        // upstream's `result_sort` slice.
        let out: Vec<MatrixSeries> = mat
            .into_iter()
            .filter(|s| !s.floats.is_empty())
            .map(|s| MatrixSeries {
                labels: s.metric,
                samples: s.floats,
            })
            .collect();
        Ok(Value::Matrix(out))
    }

    pub fn eval(&mut self, expr: &Expr) -> Result<Val, QueryError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Matrix(self.scalar_matrix(|_| n.val)?)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => {
                let mut m = self.eval_matrix(&u.expr)?;
                if u.op == BinOp::Sub {
                    let is_vec = expr_type(&u.expr) == ValueType::Vector;
                    for s in m.iter_mut() {
                        for p in s.floats.iter_mut() {
                            p.1 = -p.1;
                        }
                        if is_vec {
                            s.drop_name = true;
                        }
                    }
                }
                Ok(Val::Matrix(m))
            }
            Expr::StepInvariant(si) => self.eval_step_invariant(&si.expr),
            Expr::VectorSelector(vs) => Ok(Val::Matrix(self.eval_vector_selector(vs, false)?)),
            Expr::MatrixSelector(ms) => {
                let arg = self.range_arg_selector(ms)?;
                Ok(Val::Matrix(self.matrix_at(arg, self.start)?))
            }
            Expr::Subquery(sq) => {
                let arg = self.range_arg_subquery(sq)?;
                Ok(Val::Matrix(self.matrix_at(arg, self.start)?))
            }
            Expr::Call(c) => self.eval_call(c),
            Expr::Aggregate(a) => self.eval_aggregate(a),
            Expr::Binary(b) => self.eval_binary(b),
        }
    }

    pub fn eval_matrix(&mut self, expr: &Expr) -> Result<Matrix, QueryError> {
        match self.eval(expr)? {
            Val::Matrix(m) => Ok(m),
            Val::Str(_) => Err(QueryError::exec(
                "unexpected string where a vector or scalar was expected",
            )),
        }
    }

    /// The value of a scalar-typed expression at every step (NaN where absent).
    pub fn eval_scalar_steps(&mut self, expr: &Expr) -> Result<Vec<f64>, QueryError> {
        let m = self.eval_matrix(expr)?;
        let mut out = vec![f64::NAN; self.num_steps()];
        if let Some(s) = m.first() {
            for &(t, v) in &s.floats {
                if let Some(slot) = out.get_mut(self.step_index(t)) {
                    *slot = v;
                }
            }
        }
        self.release_matrix(&m);
        Ok(out)
    }

    pub fn eval_string(&mut self, expr: &Expr) -> Result<String, QueryError> {
        match self.eval(expr)? {
            Val::Str(s) => Ok(s),
            Val::Matrix(_) => Err(QueryError::exec("expected a string argument")),
        }
    }

    /// A one-series matrix with `f(t)` at every step.
    pub fn scalar_matrix(&mut self, f: impl Fn(i64) -> f64) -> Result<Matrix, QueryError> {
        let floats: Vec<(i64, f64)> = self.steps().map(|t| (t, f(t))).collect();
        self.account(floats.len())?;
        Ok(vec![Series {
            metric: Labels::empty(),
            floats,
            drop_name: false,
        }])
    }

    fn eval_step_invariant(&mut self, inner: &Expr) -> Result<Val, QueryError> {
        match unwrap(inner) {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => return self.eval(inner),
            _ => {}
        }
        if self.start == self.end {
            return self.eval(inner);
        }
        let mut child = self.child(self.start, self.start, 1);
        let res = child.eval(inner);
        self.adopt(child);
        let res = res?;
        if matches!(unwrap(inner), Expr::MatrixSelector(_) | Expr::Subquery(_)) {
            return Ok(res);
        }
        let mut m = match res {
            Val::Str(s) => return Ok(Val::Str(s)),
            Val::Matrix(m) => m,
        };
        let steps: Vec<i64> = self.steps().collect();
        for s in m.iter_mut() {
            if let Some(&(_, v)) = s.floats.first() {
                s.floats = steps.iter().map(|t| (*t, v)).collect();
                self.account(steps.len())?;
            }
        }
        Ok(Val::Matrix(m))
    }

    /// An instant selector at every step. With `timestamps`, each point's
    /// value is the sample's own timestamp in seconds (for `timestamp()`).
    pub fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        timestamps: bool,
    ) -> Result<Matrix, QueryError> {
        let mut out = Vec::new();
        self.for_each_selected(vs, timestamps, &mut |ev, metric, floats| {
            ev.account(floats.len())?;
            out.push(Series {
                metric: metric.clone(),
                floats,
                drop_name: false,
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Walks an instant selector's series one at a time, handing each
    /// series' labels and per-step points to `sink` (series without any
    /// point are skipped).
    pub fn for_each_selected(
        &mut self,
        vs: &VectorSelector,
        timestamps: bool,
        sink: &mut SelectedSink,
    ) -> Result<(), QueryError> {
        let (first, last) = match vs.timestamp {
            Some(at) => (at, at),
            None => (self.start, self.end),
        };
        let smoothed = vs.modifier == RangeModifier::Smoothed;
        let mint = first - vs.original_offset - self.lookback + 1;
        // Smoothing interpolates towards the next sample, up to a lookback ahead.
        let maxt = last - vs.original_offset + if smoothed { self.lookback } else { 0 };
        let hints = SelectHints {
            start: mint,
            end: maxt,
            step: self.hint_step(),
            ..SelectHints::default()
        };
        let querier = self.queryable.querier(mint, maxt).map_err(storage_error)?;
        let set = querier
            .select(false, Some(&hints), &vs.matchers)
            .map_err(storage_error)?;
        let steps: Vec<i64> = self.steps().collect();
        // One step (instant queries, rules): only the newest sample in the
        // lookback window matters, which a storage may know without
        // decoding anything.
        if let ([ts], false) = (steps.as_slice(), smoothed) {
            let reft = vs.timestamp.unwrap_or(*ts) - vs.original_offset;
            for (i, series) in set.enumerate() {
                let series = series.map_err(storage_error)?;
                if let Some((t, v)) = series.last_sample_in(reft - self.lookback + 1, reft) {
                    self.total_samples += 1;
                    if !is_stale_nan(v) {
                        let v = if timestamps { t as f64 / 1000.0 } else { v };
                        sink(self, series.labels(), vec![(*ts, v)])?;
                    }
                }
                if i % 256 == 0 {
                    self.check_deadline()?;
                }
            }
            return Ok(());
        }
        // Each series is walked once with its iterator: no sample buffer.
        for (i, series) in set.enumerate() {
            let series = series.map_err(storage_error)?;
            let mut it = series.iterator();
            // `cur`: the last sample at or before the step; `next`: the one after.
            let mut cur: Option<(i64, f64)> = None;
            let mut next = it.seek(mint);
            let mut floats = Vec::new();
            for &ts in &steps {
                let reft = vs.timestamp.unwrap_or(ts) - vs.original_offset;
                let from = reft - self.lookback + 1;
                if next.is_some_and(|n| n.0 < from) {
                    // Skip ahead over samples no step will look at.
                    cur = None;
                    next = it.seek(from);
                }
                while let Some(n) = next.filter(|n| n.0 <= reft) {
                    cur = Some(n);
                    next = it.next();
                    self.total_samples += 1;
                }
                let Some((t, v)) = cur else {
                    continue;
                };
                if t < from || is_stale_nan(v) {
                    continue;
                }
                let mut v = v;
                if smoothed && t < reft {
                    if let Some((nt, nv)) = next {
                        if nt < reft + self.lookback && !is_stale_nan(nv) {
                            v += (nv - v) * (reft - t) as f64 / (nt - t) as f64;
                        }
                    }
                }
                floats.push((ts, if timestamps { t as f64 / 1000.0 } else { v }));
            }
            if !floats.is_empty() {
                sink(self, series.labels(), floats)?;
            }
            if i % 256 == 0 {
                self.check_deadline()?;
            }
        }
        Ok(())
    }

    /// Reads a range selector's series over the whole query.
    pub fn range_arg_selector(&mut self, ms: &MatrixSelector) -> Result<RangeArg, QueryError> {
        let vs = match unwrap(&ms.vector_selector) {
            Expr::VectorSelector(vs) => vs,
            _ => return Err(QueryError::exec("range selector without a vector selector")),
        };
        let (first, last) = match vs.timestamp {
            Some(at) => (at, at),
            None => (self.start, self.end),
        };
        // Extended ranges need the samples around the window's boundaries.
        let (before, after) = match vs.modifier {
            RangeModifier::None => (0, 0),
            RangeModifier::Anchored => (self.lookback, 0),
            RangeModifier::Smoothed => (self.lookback, self.lookback),
        };
        let mint = first - vs.original_offset - ms.range - before + 1;
        let maxt = last - vs.original_offset + after;
        let hints = SelectHints {
            start: mint,
            end: maxt,
            step: self.hint_step(),
            range: ms.range,
            ..SelectHints::default()
        };
        let querier = self.queryable.querier(mint, maxt).map_err(storage_error)?;
        let set = querier
            .select(false, Some(&hints), &vs.matchers)
            .map_err(storage_error)?;
        Ok(RangeArg {
            source: RangeSource::Select {
                set,
                _querier: querier,
                mint,
                maxt,
                size_hint: 16,
            },
            range: ms.range,
            offset: vs.original_offset,
            at: vs.timestamp,
            pos: PosRange::new(vs.pos.start, ms.end_pos.max(vs.pos.end)),
            modifier: vs.modifier,
            lookback: self.lookback,
        })
    }

    /// Evaluates a subquery over its own aligned steps.
    pub fn range_arg_subquery(&mut self, sq: &SubqueryExpr) -> Result<RangeArg, QueryError> {
        let interval = if sq.step > 0 {
            sq.step
        } else {
            self.no_step_subquery_interval.max(1)
        };
        let (first, last) = match sq.timestamp {
            Some(at) => (at, at),
            None => (self.start, self.end),
        };
        let end = last - sq.original_offset;
        let from = first - sq.original_offset - sq.range;
        // The first step-aligned time after the range start (Go's
        // truncating division, as upstream).
        let mut start = interval * (from / interval);
        if start <= from {
            start += interval;
        }
        // Each step of a subquery holds at least one sample per series; a
        // window finer than the sample limit can never be evaluated.
        if start <= end && ((end - start) / interval) as usize >= self.max_samples {
            return Err(QueryError::too_many_samples("query execution"));
        }
        let mut child = self.child(start, end, interval);
        let res = if start > end {
            Ok(Vec::new())
        } else {
            child.eval_matrix(&sq.expr)
        };
        self.adopt(child);
        let series = res?;
        Ok(RangeArg {
            source: RangeSource::Series(series.into_iter()),
            range: sq.range,
            offset: sq.original_offset,
            at: sq.timestamp,
            pos: PosRange::new(expr_pos(&sq.expr).start, sq.end_pos),
            modifier: RangeModifier::None,
            lookback: self.lookback,
        })
    }

    /// The range-vector value of `arg` at step `ts` (a top-level range
    /// selector or subquery in an instant query).
    fn matrix_at(&mut self, mut arg: RangeArg, ts: i64) -> Result<Matrix, QueryError> {
        let reft = arg.at.unwrap_or(ts) - arg.offset;
        let lo = reft - arg.range;
        let mut out = Vec::new();
        while let Some(s) = arg.next_series() {
            let s = s?;
            let a = s.floats.partition_point(|p| p.0 <= lo);
            let b = s.floats.partition_point(|p| p.0 <= reft);
            if a < b {
                let floats = s.floats[a..b].to_vec();
                self.account(floats.len())?;
                out.push(Series {
                    metric: s.metric,
                    floats,
                    drop_name: s.drop_name,
                });
            }
        }
        Ok(out)
    }

    /// A range-vector argument of a function: a selector or a subquery.
    pub fn range_arg(&mut self, e: &Expr) -> Result<RangeArg, QueryError> {
        match unwrap(e) {
            Expr::MatrixSelector(ms) => {
                // A pinned selector under a step-invariant wrapper reads
                // the same window at every step either way.
                self.range_arg_selector(ms)
            }
            Expr::Subquery(sq) => self.range_arg_subquery(sq),
            _ => Err(QueryError::exec("expected a range vector argument")),
        }
    }

    fn eval_call(&mut self, c: &Call) -> Result<Val, QueryError> {
        super::functions::eval_call(self, c)
    }

    fn eval_aggregate(&mut self, a: &AggregateExpr) -> Result<Val, QueryError> {
        super::aggregate::eval_aggregate(self, a).map(Val::Matrix)
    }

    fn eval_binary(&mut self, b: &crate::promql::ast::BinaryExpr) -> Result<Val, QueryError> {
        super::binary::eval_binary(self, b).map(Val::Matrix)
    }
}

fn storage_error(e: crate::storage::StorageError) -> QueryError {
    QueryError::new(super::QueryErrorKind::Storage, e.to_string())
}

/// Collects per-step output samples into series keyed by label set, as
/// upstream's `rangeEval` does; two samples with the same labels at one
/// step are an error.
pub(crate) struct SeriesCollector {
    index: HashMap<Labels, usize>,
    pub series: Matrix,
}

impl SeriesCollector {
    pub fn new() -> SeriesCollector {
        SeriesCollector {
            index: HashMap::new(),
            series: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        metric: &Labels,
        drop_name: bool,
        t: i64,
        v: f64,
    ) -> Result<(), QueryError> {
        let i = match self.index.get(metric) {
            Some(i) => *i,
            None => {
                self.series.push(Series {
                    metric: metric.clone(),
                    floats: Vec::new(),
                    drop_name,
                });
                self.index.insert(metric.clone(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        let s = &mut self.series[i];
        if s.floats.last().is_some_and(|p| p.0 == t) {
            return Err(QueryError::exec(
                "vector cannot contain metrics with the same labelset",
            ));
        }
        s.drop_name |= drop_name;
        s.floats.push((t, v));
        Ok(())
    }
}

/// Drops `__name__` where it was marked for removal, then merges series
/// that became identical; overlapping points are an error (upstream's
/// `cleanupMetricLabels`).
pub(crate) fn cleanup_metric_labels(mat: Matrix) -> Result<Matrix, QueryError> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Matrix = Vec::with_capacity(mat.len());
    for mut s in mat {
        if s.drop_name {
            // The type-and-unit metadata labels describe the name and go with it.
            s.metric = s.metric.without(&[METRIC_NAME, "__type__", "__unit__"]);
        }
        s.drop_name = false;
        match index.get(&s.metric) {
            None => {
                index.insert(s.metric.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let existing = &mut out[i];
                let mut merged = Vec::with_capacity(existing.floats.len() + s.floats.len());
                let (mut a, mut b) = (0, 0);
                let (x, y) = (&existing.floats, &s.floats);
                while a < x.len() || b < y.len() {
                    match (x.get(a), y.get(b)) {
                        (Some(p), Some(q)) if p.0 == q.0 => {
                            return Err(QueryError::exec(
                                "vector cannot contain metrics with the same labelset",
                            ))
                        }
                        (Some(p), Some(q)) if p.0 < q.0 => {
                            merged.push(*p);
                            a += 1;
                        }
                        (Some(_), Some(q)) => {
                            merged.push(*q);
                            b += 1;
                        }
                        (Some(p), None) => {
                            merged.push(*p);
                            a += 1;
                        }
                        (None, Some(q)) => {
                            merged.push(*q);
                            b += 1;
                        }
                        (None, None) => break,
                    }
                }
                existing.floats = merged;
            }
        }
    }
    Ok(out)
}
