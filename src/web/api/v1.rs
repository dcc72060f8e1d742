//! The `/api/v1` endpoints: query, query_range, format_query, series, labels,
//! label values, metadata, targets, rules, alerts, exemplars and status. Each
//! endpoint is a function from a [`Request`] to a result; [`Api::handle`]
//! routes and wraps results in upstream's envelope. The API reads storage only
//! through `Queryable`, PromQL only through [`QueryEngine`], and scrape/rules
//! state only through [`ScrapeStatus`]/[`RulesStatus`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::{json, Value};

use super::params::{parse_duration_param, parse_limit, parse_time, MAX_TIME_MS, MIN_TIME_MS};
use super::{
    encode_query_data, error_response, success, success_raw, AlertmanagerStatus, ApiError,
    ErrorType, QueryEngine, RulesStatus, ScrapeStatus, TsdbStatus,
};
use crate::logging::format_rfc3339_millis;
use crate::model::{Labels, Matcher};
use crate::storage::{Queryable, SelectHints};
use crate::web::http::{Request, Response};

/// Upstream's cap on points per series in a range query.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Build facts for `/api/v1/status/buildinfo` and `prometheus_build_info`.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

impl BuildInfo {
    /// promlite's own build facts. There is no Go runtime; `goVersion` says so.
    pub fn current() -> BuildInfo {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: option_env!("PROMLITE_REVISION")
                .unwrap_or("unknown")
                .to_string(),
            branch: option_env!("PROMLITE_BRANCH")
                .unwrap_or("unknown")
                .to_string(),
            build_user: option_env!("PROMLITE_BUILD_USER")
                .unwrap_or("unknown")
                .to_string(),
            build_date: option_env!("PROMLITE_BUILD_DATE")
                .unwrap_or("unknown")
                .to_string(),
            go_version: "none (promlite is written in Rust)".to_string(),
        }
    }
}

/// Server state the status endpoints report; updated by the reload handler.
#[derive(Debug)]
pub struct ServerStatus {
    pub build: BuildInfo,
    pub flags: BTreeMap<String, String>,
    pub start_time_ms: i64,
    pub storage_retention: String,
    pub lookback_delta_ms: i64,
    config_yaml: RwLock<String>,
    external_labels: RwLock<Labels>,
    reload_success: AtomicBool,
    last_config_time_ms: AtomicI64,
}

impl ServerStatus {
    pub fn new(
        build: BuildInfo,
        flags: BTreeMap<String, String>,
        storage_retention: String,
        lookback_delta_ms: i64,
    ) -> ServerStatus {
        ServerStatus {
            build,
            flags,
            start_time_ms: crate::model::value::now_millis(),
            storage_retention,
            lookback_delta_ms,
            config_yaml: RwLock::new(String::new()),
            external_labels: RwLock::new(Labels::empty()),
            reload_success: AtomicBool::new(false),
            last_config_time_ms: AtomicI64::new(0),
        }
    }

    /// Records a successfully applied configuration (secrets already hidden in `yaml`).
    pub fn set_config(&self, yaml: String, external_labels: Labels) {
        *self.config_yaml.write().unwrap_or_else(|e| e.into_inner()) = yaml;
        *self
            .external_labels
            .write()
            .unwrap_or_else(|e| e.into_inner()) = external_labels;
        self.reload_success.store(true, Ordering::SeqCst);
        self.last_config_time_ms
            .store(crate::model::value::now_millis(), Ordering::SeqCst);
    }

    /// Records a failed reload; the old configuration stays.
    pub fn set_reload_failed(&self) {
        self.reload_success.store(false, Ordering::SeqCst);
    }

    pub fn config_yaml(&self) -> String {
        self.config_yaml
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn external_labels(&self) -> Labels {
        self.external_labels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The API: storage, engine and the status seams.
pub struct Api {
    pub storage: Arc<dyn Queryable>,
    pub engine: Option<Arc<dyn QueryEngine>>,
    pub scrape: Option<Arc<dyn ScrapeStatus>>,
    pub rules: Option<Arc<dyn RulesStatus>>,
    pub alertmanagers: Option<Arc<dyn AlertmanagerStatus>>,
    pub tsdb: Option<Arc<dyn TsdbStatus>>,
    pub status: Arc<ServerStatus>,
    /// The clock, replaceable in tests.
    pub now: fn() -> i64,
}

type ApiResult = Result<Response, ApiError>;

impl Api {
    /// The metrics `handler` label of a path below `/api/v1` (upstream's route patterns).
    pub fn route_name(path: &str) -> String {
        if label_values_name(path).is_some() {
            return "/api/v1/label/:name/values".to_string();
        }
        match path {
            "/query"
            | "/query_range"
            | "/query_exemplars"
            | "/format_query"
            | "/parse_query"
            | "/series"
            | "/labels"
            | "/metadata"
            | "/targets"
            | "/targets/metadata"
            | "/rules"
            | "/alerts"
            | "/alertmanagers"
            | "/status/config"
            | "/status/flags"
            | "/status/runtimeinfo"
            | "/status/buildinfo"
            | "/status/tsdb"
            | "/status/walreplay"
            | "/write"
            | "/otlp/v1/metrics"
            | "/notifications"
            | "/notifications/live" => format!("/api/v1{path}"),
            _ if path.starts_with("/admin/") => "/api/v1/admin".to_string(),
            _ => "/api/v1/*".to_string(),
        }
    }

    /// Serves one request whose path is below `/api/v1` (`path` starts with `/`).
    pub fn handle(&self, req: &Request, path: &str) -> Response {
        let get_post = matches!(req.method.as_str(), "GET" | "POST");
        let result = match path {
            "/query" if get_post => self.query(req),
            "/query_range" if get_post => self.query_range(req),
            "/query_exemplars" if get_post => self.query_exemplars(req),
            "/format_query" if get_post => self.format_query(req),
            "/series" if get_post => self.series(req),
            // Upstream registers DELETE /series but never built it
            // (`dropSeries`); the admin API's delete_series is the real one.
            "/series" if req.method == "DELETE" => {
                Err(ApiError::new(ErrorType::Internal, "not implemented"))
            }
            "/labels" if get_post => self.labels(req),
            "/metadata" if req.method == "GET" => self.metadata(req),
            "/targets" if req.method == "GET" => self.targets(req),
            "/targets/metadata" if req.method == "GET" => self.targets_metadata(req),
            "/rules" if req.method == "GET" => self.rules(req),
            "/alerts" if req.method == "GET" => self.alerts(),
            "/alertmanagers" if req.method == "GET" => self.alertmanagers(),
            "/status/config" if req.method == "GET" => {
                Ok(success(&json!({ "yaml": self.status.config_yaml() }), &[]))
            }
            "/status/flags" if req.method == "GET" => Ok(success(&json!(self.status.flags), &[])),
            "/status/runtimeinfo" if req.method == "GET" => self.runtime_info(),
            "/status/buildinfo" if req.method == "GET" => self.build_info(),
            "/status/tsdb" if req.method == "GET" => self.tsdb_status(req),
            "/status/walreplay" if req.method == "GET" => {
                Ok(success(&json!({ "min": 0, "max": 0, "current": 0 }), &[]))
            }
            // Upstream answers these with plain `http.Error` text, not the envelope.
            "/write" => Ok(Response::text(
                404,
                "remote write receiver needs to be enabled with --web.enable-remote-write-receiver",
            )),
            "/otlp/v1/metrics" => Ok(Response::text(
                404,
                "otlp write receiver needs to be enabled with --web.enable-otlp-receiver (not supported by promlite)",
            )),
            _ if path.starts_with("/admin/") => {
                Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled"))
            }
            _ if req.method == "GET" && label_values_name(path).is_some() => {
                self.label_values(req, label_values_name(path).unwrap_or_default())
            }
            _ if known_path(path) => {
                return Response::text(405, "Method Not Allowed");
            }
            _ => return Response::text(404, "404 page not found"),
        };
        match result {
            Ok(r) => r,
            Err(e) => error_response(&e),
        }
    }

    fn engine(&self) -> Result<&dyn QueryEngine, ApiError> {
        self.engine.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorType::Unavailable,
                "the PromQL engine is not wired into this promlite build yet",
            )
        })
    }

    fn time_param(req: &Request, name: &str, default: i64) -> Result<i64, ApiError> {
        let v = req.param(name);
        if v.is_empty() {
            return Ok(default);
        }
        parse_time(v).map_err(|e| ApiError::invalid_param(name, e))
    }

    fn timeout_param(req: &Request) -> Result<Option<i64>, ApiError> {
        let v = req.param("timeout");
        if v.is_empty() {
            return Ok(None);
        }
        parse_duration_param(v)
            .map(Some)
            .map_err(|e| ApiError::invalid_param("timeout", e))
    }

    /// Engine errors of type bad_data are parse errors: upstream reports them
    /// as an invalid `query` parameter.
    fn engine_error(e: ApiError) -> ApiError {
        if e.kind == ErrorType::BadData {
            ApiError::invalid_param("query", e.message)
        } else {
            e
        }
    }

    fn query(&self, req: &Request) -> ApiResult {
        let ts = Self::time_param(req, "time", (self.now)())?;
        let timeout = Self::timeout_param(req)?;
        let limit =
            parse_limit(req.param("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
        let engine = self.engine()?;
        let mut out = engine
            .instant_query(&*self.storage, req.param("query"), ts, timeout)
            .map_err(Self::engine_error)?;
        truncate_series(&mut out, limit);
        let mut data = Vec::with_capacity(256);
        encode_query_data(&out.value, &mut data);
        if !req.param("stats").is_empty() {
            super::append_stats(&mut data, &out.stats);
        }
        Ok(success_raw(&data, &out.warnings, &out.infos))
    }

    fn query_range(&self, req: &Request) -> ApiResult {
        let start =
            parse_time(req.param("start")).map_err(|e| ApiError::invalid_param("start", e))?;
        let end = parse_time(req.param("end")).map_err(|e| ApiError::invalid_param("end", e))?;
        if end < start {
            return Err(ApiError::invalid_param(
                "end",
                "end timestamp must not be before start time",
            ));
        }
        let step = parse_duration_param(req.param("step"))
            .map_err(|e| ApiError::invalid_param("step", e))?;
        if step <= 0 {
            return Err(ApiError::invalid_param(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        // Upstream divides durations (nanoseconds); milliseconds give the same quotient.
        if end.saturating_sub(start) / step > MAX_POINTS_PER_SERIES {
            return Err(ApiError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let timeout = Self::timeout_param(req)?;
        let limit =
            parse_limit(req.param("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
        let engine = self.engine()?;
        let mut out = engine
            .range_query(
                &*self.storage,
                req.param("query"),
                start,
                end,
                step,
                timeout,
            )
            .map_err(Self::engine_error)?;
        truncate_series(&mut out, limit);
        let mut data = Vec::with_capacity(4096);
        encode_query_data(&out.value, &mut data);
        if !req.param("stats").is_empty() {
            super::append_stats(&mut data, &out.stats);
        }
        Ok(success_raw(&data, &out.warnings, &out.infos))
    }

    fn query_exemplars(&self, req: &Request) -> ApiResult {
        let start = Self::time_param(req, "start", MIN_TIME_MS)?;
        let end = Self::time_param(req, "end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start timestamp",
            ));
        }
        let engine = self.engine()?;
        // Validate the query as upstream does; promlite stores no exemplars.
        engine
            .format_query(req.param("query"))
            .map_err(|e| ApiError::invalid_param("query", e))?;
        Ok(success(&json!([]), &[]))
    }

    fn format_query(&self, req: &Request) -> ApiResult {
        let engine = self.engine()?;
        let formatted = engine
            .format_query(req.param("query"))
            .map_err(|e| ApiError::invalid_param("query", e))?;
        Ok(success(&Value::String(formatted), &[]))
    }

    fn matcher_sets(&self, req: &Request) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let selectors = req.params_all("match[]");
        if selectors.is_empty() {
            return Ok(Vec::new());
        }
        let engine = self.engine()?;
        let mut sets = Vec::with_capacity(selectors.len());
        for s in selectors {
            let m = engine
                .parse_metric_selector(s)
                .map_err(|e| ApiError::invalid_param("match[]", e))?;
            sets.push(m);
        }
        Ok(sets)
    }

    fn range_params(req: &Request) -> Result<(i64, i64), ApiError> {
        let start = Self::time_param(req, "start", MIN_TIME_MS)?;
        let end = Self::time_param(req, "end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::invalid_param(
                "end",
                "end timestamp must not be before start timestamp",
            ));
        }
        Ok((start, end))
    }

    fn series(&self, req: &Request) -> ApiResult {
        if req.params_all("match[]").is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let (start, end) = Self::range_params(req)?;
        let limit =
            parse_limit(req.param("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
        let sets = self.matcher_sets(req)?;
        let querier = self.storage.querier(start, end).map_err(exec)?;
        let hints = SelectHints {
            start,
            end,
            func: "series".to_string(),
            ..SelectHints::default()
        };
        let mut found: BTreeSet<Labels> = BTreeSet::new();
        for set in &sets {
            for s in querier.select(true, Some(&hints), set).map_err(exec)? {
                found.insert(s.map_err(exec)?.labels().clone());
            }
        }
        let mut warnings = Vec::new();
        let mut out = Vec::with_capacity(found.len() * 64 + 2);
        out.push(b'[');
        for (i, l) in found.iter().enumerate() {
            if limit > 0 && i >= limit {
                warnings.push("results truncated due to limit".to_string());
                break;
            }
            if i > 0 {
                out.push(b',');
            }
            super::write_labels(&mut out, l);
        }
        out.push(b']');
        Ok(success_raw(&out, &warnings, &[]))
    }

    fn labels(&self, req: &Request) -> ApiResult {
        let (start, end) = Self::range_params(req)?;
        let limit =
            parse_limit(req.param("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
        let sets = self.matcher_sets(req)?;
        let querier = self.storage.querier(start, end).map_err(exec)?;
        let mut names: BTreeSet<String> = BTreeSet::new();
        if sets.is_empty() {
            names.extend(querier.label_names(&[]).map_err(exec)?);
        } else {
            for set in &sets {
                names.extend(querier.label_names(set).map_err(exec)?);
            }
        }
        Ok(truncated_list(names.into_iter().collect(), limit))
    }

    fn label_values(&self, req: &Request, raw_name: &str) -> ApiResult {
        let mut name = crate::web::http::percent_decode(raw_name);
        if let Some(escaped) = name.strip_prefix("U__") {
            name = unescape_utf8_name(escaped)
                .ok_or_else(|| ApiError::bad_data(format!("invalid label name: {raw_name:?}")))?;
        }
        if name.is_empty() {
            return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
        }
        let (start, end) = Self::range_params(req)?;
        let limit =
            parse_limit(req.param("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
        let sets = self.matcher_sets(req)?;
        let querier = self.storage.querier(start, end).map_err(exec)?;
        let mut values: BTreeSet<String> = BTreeSet::new();
        if sets.is_empty() {
            values.extend(querier.label_values(&name, &[]).map_err(exec)?);
        } else {
            for set in &sets {
                values.extend(querier.label_values(&name, set).map_err(exec)?);
            }
        }
        Ok(truncated_list(values.into_iter().collect(), limit))
    }

    fn metadata(&self, req: &Request) -> ApiResult {
        let limit =
            parse_limit(req.param("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
        let per_metric = parse_limit(req.param("limit_per_metric"))
            .map_err(|e| ApiError::invalid_param("limit_per_metric", e))?;
        let data = match &self.scrape {
            Some(s) => s.metadata(req.param("metric"), limit, per_metric)?,
            None => json!({}),
        };
        Ok(success(&data, &[]))
    }

    fn targets(&self, req: &Request) -> ApiResult {
        // Upstream treats an unknown state like "any".
        let state = req.param("state");
        let data = match &self.scrape {
            Some(s) => s.targets(state, req.param("scrapePool")),
            None => {
                let mut d = serde_json::Map::new();
                if state != "dropped" {
                    d.insert("activeTargets".into(), json!([]));
                }
                if state != "active" {
                    d.insert("droppedTargets".into(), json!([]));
                    d.insert("droppedTargetCounts".into(), json!({}));
                }
                Value::Object(d)
            }
        };
        Ok(success(&data, &[]))
    }

    fn targets_metadata(&self, req: &Request) -> ApiResult {
        let limit =
            parse_limit(req.param("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
        let match_target = req.param("match_target");
        let matchers = if match_target.is_empty() {
            Vec::new()
        } else {
            self.engine()?
                .parse_metric_selector(match_target)
                .map_err(|e| ApiError::invalid_param("match_target", e))?
        };
        let data = match &self.scrape {
            Some(s) => s.targets_metadata(&matchers, req.param("metric"), limit)?,
            None => json!([]),
        };
        Ok(success(&data, &[]))
    }

    fn rules(&self, req: &Request) -> ApiResult {
        let t = req.param("type");
        if !matches!(t, "" | "alert" | "record") {
            return Err(ApiError::invalid_param(
                "type",
                format!("not supported value {t:?}"),
            ));
        }
        let data = match &self.rules {
            Some(r) => r.rules(&req.params)?,
            None => json!({ "groups": [] }),
        };
        Ok(success(&data, &[]))
    }

    fn alerts(&self) -> ApiResult {
        let data = match &self.rules {
            Some(r) => r.alerts(),
            None => json!({ "alerts": [] }),
        };
        Ok(success(&data, &[]))
    }

    fn alertmanagers(&self) -> ApiResult {
        let data = match &self.alertmanagers {
            Some(n) => n.alertmanagers(),
            None => json!({ "activeAlertmanagers": [], "droppedAlertmanagers": [] }),
        };
        Ok(success(&data, &[]))
    }

    fn runtime_info(&self) -> ApiResult {
        let s = &self.status;
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("Cannot get working directory: {e}"));
        let threads = std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(0);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let data = json!({
            "startTime": format_rfc3339_millis(s.start_time_ms),
            "CWD": cwd,
            "hostname": hostname(),
            "serverTime": format_rfc3339_millis((self.now)()),
            "reloadConfigSuccess": s.reload_success.load(Ordering::SeqCst),
            "lastConfigTime": format_rfc3339_millis(s.last_config_time_ms.load(Ordering::SeqCst)),
            "corruptionCount": 0,
            "goroutineCount": threads,
            "GOMAXPROCS": cores,
            "GOMEMLIMIT": i64::MAX,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": s.storage_retention,
        });
        Ok(success(&data, &[]))
    }

    fn build_info(&self) -> ApiResult {
        let b = &self.status.build;
        Ok(success(
            &json!({
                "version": b.version,
                "revision": b.revision,
                "branch": b.branch,
                "buildUser": b.build_user,
                "buildDate": b.build_date,
                "goVersion": b.go_version,
            }),
            &[],
        ))
    }

    /// Head statistics from the TSDB when wired, else computed by walking
    /// every series through the `Queryable`.
    fn tsdb_status(&self, req: &Request) -> ApiResult {
        let limit = match req.param("limit") {
            "" => 10,
            v => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(ApiError::bad_data("limit must be a positive number")),
            },
        };
        if let Some(t) = &self.tsdb {
            return Ok(success(&t.tsdb_status(limit)?, &[]));
        }
        let querier = self
            .storage
            .querier(MIN_TIME_MS, MAX_TIME_MS)
            .map_err(exec)?;
        let all = crate::model::Matcher::new(crate::model::MatchType::Regex, "__name__", ".+")
            .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        let mut num_series = 0usize;
        let mut by_metric: HashMap<String, usize> = HashMap::new();
        let mut values_by_name: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut by_pair: HashMap<String, usize> = HashMap::new();
        let mut bytes_by_name: HashMap<String, usize> = HashMap::new();
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        for s in querier.select(false, None, &[all]).map_err(exec)? {
            let s = s.map_err(exec)?;
            num_series += 1;
            let labels = s.labels();
            *by_metric
                .entry(labels.get_or_empty("__name__").to_string())
                .or_default() += 1;
            for l in labels.iter() {
                if values_by_name
                    .entry(l.name.clone())
                    .or_default()
                    .insert(l.value.clone())
                {
                    *bytes_by_name.entry(l.name.clone()).or_default() += l.value.len();
                }
                *by_pair
                    .entry(format!("{}={}", l.name, l.value))
                    .or_default() += 1;
            }
            let mut it = s.iterator();
            if let Some((t, _)) = it.next() {
                min_t = min_t.min(t);
                max_t = max_t.max(t);
            }
            while let Some((t, _)) = it.next() {
                max_t = max_t.max(t);
            }
        }
        let num_pairs: usize = values_by_name.values().map(|v| v.len()).sum();
        let top = |m: HashMap<String, usize>| -> Value {
            let mut v: Vec<(String, usize)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            Value::Array(
                v.into_iter()
                    .map(|(name, value)| json!({ "name": name, "value": value }))
                    .collect(),
            )
        };
        let value_counts: HashMap<String, usize> = values_by_name
            .into_iter()
            .map(|(k, v)| (k, v.len()))
            .collect();
        let (min_t, max_t) = if num_series == 0 || min_t == i64::MAX {
            (i64::MAX, i64::MIN)
        } else {
            (min_t, max_t)
        };
        let data = json!({
            "headStats": {
                "numSeries": num_series,
                "numLabelPairs": num_pairs,
                "chunkCount": 0,
                "minTime": min_t,
                "maxTime": max_t,
            },
            "seriesCountByMetricName": top(by_metric),
            "labelValueCountByLabelName": top(value_counts),
            "memoryInBytesByLabelName": top(bytes_by_name),
            "seriesCountByLabelValuePair": top(by_pair),
        });
        Ok(success(&data, &[]))
    }
}

fn exec(e: crate::storage::StorageError) -> ApiError {
    ApiError::new(ErrorType::Execution, e.to_string())
}

/// Upstream's `limit` on query results: at most `limit` series of a vector
/// or matrix, with a warning when some were cut.
fn truncate_series(out: &mut super::QueryOutcome, limit: usize) {
    if limit == 0 {
        return;
    }
    let cut = match &mut out.value {
        super::QueryValue::Vector(v) if v.len() > limit => {
            v.truncate(limit);
            true
        }
        super::QueryValue::Matrix(m) if m.len() > limit => {
            m.truncate(limit);
            true
        }
        _ => false,
    };
    if cut {
        out.warnings
            .push("results truncated due to limit".to_string());
    }
}

fn truncated_list(mut items: Vec<String>, limit: usize) -> Response {
    let mut warnings = Vec::new();
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    success(&json!(items), &warnings)
}

/// The `<name>` of `/label/<name>/values`; `None` for any other path.
fn label_values_name(path: &str) -> Option<&str> {
    path.strip_prefix("/label/")?.strip_suffix("/values")
}

fn known_path(path: &str) -> bool {
    Api::route_name(path) != "/api/v1/*"
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Reverses upstream's `U__` value-encoding escaping of label names
/// (`U__my_2e_name` → `my.name`): `_` followed by hex digits and `_` is a code
/// point, `__` is a literal underscore.
fn unescape_utf8_name(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return None,
            }
        }
        let cp = u32::from_str_radix(&hex, 16).ok()?;
        out.push(char::from_u32(cp)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStorage;

    fn api() -> Api {
        let mem = MemStorage::new();
        mem.insert(
            &Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
            1000,
            1.0,
        );
        mem.insert(
            &Labels::from_pairs(&[("__name__", "up"), ("job", "b")]),
            2000,
            0.0,
        );
        Api {
            storage: Arc::new(mem),
            engine: None,
            scrape: None,
            rules: None,
            alertmanagers: None,
            tsdb: None,
            status: Arc::new(ServerStatus::new(
                BuildInfo::current(),
                BTreeMap::new(),
                "15d".into(),
                300_000,
            )),
            now: || 10_000,
        }
    }

    fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn labels_and_values() {
        let a = api();
        let r = a.handle(&Request::get("/api/v1/labels"), "/labels");
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["data"], json!(["__name__", "job"]));
        let r = a.handle(&Request::get("/x?limit=1"), "/label/job/values");
        let b = body(&r);
        assert_eq!(b["data"], json!(["a"]));
        assert_eq!(b["warnings"], json!(["results truncated due to limit"]));
        let r = a.handle(&Request::get("/x"), "/label/nope/values");
        assert_eq!(body(&r)["data"], json!([]));
        // Overlapping prefix and suffix: an empty name, not a panic.
        let r = a.handle(&Request::get("/x"), "/label/values");
        assert_eq!(r.status, 404);
        let r = a.handle(&Request::get("/x"), "/label//values");
        assert_eq!(body(&r)["error"], "invalid label name: \"\"");
    }

    #[test]
    fn bad_params() {
        let a = api();
        let r = a.handle(&Request::get("/x?start=foo"), "/labels");
        assert_eq!(r.status, 400);
        assert_eq!(
            body(&r)["error"],
            "invalid parameter \"start\": cannot parse \"foo\" to a valid timestamp"
        );
        let r = a.handle(&Request::get("/x"), "/series");
        assert_eq!(body(&r)["error"], "no match[] parameter provided");
        let r = a.handle(
            &Request::get("/x?start=0&end=100000&step=1"),
            "/query_range",
        );
        assert_eq!(r.status, 400);
        assert!(body(&r)["error"]
            .as_str()
            .unwrap()
            .starts_with("exceeded maximum resolution of 11,000 points"));
        let r = a.handle(&Request::get("/x?start=0&end=10&step=0"), "/query_range");
        assert!(body(&r)["error"]
            .as_str()
            .unwrap()
            .contains("zero or negative"));
        let r = a.handle(&Request::get("/x?start=10&end=0&step=1"), "/query_range");
        assert!(body(&r)["error"]
            .as_str()
            .unwrap()
            .contains("end timestamp must not be before start time"));
        let r = a.handle(&Request::get("/x?time=abc"), "/query");
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["errorType"], "bad_data");
    }

    #[test]
    fn no_engine_is_unavailable() {
        let a = api();
        let r = a.handle(&Request::get("/x?query=up"), "/query");
        assert_eq!(r.status, 503);
        assert_eq!(body(&r)["errorType"], "unavailable");
    }

    #[test]
    fn status_endpoints() {
        let a = api();
        a.status.set_config("global: {}\n".into(), Labels::empty());
        let r = a.handle(&Request::get("/x"), "/status/config");
        assert_eq!(body(&r)["data"]["yaml"], "global: {}\n");
        let r = a.handle(&Request::get("/x"), "/status/buildinfo");
        assert_eq!(body(&r)["data"]["version"], env!("CARGO_PKG_VERSION"));
        let r = a.handle(&Request::get("/x"), "/status/runtimeinfo");
        assert_eq!(body(&r)["data"]["reloadConfigSuccess"], true);
        let r = a.handle(&Request::get("/x"), "/status/tsdb");
        let b = body(&r);
        assert_eq!(b["data"]["headStats"]["numSeries"], 2);
        assert_eq!(
            b["data"]["seriesCountByMetricName"][0],
            json!({"name": "up", "value": 2})
        );
        let r = a.handle(&Request::get("/x"), "/targets");
        assert_eq!(body(&r)["data"]["activeTargets"], json!([]));
        let r = a.handle(&Request::get("/x"), "/rules");
        assert_eq!(body(&r)["data"], json!({"groups": []}));
        let r = a.handle(&Request::get("/x?type=x"), "/rules");
        assert_eq!(r.status, 400);
        let r = a.handle(&Request::get("/x"), "/nope");
        assert_eq!(r.status, 404);
    }

    /// A storage whose every querier fails, as a broken disk would.
    struct BrokenStorage;

    impl Queryable for BrokenStorage {
        fn querier(
            &self,
            _: i64,
            _: i64,
        ) -> Result<Box<dyn crate::storage::Querier>, crate::storage::StorageError> {
            Err(crate::storage::StorageError::Internal(
                "read chunk: i/o error".into(),
            ))
        }
    }

    #[test]
    fn storage_failures_are_internal_in_queries_and_execution_elsewhere() {
        let a = Api {
            storage: Arc::new(BrokenStorage),
            engine: Some(Arc::new(crate::promql::Engine::new(
                crate::promql::EngineOpts::default(),
            ))),
            ..api()
        };
        // Upstream's returnAPIError: promql.ErrStorage is "internal" (500).
        let r = a.handle(&Request::get("/x?query=up&time=1"), "/query");
        assert_eq!(
            (r.status, body(&r)["errorType"].clone()),
            (500, json!("internal"))
        );
        assert!(body(&r)["error"].as_str().unwrap().contains("i/o error"));
        // The metadata endpoints answer a querier error as "execution" (422).
        for path in ["/labels", "/label/job/values"] {
            let r = a.handle(&Request::get("/x"), path);
            assert_eq!(
                (r.status, body(&r)["errorType"].clone()),
                (422, json!("execution")),
                "{path}"
            );
        }
        let r = a.handle(&Request::get("/x?match[]=up"), "/series");
        assert_eq!(r.status, 422);
    }

    #[test]
    fn utf8_names() {
        assert_eq!(unescape_utf8_name("my_2e_name").unwrap(), "my.name");
        assert_eq!(unescape_utf8_name("a__b").unwrap(), "a_b");
        assert!(unescape_utf8_name("a_zz_").is_none());
    }
}
