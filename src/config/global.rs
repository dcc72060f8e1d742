//! `global`: defaults every scrape job and rule group inherits, and the
//! external labels attached to data leaving this server.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scrape::{
    self, parse_validation_scheme, validate_scrape_protocols, DEFAULT_SCRAPE_PROTOCOLS,
};
use super::types::{self, ByteSize, Duration};
use crate::model::labels::{Label, Labels, METRIC_NAME};
use crate::model::relabel::NameValidationScheme;

/// `global`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGlobalConfig")]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub scrape_protocols: Vec<String>,
    pub evaluation_interval: Duration,
    #[serde(skip_serializing_if = "Duration::is_zero_ref")]
    pub rule_query_offset: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query_log_file: String,
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
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name_escaping_scheme: String,
    pub scrape_native_histograms: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub always_scrape_classic_histograms: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub convert_classic_histograms_to_nhcb: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
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
        for name in raw.external_labels.keys() {
            if name.is_empty() {
                return Err(format!("{name:?} is not a valid label name"));
            }
            if name == METRIC_NAME {
                return Err(format!(
                    "{METRIC_NAME:?} is not a valid external label name"
                ));
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
