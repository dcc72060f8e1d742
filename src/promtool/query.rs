//! `query instant|range|series|labels`: promtool's HTTP API client commands.
//!
//! Requests go out as upstream's Go client sends them (form POST, falling
//! back to GET on 405/501), answers are decoded into [`QueryValue`] and
//! printed as promtool's `promql` printer (client_golang's `String()` forms)
//! or `json` printer (Go's `encoding/json` output) does.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use lexopt::prelude::*;
use serde::Deserialize;
use serde_json::Value as Json;

use super::gotime::{parse_time, parse_time_range, Instant};
use super::{print_command_help, UsageError, FAILURE, SUCCESS};
use crate::config::http::{Authorization, BasicAuth, TlsConfig};
use crate::config::types::Secret;
use crate::model::labels::go_quote;
use crate::model::value::format_go_f;

const QUERY_FLAGS: &str = "      --http.config.file=<filename>
                    HTTP client configuration file for promlite-tool to connect to
                    Prometheus.
  -o, --format=promql  Output format of the query.
";

/// How results are printed (`-o`).
#[derive(Clone, Copy, PartialEq, Debug, Default)]
enum Format {
    #[default]
    Promql,
    Json,
}

/// The flags every query command shares, plus their own; the default is
/// what a command line without flags gives.
#[derive(Default)]
struct QueryArgs {
    format: Format,
    http_config_file: Option<String>,
    headers: Vec<(String, String)>,
    time: Option<String>,
    start: Option<String>,
    end: Option<String>,
    step: Option<String>,
    matches: Vec<String>,
    positional: Vec<String>,
}

/// Parses one query command's flags and arguments; `None` when `--help`
/// was asked for and answered, and the command exits with `SUCCESS`.
fn parse_args(
    mut parser: lexopt::Parser,
    words: &str,
    flags: &str,
    args: &str,
) -> Result<Option<QueryArgs>, UsageError> {
    let mut q = QueryArgs::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                print_command_help(words, &format!("{QUERY_FLAGS}{flags}"), args);
                return Ok(None);
            }
            Short('o') | Long("format") => {
                q.format = match parser.value()?.string()?.as_str() {
                    "promql" => Format::Promql,
                    "json" => Format::Json,
                    other => {
                        return Err(UsageError(format!(
                            "enum value must be one of promql,json, got '{other}'"
                        )))
                    }
                }
            }
            Long("http.config.file") => q.http_config_file = Some(parser.value()?.string()?),
            Long("header") => {
                let h = parser.value()?.string()?;
                let Some((name, value)) = h.split_once('=') else {
                    return Err(UsageError(format!("expected KEY=VALUE got '{h}'")));
                };
                q.headers.push((name.to_string(), value.to_string()));
            }
            Long("time") if flags.contains("--time") => q.time = Some(parser.value()?.string()?),
            Long("start") if flags.contains("--start") => q.start = Some(parser.value()?.string()?),
            Long("end") if flags.contains("--end") => q.end = Some(parser.value()?.string()?),
            Long("step") if flags.contains("--step") => q.step = Some(parser.value()?.string()?),
            Long("match") if flags.contains("--match") => q.matches.push(parser.value()?.string()?),
            Value(v) => q.positional.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let wanted: Vec<&str> = args
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('<'))
        .filter_map(|l| l.split_once('>').map(|(n, _)| n))
        .collect();
    if let Some(missing) = wanted.get(q.positional.len()) {
        return Err(UsageError(format!(
            "required argument '{missing}' not provided"
        )));
    }
    if let Some(extra) = q.positional.get(wanted.len()) {
        return Err(UsageError(format!("unexpected {extra}")));
    }
    Ok(Some(q))
}

pub(super) fn instant_command(parser: lexopt::Parser) -> Result<u8, UsageError> {
    let Some(q) = parse_args(
        parser,
        "query instant",
        "      --time=TIME      Query evaluation time (RFC3339 or Unix timestamp).\n",
        "  <server>  Prometheus server to query.\n  <expr>    PromQL query expression.\n",
    )?
    else {
        return Ok(SUCCESS);
    };
    let time = match &q.time {
        None => Instant::now(),
        Some(t) => match parse_time(t) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error parsing evaluation time: {e}");
                return Ok(FAILURE);
            }
        },
    };
    let (server, expr) = (&q.positional[0], &q.positional[1]);
    let params = vec![("query", expr.clone()), ("time", time.api_param())];
    Ok(run_and_print(
        &q,
        server,
        "/api/v1/query",
        &params,
        Kind::Value,
    ))
}

pub(super) fn range_command(parser: lexopt::Parser) -> Result<u8, UsageError> {
    let Some(q) = parse_args(
        parser,
        "query range",
        "      --header=HEADER ...  Extra headers to send to server.
      --start=START  Query range start time (RFC3339 or Unix timestamp).
      --end=END      Query range end time (RFC3339 or Unix timestamp).
      --step=STEP    Query step size (duration).
",
        "  <server>  Prometheus server to query.\n  <expr>    PromQL query expression.\n",
    )?
    else {
        return Ok(SUCCESS);
    };
    let step_ms = match &q.step {
        None => 0,
        Some(s) => crate::model::duration::parse_duration(s)
            .map_err(|_| UsageError(format!("time: invalid duration {}", go_quote(s))))?,
    };
    let range = parse_time_range(q.start.as_deref(), q.end.as_deref(), Instant::now, |end| {
        end.add_nanos(-5 * 60 * 1_000_000_000)
    });
    let (start, end) = match range {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return Ok(FAILURE);
        }
    };
    let step_secs = if step_ms == 0 {
        // Upstream aims at about 250 points, at least one per second.
        (((end.nanos - start.nanos) as f64 / 1e9) / 250.0)
            .floor()
            .max(1.0)
    } else {
        step_ms as f64 / 1000.0
    };
    let (server, expr) = (&q.positional[0], &q.positional[1]);
    let params = vec![
        ("query", expr.clone()),
        ("start", start.api_param()),
        ("end", end.api_param()),
        ("step", format_go_f(step_secs)),
    ];
    Ok(run_and_print(
        &q,
        server,
        "/api/v1/query_range",
        &params,
        Kind::Value,
    ))
}

/// The optional `--start`/`--end` and every `--match` as API parameters,
/// as the series and label-values endpoints take them.
fn selector_params(q: &QueryArgs) -> Result<Vec<(&'static str, String)>, String> {
    let mut params = Vec::new();
    for (name, value) in [("start", &q.start), ("end", &q.end)] {
        if let Some(v) = value {
            let t = parse_time(v).map_err(|e| format!("error parsing {name} time: {e}"))?;
            params.push((name, t.api_param()));
        }
    }
    params.extend(q.matches.iter().map(|m| ("match[]", m.clone())));
    Ok(params)
}

pub(super) fn series_command(parser: lexopt::Parser) -> Result<u8, UsageError> {
    let Some(q) = parse_args(
        parser,
        "query series",
        "      --match=MATCH ...  Series selector. Can be specified multiple times.
      --start=START      Start time (RFC3339 or Unix timestamp).
      --end=END          End time (RFC3339 or Unix timestamp).
",
        "  <server>  Prometheus server to query.\n",
    )?
    else {
        return Ok(SUCCESS);
    };
    if q.matches.is_empty() {
        return Err(UsageError("required flag --match not provided".into()));
    }
    let params = match selector_params(&q) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(FAILURE);
        }
    };
    Ok(run_and_print(
        &q,
        &q.positional[0],
        "/api/v1/series",
        &params,
        Kind::Series,
    ))
}

pub(super) fn labels_command(parser: lexopt::Parser) -> Result<u8, UsageError> {
    let Some(q) = parse_args(
        parser,
        "query labels",
        "      --start=START      Start time (RFC3339 or Unix timestamp).
      --end=END          End time (RFC3339 or Unix timestamp).
      --match=MATCH ...  Series selector. Can be specified multiple times.
",
        "  <server>  Prometheus server to query.\n  <name>    Label name to provide label values for.\n",
    )?
    else {
        return Ok(SUCCESS);
    };
    let params = match selector_params(&q) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(FAILURE);
        }
    };
    let path = format!(
        "/api/v1/label/{}/values",
        percent_encode_path(&q.positional[1])
    );
    // Label values are fetched with GET only, as upstream's client does.
    Ok(run_and_print(
        &q,
        &q.positional[0],
        &path,
        &params,
        Kind::LabelValues,
    ))
}

/// Which API answer a command expects.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Value,
    Series,
    LabelValues,
}

fn run_and_print(
    q: &QueryArgs,
    server: &str,
    path: &str,
    params: &[(&str, String)],
    kind: Kind,
) -> u8 {
    let client = match ApiClient::new(server, q) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return FAILURE;
        }
    };
    let data = match client.call(path, params, kind != Kind::LabelValues) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("query error: {e}");
            return FAILURE;
        }
    };
    let printed = match kind {
        Kind::Value => QueryValue::from_api(&data).map(|v| match q.format {
            Format::Promql => v.to_string(),
            Format::Json => v.to_json(),
        }),
        Kind::Series => series_from_api(&data).map(|sets| match q.format {
            Format::Promql => sets
                .iter()
                .map(|s| label_set_string(s) + "\n")
                .collect::<String>(),
            Format::Json => {
                let items: Vec<String> = sets.iter().map(label_map_json).collect();
                format!("[{}]", items.join(","))
            }
        }),
        Kind::LabelValues => string_list(&data).map(|vals| match q.format {
            Format::Promql => vals.iter().map(|v| format!("{v}\n")).collect::<String>(),
            Format::Json => {
                let items: Vec<String> = vals.iter().map(|v| go_json_string(v)).collect();
                format!("[{}]", items.join(","))
            }
        }),
    };
    match printed {
        Ok(mut text) => {
            // promql values print with Println; series/labels print per line
            // (nothing at all when empty); json is Encode's output plus "\n".
            if kind == Kind::Value || q.format == Format::Json {
                text.push('\n');
            }
            print!("{text}");
            SUCCESS
        }
        Err(e) => {
            eprintln!("query error: bad_response: {e}");
            FAILURE
        }
    }
}

/// An error answer, as client_golang's `Error` prints.
pub(super) struct ApiError {
    kind: String,
    msg: String,
    detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind.is_empty() {
            return f.write_str(&self.msg);
        }
        write!(f, "{}: {}", self.kind, self.msg)?;
        let detail = self.detail.trim();
        if !detail.is_empty() {
            write!(f, " (detail: {detail})")?;
        }
        Ok(())
    }
}

impl ApiError {
    fn transport(msg: impl Into<String>) -> ApiError {
        ApiError {
            kind: String::new(),
            msg: msg.into(),
            detail: String::new(),
        }
    }
}

/// The `--http.config.file` settings promlite can honour.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpConfigFile {
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    authorization: Option<Authorization>,
    #[serde(default)]
    bearer_token: Option<Secret>,
    #[serde(default)]
    bearer_token_file: Option<String>,
    #[serde(default)]
    tls_config: Option<TlsConfig>,
    #[serde(default)]
    follow_redirects: Option<bool>,
    #[serde(default)]
    enable_http2: Option<bool>,
}

/// A Prometheus HTTP API endpoint and the headers every request carries.
pub(super) struct ApiClient {
    agent: ureq::Agent,
    base: String,
    headers: Vec<(String, String)>,
}

impl ApiClient {
    /// A client without extra headers (for commands that only take a URL).
    pub(super) fn plain(server: &str) -> Result<ApiClient, String> {
        ApiClient::new(server, &QueryArgs::default())
    }

    /// A client sending `headers` (from `--http.config.file`) on every request.
    pub(super) fn with_http_config(
        server: &str,
        http_config_file: Option<&str>,
    ) -> Result<ApiClient, String> {
        let q = QueryArgs {
            http_config_file: http_config_file.map(str::to_string),
            ..QueryArgs::default()
        };
        ApiClient::new(server, &q)
    }

    fn new(server: &str, q: &QueryArgs) -> Result<ApiClient, String> {
        let base = if server.contains("://") {
            server.trim_end_matches('/').to_string()
        } else {
            return Err(format!(
                "error parsing server URL {server:?}: missing scheme (use http:// or https://)"
            ));
        };
        let mut headers = q.headers.clone();
        if let Some(path) = &q.http_config_file {
            headers.extend(load_http_config(path)?);
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(ApiClient {
            agent,
            base,
            headers,
        })
    }

    /// Calls an endpoint and returns its `data`.
    pub(super) fn call(
        &self,
        path: &str,
        params: &[(&str, String)],
        post: bool,
    ) -> Result<Json, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut resp = None;
        if post {
            let mut req = self.agent.post(&url);
            for (n, v) in &self.headers {
                req = req.header(n.as_str(), v.as_str());
            }
            let r = req
                .send_form(params.iter().map(|(k, v)| (*k, v.as_str())))
                .map_err(|e| transport_error("Post", &url, &e))?;
            // Servers without POST support get the GET form, as upstream does.
            if !matches!(r.status().as_u16(), 405 | 501) {
                resp = Some(r);
            }
        }
        let mut resp = match resp {
            Some(r) => r,
            None => {
                let mut req = self.agent.get(&url);
                for (n, v) in &self.headers {
                    req = req.header(n.as_str(), v.as_str());
                }
                req.query_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                    .call()
                    .map_err(|e| transport_error("Get", &url, &e))?
            }
        };
        let code = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 32)
            .read_to_string()
            .map_err(|e| ApiError::transport(format!("reading response: {e}")))?;
        decode_api_response(code, &body)
    }
}

/// A failed request in Go's `*url.Error` words where they are known
/// (connection refused), ureq's otherwise.
fn transport_error(method: &str, url: &str, e: &ureq::Error) -> ApiError {
    let reason = match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let host = rest.split('/').next().unwrap_or(rest);
            let host = if host.contains(':') {
                host.to_string()
            } else if url.starts_with("https://") {
                format!("{host}:443")
            } else {
                format!("{host}:80")
            };
            format!("dial tcp {host}: connect: connection refused")
        }
        other => other.to_string(),
    };
    ApiError::transport(format!("{method} {}: {reason}", go_quote(url)))
}

/// client_golang's handling of status codes and the response envelope.
fn decode_api_response(code: u16, body: &str) -> Result<Json, ApiError> {
    let api_error_code = code == 400 || code == 422;
    if code / 100 != 2 && !api_error_code {
        let (kind, msg) = if code / 100 == 5 {
            ("server_error", format!("server error: {code}"))
        } else {
            ("client_error", format!("client error: {code}"))
        };
        return Err(ApiError {
            kind: kind.into(),
            msg,
            detail: body.to_string(),
        });
    }
    let bad = |msg: String| ApiError {
        kind: "bad_response".into(),
        msg,
        detail: String::new(),
    };
    let envelope: Json = serde_json::from_str(body).map_err(|e| bad(e.to_string()))?;
    let status = envelope.get("status").and_then(Json::as_str).unwrap_or("");
    if status == "error" {
        return Err(ApiError {
            kind: envelope
                .get("errorType")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string(),
            msg: envelope
                .get("error")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string(),
            detail: String::new(),
        });
    }
    if api_error_code {
        return Err(bad("inconsistent body for response code".into()));
    }
    Ok(envelope.get("data").cloned().unwrap_or(Json::Null))
}

/// Headers from an HTTP client config file; TLS and proxies are refused
/// rather than silently ignored.
pub(super) fn load_http_config(path: &str) -> Result<Vec<(String, String)>, String> {
    let fail = |e: String| format!("error loading http config file {path:?}: {e}");
    let text = std::fs::read_to_string(path).map_err(|e| fail(super::io_reason(&e)))?;
    let cfg: HttpConfigFile = serde_yaml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let _ = (cfg.follow_redirects, cfg.enable_http2);
    if let Some(tls) = &cfg.tls_config {
        if *tls != TlsConfig::default() {
            return Err(fail(
                "tls_config in --http.config.file is not supported by promlite yet".into(),
            ));
        }
    }
    let read = |inline: &str, file: &str| -> Result<String, String> {
        if file.is_empty() {
            return Ok(inline.to_string());
        }
        std::fs::read_to_string(file)
            .map(|s| s.trim().to_string())
            .map_err(|e| fail(format!("unable to read {file}: {}", super::io_reason(&e))))
    };
    let mut headers = Vec::new();
    if let Some(b) = &cfg.basic_auth {
        let user = read(&b.username, &b.username_file)?;
        let pass = read(b.password.expose(), &b.password_file)?;
        headers.push((
            "Authorization".into(),
            format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())),
        ));
    }
    let bearer = read(
        cfg.bearer_token.as_ref().map(Secret::expose).unwrap_or(""),
        cfg.bearer_token_file.as_deref().unwrap_or(""),
    )?;
    if !bearer.is_empty() {
        headers.push(("Authorization".into(), format!("Bearer {bearer}")));
    }
    if let Some(a) = &cfg.authorization {
        let creds = read(a.credentials.expose(), &a.credentials_file)?;
        let kind = if a.kind.trim().is_empty() {
            "Bearer"
        } else {
            a.kind.trim()
        };
        headers.push(("Authorization".into(), format!("{kind} {creds}")));
    }
    Ok(headers)
}

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
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A label set as the API returns it (names are unique, so a map).
pub(super) type Metric = BTreeMap<String, String>;

/// One `[ts, "value"]` pair; the time in milliseconds, as `model.Time`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct SamplePair {
    pub t_ms: i64,
    pub v: f64,
}

/// A query result, as client_golang's `model.Value`.
#[derive(Debug, PartialEq)]
pub(super) enum QueryValue {
    Vector(Vec<(Metric, SamplePair)>),
    Matrix(Vec<(Metric, Vec<SamplePair>)>),
    Scalar(SamplePair),
    String(i64, String),
}

impl QueryValue {
    pub(super) fn from_api(data: &Json) -> Result<QueryValue, String> {
        let kind = data.get("resultType").and_then(Json::as_str).unwrap_or("");
        let result = data.get("result").unwrap_or(&Json::Null);
        let list = || {
            result
                .as_array()
                .ok_or_else(|| format!("{kind} result is not a list"))
        };
        match kind {
            "vector" => list()?
                .iter()
                .map(|s| {
                    let value = s.get("value").ok_or("sample without value")?;
                    Ok((metric(s)?, sample_pair(value)?))
                })
                .collect::<Result<_, String>>()
                .map(QueryValue::Vector),
            "matrix" => list()?
                .iter()
                .map(|s| {
                    let values = s
                        .get("values")
                        .and_then(Json::as_array)
                        .map(|v| v.iter().map(sample_pair).collect::<Result<Vec<_>, _>>())
                        .transpose()?
                        .unwrap_or_default();
                    Ok((metric(s)?, values))
                })
                .collect::<Result<_, String>>()
                .map(QueryValue::Matrix),
            "scalar" => sample_pair(result).map(QueryValue::Scalar),
            "string" => {
                let t = result.get(0).ok_or("string result without time")?;
                let s = result
                    .get(1)
                    .and_then(Json::as_str)
                    .ok_or("string result without text")?;
                Ok(QueryValue::String(time_ms(t)?, s.to_string()))
            }
            other => Err(format!("unknown result type {other:?}")),
        }
    }

    fn to_json(&self) -> String {
        match self {
            QueryValue::Vector(samples) => {
                let items: Vec<String> = samples
                    .iter()
                    .map(|(m, p)| {
                        format!(
                            "{{\"metric\":{},\"value\":{}}}",
                            label_map_json(m),
                            pair_json(p)
                        )
                    })
                    .collect();
                format!("[{}]", items.join(","))
            }
            QueryValue::Matrix(streams) => {
                let items: Vec<String> = streams
                    .iter()
                    .map(|(m, ps)| {
                        let values: Vec<String> = ps.iter().map(pair_json).collect();
                        format!(
                            "{{\"metric\":{},\"values\":[{}]}}",
                            label_map_json(m),
                            values.join(",")
                        )
                    })
                    .collect();
                format!("[{}]", items.join(","))
            }
            QueryValue::Scalar(p) => pair_json(p),
            QueryValue::String(t, s) => format!("[{},{}]", time_string(*t), go_json_string(s)),
        }
    }
}

impl std::fmt::Display for QueryValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryValue::Vector(samples) => {
                let lines: Vec<String> = samples
                    .iter()
                    .map(|(m, p)| format!("{} => {}", metric_string(m), pair_string(p)))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
            QueryValue::Matrix(streams) => {
                let mut sorted: Vec<&(Metric, Vec<SamplePair>)> = streams.iter().collect();
                sorted.sort_by(|a, b| label_set_order(&a.0, &b.0));
                let blocks: Vec<String> = sorted
                    .iter()
                    .map(|(m, ps)| {
                        let vals: Vec<String> = ps.iter().map(pair_string).collect();
                        format!("{} =>\n{}", metric_string(m), vals.join("\n"))
                    })
                    .collect();
                f.write_str(&blocks.join("\n"))
            }
            QueryValue::Scalar(p) => {
                write!(f, "scalar: {} @[{}]", format_go_f(p.v), time_string(p.t_ms))
            }
            QueryValue::String(t, s) => write!(f, "string: {s} @[{}]", time_string(*t)),
        }
    }
}

pub(super) fn metric(sample: &Json) -> Result<Metric, String> {
    match sample.get("metric") {
        None | Some(Json::Null) => Ok(Metric::new()),
        Some(m) => label_map(m),
    }
}

fn label_map(m: &Json) -> Result<Metric, String> {
    m.as_object()
        .ok_or("label set is not an object")?
        .iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("label {k:?} is not a string"))
        })
        .collect()
}

fn series_from_api(data: &Json) -> Result<Vec<Metric>, String> {
    match data {
        Json::Null => Ok(Vec::new()),
        Json::Array(items) => items.iter().map(label_map).collect(),
        _ => Err("series result is not a list".into()),
    }
}

fn string_list(data: &Json) -> Result<Vec<String>, String> {
    match data {
        Json::Null => Ok(Vec::new()),
        Json::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "label value is not a string".to_string())
            })
            .collect(),
        _ => Err("label values result is not a list".into()),
    }
}

/// `model.Time`'s JSON form: float seconds, kept to milliseconds.
fn time_ms(t: &Json) -> Result<i64, String> {
    let secs = t.as_f64().ok_or("sample time is not a number")?;
    Ok((secs * 1000.0).round() as i64)
}

pub(super) fn sample_pair(p: &Json) -> Result<SamplePair, String> {
    let t = p.get(0).ok_or("sample without time")?;
    let v = p
        .get(1)
        .and_then(Json::as_str)
        .ok_or("sample value is not a string")?;
    let v: f64 = v
        .parse()
        .map_err(|_| format!("invalid sample value {v:?}"))?;
    Ok(SamplePair {
        t_ms: time_ms(t)?,
        v,
    })
}

/// `model.Time.String()`.
fn time_string(ms: i64) -> String {
    format_go_f(ms as f64 / 1000.0)
}

fn pair_string(p: &SamplePair) -> String {
    format!("{} @[{}]", format_go_f(p.v), time_string(p.t_ms))
}

fn pair_json(p: &SamplePair) -> String {
    format!("[{},\"{}\"]", time_string(p.t_ms), format_go_f(p.v))
}

/// `model.Metric.String()`: `name{a="1", b="2"}`, bare name when alone.
pub(super) fn metric_string(m: &Metric) -> String {
    let name = m.get("__name__").map(String::as_str).unwrap_or("");
    let mut parts: Vec<String> = m
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    if parts.is_empty() {
        return if m.contains_key("__name__") {
            name.to_string()
        } else {
            "{}".to_string()
        };
    }
    // Upstream sorts the formatted pairs, not the names.
    parts.sort();
    format!("{name}{{{}}}", parts.join(", "))
}

/// `model.LabelSet.String()`: every label, `__name__` included.
fn label_set_string(m: &Metric) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// `model.LabelSet.Before`: fewer labels first, then by the first differing
/// value over the union of names.
fn label_set_order(a: &Metric, b: &Metric) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        match (a.get(n), b.get(n)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

fn label_map_json(m: &Metric) -> String {
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}:{}", go_json_string(k), go_json_string(v)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// A string as Go's `encoding/json` writes it (HTML-safe escapes included).
pub(super) fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(body: &str) -> QueryValue {
        let data = decode_api_response(200, body).unwrap_or_else(|e| panic!("{e}"));
        QueryValue::from_api(&data).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn vector_prints_as_promtool() {
        let v = value(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"a<b","instance":"x"},"value":[1700000000.5,"1"]},
            {"metric":{},"value":[1700000000,"+Inf"]}]}}"#,
        );
        assert_eq!(
            v.to_string(),
            "up{instance=\"x\", job=\"a<b\"} => 1 @[1700000000.5]\n{} => +Inf @[1700000000]"
        );
        assert_eq!(
            v.to_json(),
            r#"[{"metric":{"__name__":"up","instance":"x","job":"a\u003cb"},"value":[1700000000.5,"1"]},{"metric":{},"value":[1700000000,"+Inf"]}]"#
        );
    }

    #[test]
    fn matrix_sorts_streams_and_prints_one_value_a_line() {
        let v = value(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"2"},"values":[[10,"1"],[11,"2.5"]]},
            {"metric":{"a":"1"},"values":[[10,"1e21"]]}]}}"#,
        );
        assert_eq!(
            v.to_string(),
            "{a=\"1\"} =>\n1000000000000000000000 @[10]\n{a=\"2\"} =>\n1 @[10]\n2.5 @[11]"
        );
    }

    #[test]
    fn scalar_and_label_set_strings() {
        let v = value(r#"{"status":"success","data":{"resultType":"scalar","result":[1.25,"3"]}}"#);
        assert_eq!(v.to_string(), "scalar: 3 @[1.25]");
        let m: Metric = [("__name__", "up"), ("b", "x\"y")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(label_set_string(&m), "{__name__=\"up\", b=\"x\\\"y\"}");
        assert_eq!(metric_string(&m), "up{b=\"x\\\"y\"}");
    }

    #[test]
    fn api_errors_read_as_client_golang_prints_them() {
        let e = decode_api_response(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("bad_data: parse error"));
        let e = decode_api_response(404, "404 page not found\n")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("client_error: client error: 404 (detail: 404 page not found)")
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
