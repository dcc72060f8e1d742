//! WAL record encoding, as upstream's `tsdb/record`: series (type 1), float
//! samples (type 2) and tombstones (type 3). Public so the remote-write queue
//! can decode what it tails. Other upstream record types (exemplars,
//! metadata, native histograms) are recognised by type and skipped by callers.

use std::fmt;

use crate::model::{Label, Labels};
use crate::tsdb::chunkenc::bstream::{put_uvarint, put_varint};

pub const SERIES: u8 = 1;
pub const SAMPLES: u8 = 2;
pub const TOMBSTONES: u8 = 3;
pub const EXEMPLARS: u8 = 4;
pub const METADATA: u8 = 6;

/// A series with its WAL reference.
#[derive(Clone, Debug, PartialEq)]
pub struct RefSeries {
    pub series_ref: u64,
    pub labels: Labels,
}

/// A float sample of the series with that reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefSample {
    pub series_ref: u64,
    pub t: i64,
    pub v: f64,
}

/// A deletion interval of one series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stone {
    pub series_ref: u64,
    pub mint: i64,
    pub maxt: i64,
}

/// A record that does not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError(pub String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decode WAL record: {}", self.0)
    }
}

impl std::error::Error for RecordError {}

/// The type byte of a record, `None` for an empty record.
pub fn record_type(rec: &[u8]) -> Option<u8> {
    rec.first().copied()
}

/// Appends a series record for `series`.
pub fn encode_series<'a>(series: impl IntoIterator<Item = (u64, &'a Labels)>, out: &mut Vec<u8>) {
    out.push(SERIES);
    for (r, labels) in series {
        push_series_entry(out, r, labels);
    }
}

/// Adds one series to the series record being built in `out`, starting the
/// record when `out` is empty; so a record can be built one series at a
/// time, as an appender creates them.
pub fn push_series_entry(out: &mut Vec<u8>, r: u64, labels: &Labels) {
    if out.is_empty() {
        out.push(SERIES);
    }
    out.extend_from_slice(&r.to_be_bytes());
    put_uvarint(out, labels.len() as u64);
    for l in labels {
        put_uvarint(out, l.name.len() as u64);
        out.extend_from_slice(l.name.as_bytes());
        put_uvarint(out, l.value.len() as u64);
        out.extend_from_slice(l.value.as_bytes());
    }
}

/// Appends a samples record; refs and timestamps are deltas to the first sample's.
pub fn encode_samples(samples: &[RefSample], out: &mut Vec<u8>) {
    out.push(SAMPLES);
    let Some(first) = samples.first() else {
        return;
    };
    out.extend_from_slice(&first.series_ref.to_be_bytes());
    out.extend_from_slice(&first.t.to_be_bytes());
    for s in samples {
        put_varint(
            out,
            (s.series_ref as i64).wrapping_sub(first.series_ref as i64),
        );
        put_varint(out, s.t.wrapping_sub(first.t));
        out.extend_from_slice(&s.v.to_bits().to_be_bytes());
    }
}

/// Appends a tombstones record.
pub fn encode_tombstones(stones: &[Stone], out: &mut Vec<u8>) {
    out.push(TOMBSTONES);
    for s in stones {
        out.extend_from_slice(&s.series_ref.to_be_bytes());
        put_varint(out, s.mint);
        put_varint(out, s.maxt);
    }
}

/// A cursor over a record's bytes with Go `encoding/binary` primitives.
struct Decbuf<'a> {
    b: &'a [u8],
}

impl<'a> Decbuf<'a> {
    fn err(what: &str) -> RecordError {
        RecordError(format!("unexpected end of record reading {what}"))
    }

    fn be64(&mut self) -> Result<u64, RecordError> {
        let (head, rest) = self
            .b
            .split_first_chunk::<8>()
            .ok_or_else(|| Self::err("a 64-bit field"))?;
        self.b = rest;
        Ok(u64::from_be_bytes(*head))
    }

    fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut x: u64 = 0;
        let mut s = 0u32;
        for (i, &b) in self.b.iter().enumerate().take(10) {
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(RecordError("varint overflows 64 bits".into()));
                }
                self.b = &self.b[i + 1..];
                return Ok(x | (u64::from(b) << s));
            }
            x |= u64::from(b & 0x7f) << s;
            s += 7;
        }
        Err(Self::err("a varint"))
    }

    fn varint(&mut self) -> Result<i64, RecordError> {
        let ux = self.uvarint()?;
        let x = (ux >> 1) as i64;
        Ok(if ux & 1 != 0 { !x } else { x })
    }

    fn string(&mut self) -> Result<String, RecordError> {
        let n = self.uvarint()? as usize;
        if n > self.b.len() {
            return Err(Self::err("a string"));
        }
        let (s, rest) = self.b.split_at(n);
        self.b = rest;
        String::from_utf8(s.to_vec()).map_err(|_| RecordError("label is not valid UTF-8".into()))
    }
}

fn body(rec: &[u8], want: u8) -> Result<Decbuf<'_>, RecordError> {
    match rec.split_first() {
        Some((&t, rest)) if t == want => Ok(Decbuf { b: rest }),
        Some((&t, _)) => Err(RecordError(format!(
            "record type {t} where type {want} was expected"
        ))),
        None => Err(RecordError("empty record".into())),
    }
}

/// Decodes a series record, appending to `out`.
pub fn decode_series(rec: &[u8], out: &mut Vec<RefSeries>) -> Result<(), RecordError> {
    let mut d = body(rec, SERIES)?;
    while !d.b.is_empty() {
        let series_ref = d.be64()?;
        let n = d.uvarint()? as usize;
        // Each label takes at least its two length bytes.
        if n > d.b.len() / 2 {
            return Err(Decbuf::err("labels"));
        }
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let name = d.string()?;
            let value = d.string()?;
            labels.push(Label { name, value });
        }
        out.push(RefSeries {
            series_ref,
            labels: Labels::new(labels),
        });
    }
    Ok(())
}

/// Decodes a samples record, appending to `out`.
pub fn decode_samples(rec: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
    let mut d = body(rec, SAMPLES)?;
    if d.b.is_empty() {
        return Ok(());
    }
    let base_ref = d.be64()?;
    let base_t = d.be64()? as i64;
    while !d.b.is_empty() {
        let dref = d.varint()?;
        let dt = d.varint()?;
        let v = f64::from_bits(d.be64()?);
        out.push(RefSample {
            series_ref: (base_ref as i64).wrapping_add(dref) as u64,
            t: base_t.wrapping_add(dt),
            v,
        });
    }
    Ok(())
}

/// Decodes a tombstones record, appending to `out`.
pub fn decode_tombstones(rec: &[u8], out: &mut Vec<Stone>) -> Result<(), RecordError> {
    let mut d = body(rec, TOMBSTONES)?;
    while !d.b.is_empty() {
        let series_ref = d.be64()?;
        let mint = d.varint()?;
        let maxt = d.varint()?;
        out.push(Stone {
            series_ref,
            mint,
            maxt,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN_BITS;

    #[test]
    fn series_record_built_one_entry_at_a_time_is_the_same() {
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "x")]);
        let b = Labels::from_pairs(&[("__name__", "go"), ("instance", "h:1")]);
        let mut whole = Vec::new();
        encode_series([(1, &a), (70_000, &b)], &mut whole);
        let mut parts = Vec::new();
        push_series_entry(&mut parts, 1, &a);
        push_series_entry(&mut parts, 70_000, &b);
        assert_eq!(parts, whole);
        let mut back = Vec::new();
        decode_series(&parts, &mut back).unwrap();
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn series_round_trip() {
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs(&[("x", "ü")]);
        let mut rec = Vec::new();
        encode_series([(1u64, &a), (u64::MAX, &b)], &mut rec);
        assert_eq!(record_type(&rec), Some(SERIES));
        let mut out = Vec::new();
        decode_series(&rec, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, a);
        assert_eq!(out[1].series_ref, u64::MAX);
        // Every cut fails except at the boundary between the two series.
        let mut first_only = Vec::new();
        encode_series([(1u64, &a)], &mut first_only);
        for cut in 2..rec.len() {
            let ok = decode_series(&rec[..cut], &mut Vec::new()).is_ok();
            assert_eq!(ok, cut == first_only.len(), "cut at {cut}");
        }
    }

    #[test]
    fn samples_round_trip_with_negative_deltas() {
        let s = vec![
            RefSample {
                series_ref: 10,
                t: 1000,
                v: 1.5,
            },
            RefSample {
                series_ref: 3,
                t: 999,
                v: f64::from_bits(STALE_NAN_BITS),
            },
            RefSample {
                series_ref: 11,
                t: -5,
                v: f64::NEG_INFINITY,
            },
        ];
        let mut rec = Vec::new();
        encode_samples(&s, &mut rec);
        // Upstream's layout: type, BE64 first ref, BE64 first t, then varint deltas.
        assert_eq!(&rec[..9], &[2, 0, 0, 0, 0, 0, 0, 0, 10]);
        let mut out = Vec::new();
        decode_samples(&rec, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], s[0]);
        assert_eq!(out[1].v.to_bits(), STALE_NAN_BITS);
        assert_eq!((out[2].series_ref, out[2].t), (11, -5));
        let mut empty = Vec::new();
        encode_samples(&[], &mut empty);
        assert_eq!(empty, [SAMPLES]);
        decode_samples(&empty, &mut out).unwrap();
        assert!(decode_samples(&rec[..rec.len() - 1], &mut out).is_err());
        assert!(decode_series(&rec, &mut Vec::new()).is_err());
    }

    /// Runs every decoder on `rec`: whatever the bytes, Ok or Err.
    fn decode_any(rec: &[u8]) {
        let _ = decode_series(rec, &mut Vec::new());
        let _ = decode_samples(rec, &mut Vec::new());
        let _ = decode_tombstones(rec, &mut Vec::new());
    }

    #[test]
    fn every_cut_and_flip_of_a_record_decodes_or_fails() {
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "ü")]);
        let b = Labels::from_pairs(&[("i", "1")]);
        let mut series = Vec::new();
        encode_series([(1u64, &a), (u64::MAX, &b)], &mut series);
        let mut samples = Vec::new();
        let s = |series_ref, t, v| RefSample { series_ref, t, v };
        encode_samples(
            &[
                s(5, 1000, 1.0),
                s(1, i64::MIN, f64::NAN),
                s(u64::MAX, 7, -0.0),
            ],
            &mut samples,
        );
        let mut stones = Vec::new();
        let st = |series_ref, mint, maxt| Stone {
            series_ref,
            mint,
            maxt,
        };
        encode_tombstones(&[st(1, -5, 5), st(9, i64::MIN, i64::MAX)], &mut stones);
        for rec in [series, samples, stones] {
            for cut in 0..=rec.len() {
                decode_any(&rec[..cut]);
            }
            for at in 0..rec.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut bad = rec.clone();
                    bad[at] ^= flip;
                    decode_any(&bad);
                }
            }
        }
        // A label count beyond the record fails before allocating for it.
        let mut huge = vec![SERIES];
        huge.extend_from_slice(&1u64.to_be_bytes());
        put_uvarint(&mut huge, u64::MAX);
        assert!(decode_series(&huge, &mut Vec::new()).is_err());
    }

    #[test]
    fn tombstones_round_trip() {
        let s = vec![Stone {
            series_ref: 7,
            mint: -10,
            maxt: 20,
        }];
        let mut rec = Vec::new();
        encode_tombstones(&s, &mut rec);
        let mut out = Vec::new();
        decode_tombstones(&rec, &mut out).unwrap();
        assert_eq!(out, s);
    }
}
