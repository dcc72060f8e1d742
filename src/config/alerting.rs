//! `alerting`: the Alertmanagers to notify (found by static or file/HTTP
//! discovery) and the relabeling applied to alerts before sending.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::http::{resolve_path, HttpClientConfig};
use super::scrape::{FileSdConfig, HttpSdConfig, StaticConfig};
use super::types::Duration;
use super::unsupported::{unsupported_sd_raw_struct, Sigv4};
use super::{non_null, seq_or_null};
use crate::model::relabel::RelabelConfig;

/// `alerting`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawAlertingConfig")]
pub struct AlertingConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

impl AlertingConfig {
    pub fn is_empty(&self) -> bool {
        self.alert_relabel_configs.is_empty() && self.alertmanagers.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertingConfig {
    #[serde(default, deserialize_with = "seq_or_null")]
    alert_relabel_configs: Vec<Option<RelabelConfig>>,
    #[serde(default, deserialize_with = "seq_or_null")]
    alertmanagers: Vec<Option<AlertmanagerConfig>>,
}

impl TryFrom<RawAlertingConfig> for AlertingConfig {
    type Error = String;
    fn try_from(raw: RawAlertingConfig) -> Result<Self, String> {
        Ok(AlertingConfig {
            alert_relabel_configs: non_null(
                raw.alert_relabel_configs,
                "empty or null alert relabeling rule",
            )?,
            alertmanagers: non_null(
                raw.alertmanagers,
                "empty or null alertmanager config section",
            )?,
        })
    }
}

/// One `alertmanagers` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawAlertmanagerConfig")]
pub struct AlertmanagerConfig {
    pub scheme: String,
    pub path_prefix: String,
    pub timeout: Duration,
    pub api_version: String,
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
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

unsupported_sd_raw_struct! {
    struct RawAlertmanagerConfig {
        #[serde(default)]
        scheme: Option<String>,
        #[serde(default)]
        path_prefix: Option<String>,
        #[serde(default)]
        timeout: Option<Duration>,
        #[serde(default)]
        api_version: Option<String>,
        #[allow(dead_code)]
        #[serde(default)]
        sigv4: Option<Sigv4>,
        #[serde(default, deserialize_with = "seq_or_null")]
        static_configs: Vec<Option<StaticConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        file_sd_configs: Vec<Option<FileSdConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        http_sd_configs: Vec<Option<HttpSdConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        relabel_configs: Vec<Option<RelabelConfig>>,
        #[serde(default, deserialize_with = "seq_or_null")]
        alert_relabel_configs: Vec<Option<RelabelConfig>>,
    }
}

impl TryFrom<RawAlertmanagerConfig> for AlertmanagerConfig {
    type Error = String;
    fn try_from(mut raw: RawAlertmanagerConfig) -> Result<Self, String> {
        let http_client_config = raw.take_http_client()?;
        let api_version = raw.api_version.unwrap_or_else(|| "v2".into());
        if api_version != "v2" {
            return Err(format!(
                "expected Alertmanager api version to be one of [v2] but got {api_version}"
            ));
        }
        let relabel_configs = non_null(
            raw.relabel_configs,
            "empty or null Alertmanager target relabeling rule",
        )?;
        let static_configs = non_null(
            raw.static_configs,
            "empty or null section in static_configs",
        )?;
        if relabel_configs.is_empty() {
            for t in static_configs.iter().flat_map(|sc| sc.targets.iter()) {
                if t.contains('/') {
                    return Err(format!("{t:?} is not a valid hostname"));
                }
            }
        }
        Ok(AlertmanagerConfig {
            scheme: raw.scheme.unwrap_or_else(|| "http".into()),
            path_prefix: raw.path_prefix.unwrap_or_else(|| "/".into()),
            timeout: raw.timeout.unwrap_or(Duration::from_secs(10)),
            api_version,
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
            alert_relabel_configs: non_null(
                raw.alert_relabel_configs,
                "empty or null Alertmanager alert relabeling rule",
            )?,
        })
    }
}

impl AlertmanagerConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
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
