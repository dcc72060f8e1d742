//! [`RemoteStorage`] (upstream's `remote.Storage`): the queues of every
//! `remote_write` entry and the readers of every `remote_read` entry, behind
//! one fanout secondary. Its appender stores nothing (the queues read the
//! WAL); it records the newest appended timestamp and wakes the queues after
//! a commit. `apply_config` (the reloader) keeps a queue whose entry and
//! external labels did not change, and restarts the others.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::metrics::highest_timestamp_in_seconds;
use super::queue_manager::{QueueManager, QueueNotifier, QueueOptions};
use super::read::{LocalStartTime, RemoteReadQueryable};
use super::settings::RemoteConfig;
use super::wal::WalReader;
use super::RemoteError;
use crate::model::Labels;
use crate::storage::fanout::FanoutSecondary;
use crate::storage::merge::MergeQuerier;
use crate::storage::{Appendable, Appender, Querier, Queryable, SeriesRef, StorageError};

/// Remote write queues and remote read endpoints.
pub struct RemoteStorage {
    wal: Arc<dyn WalReader>,
    options: QueueOptions,
    local_start_time: Option<Arc<LocalStartTime>>,
    state: Mutex<State>,
    /// Serialises `apply_config` calls.
    apply_lock: Mutex<()>,
    highest: Arc<HighestTimestamp>,
}

#[derive(Default)]
struct State {
    queues: Vec<Arc<QueueManager>>,
    readers: Vec<Arc<RemoteReadQueryable>>,
    closed: bool,
}

struct HighestTimestamp {
    ms: AtomicI64,
    gauge: crate::telemetry::Gauge,
}

impl RemoteStorage {
    /// Remote storage tailing `wal`. No queue runs until `apply_config`.
    pub fn new(wal: Arc<dyn WalReader>, options: QueueOptions) -> RemoteStorage {
        RemoteStorage {
            wal,
            options,
            local_start_time: None,
            state: Mutex::new(State::default()),
            apply_lock: Mutex::new(()),
            highest: Arc::new(HighestTimestamp {
                ms: AtomicI64::new(i64::MIN),
                gauge: highest_timestamp_in_seconds(),
            }),
        }
    }

    /// Sets the callback giving the earliest timestamp local storage holds
    /// completely, which `read_recent: false` readers skip.
    pub fn with_local_start_time(mut self, f: Arc<LocalStartTime>) -> RemoteStorage {
        self.local_start_time = Some(f);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reloader: applies the remote storage part of a whole parsed
    /// configuration (see [`RemoteStorage::apply_remote_config`]).
    pub fn apply_config(&self, cfg: &crate::config::Config) -> Result<(), RemoteError> {
        self.apply_remote_config(&RemoteConfig::from_config(cfg)?)
    }

    /// Applies `remote_write`, `remote_read` and external labels. Checks
    /// everything before changing anything: on error the old setup runs on.
    pub fn apply_remote_config(&self, conf: &RemoteConfig) -> Result<(), RemoteError> {
        validate(conf)?;
        let readers = conf
            .remote_read
            .iter()
            .map(|r| {
                RemoteReadQueryable::new(
                    r.clone(),
                    &conf.external_labels,
                    self.local_start_time.clone(),
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for w in &conf.remote_write {
            super::client::HttpClient::new(&w.url, w.http.clone())?;
        }

        // One reload at a time; the state lock itself is only held briefly
        // so appenders never wait for a replaced queue to flush.
        let _applying = self.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old_queues = {
            let mut state = self.lock();
            if state.closed {
                return Err(RemoteError::Config(
                    "remote storage is closed; the configuration was not applied".into(),
                ));
            }
            state.readers = readers;
            std::mem::take(&mut state.queues)
        };
        let mut old: Vec<Option<Arc<QueueManager>>> = old_queues.into_iter().map(Some).collect();
        let mut kept: Vec<Option<Arc<QueueManager>>> = Vec::with_capacity(conf.remote_write.len());
        for w in &conf.remote_write {
            let same = old.iter_mut().find(|q| {
                q.as_ref().is_some_and(|q| {
                    q.settings() == w && *q.external_labels() == conf.external_labels
                })
            });
            kept.push(same.and_then(|q| q.take()));
        }
        // Stop replaced queues before their successors start: a successor
        // for the same URL resumes from the progress its predecessor saves.
        for q in old.into_iter().flatten() {
            stop_queue(q);
        }
        let mut queues = Vec::with_capacity(kept.len());
        let mut first_err = None;
        for (w, k) in conf.remote_write.iter().zip(kept) {
            match k {
                Some(q) => queues.push(q),
                None => match QueueManager::start(
                    w.clone(),
                    conf.external_labels.clone(),
                    self.wal.clone(),
                    self.options.clone(),
                ) {
                    Ok(q) => queues.push(Arc::new(q)),
                    Err(e) => {
                        log::error!("remote write {}: not started: {e}", w.remote_name());
                        first_err.get_or_insert(e);
                    }
                },
            }
        }
        self.lock().queues = queues;
        first_err.map_or(Ok(()), Err)
    }

    /// Wakes every queue: the WAL has new records.
    pub fn notify(&self) {
        for q in &self.lock().queues {
            q.notify();
        }
    }

    /// The lowest WAL position every queue has delivered up to; `None`
    /// when no queue runs. WAL truncation must not remove segments from
    /// this one on (agent mode passes it to `AgentStorage::truncate`).
    pub fn lowest_delivered(&self) -> Option<super::wal::WalPosition> {
        self.lock().queues.iter().map(|q| q.delivered()).min()
    }

    /// The lowest of the queues' newest sent sample timestamps (ms), as
    /// upstream's `LowestSentTimestamp`: 0 when no queue runs or one has
    /// sent nothing yet. Agent mode collects series older than this.
    pub fn lowest_sent_timestamp(&self) -> i64 {
        let state = self.lock();
        if state.queues.is_empty() {
            return 0;
        }
        state
            .queues
            .iter()
            .map(|q| q.highest_sent_timestamp().unwrap_or(0))
            .min()
            .unwrap_or(0)
    }

    /// The running queues (for the status page and tests).
    pub fn queues(&self) -> Vec<Arc<QueueManager>> {
        self.lock().queues.clone()
    }

    /// Stops every queue (each flushes for up to the flush deadline) and
    /// refuses later configuration. Call after scraping and rules stopped.
    pub fn close(&self) {
        let _applying = self.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        let queues = {
            let mut state = self.lock();
            state.closed = true;
            state.readers.clear();
            std::mem::take(&mut state.queues)
        };
        // Queues flush in parallel so the deadline bounds the whole close.
        let handles: Vec<_> = queues
            .into_iter()
            .map(|q| std::thread::spawn(move || stop_queue(q)))
            .collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

fn stop_queue(q: Arc<QueueManager>) {
    // When someone else still holds the queue (a status page), it stops
    // on the last drop instead.
    if let Ok(q) = Arc::try_unwrap(q) {
        q.stop();
    }
}

/// Upstream's checks: remote_write names unique; no two identical entries.
fn validate(conf: &RemoteConfig) -> Result<(), RemoteError> {
    let mut names = std::collections::HashSet::new();
    let mut hashes = std::collections::HashSet::new();
    for w in &conf.remote_write {
        if !w.name.is_empty() && !names.insert(w.name.clone()) {
            return Err(RemoteError::Config(format!(
                "duplicate remote write configs are not allowed, found duplicate for name: {}",
                w.name
            )));
        }
        if w.name.is_empty() && !hashes.insert(w.remote_name()) {
            return Err(RemoteError::Config(format!(
                "duplicate remote write configs are not allowed, found duplicate for URL: {}",
                w.url
            )));
        }
    }
    let mut names = std::collections::HashSet::new();
    for r in &conf.remote_read {
        if !r.name.is_empty() && !names.insert(r.name.clone()) {
            return Err(RemoteError::Config(format!(
                "duplicate remote read configs are not allowed, found duplicate for name: {}",
                r.name
            )));
        }
    }
    Ok(())
}

impl Appendable for RemoteStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(TimestampTracker {
            highest: self.highest.clone(),
            notifiers: self.lock().queues.iter().map(|q| q.notifier()).collect(),
            max_t: i64::MIN,
        })
    }
}

/// The remote appender: samples reach remote storage through the WAL, so
/// appends only track the newest timestamp (upstream's `timestampTracker`).
struct TimestampTracker {
    highest: Arc<HighestTimestamp>,
    notifiers: Vec<QueueNotifier>,
    max_t: i64,
}

impl Appender for TimestampTracker {
    fn append(
        &mut self,
        _series_ref: SeriesRef,
        _labels: &Labels,
        t: i64,
        _v: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.max_t = self.max_t.max(t);
        Ok(0)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        if self.max_t != i64::MIN {
            let prev = self.highest.ms.fetch_max(self.max_t, Ordering::Relaxed);
            self.highest.gauge.set(prev.max(self.max_t) as f64 / 1000.0);
            // The fanout commits the primary (the WAL) first.
            for n in &self.notifiers {
                n.notify();
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

impl FanoutSecondary for RemoteStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Option<Result<Box<dyn Querier>, StorageError>> {
        let readers = self.lock().readers.clone();
        if readers.is_empty() {
            return None;
        }
        let mut queriers = Vec::with_capacity(readers.len());
        for r in readers {
            match r.querier(mint, maxt) {
                Ok(q) => queriers.push(q),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(Box::new(MergeQuerier::new(queriers))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::remote::settings::RemoteWriteSettings;
    use crate::storage::remote::wal::MemWal;

    #[test]
    fn appender_tracks_the_highest_timestamp_and_stores_nothing() {
        let rs = RemoteStorage::new(Arc::new(MemWal::new()), QueueOptions::default());
        let mut app = rs.appender();
        let l = Labels::from_pairs(&[("__name__", "x")]);
        // Far in the future so no other test's commit can be higher.
        let t = 4_000_000_000_000_000;
        app.append(0, &l, t, 1.0).unwrap();
        app.append(0, &l, 5, 1.0).unwrap();
        app.commit().unwrap();
        assert!(highest_timestamp_in_seconds().get() >= t as f64 / 1000.0);
        assert!(FanoutSecondary::querier(&rs, 0, 10).is_none(), "no readers");
    }

    #[test]
    fn closed_storage_refuses_configuration() {
        let rs = RemoteStorage::new(Arc::new(MemWal::new()), QueueOptions::default());
        rs.close();
        let conf = RemoteConfig {
            remote_write: vec![RemoteWriteSettings::new("http://127.0.0.1:9/w")],
            ..RemoteConfig::default()
        };
        assert!(rs.apply_remote_config(&conf).is_err());
        assert!(rs.queues().is_empty());
    }
}
