//! The process logger: a `log::Log` that writes upstream Prometheus 3.x's
//! slog lines to stderr, either logfmt
//! (`time=2026-11-21T10:00:00.000Z level=INFO source=server.rs:42 msg="..." component=web`)
//! or JSON (`--log.format=json`), filtered by `--log.level`. The component is
//! the promlite module that logged (`promlite::web::server` → `web`), the way
//! upstream tags each component's logger; key-value fields given to the `log`
//! macros (`log::info!(file = f; "Loading configuration file")`) follow `msg`
//! as upstream's slog attributes do.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use crate::cli::LogFormat;

/// Writes log records in upstream's format.
pub struct Logger {
    format: LogFormat,
    level: log::LevelFilter,
    out: Mutex<Box<dyn std::io::Write + Send>>,
}

impl Logger {
    pub fn new(format: LogFormat, level: log::LevelFilter) -> Logger {
        Logger {
            format,
            level,
            out: Mutex::new(Box::new(std::io::stderr())),
        }
    }

    /// Installs the logger process-wide. A second call is ignored (tests may
    /// start several servers in one process).
    pub fn install(self) {
        let level = self.level;
        if log::set_boxed_logger(Box::new(self)).is_ok() {
            log::set_max_level(level);
        }
    }

    /// Formats one record as a line (without the newline).
    pub fn format_line(&self, record: &log::Record<'_>, now_ms: i64) -> String {
        let time = format_rfc3339_millis(now_ms);
        let level = match record.level() {
            log::Level::Error => "ERROR",
            log::Level::Warn => "WARN",
            log::Level::Info => "INFO",
            // slog has no trace level; upstream only uses debug.
            log::Level::Debug | log::Level::Trace => "DEBUG",
        };
        let source = match (record.file(), record.line()) {
            (Some(f), Some(l)) => format!("{}:{l}", f.rsplit('/').next().unwrap_or(f)),
            _ => String::new(),
        };
        let msg = record.args().to_string();
        let component = component_of(record.target());
        let mut fields = FieldCollector(Vec::new());
        let _ = record.key_values().visit(&mut fields);
        let fields = fields.0;
        let mut line = String::with_capacity(96 + msg.len());
        match self.format {
            LogFormat::Logfmt => {
                let _ = write!(
                    line,
                    "time={time} level={level} source={source} msg={}",
                    logfmt_value(&msg)
                );
                for (k, v) in &fields {
                    let _ = write!(line, " {k}={}", logfmt_value(v));
                }
                if let Some(c) = component {
                    let _ = write!(line, " component={}", logfmt_value(c));
                }
            }
            LogFormat::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("time".into(), time.into());
                obj.insert("level".into(), level.into());
                obj.insert("source".into(), source.into());
                obj.insert("msg".into(), msg.into());
                for (k, v) in fields {
                    obj.insert(k, v.into());
                }
                if let Some(c) = component {
                    obj.insert("component".into(), c.into());
                }
                line = serde_json::Value::Object(obj).to_string();
            }
        }
        line
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Dependencies (ureq, rustls) log at debug about their own
        // internals; only promlite's records reach the user below warn.
        if !record.target().starts_with("promlite") && record.level() > log::Level::Warn {
            return;
        }
        let line = self.format_line(record, crate::model::value::now_millis());
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{line}");
    }

    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.flush();
    }
}

/// Collects a record's key-value fields (`log::info!(file = f; "msg")`) as text.
struct FieldCollector(Vec<(String, String)>);

impl<'kvs> log::kv::VisitSource<'kvs> for FieldCollector {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        self.0.push((key.to_string(), value.to_string()));
        Ok(())
    }
}

/// `promlite::web::server` → `web`; the crate root and `main` have no component.
fn component_of(target: &str) -> Option<&str> {
    let rest = target.strip_prefix("promlite::")?;
    let c = rest.split("::").next().unwrap_or(rest);
    match c {
        "server" | "" => None,
        c => Some(c),
    }
}

/// Quotes a logfmt value when it needs it, as slog's text handler does.
fn logfmt_value(v: &str) -> String {
    let needs_quotes = v.is_empty()
        || v.chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control() || !c.is_ascii());
    if needs_quotes {
        crate::model::labels::go_quote(v)
    } else {
        v.to_string()
    }
}

/// `2026-11-21T10:00:00.000Z` from Unix milliseconds.
pub fn format_rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = crate::model::civil::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(format: LogFormat, target: &str, msg: &str) -> String {
        let logger = Logger::new(format, log::LevelFilter::Info);
        let args = format_args!("{msg}");
        let record = log::Record::builder()
            .args(args)
            .level(log::Level::Info)
            .target(target)
            .file(Some("src/web/server.rs"))
            .line(Some(42))
            .build();
        logger.format_line(&record, 1_795_255_200_123)
    }

    #[test]
    fn logfmt_line() {
        let l = line(
            LogFormat::Logfmt,
            "promlite::web::server",
            "Start listening for connections",
        );
        assert_eq!(
            l,
            "time=2026-11-21T10:00:00.123Z level=INFO source=server.rs:42 msg=\"Start listening for connections\" component=web"
        );
        let l = line(LogFormat::Logfmt, "promlite::server", "ready");
        assert!(l.ends_with("msg=ready"), "{l}");
    }

    #[test]
    fn key_value_fields() {
        let logger = Logger::new(LogFormat::Logfmt, log::LevelFilter::Info);
        let kvs: &[(&str, &str)] = &[("filename", "prometheus.yml"), ("err", "bad thing")];
        let record = log::Record::builder()
            .args(format_args!("Loading configuration file"))
            .level(log::Level::Info)
            .target("promlite::server")
            .file(Some("src/server.rs"))
            .line(Some(7))
            .key_values(&kvs)
            .build();
        let l = logger.format_line(&record, 0);
        assert!(
            l.ends_with(
                "msg=\"Loading configuration file\" filename=prometheus.yml err=\"bad thing\""
            ),
            "{l}"
        );
    }

    #[test]
    fn json_line() {
        let l = line(LogFormat::Json, "promlite::web", "a \"b\"");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["msg"], "a \"b\"");
        assert_eq!(v["component"], "web");
        assert_eq!(v["time"], "2026-11-21T10:00:00.123Z");
    }

    /// A `Write` that keeps what was written, shared with the test.
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn level_filters_records() {
        use log::Log as _;
        let buf = Buffer::default();
        let logger = Logger {
            out: Mutex::new(Box::new(buf.clone())),
            ..Logger::new(LogFormat::Logfmt, log::LevelFilter::Warn)
        };
        let emit = |level: log::Level, target: &str, msg: &str| {
            logger.log(
                &log::Record::builder()
                    .args(format_args!("{msg}"))
                    .level(level)
                    .target(target)
                    .build(),
            );
        };
        emit(log::Level::Debug, "promlite::web", "debug line");
        emit(log::Level::Info, "promlite::web", "info line");
        emit(log::Level::Warn, "promlite::web", "warn line");
        emit(log::Level::Error, "promlite::tsdb", "error line");
        let out =
            String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        assert!(
            !out.contains("debug line") && !out.contains("info line"),
            "{out}"
        );
        assert!(
            out.contains("level=WARN") && out.contains("warn line"),
            "{out}"
        );
        assert!(
            out.contains("level=ERROR") && out.contains("error line"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 2, "{out}");

        // At debug, promlite's own debug lines show; a dependency's do not.
        let buf = Buffer::default();
        let logger = Logger {
            out: Mutex::new(Box::new(buf.clone())),
            ..Logger::new(LogFormat::Logfmt, log::LevelFilter::Debug)
        };
        for target in ["promlite::scrape", "ureq"] {
            logger.log(
                &log::Record::builder()
                    .args(format_args!("from {target}"))
                    .level(log::Level::Debug)
                    .target(target)
                    .build(),
            );
        }
        let out =
            String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        assert!(
            out.contains("level=DEBUG") && out.contains("from promlite::scrape"),
            "{out}"
        );
        assert!(!out.contains("from ureq"), "{out}");
    }

    #[test]
    fn dates() {
        assert_eq!(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }
}
