//! End-to-end: runs the built `promlite-tool check config` on good and bad
//! files and checks promtool's output lines and exit codes.

use std::path::Path;

use crate::common::{text, tool};

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap_or_else(|e| panic!("writing {name}: {e}"));
}

#[test]
fn good_config_succeeds_with_rule_file_count() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "first.rules", "groups: []\n");
    write(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_interval: 15s\nrule_files: [first.rules]\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n",
    );
    let out = tool(&["check", "config", "prometheus.yml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Checking prometheus.yml\n  SUCCESS: 1 rule files found\n SUCCESS: prometheus.yml is valid prometheus config file syntax\n\n"
    );
}

#[test]
fn bad_config_fails_with_reason_and_exit_1() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "bad.yml",
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
    );
    write(dir.path(), "good.yml", "");
    let out = tool(&["check", "config", "good.yml", "bad.yml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(" SUCCESS: good.yml is valid"), "{stdout}");
    assert!(stdout.contains("Checking bad.yml\n"), "{stdout}");
    assert_eq!(
        text(&out.stderr),
        "  FAILED: parsing YAML file bad.yml: scrape timeout greater than scrape interval for scrape config with job name \"a\" at line 2\n"
    );
}

#[test]
fn unsupported_feature_and_missing_files_fail() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "k8s.yml",
        "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pod\n",
    );
    let out = tool(&["check", "config", "k8s.yml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("kubernetes_sd_configs is not supported by promlite"));

    write(dir.path(), "rules.yml", "rule_files: [missing.rules]\n");
    let out = tool(&["check", "config", "rules.yml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("\"missing.rules\" does not point to an existing file"));
    // --syntax-only does not look at referenced files.
    let out = tool(
        &["check", "config", "--syntax-only", "rules.yml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn usage_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tool(&["frobnicate"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "promlite-tool: error: expected command but got \"frobnicate\", try --help\n"
    );
    let out = tool(&["check", "config", "--nope", "x.yml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown long flag '--nope'"));
    let out = tool(&["check", "config"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let out = tool(&["--help"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("check config"));
}

#[test]
fn lint_fatal_exits_3_for_too_long_scrape_interval() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "slow.yml",
        "scrape_configs:\n  - job_name: slow\n    scrape_interval: 10m\n",
    );
    let out = tool(
        &["check", "config", "--lint=all", "--lint-fatal", "slow.yml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let out = tool(&["check", "config", "--lint=all", "slow.yml"], dir.path());
    assert_eq!(out.status.code(), Some(0));
}

/// promtool's own `check config` inputs (`$PROMLITE_PEER_DIR/rules/promtool`)
/// with upstream's exit codes; files needing unsupported discoveries fail.
#[test]
fn peer_promtool_check_config_inputs() {
    let base = std::env::var("PROMLITE_PEER_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer").to_string());
    let dir = Path::new(&base).join("rules/promtool");
    if !dir.is_dir() {
        println!("peer folder {} is absent; skipping", dir.display());
        return;
    }
    let cases: &[(&str, i32)] = &[
        ("prometheus-config.good.yml", 0),
        ("prometheus-config.bad.yml", 1),
        ("authorization_credentials_file.good.yml", 0),
        ("authorization_credentials_file.bad.yml", 1),
        ("url_in_scrape_targetgroup_with_relabel_config.good.yml", 0),
        ("url_in_scrape_targetgroup_with_relabel_config.bad.yml", 1),
        ("url_in_alert_targetgroup_with_relabel_config.good.yml", 0),
        ("url_in_alert_targetgroup_with_relabel_config.bad.yml", 1),
        ("config_with_rule_files.yml", 1),
        ("config_with_tls_files.yml", 1),
        // Missing file_sd files are only a warning.
        ("config_with_service_discovery_files.yml", 0),
        // ec2/ecs/... discoveries: not supported by promlite.
        ("prometheus-aws-sd-empty-region.good.yml", 1),
    ];
    for (file, code) in cases {
        let out = tool(&["check", "config", file], &dir);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{file}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let out = tool(
        &["check", "config", "config_with_service_discovery_files.yml"],
        &dir,
    );
    assert!(text(&out.stdout).contains(
        "  WARNING: file \"nonexistent_file.yml\" for file_sd in scrape job \"prometheus\" does not exist"
    ));
}
