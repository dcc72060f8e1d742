//! The HTTP server: one accept thread per listener and one thread per
//! connection, at most `--web.max-connections` connections across all
//! listeners. As upstream's `LimitListener`, a listener stops accepting while
//! the limit is reached, so further connections wait in the kernel's backlog
//! rather than being refused. A connection thread reads requests off its
//! socket ([`super::wire`]), runs the handler, adds gzip when the client
//! accepts it, records upstream's HTTP metrics and writes the answer; it
//! serves the connection's keep-alive requests one after another. Handler
//! panics are caught (500, logged, counted). Nothing here knows a route:
//! that is [`WebHandler::serve`].
//!
//! `--web.read-timeout` bounds every read on a connection, so an idle
//! keep-alive connection is closed after that long, as Go's `ReadTimeout`
//! (which its `IdleTimeout` defaults to).
//!
//! Stopping wakes the accept threads, shuts the read side of every open
//! connection (idle ones end at once, a request being served still gets its
//! answer) and waits a bounded time for the connection threads to finish.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::http::{parse_form, Request, Response};
use super::wire::{self, RequestHead, ResponseHead, WireError};
use super::WebHandler;

/// Bodies larger than this are refused (413); remote-write batches are far smaller.
const MAX_BODY_BYTES: u64 = 64 << 20;
/// Responses smaller than this are not worth compressing.
const GZIP_MIN_BYTES: usize = 1024;
/// How long stopping waits for requests in flight to be answered.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
}

/// State the accept and connection threads share.
struct Shared {
    stopping: AtomicBool,
    /// Connection slots by id: reserved before `accept()` (`None`), then
    /// holding a handle on the connection to shut it down on stop. Its
    /// length is what `--web.max-connections` bounds, across all listeners.
    open: Mutex<HashMap<u64, Option<TcpStream>>>,
    /// Signalled when a connection closes or the server stops.
    changed: Condvar,
    next_id: AtomicU64,
}

impl Shared {
    fn open(&self) -> MutexGuard<'_, HashMap<u64, Option<TcpStream>>> {
        // A connection thread that panicked while holding the lock leaves a
        // map that is still consistent: every update is a single call.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves a connection slot, blocking while `max` are taken; `None`
    /// when the server is stopping.
    fn reserve(&self, max: usize) -> Option<u64> {
        let mut open = self.open();
        while open.len() >= max && !self.stopping.load(Ordering::SeqCst) {
            open = self.changed.wait(open).unwrap_or_else(|p| p.into_inner());
        }
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, None);
        Some(id)
    }

    /// Gives a reserved slot the connection it was taken for.
    fn attach(&self, id: u64, stream: &TcpStream) {
        if let Some(slot) = self.open().get_mut(&id) {
            *slot = stream.try_clone().ok();
        }
    }

    fn unregister(&self, id: u64) {
        self.open().remove(&id);
        self.changed.notify_all();
    }
}

/// Stops a running [`HttpServer`] from another thread.
#[derive(Clone)]
pub struct StopHandle {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
}

impl StopHandle {
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // A blocked accept() only returns for a connection: make one.
        for addr in &self.addrs {
            let _ = TcpStream::connect_timeout(&wake_address(*addr), Duration::from_secs(1));
        }
    }
}

/// Where to connect to reach a listener bound to `addr` (a wildcard
/// address is reached on loopback).
fn wake_address(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

impl HttpServer {
    /// Binds every listen address. Binding happens before the run group
    /// starts, so a taken port is a start-up error, as upstream's `Listeners()`.
    pub fn bind(handler: Arc<WebHandler>) -> Result<HttpServer, WebError> {
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for addr in &handler.options.listen_addresses {
            let sock = addr
                .to_socket_addrs()
                .map_err(|e| WebError(format!("invalid listen address {addr:?}: {e}")))?
                .next()
                .ok_or_else(|| WebError(format!("listen address {addr:?} resolves to nothing")))?;
            let listener =
                TcpListener::bind(sock).map_err(|e| WebError(format!("listen tcp {addr}: {e}")))?;
            let local = listener
                .local_addr()
                .map_err(|e| WebError(format!("listen tcp {addr}: {e}")))?;
            listeners.push(listener);
            addrs.push(local);
        }
        Ok(HttpServer {
            handler,
            listeners,
            addrs,
            shared: Arc::new(Shared {
                stopping: AtomicBool::new(false),
                open: Mutex::new(HashMap::new()),
                changed: Condvar::new(),
                next_id: AtomicU64::new(0),
            }),
        })
    }

    /// The bound addresses (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: self.shared.clone(),
            addrs: self.addrs.clone(),
        }
    }

    /// Serves until the stop handle fires, then drains the open connections.
    pub fn run(self) -> Result<(), WebError> {
        let mut accepters = Vec::new();
        for (listener, addr) in self.listeners.into_iter().zip(&self.addrs) {
            log::info!(address:% = addr; "Start listening for connections");
            let shared = self.shared.clone();
            let handler = self.handler.clone();
            let t = std::thread::Builder::new()
                .name(format!("web-accept-{addr}"))
                .spawn(move || accept_loop(&listener, &shared, &handler))
                .map_err(|e| WebError(format!("cannot start the web listener thread: {e}")))?;
            accepters.push(t);
        }
        for t in accepters {
            let _ = t.join();
        }
        drain(&self.shared);
        Ok(())
    }
}

/// Accepts connections on one listener until the server stops, each on its
/// own thread, waiting while `--web.max-connections` are open.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, handler: &Arc<WebHandler>) {
    let max = handler.options.max_connections.max(1);
    let read_timeout = Some(handler.options.read_timeout).filter(|t| !t.is_zero());
    while let Some(id) = shared.reserve(max) {
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break Some(s),
                Err(_) if shared.stopping.load(Ordering::SeqCst) => break None,
                Err(e) => {
                    // E.g. out of file descriptors: back off before trying again.
                    log::warn!("accepting HTTP connections failed, accepting again: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        let stream = match stream {
            Some(s) if !shared.stopping.load(Ordering::SeqCst) => s,
            _ => {
                shared.unregister(id);
                break;
            }
        };
        let _ = stream.set_read_timeout(read_timeout);
        let _ = stream.set_nodelay(true);
        shared.attach(id, &stream);
        let conn_shared = shared.clone();
        let handler = handler.clone();
        let spawned = std::thread::Builder::new()
            .name("web-conn".to_string())
            .spawn(move || {
                serve_connection(stream, &handler);
                conn_shared.unregister(id);
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread for an HTTP connection, closing it: {e}");
            shared.unregister(id);
        }
    }
}

/// Ends every idle connection and waits (bounded) for the rest to answer.
fn drain(shared: &Shared) {
    for stream in shared.open().values().flatten() {
        // Reads end; a response being written still goes out.
        let _ = stream.shutdown(Shutdown::Read);
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut open = shared.open();
    while !open.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log::warn!(
                "{} HTTP connections still busy after {DRAIN_TIMEOUT:?}; not waiting for them",
                open.len()
            );
            return;
        }
        open = shared
            .changed
            .wait_timeout(open, left)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
}

/// Serves the requests of one connection until it closes, fails, times out
/// or asks to close.
fn serve_connection(stream: TcpStream, handler: &WebHandler) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(stream);
    loop {
        let head = match wire::read_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                answer_wire_error(&mut writer, handler, &e);
                return;
            }
        };
        let started = Instant::now();
        let keep_alive = head.keep_alive();
        let body = match read_body(&mut reader, &mut writer, &head) {
            Ok(b) => b,
            Err(e) => {
                answer_wire_error(&mut writer, handler, &e);
                return;
            }
        };
        // What the answer's framing needs, before the head moves into the request.
        let echo_keep_alive = keep_alive && head.minor_version == 0;
        let head_only = head.method == "HEAD";
        let (label, resp) = match to_request(head, body, &handler.options.route_prefix) {
            Some(req) => {
                let (label, mut resp) = serve_catching_panics(handler, &req);
                if accepts_gzip(&req) {
                    maybe_gzip(&mut resp);
                }
                (label, resp)
            }
            None => (
                "other".to_string(),
                Response::text(404, "404 page not found"),
            ),
        };
        let m = handler.metrics();
        m.response_size
            .with(&[&label])
            .observe(resp.body.len() as f64);
        m.requests.with(&[&resp.status.to_string(), &label]).inc();
        let written = wire::write_response(
            &mut writer,
            &ResponseHead {
                status: resp.status,
                content_type: resp.content_type,
                headers: &resp.headers,
                keep_alive,
                echo_keep_alive,
                head_only,
            },
            &resp.body,
        );
        m.duration
            .with(&[&label])
            .observe(started.elapsed().as_secs_f64());
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// Reads the request's body, first sending `100 Continue` when asked for it.
fn read_body(
    reader: &mut BufReader<TcpStream>,
    writer: &mut BufWriter<TcpStream>,
    head: &RequestHead,
) -> Result<Vec<u8>, WireError> {
    let framing = head.body_framing()?;
    if framing == wire::BodyFraming::None {
        return Ok(Vec::new());
    }
    // wire::read_body checks the limit too; a declared length over it is
    // refused here already, before 100 Continue invites the client to send it.
    if let wire::BodyFraming::Length(n) = framing {
        if n > MAX_BODY_BYTES {
            return Err(WireError::BodyTooLarge);
        }
    }
    if head.expects_continue() {
        wire::write_continue(writer)?;
    }
    wire::read_body(reader, &framing, MAX_BODY_BYTES)
}

/// Answers a request that could not be read (when the connection still
/// can be answered) and counts it; the connection is closed after.
fn answer_wire_error(writer: &mut BufWriter<TcpStream>, handler: &WebHandler, e: &WireError) {
    let Some((status, text)) = e.response() else {
        log::debug!("HTTP connection ended: {e}");
        return;
    };
    handler
        .metrics()
        .requests
        .with(&[&status.to_string(), "other"])
        .inc();
    let _ = wire::write_response(
        writer,
        &ResponseHead {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: &[],
            keep_alive: false,
            echo_keep_alive: false,
            head_only: false,
        },
        format!("{text}\n").as_bytes(),
    );
}

/// Runs the handler; a panic becomes a logged, counted 500.
fn serve_catching_panics(handler: &WebHandler, req: &Request) -> (String, Response) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.serve(req)));
    outcome.unwrap_or_else(|p| {
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
    })
}

/// The handler's view of a request; `None` when the path is outside the
/// route prefix.
fn to_request(head: RequestHead, body: Vec<u8>, prefix: &str) -> Option<Request> {
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let path = super::http::percent_decode_path(path);
    let path = if prefix == "/" {
        path
    } else if path == prefix {
        "/".to_string()
    } else {
        match path.strip_prefix(prefix) {
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => return None,
        }
    };
    let mut params = parse_form(query);
    let is_form = head
        .header("content-type")
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form && matches!(head.method.as_str(), "POST" | "PUT" | "PATCH") {
        params.extend(parse_form(&String::from_utf8_lossy(&body)));
    }
    Some(Request {
        method: head.method,
        path,
        params,
        headers: head.headers,
        body,
    })
}

fn accepts_gzip(req: &Request) -> bool {
    req.header("accept-encoding").is_some_and(|v| {
        v.split(',')
            .any(|e| e.trim().split(';').next() == Some("gzip"))
    })
}

/// Compresses a response worth compressing for a client that accepts gzip.
fn maybe_gzip(resp: &mut Response) {
    if resp.body.len() < GZIP_MIN_BYTES {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStorage;
    use crate::web::api::v1::{Api, BuildInfo, ServerStatus};
    use crate::web::api::ScrapeStatus;
    use crate::web::Options;
    use std::io::{BufRead, BufReader, Read, Write};
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
        std::thread::JoinHandle<Result<(), WebError>>,
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

    /// Sends one keep-alive request on `s` and reads its answer (by Content-Length).
    fn exchange(s: &mut TcpStream, raw: &str) -> String {
        s.write_all(raw.as_bytes()).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap() == 0 {
                return head;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if !raw.starts_with("HEAD ") {
            r.read_exact(&mut body).unwrap();
        }
        head + &String::from_utf8_lossy(&body)
    }

    fn connect(addr: std::net::SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    const HEALTHY: &str = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn a_connection_serves_requests_one_after_another() {
        let (addr, stop, t) = start(Options::for_address("127.0.0.1:0"));
        let mut s = connect(addr);
        for _ in 0..3 {
            let r = exchange(&mut s, HEALTHY);
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
            assert!(!r.contains("Connection: close"), "{r}");
        }
        let r = exchange(&mut s, "HEAD /-/healthy HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let r = exchange(
            &mut s,
            "GET /-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(r.contains("Connection: close\r\n"), "{r}");
        let mut rest = String::new();
        assert_eq!(s.read_to_string(&mut rest).unwrap_or(0), 0, "{rest}");
        stop.stop();
        t.join().unwrap().unwrap();
    }

    /// The regression that retired tiny_http: a browser opens several
    /// keep-alive connections at once, and a request on the last one must
    /// be answered while the others sit idle.
    #[test]
    fn idle_keep_alive_connections_do_not_hold_up_new_ones() {
        let (addr, stop, t) = start(Options::for_address("127.0.0.1:0"));
        let mut idle: Vec<TcpStream> = (0..12).map(|_| connect(addr)).collect();
        for s in &mut idle {
            assert!(exchange(s, HEALTHY).starts_with("HTTP/1.1 200"));
        }
        let mut fresh = connect(addr);
        fresh
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let r = exchange(&mut fresh, HEALTHY);
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        // Stopping ends the idle connections instead of waiting for them.
        let started = Instant::now();
        stop.stop();
        t.join().unwrap().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let mut buf = [0u8; 1];
        assert_eq!(idle[0].read(&mut buf).unwrap_or(0), 0);
    }

    #[test]
    fn connections_beyond_max_connections_wait_for_a_free_slot() {
        let mut o = Options::for_address("127.0.0.1:0");
        o.max_connections = 1;
        let (addr, stop, t) = start(o);
        let mut first = connect(addr);
        assert!(exchange(&mut first, HEALTHY).starts_with("HTTP/1.1 200"));
        let mut second = connect(addr);
        second
            .set_read_timeout(Some(Duration::from_millis(400)))
            .unwrap();
        second.write_all(HEALTHY.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        let waited = second.read(&mut buf);
        assert!(
            waited.is_err(),
            "answered while the only slot was taken: {waited:?}"
        );
        drop(first);
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let n = second.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        stop.stop();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn bodies_come_by_length_chunked_or_after_100_continue() {
        let (addr, stop, t) = start(Options::for_address("127.0.0.1:0"));
        let mut s = connect(addr);
        // The form body reaches the handler: a bad `time` in it is refused.
        let r = exchange(
            &mut s,
            "POST /api/v1/query HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ntime=\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        assert!(
            r.contains(r#"invalid parameter \"time\""#),
            "chunked form body lost: {r}"
        );
        s.write_all(b"POST /api/v1/query HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: 8\r\n\r\n").unwrap();
        let mut buf = [0u8; 25];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
        let r = exchange(&mut s, "time=abc");
        assert!(
            r.contains(r#"invalid parameter \"time\""#),
            "body after 100-continue lost: {r}"
        );
        stop.stop();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn malformed_requests_get_400_and_the_connection_closes() {
        let (addr, stop, t) = start(Options::for_address("127.0.0.1:0"));
        let r = request(addr, "GET", "/a b");
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
        let mut s = connect(addr);
        s.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 501"), "{out}");
        let r = request(addr, "GET", "/-/healthy");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        stop.stop();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn an_idle_listener_keeps_accepting() {
        let mut o = Options::for_address("127.0.0.1:0");
        o.read_timeout = Duration::from_millis(200);
        let (addr, stop, t) = start(o);
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..3 {
            let r = request(addr, "GET", "/-/healthy");
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        }
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
