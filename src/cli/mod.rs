//! Command-line flags: upstream Prometheus's names, defaults and derived rules
//! (retention defaults, block durations, agent/server-only flags), parsed with
//! lexopt into a typed [`Flags`]. This module prints nothing and exits nothing:
//! `main.rs` decides what a [`FlagError`] means for the exit code.

pub mod spec;

use std::collections::BTreeMap;
use std::fmt;

use crate::model::duration::{format_duration, parse_duration};
pub use spec::{FlagSpec, Kind, Scope, FLAGS};

/// 15 days, upstream's `defaultRetentionDuration`.
pub const DEFAULT_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;
const HUNDRED_YEARS_MS: i64 = 100 * 365 * 24 * 3600 * 1000;
const THIRTY_ONE_DAYS_MS: i64 = 31 * 24 * 3600 * 1000;
/// Go's `time.Duration` counts nanoseconds in an int64: upstream caps any
/// retention beyond what fits there (about 292 years) at 100y.
const MAX_GO_DURATION_MS: i64 = i64::MAX / 1_000_000;
const MIN_WAL_SEGMENT: u64 = 10 * 1024 * 1024;
const MAX_WAL_SEGMENT: u64 = 256 * 1024 * 1024;

/// Why the command line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// Unknown flag, missing or bad value: upstream's kingpin errors (exit 2).
    Parse(String),
    /// Server-only flags in agent mode or the reverse (upstream exits 3).
    Mode(String),
    /// A value that parsed but is not allowed (exit 1).
    Invalid(String),
}

impl FlagError {
    /// The process exit code upstream's `main` uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            FlagError::Parse(_) => 2,
            FlagError::Mode(_) => 3,
            FlagError::Invalid(_) => 1,
        }
    }
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Parse(m) => write!(f, "Error parsing command line arguments: {m}"),
            FlagError::Mode(m) | FlagError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FlagError {}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Flags>),
    Help,
    Version,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Every flag, typed. Durations are milliseconds; sizes are bytes (0 = unset).
#[derive(Clone, Debug)]
pub struct Flags {
    pub config_file: String,
    pub listen_addresses: Vec<String>,
    pub web_read_timeout_ms: i64,
    pub web_max_connections: usize,
    pub web_external_url: String,
    /// Always starts with `/` and has no trailing `/` (except the root `/`).
    pub web_route_prefix: String,
    pub web_enable_lifecycle: bool,
    pub web_enable_admin_api: bool,
    pub web_enable_remote_write_receiver: bool,
    pub web_page_title: String,
    pub web_cors_origin: String,
    pub tsdb_path: String,
    pub tsdb_min_block_duration_ms: i64,
    pub tsdb_max_block_duration_ms: i64,
    pub tsdb_wal_segment_size: u64,
    pub tsdb_retention_time_ms: i64,
    pub tsdb_retention_size: u64,
    pub tsdb_no_lockfile: bool,
    pub tsdb_wal_compression: bool,
    pub tsdb_samples_per_chunk: usize,
    pub agent_path: String,
    pub agent_wal_segment_size: u64,
    pub agent_wal_compression: bool,
    pub agent_retention_min_time_ms: i64,
    pub agent_retention_max_time_ms: i64,
    pub agent_no_lockfile: bool,
    pub remote_flush_deadline_ms: i64,
    pub rules_outage_tolerance_ms: i64,
    pub rules_for_grace_period_ms: i64,
    pub rules_resend_delay_ms: i64,
    pub rules_max_concurrent_evals: usize,
    pub notification_queue_capacity: usize,
    pub drain_notification_queue_on_shutdown: bool,
    pub query_lookback_delta_ms: i64,
    pub query_timeout_ms: i64,
    pub query_max_concurrency: usize,
    pub query_max_samples: usize,
    pub scrape_workers: usize,
    pub enable_features: Vec<String>,
    pub agent: bool,
    pub log_level: log::LevelFilter,
    pub log_format: LogFormat,
    /// Every flag's effective value as text, for `/api/v1/status/flags`.
    pub values: BTreeMap<String, String>,
    /// Things to log once logging is set up (deprecations, derived defaults).
    pub notes: Vec<Note>,
}

/// A line to log once logging is set up: upstream logs these from `main`
/// right after parsing the flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub level: log::Level,
    pub msg: String,
    /// Key-value fields after the message (`duration=15d`), as upstream's slog attributes.
    pub fields: Vec<(&'static str, String)>,
}

impl Note {
    fn new(level: log::Level, msg: &str) -> Note {
        Note {
            level,
            msg: msg.to_string(),
            fields: Vec::new(),
        }
    }
}

/// Parses the process arguments (without the program name).
pub fn parse<I, S>(args: I) -> Result<Command, FlagError>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let raw = match collect(args)? {
        Collected::Help => return Ok(Command::Help),
        Collected::Version => return Ok(Command::Version),
        Collected::Values(v) => v,
    };
    Flags::from_raw(raw).map(|f| Command::Run(Box::new(f)))
}

enum Collected {
    Help,
    Version,
    Values(BTreeMap<&'static str, Vec<String>>),
}

fn collect<I, S>(args: I) -> Result<Collected, FlagError>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    use lexopt::Arg;
    let mut parser = lexopt::Parser::from_args(args);
    let mut given: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    loop {
        let arg = parser.next().map_err(|e| FlagError::Parse(e.to_string()))?;
        let Some(arg) = arg else { break };
        match arg {
            Arg::Short('h') | Arg::Long("help") => return Ok(Collected::Help),
            Arg::Long("version") => return Ok(Collected::Version),
            Arg::Long(name) => {
                let name = name.to_string();
                let (spec, negated) = match spec::find(&name) {
                    Some(s) => (s, false),
                    None => match name.strip_prefix("no-").and_then(spec::find) {
                        Some(s) if s.kind == Kind::Bool => (s, true),
                        _ => return Err(FlagError::Parse(format!("unknown long flag '--{name}'"))),
                    },
                };
                let value = if spec.kind == Kind::Bool {
                    let v = parser
                        .optional_value()
                        .map(|v| v.to_string_lossy().into_owned());
                    match (v.as_deref(), negated) {
                        (None, false) => "true".to_string(),
                        (None, true) => "false".to_string(),
                        (Some(v), false) => match v {
                            "true" | "false" => v.to_string(),
                            _ => {
                                return Err(FlagError::Parse(format!(
                                    "invalid value {v:?} for flag --{}: expected true or false",
                                    spec.name
                                )))
                            }
                        },
                        (Some(_), true) => {
                            return Err(FlagError::Parse(format!(
                                "flag '--no-{}' takes no value",
                                spec.name
                            )))
                        }
                    }
                } else {
                    parser
                        .value()
                        .map_err(|_| {
                            FlagError::Parse(format!(
                                "expected argument for flag '--{}'",
                                spec.name
                            ))
                        })?
                        .to_string_lossy()
                        .into_owned()
                };
                given.entry(spec.name).or_default().push(value);
            }
            Arg::Short(c) => {
                return Err(FlagError::Parse(format!("unknown short flag '-{c}'")));
            }
            Arg::Value(v) => {
                return Err(FlagError::Parse(format!(
                    "unexpected {}",
                    v.to_string_lossy()
                )));
            }
        }
    }
    Ok(Collected::Values(given))
}

/// Parses a size with a unit as kingpin's `BytesVar` (powers of 2): `512MB`, `1GB`, `10KiB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if num.is_empty() {
        return Err(format!(
            "invalid size {s:?}: a number with a unit is required"
        ));
    }
    let shift = match unit.trim() {
        "B" => 0,
        "KB" | "KiB" => 10,
        "MB" | "MiB" => 20,
        "GB" | "GiB" => 30,
        "TB" | "TiB" => 40,
        "PB" | "PiB" => 50,
        "EB" | "EiB" => 60,
        "" => {
            return Err(format!(
                "invalid size {s:?}: missing unit (B, KB, MB, GB, TB, PB, EB)"
            ))
        }
        u => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {u:?} (B, KB, MB, GB, TB, PB, EB)"
            ))
        }
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let bytes = n * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("invalid size {s:?}: too large"));
    }
    Ok(bytes as u64)
}

/// Formats a byte count as kingpin's `units.Base2Bytes.String()` does:
/// every non-zero unit, largest first (`512MiB`, `1GiB512MiB`, `0B`).
pub fn format_bytes(b: u64) -> String {
    const UNITS: &[(&str, u32)] = &[
        ("EiB", 60),
        ("PiB", 50),
        ("TiB", 40),
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
    ];
    if b == 0 {
        return "0B".to_string();
    }
    let mut out = String::new();
    let mut rest = b;
    for (u, shift) in UNITS {
        let n = rest >> shift;
        if n > 0 {
            out.push_str(&format!("{n}{u}"));
            rest -= n << shift;
        }
    }
    if rest > 0 {
        out.push_str(&format!("{rest}B"));
    }
    out
}

/// Reads typed values out of the raw flag map, applying the spec's defaults.
struct Reader<'a> {
    given: &'a BTreeMap<&'static str, Vec<String>>,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        match self.given.get(name).and_then(|v| v.last()) {
            Some(v) => Some(v.clone()),
            None => spec::find(name)
                .map(|s| s.default.to_string())
                .filter(|d| !d.is_empty()),
        }
    }

    fn string(&self, name: &str) -> String {
        self.raw(name).unwrap_or_default()
    }

    fn strings(&self, name: &str) -> Vec<String> {
        match self.given.get(name) {
            Some(v) => v.clone(),
            None => self.raw(name).into_iter().collect(),
        }
    }

    fn bool(&self, name: &str) -> bool {
        self.raw(name).as_deref() == Some("true")
    }

    fn duration(&self, name: &str) -> Result<i64, FlagError> {
        match self.raw(name) {
            None => Ok(0),
            Some(v) => parse_duration(&v).map_err(|e| {
                FlagError::Parse(format!("invalid value {v:?} for flag --{name}: {e}"))
            }),
        }
    }

    fn bytes(&self, name: &str) -> Result<u64, FlagError> {
        match self.raw(name) {
            None => Ok(0),
            Some(v) => parse_bytes(&v)
                .map_err(|e| FlagError::Parse(format!("invalid value for flag --{name}: {e}"))),
        }
    }

    fn int(&self, name: &str) -> Result<usize, FlagError> {
        match self.raw(name) {
            None => Ok(0),
            Some(v) => {
                // Upstream accepts `5e7` for some integer flags (read-sample-limit).
                let parsed = v.parse::<usize>().ok().or_else(|| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0)
                        .map(|f| f as usize)
                });
                parsed.ok_or_else(|| {
                    FlagError::Parse(format!(
                        "invalid value {v:?} for flag --{name}: expected a non-negative integer"
                    ))
                })
            }
        }
    }

    fn float(&self, name: &str) -> Result<f64, FlagError> {
        match self.raw(name) {
            None => Ok(0.0),
            Some(v) => v.parse::<f64>().map_err(|_| {
                FlagError::Parse(format!(
                    "invalid value {v:?} for flag --{name}: expected a number"
                ))
            }),
        }
    }
}

impl Flags {
    fn from_raw(given: BTreeMap<&'static str, Vec<String>>) -> Result<Flags, FlagError> {
        let r = Reader { given: &given };
        let mut notes = Vec::new();

        // Type-check every given flag first, so a bad value is reported even
        // for flags promlite accepts but does not use.
        for name in given.keys() {
            if let Some(s) = spec::find(name) {
                match s.kind {
                    Kind::Duration => {
                        r.duration(name)?;
                    }
                    Kind::Bytes => {
                        r.bytes(name)?;
                    }
                    Kind::Int => {
                        r.int(name)?;
                    }
                    Kind::Float => {
                        r.float(name)?;
                    }
                    Kind::Bool | Kind::Str | Kind::Strings => {}
                }
            }
        }

        let agent = r.bool("agent");
        let mut features = Vec::new();
        for f in r.strings("enable-feature") {
            for part in f.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                if part == "agent" {
                    return Err(FlagError::Invalid(
                        "Error parsing feature list: the 'agent' feature flag is removed; use the --agent flag instead"
                            .to_string(),
                    ));
                }
                features.push(part.to_string());
            }
        }

        // Mode checks, as upstream's serverOnlyFlag/agentOnlyFlag.
        let wrong_mode: Vec<String> = given
            .keys()
            .filter_map(|n| spec::find(n))
            .filter(|s| {
                (agent && s.scope == Scope::ServerOnly) || (!agent && s.scope == Scope::AgentOnly)
            })
            .map(|s| format!("--{}", s.name))
            .collect();
        if !wrong_mode.is_empty() {
            let list = wrong_mode
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(" ");
            return Err(FlagError::Mode(if agent {
                format!("The following flag(s) can not be used in agent mode: [{list}]")
            } else {
                format!("The following flag(s) can only be used in agent mode: [{list}]")
            }));
        }

        let log_level = match r.string("log.level").as_str() {
            "debug" => log::LevelFilter::Debug,
            "info" => log::LevelFilter::Info,
            "warn" => log::LevelFilter::Warn,
            "error" => log::LevelFilter::Error,
            other => {
                return Err(FlagError::Parse(format!(
                    "unrecognized log level {other:?} for flag --log.level: one of [debug, info, warn, error]"
                )))
            }
        };
        let log_format = match r.string("log.format").as_str() {
            "logfmt" => LogFormat::Logfmt,
            "json" => LogFormat::Json,
            other => {
                return Err(FlagError::Parse(format!(
                    "unrecognized log format {other:?} for flag --log.format: one of [logfmt, json]"
                )))
            }
        };

        let ratio = r.float("auto-gomemlimit.ratio")?;
        if ratio <= 0.0 || ratio > 1.0 {
            return Err(FlagError::Invalid(
                "--auto-gomemlimit.ratio must be greater than 0 and less than or equal to 1."
                    .to_string(),
            ));
        }

        let listen_addresses = r.strings("web.listen-address");
        let external_url = r.string("web.external-url");
        let route_prefix = {
            let given = r.string("web.route-prefix");
            let p = if given.is_empty() {
                url_path(&external_url)
            } else {
                given
            };
            format!("/{}", p.trim_matches('/'))
        };

        let mut retention = r.duration("storage.tsdb.retention.time")?;
        let deprecated = r.duration("storage.tsdb.retention")?;
        if given.contains_key("storage.tsdb.retention") {
            notes.push(Note::new(
                log::Level::Warn,
                "'storage.tsdb.retention' flag is deprecated use 'storage.tsdb.retention.time' instead.",
            ));
            if retention == 0 {
                retention = deprecated;
            }
        }
        let retention_size = r.bytes("storage.tsdb.retention.size")?;
        let mut max_block = r.duration("storage.tsdb.max-block-duration")?;
        let wal_segment_size = r.bytes("storage.tsdb.wal-segment-size")?;
        if !agent {
            if retention == 0 && retention_size == 0 {
                retention = DEFAULT_RETENTION_MS;
                notes.push(Note {
                    fields: vec![("duration", format_duration(DEFAULT_RETENTION_MS))],
                    ..Note::new(
                        log::Level::Info,
                        "No time or size retention was set so using the default time retention",
                    )
                });
            }
            if retention > MAX_GO_DURATION_MS {
                retention = HUNDRED_YEARS_MS;
                notes.push(Note::new(
                    log::Level::Warn,
                    "Time retention value is too high. Limiting to: 100y",
                ));
            }
            if max_block == 0 {
                max_block = THIRTY_ONE_DAYS_MS;
                if retention != 0 && retention / 10 < max_block {
                    max_block = retention / 10;
                }
            }
            if wal_segment_size != 0
                && !(MIN_WAL_SEGMENT..=MAX_WAL_SEGMENT).contains(&wal_segment_size)
            {
                return Err(FlagError::Invalid(
                    "flag 'storage.tsdb.wal-segment-size' must be set between 10MB and 256MB"
                        .to_string(),
                ));
            }
        }
        let agent_wal_segment_size = r.bytes("storage.agent.wal-segment-size")?;
        if agent
            && agent_wal_segment_size != 0
            && !(MIN_WAL_SEGMENT..=MAX_WAL_SEGMENT).contains(&agent_wal_segment_size)
        {
            return Err(FlagError::Invalid(
                "flag 'storage.agent.wal-segment-size' must be set between 10MB and 256MB"
                    .to_string(),
            ));
        }

        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let scrape_workers = match r.int("scrape.workers")? {
            0 => (2 * cores).max(4),
            n => n,
        };
        if listen_addresses.is_empty() {
            return Err(FlagError::Invalid(
                "flag --web.listen-address needs at least one address".to_string(),
            ));
        }
        // Upstream's enum-valued flags: a value outside the set is a parse
        // error. Values upstream accepts but promlite cannot honour are
        // refused by name rather than ignored.
        for msg in r.strings("web.remote-write-receiver.accepted-protobuf-messages") {
            for m in msg.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                if m != "prometheus.WriteRequest" && m != "io.prometheus.write.v2.Request" {
                    return Err(FlagError::Parse(format!(
                        "unknown remote write protobuf message {m} for flag --web.remote-write-receiver.accepted-protobuf-messages, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                    )));
                }
            }
        }
        for name in [
            "storage.tsdb.wal-compression-type",
            "storage.agent.wal-compression-type",
        ] {
            match r.string(name).as_str() {
                "snappy" => {}
                "zstd" => {
                    return Err(FlagError::Invalid(format!(
                        "--{name}=zstd is not supported by promlite (snappy only)"
                    )))
                }
                other => {
                    return Err(FlagError::Parse(format!(
                        "enum value must be one of snappy,zstd, got '{other}' for flag --{name}"
                    )))
                }
            }
        }
        let escaping = r.string("scrape.name-escaping-scheme");
        if !["values", "underscores", "dots"].contains(&escaping.as_str()) {
            return Err(FlagError::Invalid(format!(
                "Invalid name escaping scheme: {escaping:?}; Needs to be one of \"values\", \"underscores\", or \"dots\""
            )));
        }
        for unsupported in ["web.config.file", "web.user-assets"] {
            if given.contains_key(unsupported) && !r.string(unsupported).is_empty() {
                return Err(FlagError::Invalid(format!(
                    "--{unsupported} is not supported by promlite"
                )));
            }
        }

        let mut values = BTreeMap::new();
        for s in FLAGS {
            let v = match s.kind {
                Kind::Strings => r.strings(s.name).join(","),
                // Upstream prints unset durations and sizes as their zero value.
                Kind::Duration => format_duration(r.duration(s.name)?),
                Kind::Bytes => format_bytes(r.bytes(s.name)?),
                _ => r.string(s.name),
            };
            values.insert(s.name.to_string(), v);
        }
        values.insert(
            "storage.tsdb.retention.time".to_string(),
            format_duration(retention),
        );
        values.insert("web.route-prefix".to_string(), route_prefix.clone());
        values.insert("scrape.workers".to_string(), scrape_workers.to_string());

        Ok(Flags {
            config_file: r.string("config.file"),
            listen_addresses,
            web_read_timeout_ms: r.duration("web.read-timeout")?,
            web_max_connections: r.int("web.max-connections")?,
            web_external_url: external_url,
            web_route_prefix: route_prefix,
            web_enable_lifecycle: r.bool("web.enable-lifecycle"),
            web_enable_admin_api: r.bool("web.enable-admin-api"),
            web_enable_remote_write_receiver: r.bool("web.enable-remote-write-receiver"),
            web_page_title: r.string("web.page-title"),
            web_cors_origin: r.string("web.cors.origin"),
            tsdb_path: r.string("storage.tsdb.path"),
            tsdb_min_block_duration_ms: r.duration("storage.tsdb.min-block-duration")?,
            tsdb_max_block_duration_ms: max_block,
            tsdb_wal_segment_size: wal_segment_size,
            tsdb_retention_time_ms: retention,
            tsdb_retention_size: retention_size,
            tsdb_no_lockfile: r.bool("storage.tsdb.no-lockfile"),
            tsdb_wal_compression: r.bool("storage.tsdb.wal-compression"),
            tsdb_samples_per_chunk: r.int("storage.tsdb.samples-per-chunk")?,
            agent_path: r.string("storage.agent.path"),
            agent_wal_segment_size,
            agent_wal_compression: r.bool("storage.agent.wal-compression"),
            agent_retention_min_time_ms: r.duration("storage.agent.retention.min-time")?,
            agent_retention_max_time_ms: r.duration("storage.agent.retention.max-time")?,
            agent_no_lockfile: r.bool("storage.agent.no-lockfile"),
            remote_flush_deadline_ms: r.duration("storage.remote.flush-deadline")?,
            rules_outage_tolerance_ms: r.duration("rules.alert.for-outage-tolerance")?,
            rules_for_grace_period_ms: r.duration("rules.alert.for-grace-period")?,
            rules_resend_delay_ms: r.duration("rules.alert.resend-delay")?,
            rules_max_concurrent_evals: r.int("rules.max-concurrent-evals")?,
            notification_queue_capacity: r.int("alertmanager.notification-queue-capacity")?,
            drain_notification_queue_on_shutdown: r
                .bool("alertmanager.drain-notification-queue-on-shutdown"),
            query_lookback_delta_ms: r.duration("query.lookback-delta")?,
            query_timeout_ms: r.duration("query.timeout")?,
            query_max_concurrency: r.int("query.max-concurrency")?,
            query_max_samples: r.int("query.max-samples")?,
            scrape_workers,
            enable_features: features,
            agent,
            log_level,
            log_format,
            values,
            notes,
        })
    }

    /// The local storage directory for the current mode.
    pub fn storage_path(&self) -> &str {
        if self.agent {
            &self.agent_path
        } else {
            &self.tsdb_path
        }
    }
}

/// The path part of a URL (`http://host:9090/prom/` → `/prom/`), or "" when
/// there is none. Only used to derive the route prefix.
fn url_path(url: &str) -> String {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => return String::new(),
    };
    match rest.find('/') {
        Some(i) => {
            let p = &rest[i..];
            let end = p.find(['?', '#']).unwrap_or(p.len());
            p[..end].to_string()
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Flags, FlagError> {
        match parse(args.iter().copied())? {
            Command::Run(f) => Ok(*f),
            other => panic!("expected run, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_upstream() {
        let f = run(&[]).unwrap();
        assert_eq!(f.config_file, "prometheus.yml");
        assert_eq!(f.listen_addresses, vec!["0.0.0.0:9090"]);
        assert_eq!(f.web_read_timeout_ms, 5 * 60 * 1000);
        assert_eq!(f.web_max_connections, 512);
        assert_eq!(f.web_route_prefix, "/");
        assert_eq!(f.tsdb_path, "data/");
        assert_eq!(f.tsdb_retention_time_ms, DEFAULT_RETENTION_MS);
        // min(31d, 15d/10) = 1.5d
        assert_eq!(f.tsdb_max_block_duration_ms, DEFAULT_RETENTION_MS / 10);
        assert_eq!(f.query_timeout_ms, 2 * 60 * 1000);
        assert_eq!(f.query_max_samples, 50_000_000);
        assert_eq!(f.notification_queue_capacity, 10_000);
        assert!(f.scrape_workers >= 4);
        assert!(!f.web_enable_lifecycle);
        assert_eq!(
            f.values["storage.tsdb.retention.time"],
            format_duration(DEFAULT_RETENTION_MS)
        );
        assert_eq!(f.tsdb_min_block_duration_ms, 2 * 3600 * 1000);
        assert_eq!(f.remote_flush_deadline_ms, 60 * 1000);
        assert_eq!(f.rules_outage_tolerance_ms, 3600 * 1000);
        assert_eq!(f.rules_for_grace_period_ms, 10 * 60 * 1000);
        assert_eq!(f.rules_resend_delay_ms, 60 * 1000);
        assert_eq!(f.query_lookback_delta_ms, 5 * 60 * 1000);
        assert_eq!(f.query_max_concurrency, 20);
        assert_eq!(f.agent_path, "data-agent/");
        assert!(f.tsdb_wal_compression && !f.tsdb_no_lockfile && !f.agent);
        assert_eq!(
            (f.log_level, f.log_format),
            (log::LevelFilter::Info, LogFormat::Logfmt)
        );
        // Logged at start-up as upstream does: the duration is a field.
        assert!(f.notes.contains(&Note {
            level: log::Level::Info,
            msg: "No time or size retention was set so using the default time retention"
                .to_string(),
            fields: vec![("duration", "15d".to_string())],
        }));
    }

    #[test]
    fn newer_upstream_flags_are_accepted_and_checked() {
        let f = run(&[
            "--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
            "--storage.tsdb.head-chunks-write-queue-size=1000",
            "--storage.tsdb.max-block-chunk-segment-size=512MB",
            "--storage.tsdb.wal-compression-type=snappy",
            "--scrape.name-escaping-scheme=underscores",
        ])
        .unwrap();
        assert_eq!(f.values["scrape.name-escaping-scheme"], "underscores");
        assert_eq!(
            f.values["storage.tsdb.max-block-chunk-segment-size"],
            "512MiB"
        );
        let e = run(&["--web.remote-write-receiver.accepted-protobuf-messages=x.Y"]).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        let e = run(&["--storage.tsdb.wal-compression-type=lz4"]).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        let e = run(&["--storage.tsdb.wal-compression-type=zstd"]).unwrap_err();
        assert!(
            e.to_string().contains("is not supported by promlite"),
            "{e}"
        );
        let e = run(&["--scrape.name-escaping-scheme=slashes"]).unwrap_err();
        assert_eq!(e.exit_code(), 1, "{e}");
        // Scope as upstream: the agent's compression type in server mode.
        let e = run(&["--storage.agent.wal-compression-type=snappy"]).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(run(&["--agent", "--storage.agent.wal-compression-type=snappy"]).is_ok());
    }

    #[test]
    fn console_flags_are_accepted() {
        let f = run(&[
            "--web.console.templates=/etc/prometheus/consoles",
            "--web.console.libraries",
            "/etc/prometheus/console_libraries",
        ])
        .unwrap();
        assert_eq!(
            f.values["web.console.templates"],
            "/etc/prometheus/consoles"
        );
        assert_eq!(
            f.values["web.console.libraries"],
            "/etc/prometheus/console_libraries"
        );
    }

    #[test]
    fn every_value_flag_takes_both_forms() {
        // One value per kind; both spellings must give the same Flags.
        for (name, value) in [
            ("config.file", "x.yml"),
            ("web.listen-address", "127.0.0.1:1"),
            ("web.max-connections", "7"),
            ("storage.tsdb.retention.time", "3d"),
            ("storage.tsdb.retention.size", "2GB"),
            ("auto-gomemlimit.ratio", "0.5"),
            ("enable-feature", "a,b"),
        ] {
            let joined = run(&[&format!("--{name}={value}")]).unwrap();
            let split = run(&[&format!("--{name}"), value]).unwrap();
            assert_eq!(joined.values, split.values, "--{name}");
            assert_ne!(
                joined.values,
                run(&[]).unwrap().values,
                "--{name} changed nothing"
            );
        }
        let e = run(&["--query.timeout"]).unwrap_err();
        assert!(e.to_string().contains("--query.timeout"), "{e}");
    }

    #[test]
    fn both_value_forms() {
        let f = run(&["--config.file=a.yml", "--query.timeout", "30s"]).unwrap();
        assert_eq!(f.config_file, "a.yml");
        assert_eq!(f.query_timeout_ms, 30_000);
    }

    #[test]
    fn bools() {
        let f = run(&[
            "--web.enable-lifecycle",
            "--no-storage.tsdb.wal-compression",
        ])
        .unwrap();
        assert!(f.web_enable_lifecycle);
        assert!(!f.tsdb_wal_compression);
        let f = run(&["--web.enable-lifecycle=false"]).unwrap();
        assert!(!f.web_enable_lifecycle);
    }

    #[test]
    fn unknown_flag_names_it() {
        let e = run(&["--nope"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--nope"), "{e}");
    }

    #[test]
    fn bad_duration_names_flag() {
        let e = run(&["--query.timeout=5x"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--query.timeout"), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1KB").unwrap(), 1024);
        assert_eq!(parse_bytes("2EB").unwrap(), 2 << 60);
        assert_eq!(parse_bytes("10B").unwrap(), 10);
        assert!(parse_bytes("10").is_err());
        assert!(parse_bytes("10XB").is_err());
        assert!(parse_bytes("MB").is_err());
        assert_eq!(format_bytes(512 << 20), "512MiB");
        assert_eq!(format_bytes((1 << 30) + (512 << 20)), "1GiB512MiB");
        assert_eq!(format_bytes(0), "0B");
        let f = run(&["--storage.tsdb.retention.size=1GB"]).unwrap();
        assert_eq!(f.tsdb_retention_size, 1 << 30);
        // Size alone: no default time retention, max block 31d.
        assert_eq!(f.tsdb_retention_time_ms, 0);
        assert_eq!(f.tsdb_max_block_duration_ms, THIRTY_ONE_DAYS_MS);
        let e = run(&["--storage.tsdb.retention.size=1GQ"]).unwrap_err();
        assert!(
            e.to_string().contains("--storage.tsdb.retention.size"),
            "{e}"
        );
    }

    #[test]
    fn retention_overflow_is_capped() {
        let f = run(&["--storage.tsdb.retention.time=1000y"]).unwrap();
        assert_eq!(f.tsdb_retention_time_ms, HUNDRED_YEARS_MS);
        assert!(f
            .notes
            .iter()
            .any(|n| n.level == log::Level::Warn && n.msg.contains("100y")));
    }

    #[test]
    fn deprecated_retention_warns() {
        let f = run(&["--storage.tsdb.retention=30d"]).unwrap();
        assert_eq!(f.tsdb_retention_time_ms, 30 * 24 * 3600 * 1000);
        assert!(f.notes.iter().any(|n| n.msg.contains("deprecated")));
    }

    #[test]
    fn max_block_is_capped_at_31d() {
        let f = run(&["--storage.tsdb.retention.time=1y"]).unwrap();
        assert_eq!(f.tsdb_max_block_duration_ms, THIRTY_ONE_DAYS_MS);
    }

    #[test]
    fn wal_segment_bounds() {
        assert!(run(&["--storage.tsdb.wal-segment-size=64MB"]).is_ok());
        let e = run(&["--storage.tsdb.wal-segment-size=1MB"]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(run(&["--storage.tsdb.wal-segment-size=512MB"]).is_err());
    }

    #[test]
    fn modes() {
        let e = run(&["--agent", "--query.timeout=1m"]).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("--query.timeout"), "{e}");
        let e = run(&["--storage.agent.path=x"]).unwrap_err();
        assert!(e.to_string().contains("only be used in agent mode"), "{e}");
        let f = run(&["--agent", "--storage.agent.path=x"]).unwrap();
        assert_eq!(f.storage_path(), "x");
    }

    #[test]
    fn route_prefix_from_external_url() {
        let f = run(&["--web.external-url=http://example.com:9090/prom/"]).unwrap();
        assert_eq!(f.web_route_prefix, "/prom");
        let f = run(&[
            "--web.external-url=http://example.com/prom/",
            "--web.route-prefix=other/",
        ])
        .unwrap();
        assert_eq!(f.web_route_prefix, "/other");
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse(["--help"]).unwrap(), Command::Help));
        assert!(matches!(parse(["-h"]).unwrap(), Command::Help));
        assert!(matches!(parse(["--version"]).unwrap(), Command::Version));
    }

    #[test]
    fn repeated_listen_address_and_features() {
        let f = run(&[
            "--web.listen-address=127.0.0.1:1",
            "--web.listen-address=127.0.0.1:2",
            "--enable-feature=a,b",
            "--enable-feature=c",
        ])
        .unwrap();
        assert_eq!(f.listen_addresses.len(), 2);
        assert_eq!(f.enable_features, vec!["a", "b", "c"]);
    }

    #[test]
    fn log_flags() {
        let f = run(&["--log.level=debug", "--log.format=json"]).unwrap();
        assert_eq!(f.log_level, log::LevelFilter::Debug);
        assert_eq!(f.log_format, LogFormat::Json);
        assert!(run(&["--log.level=loud"]).is_err());
    }
}
