//! End-to-end tests of the storage-facing endpoints with the real binary:
//! the remote-write receiver (only with its flag), the admin API (refused
//! without `--web.enable-admin-api`, snapshots with it), the embedded UI, and
//! agent mode (scrapes into its WAL, refuses queries as upstream's agent).

use crate::common;

use std::time::Duration;

use common::{Promlite, GOOD_CONFIG};
use promlite::storage::remote::codec::encode_write_request;
use promlite::storage::remote::prompb::{Label, Sample, TimeSeries, WriteRequest};

fn write_body(name: &str, t: i64, v: f64) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".to_string(),
                    value: name.to_string(),
                },
                Label {
                    name: "source".to_string(),
                    value: "e2e".to_string(),
                },
            ],
            samples: vec![Sample {
                value: v,
                timestamp: t,
            }],
            exemplars: Vec::new(),
        }],
        metadata: Vec::new(),
    };
    encode_write_request(&req, &mut Vec::new()).expect("encode write request")
}

const WRITE_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[test]
fn remote_write_receiver_only_with_flag() {
    let t = now_ms() - 1000;
    let body = write_body("e2e_written", t, 7.5);

    let off = Promlite::start(GOOD_CONFIG, &[]);
    let r = off.request("POST", "/api/v1/write", &WRITE_HEADERS, &body);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(off.query("e2e_written").is_empty());
    drop(off);

    let on = Promlite::start(GOOD_CONFIG, &["--web.enable-remote-write-receiver"]);
    let r = on.request("POST", "/api/v1/write", &WRITE_HEADERS, &body);
    assert_eq!(r.status, 204, "{}", r.text());
    let res = on.query(&format!("e2e_written @ {}", t as f64 / 1000.0));
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(res[0]["value"][1], "7.5");
    assert_eq!(res[0]["metric"]["source"], "e2e");
    // A body that is not snappy-compressed protobuf is a client error.
    let r = on.request("POST", "/api/v1/write", &WRITE_HEADERS, b"garbage");
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn admin_api_refused_without_flag_snapshot_with_it() {
    let off = Promlite::start(GOOD_CONFIG, &[]);
    let r = off.post("/api/v1/admin/tsdb/snapshot");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["errorType"], "unavailable");
    assert!(r.text().contains("admin APIs disabled"), "{}", r.text());
    drop(off);

    let on = Promlite::start(
        GOOD_CONFIG,
        &[
            "--web.enable-admin-api",
            "--web.enable-remote-write-receiver",
        ],
    );
    let t = now_ms() - 1000;
    let r = on.request(
        "POST",
        "/api/v1/write",
        &WRITE_HEADERS,
        &write_body("e2e_snap", t, 1.0),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let r = on.post("/api/v1/admin/tsdb/snapshot");
    assert_eq!(r.status, 200, "{}", r.text());
    let name = r.json()["data"]["name"].as_str().unwrap_or("").to_string();
    assert!(!name.is_empty());
    let snap = on.dir.path().join("data").join("snapshots").join(&name);
    assert!(snap.is_dir(), "{} missing", snap.display());
    // The head was written into the snapshot as a block.
    let blocks = std::fs::read_dir(&snap).map(|d| d.count()).unwrap_or(0);
    assert_eq!(blocks, 1);

    // delete_series hides the series; clean_tombstones answers 204.
    let r = on.post("/api/v1/admin/tsdb/delete_series");
    assert_eq!(r.status, 400);
    let r = on.post("/api/v1/admin/tsdb/delete_series?match[]=e2e_snap");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(on
        .query(&format!("e2e_snap @ {}", t as f64 / 1000.0))
        .is_empty());
    assert_eq!(on.post("/api/v1/admin/tsdb/clean_tombstones").status, 204);
}

#[test]
fn ui_pages_and_assets() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let r = p.get("/");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("/graph"));
    let r = p.get("/graph");
    assert_eq!(r.status, 200);
    assert!(r
        .header("Content-Type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(r.text().contains("<html"), "{}", r.text());
    let r = p.get("/static/chart.js");
    assert_eq!(r.status, 200);
    assert!(r
        .header("Content-Type")
        .unwrap_or("")
        .starts_with("text/javascript"));
    assert_eq!(p.get("/static/nope.js").status, 404);
    assert_eq!(p.get("/targets").status, 200);
}

#[test]
fn ui_under_route_prefix() {
    let p = Promlite::start(GOOD_CONFIG, &["--web.route-prefix=/prom"]);
    let r = p.get("/");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("/prom/graph"));
    assert_eq!(p.get("/graph").status, 200);
}

#[test]
fn agent_mode_scrapes_and_refuses_queries() {
    let mut p = Promlite::start(GOOD_CONFIG, &["--agent"]);
    let r = p.get("/api/v1/query?query=up");
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("unavailable with Prometheus Agent"));
    assert_eq!(p.get("/api/v1/targets").status, 200);
    assert!(p.dir.path().join("data").join("wal").is_dir());
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn second_server_on_same_dir_fails_with_lock_message() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let data = p.dir.path().join("data");
    let (code, _, err) = common::run_to_exit(&[
        &format!("--config.file={}", p.config_path().display()),
        &format!("--storage.tsdb.path={}", data.display()),
        &format!("--web.listen-address=127.0.0.1:{}", common::free_port()),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is locked by another process"), "{err}");
    // The first server is unaffected.
    assert_eq!(p.get("/-/ready").status, 200);
}

#[test]
fn remote_write_sends_scraped_samples() {
    remote_write_ships_up(&[]);
}

#[test]
fn agent_remote_write_sends_scraped_samples() {
    remote_write_ships_up(&["--agent"]);
}

/// promlite scrapes itself and remote-writes to a test receiver, which must
/// see the `up` series and, on the metadata interval, the scraped metadata.
fn remote_write_ships_up(flags: &[&str]) {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let receiver = common::TestServer::start(move |method, path, body| {
        if method == "POST" && path == "/receive" {
            if let Ok(req) = promlite::storage::remote::codec::decode_write_request(&body) {
                let mut names = g.lock().unwrap();
                for md in req.metadata {
                    names.push(format!("metadata:{}", md.metric_family_name));
                }
                for ts in req.timeseries {
                    for l in ts.labels {
                        if l.name == "__name__" {
                            names.push(l.value);
                        }
                    }
                }
            }
            (204, String::new())
        } else {
            (404, String::new())
        }
    });
    let port = common::free_port();
    // promlite scrapes itself; every sample it stores is shipped.
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: http://127.0.0.1:{}/receive\n    queue_config:\n      batch_send_deadline: 1s\n    metadata_config:\n      send_interval: 1s\n",
        receiver.port
    );
    let p = Promlite::start_on_port(&config, port, flags);
    let sent = p.wait_for(Duration::from_secs(30), |_| {
        got.lock().unwrap().iter().any(|n| n == "up").then_some(())
    });
    assert!(sent.is_some(), "the receiver never got `up` ({flags:?})");
    let meta = p.wait_for(Duration::from_secs(30), |_| {
        got.lock()
            .unwrap()
            .iter()
            .any(|n| n == "metadata:prometheus_http_requests_total")
            .then_some(())
    });
    assert!(
        meta.is_some(),
        "the receiver never got metadata ({flags:?})"
    );
}

#[test]
fn remote_read_returns_stored_samples_with_external_labels() {
    use promlite::model::{MatchType, Matcher};
    use promlite::storage::remote::codec::{
        decode_read_response, encode_read_request, matcher_to_proto,
    };
    use promlite::storage::remote::prompb::{Query, ReadRequest};

    let p = Promlite::start(GOOD_CONFIG, &["--web.enable-remote-write-receiver"]);
    let t = now_ms() - 1000;
    let r = p.request(
        "POST",
        "/api/v1/write",
        &WRITE_HEADERS,
        &write_body("e2e_read_me", t, 3.0),
    );
    assert_eq!(r.status, 204, "{}", r.text());

    let m = Matcher::new(MatchType::Equal, "__name__", "e2e_read_me").unwrap();
    let req = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: t - 60_000,
            end_timestamp_ms: t + 60_000,
            matchers: vec![matcher_to_proto(&m)],
            hints: None,
        }],
        accepted_response_types: Vec::new(),
    };
    let body = encode_read_request(&req).unwrap();
    let r = p.request(
        "POST",
        "/api/v1/read",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let resp = decode_read_response(&r.body, 1 << 20).unwrap();
    let series = &resp.results[0].timeseries;
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].samples[0].value, 3.0);
    assert_eq!(series[0].samples[0].timestamp, t);
    // GOOD_CONFIG's external label is added as upstream does.
    assert!(series[0]
        .labels
        .iter()
        .any(|l| l.name == "replica" && l.value == "e2e"));
}
