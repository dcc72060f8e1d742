//! Checks on the embedded web UI assets: content types, references between assets,
//! relative URLs only (so any --web.route-prefix works), no external URLs, only upstream
//! API endpoints, and (when Node.js is installed) that every script parses.

use promlite::web_ui::{asset, ASSETS, ROOT_REDIRECT};
use regex::Regex;
use std::collections::BTreeSet;
use std::path::Path;

fn text(path: &str) -> &'static str {
    let (_, body) = asset(path).unwrap_or_else(|| panic!("no asset at {path}"));
    std::str::from_utf8(body).unwrap_or_else(|e| panic!("{path} is not UTF-8: {e}"))
}

fn pages() -> impl Iterator<Item = &'static str> {
    ASSETS
        .iter()
        .map(|a| a.path)
        .filter(|p| !p.starts_with("/static/"))
}

#[test]
fn every_asset_has_the_right_content_type() {
    for a in ASSETS {
        let (ct, body) = asset(a.path).unwrap_or_else(|| panic!("{} not served", a.path));
        let want = if a.path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else if a.path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            assert!(
                body.starts_with(b"<!DOCTYPE html>"),
                "{} is not an HTML page",
                a.path
            );
            "text/html; charset=utf-8"
        };
        assert_eq!(ct, want, "content type of {}", a.path);
        assert!(!body.is_empty(), "{} is empty", a.path);
    }
}

#[test]
fn upstream_page_routes_are_served() {
    for p in [
        "/graph",
        "/targets",
        "/alerts",
        "/rules",
        "/status",
        "/flags",
        "/config",
        "/tsdb-status",
    ] {
        assert!(asset(p).is_some(), "{p} missing");
    }
    assert!(asset(ROOT_REDIRECT).is_some());
}

#[test]
fn paths_are_unique() {
    let set: BTreeSet<_> = ASSETS.iter().map(|a| a.path).collect();
    assert_eq!(set.len(), ASSETS.len());
}

#[test]
fn pages_reference_only_assets_that_exist() {
    let attr = Regex::new(r#"(?:href|src)="([^"]*)""#).unwrap();
    for page in pages() {
        let html = text(page);
        let mut refs = 0;
        for cap in attr.captures_iter(html) {
            let url = &cap[1];
            assert!(
                !url.starts_with('/'),
                "{page}: {url} is absolute; use a relative URL so route prefixes work"
            );
            let path = format!("/{}", url.split(['?', '#']).next().unwrap_or(url));
            assert!(
                asset(&path).is_some(),
                "{page} references {url}, which is not an asset"
            );
            refs += 1;
        }
        assert!(refs >= 2, "{page} should load the style sheet and scripts");
    }
}

#[test]
fn scripts_reference_only_assets_and_pages_that_exist() {
    // Static files named in scripts, and the navigation's page names.
    let static_ref = Regex::new(r#""(static/[^"]+)""#).unwrap();
    let nav_entry = Regex::new(r#"\["([a-z-]+)", "[A-Z][^"]*"\]"#).unwrap();
    let mut nav = 0;
    for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        for cap in static_ref.captures_iter(a.body) {
            assert!(
                asset(&format!("/{}", &cap[1])).is_some(),
                "{} references missing {}",
                a.path,
                &cap[1]
            );
        }
        for cap in nav_entry.captures_iter(a.body) {
            assert!(
                asset(&format!("/{}", &cap[1])).is_some(),
                "{} links to missing page {}",
                a.path,
                &cap[1]
            );
            nav += 1;
        }
    }
    assert!(nav >= 5, "navigation entries not found");
}

#[test]
fn no_external_or_absolute_urls() {
    let absolute = Regex::new(r#"(?:href|src|action)\s*[=:]\s*["']/"#).unwrap();
    let fetch_abs = Regex::new(r#"fetch\(\s*["']/"#).unwrap();
    for a in ASSETS {
        for needle in [
            "http://",
            "https://",
            "url(//",
            "src=\"//",
            "href=\"//",
            "@import",
        ] {
            assert!(
                !a.body.contains(needle),
                "{} contains {needle:?}: assets must work offline",
                a.path
            );
        }
        assert!(
            !absolute.is_match(a.body),
            "{} uses an absolute path",
            a.path
        );
        assert!(
            !fetch_abs.is_match(a.body),
            "{} fetches an absolute path",
            a.path
        );
    }
}

#[test]
fn scripts_call_only_upstream_api_endpoints() {
    let allowed = [
        "query",
        "query_range",
        "targets",
        "rules",
        "alerts",
        "alertmanagers",
        "label/__name__/values",
        "status/buildinfo",
        "status/runtimeinfo",
        "status/flags",
        "status/config",
        "status/tsdb",
    ];
    let call = Regex::new(r#"(?:PL\.api|\bload)\("([^"]+)""#).unwrap();
    let mut seen = BTreeSet::new();
    for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        for cap in call.captures_iter(a.body) {
            assert!(
                allowed.contains(&&cap[1]),
                "{} calls api/v1/{}",
                a.path,
                &cap[1]
            );
            seen.insert(cap[1].to_string());
        }
    }
    // The pages read every endpoint the brief names.
    for want in [
        "query",
        "query_range",
        "targets",
        "rules",
        "status/tsdb",
        "status/config",
        "status/flags",
    ] {
        assert!(seen.contains(want), "no page reads api/v1/{want}");
    }
}

#[test]
fn every_file_in_the_ui_folder_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web_ui");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".rs") {
            continue;
        }
        let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap();
        assert!(
            ASSETS.iter().any(|a| a.body == on_disk),
            "{name} is in src/web_ui but not served"
        );
    }
}

#[test]
fn scripts_parse() {
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        eprintln!("scripts_parse: skipped, node is not installed");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web_ui");
    for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let file = dir.join(a.path.trim_start_matches("/static/"));
        let out = std::process::Command::new("node")
            .arg("--check")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            a.path,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
