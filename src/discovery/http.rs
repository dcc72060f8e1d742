//! `http_sd_configs`: target groups fetched with a GET from a URL every
//! `refresh_interval`, in upstream's JSON format. A failed fetch keeps the
//! last good targets and is counted in `prometheus_sd_http_failures_total`.
//! Every group carries `__meta_url`.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::manager::ProviderUpdate;
use super::{
    groups_from_document, parse_json_groups, DiscoveryError, TargetGroup, DEFAULT_REFRESH_INTERVAL,
};
use crate::telemetry;

/// Upstream's refresh-duration summary, labelled `mechanism="http"` here.
pub const REFRESH_DURATION_METRIC: &str = "prometheus_sd_refresh_duration_seconds";

/// Settings of one `http_sd_configs` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSdConfig {
    pub url: String,
    pub refresh_interval: Duration,
    /// Extra request headers (e.g. `Authorization`), already resolved from
    /// the HTTP client configuration.
    pub headers: Vec<(String, String)>,
}

impl HttpSdConfig {
    pub fn new(url: impl Into<String>) -> HttpSdConfig {
        HttpSdConfig {
            url: url.into(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            headers: Vec::new(),
        }
    }
}

/// Upstream caps HTTP SD responses too; a target list is never this large.
const MAX_BODY: u64 = 64 << 20;

/// Fetches and decodes the target groups once.
pub(crate) fn fetch(cfg: &HttpSdConfig) -> Result<Vec<TargetGroup>, DiscoveryError> {
    let http_err = |error: String| DiscoveryError::Http {
        url: cfg.url.clone(),
        error,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(cfg.refresh_interval.max(Duration::from_secs(1))))
        .http_status_as_error(false)
        .user_agent(crate::scrape::USER_AGENT)
        .build()
        .into();
    let mut req = agent
        .get(&cfg.url)
        .header("Accept", "application/json")
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            cfg.refresh_interval.as_secs().to_string(),
        );
    for (k, v) in &cfg.headers {
        req = req.header(k, v);
    }
    let mut resp = req.call().map_err(|e| http_err(e.to_string()))?;
    if resp.status() != 200 {
        return Err(http_err(format!(
            "server returned HTTP status {}",
            resp.status()
        )));
    }
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !ct.starts_with("application/json") {
        return Err(http_err(format!("unsupported content type {ct:?}")));
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| http_err(e.to_string()))?;
    let raw = parse_json_groups(&body).map_err(|error| DiscoveryError::Format {
        source: cfg.url.clone(),
        error,
    })?;
    groups_from_document(raw, &cfg.url, ("__meta_url", &cfg.url)).map_err(|error| {
        DiscoveryError::Format {
            source: cfg.url.clone(),
            error,
        }
    })
}

/// The provider loop: runs until `stop` is disconnected.
/// `config` names the job (or alerting config) for upstream's refresh
/// metrics.
pub(crate) fn run(
    cfg: HttpSdConfig,
    id: u64,
    config: &str,
    tx: Sender<ProviderUpdate>,
    stop: Receiver<()>,
) {
    let failures = telemetry::global().counter(
        "prometheus_sd_http_failures_total",
        "Number of HTTP service discovery refresh failures.",
    );
    let duration = telemetry::global()
        .summary_vec(
            REFRESH_DURATION_METRIC,
            "The duration of a refresh in seconds for the given SD mechanism.",
            // client_golang writes label pairs sorted by name.
            &["config", "mechanism"],
            telemetry::LATENCY_OBJECTIVES,
        )
        .with(&[config, "http"]);
    let mut last: Option<Vec<TargetGroup>> = None;
    loop {
        let started = Instant::now();
        let fetched = fetch(&cfg);
        duration.observe_since(started);
        match fetched {
            Ok(groups) => {
                if last.as_ref() != Some(&groups) {
                    last = Some(groups.clone());
                    if tx.send(ProviderUpdate { id, groups }).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                log::error!("http_sd: {e}");
                failures.inc();
            }
        }
        match stop.recv_timeout(cfg.refresh_interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
