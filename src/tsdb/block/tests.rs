//! Block round trip: cut the head into a block, reopen it, read every
//! sample back; a crashed write or deletion leaves only a tmp dir that
//! cleanup removes; `compaction.parents` survives meta.json.

use super::*;
use crate::model::MatchType;
use crate::storage::Appender;
use crate::tsdb::head::{Head, HeadOptions};

fn head_with_data() -> Arc<Head> {
    let h = Arc::new(Head::new(HeadOptions::default()));
    let mut refs = vec![0u64; 30];
    for t in 0..300i64 {
        let mut app = h.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            let l = Labels::from_pairs(&[
                ("__name__", if i % 2 == 0 { "even" } else { "odd" }),
                ("i", &i.to_string()),
                ("zone", if i % 3 == 0 { "" } else { "z" }),
            ]);
            *r = app
                .append(*r, &l, t * 15_000, (t * i as i64) as f64 / 7.0)
                .unwrap();
        }
        Box::new(app).commit().unwrap();
    }
    h
}

fn collect(q: &dyn Querier, ms: &[Matcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
    q.select(true, None, ms)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            let mut it = s.iterator();
            let mut v = Vec::new();
            while let Some(x) = it.next() {
                v.push(x);
            }
            (s.labels().clone(), v)
        })
        .collect()
}

fn write_head(h: &Head, dir: &Path) -> BlockMeta {
    let all = h.postings_for_matchers(&[]);
    let series = h.series_chunks(&all, i64::MIN, i64::MAX);
    let input = head_block_input(&series);
    write_block(dir, input, h.min_time(), h.max_time() + 1).unwrap()
}

#[test]
fn round_trip_reads_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let h = head_with_data();
    let meta = write_head(&h, tmp.path());
    assert_eq!(meta.stats.num_series, 30);
    assert_eq!(meta.stats.num_samples, 30 * 300);
    assert_eq!(meta.stats.num_chunks, 30 * 3);
    let b = Block::open(&tmp.path().join(&meta.ulid)).unwrap();
    assert_eq!(b.meta(), &meta);
    let hq = h.querier(i64::MIN, i64::MAX);
    let bq = b.querier(i64::MIN, i64::MAX);
    let cases: Vec<Vec<Matcher>> = vec![
        vec![Matcher::new(MatchType::Regex, "__name__", ".+").unwrap()],
        vec![
            Matcher::equal("__name__", "odd"),
            Matcher::equal("zone", ""),
        ],
        vec![Matcher::new(MatchType::NotEqual, "i", "4").unwrap()],
        vec![Matcher::new(MatchType::Regex, "i", "1.*").unwrap()],
    ];
    for ms in &cases {
        let want = collect(&hq, ms);
        assert!(!want.is_empty());
        assert_eq!(collect(&bq, ms), want, "{ms:?}");
    }
    // A sub-range is clipped the same way as in the head.
    let (h2, b2) = (h.querier(100_000, 2_000_000), b.querier(100_000, 2_000_000));
    let m = [Matcher::equal("i", "7")];
    assert_eq!(collect(&b2, &m), collect(&h2, &m));
    assert_eq!(bq.label_names(&[]).unwrap(), hq.label_names(&[]).unwrap());
    assert_eq!(
        bq.label_values("i", &[]).unwrap(),
        hq.label_values("i", &[]).unwrap()
    );
    let odd = [Matcher::equal("__name__", "odd")];
    assert_eq!(bq.label_values("zone", &odd).unwrap(), vec!["z"]);
}

#[test]
fn corrupt_index_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = write_head(&head_with_data(), tmp.path());
    let dir = tmp.path().join(&meta.ulid);
    let index = std::fs::read(dir.join("index")).unwrap();
    for cut in [0, 5, index.len() / 2, index.len() - 1] {
        std::fs::write(dir.join("index"), &index[..cut]).unwrap();
        assert!(Block::open(&dir).is_err(), "cut at {cut}");
    }
    let mut flipped = index.clone();
    flipped[20] ^= 0x55;
    std::fs::write(dir.join("index"), &flipped).unwrap();
    assert!(Block::open(&dir).is_err());
}

#[test]
fn leftover_tmp_dirs_are_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = write_head(&head_with_data(), tmp.path());
    let dir = tmp.path().join(&meta.ulid);
    // A write cut short (a copy of the block with half its index), a
    // deletion cut short, and upstream's pre-2.21 temporary name.
    let mut leftovers = Vec::new();
    for suffix in [TMP_SUFFIX, TMP_DELETION_SUFFIX, TMP_LEGACY_SUFFIX] {
        let ulid = ulid::new_ulid(1_000);
        let p = tmp.path().join(format!("{ulid}{suffix}"));
        std::fs::create_dir_all(p.join("chunks")).unwrap();
        let index = std::fs::read(dir.join("index")).unwrap();
        std::fs::write(p.join("index"), &index[..index.len() / 2]).unwrap();
        std::fs::copy(dir.join("meta.json"), p.join("meta.json")).unwrap();
        leftovers.push(p);
    }
    // Not a block name: not promlite's to delete.
    let other = tmp.path().join(format!("backup{TMP_SUFFIX}"));
    std::fs::create_dir_all(&other).unwrap();
    assert_eq!(cleanup_tmp(tmp.path()).unwrap(), 3);
    for p in &leftovers {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    assert!(other.exists());
    assert!(dir.exists());
    assert!(writer::is_tmp_block_dir(&format!(
        "{}{TMP_DELETION_SUFFIX}",
        meta.ulid
    )));
    assert!(!writer::is_tmp_block_dir(&meta.ulid));
}

#[test]
fn parents_round_trip_through_meta_json() {
    let tmp = tempfile::tempdir().unwrap();
    let h = head_with_data();
    let parent = write_head(&h, tmp.path());
    let meta = write_compacted_block(
        tmp.path(),
        Vec::new(),
        0,
        1,
        &std::collections::HashMap::new(),
        BlockMetaCompaction {
            level: 2,
            sources: vec![parent.ulid.clone()],
            parents: vec![parent.desc()],
        },
    )
    .unwrap();
    let json = std::fs::read_to_string(tmp.path().join(&meta.ulid).join("meta.json")).unwrap();
    assert!(json.contains("\"parents\""), "{json}");
    assert!(json.contains("\"minTime\""), "{json}");
    let b = Block::open(&tmp.path().join(&meta.ulid)).unwrap();
    assert_eq!(b.meta().compaction.parents, vec![parent.desc()]);
    // A head block has no parents and writes none, as upstream.
    let json = std::fs::read_to_string(tmp.path().join(&parent.ulid).join("meta.json")).unwrap();
    assert!(!json.contains("parents"), "{json}");
}
