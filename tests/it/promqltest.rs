//! Runs upstream's PromQL test scripts (`$PROMLITE_PEER_DIR/promqltest/`)
//! and our own (`tests/promql/*.test`) through `promql::promqltest`,
//! printing passed/failed/skipped counts per file. A case that cannot pass
//! yet is listed in `tests/promql/skip.txt` as `<file> <line> <reason>`;
//! any other failure fails the test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use promlite::promql::promqltest::{run_script, Outcome};

fn peer_dir() -> PathBuf {
    std::env::var_os("PROMLITE_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer")))
}

fn own_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promql"))
}

/// `file line reason` entries of the skip list.
fn skip_list() -> HashMap<(String, usize), String> {
    let text = std::fs::read_to_string(own_dir().join("skip.txt")).unwrap_or_default();
    let mut out = HashMap::new();
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut parts = l.splitn(3, char::is_whitespace);
        let (Some(file), Some(line)) = (parts.next(), parts.next()) else {
            panic!("bad skip.txt line {l:?}");
        };
        let line: usize = line
            .parse()
            .unwrap_or_else(|_| panic!("bad line number in {l:?}"));
        let reason = parts.next().unwrap_or("").trim().to_string();
        out.insert((file.to_string(), line), reason);
    }
    out
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "test"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn promql_test_scripts() {
    let peer = peer_dir().join("promqltest");
    let mut files = Vec::new();
    if peer.is_dir() {
        files.extend(test_files(&peer));
    } else {
        println!("skipping upstream scripts: {} not found", peer.display());
    }
    files.extend(test_files(&own_dir()));
    let skips = skip_list();
    let mut failures = Vec::new();
    let (mut tp, mut tf, mut ts) = (0, 0, 0);
    let mut stale_skips = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let text = std::fs::read_to_string(f).expect("readable test file");
        let results = match run_script(&text, &|line| skips.get(&(name.clone(), line)).cloned()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let (mut p, mut fl, mut s) = (0, 0, 0);
        for r in &results {
            match &r.outcome {
                Outcome::Passed => p += 1,
                Outcome::Skipped(why) => {
                    s += 1;
                    if std::env::var_os("PROMQLTEST_VERBOSE").is_some() {
                        println!("SKIP {name}:{}: {why}", r.line);
                    }
                }
                Outcome::Failed(msg) => {
                    fl += 1;
                    failures.push(format!("{name}:{}: {msg}", r.line));
                }
            }
        }
        for ((file, line), _) in skips.iter() {
            if *file != name {
                continue;
            }
            match results.iter().find(|r| r.line == *line) {
                None => stale_skips.push(format!("{file} {line} names no eval")),
                Some(r) if r.outcome == Outcome::Passed => {
                    stale_skips.push(format!("{file} {line} passes now"))
                }
                Some(_) => {}
            }
        }
        println!("{name:32} passed {p:4} failed {fl:4} skipped {s:4}");
        tp += p;
        tf += fl;
        ts += s;
    }
    println!("{:32} passed {tp:4} failed {tf:4} skipped {ts:4}", "TOTAL");
    for s in &stale_skips {
        println!("skip.txt entry out of date: {s}");
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} failing PromQL test cases",
        failures.len()
    );
}
