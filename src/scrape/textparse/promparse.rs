//! The Prometheus text format 0.0.4 parser (upstream's `PromParser`).
//!
//! Lenient where upstream is: blank lines, leading and trailing blanks, a
//! trailing comma in a label set, a missing final newline, and any `#` line
//! that is not `HELP`/`TYPE` is a comment. Timestamps are integer milliseconds.

use super::lex::{self, Cursor, SeriesPos};
use super::{Entry, Exemplar, KnownSeries, Lines, MetricType, ParseError, Parser};
use crate::model::Labels;

/// Pull parser over one text-format body.
pub struct PromParser<'a> {
    body: &'a [u8],
    lines: Lines<'a>,
    series: SeriesPos,
    /// `series` holds the current line's labels; false when `next_known`
    /// skipped lexing them (then `labels` lexes the raw bytes).
    series_lexed: bool,
    series_end: (usize, usize),
    value: f64,
    timestamp: Option<i64>,
    meta_name: String,
    meta_text: String,
    metric_type: MetricType,
    comment: (usize, usize),
}

impl<'a> PromParser<'a> {
    pub fn new(body: &'a [u8]) -> PromParser<'a> {
        PromParser {
            body,
            lines: Lines::new(body),
            series: SeriesPos::default(),
            series_lexed: false,
            series_end: (0, 0),
            value: 0.0,
            timestamp: None,
            meta_name: String::new(),
            meta_text: String::new(),
            metric_type: MetricType::Unknown,
            comment: (0, 0),
        }
    }

    fn err(&self, message: String) -> ParseError {
        ParseError {
            line: self.lines.line,
            message,
        }
    }

    fn parse_comment(&mut self, start: usize, end: usize) -> Result<Entry, String> {
        let mut c = Cursor::new(self.body, start, end);
        c.eat(b'#');
        let ws = c.skip_ws();
        let keyword = self.body.get(c.pos..end).unwrap_or(&[]);
        let is_kw = |kw: &[u8]| {
            keyword.starts_with(kw) && matches!(keyword.get(kw.len()), Some(b' ' | b'\t') | None)
        };
        let entry = if ws > 0 && is_kw(b"HELP") {
            Entry::Help
        } else if ws > 0 && is_kw(b"TYPE") {
            Entry::Type
        } else {
            self.comment = (start, end);
            return Ok(Entry::Comment);
        };
        c.pos += 4;
        if c.skip_ws() == 0 {
            return Err(format!(
                "expected metric name after {}, got \"\\n\"",
                if entry == Entry::Help { "HELP" } else { "TYPE" }
            ));
        }
        let (name, escaped) = c.any_metric_name()?;
        self.meta_name = lex::text(self.body, name, escaped).into_owned();
        if !c.at_end() && c.skip_ws() == 0 {
            return Err(format!(
                "expected text after metric name, got {:?}",
                c.token()
            ));
        }
        if entry == Entry::Help {
            let raw = self.body.get(c.pos..end).unwrap_or(&[]);
            self.meta_text = help_unescape(raw);
        } else {
            let word = c.word();
            self.metric_type = match word {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                _ => {
                    return Err(format!(
                        "invalid metric type {:?}",
                        String::from_utf8_lossy(word)
                    ))
                }
            };
            c.skip_ws();
            if !c.at_end() {
                return Err(format!("unexpected text after metric type: {:?}", c.rest()));
            }
        }
        Ok(entry)
    }

    fn parse_series(
        &mut self,
        start: usize,
        end: usize,
        known: Option<&KnownSeries<'_>>,
    ) -> Result<Entry, String> {
        let mut c = Cursor::new(self.body, start, end);
        let known_end = known.and_then(|known| {
            let e = lex::series_end(self.body, start, end)?;
            known(self.body.get(start..e)?).then_some(e)
        });
        match known_end {
            Some(e) => {
                c.pos = e;
                self.series_lexed = false;
            }
            None => {
                c.series(&mut self.series, true)?;
                self.series_lexed = true;
            }
        }
        self.series_end = (start, c.pos);
        c.skip_ws();
        if c.at_end() {
            return Err("expected value after metric, got \"\\n\"".to_string());
        }
        self.value = c.float()?;
        c.skip_ws();
        self.timestamp = None;
        if !c.at_end() {
            let word = c.word();
            let ts = std::str::from_utf8(word)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| format!("invalid timestamp {:?}", String::from_utf8_lossy(word)))?;
            self.timestamp = Some(ts);
            c.skip_ws();
            if !c.at_end() {
                return Err(format!(
                    "expected next entry after timestamp, got {:?}",
                    c.token()
                ));
            }
        }
        Ok(Entry::Series)
    }
}

/// HELP text escapes in the text format: only `\\` and `\n`.
fn help_unescape(raw: &[u8]) -> String {
    if !raw.contains(&b'\\') {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match (raw[i], raw.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(b'n')) => {
                out.push(b'\n');
                i += 2;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl PromParser<'_> {
    fn advance(&mut self, known: Option<&KnownSeries<'_>>) -> Result<Option<Entry>, ParseError> {
        loop {
            let Some((start, end)) = self.lines.next_line() else {
                return Ok(None);
            };
            let mut c = Cursor::new(self.body, start, end);
            c.skip_ws();
            if c.at_end() {
                continue;
            }
            let line_start = c.pos;
            let res = if c.peek() == Some(b'#') {
                self.parse_comment(line_start, end)
            } else {
                self.parse_series(line_start, end, known)
            };
            return res.map(Some).map_err(|m| self.err(m));
        }
    }
}

impl Parser for PromParser<'_> {
    fn next(&mut self) -> Result<Option<Entry>, ParseError> {
        self.advance(None)
    }

    fn next_known(&mut self, known: &dyn Fn(&[u8]) -> bool) -> Result<Option<Entry>, ParseError> {
        self.advance(Some(known))
    }

    fn series(&self) -> (&[u8], Option<i64>, f64) {
        let raw = self
            .body
            .get(self.series_end.0..self.series_end.1)
            .unwrap_or(&[]);
        (raw, self.timestamp, self.value)
    }

    fn labels(&self) -> Labels {
        if self.series_lexed {
            return self.series.to_labels(self.body);
        }
        let (start, end) = self.series_end;
        let mut pos = SeriesPos::default();
        // The bytes passed this parser before (see `next_known`).
        match Cursor::new(self.body, start, end).series(&mut pos, true) {
            Ok(()) => pos.to_labels(self.body),
            Err(_) => Labels::empty(),
        }
    }

    fn exemplar(&self) -> Option<Exemplar> {
        None
    }

    fn help(&self) -> (&str, &str) {
        (&self.meta_name, &self.meta_text)
    }

    fn metric_type(&self) -> (&str, MetricType) {
        (&self.meta_name, self.metric_type)
    }

    fn unit(&self) -> (&str, &str) {
        (&self.meta_name, "")
    }

    fn comment(&self) -> &[u8] {
        self.body.get(self.comment.0..self.comment.1).unwrap_or(&[])
    }
}
