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
//! snapshot must carry them too. The format (integers are Go-style
//! varints unless said otherwise):
//!
//! ```text
//! magic "PLCHSNP1"
//! symbols:    uvarint n, n × (uvarint id, uvarint len, bytes)
//! series:     repeated (byte 1, uvarint id, uvarint k, k × uvarint symbol id
//!             (name, value alternating, sorted by name),
//!             uvarint closed, closed × (varint min_t, varint max_t,
//!             uvarint len, bytes),
//!             uvarint open samples, and when > 0: varint open min_t,
//!             uvarint bits, varint t, 8 bytes value bits (BE),
//!             uvarint t_delta, byte leading, byte trailing, uvarint len,
//!             bytes)
//!             then byte 0
//! tombstones: uvarint n, n × (uvarint id, varint mint, varint maxt)
//! varint min_valid_time
//! uvarint last series id (ids up to it may still be named by the WAL)
//! CRC32C (Castagnoli) of everything above, 4 bytes BE
//! ```
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
use super::{Head, RestoredSeries};
use crate::tsdb::chunkenc::bstream::{put_uvarint, put_varint};
use crate::tsdb::chunkenc::{XorAppender, XorState};
use crate::tsdb::wal::crc32c;
use crate::tsdb::TsdbError;

const MAGIC: &[u8; 8] = b"PLCHSNP1";
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

/// A file writer that keeps the CRC32C of what went through it.
struct CrcWriter {
    w: BufWriter<File>,
    crc: u32,
}

impl CrcWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.crc = crc32c::update(self.crc, b);
        self.w.write_all(b)
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
    buf.push(1);
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
    let final_path = dir.join(snapshot_name(pos));
    let tmp = dir.join(format!("{}{PARTIAL_SUFFIX}", snapshot_name(pos)));
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let mut w = CrcWriter {
        w: BufWriter::with_capacity(1 << 20, file),
        crc: 0,
    };
    let result = (|| -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(MAGIC);
        let symbols = head.symbol_strings();
        put_uvarint(&mut buf, symbols.len() as u64);
        for (id, s) in &symbols {
            put_uvarint(&mut buf, u64::from(*id));
            put_uvarint(&mut buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        w.write(&buf)?;
        buf.clear();
        let mut err = None;
        head.for_each_series(|id, s| {
            if err.is_some() {
                return;
            }
            let (open, open_min_t) = s.open_chunk();
            encode_series(&mut buf, id, &s.labels, s.closed_chunks(), open, open_min_t);
            if buf.len() >= 64 * 1024 {
                if let Err(e) = w.write(&buf) {
                    err = Some(e);
                }
                buf.clear();
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        buf.push(0);
        let stones = head.tombstone_list();
        put_uvarint(&mut buf, stones.len() as u64);
        for (id, (a, b)) in stones {
            put_uvarint(&mut buf, u64::from(id));
            put_varint(&mut buf, a);
            put_varint(&mut buf, b);
        }
        put_varint(&mut buf, head.min_valid_time());
        put_uvarint(&mut buf, u64::from(head.last_series_id()));
        w.write(&buf)?;
        let crc = w.crc;
        w.w.write_all(&crc.to_be_bytes())?;
        let file = w.w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
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
    let mut closed = Vec::with_capacity(n);
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
/// is memory-mapped, not read, and its CRC is computed on another thread
/// while the series are decoded and placed: a restart is mostly this
/// function. A bad CRC or malformed content is an error that may leave the
/// head partly filled (decoding is bounds-checked, so garbage cannot make
/// it misbehave), and the caller then starts over with a fresh head.
pub fn load_snapshot(head: &Head, path: &Path) -> Result<SnapshotStats, TsdbError> {
    let file = File::open(path).map_err(io(path))?;
    // SAFETY: the map is only read. Snapshots are written under a temporary
    // name and renamed into place, never modified, and the data directory
    // is locked by this process, so the file does not change under the map.
    // Populated up front: one call instead of a page fault per 4 KiB.
    let data = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(io(path))?;
    let Some(body_len) = data.len().checked_sub(4) else {
        return Err(corrupt(path, "snapshot is shorter than its checksum"));
    };
    let (body, sum) = data.split_at(body_len);
    let want = u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]);
    std::thread::scope(|scope| {
        let crc = scope.spawn(|| crc32c::checksum(body));
        let loaded = decode_into(head, body, path);
        // A panicked checksum thread counts as a mismatch.
        if crc.join().ok() != Some(want) {
            return Err(corrupt(path, "snapshot checksum mismatch"));
        }
        loaded
    })
}

/// Decodes the snapshot body (CRC excluded) into `head`.
fn decode_into(head: &Head, body: &[u8], path: &Path) -> Result<SnapshotStats, TsdbError> {
    if body.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(corrupt(path, "not a promlite head chunk snapshot"));
    }
    let mut c = Cursor {
        b: body,
        pos: MAGIC.len(),
    };
    let bad = |what: &str| corrupt(path, format!("malformed {what}"));
    let n = c.len().ok_or_else(|| bad("symbol table"))?;
    let mut symbols: Vec<(u32, Arc<str>)> = Vec::with_capacity(n);
    for _ in 0..n {
        let (id, len) = c.u32().zip(c.len()).ok_or_else(|| bad("symbol table"))?;
        let s = c.bytes(len).ok_or_else(|| bad("symbol table"))?;
        let s = std::str::from_utf8(s).map_err(|_| bad("symbol (not UTF-8)"))?;
        symbols.push((id, Arc::from(s)));
    }
    let mut stats = SnapshotStats::default();
    // Sized from the file so the arrays rarely grow (copy, fault in new
    // pages) while decoding: a series of a few labels and samples takes
    // about 100 bytes of it; an overestimate reserves address space that is
    // never touched.
    let mut series = Vec::with_capacity(body.len() / 64);
    let mut labels = Vec::with_capacity(body.len() / 12);
    loop {
        match c.byte() {
            Some(0) => break,
            Some(1) => {}
            _ => return Err(bad("series list")),
        }
        let s = read_series(&mut c, &mut labels).ok_or_else(|| bad("series"))?;
        stats.series += 1;
        stats.chunks += s.closed.len() as u64 + u64::from(s.open.num_samples() > 0);
        series.push(s);
    }
    head.restore_snapshot(&symbols, &mut labels, series)
        .map_err(|e| corrupt(path, e.to_string()))?;
    let n = c.len().ok_or_else(|| bad("tombstones"))?;
    for _ in 0..n {
        let id = c.u32().ok_or_else(|| bad("tombstones"))?;
        let iv = c
            .varint()
            .zip(c.varint())
            .ok_or_else(|| bad("tombstones"))?;
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
}
