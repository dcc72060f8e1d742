//! WAL checkpoints, as upstream's `wlog.Checkpoint`: when the head is
//! truncated, the records of a range of old segments that still matter
//! (series still in the head, samples at or after the new head start,
//! tombstones of live series) are rewritten into `checkpoint.NNNNNNNN/`
//! (NNNNNNNN = the last segment covered), after which those segments can be
//! deleted. Written into a `.tmp` directory and renamed, so a crash leaves
//! either the old or the new checkpoint, never half of one.

use std::fs;
use std::path::{Path, PathBuf};

use super::record::{self, RefSample, RefSeries, Stone};
use super::{list_segments, sync_dir, Reader, Wal, WalError, WalOptions};

/// What a checkpoint kept and dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CheckpointStats {
    pub kept_series: usize,
    pub dropped_series: usize,
    pub kept_samples: usize,
    pub dropped_samples: usize,
    pub kept_tombstones: usize,
    pub dropped_tombstones: usize,
}

const PREFIX: &str = "checkpoint.";

/// The directory name of the checkpoint covering segments up to `index`.
pub fn checkpoint_name(index: u32) -> String {
    format!("{PREFIX}{index:08}")
}

/// Finished checkpoints in `wal_dir`, sorted by index.
pub fn list_checkpoints(wal_dir: &Path) -> Result<Vec<(u32, PathBuf)>, WalError> {
    let rd = match fs::read_dir(wal_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WalError::io(wal_dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| WalError::io(wal_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(i) = num.parse::<u32>() {
            out.push((i, entry.path()));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// The newest finished checkpoint.
pub fn last_checkpoint(wal_dir: &Path) -> Result<Option<(u32, PathBuf)>, WalError> {
    Ok(list_checkpoints(wal_dir)?.pop())
}

/// Deletes checkpoints with an index below `index`, and leftover `.tmp` dirs.
pub fn delete_checkpoints(wal_dir: &Path, index: u32) -> Result<(), WalError> {
    for (i, path) in list_checkpoints(wal_dir)? {
        if i < index {
            fs::remove_dir_all(&path).map_err(|e| WalError::io(&path, e))?;
        }
    }
    if let Ok(rd) = fs::read_dir(wal_dir) {
        for entry in rd.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(PREFIX) && name.ends_with(".tmp") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}

/// Writes `checkpoint.<to>` from the last checkpoint plus segments
/// `from..=to`, keeping series for which `keep(ref)` holds, samples with
/// `t >= mint` and live tombstones ending at or after `mint`.
pub fn checkpoint(
    wal_dir: &Path,
    from: u32,
    to: u32,
    keep: &dyn Fn(u64) -> bool,
    mint: i64,
    compress: bool,
) -> Result<CheckpointStats, WalError> {
    let mut sources: Vec<(u32, PathBuf)> = Vec::new();
    let mut from = from;
    if let Some((idx, dir)) = last_checkpoint(wal_dir)? {
        sources.extend(list_segments(&dir)?);
        from = from.max(idx.saturating_add(1));
    }
    // Checkpoint segments may share indexes with WAL segments; the reader only
    // needs them in order, so renumber the list.
    let mut segs: Vec<(u32, PathBuf)> = sources;
    segs.extend(
        list_segments(wal_dir)?
            .into_iter()
            .filter(|(i, _)| *i >= from && *i <= to),
    );

    let final_dir = wal_dir.join(checkpoint_name(to));
    let tmp_dir = wal_dir.join(format!("{}.tmp", checkpoint_name(to)));
    if tmp_dir.exists() {
        fs::remove_dir_all(&tmp_dir).map_err(|e| WalError::io(&tmp_dir, e))?;
    }
    let out = Wal::open(
        &tmp_dir,
        WalOptions {
            compress,
            ..WalOptions::default()
        },
    )?;
    let mut stats = CheckpointStats::default();
    let mut reader = Reader::new(segs);
    let (mut series, mut samples, mut stones) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = Vec::new();
    while let Some(rec) = reader.next()? {
        buf.clear();
        match record::record_type(rec) {
            Some(record::SERIES) => {
                series.clear();
                record::decode_series(rec, &mut series)?;
                let before = series.len();
                series.retain(|s: &RefSeries| keep(s.series_ref));
                stats.kept_series += series.len();
                stats.dropped_series += before - series.len();
                if !series.is_empty() {
                    record::encode_series(
                        series.iter().map(|s| (s.series_ref, &s.labels)),
                        &mut buf,
                    );
                }
            }
            Some(record::SAMPLES) => {
                samples.clear();
                record::decode_samples(rec, &mut samples)?;
                let before = samples.len();
                samples.retain(|s: &RefSample| s.t >= mint);
                stats.kept_samples += samples.len();
                stats.dropped_samples += before - samples.len();
                if !samples.is_empty() {
                    record::encode_samples(&samples, &mut buf);
                }
            }
            Some(record::TOMBSTONES) => {
                stones.clear();
                record::decode_tombstones(rec, &mut stones)?;
                let before = stones.len();
                stones.retain(|s: &Stone| s.maxt >= mint && keep(s.series_ref));
                stats.kept_tombstones += stones.len();
                stats.dropped_tombstones += before - stones.len();
                if !stones.is_empty() {
                    record::encode_tombstones(&stones, &mut buf);
                }
            }
            _ => {}
        }
        if !buf.is_empty() {
            out.log(&[&buf])?;
        }
    }
    out.close()?;
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(|e| WalError::io(&final_dir, e))?;
    }
    fs::rename(&tmp_dir, &final_dir).map_err(|e| WalError::io(&final_dir, e))?;
    sync_dir(wal_dir);
    Ok(stats)
}
