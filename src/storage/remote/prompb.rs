//! The remote-write 1.0 and remote-read protobuf messages (upstream's
//! `prompb/types.proto` and `prompb/remote.proto`), written by hand with
//! `prost` derive. Field numbers are upstream's, so the bytes on the wire are
//! interchangeable with upstream Prometheus, Thanos, Mimir and VictoriaMetrics.
//!
//! Native histograms (`TimeSeries.histograms`, field 4) are not modelled:
//! prost skips the field when decoding, and promlite never sends it.

/// The body of a remote-write request (`prometheus.WriteRequest`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    // Field 2 is reserved upstream.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series with its samples (`prometheus.TimeSeries`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
}

/// One label pair (`prometheus.Label`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// One float sample (`prometheus.Sample`).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// An exemplar attached to a series (`prometheus.Exemplar`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// Metric family metadata (`prometheus.MetricMetadata`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

/// A label matcher in a remote-read query (`prometheus.LabelMatcher`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LabelMatcher {
    #[prost(enumeration = "MatcherType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.LabelMatcher.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatcherType {
    Eq = 0,
    Neq = 1,
    Re = 2,
    Nre = 3,
}

/// The querying engine's hints (`prometheus.ReadHints`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ReadHints {
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    #[prost(string, tag = "2")]
    pub func: String,
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    #[prost(bool, tag = "6")]
    pub by: bool,
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// The body of a remote-read request (`prometheus.ReadRequest`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `prometheus.ReadRequest.ResponseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// One snappy-compressed `ReadResponse` with raw samples.
    Samples = 0,
    /// A stream of `ChunkedReadResponse` frames (not served by promlite).
    StreamedXorChunks = 1,
}

/// One query of a remote-read request (`prometheus.Query`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// The samples-type answer to a `ReadRequest` (`prometheus.ReadResponse`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// One result per query, in request order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// The series matching one query (`prometheus.QueryResult`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One frame of the streamed-chunks answer (`prometheus.ChunkedReadResponse`).
/// Kept for reference and decoding; promlite does not serve it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// A series as encoded chunks (`prometheus.ChunkedSeries`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// One TSDB chunk (`prometheus.Chunk`); the time range is inclusive.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chunk {
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// `prometheus.Chunk.Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    Unknown = 0,
    Xor = 1,
    Histogram = 2,
    FloatHistogram = 3,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn write_request_wire_bytes_match_upstream_field_numbers() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
                exemplars: vec![],
            }],
            metadata: vec![],
        };
        let bytes = req.encode_to_vec();
        // timeseries (field 1, len 17) { labels (1, len 6) {name "a", value "b"},
        // samples (2, len 11) {value (1, fixed64) 1.0, timestamp (2, varint) 2} }
        let want: Vec<u8> = vec![
            0x0a, 21, 0x0a, 6, 0x0a, 1, b'a', 0x12, 1, b'b', 0x12, 11, 0x09, 0, 0, 0, 0, 0, 0,
            0xf0, 0x3f, 0x10, 2,
        ];
        assert_eq!(bytes, want);
        assert_eq!(WriteRequest::decode(bytes.as_slice()).ok(), Some(req));
    }

    #[test]
    fn read_request_round_trip() {
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 1,
                end_timestamp_ms: 2,
                matchers: vec![LabelMatcher {
                    r#type: MatcherType::Re as i32,
                    name: "job".into(),
                    value: "a.*".into(),
                }],
                hints: Some(ReadHints {
                    step_ms: 15,
                    ..Default::default()
                }),
            }],
            accepted_response_types: vec![ResponseType::Samples as i32],
        };
        let bytes = req.encode_to_vec();
        assert_eq!(ReadRequest::decode(bytes.as_slice()).ok(), Some(req));
    }
}
