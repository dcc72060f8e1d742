//! Tailing the WAL for one remote-write queue (upstream's `wlog.Watcher`):
//! series records build a map from the WAL's series ref to the labels to
//! send (external labels added, `write_relabel_configs` applied), sample
//! records become samples to send. The tail follows segment rotation, picks
//! up new checkpoints (dropping series the head garbage-collected) and jumps
//! over segments that were truncated away before it read them.
//!
//! Where it starts is promlite's addition to upstream. With no saved
//! progress it sends only samples written after start (upstream's
//! behaviour). With saved progress it first reads the checkpoint and earlier
//! segments for series only, then sends every sample after the saved
//! position, within two documented bounds ([`ReplayLimits`]): samples older
//! than `max_age` are not sent, and when more than `max_bytes` of WAL lie
//! between the saved position and the end, whole segments at the front are
//! given up. Every give-up is logged at warn level with what was lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::codec::EncodedLabels;
use super::progress::SavedProgress;
use super::settings::WriteRelabel;
use super::wal::{RefSeries, WalPosition, WalReader, WalRecord};
use super::RemoteError;
use crate::model::{Label, Labels};
use crate::telemetry::Counter;

/// Bounds on what a queue replays after a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayLimits {
    /// Samples of the backlog found at start (the WAL up to its end then)
    /// older than this, by sample timestamp against the wall clock, are not
    /// sent; samples written later are not affected. Zero disables the bound. Default 6 h: more than the WAL
    /// normally holds (the head truncates it every 2 h, keeping about 3 h).
    pub max_age: Duration,
    /// Most WAL bytes replayed after a restart. Default 1 GiB.
    pub max_bytes: u64,
}

impl Default for ReplayLimits {
    fn default() -> ReplayLimits {
        ReplayLimits {
            max_age: Duration::from_secs(6 * 3600),
            max_bytes: 1 << 30,
        }
    }
}

/// A sample read from the WAL, with the labels to send (encoded once per
/// series, see [`EncodedLabels`]).
#[derive(Clone, Debug)]
pub struct TailSample {
    pub series_ref: u64,
    pub labels: Arc<EncodedLabels>,
    pub t: i64,
    pub v: f64,
}

/// What one WAL record contributes: its end position and its samples to
/// send (none for series records and fully filtered sample records).
#[derive(Clone, Debug)]
pub struct TailRecord {
    pub end: WalPosition,
    pub samples: Vec<TailSample>,
}

struct SeriesEntry {
    /// `None` when relabeling dropped the series.
    labels: Option<Arc<EncodedLabels>>,
    /// The segment (or checkpoint index) the series record was read from.
    seen: u64,
}

/// The tail state of one queue.
pub struct WalTail {
    wal: Arc<dyn WalReader>,
    name: String,
    pos: WalPosition,
    /// Samples of records ending at or before this position are not sent.
    resume: WalPosition,
    series: HashMap<u64, SeriesEntry>,
    checkpoint_seen: Option<u64>,
    external_labels: Labels,
    relabel: WriteRelabel,
    /// The queue's `sample_age_limit`, applied to every sample.
    sample_age_limit: Duration,
    /// The replay age bound, applied to records up to `replay_end`.
    replay_max_age: Duration,
    /// The end of the WAL when the tail was opened: what is "backlog".
    replay_end: WalPosition,
    dropped: Counter,
    too_old: u64,
}

impl WalTail {
    /// Positions the tail from `saved` progress (see the module docs).
    /// `sample_age_limit` is the queue's own age limit (zero = none).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        wal: Arc<dyn WalReader>,
        name: &str,
        saved: Option<SavedProgress>,
        limits: ReplayLimits,
        sample_age_limit: Duration,
        external_labels: Labels,
        relabel: WriteRelabel,
        dropped: Counter,
    ) -> Result<WalTail, RemoteError> {
        let mut tail = WalTail {
            wal,
            name: name.to_string(),
            pos: WalPosition::default(),
            resume: WalPosition::default(),
            series: HashMap::new(),
            checkpoint_seen: None,
            external_labels,
            relabel,
            sample_age_limit,
            replay_max_age: limits.max_age,
            replay_end: WalPosition::default(),
            dropped,
            too_old: 0,
        };
        let cp = tail.wal.last_checkpoint()?;
        if let Some(cp) = cp {
            tail.load_checkpoint(cp)?;
        }
        let after_cp = cp.map_or(0, |c| c + 1);
        let Some((first, last)) = tail.wal.segment_range()? else {
            tail.pos = WalPosition::new(after_cp, 0);
            tail.resume = tail.pos;
            return Ok(tail);
        };
        let mut scan_start = first.max(after_cp);
        let end = WalPosition::new(last, tail.wal.segment_size(last)?);
        let mut resume = match saved {
            None => {
                log::info!(
                    "remote write {name}: no saved progress, sending samples written from now on"
                );
                end
            }
            Some(p) if p.position > end => {
                log::warn!(
                    "remote write {name}: saved progress (segment {}, offset {}) is past the end of the WAL; the WAL was replaced, sending samples written from now on",
                    p.position.segment,
                    p.position.offset
                );
                end
            }
            Some(p) if p.position.segment < scan_start => {
                if p.position.segment >= first {
                    scan_start = p.position.segment;
                    p.position
                } else {
                    log::warn!(
                        "remote write {name}: gave up the unsent samples of WAL segments {}..{}: they were removed by WAL truncation before they could be sent",
                        p.position.segment,
                        scan_start.saturating_sub(1)
                    );
                    WalPosition::new(scan_start, 0)
                }
            }
            Some(p) => p.position,
        };
        // Bound the replay by size: give up whole segments at the front.
        let mut behind = tail.bytes_between(resume, end)?;
        let mut gave_up: Option<(u64, u64)> = None;
        while behind > limits.max_bytes && resume.segment < last {
            let size = tail.wal.segment_size(resume.segment).unwrap_or(0);
            behind = behind.saturating_sub(size.saturating_sub(resume.offset));
            gave_up = Some((gave_up.map_or(resume.segment, |g| g.0), resume.segment));
            resume = WalPosition::new(resume.segment + 1, 0);
        }
        if let Some((from, to)) = gave_up {
            log::warn!(
                "remote write {name}: the unsent backlog exceeds the replay limit of {} bytes; gave up the samples of WAL segments {from}..{to}",
                limits.max_bytes
            );
        }
        if resume < end {
            log::info!(
                "remote write {name}: resuming from WAL segment {}, offset {} ({behind} bytes to replay)",
                resume.segment,
                resume.offset
            );
        }
        tail.pos = WalPosition::new(scan_start, 0);
        tail.resume = resume;
        tail.replay_end = end;
        Ok(tail)
    }

    /// The position samples are sent from; progress starts here.
    pub fn resume_position(&self) -> WalPosition {
        self.resume
    }

    /// The next read position.
    pub fn position(&self) -> WalPosition {
        self.pos
    }

    /// Number of series known.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Samples not sent because of the age bound since the last call.
    pub fn take_too_old(&mut self) -> u64 {
        std::mem::take(&mut self.too_old)
    }

    /// Reads up to about `max_bytes` of new records. `Ok(None)` when there
    /// is nothing new; records before the resume position are consumed for
    /// their series and not returned.
    pub fn next(&mut self, max_bytes: usize) -> Result<Option<Vec<TailRecord>>, RemoteError> {
        let Some((first, last)) = self.wal.segment_range()? else {
            return Ok(None);
        };
        if self.pos.segment < first {
            self.skip_removed(first)?;
        }
        let read = match self
            .wal
            .read_segment(self.pos.segment, self.pos.offset, max_bytes)
        {
            Ok(r) => r,
            Err(RemoteError::WalSegmentMissing(_)) => {
                let first = self
                    .wal
                    .segment_range()?
                    .map_or(self.pos.segment + 1, |r| r.0);
                self.skip_removed(first.max(self.pos.segment + 1))?;
                return Ok(Some(Vec::new()));
            }
            // A damaged segment that is no longer written to would stop the
            // queue for good: give up its rest and go on with the next one.
            Err(RemoteError::Wal(msg)) if last > self.pos.segment => {
                log::warn!(
                    "remote write {}: gave up the rest of WAL segment {} after offset {}: {msg}",
                    self.name,
                    self.pos.segment,
                    self.pos.offset
                );
                self.pos = WalPosition::new(self.pos.segment + 1, 0);
                self.check_checkpoint()?;
                return Ok(Some(Vec::new()));
            }
            Err(e) => return Err(e),
        };
        if read.records.is_empty() {
            // `last` was taken before the read: if a newer segment existed
            // then, this one was complete and has been read to its end.
            if last > self.pos.segment {
                self.pos = WalPosition::new(self.pos.segment + 1, 0);
                self.check_checkpoint()?;
                let mut out = Vec::new();
                if self.pos > self.resume {
                    out.push(TailRecord {
                        end: self.pos,
                        samples: Vec::new(),
                    });
                }
                return Ok(Some(out));
            }
            return Ok(None);
        }
        let now = crate::model::value::now_millis();
        let min_t_for = |age: Duration| {
            if age.is_zero() {
                i64::MIN
            } else {
                now.saturating_sub(age.as_millis() as i64)
            }
        };
        let live_min_t = min_t_for(self.sample_age_limit);
        let replay_min_t = live_min_t.max(min_t_for(self.replay_max_age));
        let mut out = Vec::with_capacity(read.records.len());
        for (record, end_offset) in read.records {
            let end = WalPosition::new(self.pos.segment, end_offset);
            let sending = end > self.resume;
            let min_t = if end <= self.replay_end {
                replay_min_t
            } else {
                live_min_t
            };
            let mut samples = Vec::new();
            match record {
                WalRecord::Series(series) => {
                    for s in series {
                        self.add_series(s, self.pos.segment);
                    }
                }
                WalRecord::Samples(batch) if sending => {
                    samples.reserve(batch.len());
                    let mut dropped = 0u64;
                    for s in batch {
                        match self.series.get(&s.series_ref) {
                            Some(SeriesEntry {
                                labels: Some(l), ..
                            }) => {
                                if s.t < min_t {
                                    self.too_old += 1;
                                    dropped += 1;
                                    continue;
                                }
                                samples.push(TailSample {
                                    series_ref: s.series_ref,
                                    labels: l.clone(),
                                    t: s.t,
                                    v: s.v,
                                });
                            }
                            // Dropped by relabeling, or a ref with no series
                            // record (upstream counts both as dropped).
                            _ => dropped += 1,
                        }
                    }
                    if dropped > 0 {
                        self.dropped.add(dropped as f64);
                    }
                }
                WalRecord::Samples(_) | WalRecord::Other => {}
            }
            self.pos = end;
            if sending {
                out.push(TailRecord { end, samples });
            }
        }
        Ok(Some(out))
    }

    fn add_series(&mut self, s: RefSeries, seen: u64) {
        let labels = self
            .relabel
            .process(with_external_labels(s.labels, &self.external_labels))
            .filter(|l| !l.is_empty())
            .map(|l| Arc::new(EncodedLabels::new(&l)));
        self.series
            .insert(s.series_ref, SeriesEntry { labels, seen });
    }

    fn load_checkpoint(&mut self, cp: u64) -> Result<(), RemoteError> {
        for record in self.wal.read_checkpoint(cp)? {
            if let WalRecord::Series(series) = record {
                for s in series {
                    self.add_series(s, cp);
                }
            }
        }
        self.checkpoint_seen = Some(cp);
        Ok(())
    }

    /// Picks up a checkpoint newer than the last one seen, once the tail
    /// has read past every segment it covers: series the head dropped
    /// (absent from the checkpoint) are forgotten, as upstream's
    /// `SeriesReset`.
    fn check_checkpoint(&mut self) -> Result<(), RemoteError> {
        let Some(cp) = self.wal.last_checkpoint()? else {
            return Ok(());
        };
        if self.checkpoint_seen.is_some_and(|seen| seen >= cp) || cp >= self.pos.segment {
            return Ok(());
        }
        self.series.retain(|_, e| e.seen > cp);
        self.load_checkpoint(cp)
    }

    /// The segment at the read position was removed before it was read.
    fn skip_removed(&mut self, first: u64) -> Result<(), RemoteError> {
        let from = self.pos.segment;
        let cp = self.wal.last_checkpoint()?;
        let to = first.max(cp.map_or(0, |c| c + 1));
        if self.pos > self.resume || self.resume.segment <= from {
            log::warn!(
                "remote write {}: gave up the unsent samples of WAL segments {from}..{}: they were removed by WAL truncation before they could be sent",
                self.name,
                to.saturating_sub(1)
            );
        }
        if let Some(cp) = cp {
            if self.checkpoint_seen != Some(cp) {
                self.series.retain(|_, e| e.seen > cp);
                self.load_checkpoint(cp)?;
            }
        }
        self.pos = WalPosition::new(to, 0);
        Ok(())
    }

    /// WAL bytes from `from` to `to` (segments in between counted whole).
    fn bytes_between(&self, from: WalPosition, to: WalPosition) -> Result<u64, RemoteError> {
        if from >= to {
            return Ok(0);
        }
        let mut total = 0u64;
        for seg in from.segment..=to.segment {
            let size = if seg == to.segment {
                to.offset
            } else {
                match self.wal.segment_size(seg) {
                    Ok(s) => s,
                    Err(RemoteError::WalSegmentMissing(_)) => 0,
                    Err(e) => return Err(e),
                }
            };
            let start = if seg == from.segment { from.offset } else { 0 };
            total += size.saturating_sub(start);
        }
        Ok(total)
    }
}

/// Adds external labels the series does not have (the series' own value
/// wins, as upstream).
pub fn with_external_labels(labels: Labels, external: &Labels) -> Labels {
    if external.is_empty() {
        return labels;
    }
    let mut all: Vec<Label> = external
        .iter()
        .filter(|e| !labels.has(&e.name))
        .cloned()
        .collect();
    if all.is_empty() {
        return labels;
    }
    all.extend(labels.into_vec());
    Labels::new(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::remote::wal::{MemWal, RefSample};

    /// Keeps the warnings logged in this test process, so the give-up lines
    /// a user greps for are checked. The library's unit tests install no
    /// other logger; if one were installed first, `warned` says so.
    struct Capture;
    static CAPTURE: Capture = Capture;
    static LINES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                let mut lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
                lines.push(r.args().to_string());
            }
        }
        fn flush(&self) {}
    }

    fn capture_warnings() {
        if log::set_logger(&CAPTURE).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    }

    /// Whether a warning containing every part was logged.
    fn warned(parts: &[&str]) -> bool {
        let lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().any(|l| parts.iter().all(|p| l.contains(p)))
    }

    fn series(r: u64, name: &str) -> RefSeries {
        RefSeries {
            series_ref: r,
            labels: Labels::from_pairs(&[("__name__", name)]),
        }
    }

    fn sample(r: u64, t: i64) -> RefSample {
        RefSample {
            series_ref: r,
            t,
            v: 1.0,
        }
    }

    fn open(wal: &MemWal, saved: Option<WalPosition>) -> WalTail {
        WalTail::open(
            Arc::new(wal.clone()),
            "test",
            saved.map(|position| SavedProgress {
                position,
                saved_at_ms: 0,
            }),
            ReplayLimits {
                max_age: Duration::ZERO,
                max_bytes: u64::MAX,
            },
            Duration::ZERO,
            Labels::from_pairs(&[("replica", "x")]),
            WriteRelabel::default(),
            Counter::default(),
        )
        .unwrap()
    }

    fn drain(tail: &mut WalTail) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for _ in 0..100 {
            match tail.next(1 << 20).unwrap() {
                None => break,
                Some(records) => {
                    for r in records {
                        for s in r.samples {
                            let l = s.labels.decode().unwrap();
                            out.push((l.get_or_empty("__name__").to_string(), s.t));
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn fresh_start_sends_only_new_samples_with_external_labels() {
        let wal = MemWal::new();
        wal.log_series(&[series(1, "a")]);
        wal.log_samples(&[sample(1, 1)]);
        let mut tail = open(&wal, None);
        assert!(drain(&mut tail).is_empty());
        wal.log_samples(&[sample(1, 2)]);
        wal.cut_segment();
        wal.log_series(&[series(2, "b")]);
        wal.log_samples(&[sample(2, 3), sample(9, 3)]);
        assert_eq!(drain(&mut tail), vec![("a".into(), 2), ("b".into(), 3)]);
        let mut tail2 = open(&wal, None);
        wal.log_samples(&[sample(1, 4)]);
        let got: Vec<_> = {
            let mut v = Vec::new();
            while let Some(r) = tail2.next(1 << 20).unwrap() {
                v.extend(r.into_iter().flat_map(|r| r.samples));
            }
            v
        };
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.decode().unwrap().get("replica"), Some("x"));
    }

    #[test]
    fn saved_progress_replays_from_there_through_a_checkpoint() {
        let wal = MemWal::new();
        wal.log_series(&[series(1, "a")]);
        wal.log_samples(&[sample(1, 1)]);
        let after_first = wal.segment_size(0).unwrap();
        wal.log_samples(&[sample(1, 2)]);
        wal.cut_segment();
        wal.log_samples(&[sample(1, 3)]);
        let mut tail = open(&wal, Some(WalPosition::new(0, after_first)));
        assert_eq!(drain(&mut tail), vec![("a".into(), 2), ("a".into(), 3)]);

        // Segment 0 truncated into a checkpoint: its series survive, the
        // saved position inside it is gone and is reported as given up.
        wal.checkpoint(0, |_| true);
        let mut tail = open(&wal, Some(WalPosition::new(0, after_first)));
        assert_eq!(drain(&mut tail), vec![("a".into(), 3)]);
    }

    #[test]
    fn tail_jumps_over_segments_removed_under_it() {
        capture_warnings();
        let wal = MemWal::new();
        wal.log_series(&[series(1, "a")]);
        let mut tail = open(&wal, Some(WalPosition::new(0, 0)));
        wal.log_samples(&[sample(1, 1)]);
        wal.cut_segment();
        wal.log_samples(&[sample(1, 2)]);
        wal.cut_segment();
        wal.log_samples(&[sample(1, 3)]);
        wal.checkpoint(1, |_| true);
        assert_eq!(drain(&mut tail), vec![("a".into(), 3)]);
        assert!(warned(&[
            "remote write test: gave up the unsent samples of WAL segments 0..1",
            "removed by WAL truncation",
        ]));
    }

    #[test]
    fn checkpoint_forgets_series_the_head_dropped() {
        let wal = MemWal::new();
        wal.log_series(&[series(1, "a"), series(2, "b")]);
        let mut tail = open(&wal, None);
        drain(&mut tail);
        assert_eq!(tail.num_series(), 2);
        wal.cut_segment();
        wal.cut_segment();
        drain(&mut tail);
        wal.checkpoint(0, |s| s.series_ref == 2);
        wal.cut_segment();
        drain(&mut tail);
        assert_eq!(tail.num_series(), 1);
    }

    #[test]
    fn size_and_age_bounds_give_up_data() {
        capture_warnings();
        let wal = MemWal::new();
        wal.log_series(&[series(1, "a")]);
        wal.log_samples(&[sample(1, 1)]);
        wal.cut_segment();
        let now = crate::model::value::now_millis();
        wal.log_samples(&[sample(1, now - 10_000), sample(1, now)]);
        let tail = |limits| {
            WalTail::open(
                Arc::new(wal.clone()),
                "giveup",
                Some(SavedProgress {
                    position: WalPosition::new(0, 0),
                    saved_at_ms: 0,
                }),
                limits,
                Duration::ZERO,
                Labels::empty(),
                WriteRelabel::default(),
                Counter::default(),
            )
            .unwrap()
        };
        let mut by_size = tail(ReplayLimits {
            max_age: Duration::ZERO,
            max_bytes: 40,
        });
        assert_eq!(by_size.resume_position(), WalPosition::new(1, 0));
        assert!(warned(&[
            "remote write giveup: the unsent backlog exceeds the replay limit of 40 bytes",
            "gave up the samples of WAL segments 0..0",
        ]));
        assert_eq!(drain(&mut by_size).len(), 2);
        let mut by_age = tail(ReplayLimits {
            max_age: Duration::from_secs(5),
            max_bytes: u64::MAX,
        });
        assert_eq!(drain(&mut by_age), vec![("a".into(), now)]);
        assert_eq!(by_age.take_too_old(), 2);
    }

    #[test]
    fn relabel_drop_and_external_label_precedence() {
        let wal = MemWal::new();
        let mut tail = WalTail::open(
            Arc::new(wal.clone()),
            "t",
            None,
            ReplayLimits::default(),
            Duration::ZERO,
            Labels::from_pairs(&[("replica", "x")]),
            WriteRelabel {
                rules_id: "drop b".into(),
                apply: Some(Arc::new(|l: &Labels| {
                    (l.get("__name__") != Some("b")).then(|| l.clone())
                })),
            },
            Counter::default(),
        )
        .unwrap();
        wal.log_series(&[
            series(1, "a"),
            series(2, "b"),
            RefSeries {
                series_ref: 3,
                labels: Labels::from_pairs(&[("__name__", "c"), ("replica", "own")]),
            },
        ]);
        wal.log_samples(&[sample(1, 1), sample(2, 1), sample(3, 1)]);
        let records = tail.next(1 << 20).unwrap().unwrap();
        let samples: Vec<_> = records.into_iter().flat_map(|r| r.samples).collect();
        assert_eq!(samples.len(), 2);
        assert_eq!(
            samples[1].labels.decode().unwrap().get("replica"),
            Some("own")
        );
    }
}
