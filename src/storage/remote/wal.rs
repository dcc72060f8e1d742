//! What remote write needs from the write-ahead log, as a trait: numbered
//! segments read from a byte offset, and the newest checkpoint.
//! [`super::wal_dir::WalDir`] implements [`WalReader`] over a WAL directory
//! in upstream's format (the TSDB's, or agent mode's) with the TSDB's public
//! segment reader and record decoders. [`MemWal`] is an in-memory
//! implementation for tests that behaves like the real one (rotation,
//! checkpoints, truncation).
//!
//! Only series and float-sample records matter to remote write; every other
//! record type (tombstones, exemplars, metadata, histograms) decodes to
//! [`WalRecord::Other`] and is skipped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::RemoteError;

/// The series and sample entries of WAL records, as the TSDB decodes them.
pub use crate::tsdb::wal::record::{RefSample, RefSeries};

/// One decoded WAL record.
#[derive(Clone, Debug, PartialEq)]
pub enum WalRecord {
    Series(Vec<RefSeries>),
    Samples(Vec<RefSample>),
    /// Any record remote write does not use.
    Other,
}

/// A place in the WAL: a segment and a byte offset in it at a record boundary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition {
    pub segment: u64,
    pub offset: u64,
}

impl WalPosition {
    pub fn new(segment: u64, offset: u64) -> WalPosition {
        WalPosition { segment, offset }
    }
}

/// Records read from one segment, each with the offset just past it.
#[derive(Debug, Default)]
pub struct SegmentRead {
    pub records: Vec<(WalRecord, u64)>,
}

/// Read access to a WAL that another component writes.
pub trait WalReader: Send + Sync {
    /// First and last existing segment numbers; `None` for an empty WAL.
    fn segment_range(&self) -> Result<Option<(u64, u64)>, RemoteError>;

    /// Index of the newest checkpoint (the last segment it replaces).
    fn last_checkpoint(&self) -> Result<Option<u64>, RemoteError>;

    /// Every record of checkpoint `index`.
    fn read_checkpoint(&self, index: u64) -> Result<Vec<WalRecord>, RemoteError>;

    /// Complete records of `segment` starting at byte `offset`, about
    /// `max_bytes` of them. A record still being written is not returned.
    /// A segment that no longer exists is [`RemoteError::WalSegmentMissing`].
    fn read_segment(
        &self,
        segment: u64,
        offset: u64,
        max_bytes: usize,
    ) -> Result<SegmentRead, RemoteError>;

    /// The current size of a segment in bytes.
    fn segment_size(&self, segment: u64) -> Result<u64, RemoteError>;
}

/// An in-memory WAL with segments and checkpoints, for tests and benches.
/// Record sizes approximate upstream's encoding so offsets and size bounds
/// behave realistically.
#[derive(Clone, Default)]
pub struct MemWal {
    inner: Arc<Mutex<MemWalInner>>,
}

#[derive(Default)]
struct MemWalInner {
    /// Segment number → records with their end offsets.
    segments: BTreeMap<u64, Vec<(u64, WalRecord)>>,
    checkpoint: Option<(u64, Vec<WalRecord>)>,
}

impl MemWal {
    /// An empty WAL whose first segment is 0.
    pub fn new() -> MemWal {
        let wal = MemWal::default();
        wal.lock().segments.insert(0, Vec::new());
        wal
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemWalInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record to the newest segment.
    pub fn log(&self, record: WalRecord) {
        let size = encoded_size(&record);
        let mut inner = self.lock();
        if inner.segments.is_empty() {
            inner.segments.insert(0, Vec::new());
        }
        if let Some((_, seg)) = inner.segments.iter_mut().next_back() {
            let end = seg.last().map_or(0, |r| r.0) + size;
            seg.push((end, record));
        }
    }

    pub fn log_series(&self, series: &[RefSeries]) {
        self.log(WalRecord::Series(series.to_vec()))
    }

    pub fn log_samples(&self, samples: &[RefSample]) {
        self.log(WalRecord::Samples(samples.to_vec()))
    }

    /// Starts a new segment; returns its number.
    pub fn cut_segment(&self) -> u64 {
        let mut inner = self.lock();
        let next = inner.segments.keys().next_back().map_or(0, |k| k + 1);
        inner.segments.insert(next, Vec::new());
        next
    }

    /// Writes checkpoint `upto` from segments `..=upto` (keeping the series
    /// records for which `keep` holds and every sample record), then deletes
    /// those segments, as the head's WAL truncation does.
    pub fn checkpoint(&self, upto: u64, keep: impl Fn(&RefSeries) -> bool) {
        let mut inner = self.lock();
        let mut records = match inner.checkpoint.take() {
            Some((_, r)) => r,
            None => Vec::new(),
        };
        let gone: Vec<u64> = inner.segments.range(..=upto).map(|(k, _)| *k).collect();
        for k in gone {
            if let Some(seg) = inner.segments.remove(&k) {
                records.extend(seg.into_iter().map(|(_, r)| r));
            }
        }
        let records = records
            .into_iter()
            .filter_map(|r| match r {
                WalRecord::Series(s) => {
                    let kept: Vec<RefSeries> = s.into_iter().filter(|s| keep(s)).collect();
                    (!kept.is_empty()).then_some(WalRecord::Series(kept))
                }
                other => Some(other),
            })
            .collect();
        inner.checkpoint = Some((upto, records));
    }
}

impl WalReader for MemWal {
    fn segment_range(&self) -> Result<Option<(u64, u64)>, RemoteError> {
        let inner = self.lock();
        Ok(inner
            .segments
            .keys()
            .next()
            .copied()
            .zip(inner.segments.keys().next_back().copied()))
    }

    fn last_checkpoint(&self) -> Result<Option<u64>, RemoteError> {
        Ok(self.lock().checkpoint.as_ref().map(|c| c.0))
    }

    fn read_checkpoint(&self, index: u64) -> Result<Vec<WalRecord>, RemoteError> {
        match &self.lock().checkpoint {
            Some((i, records)) if *i == index => Ok(records.clone()),
            _ => Err(RemoteError::Wal(format!("checkpoint.{index:08} not found"))),
        }
    }

    fn read_segment(
        &self,
        segment: u64,
        offset: u64,
        max_bytes: usize,
    ) -> Result<SegmentRead, RemoteError> {
        let inner = self.lock();
        let seg = inner
            .segments
            .get(&segment)
            .ok_or(RemoteError::WalSegmentMissing(segment))?;
        let start = seg.partition_point(|(end, _)| *end <= offset);
        let mut out = SegmentRead::default();
        for (end, rec) in &seg[start..] {
            out.records.push((rec.clone(), *end));
            if end - offset >= max_bytes as u64 {
                break;
            }
        }
        Ok(out)
    }

    fn segment_size(&self, segment: u64) -> Result<u64, RemoteError> {
        let inner = self.lock();
        let seg = inner
            .segments
            .get(&segment)
            .ok_or(RemoteError::WalSegmentMissing(segment))?;
        Ok(seg.last().map_or(0, |r| r.0))
    }
}

/// Roughly upstream's encoded record size: 7-byte fragment header, 1 type
/// byte, then per entry as the WAL format document describes.
fn encoded_size(record: &WalRecord) -> u64 {
    let body = match record {
        WalRecord::Series(s) => s
            .iter()
            .map(|s| {
                9 + s
                    .labels
                    .iter()
                    .map(|l| 2 + l.name.len() + l.value.len())
                    .sum::<usize>()
            })
            .sum::<usize>(),
        WalRecord::Samples(s) => 16 + s.len() * 12,
        WalRecord::Other => 8,
    };
    8 + body as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;

    fn sample(r: u64, t: i64) -> RefSample {
        RefSample {
            series_ref: r,
            t,
            v: t as f64,
        }
    }

    #[test]
    fn reads_from_offsets_and_follows_rotation() {
        let wal = MemWal::new();
        wal.log_samples(&[sample(1, 1)]);
        wal.log_samples(&[sample(1, 2)]);
        let r = wal.read_segment(0, 0, 1 << 20).unwrap();
        assert_eq!(r.records.len(), 2);
        let after_first = r.records[0].1;
        let r = wal.read_segment(0, after_first, 1 << 20).unwrap();
        assert_eq!(r.records.len(), 1);
        assert_eq!(wal.cut_segment(), 1);
        assert_eq!(wal.segment_range().unwrap(), Some((0, 1)));
        assert!(wal.read_segment(1, 0, 10).unwrap().records.is_empty());
    }

    #[test]
    fn checkpoint_removes_segments_and_keeps_chosen_series() {
        let wal = MemWal::new();
        let l = Labels::from_pairs(&[("__name__", "a")]);
        wal.log_series(&[
            RefSeries {
                series_ref: 1,
                labels: l.clone(),
            },
            RefSeries {
                series_ref: 2,
                labels: l,
            },
        ]);
        wal.cut_segment();
        wal.checkpoint(0, |s| s.series_ref == 2);
        assert_eq!(wal.last_checkpoint().unwrap(), Some(0));
        assert!(matches!(
            wal.read_segment(0, 0, 10),
            Err(RemoteError::WalSegmentMissing(0))
        ));
        let cp = wal.read_checkpoint(0).unwrap();
        assert!(matches!(&cp[..], [WalRecord::Series(s)] if s.len() == 1 && s[0].series_ref == 2));
    }
}
