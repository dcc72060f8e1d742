//! `tsdb create-blocks-from openmetrics FILE [DIR]`: promtool's backfill.
//!
//! The OpenMetrics input is read once into interned series and samples,
//! cut into block ranges as upstream cuts them (2h, or the largest of
//! upstream's exponential ranges not above `--max-block-duration`), and each
//! range is written as one block with `tsdb::block::write_block`: series in
//! label order, XOR chunks of at most 120 samples, `maxTime` one past the
//! last sample. Created blocks are listed as `tsdb list` prints them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use lexopt::prelude::*;

use super::tsdb::format_blocks;
use super::{
    print_command_help, read_quoted_value, QuotedValueError, UsageError, FAILURE, SUCCESS,
};
use crate::model::{Label, Labels};
use crate::tsdb::block::{write_block, Block, ChunkData};
use crate::tsdb::chunkenc::XorAppender;

/// Upstream's `DefaultBlockDuration`, in milliseconds.
const DEFAULT_BLOCK_MS: i64 = 2 * 3600 * 1000;
/// Samples per chunk, as upstream's head cuts them.
const SAMPLES_PER_CHUNK: usize = 120;

/// What stops a backfill.
#[derive(Debug)]
pub enum BackfillError {
    /// A line of the input that does not parse (1-based line number).
    Parse(usize, String),
    Sample(String),
    Block(String),
}

impl std::fmt::Display for BackfillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackfillError::Parse(line, e) => {
                write!(f, "getting min and max timestamp: next: line {line}: {e}")
            }
            BackfillError::Sample(e) => write!(f, "add sample: {e}"),
            BackfillError::Block(e) => write!(f, "flush: {e}"),
        }
    }
}

pub(super) fn openmetrics_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut human = false;
    let mut quiet = false;
    let mut max_block_ms = DEFAULT_BLOCK_MS;
    let mut positional: Vec<String> = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(print_command_help(
                    "tsdb create-blocks-from openmetrics",
                    "  -r, --human-readable  Print human readable values.\n  -q, --quiet           Do not print created blocks.\n      --max-block-duration=2h\n                        Maximum duration created blocks may span.\n",
                    "  <input file>          OpenMetrics file to read samples from.\n  [<output directory>]  Output directory for generated blocks.\n",
                ))
            }
            Short('r') | Long("human-readable") => human = true,
            Short('q') | Long("quiet") => quiet = true,
            Long("max-block-duration") => {
                let v = parser.value()?.string()?;
                max_block_ms = crate::model::duration::parse_duration(&v)
                    .map_err(|_| UsageError(format!("time: invalid duration \"{v}\"")))?;
            }
            Value(v) => positional.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let Some(input) = positional.first() else {
        return Err(UsageError(
            "required argument 'input file' not provided".into(),
        ));
    };
    if let Some(extra) = positional.get(2) {
        return Err(UsageError(format!("unexpected {extra}")));
    }
    let out_dir = PathBuf::from(positional.get(1).map_or("data/", String::as_str));
    let text = match std::fs::read(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("open {input}: {}", super::io_reason(&e));
            return Ok(FAILURE);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("create output dir: {}", super::io_reason(&e));
        return Ok(FAILURE);
    }
    let text = String::from_utf8_lossy(&text);
    match backfill(&text, &out_dir, block_duration(max_block_ms)) {
        Ok(blocks) => {
            if !quiet {
                for (i, b) in blocks.iter().enumerate() {
                    print!("{}", format_blocks(std::slice::from_ref(b), human, i == 0));
                }
            }
            Ok(SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(FAILURE)
        }
    }
}

/// upstream's `getCompatibleBlockDuration`: 2h, or the largest of
/// `ExponentialBlockRanges(2h, 10, 3)` not above the asked maximum.
pub fn block_duration(max_ms: i64) -> i64 {
    if max_ms <= DEFAULT_BLOCK_MS {
        return DEFAULT_BLOCK_MS;
    }
    let ranges: Vec<i64> = (0..10).map(|i| DEFAULT_BLOCK_MS * 3i64.pow(i)).collect();
    let mut chosen = ranges.last().copied().unwrap_or(DEFAULT_BLOCK_MS);
    for (i, r) in ranges.iter().enumerate() {
        if *r > max_ms {
            chosen = ranges
                .get(i.wrapping_sub(1))
                .copied()
                .unwrap_or(DEFAULT_BLOCK_MS);
            break;
        }
    }
    chosen
}

/// The parsed input: interned series and their samples in file order.
#[derive(Default)]
pub struct OpenMetricsInput {
    pub series: Vec<Labels>,
    /// (series index, timestamp ms, value).
    pub samples: Vec<(u32, i64, f64)>,
}

/// Reads OpenMetrics text; every sample needs a timestamp and the text
/// must end with `# EOF`.
pub fn parse_openmetrics(text: &str) -> Result<OpenMetricsInput, BackfillError> {
    let mut input = OpenMetricsInput::default();
    let mut ids: HashMap<Labels, u32> = HashMap::new();
    let mut saw_eof = false;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if saw_eof {
            return Err(BackfillError::Parse(
                line_no,
                "unexpected data after # EOF".into(),
            ));
        }
        if line.starts_with('#') {
            if line == "# EOF" {
                saw_eof = true;
            }
            continue;
        }
        if line.is_empty() {
            return Err(BackfillError::Parse(line_no, "invalid empty line".into()));
        }
        let (labels, v, ts) =
            parse_sample_line(line).map_err(|e| BackfillError::Parse(line_no, e))?;
        let Some(ts) = ts else {
            return Err(BackfillError::Sample(format!(
                "expected timestamp for series {labels}, got none"
            )));
        };
        let next_id = input.series.len() as u32;
        let id = *ids.entry(labels).or_insert_with_key(|l| {
            input.series.push(l.clone());
            next_id
        });
        input.samples.push((id, ts, v));
    }
    if !saw_eof {
        return Err(BackfillError::Parse(
            text.lines().count(),
            "data does not end with # EOF".into(),
        ));
    }
    Ok(input)
}

/// `name{a="b",...} value [timestamp] [# exemplar]`.
fn parse_sample_line(line: &str) -> Result<(Labels, f64, Option<i64>), String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return Err(format!("invalid metric name in {line:?}"));
    }
    let mut labels = vec![Label::new("__name__", name)];
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut end = None;
        loop {
            let mut label = String::new();
            let mut has_eq = false;
            for (i, c) in chars.by_ref() {
                match c {
                    '}' if label.trim().is_empty() => {
                        end = Some(i + 1);
                        break;
                    }
                    '=' => {
                        has_eq = true;
                        break;
                    }
                    ',' | ' ' if label.is_empty() => {}
                    c => label.push(c),
                }
            }
            if !has_eq {
                break;
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("expected label value for {label:?}"));
            }
            let value = read_quoted_value(&mut chars).map_err(|e| match e {
                QuotedValueError::BadEscape(c) => format!("invalid escape \\{}", c.unwrap_or(' ')),
                QuotedValueError::Unterminated(_) => {
                    format!("unterminated value for label {label:?}")
                }
            })?;
            labels.push(Label::new(label.trim(), value));
        }
        let end = end.ok_or("unterminated label set")?;
        rest = body.get(end..).unwrap_or("");
    }
    let rest = rest.split(" # ").next().unwrap_or("");
    let mut fields = rest.split(' ').filter(|f| !f.is_empty());
    let v = fields.next().ok_or("expected value")?;
    let v: f64 = v.parse().map_err(|_| format!("invalid value {v:?}"))?;
    let ts = match fields.next() {
        None => None,
        Some(t) => {
            let secs: f64 = t.parse().map_err(|_| format!("invalid timestamp {t:?}"))?;
            if !secs.is_finite() {
                return Err(format!("invalid timestamp {t:?}"));
            }
            Some((secs * 1000.0).round() as i64)
        }
    };
    Ok((Labels::new(labels), v, ts))
}

/// A series' encoded chunks and each chunk's (min, max) time.
type SeriesChunks = (Labels, Vec<Vec<u8>>, Vec<(i64, i64)>);

/// Writes one block per block range holding samples; returns them opened,
/// in time order.
pub fn backfill(
    text: &str,
    out_dir: &Path,
    block_ms: i64,
) -> Result<Vec<std::sync::Arc<Block>>, BackfillError> {
    let input = parse_openmetrics(text)?;
    // range start → series → samples in file order.
    let mut ranges: BTreeMap<i64, HashMap<u32, Vec<(i64, f64)>>> = BTreeMap::new();
    for &(id, t, v) in &input.samples {
        let start = t.div_euclid(block_ms) * block_ms;
        ranges
            .entry(start)
            .or_default()
            .entry(id)
            .or_default()
            .push((t, v));
    }
    let mut blocks = Vec::new();
    for per_series in ranges.into_values() {
        let mut series = Vec::with_capacity(per_series.len());
        for (id, mut samples) in per_series {
            let labels = input.series.get(id as usize).cloned().unwrap_or_default();
            check_order(&labels, &mut samples)?;
            series.push((labels, samples));
        }
        if let Some(block) = write_samples_block(out_dir, series).map_err(BackfillError::Block)? {
            blocks.push(block);
        }
    }
    Ok(blocks)
}

/// Writes series (samples in time order) as one block spanning their
/// samples, in XOR chunks of at most 120 samples; `None` when there is
/// nothing to write (upstream writes no empty blocks).
pub fn write_samples_block(
    out_dir: &Path,
    series: Vec<(Labels, Vec<(i64, f64)>)>,
) -> Result<Option<std::sync::Arc<Block>>, String> {
    let mut chunks: Vec<SeriesChunks> = Vec::new();
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    for (labels, samples) in series {
        let mut datas = Vec::new();
        let mut bounds = Vec::new();
        for part in samples.chunks(SAMPLES_PER_CHUNK) {
            let mut app = XorAppender::with_capacity(part.len() * 2 + 16);
            for &(t, v) in part {
                app.append(t, v);
            }
            let (lo, hi) = (
                part.first().map_or(0, |s| s.0),
                part.last().map_or(0, |s| s.0),
            );
            mint = mint.min(lo);
            maxt = maxt.max(hi);
            datas.push(app.into_bytes());
            bounds.push((lo, hi));
        }
        if !datas.is_empty() {
            chunks.push((labels, datas, bounds));
        }
    }
    if chunks.is_empty() {
        return Ok(None);
    }
    let series: Vec<(Labels, Vec<ChunkData<'_>>)> = chunks
        .iter()
        .map(|(l, datas, bounds)| {
            let cd = datas
                .iter()
                .zip(bounds)
                .map(|(d, (lo, hi))| ChunkData {
                    min_t: *lo,
                    max_t: *hi,
                    data: d,
                })
                .collect();
            (l.clone(), cd)
        })
        .collect();
    let meta = write_block(out_dir, series, mint, maxt + 1).map_err(|e| e.to_string())?;
    Block::open(&out_dir.join(&meta.ulid))
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The head's append rules: time must not go back within a series; a
/// repeated timestamp is dropped when the value is the same and refused
/// otherwise.
fn check_order(labels: &Labels, samples: &mut Vec<(i64, f64)>) -> Result<(), BackfillError> {
    let mut prev: Option<(i64, f64)> = None;
    let mut out_of_order = None;
    samples.retain(|&(t, v)| {
        if let Some((pt, pv)) = prev {
            if t < pt || (t == pt && v.to_bits() != pv.to_bits()) {
                out_of_order.get_or_insert((t, t == pt));
                return false;
            }
            if t == pt {
                return false;
            }
        }
        prev = Some((t, v));
        true
    });
    match out_of_order {
        None => Ok(()),
        Some((t, true)) => Err(BackfillError::Sample(format!(
            "duplicate sample for timestamp {t} in series {labels}"
        ))),
        Some((t, false)) => Err(BackfillError::Sample(format!(
            "out of order sample at {t} in series {labels}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_durations_follow_upstream_ranges() {
        assert_eq!(block_duration(3600 * 1000), DEFAULT_BLOCK_MS);
        assert_eq!(block_duration(DEFAULT_BLOCK_MS), DEFAULT_BLOCK_MS);
        assert_eq!(block_duration(24 * 3600 * 1000), 18 * 3600 * 1000);
    }

    #[test]
    fn label_values_unescape_and_report_bad_quoting() {
        let (labels, v, ts) =
            parse_sample_line("m{a=\"x\\\\y\\n\\\"\"} 1 2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(labels.get("a"), Some("x\\y\n\""));
        assert_eq!((v, ts), (1.0, Some(2000)));
        assert_eq!(
            parse_sample_line("m{a=\"x\\t\"} 1"),
            Err("invalid escape \\t".into())
        );
        assert_eq!(
            parse_sample_line("m{a=\"x"),
            Err("unterminated value for label \"a\"".into())
        );
    }

    #[test]
    fn parses_dump_openmetrics_output() {
        let text = "# HELP up x\n# TYPE up gauge\nup{instance=\"a\", job=\"b\"} 1 1700000000.250\nup{} 2 1700000001.000\nother_total 3 1700000002 # {trace_id=\"x\"} 1\n# EOF\n";
        let input = parse_openmetrics(text).unwrap_or_default();
        assert_eq!(input.series.len(), 3);
        assert_eq!(input.samples.first(), Some(&(0, 1_700_000_000_250, 1.0)));
        assert_eq!(input.samples.get(2), Some(&(2, 1_700_000_002_000, 3.0)));
    }

    #[test]
    fn refuses_missing_eof_and_timestamps() {
        let e = parse_openmetrics("a 1 1\n").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("getting min and max timestamp: next: line 1: data does not end with # EOF")
        );
        let e = parse_openmetrics("a 1\n# EOF\n")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("add sample: expected timestamp for series {__name__=\"a\"}, got none")
        );
    }

    #[test]
    fn backfill_writes_readable_blocks_per_range() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut text = String::new();
        for i in 0..300 {
            // Two hours and a bit: two blocks.
            text.push_str(&format!("m{{a=\"1\"}} {i} {}\n", i * 30));
        }
        text.push_str("# EOF\n");
        let blocks = backfill(&text, dir.path(), DEFAULT_BLOCK_MS).unwrap_or_default();
        assert_eq!(blocks.len(), 2);
        let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
        assert_eq!(
            metas.first().map(|m| (m.min_time, m.max_time)),
            Some((0, 7_170_001))
        );
        assert_eq!(metas.first().map(|m| m.stats.num_samples), Some(240));
        assert_eq!(metas.first().map(|m| m.stats.num_chunks), Some(2));
        assert_eq!(metas.get(1).map(|m| m.stats.num_samples), Some(60));
    }

    #[test]
    fn out_of_order_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let e = backfill("a 1 10\na 2 5\n# EOF\n", dir.path(), DEFAULT_BLOCK_MS)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("add sample: out of order sample at 5000 in series {__name__=\"a\"}")
        );
    }
}
