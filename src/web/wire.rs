//! HTTP/1.1 on the wire: reading a request head and body off a connection
//! and writing a response back (RFC 9112). Only framing lives here: the
//! request line, header fields, `Content-Length` and chunked bodies,
//! `Expect: 100-continue`, persistence (`Connection`) and the status line.
//! What a request means is [`super::WebHandler::serve`]'s business; which
//! thread reads which connection is [`super::server`]'s.
//!
//! Everything works on `BufRead`/`Write`, so it is unit-tested on byte
//! slices without a socket.

use std::io::{self, BufRead, Read, Write};

/// Request heads larger than this are refused with 431, as Go's
/// `http.DefaultMaxHeaderBytes`.
pub const MAX_HEAD_BYTES: usize = 1 << 20;

/// What went wrong reading a request; each maps to the answer the client gets.
#[derive(Debug)]
pub enum WireError {
    /// The connection failed or timed out: nothing can be answered.
    Io(io::Error),
    /// The peer closed the connection in the middle of a request.
    Truncated,
    /// A malformed request line, header or chunk: 400.
    BadRequest(String),
    /// The head is over [`MAX_HEAD_BYTES`]: 431.
    HeadTooLarge,
    /// The body is over the server's limit: 413.
    BodyTooLarge,
    /// A transfer coding other than `chunked`: 501, as Go.
    UnsupportedTransferEncoding(String),
}

impl WireError {
    /// The status and text to answer with, or `None` when the connection
    /// is beyond answering.
    pub fn response(&self) -> Option<(u16, String)> {
        match self {
            WireError::Io(_) | WireError::Truncated => None,
            WireError::BadRequest(why) => Some((400, format!("400 Bad Request: {why}"))),
            WireError::HeadTooLarge => Some((431, "431 Request Header Fields Too Large".into())),
            WireError::BodyTooLarge => Some((413, "request body too large".into())),
            WireError::UnsupportedTransferEncoding(te) => {
                Some((501, format!("unsupported transfer encoding: {te:?}")))
            }
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "reading the request: {e}"),
            WireError::Truncated => f.write_str("the client closed the connection mid-request"),
            WireError::BadRequest(why) => write!(f, "malformed request: {why}"),
            WireError::HeadTooLarge => write!(f, "request head over {MAX_HEAD_BYTES} bytes"),
            WireError::BodyTooLarge => f.write_str("request body too large"),
            WireError::UnsupportedTransferEncoding(te) => {
                write!(f, "unsupported transfer encoding {te:?}")
            }
        }
    }
}

impl std::error::Error for WireError {}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> WireError {
        WireError::Io(e)
    }
}

/// A request line and its header fields.
#[derive(Debug)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent: origin form (`/path?query`), or the
    /// path of an absolute-form target.
    pub target: String,
    /// The `y` of `HTTP/1.y`.
    pub minor_version: u8,
    /// Field names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
}

/// How the body of a request is delimited.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

impl RequestHead {
    /// The first value of a header field (name lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k == "connection")
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after the answer: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.minor_version >= 1 {
            !self.connection_has("close")
        } else {
            self.connection_has("keep-alive")
        }
    }

    /// Whether the client waits for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> bool {
        self.minor_version >= 1
            && self
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// The body's framing: chunked wins over a length, as RFC 9112 §6.3.
    pub fn body_framing(&self) -> Result<BodyFraming, WireError> {
        if let Some(te) = self.header("transfer-encoding") {
            // Only `chunked` alone: other codings (gzip, ...) are not decoded.
            if te.trim().eq_ignore_ascii_case("chunked") {
                return Ok(BodyFraming::Chunked);
            }
            return Err(WireError::UnsupportedTransferEncoding(te.to_string()));
        }
        let mut lengths = self.headers.iter().filter(|(k, _)| k == "content-length");
        let Some((_, first)) = lengths.next() else {
            return Ok(BodyFraming::None);
        };
        if lengths.any(|(_, v)| v != first) {
            return Err(WireError::BadRequest(
                "conflicting Content-Length headers".into(),
            ));
        }
        let n: u64 = first
            .trim()
            .parse()
            .map_err(|_| WireError::BadRequest(format!("bad Content-Length {first:?}")))?;
        Ok(if n == 0 {
            BodyFraming::None
        } else {
            BodyFraming::Length(n)
        })
    }
}

/// Reads one line (up to and without its `\n`, and a `\r` before it),
/// charging its bytes to `budget`. `Ok(None)` on end of stream before any byte.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<Option<Vec<u8>>, WireError> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(WireError::HeadTooLarge);
    }
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(WireError::Truncated);
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads the next request head; `Ok(None)` when the client closed the
/// connection between requests.
pub fn read_head<R: BufRead>(r: &mut R) -> Result<Option<RequestHead>, WireError> {
    let mut budget = MAX_HEAD_BYTES;
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let line = loop {
        match read_line(r, &mut budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let line = String::from_utf8(line)
        .map_err(|_| WireError::BadRequest("request line is not UTF-8".into()))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(WireError::BadRequest(format!(
            "malformed request line {line:?}"
        )));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(WireError::BadRequest(format!("invalid method {method:?}")));
    }
    let minor_version = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => {
            return Err(WireError::BadRequest(format!(
                "unsupported protocol version {version:?}"
            )))
        }
    };
    let target = origin_form(target)?;
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(r, &mut budget)? else {
            return Err(WireError::Truncated);
        };
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(WireError::BadRequest(
                "obsolete line folding in header".into(),
            ));
        }
        let line = String::from_utf8_lossy(&line);
        let Some((name, value)) = line.split_once(':') else {
            return Err(WireError::BadRequest(format!(
                "malformed header line {line:?}"
            )));
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(WireError::BadRequest(format!(
                "invalid header name {name:?}"
            )));
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(Some(RequestHead {
        method: method.to_string(),
        target,
        minor_version,
        headers,
    }))
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The origin form of a request target: absolute-form targets lose their
/// scheme and authority; `*` (OPTIONS) is kept as is.
fn origin_form(target: &str) -> Result<String, WireError> {
    if target.starts_with('/') || target == "*" {
        return Ok(target.to_string());
    }
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .and_then(|_| target.get(scheme.len()..))
        {
            return Ok(match rest.find(['/', '?']) {
                Some(i) if rest[i..].starts_with('/') => rest[i..].to_string(),
                Some(i) => format!("/{}", &rest[i..]),
                None => "/".to_string(),
            });
        }
    }
    Err(WireError::BadRequest(format!(
        "invalid request target {target:?}"
    )))
}

/// Reads a body of the given framing, refusing more than `max` bytes.
pub fn read_body<R: BufRead>(
    r: &mut R,
    framing: &BodyFraming,
    max: u64,
) -> Result<Vec<u8>, WireError> {
    match *framing {
        BodyFraming::None => Ok(Vec::new()),
        BodyFraming::Length(n) => {
            if n > max {
                return Err(WireError::BodyTooLarge);
            }
            let mut body = Vec::with_capacity(n.min(1 << 20) as usize);
            r.by_ref().take(n).read_to_end(&mut body)?;
            if (body.len() as u64) < n {
                return Err(WireError::Truncated);
            }
            Ok(body)
        }
        BodyFraming::Chunked => read_chunked(r, max),
    }
}

/// A chunked body (RFC 9112 §7.1); chunk extensions and trailer fields are
/// read and dropped.
fn read_chunked<R: BufRead>(r: &mut R, max: u64) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    // Chunk-size lines and trailers share the head's budget.
    let mut budget = MAX_HEAD_BYTES;
    loop {
        let line = read_line(r, &mut budget)?.ok_or(WireError::Truncated)?;
        let line = String::from_utf8_lossy(&line);
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| WireError::BadRequest(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            break;
        }
        if (body.len() as u64).saturating_add(size) > max {
            return Err(WireError::BodyTooLarge);
        }
        let before = body.len();
        r.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(WireError::Truncated);
        }
        match read_line(r, &mut budget)? {
            Some(l) if l.is_empty() => {}
            Some(_) => return Err(WireError::BadRequest("chunk longer than its size".into())),
            None => return Err(WireError::Truncated),
        }
    }
    // Trailer fields up to the empty line.
    loop {
        match read_line(r, &mut budget)? {
            Some(l) if l.is_empty() => return Ok(body),
            Some(_) => continue,
            None => return Err(WireError::Truncated),
        }
    }
}

/// Tells a client that sent `Expect: 100-continue` to send its body.
pub fn write_continue<W: Write>(w: &mut W) -> io::Result<()> {
    w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    w.flush()
}

/// A response ready for the wire.
pub struct ResponseHead<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub headers: &'a [(String, String)],
    /// Whether the connection stays open; when not, `Connection: close` is sent.
    pub keep_alive: bool,
    /// The request was HTTP/1.0 and asked for keep-alive: say it is granted.
    pub echo_keep_alive: bool,
    /// HEAD: headers as for GET, no body.
    pub head_only: bool,
}

/// Writes a whole response: status line, `Date`, `Content-Type`,
/// `Content-Length`, the handler's headers, then the body.
pub fn write_response<W: Write>(w: &mut W, head: &ResponseHead<'_>, body: &[u8]) -> io::Result<()> {
    let status = head.status;
    write!(w, "HTTP/1.1 {status} {}\r\n", reason_phrase(status))?;
    write!(w, "Date: {}\r\n", http_date(std::time::SystemTime::now()))?;
    // 1xx, 204 and 304 answers carry no body and no length (RFC 9110 §8.6).
    let bodiless = status < 200 || status == 204 || status == 304;
    if !bodiless {
        if !head.content_type.is_empty() {
            write!(w, "Content-Type: {}\r\n", head.content_type)?;
        }
        write!(w, "Content-Length: {}\r\n", body.len())?;
    }
    for (k, v) in head.headers {
        // A header value must not end the head early.
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            continue;
        }
        write!(w, "{k}: {v}\r\n")?;
    }
    if !head.keep_alive {
        w.write_all(b"Connection: close\r\n")?;
    } else if head.echo_keep_alive {
        w.write_all(b"Connection: keep-alive\r\n")?;
    }
    w.write_all(b"\r\n")?;
    if !bodiless && !head.head_only {
        w.write_all(body)?;
    }
    w.flush()
}

/// The reason phrase Go's `http.StatusText` gives, or Go's fallback.
fn reason_phrase(status: u16) -> std::borrow::Cow<'static, str> {
    let text = match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return format!("status code {status}").into(),
    };
    text.into()
}

/// IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: std::time::SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::model::civil::civil_from_days(days);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m as usize).saturating_sub(1) % 12],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<RequestHead>, WireError> {
        read_head(&mut raw.as_bytes())
    }

    fn parsed(raw: &str) -> RequestHead {
        head(raw).unwrap().unwrap()
    }

    #[test]
    fn reads_a_request_head() {
        let h = head(
            "GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\nAccept-Encoding:  gzip \r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/api/v1/query?query=up");
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.header("accept-encoding"), Some("gzip"));
        assert!(h.keep_alive());
        assert_eq!(h.body_framing().unwrap(), BodyFraming::None);
    }

    #[test]
    fn bare_newlines_and_leading_empty_lines_are_accepted() {
        let h = parsed("\r\n\nPOST / HTTP/1.0\nContent-Length: 3\n\n");
        assert_eq!(h.method, "POST");
        assert!(!h.keep_alive());
        assert_eq!(h.body_framing().unwrap(), BodyFraming::Length(3));
    }

    #[test]
    fn end_of_stream_between_requests_is_not_an_error() {
        assert!(head("").unwrap().is_none());
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        for raw in [
            "GET /\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: b\r\n\r\n",
            "GET foo HTTP/1.1\r\n\r\n",
        ] {
            match head(raw) {
                Err(WireError::BadRequest(_)) => {}
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_head_cut_short_is_truncated() {
        assert!(matches!(
            head("GET / HTTP/1.1\r\nHost: x\r\n"),
            Err(WireError::Truncated)
        ));
        assert!(matches!(head("GET / HTT"), Err(WireError::Truncated)));
    }

    #[test]
    fn an_oversized_head_is_refused() {
        let raw = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert!(matches!(head(&raw), Err(WireError::HeadTooLarge)));
    }

    #[test]
    fn absolute_form_targets_become_paths() {
        let h = parsed("GET http://example.org:9090/metrics?x=1 HTTP/1.1\r\n\r\n");
        assert_eq!(h.target, "/metrics?x=1");
        let h = parsed("GET HTTP://example.org?x=1 HTTP/1.1\r\n\r\n");
        assert_eq!(h.target, "/?x=1");
    }

    #[test]
    fn persistence_follows_the_connection_header() {
        let h = parsed("GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n");
        assert!(!h.keep_alive());
        let h = parsed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.keep_alive());
    }

    #[test]
    fn body_framing_rules() {
        let h = parsed("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        assert!(matches!(h.body_framing(), Err(WireError::BadRequest(_))));
        let h = parsed("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
        assert!(matches!(h.body_framing(), Err(WireError::BadRequest(_))));
        let h = parsed("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert!(matches!(
            h.body_framing(),
            Err(WireError::UnsupportedTransferEncoding(_))
        ));
        let h =
            parsed("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.body_framing().unwrap(), BodyFraming::Chunked);
        let h = parsed("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        assert!(h.expects_continue());
    }

    #[test]
    fn reads_length_delimited_bodies() {
        let mut r = &b"hello, and the next request"[..];
        assert_eq!(
            read_body(&mut r, &BodyFraming::Length(5), 10).unwrap(),
            b"hello"
        );
        assert_eq!(r, b", and the next request");
        let mut r = &b"hel"[..];
        assert!(matches!(
            read_body(&mut r, &BodyFraming::Length(5), 10),
            Err(WireError::Truncated)
        ));
        assert!(matches!(
            read_body(&mut r, &BodyFraming::Length(11), 10),
            Err(WireError::BodyTooLarge)
        ));
    }

    #[test]
    fn reads_chunked_bodies_with_extensions_and_trailers() {
        let mut r = &b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT"[..];
        assert_eq!(
            read_body(&mut r, &BodyFraming::Chunked, 100).unwrap(),
            b"hello, world"
        );
        assert_eq!(r, b"NEXT");
    }

    #[test]
    fn bad_chunked_bodies_are_refused() {
        let cases: [(&[u8], &str); 4] = [
            (b"zz\r\nhello\r\n0\r\n\r\n", "bad size"),
            (b"3\r\nhello\r\n0\r\n\r\n", "longer than its size"),
            (b"5\r\nhel", "truncated"),
            (b"ffffffffffffffff\r\n", "too large"),
        ];
        for (raw, what) in cases {
            let mut r = raw;
            let e = read_body(&mut r, &BodyFraming::Chunked, 100).unwrap_err();
            let ok = match what {
                "truncated" => matches!(e, WireError::Truncated),
                "too large" => matches!(e, WireError::BodyTooLarge),
                _ => matches!(e, WireError::BadRequest(_)),
            };
            assert!(ok, "{what}: {e:?}");
        }
    }

    fn response(head: ResponseHead<'_>, body: &[u8]) -> String {
        let mut out = Vec::new();
        write_response(&mut out, &head, body).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// A keep-alive answer with no extra headers, for struct-update syntax.
    fn plain(status: u16) -> ResponseHead<'static> {
        ResponseHead {
            status,
            content_type: "text/plain",
            headers: &[],
            keep_alive: true,
            echo_keep_alive: false,
            head_only: false,
        }
    }

    #[test]
    fn writes_a_response() {
        let headers = vec![("Vary".to_string(), "Accept-Encoding".to_string())];
        let head = ResponseHead {
            content_type: "application/json",
            headers: &headers,
            ..plain(200)
        };
        let r = response(head, b"{}");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{r}");
        assert!(r.contains("\r\nContent-Type: application/json\r\nContent-Length: 2\r\nVary: Accept-Encoding\r\n\r\n{}"), "{r}");
        assert!(!r.contains("Connection"), "{r}");
    }

    #[test]
    fn head_and_bodiless_answers_send_no_body() {
        let head = ResponseHead {
            keep_alive: false,
            head_only: true,
            ..plain(200)
        };
        let r = response(head, b"hello");
        assert!(
            r.contains("Content-Length: 5\r\nConnection: close\r\n\r\n"),
            "{r}"
        );
        assert!(r.ends_with("\r\n\r\n"), "{r}");
        let head = ResponseHead {
            echo_keep_alive: true,
            ..plain(204)
        };
        let r = response(head, b"");
        assert!(r.starts_with("HTTP/1.1 204 No Content\r\n"), "{r}");
        assert!(!r.contains("Content-Length"), "{r}");
        assert!(r.ends_with("Connection: keep-alive\r\n\r\n"), "{r}");
    }

    #[test]
    fn header_values_cannot_split_the_head() {
        let headers = vec![("X-Evil".to_string(), "a\r\nSet-Cookie: b".to_string())];
        let head = ResponseHead {
            headers: &headers,
            ..plain(200)
        };
        assert!(!response(head, b"").contains("Set-Cookie"));
    }

    #[test]
    fn unknown_statuses_get_go_s_fallback_phrase() {
        assert_eq!(reason_phrase(499), "status code 499");
        assert_eq!(reason_phrase(413), "Request Entity Too Large");
    }

    #[test]
    fn formats_http_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            http_date(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}
