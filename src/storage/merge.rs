//! A lazy merge of queriers: the TSDB merges its head and the blocks
//! overlapping a range with it, and the fanout merges local storage with
//! remote-read secondaries. Each source yields series in label order (the
//! merge asks for sorted selects); the merge walks
//! them like a k-way merge, passes a series found in one source through
//! untouched, and chains the sample iterators of a series found in several
//! (a block and the head after a restart, or overlapping blocks), keeping
//! the first source's sample on equal timestamps. Nothing is materialised.

use std::iter::Peekable;

use super::{BoxSeries, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError};
use crate::model::{Labels, Matcher};

/// Merges queriers; earlier ones win on equal timestamps.
pub struct MergeQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl MergeQuerier {
    pub fn new(queriers: Vec<Box<dyn Querier>>) -> MergeQuerier {
        MergeQuerier { queriers }
    }
}

impl Querier for MergeQuerier {
    fn select(
        &self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let mut sources = Vec::with_capacity(self.queriers.len());
        for q in &self.queriers {
            sources.push(q.select(true, hints, matchers)?.peekable());
        }
        Ok(Box::new(MergeSeriesSet { sources }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        for q in &self.queriers {
            out.extend(q.label_values(name, matchers)?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        for q in &self.queriers {
            out.extend(q.label_names(matchers)?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

struct MergeSeriesSet {
    sources: Vec<Peekable<SeriesSet>>,
}

impl Iterator for MergeSeriesSet {
    type Item = Result<BoxSeries, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut min: Option<Labels> = None;
        for s in self.sources.iter_mut() {
            match s.peek() {
                Some(Err(_)) => return s.next(),
                Some(Ok(series)) if min.as_ref().is_none_or(|m| series.labels() < m) => {
                    min = Some(series.labels().clone());
                }
                Some(Ok(_)) => {}
                None => {}
            }
        }
        let min = min?;
        let mut parts: Vec<BoxSeries> = Vec::new();
        for s in self.sources.iter_mut() {
            if matches!(s.peek(), Some(Ok(x)) if *x.labels() == min) {
                if let Some(Ok(x)) = s.next() {
                    parts.push(x);
                }
            }
        }
        if parts.len() == 1 {
            return parts.pop().map(Ok);
        }
        Some(Ok(Box::new(ChainSeries { labels: min, parts })))
    }
}

/// One series present in several sources.
struct ChainSeries {
    labels: Labels,
    parts: Vec<BoxSeries>,
}

impl Series for ChainSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChainIterator {
            its: self.parts.iter().map(|p| p.iterator()).collect(),
            peeked: Vec::new(),
            at: None,
        })
    }
}

/// Merges sample iterators by time; the earliest iterator wins on ties.
struct ChainIterator<'a> {
    its: Vec<Box<dyn SampleIterator + 'a>>,
    /// The next unconsumed sample of each iterator; empty before the start.
    peeked: Vec<Option<(i64, f64)>>,
    at: Option<(i64, f64)>,
}

impl ChainIterator<'_> {
    fn start(&mut self) {
        if self.peeked.is_empty() {
            self.peeked = self.its.iter_mut().map(|it| it.next()).collect();
        }
    }

    fn pop_min(&mut self) -> Option<(i64, f64)> {
        let t = self.peeked.iter().flatten().map(|s| s.0).min()?;
        let mut chosen = None;
        for (i, p) in self.peeked.iter_mut().enumerate() {
            if let Some(s) = *p {
                if s.0 == t {
                    chosen.get_or_insert(s);
                    *p = self.its[i].next();
                }
            }
        }
        self.at = chosen;
        chosen
    }
}

impl SampleIterator for ChainIterator<'_> {
    fn next(&mut self) -> Option<(i64, f64)> {
        self.start();
        let s = self.pop_min();
        if s.is_none() {
            self.at = None;
        }
        s
    }

    fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        if let Some(cur) = self.at {
            if cur.0 >= t {
                return Some(cur);
            }
        }
        self.start();
        for (i, p) in self.peeked.iter_mut().enumerate() {
            if p.is_some_and(|s| s.0 < t) {
                *p = self.its[i].seek(t);
            }
        }
        let s = self.pop_min();
        if s.is_none() {
            self.at = None;
        }
        s
    }

    fn at(&self) -> Option<(i64, f64)> {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStorage;
    use crate::storage::{Appendable, Queryable};

    fn storage(samples: &[(&str, i64, f64)]) -> Box<dyn Querier> {
        let s = MemStorage::new();
        let mut app = s.appender();
        for (name, t, v) in samples {
            app.append(0, &Labels::from_pairs(&[("__name__", name)]), *t, *v)
                .unwrap();
        }
        app.commit().unwrap();
        s.querier(i64::MIN, i64::MAX).unwrap()
    }

    #[test]
    fn merges_sorted_sources_and_dedupes_timestamps() {
        let a = storage(&[("a", 1, 1.0), ("a", 3, 3.0), ("c", 1, 1.0)]);
        let b = storage(&[
            ("a", 2, 20.0),
            ("a", 3, 30.0),
            ("a", 4, 40.0),
            ("b", 5, 5.0),
        ]);
        let q = MergeQuerier::new(vec![a, b]);
        let m = [Matcher::new(crate::model::MatchType::Regex, "__name__", ".+").unwrap()];
        let set: Vec<BoxSeries> = q
            .select(true, None, &m)
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        let names: Vec<&str> = set
            .iter()
            .map(|s| s.labels().get("__name__").unwrap())
            .collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        let mut it = set[0].iterator();
        let mut got = Vec::new();
        while let Some(s) = it.next() {
            got.push(s);
        }
        assert_eq!(got, vec![(1, 1.0), (2, 20.0), (3, 3.0), (4, 40.0)]);
        let mut it = set[0].iterator();
        assert_eq!(it.seek(3), Some((3, 3.0)));
        assert_eq!(it.seek(2), Some((3, 3.0)));
        assert_eq!(it.next(), Some((4, 40.0)));
        assert_eq!(it.next(), None);
        assert_eq!(it.at(), None);
        assert_eq!(
            q.label_values("__name__", &[]).unwrap(),
            vec!["a", "b", "c"]
        );
    }
}
