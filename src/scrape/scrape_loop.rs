//! One target's scraping state (upstream's `scrapeLoop`): the series cache,
//! staleness tracking, label mutation and limits, the synthetic report series
//! and the target's metadata. A `ScrapeLoop` does not own a thread: the
//! manager's scheduler hands it to a worker when it is due, and its state
//! mutex guarantees one scrape at a time.
//!
//! The hot path: a steady-state scrape parses a line, finds its raw series
//! bytes in the cache and appends `(series_ref, t, v)`; labels are built,
//! relabeled and limit-checked only for series the cache has not seen.
//!
//! The cache keeps no labels: a cached series is appended by its reference
//! alone (the storage ignores labels for a reference it knows). When the
//! storage no longer knows it, or the series never got one, the labels are
//! rebuilt from the cache key, the raw series bytes, through the same steps
//! a new series takes. This keeps a steady-state series at a few dozen bytes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::config::PoolConfig;
use super::metrics::ScrapeMetrics;
use super::relabel;
use super::relabel::NameValidationScheme;
use super::scraper::{ScrapeResponse, Scraper};
use super::target::Target;
use super::textparse::{self, Entry, MetricType};
use super::ScrapeError;
use crate::model::labels::{is_valid_legacy_label_name, is_valid_legacy_metric_name, METRIC_NAME};
use crate::model::{stale_nan, Labels, LabelsBuilder};
use crate::storage::{Appendable, Appender, SeriesRef, StorageError};

/// TYPE, HELP and UNIT of one metric family, as the metadata API reports them.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            metric_type: MetricType::Unknown,
            help: String::new(),
            unit: String::new(),
        }
    }
}

/// Counts of one append, reported as the synthetic series.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AppendStats {
    /// `scrape_samples_scraped`: samples in the body.
    pub total: usize,
    /// `scrape_samples_post_metric_relabeling`: samples kept.
    pub added: usize,
    /// `scrape_series_added`: series new to the cache.
    pub series_added: usize,
}

/// One cached series; kept small, there is one per series of every target.
struct CacheEntry {
    /// The raw series bytes, shared with the cache's index (one allocation).
    key: Arc<[u8]>,
    /// 0 until an append created the series in the storage.
    series_ref: SeriesRef,
    /// Metric relabeling dropped the series; remembered so it is not
    /// relabeled again every scrape.
    dropped: bool,
    /// Series with explicit (honored) timestamps get no stale markers, as
    /// upstream; set on every scrape that sees the series.
    track_staleness: bool,
    /// The attempt that last saw the series.
    mark: u32,
    /// The last successful attempt that saw the series.
    seen_ok: u32,
}

/// Hashes raw series bytes for the cache. Every sample of every scrape is
/// looked up by its ~100 raw bytes, and std's SipHash was the largest single
/// cost of a steady-state scrape; this folds 16 bytes per 64×64→128-bit
/// multiply (as wyhash/foldhash do). The seed is random per cache, so a
/// target cannot choose series names that collide in every server.
#[derive(Clone, Copy)]
struct RawHashBuilder {
    seed: u64,
}

impl Default for RawHashBuilder {
    fn default() -> Self {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        RawHashBuilder { seed }
    }
}

impl std::hash::BuildHasher for RawHashBuilder {
    type Hasher = RawHasher;
    fn build_hasher(&self) -> RawHasher {
        RawHasher {
            seed: self.seed,
            h: self.seed,
        }
    }
}

struct RawHasher {
    seed: u64,
    h: u64,
}

const MIX: [u64; 2] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];

fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(a)
}

impl std::hash::Hasher for RawHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.h;
        let mut chunks = bytes.chunks_exact(16);
        for c in &mut chunks {
            let (a, b) = c.split_at(8);
            h = folded_mul(le_u64(a) ^ self.seed ^ MIX[0], le_u64(b) ^ h ^ MIX[1]);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let (a, b) = rest.split_at(rest.len().min(8));
            h = folded_mul(le_u64(a) ^ self.seed ^ MIX[0], le_u64(b) ^ h ^ MIX[1]);
        }
        // The length keeps "a" and "a\0" apart (the tail is zero-padded).
        self.h = folded_mul(h ^ bytes.len() as u64, MIX[1] ^ self.seed);
    }

    fn finish(&self) -> u64 {
        self.h
    }
}

/// Raw series bytes → series, plus what staleness needs.
#[derive(Default)]
struct SeriesCache {
    /// Raw series bytes → index in `entries`. An index rather than the
    /// entry itself, so the parser's `next_known` lookup can hand the entry
    /// over and a steady-state sample costs one hash lookup, not two.
    index: HashMap<Arc<[u8]>, u32, RawHashBuilder>,
    /// `None` for an evicted entry, whose index waits in `free`.
    entries: Vec<Option<CacheEntry>>,
    free: Vec<u32>,
    /// The entries of the last attempt in body order, and of this attempt so
    /// far. Targets expose the same series in the same order scrape after
    /// scrape, so the n-th series of a body is first compared with the n-th
    /// of the last one: a byte comparison instead of a hash lookup.
    last_order: Vec<u32>,
    order: Vec<u32>,
    /// Counts scrapes; wraps (skipping 0, the mark of an unseen entry)
    /// after 2^32 of them.
    attempt: u32,
    /// The last attempt that succeeded, if the previous one did; stale
    /// markers are due for its series that the current attempt lacks.
    last_ok: Option<u32>,
}

/// Attempts after which an unseen cache entry is forgotten.
const CACHE_KEEP_ATTEMPTS: u32 = 10;

impl SeriesCache {
    fn is_current(&self, e: &CacheEntry) -> bool {
        e.track_staleness && !e.dropped && self.last_ok == Some(e.seen_ok)
    }

    fn next_attempt(&mut self) -> u32 {
        self.attempt = self.attempt.wrapping_add(1).max(1);
        std::mem::swap(&mut self.last_order, &mut self.order);
        self.order.clear();
        self.attempt
    }

    /// The entry for `raw`: the one at the same position in the last
    /// attempt's body when its bytes match, else the index's.
    fn find(&self, raw: &[u8]) -> Option<u32> {
        let guess = self.last_order.get(self.order.len()).copied();
        if let Some(i) = guess {
            if let Some(Some(e)) = self.entries.get(i as usize) {
                if *e.key == *raw {
                    return Some(i);
                }
            }
        }
        self.index.get(raw).copied()
    }

    /// Ends a successful attempt: stale markers for series of the previous
    /// success that this one did not have. `labels` rebuilds a series'
    /// labels from its raw bytes.
    fn finish_ok(
        &mut self,
        app: &mut dyn Appender,
        t: i64,
        labels: &dyn Fn(&[u8]) -> Option<Labels>,
    ) {
        let a = self.attempt;
        let last_ok = self.last_ok;
        for (raw, &i) in &self.index {
            let Some(Some(e)) = self.entries.get_mut(i as usize) else {
                continue;
            };
            if e.mark == a {
                e.seen_ok = a;
            } else if e.track_staleness && !e.dropped && last_ok == Some(e.seen_ok) {
                // A failed stale append is not worth failing the scrape.
                let _ = append_by_ref(app, e.series_ref, t, stale_nan(), || labels(raw));
            }
        }
        self.last_ok = Some(a);
        if a.is_multiple_of(CACHE_KEEP_ATTEMPTS) {
            self.evict();
        }
    }

    /// Ends a failed attempt (or the target): every series of the last
    /// success goes stale.
    fn finish_failed(
        &mut self,
        app: &mut dyn Appender,
        t: i64,
        labels: &dyn Fn(&[u8]) -> Option<Labels>,
    ) {
        for (raw, &i) in &self.index {
            let Some(Some(e)) = self.entries.get(i as usize) else {
                continue;
            };
            if self.is_current(e) {
                let _ = append_by_ref(app, e.series_ref, t, stale_nan(), || labels(raw));
            }
        }
        self.last_ok = None;
    }

    fn evict(&mut self) {
        let a = self.attempt;
        // Wrapping distances keep this right across a counter wrap.
        let (entries, free) = (&mut self.entries, &mut self.free);
        self.index.retain(|_, &mut i| {
            let Some(slot) = entries.get_mut(i as usize) else {
                return false;
            };
            let keep = slot.as_ref().is_some_and(|e| {
                a.wrapping_sub(e.mark) < CACHE_KEEP_ATTEMPTS
                    || a.wrapping_sub(e.seen_ok) < CACHE_KEEP_ATTEMPTS
            });
            if !keep {
                *slot = None;
                free.push(i);
            }
            keep
        });
    }

    /// Adds `raw`, which is not cached yet; returns its index.
    fn insert(&mut self, raw: &[u8], e: CacheEntry) -> Option<u32> {
        let key = e.key.clone();
        debug_assert_eq!(*key, *raw);
        let i = match self.free.pop() {
            Some(i) => {
                *self.entries.get_mut(i as usize)? = Some(e);
                i
            }
            None => {
                self.entries.push(Some(e));
                u32::try_from(self.entries.len() - 1).ok()?
            }
        };
        self.index.insert(key, i);
        Some(i)
    }
}

/// Appends by reference alone; when the storage does not know the reference
/// (or there is none yet) appends again with the series' labels from
/// `labels`. An out-of-order, duplicate or out-of-bounds answer refused the
/// sample, not the reference, so it is returned as is.
fn append_by_ref(
    app: &mut dyn Appender,
    series_ref: SeriesRef,
    t: i64,
    v: f64,
    labels: impl FnOnce() -> Option<Labels>,
) -> Result<SeriesRef, StorageError> {
    if series_ref != 0 {
        match app.append(series_ref, &Labels::empty(), t, v) {
            Ok(r) => return Ok(r),
            Err(
                e @ (StorageError::OutOfOrderSample
                | StorageError::OutOfBounds
                | StorageError::DuplicateSampleForTimestamp),
            ) => return Err(e),
            Err(_) => {}
        }
    }
    let labels = labels().ok_or_else(|| {
        StorageError::InvalidLabels("the series' labels could not be rebuilt".into())
    })?;
    app.append(0, &labels, t, v)
}

/// One parsed sample: its timestamp, value and whether it gets stale markers.
#[derive(Clone, Copy)]
struct Sample {
    t: i64,
    v: f64,
    track: bool,
}

/// The synthetic series, in upstream's order; the last three only with
/// `extra_scrape_metrics`.
const REPORT_NAMES: [&str; 8] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    // With `extra_scrape_metrics` only:
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
];

struct LoopState {
    cache: SeriesCache,
    metadata: HashMap<String, Metadata>,
    report_labels: Vec<Labels>,
    report_refs: Vec<SeriesRef>,
    /// The target is gone and its end-of-run stale markers are written.
    ended: bool,
    last_start: Option<Instant>,
    /// The grid scrape timestamps snap to (see `aligned_timestamp`).
    aligned: Option<i64>,
}

/// One target's scrape loop (see the module comment).
pub struct ScrapeLoop {
    pub(crate) id: u64,
    pub target: Arc<Target>,
    cfg: Arc<PoolConfig>,
    target_labels: Labels,
    scraper: Arc<Scraper>,
    storage: Arc<dyn Appendable>,
    metrics: Arc<ScrapeMetrics>,
    state: Mutex<LoopState>,
    pub(crate) in_flight: AtomicBool,
    pub(crate) stopped: AtomicBool,
    /// Set by the pool when `target_limit` is exceeded: every scrape fails with it.
    forced_error: Mutex<Option<ScrapeError>>,
}

static NEXT_LOOP_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl ScrapeLoop {
    pub fn new(
        target: Arc<Target>,
        cfg: Arc<PoolConfig>,
        scraper: Arc<Scraper>,
        storage: Arc<dyn Appendable>,
        metrics: Arc<ScrapeMetrics>,
    ) -> ScrapeLoop {
        let target_labels = target.public_labels();
        let reported = if cfg.extra_scrape_metrics { 8 } else { 5 };
        let report_labels: Vec<Labels> = REPORT_NAMES[..reported]
            .iter()
            .map(|name| {
                let mut lb = LabelsBuilder::new();
                lb.set(METRIC_NAME, name);
                apply_target_labels(&mut lb, &target_labels, false);
                lb.build()
            })
            .collect();
        ScrapeLoop {
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            target,
            cfg,
            target_labels,
            scraper,
            storage,
            metrics,
            state: Mutex::new(LoopState {
                cache: SeriesCache::default(),
                metadata: HashMap::new(),
                report_labels,
                report_refs: vec![0; reported],
                ended: false,
                last_start: None,
                aligned: None,
            }),
            in_flight: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            forced_error: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LoopState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_forced_error(&self, e: Option<ScrapeError>) {
        *self.forced_error.lock().unwrap_or_else(|e| e.into_inner()) = e;
    }

    /// Scrapes once over HTTP and ingests the result.
    pub fn run_once(&self) {
        self.run_scrape(None);
    }

    /// Scrapes once for the slot the scheduler had due at `due`. A worker
    /// picking the scrape up late (a busy pool or CPU) stamps its samples
    /// as if it had started on time when the delay is at most 1% of the
    /// interval: upstream's per-target timers rarely drift past its 2 ms
    /// alignment tolerance, a shared pool does under load, and off-grid
    /// timestamps cost space in every chunk.
    pub fn run_due(&self, due: Instant) {
        self.run_scrape(Some(due));
    }

    fn run_scrape(&self, due: Option<Instant>) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let started = Instant::now();
        let wall = SystemTime::now();
        let stamp = match due.map(|d| started.saturating_duration_since(d)) {
            Some(late) if late <= self.target.interval / 100 => {
                wall.checked_sub(late).unwrap_or(wall)
            }
            _ => wall,
        };
        {
            let mut st = self.lock();
            if let Some(prev) = st.last_start.replace(started) {
                // Upstream labels with Go's `time.Duration.String()` ("1m0s").
                self.metrics
                    .interval_length
                    .with(&[&crate::template::funcs::format_go_duration(
                        i64::try_from(self.target.interval.as_nanos()).unwrap_or(i64::MAX),
                    )])
                    .observe(started.duration_since(prev).as_secs_f64());
            }
        }
        let forced = self
            .forced_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let result = match forced {
            Some(e) => Err(e),
            None => self.scraper.scrape(&self.target.url(), self.target.timeout),
        };
        if let Err(ScrapeError::BodySizeLimit(_)) = &result {
            self.metrics.exceeded_body_size_limit.inc();
        }
        let duration = started.elapsed();
        let t = {
            let mut st = self.lock();
            aligned_timestamp(&mut st.aligned, millis(stamp), self.target.interval)
        };
        let err = self
            .ingest(result.as_ref().map_err(Clone::clone), t, duration)
            .err();
        self.target
            .report(err.map(|e| e.to_string()), wall, duration);
    }

    /// Appends one scrape's outcome at time `t`: the samples of a good body,
    /// or stale markers when the scrape or the body failed, plus the report
    /// series. Returns the scrape's error, if any.
    pub fn ingest(
        &self,
        result: Result<&ScrapeResponse, ScrapeError>,
        t: i64,
        duration: Duration,
    ) -> Result<AppendStats, ScrapeError> {
        let mut st = self.lock();
        if st.ended {
            return Ok(AppendStats::default());
        }
        let mut app = self.storage.appender();
        // Upstream reports -1 when the body was over the limit.
        let body_size = match &result {
            Ok(resp) => resp.body.len() as f64,
            Err(ScrapeError::BodySizeLimit(_)) => -1.0,
            Err(_) => 0.0,
        };
        let (stats, err) = match result {
            Ok(resp) => match self.append_body(&mut st, app.as_mut(), resp, t) {
                Ok(stats) => (stats, None),
                Err((stats, e)) => {
                    // Nothing of a bad body is kept: roll back, then mark
                    // the previous scrape's series stale in a fresh batch.
                    let _ = app.rollback();
                    app = self.storage.appender();
                    st.cache
                        .finish_failed(app.as_mut(), t, &|raw| self.labels_from_raw(raw));
                    (stats, Some(e))
                }
            },
            Err(e) => {
                st.cache
                    .finish_failed(app.as_mut(), t, &|raw| self.labels_from_raw(raw));
                (AppendStats::default(), Some(e))
            }
        };
        let up = if err.is_none() { 1.0 } else { 0.0 };
        let values = [
            up,
            duration.as_secs_f64(),
            stats.total as f64,
            stats.added as f64,
            stats.series_added as f64,
            self.target.timeout.as_secs_f64(),
            self.cfg.sample_limit as f64,
            body_size,
        ];
        let st = &mut *st;
        for ((labels, r), v) in st
            .report_labels
            .iter()
            .zip(st.report_refs.iter_mut())
            .zip(values)
        {
            if let Ok(new_ref) = app.append(*r, labels, t, v) {
                *r = new_ref;
            }
        }
        if let Err(e) = app.commit() {
            log::warn!("scrape: commit for {} failed: {e}", self.target.url());
        }
        match err {
            None => Ok(stats),
            Some(e) => Err(e),
        }
    }

    fn append_body(
        &self,
        st: &mut LoopState,
        app: &mut dyn Appender,
        resp: &ScrapeResponse,
        scrape_t: i64,
    ) -> Result<AppendStats, (AppendStats, ScrapeError)> {
        let mut stats = AppendStats::default();
        let mut p = textparse::new_parser_with_fallback(
            &resp.content_type,
            &resp.body,
            self.cfg.fallback_protocol,
        )
        .map_err(|e| (stats, ScrapeError::ContentType(e)))?;
        let cache = &mut st.cache;
        let attempt = cache.next_attempt();
        // The cache index `next_known` found for the current line.
        let found = std::cell::Cell::new(None::<u32>);
        loop {
            found.set(None);
            // Series already in the cache were lexed when they entered it.
            let known = |raw: &[u8]| match cache.find(raw) {
                Some(i) => {
                    found.set(Some(i));
                    true
                }
                None => false,
            };
            let entry = match p.next_known(&known) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => return Err((stats, ScrapeError::Parse(e))),
            };
            match entry {
                Entry::Series => {}
                Entry::Type => {
                    let (name, typ) = p.metric_type();
                    with_metadata(&mut st.metadata, name, |m| m.metric_type = typ);
                    continue;
                }
                Entry::Help => {
                    let (name, help) = p.help();
                    with_metadata(&mut st.metadata, name, |m| {
                        set_if_changed(&mut m.help, help)
                    });
                    continue;
                }
                Entry::Unit => {
                    let (name, unit) = p.unit();
                    with_metadata(&mut st.metadata, name, |m| {
                        set_if_changed(&mut m.unit, unit)
                    });
                    continue;
                }
                Entry::Comment => continue,
            }
            stats.total += 1;
            let (raw, ts, v) = p.series();
            // Without honor_timestamps an exposed timestamp is ignored
            // altogether, so the series is tracked for staleness like any
            // other (upstream drops the parsed timestamp).
            let explicit = ts.filter(|_| self.cfg.honor_timestamps);
            let t = explicit.unwrap_or(scrape_t);
            let track = explicit.is_none() || self.cfg.track_timestamps_staleness;
            // Hot path: one lookup by the raw bytes (done by `known` above
            // for the text format).
            let i = found.get().or_else(|| cache.find(raw));
            if let Some(i) = i {
                cache.order.push(i);
            }
            if let Some(Some(e)) = i.and_then(|i| cache.entries.get_mut(i as usize)) {
                let sample = Sample { t, v, track };
                let labels = || self.mutate_sample_labels(&p.labels());
                self.append_cached(e, app, attempt, sample, labels, &mut stats)?;
                continue;
            }
            // Cold path: a series this target has not exposed lately.
            let labels = self.mutate_sample_labels(&p.labels());
            if let Some(labels) = &labels {
                self.check_labels(labels).map_err(|e| (stats, e))?;
                stats.series_added += 1;
            }
            let entry = CacheEntry {
                key: raw.into(),
                series_ref: 0,
                dropped: labels.is_none(),
                track_staleness: track,
                mark: 0,
                seen_ok: 0,
            };
            let inserted = cache.insert(raw, entry);
            let Some(Some(e)) = inserted.and_then(|i| {
                cache.order.push(i);
                cache.entries.get_mut(i as usize)
            }) else {
                let full = "the target's series cache is full (2^32 series)".to_string();
                return Err((stats, ScrapeError::Storage(full)));
            };
            let sample = Sample { t, v, track };
            self.append_cached(e, app, attempt, sample, || labels, &mut stats)?;
        }
        st.cache
            .finish_ok(app, scrape_t, &|raw| self.labels_from_raw(raw));
        Ok(stats)
    }

    /// Appends one sample of a cached series (or skips it when relabeling
    /// dropped the series or the body repeats it). `labels` gives the
    /// series' labels, called only when the storage needs them.
    fn append_cached(
        &self,
        e: &mut CacheEntry,
        app: &mut dyn Appender,
        attempt: u32,
        Sample { t, v, track }: Sample,
        labels: impl FnOnce() -> Option<Labels>,
        stats: &mut AppendStats,
    ) -> Result<(), (AppendStats, ScrapeError)> {
        if e.mark == attempt {
            // The same series twice in one body.
            self.metrics.duplicate_timestamp.inc();
            return Ok(());
        }
        e.mark = attempt;
        // Decided per scrape: a series may gain or lose its timestamp.
        e.track_staleness = track;
        if e.dropped {
            return Ok(());
        }
        stats.added += 1;
        if self.cfg.sample_limit > 0 && stats.added > self.cfg.sample_limit {
            self.metrics.exceeded_sample_limit.inc();
            return Err((*stats, ScrapeError::SampleLimit(self.cfg.sample_limit)));
        }
        match append_by_ref(app, e.series_ref, t, v, labels) {
            Ok(r) => e.series_ref = r,
            Err(StorageError::OutOfOrderSample) => self.metrics.out_of_order.inc(),
            Err(StorageError::DuplicateSampleForTimestamp) => {
                self.metrics.duplicate_timestamp.inc()
            }
            Err(StorageError::OutOfBounds) => self.metrics.out_of_bounds.inc(),
            Err(err) => return Err((*stats, ScrapeError::Storage(err.to_string()))),
        }
        Ok(())
    }

    /// A cached series' labels rebuilt from its raw bytes (the cache key),
    /// the way a new series gets them. `None` if relabeling drops it, which
    /// cannot happen for a series it kept before.
    fn labels_from_raw(&self, raw: &[u8]) -> Option<Labels> {
        match textparse::series_labels(raw) {
            Ok(scraped) => self.mutate_sample_labels(&scraped),
            Err(e) => {
                // The bytes passed the parser when they were cached.
                log::warn!(
                    "scrape: cached series {:?} of {}: {e}",
                    String::from_utf8_lossy(raw),
                    self.target.url()
                );
                None
            }
        }
    }

    /// Target labels, `honor_labels`, then `metric_relabel_configs` (upstream's
    /// `mutateSampleLabels`). `None` when relabeling dropped the series.
    fn mutate_sample_labels(&self, scraped: &Labels) -> Option<Labels> {
        let mut lb = scraped.builder();
        apply_target_labels(&mut lb, &self.target_labels, self.cfg.honor_labels);
        let labels = lb.build();
        if self.cfg.metric_relabel_configs.is_empty() {
            return Some(labels);
        }
        relabel::process(&labels, &self.cfg.metric_relabel_configs)
    }

    /// The name check and the label limits, with upstream's messages.
    fn check_labels(&self, labels: &Labels) -> Result<(), ScrapeError> {
        let name = labels.metric_name().unwrap_or("");
        if name.is_empty() {
            return Err(ScrapeError::NameMissing);
        }
        let cfg = &self.cfg;
        if cfg.name_validation == NameValidationScheme::Legacy
            && (!is_valid_legacy_metric_name(name)
                || !labels.iter().all(|l| is_valid_legacy_label_name(&l.name)))
        {
            return Err(ScrapeError::InvalidLabels(labels.to_string()));
        }
        let short = |s: &str| s.chars().take(50).collect::<String>();
        let fail = |msg: String| {
            self.metrics.exceeded_label_limits.inc();
            Err(ScrapeError::LabelLimit(msg))
        };
        if cfg.label_limit > 0 && labels.len() > cfg.label_limit {
            return fail(format!(
                "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
                short(name),
                labels.len(),
                cfg.label_limit
            ));
        }
        for l in labels.iter() {
            if cfg.label_name_length_limit > 0 && l.name.len() > cfg.label_name_length_limit {
                return fail(format!(
                    "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                    short(name),
                    short(&l.name),
                    l.name.len(),
                    cfg.label_name_length_limit
                ));
            }
            if cfg.label_value_length_limit > 0 && l.value.len() > cfg.label_value_length_limit {
                return fail(format!(
                    "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {})",
                    short(name),
                    short(&l.name),
                    short(&l.value),
                    l.value.len(),
                    cfg.label_value_length_limit
                ));
            }
        }
        Ok(())
    }

    /// Stops the loop for good and marks all its series (report series
    /// included) stale, as upstream does for a target that disappeared.
    /// Waits for an in-flight scrape of this target to finish.
    pub fn end(&self, t: i64) {
        self.stopped.store(true, Ordering::Release);
        let mut st = self.lock();
        if st.ended {
            return;
        }
        st.ended = true;
        let mut app = self.storage.appender();
        st.cache
            .finish_failed(app.as_mut(), t, &|raw| self.labels_from_raw(raw));
        let st = &*st;
        for (labels, r) in st.report_labels.iter().zip(&st.report_refs) {
            let _ = app.append(*r, labels, t, stale_nan());
        }
        if let Err(e) = app.commit() {
            log::warn!(
                "scrape: stale markers for {} failed: {e}",
                self.target.url()
            );
        }
    }

    /// Takes over `old`'s series cache, metadata and report series refs
    /// (reload of a pool whose change cannot alter series labels). `old`
    /// ends without stale markers: this loop continues its series. Waits for
    /// an in-flight scrape of `old`.
    pub(crate) fn take_state_from(&self, old: &ScrapeLoop) {
        old.stopped.store(true, Ordering::Release);
        let mut from = old.lock();
        let mut to = self.lock();
        from.ended = true;
        to.cache = std::mem::take(&mut from.cache);
        to.metadata = std::mem::take(&mut from.metadata);
        if to.report_labels == from.report_labels {
            to.report_refs = std::mem::take(&mut from.report_refs);
        }
    }

    /// The metadata of the target's last scrapes, by metric family name.
    pub fn metadata(&self) -> Vec<(String, Metadata)> {
        let st = self.lock();
        let mut v: Vec<(String, Metadata)> = st
            .metadata
            .iter()
            .map(|(k, m)| (k.clone(), m.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Updates a family's metadata, creating it on first sight. Looked up by
/// `&str` so a steady-state scrape allocates no key.
fn with_metadata(map: &mut HashMap<String, Metadata>, name: &str, f: impl FnOnce(&mut Metadata)) {
    match map.get_mut(name) {
        Some(m) => f(m),
        None => {
            let mut m = Metadata::default();
            f(&mut m);
            map.insert(name.to_string(), m);
        }
    }
}

/// Assigns without reallocating when the text did not change.
fn set_if_changed(field: &mut String, value: &str) {
    if field != value {
        value.clone_into(field);
    }
}

/// Adds the target's labels to a scraped set. With `honor_labels` the
/// scraped value wins; otherwise the target's does and a clashing scraped
/// label is kept as `exported_<name>` (repeatedly prefixed while taken).
fn apply_target_labels(lb: &mut LabelsBuilder, target: &Labels, honor: bool) {
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for l in target.iter() {
        match lb.get(&l.name) {
            Some(_) if honor => {}
            Some(existing) => {
                // Upstream exports the scraped value even when it equals
                // the target's.
                conflicts.push((l.name.clone(), existing.to_string()));
                lb.set(&l.name, &l.value);
            }
            None => {
                lb.set(&l.name, &l.value);
            }
        }
    }
    conflicts.sort_by_key(|(name, _)| name.len());
    for (name, value) in conflicts {
        let mut exported = format!("exported_{name}");
        while lb.get(&exported).is_some() {
            exported = format!("exported_{exported}");
        }
        lb.set(&exported, &value);
    }
}

/// Upstream's scrape timestamp alignment: a scrape starting within 2 ms
/// (at most 1% of the interval) of its slot on the grid `first scrape +
/// k * interval` gets the slot's timestamp, so stored timestamps are evenly
/// spaced and compress to almost nothing in the TSDB.
fn aligned_timestamp(grid: &mut Option<i64>, t: i64, interval: Duration) -> i64 {
    let interval = (interval.as_millis() as i64).max(1);
    let tolerance = (interval / 100).min(2);
    let Some(mut slot) = *grid else {
        *grid = Some(t);
        return t;
    };
    if t - slot >= interval {
        // Skipped ticks: jump ahead in whole intervals.
        slot += (t - slot) / interval * interval;
    }
    *grid = Some(slot);
    if t - slot <= tolerance {
        slot
    } else {
        t
    }
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &[u8], mark: u32) -> CacheEntry {
        CacheEntry {
            key: key.into(),
            series_ref: u64::from(mark),
            dropped: false,
            track_staleness: true,
            mark,
            seen_ok: mark,
        }
    }

    #[test]
    fn series_cache_reuses_indexes_of_evicted_entries() {
        let mut c = SeriesCache {
            attempt: 1,
            ..SeriesCache::default()
        };
        assert!(c.insert(b"old", entry(b"old", 1)).is_some());
        c.attempt = 20;
        assert!(c.insert(b"new", entry(b"new", 20)).is_some());
        c.evict();
        assert!(!c.index.contains_key(&b"old"[..]), "unseen for 19 attempts");
        assert_eq!(c.free, vec![0]);
        assert!(c.insert(b"newer", entry(b"newer", 20)).is_some());
        assert_eq!(
            c.index.get(&b"newer"[..]),
            Some(&0),
            "the freed index is reused"
        );
        assert_eq!(c.entries.len(), 2);
        let got = |k: &[u8]| {
            let i = *c.index.get(k).unwrap();
            c.entries[i as usize].as_ref().unwrap().series_ref
        };
        assert_eq!((got(b"new"), got(b"newer")), (20, 20));
    }

    #[test]
    fn series_cache_finds_by_position_then_by_index() {
        let mut c = SeriesCache::default();
        c.next_attempt();
        for k in [&b"a"[..], b"b", b"c"] {
            let i = c.insert(k, entry(k, 1)).unwrap();
            c.order.push(i);
        }
        c.next_attempt();
        // Same order: each guess matches.
        assert_eq!(c.find(b"a"), Some(0));
        c.order.push(0);
        // Out of order: the guess (b) is wrong, the index answers.
        assert_eq!(c.find(b"c"), Some(2));
        c.order.push(2);
        assert_eq!(c.find(b"b"), Some(1));
        c.order.push(1);
        // Past the last body's length, or unknown bytes.
        assert_eq!(c.find(b"a"), Some(0));
        assert_eq!(c.find(b"zz"), None);
        // An evicted entry's slot reused by another series is not mistaken
        // for the old one at the same position.
        c.next_attempt();
        c.entries[0] = None;
        c.index.remove(&b"a"[..]);
        c.free.push(0);
        let i = c.insert(b"x", entry(b"x", 3)).unwrap();
        assert_eq!(i, 0);
        assert_eq!(c.find(b"a"), None);
        assert_eq!(c.find(b"x"), Some(0));
    }

    #[test]
    fn raw_hash_depends_on_every_byte_and_the_seed() {
        use std::hash::BuildHasher;
        let b = RawHashBuilder::default();
        let key: &[u8] = b"metric_name{label=\"value\",other=\"x\"}";
        assert_eq!(b.hash_one(key), b.hash_one(key));
        for i in 0..key.len() {
            let mut k = key.to_vec();
            k[i] ^= 1;
            assert_ne!(b.hash_one(key), b.hash_one(&k[..]), "byte {i}");
        }
        assert_ne!(b.hash_one(&b"a"[..]), b.hash_one(&b"a\0"[..]));
        let other = RawHashBuilder { seed: b.seed ^ 1 };
        assert_ne!(b.hash_one(key), other.hash_one(key));
    }
    use crate::model::{is_stale_nan, MatchType, Matcher};
    use crate::storage::memory::MemStorage;
    use crate::storage::Queryable;

    fn make_loop(cfg: PoolConfig, storage: &MemStorage) -> ScrapeLoop {
        make_loop_on(cfg, Arc::new(storage.clone()))
    }

    fn make_loop_on(cfg: PoolConfig, storage: Arc<dyn Appendable>) -> ScrapeLoop {
        let target = Arc::new(Target::new(
            Labels::empty(),
            Labels::from_pairs(&[("__address__", "h:1"), ("instance", "h:1"), ("job", "j")]),
            Duration::from_secs(1),
            Duration::from_secs(1),
        ));
        let cfg = Arc::new(cfg);
        ScrapeLoop::new(
            target,
            cfg.clone(),
            Arc::new(Scraper::new(&cfg)),
            storage,
            Arc::new(ScrapeMetrics::new(&crate::telemetry::Registry::new())),
        )
    }

    fn resp(s: &str) -> ScrapeResponse {
        ScrapeResponse {
            content_type: "text/plain; version=0.0.4".into(),
            body: s.as_bytes().to_vec(),
        }
    }

    fn ingest(l: &ScrapeLoop, text: &str, t: i64) -> Result<AppendStats, ScrapeError> {
        l.ingest(Ok(&resp(text)), t, Duration::from_millis(5))
    }

    /// All samples of the series named `name`, by label set string.
    fn samples(s: &MemStorage, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
        let Ok(q) = s.querier(i64::MIN, i64::MAX) else {
            panic!("querier")
        };
        let m = Matcher::new(MatchType::Equal, METRIC_NAME, name).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        let Ok(set) = q.select(true, None, &[m]) else {
            panic!("select")
        };
        for series in set {
            let Ok(series) = series else { panic!("select") };
            let mut it = series.iterator();
            let mut pts = Vec::new();
            while let Some((t, v)) = it.next() {
                pts.push((t, v));
            }
            out.push((series.labels().to_string(), pts));
        }
        out
    }

    #[test]
    fn staleness_cache_and_report() {
        let s = MemStorage::new();
        let l = make_loop(PoolConfig::new("j"), &s);
        let st = ingest(&l, "a 1\nb{x=\"1\"} 2\n", 1000);
        assert_eq!(
            st,
            Ok(AppendStats {
                total: 2,
                added: 2,
                series_added: 2
            })
        );
        let st = ingest(&l, "a 3\n", 2000);
        assert_eq!(
            st,
            Ok(AppendStats {
                total: 1,
                added: 1,
                series_added: 0
            })
        );
        let b = samples(&s, "b");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].0, r#"{__name__="b", instance="h:1", job="j", x="1"}"#);
        assert_eq!(b[0].1.len(), 2);
        assert!(is_stale_nan(b[0].1[1].1));
        // A broken body fails the scrape, keeps nothing and stales `a`.
        assert!(matches!(
            ingest(&l, "a 4\nbad\n", 3000),
            Err(ScrapeError::Parse(_))
        ));
        let a = samples(&s, "a");
        assert_eq!(a[0].1.len(), 3);
        assert!(is_stale_nan(a[0].1[2].1));
        let up = samples(&s, "up");
        assert_eq!(
            up[0].1.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![1.0, 1.0, 0.0]
        );
        // Target removed: report series go stale too.
        l.end(4000);
        let up = samples(&s, "up");
        assert!(up[0].1.last().is_some_and(|p| is_stale_nan(p.1)));
        // The five report series of the first two scrapes (the third failed).
        let report = |name: &str| -> Vec<f64> {
            samples(&s, name)[0].1.iter().take(2).map(|p| p.1).collect()
        };
        assert_eq!(report("scrape_series_added"), vec![2.0, 0.0]);
        assert_eq!(report("scrape_samples_scraped"), vec![2.0, 1.0]);
        assert_eq!(
            report("scrape_samples_post_metric_relabeling"),
            vec![2.0, 1.0]
        );
        assert_eq!(report("scrape_duration_seconds"), vec![0.005, 0.005]);
    }

    #[test]
    fn metric_relabeling_is_reported_after_scraping() {
        let s = MemStorage::new();
        let mut cfg = PoolConfig::new("j");
        cfg.metric_relabel_configs =
            vec![
                serde_yaml::from_str("{source_labels: [__name__], regex: 'b', action: drop}")
                    .unwrap_or_else(|e| panic!("{e}")),
            ];
        let l = make_loop(cfg, &s);
        for t in [1, 2] {
            assert!(ingest(&l, "a 1\nb 2\n", t).is_ok());
        }
        assert!(samples(&s, "b").is_empty());
        assert_eq!(samples(&s, "a")[0].1.len(), 2);
        let values =
            |name: &str| -> Vec<f64> { samples(&s, name)[0].1.iter().map(|p| p.1).collect() };
        assert_eq!(values("scrape_samples_scraped"), vec![2.0, 2.0]);
        assert_eq!(
            values("scrape_samples_post_metric_relabeling"),
            vec![1.0, 1.0]
        );
        assert_eq!(values("scrape_series_added"), vec![1.0, 0.0]);
    }

    #[test]
    fn honor_labels_and_exported_conflicts() {
        let s = MemStorage::new();
        let l = make_loop(PoolConfig::new("j"), &s);
        assert!(ingest(&l, "a{job=\"other\",exported_job=\"x\"} 1\n", 1).is_ok());
        assert_eq!(
            samples(&s, "a")[0].0,
            r#"{__name__="a", exported_exported_job="other", exported_job="x", instance="h:1", job="j"}"#
        );
        assert!(ingest(&l, "b{job=\"j\"} 1\n", 1).is_ok());
        assert_eq!(
            samples(&s, "b")[0].0,
            r#"{__name__="b", exported_job="j", instance="h:1", job="j"}"#
        );
        let s = MemStorage::new();
        let mut cfg = PoolConfig::new("j");
        cfg.honor_labels = true;
        let l = make_loop(cfg, &s);
        assert!(ingest(&l, "a{job=\"other\"} 1\n", 1).is_ok());
        assert_eq!(
            samples(&s, "a")[0].0,
            r#"{__name__="a", instance="h:1", job="other"}"#
        );
    }

    #[test]
    fn limits_fail_the_scrape() {
        type Case = (
            fn(&mut PoolConfig),
            &'static str,
            &'static str,
            fn(&ScrapeMetrics) -> f64,
        );
        let label_limits: fn(&ScrapeMetrics) -> f64 = |m| m.exceeded_label_limits.get();
        let cases: &[Case] = &[
            (
                |c| c.sample_limit = 1,
                "a 1\nb 1\n",
                "sample limit exceeded",
                |m| m.exceeded_sample_limit.get(),
            ),
            (
                |c| c.label_limit = 3,
                "a{x=\"1\"} 1\n",
                "label_limit exceeded",
                label_limits,
            ),
            (
                |c| c.label_name_length_limit = 3,
                "a{long=\"1\"} 1\n",
                "label_name_length_limit exceeded",
                label_limits,
            ),
            (
                |c| c.label_value_length_limit = 3,
                "a{x=\"long\"} 1\n",
                "label_value_length_limit exceeded",
                label_limits,
            ),
        ];
        for (set, text, want, counter) in cases {
            let s = MemStorage::new();
            let mut cfg = PoolConfig::new("j");
            set(&mut cfg);
            let l = make_loop(cfg, &s);
            // Under the limit: nothing counted.
            assert!(ingest(&l, "", 1).is_ok());
            assert_eq!(counter(&l.metrics), 0.0, "{want}");
            match ingest(&l, text, 2) {
                Err(e) => assert!(e.to_string().contains(want), "{e}"),
                Ok(st) => panic!("{want}: scrape succeeded with {st:?}"),
            }
            assert_eq!(counter(&l.metrics), 1.0, "{want}: breach not counted");
            assert!(samples(&s, "a").is_empty(), "{want}: samples were kept");
            assert_eq!(
                samples(&s, "up")[0].1,
                vec![(1, 1.0), (2, 0.0)],
                "{want}: up"
            );
        }
    }

    #[test]
    fn name_validation_and_extra_metrics() {
        let s = MemStorage::new();
        let mut cfg = PoolConfig::new("j");
        cfg.name_validation = NameValidationScheme::Legacy;
        cfg.extra_scrape_metrics = true;
        cfg.sample_limit = 7;
        let l = make_loop(cfg, &s);
        let err = ingest(&l, "{\"my.metric\"} 1\n", 1);
        assert!(matches!(err, Err(ScrapeError::InvalidLabels(_))), "{err:?}");
        assert!(ingest(&l, "ok_metric 1\n", 2).is_ok());
        assert_eq!(
            samples(&s, "scrape_sample_limit")[0].1,
            vec![(1, 7.0), (2, 7.0)]
        );
        assert_eq!(samples(&s, "scrape_body_size_bytes")[0].1[1], (2, 12.0));
        assert_eq!(samples(&s, "scrape_timeout_seconds")[0].1[0], (1, 1.0));

        // The default UTF-8 scheme takes the same series.
        let s = MemStorage::new();
        let l = make_loop(PoolConfig::new("j"), &s);
        assert!(ingest(&l, "{\"my.metric\"} 1\n", 1).is_ok());
        assert!(samples(&s, "scrape_sample_limit").is_empty());
    }

    #[test]
    fn ignored_timestamps_are_tracked_for_staleness() {
        let s = MemStorage::new();
        let mut cfg = PoolConfig::new("j");
        cfg.honor_timestamps = false;
        let l = make_loop(cfg, &s);
        assert!(ingest(&l, "a 1 500\n", 1000).is_ok());
        assert!(ingest(&l, "", 2000).is_ok());
        let a = samples(&s, "a");
        assert_eq!(a[0].1[0], (1000, 1.0));
        assert!(a[0]
            .1
            .get(1)
            .is_some_and(|p| p.0 == 2000 && is_stale_nan(p.1)));
    }

    #[test]
    fn timestamps_snap_to_the_interval_grid() {
        let mut grid = None;
        let i = Duration::from_secs(15);
        assert_eq!(aligned_timestamp(&mut grid, 1_000, i), 1_000);
        assert_eq!(aligned_timestamp(&mut grid, 16_002, i), 16_000);
        assert_eq!(aligned_timestamp(&mut grid, 31_003, i), 31_003);
        // Two ticks skipped: the grid moves on in whole intervals.
        assert_eq!(aligned_timestamp(&mut grid, 76_001, i), 76_000);
        assert_eq!(aligned_timestamp(&mut grid, 90_999, i), 90_999);
        // A 100 ms interval allows only 1 ms.
        let mut grid = None;
        let i = Duration::from_millis(100);
        assert_eq!(aligned_timestamp(&mut grid, 0, i), 0);
        assert_eq!(aligned_timestamp(&mut grid, 102, i), 102);
        assert_eq!(aligned_timestamp(&mut grid, 201, i), 200);
    }

    #[test]
    fn track_timestamps_staleness() {
        let s = MemStorage::new();
        let mut cfg = PoolConfig::new("j");
        cfg.track_timestamps_staleness = true;
        let l = make_loop(cfg, &s);
        assert!(ingest(&l, "a 1 500\n", 1000).is_ok());
        assert!(ingest(&l, "", 2000).is_ok());
        let a = samples(&s, "a");
        assert_eq!(a[0].1.len(), 2);
        assert!(is_stale_nan(a[0].1[1].1));
    }

    #[test]
    fn explicit_timestamps_and_metadata() {
        let s = MemStorage::new();
        let l = make_loop(PoolConfig::new("j"), &s);
        let text = "# HELP a The a.\n# TYPE a counter\na 1 500\n";
        assert!(ingest(&l, text, 1000).is_ok());
        assert!(ingest(&l, "", 2000).is_ok());
        // The explicit timestamp is kept and the series gets no stale marker.
        assert_eq!(samples(&s, "a")[0].1, vec![(500, 1.0)]);
        let md = l.metadata();
        assert_eq!(md.len(), 1);
        assert_eq!(md[0].1.metric_type, MetricType::Counter);
        assert_eq!(md[0].1.help, "The a.");
    }

    /// A `MemStorage` whose references all become unknown on `forget`, as
    /// head series do when garbage-collected; counts appends that had to go
    /// by labels.
    #[derive(Clone)]
    struct ForgetfulStorage {
        inner: MemStorage,
        epoch: Arc<std::sync::atomic::AtomicU64>,
        by_labels: Arc<std::sync::atomic::AtomicUsize>,
    }

    const EPOCH: u64 = 1 << 32;

    impl ForgetfulStorage {
        fn forget(&self) {
            self.epoch.fetch_add(1, Ordering::Relaxed);
        }
        fn take_by_labels(&self) -> usize {
            self.by_labels.swap(0, Ordering::Relaxed)
        }
    }

    struct ForgetfulAppender {
        s: ForgetfulStorage,
        inner: Box<dyn Appender>,
    }

    impl Appendable for ForgetfulStorage {
        fn appender(&self) -> Box<dyn Appender> {
            Box::new(ForgetfulAppender {
                s: self.clone(),
                inner: self.inner.appender(),
            })
        }
    }

    impl Appender for ForgetfulAppender {
        fn append(
            &mut self,
            r: SeriesRef,
            labels: &Labels,
            t: i64,
            v: f64,
        ) -> Result<SeriesRef, StorageError> {
            let epoch = self.s.epoch.load(Ordering::Relaxed);
            let inner_ref = if r != 0 && r / EPOCH == epoch {
                r % EPOCH
            } else if labels.is_empty() {
                return Err(StorageError::InvalidLabels("unknown ref".into()));
            } else {
                self.s.by_labels.fetch_add(1, Ordering::Relaxed);
                0
            };
            let got = self.inner.append(inner_ref, labels, t, v)?;
            Ok(epoch * EPOCH + got)
        }
        fn commit(self: Box<Self>) -> Result<(), StorageError> {
            self.inner.commit()
        }
        fn rollback(self: Box<Self>) -> Result<(), StorageError> {
            self.inner.rollback()
        }
    }

    #[test]
    fn lost_refs_rebuild_labels_from_the_raw_series() {
        let s = ForgetfulStorage {
            inner: MemStorage::new(),
            epoch: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            by_labels: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        let l = make_loop_on(PoolConfig::new("j"), Arc::new(s.clone()));
        let body = "a{job=\"other\"} 1\nb 2\n";
        assert!(ingest(&l, body, 1000).is_ok());
        // Two new series and five report series.
        assert_eq!(s.take_by_labels(), 7);
        assert!(ingest(&l, body, 2000).is_ok());
        assert_eq!(s.take_by_labels(), 0, "steady state goes by ref");

        s.forget();
        let st = ingest(&l, "a{job=\"other\"} 3\n", 3000);
        assert_eq!(st.map(|st| st.series_added), Ok(0));
        // `a`, the stale marker of `b` and the report series.
        assert_eq!(s.take_by_labels(), 7);
        let a = samples(&s.inner, "a");
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(
            a[0].0,
            r#"{__name__="a", exported_job="other", instance="h:1", job="j"}"#
        );
        assert_eq!(a[0].1, vec![(1000, 1.0), (2000, 1.0), (3000, 3.0)]);
        let b = samples(&s.inner, "b");
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].1.len(), 3);
        assert!(b[0]
            .1
            .last()
            .is_some_and(|&(t, v)| t == 3000 && is_stale_nan(v)));

        // A failed scrape marks `a` stale, again by rebuilt labels.
        s.forget();
        let failed = l.ingest(
            Err(ScrapeError::Storage("down".into())),
            4000,
            Duration::from_millis(5),
        );
        assert!(failed.is_err());
        let a = samples(&s.inner, "a");
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0]
            .1
            .last()
            .is_some_and(|&(t, v)| t == 4000 && is_stale_nan(v)));
    }

    #[test]
    fn a_slightly_late_worker_stamps_the_due_time() {
        let up = |late_ms: u64| {
            let s = MemStorage::new();
            let l = make_loop(PoolConfig::new("j"), &s);
            l.set_forced_error(Some(ScrapeError::Http("refused".into())));
            let before = crate::model::value::now_millis();
            let due = Instant::now()
                .checked_sub(Duration::from_millis(late_ms))
                .unwrap_or_else(Instant::now);
            l.run_due(due);
            let after = crate::model::value::now_millis();
            let ups = samples(&s, "up");
            assert_eq!(ups[0].1.len(), 1);
            (before, ups[0].1[0].0, after)
        };
        // 1 s interval: up to 10 ms late is stamped as on time.
        let (before, t, after) = up(8);
        assert!(t >= before - 9 && t <= after - 7, "{before} {t} {after}");
        // Later than that, the real start time is kept.
        let (before, t, after) = up(500);
        assert!(t >= before && t <= after, "{before} {t} {after}");
    }
}
