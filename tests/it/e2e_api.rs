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
    assert_eq!(
        r.header("Access-Control-Allow-Methods"),
        Some("GET, POST, OPTIONS")
    );
    // The regex is anchored at both ends, as upstream's.
    for origin in ["https://evil.example", "https://good.example.evil.example"] {
        let r = p.request("GET", "/api/v1/labels", &[("Origin", origin)], b"");
        assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{origin}");
        assert_eq!(
            r.header("Access-Control-Allow-Headers"),
            Some("Accept, Authorization, Content-Type, Origin")
        );
    }
    let r = p.get("/api/v1/labels");
    assert_eq!(r.header("Vary"), Some("Origin"));
    // Preflight.
    let r = p.request(
        "OPTIONS",
        "/api/v1/query",
        &[("Origin", "http://good.example")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("http://good.example")
    );
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

// ---------------------------------------------------------------------------
// Endpoints over real data: series written through the remote-write
// receiver at whole seconds shortly before now (so /federate's lookback
// window sees them), then read back through every read endpoint.

/// Stale NaN as upstream writes it (`value.StaleNaN`).
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

type FixtureLabels = &'static [(&'static str, &'static str)];

/// The fixture: four series, three samples 15 s apart from `base` (ms);
/// `e2e_gone` ends in a stale marker.
fn load_fixture(p: &Promlite) -> i64 {
    use promlite::storage::remote::codec::encode_write_request;
    use promlite::storage::remote::prompb::{Label, Sample, TimeSeries, WriteRequest};
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let base = (now_s - 120) * 1000;
    let stale = f64::from_bits(STALE_NAN_BITS);
    let series: [(FixtureLabels, [f64; 3]); 4] = [
        (
            &[
                ("__name__", "e2e_requests_total"),
                ("code", "200"),
                ("job", "api"),
            ],
            [10.0, 25.0, 40.0],
        ),
        (
            &[
                ("__name__", "e2e_requests_total"),
                ("code", "500"),
                ("job", "api"),
            ],
            [1.0, 1.0, 2.0],
        ),
        (
            &[("__name__", "e2e_temp"), ("room", "a")],
            [21.5, 0.1, -3.0],
        ),
        (
            &[("__name__", "e2e_gone"), ("room", "b")],
            [1.0, 2.0, stale],
        ),
    ];
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, values)| TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: values
                    .iter()
                    .enumerate()
                    .map(|(i, &value)| Sample {
                        value,
                        timestamp: base + i as i64 * 15_000,
                    })
                    .collect(),
                exemplars: Vec::new(),
            })
            .collect(),
        metadata: Vec::new(),
    };
    let body = encode_write_request(&req, &mut Vec::new()).expect("encode write request");
    let r = p.request(
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        &body,
    );
    assert_eq!(r.status, 204, "remote write: {}", r.text());
    base
}

fn with_data() -> (Promlite, i64) {
    let p = Promlite::start(GOOD_CONFIG, &["--web.enable-remote-write-receiver"]);
    let base = load_fixture(&p);
    (p, base)
}

fn success(data: serde_json::Value) -> serde_json::Value {
    json!({"status": "success", "data": data})
}

fn truncated(data: serde_json::Value) -> serde_json::Value {
    json!({"status": "success", "data": data, "warnings": ["results truncated due to limit"]})
}

#[test]
fn series_endpoint_with_data() {
    let (p, _) = with_data();
    let both = json!([
        {"__name__": "e2e_requests_total", "code": "200", "job": "api"},
        {"__name__": "e2e_requests_total", "code": "500", "job": "api"},
    ]);
    assert_eq!(
        p.get("/api/v1/series?match[]=e2e_requests_total").json(),
        success(both.clone())
    );
    // Overlapping match[] are merged, as upstream's merge series set.
    let q = format!(
        "/api/v1/series?match[]=e2e_requests_total&match[]={}",
        encode("{code=\"500\"}")
    );
    assert_eq!(p.get(&q).json(), success(both.clone()));
    // Form POST, RFC3339 and float times.
    let v = p
        .post_form(
            "/api/v1/series",
            &format!(
                "match[]={}&start=2015-07-01T20:10:51.781Z&end=4102444800.5",
                encode("{__name__=~\"e2e_req.*\"}")
            ),
        )
        .json();
    assert_eq!(v, success(both));
    assert_eq!(
        p.get("/api/v1/series?match[]=e2e_requests_total&limit=1")
            .json(),
        truncated(json!([{"__name__": "e2e_requests_total", "code": "200", "job": "api"}]))
    );
    // A range before any sample selects nothing.
    assert_eq!(
        p.get("/api/v1/series?match[]=e2e_temp&start=0&end=2015-07-01T20:10:51Z")
            .json(),
        success(json!([]))
    );
    assert_error(
        &p.get(&format!(
            "/api/v1/series?match[]={}",
            encode("{code=~\"(\"}")
        )),
        400,
        "bad_data",
        "invalid parameter \"match[]\"",
    );
    assert_error(
        &p.get("/api/v1/series?match[]=e2e_temp&start=yesterday"),
        400,
        "bad_data",
        "invalid parameter \"start\": cannot parse \"yesterday\" to a valid timestamp",
    );
    assert_error(
        &p.get("/api/v1/series?match[]=e2e_temp&start=20&end=10"),
        400,
        "bad_data",
        "invalid parameter \"end\"",
    );
    assert_error(
        &p.get("/api/v1/series?match[]=e2e_temp&limit=x"),
        400,
        "bad_data",
        "invalid parameter \"limit\"",
    );
}

#[test]
fn labels_and_label_values_with_data() {
    let (p, _) = with_data();
    assert_eq!(
        p.get("/api/v1/labels?match[]=e2e_temp").json(),
        success(json!(["__name__", "room"]))
    );
    let v = p
        .post_form("/api/v1/labels", "match[]=e2e_requests_total&limit=2")
        .json();
    assert_eq!(v, truncated(json!(["__name__", "code"])));
    let all = p.get("/api/v1/labels").json();
    for name in ["__name__", "code", "job", "room"] {
        assert!(
            all["data"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(name))),
            "{all}"
        );
    }
    assert_error(
        &p.get(&format!(
            "/api/v1/labels?match[]={}",
            encode("{code=~\"(\"}")
        )),
        400,
        "bad_data",
        "invalid parameter \"match[]\"",
    );
    assert_error(
        &p.get("/api/v1/labels?start=0&end=x"),
        400,
        "bad_data",
        "invalid parameter \"end\": cannot parse \"x\" to a valid timestamp",
    );

    assert_eq!(
        p.get("/api/v1/label/code/values").json(),
        success(json!(["200", "500"]))
    );
    assert_eq!(
        p.get("/api/v1/label/code/values?limit=1").json(),
        truncated(json!(["200"]))
    );
    assert_eq!(
        p.get("/api/v1/label/code/values?match[]=e2e_temp").json(),
        success(json!([]))
    );
    assert_eq!(
        p.get("/api/v1/label/room/values?match[]=e2e_temp&match[]=e2e_gone")
            .json(),
        success(json!(["a", "b"]))
    );
    // An unknown label name has no values; it is not an error.
    assert_eq!(
        p.get("/api/v1/label/no_such_label/values").json(),
        success(json!([]))
    );
    // Upstream's U__ escaping of names that are not plain identifiers.
    assert_eq!(
        p.get("/api/v1/label/U__r_6f_om/values").json(),
        success(json!(["a", "b"]))
    );
    assert_eq!(
        p.get("/api/v1/label/code/values?start=0&end=2015-07-01T20:10:51Z")
            .json(),
        success(json!([]))
    );
    assert_error(
        &p.get("/api/v1/label/U__x_zz_/values"),
        400,
        "bad_data",
        "invalid label name",
    );
    assert_error(
        &p.get(&format!(
            "/api/v1/label/code/values?match[]={}",
            encode("{code=~\"(\"}")
        )),
        400,
        "bad_data",
        "invalid parameter \"match[]\"",
    );
    assert_error(
        &p.get("/api/v1/label/code/values?start=soon"),
        400,
        "bad_data",
        "invalid parameter \"start\"",
    );
    assert_eq!(p.post("/api/v1/label/code/values").status, 405);
}

#[test]
fn queries_over_data() {
    let (p, base) = with_data();
    let (b, last) = (base / 1000, base / 1000 + 30);
    let temp = |t: serde_json::Value, v: &str| {
        success(json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "e2e_temp", "room": "a"}, "value": [t, v]}
        ]}))
    };
    // Unix seconds, RFC3339 and a fraction (timestamps are float seconds).
    assert_eq!(
        p.get(&format!("/api/v1/query?query=e2e_temp&time={last}"))
            .json(),
        temp(json!(last), "-3")
    );
    let rfc = rfc3339(last);
    assert_eq!(
        p.get(&format!("/api/v1/query?query=e2e_temp&time={rfc}"))
            .json(),
        temp(json!(last), "-3")
    );
    let v = p
        .get(&format!("/api/v1/query?query=e2e_temp&time={b}.5"))
        .json();
    assert_eq!(v["data"]["result"][0]["value"][0], json!(b as f64 + 0.5));
    assert_eq!(v["data"]["result"][0]["value"][1], "21.5");
    // Go's shortest round-trip floats, +Inf, -Inf and NaN as strings.
    let scalar = |q: &str| {
        p.get(&format!("/api/v1/query?query={}&time=1", encode(q)))
            .json()
    };
    assert_eq!(
        scalar("0.1 + 0.2")["data"],
        json!({"resultType": "scalar", "result": [1, "0.30000000000000004"]})
    );
    assert_eq!(
        scalar("1e21")["data"]["result"][1],
        "1000000000000000000000"
    );
    assert_eq!(scalar("1/0")["data"]["result"][1], "+Inf");
    assert_eq!(scalar("-1/0")["data"]["result"][1], "-Inf");
    assert_eq!(scalar("0/0")["data"]["result"][1], "NaN");

    // Range queries: step as float seconds or a duration, GET and form POST.
    let matrix = success(json!({"resultType": "matrix", "result": [{
        "metric": {"__name__": "e2e_temp", "room": "a"},
        "values": [[b, "21.5"], [b + 15, "0.1"], [b + 30, "-3"]],
    }]}));
    for step in ["15", "15.0", "15s"] {
        let q = format!("/api/v1/query_range?query=e2e_temp&start={b}&end={last}&step={step}");
        assert_eq!(p.get(&q).json(), matrix, "step={step}");
    }
    let form = format!(
        "query=e2e_temp&start={}&end={}&step=15s",
        rfc3339(b),
        rfc3339(last)
    );
    assert_eq!(p.post_form("/api/v1/query_range", &form).json(), matrix);
    let v = p
        .get(&format!(
            "/api/v1/query_range?query=e2e_requests_total&start={b}&end={last}&step=15&limit=1"
        ))
        .json();
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));

    // Annotations travel in the envelope: `infos` for a rate over a gauge.
    let v = p
        .get(&format!(
            "/api/v1/query?query={}&time={last}",
            encode("rate(e2e_temp[1m])")
        ))
        .json();
    assert_eq!(v["status"], "success");
    let infos = v["infos"].as_array().cloned().unwrap_or_default();
    assert!(
        infos.iter().any(|i| i
            .as_str()
            .is_some_and(|s| s.starts_with("PromQL info: metric might not be a counter"))),
        "{v}"
    );
    assert!(v.get("warnings").is_none(), "{v}");
    let v = p
        .get(&format!(
            "/api/v1/query?query=e2e_temp&time={last}&stats=all"
        ))
        .json();
    assert!(
        v["data"]["stats"]["samples"]["totalQueryableSamples"].as_i64() >= Some(1),
        "{v}"
    );
}

/// `secs` as RFC3339 in UTC (`2026-01-02T03:04:05Z`).
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn rfc3339_helper() {
    assert_eq!(rfc3339(1_435_781_451), "2015-07-01T20:10:51Z");
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn every_error_type_with_its_status() {
    let (p, base) = with_data();
    let last = base / 1000 + 30;
    // bad_data → 400 (more in parameter_errors_match_upstream).
    assert_error(
        &p.get("/api/v1/query?query=up&limit=-1"),
        400,
        "bad_data",
        "invalid parameter \"limit\"",
    );
    // execution → 422: two series with one label set after label_replace.
    let dup = "label_replace(e2e_requests_total, \"code\", \"x\", \"\", \"\")";
    assert_error(
        &p.get(&format!("/api/v1/query?query={}&time={last}", encode(dup))),
        422,
        "execution",
        "vector cannot contain metrics with the same labelset",
    );
    // timeout → 503: the request's own timeout, shorter than --query.timeout.
    let b = base / 1000;
    for q in [
        format!("/api/v1/query?query=e2e_temp&time={last}&timeout=0s"),
        format!("/api/v1/query_range?query=e2e_temp&start={b}&end={last}&step=15&timeout=0"),
    ] {
        assert_error(&p.get(&q), 503, "timeout", "query timed out");
    }
    // ... and a generous one changes nothing.
    let v = p
        .get(&format!(
            "/api/v1/query?query=e2e_temp&time={last}&timeout=1m"
        ))
        .json();
    assert_eq!(v["status"], "success", "{v}");
    // not_found → 404: metadata of a metric no target exposes.
    assert_error(
        &p.get("/api/v1/targets/metadata?metric=no_such_metric"),
        404,
        "not_found",
        "specified metadata not found",
    );
    // unavailable → 503: admin endpoints without --web.enable-admin-api.
    assert_error(
        &p.post("/api/v1/admin/tsdb/clean_tombstones"),
        503,
        "unavailable",
        "admin APIs disabled",
    );
    // A known endpoint with a method it does not take: 405, as upstream's router.
    assert_eq!(p.request("DELETE", "/api/v1/query", &[], b"").status, 405);
    // internal → 500: upstream's (never built) DELETE /series, answered alike.
    assert_error(
        &p.request("DELETE", "/api/v1/series?match[]=up", &[], b""),
        500,
        "internal",
        "not implemented",
    );
    assert_eq!(p.post("/api/v1/status/config").status, 405);
}

#[test]
fn remaining_endpoints_reject_bad_parameters() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    // Handler audited elsewhere; here only that a bad limit is a client error.
    let r = p.get("/api/v1/status/tsdb?limit=0");
    assert_eq!(
        (r.status, r.json()["errorType"].clone()),
        (400, json!("bad_data"))
    );
    let v = p.get("/api/v1/targets?scrapePool=no_such_pool").json();
    assert_eq!(v["data"]["activeTargets"], json!([]), "{v}");
    let v = p.get("/api/v1/targets?state=dropped").json();
    assert_eq!(v["data"]["activeTargets"], json!([]), "{v}");
    assert_eq!(v["data"]["droppedTargets"], json!([]), "{v}");
    let v = p.get("/api/v1/rules?type=alert").json();
    assert_eq!(v, success(json!({"groups": []})));
    assert_error(
        &p.get("/api/v1/query_exemplars?query=up%7B"),
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
    assert_error(
        &p.get("/api/v1/query_exemplars?query=up&start=x"),
        400,
        "bad_data",
        "invalid parameter \"start\"",
    );
    assert_error(
        &p.get("/api/v1/query_exemplars?query=up&start=100&end=99"),
        400,
        "bad_data",
        "end timestamp must not be before start timestamp",
    );
    let v = p
        .post_form("/api/v1/query_exemplars", "query=up&start=0&end=100")
        .json();
    assert_eq!(v, success(json!([])));
    assert_error(
        &p.get("/api/v1/metadata?limit=x"),
        400,
        "bad_data",
        "invalid parameter \"limit\"",
    );
    assert_error(
        &p.get("/api/v1/metadata?limit_per_metric=-2"),
        400,
        "bad_data",
        "invalid parameter \"limit_per_metric\"",
    );
    assert_error(
        &p.get("/api/v1/targets/metadata?match_target=%7B"),
        400,
        "bad_data",
        "invalid parameter \"match_target\"",
    );
    assert_error(
        &p.post_form("/api/v1/format_query", "query=sum(rate(x[5m]"),
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
    let v = p
        .post_form(
            "/api/v1/format_query",
            "query=foo%7Bb%3D%22x%22%2Ca%3D%22y%22%7D",
        )
        .json();
    assert_eq!(v, success(json!("foo{a=\"y\",b=\"x\"}")));
    assert_error(
        &p.get("/api/v1/query_range?query=up&start=0&end=10"),
        400,
        "bad_data",
        "invalid parameter \"step\"",
    );
    assert_error(
        &p.get("/api/v1/query_range?query=up&end=10&step=1"),
        400,
        "bad_data",
        "invalid parameter \"start\"",
    );
    assert_error(
        &p.get("/api/v1/query_range?query=up%7B&start=0&end=10&step=1"),
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
    // Exactly 11,000 points is allowed; one step smaller is not.
    let ok = p.get("/api/v1/query_range?query=1&start=0&end=11000&step=1");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_error(
        &p.get("/api/v1/query_range?query=1&start=0&end=11001&step=1"),
        400,
        "bad_data",
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    );
}

#[test]
fn federate_with_data_external_labels_and_staleness() {
    let (p, base) = with_data();
    let last = base + 30_000;
    let q = format!(
        "/federate?match[]=e2e_requests_total&match[]={}&match[]={}",
        encode("{room=~\".+\"}"),
        encode("{code=\"500\"}")
    );
    let r = p.get(&q);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("Content-Type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.headers
    );
    // The stale series is left out; GOOD_CONFIG's external label and an
    // empty instance are appended after the series' own labels, as upstream.
    assert_eq!(
        r.text(),
        format!(
            "# TYPE e2e_requests_total untyped\n\
             e2e_requests_total{{code=\"200\",job=\"api\",instance=\"\",replica=\"e2e\"}} 40 {last}\n\
             e2e_requests_total{{code=\"500\",job=\"api\",instance=\"\",replica=\"e2e\"}} 2 {last}\n\
             # TYPE e2e_temp untyped\n\
             e2e_temp{{room=\"a\",instance=\"\",replica=\"e2e\"}} -3 {last}\n"
        )
    );
    let r = p.get("/federate?match[]=e2e_gone");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    let r = p.get("/federate?match[]=-not-a-metric");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("parse error"), "{}", r.text());
}

#[test]
fn responses_are_gzipped_when_accepted() {
    use std::io::Read as _;
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let q = "/api/v1/query_range?query=vector(1)&start=0&end=1000&step=1";
    let plain = p.get(q);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("Content-Encoding"), None);
    for accept in ["gzip", "deflate, gzip;q=1.0, br", " br , gzip "] {
        let r = p.request("GET", q, &[("Accept-Encoding", accept)], b"");
        assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{accept}");
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(r.body.as_slice())
            .read_to_end(&mut body)
            .expect("valid gzip");
        assert_eq!(body, plain.body, "{accept}");
        assert!(r.body.len() < plain.body.len());
    }
    let r = p.request("GET", q, &[("Accept-Encoding", "br")], b"");
    assert_eq!(r.header("Content-Encoding"), None);
    // Federation and the UI are compressed too.
    let r = p.request(
        "GET",
        "/static/chart.js",
        &[("Accept-Encoding", "gzip")],
        b"",
    );
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
}
