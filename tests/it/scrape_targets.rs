//! End-to-end-ish scrape test: targets served by this test on 127.0.0.1
//! (plain text, gzip, OpenMetrics, a broken body, one slower than its
//! timeout, one that disappears), discovered through static configs, scraped
//! by the `ScrapeManager` every 200 ms into `MemStorage`. Checks the stored
//! series, `up`, stale markers and the targets API.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promlite::discovery::{DiscoveryManager, DiscoveryOptions, SdConfig, TargetGroup};
use promlite::model::{is_stale_nan, Labels, MatchType, Matcher};
use promlite::scrape::api::{metadata_json, targets_json, targets_metadata_json, TargetState};
use promlite::scrape::{PoolConfig, ScrapeManager, ScrapeOptions};
use promlite::storage::memory::MemStorage;
use promlite::storage::Queryable;

/// Request headers of the last `/plain` scrape, lower-cased names.
static PLAIN_HEADERS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn respond(req: tiny_http::Request) {
    if req.url() == "/plain" {
        let headers = req
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_string(),
                )
            })
            .collect();
        *PLAIN_HEADERS.lock().unwrap_or_else(|e| e.into_inner()) = headers;
    }
    let header = |k: &str, v: &str| {
        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes())
            .unwrap_or_else(|_| panic!("bad header {k}"))
    };
    let text = header("Content-Type", "text/plain; version=0.0.4");
    let resp = match req.url() {
        "/plain" => tiny_http::Response::from_string(
            "# HELP plain_metric A plain metric.\n# TYPE plain_metric gauge\nplain_metric{a=\"1\"} 1\n",
        )
        .with_header(text),
        "/gzip" => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = enc.write_all(b"gzip_metric 2\n");
            let body = enc.finish().unwrap_or_default();
            tiny_http::Response::from_data(body)
                .with_header(text)
                .with_header(header("Content-Encoding", "gzip"))
        }
        "/om" => tiny_http::Response::from_string(
            "# TYPE om_metric counter\nom_metric_total 3 # {trace_id=\"a\"} 1\n# EOF\n",
        )
        .with_header(header(
            "Content-Type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )),
        "/broken" => tiny_http::Response::from_string("broken_metric 1\nthis is not valid\n")
            .with_header(text),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(400));
            tiny_http::Response::from_string("slow_metric 1\n").with_header(text)
        }
        "/gone" => tiny_http::Response::from_string("gone_metric 1\n").with_header(text),
        _ => tiny_http::Response::from_string("not found").with_status_code(404),
    };
    let _ = req.respond(resp);
}

/// Serves `respond` on an ephemeral port until dropped.
struct TestServer {
    server: Arc<tiny_http::Server>,
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    fn start() -> TestServer {
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0").unwrap_or_else(|e| panic!("listen: {e}")),
        );
        let addr = server
            .server_addr()
            .to_ip()
            .map(|a| a.to_string())
            .unwrap_or_else(|| panic!("no ip address"));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, stop) = (server.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    if let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) {
                        // One thread per request so the slow target does not
                        // hold up the others.
                        std::thread::spawn(move || respond(req));
                    }
                }
            })
        };
        TestServer {
            server,
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn group(addr: &str, paths: &[&str]) -> SdConfig {
    SdConfig::Static(vec![TargetGroup {
        source: "0".into(),
        targets: paths
            .iter()
            .map(|p| {
                Labels::from_pairs(&[
                    ("__address__", addr),
                    ("__metrics_path__", &format!("/{p}")),
                    ("instance", p),
                ])
            })
            .collect(),
        labels: Labels::from_pairs(&[("env", "test")]),
    }])
}

fn series(s: &MemStorage, name: &str) -> HashMap<String, Vec<(i64, f64)>> {
    let q = s
        .querier(i64::MIN, i64::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    let m = Matcher::new(MatchType::Equal, "__name__", name).unwrap_or_else(|e| panic!("{e}"));
    let mut out = HashMap::new();
    for s in q.select(true, None, &[m]).unwrap_or_else(|e| panic!("{e}")) {
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        let mut it = s.iterator();
        let mut pts = Vec::new();
        while let Some(p) = it.next() {
            pts.push(p);
        }
        out.insert(s.labels().get_or_empty("instance").to_string(), pts);
    }
    out
}

fn values(pts: Option<&Vec<(i64, f64)>>) -> Vec<f64> {
    pts.map(|p| p.iter().map(|x| x.1).collect())
        .unwrap_or_default()
}

#[test]
fn scrapes_targets_end_to_end() {
    let server = TestServer::start();
    let storage = MemStorage::new();
    let (disc, sets) = DiscoveryManager::new(DiscoveryOptions {
        name: "scrape".into(),
        update_interval: Duration::from_millis(50),
        file_poll_interval: Duration::from_millis(50),
    });
    let disc = Arc::new(disc);
    let mgr = Arc::new(ScrapeManager::new(
        Arc::new(storage.clone()),
        ScrapeOptions {
            workers: 4,
            offset_seed: 0,
        },
    ));
    let mut cfg = PoolConfig::new("e2e");
    cfg.scrape_interval = Duration::from_millis(200);
    cfg.scrape_timeout = Duration::from_millis(150);
    mgr.apply_config(vec![cfg])
        .unwrap_or_else(|e| panic!("{e}"));
    let all = ["plain", "gzip", "om", "broken", "slow", "gone"];
    disc.apply_config(HashMap::from([(
        "e2e".to_string(),
        vec![group(&server.addr, &all)],
    )]));

    let d = {
        let disc = disc.clone();
        std::thread::spawn(move || disc.run())
    };
    let m = {
        let mgr = mgr.clone();
        std::thread::spawn(move || mgr.run(sets))
    };

    // Wait until every target has been scraped at least three times.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let up = series(&storage, "up");
        if all.iter().all(|i| up.get(*i).is_some_and(|p| p.len() >= 3)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone_before = series(&storage, "gone_metric");

    // "gone" disappears from discovery: its series must go stale.
    let remaining: Vec<&str> = all.iter().copied().filter(|p| *p != "gone").collect();
    disc.apply_config(HashMap::from([(
        "e2e".to_string(),
        vec![group(&server.addr, &remaining)],
    )]));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let up = series(&storage, "up");
        if up
            .get("gone")
            .and_then(|p| p.last())
            .is_some_and(|p| is_stale_nan(p.1))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let targets = targets_json(&mgr, TargetState::Any, None);
    let metadata = targets_metadata_json(&mgr, &[], Some("plain_metric"), None);
    let all_metadata = metadata_json(&mgr, None, None, None);
    mgr.stop();
    disc.stop();
    let _ = m.join();
    let _ = d.join();
    drop(server);

    let up = series(&storage, "up");
    for ok in ["plain", "gzip", "om"] {
        let v = values(up.get(ok));
        assert!(
            v.len() >= 3 && v.iter().all(|x| *x == 1.0),
            "up{{instance={ok:?}}} = {v:?}"
        );
    }
    for bad in ["broken", "slow"] {
        let v = values(up.get(bad));
        assert!(
            v.len() >= 3 && v.iter().all(|x| *x == 0.0),
            "up{{instance={bad:?}}} = {v:?}"
        );
    }
    assert!(values(series(&storage, "plain_metric").get("plain"))
        .iter()
        .all(|v| *v == 1.0));
    assert!(!values(series(&storage, "gzip_metric").get("gzip")).is_empty());
    assert!(!values(series(&storage, "om_metric_total").get("om")).is_empty());
    assert!(
        series(&storage, "broken_metric").is_empty(),
        "a broken body must append nothing"
    );
    assert!(series(&storage, "slow_metric").is_empty());

    let gone = series(&storage, "gone_metric");
    let gone_pts = gone.get("gone").cloned().unwrap_or_default();
    assert!(gone_before.get("gone").is_some_and(|p| !p.is_empty()));
    assert!(
        gone_pts.last().is_some_and(|p| is_stale_nan(p.1)),
        "gone_metric not stale: {gone_pts:?}"
    );
    assert!(values(up.get("gone"))
        .last()
        .is_some_and(|v| is_stale_nan(*v)));

    // Exactly one sample per timestamp: a target is never scraped twice at once.
    for pts in up.values() {
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0), "{pts:?}");
    }

    let active = targets["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(active.len(), 5, "{targets}");
    let health = |inst: &str| {
        active
            .iter()
            .find(|t| t["labels"]["instance"] == inst)
            .map(|t| {
                (
                    t["health"].clone(),
                    t["lastError"].as_str().unwrap_or("").to_string(),
                )
            })
            .unwrap_or_else(|| panic!("no target {inst}"))
    };
    assert_eq!(health("plain").0, "up");
    let (h, err) = health("broken");
    assert_eq!(h, "down");
    assert!(err.contains("line 2"), "{err}");
    let (h, err) = health("slow");
    assert_eq!(h, "down");
    assert!(
        err.contains("deadline") || err.contains("timeout") || err.contains("timed out"),
        "{err}"
    );
    let plain = active
        .iter()
        .find(|t| t["labels"]["instance"] == "plain")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        plain["scrapeUrl"],
        format!("http://{}/plain", server_addr_of(&plain))
    );
    assert_eq!(plain["labels"]["env"], "test");
    assert_eq!(plain["labels"]["job"], "e2e");
    assert_eq!(plain["scrapeInterval"], "200ms");

    let headers = PLAIN_HEADERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
    };
    assert!(header("accept").starts_with("application/openmetrics-text;version=1.0.0"));
    assert!(header("accept-encoding").contains("gzip"));
    assert!(header("user-agent").starts_with("Prometheus/"));
    assert_eq!(header("x-prometheus-scrape-timeout-seconds"), "0.15");

    let metadata = metadata.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(metadata[0]["type"], "gauge", "{metadata}");
    assert_eq!(metadata[0]["help"], "A plain metric.");
    assert_eq!(
        all_metadata["plain_metric"][0]["type"], "gauge",
        "{all_metadata}"
    );
    assert_eq!(
        all_metadata["om_metric"][0]["type"], "counter",
        "{all_metadata}"
    );
}

fn server_addr_of(target: &serde_json::Value) -> String {
    target["discoveredLabels"]["__address__"]
        .as_str()
        .unwrap_or("")
        .to_string()
}
