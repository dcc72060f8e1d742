//! End-to-end runs of the built `promlite-tool` that need no upstream
//! binaries: query commands against a fake Prometheus API on 127.0.0.1,
//! tsdb commands on a block written by promlite's own block writer,
//! `check metrics` on stdin, and usage errors.

use std::sync::{Arc, Mutex};

use promlite::model::Labels;
use promlite::tsdb::block::{write_block, ChunkData};

use crate::common::{text, tool_with_stdin, xor_chunk, TestServer};

/// A fake Prometheus API: one canned answer per path (404 otherwise);
/// records every request it saw as `METHOD URL BODY`.
struct FakeApi {
    url: String,
    server: TestServer,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeApi {
    fn start(answers: Vec<(&'static str, u16, &'static str)>) -> FakeApi {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = TestServer::start(move |method, url, body| {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{method} {url} {}", String::from_utf8_lossy(&body)));
            let path = url.split('?').next().unwrap_or("");
            answers
                .iter()
                .find(|(p, _, _)| *p == path)
                .map(|(_, code, answer)| (*code, answer.to_string()))
                .unwrap_or((404, "404 page not found\n".to_string()))
        });
        FakeApi {
            url: format!("http://127.0.0.1:{}", server.port),
            server,
            seen,
        }
    }

    /// Stops the server and hands back the requests it saw.
    fn stop(self) -> Vec<String> {
        drop(self.server);
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[test]
fn query_commands_print_as_promtool() {
    let api = FakeApi::start(vec![
        (
            "/api/v1/query",
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"node"},"value":[1700000000.123,"1"]}]}}"#,
        ),
        (
            "/api/v1/query_range",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input inside braces"}"#,
        ),
        (
            "/api/v1/series",
            200,
            r#"{"status":"success","data":[{"__name__":"up","job":"node"}]}"#,
        ),
        (
            "/api/v1/label/job/values",
            200,
            r#"{"status":"success","data":["a&b","node"]}"#,
        ),
    ]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tool_with_stdin(
        &["query", "instant", "--time=1700000000", &api.url, "up"],
        dir.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "up{job=\"node\"} => 1 @[1700000000.123]\n"
    );

    let out = tool_with_stdin(
        &["query", "range", "--start=1", "--end=2", &api.url, "foo{"],
        dir.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "query error: bad_data: 1:5: parse error: unexpected end of input inside braces\n"
    );

    let out = tool_with_stdin(&["query", "series", "--match=up", &api.url], dir.path(), "");
    assert_eq!(text(&out.stdout), "{__name__=\"up\", job=\"node\"}\n");

    let out = tool_with_stdin(
        &["query", "labels", "-o", "json", &api.url, "job"],
        dir.path(),
        "",
    );
    assert_eq!(text(&out.stdout), "[\"a\\u0026b\",\"node\"]\n");

    let seen = api.stop();
    assert!(
        seen.iter()
            .any(|r| r.starts_with("POST /api/v1/query ") && r.contains("time=1700000000")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.starts_with("POST /api/v1/query_range ") && r.contains("step=1")),
        "{seen:?}"
    );
}

#[test]
fn tsdb_list_and_dump_read_a_block() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = xor_chunk(&[(1000, 1.0), (2000, 2.5)]);
    let b = xor_chunk(&[(1500, 1e21)]);
    let meta = write_block(
        dir.path(),
        vec![
            (
                Labels::from_pairs(&[("__name__", "up"), ("job", "b")]),
                vec![ChunkData {
                    min_t: 1000,
                    max_t: 2000,
                    data: &a,
                }],
            ),
            (
                Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
                vec![ChunkData {
                    min_t: 1500,
                    max_t: 1500,
                    data: &b,
                }],
            ),
        ],
        0,
        60_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let out = tool_with_stdin(&["tsdb", "dump", "."], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{__name__=\"up\", job=\"a\"} 1e+21 1500\n{__name__=\"up\", job=\"b\"} 1 1000\n{__name__=\"up\", job=\"b\"} 2.5 2000\n"
    );

    let out = tool_with_stdin(
        &[
            "tsdb",
            "dump",
            "--match=up{job=\"b\"}",
            "--min-time=1500",
            ".",
        ],
        dir.path(),
        "",
    );
    assert_eq!(text(&out.stdout), "{__name__=\"up\", job=\"b\"} 2.5 2000\n");

    let out = tool_with_stdin(&["tsdb", "list", "."], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let mut lines = listing.lines();
    assert_eq!(
        lines.next(),
        Some("BLOCK ULID                  MIN TIME     MAX TIME     DURATION     NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE")
    );
    let row: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        row.get(..7),
        Some(&[meta.ulid.as_str(), "0", "60000", "1m0s", "3", "2", "2"][..])
    );

    let out = tool_with_stdin(&["tsdb", "list", "missing"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "opening the db dir: stat missing: no such file or directory\n"
    );
}

#[test]
fn check_metrics_exit_codes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clean = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
    let out = tool_with_stdin(&["check", "metrics"], dir.path(), clean);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = tool_with_stdin(&["check", "metrics"], dir.path(), "# TYPE a counter\na 1\n");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "a counter metrics should have \"_total\" suffix\na no help text\n"
    );

    let out = tool_with_stdin(&["check", "metrics"], dir.path(), "a{b=1} 1\n");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_errors_and_help() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tool_with_stdin(&["query", "bogus"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "promlite-tool: error: expected command but got \"query bogus\", try --help\n"
    );
    let out = tool_with_stdin(&["query", "instant", "--nope", "x", "y"], dir.path(), "");
    assert_eq!(
        text(&out.stderr),
        "promlite-tool: error: unknown long flag '--nope', try --help\n"
    );
    let out = tool_with_stdin(&["query", "instant", "http://x"], dir.path(), "");
    assert_eq!(
        text(&out.stderr),
        "promlite-tool: error: required argument 'expr' not provided, try --help\n"
    );
    let out = tool_with_stdin(&["--help"], dir.path(), "");
    let help = text(&out.stdout);
    for cmd in [
        "check metrics",
        "query range",
        "tsdb dump",
        "tsdb list",
        "check config",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from --help");
    }
    let out = tool_with_stdin(&["debug", "all", "http://x"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "debug all is not supported by promlite yet\n"
    );
}

#[test]
fn tsdb_analyze_and_backfill_round_trip() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap_or_else(|e| panic!("{e}"));
    let samples: Vec<(i64, f64)> = (0..200).map(|i| (i * 15_000, i as f64 * 0.5)).collect();
    let a = xor_chunk(samples.get(..120).unwrap_or_default());
    let b = xor_chunk(samples.get(120..).unwrap_or_default());
    let c = xor_chunk(&[(60_000, 7.0)]);
    write_block(
        &src,
        vec![
            (
                Labels::from_pairs(&[("__name__", "http_requests_total"), ("code", "200")]),
                vec![
                    ChunkData {
                        min_t: 0,
                        max_t: 119 * 15_000,
                        data: &a,
                    },
                    ChunkData {
                        min_t: 120 * 15_000,
                        max_t: 199 * 15_000,
                        data: &b,
                    },
                ],
            ),
            (
                Labels::from_pairs(&[("__name__", "http_requests_total"), ("code", "500")]),
                vec![ChunkData {
                    min_t: 60_000,
                    max_t: 60_000,
                    data: &c,
                }],
            ),
        ],
        0,
        199 * 15_000 + 1,
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let out = tool_with_stdin(&["tsdb", "analyze", "--limit=2", "src"], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines.get(1..6),
        Some(
            &[
                "Duration: 49m45.001s",
                "Series: 2",
                "Label names: 2",
                "Postings (unique label pairs): 3",
                "Postings entries (total label pairs): 4"
            ][..]
        )
    );
    assert!(
        report.contains("\nMost common label pairs:\n2 __name__=http_requests_total\n1 code=200\n"),
        "{report}"
    );
    assert!(
        report.contains("\nHighest cardinality metric names:\n2 http_requests_total\n"),
        "{report}"
    );

    let out = tool_with_stdin(&["tsdb", "dump-openmetrics", "src"], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(dir.path().join("in.om"), &out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let out = tool_with_stdin(
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            "in.om",
            "dst",
        ],
        dir.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    let before = tool_with_stdin(&["tsdb", "dump", "src"], dir.path(), "");
    let after = tool_with_stdin(&["tsdb", "dump", "dst"], dir.path(), "");
    assert!(before.stdout.len() > 1000);
    assert_eq!(text(&before.stdout), text(&after.stdout));
}

#[test]
fn tsdb_dump_reads_the_head_of_a_promlite_data_dir() {
    use promlite::storage::Appendable;
    use promlite::tsdb::db::{Db, DbOptions};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    {
        let db = Db::open(&data, DbOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut app = db.appender();
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "x")]);
        for i in 0..3 {
            app.append(0, &l, 1000 * i, i as f64)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        app.commit().unwrap_or_else(|e| panic!("{e}"));
        db.close().unwrap_or_else(|e| panic!("{e}"));
    }
    let wal_before: Vec<_> = std::fs::read_dir(data.join("wal"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let out = tool_with_stdin(&["tsdb", "dump", "data"], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{__name__=\"up\", job=\"x\"} 0 0\n{__name__=\"up\", job=\"x\"} 1 1000\n{__name__=\"up\", job=\"x\"} 2 2000\n"
    );
    let wal_after: Vec<_> = std::fs::read_dir(data.join("wal"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(wal_before, wal_after, "dump must not change the WAL");
}

#[test]
fn create_blocks_from_rules_writes_the_answers_under_the_rule_name() {
    let api = FakeApi::start(vec![(
        "/api/v1/query_range",
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"node","team":"old"},"values":[[1700000000,"1"],[1700000060,"2"]]}]}}"#,
    )]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels:\n          team: new\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("--url={}", api.url);
    let out = tool_with_stdin(
        &[
            "tsdb",
            "create-blocks-from",
            "rules",
            "--start=1700000000",
            "--end=1700000100",
            &url,
            "--output-dir=out",
            "rules.yml",
        ],
        dir.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = api.stop();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen.iter()
            .all(|r| r.contains("step=60") && r.contains("end=1700000100")),
        "{seen:?}"
    );
    let out = tool_with_stdin(&["tsdb", "dump", "out"], dir.path(), "");
    assert_eq!(
        text(&out.stdout),
        "{__name__=\"job:up:sum\", job=\"node\", team=\"new\"} 1 1700000000000\n{__name__=\"job:up:sum\", job=\"node\", team=\"new\"} 2 1700000060000\n"
    );
}

#[test]
fn check_healthy_and_ready() {
    let api = FakeApi::start(vec![
        ("/-/healthy", 200, "Prometheus Server is Healthy.\n"),
        ("/-/ready", 503, "Service Unavailable"),
    ]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("http.yml"),
        "basic_auth:\n  username: u\n  password: p\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("--url={}", api.url);
    let out = tool_with_stdin(
        &["check", "healthy", &url, "--http.config.file=http.yml"],
        dir.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "  SUCCESS:  Prometheus Server is Healthy.\n\n"
    );
    let out = tool_with_stdin(&["check", "ready", &url], dir.path(), "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("check failed: URL={}, status=503\n", api.url)
    );
    api.stop();
}
