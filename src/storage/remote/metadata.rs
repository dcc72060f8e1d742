//! Metric metadata over remote write (`metadata_config`): every
//! `send_interval` a queue sends the metadata of the metrics being scraped,
//! in `WriteRequest.metadata`, in batches of `max_samples_per_send`.
//!
//! The metadata comes from a [`MetadataSource`] (the scrape manager's
//! per-target metadata caches, wired by the lead). Unlike samples, metadata
//! is a snapshot re-sent every interval, so a failed round is given up after
//! a few retries instead of blocking: the next round carries the same data.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use prost::Message;

use super::client::backoff;
use super::codec::snappy_compress;
use super::prompb::{MetricMetadata, WriteRequest};
use super::shard::ShardContext;
use super::RemoteError;
use crate::telemetry::{self, Counter};

/// Retries of one metadata batch before the round is given up.
const MAX_METADATA_RETRIES: u32 = 3;

/// Where a queue gets the metadata to send.
pub trait MetadataSource: Send + Sync {
    /// The current metadata of every scraped metric family, deduplicated.
    fn metadata(&self) -> Vec<MetricMetadata>;
}

impl fmt::Debug for dyn MetadataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetadataSource")
    }
}

/// Metadata metrics of one queue, under upstream's names.
struct MetadataMetrics {
    total: Counter,
    failed: Counter,
    retried: Counter,
    bytes: Counter,
}

impl MetadataMetrics {
    fn new(remote_name: &str, url: &str) -> MetadataMetrics {
        let reg = telemetry::global();
        let labels = &["remote_name", "url"];
        let values = [remote_name, url];
        let c = |name: &str, help: &str| reg.counter_vec(name, help, labels).with(&values);
        MetadataMetrics {
            total: c(
                "prometheus_remote_storage_metadata_total",
                "Total number of metadata entries sent to remote storage.",
            ),
            failed: c(
                "prometheus_remote_storage_metadata_failed_total",
                "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
            ),
            retried: c(
                "prometheus_remote_storage_metadata_retried_total",
                "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
            ),
            bytes: c(
                "prometheus_remote_storage_metadata_bytes_total",
                "The total number of bytes of metadata sent by the queue after compression.",
            ),
        }
    }
}

/// Sends metadata every `interval` until `stop` is closed.
pub fn run_metadata_loop(
    ctx: &ShardContext,
    source: &dyn MetadataSource,
    interval: Duration,
    max_per_send: usize,
    stop: &Receiver<()>,
) {
    let metrics = MetadataMetrics::new(&ctx.remote_name, ctx.client.url());
    let interval = interval.max(Duration::from_millis(10));
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let all = source.metadata();
        for chunk in all.chunks(max_per_send.max(1)) {
            if let Err(e) = send_metadata(ctx, chunk, &metrics) {
                log::warn!(
                    "remote write {}: sending {} metadata entries failed, giving up until the next interval: {e}",
                    ctx.remote_name,
                    chunk.len()
                );
                metrics.failed.add(chunk.len() as f64);
                break;
            }
        }
    }
}

fn send_metadata(
    ctx: &ShardContext,
    chunk: &[MetricMetadata],
    metrics: &MetadataMetrics,
) -> Result<(), RemoteError> {
    let req = WriteRequest {
        timeseries: Vec::new(),
        metadata: chunk.to_vec(),
    };
    let body = snappy_compress(&req.encode_to_vec())?;
    let mut attempt = 0;
    loop {
        if ctx.hard_stop.load(Ordering::Relaxed) {
            return Err(RemoteError::Recoverable("queue stopped".into()));
        }
        match ctx.client.store(&body, ctx.queue.retry_on_http_429) {
            Ok(()) => {
                metrics.total.add(chunk.len() as f64);
                metrics.bytes.add(body.len() as f64);
                return Ok(());
            }
            Err(e @ (RemoteError::Recoverable(_) | RemoteError::RetryAfter { .. }))
                if attempt < MAX_METADATA_RETRIES =>
            {
                let msg = e.to_string();
                metrics.retried.add(chunk.len() as f64);
                log::debug!(
                    "remote write {}: metadata send retried: {msg}",
                    ctx.remote_name
                );
                std::thread::sleep(backoff(
                    attempt,
                    ctx.queue.min_backoff,
                    ctx.queue.max_backoff,
                ));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
