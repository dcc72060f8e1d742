//! `HeadQuerier`: reads the head through `storage::Querier`. A select
//! resolves matchers on the postings index first, then reads labels, and
//! takes each series' chunks (cheap `Arc` clones; the open chunk is copied)
//! only when the series set reaches it. Samples are decoded lazily by the
//! series iterator and clipped to the querier's range.

use std::sync::Arc;

use super::{ChunkSnapshot, Head};
use crate::model::{Labels, Matcher};
use crate::storage::{
    BoxSeries, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
};
use crate::tsdb::chunkenc::XorIterator;
use crate::tsdb::tombstones::{is_deleted, Interval};

pub struct HeadQuerier {
    head: Arc<Head>,
    mint: i64,
    maxt: i64,
}

impl HeadQuerier {
    pub(super) fn new(head: Arc<Head>, mint: i64, maxt: i64) -> HeadQuerier {
        HeadQuerier { head, mint, maxt }
    }

    fn matching_labels(&self, matchers: &[Matcher]) -> Vec<(Labels, u32)> {
        let ids = self.head.postings_for_matchers(matchers);
        let mut raw = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(l) = self.head.with_series(id, |s| s.labels.clone()) {
                raw.push((l, id));
            }
        }
        let symbols = super::read(&self.head.symbols);
        raw.into_iter()
            .map(|(l, id)| (super::resolve_with(&symbols, &l), id))
            .collect()
    }
}

impl Querier for HeadQuerier {
    fn select(
        &self,
        sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        if self.mint > self.maxt || self.head.num_series() == 0 {
            return Ok(Box::new(std::iter::empty()));
        }
        let head = self.head.clone();
        let (mint, maxt) = (self.mint, self.maxt);
        if !sorted {
            // In id order nothing needs the whole result at once: each
            // series' labels and chunks are read when the set reaches it,
            // so a select over every series never holds every label set.
            let ids = self.head.postings_for_matchers(matchers);
            return Ok(Box::new(ids.into_iter().filter_map(move |id| {
                let (label_ids, chunks) = head.with_series(id, |s| {
                    let chunks = s.snapshot(mint, maxt);
                    (!chunks.is_empty()).then(|| (s.labels.clone(), chunks))
                })??;
                let labels = head.resolve_labels(&label_ids);
                let deleted = head.deleted_intervals(id);
                let s: BoxSeries =
                    Box::new(HeadSeries::new(labels, chunks, mint, maxt).with_deleted(deleted));
                Some(Ok(s))
            })));
        }
        let mut entries = self.matching_labels(matchers);
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Box::new(entries.into_iter().filter_map(
            move |(labels, id)| {
                let chunks = head.with_series(id, |s| s.snapshot(mint, maxt))?;
                if chunks.is_empty() {
                    return None;
                }
                let deleted = head.deleted_intervals(id);
                let s: BoxSeries =
                    Box::new(HeadSeries::new(labels, chunks, mint, maxt).with_deleted(deleted));
                Some(Ok(s))
            },
        )))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(super::read(&self.head.postings).label_values(name));
        }
        let mut values: Vec<String> = self
            .matching_labels(matchers)
            .into_iter()
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        values.sort_unstable();
        values.dedup();
        Ok(values)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(super::read(&self.head.postings).label_names());
        }
        let mut names: Vec<String> = self
            .matching_labels(matchers)
            .into_iter()
            .flat_map(|(l, _)| l.into_vec().into_iter().map(|l| l.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }
}

/// One selected series: labels and the chunks overlapping the range.
pub struct HeadSeries {
    labels: Labels,
    chunks: Vec<ChunkSnapshot>,
    mint: i64,
    maxt: i64,
    /// Deleted intervals whose samples the iterator skips.
    deleted: Vec<Interval>,
}

impl HeadSeries {
    /// A series over `chunks` (oldest first), clipped to `[mint, maxt]`.
    pub fn new(labels: Labels, chunks: Vec<ChunkSnapshot>, mint: i64, maxt: i64) -> HeadSeries {
        HeadSeries {
            labels,
            chunks,
            mint,
            maxt,
            deleted: Vec::new(),
        }
    }

    /// The same series with the samples in `deleted` hidden.
    pub fn with_deleted(mut self, deleted: Vec<Interval>) -> HeadSeries {
        self.deleted = deleted;
        self
    }

    pub fn chunks(&self) -> &[ChunkSnapshot] {
        &self.chunks
    }
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChunksIterator::new(&self.chunks, self.mint, self.maxt).skipping(&self.deleted))
    }
}

/// Iterates samples across chunks, clipped to `[mint, maxt]`.
pub struct ChunksIterator<'a> {
    chunks: &'a [ChunkSnapshot],
    next_chunk: usize,
    cur: Option<XorIterator<&'a [u8]>>,
    mint: i64,
    maxt: i64,
    at: Option<(i64, f64)>,
    done: bool,
    deleted: &'a [Interval],
}

impl<'a> ChunksIterator<'a> {
    pub fn new(chunks: &'a [ChunkSnapshot], mint: i64, maxt: i64) -> ChunksIterator<'a> {
        ChunksIterator {
            chunks,
            next_chunk: 0,
            cur: None,
            mint,
            maxt,
            at: None,
            done: false,
            deleted: &[],
        }
    }

    /// Skips samples inside `deleted`.
    pub fn skipping(mut self, deleted: &'a [Interval]) -> ChunksIterator<'a> {
        self.deleted = deleted;
        self
    }

    fn finish(&mut self) -> Option<(i64, f64)> {
        self.done = true;
        self.at = None;
        None
    }
}

impl SampleIterator for ChunksIterator<'_> {
    fn next(&mut self) -> Option<(i64, f64)> {
        loop {
            if self.done {
                return None;
            }
            if self.cur.is_none() {
                let Some(c) = self.chunks.get(self.next_chunk) else {
                    return self.finish();
                };
                self.next_chunk += 1;
                self.cur = Some(XorIterator::new(&c.data[..]));
            }
            let Some(cur) = self.cur.as_mut() else {
                continue;
            };
            match cur.next() {
                Some((t, _)) if t < self.mint => continue,
                Some((t, _)) if t > self.maxt => return self.finish(),
                Some((t, _)) if is_deleted(self.deleted, t) => continue,
                Some(s) => {
                    self.at = Some(s);
                    return Some(s);
                }
                None => self.cur = None,
            }
        }
    }

    fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        if let Some(cur) = self.at {
            if cur.0 >= t {
                return Some(cur);
            }
        }
        if self.done {
            return None;
        }
        // Skip whole chunks that end before `t` without decoding them.
        let current_ends_before = self
            .next_chunk
            .checked_sub(1)
            .and_then(|i| self.chunks.get(i))
            .is_some_and(|c| c.max_t < t);
        if self.cur.is_none() || current_ends_before {
            self.cur = None;
            while self
                .chunks
                .get(self.next_chunk)
                .is_some_and(|c| c.max_t < t)
            {
                self.next_chunk += 1;
            }
        }
        loop {
            let s = self.next()?;
            if s.0 >= t {
                return Some(s);
            }
        }
    }

    fn at(&self) -> Option<(i64, f64)> {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::super::HeadOptions;
    use super::*;
    use crate::storage::Appender;

    fn read_all(set: SeriesSet) -> Vec<(Labels, Vec<(i64, f64)>)> {
        set.map(|s| {
            let s = s.unwrap();
            let mut it = s.iterator();
            let mut out = Vec::new();
            while let Some(x) = it.next() {
                out.push(x);
            }
            (s.labels().clone(), out)
        })
        .collect()
    }

    #[test]
    fn unsorted_select_reads_the_same_series_as_sorted() {
        let head = Arc::new(Head::new(HeadOptions {
            chunk_range: 1_000_000,
            stripes: 4,
        }));
        let mut app: Box<dyn Appender> = Box::new(head.appender());
        // Created out of label order, so id order differs from label order.
        for (i, job) in ["z", "m", "a"].iter().enumerate() {
            let l = Labels::from_pairs(&[("__name__", "up"), ("job", job)]);
            app.append(0, &l, 1000, i as f64).unwrap();
            app.append(0, &l, 2000, 10.0 + i as f64).unwrap();
        }
        // Only before the range: must not be returned.
        let old = Labels::from_pairs(&[("__name__", "up"), ("job", "old")]);
        app.append(0, &old, 100, 1.0).unwrap();
        app.commit().unwrap();

        let q = HeadQuerier::new(head.clone(), 1500, 5000);
        let ms = [Matcher::equal("__name__", "up")];
        let sorted = read_all(q.select(true, None, &ms).unwrap());
        let mut unsorted = read_all(q.select(false, None, &ms).unwrap());
        assert_eq!(sorted.len(), 3);
        assert_eq!(sorted[0].0.get("job"), Some("a"));
        assert_eq!(sorted[0].1, vec![(2000, 12.0)]);
        unsorted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(unsorted, sorted);
    }
}
