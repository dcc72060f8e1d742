//! The head block: the in-memory, writable part of the TSDB, as upstream's
//! `tsdb/head.go`.
//!
//! Layout, chosen for memory (the headline goal) and for concurrency:
//! - Series live in a slab indexed by their dense id (`u32`), split into
//!   `stripes` by `id & mask`, each behind its own `RwLock`; scrape workers
//!   appending to different stripes never wait on each other, and queries only
//!   take read locks.
//! - A label-set hash → id map (also striped) finds a series by labels; hash
//!   collisions are kept in a side map and resolved by comparing labels.
//! - Labels are symbol ids into one `SymbolTable`; postings (`MemPostings`)
//!   map name → value → ids for selects.
//! - Deletions are per-series intervals (`tombstones`) applied when reading.
//! - Lock order: a hash stripe may be held while taking any other lock; of
//!   `symbols`, a series stripe, `postings` and `tombstones` at most one is
//!   held at a time; `free_ids` is a leaf (nothing is taken under it). This
//!   is why no deadlock is possible between creating appenders and readers.
//!
//! Ids of removed series are reused, smallest first, once no WAL segment or
//! checkpoint can mention them any more (the WAL refers to series by id;
//! see `FreeIds`), so churn neither exhausts the `u32` id space nor leaves
//! slab pages with a few survivors among many holes (a 64-slot page is
//! freed once all its series are gone). One consequence callers must know:
//! a `SeriesRef` kept for a series that was removed can, after the next
//! checkpoint, name another series; the scrape cache only keeps refs of
//! series it keeps appending to, and those are never removed.
//!
//! A time range of the head can be read through [`Head::series_chunks`],
//! which is what cutting a block needs.

mod appender;
mod querier;
pub mod replay;
pub mod series;
pub mod snapshot;
mod stats;
pub mod symbols;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::model::{Label, Labels};
use crate::storage::StorageError;
use crate::tsdb::index::postings::LabelPairs;
use crate::tsdb::index::MemPostings;
use crate::tsdb::tombstones::{Interval, Tombstones};
use crate::tsdb::wal::record::{self, Stone};
use crate::tsdb::wal::Wal;

pub use appender::HeadAppender;
pub use querier::{HeadQuerier, HeadSeries};
pub use series::{Appended, ChunkSnapshot, MemSeries};
pub use stats::HeadStats;
use symbols::SymbolTable;

/// Upstream's default head chunk range: 2h.
pub const DEFAULT_CHUNK_RANGE: i64 = 2 * 60 * 60 * 1000;

#[derive(Clone, Debug)]
pub struct HeadOptions {
    /// Width of the head's block ranges; chunks never cross a multiple of it.
    pub chunk_range: i64,
    /// Number of lock stripes (rounded up to a power of two).
    pub stripes: usize,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: DEFAULT_CHUNK_RANGE,
            stripes: 64,
        }
    }
}

/// Counters behind the head's self-metrics.
#[derive(Debug, Default)]
pub struct HeadCounters {
    pub samples_appended: AtomicU64,
    pub out_of_order_samples: AtomicU64,
    pub out_of_bound_samples: AtomicU64,
    pub duplicate_samples: AtomicU64,
    pub series_created: AtomicU64,
    pub series_removed: AtomicU64,
    pub chunks_created: AtomicU64,
    pub chunks_removed: AtomicU64,
    pub series_not_found: AtomicU64,
    pub truncations: AtomicU64,
}

#[derive(Default)]
struct HashStripe {
    /// Keyed by the label hash itself, so hashing it again with SipHash
    /// would only cost time.
    ids: HashMap<u64, u32, FxBuild>,
    /// Further series whose labels hash like the one in `ids`.
    collisions: HashMap<u64, Vec<u32>>,
}

/// Slots per slab page.
const PAGE: usize = 64;

/// One stripe's slab, in fixed pages so growth never over-allocates by more
/// than a page (a doubling `Vec` would leave up to half its slots unused).
#[derive(Default)]
struct SeriesStripe {
    pages: Vec<Option<Box<[Option<MemSeries>; PAGE]>>>,
}

impl SeriesStripe {
    fn get(&self, slot: usize) -> Option<&MemSeries> {
        self.pages.get(slot / PAGE)?.as_ref()?[slot % PAGE].as_ref()
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut MemSeries> {
        self.pages.get_mut(slot / PAGE)?.as_mut()?[slot % PAGE].as_mut()
    }

    fn insert(&mut self, slot: usize, s: MemSeries) {
        let p = slot / PAGE;
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        let page = self.pages[p].get_or_insert_with(|| Box::new(std::array::from_fn(|_| None)));
        page[slot % PAGE] = Some(s);
    }

    /// Calls `f(slot, entry)` for every occupied slot; `f` may empty it.
    /// Pages left empty are freed.
    fn retain_each(&mut self, mut f: impl FnMut(usize, &mut Option<MemSeries>)) {
        for (p, page) in self.pages.iter_mut().enumerate() {
            let Some(slots) = page else { continue };
            for (i, entry) in slots.iter_mut().enumerate() {
                if entry.is_some() {
                    f(p * PAGE + i, entry);
                }
            }
            if slots.iter().all(|e| e.is_none()) {
                *page = None;
            }
        }
        while matches!(self.pages.last(), Some(None)) {
            self.pages.pop();
        }
    }
}

/// FxHash (rustc's): a multiply and a rotate per word, for maps keyed by
/// our own integer ids, where SipHash's DoS resistance buys nothing.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// The head's label-set hash, the key of its label-hash map (in memory
/// only, never persisted). Each name and value is hashed on its own and the
/// pair combined into a running state, so a snapshot load hashes each
/// distinct symbol once and then combines a few words per series (byte-wise
/// FNV over every series' strings was a fifth of a restart).
pub(crate) fn label_set_hash(labels: &Labels) -> u64 {
    labels.iter().fold(HASH_SEED, |h, l| {
        combine_label(h, str_hash(l.name.as_bytes()), str_hash(l.value.as_bytes()))
    })
}

const HASH_SEED: u64 = 0x243f_6a88_85a3_08d3;
const HASH_MIX: [u64; 2] = [0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0];

fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// One label (the hashes of its name and value) into the running state.
fn combine_label(h: u64, name: u64, value: u64) -> u64 {
    folded_mul(h ^ name ^ HASH_MIX[0], value ^ HASH_MIX[1])
}

/// A string's hash: 16 bytes per multiply, the length mixed in last.
fn str_hash(b: &[u8]) -> u64 {
    fn word(b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        let n = b.len().min(8);
        a[..n].copy_from_slice(&b[..n]);
        u64::from_le_bytes(a)
    }
    let mut h = HASH_SEED;
    let mut chunks = b.chunks_exact(16);
    for c in &mut chunks {
        let (x, y) = c.split_at(8);
        h = folded_mul(word(x) ^ HASH_MIX[0], word(y) ^ h);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let (x, y) = rest.split_at(rest.len().min(8));
        h = folded_mul(word(x) ^ HASH_MIX[0], word(y) ^ h);
    }
    folded_mul(h ^ b.len() as u64, HASH_MIX[1])
}

/// One series of a head chunk snapshot, for [`Head::place_snapshot_section`].
pub(crate) struct RestoredSeries {
    pub id: u32,
    /// Where its labels are in the snapshot's label array: symbol ids, name
    /// and value alternating, sorted by name.
    pub labels: std::ops::Range<usize>,
    pub closed: Vec<series::ClosedChunk>,
    pub open: crate::tsdb::chunkenc::XorAppender,
    pub open_min_t: i64,
}

/// A snapshot's symbol ids translated to the head's: snapshot id →
/// (head symbol id, hash of the string, rank of the string in sort order).
/// Read-only once built, so the threads decoding snapshot sections share it.
pub(crate) struct SnapshotSymbols {
    map: Vec<Option<(u32, u64, u32)>>,
    /// Rank of the empty string, when the snapshot has it.
    empty_rank: Option<u32>,
}

impl SnapshotSymbols {
    /// A zeroed use counter per snapshot symbol, for [`Self::map_labels`].
    pub(crate) fn new_uses(&self) -> Vec<u32> {
        vec![0; self.map.len()]
    }

    /// Rewrites one series' labels (snapshot symbol ids, name and value
    /// alternating) to head symbol ids in place, counts each symbol's use
    /// in `uses`, and returns the series' label-set hash.
    pub(crate) fn map_labels(
        &self,
        id: u32,
        ids: &mut [u32],
        uses: &mut [u32],
    ) -> Result<u64, StorageError> {
        if ids.is_empty() || !ids.len().is_multiple_of(2) {
            return Err(StorageError::InvalidLabels(format!(
                "snapshot series {id} has malformed labels"
            )));
        }
        let mut h = HASH_SEED;
        let mut prev_name: Option<u32> = None;
        for pair in ids.chunks_exact_mut(2) {
            let mut sh = [0u64; 2];
            let mut rank = [0u32; 2];
            for ((sym, sh), rank) in pair.iter_mut().zip(&mut sh).zip(&mut rank) {
                let Some(Some((hid, hash, r))) = self.map.get(*sym as usize) else {
                    return Err(StorageError::Internal(format!(
                        "snapshot series {id} refers to unknown symbol {sym}"
                    )));
                };
                if let Some(u) = uses.get_mut(*sym as usize) {
                    *u = u.saturating_add(1);
                }
                *sym = *hid;
                *sh = *hash;
                *rank = *r;
            }
            // Labels are read back as sorted, unique and without empty
            // values; a damaged file must not break that invariant.
            if prev_name.is_some_and(|p| p >= rank[0]) || Some(rank[1]) == self.empty_rank {
                return Err(StorageError::InvalidLabels(format!(
                    "snapshot series {id} has labels out of order, repeated or empty"
                )));
            }
            prev_name = Some(rank[0]);
            h = combine_label(h, sh[0], sh[1]);
        }
        Ok(h)
    }
}

/// What one thread gathered while placing snapshot sections, for
/// [`Head::finish_snapshot`].
pub(crate) struct PlacedPart {
    /// Uses of each snapshot symbol by the series placed.
    uses: Vec<u32>,
    min_time: i64,
    max_time: i64,
    chunks: i64,
    /// (section index, its series ids, its postings by head symbol ids).
    #[allow(clippy::type_complexity)]
    sections: Vec<(usize, Vec<u32>, HashMap<(u32, u32), Vec<u32>, FxBuild>)>,
}

impl PlacedPart {
    pub(crate) fn new(map: &SnapshotSymbols) -> PlacedPart {
        PlacedPart {
            uses: map.new_uses(),
            min_time: i64::MAX,
            max_time: i64::MIN,
            chunks: 0,
            sections: Vec::new(),
        }
    }
}

/// What a truncation removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TruncateStats {
    pub series_removed: usize,
    pub chunks_removed: usize,
    /// Symbols freed (released by the truncation before this one).
    pub symbols_freed: usize,
}

/// Ids of removed series on their way to reuse. An id is reused only once
/// no WAL segment or checkpoint can mention it: the WAL refers to series by
/// id, so a replay seeing two series records with one id would mix two
/// series. Ids removed while segment `s` was current are safe once a
/// checkpoint covered `s` and the segments up to it were deleted (the
/// checkpoint keeps only series still in the head).
#[derive(Default)]
struct FreeIds {
    /// (segment current at removal, ids).
    waiting: Vec<(u32, Vec<u32>)>,
    /// Ids removed from a head without WAL: ready at the next truncation.
    no_wal: Vec<u32>,
    /// Reusable ids, sorted descending so the smallest is reused first and
    /// slab pages fill densely.
    ready: Vec<u32>,
}

impl FreeIds {
    fn make_ready(&mut self, ids: Vec<u32>) {
        self.ready.extend(ids);
        self.ready.sort_unstable_by(|a, b| b.cmp(a));
    }
}

pub struct Head {
    opts: HeadOptions,
    mask: u32,
    shift: u32,
    stripes: Box<[RwLock<SeriesStripe>]>,
    hashes: Box<[Mutex<HashStripe>]>,
    symbols: RwLock<SymbolTable>,
    postings: RwLock<MemPostings>,
    last_id: AtomicU32,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples before this are rejected as out of bounds (set by truncation).
    min_valid_time: AtomicI64,
    num_series: AtomicU64,
    num_chunks: AtomicI64,
    pub counters: HeadCounters,
    wal: std::sync::OnceLock<Wal>,
    tombstones: Mutex<Tombstones>,
    free_ids: Mutex<FreeIds>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Head {
    /// An empty head. Without a WAL (see [`Head::attach_wal`]) it is
    /// memory-only.
    pub fn new(opts: HeadOptions) -> Head {
        let n = opts.stripes.max(1).next_power_of_two();
        Head {
            mask: (n - 1) as u32,
            shift: n.trailing_zeros(),
            stripes: (0..n)
                .map(|_| RwLock::new(SeriesStripe::default()))
                .collect(),
            hashes: (0..n).map(|_| Mutex::new(HashStripe::default())).collect(),
            symbols: RwLock::new(SymbolTable::new()),
            postings: RwLock::new(MemPostings::new()),
            last_id: AtomicU32::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            num_series: AtomicU64::new(0),
            num_chunks: AtomicI64::new(0),
            counters: HeadCounters::default(),
            wal: std::sync::OnceLock::new(),
            tombstones: Mutex::new(Tombstones::new()),
            free_ids: Mutex::new(FreeIds::default()),
            opts,
        }
    }

    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    pub fn wal(&self) -> Option<&Wal> {
        self.wal.get()
    }

    /// From now on every commit is written to `wal` first. Attach after
    /// replay. Returns the WAL back if one was attached already.
    pub fn attach_wal(&self, wal: Wal) -> Result<(), Box<Wal>> {
        self.wal.set(wal).map_err(Box::new)
    }

    /// Oldest sample time, `i64::MAX` when empty.
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Acquire)
    }

    /// Newest sample time, `i64::MIN` when empty.
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Acquire)
    }

    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Acquire)
    }

    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    pub fn num_chunks(&self) -> u64 {
        self.num_chunks.load(Ordering::Relaxed).max(0) as u64
    }

    /// The highest series id handed out.
    pub fn last_series_id(&self) -> u32 {
        self.last_id.load(Ordering::Acquire)
    }

    fn stripe_of(&self, id: u32) -> (&RwLock<SeriesStripe>, usize) {
        (
            &self.stripes[(id & self.mask) as usize],
            (id >> self.shift) as usize,
        )
    }

    fn hash_stripe(&self, hash: u64) -> &Mutex<HashStripe> {
        &self.hashes[(hash as usize) & self.mask as usize]
    }

    /// The lock stripe series `id` lives in.
    pub fn stripe_index(&self, id: u32) -> usize {
        (id & self.mask) as usize
    }

    /// Whether series `id` is in the head.
    pub fn contains(&self, id: u32) -> bool {
        let (stripe, slot) = self.stripe_of(id);
        read(stripe).get(slot).is_some()
    }

    /// Runs `f` on series `id` under its stripe's read lock.
    pub fn with_series<R>(&self, id: u32, f: impl FnOnce(&MemSeries) -> R) -> Option<R> {
        let (stripe, slot) = self.stripe_of(id);
        let guard = read(stripe);
        guard.get(slot).map(f)
    }

    /// The labels of series `id`.
    pub fn series_labels(&self, id: u32) -> Option<Labels> {
        let ids = self.with_series(id, |s| s.labels.clone())?;
        Some(self.resolve_labels(&ids))
    }

    fn resolve_labels(&self, ids: &[u32]) -> Labels {
        let symbols = read(&self.symbols);
        resolve_with(&symbols, ids)
    }

    /// The symbol ids of `labels`, if every string is already interned.
    fn lookup_symbols(&self, labels: &Labels) -> Option<Vec<u32>> {
        let symbols = read(&self.symbols);
        let mut out = Vec::with_capacity(labels.len() * 2);
        for l in labels {
            out.push(symbols.lookup(&l.name)?);
            out.push(symbols.lookup(&l.value)?);
        }
        Some(out)
    }

    /// Finds the series with exactly `labels`.
    pub fn get_by_labels(&self, labels: &Labels) -> Option<u32> {
        let hash = label_set_hash(labels);
        let hs = self
            .hash_stripe(hash)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.find_locked(&hs, hash, labels)
    }

    fn find_locked(&self, hs: &HashStripe, hash: u64, labels: &Labels) -> Option<u32> {
        let first = *hs.ids.get(&hash)?;
        let want = self.lookup_symbols(labels)?;
        let same = |id: u32| {
            self.with_series(id, |s| *s.labels == *want)
                .unwrap_or(false)
        };
        if same(first) {
            return Some(first);
        }
        hs.collisions
            .get(&hash)
            .and_then(|ids| ids.iter().copied().find(|&id| same(id)))
    }

    /// The series with `labels`, created when absent; `true` when created.
    pub fn get_or_create(&self, labels: &Labels) -> Result<(u32, bool), StorageError> {
        if labels.is_empty() {
            return Err(StorageError::InvalidLabels("empty labelset".into()));
        }
        let hash = label_set_hash(labels);
        let mut hs = self
            .hash_stripe(hash)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(id) = self.find_locked(&hs, hash, labels) {
            return Ok((id, false));
        }
        let reused = self
            .free_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ready
            .pop();
        let id = match reused {
            Some(id) => id,
            None => self.last_id.fetch_add(1, Ordering::AcqRel).wrapping_add(1),
        };
        if id == 0 {
            return Err(StorageError::Internal(
                "series id space exhausted; restart to compact ids".into(),
            ));
        }
        self.insert_series(id, labels, &mut hs, hash);
        Ok((id, true))
    }

    /// Creates series `id` with `labels` during replay. When the labels already
    /// exist under another id, returns that id instead.
    pub fn create_with_id(&self, id: u32, labels: &Labels) -> Result<u32, StorageError> {
        if labels.is_empty() {
            return Err(StorageError::InvalidLabels("empty labelset".into()));
        }
        if id == 0 {
            return Err(StorageError::Internal("series id 0 is reserved".into()));
        }
        let hash = label_set_hash(labels);
        let mut hs = self
            .hash_stripe(hash)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = self.find_locked(&hs, hash, labels) {
            return Ok(existing);
        }
        if self.contains(id) {
            return Err(StorageError::Internal(format!(
                "series id {id} is already used by other labels"
            )));
        }
        self.last_id.fetch_max(id, Ordering::AcqRel);
        self.insert_series(id, labels, &mut hs, hash);
        Ok(id)
    }

    fn insert_series(&self, id: u32, labels: &Labels, hs: &mut HashStripe, hash: u64) {
        let mut ids = Vec::with_capacity(labels.len() * 2);
        let mut pairs = Vec::with_capacity(labels.len());
        {
            let mut symbols = write(&self.symbols);
            for l in labels {
                let n = symbols.intern(&l.name);
                let v = symbols.intern(&l.value);
                ids.push(n);
                ids.push(v);
                pairs.push((symbols.resolve(n).clone(), symbols.resolve(v).clone()));
            }
        }
        {
            let (stripe, slot) = self.stripe_of(id);
            let mut s = write(stripe);
            s.insert(slot, MemSeries::new(ids.into_boxed_slice()));
        }
        match hs.ids.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => {
                hs.collisions.entry(hash).or_default().push(id)
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
        }
        write(&self.postings).add(id, &pairs);
        self.num_series.fetch_add(1, Ordering::Relaxed);
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls `f` on every series, one stripe's read lock at a time.
    pub(crate) fn for_each_series(&self, mut f: impl FnMut(u32, &MemSeries)) {
        for (si, stripe) in self.stripes.iter().enumerate() {
            let guard = read(stripe);
            for (p, page) in guard.pages.iter().enumerate() {
                let Some(slots) = page else { continue };
                for (i, entry) in slots.iter().enumerate() {
                    if let Some(s) = entry {
                        f((((p * PAGE + i) as u32) << self.shift) | si as u32, s);
                    }
                }
            }
        }
    }

    /// Every interned symbol with its id.
    pub(crate) fn symbol_strings(&self) -> Vec<(u32, Arc<str>)> {
        read(&self.symbols).entries()
    }

    /// Every deletion interval by series id.
    pub(crate) fn tombstone_list(&self) -> Vec<(u32, Interval)> {
        self.tombstones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stones()
    }

    /// Raises the highest id handed out to `id` (snapshot loading): series
    /// removed before the snapshot may still be named in the WAL by ids
    /// above every live one, so new series must not take them.
    pub(crate) fn set_last_series_id(&self, id: u32) {
        self.last_id.fetch_max(id, Ordering::AcqRel);
    }

    /// Raises the out-of-bounds limit to `t` (snapshot loading).
    pub(crate) fn set_min_valid_time(&self, t: i64) {
        self.min_valid_time.fetch_max(t, Ordering::AcqRel);
    }

    /// Interns a snapshot's symbol table (`(snapshot id, string)`) into
    /// this head, which must be empty, and returns the translation the
    /// series' labels go through ([`SnapshotSymbols::map_labels`]). Each
    /// symbol is interned and hashed once, however many series use it.
    pub(crate) fn intern_snapshot_symbols(
        &self,
        symbols: &[(u32, Arc<str>)],
    ) -> Result<SnapshotSymbols, StorageError> {
        if self.num_series() != 0 {
            return Err(StorageError::Internal(
                "a snapshot loads only into an empty head".into(),
            ));
        }
        // Snapshot ids are the writing head's, dense but for freed ones.
        let max = symbols
            .iter()
            .map(|(id, _)| *id as usize)
            .max()
            .unwrap_or(0);
        if max > 2 * symbols.len() + 1024 {
            return Err(StorageError::Internal(format!(
                "snapshot symbol id {max} is out of range for {} symbols",
                symbols.len()
            )));
        }
        // Ranks let each series' label order be checked with integer
        // compares instead of string compares.
        let mut order: Vec<usize> = (0..symbols.len()).collect();
        order.sort_unstable_by(|&a, &b| symbols[a].1.cmp(&symbols[b].1));
        let mut ranks = vec![0u32; symbols.len()];
        let mut rank = 0u32;
        for (i, w) in order.iter().enumerate() {
            if i > 0 && symbols[order[i - 1]].1 != symbols[*w].1 {
                rank += 1;
            }
            ranks[*w] = rank;
        }
        let empty_rank = order
            .first()
            .filter(|&&i| symbols[i].1.is_empty())
            .map(|_| 0);
        let mut map: Vec<Option<(u32, u64, u32)>> = vec![None; max + 1];
        let mut st = write(&self.symbols);
        st.reserve(symbols.len());
        for ((sid, s), rank) in symbols.iter().zip(ranks) {
            let hid = st.intern(s);
            if let Some(slot) = map.get_mut(*sid as usize) {
                *slot = Some((hid, str_hash(s.as_bytes()), rank));
            }
        }
        Ok(SnapshotSymbols { map, empty_rank })
    }

    /// Fills an empty head with the series of a version 1 head chunk
    /// snapshot (in stripe order): symbols are interned once, the series
    /// sorted by id and placed as one section. `symbols` maps the
    /// snapshot's symbol ids to strings. Fails on an unknown symbol or a
    /// repeated label set.
    pub(crate) fn restore_snapshot(
        &self,
        symbols: &[(u32, Arc<str>)],
        labels: &mut [u32],
        mut series: Vec<RestoredSeries>,
    ) -> Result<(), StorageError> {
        let map = self.intern_snapshot_symbols(symbols)?;
        series.sort_unstable_by_key(|s| s.id);
        let mut part = PlacedPart::new(&map);
        self.place_snapshot_section(&map, 0, series, labels, &mut part)?;
        self.finish_snapshot(&map, vec![part])
    }

    /// Places section `index` of a snapshot (series in ascending id order,
    /// `labels` in snapshot symbol ids, which this translates) into this
    /// head. Called from several threads at once, one section each; every
    /// stripe is locked once per section. What the head needs of all
    /// sections together (symbol uses, postings, the duplicate check) is
    /// gathered in `part` for [`Head::finish_snapshot`].
    pub(crate) fn place_snapshot_section(
        &self,
        map: &SnapshotSymbols,
        index: usize,
        series: Vec<RestoredSeries>,
        labels: &mut [u32],
        part: &mut PlacedPart,
    ) -> Result<(), StorageError> {
        let n = series.len();
        let mut ids = Vec::with_capacity(n);
        let mut lists: HashMap<(u32, u32), Vec<u32>, FxBuild> = HashMap::default();
        let mut by_stripe: Vec<Vec<(usize, MemSeries)>> = (0..self.stripes.len())
            .map(|_| Vec::with_capacity(n / self.stripes.len() + 1))
            .collect();
        let mut by_hash: Vec<Vec<(u64, u32)>> = (0..self.hashes.len())
            .map(|_| Vec::with_capacity(n / self.hashes.len() + 1))
            .collect();
        for s in series {
            if ids.last().is_some_and(|&last| last >= s.id) || s.id == 0 {
                return Err(StorageError::Internal(format!(
                    "snapshot series ids are not ascending and nonzero at {}",
                    s.id
                )));
            }
            ids.push(s.id);
            let sym = labels.get_mut(s.labels.clone()).ok_or_else(|| {
                StorageError::InvalidLabels(format!(
                    "snapshot series {} has malformed labels",
                    s.id
                ))
            })?;
            let hash = map.map_labels(s.id, sym, &mut part.uses)?;
            for p in sym.chunks_exact(2) {
                lists.entry((p[0], p[1])).or_default().push(s.id);
            }
            let series = MemSeries::from_parts((&*sym).into(), s.closed, s.open, s.open_min_t);
            if let (Some(a), Some(b)) = (series.min_time(), series.max_time()) {
                part.min_time = part.min_time.min(a);
                part.max_time = part.max_time.max(b);
            }
            part.chunks += series.num_chunks() as i64;
            if let Some(b) = by_stripe.get_mut(self.stripe_index(s.id)) {
                b.push(((s.id >> self.shift) as usize, series));
            }
            if let Some(b) = by_hash.get_mut((hash as usize) & self.mask as usize) {
                b.push((hash, s.id));
            }
        }
        for (stripe, batch) in self.stripes.iter().zip(by_stripe) {
            if batch.is_empty() {
                continue;
            }
            let mut guard = write(stripe);
            for (slot, series) in batch {
                guard.insert(slot, series);
            }
        }
        // Equal hashes are set aside as collisions; whether their labels
        // differ is checked once every section is in the slab.
        for (hs, batch) in self.hashes.iter().zip(by_hash) {
            if batch.is_empty() {
                continue;
            }
            let mut hs = hs.lock().unwrap_or_else(|e| e.into_inner());
            hs.ids.reserve(batch.len());
            for (hash, id) in batch {
                match hs.ids.entry(hash) {
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(id);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {
                        hs.collisions.entry(hash).or_default().push(id);
                    }
                }
            }
        }
        part.sections.push((index, ids, lists));
        Ok(())
    }

    /// Completes a snapshot load once every section is placed: symbol
    /// reference counts, the check that no label set is there twice, the
    /// postings (each section's lists appended in section order, so they
    /// stay sorted) and the head's counters. Fails if the sections' ids do
    /// not ascend across sections.
    pub(crate) fn finish_snapshot(
        &self,
        map: &SnapshotSymbols,
        parts: Vec<PlacedPart>,
    ) -> Result<(), StorageError> {
        let mut uses = map.new_uses();
        let (mut mint, mut maxt, mut chunks) = (i64::MAX, i64::MIN, 0i64);
        let mut sections = Vec::new();
        for p in parts {
            for (u, t) in uses.iter_mut().zip(&p.uses) {
                *u = u.saturating_add(*t);
            }
            mint = mint.min(p.min_time);
            maxt = maxt.max(p.max_time);
            chunks += p.chunks;
            sections.extend(p.sections);
        }
        sections.sort_unstable_by_key(|s| s.0);
        let total: usize = sections.iter().map(|s| s.1.len()).sum();
        let mut all = Vec::with_capacity(total);
        let mut lists: HashMap<(u32, u32), Vec<u32>, FxBuild> = HashMap::default();
        for (_, ids, section_lists) in sections {
            if let (Some(&prev), Some(&first)) = (all.last(), ids.first()) {
                if first <= prev {
                    return Err(StorageError::Internal(format!(
                        "snapshot series ids are not ascending at {first}"
                    )));
                }
            }
            all.extend_from_slice(&ids);
            for (k, l) in section_lists {
                match lists.entry(k) {
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(l);
                    }
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        e.get_mut().extend_from_slice(&l);
                    }
                }
            }
        }
        for hs in self.hashes.iter() {
            let hs = hs.lock().unwrap_or_else(|e| e.into_inner());
            for (hash, others) in &hs.collisions {
                let mut seen: Vec<Box<[u32]>> = Vec::with_capacity(others.len() + 1);
                for &id in hs.ids.get(hash).into_iter().chain(others) {
                    let Some(l) = self.with_series(id, |s| s.labels.clone()) else {
                        continue;
                    };
                    if seen.contains(&l) {
                        return Err(StorageError::Internal(format!(
                            "snapshot holds the labels of series {id} twice"
                        )));
                    }
                    seen.push(l);
                }
            }
        }
        {
            let mut st = write(&self.symbols);
            // Interning counted one use per symbol; make it one per series
            // label (a symbol no series uses is freed like any other).
            for (m, &u) in map.map.iter().zip(&uses) {
                if let Some((hid, _, _)) = m {
                    st.add_refs(*hid, u);
                    st.release(*hid);
                }
            }
        }
        let lists: Vec<(Arc<str>, Arc<str>, Vec<u32>)> = {
            let st = read(&self.symbols);
            lists
                .into_iter()
                .map(|((n, v), ids)| (st.resolve(n).clone(), st.resolve(v).clone(), ids))
                .collect()
        };
        write(&self.postings).add_sorted(&all, lists);
        if let Some(&last) = all.last() {
            self.last_id.fetch_max(last, Ordering::AcqRel);
        }
        let n = all.len() as u64;
        self.num_series.fetch_add(n, Ordering::Relaxed);
        self.counters.series_created.fetch_add(n, Ordering::Relaxed);
        self.num_chunks.fetch_add(chunks, Ordering::Relaxed);
        if mint <= maxt {
            self.min_time.fetch_min(mint, Ordering::AcqRel);
            self.max_time.fetch_max(maxt, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Checks a sample against series `id` without appending it.
    pub fn appendable(&self, id: u32, t: i64, v: f64) -> Option<Result<bool, StorageError>> {
        self.with_series(id, |s| s.appendable(t, v))
    }

    /// Appends samples `(id, t, v)`, taking each stripe's lock once. Rejected
    /// samples are counted; the batch is reordered by stripe.
    pub fn apply_samples(&self, samples: &mut [(u32, i64, f64)]) -> u64 {
        let mask = self.mask;
        if samples.len() > 4 * self.stripes.len() {
            bucket_by_stripe(samples, mask);
        } else {
            samples.sort_by_key(|s| s.0 & mask);
        }
        let (mut appended, mut new_chunks) = (0u64, 0i64);
        let (mut ooo, mut dup, mut missing) = (0u64, 0u64, 0u64);
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for group in samples.chunk_by(|a, b| a.0 & mask == b.0 & mask) {
            let Some(first) = group.first() else { continue };
            let (stripe, _) = self.stripe_of(first.0);
            let mut guard = write(stripe);
            for &(id, t, v) in group {
                let slot = (id >> self.shift) as usize;
                let Some(series) = guard.get_mut(slot) else {
                    missing += 1;
                    continue;
                };
                match series.append(t, v, self.opts.chunk_range) {
                    Ok(Appended::Sample { new_chunk }) => {
                        appended += 1;
                        new_chunks += i64::from(new_chunk);
                        mint = mint.min(t);
                        maxt = maxt.max(t);
                    }
                    Ok(Appended::Duplicate) => dup += 1,
                    Err(StorageError::OutOfOrderSample) => ooo += 1,
                    Err(_) => dup += 1,
                }
            }
        }
        if appended > 0 {
            self.min_time.fetch_min(mint, Ordering::AcqRel);
            self.max_time.fetch_max(maxt, Ordering::AcqRel);
        }
        let c = &self.counters;
        c.samples_appended.fetch_add(appended, Ordering::Relaxed);
        c.chunks_created
            .fetch_add(new_chunks as u64, Ordering::Relaxed);
        c.out_of_order_samples.fetch_add(ooo, Ordering::Relaxed);
        c.duplicate_samples.fetch_add(dup, Ordering::Relaxed);
        c.series_not_found.fetch_add(missing, Ordering::Relaxed);
        self.num_chunks.fetch_add(new_chunks, Ordering::Relaxed);
        appended
    }

    /// Deletes samples in `[mint, maxt]` of series matching `matchers`:
    /// logged to the WAL as tombstones first, then hidden from queries.
    /// Returns how many series were affected.
    pub fn delete(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[crate::model::Matcher],
    ) -> Result<usize, StorageError> {
        let ids = self.postings_for_matchers(matchers);
        if ids.is_empty() || mint > maxt {
            return Ok(0);
        }
        if let Some(wal) = self.wal() {
            let stones: Vec<Stone> = ids
                .iter()
                .map(|&id| Stone {
                    series_ref: u64::from(id),
                    mint,
                    maxt,
                })
                .collect();
            let mut rec = Vec::new();
            record::encode_tombstones(&stones, &mut rec);
            wal.log(&[&rec])
                .map_err(|e| StorageError::Internal(format!("write to WAL: {e}")))?;
        }
        let mut t = self.tombstones.lock().unwrap_or_else(|e| e.into_inner());
        for &id in &ids {
            t.add(id, (mint, maxt));
        }
        Ok(ids.len())
    }

    /// Adds a deletion interval without logging it (WAL replay).
    pub fn add_tombstone(&self, id: u32, iv: Interval) {
        self.tombstones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(id, iv);
    }

    /// Labels → deleted intervals of those of `ids` that have any, for
    /// carrying deletions into a block cut from the head.
    pub fn tombstones_by_labels(&self, ids: &[u32]) -> HashMap<Labels, Vec<Interval>> {
        let with: Vec<(u32, Vec<Interval>)> = {
            let t = self.tombstones.lock().unwrap_or_else(|e| e.into_inner());
            if t.is_empty() {
                return HashMap::new();
            }
            ids.iter()
                .map(|&id| (id, t.get(id).to_vec()))
                .filter(|(_, v)| !v.is_empty())
                .collect()
        };
        with.into_iter()
            .filter_map(|(id, v)| Some((self.series_labels(id)?, v)))
            .collect()
    }

    /// The deleted intervals of series `id`.
    pub fn deleted_intervals(&self, id: u32) -> Vec<Interval> {
        self.tombstones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .to_vec()
    }

    /// The oldest time an appender accepts now: upstream's
    /// `max(minValidTime, maxTime - chunkRange/2)`.
    pub fn appendable_min_valid_time(&self) -> i64 {
        let maxt = self.max_time();
        let floor = if maxt == i64::MIN {
            i64::MIN
        } else {
            maxt.saturating_sub(self.opts.chunk_range / 2)
        };
        floor.max(self.min_valid_time())
    }

    /// A batch appender.
    pub fn appender(self: &Arc<Self>) -> HeadAppender {
        HeadAppender::new(self.clone())
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(self: &Arc<Self>, mint: i64, maxt: i64) -> HeadQuerier {
        HeadQuerier::new(self.clone(), mint, maxt)
    }

    /// Ids of series matching `matchers`.
    pub fn postings_for_matchers(&self, matchers: &[crate::model::Matcher]) -> Vec<u32> {
        read(&self.postings).postings_for_matchers(matchers)
    }

    /// Labels and chunks in `[mint, maxt]` of series `ids`, for readers and
    /// for cutting blocks. Series without chunks in range are left out.
    pub fn series_chunks(
        &self,
        ids: &[u32],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<ChunkSnapshot>)> {
        let mut raw = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some((l, c)) =
                self.with_series(id, |s| (s.labels.clone(), s.snapshot(mint, maxt)))
            {
                if !c.is_empty() {
                    raw.push((l, c));
                }
            }
        }
        let symbols = read(&self.symbols);
        raw.into_iter()
            .map(|(l, c)| (resolve_with(&symbols, &l), c))
            .collect()
    }

    /// Queues the ids of series just removed for reuse (see [`FreeIds`]).
    fn retire_ids(&self, ids: Vec<u32>) {
        let mut f = self.free_ids.lock().unwrap_or_else(|e| e.into_inner());
        let no_wal = std::mem::take(&mut f.no_wal);
        f.make_ready(no_wal);
        if ids.is_empty() {
            return;
        }
        match self.wal() {
            Some(w) => {
                let seg = w.current_segment();
                match f.waiting.last_mut() {
                    Some((s, list)) if *s == seg => list.extend(ids),
                    _ => f.waiting.push((seg, ids)),
                }
            }
            None => f.no_wal = ids,
        }
    }

    /// Tells the head that WAL segments up to `segment` were checkpointed
    /// and deleted: ids of series removed while they were current can be
    /// reused now.
    pub fn wal_truncated_through(&self, segment: u32) {
        let mut f = self.free_ids.lock().unwrap_or_else(|e| e.into_inner());
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut f.waiting)
            .into_iter()
            .partition(|(s, _)| *s <= segment);
        f.waiting = waiting;
        let ids: Vec<u32> = done.into_iter().flat_map(|(_, ids)| ids).collect();
        f.make_ready(ids);
    }

    /// Number of removed series ids ready for reuse.
    pub fn reusable_ids(&self) -> usize {
        self.free_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ready
            .len()
    }

    /// Number of interned label names and values.
    pub fn num_symbols(&self) -> usize {
        read(&self.symbols).len()
    }

    /// Drops chunks ending before `mint` and series left without samples;
    /// later samples before `mint` are rejected as out of bounds.
    pub fn truncate(&self, mint: i64) -> TruncateStats {
        self.min_valid_time.fetch_max(mint, Ordering::AcqRel);
        let mut removed: Vec<(u32, Box<[u32]>)> = Vec::new();
        let mut chunks_removed = 0usize;
        let mut new_min = i64::MAX;
        for (si, stripe) in self.stripes.iter().enumerate() {
            let mut guard = write(stripe);
            guard.retain_each(|slot, entry| {
                let Some(series) = entry else { return };
                chunks_removed += series.truncate_before(mint);
                if series.is_empty() {
                    let id = ((slot as u32) << self.shift) | si as u32;
                    if let Some(s) = entry.take() {
                        removed.push((id, s.labels));
                    }
                } else if let Some(t) = series.min_time() {
                    new_min = new_min.min(t);
                }
            });
        }
        let resolved: Vec<(u32, Labels, Box<LabelPairs>)> = {
            let symbols = read(&self.symbols);
            removed
                .iter()
                .map(|(id, ids)| {
                    let pairs: Box<LabelPairs> = ids
                        .chunks_exact(2)
                        .map(|p| (symbols.resolve(p[0]).clone(), symbols.resolve(p[1]).clone()))
                        .collect();
                    (*id, resolve_with(&symbols, ids), pairs)
                })
                .collect()
        };
        let symbols_freed = {
            let mut symbols = write(&self.symbols);
            // Sweep first: what this truncation releases is freed by the
            // next one, so readers resolving removed series stay correct.
            let freed = symbols.sweep();
            for (_, ids) in &removed {
                for &sym in ids.iter() {
                    symbols.release(sym);
                }
            }
            freed
        };
        self.retire_ids(removed.iter().map(|(id, _)| *id).collect());
        for (id, labels, _) in &resolved {
            let hash = label_set_hash(labels);
            let mut hs = self
                .hash_stripe(hash)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mut emptied = false;
            if let Some(list) = hs.collisions.get_mut(&hash) {
                list.retain(|x| x != id);
                emptied = list.is_empty();
            }
            if emptied {
                hs.collisions.remove(&hash);
            }
            if hs.ids.get(&hash) == Some(id) {
                // Promote a colliding series, if any, to the primary slot.
                let next = hs.collisions.get_mut(&hash).and_then(|l| l.pop());
                match next {
                    Some(n) => {
                        hs.ids.insert(hash, n);
                        if hs.collisions.get(&hash).is_some_and(|l| l.is_empty()) {
                            hs.collisions.remove(&hash);
                        }
                    }
                    None => {
                        hs.ids.remove(&hash);
                    }
                }
            }
        }
        {
            let batch: Vec<(u32, &LabelPairs)> =
                resolved.iter().map(|(id, _, p)| (*id, &**p)).collect();
            write(&self.postings).delete(&batch);
        }
        {
            let mut t = self.tombstones.lock().unwrap_or_else(|e| e.into_inner());
            t.truncate_before(mint);
            for (id, _, _) in &resolved {
                t.remove(*id);
            }
        }
        let n = resolved.len();
        self.num_series.fetch_sub(n as u64, Ordering::Relaxed);
        self.num_chunks
            .fetch_sub(chunks_removed as i64, Ordering::Relaxed);
        let c = &self.counters;
        c.series_removed.fetch_add(n as u64, Ordering::Relaxed);
        c.chunks_removed
            .fetch_add(chunks_removed as u64, Ordering::Relaxed);
        c.truncations.fetch_add(1, Ordering::Relaxed);
        if new_min == i64::MAX {
            self.min_time.store(i64::MAX, Ordering::Release);
            self.max_time.store(i64::MIN, Ordering::Release);
        } else {
            self.min_time.store(new_min, Ordering::Release);
        }
        TruncateStats {
            series_removed: n,
            chunks_removed,
            symbols_freed,
        }
    }
}

/// A stable counting sort of samples by stripe: linear, where a comparison
/// sort of a 10k-sample replay record showed up in profiles.
fn bucket_by_stripe(samples: &mut [(u32, i64, f64)], mask: u32) {
    let n = mask as usize + 1;
    let mut starts = vec![0usize; n + 1];
    for s in samples.iter() {
        starts[(s.0 & mask) as usize + 1] += 1;
    }
    for i in 1..=n {
        starts[i] += starts[i - 1];
    }
    let mut out = vec![(0u32, 0i64, 0f64); samples.len()];
    for s in samples.iter() {
        let b = (s.0 & mask) as usize;
        out[starts[b]] = *s;
        starts[b] += 1;
    }
    samples.copy_from_slice(&out);
}

fn resolve_with(symbols: &SymbolTable, ids: &[u32]) -> Labels {
    Labels::from_sorted(
        ids.chunks_exact(2)
            .map(|p| Label {
                name: symbols.resolve(p[0]).to_string(),
                value: symbols.resolve(p[1]).to_string(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests;
