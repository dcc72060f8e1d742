//! promlite: a Prometheus-compatible monitoring server for small hosts.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view and the module map.

pub mod config;
pub mod latch;
pub mod model;
pub mod promql;
pub mod promtool;
pub mod run_group;
pub mod storage;
pub mod telemetry;
pub mod tsdb;
