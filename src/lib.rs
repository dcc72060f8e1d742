//! promlite: a Prometheus-compatible monitoring server for small hosts.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view and the module map.

pub mod cli;
pub mod config;
pub mod discovery;
pub mod latch;
pub mod logging;
pub mod model;
pub mod notifier;
pub mod promql;
pub mod promtool;
pub mod rules;
pub mod run_group;
pub mod scrape;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod template;
pub mod tsdb;
pub mod web;
pub mod web_ui;
