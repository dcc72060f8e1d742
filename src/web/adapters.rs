//! The API's status seams implemented for the concrete components: the
//! scrape manager (`ScrapeStatus`), the rule manager (`RulesStatus`), the
//! notifier (`AlertmanagerStatus`) and the TSDB (`TsdbStatus`, `AdminApi`).
//! Each adapter only reshapes what the component already reports into
//! upstream's JSON; none holds state of its own.

use serde_json::{json, Value};

use super::api::{AlertmanagerStatus, ApiError, ErrorType, RulesStatus, ScrapeStatus, TsdbStatus};
use super::backends::AdminApi;
use crate::model::Matcher;
use crate::notifier::NotifierManager;
use crate::rules::api::{alerts_json, try_rules_json, RulesFilter};
use crate::rules::RuleManager;
use crate::scrape::api::{metadata_json, targets_json, targets_metadata_json, TargetState};
use crate::scrape::ScrapeManager;
use crate::tsdb::Db;

/// The API passes 0 for "no limit".
fn limit(n: usize) -> Option<usize> {
    (n > 0).then_some(n)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

impl ScrapeStatus for ScrapeManager {
    fn targets(&self, state: &str, scrape_pool: &str) -> Value {
        targets_json(self, TargetState::parse(state), non_empty(scrape_pool))
    }

    fn targets_metadata(
        &self,
        match_target: &[Matcher],
        metric: &str,
        limit_n: usize,
    ) -> Result<Value, ApiError> {
        targets_metadata_json(self, match_target, non_empty(metric), limit(limit_n))
            .map_err(|e| ApiError::new(ErrorType::NotFound, e))
    }

    fn metadata(
        &self,
        metric: &str,
        limit_n: usize,
        limit_per_metric: usize,
    ) -> Result<Value, ApiError> {
        Ok(metadata_json(
            self,
            non_empty(metric),
            limit(limit_n),
            limit(limit_per_metric),
        ))
    }
}

impl RulesStatus for RuleManager {
    fn rules(&self, params: &[(String, String)]) -> Result<Value, ApiError> {
        let filter = RulesFilter::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(ApiError::bad_data)?;
        try_rules_json(self, &filter).map_err(ApiError::bad_data)
    }

    fn alerts(&self) -> Value {
        alerts_json(self)
    }
}

impl AlertmanagerStatus for NotifierManager {
    fn alertmanagers(&self) -> Value {
        self.alertmanagers_json()
    }
}

fn name_values(v: Vec<(String, u64)>) -> Value {
    Value::Array(
        v.into_iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect(),
    )
}

impl TsdbStatus for Db {
    fn tsdb_status(&self, limit: usize) -> Result<Value, ApiError> {
        let s = self.stats(limit);
        Ok(json!({
            "headStats": {
                "numSeries": s.num_series,
                "numLabelPairs": s.num_label_pairs,
                "chunkCount": s.chunk_count,
                "minTime": s.min_time,
                "maxTime": s.max_time,
            },
            "seriesCountByMetricName": name_values(s.series_count_by_metric_name),
            "labelValueCountByLabelName": name_values(s.label_value_count_by_label_name),
            "memoryInBytesByLabelName": name_values(s.memory_in_bytes_by_label_name),
            "seriesCountByLabelValuePair": name_values(s.series_count_by_label_value_pair),
        }))
    }
}

impl AdminApi for Db {
    fn delete_series(&self, start: i64, end: i64, sets: &[Vec<Matcher>]) -> Result<(), String> {
        for matchers in sets {
            self.delete(start, end, matchers)
                .map_err(|e| format!("delete series: {e}"))?;
        }
        Ok(())
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        Db::clean_tombstones(self)
            .map(|_| ())
            .map_err(|e| format!("clean tombstones: {e}"))
    }

    fn snapshot(&self, skip_head: bool) -> Result<String, String> {
        Db::snapshot(self, skip_head).map_err(|e| e.to_string())
    }
}

/// `/api/v1/status/walreplay` from the replay that ran when the TSDB opened:
/// replay is over by the time the API serves, so `current` equals `max`.
pub fn wal_replay_json(db: &Db) -> Value {
    let r = db.replay_stats();
    let first = r.checkpoint.map_or(0, |c| c as u64 + 1);
    let last = (first + r.segments as u64).saturating_sub(1);
    json!({ "min": first, "max": last, "current": last })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Appendable;

    #[test]
    fn tsdb_status_and_admin_over_a_real_db() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), crate::tsdb::DbOptions::default()).unwrap();
        let mut app = db.appender();
        for (i, job) in ["a", "b"].iter().enumerate() {
            let l = crate::model::Labels::from_pairs(&[("__name__", "up"), ("job", job)]);
            app.append(0, &l, 1000 + i as i64, 1.0).unwrap();
        }
        app.commit().unwrap();
        let v = db.tsdb_status(10).unwrap();
        assert_eq!(v["headStats"]["numSeries"], 2);
        assert_eq!(v["seriesCountByMetricName"][0]["name"], "up");
        assert_eq!(v["seriesCountByMetricName"][0]["value"], 2);

        let name = AdminApi::snapshot(&*db, false).unwrap();
        assert!(dir.path().join("snapshots").join(&name).is_dir());
        let m = Matcher::new(crate::model::MatchType::Equal, "job", "a").unwrap();
        AdminApi::delete_series(&*db, i64::MIN, i64::MAX, &[vec![m]]).unwrap();
        assert_eq!(wal_replay_json(&db)["min"], 0);
        db.close().unwrap();
    }

    /// `/api/v1/status/tsdb` through the API over a real `Db`: upstream's
    /// field names, the `limit` parameter and its error.
    #[test]
    fn status_tsdb_endpoint_shape_and_limit() {
        use crate::web::api::v1::{Api, BuildInfo, ServerStatus};
        use crate::web::http::Request;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), crate::tsdb::DbOptions::default()).unwrap();
        let mut app = db.appender();
        for (name, n) in [("a", 3), ("b", 2), ("c", 1)] {
            for i in 0..n {
                let l =
                    crate::model::Labels::from_pairs(&[("__name__", name), ("i", &i.to_string())]);
                app.append(0, &l, 1000 + i, 1.0).unwrap();
            }
        }
        app.commit().unwrap();
        let api = Api {
            storage: db.clone(),
            engine: None,
            scrape: None,
            rules: None,
            alertmanagers: None,
            tsdb: Some(db.clone()),
            status: std::sync::Arc::new(ServerStatus::new(
                BuildInfo::current(),
                std::collections::BTreeMap::new(),
                "15d".into(),
                300_000,
            )),
            now: || 10_000,
        };
        let get = |q: &str| {
            let r = api.handle(&Request::get(&format!("/x{q}")), "/status/tsdb");
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            (r.status, v)
        };
        let (code, v) = get("");
        assert_eq!(code, 200);
        let d = &v["data"];
        assert_eq!(
            d["headStats"],
            json!({"numSeries": 6, "numLabelPairs": 6, "chunkCount": 6, "minTime": 1000, "maxTime": 1002})
        );
        assert_eq!(
            d["seriesCountByMetricName"],
            json!([{"name": "a", "value": 3}, {"name": "b", "value": 2}, {"name": "c", "value": 1}])
        );
        assert_eq!(
            d["labelValueCountByLabelName"],
            json!([{"name": "__name__", "value": 3}, {"name": "i", "value": 3}])
        );
        // Bytes of the values summed over the series holding them.
        assert_eq!(
            d["memoryInBytesByLabelName"],
            json!([{"name": "__name__", "value": 6}, {"name": "i", "value": 6}])
        );
        assert_eq!(
            d["seriesCountByLabelValuePair"][0],
            json!({"name": "__name__=a", "value": 3})
        );
        let (code, v) = get("?limit=1");
        assert_eq!(code, 200);
        for list in [
            "seriesCountByMetricName",
            "labelValueCountByLabelName",
            "memoryInBytesByLabelName",
            "seriesCountByLabelValuePair",
        ] {
            assert_eq!(
                v["data"][list].as_array().map(|a| a.len()),
                Some(1),
                "{list}"
            );
        }
        for bad in ["0", "-1", "x"] {
            let (code, v) = get(&format!("?limit={bad}"));
            assert_eq!(code, 400, "limit={bad}");
            assert_eq!(v["errorType"], "bad_data");
            assert_eq!(v["error"], "limit must be a positive number");
        }
        db.close().unwrap();
    }
}
