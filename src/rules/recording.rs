//! Recording rules, as upstream's `rules/recording.go`: evaluate the
//! expression, rename the result to the record name and apply the rule's
//! labels, refusing results that collide or exceed the group limit.

use crate::model::labels::METRIC_NAME;
use crate::model::Labels;
use crate::promql::ast::Expr;
use crate::promql::VectorSample;

use super::{QueryFunc, RuleError, RuleHealth};

#[derive(Debug)]
pub struct RecordingRule {
    pub name: String,
    pub expr: Expr,
    pub labels: Labels,
    pub health: RuleHealth,
    pub last_error: Option<String>,
    pub last_evaluation: i64,
    pub evaluation_seconds: f64,
}

impl RecordingRule {
    pub fn new(name: String, expr: Expr, labels: Labels) -> RecordingRule {
        RecordingRule {
            name,
            expr,
            labels,
            health: RuleHealth::Unknown,
            last_error: None,
            last_evaluation: 0,
            evaluation_seconds: 0.0,
        }
    }

    /// The samples to record for evaluation time `ts`.
    pub fn eval(
        &self,
        ts: i64,
        query_offset: i64,
        query: &dyn QueryFunc,
        limit: usize,
    ) -> Result<Vec<VectorSample>, RuleError> {
        let qts = ts - query_offset;
        let mut vector = query.query(&self.expr, qts)?;
        for s in vector.iter_mut() {
            let mut b = s.labels.builder();
            b.set(METRIC_NAME, &self.name);
            for l in self.labels.iter() {
                b.set(&l.name, &l.value);
            }
            s.labels = b.build();
            s.t = qts;
        }
        let mut seen = std::collections::HashSet::with_capacity(vector.len());
        if !vector.iter().all(|s| seen.insert(&s.labels)) {
            return Err(RuleError::Eval(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            ));
        }
        if limit > 0 && vector.len() > limit {
            return Err(RuleError::Eval(format!(
                "exceeded limit of {limit} with {} series",
                vector.len()
            )));
        }
        Ok(vector)
    }
}
