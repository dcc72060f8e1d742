//! Remote storage, as upstream's `storage/remote` package: remote write
//! (one [`QueueManager`] per `remote_write` entry, tailing the WAL), remote
//! read ([`RemoteReadQueryable`], a fanout secondary), and the server side of
//! both protocols ([`handle_write`] for `/api/v1/write`, [`handle_read`] for
//! `/api/v1/read`). [`RemoteStorage`] owns the queues and readers and applies
//! configuration on reload. Agent mode's WAL-only [`AgentStorage`] lives here
//! too because it exists only to feed the queues.
//!
//! Map: `prompb` (wire messages) and `codec` (snappy, headers, conversions);
//! `client` (HTTP); `settings` and `from_config` (what runs); `wal`,
//! `wal_dir` and `watcher` (reading the WAL); `progress` (delivered position
//! and its file); `shard`, `sharding`, `metrics`, `metadata` and
//! `queue_manager` (sending); `read` (client side of remote read);
//! `write_handler` and `read_handler` (server side); `storage`; `agent`.
//!
//! Invariants: remote write never buffers samples that are not already in
//! the WAL (the WAL is the queue); this module opens no listening socket (the
//! web handler calls the handlers); queues see the WAL only through
//! [`wal::WalReader`], and only [`wal_dir`] and [`agent`] name the TSDB's
//! WAL reader, writer and record codecs (never the head or blocks).

pub mod agent;
pub mod client;
pub mod codec;
mod from_config;
pub mod metadata;
pub mod metrics;
pub mod progress;
pub mod prompb;
pub mod queue_manager;
pub mod read;
pub mod read_handler;
pub mod settings;
pub mod shard;
pub mod sharding;
mod storage;
pub mod wal;
pub mod wal_dir;
pub mod watcher;
pub mod write_handler;

pub use agent::{AgentOptions, AgentRetention, AgentStorage};
pub use queue_manager::{QueueManager, QueueOptions};
pub use read::RemoteReadQueryable;
pub use read_handler::{handle_read, ReadHandlerSettings};
pub use settings::{RemoteConfig, RemoteReadSettings, RemoteWriteSettings};
pub use storage::RemoteStorage;
pub use wal::{MemWal, WalReader};
pub use wal_dir::WalDir;
pub use watcher::ReplayLimits;
pub use write_handler::handle_write;

use std::fmt;

use crate::storage::StorageError;

/// Errors of remote storage.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteError {
    /// A setting that cannot work (bad URL, unreadable secret file, ...).
    Config(String),
    /// A message could not be encoded.
    Encode(String),
    /// A body or message could not be decoded.
    Decode(String),
    /// A send failed in a way worth retrying (network error, 5xx, 429 when allowed).
    Recoverable(String),
    /// A recoverable answer whose `Retry-After` header names the delay.
    RetryAfter {
        message: String,
        after: std::time::Duration,
    },
    /// The endpoint answered with a final error status.
    Http { status: u16, message: String },
    /// The WAL could not be read.
    Wal(String),
    /// A WAL segment needed to continue was removed (truncated by a checkpoint).
    WalSegmentMissing(u64),
    /// A local file (progress file) could not be read or written.
    Io(String),
    /// The local storage failed.
    Storage(StorageError),
    /// A feature promlite does not implement.
    Unsupported(String),
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::Config(m) => write!(f, "invalid remote storage configuration: {m}"),
            RemoteError::Encode(m) => write!(f, "encoding remote storage message: {m}"),
            RemoteError::Decode(m) => write!(f, "decoding remote storage message: {m}"),
            RemoteError::Recoverable(m) => f.write_str(m),
            RemoteError::RetryAfter { message, after } => {
                write!(f, "{message} (retry after {after:?})")
            }
            RemoteError::Http { message, .. } => f.write_str(message),
            RemoteError::Wal(m) => write!(f, "reading WAL for remote write: {m}"),
            RemoteError::WalSegmentMissing(s) => {
                write!(f, "WAL segment {s:08} no longer exists")
            }
            RemoteError::Io(m) => f.write_str(m),
            RemoteError::Storage(e) => write!(f, "local storage: {e}"),
            RemoteError::Unsupported(m) => write!(f, "{m} is not supported by promlite"),
        }
    }
}

impl std::error::Error for RemoteError {}

impl From<StorageError> for RemoteError {
    fn from(e: StorageError) -> Self {
        RemoteError::Storage(e)
    }
}

/// An HTTP answer from a handler, independent of the web server's types.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// A plain-text answer (upstream's `http.Error`: the message and a newline).
    pub fn text(status: u16, message: impl Into<String>) -> HttpReply {
        let mut body = message.into().into_bytes();
        body.push(b'\n');
        HttpReply {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".to_string())],
            body,
        }
    }

    /// A status with no body.
    pub fn empty(status: u16) -> HttpReply {
        HttpReply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}
