//! Db tests: reopen replays, the directory lock, truncation with
//! checkpoints across restarts, torn-tail repair and self-metrics.

use super::*;
use crate::model::{Labels, Matcher};
use crate::storage::StorageError;

fn opts() -> DbOptions {
    DbOptions {
        wal_segment_size: 32 * 1024,
        min_block_duration: 1_000_000,
        ..DbOptions::default()
    }
}

/// Options under which every open replays the whole WAL.
fn wal_only() -> DbOptions {
    DbOptions {
        memory_snapshot_on_shutdown: false,
        ..opts()
    }
}

fn series(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

fn append(db: &Db, n_series: usize, ts: std::ops::Range<i64>) {
    let mut refs = vec![0u64; n_series];
    for t in ts {
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app
                .append(*r, &series(i), t * 1000, (t as f64) + i as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
}

fn read_all(db: &Db) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    q.select(true, None, &[Matcher::equal("__name__", "m")])
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            let mut it = s.iterator();
            let mut v = Vec::new();
            while let Some(x) = it.next() {
                v.push(x);
            }
            (s.labels().clone(), v)
        })
        .collect()
}

#[test]
fn reopen_replays_everything_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    append(&db, 20, 0..300);
    let before = read_all(&db);
    db.close().unwrap();
    assert!(db.appender().append(0, &series(0), 1, 1.0).is_err());
    drop(db);
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    assert_eq!(read_all(&db), before);
    assert_eq!(db.replay_stats().samples, 20 * 300);
    assert!(list_segments(&tmp.path().join("wal")).unwrap().len() > 2);
    // New series after a restart get ids that do not clash with replayed ones.
    let mut app = db.appender();
    let r = app.append(0, &series(999), 400_000, 1.0).unwrap();
    assert!(r > 20);
    app.commit().unwrap();
}

#[test]
fn second_open_fails_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let err = match Db::open(tmp.path(), opts()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("second open must fail"),
    };
    assert!(err.contains("locked by another process"), "{err}");
    assert!(err.contains("--storage.tsdb.no-lockfile"), "{err}");
    db.close().unwrap();
    assert!(!tmp.path().join("lock").exists());
    let db2 = Db::open(tmp.path(), opts()).unwrap();
    drop(db2);
    let mut o = opts();
    o.no_lockfile = true;
    let _a = Db::open(tmp.path(), o.clone()).unwrap();
}

#[test]
fn truncation_checkpoints_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let wal_dir = tmp.path().join("wal");
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    append(&db, 10, 0..2000);
    let segs_before = list_segments(&wal_dir).unwrap().len();
    db.truncate_head(1_000_000).unwrap();
    let after = list_segments(&wal_dir).unwrap();
    assert!(
        after.len() < segs_before,
        "{} -> {}",
        segs_before,
        after.len()
    );
    let cps = crate::tsdb::wal::checkpoint::list_checkpoints(&wal_dir).unwrap();
    assert_eq!(cps.len(), 1);
    assert_eq!(db.counters.checkpoint_creations.load(Ordering::Relaxed), 1);
    append(&db, 10, 2000..2100);
    let expect = read_all(&db);
    assert!(
        expect[0].1[0].0 >= 960_000,
        "old chunks are gone: {}",
        expect[0].1[0].0
    );
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    let got = read_all(&db);
    // Replay can keep samples the memory truncation dropped (a checkpoint
    // keeps everything at or after mint, chunks are dropped whole), so
    // compare from the first sample the live head had.
    assert_eq!(got.len(), expect.len());
    for ((la, sa), (lb, sb)) in got.iter().zip(&expect) {
        assert_eq!(la, lb);
        let first = sb[0].0;
        let tail: Vec<_> = sa.iter().copied().filter(|s| s.0 >= first).collect();
        assert_eq!(&tail, sb);
    }
    assert!(db.replay_stats().checkpoint.is_some());
}

#[test]
fn torn_tail_is_repaired_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    append(&db, 3, 0..10);
    db.close().unwrap();
    drop(db);
    let wal_dir = tmp.path().join("wal");
    let (_, last) = list_segments(&wal_dir).unwrap().pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    let f = OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.counters.wal_corruptions.load(Ordering::Relaxed), 1);
    let got = read_all(&db);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].1.len(), 9, "only the torn last commit is lost");
    append(&db, 3, 10..12);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.counters.wal_corruptions.load(Ordering::Relaxed), 0);
    assert_eq!(read_all(&db)[0].1.len(), 11);
}

#[test]
fn metrics_and_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    append(&db, 5, 0..3);
    let reg = crate::telemetry::Registry::new();
    register_metrics_for_test(&db, &reg);
    db.head().wal().unwrap().sync().unwrap();
    let out = reg.render();
    for want in [
        "prometheus_tsdb_head_series 5",
        "prometheus_tsdb_head_samples_appended_total{type=\"float\"} 15",
        "prometheus_tsdb_head_chunks 5",
        "prometheus_tsdb_head_max_time 2000",
        "prometheus_tsdb_wal_segment_current 0",
        "prometheus_tsdb_wal_fsync_duration_seconds_count 1",
    ] {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
    let st = db.stats(10);
    assert_eq!(
        (st.num_series, st.chunk_count, st.min_time, st.max_time),
        (5, 5, 0, 2000)
    );
}

fn register_metrics_for_test(db: &Arc<Db>, reg: &crate::telemetry::Registry) {
    crate::tsdb::register_metrics(db, reg);
}

#[test]
fn compaction_cuts_blocks_and_queries_merge_across_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.min_block_duration = 100_000;
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    append(&db, 5, 0..400);
    let before = read_all(&db);
    db.compact().unwrap();
    let blocks = db.blocks().list();
    let ranges: Vec<(i64, i64)> = blocks
        .iter()
        .map(|b| (b.meta().min_time, b.meta().max_time))
        .collect();
    assert_eq!(
        ranges,
        vec![(0, 100_000), (100_000, 200_000), (200_000, 300_000)]
    );
    assert_eq!(db.head().min_time(), 300_000);
    assert_eq!(db.blocks().counters.compactions.load(Ordering::Relaxed), 3);
    assert_eq!(
        read_all(&db),
        before,
        "blocks + head answer like the head did"
    );
    let mut app = db.appender();
    assert_eq!(
        app.append(0, &series(0), 150_000, 1.0),
        Err(StorageError::OutOfBounds)
    );
    drop(app);
    db.close().unwrap();
    drop(db);

    let db = Db::open(tmp.path(), o.clone()).unwrap();
    assert_eq!(db.blocks().list().len(), 3);
    assert_eq!(
        read_all(&db),
        before,
        "no sample lost or doubled after restart"
    );
    let q = db.querier(150_000, 250_000).unwrap();
    let s = q.select(true, None, &[Matcher::equal("i", "2")]).unwrap();
    let got: Vec<_> = s
        .map(|s| {
            let s = s.unwrap();
            let mut it = s.iterator();
            let mut v = Vec::new();
            while let Some(x) = it.next() {
                v.push(x);
            }
            v
        })
        .collect();
    assert_eq!(got[0].len(), 101);
    assert_eq!(got[0][0], (150_000, 152.0));
    db.close().unwrap();
    drop(db);

    // Time retention keeps blocks ending within 150s of the newest block.
    o.retention = Some(150_000);
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    db.compact().unwrap();
    assert_eq!(db.blocks().list().len(), 2);
    assert_eq!(
        db.blocks().counters.time_retentions.load(Ordering::Relaxed),
        1
    );
    assert!(read_all(&db)[0].1[0].0 >= 100_000);
    db.close().unwrap();
    drop(db);

    // Size retention counts the WAL: a limit below the WAL's size leaves no block.
    o.retention = None;
    o.retention_size = Some(1);
    let db = Db::open(tmp.path(), o).unwrap();
    db.compact().unwrap();
    assert!(db.blocks().list().is_empty());
    assert_eq!(
        db.blocks().counters.size_retentions.load(Ordering::Relaxed),
        1
    );
    assert!(read_all(&db)[0].1[0].0 >= 300_000, "the head is kept");
}

#[test]
fn snapshot_links_blocks_and_writes_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.min_block_duration = 100_000;
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    append(&db, 4, 0..300);
    db.compact().unwrap();
    assert_eq!(db.blocks().list().len(), 2);
    let before = read_all(&db);
    let name = db.snapshot(false).unwrap();
    assert!(
        name.len() == 16 + 1 + 16 && name.as_bytes()[8] == b'T',
        "{name}"
    );
    let snap = tmp.path().join("snapshots").join(&name);
    // The snapshot is a data dir of its own: open it and read everything.
    let s = Db::open(&snap, o.clone()).unwrap();
    assert_eq!(s.blocks().list().len(), 3);
    assert_eq!(read_all(&s), before);
    let name2 = db.snapshot(true).unwrap();
    assert_ne!(name, name2);
    let s2 = Db::open(&tmp.path().join("snapshots").join(&name2), o).unwrap();
    assert_eq!(s2.blocks().list().len(), 2);
}

#[test]
fn utc_formatting() {
    assert_eq!(format_utc_compact(0), "19700101T000000Z");
    assert_eq!(format_utc_compact(951_782_400), "20000229T000000Z");
    assert_eq!(format_utc_compact(1_700_000_000), "20231114T221320Z");
}

#[test]
fn undecodable_record_is_cut_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    append(&db, 2, 0..5);
    // A well-framed samples record whose body is cut short.
    db.head().wal().unwrap().log(&[&[2u8, 0, 0, 1]]).unwrap();
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    assert_eq!(db.counters.wal_corruptions.load(Ordering::Relaxed), 1);
    assert_eq!(read_all(&db)[0].1.len(), 5);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    assert_eq!(db.counters.wal_corruptions.load(Ordering::Relaxed), 0);
    assert_eq!(read_all(&db)[0].1.len(), 5);
}

#[test]
fn deletion_hides_data_in_head_and_blocks_across_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.min_block_duration = 100_000;
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    append(&db, 3, 0..300);
    db.compact().unwrap();
    assert_eq!(db.blocks().list().len(), 2);
    // [50s, 250s] spans both blocks and the head; series 1 only.
    let n = db
        .delete(50_000, 250_000, &[Matcher::equal("i", "1")])
        .unwrap();
    assert_eq!(n, 3);
    let check = |db: &Db| {
        let got = read_all(db);
        assert_eq!(got.len(), 3);
        let times: Vec<i64> = got[1].1.iter().map(|s| s.0).collect();
        assert_eq!(times.len(), 300 - 201);
        assert!(times.iter().all(|&t| !(50_000..=250_000).contains(&t)));
        assert_eq!(got[0].1.len(), 300);
        assert_eq!(got[2].1.len(), 300);
    };
    check(&db);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    check(&db);
    // Deletions in the head travel into the block cut from it.
    append(&db, 3, 300..400);
    db.compact().unwrap();
    assert_eq!(db.blocks().list().len(), 3);
    check_prefix(&db);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), o).unwrap();
    check_prefix(&db);
}

fn check_prefix(db: &Db) {
    let got = read_all(db);
    let times: Vec<i64> = got[1].1.iter().map(|s| s.0).collect();
    assert!(times.iter().all(|&t| !(50_000..=250_000).contains(&t)));
    assert_eq!(times.len(), 400 - 201);
}

#[test]
fn levelled_compaction_merges_blocks_that_fill_a_range() {
    assert_eq!(
        crate::tsdb::compact::block_ranges(100, 1000),
        vec![100, 300, 900]
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.min_block_duration = 100_000;
    o.max_block_duration = 900_000;
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    append(&db, 4, 0..700);
    db.delete(10_000, 20_000, &[Matcher::equal("i", "0")])
        .unwrap();
    let before = read_all(&db);
    db.compact().unwrap();
    let metas: Vec<(i64, i64, u32, usize)> = db
        .blocks()
        .list()
        .iter()
        .map(|b| {
            let m = b.meta();
            (
                m.min_time,
                m.max_time,
                m.compaction.level,
                m.compaction.sources.len(),
            )
        })
        .collect();
    assert_eq!(
        metas,
        vec![
            (0, 300_000, 2, 3),
            (300_000, 400_000, 1, 1),
            (400_000, 500_000, 1, 1),
            (500_000, 600_000, 1, 1),
        ]
    );
    assert_eq!(
        read_all(&db),
        before,
        "merging keeps every sample and deletion"
    );
    let dirs = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| crate::tsdb::block::ulid::is_ulid(&e.file_name().to_string_lossy()))
        .count();
    assert_eq!(dirs, 4, "merged parts are deleted from disk");
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), o).unwrap();
    assert_eq!(read_all(&db), before);
}

#[test]
fn clean_tombstones_rewrites_blocks_without_deleted_data() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.min_block_duration = 100_000;
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    append(&db, 3, 0..300);
    db.compact().unwrap();
    db.delete(0, 150_000, &[Matcher::equal("i", "2")]).unwrap();
    let before = read_all(&db);
    let old: Vec<String> = db
        .blocks()
        .list()
        .iter()
        .map(|b| b.meta().ulid.clone())
        .collect();
    assert_eq!(db.clean_tombstones().unwrap(), 2);
    let blocks = db.blocks().list();
    assert_eq!(blocks.len(), 2);
    for (b, old_ulid) in blocks.iter().zip(&old) {
        assert!(!old.contains(&b.meta().ulid));
        let parents: Vec<&str> = b
            .meta()
            .compaction
            .parents
            .iter()
            .map(|p| p.ulid.as_str())
            .collect();
        assert_eq!(parents, [old_ulid.as_str()], "a rewrite names its parent");
        let all = b.all_series().unwrap();
        assert!(
            all.iter().all(|(_, _, d)| d.is_empty()),
            "no tombstones left"
        );
    }
    assert_eq!(blocks[0].meta().stats.num_samples, 100 + 100);
    assert_eq!(blocks[1].meta().stats.num_samples, 100 + 100 + 49);
    assert_eq!(read_all(&db), before);
    assert_eq!(db.clean_tombstones().unwrap(), 0);
}

#[test]
fn series_of_a_dropped_appender_are_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let mut app = db.appender();
    app.append(0, &series(0), 1000, 1.0).unwrap();
    drop(app);
    // Another appender finds the series by labels and commits a sample.
    let mut app = db.appender();
    app.append(0, &series(0), 2000, 2.0).unwrap();
    app.commit().unwrap();
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(read_all(&db)[0].1, vec![(2000, 2.0)]);
}

/// Copies a data directory as a kill -9 would leave it: every file as the
/// OS has it now, with no shutdown work done.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else if e.file_name() != "lock" {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    crate::tsdb::head::snapshot::list_snapshots(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn head_chunk_snapshot_round_trips_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    // 250 samples: two closed chunks and a partly filled open one per series.
    append(&db, 20, 0..250);
    db.delete(10_000, 20_000, &[Matcher::equal("i", "3")])
        .unwrap();
    let before = read_all(&db);
    db.close().unwrap();
    drop(db);
    assert_eq!(snapshots(tmp.path()).len(), 1);
    let size = crate::tsdb::head::snapshot::snapshots_size(tmp.path());
    assert!(size > 20 * 250, "snapshot of {size} bytes is too small");

    let db = Db::open(tmp.path(), opts()).unwrap();
    let st = db.replay_stats().clone();
    assert_eq!(st.snapshot_series, 20);
    assert_eq!(st.samples, 0, "nothing before the snapshot is replayed");
    assert_eq!(read_all(&db), before);
    assert_eq!(db.head().num_chunks(), 20 * 3);
    // Restored open chunks keep appending where they stopped.
    append(&db, 20, 250..400);
    assert_eq!(
        db.head().num_series(),
        20,
        "appends by labels find restored series"
    );
    let after = read_all(&db);
    assert_eq!(after[0].1.len(), 400);
    db.close().unwrap();
    drop(db);
    assert_eq!(
        snapshots(tmp.path()).len(),
        1,
        "older snapshots are removed"
    );

    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(read_all(&db), after);
    db.close().unwrap();
    drop(db);
    // The WAL alone gives the same head as the snapshot.
    for p in snapshots(tmp.path()) {
        fs::remove_file(p).unwrap();
    }
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    assert_eq!(db.replay_stats().snapshot_series, 0);
    assert_eq!(read_all(&db), after);
}

#[test]
fn corrupt_snapshot_falls_back_to_full_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    append(&db, 5, 0..200);
    let before = read_all(&db);
    db.close().unwrap();
    drop(db);
    let snap = snapshots(tmp.path()).pop().unwrap();
    let mut bytes = fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&snap, &bytes).unwrap();

    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.replay_stats().snapshot_series, 0);
    assert_eq!(
        db.counters.snapshot_replay_errors.load(Ordering::Relaxed),
        1
    );
    assert_eq!(db.replay_stats().samples, 5 * 200);
    assert_eq!(read_all(&db), before);
    db.close().unwrap();
    drop(db);
    // A snapshot cut short is ignored the same way.
    let snap = snapshots(tmp.path()).pop().unwrap();
    let len = fs::metadata(&snap).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&snap)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.replay_stats().snapshot_series, 0);
    assert_eq!(read_all(&db), before);
}

#[test]
fn commits_after_the_snapshot_are_replayed_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    append(&db, 8, 0..150);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.replay_stats().snapshot_series, 8);
    append(&db, 8, 150..300);
    // A new series after the snapshot point, with a deletion.
    append(&db, 10, 300..310);
    db.delete(0, 5_000, &[Matcher::equal("i", "1")]).unwrap();
    let expect = read_all(&db);
    let crash_tmp = tempfile::tempdir().unwrap();
    let crashed = crash_tmp.path().join("data");
    copy_dir(tmp.path(), &crashed);
    db.close().unwrap();
    drop(db);

    let db = Db::open(&crashed, opts()).unwrap();
    let st = db.replay_stats().clone();
    assert_eq!(st.snapshot_series, 8, "the old snapshot is still valid");
    assert_eq!(st.samples, 8 * 150 + 10 * 10);
    assert_eq!(read_all(&db), expect);
}

#[test]
fn snapshot_of_a_checkpointed_segment_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    append(&db, 10, 0..100);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    append(&db, 10, 100..2000);
    db.truncate_head(1_000_000).unwrap();
    // The snapshot's segment was checkpointed away: it is gone or unusable.
    assert!(usable_snapshot(tmp.path(), &tmp.path().join("wal")).is_none());
    let expect = read_all(&db);
    let crash_tmp = tempfile::tempdir().unwrap();
    let crashed = crash_tmp.path().join("data");
    copy_dir(tmp.path(), &crashed);
    db.close().unwrap();
    drop(db);
    let db = Db::open(&crashed, opts()).unwrap();
    assert_eq!(db.replay_stats().snapshot_series, 0);
    assert!(db.replay_stats().checkpoint.is_some());
    let got = read_all(&db);
    for ((la, sa), (lb, sb)) in got.iter().zip(&expect) {
        assert_eq!(la, lb);
        let first = sb[0].0;
        let tail: Vec<_> = sa.iter().copied().filter(|s| s.0 >= first).collect();
        assert_eq!(&tail, sb);
    }
}

fn churn_series(round: usize, k: usize) -> Labels {
    Labels::from_pairs(&[
        ("__name__", "m"),
        ("i", &k.to_string()),
        ("pod", &format!("pod-{round}")),
    ])
}

/// Each round replaces every series by new ones (a new `pod`) and truncates
/// the old ones away, as a deployment does.
fn churn(db: &Db, rounds: std::ops::Range<usize>) {
    for round in rounds {
        let mut refs = vec![0u64; 50];
        for t in 0..100i64 {
            let ts = (round as i64 * 100 + t) * 1000;
            let mut app = db.appender();
            for (k, r) in refs.iter_mut().enumerate() {
                *r = app
                    .append(*r, &churn_series(round, k), ts, t as f64)
                    .unwrap();
            }
            app.commit().unwrap();
        }
        db.truncate_head(round as i64 * 100 * 1000).unwrap();
    }
}

#[test]
fn label_churn_frees_symbols_and_reuses_series_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), wal_only()).unwrap();
    churn(&db, 0..4);
    let symbols_early = db.head().num_symbols();
    churn(&db, 4..20);
    let head = db.head();
    assert_eq!(head.num_series(), 50);
    // 20 rounds × 50 series were created; ids stay near the live count.
    assert!(
        head.last_series_id() < 300,
        "ids not reused: last id {}",
        head.last_series_id()
    );
    // __name__, m, i, 50 values of i, pod and a few rounds of pod values.
    assert!(
        head.num_symbols() <= symbols_early,
        "symbols grow with churn: {} then {}",
        symbols_early,
        head.num_symbols()
    );
    assert!(head.num_symbols() < 60, "{} symbols", head.num_symbols());
    let before = read_all(&db);
    assert_eq!(before.len(), 50);
    assert!(before
        .iter()
        .all(|(l, s)| l.get("pod") == Some("pod-19") && s.len() == 100));
    db.close().unwrap();
    drop(db);
    // Replay with reused ids gives the same head, from the WAL and from a
    // snapshot. Replay also brings back series the live head had truncated
    // (their segments were not checkpointed yet), but never mixes two series
    // that shared an id: each keeps exactly its own round's samples.
    let check = |db: &Db| {
        let got = read_all(db);
        for (l, s) in &got {
            let round: i64 = l
                .get("pod")
                .and_then(|p| p.strip_prefix("pod-"))
                .and_then(|r| r.parse().ok())
                .unwrap_or(-1);
            let want: Vec<(i64, f64)> = (0..100)
                .map(|t| ((round * 100 + t) * 1000, t as f64))
                .collect();
            assert!(*s == want, "samples of {l} are not its own");
        }
        let live: Vec<_> = got
            .into_iter()
            .filter(|(l, _)| l.get("pod") == Some("pod-19"))
            .collect();
        assert!(live == before, "the live series differ after reopening");
    };
    let db = Db::open(tmp.path(), opts()).unwrap();
    check(&db);
    let last_id = db.head().last_series_id();
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert!(db.replay_stats().snapshot_series >= 50);
    assert_eq!(
        db.head().last_series_id(),
        last_id,
        "the snapshot keeps the last id"
    );
    check(&db);
}

#[test]
fn snapshot_keeps_ids_of_removed_series_out_of_reach() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    // Series 0..5 live on; 5..10 (the highest ids) stop early and are
    // truncated away, while the WAL still names them.
    append(&db, 10, 0..10);
    let mut refs = [0u64; 5];
    for t in 10..20 {
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app.append(*r, &series(i), t * 1000, 1.0).unwrap();
        }
        app.commit().unwrap();
    }
    db.truncate_head(12_000).unwrap();
    assert_eq!(db.head().num_series(), 5);
    let last = db.head().last_series_id();
    assert_eq!(last, 10);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.replay_stats().snapshot_series, 5);
    let mut app = db.appender();
    let id = app.append(0, &series(99), 30_000, 1.0).unwrap();
    app.commit().unwrap();
    assert!(
        id > u64::from(last),
        "new series took id {id}, still named in the WAL"
    );
}

/// Block dirs (ULID names) in `dir`, and whether any temporary block dir
/// (`*.tmp-for-creation`, `*.tmp-for-deletion`) is left.
fn block_dirs(dir: &Path) -> (Vec<String>, bool) {
    let mut ulids = Vec::new();
    let mut tmp = false;
    for e in fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if crate::tsdb::block::ulid::is_ulid(&name) {
            ulids.push(name);
        } else if crate::tsdb::block::writer::is_tmp_block_dir(&name) {
            tmp = true;
        }
    }
    ulids.sort();
    (ulids, tmp)
}

fn ranges(db: &Db) -> Vec<(i64, i64)> {
    db.blocks()
        .list()
        .iter()
        .map(|b| (b.meta().min_time, b.meta().max_time))
        .collect()
}

/// Four 100 s blocks (0..400 s) and a head from 400 s, with no levelled
/// merging (max block duration = min).
fn four_blocks() -> DbOptions {
    DbOptions {
        min_block_duration: 100_000,
        max_block_duration: 100_000,
        ..opts()
    }
}

#[test]
fn time_retention_deletes_exactly_the_blocks_beyond_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = four_blocks();
    // The block ending exactly 200 s before the newest one is beyond
    // retention (upstream: `>=`); the one ending 100 s before is not.
    o.retention = Some(200_000);
    let db = Db::open(tmp.path(), o).unwrap();
    let reg = crate::telemetry::Registry::new();
    register_metrics_for_test(&db, &reg);
    append(&db, 5, 0..500);
    let before = read_all(&db);
    db.compact().unwrap();
    assert_eq!(ranges(&db), vec![(200_000, 300_000), (300_000, 400_000)]);
    let (dirs, leftovers) = block_dirs(tmp.path());
    assert_eq!(dirs.len(), 2, "deleted blocks leave the disk: {dirs:?}");
    assert!(!leftovers, "no *.tmp-for-deletion left");
    assert_eq!(
        db.blocks().counters.time_retentions.load(Ordering::Relaxed),
        1
    );
    // Nothing else: every sample from 200 s on is still there, head included.
    let after = read_all(&db);
    for ((la, sa), (lb, sb)) in after.iter().zip(&before) {
        assert_eq!(la, lb);
        let kept: Vec<_> = sb.iter().copied().filter(|s| s.0 >= 200_000).collect();
        assert_eq!(sa, &kept);
    }
    // Another pass has nothing more to delete.
    db.compact().unwrap();
    assert_eq!(ranges(&db).len(), 2);
    let out = reg.render();
    for want in [
        "prometheus_tsdb_time_retentions_total 1",
        "prometheus_tsdb_size_retentions_total 0",
        "prometheus_tsdb_compactions_total 4",
        "prometheus_tsdb_blocks_loaded 2",
    ] {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
}

#[test]
fn size_retention_counts_the_wal_and_deletes_only_the_oldest_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), four_blocks()).unwrap();
    append(&db, 20, 0..500);
    let before = read_all(&db);
    db.compact().unwrap();
    assert_eq!(ranges(&db).len(), 4);
    db.close().unwrap();
    drop(db);

    // Sizes as the next open sees them.
    let db = Db::open(tmp.path(), four_blocks()).unwrap();
    let sizes: Vec<u64> = db
        .blocks()
        .list()
        .iter()
        .map(|b| crate::tsdb::metrics::dir_size(b.dir()))
        .collect();
    let other = crate::tsdb::metrics::dir_size(&tmp.path().join("wal"))
        + crate::tsdb::head::snapshot::snapshots_size(tmp.path());
    db.close().unwrap();
    drop(db);
    let blocks_total: u64 = sizes.iter().sum();
    // Room for the two newest blocks, the WAL and the head snapshot, plus
    // half of the second oldest block as slack for a WAL that grows by a
    // segment header on open.
    let limit = other + sizes[2] + sizes[3] + sizes[1] / 2;
    assert!(
        limit >= blocks_total,
        "the blocks alone ({blocks_total} B) must fit under the limit ({limit} B), so only \
         counting the WAL ({other} B) makes retention delete anything"
    );

    let mut o = four_blocks();
    o.retention_size = Some(limit);
    let db = Db::open(tmp.path(), o).unwrap();
    db.compact().unwrap();
    assert_eq!(ranges(&db), vec![(200_000, 300_000), (300_000, 400_000)]);
    assert_eq!(block_dirs(tmp.path()), (db_ulids(&db), false));
    assert_eq!(
        db.blocks().counters.size_retentions.load(Ordering::Relaxed),
        1
    );
    let after = read_all(&db);
    for ((la, sa), (lb, sb)) in after.iter().zip(&before) {
        assert_eq!(la, lb);
        let kept: Vec<_> = sb.iter().copied().filter(|s| s.0 >= 200_000).collect();
        assert_eq!(sa, &kept, "the head and the newest blocks are kept");
    }
    db.compact().unwrap();
    assert_eq!(ranges(&db).len(), 2, "nothing more while under the limit");
}

fn db_ulids(db: &Db) -> Vec<String> {
    let mut v: Vec<String> = db
        .blocks()
        .list()
        .iter()
        .map(|b| b.meta().ulid.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn compaction_truncates_the_head_and_checkpoints_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let wal_dir = tmp.path().join("wal");
    let mut o = four_blocks();
    o.memory_snapshot_on_shutdown = false;
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    let reg = crate::telemetry::Registry::new();
    register_metrics_for_test(&db, &reg);
    append(&db, 50, 0..500);
    let segs_before = list_segments(&wal_dir).unwrap();
    assert!(segs_before.len() >= 4, "{segs_before:?}");
    let before = read_all(&db);
    db.compact().unwrap();
    assert_eq!(db.head().min_time(), 400_000, "the head was truncated");
    let cps = crate::tsdb::wal::checkpoint::list_checkpoints(&wal_dir).unwrap();
    assert_eq!(cps.len(), 1, "one checkpoint after the blocks");
    let first_seg = list_segments(&wal_dir).unwrap()[0].0;
    assert!(
        first_seg > segs_before[0].0,
        "segments covered by the checkpoint are deleted"
    );
    // Chunks written into blocks are observed once each, as upstream.
    let chunks: u64 = db
        .blocks()
        .list()
        .iter()
        .map(|b| b.meta().stats.num_chunks)
        .sum();
    let samples: u64 = db
        .blocks()
        .list()
        .iter()
        .map(|b| b.meta().stats.num_samples)
        .sum();
    assert_eq!(samples, 50 * 400);
    let out = reg.render();
    for want in [
        format!("prometheus_tsdb_compaction_chunk_samples_count {chunks}"),
        format!("prometheus_tsdb_compaction_chunk_samples_sum {samples}"),
        format!("prometheus_tsdb_compaction_chunk_size_bytes_count {chunks}"),
        "prometheus_tsdb_compaction_chunk_size_bytes_bucket{le=\"32\"} 0".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want} in\n{out}");
    }
    let blocks_bytes: u64 = db
        .blocks()
        .list()
        .iter()
        .map(|b| crate::tsdb::metrics::dir_size(b.dir()))
        .sum();
    assert!(
        out.contains(&format!(
            "prometheus_tsdb_storage_blocks_bytes {blocks_bytes}"
        )),
        "prometheus_tsdb_storage_blocks_bytes {blocks_bytes} missing in\n{out}"
    );
    // The WAL replay after a restart starts at the checkpoint and loses nothing.
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), o).unwrap();
    assert_eq!(read_all(&db), before);
    assert!(db.replay_stats().checkpoint.is_some());
}

#[test]
fn an_open_after_a_crash_removes_leftovers_and_superseded_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), four_blocks()).unwrap();
    append(&db, 4, 0..700);
    db.compact().unwrap();
    assert_eq!(ranges(&db).len(), 6);
    let before = read_all(&db);
    let parents: Vec<_> = db.blocks().list().into_iter().take(3).collect();
    for b in &parents {
        copy_dir(b.dir(), &backup.path().join(&b.meta().ulid));
    }
    db.close().unwrap();
    drop(db);

    // Levelled compaction merges the first three into one 300 s block.
    let mut o = four_blocks();
    o.max_block_duration = 900_000;
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    db.compact().unwrap();
    let merged = db.blocks().list()[0].clone();
    assert_eq!(
        (merged.meta().min_time, merged.meta().max_time),
        (0, 300_000)
    );
    let mut want: Vec<_> = parents.iter().map(|b| b.meta().desc()).collect();
    want.sort_by(|a, b| a.ulid.cmp(&b.ulid));
    let mut got = merged.meta().compaction.parents.clone();
    got.sort_by(|a, b| a.ulid.cmp(&b.ulid));
    assert_eq!(got, want);
    db.close().unwrap();
    drop(db);

    // A crash after the merged block's rename but before its parents were
    // deleted, one in the middle of a block write and one in the middle of
    // a deletion.
    for b in &parents {
        copy_dir(
            &backup.path().join(&b.meta().ulid),
            &tmp.path().join(&b.meta().ulid),
        );
    }
    let half_written = tmp.path().join(format!(
        "{}{}",
        crate::tsdb::block::ulid::new_ulid(5),
        crate::tsdb::block::TMP_SUFFIX
    ));
    copy_dir(merged.dir(), &half_written);
    fs::write(half_written.join("index"), b"\xba\xaa\xd7\x00\x02").unwrap();
    let half_deleted = tmp.path().join(format!(
        "{}{}",
        parents[0].meta().ulid,
        crate::tsdb::block::TMP_DELETION_SUFFIX
    ));
    fs::create_dir_all(half_deleted.join("chunks")).unwrap();
    fs::write(half_deleted.join("meta.json"), b"{").unwrap();

    let db = Db::open(tmp.path(), o).unwrap();
    assert_eq!(
        ranges(&db),
        vec![
            (0, 300_000),
            (300_000, 400_000),
            (400_000, 500_000),
            (500_000, 600_000)
        ]
    );
    assert_eq!(block_dirs(tmp.path()), (db_ulids(&db), false));
    assert_eq!(read_all(&db), before);
}

#[test]
fn merging_overlapping_blocks_leaves_no_overlapping_chunks() {
    use crate::tsdb::block::{write_block, Block, ChunkData};
    use crate::tsdb::chunkenc::{XorAppender, XorIterator};
    let tmp = tempfile::tempdir().unwrap();
    // Two blocks holding series 0 over [0, 200 s] and [100 s, 300 s] (the
    // same values where they overlap); series 1 only in the second.
    let encode = |ts: std::ops::Range<i64>, bump: f64| -> Vec<(i64, i64, Vec<u8>)> {
        let all: Vec<i64> = ts.collect();
        all.chunks(120)
            .map(|part| {
                let mut app = XorAppender::new();
                for &t in part {
                    app.append(t * 1000, t as f64 + bump);
                }
                (
                    part[0] * 1000,
                    part[part.len() - 1] * 1000,
                    app.into_bytes(),
                )
            })
            .collect()
    };
    fn as_input(cs: &[(i64, i64, Vec<u8>)]) -> Vec<ChunkData<'_>> {
        cs.iter()
            .map(|(min_t, max_t, data)| ChunkData {
                min_t: *min_t,
                max_t: *max_t,
                data,
            })
            .collect()
    }
    let a = encode(0..201, 0.0);
    let b = encode(100..301, 0.0);
    let c = encode(100..301, 0.5);
    write_block(tmp.path(), vec![(series(0), as_input(&a))], 0, 201_000).unwrap();
    write_block(
        tmp.path(),
        vec![(series(0), as_input(&b)), (series(1), as_input(&c))],
        100_000,
        301_000,
    )
    .unwrap();
    let set = BlockSet::load(tmp.path()).unwrap();
    let group = set.list();
    assert_eq!(group.len(), 2);
    set.merge(&group).unwrap();
    let merged: Vec<Arc<Block>> = set.list();
    assert_eq!(merged.len(), 1);
    let all = merged[0].all_series().unwrap();
    assert_eq!(all.len(), 2);
    for (labels, metas, _) in &all {
        assert!(
            metas.windows(2).all(|w| w[0].max_t < w[1].min_t),
            "{labels:?}: overlapping chunks {metas:?}"
        );
        let mut got = Vec::new();
        for m in metas {
            let mut it = XorIterator::new(merged[0].chunk(m.chunk_ref).unwrap());
            let mut n = 0;
            while let Some(s) = it.next() {
                got.push(s);
                n += 1;
            }
            assert!(n <= 120);
            assert_eq!(
                (m.min_t, m.max_t),
                (got[got.len() - n].0, got[got.len() - 1].0)
            );
        }
        let (from, bump) = if labels == &series(0) {
            (0, 0.0)
        } else {
            (100, 0.5)
        };
        let want: Vec<(i64, f64)> = (from..301).map(|t| (t * 1000, t as f64 + bump)).collect();
        assert_eq!(got, want, "{labels:?}");
    }
    assert_eq!(merged[0].meta().stats.num_samples, 301 + 201);
}

#[test]
fn deletion_snapshot_and_cleaning_wait_for_a_running_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), four_blocks()).unwrap();
    append(&db, 2, 0..300);
    db.compact().unwrap();
    type Op = fn(&Db);
    let ops: [(&str, Op); 3] = [
        ("delete", |db| {
            db.delete(0, 50_000, &[Matcher::equal("i", "0")]).unwrap();
        }),
        ("clean_tombstones", |db| {
            db.clean_tombstones().unwrap();
        }),
        ("snapshot", |db| {
            db.snapshot(true).unwrap();
        }),
    ];
    for (name, op) in ops {
        // The test holds the lock a compaction would hold.
        let guard = db.blocks().lock_changes();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::scope(|s| {
            let db = &db;
            s.spawn(move || {
                op(db);
                let _ = tx.send(());
            });
            assert!(
                rx.recv_timeout(Duration::from_millis(100)).is_err(),
                "{name} ran while blocks were being changed"
            );
            drop(guard);
            assert!(
                rx.recv_timeout(Duration::from_secs(10)).is_ok(),
                "{name} did not run once the change was done"
            );
        });
    }
}

/// A block damaged on disk (index cut short, chunks garbled, meta.json
/// unreadable) is skipped with an error at open; the database still opens,
/// the other blocks and the head answer, and the damaged block is left on
/// disk for the operator.
#[test]
fn damaged_blocks_are_skipped_at_open_and_the_rest_still_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let o = four_blocks();
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    append(&db, 3, 0..450);
    db.compact().unwrap();
    let blocks = db.blocks().list();
    assert_eq!(blocks.len(), 3);
    let dirs: Vec<PathBuf> = blocks.iter().map(|b| b.dir().to_path_buf()).collect();
    let head_min = db.head().min_time();
    db.close().unwrap();
    drop((db, blocks));

    let index = std::fs::read(dirs[0].join("index")).unwrap();
    std::fs::write(dirs[0].join("index"), &index[..index.len() / 2]).unwrap();
    std::fs::write(dirs[1].join("meta.json"), b"{\"ulid\": 1").unwrap();
    let chunks = dirs[2].join("chunks").join("000001");
    let mut c = std::fs::read(&chunks).unwrap();
    for b in c.iter_mut().skip(8) {
        *b = !*b;
    }
    std::fs::write(&chunks, &c).unwrap();

    let db = Db::open(tmp.path(), o).unwrap();
    let open: Vec<PathBuf> = db
        .blocks()
        .list()
        .iter()
        .map(|b| b.dir().to_path_buf())
        .collect();
    // The garbled chunks file still has its magic: it opens, and a query
    // reaching it fails with an error naming it rather than panicking.
    assert_eq!(open, vec![dirs[2].clone()]);
    assert!(dirs.iter().all(|d| d.exists()));
    let q = db.querier(300_000, i64::MAX).unwrap();
    let got = q
        .select(true, None, &[Matcher::equal("__name__", "m")])
        .unwrap()
        .map(|s| s.unwrap().labels().clone())
        .collect::<Vec<_>>();
    assert_eq!(got.len(), 3);
    assert!(db.head().min_time() >= head_min);
    let q = db.querier(200_000, 299_999).unwrap();
    let err = q
        .select(true, None, &[Matcher::equal("__name__", "m")])
        .and_then(|set| set.map(|s| s.map(|_| ())).collect::<Result<Vec<_>, _>>())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("checksum mismatch"), "{err}");
}
