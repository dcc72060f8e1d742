//! client_golang's `promlint` as `check metrics` uses it: the exposition
//! text is grouped into metric families (as expfmt's text parser groups
//! them) and each family is checked by upstream's lint rules, with
//! upstream's problem texts and sort order.

use std::collections::BTreeMap;

use super::{read_quoted_value, QuotedValueError};

/// One lint finding: the family it concerns and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub metric: String,
    pub text: String,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum MetricType {
    Counter,
    Gauge,
    Summary,
    Untyped,
    Histogram,
}

/// A metric family: what the lint rules look at.
#[derive(Debug)]
struct Family {
    name: String,
    help: Option<String>,
    kind: MetricType,
    /// Label names of each metric (for histograms and summaries, one
    /// metric per label set without `le`/`quantile`).
    metrics: Vec<Vec<String>>,
    /// Label sets seen, to group histogram/summary samples.
    grouped: BTreeMap<Vec<(String, String)>, usize>,
    has_samples: bool,
    /// Sample lines (buckets, sums and counts included).
    samples: usize,
}

impl Family {
    fn new(name: &str) -> Family {
        Family {
            name: name.to_string(),
            help: None,
            kind: MetricType::Untyped,
            metrics: Vec::new(),
            grouped: BTreeMap::new(),
            has_samples: false,
            samples: 0,
        }
    }
}

/// Lints exposition text; the error is a parse error of the text.
pub fn lint(text: &str) -> Result<Vec<Problem>, String> {
    let families = parse(text)?;
    let mut problems = Vec::new();
    for f in &families {
        lint_family(f, &mut problems);
    }
    problems.sort_by(|a, b| a.metric.cmp(&b.metric).then_with(|| a.text.cmp(&b.text)));
    Ok(problems)
}

/// Series per metric family (promtool's `--extended` cardinality), biggest
/// first; ties by name (upstream leaves them in map order).
pub fn cardinalities(text: &str) -> Result<Vec<(String, usize)>, String> {
    let mut out: Vec<(String, usize)> = parse(text)?
        .into_iter()
        .map(|f| (f.name, f.samples))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

fn parse(text: &str) -> Result<Vec<Family>, String> {
    let mut families: Vec<Family> = Vec::new();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |m: String| format!("text format parsing error in line {line_no}: {m}");
        let line = raw.trim_start_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, [' ', '\t']);
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts.next().unwrap_or("");
            if name.is_empty() {
                return Err(err("invalid metric name in comment".into()));
            }
            let rest = parts.next().unwrap_or("").trim_end();
            let idx = *by_name.entry(name.to_string()).or_insert_with(|| {
                families.push(Family::new(name));
                families.len() - 1
            });
            let Some(f) = families.get_mut(idx) else {
                continue;
            };
            if keyword == "HELP" {
                if f.help.is_some() {
                    return Err(err(format!("second HELP line for metric name {name:?}")));
                }
                f.help = Some(rest.replace("\\n", "\n").replace("\\\\", "\\"));
            } else {
                if f.kind != MetricType::Untyped || f.has_samples {
                    return Err(err(format!(
                        "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                    )));
                }
                f.kind = match rest {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "summary" => MetricType::Summary,
                    "histogram" => MetricType::Histogram,
                    "untyped" => MetricType::Untyped,
                    other => return Err(err(format!("unknown metric type {other:?}"))),
                };
            }
            continue;
        }
        let (name, labels) = parse_sample(line).map_err(err)?;
        let family_idx = family_for_sample(&name, &families, &by_name);
        let idx = match family_idx {
            Some(i) => i,
            None => {
                families.push(Family::new(&name));
                by_name.insert(name.clone(), families.len() - 1);
                families.len() - 1
            }
        };
        let Some(f) = families.get_mut(idx) else {
            continue;
        };
        f.has_samples = true;
        f.samples += 1;
        match f.kind {
            MetricType::Histogram | MetricType::Summary => {
                let special = if f.kind == MetricType::Summary {
                    "quantile"
                } else {
                    "le"
                };
                let key: Vec<(String, String)> =
                    labels.into_iter().filter(|(n, _)| n != special).collect();
                if !f.grouped.contains_key(&key) {
                    f.grouped.insert(key.clone(), f.metrics.len());
                    f.metrics.push(key.into_iter().map(|(n, _)| n).collect());
                }
            }
            _ => f.metrics.push(labels.into_iter().map(|(n, _)| n).collect()),
        }
    }
    Ok(families)
}

/// expfmt's `setOrCreateCurrentMF`: the family of that name, or the summary
/// or histogram the `_sum`/`_count`/`_bucket` sample belongs to.
fn family_for_sample(
    name: &str,
    families: &[Family],
    by_name: &BTreeMap<String, usize>,
) -> Option<usize> {
    if let Some(&i) = by_name.get(name) {
        return Some(i);
    }
    let typed = |base: Option<&str>, kinds: &[MetricType]| {
        base.and_then(|b| by_name.get(b))
            .copied()
            .filter(|&i| families.get(i).is_some_and(|f| kinds.contains(&f.kind)))
    };
    let summary_base = name
        .strip_suffix("_sum")
        .or_else(|| name.strip_suffix("_count"));
    typed(summary_base, &[MetricType::Summary, MetricType::Histogram])
        .or_else(|| typed(name.strip_suffix("_bucket"), &[MetricType::Histogram]))
}

/// `name{a="b",...} value [timestamp]` → name and labels.
fn parse_sample(line: &str) -> Result<(String, Vec<(String, String)>), String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "invalid metric name {:?}",
            line.split_whitespace().next().unwrap_or("")
        ));
    }
    let mut rest = line[name_end..].trim_start_matches([' ', '\t']);
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut consumed = body.len();
        loop {
            let mut label = String::new();
            let mut op_seen = false;
            for (i, c) in chars.by_ref() {
                match c {
                    '}' if label.trim().is_empty() => {
                        consumed = i + 1;
                        break;
                    }
                    '=' => {
                        op_seen = true;
                        break;
                    }
                    ',' | ' ' | '\t' if label.is_empty() => {}
                    c => label.push(c),
                }
            }
            if !op_seen {
                if consumed == body.len() {
                    return Err("unexpected end of label set".into());
                }
                break;
            }
            let label = label.trim().to_string();
            if label.is_empty()
                || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || label.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!("invalid label name for metric {name:?}"));
            }
            match chars
                .by_ref()
                .map(|(_, c)| c)
                .find(|c| !matches!(c, ' ' | '\t'))
            {
                Some('"') => {}
                found => {
                    return Err(format!(
                        "expected '\"' at start of label value, found '{}'",
                        found.unwrap_or('\n')
                    ))
                }
            }
            let value = read_quoted_value(&mut chars).map_err(|e| match e {
                QuotedValueError::BadEscape(c) => {
                    format!("invalid escape sequence '\\{}'", c.unwrap_or(' '))
                }
                QuotedValueError::Unterminated(value) => {
                    format!("label value {value:?} contains unescaped new-line")
                }
            })?;
            labels.push((label, value));
        }
        rest = body.get(consumed..).unwrap_or("");
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (value, after) = match rest.split_once([' ', '\t']) {
        Some((v, a)) => (v, Some(a)),
        None => (rest, None),
    };
    let ok_value = value.parse::<f64>().is_ok() || matches!(value, "+Inf" | "-Inf" | "Inf" | "NaN");
    if !ok_value {
        return Err(format!("expected float as value, got {value:?}"));
    }
    if let Some(after) = after {
        let after = after.trim_start_matches([' ', '\t']);
        let ts_end = after.find([' ', '\t']).unwrap_or(after.len());
        let (ts, tail) = after.split_at(ts_end);
        ts.parse::<i64>()
            .map_err(|_| format!("expected integer as timestamp, got {ts:?}"))?;
        if !tail.trim_matches([' ', '\t']).is_empty() {
            return Err(format!("spurious string after timestamp: {tail:?}"));
        }
    }
    Ok((name.to_string(), labels))
}

const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kila", "mega",
    "giga", "tera", "peta", "exa", "zetta", "yotta",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

fn base_unit(unit: &str) -> Option<&'static str> {
    UNITS.iter().find(|(u, _)| *u == unit).map(|(_, b)| *b)
}

/// promlint's `metricUnits`: the first name part that is a unit, possibly
/// with an SI prefix.
fn metric_units(name: &str) -> Option<(&str, &'static str)> {
    for part in name.split('_') {
        if let Some(base) = base_unit(part) {
            return Some((part, base));
        }
        for p in UNIT_PREFIXES {
            if let Some(base) = part.strip_prefix(p).and_then(base_unit) {
                return Some((part, base));
            }
        }
    }
    None
}

fn has_camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

fn lint_family(f: &Family, out: &mut Vec<Problem>) {
    let mut add = |text: String| {
        out.push(Problem {
            metric: f.name.clone(),
            text,
        })
    };
    let name = f.name.as_str();
    let untyped = f.kind == MetricType::Untyped;
    if f.help.as_deref().unwrap_or("").is_empty() {
        add("no help text".into());
    }
    if let Some((unit, base)) = metric_units(name) {
        if unit != base {
            add(format!("use base unit {base:?} instead of {unit:?}"));
        }
    }
    let counter = f.kind == MetricType::Counter;
    let total = name.ends_with("_total");
    if counter && !total {
        add("counter metrics should have \"_total\" suffix".into());
    } else if !untyped && !counter && total {
        add("non-counter metrics should not have \"_total\" suffix".into());
    }
    if !untyped {
        let histogram = f.kind == MetricType::Histogram;
        let summary = f.kind == MetricType::Summary;
        if !histogram && name.ends_with("_bucket") {
            add("non-histogram metrics should not have \"_bucket\" suffix".into());
        }
        if !histogram && !summary && name.ends_with("_count") {
            add("non-histogram and non-summary metrics should not have \"_count\" suffix".into());
        }
        if !histogram && !summary && name.ends_with("_sum") {
            add("non-histogram and non-summary metrics should not have \"_sum\" suffix".into());
        }
        for labels in &f.metrics {
            for l in labels {
                if !histogram && l == "le" {
                    add("non-histogram metrics should not have \"le\" label".into());
                }
                if !summary && l == "quantile" {
                    add("non-summary metrics should not have \"quantile\" label".into());
                }
            }
        }
        let lower = name.to_lowercase();
        for t in [
            "counter",
            "gauge",
            "summary",
            "histogram",
            "gauge_histogram",
        ] {
            if lower.contains(&format!("_{t}_")) || lower.ends_with(&format!("_{t}")) {
                add(format!("metric name should not include type '{t}'"));
            }
        }
    }
    if name.contains(':') {
        add("metric names should not contain ':'".into());
    }
    if has_camel_case(name) {
        add("metric names should be written in 'snake_case' not 'camelCase'".into());
    }
    for labels in &f.metrics {
        for l in labels {
            if has_camel_case(l) {
                add("label names should be written in 'snake_case' not 'camelCase'".into());
            }
        }
    }
    let lower = name.to_lowercase();
    for a in UNIT_ABBREVIATIONS {
        if lower.contains(&format!("_{a}_")) || lower.ends_with(&format!("_{a}")) {
            add("metric names should not contain abbreviated units".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<String> {
        lint(input)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|p| format!("{} {}", p.metric, p.text))
            .collect()
    }

    #[test]
    fn label_values_unescape_and_report_bad_quoting() {
        assert_eq!(
            parse_sample("m{a=\"x\\\\y\\n\\\"\"} 1"),
            Ok(("m".into(), vec![("a".into(), "x\\y\n\"".into())]))
        );
        assert_eq!(
            parse_sample("m{a=\"x\\t\"} 1"),
            Err("invalid escape sequence '\\t'".into())
        );
        assert_eq!(
            parse_sample("m{a=\"x"),
            Err("label value \"x\" contains unescaped new-line".into())
        );
    }

    #[test]
    fn clean_families_pass() {
        let input = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 3\n\
                     # HELP req_duration_seconds Latency.\n# TYPE req_duration_seconds histogram\nreq_duration_seconds_bucket{le=\"1\"} 1\nreq_duration_seconds_bucket{le=\"+Inf\"} 1\nreq_duration_seconds_sum 0.5\nreq_duration_seconds_count 1\n";
        assert_eq!(texts(input), Vec::<String>::new());
    }

    #[test]
    fn upstream_problems_sorted() {
        let input = "# TYPE requests counter\nrequests 1\n# HELP fooBar_milliseconds x\n# TYPE fooBar_milliseconds gauge\nfooBar_milliseconds{someLabel=\"a\"} 1\n";
        assert_eq!(
            texts(input),
            vec![
                "fooBar_milliseconds label names should be written in 'snake_case' not 'camelCase'",
                "fooBar_milliseconds metric names should be written in 'snake_case' not 'camelCase'",
                "fooBar_milliseconds use base unit \"seconds\" instead of \"milliseconds\"",
                "requests counter metrics should have \"_total\" suffix",
                "requests no help text",
            ]
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = lint("ok 1\nbad{x=1} 2\n").err();
        assert_eq!(
            e.as_deref(),
            Some("text format parsing error in line 2: expected '\"' at start of label value, found '1'")
        );
    }
}
