//! The JSON of `/api/v1/rules` and `/api/v1/alerts`, shaped as upstream's
//! `web/api/v1` answers (the `data` part; the web layer wraps it).

use serde_json::{json, Map, Value as Json};

use crate::model::{Labels, Matcher};
use crate::storage::matches_all;
use crate::template::funcs::format_go_layout;

use super::alerting::{Alert, AlertingRule};
use super::group::{Group, Rule};
use super::manager::RuleManager;

/// Which rules `/api/v1/rules` returns (its query parameters).
#[derive(Debug, Clone, Default)]
pub struct RulesFilter {
    /// `type=alert` or `type=record`.
    pub kind: Option<RuleKind>,
    pub rule_names: Vec<String>,
    pub group_names: Vec<String>,
    pub files: Vec<String>,
    pub exclude_alerts: bool,
    /// `match[]`: a rule is kept if its configured labels satisfy any set.
    pub matchers: Vec<Vec<Matcher>>,
    /// `group_limit`: at most this many groups per answer (pagination).
    pub group_limit: Option<usize>,
    /// `group_next_token`: the page starts at the group with this token.
    pub group_next_token: String,
}

impl RulesFilter {
    /// Builds the filter from `/api/v1/rules` query parameters (already
    /// URL-decoded); the error is upstream's message for a bad parameter.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<RulesFilter, String> {
        let mut f = RulesFilter::default();
        for (k, v) in params {
            match k {
                "type" => {
                    f.kind = RuleKind::parse(v)
                        .map_err(|e| format!("invalid parameter \"type\": {e}"))?
                }
                "rule_name[]" => f.rule_names.push(v.to_string()),
                "rule_group[]" => f.group_names.push(v.to_string()),
                "file[]" => f.files.push(v.to_string()),
                "match[]" => f.matchers.push(
                    crate::promql::parse_metric_selector(v)
                        .map_err(|e| format!("invalid parameter \"match[]\": {e}"))?,
                ),
                "exclude_alerts" => {
                    f.exclude_alerts = match v {
                        "" | "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                        "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                        _ => {
                            return Err(format!(
                        "parsing exclude_alerts: strconv.ParseBool: parsing {v:?}: invalid syntax"
                    ))
                        }
                    }
                }
                "group_limit" => {
                    let bad = |why: String| format!("invalid parameter \"group_limit\": {why}");
                    let n: i32 = v.parse().map_err(|_| {
                        bad(format!("group_limit needs to be a valid number: strconv.ParseInt: parsing {v:?}: invalid syntax"))
                    })?;
                    if n <= 0 {
                        return Err(bad("group_limit needs to be greater than 0".into()));
                    }
                    f.group_limit = Some(n as usize);
                }
                "group_next_token" => f.group_next_token = v.to_string(),
                _ => {}
            }
        }
        if !f.group_next_token.is_empty() && f.group_limit.is_none() {
            return Err("invalid parameter \"group_next_token\": group_limit needs to be present in order to paginate over the groups".into());
        }
        Ok(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Alert,
    Record,
}

impl RuleKind {
    /// Parses the `type` parameter; the error is upstream's message.
    pub fn parse(s: &str) -> Result<Option<RuleKind>, String> {
        match s.to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "alert" => Ok(Some(RuleKind::Alert)),
            "record" => Ok(Some(RuleKind::Record)),
            _ => Err(format!("not supported value {s:?}")),
        }
    }
}

fn labels_json(l: &Labels) -> Json {
    let mut m = Map::new();
    for label in l.iter() {
        m.insert(label.name.clone(), Json::String(label.value.clone()));
    }
    Json::Object(m)
}

/// Go's RFC 3339 with nanoseconds.
fn rfc3339(ms: i64) -> String {
    format_go_layout(
        ms.saturating_mul(1_000_000),
        "2006-01-02T15:04:05.999999999Z07:00",
    )
}

/// A time that may be unset (0): Go's zero time then.
fn time_json(ms: i64) -> Json {
    if ms == 0 {
        return Json::String("0001-01-01T00:00:00Z".into());
    }
    Json::String(rfc3339(ms))
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as upstream prints alert values.
fn value_e(v: f64) -> String {
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
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn alert_json(a: &Alert) -> Json {
    let mut o = Map::new();
    o.insert("labels".into(), labels_json(&a.labels));
    o.insert("annotations".into(), labels_json(&a.annotations));
    o.insert("state".into(), Json::String(a.state.as_str().into()));
    // Every alert has an active time, the epoch included.
    o.insert("activeAt".into(), Json::String(rfc3339(a.active_at)));
    if a.keep_firing_since != 0 {
        o.insert("keepFiringSince".into(), time_json(a.keep_firing_since));
    }
    o.insert("value".into(), Json::String(value_e(a.value)));
    Json::Object(o)
}

fn alerting_rule_json(r: &AlertingRule, exclude_alerts: bool) -> Json {
    let mut o = Map::new();
    o.insert("state".into(), json!(r.state().as_str()));
    o.insert("name".into(), json!(r.name));
    o.insert("query".into(), json!(r.expr.to_string()));
    o.insert("duration".into(), json!(r.hold_duration as f64 / 1000.0));
    o.insert(
        "keepFiringFor".into(),
        json!(r.keep_firing_for as f64 / 1000.0),
    );
    o.insert("labels".into(), labels_json(&r.labels));
    o.insert("annotations".into(), labels_json(&r.annotations));
    // Upstream's field has no omitempty: excluded alerts are `null`.
    let alerts = if exclude_alerts {
        Json::Null
    } else {
        Json::Array(r.active_alerts().into_iter().map(alert_json).collect())
    };
    o.insert("alerts".into(), alerts);
    o.insert("health".into(), json!(r.health.as_str()));
    if let Some(e) = &r.last_error {
        o.insert("lastError".into(), json!(e));
    }
    o.insert("evaluationTime".into(), json!(r.evaluation_seconds));
    o.insert("lastEvaluation".into(), time_json(r.last_evaluation));
    o.insert("type".into(), json!("alerting"));
    Json::Object(o)
}

fn rule_json(rule: &Rule, exclude_alerts: bool) -> Json {
    match rule {
        Rule::Alerting(r) => alerting_rule_json(r, exclude_alerts),
        Rule::Recording(r) => {
            let mut o = Map::new();
            o.insert("name".into(), json!(r.name));
            o.insert("query".into(), json!(r.expr.to_string()));
            if !r.labels.is_empty() {
                o.insert("labels".into(), labels_json(&r.labels));
            }
            o.insert("health".into(), json!(r.health.as_str()));
            if let Some(e) = &r.last_error {
                o.insert("lastError".into(), json!(e));
            }
            o.insert("evaluationTime".into(), json!(r.evaluation_seconds));
            o.insert("lastEvaluation".into(), time_json(r.last_evaluation));
            o.insert("type".into(), json!("recording"));
            Json::Object(o)
        }
    }
}

fn group_json(g: &Group, f: &RulesFilter) -> Option<Json> {
    if !f.group_names.is_empty() && !f.group_names.contains(&g.name) {
        return None;
    }
    if !f.files.is_empty() && !f.files.contains(&g.file) {
        return None;
    }
    let st = g.lock();
    let rules: Vec<Json> = st
        .rules
        .iter()
        .filter(|r| {
            !matches!(
                (f.kind, r),
                (Some(RuleKind::Alert), Rule::Recording(_))
                    | (Some(RuleKind::Record), Rule::Alerting(_))
            )
        })
        .filter(|r| f.rule_names.is_empty() || f.rule_names.iter().any(|n| n == r.name()))
        .filter(|r| f.matchers.is_empty() || f.matchers.iter().any(|m| matches_all(r.labels(), m)))
        .map(|r| rule_json(r, f.exclude_alerts))
        .collect();
    // Upstream lists no group without rules, whether a filter emptied it
    // or it has none.
    if rules.is_empty() {
        return None;
    }
    Some(json!({
        "name": g.name,
        "file": g.file,
        "rules": rules,
        "interval": g.interval as f64 / 1000.0,
        "limit": g.limit,
        "evaluationTime": st.evaluation_seconds,
        "lastEvaluation": time_json(st.last_evaluation),
    }))
}

/// The `data` of `/api/v1/rules` (all groups when not paginated).
pub fn rules_json(m: &RuleManager, f: &RulesFilter) -> Json {
    try_rules_json(m, f).unwrap_or_else(|_| json!({ "groups": [] }))
}

/// The `data` of `/api/v1/rules`; the error is upstream's message for a
/// `group_next_token` that names no group.
pub fn try_rules_json(m: &RuleManager, f: &RulesFilter) -> Result<Json, String> {
    let mut groups = Vec::new();
    let mut next_token = None;
    let mut found_token = f.group_next_token.is_empty();
    for g in m.rule_groups() {
        if !found_token {
            if group_token(&g.file, &g.name) != f.group_next_token {
                continue;
            }
            found_token = true;
        }
        let Some(j) = group_json(&g, f) else { continue };
        if f.group_limit.is_some_and(|limit| groups.len() == limit) {
            // One group more than the page holds: the next page starts here.
            next_token = Some(group_token(&g.file, &g.name));
            break;
        }
        groups.push(j);
    }
    if !found_token {
        return Err(format!(
            "invalid group_next_token '{}'. were rule groups changed?",
            f.group_next_token
        ));
    }
    let mut out = json!({ "groups": groups });
    if let (Some(t), Some(o)) = (next_token, out.as_object_mut()) {
        o.insert("groupNextToken".into(), Json::String(t));
    }
    Ok(out)
}

/// Upstream's `getRuleGroupNextToken`: hex SHA-1 of `file;group`.
fn group_token(file: &str, group: &str) -> String {
    sha1_hex(format!("{file};{group}").as_bytes())
}

/// SHA-1 (FIPS 180-4) as lowercase hex; only for page tokens.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// The `data` of `/api/v1/alerts`: every pending or firing alert.
pub fn alerts_json(m: &RuleManager) -> Json {
    let mut alerts = Vec::new();
    for g in m.rule_groups() {
        let st = g.lock();
        for r in &st.rules {
            if let Rule::Alerting(ar) = r {
                alerts.extend(ar.active_alerts().into_iter().map(alert_json));
            }
        }
    }
    json!({ "alerts": alerts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_from_params() {
        let f = RulesFilter::from_params([
            ("type", "alert"),
            ("rule_name[]", "A"),
            ("rule_name[]", "B"),
            ("file[]", "/r.yml"),
            ("exclude_alerts", "true"),
            ("match[]", "{severity=\"page\"}"),
        ]);
        let f = f.unwrap_or_default();
        assert_eq!(f.kind, Some(RuleKind::Alert));
        assert_eq!(f.rule_names, vec!["A", "B"]);
        assert!(f.exclude_alerts);
        assert_eq!(f.matchers.len(), 1);
        assert!(RulesFilter::from_params([("match[]", "{")]).is_err());
        assert_eq!(
            RulesFilter::from_params([("type", "x")]).err().as_deref(),
            Some("invalid parameter \"type\": not supported value \"x\"")
        );
    }

    #[test]
    fn sha1_reference_values() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            sha1_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[test]
    fn pagination_params() {
        let f = RulesFilter::from_params([("group_limit", "2"), ("group_next_token", "x")]);
        assert_eq!(
            f.map(|f| (f.group_limit, f.group_next_token)),
            Ok((Some(2), "x".into()))
        );
        assert_eq!(
            RulesFilter::from_params([("group_limit", "0")])
                .err()
                .as_deref(),
            Some("invalid parameter \"group_limit\": group_limit needs to be greater than 0")
        );
        assert!(RulesFilter::from_params([("group_limit", "x")]).is_err());
        assert!(RulesFilter::from_params([("group_next_token", "x")]).is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(value_e(1.0), "1e+00");
        assert_eq!(value_e(1234.5), "1.2345e+03");
        assert_eq!(value_e(0.001), "1e-03");
        assert_eq!(
            time_json(1_700_000_000_123),
            json!("2023-11-14T22:13:20.123Z")
        );
        assert_eq!(time_json(0), json!("0001-01-01T00:00:00Z"));
    }
}
