//! Samples, timestamps and the staleness marker.

/// Bit pattern of the stale NaN that marks the end of a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The stale-marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the stale marker (not merely any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: milliseconds since the epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl Sample {
    pub fn new(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as i64
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which is what
/// the text exposition format and promtool print (`1e+06`, `0.5`, `+Inf`).
pub fn format_go_g(v: f64) -> String {
    format_go(v, true)
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: no exponent,
/// shortest digits. Upstream's JSON API formats sample values this way.
pub fn format_go_f(v: f64) -> String {
    format_go(v, false)
}

/// Both Go formats: shortest round-trip digits, then either `%e` form (for
/// `'g'`, when the exponent is < -4 or >= 6, as Go decides for shortest
/// output) or positional form.
fn format_go(v: f64, allow_exponent: bool) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".to_string()
        } else {
            "0".to_string()
        };
    }
    // Shortest round-trip digits and decimal exponent from Rust's `{:e}`.
    let e = format!("{:e}", v.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    if allow_exponent && !(-4..6).contains(&exp) {
        // d.ddde±XX with at least two exponent digits.
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else {
        out.push_str(&format_positional(&digits, exp));
    }
    out
}

/// Places the decimal point in `digits` (d.ddd × 10^exp).
fn format_positional(digits: &str, exp: i32) -> String {
    let n = digits.len() as i32;
    if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if exp + 1 >= n {
        format!("{}{}", digits, "0".repeat((exp + 1 - n) as usize))
    } else {
        let (a, b) = digits.split_at((exp + 1) as usize);
        format!("{a}.{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_distinct() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(stale_nan().is_nan());
    }

    #[test]
    fn go_g_formatting() {
        // Go's shortest 'g' switches to exponent form at exp < -4 || exp >= 6.
        for (v, s) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "+Inf"),
            (1234567.0, "1.234567e+06"),
        ] {
            assert_eq!(format_go_g(v), s, "{v}");
        }
    }

    #[test]
    fn go_f_formatting() {
        for (v, s) in [
            (1e6, "1000000"),
            (0.000015, "0.000015"),
            (-3.25, "-3.25"),
            (1e21, "1000000000000000000000"),
        ] {
            assert_eq!(format_go_f(v), s);
        }
    }
}
