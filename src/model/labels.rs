//! Label sets: sorted by name, no duplicates, `__name__` is an ordinary label.
//!
//! `Labels` is an owned, immutable, sorted list. Storage engines are free to
//! keep labels more compactly (interned symbols); this type is what crosses
//! module boundaries.

use std::fmt;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A sorted set of label pairs with unique names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Labels {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order. Pairs with an empty value
    /// are dropped (an empty value means "absent", as upstream); for duplicate
    /// names the last one wins.
    pub fn new(mut labels: Vec<Label>) -> Labels {
        labels.retain(|l| !l.value.is_empty());
        // Stable sort keeps input order among equal names so "last wins" works.
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(labels.len());
        for l in labels {
            match out.last_mut() {
                Some(last) if last.name == l.name => *last = l,
                _ => out.push(l),
            }
        }
        Labels(out)
    }

    /// Builds from `(name, value)` string pairs.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect())
    }

    /// Wraps labels that the caller guarantees are sorted by name, unique and
    /// without empty values (e.g. decoded from storage).
    pub fn from_sorted(labels: Vec<Label>) -> Labels {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    /// The value of `name`, or `None` when the label is absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The value of `name`, or `""` when absent (upstream's `Get`).
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name, if the set has one.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// A 64-bit hash of the label set, stable across runs and processes
    /// (FNV-1a over `name 0xff value 0xff`).
    pub fn stable_hash(&self) -> u64 {
        let mut h = Fnv64::new();
        for l in &self.0 {
            h.write(l.name.as_bytes());
            h.write(&[0xff]);
            h.write(l.value.as_bytes());
            h.write(&[0xff]);
        }
        h.finish()
    }

    /// Hash over only the named labels (upstream's `HashForLabels`).
    pub fn hash_for_labels(&self, names: &[String]) -> u64 {
        let mut h = Fnv64::new();
        for l in self.0.iter().filter(|l| names.contains(&l.name)) {
            h.write(l.name.as_bytes());
            h.write(&[0xff]);
            h.write(l.value.as_bytes());
            h.write(&[0xff]);
        }
        h.finish()
    }

    /// Hash over all labels except the named ones and `__name__`
    /// (upstream's `HashWithoutLabels`).
    pub fn hash_without_labels(&self, names: &[String]) -> u64 {
        let mut h = Fnv64::new();
        for l in self
            .0
            .iter()
            .filter(|l| l.name != METRIC_NAME && !names.contains(&l.name))
        {
            h.write(l.name.as_bytes());
            h.write(&[0xff]);
            h.write(l.value.as_bytes());
            h.write(&[0xff]);
        }
        h.finish()
    }

    /// A copy keeping only the named labels.
    pub fn keep_only(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| names.contains(&l.name))
                .cloned()
                .collect(),
        )
    }

    /// A copy without the named labels.
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !names.contains(&l.name.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// A copy without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// A builder starting from this set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            base: self.0.clone(),
        }
    }
}

impl Ord for Labels {
    /// Upstream's `labels.Compare`: pairwise by name, then value; a prefix sorts first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            match a.name.cmp(&b.name).then_with(|| a.value.cmp(&b.value)) {
                std::cmp::Ordering::Equal => continue,
                o => return o,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Labels {
    /// Upstream's `Labels.String()`: `{a="1", b="2"}` with Go-quoted values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", l.name, go_quote(&l.value))?;
        }
        f.write_str("}")
    }
}

/// Edits a label set; setting an empty value deletes the label.
#[derive(Clone, Debug, Default)]
pub struct LabelsBuilder {
    base: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new() -> LabelsBuilder {
        LabelsBuilder::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.base
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        match self.base.iter_mut().find(|l| l.name == name) {
            Some(l) => l.value = value.to_string(),
            None => self.base.push(Label::new(name, value)),
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.base.retain(|l| l.name != name);
        self
    }

    /// Keeps only labels for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Label) -> bool) -> &mut Self {
        self.base.retain(|l| keep(l));
        self
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.base.iter()
    }

    pub fn build(&self) -> Labels {
        Labels::new(self.base.clone())
    }
}

/// Quotes a string the way Go's `strconv.Quote` does, which is how upstream
/// prints label values in errors, promtool output and `Labels.String()`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `name` is a valid legacy label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `name` is a valid legacy metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// FNV-1a, 64 bit: tiny, fast enough for label hashing, and stable.
#[derive(Clone, Copy)]
pub struct Fnv64(u64);

impl Fnv64 {
    pub fn new() -> Fnv64 {
        Fnv64(0xcbf29ce484222325)
    }
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sorts_dedups_and_drops_empty() {
        let l = Labels::new(vec![
            Label::new("b", "2"),
            Label::new("a", "1"),
            Label::new("c", ""),
            Label::new("a", "3"),
        ]);
        assert_eq!(l.to_string(), r#"{a="3", b="2"}"#);
        assert_eq!(l.get("a"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn ordering_matches_upstream_compare() {
        let a = Labels::from_pairs(&[("a", "1")]);
        let ab = Labels::from_pairs(&[("a", "1"), ("b", "1")]);
        let b = Labels::from_pairs(&[("b", "0")]);
        assert!(a < ab);
        assert!(ab < b);
    }

    #[test]
    fn hash_is_stable_and_order_independent() {
        let x = Labels::from_pairs(&[("a", "1"), ("b", "2")]);
        let y = Labels::from_pairs(&[("b", "2"), ("a", "1")]);
        assert_eq!(x.stable_hash(), y.stable_hash());
        assert_ne!(
            x.stable_hash(),
            Labels::from_pairs(&[("a", "12")]).stable_hash()
        );
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
    }

    #[test]
    fn builder_set_and_delete() {
        let l = Labels::from_pairs(&[("a", "1"), ("b", "2")]);
        let mut b = l.builder();
        b.set("c", "3").set("a", "").set("b", "x");
        assert_eq!(b.build().to_string(), r#"{b="x", c="3"}"#);
    }

    #[test]
    fn legacy_name_validation() {
        assert!(is_valid_legacy_label_name("_a1"));
        assert!(!is_valid_legacy_label_name("1a"));
        assert!(!is_valid_legacy_label_name("a:b"));
        assert!(is_valid_legacy_metric_name("a:b"));
        assert!(!is_valid_legacy_metric_name(""));
    }
}
