//! Head benchmarks: append throughput with warm series refs (samples/s on
//! one thread), large postings intersections, and a `select` of 10,000
//! series reading every sample.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use promlite::model::{Labels, Matcher};
use promlite::storage::{Appender, Querier};
use promlite::tsdb::index::intersect;
use promlite::tsdb::{Head, HeadOptions};

fn labels(i: usize) -> Labels {
    Labels::from_pairs(&[
        ("__name__", &format!("metric_{}", i % 100)),
        ("instance", &format!("host-{}:9100", i % 50)),
        ("job", "node"),
        ("series", &i.to_string()),
    ])
}

fn append_warm(c: &mut Criterion) {
    const SERIES: usize = 10_000;
    let head = Arc::new(Head::new(HeadOptions::default()));
    let lbls: Vec<Labels> = (0..SERIES).map(labels).collect();
    let mut refs = vec![0u64; SERIES];
    let mut app = head.appender();
    for (i, l) in lbls.iter().enumerate() {
        refs[i] = app.append(0, l, 0, 0.0).unwrap();
    }
    Box::new(app).commit().unwrap();
    let mut t = 0i64;
    let mut g = c.benchmark_group("head");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.bench_function("append_commit_10k_warm_refs", |b| {
        b.iter(|| {
            t += 15_000;
            let mut app = head.appender();
            for (i, r) in refs.iter().enumerate() {
                app.append(*r, &lbls[i], t, (t as f64) + i as f64).unwrap();
            }
            Box::new(app).commit().unwrap();
        })
    });
    g.finish();
}

fn postings(c: &mut Criterion) {
    let a: Vec<u32> = (0..1_000_000).filter(|x| x % 2 == 0).collect();
    let b: Vec<u32> = (0..1_000_000).filter(|x| x % 3 == 0).collect();
    let small: Vec<u32> = (0..1_000_000).filter(|x| x % 1000 == 0).collect();
    let mut g = c.benchmark_group("postings");
    g.throughput(Throughput::Elements((a.len() + b.len()) as u64));
    g.bench_function("intersect_500k_333k", |bch| bch.iter(|| intersect(&a, &b)));
    g.throughput(Throughput::Elements((a.len() + small.len()) as u64));
    g.bench_function("intersect_500k_1k_gallop", |bch| {
        bch.iter(|| intersect(&a, &small))
    });
    g.finish();
}

fn select(c: &mut Criterion) {
    const SERIES: usize = 10_000;
    let head = Arc::new(Head::new(HeadOptions::default()));
    let mut refs = vec![0u64; SERIES];
    for t in 0..120i64 {
        let mut app = head.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            let l = Labels::from_pairs(&[("__name__", "sel"), ("i", &i.to_string())]);
            *r = app.append(*r, &l, t * 15_000, t as f64).unwrap();
        }
        Box::new(app).commit().unwrap();
    }
    let m = [Matcher::equal("__name__", "sel")];
    let mut g = c.benchmark_group("head");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.bench_function("select_10k_series_120_samples", |b| {
        b.iter_batched(
            || head.querier(0, i64::MAX),
            |q| {
                let mut n = 0usize;
                for s in q.select(true, None, &m).unwrap() {
                    let s = s.unwrap();
                    let mut it = s.iterator();
                    while it.next().is_some() {
                        n += 1;
                    }
                }
                assert_eq!(n, SERIES * 120);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, append_warm, postings, select);
criterion_main!(benches);
