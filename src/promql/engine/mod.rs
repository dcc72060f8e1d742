//! The PromQL query engine, as upstream's `promql.Engine`: options, the
//! instant/range query entry points, the concurrency gate, timeouts and the
//! sample limit. `preprocess` resolves duration expressions and marks
//! step-invariant sub-trees; `eval` walks the tree over all steps at once;
//! `functions`, `range_functions` and `histogram` hold the functions;
//! `aggregate` and `binary` the operators; `annotations` the warnings and
//! infos. The engine sees storage only through `storage::Queryable`.

mod aggregate;
mod annotations;
mod binary;
mod eval;
mod functions;
mod histogram;
mod preprocess;
mod range_functions;

use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::storage::Queryable;
use crate::telemetry::{self, Counter, Gauge, Summary};

use super::ast::Expr;
use super::value::Value;

pub use annotations::Annotations;
pub use preprocess::AT_MODIFIER_UNSAFE_FUNCTIONS;

/// Engine settings, as upstream's `EngineOpts` and the `--query.*` flags.
#[derive(Clone, Debug)]
pub struct EngineOpts {
    /// Most samples a query may hold in memory at once (`--query.max-samples`).
    pub max_samples: usize,
    /// Longest a query may run (`--query.timeout`).
    pub timeout: Duration,
    /// How far back an instant selector looks for a sample, in ms.
    pub lookback_delta: i64,
    /// Queries allowed to run at once; more wait (`--query.max-concurrency`).
    pub max_concurrency: usize,
    pub enable_at_modifier: bool,
    pub enable_negative_offset: bool,
    /// Step of a subquery written without one (`[5m:]`), in ms.
    pub no_step_subquery_interval: i64,
}

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            lookback_delta: 5 * 60 * 1000,
            max_concurrency: 20,
            enable_at_modifier: true,
            enable_negative_offset: true,
            no_step_subquery_interval: 60 * 1000,
        }
    }
}

/// The kind of a query failure, mapping to the API's `errorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryErrorKind {
    BadData,
    Execution,
    Timeout,
    Canceled,
    TooManySamples,
    Storage,
}

impl QueryErrorKind {
    /// The API's `errorType` string.
    pub fn api_name(self) -> &'static str {
        match self {
            QueryErrorKind::BadData => "bad_data",
            QueryErrorKind::Execution | QueryErrorKind::TooManySamples => "execution",
            QueryErrorKind::Timeout => "timeout",
            QueryErrorKind::Canceled => "canceled",
            QueryErrorKind::Storage => "internal",
        }
    }
}

/// A failed query: its kind and upstream's message.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryError {
    pub kind: QueryErrorKind,
    pub message: String,
}

impl QueryError {
    pub fn new(kind: QueryErrorKind, message: impl Into<String>) -> QueryError {
        QueryError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn exec(message: impl Into<String>) -> QueryError {
        QueryError::new(QueryErrorKind::Execution, message)
    }

    pub(crate) fn bad_data(message: impl Into<String>) -> QueryError {
        QueryError::new(QueryErrorKind::BadData, message)
    }

    pub(crate) fn too_many_samples(stage: &str) -> QueryError {
        QueryError::new(
            QueryErrorKind::TooManySamples,
            format!("query processing would load too many samples into memory in {stage}"),
        )
    }

    pub(crate) fn timeout(stage: &str) -> QueryError {
        QueryError::new(
            QueryErrorKind::Timeout,
            format!("query timed out in {stage}"),
        )
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}

/// Per-query counters, as upstream's `stats.QuerySamples` summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryStats {
    /// Samples read from storage (and from subquery results fed to range functions).
    pub total_queryable_samples: u64,
    /// Most samples held at once.
    pub peak_samples: usize,
    /// Wall time from the concurrency slot to the sorted result
    /// (upstream's `evalTotalTime`).
    pub eval_time: Duration,
    /// Time spent waiting for a concurrency slot.
    pub queue_time: Duration,
    /// Checking and rewriting the expression before evaluation.
    pub prepare_time: Duration,
    /// Evaluating the rewritten expression.
    pub inner_eval_time: Duration,
    /// Sorting a matrix result by labels.
    pub sort_time: Duration,
}

/// What a query returns: its value and its annotations, already rendered
/// as upstream's API shows them (`PromQL info: ... (1:6)`).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub stats: QueryStats,
}

/// A counting semaphore: `max_concurrency` queries run, the rest wait in line.
struct Gate {
    limit: usize,
    running: Mutex<usize>,
    freed: Condvar,
}

impl Gate {
    /// Waits for a slot, up to `deadline`.
    fn enter(self: &Arc<Self>, deadline: Instant) -> Result<GateSlot, QueryError> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while self.limit > 0 && *running >= self.limit {
            let now = Instant::now();
            if now >= deadline {
                return Err(QueryError::timeout("query queue"));
            }
            let (guard, _) = self
                .freed
                .wait_timeout(running, deadline - now)
                .unwrap_or_else(|e| e.into_inner());
            running = guard;
        }
        *running += 1;
        Ok(GateSlot { gate: self.clone() })
    }
}

/// A held concurrency slot, released on drop.
struct GateSlot {
    gate: Arc<Gate>,
}

impl Drop for GateSlot {
    fn drop(&mut self) {
        let mut running = self.gate.running.lock().unwrap_or_else(|e| e.into_inner());
        *running = running.saturating_sub(1);
        self.gate.freed.notify_one();
    }
}

/// The engine's own metrics, under upstream's names.
#[derive(Clone)]
struct EngineMetrics {
    /// `prometheus_engine_queries`: running or waiting.
    queries: Gauge,
    /// `prometheus_engine_query_samples_total`.
    samples: Counter,
    /// `prometheus_engine_query_duration_seconds`, one child per slice.
    queue_time: Summary,
    prepare_time: Summary,
    inner_eval: Summary,
    result_sort: Summary,
}

impl EngineMetrics {
    fn register(opts: &EngineOpts) -> EngineMetrics {
        let reg = telemetry::global();
        reg.gauge(
            "prometheus_engine_queries_concurrent_max",
            "The max number of concurrent queries.",
        )
        .set(opts.max_concurrency as f64);
        let durations = reg.summary_vec(
            "prometheus_engine_query_duration_seconds",
            "Query timings",
            &["slice"],
            telemetry::LATENCY_OBJECTIVES,
        );
        EngineMetrics {
            queue_time: durations.with(&["queue_time"]),
            prepare_time: durations.with(&["prepare_time"]),
            inner_eval: durations.with(&["inner_eval"]),
            result_sort: durations.with(&["result_sort"]),
            queries: reg.gauge(
                "prometheus_engine_queries",
                "The current number of queries being executed or waiting.",
            ),
            samples: reg.counter(
                "prometheus_engine_query_samples_total",
                "The total number of samples loaded by all queries.",
            ),
        }
    }
}

/// Counts a query in `prometheus_engine_queries` until dropped.
struct RunningQuery<'m>(&'m Gauge);

impl Drop for RunningQuery<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The PromQL engine. Cheap to clone; clones share the concurrency gate.
#[derive(Clone)]
pub struct Engine {
    opts: EngineOpts,
    gate: Arc<Gate>,
    metrics: EngineMetrics,
}

impl Engine {
    pub fn new(opts: EngineOpts) -> Engine {
        let gate = Arc::new(Gate {
            limit: opts.max_concurrency,
            running: Mutex::new(0),
            freed: Condvar::new(),
        });
        let metrics = EngineMetrics::register(&opts);
        Engine {
            opts,
            gate,
            metrics,
        }
    }

    pub fn opts(&self) -> &EngineOpts {
        &self.opts
    }

    /// Parses and evaluates `query` at `ts_ms`.
    pub fn instant_query(
        &self,
        q: &dyn Queryable,
        query: &str,
        ts_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_query_with_timeout(q, query, ts_ms, None)
    }

    /// As [`Engine::instant_query`], also bounded by `timeout` when that is
    /// shorter than `--query.timeout` (the HTTP API's `timeout` parameter).
    pub fn instant_query_with_timeout(
        &self,
        q: &dyn Queryable,
        query: &str,
        ts_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse(query)?;
        self.exec(q, &expr, query, (ts_ms, ts_ms, 0), timeout)
    }

    /// Parses and evaluates `query` at every step from `start_ms` to `end_ms`.
    pub fn range_query(
        &self,
        q: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_query_with_timeout(q, query, start_ms, end_ms, step_ms, None)
    }

    /// As [`Engine::range_query`], also bounded by `timeout` when that is
    /// shorter than `--query.timeout` (the HTTP API's `timeout` parameter).
    pub fn range_query_with_timeout(
        &self,
        q: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse(query)?;
        check_range(start_ms, end_ms, step_ms)?;
        self.exec(q, &expr, query, (start_ms, end_ms, step_ms), timeout)
    }

    /// Evaluates an already parsed expression at `ts_ms` (for the rule
    /// manager). Annotation positions refer to the expression's printed form.
    pub fn instant_query_expr(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        ts_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let text = expr.to_string();
        self.exec(q, expr, &text, (ts_ms, ts_ms, 0), None)
    }

    /// Evaluates an already parsed expression over a range.
    pub fn range_query_expr(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        check_range(start_ms, end_ms, step_ms)?;
        let text = expr.to_string();
        self.exec(q, expr, &text, (start_ms, end_ms, step_ms), None)
    }

    fn exec(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        text: &str,
        (start, end, step): (i64, i64, i64),
        timeout: Option<Duration>,
    ) -> Result<QueryResult, QueryError> {
        self.metrics.queries.inc();
        let _running = RunningQuery(&self.metrics.queries);
        let queued = Instant::now();
        let timeout = timeout.map_or(self.opts.timeout, |t| t.min(self.opts.timeout));
        let deadline = queued + timeout;
        let _slot = self.gate.enter(deadline)?;
        let began = Instant::now();
        self.metrics
            .queue_time
            .observe((began - queued).as_secs_f64());
        for t in [start, end, step] {
            if t.abs() > preprocess::MAX_TIME_MS {
                return Err(QueryError::bad_data(format!(
                    "query time {t}ms is out of the supported range"
                )));
            }
        }
        let expr = preprocess::preprocess(expr, start, end, step, &self.opts)?;
        let eval_began = Instant::now();
        let prepare_time = eval_began - began;
        self.metrics
            .prepare_time
            .observe(prepare_time.as_secs_f64());
        let mut ev = eval::Evaluator::new(q, &self.opts, text, start, end, step, deadline);
        let mut value = ev.run(&expr, step == 0)?;
        let inner_eval_time = eval_began.elapsed();
        self.metrics
            .inner_eval
            .observe(inner_eval_time.as_secs_f64());
        let mut sort_time = Duration::ZERO;
        if let Value::Matrix(m) = &mut value {
            // As upstream, matrix results (range queries, range-vector
            // instant queries) are sorted and timed; vectors are not.
            let sort_began = Instant::now();
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            sort_time = sort_began.elapsed();
            self.metrics.result_sort.observe(sort_time.as_secs_f64());
        }
        self.metrics.samples.add(ev.total_samples as f64);
        let (warnings, infos) = ev.annotations.render(text);
        Ok(QueryResult {
            value,
            warnings,
            infos,
            stats: QueryStats {
                total_queryable_samples: ev.total_samples,
                peak_samples: ev.peak_samples,
                eval_time: began.elapsed(),
                queue_time: began - queued,
                prepare_time,
                inner_eval_time,
                sort_time,
            },
        })
    }
}

fn parse(query: &str) -> Result<Expr, QueryError> {
    super::parse_expr(query).map_err(|e| QueryError::bad_data(e.to_string()))
}

fn check_range(start: i64, end: i64, step: i64) -> Result<(), QueryError> {
    if end < start {
        return Err(QueryError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    if step <= 0 {
        return Err(QueryError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Upstream's API guards against absurd resolutions the same way.
    if (end - start) / step > 11_000 {
        return Err(QueryError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::storage::memory::MemStorage;

    fn storage() -> MemStorage {
        let s = MemStorage::new();
        for (inst, inc) in [("a", 1.0), ("b", 2.0)] {
            let l = Labels::from_pairs(&[("__name__", "reqs_total"), ("instance", inst)]);
            for i in 0..=20 {
                s.insert(&l, i * 15_000, i as f64 * inc * 15.0);
            }
        }
        s
    }

    #[test]
    fn instant_and_range_queries() {
        let e = Engine::new(EngineOpts::default());
        let s = storage();
        let r = e
            .instant_query(&s, "sum(rate(reqs_total[1m]))", 300_000)
            .expect("query runs");
        match r.value {
            Value::Vector(v) => {
                assert_eq!(v.len(), 1);
                assert!((v[0].v - 3.0).abs() < 1e-9, "{}", v[0].v);
                assert!(v[0].labels.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        let r = e
            .range_query(&s, "reqs_total", 0, 300_000, 60_000)
            .expect("query runs");
        match r.value {
            Value::Matrix(m) => {
                assert_eq!(m.len(), 2);
                assert_eq!(m[0].samples.len(), 6);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn errors_carry_upstream_kinds_and_messages() {
        let s = storage();
        let e = Engine::new(EngineOpts {
            max_samples: 5,
            ..EngineOpts::default()
        });
        let err = e
            .range_query(&s, "reqs_total", 0, 300_000, 60_000)
            .unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::TooManySamples);
        assert_eq!(
            err.message,
            "query processing would load too many samples into memory in query execution"
        );
        let e = Engine::new(EngineOpts::default());
        let err = e
            .range_query(&s, "reqs_total[1m]", 0, 60_000, 60_000)
            .unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::BadData);
        let err = e.instant_query(&s, "sum(", 0).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::BadData);
        assert!(err.message.starts_with("1:"), "{}", err.message);
        let err = e.instant_query(&s, "reqs_total", i64::MAX).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::BadData);
        let e = Engine::new(EngineOpts {
            timeout: Duration::from_millis(0),
            ..EngineOpts::default()
        });
        let err = e.instant_query(&s, "reqs_total", 0).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::Timeout);
        assert_eq!(err.message, "query timed out in expression evaluation");
    }

    #[test]
    fn a_per_query_timeout_shortens_the_engine_timeout() {
        let s = storage();
        let e = Engine::new(EngineOpts::default());
        let err = e
            .instant_query_with_timeout(&s, "reqs_total", 0, Some(Duration::ZERO))
            .unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::Timeout);
        let err = e
            .range_query_with_timeout(&s, "reqs_total", 0, 60_000, 60_000, Some(Duration::ZERO))
            .unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::Timeout);
        assert!(e
            .instant_query_with_timeout(&s, "reqs_total", 0, Some(Duration::from_secs(60)))
            .is_ok());
        // A longer per-query timeout never extends --query.timeout.
        let e = Engine::new(EngineOpts {
            timeout: Duration::ZERO,
            ..EngineOpts::default()
        });
        let err = e
            .instant_query_with_timeout(&s, "reqs_total", 0, Some(Duration::from_secs(60)))
            .unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::Timeout);
    }

    #[test]
    fn engine_is_shareable_across_threads() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Engine>();
    }

    #[test]
    fn gate_queues_and_times_out() {
        let gate = Arc::new(Gate {
            limit: 1,
            running: Mutex::new(0),
            freed: Condvar::new(),
        });
        let held = gate.enter(Instant::now() + Duration::from_secs(1));
        assert!(held.is_ok());
        let second = gate.enter(Instant::now() + Duration::from_millis(10));
        assert_eq!(
            second.err().map(|e| e.message),
            Some("query timed out in query queue".to_string())
        );
        drop(held);
        assert!(gate
            .enter(Instant::now() + Duration::from_millis(10))
            .is_ok());
    }

    #[test]
    fn annotations_are_rendered_with_positions() {
        let s = MemStorage::new();
        let l = Labels::from_pairs(&[("__name__", "foo")]);
        for i in 0..5 {
            s.insert(&l, i * 15_000, i as f64);
        }
        let e = Engine::new(EngineOpts::default());
        let r = e
            .instant_query(&s, "rate(foo[1m])", 60_000)
            .expect("query runs");
        assert_eq!(
            r.infos,
            vec!["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"foo\" (1:6)"]
        );
    }
}
