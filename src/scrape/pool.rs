//! A `ScrapePool`: the targets of one job (upstream's `scrapePool`). `sync`
//! turns the job's target groups into targets, keeps the loops of targets
//! that stay (same label hash) so their in-flight scrapes and caches survive,
//! starts loops for new targets, ends the loops of vanished ones and keeps
//! relabel-dropped targets for the API.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::config::PoolConfig;
use super::metrics::ScrapeMetrics;
use super::scrape_loop::ScrapeLoop;
use super::scraper::Scraper;
use super::target::{targets_from_group, Populated, Target};
use super::ScrapeError;
use crate::discovery::TargetGroup;
use crate::model::Labels;
use crate::storage::Appendable;

/// What a sync changed, for the manager to schedule and end.
#[derive(Default)]
pub struct SyncResult {
    pub started: Vec<Arc<ScrapeLoop>>,
    pub stopped: Vec<Arc<ScrapeLoop>>,
}

#[derive(Default)]
struct PoolState {
    active: BTreeMap<u64, Arc<ScrapeLoop>>,
    dropped: Vec<Labels>,
    dropped_total: usize,
}

/// The targets and loops of one job.
pub struct ScrapePool {
    pub cfg: Arc<PoolConfig>,
    scraper: Arc<Scraper>,
    storage: Arc<dyn Appendable>,
    metrics: Arc<ScrapeMetrics>,
    state: Mutex<PoolState>,
}

impl ScrapePool {
    pub fn new(
        cfg: PoolConfig,
        storage: Arc<dyn Appendable>,
        metrics: Arc<ScrapeMetrics>,
    ) -> ScrapePool {
        ScrapePool {
            scraper: Arc::new(Scraper::new(&cfg)),
            cfg: Arc::new(cfg),
            storage,
            metrics,
            state: Mutex::new(PoolState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the job's full current set of target groups.
    pub fn sync(&self, groups: &[TargetGroup]) -> SyncResult {
        self.sync_inheriting(groups, Vec::new())
    }

    /// `sync` for a pool that replaces another on reload: a new target takes
    /// over the series cache of the `inherit` loop for the same target
    /// (same labels apart from interval and timeout). Inherited loops whose
    /// target is gone are returned as stopped.
    pub fn sync_inheriting(
        &self,
        groups: &[TargetGroup],
        inherit: Vec<Arc<ScrapeLoop>>,
    ) -> SyncResult {
        let started_at = std::time::Instant::now();
        let mut inherit: HashMap<u64, Arc<ScrapeLoop>> = inherit
            .into_iter()
            .map(|l| (l.target.identity(), l))
            .collect();
        let job = &self.cfg.job_name;
        let mut targets: BTreeMap<u64, Target> = BTreeMap::new();
        let mut dropped = Vec::new();
        let mut dropped_total = 0;
        for g in groups {
            for r in targets_from_group(g, &self.cfg) {
                match r {
                    Ok(Populated::Active(t)) => {
                        // Two discovered targets with the same final labels
                        // are one target.
                        targets.entry(t.hash()).or_insert(t);
                    }
                    Ok(Populated::Dropped(labels)) => {
                        dropped_total += 1;
                        let keep = self.cfg.keep_dropped_targets;
                        if keep == 0 || dropped.len() < keep {
                            dropped.push(labels);
                        }
                    }
                    Err(e) => {
                        self.metrics.sync_failed.with(&[job]).inc();
                        log::error!("scrape pool {job:?}: creating target failed: {e}");
                    }
                }
            }
        }
        let mut st = self.lock();
        let mut result = SyncResult::default();
        let mut active = BTreeMap::new();
        for (hash, t) in targets {
            let l = match st.active.remove(&hash) {
                Some(existing) => existing,
                None => {
                    let l = Arc::new(ScrapeLoop::new(
                        Arc::new(t),
                        self.cfg.clone(),
                        self.scraper.clone(),
                        self.storage.clone(),
                        self.metrics.clone(),
                    ));
                    if let Some(old) = inherit.remove(&l.target.identity()) {
                        l.take_state_from(&old);
                    }
                    result.started.push(l.clone());
                    l
                }
            };
            active.insert(hash, l);
        }
        result.stopped = std::mem::take(&mut st.active).into_values().collect();
        result.stopped.extend(inherit.into_values());
        st.active = active;
        st.dropped = dropped;
        st.dropped_total = dropped_total;

        let limit = self.cfg.target_limit;
        let forced = (limit > 0 && st.active.len() > limit).then(|| {
            self.metrics.exceeded_target_limit.inc();
            ScrapeError::TargetLimit {
                targets: st.active.len(),
                limit,
            }
        });
        for l in st.active.values() {
            l.set_forced_error(forced.clone());
        }
        self.metrics
            .pool_targets
            .with(&[job])
            .set(st.active.len() as f64);
        self.metrics.syncs.with(&[job]).inc();
        self.metrics
            .sync_length
            .with(&[job])
            .observe(started_at.elapsed().as_secs_f64());
        result
    }

    /// Every loop, for the manager to stop when the pool goes away.
    pub fn take_loops(&self) -> Vec<Arc<ScrapeLoop>> {
        let mut st = self.lock();
        self.metrics.pool_targets.remove(&[&self.cfg.job_name]);
        std::mem::take(&mut st.active).into_values().collect()
    }

    /// The active targets' loops, in target-hash order.
    pub fn active(&self) -> Vec<Arc<ScrapeLoop>> {
        self.lock().active.values().cloned().collect()
    }

    /// Discovered labels of targets relabeling dropped (at most
    /// `keep_dropped_targets` when set), and how many were dropped in all.
    pub fn dropped(&self) -> (Vec<Labels>, usize) {
        let st = self.lock();
        (st.dropped.clone(), st.dropped_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::relabel::RelabelConfig;
    use crate::storage::memory::MemStorage;
    use crate::telemetry::Registry;

    fn groups(addrs: &[&str]) -> Vec<TargetGroup> {
        vec![TargetGroup {
            source: "0".into(),
            targets: addrs
                .iter()
                .map(|a| Labels::from_pairs(&[("__address__", a)]))
                .collect(),
            labels: Labels::empty(),
        }]
    }

    fn pool(cfg: PoolConfig) -> (ScrapePool, Arc<ScrapeMetrics>) {
        let metrics = Arc::new(ScrapeMetrics::new(&Registry::new()));
        let p = ScrapePool::new(cfg, Arc::new(MemStorage::new()), metrics.clone());
        (p, metrics)
    }

    #[test]
    fn target_limit_fails_every_scrape_of_the_pool() {
        let mut cfg = PoolConfig::new("j");
        cfg.target_limit = 2;
        let (p, metrics) = pool(cfg);
        let r = p.sync(&groups(&["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]));
        assert_eq!(r.started.len(), 3);
        assert_eq!(metrics.exceeded_target_limit.get(), 1.0);
        let l = &r.started[0];
        l.run_once();
        let st = l.target.status();
        assert_eq!(
            st.last_error,
            "target_limit exceeded (number of targets: 3, limit: 2)"
        );
        // Back under the limit: the forced error goes away.
        let r = p.sync(&groups(&["127.0.0.1:1"]));
        assert_eq!(r.stopped.len(), 2);
        p.active()[0].run_once();
        assert!(!p.active()[0]
            .target
            .status()
            .last_error
            .contains("target_limit"));
    }

    #[test]
    fn dropped_targets_are_kept_up_to_the_limit() {
        let drop_all: RelabelConfig =
            serde_yaml::from_str("{source_labels: [__address__], regex: 'drop-.*', action: drop}")
                .unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = PoolConfig::new("j");
        cfg.relabel_configs = vec![drop_all];
        cfg.keep_dropped_targets = 2;
        let (p, _) = pool(cfg);
        let r = p.sync(&groups(&["keep:1", "drop-a:1", "drop-b:1", "drop-c:1"]));
        assert_eq!(r.started.len(), 1);
        let (dropped, total) = p.dropped();
        assert_eq!(total, 3);
        assert_eq!(dropped.len(), 2);
        assert_eq!(dropped[0].get("job"), Some("j"));
    }

    #[test]
    fn duplicate_targets_are_one() {
        let (p, _) = pool(PoolConfig::new("j"));
        let mut g = groups(&["a:1", "a:1"]);
        g.extend(groups(&["a:1"]));
        assert_eq!(p.sync(&g).started.len(), 1);
        // An unchanged sync keeps the loop.
        let r = p.sync(&g);
        assert!(r.started.is_empty() && r.stopped.is_empty());
    }
}
