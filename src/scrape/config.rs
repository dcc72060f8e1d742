//! The resolved settings of one scrape pool (`PoolConfig`): what a
//! `scrape_configs` entry means to the scraper, with upstream's defaults.
//! Plain data: the config adapter fills it from `prometheus.yml`; equality
//! decides whether a reload replaces the pool.

use std::path::PathBuf;
use std::time::Duration;

use super::relabel::RelabelConfig;
use super::textparse::Format;

/// `authorization` (or `bearer_token`) of a scrape config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// `Bearer` unless configured.
    pub kind: String,
    pub credentials: Option<String>,
    /// Re-read on every scrape so rotated tokens are picked up, as upstream.
    pub credentials_file: Option<PathBuf>,
}

/// `basic_auth` of a scrape config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// The HTTP client part of a scrape config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub follow_redirects: bool,
    /// `enable_compression`: ask for gzip.
    pub enable_compression: bool,
    /// Extra static headers (`http_headers`).
    pub headers: Vec<(String, String)>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            basic_auth: None,
            authorization: None,
            follow_redirects: true,
            enable_compression: true,
            headers: Vec::new(),
        }
    }
}

/// Everything a `ScrapePool` needs from its `scrape_configs` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    pub job_name: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub scheme: String,
    pub metrics_path: String,
    /// `params`: each name with its values; the first value becomes
    /// `__param_<name>`.
    pub params: Vec<(String, Vec<String>)>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// 0 means no limit, for every limit below.
    pub sample_limit: usize,
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    pub target_limit: usize,
    pub keep_dropped_targets: usize,
    /// Bytes; 0 means no limit.
    pub body_size_limit: u64,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    pub http: HttpSettings,
    /// Used when a target sends a blank or unknown `Content-Type`.
    pub fallback_protocol: Option<Format>,
}

impl PoolConfig {
    /// A pool config with upstream's defaults (1m interval, 10s timeout,
    /// `http`, `/metrics`, timestamps honored).
    pub fn new(job_name: impl Into<String>) -> PoolConfig {
        PoolConfig {
            job_name: job_name.into(),
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            scheme: "http".to_string(),
            metrics_path: "/metrics".to_string(),
            params: Vec::new(),
            honor_labels: false,
            honor_timestamps: true,
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
            keep_dropped_targets: 0,
            body_size_limit: 0,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            http: HttpSettings::default(),
            fallback_protocol: None,
        }
    }
}
