//! The remote-write receiver (`POST /api/v1/write` behind
//! `--web.enable-remote-write-receiver`): decodes a snappy-compressed
//! protocol 1.0 `WriteRequest` and appends it through one appender.
//!
//! Status codes as upstream: 204 on success; 415 for a content type or
//! encoding other than protobuf/snappy (remote write 2.0 included); 400 for
//! an undecodable body and for out-of-order, out-of-bounds or duplicate
//! samples (the whole request is rolled back, and 400 tells the sender not
//! to retry); 500 for any other storage error (rolled back, the sender
//! retries). Series with invalid labels (no metric name, an empty or
//! duplicate label name) are skipped and counted in
//! `prometheus_api_remote_write_invalid_labels_samples_total`; the valid
//! series are committed and the answer is 400 naming the first invalid
//! series (upstream's 2.0 handler behaviour; its 1.0 handler answers 204).

use super::codec::{self, CONTENT_ENCODING_SNAPPY, CONTENT_TYPE_PROTOBUF};
use super::HttpReply;
use crate::model::labels::METRIC_NAME;
use crate::model::value::now_millis;
use crate::storage::{Appendable, StorageError};

/// Samples further than this in the future are out of bounds (upstream's
/// `maxAheadTime`).
const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// The protobuf message name of remote write 1.0.
const PROTO_MSG_V1: &str = "prometheus.WriteRequest";

/// Handles one remote-write request. `headers` are the request's headers
/// (names compared case-insensitively).
pub fn handle_write(
    body: &[u8],
    headers: &[(&str, &str)],
    appendable: &dyn Appendable,
) -> HttpReply {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    if let Some(ct) = header("Content-Type") {
        if let Err(msg) = check_content_type(ct) {
            log::error!("Error decoding remote write request: {msg}");
            return HttpReply::text(415, msg);
        }
    }
    if let Some(enc) = header("Content-Encoding") {
        if !enc.eq_ignore_ascii_case(CONTENT_ENCODING_SNAPPY) {
            let msg = format!(
                "{enc} encoding (compression) is not accepted by this server; only {CONTENT_ENCODING_SNAPPY} is acceptable"
            );
            log::error!("Error decoding remote write request: {msg}");
            return HttpReply::text(415, msg);
        }
    }
    let req = match codec::decode_write_request(body) {
        Ok(r) => r,
        Err(e) => {
            log::error!("Error decoding remote write request: {e}");
            return HttpReply::text(400, e.to_string());
        }
    };

    let max_t = now_millis().saturating_add(MAX_AHEAD_MS);
    let mut app = appendable.appender();
    let mut invalid_samples = 0usize;
    let mut first_invalid: Option<String> = None;
    for ts in &req.timeseries {
        let labels = match codec::labels_from_proto(&ts.labels) {
            Ok(l) if l.get(METRIC_NAME).is_some() && l.iter().all(|l| !l.name.is_empty()) => l,
            Ok(l) => {
                invalid_samples += ts.samples.len();
                first_invalid
                    .get_or_insert_with(|| format!("invalid metric name or labels, got {l}"));
                continue;
            }
            Err(e) => {
                invalid_samples += ts.samples.len();
                first_invalid.get_or_insert_with(|| format!("invalid labels for series: {e}"));
                continue;
            }
        };
        let mut series_ref = 0;
        for s in &ts.samples {
            let result = if s.timestamp > max_t {
                Err(StorageError::OutOfBounds)
            } else {
                app.append(series_ref, &labels, s.timestamp, s.value)
            };
            match result {
                Ok(r) => series_ref = r,
                Err(e) => {
                    let _ = app.rollback();
                    return match e {
                        StorageError::OutOfOrderSample
                        | StorageError::OutOfBounds
                        | StorageError::DuplicateSampleForTimestamp
                        | StorageError::InvalidLabels(_) => {
                            log::error!(
                                "Out of order sample from remote write: {e}, series {labels}, timestamp {}",
                                s.timestamp
                            );
                            HttpReply::text(400, e.to_string())
                        }
                        other => {
                            log::error!("Error while remote writing the v1 request: {other}");
                            HttpReply::text(500, other.to_string())
                        }
                    };
                }
            }
        }
    }
    if let Err(e) = app.commit() {
        log::error!("Error while remote writing the v1 request: {e}");
        return HttpReply::text(500, e.to_string());
    }
    if invalid_samples > 0 {
        invalid_labels_counter().add(invalid_samples as f64);
    }
    match first_invalid {
        Some(msg) => {
            log::warn!("remote write receiver: {msg}");
            HttpReply::text(400, msg)
        }
        None => HttpReply::empty(204),
    }
}

/// Accepts `application/x-protobuf` with no `proto` parameter or
/// `proto=prometheus.WriteRequest`.
fn check_content_type(ct: &str) -> Result<(), String> {
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if media != CONTENT_TYPE_PROTOBUF {
        return Err(format!(
            "expected {CONTENT_TYPE_PROTOBUF} as the first (media) part, got {ct} content-type"
        ));
    }
    for p in parts {
        let Some((k, v)) = p.trim().split_once('=') else {
            return Err(format!(
                "as per https://www.rfc-editor.org/rfc/rfc9110#parameter expected parameters to be key-values, got {p} in {ct} content-type"
            ));
        };
        if k.trim() == "proto" && v.trim() != PROTO_MSG_V1 {
            return Err(format!(
                "{} protobuf message is not accepted by this server; accepted [{PROTO_MSG_V1}] (remote write 2.0 is not supported by promlite)",
                v.trim()
            ));
        }
    }
    Ok(())
}

fn invalid_labels_counter() -> crate::telemetry::Counter {
    crate::telemetry::global().counter(
        "prometheus_api_remote_write_invalid_labels_samples_total",
        "The total number of received remote write samples and histogram samples which were rejected due to invalid labels.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::storage::memory::MemStorage;
    use crate::storage::remote::codec::{encode_write_request, labels_to_proto};
    use crate::storage::remote::prompb::{self, Sample, TimeSeries, WriteRequest};

    type SeriesSpec = (Vec<prompb::Label>, Vec<(i64, f64)>);

    fn body(series: Vec<SeriesSpec>) -> Vec<u8> {
        let req = WriteRequest {
            timeseries: series
                .into_iter()
                .map(|(labels, samples)| TimeSeries {
                    labels,
                    samples: samples
                        .into_iter()
                        .map(|(timestamp, value)| Sample { value, timestamp })
                        .collect(),
                    exemplars: vec![],
                })
                .collect(),
            metadata: vec![],
        };
        encode_write_request(&req, &mut Vec::new()).unwrap()
    }

    fn up() -> Vec<prompb::Label> {
        labels_to_proto(&Labels::from_pairs(&[("__name__", "up"), ("job", "j")]))
    }

    const HEADERS: &[(&str, &str)] = &[
        ("content-type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ];

    #[test]
    fn appends_and_answers_204() {
        let s = MemStorage::new();
        let r = handle_write(&body(vec![(up(), vec![(1, 1.0), (2, 2.0)])]), HEADERS, &s);
        assert_eq!(r.status, 204, "{r:?}");
        assert_eq!(s.num_series(), 1);
    }

    #[test]
    fn bad_encoding_type_and_body() {
        let s = MemStorage::new();
        let b = body(vec![(up(), vec![(1, 1.0)])]);
        assert_eq!(
            handle_write(&b, &[("Content-Encoding", "gzip")], &s).status,
            415
        );
        let v2 = [(
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )];
        assert_eq!(handle_write(&b, &v2, &s).status, 415);
        assert_eq!(
            handle_write(&b, &[("Content-Type", "text/plain")], &s).status,
            415
        );
        assert_eq!(handle_write(b"nonsense", HEADERS, &s).status, 400);
        assert_eq!(s.num_series(), 0);
        // No headers at all: assumed 1.0 and snappy, as upstream.
        assert_eq!(handle_write(&b, &[], &s).status, 204);
    }

    #[test]
    fn invalid_labels_are_skipped_and_reported() {
        let s = MemStorage::new();
        let no_name = labels_to_proto(&Labels::from_pairs(&[("job", "j")]));
        let r = handle_write(
            &body(vec![(no_name, vec![(1, 1.0)]), (up(), vec![(1, 1.0)])]),
            HEADERS,
            &s,
        );
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("invalid metric name or labels"));
        assert_eq!(s.num_series(), 1, "the valid series is kept");
    }

    #[test]
    fn far_future_sample_is_out_of_bounds_and_rolled_back() {
        let s = MemStorage::new();
        let future = now_millis() + 3_600_000;
        let r = handle_write(
            &body(vec![(up(), vec![(1, 1.0), (future, 2.0)])]),
            HEADERS,
            &s,
        );
        assert_eq!(r.status, 400);
        assert_eq!(String::from_utf8_lossy(&r.body), "out of bounds\n");
        assert_eq!(s.num_series(), 0);
    }

    #[test]
    fn out_of_order_sample_is_400_and_the_request_rolled_back() {
        let s = MemStorage::new();
        let ok = handle_write(&body(vec![(up(), vec![(10, 1.0)])]), HEADERS, &s);
        assert_eq!(ok.status, 204, "{ok:?}");
        let other = labels_to_proto(&Labels::from_pairs(&[("__name__", "other")]));
        let r = handle_write(
            &body(vec![(other, vec![(5, 1.0)]), (up(), vec![(5, 2.0)])]),
            HEADERS,
            &s,
        );
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(String::from_utf8_lossy(&r.body), "out of order sample\n");
        assert_eq!(s.num_series(), 1, "the whole request was rolled back");
    }

    /// Storage whose appends fail with `err`.
    struct Failing(StorageError);
    struct FailingAppender(StorageError);
    impl Appendable for Failing {
        fn appender(&self) -> Box<dyn crate::storage::Appender> {
            Box::new(FailingAppender(self.0.clone()))
        }
    }
    impl crate::storage::Appender for FailingAppender {
        fn append(
            &mut self,
            _: crate::storage::SeriesRef,
            _: &Labels,
            _: i64,
            _: f64,
        ) -> Result<crate::storage::SeriesRef, StorageError> {
            Err(self.0.clone())
        }
        fn commit(self: Box<Self>) -> Result<(), StorageError> {
            Ok(())
        }
        fn rollback(self: Box<Self>) -> Result<(), StorageError> {
            Ok(())
        }
    }

    #[test]
    fn storage_errors_are_5xx_so_the_sender_retries() {
        let b = body(vec![(up(), vec![(1, 1.0)])]);
        for err in [
            StorageError::Internal("disk full".into()),
            StorageError::NotReady,
        ] {
            let r = handle_write(&b, HEADERS, &Failing(err.clone()));
            assert_eq!(r.status, 500, "{err}: {r:?}");
            assert_eq!(String::from_utf8_lossy(&r.body), format!("{err}\n"));
        }
        let r = handle_write(
            &b,
            HEADERS,
            &Failing(StorageError::DuplicateSampleForTimestamp),
        );
        assert_eq!(r.status, 400, "{r:?}");
    }
}
