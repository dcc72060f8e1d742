//! Test helpers for the remote storage tests: an HTTP endpoint on
//! 127.0.0.1 (tiny_http) that records requests and answers through a
//! handler, and bounded waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request the endpoint received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The reply of a handler: status, headers, body.
pub type Reply = (u16, Vec<(String, String)>, Vec<u8>);

type Handler = dyn Fn(&[(String, String)], &[u8]) -> Reply + Send + Sync;

/// An HTTP endpoint that records every request.
pub struct Endpoint {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    handler: Arc<Mutex<Arc<Handler>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Starts an endpoint at `path` answering through `handler`.
    pub fn start(
        path: &str,
        handler: impl Fn(&[(String, String)], &[u8]) -> Reply + Send + Sync + 'static,
    ) -> Endpoint {
        Endpoint::start_at("127.0.0.1:0", path, handler)
    }

    /// Starts an endpoint listening on `addr` (e.g. the address of an
    /// endpoint that was dropped: a receiver coming back after an outage).
    pub fn start_at(
        addr: &str,
        path: &str,
        handler: impl Fn(&[(String, String)], &[u8]) -> Reply + Send + Sync + 'static,
    ) -> Endpoint {
        let server = tiny_http::Server::http(addr).expect("bind 127.0.0.1");
        let addr = server.server_addr().to_ip().expect("ip listener");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Mutex<Arc<Handler>>> = Arc::new(Mutex::new(Arc::new(handler)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let requests = requests.clone();
            let handler = handler.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(20)) else {
                        continue;
                    };
                    let mut body = Vec::new();
                    let _ = req.as_reader().read_to_end(&mut body);
                    let headers: Vec<(String, String)> = req
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect();
                    let h = handler.lock().unwrap().clone();
                    let (status, reply_headers, reply_body) = h(&headers, &body);
                    requests.lock().unwrap().push(Recorded {
                        headers,
                        body,
                        status,
                    });
                    let mut resp =
                        tiny_http::Response::from_data(reply_body).with_status_code(status);
                    for (k, v) in reply_headers {
                        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                            resp = resp.with_header(h);
                        }
                    }
                    let _ = req.respond(resp);
                }
            })
        };
        Endpoint {
            url: format!("http://{addr}{path}"),
            requests,
            handler,
            stop,
            thread: Some(thread),
        }
    }

    /// Replaces the handler (e.g. the receiver comes back after an outage).
    pub fn set_handler(
        &self,
        handler: impl Fn(&[(String, String)], &[u8]) -> Reply + Send + Sync + 'static,
    ) {
        *self.handler.lock().unwrap() = Arc::new(handler);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The `host:port` the endpoint listens on.
    pub fn addr(&self) -> String {
        let rest = self.url.trim_start_matches("http://");
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A handler answering `status` with an empty body.
pub fn status(code: u16) -> impl Fn(&[(String, String)], &[u8]) -> Reply + Send + Sync {
    move |_, _| (code, Vec::new(), Vec::new())
}

/// Polls `cond` every 10 ms for at most `limit`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}
