//! The byte-level pieces both exposition formats share: names (bare or
//! quoted), label sets with escaping, floats and the series part of a sample
//! line. Positions are kept as byte ranges into the body so a parser can hand
//! out the raw series bytes without building a label set.

use std::borrow::Cow;
use std::ops::Range;

use crate::model::labels::METRIC_NAME;
use crate::model::{Label, Labels};

/// Where one label of the current series sits in the body.
#[derive(Clone, Debug, Default)]
pub(crate) struct LabelPos {
    pub name: Range<usize>,
    pub value: Range<usize>,
    /// The name was quoted and contains a backslash escape.
    pub name_escaped: bool,
    pub value_escaped: bool,
}

/// The metric name and labels of one series (or exemplar) as byte ranges.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeriesPos {
    pub name: Range<usize>,
    pub name_escaped: bool,
    pub labels: Vec<LabelPos>,
}

impl SeriesPos {
    pub fn clear(&mut self) {
        self.name = 0..0;
        self.name_escaped = false;
        self.labels.clear();
    }

    /// Builds the label set, `__name__` included when the series has a name.
    pub fn to_labels(&self, body: &[u8]) -> Labels {
        let mut out = Vec::with_capacity(self.labels.len() + 1);
        if !self.name.is_empty() {
            out.push(Label::new(
                METRIC_NAME,
                text(body, self.name.clone(), self.name_escaped).into_owned(),
            ));
        }
        for l in &self.labels {
            out.push(Label::new(
                text(body, l.name.clone(), l.name_escaped).into_owned(),
                text(body, l.value.clone(), l.value_escaped).into_owned(),
            ));
        }
        Labels::new(out)
    }
}

/// The text of a range, unescaped when it holds escapes. Invalid UTF-8 is
/// replaced rather than rejected: the cursor already checked the syntax.
pub(crate) fn text(body: &[u8], r: Range<usize>, escaped: bool) -> Cow<'_, str> {
    let raw = body.get(r).unwrap_or(&[]);
    if escaped {
        Cow::Owned(unescape(raw))
    } else {
        String::from_utf8_lossy(raw)
    }
}

/// Resolves `\\`, `\"` and `\n`; any other escaped byte stands for itself
/// preceded by the backslash, as upstream's `lvalReplacer` leaves it.
pub(crate) fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'\\' => out.push(b'\\'),
                b'"' => out.push(b'"'),
                b'n' => out.push(b'\n'),
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the series part of a sample line starting at `start` ends, found
/// without checking it: after a run of metric-name bytes, or, when a label
/// set follows, after the line's last `}`. Neither the value nor the
/// timestamp can hold a `}`, so for a valid line this is exactly where
/// `Cursor::series` ends, and it costs a scan of the name and of the few
/// bytes after the label set instead of every label. `None` when a label
/// set is not closed.
pub(crate) fn series_end(body: &[u8], start: usize, end: usize) -> Option<usize> {
    let line = body.get(start..end)?;
    let name = line
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':'))
        .unwrap_or(line.len());
    if line.get(name) != Some(&b'{') {
        return Some(start + name);
    }
    let close = line.iter().rposition(|&b| b == b'}')?;
    (close > name).then_some(start + close + 1)
}

/// A position inside one line of the body. Every method stops at the end of
/// the line, so an error never reads past it.
pub(crate) struct Cursor<'a> {
    pub body: &'a [u8],
    pub pos: usize,
    pub end: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(body: &'a [u8], start: usize, end: usize) -> Cursor<'a> {
        Cursor {
            body,
            pos: start,
            end,
        }
    }

    pub fn peek(&self) -> Option<u8> {
        if self.pos < self.end {
            self.body.get(self.pos).copied()
        } else {
            None
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// Skips blanks; returns how many were skipped.
    pub fn skip_ws(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The rest of the line from the cursor, for error messages.
    pub fn rest(&self) -> String {
        let r = self.body.get(self.pos..self.end).unwrap_or(&[]);
        String::from_utf8_lossy(r).into_owned()
    }

    /// The next whitespace-delimited token, for error messages.
    pub fn token(&self) -> String {
        let mut e = self.pos;
        while e < self.end && !matches!(self.body.get(e), Some(b' ' | b'\t') | None) {
            e += 1;
        }
        let r = self.body.get(self.pos..e).unwrap_or(&[]);
        if r.is_empty() {
            "\\n".to_string()
        } else {
            String::from_utf8_lossy(r).into_owned()
        }
    }

    /// A bare metric name `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub fn metric_name(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => self.pos += 1,
            _ => return None,
        }
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            self.pos += 1;
        }
        Some(start..self.pos)
    }

    /// A bare label name `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub fn label_name(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.pos += 1,
            _ => return None,
        }
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        Some(start..self.pos)
    }

    /// A double-quoted string; the cursor is on the opening quote. Returns the
    /// content range and whether it holds escapes.
    pub fn quoted(&mut self) -> Result<(Range<usize>, bool), String> {
        if !self.eat(b'"') {
            return Err(format!("expected quoted string, got {:?}", self.token()));
        }
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string".to_string()),
                Some(b'"') => {
                    let r = start..self.pos;
                    self.pos += 1;
                    if std::str::from_utf8(self.body.get(r.clone()).unwrap_or(&[])).is_err() {
                        return Err("invalid UTF-8 in quoted string".to_string());
                    }
                    return Ok((r, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    if self.at_end() {
                        return Err("unterminated quoted string".to_string());
                    }
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// A metric name, bare or quoted (UTF-8 names, upstream 3.x), as used
    /// after `# HELP`/`# TYPE`/`# UNIT`.
    pub fn any_metric_name(&mut self) -> Result<(Range<usize>, bool), String> {
        if self.peek() == Some(b'"') {
            return self.quoted();
        }
        match self.metric_name() {
            Some(r) => Ok((r, false)),
            None => Err(format!("expected metric name, got {:?}", self.token())),
        }
    }

    /// The series part of a sample line: `name`, `name{...}` or `{"name", ...}`.
    /// Fills `out`; the cursor ends after the series.
    pub fn series(
        &mut self,
        out: &mut SeriesPos,
        allow_trailing_comma: bool,
    ) -> Result<(), String> {
        out.clear();
        if let Some(r) = self.metric_name() {
            out.name = r;
        } else if self.peek() != Some(b'{') {
            return Err(format!("{:?} is not a valid start token", self.token()));
        }
        if self.eat(b'{') {
            self.label_set(out, allow_trailing_comma)?;
        }
        if out.name.is_empty() {
            return Err("metric name is missing".to_string());
        }
        Ok(())
    }

    /// The inside of `{...}` after the opening brace.
    pub fn label_set(
        &mut self,
        out: &mut SeriesPos,
        allow_trailing_comma: bool,
    ) -> Result<(), String> {
        let mut first = true;
        loop {
            self.skip_ws();
            if self.eat(b'}') {
                return Ok(());
            }
            if !first {
                if !self.eat(b',') {
                    return Err(format!(
                        "expected comma or closing brace in label set, got {:?}",
                        self.token()
                    ));
                }
                self.skip_ws();
                if self.eat(b'}') {
                    if allow_trailing_comma {
                        return Ok(());
                    }
                    return Err("unexpected trailing comma in label set".to_string());
                }
            }
            first = false;
            let (name, name_escaped) = if self.peek() == Some(b'"') {
                let (r, e) = self.quoted()?;
                self.skip_ws();
                if matches!(self.peek(), Some(b',' | b'}')) {
                    // A quoted string without `=` is the metric name (3.x UTF-8 names).
                    if !out.name.is_empty() {
                        return Err("metric name given twice".to_string());
                    }
                    if r.is_empty() {
                        return Err("metric name is empty".to_string());
                    }
                    out.name = r;
                    out.name_escaped = e;
                    continue;
                }
                (r, e)
            } else {
                match self.label_name() {
                    Some(r) => (r, false),
                    None => {
                        return Err(format!(
                            "expected label name or closing brace, got {:?}",
                            self.token()
                        ))
                    }
                }
            };
            self.skip_ws();
            if !self.eat(b'=') {
                return Err(format!(
                    "expected equal sign after label name, got {:?}",
                    self.token()
                ));
            }
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(format!("expected label value, got {:?}", self.token()));
            }
            let (value, value_escaped) = self.quoted()?;
            let raw_name = self.body.get(name.clone()).unwrap_or(&[]);
            if raw_name == METRIC_NAME.as_bytes() {
                return Err("label name \"__name__\" is not allowed in a label set".to_string());
            }
            if out
                .labels
                .iter()
                .any(|l| self.body.get(l.name.clone()).unwrap_or(&[]) == raw_name)
            {
                return Err(format!(
                    "duplicate label name {:?}",
                    String::from_utf8_lossy(raw_name)
                ));
            }
            out.labels.push(LabelPos {
                name,
                value,
                name_escaped,
                value_escaped,
            });
        }
    }

    /// A whitespace-delimited float token.
    pub fn float(&mut self) -> Result<f64, String> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b != b' ' && b != b'\t') {
            self.pos += 1;
        }
        let raw = self.body.get(start..self.pos).unwrap_or(&[]);
        parse_float(raw).ok_or_else(|| {
            if raw.is_empty() {
                "expected value, got \"\\n\"".to_string()
            } else {
                format!("invalid value {:?}", String::from_utf8_lossy(raw))
            }
        })
    }

    /// A whitespace-delimited token for a timestamp, raw.
    pub fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b != b' ' && b != b'\t') {
            self.pos += 1;
        }
        self.body.get(start..self.pos).unwrap_or(&[])
    }
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts it in
/// expositions: decimal and exponent forms, `NaN`, `Inf`/`+Inf`/`-Inf`
/// (any case). Underscores and hex floats are refused, as upstream does.
pub(crate) fn parse_float(raw: &[u8]) -> Option<f64> {
    // Plain decimal and exponent forms are the common case: digits, sign,
    // point and exponent marker only, which Rust parses as Go does.
    if !raw.is_empty()
        && raw
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return std::str::from_utf8(raw).ok()?.parse::<f64>().ok();
    }
    let (sign, rest) = match raw.first() {
        Some(b'+') => (1.0, raw.get(1..)?),
        Some(b'-') => (-1.0, raw.get(1..)?),
        _ => (1.0, raw),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(sign * f64::INFINITY);
    }
    // Go accepts a signed NaN too.
    if rest.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    // Anything else (underscores, hex floats, words) is refused, as upstream.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_end_matches_the_cursor() {
        let lines: &[&[u8]] = &[
            b"m 1",
            b"m{} 1",
            b"m{a=\"}\"} 1",
            b"m{a=\"x\\\"}\",b=\"\\\\\"} 1",
            b"{\"odd.name\",a=\"b\",} 1",
            b"m:x_1{a=\"b\"}1",
        ];
        for line in lines {
            let mut c = Cursor::new(line, 0, line.len());
            let mut pos = SeriesPos::default();
            c.series(&mut pos, true).unwrap();
            assert_eq!(series_end(line, 0, line.len()), Some(c.pos), "{line:?}");
        }
        assert_eq!(series_end(b"m{a=\"b", 0, 6), None);
        assert_eq!(series_end(b"m{a=\"b\\", 0, 8), None);
        // Not valid lines: only where `next_known` would look.
        assert_eq!(series_end(b"m{a=\"b\"} 1 }", 0, 12), Some(12));
        assert_eq!(series_end(b"m x", 0, 3), Some(1));
    }

    #[test]
    fn floats_as_go_parses_them() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("-1.5e3", Some(-1500.0)),
            ("1E-3", Some(0.001)),
            ("+Inf", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("Inf", Some(f64::INFINITY)),
            ("1_000", None),
            ("0x10", None),
            ("abc", None),
            ("", None),
            ("1.", Some(1.0)),
            (".5", Some(0.5)),
        ];
        for (s, want) in cases {
            assert_eq!(parse_float(s.as_bytes()), *want, "{s}");
        }
        assert!(parse_float(b"NaN").is_some_and(f64::is_nan));
    }

    #[test]
    fn unescapes_known_sequences_only() {
        assert_eq!(unescape(br#"a\\b\"c\nd\te"#), "a\\b\"c\nd\\te");
    }
}
