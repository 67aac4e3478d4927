//! `drover alloc exec|logs|attach|signal|restart|stop`. Stub.

use std::process::ExitCode;

/// Runs `drover alloc <args>` (the words after `alloc`, exactly as typed:
/// Go-style flags are not rewritten, so a command's own `-la` survives).
pub fn run(args: Vec<String>) -> ExitCode {
    let _ = args;
    eprintln!("Error: drover alloc is not built yet");
    ExitCode::from(1)
}
