//! promtool's `check rules` and `test rules`, with upstream's output and exit codes.
