//! [`WalDir`]: the [`WalReader`] over a WAL directory in upstream's format
//! (`<data dir>/wal` of the TSDB, or agent mode's WAL), built on the TSDB's
//! public `LiveReader`, checkpoint listing and record decoders.
//!
//! A segment is tailed with one `LiveReader` kept between calls, so a record
//! whose fragments are only partly written is completed on a later call
//! instead of being re-read from the start. Opening at an arbitrary offset
//! (after a restart) reads the segment from its start and skips records up
//! to that offset once, because page padding can only be located from the
//! start of the segment.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::wal::{SegmentRead, WalReader, WalRecord};
use super::RemoteError;
use crate::tsdb::wal::{
    checkpoint, list_segments, record, segment_name, LiveReader, Reader, WalError,
};

/// A WAL directory read by remote write.
pub struct WalDir {
    dir: PathBuf,
    /// The segment being tailed: its number, the offset after its last
    /// complete record, and the reader positioned there.
    live: Mutex<Option<(u64, u64, LiveReader)>>,
}

impl WalDir {
    /// Reads the WAL in `dir` (it need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> WalDir {
        WalDir {
            dir: dir.into(),
            live: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn segment_path(&self, segment: u64) -> Result<PathBuf, RemoteError> {
        let index = u32::try_from(segment)
            .map_err(|_| RemoteError::Wal(format!("segment number {segment} out of range")))?;
        Ok(self.dir.join(segment_name(index)))
    }

    /// A reader positioned at `offset` of `segment`.
    fn open_at(&self, segment: u64, offset: u64) -> Result<LiveReader, RemoteError> {
        let path = self.segment_path(segment)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RemoteError::WalSegmentMissing(segment))
            }
            Err(e) => return Err(RemoteError::Wal(format!("{}: {e}", path.display()))),
        };
        let mut reader = LiveReader::new(file);
        while reader.offset() < offset {
            match reader.next() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Err(wal_error(segment, e)),
            }
        }
        Ok(reader)
    }
}

fn wal_error(segment: u64, e: WalError) -> RemoteError {
    match e {
        WalError::Corruption { offset, reason, .. } => RemoteError::Wal(format!(
            "corruption in WAL segment {segment:08} at offset {offset}: {reason}"
        )),
        other => RemoteError::Wal(other.to_string()),
    }
}

/// Decodes the records remote write uses; others become `Other`.
fn decode(rec: &[u8]) -> Result<WalRecord, RemoteError> {
    let err = |e: record::RecordError| RemoteError::Wal(e.to_string());
    match record::record_type(rec) {
        Some(record::SERIES) => {
            let mut out = Vec::new();
            record::decode_series(rec, &mut out).map_err(err)?;
            Ok(WalRecord::Series(out))
        }
        Some(record::SAMPLES) => {
            let mut out = Vec::new();
            record::decode_samples(rec, &mut out).map_err(err)?;
            Ok(WalRecord::Samples(out))
        }
        _ => Ok(WalRecord::Other),
    }
}

impl WalReader for WalDir {
    fn segment_range(&self) -> Result<Option<(u64, u64)>, RemoteError> {
        let segs = list_segments(&self.dir).map_err(|e| RemoteError::Wal(e.to_string()))?;
        Ok(segs
            .first()
            .zip(segs.last())
            .map(|(a, b)| (u64::from(a.0), u64::from(b.0))))
    }

    fn last_checkpoint(&self) -> Result<Option<u64>, RemoteError> {
        checkpoint::last_checkpoint(&self.dir)
            .map(|c| c.map(|(i, _)| u64::from(i)))
            .map_err(|e| RemoteError::Wal(e.to_string()))
    }

    fn read_checkpoint(&self, index: u64) -> Result<Vec<WalRecord>, RemoteError> {
        let index32 = u32::try_from(index)
            .map_err(|_| RemoteError::Wal(format!("checkpoint number {index} out of range")))?;
        let dir = self.dir.join(checkpoint::checkpoint_name(index32));
        let segs = list_segments(&dir).map_err(|e| RemoteError::Wal(e.to_string()))?;
        let mut reader = Reader::new(segs);
        let mut out = Vec::new();
        loop {
            match reader.next() {
                Ok(Some(rec)) => {
                    // Only series matter: checkpoint samples predate the tail.
                    if record::record_type(rec) == Some(record::SERIES) {
                        out.push(decode(rec)?);
                    }
                }
                Ok(None) => return Ok(out),
                Err(e) => return Err(RemoteError::Wal(format!("reading {}: {e}", dir.display()))),
            }
        }
    }

    fn read_segment(
        &self,
        segment: u64,
        offset: u64,
        max_bytes: usize,
    ) -> Result<SegmentRead, RemoteError> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let reusable = matches!(&*live, Some((s, o, _)) if *s == segment && *o == offset);
        if !reusable {
            *live = None;
            let reader = self.open_at(segment, offset)?;
            *live = Some((segment, reader.offset(), reader));
        }
        let Some((_, last_end, reader)) = live.as_mut() else {
            return Ok(SegmentRead::default());
        };
        let mut out = SegmentRead::default();
        let start = *last_end;
        loop {
            let rec = match reader.next() {
                Ok(Some(rec)) => decode(rec)?,
                Ok(None) => break,
                Err(e) => {
                    let e = wal_error(segment, e);
                    // Start over next time rather than from a broken state;
                    // hand out what was good first, the error comes again.
                    *live = None;
                    if out.records.is_empty() {
                        return Err(e);
                    }
                    return Ok(out);
                }
            };
            let end = reader.offset();
            *last_end = end;
            out.records.push((rec, end));
            if end - start >= max_bytes as u64 {
                break;
            }
        }
        Ok(out)
    }

    fn segment_size(&self, segment: u64) -> Result<u64, RemoteError> {
        let path = self.segment_path(segment)?;
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(RemoteError::WalSegmentMissing(segment))
            }
            Err(e) => Err(RemoteError::Wal(format!("{}: {e}", path.display()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::tsdb::wal::record::{encode_samples, encode_series, RefSample};
    use crate::tsdb::wal::{Wal, WalOptions};

    fn write_samples(wal: &Wal, r: u64, ts: std::ops::Range<i64>) {
        let samples: Vec<RefSample> = ts
            .map(|t| RefSample {
                series_ref: r,
                t,
                v: t as f64,
            })
            .collect();
        let mut buf = Vec::new();
        encode_samples(&samples, &mut buf);
        wal.log(&[&buf]).unwrap();
    }

    #[test]
    fn tails_a_real_wal_across_calls_and_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let l = Labels::from_pairs(&[("__name__", "up")]);
        let mut buf = Vec::new();
        encode_series([(7u64, &l)], &mut buf);
        wal.log(&[&buf]).unwrap();
        write_samples(&wal, 7, 0..10);

        let r = WalDir::new(dir.path());
        assert_eq!(r.segment_range().unwrap(), Some((0, 0)));
        let first = r.read_segment(0, 0, 1 << 20).unwrap();
        assert_eq!(first.records.len(), 2);
        assert!(matches!(&first.records[0].0, WalRecord::Series(s) if s[0].series_ref == 7));
        let end = first.records[1].1;
        assert!(r.read_segment(0, end, 1 << 20).unwrap().records.is_empty());

        // A big record spans pages: it is read once complete.
        write_samples(&wal, 7, 10..10_000);
        let more = r.read_segment(0, end, 1 << 20).unwrap();
        assert!(matches!(&more.records[..], [(WalRecord::Samples(s), _)] if s.len() == 9990));

        // A fresh reader at a saved offset skips to it.
        let again = WalDir::new(dir.path());
        let from_end = again.read_segment(0, end, 1 << 20).unwrap();
        assert_eq!(from_end.records.len(), 1);
        assert!(matches!(
            again.read_segment(5, 0, 10),
            Err(RemoteError::WalSegmentMissing(5))
        ));
    }
}
