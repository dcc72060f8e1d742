//! Memory per active series: builds a head shaped like peerbench's large
//! case (100,000 series with 6 labels, 60 samples each at 5 s, random-walk
//! values) and prints the process RSS growth per series. Not a criterion
//! benchmark: one measurement, printed.

use std::sync::Arc;

use promlite::model::Labels;
use promlite::storage::Appender;
use promlite::tsdb::{Head, HeadOptions};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let series = std::env::var("SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000usize);
    // `SAMPLES=1440` shows a full 2h head (12 closed chunks per series).
    let samples = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60i64);
    let mut lbls: Vec<Labels> = (0..series)
        .map(|i| {
            let target = i / 2000;
            let fam = i % 40;
            Labels::from_pairs(&[
                ("__name__", &format!("app_metric_family_{fam}_total")),
                ("instance", &format!("127.0.0.1:{}", 20000 + target)),
                ("job", "peerbench"),
                ("method", ["GET", "POST", "PUT"][i % 3]),
                ("handler", &format!("/api/v1/handler_{}", (i / 3) % 57)),
                ("le", &format!("{}", i % 12)),
            ])
        })
        .collect();
    // Keep label sets unique like the real load (series within a target differ).
    for (i, l) in lbls.iter_mut().enumerate() {
        let mut b = l.builder();
        b.set("series_id", &(i % 2000).to_string());
        *l = b.build();
    }
    let before = rss_bytes();
    let head = Arc::new(Head::new(HeadOptions::default()));
    let mut refs = vec![0u64; series];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut vals = vec![0f64; series];
    // One appender per target of 2,000 series, as scrapes commit.
    for t in 0..samples {
        for target in 0..series.div_ceil(2000) {
            let mut app = head.appender();
            for i in target * 2000..((target + 1) * 2000).min(series) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                vals[i] += (x % 100) as f64;
                refs[i] = app.append(refs[i], &lbls[i], t * 5000, vals[i]).unwrap();
            }
            Box::new(app).commit().unwrap();
        }
    }
    drop(lbls);
    drop(vals);
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / series as f64;
    println!(
        "head: {series} series x {samples} samples: RSS growth {:.1} MiB, {per:.0} bytes/series",
        (after - before) as f64 / (1024.0 * 1024.0)
    );
    drop(refs);
}
