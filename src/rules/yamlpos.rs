//! Line/column positions of the nodes of a block-style YAML document, so rule
//! file errors can name `line:column` as upstream's yaml.v3 nodes do.
//!
//! This is a small indentation walk, not a YAML parser: the values themselves
//! come from serde_norway. Paths look like `groups[1].rules[0].expr`; a
//! sequence item's position is that of its first key (a yaml.v3 mapping
//! node's position). Flow-style or unusual layouts simply have no entry,
//! and the error is then reported without a position (`0:0`, as upstream
//! prints a missing node).

use std::collections::HashMap;

/// Positions (1-based line, 1-based column) by node path.
#[derive(Debug, Default, Clone)]
pub struct Positions(HashMap<String, (usize, usize)>);

impl Positions {
    pub fn get(&self, path: &str) -> (usize, usize) {
        self.0.get(path).copied().unwrap_or((0, 0))
    }

    /// Indexes the first document of `text`.
    pub fn index(text: &str) -> Positions {
        let mut out = HashMap::new();
        let mut frames: Vec<Frame> = Vec::new();
        let mut counters: HashMap<String, usize> = HashMap::new();
        let mut block_scalar_indent: Option<usize> = None;
        let mut seen_content = false;
        for (lineno, raw) in text.lines().enumerate() {
            let line = lineno + 1;
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let content = raw.trim();
            if let Some(bi) = block_scalar_indent {
                if content.is_empty() || indent > bi {
                    continue;
                }
                block_scalar_indent = None;
            }
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if content == "---" || content.starts_with("--- ") {
                if seen_content {
                    break;
                }
                continue;
            }
            seen_content = true;
            let mut col = indent;
            let mut rest = content;
            // Any number of `- ` prefixes open nested sequence items.
            while rest == "-" || rest.starts_with("- ") {
                while frames
                    .last()
                    .is_some_and(|f| f.indent > col || (f.is_item && f.indent >= col))
                {
                    frames.pop();
                }
                let parent = frames.last().map(|f| f.path.clone()).unwrap_or_default();
                let n = counters.entry(parent.clone()).or_insert(0);
                let path = format!("{parent}[{n}]");
                *n += 1;
                let after = rest[1..].trim_start_matches(' ');
                let item_col = col + (rest.len() - after.len());
                out.insert(path.clone(), (line, item_col + 1));
                frames.push(Frame {
                    indent: col,
                    path,
                    is_item: true,
                });
                col = item_col;
                rest = after;
                if rest.is_empty() {
                    break;
                }
            }
            if rest.is_empty() {
                continue;
            }
            let Some((key, value)) = split_key(rest) else {
                continue;
            };
            while frames.last().is_some_and(|f| f.indent >= col) {
                frames.pop();
            }
            let parent = frames.last().map(|f| f.path.clone()).unwrap_or_default();
            let path = if parent.is_empty() {
                key.to_string()
            } else {
                format!("{parent}.{key}")
            };
            let value_trim = value.trim_start();
            let value_col = col + (rest.len() - value_trim.len());
            if value_trim.is_empty() || value_trim.starts_with('#') {
                out.insert(path.clone(), (line, col + 1));
            } else {
                out.insert(path.clone(), (line, value_col + 1));
            }
            if value_trim.starts_with('|') || value_trim.starts_with('>') {
                block_scalar_indent = Some(col);
            }
            // If the item's mapping had no position yet (`- ` alone on its line),
            // its first key gives it one.
            if let Some(f) = frames.last() {
                if f.is_item && !out.contains_key(&f.path) {
                    out.insert(f.path.clone(), (line, col + 1));
                }
            }
            frames.push(Frame {
                indent: col,
                path,
                is_item: false,
            });
        }
        Positions(out)
    }
}

struct Frame {
    indent: usize,
    path: String,
    is_item: bool,
}

/// Splits `key: value` (the key possibly quoted); `None` for a plain scalar.
fn split_key(s: &str) -> Option<(String, &str)> {
    if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = s[1..].find(q)? + 1;
        let after = &s[end + 1..];
        let value = after.strip_prefix(':')?;
        return Some((s[1..end].to_string(), value));
    }
    let idx = s
        .find(": ")
        .or_else(|| s.strip_suffix(':').map(|k| k.len()))?;
    let key = &s[..idx];
    if key.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
        return None;
    }
    Some((key.to_string(), &s[(idx + 1).min(s.len())..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_rule_file_nodes() {
        let text = "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: |\n          up\n          # not a key: here\n      - alert: y\n        expr: up == 0\n  - name: b\n";
        let p = Positions::index(text);
        assert_eq!(p.get("groups[0]"), (2, 5));
        assert_eq!(p.get("groups[0].rules[0].record"), (4, 17));
        assert_eq!(p.get("groups[0].rules[0].expr"), (5, 15));
        assert_eq!(p.get("groups[0].rules[1].alert"), (8, 16));
        assert_eq!(p.get("groups[0].rules[1].expr"), (9, 15));
        assert_eq!(p.get("groups[1]"), (10, 5));
        assert_eq!(p.get("groups[1].rules[0].expr"), (0, 0));
    }

    #[test]
    fn sequences_at_key_indent_and_second_documents() {
        let text = "groups:\n- name: a\n  rules:\n  - expr: up\n---\ngroups:\n- name: z\n";
        let p = Positions::index(text);
        assert_eq!(p.get("groups[0]"), (2, 3));
        assert_eq!(p.get("groups[0].rules[0].expr"), (4, 11));
        assert_eq!(p.get("groups[1]"), (0, 0));
    }
}
