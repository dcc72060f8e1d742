//! `storage` (runtime-reloadable TSDB and exemplar settings) and `runtime`.

use serde::{Deserialize, Serialize};

use super::types::{ByteSize, Duration};

/// `storage`.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsdb: Option<TsdbConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemplars: Option<ExemplarsConfig>,
}

/// `storage.tsdb`.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    pub out_of_order_time_window: Duration,
    #[serde(skip_serializing_if = "is_zero")]
    pub stale_series_compaction_threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_encoding: Option<ChunkEncoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionConfig>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// `storage.tsdb.chunk_encoding`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkEncoding {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub floats: String,
}

/// `storage.tsdb.retention`. Values here override the command-line flags.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    #[serde(skip_serializing_if = "is_zero")]
    pub percentage: f64,
}

/// `storage.exemplars`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    pub max_exemplars: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            max_exemplars: 100_000,
        }
    }
}

impl StorageConfig {
    /// Upstream's TSDB config checks.
    pub fn validate(&self) -> Result<(), String> {
        let Some(tsdb) = &self.tsdb else {
            return Ok(());
        };
        if tsdb.out_of_order_time_window.as_millis() < 0 {
            return Err("'storage.tsdb.out_of_order_time_window' must be non-negative".into());
        }
        if let Some(enc) = &tsdb.chunk_encoding {
            if !enc.floats.is_empty() && enc.floats != "xor" && enc.floats != "xor2" {
                return Err(format!(
                    "invalid float chunk encoding {:?}, must be one of \"xor\" or \"xor2\"",
                    enc.floats
                ));
            }
        }
        if let Some(r) = &tsdb.retention {
            if !(0.0..=100.0).contains(&r.percentage) || r.percentage.is_nan() {
                return Err(format!(
                    "'storage.tsdb.retention.percentage' must be in the range [0, 100], got {}",
                    r.percentage
                ));
            }
            if r.size.is_some_and(|s| s.bytes() < 0) {
                return Err("'storage.tsdb.retention.size' must be non-negative".into());
            }
            if r.time.is_some_and(|t| t.as_millis() < 0) {
                return Err("'storage.tsdb.retention.time' must be non-negative".into());
            }
        }
        Ok(())
    }
}

/// `runtime`: Go runtime tuning. `gogc` has no meaning for promlite and is
/// accepted so that upstream configs load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    pub gogc: i64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { gogc: 75 }
    }
}
