//! Parser round-trip and error tests; the upstream-derived table lives in
//! `tests/promql_parse.rs`.

use super::*;

fn roundtrip(input: &str) -> String {
    match parse_expr(input) {
        Ok(e) => e.to_string(),
        Err(e) => format!("ERR {e}"),
    }
}

#[test]
fn prints_canonical_form() {
    let cases = [
        ("sum by(job)(rate(x[5m]))", "sum by (job) (rate(x[5m]))"),
        ("-2^2", "-2 ^ 2"),
        ("foo offset 5m", "foo offset 5m"),
        ("foo @ 100 offset -1m", "foo @ 100.000 offset -1m"),
        ("a + on(b) group_left(c) d", "a + on (b) group_left (c) d"),
        ("x[1h:5m]", "x[1h:5m]"),
        ("x[1h:]", "x[1h:]"),
        (r#"{__name__="a", b!~"c"}"#, r#"{__name__="a",b!~"c"}"#),
        (r#"a{b="c"}"#, r#"a{b="c"}"#),
    ];
    for (input, want) in cases {
        assert_eq!(roundtrip(input), want, "{input}");
    }
}

#[test]
fn reports_upstream_errors() {
    let cases = [
        ("", "1:1: parse error: no expression found in input"),
        ("rate(", "1:6: parse error: unclosed left parenthesis"),
        ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("rate(x)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"),
    ];
    for (input, want) in cases {
        assert_eq!(roundtrip(input), format!("ERR {want}"), "{input}");
    }
}
