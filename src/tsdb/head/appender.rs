//! `HeadAppender`: collects a batch, writes it to the WAL on commit, then
//! makes it visible. Per sample it takes one shared (read) lock on the
//! series' stripe to report out-of-order and duplicate errors right away, as
//! upstream's `Append` does; the samples are stored at commit with each
//! stripe's write lock taken once for the whole batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Head;
use crate::model::Labels;
use crate::storage::{Appender, SeriesRef, StorageError};
use crate::tsdb::wal::record::{self, RefSample};

pub struct HeadAppender {
    head: Arc<Head>,
    min_valid_time: i64,
    samples: Vec<(u32, i64, f64)>,
    /// The WAL series record of the series this appender created, encoded
    /// from the labels the caller gave when each was created (no copy of
    /// them is kept, and none is rebuilt from the head's symbols at
    /// commit); it goes to the WAL before the samples that use them.
    series_rec: Vec<u8>,
}

impl HeadAppender {
    pub(super) fn new(head: Arc<Head>) -> HeadAppender {
        let min_valid_time = head.appendable_min_valid_time();
        HeadAppender {
            head,
            min_valid_time,
            samples: Vec::new(),
            series_rec: Vec::new(),
        }
    }

    /// The series for `labels`, creating it (and noting it for the WAL) if new.
    fn get_or_create(&mut self, labels: &Labels) -> Result<u32, StorageError> {
        let (id, created) = self.head.get_or_create(labels)?;
        if created {
            record::push_series_entry(&mut self.series_rec, u64::from(id), labels);
        }
        Ok(id)
    }

    /// Writes the series records of created series (and the samples) to the WAL.
    fn log(&self, with_samples: bool) -> Result<(), StorageError> {
        let Some(wal) = self.head.wal() else {
            return Ok(());
        };
        let mut samples_rec = Vec::new();
        if with_samples && !self.samples.is_empty() {
            let refs: Vec<RefSample> = self
                .samples
                .iter()
                .map(|&(id, t, v)| RefSample {
                    series_ref: u64::from(id),
                    t,
                    v,
                })
                .collect();
            record::encode_samples(&refs, &mut samples_rec);
        }
        let recs: Vec<&[u8]> = [self.series_rec.as_slice(), samples_rec.as_slice()]
            .into_iter()
            .filter(|r| !r.is_empty())
            .collect();
        if recs.is_empty() {
            return Ok(());
        }
        wal.log(&recs)
            .map_err(|e| StorageError::Internal(format!("write to WAL: {e}")))
    }
}

impl Appender for HeadAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        if t < self.min_valid_time {
            self.head
                .counters
                .out_of_bound_samples
                .fetch_add(1, Ordering::Relaxed);
            return Err(StorageError::OutOfBounds);
        }
        // A known reference is checked with one stripe lock: `appendable`
        // answers `None` for a series the head does not hold.
        let known = u32::try_from(series_ref)
            .ok()
            .filter(|&id| id != 0)
            .and_then(|id| Some((id, self.head.appendable(id, t, v)?)));
        let (id, check) = match known {
            Some((id, check)) => (id, Some(check)),
            None => {
                let id = self.get_or_create(labels)?;
                (id, self.head.appendable(id, t, v))
            }
        };
        match check {
            Some(Ok(true)) | None => self.samples.push((id, t, v)),
            Some(Ok(false)) => {}
            Some(Err(e)) => {
                if e == StorageError::OutOfOrderSample {
                    self.head
                        .counters
                        .out_of_order_samples
                        .fetch_add(1, Ordering::Relaxed);
                }
                return Err(e);
            }
        }
        Ok(SeriesRef::from(id))
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        // The WAL write comes first: nothing becomes visible to queries that
        // a crash right after this call could lose.
        let logged = self.log(true);
        if logged.is_err() {
            // Keep the series records for Drop's retry; drop the samples.
            self.samples.clear();
            return logged;
        }
        self.series_rec.clear();
        let mut samples = std::mem::take(&mut self.samples);
        self.head.apply_samples(&mut samples);
        Ok(())
    }

    fn rollback(mut self: Box<Self>) -> Result<(), StorageError> {
        // Created series stay in the head (as upstream), so their records
        // must reach the WAL even though the samples are dropped.
        let logged = self.log(false);
        if logged.is_ok() {
            self.series_rec.clear();
        }
        logged
    }
}

impl Drop for HeadAppender {
    /// An appender dropped without commit or rollback still logs the series
    /// it created: another appender may find them by labels and log samples
    /// for them, which replay could not place without the series record.
    fn drop(&mut self) {
        if !self.series_rec.is_empty() {
            if let Err(e) = self.log(false) {
                log::warn!("logging series of a dropped appender: {e}");
            }
        }
    }
}
