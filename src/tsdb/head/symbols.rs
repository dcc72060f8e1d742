//! The head's symbol table: every distinct label name and value is stored
//! once and referred to by a `u32` id, so a series holds its labels as a few
//! integers instead of `String`s. The postings index shares the same
//! `Arc<str>` allocations.
//!
//! Symbols are reference counted (one count per use in a series' labels),
//! so label churn does not grow the table until restart: a symbol whose
//! count drops to zero is freed, and its id reused, at the second
//! [`SymbolTable::sweep`] after that (the head sweeps on every truncation).
//! Why not at once: a reader copies a series' symbol ids under the series
//! lock and resolves them under the table's lock a moment later; if the
//! series is removed in between, its ids must still resolve to the same
//! strings. Deferring the free by a whole truncation interval (upstream's
//! default: a minute or more) makes that window harmless.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default, Debug)]
pub struct SymbolTable {
    ids: HashMap<Arc<str>, u32>,
    /// By id; `None` for a freed id waiting in `free`.
    strings: Vec<Option<Arc<str>>>,
    /// Uses of each id.
    refs: Vec<u32>,
    /// Freed ids, reused by `intern`.
    free: Vec<u32>,
    /// Ids whose count reached zero since the last sweep.
    pending: Vec<u32>,
    /// Ids whose count reached zero before the last sweep: freed at the next.
    aging: Vec<u32>,
}

impl SymbolTable {
    pub fn new() -> SymbolTable {
        SymbolTable::default()
    }

    /// The id of `s`, adding it if new; counts one more use.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            if let Some(r) = self.refs.get_mut(id as usize) {
                *r = r.saturating_add(1);
            }
            return id;
        }
        let a: Arc<str> = Arc::from(s);
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.strings.get_mut(id as usize) {
                    *slot = Some(a.clone());
                }
                if let Some(r) = self.refs.get_mut(id as usize) {
                    *r = 1;
                }
                id
            }
            None => {
                let id = self.strings.len() as u32;
                self.strings.push(Some(a.clone()));
                self.refs.push(1);
                id
            }
        };
        self.ids.insert(a, id);
        id
    }

    /// Counts `n` more uses of `id` (bulk loading).
    pub fn add_refs(&mut self, id: u32, n: u32) {
        if let Some(r) = self.refs.get_mut(id as usize) {
            *r = r.saturating_add(n);
        }
    }

    /// Counts one use of `id` less; at zero the id is freed two sweeps on.
    pub fn release(&mut self, id: u32) {
        if let Some(r) = self.refs.get_mut(id as usize) {
            if *r > 0 {
                *r -= 1;
                if *r == 0 {
                    self.pending.push(id);
                }
            }
        }
    }

    /// Frees the ids that reached zero uses before the previous sweep and
    /// still have none; returns how many were freed.
    pub fn sweep(&mut self) -> usize {
        let mut freed = 0;
        for id in std::mem::take(&mut self.aging) {
            let i = id as usize;
            if self.refs.get(i) != Some(&0) {
                continue;
            }
            let Some(slot) = self.strings.get_mut(i) else {
                continue;
            };
            if let Some(s) = slot.take() {
                self.ids.remove(&s);
                self.free.push(id);
                freed += 1;
            }
        }
        self.aging = std::mem::take(&mut self.pending);
        // Trailing free ids can go entirely, so the vectors shrink too.
        while matches!(self.strings.last(), Some(None)) {
            self.strings.pop();
            self.refs.pop();
        }
        let len = self.strings.len() as u32;
        self.free.retain(|&id| id < len);
        if self.strings.capacity() > 2 * self.strings.len() + 64 {
            self.strings.shrink_to_fit();
            self.refs.shrink_to_fit();
        }
        if self.ids.capacity() > 2 * self.ids.len() + 64 {
            self.ids.shrink_to_fit();
        }
        freed
    }

    /// The id of `s` if it is interned.
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// Makes room for `n` more symbols.
    pub fn reserve(&mut self, n: usize) {
        self.ids.reserve(n);
        self.strings.reserve(n);
        self.refs.reserve(n);
    }

    /// The string of `id`; ids come from `intern`, so a miss means "empty".
    pub fn resolve(&self, id: u32) -> &Arc<str> {
        static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        match self.strings.get(id as usize) {
            Some(Some(s)) => s,
            _ => EMPTY.get_or_init(|| Arc::from("")),
        }
    }

    /// Every live symbol with its id.
    pub fn entries(&self) -> Vec<(u32, Arc<str>)> {
        self.strings
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i as u32, s.clone()?)))
            .collect()
    }

    /// Number of interned symbols.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
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

    #[test]
    fn unused_symbols_are_freed_two_sweeps_later_and_reused() {
        let mut t = SymbolTable::new();
        let keep = t.intern("job");
        let gone = t.intern("pod-1");
        let back = t.intern("pod-2");
        t.release(gone);
        t.release(back);
        assert_eq!(t.sweep(), 0, "not freed in the sweep right after release");
        assert_eq!(&**t.resolve(gone), "pod-1", "still resolves for readers");
        // Used again before the free: it stays.
        assert_eq!(t.intern("pod-2"), back);
        assert_eq!(t.sweep(), 1);
        assert_eq!(t.lookup("pod-1"), None);
        assert_eq!(t.len(), 2);
        let new = t.intern("pod-3");
        assert_eq!(new, gone, "freed ids are reused");
        assert_eq!(&**t.resolve(new), "pod-3");
        assert_eq!(&**t.resolve(keep), "job");
        assert_eq!(&**t.resolve(back), "pod-2");
    }

    #[test]
    fn churn_keeps_the_table_bounded() {
        let mut t = SymbolTable::new();
        let job = t.intern("job");
        for round in 0..50 {
            let ids: Vec<u32> = (0..100)
                .map(|i| t.intern(&format!("v{round}-{i}")))
                .collect();
            for id in ids {
                t.release(id);
            }
            t.sweep();
        }
        assert!(t.len() <= 201, "table grew to {}", t.len());
        assert!(t.strings.len() <= 202, "slots grew to {}", t.strings.len());
        assert_eq!(&**t.resolve(job), "job");
    }
}
