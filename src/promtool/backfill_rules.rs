//! `tsdb create-blocks-from rules`: promtool's rule importer. Each rule of
//! each group is evaluated by the server at `--url` with range queries over
//! `[--start, --end]`, one query per block range, at the group's interval
//! and aligned as upstream's rule groups align evaluations (a per-group
//! offset from the xxhash of the group's name and file); every non-empty
//! result is written as one block, labelled with the rule's labels and
//! named after the rule. As upstream 2.x does, alerting rules are imported
//! too (under the alert's name).

use std::collections::BTreeMap;
use std::path::PathBuf;

use lexopt::prelude::*;
use serde::Deserialize;

use super::backfill::{block_duration, write_samples_block};
use super::gotime::{parse_time, Instant};
use super::query::{ApiClient, QueryValue};
use super::{command_help, UsageError, FAILURE, SUCCESS};
use crate::model::value::format_go_f;
use crate::model::{Label, Labels};

const NANOS_PER_SEC: i128 = 1_000_000_000;

#[derive(Deserialize)]
struct RuleFile {
    #[serde(default)]
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    expr: serde_yaml::Value,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Settings of one import run.
struct Importer {
    client: ApiClient,
    out_dir: PathBuf,
    start: Instant,
    end: Instant,
    block_ms: i64,
}

pub(super) fn rules_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut url = String::from("http://localhost:9090");
    let mut start = None;
    let mut end = None;
    let mut out_dir = PathBuf::from("data/");
    let mut eval_ms = 60_000i64;
    let mut max_block_ms = 0i64;
    let mut files: Vec<String> = Vec::new();
    let duration = |v: String| {
        crate::model::duration::parse_duration(&v)
            .map_err(|_| UsageError(format!("time: invalid duration \"{v}\"")))
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => {
                print!(
                    "{}",
                    command_help(
                        "tsdb create-blocks-from rules",
                        "      --url=http://localhost:9090\n                     The URL for the Prometheus API with the data where\n                     the rule will be backfilled from.\n      --start=START  The time to start backfilling the new rule from.\n      --end=END      Backfill up to this time (default: 3 hours ago).\n      --output-dir=\"data/\"\n                     Output directory for generated blocks.\n      --eval-interval=60s\n                     How frequently to evaluate rules when backfilling if a\n                     value is not set in the recording rule files.\n",
                        "  <rule-files>  A list of one or more files containing recording rules to be\n                backfilled.\n"
                    )
                );
                return Ok(SUCCESS);
            }
            Long("url") => url = parser.value()?.string()?,
            Long("start") => start = Some(parser.value()?.string()?),
            Long("end") => end = Some(parser.value()?.string()?),
            Long("output-dir") => out_dir = PathBuf::from(parser.value()?.string()?),
            Long("eval-interval") => eval_ms = duration(parser.value()?.string()?)?,
            Long("max-block-duration") => max_block_ms = duration(parser.value()?.string()?)?,
            Short('r') | Long("human-readable") | Short('q') | Long("quiet") => {}
            Value(v) => files.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let Some(start) = start else {
        return Err(UsageError("required flag --start not provided".into()));
    };
    if files.is_empty() {
        return Err(UsageError(
            "required argument 'rule-files' not provided".into(),
        ));
    }
    let end = match end {
        None => Instant::now().add_nanos(-3 * 3600 * NANOS_PER_SEC),
        Some(e) => match parse_time(&e) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error parsing end time: {e}");
                return Ok(FAILURE);
            }
        },
    };
    let start = match parse_time(&start) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error parsing start time: {e}");
            return Ok(FAILURE);
        }
    };
    if start >= end {
        eprintln!("start time is not before end time");
        return Ok(FAILURE);
    }
    let client = match ApiClient::plain(&url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("new api client error: {e}");
            return Ok(FAILURE);
        }
    };
    let importer = Importer {
        client,
        out_dir,
        start,
        end,
        block_ms: block_duration(max_block_ms),
    };
    let mut groups = Vec::new();
    for f in &files {
        let parsed = std::fs::read_to_string(f)
            .map_err(|e| super::io_reason(&e))
            .and_then(|t| serde_yaml::from_str::<RuleFile>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(rf) => groups.extend(rf.groups.into_iter().map(|g| (f.clone(), g))),
            Err(e) => {
                eprintln!("rule importer parse error {f}: {e}");
                return Ok(FAILURE);
            }
        }
    }
    let mut failed = false;
    for (file, group) in &groups {
        let interval_ms = match &group.interval {
            None => eval_ms,
            Some(i) => {
                match crate::model::duration::parse_duration(i) {
                    Ok(ms) if ms > 0 => ms,
                    _ => {
                        eprintln!("rule importer parse error {file}: invalid interval {i:?} in group {:?}", group.name);
                        return Ok(FAILURE);
                    }
                }
            }
        };
        let offset_ns = group_offset_ns(&group.name, file, interval_ms);
        for rule in &group.rules {
            let Some(name) = rule.record.as_ref().or(rule.alert.as_ref()) else {
                continue;
            };
            let expr = match &rule.expr {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .map(|s| s.trim_end().to_string())
                    .unwrap_or_default(),
            };
            if let Err(e) = importer.import_rule(&expr, name, &rule.labels, interval_ms, offset_ns)
            {
                eprintln!("rule importer error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { FAILURE } else { SUCCESS })
}

impl Importer {
    /// upstream's `importRule`: one range query and one block per block range.
    fn import_rule(
        &self,
        expr: &str,
        name: &str,
        rule_labels: &BTreeMap<String, String>,
        interval_ms: i64,
        offset_ns: i128,
    ) -> Result<(), String> {
        let interval_ns = i128::from(interval_ms) * 1_000_000;
        let start_s = self.start.nanos.div_euclid(NANOS_PER_SEC) as i64;
        let end_s = self.end.nanos.div_euclid(NANOS_PER_SEC) as i64;
        let (start_ms, end_ms) = (start_s * 1000, end_s * 1000);
        let mut block_start = self.block_ms * (start_ms / self.block_ms);
        while block_start <= end_ms {
            let block_end = block_start + self.block_ms - 1;
            let curr_start = (block_start / 1000).max(start_s);
            let mut aligned = eval_timestamp_ns(
                i128::from(curr_start) * NANOS_PER_SEC,
                interval_ns,
                offset_ns,
            );
            while aligned.div_euclid(NANOS_PER_SEC) < i128::from(curr_start) {
                aligned += interval_ns;
            }
            let end = i128::from((block_end / 1000).min(end_s)) * NANOS_PER_SEC;
            if end < aligned {
                break;
            }
            let params = [
                ("query", expr.to_string()),
                ("start", Instant { nanos: aligned }.api_param()),
                ("end", Instant { nanos: end }.api_param()),
                ("step", format_go_f(interval_ms as f64 / 1000.0)),
            ];
            let data = self
                .client
                .call("/api/v1/query_range", &params, true)
                .map_err(|e| format!("query range: {e}"))?;
            let value = QueryValue::from_api(&data).map_err(|e| format!("query range: {e}"))?;
            let QueryValue::Matrix(streams) = value else {
                return Err("rule result is wrong type".into());
            };
            let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
            for (metric, values) in streams {
                let mut merged = metric;
                merged.extend(rule_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged.insert("__name__".into(), name.to_string());
                let labels = Labels::new(
                    merged
                        .into_iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| Label::new(k, v))
                        .collect(),
                );
                series
                    .entry(labels)
                    .or_default()
                    .extend(values.iter().map(|p| (p.t_ms, p.v)));
            }
            write_samples_block(&self.out_dir, series.into_iter().collect())
                .map_err(|e| format!("flush and commit: {e}"))?;
            block_start += self.block_ms;
        }
        Ok(())
    }
}

/// A group's evaluation offset within its interval: upstream hashes the
/// label set `{file=..., name=...}` (`labels.Hash`, xxhash64).
fn group_offset_ns(name: &str, file: &str, interval_ms: i64) -> i128 {
    let mut b = Vec::with_capacity(name.len() + file.len() + 12);
    for (k, v) in [("file", file), ("name", name)] {
        b.extend_from_slice(k.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    let interval_ns = (interval_ms as u64).wrapping_mul(1_000_000);
    if interval_ns == 0 {
        return 0;
    }
    i128::from(xxhash64(&b) % interval_ns)
}

/// upstream's `Group.EvalTimestamp`.
fn eval_timestamp_ns(start_ns: i128, interval_ns: i128, offset_ns: i128) -> i128 {
    let adj = start_ns - offset_ns;
    // Go's % keeps the dividend's sign; times here are after 1970.
    let base = adj - adj % interval_ns;
    base + offset_ns
}

/// XXH64 with seed 0 (as Go's cespare/xxhash `Sum64`).
fn xxhash64(input: &[u8]) -> u64 {
    const P1: u64 = 11400714785074694791;
    const P2: u64 = 14029467366897019727;
    const P3: u64 = 1609587929392839161;
    const P4: u64 = 9650029242287828579;
    const P5: u64 = 2870177450012600261;
    fn round(acc: u64, input: u64) -> u64 {
        acc.wrapping_add(input.wrapping_mul(P2))
            .rotate_left(31)
            .wrapping_mul(P1)
    }
    fn merge(acc: u64, val: u64) -> u64 {
        (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
    }
    fn read64(b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(a)
    }
    fn read32(b: &[u8]) -> u64 {
        let mut a = [0u8; 4];
        a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
        u64::from(u32::from_le_bytes(a))
    }
    let len = input.len() as u64;
    let mut rest = input;
    let mut h = if input.len() >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        while rest.len() >= 32 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, read64(rest.get(i * 8..).unwrap_or_default()));
            }
            rest = rest.get(32..).unwrap_or_default();
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for x in v {
            h = merge(h, x);
        }
        h
    } else {
        P5
    };
    h = h.wrapping_add(len);
    while rest.len() >= 8 {
        h ^= round(0, read64(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = rest.get(8..).unwrap_or_default();
    }
    if rest.len() >= 4 {
        h ^= read32(rest).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = rest.get(4..).unwrap_or_default();
    }
    for &b in rest {
        h ^= u64::from(b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxhash64_reference_values() {
        assert_eq!(xxhash64(b""), 0xEF46DB3751D8E999);
        assert_eq!(xxhash64(b"a"), 0xD24EC4F1A98C6E5B);
        assert_eq!(xxhash64(b"abc"), 0x44BC2CF5AD770999);
        assert_eq!(
            xxhash64(b"Nobody inspects the spammish repetition"),
            0xFBCEA83C8A378BF1
        );
    }

    #[test]
    fn eval_timestamps_keep_the_group_offset() {
        let interval = 10 * NANOS_PER_SEC;
        let t = eval_timestamp_ns(1_000_000_005 * NANOS_PER_SEC, interval, 3 * NANOS_PER_SEC);
        assert_eq!(t, 1_000_000_003 * NANOS_PER_SEC);
        assert!(group_offset_ns("g", "f.yml", 10_000) < interval);
    }
}
