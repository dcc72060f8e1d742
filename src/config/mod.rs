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
pub mod global;
pub mod http;
pub mod remote;
pub mod scrape;
pub mod storage;
mod text;
pub mod types;
pub mod unsupported;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

pub use crate::model::relabel::{Action, NameValidationScheme, RelabelConfig, RelabelRegex};
pub use alerting::{AlertingConfig, AlertmanagerConfig};
pub use global::GlobalConfig;
pub use http::{Authorization, BasicAuth, HttpClientConfig, HttpHeader, TlsConfig};
pub use remote::{MetadataConfig, QueueConfig, RemoteReadConfig, RemoteWriteConfig};
pub use scrape::{FileSdConfig, HttpSdConfig, ScrapeConfig, StaticConfig};
pub use storage::{ExemplarsConfig, RetentionConfig, RuntimeConfig, StorageConfig, TsdbConfig};
pub use types::{with_secrets_revealed, ByteSize, Duration, Secret, Url};

use text::{decode_binary_scalars, expand_env, is_blank_yaml, parse_yaml};
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
            ConfigError::Read { source, .. } => go_io_reason(source),
            ConfigError::Invalid { message, .. }
            | ConfigError::ScrapeConfigFile { message, .. } => message.clone(),
        }
    }
}

impl fmt::Display for ConfigError {
    /// Upstream's wording: `parsing YAML file <file>: <reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, source } => {
                write!(f, "open {}: {}", file.display(), go_io_reason(source))
            }
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

/// Go's wording for the IO errors a user meets most, so messages match
/// upstream's (`open x.yml: no such file or directory`).
fn go_io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
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
        parse_yaml(&text).map_err(ConfigError::invalid)?
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
    cfg.validate(opts, text).map_err(ConfigError::invalid)?;
    cfg.expand_external_labels();
    cfg.set_directory(base_dir);
    if !cfg.scrape_config_files.is_empty() {
        cfg.get_scrape_configs()?;
    }
    Ok(cfg)
}

impl Config {
    /// The checks of upstream's `Config.UnmarshalYAML` that span sections.
    fn validate(&mut self, opts: LoadOptions, text: &str) -> Result<(), String> {
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
            let seen_before = jobs.contains(&sc.job_name);
            sc.resolve(&self.global)
                .map_err(|e| with_job_line(e, text, &sc.job_name, usize::from(seen_before)))?;
            if seen_before {
                let msg = format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                );
                return Err(with_job_line(msg, text, &sc.job_name, 1));
            }
            jobs.insert(sc.job_name.clone());
        }
        let scheme = self.global.name_validation_scheme();
        let global_rules = self
            .alerting
            .alert_relabel_configs
            .iter_mut()
            .chain(self.alerting.alertmanagers.iter_mut().flat_map(|a| {
                a.relabel_configs
                    .iter_mut()
                    .chain(a.alert_relabel_configs.iter_mut())
            }))
            .chain(
                self.remote_write
                    .iter_mut()
                    .flat_map(|r| r.write_relabel_configs.iter_mut()),
            );
        for r in global_rules {
            r.name_validation_scheme = scheme;
        }
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
                // Upstream names the file by its absolute path here.
                let shown = std::path::absolute(&file).unwrap_or_else(|_| file.clone());
                let file_err = |message: String| ConfigError::ScrapeConfigFile {
                    file: shown.clone(),
                    message,
                };
                let text = std::fs::read_to_string(&file).map_err(|e| file_err(e.to_string()))?;
                let parsed: ScrapeConfigsFile = if is_blank_yaml(&text) {
                    ScrapeConfigsFile {
                        scrape_configs: Vec::new(),
                    }
                } else {
                    parse_yaml(&text).map_err(file_err)?
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

/// Adds ` at line N` (the line of the job's `job_name`, its `nth`
/// occurrence counting from 0) to a job-level error found after parsing,
/// where the YAML parser no longer knows positions.
fn with_job_line(message: String, text: &str, job: &str, nth: usize) -> String {
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix("job_name:").is_some_and(|v| {
                let v = v.split(" #").next().unwrap_or("").trim();
                v.trim_matches(|c| c == '"' || c == '\'') == job
            })
        })
        .nth(nth)
        .map(|(i, _)| i + 1);
    match line {
        Some(n) => format!("{message} at line {n}"),
        None => message,
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
    fn missing_file_reads_like_go() {
        let err = load_file(Path::new("/nonexistent/prometheus.yml"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("open /nonexistent/prometheus.yml: no such file or directory")
        );
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
            r#"found multiple scrape configs with job name "a" at line 3"#
        );
        let slow =
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n";
        let err = load(slow).err().unwrap_or_default();
        assert!(err.contains("scrape timeout greater"), "{err}");
        assert!(err.ends_with("at line 2"), "{err}");
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
        // Empty sections configure nothing and load.
        let empty = "otlp: {}\nscrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: []\n";
        assert!(load(empty).is_ok(), "{:?}", load(empty).err());
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
    fn validation_scheme_reaches_relabel_rules() {
        let text = "global:\n  metric_name_validation_scheme: legacy\nscrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {target_label: b, replacement: c}\nremote_write:\n  - url: http://x/\n    write_relabel_configs:\n      - {target_label: b, replacement: c}\n";
        let cfg = load(text).unwrap_or_else(|e| panic!("{e}"));
        let job = &cfg.scrape_configs[0];
        assert_eq!(job.metric_name_escaping_scheme, "underscores");
        assert_eq!(
            job.relabel_configs[0].name_validation_scheme,
            NameValidationScheme::Legacy
        );
        assert_eq!(
            cfg.remote_write[0].write_relabel_configs[0].name_validation_scheme,
            NameValidationScheme::Legacy
        );
        // A job may opt back into UTF-8 names.
        let text = "global:\n  metric_name_validation_scheme: legacy\nscrape_configs:\n  - job_name: a\n    metric_name_validation_scheme: utf8\n";
        let cfg = load(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cfg.scrape_configs[0].metric_name_escaping_scheme,
            "allow-utf-8"
        );
    }

    #[test]
    fn external_labels_rules() {
        let err = load("global:\n  external_labels:\n    __name__: x\n").err();
        assert!(err.unwrap_or_default().contains("__name__"));
        let err = load(
            "global:\n  metric_name_validation_scheme: legacy\n  external_labels:\n    a.b: x\n",
        )
        .err();
        assert!(err
            .unwrap_or_default()
            .contains("\"a.b\" is not a valid label name"));
        let cfg = load("global:\n  external_labels:\n    a.b: x\n    empty: ''\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.global.external_labels().to_string(), r#"{a.b="x"}"#);
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
}
