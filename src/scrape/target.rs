//! Targets, as upstream's `scrape/target.go`: turning discovered target
//! groups into scrape targets (`populate_labels`), the target's URL, its
//! stable hash and scrape offset, and the health the targets API reports.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::config::PoolConfig;
use super::relabel;
use crate::discovery::{TargetGroup, ADDRESS_LABEL};
use crate::model::duration::{format_duration, parse_duration};
use crate::model::{Labels, LabelsBuilder};

pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const INSTANCE_LABEL: &str = "instance";
pub const JOB_LABEL: &str = "job";

/// Target health, as the API prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of the last scrape, for the API.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
}

/// One scrape target: its labels before and after relabeling, its URL
/// parts and its last status.
#[derive(Debug)]
pub struct Target {
    /// Labels as discovered (group and target labels, defaults added).
    pub discovered_labels: Labels,
    /// Labels after relabeling, `__`-prefixed ones included (they carry the URL).
    pub labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
    hash: u64,
    /// The scrape URL, fixed with the labels (see `url`).
    url: String,
    status: Mutex<TargetStatus>,
}

impl Target {
    pub fn new(
        discovered_labels: Labels,
        labels: Labels,
        interval: Duration,
        timeout: Duration,
    ) -> Target {
        let hash = labels.stable_hash();
        let url = scrape_url(&labels, &[]);
        Target {
            discovered_labels,
            labels,
            interval,
            timeout,
            hash,
            url,
            status: Mutex::new(TargetStatus {
                health: Health::Unknown,
                last_error: String::new(),
                last_scrape: None,
                last_scrape_duration: Duration::ZERO,
            }),
        }
    }

    /// Identifies the target inside its pool (upstream dedupes on it).
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Identifies the target across a reload that changed only its
    /// interval or timeout: the label hash without those two labels.
    pub fn identity(&self) -> u64 {
        self.labels.hash_without_labels(&[
            SCRAPE_INTERVAL_LABEL.to_string(),
            SCRAPE_TIMEOUT_LABEL.to_string(),
        ])
    }

    /// The labels a scraped series gets: every label not starting with `__`.
    pub fn public_labels(&self) -> Labels {
        Labels::from_sorted(
            self.labels
                .iter()
                .filter(|l| !l.name.starts_with("__"))
                .cloned()
                .collect(),
        )
    }

    /// The target with its pool's `params`, which the URL carries along
    /// with the `__param_<name>` labels.
    pub fn with_params(mut self, params: &[(String, Vec<String>)]) -> Target {
        self.url = scrape_url(&self.labels, params);
        self
    }

    /// `scheme://address/path?params`: upstream's `Target.URL`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Milliseconds into each interval at which this target is scraped, so a
    /// pool's scrapes spread out and stay put across restarts (upstream's
    /// `offset`, from the target hash and a per-server seed).
    pub fn offset(&self, seed: u64) -> u64 {
        let interval = self.interval.as_millis().max(1) as u64;
        (self.hash ^ seed) % interval
    }

    pub fn status(&self) -> TargetStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn report(&self, error: Option<String>, start: SystemTime, duration: Duration) {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.health = if error.is_some() {
            Health::Down
        } else {
            Health::Up
        };
        st.last_error = error.unwrap_or_default();
        st.last_scrape = Some(start);
        st.last_scrape_duration = duration;
    }
}

/// Upstream's `Target.URL`: every value of the config's `params`, the
/// first of each replaced by its `__param_<name>` label (which may also add
/// parameters), encoded in key order as Go's `url.Values.Encode`.
fn scrape_url(labels: &Labels, params: &[(String, Vec<String>)]) -> String {
    let scheme = labels.get_or_empty(SCHEME_LABEL);
    let addr = labels.get_or_empty(ADDRESS_LABEL);
    let path = labels.get_or_empty(METRICS_PATH_LABEL);
    let mut values: BTreeMap<&str, Vec<&str>> = params
        .iter()
        .map(|(k, vs)| (k.as_str(), vs.iter().map(String::as_str).collect()))
        .collect();
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            let vs = values.entry(name).or_default();
            match vs.first_mut() {
                Some(first) => *first = &l.value,
                None => vs.push(&l.value),
            }
        }
    }
    let mut url = format!("{scheme}://{addr}{path}");
    let mut first = true;
    for (name, vs) in values {
        for v in vs {
            url.push(if first { '?' } else { '&' });
            first = false;
            url.push_str(&query_escape(name));
            url.push('=');
            url.push_str(&query_escape(v));
        }
    }
    url
}

/// Percent-encodes a query component as Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What became of one discovered target.
#[derive(Debug)]
pub enum Populated {
    /// A target to scrape.
    Active(Target),
    /// Relabeling dropped it; the discovered labels are kept for the API.
    Dropped(Labels),
}

/// Builds the targets of one group as upstream's `TargetsFromGroup` and
/// `PopulateLabels`: group labels under target labels, scrape defaults,
/// `relabel_configs`, the `instance` default. Errors name the target.
pub fn targets_from_group(group: &TargetGroup, cfg: &PoolConfig) -> Vec<Result<Populated, String>> {
    group
        .targets
        .iter()
        .map(|t| populate_labels(t, &group.labels, cfg))
        .collect()
}

fn populate_labels(target: &Labels, group: &Labels, cfg: &PoolConfig) -> Result<Populated, String> {
    let mut lb = LabelsBuilder::new();
    for l in group.iter() {
        lb.set(&l.name, &l.value);
    }
    for l in target.iter() {
        lb.set(&l.name, &l.value);
    }
    let defaults = [
        (JOB_LABEL, cfg.job_name.clone()),
        (
            SCRAPE_INTERVAL_LABEL,
            format_duration(cfg.scrape_interval.as_millis() as i64),
        ),
        (
            SCRAPE_TIMEOUT_LABEL,
            format_duration(cfg.scrape_timeout.as_millis() as i64),
        ),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.clone()),
    ];
    for (name, value) in defaults {
        if lb.get(name).is_none() {
            lb.set(name, &value);
        }
    }
    for (name, values) in &cfg.params {
        let label = format!("{PARAM_LABEL_PREFIX}{name}");
        if let (None, Some(v)) = (lb.get(&label), values.first()) {
            lb.set(&label, v);
        }
    }
    let discovered = lb.build();
    let Some(relabeled) = relabel::process(&discovered, &cfg.relabel_configs) else {
        return Ok(Populated::Dropped(discovered));
    };
    let mut lb = relabeled.builder();
    let addr = lb.get(ADDRESS_LABEL).unwrap_or("").to_string();
    if addr.is_empty() {
        return Err("no address".to_string());
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let interval = label_duration(&lb, SCRAPE_INTERVAL_LABEL, "scrape interval")?;
    let timeout = label_duration(&lb, SCRAPE_TIMEOUT_LABEL, "scrape timeout")?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".to_string());
    }
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".to_string());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            format_duration(timeout.as_millis() as i64),
            format_duration(interval.as_millis() as i64)
        ));
    }
    if lb.get(INSTANCE_LABEL).is_none() {
        lb.set(INSTANCE_LABEL, &addr);
    }
    // Discovery meta labels never reach the target; the other `__` labels
    // stay until the series are built because they carry the URL.
    lb.retain(|l| !l.name.starts_with("__meta_"));
    Ok(Populated::Active(
        Target::new(discovered, lb.build(), interval, timeout).with_params(&cfg.params),
    ))
}

fn label_duration(lb: &LabelsBuilder, label: &str, what: &str) -> Result<Duration, String> {
    let raw = lb.get(label).unwrap_or("");
    parse_duration(raw)
        .ok()
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .ok_or_else(|| format!("error parsing {what}: {raw:?} is not a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(addr: &str, extra: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            source: "0".into(),
            targets: vec![Labels::from_pairs(&[(ADDRESS_LABEL, addr)])],
            labels: Labels::from_pairs(extra),
        }
    }

    fn active(r: Result<Populated, String>) -> Target {
        match r {
            Ok(Populated::Active(t)) => t,
            other => panic!("expected an active target, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_url() {
        let mut cfg = PoolConfig::new("node");
        cfg.params = vec![("module".into(), vec!["a b".into(), "x".into()])];
        let t = active(
            targets_from_group(&group("h:9100", &[("__meta_x", "1"), ("env", "p")]), &cfg)
                .remove(0),
        );
        // Every value is sent; the first comes from `__param_module`.
        assert_eq!(t.url(), "http://h:9100/metrics?module=a+b&module=x");
        assert_eq!(
            t.public_labels(),
            Labels::from_pairs(&[("env", "p"), ("instance", "h:9100"), ("job", "node")])
        );
        assert_eq!(t.discovered_labels.get("__meta_x"), Some("1"));
        assert_eq!(t.discovered_labels.get("__scrape_interval__"), Some("1m"));
        assert!(t.offset(0) < 60_000);
    }

    #[test]
    fn target_label_overrides() {
        let cfg = PoolConfig::new("j");
        let g = group(
            "h:1",
            &[
                ("__scheme__", "https"),
                ("__metrics_path__", "/m"),
                ("instance", "me"),
                ("__param_a", "1"),
            ],
        );
        let t = active(targets_from_group(&g, &cfg).remove(0));
        assert_eq!(t.url(), "https://h:1/m?a=1");
        assert_eq!(t.public_labels().get("instance"), Some("me"));
        // A `__param_` label replaces the first configured value only.
        let mut cfg = PoolConfig::new("j");
        cfg.params = vec![
            ("b".into(), vec!["1".into(), "2".into()]),
            ("a".into(), vec!["x".into()]),
        ];
        let g = group("h:1", &[("__param_b", "9"), ("__param_c", "&")]);
        let t = active(targets_from_group(&g, &cfg).remove(0));
        assert_eq!(t.url(), "http://h:1/metrics?a=x&b=9&b=2&c=%26");
    }

    #[test]
    fn offset_is_stable_and_spread() {
        let cfg = PoolConfig::new("j");
        let offset = |addr: &str, seed: u64| {
            active(targets_from_group(&group(addr, &[]), &cfg).remove(0)).offset(seed)
        };
        // Same labels, same slot: a restart or a reload keeps the spread.
        assert_eq!(offset("h:1", 7), offset("h:1", 7));
        let offsets: std::collections::BTreeSet<u64> =
            (0..100).map(|i| offset(&format!("h:{i}"), 0)).collect();
        assert!(offsets.iter().all(|o| *o < 60_000));
        assert!(
            offsets.len() > 90,
            "100 targets share {} slots",
            offsets.len()
        );
        let spread = offsets.last().copied().unwrap_or(0) - offsets.first().copied().unwrap_or(0);
        assert!(spread > 30_000, "offsets bunch within {spread} ms");
        // Another server (seed) scrapes the same target at another moment.
        assert!((0..10).any(|i| offset(&format!("h:{i}"), 0) != offset(&format!("h:{i}"), 12345)));
    }

    #[test]
    fn invalid_targets_are_errors() {
        let cfg = PoolConfig::new("j");
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static str,
        );
        let cases: &[Case] = &[
            ("", &[], "no address"),
            (
                "h:1",
                &[("__scrape_interval__", "x")],
                "error parsing scrape interval",
            ),
            (
                "h:1",
                &[("__scrape_timeout__", "2m")],
                "scrape timeout cannot be greater",
            ),
            ("h/1", &[], "is not a valid hostname"),
        ];
        for (addr, labels, want) in cases {
            match targets_from_group(&group(addr, labels), &cfg).remove(0) {
                Err(e) => assert!(e.contains(want), "{e} does not contain {want}"),
                Ok(p) => panic!("{addr}: expected error {want}, got {p:?}"),
            }
        }
    }
}
