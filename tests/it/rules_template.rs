//! Table-driven template tests: cases ported from upstream's
//! `template/template_test.go`, kept as data in `rules_data/template_cases.yml`.

use std::collections::BTreeMap;

use promlite::model::Labels;
use promlite::template::{expand, Env, QuerySample, Value};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    text: String,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    input: Option<Vec<serde_yaml::Value>>,
    #[serde(default)]
    query_result: Option<Vec<CaseSample>>,
}

#[derive(Deserialize)]
struct CaseSample {
    labels: BTreeMap<String, String>,
    value: f64,
}

fn to_value(v: &serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_yaml::Value::String(s) => Value::str(s.clone()),
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        _ => Value::Nil,
    }
}

#[test]
fn upstream_template_cases() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/rules_data/template_cases.yml"
    );
    let text = std::fs::read_to_string(path).expect("read template cases");
    let cases: Vec<Case> = serde_yaml::from_str(&text).expect("parse template cases");
    assert!(cases.len() > 50);
    let mut failures = Vec::new();
    for c in &cases {
        let samples: Vec<QuerySample> = c
            .query_result
            .iter()
            .flatten()
            .map(|s| QuerySample {
                labels: Labels::from_pairs(
                    &s.labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                ),
                value: s.value,
            })
            .collect();
        let query = move |_: &str, _: i64| Ok(samples.clone());
        let env = Env {
            query: Some(&query),
            external_url: "http://testhost:9090/path/prefix",
            timestamp_ms: 0,
        };
        let data = match &c.input {
            Some(items) => Value::list(items.iter().map(to_value).collect()),
            None => Value::Nil,
        };
        let got = expand("test", &c.text, data, &env).map_err(|e| e.to_string());
        let want = match (&c.output, &c.error) {
            (Some(o), _) => Ok(o.clone()),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Ok(String::new()),
        };
        if got != want {
            failures.push(format!("{:?}\n   got {got:?}\n  want {want:?}", c.text));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
