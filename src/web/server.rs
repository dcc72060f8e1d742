//! The HTTP server: tiny_http listeners feeding a bounded pool of worker
//! threads. One dispatcher thread per listener takes decoded requests off
//! tiny_http and hands them to the workers; when `--web.max-connections`
//! requests are already in flight it answers 503 at once instead of queueing.
//! Workers catch handler panics (500, logged, counted), add gzip when the
//! client accepts it, and record upstream's HTTP metrics. Nothing here knows
//! a route: that is [`WebHandler::serve`].
//!
//! `--web.read-timeout` is set on the listening socket (Linux copies it to
//! every accepted connection), which also makes an idle `accept()` fail
//! after that long; tiny_http's accept thread ends on any accept error, so
//! each listener's [`Acceptor`] starts a new tiny_http server on the same
//! socket when that happens.

use std::io::Read as _;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::http::{parse_form, Request, Response};
use super::WebHandler;

/// Bodies larger than this are refused (413); remote-write batches are far smaller.
const MAX_BODY_BYTES: u64 = 64 << 20;
/// Responses smaller than this are not worth compressing.
const GZIP_MIN_BYTES: usize = 1024;

/// Why the server could not start.
#[derive(Debug)]
pub struct WebError(pub String);

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WebError {}

/// Bound listeners, ready to serve.
pub struct HttpServer {
    handler: Arc<WebHandler>,
    acceptors: Vec<Acceptor>,
    addrs: Vec<std::net::SocketAddr>,
    stop: Arc<AtomicBool>,
}

/// Stops a running [`HttpServer`] from another thread.
#[derive(Clone)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl HttpServer {
    /// Binds every listen address. Binding happens before the run group
    /// starts, so a taken port is a start-up error, as upstream's `Listeners()`.
    pub fn bind(handler: Arc<WebHandler>) -> Result<HttpServer, WebError> {
        let mut acceptors = Vec::new();
        let mut addrs = Vec::new();
        for addr in &handler.options.listen_addresses {
            let sock = addr
                .to_socket_addrs()
                .map_err(|e| WebError(format!("invalid listen address {addr:?}: {e}")))?
                .next()
                .ok_or_else(|| WebError(format!("listen address {addr:?} resolves to nothing")))?;
            let listener =
                TcpListener::bind(sock).map_err(|e| WebError(format!("listen tcp {addr}: {e}")))?;
            set_read_timeout(&listener, handler.options.read_timeout);
            let local = listener
                .local_addr()
                .map_err(|e| WebError(format!("listen tcp {addr}: {e}")))?;
            let acceptor = Acceptor::new(listener, handler.options.read_timeout)
                .map_err(|e| WebError(format!("listen tcp {addr}: {e}")))?;
            acceptors.push(acceptor);
            addrs.push(local);
        }
        Ok(HttpServer {
            handler,
            acceptors,
            addrs,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The bound addresses (port 0 resolved).
    pub fn local_addrs(&self) -> &[std::net::SocketAddr] {
        &self.addrs
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Serves until the stop handle fires; joins every thread it started.
    pub fn run(self) -> Result<(), WebError> {
        let workers = self.handler.options.workers.max(1);
        let (tx, rx) = bounded::<tiny_http::Request>(workers * 4);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        for i in 0..workers {
            let rx = rx.clone();
            let handler = self.handler.clone();
            let in_flight = in_flight.clone();
            let t = std::thread::Builder::new()
                .name(format!("web-worker-{i}"))
                .spawn(move || worker(&handler, &rx, &in_flight))
                .map_err(|e| WebError(format!("cannot start web worker: {e}")))?;
            threads.push(t);
        }
        drop(rx);
        for (acceptor, addr) in self.acceptors.into_iter().zip(&self.addrs) {
            log::info!(address:% = addr; "Start listening for connections");
            let tx = tx.clone();
            let stop = self.stop.clone();
            let handler = self.handler.clone();
            let in_flight = in_flight.clone();
            let t = std::thread::Builder::new()
                .name(format!("web-accept-{addr}"))
                .spawn(move || dispatch(acceptor, &tx, &stop, &handler, &in_flight))
                .map_err(|e| WebError(format!("cannot start web dispatcher: {e}")))?;
            threads.push(t);
        }
        drop(tx);
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    }
}

/// The accept side of one listener.
///
/// tiny_http's accept thread ends for good on the first error `accept()`
/// returns, and an idle listener with `--web.read-timeout` set gets one
/// (EAGAIN) every read timeout. So when the current tiny_http server reports
/// an accept error, the acceptor starts a new one on a clone of the same
/// socket; no connection is lost, they wait in the kernel's backlog. The old
/// server is kept, retired, while its keep-alive connections may still send
/// requests, and dropped once it has been quiet for longer than the read
/// timeout: by then the kernel has timed out every idle connection it had.
struct Acceptor {
    listener: TcpListener,
    current: tiny_http::Server,
    retired: Vec<RetiredServer>,
    quiet_limit: Duration,
}

struct RetiredServer {
    server: tiny_http::Server,
    last_request: Instant,
}

impl Acceptor {
    fn new(listener: TcpListener, read_timeout: Duration) -> std::io::Result<Acceptor> {
        let current = Acceptor::serve(&listener)?;
        // Without a read timeout idle connections are never closed; a
        // retired server is then kept for five quiet minutes.
        let quiet_limit = if read_timeout.is_zero() {
            Duration::from_secs(300)
        } else {
            read_timeout + Duration::from_secs(1)
        };
        Ok(Acceptor {
            listener,
            current,
            retired: Vec::new(),
            quiet_limit,
        })
    }

    /// A tiny_http server (and its accept thread) on a clone of `listener`.
    fn serve(listener: &TcpListener) -> std::io::Result<tiny_http::Server> {
        let clone = listener.try_clone()?;
        tiny_http::Server::from_listener(clone, None).map_err(std::io::Error::other)
    }

    /// The next request, waiting at most about `timeout`.
    fn recv(&mut self, timeout: Duration) -> std::io::Result<Option<tiny_http::Request>> {
        for retired in &mut self.retired {
            if let Ok(Some(req)) = retired.server.try_recv() {
                retired.last_request = Instant::now();
                return Ok(Some(req));
            }
        }
        let quiet_limit = self.quiet_limit;
        self.retired
            .retain(|r| r.last_request.elapsed() <= quiet_limit);
        match self.current.recv_timeout(timeout) {
            Ok(req) => Ok(req),
            Err(e) => {
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                {
                    log::debug!("no connection within --web.read-timeout; accepting again");
                } else {
                    // E.g. out of file descriptors: back off before trying again.
                    log::warn!("accepting HTTP connections failed, accepting again: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                let fresh = Acceptor::serve(&self.listener)?;
                let old = std::mem::replace(&mut self.current, fresh);
                self.retired.push(RetiredServer {
                    server: old,
                    last_request: Instant::now(),
                });
                Ok(None)
            }
        }
    }
}

/// Takes requests off one listener until stopped.
fn dispatch(
    mut acceptor: Acceptor,
    tx: &Sender<tiny_http::Request>,
    stop: &AtomicBool,
    handler: &WebHandler,
    in_flight: &AtomicUsize,
) {
    let max = handler.options.max_connections.max(1);
    while !stop.load(Ordering::SeqCst) {
        let req = match acceptor.recv(Duration::from_millis(100)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log::error!("cannot accept HTTP connections any more: {e}");
                return;
            }
        };
        if in_flight.fetch_add(1, Ordering::SeqCst) >= max {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            handler.metrics().rejected.inc();
            let resp = tiny_http::Response::from_string("too many open connections\n")
                .with_status_code(503);
            let _ = req.respond(resp);
            continue;
        }
        if let Err(e) = tx.send(req) {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = e.into_inner().respond(
                tiny_http::Response::from_string("server shutting down\n").with_status_code(503),
            );
            return;
        }
    }
}

fn worker(handler: &WebHandler, rx: &Receiver<tiny_http::Request>, in_flight: &AtomicUsize) {
    for mut raw in rx.iter() {
        let started = Instant::now();
        let (label, resp) = match read_request(&mut raw, &handler.options.route_prefix) {
            Ok(Some(req)) => {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let (label, mut resp) = handler.serve(&req);
                    maybe_gzip(&req, &mut resp);
                    (label, resp)
                }));
                match outcome {
                    Ok(r) => r,
                    Err(p) => {
                        handler.metrics().panics.inc();
                        log::error!(
                            "panic while serving {} {}: {}",
                            req.method,
                            req.path,
                            crate::run_group::panic_message(&*p)
                        );
                        (
                            "other".to_string(),
                            Response::text(500, "Internal Server Error"),
                        )
                    }
                }
            }
            Ok(None) => (
                "other".to_string(),
                Response::text(404, "404 page not found"),
            ),
            Err(resp) => ("other".to_string(), resp),
        };
        let code = resp.status.to_string();
        handler
            .metrics()
            .response_size
            .with(&[&label])
            .observe(resp.body.len() as f64);
        handler.metrics().requests.with(&[&code, &label]).inc();
        // Free the slot before the client can see the answer, so a client
        // that sends its next request right away is not refused.
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let _ = raw.respond(to_tiny(resp));
        handler
            .metrics()
            .duration
            .with(&[&label])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Decodes a tiny_http request; `Ok(None)` when the path is outside the route prefix.
fn read_request(raw: &mut tiny_http::Request, prefix: &str) -> Result<Option<Request>, Response> {
    let url = raw.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let path = super::http::percent_decode_path(path);
    let path = if prefix == "/" {
        path
    } else if path == prefix {
        "/".to_string()
    } else {
        match path.strip_prefix(prefix) {
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => return Ok(None),
        }
    };
    let headers: Vec<(String, String)> = raw
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let mut body = Vec::new();
    if let Some(len) = raw.body_length() {
        if len as u64 > MAX_BODY_BYTES {
            return Err(Response::text(413, "request body too large"));
        }
    }
    if let Err(e) = raw
        .as_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
    {
        return Err(Response::text(
            400,
            &format!("error reading request body: {e}"),
        ));
    }
    if body.len() as u64 > MAX_BODY_BYTES {
        return Err(Response::text(413, "request body too large"));
    }
    let mut params = parse_form(query);
    let is_form = headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/x-www-form-urlencoded"));
    let method = raw.method().as_str().to_string();
    if is_form && matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        params.extend(parse_form(&String::from_utf8_lossy(&body)));
    }
    Ok(Some(Request {
        method,
        path,
        params,
        headers,
        body,
    }))
}

fn maybe_gzip(req: &Request, resp: &mut Response) {
    if resp.body.len() < GZIP_MIN_BYTES {
        return;
    }
    let accepts = req
        .header("accept-encoding")
        .map(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip"))
        })
        .unwrap_or(false);
    if !accepts {
        return;
    }
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(resp.body.len() / 4),
        flate2::Compression::fast(),
    );
    if std::io::Write::write_all(&mut enc, &resp.body).is_err() {
        return;
    }
    if let Ok(z) = enc.finish() {
        resp.body = z;
        resp.headers
            .push(("Content-Encoding".to_string(), "gzip".to_string()));
        resp.headers
            .push(("Vary".to_string(), "Accept-Encoding".to_string()));
    }
}

fn to_tiny(resp: Response) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut out = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], resp.content_type.as_bytes())
    {
        out.add_header(h);
    }
    for (k, v) in resp.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            out.add_header(h);
        }
    }
    out
}

/// Sets SO_RCVTIMEO on the listening socket; Linux copies it to every accepted
/// connection, which is how `--web.read-timeout` reaches connections that
/// tiny_http accepts on its own thread.
fn set_read_timeout(listener: &TcpListener, timeout: Duration) {
    use std::os::fd::AsRawFd;
    if timeout.is_zero() {
        return;
    }
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the fd is a valid open socket owned by `listener`, and `tv` is a
    // properly initialised timeval whose size is passed alongside it.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::warn!(
            "cannot set --web.read-timeout on the listener: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStorage;
    use crate::web::api::v1::{Api, BuildInfo, ServerStatus};
    use crate::web::api::ScrapeStatus;
    use crate::web::Options;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    struct PanickingScrape;

    impl ScrapeStatus for PanickingScrape {
        fn targets(&self, _: &str, _: &str) -> serde_json::Value {
            panic!("scrape status exploded")
        }
        fn targets_metadata(
            &self,
            _: &[crate::model::Matcher],
            _: &str,
            _: usize,
        ) -> Result<serde_json::Value, crate::web::api::ApiError> {
            Ok(serde_json::Value::Null)
        }
        fn metadata(
            &self,
            _: &str,
            _: usize,
            _: usize,
        ) -> Result<serde_json::Value, crate::web::api::ApiError> {
            Ok(serde_json::Value::Null)
        }
    }

    fn start(
        options: Options,
    ) -> (
        std::net::SocketAddr,
        StopHandle,
        JoinHandle<Result<(), WebError>>,
    ) {
        let api = Api {
            storage: Arc::new(MemStorage::new()),
            engine: None,
            scrape: Some(Arc::new(PanickingScrape)),
            rules: None,
            alertmanagers: None,
            tsdb: None,
            status: Arc::new(ServerStatus::new(
                BuildInfo::current(),
                Default::default(),
                String::new(),
                0,
            )),
            now: crate::model::value::now_millis,
        };
        let web = WebHandler::new(options, api);
        web.set_ready(true);
        let server = HttpServer::bind(web).unwrap();
        let addr = server.local_addrs()[0];
        let stop = server.stop_handle();
        let t = std::thread::spawn(move || server.run());
        (addr, stop, t)
    }

    fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn handler_panic_is_a_500_and_the_server_survives() {
        let (addr, stop, t) = start(Options::for_address("127.0.0.1:0"));
        // The family is process-wide: asking for it again gives the same counter.
        let panics = crate::telemetry::global().counter("promlite_http_handler_panics_total", "");
        let before = panics.get();
        let r = request(addr, "GET", "/api/v1/targets");
        assert!(r.starts_with("HTTP/1.1 500"), "{r}");
        assert!(panics.get() >= before + 1.0, "panic not counted");
        let r = request(addr, "GET", "/-/healthy");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        stop.stop();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn requests_beyond_max_connections_are_rejected() {
        let mut o = Options::for_address("127.0.0.1:0");
        o.max_connections = 1;
        // Nobody answers reloads here, so a reload holds its slot for read_timeout.
        o.read_timeout = Duration::from_millis(2500);
        let (addr, stop, t) = start(o);
        let slow = std::thread::spawn(move || request(addr, "POST", "/-/reload"));
        std::thread::sleep(Duration::from_millis(600));
        let r = request(addr, "GET", "/-/healthy");
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        assert!(r.contains("too many open connections"), "{r}");
        let r = slow.join().unwrap();
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        let r = request(addr, "GET", "/-/healthy");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        stop.stop();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn an_idle_listener_keeps_accepting_after_the_read_timeout() {
        let mut o = Options::for_address("127.0.0.1:0");
        o.read_timeout = Duration::from_millis(200);
        let (addr, stop, t) = start(o);
        // accept() on the listener times out twice over while nobody connects.
        std::thread::sleep(Duration::from_millis(700));
        for _ in 0..3 {
            let r = request(addr, "GET", "/-/healthy");
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        }
        std::thread::sleep(Duration::from_millis(500));
        let r = request(addr, "GET", "/-/healthy");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        stop.stop();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn idle_connections_are_closed_after_the_read_timeout() {
        let mut o = Options::for_address("127.0.0.1:0");
        o.read_timeout = Duration::from_millis(300);
        let (addr, stop, t) = start(o);
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 16];
        // The server closes the silent connection: read returns EOF (or an
        // error), well before our own 5 s guard.
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        stop.stop();
        t.join().unwrap().unwrap();
    }
}
