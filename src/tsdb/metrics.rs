//! The TSDB's self-metrics under upstream's names, registered in one call.
//! Values are read from the `Db`'s own counters at scrape time, so a `Db`
//! that is dropped simply stops reporting (its families report nothing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::wal::list_segments;
use super::Db;
use crate::telemetry::{Registry, LATENCY_OBJECTIVES};

type Sample = Vec<(Vec<String>, f64)>;

fn one(v: f64) -> Sample {
    vec![(vec![], v)]
}

fn float_type(v: f64) -> Sample {
    vec![(vec!["float".to_string()], v)]
}

fn load(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

pub(crate) fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Registers every TSDB metric of `db` in `registry` (normally
/// `telemetry::global()`). Call once per process.
pub fn register_metrics(db: &Arc<Db>, registry: &Registry) {
    let w = Arc::downgrade(db);
    // Each metric reads the Db through a weak reference.
    let gauge = |name: &str, help: &str, f: fn(&Db) -> f64| {
        let w: Weak<Db> = w.clone();
        registry.gauge_func(name, help, &[], move || {
            w.upgrade().map(|db| one(f(&db))).unwrap_or_default()
        });
    };
    let counter = |name: &str, help: &str, f: fn(&Db) -> f64| {
        let w: Weak<Db> = w.clone();
        registry.counter_func(name, help, &[], move || {
            w.upgrade().map(|db| one(f(&db))).unwrap_or_default()
        });
    };
    let typed_counter = |name: &str, help: &str, f: fn(&Db) -> f64| {
        let w: Weak<Db> = w.clone();
        registry.counter_func(name, help, &["type"], move || {
            w.upgrade().map(|db| float_type(f(&db))).unwrap_or_default()
        });
    };

    gauge(
        "prometheus_tsdb_head_series",
        "Total number of series in the head block.",
        |db| db.head().num_series() as f64,
    );
    counter(
        "prometheus_tsdb_head_series_created_total",
        "Total number of series created in the head",
        |db| load(&db.head().counters.series_created),
    );
    counter(
        "prometheus_tsdb_head_series_removed_total",
        "Total number of series removed in the head",
        |db| load(&db.head().counters.series_removed),
    );
    typed_counter(
        "prometheus_tsdb_head_samples_appended_total",
        "Total number of appended samples.",
        |db| load(&db.head().counters.samples_appended),
    );
    gauge(
        "prometheus_tsdb_head_chunks",
        "Total number of chunks in the head block.",
        |db| db.head().num_chunks() as f64,
    );
    counter(
        "prometheus_tsdb_head_chunks_created_total",
        "Total number of chunks created in the head",
        |db| load(&db.head().counters.chunks_created),
    );
    counter(
        "prometheus_tsdb_head_chunks_removed_total",
        "Total number of chunks removed in the head",
        |db| load(&db.head().counters.chunks_removed),
    );
    typed_counter(
        "prometheus_tsdb_out_of_order_samples_total",
        "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
        |db| load(&db.head().counters.out_of_order_samples),
    );
    typed_counter(
        "prometheus_tsdb_out_of_bound_samples_total",
        "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
        |db| load(&db.head().counters.out_of_bound_samples),
    );
    gauge(
        "prometheus_tsdb_head_min_time",
        "Minimum time bound of the head block.",
        |db| time_or_zero(db.head().min_time()),
    );
    gauge(
        "prometheus_tsdb_head_max_time",
        "Maximum timestamp of the head block.",
        |db| time_or_zero(db.head().max_time()),
    );
    gauge(
        "prometheus_tsdb_head_min_time_seconds",
        "Minimum time bound of the head block.",
        |db| time_or_zero(db.head().min_time()) / 1000.0,
    );
    gauge(
        "prometheus_tsdb_head_max_time_seconds",
        "Maximum timestamp of the head block.",
        |db| time_or_zero(db.head().max_time()) / 1000.0,
    );
    gauge(
        "prometheus_tsdb_lowest_timestamp",
        "Lowest timestamp value stored in the database.",
        |db| time_or_zero(lowest(db)),
    );
    gauge(
        "prometheus_tsdb_lowest_timestamp_seconds",
        "Lowest timestamp value stored in the database.",
        |db| time_or_zero(lowest(db)) / 1000.0,
    );
    counter(
        "prometheus_tsdb_head_truncations_total",
        "Total number of head truncations attempted.",
        |db| load(&db.head().counters.truncations),
    );
    counter(
        "prometheus_tsdb_snapshot_replay_error_total",
        "Total number snapshot replays that failed.",
        |db| load(&db.counters.snapshot_replay_errors),
    );
    gauge(
        "prometheus_tsdb_head_symbols",
        "Number of label names and values interned by the head (promlite).",
        |db| db.head().num_symbols() as f64,
    );
    counter(
        "prometheus_tsdb_wal_corruptions_total",
        "Total number of WAL corruptions.",
        |db| load(&db.counters.wal_corruptions),
    );
    gauge(
        "prometheus_tsdb_wal_segment_current",
        "Write log segment index that TSDB is currently writing to.",
        |db| {
            db.head()
                .wal()
                .map(|w| w.current_segment() as f64)
                .unwrap_or(0.0)
        },
    );
    counter(
        "prometheus_tsdb_wal_truncations_total",
        "Total number of write log truncations attempted.",
        |db| load(&db.counters.wal_truncations),
    );
    counter(
        "prometheus_tsdb_wal_truncations_failed_total",
        "Total number of write log truncations that failed.",
        |db| load(&db.counters.wal_truncations_failed),
    );
    counter(
        "prometheus_tsdb_checkpoint_creations_total",
        "Total number of checkpoint creations attempted.",
        |db| load(&db.counters.checkpoint_creations),
    );
    counter(
        "prometheus_tsdb_checkpoint_creations_failed_total",
        "Total number of checkpoint creations that failed.",
        |db| load(&db.counters.checkpoint_creations_failed),
    );
    counter(
        "prometheus_tsdb_checkpoint_deletions_total",
        "Total number of checkpoint deletions attempted.",
        |db| load(&db.counters.checkpoint_deletions),
    );
    counter(
        "prometheus_tsdb_checkpoint_deletions_failed_total",
        "Total number of checkpoint deletions that failed.",
        |db| load(&db.counters.checkpoint_deletions_failed),
    );
    counter(
        "prometheus_tsdb_wal_completed_pages_total",
        "Total number of completed pages.",
        |db| {
            db.head()
                .wal()
                .map(|w| w.stats().completed_pages as f64)
                .unwrap_or(0.0)
        },
    );
    counter(
        "prometheus_tsdb_wal_page_flushes_total",
        "Total number of page flushes.",
        |db| {
            db.head()
                .wal()
                .map(|w| w.stats().page_flushes as f64)
                .unwrap_or(0.0)
        },
    );
    gauge(
        "prometheus_tsdb_wal_storage_size_bytes",
        "Size of the write log directory.",
        |db| dir_size(&db.dir().join("wal")) as f64,
    );
    gauge(
        "prometheus_tsdb_data_replay_duration_seconds",
        "Time taken to replay the data on disk.",
        |db| load(&db.counters.replay_micros) / 1e6,
    );
    gauge(
        "prometheus_tsdb_blocks_loaded",
        "Number of currently loaded data blocks",
        |db| db.blocks().list().len() as f64,
    );
    gauge(
        "prometheus_tsdb_storage_blocks_bytes",
        "The number of bytes that are currently used for local storage by all blocks.",
        |db| db.blocks().bytes() as f64,
    );
    counter(
        "prometheus_tsdb_compactions_total",
        "Total number of compactions that were executed for the partition.",
        |db| load(&db.blocks().counters.compactions),
    );
    counter(
        "prometheus_tsdb_compactions_failed_total",
        "Total number of compactions that failed for the partition.",
        |db| load(&db.blocks().counters.compactions_failed),
    );
    counter(
        "prometheus_tsdb_time_retentions_total",
        "The number of times that blocks were deleted because the maximum time limit was exceeded.",
        |db| load(&db.blocks().counters.time_retentions),
    );
    counter(
        "prometheus_tsdb_size_retentions_total",
        "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
        |db| load(&db.blocks().counters.size_retentions),
    );
    let exp = |start: f64, factor: f64, n: i32| -> Vec<f64> {
        (0..n).map(|i| start * factor.powi(i)).collect()
    };
    // Sum over sum gives bytes per sample of compacted chunks.
    let _ = db.blocks().chunk_size_histogram.set(registry.histogram(
        "prometheus_tsdb_compaction_chunk_size_bytes",
        "Final size of chunks on their first compaction",
        &exp(32.0, 1.5, 12),
    ));
    let _ = db.blocks().chunk_samples_histogram.set(registry.histogram(
        "prometheus_tsdb_compaction_chunk_samples",
        "Final number of samples on their first compaction",
        &exp(4.0, 1.5, 12),
    ));
    gauge(
        "prometheus_tsdb_wal_segments",
        "Number of WAL segment files on disk (promlite).",
        |db| {
            list_segments(&db.dir().join("wal"))
                .map(|s| s.len() as f64)
                .unwrap_or(0.0)
        },
    );
    let s = registry.summary(
        "prometheus_tsdb_wal_fsync_duration_seconds",
        "Duration of write log fsync.",
        LATENCY_OBJECTIVES,
    );
    let _ = db.fsync_summary.set(s);
}

fn lowest(db: &Db) -> i64 {
    db.blocks()
        .min_time()
        .unwrap_or(i64::MAX)
        .min(db.head().min_time())
}

fn time_or_zero(t: i64) -> f64 {
    if t == i64::MAX || t == i64::MIN {
        0.0
    } else {
        t as f64
    }
}
