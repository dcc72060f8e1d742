//! Relabeling: the `relabel_config` model (with upstream's defaults and
//! validation) and `process`, which applies a list of rules to a label set.
//!
//! Semantics follow upstream's `model/relabel`: source label values are joined
//! with the separator, matched against the fully anchored regex, and `$1`,
//! `${1}`, `${name}` in `target_label`/`replacement` expand as Go's
//! `regexp.Expand` does. A set with no rule that changes it is returned
//! without allocating a new one (see `process_cow`). Like the rest of
//! `model`, this file never imports `config`; `config` re-exports its types.

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

/// The default `(.*)`, compiled once; `Regex` clones share the program.
static DEFAULT_RELABEL_REGEX: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    compile_anchored(DEFAULT_REGEX).expect("the constant default relabel regex compiles")
});

impl Default for RelabelRegex {
    fn default() -> Self {
        RelabelRegex {
            pattern: DEFAULT_REGEX.to_string(),
            re: DEFAULT_RELABEL_REGEX.clone(),
        }
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
        // `regex: 1` is a YAML integer but a pattern to upstream.
        let s = d.deserialize_any(ScalarText)?;
        RelabelRegex::new(&s).map_err(de::Error::custom)
    }
}

/// Reads any YAML scalar as its text.
struct ScalarText;

impl de::Visitor<'_> for ScalarText {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(super::value::format_go_g(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One relabeling rule (upstream's `relabel.Config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRelabelConfig")]
pub struct RelabelConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: RelabelRegex,
    #[serde(skip_serializing_if = "is_zero")]
    pub modulus: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
    /// How a target label produced by expansion is checked; set from the
    /// job's (or global) `metric_name_validation_scheme` when the config is
    /// resolved. Not part of the YAML.
    #[serde(skip)]
    pub name_validation_scheme: NameValidationScheme,
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
            name_validation_scheme: NameValidationScheme::Utf8,
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
            name_validation_scheme: NameValidationScheme::Utf8,
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
    let mut state = Work::new(labels.as_slice());
    for cfg in cfgs {
        if !relabel(cfg, &mut state) {
            return None;
        }
    }
    Some(match state.owned {
        None => Cow::Borrowed(labels),
        Some(v) => Cow::Owned(Labels::from_sorted(v)),
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
struct Work<'a> {
    borrowed: &'a [Label],
    owned: Option<Vec<Label>>,
}

impl<'a> Work<'a> {
    fn new(labels: &'a [Label]) -> Work<'a> {
        Work {
            borrowed: labels,
            owned: None,
        }
    }

    fn slice(&self) -> &[Label] {
        self.owned.as_deref().unwrap_or(self.borrowed)
    }

    fn get(&self, name: &str) -> &str {
        let s = self.slice();
        match s.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => s.get(i).map_or("", |l| l.value.as_str()),
            Err(_) => "",
        }
    }

    /// The set as an owned, editable vector (copied on first use).
    fn owned(&mut self) -> &mut Vec<Label> {
        let borrowed = self.borrowed;
        self.owned.get_or_insert_with(|| borrowed.to_vec())
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
            // `(.*)` → `$1` copies the value: no regex work needed.
            if cfg.regex.is_default()
                && cfg.replacement == DEFAULT_REPLACEMENT
                && !cfg.target_label.contains('$')
            {
                let v = val.into_owned();
                lb.set(&cfg.target_label, &v);
                return true;
            }
            // A plain match runs on the regex's DFA, far cheaper than
            // capturing; most rules do not match most inputs.
            if !cfg.regex.is_match(&val) {
                return true;
            }
            let Some(caps) = cfg.regex.regex().captures(&val) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&cfg.target_label, &mut target);
            if !cfg.name_validation_scheme.is_valid_label_name(&target) {
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
            if !lb.slice().iter().any(|l| cfg.regex.is_match(&l.name)) {
                return true;
            }
            let snapshot: Vec<Label> = lb.slice().to_vec();
            for l in &snapshot {
                if !cfg.regex.is_match(&l.name) {
                    continue;
                }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Upstream's `TestRelabel` table (model/relabel/relabel_test.go),
    /// written as data: rules in config syntax, label sets as maps; no
    /// `output` means the set is dropped.
    const CASES: &str = r#"
- input: {a: foo, b: bar, c: baz}
  rules:
    - {source_labels: [a], regex: "f(.*)", target_label: d, replacement: "ch${1}-ch${1}"}
  output: {a: foo, b: bar, c: baz, d: choo-choo}
- input: {a: foo, b: bar, c: baz}
  rules:
    - {source_labels: [a, b], regex: "f(.*);(.*)r", target_label: a, replacement: "b${1}${2}m"}
    - {source_labels: [c, a], regex: "(b).*b(.*)ba(.*)", target_label: d, replacement: "$1$2$2$3"}
  output: {a: boobam, b: bar, c: baz, d: boooom}
- input: {a: foo}
  rules:
    - {source_labels: [a], regex: ".*o.*", action: drop}
    - {source_labels: [a], regex: "f(.*)", target_label: d, replacement: "ch$1-ch$1"}
- input: {a: foo, b: bar}
  rules:
    - {source_labels: [a], regex: ".*o.*", action: drop}
- input: {a: abc}
  rules:
    - {source_labels: [a], regex: ".*(b).*", target_label: d, replacement: "$1"}
  output: {a: abc, d: b}
- input: {a: foo}
  rules:
    - {source_labels: [a], regex: "no-match", action: drop}
  output: {a: foo}
- input: {a: foo}
  rules:
    - {source_labels: [a], regex: "f|o", action: drop}
  output: {a: foo}
- input: {a: foo}
  rules:
    - {source_labels: [a], regex: "no-match", action: keep}
- input: {a: foo}
  rules:
    - {source_labels: [a], regex: "f.*", action: keep}
  output: {a: foo}
# No replacement must be applied if there is no match.
- input: {a: boo}
  rules:
    - {source_labels: [a], regex: "f", target_label: b, replacement: bar}
  output: {a: boo}
- input: {a: foo, b: bar, c: baz}
  rules:
    - {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}
  output: {a: foo, b: bar, c: baz, d: "976"}
- input: {a: "foo\nbar"}
  rules:
    - {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}
  output: {a: "foo\nbar", b: "734"}
- input: {a: foo, b1: bar, b2: baz}
  rules:
    - {regex: "(b.*)", replacement: "bar_${1}", action: labelmap}
  output: {a: foo, b1: bar, b2: baz, bar_b1: bar, bar_b2: baz}
- input: {a: foo, __meta_my_bar: aaa, __meta_my_baz: bbb, __meta_other: ccc}
  rules:
    - {regex: "__meta_(my.*)", replacement: "${1}", action: labelmap}
  output: {a: foo, __meta_my_bar: aaa, __meta_my_baz: bbb, __meta_other: ccc, my_bar: aaa, my_baz: bbb}
- input: {a: some-name-value}
  rules:
    - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${2}", target_label: "${1}"}
  output: {a: some-name-value, name: value}
# An empty replacement deletes the (absent) target: nothing changes.
- input: {a: some-name-value}
  rules:
    - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${3}", target_label: "${1}"}
  output: {a: some-name-value}
# A target that expands to nothing is skipped.
- input: {a: some-name-0}
  rules:
    - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${1}", target_label: "${3}"}
    - {source_labels: [a], regex: "some-([^-]+)(-[^,]+)", replacement: "${1}", target_label: "${3}"}
  output: {a: some-name-0}
- input: {__meta_sd_tags: "path:/secret,job:some-job,label:foo=bar"}
  rules:
    - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)path:(/[^,]+).*", replacement: "${1}", target_label: __metrics_path__}
    - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)job:([^,]+).*", replacement: "${1}", target_label: job}
    - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)label:([^=]+)=([^,]+).*", replacement: "${2}", target_label: "${1}"}
  output: {__meta_sd_tags: "path:/secret,job:some-job,label:foo=bar", __metrics_path__: /secret, job: some-job, foo: bar}
# prometheus/prometheus#12283
- input: {__meta_kubernetes_pod_container_port_name: foo, __meta_kubernetes_pod_annotation_XXX_metrics_port: "9091"}
  rules:
    - {regex: "^__meta_kubernetes_pod_container_port_name$", action: labeldrop}
    - {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: "(.+)", replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
    - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: "^metrics$", action: keep}
  output: {__meta_kubernetes_pod_annotation_XXX_metrics_port: "9091", __meta_kubernetes_pod_container_port_name: metrics}
- input: {a: foo, b1: bar, b2: baz}
  rules:
    - {regex: "(b.*)", action: labelkeep}
  output: {b1: bar, b2: baz}
- input: {a: foo, b1: bar, b2: baz}
  rules:
    - {regex: "(b.*)", action: labeldrop}
  output: {a: foo}
- input: {foo: bAr123Foo}
  rules:
    - {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
    - {source_labels: [foo], action: lowercase, target_label: foo_lowercase}
  output: {foo: bAr123Foo, foo_lowercase: bar123foo, foo_uppercase: BAR123FOO}
- input: {__tmp_port: "1234", __port1: "1234", __port2: "5678"}
  rules:
    - {source_labels: [__tmp_port], action: keepequal, target_label: __port1}
  output: {__tmp_port: "1234", __port1: "1234", __port2: "5678"}
- input: {__tmp_port: "1234", __port1: "1234", __port2: "5678"}
  rules:
    - {source_labels: [__tmp_port], action: dropequal, target_label: __port1}
- input: {__tmp_port: "1234", __port1: "1234", __port2: "5678"}
  rules:
    - {source_labels: [__tmp_port], action: dropequal, target_label: __port2}
  output: {__tmp_port: "1234", __port1: "1234", __port2: "5678"}
- input: {__tmp_port: "1234", __port1: "1234", __port2: "5678"}
  rules:
    - {source_labels: [__tmp_port], action: keepequal, target_label: __port2}
# Missing labels read as "": a constant assignment, and a keep on "".
- input: {a: foo}
  rules:
    - {target_label: env, replacement: prod}
    - {source_labels: [missing], regex: "", action: keep}
  output: {a: foo, env: prod}
# Replacing with an empty value deletes the target label.
- input: {a: foo, b: bar}
  rules:
    - {source_labels: [missing], target_label: b}
  output: {a: foo}
# Separator joins every source, missing ones as "".
- input: {a: x, c: z}
  rules:
    - {source_labels: [a, b, c], separator: "-", target_label: d}
  output: {a: x, c: z, d: x--z}
# `$1x` names group "1x" (Go's Expand), which does not exist: empty.
- input: {a: foo}
  rules:
    - {source_labels: [a], regex: "(f)oo", target_label: d, replacement: "$1x-${1}x"}
  output: {a: foo, d: -fx}
# keepequal/dropequal compare the joined sources with the target, missing
# labels reading as "": both missing is equal.
- input: {a: foo}
  rules:
    - {source_labels: [missing], action: keepequal, target_label: absent}
  output: {a: foo}
- input: {a: foo}
  rules:
    - {source_labels: [missing], action: dropequal, target_label: absent}
- input: {a: foo}
  rules:
    - {source_labels: [a], action: keepequal, target_label: absent}
- input: {a: foo}
  rules:
    - {source_labels: [missing], action: keepequal, target_label: a}
- input: {a: foo}
  rules:
    - {source_labels: [a], action: dropequal, target_label: absent}
  output: {a: foo}
- input: {a: foo, b: bar, t: "foo;bar"}
  rules:
    - {source_labels: [a, b], action: keepequal, target_label: t}
  output: {a: foo, b: bar, t: "foo;bar"}
# lowercase/uppercase of a missing source is "": the target label is deleted.
- input: {a: foo, t: KEEP}
  rules:
    - {source_labels: [missing], action: lowercase, target_label: t}
  output: {a: foo}
- input: {a: foo, t: keep}
  rules:
    - {source_labels: [missing], action: uppercase, target_label: t}
  output: {a: foo}
- input: {a: Foo, b: Bar}
  rules:
    - {source_labels: [a, missing, b], separator: "-", action: lowercase, target_label: l}
    - {source_labels: [a, missing, b], separator: "-", action: uppercase, target_label: u}
  output: {a: Foo, b: Bar, l: foo--bar, u: FOO--BAR}
# hashmod hashes the joined sources, "" for missing ones (md5 tail mod n).
- input: {a: foo}
  rules:
    - {source_labels: [missing], action: hashmod, modulus: 1000, target_label: h}
  output: {a: foo, h: "958"}
- input: {a: foo}
  rules:
    - {source_labels: [a, missing], action: hashmod, modulus: 1000, target_label: h}
  output: {a: foo, h: "92"}
# keep/drop on a missing label match the regex against "".
- input: {a: foo}
  rules:
    - {source_labels: [missing], action: drop}
- input: {a: foo}
  rules:
    - {source_labels: [missing], regex: ".+", action: keep}
- input: {a: foo}
  rules:
    - {source_labels: [missing], regex: ".+", action: drop}
  output: {a: foo}
# label* actions with nothing matching change nothing, or keep nothing.
- input: {a: foo}
  rules:
    - {regex: "zzz", action: labelmap, replacement: "x_$1"}
    - {regex: "zzz", action: labeldrop}
  output: {a: foo}
- input: {a: foo, b: bar}
  rules:
    - {regex: "zzz", action: labelkeep}
  output: {}
# labelmap onto an existing name overwrites it.
- input: {a: foo, x_a: old}
  rules:
    - {regex: "(a)", action: labelmap, replacement: "x_$1"}
  output: {a: foo, x_a: foo}
"#;

    #[derive(serde::Deserialize)]
    struct Case {
        input: BTreeMap<String, String>,
        rules: Vec<RelabelConfig>,
        output: Option<BTreeMap<String, String>>,
    }

    fn labels(m: &BTreeMap<String, String>) -> Labels {
        Labels::new(
            m.iter()
                .map(|(k, v)| Label::new(k.as_str(), v.as_str()))
                .collect(),
        )
    }

    #[test]
    fn upstream_relabel_table() {
        let cases: Vec<Case> = serde_yaml::from_str(CASES).unwrap_or_else(|e| panic!("{e}"));
        assert!(cases.len() >= 45);
        for (i, case) in cases.iter().enumerate() {
            let got = process(&labels(&case.input), &case.rules);
            let want = case.output.as_ref().map(labels);
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn unchanged_sets_are_borrowed() {
        let cases: Vec<Case> = serde_yaml::from_str(
            r#"
- input: {a: foo}
  rules:
    - {source_labels: [a], regex: "f.*", action: keep}
    - {source_labels: [a], regex: "x", target_label: b}
    - {regex: "zzz", action: labeldrop}
    - {source_labels: [a], target_label: a}
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let input = labels(&cases[0].input);
        assert!(matches!(
            process_cow(&input, &cases[0].rules),
            Some(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn legacy_scheme_skips_invalid_expanded_targets() {
        let mut rules: Vec<RelabelConfig> = serde_yaml::from_str(
            "- {source_labels: [a], regex: '(.*)', target_label: '${1}', replacement: x}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let input = Labels::from_pairs(&[("a", "not.legacy")]);
        let utf8 = process(&input, &rules).map(|l| l.has("not.legacy"));
        assert_eq!(utf8, Some(true));
        rules[0].name_validation_scheme = NameValidationScheme::Legacy;
        let legacy = process(&input, &rules).map(|l| l.has("not.legacy"));
        assert_eq!(legacy, Some(false));
    }

    #[test]
    fn builder_variant_matches() {
        let cfg: Vec<RelabelConfig> =
            serde_yaml::from_str("- {target_label: env, replacement: prod}\n")
                .unwrap_or_else(|e| panic!("{e}"));
        let mut b = Labels::from_pairs(&[("a", "1")]).builder();
        assert!(process_builder(&mut b, &cfg));
        assert_eq!(b.build().to_string(), r#"{a="1", env="prod"}"#);
    }

    /// Upstream's `TestTargetLabelLegacyValidity`.
    #[test]
    fn legacy_target_label_validity() {
        for (s, valid) in [
            ("-label", false),
            ("label", true),
            ("label${1}", true),
            ("${1}label", true),
            ("${1}", true),
            ("${", false),
            ("$", false),
            ("${}", false),
            ("foo${", false),
            ("$1", true),
            ("asd$2asd", true),
            ("-foo${1}bar-", false),
            ("bar.foo${1}bar", false),
            ("_${1}_", true),
            ("foo${bar}foo", true),
        ] {
            assert_eq!(is_valid_relabel_target(s), valid, "{s}");
        }
    }

    #[test]
    fn validation_messages() {
        let check = |yaml: &str, want: &str| {
            let err = serde_yaml::from_str::<RelabelConfig>(yaml)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{yaml}: {err}");
        };
        check("action: null", "relabel action cannot be empty");
        check("action: bogus", r#"unknown relabel action "bogus""#);
        check("action: replace", "requires 'target_label' value");
        check(
            "action: hashmod\ntarget_label: x",
            "requires non-zero modulus",
        );
        check(
            "action: labeldrop\nsource_labels: [a]",
            "requires only 'regex'",
        );
        check(
            "action: keepequal\ntarget_label: x\nregex: y",
            "requires only 'source_labels'",
        );
        check(
            "action: lowercase\ntarget_label: x\nreplacement: y",
            "'replacement' can not be set",
        );
        check("regex: 'a(b'", "error parsing regexp");
        let cfg: RelabelConfig =
            serde_yaml::from_str("action: LabelDrop\nregex: x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.action, Action::LabelDrop);
        let legacy = RelabelConfig {
            target_label: "0${3}".into(),
            ..RelabelConfig::default()
        };
        assert!(legacy.validate(NameValidationScheme::Legacy).is_err());
        assert!(legacy.validate(NameValidationScheme::Utf8).is_ok());
    }
}
