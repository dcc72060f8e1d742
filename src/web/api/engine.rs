//! The PromQL engine behind the API's [`QueryEngine`] seam: query errors map
//! to upstream's API error types, parse/format go through the PromQL parser.

use std::time::Duration;

use super::{ApiError, ErrorType, QueryEngine, QueryOutcome};
use crate::model::Matcher;
use crate::promql::{self, Engine, QueryError, QueryErrorKind};
use crate::storage::Queryable;

fn api_error(e: QueryError) -> ApiError {
    let kind = match e.kind {
        QueryErrorKind::BadData => ErrorType::BadData,
        QueryErrorKind::Execution | QueryErrorKind::TooManySamples => ErrorType::Execution,
        QueryErrorKind::Timeout => ErrorType::Timeout,
        QueryErrorKind::Canceled => ErrorType::Canceled,
        // Upstream's returnAPIError maps storage errors to "internal".
        QueryErrorKind::Storage => ErrorType::Internal,
    };
    ApiError::new(kind, e.message)
}

/// The API's `timeout` in milliseconds as a `Duration`; zero or negative
/// means the deadline has already passed, as with upstream's context.
fn timeout(ms: Option<i64>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(ms.max(0).unsigned_abs()))
}

impl QueryEngine for Engine {
    /// The request's `timeout` bounds the query together with
    /// `--query.timeout`: whichever ends first, as upstream's context deadline.
    fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        ts_ms: i64,
        timeout_ms: Option<i64>,
    ) -> Result<QueryOutcome, ApiError> {
        let r =
            Engine::instant_query_with_timeout(self, storage, query, ts_ms, timeout(timeout_ms))
                .map_err(api_error)?;
        Ok(QueryOutcome {
            value: r.value,
            warnings: r.warnings,
            infos: r.infos,
            stats: r.stats,
        })
    }

    fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        timeout_ms: Option<i64>,
    ) -> Result<QueryOutcome, ApiError> {
        let r = Engine::range_query_with_timeout(
            self,
            storage,
            query,
            start_ms,
            end_ms,
            step_ms,
            timeout(timeout_ms),
        )
        .map_err(api_error)?;
        Ok(QueryOutcome {
            value: r.value,
            warnings: r.warnings,
            infos: r.infos,
            stats: r.stats,
        })
    }

    fn parse_metric_selector(&self, selector: &str) -> Result<Vec<Matcher>, String> {
        promql::parse_metric_selector(selector).map_err(|e| e.to_string())
    }

    fn format_query(&self, query: &str) -> Result<String, String> {
        promql::parse_expr(query)
            .map(|e| e.to_string())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::promql::EngineOpts;
    use crate::storage::memory::MemStorage;

    #[test]
    fn queries_and_errors() {
        let mem = MemStorage::new();
        mem.insert(
            &Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
            0,
            1.0,
        );
        let e = Engine::new(EngineOpts::default());
        let out = QueryEngine::instant_query(&e, &mem, "up", 1000, None).unwrap();
        assert!(matches!(out.value, super::super::QueryValue::Vector(ref v) if v.len() == 1));
        let err = QueryEngine::instant_query(&e, &mem, "up{", 1000, None).unwrap_err();
        assert_eq!(err.kind, ErrorType::BadData);
        assert!(err.message.contains("parse error"), "{}", err.message);
        assert_eq!(
            e.format_query("sum(up)by(job)").unwrap(),
            "sum by (job) (up)"
        );
        assert_eq!(e.parse_metric_selector("up{job=\"a\"}").unwrap().len(), 2);
        let err = QueryEngine::instant_query(&e, &mem, "up", 1000, Some(0)).unwrap_err();
        assert_eq!(err.kind, ErrorType::Timeout);
        let err = QueryEngine::range_query(&e, &mem, "up", 0, 1000, 1000, Some(-5)).unwrap_err();
        assert_eq!(err.kind, ErrorType::Timeout);
        assert!(QueryEngine::instant_query(&e, &mem, "up", 1000, Some(60_000)).is_ok());
        assert!(e.parse_metric_selector("1 + 1").is_err());
    }
}
