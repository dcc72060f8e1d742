//! The promlite server binary: parses flags, runs the server, maps the outcome
//! to upstream's exit codes in one place.

use promlite::cli::{self, Command};
use promlite::server;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let code = match cli::parse(args) {
        Ok(Command::Help) => {
            print!("{}", cli::spec::usage("promlite"));
            0
        }
        Ok(Command::Version) => {
            print!("{}", server::version_text());
            0
        }
        Ok(Command::Run(flags)) => match server::run(*flags) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("promlite: {e}");
                e.exit_code()
            }
        },
        Err(e) => {
            eprintln!("promlite: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
