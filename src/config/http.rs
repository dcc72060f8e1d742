//! HTTP client settings shared by scrape configs, `http_sd_configs`,
//! Alertmanagers and remote read/write (upstream's `common/config`
//! `HTTPClientConfig`), with its validation. Plain data: no client is built here.
//!
//! Upstream writes these keys inline in the holder's mapping. Serde cannot
//! combine `flatten` with `deny_unknown_fields` on input, so each holder's raw
//! input struct gets the keys through `http_client_raw_struct!` and groups them
//! into an `HttpClientConfig` after parsing; on output `flatten` is fine.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::types::{Secret, Url};

/// `basic_auth`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password_file: String,
}

/// `authorization` (a `type credentials` header).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
}

/// `tls_config`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub max_version: String,
}

const TLS_VERSIONS: &[&str] = &["TLS10", "TLS11", "TLS12", "TLS13"];

impl TlsConfig {
    /// Upstream's `TLSConfig.Validate` plus version names.
    pub fn validate(&self) -> Result<(), String> {
        for v in [&self.min_version, &self.max_version] {
            if !v.is_empty() && !TLS_VERSIONS.contains(&v.as_str()) {
                return Err(format!("unknown TLS version: {v}"));
            }
        }
        if !self.ca.is_empty() && !self.ca_file.is_empty() {
            return Err("at most one of ca and ca_file must be configured".into());
        }
        if !self.cert.is_empty() && !self.cert_file.is_empty() {
            return Err("at most one of cert and cert_file must be configured".into());
        }
        if !self.key.is_empty() && !self.key_file.is_empty() {
            return Err("at most one of key and key_file must be configured".into());
        }
        let has_cert = !self.cert.is_empty() || !self.cert_file.is_empty();
        let has_key = !self.key.is_empty() || !self.key_file.is_empty();
        if has_cert && !has_key {
            return Err(
                "exactly one of key or key_file must be configured when a client certificate is configured"
                    .into(),
            );
        }
        if has_key && !has_cert {
            return Err(
                "exactly one of cert or cert_file must be configured when a client key is configured"
                    .into(),
            );
        }
        Ok(())
    }

    fn set_directory(&mut self, dir: &Path) {
        for f in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file] {
            resolve_path(f, dir);
        }
    }
}

/// One `http_headers` entry.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Every `(name, value)` pair that `http_headers` sends, in upstream's
/// order per header (values, then secrets, then files). `read_file` reads a
/// `files` entry; how a missing file is treated is the caller's choice.
pub fn header_pairs<E>(
    headers: &BTreeMap<String, HttpHeader>,
    mut read_file: impl FnMut(&str) -> Result<String, E>,
) -> Result<Vec<(String, String)>, E> {
    let mut out = Vec::new();
    for (name, h) in headers {
        for v in &h.values {
            out.push((name.clone(), v.clone()));
        }
        for v in &h.secrets {
            out.push((name.clone(), v.expose().to_string()));
        }
        for f in &h.files {
            out.push((name.clone(), read_file(f)?));
        }
    }
    Ok(out)
}

/// Headers upstream's HTTP client owns; `http_headers` may not set them.
const RESERVED_HTTP_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-prometheus-scrape-timeout-seconds",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// The HTTP client settings (upstream's `HTTPClientConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpClientConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Also where the deprecated `bearer_token(_file)` ends up, as upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    pub tls_config: TlsConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<Url>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub no_proxy: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proxy_from_environment: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, HttpHeader>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: BTreeMap::new(),
        }
    }
}

/// The inline HTTP client keys as written, before validation.
#[derive(Default)]
pub(crate) struct RawHttpClient {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<TlsConfig>,
    pub proxy_url: Option<Url>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<BTreeMap<String, Vec<Secret>>>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub http_headers: Option<BTreeMap<String, HttpHeader>>,
}

impl RawHttpClient {
    /// Upstream's `HTTPClientConfig.Validate`, including folding
    /// `bearer_token(_file)` into `authorization`.
    pub fn into_config(self) -> Result<HttpClientConfig, String> {
        let token = self.bearer_token.unwrap_or_default();
        let token_file = self.bearer_token_file.unwrap_or_default();
        if !token.is_empty() && !token_file.is_empty() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        let has_bearer = !token.is_empty() || !token_file.is_empty();
        if self.basic_auth.is_some() && has_bearer {
            return Err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        if let Some(b) = &self.basic_auth {
            if !b.username.is_empty() && !b.username_file.is_empty() {
                return Err(
                    "at most one of basic_auth username, username_file & username_ref must be configured"
                        .into(),
                );
            }
            if !b.password.is_empty() && !b.password_file.is_empty() {
                return Err(
                    "at most one of basic_auth password, password_file & password_ref must be configured"
                        .into(),
                );
            }
        }
        let authorization = match self.authorization {
            Some(mut a) => {
                if has_bearer {
                    return Err(
                        "authorization is not compatible with bearer_token & bearer_token_file"
                            .into(),
                    );
                }
                if !a.credentials.is_empty() && !a.credentials_file.is_empty() {
                    return Err(
                        "at most one of authorization credentials & credentials_file must be configured"
                            .into(),
                    );
                }
                a.kind = a.kind.trim().to_string();
                if a.kind.is_empty() {
                    a.kind = "Bearer".into();
                }
                if a.kind.eq_ignore_ascii_case("basic") {
                    return Err(
                        r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
                            .into(),
                    );
                }
                if self.basic_auth.is_some() {
                    return Err(
                        "at most one of basic_auth, oauth2 & authorization must be configured"
                            .into(),
                    );
                }
                Some(a)
            }
            None if has_bearer => Some(Authorization {
                kind: "Bearer".into(),
                credentials: token,
                credentials_file: token_file,
            }),
            None => None,
        };
        let cfg = HttpClientConfig {
            basic_auth: self.basic_auth,
            authorization,
            tls_config: self.tls_config.unwrap_or_default(),
            proxy_url: self.proxy_url,
            no_proxy: self.no_proxy.unwrap_or_default(),
            proxy_from_environment: self.proxy_from_environment.unwrap_or(false),
            proxy_connect_header: self.proxy_connect_header.unwrap_or_default(),
            follow_redirects: self.follow_redirects.unwrap_or(true),
            enable_http2: self.enable_http2.unwrap_or(true),
            http_headers: self.http_headers.unwrap_or_default(),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl HttpClientConfig {
    /// The checks on an assembled config (proxy, TLS, headers).
    pub fn validate(&self) -> Result<(), String> {
        let has_proxy_url = self
            .proxy_url
            .as_ref()
            .is_some_and(|u| !u.as_str().is_empty());
        if !self.proxy_connect_header.is_empty() && !self.proxy_from_environment && !has_proxy_url {
            return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
        }
        if self.proxy_from_environment && has_proxy_url {
            return Err(
                "if proxy_from_environment is configured, proxy_url must not be configured".into(),
            );
        }
        if self.proxy_from_environment && !self.no_proxy.is_empty() {
            return Err(
                "if proxy_from_environment is configured, no_proxy must not be configured".into(),
            );
        }
        if !has_proxy_url && !self.no_proxy.is_empty() {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        self.tls_config.validate()?;
        for name in self.http_headers.keys() {
            if RESERVED_HTTP_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!("setting header {name:?} is not allowed"));
            }
        }
        Ok(())
    }

    /// Resolves every `*_file` path against the config file's folder.
    pub fn set_directory(&mut self, dir: &Path) {
        if let Some(b) = &mut self.basic_auth {
            resolve_path(&mut b.username_file, dir);
            resolve_path(&mut b.password_file, dir);
        }
        if let Some(a) = &mut self.authorization {
            resolve_path(&mut a.credentials_file, dir);
        }
        self.tls_config.set_directory(dir);
        for h in self.http_headers.values_mut() {
            for f in &mut h.files {
                resolve_path(f, dir);
            }
        }
    }
}

/// Makes a relative, non-empty path absolute against `dir`, as upstream's
/// `config.JoinDir`.
pub(crate) fn resolve_path(path: &mut String, dir: &Path) {
    if path.is_empty() || Path::new(path.as_str()).is_absolute() {
        return;
    }
    // Go's `filepath.Join(".", p)` cleans to `p`: keep it as written.
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        return;
    }
    *path = dir.join(path.as_str()).to_string_lossy().into_owned();
}

/// Declares a raw (input) struct: the given fields plus upstream's inline
/// HTTP client keys, and `take_http_client` to group the latter.
macro_rules! http_client_raw_struct {
    ($(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($(#[$fm])* $f: $t,)*
            #[serde(default)]
            basic_auth: Option<$crate::config::http::BasicAuth>,
            #[serde(default)]
            authorization: Option<$crate::config::http::Authorization>,
            // Never read: deserialising it is the error.
            #[allow(dead_code)]
            #[serde(default)]
            oauth2: Option<$crate::config::unsupported::Oauth2>,
            #[serde(default)]
            bearer_token: Option<$crate::config::types::Secret>,
            #[serde(default)]
            bearer_token_file: Option<String>,
            #[serde(default)]
            tls_config: Option<$crate::config::http::TlsConfig>,
            #[serde(default)]
            proxy_url: Option<$crate::config::types::Url>,
            #[serde(default)]
            no_proxy: Option<String>,
            #[serde(default)]
            proxy_from_environment: Option<bool>,
            #[serde(default)]
            proxy_connect_header:
                Option<std::collections::BTreeMap<String, Vec<$crate::config::types::Secret>>>,
            #[serde(default)]
            follow_redirects: Option<bool>,
            #[serde(default)]
            enable_http2: Option<bool>,
            #[serde(default)]
            http_headers:
                Option<std::collections::BTreeMap<String, $crate::config::http::HttpHeader>>,
        }

        impl $name {
            fn take_http_client(
                &mut self,
            ) -> Result<$crate::config::http::HttpClientConfig, String> {
                $crate::config::http::RawHttpClient {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    bearer_token: self.bearer_token.take(),
                    bearer_token_file: self.bearer_token_file.take(),
                    tls_config: self.tls_config.take(),
                    proxy_url: self.proxy_url.take(),
                    no_proxy: self.no_proxy.take(),
                    proxy_from_environment: self.proxy_from_environment.take(),
                    proxy_connect_header: self.proxy_connect_header.take(),
                    follow_redirects: self.follow_redirects.take(),
                    enable_http2: self.enable_http2.take(),
                    http_headers: self.http_headers.take(),
                }
                .into_config()
            }
        }
    };
}
pub(crate) use http_client_raw_struct;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_pairs_send_values_secrets_and_files_in_order() {
        let h: BTreeMap<String, HttpHeader> = serde_yaml::from_str(
            "X-A: {values: [v1, v2], secrets: [s], files: [f]}\nX-B: {values: [b]}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let pairs = header_pairs(&h, |f| Ok::<_, String>(format!("<{f}>")));
        let want = [
            ("X-A", "v1"),
            ("X-A", "v2"),
            ("X-A", "s"),
            ("X-A", "<f>"),
            ("X-B", "b"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, Ok(want));
        let failed = header_pairs(&h, |f| Err::<String, _>(format!("cannot read {f}")));
        assert_eq!(failed, Err("cannot read f".to_string()));
    }

    #[test]
    fn bearer_token_becomes_authorization() {
        let raw = RawHttpClient {
            bearer_token: Some(Secret::new("t")),
            ..Default::default()
        };
        let cfg = raw.into_config().unwrap_or_default();
        let auth = cfg.authorization.unwrap_or_default();
        assert_eq!(auth.kind, "Bearer");
        assert_eq!(auth.credentials.expose(), "t");
    }

    #[test]
    fn conflicting_auth_is_rejected() {
        let raw = RawHttpClient {
            bearer_token: Some(Secret::new("t")),
            basic_auth: Some(BasicAuth::default()),
            ..Default::default()
        };
        assert!(raw.into_config().is_err());
        let raw = RawHttpClient {
            authorization: Some(Authorization {
                kind: "basic".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(raw.into_config().is_err());
    }

    #[test]
    fn reserved_headers_and_proxy_rules() {
        let mut cfg = HttpClientConfig::default();
        cfg.http_headers
            .insert("User-Agent".into(), HttpHeader::default());
        assert!(cfg.validate().is_err());
        let cfg = HttpClientConfig {
            no_proxy: "x".into(),
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }
}
