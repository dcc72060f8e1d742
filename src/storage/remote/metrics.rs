//! The remote-write queue metrics, under upstream's names and with its
//! `remote_name` and `url` labels, so upstream's remote-write dashboards and
//! alerts (`PrometheusRemoteWriteBehind`, `PrometheusRemoteStorageFailures`,
//! ...) work unchanged.

use crate::telemetry::{self, Counter, Gauge, Histogram};

/// The metrics of one queue, registered in the global registry.
pub struct QueueMetrics {
    label_values: [String; 2],
    pub samples_total: Counter,
    pub samples_failed_total: Counter,
    pub samples_retried_total: Counter,
    pub samples_dropped_total: Counter,
    pub samples_pending: Gauge,
    pub shards: Gauge,
    pub shards_min: Gauge,
    pub shards_max: Gauge,
    pub shards_desired: Gauge,
    pub queue_highest_sent_timestamp_seconds: Gauge,
    pub bytes_total: Counter,
    pub enqueue_retries_total: Counter,
    pub shard_capacity: Gauge,
    pub max_samples_per_send: Gauge,
    pub sent_batch_duration_seconds: Histogram,
}

const LABELS: &[&str] = &["remote_name", "url"];

/// Families with label sets, as (name, help).
const COUNTERS: &[(&str, &str)] = &[
    (
        "prometheus_remote_storage_samples_total",
        "Total number of samples sent to remote storage.",
    ),
    (
        "prometheus_remote_storage_samples_failed_total",
        "Total number of samples which failed on send to remote storage, non-recoverable errors.",
    ),
    (
        "prometheus_remote_storage_samples_retried_total",
        "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
    ),
    (
        "prometheus_remote_storage_samples_dropped_total",
        "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
    ),
    (
        "prometheus_remote_storage_bytes_total",
        "The total number of bytes of data (not metadata) sent by the queue after compression.",
    ),
    (
        "prometheus_remote_storage_enqueue_retries_total",
        "Total number of times enqueue has failed because a shards queue was full.",
    ),
];

const GAUGES: &[(&str, &str)] = &[
    (
        "prometheus_remote_storage_samples_pending",
        "The number of samples pending in the queues shards to be sent to the remote storage.",
    ),
    (
        "prometheus_remote_storage_shards",
        "The number of shards used for parallel sending to the remote storage.",
    ),
    (
        "prometheus_remote_storage_shards_min",
        "The minimum number of shards that the queue is allowed to run.",
    ),
    (
        "prometheus_remote_storage_shards_max",
        "The maximum number of shards that the queue is allowed to run.",
    ),
    (
        "prometheus_remote_storage_shards_desired",
        "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
    ),
    (
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
    ),
    (
        "prometheus_remote_storage_shard_capacity",
        "The capacity of each shard of the queue used for parallel sending to the remote storage.",
    ),
    (
        "prometheus_remote_storage_max_samples_per_send",
        "The maximum number of samples to be sent, in a single request, to the remote storage. Note that, when sending of exemplars over remote write is enabled, exemplars count towards this limt.",
    ),
];

const SENT_BATCH_DURATION: (&str, &str) = (
    "prometheus_remote_storage_sent_batch_duration_seconds",
    "Duration of send calls to the remote storage.",
);

impl QueueMetrics {
    /// Registers (or re-attaches to) the children for one queue.
    pub fn new(remote_name: &str, url: &str) -> QueueMetrics {
        let reg = telemetry::global();
        let values = [remote_name, url];
        let counter = |i: usize| {
            let (name, help) = COUNTERS[i];
            reg.counter_vec(name, help, LABELS).with(&values)
        };
        let gauge = |i: usize| {
            let (name, help) = GAUGES[i];
            reg.gauge_vec(name, help, LABELS).with(&values)
        };
        QueueMetrics {
            label_values: [remote_name.to_string(), url.to_string()],
            samples_total: counter(0),
            samples_failed_total: counter(1),
            samples_retried_total: counter(2),
            samples_dropped_total: counter(3),
            bytes_total: counter(4),
            enqueue_retries_total: counter(5),
            samples_pending: gauge(0),
            shards: gauge(1),
            shards_min: gauge(2),
            shards_max: gauge(3),
            shards_desired: gauge(4),
            queue_highest_sent_timestamp_seconds: gauge(5),
            shard_capacity: gauge(6),
            max_samples_per_send: gauge(7),
            sent_batch_duration_seconds: reg
                .histogram_vec(
                    SENT_BATCH_DURATION.0,
                    SENT_BATCH_DURATION.1,
                    LABELS,
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0,
                        120.0, 300.0,
                    ],
                )
                .with(&values),
        }
    }

    /// Removes the gauges of a stopped queue, as upstream unregisters them;
    /// counters stay so rates over a reload do not reset.
    pub fn unregister_gauges(&self) {
        let reg = telemetry::global();
        let values = [self.label_values[0].as_str(), self.label_values[1].as_str()];
        for (name, help) in GAUGES {
            reg.gauge_vec(name, help, LABELS).remove(&values);
        }
        reg.gauge_vec(
            WAL_WATCHER_CURRENT_SEGMENT.0,
            WAL_WATCHER_CURRENT_SEGMENT.1,
            &["consumer"],
        )
        .remove(&[values[0]]);
    }
}

/// `prometheus_remote_storage_samples_in_total`: samples read from the WAL
/// by all queues (upstream counts appended samples; promlite counts what
/// the queues read, the figure the shard calculation uses).
pub fn samples_in_total() -> Counter {
    telemetry::global().counter(
        "prometheus_remote_storage_samples_in_total",
        "Samples in to remote storage, compare to samples out for queue managers.",
    )
}

/// `prometheus_remote_storage_highest_timestamp_in_seconds`.
pub fn highest_timestamp_in_seconds() -> Gauge {
    telemetry::global().gauge(
        "prometheus_remote_storage_highest_timestamp_in_seconds",
        "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch. Initialized to 0 when no data has been received yet.",
    )
}

/// `prometheus_wal_watcher_current_segment{consumer}`: the WAL segment a
/// queue is reading (upstream's watcher metric; `consumer` is the queue's
/// remote name), plotted against the TSDB's current segment to see a queue
/// fall behind.
pub fn wal_watcher_current_segment(consumer: &str) -> Gauge {
    let (name, help) = WAL_WATCHER_CURRENT_SEGMENT;
    telemetry::global()
        .gauge_vec(name, help, &["consumer"])
        .with(&[consumer])
}

const WAL_WATCHER_CURRENT_SEGMENT: (&str, &str) = (
    "prometheus_wal_watcher_current_segment",
    "Current segment the WAL watcher is reading records from.",
);
