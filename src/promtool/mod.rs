//! promlite-tool's commands: upstream promtool's command tree, flags, output
//! and exit codes (0 success, 1 failure or usage error, 3 lint problems).
//!
//! [`main_with_args`] is the whole tool: it finds the command words, hands
//! the rest of the command line to that command's module (each parses its
//! own flags with lexopt) and prints kingpin-style usage errors.
//! Modules: `check_config`; `check` (metrics, web-config, healthy, ready,
//! service-discovery) with `promlint`; `query` (HTTP API commands) and
//! `analyze` (query analyze); `tsdb` (list, dump, dump-openmetrics, analyze)
//! and `bench` (tsdb bench write); `backfill` and `backfill_rules`
//! (create-blocks-from openmetrics|rules); `gotime` (promtool's time
//! parsing and printing).
//! Commands listed in [`COMMANDS`] as not built answer
//! "... is not supported by promlite yet".

mod analyze;
pub mod backfill;
mod backfill_rules;
pub mod bench;
mod check;
mod check_config;
mod gotime;
mod promlint;
mod query;
mod tsdb;

use std::ffi::OsString;

use lexopt::prelude::*;

use crate::rules::promtool as rules_promtool;

/// Exit code of a command that did what was asked.
pub const SUCCESS: u8 = 0;
/// Exit code of a failed command or a command line that was not understood.
pub const FAILURE: u8 = 1;
/// Exit code of `check` commands that found lint problems.
pub const LINT_FAILURE: u8 = 3;

const TOOL: &str = "promlite-tool";

/// Every command: its words, its usage line after the words, what it does,
/// and whether promlite implements it.
pub const COMMANDS: &[(&str, &str, &str, bool)] = &[
    ("check service-discovery", "[<flags>] <config-file> <job>", "Perform service discovery for the given job name and report the results,\n    including relabeling.", true),
    ("check config", "[<flags>] <config-files>...", "Check if the config files are valid or not.", true),
    ("check web-config", "<web-config-files>...", "Check if the web config files are valid or not.", true),
    ("check healthy", "[<flags>]", "Check if the Prometheus server is healthy.", true),
    ("check ready", "[<flags>]", "Check if the Prometheus server is ready.", true),
    ("check rules", "[<flags>] <rule-files>...", "Check if the rule files are valid or not.", true),
    ("check metrics", "[<flags>]", "Pass Prometheus metrics over stdin to lint them for consistency and\n    correctness.", true),
    ("query instant", "[<flags>] <server> <expr>", "Run instant query.", true),
    ("query range", "[<flags>] <server> <expr>", "Run range query.", true),
    ("query series", "--match=MATCH [<flags>] <server>", "Run series query.", true),
    ("query labels", "[<flags>] <server> <name>", "Run labels query.", true),
    ("query analyze", "--server=SERVER --type=TYPE --match=MATCH [<flags>]", "Run queries against your Prometheus to analyze the usage pattern of\n    certain metrics.", true),
    ("debug pprof", "<server>", "Fetch profiling debug information.", false),
    ("debug metrics", "<server>", "Fetch metrics debug information.", false),
    ("debug all", "<server>", "Fetch all debug information.", false),
    ("test rules", "[<flags>] <test-rule-file>...", "Unit tests for rules.", true),
    ("tsdb bench write", "[<flags>] [<file>]", "Run a write performance benchmark.", true),
    ("tsdb analyze", "[<flags>] [<db path>] [<block id>]", "Analyze churn, label pair cardinality and compaction efficiency.", true),
    ("tsdb list", "[<flags>] [<db path>]", "List tsdb blocks.", true),
    ("tsdb dump", "[<flags>] [<db path>]", "Dump samples from a TSDB.", true),
    ("tsdb dump-openmetrics", "[<flags>] [<db path>]", "[Experimental] Dump samples from a TSDB into OpenMetrics text format,\n    excluding native histograms and staleness markers, which are not\n    representable in OpenMetrics.", true),
    ("tsdb create-blocks-from openmetrics", "[<flags>] <input file> [<output directory>]", "Import samples from OpenMetrics input and produce TSDB blocks. Please refer\n    to the storage docs for more details.", true),
    ("tsdb create-blocks-from rules", "--start=START [<flags>] <rule-files>...", "Create blocks of data for new recording rules.", true),
];

/// A command line that could not be understood (kingpin's wording).
#[derive(Debug, PartialEq)]
pub struct UsageError(pub String);

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> Self {
        UsageError(match e {
            lexopt::Error::UnexpectedOption(o) if o.starts_with("--") => {
                format!("unknown long flag '{o}'")
            }
            lexopt::Error::UnexpectedOption(o) => format!("unknown short flag '{o}'"),
            lexopt::Error::UnexpectedArgument(a) => {
                format!("unexpected {}", a.to_string_lossy())
            }
            lexopt::Error::MissingValue { option: Some(o) } => {
                format!("expected argument for flag '{o}'")
            }
            other => other.to_string(),
        })
    }
}

/// Runs the tool on its arguments (without the program name), printing
/// usage errors as kingpin does, and returns the process exit code.
pub fn main_with_args(args: Vec<OsString>) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("{TOOL}: error: {msg}, try --help");
            FAILURE
        }
    }
}

/// The top-level `--help` text, listing every command.
pub fn help_text() -> String {
    let mut out = format!(
        "usage: {TOOL} [<flags>] <command> [<args> ...]\n\n\
         Tooling for the promlite monitoring system (promtool-compatible).\n\n\
         Flags:\n  -h, --help     Show context-sensitive help.\n      --version  Show application version.\n\n\
         Commands:\n  help [<command>...]\n    Show help.\n\n"
    );
    for (words, usage, what, built) in COMMANDS {
        out.push_str(&format!("  {words} {usage}\n    {what}\n"));
        if !built {
            out.push_str("    (not supported by promlite yet)\n");
        }
        out.push('\n');
    }
    out
}

/// The one-command help: usage line, description, the command's flags.
fn command_help(words: &str, flags: &str, args: &str) -> String {
    let (usage, what) = COMMANDS
        .iter()
        .find(|c| c.0 == words)
        .map(|c| (c.1, c.2))
        .unwrap_or(("", ""));
    let mut out = format!(
        "usage: {TOOL} {words} {usage}\n\n{}\n\nFlags:\n  -h, --help  Show context-sensitive help.\n",
        what.replace("\n    ", "\n")
    );
    out.push_str(flags);
    if !args.is_empty() {
        out.push_str("\nArgs:\n");
        out.push_str(args);
    }
    out
}

/// Answers a command's `-h/--help`: prints [`command_help`] and returns the
/// exit code of a command asked only for its help.
fn print_command_help(words: &str, flags: &str, args: &str) -> u8 {
    print!("{}", command_help(words, flags, args));
    SUCCESS
}

fn is_group(words: &[String]) -> bool {
    let prefix = words.join(" ") + " ";
    COMMANDS.iter().any(|c| c.0.starts_with(&prefix))
}

fn run(args: Vec<OsString>) -> Result<u8, UsageError> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut words: Vec<String> = Vec::new();
    loop {
        match parser.next()? {
            Some(Long("help") | Short('h')) => {
                print!("{}", help_text());
                return Ok(SUCCESS);
            }
            Some(Long("version")) if words.is_empty() => {
                println!("{TOOL}, version {}", env!("CARGO_PKG_VERSION"));
                return Ok(SUCCESS);
            }
            Some(Value(v)) => {
                let word = v.string()?;
                if words.is_empty() && word == "help" {
                    print!("{}", help_text());
                    return Ok(SUCCESS);
                }
                words.push(word);
                let joined = words.join(" ");
                if COMMANDS.iter().any(|c| c.0 == joined) {
                    return dispatch(&joined, parser);
                }
                if !is_group(&words) {
                    return Err(UsageError(format!(
                        "expected command but got {:?}",
                        words.join(" ")
                    )));
                }
            }
            Some(other) => return Err(other.unexpected().into()),
            None if words.is_empty() => {
                return Err(UsageError("expected command but got none".into()));
            }
            None => {
                return Err(UsageError(format!(
                    "must select a subcommand of '{}'",
                    words.join(" ")
                )));
            }
        }
    }
}

fn dispatch(command: &str, parser: lexopt::Parser) -> Result<u8, UsageError> {
    match command {
        "check config" => check_config::command(parser),
        "check rules" => rules_command(parser, rules_promtool::check_rules_cmd),
        "test rules" => rules_command(parser, rules_promtool::test_rules_cmd),
        "check metrics" => check::metrics_command(parser),
        "check web-config" => check::web_config_command(parser),
        "check healthy" => check::health_command(parser, false),
        "check ready" => check::health_command(parser, true),
        "check service-discovery" => check::service_discovery_command(parser),
        "query instant" => query::instant_command(parser),
        "query range" => query::range_command(parser),
        "query series" => query::series_command(parser),
        "query labels" => query::labels_command(parser),
        "query analyze" => analyze::analyze_command(parser),
        "tsdb list" => tsdb::list_command(parser),
        "tsdb dump" => tsdb::dump_command(parser, tsdb::DumpFormat::Promql),
        "tsdb dump-openmetrics" => tsdb::dump_command(parser, tsdb::DumpFormat::OpenMetrics),
        "tsdb analyze" => tsdb::analyze_command(parser),
        "tsdb bench write" => bench::write_command(parser),
        "tsdb create-blocks-from openmetrics" => backfill::openmetrics_command(parser),
        "tsdb create-blocks-from rules" => backfill_rules::rules_command(parser),
        other => {
            eprintln!("{other} is not supported by promlite yet");
            Ok(FAILURE)
        }
    }
}

/// `check rules` and `test rules` live with the rules engine; they take the
/// remaining arguments as they are and write to stdout/stderr.
fn rules_command(
    mut parser: lexopt::Parser,
    cmd: fn(&[String], &mut rules_promtool::Output<'_>) -> i32,
) -> Result<u8, UsageError> {
    let mut args = Vec::new();
    for a in parser.raw_args()? {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(a) => return Err(UsageError(format!("argument {a:?} is not valid UTF-8"))),
        }
    }
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut out = rules_promtool::Output {
        out: &mut stdout,
        err: &mut stderr,
    };
    Ok(u8::try_from(cmd(&args, &mut out)).unwrap_or(FAILURE))
}

/// Why [`read_quoted_value`] could not read a label value; each parser words
/// it as its upstream counterpart does.
#[derive(Debug, PartialEq)]
enum QuotedValueError {
    /// A backslash followed by this character (`None`: the input ended).
    BadEscape(Option<char>),
    /// The input ended before the closing quote; the value read so far.
    Unterminated(String),
}

/// Reads a label value from just after its opening `"` through the closing
/// one, unescaping `\n`, `\\` and `\"` as both text formats (0.0.4 and
/// OpenMetrics) do.
fn read_quoted_value(
    chars: &mut impl Iterator<Item = (usize, char)>,
) -> Result<String, QuotedValueError> {
    let mut value = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '"' => return Ok(value),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => value.push('\n'),
                Some(c @ ('\\' | '"')) => value.push(c),
                other => return Err(QuotedValueError::BadEscape(other)),
            },
            c => value.push(c),
        }
    }
    Err(QuotedValueError::Unterminated(value))
}

/// Go's wording for the common IO errors.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn unknown_commands_are_usage_errors() {
        assert_eq!(
            run(args(&["frobnicate"])),
            Err(UsageError("expected command but got \"frobnicate\"".into()))
        );
        assert_eq!(
            run(args(&["check", "nothing"])),
            Err(UsageError(
                "expected command but got \"check nothing\"".into()
            ))
        );
        assert_eq!(
            run(args(&[])),
            Err(UsageError("expected command but got none".into()))
        );
        assert_eq!(
            run(args(&["tsdb", "create-blocks-from"])),
            Err(UsageError(
                "must select a subcommand of 'tsdb create-blocks-from'".into()
            ))
        );
        assert_eq!(
            run(args(&["--bogus"])),
            Err(UsageError("unknown long flag '--bogus'".into()))
        );
    }

    #[test]
    fn help_lists_every_command() {
        let help = help_text();
        for (words, ..) in COMMANDS {
            assert!(help.contains(&format!("  {words} ")), "{words} missing");
        }
    }

    #[test]
    fn command_help_lays_out_usage_flags_and_args() {
        assert_eq!(
            command_help(
                "tsdb dump-openmetrics",
                "      --min-time=0  Minimum timestamp to dump.\n",
                "  [<db path>]  Database path.\n"
            ),
            "usage: promlite-tool tsdb dump-openmetrics [<flags>] [<db path>]\n\n\
             [Experimental] Dump samples from a TSDB into OpenMetrics text format,\n\
             excluding native histograms and staleness markers, which are not\n\
             representable in OpenMetrics.\n\n\
             Flags:\n  -h, --help  Show context-sensitive help.\n\
             \x20     --min-time=0  Minimum timestamp to dump.\n\n\
             Args:\n  [<db path>]  Database path.\n"
        );
        // No args section when a command takes none.
        assert!(!command_help("check healthy", "", "").contains("Args:"));
    }

    #[test]
    fn unbuilt_commands_fail_clearly() {
        assert_eq!(run(args(&["debug", "all", "x"])), Ok(FAILURE));
    }
}
