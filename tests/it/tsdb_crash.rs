//! Crash safety of the TSDB, end to end through the public API.
//!
//! `kill_9_loses_no_committed_sample`: this test binary re-executes itself
//! as a child (selected by `PROMLITE_TSDB_CRASH_DIR`) that appends and
//! commits in a loop, printing each committed timestamp; the parent SIGKILLs
//! it mid-stream, reopens the directory and checks every printed sample.
//!
//! `wal_cut_at_every_byte_of_last_record_still_opens`: the last WAL segment
//! truncated at each byte of its last record opens with every earlier record.
//!
//! `kill_9_during_block_writes_leaves_a_readable_dir`: a child cuts blocks
//! and merges them (tiny block ranges) as fast as it can while committing;
//! SIGKILLs land in the middle of block writes, merges and deletions. After
//! each kill the directory opens with every block loadable, no temporary
//! block directory left, and every committed sample read back exactly once.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{copy_dir, samples_by_index};
use promlite::model::{Labels, Matcher};
use promlite::storage::{Appendable, Queryable};
use promlite::tsdb::wal::{list_segments, Reader};
use promlite::tsdb::{Db, DbOptions};

const CHILD_ENV: &str = "PROMLITE_TSDB_CRASH_DIR";
const BLOCK_CHILD_ENV: &str = "PROMLITE_TSDB_BLOCK_CRASH_DIR";
/// Series of the block-writing child: enough that a block write takes a
/// good share of the child's time.
const BLOCK_SERIES: usize = 300;
const SERIES: usize = 10;

fn opts() -> DbOptions {
    DbOptions {
        // Tiny segments so the child cuts segments while it runs.
        wal_segment_size: 32 * 1024,
        ..DbOptions::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "crash_test"), ("i", &i.to_string())])
}

/// The child: runs only when re-executed by the parent.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Db::open(Path::new(&dir), opts()).unwrap();
    let mut refs = [0u64; SERIES];
    let stdout = std::io::stdout();
    let deadline = Instant::now() + Duration::from_secs(30);
    for t in 0..1_000_000i64 {
        if Instant::now() > deadline {
            break;
        }
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app
                .append(*r, &labels(i), t, (t * 10 + i as i64) as f64)
                .unwrap();
        }
        app.commit().unwrap();
        let mut out = stdout.lock();
        writeln!(out, "committed {t}").unwrap();
        out.flush().unwrap();
    }
}

/// The timestamp of a "committed <t>" line; the test harness may print its
/// own text before the first one on the same line. A line cut by the kill
/// does not parse and is ignored.
fn parse_committed(line: &str) -> Option<i64> {
    let at = line.find("committed ")?;
    line[at + "committed ".len()..].trim().parse().ok()
}

#[test]
fn kill_9_loses_no_committed_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "tsdb_crash::crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut committed: Vec<i64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed.len() < 3000 && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) => committed.extend(parse_committed(&l)),
            _ => break,
        }
    }
    child.kill().unwrap(); // SIGKILL on unix
                           // Lines already in the pipe were printed after their commit returned.
    for l in lines.map_while(Result::ok) {
        committed.extend(parse_committed(&l));
    }
    let _ = child.wait();
    assert!(
        committed.len() >= 100,
        "child committed only {}",
        committed.len()
    );
    assert_eq!(committed.first(), Some(&0));
    let db = Db::open(tmp.path(), opts()).unwrap();
    let got = samples_by_index(&db, "crash_test", SERIES);
    for (i, samples) in got.iter().enumerate() {
        for &t in &committed {
            let want = (t * 10 + i as i64) as f64;
            assert!(
                samples
                    .binary_search_by_key(&t, |s| s.0)
                    .is_ok_and(|k| samples[k].1 == want),
                "series {i} lost committed sample at t={t} (have {} samples)",
                samples.len()
            );
        }
    }
}

#[test]
fn wal_cut_at_every_byte_of_last_record_still_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let mut o = opts();
    o.wal_compression = false;
    {
        let db = Db::open(&src, o.clone()).unwrap();
        let mut refs = [0u64; SERIES];
        for t in 0..20 {
            let mut app = db.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                *r = app.append(*r, &labels(i), t, t as f64).unwrap();
            }
            app.commit().unwrap();
        }
        db.close().unwrap();
    }
    let wal_dir = src.join("wal");
    let (_, last_seg) = list_segments(&wal_dir).unwrap().pop().unwrap();
    // Record boundaries of the last segment.
    let mut reader = Reader::new(vec![(0, last_seg.clone())]);
    let mut ends = vec![0u64];
    while reader.next().unwrap().is_some() {
        ends.push(reader.offset());
    }
    let n = ends.len();
    assert!(n >= 3, "need a few records, got {}", n - 1);
    let (start, end) = (ends[n - 2], ends[n - 1]);
    let seg_name = last_seg.file_name().unwrap().to_owned();
    for cut in start..=end {
        let dst = tmp.path().join(format!("cut{cut}"));
        copy_dir(&src, &dst);
        let _ = std::fs::remove_file(dst.join("lock"));
        let seg = dst.join("wal").join(&seg_name);
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let db = Db::open(&dst, o.clone()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let got = samples_by_index(&db, "crash_test", SERIES);
        let want = if cut == end { 20 } else { 19 };
        for s in &got {
            assert_eq!(s.len(), want, "cut at {cut}");
        }
        db.close().unwrap();
        drop(db);
        std::fs::remove_dir_all(&dst).unwrap();
    }
}

fn block_opts() -> DbOptions {
    DbOptions {
        wal_segment_size: 64 * 1024,
        // 1 s blocks merged up to 9 s: the child writes, merges and deletes
        // blocks all the time.
        min_block_duration: 1_000,
        max_block_duration: 9_000,
        // The child runs compaction itself; the maintenance thread stays idle.
        truncate_interval: Duration::from_secs(3600),
        ..DbOptions::default()
    }
}

fn block_labels(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "block_crash"), ("i", &i.to_string())])
}

fn block_value(t: i64, i: usize) -> f64 {
    (t / 10 + i as i64) as f64
}

/// The block-writing child: runs only when re-executed by the parent. It
/// continues after the newest timestamp already in the directory.
#[test]
fn block_crash_child() {
    let Ok(dir) = std::env::var(BLOCK_CHILD_ENV) else {
        return;
    };
    let db = Db::open(Path::new(&dir), block_opts()).unwrap();
    let start = db
        .blocks()
        .max_time()
        .unwrap_or(0)
        .max(db.head().max_time().saturating_add(100));
    let mut refs = vec![0u64; BLOCK_SERIES];
    let stdout = std::io::stdout();
    let deadline = Instant::now() + Duration::from_secs(30);
    // One sample per series every 100 ms of data; compaction every 20.
    for k in 0..100_000i64 {
        if Instant::now() > deadline {
            break;
        }
        let t = start + k * 100;
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app
                .append(*r, &block_labels(i), t, block_value(t, i))
                .unwrap();
        }
        app.commit().unwrap();
        {
            let mut out = stdout.lock();
            writeln!(out, "committed {t}").unwrap();
            out.flush().unwrap();
        }
        if k % 20 == 19 {
            {
                let mut out = stdout.lock();
                writeln!(out, "compacting").unwrap();
                out.flush().unwrap();
            }
            db.compact().unwrap();
        }
    }
}

/// Runs the block child on `dir` until it has committed `commits` more
/// timestamps and then starts a compaction, SIGKILLs it `delay` into that
/// compaction and returns every timestamp it committed.
fn run_block_child_and_kill(dir: &Path, commits: usize, delay: Duration) -> Vec<i64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "tsdb_crash::block_crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(BLOCK_CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut committed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) if l.contains("compacting") && committed.len() >= commits => break,
            Some(Ok(l)) => committed.extend(parse_committed(&l)),
            _ => break,
        }
    }
    std::thread::sleep(delay);
    child.kill().unwrap();
    for l in lines.map_while(Result::ok) {
        committed.extend(parse_committed(&l));
    }
    let _ = child.wait();
    committed
}

#[test]
fn kill_9_during_block_writes_leaves_a_readable_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let mut committed: Vec<i64> = Vec::new();
    // Kill points vary with the clock, so runs probe different moments.
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) % 1000)
        .unwrap_or(0);
    for round in 0..4u64 {
        let delay = Duration::from_micros(jitter + 1500 * round);
        let got = run_block_child_and_kill(tmp.path(), 100, delay);
        assert!(
            got.len() >= 40,
            "round {round}: child committed only {}",
            got.len()
        );
        committed.extend(got);

        let mut names = Vec::new();
        for e in std::fs::read_dir(tmp.path()).unwrap().flatten() {
            names.push(e.file_name().to_string_lossy().to_string());
        }
        if std::env::var_os("PROMLITE_SHOW_CRASH_STATE").is_some() {
            eprintln!("round {round}: after the kill: {names:?}");
        }
        let db = Db::open(tmp.path(), block_opts()).unwrap();
        let blocks: Vec<String> = db
            .blocks()
            .list()
            .iter()
            .map(|b| b.meta().ulid.clone())
            .collect();
        assert!(!blocks.is_empty(), "round {round}: no block was cut");
        for e in std::fs::read_dir(tmp.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            assert!(
                !name.contains(".tmp"),
                "round {round}: {name} left after open (before open: {names:?})"
            );
            if name.len() == 26 && e.path().join("meta.json").exists() {
                assert!(
                    blocks.contains(&name),
                    "round {round}: block {name} on disk did not load"
                );
            }
        }
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let mut n = 0;
        for s in q
            .select(true, None, &[Matcher::equal("__name__", "block_crash")])
            .unwrap()
        {
            let s = s.unwrap();
            let i: usize = s.labels().get("i").unwrap().parse().unwrap();
            let mut it = s.iterator();
            let mut samples = Vec::new();
            while let Some(x) = it.next() {
                samples.push(x);
            }
            assert!(
                samples.windows(2).all(|w| w[0].0 < w[1].0),
                "round {round}: series {i} has a sample twice or out of order"
            );
            for &t in &committed {
                assert!(
                    samples
                        .binary_search_by_key(&t, |s| s.0)
                        .is_ok_and(|k| samples[k].1 == block_value(t, i)),
                    "round {round}: series {i} lost committed sample at t={t} ({} samples, {} blocks)",
                    samples.len(),
                    blocks.len()
                );
            }
            n += 1;
        }
        assert_eq!(n, BLOCK_SERIES, "round {round}");
        drop(q);
        // The next round's child continues on this directory.
        db.close().unwrap();
    }
}
