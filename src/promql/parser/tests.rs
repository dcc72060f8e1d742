//! Parser round-trip and error tests; the upstream-derived table lives in
//! `tests/it/promql_parse.rs`.

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

#[test]
fn deep_nesting_fails_cleanly() {
    let nested = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = parse_expr(&nested).map(|_| ()).unwrap_err();
    assert!(err.msg.contains("not supported by promlite"), "{err}");
}

#[test]
fn long_chains_are_bounded() {
    let chain = |n: usize| vec!["a"; n].join(" + ");
    assert!(parse_expr(&chain(250)).is_ok());
    let err = parse_expr(&chain(5000)).map(|_| ()).unwrap_err();
    assert!(err.msg.contains("levels deep"), "{err}");
}

#[test]
fn long_subquery_and_duration_chains_are_bounded() {
    let subqueries = format!("a{}", "[1m:]".repeat(2000));
    assert!(parse_expr(&subqueries).is_err());
    let duration = format!("a[{}]", vec!["1"; 5000].join("+"));
    assert!(parse_expr(&duration).is_err());
}

fn matrix(input: &str) -> crate::promql::ast::MatrixSelector {
    match parse_expr(input) {
        Ok(Expr::MatrixSelector(m)) => m,
        other => panic!("{input}: {other:?}"),
    }
}

#[test]
fn folds_constant_duration_expressions() {
    for (input, want_ms) in [
        ("foo[11s+10s-5*2^2]", 1_000),
        ("foo[-(10s-5s)+20s]", 15_000),
        ("foo[-10s+15s]", 5_000),
        ("foo[1h/2]", 1_800_000),
        ("foo[1h30m % 1h]", 1_800_000),
        ("foo[(9m30s+30s)*3]", 1_800_000),
        ("foo[min_of(1h, 2m)]", 120_000),
        ("foo[60*30]", 1_800_000),
    ] {
        let m = matrix(input);
        assert_eq!(m.range, want_ms, "{input}");
        assert!(
            m.range_expr.is_some(),
            "{input} keeps its expression for printing"
        );
    }
    assert!(matrix("foo[5m]").range_expr.is_none());
}

#[test]
fn resolves_step_and_range_at_query_time() {
    let ctx = DurationContext {
        step_ms: 15_000,
        range_ms: 3_600_000,
    };
    let m = matrix("foo[step()]");
    let e = m
        .range_expr
        .as_deref()
        .unwrap_or_else(|| panic!("no range expr"));
    assert_eq!(eval_duration_expr(e, &ctx), Ok(15_000));
    let m = matrix("foo[max_of(min_of(STEP()+1,1h),1ms)]");
    let e = m
        .range_expr
        .as_deref()
        .unwrap_or_else(|| panic!("no range expr"));
    assert_eq!(eval_duration_expr(e, &ctx), Ok(16_000));
    let m = matrix("foo[range()]");
    let e = m
        .range_expr
        .as_deref()
        .unwrap_or_else(|| panic!("no range expr"));
    assert_eq!(eval_duration_expr(e, &ctx), Ok(3_600_000));

    let Ok(Expr::VectorSelector(vs)) = parse_expr("foo offset -step()") else {
        panic!("not a selector")
    };
    let e = vs
        .offset_expr
        .as_deref()
        .unwrap_or_else(|| panic!("no offset expr"));
    assert_eq!(eval_duration_expr(e, &ctx), Ok(-15_000));
}

#[test]
fn offset_takes_only_an_atom() {
    // `offset 100 + 2` adds 2 to the selector, as upstream parses it.
    assert_eq!(
        roundtrip("metric offset 100 + 2"),
        "metric offset 1m40s + 2"
    );
    assert_eq!(roundtrip("metric offset -2 ^ 2"), "metric offset -2s ^ 2");
    assert_eq!(roundtrip("metric offset (2 ^ 2)"), "metric offset (2 ^ 2)");
    let Ok(Expr::VectorSelector(vs)) = parse_expr("metric offset (2 ^ 2)") else {
        panic!("not a selector")
    };
    assert_eq!(vs.original_offset, 4_000);
    let Ok(Expr::Binary(b)) = parse_expr("metric offset -step()*2") else {
        panic!("not a binary expression")
    };
    assert_eq!(b.op, crate::promql::ast::BinOp::Mul);
}

#[test]
fn parses_metric_selectors_for_match_params() {
    let m = parse_metric_selector(r#"up{job="api", instance=~"a.*"}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let printed: Vec<String> = m.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        printed,
        [r#"job="api""#, r#"instance=~"a.*""#, r#"__name__="up""#]
    );
    let m = parse_metric_selector(r#"{"my.metric"}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].value, "my.metric");
    for bad in ["", "up[5m]", "sum(up)", "up offset 1m", "up{", "1"] {
        assert!(parse_metric_selector(bad).is_err(), "{bad}");
    }
    let err = parse_metric_selector("up{a=~\"(\"}")
        .map(|_| ())
        .unwrap_err();
    assert!(err.msg.starts_with("error parsing regexp"), "{err}");
}

#[test]
fn error_positions_count_lines_and_bytes_like_upstream() {
    let err = parse_expr("foo +\n  {}").map(|_| ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "2:3: parse error: vector selector must contain at least one non-empty matcher"
    );
    let err = parse_expr("sum(\n  rate(x)\n)").map(|_| ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"2:8: parse error: expected type range vector in call to function "rate", got instant vector"#
    );
}

#[test]
fn experimental_features_need_their_flags() {
    let off = ParseOptions {
        enable_experimental_functions: false,
        experimental_duration_expr: false,
        enable_extended_range_selectors: false,
        enable_binop_fill_modifiers: false,
    };
    let err = |q: &str| {
        parse_expr_with_options(q, &off)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    for (query, want) in [
        (r#"sort_by_label(up, "job")"#, r#"1:1: parse error: function "sort_by_label" is not enabled"#),
        ("limitk(2, up)", "1:1: parse error: limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions"),
        ("foo[5m+1m]", "1:5: parse error: experimental duration expression is not enabled"),
        ("foo offset -step()", "1:12: parse error: experimental duration expression is not enabled"),
        ("foo anchored", "1:1: parse error: anchored modifier is experimental and not enabled"),
        ("rate(foo[5m] smoothed)", "1:6: parse error: smoothed modifier is experimental and not enabled"),
        ("a + fill(0) b", "1:1: parse error: binop fill modifiers are experimental and not enabled"),
    ] {
        assert_eq!(err(query), want, "{query}");
    }
    for stable in ["rate(up[5m])", "up offset -5m", "up[300]", "a + on(x) b"] {
        assert!(parse_expr_with_options(stable, &off).is_ok(), "{stable}");
    }
    for query in [
        r#"sort_by_label(up, "job")"#,
        "limitk(2, up)",
        "foo[5m+1m]",
        "foo anchored",
        "a + fill(0) b",
    ] {
        assert!(
            parse_expr_with_options(query, &ParseOptions::ALL).is_ok(),
            "{query}"
        );
    }
}

#[test]
fn range_modifiers_follow_upstreams_rules() {
    assert_eq!(
        roundtrip("foo[5m:1m] anchored"),
        "ERR 1:1: parse error: anchored modifier is not supported for subqueries"
    );
    assert_eq!(
        roundtrip("foo[5m] anchored smoothed"),
        "ERR 1:1: parse error: anchored and smoothed modifiers cannot be used together"
    );
    assert_eq!(
        roundtrip("metric @ 100 smoothed"),
        "metric @ 100.000 smoothed"
    );
}
