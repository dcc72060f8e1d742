//! `HeadQuerier`: reads the head through `storage::Querier`. A select
//! resolves matchers on the postings index first, then reads labels and
//! each series' newest sample when the series set reaches it. Chunks
//! (cheap `Arc` clones; the open chunk is copied) are taken then for range
//! selectors and selects over many steps (`SelectHints::range`/`step`); for
//! a single evaluation only when a series is iterated, so an instant
//! selector at the head's newest samples (dashboards, rules) neither copies
//! nor decodes any chunk. Samples are
//! decoded lazily by the series iterator and clipped to the querier's range.

use std::cell::OnceCell;
use std::sync::Arc;

use super::{ChunkSnapshot, Head, MemSeries};
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

    /// Whether the querier's range misses every sample in the head; label
    /// names and values are then empty, as upstream's `headIndexReader`
    /// (which is what makes the API's `start`/`end` matter for them).
    fn outside_head(&self) -> bool {
        self.maxt < self.head.min_time() || self.mint > self.head.max_time()
    }
}

impl Querier for HeadQuerier {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        if self.mint > self.maxt || self.head.num_series() == 0 {
            return Ok(Box::new(std::iter::empty()));
        }
        let head = self.head.clone();
        let (mint, maxt) = (self.mint, self.maxt);
        // A range selector or a selector over many steps reads every
        // sample in range: take the chunks under the same lock as the
        // labels. A single evaluation (step 0) may only want the newest
        // sample, so there chunks wait until a series is iterated.
        let eager = hints.is_some_and(|h| h.range > 0 || h.step > 0);
        if !sorted {
            // In id order nothing needs the whole result at once: each
            // series' labels and chunks are read when the set reaches it,
            // so a select over every series never holds every label set.
            let ids = self.head.postings_for_matchers(matchers);
            return Ok(Box::new(ids.into_iter().filter_map(move |id| {
                let (label_ids, read) = head.with_series(id, |s| {
                    read_series(s, mint, maxt, eager).map(|r| (s.labels.clone(), r))
                })??;
                let labels = head.resolve_labels(&label_ids);
                Some(Ok(series_from(&head, id, labels, read, mint, maxt)))
            })));
        }
        let mut entries = self.matching_labels(matchers);
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Box::new(entries.into_iter().filter_map(
            move |(labels, id)| {
                let read = head.with_series(id, |s| read_series(s, mint, maxt, eager))??;
                Some(Ok(series_from(&head, id, labels, read, mint, maxt)))
            },
        )))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if self.outside_head() {
            return Ok(Vec::new());
        }
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
        if self.outside_head() {
            return Ok(Vec::new());
        }
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

/// What a select reads of one series under its stripe lock.
enum SeriesRead {
    /// The chunks overlapping the range.
    Chunks(Vec<ChunkSnapshot>),
    /// Only the newest sample; chunks are taken on first iteration.
    Newest(Option<(i64, f64)>),
}

/// Reads series `s` for a select over `[mint, maxt]`; `None` when it has no
/// chunk there.
fn read_series(s: &MemSeries, mint: i64, maxt: i64, eager: bool) -> Option<SeriesRead> {
    if eager {
        let chunks = s.snapshot(mint, maxt);
        return (!chunks.is_empty()).then_some(SeriesRead::Chunks(chunks));
    }
    overlaps(s, mint, maxt).then(|| SeriesRead::Newest(s.last()))
}

fn series_from(
    head: &Arc<Head>,
    id: u32,
    labels: Labels,
    read: SeriesRead,
    mint: i64,
    maxt: i64,
) -> BoxSeries {
    match read {
        SeriesRead::Chunks(chunks) => Box::new(
            HeadSeries::new(labels, chunks, mint, maxt).with_deleted(head.deleted_intervals(id)),
        ),
        SeriesRead::Newest(newest) => {
            Box::new(HeadSeries::lazy(head, id, labels, newest, mint, maxt))
        }
    }
}

/// Whether `s` has a chunk overlapping `[mint, maxt]` (what a snapshot of
/// that range would hold), without copying any.
fn overlaps(s: &MemSeries, mint: i64, maxt: i64) -> bool {
    let (open, open_min_t) = s.open_chunk();
    s.closed_chunks()
        .iter()
        .any(|c| c.max_t >= mint && c.min_t <= maxt)
        || open
            .last()
            .is_some_and(|(lt, _)| lt >= mint && open_min_t <= maxt)
}

/// Where a series' chunks come from.
enum Chunks {
    /// Taken when the series was made (blocks, tests).
    Taken(Vec<ChunkSnapshot>),
    /// A head series whose chunks are taken on first read.
    Head {
        head: Arc<Head>,
        id: u32,
        /// The chunks and deleted intervals, once read.
        taken: OnceCell<(Vec<ChunkSnapshot>, Vec<Interval>)>,
    },
}

/// One selected series: labels and the chunks overlapping the range.
pub struct HeadSeries {
    labels: Labels,
    chunks: Chunks,
    mint: i64,
    maxt: i64,
    /// Deleted intervals whose samples the iterator skips (`Chunks::Taken`).
    deleted: Vec<Interval>,
    /// The series' newest sample when it was selected (head series only).
    newest: Option<(i64, f64)>,
}

impl HeadSeries {
    /// A series over `chunks` (oldest first), clipped to `[mint, maxt]`.
    pub fn new(labels: Labels, chunks: Vec<ChunkSnapshot>, mint: i64, maxt: i64) -> HeadSeries {
        HeadSeries {
            labels,
            chunks: Chunks::Taken(chunks),
            mint,
            maxt,
            deleted: Vec::new(),
            newest: None,
        }
    }

    /// Head series `id`, whose chunks are read from the head when first iterated.
    fn lazy(
        head: &Arc<Head>,
        id: u32,
        labels: Labels,
        newest: Option<(i64, f64)>,
        mint: i64,
        maxt: i64,
    ) -> HeadSeries {
        HeadSeries {
            labels,
            chunks: Chunks::Head {
                head: head.clone(),
                id,
                taken: OnceCell::new(),
            },
            mint,
            maxt,
            deleted: Vec::new(),
            newest,
        }
    }

    /// The same series with the samples in `deleted` hidden.
    pub fn with_deleted(mut self, deleted: Vec<Interval>) -> HeadSeries {
        self.deleted = deleted;
        self
    }

    /// The chunks overlapping the range, taking them from the head first if needed.
    pub fn chunks(&self) -> &[ChunkSnapshot] {
        self.chunks_and_deleted().0
    }

    fn chunks_and_deleted(&self) -> (&[ChunkSnapshot], &[Interval]) {
        match &self.chunks {
            Chunks::Taken(c) => (c, &self.deleted),
            Chunks::Head { head, id, taken } => {
                let (c, d) = taken.get_or_init(|| {
                    let chunks = head
                        .with_series(*id, |s| s.snapshot(self.mint, self.maxt))
                        .unwrap_or_default();
                    (chunks, head.deleted_intervals(*id))
                });
                (c, d)
            }
        }
    }
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        let (chunks, deleted) = self.chunks_and_deleted();
        Box::new(ChunksIterator::new(chunks, self.mint, self.maxt).skipping(deleted))
    }

    /// The newest sample, when it is the answer, without touching a chunk:
    /// an instant selector at or after the head's last scrape needs
    /// nothing else.
    fn last_sample_in(&self, mint: i64, maxt: i64) -> Option<(i64, f64)> {
        let (lo, hi) = (mint.max(self.mint), maxt.min(self.maxt));
        let Chunks::Head { head, id, .. } = &self.chunks else {
            return self.walk_last(lo, hi);
        };
        if lo > hi {
            return None;
        }
        if !head.deleted_intervals(*id).is_empty() {
            return self.walk_last(lo, hi);
        }
        match self.newest {
            // Even the newest sample is older than the window.
            Some((t, _)) if t < lo => None,
            Some((t, v)) if t <= hi => Some((t, v)),
            // Samples arrived after the window (a query in the past):
            // decode the one chunk holding the answer, in place.
            _ => head
                .with_series(*id, |s| newest_in_chunks(s, lo, hi))
                .flatten(),
        }
    }
}

/// The newest sample of `s` in `[lo, hi]`, decoding only the newest chunk
/// that starts at or before `hi` (the answer is in it, or nowhere). The open
/// chunk is read from a stack copy, so nothing is allocated.
fn newest_in_chunks(s: &MemSeries, lo: i64, hi: i64) -> Option<(i64, f64)> {
    let (open, open_min_t) = s.open_chunk();
    if open.num_samples() > 0 && open_min_t <= hi {
        let mut buf = [0u8; 1024];
        return match open.copy_to_slice(&mut buf) {
            Some(n) => newest_in(XorIterator::new(buf.get(..n)?), lo, hi),
            None => newest_in(XorIterator::new(&open.to_bytes()[..]), lo, hi),
        };
    }
    let c = s.closed_chunks().iter().rev().find(|c| c.min_t <= hi)?;
    if c.max_t < lo {
        return None;
    }
    newest_in(XorIterator::new(&c.data[..]), lo, hi)
}

/// The last sample of one chunk in `[lo, hi]`.
fn newest_in(mut it: XorIterator<&[u8]>, lo: i64, hi: i64) -> Option<(i64, f64)> {
    let mut cur = None;
    while let Some((t, v)) = it.next() {
        if t > hi {
            break;
        }
        cur = Some((t, v));
    }
    cur.filter(|c| c.0 >= lo)
}

impl HeadSeries {
    /// The newest sample in `[mint, maxt]`, read through the iterator.
    fn walk_last(&self, mint: i64, maxt: i64) -> Option<(i64, f64)> {
        crate::storage::last_sample_of(&mut *self.iterator(), mint, maxt)
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
    fn label_names_and_values_outside_the_head_range_are_empty() {
        let head = Arc::new(Head::new(HeadOptions {
            chunk_range: 1_000_000,
            stripes: 4,
        }));
        let mut app: Box<dyn Appender> = Box::new(head.appender());
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        app.append(0, &l, 1000, 1.0).unwrap();
        app.append(0, &l, 2000, 1.0).unwrap();
        app.commit().unwrap();
        let ms = [Matcher::equal("__name__", "up")];
        for (mint, maxt, want) in [
            (0, 999, false),
            (2001, 3000, false),
            (0, 1000, true),
            (1500, 1600, true),
        ] {
            let q = HeadQuerier::new(head.clone(), mint, maxt);
            let vals = q.label_values("job", &[]).unwrap();
            assert_eq!(vals.len() == 1, want, "{mint}..{maxt}");
            assert_eq!(q.label_values("job", &ms).unwrap().len() == 1, want);
            assert_eq!(q.label_names(&[]).unwrap().len() == 2, want);
            assert_eq!(q.label_names(&ms).unwrap().len() == 2, want);
        }
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
        // A range selector's select takes the chunks at once: same answer.
        let hints = SelectHints {
            range: 60_000,
            ..SelectHints::default()
        };
        assert_eq!(read_all(q.select(true, Some(&hints), &ms).unwrap()), sorted);
    }

    /// The newest-sample shortcut must answer exactly what walking the
    /// chunks answers, including where it has to fall back to walking.
    #[test]
    fn last_sample_in_agrees_with_walking_the_chunks() {
        let head = Arc::new(Head::new(HeadOptions {
            chunk_range: 1_000_000,
            stripes: 4,
        }));
        let mut app: Box<dyn Appender> = Box::new(head.appender());
        let l = Labels::from_pairs(&[("__name__", "g"), ("i", "1")]);
        // 300 samples: two closed chunks and an open one.
        for i in 0..300i64 {
            app.append(0, &l, i * 1000, i as f64).unwrap();
        }
        app.commit().unwrap();
        let ms = [Matcher::equal("__name__", "g")];
        let check = |head: &Arc<Head>, qmint: i64, qmaxt: i64, mint: i64, maxt: i64| {
            let q = HeadQuerier::new(head.clone(), qmint, qmaxt);
            let s = q.select(false, None, &ms).unwrap().next().unwrap().unwrap();
            let walked = crate::storage::last_sample_of(&mut *s.iterator(), mint, maxt);
            assert_eq!(s.last_sample_in(mint, maxt), walked, "{mint}..{maxt}");
            walked
        };
        // Newest sample inside the window: answered without the chunks.
        assert_eq!(
            check(&head, 0, 400_000, 250_000, 400_000),
            Some((299_000, 299.0))
        );
        // Newest after the window's end: the chunk holding the answer is
        // decoded in place (here a closed one) ...
        assert_eq!(
            check(&head, 0, 400_000, 100_000, 150_500),
            Some((150_000, 150.0))
        );
        // ... and inside the open chunk, read from a stack copy.
        assert_eq!(
            check(&head, 0, 400_000, 250_000, 260_500),
            Some((260_000, 260.0))
        );
        // No sample between the bounds, though there are on both sides.
        assert_eq!(check(&head, 0, 400_000, 245_100, 245_900), None);
        assert_eq!(check(&head, 0, 400_000, 119_100, 119_900), None);
        // Newest before the window's start: nothing.
        assert_eq!(check(&head, 0, 400_000, 299_001, 400_000), None);
        // The querier's own range clips the answer.
        assert_eq!(check(&head, 0, 200_000, 0, 400_000), Some((200_000, 200.0)));
        // A deleted newest sample falls back to the newest one left.
        head.delete(298_500, 299_500, &ms).unwrap();
        assert_eq!(
            check(&head, 0, 400_000, 250_000, 400_000),
            Some((298_000, 298.0))
        );
    }
}
