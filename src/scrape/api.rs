//! The JSON of `/api/v1/targets` and `/api/v1/targets/metadata` (the `data`
//! part of upstream's envelope), computed from a `ScrapeManager`. The web
//! layer parses the query parameters and wraps the result.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::manager::ScrapeManager;
use super::target::Target;
use crate::model::civil::civil_from_days;
use crate::model::duration::format_duration;
use crate::model::{Labels, Matcher};
use crate::storage::matches_all;

/// Which targets `/api/v1/targets?state=` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetState {
    Active,
    Dropped,
    Any,
    /// A value upstream does not know: it answers both lists empty.
    Unknown,
}

impl TargetState {
    /// Parses the `state` parameter as upstream (case-insensitive): empty or
    /// `any` is both lists.
    pub fn parse(s: &str) -> TargetState {
        match s.to_ascii_lowercase().as_str() {
            "active" => TargetState::Active,
            "dropped" => TargetState::Dropped,
            "" | "any" => TargetState::Any,
            _ => TargetState::Unknown,
        }
    }

    fn shows_active(self) -> bool {
        matches!(self, TargetState::Active | TargetState::Any)
    }

    fn shows_dropped(self) -> bool {
        matches!(self, TargetState::Dropped | TargetState::Any)
    }
}

fn labels_json(l: &Labels) -> Value {
    let mut m = Map::new();
    for label in l.iter() {
        m.insert(label.name.clone(), Value::String(label.value.clone()));
    }
    Value::Object(m)
}

/// What `globalUrl` needs to know about this server (upstream's
/// `GlobalURLOptions`): its first listen address and its external URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalUrlOptions {
    /// `--web.listen-address` (the first one), `host:port`.
    pub listen_address: String,
    /// The external URL's scheme, e.g. `http`.
    pub scheme: String,
    /// The external URL's `host[:port]`.
    pub host: String,
}

impl GlobalUrlOptions {
    /// From `--web.external-url` (or its derived default) and the first
    /// listen address; `None` when the URL has no `scheme://host`.
    pub fn new(external_url: &str, listen_address: &str) -> Option<GlobalUrlOptions> {
        let (scheme, rest) = external_url.split_once("://")?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        (!host.is_empty()).then(|| GlobalUrlOptions {
            listen_address: listen_address.to_string(),
            scheme: scheme.to_string(),
            host: host.to_string(),
        })
    }
}

/// Go's `net.SplitHostPort` for the forms URLs carry: `host:port` and
/// `[v6]:port`. `None` without a port.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    let (host, port) = hostport.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

/// Upstream's `getGlobalURL`: a target on localhost is not reachable from
/// elsewhere, so its host becomes the external URL's (and, when it is this
/// very server, its scheme and port too). Other URLs are unchanged.
fn global_url(url: &str, opts: Option<&GlobalUrlOptions>) -> String {
    let Some(opts) = opts else {
        return url.to_string();
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((host, port)) = split_host_port(authority) else {
        return url.to_string();
    };
    if !["127.0.0.1", "localhost", "::1"].contains(&host) {
        return url.to_string();
    }
    let own_port = split_host_port(&opts.listen_address).map(|(_, p)| p);
    if own_port == Some(port) {
        return format!("{}://{}{tail}", opts.scheme, opts.host);
    }
    // Only the host is known to be wrong: keep the target's port.
    match split_host_port(&opts.host) {
        Some((external_host, _)) => format!("{scheme}://{external_host}:{port}{tail}"),
        None => url.to_string(),
    }
}

fn active_json(pool: &str, t: &Target, global: Option<&GlobalUrlOptions>) -> Value {
    let st = t.status();
    let url = t.url();
    json!({
        "discoveredLabels": labels_json(&t.discovered_labels),
        "labels": labels_json(&t.public_labels()),
        "scrapePool": pool,
        "globalUrl": global_url(&url, global),
        "scrapeUrl": url,
        "lastError": st.last_error,
        "lastScrape": rfc3339(st.last_scrape),
        "lastScrapeDuration": st.last_scrape_duration.as_secs_f64(),
        "health": st.health.as_str(),
        "scrapeInterval": format_duration(t.interval.as_millis() as i64),
        "scrapeTimeout": format_duration(t.timeout.as_millis() as i64),
    })
}

/// `/api/v1/targets`: active and/or dropped targets, optionally of one pool.
pub fn targets_json(mgr: &ScrapeManager, state: TargetState, scrape_pool: Option<&str>) -> Value {
    let pools = mgr.pools_snapshot();
    let selected = pools
        .iter()
        .filter(|(job, _)| scrape_pool.is_none_or(|p| p == job.as_str()));
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = Map::new();
    for (job, pool) in selected {
        if state.shows_active() {
            for l in pool.active() {
                active.push(active_json(job, &l.target, mgr.global_url_options()));
            }
        }
        if state.shows_dropped() {
            let (labels, total) = pool.dropped();
            for l in labels {
                dropped.push(json!({
                    "discoveredLabels": labels_json(&l),
                    "scrapePool": job,
                }));
            }
            dropped_counts.insert(job.clone(), json!(total));
        }
    }
    // Upstream leaves the counts nil unless dropped targets were asked for.
    let counts = if state.shows_dropped() {
        Value::Object(dropped_counts)
    } else {
        Value::Null
    };
    json!({
        "activeTargets": active,
        "droppedTargets": dropped,
        "droppedTargetCounts": counts,
    })
}

/// Why the metadata endpoint has nothing to return (upstream answers 404-ish
/// `not_found` with this text).
pub const METADATA_NOT_FOUND: &str = "specified metadata not found";

/// `/api/v1/targets/metadata`: metadata of targets whose labels match
/// `match_target`, for one `metric` or all; at most `limit` entries.
pub fn targets_metadata_json(
    mgr: &ScrapeManager,
    match_target: &[Matcher],
    metric: Option<&str>,
    limit: Option<usize>,
) -> Result<Value, &'static str> {
    let mut out = Vec::new();
    let limit = limit.unwrap_or(usize::MAX);
    'pools: for pool in mgr.pools_snapshot().values() {
        for l in pool.active() {
            let labels = l.target.public_labels();
            if !matches_all(&labels, match_target) {
                continue;
            }
            for (name, md) in l.metadata() {
                if out.len() >= limit {
                    break 'pools;
                }
                let mut entry = json!({
                    "target": labels_json(&labels),
                    "type": md.metric_type.as_str(),
                    "help": md.help,
                    "unit": md.unit,
                });
                match metric {
                    Some(m) if m != name => continue,
                    Some(_) => {}
                    None => {
                        if let Some(obj) = entry.as_object_mut() {
                            obj.insert("metric".to_string(), Value::String(name));
                        }
                    }
                }
                out.push(entry);
            }
        }
    }
    if out.is_empty() && (metric.is_some() || !match_target.is_empty()) {
        return Err(METADATA_NOT_FOUND);
    }
    Ok(Value::Array(out))
}

/// `/api/v1/metadata`: the distinct metadata of every metric family over
/// all targets, `{metric: [{type, help, unit}, ...]}`; at most `limit`
/// metrics and `limit_per_metric` entries each, optionally one `metric`.
pub fn metadata_json(
    mgr: &ScrapeManager,
    metric: Option<&str>,
    limit: Option<usize>,
    limit_per_metric: Option<usize>,
) -> Value {
    let mut by_metric: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for pool in mgr.pools_snapshot().values() {
        for l in pool.active() {
            for (name, md) in l.metadata() {
                if metric.is_some_and(|m| m != name) {
                    continue;
                }
                let entry = json!({
                    "type": md.metric_type.as_str(),
                    "help": md.help,
                    "unit": md.unit,
                });
                let list = by_metric.entry(name).or_default();
                if !list.contains(&entry) {
                    list.push(entry);
                }
            }
        }
    }
    let mut out = Map::new();
    for (name, mut list) in by_metric.into_iter().take(limit.unwrap_or(usize::MAX)) {
        list.truncate(limit_per_metric.unwrap_or(usize::MAX));
        out.insert(name, Value::Array(list));
    }
    Value::Object(out)
}

/// RFC 3339 with nanoseconds in UTC, as Go's `time.Time` marshals; the zero
/// time for "never".
fn rfc3339(t: Option<SystemTime>) -> String {
    let Some(d) = t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(Some(t)), "2023-11-14T22:13:20.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(Some(t)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn global_url_as_upstream() {
        let opts = GlobalUrlOptions::new("https://prom.example.com:9443/p/", "0.0.0.0:9090");
        let g = |u: &str| global_url(u, opts.as_ref());
        // This very server: external scheme, host and port.
        assert_eq!(
            g("http://localhost:9090/metrics"),
            "https://prom.example.com:9443/metrics"
        );
        // Another local port: only the host changes.
        assert_eq!(
            g("http://127.0.0.1:9100/metrics?x=1"),
            "http://prom.example.com:9100/metrics?x=1"
        );
        assert_eq!(g("http://[::1]:9100/m"), "http://prom.example.com:9100/m");
        assert_eq!(g("http://10.0.0.1:9100/m"), "http://10.0.0.1:9100/m");
        assert_eq!(g("http://localhost/m"), "http://localhost/m");
        // An external URL without a port cannot supply one.
        let bare = GlobalUrlOptions::new("http://prom/", "0.0.0.0:9090");
        assert_eq!(
            global_url("http://localhost:9100/m", bare.as_ref()),
            "http://localhost:9100/m"
        );
        assert_eq!(
            global_url("http://localhost:9090/m", bare.as_ref()),
            "http://prom/m"
        );
        assert_eq!(
            global_url("http://localhost:1/m", None),
            "http://localhost:1/m"
        );
    }

    #[test]
    fn state_parameter() {
        assert_eq!(TargetState::parse("Active"), TargetState::Active);
        assert_eq!(TargetState::parse("dropped"), TargetState::Dropped);
        assert_eq!(TargetState::parse(""), TargetState::Any);
        assert_eq!(TargetState::parse("ANY"), TargetState::Any);
        assert_eq!(TargetState::parse("bogus"), TargetState::Unknown);
    }

    #[test]
    fn targets_state_and_pool_filters() {
        use crate::discovery::{TargetGroup, TargetSets};
        use crate::scrape::{PoolConfig, ScrapeOptions};
        use crate::storage::memory::MemStorage;
        use std::sync::Arc;

        let mgr = ScrapeManager::with_registry(
            Arc::new(MemStorage::new()),
            ScrapeOptions::default(),
            &crate::telemetry::Registry::new(),
        );
        let mut a = PoolConfig::new("a");
        a.relabel_configs = vec![serde_yaml::from_str(
            "{source_labels: [__address__], regex: 'drop:.*', action: drop}",
        )
        .unwrap_or_else(|e| panic!("{e}"))];
        let b = PoolConfig::new("b");
        assert!(mgr.apply_config(vec![a, b]).is_ok());
        let group = |addrs: &[&str]| {
            vec![TargetGroup {
                source: "0".into(),
                targets: addrs
                    .iter()
                    .map(|a| Labels::from_pairs(&[("__address__", a)]))
                    .collect(),
                labels: Labels::empty(),
            }]
        };
        mgr.sync(TargetSets::from([
            ("a".to_string(), group(&["keep:1", "drop:1"])),
            ("b".to_string(), group(&["b:1"])),
        ]));
        let pools = |v: &Value, list: &str| -> Vec<String> {
            v[list]
                .as_array()
                .map(|a| a.iter().map(|t| t["scrapePool"].to_string()).collect())
                .unwrap_or_else(|| panic!("{list} is not a list in {v}"))
        };

        let any = targets_json(&mgr, TargetState::Any, None);
        assert_eq!(pools(&any, "activeTargets"), [r#""a""#, r#""b""#]);
        assert_eq!(pools(&any, "droppedTargets"), [r#""a""#]);
        assert_eq!(any["droppedTargetCounts"], json!({"a": 1, "b": 0}));
        let t = &any["activeTargets"][0];
        let mut keys: Vec<&str> = t
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "discoveredLabels",
                "globalUrl",
                "health",
                "labels",
                "lastError",
                "lastScrape",
                "lastScrapeDuration",
                "scrapeInterval",
                "scrapePool",
                "scrapeTimeout",
                "scrapeUrl"
            ]
        );
        assert_eq!(t["labels"], json!({"instance": "keep:1", "job": "a"}));
        assert_eq!(t["discoveredLabels"]["__address__"], "keep:1");
        assert_eq!(t["discoveredLabels"]["__scrape_interval__"], "1m");
        assert_eq!(t["scrapeUrl"], "http://keep:1/metrics");
        assert_eq!(t["health"], "unknown");
        assert_eq!(t["lastScrape"], "0001-01-01T00:00:00Z");
        assert_eq!(t["lastError"], "");
        assert_eq!(t["scrapeInterval"], "1m");
        assert_eq!(t["scrapeTimeout"], "10s");
        let dropped = &any["droppedTargets"][0];
        assert_eq!(dropped["discoveredLabels"]["__address__"], "drop:1");
        assert_eq!(dropped["discoveredLabels"]["job"], "a");

        let active = targets_json(&mgr, TargetState::Active, None);
        assert_eq!(pools(&active, "activeTargets").len(), 2);
        assert_eq!(active["droppedTargets"], json!([]));
        assert_eq!(active["droppedTargetCounts"], Value::Null);

        let dropped = targets_json(&mgr, TargetState::Dropped, None);
        assert_eq!(dropped["activeTargets"], json!([]));
        assert_eq!(pools(&dropped, "droppedTargets"), [r#""a""#]);

        let only_b = targets_json(&mgr, TargetState::Any, Some("b"));
        assert_eq!(pools(&only_b, "activeTargets"), [r#""b""#]);
        assert_eq!(only_b["droppedTargets"], json!([]));
        assert_eq!(only_b["droppedTargetCounts"], json!({"b": 0}));

        let unknown = targets_json(&mgr, TargetState::parse("bogus"), None);
        assert_eq!(unknown["activeTargets"], json!([]));
        assert_eq!(unknown["droppedTargets"], json!([]));
        assert_eq!(unknown["droppedTargetCounts"], Value::Null);
    }
}
