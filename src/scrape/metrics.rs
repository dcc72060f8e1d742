//! The scrape manager's self-metrics, with upstream's names and help texts,
//! registered once and shared by every pool and loop.

use crate::telemetry::{self, Counter, CounterVec, GaugeVec, Registry, SummaryVec};

/// Upstream's `prometheus_target_*` metrics (plus one promlite addition for
/// worker panics).
pub struct ScrapeMetrics {
    pub exceeded_sample_limit: Counter,
    pub exceeded_body_size_limit: Counter,
    pub exceeded_label_limits: Counter,
    pub exceeded_target_limit: Counter,
    pub duplicate_timestamp: Counter,
    pub out_of_order: Counter,
    pub out_of_bounds: Counter,
    pub interval_length: SummaryVec,
    pub pool_targets: GaugeVec,
    pub pool_reloads: Counter,
    pub pool_reloads_failed: Counter,
    pub pools_total: Counter,
    pub sync_failed: CounterVec,
    pub syncs: CounterVec,
    pub sync_length: SummaryVec,
    pub scrapes_skipped: Counter,
    pub worker_panics: Counter,
}

impl ScrapeMetrics {
    pub fn new(reg: &Registry) -> ScrapeMetrics {
        ScrapeMetrics {
            exceeded_sample_limit: reg.counter(
                "prometheus_target_scrapes_exceeded_sample_limit_total",
                "Total number of scrapes that hit the sample limit and were rejected.",
            ),
            exceeded_body_size_limit: reg.counter(
                "prometheus_target_scrapes_exceeded_body_size_limit_total",
                "Total number of scrapes that hit the body size limit",
            ),
            exceeded_label_limits: reg.counter(
                "prometheus_target_scrape_pool_exceeded_label_limits_total",
                "Total number of times scrape pools hit the label limits, during sync or config reload.",
            ),
            exceeded_target_limit: reg.counter(
                "prometheus_target_scrape_pool_exceeded_target_limit_total",
                "Total number of times scrape pools hit the target limit, during sync or config reload.",
            ),
            duplicate_timestamp: reg.counter(
                "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                "Total number of samples rejected due to duplicate timestamps but different values.",
            ),
            out_of_order: reg.counter(
                "prometheus_target_scrapes_sample_out_of_order_total",
                "Total number of samples rejected due to not being out of the expected order.",
            ),
            out_of_bounds: reg.counter(
                "prometheus_target_scrapes_sample_out_of_bounds_total",
                "Total number of samples rejected due to timestamp falling outside of the time bounds.",
            ),
            interval_length: reg.summary_vec(
                "prometheus_target_interval_length_seconds",
                "Actual intervals between scrapes.",
                &["interval"],
                telemetry::INTERVAL_OBJECTIVES,
            ),
            pool_targets: reg.gauge_vec(
                "prometheus_target_scrape_pool_targets",
                "Current number of targets in this scrape pool.",
                &["scrape_job"],
            ),
            pool_reloads: reg.counter(
                "prometheus_target_scrape_pool_reloads_total",
                "Total number of scrape pool reloads.",
            ),
            pool_reloads_failed: reg.counter(
                "prometheus_target_scrape_pool_reloads_failed_total",
                "Total number of failed scrape pool reloads.",
            ),
            pools_total: reg.counter(
                "prometheus_target_scrape_pools_total",
                "Total number of scrape pool creation attempts.",
            ),
            sync_failed: reg.counter_vec(
                "prometheus_target_sync_failed_total",
                "Total number of target sync failures.",
                &["scrape_job"],
            ),
            syncs: reg.counter_vec(
                "prometheus_target_scrape_pool_sync_total",
                "Total number of syncs that were executed on a scrape pool.",
                &["scrape_job"],
            ),
            sync_length: reg.summary_vec(
                "prometheus_target_sync_length_seconds",
                "Actual interval to sync the scrape pool.",
                &["scrape_job"],
                telemetry::INTERVAL_OBJECTIVES,
            ),
            scrapes_skipped: reg.counter(
                "promlite_target_scrapes_skipped_total",
                "Scrapes not started because the previous scrape of the target was still running or every worker was busy.",
            ),
            worker_panics: reg.counter(
                "promlite_scrape_worker_panics_total",
                "Scrapes that panicked; the worker survived.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_metrics_have_upstream_names() {
        let reg = Registry::new();
        let m = ScrapeMetrics::new(&reg);
        m.exceeded_sample_limit.inc();
        m.exceeded_body_size_limit.inc();
        m.exceeded_label_limits.inc();
        m.exceeded_target_limit.inc();
        let text = reg.render();
        for name in [
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
        ] {
            assert!(
                text.lines().any(|l| l == format!("{name} 1")),
                "{name} 1 not in:\n{text}"
            );
        }
    }
}
