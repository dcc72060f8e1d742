//! The resolved settings of one scrape pool (`PoolConfig`): what a
//! `scrape_configs` entry means to the scraper, with upstream's defaults.
//! Plain data, filled from a `config::ScrapeConfig` by
//! `PoolConfig::from_scrape_config`; equality decides whether a reload
//! replaces the pool.

use std::path::PathBuf;
use std::time::Duration;

use super::relabel::{NameValidationScheme, RelabelConfig};
use super::textparse::Format;
use super::ScrapeError;
use crate::config::scrape::DEFAULT_SCRAPE_PROTOCOLS;
use crate::config::{HttpClientConfig, ScrapeConfig};

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
    pub username_file: Option<PathBuf>,
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
    /// `tls_config.insecure_skip_verify`.
    pub insecure_skip_verify: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            basic_auth: None,
            authorization: None,
            follow_redirects: true,
            enable_compression: true,
            headers: Vec::new(),
            insecure_skip_verify: false,
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
    /// `scrape_protocols` in preference order (upstream spelling).
    pub scrape_protocols: Vec<String>,
    /// `metric_name_escaping_scheme`, sent in the `Accept` header.
    pub escaping_scheme: String,
    /// `metric_name_validation_scheme`: which metric and label names a
    /// scraped series may have.
    pub name_validation: NameValidationScheme,
    /// `track_timestamps_staleness`: stale markers for series with explicit
    /// timestamps too.
    pub track_timestamps_staleness: bool,
    /// `extra_scrape_metrics`: also report `scrape_timeout_seconds`,
    /// `scrape_sample_limit` and `scrape_body_size_bytes`.
    pub extra_scrape_metrics: bool,
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
            scrape_protocols: DEFAULT_SCRAPE_PROTOCOLS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            escaping_scheme: "allow-utf-8".to_string(),
            name_validation: NameValidationScheme::Utf8,
            track_timestamps_staleness: false,
            extra_scrape_metrics: false,
        }
    }
}

fn opt_path(s: &str) -> Option<PathBuf> {
    (!s.is_empty()).then(|| PathBuf::from(s))
}

fn unsupported(what: &str) -> ScrapeError {
    ScrapeError::Config(format!("{what} is not supported by promlite"))
}

impl HttpSettings {
    /// Maps an `HttpClientConfig`. Proxies, client certificates and custom CAs
    /// are refused with a "not supported" error; `http_headers` files are read
    /// here, once per reload.
    pub fn from_client(c: &HttpClientConfig) -> Result<HttpSettings, ScrapeError> {
        if c.proxy_url.is_some() || c.proxy_from_environment {
            return Err(unsupported("proxy_url/proxy_from_environment"));
        }
        let tls = &c.tls_config;
        if !(tls.ca.is_empty()
            && tls.ca_file.is_empty()
            && tls.cert.is_empty()
            && tls.cert_file.is_empty()
            && tls.key.is_empty()
            && tls.key_file.is_empty())
        {
            return Err(unsupported("tls_config with ca, cert or key"));
        }
        let headers = crate::config::http::header_pairs(&c.http_headers, |f| {
            std::fs::read_to_string(f)
                .map(|v| v.trim().to_string())
                .map_err(|e| ScrapeError::Config(format!("unable to read header file {f:?}: {e}")))
        })?;
        Ok(HttpSettings {
            basic_auth: c.basic_auth.as_ref().map(|b| BasicAuth {
                username: b.username.clone(),
                username_file: opt_path(&b.username_file),
                password: (!b.password.is_empty()).then(|| b.password.expose().to_string()),
                password_file: opt_path(&b.password_file),
            }),
            authorization: c.authorization.as_ref().map(|a| Authorization {
                kind: if a.kind.is_empty() {
                    "Bearer".to_string()
                } else {
                    a.kind.clone()
                },
                credentials: (!a.credentials.is_empty())
                    .then(|| a.credentials.expose().to_string()),
                credentials_file: opt_path(&a.credentials_file),
            }),
            follow_redirects: c.follow_redirects,
            enable_compression: true,
            headers,
            insecure_skip_verify: tls.insecure_skip_verify,
        })
    }
}

impl PoolConfig {
    /// The pool settings of one resolved `scrape_configs` entry.
    pub fn from_scrape_config(c: &ScrapeConfig) -> Result<PoolConfig, ScrapeError> {
        let mut http = HttpSettings::from_client(&c.http_client_config)?;
        http.enable_compression = c.enable_compression;
        let ms = |d: crate::config::Duration| {
            Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(0))
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(PoolConfig {
            job_name: c.job_name.clone(),
            scrape_interval: ms(c.scrape_interval),
            scrape_timeout: ms(c.scrape_timeout),
            scheme: c.scheme.clone(),
            metrics_path: c.metrics_path.clone(),
            params: c
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            honor_labels: c.honor_labels,
            honor_timestamps: c.honor_timestamps,
            sample_limit: size(c.sample_limit),
            label_limit: size(c.label_limit),
            label_name_length_limit: size(c.label_name_length_limit),
            label_value_length_limit: size(c.label_value_length_limit),
            target_limit: size(c.target_limit),
            keep_dropped_targets: size(c.keep_dropped_targets),
            body_size_limit: u64::try_from(c.body_size_limit.0).unwrap_or(0),
            relabel_configs: c.relabel_configs.clone(),
            metric_relabel_configs: c.metric_relabel_configs.clone(),
            http,
            fallback_protocol: Format::from_protocol(&c.fallback_scrape_protocol),
            scrape_protocols: c.scrape_protocols.clone(),
            escaping_scheme: c.metric_name_escaping_scheme.clone(),
            name_validation: if c.metric_name_validation_scheme == "legacy" {
                NameValidationScheme::Legacy
            } else {
                NameValidationScheme::Utf8
            },
            track_timestamps_staleness: c.track_timestamps_staleness,
            extra_scrape_metrics: c.extra_scrape_metrics,
        })
    }
}

impl PoolConfig {
    /// Whether a target's series cache stays valid when its pool changes
    /// from `self` to `other`: only settings that cannot change the series
    /// a scrape produces differ (upstream's `reusableCache`).
    pub fn cache_compatible(&self, other: &PoolConfig) -> bool {
        let zero = |c: &PoolConfig| PoolConfig {
            scrape_interval: Duration::ZERO,
            scrape_timeout: Duration::ZERO,
            sample_limit: 0,
            http: HttpSettings::default(),
            ..c.clone()
        };
        zero(self) == zero(other)
    }
}

/// The media type each scrape protocol asks for (upstream's
/// `ScrapeProtocolsHeaders`); `None` for protobuf, which promlite does not parse.
fn protocol_media_type(protocol: &str) -> Option<&'static str> {
    match protocol {
        "PrometheusText0.0.4" => Some("text/plain;version=0.0.4"),
        "PrometheusText1.0.0" => Some("text/plain;version=1.0.0"),
        "OpenMetricsText0.0.1" => Some("application/openmetrics-text;version=0.0.1"),
        "OpenMetricsText1.0.0" => Some("application/openmetrics-text;version=1.0.0"),
        _ => None,
    }
}

impl PoolConfig {
    /// The `Accept` header as upstream's `acceptHeader`: protocols in order
    /// with falling q-values, the escaping scheme on the 1.0.0 text formats,
    /// then `*/*`. Protobuf is left out: promlite cannot parse it.
    pub fn accept_header(&self) -> String {
        // Upstream's weights start above the number of protocols it knows (5).
        let mut weight = 6;
        let mut vals = Vec::new();
        for p in &self.scrape_protocols {
            let Some(media) = protocol_media_type(p) else {
                continue;
            };
            let mut v = media.to_string();
            if p.ends_with("1.0.0") && !self.escaping_scheme.is_empty() {
                v.push_str(";escaping=");
                v.push_str(&self.escaping_scheme);
            }
            v.push_str(&format!(";q=0.{weight}"));
            vals.push(v);
            weight -= 1;
        }
        vals.push(format!("*/*;q=0.{weight}"));
        vals.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_http_settings_are_refused() {
        type Case = (fn(&mut HttpClientConfig), &'static str);
        let cases: &[Case] = &[
            (
                |c| c.tls_config.ca_file = "/etc/ca.pem".into(),
                "tls_config with ca, cert or key is not supported by promlite",
            ),
            (
                |c| c.tls_config.cert_file = "/etc/cert.pem".into(),
                "tls_config with ca, cert or key is not supported by promlite",
            ),
            (
                |c| c.proxy_from_environment = true,
                "proxy_url/proxy_from_environment is not supported by promlite",
            ),
        ];
        for (set, want) in cases {
            let mut c = HttpClientConfig::default();
            set(&mut c);
            match HttpSettings::from_client(&c) {
                Err(e) => assert_eq!(e.to_string(), *want),
                Ok(h) => panic!("{want}: accepted as {h:?}"),
            }
        }
        // What promlite does support maps through.
        let mut c = HttpClientConfig::default();
        c.tls_config.insecure_skip_verify = true;
        c.follow_redirects = false;
        let h = HttpSettings::from_client(&c).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.insecure_skip_verify && !h.follow_redirects);
    }

    #[test]
    fn accept_header_as_upstream() {
        let cfg = PoolConfig::new("j");
        assert_eq!(
            cfg.accept_header(),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
             application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        let mut cfg = PoolConfig::new("j");
        cfg.scrape_protocols = vec!["PrometheusProto".into(), "PrometheusText0.0.4".into()];
        assert_eq!(
            cfg.accept_header(),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
    }
}
