//! Sending alerts to Alertmanager, as upstream's `notifier` package: a
//! bounded queue (oldest alerts dropped and counted when full), external
//! labels and `alert_relabel_configs` applied on enqueue, and one sender
//! thread that posts batches of at most 64 alerts as JSON to every
//! Alertmanager's `/api/v2/alerts`.
//!
//! The notifier does not discover Alertmanagers itself: whoever owns the
//! config (static configs, or notify discovery) calls `set_alertmanagers`.
//! It never blocks the rule manager: `send` only takes the queue lock.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value as Json};

use crate::model::relabel::{process, RelabelConfig};
use crate::model::Labels;
use crate::telemetry::{self, Counter, CounterVec, Gauge, Registry, SummaryVec};
use crate::template::funcs::format_go_layout;

pub mod config;

/// Upstream's `maxBatchSize`.
pub const MAX_BATCH_SIZE: usize = 64;

/// How long `run` keeps sending queued alerts after `stop`, by default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// One alert as sent to Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    /// Milliseconds since the epoch; 0 means unset.
    pub starts_at: i64,
    /// Milliseconds since the epoch; 0 means unset.
    pub ends_at: i64,
    pub generator_url: String,
}

impl Alert {
    /// The alert's name (`alertname` label).
    pub fn name(&self) -> &str {
        self.labels.get_or_empty("alertname")
    }

    /// Whether the alert has been resolved at time `now` (ms).
    pub fn resolved_at(&self, now: i64) -> bool {
        self.ends_at != 0 && self.ends_at <= now
    }
}

/// Alertmanager's v2 time format: RFC 3339 with milliseconds, UTC.
pub fn format_am_time(ms: i64) -> String {
    format_go_layout(
        ms.saturating_mul(1_000_000),
        "2006-01-02T15:04:05.000Z07:00",
    )
}

fn labels_json(l: &Labels) -> Json {
    let mut m = Map::new();
    for label in l.iter() {
        m.insert(label.name.clone(), Json::String(label.value.clone()));
    }
    Json::Object(m)
}

/// The JSON body of `POST /api/v2/alerts` for `alerts`.
pub fn alerts_to_json(alerts: &[Alert]) -> Json {
    Json::Array(
        alerts
            .iter()
            .map(|a| {
                let mut o = Map::new();
                o.insert("labels".into(), labels_json(&a.labels));
                o.insert("annotations".into(), labels_json(&a.annotations));
                if a.starts_at != 0 {
                    o.insert("startsAt".into(), Json::String(format_am_time(a.starts_at)));
                }
                if a.ends_at != 0 {
                    o.insert("endsAt".into(), Json::String(format_am_time(a.ends_at)));
                }
                o.insert("generatorURL".into(), Json::String(a.generator_url.clone()));
                Json::Object(o)
            })
            .collect(),
    )
}

/// How to authenticate to the Alertmanagers of one set.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Auth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    /// `Authorization: <type> <credentials>` (bearer tokens are `Bearer`).
    Authorization {
        kind: String,
        credentials: String,
    },
}

/// Alertmanagers sharing one `alertmanagers` config block.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerSet {
    /// Full URLs of `/api/v2/alerts` endpoints.
    pub urls: Vec<String>,
    /// URLs of discovered targets the block's `relabel_configs` dropped
    /// (`droppedAlertmanagers` of `/api/v1/alertmanagers`).
    pub dropped_urls: Vec<String>,
    pub timeout: Duration,
    pub auth: Auth,
    /// The block's own `alert_relabel_configs`, applied to what this set gets.
    pub alert_relabel: Vec<RelabelConfig>,
    /// `tls_config.insecure_skip_verify`.
    pub insecure_skip_verify: bool,
    /// `http_headers`, resolved (files read) when the set was built.
    pub headers: Vec<(String, String)>,
}

impl AlertmanagerSet {
    pub fn new(urls: Vec<String>) -> AlertmanagerSet {
        AlertmanagerSet {
            urls,
            dropped_urls: Vec::new(),
            timeout: Duration::from_secs(10),
            auth: Auth::None,
            alert_relabel: Vec::new(),
            insecure_skip_verify: false,
            headers: Vec::new(),
        }
    }
}

/// The alerts URL of one Alertmanager, as upstream builds it from
/// `scheme`, the target's address and `path_prefix`.
pub fn alertmanager_url(scheme: &str, address: &str, path_prefix: &str) -> String {
    let prefix = path_prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() || prefix.starts_with('/') {
        prefix.to_string()
    } else {
        format!("/{prefix}")
    };
    format!("{scheme}://{address}{prefix}/api/v2/alerts")
}

/// Relabels one alert's labels; `None` drops the alert.
pub type AlertRelabel = dyn Fn(&Labels) -> Option<Labels> + Send + Sync;

/// Settings of a `NotifierManager`.
pub struct NotifierOptions {
    /// `--alertmanager.notification-queue-capacity`.
    pub queue_capacity: usize,
    /// `global.external_labels`; added to alerts that lack them.
    pub external_labels: Labels,
    /// `alerting.alert_relabel_configs`, applied after external labels.
    pub relabel: Option<Box<AlertRelabel>>,
    /// Registry for the notifier's own metrics.
    pub registry: &'static Registry,
    /// How long `run` keeps sending after `stop` before dropping the rest.
    pub drain_timeout: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: 10_000,
            external_labels: Labels::empty(),
            relabel: None,
            registry: telemetry::global(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// Why a notifier operation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum NotifierError {
    /// Posting to one Alertmanager failed.
    Send { url: String, reason: String },
    /// An `alertmanagers` block asks for something promlite cannot do.
    Config(String),
}

impl fmt::Display for NotifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifierError::Send { url, reason } => {
                write!(f, "error sending alerts to Alertmanager {url}: {reason}")
            }
            NotifierError::Config(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for NotifierError {}

struct Metrics {
    sent: CounterVec,
    errors: CounterVec,
    latency: SummaryVec,
    dropped: Counter,
    queue_length: Gauge,
    discovered: Gauge,
}

struct State {
    queue: VecDeque<Alert>,
    sets: Vec<AlertmanagerSet>,
    external_labels: Labels,
}

/// The notifier: `send` enqueues, `run` (on its own thread) delivers.
pub struct NotifierManager {
    state: Mutex<State>,
    more: Condvar,
    stopping: AtomicBool,
    capacity: usize,
    drain_timeout: Duration,
    relabel: Mutex<Option<Box<AlertRelabel>>>,
    metrics: Metrics,
}

impl NotifierManager {
    pub fn new(opts: NotifierOptions) -> Arc<NotifierManager> {
        let r = opts.registry;
        let capacity = opts.queue_capacity.max(1);
        let metrics = Metrics {
            sent: r.counter_vec(
                "prometheus_notifications_sent_total",
                "Total number of alerts sent.",
                &["alertmanager"],
            ),
            errors: r.counter_vec(
                "prometheus_notifications_errors_total",
                "Total number of sent alerts affected by errors.",
                &["alertmanager"],
            ),
            latency: r.summary_vec(
                "prometheus_notifications_latency_seconds",
                "Latency quantiles for sending alert notifications.",
                &["alertmanager"],
                telemetry::LATENCY_OBJECTIVES,
            ),
            dropped: r.counter(
                "prometheus_notifications_dropped_total",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
            ),
            queue_length: r.gauge(
                "prometheus_notifications_queue_length",
                "The number of alert notifications in the queue.",
            ),
            discovered: r.gauge(
                "prometheus_notifications_alertmanagers_discovered",
                "The number of alertmanagers discovered and active.",
            ),
        };
        r.gauge(
            "prometheus_notifications_queue_capacity",
            "The capacity of the alert notifications queue.",
        )
        .set(capacity as f64);
        Arc::new(NotifierManager {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                sets: Vec::new(),
                external_labels: opts.external_labels,
            }),
            more: Condvar::new(),
            stopping: AtomicBool::new(false),
            capacity,
            drain_timeout: opts.drain_timeout,
            relabel: Mutex::new(opts.relabel),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a reloaded config: external labels and alert relabeling.
    pub fn apply_config(&self, external_labels: Labels, relabel: Option<Box<AlertRelabel>>) {
        self.lock().external_labels = external_labels;
        *self.relabel.lock().unwrap_or_else(|p| p.into_inner()) = relabel;
    }

    /// Replaces the Alertmanagers alerts are sent to.
    pub fn set_alertmanagers(&self, sets: Vec<AlertmanagerSet>) {
        let n: usize = sets.iter().map(|s| s.urls.len()).sum();
        self.metrics.discovered.set(n as f64);
        self.lock().sets = sets;
    }

    /// Number of Alertmanagers currently configured.
    pub fn num_alertmanagers(&self) -> usize {
        self.lock().sets.iter().map(|s| s.urls.len()).sum()
    }

    /// The data of `/api/v1/alertmanagers`.
    pub fn alertmanagers_json(&self) -> Json {
        let st = self.lock();
        let list = |urls: &mut dyn Iterator<Item = &String>| -> Vec<Json> {
            urls.map(|u| json!({ "url": u })).collect()
        };
        let active = list(&mut st.sets.iter().flat_map(|s| s.urls.iter()));
        let dropped = list(&mut st.sets.iter().flat_map(|s| s.dropped_urls.iter()));
        json!({ "activeAlertmanagers": active, "droppedAlertmanagers": dropped })
    }

    pub fn queue_len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Enqueues alerts; never blocks on the network.
    pub fn send(&self, alerts: Vec<Alert>) {
        let relabel = self.relabel.lock().unwrap_or_else(|p| p.into_inner());
        let mut st = self.lock();
        let ext = st.external_labels.clone();
        let mut prepared: Vec<Alert> = Vec::with_capacity(alerts.len());
        for mut a in alerts {
            if !ext.is_empty() {
                let mut b = a.labels.builder();
                for l in ext.iter() {
                    if b.get(&l.name).is_none() {
                        b.set(&l.name, &l.value);
                    }
                }
                a.labels = b.build();
            }
            if let Some(r) = relabel.as_ref() {
                match r(&a.labels) {
                    Some(l) if !l.is_empty() => a.labels = l,
                    _ => continue,
                }
            }
            prepared.push(a);
        }
        drop(relabel);
        // More alerts than fit at all: keep the newest.
        if prepared.len() > self.capacity {
            let excess = prepared.len() - self.capacity;
            prepared.drain(..excess);
            self.metrics.dropped.add(excess as f64);
        }
        let overflow = (st.queue.len() + prepared.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            st.queue.drain(..overflow);
            self.metrics.dropped.add(overflow as f64);
        }
        st.queue.extend(prepared);
        self.metrics.queue_length.set(st.queue.len() as f64);
        drop(st);
        self.more.notify_one();
    }

    /// The sender loop; returns after `stop`, having tried to deliver what was queued.
    pub fn run(&self) {
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let (batch, sets) = {
                let mut st = self.lock();
                if self.stopping.load(Ordering::SeqCst) {
                    // Shutdown must not wait on a dead Alertmanager for long:
                    // what is not out by the deadline is dropped and counted.
                    let deadline =
                        *drain_deadline.get_or_insert_with(|| Instant::now() + self.drain_timeout);
                    if Instant::now() >= deadline && !st.queue.is_empty() {
                        self.metrics.dropped.add(st.queue.len() as f64);
                        log::warn!(
                            "Dropping {} alerts not sent before shutdown",
                            st.queue.len()
                        );
                        st.queue.clear();
                        self.metrics.queue_length.set(0.0);
                    }
                }
                while st.queue.is_empty() && !self.stopping.load(Ordering::SeqCst) {
                    st = self
                        .more
                        .wait_timeout(st, Duration::from_millis(500))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                if st.queue.is_empty() {
                    return;
                }
                let n = st.queue.len().min(MAX_BATCH_SIZE);
                let batch: Vec<Alert> = st.queue.drain(..n).collect();
                self.metrics.queue_length.set(st.queue.len() as f64);
                (batch, st.sets.clone())
            };
            if !self.send_all(&batch, &sets) {
                log::warn!(
                    "Error sending alerts: an Alertmanager set accepted none of {} alerts",
                    batch.len()
                );
            }
        }
    }

    /// Asks `run` to return once the queue is drained.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.more.notify_all();
    }

    /// Posts `alerts` to every Alertmanager. As upstream's `sendAll`, the
    /// batch counts as delivered only if every set that had something to
    /// send got it into at least one of its Alertmanagers; otherwise the
    /// batch is counted as dropped.
    fn send_all(&self, alerts: &[Alert], sets: &[AlertmanagerSet]) -> bool {
        let mut all_covered = true;
        let mut shared_body: Option<String> = None;
        for set in sets {
            if set.urls.is_empty() {
                continue;
            }
            let relabeled;
            let (set_alerts, body) = if set.alert_relabel.is_empty() {
                let body = shared_body
                    .get_or_insert_with(|| alerts_to_json(alerts).to_string())
                    .clone();
                (alerts, body)
            } else {
                relabeled = relabel_for_set(alerts, &set.alert_relabel);
                if relabeled.is_empty() {
                    continue;
                }
                let body = alerts_to_json(&relabeled).to_string();
                (relabeled.as_slice(), body)
            };
            let mut covered = false;
            for url in &set.urls {
                let start = Instant::now();
                match post_alerts(url, set, &body) {
                    Ok(()) => covered = true,
                    Err(e) => {
                        log::error!("{e} (count {})", set_alerts.len());
                        self.metrics
                            .errors
                            .with(&[url])
                            .add(set_alerts.len() as f64);
                    }
                }
                self.metrics
                    .latency
                    .with(&[url])
                    .observe(start.elapsed().as_secs_f64());
                self.metrics.sent.with(&[url]).add(set_alerts.len() as f64);
            }
            all_covered &= covered;
        }
        if !all_covered {
            self.metrics.dropped.add(alerts.len() as f64);
        }
        all_covered
    }
}

/// Applies one set's `alert_relabel_configs`; alerts relabeled to nothing are left out.
fn relabel_for_set(alerts: &[Alert], cfgs: &[RelabelConfig]) -> Vec<Alert> {
    alerts
        .iter()
        .filter_map(|a| {
            let labels = process(&a.labels, cfgs).filter(|l| !l.is_empty())?;
            Some(Alert {
                labels,
                ..a.clone()
            })
        })
        .collect()
}

fn post_alerts(url: &str, set: &AlertmanagerSet, body: &str) -> Result<(), NotifierError> {
    let err = |reason: String| NotifierError::Send {
        url: url.to_string(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(set.timeout))
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(set.insecure_skip_verify)
                .build(),
        )
        .build()
        .into();
    let mut req = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header(
            "User-Agent",
            concat!("promlite/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &set.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    match &set.auth {
        Auth::None => {}
        Auth::Basic { username, password } => {
            req = req.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64(format!("{username}:{password}").as_bytes())
                ),
            );
        }
        Auth::Authorization { kind, credentials } => {
            req = req.header("Authorization", format!("{kind} {credentials}"));
        }
    }
    let resp = req.send(body).map_err(|e| err(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(err(format!("bad response status {status}")));
    }
    Ok(())
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str) -> Alert {
        Alert {
            labels: Labels::from_pairs(&[("alertname", name)]),
            annotations: Labels::empty(),
            starts_at: 1_435_065_584_128,
            ends_at: 0,
            generator_url: String::new(),
        }
    }

    fn manager(cap: usize) -> Arc<NotifierManager> {
        NotifierManager::new(NotifierOptions {
            queue_capacity: cap,
            external_labels: Labels::from_pairs(&[("dc", "eu"), ("alertname", "ignored")]),
            relabel: Some(Box::new(|l: &Labels| {
                if l.get_or_empty("alertname") == "drop" {
                    None
                } else {
                    Some(l.clone())
                }
            })),
            registry: Box::leak(Box::new(Registry::new())),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        })
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let m = manager(3);
        m.send(vec![alert("a"), alert("b")]);
        m.send(vec![alert("c"), alert("d"), alert("drop")]);
        let names: Vec<String> = m
            .lock()
            .queue
            .iter()
            .map(|a| a.name().to_string())
            .collect();
        assert_eq!(names, vec!["b", "c", "d"]);
        assert_eq!(m.metrics.dropped.get(), 1.0);
        m.send((0..5).map(|i| alert(&format!("x{i}"))).collect());
        let names: Vec<String> = m
            .lock()
            .queue
            .iter()
            .map(|a| a.name().to_string())
            .collect();
        assert_eq!(names, vec!["x2", "x3", "x4"]);
    }

    #[test]
    fn stop_drops_what_cannot_be_sent_in_time() {
        let r: &'static Registry = Box::leak(Box::new(Registry::new()));
        let m = NotifierManager::new(NotifierOptions {
            queue_capacity: 100,
            registry: r,
            drain_timeout: Duration::ZERO,
            ..NotifierOptions::default()
        });
        // An address nothing can answer on: the drain deadline must end `run`.
        m.set_alertmanagers(vec![AlertmanagerSet::new(vec![
            "http://127.0.0.1:9/api/v2/alerts".into(),
        ])]);
        m.send((0..10).map(|i| alert(&format!("a{i}"))).collect());
        m.stop();
        m.run();
        assert_eq!(m.queue_len(), 0);
        assert_eq!(m.metrics.dropped.get(), 10.0);
    }

    #[test]
    fn external_labels_do_not_override() {
        let m = manager(10);
        m.send(vec![alert("a")]);
        let q = m.lock().queue.clone();
        assert_eq!(
            q[0].labels,
            Labels::from_pairs(&[("alertname", "a"), ("dc", "eu")])
        );
    }

    #[test]
    fn json_and_urls() {
        let mut a = alert("a");
        a.ends_at = a.starts_at + 1000;
        let j = alerts_to_json(&[a]);
        assert_eq!(j[0]["startsAt"], "2015-06-23T13:19:44.128Z");
        assert_eq!(j[0]["endsAt"], "2015-06-23T13:19:45.128Z");
        assert_eq!(j[0]["labels"]["alertname"], "a");
        assert_eq!(
            alertmanager_url("http", "am:9093", "prefix/"),
            "http://am:9093/prefix/api/v2/alerts"
        );
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }
}
