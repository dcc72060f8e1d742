//! The write-ahead log in upstream's format (`tsdb/wlog`): numbered segment
//! files (`00000000`, `00000001`, ...) under `<data dir>/wal/`, each a
//! sequence of 32 KiB pages holding record fragments
//! (`type <1b> | len <2b BE> | CRC32C <4b BE> | data`). A record is split into
//! first/middle/last fragments when it does not fit a page and never spans two
//! segments. With compression on, a record is snappy-encoded (block format)
//! before fragmentation and its fragments carry upstream's snappy flag bit.
//!
//! Durability: [`Wal::log`] hands every record to the OS with `write(2)`
//! before returning, so a process crash (kill -9) loses nothing that was
//! logged. `fsync` happens when a segment is cut, on [`Wal::sync`] (the `Db`
//! calls it on a timer, every `DbOptions::wal_fsync_interval`) and on
//! [`Wal::close`]; a power loss can lose what was logged since the last fsync.
//!
//! The reading side ([`Reader`], [`LiveReader`], [`record`]) is public so the
//! remote-write queue can tail the WAL with the same code.

pub mod checkpoint;
pub mod crc32c;
pub mod reader;
pub mod record;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use reader::{LiveReader, Reader};

/// Bytes per page.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Bytes of a fragment header.
pub const RECORD_HEADER_SIZE: usize = 7;
/// Default segment size, as upstream's `--storage.tsdb.wal-segment-size`.
pub const DEFAULT_SEGMENT_SIZE: usize = 128 * 1024 * 1024;

/// Fragment types (low 3 bits of the type byte).
pub const REC_PAGE_TERM: u8 = 0;
pub const REC_FULL: u8 = 1;
pub const REC_FIRST: u8 = 2;
pub const REC_MIDDLE: u8 = 3;
pub const REC_LAST: u8 = 4;
/// Flag bits of the type byte.
pub const SNAPPY_MASK: u8 = 1 << 3;
pub const ZSTD_MASK: u8 = 1 << 4;

/// Errors of the WAL.
#[derive(Debug)]
pub enum WalError {
    /// A file operation failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A segment holds bytes that are not a valid record at `offset`.
    Corruption {
        segment: u32,
        offset: u64,
        reason: String,
    },
    /// A record decoded badly.
    Record(record::RecordError),
    /// The WAL was closed.
    Closed,
}

impl WalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> WalError {
        WalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io { path, source } => write!(f, "WAL {}: {source}", path.display()),
            WalError::Corruption {
                segment,
                offset,
                reason,
            } => write!(
                f,
                "corruption in WAL segment {segment:08} at offset {offset}: {reason}"
            ),
            WalError::Record(e) => e.fmt(f),
            WalError::Closed => f.write_str("WAL is closed"),
        }
    }
}

impl std::error::Error for WalError {}

impl From<record::RecordError> for WalError {
    fn from(e: record::RecordError) -> Self {
        WalError::Record(e)
    }
}

/// The file name of segment `index`.
pub fn segment_name(index: u32) -> String {
    format!("{index:08}")
}

/// Segments in `dir`, sorted by index. Files whose names are not numbers are ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, WalError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WalError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(i) = name.parse::<u32>() {
            out.push((i, entry.path()));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// Options of the WAL writer.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Bytes after which a new segment is started (rounded down to whole pages).
    pub segment_size: usize,
    /// Snappy-compress records, as `--storage.tsdb.wal-compression`.
    pub compress: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compress: true,
        }
    }
}

/// Counters the WAL keeps for the `Db`'s self-metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct WalStats {
    pub fsyncs: u64,
    pub fsync_seconds: f64,
    pub current_segment: u32,
    pub page_flushes: u64,
    pub completed_pages: u64,
}

/// The writer side of a WAL directory. Thread-safe; one lock per `log` call.
pub struct Wal {
    dir: PathBuf,
    inner: Mutex<Writer>,
}

struct Writer {
    opts: WalOptions,
    dir: PathBuf,
    file: Option<File>,
    segment: u32,
    page: Box<[u8]>,
    /// Bytes of `page` in use.
    alloc: usize,
    /// Bytes of `page` already written to the file.
    flushed: usize,
    /// Full pages written to the current segment.
    done_pages: usize,
    compress_buf: Vec<u8>,
    encoder: snap::raw::Encoder,
    stats: WalStats,
    /// Observer of fsync durations (seconds), set by the `Db`'s metrics.
    on_fsync: Option<Box<dyn Fn(f64) + Send>>,
}

impl Wal {
    /// Opens `dir` for writing, starting a fresh segment after the last one,
    /// as upstream does: earlier segments are never appended to, so a torn
    /// tail left by a crash stays behind whatever is written next.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal, WalError> {
        fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let next = list_segments(dir)?
            .last()
            .map(|(i, _)| i.saturating_add(1))
            .unwrap_or(0);
        let mut opts = opts;
        opts.segment_size = (opts.segment_size / PAGE_SIZE).max(1) * PAGE_SIZE;
        let mut w = Writer {
            opts,
            dir: dir.to_path_buf(),
            file: None,
            segment: next,
            page: vec![0u8; PAGE_SIZE].into_boxed_slice(),
            alloc: 0,
            flushed: 0,
            done_pages: 0,
            compress_buf: Vec::new(),
            encoder: snap::raw::Encoder::new(),
            stats: WalStats::default(),
            on_fsync: None,
        };
        w.create_segment(next)?;
        sync_dir(dir);
        Ok(Wal {
            dir: dir.to_path_buf(),
            inner: Mutex::new(w),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls `f` with the duration of every fsync.
    pub fn set_fsync_observer(&self, f: Box<dyn Fn(f64) + Send>) {
        self.lock().on_fsync = Some(f);
    }

    /// Writes records and hands them to the OS (no fsync).
    pub fn log(&self, records: &[&[u8]]) -> Result<(), WalError> {
        let mut w = self.lock();
        for (i, rec) in records.iter().enumerate() {
            w.log(rec, i + 1 == records.len())?;
        }
        Ok(())
    }

    /// Closes the current segment (fsynced) and starts the next; returns its index.
    pub fn next_segment(&self) -> Result<u32, WalError> {
        self.lock().next_segment()
    }

    /// Flushes the partial page and fsyncs the current segment.
    pub fn sync(&self) -> Result<(), WalError> {
        let mut w = self.lock();
        if w.file.is_none() {
            return Ok(());
        }
        w.flush_page(false)?;
        w.fsync()
    }

    /// Flushes, fsyncs and closes; later `log` calls fail with `Closed`.
    pub fn close(&self) -> Result<(), WalError> {
        let mut w = self.lock();
        if w.file.is_none() {
            return Ok(());
        }
        w.flush_page(false)?;
        w.fsync()?;
        w.file = None;
        Ok(())
    }

    /// Index of the segment being written.
    pub fn current_segment(&self) -> u32 {
        self.lock().segment
    }

    pub fn stats(&self) -> WalStats {
        let w = self.lock();
        let mut s = w.stats;
        s.current_segment = w.segment;
        s
    }

    /// Deletes every segment with an index below `index`.
    pub fn truncate(&self, index: u32) -> Result<(), WalError> {
        for (i, path) in list_segments(&self.dir)? {
            if i >= index {
                break;
            }
            fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
        }
        Ok(())
    }
}

impl Writer {
    fn segment_path(&self, index: u32) -> PathBuf {
        self.dir.join(segment_name(index))
    }

    fn create_segment(&mut self, index: u32) -> Result<(), WalError> {
        let path = self.segment_path(index);
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| WalError::io(&path, e))?;
        self.file = Some(f);
        self.segment = index;
        self.alloc = 0;
        self.flushed = 0;
        self.done_pages = 0;
        Ok(())
    }

    fn pages_per_segment(&self) -> usize {
        self.opts.segment_size / PAGE_SIZE
    }

    fn page_full(&self) -> bool {
        PAGE_SIZE - self.alloc < RECORD_HEADER_SIZE
    }

    /// Writes the unflushed part of the page; with `clear` the page is
    /// zero-padded to its end and a fresh one begins.
    fn flush_page(&mut self, clear: bool) -> Result<(), WalError> {
        if clear {
            self.alloc = PAGE_SIZE;
        }
        if self.flushed < self.alloc {
            let path = self.segment_path(self.segment);
            let file = self.file.as_mut().ok_or(WalError::Closed)?;
            file.write_all(&self.page[self.flushed..self.alloc])
                .map_err(|e| WalError::io(&path, e))?;
            self.flushed = self.alloc;
            self.stats.page_flushes += 1;
        }
        if clear {
            self.page.fill(0);
            self.alloc = 0;
            self.flushed = 0;
            self.done_pages += 1;
            self.stats.completed_pages += 1;
        }
        Ok(())
    }

    fn fsync(&mut self) -> Result<(), WalError> {
        let path = self.segment_path(self.segment);
        let file = self.file.as_ref().ok_or(WalError::Closed)?;
        let start = Instant::now();
        file.sync_data().map_err(|e| WalError::io(&path, e))?;
        let secs = start.elapsed().as_secs_f64();
        self.stats.fsyncs += 1;
        self.stats.fsync_seconds += secs;
        if let Some(f) = &self.on_fsync {
            f(secs);
        }
        Ok(())
    }

    fn next_segment(&mut self) -> Result<u32, WalError> {
        if self.file.is_none() {
            return Err(WalError::Closed);
        }
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.fsync()?;
        let next = self.segment.saturating_add(1);
        self.create_segment(next)?;
        sync_dir(&self.dir);
        Ok(next)
    }

    fn log(&mut self, rec: &[u8], last_of_batch: bool) -> Result<(), WalError> {
        if self.file.is_none() {
            return Err(WalError::Closed);
        }
        if self.page_full() {
            self.flush_page(true)?;
        }
        let mut compressed = false;
        let mut buf = std::mem::take(&mut self.compress_buf);
        let mut rec = rec;
        if self.opts.compress && !rec.is_empty() {
            buf.resize(snap::raw::max_compress_len(rec.len()), 0);
            if let Ok(n) = self.encoder.compress(rec, &mut buf) {
                if n < rec.len() {
                    buf.truncate(n);
                    rec = &buf;
                    compressed = true;
                }
            }
        }
        let result = self.write_fragments(rec, compressed, last_of_batch);
        self.compress_buf = buf;
        result
    }

    fn write_fragments(
        &mut self,
        mut rec: &[u8],
        compressed: bool,
        last_of_batch: bool,
    ) -> Result<(), WalError> {
        // Records never cross segments: cut first when it would not fit.
        let mut left = (PAGE_SIZE - self.alloc).saturating_sub(RECORD_HEADER_SIZE);
        left += (PAGE_SIZE - RECORD_HEADER_SIZE)
            * self.pages_per_segment().saturating_sub(self.done_pages + 1);
        if rec.len() > left {
            self.next_segment()?;
        }
        let mut i = 0;
        while i == 0 || !rec.is_empty() {
            let room = PAGE_SIZE - self.alloc - RECORD_HEADER_SIZE;
            let l = rec.len().min(room);
            let (part, rest) = rec.split_at(l);
            let mut typ = match (i == 0, rest.is_empty()) {
                (true, true) => REC_FULL,
                (false, true) => REC_LAST,
                (true, false) => REC_FIRST,
                (false, false) => REC_MIDDLE,
            };
            if compressed {
                typ |= SNAPPY_MASK;
            }
            let a = self.alloc;
            self.page[a] = typ;
            self.page[a + 1..a + 3].copy_from_slice(&(l as u16).to_be_bytes());
            self.page[a + 3..a + 7].copy_from_slice(&crc32c::checksum(part).to_be_bytes());
            self.page[a + 7..a + 7 + l].copy_from_slice(part);
            self.alloc += l + RECORD_HEADER_SIZE;
            if self.page_full() {
                self.flush_page(true)?;
            }
            rec = rest;
            i += 1;
        }
        if last_of_batch && self.alloc > 0 {
            self.flush_page(false)?;
        }
        Ok(())
    }
}

/// fsyncs a directory so created or renamed entries survive a power loss.
/// Best effort: not every filesystem supports it.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// How long the `Db` waits between WAL fsyncs by default.
pub const DEFAULT_FSYNC_INTERVAL: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests;
