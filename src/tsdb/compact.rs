//! The block side of the database: the set of loaded blocks, cutting the
//! head's oldest `min_block_duration` range into a block (upstream's
//! `compactHead`), and retention by time and by size.
//!
//! Retention by size counts the WAL, its checkpoints and the head chunk
//! snapshot as well as the blocks, so `--storage.tsdb.retention.size` caps
//! the whole data directory. Whole blocks are deleted, oldest first, as
//! upstream does; the head and the WAL are never deleted by retention.
//!
//! Levelled compaction follows upstream's planner: ranges grow by 3×
//! (2h, 6h, 18h, ...) up to `max_block_duration`; adjacent blocks inside one
//! aligned range are merged once they fill it or are older than the newest
//! block, which itself is never merged. Chunks are copied as they are unless
//! they overlap (then they are merged and re-encoded), and tombstones are
//! carried over, not applied.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use super::block::{
    cleanup_tmp, head_block_input, ulid::is_ulid, write_block_with_tombstones,
    write_compacted_block, Block, BlockMetaCompaction, ChunkData, TMP_DELETION_SUFFIX,
};
use super::head::Head;
use super::TsdbError;
use crate::model::Labels;
use crate::telemetry::Histogram;
use crate::tsdb::chunkenc::{num_samples, XorAppender, XorIterator, SAMPLES_PER_CHUNK};
use crate::tsdb::tombstones::is_deleted;

/// Counters of compactions and retention, for self-metrics.
#[derive(Debug, Default)]
pub struct CompactionCounters {
    pub compactions: AtomicU64,
    pub compactions_failed: AtomicU64,
    pub time_retentions: AtomicU64,
    pub size_retentions: AtomicU64,
    pub chunk_samples: AtomicU64,
    pub chunk_bytes: AtomicU64,
    pub chunks: AtomicU64,
}

impl CompactionCounters {
    /// Passes a block write's result through, counting a failure as a
    /// failed compaction.
    fn count_failure<T>(&self, r: Result<T, TsdbError>) -> Result<T, TsdbError> {
        if r.is_err() {
            self.compactions_failed.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

/// A chunk of a rewritten block: kept from the old block or newly encoded.
enum ChunkPlan {
    Keep(super::block::ChunkMeta),
    New(i64, i64, usize),
}

/// A chunk of a merged series: copied from a part, or re-encoded into
/// `rewritten[index]` with its time range.
enum MergedChunk<'a> {
    Keep(ChunkData<'a>),
    New(i64, i64, usize),
}

/// One series' chunks from the blocks being merged, in time order. Blocks
/// normally do not overlap and the chunks are copied as they are; where
/// chunks do overlap (overlapping blocks, e.g. backfilled next to scraped
/// data) they are decoded, merged keeping the first block's sample for a
/// timestamp held twice (as queries do), and re-encoded into chunks of
/// upstream's 120 samples, so no chunk of the result overlaps another.
fn without_overlaps<'a>(
    mut chunks: Vec<ChunkData<'a>>,
    rewritten: &mut Vec<Vec<u8>>,
) -> Vec<MergedChunk<'a>> {
    // Stable: of two chunks starting together, the earlier block's stays first.
    chunks.sort_by_key(|c| c.min_t);
    let overlapping = chunks.windows(2).any(|w| w[1].min_t <= w[0].max_t);
    if !overlapping {
        return chunks.into_iter().map(MergedChunk::Keep).collect();
    }
    let mut samples: Vec<(i64, f64)> = Vec::new();
    for c in &chunks {
        let mut it = XorIterator::new(c.data);
        while let Some(s) = it.next() {
            samples.push(s);
        }
    }
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    let mut out = Vec::new();
    for part in samples.chunks(usize::from(SAMPLES_PER_CHUNK)) {
        let (Some(first), Some(last)) = (part.first(), part.last()) else {
            continue;
        };
        let mut app = XorAppender::new();
        for &(t, v) in part {
            app.append(t, v);
        }
        out.push(MergedChunk::New(first.0, last.0, rewritten.len()));
        rewritten.push(app.into_bytes());
    }
    out
}

/// Upstream's block ranges: `min`, then ×3 per level while not above `max`.
pub fn block_ranges(min: i64, max: i64) -> Vec<i64> {
    let mut out = vec![min.max(1)];
    while let Some(&last) = out.last() {
        match last.checked_mul(3) {
            Some(next) if next <= max && out.len() < 10 => out.push(next),
            _ => break,
        }
    }
    out
}

/// The loaded blocks, sorted by time.
pub struct BlockSet {
    dir: PathBuf,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Held by whatever changes blocks on disk (compaction, retention,
    /// deletion, tombstone cleaning, snapshots), as upstream's `cmtx`: a
    /// deletion racing a merge would otherwise write its tombstones into a
    /// part the merge already read, and the deleted data would come back.
    changes: Mutex<()>,
    pub counters: CompactionCounters,
    /// Per-chunk observations, set when metrics are registered.
    pub chunk_size_histogram: OnceLock<Histogram>,
    pub chunk_samples_histogram: OnceLock<Histogram>,
}

fn dir_size(path: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(path) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl BlockSet {
    /// Loads every block directory in `dir`, removing half-written ones
    /// first. A block that fails to open is logged and skipped, not fatal.
    pub fn load(dir: &Path) -> Result<BlockSet, TsdbError> {
        let removed = cleanup_tmp(dir)?;
        if removed > 0 {
            log::info!("removed {removed} half-written block directories");
        }
        let mut blocks = Vec::new();
        let rd = fs::read_dir(dir).map_err(|e| TsdbError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_ulid(name) || !e.path().join("meta.json").exists() {
                continue;
            }
            match Block::open(&e.path()) {
                Ok(b) => blocks.push(b),
                Err(err) => log::error!("skipping block {name}: {err}"),
            }
        }
        blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        let set = BlockSet {
            dir: dir.to_path_buf(),
            blocks: RwLock::new(blocks),
            changes: Mutex::new(()),
            counters: CompactionCounters::default(),
            chunk_size_histogram: OnceLock::new(),
            chunk_samples_histogram: OnceLock::new(),
        };
        // A crash between writing a merged (or rewritten) block and deleting
        // its parents leaves both; the new block holds everything, so the
        // parents go, as upstream's `reloadBlocks` does.
        let blocks = set.list();
        let superseded: Vec<Arc<Block>> = blocks
            .iter()
            .filter(|b| {
                blocks.iter().any(|child| {
                    child
                        .meta()
                        .compaction
                        .parents
                        .iter()
                        .any(|p| p.ulid == b.meta().ulid)
                })
            })
            .cloned()
            .collect();
        if !superseded.is_empty() {
            log::info!(
                "removing {} blocks already compacted into others",
                superseded.len()
            );
        }
        set.delete(&superseded);
        Ok(set)
    }

    /// Serialises changes to the blocks on disk; see the `changes` field.
    pub fn lock_changes(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loaded blocks, oldest first.
    pub fn list(&self) -> Vec<Arc<Block>> {
        self.blocks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Blocks whose range intersects `[mint, maxt]`.
    pub fn overlapping(&self, mint: i64, maxt: i64) -> Vec<Arc<Block>> {
        self.list()
            .into_iter()
            .filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint)
            .collect()
    }

    /// The end (exclusive) of the newest block.
    pub fn max_time(&self) -> Option<i64> {
        self.list().iter().map(|b| b.meta().max_time).max()
    }

    /// The oldest time held by a block.
    pub fn min_time(&self) -> Option<i64> {
        self.list().iter().map(|b| b.meta().min_time).min()
    }

    /// Bytes on disk of all blocks.
    pub fn bytes(&self) -> u64 {
        self.list().iter().map(|b| dir_size(b.dir())).sum()
    }

    fn delete(&self, doomed: &[Arc<Block>]) {
        if doomed.is_empty() {
            return;
        }
        {
            let mut blocks = self.blocks.write().unwrap_or_else(|e| e.into_inner());
            blocks.retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(b, d)));
        }
        // Readers holding an `Arc<Block>` keep their mappings; unlinking the
        // files under them is safe on Unix.
        // Renamed first, so a crash mid-removal leaves a directory that the
        // next open recognises as a leftover, never a half block.
        for b in doomed {
            log::info!("deleting block {}", b.meta().ulid);
            let gone = self
                .dir
                .join(format!("{}{TMP_DELETION_SUFFIX}", b.meta().ulid));
            if let Err(e) = fs::rename(b.dir(), &gone) {
                log::error!("deleting block {}: {e}", b.dir().display());
                continue;
            }
            if let Err(e) = fs::remove_dir_all(&gone) {
                log::error!("deleting block {}: {e}", gone.display());
            }
        }
        crate::tsdb::wal::sync_dir(&self.dir);
    }

    /// Deletes blocks that end `retention` ms or more before the newest
    /// block ends (upstream's `BeyondTimeRetention`); the newest block is
    /// always kept.
    pub fn apply_time_retention(&self, retention: i64) -> usize {
        let blocks = self.list();
        let Some(newest) = blocks.iter().map(|b| b.meta().max_time).max() else {
            return 0;
        };
        let doomed: Vec<Arc<Block>> = blocks
            .into_iter()
            .filter(|b| {
                b.meta().max_time != newest && newest.saturating_sub(b.meta().max_time) >= retention
            })
            .collect();
        if !doomed.is_empty() {
            self.counters
                .time_retentions
                .fetch_add(1, Ordering::Relaxed);
        }
        self.delete(&doomed);
        doomed.len()
    }

    /// Deletes the oldest blocks until blocks plus `other_bytes` (the WAL)
    /// fit in `limit` bytes.
    pub fn apply_size_retention(&self, limit: u64, other_bytes: u64) -> usize {
        let mut total = other_bytes;
        let mut doomed = Vec::new();
        for b in self.list().into_iter().rev() {
            total += dir_size(b.dir());
            if total > limit {
                doomed.push(b);
            }
        }
        if !doomed.is_empty() {
            self.counters
                .size_retentions
                .fetch_add(1, Ordering::Relaxed);
        }
        self.delete(&doomed);
        doomed.len()
    }

    /// Finds blocks to merge (upstream's `selectDirs`), oldest first.
    pub fn plan(&self, ranges: &[i64]) -> Option<Vec<Arc<Block>>> {
        let mut blocks = self.list();
        // The newest block is left alone for a full block range.
        blocks.pop()?;
        let high = blocks.last()?.meta().min_time;
        for &r in ranges.iter().skip(1) {
            if r <= 0 {
                continue;
            }
            let mut i = 0;
            while i < blocks.len() {
                // Times come from meta.json: saturate rather than overflow
                // on a block claiming the ends of time.
                let t0 = blocks[i].meta().min_time.div_euclid(r).saturating_mul(r);
                let end = t0.saturating_add(r);
                if blocks[i].meta().max_time > end {
                    i += 1;
                    continue;
                }
                let mut group = Vec::new();
                while i < blocks.len() && blocks[i].meta().max_time <= end {
                    if blocks[i].meta().min_time >= t0 {
                        group.push(blocks[i].clone());
                    }
                    i += 1;
                }
                if group.len() > 1 {
                    let (mint, maxt) = (
                        group[0].meta().min_time,
                        group[group.len() - 1].meta().max_time,
                    );
                    if maxt.saturating_sub(mint) == r || maxt <= high {
                        return Some(group);
                    }
                }
            }
        }
        None
    }

    /// Merges `group` into one block and replaces them with it.
    pub fn merge(&self, group: &[Arc<Block>]) -> Result<(), TsdbError> {
        let mut series: std::collections::BTreeMap<
            Labels,
            (Vec<ChunkData<'_>>, Vec<super::tombstones::Interval>),
        > = std::collections::BTreeMap::new();
        for b in group {
            for (labels, metas, deleted) in b.all_series()? {
                let entry = series.entry(labels).or_default();
                for m in metas {
                    entry.0.push(ChunkData {
                        min_t: m.min_t,
                        max_t: m.max_t,
                        data: b.chunk(m.chunk_ref)?,
                    });
                }
                entry.1.extend(deleted);
            }
        }
        let mut deleted = std::collections::HashMap::new();
        let mut rewritten: Vec<Vec<u8>> = Vec::new();
        let plan: Vec<(Labels, Vec<MergedChunk<'_>>)> = series
            .into_iter()
            .map(|(l, (chunks, d))| {
                if !d.is_empty() {
                    deleted.insert(l.clone(), d);
                }
                (l, without_overlaps(chunks, &mut rewritten))
            })
            .collect();
        let input: Vec<(Labels, Vec<ChunkData<'_>>)> = plan
            .into_iter()
            .map(|(l, parts)| {
                let chunks = parts
                    .into_iter()
                    .map(|p| match p {
                        MergedChunk::Keep(c) => c,
                        MergedChunk::New(min_t, max_t, i) => ChunkData {
                            min_t,
                            max_t,
                            data: rewritten.get(i).map(|v| v.as_slice()).unwrap_or(&[]),
                        },
                    })
                    .collect();
                (l, chunks)
            })
            .collect();
        let mint = group.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
        let maxt = group.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
        let level = group
            .iter()
            .map(|b| b.meta().compaction.level)
            .max()
            .unwrap_or(1)
            .saturating_add(1);
        let compaction = BlockMetaCompaction {
            level,
            sources: group
                .iter()
                .flat_map(|b| b.meta().compaction.sources.iter().cloned())
                .collect(),
            parents: group.iter().map(|b| b.meta().desc()).collect(),
        };
        let meta = self.counters.count_failure(write_compacted_block(
            &self.dir, input, mint, maxt, &deleted, compaction,
        ))?;
        let block = Block::open(&self.dir.join(&meta.ulid))?;
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "compact blocks: ulid={} mint={mint} maxt={maxt} level={level} merged={}",
            meta.ulid,
            group.len()
        );
        {
            let mut blocks = self.blocks.write().unwrap_or_else(|e| e.into_inner());
            blocks.push(block);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        // A crash before this leaves both the parts and the merged block;
        // queries deduplicate overlapping samples, so answers stay right.
        self.delete(group);
        Ok(())
    }

    /// Upstream's `clean_tombstones`: rewrites every block that has
    /// deletions without the deleted samples (re-encoding only the affected
    /// series' chunks) and replaces it. Returns how many blocks were rewritten.
    pub fn clean_tombstones(&self) -> Result<usize, TsdbError> {
        let mut n = 0;
        for b in self.list() {
            let all = b.all_series()?;
            if all.iter().all(|(_, _, d)| d.is_empty()) {
                continue;
            }
            let mut rewritten: Vec<Vec<u8>> = Vec::new();
            let mut plan: Vec<(Labels, Vec<ChunkPlan>)> = Vec::with_capacity(all.len());
            for (labels, metas, deleted) in all {
                let mut chunks = Vec::with_capacity(metas.len());
                if deleted.is_empty() {
                    for m in metas {
                        chunks.push(ChunkPlan::Keep(m));
                    }
                } else {
                    let mut app = XorAppender::new();
                    let mut first = i64::MAX;
                    for m in &metas {
                        let mut it = XorIterator::new(b.chunk(m.chunk_ref)?);
                        while let Some((t, v)) = it.next() {
                            if is_deleted(&deleted, t) {
                                continue;
                            }
                            if app.num_samples() >= SAMPLES_PER_CHUNK {
                                let last = app.last().map(|s| s.0).unwrap_or(first);
                                let done = std::mem::take(&mut app);
                                chunks.push(ChunkPlan::New(first, last, rewritten.len()));
                                rewritten.push(done.into_bytes());
                            }
                            if app.num_samples() == 0 {
                                first = t;
                            }
                            app.append(t, v);
                        }
                    }
                    if app.num_samples() > 0 {
                        let last = app.last().map(|s| s.0).unwrap_or(first);
                        chunks.push(ChunkPlan::New(first, last, rewritten.len()));
                        rewritten.push(app.into_bytes());
                    }
                }
                plan.push((labels, chunks));
            }
            let mut input: Vec<(Labels, Vec<ChunkData<'_>>)> = Vec::with_capacity(plan.len());
            for (labels, chunks) in plan {
                let mut cs = Vec::with_capacity(chunks.len());
                for c in chunks {
                    cs.push(match c {
                        ChunkPlan::Keep(m) => ChunkData {
                            min_t: m.min_t,
                            max_t: m.max_t,
                            data: b.chunk(m.chunk_ref)?,
                        },
                        ChunkPlan::New(min_t, max_t, i) => ChunkData {
                            min_t,
                            max_t,
                            data: rewritten.get(i).map(|v| v.as_slice()).unwrap_or(&[]),
                        },
                    });
                }
                input.push((labels, cs));
            }
            let m = b.meta();
            let meta = write_compacted_block(
                &self.dir,
                input,
                m.min_time,
                m.max_time,
                &std::collections::HashMap::new(),
                BlockMetaCompaction {
                    level: m.compaction.level,
                    sources: m.compaction.sources.clone(),
                    parents: vec![m.desc()],
                },
            )?;
            let nb = Block::open(&self.dir.join(&meta.ulid))?;
            {
                let mut blocks = self.blocks.write().unwrap_or_else(|e| e.into_inner());
                blocks.push(nb);
                blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            }
            self.delete(std::slice::from_ref(&b));
            n += 1;
        }
        Ok(n)
    }

    /// Whether the head spans more than 1.5 block ranges (upstream's
    /// `compactable`), so its oldest range can become a block.
    pub fn head_compactable(head: &Head) -> bool {
        let (mint, maxt) = (head.min_time(), head.max_time());
        mint != i64::MAX && maxt.saturating_sub(mint) > head.options().chunk_range / 2 * 3
    }

    /// Writes the head's oldest range `[mint, maxt)` as a block and adds it;
    /// returns `maxt` so the caller can truncate the head and the WAL there.
    pub fn compact_head_range(&self, head: &Head) -> Result<Option<i64>, TsdbError> {
        let range = head.options().chunk_range.max(1);
        let mint = head.min_time();
        if mint == i64::MAX {
            return Ok(None);
        }
        let maxt = mint
            .div_euclid(range)
            .saturating_add(1)
            .saturating_mul(range);
        let ids = head.postings_for_matchers(&[]);
        let series = head.series_chunks(&ids, mint, maxt - 1);
        if series.is_empty() {
            return Ok(Some(maxt));
        }
        let input = head_block_input(&series);
        let deleted = head.tombstones_by_labels(&ids);
        let meta = self.counters.count_failure(write_block_with_tombstones(
            &self.dir, input, mint, maxt, &deleted,
        ))?;
        let block = Block::open(&self.dir.join(&meta.ulid))?;
        let c = &self.counters;
        c.compactions.fetch_add(1, Ordering::Relaxed);
        c.chunks.fetch_add(meta.stats.num_chunks, Ordering::Relaxed);
        c.chunk_samples
            .fetch_add(meta.stats.num_samples, Ordering::Relaxed);
        for chunk in series.iter().flat_map(|(_, cs)| cs.iter()) {
            c.chunk_bytes
                .fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
            if let Some(h) = self.chunk_size_histogram.get() {
                h.observe(chunk.data.len() as f64);
            }
            if let Some(h) = self.chunk_samples_histogram.get() {
                h.observe(f64::from(num_samples(&chunk.data)));
            }
        }
        log::info!(
            "write block: ulid={} mint={mint} maxt={maxt} series={} samples={}",
            meta.ulid,
            meta.stats.num_series,
            meta.stats.num_samples
        );
        let mut blocks = self.blocks.write().unwrap_or_else(|e| e.into_inner());
        blocks.push(block);
        blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        Ok(Some(maxt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::block::BlockMeta;

    /// Blocks whose meta.json claims the ends of time, or a huge level:
    /// planning, merging and retention must not overflow.
    #[test]
    fn extreme_block_metas_do_not_overflow() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = crate::tsdb::chunkenc::XorAppender::new();
        a.append(1000, 1.0);
        let data = a.into_bytes();
        let extremes = [
            (i64::MIN, i64::MIN + 1),
            (i64::MIN + 5, i64::MIN + 7),
            (0, 7_200_000),
            (7_200_000, 14_400_000),
            (i64::MAX - 10, i64::MAX),
        ];
        for (i, (mint, maxt)) in extremes.into_iter().enumerate() {
            let l = Labels::from_pairs(&[("i", &i.to_string())]);
            let chunk = ChunkData {
                min_t: 1000,
                max_t: 1000,
                data: &data,
            };
            let meta = crate::tsdb::block::write_block(tmp.path(), vec![(l, vec![chunk])], 0, 2000)
                .unwrap();
            let path = tmp.path().join(&meta.ulid).join("meta.json");
            let meta = BlockMeta {
                min_time: mint,
                max_time: maxt,
                compaction: BlockMetaCompaction {
                    level: u32::MAX,
                    ..meta.compaction.clone()
                },
                ..meta
            };
            fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
        }
        let set = BlockSet::load(tmp.path()).unwrap();
        assert_eq!(set.list().len(), extremes.len());
        let ranges = [1, 3, 7_200_000, i64::MAX / 2, i64::MAX];
        for _ in 0..extremes.len() {
            match set.plan(&ranges) {
                Some(group) => set.merge(&group).unwrap(),
                None => break,
            }
        }
        set.apply_time_retention(1);
        assert!(!set.list().is_empty());
    }
}
