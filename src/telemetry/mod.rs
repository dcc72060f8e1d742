//! The process's own metrics: a small registry of counters, gauges,
//! histograms and summaries (with or without labels) and a writer for the
//! text exposition format 0.0.4 served at `/metrics`, written as
//! client_golang writes it. Components register their metrics in
//! [`global()`] under upstream's names, so upstream dashboards work.

mod process;
mod quantile;
mod summary;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::model::labels::go_quote;
use crate::model::value::format_go_g;

pub use process::register_process_metrics;
pub use summary::{
    Clock, ManualClock, Summary, SummaryOpts, SummarySnapshot, SystemClock, DEF_AGE_BUCKETS,
    DEF_BUF_CAP, DEF_MAX_AGE, INTERVAL_OBJECTIVES, LATENCY_OBJECTIVES,
};

/// The registry `/metrics` serves.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

/// An f64 that can be updated from many threads.
#[derive(Default, Debug)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub fn new(v: f64) -> AtomicF64 {
        AtomicF64(AtomicU64::new(v.to_bits()))
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed)
    }
    pub fn add(&self, d: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + d).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(c) => cur = c,
            }
        }
    }
}

/// A monotonically increasing value.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicF64>);

impl Counter {
    pub fn inc(&self) {
        self.0.add(1.0)
    }
    pub fn add(&self, v: f64) {
        self.0.add(v)
    }
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A value that goes up and down.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicF64>);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.set(v)
    }
    pub fn add(&self, v: f64) {
        self.0.add(v)
    }
    pub fn inc(&self) {
        self.0.add(1.0)
    }
    pub fn dec(&self) {
        self.0.add(-1.0)
    }
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// Cumulative buckets, a sum and a count.
#[derive(Debug)]
struct HistogramCore {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum: AtomicF64,
    count: AtomicU64,
}

/// A histogram with fixed upper bounds (`+Inf` is implicit).
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramCore>);

impl Histogram {
    fn new(bounds: &[f64]) -> Histogram {
        Histogram(Arc::new(HistogramCore {
            bounds: bounds.to_vec(),
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::new(0.0),
            count: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, v: f64) {
        let core = &self.0;
        if let Some(i) = core.bounds.iter().position(|b| v <= *b) {
            core.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        core.sum.add(v);
        core.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

/// Upstream client_golang's default buckets.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

enum Child {
    Value(Arc<AtomicF64>),
    Histogram(Histogram),
    Summary(Summary),
}

/// Computes a family's samples at scrape time: `(label values, value)` pairs.
type CollectFn = Box<dyn Fn() -> Vec<(Vec<String>, f64)> + Send + Sync>;

/// A family: one name, help and type; children keyed by label values.
struct Family {
    name: String,
    help: String,
    kind: Kind,
    label_names: Vec<String>,
    buckets: Vec<f64>,
    /// How the children of a summary family are built.
    summary: Option<SummaryOpts>,
    children: Mutex<BTreeMap<Vec<String>, Child>>,
    func: Option<CollectFn>,
}

/// A child's label values as its key among the family's children.
fn label_key(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

impl Family {
    /// A family with no children yet; histogram buckets, summary options or
    /// a scrape-time function are set by the registering constructor.
    fn new(name: &str, help: &str, kind: Kind, labels: &[&str]) -> Family {
        Family {
            name: name.to_string(),
            help: help.to_string(),
            kind,
            label_names: labels.iter().map(|s| s.to_string()).collect(),
            buckets: Vec::new(),
            summary: None,
            children: Mutex::new(BTreeMap::new()),
            func: None,
        }
    }

    /// The children, also after a panic elsewhere held the lock (see
    /// [`Registry::lock_families`]).
    fn lock_children(&self) -> MutexGuard<'_, BTreeMap<Vec<String>, Child>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    // The child_* constructors: a name registered first as another type still
    // hands the caller a working metric; it is just not exposed.

    fn child_value(&self, values: &[&str]) -> Arc<AtomicF64> {
        let mut children = self.lock_children();
        match children
            .entry(label_key(values))
            .or_insert_with(|| Child::Value(Arc::default()))
        {
            Child::Value(v) => v.clone(),
            Child::Histogram(_) | Child::Summary(_) => Arc::default(),
        }
    }

    fn child_histogram(&self, values: &[&str]) -> Histogram {
        let mut children = self.lock_children();
        match children
            .entry(label_key(values))
            .or_insert_with(|| Child::Histogram(Histogram::new(&self.buckets)))
        {
            Child::Histogram(h) => h.clone(),
            Child::Value(_) | Child::Summary(_) => Histogram::new(&self.buckets),
        }
    }

    fn summary_opts(&self) -> SummaryOpts {
        self.summary
            .clone()
            .unwrap_or_else(|| SummaryOpts::new(&[]))
    }

    fn child_summary(&self, values: &[&str]) -> Summary {
        let mut children = self.lock_children();
        match children
            .entry(label_key(values))
            .or_insert_with(|| Child::Summary(Summary::new(&self.summary_opts())))
        {
            Child::Summary(s) => s.clone(),
            Child::Value(_) | Child::Histogram(_) => Summary::new(&self.summary_opts()),
        }
    }

    fn remove_child(&self, values: &[&str]) {
        self.lock_children().remove(&label_key(values));
    }

    fn write_header(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(&self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind.as_str());
    }

    /// A family without samples is left out entirely, as client_golang's
    /// gatherer drops empty families (a vec nobody has used yet).
    fn write(&self, out: &mut String) {
        if let Some(f) = &self.func {
            let samples = f();
            if !samples.is_empty() {
                self.write_header(out);
            }
            for (values, v) in &samples {
                self.lines(out, values).sample("", None, *v);
            }
            return;
        }
        let children = self.lock_children();
        if !children.is_empty() {
            self.write_header(out);
        }
        for (values, child) in children.iter() {
            let mut lines = self.lines(out, values);
            match child {
                Child::Value(v) => lines.sample("", None, v.get()),
                Child::Histogram(h) => lines.histogram(h),
                Child::Summary(s) => lines.summary(s),
            }
        }
    }

    fn lines<'a>(&'a self, out: &'a mut String, values: &'a [String]) -> ChildLines<'a> {
        ChildLines {
            out,
            name: &self.name,
            label_names: &self.label_names,
            label_values: values,
        }
    }
}

/// Writes the sample lines of one child: every line carries the family's
/// name and the child's labels; only the suffix, one extra label and the
/// value change from line to line.
struct ChildLines<'a> {
    out: &'a mut String,
    name: &'a str,
    label_names: &'a [String],
    label_values: &'a [String],
}

impl ChildLines<'_> {
    /// Cumulative `_bucket` lines (label `le` last), then `_sum` and `_count`.
    fn histogram(&mut self, h: &Histogram) {
        let core = &h.0;
        let mut cum = 0u64;
        for (b, c) in core.bounds.iter().zip(&core.counts) {
            cum += c.load(Ordering::Relaxed);
            self.sample("_bucket", Some(("le", &format_go_g(*b))), cum as f64);
        }
        let count = core.count.load(Ordering::Relaxed) as f64;
        self.sample("_bucket", Some(("le", "+Inf")), count);
        self.sample("_sum", None, core.sum.get());
        self.sample("_count", None, count);
    }

    /// client_golang's order: one line per quantile (label `quantile` last),
    /// then `_sum` and `_count`.
    fn summary(&mut self, s: &Summary) {
        let snap = s.snapshot();
        for (q, v) in &snap.quantiles {
            self.sample("", Some(("quantile", &format_go_g(*q))), *v);
        }
        self.sample("_sum", None, snap.sum);
        self.sample("_count", None, snap.count as f64);
    }

    /// One sample line; `extra` is the `le` or `quantile` label, written last.
    fn sample(&mut self, suffix: &str, extra: Option<(&str, &str)>, v: f64) {
        let out = &mut *self.out;
        out.push_str(self.name);
        out.push_str(suffix);
        if !self.label_names.is_empty() || extra.is_some() {
            out.push('{');
            let mut first = true;
            for (n, val) in self.label_names.iter().zip(self.label_values) {
                if !first {
                    out.push(',');
                }
                first = false;
                let _ = write!(out, "{}={}", n, escape_label_value(val));
            }
            if let Some((n, val)) = extra {
                if !first {
                    out.push(',');
                }
                let _ = write!(out, "{n}=\"{val}\"");
            }
            out.push('}');
        }
        out.push(' ');
        out.push_str(&format_go_g(v));
        out.push('\n');
    }
}

/// Escapes a label value for the text format (`\\`, `\"`, `\n`).
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Holds metric families and renders them.
#[derive(Default)]
pub struct Registry {
    families: Mutex<BTreeMap<String, Arc<Family>>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The families, also after a panic elsewhere held the lock: a map
    /// changed only by single inserts and removes is never left half done.
    fn lock_families(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Family>>> {
        self.families.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The family registered under `new`'s name, registering `new` when
    /// there is none: registering a name again returns the first family.
    fn family(&self, new: Family) -> Arc<Family> {
        self.lock_families()
            .entry(new.name.clone())
            .or_insert_with(|| Arc::new(new))
            .clone()
    }

    // A metric without labels is the one child of a vec without label names.

    /// A counter without labels. Registering the same name again returns the same counter.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        self.counter_vec(name, help, &[]).with(&[])
    }

    /// A gauge without labels.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.gauge_vec(name, help, &[]).with(&[])
    }

    /// A histogram without labels.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.histogram_vec(name, help, &[], buckets).with(&[])
    }

    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> CounterVec {
        CounterVec(self.family(Family::new(name, help, Kind::Counter, labels)))
    }

    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        GaugeVec(self.family(Family::new(name, help, Kind::Gauge, labels)))
    }

    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> HistogramVec {
        HistogramVec(self.family(Family {
            buckets: buckets.to_vec(),
            ..Family::new(name, help, Kind::Histogram, labels)
        }))
    }

    /// A summary without labels, with upstream's window (10 minutes in 5
    /// age buckets) and these `(quantile, allowed error)` objectives.
    pub fn summary(&self, name: &str, help: &str, objectives: &[(f64, f64)]) -> Summary {
        self.summary_with(name, help, &SummaryOpts::new(objectives))
    }

    /// A summary without labels built from `opts` (e.g. another clock).
    pub fn summary_with(&self, name: &str, help: &str, opts: &SummaryOpts) -> Summary {
        self.summary_vec_with(name, help, &[], opts).with(&[])
    }

    /// Summaries keyed by label values, with upstream's window.
    pub fn summary_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        objectives: &[(f64, f64)],
    ) -> SummaryVec {
        self.summary_vec_with(name, help, labels, &SummaryOpts::new(objectives))
    }

    pub fn summary_vec_with(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        opts: &SummaryOpts,
    ) -> SummaryVec {
        SummaryVec(self.family(Family {
            summary: Some(opts.clone()),
            ..Family::new(name, help, Kind::Summary, labels)
        }))
    }

    /// A gauge family whose samples are computed at scrape time.
    pub fn gauge_func(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        f: impl Fn() -> Vec<(Vec<String>, f64)> + Send + Sync + 'static,
    ) {
        self.register_func(name, help, Kind::Gauge, labels, Box::new(f))
    }

    /// A counter family whose samples are computed at scrape time.
    pub fn counter_func(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        f: impl Fn() -> Vec<(Vec<String>, f64)> + Send + Sync + 'static,
    ) {
        self.register_func(name, help, Kind::Counter, labels, Box::new(f))
    }

    fn register_func(&self, name: &str, help: &str, kind: Kind, labels: &[&str], f: CollectFn) {
        let family = Family {
            func: Some(f),
            ..Family::new(name, help, kind, labels)
        };
        self.lock_families()
            .insert(name.to_string(), Arc::new(family));
    }

    /// Removes a family (e.g. when a component is shut down).
    pub fn unregister(&self, name: &str) {
        self.lock_families().remove(name);
    }

    /// Renders every family in text format 0.0.4, sorted by name.
    pub fn render(&self) -> String {
        let families: Vec<Arc<Family>> = self.lock_families().values().cloned().collect();
        let mut out = String::with_capacity(families.len() * 128);
        for f in families {
            f.write(&mut out);
        }
        out
    }
}

/// Counters keyed by label values.
#[derive(Clone)]
pub struct CounterVec(Arc<Family>);

impl CounterVec {
    pub fn with(&self, values: &[&str]) -> Counter {
        Counter(self.0.child_value(values))
    }
    /// Drops the child with these label values.
    pub fn remove(&self, values: &[&str]) {
        self.0.remove_child(values);
    }
}

/// Gauges keyed by label values.
#[derive(Clone)]
pub struct GaugeVec(Arc<Family>);

impl GaugeVec {
    pub fn with(&self, values: &[&str]) -> Gauge {
        Gauge(self.0.child_value(values))
    }
    pub fn remove(&self, values: &[&str]) {
        self.0.remove_child(values);
    }
}

/// Histograms keyed by label values.
#[derive(Clone)]
pub struct HistogramVec(Arc<Family>);

impl HistogramVec {
    pub fn with(&self, values: &[&str]) -> Histogram {
        self.0.child_histogram(values)
    }
}

/// Summaries keyed by label values.
#[derive(Clone)]
pub struct SummaryVec(Arc<Family>);

impl SummaryVec {
    pub fn with(&self, values: &[&str]) -> Summary {
        self.0.child_summary(values)
    }
    /// Drops the child with these label values.
    pub fn remove(&self, values: &[&str]) {
        self.0.remove_child(values);
    }
}

/// Escapes for `go_quote` re-export convenience in tests.
#[doc(hidden)]
pub fn quote(s: &str) -> String {
    go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let r = Registry::new();
        r.counter("a_total", "An a.").add(3.0);
        let v = r.counter_vec("b_total", "A b.", &["code"]);
        v.with(&["200"]).inc();
        v.with(&["5\"00"]).inc();
        let h = r.histogram("c_seconds", "A c.", &[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(5.0);
        let out = r.render();
        assert!(
            out.contains("# HELP a_total An a.\n# TYPE a_total counter\na_total 3\n"),
            "{out}"
        );
        assert!(out.contains("b_total{code=\"200\"} 1\n"));
        assert!(out.contains("b_total{code=\"5\\\"00\"} 1\n"));
        assert!(out.contains("c_seconds_bucket{le=\"0.1\"} 1\nc_seconds_bucket{le=\"1\"} 2\nc_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(out.contains("c_seconds_sum 5.55\nc_seconds_count 3\n"));
    }

    #[test]
    fn renders_summaries_as_client_golang() {
        let r = Registry::new();
        let s = r.summary("d_seconds", "A d.", LATENCY_OBJECTIVES);
        for v in [1.0, 2.0, 3.0, 4.0] {
            s.observe(v);
        }
        let v = r.summary_vec("e_seconds", "An e.", &["slice"], INTERVAL_OBJECTIVES);
        v.with(&["inner_eval"]).observe(0.25);
        let empty = r.summary_vec("f_seconds", "An f.", &["am"], LATENCY_OBJECTIVES);
        empty.with(&["x"]);
        let out = r.render();
        assert!(
            out.contains(
                "# HELP d_seconds A d.\n# TYPE d_seconds summary\n\
                 d_seconds{quantile=\"0.5\"} 2\nd_seconds{quantile=\"0.9\"} 4\n\
                 d_seconds{quantile=\"0.99\"} 4\nd_seconds_sum 10\nd_seconds_count 4\n"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "e_seconds{slice=\"inner_eval\",quantile=\"0.01\"} 0.25\n\
                 e_seconds{slice=\"inner_eval\",quantile=\"0.05\"} 0.25\n"
            ),
            "{out}"
        );
        assert!(out.contains("e_seconds_sum{slice=\"inner_eval\"} 0.25\n"));
        assert!(
            out.contains(
                "f_seconds{am=\"x\",quantile=\"0.99\"} NaN\nf_seconds_sum{am=\"x\"} 0\n\
                 f_seconds_count{am=\"x\"} 0\n"
            ),
            "{out}"
        );
        empty.remove(&["x"]);
        assert!(!r.render().contains("f_seconds{"));
    }

    /// Pins the whole exposition of every kind of family, labelled and not,
    /// to the byte: what `/metrics` serves must not drift.
    #[test]
    fn renders_every_kind_exactly() {
        let r = Registry::new();
        r.gauge("g", "A gauge.\nTwo lines.").set(-1.5);
        let cv = r.counter_vec("c_total", "Counts.", &["code", "method"]);
        cv.with(&["200", "get"]).add(2.0);
        cv.with(&["500", "put"]).inc();
        cv.remove(&["500", "put"]);
        r.gauge_vec("gv", "Gauges.", &["k"]).with(&["a\\b\n"]).dec();
        let hv = r.histogram_vec("h_seconds", "Times.", &["op"], &[0.5, 1.0]);
        hv.with(&["read"]).observe(0.25);
        hv.with(&["read"]).observe(2.0);
        r.histogram("hn", "Plain.", &[1.0]).observe(1.0);
        let sv = r.summary_vec("s_seconds", "Sums.", &["x"], &[(0.5, 0.05)]);
        sv.with(&["y"]).observe(3.0);
        r.counter_func("f_total", "Computed.", &["src"], || {
            vec![(vec!["a".into()], 4.0), (vec!["b".into()], 5.0)]
        });
        assert_eq!(
            r.render(),
            "# HELP c_total Counts.\n# TYPE c_total counter\n\
             c_total{code=\"200\",method=\"get\"} 2\n\
             # HELP f_total Computed.\n# TYPE f_total counter\n\
             f_total{src=\"a\"} 4\nf_total{src=\"b\"} 5\n\
             # HELP g A gauge.\\nTwo lines.\n# TYPE g gauge\ng -1.5\n\
             # HELP gv Gauges.\n# TYPE gv gauge\ngv{k=\"a\\\\b\\n\"} -1\n\
             # HELP h_seconds Times.\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{op=\"read\",le=\"0.5\"} 1\n\
             h_seconds_bucket{op=\"read\",le=\"1\"} 1\n\
             h_seconds_bucket{op=\"read\",le=\"+Inf\"} 2\n\
             h_seconds_sum{op=\"read\"} 2.25\nh_seconds_count{op=\"read\"} 2\n\
             # HELP hn Plain.\n# TYPE hn histogram\n\
             hn_bucket{le=\"1\"} 1\nhn_bucket{le=\"+Inf\"} 1\nhn_sum 1\nhn_count 1\n\
             # HELP s_seconds Sums.\n# TYPE s_seconds summary\n\
             s_seconds{x=\"y\",quantile=\"0.5\"} 3\n\
             s_seconds_sum{x=\"y\"} 3\ns_seconds_count{x=\"y\"} 1\n"
        );
    }

    #[test]
    fn empty_families_are_left_out() {
        let r = Registry::new();
        let v = r.summary_vec(
            "unused_seconds",
            "Never observed.",
            &["x"],
            LATENCY_OBJECTIVES,
        );
        r.counter_vec("unused_total", "Never incremented.", &["x"]);
        r.gauge_func("unused", "Nothing to report.", &[], Vec::new);
        assert_eq!(r.render(), "");
        v.with(&["a"]);
        assert!(r
            .render()
            .starts_with("# HELP unused_seconds Never observed.\n"));
    }

    #[test]
    fn same_name_same_summary() {
        let r = Registry::new();
        r.summary("s", "h", LATENCY_OBJECTIVES).observe(1.0);
        r.summary("s", "h", LATENCY_OBJECTIVES).observe(2.0);
        assert_eq!(r.summary("s", "h", LATENCY_OBJECTIVES).count(), 2);
    }

    #[test]
    fn same_name_same_counter() {
        let r = Registry::new();
        r.counter("x", "h").inc();
        r.counter("x", "h").inc();
        assert_eq!(r.counter("x", "h").get(), 2.0);
    }

    #[test]
    fn a_name_taken_by_another_type_still_gives_a_working_metric() {
        let r = Registry::new();
        r.counter("x", "h").inc();
        let h = r.histogram("x", "h", &[1.0]);
        h.observe(0.5);
        assert_eq!(h.count(), 1);
        r.summary("x", "h", LATENCY_OBJECTIVES).observe(1.0);
        assert_eq!(r.render(), "# HELP x h\n# TYPE x counter\nx 1\n");
    }

    #[test]
    fn func_family() {
        let r = Registry::new();
        r.gauge_func("g", "h", &["k"], || vec![(vec!["v".into()], 7.0)]);
        assert!(r.render().contains("g{k=\"v\"} 7\n"));
    }
}
