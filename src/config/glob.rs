//! File globs as upstream uses them (`rule_files`, `scrape_config_files`,
//! `file_sd_configs`): wildcards (`*`, `?`, `[a-z]`, `[!a]`) only in the last
//! path segment, which is all upstream's path checks allow. Results are
//! sorted, as Go's `filepath.Glob`.

use std::path::{Path, PathBuf};

/// Whether `pattern` is a valid rule/scrape-config-file path: upstream's
/// `^[^*]*(\*[^/]*)?$` (at most one `*` segment, and it is the last).
pub fn is_valid_glob_path(pattern: &str) -> bool {
    match pattern.find('*') {
        None => true,
        Some(i) => !pattern[i + 1..].contains('/'),
    }
}

/// The existing files matching `pattern`. A pattern without wildcards
/// matches itself if it exists; an unreadable folder matches nothing.
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    let (dir, name) = match pattern.rfind('/') {
        Some(i) => (&pattern[..i.max(1)], &pattern[i + 1..]),
        None => (".", pattern),
    };
    if !has_meta(name) {
        let p = Path::new(pattern);
        return if p.exists() {
            vec![p.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| wildcard_match(name, n))
        })
        .map(|e| {
            if pattern.contains('/') {
                Path::new(dir).join(e.file_name())
            } else {
                PathBuf::from(e.file_name())
            }
        })
        .collect();
    out.sort();
    out
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Matches one path segment against a shell pattern.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return n.is_empty();
    };
    match first {
        '*' => (0..=n.len()).any(|skip| match_from(rest, &n[skip..])),
        '?' => !n.is_empty() && match_from(rest, &n[1..]),
        '[' => {
            let Some((&c, n_rest)) = n.split_first() else {
                return false;
            };
            match match_class(rest, c) {
                Some((true, after)) => match_from(after, n_rest),
                Some((false, _)) => false,
                // An unclosed class is a literal '['.
                None => c == '[' && match_from(rest, n_rest),
            }
        }
        '\\' if !rest.is_empty() => {
            !n.is_empty() && n[0] == rest[0] && match_from(&rest[1..], &n[1..])
        }
        lit => !n.is_empty() && n[0] == lit && match_from(rest, &n[1..]),
    }
}

/// Matches `c` against a class body (after `[`); returns whether it matched
/// and the pattern after the closing `]`.
fn match_class(p: &[char], c: char) -> Option<(bool, &[char])> {
    let (negate, mut i) = match p.first() {
        Some('!') | Some('^') => (true, 1),
        _ => (false, 0),
    };
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, &p[i + 1..]));
        }
        first = false;
        let lo = p[i];
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if lo <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.yml", "a.yml"));
        assert!(!wildcard_match("*.yml", "a.yaml"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("[a-c]x", "bx"));
        assert!(!wildcard_match("[!a-c]x", "bx"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn path_rules() {
        assert!(is_valid_glob_path("my/*.rules"));
        assert!(is_valid_glob_path("my_rule"));
        assert!(!is_valid_glob_path("my/*/rule"));
    }

    #[test]
    fn globs_files_sorted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for n in ["b.yml", "a.yml", "c.txt"] {
            std::fs::write(dir.path().join(n), "").unwrap_or_else(|e| panic!("{e}"));
        }
        let pat = format!("{}/*.yml", dir.path().display());
        let got: Vec<String> = glob(&pat)
            .iter()
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(String::from))
            .collect();
        assert_eq!(got, vec!["a.yml", "b.yml"]);
        assert!(glob(&format!("{}/nope/*.yml", dir.path().display())).is_empty());
    }
}
