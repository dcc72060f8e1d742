//! Shared helpers for the end-to-end tests: start the real `promlite` binary
//! on a free 127.0.0.1 port with a temporary data dir and config, talk HTTP to
//! it with a minimal blocking client, send it signals, wait for it with bounds;
//! run the built `promlite-tool` and build the chunks its tests write.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_promlite");

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A running promlite; killed on drop if still alive.
pub struct Promlite {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub prefix: String,
}

pub const GOOD_CONFIG: &str = "global:\n  scrape_interval: 15s\n  external_labels:\n    replica: e2e\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['localhost:9090']\n";
pub const BAD_CONFIG: &str = "global: [this is not: valid\n";

impl Promlite {
    /// Starts promlite with `config` and extra flags, and waits until `/-/ready` is 200.
    pub fn start(config: &str, extra: &[&str]) -> Promlite {
        let p = Promlite::spawn(config, extra);
        p.wait_ready();
        p
    }

    /// Starts promlite without waiting.
    pub fn spawn(config: &str, extra: &[&str]) -> Promlite {
        Promlite::spawn_in(tempfile::tempdir().expect("temp dir"), config, extra)
    }

    /// Starts promlite in an existing directory (its `data/` is kept), and
    /// waits until `/-/ready` is 200: a restart on the same storage.
    pub fn start_in(dir: tempfile::TempDir, config: &str, extra: &[&str]) -> Promlite {
        let p = Promlite::spawn_in(dir, config, extra);
        p.wait_ready();
        p
    }

    /// Kills the process with SIGKILL and hands back its directory.
    pub fn kill_and_keep_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Stops the process with SIGTERM (bounded wait) and hands back its directory.
    pub fn stop_and_keep_dir(mut self) -> tempfile::TempDir {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(Duration::from_secs(20));
        assert!(status.success(), "promlite exited with {status}");
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Polls `f` every 100ms until it returns `Some`, for at most `within`.
    pub fn wait_for<T>(
        &self,
        within: Duration,
        mut f: impl FnMut(&Promlite) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = f(self) {
                return Some(v);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The result vector of an instant query.
    pub fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let v = self
            .get(&format!("/api/v1/query?query={}", encode(q)))
            .json();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Starts promlite on a given port (for configs that name it), and waits until ready.
    pub fn start_on_port(config: &str, port: u16, extra: &[&str]) -> Promlite {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = Promlite::spawn_with(dir, config, Some(port), extra);
        p.wait_ready();
        p
    }

    /// Starts promlite in `dir` without waiting.
    pub fn spawn_in(dir: tempfile::TempDir, config: &str, extra: &[&str]) -> Promlite {
        Promlite::spawn_with(dir, config, None, extra)
    }

    fn spawn_with(
        dir: tempfile::TempDir,
        config: &str,
        port: Option<u16>,
        extra: &[&str],
    ) -> Promlite {
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        let port = port.unwrap_or_else(free_port);
        let prefix = extra
            .iter()
            .find_map(|a| a.strip_prefix("--web.route-prefix="))
            .map(|p| format!("/{}", p.trim_matches('/')))
            .unwrap_or_default();
        let child = Command::new(BIN)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(if extra.contains(&"--agent") {
                format!("--storage.agent.path={}", dir.path().join("data").display())
            } else {
                format!("--storage.tsdb.path={}", dir.path().join("data").display())
            })
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start promlite");
        Promlite {
            child,
            port,
            dir,
            prefix: if prefix == "/" { String::new() } else { prefix },
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.yml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = self.try_request("GET", &format!("{}/-/ready", self.prefix), &[], b"") {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("promlite on port {} did not become ready in 20s", self.port);
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[], b"")
    }

    pub fn post(&self, path: &str) -> HttpResponse {
        self.request("POST", path, &[], b"")
    }

    pub fn post_form(&self, path: &str, form: &str) -> HttpResponse {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.try_request(method, &format!("{}{path}", self.prefix), headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request to an exact path (no route prefix added).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<HttpResponse> {
        http_request(self.port, method, path, headers, body)
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        wait_child(&mut self.child, within)
    }

    /// Everything the process wrote to stderr (after it exited).
    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// Polls `/metrics` until `line_prefix` appears with `value`.
    pub fn wait_metric(&self, line_prefix: &str, value: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let m = self.get("/metrics").text();
            if m.lines()
                .any(|l| l.starts_with(line_prefix) && l.ends_with(&format!(" {value}")))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Promlite {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits (bounded) for a child to exit; kills it and panics on timeout.
pub fn wait_child(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the binary with `args` to completion (bounded) and returns (exit code, stdout, stderr).
pub fn run_to_exit(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promlite");
    let status = wait_child(&mut child, Duration::from_secs(20));
    let mut out = String::new();
    let mut err = String::new();
    if let Some(o) = child.stdout.as_mut() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(e) = child.stderr.as_mut() {
        let _ = e.read_to_string(&mut err);
    }
    (status.code().unwrap_or(-1), out, err)
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client: one request per connection, bounded by timeouts.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = &b[(end + 2).min(b.len())..];
    }
    out
}

/// Where upstream's test data lives, or None (tests then skip).
pub fn peer_dir() -> Option<PathBuf> {
    let dir = std::env::var("PROMLITE_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer")));
    dir.is_dir().then_some(dir)
}

/// Percent-encodes a query-string value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A tiny HTTP server on 127.0.0.1 for tests: answers every request with
/// `respond(method, path, body)` and stops when dropped.
pub struct TestServer {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(
        respond: impl Fn(&str, &str, Vec<u8>) -> (u16, String) + Send + 'static,
    ) -> TestServer {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind test server");
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .expect("test server port");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let (status, text) = respond(req.method().as_str(), req.url(), body);
                let _ =
                    req.respond(tiny_http::Response::from_string(text).with_status_code(status));
            }
        });
        TestServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the built `promlite-tool` with `args` in `dir`, stdin empty.
pub fn tool(args: &[&str], dir: &Path) -> Output {
    tool_with_stdin(args, dir, "")
}

/// Runs the built `promlite-tool` with `args` in `dir`, feeding it `stdin`.
pub fn tool_with_stdin(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_promlite-tool"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running promlite-tool: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("writing promlite-tool's stdin: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for promlite-tool: {e}"))
}

/// A process's output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One XOR chunk holding `samples`, for the blocks tool tests write with
/// promlite's own `write_block`.
pub fn xor_chunk(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut app = promlite::tsdb::chunkenc::xor::XorAppender::new();
    for &(t, v) in samples {
        app.append(t, v);
    }
    app.into_bytes()
}

/// Copies a directory tree (a TSDB data dir, say), leaving out `lock` files.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else if e.file_name() != "lock" {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Every sample of the series `{__name__=metric, i="0".."n-1"}` in `db`, by `i`.
pub fn samples_by_index(db: &promlite::tsdb::Db, metric: &str, n: usize) -> Vec<Vec<(i64, f64)>> {
    use promlite::storage::Queryable;
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = vec![Vec::new(); n];
    let matcher = promlite::model::Matcher::equal("__name__", metric);
    for s in q.select(false, None, &[matcher]).unwrap() {
        let s = s.unwrap();
        let i: usize = s.labels().get("i").unwrap().parse().unwrap();
        let mut it = s.iterator();
        while let Some(x) = it.next() {
            out[i].push(x);
        }
    }
    out
}
