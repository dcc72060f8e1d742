//! Mutation tests for the snapshot decoder: every truncation and byte flip
//! of a small snapshot, with the checksums recomputed so the decoder (not
//! just the CRC check) sees the damage, must load or fail, never panic;
//! and a head loaded from a damaged file must still take appends and
//! answer queries.

use super::*;
use crate::model::Labels;
use crate::storage::{Appender, Querier};
use crate::tsdb::head::HeadOptions;

fn small_opts() -> HeadOptions {
    HeadOptions {
        stripes: 2,
        ..HeadOptions::default()
    }
}

/// A head with a few series: closed chunks, open ones, one sample only.
fn small_head() -> Arc<Head> {
    let head = Arc::new(Head::new(small_opts()));
    let mut refs = [0u64; 4];
    for t in 0..130i64 {
        let mut app = head.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            if t > 0 && i == 3 {
                continue;
            }
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            *r = app
                .append(*r, &l, t * 1000 + i as i64, (t * i as i64) as f64 / 3.0)
                .unwrap();
        }
        Box::new(app).commit().unwrap();
    }
    head.add_tombstone(1, (5_000, 9_000));
    head
}

/// Whatever loaded must be usable: append to every series, read it all.
fn exercise(head: &Arc<Head>) {
    let mut ids = Vec::new();
    head.for_each_series(|id, _| ids.push(id));
    let mut batch: Vec<(u32, i64, f64)> = ids.iter().map(|&id| (id, 500_000, 1.0)).collect();
    head.apply_samples(&mut batch);
    let q = head.querier(i64::MIN, i64::MAX);
    for s in q.select(true, None, &[]).into_iter().flatten().flatten() {
        let mut it = s.iterator();
        let mut n = 0;
        while it.next().is_some() && n < 100_000 {
            n += 1;
        }
    }
}

/// The bits flipped at byte `at`: low, high or all, in turn, so every
/// field sees each kind of damage somewhere without a load per pattern.
fn flip(at: usize) -> u8 {
    [0x01, 0x80, 0xff][at % 3]
}

/// Loads `data` as a snapshot into a fresh head; a loaded head is exercised.
fn try_load(data: &[u8], path: &Path) {
    let head = Arc::new(Head::new(small_opts()));
    let loaded = match data.get(..MAGIC.len()) {
        Some(m) if m == MAGIC => load_v2(&head, data, path),
        Some(m) if m == MAGIC_V1 => load_v1(&head, data, path),
        _ => return,
    };
    if loaded.is_ok() {
        exercise(&head);
    }
}

/// A small head's snapshot, version 2 or 1, written into `dir`: its path
/// and bytes.
fn written(dir: &Path, v1: bool) -> (PathBuf, Vec<u8>) {
    let head = small_head();
    let pos = SnapshotPosition {
        segment: 1,
        offset: 0,
    };
    let path = if v1 {
        write_snapshot_v1(&head, dir, pos)
    } else {
        write_snapshot(&head, dir, pos)
    }
    .unwrap();
    let data = fs::read(&path).unwrap();
    (path, data)
}

/// Where a version 2 file's checksums sit, read from an undamaged copy.
struct CrcLayout {
    sections: Vec<(std::ops::Range<usize>, usize)>,
    index_at: usize,
}

impl CrcLayout {
    fn of(good: &[u8], path: &Path) -> CrcLayout {
        let index = read_index(good, path).unwrap();
        let index_at = index.sections.last().map_or(MAGIC.len(), |s| s.0.end + 4);
        CrcLayout {
            sections: index.sections,
            index_at,
        }
    }

    /// Rewrites the CRCs of `data`, so a flipped byte reaches the decoder.
    fn fix(&self, data: &mut [u8]) {
        for (r, _) in &self.sections {
            let sum = crc32c::checksum(&data[r.clone()]).to_be_bytes();
            data[r.end..r.end + 4].copy_from_slice(&sum);
        }
        let footer_at = data.len() - FOOTER_LEN;
        let sum = crc32c::checksum(&data[self.index_at..footer_at + 8]).to_be_bytes();
        data[footer_at + 8..].copy_from_slice(&sum);
    }
}

#[test]
fn v2_snapshot_mutations_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, good) = written(tmp.path(), false);
    let layout = CrcLayout::of(&good, &path);
    for cut in 0..good.len() {
        try_load(&good[..cut], &path);
    }
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= flip(at);
        try_load(&bad, &path);
        layout.fix(&mut bad);
        try_load(&bad, &path);
    }
}

#[test]
fn v1_snapshot_mutations_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, good) = written(tmp.path(), true);
    for cut in 0..good.len() {
        try_load(&good[..cut], &path);
    }
    let body = good.len() - 4;
    for at in 0..body {
        let mut bad = good.clone();
        bad[at] ^= flip(at);
        let sum = crc32c::checksum(&bad[..body]).to_be_bytes();
        bad[body..].copy_from_slice(&sum);
        try_load(&bad, &path);
    }
}

#[test]
fn malformed_series_error_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, mut bad) = written(tmp.path(), false);
    let layout = CrcLayout::of(&bad, &path);
    // The first series' id as a varint that never ends.
    bad[MAGIC.len()..MAGIC.len() + 11].fill(0xff);
    layout.fix(&mut bad);
    let fresh = Head::new(small_opts());
    let err = load_v2(&fresh, &bad, &path).err().map(|e| e.to_string());
    let want = "malformed series 0 (at byte 8) of the section at byte 8";
    assert!(err.as_deref().unwrap_or("").ends_with(want), "{err:?}");
}
