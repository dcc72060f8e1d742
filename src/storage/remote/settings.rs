//! The settings remote storage runs on: one [`RemoteWriteSettings`] per
//! `remote_write` entry, one [`RemoteReadSettings`] per `remote_read` entry,
//! with upstream's defaults. They are plain data, built from the parsed
//! `prometheus.yml` by the config layer (`config::RemoteWriteConfig` and
//! friends map one-to-one onto these), so this module does not depend on how
//! the YAML is parsed. Equality decides whether a reload keeps a queue.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::model::Labels;

/// A secret given inline or read from a file at every use (so a rotated
/// token file takes effect without a reload, as upstream).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    /// The secret's current value; a file's trailing newline is trimmed.
    pub fn value(&self) -> Result<String, std::io::Error> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
        }
    }
}

impl fmt::Debug for Secret {
    // Never print a secret, as upstream's `<secret>` type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("<secret>"),
            Secret::File(p) => write!(f, "<secret file {}>", p.display()),
        }
    }
}

/// `basic_auth` of `<http_config>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<Secret>,
}

/// `authorization` of `<http_config>`: `Authorization: <type> <credentials>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// Defaults to `Bearer`.
    pub kind: String,
    pub credentials: Option<Secret>,
}

/// The parts of `<http_config>` promlite's remote clients honour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpClientSettings {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    /// Extra headers; headers promlite sets itself cannot be overwritten.
    pub headers: BTreeMap<String, String>,
    /// `remote_timeout`: the whole request, connect to last byte.
    pub timeout: Duration,
}

impl HttpClientSettings {
    /// No auth, no headers, the given timeout.
    pub fn with_timeout(timeout: Duration) -> HttpClientSettings {
        HttpClientSettings {
            basic_auth: None,
            authorization: None,
            headers: BTreeMap::new(),
            timeout,
        }
    }
}

/// `queue_config` with upstream's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Samples buffered per shard before the WAL reader blocks.
    pub capacity: usize,
    pub max_shards: usize,
    pub min_shards: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_http_429: bool,
    /// Samples older than this are not sent; zero sends everything.
    pub sample_age_limit: Duration,
}

impl Default for QueueSettings {
    fn default() -> QueueSettings {
        QueueSettings {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::ZERO,
        }
    }
}

/// The relabeling function of `write_relabel_configs`: `None` drops the series.
pub type RelabelFn = dyn Fn(&Labels) -> Option<Labels> + Send + Sync;

/// `write_relabel_configs`, compiled by the config layer (with
/// `model::relabel::process`). `rules_id` is a canonical text of the rules
/// (e.g. their YAML) and is what equality compares, because closures cannot
/// be compared.
#[derive(Clone, Default)]
pub struct WriteRelabel {
    pub rules_id: String,
    pub apply: Option<Arc<RelabelFn>>,
}

impl WriteRelabel {
    /// Applies the rules; no rules keep the labels.
    pub fn process(&self, labels: Labels) -> Option<Labels> {
        match &self.apply {
            Some(f) => f(&labels),
            None => Some(labels),
        }
    }
}

impl PartialEq for WriteRelabel {
    fn eq(&self, other: &Self) -> bool {
        self.rules_id == other.rules_id
    }
}

impl fmt::Debug for WriteRelabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteRelabel({:?})", self.rules_id)
    }
}

/// One `remote_write` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWriteSettings {
    pub url: String,
    /// `name`; when empty a name is derived from a hash of the entry.
    pub name: String,
    pub http: HttpClientSettings,
    pub queue: QueueSettings,
    pub write_relabel: WriteRelabel,
    /// `send_exemplars` (accepted; exemplars are not in the WAL records
    /// promlite tails yet, so none are sent).
    pub send_exemplars: bool,
    /// `metadata_config.send`: send metric metadata every interval (needs a
    /// `MetadataSource` in the queue options).
    pub metadata_send: bool,
    pub metadata_send_interval: Duration,
    pub metadata_max_samples_per_send: usize,
}

impl RemoteWriteSettings {
    /// An entry for `url` with upstream's defaults.
    pub fn new(url: impl Into<String>) -> RemoteWriteSettings {
        RemoteWriteSettings {
            url: url.into(),
            name: String::new(),
            http: HttpClientSettings::with_timeout(Duration::from_secs(30)),
            queue: QueueSettings::default(),
            write_relabel: WriteRelabel::default(),
            send_exemplars: false,
            metadata_send: true,
            metadata_send_interval: Duration::from_secs(60),
            metadata_max_samples_per_send: 2000,
        }
    }

    /// The `remote_name` label: the configured name or a stable hash of
    /// the entry (upstream uses 6 hex digits of a SHA-256 of the entry; this
    /// is the same length over FNV-1a of url, queue and relabel settings).
    pub fn remote_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let mut h = crate::model::labels::Fnv64::new();
        h.write(format!("{:?}{:?}{:?}", self.url, self.queue, self.write_relabel).as_bytes());
        format!("{:06x}", h.finish() & 0xff_ffff)
    }
}

/// One `remote_read` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteReadSettings {
    pub url: String,
    pub name: String,
    pub http: HttpClientSettings,
    /// Equality matchers a selector must contain for this endpoint to be asked.
    pub required_matchers: BTreeMap<String, String>,
    /// Ask the endpoint even for ranges local storage holds completely.
    pub read_recent: bool,
    /// Send the external labels as equality matchers and strip them from answers.
    pub filter_external_labels: bool,
}

impl RemoteReadSettings {
    /// An entry for `url` with upstream's defaults.
    pub fn new(url: impl Into<String>) -> RemoteReadSettings {
        RemoteReadSettings {
            url: url.into(),
            name: String::new(),
            http: HttpClientSettings::with_timeout(Duration::from_secs(60)),
            required_matchers: BTreeMap::new(),
            read_recent: false,
            filter_external_labels: true,
        }
    }
}

/// Everything of `prometheus.yml` that remote storage applies on a reload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteConfig {
    /// `global.external_labels`.
    pub external_labels: Labels,
    pub remote_write: Vec<RemoteWriteSettings>,
    pub remote_read: Vec<RemoteReadSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_name_is_stable_and_prefers_the_configured_name() {
        let a = RemoteWriteSettings::new("http://a/api/v1/write");
        let b = RemoteWriteSettings::new("http://a/api/v1/write");
        assert_eq!(a.remote_name(), b.remote_name());
        assert_eq!(a.remote_name().len(), 6);
        let c = RemoteWriteSettings::new("http://c/api/v1/write");
        assert_ne!(a.remote_name(), c.remote_name());
        let mut named = a.clone();
        named.name = "mimir".into();
        assert_eq!(named.remote_name(), "mimir");
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Secret::Inline("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
