//! End-to-end: start-up, readiness, reload (SIGHUP and HTTP, good and bad
//! config), shutdown (SIGTERM and HTTP), lifecycle protection, exit codes,
//! route prefix, and the self-metrics — against the real binary.

use crate::common;

use std::time::Duration;

use common::{run_to_exit, Promlite, BAD_CONFIG, GOOD_CONFIG};

#[test]
fn ready_healthy_and_metrics() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let r = p.get("/-/healthy");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Prometheus Server is Healthy.\n")
    );
    let r = p.get("/-/ready");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Prometheus Server is Ready.\n")
    );
    let m = p.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m
        .header("Content-Type")
        .unwrap_or("")
        .starts_with("text/plain; version=0.0.4"));
    let text = m.text();
    for name in [
        "prometheus_build_info{",
        "prometheus_ready 1",
        "prometheus_config_last_reload_successful 1",
        "prometheus_config_last_reload_success_timestamp_seconds ",
        "prometheus_http_requests_total{code=\"200\",handler=\"/-/ready\"}",
        "prometheus_http_request_duration_seconds_bucket{handler=\"/-/healthy\",le=\"0.1\"}",
        "prometheus_http_response_size_bytes_bucket{handler=\"/-/ready\",le=\"100\"} ",
        "# TYPE prometheus_http_request_duration_seconds histogram",
        "prometheus_http_request_duration_seconds_count{handler=\"/-/healthy\"} ",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ",
        "process_start_time_seconds ",
        "process_open_fds ",
        "process_max_fds ",
    ] {
        assert!(text.contains(name), "missing {name} in /metrics:\n{text}");
    }
    let r = p.get("/nope");
    assert_eq!(r.status, 404);
    let r = p.get("/");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("/graph"));
}

#[test]
fn metrics_are_gzipped_when_accepted() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let r = p.request("GET", "/metrics", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    let mut d = flate2::read::GzDecoder::new(&r.body[..]);
    let mut s = String::new();
    std::io::Read::read_to_string(&mut d, &mut s).unwrap();
    assert!(s.contains("prometheus_build_info"));
}

/// The value of an unlabelled metric on `/metrics`.
fn metric(p: &Promlite, name: &str) -> f64 {
    let text = p.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[test]
fn reload_over_http_good_and_bad() {
    let p = Promlite::start(GOOD_CONFIG, &["--web.enable-lifecycle"]);
    let r = p.post("/-/reload");
    assert_eq!(r.status, 200, "{}", r.text());
    let stamp = "prometheus_config_last_reload_success_timestamp_seconds";
    let good_at = metric(&p, stamp);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - good_at).abs() < 60.0, "{good_at} vs {now}");

    p.write_config(BAD_CONFIG);
    let r = p.post("/-/reload");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("couldn't load configuration"),
        "{}",
        r.text()
    );
    assert!(p.wait_metric("prometheus_config_last_reload_successful", "0"));
    // A failed reload leaves the last success time alone.
    assert_eq!(metric(&p, stamp), good_at);
    // The old config keeps serving.
    let y = p.get("/api/v1/status/config").json();
    assert!(
        y["data"]["yaml"].as_str().unwrap().contains("replica"),
        "{y}"
    );
    assert_eq!(p.get("/-/ready").status, 200);

    p.write_config(&GOOD_CONFIG.replace("e2e", "second"));
    let r = p.put_reload();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(p.wait_metric("prometheus_config_last_reload_successful", "1"));
    assert!(metric(&p, stamp) >= good_at);
    let y = p.get("/api/v1/status/config").json();
    assert!(
        y["data"]["yaml"].as_str().unwrap().contains("second"),
        "{y}"
    );
}

trait PutReload {
    fn put_reload(&self) -> common::HttpResponse;
}

impl PutReload for Promlite {
    fn put_reload(&self) -> common::HttpResponse {
        self.request("PUT", "/-/reload", &[], b"")
    }
}

#[test]
fn reload_by_sighup_good_and_bad() {
    let mut p = Promlite::start(GOOD_CONFIG, &[]);
    p.write_config(BAD_CONFIG);
    p.signal(libc::SIGHUP);
    assert!(p.wait_metric("prometheus_config_last_reload_successful", "0"));
    assert_eq!(p.get("/-/ready").status, 200);
    // The old config keeps serving.
    let y = p.get("/api/v1/status/config").json();
    assert!(
        y["data"]["yaml"].as_str().unwrap_or("").contains("e2e"),
        "{y}"
    );
    p.write_config(&GOOD_CONFIG.replace("e2e", "after-hup"));
    p.signal(libc::SIGHUP);
    assert!(p.wait_metric("prometheus_config_last_reload_successful", "1"));
    let y = p.get("/api/v1/status/config").json();
    assert!(
        y["data"]["yaml"]
            .as_str()
            .unwrap_or("")
            .contains("after-hup"),
        "{y}"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(15)).code(), Some(0));
    // The failed reload was logged with its reason.
    let log = p.stderr();
    assert!(
        log.lines().any(|l| l.contains("level=ERROR")
            && l.contains("Error reloading config")
            && l.contains("couldn't load configuration")),
        "{log}"
    );
}

#[test]
fn lifecycle_is_forbidden_without_flag() {
    let p = Promlite::start(GOOD_CONFIG, &[]);
    let r = p.post("/-/reload");
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, "Lifecycle API is not enabled.\n")
    );
    let r = p.post("/-/quit");
    assert_eq!(r.status, 403);
    assert_eq!(p.get("/-/ready").status, 200);
}

#[test]
fn quit_over_http_exits_zero() {
    let mut p = Promlite::start(GOOD_CONFIG, &["--web.enable-lifecycle"]);
    let r = p.post("/-/quit");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Requesting termination... Goodbye!");
    let s = p.wait_exit(Duration::from_secs(15));
    assert_eq!(s.code(), Some(0));
}

#[test]
fn sigterm_exits_zero() {
    let mut p = Promlite::start(GOOD_CONFIG, &[]);
    p.signal(libc::SIGTERM);
    let s = p.wait_exit(Duration::from_secs(15));
    assert_eq!(s.code(), Some(0));
    let log = p.stderr();
    assert!(
        log.contains("Received an OS signal, exiting gracefully..."),
        "{log}"
    );
    assert!(log.contains("level=INFO"), "{log}");
    // Neither retention flag given: upstream's default, logged with the duration as a field.
    assert!(
        log.contains(
            "msg=\"No time or size retention was set so using the default time retention\" duration=15d"
        ),
        "{log}"
    );
}

#[test]
fn log_level_filters() {
    let mut p = Promlite::start(GOOD_CONFIG, &["--log.level=warn"]);
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(15)).code(), Some(0));
    let log = p.stderr();
    assert!(
        log.contains("level=WARN") && log.contains("Received an OS signal"),
        "{log}"
    );
    assert!(!log.contains("level=INFO"), "{log}");
    assert!(!log.contains("level=DEBUG"), "{log}");
}

#[test]
fn both_flag_forms() {
    // The harness passes `--flag=value`; these follow as `--flag value`.
    let p = Promlite::start(
        GOOD_CONFIG,
        &[
            "--query.lookback-delta",
            "1m",
            "--web.page-title",
            "split form",
            "--storage.tsdb.retention.size",
            "1GB",
        ],
    );
    let flags = p.get("/api/v1/status/flags").json();
    assert_eq!(flags["data"]["query.lookback-delta"], "1m", "{flags}");
    assert_eq!(flags["data"]["web.page-title"], "split form", "{flags}");
    assert_eq!(
        flags["data"]["storage.tsdb.retention.size"], "1GiB",
        "{flags}"
    );
    assert_eq!(
        flags["data"]["web.listen-address"],
        format!("127.0.0.1:{}", p.port),
        "{flags}"
    );
}

/// The crate rules, checked on the resolved dependency graph
/// (`Cargo.lock` holds every package `cargo tree` can show, for every
/// target) and on the manifest.
#[test]
fn crate_has_no_async_runtime_and_keeps_unwinding() {
    let root = env!("CARGO_MANIFEST_DIR");
    let lock = std::fs::read_to_string(format!("{root}/Cargo.lock")).unwrap();
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect();
    assert!(packages.contains(&"crossbeam-channel"), "{packages:?}");
    for p in &packages {
        let runtime = p.starts_with("tokio")
            || p.starts_with("async-")
            || matches!(
                *p,
                "smol" | "futures-executor" | "glommio" | "actix-rt" | "mio" | "embassy-executor"
            );
        assert!(!runtime, "async runtime {p:?} in Cargo.lock");
    }
    // serde_yaml is archived upstream: the maintained fork under the old name.
    assert!(packages.contains(&"serde_norway"), "{packages:?}");
    assert!(!packages.contains(&"serde_yaml"), "{packages:?}");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let dep = manifest
        .lines()
        .find(|l| l.starts_with("serde_yaml "))
        .unwrap_or("");
    assert!(dep.contains("package = \"serde_norway\""), "{dep}");
    // A panic in one scrape or HTTP handler must be catchable in release too.
    let release = manifest
        .split("\n[")
        .find(|s| s.starts_with("profile.release]"))
        .unwrap_or("");
    assert!(
        release
            .lines()
            .any(|l| l.replace(' ', "") == "panic=\"unwind\""),
        "[profile.release] must keep panic = \"unwind\":\n{release}"
    );
    assert!(!manifest.contains("panic = \"abort\""), "{manifest}");
}

#[test]
fn json_logs() {
    let mut p = Promlite::start(GOOD_CONFIG, &["--log.format=json"]);
    p.signal(libc::SIGINT);
    assert_eq!(p.wait_exit(Duration::from_secs(15)).code(), Some(0));
    let log = p.stderr();
    let first = log.lines().next().unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(v["level"], "INFO");
}

#[test]
fn bad_flags_exit_like_upstream() {
    let (code, _, err) = run_to_exit(&["--no-such-flag"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for (arg, flag) in [
        ("--query.timeout=forever", "--query.timeout"),
        (
            "--storage.tsdb.retention.time=5x",
            "--storage.tsdb.retention.time",
        ),
        (
            "--storage.tsdb.retention.size=12QB",
            "--storage.tsdb.retention.size",
        ),
        (
            "--storage.tsdb.retention.size=100",
            "--storage.tsdb.retention.size",
        ),
    ] {
        let (code, _, err) = run_to_exit(&[arg]);
        assert_eq!(code, 2, "{arg}: {err}");
        assert!(err.contains(flag), "{arg}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{arg}: {err}");
    }
    let (code, _, err) = run_to_exit(&["--storage.tsdb.wal-segment-size=1MB"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("between 10MB and 256MB"), "{err}");
    let (code, _, err) = run_to_exit(&["--storage.agent.path=x"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("can only be used in agent mode"), "{err}");
    let (code, _, err) = run_to_exit(&["--agent", "--query.timeout=1m"]);
    assert_eq!(code, 3);
    assert!(err.contains("can not be used in agent mode"), "{err}");
}

/// Flag values checked after parsing, before the config: exit 2 as upstream.
#[test]
fn bad_external_url_or_cors_regex_exit_two() {
    let (code, _, err) = run_to_exit(&[
        "--web.external-url='http://example.com/'",
        "--config.file=/nonexistent/promlite.yml",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("external URL"), "{err}");
    let (code, _, err) = run_to_exit(&[
        "--web.cors.origin=(unclosed",
        "--config.file=/nonexistent/promlite.yml",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("could not compile CORS regex"), "{err}");
}

#[test]
fn bad_config_exits_two() {
    let mut p = Promlite::spawn(BAD_CONFIG, &[]);
    let s = p.wait_exit(Duration::from_secs(15));
    assert_eq!(s.code(), Some(2));
    let log = p.stderr();
    assert!(log.contains("Error loading config"), "{log}");
    assert!(log.contains("prometheus.yml"), "{log}");
}

#[test]
fn missing_config_exits_two() {
    let (code, _, err) = run_to_exit(&[
        "--config.file=/nonexistent/promlite.yml",
        "--web.listen-address=127.0.0.1:0",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn help_and_version() {
    let (code, out, _) = run_to_exit(&["--help"]);
    assert_eq!(code, 0);
    for f in [
        "--config.file",
        "--web.listen-address",
        "--storage.tsdb.retention.time",
        "--query.max-samples",
        "--enable-feature",
        "--log.format",
    ] {
        assert!(out.contains(f), "--help lacks {f}");
    }
    let (code, out, _) = run_to_exit(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("promlite, version "), "{out}");
}

#[test]
fn route_prefix() {
    let p = Promlite::start(GOOD_CONFIG, &["--web.route-prefix=/prom"]);
    assert_eq!(p.get("/-/healthy").status, 200);
    let bare = p.try_request("GET", "/-/healthy", &[], b"").unwrap();
    assert_eq!(bare.status, 404);
    assert_eq!(p.get("/api/v1/labels").status, 200);
}

#[test]
fn taken_port_is_a_startup_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.yml");
    std::fs::write(&cfg, GOOD_CONFIG).unwrap();
    let (code, _, err) = run_to_exit(&[
        &format!("--config.file={}", cfg.display()),
        &format!("--web.listen-address=127.0.0.1:{port}"),
        &format!("--storage.tsdb.path={}", dir.path().display()),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Unable to start web listeners"), "{err}");
}

#[test]
fn semantically_invalid_config_exits_two_and_fails_reload() {
    let dup = "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['x:1']}]\n  - job_name: a\n    static_configs: [{targets: ['x:2']}]\n";
    let mut p = Promlite::spawn(dup, &[]);
    assert_eq!(p.wait_exit(Duration::from_secs(15)).code(), Some(2));
    let log = p.stderr();
    assert!(
        log.contains("found multiple scrape configs with job name"),
        "{log}"
    );

    let p = Promlite::start(GOOD_CONFIG, &["--web.enable-lifecycle"]);
    p.write_config(dup);
    let r = p.post("/-/reload");
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .contains("found multiple scrape configs with job name"),
        "{}",
        r.text()
    );
    p.write_config("scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: [{role: pod}]\n");
    let r = p.post("/-/reload");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("is not supported by promlite"),
        "{}",
        r.text()
    );
}

/// `--web.read-timeout` also bounds an idle `accept()`: a server nobody
/// connects to for longer than that must still be there afterwards (it used
/// to stop serving and shut down).
#[test]
fn a_quiet_server_outlives_its_read_timeout() {
    let p = Promlite::start(GOOD_CONFIG, &["--web.read-timeout=1s"]);
    std::thread::sleep(Duration::from_millis(2500));
    let r = p.get("/-/healthy");
    assert_eq!(r.status, 200);
    let r = p.get("/api/v1/query?query=1");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `/-/ready` answers 503 until the first config load has finished, while
/// `/-/healthy` already answers 200. The load is held back by a rule file
/// that is a FIFO: the rule manager's read blocks until the test writes it.
#[test]
fn ready_only_after_the_first_config_load() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("held.rules");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let config = format!("{GOOD_CONFIG}rule_files: ['{}']\n", fifo.display());
    let p = Promlite::spawn(&config, &[]);
    let healthy = p.wait_for(Duration::from_secs(20), |p| {
        p.try_request("GET", "/-/healthy", &[], b"")
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(healthy.is_some(), "never healthy");
    let r = p.get("/-/ready");
    assert_eq!((r.status, r.text().as_str()), (503, "Service Unavailable"));
    assert_eq!(p.get("/api/v1/labels").status, 503);
    assert!(p.get("/metrics").text().contains("prometheus_ready 0"));

    // A non-blocking open for writing fails until the server opens the FIFO
    // to read it (bounded, so a server that never reads fails the test).
    let writer = p.wait_for(Duration::from_secs(20), |_| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok()
    });
    let mut writer = writer.expect("the server never opened the rule file");
    std::io::Write::write_all(&mut writer, b"groups: []\n").unwrap();
    drop(writer);
    p.wait_ready();
    assert!(p.wait_metric("prometheus_ready", "1"));
}

/// Without `--web.route-prefix`, the path of `--web.external-url` prefixes
/// every endpoint (upstream's default).
#[test]
fn external_url_path_prefixes_every_endpoint() {
    let mut p = Promlite::spawn(
        GOOD_CONFIG,
        &["--web.external-url=http://prom.example.com:1234/ext/"],
    );
    p.prefix = "/ext".to_string();
    p.wait_ready();
    assert_eq!(p.get("/-/healthy").status, 200);
    assert_eq!(p.get("/api/v1/labels").status, 200);
    let bare = p.try_request("GET", "/-/ready", &[], b"").unwrap();
    assert_eq!(bare.status, 404);
    let root = p.get("/");
    assert_eq!(
        (root.status, root.header("Location")),
        (302, Some("/ext/graph"))
    );
    let flags = p.get("/api/v1/status/flags").json();
    assert_eq!(flags["data"]["web.route-prefix"], "/ext", "{flags}");
    assert_eq!(
        flags["data"]["web.external-url"], "http://prom.example.com:1234/ext/",
        "{flags}"
    );
}

/// Secrets in the config never come back out of the API.
#[test]
fn config_secrets_are_masked_in_the_api() {
    let config = format!(
        "{GOOD_CONFIG}  - job_name: private\n    basic_auth:\n      username: u\n      password: hunter2\n    static_configs:\n      - targets: ['localhost:1']\n"
    );
    let p = Promlite::start(&config, &[]);
    let y = p.get("/api/v1/status/config").json();
    let yaml = y["data"]["yaml"].as_str().unwrap_or("");
    assert!(yaml.contains("job_name: private"), "{yaml}");
    assert!(yaml.contains("password: <secret>"), "{yaml}");
    assert!(!yaml.contains("hunter2"), "{yaml}");
}
