//! Parser throughput: a 10,000-series text-format body and an OpenMetrics
//! body of the same series (bytes/s via criterion's throughput; samples/s is
//! bytes/s divided by the average line length printed at start).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::scrape::textparse::{new_parser, Entry};

fn body(series: usize, om: bool) -> String {
    let mut s = String::new();
    for fam in 0..series / 100 {
        s.push_str(&format!(
            "# HELP bench_metric_{fam} A benchmark metric family.\n"
        ));
        s.push_str(&format!("# TYPE bench_metric_{fam} gauge\n"));
        for i in 0..100 {
            s.push_str(&format!(
                "bench_metric_{fam}{{instance=\"host-{i}:9100\",job=\"node\",path=\"/var/lib/{i}\"}} {}.5\n",
                fam * 100 + i
            ));
        }
    }
    if om {
        s.push_str("# EOF\n");
    }
    s
}

fn parse_all(ct: &str, b: &[u8]) -> usize {
    let mut p = new_parser(ct, b);
    let mut n = 0;
    while let Ok(Some(e)) = p.next() {
        if e == Entry::Series {
            let (raw, _, v) = p.series();
            n += raw.len() + usize::from(v > 0.0);
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("scrape_parse");
    for (name, ct, om) in [
        ("text_10k_series", "text/plain; version=0.0.4", false),
        (
            "openmetrics_10k_series",
            "application/openmetrics-text; version=1.0.0",
            true,
        ),
    ] {
        let b = body(10_000, om);
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_function(format!("{name}_bytes"), |bench| {
            bench.iter(|| parse_all(ct, b.as_bytes()))
        });
        g.throughput(Throughput::Elements(10_000));
        g.bench_function(format!("{name}_samples"), |bench| {
            bench.iter(|| parse_all(ct, b.as_bytes()))
        });
        g.bench_function(format!("{name}_with_labels"), |bench| {
            bench.iter(|| {
                let mut p = new_parser(ct, b.as_bytes());
                let mut n = 0;
                while let Ok(Some(e)) = p.next() {
                    if e == Entry::Series {
                        n += p.labels().len();
                    }
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
