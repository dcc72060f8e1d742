//! From `prometheus.yml` to scrape pools and discovery providers: the
//! adapters `PoolConfig::from_scrape_config` and
//! `discovery::sd_configs_from_scrape_configs`, and relabeling applied to
//! targets and samples.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use promlite::discovery::{
    sd_configs_from_alertmanagers, sd_configs_from_scrape_configs, SdConfig,
};
use promlite::scrape::pool::ScrapePool;
use promlite::scrape::scraper::ScrapeResponse;
use promlite::scrape::{PoolConfig, ScrapeMetrics};
use promlite::storage::memory::MemStorage;

const YAML: &str = r#"
global:
  scrape_interval: 15s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['am:9093']
scrape_configs:
  - job_name: node
    scrape_timeout: 5s
    params:
      module: [if_mib]
    sample_limit: 100
    basic_auth:
      username: u
      password: p
    static_configs:
      - targets: ['a:9100', 'b:9100', 'c:9100']
        labels: {env: prod}
    file_sd_configs:
      - files: ['targets/*.json']
    relabel_configs:
      - source_labels: [__address__]
        regex: 'c:.*'
        action: drop
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'drop_me'
        action: drop
  - job_name: other
    http_sd_configs:
      - url: http://127.0.0.1:1/sd
        authorization:
          credentials: secret
"#;

#[test]
fn config_to_pools_and_providers() {
    let cfg = promlite::config::load_str(YAML, Path::new("/etc/prometheus"))
        .unwrap_or_else(|e| panic!("{e}"));
    let scs = cfg.get_scrape_configs().unwrap_or_else(|e| panic!("{e}"));
    let node = PoolConfig::from_scrape_config(&scs[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(node.scrape_interval, Duration::from_secs(15));
    assert_eq!(node.scrape_timeout, Duration::from_secs(5));
    assert_eq!(node.sample_limit, 100);
    assert_eq!(
        node.params,
        vec![("module".to_string(), vec!["if_mib".to_string()])]
    );
    assert_eq!(
        node.http
            .authorization_header()
            .unwrap_or_default()
            .as_deref(),
        Some("Basic dTpw")
    );

    let sds = sd_configs_from_scrape_configs(&scs).unwrap_or_else(|e| panic!("{e}"));
    let node_sds = &sds["node"];
    assert_eq!(node_sds.len(), 2);
    let SdConfig::Static(groups) = &node_sds[0] else {
        panic!("static first")
    };
    assert_eq!(groups[0].targets.len(), 3);
    assert_eq!(groups[0].labels.get("env"), Some("prod"));
    match &node_sds[1] {
        SdConfig::File(f) => assert_eq!(f.files, vec!["/etc/prometheus/targets/*.json"]),
        other => panic!("expected file SD, got {other:?}"),
    }
    match &sds["other"][0] {
        SdConfig::Http(h) => {
            assert_eq!(h.url, "http://127.0.0.1:1/sd");
            assert!(h
                .headers
                .contains(&("Authorization".into(), "Bearer secret".into())));
        }
        other => panic!("expected HTTP SD, got {other:?}"),
    }

    let am = sd_configs_from_alertmanagers(&cfg.alerting.alertmanagers)
        .unwrap_or_else(|e| panic!("{e}"));
    match am.get("config-0").map(Vec::as_slice) {
        Some([SdConfig::Static(g)]) => {
            assert_eq!(g[0].targets[0].get("__address__"), Some("am:9093"))
        }
        other => panic!("expected one static alertmanager group, got {other:?}"),
    }

    // relabel_configs drop target c; metric_relabel_configs drop a series.
    let storage = MemStorage::new();
    let pool = ScrapePool::new(
        node,
        Arc::new(storage.clone()),
        Arc::new(ScrapeMetrics::new(&promlite::telemetry::Registry::new())),
    );
    let synced = pool.sync(groups);
    assert_eq!(synced.started.len(), 2);
    let (dropped, total) = pool.dropped();
    assert_eq!(total, 1);
    assert_eq!(dropped[0].get("__address__"), Some("c:9100"));
    let mut urls: Vec<String> = synced.started.iter().map(|l| l.target.url()).collect();
    urls.sort();
    assert_eq!(
        urls,
        [
            "http://a:9100/metrics?module=if_mib",
            "http://b:9100/metrics?module=if_mib"
        ]
    );
    let l = &synced.started[0];
    let body = ScrapeResponse {
        content_type: "text/plain".into(),
        body: b"keep_me 1\ndrop_me 2\n".to_vec(),
    };
    let stats = l
        .ingest(Ok(&body), 1000, Duration::ZERO)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((stats.total, stats.added), (2, 1));
    assert_eq!(
        storage.num_series(),
        1 + 5,
        "keep_me plus the report series"
    );
}

/// The worker-pool size is a flag, listed by `--help` and in the README.
#[test]
fn scrape_workers_flag_is_documented_and_parsed() {
    let help = promlite::cli::spec::usage("promlite");
    assert!(
        help.lines()
            .any(|l| l.trim_start().starts_with("--scrape.workers=")),
        "--scrape.workers missing from --help:\n{help}"
    );
    let workers = |args: &[&str]| match promlite::cli::parse(args.iter().copied()) {
        Ok(promlite::cli::Command::Run(flags)) => flags.scrape_workers,
        other => panic!("{args:?}: {other:?}"),
    };
    assert_eq!(workers(&["--scrape.workers=3"]), 3);
    assert!(workers(&[]) >= 4, "default is max(4, 2 x cores)");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .unwrap_or_else(|e| panic!("README.md: {e}"));
    assert!(
        readme.contains("`--scrape.workers`"),
        "README lacks the flag"
    );
}
