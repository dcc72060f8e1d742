//! `tsdb bench write`: upstream promtool's write benchmark, run against
//! promlite's own TSDB ([`crate::tsdb::Db`]).
//!
//! As upstream's `writeBenchmark`: reads up to `--metrics` distinct label
//! sets from a file of JSON objects (one a line, as upstream's
//! `tsdb/testdata/20kseries.json`), wipes and recreates `--out`, opens a
//! fresh TSDB in `<out>/storage` with compaction off, and appends
//! `--scrapes` rounds (rounded up to a multiple of 100) of one sample per
//! series, 30s apart, from one thread per 1000 series, committing after
//! every round. Prints upstream's stage lines and the samples per second.
//! Upstream also writes Go CPU/heap/block/mutex profiles into `--out`;
//! promlite writes none (nothing is printed about them upstream either).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lexopt::prelude::*;

use super::{print_command_help, UsageError, FAILURE, SUCCESS};
use crate::model::value::format_go_g;
use crate::model::{Label, Labels};
use crate::storage::{Appendable, SeriesRef};
use crate::template::funcs::format_go_duration;
use crate::tsdb::{Db, DbOptions};

/// Upstream's default series file, relative to its source tree; promlite
/// does not ship it.
const DEFAULT_SERIES_FILE: &str = "../../tsdb/testdata/20kseries.json";
/// Milliseconds between two scrapes of a series.
const TIME_DELTA_MS: i64 = 30_000;
/// Series one ingesting thread appends.
const SHARD_SERIES: usize = 1000;
/// Scrapes one ingesting thread appends before the next round of threads.
const SHARD_SCRAPES: usize = 100;

/// What stopped the benchmark.
#[derive(Debug)]
pub enum BenchError {
    /// The output directory could not be wiped or created.
    Out(PathBuf, std::io::Error),
    /// The series file could not be read.
    SeriesFile(PathBuf, std::io::Error),
    /// A line of the series file is not a label set.
    SeriesLine { line: usize, text: String },
    /// The TSDB could not be opened or closed.
    Tsdb(String),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Out(p, e) => write!(f, "{}: {}", p.display(), super::io_reason(e)),
            BenchError::SeriesFile(p, e) => {
                write!(f, "open {}: {}", p.display(), super::io_reason(e))?;
                if p == Path::new(DEFAULT_SERIES_FILE) {
                    write!(
                        f,
                        " (upstream's default series file is not shipped with promlite: \
                         pass a file of label sets, one JSON object a line, \
                         e.g. {{\"__name__\":\"up\",\"job\":\"a\"}})"
                    )?;
                }
                Ok(())
            }
            BenchError::SeriesLine { line, text } => write!(
                f,
                "series file line {line}: {text:?} is not a label set \
                 (want one JSON object of \"name\":\"value\" pairs a line)"
            ),
            BenchError::Tsdb(e) => f.write_str(e),
        }
    }
}

/// `tsdb bench write [--out] [--metrics] [--scrapes] [<file>]`.
pub(super) fn write_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut out = PathBuf::from("benchout");
    let mut metrics = 10_000usize;
    let mut scrapes = 3_000usize;
    let mut file: Option<PathBuf> = None;
    let int = |s: String| -> Result<usize, UsageError> {
        s.parse()
            .map_err(|_| UsageError(format!("strconv.ParseInt: parsing {s:?}: invalid syntax")))
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    "tsdb bench write",
                    "      --out=\"benchout\"  Set the output path (wiped first).\n      --metrics=10000   Number of metrics to read.\n      --scrapes=3000    Number of scrapes to simulate.\n\nUnlike upstream, no Go cpu/mem/block/mutex profiles are written.\n",
                    "  [<file>]  Input file of series, one JSON object of labels a line\n            (default ../../tsdb/testdata/20kseries.json, from upstream's\n            source tree, not shipped with promlite).\n",
                ))
            }
            Long("out") => out = PathBuf::from(parser.value()?),
            Long("metrics") => metrics = int(parser.value()?.string()?)?,
            Long("scrapes") => scrapes = int(parser.value()?.string()?)?,
            Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    let file = file.unwrap_or_else(|| PathBuf::from(DEFAULT_SERIES_FILE));
    if out.as_os_str().is_empty() {
        // As upstream: an empty --out means a fresh temporary directory.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        out = std::env::temp_dir().join(format!("tsdb_bench{}{nanos}", std::process::id()));
    }
    let mut stdout = std::io::stdout();
    match benchmark_write(&out, &file, metrics, scrapes, &mut stdout) {
        Ok(_) => Ok(SUCCESS),
        Err(e) => {
            eprintln!("{e}");
            Ok(FAILURE)
        }
    }
}

/// Runs the benchmark, printing upstream's progress lines to `log`, and
/// returns the number of samples appended.
pub fn benchmark_write(
    out: &Path,
    series_file: &Path,
    metrics: usize,
    scrapes: usize,
    log: &mut impl std::io::Write,
) -> Result<u64, BenchError> {
    match std::fs::remove_dir_all(out) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BenchError::Out(out.to_path_buf(), e)),
    }
    std::fs::create_dir_all(out).map_err(|e| BenchError::Out(out.to_path_buf(), e))?;
    let opts = DbOptions {
        min_block_duration: 2 * 60 * 60 * 1000,
        retention: Some(15 * 24 * 60 * 60 * 1000),
        // Upstream disables compactions; maintenance never comes due here.
        truncate_interval: Duration::from_secs(100 * 365 * 24 * 60 * 60),
        memory_snapshot_on_shutdown: false,
        ..DbOptions::default()
    };
    let db = Db::open(&out.join("storage"), opts).map_err(|e| BenchError::Tsdb(e.to_string()))?;

    let (series, _) = stage(log, "readData", |_| {
        let text = std::fs::read_to_string(series_file)
            .map_err(|e| BenchError::SeriesFile(series_file.to_path_buf(), e))?;
        read_label_sets(&text, metrics)
    })?;

    let (total, took) = stage(log, "ingestScrapes", |log| {
        Ok(ingest_scrapes(&db, &series, scrapes, log))
    })?;
    let _ = writeln!(log, " > total samples: {total}");
    let _ = writeln!(
        log,
        " > samples/sec: {}",
        format_go_g(total as f64 / took.as_secs_f64())
    );

    stage(log, "stopStorage", |_| {
        db.close().map_err(|e| BenchError::Tsdb(e.to_string()))
    })?;
    Ok(total)
}

/// Upstream's `measureTime`: a start line, the work, a completed line with
/// the duration as Go prints it; returns the work's result and duration.
fn stage<W: std::io::Write, T>(
    log: &mut W,
    name: &str,
    work: impl FnOnce(&mut W) -> Result<T, BenchError>,
) -> Result<(T, Duration), BenchError> {
    let _ = writeln!(log, ">> start stage={name}");
    let _ = log.flush();
    let start = Instant::now();
    let result = work(log)?;
    let took = start.elapsed();
    let ns = i64::try_from(took.as_nanos()).unwrap_or(i64::MAX);
    let _ = writeln!(
        log,
        ">> completed stage={name} duration={}",
        format_go_duration(ns)
    );
    Ok((result, took))
}

/// Upstream's `readPrometheusLabels`: quotes and braces dropped, pairs split
/// at `,`, name and value at `:` (a value is cut at a second `:`, as
/// upstream's are), duplicates skipped, at most `limit` label sets.
pub fn read_label_sets(text: &str, limit: usize) -> Result<Vec<Labels>, BenchError> {
    let mut seen: HashSet<Labels> = HashSet::new();
    let mut sets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if sets.len() >= limit {
            break;
        }
        let cleaned: String = line
            .chars()
            .filter(|c| !matches!(c, '"' | '{' | '}'))
            .collect();
        let mut labels = Vec::new();
        for pair in cleaned.split(',') {
            let mut parts = pair.split(':');
            match (parts.next(), parts.next()) {
                (Some(name), Some(value)) => labels.push(Label::new(name, value)),
                _ => {
                    return Err(BenchError::SeriesLine {
                        line: i + 1,
                        text: line.to_string(),
                    })
                }
            }
        }
        let labels = Labels::new(labels);
        if seen.insert(labels.clone()) {
            sets.push(labels);
        }
    }
    Ok(sets)
}

/// Upstream's `ingestScrapes`: rounds of 100 scrapes; in each round one
/// thread per 1000 series appends its 100 scrapes, starting where the round
/// starts in time. A failed append or commit is printed and ends that
/// thread's round, as upstream's goroutines do.
fn ingest_scrapes(
    db: &Arc<Db>,
    series: &[Labels],
    scrapes: usize,
    log: &mut impl std::io::Write,
) -> u64 {
    let total = AtomicU64::new(0);
    let errors = std::sync::Mutex::new(Vec::new());
    for round in (0..scrapes).step_by(SHARD_SCRAPES) {
        let base_t = TIME_DELTA_MS * round as i64;
        std::thread::scope(|s| {
            for batch in series.chunks(SHARD_SERIES) {
                let (total, errors) = (&total, &errors);
                s.spawn(move || {
                    let (n, err) = ingest_shard(db.as_ref(), batch, SHARD_SCRAPES, base_t);
                    total.fetch_add(n, Ordering::Relaxed);
                    if let Some(e) = err {
                        errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                    }
                });
            }
        });
        for e in errors.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = writeln!(log, " err {e}");
        }
    }
    let _ = writeln!(log, "ingestion completed");
    total.into_inner()
}

/// One thread's share: `scrapes` commits of one sample per series, values
/// counting up by 1000 from 123456789 as upstream's. Returns the samples
/// appended and the error that stopped it, if any.
fn ingest_shard(
    db: &dyn Appendable,
    series: &[Labels],
    scrapes: usize,
    base_t: i64,
) -> (u64, Option<String>) {
    let mut refs: Vec<SeriesRef> = vec![0; series.len()];
    let mut value = 123_456_789i64;
    let mut t = base_t;
    let mut total = 0u64;
    for _ in 0..scrapes {
        let mut app = db.appender();
        t += TIME_DELTA_MS;
        value += 1000;
        for (labels, series_ref) in series.iter().zip(refs.iter_mut()) {
            match app.append(*series_ref, labels, t, value as f64) {
                Ok(r) => *series_ref = r,
                Err(e) => {
                    let _ = app.rollback();
                    return (total, Some(e.to_string()));
                }
            }
            total += 1;
        }
        if let Err(e) = app.commit() {
            return (total, Some(e.to_string()));
        }
    }
    (total, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_read_as_upstream_reads_them() {
        let text = "{\"__name__\":\"up\",\"job\":\"a\"}\n\
                    {\"job\":\"a\",\"__name__\":\"up\"}\n\
                    {\"__name__\":\"x\",\"url\":\"http://h:1\"}\n\
                    {\"__name__\":\"y\"}\n";
        let sets = read_label_sets(text, 10).unwrap_or_default();
        // The second line is the first sorted, so it is skipped.
        assert_eq!(sets.len(), 3);
        assert_eq!(
            sets.first().map(|l| l.to_string()),
            Some("{__name__=\"up\", job=\"a\"}".into())
        );
        assert_eq!(sets.get(1).and_then(|l| l.get("url")), Some("http"));
        assert_eq!(read_label_sets(text, 2).map(|s| s.len()).ok(), Some(2));
    }

    #[test]
    fn lines_without_pairs_are_errors() {
        let err = read_label_sets("{\"a\":\"b\"}\n\n", 10).err();
        assert!(
            matches!(err, Some(BenchError::SeriesLine { line: 2, .. })),
            "{err:?}"
        );
        let err = read_label_sets("nonsense\n", 10).err();
        assert!(err.is_some_and(|e| e.to_string().contains("line 1")));
    }

    #[test]
    fn writes_every_scrape_of_every_series() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let file = dir.path().join("series.json");
        let lines: String = (0..1500)
            .map(|i| format!("{{\"__name__\":\"m{}\",\"i\":\"{i}\"}}\n", i % 3))
            .collect();
        std::fs::write(&file, lines).unwrap_or_else(|e| panic!("write: {e}"));
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("stale")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let mut log = Vec::new();
        // 150 scrapes round up to two rounds of 100, as upstream.
        let total = benchmark_write(&out, &file, 1200, 150, &mut log)
            .unwrap_or_else(|e| panic!("bench: {e}"));
        assert_eq!(total, 1200 * 200);
        let log = String::from_utf8_lossy(&log);
        assert!(log.contains(" > total samples: 240000\n"), "{log}");
        assert!(
            log.contains(">> completed stage=stopStorage duration="),
            "{log}"
        );
        assert!(!out.join("stale").exists());
        assert!(out.join("storage").join("wal").is_dir());

        let err = benchmark_write(&out, &dir.path().join("none.json"), 10, 1, &mut Vec::new());
        assert!(err.is_err_and(|e| e.to_string().contains("none.json: no such file")));
    }
}
