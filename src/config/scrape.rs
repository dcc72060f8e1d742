//! `scrape_configs`: one `ScrapeConfig` per job with its service discoveries
//! (`static_configs`, `file_sd_configs`, `http_sd_configs`), relabeling and
//! limits. Values left unset inherit from `global` in `ScrapeConfig::resolve`,
//! as upstream's `ScrapeConfig.Validate(globalConfig)` does.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::http::{resolve_path, HttpClientConfig};
use super::types::{ByteSize, Duration, Url};
use super::unsupported::unsupported_sd_raw_struct;
use super::{non_null, seq_or_null, GlobalConfig};
use crate::model::relabel::{NameValidationScheme, RelabelConfig};

/// The scrape protocols upstream can negotiate, in its spelling.
pub const SCRAPE_PROTOCOLS: &[&str] = &[
    "PrometheusProto",
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
];

/// The default protocol list without native histograms.
pub const DEFAULT_SCRAPE_PROTOCOLS: &[&str] = &[
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

/// The default protocol list when native histograms are scraped.
pub const DEFAULT_NATIVE_HISTOGRAM_SCRAPE_PROTOCOLS: &[&str] = &[
    "PrometheusProto",
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

/// The metric name escaping schemes upstream knows.
pub const ESCAPING_SCHEMES: &[&str] = &["allow-utf-8", "underscores", "dots", "values"];

/// Upstream's `ScrapeProtocol.Validate`; the supported list is sorted, as
/// upstream prints it.
pub(crate) fn validate_scrape_protocol(p: &str) -> Result<(), String> {
    if SCRAPE_PROTOCOLS.contains(&p) {
        return Ok(());
    }
    let mut supported = SCRAPE_PROTOCOLS.to_vec();
    supported.sort_unstable();
    Err(format!(
        "unknown scrape protocol {p}, supported: [{}]",
        supported.join(" ")
    ))
}

/// Upstream's `validateAcceptScrapeProtocols`: non-empty, known, and no
/// duplicates (compared case-insensitively).
pub(crate) fn validate_scrape_protocols(protocols: &[String]) -> Result<(), String> {
    if protocols.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    for (i, p) in protocols.iter().enumerate() {
        if protocols[..i].iter().any(|q| q.eq_ignore_ascii_case(p)) {
            return Err(format!(
                "duplicated protocol in scrape_protocols, got [{}]",
                protocols.join(" ")
            ));
        }
        validate_scrape_protocol(p).map_err(|e| format!("scrape_protocols: {e}"))?;
    }
    Ok(())
}

/// A `static_configs` entry: targets plus labels (upstream's `targetgroup.Group`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl StaticConfig {
    fn validate(&self) -> Result<(), String> {
        for name in self.labels.keys() {
            if name.is_empty() {
                return Err(format!("{name:?} is not a valid label name"));
            }
        }
        Ok(())
    }
}

/// `file_sd_configs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawFileSdConfig")]
pub struct FileSdConfig {
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSdConfig {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    refresh_interval: Option<Duration>,
}

impl TryFrom<RawFileSdConfig> for FileSdConfig {
    type Error = String;
    fn try_from(raw: RawFileSdConfig) -> Result<Self, String> {
        if raw.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        for f in &raw.files {
            if !is_valid_file_sd_path(f) {
                return Err(format!("path name {f:?} is not valid for file discovery"));
            }
        }
        Ok(FileSdConfig {
            files: raw.files,
            refresh_interval: raw.refresh_interval.unwrap_or(Duration::from_secs(300)),
        })
    }
}

/// Upstream's `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn is_valid_file_sd_path(p: &str) -> bool {
    let Some(dot) = p.rfind('.') else {
        return false;
    };
    let ext = &p[dot + 1..];
    if !["json", "yml", "yaml", "JSON", "YML", "YAML"].contains(&ext) {
        return false;
    }
    let stem = &p[..dot];
    match stem.find('*') {
        None => true,
        Some(star) => !stem[star + 1..].contains(['*', '/']),
    }
}

/// `http_sd_configs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawHttpSdConfig")]
pub struct HttpSdConfig {
    pub url: Url,
    pub refresh_interval: Duration,
    #[serde(flatten)]
    pub http_client_config: HttpClientConfig,
}

super::http::http_client_raw_struct! {
    struct RawHttpSdConfig {
        #[serde(default)]
        url: Option<Url>,
        #[serde(default)]
        refresh_interval: Option<Duration>,
    }
}

impl TryFrom<RawHttpSdConfig> for HttpSdConfig {
    type Error = String;
    fn try_from(mut raw: RawHttpSdConfig) -> Result<Self, String> {
        let http_client_config = raw.take_http_client()?;
        let url = raw.url.ok_or("URL is missing")?;
        let parts = url.parse()?;
        if parts.scheme != "http" && parts.scheme != "https" {
            return Err("URL scheme must be 'http' or 'https'".into());
        }
        if parts.host.is_empty() {
            return Err("host is missing in URL".into());
        }
        Ok(HttpSdConfig {
            url,
            refresh_interval: raw.refresh_interval.unwrap_or(Duration::from_secs(60)),
            http_client_config,
        })
    }
}

/// One scrape job (upstream's `ScrapeConfig`). After loading every
/// inherited value is resolved, so the scrape manager reads fields directly
/// and `==` tells whether a job changed on reload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawScrapeConfig")]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub scheme: String,
    pub metrics_path: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub scrape_protocols: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fallback_scrape_protocol: String,
    pub enable_compression: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scrape_failure_log_file: String,
    #[serde(skip_serializing_if = "ByteSize::is_zero")]
    pub body_size_limit: ByteSize,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_u64")]
    pub sample_limit: u64,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_u64")]
    pub target_limit: u64,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_u64")]
    pub label_limit: u64,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_u64")]
    pub label_name_length_limit: u64,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_u64")]
    pub label_value_length_limit: u64,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_u64")]
    pub keep_dropped_targets: u64,
    pub metric_name_validation_scheme: String,
    pub metric_name_escaping_scheme: String,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_u64")]
    pub native_histogram_bucket_limit: u64,
    #[serde(skip_serializing_if = "crate::config::types::is_zero_f64")]
    pub native_histogram_min_bucket_factor: f64,
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    pub convert_classic_histograms_to_nhcb: bool,
    pub extra_scrape_metrics: bool,
    #[serde(flatten)]
    pub http_client_config: HttpClientConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Which of the inheritable keys the file set itself; the rest come
    /// from `global` in `resolve`. Not part of the YAML.
    #[serde(skip)]
    explicit: Explicit,
}

/// Keys that inherit from `global` when left out.
#[derive(Clone, Debug, Default)]
struct Explicit {
    scrape_interval: bool,
    scrape_timeout: bool,
    scrape_protocols: bool,
    body_size_limit: bool,
    sample_limit: bool,
    target_limit: bool,
    label_limit: bool,
    label_name_length_limit: bool,
    label_value_length_limit: bool,
    keep_dropped_targets: bool,
    scrape_failure_log_file: bool,
    metric_name_validation_scheme: bool,
    metric_name_escaping_scheme: bool,
    scrape_native_histograms: bool,
    always_scrape_classic_histograms: bool,
    convert_classic_histograms_to_nhcb: bool,
    extra_scrape_metrics: bool,
}

/// Where a value came from does not make two jobs different: only the
/// resolved values do (a reload compares jobs with `==`).
impl PartialEq for Explicit {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

unsupported_sd_raw_struct! {
    struct RawScrapeConfig {
        #[serde(default)]
        job_name: String,
        #[serde(default)]
        honor_labels: bool,
        #[serde(default)]
        honor_timestamps: Option<bool>,
        #[serde(default)]
        track_timestamps_staleness: bool,
        #[serde(default)]
        scheme: Option<String>,
        #[serde(default)]
        metrics_path: Option<String>,
        #[serde(default)]
        params: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        scrape_interval: Duration,
        #[serde(default)]
        scrape_timeout: Duration,
        #[serde(default)]
        scrape_protocols: Option<Vec<String>>,
        #[serde(default)]
        fallback_scrape_protocol: String,
        #[serde(default)]
        enable_compression: Option<bool>,
        #[serde(default)]
        scrape_failure_log_file: String,
        #[serde(default)]
        body_size_limit: ByteSize,
        #[serde(default)]
        sample_limit: u64,
        #[serde(default)]
        target_limit: u64,
        #[serde(default)]
        label_limit: u64,
        #[serde(default)]
        label_name_length_limit: u64,
        #[serde(default)]
        label_value_length_limit: u64,
        #[serde(default)]
        keep_dropped_targets: u64,
        #[serde(default)]
        metric_name_validation_scheme: String,
        #[serde(default)]
        metric_name_escaping_scheme: String,
        #[serde(default)]
        native_histogram_bucket_limit: u64,
        #[serde(default)]
        native_histogram_min_bucket_factor: f64,
        #[serde(default)]
        scrape_native_histograms: Option<bool>,
        #[serde(default)]
        always_scrape_classic_histograms: Option<bool>,
        #[serde(default)]
        convert_classic_histograms_to_nhcb: Option<bool>,
        #[serde(default)]
        extra_scrape_metrics: Option<bool>,
        #[serde(default, deserialize_with = "seq_or_null")]
        static_configs: Vec<Option<StaticConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        file_sd_configs: Vec<Option<FileSdConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        http_sd_configs: Vec<Option<HttpSdConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        relabel_configs: Vec<Option<RelabelConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        metric_relabel_configs: Vec<Option<RelabelConfig>>,
    }
}

impl TryFrom<RawScrapeConfig> for ScrapeConfig {
    type Error = String;

    /// Upstream's `ScrapeConfig.UnmarshalYAML`: checks that need no global values.
    fn try_from(mut raw: RawScrapeConfig) -> Result<Self, String> {
        if raw.job_name.is_empty() {
            return Err("job_name is empty".into());
        }
        let http_client_config = raw.take_http_client()?;
        let static_configs = non_null(
            raw.static_configs,
            "empty or null section in static_configs",
        )?;
        for sc in &static_configs {
            sc.validate()?;
        }
        let relabel_configs = non_null(
            raw.relabel_configs,
            "empty or null target relabeling rule in scrape config",
        )?;
        let metric_relabel_configs = non_null(
            raw.metric_relabel_configs,
            "empty or null metric relabeling rule in scrape config",
        )?;
        // A URL in a target is a common mistake; with relabeling the user
        // may rewrite it, so only plain static targets are checked.
        if relabel_configs.is_empty() {
            for t in static_configs.iter().flat_map(|sc| sc.targets.iter()) {
                if t.contains('/') {
                    return Err(format!("{t:?} is not a valid hostname"));
                }
            }
        }
        let explicit = Explicit {
            scrape_interval: !raw.scrape_interval.is_zero(),
            scrape_timeout: !raw.scrape_timeout.is_zero(),
            scrape_protocols: raw.scrape_protocols.is_some(),
            body_size_limit: raw.body_size_limit.bytes() != 0,
            sample_limit: raw.sample_limit != 0,
            target_limit: raw.target_limit != 0,
            label_limit: raw.label_limit != 0,
            label_name_length_limit: raw.label_name_length_limit != 0,
            label_value_length_limit: raw.label_value_length_limit != 0,
            keep_dropped_targets: raw.keep_dropped_targets != 0,
            scrape_failure_log_file: !raw.scrape_failure_log_file.is_empty(),
            metric_name_validation_scheme: !raw.metric_name_validation_scheme.is_empty(),
            metric_name_escaping_scheme: !raw.metric_name_escaping_scheme.is_empty(),
            scrape_native_histograms: raw.scrape_native_histograms.is_some(),
            always_scrape_classic_histograms: raw.always_scrape_classic_histograms.is_some(),
            convert_classic_histograms_to_nhcb: raw.convert_classic_histograms_to_nhcb.is_some(),
            extra_scrape_metrics: raw.extra_scrape_metrics.is_some(),
        };
        Ok(ScrapeConfig {
            job_name: raw.job_name,
            honor_labels: raw.honor_labels,
            honor_timestamps: raw.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: raw.track_timestamps_staleness,
            scheme: raw.scheme.unwrap_or_else(|| "http".into()),
            metrics_path: raw.metrics_path.unwrap_or_else(|| "/metrics".into()),
            params: raw.params,
            scrape_interval: raw.scrape_interval,
            scrape_timeout: raw.scrape_timeout,
            scrape_protocols: raw.scrape_protocols.unwrap_or_default(),
            fallback_scrape_protocol: raw.fallback_scrape_protocol,
            enable_compression: raw.enable_compression.unwrap_or(true),
            scrape_failure_log_file: raw.scrape_failure_log_file,
            body_size_limit: raw.body_size_limit,
            sample_limit: raw.sample_limit,
            target_limit: raw.target_limit,
            label_limit: raw.label_limit,
            label_name_length_limit: raw.label_name_length_limit,
            label_value_length_limit: raw.label_value_length_limit,
            keep_dropped_targets: raw.keep_dropped_targets,
            metric_name_validation_scheme: raw.metric_name_validation_scheme,
            metric_name_escaping_scheme: raw.metric_name_escaping_scheme,
            native_histogram_bucket_limit: raw.native_histogram_bucket_limit,
            native_histogram_min_bucket_factor: raw.native_histogram_min_bucket_factor,
            scrape_native_histograms: raw.scrape_native_histograms.unwrap_or(false),
            always_scrape_classic_histograms: raw.always_scrape_classic_histograms.unwrap_or(false),
            convert_classic_histograms_to_nhcb: raw
                .convert_classic_histograms_to_nhcb
                .unwrap_or(false),
            extra_scrape_metrics: raw.extra_scrape_metrics.unwrap_or(false),
            http_client_config,
            static_configs,
            file_sd_configs: non_null(
                raw.file_sd_configs,
                "empty or null section in file_sd_configs",
            )?,
            http_sd_configs: non_null(
                raw.http_sd_configs,
                "empty or null section in http_sd_configs",
            )?,
            relabel_configs,
            metric_relabel_configs,
            explicit,
        })
    }
}

impl ScrapeConfig {
    /// A job with upstream's defaults and the given global values, for
    /// callers that build configs in code (tests, `promlite-tool`).
    pub fn new(job_name: &str, global: &GlobalConfig) -> Result<ScrapeConfig, String> {
        let raw: RawScrapeConfig = serde_yaml::from_str(&format!(
            "job_name: {}",
            crate::model::labels::go_quote(job_name)
        ))
        .map_err(|e| e.to_string())?;
        let mut cfg = ScrapeConfig::try_from(raw)?;
        cfg.resolve(global)?;
        Ok(cfg)
    }

    /// Fills inherited values from `global` and runs upstream's
    /// `ScrapeConfig.Validate(globalConfig)` checks.
    pub fn resolve(&mut self, global: &GlobalConfig) -> Result<(), String> {
        let e = self.explicit.clone();
        let job = &self.job_name;
        if !e.scrape_interval {
            self.scrape_interval = global.scrape_interval;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
            ));
        }
        if !e.scrape_timeout {
            self.scrape_timeout = global.scrape_timeout.min(self.scrape_interval);
        }
        if !e.body_size_limit {
            self.body_size_limit = global.body_size_limit;
        }
        if !e.sample_limit {
            self.sample_limit = global.sample_limit;
        }
        if !e.target_limit {
            self.target_limit = global.target_limit;
        }
        if !e.label_limit {
            self.label_limit = global.label_limit;
        }
        if !e.label_name_length_limit {
            self.label_name_length_limit = global.label_name_length_limit;
        }
        if !e.label_value_length_limit {
            self.label_value_length_limit = global.label_value_length_limit;
        }
        if !e.keep_dropped_targets {
            self.keep_dropped_targets = global.keep_dropped_targets;
        }
        if !e.scrape_failure_log_file {
            self.scrape_failure_log_file = global.scrape_failure_log_file.clone();
        }
        if !e.scrape_native_histograms {
            self.scrape_native_histograms = global.scrape_native_histograms;
        }
        if !e.always_scrape_classic_histograms {
            self.always_scrape_classic_histograms = global.always_scrape_classic_histograms;
        }
        if !e.convert_classic_histograms_to_nhcb {
            self.convert_classic_histograms_to_nhcb = global.convert_classic_histograms_to_nhcb;
        }
        if !e.extra_scrape_metrics {
            self.extra_scrape_metrics = global.extra_scrape_metrics;
        }
        if !e.scrape_protocols {
            self.scrape_protocols =
                if self.scrape_native_histograms && !global.explicit_scrape_protocols.0 {
                    DEFAULT_NATIVE_HISTOGRAM_SCRAPE_PROTOCOLS
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                } else {
                    global.scrape_protocols.clone()
                };
        }
        validate_scrape_protocols(&self.scrape_protocols)
            .map_err(|err| format!("{err} for scrape config with job name {job:?}"))?;
        if !self.fallback_scrape_protocol.is_empty() {
            validate_scrape_protocol(&self.fallback_scrape_protocol).map_err(|err| {
                format!("invalid fallback_scrape_protocol for scrape config with job name {job:?}: {err}")
            })?;
        }
        let local_validation_unset = !e.metric_name_validation_scheme;
        if local_validation_unset {
            self.metric_name_validation_scheme = global.metric_name_validation_scheme.clone();
        }
        let scheme = parse_validation_scheme(&self.metric_name_validation_scheme).map_err(|_| {
            format!(
                "unknown scrape config name validation method specified, must be either '', 'legacy' or 'utf8', got {}",
                self.metric_name_validation_scheme
            )
        })?;
        // The escaping scheme follows the validation scheme when unset: a job
        // that only asks for legacy names must not inherit UTF-8 escaping.
        let global_escaping = match global.metric_name_escaping_scheme.as_str() {
            "" => default_escaping(global.name_validation_scheme()).to_string(),
            s if ESCAPING_SCHEMES.contains(&s) => s.to_string(),
            other => {
                return Err(format!(
                    "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {other:?}"
                ))
            }
        };
        if !e.metric_name_escaping_scheme {
            self.metric_name_escaping_scheme = if local_validation_unset {
                global_escaping
            } else {
                default_escaping(scheme).to_string()
            };
        }
        match self.metric_name_escaping_scheme.as_str() {
            "allow-utf-8" if scheme != NameValidationScheme::Utf8 => {
                return Err(
                    "utf8 metric names requested but validation scheme is not set to UTF8".into(),
                )
            }
            s if ESCAPING_SCHEMES.contains(&s) => {}
            other => {
                return Err(format!(
                    "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {other:?}"
                ))
            }
        }
        for r in self
            .relabel_configs
            .iter_mut()
            .chain(self.metric_relabel_configs.iter_mut())
        {
            r.name_validation_scheme = scheme;
        }
        if scheme == NameValidationScheme::Legacy {
            for r in self
                .relabel_configs
                .iter()
                .chain(&self.metric_relabel_configs)
            {
                r.validate(scheme)?;
            }
            for sc in &self.static_configs {
                for name in sc.labels.keys() {
                    if !scheme.is_valid_label_name(name) {
                        return Err(format!("{name:?} is not a valid label name"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The name validation scheme after `resolve`.
    pub fn name_validation_scheme(&self) -> NameValidationScheme {
        parse_validation_scheme(&self.metric_name_validation_scheme).unwrap_or_default()
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        resolve_path(&mut self.scrape_failure_log_file, dir);
        for f in &mut self.file_sd_configs {
            for p in &mut f.files {
                resolve_path(p, dir);
            }
        }
        for h in &mut self.http_sd_configs {
            h.http_client_config.set_directory(dir);
        }
    }
}

/// `metric_name_validation_scheme`: `utf8` (default, also ``) or `legacy`.
pub(crate) fn parse_validation_scheme(s: &str) -> Result<NameValidationScheme, ()> {
    match s {
        "" | "utf8" => Ok(NameValidationScheme::Utf8),
        "legacy" => Ok(NameValidationScheme::Legacy),
        _ => Err(()),
    }
}

fn default_escaping(scheme: NameValidationScheme) -> &'static str {
    match scheme {
        NameValidationScheme::Utf8 => "allow-utf-8",
        NameValidationScheme::Legacy => "underscores",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sd_paths() {
        for ok in [
            "a.json",
            "foo/*.slow.json",
            "x/*.yml",
            "single/file.yml",
            "a.YAML",
        ] {
            assert!(is_valid_file_sd_path(ok), "{ok}");
        }
        for bad in ["a.txt", "*/x.json", "a*b*.json", "json", "a/*/b.yml"] {
            assert!(!is_valid_file_sd_path(bad), "{bad}");
        }
    }

    #[test]
    fn protocols_are_checked() {
        assert!(validate_scrape_protocols(&[]).is_err());
        assert!(validate_scrape_protocols(&["prometheusproto".into()]).is_err());
        let dup = vec!["PrometheusProto".to_string(), "PrometheusProto".to_string()];
        assert!(validate_scrape_protocols(&dup).is_err());
        assert!(validate_scrape_protocols(&["PrometheusProto".into()]).is_ok());
    }

    #[test]
    fn timeout_inherits_min_of_global_and_interval() {
        let global = GlobalConfig::default();
        let raw: RawScrapeConfig = serde_yaml::from_str("job_name: a\nscrape_interval: 5s\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = ScrapeConfig::try_from(raw).unwrap_or_else(|e| panic!("{e}"));
        cfg.resolve(&global).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.scrape_timeout, Duration::from_secs(5));
        let cfg = ScrapeConfig::new("b", &global).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.scrape_interval, Duration::from_secs(60));
        assert_eq!(cfg.scrape_timeout, Duration::from_secs(10));
        assert_eq!(cfg.metrics_path, "/metrics");
    }
}
