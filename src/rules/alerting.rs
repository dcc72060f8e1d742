//! Alerting rules, as upstream's `rules/alerting.go`: the alert state machine
//! (inactive → pending → firing, `for`, `keep_firing_for`, resolved alerts
//! kept for 15 minutes), templated labels and annotations, the `ALERTS` and
//! `ALERTS_FOR_STATE` series, and which alerts are due to be (re)sent.

use std::collections::HashMap;

use crate::model::labels::METRIC_NAME;
use crate::model::{Label, Labels};
use crate::promql::ast::Expr;
use crate::promql::VectorSample;
use crate::template::{self, Env, QuerySample};

use super::{QueryFunc, RuleError, RuleHealth};

/// Upstream's `resolvedRetention`: resolved alerts are kept (and re-sent) this long.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

pub const ALERT_METRIC_NAME: &str = "ALERTS";
pub const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";
pub const ALERT_NAME_LABEL: &str = "alertname";
pub const ALERT_STATE_LABEL: &str = "alertstate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule: a label set the rule's expression returned.
/// Times are milliseconds; 0 means unset.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub state: AlertState,
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: i64,
    pub resolved_at: i64,
    pub last_sent_at: i64,
    pub valid_until: i64,
    pub keep_firing_since: i64,
}

impl Alert {
    /// Upstream's `needsSending`.
    fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // A resolution since the last send must go out now.
        if self.resolved_at > self.last_sent_at || self.last_sent_at == 0 {
            return true;
        }
        self.last_sent_at + resend_delay < ts
    }
}

/// Where a restarted rule finds the `for` state it had: for each alert label
/// set (without `__name__`), the last `ALERTS_FOR_STATE` sample `(t, active_at_seconds)`.
pub type ForState = HashMap<Labels, (i64, f64)>;

/// How restored `for` state is applied (`--rules.alert.for-*` flags), in ms.
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions {
    pub for_grace_period: i64,
}

#[derive(Debug)]
pub struct AlertingRule {
    pub name: String,
    pub expr: Expr,
    pub hold_duration: i64,
    pub keep_firing_for: i64,
    pub labels: Labels,
    pub annotations: Labels,
    pub external_labels: Labels,
    pub external_url: String,
    /// Whether `for` state has been restored (or needs none); `ALERTS` is
    /// only written once it is, as upstream does.
    pub restored: bool,
    /// State found in storage at startup, applied to alerts as they appear.
    pub(crate) restore_from: Option<(ForState, RestoreOptions, i64)>,
    /// Evaluations left during which `restore_from` applies: the first two
    /// after startup, as data may still be arriving for the first.
    pub(crate) restore_evals_left: u8,
    pub active: HashMap<u64, Alert>,
    pub health: RuleHealth,
    pub last_error: Option<String>,
    pub last_evaluation: i64,
    pub evaluation_seconds: f64,
}

impl AlertingRule {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        expr: Expr,
        hold_duration: i64,
        keep_firing_for: i64,
        labels: Labels,
        annotations: Labels,
        external_labels: Labels,
        external_url: String,
        restored: bool,
    ) -> AlertingRule {
        AlertingRule {
            name,
            expr,
            hold_duration,
            keep_firing_for,
            labels,
            annotations,
            external_labels,
            external_url,
            restored,
            restore_from: None,
            restore_evals_left: 0,
            active: HashMap::new(),
            health: RuleHealth::Unknown,
            last_error: None,
            last_evaluation: 0,
            evaluation_seconds: 0.0,
        }
    }

    /// The highest state of any alert: the rule's state in `/api/v1/rules`.
    pub fn state(&self) -> AlertState {
        let mut s = AlertState::Inactive;
        for a in self.active.values() {
            match (a.state, s) {
                (AlertState::Firing, _) => return AlertState::Firing,
                (AlertState::Pending, _) => s = AlertState::Pending,
                _ => {}
            }
        }
        s
    }

    /// Alerts that are pending or firing, sorted by labels.
    pub fn active_alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .collect();
        v.sort_by(|a, b| super::cmp_labels(&a.labels, &b.labels));
        v
    }

    fn expand(&self, text: &str, data: &template::Value, ts: i64, query: &dyn QueryFunc) -> String {
        // Only templates that use `{{` need the template engine.
        if !text.contains("{{") {
            return text.to_string();
        }
        let qf = |q: &str, t: i64| -> Result<Vec<QuerySample>, String> {
            let expr = crate::promql::parse_expr(q).map_err(|e| e.to_string())?;
            let res = query.query(&expr, t).map_err(|e| e.to_string())?;
            Ok(res
                .into_iter()
                .map(|s| QuerySample {
                    labels: s.labels,
                    value: s.v,
                })
                .collect())
        };
        let env = Env {
            query: Some(&qf),
            external_url: &self.external_url,
            timestamp_ms: ts,
        };
        template::expand_alert_field(&self.name, text, data, &env)
    }

    /// Evaluates the rule at `ts` (the query runs at `ts - query_offset`),
    /// advances alert states and returns the `ALERTS`/`ALERTS_FOR_STATE` samples.
    pub fn eval(
        &mut self,
        ts: i64,
        query_offset: i64,
        query: &dyn QueryFunc,
        limit: usize,
    ) -> Result<Vec<VectorSample>, RuleError> {
        let qts = ts - query_offset;
        let res = query.query(&self.expr, qts)?;
        let mut current: HashMap<u64, Alert> = HashMap::with_capacity(res.len());
        for s in &res {
            let data = template::alert_template_data(
                &s.labels,
                &self.external_labels,
                &self.external_url,
                s.v,
            );
            let mut b = s.labels.builder();
            b.del(METRIC_NAME);
            for l in self.labels.iter() {
                // Templates (and their `query` calls) see the evaluation
                // time itself, not the offset query time, as upstream's.
                let v = self.expand(&l.value, &data, ts, query);
                b.set(&l.name, &v);
            }
            b.set(ALERT_NAME_LABEL, &self.name);
            let labels = b.build();
            let annotations = Labels::new(
                self.annotations
                    .iter()
                    .map(|a| Label::new(a.name.clone(), self.expand(&a.value, &data, ts, query)))
                    .collect(),
            );
            let h = labels.stable_hash();
            if current.contains_key(&h) {
                return Err(RuleError::Eval(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                ));
            }
            current.insert(
                h,
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: s.v,
                    active_at: ts,
                    fired_at: 0,
                    resolved_at: 0,
                    last_sent_at: 0,
                    valid_until: 0,
                    keep_firing_since: 0,
                },
            );
        }
        for (h, mut a) in current.iter().map(|(h, a)| (*h, a.clone())) {
            if let Some(existing) = self.active.get_mut(&h) {
                if existing.state != AlertState::Inactive {
                    existing.value = a.value;
                    existing.annotations = a.annotations;
                    continue;
                }
            }
            self.apply_restored_state(&mut a, ts);
            self.active.insert(h, a);
        }
        let mut out = Vec::new();
        let mut num_active = 0;
        let mut remove = Vec::new();
        let keys: Vec<u64> = self.active.keys().copied().collect();
        for h in keys {
            let Some(a) = self.active.get_mut(&h) else {
                continue;
            };
            if !current.contains_key(&h) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    if ts - a.keep_firing_since < self.keep_firing_for {
                        keep_firing = true;
                    }
                }
                // Resolved alerts stay for a while so a lost resolution can be re-sent.
                if a.state == AlertState::Pending
                    || (a.resolved_at != 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                {
                    remove.push(h);
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = ts;
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.hold_duration {
                a.state = AlertState::Firing;
                a.fired_at = ts;
            }
            if self.restored {
                out.push(alert_sample(a, qts));
                out.push(for_state_sample(a, qts));
            }
        }
        for h in remove {
            self.active.remove(&h);
        }
        if self.restore_from.is_some() {
            self.restore_evals_left = self.restore_evals_left.saturating_sub(1);
            if self.restore_evals_left == 0 {
                self.restore_from = None;
            }
        }
        if limit > 0 && num_active > limit {
            self.active.clear();
            return Err(RuleError::Eval(format!(
                "exceeded limit of {limit} with {num_active} alerts"
            )));
        }
        Ok(out)
    }

    /// Upstream's `RestoreForState` for one new alert, applied as the alert
    /// first appears after a restart so a firing alert fires again at once.
    fn apply_restored_state(&self, a: &mut Alert, ts: i64) {
        let Some((state, opts, restore_ts)) = &self.restore_from else {
            return;
        };
        let Some(&(down_at, active_secs)) = state.get(&a.labels) else {
            return;
        };
        if active_secs.is_nan() {
            return;
        }
        let restored_active_at = (active_secs as i64) * 1000;
        // Upstream works in whole seconds here.
        let down_at = (down_at / 1000) * 1000;
        let time_spent_pending = down_at - restored_active_at;
        let remaining = self.hold_duration - time_spent_pending;
        let active_at = if remaining <= 0 {
            // It was firing when we went down: keep its original start.
            restored_active_at
        } else if self.hold_duration < opts.for_grace_period {
            // Upstream skips restoring short `for`s: they simply wait again.
            return;
        } else if remaining < opts.for_grace_period {
            restore_ts + opts.for_grace_period - self.hold_duration
        } else {
            // Time spent down does not count as pending.
            restored_active_at + (restore_ts - down_at)
        };
        a.active_at = active_at.min(ts);
    }
}

fn alert_sample(a: &Alert, t: i64) -> VectorSample {
    let mut b = a.labels.builder();
    b.set(METRIC_NAME, ALERT_METRIC_NAME);
    b.set(ALERT_STATE_LABEL, a.state.as_str());
    VectorSample {
        labels: b.build(),
        t,
        v: 1.0,
    }
}

fn for_state_sample(a: &Alert, t: i64) -> VectorSample {
    let mut b = a.labels.builder();
    b.set(METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME);
    VectorSample {
        labels: b.build(),
        t,
        v: (a.active_at / 1000) as f64,
    }
}

/// Alerts of `rule` due at `ts`, marked sent; upstream's `sendAlerts`.
pub fn alerts_to_send(
    rule: &mut AlertingRule,
    ts: i64,
    resend_delay: i64,
    interval: i64,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for a in rule.active.values_mut() {
        if a.needs_sending(ts, resend_delay) {
            a.last_sent_at = ts;
            // Allow for two evaluation or Alertmanager send failures.
            let delta = resend_delay.max(interval);
            a.valid_until = ts + 4 * delta;
            out.push(a.clone());
        }
    }
    out.sort_by(|a, b| super::cmp_labels(&a.labels, &b.labels));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Returns whatever vector the test puts in.
    struct Fixed(Mutex<Vec<VectorSample>>);

    impl QueryFunc for Fixed {
        fn query(&self, _: &Expr, t: i64) -> Result<Vec<VectorSample>, RuleError> {
            let v = self.0.lock().map(|g| g.clone()).unwrap_or_default();
            Ok(v.into_iter()
                .map(|mut s| {
                    s.t = t;
                    s
                })
                .collect())
        }
    }

    fn rule(hold: i64, keep: i64) -> AlertingRule {
        AlertingRule::new(
            "HighLoad".into(),
            crate::promql::parse_expr("load > 1").expect("valid expression"),
            hold,
            keep,
            Labels::from_pairs(&[("severity", "page")]),
            Labels::from_pairs(&[("summary", "{{ $labels.instance }} at {{ $value }}")]),
            Labels::empty(),
            "http://prom".into(),
            true,
        )
    }

    fn vec_of(vals: &[(&str, f64)]) -> Vec<VectorSample> {
        vals.iter()
            .map(|(i, v)| VectorSample {
                labels: Labels::from_pairs(&[("__name__", "load"), ("instance", i)]),
                t: 0,
                v: *v,
            })
            .collect()
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let q = Fixed(Mutex::new(vec_of(&[("a", 2.0)])));
        let mut r = rule(60_000, 0);
        let out = r.eval(0, 0, &q, 0).unwrap_or_default();
        assert_eq!(r.state(), AlertState::Pending);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels.get("alertstate"), Some("pending"));
        assert_eq!(out[0].labels.get("severity"), Some("page"));
        let a = r.active_alerts()[0].clone();
        assert_eq!(a.annotations.get("summary"), Some("a at 2"));
        assert!(alerts_to_send(&mut r, 0, 60_000, 15_000).is_empty());
        let _ = r.eval(60_000, 0, &q, 0);
        assert_eq!(r.state(), AlertState::Firing);
        let sent = alerts_to_send(&mut r, 60_000, 60_000, 15_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].valid_until, 60_000 + 240_000);
        // Not again until the resend delay has passed.
        assert!(alerts_to_send(&mut r, 75_000, 60_000, 15_000).is_empty());
        if let Ok(mut g) = q.0.lock() {
            g.clear();
        }
        let out = r.eval(90_000, 0, &q, 0).unwrap_or_default();
        assert!(out.is_empty());
        assert_eq!(r.state(), AlertState::Inactive);
        let sent = alerts_to_send(&mut r, 90_000, 60_000, 15_000);
        assert_eq!(sent[0].resolved_at, 90_000);
        // Resolved alerts are forgotten after the retention.
        let _ = r.eval(90_000 + RESOLVED_RETENTION_MS + 1, 0, &q, 0);
        assert!(r.active.is_empty());
    }

    #[test]
    fn keep_firing_for_holds_the_alert() {
        let q = Fixed(Mutex::new(vec_of(&[("a", 2.0)])));
        let mut r = rule(0, 120_000);
        let _ = r.eval(0, 0, &q, 0);
        assert_eq!(r.state(), AlertState::Firing);
        if let Ok(mut g) = q.0.lock() {
            g.clear();
        }
        let _ = r.eval(60_000, 0, &q, 0);
        assert_eq!(r.state(), AlertState::Firing);
        let _ = r.eval(180_000, 0, &q, 0);
        assert_eq!(r.state(), AlertState::Inactive);
    }

    #[test]
    fn limit_and_duplicates() {
        let q = Fixed(Mutex::new(vec_of(&[("a", 2.0), ("b", 3.0)])));
        let mut r = rule(0, 0);
        let e = r.eval(0, 0, &q, 1).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("exceeded limit of 1 with 2 alerts"));
        r.labels = Labels::from_pairs(&[("instance", "same")]);
        let e = r.eval(0, 0, &q, 0).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("vector contains metrics with the same labelset after applying alert labels")
        );
    }

    #[test]
    fn restores_firing_alert_immediately() {
        let q = Fixed(Mutex::new(vec_of(&[("a", 2.0)])));
        let mut r = rule(600_000, 0);
        r.restored = false;
        let labels = Labels::from_pairs(&[
            ("alertname", "HighLoad"),
            ("instance", "a"),
            ("severity", "page"),
        ]);
        let mut st = ForState::new();
        // Active since t=1000s, last written at 2000s: firing (for is 600s).
        st.insert(labels, (2_000_000, 1000.0));
        r.restore_from = Some((
            st,
            RestoreOptions {
                for_grace_period: 600_000,
            },
            2_060_000,
        ));
        r.restored = true;
        let _ = r.eval(2_060_000, 0, &q, 0);
        assert_eq!(r.state(), AlertState::Firing);
        assert_eq!(r.active_alerts()[0].active_at, 1_000_000);
        // After the first two evaluations, old state no longer applies.
        let _ = r.eval(2_075_000, 0, &q, 0);
        assert!(r.restore_from.is_none());
    }

    /// Answers every query with one sample whose value is the query time.
    struct TimeEcho;

    impl QueryFunc for TimeEcho {
        fn query(&self, _: &Expr, t: i64) -> Result<Vec<VectorSample>, RuleError> {
            Ok(vec_of(&[("a", t as f64)]))
        }
    }

    #[test]
    fn templates_run_at_the_evaluation_time_not_the_query_offset() {
        let mut r = rule(0, 0);
        r.annotations = Labels::from_pairs(&[(
            "at",
            "{{ with query \"time()\" }}{{ . | first | value }}{{ end }}",
        )]);
        let _ = r.eval(100_000, 30_000, &TimeEcho, 0);
        let a = r.active_alerts()[0].clone();
        // The rule's own query ran at ts - offset; the template's at ts.
        assert_eq!(a.value, 70_000.0);
        assert_eq!(a.annotations.get("at"), Some("100000"));
    }

    fn restore_case(
        hold: i64,
        down_at: i64,
        active_secs: f64,
        restore_ts: i64,
    ) -> (AlertState, i64) {
        let q = Fixed(Mutex::new(vec_of(&[("a", 2.0)])));
        let mut r = rule(hold, 0);
        let labels = Labels::from_pairs(&[
            ("alertname", "HighLoad"),
            ("instance", "a"),
            ("severity", "page"),
        ]);
        let mut st = ForState::new();
        st.insert(labels, (down_at, active_secs));
        r.restore_from = Some((
            st,
            RestoreOptions {
                for_grace_period: 600_000,
            },
            restore_ts,
        ));
        let _ = r.eval(restore_ts, 0, &q, 0);
        (r.state(), r.active_alerts()[0].active_at)
    }

    #[test]
    fn restore_pending_alerts_as_upstream() {
        // Pending 10m of a 1h `for` when we went down at 2000s, back at 2600s:
        // the downtime does not count, 50m remain.
        let (state, active_at) = restore_case(3_600_000, 2_000_000, 1400.0, 2_600_000);
        assert_eq!(state, AlertState::Pending);
        assert_eq!(active_at, 1_400_000 + 600_000);
        // Only 5m left, less than the 10m grace period: it fires 10m from now.
        let (state, active_at) = restore_case(3_600_000, 2_000_000, 2000.0 - 3300.0, 2_600_000);
        assert_eq!(state, AlertState::Pending);
        assert_eq!(active_at, 2_600_000 + 600_000 - 3_600_000);
        // A `for` shorter than the grace period is not restored: it waits again.
        let (state, active_at) = restore_case(300_000, 2_000_000, 1900.0, 2_060_000);
        assert_eq!((state, active_at), (AlertState::Pending, 2_060_000));
        // But one that was already firing keeps firing.
        let (state, _) = restore_case(300_000, 2_000_000, 1000.0, 2_060_000);
        assert_eq!(state, AlertState::Firing);
    }
}
