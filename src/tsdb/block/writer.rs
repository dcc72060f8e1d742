//! Writing a block in upstream's formats: `chunks/000001...` (chunk segment
//! files, magic 0x85BD40DD), `index` (format v2: symbol table, 16-byte aligned
//! series, label indices, postings, label and postings offset tables, TOC,
//! every section with a CRC32C), an empty `tombstones` file and `meta.json`.
//! Everything is written under `<ulid>.tmp-for-creation` and renamed into
//! place, so a crash leaves no half block; [`cleanup_tmp`] removes leftovers
//! of writes and deletions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{
    BlockMeta, BlockMetaCompaction, BlockStats, TMP_DELETION_SUFFIX, TMP_LEGACY_SUFFIX, TMP_SUFFIX,
};
use crate::model::Labels;
use crate::tsdb::chunkenc::bstream::{put_uvarint, put_varint};
use crate::tsdb::chunkenc::{num_samples, ENC_XOR};
use crate::tsdb::head::ChunkSnapshot;
use crate::tsdb::tombstones::{Interval, Tombstones};
use crate::tsdb::wal::crc32c;
use crate::tsdb::TsdbError;

pub const INDEX_MAGIC: u32 = 0xBAAA_D700;
pub const INDEX_VERSION_V2: u8 = 2;
pub const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
/// Upstream's maximum chunk segment file size.
pub const CHUNK_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;
const CHUNKS_HEADER: usize = 8;

/// One chunk to write.
#[derive(Clone, Debug)]
pub struct ChunkData<'a> {
    pub min_t: i64,
    pub max_t: i64,
    pub data: &'a [u8],
}

/// The writer's input for chunks cut from the head: labels cloned, chunk
/// bytes borrowed.
pub fn head_block_input(
    series: &[(Labels, Vec<ChunkSnapshot>)],
) -> Vec<(Labels, Vec<ChunkData<'_>>)> {
    series
        .iter()
        .map(|(l, cs)| {
            let cs = cs
                .iter()
                .map(|c| ChunkData {
                    min_t: c.min_t,
                    max_t: c.max_t,
                    data: &c.data,
                })
                .collect();
            (l.clone(), cs)
        })
        .collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TsdbError + '_ {
    move |source| TsdbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes chunk segment files, handing out upstream's chunk references
/// (segment index << 32 | offset).
struct ChunkWriter {
    dir: PathBuf,
    file: Option<BufWriter<File>>,
    seq: u32,
    offset: u64,
}

impl ChunkWriter {
    fn new(dir: PathBuf) -> ChunkWriter {
        ChunkWriter {
            dir,
            file: None,
            seq: 0,
            offset: 0,
        }
    }

    fn cut(&mut self) -> Result<(), TsdbError> {
        self.finish_file()?;
        let path = self.dir.join(format!("{:06}", self.seq + 1));
        let f = File::create(&path).map_err(io(&path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut hdr = [0u8; CHUNKS_HEADER];
        hdr[..4].copy_from_slice(&CHUNKS_MAGIC.to_be_bytes());
        hdr[4] = 1;
        w.write_all(&hdr).map_err(io(&path))?;
        self.file = Some(w);
        self.offset = CHUNKS_HEADER as u64;
        Ok(())
    }

    fn finish_file(&mut self) -> Result<(), TsdbError> {
        if let Some(w) = self.file.take() {
            let f = w.into_inner().map_err(|e| TsdbError::Io {
                path: self.dir.clone(),
                source: e.into_error(),
            })?;
            f.sync_all().map_err(io(&self.dir))?;
            self.seq += 1;
        }
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<u64, TsdbError> {
        let mut len = Vec::with_capacity(10);
        put_uvarint(&mut len, data.len() as u64);
        let size = (len.len() + 1 + data.len() + 4) as u64;
        if self.file.is_none() || self.offset + size > CHUNK_SEGMENT_SIZE {
            self.cut()?;
        }
        let r = (u64::from(self.seq) << 32) | self.offset;
        let crc = crc32c::update(crc32c::checksum(&[ENC_XOR]), data);
        let dir = self.dir.clone();
        let w = self.file.as_mut().ok_or(TsdbError::Closed)?;
        w.write_all(&len).map_err(io(&dir))?;
        w.write_all(&[ENC_XOR]).map_err(io(&dir))?;
        w.write_all(data).map_err(io(&dir))?;
        w.write_all(&crc.to_be_bytes()).map_err(io(&dir))?;
        self.offset += size;
        Ok(r)
    }
}

/// Appends a `len <4b> | body | CRC32 <4b>` section to `buf`.
fn section(buf: &mut Vec<u8>, body: &[u8]) {
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(body);
    buf.extend_from_slice(&crc32c::checksum(body).to_be_bytes());
}

fn align(buf: &mut Vec<u8>, to: usize) {
    while !buf.len().is_multiple_of(to) {
        buf.push(0);
    }
}

/// Appends a 4-byte aligned postings section; returns its offset.
fn postings_section(buf: &mut Vec<u8>, list: &[u32]) -> u64 {
    align(buf, 4);
    let off = buf.len() as u64;
    let mut body = Vec::with_capacity(4 + list.len() * 4);
    body.extend_from_slice(&(list.len() as u32).to_be_bytes());
    for r in list {
        body.extend_from_slice(&r.to_be_bytes());
    }
    section(buf, &body);
    off
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Builds the index file bytes for `series` (sorted by labels) whose chunks
/// were written at `refs`.
fn build_index(series: &[(Labels, Vec<ChunkData<'_>>)], refs: &[Vec<u64>]) -> (Vec<u8>, Vec<u32>) {
    let mut symbols: BTreeSet<&str> = BTreeSet::new();
    for (l, _) in series {
        for lb in l {
            symbols.insert(&lb.name);
            symbols.insert(&lb.value);
        }
    }
    let sym_idx: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();
    let mut buf = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
    buf.push(INDEX_VERSION_V2);

    let toc_symbols = buf.len() as u64;
    let mut body = Vec::new();
    body.extend_from_slice(&(symbols.len() as u32).to_be_bytes());
    for s in &symbols {
        put_str(&mut body, s);
    }
    section(&mut buf, &body);

    // Series, each 16-byte aligned; its reference is offset / 16.
    align(&mut buf, 16);
    let toc_series = buf.len() as u64;
    let mut series_refs = Vec::with_capacity(series.len());
    let mut postings: BTreeMap<(&str, &str), Vec<u32>> = BTreeMap::new();
    for ((labels, chunks), crefs) in series.iter().zip(refs) {
        align(&mut buf, 16);
        let sref = (buf.len() / 16) as u32;
        series_refs.push(sref);
        body.clear();
        put_uvarint(&mut body, labels.len() as u64);
        for l in labels {
            put_uvarint(
                &mut body,
                u64::from(sym_idx.get(l.name.as_str()).copied().unwrap_or(0)),
            );
            put_uvarint(
                &mut body,
                u64::from(sym_idx.get(l.value.as_str()).copied().unwrap_or(0)),
            );
            postings.entry((&l.name, &l.value)).or_default().push(sref);
        }
        put_uvarint(&mut body, chunks.len() as u64);
        let (mut prev_maxt, mut prev_ref) = (0i64, 0u64);
        for (i, (c, r)) in chunks.iter().zip(crefs).enumerate() {
            if i == 0 {
                put_varint(&mut body, c.min_t);
                put_uvarint(&mut body, (c.max_t - c.min_t) as u64);
                put_uvarint(&mut body, *r);
            } else {
                put_uvarint(&mut body, (c.min_t - prev_maxt) as u64);
                put_uvarint(&mut body, (c.max_t - c.min_t) as u64);
                put_varint(&mut body, (*r as i64).wrapping_sub(prev_ref as i64));
            }
            prev_maxt = c.max_t;
            prev_ref = *r;
        }
        put_uvarint(&mut buf, body.len() as u64);
        buf.extend_from_slice(&body);
        buf.extend_from_slice(&crc32c::checksum(&body).to_be_bytes());
    }

    // Label indices (one per name; upstream no longer reads them, but
    // older readers and promtool analyze may).
    let mut values_by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in postings.keys() {
        values_by_name.entry(name).or_default().push(value);
    }
    align(&mut buf, 4);
    let toc_label_indices = buf.len() as u64;
    let mut label_offsets = Vec::new();
    for (name, values) in &values_by_name {
        align(&mut buf, 4);
        label_offsets.push((*name, buf.len() as u64));
        body.clear();
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&(values.len() as u32).to_be_bytes());
        for v in values {
            body.extend_from_slice(&sym_idx.get(v).copied().unwrap_or(0).to_be_bytes());
        }
        section(&mut buf, &body);
    }

    // Postings: all series under the empty label pair first, as upstream.
    align(&mut buf, 4);
    let toc_postings = buf.len() as u64;
    let mut postings_offsets: Vec<(&str, &str, u64)> = Vec::new();
    postings_offsets.push(("", "", postings_section(&mut buf, &series_refs)));
    for ((name, value), list) in &postings {
        postings_offsets.push((name, value, postings_section(&mut buf, list)));
    }

    align(&mut buf, 4);
    let toc_label_offsets = buf.len() as u64;
    body.clear();
    body.extend_from_slice(&(label_offsets.len() as u32).to_be_bytes());
    for (name, off) in &label_offsets {
        body.push(1);
        put_str(&mut body, name);
        put_uvarint(&mut body, *off);
    }
    section(&mut buf, &body);

    let toc_postings_offsets = buf.len() as u64;
    body.clear();
    body.extend_from_slice(&(postings_offsets.len() as u32).to_be_bytes());
    for (name, value, off) in &postings_offsets {
        body.push(2);
        put_str(&mut body, name);
        put_str(&mut body, value);
        put_uvarint(&mut body, *off);
    }
    section(&mut buf, &body);

    let mut toc = Vec::with_capacity(52);
    for v in [
        toc_symbols,
        toc_series,
        toc_label_indices,
        toc_label_offsets,
        toc_postings,
        toc_postings_offsets,
    ] {
        toc.extend_from_slice(&v.to_be_bytes());
    }
    let crc = crc32c::checksum(&toc);
    buf.extend_from_slice(&toc);
    buf.extend_from_slice(&crc.to_be_bytes());
    (buf, series_refs)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), TsdbError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Writes a block of `series` (any order; sorted here) covering
/// `[mint, maxt)` into `dir/<ulid>` and returns its meta.
pub fn write_block(
    dir: &Path,
    series: Vec<(Labels, Vec<ChunkData<'_>>)>,
    mint: i64,
    maxt: i64,
) -> Result<BlockMeta, TsdbError> {
    write_block_with_tombstones(dir, series, mint, maxt, &HashMap::new())
}

/// [`write_block`] with deletion intervals carried over into the block's
/// `tombstones` file (keyed by labels, resolved to the new series refs).
pub fn write_block_with_tombstones(
    dir: &Path,
    series: Vec<(Labels, Vec<ChunkData<'_>>)>,
    mint: i64,
    maxt: i64,
    deleted: &HashMap<Labels, Vec<Interval>>,
) -> Result<BlockMeta, TsdbError> {
    let compaction = BlockMetaCompaction {
        level: 1,
        ..BlockMetaCompaction::default()
    };
    write_compacted_block(dir, series, mint, maxt, deleted, compaction)
}

/// The general form: `compaction` goes into `meta.json` (empty `sources`
/// mean the new block is its own source, as for a head block; `parents`
/// name the blocks it replaces).
pub fn write_compacted_block(
    dir: &Path,
    mut series: Vec<(Labels, Vec<ChunkData<'_>>)>,
    mint: i64,
    maxt: i64,
    deleted: &HashMap<Labels, Vec<Interval>>,
    mut compaction: BlockMetaCompaction,
) -> Result<BlockMeta, TsdbError> {
    series.retain(|(_, c)| !c.is_empty());
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let now = crate::model::value::now_millis().max(0) as u64;
    let ulid = super::ulid::new_ulid(now);
    let tmp = dir.join(format!("{ulid}{TMP_SUFFIX}"));
    let final_dir = dir.join(&ulid);
    fs::create_dir_all(tmp.join("chunks")).map_err(io(&tmp))?;

    let mut cw = ChunkWriter::new(tmp.join("chunks"));
    let mut refs = Vec::with_capacity(series.len());
    let mut stats = BlockStats::default();
    for (_, chunks) in &series {
        let mut r = Vec::with_capacity(chunks.len());
        for c in chunks {
            r.push(cw.write(c.data)?);
            stats.num_chunks += 1;
            stats.num_samples += u64::from(num_samples(c.data));
        }
        refs.push(r);
    }
    cw.finish_file()?;
    stats.num_series = series.len() as u64;

    let (index, series_refs) = build_index(&series, &refs);
    write_file(&tmp.join("index"), &index)?;
    let mut tomb = Tombstones::new();
    if !deleted.is_empty() {
        for ((labels, _), sref) in series.iter().zip(&series_refs) {
            for iv in deleted.get(labels).map(|v| v.as_slice()).unwrap_or(&[]) {
                tomb.add(*sref, *iv);
            }
        }
    }
    write_file(&tmp.join("tombstones"), &tomb.encode())?;
    let meta = BlockMeta {
        ulid: ulid.clone(),
        min_time: mint,
        max_time: maxt,
        stats,
        compaction: {
            if compaction.sources.is_empty() {
                compaction.sources.push(ulid.clone());
            }
            compaction.sources.sort();
            compaction.sources.dedup();
            compaction
        },
        version: 1,
    };
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| TsdbError::Io {
        path: tmp.join("meta.json"),
        source: std::io::Error::other(e),
    })?;
    write_file(&tmp.join("meta.json"), &json)?;
    crate::tsdb::wal::sync_dir(&tmp);
    fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;
    crate::tsdb::wal::sync_dir(dir);
    Ok(meta)
}

/// Whether `name` is a block directory left by an interrupted write or
/// deletion: a ULID with one of upstream's temporary suffixes (upstream's
/// `isTmpDir`; other names are not promlite's to delete).
pub fn is_tmp_block_dir(name: &str) -> bool {
    [TMP_SUFFIX, TMP_DELETION_SUFFIX, TMP_LEGACY_SUFFIX]
        .iter()
        .any(|suffix| name.strip_suffix(suffix).is_some_and(super::ulid::is_ulid))
}

/// Removes block directories left half-written or half-deleted by a crash.
pub fn cleanup_tmp(dir: &Path) -> Result<usize, TsdbError> {
    let mut n = 0;
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(TsdbError::Io {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    for e in rd.flatten() {
        if is_tmp_block_dir(&e.file_name().to_string_lossy()) && e.path().is_dir() {
            let p = e.path();
            fs::remove_dir_all(&p).map_err(io(&p))?;
            n += 1;
        }
    }
    Ok(n)
}
