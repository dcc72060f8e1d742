//! The scraper's HTTP behaviour against a server on 127.0.0.1: gzip bodies,
//! `body_size_limit`, redirects with and without `follow_redirects`, non-200
//! statuses, basic and bearer auth (including a credentials file) and the
//! timeout, as a table of cases.

use std::sync::Arc;
use std::time::Duration;

use promlite::scrape::scraper::Scraper;
use promlite::scrape::{Authorization, BasicAuth, PoolConfig, ScrapeError};

fn header(k: &str, v: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes())
        .unwrap_or_else(|_| panic!("header {k}"))
}

fn auth_of(req: &tiny_http::Request) -> String {
    req.headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default()
}

fn respond(req: tiny_http::Request) {
    let resp = match req.url() {
        "/gzip" => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = enc.write_all(b"a 1\n");
            tiny_http::Response::from_data(enc.finish().unwrap_or_default())
                .with_header(header("Content-Encoding", "gzip"))
        }
        "/big" => tiny_http::Response::from_data(vec![b'#'; 4096]),
        "/redirect" => tiny_http::Response::from_string("")
            .with_status_code(302)
            .with_header(header("Location", "/gzip")),
        "/fail" => tiny_http::Response::from_string("nope").with_status_code(503),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(500));
            tiny_http::Response::from_string("a 1\n")
        }
        "/auth" => tiny_http::Response::from_string(auth_of(&req)),
        // Only the exact query upstream would send is answered.
        "/params?a=1&module=x+y&module=z" => tiny_http::Response::from_string("params_ok 1\n"),
        _ => tiny_http::Response::from_string("").with_status_code(404),
    };
    let _ = req.respond(resp);
}

fn serve() -> (Arc<tiny_http::Server>, String, std::thread::JoinHandle<()>) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}")));
    let addr = server
        .server_addr()
        .to_ip()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let s = server.clone();
    let h = std::thread::spawn(move || {
        for req in s.incoming_requests() {
            std::thread::spawn(move || respond(req));
        }
    });
    (server, addr, h)
}

/// (path, config change, Ok(body) or Err(error text fragment)).
type Case = (
    &'static str,
    Box<dyn Fn(&mut PoolConfig)>,
    Result<&'static str, &'static str>,
);

#[test]
fn scraper_http_cases() {
    let (server, addr, handle) = serve();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let token = dir.path().join("token");
    std::fs::write(&token, "from-file\n").unwrap_or_else(|e| panic!("{e}"));
    let token_path = token.clone();
    let password_path = token.clone();

    let cases: Vec<Case> = vec![
        ("/gzip", Box::new(|_| {}), Ok("a 1\n")),
        (
            "/big",
            Box::new(|c| c.body_size_limit = 100),
            Err("body size limit exceeded"),
        ),
        ("/big", Box::new(|c| c.body_size_limit = 10_000), Ok("")),
        ("/redirect", Box::new(|_| {}), Ok("a 1\n")),
        (
            "/redirect",
            Box::new(|c| c.http.follow_redirects = false),
            Err("server returned HTTP status 302 Found"),
        ),
        (
            "/fail",
            Box::new(|_| {}),
            Err("server returned HTTP status 503 Service Unavailable"),
        ),
        ("/slow", Box::new(|_| {}), Err("context deadline exceeded")),
        (
            "/auth",
            Box::new(|c| {
                c.http.basic_auth = Some(BasicAuth {
                    username: "user".into(),
                    username_file: None,
                    password: Some("pass".into()),
                    password_file: None,
                })
            }),
            Ok("Basic dXNlcjpwYXNz"),
        ),
        (
            "/auth",
            Box::new(move |c| {
                c.http.authorization = Some(Authorization {
                    kind: "Bearer".into(),
                    credentials: None,
                    credentials_file: Some(token_path.clone()),
                })
            }),
            Ok("Bearer from-file"),
        ),
        (
            "/auth",
            Box::new(|c| {
                c.http.authorization = Some(Authorization {
                    kind: "Custom".into(),
                    credentials: Some("inline".into()),
                    credentials_file: None,
                })
            }),
            Ok("Custom inline"),
        ),
        (
            "/auth",
            Box::new(move |c| {
                c.http.basic_auth = Some(BasicAuth {
                    username: "user".into(),
                    username_file: None,
                    password: None,
                    password_file: Some(password_path.clone()),
                })
            }),
            // base64("user:from-file")
            Ok("Basic dXNlcjpmcm9tLWZpbGU="),
        ),
    ];
    for (path, setup, want) in cases {
        let mut cfg = PoolConfig::new("j");
        setup(&mut cfg);
        let scraper = Scraper::new(&cfg);
        let got = scraper.scrape(&format!("http://{addr}{path}"), Duration::from_millis(200));
        match (got, want) {
            (Ok(resp), Ok(body)) => {
                if path != "/big" {
                    assert_eq!(String::from_utf8_lossy(&resp.body), body, "{path}");
                }
            }
            (Err(e), Err(frag)) => {
                assert!(e.to_string().contains(frag), "{path}: {e} lacks {frag:?}")
            }
            (Ok(resp), Err(frag)) => panic!(
                "{path}: wanted error {frag:?}, got {} bytes",
                resp.body.len()
            ),
            (Err(e), Ok(_)) => panic!("{path}: unexpected error {e}"),
        }
    }
    // A timeout is its own variant so the API text stays upstream-like.
    let slow = Scraper::new(&PoolConfig::new("j"))
        .scrape(&format!("http://{addr}/slow"), Duration::from_millis(100));
    assert!(
        matches!(slow, Err(ScrapeError::Timeout(_))),
        "{slow:?}",
        slow = slow.err()
    );
    server.unblock();
    let _ = handle.join();
}

#[test]
fn body_size_limit_fails_the_scrape_and_is_counted() {
    use promlite::discovery::TargetGroup;
    use promlite::model::{Labels, MatchType, Matcher};
    use promlite::scrape::pool::ScrapePool;
    use promlite::scrape::ScrapeMetrics;
    use promlite::storage::memory::MemStorage;
    use promlite::storage::Queryable;

    let (server, addr, handle) = serve();
    let metrics = Arc::new(ScrapeMetrics::new(&promlite::telemetry::Registry::new()));
    let storage = MemStorage::new();
    let mut cfg = PoolConfig::new("j");
    cfg.body_size_limit = 100;
    cfg.extra_scrape_metrics = true;
    let pool = ScrapePool::new(cfg, Arc::new(storage.clone()), metrics.clone());
    let r = pool.sync(&[TargetGroup {
        source: "0".into(),
        targets: vec![Labels::from_pairs(&[
            ("__address__", addr.as_str()),
            ("__metrics_path__", "/big"),
        ])],
        labels: Labels::empty(),
    }]);
    let l = r
        .started
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no target"));
    l.run_once();
    server.unblock();
    let _ = handle.join();

    assert_eq!(
        l.target.status().last_error,
        "body size limit exceeded (limit: 100 bytes)"
    );
    assert_eq!(metrics.exceeded_body_size_limit.get(), 1.0);
    let value = |name: &str| -> Vec<f64> {
        let q = storage
            .querier(i64::MIN, i64::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        let m = Matcher::new(MatchType::Equal, "__name__", name).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for s in q
            .select(false, None, &[m])
            .unwrap_or_else(|e| panic!("{e}"))
        {
            let s = s.unwrap_or_else(|e| panic!("{e}"));
            let mut it = s.iterator();
            while let Some((_, v)) = it.next() {
                out.push(v);
            }
        }
        out
    };
    assert_eq!(value("up"), vec![0.0]);
    // Upstream reports -1 for a body over the limit.
    assert_eq!(value("scrape_body_size_bytes"), vec![-1.0]);
}

#[test]
fn params_and_param_labels_reach_the_target() {
    use promlite::discovery::TargetGroup;
    use promlite::model::Labels;
    use promlite::scrape::pool::ScrapePool;
    use promlite::scrape::{Health, ScrapeMetrics};
    use promlite::storage::memory::MemStorage;

    let (server, addr, handle) = serve();
    let mut cfg = PoolConfig::new("j");
    cfg.metrics_path = "/params".into();
    cfg.params = vec![
        ("module".into(), vec!["ignored".into(), "z".into()]),
        ("a".into(), vec!["1".into()]),
    ];
    let pool = ScrapePool::new(
        cfg,
        Arc::new(MemStorage::new()),
        Arc::new(ScrapeMetrics::new(&promlite::telemetry::Registry::new())),
    );
    let r = pool.sync(&[TargetGroup {
        source: "0".into(),
        // The label replaces the first configured value.
        targets: vec![Labels::from_pairs(&[
            ("__address__", addr.as_str()),
            ("__param_module", "x y"),
        ])],
        labels: Labels::empty(),
    }]);
    let l = r
        .started
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no target"));
    l.run_once();
    server.unblock();
    let _ = handle.join();
    let st = l.target.status();
    assert_eq!(
        st.health,
        Health::Up,
        "{}: {}",
        l.target.url(),
        st.last_error
    );
}
