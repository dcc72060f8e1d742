//! The `ScrapeManager` actor (upstream's `scrape.Manager`): one `ScrapePool`
//! per job, a scheduler thread that knows every target's next due time, and a
//! bounded pool of worker threads that run the scrapes. 1,000 targets are
//! 1,000 heap entries, not 1,000 threads.
//!
//! Invariants: a target is never scraped twice at once (its `in_flight` flag
//! is set by the scheduler and cleared by the worker); a reload replaces only
//! pools whose config changed, so unchanged targets keep their loops, caches
//! and in-flight scrapes; a panicking scrape is caught and counted and the
//! worker goes on.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};

use super::api::GlobalUrlOptions;
use super::config::PoolConfig;
use super::metrics::ScrapeMetrics;
use super::pool::{ScrapePool, SyncResult};
use super::scrape_loop::ScrapeLoop;
use super::ScrapeError;
use crate::discovery::TargetSets;
use crate::model::value::now_millis;
use crate::run_group::panic_message;
use crate::storage::Appendable;
use crate::telemetry;

/// Manager settings.
#[derive(Clone, Debug)]
pub struct ScrapeOptions {
    /// Worker threads running scrapes (`--scrape.workers`).
    pub workers: usize,
    /// Mixed into each target's offset so servers scraping the same
    /// targets spread differently (upstream seeds with external labels and
    /// hostname).
    pub offset_seed: u64,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            workers: default_workers(),
            offset_seed: 0,
        }
    }
}

/// Twice the CPU count, at least 4: scrapes mostly wait on the network.
pub fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).max(4)
}

enum Work {
    /// A scrape and the instant the scheduler had it due.
    Scrape(Arc<ScrapeLoop>, Instant),
    /// End-of-run staleness for a vanished target, off the manager thread
    /// because it waits for the target's in-flight scrape.
    End(Arc<ScrapeLoop>),
}

/// Runs scrape pools (see the module comment).
pub struct ScrapeManager {
    storage: Arc<dyn Appendable>,
    opts: ScrapeOptions,
    metrics: Arc<ScrapeMetrics>,
    pools: Mutex<BTreeMap<String, Arc<ScrapePool>>>,
    last_sets: Mutex<TargetSets>,
    /// Held for a whole `apply_config` or `sync`, so a pool rebuilt by a
    /// reload always starts from the newest target sets.
    update: Mutex<()>,
    sched_tx: Sender<Arc<ScrapeLoop>>,
    sched_rx: Receiver<Arc<ScrapeLoop>>,
    work_tx: Sender<Work>,
    work_rx: Receiver<Work>,
    stop_tx: Sender<()>,
    stop_rx: Receiver<()>,
    /// For the targets API's `globalUrl`; set once by the server.
    global_url: std::sync::OnceLock<GlobalUrlOptions>,
}

impl ScrapeManager {
    /// A manager registering its metrics in the process registry.
    pub fn new(storage: Arc<dyn Appendable>, opts: ScrapeOptions) -> ScrapeManager {
        ScrapeManager::with_registry(storage, opts, telemetry::global())
    }

    /// A manager registering its metrics in `registry` (tests use their own).
    pub fn with_registry(
        storage: Arc<dyn Appendable>,
        opts: ScrapeOptions,
        registry: &telemetry::Registry,
    ) -> ScrapeManager {
        let (sched_tx, sched_rx) = unbounded();
        let queue = (opts.workers.max(1) * 64).max(1024);
        let (work_tx, work_rx) = bounded(queue);
        let (stop_tx, stop_rx) = bounded(1);
        ScrapeManager {
            storage,
            metrics: Arc::new(ScrapeMetrics::new(registry)),
            opts,
            pools: Mutex::new(BTreeMap::new()),
            last_sets: Mutex::new(TargetSets::new()),
            update: Mutex::new(()),
            sched_tx,
            sched_rx,
            work_tx,
            work_rx,
            stop_tx,
            stop_rx,
            global_url: std::sync::OnceLock::new(),
        }
    }

    /// Tells the targets API how this server is reached from elsewhere
    /// (upstream's `GlobalURLOptions`); only the first call counts.
    pub fn set_global_url_options(&self, opts: GlobalUrlOptions) {
        let _ = self.global_url.set(opts);
    }

    pub(crate) fn global_url_options(&self) -> Option<&GlobalUrlOptions> {
        self.global_url.get()
    }

    fn pools(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<ScrapePool>>> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the set of pools. Unchanged pools are kept as they are;
    /// changed ones are rebuilt and re-synced with the last target sets
    /// (each target keeping its series cache when the change cannot alter
    /// series labels, as upstream's `reusableCache`); removed ones end with
    /// stale markers for all their series.
    pub fn apply_config(&self, configs: Vec<PoolConfig>) -> Result<(), ScrapeError> {
        let _update = self.update.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_job: HashMap<String, PoolConfig> = HashMap::new();
        for c in configs {
            if by_job.contains_key(&c.job_name) {
                self.metrics.pool_reloads_failed.inc();
                return Err(ScrapeError::Config(format!(
                    "found multiple scrape configs with job name {:?}",
                    c.job_name
                )));
            }
            by_job.insert(c.job_name.clone(), c);
        }
        let last_sets = self
            .last_sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut to_end = Vec::new();
        let mut to_replace = Vec::new();
        let mut rebuilt = Vec::new();
        {
            let mut pools = self.pools();
            pools.retain(|job, pool| {
                if by_job.contains_key(job) {
                    return true;
                }
                to_end.extend(pool.take_loops());
                false
            });
            for (job, cfg) in by_job {
                let mut inherit = Vec::new();
                match pools.get(&job) {
                    Some(p) if *p.cfg == cfg => continue,
                    Some(p) => {
                        self.metrics.pool_reloads.inc();
                        if p.cfg.cache_compatible(&cfg) {
                            inherit = p.take_loops();
                        } else {
                            to_replace.extend(p.take_loops());
                        }
                    }
                    None => self.metrics.pools_total.inc(),
                }
                let pool = Arc::new(ScrapePool::new(
                    cfg,
                    self.storage.clone(),
                    self.metrics.clone(),
                ));
                pools.insert(job.clone(), pool.clone());
                rebuilt.push((job, pool, inherit));
            }
        }
        for l in to_replace {
            // The new pool's loop takes over the target; no stale markers,
            // or every reload would punch a hole into each series.
            l.stopped.store(true, Ordering::Release);
        }
        // Outside the pools lock: taking over a loop's cache waits for its
        // in-flight scrape, and the API must not wait with it.
        let mut started = Vec::new();
        for (job, pool, inherit) in rebuilt {
            match last_sets.get(&job) {
                Some(groups) => {
                    let r = pool.sync_inheriting(groups, inherit);
                    started.extend(r.started);
                    to_end.extend(r.stopped);
                }
                None => to_end.extend(inherit),
            }
        }
        self.dispatch(SyncResult {
            started,
            stopped: to_end,
        });
        Ok(())
    }

    fn dispatch(&self, r: SyncResult) {
        for l in r.started {
            let _ = self.sched_tx.send(l);
        }
        for l in r.stopped {
            l.stopped.store(true, Ordering::Release);
            if let Err(e) = self.work_tx.try_send(Work::End(l)) {
                // Queue full: write the markers here rather than lose them.
                if let Work::End(l) = e.into_inner() {
                    l.end(now_millis());
                }
            }
        }
    }

    /// Applies a full set of target groups from discovery.
    pub fn sync(&self, sets: TargetSets) {
        let _update = self.update.lock().unwrap_or_else(|e| e.into_inner());
        let pools = self.pools().clone();
        for (job, groups) in &sets {
            match pools.get(job) {
                Some(pool) => self.dispatch(pool.sync(groups)),
                None => log::debug!("scrape: target set for unknown job {job:?} ignored"),
            }
        }
        *self.last_sets.lock().unwrap_or_else(|e| e.into_inner()) = sets;
    }

    /// Blocks running the scheduler and workers, applying target sets from
    /// `target_sets`, until `stop` is called. Shutdown writes no stale
    /// markers, as upstream: the series are still alive, the server is not.
    pub fn run(&self, target_sets: Receiver<TargetSets>) {
        // Dropping `done_tx` tells the scheduler and workers to exit.
        let (done_tx, done_rx) = bounded::<()>(0);
        std::thread::scope(|s| {
            for i in 0..self.opts.workers.max(1) {
                let done = done_rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("scrape-worker-{i}"))
                    .spawn_scoped(s, move || self.worker(done));
                if let Err(e) = spawned {
                    log::error!("scrape: cannot start worker {i}: {e}");
                }
            }
            let done = done_rx.clone();
            if let Err(e) = std::thread::Builder::new()
                .name("scrape-scheduler".to_string())
                .spawn_scoped(s, move || self.scheduler(done))
            {
                log::error!("scrape: cannot start the scheduler: {e}");
                return;
            }
            let mut sets_open = true;
            loop {
                if sets_open {
                    select! {
                        recv(self.stop_rx) -> _ => break,
                        recv(target_sets) -> m => match m {
                            Ok(sets) => self.sync(sets),
                            Err(_) => sets_open = false,
                        },
                    }
                } else {
                    // Discovery is gone; keep scraping what we have until stopped.
                    let _ = self.stop_rx.recv();
                    break;
                }
            }
            drop(done_tx);
            for pool in self.pools().values() {
                for l in pool.active() {
                    l.stopped.store(true, Ordering::Release);
                }
            }
        });
    }

    /// Makes `run` return after in-flight scrapes finish.
    pub fn stop(&self) {
        let _ = self.stop_tx.try_send(());
    }

    fn worker(&self, done: Receiver<()>) {
        loop {
            let work = select! {
                recv(self.work_rx) -> w => match w { Ok(w) => w, Err(_) => return },
                recv(done) -> _ => return,
            };
            let (l, due) = match work {
                Work::Scrape(l, due) => (l, Some(due)),
                Work::End(l) => (l, None),
            };
            let end = due.is_none();
            let r = catch_unwind(AssertUnwindSafe(|| match due {
                Some(due) => l.run_due(due),
                None => l.end(now_millis()),
            }));
            if let Err(p) = r {
                self.metrics.worker_panics.inc();
                log::error!(
                    "scrape of {} panicked: {}",
                    l.target.url(),
                    panic_message(p.as_ref())
                );
            }
            if !end {
                l.in_flight.store(false, Ordering::Release);
            }
        }
    }

    fn scheduler(&self, done: Receiver<()>) {
        let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
        let mut loops: HashMap<u64, Arc<ScrapeLoop>> = HashMap::new();
        loop {
            let now = Instant::now();
            let wait = heap
                .peek()
                .map_or(Duration::from_secs(1), |Reverse((due, _))| {
                    due.saturating_duration_since(now)
                });
            select! {
                recv(self.sched_rx) -> m => {
                    let Ok(l) = m else { return };
                    let due = Instant::now() + first_delay(&l, self.opts.offset_seed);
                    heap.push(Reverse((due, l.id)));
                    loops.insert(l.id, l);
                }
                recv(done) -> _ => return,
                default(wait) => {}
            }
            let now = Instant::now();
            while let Some(&Reverse((due, id))) = heap.peek() {
                if due > now {
                    break;
                }
                heap.pop();
                let Some(l) = loops.get(&id) else { continue };
                if l.stopped.load(Ordering::Acquire) {
                    loops.remove(&id);
                    continue;
                }
                if l.in_flight.swap(true, Ordering::AcqRel) {
                    // Still running from last time: skip this slot rather
                    // than start the same target twice.
                    self.metrics.scrapes_skipped.inc();
                } else if self.work_tx.try_send(Work::Scrape(l.clone(), due)).is_err() {
                    l.in_flight.store(false, Ordering::Release);
                    self.metrics.scrapes_skipped.inc();
                }
                let interval = l.target.interval.max(Duration::from_millis(1));
                let mut next = due + interval;
                while next <= now {
                    next += interval;
                }
                heap.push(Reverse((next, id)));
            }
        }
    }

    /// The pools, by job name.
    pub fn pools_snapshot(&self) -> BTreeMap<String, Arc<ScrapePool>> {
        self.pools().clone()
    }
}

/// Time until the target's first scrape: the next instant whose position
/// inside the interval equals the target's offset.
fn first_delay(l: &ScrapeLoop, seed: u64) -> Duration {
    let interval = l.target.interval.as_millis().max(1) as i64;
    let offset = l.target.offset(seed) as i64;
    let delay = (offset - now_millis().rem_euclid(interval)).rem_euclid(interval);
    Duration::from_millis(delay as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::TargetGroup;
    use crate::model::{Labels, MatchType, Matcher};
    use crate::scrape::scraper::ScrapeResponse;
    use crate::storage::memory::MemStorage;
    use crate::storage::Appender;
    use crate::storage::Queryable;
    use std::sync::atomic::AtomicUsize;

    /// Storage that panics or stalls when asked for an appender.
    struct TrickyStorage {
        inner: MemStorage,
        panics_left: AtomicUsize,
        delay: Duration,
        appenders: AtomicUsize,
    }

    impl Appendable for TrickyStorage {
        fn appender(&self) -> Box<dyn Appender> {
            self.appenders.fetch_add(1, Ordering::SeqCst);
            if self
                .panics_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                panic!("injected appender panic");
            }
            std::thread::sleep(self.delay);
            self.inner.appender()
        }
    }

    /// Runs a manager with one unreachable target (connection refused, so
    /// every scrape is fast and still appends `up`) for `run_for`.
    fn run_manager(
        storage: Arc<TrickyStorage>,
        interval: Duration,
        run_until: impl Fn(&ScrapeMetrics) -> bool,
    ) -> ScrapeMetrics {
        let reg = telemetry::Registry::new();
        let mgr = Arc::new(ScrapeManager::with_registry(
            storage,
            ScrapeOptions {
                workers: 1,
                offset_seed: 0,
            },
            &reg,
        ));
        let mut cfg = PoolConfig::new("t");
        cfg.scrape_interval = interval;
        cfg.scrape_timeout = interval;
        if let Err(e) = mgr.apply_config(vec![cfg]) {
            panic!("{e}");
        }
        let (tx, rx) = bounded(1);
        let _ = tx.send(TargetSets::from([(
            "t".to_string(),
            vec![TargetGroup {
                source: "0".into(),
                targets: vec![Labels::from_pairs(&[("__address__", "127.0.0.1:1")])],
                labels: Labels::empty(),
            }],
        )]));
        let runner = {
            let mgr = mgr.clone();
            std::thread::spawn(move || mgr.run(rx))
        };
        // Wait for the condition, bounded, not a fixed time: under load (or
        // with RUST_BACKTRACE printing each panic) progress is slow.
        let metrics = ScrapeMetrics::new(&reg);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !run_until(&metrics) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        mgr.stop();
        if runner.join().is_err() {
            panic!("manager thread panicked");
        }
        ScrapeMetrics::new(&reg)
    }

    #[test]
    fn reload_keeps_unchanged_pools() {
        let reg = telemetry::Registry::new();
        let storage = MemStorage::new();
        let mgr =
            ScrapeManager::with_registry(Arc::new(storage.clone()), ScrapeOptions::default(), &reg);
        let x_points = |instance: &str| -> Vec<(i64, f64)> {
            let q = storage
                .querier(i64::MIN, i64::MAX)
                .unwrap_or_else(|e| panic!("{e}"));
            let ms = [
                Matcher::new(MatchType::Equal, "__name__", "x").unwrap_or_else(|e| panic!("{e}")),
                Matcher::new(MatchType::Equal, "instance", instance)
                    .unwrap_or_else(|e| panic!("{e}")),
            ];
            let mut out = Vec::new();
            for series in q.select(false, None, &ms).unwrap_or_else(|e| panic!("{e}")) {
                let series = series.unwrap_or_else(|e| panic!("{e}"));
                let mut it = series.iterator();
                while let Some(p) = it.next() {
                    out.push(p);
                }
            }
            out
        };
        let body = |text: &str| ScrapeResponse {
            content_type: "text/plain".into(),
            body: text.as_bytes().to_vec(),
        };
        let cfg = |job: &str, secs: u64| {
            let mut c = PoolConfig::new(job);
            c.scrape_interval = Duration::from_secs(secs);
            c.scrape_timeout = Duration::from_secs(1);
            c
        };
        let group = |addr: &str| {
            vec![TargetGroup {
                source: "0".into(),
                targets: vec![Labels::from_pairs(&[("__address__", addr)])],
                labels: Labels::empty(),
            }]
        };
        let loop_of = |job: &str| {
            mgr.pools_snapshot()
                .get(job)
                .and_then(|p| p.active().into_iter().next())
                .unwrap_or_else(|| panic!("no loop for {job}"))
        };
        assert!(mgr
            .apply_config(vec![cfg("a", 10), cfg("b", 10), cfg("c", 10)])
            .is_ok());
        mgr.sync(TargetSets::from([
            ("a".to_string(), group("a:1")),
            ("b".to_string(), group("b:1")),
            ("c".to_string(), group("c:1")),
        ]));
        let (a, b, c) = (loop_of("a"), loop_of("b"), loop_of("c"));
        assert!(b.ingest(Ok(&body("x 1\n")), 1000, Duration::ZERO).is_ok());
        assert!(a.ingest(Ok(&body("x 1\n")), 1000, Duration::ZERO).is_ok());

        assert!(mgr.apply_config(vec![cfg("a", 10), cfg("b", 20)]).is_ok());
        assert!(Arc::ptr_eq(&a, &loop_of("a")), "unchanged pool was rebuilt");
        let b2 = loop_of("b");
        assert!(!Arc::ptr_eq(&b, &b2), "changed pool was kept");
        assert_eq!(b2.target.interval, Duration::from_secs(20));
        assert!(b.stopped.load(Ordering::Acquire));
        assert!(c.stopped.load(Ordering::Acquire));
        assert!(!mgr.pools_snapshot().contains_key("c"));
        assert!(!a.stopped.load(Ordering::Acquire));
        // Only the interval changed: b2 continues b's series, so a series
        // missing from its first scrape gets a stale marker.
        assert!(b2.ingest(Ok(&body("")), 2000, Duration::ZERO).is_ok());
        let pts = x_points("b:1");
        assert_eq!(pts.len(), 2, "{pts:?}");
        assert!(crate::model::is_stale_nan(pts[1].1));

        // honor_labels changes series labels: no cache carried over.
        let mut honoring = cfg("a", 10);
        honoring.honor_labels = true;
        assert!(mgr.apply_config(vec![honoring, cfg("b", 20)]).is_ok());
        let a2 = loop_of("a");
        assert!(a.stopped.load(Ordering::Acquire));
        assert!(a2.ingest(Ok(&body("")), 2000, Duration::ZERO).is_ok());
        assert_eq!(x_points("a:1").len(), 1);

        let dup = mgr.apply_config(vec![cfg("a", 10), cfg("a", 10)]);
        assert!(matches!(dup, Err(ScrapeError::Config(_))));
    }

    #[test]
    fn worker_survives_panics() {
        let storage = Arc::new(TrickyStorage {
            inner: MemStorage::new(),
            panics_left: AtomicUsize::new(2),
            delay: Duration::ZERO,
            appenders: AtomicUsize::new(0),
        });
        let probe = storage.clone();
        let m = run_manager(storage.clone(), Duration::from_millis(30), move |m| {
            m.worker_panics.get() >= 2.0 && probe.inner.num_series() >= 1
        });
        assert_eq!(m.worker_panics.get(), 2.0);
        // With one worker, scrapes after the panics prove it kept running.
        assert!(
            storage.inner.num_series() >= 1,
            "no up series after the panics"
        );
    }

    #[test]
    fn overrunning_scrape_is_not_started_twice() {
        let storage = Arc::new(TrickyStorage {
            inner: MemStorage::new(),
            panics_left: AtomicUsize::new(0),
            delay: Duration::from_millis(150),
            appenders: AtomicUsize::new(0),
        });
        let start = Instant::now();
        let m = run_manager(storage.clone(), Duration::from_millis(30), move |_| {
            start.elapsed() >= Duration::from_millis(600)
        });
        let scrapes = storage.appenders.load(Ordering::SeqCst);
        // About 600 ms of 150 ms scrapes: at most 5 ran (a sixth may start
        // just before stop); the other 30 ms slots were skipped.
        assert!((1..=6).contains(&scrapes), "{scrapes} scrapes");
        assert!(
            m.scrapes_skipped.get() >= 1.0,
            "skipped {}",
            m.scrapes_skipped.get()
        );
    }

    /// Threads of this process whose name starts with `prefix`.
    fn threads_named(prefix: &str) -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .filter(|name| name.starts_with(prefix))
            .count()
    }

    #[test]
    fn a_thousand_targets_run_on_the_worker_pool() {
        if std::fs::metadata("/proc/self/task").is_err() {
            eprintln!("skipping: no /proc/self/task to count threads");
            return;
        }
        let storage = MemStorage::new();
        let mgr = Arc::new(ScrapeManager::with_registry(
            Arc::new(storage.clone()),
            ScrapeOptions {
                workers: 2,
                offset_seed: 0,
            },
            &telemetry::Registry::new(),
        ));
        let mut cfg = PoolConfig::new("many");
        cfg.scrape_interval = Duration::from_secs(1);
        cfg.scrape_timeout = Duration::from_millis(500);
        assert!(mgr.apply_config(vec![cfg]).is_ok());
        // One refused address (fast failures), told apart by a label.
        let targets = (0..1000)
            .map(|i| Labels::from_pairs(&[("__address__", "127.0.0.1:1"), ("i", &i.to_string())]))
            .collect();
        let (tx, rx) = bounded(1);
        let _ = tx.send(TargetSets::from([(
            "many".to_string(),
            vec![TargetGroup {
                source: "0".into(),
                targets,
                labels: Labels::empty(),
            }],
        )]));
        let runner = {
            let mgr = mgr.clone();
            std::thread::spawn(move || mgr.run(rx))
        };
        let mut most = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while storage.num_series() < 1000 * 5 && Instant::now() < deadline {
            most = most.max(threads_named("scrape-"));
            std::thread::sleep(Duration::from_millis(20));
        }
        mgr.stop();
        if runner.join().is_err() {
            panic!("manager thread panicked");
        }
        // Every target reported its five series...
        assert!(
            storage.num_series() >= 5000,
            "{} series",
            storage.num_series()
        );
        // ...from 2 workers and the scheduler (other tests of this binary
        // may run a few scrape threads of their own at the same time).
        assert!(most <= 3 + 6, "{most} scrape threads for 1000 targets");
        assert!(most >= 3, "the thread count missed the pool: {most}");
    }
}
