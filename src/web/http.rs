//! The request and response types handlers see: plain data, independent of
//! the wire (`wire`, `server`), so every handler can be unit-tested and benchmarked without a
//! socket. Also URL decoding and form parsing (`application/x-www-form-urlencoded`).

/// An HTTP request, already read: path without the route prefix, decoded
/// query and form parameters in order.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path below the route prefix, always starting with `/`.
    pub path: String,
    /// Query-string parameters followed by form-body parameters, in order
    /// (as Go's `r.Form`: both sources, query first).
    pub params: Vec<(String, String)>,
    /// Header names are lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A GET request for `path_and_query` (e.g. `/api/v1/query?query=up`); for tests and benches.
    pub fn get(path_and_query: &str) -> Request {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Request {
            method: "GET".to_string(),
            path: path.to_string(),
            params: parse_form(query),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The first value of parameter `name`, or "" (Go's `r.FormValue`).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Whether parameter `name` was given at all.
    pub fn has_param(&self, name: &str) -> bool {
        self.params.iter().any(|(k, _)| k == name)
    }

    /// Every value of parameter `name` (for `match[]`).
    pub fn params_all(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response: status, content type, extra headers and a body.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub const TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html; charset=utf-8";
pub const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A plain-text response, as Go's `http.Error` writes (message + newline).
    pub fn text(status: u16, msg: &str) -> Response {
        Response::new(status, TEXT, format!("{msg}\n"))
    }

    pub fn redirect(location: &str) -> Response {
        let mut r = Response::new(302, HTML, format!("<a href=\"{location}\">Found</a>.\n"));
        r.headers
            .push(("Location".to_string(), location.to_string()));
        r
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Decodes `a=1&b=x%20y&c` into pairs; `+` is a space. Bad escapes are kept as
/// they are, as Go's `ParseQuery` would reject them; promlite is lenient here.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Percent-decodes a URL component, `+` meaning space.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-decodes a URL path (`+` stays a plus, unlike in forms).
pub fn percent_decode_path(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    percent_decode(&s.replace('+', "%2B"))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%7B%22x%22%7D"), "{\"x\"}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn form() {
        let r = Request::get("/api/v1/series?match[]=up&match%5B%5D=a&x");
        assert_eq!(r.path, "/api/v1/series");
        assert_eq!(r.params_all("match[]"), vec!["up", "a"]);
        assert!(r.has_param("x"));
        assert_eq!(r.param("x"), "");
        assert_eq!(r.param("missing"), "");
    }
}
