//! XOR chunk benchmarks: encode and decode throughput (samples/s) and bytes
//! per sample on realistic data: a counter, a jittery gauge, a constant,
//! each scraped every 15 s with a little timestamp jitter.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::tsdb::chunkenc::{XorAppender, XorIterator};

const N: usize = 120;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn timestamps(rng: &mut Rng) -> Vec<i64> {
    let mut t = 1_700_000_000_000i64;
    (0..N)
        .map(|_| {
            // Scrapes land within a few ms of the 15 s grid.
            t += 15_000 + (rng.next() % 5) as i64 - 2;
            t
        })
        .collect()
}

fn datasets() -> Vec<(&'static str, Vec<(i64, f64)>)> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let ts = timestamps(&mut rng);
    let mut c = 1000.0;
    let counter = ts
        .iter()
        .map(|&t| {
            c += (rng.next() % 50) as f64;
            (t, c)
        })
        .collect();
    let mut g: f64 = 0.5;
    let gauge = ts
        .iter()
        .map(|&t| {
            g += ((rng.next() % 1000) as f64 - 500.0) / 10_000.0;
            (t, g)
        })
        .collect();
    let constant = ts.iter().map(|&t| (t, 1.0)).collect();
    vec![
        ("counter", counter),
        ("gauge", gauge),
        ("constant", constant),
    ]
}

fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut a = XorAppender::new();
    for &(t, v) in samples {
        a.append(t, v);
    }
    a.into_bytes()
}

fn bench(c: &mut Criterion) {
    let data = datasets();
    for (name, samples) in &data {
        let bytes = encode(samples);
        println!(
            "bytes/sample {name}: {:.3} ({} bytes for {} samples)",
            bytes.len() as f64 / samples.len() as f64,
            bytes.len(),
            samples.len()
        );
    }
    let mut g = c.benchmark_group("xor");
    g.throughput(Throughput::Elements(N as u64));
    for (name, samples) in &data {
        g.bench_function(format!("encode/{name}"), |b| b.iter(|| encode(samples)));
        let bytes = encode(samples);
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let mut it = XorIterator::new(&bytes[..]);
                let mut sum = 0.0;
                while let Some((_, v)) = it.next() {
                    sum += v;
                }
                sum
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
