//! Rule groups, as upstream's `rules/group.go`: rules evaluated in order at
//! one timestamp, results appended, stale markers for series a rule stopped
//! returning, alerts handed to the notifier, `for` state restored after a
//! restart, and the per-group schedule (a stable offset inside the interval,
//! missed iterations counted).

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::model::labels::METRIC_NAME;
use crate::model::value::{now_millis, stale_nan};
use crate::model::{Labels, Matcher};
use crate::storage::{Appendable, Queryable};
use crate::telemetry::{self, CounterVec, GaugeVec, Registry, Summary};

use super::alerting::{
    alerts_to_send, Alert, AlertingRule, ForState, RestoreOptions, ALERT_FOR_STATE_METRIC_NAME,
    ALERT_NAME_LABEL,
};
use super::recording::RecordingRule;
use super::rulefmt;
use super::{QueryFunc, RuleHealth};

/// Hands alerts to the notifier; gets the rule's expression for `generatorURL`.
pub type NotifyFunc = Arc<dyn Fn(&str, Vec<Alert>) + Send + Sync>;

/// A recording or an alerting rule, with the definition it was built from.
#[derive(Debug)]
pub enum Rule {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(r) => &r.name,
        }
    }

    pub fn labels(&self) -> &Labels {
        match self {
            Rule::Recording(r) => &r.labels,
            Rule::Alerting(r) => &r.labels,
        }
    }

    pub fn health(&self) -> RuleHealth {
        match self {
            Rule::Recording(r) => r.health,
            Rule::Alerting(r) => r.health,
        }
    }

    pub fn last_error(&self) -> Option<&str> {
        match self {
            Rule::Recording(r) => r.last_error.as_deref(),
            Rule::Alerting(r) => r.last_error.as_deref(),
        }
    }

    fn set_result(&mut self, err: Option<String>, at: i64, secs: f64) {
        let health = if err.is_some() {
            RuleHealth::Bad
        } else {
            RuleHealth::Good
        };
        match self {
            Rule::Recording(r) => {
                r.health = health;
                r.last_error = err;
                r.last_evaluation = at;
                r.evaluation_seconds = secs;
            }
            Rule::Alerting(r) => {
                r.health = health;
                r.last_error = err;
                r.last_evaluation = at;
                r.evaluation_seconds = secs;
            }
        }
    }

    /// Upstream's `nameAndLabels`, which matches rules across reloads.
    fn identity(&self) -> String {
        format!("{}{}", self.name(), self.labels())
    }
}

/// The rule manager's metrics, labelled by `rule_group` (`file;group`).
pub struct RuleMetrics {
    pub evaluations: CounterVec,
    pub eval_failures: CounterVec,
    pub iterations: CounterVec,
    pub iterations_missed: CounterVec,
    pub interval: GaugeVec,
    pub last_duration: GaugeVec,
    pub last_eval_ts: GaugeVec,
    pub last_samples: GaugeVec,
    pub rules: GaugeVec,
    pub last_rule_duration_sum: GaugeVec,
    pub last_restore_duration: GaugeVec,
    /// `prometheus_rule_evaluation_duration_seconds` (no labels, as upstream).
    pub eval_duration: Summary,
    /// `prometheus_rule_group_duration_seconds` (no labels, as upstream).
    pub group_duration: Summary,
}

impl RuleMetrics {
    pub fn new(r: &Registry) -> RuleMetrics {
        let g = &["rule_group"];
        RuleMetrics {
            evaluations: r.counter_vec(
                "prometheus_rule_evaluations_total",
                "The total number of rule evaluations.",
                g,
            ),
            eval_failures: r.counter_vec(
                "prometheus_rule_evaluation_failures_total",
                "The total number of rule evaluation failures.",
                g,
            ),
            iterations: r.counter_vec(
                "prometheus_rule_group_iterations_total",
                "The total number of scheduled rule group evaluations, whether executed or missed.",
                g,
            ),
            iterations_missed: r.counter_vec(
                "prometheus_rule_group_iterations_missed_total",
                "The total number of rule group evaluations missed due to slow rule group evaluation.",
                g,
            ),
            interval: r.gauge_vec(
                "prometheus_rule_group_interval_seconds",
                "The interval of a rule group.",
                g,
            ),
            last_duration: r.gauge_vec(
                "prometheus_rule_group_last_duration_seconds",
                "The duration of the last rule group evaluation.",
                g,
            ),
            last_eval_ts: r.gauge_vec(
                "prometheus_rule_group_last_evaluation_timestamp_seconds",
                "The timestamp of the last rule group evaluation in seconds.",
                g,
            ),
            last_samples: r.gauge_vec(
                "prometheus_rule_group_last_evaluation_samples",
                "The number of samples returned during the last rule group evaluation.",
                g,
            ),
            rules: r.gauge_vec(
                "prometheus_rule_group_rules",
                "The number of rules.",
                g,
            ),
            last_rule_duration_sum: r.gauge_vec(
                "prometheus_rule_group_last_rule_duration_sum_seconds",
                "The sum of time in seconds it took to evaluate each rule in the group regardless of concurrency.",
                g,
            ),
            last_restore_duration: r.gauge_vec(
                "prometheus_rule_group_last_restore_duration_seconds",
                "The duration of the last alert rules alerts restoration using the `ALERTS_FOR_STATE` series.",
                g,
            ),
            eval_duration: r.summary(
                "prometheus_rule_evaluation_duration_seconds",
                "The duration for a rule to execute.",
                telemetry::LATENCY_OBJECTIVES,
            ),
            group_duration: r.summary(
                "prometheus_rule_group_duration_seconds",
                "The duration of rule group evaluations.",
                telemetry::INTERVAL_OBJECTIVES,
            ),
        }
    }

    fn forget(&self, key: &str) {
        for v in [
            &self.evaluations,
            &self.eval_failures,
            &self.iterations,
            &self.iterations_missed,
        ] {
            v.remove(&[key]);
        }
        for v in [
            &self.interval,
            &self.last_duration,
            &self.last_eval_ts,
            &self.last_samples,
            &self.rules,
            &self.last_rule_duration_sum,
            &self.last_restore_duration,
        ] {
            v.remove(&[key]);
        }
    }
}

/// What every group of one manager shares.
pub struct GroupOptions {
    pub appendable: Arc<dyn Appendable>,
    pub queryable: Arc<dyn Queryable>,
    pub query_func: Arc<dyn QueryFunc>,
    pub notify: Option<NotifyFunc>,
    /// All in milliseconds.
    pub resend_delay: i64,
    pub outage_tolerance: i64,
    pub for_grace_period: i64,
    /// `global.rule_query_offset` in ms; changes on reload.
    pub default_query_offset: AtomicI64,
    pub metrics: Arc<RuleMetrics>,
}

/// Mutable state of a group, behind its lock.
#[derive(Default)]
pub struct GroupState {
    pub rules: Vec<Rule>,
    series_in_previous_eval: Vec<HashSet<Labels>>,
    stale_series: Vec<Labels>,
    /// Wall time the last evaluation took, in seconds.
    pub evaluation_seconds: f64,
    /// Wall-clock start of the last evaluation (ms), 0 if never.
    pub last_evaluation: i64,
    /// The (aligned) timestamp of the last evaluation (ms).
    pub last_eval_timestamp: i64,
    /// Restore `for` state at the next evaluation (first load after startup).
    should_restore: bool,
}

/// A group of rules evaluated together on one interval.
pub struct Group {
    pub name: String,
    pub file: String,
    /// Milliseconds.
    pub interval: i64,
    pub limit: usize,
    pub query_offset: Option<i64>,
    /// The definition the group was built from, to detect unchanged groups.
    pub(crate) source: rulefmt::RuleGroup,
    /// External labels and URL the rules were built with; part of "unchanged".
    pub(crate) context: (Labels, String),
    state: Mutex<GroupState>,
    opts: Arc<GroupOptions>,
}

/// `file;name`, the group's key in metrics and in the manager.
pub fn group_key(file: &str, name: &str) -> String {
    format!("{file};{name}")
}

impl Group {
    pub(crate) fn new(
        source: rulefmt::RuleGroup,
        file: String,
        interval: i64,
        rules: Vec<Rule>,
        should_restore: bool,
        context: (Labels, String),
        opts: Arc<GroupOptions>,
    ) -> Group {
        let n = rules.len();
        Group {
            name: source.name.clone(),
            file,
            interval,
            limit: source.limit,
            query_offset: source.query_offset,
            source,
            context,
            state: Mutex::new(GroupState {
                rules,
                series_in_previous_eval: vec![HashSet::new(); n],
                should_restore,
                ..GroupState::default()
            }),
            opts,
        }
    }

    pub fn key(&self) -> String {
        group_key(&self.file, &self.name)
    }

    /// The group's state; held briefly by readers (API), for a whole
    /// evaluation by the group itself.
    pub fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn query_offset(&self) -> i64 {
        self.query_offset
            .unwrap_or_else(|| self.opts.default_query_offset.load(Ordering::Relaxed))
    }

    /// The group's evaluation slot at or before `now` (ms): interval-aligned
    /// plus upstream's stable per-group offset, so groups spread over the
    /// interval (upstream's `Group.EvalTimestamp`).
    pub fn eval_timestamp(&self, now: i64) -> i64 {
        super::schedule::eval_timestamp_ms(&self.name, &self.file, self.interval, now)
    }

    /// Evaluates every rule at `ts` (ms) and appends the results.
    pub fn eval(&self, ts: i64) {
        let key = self.key();
        let m = &self.opts.metrics;
        let offset = self.query_offset();
        let mut st = self.lock();
        if st.should_restore {
            let start = Instant::now();
            self.prepare_restore(&mut st, ts);
            st.should_restore = false;
            m.last_restore_duration
                .with(&[&key])
                .set(start.elapsed().as_secs_f64());
        }
        let n = st.rules.len();
        drop(st);
        let mut samples_total = 0usize;
        let mut rule_secs_sum = 0.0;
        // The lock is taken per rule, so the API waits for at most one
        // rule's evaluation, not the whole group's.
        for i in 0..n {
            let mut st = self.lock();
            let GroupState {
                rules,
                series_in_previous_eval,
                ..
            } = &mut *st;
            let Some(rule) = rules.get_mut(i) else { break };
            let start = Instant::now();
            m.evaluations.with(&[&key]).inc();
            let res = match rule {
                Rule::Recording(r) => r.eval(ts, offset, self.opts.query_func.as_ref(), self.limit),
                Rule::Alerting(r) => r.eval(ts, offset, self.opts.query_func.as_ref(), self.limit),
            };
            let vector = match res {
                Ok(v) => v,
                Err(e) => {
                    log::warn!(
                        "Evaluating rule failed: group {} rule {}: {e}",
                        self.name,
                        rule.name()
                    );
                    m.eval_failures.with(&[&key]).inc();
                    let secs = start.elapsed().as_secs_f64();
                    m.eval_duration.observe(secs);
                    rule.set_result(Some(e.to_string()), now_millis(), secs);
                    rule_secs_sum += secs;
                    continue;
                }
            };
            samples_total += vector.len();
            if let (Rule::Alerting(ar), Some(notify)) = (&mut *rule, &self.opts.notify) {
                let alerts = alerts_to_send(ar, ts, self.opts.resend_delay, self.interval);
                if !alerts.is_empty() {
                    notify(&ar.expr.to_string(), alerts);
                }
            }
            let mut append_err = None;
            let mut returned = HashSet::with_capacity(vector.len());
            let mut app = self.opts.appendable.appender();
            for s in &vector {
                match app.append(0, &s.labels, s.t, s.v) {
                    Ok(_) => {
                        returned.insert(s.labels.clone());
                    }
                    Err(e) => {
                        log::warn!(
                            "Rule evaluation result discarded: rule {}: {e} (series {})",
                            rule.name(),
                            s.labels
                        );
                        append_err = Some(e.to_string());
                    }
                }
            }
            // A series the rule returned last time but not now gets a stale marker.
            if let Some(prev) = series_in_previous_eval.get(i) {
                for lset in prev.difference(&returned) {
                    if let Err(e) = app.append(0, lset, ts - offset, stale_nan()) {
                        log::warn!("Adding stale sample failed: {e} (series {lset})");
                    }
                }
            }
            if let Err(e) = app.commit() {
                log::warn!("Rule sample appending failed: {e}");
                append_err = Some(e.to_string());
            }
            if let Some(slot) = series_in_previous_eval.get_mut(i) {
                *slot = returned;
            }
            let secs = start.elapsed().as_secs_f64();
            m.eval_duration.observe(secs);
            rule_secs_sum += secs;
            rule.set_result(append_err, now_millis(), secs);
        }
        // Series of rules removed by a reload: marked stale once.
        let stale_series = std::mem::take(&mut self.lock().stale_series);
        if !stale_series.is_empty() {
            let mut app = self.opts.appendable.appender();
            for lset in stale_series {
                let _ = app.append(0, &lset, ts - offset, stale_nan());
            }
            if let Err(e) = app.commit() {
                log::warn!("Stale sample appending for previous configuration failed: {e}");
            }
        }
        m.last_samples.with(&[&key]).set(samples_total as f64);
        m.last_rule_duration_sum.with(&[&key]).set(rule_secs_sum);
    }

    /// Loads the `ALERTS_FOR_STATE` history for rules that need restoring,
    /// to be applied as their alerts reappear (upstream's `RestoreForState`).
    fn prepare_restore(&self, st: &mut GroupState, ts: i64) {
        let mint = ts - self.opts.outage_tolerance;
        let querier = match self.opts.queryable.querier(mint, ts) {
            Ok(q) => q,
            Err(e) => {
                log::error!("Failed to get Querier for restoring alert state: {e}");
                for r in st.rules.iter_mut() {
                    if let Rule::Alerting(ar) = r {
                        ar.restored = true;
                    }
                }
                return;
            }
        };
        for r in st.rules.iter_mut() {
            let Rule::Alerting(ar) = r else { continue };
            let mut state = ForState::new();
            let matchers = [
                Matcher::equal(METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME),
                Matcher::equal(ALERT_NAME_LABEL, ar.name.clone()),
            ];
            match querier.select(false, None, &matchers) {
                Ok(set) => {
                    for series in set.flatten() {
                        let mut it = series.iterator();
                        let mut last = None;
                        while let Some((t, v)) = it.next() {
                            last = Some((t, v));
                        }
                        // A stale marker means the alert was not active any more.
                        if let Some((t, v)) = last.filter(|(_, v)| !crate::model::is_stale_nan(*v))
                        {
                            state.insert(series.labels().without_metric_name(), (t, v));
                        }
                    }
                }
                Err(e) => log::error!("Failed to restore 'for' state: rule {}: {e}", ar.name),
            }
            ar.restore_from = Some((
                state,
                RestoreOptions {
                    for_grace_period: self.opts.for_grace_period,
                },
                ts,
            ));
            ar.restore_evals_left = 2;
            ar.restored = true;
        }
    }

    /// Takes over the state of the group this one replaces on reload:
    /// rules matched by name and labels keep their alerts and series.
    pub(crate) fn copy_state(&self, from: &Group) {
        let from_st = from.lock();
        let mut st = self.lock();
        st.evaluation_seconds = from_st.evaluation_seconds;
        st.last_evaluation = from_st.last_evaluation;
        st.last_eval_timestamp = from_st.last_eval_timestamp;
        let mut by_id: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (fi, r) in from_st.rules.iter().enumerate() {
            by_id.entry(r.identity()).or_default().push(fi);
        }
        let GroupState {
            rules,
            series_in_previous_eval,
            stale_series,
            ..
        } = &mut *st;
        for (i, r) in rules.iter_mut().enumerate() {
            let Some(list) = by_id.get_mut(&r.identity()) else {
                continue;
            };
            if list.is_empty() {
                continue;
            }
            let fi = list.remove(0);
            if let (Some(slot), Some(prev)) = (
                series_in_previous_eval.get_mut(i),
                from_st.series_in_previous_eval.get(fi),
            ) {
                *slot = prev.clone();
            }
            if let (Rule::Alerting(ar), Some(Rule::Alerting(far))) = (r, from_st.rules.get(fi)) {
                ar.active = far.active.clone();
                ar.restored = far.restored;
            }
        }
        stale_series.extend(from_st.stale_series.iter().cloned());
        for list in by_id.values() {
            for &fi in list {
                if let Some(prev) = from_st.series_in_previous_eval.get(fi) {
                    stale_series.extend(prev.iter().cloned());
                }
            }
        }
    }

    /// Writes stale markers for everything this group wrote last (it is being removed).
    pub(crate) fn mark_stale(&self, ts: i64) {
        let st = self.lock();
        let mut app = self.opts.appendable.appender();
        for set in &st.series_in_previous_eval {
            for lset in set {
                let _ = app.append(0, lset, ts, stale_nan());
            }
        }
        if let Err(e) = app.commit() {
            log::warn!(
                "Stale sample appending for removed group {} failed: {e}",
                self.name
            );
        }
        drop(st);
        self.opts.metrics.forget(&self.key());
    }

    fn run_iteration(&self, ts: i64) {
        let key = self.key();
        let m = &self.opts.metrics;
        m.iterations.with(&[&key]).inc();
        let wall = now_millis();
        let start = Instant::now();
        self.eval(ts);
        let secs = start.elapsed().as_secs_f64();
        m.group_duration.observe(secs);
        let mut st = self.lock();
        st.evaluation_seconds = secs;
        st.last_evaluation = wall;
        st.last_eval_timestamp = ts;
        drop(st);
        m.last_duration.with(&[&key]).set(secs);
        m.last_eval_ts.with(&[&key]).set(ts as f64 / 1000.0);
    }

    /// The group's loop: evaluates on every slot until a message (or a
    /// disconnect) arrives on `stop`.
    pub(crate) fn run(&self, stop: &Receiver<()>) {
        let key = self.key();
        let m = &self.opts.metrics;
        // As upstream's `NewGroup`: every series of the group exists from the start.
        for c in [
            &m.evaluations,
            &m.eval_failures,
            &m.iterations,
            &m.iterations_missed,
        ] {
            c.with(&[&key]);
        }
        for g in [&m.last_duration, &m.last_eval_ts, &m.last_samples] {
            g.with(&[&key]);
        }
        m.interval.with(&[&key]).set(self.interval as f64 / 1000.0);
        m.rules.with(&[&key]).set(self.lock().rules.len() as f64);
        let interval = self.interval.max(1);
        let mut eval_ts = self.eval_timestamp(now_millis()) + interval;
        loop {
            let wait = (eval_ts - now_millis()).max(0) as u64;
            match stop.recv_timeout(Duration::from_millis(wait)) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            self.run_iteration(eval_ts);
            // Slots that passed while evaluating are skipped and counted.
            let now = now_millis();
            let missed = ((now - eval_ts) / interval - 1).max(0);
            if missed > 0 {
                m.iterations_missed.with(&[&key]).add(missed as f64);
                m.iterations.with(&[&key]).add(missed as f64);
            }
            eval_ts += (missed + 1) * interval;
        }
    }
}

/// The pending and firing alerts of each alerting rule of `group`.
pub fn active_alerts_of(group: &Group) -> Vec<(String, Vec<super::alerting::Alert>)> {
    let st = group.lock();
    st.rules
        .iter()
        .filter_map(|r| match r {
            Rule::Alerting(ar) => Some((
                ar.name.clone(),
                ar.active_alerts().into_iter().cloned().collect(),
            )),
            Rule::Recording(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::ast::Expr;
    use crate::promql::VectorSample;
    use crate::rules::RuleError;
    use crate::storage::memory::MemStorage;

    /// Answers `vector(1)`-like results after `delay`, to make a group slow.
    struct Slow {
        delay: Duration,
    }

    impl QueryFunc for Slow {
        fn query(&self, _: &Expr, t: i64) -> Result<Vec<VectorSample>, RuleError> {
            std::thread::sleep(self.delay);
            Ok(vec![VectorSample {
                labels: Labels::empty(),
                t,
                v: 1.0,
            }])
        }
    }

    fn group(interval: i64, delay: Duration) -> (Group, Arc<MemStorage>, &'static Registry) {
        let storage = Arc::new(MemStorage::new());
        let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
        let opts = Arc::new(GroupOptions {
            appendable: storage.clone(),
            queryable: storage.clone(),
            query_func: Arc::new(Slow { delay }),
            notify: None,
            resend_delay: 60_000,
            outage_tolerance: 3_600_000,
            for_grace_period: 600_000,
            default_query_offset: AtomicI64::new(0),
            metrics: Arc::new(RuleMetrics::new(registry)),
        });
        let expr = crate::promql::parse_expr("vector(1)").expect("valid expression");
        let rules = vec![
            Rule::Recording(RecordingRule::new(
                "one".into(),
                expr.clone(),
                Labels::empty(),
            )),
            Rule::Alerting(AlertingRule::new(
                "Always".into(),
                expr,
                0,
                0,
                Labels::empty(),
                Labels::empty(),
                Labels::empty(),
                String::new(),
                false,
            )),
        ];
        let source = rulefmt::RuleGroup {
            name: "g".into(),
            ..rulefmt::RuleGroup::default()
        };
        let g = Group::new(
            source,
            "f.yml".into(),
            interval,
            rules,
            true,
            (Labels::empty(), String::new()),
            opts,
        );
        (g, storage, registry)
    }

    fn samples(storage: &MemStorage, name: &str) -> Vec<(i64, f64)> {
        let Ok(q) = storage.querier(i64::MIN, i64::MAX) else {
            return Vec::new();
        };
        let Ok(set) = q.select(true, None, &[Matcher::equal(METRIC_NAME, name)]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in set.flatten() {
            let mut it = s.iterator();
            while let Some(p) = it.next() {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn slow_group_counts_missed_iterations_and_keeps_its_slots() {
        // Each evaluation takes longer than two intervals.
        let (g, storage, _) = group(40, Duration::from_millis(100));
        let g = Arc::new(g);
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        let runner = Arc::clone(&g);
        let t = std::thread::spawn(move || runner.run(&rx));
        let deadline = Instant::now() + Duration::from_secs(5);
        while samples(&storage, "one").len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(tx);
        let _ = t.join();
        let got = samples(&storage, "one");
        assert!(got.len() >= 3, "{got:?}");
        // Every evaluation ran on one of the group's slots (a slot has a
        // sub-millisecond part, hence the 1ms).
        for (ts, _) in &got {
            assert_eq!(
                g.eval_timestamp(*ts + 1),
                *ts,
                "{ts} is off the group's slots"
            );
        }
        let m = &g.opts.metrics;
        let key = g.key();
        let missed = m.iterations_missed.with(&[&key]).get();
        assert!(missed >= 1.0, "missed {missed}");
        let total = m.iterations.with(&[&key]).get();
        assert!(total >= got.len() as f64 + missed, "{total} {missed}");
        assert!(m.evaluations.with(&[&key]).get() >= 6.0);
        assert!(m.last_eval_ts.with(&[&key]).get() > 0.0);
        assert_eq!(m.rules.with(&[&key]).get(), 2.0);
    }

    #[test]
    fn first_evaluation_restores_and_times_it() {
        let (g, _, registry) = group(60_000, Duration::ZERO);
        g.eval(60_000);
        let text = registry.render();
        assert!(
            text.contains(
                "prometheus_rule_group_last_restore_duration_seconds{rule_group=\"f.yml;g\"}"
            ),
            "{text}"
        );
    }

    #[test]
    fn removed_group_marks_its_series_stale() {
        let (g, storage, _) = group(60_000, Duration::ZERO);
        g.eval(60_000);
        g.mark_stale(120_000);
        let one = samples(&storage, "one");
        assert_eq!(one.first(), Some(&(60_000, 1.0)));
        assert!(one
            .last()
            .is_some_and(|(t, v)| *t == 120_000 && crate::model::is_stale_nan(*v)));
        let alerts = samples(&storage, "ALERTS");
        assert!(alerts
            .last()
            .is_some_and(|(t, v)| *t == 120_000 && crate::model::is_stale_nan(*v)));
    }
}
