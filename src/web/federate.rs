//! `/federate`: the latest sample of every series matching `match[]` within the
//! lookback window, in text exposition format 0.0.4, with the external labels
//! attached where the series does not set them — upstream's federation handler.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::value::format_go_g;
use crate::model::{is_stale_nan, Labels};
use crate::storage::SelectHints;
use crate::telemetry::escape_label_value;
use crate::web::api::v1::Api;
use crate::web::http::{Request, Response, EXPOSITION};

/// Serves `/federate`.
pub fn federate(api: &Api, req: &Request) -> Response {
    let selectors = req.params_all("match[]");
    if selectors.is_empty() {
        return Response::new(200, EXPOSITION, "");
    }
    let Some(engine) = api.engine.as_deref() else {
        return Response::text(
            503,
            "federation needs the PromQL selector parser, which is not wired into this promlite build yet",
        );
    };
    let mut sets = Vec::with_capacity(selectors.len());
    for s in selectors {
        match engine.parse_metric_selector(s) {
            Ok(m) => sets.push(m),
            Err(e) => return Response::text(400, &e),
        }
    }
    let maxt = (api.now)();
    let mint = maxt - api.status.lookback_delta_ms;
    let querier = match api.storage.querier(mint, maxt) {
        Ok(q) => q,
        Err(e) => return Response::text(500, &e.to_string()),
    };
    let hints = SelectHints {
        start: mint,
        end: maxt,
        func: "series".to_string(),
        ..SelectHints::default()
    };
    // Several match[] may select the same series: merge by labels.
    let mut latest: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
    for set in &sets {
        let series = match querier.select(true, Some(&hints), set) {
            Ok(s) => s,
            Err(e) => return Response::text(500, &e.to_string()),
        };
        for s in series {
            let s = match s {
                Ok(s) => s,
                Err(e) => return Response::text(500, &e.to_string()),
            };
            let mut it = s.iterator();
            let mut last = None;
            while let Some((t, v)) = it.next() {
                if t > maxt {
                    break;
                }
                if t >= mint {
                    last = Some((t, v));
                }
            }
            if let Some((t, v)) = last {
                if !is_stale_nan(v) {
                    latest.insert(s.labels().clone(), (t, v));
                }
            }
        }
    }
    Response::new(
        200,
        EXPOSITION,
        render(&latest, &api.status.external_labels()),
    )
}

/// Writes the samples grouped by metric name, as expfmt's text encoder does.
fn render(latest: &BTreeMap<Labels, (i64, f64)>, external: &Labels) -> String {
    let mut external: Vec<(String, String)> = external
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    if !external.iter().any(|(n, _)| n == "instance") {
        external.push(("instance".to_string(), String::new()));
        external.sort();
    }
    let mut by_name: Vec<(&str, &Labels, (i64, f64))> = latest
        .iter()
        .filter_map(|(l, p)| {
            l.get("__name__")
                .filter(|n| !n.is_empty())
                .map(|n| (n, l, *p))
        })
        .collect();
    by_name.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    let mut last_name = "";
    for (name, labels, (t, v)) in by_name {
        if name != last_name {
            let _ = writeln!(out, "# TYPE {name} untyped");
            last_name = name;
        }
        out.push_str(name);
        let mut pairs: Vec<(&str, &str)> = labels
            .iter()
            .filter(|l| l.name != "__name__" && !l.value.is_empty())
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        for (n, v) in &external {
            if !labels.iter().any(|l| &l.name == n && !l.value.is_empty()) {
                pairs.push((n.as_str(), v.as_str()));
            }
        }
        if !pairs.is_empty() {
            out.push('{');
            for (i, (n, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{n}={}", escape_label_value(v));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {} {t}", format_go_g(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stale_nan;
    use crate::promql::{Engine, EngineOpts};
    use crate::storage::memory::MemStorage;
    use crate::web::api::v1::{BuildInfo, ServerStatus};
    use std::sync::Arc;

    #[test]
    fn latest_sample_within_lookback_without_stale() {
        let mem = MemStorage::new();
        let up = |job: &str| Labels::from_pairs(&[("__name__", "up"), ("job", job)]);
        mem.insert(&up("fresh"), 500_000, 0.0);
        mem.insert(&up("fresh"), 590_000, 1.0);
        // Newer than "now": never federated.
        mem.insert(&up("fresh"), 700_000, 5.0);
        mem.insert(&up("old"), 100_000, 1.0);
        mem.insert(&up("gone"), 580_000, 1.0);
        mem.insert(&up("gone"), 590_000, stale_nan());
        mem.insert(&Labels::from_pairs(&[("__name__", "other")]), 590_000, 2.0);
        let status = Arc::new(ServerStatus::new(
            BuildInfo::current(),
            Default::default(),
            String::new(),
            300_000,
        ));
        status.set_config(String::new(), Labels::from_pairs(&[("replica", "a")]));
        let api = Api {
            storage: Arc::new(mem),
            engine: Some(Arc::new(Engine::new(EngineOpts::default()))),
            scrape: None,
            rules: None,
            alertmanagers: None,
            tsdb: None,
            status,
            now: || 600_000,
        };
        let r = federate(
            &api,
            &Request::get("/federate?match[]=up&match[]=%7Bjob%3D%22fresh%22%7D"),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "# TYPE up untyped\nup{job=\"fresh\",instance=\"\",replica=\"a\"} 1 590000\n"
        );
        let r = federate(&api, &Request::get("/federate?match[]=%7B"));
        assert_eq!(r.status, 400);
    }

    #[test]
    fn renders_with_external_labels() {
        let mut latest = BTreeMap::new();
        latest.insert(
            Labels::from_pairs(&[("__name__", "up"), ("instance", "h:1"), ("job", "a")]),
            (1000, 1.0),
        );
        latest.insert(
            Labels::from_pairs(&[("__name__", "b_total"), ("zone", "eu")]),
            (2000, 0.5),
        );
        let ext = Labels::from_pairs(&[("replica", "r1"), ("zone", "us")]);
        let out = render(&latest, &ext);
        assert_eq!(
            out,
            "# TYPE b_total untyped\nb_total{zone=\"eu\",instance=\"\",replica=\"r1\"} 0.5 2000\n\
             # TYPE up untyped\nup{instance=\"h:1\",job=\"a\",replica=\"r1\",zone=\"us\"} 1 1000\n"
        );
    }
}
