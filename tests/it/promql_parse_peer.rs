//! Every query in upstream's PromQL test scripts (`peer/promqltest/*.test`)
//! must parse, and print back to text that parses to the same tree. Queries
//! followed by `expect fail` (or `eval_fail`) may fail for reasons the parser
//! cannot know, so they are only required not to panic.

use std::path::PathBuf;

use promlite::promql::parse_expr;

fn peer_dir() -> PathBuf {
    std::env::var_os("PROMLITE_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer")))
}

/// The query of an `eval` line, and whether the script expects it to fail.
fn eval_queries(script: &str) -> Vec<(usize, String, bool)> {
    let lines: Vec<&str> = script.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("eval") else {
            continue;
        };
        let fail_cmd = rest.starts_with("_fail");
        let rest = rest.trim_start_matches(|c: char| c == '_' || c.is_ascii_alphabetic());
        let rest = rest.trim_start();
        let query = if let Some(r) = rest.strip_prefix("instant at ") {
            r.split_once(' ').map(|(_, q)| q)
        } else if let Some(r) = rest.strip_prefix("range from ") {
            // range from <start> to <end> step <step> <query>
            r.splitn(6, ' ').nth(5)
        } else {
            None
        };
        let Some(query) = query else { continue };
        let expect_fail = fail_cmd
            || lines[i + 1..]
                .iter()
                .take_while(|l| l.starts_with(' ') || l.starts_with('\t'))
                .any(|l| l.trim_start().starts_with("expect fail"));
        out.push((i + 1, query.to_string(), expect_fail));
    }
    out
}

#[test]
fn upstream_test_script_queries_parse_and_round_trip() {
    let dir = peer_dir().join("promqltest");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipping: {} not found", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut failures = Vec::new();
    let mut total = 0;
    for path in files {
        if path.extension().and_then(|e| e.to_str()) != Some("test") {
            continue;
        }
        let Ok(script) = std::fs::read_to_string(&path) else {
            continue;
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        for (line, query, expect_fail) in eval_queries(&script) {
            total += 1;
            if query.contains("</") || query.contains(">/") {
                // Native histogram trim operators: a clear "not supported" error.
                match parse_expr(&query) {
                    Err(e) if e.msg.contains("not supported by promlite") => {}
                    other => failures.push(format!("{name}:{line}: {query}\n  {other:?}")),
                }
                continue;
            }
            match parse_expr(&query) {
                Ok(expr) => {
                    let printed = expr.to_string();
                    match parse_expr(&printed) {
                        Ok(again) if again.to_string() == printed => {}
                        Ok(again) => failures.push(format!(
                            "{name}:{line}: {query}\n  printed {printed}\n  reprinted {again}"
                        )),
                        Err(e) => failures.push(format!(
                            "{name}:{line}: {query}\n  printed {printed}\n  does not parse: {e}"
                        )),
                    }
                }
                Err(e) if expect_fail => {
                    println!("{name}:{line}: expected failure at parse time: {query}\n  {e}")
                }
                Err(e) => failures.push(format!("{name}:{line}: {query}\n  {e}")),
            }
        }
    }
    assert!(total > 1000, "only {total} queries found");
    assert!(
        failures.is_empty(),
        "{} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every prefix and every single-byte deletion of the scripts' queries must
/// give an error or a tree, never a panic: a cheap stand-in for fuzzing.
#[test]
fn truncated_and_mangled_queries_never_panic() {
    let dir = peer_dir().join("promqltest");
    let Ok(script) = std::fs::read_to_string(dir.join("functions.test")) else {
        println!("skipping: {} not found", dir.display());
        return;
    };
    let mut parsed = 0;
    for (_, query, _) in eval_queries(&script).into_iter().take(150) {
        let cuts: Vec<usize> = query.char_indices().map(|(i, _)| i).collect();
        for &i in &cuts {
            let prefix = &query[..i];
            let mut deleted = query.clone();
            deleted.remove(i);
            for q in [prefix, deleted.as_str()] {
                if let Ok(e) = parse_expr(q) {
                    parsed += 1;
                    let printed = e.to_string();
                    assert!(parse_expr(&printed).is_ok(), "{q:?} printed as {printed:?}");
                }
            }
        }
    }
    assert!(parsed > 0);
}
