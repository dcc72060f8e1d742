//! Exposition-format parsers, as upstream's `model/textparse`: the Prometheus
//! text format 0.0.4 (`PromParser`) and OpenMetrics 1.0 text
//! (`OpenMetricsParser`), both pull parsers over a whole scrape body.
//!
//! `next()` yields one entry per line. For a series the raw series bytes
//! (metric name and label set, exactly as exposed) are available without
//! building a label set, so the scrape cache can look a series up by those
//! bytes; `labels()` builds the `Labels` only when asked. Protobuf and native
//! histograms are not parsed here.

mod lex;
mod openmetrics;
mod promparse;

use std::fmt;

use crate::model::Labels;

pub use openmetrics::OpenMetricsParser;
pub use promparse::PromParser;

/// What the last `next()` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `# TYPE`: see `Parser::metric_type`.
    Type,
    /// `# HELP`: see `Parser::help`.
    Help,
    /// `# UNIT` (OpenMetrics only): see `Parser::unit`.
    Unit,
    /// Any other comment line (text format only): see `Parser::comment`.
    Comment,
    /// A sample line: see `Parser::series`, `Parser::labels`, `Parser::exemplar`.
    Series,
}

/// Metric family types of both formats, with upstream's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    Stateset,
    Unknown,
}

impl MetricType {
    /// The name as the metadata API prints it.
    pub fn as_str(&self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OpenMetrics exemplar attached to a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds, when the exemplar carries a timestamp.
    pub timestamp: Option<i64>,
}

/// A syntax error in a scrape body, with its 1-based line number.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {})", self.message, self.line)
    }
}

impl std::error::Error for ParseError {}

/// Accepts raw series bytes that passed the parser before (see
/// `Parser::next_known`).
pub type KnownSeries<'a> = dyn Fn(&[u8]) -> bool + 'a;

/// The pull-parser interface both formats implement.
pub trait Parser {
    /// Advances to the next entry; `Ok(None)` at the end of a valid body.
    fn next(&mut self) -> Result<Option<Entry>, ParseError>;

    /// Like `next`, but a sample line whose raw series bytes `known` accepts
    /// is not lexed label by label: `known` must accept only bytes this
    /// parser returned from `series` before (the scrape cache's keys), which
    /// are valid, so checking them again would find nothing new. `labels`
    /// still works for such a line. The text format uses this; others lex
    /// every line.
    fn next_known(&mut self, known: &dyn Fn(&[u8]) -> bool) -> Result<Option<Entry>, ParseError> {
        let _ = known;
        self.next()
    }

    /// For `Entry::Series`: the raw series bytes (name and label set), the
    /// timestamp in milliseconds if the line has one, and the value.
    fn series(&self) -> (&[u8], Option<i64>, f64);

    /// For `Entry::Series`: the label set, `__name__` included.
    fn labels(&self) -> Labels;

    /// For `Entry::Series`: the exemplar, if the line has one (OpenMetrics).
    fn exemplar(&self) -> Option<Exemplar>;

    /// For `Entry::Help`: metric family name and unescaped help text.
    fn help(&self) -> (&str, &str);

    /// For `Entry::Type`: metric family name and type.
    fn metric_type(&self) -> (&str, MetricType);

    /// For `Entry::Unit`: metric family name and unit.
    fn unit(&self) -> (&str, &str);

    /// For `Entry::Comment`: the whole comment line.
    fn comment(&self) -> &[u8];
}

/// Which text protocol a body is in, for `fallback_scrape_protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    PrometheusText,
    OpenMetrics,
}

impl Format {
    /// Maps upstream's `fallback_scrape_protocol` names.
    pub fn from_protocol(name: &str) -> Option<Format> {
        match name {
            "PrometheusText0.0.4" | "PrometheusText1.0.0" => Some(Format::PrometheusText),
            "OpenMetricsText0.0.1" | "OpenMetricsText1.0.0" => Some(Format::OpenMetrics),
            _ => None,
        }
    }
}

/// Why no parser could be chosen for a response.
#[derive(Clone, Debug, PartialEq)]
pub enum ContentTypeError {
    /// Blank `Content-Type` and no fallback.
    Blank,
    /// A media type promlite does not parse and no fallback.
    Unsupported(String),
}

impl fmt::Display for ContentTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentTypeError::Blank => f.write_str(
                "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target",
            ),
            ContentTypeError::Unsupported(ct) => write!(
                f,
                "received unsupported Content-Type {ct:?} and no fallback_scrape_protocol specified for target"
            ),
        }
    }
}

impl std::error::Error for ContentTypeError {}

/// The format a `Content-Type` header names, if promlite parses it.
pub fn format_of(content_type: &str) -> Option<Format> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/openmetrics-text" => Some(Format::OpenMetrics),
        "text/plain" => Some(Format::PrometheusText),
        _ => None,
    }
}

/// Picks the parser for a response as upstream's `textparse.New` does:
/// OpenMetrics for `application/openmetrics-text`, the text format for
/// `text/plain`, otherwise the fallback protocol, otherwise an error.
pub fn new_parser_with_fallback<'a>(
    content_type: &str,
    body: &'a [u8],
    fallback: Option<Format>,
) -> Result<Box<dyn Parser + 'a>, ContentTypeError> {
    let format = match format_of(content_type) {
        Some(f) => f,
        None => match fallback {
            Some(f) => f,
            None if content_type.trim().is_empty() => return Err(ContentTypeError::Blank),
            None => return Err(ContentTypeError::Unsupported(content_type.to_string())),
        },
    };
    Ok(match format {
        Format::OpenMetrics => Box::new(OpenMetricsParser::new(body)),
        Format::PrometheusText => Box::new(PromParser::new(body)),
    })
}

/// The labels of raw series bytes as `Parser::series` returned them (name
/// and label set, no value). The scrape cache keeps only those bytes per
/// series and rebuilds labels from them on its rare paths. Both text formats
/// share this syntax; the trailing comma only the text format allows is
/// accepted since the bytes already passed their format's parser.
pub fn series_labels(raw: &[u8]) -> Result<Labels, String> {
    let mut c = lex::Cursor::new(raw, 0, raw.len());
    let mut pos = lex::SeriesPos::default();
    c.series(&mut pos, true)?;
    c.skip_ws();
    if !c.at_end() {
        return Err(format!("unexpected {:?} after the series", c.token()));
    }
    Ok(pos.to_labels(raw))
}

/// `new_parser_with_fallback` with the text format as the fallback, which is
/// what a target without a `Content-Type` most likely sends.
pub fn new_parser<'a>(content_type: &str, body: &'a [u8]) -> Box<dyn Parser + 'a> {
    match format_of(content_type) {
        Some(Format::OpenMetrics) => Box::new(OpenMetricsParser::new(body)),
        _ => Box::new(PromParser::new(body)),
    }
}

/// Splits a body into lines, tracking 1-based line numbers. A missing final
/// newline is fine; a `\r` before `\n` is kept in the line (upstream does not
/// strip it either, and it then fails as an invalid value).
pub(crate) struct Lines<'a> {
    body: &'a [u8],
    pos: usize,
    pub line: usize,
}

impl<'a> Lines<'a> {
    pub fn new(body: &'a [u8]) -> Lines<'a> {
        Lines {
            body,
            pos: 0,
            line: 0,
        }
    }

    /// The next line as `(start, end)` offsets, the newline excluded.
    pub fn next_line(&mut self) -> Option<(usize, usize)> {
        if self.pos >= self.body.len() {
            return None;
        }
        let start = self.pos;
        let end = match self
            .body
            .get(start..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        {
            Some(off) => start + off,
            None => self.body.len(),
        };
        self.pos = end + 1;
        self.line += 1;
        Some((start, end))
    }

    /// Whether only the end (or nothing) follows.
    pub fn at_end(&self) -> bool {
        self.pos >= self.body.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_labels_match_the_parser() {
        let body = "a_b{x=\"1\",y=\"q\\\"\\n\"} 1\n{\"odd.name\",z=\"2\",} 2\nplain 3 1000\n";
        for mut p in [
            new_parser("text/plain", body.as_bytes()),
            new_parser("application/openmetrics-text", b"m{a=\"b\"} 1\n# EOF\n"),
        ] {
            let mut n = 0;
            while let Ok(Some(e)) = p.next() {
                if e != Entry::Series {
                    continue;
                }
                n += 1;
                let (raw, _, _) = p.series();
                assert_eq!(series_labels(raw), Ok(p.labels()), "{raw:?}");
            }
            assert!(n > 0);
        }
        assert!(series_labels(b"").is_err());
        assert!(series_labels(b"m{a=\"b\"} 1").is_err());
    }

    /// Every series, parsed once by `next` and once more by `next_known`
    /// accepting all the raw bytes seen: same entries, bytes, values and labels.
    #[test]
    fn next_known_skips_lexing_but_answers_the_same() {
        let body =
            "# TYPE a_b counter\na_b{x=\"1\",y=\"q\\\"}{\\n\"} 1\n{\"odd.name\",z=\"}\",} 2\n\
                    plain 3 1000\n  c{} 4\nd{e=\"f\"}5\n";
        let mut first = Vec::new();
        let mut p = new_parser("text/plain", body.as_bytes());
        while let Ok(Some(e)) = p.next() {
            if e == Entry::Series {
                let (raw, ts, v) = p.series();
                first.push((raw.to_vec(), ts, v, p.labels()));
            }
        }
        assert_eq!(first.len(), 5);
        let known: std::collections::HashSet<Vec<u8>> = first.iter().map(|s| s.0.clone()).collect();
        let mut again = Vec::new();
        let mut p = new_parser("text/plain", body.as_bytes());
        while let Ok(Some(e)) = p.next_known(&|raw| known.contains(raw)) {
            if e == Entry::Series {
                let (raw, ts, v) = p.series();
                again.push((raw.to_vec(), ts, v, p.labels()));
            }
        }
        assert_eq!(first, again);
        // Unknown bytes are still checked.
        let mut p = new_parser("text/plain", b"m{a=1} 1\n");
        assert!(p.next_known(&|_| false).is_err());
    }

    #[test]
    fn content_type_negotiation() {
        let ok: &[(&str, Option<Format>)] = &[
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Some(Format::OpenMetrics),
            ),
            ("text/plain; version=0.0.4", Some(Format::PrometheusText)),
            ("TEXT/PLAIN", Some(Format::PrometheusText)),
            ("application/json", None),
            ("", None),
        ];
        for (ct, want) in ok {
            assert_eq!(format_of(ct), *want, "{ct}");
        }
        assert!(matches!(
            new_parser_with_fallback("", b"", None),
            Err(ContentTypeError::Blank)
        ));
        assert!(matches!(
            new_parser_with_fallback("application/vnd.google.protobuf", b"", None),
            Err(ContentTypeError::Unsupported(_))
        ));
        assert!(new_parser_with_fallback("", b"a 1\n", Some(Format::PrometheusText)).is_ok());
    }
}
