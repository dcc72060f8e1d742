//! The scrape pipeline: exposition parsers (`textparse`).
pub mod textparse;

/// The `User-Agent` of scrapes and HTTP SD requests, upstream-style.
pub const USER_AGENT: &str = concat!("Prometheus/", env!("CARGO_PKG_VERSION"), " (promlite)");
