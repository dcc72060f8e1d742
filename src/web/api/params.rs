//! Parameter parsing shared by the API endpoints, with upstream's messages:
//! timestamps (RFC3339 or Unix seconds with fractions), durations (Prometheus
//! syntax or float seconds) and limits.

use crate::model::civil::{days_from_civil, days_in_month};
use crate::model::duration::parse_duration;

/// Upstream's `MinTime`/`MaxTime` for an absent `start`/`end`: the extreme
/// millisecond timestamps that still fit after conversion through Go's time.
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974;
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974;

/// Parses a timestamp as upstream's `parseTime`: float Unix seconds, or RFC3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            // Round to milliseconds as upstream does (seconds and nanoseconds, then ms).
            // Beyond upstream's MinTime/MaxTime no storage holds data, and
            // time arithmetic in the engine would overflow.
            let ms = (f * 1000.0).round();
            if ms >= MIN_TIME_MS as f64 && ms <= MAX_TIME_MS as f64 {
                return Ok(ms as i64);
            }
        }
    }
    // Upstream accepts the RFC3339 renderings of its own min/max times.
    if s == "0001-01-01T00:00:00Z" || s == "-292273086-05-16T16:47:06Z" {
        return Ok(MIN_TIME_MS);
    }
    if s == "292277025-08-18T07:12:54.999999999Z" {
        return Ok(MAX_TIME_MS);
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a duration as upstream's `parseDuration`: float seconds or Prometheus syntax.
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite()
            || ms >= (i64::MAX / 1_000_000) as f64
            || ms <= (i64::MIN / 1_000_000) as f64
        {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms.round() as i64);
    }
    parse_duration(s).map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

/// Parses `limit` as upstream's `parseLimitParam`: absent or 0 means no limit.
pub fn parse_limit(s: &str) -> Result<usize, String> {
    if s.is_empty() {
        return Ok(0);
    }
    let n: i64 = s
        .parse()
        .map_err(|_| format!("cannot parse {s:?} to a valid limit"))?;
    if n < 0 {
        return Err("limit must be non-negative".to_string());
    }
    Ok(n as usize)
}

/// RFC3339 with optional fractional seconds and a `Z` or `±hh:mm` zone.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T') | Some(b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo)
        || d < 1
        || d > i64::from(days_in_month(y, mo as u32))
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = s.get(start..i)?;
        let mut ms_digits: String = digits.chars().take(3).collect();
        while ms_digits.len() < 3 {
            ms_digits.push('0');
        }
        frac_ms = ms_digits.parse().ok()?;
    }
    let offset_s = match s.get(i..)? {
        "Z" | "z" => 0,
        zone if zone.len() == 6 => {
            let zb = zone.as_bytes();
            let sign = match zb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if zb[3] != b':' {
                return None;
            }
            let zh: i64 = zone.get(1..3)?.parse().ok()?;
            let zm: i64 = zone.get(4..6)?.parse().ok()?;
            sign * (zh * 3600 + zm * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Some(secs * 1000 + frac_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("1435781451").unwrap(), 1_435_781_451_000);
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_time("foo").unwrap_err(),
            "cannot parse \"foo\" to a valid timestamp"
        );
        assert!(parse_time("2015-02-30T00:00:00Z").is_err());
        assert!(parse_time("9223372036854775").is_err());
        assert!(parse_time("-9223372036854775").is_err());
        assert!(parse_time("2015-07-01T20:10:51.Z").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_param("15").unwrap(), 15_000);
        assert_eq!(parse_duration_param("0.5").unwrap(), 500);
        assert_eq!(parse_duration_param("1m30s").unwrap(), 90_000);
        assert_eq!(
            parse_duration_param("x").unwrap_err(),
            "cannot parse \"x\" to a valid duration"
        );
        assert!(parse_duration_param("1e300")
            .unwrap_err()
            .contains("overflows"));
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("").unwrap(), 0);
        assert_eq!(parse_limit("5").unwrap(), 5);
        assert_eq!(parse_limit("-1").unwrap_err(), "limit must be non-negative");
        assert!(parse_limit("x").is_err());
    }
}
