//! Query benchmarks over `MemStorage`: `sum by (label) (rate(x[5m]))` over
//! 10,000 series for 1h at 15s steps, `histogram_quantile` over 100
//! buckets x 100 series, a regex selector, and a subquery.

use criterion::{criterion_group, criterion_main, Criterion};

use promlite::model::Labels;
use promlite::promql::{Engine, EngineOpts};
use promlite::storage::memory::MemStorage;

const HOUR: i64 = 3_600_000;
const SCRAPE: i64 = 15_000;

/// Counters `http_requests_total{instance, group}` scraped every 15s for 1h10m.
fn counters(n: usize) -> MemStorage {
    let s = MemStorage::new();
    for i in 0..n {
        let inst = format!("i{i}");
        let group = format!("g{}", i % 10);
        let l = Labels::from_pairs(&[
            ("__name__", "http_requests_total"),
            ("instance", &inst),
            ("group", &group),
        ]);
        let mut t = 0;
        let mut v = 0.0;
        while t <= HOUR + 10 * 60_000 {
            s.insert(&l, t, v);
            v += (i % 7) as f64 + 1.0;
            t += SCRAPE;
        }
    }
    s
}

/// `latency_bucket{le, instance}`: 100 buckets for each of 100 instances.
fn buckets() -> MemStorage {
    let s = MemStorage::new();
    for i in 0..100 {
        let inst = format!("i{i}");
        for b in 0..100 {
            let le = if b == 99 {
                "+Inf".to_string()
            } else {
                format!("{}", (b + 1) as f64 * 0.01)
            };
            let l = Labels::from_pairs(&[
                ("__name__", "latency_bucket"),
                ("instance", &inst),
                ("le", &le),
            ]);
            let mut t = 0;
            while t <= 20 * 60_000 {
                s.insert(&l, t, (b as f64 + 1.0) * (t / SCRAPE + 1) as f64);
                t += SCRAPE;
            }
        }
    }
    s
}

fn engine() -> Engine {
    Engine::new(EngineOpts {
        max_samples: 100_000_000,
        ..EngineOpts::default()
    })
}

/// Prints the engine's own peak sample count for a query, the memory figure
/// that does not depend on the allocator.
fn report_peak(name: &str, r: &promlite::promql::QueryResult) {
    eprintln!(
        "{name}: peak samples in memory {}, samples read {}",
        r.stats.peak_samples, r.stats.total_queryable_samples
    );
}

fn bench(c: &mut Criterion) {
    let e = engine();
    let s = counters(10_000);
    let end = HOUR + 10 * 60_000;
    if let Ok(r) = e.range_query(
        &s,
        "sum by (group) (rate(http_requests_total[5m]))",
        end - HOUR,
        end,
        SCRAPE,
    ) {
        report_peak("sum_rate_10k_series_1h_15s", &r);
    }
    for (name, q) in [
        (
            "regex_selector_10k_series",
            "http_requests_total{instance=~\"i1.*5\"}",
        ),
        ("count_all_series_10k", "count({__name__=~\".+\"})"),
        (
            "subquery_max_over_time_10k_series",
            "max_over_time(sum by (group) (rate(http_requests_total[1m]))[30m:1m])",
        ),
    ] {
        if let Ok(r) = e.instant_query(&s, q, end) {
            report_peak(name, &r);
        }
    }
    let mut g = c.benchmark_group("promql_engine");
    g.sample_size(10);
    g.bench_function("sum_rate_10k_series_1h_15s", |b| {
        b.iter(|| {
            e.range_query(
                &s,
                "sum by (group) (rate(http_requests_total[5m]))",
                end - HOUR,
                end,
                SCRAPE,
            )
            .expect("query runs")
        })
    });
    g.bench_function("regex_selector_10k_series", |b| {
        b.iter(|| {
            e.instant_query(&s, "http_requests_total{instance=~\"i1.*5\"}", end)
                .expect("query runs")
        })
    });
    g.bench_function("count_all_series_10k", |b| {
        b.iter(|| {
            e.instant_query(&s, "count({__name__=~\".+\"})", end)
                .expect("query runs")
        })
    });
    g.bench_function("subquery_max_over_time_10k_series", |b| {
        b.iter(|| {
            e.instant_query(
                &s,
                "max_over_time(sum by (group) (rate(http_requests_total[1m]))[30m:1m])",
                end,
            )
            .expect("query runs")
        })
    });
    let h = buckets();
    if let Ok(r) = e.instant_query(
        &h,
        "histogram_quantile(0.9, sum by (le, instance) (rate(latency_bucket[5m])))",
        20 * 60_000,
    ) {
        report_peak("histogram_quantile_100x100", &r);
    }
    g.bench_function("histogram_quantile_100x100", |b| {
        b.iter(|| {
            e.instant_query(
                &h,
                "histogram_quantile(0.9, sum by (le, instance) (rate(latency_bucket[5m])))",
                20 * 60_000,
            )
            .expect("query runs")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
