//! The steady-state scrape append path: a parsed 10,000-series body ingested
//! by a `ScrapeLoop` with a warm series cache, into a no-op appender (the
//! scrape path alone), into `MemStorage`, and into the real TSDB (`Db`: head
//! plus WAL in a temporary directory), in samples/s via throughput.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::discovery::TargetGroup;
use promlite::model::Labels;
use promlite::scrape::pool::ScrapePool;
use promlite::scrape::scraper::ScrapeResponse;
use promlite::scrape::{PoolConfig, ScrapeLoop, ScrapeMetrics};
use promlite::storage::memory::MemStorage;
use promlite::storage::{Appendable, Appender, SeriesRef, StorageError};
use promlite::tsdb::{Db, DbOptions};

/// Accepts everything, stores nothing.
struct NopStorage;

struct NopAppender;

impl Appendable for NopStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(NopAppender)
    }
}

impl Appender for NopAppender {
    fn append(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: i64,
        _: f64,
    ) -> Result<SeriesRef, StorageError> {
        Ok(if r == 0 { 1 } else { r })
    }
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

const SERIES: usize = 10_000;

fn body() -> ScrapeResponse {
    let mut s = String::new();
    for fam in 0..SERIES / 100 {
        s.push_str(&format!(
            "# HELP bench_metric_{fam} A benchmark metric family.\n"
        ));
        s.push_str(&format!("# TYPE bench_metric_{fam} gauge\n"));
        for i in 0..100 {
            s.push_str(&format!(
                "bench_metric_{fam}{{path=\"/var/lib/{i}\",mode=\"rw\"}} {}.5\n",
                fam * 100 + i
            ));
        }
    }
    ScrapeResponse {
        content_type: "text/plain; version=0.0.4".into(),
        body: s.into_bytes(),
    }
}

fn warm_loop(storage: Arc<dyn Appendable>) -> Arc<ScrapeLoop> {
    let pool = ScrapePool::new(
        PoolConfig::new("bench"),
        storage,
        Arc::new(ScrapeMetrics::new(&promlite::telemetry::Registry::new())),
    );
    let synced = pool.sync(&[TargetGroup {
        source: "0".into(),
        targets: vec![Labels::from_pairs(&[("__address__", "localhost:9100")])],
        labels: Labels::empty(),
    }]);
    synced
        .started
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no target"))
}

fn bench(c: &mut Criterion) {
    let resp = body();
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temporary directory: {e}"),
    };
    let db = match Db::open(dir.path(), DbOptions::default()) {
        Ok(db) => db,
        Err(e) => panic!("opening the TSDB: {e}"),
    };
    let mut g = c.benchmark_group("scrape_append");
    g.throughput(Throughput::Elements(SERIES as u64));
    for (name, storage) in [
        (
            "nop_appender_10k",
            Arc::new(NopStorage) as Arc<dyn Appendable>,
        ),
        (
            "memstorage_10k",
            Arc::new(MemStorage::new()) as Arc<dyn Appendable>,
        ),
        ("tsdb_head_wal_10k", db.clone() as Arc<dyn Appendable>),
    ] {
        let l = warm_loop(storage);
        let t = AtomicI64::new(1_000);
        let ingest = |l: &ScrapeLoop| {
            let ts = t.fetch_add(1_000, Ordering::Relaxed);
            l.ingest(Ok(&resp), ts, Duration::ZERO)
        };
        if let Err(e) = ingest(&l) {
            panic!("warm-up scrape failed: {e}");
        }
        g.bench_function(name, |b| b.iter(|| ingest(&l)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
