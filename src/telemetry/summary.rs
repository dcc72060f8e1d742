//! Summaries as client_golang builds them: `_sum` and `_count` over the
//! process's whole life, and quantile estimates over a sliding window of
//! `max_age` made of `age_buckets` CKMS streams ([`super::quantile`]).
//!
//! Every observation goes into every stream; the stream that has lived
//! longest (the "head") answers queries and is reset when its age bucket
//! expires, so the window slides in steps of `max_age / age_buckets`.
//! Observations are first collected in a small buffer, sorted once and
//! merged into all streams when the buffer is full, when its time slot ends
//! or when the summary is rendered; an observation is therefore one lock,
//! one clock read and one push. This module owns no thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::quantile::{Objective, TargetedStream};

/// client_golang's `DefMaxAge`: the window quantiles are computed over.
pub const DEF_MAX_AGE: Duration = Duration::from_secs(600);
/// client_golang's `DefAgeBuckets`: streams the window slides across.
pub const DEF_AGE_BUCKETS: u32 = 5;
/// client_golang's `DefBufCap`: observations buffered before a merge.
pub const DEF_BUF_CAP: usize = 500;

/// Objectives of most upstream latency summaries (engine, rules, notifier,
/// service discovery): median, 90th and 99th percentile.
pub const LATENCY_OBJECTIVES: &[(f64, f64)] = &[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)];

/// Objectives of upstream's interval summaries (scrape intervals, scrape
/// pool syncs, rule group durations): the 1st to the 99th percentile.
pub const INTERVAL_OBJECTIVES: &[(f64, f64)] = &[
    (0.01, 0.001),
    (0.05, 0.005),
    (0.5, 0.05),
    (0.9, 0.01),
    (0.99, 0.001),
];

/// Where a summary reads the time; tests substitute a [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    base: Instant,
    offset_nanos: AtomicU64,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            base: Instant::now(),
            offset_nanos: AtomicU64::new(0),
        }
    }

    pub fn advance(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_nanos.load(Ordering::Relaxed))
    }
}

/// How a summary is built: client_golang's `SummaryOpts` without the names.
#[derive(Clone)]
pub struct SummaryOpts {
    /// `(quantile, allowed rank error)` pairs; quantiles outside `[0, 1]`
    /// and errors outside `[0, 1)` are dropped when the summary is built.
    pub objectives: Vec<(f64, f64)>,
    pub max_age: Duration,
    pub age_buckets: u32,
    pub buf_cap: usize,
    pub clock: Arc<dyn Clock>,
}

impl SummaryOpts {
    /// Upstream's defaults (10 minutes, 5 age buckets) with these objectives.
    pub fn new(objectives: &[(f64, f64)]) -> SummaryOpts {
        SummaryOpts {
            objectives: objectives.to_vec(),
            max_age: DEF_MAX_AGE,
            age_buckets: DEF_AGE_BUCKETS,
            buf_cap: DEF_BUF_CAP,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> SummaryOpts {
        self.clock = clock;
        self
    }
}

impl std::fmt::Debug for SummaryOpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryOpts")
            .field("objectives", &self.objectives)
            .field("max_age", &self.max_age)
            .field("age_buckets", &self.age_buckets)
            .field("buf_cap", &self.buf_cap)
            .finish_non_exhaustive()
    }
}

/// What a summary shows at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct SummarySnapshot {
    /// `(quantile, estimate)`, quantiles ascending; NaN estimates when no
    /// observation falls in the window.
    pub quantiles: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: u64,
}

struct SummaryState {
    buf: Vec<f64>,
    /// When the buffer's time slot ends and it must be merged, so values
    /// reach the streams before the stream they belong to is rotated out.
    buf_expires: Instant,
    streams: Vec<TargetedStream>,
    head: usize,
    head_expires: Instant,
    sum: f64,
    count: u64,
}

struct SummaryCore {
    quantiles: Vec<f64>,
    stream_duration: Duration,
    buf_cap: usize,
    clock: Arc<dyn Clock>,
    state: Mutex<SummaryState>,
}

/// A summary: quantiles over a sliding window, sum and count over all time.
/// Clones share the same data.
#[derive(Clone)]
pub struct Summary(Arc<SummaryCore>);

impl std::fmt::Debug for Summary {
    // Only what is cheap to read: formatting must not merge the buffer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Summary")
            .field("quantiles", &self.0.quantiles)
            .field("sum", &st.sum)
            .field("count", &st.count)
            .finish()
    }
}

impl Summary {
    pub fn new(opts: &SummaryOpts) -> Summary {
        let mut objectives: Vec<Objective> = opts
            .objectives
            .iter()
            .filter(|(q, e)| (0.0..=1.0).contains(q) && (0.0..1.0).contains(e))
            .map(|&(quantile, error)| Objective { quantile, error })
            .collect();
        objectives.sort_by(|a, b| a.quantile.total_cmp(&b.quantile));
        objectives.dedup_by(|a, b| a.quantile == b.quantile);
        let buckets = opts.age_buckets.max(1);
        let stream_duration = (opts.max_age / buckets).max(Duration::from_millis(1));
        let now = opts.clock.now();
        let buf_cap = opts.buf_cap.max(1);
        Summary(Arc::new(SummaryCore {
            quantiles: objectives.iter().map(|o| o.quantile).collect(),
            stream_duration,
            buf_cap,
            clock: opts.clock.clone(),
            state: Mutex::new(SummaryState {
                buf: Vec::with_capacity(buf_cap),
                buf_expires: now + stream_duration,
                streams: (0..buckets)
                    .map(|_| TargetedStream::new(&objectives, buf_cap))
                    .collect(),
                head: 0,
                head_expires: now + stream_duration,
                sum: 0.0,
                count: 0,
            }),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, SummaryState> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let core = &self.0;
        let now = core.clock.now();
        let mut st = self.lock();
        if now > st.buf_expires {
            st.flush(now, core.stream_duration);
        }
        st.buf.push(v);
        st.sum += v;
        st.count += 1;
        if st.buf.len() >= core.buf_cap {
            st.flush(now, core.stream_duration);
        }
    }

    /// Records the seconds elapsed since `start`.
    pub fn observe_since(&self, start: Instant) {
        self.observe(start.elapsed().as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.lock().count
    }

    pub fn sum(&self) -> f64 {
        self.lock().sum
    }

    /// Merges what is buffered and reads the quantiles, sum and count.
    pub fn snapshot(&self) -> SummarySnapshot {
        let core = &self.0;
        let now = core.clock.now();
        let mut st = self.lock();
        st.flush(now, core.stream_duration);
        let head = st.head;
        let mut head = st.streams.get_mut(head);
        let quantiles = core
            .quantiles
            .iter()
            .map(|&q| (q, head.as_mut().map_or(f64::NAN, |s| s.query(q))))
            .collect();
        SummarySnapshot {
            quantiles,
            sum: st.sum,
            count: st.count,
        }
    }
}

impl SummaryState {
    /// Merges the buffer into every stream, then rotates out the streams
    /// whose age bucket has ended.
    fn flush(&mut self, now: Instant, stream_duration: Duration) {
        if !self.buf.is_empty() {
            self.buf.sort_by(f64::total_cmp);
            for s in &mut self.streams {
                s.insert_sorted(&self.buf);
            }
            self.buf.clear();
        }
        if now > self.buf_expires {
            self.buf_expires += skip_to_after(now, self.buf_expires, stream_duration);
        }
        // Bounded: after a long pause every stream is reset once and the
        // expiry jumps ahead instead of looping once per missed bucket.
        let mut rotations = 0;
        while now >= self.head_expires {
            if rotations < self.streams.len() {
                if let Some(s) = self.streams.get_mut(self.head) {
                    s.reset();
                }
                self.head = (self.head + 1) % self.streams.len().max(1);
                rotations += 1;
                self.head_expires += stream_duration;
            } else {
                self.head_expires += skip_to_after(now, self.head_expires, stream_duration);
            }
        }
    }
}

/// The whole number of `step`s that moves `expires` (<= `now`) past `now`,
/// computed at once so a long pause costs no loop.
fn skip_to_after(now: Instant, expires: Instant, step: Duration) -> Duration {
    let behind = now.duration_since(expires);
    let steps = behind.as_nanos() / step.as_nanos().max(1) + 1;
    step.saturating_mul(u32::try_from(steps).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::quantile::tests::Rng;

    fn manual(objectives: &[(f64, f64)]) -> (Summary, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let s = Summary::new(&SummaryOpts::new(objectives).with_clock(clock.clone()));
        (s, clock)
    }

    fn quantile(s: &Summary, q: f64) -> f64 {
        s.snapshot()
            .quantiles
            .iter()
            .find(|(k, _)| *k == q)
            .map_or(f64::NAN, |(_, v)| *v)
    }

    #[test]
    fn empty_window_is_nan_with_zero_sum_and_count() {
        let (s, _) = manual(LATENCY_OBJECTIVES);
        let snap = s.snapshot();
        assert_eq!(snap.count, 0);
        assert_eq!(snap.sum, 0.0);
        assert_eq!(
            snap.quantiles.iter().map(|q| q.0).collect::<Vec<_>>(),
            vec![0.5, 0.9, 0.99]
        );
        assert!(snap.quantiles.iter().all(|(_, v)| v.is_nan()));
    }

    #[test]
    fn random_data_within_objectives() {
        let (s, _) = manual(INTERVAL_OBJECTIVES);
        let mut rng = Rng::new(99);
        let mut values: Vec<f64> = (0..30_000).map(|_| rng.next_f64() * 10.0).collect();
        for v in &values {
            s.observe(*v);
        }
        values.sort_by(f64::total_cmp);
        let n = values.len() as f64;
        for &(q, e) in INTERVAL_OBJECTIVES {
            let got = quantile(&s, q);
            let rank = values.partition_point(|v| *v < got) as f64;
            assert!(
                (rank - q * n).abs() <= e * n + 1.0,
                "q={q}: estimate {got} has rank {rank}, want {} ± {}",
                q * n,
                e * n
            );
        }
        let snap = s.snapshot();
        assert_eq!(snap.count, 30_000);
        let want: f64 = values.iter().sum();
        assert!(
            (snap.sum - want).abs() < 1e-6 * want,
            "{} vs {want}",
            snap.sum
        );
    }

    #[test]
    fn window_slides_and_expires() {
        let (s, clock) = manual(LATENCY_OBJECTIVES);
        for _ in 0..100 {
            s.observe(1.0);
        }
        assert_eq!(quantile(&s, 0.5), 1.0);
        // Half the window later, newer values join the same window.
        clock.advance(Duration::from_secs(300));
        for _ in 0..300 {
            s.observe(5.0);
        }
        assert_eq!(quantile(&s, 0.5), 5.0);
        // Once the first values are older than max_age they no longer count.
        clock.advance(Duration::from_secs(301));
        assert_eq!(quantile(&s, 0.5), 5.0);
        // The whole window empty: NaN quantiles, sum and count stay.
        clock.advance(Duration::from_secs(600));
        let snap = s.snapshot();
        assert!(snap.quantiles.iter().all(|(_, v)| v.is_nan()), "{snap:?}");
        assert_eq!(snap.count, 400);
        assert_eq!(snap.sum, 1600.0);
    }

    #[test]
    fn old_values_leave_the_window() {
        let (s, clock) = manual(LATENCY_OBJECTIVES);
        for _ in 0..10 {
            s.observe(100.0);
        }
        clock.advance(Duration::from_secs(9 * 60));
        for _ in 0..10 {
            s.observe(1.0);
        }
        // Both still in the 10-minute window: the 99th percentile is high.
        assert_eq!(quantile(&s, 0.99), 100.0);
        clock.advance(Duration::from_secs(2 * 60 + 1));
        // The high values are older than max_age now.
        assert_eq!(quantile(&s, 0.99), 1.0);
    }

    #[test]
    fn buffered_values_expire_with_their_bucket() {
        // Values observed then left in the buffer past several buckets must
        // still be merged before the streams rotate, so they count toward
        // the window they were observed in and then leave it.
        let (s, clock) = manual(LATENCY_OBJECTIVES);
        s.observe(3.0);
        clock.advance(Duration::from_secs(11 * 60));
        s.observe(4.0);
        assert_eq!(quantile(&s, 0.5), 4.0);
    }

    #[test]
    fn long_pause_does_not_spin() {
        let (s, clock) = manual(LATENCY_OBJECTIVES);
        s.observe(1.0);
        clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
        s.observe(2.0);
        assert_eq!(quantile(&s, 0.5), 2.0);
        assert_eq!(s.count(), 2);
    }

    #[test]
    fn concurrent_observations_all_counted() {
        let s = Summary::new(&SummaryOpts::new(LATENCY_OBJECTIVES));
        let threads: u32 = 8;
        let per: u32 = 5_000;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let s = s.clone();
                scope.spawn(move || {
                    for i in 0..per {
                        s.observe(f64::from(t * per + i));
                    }
                });
            }
        });
        let snap = s.snapshot();
        let n = u64::from(threads * per);
        assert_eq!(snap.count, n);
        let want = (n * (n - 1) / 2) as f64;
        assert_eq!(snap.sum, want);
        // The values are 0..n, so the median's rank is its value.
        let median = snap.quantiles.iter().find(|q| q.0 == 0.5).map(|q| q.1);
        let median = median.unwrap_or(f64::NAN);
        assert!(
            (median - n as f64 / 2.0).abs() <= 0.05 * n as f64 + 1.0,
            "median {median}"
        );
    }

    #[test]
    fn bad_objectives_are_dropped() {
        let (s, _) = manual(&[(1.5, 0.1), (0.5, 0.05), (0.5, 0.01), (0.9, -1.0)]);
        let qs: Vec<f64> = s.snapshot().quantiles.iter().map(|q| q.0).collect();
        assert_eq!(qs, vec![0.5]);
    }
}
