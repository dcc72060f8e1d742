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
use super::gotime::{parse_time_range, Instant};
use super::query::{ApiClient, QueryValue};
use super::{print_command_help, UsageError, FAILURE, SUCCESS};
use crate::model::value::format_go_f;
use crate::model::{Label, Labels};
use crate::rules::schedule::{eval_timestamp_ns, group_offset_ns};

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
                return Ok(print_command_help(
                    "tsdb create-blocks-from rules",
                    "      --url=http://localhost:9090\n                     The URL for the Prometheus API with the data where\n                     the rule will be backfilled from.\n      --start=START  The time to start backfilling the new rule from.\n      --end=END      Backfill up to this time (default: 3 hours ago).\n      --output-dir=\"data/\"\n                     Output directory for generated blocks.\n      --eval-interval=60s\n                     How frequently to evaluate rules when backfilling if a\n                     value is not set in the recording rule files.\n",
                    "  <rule-files>  A list of one or more files containing recording rules to be\n                backfilled.\n",
                ))
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
    // --start is required here, so start never takes a default.
    let range = parse_time_range(
        Some(&start),
        end.as_deref(),
        || Instant::now().add_nanos(-3 * 3600 * NANOS_PER_SEC),
        |end| end,
    );
    let (start, end) = match range {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return Ok(FAILURE);
        }
    };
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
