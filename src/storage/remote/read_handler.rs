//! The remote-read server side (`POST /api/v1/read`): answers a
//! snappy-compressed `ReadRequest` from a local `Queryable` with one
//! snappy-compressed samples-type `ReadResponse`.
//!
//! As upstream: an equality matcher on an external label with the external
//! value is rewritten to match the empty string (the label is not stored),
//! and external labels are added to every returned series (a series' own
//! label wins). `--storage.remote.read-sample-limit` bounds the samples of
//! one query (400 when exceeded). The streamed XOR-chunks response type is
//! not supported by promlite: a request accepting only that type gets 400,
//! a request accepting both gets samples.

use super::codec::{
    self, labels_from_proto, labels_to_proto, matcher_from_proto, CONTENT_ENCODING_SNAPPY,
    CONTENT_TYPE_PROTOBUF,
};
use super::prompb::{QueryResult, ReadResponse, ResponseType, Sample, TimeSeries};
use super::watcher::with_external_labels;
use super::HttpReply;
use super::RemoteError;
use crate::model::{Labels, MatchType, Matcher};
use crate::storage::{Queryable, SelectHints};

/// Upstream's default `--storage.remote.read-sample-limit`.
pub const DEFAULT_READ_SAMPLE_LIMIT: usize = 50_000_000;

/// Settings of the read endpoint.
#[derive(Clone, Debug)]
pub struct ReadHandlerSettings {
    /// `global.external_labels`.
    pub external_labels: Labels,
    /// Most samples one query may return; 0 means no limit.
    pub sample_limit: usize,
}

impl Default for ReadHandlerSettings {
    fn default() -> ReadHandlerSettings {
        ReadHandlerSettings {
            external_labels: Labels::empty(),
            sample_limit: DEFAULT_READ_SAMPLE_LIMIT,
        }
    }
}

/// Handles one remote-read request against `queryable`.
pub fn handle_read(
    body: &[u8],
    queryable: &dyn Queryable,
    settings: &ReadHandlerSettings,
) -> HttpReply {
    let req = match codec::decode_read_request(body) {
        Ok(r) => r,
        Err(e) => return HttpReply::text(400, e.to_string()),
    };
    let accepts_samples = req.accepted_response_types.is_empty()
        || req
            .accepted_response_types
            .contains(&(ResponseType::Samples as i32));
    if !accepts_samples {
        return HttpReply::text(
            400,
            format!(
                "server does not support any of the requested response types: {:?}; streamed XOR chunks are not supported by promlite",
                req.accepted_response_types
            ),
        );
    }
    let mut resp = ReadResponse {
        results: Vec::with_capacity(req.queries.len()),
    };
    for query in &req.queries {
        match run_query(query, queryable, settings) {
            Ok(r) => resp.results.push(r),
            Err(QueryFailure::BadRequest(m)) => return HttpReply::text(400, m),
            Err(QueryFailure::Internal(m)) => return HttpReply::text(500, m),
        }
    }
    match codec::encode_read_response(&resp) {
        Ok(body) => HttpReply {
            status: 200,
            headers: vec![
                ("Content-Type", CONTENT_TYPE_PROTOBUF.to_string()),
                ("Content-Encoding", CONTENT_ENCODING_SNAPPY.to_string()),
            ],
            body,
        },
        Err(e) => HttpReply::text(500, e.to_string()),
    }
}

enum QueryFailure {
    BadRequest(String),
    Internal(String),
}

impl From<RemoteError> for QueryFailure {
    fn from(e: RemoteError) -> Self {
        QueryFailure::BadRequest(e.to_string())
    }
}

fn run_query(
    query: &super::prompb::Query,
    queryable: &dyn Queryable,
    settings: &ReadHandlerSettings,
) -> Result<QueryResult, QueryFailure> {
    let ext = &settings.external_labels;
    let mut matchers: Vec<Matcher> = Vec::with_capacity(query.matchers.len());
    for m in &query.matchers {
        let m = matcher_from_proto(m)?;
        let is_external = m.kind == MatchType::Equal && ext.get(&m.name) == Some(m.value.as_str());
        if is_external {
            let empty = Matcher::new(MatchType::Equal, m.name.clone(), "")
                .map_err(|e| QueryFailure::BadRequest(e.to_string()))?;
            matchers.push(empty);
        } else {
            matchers.push(m);
        }
    }
    let hints = SelectHints {
        start: query.start_timestamp_ms,
        end: query.end_timestamp_ms,
        step: query.hints.as_ref().map_or(0, |h| h.step_ms),
        range: query.hints.as_ref().map_or(0, |h| h.range_ms),
        func: query
            .hints
            .as_ref()
            .map_or_else(String::new, |h| h.func.clone()),
        grouping: query
            .hints
            .as_ref()
            .map_or_else(Vec::new, |h| h.grouping.clone()),
        by: query.hints.as_ref().is_some_and(|h| h.by),
    };
    let internal = |e: crate::storage::StorageError| QueryFailure::Internal(e.to_string());
    let querier = queryable
        .querier(query.start_timestamp_ms, query.end_timestamp_ms)
        .map_err(internal)?;
    let set = querier
        .select(true, Some(&hints), &matchers)
        .map_err(internal)?;
    let mut result = QueryResult::default();
    let mut total = 0usize;
    for series in set {
        let series = series.map_err(internal)?;
        let mut it = series.iterator();
        let mut samples = Vec::new();
        while let Some((t, v)) = it.next() {
            if t > query.end_timestamp_ms {
                break;
            }
            if t < query.start_timestamp_ms {
                continue;
            }
            total += 1;
            if settings.sample_limit > 0 && total > settings.sample_limit {
                return Err(QueryFailure::BadRequest(format!(
                    "exceeded sample limit ({})",
                    settings.sample_limit
                )));
            }
            samples.push(Sample {
                value: v,
                timestamp: t,
            });
        }
        drop(it);
        if samples.is_empty() {
            continue;
        }
        let labels = with_external_labels(series.labels().clone(), ext);
        result.timeseries.push(TimeSeries {
            labels: labels_to_proto(&labels),
            samples,
            exemplars: Vec::new(),
        });
    }
    Ok(result)
}

/// Decodes a series' labels from a read response (for clients and tests).
pub fn series_labels(ts: &TimeSeries) -> Result<Labels, RemoteError> {
    labels_from_proto(&ts.labels).map_err(RemoteError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStorage;
    use crate::storage::remote::codec::{
        decode_read_response, encode_read_request, matcher_to_proto,
    };
    use crate::storage::remote::prompb::{Query, ReadRequest};

    fn request(matchers: &[Matcher], types: Vec<i32>) -> Vec<u8> {
        encode_read_request(&ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 0,
                end_timestamp_ms: 100,
                matchers: matchers.iter().map(matcher_to_proto).collect(),
                hints: None,
            }],
            accepted_response_types: types,
        })
        .unwrap()
    }

    fn storage() -> MemStorage {
        let s = MemStorage::new();
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        for t in [10, 50, 200] {
            s.insert(&l, t, t as f64);
        }
        s
    }

    #[test]
    fn answers_samples_with_external_labels() {
        let settings = ReadHandlerSettings {
            external_labels: Labels::from_pairs(&[("dc", "eu")]),
            sample_limit: 0,
        };
        let m = [
            Matcher::new(MatchType::Equal, "__name__", "up").unwrap(),
            Matcher::new(MatchType::Equal, "dc", "eu").unwrap(),
        ];
        let r = handle_read(&request(&m, vec![]), &storage(), &settings);
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        let resp = decode_read_response(&r.body, 1 << 20).unwrap();
        let ts = &resp.results[0].timeseries;
        assert_eq!(ts.len(), 1);
        assert_eq!(series_labels(&ts[0]).unwrap().get("dc"), Some("eu"));
        let t: Vec<i64> = ts[0].samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(t, vec![10, 50], "only the requested range");
    }

    #[test]
    fn sample_limit_and_chunked_only_are_400() {
        let m = [Matcher::new(MatchType::Equal, "__name__", "up").unwrap()];
        let limited = ReadHandlerSettings {
            external_labels: Labels::empty(),
            sample_limit: 1,
        };
        assert_eq!(
            handle_read(&request(&m, vec![]), &storage(), &limited).status,
            400
        );
        let chunked_only = request(&m, vec![ResponseType::StreamedXorChunks as i32]);
        let r = handle_read(&chunked_only, &storage(), &ReadHandlerSettings::default());
        assert_eq!(r.status, 400);
        let both = request(&m, vec![ResponseType::StreamedXorChunks as i32, 0]);
        assert_eq!(
            handle_read(&both, &storage(), &ReadHandlerSettings::default()).status,
            200
        );
        assert_eq!(
            handle_read(b"junk", &storage(), &ReadHandlerSettings::default()).status,
            400
        );
    }
}
