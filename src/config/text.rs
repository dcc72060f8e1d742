//! Text-level steps of loading around the YAML parser: merge keys
//! (`<<: *defaults`), decoding `!!binary` scalars, recognising an empty
//! document, and Go's `os.Expand` for `$VAR` in external labels.

use serde::de::DeserializeOwned;

/// Parses YAML into `T`. YAML merge keys (`<<: *anchor`), which upstream's
/// parser applies, are applied first; such a document goes through a
/// `Value`, so its errors lose the line number, the one cost of the feature.
pub(crate) fn parse_yaml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    if !text.contains("<<") {
        return serde_yaml::from_str(text).map_err(|e| e.to_string());
    }
    let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    value.apply_merge().map_err(|e| e.to_string())?;
    serde_yaml::from_value(value).map_err(|e| e.to_string())
}

/// Replaces each `!!binary "<base64>"` scalar by the text it encodes.
/// The YAML parser would hand the base64 text through unchanged, while
/// upstream decodes it; bytes that are not UTF-8 can never be a label name
/// or value, so they are rejected here with the line.
pub(crate) fn decode_binary_scalars(text: &str) -> Result<std::borrow::Cow<'_, str>, String> {
    const TAG: &str = "!!binary";
    if !text.contains(TAG) {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(TAG) {
        out.push_str(&rest[..pos]);
        let line = text.len() - rest.len() + pos;
        let line = text[..line].matches('\n').count() + 1;
        let after = rest[pos + TAG.len()..].trim_start_matches([' ', '\t']);
        let (encoded, used) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => match after[1..].find(q) {
                Some(end) => (&after[1..end + 1], end + 2),
                None => return Err(format!("line {line}: unterminated !!binary value")),
            },
            _ => {
                let end = after
                    .find(|c: char| c.is_whitespace() || ":,]}#".contains(c))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        let bytes = decode_base64(encoded).ok_or_else(|| {
            format!("line {line}: !!binary value {encoded:?} is not valid base64")
        })?;
        let decoded = String::from_utf8(bytes).map_err(|e| {
            let shown: String = e.as_bytes().iter().map(|b| format!("\\x{b:02x}")).collect();
            format!(
                "line {line}: \"{shown}\" is not valid UTF-8; label names and values must be UTF-8"
            )
        })?;
        out.push_str(&crate::model::labels::go_quote(&decoded));
        rest = &after[used..];
    }
    out.push_str(rest);
    Ok(std::borrow::Cow::Owned(out))
}

/// Standard base64 with optional padding and embedded whitespace.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// An empty document (or only comments) is a valid, all-defaults config.
pub(crate) fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    })
}

/// Go's `os.Expand`: `$name`, `${name}`, and single-character special names
/// such as `$$` and `$1`; a `$` not followed by a name stays as it is.
pub(crate) fn expand_env(s: &str, lookup: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, width) = shell_name(after);
        match name {
            Some("$") => out.push('$'),
            Some(n) => out.push_str(&lookup(n)),
            None if width == 0 => out.push('$'),
            None => {}
        }
        rest = &after[width..];
    }
    out.push_str(rest);
    out
}

/// Go's `getShellName`: the name after `$` and how many bytes it used.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    let special = |c: u8| b"*#$@!?-".contains(&c) || c.is_ascii_digit();
    match b.first() {
        None => (None, 0),
        Some(b'{') => {
            if b.len() > 2 && special(b[1]) && b[2] == b'}' {
                return (Some(&s[1..2]), 3);
            }
            match s.find('}') {
                Some(1) => (None, 2),
                Some(end) => (Some(&s[1..end]), end + 1),
                None => (None, 1),
            }
        }
        Some(&c) if special(c) => (Some(&s[..1]), 1),
        Some(_) => {
            let end = b
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .unwrap_or(b.len());
            if end == 0 {
                (None, 0)
            } else {
                (Some(&s[..end]), end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_matches_go() {
        let env = |n: &str| {
            if n == "TEST" {
                "x".to_string()
            } else {
                String::new()
            }
        };
        assert_eq!(expand_env("${TEST}", env), "x");
        assert_eq!(expand_env("foo${TEST}bar", env), "fooxbar");
        assert_eq!(expand_env("foo$${TEST}", env), "foo${TEST}");
        assert_eq!(expand_env("foo$$bar", env), "foo$bar");
        assert_eq!(expand_env("a$", env), "a$");
        assert_eq!(expand_env("$TEST-1", env), "x-1");
    }

    #[test]
    fn merge_keys_apply_with_local_keys_winning() {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Job {
            a: u32,
            b: u32,
        }
        let jobs: Vec<Job> =
            parse_yaml("- &d {a: 1, b: 2}\n- <<: *d\n  b: 3\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((jobs[1].a, jobs[1].b), (1, 3));
    }

    #[test]
    fn base64_and_blank_documents() {
        assert_eq!(decode_base64("YWJj"), Some(b"abc".to_vec()));
        assert_eq!(decode_base64("/w=="), Some(vec![0xff]));
        assert_eq!(decode_base64("a$"), None);
        assert!(is_blank_yaml("# only a comment\n---\n\n"));
        assert!(!is_blank_yaml("global: {}\n"));
    }
}
