//! The scrape pipeline, as upstream's `scrape` package: the `ScrapeManager`
//! actor with one `ScrapePool` per job, target building and relabeling, a
//! scheduler feeding a bounded worker pool, HTTP scrapes with ureq, the
//! exposition parsers (`textparse`), and appending through
//! `storage::Appendable` with a per-target series cache, staleness markers,
//! limits and the synthetic `up`/`scrape_*` series. `api` renders the targets
//! endpoints' JSON.
//!
//! `scrape` never names a TSDB type and never blocks on a lock a query holds:
//! it sees storage only through `Appendable`/`Appender`.
//!
//! Wiring (what `server.rs` does):
//!
//! ```text
//! let (disc, sets) = DiscoveryManager::new(DiscoveryOptions::default());
//! let scrape = ScrapeManager::new(fanout, ScrapeOptions { workers, offset_seed });
//! scrape.set_global_url_options(api::GlobalUrlOptions::new(external_url, listen)?);
//! reload:  disc.apply_config(discovery::sd_configs_from_scrape_configs(&scs)?);
//!          scrape.apply_config(scs.iter().map(PoolConfig::from_scrape_config).collect()?)?;
//! actors:  disc.run()          / disc.stop()
//!          scrape.run(sets)    / scrape.stop()   (after the ready latch opens)
//! API:     api::targets_json, api::targets_metadata_json, api::metadata_json
//! ```
//!
//! Threads: `run` starts `workers` scrape workers and one scheduler, all
//! joined before it returns.

pub mod api;
pub mod config;
pub mod manager;
mod metrics;
pub mod pool;
pub mod scrape_loop;
pub mod scraper;
pub mod target;
pub mod textparse;

/// Relabeling as scrape uses it (the one place that names the relabel module).
pub(crate) use crate::model::relabel;

use std::fmt;
use std::time::Duration;

pub use config::{Authorization, BasicAuth, HttpSettings, PoolConfig};
pub use manager::{default_workers, ScrapeManager, ScrapeOptions};
pub use metrics::ScrapeMetrics;
pub use pool::ScrapePool;
pub use scrape_loop::{AppendStats, Metadata, ScrapeLoop};
pub use target::{Health, Target};

/// The `User-Agent` of scrapes and HTTP SD requests, upstream-style.
pub const USER_AGENT: &str = concat!("Prometheus/", env!("CARGO_PKG_VERSION"), " (promlite)");

/// Why a scrape failed; the text is the target's `lastError`.
#[derive(Clone, Debug, PartialEq)]
pub enum ScrapeError {
    /// Connection-level failure.
    Http(String),
    /// A status other than 200 ("500 Internal Server Error").
    Status(String),
    Timeout(Duration),
    BodySizeLimit(u64),
    ContentType(textparse::ContentTypeError),
    Parse(textparse::ParseError),
    SampleLimit(usize),
    LabelLimit(String),
    TargetLimit {
        targets: usize,
        limit: usize,
    },
    /// A series without a metric name after relabeling.
    NameMissing,
    /// A metric or label name the validation scheme refuses.
    InvalidLabels(String),
    Storage(String),
    /// A pool configuration problem (e.g. duplicate job names).
    Config(String),
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::Http(e) => f.write_str(e),
            ScrapeError::Status(s) => write!(f, "server returned HTTP status {s}"),
            ScrapeError::Timeout(d) => write!(
                f,
                "context deadline exceeded (scrape_timeout {})",
                crate::model::duration::format_duration(d.as_millis() as i64)
            ),
            ScrapeError::BodySizeLimit(n) => {
                write!(f, "body size limit exceeded (limit: {n} bytes)")
            }
            ScrapeError::ContentType(e) => write!(f, "{e}"),
            ScrapeError::Parse(e) => write!(f, "{e}"),
            ScrapeError::SampleLimit(_) => f.write_str("sample limit exceeded"),
            ScrapeError::LabelLimit(m) => f.write_str(m),
            ScrapeError::TargetLimit { targets, limit } => write!(
                f,
                "target_limit exceeded (number of targets: {targets}, limit: {limit})"
            ),
            ScrapeError::NameMissing => f.write_str("__name__ label is missing"),
            ScrapeError::InvalidLabels(l) => write!(f, "invalid metric name or label names: {l}"),
            ScrapeError::Storage(e) => write!(f, "appending to storage failed: {e}"),
            ScrapeError::Config(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ScrapeError {}
