//! Parser conformance table, ported from upstream's `promql/parser/parse_test.go`
//! and `printer_test.go`: each case is a query and either the canonical text
//! upstream prints for it (`Ok`) or the exact error upstream returns (`Err`).
//! Adding a case is adding a line.

use promlite::promql::parse_expr;

type Case = (&'static str, Result<&'static str, &'static str>);

const CASES: &[Case] = &[
    // Scalars and scalar-to-scalar operations.
    ("1", Ok("1")),
    ("+Inf", Ok("+Inf")),
    ("-Inf", Ok("-Inf")),
    (".5", Ok("0.5")),
    ("5.", Ok("5")),
    ("123.4567", Ok("123.4567")),
    ("5e-3", Ok("0.005")),
    ("5e3", Ok("5000")),
    ("0xc", Ok("12")),
    ("0755", Ok("493")),
    ("+5.5e-3", Ok("0.0055")),
    ("-0755", Ok("-493")),
    ("1 + 1", Ok("1 + 1")),
    ("1 == bool 1", Ok("1 == bool 1")),
    ("1 <= bool 1", Ok("1 <= bool 1")),
    ("-1^2", Ok("-1 ^ 2")),
    ("-1*2", Ok("-1 * 2")),
    ("-1^-2", Ok("-1 ^ -2")),
    ("+1 + -2 * 1", Ok("1 + -2 * 1")),
    ("1 + 2/(3*1)", Ok("1 + 2 / (3 * 1)")),
    ("1 < bool 2 - 1 * 2", Ok("1 < bool 2 - 1 * 2")),
    ("-some_metric", Ok("-some_metric")),
    ("+some_metric", Ok("+some_metric")),
    (" +some_metric", Ok("+some_metric")),
    (r#" +{"some_metric"}"#, Ok(r#"+{__name__="some_metric"}"#)),
    ("", Err("1:1: parse error: no expression found in input")),
    ("# just a comment\n\n", Err("1:1: parse error: no expression found in input")),
    ("1+", Err("1:3: parse error: unexpected end of input")),
    (".", Err("1:1: parse error: unexpected character: '.'")),
    ("2.5.", Err(r#"1:1: parse error: bad number or duration syntax: "2.5.""#)),
    ("100..4", Err(r#"1:1: parse error: bad number or duration syntax: "100..""#)),
    ("0deadbeef", Err(r#"1:1: parse error: bad number or duration syntax: "0de""#)),
    ("1 /", Err("1:4: parse error: unexpected end of input")),
    ("*1", Err("1:1: parse error: unexpected <op:*>")),
    ("(1))", Err("1:5: parse error: unexpected right parenthesis ')'")),
    ("((1)", Err("1:5: parse error: unclosed left parenthesis")),
    ("(", Err("1:2: parse error: unclosed left parenthesis")),
    ("1 and 1", Err(r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#)),
    ("1 == 1", Err("1:3: parse error: comparisons between scalars must use BOOL modifier")),
    ("1 or 1", Err(r#"1:1: parse error: set operator "or" not allowed in binary scalar expression"#)),
    ("1 unless 1", Err(r#"1:1: parse error: set operator "unless" not allowed in binary scalar expression"#)),
    ("1 !~ 1", Err("1:3: parse error: unexpected character after '!': '~'")),
    ("1 =~ 1", Err("1:3: parse error: unexpected character after '=': '~'")),
    (r#"-"string""#, Err(r#"1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "string""#)),
    ("-test[5m]", Err(r#"1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#)),
    ("*test", Err("1:1: parse error: unexpected <op:*>")),
    ("@@", Err("1:1: parse error: unexpected <op:@>")),
    ("1 offset 1d", Err("1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery")),
    ("foo offset 1s offset 2s", Err("1:1: parse error: offset may not be set multiple times")),
    ("a - on(b) ignoring(c) d", Err("1:11: parse error: unexpected <ignoring>")),
    // Vector selectors named like keywords.
    (r#"offset{step="1s"}[5m]"#, Ok(r#"offset{step="1s"}[5m]"#)),
    (r#"step{offset="1s"}[5m]"#, Ok(r#"step{offset="1s"}[5m]"#)),
    (r#"anchored{job="test"}"#, Ok(r#"anchored{job="test"}"#)),
    (r#"smoothed{job="test"}"#, Ok(r#"smoothed{job="test"}"#)),
    // Vector binary operations.
    ("foo * bar", Ok("foo * bar")),
    ("foo * sum", Ok("foo * sum")),
    ("foo == 1", Ok("foo == 1")),
    ("foo == bool 1", Ok("foo == bool 1")),
    ("2.5 / bar", Ok("2.5 / bar")),
    ("foo and bar", Ok("foo and bar")),
    ("foo + bar or bla and blub", Ok("foo + bar or bla and blub")),
    ("foo and bar unless baz or qux", Ok("foo and bar unless baz or qux")),
    ("bar + on(foo) bla / on(baz, buz) group_right(test) blub", Ok("bar + on (foo) bla / on (baz, buz) group_right (test) blub")),
    ("foo * on(test,blub) bar", Ok("foo * on (test, blub) bar")),
    ("foo * on(test,blub) group_left bar", Ok("foo * on (test, blub) group_left () bar")),
    ("foo and on(test,blub) bar", Ok("foo and on (test, blub) bar")),
    ("foo and on() bar", Ok("foo and on () bar")),
    ("foo and ignoring(test,blub) bar", Ok("foo and ignoring (test, blub) bar")),
    ("foo and ignoring() bar", Ok("foo and bar")),
    ("foo unless on(bar) baz", Ok("foo unless on (bar) baz")),
    ("foo / on(test,blub) group_left(bar) bar", Ok("foo / on (test, blub) group_left (bar) bar")),
    ("foo / ignoring(test,blub) group_left(blub) bar", Ok("foo / ignoring (test, blub) group_left (blub) bar")),
    ("foo - on(test,blub) group_right(bar,foo) bar", Ok("foo - on (test, blub) group_right (bar, foo) bar")),
    ("foo and 1", Err(r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#)),
    ("1 and foo", Err(r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#)),
    ("foo unless 1", Err(r#"1:1: parse error: set operator "unless" not allowed in binary scalar expression"#)),
    ("1 or on(bar) foo", Err("1:1: parse error: vector matching only allowed between instant vectors")),
    ("foo == on(bar) 10", Err("1:1: parse error: vector matching only allowed between instant vectors")),
    ("foo + group_left(baz) bar", Err("1:7: parse error: unexpected <group_left>")),
    ("foo and on(bar) group_left(baz) bar", Err(r#"1:1: parse error: no grouping allowed for "and" operation"#)),
    ("foo or on(bar) group_right(baz) bar", Err(r#"1:1: parse error: no grouping allowed for "or" operation"#)),
    ("foo unless on(bar) group_left(baz) bar", Err(r#"1:1: parse error: no grouping allowed for "unless" operation"#)),
    (r#"http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}"#, Err(r#"1:35: parse error: label "instance" must not occur in ON and GROUP clause at once"#)),
    ("foo + bool bar", Err("1:5: parse error: bool modifier can only be used on comparison operators")),
    ("foo + bool 10", Err("1:5: parse error: bool modifier can only be used on comparison operators")),
    ("foo and bool 10", Err("1:5: parse error: bool modifier can only be used on comparison operators")),
    // Vector selectors with modifiers.
    ("foo", Ok("foo")),
    ("min", Ok("min")),
    ("foo offset 5m", Ok("foo offset 5m")),
    ("foo offset -7m", Ok("foo offset -7m")),
    ("foo OFFSET 1h30m", Ok("foo offset 1h30m")),
    ("foo OFFSET 1m30ms", Ok("foo offset 1m30ms")),
    ("foo @ 1603774568", Ok("foo @ 1603774568.000")),
    ("foo @ -100", Ok("foo @ -100.000")),
    ("foo @ .3", Ok("foo @ 0.300")),
    ("foo @ 3.", Ok("foo @ 3.000")),
    ("foo @ 3.33", Ok("foo @ 3.330")),
    ("foo @ 3.3333", Ok("foo @ 3.333")),
    ("foo @ 3.3335", Ok("foo @ 3.334")),
    ("foo @ 3e2", Ok("foo @ 300.000")),
];

#[test]
fn upstream_parse_cases() {
    let mut failures = Vec::new();
    for (input, want) in CASES {
        let got = match parse_expr(input) {
            Ok(e) => Ok(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let want = want.map(str::to_string).map_err(str::to_string);
        if got != want {
            failures.push(format!("{input:?}\n   want {want:?}\n    got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
