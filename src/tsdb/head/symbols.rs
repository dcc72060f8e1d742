//! The head's symbol table: every distinct label name and value is stored
//! once and referred to by a `u32` id, so a series holds its labels as a few
//! integers instead of `String`s. The postings index shares the same
//! `Arc<str>` allocations.
//!
//! Symbols are not reference counted: a string stays interned after the
//! last series using it is removed. Label churn therefore grows the table
//! until restart (replay interns only what is still alive).

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default, Debug)]
pub struct SymbolTable {
    ids: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
}

impl SymbolTable {
    pub fn new() -> SymbolTable {
        SymbolTable::default()
    }

    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        let a: Arc<str> = Arc::from(s);
        self.strings.push(a.clone());
        self.ids.insert(a, id);
        id
    }

    /// Makes room for `n` more symbols.
    pub fn reserve(&mut self, n: usize) {
        self.ids.reserve(n);
        self.strings.reserve(n);
    }

    /// The id of `s` if it is interned.
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string of `id`; ids come from `intern`, so a miss means "empty".
    pub fn resolve(&self, id: u32) -> &Arc<str> {
        static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        self.strings
            .get(id as usize)
            .unwrap_or_else(|| EMPTY.get_or_init(|| Arc::from("")))
    }

    /// Every symbol with its id.
    pub fn entries(&self) -> Vec<(u32, Arc<str>)> {
        self.strings
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u32, s.clone()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_is_idempotent() {
        let mut t = SymbolTable::new();
        let a = t.intern("job");
        let b = t.intern("api");
        assert_eq!(t.intern("job"), a);
        assert_ne!(a, b);
        assert_eq!(&**t.resolve(b), "api");
        assert_eq!(t.lookup("nope"), None);
        assert_eq!(&**t.resolve(99), "");
        assert_eq!(t.len(), 2);
    }
}
