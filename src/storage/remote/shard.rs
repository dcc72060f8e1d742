//! The sending side of a remote-write queue: `n` shard threads, each with a
//! bounded channel of `capacity` samples. A series always maps to the same
//! shard, so its samples are sent in WAL order. A shard sends a batch when it
//! holds `max_samples_per_send` samples or its oldest sample has waited
//! `batch_send_deadline`; recoverable failures are retried with exponential
//! backoff until they succeed or the queue is hard-stopped (flush deadline
//! passed), so an outage stalls the shards, the full channels stall the WAL
//! reader, and nothing is dropped that the WAL still holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use super::client::{backoff, HttpClient};
use super::codec::{encode_series_batch, labels_to_proto, snappy_compress, EncodedLabels};
use super::metrics::QueueMetrics;
use super::progress::ProgressTracker;
use super::prompb::{Sample, TimeSeries, WriteRequest};
use super::settings::QueueSettings;
use super::RemoteError;

/// A sample on its way to a shard, with the sequence number of the WAL
/// record it came from (for progress tracking).
#[derive(Clone, Debug)]
pub struct QueuedSample {
    pub labels: Arc<EncodedLabels>,
    pub t: i64,
    pub v: f64,
    pub seq: u64,
}

/// What the shards of one queue share.
pub struct ShardContext {
    pub remote_name: String,
    pub client: HttpClient,
    pub queue: QueueSettings,
    pub metrics: QueueMetrics,
    pub tracker: ProgressTracker,
    /// Set when the flush deadline has passed: abandon retries and queued data.
    pub hard_stop: AtomicBool,
    /// Samples delivered (for the shard calculation).
    pub samples_out: AtomicU64,
    /// Nanoseconds spent in send calls (for the shard calculation).
    pub send_nanos: AtomicU64,
    /// Newest sample timestamp delivered, in ms.
    pub highest_sent_ms: AtomicI64,
    /// Wall-clock ms of the last successful send.
    pub last_send_ok_ms: AtomicI64,
}

/// Running shard threads.
pub struct Shards {
    senders: Vec<Sender<QueuedSample>>,
    threads: Vec<JoinHandle<()>>,
    ctx: Arc<ShardContext>,
}

impl Shards {
    /// Starts `n` shard threads.
    pub fn start(n: usize, ctx: &Arc<ShardContext>) -> Result<Shards, RemoteError> {
        let n = n.max(1);
        let capacity = ctx.queue.capacity.max(1);
        let mut shards = Shards {
            senders: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            ctx: ctx.clone(),
        };
        for i in 0..n {
            let (tx, rx) = bounded(capacity);
            let c = ctx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("remote-shard-{i}"))
                .spawn(move || run_shard(&c, &rx))
                .map_err(|e| RemoteError::Io(format!("starting remote write shard: {e}")))?;
            shards.senders.push(tx);
            shards.threads.push(handle);
        }
        ctx.metrics.shards.set(n as f64);
        Ok(shards)
    }

    pub fn len(&self) -> usize {
        self.senders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Queues a sample on its series' shard, waiting at most `wait` for
    /// room. Gives the sample back when the shard stays full.
    pub fn enqueue(
        &self,
        series_ref: u64,
        sample: QueuedSample,
        wait: Duration,
    ) -> Result<(), QueuedSample> {
        let n = self.senders.len() as u64;
        let Some(tx) = self
            .senders
            .get((shard_hash(series_ref) % n.max(1)) as usize)
        else {
            return Err(sample);
        };
        match tx.send_timeout(sample, wait) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(s)) | Err(SendTimeoutError::Disconnected(s)) => Err(s),
        }
    }

    /// Closes the channels and waits until every shard has sent (or, after a
    /// hard stop, abandoned) what it holds.
    pub fn stop(self) {
        drop(self.senders);
        for t in self.threads {
            join_unless_hard_stopped(t, &self.ctx.hard_stop);
        }
    }
}

/// Joins `thread`, except that once `hard_stop` is set a thread still busy
/// is left behind: it may sit in a request to a receiver that accepted the
/// connection and never answers, for up to `remote_timeout`, and the flush
/// deadline must bound shutdown all the same (upstream cancels the request;
/// ureq cannot, so the thread ends on its own when the request times out,
/// its batch unmarked and thus resent after the restart).
pub fn join_unless_hard_stopped(thread: JoinHandle<()>, hard_stop: &AtomicBool) {
    while !thread.is_finished() {
        if hard_stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = thread.join();
}

/// Spreads series refs (often sequential) over shards.
fn shard_hash(series_ref: u64) -> u64 {
    series_ref.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17
}

fn run_shard(ctx: &ShardContext, rx: &Receiver<QueuedSample>) {
    let max = ctx.queue.max_samples_per_send.max(1);
    let mut batch: Vec<QueuedSample> = Vec::with_capacity(max);
    let mut deadline: Option<Instant> = None;
    let mut buf = Vec::new();
    loop {
        if ctx.hard_stop.load(Ordering::Relaxed) {
            return;
        }
        let got = match deadline {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_deadline(d),
        };
        match got {
            Ok(s) => {
                if batch.is_empty() {
                    deadline = Some(Instant::now() + ctx.queue.batch_send_deadline);
                }
                batch.push(s);
                if batch.len() >= max {
                    send_batch(ctx, &mut batch, &mut buf);
                    deadline = None;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                send_batch(ctx, &mut batch, &mut buf);
                deadline = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                send_batch(ctx, &mut batch, &mut buf);
                return;
            }
        }
    }
}

/// Groups a batch by series (first-seen order), each series' samples in
/// the order they were read.
fn group_by_series(batch: &[QueuedSample]) -> Vec<(&EncodedLabels, Vec<(i64, f64)>)> {
    let mut index: HashMap<*const EncodedLabels, usize> = HashMap::new();
    let mut groups: Vec<(&EncodedLabels, Vec<(i64, f64)>)> = Vec::new();
    for s in batch {
        let i = *index.entry(Arc::as_ptr(&s.labels)).or_insert_with(|| {
            groups.push((&*s.labels, Vec::new()));
            groups.len() - 1
        });
        if let Some(g) = groups.get_mut(i) {
            g.1.push((s.t, s.v));
        }
    }
    groups
}

/// Encodes a batch as a `WriteRequest` body (uncompressed) into `raw`: one
/// `TimeSeries` per series, its samples in read order.
pub fn encode_batch(batch: &[QueuedSample], raw: &mut Vec<u8>) {
    let groups = group_by_series(batch);
    encode_series_batch(groups.iter().map(|(l, s)| (*l, s.as_slice())), raw);
}

/// The same batch as a `WriteRequest` message (the reference the hand
/// encoder is checked against; also handy in tests).
pub fn build_write_request(batch: &[QueuedSample]) -> WriteRequest {
    let timeseries = group_by_series(batch)
        .into_iter()
        .map(|(labels, samples)| TimeSeries {
            labels: labels
                .decode()
                .map(|l| labels_to_proto(&l))
                .unwrap_or_default(),
            samples: samples
                .into_iter()
                .map(|(timestamp, value)| Sample { value, timestamp })
                .collect(),
            exemplars: Vec::new(),
        })
        .collect();
    WriteRequest {
        timeseries,
        metadata: Vec::new(),
    }
}

/// Sends `batch` (retrying recoverable errors) and clears it. Samples count
/// as finished for progress on success and on a final failure, never when
/// a hard stop abandons them: those are resent after a restart.
fn send_batch(ctx: &ShardContext, batch: &mut Vec<QueuedSample>, buf: &mut Vec<u8>) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len();
    encode_batch(batch, buf);
    let body = match snappy_compress(buf) {
        Ok(b) => b,
        Err(e) => {
            log::error!(
                "remote write {}: dropping {n} samples: {e}",
                ctx.remote_name
            );
            ctx.metrics.samples_failed_total.add(n as f64);
            finish(ctx, batch);
            return;
        }
    };
    let mut attempt: u32 = 0;
    loop {
        if ctx.hard_stop.load(Ordering::Relaxed) {
            batch.clear();
            return;
        }
        let start = Instant::now();
        let result = ctx.client.store(&body, ctx.queue.retry_on_http_429);
        let took = start.elapsed();
        ctx.send_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        ctx.metrics
            .sent_batch_duration_seconds
            .observe(took.as_secs_f64());
        match result {
            Ok(()) => {
                ctx.metrics.samples_total.add(n as f64);
                ctx.metrics.bytes_total.add(body.len() as f64);
                ctx.samples_out.fetch_add(n as u64, Ordering::Relaxed);
                let newest = batch.iter().map(|s| s.t).max().unwrap_or(i64::MIN);
                let prev = ctx.highest_sent_ms.fetch_max(newest, Ordering::Relaxed);
                ctx.metrics
                    .queue_highest_sent_timestamp_seconds
                    .set(prev.max(newest) as f64 / 1000.0);
                ctx.last_send_ok_ms
                    .store(crate::model::value::now_millis(), Ordering::Relaxed);
                finish(ctx, batch);
                return;
            }
            Err(e @ (RemoteError::Recoverable(_) | RemoteError::RetryAfter { .. })) => {
                ctx.metrics.samples_retried_total.add(n as f64);
                if attempt == 0 || attempt.is_power_of_two() {
                    log::warn!(
                        "remote write {}: failed to send batch, retrying (attempt {}): {e}",
                        ctx.remote_name,
                        attempt + 1
                    );
                }
                // The server's Retry-After wins over our backoff, as upstream.
                let delay = match e {
                    RemoteError::RetryAfter { after, .. } => after,
                    _ => backoff(attempt, ctx.queue.min_backoff, ctx.queue.max_backoff),
                };
                sleep_unless_stopped(ctx, delay);
                attempt = attempt.saturating_add(1);
            }
            Err(e) => {
                log::error!(
                    "remote write {}: non-recoverable error, dropping {n} samples: {e}",
                    ctx.remote_name
                );
                ctx.metrics.samples_failed_total.add(n as f64);
                finish(ctx, batch);
                return;
            }
        }
    }
}

/// Reports every sample of the batch as finished and clears it.
fn finish(ctx: &ShardContext, batch: &mut Vec<QueuedSample>) {
    // Batches hold runs of the same record; report each run once.
    let mut i = 0;
    while let Some(first) = batch.get(i) {
        let seq = first.seq;
        let run = batch[i..].iter().take_while(|s| s.seq == seq).count();
        ctx.tracker.finish(seq, run);
        i += run;
    }
    batch.clear();
    ctx.metrics
        .samples_pending
        .set(ctx.tracker.in_flight() as f64);
}

/// Sleeps `d`, waking early when the queue is hard-stopped.
fn sleep_unless_stopped(ctx: &ShardContext, d: Duration) {
    let until = Instant::now() + d;
    while !ctx.hard_stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(10)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;

    #[test]
    fn write_request_groups_samples_per_series_in_order() {
        let enc = |n| Arc::new(EncodedLabels::new(&Labels::from_pairs(&[("__name__", n)])));
        let (a, b) = (enc("a"), enc("b"));
        let q = |l: &Arc<EncodedLabels>, t| QueuedSample {
            labels: l.clone(),
            t,
            v: t as f64,
            seq: 0,
        };
        let batch = [q(&a, 1), q(&b, 1), q(&a, 2)];
        let req = build_write_request(&batch);
        let mut raw = Vec::new();
        encode_batch(&batch, &mut raw);
        assert_eq!(raw, prost::Message::encode_to_vec(&req));
        assert_eq!(req.timeseries.len(), 2);
        assert_eq!(req.timeseries[0].labels[0].value, "a");
        let ts: Vec<i64> = req.timeseries[0]
            .samples
            .iter()
            .map(|s| s.timestamp)
            .collect();
        assert_eq!(ts, vec![1, 2]);
        assert_eq!(req.timeseries[1].samples.len(), 1);
    }

    #[test]
    fn shard_hash_spreads_sequential_refs() {
        let mut counts = [0usize; 4];
        for r in 0..4000u64 {
            counts[(shard_hash(r) % 4) as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c > 800), "{counts:?}");
    }
}
