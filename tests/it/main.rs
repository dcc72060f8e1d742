//! promlite's integration and end-to-end tests, one module per area, linked
//! into a single test binary: every test binary links the whole crate, so one
//! binary instead of thirty keeps `make test`'s build time and disk use down.
//!
//! Run one area with `cargo test --test it e2e_api::` and one test with
//! `cargo test --test it -- --exact e2e_api::query_instant`.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod remote_support;

mod config_peer;
mod config_tool;
mod e2e_api;
mod e2e_endpoints;
mod e2e_lifecycle;
mod e2e_pipeline;
mod promql_parse;
mod promql_parse_peer;
mod promqltest;
mod remote_agent;
mod remote_fault;
mod remote_interop;
mod remote_read;
mod remote_wal;
mod remote_write;
mod rules_e2e;
mod rules_fmt;
mod rules_manager;
mod rules_notifier;
mod rules_promtool;
mod rules_template;
mod scrape_config;
mod scrape_discovery;
mod scrape_http;
mod scrape_interop;
mod scrape_targets;
mod scrape_textparse;
mod telemetry_summaries;
mod tool_cli;
mod tool_commands;
mod tsdb_corrupt;
mod tsdb_crash;
mod tsdb_interop;
mod ui_assets;
mod ui_scripts;
