//! `MemSeries`: one series in the head. Its labels are symbol ids, its
//! samples live in closed, immutable XOR chunks (shared with readers through
//! `Arc<[u8]>`, sized exactly) and one open chunk that appends in place.
//! A chunk is closed after 120 samples or when the next sample would cross a
//! `chunk_range` boundary, so no chunk spans two future blocks.

use std::sync::Arc;

use crate::storage::StorageError;
use crate::tsdb::chunkenc::{XorAppender, SAMPLES_PER_CHUNK};

/// A closed chunk and its time range.
#[derive(Clone, Debug)]
pub struct ClosedChunk {
    pub min_t: i64,
    pub max_t: i64,
    pub data: Arc<[u8]>,
}

/// A reader's view of one chunk, taken under the stripe lock.
#[derive(Clone, Debug)]
pub struct ChunkSnapshot {
    pub min_t: i64,
    pub max_t: i64,
    pub data: Arc<[u8]>,
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored; `true` when a new chunk was started for it.
    Sample { new_chunk: bool },
    /// Same timestamp and value as the last sample: dropped silently.
    Duplicate,
}

#[derive(Debug)]
pub struct MemSeries {
    /// Alternating name and value symbol ids, sorted by name.
    pub(crate) labels: Box<[u32]>,
    /// A boxed slice, not a `Vec`: it changes once per 120 samples, so the
    /// spare capacity word and slack are not worth keeping per series.
    closed: Box<[ClosedChunk]>,
    open: XorAppender,
    open_min_t: i64,
}

/// Initial capacity of an open chunk: a little below a typical closed
/// chunk, so most chunks reallocate about twice before closing.
pub(crate) const OPEN_CHUNK_CAPACITY: usize = 48;

impl MemSeries {
    pub fn new(labels: Box<[u32]>) -> MemSeries {
        MemSeries {
            labels,
            closed: Box::new([]),
            open: XorAppender::with_capacity(OPEN_CHUNK_CAPACITY),
            open_min_t: i64::MAX,
        }
    }

    /// A series rebuilt from a head chunk snapshot: `closed` oldest first,
    /// then the open chunk and the time of its first sample.
    pub(crate) fn from_parts(
        labels: Box<[u32]>,
        closed: Vec<ClosedChunk>,
        open: XorAppender,
        open_min_t: i64,
    ) -> MemSeries {
        let open_min_t = if open.num_samples() > 0 {
            open_min_t
        } else {
            i64::MAX
        };
        MemSeries {
            labels,
            closed: closed.into_boxed_slice(),
            open,
            open_min_t,
        }
    }

    /// The closed chunks, oldest first.
    pub(crate) fn closed_chunks(&self) -> &[ClosedChunk] {
        &self.closed
    }

    /// The open chunk and the time of its first sample.
    pub(crate) fn open_chunk(&self) -> (&XorAppender, i64) {
        (&self.open, self.open_min_t)
    }

    /// Time of the newest sample, if any.
    pub fn max_time(&self) -> Option<i64> {
        self.last().map(|s| s.0)
    }

    /// The newest sample.
    pub fn last(&self) -> Option<(i64, f64)> {
        self.open.last()
    }

    /// Oldest sample time, if any.
    pub fn min_time(&self) -> Option<i64> {
        match self.closed.first() {
            Some(c) => Some(c.min_t),
            None => (self.open.num_samples() > 0).then_some(self.open_min_t),
        }
    }

    pub fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.num_samples() > 0)
    }

    pub fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.open.num_samples() == 0
    }

    /// Upstream's `memSeries.appendable`: `Ok(true)` to append, `Ok(false)`
    /// for an exact duplicate of the last sample.
    pub fn appendable(&self, t: i64, v: f64) -> Result<bool, StorageError> {
        let Some((lt, lv)) = self.last() else {
            return Ok(true);
        };
        if t > lt {
            return Ok(true);
        }
        if t < lt {
            return Err(StorageError::OutOfOrderSample);
        }
        if lv.to_bits() != v.to_bits() {
            return Err(StorageError::DuplicateSampleForTimestamp);
        }
        Ok(false)
    }

    pub fn append(&mut self, t: i64, v: f64, chunk_range: i64) -> Result<Appended, StorageError> {
        if !self.appendable(t, v)? {
            return Ok(Appended::Duplicate);
        }
        let mut new_chunk = false;
        let n = self.open.num_samples();
        if n == 0 {
            new_chunk = true;
        } else if n >= SAMPLES_PER_CHUNK || t >= range_end(self.open_min_t, chunk_range) {
            self.close_open_chunk();
            new_chunk = true;
        }
        if new_chunk {
            self.open_min_t = t;
        }
        self.open.append(t, v);
        Ok(Appended::Sample { new_chunk })
    }

    fn close_open_chunk(&mut self) {
        let max_t = self.open.last().map(|s| s.0).unwrap_or(self.open_min_t);
        let open = std::mem::replace(
            &mut self.open,
            XorAppender::with_capacity(OPEN_CHUNK_CAPACITY),
        );
        let mut closed = std::mem::take(&mut self.closed).into_vec();
        closed.push(ClosedChunk {
            min_t: self.open_min_t,
            max_t,
            data: Arc::from(open.into_bytes()),
        });
        self.closed = closed.into_boxed_slice();
    }

    /// Drops chunks that end before `mint`; returns how many.
    pub fn truncate_before(&mut self, mint: i64) -> usize {
        let before = self.closed.len();
        if self.closed.iter().any(|c| c.max_t < mint) {
            let mut closed = std::mem::take(&mut self.closed).into_vec();
            closed.retain(|c| c.max_t >= mint);
            self.closed = closed.into_boxed_slice();
        }
        let mut removed = before - self.closed.len();
        if let Some((lt, _)) = self.open.last() {
            if lt < mint && self.closed.is_empty() {
                self.open = XorAppender::with_capacity(OPEN_CHUNK_CAPACITY);
                self.open_min_t = i64::MAX;
                removed += 1;
            }
        }
        removed
    }

    /// The chunks overlapping `[mint, maxt]`, oldest first.
    pub fn snapshot(&self, mint: i64, maxt: i64) -> Vec<ChunkSnapshot> {
        let mut out: Vec<ChunkSnapshot> = self
            .closed
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .map(|c| ChunkSnapshot {
                min_t: c.min_t,
                max_t: c.max_t,
                data: c.data.clone(),
            })
            .collect();
        if let Some((lt, _)) = self.open.last() {
            if lt >= mint && self.open_min_t <= maxt {
                out.push(ChunkSnapshot {
                    min_t: self.open_min_t,
                    max_t: lt,
                    data: Arc::from(self.open.to_bytes()),
                });
            }
        }
        out
    }

    /// Heap bytes held by chunks (for stats and tests).
    pub fn chunk_bytes(&self) -> usize {
        self.closed.iter().map(|c| c.data.len()).sum::<usize>() + self.open.len()
    }
}

/// The end (exclusive) of the `chunk_range`-aligned window holding `t`.
fn range_end(t: i64, chunk_range: i64) -> i64 {
    if chunk_range <= 0 {
        return i64::MAX;
    }
    t.div_euclid(chunk_range)
        .saturating_add(1)
        .saturating_mul(chunk_range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::chunkenc::XorIterator;

    fn all_samples(s: &MemSeries) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for c in s.snapshot(i64::MIN, i64::MAX) {
            let mut it = XorIterator::new(&c.data[..]);
            while let Some(x) = it.next() {
                out.push(x);
            }
        }
        out
    }

    #[test]
    fn cuts_at_120_samples_and_range_boundaries() {
        let mut s = MemSeries::new(Box::new([]));
        for i in 0..250 {
            s.append(i * 10, i as f64, 1_000_000).unwrap();
        }
        assert_eq!(s.num_chunks(), 3);
        s.append(1_000_000, 1.0, 1_000_000).unwrap();
        assert_eq!(
            s.num_chunks(),
            4,
            "crossing the range boundary starts a chunk"
        );
        let got = all_samples(&s);
        assert_eq!(got.len(), 251);
        assert_eq!(got[249], (2490, 249.0));
    }

    #[test]
    fn append_rules_match_upstream() {
        let mut s = MemSeries::new(Box::new([]));
        s.append(100, 1.0, 1000).unwrap();
        assert_eq!(s.append(100, 1.0, 1000), Ok(Appended::Duplicate));
        assert_eq!(
            s.append(100, 2.0, 1000),
            Err(StorageError::DuplicateSampleForTimestamp)
        );
        assert_eq!(s.append(99, 2.0, 1000), Err(StorageError::OutOfOrderSample));
        let stale = crate::model::stale_nan();
        s.append(200, stale, 1000).unwrap();
        assert_eq!(s.append(200, stale, 1000), Ok(Appended::Duplicate));
        assert_eq!(all_samples(&s).len(), 2);
    }

    #[test]
    fn truncate_drops_old_chunks() {
        let mut s = MemSeries::new(Box::new([]));
        for i in 0..300 {
            s.append(i, 0.0, 1 << 40).unwrap();
        }
        assert_eq!(s.truncate_before(130), 1);
        assert_eq!(s.min_time(), Some(120));
        assert_eq!(s.truncate_before(1000), 2);
        assert!(s.is_empty());
    }
}
