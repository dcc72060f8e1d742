//! The rule file format, as upstream's `model/rulefmt`: groups (`name`,
//! `interval`, `limit`, `query_offset`, `labels`, `rules`) of recording and
//! alerting rules, parsed from the first YAML document of a file and
//! validated with upstream's checks and messages (`line:col: group "g",
//! rule N, "name": ...`).
//!
//! This module is plain data: it opens no socket and starts no thread. The
//! PromQL parser is passed in (`ParseOptions::parse_expr`) so rule files can
//! be checked wherever a parser is available.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde_yaml::Value as Yaml;

use crate::model::duration::parse_duration;
use crate::model::labels::{is_valid_legacy_label_name, is_valid_legacy_metric_name, METRIC_NAME};
use crate::template;

use super::yamlpos::Positions;

/// All groups of one rule file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroups {
    pub groups: Vec<RuleGroup>,
}

/// One group as written in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// Milliseconds; `None` means the global evaluation interval.
    pub interval: Option<i64>,
    /// Milliseconds; `None` means the global rule query offset.
    pub query_offset: Option<i64>,
    pub limit: usize,
    pub rules: Vec<Rule>,
    pub labels: BTreeMap<String, String>,
}

/// One recording (`record`) or alerting (`alert`) rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Rule {
    pub record: String,
    pub alert: String,
    pub expr: String,
    /// Milliseconds.
    pub for_: i64,
    /// Milliseconds.
    pub keep_firing_for: i64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The rule's name: its alert or record name.
    pub fn name(&self) -> &str {
        if self.alert.is_empty() {
            &self.record
        } else {
            &self.alert
        }
    }
}

/// Checks a PromQL expression; the error is the parser's message.
pub type ExprChecker = dyn Fn(&str) -> Result<(), String>;

/// How strictly to parse.
#[derive(Default)]
pub struct ParseOptions<'a> {
    /// Accept keys upstream does not know (promtool's `--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// Pre-3.0 name validation: label names `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub legacy_names: bool,
    /// The PromQL parser; `None` skips expression checks.
    pub parse_expr: Option<&'a ExprChecker>,
}

/// One problem found in a rule file, rendered as upstream renders it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFmtError(pub String);

impl fmt::Display for RuleFmtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleFmtError {}

/// Reads and parses a rule file; every error is prefixed with the file name.
pub fn parse_file(path: &str, opts: &ParseOptions<'_>) -> Result<RuleGroups, Vec<RuleFmtError>> {
    let content = std::fs::read_to_string(path)
        .map_err(|e| vec![RuleFmtError(format!("{path}: {}", io_error_text(&e)))])?;
    parse(&content, opts).map_err(|errs| {
        errs.into_iter()
            .map(|e| RuleFmtError(format!("{path}: {}", e.0)))
            .collect()
    })
}

fn io_error_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "open: no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "open: permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Parses and validates rule file content (its first YAML document).
pub fn parse(content: &str, opts: &ParseOptions<'_>) -> Result<RuleGroups, Vec<RuleFmtError>> {
    let Some(doc) = first_document(content).map_err(|e| vec![e])? else {
        return Ok(RuleGroups::default());
    };
    let pos = Positions::index(content);
    let mut errs = Vec::new();
    let groups = decode_groups(&doc, &pos, opts, &mut errs);
    if !errs.is_empty() {
        return Err(errs);
    }
    let groups = RuleGroups { groups };
    let errs = validate(&groups, &pos, opts);
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

/// The first document with merge keys (`<<: *anchor`) applied; `None` if empty.
fn first_document(content: &str) -> Result<Option<Yaml>, RuleFmtError> {
    let Some(de) = serde_yaml::Deserializer::from_str(content).next() else {
        return Ok(None);
    };
    let mut v = Yaml::deserialize(de).map_err(|e| RuleFmtError(yaml_error_text(&e)))?;
    v.apply_merge()
        .map_err(|e| RuleFmtError(yaml_error_text(&e)))?;
    apply_merge_deep(&mut v).map_err(|e| RuleFmtError(yaml_error_text(&e)))?;
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(v))
}

fn apply_merge_deep(v: &mut Yaml) -> Result<(), serde_yaml::Error> {
    match v {
        Yaml::Mapping(m) => {
            for (_, child) in m.iter_mut() {
                child.apply_merge()?;
                apply_merge_deep(child)?;
            }
        }
        Yaml::Sequence(s) => {
            for child in s.iter_mut() {
                child.apply_merge()?;
                apply_merge_deep(child)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn yaml_error_text(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(l) => format!(
            "yaml: line {}: {}",
            l.line(),
            strip_location(&e.to_string())
        ),
        None => format!("yaml: {e}"),
    }
}

fn strip_location(s: &str) -> String {
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

const RULE_FIELDS: &[&str] = &[
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];

/// Turns the YAML tree into typed groups, collecting yaml.v3-style
/// unmarshal errors (`line N: field x not found in type rulefmt.Rule`).
fn decode_groups(
    doc: &Yaml,
    pos: &Positions,
    opts: &ParseOptions<'_>,
    errs: &mut Vec<RuleFmtError>,
) -> Vec<RuleGroup> {
    let mut unmarshal = Vec::new();
    let Yaml::Mapping(top) = doc else {
        errs.push(RuleFmtError(format!(
            "yaml: unmarshal errors:\n  line 1: cannot unmarshal {} into rulefmt.RuleGroups",
            yaml_kind(doc)
        )));
        return Vec::new();
    };
    for (k, _) in top {
        let key = k.as_str().unwrap_or_default();
        if key != "groups" && !opts.ignore_unknown_fields {
            let (line, _) = pos.get(key);
            unmarshal.push(format!(
                "line {line}: field {key} not found in type rulefmt.RuleGroups"
            ));
        }
    }
    let mut groups = Vec::new();
    let group_items = match top.get("groups") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Sequence(s)) => s.clone(),
        Some(other) => {
            let (line, _) = pos.get("groups");
            unmarshal.push(format!(
                "line {line}: cannot unmarshal {} into []rulefmt.RuleGroup",
                yaml_kind(other)
            ));
            Vec::new()
        }
    };
    for (gi, g) in group_items.iter().enumerate() {
        let gpath = format!("groups[{gi}]");
        let line = pos.get(&gpath).0;
        let Yaml::Mapping(gm) = g else {
            unmarshal.push(format!(
                "line {line}: cannot unmarshal {} into rulefmt.RuleGroup",
                yaml_kind(g)
            ));
            continue;
        };
        let mut group = RuleGroup::default();
        for (k, v) in gm {
            let key = k.as_str().unwrap_or_default().to_string();
            let kline = pos.get(&format!("{gpath}.{key}")).0.max(line);
            let mut fail = |what: &str| {
                unmarshal.push(format!(
                    "line {kline}: cannot unmarshal {} into {what}",
                    yaml_kind(v)
                ))
            };
            match key.as_str() {
                "name" => match scalar_string(v) {
                    Some(s) => group.name = s,
                    None => fail("string"),
                },
                "interval" | "query_offset" => match duration_value(v) {
                    Ok(d) => {
                        if key == "interval" {
                            group.interval = d;
                        } else {
                            group.query_offset = d;
                        }
                    }
                    Err(e) => unmarshal.push(format!("line {kline}: {e}")),
                },
                "limit" => match v.as_u64() {
                    Some(n) => group.limit = n as usize,
                    None if v.is_null() => {}
                    None => fail("int"),
                },
                "labels" => match string_map(v) {
                    Some(m) => group.labels = m,
                    None => fail("map[string]string"),
                },
                "rules" => match v {
                    Yaml::Sequence(rs) => {
                        for (ri, r) in rs.iter().enumerate() {
                            let rpath = format!("{gpath}.rules[{ri}]");
                            match decode_rule(r, &rpath, pos, opts, &mut unmarshal) {
                                Some(rule) => group.rules.push(rule),
                                None => group.rules.push(Rule::default()),
                            }
                        }
                    }
                    Yaml::Null => {}
                    _ => fail("[]rulefmt.Rule"),
                },
                _ => {
                    if !opts.ignore_unknown_fields {
                        unmarshal.push(format!(
                            "line {kline}: field {key} not found in type rulefmt.RuleGroup"
                        ));
                    }
                }
            }
        }
        groups.push(group);
    }
    if !unmarshal.is_empty() {
        errs.push(RuleFmtError(format!(
            "yaml: unmarshal errors:\n  {}",
            unmarshal.join("\n  ")
        )));
    }
    groups
}

fn decode_rule(
    r: &Yaml,
    rpath: &str,
    pos: &Positions,
    opts: &ParseOptions<'_>,
    unmarshal: &mut Vec<String>,
) -> Option<Rule> {
    let line = pos.get(rpath).0;
    let Yaml::Mapping(rm) = r else {
        unmarshal.push(format!(
            "line {line}: cannot unmarshal {} into rulefmt.Rule",
            yaml_kind(r)
        ));
        return None;
    };
    let mut rule = Rule::default();
    for (k, v) in rm {
        let key = k.as_str().unwrap_or_default().to_string();
        let kline = pos.get(&format!("{rpath}.{key}")).0.max(line);
        let mut fail = |what: &str| {
            unmarshal.push(format!(
                "line {kline}: cannot unmarshal {} into {what}",
                yaml_kind(v)
            ))
        };
        match key.as_str() {
            "record" | "alert" | "expr" => match scalar_string(v) {
                Some(s) => match key.as_str() {
                    "record" => rule.record = s,
                    "alert" => rule.alert = s,
                    _ => rule.expr = s,
                },
                None => fail("string"),
            },
            "for" | "keep_firing_for" => match duration_value(v) {
                Ok(d) => {
                    if key == "for" {
                        rule.for_ = d.unwrap_or(0);
                    } else {
                        rule.keep_firing_for = d.unwrap_or(0);
                    }
                }
                Err(e) => unmarshal.push(format!("line {kline}: {e}")),
            },
            "labels" | "annotations" => match string_map(v) {
                Some(m) => {
                    if key == "labels" {
                        rule.labels = m;
                    } else {
                        rule.annotations = m;
                    }
                }
                None => fail("map[string]string"),
            },
            _ => {
                if !opts.ignore_unknown_fields && !RULE_FIELDS.contains(&key.as_str()) {
                    unmarshal.push(format!(
                        "line {kline}: field {key} not found in type rulefmt.Rule"
                    ));
                }
            }
        }
    }
    Some(rule)
}

fn yaml_kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "!!null",
        Yaml::Bool(_) => "!!bool",
        Yaml::Number(n) if n.is_f64() => "!!float",
        Yaml::Number(_) => "!!int",
        Yaml::String(_) => "!!str",
        Yaml::Sequence(_) => "!!seq",
        Yaml::Mapping(_) => "!!map",
        Yaml::Tagged(_) => "!!tagged",
    }
}

/// A scalar as the string yaml.v3 would decode into a Go string.
fn scalar_string(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

fn string_map(v: &Yaml) -> Option<BTreeMap<String, String>> {
    match v {
        Yaml::Null => Some(BTreeMap::new()),
        Yaml::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                out.insert(scalar_string(k)?, scalar_string(v)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn duration_value(v: &Yaml) -> Result<Option<i64>, String> {
    match v {
        Yaml::Null => Ok(None),
        other => {
            let s = scalar_string(other).unwrap_or_default();
            parse_duration(&s).map(Some).map_err(|e| e.to_string())
        }
    }
}

fn valid_label_name(name: &str, legacy: bool) -> bool {
    if legacy {
        is_valid_legacy_label_name(name)
    } else {
        !name.is_empty()
    }
}

fn valid_metric_name(name: &str, legacy: bool) -> bool {
    if legacy {
        is_valid_legacy_metric_name(name)
    } else {
        !name.is_empty()
    }
}

/// Upstream's `RuleGroups.Validate` and `Rule.Validate`.
fn validate(groups: &RuleGroups, pos: &Positions, opts: &ParseOptions<'_>) -> Vec<RuleFmtError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (gi, g) in groups.groups.iter().enumerate() {
        let (gl, gc) = pos.get(&format!("groups[{gi}]"));
        if g.name.is_empty() {
            errs.push(RuleFmtError(format!(
                "{gl}:{gc}: Groupname must not be empty"
            )));
        }
        if !seen.insert(g.name.clone()) {
            errs.push(RuleFmtError(format!(
                "{gl}:{gc}: groupname: \"{}\" is repeated in the same file",
                g.name
            )));
        }
        for k in g.labels.keys() {
            if !valid_label_name(k, opts.legacy_names) || k == METRIC_NAME {
                errs.push(RuleFmtError(format!("invalid label name: {k}")));
            }
        }
        for (ri, r) in g.rules.iter().enumerate() {
            let rpath = format!("groups[{gi}].rules[{ri}]");
            for (node, msg) in validate_rule(r, &rpath, pos, opts) {
                let prefix = match node {
                    NodePos::Two(a, b) => format!("{}:{}: {}:{}: ", a.0, a.1, b.0, b.1),
                    NodePos::One(a) => format!("{}:{}: ", a.0, a.1),
                    NodePos::None => String::new(),
                };
                errs.push(RuleFmtError(format!(
                    "{prefix}group {}, rule {}, {}: {msg}",
                    go_quote(&g.name),
                    ri + 1,
                    go_quote(r.name())
                )));
            }
        }
    }
    errs
}

fn go_quote(s: &str) -> String {
    crate::model::labels::go_quote(s)
}

enum NodePos {
    None,
    One((usize, usize)),
    Two((usize, usize), (usize, usize)),
}

fn validate_rule(
    r: &Rule,
    rpath: &str,
    pos: &Positions,
    opts: &ParseOptions<'_>,
) -> Vec<(NodePos, String)> {
    let mut out = Vec::new();
    let record = pos.get(&format!("{rpath}.record"));
    let alert = pos.get(&format!("{rpath}.alert"));
    let expr = pos.get(&format!("{rpath}.expr"));
    if !r.record.is_empty() && !r.alert.is_empty() {
        out.push((
            NodePos::Two(record, alert),
            "only one of 'record' and 'alert' must be set".to_string(),
        ));
    }
    if r.record.is_empty() && r.alert.is_empty() {
        out.push((
            NodePos::Two(record, alert),
            "one of 'record' or 'alert' must be set".to_string(),
        ));
    }
    if r.expr.is_empty() {
        out.push((
            NodePos::One(expr),
            "field 'expr' must be set in rule".to_string(),
        ));
    } else if let Some(check) = opts.parse_expr {
        if let Err(e) = check(&r.expr) {
            out.push((
                NodePos::One(expr),
                format!("could not parse expression: {e}"),
            ));
        }
    }
    if !r.record.is_empty() {
        if !r.annotations.is_empty() {
            out.push((
                NodePos::One(record),
                "invalid field 'annotations' in recording rule".to_string(),
            ));
        }
        if r.for_ != 0 {
            out.push((
                NodePos::One(record),
                "invalid field 'for' in recording rule".to_string(),
            ));
        }
        if r.keep_firing_for != 0 {
            out.push((
                NodePos::One(record),
                "invalid field 'keep_firing_for' in recording rule".to_string(),
            ));
        }
        if !valid_metric_name(&r.record, opts.legacy_names) {
            out.push((
                NodePos::One(record),
                format!("invalid recording rule name: {}", r.record),
            ));
        }
        // A PromQL selector pasted into `record` is a common mistake.
        if r.record.contains('{') || r.record.contains('}') {
            out.push((
                NodePos::One(record),
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    r.record
                ),
            ));
        }
    }
    for k in r.labels.keys() {
        if !valid_label_name(k, opts.legacy_names) || k == METRIC_NAME {
            out.push((NodePos::None, format!("invalid label name: {k}")));
        }
    }
    for k in r.annotations.keys() {
        if !valid_label_name(k, opts.legacy_names) {
            out.push((NodePos::None, format!("invalid annotation name: {k}")));
        }
    }
    if !r.alert.is_empty() {
        for (k, v) in &r.labels {
            if let Err(e) = parse_alert_template(&r.alert, v) {
                out.push((NodePos::None, format!("label {}: {e}", go_quote(k))));
            }
        }
        for (k, v) in &r.annotations {
            if let Err(e) = parse_alert_template(&r.alert, v) {
                out.push((NodePos::None, format!("annotation {}: {e}", go_quote(k))));
            }
        }
    }
    out
}

/// Upstream's `ParseTest` of a label/annotation template of alert `alert`.
fn parse_alert_template(alert: &str, text: &str) -> Result<(), String> {
    let name = format!("__alert_{alert}");
    let full = format!("{}{text}", template::ALERT_TEMPLATE_DEFS);
    template::Template::parse(&name, &full)
        .map(|_| ())
        .map_err(|e| format!("error parsing template {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        match parse(text, &ParseOptions::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.0).collect(),
        }
    }

    #[test]
    fn parses_groups_and_rules() {
        let text = "groups:\n  - name: g\n    interval: 30s\n    limit: 3\n    labels: {team: a}\n    rules:\n      - record: r\n        expr: up\n      - alert: A\n        expr: up == 0\n        for: 5m\n        annotations:\n          summary: \"{{ $labels.instance }}\"\n";
        let g = parse(text, &ParseOptions::default()).unwrap_or_default();
        assert_eq!(g.groups.len(), 1);
        assert_eq!(g.groups[0].interval, Some(30_000));
        assert_eq!(g.groups[0].limit, 3);
        assert_eq!(g.groups[0].rules[1].for_, 300_000);
        assert_eq!(g.groups[0].rules[1].name(), "A");
    }

    #[test]
    fn upstream_messages() {
        assert_eq!(
            errs("groups:\n  - name: yolo\n  - name: yolo\n"),
            vec!["3:5: groupname: \"yolo\" is repeated in the same file"]
        );
        assert_eq!(
            errs("groups:\n  - name: yolo\n    rules:\n      - expr: 1\n"),
            vec!["0:0: 0:0: group \"yolo\", rule 1, \"\": one of 'record' or 'alert' must be set"]
        );
        assert_eq!(
            errs("groups:\n  - name: yolo\n    rules:\n      - record: Hello\n        expr: 1\n        for: 1m\n"),
            vec!["4:17: group \"yolo\", rule 1, \"Hello\": invalid field 'for' in recording rule"]
        );
        assert_eq!(
            errs("groups:\n  - name: g\n    rules:\n      - alert: a\n        expr: 1\n        annotation:\n          x: y\n"),
            vec!["yaml: unmarshal errors:\n  line 6: field annotation not found in type rulefmt.Rule"]
        );
        let e = errs("groups:\n  - name: g\n    rules:\n      - alert: a\n        expr: 1\n        annotations:\n          x: \"{{ $x }}\"\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("group \"g\", rule 1, \"a\": annotation \"x\": error parsing template __alert_a: template: __alert_a:1: undefined variable \"$x\""), "{e:?}");
    }

    #[test]
    fn empty_and_multi_document_files() {
        assert_eq!(
            parse("", &ParseOptions::default()),
            Ok(RuleGroups::default())
        );
        let g = parse(
            "groups:\n- name: a\n---\ngroups: []\n",
            &ParseOptions::default(),
        );
        assert_eq!(g.map(|g| g.groups.len()), Ok(1));
    }
}
