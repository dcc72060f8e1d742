//! `file_sd_configs`: target groups read from JSON or YAML files named by
//! glob patterns, re-read when a file's mtime changes (polled) and on every
//! `refresh_interval`. A file that fails to read or parse keeps its last good
//! targets, is logged and is counted in
//! `prometheus_sd_file_read_errors_total`; a file that disappears loses its
//! targets. Every group carries `__meta_filepath`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::manager::ProviderUpdate;
use super::{
    groups_from_document, parse_json_groups, parse_yaml_groups, DiscoveryError, TargetGroup,
    DEFAULT_REFRESH_INTERVAL,
};
use crate::telemetry;

/// Upstream's counter of failed file reads.
pub const FILE_READ_ERRORS_METRIC: &str = "prometheus_sd_file_read_errors_total";
/// Upstream's summary of scan durations.
pub const FILE_SCAN_DURATION_METRIC: &str = "prometheus_sd_file_scan_duration_seconds";

/// Settings of one `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSdConfig {
    /// Paths or globs (`*`, `?`, `[...]` in the file name); relative paths are
    /// resolved by the config loader, not here.
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

impl FileSdConfig {
    pub fn new(files: Vec<String>) -> FileSdConfig {
        FileSdConfig {
            files,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        }
    }
}

struct FileState {
    mtime: Option<SystemTime>,
    groups: Vec<TargetGroup>,
}

/// The provider loop: runs until `stop` is disconnected.
pub(crate) fn run(
    cfg: FileSdConfig,
    id: u64,
    poll: Duration,
    tx: Sender<ProviderUpdate>,
    stop: Receiver<()>,
) {
    let errors = telemetry::global().counter(
        FILE_READ_ERRORS_METRIC,
        "The number of File-SD read errors.",
    );
    let scan_duration = telemetry::global().summary(
        FILE_SCAN_DURATION_METRIC,
        "The duration of the File-SD scan in seconds.",
        telemetry::LATENCY_OBJECTIVES,
    );
    let mut files: BTreeMap<PathBuf, FileState> = BTreeMap::new();
    let mut last_refresh: Option<Instant> = None;
    loop {
        let full = last_refresh.is_none_or(|t| t.elapsed() >= cfg.refresh_interval);
        if full {
            last_refresh = Some(Instant::now());
        }
        let scan_started = Instant::now();
        let changed = refresh(&cfg, &mut files, full, &errors);
        // Upstream scans on a file event or the refresh interval; the cheap
        // mtime polls in between are not scans it would have counted.
        if full || changed {
            scan_duration.observe_since(scan_started);
        }
        if changed {
            let groups = files
                .values()
                .flat_map(|f| f.groups.iter().cloned())
                .collect();
            if tx.send(ProviderUpdate { id, groups }).is_err() {
                return;
            }
        }
        match stop.recv_timeout(poll.min(cfg.refresh_interval)) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

/// One pass over the patterns; returns whether the provider's groups changed.
fn refresh(
    cfg: &FileSdConfig,
    files: &mut BTreeMap<PathBuf, FileState>,
    force: bool,
    errors: &telemetry::Counter,
) -> bool {
    let mut seen = BTreeSet::new();
    for pattern in &cfg.files {
        match expand_glob(pattern) {
            Ok(paths) => seen.extend(paths),
            Err(e) => {
                log::error!("file_sd: {e}");
                errors.inc();
            }
        }
    }
    let before = files.len();
    files.retain(|p, _| seen.contains(p));
    let mut changed = files.len() != before;
    for path in seen {
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let state = files.entry(path.clone()).or_insert(FileState {
            mtime: None,
            groups: Vec::new(),
        });
        if !force && state.mtime.is_some() && state.mtime == mtime {
            continue;
        }
        match read_file(&path) {
            Ok(groups) => {
                state.mtime = mtime;
                if groups != state.groups {
                    state.groups = groups;
                    changed = true;
                }
            }
            Err(e) => {
                // Keep the last good targets: a half-written file must not
                // make every target of the job vanish for one refresh.
                log::error!("file_sd: {e}");
                errors.inc();
                state.mtime = mtime;
            }
        }
    }
    changed
}

/// Reads one target file, choosing the format by extension as upstream does.
pub(crate) fn read_file(path: &Path) -> Result<Vec<TargetGroup>, DiscoveryError> {
    let display = path.display().to_string();
    let body = std::fs::read(path).map_err(|e| DiscoveryError::Read {
        path: display.clone(),
        error: e.to_string(),
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let raw = match ext {
        "json" => parse_json_groups(&body),
        "yml" | "yaml" => parse_yaml_groups(&body),
        _ => Err(format!("retrieval target groups from {display:?} failed: unknown file extension, expected .json, .yml or .yaml")),
    }
    .map_err(|error| DiscoveryError::Format {
        source: display.clone(),
        error,
    })?;
    groups_from_document(raw, &display, ("__meta_filepath", &display)).map_err(|error| {
        DiscoveryError::Format {
            source: display.clone(),
            error,
        }
    })
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a pattern whose wildcards are in the file name only, the form
/// file SD configurations use. Missing directories give no files.
pub(crate) fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, DiscoveryError> {
    let path = Path::new(pattern);
    if !has_meta(pattern) {
        return Ok(if path.exists() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if has_meta(&dir.to_string_lossy()) {
        return Err(DiscoveryError::Unsupported(format!(
            "a wildcard in a directory name ({pattern:?})"
        )));
    }
    let list_dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(list_dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name().to_str()?.to_string();
            glob_match(name.as_bytes(), n.as_bytes()).then(|| dir.join(n))
        })
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Shell-style matching of one path element: `*`, `?` and `[...]` classes
/// (with ranges and `^`/`!` negation), as Go's `filepath.Match`.
fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_match(&pat[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob_match(&pat[1..], &s[1..]),
        Some(b'[') => {
            let Some(close) = pat.iter().skip(1).position(|&b| b == b']').map(|p| p + 1) else {
                return false;
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &pat[1..close];
            let negate = matches!(class.first(), Some(b'^' | b'!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_match(&pat[close + 1..], &s[1..])
        }
        Some(&p) => s.first() == Some(&p) && glob_match(&pat[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.json", "a.json", true),
            ("*.json", "a.yml", false),
            ("t?.yml", "t1.yml", true),
            ("t[0-9].yml", "t5.yml", true),
            ("t[^0-9].yml", "t5.yml", false),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(glob_match(p.as_bytes(), s.as_bytes()), *want, "{p} {s}");
        }
    }

    #[test]
    fn broken_file_keeps_last_good_targets() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.json");
        let write = |s: &str| std::fs::write(&path, s).unwrap_or_else(|e| panic!("{e}"));
        let cfg = FileSdConfig::new(vec![dir.path().join("*.json").display().to_string()]);
        let errors = telemetry::Registry::new().counter("x_errors_total", "x");
        let mut files = BTreeMap::new();

        write(r#"[{"targets": ["a:1"]}]"#);
        assert!(refresh(&cfg, &mut files, true, &errors));
        write("[{");
        assert!(!refresh(&cfg, &mut files, true, &errors));
        assert_eq!(errors.get(), 1.0);
        let targets: usize = files.values().map(|f| f.groups[0].targets.len()).sum();
        assert_eq!(targets, 1);

        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(refresh(&cfg, &mut files, false, &errors));
        assert!(files.is_empty());
    }

    #[test]
    fn refresh_interval_rereads_files_whose_mtime_did_not_change() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.yml");
        std::fs::write(&path, "- targets: ['a:1']\n").unwrap_or_else(|e| panic!("{e}"));
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("{e}"));
        let cfg = FileSdConfig {
            files: vec![path.display().to_string()],
            refresh_interval: Duration::from_millis(100),
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let runner =
            std::thread::spawn(move || run(cfg, 1, Duration::from_millis(20), tx, stop_rx));
        let addresses = |u: ProviderUpdate| -> Vec<String> {
            u.groups
                .iter()
                .flat_map(|g| g.targets.iter())
                .map(|t| t.get_or_empty("__address__").to_string())
                .collect()
        };
        let first = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("no first update: {e}"));
        assert_eq!(addresses(first), ["a:1"]);

        // New content under the old mtime: only the periodic full re-read
        // can see it.
        std::fs::write(&path, "- targets: ['a:2']\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .unwrap_or_else(|e| panic!("{e}"));
        let second = rx.recv_timeout(Duration::from_secs(5));
        drop(stop_tx);
        let _ = runner.join();
        let second = second.unwrap_or_else(|e| panic!("refresh_interval did not re-read: {e}"));
        assert_eq!(addresses(second), ["a:2"]);
    }
}
