//! One remote-write queue (upstream's `QueueManager`): a reader thread that
//! tails the WAL ([`WalTail`]) and hands samples to shard threads
//! ([`Shards`]), recomputes the shard count from measured rates every
//! shard-update interval, and saves its delivered position to the progress
//! file about once a second and at shutdown.
//!
//! Threads: `remote-write-<name>` (the reader), `remote-shard-<i>` per
//! shard, and `remote-metadata-<name>` when metadata is sent (see
//! [`super::metadata`]). [`QueueManager::stop`] ends them: the reader stops reading, the
//! shards send what they hold; when the flush deadline passes the shards
//! abandon the rest (it stays in the WAL and the saved position is before
//! it, so it is sent after the restart).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::client::HttpClient;
use super::metadata::{run_metadata_loop, MetadataSource};
use super::metrics::{samples_in_total, wal_watcher_current_segment, QueueMetrics};
use super::progress::{ProgressFile, ProgressTracker, SavedProgress};
use super::settings::RemoteWriteSettings;
use super::shard::{join_unless_hard_stopped, QueuedSample, ShardContext, Shards};
use super::sharding::{desired_shards, EwmaRate, ShardInputs};
use super::wal::{WalPosition, WalReader};
use super::watcher::{ReplayLimits, TailRecord, WalTail};
use super::RemoteError;
use crate::model::Labels;

/// Process-wide options of every queue (flags, data dir, test knobs).
#[derive(Clone, Debug)]
pub struct QueueOptions {
    /// Where progress files live (`<data dir>/remote`); `None` keeps no
    /// progress, so restarts begin at the WAL's end as upstream does.
    pub progress_dir: Option<PathBuf>,
    /// `--storage.remote.flush-deadline` (default 1 m).
    pub flush_deadline: Duration,
    /// How often the shard count is recomputed (upstream: 10 s).
    pub shard_update_interval: Duration,
    /// How long the reader sleeps when the WAL has nothing new and nobody
    /// called [`QueueManager::notify`].
    pub poll_interval: Duration,
    /// Bounds on replaying a backlog after a restart.
    pub replay: ReplayLimits,
    /// Bytes of WAL read per step.
    pub read_chunk_bytes: usize,
    /// Where metric metadata comes from; `None` sends none.
    pub metadata_source: Option<Arc<dyn MetadataSource>>,
}

impl Default for QueueOptions {
    fn default() -> QueueOptions {
        QueueOptions {
            progress_dir: None,
            flush_deadline: Duration::from_secs(60),
            shard_update_interval: Duration::from_secs(10),
            poll_interval: Duration::from_millis(250),
            replay: ReplayLimits::default(),
            read_chunk_bytes: 1 << 20,
            metadata_source: None,
        }
    }
}

/// A running queue for one `remote_write` entry.
pub struct QueueManager {
    settings: RemoteWriteSettings,
    external_labels: Labels,
    /// Wakes the reader (new WAL data, or stop); holds at most one wake-up.
    wake: Sender<()>,
    reader: Option<JoinHandle<()>>,
    /// Closing it stops the metadata thread.
    metadata_stop: Option<Sender<()>>,
    metadata: Option<JoinHandle<()>>,
    shared: Arc<QueueShared>,
}

/// Wakes a queue's reader without keeping the queue alive.
#[derive(Clone)]
pub struct QueueNotifier(Sender<()>);

impl QueueNotifier {
    pub fn notify(&self) {
        let _ = self.0.try_send(());
    }
}

/// What the reader thread and the owner share.
struct QueueShared {
    ctx: Arc<ShardContext>,
    num_shards: AtomicUsize,
    samples_in: AtomicU64,
    highest_read_ms: AtomicI64,
    /// Set once the reader has opened the WAL and positioned itself.
    started: AtomicBool,
    /// Asks the reader to stop reading.
    stop: AtomicBool,
    flush_deadline: Duration,
    /// Delivered position at the last save (also for tests and the report).
    saved: std::sync::Mutex<Option<WalPosition>>,
}

impl QueueManager {
    /// Starts the queue's threads. Fails only for settings that cannot
    /// work (bad URL) or when a thread cannot be started.
    pub fn start(
        settings: RemoteWriteSettings,
        external_labels: Labels,
        wal: Arc<dyn WalReader>,
        options: QueueOptions,
    ) -> Result<QueueManager, RemoteError> {
        let remote_name = settings.remote_name();
        let client = HttpClient::new(&settings.url, settings.http.clone())?;
        if settings.send_exemplars {
            // Upstream sends none either without exemplar storage; say so
            // instead of silently sending nothing.
            log::warn!(
                "remote write {remote_name}: send_exemplars is set, but exemplar storage is not supported by promlite: no exemplars are sent"
            );
        }
        let metrics = QueueMetrics::new(&remote_name, &settings.url);
        let q = &settings.queue;
        let min_shards = q.min_shards.max(1);
        let max_shards = q.max_shards.max(min_shards);
        metrics.shards_min.set(min_shards as f64);
        metrics.shards_max.set(max_shards as f64);
        metrics.shard_capacity.set(q.capacity as f64);
        metrics
            .max_samples_per_send
            .set(q.max_samples_per_send as f64);
        metrics.shards_desired.set(min_shards as f64);
        let ctx = Arc::new(ShardContext {
            remote_name: remote_name.clone(),
            client,
            queue: settings.queue.clone(),
            metrics,
            tracker: ProgressTracker::new(WalPosition::default()),
            hard_stop: AtomicBool::new(false),
            samples_out: AtomicU64::new(0),
            send_nanos: AtomicU64::new(0),
            highest_sent_ms: AtomicI64::new(i64::MIN),
            last_send_ok_ms: AtomicI64::new(0),
        });
        let shared = Arc::new(QueueShared {
            ctx,
            num_shards: AtomicUsize::new(min_shards),
            samples_in: AtomicU64::new(0),
            highest_read_ms: AtomicI64::new(i64::MIN),
            started: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            flush_deadline: options.flush_deadline,
            saved: std::sync::Mutex::new(None),
        });
        let (wake, wake_rx) = bounded(1);
        let (metadata_stop, metadata) = match (&options.metadata_source, settings.metadata_send) {
            (Some(source), true) => {
                let (stop_tx, stop_rx) = bounded::<()>(0);
                let source = source.clone();
                let ctx = shared.ctx.clone();
                let interval = settings.metadata_send_interval;
                let max = settings.metadata_max_samples_per_send;
                let handle = std::thread::Builder::new()
                    .name(format!("remote-metadata-{remote_name}"))
                    .spawn(move || run_metadata_loop(&ctx, &*source, interval, max, &stop_rx))
                    .map_err(|e| RemoteError::Io(format!("starting remote write metadata: {e}")))?;
                (Some(stop_tx), Some(handle))
            }
            _ => (None, None),
        };
        let reader = {
            let shared = shared.clone();
            let settings = settings.clone();
            let external_labels = external_labels.clone();
            std::thread::Builder::new()
                .name(format!("remote-write-{remote_name}"))
                .spawn(move || {
                    let mut r = Reader {
                        shared,
                        settings,
                        external_labels,
                        wal,
                        options,
                        wake: wake_rx,
                        min_shards,
                        max_shards,
                    };
                    if let Err(e) = r.run() {
                        log::error!("remote write {remote_name}: queue stopped: {e}");
                    }
                })
                .map_err(|e| RemoteError::Io(format!("starting remote write queue: {e}")))?
        };
        Ok(QueueManager {
            settings,
            external_labels,
            wake,
            reader: Some(reader),
            metadata_stop,
            metadata,
            shared,
        })
    }

    /// The entry this queue runs.
    pub fn settings(&self) -> &RemoteWriteSettings {
        &self.settings
    }

    /// The external labels this queue adds.
    pub fn external_labels(&self) -> &Labels {
        &self.external_labels
    }

    /// Wakes the reader: the WAL has new records (call after a commit).
    pub fn notify(&self) {
        let _ = self.wake.try_send(());
    }

    /// A handle that wakes this queue, for appenders.
    pub fn notifier(&self) -> QueueNotifier {
        QueueNotifier(self.wake.clone())
    }

    /// Shards currently running.
    pub fn num_shards(&self) -> usize {
        self.shared.num_shards.load(Ordering::Relaxed)
    }

    /// Whether the reader has positioned itself in the WAL.
    pub fn is_started(&self) -> bool {
        self.shared.started.load(Ordering::Relaxed)
    }

    /// The WAL position up to which every sample has been delivered.
    pub fn delivered(&self) -> WalPosition {
        self.shared.ctx.tracker.delivered()
    }

    /// Samples handed to shards and not yet finished.
    pub fn pending_samples(&self) -> usize {
        self.shared.ctx.tracker.in_flight()
    }

    /// Newest sample timestamp delivered (ms), if any.
    pub fn highest_sent_timestamp(&self) -> Option<i64> {
        let t = self.shared.ctx.highest_sent_ms.load(Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }

    /// Stops the queue: shards send what they hold for up to `flush_deadline`
    /// (from the options), then abandon the rest. Saves progress.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.metadata_stop.take());
        let metadata = self.metadata.take();
        let Some(reader) = self.reader.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = self.wake.try_send(());
        let (done_tx, done_rx) = bounded::<()>(1);
        let shared = self.shared.clone();
        let deadline = shared.flush_deadline;
        // The deadline is enforced from a watchdog so that `join` below
        // cannot wait on retries forever.
        let watchdog = std::thread::Builder::new()
            .name("remote-write-flush".into())
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(deadline) {
                    log::warn!(
                        "remote write {}: flush deadline of {deadline:?} passed, {} samples left unsent (they stay in the WAL)",
                        shared.ctx.remote_name,
                        shared.ctx.tracker.in_flight()
                    );
                    shared.ctx.hard_stop.store(true, Ordering::Relaxed);
                }
            });
        let _ = reader.join();
        if let Some(m) = metadata {
            join_unless_hard_stopped(m, &self.shared.ctx.hard_stop);
        }
        let _ = done_tx.send(());
        if let Ok(w) = watchdog {
            let _ = w.join();
        }
        self.shared.ctx.metrics.unregister_gauges();
    }
}

impl Drop for QueueManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The reader thread's state.
struct Reader {
    shared: Arc<QueueShared>,
    settings: RemoteWriteSettings,
    external_labels: Labels,
    wal: Arc<dyn WalReader>,
    options: QueueOptions,
    wake: Receiver<()>,
    min_shards: usize,
    max_shards: usize,
}

/// Why the reader loop ended early.
enum Interrupted {
    Stop,
}

impl Reader {
    fn run(&mut self) -> Result<(), RemoteError> {
        let name = self.shared.ctx.remote_name.clone();
        let progress_file = self
            .options
            .progress_dir
            .as_ref()
            .map(|dir| ProgressFile::new(dir, &progress_key(&self.settings)));
        let saved = match progress_file.as_ref().map(|f| f.load()) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                log::warn!("remote write {name}: ignoring progress file: {e}");
                None
            }
            None => None,
        };
        // The WAL may be briefly unreadable (e.g. not created yet): retry
        // until it opens or the queue is stopped.
        let mut tail = loop {
            match WalTail::open(
                self.wal.clone(),
                &name,
                saved,
                self.options.replay,
                self.settings.queue.sample_age_limit,
                self.external_labels.clone(),
                self.settings.write_relabel.clone(),
                self.shared.ctx.metrics.samples_dropped_total.clone(),
            ) {
                Ok(t) => break t,
                Err(e) => {
                    log::error!("remote write {name}: opening the WAL: {e}; retrying");
                    let _ = self.wake.recv_timeout(Duration::from_secs(1));
                    if self.stopping() {
                        return Ok(());
                    }
                }
            }
        };
        let ctx = &self.shared.ctx;
        // Delivery is counted from where sending starts.
        ctx.tracker.reset(tail.resume_position());
        self.shared.started.store(true, Ordering::Relaxed);

        let mut shards = Shards::start(self.min_shards, ctx)?;
        self.shared
            .num_shards
            .store(shards.len(), Ordering::Relaxed);
        let mut rates = Rates::new(&self.shared);
        let mut last_save = Instant::now();
        let mut last_saved_pos: Option<WalPosition> = None;
        let mut last_too_old_log = Instant::now();
        let samples_in = samples_in_total();
        let current_segment = wal_watcher_current_segment(&name);

        let result = loop {
            if self.stopping() {
                break Ok(());
            }
            if rates.due(self.options.shard_update_interval) {
                let desired = rates.update(&self.shared, shards.len(), self);
                if desired != shards.len() {
                    log::info!(
                        "remote write {name}: resharding from {} to {desired} shards",
                        shards.len()
                    );
                    shards.stop();
                    shards = Shards::start(desired, ctx)?;
                    self.shared.num_shards.store(desired, Ordering::Relaxed);
                }
            }
            if last_save.elapsed() >= Duration::from_secs(1) {
                save_progress(&progress_file, ctx, &mut last_saved_pos, &self.shared);
                last_save = Instant::now();
            }
            if last_too_old_log.elapsed() >= Duration::from_secs(10) {
                let n = tail.take_too_old();
                if n > 0 {
                    log::warn!(
                        "remote write {name}: gave up {n} backlog samples older than the replay age limit of {:?}",
                        self.options.replay.max_age
                    );
                }
                last_too_old_log = Instant::now();
            }
            current_segment.set(tail.position().segment as f64);
            match tail.next(self.options.read_chunk_bytes) {
                Ok(Some(records)) => {
                    if let Err(Interrupted::Stop) = self.enqueue(records, &shards, &samples_in) {
                        break Ok(());
                    }
                }
                Ok(None) => {
                    let _ = self.wake.recv_timeout(self.options.poll_interval);
                }
                Err(e) => {
                    log::error!("remote write {name}: {e}");
                    let _ = self.wake.recv_timeout(Duration::from_secs(1));
                }
            }
        };
        shards.stop();
        let n = tail.take_too_old();
        if n > 0 {
            log::warn!(
                "remote write {name}: gave up {n} backlog samples older than the replay age limit"
            );
        }
        save_progress(&progress_file, ctx, &mut last_saved_pos, &self.shared);
        result
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// Hands the samples of `records` to the shards, blocking while they
    /// are full but still answering a stop request.
    fn enqueue(
        &self,
        records: Vec<TailRecord>,
        shards: &Shards,
        samples_in: &crate::telemetry::Counter,
    ) -> Result<(), Interrupted> {
        let ctx = &self.shared.ctx;
        for record in records {
            let seq = ctx.tracker.register(record.end, record.samples.len());
            let n = record.samples.len();
            for s in record.samples {
                self.shared
                    .highest_read_ms
                    .fetch_max(s.t, Ordering::Relaxed);
                let mut item = QueuedSample {
                    labels: s.labels,
                    t: s.t,
                    v: s.v,
                    seq,
                };
                loop {
                    match shards.enqueue(s.series_ref, item, Duration::from_millis(50)) {
                        Ok(()) => break,
                        Err(back) => {
                            item = back;
                            ctx.metrics.enqueue_retries_total.inc();
                            if self.stopping() {
                                return Err(Interrupted::Stop);
                            }
                        }
                    }
                }
            }
            if n > 0 {
                samples_in.add(n as f64);
                self.shared
                    .samples_in
                    .fetch_add(n as u64, Ordering::Relaxed);
                ctx.metrics
                    .samples_pending
                    .set(ctx.tracker.in_flight() as f64);
            }
        }
        Ok(())
    }
}

/// The progress file name: the entry's name, or a hash of its URL so a
/// change of queue tuning keeps the file.
fn progress_key(settings: &RemoteWriteSettings) -> String {
    if !settings.name.is_empty() {
        return settings.name.clone();
    }
    let mut h = crate::model::labels::Fnv64::new();
    h.write(settings.url.as_bytes());
    format!("url-{:016x}", h.finish())
}

fn save_progress(
    file: &Option<ProgressFile>,
    ctx: &ShardContext,
    last: &mut Option<WalPosition>,
    shared: &QueueShared,
) {
    let pos = ctx.tracker.delivered();
    if *last == Some(pos) {
        return;
    }
    if let Some(f) = file {
        let saved = SavedProgress {
            position: pos,
            saved_at_ms: crate::model::value::now_millis(),
        };
        if let Err(e) = f.save(saved) {
            log::warn!("remote write {}: saving progress: {e}", ctx.remote_name);
            return;
        }
    }
    *last = Some(pos);
    *shared.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(pos);
}

/// The rate bookkeeping behind the shard calculation.
struct Rates {
    last: Instant,
    last_in: u64,
    last_out: u64,
    last_nanos: u64,
    in_rate: EwmaRate,
    out_rate: EwmaRate,
    busy_rate: EwmaRate,
}

impl Rates {
    fn new(shared: &QueueShared) -> Rates {
        Rates {
            last: Instant::now(),
            last_in: shared.samples_in.load(Ordering::Relaxed),
            last_out: shared.ctx.samples_out.load(Ordering::Relaxed),
            last_nanos: shared.ctx.send_nanos.load(Ordering::Relaxed),
            in_rate: EwmaRate::default(),
            out_rate: EwmaRate::default(),
            busy_rate: EwmaRate::default(),
        }
    }

    fn due(&self, interval: Duration) -> bool {
        self.last.elapsed() >= interval
    }

    /// Folds in the last interval and returns the shard count to run.
    fn update(&mut self, shared: &QueueShared, current: usize, reader: &Reader) -> usize {
        let secs = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let ins = shared.samples_in.load(Ordering::Relaxed);
        let outs = shared.ctx.samples_out.load(Ordering::Relaxed);
        let nanos = shared.ctx.send_nanos.load(Ordering::Relaxed);
        self.in_rate
            .tick(ins.saturating_sub(self.last_in) as f64, secs);
        self.out_rate
            .tick(outs.saturating_sub(self.last_out) as f64, secs);
        self.busy_rate
            .tick(nanos.saturating_sub(self.last_nanos) as f64 / 1e9, secs);
        (self.last_in, self.last_out, self.last_nanos) = (ins, outs, nanos);
        let read = shared.highest_read_ms.load(Ordering::Relaxed);
        let sent = shared.ctx.highest_sent_ms.load(Ordering::Relaxed);
        let lag_seconds = if read == i64::MIN || sent == i64::MIN {
            0.0
        } else {
            (read - sent).max(0) as f64 / 1000.0
        };
        let inputs = ShardInputs {
            in_rate: self.in_rate.rate(),
            out_rate: self.out_rate.rate(),
            out_duration_rate: self.busy_rate.rate(),
            lag_seconds,
            update_interval_secs: reader.options.shard_update_interval.as_secs_f64(),
        };
        let desired = desired_shards(current, reader.min_shards, reader.max_shards, &inputs);
        shared.ctx.metrics.shards_desired.set(desired as f64);
        // Resharding flushes the shards; during an outage that would block
        // on retries, so the count only changes while sends succeed (as
        // upstream's `shouldReshard`).
        let last_ok = shared.ctx.last_send_ok_ms.load(Ordering::Relaxed);
        let recent = crate::model::value::now_millis() - last_ok
            <= 2 * reader.options.shard_update_interval.as_millis() as i64;
        if recent {
            desired
        } else {
            current
        }
    }
}
