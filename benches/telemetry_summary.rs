//! Cost of one summary observation (ns per `observe`), alone and from four
//! threads at once, and of rendering a summary family for `/metrics`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::telemetry::{
    Registry, Summary, SummaryOpts, INTERVAL_OBJECTIVES, LATENCY_OBJECTIVES,
};

fn observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("summary_observe");
    g.throughput(Throughput::Elements(1));
    for (name, objectives) in [
        ("3_objectives", LATENCY_OBJECTIVES),
        ("5_objectives", INTERVAL_OBJECTIVES),
    ] {
        let s = Summary::new(&SummaryOpts::new(objectives));
        // A spread of latencies so the streams hold realistic tuples.
        let mut x = 0.0_f64;
        g.bench_function(name, |b| {
            b.iter(|| {
                x = (x + 0.618_033_988_7) % 1.0;
                s.observe(black_box(x * 0.1));
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("summary_observe_contended");
    const PER_THREAD: u64 = 10_000;
    const THREADS: u64 = 4;
    g.throughput(Throughput::Elements(PER_THREAD * THREADS));
    let s = Summary::new(&SummaryOpts::new(LATENCY_OBJECTIVES));
    g.bench_function("4_threads", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for t in 0..THREADS {
                    let s = s.clone();
                    scope.spawn(move || {
                        for i in 0..PER_THREAD {
                            s.observe(((t * PER_THREAD + i) % 1000) as f64 / 1000.0);
                        }
                    });
                }
            })
        })
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let r = Registry::new();
    let v = r.summary_vec("bench_seconds", "Bench.", &["slice"], LATENCY_OBJECTIVES);
    for slice in ["inner_eval", "prepare_time", "queue_time", "result_sort"] {
        let s = v.with(&[slice]);
        for i in 0..10_000 {
            s.observe(f64::from(i % 977) / 1000.0);
        }
    }
    c.bench_function("summary_render_4_children", |b| {
        b.iter(|| black_box(r.render()))
    });
}

criterion_group!(benches, observe, render);
criterion_main!(benches);
