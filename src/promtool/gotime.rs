//! Time stamps as promtool reads and prints them: `parseTime` (a Unix
//! timestamp in float seconds or RFC 3339), the API's float-seconds form,
//! Go's `time.ParseDuration` for duration flags, and the civil-date
//! conversions the human-readable listings need.

use crate::model::civil::{civil_from_days, days_from_civil};
use crate::model::value::format_go_f;

/// A point in time with nanosecond precision, as Go's `time.Time` keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    /// Nanoseconds since the Unix epoch.
    pub nanos: i128,
}

impl Instant {
    pub fn now() -> Instant {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Instant {
            nanos: d.as_nanos() as i128,
        }
    }

    pub fn add_nanos(self, n: i128) -> Instant {
        Instant {
            nanos: self.nanos + n,
        }
    }

    /// Seconds as the API takes them: Go's `formatTime`,
    /// `FormatFloat(unix + nsec/1e9, 'f', -1, 64)`.
    pub fn api_param(self) -> String {
        let secs = self.nanos.div_euclid(1_000_000_000);
        let nsec = self.nanos.rem_euclid(1_000_000_000);
        format_go_f(secs as f64 + nsec as f64 / 1e9)
    }
}

/// promtool's `parseTime`: float seconds first, then RFC 3339.
pub fn parse_time(s: &str) -> Result<Instant, String> {
    if let Some(t) = parse_go_float(s) {
        let whole = t.trunc();
        let frac = t - whole;
        return Ok(Instant {
            nanos: whole as i128 * 1_000_000_000 + (frac * 1e9) as i128,
        });
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// A `--start`/`--end` pair as the range commands take it: `end` is parsed
/// first (or is `default_end()`), then `start` (or `default_start(end)`),
/// and start must come before end. Errors are the messages promtool prints.
pub fn parse_time_range(
    start: Option<&str>,
    end: Option<&str>,
    default_end: impl FnOnce() -> Instant,
    default_start: impl FnOnce(Instant) -> Instant,
) -> Result<(Instant, Instant), String> {
    let end = match end {
        None => default_end(),
        Some(t) => parse_time(t).map_err(|e| format!("error parsing end time: {e}"))?,
    };
    let start = match start {
        None => default_start(end),
        Some(t) => parse_time(t).map_err(|e| format!("error parsing start time: {e}"))?,
    };
    if start >= end {
        return Err("start time is not before end time".into());
    }
    Ok((start, end))
}

/// Go's `time.ParseDuration` in nanoseconds: an optional sign, then one or
/// more decimal numbers (fractions allowed) each with a unit of `ns`, `us`
/// (`µs`), `ms`, `s`, `m` or `h` (`1h30m`, `1.5h`, `300ms`); `0` alone.
/// Errors read as Go's.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let invalid = || {
        format!(
            "time: invalid duration {}",
            crate::model::labels::go_quote(s)
        )
    };
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(digits);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(n)
            }
            None => ("", after),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    crate::model::labels::go_quote(s)
                ))
            }
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::model::labels::go_quote(other),
                    crate::model::labels::go_quote(s)
                ))
            }
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        // The fraction is scaled digit by digit, dropping what is below 1ns.
        let mut place = scale;
        for d in frac.bytes() {
            place /= 10;
            value += u128::from(d - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        rest = next;
    }
    let total = i64::try_from(total).map_err(|_| invalid())?;
    Ok(if neg { -total } else { total })
}

/// Go's `ParseFloat` accepts what Rust's does, minus some spellings of
/// infinity Rust alone knows; neither gives a usable time, so refuse both.
fn parse_go_float(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn parse_rfc3339(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let sep = |at: usize, c: u8| b.get(at).is_some_and(|&x| x == c);
    if !(sep(4, b'-')
        && sep(7, b'-')
        && (sep(10, b'T') || sep(10, b't'))
        && sep(13, b':')
        && sep(16, b':'))
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac_nanos = 0i128;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = s.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        let mut padded = String::from(digits);
        padded.truncate(9);
        while padded.len() < 9 {
            padded.push('0');
        }
        frac_nanos = padded.parse().ok()?;
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b':') => {
            let off = num(i + 1, 2)? * 3600 + num(i + 4, 2)? * 60;
            if c == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month as u32, day as u32) * 86400 + hour * 3600 + min * 60 + sec
            - offset_secs;
    Some(Instant {
        nanos: secs as i128 * 1_000_000_000 + frac_nanos,
    })
}

/// Go's `time.Time.String()` for a UTC millisecond timestamp:
/// `2006-01-02 15:04:05.999999999 +0000 UTC` (fraction without trailing zeros).
pub fn go_time_string_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86400));
    let sod = secs.rem_euclid(86400);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if milli != 0 {
        let frac = format!("{milli:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ranges_default_parse_and_check_order() {
        let at = |s: i128| Instant {
            nanos: s * 1_000_000_000,
        };
        let before = |end: Instant| end.add_nanos(-5_000_000_000);
        assert_eq!(
            parse_time_range(None, Some("100"), || at(0), before),
            Ok((at(95), at(100)))
        );
        assert_eq!(
            parse_time_range(Some("10"), None, || at(20), before),
            Ok((at(10), at(20)))
        );
        assert_eq!(
            parse_time_range(Some("x"), Some("y"), || at(0), before),
            Err("error parsing end time: cannot parse \"y\" to a valid timestamp".into())
        );
        assert_eq!(
            parse_time_range(Some("x"), None, || at(0), before),
            Err("error parsing start time: cannot parse \"x\" to a valid timestamp".into())
        );
        assert_eq!(
            parse_time_range(Some("20"), Some("20"), || at(0), before),
            Err("start time is not before end time".into())
        );
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("1"),
            Err("time: missing unit in duration \"1\"".into())
        );
        assert_eq!(
            parse_go_duration("1d"),
            Err("time: unknown unit \"d\" in duration \"1d\"".into())
        );
        assert_eq!(
            parse_go_duration(""),
            Err("time: invalid duration \"\"".into())
        );
        assert!(parse_go_duration("h").is_err());
    }

    #[test]
    fn parses_unix_and_rfc3339() {
        assert_eq!(
            parse_time("1.5"),
            Ok(Instant {
                nanos: 1_500_000_000
            })
        );
        assert_eq!(
            parse_time("2020-01-02T03:04:05.25Z"),
            Ok(Instant {
                nanos: 1_577_934_245_250_000_000
            })
        );
        assert_eq!(
            parse_time("2020-01-02T05:04:05+02:00"),
            Ok(Instant {
                nanos: 1_577_934_245_000_000_000
            })
        );
        assert_eq!(
            parse_time("yesterday"),
            Err("cannot parse \"yesterday\" to a valid timestamp".into())
        );
    }

    #[test]
    fn api_param_is_shortest_float() {
        assert_eq!(
            parse_time("1700000000.25").map(Instant::api_param),
            Ok("1700000000.25".into())
        );
        assert_eq!(
            parse_time("1700000000").map(Instant::api_param),
            Ok("1700000000".into())
        );
    }

    #[test]
    fn go_string() {
        assert_eq!(
            go_time_string_utc(1_577_934_245_250),
            "2020-01-02 03:04:05.25 +0000 UTC"
        );
        assert_eq!(go_time_string_utc(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
