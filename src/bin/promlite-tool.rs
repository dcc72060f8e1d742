//! promlite-tool: the promtool-compatible command-line tool.

fn main() {
    eprintln!("promlite-tool: no commands yet");
    std::process::exit(1);
}
