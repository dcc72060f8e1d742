//! Recording and alerting rules, as upstream's `rules` package: the rule file
//! format (`rulefmt`), rules and groups, the rule manager that evaluates them
//! on their intervals (a thread per group), the `/api/v1/rules` and
//! `/api/v1/alerts` JSON, and promtool's `check rules`/`test rules`.
//!
//! Rules see storage only through `storage::Appendable`/`Queryable` and the
//! engine only through `QueryFunc`; they never name a TSDB type.

pub mod alerting;
pub mod api;
pub mod group;
pub mod manager;
pub mod promtool;
pub mod recording;
pub mod rulefmt;
pub mod schedule;
mod yamlpos;

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::model::Labels;
use crate::promql::ast::Expr;
use crate::promql::{Engine, QueryError, Value, VectorSample};
use crate::storage::Queryable;

pub use alerting::{Alert, AlertState, AlertingRule};
pub use group::{Group, Rule};
pub use manager::{ManagerOptions, RuleManager};
pub use recording::RecordingRule;

/// Checks a rule expression with the PromQL parser, as rule files are validated.
pub fn check_expr(expr: &str) -> Result<(), String> {
    crate::promql::parse_expr(expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Why loading or evaluating rules failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleError {
    /// Rule files that did not load, one message per problem (file named).
    Load(Vec<String>),
    /// A rule's evaluation failed (query error, label collision, limit).
    Eval(String),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::Load(errs) => write!(f, "error loading rules: {}", errs.join("; ")),
            RuleError::Eval(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for RuleError {}

impl From<QueryError> for RuleError {
    fn from(e: QueryError) -> Self {
        RuleError::Eval(e.to_string())
    }
}

/// A rule's health after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleHealth {
    #[default]
    Unknown,
    Good,
    Bad,
}

impl RuleHealth {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Good => "ok",
            RuleHealth::Bad => "err",
        }
    }
}

/// Runs a rule's instant query: upstream's `QueryFunc`. A scalar result
/// comes back as one sample with no labels.
pub trait QueryFunc: Send + Sync {
    fn query(&self, expr: &Expr, ts_ms: i64) -> Result<Vec<VectorSample>, RuleError>;
}

/// The `QueryFunc` over the PromQL engine and a storage: upstream's `EngineQueryFunc`.
pub struct EngineQueryFunc {
    pub engine: Engine,
    pub queryable: Arc<dyn Queryable>,
}

impl QueryFunc for EngineQueryFunc {
    fn query(&self, expr: &Expr, ts_ms: i64) -> Result<Vec<VectorSample>, RuleError> {
        let res = self
            .engine
            .instant_query_expr(self.queryable.as_ref(), expr, ts_ms)?;
        match res.value {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t, v } => Ok(vec![VectorSample {
                labels: Labels::empty(),
                t,
                v,
            }]),
            _ => Err(RuleError::Eval(
                "rule result is not a vector or scalar".to_string(),
            )),
        }
    }
}

/// Orders label sets as upstream's `labels.Compare`.
pub fn cmp_labels(a: &Labels, b: &Labels) -> Ordering {
    a.iter()
        .map(|l| (&l.name, &l.value))
        .cmp(b.iter().map(|l| (&l.name, &l.value)))
}
