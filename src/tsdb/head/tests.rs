//! Head tests: append rules, refs, collisions, selects, truncation, stats,
//! and concurrent appenders and readers.

use super::*;
use crate::model::{MatchType, Matcher};
use crate::storage::{Appender, Querier};

fn head() -> Arc<Head> {
    Arc::new(Head::new(HeadOptions {
        chunk_range: 1_000_000,
        stripes: 4,
    }))
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn select(h: &Arc<Head>, mint: i64, maxt: i64, ms: &[Matcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = h.querier(mint, maxt);
    q.select(true, None, ms)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            let mut it = s.iterator();
            let mut out = Vec::new();
            while let Some(x) = it.next() {
                out.push(x);
            }
            (s.labels().clone(), out)
        })
        .collect()
}

#[test]
fn append_commit_select() {
    let h = head();
    let a = lbl(&[("__name__", "up"), ("job", "a")]);
    let b = lbl(&[("__name__", "up"), ("job", "b")]);
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    let ra = app.append(0, &a, 1000, 1.0).unwrap();
    let rb = app.append(0, &b, 1000, 2.0).unwrap();
    assert_ne!(ra, rb);
    // Not visible before commit.
    assert!(select(&h, 0, 10_000, &[Matcher::equal("__name__", "up")]).is_empty());
    app.commit().unwrap();
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    assert_eq!(app.append(ra, &Labels::empty(), 2000, 3.0).unwrap(), ra);
    assert_eq!(app.append(0, &b, 2000, 4.0).unwrap(), rb);
    app.commit().unwrap();
    let got = select(&h, 0, 10_000, &[Matcher::equal("__name__", "up")]);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, a);
    assert_eq!(got[0].1, vec![(1000, 1.0), (2000, 3.0)]);
    assert_eq!(got[1].1, vec![(1000, 2.0), (2000, 4.0)]);
    assert_eq!(
        select(&h, 1500, 10_000, &[Matcher::equal("job", "b")])[0].1,
        vec![(2000, 4.0)]
    );
    assert!(select(&h, 3000, 10_000, &[Matcher::equal("job", "b")]).is_empty());
    assert_eq!(h.num_series(), 2);
    assert_eq!((h.min_time(), h.max_time()), (1000, 2000));
    assert_eq!(h.counters.samples_appended.load(Ordering::Relaxed), 4);
}

#[test]
fn rejects_out_of_order_too_old_and_duplicates() {
    let h = head();
    let a = lbl(&[("__name__", "x")]);
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    let r = app.append(0, &a, 10_000_000, 1.0).unwrap();
    app.commit().unwrap();
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    assert_eq!(
        app.append(r, &a, 9_999_999, 1.0),
        Err(StorageError::OutOfOrderSample)
    );
    assert_eq!(
        app.append(r, &a, 10_000_000, 2.0),
        Err(StorageError::DuplicateSampleForTimestamp)
    );
    assert_eq!(app.append(r, &a, 10_000_000, 1.0), Ok(r));
    // Older than maxt - chunk_range/2.
    assert_eq!(
        app.append(r, &a, 9_000_000, 1.0),
        Err(StorageError::OutOfBounds)
    );
    app.commit().unwrap();
    assert_eq!(h.counters.out_of_order_samples.load(Ordering::Relaxed), 1);
    assert_eq!(h.counters.out_of_bound_samples.load(Ordering::Relaxed), 1);
    assert_eq!(h.counters.samples_appended.load(Ordering::Relaxed), 1);
    assert!(matches!(
        h.appender().append(0, &Labels::empty(), 20_000_000, 1.0),
        Err(StorageError::InvalidLabels(_))
    ));
}

#[test]
fn out_of_order_within_a_batch_is_dropped_at_commit() {
    let h = head();
    let a = lbl(&[("__name__", "x")]);
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    app.append(0, &a, 200, 1.0).unwrap();
    app.append(0, &a, 100, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(
        select(&h, 0, 1000, &[Matcher::equal("__name__", "x")])[0].1,
        vec![(200, 1.0)]
    );
    assert_eq!(h.counters.out_of_order_samples.load(Ordering::Relaxed), 1);
}

#[test]
fn hash_collisions_are_told_apart_by_labels() {
    let h = head();
    let a = lbl(&[("__name__", "a")]);
    let b = lbl(&[("__name__", "b")]);
    // Force a collision by inserting b under a's hash.
    let (ida, _) = h.get_or_create(&a).unwrap();
    let hash = super::label_set_hash(&a);
    let idb = 77;
    {
        let mut hs = h.hash_stripe(hash).lock().unwrap();
        h.insert_series(idb, &b, &mut hs, hash);
    }
    let hs = h.hash_stripe(hash).lock().unwrap();
    assert_eq!(hs.collisions.get(&hash), Some(&vec![idb]));
    drop(hs);
    assert_eq!(h.get_by_labels(&a), Some(ida));
    // b is found through the collision list, with b's own hash it is absent.
    {
        let hs = h.hash_stripe(hash).lock().unwrap();
        assert_eq!(h.find_locked(&hs, hash, &b), Some(idb));
    }
    assert_eq!(h.series_labels(idb), Some(b.clone()));
    // Only b has samples: truncation removes a and promotes b to the primary slot.
    h.apply_samples(&mut [(idb, 10, 1.0)]);
    assert_eq!(h.truncate(0).series_removed, 1);
    let hs = h.hash_stripe(hash).lock().unwrap();
    assert_eq!(hs.ids.get(&hash), Some(&idb));
    assert!(hs.collisions.is_empty());
    assert_eq!(h.find_locked(&hs, hash, &b), Some(idb));
    assert_eq!(h.find_locked(&hs, hash, &a), None);
}

#[test]
fn matchers_and_label_queries() {
    let h = head();
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    for (i, (job, env)) in [("api", "prod"), ("api", ""), ("db", "prod")]
        .iter()
        .enumerate()
    {
        let l = lbl(&[("__name__", "m"), ("job", job), ("env", env)]);
        app.append(0, &l, 1000, i as f64).unwrap();
    }
    app.commit().unwrap();
    let env_empty = Matcher::equal("env", "");
    let got = select(&h, 0, 2000, &[Matcher::equal("__name__", "m"), env_empty]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.get("job"), Some("api"));
    let q = h.querier(0, 2000);
    assert_eq!(q.label_values("job", &[]).unwrap(), vec!["api", "db"]);
    let re = Matcher::new(MatchType::Regex, "env", "prod").unwrap();
    assert_eq!(
        q.label_values("job", std::slice::from_ref(&re)).unwrap(),
        vec!["api", "db"]
    );
    let not = Matcher::new(MatchType::NotEqual, "job", "api").unwrap();
    assert_eq!(
        q.label_names(&[not]).unwrap(),
        vec!["__name__", "env", "job"]
    );
    assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "env", "job"]);
    let st = h.stats(10);
    assert_eq!(st.num_series, 3);
    assert_eq!(st.series_count_by_metric_name, vec![("m".to_string(), 3)]);
    assert_eq!(
        st.series_count_by_label_value_pair[0],
        ("__name__=m".to_string(), 3)
    );
    assert_eq!(
        st.label_value_count_by_label_name[0],
        ("job".to_string(), 2)
    );
}

#[test]
fn iterator_seeks_across_chunks_within_range() {
    let h = head();
    let a = lbl(&[("__name__", "s")]);
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    let mut r = 0;
    for i in 0..500 {
        r = app.append(r, &a, i * 10, i as f64).unwrap();
    }
    app.commit().unwrap();
    assert_eq!(h.num_chunks(), 5);
    let q = h.querier(100, 4000);
    let set: Vec<_> = q
        .select(false, None, &[Matcher::equal("__name__", "s")])
        .unwrap()
        .collect();
    let s = set.into_iter().next().unwrap().unwrap();
    let mut it = s.iterator();
    assert_eq!(it.seek(0), Some((100, 10.0)));
    assert_eq!(it.seek(2555), Some((2560, 256.0)));
    assert_eq!(it.at(), Some((2560, 256.0)));
    assert_eq!(it.next(), Some((2570, 257.0)));
    assert_eq!(it.seek(4000), Some((4000, 400.0)));
    assert_eq!(it.next(), None);
    assert_eq!(it.seek(10), None);
}

#[test]
fn truncate_drops_old_data_and_empty_series() {
    let h = head();
    let old = lbl(&[("__name__", "old")]);
    let live = lbl(&[("__name__", "live")]);
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    for i in 0..200 {
        app.append(0, &old, i, 1.0).unwrap();
        app.append(0, &live, i * 10, 1.0).unwrap();
    }
    app.commit().unwrap();
    let st = h.truncate(1195);
    assert_eq!(st.series_removed, 1);
    assert_eq!(h.num_series(), 1);
    assert_eq!(h.get_by_labels(&old), None);
    assert!(select(&h, 0, i64::MAX, &[Matcher::equal("__name__", "old")]).is_empty());
    let got = select(&h, 0, i64::MAX, &[Matcher::equal("__name__", "live")]);
    assert_eq!(
        got[0].1.first(),
        Some(&(1200, 1.0)),
        "first chunk (0..1190) was dropped"
    );
    assert_eq!(h.min_time(), 1200);
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    assert_eq!(
        app.append(0, &old, 1194, 1.0),
        Err(StorageError::OutOfBounds)
    );
    // A removed series comes back with a new id.
    assert!(app.append(0, &old, 5000, 1.0).is_ok());
}

#[test]
fn concurrent_appenders_and_readers() {
    let h = head();
    std::thread::scope(|s| {
        for w in 0..4 {
            let h = h.clone();
            s.spawn(move || {
                let labels: Vec<Labels> = (0..50)
                    .map(|i| {
                        lbl(&[
                            ("__name__", "c"),
                            ("w", &w.to_string()),
                            ("i", &i.to_string()),
                        ])
                    })
                    .collect();
                let mut refs = vec![0u64; labels.len()];
                for t in 0..100 {
                    let mut app: Box<dyn Appender> = Box::new(h.appender());
                    for (i, l) in labels.iter().enumerate() {
                        refs[i] = app.append(refs[i], l, t, t as f64).unwrap();
                    }
                    app.commit().unwrap();
                }
            });
        }
        let h2 = h.clone();
        s.spawn(move || {
            for _ in 0..20 {
                let _ = select(&h2, 0, 1000, &[Matcher::equal("__name__", "c")]);
            }
        });
    });
    let got = select(&h, 0, 1000, &[Matcher::equal("__name__", "c")]);
    assert_eq!(got.len(), 200);
    assert!(got.iter().all(|(_, s)| s.len() == 100));
    assert_eq!(h.counters.samples_appended.load(Ordering::Relaxed), 20_000);
}

#[test]
fn memory_head_reuses_ids_one_truncation_later_and_frees_symbols() {
    let h = head();
    let keep = lbl(&[("__name__", "up"), ("job", "a")]);
    let (k, _) = h.get_or_create(&keep).unwrap();
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    app.append(u64::from(k), &keep, 5000, 1.0).unwrap();
    for i in 0..10 {
        let l = lbl(&[("__name__", "churn"), ("pod", &format!("p{i}"))]);
        app.append(0, &l, 10, 1.0).unwrap();
    }
    app.commit().unwrap();
    let symbols = h.num_symbols();
    assert_eq!(h.truncate(1000).series_removed, 10);
    assert_eq!(h.reusable_ids(), 0, "not reused right after removal");
    h.truncate(1000);
    assert_eq!(h.reusable_ids(), 10);
    // Two truncations after their last use, "churn", "pod" and its 10 values go.
    h.truncate(1000);
    assert_eq!(h.num_symbols(), symbols - 12);
    let fresh = lbl(&[("__name__", "new"), ("pod", "q")]);
    let (id, created) = h.get_or_create(&fresh).unwrap();
    assert!(created);
    assert!(id <= 11 && id != k, "id {id} not reused");
    assert_eq!(h.series_labels(id), Some(fresh.clone()));
    assert_eq!(h.series_labels(k), Some(keep.clone()));
    assert_eq!(h.get_by_labels(&fresh), Some(id));
    let mut app: Box<dyn Appender> = Box::new(h.appender());
    app.append(u64::from(id), &fresh, 6000, 2.0).unwrap();
    app.commit().unwrap();
    let got = select(&h, 0, 10_000, &[Matcher::equal("pod", "q")]);
    assert_eq!(got, vec![(fresh, vec![(6000, 2.0)])]);
    assert_eq!(
        select(&h, 0, 10_000, &[Matcher::equal("__name__", "churn")]),
        vec![]
    );
}

#[test]
fn label_set_hash_tells_boundaries_and_order_apart() {
    let h = |pairs: &[(&str, &str)]| super::label_set_hash(&lbl(pairs));
    let base = h(&[("a", "bc")]);
    // The same bytes split differently, or moved between labels, differ.
    assert_ne!(base, h(&[("ab", "c")]));
    assert_ne!(base, h(&[("a", "b"), ("c", "")]));
    assert_ne!(h(&[("a", "1"), ("b", "2")]), h(&[("a", "2"), ("b", "1")]));
    // Long strings (several 16-byte blocks plus a tail) are hashed whole.
    let long = "x".repeat(40);
    let mut other = long.clone();
    other.replace_range(37..38, "y");
    assert_ne!(h(&[("n", &long)]), h(&[("n", &other)]));
    assert_eq!(h(&[("n", &long)]), h(&[("n", &long.clone())]));
}
