//! Runs the config loader over upstream's own config test files
//! (`$PROMLITE_PEER_DIR/config/`): every `*.bad.yml` must be rejected, every
//! `*.good.yml` must load or fail with "is not supported by promlite" when it
//! needs a feature promlite lacks; the other files follow upstream's
//! `config_test.go`. Prints both counts.

use std::path::{Path, PathBuf};

use promlite::config::{load_file, load_file_with, load_str, LoadOptions};

fn peer_config_dir() -> Option<PathBuf> {
    let base = std::env::var("PROMLITE_PEER_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer").to_string());
    let dir = Path::new(&base).join("config");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("peer config folder {} is absent; skipping", dir.display());
        None
    }
}

/// Good files that cannot load, each with the reason. They must fail with
/// the "not supported by promlite" message, never another error.
const UNSUPPORTED_GOOD: &[(&str, &str)] = &[
    (
        "conf.good.yml",
        "uses oauth2, otlp and many service discoveries (kubernetes, consul, ec2, ...)",
    ),
    (
        "kubernetes_empty_apiserver.good.yml",
        "kubernetes_sd_configs",
    ),
    (
        "kubernetes_kubeconfig_without_apiserver.good.yml",
        "kubernetes_sd_configs",
    ),
    (
        "kubernetes_selectors_endpoints.good.yml",
        "kubernetes_sd_configs",
    ),
    (
        "kubernetes_selectors_ingress.good.yml",
        "kubernetes_sd_configs",
    ),
    (
        "kubernetes_selectors_node.good.yml",
        "kubernetes_sd_configs",
    ),
    ("kubernetes_selectors_pod.good.yml", "kubernetes_sd_configs"),
    (
        "kubernetes_selectors_service.good.yml",
        "kubernetes_sd_configs",
    ),
    (
        "otlp_allow_keep_identifying_resource_attributes.good.yml",
        "otlp receiver",
    ),
    ("otlp_allow_utf8.good.yml", "otlp receiver"),
    ("otlp_convert_histograms_to_nhcb.good.yml", "otlp receiver"),
    (
        "otlp_label_underscore_sanitization_defaults.good.yml",
        "otlp receiver",
    ),
    (
        "otlp_label_underscore_sanitization_disabled.good.yml",
        "otlp receiver",
    ),
    (
        "otlp_label_underscore_sanitization_enabled.good.yml",
        "otlp receiver",
    ),
    ("otlp_no_translation.good.yml", "otlp receiver"),
    ("otlp_promote_scope_metadata.good.yml", "otlp receiver"),
    (
        "otlp_sanitize_ignore_resource_attributes.good.yml",
        "otlp receiver",
    ),
    (
        "otlp_sanitize_promote_resource_attributes.good.yml",
        "otlp receiver",
    ),
    (
        "otlp_sanitize_resource_attributes_promote_all.good.yml",
        "otlp receiver",
    ),
    (
        "roundtrip.good.yml",
        "azure_sd_configs, consul_sd_configs and other discoveries",
    ),
    ("scrape_interval_larger.good.yml", "dns_sd_configs"),
    (
        "scrape_configs/scrape_config_files2.good.yml",
        "vultr_sd_configs",
    ),
    (
        "scrape_config_files_glob.good.yml",
        "pulls in scrape_configs/scrape_config_files2.good.yml (vultr_sd_configs)",
    ),
];

/// Files without a good/bad suffix: (name, agent mode, must load).
const OTHER_FILES: &[(&str, bool, bool)] = &[
    ("agent_mode.with_alert_manager.yml", true, false),
    ("agent_mode.with_alert_relabels.yml", true, false),
    ("agent_mode.with_remote_reads.yml", true, false),
    ("agent_mode.with_rule_files.yml", true, false),
    ("agent_mode.without_remote_writes.yml", true, true),
    ("scrape_config_default_validation_mode.yml", false, true),
    ("scrape_config_global_validation_mode.yml", false, true),
    (
        "scrape_config_local_global_validation_mode.yml",
        false,
        true,
    ),
    ("scrape_config_local_validation_mode.yml", false, true),
    ("scrape_config_local_infer_escaping.yml", false, true),
    // Alertmanager API v1 is no longer supported upstream.
    ("config_with_deprecated_am_api_config.yml", false, false),
    ("otlp_empty.yml", false, true),
    // OTLP translation strategies that need UTF-8 with legacy validation:
    // rejected upstream; promlite rejects the whole otlp section.
    ("otlp_allow_utf8.incompatible.yml", false, false),
    ("otlp_no_translation.incompatible.yml", false, false),
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn peer_config_files() {
    let Some(dir) = peer_config_dir() else {
        return;
    };
    let mut problems = Vec::new();
    let (mut good_total, mut good_loaded, mut good_unsupported) = (0, 0, 0);
    let (mut bad_total, mut bad_rejected) = (0, 0);
    let mut others = 0;
    // PROMLITE_PEER_VERBOSE=1 prints why each bad file was rejected.
    let verbose = std::env::var_os("PROMLITE_PEER_VERBOSE").is_some();
    let mut all = files(&dir);
    all.extend(files(&dir.join("scrape_configs")));
    for path in all.iter().filter(|p| p.is_file()) {
        let n = path
            .strip_prefix(&dir)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| name(path));
        if n.ends_with(".good.yml") {
            good_total += 1;
            let unsupported = UNSUPPORTED_GOOD.iter().any(|(f, _)| *f == n);
            match load_file(path) {
                Ok(cfg) if !unsupported => {
                    good_loaded += 1;
                    // Every good file that loads must also survive
                    // marshal -> load unchanged.
                    // (Not for external_labels.good.yml: `$$` expands to
                    // `$` on load, so a marshalled `${TEST}` expands again,
                    // exactly as it would upstream.)
                    if n == "external_labels.good.yml" {
                        continue;
                    }
                    let yaml = cfg.to_yaml_with_secrets();
                    let dir = path.parent().unwrap_or(Path::new("."));
                    match load_str(&yaml, dir) {
                        Ok(again) if again == cfg => {}
                        Ok(_) => problems.push(format!("{n}: round trip changed it")),
                        Err(e) => problems.push(format!("{n}: round trip failed: {e}")),
                    }
                }
                Ok(_) => problems.push(format!("{n}: listed as unsupported but loads")),
                Err(e) if unsupported && e.to_string().contains("is not supported by promlite") => {
                    good_unsupported += 1
                }
                Err(e) => problems.push(format!("{n}: should load: {e}")),
            }
        } else if n.ends_with(".bad.yml") {
            bad_total += 1;
            match load_file(path) {
                Ok(_) => problems.push(format!("{n}: should be rejected")),
                Err(e) => {
                    if verbose {
                        println!("{n}: {e}");
                    }
                    bad_rejected += 1
                }
            }
        } else if let Some((_, agent, ok)) = OTHER_FILES.iter().find(|(f, _, _)| *f == n) {
            others += 1;
            let res = load_file_with(path, LoadOptions { agent_mode: *agent });
            match (res, ok) {
                (Ok(_), true) | (Err(_), false) => {}
                (Ok(_), false) => problems.push(format!("{n}: should be rejected")),
                (Err(e), true) => problems.push(format!("{n}: should load: {e}")),
            }
        } else if n != "first.rules" {
            problems.push(format!("{n}: not classified by this test"));
        }
    }
    println!(
        "peer config: good loaded {good_loaded}/{good_total} (+{good_unsupported} not supported by promlite), bad rejected {bad_rejected}/{bad_total}, other files checked {others}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn agent_mode_good_file_loads_in_agent_mode() {
    let Some(dir) = peer_config_dir() else {
        return;
    };
    let res = load_file_with(
        &dir.join("agent_mode.good.yml"),
        LoadOptions { agent_mode: true },
    );
    assert!(res.is_ok(), "{:?}", res.err());
}

/// Load → marshal → load gives the same config.
fn assert_round_trips(path: &Path, text: &str) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let first = load_str(text, dir).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let yaml = first.to_yaml_with_secrets();
    let second = load_str(&yaml, dir).unwrap_or_else(|e| panic!("reloading:\n{yaml}\n{e}"));
    assert!(
        first == second,
        "round trip changed the config:\n--- first\n{yaml}\n--- second\n{}",
        second.to_yaml_with_secrets()
    );
}

/// `roundtrip.good.yml` without the discoveries promlite lacks round-trips.
#[test]
fn roundtrip_good_round_trips() {
    let Some(dir) = peer_config_dir() else {
        return;
    };
    let path = dir.join("roundtrip.good.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    strip_unsupported(&mut doc);
    let stripped = serde_yaml::to_string(&doc).unwrap_or_else(|e| panic!("{e}"));
    assert_round_trips(&path, &stripped);
}

/// `conf.good.yml` with the sections promlite does not support removed
/// must load and round-trip; secrets in it come back as `<secret>`.
#[test]
fn conf_good_round_trips_without_unsupported_sections() {
    let Some(dir) = peer_config_dir() else {
        return;
    };
    let path = dir.join("conf.good.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    strip_unsupported(&mut doc);
    let stripped = serde_yaml::to_string(&doc).unwrap_or_else(|e| panic!("{e}"));
    assert_round_trips(&path, &stripped);
    let cfg = load_str(&stripped, &dir).unwrap_or_else(|e| panic!("{e}"));
    let yaml = cfg.to_yaml();
    assert!(!yaml.contains("mysecret"), "{yaml}");
    let jobs: Vec<&str> = cfg
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert!(
        jobs.contains(&"prometheus") && jobs.contains(&"service-x"),
        "{jobs:?}"
    );
}

fn strip_unsupported(v: &mut serde_yaml::Value) {
    use serde_yaml::Value;
    match v {
        Value::Mapping(m) => {
            let doomed: Vec<Value> = m
                .keys()
                .filter(|k| {
                    k.as_str()
                        .is_some_and(promlite::config::unsupported::is_unsupported_key)
                })
                .cloned()
                .collect();
            for k in doomed {
                m.remove(&k);
            }
            for (_, child) in m.iter_mut() {
                strip_unsupported(child);
            }
        }
        Value::Sequence(s) => {
            for child in s.iter_mut() {
                strip_unsupported(child);
            }
            // Jobs left without any discovery are still valid; keep them.
        }
        _ => {}
    }
}

/// Every prefix (by line) of every peer file either loads or fails with an
/// error: the loader never panics on malformed or truncated input.
#[test]
fn truncated_files_never_panic() {
    let Some(dir) = peer_config_dir() else {
        return;
    };
    let mut checked = 0;
    for path in files(&dir).iter().filter(|p| p.is_file()) {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        // Large files are sampled so the test stays quick.
        let step = (lines.len() / 40).max(1);
        for end in (0..=lines.len()).step_by(step) {
            let prefix = lines[..end].join("\n");
            let _ = load_str(&prefix, &dir);
            checked += 1;
        }
    }
    assert!(checked > 0);
}
