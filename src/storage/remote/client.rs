//! The HTTP side of remote storage: one [`HttpClient`] per `remote_write` or
//! `remote_read` entry (ureq, blocking, one connection pool each). It sets
//! the protocol headers, auth and `remote_timeout`, and classifies failures
//! the way upstream's `storage/remote/client.go` does: network errors, 5xx
//! and (when enabled) 429 are recoverable and retried by the queue; any other
//! non-2xx answer is final.

use std::time::Duration;

use prost::Message;

use super::codec::{
    self, CONTENT_ENCODING_SNAPPY, CONTENT_TYPE_PROTOBUF, REMOTE_READ_VERSION,
    REMOTE_READ_VERSION_HEADER, REMOTE_WRITE_VERSION_1, REMOTE_WRITE_VERSION_HEADER,
};
use super::prompb::{ReadRequest, ReadResponse};
use super::settings::HttpClientSettings;
use super::RemoteError;

/// How much of an error response body is quoted in the error (as upstream).
const MAX_ERR_MSG_LEN: u64 = 1024;

/// Largest remote-read response accepted (compressed bytes on the wire).
const MAX_READ_RESPONSE_BYTES: u64 = 64 << 20;

/// A blocking client for one remote endpoint.
pub struct HttpClient {
    agent: ureq::Agent,
    url: String,
    settings: HttpClientSettings,
}

impl HttpClient {
    /// A client for `url`. The URL must be `http://` or `https://`.
    pub fn new(url: &str, settings: HttpClientSettings) -> Result<HttpClient, RemoteError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RemoteError::Config(format!(
                "remote storage url {url:?}: scheme must be http or https"
            )));
        }
        let timeout = if settings.timeout.is_zero() {
            None
        } else {
            Some(settings.timeout)
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .user_agent(codec::user_agent())
            .max_idle_connections_per_host(64)
            .build()
            .into();
        Ok(HttpClient {
            agent,
            url: url.to_string(),
            settings,
        })
    }

    /// The endpoint URL (the `url` label of the queue metrics).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one compressed `WriteRequest` body. `retry_on_429` makes 429
    /// recoverable (`queue_config.retry_on_http_429`).
    pub fn store(&self, body: &[u8], retry_on_429: bool) -> Result<(), RemoteError> {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Encoding", CONTENT_ENCODING_SNAPPY)
            .header("Content-Type", CONTENT_TYPE_PROTOBUF)
            .header(REMOTE_WRITE_VERSION_HEADER, REMOTE_WRITE_VERSION_1);
        for (k, v) in self.extra_headers()? {
            req = req.header(k, v);
        }
        let mut resp = req
            .send(body)
            .map_err(|e| RemoteError::Recoverable(format!("{}: {e}", self.url)))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let message = error_body(resp.body_mut());
        let message = format!("server returned HTTP status {status}: {message}");
        if status >= 500 || (status == 429 && retry_on_429) {
            return Err(match retry_after {
                Some(after) => RemoteError::RetryAfter { message, after },
                None => RemoteError::Recoverable(message),
            });
        }
        Err(RemoteError::Http { status, message })
    }

    /// Sends a remote-read request and decodes the samples-type answer.
    pub fn read(&self, request: &ReadRequest) -> Result<ReadResponse, RemoteError> {
        let body = codec::encode_read_request(request)?;
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Encoding", CONTENT_ENCODING_SNAPPY)
            .header("Accept-Encoding", CONTENT_ENCODING_SNAPPY)
            .header("Content-Type", CONTENT_TYPE_PROTOBUF)
            .header(REMOTE_READ_VERSION_HEADER, REMOTE_READ_VERSION);
        for (k, v) in self.extra_headers()? {
            req = req.header(k, v);
        }
        let mut resp = req
            .send(&body[..])
            .map_err(|e| RemoteError::Recoverable(format!("remote read {}: {e}", self.url)))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let message = error_body(resp.body_mut());
            return Err(RemoteError::Http {
                status,
                message: format!(
                    "remote server {} returned HTTP status {status}: {message}",
                    self.url
                ),
            });
        }
        let content_type = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !content_type.is_empty() && !content_type.starts_with(CONTENT_TYPE_PROTOBUF) {
            return Err(RemoteError::Decode(format!(
                "remote read {}: unsupported content type {content_type:?}",
                self.url
            )));
        }
        let raw = resp
            .body_mut()
            .with_config()
            .limit(MAX_READ_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| RemoteError::Recoverable(format!("remote read {}: {e}", self.url)))?;
        let decoded = codec::snappy_decompress(&raw, codec::MAX_DECODED_BYTES * 4)?;
        ReadResponse::decode(decoded.as_slice())
            .map_err(|e| RemoteError::Decode(format!("remote read {}: {e}", self.url)))
    }

    /// Auth and custom headers. Custom headers may not replace the
    /// protocol's own (upstream rejects them at config load; here they are
    /// skipped so a bad entry cannot break the protocol).
    fn extra_headers(&self) -> Result<Vec<(String, String)>, RemoteError> {
        const RESERVED: [&str; 6] = [
            "content-encoding",
            "content-type",
            "content-length",
            "user-agent",
            "x-prometheus-remote-write-version",
            "x-prometheus-remote-read-version",
        ];
        let mut out: Vec<(String, String)> = self
            .settings
            .headers
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(auth) = &self.settings.basic_auth {
            let password = match &auth.password {
                Some(p) => p
                    .value()
                    .map_err(|e| RemoteError::Config(format!("basic_auth password_file: {e}")))?,
                None => String::new(),
            };
            let token = base64(format!("{}:{}", auth.username, password).as_bytes());
            out.push(("Authorization".into(), format!("Basic {token}")));
        } else if let Some(auth) = &self.settings.authorization {
            let credentials = match &auth.credentials {
                Some(c) => c.value().map_err(|e| {
                    RemoteError::Config(format!("authorization credentials_file: {e}"))
                })?,
                None => String::new(),
            };
            let kind = if auth.kind.is_empty() {
                "Bearer"
            } else {
                auth.kind.as_str()
            };
            out.push(("Authorization".into(), format!("{kind} {credentials}")));
        }
        Ok(out)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured: the
/// exponential backoff applies instead).
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The first line of an error body, at most [`MAX_ERR_MSG_LEN`] bytes.
fn error_body(body: &mut ureq::Body) -> String {
    let bytes = body
        .with_config()
        .limit(MAX_ERR_MSG_LEN)
        .read_to_vec()
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().unwrap_or("").trim().to_string()
}

/// Standard base64 with padding (RFC 4648), for basic auth.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The delay before retry number `attempt` (0-based): `min_backoff` doubled
/// per attempt, capped at `max_backoff`.
pub fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
    min.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pass", "dXNlcjpwYXNz"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let min = Duration::from_millis(30);
        let max = Duration::from_millis(100);
        assert_eq!(backoff(0, min, max), min);
        assert_eq!(backoff(1, min, max), Duration::from_millis(60));
        assert_eq!(backoff(2, min, max), max);
        assert_eq!(backoff(200, min, max), max);
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn bad_scheme_is_a_config_error() {
        let s = HttpClientSettings::with_timeout(Duration::from_secs(1));
        assert!(matches!(
            HttpClient::new("ftp://x", s),
            Err(RemoteError::Config(_))
        ));
    }
}
