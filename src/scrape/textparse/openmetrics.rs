//! The OpenMetrics 1.0 text parser (upstream's `OpenMetricsParser`).
//!
//! Stricter than the text format, as the spec and upstream are: the body must
//! end with `# EOF` and nothing may follow it, blank lines and free comments
//! are errors, timestamps are float seconds. `# UNIT` and exemplars
//! (`value [ts] # {labels} value [ts]`) are parsed; `_created` series are
//! ordinary series here (upstream ingests them unless created-timestamp
//! ingestion is on).

use super::lex::{self, Cursor, SeriesPos};
use super::{Entry, Exemplar, Lines, MetricType, ParseError, Parser};
use crate::model::Labels;

/// Pull parser over one OpenMetrics body.
pub struct OpenMetricsParser<'a> {
    body: &'a [u8],
    lines: Lines<'a>,
    series: SeriesPos,
    series_end: (usize, usize),
    value: f64,
    timestamp: Option<i64>,
    exemplar: Option<(SeriesPos, f64, Option<i64>)>,
    meta_name: String,
    meta_text: String,
    metric_type: MetricType,
    seen_eof: bool,
}

impl<'a> OpenMetricsParser<'a> {
    pub fn new(body: &'a [u8]) -> OpenMetricsParser<'a> {
        OpenMetricsParser {
            body,
            lines: Lines::new(body),
            series: SeriesPos::default(),
            series_end: (0, 0),
            value: 0.0,
            timestamp: None,
            exemplar: None,
            meta_name: String::new(),
            meta_text: String::new(),
            metric_type: MetricType::Unknown,
            seen_eof: false,
        }
    }

    fn err(&self, message: String) -> ParseError {
        ParseError {
            line: self.lines.line,
            message,
        }
    }

    /// `# EOF`, `# HELP`, `# TYPE` or `# UNIT`; `Ok(None)` for EOF.
    fn parse_meta(&mut self, start: usize, end: usize) -> Result<Option<Entry>, String> {
        let line = self.body.get(start..end).unwrap_or(&[]);
        if line == b"# EOF" {
            return Ok(None);
        }
        let entry = if line.starts_with(b"# HELP ") {
            Entry::Help
        } else if line.starts_with(b"# TYPE ") {
            Entry::Type
        } else if line.starts_with(b"# UNIT ") {
            Entry::Unit
        } else {
            return Err(format!(
                "expected HELP, TYPE, UNIT or EOF after \"# \", got {:?}",
                String::from_utf8_lossy(line)
            ));
        };
        let mut c = Cursor::new(self.body, start + 7, end);
        let (name, escaped) = c.any_metric_name()?;
        self.meta_name = lex::text(self.body, name, escaped).into_owned();
        if !c.at_end() && !c.eat(b' ') {
            return Err(format!(
                "expected text after metric name, got {:?}",
                c.token()
            ));
        }
        let rest = self.body.get(c.pos..end).unwrap_or(&[]);
        match entry {
            Entry::Help => self.meta_text = lex::unescape(rest),
            Entry::Unit => {
                let unit = String::from_utf8_lossy(rest).into_owned();
                if !unit.is_empty() && !self.meta_name.ends_with(&format!("_{unit}")) {
                    return Err(format!(
                        "unit {unit:?} not a suffix of metric {:?}",
                        self.meta_name
                    ));
                }
                self.meta_text = unit;
            }
            _ => {
                self.metric_type = match rest {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::Stateset,
                    b"unknown" => MetricType::Unknown,
                    _ => {
                        return Err(format!(
                            "invalid metric type {:?}",
                            String::from_utf8_lossy(rest)
                        ))
                    }
                }
            }
        }
        Ok(Some(entry))
    }

    fn parse_series(&mut self, start: usize, end: usize) -> Result<Entry, String> {
        let mut c = Cursor::new(self.body, start, end);
        c.series(&mut self.series, false)?;
        self.series_end = (start, c.pos);
        if !c.eat(b' ') {
            return Err(format!("expected value after metric, got {:?}", c.token()));
        }
        self.value = c.float()?;
        self.timestamp = None;
        self.exemplar = None;
        if c.at_end() {
            return Ok(Entry::Series);
        }
        if !c.eat(b' ') {
            return Err(format!(
                "expected timestamp or # symbol, got {:?}",
                c.token()
            ));
        }
        if c.peek() != Some(b'#') {
            self.timestamp = Some(om_timestamp(c.word())?);
            if c.at_end() {
                return Ok(Entry::Series);
            }
            if !c.eat(b' ') {
                return Err(format!(
                    "expected next entry after timestamp, got {:?}",
                    c.token()
                ));
            }
        }
        if !(c.eat(b'#') && c.eat(b' ') && c.eat(b'{')) {
            return Err(format!(
                "expected exemplar \"# {{...}}\" after sample, got {:?}",
                c.rest()
            ));
        }
        let mut ex = SeriesPos::default();
        c.label_set(&mut ex, false)?;
        if !ex.name.is_empty() {
            return Err("exemplar labels must not hold a metric name".to_string());
        }
        // The spec caps names and values together at 128 UTF-8 characters.
        let runes: usize = ex
            .labels
            .iter()
            .map(|l| {
                let len = |r: std::ops::Range<usize>| {
                    std::str::from_utf8(self.body.get(r).unwrap_or(&[]))
                        .map_or(0, |s| s.chars().count())
                };
                len(l.name.clone()) + len(l.value.clone())
            })
            .sum();
        if runes > MAX_EXEMPLAR_RUNES {
            return Err(format!(
                "exemplar labels have {runes} runes, exceeding the limit of {MAX_EXEMPLAR_RUNES}"
            ));
        }
        if !c.eat(b' ') {
            return Err(format!("expected exemplar value, got {:?}", c.token()));
        }
        let value = c.float()?;
        let mut ts = None;
        if c.eat(b' ') {
            ts = Some(om_timestamp(c.word())?);
        }
        if !c.at_end() {
            return Err(format!("unexpected text after exemplar: {:?}", c.rest()));
        }
        self.exemplar = Some((ex, value, ts));
        Ok(Entry::Series)
    }
}

/// The OpenMetrics limit on an exemplar's label names and values together.
const MAX_EXEMPLAR_RUNES: usize = 128;

/// OpenMetrics timestamps are float seconds; storage wants milliseconds.
fn om_timestamp(raw: &[u8]) -> Result<i64, String> {
    match lex::parse_float(raw) {
        Some(v) if v.is_finite() => Ok((v * 1000.0).round() as i64),
        _ => Err(format!(
            "invalid timestamp {:?}",
            String::from_utf8_lossy(raw)
        )),
    }
}

impl Parser for OpenMetricsParser<'_> {
    fn next(&mut self) -> Result<Option<Entry>, ParseError> {
        if self.seen_eof {
            return Ok(None);
        }
        let Some((start, end)) = self.lines.next_line() else {
            return Err(self.err("data does not end with # EOF".to_string()));
        };
        let line = self.body.get(start..end).unwrap_or(&[]);
        let res = match line.first() {
            None => Err("unexpected empty line".to_string()),
            Some(b'#') => match self.parse_meta(start, end) {
                Ok(None) => {
                    self.seen_eof = true;
                    if !self.lines.at_end() {
                        return Err(self.err("unexpected data after # EOF".to_string()));
                    }
                    return Ok(None);
                }
                Ok(Some(e)) => Ok(e),
                Err(e) => Err(e),
            },
            Some(_) => self.parse_series(start, end),
        };
        res.map(Some).map_err(|m| self.err(m))
    }

    fn series(&self) -> (&[u8], Option<i64>, f64) {
        let raw = self
            .body
            .get(self.series_end.0..self.series_end.1)
            .unwrap_or(&[]);
        (raw, self.timestamp, self.value)
    }

    fn labels(&self) -> Labels {
        self.series.to_labels(self.body)
    }

    fn exemplar(&self) -> Option<Exemplar> {
        self.exemplar.as_ref().map(|(pos, value, ts)| Exemplar {
            labels: pos.to_labels(self.body),
            value: *value,
            timestamp: *ts,
        })
    }

    fn help(&self) -> (&str, &str) {
        (&self.meta_name, &self.meta_text)
    }

    fn metric_type(&self) -> (&str, MetricType) {
        (&self.meta_name, self.metric_type)
    }

    fn unit(&self) -> (&str, &str) {
        (&self.meta_name, &self.meta_text)
    }

    fn comment(&self) -> &[u8] {
        &[]
    }
}
