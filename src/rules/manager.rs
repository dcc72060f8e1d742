//! The rule manager, as upstream's `rules/manager.go`: loads rule files into
//! groups, runs one thread per group, and on `update` keeps unchanged groups
//! running, carries the state of matching rules into changed groups, starts
//! new groups and stops (and marks stale) removed ones.
//!
//! It is an actor for the run group: `run` blocks until `stop`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};

use crate::model::value::now_millis;
use crate::model::{Label, Labels};
use crate::notifier::{self, NotifierManager};
use crate::storage::{Appendable, Queryable};
use crate::telemetry::{self, Registry};
use crate::template::funcs::query_escape;

use super::alerting::{Alert, AlertingRule};
use super::group::{Group, GroupOptions, NotifyFunc, Rule, RuleMetrics};
use super::recording::RecordingRule;
use super::rulefmt::{self, ParseOptions};
use super::{check_expr, QueryFunc, RuleError};

/// Settings of a `RuleManager` (upstream's `ManagerOptions`).
pub struct ManagerOptions {
    pub appendable: Arc<dyn Appendable>,
    pub queryable: Arc<dyn Queryable>,
    pub query_func: Arc<dyn QueryFunc>,
    /// Where alerts go; see `notify_func`.
    pub notify: Option<NotifyFunc>,
    /// `--web.external-url`, for templates.
    pub external_url: String,
    /// `--rules.alert.resend-delay` (default 1m).
    pub resend_delay: Duration,
    /// `--rules.alert.for-outage-tolerance` (default 1h).
    pub outage_tolerance: Duration,
    /// `--rules.alert.for-grace-period` (default 10m).
    pub for_grace_period: Duration,
    /// `global.rule_query_offset` (default 0).
    pub default_query_offset: Duration,
    pub registry: &'static Registry,
}

impl ManagerOptions {
    /// Options with upstream's defaults and no notifier.
    pub fn new(
        appendable: Arc<dyn Appendable>,
        queryable: Arc<dyn Queryable>,
        query_func: Arc<dyn QueryFunc>,
    ) -> ManagerOptions {
        ManagerOptions {
            appendable,
            queryable,
            query_func,
            notify: None,
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            default_query_offset: Duration::ZERO,
            registry: telemetry::global(),
        }
    }
}

/// Upstream's `sendAlerts` from `main.go`: turns rule alerts into notifier
/// alerts (`startsAt` = fired, `endsAt` = resolved or valid-until,
/// `generatorURL` = the expression's table link under the external URL).
pub fn notify_func(n: Arc<NotifierManager>, external_url: String) -> NotifyFunc {
    Arc::new(move |expr: &str, alerts: Vec<Alert>| {
        let out: Vec<notifier::Alert> = alerts
            .into_iter()
            .map(|a| notifier::Alert {
                starts_at: a.fired_at,
                ends_at: if a.resolved_at != 0 {
                    a.resolved_at
                } else {
                    a.valid_until
                },
                generator_url: format!(
                    "{external_url}/graph?g0.expr={}&g0.tab=1",
                    query_escape(expr)
                ),
                labels: a.labels,
                annotations: a.annotations,
            })
            .collect();
        if !out.is_empty() {
            n.send(out);
        }
    })
}

struct GroupHandle {
    group: Arc<Group>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupHandle {
    fn start(&mut self) {
        if self.thread.is_some() {
            return;
        }
        let (tx, rx) = bounded::<()>(1);
        let g = Arc::clone(&self.group);
        let name = format!("rule-group-{}", self.group.name);
        match std::thread::Builder::new()
            .name(name)
            .spawn(move || g.run(&rx))
        {
            Ok(t) => {
                self.stop = Some(tx);
                self.thread = Some(t);
            }
            Err(e) => log::error!("Cannot start rule group {}: {e}", self.group.name),
        }
    }

    fn stop(&mut self) {
        // Dropping the sender wakes the group's wait at once.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Default)]
struct Inner {
    groups: BTreeMap<String, GroupHandle>,
    running: bool,
    stopped: bool,
    /// Set after the first successful load; later loads need no restore.
    loaded_once: bool,
}

/// Evaluates rule groups on their intervals.
pub struct RuleManager {
    opts: Arc<GroupOptions>,
    external_url: String,
    inner: Mutex<Inner>,
    done: Condvar,
}

impl RuleManager {
    pub fn new(o: ManagerOptions) -> Arc<RuleManager> {
        let ms = |d: Duration| d.as_millis() as i64;
        Arc::new(RuleManager {
            opts: Arc::new(GroupOptions {
                appendable: o.appendable,
                queryable: o.queryable,
                query_func: o.query_func,
                notify: o.notify,
                resend_delay: ms(o.resend_delay),
                outage_tolerance: ms(o.outage_tolerance),
                for_grace_period: ms(o.for_grace_period),
                default_query_offset: AtomicI64::new(ms(o.default_query_offset)),
                metrics: Arc::new(RuleMetrics::new(o.registry)),
            }),
            external_url: o.external_url,
            inner: Mutex::new(Inner::default()),
            done: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds the groups of `files` without starting them (also used by
    /// `promlite-tool test rules`). `interval` is the global evaluation interval (ms).
    pub fn load_groups(
        &self,
        interval: i64,
        external_labels: &Labels,
        files: &[String],
    ) -> Result<Vec<Group>, RuleError> {
        self.load_groups_with(interval, external_labels, files, false)
    }

    /// `load_groups`, optionally accepting keys upstream does not know.
    pub fn load_groups_with(
        &self,
        interval: i64,
        external_labels: &Labels,
        files: &[String],
        ignore_unknown_fields: bool,
    ) -> Result<Vec<Group>, RuleError> {
        let should_restore = !self.lock().loaded_once;
        load_groups(
            &self.opts,
            interval,
            external_labels,
            &self.external_url,
            files,
            should_restore,
            ignore_unknown_fields,
        )
    }

    /// Applies a new set of rule files (upstream's `Manager.Update`). On a
    /// load error nothing changes and the previous rule set keeps running.
    pub fn update(
        &self,
        interval: i64,
        files: &[String],
        external_labels: &Labels,
    ) -> Result<(), RuleError> {
        let groups = self.load_groups(interval, external_labels, files)?;
        let mut inner = self.lock();
        inner.loaded_once = true;
        let mut old = std::mem::take(&mut inner.groups);
        let mut next = BTreeMap::new();
        for g in groups {
            let key = g.key();
            match old.remove(&key) {
                Some(h)
                    if h.group.source == g.source
                        && h.group.interval == g.interval
                        && h.group.context == g.context =>
                {
                    next.insert(key, h);
                }
                Some(mut h) => {
                    h.stop();
                    g.copy_state(&h.group);
                    next.insert(key, new_handle(g));
                }
                None => {
                    next.insert(key, new_handle(g));
                }
            }
        }
        let now = now_millis();
        for (_, mut h) in old {
            h.stop();
            h.group.mark_stale(now);
        }
        if inner.running {
            for h in next.values_mut() {
                h.start();
            }
        }
        inner.groups = next;
        Ok(())
    }

    /// The reloader for a whole config (upstream's rule part of `main.go`):
    /// expands the `rule_files` globs and applies the global evaluation
    /// interval, rule query offset and external labels.
    pub fn apply_config(&self, cfg: &crate::config::Config) -> Result<(), RuleError> {
        let mut files = Vec::new();
        for pat in &cfg.rule_files {
            files.extend(
                crate::config::glob::glob(pat)
                    .into_iter()
                    .map(|p| p.to_string_lossy().to_string()),
            );
        }
        self.opts
            .default_query_offset
            .store(cfg.global.rule_query_offset.as_millis(), Ordering::Relaxed);
        self.update(
            cfg.global.evaluation_interval.as_millis(),
            &files,
            &cfg.global.external_labels(),
        )
    }

    /// Starts evaluating and blocks until `stop` (the run-group actor body).
    pub fn run(&self) {
        let mut inner = self.lock();
        if inner.stopped {
            return;
        }
        inner.running = true;
        for h in inner.groups.values_mut() {
            h.start();
        }
        while !inner.stopped {
            inner = self.done.wait(inner).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Stops every group (waiting for a running evaluation) and ends `run`.
    pub fn stop(&self) {
        let mut inner = self.lock();
        inner.stopped = true;
        inner.running = false;
        for h in inner.groups.values_mut() {
            h.stop();
        }
        drop(inner);
        self.done.notify_all();
    }

    /// The current groups, sorted by file then name, as upstream lists them.
    pub fn rule_groups(&self) -> Vec<Arc<Group>> {
        let mut v: Vec<Arc<Group>> = self
            .lock()
            .groups
            .values()
            .map(|h| Arc::clone(&h.group))
            .collect();
        v.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
        v
    }
}

fn new_handle(g: Group) -> GroupHandle {
    GroupHandle {
        group: Arc::new(g),
        stop: None,
        thread: None,
    }
}

/// Parses rule files into groups (upstream's `LoadGroups`).
pub(crate) fn load_groups(
    opts: &Arc<GroupOptions>,
    interval: i64,
    external_labels: &Labels,
    external_url: &str,
    files: &[String],
    should_restore: bool,
    ignore_unknown_fields: bool,
) -> Result<Vec<Group>, RuleError> {
    let popts = ParseOptions {
        ignore_unknown_fields,
        legacy_names: false,
        parse_expr: Some(&check_expr),
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let rgs = match rulefmt::parse_file(file, &popts) {
            Ok(r) => r,
            Err(errs) => {
                errors.extend(errs.into_iter().map(|e| e.0));
                continue;
            }
        };
        for rg in rgs.groups {
            let itv = rg.interval.filter(|i| *i > 0).unwrap_or(interval);
            let mut rules = Vec::with_capacity(rg.rules.len());
            for r in &rg.rules {
                let expr = match crate::promql::parse_expr(&r.expr) {
                    Ok(e) => e,
                    Err(e) => {
                        errors.push(format!("{file}: {}: {e}", r.name()));
                        continue;
                    }
                };
                // Group labels apply to every rule; the rule's own win.
                let mut labels: BTreeMap<String, String> = rg.labels.clone();
                labels.extend(r.labels.clone());
                let labels = to_labels(&labels);
                if r.alert.is_empty() {
                    rules.push(Rule::Recording(RecordingRule::new(
                        r.record.clone(),
                        expr,
                        labels,
                    )));
                } else {
                    rules.push(Rule::Alerting(AlertingRule::new(
                        r.alert.clone(),
                        expr,
                        r.for_,
                        r.keep_firing_for,
                        labels,
                        to_labels(&r.annotations),
                        external_labels.clone(),
                        external_url.to_string(),
                        !should_restore,
                    )));
                }
            }
            out.push(Group::new(
                rg,
                file.clone(),
                itv,
                rules,
                should_restore,
                (external_labels.clone(), external_url.to_string()),
                Arc::clone(opts),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(RuleError::Load(errors));
    }
    Ok(out)
}

fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::new(
        m.iter()
            .map(|(k, v)| Label::new(k.clone(), v.clone()))
            .collect(),
    )
}
