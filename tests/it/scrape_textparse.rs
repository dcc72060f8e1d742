//! Exposition parser tests: upstream's exposition inputs from the peer folder
//! must parse, plus a table of edge cases written as data (input, content
//! type, expected entries or error).

use std::path::PathBuf;

use promlite::scrape::textparse::{new_parser, Entry, Parser};

fn peer_dir() -> PathBuf {
    std::env::var_os("PROMLITE_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer")))
}

/// Renders every entry of a body, one line each, or `error: <msg>` at the first error.
fn render(content_type: &str, body: &str) -> Vec<String> {
    let mut p = new_parser(content_type, body.as_bytes());
    let mut out = Vec::new();
    loop {
        match p.next() {
            Ok(None) => return out,
            Err(e) => {
                out.push(format!("error: {e}"));
                return out;
            }
            Ok(Some(entry)) => out.push(render_entry(p.as_ref(), entry)),
        }
    }
}

fn render_entry(p: &dyn Parser, entry: Entry) -> String {
    match entry {
        Entry::Help => {
            let (n, h) = p.help();
            format!("help {n} {h:?}")
        }
        Entry::Type => {
            let (n, t) = p.metric_type();
            format!("type {n} {t}")
        }
        Entry::Unit => {
            let (n, u) = p.unit();
            format!("unit {n} {u}")
        }
        Entry::Comment => format!("comment {}", String::from_utf8_lossy(p.comment())),
        Entry::Series => {
            let (raw, ts, v) = p.series();
            let mut s = format!(
                "series {} {} {v:?}",
                String::from_utf8_lossy(raw),
                p.labels()
            );
            if let Some(ts) = ts {
                s.push_str(&format!(" @{ts}"));
            }
            if let Some(ex) = p.exemplar() {
                s.push_str(&format!(" # {} {:?}", ex.labels, ex.value));
                if let Some(t) = ex.timestamp {
                    s.push_str(&format!(" @{t}"));
                }
            }
            s
        }
    }
}

const TEXT: &str = "text/plain; version=0.0.4";
const OM: &str = "application/openmetrics-text; version=1.0.0";

/// (content type, body, expected rendering, one entry per line). An expected
/// line starting with `error:` matches when the actual error starts with it.
const CASES: &[(&str, &str, &str)] = &[
    (TEXT, "a 1\n", r#"series a {__name__="a"} 1.0"#),
    (TEXT, "a 1", r#"series a {__name__="a"} 1.0"#),
    (TEXT, "a{} 1 \t\n", r#"series a{} {__name__="a"} 1.0"#),
    (TEXT, "  a 1 123  \n\n", r#"series a {__name__="a"} 1.0 @123"#),
    (TEXT, "a -1.5e-3 -5\n", r#"series a {__name__="a"} -0.0015 @-5"#),
    (TEXT, "a +Inf\nb -Inf\nc NaN\n", "series a {__name__=\"a\"} inf\nseries b {__name__=\"b\"} -inf\nseries c {__name__=\"c\"} NaN"),
    (TEXT, "a{b=\"x\",} 2\n", r#"series a{b="x",} {__name__="a", b="x"} 2.0"#),
    (TEXT, "a{b=\"q\\\"\\\\\\n\"} 2\n", r#"series a{b="q\"\\\n"} {__name__="a", b="q\"\\\n"} 2.0"#),
    (TEXT, "a{z=\"1\",b=\"2\"} 3\n", r#"series a{z="1",b="2"} {__name__="a", b="2", z="1"} 3.0"#),
    (TEXT, "a{b=\"\"} 3\n", r#"series a{b=""} {__name__="a"} 3.0"#),
    (TEXT, "# HELP a some \\\\ help\\n \\x\n", r#"help a "some \\ help\n \\x""#),
    (TEXT, "# HELP a\n", r#"help a """#),
    (TEXT, "# TYPE a counter\n# TYPE b untyped\n", "type a counter\ntype b unknown"),
    (TEXT, "# TYPE a summary\na{quantile=\"0.5\"} 1\na_sum 2\na_count 3\n", "type a summary\nseries a{quantile=\"0.5\"} {__name__=\"a\", quantile=\"0.5\"} 1.0\nseries a_sum {__name__=\"a_sum\"} 2.0\nseries a_count {__name__=\"a_count\"} 3.0"),
    (TEXT, "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n", "type h histogram\nseries h_bucket{le=\"0.5\"} {__name__=\"h_bucket\", le=\"0.5\"} 1.0\nseries h_bucket{le=\"+Inf\"} {__name__=\"h_bucket\", le=\"+Inf\"} 2.0\nseries h_sum {__name__=\"h_sum\"} 0.7\nseries h_count {__name__=\"h_count\"} 2.0"),
    (TEXT, "# just a comment\n#no space\n", "comment # just a comment\ncomment #no space"),
    (TEXT, "{\"my.metric\", \"my.label\"=\"v\"} 1\n", r#"series {"my.metric", "my.label"="v"} {__name__="my.metric", my.label="v"} 1.0"#),
    (TEXT, "# TYPE \"my.metric\" gauge\n", "type my.metric gauge"),
    (TEXT, "a{b=\"1\",b=\"2\"} 1\n", "error: duplicate label name \"b\" (line 1)"),
    (TEXT, "a 1\nb\n", "series a {__name__=\"a\"} 1.0\nerror: expected value after metric"),
    (TEXT, "a 1\n\nb x\n", "series a {__name__=\"a\"} 1.0\nerror: invalid value \"x\" (line 3)"),
    (TEXT, "a 1 1.5\n", "error: invalid timestamp \"1.5\" (line 1)"),
    (TEXT, "a 1 2 3\n", "error: expected next entry after timestamp"),
    (TEXT, "a{b=1} 1\n", "error: expected label value"),
    (TEXT, "a{b=\"1\" 1\n", "error: expected comma or closing brace"),
    (TEXT, "a{b=\"1} 1\n", "error: unterminated quoted string"),
    (TEXT, "9a 1\n", "error: \"9a\" is not a valid start token"),
    (TEXT, "# TYPE a foo\n", "error: invalid metric type \"foo\""),
    (TEXT, "{b=\"1\"} 1\n", "error: metric name is missing"),
    (TEXT, "a 1_0\n", "error: invalid value \"1_0\""),
    (OM, "a_total 1\n# EOF\n", r#"series a_total {__name__="a_total"} 1.0"#),
    (OM, "a_total 1\n# EOF", r#"series a_total {__name__="a_total"} 1.0"#),
    (OM, "a 1 1.5\n# EOF\n", r#"series a {__name__="a"} 1.0 @1500"#),
    (OM, "# TYPE a counter\n# HELP a h \\\"q\\\"\na_total 1\na_created 1.7e9\n# EOF\n", "type a counter\nhelp a \"h \\\"q\\\"\"\nseries a_total {__name__=\"a_total\"} 1.0\nseries a_created {__name__=\"a_created\"} 1700000000.0"),
    (OM, "# TYPE a_seconds histogram\n# UNIT a_seconds seconds\na_seconds_bucket{le=\"+Inf\"} 3 # {id=\"x\"} 0.5 12.5\n# EOF\n", "type a_seconds histogram\nunit a_seconds seconds\nseries a_seconds_bucket{le=\"+Inf\"} {__name__=\"a_seconds_bucket\", le=\"+Inf\"} 3.0 # {id=\"x\"} 0.5 @12500"),
    (OM, "a_bucket{le=\"1\"} 3 7 # {} 0.5\n# EOF\n", "series a_bucket{le=\"1\"} {__name__=\"a_bucket\", le=\"1\"} 3.0 @7000 # {} 0.5"),
    (OM, "# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE i info\ni_info{v=\"1\"} 1\n# TYPE g gaugehistogram\ng_gcount 1\n# EOF\n", "type s stateset\nseries s{s=\"a\"} {__name__=\"s\", s=\"a\"} 1.0\ntype i info\nseries i_info{v=\"1\"} {__name__=\"i_info\", v=\"1\"} 1.0\ntype g gaugehistogram\nseries g_gcount {__name__=\"g_gcount\"} 1.0"),
    (OM, "a 1\n", "series a {__name__=\"a\"} 1.0\nerror: data does not end with # EOF"),
    (OM, "a 1\n# EOF\nb 1\n", "series a {__name__=\"a\"} 1.0\nerror: unexpected data after # EOF (line 2)"),
    (OM, "# UNIT a_bytes seconds\n# EOF\n", "error: unit \"seconds\" not a suffix of metric \"a_bytes\""),
    (OM, "# random comment\n# EOF\n", "error: expected HELP, TYPE, UNIT or EOF"),
    (OM, "\n# EOF\n", "error: unexpected empty line (line 1)"),
    (OM, "a 1 # {x=\"1\"}\n# EOF\n", "error: expected exemplar value"),
    (OM, "a{b=\"1\",} 1\n# EOF\n", "error: unexpected trailing comma"),
    (OM, concat!("a_total 1 # {id=\"", "0123456789012345678901234567890123456789012345678901234567890123456789", "0123456789012345678901234567890123456789012345678901234567890\"} 1\n# EOF\n"), "error: exemplar labels have 133 runes, exceeding the limit of 128"),
    (OM, "# TYPE a untyped\n# EOF\n", "error: invalid metric type \"untyped\""),
];

#[test]
fn edge_case_table() {
    let mut failures = Vec::new();
    for (i, (ct, body, want)) in CASES.iter().enumerate() {
        let got = render(ct, body);
        let want: Vec<&str> = want.lines().collect();
        let ok = got.len() == want.len()
            && got.iter().zip(&want).all(|(g, w)| {
                if w.starts_with("error:") {
                    g.starts_with(w)
                } else {
                    g == w
                }
            });
        if !ok {
            failures.push(format!(
                "case {i} {body:?}:\n  got  {got:?}\n  want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn peer_exposition_files_parse() {
    let dir = peer_dir().join("exposition");
    if !dir.is_dir() {
        eprintln!("skipping: peer folder {} is absent", dir.display());
        return;
    }
    // (file, content type, series, TYPE lines): every non-comment line of
    // these files is one sample.
    let files: &[(&str, &str, usize, usize)] = &[
        ("textparse/alltypes.237mfs.prom.txt", TEXT, 1857, 237),
        ("textparse/alltypes.237mfs.nometa.prom.txt", TEXT, 1857, 0),
        ("textparse/alltypes.5mfs.om.txt", OM, 53, 5),
        ("textparse/1histogram.om.txt", OM, 42, 1),
        ("promtool/metrics-test.prom", TEXT, 27, 4),
        ("promtool/dump-openmetrics-roundtrip-test.prom", OM, 14, 0),
        ("promtool/dump-openmetrics-test.prom", OM, 10, 0),
    ];
    for (name, ct, want_series, want_types) in files {
        let body = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut p = new_parser(ct, &body);
        let (mut series, mut types, mut exemplars) = (0usize, 0usize, 0usize);
        loop {
            match p.next() {
                Ok(None) => break,
                Ok(Some(Entry::Series)) => {
                    series += 1;
                    let l = p.labels();
                    assert!(l.metric_name().is_some(), "{name}: series without name");
                    exemplars += usize::from(p.exemplar().is_some());
                }
                Ok(Some(Entry::Type)) => types += 1,
                Ok(Some(_)) => {}
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert_eq!(
            (series, types),
            (*want_series, *want_types),
            "{name}: (series, TYPE lines)"
        );
        if name.ends_with("5mfs.om.txt") {
            assert!(exemplars > 0, "{name}: exemplars were not parsed");
        }
    }
}

#[test]
fn series_bytes_are_stable_keys() {
    // The scrape cache keys on the raw bytes: the same series in two bodies
    // with different values and timestamps must give the same bytes.
    let a = "x{a=\"1\"} 1 10\n";
    let b = "x{a=\"1\"}  2\n";
    let key = |body: &str| {
        let mut p = new_parser(TEXT, body.as_bytes());
        assert_eq!(p.next().ok().flatten(), Some(Entry::Series));
        p.series().0.to_vec()
    };
    assert_eq!(key(a), key(b));
}
