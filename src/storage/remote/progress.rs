//! How far a remote-write queue has delivered, as a WAL position, and the
//! small file that keeps it across restarts (promlite's addition to
//! upstream, whose queues restart from "now").
//!
//! Samples are read from the WAL in order but delivered by several shards
//! out of order. [`ProgressTracker`] gives every WAL record a sequence
//! number when its samples are queued and counts down as shards finish
//! them (sent, or failed for good); the delivered position is the end of the
//! longest prefix of fully finished records. Only that position is saved, so
//! a restart may resend a few samples (the protocol allows duplicates) but
//! never skips one that was not delivered.
//!
//! The file holds one line, `v1 <segment> <offset> <unix_ms>`, and is replaced
//! atomically (write to a temporary file, fsync, rename).

use std::collections::VecDeque;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::wal::WalPosition;
use super::RemoteError;

/// Tracks delivery of queued WAL records.
pub struct ProgressTracker {
    inner: Mutex<TrackerInner>,
}

struct TrackerInner {
    /// Sequence number of `pending[0]`.
    front_seq: u64,
    /// For each record not yet fully delivered: its end position and the
    /// number of its samples still in flight.
    pending: VecDeque<(WalPosition, usize)>,
    delivered: WalPosition,
}

impl ProgressTracker {
    /// A tracker whose delivered position starts at `start`.
    pub fn new(start: WalPosition) -> ProgressTracker {
        ProgressTracker {
            inner: Mutex::new(TrackerInner {
                front_seq: 0,
                pending: VecDeque::new(),
                delivered: start,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a record ending at `end` with `samples` queued samples and
    /// returns its sequence number for [`ProgressTracker::finish`].
    pub fn register(&self, end: WalPosition, samples: usize) -> u64 {
        let mut inner = self.lock();
        let seq = inner.front_seq + inner.pending.len() as u64;
        if samples == 0 && inner.pending.is_empty() {
            // Nothing in flight before it: delivered at once, no entry kept.
            inner.delivered = inner.delivered.max(end);
            inner.front_seq += 1;
            return seq;
        }
        inner.pending.push_back((end, samples));
        seq
    }

    /// Marks `n` samples of record `seq` as finished.
    pub fn finish(&self, seq: u64, n: usize) {
        let mut inner = self.lock();
        let Some(idx) = seq.checked_sub(inner.front_seq) else {
            return;
        };
        if let Some(entry) = inner.pending.get_mut(idx as usize) {
            entry.1 = entry.1.saturating_sub(n);
        }
        while let Some(&(pos, 0)) = inner.pending.front() {
            inner.pending.pop_front();
            inner.front_seq += 1;
            inner.delivered = inner.delivered.max(pos);
        }
    }

    /// Forgets everything in flight and restarts counting at `start`.
    pub fn reset(&self, start: WalPosition) {
        let mut inner = self.lock();
        inner.front_seq += inner.pending.len() as u64;
        inner.pending.clear();
        inner.delivered = start;
    }

    /// The end of the longest fully delivered prefix.
    pub fn delivered(&self) -> WalPosition {
        self.lock().delivered
    }

    /// Samples queued but not finished.
    pub fn in_flight(&self) -> usize {
        self.lock().pending.iter().map(|e| e.1).sum()
    }
}

/// A saved position with the time it was saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedProgress {
    pub position: WalPosition,
    pub saved_at_ms: i64,
}

/// The progress file of one queue.
pub struct ProgressFile {
    path: PathBuf,
}

impl ProgressFile {
    /// The file for queue `queue_key` under `dir` (created if missing).
    pub fn new(dir: &Path, queue_key: &str) -> ProgressFile {
        let safe: String = queue_key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        ProgressFile {
            path: dir.join(format!("{safe}.progress")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved position; `Ok(None)` when there is no file. A corrupt file
    /// is an error the caller logs before starting fresh.
    pub fn load(&self) -> Result<Option<SavedProgress>, RemoteError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RemoteError::Io(format!("{}: {e}", self.path.display()))),
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            ["v1", seg, off, at] => seg
                .parse()
                .ok()
                .zip(off.parse().ok())
                .zip(at.parse().ok())
                .map(|((segment, offset), saved_at_ms)| SavedProgress {
                    position: WalPosition { segment, offset },
                    saved_at_ms,
                }),
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| {
            RemoteError::Io(format!(
                "{}: unrecognised progress file content {text:?}",
                self.path.display()
            ))
        })
    }

    /// Atomically replaces the saved position.
    pub fn save(&self, progress: SavedProgress) -> Result<(), RemoteError> {
        let err = |e: std::io::Error| RemoteError::Io(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = self.path.with_extension("progress.tmp");
        let mut f = fs::File::create(&tmp).map_err(err)?;
        writeln!(
            f,
            "v1 {} {} {}",
            progress.position.segment, progress.position.offset, progress.saved_at_ms
        )
        .map_err(err)?;
        f.sync_all().map_err(err)?;
        fs::rename(&tmp, &self.path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(s: u64, o: u64) -> WalPosition {
        WalPosition::new(s, o)
    }

    #[test]
    fn delivered_is_the_fully_finished_prefix() {
        let t = ProgressTracker::new(pos(0, 0));
        let a = t.register(pos(0, 10), 2);
        let b = t.register(pos(0, 20), 1);
        let _series = t.register(pos(0, 30), 0);
        t.finish(b, 1);
        // Record `a` is still in flight: nothing after it counts.
        assert_eq!(t.delivered(), pos(0, 0));
        t.finish(a, 1);
        assert_eq!(t.delivered(), pos(0, 0));
        t.finish(a, 1);
        assert_eq!(t.delivered(), pos(0, 30));
        assert_eq!(t.in_flight(), 0);
        // Records without samples and nothing pending advance at once.
        t.register(pos(1, 5), 0);
        assert_eq!(t.delivered(), pos(1, 5));
        let c = t.register(pos(1, 9), 3);
        t.finish(c, 3);
        assert_eq!(t.delivered(), pos(1, 9));
        // Stale or unknown sequence numbers are ignored.
        t.finish(0, 5);
        t.finish(1000, 5);
        assert_eq!(t.delivered(), pos(1, 9));
    }

    #[test]
    fn progress_file_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let f = ProgressFile::new(dir.path(), "q/1");
        assert_eq!(f.load().unwrap(), None);
        let p = SavedProgress {
            position: pos(3, 1234),
            saved_at_ms: 99,
        };
        f.save(p).unwrap();
        assert_eq!(f.load().unwrap(), Some(p));
        assert!(f.path().ends_with("q_1.progress"));
        fs::write(f.path(), "garbage").unwrap();
        assert!(f.load().is_err());
    }
}
