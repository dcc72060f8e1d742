//! Parser throughput: lexing, parsing and type-checking a long, realistic
//! expression (the kind a dashboard or recording rule sends), plus printing
//! it back. Run with `cargo bench --bench promql_parse`.

use criterion::{criterion_group, criterion_main, Criterion};
use promlite::promql::parse_expr;

/// A long expression touching most of the grammar.
const LONG_QUERY: &str = r#"
  sum by (job, instance) (
    rate(http_requests_total{job=~"api|web", code!~"5..", handler!="/metrics"}[5m] offset 1m)
  )
  / on (job, instance) group_left (version)
  sum by (job, instance) (rate(http_requests_total{job=~"api|web"}[5m]))
  > bool 0.5 * 2 ^ -1
  or
  histogram_quantile(0.99, sum without (pod) (rate(http_request_duration_seconds_bucket{job="api"}[5m])))
  + max_over_time(deriv(node_memory_MemAvailable_bytes{instance=~".+"}[1h:5m])[30m:1m] @ 1700000000)
  unless topk(10, count_values("version", build_info offset 5m)) # trailing comment
  and label_replace(up{job="node"}, "host", "$1", "instance", "([^:]+):.*")
"#;

fn bench_parse(c: &mut Criterion) {
    // Measure the success path only: fail loudly if the query stops parsing.
    let parsed = match parse_expr(LONG_QUERY) {
        Ok(e) => e,
        Err(e) => panic!("benchmark query does not parse: {e}"),
    };
    c.bench_function("parse_long_expression", |b| {
        b.iter(|| parse_expr(std::hint::black_box(LONG_QUERY)).map(std::hint::black_box))
    });
    // The same query with equality matchers: the parser's own cost, without
    // the regex compilation `Matcher::new` does for `=~`/`!~`.
    let no_regex = LONG_QUERY.replace("=~", "=").replace("!~", "!=");
    c.bench_function("parse_long_expression_no_regex", |b| {
        b.iter(|| parse_expr(std::hint::black_box(&no_regex)).map(std::hint::black_box))
    });
    c.bench_function("parse_short_selector", |b| {
        b.iter(|| {
            parse_expr(std::hint::black_box(
                r#"rate(http_requests_total{job="api"}[5m])"#,
            ))
        })
    });
    c.bench_function("print_long_expression", |b| {
        b.iter(|| std::hint::black_box(&parsed).to_string())
    });
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
