//! Postings: sorted `Vec<u32>` lists of series ids and the operations a
//! select needs (intersect, merge, subtract), plus `MemPostings`, the head's
//! map from label name → value → postings.
//!
//! Matchers resolve as upstream's `PostingsForMatchers` does: a matcher that
//! does not match the empty string intersects with the union of its values'
//! postings; one that does match it (`{a=""}`, `a!="x"`, `a!~"x|y"`) selects
//! series *without* the label too, so it subtracts the postings of the values
//! it rejects. Equality and literal alternations are looked up, a regex with a
//! literal prefix scans only the values sharing that prefix.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use crate::model::{MatchType, Matcher};

/// A series' label pairs as interned strings.
pub type LabelPairs = [(Arc<str>, Arc<str>)];

/// Ids in both lists. Gallops through the longer list when sizes differ a lot.
pub fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.is_empty() {
        return out;
    }
    if large.len() / small.len() >= 16 {
        let mut rest = large;
        for &id in small {
            let i = gallop(rest, id);
            rest = &rest[i..];
            match rest.first() {
                Some(&x) if x == id => {
                    out.push(id);
                    rest = &rest[1..];
                }
                Some(_) => {}
                None => break,
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        let (x, y) = (small[i], large[j]);
        if x == y {
            out.push(x);
            i += 1;
            j += 1;
        } else if x < y {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The first index in `s` whose id is `>= id`, by exponential then binary search.
fn gallop(s: &[u32], id: u32) -> usize {
    let mut hi = 1;
    while hi < s.len() && s[hi - 1] < id {
        hi *= 2;
    }
    let lo = hi / 2;
    let hi = hi.min(s.len());
    lo + s[lo..hi].partition_point(|&x| x < id)
}

/// The union of sorted lists, sorted and without duplicates.
pub fn merge(lists: &[&[u32]]) -> Vec<u32> {
    match lists {
        [] => Vec::new(),
        [one] => one.to_vec(),
        [a, b] => merge_two(a, b),
        _ => {
            // Pairwise rounds keep the work at n·log(k) without a heap.
            let mut round: Vec<Vec<u32>> = lists.iter().map(|l| l.to_vec()).collect();
            while round.len() > 1 {
                let mut next = Vec::with_capacity(round.len().div_ceil(2));
                let mut it = round.into_iter();
                while let Some(a) = it.next() {
                    match it.next() {
                        Some(b) => next.push(merge_two(&a, &b)),
                        None => next.push(a),
                    }
                }
                round = next;
            }
            round.pop().unwrap_or_default()
        }
    }
}

fn merge_two(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x == y {
            out.push(x);
            i += 1;
            j += 1;
        } else if x < y {
            out.push(x);
            i += 1;
        } else {
            out.push(y);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Ids in `a` that are not in `b`.
pub fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

/// Inserts `id` keeping `list` sorted; ids are mostly increasing, so this is
/// usually a push.
fn insert_sorted(list: &mut Vec<u32>, id: u32) {
    match list.last() {
        None => list.push(id),
        Some(&last) if last < id => list.push(id),
        _ => {
            if let Err(i) = list.binary_search(&id) {
                list.insert(i, id);
            }
        }
    }
}

/// The head's inverted index. Names and values are the head's interned
/// strings (`Arc<str>` shared with the symbol table), so the index adds no
/// string copies.
#[derive(Default, Debug)]
pub struct MemPostings {
    by_name: HashMap<Arc<str>, BTreeMap<Arc<str>, Vec<u32>>>,
    all: Vec<u32>,
}

impl MemPostings {
    pub fn new() -> MemPostings {
        MemPostings::default()
    }

    /// Indexes series `id` with its label pairs.
    pub fn add(&mut self, id: u32, labels: &[(Arc<str>, Arc<str>)]) {
        insert_sorted(&mut self.all, id);
        for (name, value) in labels {
            let values = self.by_name.entry(name.clone()).or_default();
            match values.get_mut(&**value) {
                Some(list) => insert_sorted(list, id),
                None => {
                    values.insert(value.clone(), vec![id]);
                }
            }
        }
    }

    /// Indexes many series at once: `ids` sorted, and per label pair the
    /// sorted ids having it. Linear in the input, where `add` per series
    /// would hash every name once per series.
    pub fn add_sorted(&mut self, ids: &[u32], lists: Vec<(Arc<str>, Arc<str>, Vec<u32>)>) {
        self.all = if self.all.is_empty() {
            ids.to_vec()
        } else {
            merge(&[&self.all, ids])
        };
        // Sorted, so each name's values map can be built in one pass when
        // it is new (the common case: loading into an empty head).
        let mut lists = lists;
        lists.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut lists = lists.into_iter().peekable();
        while let Some((name, value, list)) = lists.next() {
            if !self.by_name.contains_key(&*name) {
                let mut group = vec![(value, list)];
                while let Some((_, v, l)) = lists.next_if(|n| n.0 == name) {
                    group.push((v, l));
                }
                self.by_name.insert(name, group.into_iter().collect());
                continue;
            }
            let values = self.by_name.entry(name).or_default();
            match values.get_mut(&*value) {
                Some(old) => *old = merge(&[old, &list]),
                None => {
                    values.insert(value, list);
                }
            }
        }
    }

    /// Removes series (each with the labels it was added with). Batched so
    /// a head truncation removing many series rewrites `all` once.
    pub fn delete(&mut self, series: &[(u32, &LabelPairs)]) {
        let mut ids: Vec<u32> = series.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        self.all = subtract(&self.all, &ids);
        for (id, labels) in series {
            for (name, value) in labels.iter() {
                let Some(values) = self.by_name.get_mut(&**name) else {
                    continue;
                };
                if let Some(list) = values.get_mut(&**value) {
                    if let Ok(i) = list.binary_search(id) {
                        list.remove(i);
                    }
                    if list.is_empty() {
                        values.remove(&**value);
                    } else if list.capacity() > 2 * list.len() {
                        list.shrink_to_fit();
                    }
                }
                if values.is_empty() {
                    self.by_name.remove(&**name);
                }
            }
        }
    }

    /// Every indexed series id.
    pub fn all(&self) -> &[u32] {
        &self.all
    }

    /// Postings of `name="value"`; empty when absent.
    pub fn get(&self, name: &str, value: &str) -> &[u32] {
        self.by_name
            .get(name)
            .and_then(|v| v.get(value))
            .map(|l| l.as_slice())
            .unwrap_or(&[])
    }

    /// Sorted label names.
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().map(|k| k.to_string()).collect();
        names.sort_unstable();
        names
    }

    /// Sorted values of `name`.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.by_name
            .get(name)
            .map(|v| v.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// Iterates `(name, value, postings)` over the whole index.
    pub fn for_each(&self, mut f: impl FnMut(&str, &str, &[u32])) {
        for (name, values) in &self.by_name {
            for (value, list) in values {
                f(name, value, list);
            }
        }
    }

    /// Number of distinct values of each name.
    pub fn value_counts(&self) -> Vec<(String, usize)> {
        self.by_name
            .iter()
            .map(|(n, v)| (n.to_string(), v.len()))
            .collect()
    }

    /// Series matching every matcher, sorted by id.
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut positive: Vec<Vec<u32>> = Vec::new();
        let mut negative: Vec<Vec<u32>> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                negative.push(self.rejected_postings(m));
            } else {
                positive.push(self.matched_postings(m));
            }
        }
        // Intersect the smallest lists first so the work shrinks fast.
        positive.sort_by_key(|l| l.len());
        let mut result = match positive.split_first() {
            None => self.all.clone(),
            Some((first, rest)) => {
                let mut acc = first.clone();
                for l in rest {
                    if acc.is_empty() {
                        break;
                    }
                    acc = intersect(&acc, l);
                }
                acc
            }
        };
        for n in &negative {
            if result.is_empty() {
                break;
            }
            result = subtract(&result, n);
        }
        result
    }

    /// Union of the postings of the values of `m.name` that `m` accepts.
    fn matched_postings(&self, m: &Matcher) -> Vec<u32> {
        let Some(values) = self.by_name.get(m.name.as_str()) else {
            return Vec::new();
        };
        match m.kind {
            MatchType::Equal => values.get(m.value.as_str()).cloned().unwrap_or_default(),
            MatchType::Regex => {
                if let Some(set) = m.set_matches() {
                    let lists: Vec<&[u32]> = set
                        .iter()
                        .filter_map(|v| values.get(v.as_str()).map(|l| l.as_slice()))
                        .collect();
                    return merge(&lists);
                }
                if let Some(prefix) = m.literal_prefix() {
                    let lists: Vec<&[u32]> = values
                        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                        .take_while(|(v, _)| v.starts_with(prefix.as_str()))
                        .filter(|(v, _)| m.matches(v))
                        .map(|(_, l)| l.as_slice())
                        .collect();
                    return merge(&lists);
                }
                Self::scan(values, |v| m.matches(v))
            }
            MatchType::NotEqual | MatchType::NotRegex => Self::scan(values, |v| m.matches(v)),
        }
    }

    /// Union of the postings of the values of `m.name` that `m` rejects.
    fn rejected_postings(&self, m: &Matcher) -> Vec<u32> {
        let Some(values) = self.by_name.get(m.name.as_str()) else {
            return Vec::new();
        };
        match m.kind {
            MatchType::NotEqual => values.get(m.value.as_str()).cloned().unwrap_or_default(),
            MatchType::NotRegex => match m.set_matches() {
                Some(set) => {
                    let lists: Vec<&[u32]> = set
                        .iter()
                        .filter_map(|v| values.get(v.as_str()).map(|l| l.as_slice()))
                        .collect();
                    merge(&lists)
                }
                None => Self::scan(values, |v| !m.matches(v)),
            },
            _ => Self::scan(values, |v| !m.matches(v)),
        }
    }

    fn scan(values: &BTreeMap<Arc<str>, Vec<u32>>, keep: impl Fn(&str) -> bool) -> Vec<u32> {
        let lists: Vec<&[u32]> = values
            .iter()
            .filter(|(v, _)| keep(v))
            .map(|(_, l)| l.as_slice())
            .collect();
        merge(&lists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
        a.iter().copied().filter(|x| b.contains(x)).collect()
    }

    #[test]
    fn set_operations() {
        let a = [1, 3, 5, 7, 9, 11];
        let b = [2, 3, 4, 9, 10];
        assert_eq!(intersect(&a, &b), vec![3, 9]);
        assert_eq!(intersect(&a, &[]), Vec::<u32>::new());
        assert_eq!(merge(&[&a, &b]), vec![1, 2, 3, 4, 5, 7, 9, 10, 11]);
        assert_eq!(merge(&[&a, &b, &[0, 12], &[5]]).len(), 11);
        assert_eq!(merge(&[]), Vec::<u32>::new());
        assert_eq!(subtract(&a, &b), vec![1, 5, 7, 11]);
        assert_eq!(subtract(&a, &[]), a.to_vec());
    }

    #[test]
    fn galloping_intersection_agrees_with_brute_force() {
        let large: Vec<u32> = (0..10_000).filter(|x| x % 3 != 0).collect();
        for small in [
            vec![0u32, 1, 2, 3, 9_998, 9_999],
            vec![5, 500, 5_000, 20_000],
            vec![9_999],
            vec![],
        ] {
            assert_eq!(intersect(&small, &large), brute_intersect(&small, &large));
            assert_eq!(intersect(&large, &small), brute_intersect(&small, &large));
        }
    }

    fn arc(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn index() -> MemPostings {
        let mut p = MemPostings::new();
        let series: &[&[(&str, &str)]] = &[
            &[("__name__", "up"), ("job", "api"), ("env", "prod")],
            &[("__name__", "up"), ("job", "db")],
            &[("__name__", "up"), ("job", "api_v2"), ("env", "dev")],
            &[("__name__", "cpu"), ("job", "api")],
        ];
        for (i, s) in series.iter().enumerate() {
            let labels: Vec<_> = s.iter().map(|(n, v)| (arc(n), arc(v))).collect();
            p.add(i as u32 + 1, &labels);
        }
        p
    }

    fn sel(p: &MemPostings, ms: &[(MatchType, &str, &str)]) -> Vec<u32> {
        let ms: Vec<Matcher> = ms
            .iter()
            .map(|(k, n, v)| Matcher::new(*k, *n, *v).unwrap())
            .collect();
        p.postings_for_matchers(&ms)
    }

    #[test]
    fn matcher_semantics_match_upstream() {
        use MatchType::*;
        let p = index();
        assert_eq!(sel(&p, &[(Equal, "__name__", "up")]), vec![1, 2, 3]);
        assert_eq!(sel(&p, &[(Equal, "env", "")]), vec![2, 4]);
        assert_eq!(sel(&p, &[(NotEqual, "env", "")]), vec![1, 3]);
        assert_eq!(sel(&p, &[(NotEqual, "env", "prod")]), vec![2, 3, 4]);
        assert_eq!(
            sel(&p, &[(Equal, "__name__", "up"), (NotEqual, "job", "api")]),
            vec![2, 3]
        );
        assert_eq!(sel(&p, &[(Regex, "job", "api|db")]), vec![1, 2, 4]);
        assert_eq!(sel(&p, &[(Regex, "job", "api.*")]), vec![1, 3, 4]);
        assert_eq!(sel(&p, &[(Regex, "job", "api_.+")]), vec![3]);
        assert_eq!(sel(&p, &[(NotRegex, "job", "api|db")]), vec![3]);
        assert_eq!(sel(&p, &[(Regex, "env", "prod|")]), vec![1, 2, 4]);
        assert_eq!(sel(&p, &[(NotRegex, "env", ".+")]), vec![2, 4]);
        assert_eq!(sel(&p, &[(Regex, "env", ".*")]), vec![1, 2, 3, 4]);
        assert_eq!(sel(&p, &[(Equal, "nope", "x")]), Vec::<u32>::new());
        assert_eq!(sel(&p, &[(NotEqual, "nope", "x")]), vec![1, 2, 3, 4]);
    }

    #[test]
    fn delete_removes_everywhere() {
        let mut p = index();
        let labels = [(arc("__name__"), arc("cpu")), (arc("job"), arc("api"))];
        p.delete(&[(4, &labels[..])]);
        assert_eq!(p.all(), &[1, 2, 3]);
        assert_eq!(p.get("job", "api"), &[1]);
        assert!(!p.label_values("__name__").contains(&"cpu".to_string()));
        assert_eq!(p.label_names(), vec!["__name__", "env", "job"]);
    }
}
