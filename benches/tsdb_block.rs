//! Block benchmarks: bytes per sample of a 2h block of realistic scrape data
//! (printed: chunks alone and chunks + index), compaction throughput
//! (writing that block, samples/s) and a full-range select over the block
//! versus over the head holding the same data.
//!
//! The data imitates peerbench's targets: 15 s scrapes with timestamps on
//! the interval grid (upstream aligns scrape timestamps within 2 ms), 40 %
//! classic-histogram buckets and counts that rise slowly, 33 % counters with
//! random increments (a fifth nearly idle), 27 % random-walk gauges.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::model::{Labels, Matcher};
use promlite::storage::{Appender, Querier};
use promlite::tsdb::block::{head_block_input, write_block, Block};
use promlite::tsdb::{Head, HeadOptions};

const SERIES: usize = 2000;
const SAMPLES: i64 = 480;

fn build_head() -> Arc<Head> {
    let head = Arc::new(Head::new(HeadOptions::default()));
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut vals = vec![0f64; SERIES];
    let mut refs = vec![0u64; SERIES];
    let labels: Vec<Labels> = (0..SERIES)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", &format!("app_metric_{}", i % 13)),
                ("instance", "127.0.0.1:9000"),
                ("job", "bench"),
                ("series", &i.to_string()),
            ])
        })
        .collect();
    for t in 0..SAMPLES {
        let mut app = head.appender();
        for i in 0..SERIES {
            let r = rnd();
            vals[i] = match i * 100 / SERIES {
                0..=39 => vals[i] + if r % 4 == 0 { (r % 3) as f64 } else { 0.0 },
                40..=72 => {
                    if i % 5 == 0 {
                        vals[i] + if r % 10 == 0 { 1.0 } else { 0.0 }
                    } else {
                        vals[i] + (r % 1000) as f64
                    }
                }
                _ => (vals[i] + ((r % 2001) as f64 - 1000.0) / 1000.0).max(0.0),
            };
            refs[i] = app
                .append(refs[i], &labels[i], t * 15_000, vals[i])
                .unwrap();
        }
        Box::new(app).commit().unwrap();
    }
    head
}

fn bench(c: &mut Criterion) {
    let head = build_head();
    let ids = head.postings_for_matchers(&[]);
    let series = head.series_chunks(&ids, i64::MIN, i64::MAX);
    let input = || head_block_input(&series);
    let tmp = tempfile::tempdir().unwrap();
    let meta = write_block(tmp.path(), input(), 0, SAMPLES * 15_000).unwrap();
    let dir = tmp.path().join(&meta.ulid);
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let chunk_bytes: u64 = std::fs::read_dir(dir.join("chunks"))
        .unwrap()
        .flatten()
        .map(|e| size(&e.path()))
        .sum();
    let index_bytes = size(&dir.join("index"));
    let n = meta.stats.num_samples as f64;
    println!(
        "block: {} samples, {:.3} bytes/sample in chunks, {:.3} bytes/sample chunks+index",
        meta.stats.num_samples,
        chunk_bytes as f64 / n,
        (chunk_bytes + index_bytes) as f64 / n
    );

    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    g.throughput(Throughput::Elements(meta.stats.num_samples));
    g.bench_function("compact_2k_series_2h", |b| {
        b.iter(|| {
            let t = tempfile::tempdir().unwrap();
            write_block(t.path(), input(), 0, SAMPLES * 15_000).unwrap();
        })
    });
    let block = Block::open(&dir).unwrap();
    let m = [Matcher::equal("job", "bench")];
    let read = |q: &dyn Querier| {
        let mut k = 0usize;
        for s in q.select(true, None, &m).unwrap() {
            let s = s.unwrap();
            let mut it = s.iterator();
            while it.next().is_some() {
                k += 1;
            }
        }
        assert_eq!(k as u64, meta.stats.num_samples);
    };
    g.bench_function("select_all_block", |b| {
        b.iter(|| read(&block.querier(0, i64::MAX)))
    });
    g.bench_function("select_all_head", |b| {
        b.iter(|| read(&head.querier(0, i64::MAX)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
