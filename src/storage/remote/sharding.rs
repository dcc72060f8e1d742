//! The shard-count calculation of a remote-write queue: upstream's
//! `calculateDesiredShards`, driven by exponentially weighted rates of
//! samples in (read from the WAL), samples out (delivered) and time spent
//! sending, updated every shard-update interval (10 s).
//!
//! Simplified from upstream: dropped samples are not folded into a "kept
//! ratio" (they never reach a shard here), and there is no separate
//! "don't downshard while behind" rule beyond the backlog term.

/// Weight of a new observation (upstream's `ewmaWeight`).
const EWMA_WEIGHT: f64 = 0.2;

/// Allowed deviation before the shard count changes (upstream's 30 %).
const SHARD_TOLERANCE_FRACTION: f64 = 0.3;

/// A per-second rate smoothed over update intervals.
#[derive(Clone, Copy, Debug, Default)]
pub struct EwmaRate {
    rate: f64,
    initialised: bool,
}

impl EwmaRate {
    /// Folds in `count` events observed over `interval_secs`.
    pub fn tick(&mut self, count: f64, interval_secs: f64) {
        if interval_secs <= 0.0 {
            return;
        }
        let instant = count / interval_secs;
        if self.initialised {
            self.rate += EWMA_WEIGHT * (instant - self.rate);
        } else {
            self.rate = instant;
            self.initialised = true;
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// The rates one calculation looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardInputs {
    /// Samples per second read from the WAL.
    pub in_rate: f64,
    /// Samples per second delivered.
    pub out_rate: f64,
    /// Seconds spent in send calls per second (summed over shards).
    pub out_duration_rate: f64,
    /// Newest sample read minus newest sample delivered, in seconds.
    pub lag_seconds: f64,
    /// The shard-update interval in seconds.
    pub update_interval_secs: f64,
}

/// The number of shards to run, within `min..=max`.
pub fn desired_shards(current: usize, min: usize, max: usize, s: &ShardInputs) -> usize {
    let min = min.max(1);
    let max = max.max(min);
    let clamp = |n: usize| n.clamp(min, max);
    if s.out_rate <= 0.0 || !s.out_rate.is_finite() {
        return clamp(current);
    }
    let time_per_sample = s.out_duration_rate / s.out_rate;
    let pending = s.lag_seconds.max(0.0) * s.in_rate;
    let integral_gain = if s.update_interval_secs > 0.0 {
        0.1 / s.update_interval_secs
    } else {
        0.0
    };
    let desired = (time_per_sample * (s.in_rate + integral_gain * pending)).ceil();
    if !desired.is_finite() {
        return clamp(current);
    }
    let lower = current as f64 * (1.0 - SHARD_TOLERANCE_FRACTION);
    let upper = current as f64 * (1.0 + SHARD_TOLERANCE_FRACTION);
    if lower <= desired && desired <= upper {
        return clamp(current);
    }
    clamp(desired.max(0.0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(in_rate: f64, out_rate: f64, busy: f64, lag: f64) -> ShardInputs {
        ShardInputs {
            in_rate,
            out_rate,
            out_duration_rate: busy,
            lag_seconds: lag,
            update_interval_secs: 10.0,
        }
    }

    #[test]
    fn ewma_starts_at_first_rate_then_smooths() {
        let mut e = EwmaRate::default();
        e.tick(100.0, 10.0);
        assert_eq!(e.rate(), 10.0);
        e.tick(200.0, 10.0);
        assert!((e.rate() - 12.0).abs() < 1e-9);
    }

    #[test]
    fn scales_up_when_sending_cannot_keep_up() {
        // 1000 samples/s in; each sample takes 4 ms of send time: 4 shards.
        let n = desired_shards(1, 1, 50, &inputs(1000.0, 500.0, 2.0, 0.0));
        assert_eq!(n, 4);
    }

    #[test]
    fn backlog_adds_shards() {
        let without = desired_shards(1, 1, 50, &inputs(1000.0, 1000.0, 2.0, 0.0));
        let with = desired_shards(1, 1, 50, &inputs(1000.0, 1000.0, 2.0, 600.0));
        assert!(with > without, "{with} > {without}");
    }

    #[test]
    fn stays_within_tolerance_and_bounds() {
        // Wants 11 with 10 running: within 30 %, keep 10.
        assert_eq!(
            desired_shards(10, 1, 50, &inputs(1000.0, 1000.0, 11.0, 0.0)),
            10
        );
        assert_eq!(
            desired_shards(1, 1, 3, &inputs(1e6, 1000.0, 50.0, 0.0)),
            3,
            "max_shards caps"
        );
        assert_eq!(
            desired_shards(10, 2, 50, &inputs(1.0, 1000.0, 0.001, 0.0)),
            2,
            "min_shards floors"
        );
        // No data out yet: no basis to change.
        assert_eq!(desired_shards(5, 1, 50, &inputs(1000.0, 0.0, 0.0, 0.0)), 5);
    }
}
