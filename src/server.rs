//! The server's wiring, read top to bottom the way upstream's
//! `cmd/prometheus/main.go` reads: validate the config once, build the
//! components, register one reloader per component, add the actors to the run
//! group, run. Nothing here serves a request or stores a sample; it only
//! connects the parts and decides the order they start and stop in.
//!
//! Storage: the TSDB (or, with `--agent`, the agent's WAL) behind a fanout
//! with remote storage. Actors are added in the order their interrupts must
//! run at shutdown: scrape and rules stop before remote storage flushes and
//! local storage closes (see ARCHITECTURE.md for the table).

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};

use crate::cli::{format_bytes, Flags};
use crate::config::{self, AlertmanagerConfig, Config, ConfigError, LoadOptions};
use crate::discovery::{self, DiscoveryManager, DiscoveryOptions, TargetGroup};
use crate::latch::Latch;
use crate::model::duration::{format_duration, parse_duration};
use crate::model::{Label, Labels, Matcher};
use crate::notifier::{self, NotifierManager, NotifierOptions};
use crate::promql::parser::ParseOptions;
use crate::promql::{Engine, EngineOpts};
use crate::rules::{self, manager::ManagerOptions, EngineQueryFunc, RuleManager};
use crate::run_group::RunGroup;
use crate::scrape::textparse::MetricType as ScrapeMetricType;
use crate::scrape::{PoolConfig, ScrapeManager, ScrapeOptions};
use crate::storage::fanout::{Fanout, FanoutSecondary};
use crate::storage::memory::MemStorage;
use crate::storage::remote::metadata::MetadataSource;
use crate::storage::remote::prompb::{MetricMetadata, MetricType as RemoteMetricType};
use crate::storage::remote::{
    AgentOptions, AgentRetention, AgentStorage, QueueOptions, RemoteStorage, WalDir,
};
use crate::storage::Queryable;
use crate::storage::{Appendable, Appender, Querier, SeriesRef, StorageError};
use crate::telemetry;
use crate::tsdb::{Db, DbOptions};
use crate::web::adapters::wal_replay_json;
use crate::web::api::v1::{Api, BuildInfo, ServerStatus};
use crate::web::api::QueryEngine;
use crate::web::api::{
    AlertmanagerStatus, ApiError, ErrorType, RulesStatus, ScrapeStatus, TsdbStatus,
};
use crate::web::server::HttpServer;
use crate::web::{compile_cors, Options, ReloadRequest, WebHandler};
use crate::web::{AdminApi, Backends};

/// Why the server did not start or stopped with an error.
#[derive(Debug)]
pub enum ServerError {
    /// The config file is invalid at start-up (upstream exits 2).
    Config { file: String, message: String },
    /// A flag value is unusable at start-up (upstream exits 2 for the CORS
    /// regex and external URL, as for flag parse errors).
    Flag(String),
    /// A component failed to start or stopped with an error (exit 1).
    Runtime(String),
}

impl ServerError {
    /// The exit code upstream's `main` uses.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServerError::Config { .. } | ServerError::Flag(_) => 2,
            ServerError::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config { file, message } => {
                write!(f, "Error loading config (--config.file={file}): {message}")
            }
            ServerError::Flag(m) | ServerError::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ServerError {}

/// Loads and validates the config file (upstream's `config.LoadFile`).
fn load_config(path: &str, agent: bool) -> Result<Config, ConfigError> {
    config::load_file_with(Path::new(path), LoadOptions { agent_mode: agent })
}

/// The config as `/api/v1/status/config` shows it: secrets are `<secret>`.
fn config_yaml(c: &Config) -> Result<String, String> {
    serde_yaml::to_string(c).map_err(|e| format!("cannot render the config as YAML: {e}"))
}

fn external_labels(c: &Config) -> Labels {
    Labels::new(
        c.global
            .external_labels
            .iter()
            .map(|(k, v)| Label::new(k.as_str(), v.as_str()))
            .collect(),
    )
}

/// A component's `ApplyConfig`: takes the whole config, keeps its old one on error.
type ApplyConfig = Box<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

/// One component's reloader.
struct Reloader {
    name: &'static str,
    apply: ApplyConfig,
}

/// The config-reload metrics upstream exports.
#[derive(Clone)]
struct ReloadMetrics {
    success: telemetry::Gauge,
    success_time: telemetry::Gauge,
}

impl ReloadMetrics {
    fn register() -> ReloadMetrics {
        let r = telemetry::global();
        ReloadMetrics {
            success: r.gauge(
                "prometheus_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful.",
            ),
            success_time: r.gauge(
                "prometheus_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload.",
            ),
        }
    }

    fn mark_success(&self) {
        self.success.set(1.0);
        self.success_time
            .set(crate::model::value::now_millis() as f64 / 1000.0);
    }
}

/// Loads the file and applies it to every component. A failing component
/// keeps its old config; the others still get the new one (upstream's
/// `reloadConfig`).
fn reload_config(
    file: &str,
    agent: bool,
    reloaders: &[Reloader],
    metrics: &ReloadMetrics,
    status: &ServerStatus,
) -> Result<(), String> {
    log::info!(filename = file; "Loading configuration file");
    let started = std::time::Instant::now();
    let fail = |msg: String| {
        metrics.success.set(0.0);
        status.set_reload_failed();
        msg
    };
    let conf = load_config(file, agent).map_err(|e| {
        fail(format!(
            "couldn't load configuration (--config.file={file:?}): {e}"
        ))
    })?;
    let mut failed = Vec::new();
    for r in reloaders {
        if let Err(e) = (r.apply)(&conf) {
            log::error!(component = r.name, err:% = e; "Failed to apply configuration");
            failed.push(format!("{}: {e}", r.name));
        }
    }
    if !failed.is_empty() {
        return Err(fail(format!(
            "one or more errors occurred while applying the new configuration (--config.file={file:?}): {}",
            failed.join("; ")
        )));
    }
    metrics.mark_success();
    log::info!(
        filename = file, totalDuration:? = started.elapsed();
        "Completed loading of configuration file"
    );
    Ok(())
}

/// Registers `prometheus_build_info` and `prometheus_ready`.
fn register_build_metrics(build: &BuildInfo) -> telemetry::Gauge {
    let r = telemetry::global();
    let b = build.clone();
    r.gauge_func(
        "prometheus_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.",
        &["branch", "goarch", "goos", "goversion", "revision", "tags", "version"],
        move || {
            vec![(
                vec![
                    b.branch.clone(),
                    std::env::consts::ARCH.to_string(),
                    std::env::consts::OS.to_string(),
                    b.go_version.clone(),
                    b.revision.clone(),
                    "promlite".to_string(),
                    b.version.clone(),
                ],
                1.0,
            )]
        },
    );
    telemetry::register_process_metrics(r);
    r.gauge("prometheus_ready", "Whether Prometheus startup was fully completed and the server is ready for normal operation.")
}

/// The `--version` text, in upstream's layout.
pub fn version_text() -> String {
    let b = BuildInfo::current();
    format!(
        "promlite, version {} (branch: {}, revision: {})\n  build user:       {}\n  build date:       {}\n  rust version:     {}\n  platform:         {}/{}\n  tags:             promlite\n",
        b.version,
        b.branch,
        b.revision,
        b.build_user,
        b.build_date,
        option_env!("PROMLITE_RUSTC_VERSION").unwrap_or("unknown"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

/// Builds the web options from the flags.
fn web_options(flags: &Flags) -> Result<Options, ServerError> {
    let cors = compile_cors(&flags.web_cors_origin).map_err(|e| {
        ServerError::Flag(format!(
            "could not compile CORS regex string {:?}: {e}",
            flags.web_cors_origin
        ))
    })?;
    let first = flags
        .listen_addresses
        .first()
        .cloned()
        .unwrap_or_else(|| "0.0.0.0:9090".to_string());
    let external_url = if flags.web_external_url.is_empty() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".to_string());
        let port = first.rsplit(':').next().unwrap_or("9090");
        format!("http://{host}:{port}/")
    } else {
        if !flags.web_external_url.starts_with("http://")
            && !flags.web_external_url.starts_with("https://")
        {
            return Err(ServerError::Flag(format!(
                "parse external URL {:?}: the URL must start with http:// or https://",
                flags.web_external_url
            )));
        }
        flags.web_external_url.clone()
    };
    Ok(Options {
        listen_addresses: flags.listen_addresses.clone(),
        read_timeout: Duration::from_millis(flags.web_read_timeout_ms.max(0) as u64),
        max_connections: flags.web_max_connections,
        route_prefix: flags.web_route_prefix.clone(),
        external_url,
        enable_lifecycle: flags.web_enable_lifecycle,
        enable_admin_api: flags.web_enable_admin_api,
        enable_remote_write_receiver: flags.web_enable_remote_write_receiver,
        cors_origin: cors,
        page_title: flags.web_page_title.clone(),
    })
}

/// Something that forwards OS signals to channels, stopped by its handle.
struct SignalForwarder {
    signals: signal_hook::iterator::Signals,
    term_tx: Sender<&'static str>,
    hup_tx: Sender<()>,
}

impl SignalForwarder {
    fn new(term_tx: Sender<&'static str>, hup_tx: Sender<()>) -> Result<SignalForwarder, String> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        Ok(SignalForwarder {
            signals,
            term_tx,
            hup_tx,
        })
    }

    fn run(mut self) {
        use signal_hook::consts::{SIGHUP, SIGINT};
        for sig in self.signals.forever() {
            match sig {
                SIGHUP => {
                    let _ = self.hup_tx.try_send(());
                }
                s => {
                    let name = if s == SIGINT {
                        "interrupt"
                    } else {
                        "terminated"
                    };
                    let _ = self.term_tx.try_send(name);
                }
            }
        }
    }
}

/// The `--enable-feature` names that switch on PromQL parser features.
/// Upstream's server starts with every experimental feature off.
fn parse_options(features: &[String]) -> ParseOptions {
    let on = |name: &str| features.iter().any(|f| f == name);
    ParseOptions {
        enable_experimental_functions: on("promql-experimental-functions"),
        experimental_duration_expr: on("promql-duration-expr"),
        enable_extended_range_selectors: on("promql-extended-range-selectors"),
        enable_binop_fill_modifiers: on("promql-binop-fill-modifiers"),
    }
}

/// The TSDB's options from the `--storage.tsdb.*` flags; zero flag values
/// mean upstream's defaults.
fn db_options(flags: &Flags) -> DbOptions {
    let defaults = DbOptions::default();
    let retention = (flags.tsdb_retention_time_ms > 0).then_some(flags.tsdb_retention_time_ms);
    let max_block = if flags.tsdb_max_block_duration_ms > 0 {
        flags.tsdb_max_block_duration_ms
    } else {
        // Upstream: 10% of the retention, at most 31d, at least the minimum.
        retention.map_or(defaults.max_block_duration, |r| {
            (r / 10)
                .min(31 * 24 * 3_600_000)
                .max(flags.tsdb_min_block_duration_ms)
        })
    };
    DbOptions {
        wal_segment_size: match flags.tsdb_wal_segment_size {
            0 => defaults.wal_segment_size,
            n => usize::try_from(n).unwrap_or(defaults.wal_segment_size),
        },
        wal_compression: flags.tsdb_wal_compression,
        no_lockfile: flags.tsdb_no_lockfile,
        min_block_duration: if flags.tsdb_min_block_duration_ms > 0 {
            flags.tsdb_min_block_duration_ms
        } else {
            defaults.min_block_duration
        },
        max_block_duration: max_block,
        retention,
        retention_size: (flags.tsdb_retention_size > 0).then_some(flags.tsdb_retention_size),
        // Upstream keeps this behind a feature flag, off by default. promlite
        // writes the snapshot on every clean shutdown, so a restart loads
        // chunks instead of re-encoding the whole WAL; a missing, stale or
        // corrupt snapshot falls back to full replay, so it can only help.
        // `--enable-feature=memory-snapshot-on-shutdown` is accepted.
        memory_snapshot_on_shutdown: true,
        ..defaults
    }
}

/// Feeds remote write's metadata loop (`metadata_config`) from what the
/// scrape loops keep per target: one entry per distinct (family, type, help,
/// unit). Late-bound because the scrape manager is built after remote storage.
#[derive(Default)]
struct ScrapeMetadata(OnceLock<Arc<ScrapeManager>>);

impl MetadataSource for ScrapeMetadata {
    fn metadata(&self) -> Vec<MetricMetadata> {
        let Some(mgr) = self.0.get() else {
            return Vec::new();
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for pool in mgr.pools_snapshot().values() {
            for target in pool.active() {
                for (name, md) in target.metadata() {
                    let kind = remote_metric_type(md.metric_type) as i32;
                    if seen.insert((name.clone(), kind, md.help.clone(), md.unit.clone())) {
                        out.push(MetricMetadata {
                            r#type: kind,
                            metric_family_name: name,
                            help: md.help,
                            unit: md.unit,
                        });
                    }
                }
            }
        }
        out
    }
}

fn remote_metric_type(t: ScrapeMetricType) -> RemoteMetricType {
    match t {
        ScrapeMetricType::Counter => RemoteMetricType::Counter,
        ScrapeMetricType::Gauge => RemoteMetricType::Gauge,
        ScrapeMetricType::Histogram => RemoteMetricType::Histogram,
        ScrapeMetricType::GaugeHistogram => RemoteMetricType::Gaugehistogram,
        ScrapeMetricType::Summary => RemoteMetricType::Summary,
        ScrapeMetricType::Info => RemoteMetricType::Info,
        ScrapeMetricType::Stateset => RemoteMetricType::Stateset,
        ScrapeMetricType::Unknown => RemoteMetricType::Unknown,
    }
}

/// Scrape offsets are seeded from the external labels and the host name, so
/// HA replicas scraping the same targets spread their scrapes differently
/// (upstream's seed).
fn offset_seed(external: &Labels) -> u64 {
    use std::hash::{Hash, Hasher};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for l in external.iter() {
        l.name.hash(&mut h);
        l.value.hash(&mut h);
    }
    host.trim().hash(&mut h);
    h.finish()
}

/// Discovered target groups as label sets: each target's labels over its
/// group's common labels.
fn group_targets(groups: &[TargetGroup]) -> Vec<Labels> {
    let mut out = Vec::new();
    for g in groups {
        for t in &g.targets {
            let mut b = g.labels.builder();
            for l in t.iter() {
                b.set(&l.name, &l.value);
            }
            out.push(b.build());
        }
    }
    out
}

/// Local storage as the rest of the server sees it: the TSDB (opened later
/// by its actor), or in agent mode the WAL-only agent storage.
enum LocalStorage {
    Tsdb(Arc<ReadyStorage>),
    Agent(Arc<AgentStorage>),
}

/// Upstream's `readyStorage`: the TSDB once its actor has opened it. Until
/// then appends and queries fail with `NotReady` ("TSDB not ready"), which
/// nothing sees in practice: scrape, rules and the API wait for the first
/// config, which waits for the TSDB.
#[derive(Default)]
struct ReadyStorage {
    db: OnceLock<Arc<Db>>,
    closed: AtomicBool,
}

impl ReadyStorage {
    fn get(&self) -> Option<&Arc<Db>> {
        self.db.get()
    }

    fn set(&self, db: Arc<Db>) {
        // Only the TSDB actor sets it, once.
        let _ = self.db.set(db);
    }
}

/// The appender of a storage that is not open yet.
struct NotReadyAppender;

impl Appender for NotReadyAppender {
    fn append(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: i64,
        _: f64,
    ) -> Result<SeriesRef, StorageError> {
        Err(StorageError::NotReady)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Err(StorageError::NotReady)
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

impl Appendable for ReadyStorage {
    fn appender(&self) -> Box<dyn Appender> {
        match self.get() {
            Some(db) => db.appender(),
            None => Box::new(NotReadyAppender),
        }
    }
}

impl Queryable for ReadyStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        match self.get() {
            Some(db) => db.querier(mint, maxt),
            None => Err(StorageError::NotReady),
        }
    }
}

const TSDB_NOT_READY: &str = "TSDB not ready";

impl TsdbStatus for ReadyStorage {
    fn tsdb_status(&self, limit: usize) -> Result<serde_json::Value, ApiError> {
        match self.get() {
            Some(db) => db.tsdb_status(limit),
            None => Err(ApiError::new(ErrorType::Unavailable, TSDB_NOT_READY)),
        }
    }
}

impl AdminApi for ReadyStorage {
    fn delete_series(&self, start: i64, end: i64, sets: &[Vec<Matcher>]) -> Result<(), String> {
        let db = self.get().ok_or(TSDB_NOT_READY)?;
        AdminApi::delete_series(&**db, start, end, sets)
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        let db = self.get().ok_or(TSDB_NOT_READY)?;
        AdminApi::clean_tombstones(&**db)
    }

    fn snapshot(&self, skip_head: bool) -> Result<String, String> {
        let db = self.get().ok_or(TSDB_NOT_READY)?;
        AdminApi::snapshot(&**db, skip_head)
    }
}

/// Closes the TSDB if it is open (fsyncs the WAL, releases the lock); safe to
/// call twice.
fn close_tsdb(ready: &ReadyStorage) {
    if let Some(db) = ready.get() {
        if ready.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        match db.close() {
            Ok(()) => log::info!("TSDB stopped."),
            Err(e) => log::error!(err:% = e; "Error stopping storage"),
        }
    }
}

/// An integer flag without a typed field; upstream also accepts `5e7`.
fn int_flag(flags: &Flags, name: &str, default: usize) -> usize {
    flags
        .values
        .get(name)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map_or(default, |f| f as usize)
}

/// A duration flag without a typed field, in ms; `default` when unset or 0.
fn duration_flag(flags: &Flags, name: &str, default: i64) -> i64 {
    flags
        .values
        .get(name)
        .and_then(|v| parse_duration(v).ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(default)
}

/// Logs a note from flag parsing with its fields as key-values, the way
/// upstream's `main` logs them (`msg="..." duration=15d`).
fn log_note(note: &crate::cli::Note) {
    let fields: Vec<(&str, &str)> = note.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    log::logger().log(
        &log::Record::builder()
            .args(format_args!("{}", note.msg))
            .level(note.level)
            .target(module_path!())
            .file(Some(file!()))
            .line(Some(line!()))
            .key_values(&fields)
            .build(),
    );
}

/// Runs the server until a signal, `/-/quit` or a component error stops it.
pub fn run(flags: Flags) -> Result<(), ServerError> {
    crate::logging::Logger::new(flags.log_format, flags.log_level).install();
    let build = BuildInfo::current();
    let agent = flags.agent;
    let mode = if agent { "agent" } else { "server" };
    let version = format!(
        "(version={}, branch={}, revision={})",
        build.version, build.branch, build.revision
    );
    log::info!(mode = mode, version:% = version; "Starting Prometheus Server");
    for note in &flags.notes {
        log_note(note);
    }
    crate::promql::parser::set_default_options(parse_options(&flags.enable_features));

    // The external URL and CORS regex are checked before the config, as
    // upstream's main does (both exit 2).
    let options = web_options(&flags)?;

    // Throw an error for an invalid config before starting anything.
    let initial = match load_config(&flags.config_file, agent) {
        Ok(c) => c,
        Err(e) => {
            let message = e.to_string();
            let abs = std::fs::canonicalize(&flags.config_file)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| flags.config_file.clone());
            log::error!(
                file:% = abs, err:% = message;
                "Error loading config (--config.file={})", flags.config_file
            );
            return Err(ServerError::Config { file: abs, message });
        }
    };
    let reload_metrics = ReloadMetrics::register();
    // Upstream marks the config good as soon as it validated, so an alert on
    // the metric does not fire during a long start-up.
    reload_metrics.mark_success();
    let ready_gauge = register_build_metrics(&build);
    let external_url = options.external_url.clone();

    // Local storage. The agent's WAL opens here; the TSDB is opened by its
    // actor below (its WAL replay can take a while, and the web server
    // answers /-/healthy meanwhile), and `ReadyStorage` stands in until then.
    let storage_path = Path::new(flags.storage_path()).to_path_buf();
    let local = if agent {
        log::info!(path:% = storage_path.display(); "Starting WAL storage ...");
        let wal_dir = storage_path.join("wal");
        let opts = AgentOptions {
            segment_size: match flags.agent_wal_segment_size {
                0 => AgentOptions::default().segment_size,
                n => usize::try_from(n).unwrap_or(AgentOptions::default().segment_size),
            },
            compress: flags.agent_wal_compression,
        };
        let a = AgentStorage::open(&wal_dir, opts)
            .map_err(|e| ServerError::Runtime(format!("opening storage failed: {e}")))?;
        log::info!("WAL storage started");
        LocalStorage::Agent(Arc::new(a))
    } else {
        LocalStorage::Tsdb(Arc::new(ReadyStorage::default()))
    };

    // Remote write sends metadata from the scrape manager, which is built
    // after remote storage (it appends through it): bound below.
    let scrape_metadata = Arc::new(ScrapeMetadata::default());
    let queue_options = QueueOptions {
        metadata_source: Some(scrape_metadata.clone()),
        progress_dir: Some(storage_path.join("remote")),
        flush_deadline: Duration::from_millis(flags.remote_flush_deadline_ms.max(0) as u64),
        ..QueueOptions::default()
    };
    let (remote, appendable, queryable): (
        Arc<RemoteStorage>,
        Arc<dyn Appendable>,
        Arc<dyn Queryable>,
    ) = match &local {
        LocalStorage::Tsdb(db) => {
            let ready = db.clone();
            let remote = Arc::new(
                RemoteStorage::new(
                    Arc::new(WalDir::new(storage_path.join("wal"))),
                    queue_options,
                )
                .with_local_start_time(Arc::new(move || {
                    ready.get().map_or(i64::MAX, |db| db.head().min_time())
                })),
            );
            let secondary: Arc<dyn FanoutSecondary> = remote.clone();
            let fanout = Arc::new(Fanout::new(db.clone(), vec![secondary]));
            (remote, fanout.clone(), fanout)
        }
        LocalStorage::Agent(a) => {
            let remote = Arc::new(RemoteStorage::new(a.wal_reader(), queue_options));
            let secondary: Arc<dyn FanoutSecondary> = remote.clone();
            let fanout = Arc::new(Fanout::new(a.clone(), vec![secondary]));
            // The agent keeps no queryable data; queries are refused by
            // the web layer, so an empty storage stands in.
            (remote, fanout, Arc::new(MemStorage::new()))
        }
    };

    let engine = Engine::new(EngineOpts {
        max_samples: flags.query_max_samples,
        timeout: Duration::from_millis(flags.query_timeout_ms.max(0) as u64),
        lookback_delta: flags.query_lookback_delta_ms,
        max_concurrency: flags.query_max_concurrency,
        // Upstream sets this from the evaluation interval on every reload;
        // promlite's engine takes it once, from the config at start-up.
        no_step_subquery_interval: initial.global.evaluation_interval.as_millis(),
        ..EngineOpts::default()
    });

    let notifier = NotifierManager::new(NotifierOptions {
        queue_capacity: flags.notification_queue_capacity,
        ..if flags.drain_notification_queue_on_shutdown {
            NotifierOptions::default()
        } else {
            NotifierOptions {
                drain_timeout: Duration::ZERO,
                ..NotifierOptions::default()
            }
        }
    });
    let (scrape_disc, scrape_sets) = DiscoveryManager::new(DiscoveryOptions {
        name: "scrape".to_string(),
        ..DiscoveryOptions::default()
    });
    let (notify_disc, notify_sets) = DiscoveryManager::new(DiscoveryOptions {
        name: "notify".to_string(),
        ..DiscoveryOptions::default()
    });
    let scrape_disc = Arc::new(scrape_disc);
    let notify_disc = Arc::new(notify_disc);
    let scrape = Arc::new(ScrapeManager::new(
        appendable.clone(),
        ScrapeOptions {
            workers: if flags.scrape_workers > 0 {
                flags.scrape_workers
            } else {
                crate::scrape::default_workers()
            },
            offset_seed: offset_seed(&external_labels(&initial)),
        },
    ));
    let _ = scrape_metadata.0.set(scrape.clone());
    let listen = options.listen_addresses.first().map_or("", String::as_str);
    if let Some(g) = crate::scrape::api::GlobalUrlOptions::new(&external_url, listen) {
        scrape.set_global_url_options(g);
    }
    let rules = (!agent).then(|| {
        RuleManager::new(ManagerOptions {
            notify: Some(rules::manager::notify_func(
                notifier.clone(),
                external_url.clone(),
            )),
            external_url: external_url.clone(),
            resend_delay: Duration::from_millis(flags.rules_resend_delay_ms.max(0) as u64),
            outage_tolerance: Duration::from_millis(flags.rules_outage_tolerance_ms.max(0) as u64),
            for_grace_period: Duration::from_millis(flags.rules_for_grace_period_ms.max(0) as u64),
            ..ManagerOptions::new(
                appendable.clone(),
                queryable.clone(),
                Arc::new(EngineQueryFunc {
                    engine: engine.clone(),
                    queryable: queryable.clone(),
                }),
            )
        })
    });
    // The alertmanagers blocks of the applied config, for turning notify
    // discovery's target sets into Alertmanager URLs.
    let am_configs: Arc<Mutex<Vec<AlertmanagerConfig>>> = Arc::new(Mutex::new(Vec::new()));

    let retention = match (flags.tsdb_retention_time_ms, flags.tsdb_retention_size) {
        (0, 0) => String::new(),
        (t, 0) => format_duration(t),
        (0, s) => format_bytes(s),
        (t, s) => format!("{} or {}", format_duration(t), format_bytes(s)),
    };
    let status = Arc::new(ServerStatus::new(
        build,
        flags.values.clone(),
        retention,
        flags.query_lookback_delta_ms,
    ));
    let db = match &local {
        LocalStorage::Tsdb(db) => Some(db.clone()),
        LocalStorage::Agent(_) => None,
    };
    let api = Api {
        storage: queryable.clone(),
        engine: Some(Arc::new(engine.clone()) as Arc<dyn QueryEngine>),
        scrape: Some(scrape.clone() as Arc<dyn ScrapeStatus>),
        rules: rules.clone().map(|r| r as Arc<dyn RulesStatus>),
        alertmanagers: Some(notifier.clone() as Arc<dyn AlertmanagerStatus>),
        tsdb: db.clone().map(|d| d as Arc<dyn TsdbStatus>),
        status: status.clone(),
        now: crate::model::value::now_millis,
    };
    let backends = Backends {
        // Upstream's agent also receives remote write (a relay): only the
        // flag gates the receiver, in both modes.
        write: Some(appendable.clone()),
        read: (!agent).then(|| queryable.clone()),
        read_sample_limit: int_flag(&flags, "storage.remote.read-sample-limit", 50_000_000),
        admin: db.clone().map(|d| d as Arc<dyn AdminApi>),
        wal_replay: db.clone().map(|d| {
            Arc::new(move || match d.get() {
                Some(db) => wal_replay_json(db),
                None => serde_json::json!({ "min": 0, "max": 0, "current": 0 }),
            }) as Arc<crate::web::backends::WalReplayStatus>
        }),
        agent,
    };
    let web = WebHandler::with_backends(options, api, backends);
    let http = HttpServer::bind(web.clone())
        .map_err(|e| ServerError::Runtime(format!("Unable to start web listeners: {e}")))?;

    // Reloaders, in upstream's order.
    let mut reloaders: Vec<Reloader> = Vec::new();
    {
        let remote = remote.clone();
        reloaders.push(Reloader {
            name: "remote_storage",
            apply: Box::new(move |c: &Config| remote.apply_config(c).map_err(|e| e.to_string())),
        });
    }
    {
        let status = status.clone();
        reloaders.push(Reloader {
            name: "web_handler",
            apply: Box::new(move |c: &Config| {
                status.set_config(config_yaml(c)?, external_labels(c));
                Ok(())
            }),
        });
    }
    reloaders.push(Reloader {
        name: "query_engine",
        apply: Box::new(|c: &Config| {
            if c.global.query_log_file.is_empty() {
                Ok(())
            } else {
                Err("global.query_log_file is not supported by promlite".to_string())
            }
        }),
    });
    {
        let scrape = scrape.clone();
        reloaders.push(Reloader {
            name: "scrape",
            apply: Box::new(move |c: &Config| {
                let scs = c.get_scrape_configs().map_err(|e| e.to_string())?;
                let pools = scs
                    .iter()
                    .map(PoolConfig::from_scrape_config)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                scrape.apply_config(pools).map_err(|e| e.to_string())
            }),
        });
    }
    {
        let disc = scrape_disc.clone();
        reloaders.push(Reloader {
            name: "scrape_sd",
            apply: Box::new(move |c: &Config| {
                let scs = c.get_scrape_configs().map_err(|e| e.to_string())?;
                let sds =
                    discovery::sd_configs_from_scrape_configs(&scs).map_err(|e| e.to_string())?;
                disc.apply_config(sds);
                Ok(())
            }),
        });
    }
    {
        let notifier = notifier.clone();
        reloaders.push(Reloader {
            name: "notify",
            apply: Box::new(move |c: &Config| {
                notifier::config::apply_config(&notifier, c).map_err(|e| e.to_string())
            }),
        });
    }
    {
        let disc = notify_disc.clone();
        let am_configs = am_configs.clone();
        reloaders.push(Reloader {
            name: "notify_sd",
            apply: Box::new(move |c: &Config| {
                for am in &c.alerting.alertmanagers {
                    notifier::config::check_client_settings(am).map_err(|e| e.to_string())?;
                }
                let sds = discovery::sd_configs_from_alertmanagers(&c.alerting.alertmanagers)
                    .map_err(|e| e.to_string())?;
                *am_configs.lock().unwrap_or_else(|e| e.into_inner()) =
                    c.alerting.alertmanagers.clone();
                disc.apply_config(sds);
                Ok(())
            }),
        });
    }
    if let Some(rm) = &rules {
        let rm = rm.clone();
        reloaders.push(Reloader {
            name: "rules",
            apply: Box::new(move |c: &Config| rm.apply_config(c).map_err(|e| e.to_string())),
        });
    }
    let reloaders = Arc::new(reloaders);

    // Start all components while the storage opens, but load the initial
    // config and mark ourselves ready only after that.
    let reload_ready = Arc::new(Latch::new());
    // Upstream's `dbOpen`: the first config is applied only to open storage.
    let db_open = Arc::new(Latch::new());
    if matches!(local, LocalStorage::Agent(_)) {
        db_open.open();
    }
    let mut g = RunGroup::new();

    let (term_tx, term_rx) = bounded::<&'static str>(1);
    let (hup_tx, hup_rx) = bounded::<()>(1);
    {
        // Signal forwarder: turns SIGTERM/SIGINT/SIGHUP into channel messages.
        let forwarder = SignalForwarder::new(term_tx, hup_tx).map_err(ServerError::Runtime)?;
        let handle = forwarder.signals.handle();
        g.add(
            "signals",
            move || {
                forwarder.run();
                Ok(())
            },
            move |_| handle.close(),
        );
    }
    {
        // Termination handler.
        let (cancel_tx, cancel_rx) = bounded::<()>(1);
        let quit_rx = web.quit();
        let web = web.clone();
        let reload_ready = reload_ready.clone();
        let db_open = db_open.clone();
        g.add(
            "termination",
            move || {
                select! {
                    recv(term_rx) -> sig => {
                        log::warn!(
                            signal = sig.unwrap_or("unknown");
                            "Received an OS signal, exiting gracefully..."
                        );
                    }
                    recv(quit_rx) -> _ => {
                        log::warn!("Received termination request via web service, exiting gracefully...");
                    }
                    recv(cancel_rx) -> _ => {}
                }
                // Release everything still waiting for storage or the first config.
                db_open.cancel();
                reload_ready.cancel();
                Ok(())
            },
            move |_| {
                let _ = cancel_tx.try_send(());
                web.set_ready(false);
            },
        );
    }
    {
        // Scrape discovery manager.
        let (d1, d2) = (scrape_disc.clone(), scrape_disc.clone());
        g.add(
            "scrape discovery",
            move || {
                d1.run();
                log::info!("Scrape discovery manager stopped");
                Ok(())
            },
            move |_| d2.stop(),
        );
    }
    {
        // Notify discovery manager.
        let (d1, d2) = (notify_disc.clone(), notify_disc.clone());
        g.add(
            "notify discovery",
            move || {
                d1.run();
                log::info!("Notify discovery manager stopped");
                Ok(())
            },
            move |_| d2.stop(),
        );
    }
    {
        // Notify discovery consumer: discovered Alertmanagers to the notifier.
        let (cancel_tx, cancel_rx) = bounded::<()>(1);
        let notifier = notifier.clone();
        let am_configs = am_configs.clone();
        g.add(
            "notify targets",
            move || loop {
                select! {
                    recv(notify_sets) -> sets => {
                        let Ok(sets) = sets else { return Ok(()) };
                        let cfgs = am_configs.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        let am_sets = cfgs
                            .iter()
                            .enumerate()
                            .map(|(i, c)| {
                                let groups = sets.get(&format!("config-{i}")).map(Vec::as_slice).unwrap_or(&[]);
                                notifier::config::set_for_targets(c, &group_targets(groups))
                            })
                            .collect();
                        notifier.set_alertmanagers(am_sets);
                    }
                    recv(cancel_rx) -> _ => return Ok(()),
                }
            },
            move |_| {
                let _ = cancel_tx.try_send(());
            },
        );
    }
    if let Some(rm) = &rules {
        // Rule manager: evaluates only once the initial config is applied.
        let (rm1, rm2) = (rm.clone(), rm.clone());
        let reload_ready = reload_ready.clone();
        g.add(
            "rules",
            move || {
                if reload_ready.wait() {
                    rm1.run();
                }
                log::info!("Rule manager stopped");
                Ok(())
            },
            move |_| rm2.stop(),
        );
    }
    {
        // Scrape manager. Its interrupt returns only once every scrape loop
        // has stopped appending; interrupts run in the order actors were
        // added, so scraping and rules have stopped before remote storage
        // and the TSDB below are closed.
        let (s1, s2) = (scrape.clone(), scrape.clone());
        let reload_ready = reload_ready.clone();
        g.add(
            "scrape",
            move || {
                if reload_ready.wait() {
                    s1.run(scrape_sets);
                }
                log::info!("Scrape manager stopped");
                Ok(())
            },
            move |_| s2.stop(),
        );
    }
    {
        // Reload handler: SIGHUP and /-/reload, after the initial load.
        let (cancel_tx, cancel_rx) = bounded::<()>(1);
        let web_reloads: Receiver<ReloadRequest> = web.reload_requests();
        let reload_ready = reload_ready.clone();
        let reloaders = reloaders.clone();
        let metrics = reload_metrics.clone();
        let status = status.clone();
        let file = flags.config_file.clone();
        g.add(
            "reload",
            move || {
                if !reload_ready.wait() {
                    return Ok(());
                }
                loop {
                    select! {
                        recv(hup_rx) -> hup => {
                            // A closed channel means the signal forwarder stopped: shutdown.
                            if hup.is_err() {
                                return Ok(());
                            }
                            if let Err(e) = reload_config(&file, agent, &reloaders, &metrics, &status) {
                                log::error!(err:% = e; "Error reloading config");
                            }
                        }
                        recv(web_reloads) -> req => {
                            let Ok(reply) = req else { return Ok(()) };
                            let result = reload_config(&file, agent, &reloaders, &metrics, &status);
                            if let Err(e) = &result {
                                log::error!(err:% = e; "Error reloading config");
                            }
                            let _ = reply.send(result);
                        }
                        recv(cancel_rx) -> _ => return Ok(()),
                    }
                }
            },
            move |_| {
                let _ = cancel_tx.try_send(());
            },
        );
    }
    {
        // Initial configuration loading, once local storage is open.
        let (cancel_tx, cancel_rx) = bounded::<()>(1);
        let reload_ready = reload_ready.clone();
        let (db_open, db_open2) = (db_open.clone(), db_open.clone());
        let reloaders = reloaders.clone();
        let metrics = reload_metrics.clone();
        let status = status.clone();
        let web = web.clone();
        let file = flags.config_file.clone();
        g.add(
            "initial config",
            move || {
                if !db_open.wait() {
                    return Ok(());
                }
                reload_config(&file, agent, &reloaders, &metrics, &status)
                    .map_err(|e| format!("error loading config from {file:?}: {e}"))?;
                reload_ready.open();
                web.set_ready(true);
                ready_gauge.set(1.0);
                log::info!("Server is ready to receive web requests.");
                let _ = cancel_rx.recv();
                Ok(())
            },
            move |_| {
                db_open2.cancel();
                let _ = cancel_tx.try_send(());
            },
        );
    }
    {
        // Remote storage: its queues run on their own threads; the interrupt
        // flushes them (bounded by --storage.remote.flush-deadline) after
        // scrape and rules have stopped appending.
        let (cancel_tx, cancel_rx) = bounded::<()>(1);
        let remote = remote.clone();
        let local_for_truncation = match &local {
            LocalStorage::Agent(a) => Some(a.clone()),
            LocalStorage::Tsdb(_) => None,
        };
        // Upstream's default truncation frequency is 2h.
        let every = Duration::from_millis(duration_flag(
            &flags,
            "storage.agent.wal-truncate-frequency",
            7_200_000,
        ) as u64);
        // Unset (0) retention flags keep upstream's defaults (5m, 4h).
        let defaults = AgentRetention::default();
        let flag_or = |ms: i64, default: Duration| match ms {
            t if t > 0 => Duration::from_millis(t as u64),
            _ => default,
        };
        let retention = AgentRetention {
            min_time: flag_or(flags.agent_retention_min_time_ms, defaults.min_time),
            max_time: flag_or(flags.agent_retention_max_time_ms, defaults.max_time),
        };
        let remote2 = remote.clone();
        g.add(
            "remote storage",
            move || {
                match local_for_truncation {
                    Some(a) => a.run_truncation(&remote2, every, retention, &cancel_rx),
                    None => {
                        let _ = cancel_rx.recv();
                    }
                }
                Ok(())
            },
            move |_| {
                let _ = cancel_tx.try_send(());
                log::info!("Stopping remote storage...");
                remote.close();
                log::info!("Remote storage stopped.");
            },
        );
    }
    match &local {
        LocalStorage::Tsdb(ready) => {
            // TSDB: opened here (WAL replay included), then kept open until
            // the interrupt closes it, last among its users.
            let (cancel_tx, cancel_rx) = bounded::<()>(1);
            let (ready, ready2) = (ready.clone(), ready.clone());
            let db_open = db_open.clone();
            let dir = storage_path.clone();
            let opts = db_options(&flags);
            g.add(
                "tsdb",
                move || {
                    log::info!(path:% = dir.display(); "Starting TSDB ...");
                    let db =
                        Db::open(&dir, opts).map_err(|e| format!("opening storage failed: {e}"))?;
                    crate::tsdb::register_metrics(&db, telemetry::global());
                    ready.set(db);
                    log::info!("TSDB started");
                    db_open.open();
                    let _ = cancel_rx.recv();
                    // The interrupt may have run while the TSDB was still opening.
                    close_tsdb(&ready);
                    Ok(())
                },
                move |_| {
                    let _ = cancel_tx.try_send(());
                    close_tsdb(&ready2);
                },
            );
        }
        LocalStorage::Agent(agent_storage) => {
            // The agent's WAL: closed last among its users.
            let (cancel_tx, cancel_rx) = bounded::<()>(1);
            let agent_storage = agent_storage.clone();
            g.add(
                "wal storage",
                move || {
                    let _ = cancel_rx.recv();
                    Ok(())
                },
                move |_| {
                    let _ = cancel_tx.try_send(());
                    match agent_storage.close() {
                        Ok(()) => log::info!("WAL storage stopped."),
                        Err(e) => log::error!(err:% = e; "Error stopping storage"),
                    }
                },
            );
        }
    }
    {
        // Web handler.
        let stop = http.stop_handle();
        g.add(
            "web",
            move || http.run().map_err(|e| e.to_string().into()),
            move |_| stop.stop(),
        );
    }
    {
        // Notifier: sends once the initial config is in; its interrupt
        // drains the queue (bounded by its drain timeout).
        let (n1, n2) = (notifier.clone(), notifier.clone());
        let reload_ready = reload_ready.clone();
        g.add(
            "notifier",
            move || {
                if reload_ready.wait() {
                    n1.run();
                }
                log::info!("Notifier manager stopped");
                Ok(())
            },
            move |_| n2.stop(),
        );
    }

    let result = g.run();
    match result.result {
        Ok(()) => {
            log::info!("See you next time!");
            Ok(())
        }
        Err(e) => {
            log::error!(err:% = e, actor:% = result.actor; "Fatal error");
            Err(ServerError::Runtime(format!("{}: {e}", result.actor)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Write as _;

    #[test]
    fn config_checks_and_masks() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "global:\n  external_labels:\n    replica: a\nscrape_configs:\n- job_name: x\n  basic_auth:\n    username: u\n    password: hunter2\n"
        )
        .unwrap();
        let c = load_config(f.path().to_str().unwrap(), false).unwrap();
        assert_eq!(external_labels(&c).get("replica"), Some("a"));
        let yaml = config_yaml(&c).unwrap();
        assert!(yaml.contains("<secret>"), "{yaml}");
        assert!(!yaml.contains("hunter2"));

        let mut bad = tempfile::NamedTempFile::new().unwrap();
        writeln!(bad, "global: [unclosed").unwrap();
        let e = load_config(bad.path().to_str().unwrap(), false).unwrap_err();
        assert!(e.to_string().contains("parsing YAML file"), "{e}");
        assert!(load_config("/nonexistent/prometheus.yml", false).is_err());
    }

    #[test]
    fn failed_reload_keeps_going_and_reports() {
        let status = ServerStatus::new(BuildInfo::current(), BTreeMap::new(), String::new(), 0);
        let metrics = ReloadMetrics::register();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "global: {{}}").unwrap();
        let applied = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a2 = applied.clone();
        let reloaders = vec![
            Reloader {
                name: "broken",
                apply: Box::new(|_| Err("nope".to_string())),
            },
            Reloader {
                name: "fine",
                apply: Box::new(move |_| {
                    a2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }),
            },
        ];
        let e = reload_config(
            f.path().to_str().unwrap(),
            false,
            &reloaders,
            &metrics,
            &status,
        )
        .unwrap_err();
        assert!(e.contains("broken: nope"), "{e}");
        // The other component still got the new config.
        assert_eq!(applied.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn features_switch_parser_options_on_one_by_one() {
        assert_eq!(
            parse_options(&[]),
            ParseOptions {
                enable_experimental_functions: false,
                experimental_duration_expr: false,
                enable_extended_range_selectors: false,
                enable_binop_fill_modifiers: false,
            }
        );
        let o = parse_options(&[
            "promql-experimental-functions".to_string(),
            "promql-binop-fill-modifiers".to_string(),
        ]);
        assert!(o.enable_experimental_functions && o.enable_binop_fill_modifiers);
        assert!(!o.experimental_duration_expr && !o.enable_extended_range_selectors);
    }

    #[test]
    fn discovered_targets_take_group_labels_under_their_own() {
        let g = TargetGroup {
            source: "0".to_string(),
            targets: vec![Labels::from_pairs(&[("__address__", "a:9093"), ("x", "t")])],
            labels: Labels::from_pairs(&[("x", "g"), ("y", "g")]),
        };
        let t = group_targets(&[g]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].get("x"), Some("t"));
        assert_eq!(t[0].get("y"), Some("g"));
        assert_eq!(t[0].get("__address__"), Some("a:9093"));
    }

    fn flags(args: &[&str]) -> Flags {
        match crate::cli::parse(args.iter().copied()) {
            Ok(crate::cli::Command::Run(f)) => *f,
            _ => panic!("flags {args:?} did not parse to a run"),
        }
    }

    #[test]
    fn flags_without_typed_fields_and_db_options() {
        let f = flags(&["--storage.remote.read-sample-limit=5e3"]);
        assert_eq!(int_flag(&f, "storage.remote.read-sample-limit", 1), 5000);
        let f = flags(&["--agent", "--storage.agent.wal-truncate-frequency=30m"]);
        assert_eq!(
            duration_flag(&f, "storage.agent.wal-truncate-frequency", 1),
            1_800_000
        );
        assert_eq!(duration_flag(&f, "no.such.flag", 7), 7);

        let f = flags(&[
            "--storage.tsdb.retention.time=100d",
            "--storage.tsdb.no-lockfile",
            "--enable-feature=memory-snapshot-on-shutdown",
        ]);
        let o = db_options(&f);
        assert_eq!(o.retention, Some(100 * 86_400_000));
        assert_eq!(o.max_block_duration, 10 * 86_400_000);
        assert!(o.no_lockfile && o.memory_snapshot_on_shutdown);
        assert!(db_options(&flags(&[])).memory_snapshot_on_shutdown);
    }

    #[test]
    fn ready_storage_refuses_until_set_then_delegates() {
        let r = ReadyStorage::default();
        let l = Labels::from_pairs(&[("__name__", "x")]);
        let mut app = r.appender();
        assert!(matches!(
            app.append(0, &l, 1, 1.0),
            Err(StorageError::NotReady)
        ));
        assert!(matches!(r.querier(0, 10), Err(StorageError::NotReady)));
        assert!(r.tsdb_status(10).is_err());
        assert_eq!(
            AdminApi::snapshot(&r, true),
            Err(TSDB_NOT_READY.to_string())
        );

        let dir = tempfile::tempdir().unwrap();
        r.set(Db::open(dir.path(), DbOptions::default()).unwrap());
        let mut app = r.appender();
        app.append(0, &l, 1, 1.0).unwrap();
        app.commit().unwrap();
        assert_eq!(r.tsdb_status(10).unwrap()["headStats"]["numSeries"], 1);
        close_tsdb(&r);
        close_tsdb(&r);
        // Closed: the lock is released, so the directory opens again.
        Db::open(dir.path(), DbOptions::default())
            .unwrap()
            .close()
            .unwrap();
    }

    #[test]
    fn replicas_get_different_offset_seeds() {
        let a = Labels::from_pairs(&[("replica", "a")]);
        let b = Labels::from_pairs(&[("replica", "b")]);
        assert_eq!(offset_seed(&a), offset_seed(&a));
        assert_ne!(offset_seed(&a), offset_seed(&b));
    }

    #[test]
    fn version_mentions_promlite() {
        assert!(version_text().starts_with("promlite, version "));
    }
}
