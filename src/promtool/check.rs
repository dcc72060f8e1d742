//! `check healthy|ready|web-config|metrics|service-discovery`: promtool's
//! checks other than `check config` (see `check_config`) and `check rules`
//! (owned by the rules engine).

use std::time::Duration;

use lexopt::prelude::*;

use super::{io_reason, print_command_help, UsageError, FAILURE, LINT_FAILURE, SUCCESS};

/// `check healthy` / `check ready`: GET `/-/healthy` or `/-/ready`, print
/// the body after `SUCCESS:` on 200, fail with the status otherwise.
pub(super) fn health_command(mut parser: lexopt::Parser, ready: bool) -> Result<u8, UsageError> {
    let words = if ready {
        "check ready"
    } else {
        "check healthy"
    };
    let mut url = String::from("http://localhost:9090");
    let mut headers: Vec<(String, String)> = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    words,
                    "      --url=http://localhost:9090\n                 The URL for the Prometheus server.\n      --http.config.file=<filename>\n                 HTTP client configuration file.\n",
                    "",
                ))
            }
            Long("url") => url = parser.value()?.string()?,
            Long("http.config.file") => {
                let path = parser.value()?.string()?;
                match super::query::load_http_config(&path) {
                    Ok(h) => headers = h,
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(FAILURE);
                    }
                }
            }
            other => return Err(other.unexpected().into()),
        }
    }
    if !url.contains("://") {
        url = format!("http://{url}");
    }
    let endpoint = format!(
        "{}{}",
        url.trim_end_matches('/'),
        if ready { "/-/ready" } else { "/-/healthy" }
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = agent.get(&endpoint);
    for (n, v) in &headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let mut resp = match req.call() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Get {endpoint:?}: {e}");
            return Ok(FAILURE);
        }
    };
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    if status != 200 {
        eprintln!("check failed: URL={url}, status={status}");
        return Ok(FAILURE);
    }
    eprintln!("  SUCCESS:  {body}");
    Ok(SUCCESS)
}

/// `check web-config`: each file must be a valid web config (TLS server
/// settings, basic-auth users, HTTP server options).
pub(super) fn web_config_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut files = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    "check web-config",
                    "",
                    "  <web-config-files>  The config files to check.\n",
                ))
            }
            Value(v) => files.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    if files.is_empty() {
        return Err(UsageError(
            "required argument 'web-config-files' not provided".into(),
        ));
    }
    let mut failed = false;
    for f in &files {
        match check_web_config(f) {
            Ok(()) => eprintln!("{f} SUCCESS"),
            Err(e) => {
                eprintln!("{f} FAILED: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { FAILURE } else { SUCCESS })
}

/// exporter-toolkit's `web.Validate`, for the settings it checks offline.
fn check_web_config(path: &str) -> Result<(), String> {
    use serde_yaml::Value as Y;
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("open {path}: {}", io_reason(&e)))?;
    if text.trim().is_empty() {
        return Ok(());
    }
    let doc: Y = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let Y::Mapping(top) = &doc else {
        return Err("web config is not a YAML mapping".into());
    };
    for (k, v) in top {
        let key = k.as_str().unwrap_or("");
        match key {
            "tls_server_config" => {
                let get = |n: &str| v.get(n).and_then(Y::as_str).unwrap_or("").to_string();
                let (cert, key_file) = (get("cert_file"), get("key_file"));
                let (cert_inline, key_inline) = (get("cert"), get("key"));
                if cert.is_empty() && cert_inline.is_empty() {
                    return Err("missing cert_file".into());
                }
                if key_file.is_empty() && key_inline.is_empty() {
                    return Err("missing key_file".into());
                }
                for f in [&cert, &key_file] {
                    if !f.is_empty() {
                        let full = std::path::Path::new(path)
                            .parent()
                            .map(|d| d.join(f))
                            .unwrap_or_else(|| f.into());
                        std::fs::metadata(&full).map_err(|e| {
                            format!(
                                "failed to load X509KeyPair: open {}: {}",
                                full.display(),
                                io_reason(&e)
                            )
                        })?;
                    }
                }
            }
            "basic_auth_users" => {
                let Y::Mapping(users) = v else {
                    return Err("basic_auth_users must be a mapping of user to bcrypt hash".into());
                };
                for (u, hash) in users {
                    let hash = hash.as_str().unwrap_or("");
                    if !(hash.starts_with("$2a$")
                        || hash.starts_with("$2b$")
                        || hash.starts_with("$2y$"))
                    {
                        return Err(format!(
                            "basic_auth_users: password for {:?} is not a bcrypt hash",
                            u.as_str().unwrap_or("")
                        ));
                    }
                }
            }
            "http_server_config" => {}
            other => {
                // Go's YAML decoder names the line of the unknown field.
                let line = text
                    .lines()
                    .position(|l| l.starts_with(&format!("{other}:")))
                    .map_or(0, |i| i + 1);
                return Err(format!(
                    "yaml: unmarshal errors:\n  line {line}: field {other} not found in type web.Config"
                ));
            }
        }
    }
    Ok(())
}

/// `check service-discovery CONFIG JOB`: the job's static and file-SD
/// targets before and after relabeling, as JSON (upstream's
/// `sdCheckResult` list). Other discovery mechanisms are refused.
/// Like upstream 3.x, no default port is added to `__address__`.
pub(super) fn service_discovery_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut positional: Vec<String> = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    "check service-discovery",
                    "      --timeout=30s  The time to wait for discovery results.\n",
                    "  <config-file>  The prometheus config file.\n  <job>          The job to run service discovery for.\n",
                ))
            }
            Long("timeout") => {
                let _ = parser.value()?;
            }
            Value(v) if positional.len() < 2 => positional.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let (Some(file), Some(job)) = (positional.first(), positional.get(1)) else {
        let missing = if positional.is_empty() {
            "config-file"
        } else {
            "job"
        };
        return Err(UsageError(format!(
            "required argument '{missing}' not provided"
        )));
    };
    if !std::path::Path::new(file).exists() {
        return Err(UsageError(format!("path '{file}' does not exist")));
    }
    let cfg = match crate::config::load_file(std::path::Path::new(file)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Cannot load config {e}");
            return Ok(FAILURE);
        }
    };
    let Some(sc) = cfg.scrape_configs.iter().find(|sc| &sc.job_name == job) else {
        eprintln!("Job {job} not found. Select one of:");
        for sc in &cfg.scrape_configs {
            eprintln!("\t{}", sc.job_name);
        }
        return Ok(FAILURE);
    };
    if !sc.http_sd_configs.is_empty() {
        eprintln!("check service-discovery with http_sd_configs is not supported by promlite yet");
        return Ok(FAILURE);
    }
    let mut results = Vec::new();
    for group in &sc.static_configs {
        for target in &group.targets {
            let discovered = super::check_config::scrape_target_labels(target, group, sc);
            results.push(sd_result(discovered, sc));
        }
    }
    for fsd in &sc.file_sd_configs {
        for pattern in &fsd.files {
            for path in crate::config::glob::glob(pattern) {
                let groups = match super::check_config::read_sd_file(&path) {
                    Ok(g) => g,
                    Err(e) => {
                        eprintln!("reading {}: {e}", path.display());
                        return Ok(FAILURE);
                    }
                };
                for group in &groups {
                    for target in &group.targets {
                        let mut b =
                            super::check_config::scrape_target_labels(target, group, sc).builder();
                        b.set("__meta_filepath", &path.to_string_lossy());
                        results.push(sd_result(b.build(), sc));
                    }
                }
            }
        }
    }
    let items: Vec<String> = results
        .iter()
        .map(|(d, l)| {
            format!(
                "  {{\n    \"discoveredLabels\": {},\n    \"labels\": {}\n  }}",
                indented_labels(d),
                indented_labels(l)
            )
        })
        .collect();
    if items.is_empty() {
        print!("null");
    } else {
        print!("[\n{}\n]", items.join(",\n"));
    }
    Ok(SUCCESS)
}

/// Discovered labels and the labels after relabeling (`{}` when dropped):
/// upstream's `PopulateLabels` without the default port.
fn sd_result(
    discovered: crate::model::Labels,
    sc: &crate::config::ScrapeConfig,
) -> (crate::model::Labels, crate::model::Labels) {
    let after = match crate::model::relabel::process(&discovered, &sc.relabel_configs) {
        None => crate::model::Labels::empty(),
        Some(l) => {
            let mut b = l.builder();
            b.retain(|l| !l.name.starts_with("__meta_"));
            if b.get("instance").is_none() {
                let addr = b.get("__address__").unwrap_or("").to_string();
                b.set("instance", &addr);
            }
            b.build()
        }
    };
    (discovered, after)
}

/// A label map as Go's `json.MarshalIndent(_, "  ", "  ")` nests it.
fn indented_labels(l: &crate::model::Labels) -> String {
    if l.is_empty() {
        return "{}".into();
    }
    let lines: Vec<String> = l
        .iter()
        .map(|l| {
            format!(
                "      {}: {}",
                super::query::go_json_string(&l.name),
                super::query::go_json_string(&l.value)
            )
        })
        .collect();
    format!("{{\n{}\n    }}", lines.join(",\n"))
}

/// `check metrics [--extended] [--lint=all|none]`: lints exposition text
/// from stdin with promlint's rules and, with `--extended`, prints the
/// cardinality table. As upstream 3.x, the table comes even when linting
/// found problems (2.42 stopped after the problems), and the exit code is
/// still 3 then.
pub(super) fn metrics_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut extended = false;
    let mut lint = true;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    "check metrics",
                    "      --extended    Print extended information related to the\n                    cardinality of the metrics.\n      --lint=\"all\"  Linting checks to apply for metrics. Available\n                    options are: all, none. Use --lint=none to disable\n                    metrics linting.\n",
                    "",
                ))
            }
            Long("extended") => extended = true,
            // Upstream lints for any value but "none".
            Long("lint") => lint = parser.value()?.string()? != "none",
            other => return Err(other.unexpected().into()),
        }
    }
    let mut input = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut input) {
        eprintln!("error while linting: {e}");
        return Ok(FAILURE);
    }
    let problems = if lint {
        match super::promlint::lint(&input) {
            Ok(problems) => problems,
            Err(e) => {
                eprintln!("error while linting: {e}");
                return Ok(FAILURE);
            }
        }
    } else {
        Vec::new()
    };
    for p in &problems {
        eprintln!("{} {}", p.metric, p.text);
    }
    if extended {
        match super::promlint::cardinalities(&input) {
            Ok(stats) => print!("{}", cardinality_table(&stats)),
            Err(e) => {
                eprintln!("error while parsing text to metric families: {e}");
                return Ok(FAILURE);
            }
        }
    }
    Ok(if problems.is_empty() {
        SUCCESS
    } else {
        LINT_FAILURE
    })
}

/// `check metrics --extended`: promtool's table (tabwriter with padding 4,
/// every cell tab-terminated, so every column is padded).
fn cardinality_table(stats: &[(String, usize)]) -> String {
    let total: usize = stats.iter().map(|s| s.1).sum();
    let mut rows: Vec<[String; 3]> =
        vec![["Metric".into(), "Cardinality".into(), "Percentage".into()]];
    for (name, n) in stats {
        let pct = if total == 0 {
            0.0
        } else {
            *n as f64 / total as f64 * 100.0
        };
        rows.push([name.clone(), n.to_string(), format!("{pct:.2}%")]);
    }
    rows.push(["Total".into(), total.to_string(), "100%".into()]);
    let mut widths = [4usize; 3];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count() + 4);
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (w, cell) in widths.iter().zip(row) {
            out.push_str(cell);
            out.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(cell.chars().count()),
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinality_table_pads_every_column() {
        let stats = vec![
            ("http_requests_total".to_string(), 3),
            ("up".to_string(), 1),
        ];
        assert_eq!(
            cardinality_table(&stats),
            "Metric                 Cardinality    Percentage    \n\
             http_requests_total    3              75.00%        \n\
             up                     1              25.00%        \n\
             Total                  4              100%          \n"
        );
    }
}
