//! promlite-tool: the promtool-compatible command-line tool. A thin
//! dispatcher; every command lives in `promlite::promtool`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(promlite::promtool::main_with_args(
        std::env::args_os().skip(1).collect(),
    ))
}
