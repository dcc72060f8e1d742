//! Query benchmarks over a real TSDB (`Db`: head, WAL, the querier the
//! server uses) holding peerbench's large case in miniature: 50 targets
//! whose gauges (`app_memory_bytes`, ...) and `app_cpu_seconds_total`
//! counters carry peerbench's label shapes, 60 samples each at 5 s. The
//! queries are peerbench's: `topk(10, app_memory_bytes)` over 6,750 series,
//! `count by (zone)`, `sum by (instance) (rate(...))` and the range `topk`;
//! the instant ones both at the newest samples and (`_behind`) three
//! scrapes before them, as peerbench asks while ingestion goes on.

use criterion::{criterion_group, criterion_main, Criterion};

use promlite::model::Labels;
use promlite::promql::{Engine, EngineOpts};
use promlite::storage::Appendable;
use promlite::tsdb::{Db, DbOptions};

const TARGETS: usize = 50;
/// Per target and gauge family, as `targets.py` splits S = 2000.
const GAUGES: usize = 135;
/// Per target, `app_cpu_seconds_total` series (S = 2000).
const COUNTERS: usize = 166;
const SCRAPE: i64 = 5_000;
const SAMPLES: i64 = 60;
const GAUGE_FAMILIES: [&str; 4] = [
    "app_memory_bytes",
    "app_queue_length",
    "app_temperature_celsius",
    "app_inflight_requests",
];
const ZONES: [&str; 5] = [
    "eu-west-1a",
    "eu-west-1b",
    "us-east-1a",
    "us-east-1c",
    "ap-south-1a",
];
const KINDS: [&str; 4] = ["worker", "api", "cron", "batch"];
const RESOURCES: [&str; 10] = [
    "orders",
    "users",
    "items",
    "carts",
    "payments",
    "sessions",
    "search",
    "reviews",
    "shipments",
    "invoices",
];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];

/// A small deterministic generator, so every run stores the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn series_labels() -> Vec<Labels> {
    let mut out = Vec::new();
    for k in 0..TARGETS {
        let instance = format!("127.0.0.1:{}", 19100 + k);
        let base = [("job", "peerbench"), ("instance", instance.as_str())];
        for fam in GAUGE_FAMILIES {
            for j in 0..GAUGES {
                let pod = format!("pod-{:03}", (j / 20) % 100);
                let mut l: Vec<(&str, &str)> = vec![
                    ("__name__", fam),
                    ("service", "svc-00"),
                    ("pod", &pod),
                    ("zone", ZONES[(j / 4) % 5]),
                    ("kind", KINDS[j % 4]),
                ];
                l.extend(base);
                out.push(Labels::from_pairs(&l));
            }
        }
        for j in 0..COUNTERS {
            let handler = format!("/api/v1/{}", RESOURCES[(j / 20) % 10]);
            let service = format!("svc-{:02}", j / 200);
            let mut l: Vec<(&str, &str)> = vec![
                ("__name__", "app_cpu_seconds_total"),
                ("service", &service),
                ("handler", &handler),
                ("method", METHODS[j % 4]),
                ("code", CODES[(j / 4) % 5]),
            ];
            l.extend(base);
            out.push(Labels::from_pairs(&l));
        }
    }
    out
}

/// Opens a Db under `dir` and fills it; returns it with the last scrape time.
fn fill(dir: &std::path::Path) -> (std::sync::Arc<Db>, i64) {
    let db = Db::open(dir, DbOptions::default()).expect("db opens");
    let labels = series_labels();
    let mut refs = vec![0u64; labels.len()];
    let mut vals: Vec<f64> = vec![1e8; labels.len()];
    let mut rng = Lcg(42);
    let t0 = 1_700_000_000_000i64;
    for s in 0..SAMPLES {
        let t = t0 + s * SCRAPE;
        let mut app = db.appender();
        for (i, l) in labels.iter().enumerate() {
            let counter = l.metric_name() == Some("app_cpu_seconds_total");
            vals[i] = if counter {
                vals[i] + (rng.next() * 50.0 * 1000.0).round() / 1000.0
            } else {
                (vals[i] + ((rng.next() - 0.5) * 64.0).trunc() * 4096.0).max(4096.0)
            };
            refs[i] = app.append(refs[i], l, t, vals[i]).expect("append");
        }
        app.commit().expect("commit");
    }
    (db, t0 + (SAMPLES - 1) * SCRAPE)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, end) = fill(dir.path());
    let e = Engine::new(EngineOpts::default());
    let instant = [
        ("topk10_memory", "topk(10, app_memory_bytes)"),
        ("count_by_zone", "count by (zone) (app_memory_bytes)"),
        (
            "sum_rate_by_instance",
            "sum by (instance) (rate(app_cpu_seconds_total[1m]))",
        ),
    ];
    let range = [(
        "range_topk5",
        "topk(5, sum by (instance) (rate(app_cpu_seconds_total[1m])))",
    )];
    let mut g = c.benchmark_group("promql_head");
    g.sample_size(20);
    for (name, q) in instant {
        g.bench_function(name, |b| {
            b.iter(|| e.instant_query(&*db, q, end).expect("query runs"))
        });
    }
    // As peerbench queries: at a time a few scrapes behind the newest
    // samples, since ingestion goes on while the query suite runs.
    for (name, q) in instant {
        g.bench_function(format!("{name}_behind"), |b| {
            b.iter(|| {
                e.instant_query(&*db, q, end - 3 * SCRAPE)
                    .expect("query runs")
            })
        });
    }
    for (name, q) in range {
        g.bench_function(name, |b| {
            b.iter(|| {
                e.range_query(&*db, q, end - 295_000, end, 15_000)
                    .expect("query runs")
            })
        });
    }
    g.finish();
    if let Err(err) = db.close() {
        eprintln!("closing the bench db: {err}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
