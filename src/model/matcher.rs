//! Label matchers (`=`, `!=`, `=~`, `!~`) with fully anchored RE2 regexes.

use std::fmt;

use regex::Regex;

use super::labels::go_quote;

/// The four matcher kinds of PromQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A regex in a matcher did not compile.
#[derive(Debug, Clone, PartialEq)]
pub struct MatcherError {
    pub pattern: String,
    pub reason: String,
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error parsing regexp: {}: `{}`",
            self.reason, self.pattern
        )
    }
}

impl std::error::Error for MatcherError {}

/// Matches one label's value. A missing label matches as the empty string,
/// so `{a=""}` selects series without `a`.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub kind: MatchType,
    pub name: String,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}

impl Matcher {
    pub fn new(
        kind: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let value = value.into();
        let re = match kind {
            MatchType::Regex | MatchType::NotRegex => Some(compile_anchored(&value)?),
            _ => None,
        };
        Ok(Matcher {
            kind,
            name: name.into(),
            value,
            re,
        })
    }

    /// An equality matcher; cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            kind: MatchType::Equal,
            name: name.into(),
            value: value.into(),
            re: None,
        }
    }

    /// Whether `value` (empty for an absent label) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self.kind {
            MatchType::Equal => self.value == value,
            MatchType::NotEqual => self.value != value,
            MatchType::Regex => self.re.as_ref().is_some_and(|r| r.is_match(value)),
            MatchType::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the matcher matches the empty string (and so absent labels).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=~` matchers that are an alternation of plain literals
    /// (`a|b|c`), the literals; lets an index look values up instead of scanning.
    pub fn set_matches(&self) -> Option<Vec<String>> {
        if self.kind != MatchType::Regex && self.kind != MatchType::NotRegex {
            return None;
        }
        let mut out = Vec::new();
        for alt in self.value.split('|') {
            if alt.chars().any(|c| "\\.+*?()[]{}^$".contains(c)) {
                return None;
            }
            out.push(alt.to_string());
        }
        Some(out)
    }

    /// For regex matchers, the literal prefix every match must start with.
    pub fn literal_prefix(&self) -> Option<String> {
        if self.kind != MatchType::Regex {
            return None;
        }
        if self.value.contains('|') {
            return None;
        }
        let prefix: String = self
            .value
            .chars()
            .take_while(|c| !"\\.+*?()[]{}^$|".contains(*c))
            .collect();
        if prefix.is_empty() {
            None
        } else {
            Some(prefix)
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.kind, go_quote(&self.value))
    }
}

/// Compiles `pattern` anchored at both ends, as upstream does (`^(?s:...)$`).
pub fn compile_anchored(pattern: &str) -> Result<Regex, MatcherError> {
    Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| MatcherError {
        pattern: pattern.to_string(),
        reason: regex_error_reason(&e),
    })
}

fn regex_error_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .last()
            .unwrap_or("invalid regex")
            .trim()
            .to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::new(MatchType::Regex, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
    }

    #[test]
    fn empty_matches_absent() {
        assert!(Matcher::equal("a", "").matches_empty());
        assert!(!Matcher::new(MatchType::Regex, "a", ".+")
            .unwrap()
            .matches_empty());
        assert!(Matcher::new(MatchType::NotRegex, "a", ".+")
            .unwrap()
            .matches_empty());
    }

    #[test]
    fn dot_matches_newline() {
        assert!(Matcher::new(MatchType::Regex, "a", "a.b")
            .unwrap()
            .matches("a\nb"));
    }

    #[test]
    fn set_and_prefix() {
        let m = Matcher::new(MatchType::Regex, "a", "x|y|z").unwrap();
        assert_eq!(
            m.set_matches(),
            Some(vec!["x".into(), "y".into(), "z".into()])
        );
        let m = Matcher::new(MatchType::Regex, "a", "api_.*").unwrap();
        assert_eq!(m.literal_prefix().as_deref(), Some("api_"));
        assert!(Matcher::new(MatchType::Regex, "a", "(").is_err());
    }
}
