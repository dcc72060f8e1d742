//! Remote write end to end: a queue tails an in-memory WAL and sends to an
//! HTTP receiver on 127.0.0.1 — delivery and headers, retries on 5xx and
//! 429, no retry on 400, resharding bounds, flush on shutdown, an outage
//! that outlasts a restart, reload keeping queues, and promlite's own
//! receiver on the other end.

use crate::remote_support;

use std::sync::Arc;
use std::time::Duration;

use promlite::model::Labels;
use promlite::storage::memory::MemStorage;
use promlite::storage::remote::codec::decode_write_request;
use promlite::storage::remote::settings::{Authorization, BasicAuth, Secret, WriteRelabel};
use promlite::storage::remote::wal::{MemWal, RefSample, RefSeries};
use promlite::storage::remote::{
    handle_write, QueueManager, QueueOptions, RemoteConfig, RemoteStorage, RemoteWriteSettings,
};
use promlite::storage::Queryable;
use remote_support::{status, wait_until, Endpoint, Recorded};

const WAIT: Duration = Duration::from_secs(10);

fn settings(url: &str) -> RemoteWriteSettings {
    let mut s = RemoteWriteSettings::new(url);
    s.queue.batch_send_deadline = Duration::from_millis(20);
    s.queue.min_backoff = Duration::from_millis(5);
    s.queue.max_backoff = Duration::from_millis(20);
    s.queue.max_samples_per_send = 100;
    s.queue.capacity = 1000;
    s.http.timeout = Duration::from_secs(5);
    s
}

fn options() -> QueueOptions {
    QueueOptions {
        poll_interval: Duration::from_millis(10),
        flush_deadline: Duration::from_secs(5),
        ..QueueOptions::default()
    }
}

fn series(r: u64, name: &str) -> RefSeries {
    RefSeries {
        series_ref: r,
        labels: Labels::from_pairs(&[("__name__", name), ("job", "test")]),
    }
}

fn samples(r: u64, ts: std::ops::Range<i64>) -> Vec<RefSample> {
    ts.map(|t| RefSample {
        series_ref: r,
        t,
        v: t as f64 * 2.0,
    })
    .collect()
}

fn samples_at(base: i64, r: u64, ts: std::ops::Range<i64>) -> Vec<RefSample> {
    ts.map(|t| RefSample {
        series_ref: r,
        t: base + t,
        v: t as f64,
    })
    .collect()
}

/// Every (labels, t, v) in the requests answered with 2xx.
fn delivered(reqs: &[Recorded]) -> Vec<(Labels, i64, f64)> {
    let mut out = Vec::new();
    for r in reqs.iter().filter(|r| (200..300).contains(&r.status)) {
        let req = decode_write_request(&r.body).expect("valid write request");
        for ts in req.timeseries {
            let labels = Labels::new(
                ts.labels
                    .iter()
                    .map(|l| promlite::model::Label::new(l.name.clone(), l.value.clone()))
                    .collect(),
            );
            for s in ts.samples {
                out.push((labels.clone(), s.timestamp, s.value));
            }
        }
    }
    out
}

fn sample_count(reqs: &[Recorded]) -> usize {
    reqs.iter()
        .map(|r| {
            decode_write_request(&r.body)
                .map(|w| w.timeseries.iter().map(|t| t.samples.len()).sum::<usize>())
                .unwrap_or(0)
        })
        .sum()
}

/// The value of one queue metric (found by its `url` label; every test
/// has its own endpoint port) in the process's registry.
fn queue_metric(name: &str, url: &str) -> Option<f64> {
    let exposition = promlite::telemetry::global().render();
    let url_label = format!("url=\"{url}\"}} ");
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find_map(|l| l.split_once(&url_label))
        .and_then(|(_, v)| v.trim().parse().ok())
}

fn start(s: RemoteWriteSettings, ext: Labels, wal: &MemWal, opts: QueueOptions) -> QueueManager {
    let q = QueueManager::start(s, ext, Arc::new(wal.clone()), opts).expect("queue starts");
    assert!(wait_until(WAIT, || q.is_started()), "queue positioned");
    q
}

#[test]
fn samples_arrive_with_protocol_headers_external_labels_and_relabeling() {
    let ep = Endpoint::start("/api/v1/write", status(204));
    let wal = MemWal::new();
    wal.log_series(&[series(1, "up"), series(2, "dropped_metric")]);
    wal.log_samples(&samples(1, 0..5)); // before start: not sent (upstream)
    let mut s = settings(&ep.url);
    s.http.basic_auth = Some(BasicAuth {
        username: "user".into(),
        password: Some(Secret::Inline("pass".into())),
    });
    s.http
        .headers
        .insert("X-Scope-OrgID".into(), "tenant-1".into());
    s.write_relabel = WriteRelabel {
        rules_id: "drop dropped_metric".into(),
        apply: Some(Arc::new(|l: &Labels| {
            (l.metric_name() != Some("dropped_metric")).then(|| l.clone())
        })),
    };
    let q = start(s, Labels::from_pairs(&[("cluster", "c1")]), &wal, options());
    wal.log_samples(&samples(1, 10..20));
    wal.log_samples(&samples(2, 10..20));
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() >= 10));
    // Upstream's metric names and labels, so its dashboards work. The
    // receiver records a request before it answers, so the sender counts a
    // moment after the samples arrived.
    let name = q.settings().remote_name();
    let samples_line = format!(
        "prometheus_remote_storage_samples_total{{remote_name=\"{name}\",url=\"{}\"}} 10\n",
        ep.url
    );
    let counted = wait_until(WAIT, || {
        promlite::telemetry::global()
            .render()
            .contains(&samples_line)
    });
    let exposition = promlite::telemetry::global().render();
    for metric in [
        "prometheus_remote_storage_samples_total",
        "prometheus_remote_storage_samples_dropped_total",
        "prometheus_remote_storage_samples_failed_total",
        "prometheus_remote_storage_samples_retried_total",
        "prometheus_remote_storage_bytes_total",
        "prometheus_remote_storage_shards",
        "prometheus_remote_storage_samples_pending",
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
    ] {
        let line = format!("{metric}{{remote_name=\"{name}\",url=\"{}\"}}", ep.url);
        assert!(exposition.contains(&line), "{line} missing");
    }
    assert!(counted, "10 samples counted");
    q.stop();

    let got = delivered(&ep.recorded());
    assert_eq!(
        got.len(),
        10,
        "only new samples of the kept series: {got:?}"
    );
    let ts: Vec<i64> = got.iter().map(|g| g.1).collect();
    assert_eq!(ts, (10..20).collect::<Vec<_>>(), "in WAL order");
    assert!(got.iter().all(|g| g.2 == g.1 as f64 * 2.0));
    assert_eq!(got[0].0.get("cluster"), Some("c1"));
    assert_eq!(got[0].0.metric_name(), Some("up"));

    let r = &ep.recorded()[0];
    assert_eq!(r.header("Content-Encoding"), Some("snappy"));
    assert_eq!(r.header("Content-Type"), Some("application/x-protobuf"));
    assert_eq!(r.header("X-Prometheus-Remote-Write-Version"), Some("0.1.0"));
    assert!(r
        .header("User-Agent")
        .unwrap_or("")
        .starts_with("Prometheus/"));
    assert_eq!(r.header("Authorization"), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(r.header("X-Scope-OrgID"), Some("tenant-1"));
}

#[test]
fn retries_on_503_then_succeeds_once() {
    let ep = Endpoint::start("/w", status(503));
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let q = start(settings(&ep.url), Labels::empty(), &wal, options());
    wal.log_samples(&samples(1, 100..103));
    q.notify();
    assert!(wait_until(WAIT, || ep.count() >= 3), "retried");
    ep.set_handler(status(200));
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 3));
    std::thread::sleep(Duration::from_millis(100));
    q.stop();
    let recs = ep.recorded();
    assert_eq!(delivered(&recs).len(), 3, "delivered exactly once");
    // Each failed attempt counts its samples as retried, none as failed.
    let failed_attempts = recs.iter().filter(|r| r.status == 503).count();
    assert_eq!(
        queue_metric("prometheus_remote_storage_samples_retried_total", &ep.url),
        Some(3.0 * failed_attempts as f64)
    );
    assert_eq!(
        queue_metric("prometheus_remote_storage_samples_failed_total", &ep.url),
        Some(0.0)
    );
    assert_eq!(
        queue_metric("prometheus_remote_storage_samples_total", &ep.url),
        Some(3.0)
    );
    // Every attempt carried the same batch.
    assert!(recs
        .iter()
        .all(|r| sample_count(std::slice::from_ref(r)) == 3));
}

#[test]
fn no_retry_on_400_and_the_queue_moves_on() {
    let ep = Endpoint::start("/w", status(400));
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let q = start(settings(&ep.url), Labels::empty(), &wal, options());
    wal.log_samples(&samples(1, 0..3));
    q.notify();
    assert!(wait_until(WAIT, || ep.count() >= 1));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(ep.count(), 1, "a 400 is not retried");
    // The rejected batch counts as done: the next samples go out.
    ep.set_handler(status(204));
    wal.log_samples(&samples(1, 3..5));
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 2));
    let pos = q.delivered();
    q.stop();
    assert!(pos.offset > 0, "progress passed the rejected batch");
    assert_eq!(
        queue_metric("prometheus_remote_storage_samples_failed_total", &ep.url),
        Some(3.0),
        "the rejected batch counts as failed"
    );
    assert_eq!(
        queue_metric("prometheus_remote_storage_samples_retried_total", &ep.url),
        Some(0.0)
    );
}

#[test]
fn http_429_is_final_unless_retry_on_http_429() {
    for retry in [false, true] {
        let ep = Endpoint::start("/w", status(429));
        let wal = MemWal::new();
        wal.log_series(&[series(1, "a")]);
        let mut s = settings(&ep.url);
        s.queue.retry_on_http_429 = retry;
        let q = start(s, Labels::empty(), &wal, options());
        wal.log_samples(&samples(1, 0..1));
        q.notify();
        assert!(wait_until(WAIT, || ep.count() >= 1));
        std::thread::sleep(Duration::from_millis(200));
        let n = ep.count();
        ep.set_handler(status(204));
        q.stop();
        if retry {
            assert!(n > 1, "429 retried when enabled ({n} requests)");
        } else {
            assert_eq!(n, 1, "429 not retried by default");
        }
    }
}

#[test]
fn resharding_stays_between_min_and_max_shards() {
    // A slow receiver and a deep backlog make the calculation want many
    // shards; max_shards caps it, min_shards is where it starts.
    let ep = Endpoint::start("/w", move |_, _| {
        std::thread::sleep(Duration::from_millis(15));
        (204, Vec::new(), Vec::new())
    });
    let wal = MemWal::new();
    wal.log_series(
        &(1..=50)
            .map(|r| series(r, &format!("m{r}")))
            .collect::<Vec<_>>(),
    );
    let mut s = settings(&ep.url);
    s.queue.min_shards = 2;
    s.queue.max_shards = 3;
    s.queue.max_samples_per_send = 10;
    s.queue.capacity = 50;
    let opts = QueueOptions {
        shard_update_interval: Duration::from_millis(100),
        ..options()
    };
    let q = start(s, Labels::empty(), &wal, opts);
    assert_eq!(q.num_shards(), 2);
    // Timestamps 10 s apart: the backlog looks hours deep.
    for i in 0..400i64 {
        let r = (i % 50 + 1) as u64;
        wal.log_samples(&[RefSample {
            series_ref: r,
            t: i * 10_000,
            v: 1.0,
        }]);
    }
    q.notify();
    let mut max_seen = 0;
    let reached = wait_until(WAIT, || {
        max_seen = max_seen.max(q.num_shards());
        q.num_shards() == 3
    });
    assert!(reached, "scaled up to max_shards");
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 400));
    assert!(max_seen <= 3);
    q.stop();
}

#[test]
fn shutdown_flushes_partial_batches() {
    let ep = Endpoint::start("/w", status(204));
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let mut s = settings(&ep.url);
    s.queue.batch_send_deadline = Duration::from_secs(60);
    let q = start(s, Labels::empty(), &wal, options());
    wal.log_samples(&samples(1, 0..7));
    q.notify();
    assert!(wait_until(WAIT, || q.pending_samples() == 7));
    assert_eq!(ep.count(), 0, "held back by the 60 s batch deadline");
    q.stop();
    assert_eq!(delivered(&ep.recorded()).len(), 7, "flushed on stop");
}

#[test]
fn outage_that_outlasts_a_restart_is_replayed_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let ep = Endpoint::start("/w", status(204));
    // Recent timestamps: the replay age bound (6 h) must not apply.
    let base = promlite::model::value::now_millis() - 60_000;
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let opts = QueueOptions {
        progress_dir: Some(dir.path().to_path_buf()),
        flush_deadline: Duration::from_millis(200),
        ..options()
    };
    let q = start(settings(&ep.url), Labels::empty(), &wal, opts.clone());
    wal.log_samples(&samples_at(base, 1, 0..10));
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 10));

    // The receiver goes down; scraping goes on; promlite restarts.
    ep.set_handler(status(503));
    for chunk in 0..5 {
        wal.log_samples(&samples_at(base, 1, 10 + chunk * 10..20 + chunk * 10));
    }
    q.notify();
    assert!(wait_until(WAIT, || ep.count() > 2), "sends are failing");
    q.stop(); // flush deadline passes: the backlog is abandoned, not lost
    wal.cut_segment();
    wal.log_samples(&samples_at(base, 1, 60..70));

    let q = start(settings(&ep.url), Labels::empty(), &wal, opts);
    std::thread::sleep(Duration::from_millis(100));
    ep.set_handler(status(204));
    wal.log_samples(&samples_at(base, 1, 70..80));
    q.notify();
    assert!(wait_until(WAIT, || {
        let mut ts: Vec<i64> = delivered(&ep.recorded())
            .iter()
            .map(|d| d.1 - base)
            .collect();
        ts.sort();
        ts.dedup();
        ts.len() == 80
    }));
    q.stop();
    let all = delivered(&ep.recorded());
    let mut ts: Vec<i64> = all.iter().map(|d| d.1 - base).collect();
    ts.sort();
    ts.dedup();
    assert_eq!(ts, (0..80).collect::<Vec<_>>(), "every sample arrived");
    // Duplicates are allowed by the protocol but bounded by one batch per shard.
    assert!(all.len() - 80 <= 100, "{} duplicates", all.len() - 80);
}

#[test]
fn reload_keeps_unchanged_queues_and_replaces_changed_ones() {
    let a = Endpoint::start("/a", status(204));
    let b = Endpoint::start("/b", status(204));
    let wal = MemWal::new();
    let rs = RemoteStorage::new(Arc::new(wal.clone()), options());
    let conf = RemoteConfig {
        external_labels: Labels::empty(),
        remote_write: vec![settings(&a.url), settings(&b.url)],
        remote_read: vec![],
    };
    rs.apply_remote_config(&conf).unwrap();
    let before = rs.queues();
    rs.apply_remote_config(&conf).unwrap();
    let same = rs.queues();
    assert!(Arc::ptr_eq(&before[0], &same[0]) && Arc::ptr_eq(&before[1], &same[1]));
    drop((before, same));

    let mut changed = conf.clone();
    changed.remote_write[1].queue.max_shards = 7;
    let first = rs.queues()[0].clone();
    rs.apply_remote_config(&changed).unwrap();
    let after = rs.queues();
    assert!(Arc::ptr_eq(&first, &after[0]), "unchanged entry kept");
    assert_eq!(after[1].settings().queue.max_shards, 7);
    drop((first, after));

    let mut dup = conf.clone();
    dup.remote_write.push(settings(&a.url));
    assert!(
        rs.apply_remote_config(&dup).is_err(),
        "duplicate entries rejected"
    );
    assert_eq!(
        rs.queues().len(),
        2,
        "old queues still run after a bad reload"
    );
    let mut bad = conf.clone();
    bad.remote_write[0].url = "not a url".into();
    assert!(rs.apply_remote_config(&bad).is_err());
    rs.close();
    assert!(rs.queues().is_empty());
}

#[test]
fn promlite_receiver_accepts_what_promlite_sends() {
    let store = MemStorage::new();
    let sink = store.clone();
    let ep = Endpoint::start("/api/v1/write", move |headers, body| {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = handle_write(body, &h, &sink);
        (r.status, Vec::new(), r.body)
    });
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a"), series(2, "b")]);
    let q = start(
        settings(&ep.url),
        Labels::from_pairs(&[("replica", "1")]),
        &wal,
        options(),
    );
    wal.log_samples(&samples(1, 1000..1010));
    wal.log_samples(&samples(2, 1000..1010));
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 20));
    q.stop();
    assert!(ep.recorded().iter().all(|r| r.status == 204));
    assert_eq!(store.num_series(), 2);
    let querier = store.querier(0, i64::MAX).unwrap();
    let set: Vec<_> = querier
        .select(true, None, &[])
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(set[0].labels().get("replica"), Some("1"));
    let mut it = set[0].iterator();
    let mut n = 0;
    while let Some((t, v)) = it.next() {
        assert_eq!(v, t as f64 * 2.0);
        n += 1;
    }
    assert_eq!(n, 10);
}

#[test]
fn metadata_is_sent_on_its_interval() {
    use promlite::storage::remote::metadata::MetadataSource;
    use promlite::storage::remote::prompb::{MetricMetadata, MetricType};

    struct Fixed;
    impl MetadataSource for Fixed {
        fn metadata(&self) -> Vec<MetricMetadata> {
            (0..5)
                .map(|i| MetricMetadata {
                    r#type: MetricType::Counter as i32,
                    metric_family_name: format!("m{i}_total"),
                    help: "Help.".into(),
                    unit: String::new(),
                })
                .collect()
        }
    }
    let ep = Endpoint::start("/w", status(204));
    let wal = MemWal::new();
    let mut s = settings(&ep.url);
    s.metadata_send_interval = Duration::from_millis(30);
    s.metadata_max_samples_per_send = 2;
    let opts = QueueOptions {
        metadata_source: Some(Arc::new(Fixed)),
        ..options()
    };
    let q = start(s, Labels::empty(), &wal, opts);
    let batches = || {
        ep.recorded()
            .iter()
            .filter_map(|r| decode_write_request(&r.body).ok())
            .filter(|w| !w.metadata.is_empty())
            .map(|w| w.metadata.len())
            .collect::<Vec<_>>()
    };
    assert!(wait_until(WAIT, || batches().len() >= 6), "two rounds");
    q.stop();
    let b = batches();
    assert_eq!(&b[..3], &[2, 2, 1], "batched by max_samples_per_send");
    let n = ep.count();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(ep.count(), n, "stopped with the queue");
}

#[test]
fn retry_after_header_sets_the_retry_delay() {
    use std::sync::Mutex;
    use std::time::Instant;
    let times: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let seen = times.clone();
    let ep = Endpoint::start("/w", move |_, _| {
        let mut t = seen.lock().unwrap();
        t.push(Instant::now());
        if t.len() == 1 {
            (503, vec![("Retry-After".into(), "1".into())], Vec::new())
        } else {
            (204, Vec::new(), Vec::new())
        }
    });
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let q = start(settings(&ep.url), Labels::empty(), &wal, options());
    wal.log_samples(&samples(1, 0..1));
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 1));
    q.stop();
    let t = times.lock().unwrap();
    // min_backoff is 5 ms in these tests: only the header explains the wait.
    assert!(
        t[1] - t[0] >= Duration::from_millis(900),
        "{:?}",
        t[1] - t[0]
    );
}

#[test]
fn flush_deadline_bounds_stop_when_the_receiver_never_answers() {
    // A listener that never accepts: connections complete in the kernel's
    // backlog and requests are never answered, so each send blocks for the
    // whole remote_timeout (30 s) unless the flush deadline cuts it short.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/w", silent.local_addr().unwrap());
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let mut s = settings(&url);
    s.http.timeout = Duration::from_secs(30);
    s.metadata_send = false;
    let opts = QueueOptions {
        flush_deadline: Duration::from_millis(300),
        ..options()
    };
    let q = start(s, Labels::empty(), &wal, opts);
    wal.log_samples(&samples(1, 0..50));
    q.notify();
    // Give the shard time to be inside its request.
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    q.stop();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}, the flush deadline is 300 ms",
        t.elapsed()
    );
}

#[test]
fn capacity_bounds_what_is_read_ahead_and_batches_respect_max_samples_per_send() {
    let ep = Endpoint::start("/w", status(503));
    let wal = MemWal::new();
    wal.log_series(&(1..=5).map(|r| series(r, "m")).collect::<Vec<_>>());
    let mut s = settings(&ep.url);
    s.queue.capacity = 50;
    s.queue.max_samples_per_send = 10;
    s.queue.min_shards = 1;
    s.queue.max_shards = 1;
    let q = start(s, Labels::empty(), &wal, options());
    // 100 records of 5 samples: 500 samples behind a failing receiver.
    for t in 0..100 {
        wal.log_samples(
            &(1..=5)
                .flat_map(|r| samples(r, t..t + 1))
                .collect::<Vec<_>>(),
        );
    }
    q.notify();
    assert!(wait_until(WAIT, || ep.count() >= 3), "sends are failing");
    let mut most = 0;
    for _ in 0..30 {
        most = most.max(q.pending_samples());
        std::thread::sleep(Duration::from_millis(10));
    }
    // The shard's channel (capacity), its batch and the record being
    // handed over: the WAL stays the queue, memory does not grow with it.
    assert!(
        most <= 50 + 10 + 5,
        "{most} samples read ahead of the receiver"
    );
    assert!(most >= 50, "the shard's channel filled up ({most})");
    // Upstream's dashboard panels for the same facts.
    let metric = |name: &str| queue_metric(name, &ep.url);
    assert_eq!(
        metric("prometheus_remote_storage_shard_capacity"),
        Some(50.0)
    );
    assert_eq!(
        metric("prometheus_remote_storage_max_samples_per_send"),
        Some(10.0)
    );
    assert!(
        metric("prometheus_remote_storage_enqueue_retries_total").is_some_and(|v| v > 0.0),
        "a full shard makes enqueue retry"
    );
    ep.set_handler(status(204));
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 500));
    q.stop();
    let sizes: Vec<usize> = ep
        .recorded()
        .iter()
        .map(|r| sample_count(std::slice::from_ref(r)))
        .collect();
    assert!(
        sizes.iter().all(|&n| n <= 10),
        "a request exceeded max_samples_per_send: {sizes:?}"
    );
    assert!(sizes.contains(&10), "full batches are sent: {sizes:?}");
}

#[test]
fn authorization_from_a_credentials_file_is_sent() {
    let ep = Endpoint::start("/w", status(204));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    // A trailing newline in the file is not part of the credentials.
    std::fs::write(&file, "s3cret\n").unwrap();
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let mut s = settings(&ep.url);
    s.http.authorization = Some(Authorization {
        kind: "Bearer".into(),
        credentials: Some(Secret::File(file.clone())),
    });
    let q = start(s, Labels::empty(), &wal, options());
    wal.log_samples(&samples(1, 0..2));
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 2));
    // The file is read per request, so a rotated token is picked up.
    std::fs::write(&file, "rotated").unwrap();
    wal.log_samples(&samples(1, 2..4));
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).len() == 4));
    q.stop();
    let auth: Vec<String> = ep
        .recorded()
        .iter()
        .filter_map(|r| r.header("Authorization").map(str::to_string))
        .collect();
    assert_eq!(auth.first().map(String::as_str), Some("Bearer s3cret"));
    assert_eq!(auth.last().map(String::as_str), Some("Bearer rotated"));
}

#[test]
fn remote_timeout_makes_a_hung_send_recoverable() {
    // Never accepted, never answered: only remote_timeout ends a send.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/w", silent.local_addr().unwrap());
    let wal = MemWal::new();
    wal.log_series(&[series(1, "a")]);
    let mut s = settings(&url);
    s.http.timeout = Duration::from_millis(200);
    let q = start(s, Labels::empty(), &wal, options());
    wal.log_samples(&samples(1, 0..4));
    q.notify();
    // Each attempt times out after 200 ms and is retried with the batch's
    // 4 samples counted as retried.
    let retried = wait_until(Duration::from_secs(5), || {
        queue_metric("prometheus_remote_storage_samples_retried_total", &url)
            .is_some_and(|v| v >= 8.0)
    });
    q.stop();
    assert!(
        retried,
        "timed-out sends were retried ({:?} samples retried)",
        queue_metric("prometheus_remote_storage_samples_retried_total", &url)
    );
    assert_eq!(
        queue_metric("prometheus_remote_storage_samples_failed_total", &url),
        Some(0.0)
    );
}
