//! Corrupt files end to end through the public API: a byte flipped
//! anywhere in the WAL is a repairable corruption. The database opens with
//! every record before the damaged one, truncates the WAL there (as
//! upstream's `Repair`), and the next open finds nothing left to repair.

use crate::common::{copy_dir, samples_by_index};
use promlite::model::Labels;
use promlite::storage::Appendable;
use promlite::tsdb::wal::{list_segments, Reader};
use promlite::tsdb::{Db, DbOptions};

const SERIES: usize = 4;
const COMMITS: i64 = 30;

/// Sample counts of every series.
fn counts(db: &Db) -> Vec<usize> {
    samples_by_index(db, "corrupt_test", SERIES)
        .iter()
        .map(Vec::len)
        .collect()
}

fn opts() -> DbOptions {
    DbOptions {
        wal_compression: false,
        memory_snapshot_on_shutdown: false,
        ..DbOptions::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "corrupt_test"), ("i", &i.to_string())])
}

#[test]
fn wal_byte_flip_anywhere_is_repaired_keeping_what_precedes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    {
        let db = Db::open(&src, opts()).unwrap();
        let mut refs = [0u64; SERIES];
        for t in 0..COMMITS {
            let mut app = db.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                *r = app.append(*r, &labels(i), t * 1000, t as f64).unwrap();
            }
            app.commit().unwrap();
        }
        db.close().unwrap();
    }
    let segs = list_segments(&src.join("wal")).unwrap();
    assert_eq!(segs.len(), 1, "one segment keeps the test simple");
    let (_, seg) = &segs[0];
    let seg_name = seg.file_name().unwrap().to_owned();
    // Record boundaries: the first record is the series, then one samples
    // record per commit.
    let mut reader = Reader::new(segs.clone());
    let mut ends = vec![0u64];
    while reader.next().unwrap().is_some() {
        ends.push(reader.offset());
    }
    assert_eq!(ends.len() as i64, COMMITS + 2);
    let size = std::fs::metadata(seg).unwrap().len();
    for k in 0..24u64 {
        let at = k * size / 24 + k % 7;
        let dst = tmp.path().join(format!("flip{at}"));
        copy_dir(&src, &dst);
        let path = dst.join("wal").join(&seg_name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at as usize] ^= 0x5a;
        std::fs::write(&path, &bytes).unwrap();
        // Records ending at or before the flipped byte survive.
        let intact = ends.iter().filter(|&&e| e > 0 && e <= at).count() as i64;
        let want = if intact == 0 {
            vec![0; SERIES]
        } else {
            vec![(intact - 1) as usize; SERIES]
        };
        let db = Db::open(&dst, opts()).unwrap_or_else(|e| panic!("flip at {at}: {e}"));
        assert_eq!(db.replay_stats().corruptions, 1, "flip at {at}");
        assert_eq!(counts(&db), want, "flip at {at}");
        db.close().unwrap();
        drop(db);
        let db = Db::open(&dst, opts()).unwrap();
        assert_eq!(db.replay_stats().corruptions, 0, "flip at {at}: repaired");
        assert_eq!(counts(&db), want, "flip at {at}: after repair");
        db.close().unwrap();
        drop(db);
        std::fs::remove_dir_all(&dst).unwrap();
    }
}
