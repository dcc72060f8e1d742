//! `Db`: blocks, the head and its WAL in a data directory, as upstream's
//! `tsdb.DB`. Opening takes the directory lock, loads the blocks (removing
//! half-written ones), replays the WAL (repairing a torn tail) and starts one
//! background thread, `tsdb-maintenance`, which fsyncs the WAL every
//! `wal_fsync_interval` and, every `truncate_interval`, cuts the head's
//! oldest range into a block once the head spans 1.5 ranges (then truncates
//! the head and checkpoints the WAL), and applies time and size retention.
//! [`Db::close`] stops that thread, fsyncs the WAL and (unless
//! `memory_snapshot_on_shutdown` is off) writes a head chunk snapshot
//! (`head::snapshot`), which the next open loads instead of replaying the
//! WAL written before it. Queries merge the blocks overlapping their range
//! with the head.
//!
//! What can be lost (the snapshot changes nothing here): after a kill -9,
//! nothing whose commit returned (it was written to the WAL file before
//! becoming visible); no snapshot is written and the next open replays the
//! WAL. After a power loss or kernel crash, at most the commits of the last
//! `wal_fsync_interval`.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use super::compact::BlockSet;
use super::head::replay::{replay_wal, replay_wal_after, ReplayStats};
use super::head::snapshot::{
    delete_snapshots_except, delete_snapshots_through, load_snapshot, snapshots_size,
    usable_snapshot, write_snapshot, SnapshotPosition,
};
use super::head::{Head, HeadOptions, HeadStats, DEFAULT_CHUNK_RANGE};
use super::wal::checkpoint::{checkpoint, delete_checkpoints};
use super::wal::{
    list_segments, segment_name, Wal, WalOptions, DEFAULT_FSYNC_INTERVAL, DEFAULT_SEGMENT_SIZE,
};
use super::TsdbError;
use crate::storage::merge::MergeQuerier;
use crate::storage::{Appendable, Appender, Querier, Queryable, SeriesRef, StorageError};
use crate::telemetry::Summary;

/// Options of [`Db::open`], named after upstream's flags.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// `--storage.tsdb.wal-segment-size`.
    pub wal_segment_size: usize,
    /// `--storage.tsdb.wal-compression`.
    pub wal_compression: bool,
    /// `--storage.tsdb.no-lockfile`.
    pub no_lockfile: bool,
    /// `--storage.tsdb.min-block-duration`: the head's chunk range.
    pub min_block_duration: i64,
    /// `--storage.tsdb.max-block-duration`: the largest block levelled
    /// compaction builds (upstream's default: 10% of the retention, at most
    /// 31d; 36h for the default 15d retention).
    pub max_block_duration: i64,
    /// `--storage.tsdb.retention.time` in ms; `None` keeps everything.
    pub retention: Option<i64>,
    /// `--storage.tsdb.retention.size` in bytes, counting blocks, WAL,
    /// checkpoints and the head chunk snapshot; `None` for no limit.
    pub retention_size: Option<u64>,
    /// How often the WAL is fsynced.
    pub wal_fsync_interval: Duration,
    /// How often compaction, head truncation and retention run (upstream: 1m).
    pub truncate_interval: Duration,
    /// Lock stripes of the head.
    pub stripes: usize,
    /// Upstream's `--enable-feature=memory-snapshot-on-shutdown`, on by
    /// default in promlite: [`Db::close`] writes the head to a chunk
    /// snapshot so the next open replays only the WAL written after it. A
    /// usable snapshot is loaded on open either way.
    pub memory_snapshot_on_shutdown: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            wal_segment_size: DEFAULT_SEGMENT_SIZE,
            wal_compression: true,
            no_lockfile: false,
            min_block_duration: DEFAULT_CHUNK_RANGE,
            max_block_duration: 36 * 60 * 60 * 1000,
            retention: None,
            retention_size: None,
            wal_fsync_interval: DEFAULT_FSYNC_INTERVAL,
            truncate_interval: Duration::from_secs(60),
            stripes: 64,
            memory_snapshot_on_shutdown: true,
        }
    }
}

/// Counters of the WAL maintenance, for self-metrics.
#[derive(Debug, Default)]
pub struct DbCounters {
    pub wal_corruptions: AtomicU64,
    pub wal_truncations: AtomicU64,
    pub wal_truncations_failed: AtomicU64,
    pub checkpoint_creations: AtomicU64,
    pub checkpoint_creations_failed: AtomicU64,
    pub checkpoint_deletions: AtomicU64,
    pub checkpoint_deletions_failed: AtomicU64,
    /// Replay duration in microseconds.
    pub replay_micros: AtomicU64,
    /// Head chunk snapshots that could not be loaded (full replay instead).
    pub snapshot_replay_errors: AtomicU64,
}

pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    head: Arc<Head>,
    blocks: Arc<BlockSet>,
    lock: Mutex<Option<File>>,
    closed: Arc<AtomicBool>,
    stop: Mutex<Option<Sender<()>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    pub(crate) counters: Arc<DbCounters>,
    pub(crate) fsync_summary: Arc<OnceLock<Summary>>,
    replay: ReplayStats,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TsdbError + '_ {
    move |source| TsdbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn lock_dir(dir: &Path) -> Result<File, TsdbError> {
    let path = dir.join("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(TsdbError::Locked { path });
        }
        return Err(TsdbError::Io { path, source: err });
    }
    Ok(f)
}

impl Db {
    /// Opens (creating if needed) the data directory `dir`.
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Arc<Db>, TsdbError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let lock = if opts.no_lockfile {
            None
        } else {
            Some(lock_dir(dir)?)
        };
        let new_head = || {
            Arc::new(Head::new(HeadOptions {
                chunk_range: opts.min_block_duration,
                stripes: opts.stripes,
            }))
        };
        let wal_dir = dir.join("wal");
        let counters = Arc::new(DbCounters::default());
        let blocks = Arc::new(BlockSet::load(dir)?);
        let (head, replay) = match load_with_snapshot(dir, &wal_dir, &new_head, &counters) {
            Some(loaded) => loaded,
            None => {
                let head = new_head();
                let replay = replay_wal(&head, &wal_dir)?;
                (head, replay)
            }
        };
        if !opts.memory_snapshot_on_shutdown {
            delete_snapshots_except(dir, None);
        }
        counters
            .wal_corruptions
            .fetch_add(replay.corruptions, Ordering::Relaxed);
        counters
            .replay_micros
            .store(replay.duration.as_micros() as u64, Ordering::Relaxed);
        let _ = delete_checkpoints(&wal_dir, replay.checkpoint.unwrap_or(0));
        let wal = Wal::open(
            &wal_dir,
            WalOptions {
                segment_size: opts.wal_segment_size,
                compress: opts.wal_compression,
            },
        )?;
        let fsync_summary: Arc<OnceLock<Summary>> = Arc::new(OnceLock::new());
        let s = fsync_summary.clone();
        wal.set_fsync_observer(Box::new(move |secs| {
            if let Some(s) = s.get() {
                s.observe(secs);
            }
        }));
        // The head was just created, so no WAL is attached yet.
        let _ = head.attach_wal(wal);
        if let Some(bmax) = blocks.max_time() {
            // What the blocks hold is not the head's any more, and samples
            // before the newest block are out of bounds, as upstream. After
            // attaching the WAL, so the ids of series removed here wait for
            // a checkpoint before reuse like any others.
            head.truncate(bmax);
        }
        let db = Arc::new(Db {
            dir: dir.to_path_buf(),
            head,
            blocks,
            lock: Mutex::new(lock),
            closed: Arc::new(AtomicBool::new(false)),
            stop: Mutex::new(None),
            worker: Mutex::new(None),
            counters,
            fsync_summary,
            replay,
            opts,
        });
        db.start_maintenance()?;
        Ok(db)
    }

    fn start_maintenance(&self) -> Result<(), TsdbError> {
        let (tx, rx) = bounded::<()>(0);
        let head = self.head.clone();
        let blocks = self.blocks.clone();
        let counters = self.counters.clone();
        let opts = self.opts.clone();
        let wal_dir = self.dir.join("wal");
        let handle = std::thread::Builder::new()
            .name("tsdb-maintenance".into())
            .spawn(move || {
                let tick = opts.wal_fsync_interval.min(opts.truncate_interval);
                let mut last_truncate = Instant::now();
                loop {
                    match rx.recv_timeout(tick) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    if let Some(wal) = head.wal() {
                        if let Err(e) = wal.sync() {
                            log::error!("fsync WAL: {e}");
                        }
                    }
                    if last_truncate.elapsed() >= opts.truncate_interval {
                        last_truncate = Instant::now();
                        maintain(&head, &blocks, &wal_dir, &counters, &opts);
                    }
                }
            })
            .map_err(io(&self.dir))?;
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        *self.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    /// The head, for callers that need more than the storage traits.
    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }

    /// What the WAL replay on open found.
    pub fn replay_stats(&self) -> &ReplayStats {
        &self.replay
    }

    /// Head statistics for `/api/v1/status/tsdb` (upstream shows the top 10).
    pub fn stats(&self, limit: usize) -> HeadStats {
        self.head.stats(limit)
    }

    /// The loaded blocks.
    pub fn blocks(&self) -> &Arc<BlockSet> {
        &self.blocks
    }

    /// Runs one maintenance pass now: compaction of the head into blocks,
    /// head truncation with a WAL checkpoint, then retention.
    pub fn compact(&self) -> Result<(), TsdbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TsdbError::Closed);
        }
        maintain(
            &self.head,
            &self.blocks,
            &self.dir.join("wal"),
            &self.counters,
            &self.opts,
        );
        Ok(())
    }

    /// Upstream's `POST /api/v1/admin/tsdb/snapshot`: hard-links every block
    /// into `<dir>/snapshots/<YYYYMMDDTHHMMSSZ>-<random hex>/` and, unless
    /// `skip_head`, writes the head there as one more block. Returns the
    /// snapshot's directory name.
    pub fn snapshot(&self, skip_head: bool) -> Result<String, TsdbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TsdbError::Closed);
        }
        let secs = crate::model::value::now_millis().max(0) / 1000;
        // Upstream: "%s-%016x" of the time and a random positive int63.
        let rand = u64::from_be_bytes(super::block::ulid::random_bytes()) >> 1;
        let name = format!("{}-{rand:016x}", format_utc_compact(secs));
        let snap = self.dir.join("snapshots").join(&name);
        // No block may be merged away or deleted while it is being linked.
        let _changes = self.blocks.lock_changes();
        fs::create_dir_all(&snap).map_err(io(&snap))?;
        for b in self.blocks.list() {
            let Some(ulid) = b.dir().file_name() else {
                continue;
            };
            link_tree(b.dir(), &snap.join(ulid))?;
        }
        if !skip_head && self.head.num_series() > 0 {
            let ids = self.head.postings_for_matchers(&[]);
            let series = self.head.series_chunks(&ids, i64::MIN, i64::MAX);
            let input = super::block::head_block_input(&series);
            let (mint, maxt) = (self.head.min_time(), self.head.max_time());
            let deleted = self.head.tombstones_by_labels(&ids);
            super::block::write_block_with_tombstones(
                &snap,
                input,
                mint,
                maxt.saturating_add(1),
                &deleted,
            )?;
        }
        Ok(name)
    }

    /// Upstream's `POST /api/v1/admin/tsdb/delete_series`: hides samples in
    /// `[mint, maxt]` of series matching `matchers`, in the head (through
    /// WAL tombstones) and in every overlapping block (its tombstones file).
    /// Returns the number of affected series (a series in several places
    /// counts once per place).
    pub fn delete(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[crate::model::Matcher],
    ) -> Result<usize, TsdbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TsdbError::Closed);
        }
        let _changes = self.blocks.lock_changes();
        let mut n = self
            .head
            .delete(mint, maxt, matchers)
            .map_err(|e| TsdbError::Io {
                path: self.dir.join("wal"),
                source: std::io::Error::other(e.to_string()),
            })?;
        for b in self.blocks.overlapping(mint, maxt) {
            n += b.delete(mint, maxt, matchers)?;
        }
        Ok(n)
    }

    /// Upstream's `POST /api/v1/admin/tsdb/clean_tombstones`: rewrites the
    /// blocks with deletions so the deleted data leaves the disk. Deletions
    /// in the head go when the head is cut into blocks and those are cleaned.
    pub fn clean_tombstones(&self) -> Result<usize, TsdbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TsdbError::Closed);
        }
        let _changes = self.blocks.lock_changes();
        self.blocks.clean_tombstones()
    }

    /// Drops head data before `mint` and checkpoints the WAL.
    pub fn truncate_head(&self, mint: i64) -> Result<(), TsdbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TsdbError::Closed);
        }
        truncate(
            &self.head,
            &self.dir.join("wal"),
            &self.counters,
            mint,
            self.opts.wal_compression,
        );
        Ok(())
    }

    /// Stops maintenance, fsyncs and closes the WAL and releases the lock.
    /// Appends after this fail with `NotReady`. Idempotent.
    pub fn close(&self) -> Result<(), TsdbError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(h) = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
        let result = match self.head.wal() {
            Some(wal) => wal.close().map_err(TsdbError::from),
            None => Ok(()),
        };
        if result.is_ok() && self.opts.memory_snapshot_on_shutdown {
            self.write_snapshot();
        }
        if self
            .lock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
        {
            let _ = fs::remove_file(self.dir.join("lock"));
        }
        result
    }
}

impl Db {
    /// Writes the head chunk snapshot at the WAL's end, after the WAL was
    /// fsynced and closed. A failure only costs the next start a full replay.
    fn write_snapshot(&self) {
        let Some(wal) = self.head.wal() else { return };
        let segment = wal.current_segment();
        let seg_path = self.dir.join("wal").join(segment_name(segment));
        let offset = match fs::metadata(&seg_path) {
            Ok(m) => m.len(),
            Err(e) => {
                log::warn!("no head chunk snapshot: {}: {e}", seg_path.display());
                return;
            }
        };
        let pos = SnapshotPosition { segment, offset };
        let start = Instant::now();
        match write_snapshot(&self.head, &self.dir, pos) {
            Ok(path) => {
                log::info!(
                    "head chunk snapshot written: {} ({} series) in {:?}",
                    path.display(),
                    self.head.num_series(),
                    start.elapsed()
                );
                delete_snapshots_except(&self.dir, Some(pos));
            }
            Err(e) => log::error!(
                "writing head chunk snapshot (the next start replays the full WAL): {e}"
            ),
        }
    }
}

/// Loads the newest usable head chunk snapshot into a fresh head and
/// replays the WAL after it. `None` when there is none or it fails (logged);
/// the caller then replays the full WAL into another fresh head.
fn load_with_snapshot(
    dir: &Path,
    wal_dir: &Path,
    new_head: &dyn Fn() -> Arc<Head>,
    counters: &DbCounters,
) -> Option<(Arc<Head>, ReplayStats)> {
    let (pos, path) = usable_snapshot(dir, wal_dir)?;
    let start = Instant::now();
    let head = new_head();
    let loaded = match load_snapshot(&head, &path) {
        Ok(st) => st,
        Err(e) => {
            counters
                .snapshot_replay_errors
                .fetch_add(1, Ordering::Relaxed);
            log::warn!("ignoring head chunk snapshot, replaying the full WAL: {e}");
            return None;
        }
    };
    log::info!(
        "head chunk snapshot loaded: {} series, {} chunks in {:?}",
        loaded.series,
        loaded.chunks,
        start.elapsed()
    );
    match replay_wal_after(&head, wal_dir, pos.segment) {
        Ok(mut replay) => {
            replay.snapshot_series = loaded.series;
            replay.snapshot_chunks = loaded.chunks;
            replay.duration = start.elapsed();
            Some((head, replay))
        }
        Err(e) => {
            counters
                .snapshot_replay_errors
                .fetch_add(1, Ordering::Relaxed);
            log::warn!("replaying the WAL after the head chunk snapshot failed, replaying the full WAL: {e}");
            None
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::error!("closing TSDB: {e}");
        }
    }
}

/// Hard-links the files of `from` into `to`, recreating directories.
fn link_tree(from: &Path, to: &Path) -> Result<(), TsdbError> {
    fs::create_dir_all(to).map_err(io(to))?;
    for e in fs::read_dir(from).map_err(io(from))?.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            link_tree(&src, &dst)?;
        } else {
            fs::hard_link(&src, &dst).map_err(io(&dst))?;
        }
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` for Unix seconds `secs` (civil-from-days, UTC).
fn format_utc_compact(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One maintenance pass; errors are logged and counted, never fatal.
fn maintain(
    head: &Head,
    blocks: &BlockSet,
    wal_dir: &Path,
    counters: &DbCounters,
    opts: &DbOptions,
) {
    let _changes = blocks.lock_changes();
    while BlockSet::head_compactable(head) {
        match blocks.compact_head_range(head) {
            Ok(Some(maxt)) => truncate(head, wal_dir, counters, maxt, opts.wal_compression),
            Ok(None) => break,
            Err(e) => {
                log::error!("compaction of the head failed: {e}");
                break;
            }
        }
    }
    let ranges = super::compact::block_ranges(opts.min_block_duration, opts.max_block_duration);
    // Bounded: each merge removes at least one block.
    for _ in 0..64 {
        let Some(group) = blocks.plan(&ranges) else {
            break;
        };
        if let Err(e) = blocks.merge(&group) {
            log::error!("compaction of blocks failed: {e}");
            break;
        }
    }
    if let Some(r) = opts.retention {
        blocks.apply_time_retention(r);
    }
    if let Some(limit) = opts.retention_size {
        // The WAL, its checkpoints and a head chunk snapshot all count.
        let snapshots = wal_dir.parent().map(snapshots_size).unwrap_or(0);
        blocks.apply_size_retention(limit, super::metrics::dir_size(wal_dir) + snapshots);
    }
}

/// Upstream's `Head.Truncate`: memory first, then a checkpoint of the older
/// two thirds of the WAL segments and deletion of what it covers.
fn truncate(head: &Head, wal_dir: &Path, counters: &DbCounters, mint: i64, compress: bool) {
    let st = head.truncate(mint);
    log::info!(
        "head GC completed: mint={mint} series_removed={} chunks_removed={}",
        st.series_removed,
        st.chunks_removed
    );
    let Some(wal) = head.wal() else { return };
    let result = (|| -> Result<(), TsdbError> {
        let segs = list_segments(wal_dir)?;
        let (Some(&(first, _)), Some(&(last, _))) = (segs.first(), segs.last()) else {
            return Ok(());
        };
        // Start a new segment so a quiet database does not keep old data in
        // the current one; the segment current until now is not covered.
        wal.next_segment()?;
        let Some(last) = last.checked_sub(1) else {
            return Ok(());
        };
        let last = first + (last.saturating_sub(first)) * 2 / 3;
        if last <= first {
            return Ok(());
        }
        let keep = |r: u64| u32::try_from(r).is_ok_and(|id| head.contains(id));
        match checkpoint(wal_dir, first, last, &keep, mint, compress) {
            Ok(stats) => {
                counters
                    .checkpoint_creations
                    .fetch_add(1, Ordering::Relaxed);
                log::info!("WAL checkpoint complete: first={first} last={last} {stats:?}");
            }
            Err(e) => {
                counters
                    .checkpoint_creations_failed
                    .fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        }
        if let Err(e) = wal.truncate(last + 1) {
            counters
                .wal_truncations_failed
                .fetch_add(1, Ordering::Relaxed);
            return Err(e.into());
        }
        counters.wal_truncations.fetch_add(1, Ordering::Relaxed);
        if let Some(data_dir) = wal_dir.parent() {
            delete_snapshots_through(data_dir, last);
        }
        head.wal_truncated_through(last);
        match delete_checkpoints(wal_dir, last) {
            Ok(()) => counters
                .checkpoint_deletions
                .fetch_add(1, Ordering::Relaxed),
            Err(_) => counters
                .checkpoint_deletions_failed
                .fetch_add(1, Ordering::Relaxed),
        };
        Ok(())
    })();
    if let Err(e) = result {
        log::error!("truncating WAL: {e}");
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        if self.closed.load(Ordering::Acquire) {
            return Box::new(ClosedAppender);
        }
        Box::new(self.head.appender())
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::NotReady);
        }
        let head: Box<dyn Querier> = Box::new(self.head.querier(mint, maxt));
        let blocks = self.blocks.overlapping(mint, maxt);
        if blocks.is_empty() {
            return Ok(head);
        }
        // Blocks first: on a timestamp held twice (a block and the head
        // after a restart) the first querier's sample is kept.
        let mut queriers: Vec<Box<dyn Querier>> = blocks
            .iter()
            .map(|b| Box::new(b.querier(mint, maxt)) as Box<dyn Querier>)
            .collect();
        queriers.push(head);
        Ok(Box::new(MergeQuerier::new(queriers)))
    }
}

/// What a closed database hands out: every call fails with `NotReady`.
struct ClosedAppender;

impl Appender for ClosedAppender {
    fn append(
        &mut self,
        _: SeriesRef,
        _: &crate::model::Labels,
        _: i64,
        _: f64,
    ) -> Result<SeriesRef, StorageError> {
        Err(StorageError::NotReady)
    }
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Err(StorageError::NotReady)
    }
    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
