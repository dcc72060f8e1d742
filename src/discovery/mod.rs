//! Service discovery, as upstream's `discovery` package: providers turn a
//! job's `*_sd_configs` into target groups, and the `DiscoveryManager` runs
//! them and sends `job → [TargetGroup]` to its consumer (the scrape manager or
//! the notifier).
//!
//! Providers here: `static_configs`, `file_sd_configs` (JSON/YAML, globs, mtime
//! polling) and `http_sd_configs`. The module owns its provider settings
//! (`SdConfig`); converting `prometheus.yml` sections into them is the config
//! adapter's job. Discovery never appends samples and never scrapes.

mod file;
mod http;
mod manager;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::model::{Label, Labels};

pub use file::{FileSdConfig, FILE_READ_ERRORS_METRIC};
pub use http::HttpSdConfig;
pub use manager::{DiscoveryManager, DiscoveryOptions, TargetSets};

/// The label holding a target's address.
pub const ADDRESS_LABEL: &str = "__address__";

/// A set of targets sharing labels, from one source of one provider
/// (upstream's `targetgroup.Group`). An empty `targets` list for a known
/// `source` means "that source has no targets any more".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetGroup {
    /// Unique within its provider (file path and index, URL and index, ...).
    pub source: String,
    /// One label set per target, each at least with `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to every target of the group.
    pub labels: Labels,
}

/// One provider's settings.
#[derive(Clone, Debug, PartialEq)]
pub enum SdConfig {
    /// `static_configs`: the groups are the configuration itself.
    Static(Vec<TargetGroup>),
    File(FileSdConfig),
    Http(HttpSdConfig),
}

impl SdConfig {
    /// A `static_configs` entry from addresses and common labels.
    pub fn static_targets(targets: &[&str], labels: Labels) -> SdConfig {
        SdConfig::Static(vec![TargetGroup {
            source: "0".to_string(),
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs(&[(ADDRESS_LABEL, t)]))
                .collect(),
            labels,
        }])
    }
}

/// Why a provider could not produce targets. Providers log these and keep
/// their last good targets.
#[derive(Debug, Clone, PartialEq)]
pub enum DiscoveryError {
    /// A file could not be read.
    Read { path: String, error: String },
    /// A file or response is not in the target-group format.
    Format { source: String, error: String },
    /// An HTTP SD request failed.
    Http { url: String, error: String },
    /// A pattern or option promlite does not handle.
    Unsupported(String),
    /// A provider setting that cannot be used (names the job).
    Config(String),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Read { path, error } => {
                write!(f, "error reading file {path:?}: {error}")
            }
            DiscoveryError::Format { source, error } => {
                write!(f, "error parsing target groups from {source:?}: {error}")
            }
            DiscoveryError::Http { url, error } => {
                write!(f, "error fetching targets from {url:?}: {error}")
            }
            DiscoveryError::Unsupported(what) => {
                write!(f, "{what} is not supported by promlite")
            }
            DiscoveryError::Config(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// The `[{targets: [...], labels: {...}}]` document shared by file SD and
/// HTTP SD.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Turns a target-group document into groups: each group gets
/// `extra_label` (`__meta_filepath`, `__meta_url`) and the source
/// `<prefix>:<index>`.
pub(crate) fn groups_from_document(
    raw: Vec<RawGroup>,
    source_prefix: &str,
    extra_label: (&str, &str),
) -> Result<Vec<TargetGroup>, String> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, g) in raw.into_iter().enumerate() {
        let mut labels: Vec<Label> = Vec::new();
        for (name, value) in g.labels.unwrap_or_default() {
            // 3.x validates names as UTF-8: anything but the empty string.
            if name.is_empty() {
                return Err("invalid label name \"\"".to_string());
            }
            labels.push(Label::new(name, value));
        }
        labels.push(Label::new(extra_label.0, extra_label.1));
        let mut targets = Vec::new();
        for t in g.targets.unwrap_or_default() {
            if t.contains('/') {
                return Err(format!("{t:?} is not a valid hostname"));
            }
            targets.push(Labels::from_pairs(&[(ADDRESS_LABEL, &t)]));
        }
        out.push(TargetGroup {
            source: format!("{source_prefix}:{i}"),
            targets,
            labels: Labels::new(labels),
        });
    }
    Ok(out)
}

/// Parses a JSON target-group document.
pub(crate) fn parse_json_groups(body: &[u8]) -> Result<Vec<RawGroup>, String> {
    serde_json::from_slice::<Option<Vec<RawGroup>>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| e.to_string())
}

/// Parses a YAML target-group document.
pub(crate) fn parse_yaml_groups(body: &[u8]) -> Result<Vec<RawGroup>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_yaml::from_slice::<Option<Vec<RawGroup>>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| e.to_string())
}

/// The providers of every job of a scrape configuration (the adapter from
/// `scrape_configs` to `DiscoveryManager::apply_config`). HTTP SD auth
/// headers are resolved here; an unsupported HTTP client option is an error
/// naming the job.
pub fn sd_configs_from_scrape_configs(
    cfgs: &[crate::config::ScrapeConfig],
) -> Result<HashMap<String, Vec<SdConfig>>, DiscoveryError> {
    let mut out = HashMap::new();
    for c in cfgs {
        let sds = provider_configs(
            &c.job_name,
            &c.static_configs,
            &c.file_sd_configs,
            &c.http_sd_configs,
        )?;
        out.insert(c.job_name.clone(), sds);
    }
    Ok(out)
}

/// The providers of the notifier's discovery: one set per
/// `alerting.alertmanagers` entry, keyed `config-<index>` as upstream.
pub fn sd_configs_from_alertmanagers(
    cfgs: &[crate::config::AlertmanagerConfig],
) -> Result<HashMap<String, Vec<SdConfig>>, DiscoveryError> {
    let mut out = HashMap::new();
    for (i, c) in cfgs.iter().enumerate() {
        let key = format!("config-{i}");
        let sds = provider_configs(
            &key,
            &c.static_configs,
            &c.file_sd_configs,
            &c.http_sd_configs,
        )?;
        out.insert(key, sds);
    }
    Ok(out)
}

fn provider_configs(
    name: &str,
    statics: &[crate::config::StaticConfig],
    files: &[crate::config::FileSdConfig],
    https: &[crate::config::HttpSdConfig],
) -> Result<Vec<SdConfig>, DiscoveryError> {
    let mut sds = Vec::new();
    if !statics.is_empty() {
        let groups = statics
            .iter()
            .enumerate()
            .map(|(i, sc)| TargetGroup {
                source: i.to_string(),
                targets: sc
                    .targets
                    .iter()
                    .map(|t| Labels::from_pairs(&[(ADDRESS_LABEL, t)]))
                    .collect(),
                labels: Labels::new(
                    sc.labels
                        .iter()
                        .map(|(k, v)| Label::new(k.clone(), v.clone()))
                        .collect(),
                ),
            })
            .collect();
        sds.push(SdConfig::Static(groups));
    }
    for f in files {
        sds.push(SdConfig::File(FileSdConfig {
            files: f.files.clone(),
            refresh_interval: f.refresh_interval.to_std(),
        }));
    }
    for h in https {
        let config_err =
            |e: crate::scrape::ScrapeError| DiscoveryError::Config(format!("{name:?}: {e}"));
        let http =
            crate::scrape::HttpSettings::from_client(&h.http_client_config).map_err(config_err)?;
        let mut headers = http.headers.clone();
        if let Some(auth) = http.authorization_header().map_err(config_err)? {
            headers.push(("Authorization".to_string(), auth));
        }
        sds.push(SdConfig::Http(HttpSdConfig {
            url: h.url.as_str().to_string(),
            refresh_interval: h.refresh_interval.to_std(),
            headers,
        }));
    }
    Ok(sds)
}

/// Upstream's default refresh interval for file and HTTP SD.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60 * 5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_to_groups() {
        let doc = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#;
        let groups = groups_from_document(
            parse_json_groups(doc).unwrap_or_default(),
            "f.json",
            ("__meta_filepath", "f.json"),
        )
        .unwrap_or_default();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "f.json:0");
        assert_eq!(groups[0].targets.len(), 2);
        assert_eq!(groups[0].labels.get("env"), Some("prod"));
        assert_eq!(groups[0].labels.get("__meta_filepath"), Some("f.json"));
        assert!(groups[1].targets.is_empty());
    }

    #[test]
    fn bad_documents_are_errors() {
        assert!(parse_json_groups(b"{").is_err());
        assert!(parse_json_groups(br#"[{"targets": ["a"], "bogus": 1}]"#).is_err());
        assert!(parse_yaml_groups(b"- targets: [a:1]\n  labels: {a: b}\n").is_ok());
        assert!(parse_yaml_groups(b"").is_ok_and(|g| g.is_empty()));
        let raw = parse_json_groups(br#"[{"targets": ["http://a/b"]}]"#).unwrap_or_default();
        assert!(groups_from_document(raw, "x", ("__meta_url", "x")).is_err());
    }
}
