//! `query analyze --type=histogram`: upstream 3.x promtool's bucket usage
//! statistics of classic and native histograms over a time window.
//!
//! For every `--match` selector one instant query `selector[duration]` at
//! `--time` fetches the raw samples. `_bucket` series with an `le` label are
//! grouped per histogram (name and labels but `le`), and each histogram gets
//! the min/avg/max number of populated buckets over its samples (plus the
//! bucket count when it differs from the max); native histogram series
//! (samples carrying `histograms`, as upstream servers send) get the same
//! from their bucket lists. An aggregate over all histograms follows.
//! promlite's server stores no native histograms, so against promlite the
//! native part is always empty, and upstream then prints no "Native" block.
//! Upstream prints histograms in Go map order; here they come sorted by
//! name so the output is stable.

use std::collections::{BTreeMap, BTreeSet};

use lexopt::prelude::*;
use serde_json::Value as Json;

use super::gotime::{parse_go_duration, parse_time, Instant};
use super::query::{metric, metric_string, sample_pair, ApiClient, Metric, SamplePair};
use super::{print_command_help, UsageError, FAILURE, SUCCESS};
use crate::model::labels::go_quote;
use crate::template::funcs::format_go_duration;

const OUTPUT_HEADER: &str = "Bucket stats for each histogram series over time
------------------------------------------------
First the min, avg, and max number of populated buckets, followed by the total
number of buckets (only if different from the max number of populated buckets
which is typical for classic but not native histograms).";

const OUTPUT_FOOTER: &str = "Aggregated bucket stats
-----------------------
Each line shows min/avg/max over the series above.";

const FLAGS: &str = "      --http.config.file=<filename>
                         HTTP client configuration file for promlite-tool to
                         connect to Prometheus.
      --server=SERVER    Prometheus server to query.
      --type=TYPE        Type of metric: histogram.
      --duration=1h      Time frame to analyze.
      --time=TIME        Query time (RFC3339 or Unix timestamp), defaults to now.
      --match=MATCH ...  Series selector. Can be specified multiple times.
";

/// Why an analysis stopped (printed as upstream's `checkErr` prints).
#[derive(Debug, PartialEq)]
pub enum AnalyzeError {
    /// A flag value upstream rejects after parsing flags.
    Invalid(String),
    /// The server answered with an error or could not be reached.
    Api(String),
    /// The answer was not the matrix the query asks for.
    Answer(String),
}

impl std::fmt::Display for AnalyzeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnalyzeError::Invalid(e) | AnalyzeError::Api(e) | AnalyzeError::Answer(e) => {
                f.write_str(e)
            }
        }
    }
}

/// `query analyze --server --type [--duration] [--time] --match...`.
pub(super) fn analyze_command(mut parser: lexopt::Parser) -> Result<u8, UsageError> {
    let mut server: Option<String> = None;
    let mut kind: Option<String> = None;
    let mut duration_ms: i64 = 60 * 60 * 1000;
    let mut time: Option<String> = None;
    let mut matchers: Vec<String> = Vec::new();
    let mut http_config: Option<String> = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(print_command_help("query analyze", FLAGS, "")),
            Long("server") => server = Some(parser.value()?.string()?),
            Long("type") => kind = Some(parser.value()?.string()?),
            Long("duration") => {
                let d = parser.value()?.string()?;
                duration_ms = parse_go_duration(&d).map_err(UsageError)? / 1_000_000;
            }
            Long("time") => time = Some(parser.value()?.string()?),
            Long("match") => matchers.push(parser.value()?.string()?),
            Long("http.config.file") => http_config = Some(parser.value()?.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let Some(server) = server else {
        return Err(UsageError("required flag --server not provided".into()));
    };
    let Some(kind) = kind else {
        return Err(UsageError("required flag --type not provided".into()));
    };
    if matchers.is_empty() {
        return Err(UsageError("required flag --match not provided".into()));
    }
    let client = match ApiClient::with_http_config(&server, http_config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(FAILURE);
        }
    };
    let config = AnalyzeConfig {
        kind,
        duration_ms,
        time,
        matchers,
    };
    let mut out = std::io::stdout().lock();
    let query = |q: &str, t: Instant| -> Result<Json, AnalyzeError> {
        client
            .call(
                "/api/v1/query",
                &[("query", q.to_string()), ("time", t.api_param())],
                true,
            )
            .map_err(|e| AnalyzeError::Api(e.to_string()))
    };
    match config.run(query, &mut out) {
        Ok(()) => Ok(SUCCESS),
        Err(e) => {
            eprintln!("{e}");
            Ok(FAILURE)
        }
    }
}

/// The command's settings (upstream's `QueryAnalyzeConfig`).
pub struct AnalyzeConfig {
    pub kind: String,
    pub duration_ms: i64,
    pub time: Option<String>,
    pub matchers: Vec<String>,
}

impl AnalyzeConfig {
    /// Runs the analysis with `query(expr, time)` answering instant queries
    /// (the API's `data`), writing the report to `out`.
    pub fn run(
        &self,
        query: impl Fn(&str, Instant) -> Result<Json, AnalyzeError>,
        out: &mut impl std::io::Write,
    ) -> Result<(), AnalyzeError> {
        if self.kind != "histogram" {
            return Err(AnalyzeError::Invalid(format!(
                "analyze type is {}, must be 'histogram'",
                self.kind
            )));
        }
        let end = match &self.time {
            None => Instant::now(),
            Some(t) => parse_time(t)
                .map_err(|e| AnalyzeError::Invalid(format!("error parsing time '{t}': {e}")))?,
        };
        let range = format_go_duration(self.duration_ms.saturating_mul(1_000_000));
        let mut text = format!("{OUTPUT_HEADER}\n\n");
        let mut native_meta = MetaStatistics::default();
        let mut classic_meta = MetaStatistics::default();
        for m in &self.matchers {
            let data = query(&format!("{m}[{range}]"), end)?;
            let streams = matrix_streams(&data)?;
            let mut classic: BTreeMap<String, Vec<(f64, Vec<SamplePair>)>> = BTreeMap::new();
            for s in streams {
                if s.values.is_empty() {
                    if let Some(stats) = native_statistics(&s.histograms) {
                        text.push_str(&format!(
                            "- {} (native): {stats}\n",
                            metric_string(&s.metric)
                        ));
                        native_meta.update(&stats);
                    }
                    continue;
                }
                let mut rest = s.metric;
                let Some(le) = rest.remove("le") else {
                    continue;
                };
                let name = rest.remove("__name__").unwrap_or_default();
                if !name.ends_with("_bucket") {
                    continue;
                }
                let key = format!("{name}{}", label_set_string(&rest));
                // Unparsable bounds sort as 0, as upstream's.
                let le = le.parse::<f64>().unwrap_or(0.0);
                classic.entry(key).or_default().push((le, s.values));
            }
            for (key, buckets) in classic {
                if let Some(stats) = classic_statistics(buckets)? {
                    text.push_str(&format!("- {key} (classic): {stats}\n"));
                    classic_meta.update(&stats);
                }
            }
        }
        text.push_str(&format!("\n{OUTPUT_FOOTER}\n"));
        if native_meta.count() > 0 {
            text.push_str(&format!("\nNative {native_meta}\n"));
        }
        if classic_meta.count() > 0 {
            text.push_str(&format!("\nClassic {classic_meta}\n"));
        }
        out.write_all(text.as_bytes())
            .map_err(|e| AnalyzeError::Answer(format!("writing the report: {e}")))
    }
}

/// One series of a matrix answer: float samples or native histograms.
struct Stream {
    metric: Metric,
    values: Vec<SamplePair>,
    /// Per histogram sample, its buckets as (boundaries, lower, upper).
    histograms: Vec<Vec<(i64, String, String)>>,
}

fn matrix_streams(data: &Json) -> Result<Vec<Stream>, AnalyzeError> {
    let bad = |e: String| AnalyzeError::Answer(format!("bad_response: {e}"));
    if data.get("resultType").and_then(Json::as_str) != Some("matrix") {
        return Err(AnalyzeError::Answer(
            "query of buckets resulted in non-Matrix".into(),
        ));
    }
    let Some(result) = data.get("result").and_then(Json::as_array) else {
        return Ok(Vec::new());
    };
    result
        .iter()
        .map(|s| {
            let metric = metric(s).map_err(bad)?;
            let values = match s.get("values").and_then(Json::as_array) {
                Some(v) => v
                    .iter()
                    .map(sample_pair)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?,
                None => Vec::new(),
            };
            let histograms = s
                .get("histograms")
                .and_then(Json::as_array)
                .map(|hs| hs.iter().map(histogram_buckets).collect())
                .unwrap_or_default();
            Ok(Stream {
                metric,
                values,
                histograms,
            })
        })
        .collect()
}

/// The bucket bounds of one `[time, {count, sum, buckets}]` histogram sample.
fn histogram_buckets(sample: &Json) -> Vec<(i64, String, String)> {
    let buckets = sample
        .get(1)
        .and_then(|h| h.get("buckets"))
        .and_then(Json::as_array);
    buckets
        .map(|bs| {
            bs.iter()
                .map(|b| {
                    let text = |i: usize| b.get(i).and_then(Json::as_str).unwrap_or("").to_string();
                    (
                        b.get(0).and_then(Json::as_i64).unwrap_or(0),
                        text(1),
                        text(2),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `model.LabelSet.String()`: the formatted pairs sorted, `{}` when empty.
fn label_set_string(m: &Metric) -> String {
    let mut parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    parts.sort();
    format!("{{{}}}", parts.join(", "))
}

/// Populated-bucket statistics of one histogram (upstream's `statistics`).
#[derive(Clone, Debug, PartialEq)]
struct Statistics {
    min_pop: i64,
    avg_pop: f64,
    max_pop: i64,
    total: i64,
}

impl std::fmt::Display for Statistics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{:.3}/{}", self.min_pop, self.avg_pop, self.max_pop)?;
        if self.max_pop != self.total {
            write!(f, "/{}", self.total)?;
        }
        Ok(())
    }
}

/// Upstream's `calcClassicBucketStatistics`: per sample time, the buckets
/// whose own count (cumulative count minus the previous bucket's) is not
/// zero. `None` when there are fewer than two samples.
fn classic_statistics(
    mut buckets: Vec<(f64, Vec<SamplePair>)>,
) -> Result<Option<Statistics>, AnalyzeError> {
    // Upstream takes the sample count from the first series as the server
    // sent it, before sorting by bound.
    let num_samples = match buckets.first() {
        Some((_, v)) if v.len() >= 2 => v.len(),
        _ => return Ok(None),
    };
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut min_pop = i64::MAX;
    let mut max_pop = 0i64;
    let mut total_pop = 0i64;
    for t in 0..num_samples {
        let pop = bucket_counts_at(&buckets, t)?
            .iter()
            .filter(|c| **c != 0)
            .count() as i64;
        total_pop += pop;
        min_pop = min_pop.min(pop);
        max_pop = max_pop.max(pop);
    }
    Ok(Some(Statistics {
        min_pop,
        avg_pop: total_pop as f64 / num_samples as f64,
        max_pop,
        total: buckets.len() as i64,
    }))
}

/// Upstream's `getBucketCountsAtTime`: de-cumulated counts at sample index
/// `t`; a series too short leaves the rest at zero (partial results).
fn bucket_counts_at(
    buckets: &[(f64, Vec<SamplePair>)],
    t: usize,
) -> Result<Vec<i64>, AnalyzeError> {
    let mut counts = vec![0i64; buckets.len()];
    let Some(first) = buckets.first().and_then(|b| b.1.get(t)) else {
        return Ok(counts);
    };
    if let Some(c) = counts.first_mut() {
        *c = first.v as i64;
    }
    for (i, pair) in buckets.windows(2).enumerate() {
        let (Some(prev), Some(curr)) = (pair[0].1.get(t), pair[1].1.get(t)) else {
            return Ok(counts);
        };
        if curr.t_ms != prev.t_ms {
            return Err(AnalyzeError::Answer(
                "matrix result is not time aligned".into(),
            ));
        }
        if let Some(c) = counts.get_mut(i + 1) {
            *c = (curr.v - prev.v) as i64;
        }
    }
    Ok(counts)
}

/// Upstream's `calcNativeBucketStatistics`: populated buckets are the ones
/// listed; the total is every distinct bucket seen. `None` for fewer than
/// two histogram samples.
fn native_statistics(histograms: &[Vec<(i64, String, String)>]) -> Option<Statistics> {
    if histograms.len() < 2 {
        return None;
    }
    let mut overall = BTreeSet::new();
    let (mut min_pop, mut max_pop, mut total_pop) = (i64::MAX, 0i64, 0i64);
    for h in histograms {
        overall.extend(h.iter().cloned());
        let pop = h.len() as i64;
        total_pop += pop;
        min_pop = min_pop.min(pop);
        max_pop = max_pop.max(pop);
    }
    Some(Statistics {
        min_pop,
        avg_pop: total_pop as f64 / histograms.len() as f64,
        max_pop,
        total: overall.len() as i64,
    })
}

/// Upstream's `distribution`: min, max and a running mean.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Distribution {
    min: i64,
    max: i64,
    count: i64,
    avg: f64,
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution {
            min: i64::MAX,
            max: 0,
            count: 0,
            avg: 0.0,
        }
    }
}

impl Distribution {
    fn update(&mut self, n: i64) {
        self.min = self.min.min(n);
        self.max = self.max.max(n);
        self.count += 1;
        // Upstream's incremental mean, kept as is so rounding matches.
        self.avg += n as f64 / self.count as f64 - self.avg / self.count as f64;
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{:.3}/{}", self.min, self.avg, self.max)
    }
}

/// Upstream's `metaStatistics`: distributions of the per-histogram figures.
#[derive(Default)]
struct MetaStatistics {
    min_pop: Distribution,
    avg_pop: Distribution,
    max_pop: Distribution,
    total: Distribution,
}

impl MetaStatistics {
    fn count(&self) -> i64 {
        self.min_pop.count
    }

    fn update(&mut self, s: &Statistics) {
        self.min_pop.update(s.min_pop);
        // Upstream truncates the average to an int here.
        self.avg_pop.update(s.avg_pop as i64);
        self.max_pop.update(s.max_pop);
        self.total.update(s.total);
    }
}

impl std::fmt::Display for MetaStatistics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "histogram series ({} in total):\n- min populated: {}\n- avg populated: {}\n- max populated: {}",
            self.count(),
            self.min_pop,
            self.avg_pop,
            self.max_pop
        )?;
        if self.max_pop != self.total {
            write!(f, "\n- total: {}", self.total)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: &str, time: Option<&str>) -> AnalyzeConfig {
        AnalyzeConfig {
            kind: kind.into(),
            duration_ms: 60_000,
            time: time.map(str::to_string),
            matchers: vec!["h_bucket".into()],
        }
    }

    fn run(cfg: &AnalyzeConfig, answer: &str) -> (Result<(), AnalyzeError>, String, Vec<String>) {
        let asked = std::cell::RefCell::new(Vec::new());
        let data: Json = serde_json::from_str(answer).unwrap_or(Json::Null);
        let mut out = Vec::new();
        let r = cfg.run(
            |q, t| {
                asked.borrow_mut().push(format!("{q} @{}", t.api_param()));
                Ok(data.clone())
            },
            &mut out,
        );
        (
            r,
            String::from_utf8_lossy(&out).into_owned(),
            asked.into_inner(),
        )
    }

    fn bucket(le: &str, job: &str, values: &[(f64, &str)]) -> String {
        let vals: Vec<String> = values
            .iter()
            .map(|(t, v)| format!("[{t},\"{v}\"]"))
            .collect();
        format!(
            "{{\"metric\":{{\"__name__\":\"h_bucket\",\"le\":\"{le}\",\"job\":\"{job}\"}},\"values\":[{}]}}",
            vals.join(",")
        )
    }

    #[test]
    fn classic_histograms_get_populated_bucket_counts() {
        // Job a: buckets 0.1, 1, +Inf; sample 1 all in the first bucket,
        // sample 2 spread over all three, sample 3 in the first two.
        let a = [
            bucket("+Inf", "a", &[(10.0, "1"), (20.0, "6"), (30.0, "8")]),
            bucket("0.1", "a", &[(10.0, "1"), (20.0, "2"), (30.0, "4")]),
            bucket("1", "a", &[(10.0, "1"), (20.0, "5"), (30.0, "8")]),
        ];
        // Job b: one sample only, so not enough data.
        let b = bucket("+Inf", "b", &[(10.0, "1")]);
        let answer = format!(
            "{{\"resultType\":\"matrix\",\"result\":[{},{}]}}",
            a.join(","),
            b
        );
        let (r, out, asked) = run(&config("histogram", Some("30")), &answer);
        assert_eq!(r, Ok(()));
        assert_eq!(asked, vec!["h_bucket[1m0s] @30".to_string()]);
        let want = format!(
            "{OUTPUT_HEADER}\n\n- h_bucket{{job=\"a\"}} (classic): 1/2.000/3\n\n{OUTPUT_FOOTER}\n\n\
             Classic histogram series (1 in total):\n- min populated: 1/1.000/1\n\
             - avg populated: 2/2.000/2\n- max populated: 3/3.000/3\n"
        );
        assert_eq!(out, want);
    }

    #[test]
    fn nothing_found_prints_header_and_footer_only() {
        let (r, out, _) = run(
            &config("histogram", Some("30")),
            "{\"resultType\":\"matrix\",\"result\":[]}",
        );
        assert_eq!(r, Ok(()));
        assert_eq!(out, format!("{OUTPUT_HEADER}\n\n\n{OUTPUT_FOOTER}\n"));
    }

    #[test]
    fn native_histograms_count_distinct_buckets() {
        let h = |buckets: &str| {
            format!("[1,{{\"count\":\"1\",\"sum\":\"1\",\"buckets\":[{buckets}]}}]")
        };
        let answer = format!(
            "{{\"resultType\":\"matrix\",\"result\":[{{\"metric\":{{\"__name__\":\"n\"}},\"histograms\":[{},{}]}}]}}",
            h("[0,\"1\",\"2\",\"1\"]"),
            h("[0,\"1\",\"2\",\"1\"],[0,\"2\",\"4\",\"3\"]")
        );
        let (r, out, _) = run(&config("histogram", Some("30")), &answer);
        assert_eq!(r, Ok(()));
        assert!(out.contains("- n (native): 1/1.500/2\n"), "{out}");
        assert!(
            out.contains("\nNative histogram series (1 in total):\n"),
            "{out}"
        );
    }

    #[test]
    fn bad_type_time_and_answers_are_errors() {
        let (r, _, _) = run(&config("summary", None), "{}");
        assert_eq!(
            r,
            Err(AnalyzeError::Invalid(
                "analyze type is summary, must be 'histogram'".into()
            ))
        );
        let (r, _, _) = run(&config("histogram", Some("soon")), "{}");
        assert!(
            matches!(r, Err(AnalyzeError::Invalid(e)) if e.starts_with("error parsing time 'soon': "))
        );
        let (r, _, _) = run(
            &config("histogram", Some("1")),
            "{\"resultType\":\"vector\",\"result\":[]}",
        );
        assert_eq!(
            r,
            Err(AnalyzeError::Answer(
                "query of buckets resulted in non-Matrix".into()
            ))
        );
    }

    #[test]
    fn misaligned_buckets_are_an_error() {
        let answer = format!(
            "{{\"resultType\":\"matrix\",\"result\":[{},{}]}}",
            bucket("1", "a", &[(10.0, "1"), (20.0, "2")]),
            bucket("+Inf", "a", &[(10.0, "1"), (25.0, "2")])
        );
        let (r, _, _) = run(&config("histogram", Some("30")), &answer);
        assert_eq!(
            r,
            Err(AnalyzeError::Answer(
                "matrix result is not time aligned".into()
            ))
        );
    }
}
