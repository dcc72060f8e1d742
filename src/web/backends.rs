//! The endpoints below `/api/v1` that reach past the query API into the
//! storage the server wired: the remote-write receiver (`POST /write`),
//! remote read (`POST /read`), the TSDB admin API (`/admin/tsdb/*`) and the
//! WAL replay status. [`Backends`] holds what each one talks to; a `None`
//! means the endpoint answers as upstream does when the feature is off (or,
//! in agent mode, as upstream's agent does).

use std::sync::Arc;

use serde_json::json;

use super::api::params::{parse_time, MAX_TIME_MS, MIN_TIME_MS};
use super::api::{error_response, success, ApiError, ErrorType, QueryEngine};
use super::http::{Request, Response, JSON, TEXT};
use crate::model::{Labels, Matcher};
use crate::storage::remote::{handle_read, handle_write, HttpReply, ReadHandlerSettings};
use crate::storage::{Appendable, Queryable};

/// Upstream's answer to query endpoints on an agent (`wrapAgent`).
pub const AGENT_UNAVAILABLE: &str = "unavailable with Prometheus Agent";

/// The TSDB operations of upstream's admin API.
pub trait AdminApi: Send + Sync {
    /// Hides samples in `[start, end]` of series matching any matcher set.
    fn delete_series(&self, start: i64, end: i64, matchers: &[Vec<Matcher>]) -> Result<(), String>;
    /// Removes deleted data from disk.
    fn clean_tombstones(&self) -> Result<(), String>;
    /// Writes a snapshot and returns its directory name below `<data>/snapshots`.
    fn snapshot(&self, skip_head: bool) -> Result<String, String>;
}

/// What `/status/walreplay` reports: `{min, max, current}` segment numbers.
pub type WalReplayStatus = dyn Fn() -> serde_json::Value + Send + Sync;

/// Storage behind the non-query endpoints (see the module comment).
#[derive(Default, Clone)]
pub struct Backends {
    /// Where remote-write requests append; only used with
    /// `--web.enable-remote-write-receiver`.
    pub write: Option<Arc<dyn Appendable>>,
    /// What remote-read requests read (local and remote storage merged).
    pub read: Option<Arc<dyn Queryable>>,
    /// `--storage.remote.read-sample-limit`.
    pub read_sample_limit: usize,
    /// The TSDB's admin operations; used only with `--web.enable-admin-api`.
    pub admin: Option<Arc<dyn AdminApi>>,
    pub wal_replay: Option<Arc<WalReplayStatus>>,
    /// `--agent`: query, rules and admin endpoints answer as upstream's agent.
    pub agent: bool,
}

/// Converts a remote handler's reply into a web response.
pub fn reply_to_response(r: HttpReply) -> Response {
    let mut content_type = "application/octet-stream";
    let mut headers = Vec::new();
    for (k, v) in r.headers {
        if k.eq_ignore_ascii_case("content-type") {
            content_type = match v.as_str() {
                "text/plain; charset=utf-8" => TEXT,
                "application/json" => JSON,
                "application/x-protobuf" => "application/x-protobuf",
                _ => "application/octet-stream",
            };
        } else {
            headers.push((k.to_string(), v));
        }
    }
    let mut resp = Response::new(r.status, content_type, r.body);
    resp.headers = headers;
    resp
}

fn header_pairs(req: &Request) -> Vec<(&str, &str)> {
    req.headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

impl Backends {
    /// `POST /api/v1/write` with the receiver enabled.
    pub fn remote_write(&self, req: &Request) -> Response {
        if req.method != "POST" {
            return Response::text(405, "Method Not Allowed");
        }
        match &self.write {
            Some(app) => reply_to_response(handle_write(&req.body, &header_pairs(req), &**app)),
            None => Response::text(
                404,
                "remote write receiver needs to be enabled with --web.enable-remote-write-receiver",
            ),
        }
    }

    /// `POST /api/v1/read`.
    pub fn remote_read(&self, req: &Request, external_labels: Labels) -> Response {
        if req.method != "POST" {
            return Response::text(405, "Method Not Allowed");
        }
        match &self.read {
            Some(q) => reply_to_response(handle_read(
                &req.body,
                &**q,
                &ReadHandlerSettings {
                    external_labels,
                    sample_limit: self.read_sample_limit,
                },
            )),
            None => Response::text(
                404,
                "remote read is not available: there is no local storage",
            ),
        }
    }

    /// `GET /api/v1/status/walreplay`.
    pub fn wal_replay(&self) -> Response {
        let data = match &self.wal_replay {
            Some(f) => f(),
            None => json!({ "min": 0, "max": 0, "current": 0 }),
        };
        success(&data, &[])
    }

    /// `/api/v1/admin/tsdb/<op>` with the admin API enabled.
    pub fn admin(&self, req: &Request, op: &str, engine: Option<&dyn QueryEngine>) -> Response {
        match self.admin_result(req, op, engine) {
            Ok(r) => r,
            Err(e) => error_response(&e),
        }
    }

    fn admin_result(
        &self,
        req: &Request,
        op: &str,
        engine: Option<&dyn QueryEngine>,
    ) -> Result<Response, ApiError> {
        if !matches!(req.method.as_str(), "POST" | "PUT") {
            return Ok(Response::text(405, "Method Not Allowed"));
        }
        if self.agent {
            return Err(ApiError::new(ErrorType::Execution, AGENT_UNAVAILABLE));
        }
        let admin = self
            .admin
            .as_ref()
            .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "TSDB not ready"))?;
        let internal = |e: String| ApiError::new(ErrorType::Internal, e);
        match op {
            "delete_series" => {
                let selectors = req.params_all("match[]");
                if selectors.is_empty() {
                    return Err(ApiError::bad_data("no match[] parameter provided"));
                }
                let start = time_or(req, "start", MIN_TIME_MS)?;
                let end = time_or(req, "end", MAX_TIME_MS)?;
                let engine = engine.ok_or_else(|| {
                    ApiError::new(ErrorType::Unavailable, "the PromQL parser is not wired")
                })?;
                let mut sets = Vec::with_capacity(selectors.len());
                for s in selectors {
                    sets.push(
                        engine
                            .parse_metric_selector(s)
                            .map_err(ApiError::bad_data)?,
                    );
                }
                admin.delete_series(start, end, &sets).map_err(internal)?;
                Ok(Response::new(204, JSON, Vec::new()))
            }
            "clean_tombstones" => {
                admin.clean_tombstones().map_err(internal)?;
                Ok(Response::new(204, JSON, Vec::new()))
            }
            "snapshot" => {
                let skip_head = match req.param("skip_head") {
                    "" => false,
                    v => parse_go_bool(v).ok_or_else(|| {
                        ApiError::bad_data(format!(
                            "unable to parse boolean 'skip_head' argument: strconv.ParseBool: parsing {v:?}: invalid syntax"
                        ))
                    })?,
                };
                let name = admin.snapshot(skip_head).map_err(|e| {
                    ApiError::new(ErrorType::Internal, format!("create snapshot: {e}"))
                })?;
                Ok(success(&json!({ "name": name }), &[]))
            }
            _ => Ok(Response::text(404, "404 page not found")),
        }
    }
}

fn time_or(req: &Request, name: &str, default: i64) -> Result<i64, ApiError> {
    match req.param(name) {
        "" => Ok(default),
        v => parse_time(v).map_err(|e| ApiError::invalid_param(name, e)),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct FakeAdmin {
        calls: Mutex<Vec<String>>,
    }

    impl AdminApi for FakeAdmin {
        fn delete_series(&self, start: i64, end: i64, m: &[Vec<Matcher>]) -> Result<(), String> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("delete {start} {end} {}", m.len()));
            Ok(())
        }
        fn clean_tombstones(&self) -> Result<(), String> {
            Err("disk full".to_string())
        }
        fn snapshot(&self, skip_head: bool) -> Result<String, String> {
            Ok(format!("snap-{skip_head}"))
        }
    }

    fn post(path_and_query: &str) -> Request {
        Request {
            method: "POST".into(),
            ..Request::get(path_and_query)
        }
    }

    fn backends() -> (Backends, Arc<FakeAdmin>) {
        let admin = Arc::new(FakeAdmin::default());
        (
            Backends {
                admin: Some(admin.clone()),
                ..Backends::default()
            },
            admin,
        )
    }

    #[test]
    fn snapshot_and_bad_skip_head() {
        let (b, _) = backends();
        let r = b.admin(&post("/x?skip_head=true"), "snapshot", None);
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains("\"name\":\"snap-true\""));
        let r = b.admin(&post("/x?skip_head=maybe"), "snapshot", None);
        assert_eq!(r.status, 400);
        assert_eq!(b.admin(&Request::get("/x"), "snapshot", None).status, 405);
    }

    #[test]
    fn delete_series_needs_match_and_parses_it() {
        let (b, admin) = backends();
        let engine = crate::promql::Engine::new(crate::promql::EngineOpts::default());
        let r = b.admin(&post("/x"), "delete_series", Some(&engine));
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("no match[] parameter provided"));
        let r = b.admin(
            &post("/x?match[]=up&match[]=%7Bjob%3D%22a%22%7D&start=10&end=20"),
            "delete_series",
            Some(&engine),
        );
        assert_eq!(r.status, 204);
        assert_eq!(
            admin.calls.lock().unwrap().as_slice(),
            ["delete 10000 20000 2"]
        );
        let r = b.admin(&post("/x?match[]=%7B"), "delete_series", Some(&engine));
        assert_eq!(r.status, 400);
    }

    #[test]
    fn failures_and_agent_mode() {
        let (mut b, _) = backends();
        let r = b.admin(&post("/x"), "clean_tombstones", None);
        assert_eq!(r.status, 500);
        assert!(String::from_utf8_lossy(&r.body).contains("disk full"));
        b.agent = true;
        let r = b.admin(&post("/x"), "snapshot", None);
        assert_eq!(r.status, 422);
        assert!(String::from_utf8_lossy(&r.body).contains(AGENT_UNAVAILABLE));
    }

    #[test]
    fn write_without_storage_is_404() {
        let b = Backends::default();
        assert_eq!(b.remote_write(&post("/write")).status, 404);
        assert_eq!(b.remote_read(&post("/read"), Labels::empty()).status, 404);
    }
}
