//! The promlite server binary: parses flags, runs the server, maps the outcome
//! to upstream's exit codes.

fn main() {
    eprintln!("promlite: server not wired yet");
    std::process::exit(1);
}
