//! `remote_write` and `remote_read` endpoints with their queue and metadata
//! settings, checked as upstream's `RemoteWriteConfig`/`RemoteReadConfig`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::http::HttpClientConfig;
use super::types::{Duration, Url};
use super::unsupported::{AzureAd, GoogleIam, Sigv4};
use super::{non_null, seq_or_null};
use crate::model::relabel::RelabelConfig;

/// Headers promlite's remote clients set themselves.
const RESERVED_REMOTE_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Upstream's `validateHeaders` for remote read/write `headers`.
fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for name in headers.keys() {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            return Err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into());
        }
        if RESERVED_REMOTE_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "{name} is a reserved header. It must not be changed"
            ));
        }
    }
    Ok(())
}

/// The remote-write protobuf messages upstream can send.
pub const REMOTE_WRITE_MESSAGES: &[&str] =
    &["prometheus.WriteRequest", "io.prometheus.write.v2.Request"];

/// `queue_config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub capacity: i64,
    pub max_shards: i64,
    pub min_shards: i64,
    pub max_samples_per_send: i64,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retry_on_http_429: bool,
    #[serde(skip_serializing_if = "Duration::is_zero_ref")]
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::from_millis(0),
        }
    }
}

impl QueueConfig {
    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("capacity", self.capacity),
            ("max_shards", self.max_shards),
            ("min_shards", self.min_shards),
            ("max_samples_per_send", self.max_samples_per_send),
        ];
        for (name, v) in positive {
            if v <= 0 {
                return Err(format!(
                    "queue_config.{name} must be greater than 0, got {v}"
                ));
            }
        }
        if self.min_shards > self.max_shards {
            return Err(format!(
                "queue_config.min_shards ({}) must not be greater than queue_config.max_shards ({})",
                self.min_shards, self.max_shards
            ));
        }
        if self.max_backoff < self.min_backoff {
            return Err(format!(
                "queue_config.max_backoff ({}) must not be less than queue_config.min_backoff ({})",
                self.max_backoff, self.min_backoff
            ));
        }
        Ok(())
    }
}

/// `metadata_config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: Duration,
    pub max_samples_per_send: i64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}

/// One `remote_write` endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRemoteWriteConfig")]
pub struct RemoteWriteConfig {
    pub url: Url,
    pub remote_timeout: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub send_exemplars: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub send_native_histograms: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub round_robin_dns: bool,
    pub protobuf_message: String,
    #[serde(flatten)]
    pub http_client_config: HttpClientConfig,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
}

super::http::http_client_raw_struct! {
    struct RawRemoteWriteConfig {
        #[serde(default)]
        url: Option<Url>,
        #[serde(default)]
        remote_timeout: Option<Duration>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "seq_or_null")]
        write_relabel_configs: Vec<Option<RelabelConfig>>,
        #[serde(default)]
        name: String,
        #[serde(default)]
        send_exemplars: bool,
        #[serde(default)]
        send_native_histograms: bool,
        #[serde(default)]
        round_robin_dns: bool,
        #[serde(default)]
        protobuf_message: Option<String>,
        #[serde(default)]
        queue_config: QueueConfig,
        #[serde(default)]
        metadata_config: MetadataConfig,
        #[allow(dead_code)]
        #[serde(default)]
        sigv4: Option<Sigv4>,
        #[allow(dead_code)]
        #[serde(default)]
        azuread: Option<AzureAd>,
        #[allow(dead_code)]
        #[serde(default)]
        google_iam: Option<GoogleIam>,
    }
}

impl TryFrom<RawRemoteWriteConfig> for RemoteWriteConfig {
    type Error = String;
    fn try_from(mut raw: RawRemoteWriteConfig) -> Result<Self, String> {
        let url = raw.url.take().ok_or("url for remote_write is empty")?;
        let write_relabel_configs = non_null(
            std::mem::take(&mut raw.write_relabel_configs),
            "empty or null relabeling rule in remote write config",
        )?;
        validate_headers(&raw.headers)?;
        let protobuf_message = raw
            .protobuf_message
            .take()
            .unwrap_or_else(|| REMOTE_WRITE_MESSAGES[0].to_string());
        if !REMOTE_WRITE_MESSAGES.contains(&protobuf_message.as_str()) {
            return Err(format!(
                "invalid protobuf_message value: unknown remote write protobuf message {protobuf_message}, supported: {}",
                REMOTE_WRITE_MESSAGES.join(", ")
            ));
        }
        raw.queue_config.validate()?;
        // Remote write is the one client upstream defaults to HTTP/1.1.
        let http2_unset = raw.enable_http2.is_none();
        let mut http_client_config = raw.take_http_client()?;
        if http2_unset {
            http_client_config.enable_http2 = false;
        }
        Ok(RemoteWriteConfig {
            url,
            remote_timeout: raw.remote_timeout.unwrap_or(Duration::from_secs(30)),
            headers: raw.headers,
            write_relabel_configs,
            name: raw.name,
            send_exemplars: raw.send_exemplars,
            send_native_histograms: raw.send_native_histograms,
            round_robin_dns: raw.round_robin_dns,
            protobuf_message,
            http_client_config,
            queue_config: raw.queue_config,
            metadata_config: raw.metadata_config,
        })
    }
}

impl RemoteWriteConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

/// Upstream's default `chunked_read_limit` (50MB).
pub const DEFAULT_CHUNKED_READ_LIMIT: u64 = 50_000_000;

/// One `remote_read` endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRemoteReadConfig")]
pub struct RemoteReadConfig {
    pub url: Url,
    pub remote_timeout: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub required_matchers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_recent: bool,
    pub filter_external_labels: bool,
    /// Largest protobuf frame accepted from a streamed read, in bytes.
    pub chunked_read_limit: u64,
    #[serde(flatten)]
    pub http_client_config: HttpClientConfig,
}

super::http::http_client_raw_struct! {
    struct RawRemoteReadConfig {
        #[serde(default)]
        url: Option<Url>,
        #[serde(default)]
        remote_timeout: Option<Duration>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        name: String,
        #[serde(default)]
        required_matchers: BTreeMap<String, String>,
        #[serde(default)]
        read_recent: bool,
        #[serde(default)]
        filter_external_labels: Option<bool>,
        #[serde(default)]
        chunked_read_limit: Option<u64>,
    }
}

impl TryFrom<RawRemoteReadConfig> for RemoteReadConfig {
    type Error = String;
    fn try_from(mut raw: RawRemoteReadConfig) -> Result<Self, String> {
        let url = raw.url.take().ok_or("url for remote_read is empty")?;
        validate_headers(&raw.headers)?;
        let http_client_config = raw.take_http_client()?;
        Ok(RemoteReadConfig {
            url,
            remote_timeout: raw.remote_timeout.unwrap_or(Duration::from_secs(60)),
            headers: raw.headers,
            name: raw.name,
            required_matchers: raw.required_matchers,
            read_recent: raw.read_recent,
            filter_external_labels: raw.filter_external_labels.unwrap_or(true),
            chunked_read_limit: raw.chunked_read_limit.unwrap_or(DEFAULT_CHUNKED_READ_LIMIT),
            http_client_config,
        })
    }
}

impl RemoteReadConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_defaults_and_limits() {
        let q = QueueConfig::default();
        assert!(q.validate().is_ok());
        let bad = QueueConfig {
            min_shards: 10,
            max_shards: 5,
            ..QueueConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn reserved_headers() {
        let mut h = BTreeMap::new();
        h.insert(
            "X-Prometheus-Remote-Write-Version".to_string(),
            "1".to_string(),
        );
        assert!(validate_headers(&h).is_err());
        let mut h = BTreeMap::new();
        h.insert("X-Custom".to_string(), "1".to_string());
        assert!(validate_headers(&h).is_ok());
    }
}
