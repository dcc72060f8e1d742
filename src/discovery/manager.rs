//! The `DiscoveryManager` actor: owns the providers of every job, collects
//! their updates and sends the full `job → [TargetGroup]` map to its consumer,
//! at most once per `update_interval` (upstream: 5 s) so a burst of file
//! changes becomes one update. A reload keeps providers whose job and settings
//! are unchanged running and always leads to a full send.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crossbeam_channel::{bounded, select, tick, unbounded, Receiver, Sender, TrySendError};

use super::{file, http, SdConfig, TargetGroup};
use crate::telemetry;

/// What the manager sends: every configured job with all its groups.
pub type TargetSets = HashMap<String, Vec<TargetGroup>>;

/// Manager settings; the defaults are upstream's.
#[derive(Clone, Debug)]
pub struct DiscoveryOptions {
    /// `scrape` or `notify`: the `name` label of the manager's metrics.
    pub name: String,
    /// Minimum time between two sends.
    pub update_interval: Duration,
    /// How often file SD checks mtimes.
    pub file_poll_interval: Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            name: "scrape".to_string(),
            update_interval: Duration::from_secs(5),
            file_poll_interval: Duration::from_secs(1),
        }
    }
}

/// A provider's full current set of groups.
pub(crate) struct ProviderUpdate {
    pub id: u64,
    pub groups: Vec<TargetGroup>,
}

struct Provider {
    id: u64,
    job: String,
    config: SdConfig,
    /// Dropping this stops the provider thread at its next wake-up.
    _stop: Option<Sender<()>>,
}

#[derive(Default)]
struct State {
    providers: Vec<Provider>,
    groups: HashMap<u64, Vec<TargetGroup>>,
    jobs: Vec<String>,
    dirty: bool,
    next_id: u64,
}

/// Runs discovery providers and sends target sets (see the module comment).
pub struct DiscoveryManager {
    opts: DiscoveryOptions,
    state: Mutex<State>,
    updates_tx: Sender<ProviderUpdate>,
    updates_rx: Receiver<ProviderUpdate>,
    out: Sender<TargetSets>,
    stop_tx: Sender<()>,
    stop_rx: Receiver<()>,
}

impl DiscoveryManager {
    /// A manager and the channel its target sets arrive on.
    pub fn new(opts: DiscoveryOptions) -> (DiscoveryManager, Receiver<TargetSets>) {
        let (updates_tx, updates_rx) = unbounded();
        // Capacity one: a consumer that is behind gets the newest full set
        // on the next tick rather than a queue of outdated ones.
        let (out, out_rx) = bounded(1);
        let (stop_tx, stop_rx) = bounded(1);
        (
            DiscoveryManager {
                opts,
                state: Mutex::new(State::default()),
                updates_tx,
                updates_rx,
                out,
                stop_tx,
                stop_rx,
            },
            out_rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the providers: unchanged `(job, settings)` pairs keep running
    /// (and keep their targets); others stop, new ones start.
    pub fn apply_config(&self, configs: HashMap<String, Vec<SdConfig>>) {
        let mut st = self.lock();
        let mut old: Vec<Provider> = std::mem::take(&mut st.providers);
        let mut jobs: Vec<String> = configs.keys().cloned().collect();
        jobs.sort();
        for (job, cfgs) in configs {
            for cfg in cfgs {
                if let Some(i) = old.iter().position(|p| p.job == job && p.config == cfg) {
                    let kept = old.swap_remove(i);
                    st.providers.push(kept);
                    continue;
                }
                st.next_id += 1;
                let id = st.next_id;
                let stop = self.start(id, &job, &cfg, &mut st);
                st.providers.push(Provider {
                    id,
                    job: job.clone(),
                    config: cfg,
                    _stop: stop,
                });
            }
        }
        for p in old {
            st.groups.remove(&p.id);
        }
        st.jobs = jobs;
        st.dirty = true;
    }

    /// Starts one provider; static ones need no thread.
    fn start(&self, id: u64, job: &str, cfg: &SdConfig, st: &mut State) -> Option<Sender<()>> {
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let tx = self.updates_tx.clone();
        let name = format!("sd-{}-{job}", self.opts.name);
        let spawned = match cfg.clone() {
            SdConfig::Static(groups) => {
                st.groups.insert(id, groups);
                return None;
            }
            SdConfig::File(c) => {
                let poll = self.opts.file_poll_interval;
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || file::run(c, id, poll, tx, stop_rx))
            }
            SdConfig::Http(c) => {
                let job = job.to_string();
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || http::run(c, id, &job, tx, stop_rx))
            }
        };
        if let Err(e) = spawned {
            log::error!("discovery: cannot start provider for job {job:?}: {e}");
        }
        Some(stop_tx)
    }

    /// Blocks sending target sets until `stop` is called.
    pub fn run(&self) {
        let reg = telemetry::global();
        let received = reg
            .counter_vec(
                "prometheus_sd_received_updates_total",
                "Total number of update events received from the SD providers.",
                &["name"],
            )
            .with(&[&self.opts.name]);
        let sent = reg
            .counter_vec(
                "prometheus_sd_updates_total",
                "Total number of update events sent to the SD consumers.",
                &["name"],
            )
            .with(&[&self.opts.name]);
        let discovered = reg.gauge_vec(
            "prometheus_sd_discovered_targets",
            "Current number of discovered targets.",
            &["config", "name"],
        );
        let ticker = tick(self.opts.update_interval);
        loop {
            select! {
                recv(self.stop_rx) -> _ => break,
                recv(self.updates_rx) -> u => {
                    let Ok(u) = u else { break };
                    received.inc();
                    let mut st = self.lock();
                    if st.providers.iter().any(|p| p.id == u.id) {
                        st.groups.insert(u.id, u.groups);
                        st.dirty = true;
                    }
                }
                recv(ticker) -> _ => {
                    // `dirty` is cleared in the same critical section that
                    // reads the state: an `apply_config` racing with this
                    // send marks it again and is sent next tick.
                    let sets = {
                        let mut st = self.lock();
                        if !st.dirty {
                            continue;
                        }
                        st.dirty = false;
                        build_sets(&st)
                    };
                    for (job, groups) in &sets {
                        let n: usize = groups.iter().map(|g| g.targets.len()).sum();
                        discovered.with(&[job, &self.opts.name]).set(n as f64);
                    }
                    match self.out.try_send(sets) {
                        Ok(()) => sent.inc(),
                        Err(TrySendError::Full(_)) => self.lock().dirty = true,
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
            }
        }
        // Dropping the stop senders ends every provider thread.
        self.lock().providers.clear();
    }

    /// Makes `run` return.
    pub fn stop(&self) {
        let _ = self.stop_tx.try_send(());
    }
}

fn build_sets(st: &State) -> TargetSets {
    let mut sets: TargetSets = st.jobs.iter().map(|j| (j.clone(), Vec::new())).collect();
    for p in &st.providers {
        if let Some(groups) = st.groups.get(&p.id) {
            if let Some(v) = sets.get_mut(&p.job) {
                v.extend(groups.iter().cloned());
            }
        }
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::FileSdConfig;
    use crate::model::Labels;
    use std::sync::Arc;

    fn opts() -> DiscoveryOptions {
        DiscoveryOptions {
            name: "test".to_string(),
            update_interval: Duration::from_millis(20),
            file_poll_interval: Duration::from_millis(10),
        }
    }

    fn recv(rx: &Receiver<TargetSets>) -> TargetSets {
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("no target sets: {e}"))
    }

    fn addresses(sets: &TargetSets, job: &str) -> Vec<String> {
        let mut v: Vec<String> = sets
            .get(job)
            .into_iter()
            .flatten()
            .flat_map(|g| {
                g.targets
                    .iter()
                    .map(|t| t.get_or_empty("__address__").to_string())
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn static_and_file_providers_across_reloads() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("targets.yml");
        std::fs::write(&file, "- targets: ['f:1']\n").unwrap_or_else(|e| panic!("{e}"));
        let (m, rx) = DiscoveryManager::new(opts());
        let m = Arc::new(m);
        let file_cfg = SdConfig::File(FileSdConfig::new(vec![file.display().to_string()]));
        m.apply_config(HashMap::from([
            (
                "a".to_string(),
                vec![SdConfig::static_targets(&["s:1"], Labels::empty())],
            ),
            ("b".to_string(), vec![file_cfg.clone()]),
        ]));
        let runner = {
            let m = m.clone();
            std::thread::spawn(move || m.run())
        };
        let mut sets = recv(&rx);
        for _ in 0..50 {
            if !addresses(&sets, "b").is_empty() {
                break;
            }
            sets = recv(&rx);
        }
        assert_eq!(addresses(&sets, "a"), vec!["s:1"]);
        assert_eq!(addresses(&sets, "b"), vec!["f:1"]);

        // Reload: job a goes away, b is unchanged and keeps its provider id.
        let id_before = m
            .lock()
            .providers
            .iter()
            .find(|p| p.job == "b")
            .map(|p| p.id);
        m.apply_config(HashMap::from([("b".to_string(), vec![file_cfg])]));
        let sets = recv(&rx);
        assert!(!sets.contains_key("a"));
        assert_eq!(addresses(&sets, "b"), vec!["f:1"]);
        let id_after = m
            .lock()
            .providers
            .iter()
            .find(|p| p.job == "b")
            .map(|p| p.id);
        assert_eq!(id_before, id_after);

        m.stop();
        runner.join().unwrap_or_else(|_| panic!("manager panicked"));
    }

    #[test]
    fn bursts_are_coalesced() {
        // Upstream's discovery manager sends at most every 5 s.
        assert_eq!(
            DiscoveryOptions::default().update_interval,
            Duration::from_secs(5)
        );
        let interval = Duration::from_millis(200);
        let (m, rx) = DiscoveryManager::new(DiscoveryOptions {
            update_interval: interval,
            ..opts()
        });
        let m = Arc::new(m);
        m.apply_config(HashMap::from([(
            "a".to_string(),
            vec![SdConfig::static_targets(&["s:0"], Labels::empty())],
        )]));
        let id = m.lock().providers.first().map_or(0, |p| p.id);
        let runner = {
            let m = m.clone();
            std::thread::spawn(move || m.run())
        };
        assert_eq!(addresses(&recv(&rx), "a"), vec!["s:0"]);

        // 40 provider updates in ~400 ms.
        let started = std::time::Instant::now();
        let burst = {
            let tx = m.updates_tx.clone();
            std::thread::spawn(move || {
                for i in 1..=40 {
                    let groups = vec![TargetGroup {
                        source: "0".into(),
                        targets: vec![Labels::from_pairs(&[("__address__", &format!("s:{i}"))])],
                        labels: Labels::empty(),
                    }];
                    let _ = tx.send(ProviderUpdate { id, groups });
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let mut sends = 0;
        loop {
            let sets = recv(&rx);
            sends += 1;
            if addresses(&sets, "a") == ["s:40"] {
                break;
            }
        }
        let elapsed = started.elapsed();
        let _ = burst.join();
        let ticks = (elapsed.as_millis() / interval.as_millis()) as usize;
        assert!(
            sends <= ticks + 1,
            "{sends} sends for 40 updates in {elapsed:?} (interval {interval:?})"
        );
        assert!(sends < 40);

        m.stop();
        runner.join().unwrap_or_else(|_| panic!("manager panicked"));
    }
}
