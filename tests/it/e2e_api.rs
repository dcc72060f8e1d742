//! End-to-end: the `/api/v1` endpoints and `/federate` of the real binary,
//! with good and bad parameters, checked against upstream's JSON shapes,
//! error types and HTTP codes.

use crate::common;

use common::{Promlite, GOOD_CONFIG};
use serde_json::json;

/// Percent-encodes a form value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn assert_error(r: &common::HttpResponse, status: u16, error_type: &str, contains: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["errorType"], error_type, "{v}");
    let msg = v["error"].as_str().unwrap_or("");
    assert!(msg.contains(contains), "{msg:?} lacks {contains:?}");
}

#[test]
fn parameter_errors_match_upstream() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    assert_error(
        &p.get("/api/v1/query?query=up&time=yesterday"),
        400,
        "bad_data",
        "invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp",
    );
    assert_error(
        &p.get("/api/v1/query?query=up&timeout=soon"),
        400,
        "bad_data",
        "invalid parameter \"timeout\"",
    );
    assert_error(
        &p.get("/api/v1/query_range?query=up&start=0&end=100000&step=1"),
        400,
        "bad_data",
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    );
    assert_error(
        &p.get("/api/v1/query_range?query=up&start=0&end=10&step=-1"),
        400,
        "bad_data",
        "zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
    assert_error(
        &p.get("/api/v1/query_range?query=up&start=10&end=0&step=1"),
        400,
        "bad_data",
        "end timestamp must not be before start time",
    );
    assert_error(
        &p.get("/api/v1/query_range?query=up&start=0&end=10&step=x"),
        400,
        "bad_data",
        "invalid parameter \"step\": cannot parse \"x\" to a valid duration",
    );
    assert_error(
        &p.post_form(
            "/api/v1/query_range",
            "query=up&start=2015-07-01T20:10:51Z&end=nope&step=15s",
        ),
        400,
        "bad_data",
        "invalid parameter \"end\"",
    );
    assert_error(
        &p.get("/api/v1/series"),
        400,
        "bad_data",
        "no match[] parameter provided",
    );
    assert_error(
        &p.get("/api/v1/labels?end=soon"),
        400,
        "bad_data",
        "invalid parameter \"end\"",
    );
    assert_error(
        &p.get("/api/v1/label/job/values?limit=-1"),
        400,
        "bad_data",
        "limit must be non-negative",
    );
    assert_error(
        &p.get("/api/v1/rules?type=both"),
        400,
        "bad_data",
        "invalid parameter \"type\"",
    );
}

#[test]
fn label_and_status_endpoints() {
    let p = Promlite::start(GOOD_CONFIG, &["--query.timeout=30s"]);
    let v = p.get("/api/v1/labels").json();
    assert_eq!(v, json!({"status": "success", "data": []}));
    let v = p
        .get("/api/v1/label/job/values?start=0&end=1700000000.5")
        .json();
    assert_eq!(v, json!({"status": "success", "data": []}));
    let v = p
        .post_form("/api/v1/labels", "start=2015-07-01T20:10:51.781Z")
        .json();
    assert_eq!(v["status"], "success");

    let v = p.get("/api/v1/status/flags").json();
    assert_eq!(v["data"]["query.timeout"], "30s");
    assert_eq!(v["data"]["web.enable-lifecycle"], "false");
    let v = p.get("/api/v1/status/buildinfo").json();
    assert!(v["data"]["version"].is_string());
    let v = p.get("/api/v1/status/runtimeinfo").json();
    assert_eq!(v["data"]["reloadConfigSuccess"], true);
    assert!(v["data"]["storageRetention"].is_string());
    let v = p.get("/api/v1/status/config").json();
    assert!(v["data"]["yaml"].as_str().unwrap().contains("job_name"));
    let v = p.get("/api/v1/status/tsdb").json();
    assert_eq!(v["data"]["headStats"]["numSeries"], 0);
    let v = p.get("/api/v1/status/walreplay").json();
    assert_eq!(v["data"], json!({"min": 0, "max": 0, "current": 0}));
    // The scrape manager is wired: the configured job's target is listed.
    // Discovery sends its first target set within its 5s update interval.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut v = p.get("/api/v1/targets").json();
    while v["data"]["activeTargets"][0].is_null() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        v = p.get("/api/v1/targets").json();
    }
    assert_eq!(v["data"]["activeTargets"][0]["scrapePool"], "prometheus");
    assert_eq!(
        v["data"]["activeTargets"][0]["labels"]["instance"],
        "localhost:9090"
    );
    let v = p.get("/api/v1/targets?state=active").json();
    // Upstream sets the unrequested list to `[]` and leaves the counts nil.
    assert_eq!(v["data"]["droppedTargets"], json!([]));
    assert_eq!(v["data"]["droppedTargetCounts"], json!(null));
    assert_eq!(p.get("/api/v1/targets/metadata").json()["data"], json!([]));
    assert_eq!(p.get("/api/v1/metadata").json()["data"], json!({}));
    assert_eq!(p.get("/api/v1/rules").json()["data"], json!({"groups": []}));
    assert_eq!(
        p.get("/api/v1/alerts").json()["data"],
        json!({"alerts": []})
    );
    assert_eq!(
        p.get("/api/v1/alertmanagers").json()["data"],
        json!({"activeAlertmanagers": [], "droppedAlertmanagers": []})
    );
    assert_eq!(p.get("/api/v1/nope").status, 404);
    let r = p.get("/api/v1/admin/tsdb/snapshot");
    assert_eq!(r.status, 503);
}

#[test]
fn cors_headers() {
    let p = Promlite::start(GOOD_CONFIG, &["--web.cors.origin=https?://good\\.example"]);
    let r = p.request(
        "GET",
        "/api/v1/labels",
        &[("Origin", "https://good.example")],
        b"",
    );
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://good.example")
    );
    let r = p.request(
        "GET",
        "/api/v1/labels",
        &[("Origin", "https://evil.example")],
        b"",
    );
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
}

#[test]
fn federate_without_match_is_empty() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let r = p.get("/federate");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "");
}

#[test]
fn remote_write_needs_flag() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let r = p.post("/api/v1/write");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n"
    );
}

#[test]
fn queries_through_the_engine() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let v = p
        .get("/api/v1/query?query=1%2B1&time=1435781451.781")
        .json();
    assert_eq!(
        v,
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1435781451.781, "2"]}})
    );
    let v = p
        .post_form("/api/v1/query", "query=vector(1)&time=2015-07-01T20:10:51Z")
        .json();
    assert_eq!(
        v["data"],
        json!({"resultType": "vector", "result": [{"metric": {}, "value": [1435781451, "1"]}]})
    );
    let v = p.get("/api/v1/query?query=%22hi%22&time=10").json();
    assert_eq!(
        v["data"],
        json!({"resultType": "string", "result": [10, "hi"]})
    );
    let v = p
        .get("/api/v1/query_range?query=vector(1)&start=0&end=30&step=15s")
        .json();
    assert_eq!(
        v["data"],
        json!({"resultType": "matrix", "result": [{"metric": {}, "values": [[0, "1"], [15, "1"], [30, "1"]]}]})
    );
    let v = p.get("/api/v1/query?query=vector(1)&stats=all").json();
    assert!(
        v["data"]["stats"]["timings"]["evalTotalTime"].is_number(),
        "{v}"
    );
    assert!(
        v["data"]["stats"]["samples"]["totalQueryableSamples"].is_number(),
        "{v}"
    );
    assert_eq!(v["data"]["resultType"], "vector");
    let v = p.get("/api/v1/query?query=1%2F0").json();
    assert_eq!(v["data"]["result"][1], "+Inf");
    let v = p.get("/api/v1/query?query=up").json();
    assert_eq!(v["data"], json!({"resultType": "vector", "result": []}));
    let two = "label_replace(vector(1),\"a\",\"x\",\"\",\"\") or label_replace(vector(1),\"a\",\"y\",\"\",\"\")";
    let v = p
        .post_form("/api/v1/query", &format!("query={}", encode(two)))
        .json();
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(2), "{v}");
    let v = p
        .post_form("/api/v1/query", &format!("query={}&limit=1", encode(two)))
        .json();
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));

    assert_error(
        &p.get("/api/v1/query?query=sum(up"),
        400,
        "bad_data",
        "invalid parameter \"query\": 1:",
    );
    assert_error(
        &p.get("/api/v1/query"),
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );

    let v = p.get("/api/v1/format_query?query=sum(up)by(job)").json();
    assert_eq!(v, json!({"status": "success", "data": "sum by (job) (up)"}));
    assert_error(
        &p.get("/api/v1/format_query?query=up%7B"),
        400,
        "bad_data",
        "parse error",
    );

    let v = p
        .get("/api/v1/series?match[]=up&match[]=%7Bjob%3D%22x%22%7D")
        .json();
    assert_eq!(v, json!({"status": "success", "data": []}));
    assert_error(
        &p.get("/api/v1/series?match[]=%7Bjob%3D~%22(%22%7D"),
        400,
        "bad_data",
        "invalid parameter \"match[]\"",
    );
    assert_error(
        &p.get("/api/v1/labels?match[]=1%2B1"),
        400,
        "bad_data",
        "invalid parameter \"match[]\"",
    );
    let v = p.get("/api/v1/query_exemplars?query=up").json();
    assert_eq!(v, json!({"status": "success", "data": []}));
    let r = p.get("/federate?match[]=up");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert_eq!(p.get("/federate?match[]=up%7B").status, 400);
}

#[test]
fn status_config_hides_secrets() {
    let cfg = "scrape_configs:\n  - job_name: secret\n    basic_auth:\n      username: u\n      password: hunter2\n    static_configs: [{targets: ['localhost:1']}]\n";
    let p = Promlite::start(cfg, &[]);
    let v = p.get("/api/v1/status/config").json();
    let yaml = v["data"]["yaml"].as_str().unwrap_or("");
    assert!(yaml.contains("<secret>"), "{yaml}");
    assert!(!yaml.contains("hunter2"), "{yaml}");
}
