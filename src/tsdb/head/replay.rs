//! Rebuilding the head from the WAL on open: the newest checkpoint, then
//! every later segment. One thread reads and decodes records; the caller's
//! thread creates series and routes samples by lock stripe to appliers (one
//! per core), so decoding, series creation and chunk encoding overlap and
//! no two appliers ever touch the same stripe. A series' samples always go
//! to the same applier, in WAL order.
//!
//! A corrupt or torn record ends the replay there: the segment is truncated
//! at the end of the last good record and later segments are deleted (as
//! upstream's `Repair`), with a warning and a count; the database still
//! opens with everything before that point.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;

use super::Head;
use crate::tsdb::wal::checkpoint::last_checkpoint;
use crate::tsdb::wal::record::{self, RefSample, RefSeries, Stone};
use crate::tsdb::wal::{list_segments, Reader, WalError};

/// What a replay read and repaired.
#[derive(Debug, Default, Clone)]
pub struct ReplayStats {
    pub checkpoint: Option<u32>,
    pub segments: usize,
    pub records: u64,
    pub series: u64,
    pub samples: u64,
    pub unknown_refs: u64,
    pub corruptions: u64,
    /// Series and chunks loaded from a head chunk snapshot before the WAL.
    pub snapshot_series: u64,
    pub snapshot_chunks: u64,
    pub duration: Duration,
}

enum Decoded {
    Series(Vec<RefSeries>),
    Samples(Vec<RefSample>),
    Tombstones(Vec<Stone>),
    Segment(u32),
    Corrupt(WalError),
}

/// Reads `segments`, applying records to `head`; returns the first
/// corruption instead of failing.
fn replay_segments(
    head: &Head,
    segments: Vec<(u32, std::path::PathBuf)>,
    multi_ref: &mut HashMap<u64, u32>,
    stats: &mut ReplayStats,
    last_segment: u32,
) -> Result<Option<WalError>, WalError> {
    let (tx, rx) = bounded::<Decoded>(16);
    std::thread::scope(|scope| {
        let decoder = scope.spawn(move || -> Result<u64, WalError> {
            let mut reader = Reader::new(segments);
            let mut records = 0u64;
            let mut seg = None;
            loop {
                let rec = match reader.next() {
                    Ok(Some(rec)) => rec,
                    Ok(None) => break,
                    Err(e @ WalError::Corruption { .. }) => {
                        let _ = tx.send(Decoded::Corrupt(e));
                        break;
                    }
                    Err(e) => return Err(e),
                };
                records += 1;
                let msg = match record::record_type(rec) {
                    Some(record::SERIES) => {
                        let mut v = Vec::new();
                        record::decode_series(rec, &mut v).map(|_| Decoded::Series(v))
                    }
                    Some(record::SAMPLES) => {
                        let mut v = Vec::new();
                        record::decode_samples(rec, &mut v).map(|_| Decoded::Samples(v))
                    }
                    Some(record::TOMBSTONES) => {
                        let mut v = Vec::new();
                        record::decode_tombstones(rec, &mut v).map(|_| Decoded::Tombstones(v))
                    }
                    // Exemplars, metadata and native histograms have no
                    // home in promlite yet; skip them.
                    _ => continue,
                };
                let msg = match msg {
                    Ok(m) => m,
                    // Truncate before the record that does not decode, so
                    // the next start does not trip over it again.
                    Err(e) => Decoded::Corrupt(WalError::Corruption {
                        segment: reader.segment().unwrap_or(0),
                        offset: reader.record_start(),
                        reason: e.to_string(),
                    }),
                };
                if reader.segment() != seg {
                    if let Some(done) = seg {
                        if tx.send(Decoded::Segment(done)).is_err() {
                            break;
                        }
                    }
                    seg = reader.segment();
                }
                let stop = matches!(msg, Decoded::Corrupt(_));
                if tx.send(msg).is_err() || stop {
                    break;
                }
            }
            if let Some(done) = seg {
                let _ = tx.send(Decoded::Segment(done));
            }
            Ok(records)
        });
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let mut senders = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (btx, brx) = bounded::<Vec<(u32, i64, f64)>>(4);
            senders.push(btx);
            scope.spawn(move || {
                for mut batch in brx {
                    head.apply_samples(&mut batch);
                }
            });
        }
        let mut corruption = None;
        let mut parts: Vec<Vec<(u32, i64, f64)>> = vec![Vec::new(); workers];
        for msg in rx.iter() {
            match msg {
                Decoded::Series(series) => {
                    for s in series {
                        stats.series += 1;
                        let Ok(id) = u32::try_from(s.series_ref) else {
                            stats.unknown_refs += 1;
                            continue;
                        };
                        match head.create_with_id(id, &s.labels) {
                            Ok(got) if got != id => {
                                multi_ref.insert(s.series_ref, got);
                            }
                            Ok(_) => {}
                            Err(e) => log::warn!("WAL replay: series {id}: {e}"),
                        }
                    }
                }
                Decoded::Samples(samples) => {
                    for s in samples {
                        let id = match multi_ref.get(&s.series_ref) {
                            Some(&id) => id,
                            None => match u32::try_from(s.series_ref) {
                                Ok(id) => id,
                                Err(_) => {
                                    stats.unknown_refs += 1;
                                    continue;
                                }
                            },
                        };
                        stats.samples += 1;
                        parts[head.stripe_index(id) % workers].push((id, s.t, s.v));
                    }
                    for (part, tx) in parts.iter_mut().zip(&senders) {
                        if !part.is_empty() && tx.send(std::mem::take(part)).is_err() {
                            break;
                        }
                    }
                }
                Decoded::Tombstones(stones) => {
                    for s in stones {
                        let id = match multi_ref.get(&s.series_ref) {
                            Some(&id) => Some(id),
                            None => u32::try_from(s.series_ref).ok(),
                        };
                        if let Some(id) = id {
                            head.add_tombstone(id, (s.mint, s.maxt));
                        }
                    }
                }
                Decoded::Segment(i) => {
                    stats.segments += 1;
                    log::info!("WAL segment loaded: segment={i} maxSegment={last_segment}");
                }
                Decoded::Corrupt(e) => corruption = Some(e),
            }
        }
        // Closing the channels lets the appliers finish; the scope joins them.
        drop(senders);
        let records = decoder
            .join()
            .map_err(|_| WalError::Closed)
            .and_then(|r| r)?;
        stats.records += records;
        Ok(corruption)
    })
}

/// Truncates `segment` at `offset` and deletes every later segment.
fn repair(wal_dir: &Path, segment: u32, offset: u64) -> Result<(), WalError> {
    for (i, path) in list_segments(wal_dir)? {
        if i > segment {
            std::fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
        } else if i == segment {
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| WalError::io(&path, e))?;
            f.set_len(offset).map_err(|e| WalError::io(&path, e))?;
            f.sync_all().map_err(|e| WalError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Replays `wal_dir` into `head`, repairing a corrupt tail.
pub fn replay_wal(head: &Head, wal_dir: &Path) -> Result<ReplayStats, WalError> {
    replay(head, wal_dir, None)
}

/// Replays only the segments after `segment` into `head`, which holds
/// everything up to the end of `segment` already (from a head chunk
/// snapshot); checkpoints are older than that and skipped.
pub fn replay_wal_after(
    head: &Head,
    wal_dir: &Path,
    segment: u32,
) -> Result<ReplayStats, WalError> {
    replay(head, wal_dir, Some(segment))
}

fn replay(head: &Head, wal_dir: &Path, after: Option<u32>) -> Result<ReplayStats, WalError> {
    let start = Instant::now();
    let mut stats = ReplayStats::default();
    let mut multi_ref = HashMap::new();
    let mut first_segment = 0u32;
    let checkpoint = match after {
        Some(seg) => {
            first_segment = seg.saturating_add(1);
            None
        }
        None => last_checkpoint(wal_dir)?,
    };
    if let Some((idx, dir)) = checkpoint {
        stats.checkpoint = Some(idx);
        first_segment = idx.saturating_add(1);
        let segs = list_segments(&dir)?;
        if let Some(e) = replay_segments(head, segs, &mut multi_ref, &mut stats, idx)? {
            // A checkpoint is written to a temp dir and renamed, so this is
            // damage after the fact; keep what could be read.
            stats.corruptions += 1;
            log::warn!(
                "WAL checkpoint {} is corrupt, samples after the damage are lost: {e}",
                dir.display()
            );
        }
        log::info!("WAL checkpoint loaded: {}", dir.display());
    }
    let segs: Vec<_> = list_segments(wal_dir)?
        .into_iter()
        .filter(|(i, _)| *i >= first_segment)
        .collect();
    let last = segs.last().map(|(i, _)| *i).unwrap_or(0);
    // After a clean shutdown's snapshot there is usually nothing to replay:
    // skip starting the decoder and applier threads for it.
    let corruption = if segs.is_empty() {
        None
    } else {
        replay_segments(head, segs, &mut multi_ref, &mut stats, last)?
    };
    if let Some(e) = corruption {
        stats.corruptions += 1;
        if let WalError::Corruption {
            segment, offset, ..
        } = &e
        {
            log::warn!(
                "WAL corruption detected, truncating segment {segment:08} at offset {offset} and deleting later segments: {e}"
            );
            repair(wal_dir, *segment, *offset)?;
        }
    }
    stats.duration = start.elapsed();
    log::info!(
        "WAL replay completed: {} segments, {} series, {} samples in {:?}",
        stats.segments,
        stats.series,
        stats.samples,
        stats.duration
    );
    Ok(stats)
}
