//! Wire encoding shared by the remote-write sender, the receiver and both
//! sides of remote read: snappy block compression around protobuf bodies,
//! the protocol headers, and conversions between `prompb` messages and the
//! model's `Labels`/`Matcher`.

use prost::Message;

use super::prompb::{self, LabelMatcher, MatcherType, ReadRequest, ReadResponse, WriteRequest};
use super::RemoteError;
use crate::model::{Label, Labels, MatchType, Matcher};

/// `Content-Type` of every remote-write and remote-read body.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// `Content-Encoding` of every remote-write and remote-read body.
pub const CONTENT_ENCODING_SNAPPY: &str = "snappy";
/// Version header sent with protocol 1.0 writes.
pub const REMOTE_WRITE_VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// Value of [`REMOTE_WRITE_VERSION_HEADER`] for protocol 1.0.
pub const REMOTE_WRITE_VERSION_1: &str = "0.1.0";
/// Version header sent with remote-read requests.
pub const REMOTE_READ_VERSION_HEADER: &str = "X-Prometheus-Remote-Read-Version";
/// Value of [`REMOTE_READ_VERSION_HEADER`].
pub const REMOTE_READ_VERSION: &str = "0.1.0";

/// The `User-Agent` of remote write and read: upstream's `Prometheus/<version>`
/// form (receivers and proxies that tell senders apart by it treat promlite
/// as a Prometheus), marked as promlite the way scrapes are.
pub fn user_agent() -> String {
    format!("Prometheus/{} (promlite)", env!("CARGO_PKG_VERSION"))
}

/// Upper bound on a decompressed body. Upstream applies 32 MiB to a read
/// response's decoded size; the same bound protects the receiver from a
/// small body that claims a huge decompressed length.
pub const MAX_DECODED_BYTES: usize = 32 << 20;

/// Snappy block-compresses `raw` (not the framed format: upstream uses blocks).
pub fn snappy_compress(raw: &[u8]) -> Result<Vec<u8>, RemoteError> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .map_err(|e| RemoteError::Encode(format!("snappy: {e}")))
}

/// Decompresses a snappy block, refusing bodies that would exceed `limit`.
pub fn snappy_decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, RemoteError> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| RemoteError::Decode(format!("snappy: {e}")))?;
    if len > limit {
        return Err(RemoteError::Decode(format!(
            "snappy: decoded size {len} exceeds the limit of {limit} bytes"
        )));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteError::Decode(format!("snappy: {e}")))
}

/// Protobuf-encodes and compresses a write request, returning the body.
pub fn encode_write_request(req: &WriteRequest, buf: &mut Vec<u8>) -> Result<Vec<u8>, RemoteError> {
    buf.clear();
    req.encode(buf)
        .map_err(|e| RemoteError::Encode(e.to_string()))?;
    snappy_compress(buf)
}

/// Decompresses and decodes a write request body.
pub fn decode_write_request(body: &[u8]) -> Result<WriteRequest, RemoteError> {
    let raw = snappy_decompress(body, MAX_DECODED_BYTES)?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| RemoteError::Decode(e.to_string()))
}

/// Protobuf-encodes and compresses a read request.
pub fn encode_read_request(req: &ReadRequest) -> Result<Vec<u8>, RemoteError> {
    snappy_compress(&req.encode_to_vec())
}

/// Decompresses and decodes a read request body.
pub fn decode_read_request(body: &[u8]) -> Result<ReadRequest, RemoteError> {
    let raw = snappy_decompress(body, MAX_DECODED_BYTES)?;
    ReadRequest::decode(raw.as_slice()).map_err(|e| RemoteError::Decode(e.to_string()))
}

/// Protobuf-encodes and compresses a read response.
pub fn encode_read_response(resp: &ReadResponse) -> Result<Vec<u8>, RemoteError> {
    snappy_compress(&resp.encode_to_vec())
}

/// Decompresses and decodes a samples-type read response.
pub fn decode_read_response(body: &[u8], limit: usize) -> Result<ReadResponse, RemoteError> {
    let raw = snappy_decompress(body, limit)?;
    ReadResponse::decode(raw.as_slice()).map_err(|e| RemoteError::Decode(e.to_string()))
}

/// A series' labels encoded once as the `labels` field (1) of a
/// `TimeSeries` message. Remote write keeps series in this form: one
/// allocation per series instead of two strings per label, and a batch is
/// encoded by copying these bytes instead of building messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EncodedLabels(Box<[u8]>);

impl EncodedLabels {
    pub fn new(labels: &Labels) -> EncodedLabels {
        let mut out = Vec::new();
        for l in labels.iter() {
            let inner = 1 + varint_len(l.name.len() as u64) + l.name.len();
            let inner = inner + 1 + varint_len(l.value.len() as u64) + l.value.len();
            out.push(0x0a);
            put_uvarint(&mut out, inner as u64);
            out.push(0x0a);
            put_uvarint(&mut out, l.name.len() as u64);
            out.extend_from_slice(l.name.as_bytes());
            out.push(0x12);
            put_uvarint(&mut out, l.value.len() as u64);
            out.extend_from_slice(l.value.as_bytes());
        }
        EncodedLabels(out.into_boxed_slice())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The labels back (for tests, logs and debugging).
    pub fn decode(&self) -> Result<Labels, RemoteError> {
        let ts =
            prompb::TimeSeries::decode(&*self.0).map_err(|e| RemoteError::Decode(e.to_string()))?;
        labels_from_proto(&ts.labels).map_err(RemoteError::Decode)
    }
}

/// Appends `v` as a protobuf varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `v` takes as a varint.
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Encodes a `WriteRequest` body from series given as pre-encoded labels
/// and `(t, v)` samples, byte-identical to prost's encoding of the same
/// message (default values omitted), into `out` (cleared first).
pub fn encode_series_batch<'a>(
    series: impl IntoIterator<Item = (&'a EncodedLabels, &'a [(i64, f64)])>,
    out: &mut Vec<u8>,
) {
    out.clear();
    for (labels, samples) in series {
        let sample_len = |t: i64, v: f64| {
            (if v != 0.0 { 9 } else { 0 }) + if t != 0 { 1 + varint_len(t as u64) } else { 0 }
        };
        let ts_len = labels.0.len()
            + samples
                .iter()
                .map(|&(t, v)| {
                    let n = sample_len(t, v);
                    1 + varint_len(n as u64) + n
                })
                .sum::<usize>();
        out.push(0x0a);
        put_uvarint(out, ts_len as u64);
        out.extend_from_slice(&labels.0);
        for &(t, v) in samples {
            out.push(0x12);
            put_uvarint(out, sample_len(t, v) as u64);
            if v != 0.0 {
                out.push(0x09);
                out.extend_from_slice(&v.to_le_bytes());
            }
            if t != 0 {
                out.push(0x10);
                put_uvarint(out, t as u64);
            }
        }
    }
}

/// Model labels to wire labels (already sorted by name).
pub fn labels_to_proto(labels: &Labels) -> Vec<prompb::Label> {
    labels
        .iter()
        .map(|l| prompb::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

/// Wire labels to model labels. Sorts and drops empty values; duplicate
/// names are reported so the receiver can reject the series.
pub fn labels_from_proto(labels: &[prompb::Label]) -> Result<Labels, String> {
    let mut names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("duplicate label name {:?}", w[0]));
    }
    Ok(Labels::new(
        labels
            .iter()
            .map(|l| Label::new(l.name.clone(), l.value.clone()))
            .collect(),
    ))
}

/// A model matcher to its wire form.
pub fn matcher_to_proto(m: &Matcher) -> LabelMatcher {
    let t = match m.kind {
        MatchType::Equal => MatcherType::Eq,
        MatchType::NotEqual => MatcherType::Neq,
        MatchType::Regex => MatcherType::Re,
        MatchType::NotRegex => MatcherType::Nre,
    };
    LabelMatcher {
        r#type: t as i32,
        name: m.name.clone(),
        value: m.value.clone(),
    }
}

/// A wire matcher to a model matcher (compiling its regex).
pub fn matcher_from_proto(m: &LabelMatcher) -> Result<Matcher, RemoteError> {
    let kind = match MatcherType::try_from(m.r#type) {
        Ok(MatcherType::Eq) => MatchType::Equal,
        Ok(MatcherType::Neq) => MatchType::NotEqual,
        Ok(MatcherType::Re) => MatchType::Regex,
        Ok(MatcherType::Nre) => MatchType::NotRegex,
        Err(_) => {
            return Err(RemoteError::Decode(format!(
                "invalid matcher type {} for label {:?}",
                m.r#type, m.name
            )))
        }
    };
    Matcher::new(kind, m.name.clone(), m.value.clone())
        .map_err(|e| RemoteError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::remote::prompb::{Sample, TimeSeries};

    #[test]
    fn write_request_round_trip_through_snappy() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: labels_to_proto(&Labels::from_pairs(&[("__name__", "up"), ("job", "a")])),
                samples: vec![Sample {
                    value: 1.5,
                    timestamp: 1000,
                }],
                exemplars: vec![],
            }],
            metadata: vec![],
        };
        let mut buf = Vec::new();
        let body = encode_write_request(&req, &mut buf).unwrap();
        assert_eq!(decode_write_request(&body).unwrap(), req);
    }

    #[test]
    fn hand_encoded_batch_is_byte_identical_to_prost() {
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", &"x".repeat(200))]);
        let b = Labels::from_pairs(&[("__name__", "b")]);
        let (ea, eb) = (EncodedLabels::new(&a), EncodedLabels::new(&b));
        assert_eq!(ea.decode().unwrap(), a);
        let sa = [
            (1_700_000_000_000i64, 1.5),
            (0, 0.0),
            (-5, -0.0),
            (7, f64::NAN),
        ];
        let sb = [(i64::MAX, f64::INFINITY)];
        let mut out = Vec::new();
        encode_series_batch([(&ea, &sa[..]), (&eb, &sb[..])], &mut out);
        let want = WriteRequest {
            timeseries: [(&a, &sa[..]), (&b, &sb[..])]
                .iter()
                .map(|(l, s)| TimeSeries {
                    labels: labels_to_proto(l),
                    samples: s
                        .iter()
                        .map(|&(timestamp, value)| Sample { value, timestamp })
                        .collect(),
                    exemplars: vec![],
                })
                .collect(),
            metadata: vec![],
        };
        assert_eq!(out, want.encode_to_vec());
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn garbage_and_oversized_bodies_are_errors() {
        assert!(decode_write_request(b"\xff\xff\xff\xff\x0fnot snappy").is_err());
        let body = snappy_compress(&vec![0u8; 1000]).unwrap();
        assert!(snappy_decompress(&body, 999).is_err());
        assert!(snappy_decompress(&body, 1000).is_ok());
    }

    #[test]
    fn duplicate_label_names_are_reported() {
        let l = vec![
            prompb::Label {
                name: "a".into(),
                value: "1".into(),
            },
            prompb::Label {
                name: "a".into(),
                value: "2".into(),
            },
        ];
        assert!(labels_from_proto(&l).is_err());
    }

    #[test]
    fn matcher_round_trip_and_bad_type() {
        let m = Matcher::new(MatchType::NotRegex, "job", "a|b").unwrap();
        assert_eq!(matcher_from_proto(&matcher_to_proto(&m)).unwrap(), m);
        let bad = LabelMatcher {
            r#type: 9,
            name: "x".into(),
            value: String::new(),
        };
        assert!(matcher_from_proto(&bad).is_err());
    }
}
