//! [`AgentStorage`]: the WAL-only storage of agent mode (`--agent`), as
//! upstream's `tsdb/agent`. Appends become series and sample records in a WAL
//! in upstream's format (through the TSDB's WAL writer); nothing is kept for
//! querying. Remote-write queues tail that WAL ([`AgentStorage::wal_reader`]).
//!
//! Memory holds one entry per live series (labels, reference, newest
//! timestamp). [`AgentStorage::truncate`] garbage-collects series not
//! appended to since `mint`, writes a checkpoint of the closed segments that
//! every queue has delivered past, and deletes those segments, so the WAL
//! never loses data a queue still needs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::wal::WalPosition;
use super::wal_dir::WalDir;
use super::RemoteError;
use crate::model::Labels;
use crate::storage::{Appendable, Appender, SeriesRef, StorageError};
use crate::tsdb::wal::checkpoint::{self, delete_checkpoints, last_checkpoint};
use crate::tsdb::wal::record::{self, RefSample, RefSeries};
use crate::tsdb::wal::{list_segments, Reader, Wal, WalOptions};

/// Options of the agent's WAL.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// `--storage.agent.wal-segment-size` (default 128 MiB).
    pub segment_size: usize,
    /// `--storage.agent.wal-compression` (default on).
    pub compress: bool,
}

impl Default for AgentOptions {
    fn default() -> AgentOptions {
        AgentOptions {
            segment_size: crate::tsdb::wal::DEFAULT_SEGMENT_SIZE,
            compress: true,
        }
    }
}

/// How long the agent keeps idle series (`--storage.agent.retention.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentRetention {
    /// `--storage.agent.retention.min-time` (default 5 m): a series is kept
    /// this long after every queue has sent its newest sample.
    pub min_time: Duration,
    /// `--storage.agent.retention.max-time` (default 4 h): a series idle
    /// this long is collected even when a queue is stuck behind it.
    pub max_time: Duration,
}

impl Default for AgentRetention {
    fn default() -> AgentRetention {
        AgentRetention {
            min_time: Duration::from_secs(5 * 60),
            max_time: Duration::from_secs(4 * 3600),
        }
    }
}

impl AgentRetention {
    /// The time before which a series' newest sample makes it collectable,
    /// as upstream's agent computes it: the lowest timestamp every queue has
    /// sent (`0` when one has sent nothing) less `min_time`, but never older
    /// than `now - max_time`.
    pub fn mint(&self, now_ms: i64, lowest_sent_ms: i64) -> i64 {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let by_queues = lowest_sent_ms.saturating_sub(ms(self.min_time)).max(0);
        by_queues.max(now_ms.saturating_sub(ms(self.max_time)))
    }
}

/// What one truncation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TruncateStats {
    pub series_removed: usize,
    /// The last segment folded into the checkpoint, if one was written.
    pub checkpoint: Option<u32>,
}

/// WAL-only storage.
pub struct AgentStorage {
    inner: Arc<AgentInner>,
}

struct AgentInner {
    dir: PathBuf,
    wal: Wal,
    options: AgentOptions,
    series: Mutex<SeriesMap>,
}

#[derive(Default)]
struct SeriesMap {
    by_labels: HashMap<Labels, u64>,
    by_ref: HashMap<u64, AgentSeries>,
    next_ref: u64,
}

struct AgentSeries {
    labels: Labels,
    last_t: i64,
}

impl SeriesMap {
    fn insert(&mut self, r: u64, labels: Labels, last_t: i64) {
        self.by_labels.insert(labels.clone(), r);
        self.by_ref.insert(r, AgentSeries { labels, last_t });
        self.next_ref = self.next_ref.max(r + 1);
    }
}

impl AgentStorage {
    /// Opens (or creates) the WAL in `dir` (e.g. `data-agent/wal`) and
    /// rebuilds the series map from its checkpoint and segments.
    pub fn open(dir: &Path, options: AgentOptions) -> Result<AgentStorage, RemoteError> {
        let series = replay(dir)?;
        let wal = Wal::open(
            dir,
            WalOptions {
                segment_size: options.segment_size,
                compress: options.compress,
            },
        )
        .map_err(|e| RemoteError::Wal(e.to_string()))?;
        Ok(AgentStorage {
            inner: Arc::new(AgentInner {
                dir: dir.to_path_buf(),
                wal,
                options,
                series: Mutex::new(series),
            }),
        })
    }

    /// A reader of this WAL for the remote-write queues.
    pub fn wal_reader(&self) -> Arc<WalDir> {
        Arc::new(WalDir::new(&self.inner.dir))
    }

    /// Live series.
    pub fn num_series(&self) -> usize {
        self.inner.lock().by_ref.len()
    }

    /// Drops series with no sample at or after `mint`, checkpoints the
    /// closed segments before `delivered` (the lowest position every queue
    /// has delivered, `RemoteStorage::lowest_delivered`; `None` when no queue
    /// runs) keeping live series and samples at or after `mint`, and deletes
    /// them.
    pub fn truncate(
        &self,
        mint: i64,
        delivered: Option<WalPosition>,
    ) -> Result<TruncateStats, RemoteError> {
        let inner = &self.inner;
        let mut stats = TruncateStats::default();
        let live: std::collections::HashSet<u64> = {
            let mut s = inner.lock();
            let dead: Vec<u64> = s
                .by_ref
                .iter()
                .filter(|(_, e)| e.last_t < mint)
                .map(|(r, _)| *r)
                .collect();
            for r in &dead {
                if let Some(e) = s.by_ref.remove(r) {
                    s.by_labels.remove(&e.labels);
                }
            }
            stats.series_removed = dead.len();
            s.by_ref.keys().copied().collect()
        };
        let err = |e: crate::tsdb::wal::WalError| RemoteError::Wal(e.to_string());
        let segments = list_segments(&inner.dir).map_err(err)?;
        let (Some(first), Some(current)) = (segments.first(), segments.last()) else {
            return Ok(stats);
        };
        // Never fold the segment being written, nor any a queue still needs.
        let mut to = i64::from(current.0) - 1;
        if let Some(d) = delivered {
            to = to.min(d.segment as i64 - 1);
        }
        if to < i64::from(first.0) {
            return Ok(stats);
        }
        let to = u32::try_from(to).unwrap_or(0);
        checkpoint::checkpoint(
            &inner.dir,
            first.0,
            to,
            &|r| live.contains(&r),
            mint,
            inner.options.compress,
        )
        .map_err(err)?;
        inner.wal.truncate(to + 1).map_err(err)?;
        delete_checkpoints(&inner.dir, to).map_err(err)?;
        stats.checkpoint = Some(to);
        Ok(stats)
    }

    /// The agent's truncation actor (upstream's `truncateLoop`): every
    /// `every` (`--storage.agent.wal-truncate-frequency`), one
    /// [`AgentStorage::truncate_for`]. Returns when `stop` is closed or
    /// receives.
    pub fn run_truncation(
        &self,
        remote: &super::RemoteStorage,
        every: Duration,
        retention: AgentRetention,
        stop: &Receiver<()>,
    ) {
        loop {
            match stop.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            match self.truncate_for(remote, retention) {
                Ok(stats) => log::info!(
                    "agent WAL truncated: {} series removed, checkpoint up to segment {:?}",
                    stats.series_removed,
                    stats.checkpoint
                ),
                Err(e) => log::error!("agent WAL truncation failed: {e}"),
            }
        }
    }

    /// One truncation against the queues of `remote`: series are collected
    /// once every queue has sent past their newest sample (by
    /// `retention.min_time`), or when idle for `retention.max_time` whatever
    /// the queues did; segments go only once every queue delivered them.
    pub fn truncate_for(
        &self,
        remote: &super::RemoteStorage,
        retention: AgentRetention,
    ) -> Result<TruncateStats, RemoteError> {
        let mint = retention.mint(
            crate::model::value::now_millis(),
            remote.lowest_sent_timestamp(),
        );
        self.truncate(mint, remote.lowest_delivered())
    }

    /// Flushes and closes the WAL.
    pub fn close(&self) -> Result<(), RemoteError> {
        self.inner
            .wal
            .close()
            .map_err(|e| RemoteError::Wal(e.to_string()))
    }
}

impl AgentInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, SeriesMap> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Rebuilds the series map: the newest checkpoint, then every segment.
/// Damage stops the replay with a warning; the writer starts a new segment.
fn replay(dir: &Path) -> Result<SeriesMap, RemoteError> {
    let err = |e: crate::tsdb::wal::WalError| RemoteError::Wal(e.to_string());
    let mut map = SeriesMap::default();
    let mut sources = Vec::new();
    let mut from = 0u32;
    if let Some((idx, cp)) = last_checkpoint(dir).map_err(err)? {
        sources.push(list_segments(&cp).map_err(err)?);
        from = idx.saturating_add(1);
    }
    sources.push(
        list_segments(dir)
            .map_err(err)?
            .into_iter()
            .filter(|(i, _)| *i >= from)
            .collect(),
    );
    for segs in sources {
        let mut reader = Reader::new(segs);
        let (mut series, mut samples) = (Vec::<RefSeries>::new(), Vec::<RefSample>::new());
        loop {
            let rec = match reader.next() {
                Ok(Some(rec)) => rec,
                Ok(None) => break,
                Err(e) => {
                    log::warn!("agent WAL replay stopped early, later series are rebuilt as they are scraped: {e}");
                    break;
                }
            };
            match record::record_type(rec) {
                Some(record::SERIES) => {
                    series.clear();
                    record::decode_series(rec, &mut series)?;
                    for s in series.drain(..) {
                        map.insert(s.series_ref, s.labels, i64::MIN);
                    }
                }
                Some(record::SAMPLES) => {
                    samples.clear();
                    record::decode_samples(rec, &mut samples)?;
                    for s in &samples {
                        if let Some(e) = map.by_ref.get_mut(&s.series_ref) {
                            e.last_t = e.last_t.max(s.t);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(map)
}

impl From<record::RecordError> for RemoteError {
    fn from(e: record::RecordError) -> Self {
        RemoteError::Wal(e.to_string())
    }
}

impl Appendable for AgentStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(AgentAppender {
            inner: self.inner.clone(),
            new_series: Vec::new(),
            samples: Vec::new(),
        })
    }
}

/// Buffers one commit's new series and samples.
struct AgentAppender {
    inner: Arc<AgentInner>,
    new_series: Vec<(u64, Labels)>,
    samples: Vec<RefSample>,
}

impl Appender for AgentAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let mut map = self.inner.lock();
        let r = match map.by_ref.contains_key(&series_ref) {
            true => series_ref,
            false => match map.by_labels.get(labels) {
                Some(r) => *r,
                None => {
                    if labels.is_empty() {
                        return Err(StorageError::InvalidLabels("empty label set".into()));
                    }
                    let r = map.next_ref.max(1);
                    map.insert(r, labels.clone(), i64::MIN);
                    self.new_series.push((r, labels.clone()));
                    r
                }
            },
        };
        let Some(entry) = map.by_ref.get_mut(&r) else {
            return Err(StorageError::Internal("agent series vanished".into()));
        };
        if t < entry.last_t {
            return Err(StorageError::OutOfOrderSample);
        }
        entry.last_t = t;
        self.samples.push(RefSample {
            series_ref: r,
            t,
            v,
        });
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.log(true)
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        // Series are created in memory at append; their records must reach
        // the WAL even on rollback or later samples would reference unknown
        // refs (upstream's agent does the same).
        self.log(false)
    }
}

impl AgentAppender {
    fn log(&self, with_samples: bool) -> Result<(), StorageError> {
        let mut series_rec = Vec::new();
        if !self.new_series.is_empty() {
            record::encode_series(
                self.new_series.iter().map(|(r, l)| (*r, l)),
                &mut series_rec,
            );
        }
        let mut samples_rec = Vec::new();
        if with_samples && !self.samples.is_empty() {
            record::encode_samples(&self.samples, &mut samples_rec);
        }
        let records: Vec<&[u8]> = [series_rec.as_slice(), samples_rec.as_slice()]
            .into_iter()
            .filter(|r| !r.is_empty())
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        self.inner
            .wal
            .log(&records)
            .map_err(|e| StorageError::Internal(format!("agent WAL: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::remote::wal::{WalReader, WalRecord};

    fn opts() -> AgentOptions {
        AgentOptions {
            segment_size: 32 * 1024,
            compress: false,
        }
    }

    fn append(s: &AgentStorage, name: &str, t: i64) -> Result<(), StorageError> {
        let mut app = s.appender();
        app.append(0, &Labels::from_pairs(&[("__name__", name)]), t, 1.0)?;
        app.commit()
    }

    #[test]
    fn appends_become_wal_records_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = AgentStorage::open(dir.path(), opts()).unwrap();
        append(&s, "a", 10).unwrap();
        append(&s, "a", 20).unwrap();
        append(&s, "b", 20).unwrap();
        assert_eq!(append(&s, "a", 5), Err(StorageError::OutOfOrderSample));
        assert_eq!(s.num_series(), 2);
        let wal = s.wal_reader();
        let read = wal.read_segment(0, 0, 1 << 20).unwrap();
        let n_samples: usize = read
            .records
            .iter()
            .map(|(r, _)| match r {
                WalRecord::Samples(s) => s.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(n_samples, 3);
        s.close().unwrap();

        let s = AgentStorage::open(dir.path(), opts()).unwrap();
        assert_eq!(s.num_series(), 2, "series rebuilt from the WAL");
        assert_eq!(append(&s, "a", 15), Err(StorageError::OutOfOrderSample));
        append(&s, "c", 30).unwrap();
        assert_eq!(s.num_series(), 3);
    }

    #[test]
    fn truncate_collects_old_series_and_keeps_undelivered_segments() {
        let dir = tempfile::tempdir().unwrap();
        let s = AgentStorage::open(dir.path(), opts()).unwrap();
        append(&s, "old", 10).unwrap();
        for i in 0..4000 {
            append(&s, "new", 100 + i).unwrap();
        }
        let segs = list_segments(dir.path()).unwrap();
        assert!(segs.len() >= 3, "{} segments", segs.len());
        // A queue still needs segment 1: only segment 0 may go.
        let stats = s.truncate(50, Some(WalPosition::new(1, 0))).unwrap();
        assert_eq!(stats.series_removed, 1);
        assert_eq!(stats.checkpoint, Some(0));
        assert_eq!(list_segments(dir.path()).unwrap()[0].0, 1);
        // Everything delivered: all closed segments fold into the checkpoint.
        let stats = s.truncate(50, None).unwrap();
        let last = list_segments(dir.path()).unwrap();
        assert_eq!(last.len(), 1, "only the segment being written remains");
        assert_eq!(stats.checkpoint, Some(last[0].0 - 1));
        s.close().unwrap();
        let s = AgentStorage::open(dir.path(), opts()).unwrap();
        assert_eq!(
            s.num_series(),
            1,
            "the checkpoint kept only the live series"
        );
    }

    #[test]
    fn retention_follows_the_slowest_queue_within_max_time() {
        let r = AgentRetention::default();
        let now = 100 * 3_600_000;
        let min = 5 * 60_000;
        // Every queue sent up to a minute ago: series idle since before
        // that, less min-time, go.
        assert_eq!(r.mint(now, now - 60_000), now - 60_000 - min);
        // A queue that has sent nothing (or a stuck one): max-time bounds
        // how long series are kept.
        assert_eq!(r.mint(now, 0), now - 4 * 3_600_000);
        assert_eq!(r.mint(now, now - 10 * 3_600_000), now - 4 * 3_600_000);
        assert_eq!(r.mint(1000, 0), 0, "never negative");
    }
}
