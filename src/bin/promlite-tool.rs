//! promlite-tool: the promtool-compatible command-line tool. This file only
//! dispatches; each command lives with the module it checks.

use promlite::rules::promtool::{self, Output};

fn usage() -> i32 {
    eprintln!("usage: promlite-tool <command> [<args> ...]\n\nCommands:\n  check rules [<rule-files>...]\n  test rules <test-rule-file>...");
    1
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut out = Output {
        out: &mut stdout,
        err: &mut stderr,
    };
    let code = match (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
    ) {
        (Some("check"), Some("rules")) => promtool::check_rules_cmd(&args[2..], &mut out),
        (Some("test"), Some("rules")) => promtool::test_rules_cmd(&args[2..], &mut out),
        _ => usage(),
    };
    std::process::exit(code);
}
