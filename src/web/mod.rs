//! The web handler, as upstream's `web` package: routes under the route
//! prefix, lifecycle endpoints (`/-/healthy`, `/-/ready`, `/-/reload`,
//! `/-/quit`), `/metrics`, `/federate` and `/api/v1`. [`WebHandler::serve`] is
//! the whole request path from a decoded [`Request`] to a [`Response`];
//! [`server::HttpServer`] puts it on sockets. The handler never loads config
//! itself: reloads and quits are requests sent over channels to the actors
//! that own them.

pub mod adapters;
pub mod api;
pub mod backends;
pub mod federate;
pub mod http;
pub mod server;
pub mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::telemetry;
use api::v1::Api;
pub use backends::{AdminApi, Backends};
use http::{Request, Response};

/// A reload request: the reload handler answers on the enclosed channel.
pub type ReloadRequest = Sender<Result<(), String>>;

/// Web settings from the flags.
#[derive(Clone, Debug)]
pub struct Options {
    pub listen_addresses: Vec<String>,
    pub read_timeout: Duration,
    pub max_connections: usize,
    /// `/` or `/prefix` (no trailing slash).
    pub route_prefix: String,
    pub external_url: String,
    pub enable_lifecycle: bool,
    pub enable_admin_api: bool,
    pub enable_remote_write_receiver: bool,
    /// Fully anchored CORS origin regex.
    pub cors_origin: regex::Regex,
    pub page_title: String,
}

impl Options {
    /// Options for tests: one address, lifecycle on, everything else default.
    pub fn for_address(addr: &str) -> Options {
        Options {
            listen_addresses: vec![addr.to_string()],
            read_timeout: Duration::from_secs(300),
            max_connections: 512,
            route_prefix: "/".to_string(),
            external_url: format!("http://{addr}/"),
            enable_lifecycle: true,
            enable_admin_api: false,
            enable_remote_write_receiver: false,
            cors_origin: compile_cors(".*")
                .unwrap_or_else(|_| regex::Regex::new("^$").expect("literal regex")),
            page_title: "Prometheus Time Series Collection and Processing Server".to_string(),
        }
    }
}

/// Compiles `--web.cors.origin` fully anchored, as upstream.
pub fn compile_cors(s: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?s:{s})$"))
}

/// The web handler: routing, lifecycle and readiness.
pub struct WebHandler {
    pub options: Options,
    pub api: Api,
    pub backends: Backends,
    ready: AtomicBool,
    reload_tx: Sender<ReloadRequest>,
    reload_rx: Receiver<ReloadRequest>,
    quit_tx: Sender<()>,
    quit_rx: Receiver<()>,
    metrics: HttpMetrics,
}

/// Upstream's HTTP instrumentation.
#[derive(Clone)]
pub struct HttpMetrics {
    pub requests: telemetry::CounterVec,
    pub duration: telemetry::HistogramVec,
    pub response_size: telemetry::HistogramVec,
    pub panics: telemetry::Counter,
}

impl HttpMetrics {
    fn register() -> HttpMetrics {
        let r = telemetry::global();
        HttpMetrics {
            requests: r.counter_vec(
                "prometheus_http_requests_total",
                "Counter of HTTP requests.",
                &["code", "handler"],
            ),
            duration: r.histogram_vec(
                "prometheus_http_request_duration_seconds",
                "Histogram of latencies for HTTP requests.",
                &["handler"],
                &[0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0],
            ),
            response_size: r.histogram_vec(
                "prometheus_http_response_size_bytes",
                "Histogram of response size for HTTP requests.",
                &["handler"],
                &[100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9],
            ),
            panics: r.counter(
                "promlite_http_handler_panics_total",
                "Panics caught in HTTP handlers; each answered 500 and the server kept running.",
            ),
        }
    }
}

impl WebHandler {
    pub fn new(options: Options, api: Api) -> Arc<WebHandler> {
        WebHandler::with_backends(options, api, Backends::default())
    }

    /// A handler that also serves remote write/read, the admin API and WAL
    /// replay status from `backends`.
    pub fn with_backends(options: Options, api: Api, backends: Backends) -> Arc<WebHandler> {
        let (reload_tx, reload_rx) = bounded(1);
        let (quit_tx, quit_rx) = bounded(1);
        Arc::new(WebHandler {
            options,
            api,
            backends,
            ready: AtomicBool::new(false),
            reload_tx,
            reload_rx,
            quit_tx,
            quit_rx,
            metrics: HttpMetrics::register(),
        })
    }

    /// Marks the server ready (after the first config load) or not (shutdown).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Reload requests from `POST /-/reload`, for the reload handler actor.
    pub fn reload_requests(&self) -> Receiver<ReloadRequest> {
        self.reload_rx.clone()
    }

    /// Fires once on `POST /-/quit`, for the termination handler actor.
    pub fn quit(&self) -> Receiver<()> {
        self.quit_rx.clone()
    }

    pub fn metrics(&self) -> &HttpMetrics {
        &self.metrics
    }

    /// The metrics `handler` label and the response for a request whose path
    /// is already below the route prefix.
    pub fn serve(&self, req: &Request) -> (String, Response) {
        let path = req.path.as_str();
        let (handler, mut resp) = match path {
            "/-/healthy" => (
                path.to_string(),
                Response::new(200, http::TEXT, "Prometheus Server is Healthy.\n"),
            ),
            "/-/ready" => (path.to_string(), self.ready_response()),
            "/-/reload" => (path.to_string(), self.reload(req)),
            "/-/quit" => (path.to_string(), self.quit_request(req)),
            "/metrics" => (
                path.to_string(),
                Response::new(200, http::EXPOSITION, telemetry::global().render()),
            ),
            "/" => {
                let target = format!(
                    "{}{}",
                    self.options.route_prefix.trim_end_matches('/'),
                    crate::web_ui::ROOT_REDIRECT
                );
                ("/".to_string(), Response::redirect(&target))
            }
            _ if !self.is_ready() && self.needs_ready(path) => (
                route_label(path),
                Response::new(503, http::TEXT, "Service Unavailable"),
            ),
            "/federate" if self.backends.agent => (
                path.to_string(),
                api::error_response(&api::ApiError::new(
                    api::ErrorType::Execution,
                    backends::AGENT_UNAVAILABLE,
                )),
            ),
            "/federate" => (path.to_string(), federate::federate(&self.api, req)),
            _ if path.starts_with("/api/v1/") => {
                let sub = &path["/api/v1".len()..];
                (Api::route_name(sub), self.serve_api(req, sub))
            }
            _ if req.method == "GET" || req.method == "HEAD" => match crate::web_ui::asset(path) {
                Some((content_type, body)) => (
                    if path.starts_with("/static/") {
                        "/static/*filepath".to_string()
                    } else {
                        path.to_string()
                    },
                    Response::new(200, content_type, body.to_vec()),
                ),
                None => (
                    "other".to_string(),
                    Response::text(404, "404 page not found"),
                ),
            },
            _ => (
                "other".to_string(),
                Response::text(404, "404 page not found"),
            ),
        };
        if path.starts_with("/api/") {
            self.add_cors(req, &mut resp);
        }
        (handler, resp)
    }

    /// Everything below `/api/v1`: the storage-facing endpoints of
    /// [`Backends`] first, agent-mode refusals, then the query API.
    fn serve_api(&self, req: &Request, sub: &str) -> Response {
        if req.method == "OPTIONS" {
            return Response::new(200, http::TEXT, "");
        }
        if sub == "/write" && self.options.enable_remote_write_receiver {
            return self.backends.remote_write(req);
        }
        if sub == "/read" {
            return self
                .backends
                .remote_read(req, self.api.status.external_labels());
        }
        if sub == "/status/walreplay" && req.method == "GET" {
            return self.backends.wal_replay();
        }
        if let Some(op) = sub.strip_prefix("/admin/tsdb/") {
            if self.options.enable_admin_api {
                return self.backends.admin(req, op, self.api.engine.as_deref());
            }
        }
        if self.backends.agent && agent_unavailable(sub) {
            return api::error_response(&api::ApiError::new(
                api::ErrorType::Execution,
                backends::AGENT_UNAVAILABLE,
            ));
        }
        self.api.handle(req, sub)
    }

    fn needs_ready(&self, path: &str) -> bool {
        path.starts_with("/api/") || path == "/federate"
    }

    fn ready_response(&self) -> Response {
        if self.is_ready() {
            Response::new(200, http::TEXT, "Prometheus Server is Ready.\n")
        } else {
            Response::new(503, http::TEXT, "Service Unavailable")
        }
    }

    fn reload(&self, req: &Request) -> Response {
        if !matches!(req.method.as_str(), "POST" | "PUT") {
            return Response::new(405, http::TEXT, "Only POST or PUT requests allowed");
        }
        if !self.options.enable_lifecycle {
            return Response::text(403, "Lifecycle API is not enabled.");
        }
        let (tx, rx) = bounded(1);
        if self
            .reload_tx
            .send_timeout(tx, self.options.read_timeout)
            .is_err()
        {
            return Response::text(503, "the reload handler is not running");
        }
        // The reload handler answers once every component has applied the
        // config; bounded so a stuck component cannot pin a worker forever.
        match rx.recv_timeout(self.options.read_timeout) {
            Ok(Ok(())) => Response::new(200, http::TEXT, ""),
            Ok(Err(e)) => Response::text(500, &format!("failed to reload config: {e}")),
            Err(_) => Response::text(503, "the reload did not finish in time"),
        }
    }

    fn quit_request(&self, req: &Request) -> Response {
        if !matches!(req.method.as_str(), "POST" | "PUT") {
            return Response::new(405, http::TEXT, "Only POST or PUT requests allowed");
        }
        if !self.options.enable_lifecycle {
            return Response::text(403, "Lifecycle API is not enabled.");
        }
        // A second quit while the first is pending changes nothing.
        let _ = self.quit_tx.try_send(());
        Response::new(200, http::TEXT, "Requesting termination... Goodbye!")
    }

    /// Upstream's `httputil.SetCORS`: `Vary: Origin` on every API answer;
    /// with an `Origin` header the allowed headers, methods and exposed
    /// headers; and `Access-Control-Allow-Origin` echoing the origin only
    /// when the fully anchored `--web.cors.origin` regex matches it.
    fn add_cors(&self, req: &Request, resp: &mut Response) {
        resp.headers
            .push(("Vary".to_string(), "Origin".to_string()));
        let Some(origin) = req.header("origin").filter(|o| !o.is_empty()) else {
            return;
        };
        for (k, v) in [
            (
                "Access-Control-Allow-Headers",
                "Accept, Authorization, Content-Type, Origin",
            ),
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Expose-Headers", "Date"),
        ] {
            resp.headers.push((k.to_string(), v.to_string()));
        }
        if self.options.cors_origin.is_match(origin) {
            resp.headers.push((
                "Access-Control-Allow-Origin".to_string(),
                origin.to_string(),
            ));
        }
    }
}

/// The endpoints upstream's agent answers with "unavailable with Prometheus
/// Agent" (its `wrapAgent`): everything that reads local storage or rules.
fn agent_unavailable(sub: &str) -> bool {
    matches!(
        sub,
        "/query"
            | "/query_range"
            | "/query_exemplars"
            | "/series"
            | "/labels"
            | "/rules"
            | "/alerts"
            | "/status/tsdb"
            | "/status/walreplay"
    ) || sub.starts_with("/label/")
        || sub.starts_with("/admin/")
}

fn route_label(path: &str) -> String {
    match path.strip_prefix("/api/v1") {
        Some(sub) => Api::route_name(sub),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStorage;
    use api::v1::{BuildInfo, ServerStatus};

    fn handler(lifecycle: bool) -> Arc<WebHandler> {
        let mut o = Options::for_address("127.0.0.1:0");
        o.enable_lifecycle = lifecycle;
        o.read_timeout = Duration::from_secs(2);
        WebHandler::new(o, bare_api())
    }

    /// An API over empty in-memory storage and the engine, with no scrape,
    /// rules, Alertmanager or TSDB backends.
    fn bare_api() -> Api {
        Api {
            storage: Arc::new(MemStorage::new()),
            engine: Some(Arc::new(crate::promql::Engine::new(
                crate::promql::EngineOpts::default(),
            ))),
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
            now: crate::model::value::now_millis,
        }
    }

    fn post(path: &str) -> Request {
        Request {
            method: "POST".into(),
            ..Request::get(path)
        }
    }

    #[test]
    fn ready_and_healthy() {
        let h = handler(false);
        assert_eq!(h.serve(&Request::get("/-/healthy")).1.status, 200);
        let (_, r) = h.serve(&Request::get("/-/ready"));
        assert_eq!(
            (r.status, r.body.as_slice()),
            (503, &b"Service Unavailable"[..])
        );
        assert_eq!(h.serve(&Request::get("/api/v1/labels")).1.status, 503);
        h.set_ready(true);
        let (_, r) = h.serve(&Request::get("/-/ready"));
        assert_eq!(r.body, b"Prometheus Server is Ready.\n");
        assert_eq!(h.serve(&Request::get("/api/v1/labels")).1.status, 200);
    }

    #[test]
    fn lifecycle_forbidden_without_flag() {
        let h = handler(false);
        let (_, r) = h.serve(&post("/-/reload"));
        assert_eq!(
            (r.status, r.body.as_slice()),
            (403, &b"Lifecycle API is not enabled.\n"[..])
        );
        assert_eq!(h.serve(&post("/-/quit")).1.status, 403);
        assert_eq!(h.serve(&Request::get("/-/quit")).1.status, 405);
    }

    #[test]
    fn reload_round_trip() {
        let h = handler(true);
        let rx = h.reload_requests();
        let t = std::thread::spawn(move || {
            let reply = rx.recv_timeout(Duration::from_secs(2)).unwrap();
            reply.send(Err("bad config".into())).unwrap();
        });
        let (_, r) = h.serve(&post("/-/reload"));
        t.join().unwrap();
        assert_eq!(r.status, 500);
        assert!(String::from_utf8_lossy(&r.body).contains("bad config"));
    }

    #[test]
    fn quit_signals() {
        let h = handler(true);
        let (_, r) = h.serve(&post("/-/quit"));
        assert_eq!(r.status, 200);
        assert!(h.quit().try_recv().is_ok());
    }

    #[test]
    fn ui_assets_and_root_redirect() {
        let h = handler(false);
        let (_, r) = h.serve(&Request::get("/"));
        assert_eq!(r.status, 302);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "Location" && v == crate::web_ui::ROOT_REDIRECT));
        // The UI is static: it is served before the first config load too.
        let (label, r) = h.serve(&Request::get("/static/promlite.css"));
        assert_eq!((label.as_str(), r.status), ("/static/*filepath", 200));
        assert!(r.content_type.starts_with("text/css"));
        assert_eq!(h.serve(&Request::get("/graph")).1.status, 200);
        assert_eq!(h.serve(&Request::get("/no-such-page")).1.status, 404);
        assert_eq!(h.serve(&post("/graph")).1.status, 404);
    }

    #[test]
    fn agent_mode_refuses_queries_but_lists_targets() {
        let mut o = Options::for_address("127.0.0.1:0");
        o.enable_admin_api = true;
        let api = bare_api();
        let h = WebHandler::with_backends(
            o,
            api,
            Backends {
                agent: true,
                ..Backends::default()
            },
        );
        h.set_ready(true);
        for path in ["/api/v1/query?query=up", "/api/v1/labels", "/federate"] {
            let (_, r) = h.serve(&Request::get(path));
            assert_eq!(r.status, 422, "{path}");
            assert!(String::from_utf8_lossy(&r.body).contains(backends::AGENT_UNAVAILABLE));
        }
        assert_eq!(h.serve(&post("/api/v1/admin/tsdb/snapshot")).1.status, 422);
        assert_eq!(h.serve(&Request::get("/api/v1/targets")).1.status, 200);
    }

    #[test]
    fn odd_requests_never_panic() {
        let h = handler(true);
        h.set_ready(true);
        let paths = [
            "/",
            "//",
            "/api",
            "/api/v1",
            "/api/v1/",
            "/api/v1/label/values",
            "/api/v1/label//values",
            "/api/v1/label/%ff/values",
            "/api/v1/label/U__%zz/values",
            "/api/v1/query",
            "/api/v1/query_range",
            "/api/v1/series",
            "/api/v1/labels",
            "/api/v1/format_query",
            "/api/v1/status/tsdb",
            "/api/v1/targets/metadata",
            "/api/v1/query_exemplars",
            "/federate",
            "/-/",
            "/metrics/x",
        ];
        let params = [
            "",
            "query=",
            "query=%",
            "time=1e400",
            "time=-1e400",
            "start=NaN&end=Inf&step=NaN",
            "start=0&end=1e18&step=1e-9",
            "step=-0",
            "match[]=",
            "match[]=%7B",
            "limit=99999999999999999999",
            "limit=-0",
            "start=9999-12-31T23:59:59Z&end=0000-01-01T00:00:00Z",
            "timeout=1e308",
            "query=up%7Bjob%3D~%22(%22%7D",
            "match_target=%7Bjob%3D%22x%22%7D",
            "stats=all&query=1",
            "query=1&start=-9000000000000000&end=9000000000000000&step=1",
            "query=1&start=-9000000000000000&end=9000000000000000&step=100000000000",
            "query=rate(up%5B5m%5D)&time=9223372036854775",
            "query=rate(up%5B5m%5D)&time=-9223372036854775",
        ];
        for p in paths {
            for q in params {
                for method in ["GET", "POST", "DELETE"] {
                    let req = Request {
                        method: method.to_string(),
                        ..Request::get(&format!("{p}?{q}"))
                    };
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.serve(&req)));
                    let (_, r) = outcome.unwrap_or_else(|_| panic!("{method} {p}?{q} panicked"));
                    assert!(
                        (200..600).contains(&r.status),
                        "{method} {p}?{q}: {}",
                        r.status
                    );
                }
            }
        }
    }

    #[test]
    fn cors() {
        let mut o = Options::for_address("127.0.0.1:0");
        o.cors_origin = compile_cors("https?://good\\.example").unwrap();
        let api = bare_api();
        let h = WebHandler::new(o, api);
        h.set_ready(true);
        let header = |r: &Response, name: &str| -> Option<String> {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let with_origin = |origin: &str| {
            let mut req = Request::get("/api/v1/labels");
            req.headers.push(("origin".into(), origin.into()));
            h.serve(&req)
        };
        let (label, r) = with_origin("https://good.example");
        assert_eq!(label, "/api/v1/labels");
        assert_eq!(
            header(&r, "Access-Control-Allow-Origin").as_deref(),
            Some("https://good.example")
        );
        assert_eq!(
            header(&r, "Access-Control-Allow-Methods").as_deref(),
            Some("GET, POST, OPTIONS")
        );
        // Anchored: a prefix or suffix match is no match.
        for bad in ["https://good.example.evil", "xhttps://good.example"] {
            let (_, r) = with_origin(bad);
            assert_eq!(header(&r, "Access-Control-Allow-Origin"), None, "{bad}");
            // Upstream still answers the other CORS headers for any Origin.
            assert_eq!(
                header(&r, "Access-Control-Allow-Headers").as_deref(),
                Some("Accept, Authorization, Content-Type, Origin")
            );
            assert_eq!(
                header(&r, "Access-Control-Expose-Headers").as_deref(),
                Some("Date")
            );
        }
        // Without an Origin only `Vary: Origin`.
        let (_, r) = h.serve(&Request::get("/api/v1/labels"));
        assert_eq!(header(&r, "Vary").as_deref(), Some("Origin"));
        assert_eq!(header(&r, "Access-Control-Allow-Methods"), None);
        // Preflight: OPTIONS on any API path answers 200 with the headers.
        let mut req = Request::get("/api/v1/query");
        req.method = "OPTIONS".into();
        req.headers
            .push(("origin".into(), "http://good.example".into()));
        let (_, r) = h.serve(&req);
        assert_eq!(r.status, 200);
        assert_eq!(
            header(&r, "Access-Control-Allow-Origin").as_deref(),
            Some("http://good.example")
        );
    }
}
