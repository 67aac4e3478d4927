//! The `drover` binary: the agent and the CLI in one.
//!
//! This is glue (see ARCHITECTURE.md): argument parsing here, everything
//! else in the crates. Errors reach the user as one line, `{:#}`, never a
//! backtrace.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the state machine's write path is allocation-heavy, and under
/// churn (event log ageing out, allocations updated) it measured ahead of
/// glibc malloc in `cargo bench -p drover-state`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    about = "A cluster scheduler that speaks Nomad's v1 HTTP API",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version of this binary.
    Version,
    /// Run a Drover agent (server, client, or both with -dev).
    Agent(AgentArgs),
}

#[derive(Debug, clap::Args)]
struct AgentArgs {
    /// A server and a client in one process, with data in a temporary directory.
    #[arg(long = "dev", short_alias = 'd', alias = "d")]
    dev: bool,
}

fn version() -> String {
    format!("Drover v{}", env!("CARGO_PKG_VERSION"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().map(normalize_go_flag).collect();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!("{}", version());
            Ok(())
        }
        Command::Agent(args) => {
            let mode = if args.dev { "agent -dev" } else { "agent" };
            anyhow::bail!("`drover {mode}` is not yet implemented: the server lands with issue B (Raft, HTTP /v1)")
        }
    }
}

/// Nomad's CLI takes Go-style single-dash long flags (`-dev`, `-data-dir`).
/// Rewrite `-name` to `--name` so clap accepts both spellings.
fn normalize_go_flag(arg: String) -> String {
    let is_go_long = arg.starts_with('-') && !arg.starts_with("--") && arg.len() > 2;
    if is_go_long {
        format!("-{arg}")
    } else {
        arg
    }
}
