//! A simple in-memory storage: a sorted map from label set to samples. Used by
//! the PromQL test-script runner, rule unit tests and component tests that need
//! a storage without a data directory. Not tuned for size.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{
    matches_all, Appendable, Appender, BoxSeries, Querier, Queryable, SelectHints, SeriesRef,
    SeriesSet, StorageError, VecSeries,
};
use crate::model::{is_stale_nan, Labels, Matcher};

/// Series kept in label order; samples in time order.
#[derive(Clone, Default)]
pub struct MemStorage {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    series: BTreeMap<Labels, Vec<(i64, f64)>>,
    refs: Vec<Labels>,
    ref_of: std::collections::HashMap<Labels, SeriesRef>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Removes every series.
    pub fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *inner = Inner::default();
    }

    /// Inserts a sample directly, keeping time order; replaces a sample at the same timestamp.
    pub fn insert(&self, labels: &Labels, t: i64, v: f64) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let samples = inner.series.entry(labels.clone()).or_default();
        match samples.binary_search_by_key(&t, |s| s.0) {
            Ok(i) => samples[i] = (t, v),
            Err(i) => samples.insert(i, (t, v)),
        }
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .series
            .len()
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemAppender {
            storage: self.clone(),
            pending: Vec::new(),
        })
    }
}

struct MemAppender {
    storage: MemStorage,
    pending: Vec<(Labels, i64, f64)>,
}

impl Appender for MemAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let mut inner = self
            .storage
            .inner
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let labels = if series_ref != 0 {
            match inner.refs.get(series_ref as usize - 1) {
                Some(l) => l.clone(),
                None => labels.clone(),
            }
        } else {
            labels.clone()
        };
        if labels.is_empty() {
            return Err(StorageError::InvalidLabels("empty label set".into()));
        }
        if let Some(samples) = inner.series.get(&labels) {
            if let Some(&(lt, lv)) = samples.last() {
                if t < lt {
                    return Err(StorageError::OutOfOrderSample);
                }
                if t == lt && lv.to_bits() != v.to_bits() && !(is_stale_nan(v) && is_stale_nan(lv))
                {
                    return Err(StorageError::DuplicateSampleForTimestamp);
                }
            }
        }
        let r = match inner.ref_of.get(&labels) {
            Some(r) => *r,
            None => {
                inner.refs.push(labels.clone());
                let r = inner.refs.len() as SeriesRef;
                inner.ref_of.insert(labels.clone(), r);
                r
            }
        };
        drop(inner);
        self.pending.push((labels, t, v));
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        for (l, t, v) in self.pending {
            self.storage.insert(&l, t, v);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier {
            storage: self.clone(),
            mint,
            maxt,
        }))
    }
}

struct MemQuerier {
    storage: MemStorage,
    mint: i64,
    maxt: i64,
}

impl MemQuerier {
    fn matching(&self, matchers: &[Matcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let inner = self.storage.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .series
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .filter_map(|(l, s)| {
                let lo = s.partition_point(|x| x.0 < self.mint);
                let hi = s.partition_point(|x| x.0 <= self.maxt);
                (lo < hi).then(|| (l.clone(), s[lo..hi].to_vec()))
            })
            .collect()
    }
}

impl Querier for MemQuerier {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let series: Vec<Result<BoxSeries, StorageError>> = self
            .matching(matchers)
            .into_iter()
            .map(|(labels, samples)| Ok(Box::new(VecSeries { labels, samples }) as BoxSeries))
            .collect();
        Ok(Box::new(series.into_iter()))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = self
            .matching(matchers)
            .into_iter()
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = self
            .matching(matchers)
            .into_iter()
            .flat_map(|(l, _)| l.into_vec().into_iter().map(|l| l.name))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MatchType;

    #[test]
    fn append_commit_select() {
        let s = MemStorage::new();
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs(&[("__name__", "up"), ("job", "b")]);
        let mut app = s.appender();
        let r = app.append(0, &a, 10, 1.0).unwrap();
        app.append(r, &Labels::empty(), 20, 2.0).unwrap();
        app.append(0, &b, 10, 3.0).unwrap();
        app.commit().unwrap();
        let q = s.querier(0, 15).unwrap();
        let m = Matcher::new(MatchType::Regex, "job", "a|b").unwrap();
        let got: Vec<_> = q
            .select(true, None, &[m])
            .unwrap()
            .map(|s| s.unwrap().labels().clone())
            .collect();
        assert_eq!(got, vec![a.clone(), b]);
        assert_eq!(q.label_values("job", &[]).unwrap(), vec!["a", "b"]);
        let mut app = s.appender();
        assert_eq!(
            app.append(0, &a, 5, 1.0),
            Err(StorageError::OutOfOrderSample)
        );
        assert_eq!(
            app.append(0, &a, 20, 9.0),
            Err(StorageError::DuplicateSampleForTimestamp)
        );
    }
}
