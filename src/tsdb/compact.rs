//! The block side of the database: the set of loaded blocks, cutting the
//! head's oldest `min_block_duration` range into a block (upstream's
//! `compactHead`), and retention by time and by size.
//!
//! Retention by size counts the WAL and its checkpoints as well as the
//! blocks, so `--storage.tsdb.retention.size` really caps the data
//! directory (upstream counts only blocks). Whole blocks are deleted, oldest
//! first, as upstream does; the head is never deleted by retention.
//!
//! Not built: levelled compaction of blocks into larger ranges (6h, 18h, ...);
//! every block here spans one `min_block_duration`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use super::block::{cleanup_tmp, ulid::is_ulid, write_block_with_tombstones, Block, ChunkData};
use super::head::Head;
use super::TsdbError;
use crate::model::Labels;
use crate::telemetry::Histogram;
use crate::tsdb::chunkenc::num_samples;

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

/// The loaded blocks, sorted by time.
pub struct BlockSet {
    dir: PathBuf,
    blocks: RwLock<Vec<Arc<Block>>>,
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
        Ok(BlockSet {
            dir: dir.to_path_buf(),
            blocks: RwLock::new(blocks),
            counters: CompactionCounters::default(),
            chunk_size_histogram: OnceLock::new(),
            chunk_samples_histogram: OnceLock::new(),
        })
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
        for b in doomed {
            log::info!("deleting block {}", b.meta().ulid);
            if let Err(e) = fs::remove_dir_all(b.dir()) {
                log::error!("deleting block {}: {e}", b.dir().display());
            }
        }
    }

    /// Deletes blocks that end more than `retention` ms before the newest
    /// block ends (upstream's `BeyondTimeRetention`).
    pub fn apply_time_retention(&self, retention: i64) -> usize {
        let blocks = self.list();
        let Some(newest) = blocks.iter().map(|b| b.meta().max_time).max() else {
            return 0;
        };
        let doomed: Vec<Arc<Block>> = blocks
            .into_iter()
            .filter(|b| newest.saturating_sub(b.meta().max_time) > retention)
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
        let input: Vec<(Labels, Vec<ChunkData<'_>>)> = series
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
            .collect();
        let deleted = head.tombstones_by_labels(&ids);
        let meta = match write_block_with_tombstones(&self.dir, input, mint, maxt, &deleted) {
            Ok(m) => m,
            Err(e) => {
                self.counters
                    .compactions_failed
                    .fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
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
