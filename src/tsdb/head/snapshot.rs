//! The head chunk snapshot, promlite's take on upstream's
//! `memory-snapshot-on-shutdown`: on a clean shutdown the whole head is
//! written to `<data dir>/chunk_snapshot.<segment:06>.<offset:010>`, where
//! `segment` and `offset` are the WAL position the snapshot covers (the end
//! of the last segment, fsynced before the snapshot is written). On open the
//! newest valid snapshot is loaded, chunk bytes straight into chunks, and
//! only the WAL segments after `segment` are replayed, so a restart costs
//! reading one file instead of re-encoding every sample.
//!
//! Why not upstream's format: upstream snapshots hold only each series' open
//! chunk, because its closed head chunks live in memory-mapped
//! `chunks_head/` files; promlite keeps closed head chunks in memory, so the
//! snapshot must carry them too. The format, version 2 (integers are
//! Go-style varints unless said otherwise):
//!
//! ```text
//! magic "PLCHSNP2"
//! sections:   k × (series records, then CRC32C of those records, 4 bytes BE)
//! index:      symbols:    uvarint n, n × (uvarint id, uvarint len, bytes)
//!             tombstones: uvarint n, n × (uvarint id, varint mint, varint maxt)
//!             varint min_valid_time
//!             uvarint last series id (ids up to it may still be named by the WAL)
//!             uvarint k, k × (uvarint offset, uvarint len, uvarint series)
//!             (a section's records are `len` bytes at `offset`, its CRC after)
//! footer:     index offset (8 bytes BE),
//!             CRC32C of the index and the index offset (4 bytes BE)
//! series record: uvarint id, uvarint k, k × uvarint symbol id
//!             (name, value alternating, sorted by name),
//!             uvarint closed, closed × (varint min_t, varint max_t,
//!             uvarint len, bytes),
//!             uvarint open samples, and when > 0: varint open min_t,
//!             uvarint bits, varint t, 8 bytes value bits (BE),
//!             uvarint t_delta, byte leading, byte trailing, uvarint len,
//!             bytes
//! ```
//!
//! Series are written in id order, [`SECTION_SERIES`] to a section, so a
//! load needs no sort and decodes sections on every core at once, each
//! thread checking the CRC of the sections it decodes: no serial pass over
//! the whole file. The index is at the end because the writer knows the
//! section offsets only after writing them.
//!
//! Version 1 ("PLCHSNP1", written before version 2) still loads: magic,
//! symbols, then each series record preceded by byte 1 and the list ended
//! by byte 0, in stripe order, then tombstones, min_valid_time and last
//! series id as in the index above, and one CRC32C of everything before it.
//!
//! The file is written under a temporary name, fsynced and renamed, so a
//! crash while writing leaves no snapshot. A snapshot whose CRC does not
//! match, that does not parse, or whose WAL position is gone (a later
//! checkpoint deleted the segment, or the segment grew after it) is ignored
//! with a warning, and the WAL is replayed in full. The WAL itself is never
//! shortened because of a snapshot, so full replay is always possible.
//!
//! What can be lost is what the WAL alone can lose: after a kill -9 no
//! snapshot is written and the next start replays the WAL (from the last
//! snapshot, if its position is still valid, or in full): nothing whose
//! commit returned is lost. After a power loss, at most the commits since
//! the last WAL fsync (`DbOptions::wal_fsync_interval`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::series::{ClosedChunk, OPEN_CHUNK_CAPACITY};
use super::{Head, PlacedPart, RestoredSeries};
use crate::tsdb::chunkenc::bstream::{put_uvarint, put_varint};
use crate::tsdb::chunkenc::{XorAppender, XorState};
use crate::tsdb::tombstones::Interval;
use crate::tsdb::wal::crc32c;
use crate::tsdb::TsdbError;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

const MAGIC: &[u8; 8] = b"PLCHSNP2";
const MAGIC_V1: &[u8; 8] = b"PLCHSNP1";
/// Series per section: enough sections for every core of a large host at
/// 100k series, few enough that each thread's start-up cost is amortised.
pub const SECTION_SERIES: usize = 4096;
/// Index offset and CRC.
const FOOTER_LEN: usize = 12;
const PREFIX: &str = "chunk_snapshot.";
/// Suffix of a snapshot being written; left over only by a crash.
const PARTIAL_SUFFIX: &str = ".partial";

/// The WAL position a snapshot covers: everything logged before `offset`
/// in segment `segment` (and in every earlier segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotPosition {
    pub segment: u32,
    pub offset: u64,
}

/// What loading a snapshot restored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    pub series: u64,
    pub chunks: u64,
}

/// Upstream's name: `chunk_snapshot.<segment:06>.<offset:010>`.
pub fn snapshot_name(pos: SnapshotPosition) -> String {
    format!("{PREFIX}{:06}.{:010}", pos.segment, pos.offset)
}

fn parse_name(name: &str) -> Option<SnapshotPosition> {
    let rest = name.strip_prefix(PREFIX)?;
    let (seg, off) = rest.split_once('.')?;
    if !seg.bytes().all(|b| b.is_ascii_digit()) || !off.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(SnapshotPosition {
        segment: seg.parse().ok()?,
        offset: off.parse().ok()?,
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TsdbError + '_ {
    move |source| TsdbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> TsdbError {
    TsdbError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The snapshots in `dir`, oldest first. Removes partial ones left by a crash.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(SnapshotPosition, PathBuf)>, TsdbError> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PREFIX) && name.ends_with(PARTIAL_SUFFIX) {
            let p = e.path();
            if let Err(err) = fs::remove_file(&p) {
                log::warn!("removing partial snapshot {}: {err}", p.display());
            }
            continue;
        }
        if let Some(pos) = parse_name(name) {
            out.push((pos, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Bytes of the snapshots in `dir`, for size retention.
pub fn snapshots_size(dir: &Path) -> u64 {
    list_snapshots(dir)
        .map(|l| {
            l.iter()
                .filter_map(|(_, p)| fs::metadata(p).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Deletes every snapshot in `dir` except the one at `keep`.
pub fn delete_snapshots_except(dir: &Path, keep: Option<SnapshotPosition>) {
    let Ok(list) = list_snapshots(dir) else {
        return;
    };
    for (pos, path) in list {
        if Some(pos) != keep {
            if let Err(e) = fs::remove_file(&path) {
                log::warn!("removing old snapshot {}: {e}", path.display());
            }
        }
    }
}

/// Deletes the snapshots in `dir` whose segment is `segment` or older: the
/// WAL up to there was checkpointed and deleted, so they can never load.
pub fn delete_snapshots_through(dir: &Path, segment: u32) {
    let Ok(list) = list_snapshots(dir) else {
        return;
    };
    for (pos, path) in list {
        if pos.segment <= segment {
            if let Err(e) = fs::remove_file(&path) {
                log::warn!("removing stale snapshot {}: {e}", path.display());
            }
        }
    }
}

/// The newest snapshot in `dir` whose WAL position still exists in
/// `wal_dir`: its segment is there and ends exactly at its offset (the WAL
/// never appends to an earlier segment, so any other length means the
/// segment was replaced or damaged).
pub fn usable_snapshot(dir: &Path, wal_dir: &Path) -> Option<(SnapshotPosition, PathBuf)> {
    let list = match list_snapshots(dir) {
        Ok(l) => l,
        Err(e) => {
            log::warn!("listing head chunk snapshots: {e}");
            return None;
        }
    };
    let (pos, path) = list.into_iter().next_back()?;
    let seg = wal_dir.join(crate::tsdb::wal::segment_name(pos.segment));
    match fs::metadata(&seg) {
        Ok(m) if m.len() == pos.offset => Some((pos, path)),
        Ok(m) => {
            log::warn!(
                "ignoring head chunk snapshot {}: WAL segment {} is {} bytes, the snapshot covers {}; replaying the full WAL",
                path.display(),
                seg.display(),
                m.len(),
                pos.offset
            );
            None
        }
        Err(_) => {
            log::warn!(
                "ignoring head chunk snapshot {}: WAL segment {} is gone; replaying the full WAL",
                path.display(),
                seg.display()
            );
            None
        }
    }
}

fn encode_series(
    buf: &mut Vec<u8>,
    id: u32,
    labels: &[u32],
    closed: &[ClosedChunk],
    open: &XorAppender,
    open_min_t: i64,
) {
    put_uvarint(buf, u64::from(id));
    put_uvarint(buf, labels.len() as u64);
    for &s in labels {
        put_uvarint(buf, u64::from(s));
    }
    put_uvarint(buf, closed.len() as u64);
    for c in closed {
        put_varint(buf, c.min_t);
        put_varint(buf, c.max_t);
        put_uvarint(buf, c.data.len() as u64);
        buf.extend_from_slice(&c.data);
    }
    let n = open.num_samples();
    put_uvarint(buf, u64::from(n));
    if n > 0 {
        let st = open.state();
        put_varint(buf, open_min_t);
        put_uvarint(buf, st.bits);
        put_varint(buf, st.t);
        buf.extend_from_slice(&st.v.to_be_bytes());
        put_uvarint(buf, st.t_delta);
        buf.push(st.leading);
        buf.push(st.trailing);
        let bytes = open.to_bytes();
        put_uvarint(buf, bytes.len() as u64);
        buf.extend_from_slice(&bytes);
    }
}

/// Writes `head` to `dir` as the snapshot at `pos`; returns its path. The
/// caller has fsynced the WAL up to `pos` and stopped appends.
pub fn write_snapshot(
    head: &Head,
    dir: &Path,
    pos: SnapshotPosition,
) -> Result<PathBuf, TsdbError> {
    write_with(head, dir, pos, write_v2)
}

/// Writes the snapshot file through `body` under a temporary name, fsyncs
/// and renames it into place.
fn write_with(
    head: &Head,
    dir: &Path,
    pos: SnapshotPosition,
    body: fn(&Head, &mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<PathBuf, TsdbError> {
    let final_path = dir.join(snapshot_name(pos));
    let tmp = dir.join(format!("{}{PARTIAL_SUFFIX}", snapshot_name(pos)));
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = body(head, &mut w).and_then(|()| {
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(TsdbError::Io {
            path: tmp,
            source: e,
        });
    }
    fs::rename(&tmp, &final_path).map_err(io(&final_path))?;
    crate::tsdb::wal::sync_dir(dir);
    Ok(final_path)
}

/// One finished section: where its records are and how many series.
struct SectionEntry {
    offset: u64,
    len: u64,
    series: u64,
}

/// The version 2 body: sections of series in id order, index, footer.
fn write_v2(head: &Head, w: &mut BufWriter<File>) -> std::io::Result<()> {
    w.write_all(MAGIC)?;
    let mut offset = MAGIC.len() as u64;
    // Stripe order is not id order; the ids alone are cheap to sort.
    let mut ids = Vec::with_capacity(usize::try_from(head.num_series()).unwrap_or(0));
    head.for_each_series(|id, _| ids.push(id));
    ids.sort_unstable();
    let mut sections = Vec::with_capacity(ids.len().div_ceil(SECTION_SERIES));
    let mut buf = Vec::with_capacity(64 * 1024);
    for chunk in ids.chunks(SECTION_SERIES) {
        let start = offset;
        let mut crc = 0;
        let mut series = 0u64;
        for &id in chunk {
            let encoded = head.with_series(id, |s| {
                let (open, open_min_t) = s.open_chunk();
                encode_series(&mut buf, id, &s.labels, s.closed_chunks(), open, open_min_t);
            });
            // A series can only vanish here if appends were not stopped;
            // then the snapshot simply does not hold it.
            series += u64::from(encoded.is_some());
            if buf.len() >= 64 * 1024 {
                crc = crc32c::update(crc, &buf);
                w.write_all(&buf)?;
                offset += buf.len() as u64;
                buf.clear();
            }
        }
        crc = crc32c::update(crc, &buf);
        w.write_all(&buf)?;
        offset += buf.len() as u64;
        buf.clear();
        w.write_all(&crc.to_be_bytes())?;
        sections.push(SectionEntry {
            offset: start,
            len: offset - start,
            series,
        });
        offset += 4;
    }
    let symbols = head.symbol_strings();
    put_uvarint(&mut buf, symbols.len() as u64);
    for (id, s) in &symbols {
        put_uvarint(&mut buf, u64::from(*id));
        put_uvarint(&mut buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }
    put_tail(&mut buf, head);
    put_uvarint(&mut buf, sections.len() as u64);
    for s in &sections {
        put_uvarint(&mut buf, s.offset);
        put_uvarint(&mut buf, s.len);
        put_uvarint(&mut buf, s.series);
    }
    buf.extend_from_slice(&offset.to_be_bytes());
    let crc = crc32c::checksum(&buf);
    buf.extend_from_slice(&crc.to_be_bytes());
    w.write_all(&buf)
}

/// Tombstones, min_valid_time and the last series id, as both versions
/// write them.
fn put_tail(buf: &mut Vec<u8>, head: &Head) {
    let stones = head.tombstone_list();
    put_uvarint(buf, stones.len() as u64);
    for (id, (a, b)) in stones {
        put_uvarint(buf, u64::from(id));
        put_varint(buf, a);
        put_varint(buf, b);
    }
    put_varint(buf, head.min_valid_time());
    put_uvarint(buf, u64::from(head.last_series_id()));
}

/// Writes a version 1 snapshot, as promlite did before version 2, so the
/// tests can check that such files still load.
#[cfg(test)]
pub(crate) fn write_snapshot_v1(
    head: &Head,
    dir: &Path,
    pos: SnapshotPosition,
) -> Result<PathBuf, TsdbError> {
    fn body(head: &Head, w: &mut BufWriter<File>) -> std::io::Result<()> {
        let mut crc = 0;
        let mut put = |w: &mut BufWriter<File>, b: &[u8]| {
            crc = crc32c::update(crc, b);
            w.write_all(b)
        };
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(MAGIC_V1);
        let symbols = head.symbol_strings();
        put_uvarint(&mut buf, symbols.len() as u64);
        for (id, s) in &symbols {
            put_uvarint(&mut buf, u64::from(*id));
            put_uvarint(&mut buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        head.for_each_series(|id, s| {
            let (open, open_min_t) = s.open_chunk();
            buf.push(1);
            encode_series(&mut buf, id, &s.labels, s.closed_chunks(), open, open_min_t);
        });
        buf.push(0);
        put_tail(&mut buf, head);
        put(w, &buf)?;
        w.write_all(&crc.to_be_bytes())
    }
    write_with(head, dir, pos, body)
}

/// Bounds-checked reads over the snapshot bytes.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn uvarint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return None;
            }
            x |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(x);
            }
        }
        None
    }

    fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        // Every length counts bytes or items of at least one byte still ahead.
        (n <= self.b.len().saturating_sub(self.pos)).then_some(n)
    }

    /// Capacity for `n` items of at least `min_bytes` each: never more
    /// than the bytes left could hold, whatever a count field claims.
    fn capacity(&self, n: usize, min_bytes: usize) -> usize {
        n.min(self.b.len().saturating_sub(self.pos) / min_bytes.max(1))
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.uvarint()?).ok()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u64_be(&mut self) -> Option<u64> {
        let s = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_be_bytes(a))
    }
}

/// Reads one series; its snapshot symbol ids are appended to `labels`.
fn read_series(c: &mut Cursor<'_>, labels: &mut Vec<u32>) -> Option<RestoredSeries> {
    let id = c.u32()?;
    let k = c.len()?;
    let start = labels.len();
    for _ in 0..k {
        labels.push(c.u32()?);
    }
    let label_range = start..labels.len();
    let n = c.len()?;
    // min_t, max_t and len take a byte each at least.
    let mut closed = Vec::with_capacity(c.capacity(n, 3));
    for _ in 0..n {
        let min_t = c.varint()?;
        let max_t = c.varint()?;
        let len = c.len()?;
        closed.push(ClosedChunk {
            min_t,
            max_t,
            data: Arc::from(c.bytes(len)?),
        });
    }
    let num = c.uvarint()?;
    let (open, open_min_t) = if num == 0 {
        (XorAppender::with_capacity(OPEN_CHUNK_CAPACITY), i64::MAX)
    } else {
        let open_min_t = c.varint()?;
        let st = XorState {
            bits: c.uvarint()?,
            t: c.varint()?,
            v: c.u64_be()?,
            t_delta: c.uvarint()?,
            leading: c.byte()?,
            trailing: c.byte()?,
        };
        let len = c.len()?;
        let bytes = c.bytes(len)?;
        let open = XorAppender::from_state(bytes, st, len.max(OPEN_CHUNK_CAPACITY))?;
        if u64::from(open.num_samples()) != num {
            return None;
        }
        (open, open_min_t)
    };
    Some(RestoredSeries {
        id,
        labels: label_range,
        closed,
        open,
        open_min_t,
    })
}

/// Loads the snapshot at `path` into `head`, which must be empty. The file
/// is memory-mapped, not read. A bad CRC or malformed content is an error
/// that may leave the head partly filled (decoding is bounds-checked, so
/// garbage cannot make it misbehave), and the caller then starts over with
/// a fresh head.
pub fn load_snapshot(head: &Head, path: &Path) -> Result<SnapshotStats, TsdbError> {
    let file = File::open(path).map_err(io(path))?;
    // SAFETY: the map is only read. Snapshots are written under a temporary
    // name and renamed into place, never modified, and the data directory
    // is locked by this process, so the file does not change under the map.
    // Populated up front: one call instead of a page fault per 4 KiB.
    // Measured against no populate + MADV_WILLNEED (faults taken by the
    // decoding threads): no faster with the file cached, and no faster
    // with it evicted from the page cache either.
    let data = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(io(path))?;
    match data.get(..MAGIC.len()) {
        Some(m) if m == MAGIC => load_v2(head, &data, path),
        Some(m) if m == MAGIC_V1 => load_v1(head, &data, path),
        _ => Err(corrupt(path, "not a promlite head chunk snapshot")),
    }
}

/// The index of a version 2 snapshot.
struct Index {
    symbols: Vec<(u32, Arc<str>)>,
    tombstones: Vec<(u32, Interval)>,
    min_valid_time: i64,
    last_id: u32,
    /// Each section's records, CRC excluded, and its series count.
    sections: Vec<(std::ops::Range<usize>, usize)>,
}

/// Reads and checks the footer and index of the version 2 file `data`.
fn read_index(data: &[u8], path: &Path) -> Result<Index, TsdbError> {
    let bad = |what: &str| corrupt(path, format!("malformed {what}"));
    let footer_at = data
        .len()
        .checked_sub(FOOTER_LEN)
        .filter(|&n| n >= MAGIC.len())
        .ok_or_else(|| corrupt(path, "snapshot is shorter than its footer"))?;
    let mut c = Cursor {
        b: data,
        pos: footer_at,
    };
    let index_at = c
        .u64_be()
        .and_then(|o| usize::try_from(o).ok())
        .filter(|&o| (MAGIC.len()..=footer_at).contains(&o))
        .ok_or_else(|| bad("footer (index offset out of range)"))?;
    let want = c
        .bytes(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let covered = data.get(index_at..footer_at + 8).unwrap_or(&[]);
    if want != Some(crc32c::checksum(covered)) {
        return Err(corrupt(path, "snapshot index checksum mismatch"));
    }
    let mut c = Cursor {
        b: data.get(..footer_at).unwrap_or(&[]),
        pos: index_at,
    };
    let symbols = read_symbols(&mut c).ok_or_else(|| bad("symbol table"))?;
    let tombstones = read_tombstones(&mut c).ok_or_else(|| bad("tombstones"))?;
    let min_valid_time = c.varint().ok_or_else(|| bad("min valid time"))?;
    let last_id = c.u32().ok_or_else(|| bad("last series id"))?;
    let k = c.len().ok_or_else(|| bad("section table"))?;
    let mut sections = Vec::with_capacity(c.capacity(k, 3));
    let mut end = MAGIC.len();
    for _ in 0..k {
        let section = (|| {
            let off = usize::try_from(c.uvarint()?).ok()?;
            let len = usize::try_from(c.uvarint()?).ok()?;
            let n = usize::try_from(c.uvarint()?).ok()?;
            let stop = off.checked_add(len)?;
            // In file order, back to back, each followed by its CRC, all
            // before the index; every series takes at least 3 bytes.
            (off == end && stop.checked_add(4)? <= index_at && n <= len / 3)
                .then_some((off..stop, n))
        })()
        .ok_or_else(|| bad("section table"))?;
        end = section.0.end + 4;
        sections.push(section);
    }
    if c.pos != footer_at || end != index_at {
        return Err(bad("index (bytes after the end, or between sections)"));
    }
    Ok(Index {
        symbols,
        tombstones,
        min_valid_time,
        last_id,
        sections,
    })
}

fn read_symbols(c: &mut Cursor<'_>) -> Option<Vec<(u32, Arc<str>)>> {
    let n = c.len()?;
    let mut symbols = Vec::with_capacity(c.capacity(n, 2));
    for _ in 0..n {
        let id = c.u32()?;
        let len = c.len()?;
        let s = std::str::from_utf8(c.bytes(len)?).ok()?;
        symbols.push((id, Arc::from(s)));
    }
    Some(symbols)
}

fn read_tombstones(c: &mut Cursor<'_>) -> Option<Vec<(u32, Interval)>> {
    let n = c.len()?;
    let mut out = Vec::with_capacity(c.capacity(n, 3));
    for _ in 0..n {
        out.push((c.u32()?, (c.varint()?, c.varint()?)));
    }
    Some(out)
}

/// One decoded section: its series, whose `labels` index `labels`.
struct DecodedSection {
    series: Vec<RestoredSeries>,
    labels: Vec<u32>,
}

/// Checks the CRC of section `records` (followed in `data` by its CRC)
/// and decodes its `n` series.
fn decode_section(
    data: &[u8],
    records: std::ops::Range<usize>,
    n: usize,
) -> Result<DecodedSection, String> {
    let sum = data
        .get(records.end..records.end + 4)
        .ok_or("section CRC past the end")?;
    let body = data.get(records.clone()).ok_or("section past the end")?;
    if crc32c::checksum(body) != u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]) {
        return Err(format!(
            "checksum mismatch in the section at byte {}",
            records.start
        ));
    }
    let mut c = Cursor { b: body, pos: 0 };
    let mut out = DecodedSection {
        series: Vec::with_capacity(n),
        labels: Vec::with_capacity(n * 16),
    };
    for i in 0..n {
        let at = records.start + c.pos;
        let s = read_series(&mut c, &mut out.labels).ok_or_else(|| {
            format!(
                "malformed series {i} (at byte {at}) of the section at byte {}",
                records.start
            )
        })?;
        out.series.push(s);
    }
    if c.pos != body.len() {
        return Err(format!(
            "bytes after the last series of the section at byte {}",
            records.start
        ));
    }
    Ok(out)
}

/// Loads a version 2 snapshot: the index and symbols, then the sections
/// decoded and placed into the head on every core (each thread takes the
/// next section until none is left), then what needs all of them.
fn load_v2(head: &Head, data: &[u8], path: &Path) -> Result<SnapshotStats, TsdbError> {
    let index = read_index(data, path)?;
    let map = head
        .intern_snapshot_symbols(&index.symbols)
        .map_err(|e| corrupt(path, e.to_string()))?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, index.sections.len().max(1));
    let next = AtomicUsize::new(0);
    let work = || -> Result<(PlacedPart, SnapshotStats), String> {
        let mut part = PlacedPart::new(&map);
        let mut stats = SnapshotStats::default();
        let result = (|| loop {
            let i = next.fetch_add(1, AtomicOrdering::Relaxed);
            let Some((records, n)) = index.sections.get(i) else {
                return Ok(());
            };
            let mut section = decode_section(data, records.clone(), *n)?;
            stats.series += section.series.len() as u64;
            stats.chunks += section
                .series
                .iter()
                .map(|s| s.closed.len() as u64 + u64::from(s.open.num_samples() > 0))
                .sum::<u64>();
            head.place_snapshot_section(&map, i, section.series, &mut section.labels, &mut part)
                .map_err(|e| e.to_string())?;
        })();
        if result.is_err() {
            // The first failure stops every thread.
            next.store(index.sections.len(), AtomicOrdering::Relaxed);
        }
        result.map(|()| (part, stats))
    };
    let results = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = vec![work()];
        for h in helpers {
            all.push(
                h.join()
                    .unwrap_or_else(|_| Err("a decoding thread panicked".into())),
            );
        }
        all
    });
    let mut parts = Vec::with_capacity(results.len());
    let mut stats = SnapshotStats::default();
    for r in results {
        let (part, st) = r.map_err(|e| corrupt(path, e))?;
        stats.series += st.series;
        stats.chunks += st.chunks;
        parts.push(part);
    }
    head.finish_snapshot(&map, parts)
        .map_err(|e| corrupt(path, e.to_string()))?;
    for (id, iv) in index.tombstones {
        head.add_tombstone(id, iv);
    }
    head.set_min_valid_time(index.min_valid_time);
    head.set_last_series_id(index.last_id);
    Ok(stats)
}

/// Loads a version 1 snapshot: its CRC is computed on another thread while
/// the series are decoded.
fn load_v1(head: &Head, data: &[u8], path: &Path) -> Result<SnapshotStats, TsdbError> {
    let Some(body_len) = data.len().checked_sub(4) else {
        return Err(corrupt(path, "snapshot is shorter than its checksum"));
    };
    let (body, sum) = data.split_at(body_len);
    let want = u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]);
    std::thread::scope(|scope| {
        let crc = scope.spawn(|| crc32c::checksum(body));
        let loaded = decode_v1(head, body, path);
        // A panicked checksum thread counts as a mismatch.
        if crc.join().ok() != Some(want) {
            return Err(corrupt(path, "snapshot checksum mismatch"));
        }
        loaded
    })
}

/// Decodes the version 1 snapshot body (CRC excluded) into `head`.
fn decode_v1(head: &Head, body: &[u8], path: &Path) -> Result<SnapshotStats, TsdbError> {
    let mut c = Cursor {
        b: body,
        pos: MAGIC_V1.len(),
    };
    let bad = |what: &str| corrupt(path, format!("malformed {what}"));
    let symbols = read_symbols(&mut c).ok_or_else(|| bad("symbol table"))?;
    let mut stats = SnapshotStats::default();
    // Sized from the file so the arrays rarely grow while decoding.
    let mut series = Vec::with_capacity(body.len() / 64);
    let mut labels = Vec::with_capacity(body.len() / 12);
    loop {
        match c.byte() {
            Some(0) => break,
            Some(1) => {}
            _ => return Err(bad("series list")),
        }
        let at = c.pos;
        let s =
            read_series(&mut c, &mut labels).ok_or_else(|| bad(&format!("series at byte {at}")))?;
        stats.series += 1;
        stats.chunks += s.closed.len() as u64 + u64::from(s.open.num_samples() > 0);
        series.push(s);
    }
    head.restore_snapshot(&symbols, &mut labels, series)
        .map_err(|e| corrupt(path, e.to_string()))?;
    for (id, iv) in read_tombstones(&mut c).ok_or_else(|| bad("tombstones"))? {
        head.add_tombstone(id, iv);
    }
    let mvt = c.varint().ok_or_else(|| bad("min valid time"))?;
    head.set_min_valid_time(mvt);
    let last_id = c.u32().ok_or_else(|| bad("last series id"))?;
    head.set_last_series_id(last_id);
    if c.pos != body.len() {
        return Err(bad("trailer (bytes after the end)"));
    }
    Ok(stats)
}

#[cfg(test)]
mod corrupt_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let pos = SnapshotPosition {
            segment: 12,
            offset: 345_678,
        };
        assert_eq!(snapshot_name(pos), "chunk_snapshot.000012.0000345678");
        assert_eq!(parse_name(&snapshot_name(pos)), Some(pos));
        assert_eq!(parse_name("chunk_snapshot.1.x"), None);
        assert_eq!(parse_name("chunk_snapshot.000001.0000000001.partial"), None);
    }

    #[test]
    fn cursor_rejects_lengths_past_the_end() {
        let mut b = Vec::new();
        put_uvarint(&mut b, 1000);
        b.push(1);
        let mut c = Cursor { b: &b, pos: 0 };
        assert_eq!(c.len(), None);
        let mut b = Vec::new();
        put_varint(&mut b, -12345);
        put_uvarint(&mut b, u64::MAX);
        let mut c = Cursor { b: &b, pos: 0 };
        assert_eq!(c.varint(), Some(-12345));
        assert_eq!(c.uvarint(), Some(u64::MAX));
        assert_eq!(c.uvarint(), None);
    }

    use crate::model::{Labels, Matcher};
    use crate::storage::Appendable;
    use crate::tsdb::{Db, DbOptions};

    /// (id, labels, closed chunks, open chunk bytes and first time).
    type SeriesDump = (u32, Labels, Vec<(i64, i64, Vec<u8>)>, Vec<u8>, i64);

    /// Everything a load must restore, in a comparable form.
    #[derive(Debug, PartialEq)]
    struct HeadDump {
        series: Vec<SeriesDump>,
        /// Postings of every label pair, and the lookup by labels.
        postings: Vec<(String, String, Vec<u32>)>,
        by_labels: Vec<Option<u32>>,
        tombstones: Vec<(u32, Interval)>,
        min_valid_time: i64,
        last_id: u32,
        counts: (u64, u64, i64, i64),
    }

    fn dump(head: &Head) -> HeadDump {
        let mut series = Vec::new();
        head.for_each_series(|id, s| {
            let (open, open_min_t) = s.open_chunk();
            let closed = s
                .closed_chunks()
                .iter()
                .map(|c| (c.min_t, c.max_t, c.data.to_vec()))
                .collect();
            series.push((id, Labels::default(), closed, open.to_bytes(), open_min_t));
        });
        series.sort_by_key(|s| s.0);
        let mut pairs = std::collections::BTreeSet::new();
        for s in &mut series {
            s.1 = head.series_labels(s.0).unwrap_or_default();
            for l in &s.1 {
                pairs.insert((l.name.to_string(), l.value.to_string()));
            }
        }
        let postings = pairs
            .into_iter()
            .map(|(n, v)| {
                let ids = head.postings_for_matchers(&[Matcher::equal(n.as_str(), v.as_str())]);
                (n, v, ids)
            })
            .collect();
        let by_labels = series.iter().map(|s| head.get_by_labels(&s.1)).collect();
        let mut tombstones = head.tombstone_list();
        tombstones.sort_unstable();
        HeadDump {
            series,
            postings,
            by_labels,
            tombstones,
            min_valid_time: head.min_valid_time(),
            last_id: head.last_series_id(),
            counts: (
                head.num_series(),
                head.num_chunks(),
                head.min_time(),
                head.max_time(),
            ),
        }
    }

    fn opts(snapshot: bool) -> DbOptions {
        DbOptions {
            wal_segment_size: 256 * 1024,
            min_block_duration: 1_000_000_000,
            memory_snapshot_on_shutdown: snapshot,
            ..DbOptions::default()
        }
    }

    /// A closed data dir with `n` series of varied label sets and lengths
    /// (closed chunks, open ones, one sample), a deletion, and series
    /// created out of id-stripe order; its head's dump.
    fn make_dir(n: usize) -> (tempfile::TempDir, HeadDump) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(tmp.path(), opts(true)).unwrap();
        let labels = |i: usize| {
            Labels::from_pairs(&[
                ("__name__", &format!("m{}", i % 7)),
                ("i", &i.to_string()),
                ("odd", if i % 2 == 1 { "yes" } else { "" }),
            ])
        };
        for t in 0..130i64 {
            let mut app = db.appender();
            for i in (0..n).rev() {
                // Series i gets i % 131 samples: some none after the first.
                if t == 0 || (t as usize) < i % 131 {
                    app.append(0, &labels(i), t * 1000, (t * i as i64) as f64)
                        .unwrap();
                }
            }
            app.commit().unwrap();
        }
        db.delete(5_000, 9_000, &[Matcher::equal("__name__", "m3")])
            .unwrap();
        db.close().unwrap();
        let want = dump(db.head());
        drop(db);
        (tmp, want)
    }

    fn open_dump(dir: &Path, snapshot_series: u64) -> HeadDump {
        let db = Db::open(dir, opts(false)).unwrap();
        assert_eq!(db.replay_stats().snapshot_series, snapshot_series);
        dump(db.head())
    }

    fn only_snapshot(dir: &Path) -> (SnapshotPosition, PathBuf) {
        let mut l = list_snapshots(dir).unwrap();
        assert_eq!(l.len(), 1);
        l.pop().unwrap()
    }

    /// Opens a copy of `dir` without its snapshot: a full WAL replay.
    fn wal_replay_dump(dir: &Path) -> HeadDump {
        let copy = tempfile::tempdir().unwrap();
        let mut stack = vec![(dir.to_path_buf(), copy.path().to_path_buf())];
        while let Some((from, to)) = stack.pop() {
            fs::create_dir_all(&to).unwrap();
            for e in fs::read_dir(&from).unwrap().flatten() {
                let name = e.file_name();
                let name_s = name.to_string_lossy();
                if name_s == "lock" || name_s.starts_with(PREFIX) {
                    continue;
                }
                if e.path().is_dir() {
                    stack.push((e.path(), to.join(&name)));
                } else {
                    fs::copy(e.path(), to.join(&name)).unwrap();
                }
            }
        }
        open_dump(copy.path(), 0)
    }

    #[test]
    fn v2_load_equals_wal_replay() {
        let n = 2 * SECTION_SERIES + 100;
        let (tmp, want) = make_dir(n);
        let (_, path) = only_snapshot(tmp.path());
        let data = fs::read(&path).unwrap();
        assert_eq!(&data[..8], MAGIC);
        assert_eq!(read_index(&data, &path).unwrap().sections.len(), 3);
        let loaded = open_dump(tmp.path(), n as u64);
        assert_eq!(loaded, want);
        assert_eq!(wal_replay_dump(tmp.path()), want);
    }

    #[test]
    fn v1_snapshot_still_loads() {
        let (tmp, want) = make_dir(300);
        let (pos, path) = only_snapshot(tmp.path());
        // Rewrite the same position as version 1 from the loaded head (the
        // open consumed the version 2 file).
        let db = Db::open(tmp.path(), opts(false)).unwrap();
        write_snapshot_v1(db.head(), tmp.path(), pos).unwrap();
        drop(db);
        let data = fs::read(&path).unwrap();
        assert_eq!(&data[..8], MAGIC_V1);
        assert_eq!(open_dump(tmp.path(), 300), want);
        assert_eq!(wal_replay_dump(tmp.path()), want);
    }

    #[test]
    fn corrupt_section_or_index_falls_back_to_wal_replay() {
        let n = SECTION_SERIES + 50;
        let (tmp, want) = make_dir(n);
        let (_, path) = only_snapshot(tmp.path());
        let good = fs::read(&path).unwrap();
        let index = read_index(&good, &path).unwrap();
        let second = index.sections[1].0.clone();
        let index_at = index.sections[1].0.end + 4;
        for at in [
            second.start + second.len() / 2,
            index_at + 3,
            good.len() - 1,
        ] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            fs::write(&path, &bad).unwrap();
            let db = Db::open(tmp.path(), opts(false)).unwrap();
            assert_eq!(db.replay_stats().snapshot_series, 0, "byte {at}");
            assert_eq!(
                db.counters
                    .snapshot_replay_errors
                    .load(std::sync::atomic::Ordering::Relaxed),
                1
            );
            assert_eq!(dump(db.head()), want, "byte {at}");
            drop(db);
        }
        let head = Head::new(Default::default());
        let mut bad = good.clone();
        bad[second.start + 1] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        let err = load_snapshot(&head, &path).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch in the section"), "{err}");
    }
}
