//! Templates for alert labels and annotations: the subset of Go's
//! `text/template` rule writers use, with upstream Prometheus's functions, as
//! upstream's `template` package provides them (`NewTemplateExpander`,
//! `Expand`, `ParseTest`, `AlertTemplateData`).
//!
//! This module owns parsing and executing templates. It never touches storage
//! or the engine: `query` goes through a callback the caller provides.

mod exec;
pub mod funcs;
mod lex;
mod parse;
pub mod value;

use std::fmt;

use crate::model::Labels;

pub use value::{QuerySample, Value};

/// Runs a PromQL instant query for the `query` function at the given time (ms).
pub type QueryFunc<'a> = dyn Fn(&str, i64) -> Result<Vec<QuerySample>, String> + 'a;

/// Everything a template's functions may need besides the data.
pub struct Env<'a> {
    /// For `query`; `None` where no engine is available (then `query` fails).
    pub query: Option<&'a QueryFunc<'a>>,
    /// `--web.external-url`, for `externalURL` and `pathPrefix`.
    pub external_url: &'a str,
    /// The evaluation time, for `query` and `now`.
    pub timestamp_ms: i64,
}

/// A template that failed to parse or to execute, in Go's wording.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateError {
    /// `template: NAME:LINE: MSG`
    Parse {
        name: String,
        line: usize,
        msg: String,
    },
    /// `template: NAME:LINE:COL: executing "NAME" at <NODE>: MSG`
    Exec {
        name: String,
        line: usize,
        col: usize,
        node: String,
        msg: String,
    },
}

impl TemplateError {
    fn parse(name: &str, line: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::Parse {
            name: name.to_string(),
            line,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Parse { name, line, msg } => write!(f, "template: {name}:{line}: {msg}"),
            TemplateError::Exec {
                name,
                line,
                col,
                node,
                msg,
            } => write!(
                f,
                "template: {name}:{line}:{col}: executing \"{name}\" at <{node}>: {msg}"
            ),
        }
    }
}

impl std::error::Error for TemplateError {}

/// A parsed template, reusable across executions.
#[derive(Debug, Clone)]
pub struct Template {
    tree: parse::Tree,
}

impl Template {
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            tree: parse::parse(name, text, &funcs::is_function)?,
        })
    }

    pub fn execute(&self, data: Value, env: &Env<'_>) -> Result<String, TemplateError> {
        exec::execute(&self.tree, data, env)
    }
}

/// The error of upstream's `Expander.Expand`: which phase failed, then Go's text.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpandError {
    Parsing(String, TemplateError),
    Executing(String, TemplateError),
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpandError::Parsing(n, e) => write!(f, "error parsing template {n}: {e}"),
            ExpandError::Executing(n, e) => write!(f, "error executing template {n}: {e}"),
        }
    }
}

impl std::error::Error for ExpandError {}

/// Parses and executes `text` in one go, as upstream's `Expander.Expand`.
pub fn expand(name: &str, text: &str, data: Value, env: &Env<'_>) -> Result<String, ExpandError> {
    let t = Template::parse(name, text).map_err(|e| ExpandError::Parsing(name.to_string(), e))?;
    t.execute(data, env)
        .map_err(|e| ExpandError::Executing(name.to_string(), e))
}

/// The variables upstream defines in front of every alert label/annotation template.
pub const ALERT_TEMPLATE_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Upstream's `AlertTemplateData`: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`.
pub fn alert_template_data(
    labels: &Labels,
    external_labels: &Labels,
    external_url: &str,
    value: f64,
) -> Value {
    Value::map(vec![
        ("Labels", Value::labels(labels)),
        ("ExternalLabels", Value::labels(external_labels)),
        ("ExternalURL", Value::str(external_url)),
        ("Value", Value::Float(value)),
    ])
}

/// Expands one alert label or annotation value as upstream's alerting rule
/// does: the convenience variables in front, and a failure turned into the
/// text `<error expanding template: ...>` so evaluation always goes on.
pub fn expand_alert_field(rule_name: &str, text: &str, data: &Value, env: &Env<'_>) -> String {
    let full = format!("{ALERT_TEMPLATE_DEFS}{text}");
    let name = format!("__alert_{rule_name}");
    match expand(&name, &full, data.clone(), env) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("Expanding alert template failed: {e}");
            format!("<error expanding template: {e}>")
        }
    }
}

/// Upstream's `ParseTest` on a rule's label/annotation value, for rule-file
/// validation: only parsing, with the same convenience variables defined.
pub fn parse_alert_field(text: &str) -> Result<(), ExpandError> {
    let full = format!("{ALERT_TEMPLATE_DEFS}{text}");
    Template::parse("__field_name__", &full)
        .map(|_| ())
        .map_err(|e| ExpandError::Parsing("__field_name__".to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_fields_see_convenience_variables() {
        let data = alert_template_data(
            &Labels::from_pairs(&[("instance", "a:9100")]),
            &Labels::from_pairs(&[("dc", "eu")]),
            "http://prom:9090",
            0.5,
        );
        let env = Env {
            query: None,
            external_url: "http://prom:9090",
            timestamp_ms: 0,
        };
        let out = expand_alert_field(
            "A",
            "{{ $labels.instance }} {{ $value }} {{ $externalLabels.dc }} {{ .Labels.missing }}.",
            &data,
            &env,
        );
        assert_eq!(out, "a:9100 0.5 eu .");
    }

    #[test]
    fn broken_template_becomes_annotation_text() {
        let env = Env {
            query: None,
            external_url: "",
            timestamp_ms: 0,
        };
        let out = expand_alert_field("A", "{{ humanize \"x\" }}", &Value::Nil, &env);
        assert!(out.starts_with("<error expanding template: error executing template __alert_A: template: __alert_A:1:"), "{out}");
        assert!(parse_alert_field("{{ $labels.x }").is_err());
        assert!(parse_alert_field("{{ $labels.x }}").is_ok());
    }
}
