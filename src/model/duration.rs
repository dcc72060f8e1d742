//! Prometheus durations: `1h30m`, `5d`, `1y`, `100ms`, `0`. Units y, w, d, h,
//! m, s, ms, largest first, each at most once, as upstream's
//! `model.ParseDuration`. Values are milliseconds.

use std::fmt;

/// A duration string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(pub String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a valid duration string: {:?}", self.0)
    }
}

impl std::error::Error for DurationError {}

const UNITS: &[(&str, i64)] = &[
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let err = || DurationError(s.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut last_unit = usize::MAX;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(err());
        }
        let n: i64 = s[start..i].parse().map_err(|_| err())?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(err)?;
        // Units must appear largest first and only once.
        if last_unit != usize::MAX && idx <= last_unit {
            return Err(err());
        }
        last_unit = idx;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
    }
    Ok(total)
}

/// Formats milliseconds as upstream's `model.Duration.String()` (`1h30m`, `5m`, `0s`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    for (unit, size) in UNITS {
        // Upstream writes years and weeks only when they divide the rest
        // exactly: `15d`, not `2w1d`; `90d`, not `12w6d`.
        if matches!(*unit, "y" | "w") && rest % size != 0 {
            continue;
        }
        if rest >= *size {
            let n = rest / size;
            rest %= size;
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("5d"), Ok(432_000_000));
        assert_eq!(parse_duration("1y"), Ok(31_536_000_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("1m30s500ms"), Ok(90_500));
        for bad in ["", "1", "m", "1x", "30m1h", "1h1h", "-1s", "1.5h", " 1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_like_upstream() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(1_209_600_000), "2w");
        assert_eq!(format_duration(15_000), "15s");
        assert_eq!(format_duration(1500), "1s500ms");
        assert_eq!(format_duration(15 * 86_400_000), "15d");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(365 * 86_400_000), "1y");
        assert_eq!(format_duration(366 * 86_400_000), "366d");
    }
}
