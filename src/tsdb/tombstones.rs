//! Deletion intervals ("tombstones"), as upstream's `tsdb/tombstones`: per
//! series, time ranges whose samples queries must skip. The head keeps them
//! in memory (and in the WAL as tombstone records); a block keeps them in its
//! `tombstones` file: `magic 0x0130BA30 <4b> | version 1 <1b> | (ref
//! <uvarint> mint <varint> maxt <varint>)* | CRC32C of the stones <4b>`.

use std::collections::HashMap;

use super::chunkenc::bstream::{put_uvarint, put_varint};
use super::wal::crc32c;

/// A closed deletion interval `[mint, maxt]` in ms.
pub type Interval = (i64, i64);

pub const MAGIC: u32 = 0x0130_BA30;
const VERSION: u8 = 1;

/// Whether `t` falls inside any of `intervals`.
pub fn is_deleted(intervals: &[Interval], t: i64) -> bool {
    intervals.iter().any(|&(a, b)| a <= t && t <= b)
}

/// Series id → sorted, non-overlapping intervals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tombstones {
    map: HashMap<u32, Vec<Interval>>,
}

impl Tombstones {
    pub fn new() -> Tombstones {
        Tombstones::default()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds an interval for series `id`, merging overlapping or adjacent ones.
    pub fn add(&mut self, id: u32, iv: Interval) {
        if iv.0 > iv.1 {
            return;
        }
        let list = self.map.entry(id).or_default();
        list.push(iv);
        list.sort_unstable();
        let mut merged: Vec<Interval> = Vec::with_capacity(list.len());
        for &(a, b) in list.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *list = merged;
    }

    /// The intervals of series `id`.
    pub fn get(&self, id: u32) -> &[Interval] {
        self.map.get(&id).map(|v| v.as_slice()).unwrap_or(&[])
    }

    pub fn remove(&mut self, id: u32) {
        self.map.remove(&id);
    }

    /// Drops intervals that end before `mint`.
    pub fn truncate_before(&mut self, mint: i64) {
        self.map.retain(|_, v| {
            v.retain(|iv| iv.1 >= mint);
            !v.is_empty()
        });
    }

    /// Every `(id, interval)`, sorted by id.
    pub fn stones(&self) -> Vec<(u32, Interval)> {
        let mut out: Vec<(u32, Interval)> = self
            .map
            .iter()
            .flat_map(|(id, v)| v.iter().map(move |iv| (*id, *iv)))
            .collect();
        out.sort_unstable();
        out
    }

    /// The tombstones file bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.push(VERSION);
        let mut body = Vec::new();
        for (id, (a, b)) in self.stones() {
            put_uvarint(&mut body, u64::from(id));
            put_varint(&mut body, a);
            put_varint(&mut body, b);
        }
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32c::checksum(&body).to_be_bytes());
        out
    }

    /// Parses a tombstones file; the error says what is wrong.
    pub fn decode(b: &[u8]) -> Result<Tombstones, String> {
        if b.len() < 9 || b[..4] != MAGIC.to_be_bytes() {
            return Err("not a tombstones file (bad magic or too short)".into());
        }
        if b[4] != VERSION {
            return Err(format!(
                "tombstones format version {} is not supported",
                b[4]
            ));
        }
        let (body, crc) = b[5..].split_at(b.len() - 9);
        if crc32c::checksum(body).to_be_bytes() != crc {
            return Err("tombstones checksum mismatch".into());
        }
        let mut t = Tombstones::new();
        let mut rest = body;
        while !rest.is_empty() {
            let id = uvarint(&mut rest)?;
            let a = varint(&mut rest)?;
            let b = varint(&mut rest)?;
            let id = u32::try_from(id).map_err(|_| "series reference out of range".to_string())?;
            t.add(id, (a, b));
        }
        Ok(t)
    }
}

fn uvarint(b: &mut &[u8]) -> Result<u64, String> {
    let mut x = 0u64;
    let mut s = 0u32;
    for (i, &c) in b.iter().enumerate().take(10) {
        if c < 0x80 {
            *b = &b[i + 1..];
            return Ok(x | (u64::from(c) << s));
        }
        x |= u64::from(c & 0x7f) << s;
        s += 7;
    }
    Err("truncated varint in tombstones".into())
}

fn varint(b: &mut &[u8]) -> Result<i64, String> {
    let ux = uvarint(b)?;
    let x = (ux >> 1) as i64;
    Ok(if ux & 1 != 0 { !x } else { x })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_round_trip() {
        let mut t = Tombstones::new();
        t.add(3, (10, 20));
        t.add(3, (21, 30));
        t.add(3, (50, 60));
        t.add(3, (15, 55));
        t.add(1, (-5, -1));
        t.add(1, (9, 2));
        assert_eq!(t.get(3), &[(10, 60)]);
        assert_eq!(t.get(1), &[(-5, -1)]);
        assert!(is_deleted(t.get(3), 10) && !is_deleted(t.get(3), 61));
        let bytes = t.encode();
        assert_eq!(Tombstones::decode(&bytes), Ok(t.clone()));
        let empty = Tombstones::new().encode();
        assert_eq!(empty.len(), 9);
        assert!(Tombstones::decode(&bytes[..bytes.len() - 1]).is_err());
        t.truncate_before(0);
        assert_eq!(t.get(1), &[]);
    }

    #[test]
    fn every_cut_and_flip_decodes_or_fails() {
        let mut t = Tombstones::new();
        t.add(3, (10, 20));
        t.add(u32::MAX, (i64::MIN, i64::MAX));
        t.add(7, (-5, -1));
        let good = t.encode();
        for cut in 0..good.len() {
            assert!(Tombstones::decode(&good[..cut]).is_err(), "cut {cut}");
        }
        let body = good.len() - 4;
        for at in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                assert!(Tombstones::decode(&bad).is_err(), "byte {at}");
                // With the checksum fixed the stones themselves are parsed.
                if at >= 5 && at < body {
                    let sum = crc32c::checksum(&bad[5..body]).to_be_bytes();
                    bad[body..].copy_from_slice(&sum);
                    let _ = Tombstones::decode(&bad);
                }
            }
        }
    }
}
