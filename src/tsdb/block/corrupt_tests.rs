//! Mutation tests for the block readers: every cut and byte flip of a
//! small block's `index`, chunk segment, `tombstones` and `meta.json`, with
//! the index's checksums recomputed so the parsers behind them see the
//! damage, must open and answer queries or fail with an error, never panic.

use super::*;
use crate::model::MatchType;
use crate::storage::Appender;
use crate::tsdb::head::{Head, HeadOptions};

/// A block of a few series with several chunks each; its directory.
fn small_block(root: &Path) -> PathBuf {
    let h = Arc::new(Head::new(HeadOptions {
        stripes: 2,
        ..HeadOptions::default()
    }));
    let mut refs = [0u64; 3];
    for t in 0..250i64 {
        let mut app = h.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            *r = app
                .append(*r, &l, t * 15_000, (t * i as i64) as f64)
                .unwrap();
        }
        Box::new(app).commit().unwrap();
    }
    let all = h.postings_for_matchers(&[]);
    let series = h.series_chunks(&all, i64::MIN, i64::MAX);
    let input = head_block_input(&series);
    let meta = write_block(root, input, 0, 250 * 15_000).unwrap();
    let dir = root.join(&meta.ulid);
    let b = Block::open(&dir).unwrap();
    let mut t = Tombstones::new();
    for r in b.postings_at(b.all_postings).unwrap() {
        t.add(r, (30_000, 60_000));
    }
    std::fs::write(dir.join("tombstones"), t.encode()).unwrap();
    dir
}

/// Opens `dir` and, when it opens, reads everything a query can reach.
fn open_and_read(dir: &Path) {
    let Ok(b) = Block::open(dir) else { return };
    let q = b.querier(i64::MIN, i64::MAX);
    let re = Matcher::new(MatchType::Regex, "i", "1|2").unwrap();
    let ne = Matcher::new(MatchType::NotEqual, "i", "0").unwrap();
    for ms in [vec![], vec![re], vec![ne]] {
        if let Ok(set) = q.select(true, None, &ms) {
            for s in set.flatten() {
                let mut it = s.iterator();
                let mut n = 0;
                while it.next().is_some() && n < 100_000 {
                    n += 1;
                }
            }
        }
        let _ = q.label_names(&ms);
        let _ = q.label_values("i", &ms);
    }
    let _ = b.all_series();
}

/// Byte ranges under one CRC in a good index: (body, where its CRC is).
fn crc_regions(b: &Block) -> Vec<(std::ops::Range<usize>, usize)> {
    let ix = &b.index[..];
    let be32 = |at: usize| u32::from_be_bytes([ix[at], ix[at + 1], ix[at + 2], ix[at + 3]]);
    let be64 = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&ix[at..at + 8]);
        u64::from_be_bytes(a) as usize
    };
    let section = |at: usize| {
        let n = be32(at) as usize;
        (at + 4..at + 4 + n, at + 4 + n)
    };
    let toc = ix.len() - 52;
    let mut out = vec![(toc..toc + 48, toc + 48), section(be64(toc))];
    out.push(section(be64(toc + 40)));
    let mut offsets: Vec<u64> = b
        .postings
        .values()
        .flat_map(|v| v.values().copied())
        .collect();
    offsets.push(b.all_postings);
    for off in offsets {
        out.push(section(off as usize));
    }
    for r in b.postings_at(b.all_postings).unwrap() {
        let at = r as usize * 16;
        let mut c = Cursor::at(ix, at, Path::new("")).unwrap();
        let len = c.uvarint().unwrap() as usize;
        let start = ix.len() - c.b.len();
        out.push((start..start + len, start + len));
    }
    out
}

fn flip(at: usize) -> u8 {
    [0x01, 0x80, 0xff][at % 3]
}

#[test]
fn every_cut_and_flip_of_the_index_opens_or_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_block(tmp.path());
    let path = dir.join("index");
    let good = std::fs::read(&path).unwrap();
    let regions = crc_regions(&Block::open(&dir).unwrap());
    for cut in (0..good.len()).step_by(3) {
        std::fs::write(&path, &good[..cut]).unwrap();
        open_and_read(&dir);
    }
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= flip(at);
        // Fix the checksum over the flipped byte so the parser sees it.
        for (body, crc_at) in &regions {
            if body.contains(&at) {
                let sum = crc32c::checksum(&bad[body.clone()]).to_be_bytes();
                bad[*crc_at..*crc_at + 4].copy_from_slice(&sum);
            }
        }
        std::fs::write(&path, &bad).unwrap();
        open_and_read(&dir);
    }
}

#[test]
fn every_cut_and_flip_of_a_chunk_segment_reads_or_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_block(tmp.path());
    let path = dir.join("chunks").join("000001");
    let good = std::fs::read(&path).unwrap();
    for cut in (0..good.len()).step_by(7) {
        std::fs::write(&path, &good[..cut]).unwrap();
        open_and_read(&dir);
    }
    for at in (0..good.len()).step_by(3) {
        let mut bad = good.clone();
        bad[at] ^= flip(at / 3);
        std::fs::write(&path, &bad).unwrap();
        open_and_read(&dir);
    }
}

#[test]
fn every_cut_and_flip_of_meta_and_tombstones_opens_or_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_block(tmp.path());
    for name in ["meta.json", "tombstones"] {
        let path = dir.join(name);
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            open_and_read(&dir);
        }
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= flip(at);
            std::fs::write(&path, &bad).unwrap();
            open_and_read(&dir);
        }
        std::fs::write(&path, &good).unwrap();
    }
}

#[test]
fn meta_with_another_version_or_inverted_times_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_block(tmp.path());
    let path = dir.join("meta.json");
    let good: BlockMeta = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (bad, want) in [
        (
            BlockMeta {
                version: 2,
                ..good.clone()
            },
            "unexpected meta file version 2",
        ),
        (
            BlockMeta {
                min_time: good.max_time + 1,
                ..good.clone()
            },
            "is after maxTime",
        ),
    ] {
        std::fs::write(&path, serde_json::to_vec(&bad).unwrap()).unwrap();
        let err = Block::open(&dir)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("meta.json") && err.contains(want), "{err}");
    }
}

#[test]
fn errors_name_the_file_the_series_and_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_block(tmp.path());
    let path = dir.join("index");
    let mut bad = std::fs::read(&path).unwrap();
    let b = Block::open(&dir).unwrap();
    let sref = b.postings_at(b.all_postings).unwrap()[0];
    let symbols = b.symbols.len();
    drop(b);
    // Entry: len, label count, first name's symbol (one byte while < 128).
    let at = sref as usize * 16;
    let len = bad[at] as usize;
    assert!(len < 0x80 && bad[at + 2] < 0x80);
    bad[at + 2] = 0x7f;
    let sum = crc32c::checksum(&bad[at + 1..at + 1 + len]).to_be_bytes();
    bad[at + 1 + len..at + 5 + len].copy_from_slice(&sum);
    std::fs::write(&path, &bad).unwrap();
    let b = Block::open(&dir).unwrap();
    let err = b.series(sref).unwrap_err().to_string();
    let want = format!(
        "index: corrupt: series {sref} at offset {at}: references symbol 127 beyond the \
         symbol table ({symbols} entries)"
    );
    assert!(err.ends_with(&want), "{err}");
    let err = b.chunk(7 << 32).unwrap_err().to_string();
    assert!(
        err.contains("chunk 30064771072 is in segment file 8 of 1"),
        "{err}"
    );
    let err = b.chunk(1 << 20).unwrap_err().to_string();
    assert!(
        err.contains(
            "000001: corrupt: chunk 1048576 at offset 1048576: offset 1048576 beyond end of file"
        ),
        "{err}"
    );
}

#[test]
fn chunk_file_of_another_format_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_block(tmp.path());
    let path = dir.join("chunks").join("000001");
    let mut bad = std::fs::read(&path).unwrap();
    bad[4] = 2;
    std::fs::write(&path, &bad).unwrap();
    let err = Block::open(&dir)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.ends_with("000001: corrupt: invalid chunk format version 2"),
        "{err}"
    );
    std::fs::write(&path, &bad[..4]).unwrap();
    let err = Block::open(&dir)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.ends_with("shorter than its header"), "{err}");
}
