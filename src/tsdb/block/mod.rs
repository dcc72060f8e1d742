//! Persistent blocks in upstream's on-disk format: [`writer::write_block`]
//! cuts a set of series and chunks into a block directory, [`Block`] reads
//! one back through memory maps and answers `storage::Querier` over it.
//! `compact::BlockSet` decides when blocks are written and deleted.
//! Deletions are kept in the block's `tombstones` file (rewritten by rename,
//! so hard-linked snapshots keep their own); `compact::BlockSet::
//! clean_tombstones` rewrites blocks without the deleted data.
//!
//! Crash safety follows upstream: a block is written under
//! `<ulid>.tmp-for-creation` and renamed into place, deleted by renaming it
//! to `<ulid>.tmp-for-deletion` first, and a block made from others (a merge
//! or a tombstone rewrite) names them in `compaction.parents`, so an open
//! after a crash removes the leftovers and the parents that outlived their
//! replacement.

pub mod ulid;
pub mod writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use super::head::{ChunkSnapshot, HeadSeries};
use super::tombstones::{Interval, Tombstones};
use super::wal::crc32c;
use super::TsdbError;
use crate::model::{Label, Labels, Matcher};
use crate::storage::{BoxSeries, Querier, SelectHints, SeriesSet, StorageError};
use crate::tsdb::index::{intersect, merge, subtract};

pub use writer::{
    cleanup_tmp, head_block_input, write_block, write_block_with_tombstones, write_compacted_block,
    ChunkData,
};

/// Suffix of a block directory being written.
pub const TMP_SUFFIX: &str = ".tmp-for-creation";
/// Suffix of a block directory being deleted.
pub const TMP_DELETION_SUFFIX: &str = ".tmp-for-deletion";
/// Upstream's suffix for temporary block directories before 2.21.
pub const TMP_LEGACY_SUFFIX: &str = ".tmp";

/// `meta.json`, field for field as upstream's `BlockMeta`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub ulid: String,
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// Exclusive.
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: BlockMetaCompaction,
    pub version: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockStats {
    #[serde(rename = "numSamples", default)]
    pub num_samples: u64,
    #[serde(rename = "numSeries", default)]
    pub num_series: u64,
    #[serde(rename = "numChunks", default)]
    pub num_chunks: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockMetaCompaction {
    pub level: u32,
    #[serde(default)]
    pub sources: Vec<String>,
    /// The blocks this one was made from (a merge or a tombstone rewrite);
    /// they are deleted when found next to it on open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
}

/// Upstream's `BlockDesc`: a parent block in `compaction.parents`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockDesc {
    pub ulid: String,
    #[serde(rename = "minTime")]
    pub min_time: i64,
    #[serde(rename = "maxTime")]
    pub max_time: i64,
}

impl BlockMeta {
    /// This block as a parent of another.
    pub fn desc(&self) -> BlockDesc {
        BlockDesc {
            ulid: self.ulid.clone(),
            min_time: self.min_time,
            max_time: self.max_time,
        }
    }
}

/// Bounds-checked reads over a mapped file; every miss is a corruption error.
struct Cursor<'a> {
    b: &'a [u8],
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn at(b: &'a [u8], off: usize, path: &'a Path) -> Result<Cursor<'a>, TsdbError> {
        let b = b
            .get(off..)
            .ok_or_else(|| corrupt(path, format!("offset {off} beyond end of file")))?;
        Ok(Cursor { b, path })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TsdbError> {
        if n > self.b.len() {
            return Err(corrupt(self.path, "unexpected end of data"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }

    fn be32(&mut self) -> Result<u32, TsdbError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn be64(&mut self) -> Result<u64, TsdbError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn byte(&mut self) -> Result<u8, TsdbError> {
        Ok(self.take(1)?[0])
    }

    fn uvarint(&mut self) -> Result<u64, TsdbError> {
        let mut x = 0u64;
        let mut s = 0u32;
        for i in 0..10 {
            let b = self.byte()?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    break;
                }
                return Ok(x | (u64::from(b) << s));
            }
            x |= u64::from(b & 0x7f) << s;
            s += 7;
        }
        Err(corrupt(self.path, "bad varint"))
    }

    fn varint(&mut self) -> Result<i64, TsdbError> {
        let ux = self.uvarint()?;
        let x = (ux >> 1) as i64;
        Ok(if ux & 1 != 0 { !x } else { x })
    }

    fn str(&mut self) -> Result<&'a str, TsdbError> {
        let n = self.uvarint()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| corrupt(self.path, "string is not UTF-8"))
    }

    /// A `len <4b> | body | CRC32` section, CRC checked.
    fn section(&mut self) -> Result<Cursor<'a>, TsdbError> {
        let n = self.be32()? as usize;
        let body = self.take(n)?;
        let crc = self.be32()?;
        if crc32c::checksum(body) != crc {
            return Err(corrupt(self.path, "section checksum mismatch"));
        }
        Ok(Cursor {
            b: body,
            path: self.path,
        })
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> TsdbError {
    TsdbError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Prefixes a corruption's reason with what was being read, so the
/// message says which series or chunk of the file is damaged.
fn within(what: impl std::fmt::Display) -> impl FnOnce(TsdbError) -> TsdbError {
    move |e| match e {
        TsdbError::Corrupt { path, reason } => TsdbError::Corrupt {
            path,
            reason: format!("{what}: {reason}"),
        },
        e => e,
    }
}

fn map(path: &Path) -> Result<Mmap, TsdbError> {
    let f = File::open(path).map_err(|e| TsdbError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    // SAFETY: block files are immutable once renamed into place; promlite
    // never writes to them, so the mapping does not change under us.
    unsafe { Mmap::map(&f) }.map_err(|e| TsdbError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// A series of a block: labels, chunk metas and deleted intervals.
pub type BlockSeriesEntry = (Labels, Vec<ChunkMeta>, Vec<Interval>);

/// A chunk's place in the block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChunkMeta {
    pub min_t: i64,
    pub max_t: i64,
    pub chunk_ref: u64,
}

/// An open block: `meta.json` parsed, `index` and chunk files mapped.
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: Mmap,
    index_path: PathBuf,
    chunks: Vec<Mmap>,
    /// The file of each of `chunks`, for error messages.
    chunk_paths: Vec<PathBuf>,
    symbols: Vec<String>,
    /// name → value → offset of the postings list.
    postings: BTreeMap<String, BTreeMap<String, u64>>,
    all_postings: u64,
    tombstones: RwLock<Tombstones>,
}

impl Block {
    /// Opens the block directory `dir`.
    pub fn open(dir: &Path) -> Result<Arc<Block>, TsdbError> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = std::fs::read(&meta_path).map_err(|e| TsdbError::Io {
            path: meta_path.clone(),
            source: e,
        })?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes)
            .map_err(|e| corrupt(&meta_path, format!("invalid meta.json: {e}")))?;
        if meta.version != 1 {
            return Err(corrupt(
                &meta_path,
                format!("unexpected meta file version {}", meta.version),
            ));
        }
        if meta.min_time > meta.max_time {
            return Err(corrupt(
                &meta_path,
                format!(
                    "minTime {} is after maxTime {}",
                    meta.min_time, meta.max_time
                ),
            ));
        }
        let index_path = dir.join("index");
        let index = map(&index_path)?;
        let mut chunk_files: Vec<PathBuf> = std::fs::read_dir(dir.join("chunks"))
            .map_err(|e| TsdbError::Io {
                path: dir.join("chunks"),
                source: e,
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        chunk_files.sort();
        let chunks = chunk_files
            .iter()
            .map(|p| map(p))
            .collect::<Result<Vec<_>, _>>()?;
        for (m, p) in chunks.iter().zip(&chunk_files) {
            if m.get(..4) != Some(&writer::CHUNKS_MAGIC.to_be_bytes()[..]) {
                return Err(corrupt(p, "not a chunks file (bad magic)"));
            }
            match m.get(4) {
                Some(1) => {}
                Some(v) => return Err(corrupt(p, format!("invalid chunk format version {v}"))),
                None => return Err(corrupt(p, "chunks file shorter than its header")),
            }
        }
        let (symbols, postings, all_postings) = parse_index(&index, &index_path)?;
        let tomb_path = dir.join("tombstones");
        let tombstones = match std::fs::read(&tomb_path) {
            Ok(b) => Tombstones::decode(&b).map_err(|e| corrupt(&tomb_path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tombstones::new(),
            Err(e) => {
                return Err(TsdbError::Io {
                    path: tomb_path,
                    source: e,
                })
            }
        };
        Ok(Arc::new(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            index_path,
            chunks,
            chunk_paths: chunk_files,
            symbols,
            postings,
            all_postings,
            tombstones: RwLock::new(tombstones),
        }))
    }

    /// The deleted intervals of series `sref`.
    pub fn deleted_intervals(&self, sref: u32) -> Vec<Interval> {
        self.tombstones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(sref)
            .to_vec()
    }

    /// Records a deletion of `[mint, maxt]` for series matching `matchers`
    /// and rewrites the `tombstones` file (temp file + rename). Returns how
    /// many series were affected.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<usize, TsdbError> {
        if mint > maxt || maxt < self.meta.min_time || mint >= self.meta.max_time {
            return Ok(0);
        }
        let refs = self.postings_for_matchers(matchers)?;
        if refs.is_empty() {
            return Ok(0);
        }
        let mut t = self.tombstones.write().unwrap_or_else(|e| e.into_inner());
        let mut next = t.clone();
        for &r in &refs {
            next.add(r, (mint, maxt));
        }
        let tmp = self.dir.join("tombstones.tmp");
        let path = self.dir.join("tombstones");
        let ioe = |p: &Path| {
            let p = p.to_path_buf();
            move |source| TsdbError::Io { path: p, source }
        };
        {
            use std::io::Write;
            let mut f = File::create(&tmp).map_err(ioe(&tmp))?;
            f.write_all(&next.encode()).map_err(ioe(&tmp))?;
            f.sync_all().map_err(ioe(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(ioe(&path))?;
        *t = next;
        Ok(refs.len())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    fn symbol(&self, i: u64) -> Result<&str, TsdbError> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.symbols.get(i))
            .map(|s| s.as_str())
            .ok_or_else(|| {
                corrupt(
                    &self.index_path,
                    format!(
                        "references symbol {i} beyond the symbol table ({} entries)",
                        self.symbols.len()
                    ),
                )
            })
    }

    /// The series list at postings offset `off`.
    fn postings_at(&self, off: u64) -> Result<Vec<u32>, TsdbError> {
        let read = || {
            let at = usize::try_from(off).unwrap_or(usize::MAX);
            let mut c = Cursor::at(&self.index, at, &self.index_path)?.section()?;
            let n = c.be32()? as usize;
            let mut out = Vec::with_capacity(n.min(c.b.len() / 4));
            for _ in 0..n {
                out.push(c.be32()?);
            }
            Ok(out)
        };
        read().map_err(within(format_args!("postings list at offset {off}")))
    }

    /// Series references matching every matcher (upstream's semantics, as the head).
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Result<Vec<u32>, TsdbError> {
        let mut positive: Vec<Vec<u32>> = Vec::new();
        let mut negative: Vec<Vec<u32>> = Vec::new();
        for m in matchers {
            let empty = m.matches_empty();
            let mut lists = Vec::new();
            if let Some(values) = self.postings.get(&m.name) {
                for (v, off) in values {
                    if m.matches(v) != empty {
                        lists.push(self.postings_at(*off)?);
                    }
                }
            }
            let refs: Vec<&[u32]> = lists.iter().map(|l| l.as_slice()).collect();
            if empty {
                negative.push(merge(&refs));
            } else {
                positive.push(merge(&refs));
            }
        }
        let mut result = match positive.split_first() {
            None => self.postings_at(self.all_postings)?,
            Some((first, rest)) => rest.iter().fold(first.clone(), |acc, l| intersect(&acc, l)),
        };
        for n in &negative {
            result = subtract(&result, n);
        }
        Ok(result)
    }

    /// Labels and chunk metas of series `sref`.
    pub fn series(&self, sref: u32) -> Result<(Labels, Vec<ChunkMeta>), TsdbError> {
        let at = sref as usize * 16;
        self.read_series(at)
            .map_err(within(format_args!("series {sref} at offset {at}")))
    }

    fn read_series(&self, at: usize) -> Result<(Labels, Vec<ChunkMeta>), TsdbError> {
        let mut c = Cursor::at(&self.index, at, &self.index_path)?;
        let len = c.uvarint()? as usize;
        let body = c.take(len)?;
        let crc = c.be32()?;
        if crc32c::checksum(body) != crc {
            return Err(corrupt(&self.index_path, "checksum mismatch"));
        }
        let mut c = Cursor {
            b: body,
            path: &self.index_path,
        };
        let n = c.uvarint()? as usize;
        let mut labels = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let name = self.symbol(c.uvarint()?)?.to_string();
            let value = self.symbol(c.uvarint()?)?.to_string();
            labels.push(Label { name, value });
        }
        let k = c.uvarint()? as usize;
        let mut metas = Vec::with_capacity(k.min(1024));
        let (mut prev_maxt, mut prev_ref) = (0i64, 0u64);
        for i in 0..k {
            let min_t = if i == 0 {
                c.varint()?
            } else {
                prev_maxt.wrapping_add(c.uvarint()? as i64)
            };
            let max_t = min_t.wrapping_add(c.uvarint()? as i64);
            let chunk_ref = if i == 0 {
                c.uvarint()?
            } else {
                (prev_ref as i64).wrapping_add(c.varint()?) as u64
            };
            metas.push(ChunkMeta {
                min_t,
                max_t,
                chunk_ref,
            });
            prev_maxt = max_t;
            prev_ref = chunk_ref;
        }
        Ok((Labels::new(labels), metas))
    }

    /// The XOR data of a chunk.
    pub fn chunk(&self, chunk_ref: u64) -> Result<&[u8], TsdbError> {
        let seq = (chunk_ref >> 32) as usize;
        let off = (chunk_ref & 0xffff_ffff) as usize;
        let (Some(file), Some(path)) = (self.chunks.get(seq), self.chunk_paths.get(seq)) else {
            return Err(corrupt(
                &self.dir.join("chunks"),
                format!(
                    "chunk {chunk_ref} is in segment file {} of {}",
                    seq + 1,
                    self.chunks.len()
                ),
            ));
        };
        let read = || {
            let mut c = Cursor::at(file, off, path)?;
            let len = c.uvarint()? as usize;
            let enc = c.byte()?;
            let data = c.take(len)?;
            let crc = c.be32()?;
            if crc32c::update(crc32c::checksum(&[enc]), data) != crc {
                return Err(corrupt(path, "checksum mismatch"));
            }
            if enc != crate::tsdb::chunkenc::ENC_XOR {
                return Err(corrupt(
                    path,
                    format!("chunk encoding {enc} is not supported by promlite"),
                ));
            }
            Ok(data)
        };
        read().map_err(within(format_args!("chunk {chunk_ref} at offset {off}")))
    }

    /// Every series with its chunk metas and deleted intervals, in label order.
    pub fn all_series(&self) -> Result<Vec<BlockSeriesEntry>, TsdbError> {
        self.postings_at(self.all_postings)?
            .into_iter()
            .map(|r| {
                let (l, m) = self.series(r)?;
                Ok((l, m, self.deleted_intervals(r)))
            })
            .collect()
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(self: &Arc<Self>, mint: i64, maxt: i64) -> BlockQuerier {
        BlockQuerier {
            block: self.clone(),
            mint,
            maxt,
        }
    }
}

type ParsedIndex = (Vec<String>, BTreeMap<String, BTreeMap<String, u64>>, u64);

fn parse_index(b: &[u8], path: &Path) -> Result<ParsedIndex, TsdbError> {
    if b.len() < 5 + 52 || b[..4] != writer::INDEX_MAGIC.to_be_bytes() {
        return Err(corrupt(path, "not an index file (bad magic)"));
    }
    if b[4] != writer::INDEX_VERSION_V2 {
        return Err(corrupt(
            path,
            format!("index format version {} is not supported by promlite", b[4]),
        ));
    }
    let toc_at = b.len() - 52;
    let mut toc = Cursor::at(b, toc_at, path)?;
    let toc_bytes = &b[toc_at..toc_at + 48];
    let mut vals = [0u64; 6];
    for v in vals.iter_mut() {
        *v = toc.be64()?;
    }
    if crc32c::checksum(toc_bytes) != toc.be32()? {
        return Err(corrupt(path, "TOC checksum mismatch"));
    }
    let [symbols_off, _, _, _, _, postings_table_off] = vals;
    let mut c = Cursor::at(b, symbols_off as usize, path)?.section()?;
    let n = c.be32()? as usize;
    // Each symbol takes at least its length byte.
    let mut symbols = Vec::with_capacity(n.min(c.b.len()));
    for _ in 0..n {
        symbols.push(c.str()?.to_string());
    }
    let mut postings: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut all = 0;
    if postings_table_off != 0 {
        let mut c = Cursor::at(b, postings_table_off as usize, path)?.section()?;
        let n = c.be32()?;
        for _ in 0..n {
            if c.byte()? != 2 {
                return Err(corrupt(path, "postings offset entry without 2 keys"));
            }
            let name = c.str()?;
            let value = c.str()?;
            let off = c.uvarint()?;
            if name.is_empty() && value.is_empty() {
                all = off;
            } else {
                postings
                    .entry(name.to_string())
                    .or_default()
                    .insert(value.to_string(), off);
            }
        }
    }
    Ok((symbols, postings, all))
}

/// Reads one block over a time range.
pub struct BlockQuerier {
    block: Arc<Block>,
    mint: i64,
    maxt: i64,
}

impl BlockQuerier {
    fn labels_of(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, TsdbError> {
        self.block
            .postings_for_matchers(matchers)?
            .into_iter()
            .map(|r| self.block.series(r).map(|(l, _)| l))
            .collect()
    }
}

impl Querier for BlockQuerier {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        // Series references follow label order, so the set is always sorted.
        let refs = self.block.postings_for_matchers(matchers)?;
        let block = self.block.clone();
        let (mint, maxt) = (self.mint, self.maxt);
        Ok(Box::new(refs.into_iter().filter_map(move |r| {
            let (labels, metas) = match block.series(r) {
                Ok(x) => x,
                Err(e) => return Some(Err(StorageError::from(e))),
            };
            let mut chunks = Vec::new();
            for m in metas.iter().filter(|m| m.max_t >= mint && m.min_t <= maxt) {
                match block.chunk(m.chunk_ref) {
                    Ok(data) => chunks.push(ChunkSnapshot {
                        min_t: m.min_t,
                        max_t: m.max_t,
                        data: Arc::from(data),
                    }),
                    Err(e) => return Some(Err(StorageError::from(e))),
                }
            }
            if chunks.is_empty() {
                return None;
            }
            let deleted = block.deleted_intervals(r);
            let s: BoxSeries =
                Box::new(HeadSeries::new(labels, chunks, mint, maxt).with_deleted(deleted));
            Some(Ok(s))
        })))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self
                .block
                .postings
                .get(name)
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default());
        }
        let mut v: Vec<String> = self
            .labels_of(matchers)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self.block.postings.keys().cloned().collect());
        }
        let mut v: Vec<String> = self
            .labels_of(matchers)?
            .into_iter()
            .flat_map(|l| l.into_vec().into_iter().map(|l| l.name))
            .collect();
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }
}

#[cfg(test)]
mod corrupt_tests;
#[cfg(test)]
mod tests;
