//! Scalar value types of `prometheus.yml`: durations in Prometheus syntax,
//! byte sizes with base-2 units, secrets that never print back, and URLs.
//! Each (de)serialises the way upstream's YAML does.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::model::duration::{format_duration, parse_duration};

/// A duration in milliseconds, written as `1h30m`, `15s`, `0` in YAML
/// (upstream's `model.Duration`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    pub const fn from_millis(ms: i64) -> Duration {
        Duration(ms)
    }

    pub const fn from_secs(s: i64) -> Duration {
        Duration(s * 1000)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// For `skip_serializing_if`: upstream omits zero durations.
    pub fn is_zero_ref(&self) -> bool {
        self.0 == 0
    }

    /// As a `std::time::Duration`; negative values clamp to zero.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = scalar_string(d)?;
        parse_duration(&s).map(Duration).map_err(de::Error::custom)
    }
}

/// A byte size such as `10MB`: units B, KB, MB, GB, TB, PB, EB (and the
/// KiB..EiB spellings) are all powers of 1024, as upstream's `units.Base2Bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub i64);

const BYTE_UNITS: &[(&str, i64)] = &[
    ("EB", 1 << 60),
    ("EiB", 1 << 60),
    ("PB", 1 << 50),
    ("PiB", 1 << 50),
    ("TB", 1 << 40),
    ("TiB", 1 << 40),
    ("GB", 1 << 30),
    ("GiB", 1 << 30),
    ("MB", 1 << 20),
    ("MiB", 1 << 20),
    ("KB", 1 << 10),
    ("KiB", 1 << 10),
    ("B", 1),
];

impl ByteSize {
    pub const fn bytes(self) -> i64 {
        self.0
    }

    /// For `skip_serializing_if`: upstream omits a zero size.
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Parses `10MB`, `1GB512MB`, `1.5KB` or `0`. A unit is required, as upstream.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let err = || format!("units: invalid size {s:?}");
        if s == "0" {
            return Ok(ByteSize(0));
        }
        if s.is_empty() {
            return Err(err());
        }
        let mut rest = s;
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 {
                return Err(err());
            }
            let n: f64 = rest[..num_len].parse().map_err(|_| err())?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let factor = BYTE_UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, f)| *f)
                .ok_or_else(|| format!("units: unknown unit {unit:?} in {s:?}"))?;
            rest = &rest[unit_len..];
            total += n * factor as f64;
        }
        if !total.is_finite() || total > i64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(total as i64))
    }
}

impl fmt::Display for ByteSize {
    /// Largest unit that divides the size exactly, as upstream prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        for (unit, size) in BYTE_UNITS.iter().filter(|(u, _)| !u.contains('i')) {
            if self.0 % size == 0 {
                return write!(f, "{}{}", self.0 / size, unit);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = scalar_string(d)?;
        ByteSize::parse(&s).map_err(de::Error::custom)
    }
}

/// A secret value (password, token). Serialises as `<secret>` so that
/// `/api/v1/status/config` never shows it, as upstream.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

/// What a secret prints as.
pub const SECRET_PLACEHOLDER: &str = "<secret>";

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The real value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_PLACEHOLDER)
    }
}

thread_local! {
    static REVEAL_SECRETS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with secrets serialising as their real values (upstream's
/// `MarshalSecretValue`), for a faithful load → marshal → load round trip.
pub fn with_secrets_revealed<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REVEAL_SECRETS.with(|r| r.set(self.0));
        }
    }
    let _reset = Reset(REVEAL_SECRETS.with(|r| r.replace(true)));
    f()
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if REVEAL_SECRETS.with(|r| r.get()) {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str(SECRET_PLACEHOLDER)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_string(d).map(Secret)
    }
}

/// A URL as written in the config. Kept as text; `parse` gives its parts
/// with the leniency of Go's `url.Parse`, which is what upstream accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Url(String);

/// The parts of a URL that validation looks at.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    /// `user:pass@` is included if present.
    pub host: &'a str,
    pub path: &'a str,
}

impl Url {
    pub fn new(s: impl Into<String>) -> Url {
        Url(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Splits scheme, host and path; errors as Go's `url.Parse` does for a
    /// malformed scheme or control characters.
    pub fn parse(&self) -> Result<UrlParts<'_>, String> {
        let s = self.0.as_str();
        if s.chars().any(|c| c.is_control()) {
            return Err(format!(
                "parse {}: net/url: invalid control character in URL",
                crate::model::labels::go_quote(s)
            ));
        }
        let mut parts = UrlParts::default();
        let mut rest = s;
        if let Some(colon) = s.find(':') {
            let scheme = &s[..colon];
            let valid_scheme = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if colon == 0 {
                return Err(format!(
                    "parse {}: missing protocol scheme",
                    crate::model::labels::go_quote(s)
                ));
            }
            // Go treats a leading segment that is not a valid scheme as a path
            // only when it contains a '/' before the colon.
            if valid_scheme {
                parts.scheme = scheme;
                rest = &s[colon + 1..];
            } else if !scheme.contains('/') {
                return Err(format!(
                    "parse {}: first path segment in URL cannot contain colon",
                    crate::model::labels::go_quote(s)
                ));
            }
        }
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            parts.host = &after[..end];
            rest = &after[end..];
        }
        let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
        parts.path = &rest[..path_end];
        Ok(parts)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Url {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let u = Url(scalar_string(d)?);
        u.parse().map_err(de::Error::custom)?;
        Ok(u)
    }
}

/// Bookkeeping about where values came from (written or inherited). It
/// never makes two configs different: only resolved values do, so a
/// reload's `==` and a round trip compare what matters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NotCompared<T>(pub T);

impl<T> PartialEq for NotCompared<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// For `skip_serializing_if`: upstream's `omitempty` on numbers.
pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// For `skip_serializing_if`: upstream's `omitempty` on floats.
pub(crate) fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// Reads a YAML scalar as text whatever its YAML type (`bearer_token: 1234`
/// is a string to upstream).
pub(crate) fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(crate::model::value::format_go_g(v))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_are_base2() {
        assert_eq!(ByteSize::parse("10MB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("1KiB"), Ok(ByteSize(1024)));
        assert_eq!(
            ByteSize::parse("1GB512MB"),
            Ok(ByteSize((1 << 30) + (512 << 20)))
        );
        assert_eq!(ByteSize::parse("1.5KB"), Ok(ByteSize(1536)));
        assert_eq!(ByteSize::parse("0"), Ok(ByteSize(0)));
        for bad in ["", "100", "10XB", "MB", "-1MB", "1..5KB"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ByteSize(15 << 20).to_string(), "15MB");
        assert_eq!(ByteSize(1500).to_string(), "1500B");
    }

    #[test]
    fn secrets_never_serialise() {
        let s = Secret::new("hunter2");
        assert_eq!(
            serde_yaml::to_string(&s).unwrap_or_default().trim(),
            "<secret>"
        );
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(s.expose(), "hunter2");
        let shown = with_secrets_revealed(|| serde_yaml::to_string(&s).unwrap_or_default());
        assert_eq!(shown.trim(), "hunter2");
        assert_eq!(
            serde_yaml::to_string(&s).unwrap_or_default().trim(),
            "<secret>"
        );
    }

    #[test]
    fn durations_round_trip() {
        let d: Duration = serde_yaml::from_str("1h30m").unwrap_or_default();
        assert_eq!(d, Duration(5_400_000));
        assert_eq!(
            serde_yaml::to_string(&d).unwrap_or_default().trim(),
            "1h30m"
        );
        assert!(serde_yaml::from_str::<Duration>("1x").is_err());
    }

    #[test]
    fn urls_parse_like_go() {
        let u = Url::new("http://example.com:80/path?q=1");
        let p = u.parse().unwrap_or_default();
        assert_eq!(
            (p.scheme, p.host, p.path),
            ("http", "example.com:80", "/path")
        );
        // Go reads "localhost:9090" as scheme "localhost" with an opaque part.
        assert_eq!(Url::new("localhost:9090").parse().map(|p| p.host), Ok(""));
        assert!(Url::new("://x").parse().is_err());
        assert!(Url::new("http://a\nb").parse().is_err());
        assert_eq!(Url::new("foo").parse().map(|p| p.path), Ok("foo"));
    }
}
