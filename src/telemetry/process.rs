//! `process_*` metrics read from `/proc/self`, as client_golang's process collector.

use super::Registry;

fn page_size() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as f64
    } else {
        4096.0
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Fields of `/proc/self/stat` after the command name, 0-based from field 3.
fn stat_fields() -> Vec<String> {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    match stat.rfind(')') {
        Some(i) => stat[i + 1..]
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    }
}

fn field(f: &[String], n: usize) -> f64 {
    // n is the 1-based field number of proc(5); our vector starts at field 3.
    f.get(n - 3).and_then(|s| s.parse().ok()).unwrap_or(0.0)
}

fn boot_time() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn max_fds() -> f64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur as f64
    } else {
        0.0
    }
}

/// Registers `process_cpu_seconds_total`, memory, fds and start time.
pub fn register_process_metrics(r: &Registry) {
    r.counter_func(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        &[],
        || {
            let f = stat_fields();
            vec![(vec![], (field(&f, 14) + field(&f, 15)) / clock_ticks())]
        },
    );
    r.gauge_func(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        &[],
        || {
            let f = stat_fields();
            vec![(vec![], field(&f, 24) * page_size())]
        },
    );
    r.gauge_func(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        &[],
        || {
            let f = stat_fields();
            vec![(vec![], field(&f, 23))]
        },
    );
    r.gauge_func(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        &[],
        || {
            let f = stat_fields();
            vec![(vec![], boot_time() + field(&f, 22) / clock_ticks())]
        },
    );
    r.gauge_func(
        "process_open_fds",
        "Number of open file descriptors.",
        &[],
        || {
            let n = std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count())
                .unwrap_or(0);
            vec![(vec![], n as f64)]
        },
    );
    r.gauge_func(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        &[],
        || vec![(vec![], max_fds())],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(out: &str, name: &str) -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
    }

    #[test]
    fn process_metrics_are_plausible() {
        let r = Registry::new();
        register_process_metrics(&r);
        let out = r.render();
        assert!(value(&out, "process_resident_memory_bytes") > 1e5, "{out}");
        assert!(
            value(&out, "process_virtual_memory_bytes")
                >= value(&out, "process_resident_memory_bytes"),
            "{out}"
        );
        assert!(value(&out, "process_cpu_seconds_total") >= 0.0, "{out}");
        // Started in the last day, not at the epoch.
        let now = crate::model::value::now_millis() as f64 / 1000.0;
        let start = value(&out, "process_start_time_seconds");
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
        // stdin/stdout/stderr at least; never more than the limit.
        let open = value(&out, "process_open_fds");
        let max = value(&out, "process_max_fds");
        assert!(open >= 3.0 && open <= max, "{open} of {max}");

        // Opening files shows up in process_open_fds.
        let files: Vec<std::fs::File> = (0..8)
            .filter_map(|_| std::fs::File::open("/proc/self/stat").ok())
            .collect();
        let r2 = Registry::new();
        register_process_metrics(&r2);
        // Other tests open and close files concurrently, so only require growth
        // by a part of what we hold.
        assert!(value(&r2.render(), "process_open_fds") >= 3.0 + files.len() as f64 / 2.0);
    }
}
