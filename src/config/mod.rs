//! The `prometheus.yml` model: serde types for every section with upstream's
//! defaults, strict parsing (unknown keys are errors), upstream's validation
//! and the loader (`load_file`, `load_str`) that resolves relative paths
//! against the config file's folder.
//!
//! `config` is plain data: it starts no thread and opens no socket; the only
//! files it reads are the config file and its `scrape_config_files`.
//! Features promlite does not implement (most service discoveries, OAuth 2.0,
//! OTLP, tracing, ...) fail with `<key> is not supported by promlite`.

pub mod alerting;
pub mod glob;
pub mod http;
pub mod remote;
pub mod scrape;
pub mod storage;
pub mod types;
pub mod unsupported;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

pub use crate::model::relabel::{Action, NameValidationScheme, RelabelConfig, RelabelRegex};
pub use alerting::{AlertingConfig, AlertmanagerConfig};
pub use http::{Authorization, BasicAuth, HttpClientConfig, HttpHeader, TlsConfig};
pub use remote::{MetadataConfig, QueueConfig, RemoteReadConfig, RemoteWriteConfig};
pub use scrape::{FileSdConfig, HttpSdConfig, ScrapeConfig, StaticConfig};
pub use storage::{ExemplarsConfig, RetentionConfig, RuntimeConfig, StorageConfig, TsdbConfig};
pub use types::{with_secrets_revealed, ByteSize, Duration, Secret, Url};

use crate::model::labels::{Label, Labels, METRIC_NAME};
use scrape::{parse_validation_scheme, validate_scrape_protocols, DEFAULT_SCRAPE_PROTOCOLS};
use unsupported::{Otlp, Tracing};

/// A config could not be read, parsed or validated.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The YAML is malformed or a value is invalid. `file` is `None` for
    /// `load_str`. Serde's message carries the YAML path and line when known.
    Invalid {
        file: Option<PathBuf>,
        message: String,
    },
    /// A file pulled in by `scrape_config_files` is invalid.
    ScrapeConfigFile { file: PathBuf, message: String },
}

impl ConfigError {
    fn invalid(message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: None,
            message: message.into(),
        }
    }

    fn in_file(self, path: &Path) -> ConfigError {
        match self {
            ConfigError::Invalid {
                file: None,
                message,
            } => ConfigError::Invalid {
                file: Some(path.to_path_buf()),
                message,
            },
            other => other,
        }
    }

    /// The reason without the file prefix.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Read { source, .. } => source.to_string(),
            ConfigError::Invalid { message, .. }
            | ConfigError::ScrapeConfigFile { message, .. } => message.clone(),
        }
    }
}

impl fmt::Display for ConfigError {
    /// Upstream's wording: `parsing YAML file <file>: <reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, source } => write!(f, "open {}: {source}", file.display()),
            ConfigError::Invalid {
                file: Some(file),
                message,
            } => write!(f, "parsing YAML file {}: {message}", file.display()),
            ConfigError::Invalid {
                file: None,
                message,
            } => f.write_str(message),
            ConfigError::ScrapeConfigFile { file, message } => {
                write!(f, "{:?}: {message}", file.display().to_string())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How to load: agent mode forbids the server-only sections.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    pub agent_mode: bool,
}

/// `global`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGlobalConfig")]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub scrape_protocols: Vec<String>,
    pub evaluation_interval: Duration,
    pub rule_query_offset: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query_log_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scrape_failure_log_file: String,
    pub body_size_limit: ByteSize,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub keep_dropped_targets: u64,
    pub metric_name_validation_scheme: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name_escaping_scheme: String,
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    pub convert_classic_histograms_to_nhcb: bool,
    pub extra_scrape_metrics: bool,
    /// Whether `scrape_protocols` was written (jobs that enable native
    /// histograms only switch to the protobuf-first default when it was not).
    #[serde(skip)]
    pub(crate) explicit_scrape_protocols: types::NotCompared<bool>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig::try_from(RawGlobalConfig::default()).unwrap_or_else(|_| GlobalConfig {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            scrape_protocols: DEFAULT_SCRAPE_PROTOCOLS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            evaluation_interval: Duration::from_secs(60),
            rule_query_offset: Duration::default(),
            external_labels: BTreeMap::new(),
            query_log_file: String::new(),
            scrape_failure_log_file: String::new(),
            body_size_limit: ByteSize::default(),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: "utf8".into(),
            metric_name_escaping_scheme: String::new(),
            scrape_native_histograms: false,
            always_scrape_classic_histograms: false,
            convert_classic_histograms_to_nhcb: false,
            extra_scrape_metrics: false,
            explicit_scrape_protocols: types::NotCompared(false),
        })
    }
}

impl GlobalConfig {
    /// The external labels as a label set.
    pub fn external_labels(&self) -> Labels {
        Labels::new(
            self.external_labels
                .iter()
                .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
                .collect(),
        )
    }

    /// The name validation scheme (`utf8` unless `legacy` is set).
    pub fn name_validation_scheme(&self) -> NameValidationScheme {
        parse_validation_scheme(&self.metric_name_validation_scheme).unwrap_or_default()
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobalConfig {
    #[serde(default)]
    scrape_interval: Duration,
    #[serde(default)]
    scrape_timeout: Duration,
    #[serde(default)]
    scrape_protocols: Option<Vec<String>>,
    #[serde(default)]
    evaluation_interval: Duration,
    #[serde(default)]
    rule_query_offset: Duration,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    query_log_file: String,
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
    scrape_native_histograms: bool,
    #[serde(default)]
    always_scrape_classic_histograms: bool,
    #[serde(default)]
    convert_classic_histograms_to_nhcb: bool,
    #[serde(default)]
    extra_scrape_metrics: bool,
}

impl TryFrom<RawGlobalConfig> for GlobalConfig {
    type Error = String;

    /// Upstream's `GlobalConfig.UnmarshalYAML`.
    fn try_from(raw: RawGlobalConfig) -> Result<Self, String> {
        for (name, value) in &raw.external_labels {
            if name.is_empty() {
                return Err(format!("{name:?} is not a valid label name"));
            }
            if name == METRIC_NAME {
                return Err(format!(
                    "{METRIC_NAME:?} is not a valid external label name"
                ));
            }
            if value.is_empty() {
                return Err(format!("{value:?} is not a valid label value"));
            }
        }
        let scrape_interval = if raw.scrape_interval.is_zero() {
            Duration::from_secs(60)
        } else {
            raw.scrape_interval
        };
        if raw.scrape_timeout > scrape_interval {
            return Err("global scrape timeout greater than scrape interval".into());
        }
        let scrape_timeout = if raw.scrape_timeout.is_zero() {
            Duration::from_secs(10).min(scrape_interval)
        } else {
            raw.scrape_timeout
        };
        let evaluation_interval = if raw.evaluation_interval.is_zero() {
            Duration::from_secs(60)
        } else {
            raw.evaluation_interval
        };
        let explicit_scrape_protocols = raw.scrape_protocols.is_some();
        let scrape_protocols = match raw.scrape_protocols {
            Some(p) => p,
            None if raw.scrape_native_histograms => {
                scrape::DEFAULT_NATIVE_HISTOGRAM_SCRAPE_PROTOCOLS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }
            None => DEFAULT_SCRAPE_PROTOCOLS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        validate_scrape_protocols(&scrape_protocols)
            .map_err(|e| format!("{e} for global config"))?;
        let scheme = parse_validation_scheme(&raw.metric_name_validation_scheme).map_err(|_| {
            format!(
                "unknown global name validation method specified, must be either '', 'legacy' or 'utf8', got {}",
                raw.metric_name_validation_scheme
            )
        })?;
        let escaping = raw.metric_name_escaping_scheme.as_str();
        if !escaping.is_empty() && !scrape::ESCAPING_SCHEMES.contains(&escaping) {
            return Err(format!(
                "invalid metric name escaping scheme, unrecognized name escaping scheme {escaping:?}"
            ));
        }
        if scheme == NameValidationScheme::Legacy && escaping == "allow-utf-8" {
            return Err("global.metric_name_escaping_scheme cannot be set to 'allow-utf-8' while global.metric_name_validation_scheme is not set to UTF8".into());
        }
        if scheme == NameValidationScheme::Legacy {
            for name in raw.external_labels.keys() {
                if !scheme.is_valid_label_name(name) {
                    return Err(format!("{name:?} is not a valid label name"));
                }
            }
        }
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            scrape_protocols,
            evaluation_interval,
            rule_query_offset: raw.rule_query_offset,
            external_labels: raw.external_labels,
            query_log_file: raw.query_log_file,
            scrape_failure_log_file: raw.scrape_failure_log_file,
            body_size_limit: raw.body_size_limit,
            sample_limit: raw.sample_limit,
            target_limit: raw.target_limit,
            label_limit: raw.label_limit,
            label_name_length_limit: raw.label_name_length_limit,
            label_value_length_limit: raw.label_value_length_limit,
            keep_dropped_targets: raw.keep_dropped_targets,
            metric_name_validation_scheme: match scheme {
                NameValidationScheme::Utf8 => "utf8".into(),
                NameValidationScheme::Legacy => "legacy".into(),
            },
            metric_name_escaping_scheme: raw.metric_name_escaping_scheme,
            scrape_native_histograms: raw.scrape_native_histograms,
            always_scrape_classic_histograms: raw.always_scrape_classic_histograms,
            convert_classic_histograms_to_nhcb: raw.convert_classic_histograms_to_nhcb,
            extra_scrape_metrics: raw.extra_scrape_metrics,
            explicit_scrape_protocols: types::NotCompared(explicit_scrape_protocols),
        })
    }
}

/// The whole `prometheus.yml` after loading: defaults applied, inherited
/// values resolved, relative paths made absolute.
#[derive(Clone, Debug, PartialEq, Default, Serialize)]
pub struct Config {
    pub global: GlobalConfig,
    pub runtime: RuntimeConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(skip_serializing_if = "AlertingConfig::is_empty")]
    pub alerting: AlertingConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWriteConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_read: Vec<RemoteReadConfig>,
    #[serde(skip_serializing_if = "is_default_storage")]
    pub storage: StorageConfig,
}

fn is_default_storage(s: &StorageConfig) -> bool {
    *s == StorageConfig::default()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<GlobalConfig>,
    #[serde(default)]
    runtime: Option<RuntimeConfig>,
    #[serde(default, deserialize_with = "seq_or_null")]
    rule_files: Vec<Option<String>>,
    #[serde(default, deserialize_with = "seq_or_null")]
    scrape_config_files: Vec<Option<String>>,
    #[serde(default, deserialize_with = "seq_or_null")]
    scrape_configs: Vec<Option<ScrapeConfig>>,
    #[serde(default)]
    alerting: Option<AlertingConfig>,
    #[serde(default, deserialize_with = "seq_or_null")]
    remote_write: Vec<Option<RemoteWriteConfig>>,
    #[serde(default, deserialize_with = "seq_or_null")]
    remote_read: Vec<Option<RemoteReadConfig>>,
    #[serde(default)]
    storage: Option<StorageConfig>,
    // Never read: deserialising either is the "not supported" error.
    #[allow(dead_code)]
    #[serde(default)]
    otlp: Option<Otlp>,
    #[allow(dead_code)]
    #[serde(default)]
    tracing: Option<Tracing>,
}

/// The file format of `scrape_config_files`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfigsFile {
    #[serde(default, deserialize_with = "seq_or_null")]
    scrape_configs: Vec<Option<ScrapeConfig>>,
}

/// Loads and validates a config file. Relative paths inside it are resolved
/// against its folder.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    load_file_with(path, LoadOptions::default())
}

/// `load_file` with options (agent mode).
pub fn load_file_with(path: &Path, opts: LoadOptions) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_str_with(&text, dir, opts).map_err(|e| e.in_file(path))
}

/// Parses and validates config text; relative paths are resolved against `base_dir`.
pub fn load_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
    load_str_with(text, base_dir, LoadOptions::default())
}

/// `load_str` with options (agent mode).
pub fn load_str_with(
    text: &str,
    base_dir: &Path,
    opts: LoadOptions,
) -> Result<Config, ConfigError> {
    let raw: RawConfig = if is_blank_yaml(text) {
        RawConfig::default()
    } else {
        let text = decode_binary_scalars(text).map_err(ConfigError::invalid)?;
        serde_yaml::from_str(&text).map_err(|e| ConfigError::invalid(e.to_string()))?
    };
    let mut cfg = Config {
        global: raw.global.unwrap_or_default(),
        runtime: raw.runtime.unwrap_or_default(),
        rule_files: non_null(raw.rule_files, "empty or null rule file path")
            .map_err(ConfigError::invalid)?,
        scrape_config_files: non_null(
            raw.scrape_config_files,
            "empty or null scrape config file path",
        )
        .map_err(ConfigError::invalid)?,
        scrape_configs: non_null(raw.scrape_configs, "empty or null scrape config section")
            .map_err(ConfigError::invalid)?,
        alerting: raw.alerting.unwrap_or_default(),
        remote_write: non_null(
            raw.remote_write,
            "empty or null remote write config section",
        )
        .map_err(ConfigError::invalid)?,
        remote_read: non_null(raw.remote_read, "empty or null remote read config section")
            .map_err(ConfigError::invalid)?,
        storage: raw.storage.unwrap_or_default(),
    };
    cfg.validate(opts).map_err(ConfigError::invalid)?;
    cfg.expand_external_labels();
    cfg.set_directory(base_dir);
    if !cfg.scrape_config_files.is_empty() {
        cfg.get_scrape_configs()?;
    }
    Ok(cfg)
}

/// Replaces each `!!binary "<base64>"` scalar by the text it encodes.
/// The YAML parser would hand the base64 text through unchanged, while
/// upstream decodes it; bytes that are not UTF-8 can never be a label name
/// or value, so they are rejected here with the line.
fn decode_binary_scalars(text: &str) -> Result<std::borrow::Cow<'_, str>, String> {
    const TAG: &str = "!!binary";
    if !text.contains(TAG) {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(TAG) {
        out.push_str(&rest[..pos]);
        let line = text.len() - rest.len() + pos;
        let line = text[..line].matches('\n').count() + 1;
        let after = rest[pos + TAG.len()..].trim_start_matches([' ', '\t']);
        let (encoded, used) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => match after[1..].find(q) {
                Some(end) => (&after[1..end + 1], end + 2),
                None => return Err(format!("line {line}: unterminated !!binary value")),
            },
            _ => {
                let end = after
                    .find(|c: char| c.is_whitespace() || ":,]}#".contains(c))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        let bytes = decode_base64(encoded).ok_or_else(|| {
            format!("line {line}: !!binary value {encoded:?} is not valid base64")
        })?;
        let decoded = String::from_utf8(bytes).map_err(|e| {
            let shown: String = e.as_bytes().iter().map(|b| format!("\\x{b:02x}")).collect();
            format!(
                "line {line}: \"{shown}\" is not valid UTF-8; label names and values must be UTF-8"
            )
        })?;
        out.push_str(&crate::model::labels::go_quote(&decoded));
        rest = &after[used..];
    }
    out.push_str(rest);
    Ok(std::borrow::Cow::Owned(out))
}

/// Standard base64 with optional padding and embedded whitespace.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// An empty document (or only comments) is a valid, all-defaults config.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    })
}

impl Config {
    /// The checks of upstream's `Config.UnmarshalYAML` that span sections.
    fn validate(&mut self, opts: LoadOptions) -> Result<(), String> {
        if opts.agent_mode {
            if !self.alerting.is_empty() {
                return Err("field alerting is not allowed in agent mode".into());
            }
            if !self.rule_files.is_empty() {
                return Err("field rule_files is not allowed in agent mode".into());
            }
            if !self.remote_read.is_empty() {
                return Err("field remote_read is not allowed in agent mode".into());
            }
        }
        for rf in &self.rule_files {
            if !glob::is_valid_glob_path(rf) {
                return Err(format!("invalid rule file path {rf:?}"));
            }
        }
        for sf in &self.scrape_config_files {
            if !glob::is_valid_glob_path(sf) {
                return Err(format!("invalid scrape config file path {sf:?}"));
            }
        }
        let mut jobs = std::collections::HashSet::new();
        for sc in &mut self.scrape_configs {
            sc.resolve(&self.global)?;
            if !jobs.insert(sc.job_name.clone()) {
                return Err(format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                ));
            }
        }
        let scheme = self.global.name_validation_scheme();
        if scheme == NameValidationScheme::Legacy {
            let rules = self
                .alerting
                .alert_relabel_configs
                .iter()
                .chain(self.alerting.alertmanagers.iter().flat_map(|a| {
                    a.relabel_configs
                        .iter()
                        .chain(a.alert_relabel_configs.iter())
                }))
                .chain(
                    self.remote_write
                        .iter()
                        .flat_map(|r| r.write_relabel_configs.iter()),
                );
            for r in rules {
                r.validate(scheme)?;
            }
        }
        let mut names = std::collections::HashSet::new();
        for rw in &self.remote_write {
            if !rw.name.is_empty() && !names.insert(rw.name.clone()) {
                return Err(format!(
                    "found multiple remote write configs with job name {:?}",
                    rw.name
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for rr in &self.remote_read {
            if !rr.name.is_empty() && !names.insert(rr.name.clone()) {
                return Err(format!(
                    "found multiple remote read configs with job name {:?}",
                    rr.name
                ));
            }
        }
        self.storage.validate()
    }

    /// `$VAR` and `${VAR}` in external label values expand from the
    /// environment (`$$` is a literal `$`), as upstream 3.x always does.
    fn expand_external_labels(&mut self) {
        for v in self.global.external_labels.values_mut() {
            if v.contains('$') {
                *v = expand_env(v, |name| std::env::var(name).unwrap_or_default());
            }
        }
        self.global.external_labels.retain(|_, v| !v.is_empty());
    }

    /// Resolves every relative path against `dir` (upstream's `SetDirectory`).
    fn set_directory(&mut self, dir: &Path) {
        http::resolve_path(&mut self.global.query_log_file, dir);
        http::resolve_path(&mut self.global.scrape_failure_log_file, dir);
        for f in self
            .rule_files
            .iter_mut()
            .chain(self.scrape_config_files.iter_mut())
        {
            http::resolve_path(f, dir);
        }
        for sc in &mut self.scrape_configs {
            sc.set_directory(dir);
        }
        for am in &mut self.alerting.alertmanagers {
            am.set_directory(dir);
        }
        for rw in &mut self.remote_write {
            rw.set_directory(dir);
        }
        for rr in &mut self.remote_read {
            rr.set_directory(dir);
        }
    }

    /// Every scrape config: the ones in this file, then the ones in the files
    /// `scrape_config_files` matches (read now, as upstream does at each
    /// apply), each validated against `global`. Job names must be unique
    /// across all of them.
    pub fn get_scrape_configs(&self) -> Result<Vec<ScrapeConfig>, ConfigError> {
        let mut out = self.scrape_configs.clone();
        let mut seen: HashMap<String, String> = out
            .iter()
            .map(|sc| (sc.job_name.clone(), "main config file".to_string()))
            .collect();
        for pattern in &self.scrape_config_files {
            for file in glob::glob(pattern) {
                let file_err = |message: String| ConfigError::ScrapeConfigFile {
                    file: file.clone(),
                    message,
                };
                let text = std::fs::read_to_string(&file).map_err(|e| file_err(e.to_string()))?;
                let parsed: ScrapeConfigsFile = if is_blank_yaml(&text) {
                    ScrapeConfigsFile {
                        scrape_configs: Vec::new(),
                    }
                } else {
                    serde_yaml::from_str(&text).map_err(|e| file_err(e.to_string()))?
                };
                let configs =
                    non_null(parsed.scrape_configs, "empty or null scrape config section")
                        .map_err(file_err)?;
                let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
                for mut sc in configs {
                    sc.resolve(&self.global).map_err(file_err)?;
                    if let Some(first) = seen.get(&sc.job_name) {
                        return Err(file_err(format!(
                            "found multiple scrape configs with job name {:?}, first found in {first}",
                            sc.job_name
                        )));
                    }
                    seen.insert(
                        sc.job_name.clone(),
                        format!("{:?}", file.display().to_string()),
                    );
                    sc.set_directory(&dir);
                    out.push(sc);
                }
            }
        }
        Ok(out)
    }

    /// The config as YAML, secrets shown as `<secret>` (for
    /// `/api/v1/status/config`).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// The config as YAML with real secret values, which loads back to an
    /// equal `Config`. Never serve this.
    pub fn to_yaml_with_secrets(&self) -> String {
        types::with_secrets_revealed(|| self.to_yaml())
    }
}

/// Go's `os.Expand`: `$name`, `${name}`, and single-character special names
/// such as `$$` and `$1`; a `$` not followed by a name stays as it is.
fn expand_env(s: &str, lookup: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, width) = shell_name(after);
        match name {
            Some("$") => out.push('$'),
            Some(n) => out.push_str(&lookup(n)),
            None if width == 0 => out.push('$'),
            None => {}
        }
        rest = &after[width..];
    }
    out.push_str(rest);
    out
}

/// Go's `getShellName`: the name after `$` and how many bytes it used.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    let special = |c: u8| b"*#$@!?-".contains(&c) || c.is_ascii_digit();
    match b.first() {
        None => (None, 0),
        Some(b'{') => {
            if b.len() > 2 && special(b[1]) && b[2] == b'}' {
                return (Some(&s[1..2]), 3);
            }
            match s.find('}') {
                Some(1) => (None, 2),
                Some(end) => (Some(&s[1..end]), end + 1),
                None => (None, 1),
            }
        }
        Some(&c) if special(c) => (Some(&s[..1]), 1),
        Some(_) => {
            let end = b
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .unwrap_or(b.len());
            if end == 0 {
                (None, 0)
            } else {
                (Some(&s[..end]), end)
            }
        }
    }
}

/// Reads a YAML sequence that may be written as `key:` (null) for "none".
/// Elements stay `Option` so a `- ` (null) entry can be reported.
pub(crate) fn seq_or_null<'de, D, T>(d: D) -> Result<Vec<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<Option<T>>>::deserialize(d)?.unwrap_or_default())
}

/// Fails with upstream's `msg` if any entry is null.
pub(crate) fn non_null<T>(items: Vec<Option<T>>, msg: &str) -> Result<Vec<T>, String> {
    items
        .into_iter()
        .map(|i| i.ok_or_else(|| msg.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        load_str(text, Path::new("/base")).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_config_has_upstream_defaults() {
        let cfg = load("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.global.scrape_interval, Duration::from_secs(60));
        assert_eq!(cfg.global.scrape_timeout, Duration::from_secs(10));
        assert_eq!(cfg.global.evaluation_interval, Duration::from_secs(60));
        assert!(cfg.scrape_configs.is_empty());
    }

    #[test]
    fn unknown_keys_are_errors_with_line() {
        let err = load("global:\n  scrape_interval: 15s\n  bogus: 1\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("unknown field `bogus`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn duplicate_jobs_and_timeouts() {
        let dup = "scrape_configs:\n  - job_name: a\n  - job_name: a\n";
        assert_eq!(
            load(dup).err().unwrap_or_default(),
            r#"found multiple scrape configs with job name "a""#
        );
        let slow =
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n";
        assert!(load(slow)
            .err()
            .unwrap_or_default()
            .contains("scrape timeout greater"));
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let cfg = load("rule_files: [a.rules, /abs/b.rules]\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.rule_files, vec!["/base/a.rules", "/abs/b.rules"]);
    }

    #[test]
    fn unsupported_features_name_the_key() {
        let k8s =
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pod\n";
        let err = load(k8s).err().unwrap_or_default();
        assert!(
            err.contains("kubernetes_sd_configs is not supported by promlite"),
            "{err}"
        );
        let err = load("otlp:\n  translation_strategy: NoTranslation\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("otlp is not supported by promlite"), "{err}");
    }

    #[test]
    fn secrets_are_hidden_on_output() {
        let text = "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\n";
        let cfg = load(text).unwrap_or_else(|e| panic!("{e}"));
        let yaml = cfg.to_yaml();
        assert!(!yaml.contains("hunter2"), "{yaml}");
        assert!(yaml.contains("<secret>"), "{yaml}");
    }

    #[test]
    fn binary_scalars_are_decoded() {
        let cfg = load("global:\n  external_labels:\n    a: !!binary \"YWJj\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cfg.global.external_labels.get("a").map(String::as_str),
            Some("abc")
        );
        let err = load("global:\n  external_labels:\n    !!binary \"/w==\": v\n").err();
        assert!(err.unwrap_or_default().contains("line 3"));
    }

    #[test]
    fn env_expansion_matches_go() {
        let env = |n: &str| {
            if n == "TEST" {
                "x".to_string()
            } else {
                String::new()
            }
        };
        assert_eq!(expand_env("${TEST}", env), "x");
        assert_eq!(expand_env("foo${TEST}bar", env), "fooxbar");
        assert_eq!(expand_env("foo$${TEST}", env), "foo${TEST}");
        assert_eq!(expand_env("foo$$bar", env), "foo$bar");
        assert_eq!(expand_env("a$", env), "a$");
        assert_eq!(expand_env("$TEST-1", env), "x-1");
    }
}
