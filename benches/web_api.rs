//! Benchmarks of the API's hot paths: JSON encoding of a 10,000-series matrix
//! response (throughput in bytes), and the whole in-process request path of
//! `/api/v1/query?query=1`, in process (routing, parameters, engine, envelope)
//! and over a keep-alive 127.0.0.1 connection (adds the connection thread and HTTP/1.1 framing).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use promlite::model::Labels;
use promlite::promql::{Engine, EngineOpts};
use promlite::storage::memory::MemStorage;
use promlite::web::api::v1::{Api, BuildInfo, ServerStatus};
use promlite::web::api::{encode_query_data, success_raw, MatrixSeries, QueryValue};
use promlite::web::http::Request;
use promlite::web::server::HttpServer;
use promlite::web::{Options, WebHandler};

fn matrix(series: usize, points: usize) -> QueryValue {
    QueryValue::Matrix(
        (0..series)
            .map(|i| MatrixSeries {
                labels: Labels::from_pairs(&[
                    ("__name__", "http_requests_total"),
                    ("instance", &format!("host-{}:9100", i % 100)),
                    ("job", "node"),
                    ("path", &format!("/api/v{}", i)),
                ]),
                samples: (0..points)
                    .map(|j| (1_700_000_000_000 + j as i64 * 15_000, (i * j) as f64 * 0.25))
                    .collect(),
            })
            .collect(),
    )
}

fn bench_encode(c: &mut Criterion) {
    let m = matrix(10_000, 10);
    let mut probe = Vec::new();
    encode_query_data(&m, &mut probe);
    let mut g = c.benchmark_group("web_api");
    g.throughput(Throughput::Bytes(probe.len() as u64));
    g.bench_function("encode_matrix_10k_series_10_points", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(probe.len());
            encode_query_data(&m, &mut out);
            success_raw(&out, &[], &[])
        })
    });
    g.finish();
}

fn api() -> Api {
    Api {
        storage: Arc::new(MemStorage::new()),
        engine: Some(Arc::new(Engine::new(EngineOpts::default()))),
        scrape: None,
        rules: None,
        alertmanagers: None,
        tsdb: None,
        status: Arc::new(ServerStatus::new(
            BuildInfo::current(),
            Default::default(),
            "15d".into(),
            300_000,
        )),
        now: promlite::model::value::now_millis,
    }
}

fn bench_query_request(c: &mut Criterion) {
    let web = WebHandler::new(Options::for_address("127.0.0.1:0"), api());
    web.set_ready(true);
    let req = Request::get("/api/v1/query?query=1");
    let mut g = c.benchmark_group("web_api");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_query_1_in_process", |b| b.iter(|| web.serve(&req)));
    g.finish();
}

/// Reads one HTTP/1.1 response with a Content-Length body off a keep-alive stream.
fn read_response(r: &mut BufReader<TcpStream>) -> usize {
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return 0;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l
            .split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        {
            len = v.1.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).expect("body");
    len
}

fn bench_query_over_socket(c: &mut Criterion) {
    let web = WebHandler::new(Options::for_address("127.0.0.1:0"), api());
    web.set_ready(true);
    let server = HttpServer::bind(web).expect("bind");
    let addr = server.local_addrs()[0];
    let stop = server.stop_handle();
    let t = std::thread::spawn(move || server.run());
    let stream = TcpStream::connect(addr).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let req = format!("GET /api/v1/query?query=1 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut g = c.benchmark_group("web_api");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_query_1_keepalive_socket", |b| {
        b.iter(|| {
            writer.write_all(req.as_bytes()).expect("write");
            read_response(&mut reader)
        })
    });
    g.finish();
    drop(writer);
    drop(reader);
    stop.stop();
    let _ = t.join();
}

criterion_group!(
    benches,
    bench_encode,
    bench_query_request,
    bench_query_over_socket
);
criterion_main!(benches);
