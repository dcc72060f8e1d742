//! Fanout storage: writes go to a primary and every secondary; reads merge
//! the primary with the secondaries, de-duplicating series with equal labels
//! and samples with equal timestamps (the primary wins). This is how local
//! storage and remote storage sit behind one `Appendable`/`Queryable`.

use std::sync::Arc;

use super::merge::MergeQuerier;
use super::{Appendable, Appender, Querier, Queryable, SeriesRef, StorageError};
use crate::model::Labels;

/// A primary storage and any number of secondaries.
pub struct Fanout<P> {
    primary: Arc<P>,
    secondaries: Vec<Arc<dyn FanoutSecondary>>,
}

/// A secondary storage: appendable, and optionally queryable.
///
/// A secondary's appender gets ref 0 and the caller's labels, which are
/// empty when the caller appends by a ref the primary gave it (the scrape
/// loop's steady state). The one secondary today, remote storage, only
/// tracks timestamps (it reads series from the WAL) and ignores labels; a
/// secondary that needs them must not be added without first making the
/// fanout hand over the labels the primary resolved.
pub trait FanoutSecondary: Appendable {
    /// A querier, or `None` when this secondary is write-only.
    fn querier(&self, mint: i64, maxt: i64) -> Option<Result<Box<dyn Querier>, StorageError>>;
}

impl<P> Fanout<P> {
    pub fn new(primary: Arc<P>, secondaries: Vec<Arc<dyn FanoutSecondary>>) -> Fanout<P> {
        Fanout {
            primary,
            secondaries,
        }
    }
}

impl<P: Appendable + 'static> Appendable for Fanout<P> {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(FanoutAppender {
            primary: self.primary.appender(),
            secondaries: self.secondaries.iter().map(|s| s.appender()).collect(),
        })
    }
}

struct FanoutAppender {
    primary: Box<dyn Appender>,
    secondaries: Vec<Box<dyn Appender>>,
}

impl Appender for FanoutAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let r = self.primary.append(series_ref, labels, t, v)?;
        for s in &mut self.secondaries {
            s.append(0, labels, t, v)?;
        }
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut first_err = self.primary.commit().err();
        for s in self.secondaries {
            if let Err(e) = s.commit() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        let mut first_err = self.primary.rollback().err();
        for s in self.secondaries {
            if let Err(e) = s.rollback() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl<P: Queryable + 'static> Queryable for Fanout<P> {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        let primary = self.primary.querier(mint, maxt)?;
        let mut secondaries = Vec::new();
        for s in &self.secondaries {
            if let Some(q) = s.querier(mint, maxt) {
                secondaries.push(q?);
            }
        }
        if secondaries.is_empty() {
            return Ok(primary);
        }
        let mut all = vec![primary];
        all.extend(secondaries);
        Ok(Box::new(MergeQuerier::new(all)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStorage;

    struct Secondary(MemStorage);
    impl Appendable for Secondary {
        fn appender(&self) -> Box<dyn Appender> {
            self.0.appender()
        }
    }
    impl FanoutSecondary for Secondary {
        fn querier(&self, mint: i64, maxt: i64) -> Option<Result<Box<dyn Querier>, StorageError>> {
            Some(Queryable::querier(&self.0, mint, maxt))
        }
    }

    #[test]
    fn writes_both_reads_merged() {
        let p = Arc::new(MemStorage::new());
        let s = MemStorage::new();
        let f = Fanout::new(p.clone(), vec![Arc::new(Secondary(s.clone()))]);
        let l = Labels::from_pairs(&[("__name__", "x")]);
        let mut app = f.appender();
        app.append(0, &l, 1, 1.0).unwrap();
        app.commit().unwrap();
        s.insert(&l, 2, 2.0);
        assert_eq!(p.num_series(), 1);
        let q = f.querier(0, 10).unwrap();
        let series: Vec<_> = q.select(true, None, &[]).unwrap().collect();
        assert_eq!(series.len(), 1);
        let s0 = series.into_iter().next().unwrap().unwrap();
        let mut it = s0.iterator();
        assert_eq!(it.next(), Some((1, 1.0)));
        assert_eq!(it.next(), Some((2, 2.0)));
    }
}
