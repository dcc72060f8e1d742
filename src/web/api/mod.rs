//! The `/api/v1` framework: upstream's response envelope and error types,
//! the JSON encoding of query results (timestamps as float seconds, values as
//! Go-formatted strings), and the seams the API reads through — a
//! [`QueryEngine`] for PromQL and [`ScrapeStatus`]/[`RulesStatus`]/
//! [`AlertmanagerStatus`] for the components wired in later. The endpoints themselves are in [`v1`].

pub mod engine;
pub mod params;
pub mod v1;

use std::fmt;

use crate::model::{Labels, Matcher};
use crate::storage::Queryable;
use crate::web::http::{Response, JSON};

/// Upstream's `errorType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
    NotFound,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
        }
    }

    /// The HTTP status upstream's `respondError` uses.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Execution => 422,
            ErrorType::Canceled => 499,
            ErrorType::Timeout | ErrorType::Unavailable => 503,
            ErrorType::Internal => 500,
            ErrorType::NotFound => 404,
        }
    }
}

/// An API error: its type and the message the client sees.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::BadData, message)
    }

    /// Upstream's `invalidParamError`: `invalid parameter "time": <why>`.
    pub fn invalid_param(name: &str, why: impl fmt::Display) -> ApiError {
        ApiError::bad_data(format!("invalid parameter {name:?}: {why}"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// A PromQL result as the engine returns it; the API encodes it without copying.
pub use crate::promql::value::{MatrixSeries, Value as QueryValue, VectorSample};

/// A query's value with its annotations and statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryOutcome {
    pub value: QueryValue,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub stats: crate::promql::QueryStats,
}

/// Appends upstream's `"stats"` member (asked for with `stats=...`) to an
/// encoded `{"resultType":...,"result":...}` object.
pub fn append_stats(data: &mut Vec<u8>, stats: &crate::promql::QueryStats) {
    if data.last() != Some(&b'}') {
        return;
    }
    data.pop();
    let eval = stats.eval_time.as_secs_f64();
    let queue = stats.queue_time.as_secs_f64();
    let v = serde_json::json!({
        "timings": {
            "evalTotalTime": eval,
            "resultSortTime": stats.sort_time.as_secs_f64(),
            "queryPreparationTime": stats.prepare_time.as_secs_f64(),
            "innerEvalTime": stats.inner_eval_time.as_secs_f64(),
            "execQueueTime": queue,
            "execTotalTime": eval + queue,
        },
        "samples": {
            "totalQueryableSamples": stats.total_queryable_samples,
            "peakSamples": stats.peak_samples,
        },
    });
    data.extend_from_slice(b",\"stats\":");
    data.extend_from_slice(v.to_string().as_bytes());
    data.push(b'}');
}

/// The PromQL engine as the API sees it. Errors carry upstream's error type:
/// `BadData` for parse errors, `Execution`, `Timeout`, `Canceled`, ...
pub trait QueryEngine: Send + Sync {
    fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        ts_ms: i64,
        timeout_ms: Option<i64>,
    ) -> Result<QueryOutcome, ApiError>;

    fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        timeout_ms: Option<i64>,
    ) -> Result<QueryOutcome, ApiError>;

    /// Parses a `match[]` selector (`up{job="x"}`) into matchers.
    fn parse_metric_selector(&self, selector: &str) -> Result<Vec<Matcher>, String>;

    /// Parses and prints an expression in canonical form (`/api/v1/format_query`).
    fn format_query(&self, query: &str) -> Result<String, String>;
}

/// What the scrape manager reports; `data` values are already shaped as
/// upstream's JSON for the endpoint.
pub trait ScrapeStatus: Send + Sync {
    /// `/api/v1/targets?state=...&scrapePool=...`
    fn targets(&self, state: &str, scrape_pool: &str) -> serde_json::Value;
    /// `/api/v1/targets/metadata?match_target=...&metric=...&limit=...`
    /// Errors are the API's (e.g. upstream's `not_found` "specified metadata not found").
    fn targets_metadata(
        &self,
        match_target: &[Matcher],
        metric: &str,
        limit: usize,
    ) -> Result<serde_json::Value, ApiError>;
    /// `/api/v1/metadata?metric=...&limit=...&limit_per_metric=...`
    fn metadata(
        &self,
        metric: &str,
        limit: usize,
        limit_per_metric: usize,
    ) -> Result<serde_json::Value, ApiError>;
}

/// What the rule manager reports (upstream's `rulesRetriever`), shaped as upstream's JSON.
pub trait RulesStatus: Send + Sync {
    /// `/api/v1/rules?type=alert|record&rule_name[]=...` (all request parameters are passed).
    fn rules(&self, params: &[(String, String)]) -> Result<serde_json::Value, ApiError>;
    /// `/api/v1/alerts`
    fn alerts(&self) -> serde_json::Value;
}

/// What the local TSDB reports for `/api/v1/status/tsdb` (`headStats` and
/// the top-`limit` cardinality lists), shaped as upstream's JSON. Without it
/// the API computes the same shape by walking every series.
pub trait TsdbStatus: Send + Sync {
    fn tsdb_status(&self, limit: usize) -> Result<serde_json::Value, ApiError>;
}

/// What the notifier reports (upstream's `alertmanagerRetriever`).
pub trait AlertmanagerStatus: Send + Sync {
    /// `/api/v1/alertmanagers`
    fn alertmanagers(&self) -> serde_json::Value;
}

/// A successful API response with `data` already encoded as JSON.
pub fn success_raw(data_json: &[u8], warnings: &[String], infos: &[String]) -> Response {
    let mut body = Vec::with_capacity(data_json.len() + 40);
    body.extend_from_slice(b"{\"status\":\"success\",\"data\":");
    body.extend_from_slice(data_json);
    write_annotations(&mut body, warnings, infos);
    body.push(b'}');
    Response::new(200, JSON, body)
}

/// A successful API response.
pub fn success(data: &serde_json::Value, warnings: &[String]) -> Response {
    let data = serde_json::to_vec(data).unwrap_or_else(|_| b"null".to_vec());
    success_raw(&data, warnings, &[])
}

/// An error response in upstream's envelope and status code.
pub fn error_response(e: &ApiError) -> Response {
    let mut body = Vec::with_capacity(e.message.len() + 64);
    body.extend_from_slice(b"{\"status\":\"error\",\"errorType\":");
    write_json_str(&mut body, e.kind.as_str());
    body.extend_from_slice(b",\"error\":");
    write_json_str(&mut body, &e.message);
    body.push(b'}');
    Response::new(e.kind.http_status(), JSON, body)
}

fn write_annotations(body: &mut Vec<u8>, warnings: &[String], infos: &[String]) {
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        body.extend_from_slice(b",\"");
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(b"\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            write_json_str(body, w);
        }
        body.push(b']');
    }
}

/// Encodes a query value as upstream's `{"resultType":...,"result":...}`.
pub fn encode_query_data(value: &QueryValue, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"resultType\":\"");
    match value {
        QueryValue::Scalar { t, v } => {
            out.extend_from_slice(b"scalar\",\"result\":");
            write_point(out, *t, *v);
        }
        QueryValue::String { t, s } => {
            out.extend_from_slice(b"string\",\"result\":[");
            write_timestamp(out, *t);
            out.push(b',');
            write_json_str(out, s);
            out.push(b']');
        }
        QueryValue::Vector(samples) => {
            out.extend_from_slice(b"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels(out, &s.labels);
                out.extend_from_slice(b",\"value\":");
                write_point(out, s.t, s.v);
                out.push(b'}');
            }
            out.push(b']');
        }
        QueryValue::Matrix(series) => {
            out.extend_from_slice(b"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels(out, &s.labels);
                out.extend_from_slice(b",\"values\":[");
                for (j, (t, v)) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_point(out, *t, *v);
                }
                out.extend_from_slice(b"]}");
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

/// `[1435781451.781,"1"]`
fn write_point(out: &mut Vec<u8>, t: i64, v: f64) {
    out.push(b'[');
    write_timestamp(out, t);
    out.extend_from_slice(b",\"");
    write_go_float(out, v);
    out.extend_from_slice(b"\"]");
}

/// Milliseconds as upstream's `jsonutil.MarshalTimestamp`: seconds, then a
/// three-digit fraction only when it is not zero (`1.500`, `2`).
pub fn write_timestamp(out: &mut Vec<u8>, t: i64) {
    if t < 0 {
        out.push(b'-');
    }
    let t = t.unsigned_abs();
    write_u64(out, t / 1000);
    let frac = (t % 1000) as u32;
    if frac != 0 {
        out.push(b'.');
        out.push(b'0' + (frac / 100) as u8);
        out.push(b'0' + (frac / 10 % 10) as u8);
        out.push(b'0' + (frac % 10) as u8);
    }
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`, which is what
/// upstream's API puts in value strings. Rust's `Display` for `f64` is the
/// same shortest round-trip, exponent-free form; only the infinities differ.
pub fn write_go_float(out: &mut Vec<u8>, v: f64) {
    use std::io::Write as _;
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
        // Integers, the common case for counters and gauges.
        if v < 0.0 {
            out.push(b'-');
        }
        write_u64(out, v.abs() as u64);
    } else if let Some(k) = as_thousandths(v) {
        // Values with at most three decimals (rates, ratios, latencies in ms)
        // take a path without float formatting.
        if k < 0 {
            out.push(b'-');
        }
        let k = k.unsigned_abs();
        write_u64(out, k / 1000);
        let mut frac = k % 1000;
        out.push(b'.');
        let mut div = 100;
        while frac > 0 {
            out.push(b'0' + (frac / div) as u8);
            frac %= div;
            div /= 10;
        }
    } else {
        let _ = write!(out, "{v}");
    }
}

/// `Some(k)` when `k / 1000` is a non-integer decimal whose nearest double is
/// exactly `v`, so `k / 1000` printed with its trailing zeros trimmed is `v`'s
/// shortest round-trip form. Below 1e12 two such decimals are further apart
/// than a ULP, so no shorter decimal can name the same double.
fn as_thousandths(v: f64) -> Option<i64> {
    if v.is_nan() || v.abs() >= 1e12 {
        return None;
    }
    let k = (v * 1000.0).round();
    if k % 1000.0 == 0.0 || k / 1000.0 != v {
        return None;
    }
    Some(k as i64)
}

/// `{"__name__":"up","job":"x"}`
pub fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, &l.name);
        out.push(b':');
        write_json_str(out, &l.value);
    }
    out.push(b'}');
}

/// A JSON string as Go's encoder writes it (HTML-safe: `<`, `>`, `&` escaped).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            b'<' => Some(b"\\u003c"),
            b'>' => Some(b"\\u003e"),
            b'&' => Some(b"\\u0026"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    #[test]
    fn timestamps() {
        for (t, want) in [
            (1_435_781_451_781, "1435781451.781"),
            (1500, "1.500"),
            (2000, "2"),
            (5, "0.005"),
            (-1500, "-1.500"),
        ] {
            let mut out = Vec::new();
            write_timestamp(&mut out, t);
            assert_eq!(s(&out), want);
        }
    }

    #[test]
    fn floats() {
        for (v, want) in [
            (1.0, "1"),
            (0.25, "0.25"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1e21, "1000000000000000000000"),
            (-3.0, "-3"),
            (1e-7, "0.0000001"),
        ] {
            let mut out = Vec::new();
            write_go_float(&mut out, v);
            assert_eq!(s(&out), want);
        }
    }

    #[test]
    fn floats_agree_with_go_f_formatter() {
        // A cheap deterministic spread of magnitudes and bit patterns.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut values = vec![
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.1,
            1e15,
            1e16 + 2.0,
            -0.0,
        ];
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(f64::from_bits(x));
        }
        for v in values {
            let mut out = Vec::new();
            write_go_float(&mut out, v);
            assert_eq!(s(&out), crate::model::value::format_go_f(v), "{v:e}");
        }
    }

    #[test]
    fn envelope_and_values() {
        let v = QueryValue::Vector(vec![VectorSample {
            labels: Labels::from_pairs(&[("__name__", "up"), ("job", "a<b")]),
            t: 1000,
            v: 1.0,
        }]);
        let mut data = Vec::new();
        encode_query_data(&v, &mut data);
        let r = success_raw(&data, &["w".to_string()], &[]);
        assert_eq!(
            s(&r.body),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"value":[1,"1"]}]},"warnings":["w"]}"#
        );
        let parsed: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(parsed["data"]["result"][0]["metric"]["job"], "a<b");

        let m = QueryValue::Matrix(vec![MatrixSeries {
            labels: Labels::empty(),
            samples: vec![(0, 0.5), (1001, f64::NAN)],
        }]);
        let mut data = Vec::new();
        encode_query_data(&m, &mut data);
        assert_eq!(
            s(&data),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"0.5"],[1.001,"NaN"]]}]}"#
        );
        let mut data = Vec::new();
        encode_query_data(&QueryValue::Scalar { t: 1, v: 2.0 }, &mut data);
        assert_eq!(s(&data), r#"{"resultType":"scalar","result":[0.001,"2"]}"#);
        let mut data = Vec::new();
        encode_query_data(
            &QueryValue::String {
                t: 0,
                s: "x\n".into(),
            },
            &mut data,
        );
        assert_eq!(s(&data), r#"{"resultType":"string","result":[0,"x\n"]}"#);
    }

    #[test]
    fn errors() {
        let r = error_response(&ApiError::invalid_param(
            "time",
            "cannot parse \"x\" to a valid timestamp",
        ));
        assert_eq!(r.status, 400);
        assert_eq!(
            s(&r.body),
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": cannot parse \"x\" to a valid timestamp"}"#
        );
        assert_eq!(ErrorType::Execution.http_status(), 422);
        assert_eq!(ErrorType::Timeout.http_status(), 503);
        assert_eq!(ErrorType::NotFound.http_status(), 404);
    }

    #[test]
    fn stats_carry_every_timing_the_engine_measured() {
        use std::time::Duration;
        let stats = crate::promql::QueryStats {
            total_queryable_samples: 7,
            peak_samples: 3,
            eval_time: Duration::from_millis(10),
            queue_time: Duration::from_millis(2),
            prepare_time: Duration::from_millis(1),
            inner_eval_time: Duration::from_millis(8),
            sort_time: Duration::from_millis(1),
        };
        let mut data = br#"{"resultType":"vector","result":[]}"#.to_vec();
        append_stats(&mut data, &stats);
        let v: serde_json::Value = match serde_json::from_slice(&data) {
            Ok(v) => v,
            Err(e) => panic!("{e}: {}", s(&data)),
        };
        let t = &v["stats"]["timings"];
        assert_eq!(t["evalTotalTime"], 0.01);
        assert_eq!(t["queryPreparationTime"], 0.001);
        assert_eq!(t["innerEvalTime"], 0.008);
        assert_eq!(t["resultSortTime"], 0.001);
        assert_eq!(t["execQueueTime"], 0.002);
        assert_eq!(t["execTotalTime"], 0.012);
        assert_eq!(v["stats"]["samples"]["totalQueryableSamples"], 7);
        assert_eq!(v["stats"]["samples"]["peakSamples"], 3);
        assert_eq!(v["resultType"], "vector");
    }
}
