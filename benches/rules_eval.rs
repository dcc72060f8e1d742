//! Evaluation time of one group of 100 recording rules over 10,000 series
//! (100 metrics × 100 series, 11 samples each) with the real engine: what
//! one iteration of a typical rule group costs. Once over the in-memory test
//! storage and once over the real TSDB (head and WAL in a temporary dir),
//! the storage the server evaluates rules against.

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

use promlite::model::Labels;
use promlite::promql::{Engine, EngineOpts};
use promlite::rules::{EngineQueryFunc, ManagerOptions, RuleManager};
use promlite::storage::memory::MemStorage;
use promlite::storage::{Appendable, Queryable};
use promlite::telemetry::Registry;
use promlite::tsdb::{Db, DbOptions};

/// The 10,000 input series: `(labels, [(t, v)])`.
fn input() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    for m in 0..100 {
        let name = format!("http_requests_{m}_total");
        for s in 0..100 {
            let job = format!("job{}", s % 10);
            let inst = format!("host{s}:9100");
            let l = Labels::from_pairs(&[("__name__", &name), ("instance", &inst), ("job", &job)]);
            let samples = (0..11).map(|k| (k * 30_000, (k * (s + 1)) as f64));
            out.push((l, samples.collect()));
        }
    }
    out
}

fn rule_file() -> tempfile::NamedTempFile {
    let mut text = String::from("groups:\n  - name: bench\n    rules:\n");
    for m in 0..100 {
        text.push_str(&format!(
            "      - record: job:http_requests_{m}:rate5m\n        expr: sum by (job) (rate(http_requests_{m}_total[5m]))\n"
        ));
    }
    let mut file = tempfile::NamedTempFile::new().expect("temp rule file");
    file.write_all(text.as_bytes()).expect("write rule file");
    file
}

fn bench_on(
    c: &mut Criterion,
    name: &str,
    appendable: Arc<dyn Appendable>,
    queryable: Arc<dyn Queryable>,
) {
    let file = rule_file();
    let qf = Arc::new(EngineQueryFunc {
        engine: Engine::new(EngineOpts::default()),
        queryable: queryable.clone(),
    });
    let mut opts = ManagerOptions::new(appendable, queryable, qf);
    opts.registry = Box::leak(Box::new(Registry::new()));
    let manager = RuleManager::new(opts);
    let path = file.path().to_string_lossy().to_string();
    let groups = manager
        .load_groups(60_000, &Labels::empty(), &[path])
        .expect("load bench rules");
    let group = &groups[0];
    // Each iteration evaluates 1 ms later so appends never collide.
    let ts = AtomicI64::new(300_000);
    c.bench_function(name, |b| {
        b.iter(|| group.eval(ts.fetch_add(1, Ordering::Relaxed)))
    });
}

fn bench_group_eval(c: &mut Criterion) {
    let series = input();

    let mem = Arc::new(MemStorage::new());
    for (l, samples) in &series {
        for &(t, v) in samples {
            mem.insert(l, t, v);
        }
    }
    bench_on(
        c,
        "rules_group_100_recording_rules_10k_series",
        mem.clone(),
        mem,
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), DbOptions::default()).expect("open TSDB");
    let mut app = db.appender();
    for (l, samples) in &series {
        let mut r = 0;
        for &(t, v) in samples {
            r = app.append(r, l, t, v).expect("append");
        }
    }
    app.commit().expect("commit");
    bench_on(
        c,
        "rules_group_100_recording_rules_10k_series_tsdb",
        db.clone(),
        db,
    );
}

criterion_group!(benches, bench_group_eval);
criterion_main!(benches);
