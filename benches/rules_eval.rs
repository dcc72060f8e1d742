//! Evaluation time of one group of 100 recording rules over 10,000 series
//! (100 metrics × 100 series, 11 samples each) in in-memory storage, with
//! the real engine: what one iteration of a typical rule group costs.

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

use promlite::model::Labels;
use promlite::promql::{Engine, EngineOpts};
use promlite::rules::{EngineQueryFunc, ManagerOptions, RuleManager};
use promlite::storage::memory::MemStorage;
use promlite::telemetry::Registry;

fn bench_group_eval(c: &mut Criterion) {
    let storage = Arc::new(MemStorage::new());
    for m in 0..100 {
        let name = format!("http_requests_{m}_total");
        for s in 0..100 {
            let job = format!("job{}", s % 10);
            let inst = format!("host{s}:9100");
            let l = Labels::from_pairs(&[("__name__", &name), ("instance", &inst), ("job", &job)]);
            for k in 0..11 {
                storage.insert(&l, k * 30_000, (k * (s + 1)) as f64);
            }
        }
    }
    let mut text = String::from("groups:\n  - name: bench\n    rules:\n");
    for m in 0..100 {
        text.push_str(&format!(
            "      - record: job:http_requests_{m}:rate5m\n        expr: sum by (job) (rate(http_requests_{m}_total[5m]))\n"
        ));
    }
    let mut file = tempfile::NamedTempFile::new().expect("temp rule file");
    file.write_all(text.as_bytes()).expect("write rule file");
    let qf = Arc::new(EngineQueryFunc {
        engine: Engine::new(EngineOpts::default()),
        queryable: storage.clone(),
    });
    let mut opts = ManagerOptions::new(storage.clone(), storage.clone(), qf);
    opts.registry = Box::leak(Box::new(Registry::new()));
    let manager = RuleManager::new(opts);
    let path = file.path().to_string_lossy().to_string();
    let groups = manager
        .load_groups(60_000, &Labels::empty(), &[path])
        .expect("load bench rules");
    let group = &groups[0];
    // Each iteration evaluates 1 ms later so appends never collide.
    let ts = AtomicI64::new(300_000);
    c.bench_function("rules_group_100_recording_rules_10k_series", |b| {
        b.iter(|| group.eval(ts.fetch_add(1, Ordering::Relaxed)))
    });
}

criterion_group!(benches, bench_group_eval);
criterion_main!(benches);
