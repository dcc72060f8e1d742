//! `check config`: promtool's `CheckConfig` — loads each config file, checks
//! the files it references and that static and file-SD targets survive
//! relabeling, and lints scrape intervals against the lookback delta.

use std::path::{Path, PathBuf};

use lexopt::prelude::*;

use super::{io_reason, UsageError, FAILURE, LINT_FAILURE, SUCCESS};
use crate::config::{
    self, glob, Config, LoadOptions, RelabelConfig, ScrapeConfig, StaticConfig, TlsConfig,
};
use crate::model::labels::Label;
use crate::model::relabel;
use crate::model::Labels;

const CHECK_CONFIG_HELP: &str = "usage: promlite-tool check config [<flags>] <config-files>...

Check if the config files are valid or not.

Flags:
  -h, --help                Show context-sensitive help.
      --syntax-only         Only check the config file syntax, ignoring file and
                            content validation referenced in the config
      --agent               Check config file for Prometheus in Agent mode.
      --lint=duplicate-rules
                            Linting checks to apply to the rules/scrape configs
                            specified in the config. Available options are: all,
                            duplicate-rules, none, too-long-scrape-interval. Use
                            --lint=none to disable linting
      --lint-fatal          Make lint errors exit with exit code 3.
      --query.lookback-delta=5m
                            The server's maximum query lookback duration.

Args:
  <config-files>  The config files to check.
";

/// Which lint checks `--lint` asked for.
#[derive(Clone, Copy, Default)]
struct LintSettings {
    duplicate_rules: bool,
    too_long_scrape_interval: bool,
    fatal: bool,
    lookback_delta_ms: i64,
}

pub(super) fn command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut opts = LoadOptions::default();
    let mut syntax_only = false;
    let mut lint = LintSettings {
        duplicate_rules: true,
        lookback_delta_ms: 5 * 60 * 1000,
        ..LintSettings::default()
    };
    let mut files = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                print!("{CHECK_CONFIG_HELP}");
                return Ok(SUCCESS);
            }
            Long("syntax-only") => syntax_only = true,
            Long("agent") => opts.agent_mode = true,
            Long("lint-fatal") => lint.fatal = true,
            Long("lint") => {
                let value = parser.value()?.string()?;
                lint.duplicate_rules = false;
                lint.too_long_scrape_interval = false;
                for opt in value.split(',') {
                    match opt {
                        "all" => {
                            lint.duplicate_rules = true;
                            lint.too_long_scrape_interval = true;
                        }
                        "duplicate-rules" => lint.duplicate_rules = true,
                        "too-long-scrape-interval" => lint.too_long_scrape_interval = true,
                        "none" => {}
                        other => {
                            return Err(UsageError(format!(
                                "unknown lint option {other:?}, available options are: all, duplicate-rules, none, too-long-scrape-interval"
                            )))
                        }
                    }
                }
            }
            Long("query.lookback-delta") => {
                let value = parser.value()?.string()?;
                lint.lookback_delta_ms =
                    crate::model::duration::parse_duration(&value).map_err(|e| {
                        UsageError(format!("invalid value for --query.lookback-delta: {e}"))
                    })?;
            }
            Value(v) => files.push(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    if files.is_empty() {
        return Err(UsageError(
            "required argument 'config-files' not provided".into(),
        ));
    }
    Ok(check_config(&files, opts, syntax_only, lint))
}

/// promtool's `CheckConfig`: one report per file, exit 1 on any error.
fn check_config(files: &[PathBuf], opts: LoadOptions, syntax_only: bool, lint: LintSettings) -> u8 {
    let mut failed = false;
    let mut has_errors = false;
    for file in files {
        println!("Checking {}", file.display());
        match check_one_config(file, opts, syntax_only) {
            Err(e) => {
                eprintln!("  FAILED: {e}");
                failed = true;
                has_errors = true;
            }
            Ok(checked) => {
                if !checked.rule_files.is_empty() {
                    println!("  SUCCESS: {} rule files found", checked.rule_files.len());
                }
                println!(
                    " SUCCESS: {} is valid prometheus config file syntax",
                    file.display()
                );
                println!();
                if !syntax_only {
                    failed |= lint_scrape_configs(&checked.scrape_configs, lint);
                    // Rule files are checked by `check rules`, which belongs
                    // to the rules engine; until it lands only their count is
                    // reported above.
                }
                continue;
            }
        }
        println!();
    }
    if failed && has_errors {
        FAILURE
    } else if failed && lint.fatal {
        LINT_FAILURE
    } else {
        SUCCESS
    }
}

/// What a valid config references.
struct CheckedConfig {
    rule_files: Vec<PathBuf>,
    scrape_configs: Vec<ScrapeConfig>,
}

/// promtool's `checkConfig`: load, then (unless syntax-only) check that the
/// files the config names exist and that static targets survive relabeling.
fn check_one_config(
    file: &Path,
    opts: LoadOptions,
    syntax_only: bool,
) -> Result<CheckedConfig, String> {
    let cfg: Config = config::load_file_with(file, opts).map_err(|e| e.to_string())?;
    let mut rule_files = Vec::new();
    if !syntax_only {
        for rf in &cfg.rule_files {
            let found = glob::glob(rf);
            // An explicit file (no wildcard) must exist.
            if !rf.contains('*') {
                let Some(first) = found.first() else {
                    return Err(format!("{rf:?} does not point to an existing file"));
                };
                check_file_exists(&first.to_string_lossy()).map_err(|e| {
                    format!(
                        "error checking rule file {:?}: {e}",
                        first.display().to_string()
                    )
                })?;
            }
            rule_files.extend(found);
        }
    }
    let scrape_configs = if syntax_only {
        cfg.scrape_configs.clone()
    } else {
        cfg.get_scrape_configs()
            .map_err(|e| format!("error loading scrape configs: {e}"))?
    };
    for sc in &scrape_configs {
        let http = &sc.http_client_config;
        if let (false, Some(auth)) = (syntax_only, &http.authorization) {
            check_file_exists(&auth.credentials_file).map_err(|e| {
                format!(
                    "error checking authorization credentials or bearer token file {:?}: {e}",
                    auth.credentials_file
                )
            })?;
        }
        check_tls_config(&http.tls_config, syntax_only)?;
        if !syntax_only {
            for fsd in &sc.file_sd_configs {
                check_sd_files(
                    &fsd.files,
                    &format!("scrape job {:?}", sc.job_name),
                    |groups| check_scrape_targets(groups, sc),
                )?;
            }
        }
        check_scrape_targets(&sc.static_configs, sc)?;
    }
    for am in &cfg.alerting.alertmanagers {
        if !syntax_only {
            for fsd in &am.file_sd_configs {
                check_sd_files(&fsd.files, "alertmanager config", |groups| {
                    check_alertmanager_targets(groups, &am.relabel_configs)
                })?;
            }
        }
        check_alertmanager_targets(&am.static_configs, &am.relabel_configs)?;
    }
    Ok(CheckedConfig {
        rule_files,
        scrape_configs,
    })
}

fn check_file_exists(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| format!("stat {path}: {}", io_reason(&e)))
}

fn check_tls_config(tls: &TlsConfig, syntax_only: bool) -> Result<(), String> {
    if !tls.cert_file.is_empty() && tls.key_file.is_empty() {
        return Err(format!(
            "client cert file {:?} specified without client key file",
            tls.cert_file
        ));
    }
    if !tls.key_file.is_empty() && tls.cert_file.is_empty() {
        return Err(format!(
            "client key file {:?} specified without client cert file",
            tls.key_file
        ));
    }
    if syntax_only {
        return Ok(());
    }
    check_file_exists(&tls.cert_file)
        .map_err(|e| format!("error checking client cert file {:?}: {e}", tls.cert_file))?;
    check_file_exists(&tls.key_file)
        .map_err(|e| format!("error checking client key file {:?}: {e}", tls.key_file))
}

/// Reads every file a `file_sd_configs` glob matches; warns for globs that
/// match nothing, as promtool does.
fn check_sd_files(
    patterns: &[String],
    owner: &str,
    check: impl Fn(&[StaticConfig]) -> Result<(), String>,
) -> Result<(), String> {
    for pattern in patterns {
        let found = glob::glob(pattern);
        if found.is_empty() {
            println!("  WARNING: file {pattern:?} for file_sd in {owner} does not exist");
            continue;
        }
        for f in found {
            let groups =
                read_sd_file(&f).map_err(|e| format!("checking SD file {pattern:?}: {e}"))?;
            check(&groups)?;
        }
    }
    Ok(())
}

/// Parses a file-SD file (JSON or YAML list of static configs).
pub(super) fn read_sd_file(path: &Path) -> Result<Vec<StaticConfig>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| io_reason(&e))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let groups: Vec<StaticConfig> = match ext {
        "json" => serde_json::from_str(&text).map_err(|e| e.to_string())?,
        "yml" | "yaml" => serde_yaml::from_str(&text).map_err(|e| e.to_string())?,
        _ => return Err(format!("invalid file extension: {ext:?}")),
    };
    Ok(groups)
}

/// The labels a scrape target starts relabeling with (upstream's
/// `PopulateLabels` inputs), enough to check where `__address__` ends up.
pub(super) fn scrape_target_labels(
    target: &str,
    group: &StaticConfig,
    sc: &ScrapeConfig,
) -> Labels {
    let mut pairs: Vec<Label> = group
        .labels
        .iter()
        .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
        .collect();
    pairs.push(Label::new("__address__", target));
    pairs.push(Label::new("job", sc.job_name.as_str()));
    pairs.push(Label::new("__scheme__", sc.scheme.as_str()));
    pairs.push(Label::new("__metrics_path__", sc.metrics_path.as_str()));
    pairs.push(Label::new(
        "__scrape_interval__",
        sc.scrape_interval.to_string(),
    ));
    pairs.push(Label::new(
        "__scrape_timeout__",
        sc.scrape_timeout.to_string(),
    ));
    Labels::new(pairs)
}

fn check_scrape_targets(groups: &[StaticConfig], sc: &ScrapeConfig) -> Result<(), String> {
    for (gi, group) in groups.iter().enumerate() {
        for (ti, target) in group.targets.iter().enumerate() {
            let labels = scrape_target_labels(target, group, sc);
            check_relabeled_address(&labels, &sc.relabel_configs)
                .map_err(|e| format!("instance {ti} in group {gi}: {e}"))?;
        }
    }
    Ok(())
}

fn check_alertmanager_targets(
    groups: &[StaticConfig],
    rules: &[RelabelConfig],
) -> Result<(), String> {
    for group in groups {
        for target in &group.targets {
            let mut pairs: Vec<Label> = group
                .labels
                .iter()
                .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
                .collect();
            pairs.push(Label::new("__address__", target.as_str()));
            check_relabeled_address(&Labels::new(pairs), rules)?;
        }
    }
    Ok(())
}

/// After relabeling, `__address__` must be present and a host, not a URL.
pub(super) fn check_relabeled_address(
    labels: &Labels,
    rules: &[RelabelConfig],
) -> Result<(), String> {
    let Some(out) = relabel::process(labels, rules) else {
        return Ok(());
    };
    match out.get("__address__") {
        None => Err("no address".into()),
        Some(addr) if addr.contains('/') => Err(format!("{addr:?} is not a valid hostname")),
        Some(_) => Ok(()),
    }
}

/// promtool's `lintScrapeConfigs`.
fn lint_scrape_configs(configs: &[ScrapeConfig], lint: LintSettings) -> bool {
    if !lint.too_long_scrape_interval || lint.lookback_delta_ms <= 0 {
        return false;
    }
    for sc in configs {
        if sc.scrape_interval.as_millis() >= lint.lookback_delta_ms {
            eprintln!(
                "  FAILED: too long scrape interval found, data point will be marked as stale - job: {}, interval: {}",
                sc.job_name, sc.scrape_interval
            );
            return true;
        }
    }
    false
}
