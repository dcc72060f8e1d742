//! The HTTP side of a scrape (upstream's `targetScraper`): one ureq agent per
//! pool, upstream's request headers, auth, redirects, the body size limit and
//! gzip (ureq decodes `Content-Encoding: gzip` with flate2 underneath).

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::config::{HttpSettings, PoolConfig};
use super::ScrapeError;

/// A scrape response that passed the HTTP checks.
pub struct ScrapeResponse {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Issues scrape requests for one pool.
pub struct Scraper {
    agent: ureq::Agent,
    http: HttpSettings,
    body_size_limit: u64,
    accept: String,
    /// Size of the last body read: the next body's buffer starts there, so
    /// a steady target's body is read without growing (reallocating and
    /// copying) the buffer a dozen times.
    body_hint: AtomicUsize,
}

impl Scraper {
    pub fn new(cfg: &PoolConfig) -> Scraper {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(if cfg.http.follow_redirects { 10 } else { 0 })
            .max_redirects_will_error(false)
            .user_agent(super::USER_AGENT)
            // A scrape request is a few hundred bytes of headers; ureq's
            // 128 KiB default output buffer was zeroed for every connection.
            .output_buffer_size(32 * 1024)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(cfg.http.insecure_skip_verify)
                    .build(),
            )
            .build();
        let agent = ureq::Agent::with_parts(config, DefaultConnector::new(), LiteralResolver);
        Scraper {
            agent,
            http: cfg.http.clone(),
            body_size_limit: cfg.body_size_limit,
            accept: cfg.accept_header(),
            body_hint: AtomicUsize::new(0),
        }
    }

    /// GETs `url` within `timeout`; any non-200 status is an error.
    pub fn scrape(&self, url: &str, timeout: Duration) -> Result<ScrapeResponse, ScrapeError> {
        let mut req = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Accept", &self.accept)
            .header(
                "Accept-Encoding",
                if self.http.enable_compression {
                    "gzip"
                } else {
                    "identity"
                },
            )
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", timeout.as_secs_f64()),
            );
        for (k, v) in &self.http.headers {
            req = req.header(k, v);
        }
        if let Some(auth) = self.http.authorization_header()? {
            req = req.header("Authorization", auth);
        }
        let mut resp = req.call().map_err(|e| match e {
            ureq::Error::Timeout(_) => ScrapeError::Timeout(timeout),
            e => ScrapeError::Http(e.to_string()),
        })?;
        let status = resp.status();
        if status != 200 {
            return Err(ScrapeError::Status(format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )));
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let limit = if self.body_size_limit == 0 {
            u64::MAX
        } else {
            self.body_size_limit
        };
        let hint = self.body_hint.load(Ordering::Relaxed);
        let mut body =
            Vec::with_capacity((hint + hint / 8).min(usize::try_from(limit).unwrap_or(usize::MAX)));
        resp.body_mut()
            .with_config()
            .limit(limit)
            .reader()
            .read_to_end(&mut body)
            .map_err(|e| match ureq::Error::from(e) {
                ureq::Error::BodyExceedsLimit(_) => ScrapeError::BodySizeLimit(limit),
                ureq::Error::Timeout(_) => ScrapeError::Timeout(timeout),
                e => ScrapeError::Http(e.to_string()),
            })?;
        self.body_hint.store(body.len(), Ordering::Relaxed);
        Ok(ScrapeResponse { content_type, body })
    }
}

/// Resolves IP-literal hosts (most scrape targets: discovery hands out
/// addresses) without a lookup. ureq's default resolver spawns a thread per
/// connection to bound a name lookup by the timeout, and targets that close
/// their connection after each scrape would cost a thread per scrape.
/// Names still go through the default resolver.
#[derive(Debug)]
struct LiteralResolver;

impl Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal_addr(uri) {
            let mut out = self.empty();
            out.push(addr);
            return Ok(out);
        }
        DefaultResolver::default().resolve(uri, config, timeout)
    }
}

/// The socket address of a URI whose host is an IP literal.
fn literal_addr(uri: &ureq::http::Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = authority.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

impl HttpSettings {
    /// The `Authorization` header value, reading credential files now so
    /// rotated secrets are picked up.
    pub fn authorization_header(&self) -> Result<Option<String>, ScrapeError> {
        if let Some(a) = &self.authorization {
            let creds = match (&a.credentials, &a.credentials_file) {
                (_, Some(path)) => read_secret(path)?,
                (Some(c), None) => c.clone(),
                (None, None) => String::new(),
            };
            return Ok(Some(format!("{} {}", a.kind, creds)));
        }
        if let Some(b) = &self.basic_auth {
            let password = match (&b.password, &b.password_file) {
                (_, Some(path)) => read_secret(path)?,
                (Some(p), None) => p.clone(),
                (None, None) => String::new(),
            };
            let username = match &b.username_file {
                Some(path) => read_secret(path)?,
                None => b.username.clone(),
            };
            let raw = format!("{username}:{password}");
            return Ok(Some(format!("Basic {}", base64(raw.as_bytes()))));
        }
        Ok(None)
    }
}

fn read_secret(path: &std::path::Path) -> Result<String, ScrapeError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| {
            ScrapeError::Http(format!(
                "unable to read secret file {}: {e}",
                path.display()
            ))
        })
}

/// Standard base64 with padding, for basic auth.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_hosts_resolve_without_lookup() {
        let addr = |u: &str| literal_addr(&u.parse::<ureq::http::Uri>().unwrap());
        assert_eq!(
            addr("http://127.0.0.1:9100/metrics"),
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(
            addr("http://[::1]/metrics"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            addr("https://10.0.0.1/x"),
            Some("10.0.0.1:443".parse().unwrap())
        );
        assert_eq!(addr("http://localhost:9100/metrics"), None);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("user:pass", "dXNlcjpwYXNz"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
