//! Series descriptions, upstream's notation for test data (promqltest `load`
//! lines and rule unit tests' `input_series`):
//! `metric{a="b"} 1 2 _ 3+1x4 _x2 stale -Inf`.
//! `a+bxN` expands to N+1 values starting at `a`; `axN` repeats `a` N+1
//! times; `_` is an omitted sample and `_xN` N of them; `stale` is a stale
//! marker. Native histogram literals (`{{...}}`) are not supported.

use super::expr::{parse_number, Parser};
use super::{ParseError, ParseOptions};
use crate::model::{stale_nan, Label, Labels, MatchType};
use crate::promql::ast::{Expr, PosRange};

/// One value of a series description; `omitted` means "no sample here".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequenceValue {
    pub omitted: bool,
    pub value: f64,
}

impl SequenceValue {
    fn value(value: f64) -> SequenceValue {
        SequenceValue {
            omitted: false,
            value,
        }
    }

    fn omitted() -> SequenceValue {
        SequenceValue {
            omitted: true,
            value: 0.0,
        }
    }
}

/// Parses `metric{labels} values...` into the labels and the expanded values.
pub fn parse_series_desc(input: &str) -> Result<(Labels, Vec<SequenceValue>), ParseError> {
    let metric_end = metric_end(input);
    let metric = input.get(..metric_end).unwrap_or("");
    let labels = parse_metric(input, metric)?;
    let mut values = Vec::new();
    let rest = input.get(metric_end..).unwrap_or("");
    let mut offset = metric_end;
    for item in rest.split_inclusive(char::is_whitespace) {
        let start = offset;
        offset += item.len();
        let item = item.trim_end();
        if item.is_empty() {
            continue;
        }
        let pos = PosRange::new(start, start + item.len());
        expand_item(input, item, pos, &mut values)?;
    }
    Ok((labels, values))
}

/// Byte offset where the metric part ends: after the name and the `{...}`
/// block, skipping quoted strings inside the braces.
fn metric_end(input: &str) -> usize {
    let mut in_braces = false;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut started = false;
    for (i, c) in input.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' if in_braces => quote = Some(c),
            '{' if !in_braces => in_braces = true,
            '}' if in_braces => return i + 1,
            c if c.is_whitespace() && !in_braces => {
                if started {
                    return i;
                }
            }
            _ => started = true,
        }
    }
    input.len()
}

fn parse_metric(input: &str, metric: &str) -> Result<Labels, ParseError> {
    if metric.trim().is_empty() {
        return Ok(Labels::empty());
    }
    let expr = Parser::new(metric, ParseOptions::default())
        .parse_series_metric()
        .map_err(|e| ParseError::new(input, e.pos, e.msg))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ParseError::new(
            input,
            PosRange::new(0, metric.len()),
            "expected a metric",
        ));
    };
    let mut labels = Vec::with_capacity(vs.matchers.len());
    for m in vs.matchers {
        if m.kind != MatchType::Equal {
            return Err(ParseError::new(
                input,
                vs.pos,
                format!(
                    "unexpected {:?} in label set, expected \"=\"",
                    m.kind.as_str()
                ),
            ));
        }
        labels.push(Label::new(m.name, m.value));
    }
    Ok(Labels::new(labels))
}

fn expand_item(
    input: &str,
    item: &str,
    pos: PosRange,
    out: &mut Vec<SequenceValue>,
) -> Result<(), ParseError> {
    let err = |msg: String| ParseError::new(input, pos, msg);
    if item.starts_with("{{") {
        return Err(err(
            "native histograms are not supported by promlite".to_string()
        ));
    }
    if item == "_" {
        out.push(SequenceValue::omitted());
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: u64 = n
            .parse()
            .map_err(|_| err(format!("invalid repetition in series values: {item:?}")))?;
        out.extend((0..n).map(|_| SequenceValue::omitted()));
        return Ok(());
    }
    let (head, times) = match split_times(item) {
        Some((head, n)) => {
            let n: u64 = n
                .parse()
                .map_err(|_| err(format!("invalid repetition in series values: {item:?}")))?;
            (head, Some(n))
        }
        None => (item, None),
    };
    let (start, inc) = split_increment(head);
    let start = series_value(start).ok_or_else(|| {
        err(format!(
            "unexpected {item:?} in series values, expected number or \"stale\""
        ))
    })?;
    let inc = match inc {
        Some(s) => Some(
            parse_number_signed(s)
                .ok_or_else(|| err(format!("invalid increment in series values: {item:?}")))?,
        ),
        None => None,
    };
    match (times, inc) {
        (None, None) => out.push(SequenceValue::value(start)),
        (None, Some(_)) => {
            return Err(err(format!(
                "unexpected {item:?} in series values, an increment needs a repetition (\"x<n>\")"
            )))
        }
        (Some(n), None) => out.extend((0..=n).map(|_| SequenceValue::value(start))),
        (Some(n), Some(inc)) => {
            let mut v = start;
            out.push(SequenceValue::value(v));
            for _ in 0..n {
                v += inc;
                out.push(SequenceValue::value(v));
            }
        }
    }
    Ok(())
}

/// `1+2x3` -> ("1+2", "3"); the `x` must follow a digit, `f`, `N` or `]`.
fn split_times(item: &str) -> Option<(&str, &str)> {
    let i = item.rfind('x')?;
    if i == 0 {
        return None;
    }
    let (head, tail) = (item.get(..i)?, item.get(i + 1..)?);
    if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head, tail))
}

/// `-1-2` -> ("-1", Some("-2")); signs right after an exponent `e` belong to the number.
fn split_increment(head: &str) -> (&str, Option<&str>) {
    let bytes = head.as_bytes();
    let split = (1..bytes.len()).find(|&i| {
        matches!(bytes.get(i), Some(b'+' | b'-')) && !matches!(bytes.get(i - 1), Some(b'e' | b'E'))
    });
    match split.and_then(|i| Some((head.get(..i)?, head.get(i..)?))) {
        Some((start, inc)) => (start, Some(inc)),
        None => (head, None),
    }
}

fn parse_number_signed(s: &str) -> Option<f64> {
    if let Some(rest) = s.strip_prefix('-') {
        parse_number(rest).ok().map(|v| -v)
    } else if let Some(rest) = s.strip_prefix('+') {
        parse_number(rest).ok()
    } else {
        parse_number(s).ok()
    }
}

fn series_value(s: &str) -> Option<f64> {
    if s == "stale" {
        return Some(stale_nan());
    }
    // Hex is not allowed in series values (upstream: the syntax is ambiguous with `x`).
    let digits = s.trim_start_matches(['+', '-']);
    if digits.starts_with("0x") || digits.starts_with("0X") {
        return None;
    }
    parse_number_signed(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::is_stale_nan;

    fn vals(desc: &str) -> Vec<Option<f64>> {
        parse_series_desc(desc)
            .map(|(_, v)| {
                v.into_iter()
                    .map(|s| if s.omitted { None } else { Some(s.value) })
                    .collect()
            })
            .unwrap_or_else(|e| panic!("{desc}: {e}"))
    }

    #[test]
    fn expands_upstream_notation() {
        assert_eq!(vals("m 1 2 3"), vec![Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(
            vals("m 0+10x3"),
            vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)]
        );
        assert_eq!(vals("m 5-1x2"), vec![Some(5.0), Some(4.0), Some(3.0)]);
        assert_eq!(vals("m -1-1x2"), vec![Some(-1.0), Some(-2.0), Some(-3.0)]);
        assert_eq!(vals("m 7x2"), vec![Some(7.0); 3]);
        assert_eq!(vals("m _ _x2 1"), vec![None, None, None, Some(1.0)]);
        assert_eq!(
            vals("m 1e3 -Inf"),
            vec![Some(1000.0), Some(f64::NEG_INFINITY)]
        );
        assert_eq!(vals("m 1e-1+1e-1x1"), vec![Some(0.1), Some(0.2)]);
        let (_, v) = parse_series_desc("m stale").unwrap_or_default();
        assert!(v.first().is_some_and(|s| is_stale_nan(s.value)));
    }

    /// Upstream's `testSeries` table: input, labels as `name=value` pairs
    /// and values (`None` for omitted), or `None` when parsing must fail.
    #[allow(clippy::type_complexity)]
    const UPSTREAM: &[(&str, Option<(&[(&str, &str)], &[Option<f64>])>)] = &[
        ("{} 1 2 3", Some((&[], &[Some(1.0), Some(2.0), Some(3.0)]))),
        (
            r#"{a="b"} -1 2 3"#,
            Some((&[("a", "b")], &[Some(-1.0), Some(2.0), Some(3.0)])),
        ),
        (
            "my_metric 1 2 3",
            Some((
                &[("__name__", "my_metric")],
                &[Some(1.0), Some(2.0), Some(3.0)],
            )),
        ),
        (
            "my_metric{} 1 2 3",
            Some((
                &[("__name__", "my_metric")],
                &[Some(1.0), Some(2.0), Some(3.0)],
            )),
        ),
        (
            r#"my_metric{a="b"} 1 2 3-10x4"#,
            Some((
                &[("__name__", "my_metric"), ("a", "b")],
                &[
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(-7.0),
                    Some(-17.0),
                    Some(-27.0),
                    Some(-37.0),
                ],
            )),
        ),
        (
            r#"my_metric{a="b"} 1 2 3-0x4"#,
            Some((
                &[("__name__", "my_metric"), ("a", "b")],
                &[
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(3.0),
                    Some(3.0),
                    Some(3.0),
                    Some(3.0),
                ],
            )),
        ),
        ("{} 1+1", None),
        ("{} 1x0", Some((&[], &[Some(1.0)]))),
        ("{} 1+1x0", Some((&[], &[Some(1.0)]))),
        (
            r#"my_metric{a="b"} 1 3 _ 5 _x4"#,
            Some((
                &[("__name__", "my_metric"), ("a", "b")],
                &[
                    Some(1.0),
                    Some(3.0),
                    None,
                    Some(5.0),
                    None,
                    None,
                    None,
                    None,
                ],
            )),
        ),
        (r#"my_metric{a="b"} 1 3 _ 5 _a4"#, None),
        (
            r#"my_metric{a="b"} 1 -1"#,
            Some((
                &[("__name__", "my_metric"), ("a", "b")],
                &[Some(1.0), Some(-1.0)],
            )),
        ),
        (
            r#"my_metric{a="b"} 1 +1"#,
            Some((
                &[("__name__", "my_metric"), ("a", "b")],
                &[Some(1.0), Some(1.0)],
            )),
        ),
        (
            r#"my_metric{a="b"} 1 -1 -3-10x4 7 9 +5"#,
            Some((
                &[("__name__", "my_metric"), ("a", "b")],
                &[
                    Some(1.0),
                    Some(-1.0),
                    Some(-3.0),
                    Some(-13.0),
                    Some(-23.0),
                    Some(-33.0),
                    Some(-43.0),
                    Some(7.0),
                    Some(9.0),
                    Some(5.0),
                ],
            )),
        ),
        (
            r#"my_metric{a="b"} 1 2 3    "#,
            Some((
                &[("__name__", "my_metric"), ("a", "b")],
                &[Some(1.0), Some(2.0), Some(3.0)],
            )),
        ),
        (
            r#"my_metric{a="\u70ac"} 1"#,
            Some((&[("__name__", "my_metric"), ("a", "炬")], &[Some(1.0)])),
        ),
        (
            r#"my_metric{a="\u70ac = torch"} 1"#,
            Some((
                &[("__name__", "my_metric"), ("a", "炬 = torch")],
                &[Some(1.0)],
            )),
        ),
        (r#"my_metric{a="b"} -3-3 -3"#, None),
        (r#"my_metric{a="b"} -3 -3-3"#, None),
        (r#"my_metric{a="b"} -3 _-2"#, None),
        (r#"my_metric{a="b"} -3 3+3x4-4"#, None),
        ("", Some((&[], &[]))),
    ];

    #[test]
    fn upstream_series_table() {
        for (input, want) in UPSTREAM {
            let got = parse_series_desc(input);
            match (want, got) {
                (None, Err(_)) => {}
                (None, Ok(v)) => panic!("{input}: expected an error, got {v:?}"),
                (Some(_), Err(e)) => panic!("{input}: {e}"),
                (Some((labels, values)), Ok((l, v))) => {
                    assert_eq!(l, Labels::from_pairs(labels), "{input}");
                    let got: Vec<Option<f64>> = v
                        .iter()
                        .map(|s| if s.omitted { None } else { Some(s.value) })
                        .collect();
                    assert_eq!(&got, values, "{input}");
                }
            }
        }
    }

    #[test]
    fn label_set_errors_name_the_label_set() {
        let err = |s: &str| parse_series_desc(s).map(|_| ()).unwrap_err().to_string();
        assert!(err("{\"http.requests\"xx}\t\t0+50x2").contains(
            r#"parse error: unexpected identifier "xx" in label set, expected "," or "}""#
        ));
        assert!(err("{\"http.requests\"=, x=\"y\"}\t\t0+50x2")
            .contains(r#"parse error: unexpected "," in label set, expected string"#));
        assert!(
            err("{\"http.requests}\t\t0+50x2").contains("parse error: unterminated quoted string")
        );
    }

    #[test]
    fn parses_labels() {
        let (l, v) = parse_series_desc(r#"http_requests{job="api", path="/a b"}	1"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.get("__name__"), Some("http_requests"));
        assert_eq!(l.get("path"), Some("/a b"));
        assert_eq!(v.len(), 1);
        let (l, _) =
            parse_series_desc(r#"{"my.metric", a="b"} 1"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.get("__name__"), Some("my.metric"));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse_series_desc("m 1 foo").is_err());
        assert!(parse_series_desc("m 1+2").is_err());
        assert!(parse_series_desc("m {{schema:0 sum:1}}").is_err());
        assert!(parse_series_desc("m{a=~\"b\"} 1").is_err());
    }
}
