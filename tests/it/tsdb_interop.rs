//! Interop with upstream Prometheus, run only where its binaries are
//! installed (Debian's `prometheus` package): upstream's `promtool` reads a
//! block promlite wrote and a whole data dir promlite's compaction, merging,
//! deletion and WAL checkpointing wrote; promlite reads blocks and a WAL
//! upstream wrote. Each test
//! prints that it skips and returns when the binary is absent.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promlite::model::{Labels, MatchType, Matcher};
use promlite::storage::{Appender, Queryable};
use promlite::tsdb::block::{head_block_input, write_block};
use promlite::tsdb::{Db, DbOptions, Head, HeadOptions};

fn have(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn promtool_reads_a_promlite_block() {
    if !have("promtool") {
        eprintln!("promtool not installed; skipping");
        return;
    }
    let head = Arc::new(Head::new(HeadOptions::default()));
    let mut refs = [0u64; 12];
    for t in 0..250i64 {
        let mut app = head.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            let l = Labels::from_pairs(&[("__name__", "interop"), ("i", &i.to_string())]);
            *r = app
                .append(*r, &l, t * 15_000, (t * 3 + i as i64) as f64 * 0.5)
                .unwrap();
        }
        Box::new(app).commit().unwrap();
    }
    let ids = head.postings_for_matchers(&[]);
    let series = head.series_chunks(&ids, i64::MIN, i64::MAX);
    let input = head_block_input(&series);
    let tmp = tempfile::tempdir().unwrap();
    let meta = write_block(tmp.path(), input, head.min_time(), head.max_time() + 1).unwrap();
    std::fs::create_dir_all(tmp.path().join("wal")).unwrap();

    let list = Command::new("promtool")
        .args(["tsdb", "list"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains(&meta.ulid), "promtool tsdb list:\n{list}");
    assert!(list.contains("3000"), "3000 samples expected:\n{list}");

    let analyze = Command::new("promtool")
        .args(["tsdb", "analyze"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&analyze.stdout);
    assert!(
        analyze.status.success(),
        "{}",
        String::from_utf8_lossy(&analyze.stderr)
    );
    assert!(
        text.contains("Series: 12"),
        "promtool tsdb analyze:\n{text}"
    );

    let dump = Command::new("promtool")
        .args(["tsdb", "dump"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8_lossy(&dump.stdout);
    let mut n = 0;
    for line in text.lines() {
        // {__name__="interop", i="3"} 1.5 0
        let (labels, rest) = line.rsplit_once('}').unwrap();
        let i: i64 = labels
            .split("i=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches('"')
            .parse()
            .unwrap();
        let mut f = rest.split_whitespace();
        let v: f64 = f.next().unwrap().parse().unwrap();
        let t: i64 = f.next().unwrap().parse().unwrap();
        assert_eq!(v, ((t / 15_000) * 3 + i) as f64 * 0.5, "{line}");
        n += 1;
    }
    assert_eq!(n, 3000);
}

#[test]
fn promlite_reads_blocks_written_by_promtool() {
    if !have("promtool") {
        eprintln!("promtool not installed; skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut om = String::from("# HELP om_test a test\n# TYPE om_test gauge\n");
    for i in 0..3 {
        for t in 0..600i64 {
            om.push_str(&format!(
                "om_test{{i=\"{i}\"}} {} {}\n",
                t as f64 * 0.5 + i as f64,
                1_700_000_000 + t * 15
            ));
        }
    }
    om.push_str("# EOF\n");
    let input = tmp.path().join("in.om");
    std::fs::write(&input, om).unwrap();
    let data = tmp.path().join("data");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::open(&data, DbOptions::default()).unwrap();
    assert!(!db.blocks().list().is_empty());
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let set: Vec<_> = q
        .select(true, None, &[Matcher::equal("__name__", "om_test")])
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(set.len(), 3);
    for (i, s) in set.iter().enumerate() {
        assert_eq!(s.labels().get("i"), Some(i.to_string().as_str()));
        let mut it = s.iterator();
        let mut n = 0i64;
        while let Some((t, v)) = it.next() {
            assert_eq!(t, (1_700_000_000 + n * 15) * 1000);
            assert_eq!(v, n as f64 * 0.5 + i as f64);
            n += 1;
        }
        assert_eq!(n, 600);
    }
}

/// Starts upstream Prometheus scraping itself for a few seconds, SIGKILLs
/// it, and replays its WAL. Opt-in (`--ignored`): it takes ~8 s and a port.
#[test]
#[ignore]
fn promlite_replays_an_upstream_wal() {
    if !have("prometheus") {
        eprintln!("prometheus not installed; skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:19392']\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--web.listen-address=127.0.0.1:19392")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let db = Db::open(&data, DbOptions::default()).unwrap();
    assert_eq!(db.replay_stats().corruptions, 0);
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let up: Vec<_> = q
        .select(true, None, &[Matcher::equal("__name__", "up")])
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(up.len(), 1);
    let mut it = up[0].iterator();
    let mut n = 0;
    while let Some((_, v)) = it.next() {
        assert_eq!(v, 1.0);
        n += 1;
    }
    assert!(n >= 3, "only {n} samples of up");
    let names = q
        .label_values(
            "__name__",
            &[Matcher::new(MatchType::Regex, "__name__", "prometheus_tsdb_.*").unwrap()],
        )
        .unwrap();
    assert!(
        names.iter().any(|n| n == "prometheus_tsdb_head_series"),
        "{names:?}"
    );
}

/// The data dir promlite's own maintenance wrote (head blocks, a level-2
/// merged block naming its parents, tombstones from a deletion, the WAL with
/// a checkpoint) read by upstream's `promtool tsdb list|analyze|dump`.
#[test]
fn promtool_reads_a_promlite_data_dir_after_compaction_and_deletion() {
    if !have("promtool") {
        eprintln!("promtool not installed; skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        min_block_duration: 100_000,
        max_block_duration: 900_000,
        memory_snapshot_on_shutdown: false,
        ..DbOptions::default()
    };
    let db = Db::open(tmp.path(), opts).unwrap();
    let labels = |i: usize| Labels::from_pairs(&[("__name__", "dirtest"), ("i", &i.to_string())]);
    let value = |t: i64, i: usize| (t * 7 + i as i64) as f64 / 4.0;
    let mut refs = [0u64; 6];
    for t in 0..700i64 {
        let mut app = promlite::storage::Appendable::appender(&*db);
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app.append(*r, &labels(i), t * 1000, value(t, i)).unwrap();
        }
        app.commit().unwrap();
    }
    db.compact().unwrap();
    let metas: Vec<_> = db
        .blocks()
        .list()
        .iter()
        .map(|b| b.meta().clone())
        .collect();
    assert_eq!(metas.len(), 4, "{metas:?}");
    assert_eq!(metas[0].compaction.level, 2);
    assert_eq!(metas[0].compaction.parents.len(), 3);
    // Deleted: series 1 from 150 s to 450 s, in three blocks.
    let deleted = |t: i64, i: usize| i == 1 && (150..=450).contains(&t);
    db.delete(150_000, 450_000, &[Matcher::equal("i", "1")])
        .unwrap();
    db.close().unwrap();
    drop(db);

    let list = Command::new("promtool")
        .args(["tsdb", "list"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    for m in &metas {
        let line = text
            .lines()
            .find(|l| l.starts_with(&m.ulid))
            .unwrap_or_else(|| panic!("block {} not listed:\n{text}", m.ulid));
        // ULID, min, max, duration, samples, chunks, series, size.
        let f: Vec<&str> = line.split_whitespace().collect();
        let want = [
            m.min_time.to_string(),
            m.max_time.to_string(),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            "6".to_string(),
        ];
        let got = [f[1], f[2], f[4], f[5], f[6]];
        assert_eq!(got, want.each_ref().map(|s| s.as_str()), "{line}");
    }

    for args in [vec![], vec![metas[0].ulid.clone()]] {
        let out = Command::new("promtool")
            .args(["tsdb", "analyze"])
            .arg(tmp.path())
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "analyze {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Series: 6"), "analyze {args:?}:\n{text}");
        assert!(text.contains("dirtest"), "analyze {args:?}:\n{text}");
    }

    // Every sample, minus the deleted ones, exactly once: blocks, and the
    // head upstream rebuilds from promlite's checkpoint and WAL.
    let out = Command::new("promtool")
        .args(["tsdb", "dump"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| l.contains("dirtest")) {
        let (l, rest) = line.rsplit_once('}').unwrap();
        let i: usize = l
            .split("i=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches('"')
            .parse()
            .unwrap();
        let mut f = rest.split_whitespace();
        let v: f64 = f.next().unwrap().parse().unwrap();
        let t: i64 = f.next().unwrap().parse::<i64>().unwrap() / 1000;
        assert_eq!(v, value(t, i), "{line}");
        assert!(!deleted(t, i), "deleted sample dumped: {line}");
        assert!(seen.insert((i, t)), "sample dumped twice: {line}");
    }
    let want = (0..700i64)
        .flat_map(|t| (0..6).map(move |i| (i, t)))
        .filter(|&(i, t)| !deleted(t, i))
        .count();
    assert_eq!(seen.len(), want);
}
