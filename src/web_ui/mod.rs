//! The embedded web UI: plain HTML, CSS and JavaScript pages compiled into the binary.
//!
//! This module owns the static assets only. It opens no socket and starts no thread; the
//! web handler's router serves them. Every page reads upstream's `/api/v1/*` JSON and
//! nothing else, so the same pages work against promlite or upstream Prometheus.
//!
//! # Wiring it into the router
//!
//! For a request `GET <route-prefix><rest>` (query string and fragment removed), call
//! [`asset`] with `rest`, e.g. `/graph`, `/targets`, `/static/promlite.css`. On `Some((content_type,
//! body))` answer 200 with that `Content-Type`; on `None` fall through to the other routes.
//! `GET <route-prefix>/` should redirect (302) to `<route-prefix>/graph`, as upstream does;
//! [`ROOT_REDIRECT`] names the target.
//!
//! ```
//! // In the router, after stripping `--web.route-prefix` from the request path:
//! if let Some((content_type, body)) = promlite::web_ui::asset("/graph") {
//!     assert!(content_type.starts_with("text/html"));
//!     assert!(!body.is_empty()); // answer 200 with these
//! }
//! ```
//!
//! The pages use relative URLs only (`static/...`, `api/v1/...`, `graph`, `targets`), so
//! they work under any `--web.route-prefix` without templating: a page at
//! `<prefix>/graph` resolves `api/v1/query` to `<prefix>/api/v1/query`.

/// Content type of the HTML pages.
const HTML: &str = "text/html; charset=utf-8";
/// Content type of the style sheet.
const CSS: &str = "text/css; charset=utf-8";
/// Content type of the scripts.
const JS: &str = "text/javascript; charset=utf-8";

/// The page `<route-prefix>/` redirects to, relative to the route prefix.
pub const ROOT_REDIRECT: &str = "/graph";

/// One embedded file: the path it is served at (relative to the route prefix), its
/// content type and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path under the route prefix, starting with `/`.
    pub path: &'static str,
    /// Value for the `Content-Type` header.
    pub content_type: &'static str,
    /// The file's contents.
    pub body: &'static str,
}

impl Asset {
    const fn html(path: &'static str, body: &'static str) -> Asset {
        Asset {
            path,
            content_type: HTML,
            body,
        }
    }
    const fn css(path: &'static str, body: &'static str) -> Asset {
        Asset {
            path,
            content_type: CSS,
            body,
        }
    }
    const fn js(path: &'static str, body: &'static str) -> Asset {
        Asset {
            path,
            content_type: JS,
            body,
        }
    }
}

const TARGETS_HTML: &str = include_str!("targets.html");
const GRAPH_HTML: &str = include_str!("graph.html");
const STATUS_HTML: &str = include_str!("status.html");

/// Every path the UI answers. The expression browser answers at 2.x's `/graph` and 3.x's
/// `/query`; the targets document also answers `/service-discovery`. The status page is one document that shows all of its
/// sections at `/status` and a single section at `/flags`, `/config` and `/tsdb-status`
/// (upstream's page names), chosen by its script from the URL.
pub const ASSETS: &[Asset] = &[
    Asset::html("/graph", GRAPH_HTML),
    Asset::html("/query", GRAPH_HTML),
    Asset::html("/targets", TARGETS_HTML),
    Asset::html("/service-discovery", TARGETS_HTML),
    Asset::html("/alerts", include_str!("alerts.html")),
    Asset::html("/rules", include_str!("rules.html")),
    Asset::html("/status", STATUS_HTML),
    Asset::html("/flags", STATUS_HTML),
    Asset::html("/config", STATUS_HTML),
    Asset::html("/tsdb-status", STATUS_HTML),
    Asset::css("/static/promlite.css", include_str!("promlite.css")),
    Asset::js("/static/common.js", include_str!("common.js")),
    Asset::js("/static/chart.js", include_str!("chart.js")),
    Asset::js("/static/graph.js", include_str!("graph.js")),
    Asset::js("/static/pages.js", include_str!("pages.js")),
];

/// Looks up the asset served at `path` (relative to the route prefix, e.g. `/graph` or
/// `/static/chart.js`) and returns its content type and bytes, or `None` when the UI does
/// not own that path. A query string or fragment left on `path` is ignored, so a router
/// that passes the raw request URL still finds the page.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .map(|a| (a.content_type, a.body.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_static_files_are_found() {
        let (ct, body) = asset("/graph").unwrap();
        assert_eq!(ct, HTML);
        assert!(body.starts_with(b"<!DOCTYPE html>"));
        assert_eq!(asset("/static/chart.js").unwrap().0, JS);
        assert_eq!(asset("/graph?g0.expr=up").unwrap().0, HTML);
    }

    #[test]
    fn unknown_paths_fall_through() {
        assert!(asset("/").is_none());
        assert!(asset("/api/v1/query").is_none());
        assert!(asset("/static/../graph").is_none());
        assert!(asset("/graph/").is_none());
    }
}
