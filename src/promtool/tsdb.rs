//! `tsdb list|dump|dump-openmetrics|analyze` over a data directory's
//! persisted blocks, read with `tsdb::block::Block` (upstream's index v2 and
//! chunk formats, so upstream's data dirs work too).
//!
//! `dump` also reads the head, replaying the WAL as upstream's read-only DB
//! does; `list` and `analyze` look at blocks only, as upstream's do.
//! `analyze --extended` adds upstream 3.x's compaction analysis (samples and
//! bytes per chunk).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lexopt::prelude::*;

use super::{print_command_help, UsageError, FAILURE, SUCCESS};
use crate::model::value::format_go_g;
use crate::model::{Labels, MatchType, Matcher};
use crate::storage::Querier;
use crate::tsdb::block::Block;
use crate::tsdb::head::replay::replay_wal;
use crate::tsdb::head::{Head, HeadOptions};

const DB_ARG: &str = "  [<db path>]  Database path (default is data/).\n";

/// What went wrong reading a data directory.
#[derive(Debug)]
pub enum TsdbToolError {
    /// The data directory itself is missing or unreadable.
    NoDir(PathBuf, std::io::Error),
    Io(PathBuf, std::io::Error),
    Block(String),
    Selector(String),
}

impl std::fmt::Display for TsdbToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TsdbToolError::NoDir(p, e) => write!(
                f,
                "opening the db dir: stat {}: {}",
                p.display(),
                super::io_reason(e)
            ),
            TsdbToolError::Io(p, e) => {
                write!(f, "open {}: {}", p.display(), super::io_reason(e))
            }
            TsdbToolError::Block(e) => f.write_str(e),
            TsdbToolError::Selector(e) => write!(f, "invalid series selector: {e}"),
        }
    }
}

/// The blocks of a data directory, sorted by min time as upstream lists them.
fn open_blocks(db: &Path) -> Result<Vec<Arc<Block>>, TsdbToolError> {
    std::fs::metadata(db).map_err(|e| TsdbToolError::NoDir(db.to_path_buf(), e))?;
    let entries = std::fs::read_dir(db).map_err(|e| TsdbToolError::Io(db.to_path_buf(), e))?;
    let mut blocks = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_ulid = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 26 && n.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !is_ulid || !dir.join("meta.json").is_file() {
            continue;
        }
        blocks.push(Block::open(&dir).map_err(|e| TsdbToolError::Block(e.to_string()))?);
    }
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().ulid.clone()));
    Ok(blocks)
}

/// The head as a read-only upstream DB sees it: the WAL replayed (from a
/// private copy, so a damaged tail is repaired there and never in the user's
/// directory), samples older than the newest block left out.
fn open_head(db: &Path, blocks: &[Arc<Block>]) -> Result<Option<Arc<Head>>, TsdbToolError> {
    let wal = db.join("wal");
    if !wal.is_dir() {
        return Ok(None);
    }
    let copy = ScratchDir::create()?;
    copy_dir(&wal, &copy.0)?;
    let head = Arc::new(Head::new(HeadOptions::default()));
    if let Some(maxt) = blocks.iter().map(|b| b.meta().max_time).max() {
        head.truncate(maxt);
    }
    replay_wal(&head, &copy.0)
        .map_err(|e| TsdbToolError::Block(format!("replaying {}: {e}", wal.display())))?;
    Ok(Some(head))
}

/// A directory under the system temp dir, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<ScratchDir, TsdbToolError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("promlite-tool-wal-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| TsdbToolError::Io(dir.clone(), e))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), TsdbToolError> {
    let entries = std::fs::read_dir(from).map_err(|e| TsdbToolError::Io(from.to_path_buf(), e))?;
    for entry in entries.flatten() {
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            std::fs::create_dir_all(&dst).map_err(|e| TsdbToolError::Io(dst.clone(), e))?;
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| TsdbToolError::Io(src.clone(), e))?;
        }
    }
    Ok(())
}

/// `tsdb list [-r] [<db path>]`.
pub(super) fn list_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut human = false;
    let mut db: Option<PathBuf> = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    "tsdb list",
                    "  -r, --human-readable  Print human readable values.\n",
                    DB_ARG,
                ))
            }
            Short('r') | Long("human-readable") => human = true,
            Value(v) if db.is_none() => db = Some(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    let db = db.unwrap_or_else(|| PathBuf::from("data/"));
    match list_blocks(&db, human) {
        Ok(text) => {
            print!("{text}");
            Ok(SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(FAILURE)
        }
    }
}

fn list_blocks(db: &Path, human: bool) -> Result<String, TsdbToolError> {
    Ok(format_blocks(&open_blocks(db)?, human, true))
}

/// upstream's `printBlocks`: a tab-aligned table, with or without header.
pub(super) fn format_blocks(blocks: &[Arc<Block>], human: bool, header: bool) -> String {
    let mut rows = vec![[
        "BLOCK ULID",
        "MIN TIME",
        "MAX TIME",
        "DURATION",
        "NUM SAMPLES",
        "NUM CHUNKS",
        "NUM SERIES",
        "SIZE",
    ]
    .map(String::from)];
    for b in blocks {
        let m = b.meta();
        let time = |t: i64| {
            if human {
                super::gotime::go_time_string_utc(t.div_euclid(1000) * 1000)
            } else {
                t.to_string()
            }
        };
        let size = block_size(b.dir());
        rows.push([
            m.ulid.clone(),
            time(m.min_time),
            time(m.max_time),
            go_duration_ms(m.max_time - m.min_time),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            m.stats.num_series.to_string(),
            if human {
                base2_bytes(size)
            } else {
                size.to_string()
            },
        ]);
    }
    if !header {
        rows.remove(0);
    }
    tabwrite(&rows, 13, 2)
}

/// Bytes of a block as upstream's `Block.Size`: chunks, index, tombstones
/// and meta.json.
fn block_size(dir: &Path) -> u64 {
    let len = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let chunks: u64 = std::fs::read_dir(dir.join("chunks"))
        .map(|d| d.flatten().map(|e| len(e.path())).sum())
        .unwrap_or(0);
    chunks + len(dir.join("index")) + len(dir.join("tombstones")) + len(dir.join("meta.json"))
}

/// Go's `text/tabwriter` with flags 0: every cell but a line's last padded
/// to the column's widest cell plus `padding`, at least `min_width`.
fn tabwrite<const N: usize>(rows: &[[String; N]], min_width: usize, padding: usize) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count() + padding).max(min_width);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < N {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `time.Duration.String()` for a whole number of milliseconds.
fn go_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if ms < 1000 {
        out.push_str(&format!("{ms}ms"));
        return out;
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s.to_string());
    if frac > 0 {
        out.push('.');
        out.push_str(format!("{frac:03}").trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// `units.Base2Bytes.String()`: `1KiB512B` style.
fn base2_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts = Vec::new();
    let mut n = n;
    for (i, unit) in UNITS.iter().enumerate() {
        if !n.is_multiple_of(1024) || (i == 0 && n == 0) {
            let suffix = if i == 0 { "B" } else { "iB" };
            parts.push(format!("{}{unit}{suffix}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// Output format of `tsdb dump`.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum DumpFormat {
    /// `labels value timestamp` lines (upstream's `tsdb dump`).
    Promql,
    /// OpenMetrics text with `# EOF` (upstream's `tsdb dump-openmetrics`).
    OpenMetrics,
}

/// `tsdb dump [--min-time] [--max-time] [--match] [<db path>]`.
pub(super) fn dump_command(
    mut parser: lexopt::Parser,
    format: DumpFormat,
) -> Result<u8, UsageError> {
    let mut min_time = i64::MIN;
    let mut max_time = i64::MAX;
    let mut matches: Vec<String> = Vec::new();
    let mut db: Option<PathBuf> = None;
    let words = match format {
        DumpFormat::Promql => "tsdb dump",
        DumpFormat::OpenMetrics => "tsdb dump-openmetrics",
    };
    let int = |s: String, flag: &str| -> Result<i64, UsageError> {
        s.parse().map_err(|_| {
            UsageError(format!(
                "strconv.ParseInt: parsing {s:?}: invalid syntax for --{flag}"
            ))
        })
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    words,
                    "      --min-time=-9223372036854775808\n                   Minimum timestamp to dump.\n      --max-time=9223372036854775807\n                   Maximum timestamp to dump.\n      --match={__name__=~'(?s:.*)'} ...\n                   Series selector. Can be specified multiple times.\n",
                    DB_ARG,
                ))
            }
            Long("min-time") => min_time = int(parser.value()?.string()?, "min-time")?,
            Long("max-time") => max_time = int(parser.value()?.string()?, "max-time")?,
            Long("match") => matches.push(parser.value()?.string()?),
            Value(v) if db.is_none() => db = Some(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    if matches.is_empty() {
        matches.push("{__name__=~'(?s:.*)'}".into());
    }
    let db = db.unwrap_or_else(|| PathBuf::from("data/"));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match dump(&db, min_time, max_time, &matches, format, &mut out) {
        Ok(()) => Ok(SUCCESS),
        // A reader that went away (`| head`) is not a failure.
        Err(TsdbToolError::Io(_, e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(SUCCESS),
        Err(e) => {
            eprintln!("{e}");
            Ok(FAILURE)
        }
    }
}

/// Every selected series over all blocks and the head, merged by labels,
/// samples in time order without duplicates (blocks may overlap).
fn collect_series(
    queriers: &[Box<dyn Querier>],
    matchers: &[Matcher],
) -> Result<BTreeMap<Labels, Vec<(i64, f64)>>, TsdbToolError> {
    let mut all: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for q in queriers {
        let set = q
            .select(true, None, matchers)
            .map_err(|e| TsdbToolError::Block(e.to_string()))?;
        for s in set {
            let s = s.map_err(|e| TsdbToolError::Block(e.to_string()))?;
            let samples = all.entry(s.labels().clone()).or_default();
            let mut it = s.iterator();
            while let Some(sample) = it.next() {
                samples.push(sample);
            }
        }
    }
    for samples in all.values_mut() {
        samples.sort_by_key(|s| s.0);
        samples.dedup_by_key(|s| s.0);
    }
    Ok(all)
}

fn dump(
    db: &Path,
    min_time: i64,
    max_time: i64,
    selectors: &[String],
    format: DumpFormat,
    out: &mut impl std::io::Write,
) -> Result<(), TsdbToolError> {
    let blocks = open_blocks(db)?;
    let mut queriers: Vec<Box<dyn Querier>> = blocks
        .iter()
        .map(|b| Box::new(b.querier(min_time, max_time)) as Box<dyn Querier>)
        .collect();
    if let Some(head) = open_head(db, &blocks)? {
        queriers.push(Box::new(head.querier(min_time, max_time)));
    }
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for sel in selectors {
        let matchers = parse_selector(sel).map_err(TsdbToolError::Selector)?;
        series.extend(collect_series(&queriers, &matchers)?);
    }
    let io = |e: std::io::Error| TsdbToolError::Io(PathBuf::from("stdout"), e);
    for (labels, samples) in &series {
        match format {
            DumpFormat::Promql => {
                let l = labels.to_string();
                for (t, v) in samples {
                    writeln!(out, "{l} {} {t}", format_go_g(*v)).map_err(io)?;
                }
            }
            DumpFormat::OpenMetrics => {
                let name = labels.metric_name().unwrap_or("");
                // Upstream prints the rest as `Labels.String()` (", "
                // separated, `{}` when empty) and the time as `%.3f` seconds.
                let rest = labels.without_metric_name().to_string();
                for (t, v) in samples {
                    if crate::model::is_stale_nan(*v) {
                        continue;
                    }
                    writeln!(
                        out,
                        "{name}{rest} {} {}",
                        format_go_g(*v),
                        format_openmetrics_ts(*t)
                    )
                    .map_err(io)?;
                }
            }
        }
    }
    if format == DumpFormat::OpenMetrics {
        writeln!(out, "# EOF").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// `%.3f` of the time in seconds.
fn format_openmetrics_ts(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// A series selector `name{label op "value", ...}` (the subset of PromQL
/// that `--match` takes).
pub(super) fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    let s = s.trim();
    let (name, rest) = match s.find('{') {
        Some(i) => (s[..i].trim(), &s[i..]),
        None => (s, ""),
    };
    let mut matchers = Vec::new();
    if !name.is_empty() {
        if !crate::model::labels::is_valid_legacy_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        matchers.push(Matcher::new(MatchType::Equal, "__name__", name).map_err(|e| e.to_string())?);
    }
    if !rest.is_empty() {
        let body = rest
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(|| format!("unclosed braces in {s:?}"))?;
        let mut chars = body.char_indices().peekable();
        loop {
            while chars
                .next_if(|(_, c)| c.is_whitespace() || *c == ',')
                .is_some()
            {}
            let Some(&(start, _)) = chars.peek() else {
                break;
            };
            let mut end = start;
            while let Some((i, c)) = chars.next_if(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
            {
                end = i + c.len_utf8();
            }
            let label = &body[start..end];
            if label.is_empty() {
                return Err(format!("expected label name in {s:?}"));
            }
            while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            let mut op = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| matches!(c, '=' | '!' | '~')) {
                op.push(c);
            }
            let kind = match op.as_str() {
                "=" => MatchType::Equal,
                "!=" => MatchType::NotEqual,
                "=~" => MatchType::Regex,
                "!~" => MatchType::NotRegex,
                _ => return Err(format!("unexpected operator {op:?} after {label:?}")),
            };
            while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            let Some((_, quote)) = chars.next().filter(|(_, c)| matches!(c, '"' | '\'' | '`'))
            else {
                return Err(format!("expected quoted value for label {label:?}"));
            };
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                if c == quote {
                    closed = true;
                    break;
                }
                if c == '\\' && quote != '`' {
                    match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(other) => value.push(other),
                        None => break,
                    }
                } else {
                    value.push(c);
                }
            }
            if !closed {
                return Err(format!("unterminated string for label {label:?}"));
            }
            matchers.push(Matcher::new(kind, label, &value).map_err(|e| e.to_string())?);
        }
    }
    if matchers.is_empty() {
        return Err(format!(
            "{s:?} selects nothing: give a metric name or label matchers"
        ));
    }
    Ok(matchers)
}

/// `tsdb analyze [--limit] [--match] [<db path>] [<block id>]`.
pub(super) fn analyze_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut limit = 20usize;
    let mut extended = false;
    let mut matches: Vec<String> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    "tsdb analyze",
                    "      --limit=20     How many items to show in each list.\n      --match=MATCH  Series selector to analyze. Only 1 set of matchers is\n                     supported now.\n      --extended     Run extended analysis.\n",
                    "  [<db path>]   Database path (default is data/).\n  [<block id>]  Block to analyze (default is the last block).\n",
                ))
            }
            Long("limit") => {
                let v = parser.value()?.string()?;
                limit = v.parse().map_err(|_| {
                    UsageError(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
                })?;
            }
            Long("match") => matches.push(parser.value()?.string()?),
            Long("extended") => extended = true,
            Value(v) if positional.len() < 2 => positional.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let db = PathBuf::from(positional.first().map_or("data/", String::as_str));
    let block_id = positional.get(1).map_or("", String::as_str);
    let matchers = match matches.first() {
        None => Vec::new(),
        Some(m) => match parse_selector(m) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{}", TsdbToolError::Selector(e));
                return Ok(FAILURE);
            }
        },
    };
    match analyze(&db, block_id, limit, &matchers, extended) {
        Ok(text) => {
            print!("{text}");
            Ok(SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(FAILURE)
        }
    }
}

/// upstream's `analyzeBlock`. Upstream orders ties in each list by map
/// iteration (randomly); here ties go by name so output is stable.
/// `extended` appends upstream 3.x's `analyzeCompaction` section.
fn analyze(
    db: &Path,
    block_id: &str,
    limit: usize,
    matchers: &[Matcher],
    extended: bool,
) -> Result<String, TsdbToolError> {
    use std::fmt::Write as _;
    let blocks = open_blocks(db)?;
    let block = if block_id.is_empty() {
        blocks.last()
    } else {
        blocks.iter().find(|b| b.meta().ulid == block_id)
    }
    .ok_or_else(|| TsdbToolError::Block(format!("block {block_id} not found")))?;
    let err = |e: crate::tsdb::TsdbError| TsdbToolError::Block(e.to_string());
    let serr = |e: crate::storage::StorageError| TsdbToolError::Block(e.to_string());
    let meta = block.meta();
    let span = meta.max_time - meta.min_time;
    let mut out = String::new();
    let _ = writeln!(out, "Block ID: {}", meta.ulid);
    let _ = writeln!(out, "Duration: {}", go_duration_ms(span));
    let _ = writeln!(out, "Series: {}", meta.stats.num_series);
    let q = block.querier(i64::MIN, i64::MAX);
    let names = q.label_names(&[]).map_err(serr)?;
    let _ = writeln!(out, "Label names: {}", names.len());

    let mut names_uncovered: BTreeMap<String, u64> = BTreeMap::new();
    let mut pairs_uncovered: BTreeMap<String, u64> = BTreeMap::new();
    let mut pairs_count: BTreeMap<String, u64> = BTreeMap::new();
    let mut entries = 0u64;
    for sref in block.postings_for_matchers(matchers).map_err(err)? {
        let (labels, chunks) = block.series(sref).map_err(err)?;
        let covered = match (chunks.first(), chunks.last()) {
            (Some(f), Some(l)) => l.max_t - f.min_t,
            _ => 0,
        };
        let uncovered = (span as u64).wrapping_sub(covered as u64);
        for l in labels.iter() {
            let key = format!("{}={}", l.name, l.value);
            *names_uncovered.entry(l.name.clone()).or_default() += uncovered;
            *pairs_uncovered.entry(key.clone()).or_default() += uncovered;
            *pairs_count.entry(key).or_default() += 1;
            entries += 1;
        }
    }
    let _ = writeln!(
        out,
        "Postings (unique label pairs): {}",
        pairs_uncovered.len()
    );
    let _ = writeln!(out, "Postings entries (total label pairs): {entries}");
    let print = |out: &mut String, title: &str, mut infos: Vec<(u64, String)>| {
        infos.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let _ = writeln!(out, "\n{title}:");
        for (m, k) in infos.into_iter().take(limit) {
            let _ = writeln!(out, "{m} {k}");
        }
    };
    let share = |m: u64| (m as f64 / span as f64) as u64;
    print(
        &mut out,
        "Label pairs most involved in churning",
        pairs_uncovered
            .iter()
            .map(|(k, m)| (share(*m), k.clone()))
            .collect(),
    );
    print(
        &mut out,
        "Label names most involved in churning",
        names_uncovered
            .iter()
            .map(|(k, m)| (share(*m), k.clone()))
            .collect(),
    );
    print(
        &mut out,
        "Most common label pairs",
        pairs_count.iter().map(|(k, m)| (*m, k.clone())).collect(),
    );
    let mut lengths = Vec::new();
    let mut cardinality = Vec::new();
    for n in &names {
        let values = q.label_values(n, &[]).map_err(serr)?;
        lengths.push((values.iter().map(|v| v.len() as u64).sum(), n.clone()));
        cardinality.push((values.len() as u64, n.clone()));
    }
    print(
        &mut out,
        "Label names with highest cumulative label value length",
        lengths,
    );
    print(&mut out, "Highest cardinality labels", cardinality);
    let mut metric_names = Vec::new();
    for n in q.label_values("__name__", &[]).map_err(serr)? {
        let m = Matcher::new(MatchType::Equal, "__name__", &n)
            .map_err(|e| TsdbToolError::Selector(e.to_string()))?;
        let count = block.postings_for_matchers(&[m]).map_err(err)?.len() as u64;
        metric_names.push((count, n));
    }
    print(&mut out, "Highest cardinality metric names", metric_names);
    if extended {
        out.push_str(&analyze_compaction(block, matchers)?);
    }
    Ok(out)
}

/// Upstream 3.x's `analyzeCompaction`: how full the selected series' chunks
/// are, as histograms of samples and bytes per chunk. promlite's block
/// reader reads XOR (float) chunks only, so a block holding native
/// histogram chunks fails here with the reader's "not supported" error
/// instead of printing the three histogram-chunk sections.
fn analyze_compaction(block: &Block, matchers: &[Matcher]) -> Result<String, TsdbToolError> {
    let err = |e: crate::tsdb::TsdbError| TsdbToolError::Block(e.to_string());
    let mut samples_per_chunk = Vec::new();
    let mut bytes_per_chunk = Vec::new();
    for sref in block.postings_for_matchers(matchers).map_err(err)? {
        let (_, chunks) = block.series(sref).map_err(err)?;
        for meta in chunks {
            let data = block.chunk(meta.chunk_ref).map_err(err)?;
            samples_per_chunk.push(u64::from(crate::tsdb::chunkenc::xor::num_samples(data)));
            bytes_per_chunk.push(data.len() as u64);
        }
    }
    let total = samples_per_chunk.len() as u64;
    let mut out = String::from("\nCompaction analysis:\n\n");
    out.push_str(&chunk_histogram(
        "samples per float chunk",
        samples_per_chunk,
        total,
    ));
    out.push_str(&chunk_histogram(
        "bytes per float chunk",
        bytes_per_chunk,
        total,
    ));
    for what in [
        "samples per histogram chunk",
        "bytes per histogram chunk",
        "buckets per histogram chunk",
    ] {
        out.push_str(&chunk_histogram(what, Vec::new(), total));
    }
    Ok(out)
}

/// Upstream's `displayHistogram`: min/avg/max (integer average), then one
/// line per bucket with a bar of one `#` per percent of all chunks.
fn chunk_histogram(what: &str, mut data: Vec<u64>, total: u64) -> String {
    use std::fmt::Write as _;
    let (Some(&min), Some(&max)) = (data.iter().min(), data.iter().max()) else {
        return format!("{what}: N/A\n\n");
    };
    data.sort_unstable();
    let (start, end, step) = histogram_buckets(min, max);
    let mut buckets = vec![0u64; ((end - start) / step + 1) as usize];
    for c in &data {
        if let Some(b) = buckets.get_mut(((c - start) / step) as usize) {
            *b += 1;
        }
    }
    let max_count = buckets.iter().copied().max().unwrap_or(0);
    let avg = data.iter().sum::<u64>() / data.len() as u64;
    let mut out = format!("{what} (min/avg/max): {min}/{avg}/{max}\n");
    let left = end.to_string().len();
    let right = (end + step).to_string().len();
    let width = max_count.to_string().len();
    for (i, count) in buckets.iter().enumerate() {
        let i = i as u64;
        let bar = "#".repeat((100 * count).checked_div(total).unwrap_or(0) as usize);
        let _ = writeln!(
            out,
            "[{:>left$}, {:>right$}]: {count:>width$} {bar}",
            i * step + start + 1,
            (i + 1) * step + start,
        );
    }
    out.push('\n');
    out
}

/// Upstream's `generateBucket`: a power-of-ten step (10 at least) giving
/// about ten buckets, the range aligned to it.
fn histogram_buckets(min: u64, max: u64) -> (u64, u64, u64) {
    let spread = (max - min) / 10;
    let mut step = 10;
    while step < spread && step <= 10_000 {
        step *= 10;
    }
    (min - min % step, max - max % step + step, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms(7_200_000), "2h0m0s");
        assert_eq!(go_duration_ms(60_000), "1m0s");
        assert_eq!(go_duration_ms(1_500), "1.5s");
        assert_eq!(go_duration_ms(250), "250ms");
        assert_eq!(go_duration_ms(0), "0s");
    }

    #[test]
    fn base2_byte_strings() {
        assert_eq!(base2_bytes(0), "0B");
        assert_eq!(base2_bytes(1536), "1KiB512B");
        assert_eq!(base2_bytes(2 * 1024 * 1024), "2MiB");
    }

    #[test]
    fn tabwriter_pads_all_but_last_column() {
        let rows = [
            ["A".to_string(), "BB".to_string()],
            ["CCCCCCCCCCCCCC".to_string(), "D".to_string()],
        ];
        assert_eq!(
            tabwrite(&rows, 13, 2),
            "A               BB\nCCCCCCCCCCCCCC  D\n"
        );
    }

    #[test]
    fn chunk_histograms_as_upstream_draws_them() {
        assert_eq!(chunk_histogram("bytes", Vec::new(), 0), "bytes: N/A\n\n");
        // Four chunks: 3 of 120 samples, 1 of 37; step 10 over [30, 130].
        let text = chunk_histogram("samples", vec![120, 37, 120, 120], 4);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"samples (min/avg/max): 37/99/120"));
        assert_eq!(
            lines.get(1),
            Some(&"[ 31,  40]: 1 #########################")
        );
        // Upstream's off-by-one labels: 120 lands in the bucket shown as [121, 130].
        let full = format!("[121, 130]: 3 {}", "#".repeat(75));
        assert_eq!(lines.get(10), Some(&full.as_str()));
        assert_eq!(lines.get(11), Some(&"[131, 140]: 0 "));
        assert_eq!(lines.len(), 13);
        assert!(text.ends_with("\n\n"));
        assert_eq!(histogram_buckets(37, 120), (30, 130, 10));
        assert_eq!(histogram_buckets(0, 5000), (0, 6000, 1000));
    }

    #[test]
    fn selectors() {
        let m = parse_selector("{__name__=~'(?s:.*)'}").unwrap_or_default();
        assert_eq!(m.len(), 1);
        let m = parse_selector("up{job=\"a\\\"b\", instance!~`x.*`}").unwrap_or_default();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(1).map(|m| m.value.as_str()), Some("a\"b"));
        assert!(parse_selector("up{job=}").is_err());
        assert!(parse_selector("{}").is_err());
    }
}
