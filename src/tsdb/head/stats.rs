//! Head statistics for `/api/v1/status/tsdb`, shaped like upstream's
//! `headStats` plus its four top-N cardinality lists.

use super::Head;
use crate::model::labels::METRIC_NAME;

/// The numbers `/api/v1/status/tsdb` reports about the head.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    /// Oldest and newest sample times (ms); `i64::MAX`/`i64::MIN` when empty.
    pub min_time: i64,
    pub max_time: i64,
    /// `(metric name, series)`, largest first.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// `(label name, distinct values)`, largest first.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// `(label name, bytes of values summed over series)`, largest first.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// `("name=value", series)`, largest first.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

fn top(mut v: Vec<(String, u64)>, limit: usize) -> Vec<(String, u64)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

impl Head {
    /// Head statistics with the top `limit` entries of each list (upstream: 10).
    pub fn stats(&self, limit: usize) -> HeadStats {
        let (mut by_metric, mut pairs) = (Vec::new(), Vec::new());
        let (mut value_counts, mut bytes) = (
            std::collections::HashMap::<String, u64>::new(),
            std::collections::HashMap::<String, u64>::new(),
        );
        let mut num_pairs = 0u64;
        super::read(&self.postings).for_each(|name, value, list| {
            let n = list.len() as u64;
            num_pairs += 1;
            if name == METRIC_NAME {
                by_metric.push((value.to_string(), n));
            }
            pairs.push((format!("{name}={value}"), n));
            *value_counts.entry(name.to_string()).or_default() += 1;
            *bytes.entry(name.to_string()).or_default() += value.len() as u64 * n;
        });
        HeadStats {
            num_series: self.num_series(),
            num_label_pairs: num_pairs,
            chunk_count: self.num_chunks(),
            min_time: self.min_time(),
            max_time: self.max_time(),
            series_count_by_metric_name: top(by_metric, limit),
            label_value_count_by_label_name: top(value_counts.into_iter().collect(), limit),
            memory_in_bytes_by_label_name: top(bytes.into_iter().collect(), limit),
            series_count_by_label_value_pair: top(pairs, limit),
        }
    }
}
