//! Dynamic values a template works on, standing in for the Go types upstream's
//! templates see (`float64`, `string`, `map[string]string`, `[]*sample`,
//! `time.Time`, ...), and their printing as Go's `fmt.Sprint` prints them.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::model::value::format_go_g;
use crate::model::Labels;

use super::funcs::{format_go_duration, format_go_time};

/// One element of a `query` result: upstream's `sample{Labels, Value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's untyped nil / a missing map entry: prints `<no value>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A string marked safe by `safeHtml`.
    Html(String),
    /// A `map[string]string` (label sets): a missing key reads as `""`.
    Labels(Rc<BTreeMap<String, String>>),
    /// A `map[string]interface{}`: a missing key reads as nil.
    Map(Rc<BTreeMap<String, Value>>),
    List(Rc<Vec<Value>>),
    Sample(Rc<QuerySample>),
    /// A `time.Time` as nanoseconds since the epoch (always UTC).
    Time(i64),
    /// A `time.Duration` in nanoseconds.
    Duration(i64),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn labels(l: &Labels) -> Value {
        Value::Labels(Rc::new(
            l.iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
        ))
    }

    pub fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(Rc::new(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(items))
    }

    /// Go's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::Labels(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "template.queryResult",
            Value::Sample(_) => "*template.sample",
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "*time.Duration",
        }
    }

    /// Go's `template.IsTrue`.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::Labels(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Sample(_) | Value::Time(_) => true,
            Value::Duration(d) => *d != 0,
        }
    }

    /// The text `{{ value }}` writes: Go's `fmt.Fprint` of the value.
    pub fn to_go_string(&self) -> String {
        match self {
            Value::Nil => "<no value>".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_go_g(*f),
            Value::Str(s) | Value::Html(s) => s.clone(),
            Value::Labels(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", parts.join(" "))
            }
            Value::Map(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", v.to_go_string()))
                    .collect();
                format!("map[{}]", parts.join(" "))
            }
            Value::List(l) => {
                let parts: Vec<String> = l.iter().map(|v| v.to_go_string()).collect();
                format!("[{}]", parts.join(" "))
            }
            Value::Sample(s) => format!(
                "&{{{} {}}}",
                Value::labels(&s.labels).to_go_string(),
                format_go_g(s.value)
            ),
            Value::Time(ns) => format_go_time(*ns),
            Value::Duration(ns) => format_go_duration(*ns),
        }
    }
}
