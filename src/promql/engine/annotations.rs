//! Warnings and info notes a query collects, as upstream's `annotations`
//! package: each is a message plus the position of the expression it is
//! about, rendered as `PromQL warning: <msg> (line:col)`.

use crate::promql::ast::PosRange;

/// Whether an annotation is a warning or an info note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Warning,
    Info,
}

/// The annotations of one query, deduplicated, in the order first seen.
#[derive(Clone, Debug, Default)]
pub struct Annotations {
    items: Vec<(Level, String, PosRange)>,
}

impl Annotations {
    pub fn warn(&mut self, msg: impl Into<String>, pos: PosRange) {
        self.add(Level::Warning, msg.into(), pos);
    }

    pub fn info(&mut self, msg: impl Into<String>, pos: PosRange) {
        self.add(Level::Info, msg.into(), pos);
    }

    fn add(&mut self, level: Level, msg: String, pos: PosRange) {
        if !self
            .items
            .iter()
            .any(|(l, m, p)| *l == level && *m == msg && *p == pos)
        {
            self.items.push((level, msg, pos));
        }
    }

    /// Adds every annotation of `other`.
    pub fn merge(&mut self, other: Annotations) {
        for (level, msg, pos) in other.items {
            self.add(level, msg, pos);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Renders warnings and infos with positions inside `query`.
    pub fn render(&self, query: &str) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        for (level, msg, pos) in &self.items {
            let at = position(query, pos.start);
            match level {
                Level::Warning => warnings.push(format!("PromQL warning: {msg} ({at})")),
                Level::Info => infos.push(format!("PromQL info: {msg} ({at})")),
            }
        }
        warnings.dedup();
        infos.dedup();
        (warnings, infos)
    }
}

/// `line:column` of byte offset `pos`, both 1-based, as upstream's `StartPosInput`.
pub fn position(query: &str, pos: usize) -> String {
    let pos = pos.min(query.len());
    let mut line = 1;
    let mut last_break: isize = -1;
    for (i, b) in query.as_bytes()[..pos].iter().enumerate() {
        if *b == b'\n' {
            line += 1;
            last_break = i as isize;
        }
    }
    format!("{}:{}", line, pos as isize - last_break)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_positions() {
        let mut a = Annotations::default();
        a.info("metric might not be a counter", PosRange::new(5, 8));
        a.info("metric might not be a counter", PosRange::new(5, 8));
        let (w, i) = a.render("rate(foo[1m])");
        assert!(w.is_empty());
        assert_eq!(i, vec!["PromQL info: metric might not be a counter (1:6)"]);
        assert_eq!(position("a\nbc", 3), "2:2");
    }
}
