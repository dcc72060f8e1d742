//! Backfill throughput of `tsdb create-blocks-from openmetrics` on a
//! 1M-sample OpenMetrics file (1000 series x 1000 samples at 15s, spanning
//! about 4 hours, so three 2h blocks): promlite's `backfill` in process, and,
//! in the same run, upstream promtool on the same file when it is installed
//! (`PROMTOOL` or /usr/bin/promtool), for comparison.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::promtool::backfill::{backfill, block_duration};

const SERIES: usize = 1000;
const SAMPLES: usize = 1000;

fn input() -> String {
    let mut text = String::with_capacity(SERIES * SAMPLES * 60);
    text.push_str("# HELP bench_requests_total Requests.\n# TYPE bench_requests_total counter\n");
    for s in 0..SERIES {
        for i in 0..SAMPLES {
            let t = 1_700_000_000 + (i as i64) * 15;
            text.push_str(&format!(
                "bench_requests_total{{instance=\"host-{s}\",job=\"bench\"}} {} {t}\n",
                i * (s % 7 + 1)
            ));
        }
    }
    text.push_str("# EOF\n");
    text
}

fn bench(c: &mut Criterion) {
    let text = input();
    let mut group = c.benchmark_group("tool_backfill");
    group.sample_size(10);
    group.throughput(Throughput::Elements((SERIES * SAMPLES) as u64));
    group.bench_function("promlite_1m_samples", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                let start = Instant::now();
                let blocks = backfill(&text, dir.path(), block_duration(0))
                    .unwrap_or_else(|e| panic!("{e}"));
                total += start.elapsed();
                assert_eq!(blocks.len(), 3);
            }
            total
        })
    });
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into());
    if Path::new(&promtool).exists() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("input.om");
        std::fs::write(&file, &text).unwrap_or_else(|e| panic!("{e}"));
        group.bench_function("upstream_promtool_1m_samples", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let out = dir.path().join(format!("out-{i}"));
                    let start = Instant::now();
                    let status = Command::new(&promtool)
                        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
                        .arg(&file)
                        .arg(&out)
                        .status()
                        .unwrap_or_else(|e| panic!("{e}"));
                    total += start.elapsed();
                    assert!(status.success());
                    let _ = std::fs::remove_dir_all(&out);
                }
                total
            })
        });
    } else {
        eprintln!("tool_backfill: {promtool} not found, upstream comparison skipped");
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
