//! The table of every flag promlite accepts: upstream's names, defaults, help
//! texts and whether the flag belongs to server mode, agent mode or both.
//! `--help` and `/api/v1/status/flags` are both generated from this table, so
//! the two never disagree.

/// Which mode a flag belongs to (upstream's `serverOnlyFlag`/`agentOnlyFlag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Both,
    ServerOnly,
    AgentOnly,
}

/// How a flag's value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--flag` alone means true; `--flag=false` and `--no-flag` mean false.
    Bool,
    /// Any string.
    Str,
    /// A string that may be given several times.
    Strings,
    /// A Prometheus duration (`5m`, `1h30m`).
    Duration,
    /// A size with a unit (`512MB`), powers of 2.
    Bytes,
    /// An integer.
    Int,
    /// A float.
    Float,
}

/// One flag.
#[derive(Clone, Copy, Debug)]
pub struct FlagSpec {
    pub name: &'static str,
    pub help: &'static str,
    /// The default as upstream prints it; empty means "no default".
    pub default: &'static str,
    pub kind: Kind,
    pub scope: Scope,
    /// Hidden flags are accepted but not listed by `--help` (as upstream).
    pub hidden: bool,
    pub placeholder: &'static str,
}

const fn flag(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        help,
        default,
        kind,
        scope: Scope::Both,
        hidden: false,
        placeholder: "",
    }
}

const fn server(spec: FlagSpec) -> FlagSpec {
    FlagSpec {
        scope: Scope::ServerOnly,
        ..spec
    }
}

const fn agent(spec: FlagSpec) -> FlagSpec {
    FlagSpec {
        scope: Scope::AgentOnly,
        ..spec
    }
}

const fn hidden(spec: FlagSpec) -> FlagSpec {
    FlagSpec {
        hidden: true,
        ..spec
    }
}

const fn placeholder(spec: FlagSpec, p: &'static str) -> FlagSpec {
    FlagSpec {
        placeholder: p,
        ..spec
    }
}

use Kind::*;

/// Every flag, in upstream's `--help` order.
pub const FLAGS: &[FlagSpec] = &[
    flag("config.file", Str, "prometheus.yml", "Prometheus configuration file path."),
    flag("config.auto-reload-interval", Duration, "30s", "Specifies the interval for checking and automatically reloading the Prometheus configuration file upon detecting changes. Not supported by promlite: accepted and ignored."),
    flag("web.listen-address", Strings, "0.0.0.0:9090", "Address to listen on for UI, API, and telemetry. Can be repeated."),
    flag("auto-gomemlimit.ratio", Float, "0.9", "The ratio of reserved GOMEMLIMIT memory to the detected maximum container or system memory. Has no effect in promlite (no Go runtime)."),
    flag("web.config.file", Str, "", "[EXPERIMENTAL] Path to configuration file that can enable TLS or authentication. Not supported by promlite."),
    flag("web.read-timeout", Duration, "5m", "Maximum duration before timing out read of the request, and closing idle connections."),
    flag("web.max-connections", Int, "512", "Maximum number of simultaneous connections across all listeners."),
    placeholder(flag("web.max-notifications-subscribers", Int, "16", "Limits the maximum number of subscribers that can concurrently receive live notifications. Not used by promlite."), ""),
    placeholder(flag("web.external-url", Str, "", "The URL under which Prometheus is externally reachable (for example, if Prometheus is served via a reverse proxy). Used for generating relative and absolute links back to Prometheus itself. If the URL has a path portion, it will be used to prefix all HTTP endpoints served by Prometheus. If omitted, relevant URL components will be derived automatically."), "<URL>"),
    placeholder(flag("web.route-prefix", Str, "", "Prefix for the internal routes of web endpoints. Defaults to path of --web.external-url."), "<path>"),
    placeholder(flag("web.user-assets", Str, "", "Path to static asset directory, available at /user. Not supported by promlite."), "<path>"),
    flag("web.enable-lifecycle", Bool, "false", "Enable shutdown and reload via HTTP request."),
    flag("web.enable-admin-api", Bool, "false", "Enable API endpoints for admin control actions."),
    flag("web.enable-remote-write-receiver", Bool, "false", "Enable API endpoint accepting remote write requests."),
    flag("web.remote-write-receiver.accepted-protobuf-messages", Strings, "prometheus.WriteRequest,io.prometheus.write.v2.Request", "List of the remote write protobuf messages to accept when receiving the remote writes. Supported values: prometheus.WriteRequest, io.prometheus.write.v2.Request. promlite's receiver decodes prometheus.WriteRequest (remote write 1.0) only."),
    flag("web.enable-otlp-receiver", Bool, "false", "Enable API endpoint accepting OTLP write requests. Not supported by promlite."),
    flag("web.console.templates", Str, "consoles", "Path to the console template directory, available at /consoles. Accepted but not supported by promlite: no consoles are served."),
    flag("web.console.libraries", Str, "console_libraries", "Path to the console library directory. Accepted but not supported by promlite."),
    flag("web.page-title", Str, "Prometheus Time Series Collection and Processing Server", "Document title of Prometheus instance."),
    flag("web.cors.origin", Str, ".*", "Regex for CORS origin. It is fully anchored. Example: 'https?://(domain1|domain2)\\.com'"),
    server(flag("storage.tsdb.path", Str, "data/", "Base path for metrics storage.")),
    hidden(server(flag("storage.tsdb.min-block-duration", Duration, "2h", "Minimum duration of a data block before being persisted. For use in testing."))),
    hidden(server(placeholder(flag("storage.tsdb.max-block-duration", Duration, "", "Maximum duration compacted blocks may span. For use in testing. (Defaults to 10% of the retention period.)"), "<duration>"))),
    hidden(server(placeholder(flag("storage.tsdb.wal-segment-size", Bytes, "", "Size at which to split the tsdb WAL segment files. Example: 100MB"), "<bytes>"))),
    hidden(server(placeholder(flag("storage.tsdb.max-block-chunk-segment-size", Bytes, "", "The maximum size for a single chunk segment in a block. Example: 512MB. Accepted; promlite writes one chunk file per block."), "<bytes>"))),
    server(flag("storage.tsdb.retention.time", Duration, "", "How long to retain samples in storage. If neither this flag nor \"storage.tsdb.retention.size\" is set, the retention time defaults to 15d. Units Supported: y, w, d, h, m, s, ms.")),
    server(flag("storage.tsdb.retention.size", Bytes, "", "Maximum number of bytes that can be stored for blocks. A unit is required, supported units: B, KB, MB, GB, TB, PB, EB. Ex: \"512MB\". Based on powers-of-2, so 1KB is 1024B.")),
    hidden(server(flag("storage.tsdb.retention", Duration, "", "[DEPRECATED] How long to retain samples in storage. This flag has been deprecated, use \"storage.tsdb.retention.time\" instead."))),
    server(flag("storage.tsdb.no-lockfile", Bool, "false", "Do not create lockfile in data directory.")),
    hidden(server(flag("storage.tsdb.wal-compression", Bool, "true", "Compress the tsdb WAL."))),
    hidden(server(flag("storage.tsdb.wal-compression-type", Str, "snappy", "Compression algorithm for the tsdb WAL."))),
    server(flag("storage.tsdb.head-chunks-write-queue-size", Int, "0", "Size of the queue through which head chunks are written to the disk to be m-mapped, 0 disables the queue completely. Experimental. Has no effect in promlite.")),
    hidden(server(flag("storage.tsdb.samples-per-chunk", Int, "120", "Target number of samples per chunk."))),
    agent(flag("storage.agent.path", Str, "data-agent/", "Base path for metrics storage.")),
    hidden(agent(placeholder(flag("storage.agent.wal-segment-size", Bytes, "", "Size at which to split WAL segment files. Example: 100MB"), "<bytes>"))),
    agent(flag("storage.agent.wal-compression", Bool, "true", "Compress the agent WAL.")),
    hidden(agent(flag("storage.agent.wal-compression-type", Str, "snappy", "Compression algorithm for the agent WAL."))),
    hidden(agent(placeholder(flag("storage.agent.wal-truncate-frequency", Duration, "", "The frequency at which to truncate the WAL and remove old data."), "<duration>"))),
    agent(flag("storage.agent.retention.min-time", Duration, "", "Minimum age samples may be before being considered for deletion when the WAL is truncated")),
    agent(flag("storage.agent.retention.max-time", Duration, "", "Maximum age samples may be before being forcibly deleted when the WAL is truncated")),
    agent(flag("storage.agent.no-lockfile", Bool, "false", "Do not create lockfile in data directory.")),
    placeholder(flag("storage.remote.flush-deadline", Duration, "1m", "How long to wait flushing sample on shutdown or config reload."), "<duration>"),
    server(flag("storage.remote.read-sample-limit", Int, "50000000", "Maximum overall number of samples to return via the remote read interface, in a single query. 0 means no limit. This limit is ignored for streamed response types.")),
    server(flag("storage.remote.read-concurrent-limit", Int, "10", "Maximum number of concurrent remote read calls. 0 means no limit.")),
    server(flag("storage.remote.read-max-bytes-in-frame", Int, "1048576", "Maximum number of bytes in a single frame for streaming remote read response types before marshalling. Note that client might have limit on frame size as well. 1MB as recommended by protobuf by default.")),
    server(flag("rules.alert.for-outage-tolerance", Duration, "1h", "Max time to tolerate prometheus outage for restoring \"for\" state of alert.")),
    server(flag("rules.alert.for-grace-period", Duration, "10m", "Minimum duration between alert and restored \"for\" state. This is maintained only for alerts with configured \"for\" time greater than grace period.")),
    server(flag("rules.alert.resend-delay", Duration, "1m", "Minimum amount of time to wait before resending an alert to Alertmanager.")),
    server(flag("rules.max-concurrent-evals", Int, "4", "Global concurrency limit for independent rules that can run concurrently. When set, \"query.max-concurrency\" may need to be adjusted accordingly.")),
    hidden(flag("scrape.adjust-timestamps", Bool, "true", "Adjust scrape timestamps by up to `scrape.timestamp-tolerance` to align them to the intended schedule. See https://github.com/prometheus/prometheus/issues/7846 for more context. Experimental. This flag will be removed in a future release.")),
    hidden(flag("scrape.timestamp-tolerance", Duration, "2ms", "Timestamp tolerance. See https://github.com/prometheus/prometheus/issues/7846 for more context. Experimental. This flag will be removed in a future release.")),
    hidden(flag("scrape.discovery-reload-interval", Duration, "5s", "Interval used by scrape manager to throttle target groups updates.")),
    flag("scrape.name-escaping-scheme", Str, "values", "Method for escaping legacy invalid names when sending to Prometheus that does not support UTF-8. Can be one of \"values\", \"underscores\", or \"dots\"."),
    flag("scrape.workers", Int, "", "Size of the bounded thread pool that runs scrapes (promlite only). Defaults to max(4, 2 x CPU cores)."),
    server(flag("alertmanager.notification-queue-capacity", Int, "10000", "The capacity of the queue for pending Alertmanager notifications.")),
    server(flag("alertmanager.drain-notification-queue-on-shutdown", Bool, "true", "Send any outstanding Alertmanager notifications when shutting down. If false, any outstanding Alertmanager notifications will be dropped when shutting down.")),
    server(flag("query.lookback-delta", Duration, "5m", "The maximum lookback duration for retrieving metrics during expression evaluations and federation.")),
    server(flag("query.timeout", Duration, "2m", "Maximum time a query may take before being aborted.")),
    server(flag("query.max-concurrency", Int, "20", "Maximum number of queries executed concurrently.")),
    server(flag("query.max-samples", Int, "50000000", "Maximum number of samples a single query can load into memory. Note that queries will fail if they try to load more samples than this into memory, so this also limits the number of samples a query can return.")),
    flag("enable-feature", Strings, "", "Comma separated feature names to enable. Valid options: exemplar-storage, expand-external-labels, memory-snapshot-on-shutdown, promql-per-step-stats, promql-experimental-functions, extra-scrape-metrics, auto-gomaxprocs, native-histograms, created-timestamp-zero-ingestion, concurrent-rule-eval, delayed-compaction, old-ui, otlp-deltatocumulative, promql-duration-expr, use-uncached-io. See https://prometheus.io/docs/prometheus/latest/feature_flags/ for more details."),
    flag("agent", Bool, "false", "Run Prometheus in 'Agent mode'."),
    flag("log.level", Str, "info", "Only log messages with the given severity or above. One of: [debug, info, warn, error]"),
    flag("log.format", Str, "logfmt", "Output format of log messages. One of: [logfmt, json]"),
];

/// Looks a flag up by name.
pub fn find(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|f| f.name == name)
}

/// The `--help` text, in kingpin's layout.
pub fn usage(program: &str) -> String {
    let mut out = format!(
        "usage: {program} [<flags>]\n\nThe Prometheus monitoring server (promlite)\n\nFlags:\n"
    );
    let mut rows: Vec<(String, String)> = vec![
        (
            "-h, --[no-]help".to_string(),
            "Show context-sensitive help (also try --help-long and --help-man).".to_string(),
        ),
        (
            "    --[no-]version".to_string(),
            "Show application version.".to_string(),
        ),
    ];
    for f in FLAGS.iter().filter(|f| !f.hidden) {
        let mut left = match f.kind {
            Kind::Bool => format!("    --[no-]{}", f.name),
            _ => {
                let ph = if !f.placeholder.is_empty() {
                    f.placeholder.to_string()
                } else if !f.default.is_empty() {
                    format!("\"{}\"", f.default)
                } else {
                    f.name.rsplit('.').next().unwrap_or(f.name).to_uppercase()
                };
                format!("    --{}={}", f.name, ph)
            }
        };
        if f.kind == Kind::Strings {
            left.push_str(" ...");
        }
        let mut help = f.help.to_string();
        match f.scope {
            Scope::ServerOnly => help.push_str(" Use with server mode only."),
            Scope::AgentOnly => help.push_str(" Use with agent mode only."),
            Scope::Both => {}
        }
        rows.push((left, help));
    }
    for (left, help) in rows {
        out.push_str("  ");
        out.push_str(&left);
        out.push('\n');
        out.push_str("      ");
        out.push_str(&help);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = FLAGS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    /// The flags the issue names, as upstream's `cmd/prometheus/main.go`
    /// declares them: (name, default, help, scope, hidden). promlite may add
    /// a sentence after upstream's help text, never change it.
    const UPSTREAM: &[(&str, &str, &str, Scope, bool)] = &[
        ("config.file", "prometheus.yml", "Prometheus configuration file path.", Scope::Both, false),
        ("web.listen-address", "0.0.0.0:9090", "Address to listen on for UI, API, and telemetry. Can be repeated.", Scope::Both, false),
        ("web.read-timeout", "5m", "Maximum duration before timing out read of the request, and closing idle connections.", Scope::Both, false),
        ("web.max-connections", "512", "Maximum number of simultaneous connections across all listeners.", Scope::Both, false),
        ("web.external-url", "", "The URL under which Prometheus is externally reachable (for example, if Prometheus is served via a reverse proxy). Used for generating relative and absolute links back to Prometheus itself. If the URL has a path portion, it will be used to prefix all HTTP endpoints served by Prometheus. If omitted, relevant URL components will be derived automatically.", Scope::Both, false),
        ("web.route-prefix", "", "Prefix for the internal routes of web endpoints. Defaults to path of --web.external-url.", Scope::Both, false),
        ("web.enable-lifecycle", "false", "Enable shutdown and reload via HTTP request.", Scope::Both, false),
        ("web.enable-admin-api", "false", "Enable API endpoints for admin control actions.", Scope::Both, false),
        ("web.enable-remote-write-receiver", "false", "Enable API endpoint accepting remote write requests.", Scope::Both, false),
        ("web.console.templates", "consoles", "Path to the console template directory, available at /consoles.", Scope::Both, false),
        ("web.console.libraries", "console_libraries", "Path to the console library directory.", Scope::Both, false),
        ("storage.tsdb.path", "data/", "Base path for metrics storage.", Scope::ServerOnly, false),
        ("storage.tsdb.retention.time", "", "How long to retain samples in storage. If neither this flag nor \"storage.tsdb.retention.size\" is set, the retention time defaults to 15d. Units Supported: y, w, d, h, m, s, ms.", Scope::ServerOnly, false),
        ("storage.tsdb.retention.size", "", "Maximum number of bytes that can be stored for blocks. A unit is required, supported units: B, KB, MB, GB, TB, PB, EB. Ex: \"512MB\". Based on powers-of-2, so 1KB is 1024B.", Scope::ServerOnly, false),
        ("storage.tsdb.retention", "", "[DEPRECATED] How long to retain samples in storage. This flag has been deprecated, use \"storage.tsdb.retention.time\" instead.", Scope::ServerOnly, true),
        ("storage.tsdb.min-block-duration", "2h", "Minimum duration of a data block before being persisted. For use in testing.", Scope::ServerOnly, true),
        ("storage.tsdb.max-block-duration", "", "Maximum duration compacted blocks may span. For use in testing. (Defaults to 10% of the retention period.)", Scope::ServerOnly, true),
        ("storage.tsdb.wal-segment-size", "", "Size at which to split the tsdb WAL segment files. Example: 100MB", Scope::ServerOnly, true),
        ("storage.tsdb.wal-compression", "true", "Compress the tsdb WAL.", Scope::ServerOnly, true),
        ("storage.tsdb.no-lockfile", "false", "Do not create lockfile in data directory.", Scope::ServerOnly, false),
        ("storage.agent.path", "data-agent/", "Base path for metrics storage.", Scope::AgentOnly, false),
        ("storage.remote.flush-deadline", "1m", "How long to wait flushing sample on shutdown or config reload.", Scope::Both, false),
        ("rules.alert.for-outage-tolerance", "1h", "Max time to tolerate prometheus outage for restoring \"for\" state of alert.", Scope::ServerOnly, false),
        ("rules.alert.for-grace-period", "10m", "Minimum duration between alert and restored \"for\" state. This is maintained only for alerts with configured \"for\" time greater than grace period.", Scope::ServerOnly, false),
        ("rules.alert.resend-delay", "1m", "Minimum amount of time to wait before resending an alert to Alertmanager.", Scope::ServerOnly, false),
        ("alertmanager.notification-queue-capacity", "10000", "The capacity of the queue for pending Alertmanager notifications.", Scope::ServerOnly, false),
        ("query.lookback-delta", "5m", "The maximum lookback duration for retrieving metrics during expression evaluations and federation.", Scope::ServerOnly, false),
        ("query.timeout", "2m", "Maximum time a query may take before being aborted.", Scope::ServerOnly, false),
        ("query.max-concurrency", "20", "Maximum number of queries executed concurrently.", Scope::ServerOnly, false),
        ("query.max-samples", "50000000", "Maximum number of samples a single query can load into memory. Note that queries will fail if they try to load more samples than this into memory, so this also limits the number of samples a query can return.", Scope::ServerOnly, false),
        ("enable-feature", "", "Comma separated feature names to enable.", Scope::Both, false),
        ("agent", "false", "Run Prometheus in 'Agent mode'.", Scope::Both, false),
        ("log.level", "info", "Only log messages with the given severity or above. One of: [debug, info, warn, error]", Scope::Both, false),
        ("log.format", "logfmt", "Output format of log messages. One of: [logfmt, json]", Scope::Both, false),
    ];

    #[test]
    fn issue_flags_match_upstream() {
        for (name, default, help, scope, hidden) in UPSTREAM {
            let f = find(name).unwrap_or_else(|| panic!("--{name} is missing"));
            assert_eq!(f.default, *default, "default of --{name}");
            assert!(
                f.help.starts_with(help),
                "help of --{name}:\n  ours: {}\n  upstream: {help}",
                f.help
            );
            assert_eq!(f.scope, *scope, "scope of --{name}");
            assert_eq!(f.hidden, *hidden, "hidden of --{name}");
        }
        // --help shows each visible one with its default and upstream's help.
        let u = usage("promlite");
        for (name, _, help, _, hidden) in UPSTREAM {
            assert_eq!(
                u.contains(&format!("--{name}=")) || u.contains(&format!("--[no-]{name}\n")),
                !hidden,
                "--help and --{name}"
            );
            assert_eq!(u.contains(help), !hidden, "--help text of --{name}");
        }
    }

    #[test]
    fn usage_lists_visible_flags_only() {
        let u = usage("promlite");
        assert!(u.contains("--config.file=\"prometheus.yml\""));
        assert!(u.contains("--[no-]web.enable-lifecycle"));
        assert!(!u.contains("storage.tsdb.min-block-duration"));
        assert!(u.contains("Use with server mode only."));
    }
}
