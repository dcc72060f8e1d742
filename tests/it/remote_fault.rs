//! The remote-write fault test of issue 9, end to end with the real binary:
//! promlite scrapes a target and remote-writes to a receiver; the receiver
//! goes away (its port closed, not a 5xx), scraping goes on, promlite is
//! restarted during the outage, then the receiver comes back on the same
//! port. Every sample promlite stored must arrive, and none twice: the
//! receiver was cleanly down, so the protocol's at-least-once leaves no room
//! for a duplicate here.

use crate::common::{self, Promlite};
use crate::remote_support::{status, wait_until, Endpoint, Recorded};

use std::collections::BTreeSet;
use std::time::Duration;

use promlite::storage::remote::codec::decode_write_request;

const JOB: &str = "fault";

/// `(series, timestamp ms)` of a sample.
type Key = (String, i64);

/// The target: two counters and a gauge, so each scrape adds a handful of
/// series (with promlite's own `up`, `scrape_*`).
fn start_target() -> common::TestServer {
    common::TestServer::start(|_, _, _| {
        (
            200,
            "# TYPE fault_requests_total counter\nfault_requests_total{code=\"200\"} 10\nfault_requests_total{code=\"500\"} 2\n# TYPE fault_temperature gauge\nfault_temperature 21.5\n".to_string(),
        )
    })
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == 0x7ff0_0000_0000_0002
}

/// The job's samples the receiver accepted: distinct keys and the total
/// count (the difference is duplicates).
fn received(reqs: &[Recorded]) -> (BTreeSet<Key>, usize) {
    let mut set = BTreeSet::new();
    let mut total = 0;
    for r in reqs.iter().filter(|r| (200..300).contains(&r.status)) {
        let Ok(req) = decode_write_request(&r.body) else {
            continue;
        };
        for ts in req.timeseries {
            if !ts.labels.iter().any(|l| l.name == "job" && l.value == JOB) {
                continue;
            }
            let mut labels: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            labels.sort();
            let key = labels.join(",");
            for s in ts.samples.iter().filter(|s| !is_stale(s.value)) {
                total += 1;
                set.insert((key.clone(), s.timestamp));
            }
        }
    }
    (set, total)
}

/// Every non-stale sample promlite holds for the job at or before `at_ms`,
/// read back through a range selector.
fn stored(p: &Promlite, at_ms: i64) -> BTreeSet<Key> {
    let q = format!("{{job=\"{JOB}\"}}[1h]");
    let path = format!(
        "/api/v1/query?query={}&time={}",
        common::encode(&q),
        at_ms as f64 / 1000.0
    );
    let v = p.get(&path).json();
    assert_eq!(v["status"], "success", "{v}");
    let mut out = BTreeSet::new();
    for series in v["data"]["result"].as_array().cloned().unwrap_or_default() {
        let mut labels: Vec<String> = series["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let key = labels.join(",");
        for pair in series["values"].as_array().cloned().unwrap_or_default() {
            let t = (pair[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            out.insert((key.clone(), t));
        }
    }
    out
}

fn now_ms() -> i64 {
    promlite::model::value::now_millis()
}

#[test]
fn receiver_outage_across_a_restart_loses_nothing_and_duplicates_nothing() {
    let target = start_target();
    let first = Endpoint::start("/receive", status(204));
    let addr = first.addr();
    let config = format!(
        "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['127.0.0.1:{}']\nremote_write:\n  - url: http://{addr}/receive\n    queue_config:\n      batch_send_deadline: 100ms\n      min_backoff: 20ms\n      max_backoff: 200ms\n    metadata_config:\n      send: false\n",
        target.port
    );
    let flags = ["--storage.remote.flush-deadline=1s"];
    let p = Promlite::start(&config, &flags);
    // Phase 1: the receiver is up and gets samples.
    assert!(
        wait_until(Duration::from_secs(20), || received(&first.recorded())
            .0
            .len()
            >= 20),
        "the receiver got samples before the outage"
    );

    // Phase 2: the receiver goes away; scraping goes on.
    let mut reqs = first.recorded();
    drop(first);
    let outage_start = now_ms();
    std::thread::sleep(Duration::from_millis(1500));

    // Phase 3: promlite restarts during the outage and scrapes on.
    let dir = p.stop_and_keep_dir();
    let p = Promlite::start_in(dir, &config, &flags);
    std::thread::sleep(Duration::from_millis(1500));
    let scraped_in_outage = stored(&p, now_ms())
        .iter()
        .filter(|k| k.1 > outage_start)
        .count();
    assert!(
        scraped_in_outage > 20,
        "scraping went on during the outage ({scraped_in_outage} samples)"
    );

    // Phase 4: the receiver comes back on the same port.
    let back = Endpoint::start_at(&addr, "/receive", status(204));
    // Samples up to `cut` are compared; later scrapes may still be in flight.
    std::thread::sleep(Duration::from_millis(500));
    let cut = now_ms() - 300;
    std::thread::sleep(Duration::from_millis(500));
    let local = stored(&p, cut);
    assert!(!local.is_empty());
    let upto =
        |s: &BTreeSet<Key>| -> BTreeSet<Key> { s.iter().filter(|k| k.1 <= cut).cloned().collect() };
    let all_arrived = wait_until(Duration::from_secs(30), || {
        let mut r = reqs.clone();
        r.extend(back.recorded());
        local.is_subset(&upto(&received(&r).0))
    });
    reqs.extend(back.recorded());
    drop(p);
    let (set, total) = received(&reqs);
    let got = upto(&set);
    let missing: Vec<&Key> = local.difference(&got).take(5).collect();
    assert!(
        all_arrived,
        "{} of {} stored samples arrived; missing e.g. {missing:?}",
        local.len() - local.difference(&got).count(),
        local.len()
    );
    // Nothing arrived that promlite does not hold (compare counts both ways).
    assert_eq!(got.len(), local.len(), "received == stored up to the cut");
    assert_eq!(total, set.len(), "{} samples sent twice", total - set.len());
}
