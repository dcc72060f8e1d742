//! Relabeling throughput: label sets per second through typical target
//! relabeling (conf.good.yml-style rules) and metric relabeling that keeps
//! the set unchanged (the common scrape-path case, which should not allocate).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use promlite::model::relabel::{process, process_cow, RelabelConfig};
use promlite::model::Labels;

const TARGET_RULES: &str = r#"
- source_labels: [job, __meta_dns_name]
  regex: "(.*)some-[regex]"
  target_label: job
  replacement: foo-${1}
- source_labels: [abc]
  target_label: cde
- replacement: static
  target_label: abc
- source_labels: [__address__]
  modulus: 8
  target_label: __tmp_hash
  action: hashmod
- regex: "__meta_(.+)"
  action: labelmap
- source_labels: [__meta_sd_tags]
  regex: "(?:.+,|^)label:([^=]+)=([^,]+).*"
  target_label: "${1}"
  replacement: "${2}"
"#;

const METRIC_RULES: &str = r#"
- source_labels: [__name__]
  regex: "expensive_metric.*"
  action: drop
- regex: "tmp_.*"
  action: labeldrop
- source_labels: [__name__, le]
  regex: "go_gc_.*;.+"
  action: drop
"#;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("bench rules: {e}"))
}

fn bench(c: &mut Criterion) {
    let target = Labels::from_pairs(&[
        ("__address__", "10.0.0.1:9100"),
        ("__meta_dns_name", "node-some-x"),
        ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("job", "node"),
    ]);
    let series: Vec<Labels> = (0..1000)
        .map(|i| {
            let name = format!("http_requests_total_{}", i % 50);
            let path = format!("/api/{i}");
            Labels::from_pairs(&[
                ("__name__", name.as_str()),
                ("code", "200"),
                ("instance", "10.0.0.1:9100"),
                ("job", "node"),
                ("path", path.as_str()),
            ])
        })
        .collect();
    let target_rules = rules(TARGET_RULES);
    let metric_rules = rules(METRIC_RULES);

    let mut g = c.benchmark_group("relabel");
    g.throughput(Throughput::Elements(1));
    g.bench_function("target_6_rules", |b| {
        b.iter(|| process(black_box(&target), black_box(&target_rules)))
    });
    for (i, rule) in target_rules.iter().enumerate() {
        let one = std::slice::from_ref(rule);
        g.bench_function(format!("target_rule_{i}_{}", rule.action), |b| {
            b.iter(|| process(black_box(&target), black_box(one)))
        });
    }
    g.throughput(Throughput::Elements(series.len() as u64));
    g.bench_function("metric_3_rules_unchanged_x1000", |b| {
        b.iter(|| {
            let mut kept = 0usize;
            for s in &series {
                if process_cow(black_box(s), black_box(&metric_rules)).is_some() {
                    kept += 1;
                }
            }
            kept
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
