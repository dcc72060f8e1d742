//! The storage interfaces every component writes to and reads from, as
//! upstream's `storage` package: `Appendable`/`Appender` for ingest,
//! `Queryable`/`Querier` for reads, and a fanout over a primary and
//! secondaries. `promql`, `scrape` and `rules` see storage only through these
//! traits; they never name a TSDB type.

pub mod fanout;
pub mod memory;
pub mod merge;
pub mod remote;

use std::fmt;

use crate::model::{Labels, Matcher};

/// An opaque reference to a series inside one storage, returned by `append`
/// so the caller can skip the label lookup next time. `0` means "unknown".
pub type SeriesRef = u64;

/// Errors upstream distinguishes, with upstream's messages.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageError {
    /// A sample older than the newest one of its series.
    OutOfOrderSample,
    /// A sample older than the storage accepts (before the head's window).
    OutOfBounds,
    /// A sample at an existing timestamp with a different value.
    DuplicateSampleForTimestamp,
    /// The labels of an appended series are not valid (empty, duplicate names, ...).
    InvalidLabels(String),
    /// The storage is not open yet or has been closed.
    NotReady,
    /// Any I/O or internal error, with context.
    Internal(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::OutOfOrderSample => f.write_str("out of order sample"),
            StorageError::OutOfBounds => f.write_str("out of bounds"),
            StorageError::DuplicateSampleForTimestamp => {
                f.write_str("duplicate sample for timestamp")
            }
            StorageError::InvalidLabels(s) => write!(f, "invalid labels: {s}"),
            StorageError::NotReady => f.write_str("TSDB not ready"),
            StorageError::Internal(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Internal(e.to_string())
    }
}

/// Something samples can be appended to.
pub trait Appendable: Send + Sync {
    /// A new appender; its samples become visible on `commit`.
    fn appender(&self) -> Box<dyn Appender>;
}

/// A batch of appends, committed or rolled back as one.
pub trait Appender: Send {
    /// Appends a sample. `series_ref` is a reference returned by an earlier
    /// append to this storage, or 0; when it is valid `labels` may be ignored.
    /// Returns the series' reference for later appends.
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError>;

    /// Makes every appended sample durable (as far as the storage promises) and visible.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// Discards every sample appended so far.
    fn rollback(self: Box<Self>) -> Result<(), StorageError>;
}

/// Hints for a select, as upstream's `SelectHints`: the engine's view of the
/// time range and the function it will apply. Storage may ignore them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelectHints {
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub range: i64,
    pub func: String,
    pub grouping: Vec<String>,
    pub by: bool,
}

/// Something that can be read over a time range.
pub trait Queryable: Send + Sync {
    /// A querier over samples with `mint <= t <= maxt`.
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError>;
}

/// Reads series over the querier's time range.
pub trait Querier: Send {
    /// Series whose labels match every matcher. With `sorted` the series come
    /// in label order (upstream's `labels.Compare`).
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError>;

    /// Sorted unique values of label `name` among series matching `matchers`
    /// (all series when empty).
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted unique label names among series matching `matchers`.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// One series: labels and a way to iterate its samples in time order.
pub trait Series: Send {
    fn labels(&self) -> &Labels;
    fn iterator(&self) -> Box<dyn SampleIterator + '_>;

    /// The newest sample with `mint <= t <= maxt`: what an instant selector
    /// reads. A storage that knows a series' newest sample without decoding
    /// its chunks answers from it; the default walks the iterator.
    fn last_sample_in(&self, mint: i64, maxt: i64) -> Option<(i64, f64)> {
        last_sample_of(&mut *self.iterator(), mint, maxt)
    }
}

/// The newest sample of `it` with `mint <= t <= maxt`, walking forward.
pub fn last_sample_of(it: &mut dyn SampleIterator, mint: i64, maxt: i64) -> Option<(i64, f64)> {
    let mut cur = it.seek(mint).filter(|s| s.0 <= maxt)?;
    while let Some(s) = it.next() {
        if s.0 > maxt {
            break;
        }
        cur = s;
    }
    Some(cur)
}

/// A boxed series.
pub type BoxSeries = Box<dyn Series>;

/// A stream of series. Errors end the stream.
pub type SeriesSet = Box<dyn Iterator<Item = Result<BoxSeries, StorageError>> + Send>;

/// Iterates one series' samples in increasing time order.
pub trait SampleIterator {
    /// The next sample.
    fn next(&mut self) -> Option<(i64, f64)>;

    /// Advances to the first sample with timestamp `>= t` and returns it. If
    /// the iterator is already there or past it, returns the current sample
    /// again without moving (the iterator never goes backwards).
    fn seek(&mut self, t: i64) -> Option<(i64, f64)>;

    /// The sample the iterator is on, after `next` or `seek` returned it.
    fn at(&self) -> Option<(i64, f64)>;
}

/// A series backed by a vector of samples; what the in-memory storage and
/// merges produce.
#[derive(Clone, Debug)]
pub struct VecSeries {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

impl Series for VecSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(SliceIterator::new(&self.samples))
    }
}

/// Iterates a sorted slice of samples.
pub struct SliceIterator<'a> {
    samples: &'a [(i64, f64)],
    /// Index of the current sample plus one; 0 before the first `next`.
    pos: usize,
}

impl<'a> SliceIterator<'a> {
    pub fn new(samples: &'a [(i64, f64)]) -> SliceIterator<'a> {
        SliceIterator { samples, pos: 0 }
    }
}

impl SampleIterator for SliceIterator<'_> {
    fn next(&mut self) -> Option<(i64, f64)> {
        if self.pos >= self.samples.len() {
            self.pos = self.samples.len() + 1;
            return None;
        }
        self.pos += 1;
        Some(self.samples[self.pos - 1])
    }

    fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        if let Some(cur) = self.at() {
            if cur.0 >= t {
                return Some(cur);
            }
        }
        let from = self.pos.saturating_sub(1).min(self.samples.len());
        let idx = from + self.samples[from..].partition_point(|s| s.0 < t);
        self.pos = idx + 1;
        self.samples.get(idx).copied()
    }

    fn at(&self) -> Option<(i64, f64)> {
        if self.pos == 0 {
            return None;
        }
        self.samples.get(self.pos - 1).copied()
    }
}

/// Whether `labels` satisfies every matcher (absent labels match as "").
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get_or_empty(&m.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_iterator_next_and_seek() {
        let s = [(1, 1.0), (5, 5.0), (9, 9.0)];
        let mut it = SliceIterator::new(&s);
        assert_eq!(it.at(), None);
        assert_eq!(it.seek(4), Some((5, 5.0)));
        assert_eq!(it.seek(2), Some((5, 5.0)));
        assert_eq!(it.next(), Some((9, 9.0)));
        assert_eq!(it.next(), None);
        assert_eq!(it.seek(100), None);
        let mut it = SliceIterator::new(&s);
        assert_eq!(it.next(), Some((1, 1.0)));
        assert_eq!(it.seek(1), Some((1, 1.0)));
        assert_eq!(it.seek(10), None);
    }
}
