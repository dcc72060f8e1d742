//! The remote-read client side: [`RemoteReadQueryable`] makes one
//! `remote_read` entry a `storage::Queryable`, so it can sit behind the
//! fanout as a secondary and its series are merged with local data.
//!
//! As upstream: a selector that lacks any of `required_matchers` is not sent;
//! without `read_recent`, ranges local storage holds completely are not
//! asked for (the local-start-time callback says from when that is); with
//! `filter_external_labels` the external labels become equality matchers and
//! are stripped from the answer. Only the samples response type is used.
//! Label names and values are not answered by remote read (empty, as
//! upstream).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::client::HttpClient;
use super::codec::{labels_from_proto, matcher_to_proto};
use super::prompb::{Query, ReadHints, ReadRequest, ResponseType};
use super::settings::RemoteReadSettings;
use super::RemoteError;
use crate::model::{Label, Labels, MatchType, Matcher};
use crate::storage::{
    BoxSeries, Querier, Queryable, SelectHints, SeriesSet, StorageError, VecSeries,
};

/// Returns the earliest timestamp (ms) from which local storage holds
/// complete data.
pub type LocalStartTime = dyn Fn() -> i64 + Send + Sync;

/// One `remote_read` entry as a queryable.
pub struct RemoteReadQueryable {
    client: Arc<HttpClient>,
    settings: RemoteReadSettings,
    /// External labels used as matchers; empty when `filter_external_labels` is off.
    external_labels: Labels,
    local_start_time: Option<Arc<LocalStartTime>>,
}

impl RemoteReadQueryable {
    /// A queryable for `settings`. `local_start_time` is needed to honour
    /// `read_recent: false`; without it every range is read remotely.
    pub fn new(
        settings: RemoteReadSettings,
        external_labels: &Labels,
        local_start_time: Option<Arc<LocalStartTime>>,
    ) -> Result<RemoteReadQueryable, RemoteError> {
        let client = Arc::new(HttpClient::new(&settings.url, settings.http.clone())?);
        let external_labels = if settings.filter_external_labels {
            external_labels.clone()
        } else {
            Labels::empty()
        };
        Ok(RemoteReadQueryable {
            client,
            settings,
            external_labels,
            local_start_time,
        })
    }

    pub fn settings(&self) -> &RemoteReadSettings {
        &self.settings
    }
}

impl Queryable for RemoteReadQueryable {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        let mut maxt = maxt;
        if !self.settings.read_recent {
            if let Some(cb) = &self.local_start_time {
                let local_start = cb();
                if mint > local_start {
                    return Ok(Box::new(EmptyQuerier));
                }
                maxt = maxt.min(local_start);
            }
        }
        Ok(Box::new(RemoteReadQuerier {
            client: self.client.clone(),
            mint,
            maxt,
            required_matchers: self.settings.required_matchers.clone(),
            external_labels: self.external_labels.clone(),
        }))
    }
}

/// Answers nothing (ranges local storage covers when `read_recent` is off).
struct EmptyQuerier;

impl Querier for EmptyQuerier {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        _matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        Ok(Box::new(std::iter::empty()))
    }
    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

/// Reads one time range from a remote endpoint.
pub struct RemoteReadQuerier {
    client: Arc<HttpClient>,
    mint: i64,
    maxt: i64,
    required_matchers: BTreeMap<String, String>,
    external_labels: Labels,
}

impl RemoteReadQuerier {
    /// Whether the selector has every required equality matcher.
    fn has_required_matchers(&self, matchers: &[Matcher]) -> bool {
        self.required_matchers.iter().all(|(name, value)| {
            matchers
                .iter()
                .any(|m| m.kind == MatchType::Equal && m.name == *name && m.value == *value)
        })
    }

    /// Adds external labels as equality matchers unless the selector
    /// already matches on that name; returns the names added.
    fn add_external_labels(&self, matchers: &mut Vec<Matcher>) -> Vec<String> {
        let mut added = Vec::new();
        for l in self.external_labels.iter() {
            if matchers.iter().any(|m| m.name == l.name) {
                continue;
            }
            if let Ok(m) = Matcher::new(MatchType::Equal, l.name.clone(), l.value.clone()) {
                matchers.push(m);
                added.push(l.name.clone());
            }
        }
        added
    }
}

impl Querier for RemoteReadQuerier {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        if !self.has_required_matchers(matchers) {
            return Ok(Box::new(std::iter::empty()));
        }
        let mut matchers = matchers.to_vec();
        let added = self.add_external_labels(&mut matchers);
        let query = Query {
            start_timestamp_ms: self.mint,
            end_timestamp_ms: self.maxt,
            matchers: matchers.iter().map(matcher_to_proto).collect(),
            hints: hints.map(|h| ReadHints {
                step_ms: h.step,
                func: h.func.clone(),
                start_ms: h.start,
                end_ms: h.end,
                grouping: h.grouping.clone(),
                by: h.by,
                range_ms: h.range,
            }),
        };
        let request = ReadRequest {
            queries: vec![query],
            accepted_response_types: vec![ResponseType::Samples as i32],
        };
        let response = self
            .client
            .read(&request)
            .map_err(|e| StorageError::Internal(e.to_string()))?;
        let Some(result) = response.results.into_iter().next() else {
            return Err(StorageError::Internal(format!(
                "remote read {}: response holds no result for the query",
                self.client.url()
            )));
        };
        let mut out: Vec<VecSeries> = Vec::with_capacity(result.timeseries.len());
        for ts in result.timeseries {
            let labels = labels_from_proto(&ts.labels).map_err(|e| {
                StorageError::Internal(format!("remote read {}: {e}", self.client.url()))
            })?;
            let labels = if added.is_empty() {
                labels
            } else {
                let kept: Vec<Label> = labels
                    .into_vec()
                    .into_iter()
                    .filter(|l| !added.contains(&l.name))
                    .collect();
                Labels::from_sorted(kept)
            };
            let mut samples: Vec<(i64, f64)> =
                ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
            // The protocol does not promise order; the iterator contract needs it.
            if !samples.windows(2).all(|w| w[0].0 < w[1].0) {
                samples.sort_by_key(|s| s.0);
                samples.dedup_by_key(|s| s.0);
            }
            out.push(VecSeries { labels, samples });
        }
        if sorted {
            out.sort_by(|a, b| a.labels.as_slice().cmp(b.labels.as_slice()));
        }
        Ok(Box::new(
            out.into_iter().map(|s| Ok(Box::new(s) as BoxSeries)),
        ))
    }

    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}
