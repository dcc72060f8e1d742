//! The server's wiring, read top to bottom the way upstream's
//! `cmd/prometheus/main.go` reads: validate the config once, build the
//! components, register one reloader per component, add the actors to the run
//! group, run. Nothing here serves a request or stores a sample; it only
//! connects the parts and decides the order they start and stop in.
//!
//! Slots for components that are not wired yet (TSDB, remote storage, scrape
//! and notify discovery, scrape manager, rule manager, notifier, PromQL
//! engine) are marked `SLOT:` — each says what goes there and in which order.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};

use crate::cli::{format_bytes, Flags};
use crate::config::{self, Config, ConfigError, LoadOptions};
use crate::latch::Latch;
use crate::model::duration::format_duration;
use crate::model::{Label, Labels};
use crate::promql::{Engine, EngineOpts};
use crate::run_group::RunGroup;
use crate::storage::memory::MemStorage;
use crate::storage::Queryable;
use crate::telemetry;
use crate::web::api::v1::{Api, BuildInfo, ServerStatus};
use crate::web::api::QueryEngine;
use crate::web::server::HttpServer;
use crate::web::{compile_cors, Options, ReloadRequest, WebHandler};

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
        // Queries block a worker for their whole evaluation, so keep enough
        // that a few slow dashboards do not queue health checks behind them;
        // the engine's --query.max-concurrency still bounds the CPU they use.
        workers: std::thread::available_parallelism()
            .map(|n| n.get() * 4)
            .unwrap_or(8)
            .clamp(8, 32)
            .min(flags.web_max_connections.max(1)),
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

/// Runs the server until a signal, `/-/quit` or a component error stops it.
pub fn run(flags: Flags) -> Result<(), ServerError> {
    crate::logging::Logger::new(flags.log_format, flags.log_level).install();
    let build = BuildInfo::current();
    let mode = if flags.agent { "agent" } else { "server" };
    let version = format!(
        "(version={}, branch={}, revision={})",
        build.version, build.branch, build.revision
    );
    log::info!(mode = mode, version:% = version; "Starting Prometheus Server");
    for (level, note) in &flags.notes {
        log::log!(*level, "{note}");
    }
    if flags.agent {
        return Err(ServerError::Runtime(
            "agent mode (--agent) is not supported by promlite yet".to_string(),
        ));
    }

    // Throw an error for an invalid config before starting anything.
    if let Err(e) = load_config(&flags.config_file, flags.agent) {
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
    let reload_metrics = ReloadMetrics::register();
    // Upstream marks the config good as soon as it validated, so an alert on
    // the metric does not fire during a long start-up.
    reload_metrics.mark_success();
    let ready_gauge = register_build_metrics(&build);

    // Local storage. SLOT: the TSDB (`tsdb::DB`, opened by its own actor
    // below, as upstream's "ready storage") replaces this in-memory storage;
    // remote storage and a `storage::fanout::Fanout` over both go here too.
    let storage_path = Path::new(flags.storage_path()).to_path_buf();
    log::warn!(
        path:% = storage_path.display();
        "Local storage is in memory (the TSDB is not wired yet): samples are not written to disk and are lost at exit"
    );
    let local_storage = Arc::new(MemStorage::new());
    let queryable: Arc<dyn Queryable> = local_storage.clone();

    let engine: Arc<dyn QueryEngine> = Arc::new(Engine::new(EngineOpts {
        max_samples: flags.query_max_samples,
        timeout: Duration::from_millis(flags.query_timeout_ms.max(0) as u64),
        lookback_delta: flags.query_lookback_delta_ms,
        max_concurrency: flags.query_max_concurrency,
        ..EngineOpts::default()
    }));
    // SLOT: the query_engine reloader (query log file from `global.query_log_file`)
    // and the no-step-subquery interval (`global.evaluation_interval`) go with
    // the config model.

    // SLOT: notifier manager, scrape and notify discovery managers, scrape
    // manager (with `flags.scrape_workers` workers, appending to the fanout),
    // rule manager (querying `queryable`, appending to the fanout). Each
    // exposes a `ScrapeStatus`/`RulesStatus` to the API below.

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
    let api = Api {
        storage: queryable,
        engine: Some(engine),
        // SLOT: `Some(scrape_manager)` (a `ScrapeStatus`), `Some(rule_manager)`
        // (a `RulesStatus`), `Some(notifier)` (an `AlertmanagerStatus`) and
        // `Some(tsdb)` (a `TsdbStatus`).
        scrape: None,
        rules: None,
        alertmanagers: None,
        tsdb: None,
        status: status.clone(),
        now: crate::model::value::now_millis,
    };
    let web = WebHandler::new(web_options(&flags)?, api);
    let http = HttpServer::bind(web.clone())
        .map_err(|e| ServerError::Runtime(format!("Unable to start web listeners: {e}")))?;

    // Reloaders, in upstream's order. SLOT: db_storage, remote_storage
    // before web_handler; scrape, scrape_sd, notify, notify_sd, rules after
    // query_engine.
    let reloaders: Arc<Vec<Reloader>> = Arc::new(vec![
        Reloader {
            name: "web_handler",
            apply: {
                let status = status.clone();
                Box::new(move |c: &Config| {
                    status.set_config(config_yaml(c)?, external_labels(c));
                    Ok(())
                })
            },
        },
        Reloader {
            name: "query_engine",
            apply: Box::new(|c: &Config| {
                if c.global.query_log_file.is_empty() {
                    Ok(())
                } else {
                    Err("global.query_log_file is not supported by promlite".to_string())
                }
            }),
        },
    ]);

    // Start all components while the storage opens, but load the initial
    // config and mark ourselves ready only after that.
    let reload_ready = Arc::new(Latch::new());
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
                // Release everything still waiting for the first config.
                reload_ready.cancel();
                Ok(())
            },
            move |_| {
                let _ = cancel_tx.try_send(());
                web.set_ready(false);
            },
        );
    }
    // SLOT: scrape discovery manager actor (run / cancel).
    // SLOT: notify discovery manager actor (run / cancel).
    // SLOT: rule manager actor (waits on `reload_ready`, then runs; interrupt stops it).
    // SLOT: scrape manager actor (waits on `reload_ready`, then runs; its
    //       interrupt calls `stop()`, which must return only once every scrape
    //       loop has stopped appending). Interrupts run one after another in
    //       the order actors were added, and the TSDB actor is added later, so
    //       scraping has stopped before the TSDB's interrupt closes it.
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
                        recv(hup_rx) -> _ => {
                            if let Err(e) = reload_config(&file, false, &reloaders, &metrics, &status) {
                                log::error!(err:% = e; "Error reloading config");
                            }
                        }
                        recv(web_reloads) -> req => {
                            let Ok(reply) = req else { return Ok(()) };
                            let result = reload_config(&file, false, &reloaders, &metrics, &status);
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
        // Initial configuration loading. SLOT: with the TSDB wired, wait here
        // until it is open (upstream's `dbOpen`) before loading.
        let (cancel_tx, cancel_rx) = bounded::<()>(1);
        let reload_ready = reload_ready.clone();
        let reloaders = reloaders.clone();
        let metrics = reload_metrics.clone();
        let status = status.clone();
        let web = web.clone();
        let file = flags.config_file.clone();
        g.add(
            "initial config",
            move || {
                reload_config(&file, false, &reloaders, &metrics, &status)
                    .map_err(|e| format!("error loading config from {file:?}: {e}"))?;
                reload_ready.open();
                web.set_ready(true);
                ready_gauge.set(1.0);
                log::info!("Server is ready to receive web requests.");
                let _ = cancel_rx.recv();
                Ok(())
            },
            move |_| {
                let _ = cancel_tx.try_send(());
            },
        );
    }
    // SLOT: TSDB actor (open the DB, signal `dbOpen`, block until interrupted;
    //       interrupt closes the DB after flushing the WAL).
    {
        // Web handler.
        let stop = http.stop_handle();
        g.add(
            "web",
            move || http.run().map_err(|e| e.to_string().into()),
            move |_| stop.stop(),
        );
    }
    // SLOT: notifier actor (waits on `reload_ready`, runs; interrupt stops and drains it).

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
    fn version_mentions_promlite() {
        assert!(version_text().starts_with("promlite, version "));
    }
}
