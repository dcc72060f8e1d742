//! Encode + snappy of a 2,000-sample remote-write `WriteRequest` (one sample
//! per series, six labels each: what a shard sends after a scrape round).
//! Throughput is in bytes of uncompressed protobuf. The hand encoder over
//! pre-encoded labels (what shards use) is compared with building prost
//! messages and encoding them.

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;

use promlite::model::Labels;
use promlite::storage::remote::codec::{encode_write_request, snappy_compress, EncodedLabels};
use promlite::storage::remote::shard::{build_write_request, encode_batch, QueuedSample};

fn batch() -> Vec<QueuedSample> {
    (0..2000)
        .map(|i| QueuedSample {
            labels: Arc::new(EncodedLabels::new(&Labels::from_pairs(&[
                ("__name__", "http_requests_total"),
                ("instance", &format!("host-{}:9100", i % 50)),
                ("job", "node"),
                ("method", if i % 2 == 0 { "GET" } else { "POST" }),
                ("code", &format!("{}", 200 + i % 5)),
                ("handler", &format!("/api/v1/h{}", i / 10)),
            ]))),
            t: 1_700_000_000_000 + i as i64,
            v: i as f64 * 1.5,
            seq: 0,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let batch = batch();
    let raw_len = build_write_request(&batch).encoded_len() as u64;
    let mut g = c.benchmark_group("remote_encode");
    g.throughput(Throughput::Bytes(raw_len));
    let mut raw = Vec::new();
    g.bench_function("encode_snappy_2000_samples", |b| {
        b.iter(|| {
            encode_batch(black_box(&batch), &mut raw);
            black_box(snappy_compress(&raw).map(|v| v.len()))
        })
    });
    g.bench_function("prost_build_encode_snappy_2000_samples", |b| {
        b.iter(|| {
            let req = build_write_request(black_box(&batch));
            black_box(encode_write_request(&req, &mut raw).map(|v| v.len()))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
