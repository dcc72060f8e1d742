//! Relabeling: the `relabel_config` model (with upstream's defaults and
//! validation) and `process`, which applies a list of rules to a label set.
//!
//! Semantics follow upstream's `model/relabel`: source label values are joined
//! with the separator, matched against the fully anchored regex, and `$1`,
//! `${1}`, `${name}` in `target_label`/`replacement` expand as Go's
//! `regexp.Expand` does. A set with no rule that changes it is returned
//! without allocating a new one (see `process_cow`).

use std::borrow::Cow;
use std::fmt;

use regex::Regex;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::labels::{is_valid_legacy_label_name, Label, Labels, LabelsBuilder};
use super::matcher::compile_anchored;

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively, as upstream.
    pub fn parse(s: &str) -> Result<Action, RelabelError> {
        const ALL: [Action; 11] = [
            Action::Replace,
            Action::Keep,
            Action::Drop,
            Action::KeepEqual,
            Action::DropEqual,
            Action::HashMod,
            Action::LabelMap,
            Action::LabelDrop,
            Action::LabelKeep,
            Action::Lowercase,
            Action::Uppercase,
        ];
        let lower = s.to_lowercase();
        ALL.into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| RelabelError(format!("unknown relabel action {s:?}")))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A relabel rule is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelabelError(pub String);

impl fmt::Display for RelabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RelabelError {}

impl From<RelabelError> for String {
    fn from(e: RelabelError) -> String {
        e.0
    }
}

/// How label names are validated (`metric_name_validation_scheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NameValidationScheme {
    /// Any non-empty UTF-8 string (Prometheus 3.x default).
    #[default]
    Utf8,
    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    Legacy,
}

impl NameValidationScheme {
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidationScheme::Utf8 => !name.is_empty(),
            NameValidationScheme::Legacy => is_valid_legacy_label_name(name),
        }
    }
}

/// The default regex of a rule.
pub const DEFAULT_REGEX: &str = "(.*)";
/// The default replacement of a rule.
pub const DEFAULT_REPLACEMENT: &str = "$1";
/// The default separator of a rule.
pub const DEFAULT_SEPARATOR: &str = ";";

/// A fully anchored regex that remembers the pattern it was written as;
/// equal when the patterns are equal.
#[derive(Clone, Debug)]
pub struct RelabelRegex {
    pattern: String,
    re: Regex,
}

impl RelabelRegex {
    pub fn new(pattern: &str) -> Result<RelabelRegex, RelabelError> {
        let re = compile_anchored(pattern).map_err(|e| RelabelError(e.to_string()))?;
        Ok(RelabelRegex {
            pattern: pattern.to_string(),
            re,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn regex(&self) -> &Regex {
        &self.re
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    fn is_default(&self) -> bool {
        self.pattern == DEFAULT_REGEX
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        // The default pattern is a constant known to compile; the fallback
        // keeps this total without a panic path.
        RelabelRegex::new(DEFAULT_REGEX).unwrap_or_else(|_| RelabelRegex {
            pattern: DEFAULT_REGEX.to_string(),
            re: Regex::new("^(?s:.*)$").unwrap_or_else(|_| unreachable_regex()),
        })
    }
}

#[cold]
fn unreachable_regex() -> Regex {
    // `regex::Regex::new("")` always compiles.
    match Regex::new("") {
        Ok(r) => r,
        Err(_) => unreachable!("the empty regex compiles"),
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for RelabelRegex {}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.pattern)
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = crate::config::types::scalar_string(d)?;
        RelabelRegex::new(&s).map_err(de::Error::custom)
    }
}

/// One relabeling rule (upstream's `relabel.Config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRelabelConfig")]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: RelabelRegex,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
        }
    }
}

/// The rule as written, before defaults and validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    #[serde(default)]
    source_labels: Option<Vec<String>>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default)]
    regex: Option<RelabelRegex>,
    #[serde(default)]
    modulus: Option<u64>,
    #[serde(default)]
    target_label: Option<String>,
    #[serde(default)]
    replacement: Option<String>,
    #[serde(default, deserialize_with = "action_or_null")]
    action: Option<Option<String>>,
}

/// Distinguishes `action: null` (an error upstream) from a missing key.
fn action_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl TryFrom<RawRelabelConfig> for RelabelConfig {
    type Error = RelabelError;

    fn try_from(raw: RawRelabelConfig) -> Result<Self, RelabelError> {
        let action = match raw.action {
            None => Action::Replace,
            Some(None) => return Err(RelabelError("relabel action cannot be empty".into())),
            Some(Some(s)) if s.is_empty() => {
                return Err(RelabelError("relabel action cannot be empty".into()))
            }
            Some(Some(s)) => Action::parse(&s)?,
        };
        let d = RelabelConfig::default();
        let cfg = RelabelConfig {
            source_labels: raw.source_labels.unwrap_or_default(),
            separator: raw.separator.unwrap_or(d.separator),
            regex: raw.regex.unwrap_or(d.regex),
            modulus: raw.modulus.unwrap_or(0),
            target_label: raw.target_label.unwrap_or_default(),
            replacement: raw.replacement.unwrap_or(d.replacement),
            action,
        };
        cfg.validate(NameValidationScheme::Utf8)?;
        Ok(cfg)
    }
}

impl RelabelConfig {
    /// Upstream's `relabel.Config.Validate`.
    pub fn validate(&self, scheme: NameValidationScheme) -> Result<(), RelabelError> {
        use Action::*;
        let a = self.action;
        let err = |m: String| Err(RelabelError(m));
        for name in &self.source_labels {
            if !scheme.is_valid_label_name(name) {
                return err(format!("{name:?} is not a valid label name"));
            }
        }
        if self.modulus == 0 && a == HashMod {
            return err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        let invalid_target = || {
            Err(RelabelError(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            )))
        };
        if a == Replace {
            let has_var = self.target_label.contains('$');
            if !has_var && !scheme.is_valid_label_name(&self.target_label) {
                return invalid_target();
            }
            if has_var
                && scheme == NameValidationScheme::Legacy
                && !is_valid_relabel_target(&self.target_label)
            {
                return invalid_target();
            }
        }
        let equal_or_case = matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual);
        if equal_or_case && !scheme.is_valid_label_name(&self.target_label) {
            return invalid_target();
        }
        if equal_or_case && self.replacement != DEFAULT_REPLACEMENT {
            return err(format!("'replacement' can not be set for {a} action"));
        }
        if a == LabelMap {
            let ok = match scheme {
                NameValidationScheme::Legacy => is_valid_relabel_target(&self.replacement),
                NameValidationScheme::Utf8 => !self.replacement.is_empty(),
            };
            if !ok {
                return err(format!(
                    "{:?} is invalid 'replacement' for {a} action",
                    self.replacement
                ));
            }
        }
        if a == HashMod && !scheme.is_valid_label_name(&self.target_label) {
            return invalid_target();
        }
        if matches!(a, DropEqual | KeepEqual)
            && (!self.regex.is_default()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// Upstream's `relabelTarget`: `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`,
/// a legacy label name in which `$var` and `${var}` may appear.
fn is_valid_relabel_target(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    if b.is_empty() {
        return false;
    }
    // The pattern must start with a letter, `_` or a variable; after that
    // word characters and more variables may follow in any order.
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start || b.get(j) != Some(&b'}') {
                    return false;
                }
                i = j + 1;
            } else {
                let start = i;
                while i < b.len() && word(b[i]) {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || (!first && c.is_ascii_digit()) {
            i += 1;
        } else {
            return false;
        }
        first = false;
    }
    true
}

/// Applies `cfgs` in order. `None` means a rule dropped the set.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    process_cow(labels, cfgs).map(Cow::into_owned)
}

/// Like `process`, but borrows the input when no rule changed it, so the
/// common "keep as is" path allocates nothing.
pub fn process_cow<'a>(labels: &'a Labels, cfgs: &[RelabelConfig]) -> Option<Cow<'a, Labels>> {
    let mut state = Work::Borrowed(labels.as_slice());
    for cfg in cfgs {
        if !relabel(cfg, &mut state) {
            return None;
        }
    }
    Some(match state {
        Work::Borrowed(_) => Cow::Borrowed(labels),
        Work::Owned(v) => Cow::Owned(Labels::from_sorted(v)),
    })
}

/// Applies `cfgs` to a builder in place; false when the set was dropped.
pub fn process_builder(builder: &mut LabelsBuilder, cfgs: &[RelabelConfig]) -> bool {
    let labels = builder.build();
    match process_cow(&labels, cfgs) {
        None => false,
        Some(Cow::Borrowed(_)) => true,
        Some(Cow::Owned(out)) => {
            let mut b = LabelsBuilder::new();
            for l in out.iter() {
                b.set(&l.name, &l.value);
            }
            *builder = b;
            true
        }
    }
}

/// The label set being relabeled: the caller's until the first change.
enum Work<'a> {
    Borrowed(&'a [Label]),
    Owned(Vec<Label>),
}

impl Work<'_> {
    fn slice(&self) -> &[Label] {
        match self {
            Work::Borrowed(s) => s,
            Work::Owned(v) => v,
        }
    }

    fn get(&self, name: &str) -> &str {
        let s = self.slice();
        match s.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => s.get(i).map_or("", |l| l.value.as_str()),
            Err(_) => "",
        }
    }

    fn owned(&mut self) -> &mut Vec<Label> {
        if let Work::Borrowed(s) = self {
            *self = Work::Owned(s.to_vec());
        }
        match self {
            Work::Owned(v) => v,
            Work::Borrowed(_) => unreachable!("converted above"),
        }
    }

    /// Sets `name` to `value`; an empty value deletes, as upstream's builder.
    fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        let pos = self.slice().binary_search_by(|l| l.name.as_str().cmp(name));
        match pos {
            Ok(i) => {
                if self.slice().get(i).is_some_and(|l| l.value == value) {
                    return;
                }
                if let Some(l) = self.owned().get_mut(i) {
                    l.value = value.to_string();
                }
            }
            Err(i) => self.owned().insert(i, Label::new(name, value)),
        }
    }

    fn del(&mut self, name: &str) {
        if let Ok(i) = self.slice().binary_search_by(|l| l.name.as_str().cmp(name)) {
            self.owned().remove(i);
        }
    }
}

fn relabel(cfg: &RelabelConfig, lb: &mut Work<'_>) -> bool {
    let val: Cow<'_, str> = match cfg.source_labels.as_slice() {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(lb.get(one)),
        many => {
            let mut s = String::new();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    s.push_str(&cfg.separator);
                }
                s.push_str(lb.get(name));
            }
            Cow::Owned(s)
        }
    };
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return lb.get(&cfg.target_label) != val,
        Action::KeepEqual => return lb.get(&cfg.target_label) == val,
        Action::Replace => {
            // Upstream's fast path: a constant assignment needs no regex.
            if val.is_empty()
                && cfg.regex.is_default()
                && !cfg.target_label.contains('$')
                && !cfg.replacement.contains('$')
            {
                lb.set(&cfg.target_label, &cfg.replacement);
                return true;
            }
            let Some(caps) = cfg.regex.regex().captures(&val) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&cfg.target_label, &mut target);
            if target.is_empty() {
                return true;
            }
            let mut res = String::new();
            caps.expand(&cfg.replacement, &mut res);
            lb.set(&target, &res);
        }
        Action::Lowercase => {
            let v = val.to_lowercase();
            lb.set(&cfg.target_label, &v);
        }
        Action::Uppercase => {
            let v = val.to_uppercase();
            lb.set(&cfg.target_label, &v);
        }
        Action::HashMod => {
            let digest = md5::digest(val.as_bytes());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&digest[8..]);
            let m = u64::from_be_bytes(tail) % cfg.modulus.max(1);
            lb.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => {
            let snapshot: Vec<Label> = lb.slice().to_vec();
            for l in &snapshot {
                if let Some(caps) = cfg.regex.regex().captures(&l.name) {
                    let mut name = String::new();
                    caps.expand(&cfg.replacement, &mut name);
                    lb.set(&name, &l.value);
                }
            }
        }
        Action::LabelDrop => {
            if lb.slice().iter().any(|l| cfg.regex.is_match(&l.name)) {
                lb.owned().retain(|l| !cfg.regex.is_match(&l.name));
            }
        }
        Action::LabelKeep => {
            if lb.slice().iter().any(|l| !cfg.regex.is_match(&l.name)) {
                lb.owned().retain(|l| cfg.regex.is_match(&l.name));
            }
        }
    }
    true
}

/// MD5 (RFC 1321), only for `hashmod`, which must pick the same shard as
/// upstream's `crypto/md5`.
mod md5 {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    /// `floor(abs(sin(i + 1)) * 2^32)`, the RFC's table.
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];

    pub fn digest(input: &[u8]) -> [u8; 16] {
        let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
        let mut chunks = input.chunks_exact(64);
        for block in &mut chunks {
            compress(&mut state, block);
        }
        // Padding: 0x80, zeros, then the bit length little-endian; one or two blocks.
        let rem = chunks.remainder();
        let mut tail = [0u8; 128];
        tail[..rem.len()].copy_from_slice(rem);
        tail[rem.len()] = 0x80;
        let tail_len = if rem.len() < 56 { 64 } else { 128 };
        let bits = (input.len() as u64).wrapping_mul(8);
        tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_le_bytes());
        for block in tail[..tail_len].chunks_exact(64) {
            compress(&mut state, block);
        }
        let mut out = [0u8; 16];
        for (o, s) in out.chunks_exact_mut(4).zip(state.iter()) {
            o.copy_from_slice(&s.to_le_bytes());
        }
        out
    }

    fn compress(state: &mut [u32; 4], block: &[u8]) {
        let mut m = [0u32; 16];
        for (w, b) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let [mut a, mut b, mut c, mut d] = *state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(K[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }

    #[cfg(test)]
    mod tests {
        fn hex(d: [u8; 16]) -> String {
            d.iter().map(|b| format!("{b:02x}")).collect()
        }

        #[test]
        fn rfc1321_vectors() {
            assert_eq!(hex(super::digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
            assert_eq!(
                hex(super::digest(b"abc")),
                "900150983cd24fb0d6963f7d28e17f72"
            );
            assert_eq!(
                hex(super::digest(
                    b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
                )),
                "57edf4a22be3c955ac49da2e2107b67a"
            );
            assert_eq!(
                hex(super::digest(b"abcdefghijklmnopqrstuvwxyz")),
                "c3fcd3d76192e4007dfb496cca67e13b"
            );
        }
    }
}
