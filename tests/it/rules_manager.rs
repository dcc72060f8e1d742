//! The rule manager over in-memory storage and the real PromQL engine:
//! recording results, the alert lifecycle with `ALERTS`/`ALERTS_FOR_STATE`,
//! notifications, stale markers, reload keeping state, restart restoring a
//! firing alert, the `/api/v1/rules` JSON, and the group threads running.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promlite::model::{is_stale_nan, Labels, Matcher};
use promlite::promql::{Engine, EngineOpts};
use promlite::rules::api::{alerts_json, rules_json, RulesFilter};
use promlite::rules::group::NotifyFunc;
use promlite::rules::{Alert, EngineQueryFunc, ManagerOptions, RuleManager};
use promlite::storage::memory::MemStorage;
use promlite::storage::Queryable;
use promlite::telemetry::Registry;

const RULES: &str = r#"
groups:
  - name: g
    interval: 15s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 30s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down ({{ $value }})"
"#;

struct Setup {
    storage: Arc<MemStorage>,
    sent: Arc<Mutex<Vec<Alert>>>,
    file: tempfile::NamedTempFile,
}

fn write_rules(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write rules");
    f
}

fn manager(s: &Setup) -> Arc<RuleManager> {
    let engine = Engine::new(EngineOpts::default());
    let qf = Arc::new(EngineQueryFunc {
        engine,
        queryable: s.storage.clone(),
    });
    let mut opts = ManagerOptions::new(s.storage.clone(), s.storage.clone(), qf);
    let sent = s.sent.clone();
    let notify: NotifyFunc = Arc::new(move |_expr: &str, alerts: Vec<Alert>| {
        if let Ok(mut g) = sent.lock() {
            g.extend(alerts);
        }
    });
    opts.notify = Some(notify);
    opts.registry = Box::leak(Box::new(Registry::new()));
    RuleManager::new(opts)
}

fn setup() -> Setup {
    let storage = Arc::new(MemStorage::new());
    let up = |i: &str| Labels::from_pairs(&[("__name__", "up"), ("instance", i), ("job", "node")]);
    for k in 0..40 {
        let t = k * 15_000;
        storage.insert(&up("a"), t, 1.0);
        // "b" is down from the start.
        storage.insert(&up("b"), t, 0.0);
    }
    Setup {
        storage,
        sent: Arc::new(Mutex::new(Vec::new())),
        file: write_rules(RULES),
    }
}

fn series(storage: &MemStorage, name: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = storage.querier(i64::MIN, i64::MAX).expect("querier");
    let set = q
        .select(true, None, &[Matcher::equal("__name__", name)])
        .expect("select");
    set.flatten()
        .map(|s| {
            let mut it = s.iterator();
            let mut samples = Vec::new();
            while let Some(p) = it.next() {
                samples.push(p);
            }
            (s.labels().clone(), samples)
        })
        .collect()
}

fn path(f: &tempfile::NamedTempFile) -> String {
    f.path().to_string_lossy().to_string()
}

#[test]
fn records_alerts_reloads_and_restores() {
    let s = setup();
    let m = manager(&s);
    m.update(60_000, &[path(&s.file)], &Labels::empty())
        .expect("load rules");
    let g = m.rule_groups().pop().expect("one group");
    assert_eq!(g.interval, 15_000);
    for k in 0..4 {
        g.eval(k * 15_000);
    }
    let rec = series(&s.storage, "job:up:sum");
    assert_eq!(rec.len(), 1);
    assert_eq!(
        rec[0].0,
        Labels::from_pairs(&[("__name__", "job:up:sum"), ("job", "node")])
    );
    assert_eq!(
        rec[0].1,
        vec![(0, 1.0), (15_000, 1.0), (30_000, 1.0), (45_000, 1.0)]
    );

    // Pending at 0 and 15s, firing from 30s (for: 30s).
    let alerts = series(&s.storage, "ALERTS");
    let states: Vec<(String, usize)> = alerts
        .iter()
        .map(|(l, v)| (l.get_or_empty("alertstate").to_string(), v.len()))
        .collect();
    // The pending series ends with a stale marker when the alert fires.
    assert_eq!(
        states,
        vec![("firing".to_string(), 2), ("pending".to_string(), 3)]
    );
    assert!(alerts[1]
        .1
        .last()
        .is_some_and(|(t, v)| *t == 30_000 && is_stale_nan(*v)));
    let for_state = series(&s.storage, "ALERTS_FOR_STATE");
    assert_eq!(for_state[0].1.last(), Some(&(45_000, 0.0)));

    let sent = s.sent.lock().map(|g| g.clone()).unwrap_or_default();
    assert_eq!(sent.len(), 1, "sent once when it started firing");
    assert_eq!(sent[0].fired_at, 30_000);
    assert_eq!(
        sent[0].annotations.get("summary"),
        Some("b of node is down (0)")
    );
    assert_eq!(sent[0].labels.get("severity"), Some("page"));

    // The rules API shows the firing alert.
    let j = rules_json(&m, &RulesFilter::default());
    assert_eq!(j["groups"][0]["rules"][1]["state"], "firing");
    assert_eq!(
        j["groups"][0]["rules"][1]["alerts"][0]["labels"]["instance"],
        "b"
    );
    assert_eq!(j["groups"][0]["rules"][0]["type"], "recording");
    assert_eq!(j["groups"][0]["rules"][0]["health"], "ok");
    assert_eq!(alerts_json(&m)["alerts"][0]["state"], "firing");

    // Reload with a changed recording rule: the alert keeps its state, and
    // the old recording rule's series is marked stale.
    let changed = RULES.replace("record: job:up:sum", "record: job:up:total");
    let f2 = write_rules(&changed);
    std::fs::copy(f2.path(), s.file.path()).expect("rewrite rules");
    m.update(60_000, &[path(&s.file)], &Labels::empty())
        .expect("reload rules");
    let g = m.rule_groups().pop().expect("one group");
    g.eval(60_000);
    let j = rules_json(&m, &RulesFilter::default());
    assert_eq!(j["groups"][0]["rules"][1]["state"], "firing");
    let old = series(&s.storage, "job:up:sum");
    assert!(old[0]
        .1
        .last()
        .is_some_and(|(t, v)| *t == 60_000 && is_stale_nan(*v)));
    assert_eq!(series(&s.storage, "job:up:total")[0].1, vec![(60_000, 1.0)]);

    // "Restart": a new manager over the same storage restores the firing
    // alert at its first evaluation instead of starting it over as pending.
    let m2 = manager(&s);
    m2.update(60_000, &[path(&s.file)], &Labels::empty())
        .expect("load after restart");
    let g2 = m2.rule_groups().pop().expect("one group");
    g2.eval(120_000);
    let j = rules_json(&m2, &RulesFilter::default());
    assert_eq!(j["groups"][0]["rules"][1]["state"], "firing", "{j}");
    assert_eq!(
        j["groups"][0]["rules"][1]["alerts"][0]["activeAt"],
        "1970-01-01T00:00:00Z"
    );
}

#[test]
fn filters_and_failures() {
    let s = setup();
    let bad = write_rules("groups:\n  - name: bad\n    rules:\n      - record: x\n        expr: up / on(job) group_left up\n");
    let m = manager(&s);
    m.update(60_000, &[path(&s.file), path(&bad)], &Labels::empty())
        .expect("load rules");
    for g in m.rule_groups() {
        g.eval(0);
    }
    let only_alerts = RulesFilter {
        kind: Some(promlite::rules::api::RuleKind::Alert),
        ..RulesFilter::default()
    };
    let j = rules_json(&m, &only_alerts);
    assert_eq!(j["groups"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(j["groups"][0]["rules"].as_array().map(|a| a.len()), Some(1));
    let by_labels =
        RulesFilter::from_params([("match[]", "{severity=\"page\"}")]).expect("valid match[]");
    let j = rules_json(&m, &by_labels);
    assert_eq!(j["groups"].as_array().map(|a| a.len()), Some(1), "{j}");
    assert_eq!(j["groups"][0]["rules"][0]["name"], "InstanceDown");
    let by_group = RulesFilter {
        group_names: vec!["bad".into()],
        ..RulesFilter::default()
    };
    let j = rules_json(&m, &by_group);
    assert_eq!(j["groups"][0]["rules"][0]["health"], "err", "{j}");
    assert!(j["groups"][0]["rules"][0]["lastError"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));

    // exclude_alerts leaves `alerts` null, as upstream's field has no omitempty.
    let j = rules_json(
        &m,
        &RulesFilter::from_params([("exclude_alerts", "true"), ("type", "alert")])
            .expect("valid params"),
    );
    assert_eq!(
        j["groups"][0]["rules"][0]["alerts"],
        serde_json::Value::Null
    );
    assert!(j["groups"][0]["rules"][0]
        .as_object()
        .is_some_and(|o| o.contains_key("alerts")));

    // A group without rules is not listed.
    let empty = write_rules("groups:\n  - name: empty\n    rules: []\n");
    m.update(60_000, &[path(&s.file), path(&empty)], &Labels::empty())
        .expect("load rules");
    assert_eq!(m.rule_groups().len(), 2);
    let j = rules_json(&m, &RulesFilter::default());
    assert_eq!(j["groups"].as_array().map(|a| a.len()), Some(1), "{j}");

    // A broken file keeps the previous rule set.
    let broken =
        write_rules("groups:\n  - name: x\n    rules:\n      - record: y\n        expr: sum(\n");
    let e = m.update(60_000, &[path(&broken)], &Labels::empty());
    assert!(e.is_err());
    assert_eq!(m.rule_groups().len(), 2);
}

#[test]
fn group_threads_evaluate_until_stopped() {
    let s = setup();
    let fast = write_rules("groups:\n  - name: fast\n    interval: 50ms\n    rules:\n      - record: one\n        expr: vector(1)\n");
    let m = manager(&s);
    m.update(60_000, &[path(&fast)], &Labels::empty())
        .expect("load rules");
    let runner = Arc::clone(&m);
    let t = std::thread::spawn(move || runner.run());
    let deadline = Instant::now() + Duration::from_secs(5);
    while series(&s.storage, "one").first().map_or(0, |x| x.1.len()) < 2
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    m.stop();
    t.join().expect("manager thread");
    let n = series(&s.storage, "one").first().map_or(0, |x| x.1.len());
    assert!(n >= 2, "only {n} evaluations");
}

#[test]
fn apply_config_expands_globs_and_globals() {
    let s = setup();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("a.rules.yml"),
        "groups:\n  - name: a\n    rules:\n      - record: r\n        expr: vector(1)\n",
    )
    .expect("write a");
    std::fs::write(
        dir.path().join("b.rules.yml"),
        "groups:\n  - name: b\n    interval: 10s\n    rules: []\n",
    )
    .expect("write b");
    let cfg_text = format!(
        "global:\n  evaluation_interval: 30s\n  rule_query_offset: 1m\n  external_labels: {{dc: eu}}\nrule_files:\n  - {}/*.rules.yml\n",
        dir.path().display()
    );
    let cfg = promlite::config::load_str(&cfg_text, dir.path()).expect("valid config");
    let m = manager(&s);
    m.apply_config(&cfg).expect("apply config");
    let groups = m.rule_groups();
    let names: Vec<(&str, i64)> = groups
        .iter()
        .map(|g| (g.name.as_str(), g.interval))
        .collect();
    assert_eq!(names, vec![("a", 30_000), ("b", 10_000)]);
    // The global query offset moves the recorded sample back by a minute.
    groups[0].eval(120_000);
    assert_eq!(series(&s.storage, "r")[0].1, vec![(60_000, 1.0)]);
}

#[test]
fn group_query_offset_and_labels() {
    let s = setup();
    // The group's own query_offset wins over the global one; group labels
    // apply to every rule and a rule's own label wins.
    let f = write_rules(
        "groups:\n  - name: off\n    query_offset: 30s\n    labels: {team: infra, severity: low}\n    rules:\n      - record: r\n        expr: vector(1)\n        labels: {severity: high}\n      - alert: A\n        expr: vector(1)\n",
    );
    let cfg_text = format!(
        "global:\n  rule_query_offset: 1m\nrule_files:\n  - {}\n",
        path(&f)
    );
    let cfg = promlite::config::load_str(&cfg_text, std::path::Path::new(".")).expect("config");
    let m = manager(&s);
    m.apply_config(&cfg).expect("apply config");
    let g = m.rule_groups().pop().expect("one group");
    assert_eq!(g.query_offset, Some(30_000));
    g.eval(120_000);
    let r = series(&s.storage, "r");
    assert_eq!(
        r[0].0,
        Labels::from_pairs(&[("__name__", "r"), ("severity", "high"), ("team", "infra")])
    );
    assert_eq!(r[0].1, vec![(90_000, 1.0)]);
    let alerts = series(&s.storage, "ALERTS");
    assert_eq!(alerts[0].0.get("team"), Some("infra"));
    assert_eq!(alerts[0].0.get("severity"), Some("low"));
    assert_eq!(alerts[0].1, vec![(90_000, 1.0)]);
}

#[test]
fn restore_honours_the_outage_tolerance() {
    let s = setup();
    let m = manager(&s);
    m.update(60_000, &[path(&s.file)], &Labels::empty())
        .expect("load rules");
    let g = m.rule_groups().pop().expect("one group");
    for k in 0..4 {
        g.eval(k * 15_000);
    }
    assert_eq!(
        rules_json(&m, &RulesFilter::default())["groups"][0]["rules"][1]["state"],
        "firing"
    );
    // Down for two hours (tolerance 1h): "b" is still down when we are back.
    let late = 45_000 + 2 * 3_600_000;
    let b = Labels::from_pairs(&[("__name__", "up"), ("instance", "b"), ("job", "node")]);
    s.storage.insert(&b, late, 0.0);
    let m2 = manager(&s);
    m2.update(60_000, &[path(&s.file)], &Labels::empty())
        .expect("load after restart");
    let g2 = m2.rule_groups().pop().expect("one group");
    g2.eval(late);
    let j = rules_json(&m2, &RulesFilter::default());
    // The old state is beyond the tolerance: the alert starts over.
    assert_eq!(j["groups"][0]["rules"][1]["state"], "pending", "{j}");
    assert_eq!(
        j["groups"][0]["rules"][1]["alerts"][0]["activeAt"],
        "1970-01-01T02:00:45Z"
    );
}

#[test]
fn rules_pagination_with_group_limit_and_token() {
    let s = setup();
    let a = write_rules(
        "groups:\n  - name: a1\n    rules:\n      - record: r1\n        expr: vector(1)\n  - name: a2\n    rules:\n      - record: r2\n        expr: vector(1)\n",
    );
    let b = write_rules(
        "groups:\n  - name: b1\n    rules:\n      - record: r3\n        expr: vector(1)\n",
    );
    let m = manager(&s);
    m.update(60_000, &[path(&a), path(&b)], &Labels::empty())
        .expect("load rules");
    let all = promlite::rules::api::try_rules_json(&m, &RulesFilter::default()).expect("all");
    let names = |j: &serde_json::Value| -> Vec<String> {
        j["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|x| x["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&all).len(), 3);
    assert!(all.get("groupNextToken").is_none());
    let page1 = promlite::rules::api::try_rules_json(
        &m,
        &RulesFilter::from_params([("group_limit", "2")]).expect("params"),
    )
    .expect("page 1");
    assert_eq!(names(&page1), names(&all)[..2].to_vec());
    let token = page1["groupNextToken"]
        .as_str()
        .expect("a next token")
        .to_string();
    assert_eq!(token.len(), 40);
    let page2 = promlite::rules::api::try_rules_json(
        &m,
        &RulesFilter::from_params([("group_limit", "2"), ("group_next_token", &token)])
            .expect("params"),
    )
    .expect("page 2");
    assert_eq!(names(&page2), names(&all)[2..].to_vec());
    assert!(page2.get("groupNextToken").is_none());
    let bad = promlite::rules::api::try_rules_json(
        &m,
        &RulesFilter::from_params([("group_limit", "2"), ("group_next_token", "nope")])
            .expect("params"),
    );
    assert_eq!(
        bad.err().as_deref(),
        Some("invalid group_next_token 'nope'. were rule groups changed?")
    );
}
