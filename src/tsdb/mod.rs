//! The local time-series database, as upstream's `tsdb` package: XOR chunks
//! (`chunkenc`), the postings index (`index`), the in-memory head (`head`),
//! the write-ahead log (`wal`) and [`Db`], which ties them together behind
//! the `storage` traits. Nothing outside this module names these types except
//! the server wiring; queries and scrapes see only
//! `storage::{Appendable, Queryable}`.
//!
//! Blocks (`block`, `compact`) hold data older than the head's window in
//! upstream's on-disk format, with levelled compaction, retention,
//! tombstones and admin snapshots. On a clean shutdown the head is written to
//! a chunk snapshot (`head::snapshot`) so a restart loads chunks as bytes and
//! replays only the WAL written after it.

pub mod block;
pub mod chunkenc;
pub mod compact;
pub mod db;
pub mod head;
pub mod index;
pub mod metrics;
pub mod querier;
pub mod tombstones;
pub mod wal;

use std::fmt;
use std::path::PathBuf;

pub use db::{Db, DbOptions};
pub use head::{Head, HeadOptions, HeadStats};
pub use metrics::register_metrics;

use crate::storage::StorageError;

/// Errors of opening and running the TSDB.
#[derive(Debug)]
pub enum TsdbError {
    /// A file or directory operation failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process holds the data directory's lock file.
    Locked { path: PathBuf },
    /// A file on disk is not in the expected format.
    Corrupt { path: PathBuf, reason: String },
    /// The write-ahead log failed.
    Wal(wal::WalError),
    /// The database was closed.
    Closed,
}

impl fmt::Display for TsdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsdbError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TsdbError::Locked { path } => write!(
                f,
                "lock DB directory: {} is locked by another process (is another promlite or \
                 Prometheus using this --storage.tsdb.path? --storage.tsdb.no-lockfile skips \
                 the lock)",
                path.display()
            ),
            TsdbError::Corrupt { path, reason } => {
                write!(f, "{}: corrupt: {reason}", path.display())
            }
            TsdbError::Wal(e) => e.fmt(f),
            TsdbError::Closed => f.write_str("TSDB is closed"),
        }
    }
}

impl std::error::Error for TsdbError {}

impl From<wal::WalError> for TsdbError {
    fn from(e: wal::WalError) -> Self {
        TsdbError::Wal(e)
    }
}

impl From<TsdbError> for StorageError {
    fn from(e: TsdbError) -> Self {
        match e {
            TsdbError::Closed => StorageError::NotReady,
            e => StorageError::Internal(e.to_string()),
        }
    }
}
