//! Remote read end to end: promlite's read client against promlite's read
//! handler served on 127.0.0.1 — external label filtering on both sides,
//! required matchers, read_recent, merging through the fanout, errors.

use crate::remote_support;

use std::sync::Arc;
use std::time::Duration;

use promlite::model::{Labels, MatchType, Matcher};
use promlite::storage::fanout::Fanout;
use promlite::storage::memory::MemStorage;
use promlite::storage::remote::codec::decode_read_request;
use promlite::storage::remote::{
    handle_read, MemWal, QueueOptions, ReadHandlerSettings, RemoteConfig, RemoteReadQueryable,
    RemoteReadSettings, RemoteStorage,
};
use promlite::storage::{Queryable, SeriesSet};
use remote_support::{status, Endpoint};

/// A remote promlite with external labels `dc="eu"` serving `store`.
fn read_endpoint(store: MemStorage) -> Endpoint {
    let settings = ReadHandlerSettings {
        external_labels: Labels::from_pairs(&[("dc", "eu")]),
        sample_limit: 0,
    };
    Endpoint::start("/api/v1/read", move |_, body| {
        let r = handle_read(body, &store, &settings);
        let headers = r
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        (r.status, headers, r.body)
    })
}

fn remote_store() -> MemStorage {
    let s = MemStorage::new();
    let up = Labels::from_pairs(&[("__name__", "up"), ("job", "x")]);
    let other = Labels::from_pairs(&[("__name__", "other"), ("job", "y")]);
    for t in [1000, 2000, 3000] {
        s.insert(&up, t, 1.0);
        s.insert(&other, t, 2.0);
    }
    s
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchType::Equal, name, value).unwrap()
}

fn collect(set: SeriesSet) -> Vec<(Labels, Vec<(i64, f64)>)> {
    set.map(|s| {
        let s = s.unwrap();
        let mut it = s.iterator();
        let mut samples = Vec::new();
        while let Some(p) = it.next() {
            samples.push(p);
        }
        drop(it);
        (s.labels().clone(), samples)
    })
    .collect()
}

#[test]
fn reads_samples_and_filters_external_labels_on_both_sides() {
    let ep = read_endpoint(remote_store());
    let mut settings = RemoteReadSettings::new(&ep.url);
    settings.http.timeout = Duration::from_secs(5);
    let ext = Labels::from_pairs(&[("dc", "eu")]);
    let q = RemoteReadQueryable::new(settings, &ext, None).unwrap();
    let querier = q.querier(0, 2500).unwrap();
    let got = collect(querier.select(true, None, &[eq("__name__", "up")]).unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0,
        Labels::from_pairs(&[("__name__", "up"), ("job", "x")]),
        "the external label matcher was added and its label stripped"
    );
    assert_eq!(got[0].1, vec![(1000, 1.0), (2000, 1.0)]);

    let req = decode_read_request(&ep.recorded()[0].body).unwrap();
    let names: Vec<&str> = req.queries[0]
        .matchers
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert!(names.contains(&"dc"), "{names:?}");
    assert_eq!(ep.recorded()[0].header("Content-Encoding"), Some("snappy"));
    assert_eq!(
        ep.recorded()[0].header("X-Prometheus-Remote-Read-Version"),
        Some("0.1.0")
    );
}

#[test]
fn without_filter_external_labels_the_remote_labels_stay() {
    let ep = read_endpoint(remote_store());
    let mut settings = RemoteReadSettings::new(&ep.url);
    settings.filter_external_labels = false;
    let q = RemoteReadQueryable::new(settings, &Labels::from_pairs(&[("dc", "us")]), None).unwrap();
    let got = collect(
        q.querier(0, 5000)
            .unwrap()
            .select(true, None, &[eq("job", "y")])
            .unwrap(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0.get("dc"),
        Some("eu"),
        "remote's external label kept"
    );
}

#[test]
fn required_matchers_gate_the_request() {
    let ep = read_endpoint(remote_store());
    let mut settings = RemoteReadSettings::new(&ep.url);
    settings.required_matchers.insert("job".into(), "x".into());
    let q = RemoteReadQueryable::new(settings, &Labels::empty(), None).unwrap();
    let querier = q.querier(0, 5000).unwrap();
    assert!(collect(querier.select(true, None, &[eq("__name__", "up")]).unwrap()).is_empty());
    assert_eq!(ep.count(), 0, "not asked without the required matcher");
    let got = collect(
        querier
            .select(true, None, &[eq("__name__", "up"), eq("job", "x")])
            .unwrap(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(ep.count(), 1);
}

#[test]
fn read_recent_false_skips_what_local_storage_holds() {
    let ep = read_endpoint(remote_store());
    let settings = RemoteReadSettings::new(&ep.url);
    let local_start = Arc::new(|| 2000i64);
    let q = RemoteReadQueryable::new(settings, &Labels::empty(), Some(local_start)).unwrap();
    let recent = q.querier(2500, 5000).unwrap();
    assert!(collect(recent.select(true, None, &[eq("job", "x")]).unwrap()).is_empty());
    assert_eq!(ep.count(), 0);
    let older = q.querier(0, 5000).unwrap();
    let got = collect(older.select(true, None, &[eq("job", "x")]).unwrap());
    assert_eq!(
        got[0].1,
        vec![(1000, 1.0), (2000, 1.0)],
        "clipped at local start"
    );
}

#[test]
fn fanout_merges_local_and_remote_and_surfaces_errors() {
    let ep = read_endpoint(remote_store());
    let local = Arc::new(MemStorage::new());
    let up = Labels::from_pairs(&[("__name__", "up"), ("job", "x")]);
    local.insert(&up, 4000, 4.0);
    let remote = Arc::new(RemoteStorage::new(
        Arc::new(MemWal::new()),
        QueueOptions::default(),
    ));
    let mut rs = RemoteSettingsBuilder::new(&ep.url);
    rs.read.read_recent = true;
    remote.apply_remote_config(&rs.build()).unwrap();
    let fanout = Fanout::new(local, vec![remote.clone()]);
    let got = collect(
        fanout
            .querier(0, 5000)
            .unwrap()
            .select(true, None, &[eq("__name__", "up")])
            .unwrap(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].1,
        vec![(1000, 1.0), (2000, 1.0), (3000, 1.0), (4000, 4.0)]
    );

    // An endpoint that fails is an error, not silently empty data.
    let broken = Endpoint::start("/api/v1/read", status(500));
    let rs = RemoteSettingsBuilder::new(&broken.url);
    remote.apply_remote_config(&rs.build()).unwrap();
    let q = fanout.querier(0, 5000).unwrap();
    let err = q.select(true, None, &[eq("__name__", "up")]).err();
    assert!(
        err.is_some_and(|e| e.to_string().contains("500")),
        "remote 500 reported"
    );
    remote.close();
}

struct RemoteSettingsBuilder {
    read: RemoteReadSettings,
}

impl RemoteSettingsBuilder {
    fn new(url: &str) -> Self {
        RemoteSettingsBuilder {
            read: RemoteReadSettings::new(url),
        }
    }
    fn build(&self) -> RemoteConfig {
        // Same external labels as the remote: its series match local ones.
        RemoteConfig {
            external_labels: Labels::from_pairs(&[("dc", "eu")]),
            remote_write: vec![],
            remote_read: vec![self.read.clone()],
        }
    }
}
