//! Rule file validation over upstream's own test files in the peer folder:
//! `rules/rulefmt/*.bad.yaml` must be rejected, the good ones accepted, and
//! the rule-manager fixtures and promtool rule files load as upstream's do.

use std::path::PathBuf;

use promlite::rules::rulefmt::{parse_file, ParseOptions};

fn peer_dir() -> Option<PathBuf> {
    let dir = std::env::var("PROMLITE_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer")));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("peer folder {} is absent; skipping", dir.display());
        None
    }
}

fn opts(legacy: bool, ignore_unknown: bool) -> ParseOptions<'static> {
    ParseOptions {
        ignore_unknown_fields: ignore_unknown,
        legacy_names: legacy,
        parse_expr: Some(&promlite::rules::check_expr),
    }
}

#[test]
fn rulefmt_good_and_bad_files() {
    let Some(peer) = peer_dir() else { return };
    let dir = peer.join("rules/rulefmt");
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("read rulefmt dir")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let path = e.path().to_string_lossy().to_string();
        let legacy = name.starts_with("legacy_validation");
        let want_ok = !name.ends_with(".bad.yaml");
        let got = parse_file(&path, &opts(legacy, false));
        checked += 1;
        if got.is_ok() != want_ok {
            wrong.push(format!("{name}: want ok={want_ok}, got {got:?}"));
        }
    }
    assert!(checked >= 16, "only {checked} files");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn fixtures_and_promtool_rule_files() {
    let Some(peer) = peer_dir() else { return };
    let cases: &[(&str, bool)] = &[
        ("fixtures/alert_rule.yaml", true),
        ("fixtures/alert_rule1.yaml", true),
        ("fixtures/rules.yaml", true),
        ("fixtures/rules1.yaml", true),
        ("fixtures/rules2.yaml", true),
        ("fixtures/rules2_copy.yaml", true),
        ("fixtures/rules_chain.yaml", true),
        ("fixtures/rules_dependencies.yaml", true),
        ("fixtures/rules_indeterminates.yaml", true),
        ("fixtures/rules_multi_doc.yaml", true),
        ("fixtures/rules_multiple.yaml", true),
        ("fixtures/rules_multiple_dependents_on_base.yaml", true),
        ("fixtures/rules_multiple_groups.yaml", true),
        ("fixtures/rules_multiple_independent.yaml", true),
        ("fixtures/invalid_rules.yaml", false),
        ("promtool/rules.yml", true),
        ("promtool/rules-bad.yml", false),
        ("promtool/rules_duplicates.yml", true),
        ("promtool/rules_extrafields.yml", false),
        ("promtool/rules_large.yml", true),
        ("promtool/at-modifier.yml", true),
        ("promtool/negative-offset.yml", true),
        ("promtool/bad-rules-error.yml", true),
        ("promtool/bad-rules-syntax.yml", false),
        ("promtool/features.yml", true),
        ("promtool/prometheus-rules.lint.yml", true),
    ];
    let mut wrong = Vec::new();
    for (rel, want_ok) in cases {
        let path = peer.join("rules").join(rel).to_string_lossy().to_string();
        let got = parse_file(&path, &opts(false, false));
        if got.is_ok() != *want_ok {
            wrong.push(format!("{rel}: want ok={want_ok}, got {:?}", got.err()));
        }
    }
    // With unknown fields ignored, the extra-fields file loads.
    let extra = peer.join("rules/promtool/rules_extrafields.yml");
    assert!(parse_file(&extra.to_string_lossy(), &opts(false, true)).is_ok());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn errors_name_file_group_rule_and_line() {
    let Some(peer) = peer_dir() else { return };
    let path = peer
        .join("rules/promtool/rules-bad.yml")
        .to_string_lossy()
        .to_string();
    let errs = parse_file(&path, &opts(false, false))
        .err()
        .unwrap_or_default();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    for t in &text {
        assert!(t.starts_with(&format!("{path}: group \"alerts\", rule 1, \"InstanceDown\": annotation \"summary\": error parsing template __alert_InstanceDown")), "{t}");
    }
}
