//! promtool's `check rules` and `test rules`, with upstream's output and exit
//! codes (`cmd/promtool/rules.go`, `unittest.go`). The unit-test runner loads
//! `input_series` into in-memory storage, evaluates every group at each
//! `evaluation_interval` step from the start time, checks `alert_rule_test`
//! against firing alerts and `promql_expr_test` against instant queries.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::model::duration::{format_duration, parse_duration};
use crate::model::{Label, Labels};
use crate::promql::{Engine, EngineOpts, Value as PromValue};
use crate::storage::memory::MemStorage;
use crate::telemetry::Registry;
use crate::template::funcs::format_go_duration;

use super::alerting::AlertState;
use super::group::{Group, Rule};
use super::manager::{ManagerOptions, RuleManager};
use super::rulefmt::{self, ParseOptions, RuleGroups};
use super::{check_expr, cmp_labels, EngineQueryFunc};

pub const SUCCESS_EXIT_CODE: i32 = 0;
pub const FAILURE_EXIT_CODE: i32 = 1;
/// Exit code when `--lint-fatal` turns lint findings into a failure.
pub const LINT_ERR_EXIT_CODE: i32 = 3;

/// Where the commands print; stdout and stderr in the tool, buffers in tests.
pub struct Output<'a> {
    pub out: &'a mut dyn std::io::Write,
    pub err: &'a mut dyn std::io::Write,
}

macro_rules! outln {
    ($w:expr) => {{ let _ = writeln!($w); }};
    ($w:expr, $($a:tt)*) => {{ let _ = writeln!($w, $($a)*); }};
}

/// `check rules [--lint=...] [--lint-fatal] [--ignore-unknown-fields] FILE...`
pub fn check_rules_cmd(args: &[String], o: &mut Output<'_>) -> i32 {
    let mut lint = "duplicate-rules".to_string();
    let mut lint_fatal = false;
    let mut ignore_unknown = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--lint-fatal" => lint_fatal = true,
            "--ignore-unknown-fields" => ignore_unknown = true,
            "--lint" => lint = it.next().cloned().unwrap_or_default(),
            s if s.starts_with("--lint=") => lint = s["--lint=".len()..].to_string(),
            s if s.starts_with("--") => {
                outln!(
                    o.err,
                    "promlite-tool: error: unknown long flag '{s}', try --help"
                );
                return FAILURE_EXIT_CODE;
            }
            _ => files.push(a.clone()),
        }
    }
    let mut lint_dups = false;
    for setting in lint.split(',') {
        match setting {
            "all" | "duplicate-rules" => lint_dups = true,
            "none" => {}
            other => outln!(o.out, "WARNING: unknown lint option: {other:?}"),
        }
    }
    let opts = ParseOptions {
        ignore_unknown_fields: ignore_unknown,
        legacy_names: false,
        parse_expr: Some(&check_expr),
    };
    let mut failed = false;
    let mut has_errors = false;
    let mut inputs: Vec<(String, Result<String, String>)> = Vec::new();
    if files.is_empty() {
        let mut s = String::new();
        let r = std::io::stdin()
            .read_to_string(&mut s)
            .map(|_| s)
            .map_err(|e| e.to_string());
        inputs.push(("standard input".into(), r));
    } else {
        for f in &files {
            inputs.push((f.clone(), Ok(String::new())));
        }
    }
    for (name, content) in inputs {
        outln!(o.out, "Checking {name}");
        let parsed = if files.is_empty() {
            match content {
                Ok(c) => rulefmt::parse(&c, &opts)
                    .map_err(|e| e.into_iter().map(|e| e.0).collect::<Vec<_>>()),
                Err(e) => Err(vec![e]),
            }
        } else {
            rulefmt::parse_file(&name, &opts).map_err(|e| e.into_iter().map(|e| e.0).collect())
        };
        match parsed {
            Err(errs) => {
                outln!(o.err, "  FAILED:");
                for e in errs {
                    outln!(o.err, "{e}");
                }
                failed = true;
                has_errors = true;
            }
            Ok(rgs) => {
                let n: usize = rgs.groups.iter().map(|g| g.rules.len()).sum();
                let dups = if lint_dups {
                    duplicate_rules(&rgs)
                } else {
                    Vec::new()
                };
                if dups.is_empty() {
                    outln!(o.out, "  SUCCESS: {n} rules found");
                } else {
                    outln!(o.err, "  FAILED:");
                    let mut msg = format!("{} duplicate rule(s) found.\n", dups.len());
                    for (metric, labels) in &dups {
                        msg.push_str(&format!("Metric: {metric}\nLabel(s):\n"));
                        for l in labels.iter() {
                            msg.push_str(&format!("\t{}: {}\n", l.name, l.value));
                        }
                    }
                    msg.push_str("Might cause inconsistency while recording expressions");
                    outln!(o.err, "lint error {msg}");
                    failed = true;
                }
            }
        }
        outln!(o.out);
    }
    if failed && has_errors {
        return FAILURE_EXIT_CODE;
    }
    if failed && lint_fatal {
        return LINT_ERR_EXIT_CODE;
    }
    SUCCESS_EXIT_CODE
}

/// Rules with the same name, labels and expression, as upstream's `checkDuplicates`.
fn duplicate_rules(rgs: &RuleGroups) -> Vec<(String, Labels)> {
    let mut all: Vec<(String, Labels, String)> = rgs
        .groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .map(|r| {
            let labels = Labels::new(
                r.labels
                    .iter()
                    .map(|(k, v)| Label::new(k.clone(), v.clone()))
                    .collect(),
            );
            (r.name().to_string(), labels, r.expr.clone())
        })
        .collect();
    all.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| cmp_labels(&a.1, &b.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    let mut out: Vec<(String, Labels)> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] {
            let d = (w[1].0.clone(), w[1].1.clone());
            if out.last() != Some(&d) {
                out.push(d);
            }
        }
    }
    out
}

#[derive(Deserialize, Default)]
struct UnitTestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Deserialize, Default)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTestCase>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_timestamp: Option<serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
struct InputSeries {
    #[serde(default)]
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Deserialize, Default)]
struct AlertTestCase {
    #[serde(default)]
    eval_time: Option<serde_yaml::Value>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize, Default)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct PromqlTestCase {
    #[serde(default)]
    expr: String,
    #[serde(default)]
    eval_time: Option<serde_yaml::Value>,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize, Default)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    histogram: String,
}

const UNIT_TEST_FIELDS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "rule_files",
            "evaluation_interval",
            "group_eval_order",
            "tests",
            "fuzzy_compare",
        ],
    ),
    (
        "tests",
        &[
            "interval",
            "input_series",
            "alert_rule_test",
            "promql_expr_test",
            "external_labels",
            "external_url",
            "name",
            "start_timestamp",
        ],
    ),
    ("input_series", &["series", "values"]),
    ("alert_rule_test", &["eval_time", "alertname", "exp_alerts"]),
    ("exp_alerts", &["exp_labels", "exp_annotations"]),
    ("promql_expr_test", &["expr", "eval_time", "exp_samples"]),
    ("exp_samples", &["labels", "value", "histogram"]),
];

/// Keys not in upstream's unit-test format, as yaml's strict mode reports them.
fn unknown_fields(v: &serde_yaml::Value, ctx: &str, out: &mut Vec<String>) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            let known = UNIT_TEST_FIELDS
                .iter()
                .find(|(c, _)| *c == ctx)
                .map(|(_, f)| *f);
            for (k, child) in m {
                let key = k.as_str().unwrap_or_default();
                if let Some(known) = known {
                    if !known.contains(&key) {
                        out.push(format!(
                            "field {key} not found in type main.{}",
                            type_name(ctx)
                        ));
                        continue;
                    }
                    if matches!(key, "external_labels" | "exp_labels" | "exp_annotations") {
                        continue;
                    }
                    unknown_fields(child, key, out);
                }
            }
        }
        serde_yaml::Value::Sequence(s) => {
            for c in s {
                unknown_fields(c, ctx, out);
            }
        }
        _ => {}
    }
}

fn type_name(ctx: &str) -> &'static str {
    match ctx {
        "" => "unitTestFile",
        "tests" => "testGroup",
        "input_series" => "series",
        "alert_rule_test" => "alertTestCase",
        "exp_alerts" => "alert",
        "promql_expr_test" => "promqlTestCase",
        _ => "sample",
    }
}

/// `test rules [--run=REGEX]... [--ignore-unknown-fields] FILE...`
pub fn test_rules_cmd(args: &[String], o: &mut Output<'_>) -> i32 {
    let mut run: Vec<String> = Vec::new();
    let mut ignore_unknown = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ignore-unknown-fields" => ignore_unknown = true,
            "--run" => run.push(it.next().cloned().unwrap_or_default()),
            s if s.starts_with("--run=") => run.push(s["--run=".len()..].to_string()),
            "--diff" | "--debug" => {}
            s if s.starts_with("--junit=") => {}
            s if s.starts_with("--") => {
                outln!(
                    o.err,
                    "promlite-tool: error: unknown long flag '{s}', try --help"
                );
                return FAILURE_EXIT_CODE;
            }
            _ => files.push(a.clone()),
        }
    }
    let run_re = if run.is_empty() {
        None
    } else {
        match regex::Regex::new(&run.join("|")) {
            Ok(r) => Some(r),
            Err(e) => {
                outln!(o.err, "promlite-tool: error: invalid --run pattern: {e}");
                return FAILURE_EXIT_CODE;
            }
        }
    };
    let mut failed = false;
    for f in &files {
        outln!(o.out, "Unit Testing:  {f}");
        match rule_unit_test(f, run_re.as_ref(), ignore_unknown) {
            Ok(()) => outln!(o.out, "  SUCCESS"),
            Err(errs) => {
                outln!(o.err, "  FAILED:");
                for e in errs {
                    outln!(o.err, "{e}");
                    outln!(o.out);
                }
                failed = true;
            }
        }
        outln!(o.out);
    }
    if failed {
        FAILURE_EXIT_CODE
    } else {
        SUCCESS_EXIT_CODE
    }
}

fn duration_of(v: &Option<serde_yaml::Value>) -> Result<i64, String> {
    match v {
        None | Some(serde_yaml::Value::Null) => Ok(0),
        Some(serde_yaml::Value::Number(n)) => Ok(n.as_i64().unwrap_or(0) * 1000),
        Some(serde_yaml::Value::String(s)) => parse_duration(s).map_err(|e| e.to_string()),
        Some(_) => Err("not a valid duration string".into()),
    }
}

fn rule_unit_test(
    path: &str,
    run: Option<&regex::Regex>,
    ignore_unknown: bool,
) -> Result<(), Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{path}: {e}")])?;
    let raw: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| vec![e.to_string()])?;
    if !ignore_unknown {
        let mut unknown = Vec::new();
        unknown_fields(&raw, "", &mut unknown);
        if !unknown.is_empty() {
            return Err(vec![format!(
                "yaml: unmarshal errors:\n  {}",
                unknown.join("\n  ")
            )]);
        }
    }
    // Typed straight from the text: a plain scalar such as `0x10` must stay
    // the string it is written as (series notation), not become a number.
    let file: UnitTestFile = if raw.is_null() {
        UnitTestFile::default()
    } else {
        serde_yaml::from_str(&text).map_err(|e| vec![e.to_string()])?
    };
    let base = Path::new(path).parent().unwrap_or(Path::new("."));
    let mut rule_files = Vec::new();
    for rf in &file.rule_files {
        let p = if Path::new(rf).is_absolute() {
            rf.clone()
        } else {
            base.join(rf).to_string_lossy().to_string()
        };
        if p.contains(['*', '?', '[']) {
            let matches = crate::config::glob::glob(&p);
            rule_files.extend(matches.into_iter().map(|m| m.to_string_lossy().to_string()));
        } else {
            rule_files.push(p);
        }
    }
    let eval_interval = match duration_of(
        &file
            .evaluation_interval
            .clone()
            .map(serde_yaml::Value::String),
    ) {
        Ok(0) => 60_000,
        Ok(d) => d,
        Err(e) => return Err(vec![e]),
    };
    let mut order = HashMap::new();
    for (i, g) in file.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return Err(vec![format!(
                "group name repeated in evaluation order: {g}"
            )]);
        }
    }
    let mut errs = Vec::new();
    for tg in &file.tests {
        if let Some(re) = run {
            if !re.is_match(&tg.name) {
                continue;
            }
        }
        let ctx = TestContext {
            eval_interval,
            order: &order,
            fuzzy: file.fuzzy_compare,
            ignore_unknown,
            rule_files: &rule_files,
        };
        if let Err(e) = run_test_group(tg, &ctx) {
            errs.extend(e);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

struct TestContext<'a> {
    eval_interval: i64,
    order: &'a HashMap<String, usize>,
    fuzzy: bool,
    ignore_unknown: bool,
    rule_files: &'a [String],
}

/// Seconds since the epoch of `start_timestamp` (RFC 3339 or a number), in ms.
fn start_time(v: &Option<serde_yaml::Value>) -> Result<i64, String> {
    match v {
        None | Some(serde_yaml::Value::Null) => Ok(0),
        Some(serde_yaml::Value::Number(n)) => Ok((n.as_f64().unwrap_or(0.0) * 1000.0) as i64),
        Some(serde_yaml::Value::String(s)) => {
            if let Ok(f) = s.parse::<f64>() {
                return Ok((f * 1000.0) as i64);
            }
            parse_rfc3339(s).ok_or_else(|| format!("invalid start_timestamp {s:?}"))
        }
        Some(_) => Err("invalid start_timestamp".into()),
    }
}

/// `2024-01-01T00:00:00Z` / `...+02:00` (optional fraction) to ms.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let tz_pos = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, tz) = rest.split_at(tz_pos);
    let mut t = time.split(':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mm: i64 = t.next()?.parse().ok()?;
    let secs: f64 = t.next()?.parse().ok()?;
    let offset = match tz {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let (oh, om) = tz[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let days = crate::model::civil::days_from_civil(y, m as u32, day as u32);
    let total = days * 86_400 + hh * 3600 + mm * 60 - offset;
    Some(total * 1000 + (secs * 1000.0).round() as i64)
}

fn alerts_string(v: &[(Labels, Labels)]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let item = |(l, a): &(Labels, Labels)| format!("Labels:{l}\nAnnotations:{a}");
    let mut s = format!("[\n0:{}", indent_lines(&format!("\n{}", item(&v[0])), "  "));
    for (i, x) in v.iter().enumerate().skip(1) {
        s.push_str(&format!(
            ",\n{i}:{}",
            indent_lines(&format!("\n{}", item(x)), "  ")
        ));
    }
    s.push_str("\n]");
    s
}

fn indent_lines(lines: &str, indent: &str) -> String {
    lines
        .split('\n')
        .enumerate()
        .map(|(i, l)| {
            if i > 0 {
                format!("{indent}{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn format_e_upper(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:E}");
    let (mant, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}E{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn samples_string(v: &[(Labels, f64)]) -> String {
    if v.is_empty() {
        return "nil".into();
    }
    v.iter()
        .map(|(l, x)| format!("{l} {}", format_e_upper(*x)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn floats_equal(a: f64, b: f64, fuzzy: bool) -> bool {
    // Upstream's fuzzy compare accepts a difference of one ULP.
    a == b
        || (fuzzy && (next_toward(a, f64::NEG_INFINITY) == b || next_toward(a, f64::INFINITY) == b))
}

/// Go's `math.Nextafter(x, toward)` for an infinite `toward`.
fn next_toward(x: f64, toward: f64) -> f64 {
    if x.is_nan() || x == toward {
        return x;
    }
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if toward > 0.0 { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let up = (toward > x) == (x > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

fn run_test_group(tg: &TestGroup, ctx: &TestContext<'_>) -> Result<(), Vec<String>> {
    let start = start_time(&tg.start_timestamp).map_err(|e| vec![e])?;
    let interval = match duration_of(&tg.interval.clone().map(serde_yaml::Value::String)) {
        Ok(0) => ctx.eval_interval,
        Ok(d) => d,
        Err(e) => return Err(vec![e]),
    };
    let storage = Arc::new(MemStorage::new());
    for s in &tg.input_series {
        let desc = format!("{} {}", s.series, s.values);
        let (labels, values) =
            crate::promql::parse_series_desc(&desc).map_err(|e| vec![e.to_string()])?;
        for (i, sv) in values.iter().enumerate() {
            if !sv.omitted {
                storage.insert(&labels, start + i as i64 * interval, sv.value);
            }
        }
    }
    let engine = Engine::new(EngineOpts {
        no_step_subquery_interval: ctx.eval_interval,
        ..EngineOpts::default()
    });
    let qf = Arc::new(EngineQueryFunc {
        engine: engine.clone(),
        queryable: storage.clone(),
    });
    let mut mopts = ManagerOptions::new(storage.clone(), storage.clone(), qf);
    mopts.external_url = tg.external_url.clone();
    // A throwaway registry: unit tests must not touch the process's metrics.
    mopts.registry = Box::leak(Box::new(Registry::new()));
    let manager = RuleManager::new(mopts);
    let ext = Labels::new(
        tg.external_labels
            .iter()
            .map(|(k, v)| Label::new(k.clone(), v.clone()))
            .collect(),
    );
    let groups = manager
        .load_groups_with(interval, &ext, ctx.rule_files, ctx.ignore_unknown)
        .map_err(|e| match e {
            super::RuleError::Load(v) => v,
            other => vec![other.to_string()],
        })?;
    let mut groups: Vec<Group> = groups;
    groups.sort_by_key(|g| ctx.order.get(&g.name).copied().unwrap_or(0));
    for g in &groups {
        let mut st = g.lock();
        for r in st.rules.iter_mut() {
            if let Rule::Alerting(ar) = r {
                ar.restored = true;
            }
        }
    }
    let mut errs = Vec::new();
    let max_eval = tg
        .alert_rule_test
        .iter()
        .map(|a| duration_of(&a.eval_time).unwrap_or(0))
        .chain(
            tg.promql_expr_test
                .iter()
                .map(|p| duration_of(&p.eval_time).unwrap_or(0)),
        )
        .max()
        .unwrap_or(0);
    let test_name = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };
    let mut alert_times: Vec<i64> = Vec::new();
    for a in &tg.alert_rule_test {
        if a.alertname.is_empty() {
            let in_group = if tg.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", tg.name)
            };
            return Err(vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                format_duration(duration_of(&a.eval_time).unwrap_or(0))
            )]);
        }
        let t = duration_of(&a.eval_time).map_err(|e| vec![e])?;
        if !alert_times.contains(&t) {
            alert_times.push(t);
        }
    }
    alert_times.sort_unstable();
    let mut curr = 0;
    let mut ts = 0i64;
    while ts <= max_eval {
        let mut eval_errs = Vec::new();
        for g in &groups {
            g.eval(start + ts);
            let st = g.lock();
            for r in &st.rules {
                if let Some(e) = r.last_error() {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        format_go_duration(ts * 1_000_000)
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return Err(errs);
        }
        while curr < alert_times.len()
            && ts <= alert_times[curr]
            && alert_times[curr] < ts + ctx.eval_interval
        {
            let t = alert_times[curr];
            for tc in tg
                .alert_rule_test
                .iter()
                .filter(|a| duration_of(&a.eval_time).unwrap_or(-1) == t)
            {
                let mut got: Vec<(Labels, Labels)> = Vec::new();
                for g in &groups {
                    let st = g.lock();
                    for r in &st.rules {
                        if let Rule::Alerting(ar) = r {
                            if ar.name == tc.alertname {
                                got.extend(
                                    ar.active_alerts()
                                        .into_iter()
                                        .filter(|a| a.state == AlertState::Firing)
                                        .map(|a| (a.labels.clone(), a.annotations.clone())),
                                );
                            }
                        }
                    }
                }
                let mut exp: Vec<(Labels, Labels)> = tc
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l = a.exp_labels.clone();
                        l.insert("alertname".into(), tc.alertname.clone());
                        (to_labels(&l), to_labels(&a.exp_annotations))
                    })
                    .collect();
                let sort = |v: &mut Vec<(Labels, Labels)>| {
                    v.sort_by(|a, b| cmp_labels(&a.0, &b.0).then_with(|| cmp_labels(&a.1, &b.1)))
                };
                sort(&mut got);
                sort(&mut exp);
                if got != exp {
                    errs.push(format!(
                        "{test_name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        tc.alertname,
                        format_duration(t),
                        indent_lines(&alerts_string(&exp), "            "),
                        indent_lines(&alerts_string(&got), "            ")
                    ));
                }
            }
            curr += 1;
        }
        ts += ctx.eval_interval;
    }
    'outer: for tc in &tg.promql_expr_test {
        let t = duration_of(&tc.eval_time).unwrap_or(0);
        let res = engine.instant_query(storage.as_ref(), &tc.expr, start + t);
        let got = match res {
            Err(e) => {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    tc.expr,
                    format_duration(t)
                ));
                continue;
            }
            Ok(r) => match r.value {
                PromValue::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
                PromValue::Scalar { v, .. } => vec![(Labels::empty(), v)],
                _ => {
                    errs.push(format!(
                        "    expr: {:?}, time: {}, err: rule result is not a vector or scalar",
                        tc.expr,
                        format_duration(t)
                    ));
                    continue;
                }
            },
        };
        let mut exp = Vec::new();
        for s in &tc.exp_samples {
            if !s.histogram.is_empty() {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: native histograms are not supported by promlite",
                    tc.expr,
                    format_duration(t)
                ));
                continue 'outer;
            }
            let labels = if s.labels.trim().is_empty() {
                Ok(Labels::empty())
            } else {
                crate::promql::parse_series_desc(&s.labels).map(|(l, _)| l)
            };
            match labels {
                Ok(l) => exp.push((l, s.value)),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {:?}, time: {}, err: labels {:?}: {e}",
                        tc.expr,
                        format_duration(t),
                        s.labels
                    ));
                    continue 'outer;
                }
            }
        }
        let mut got = got;
        exp.sort_by(|a, b| cmp_labels(&a.0, &b.0));
        got.sort_by(|a, b| cmp_labels(&a.0, &b.0));
        let equal = exp.len() == got.len()
            && exp
                .iter()
                .zip(&got)
                .all(|(a, b)| a.0 == b.0 && floats_equal(a.1, b.1, ctx.fuzzy));
        if !equal {
            errs.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                tc.expr,
                format_duration(t),
                samples_string(&exp),
                samples_string(&got)
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::new(
        m.iter()
            .map(|(k, v)| Label::new(k.clone(), v.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_formats() {
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(format_e_upper(1.0), "1E+00");
        assert_eq!(format_e_upper(0.25), "2.5E-01");
        assert!(floats_equal(2.9999999999999996, 3.0, true));
        assert!(!floats_equal(2.9999999999999996, 3.0, false));
        assert!(!floats_equal(2.9999999999999987, 3.0, true));
        assert!(floats_equal(3.0000000000000004, 3.0, true));
    }
}
