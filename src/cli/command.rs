//! The frame an agent-talking command runs in: parse its Go-style flags
//! plus the general ones (`-address`, `-no-color`), print `-help`, build
//! the [`Ctx`] (agent, output format, colour), run the body on a small
//! runtime, print its text or its error.
//!
//! Errors are one line on stderr and exit status 1: an unknown flag names
//! the flag and where the help is; the body's error prints as `{:#}`
//! (an ambiguous prefix keeps its list of matches, as Nomad prints it).
//! A body may return [`Exit`] for a status other than 0 with output.

use std::future::Future;
use std::process::ExitCode;

use super::api::Api;
use super::flags::{self, FlagError, Kind, Parsed};
use super::output::{emit, Format, Style};

/// What a command body gets.
pub struct Ctx {
    pub api: Api,
    pub flags: Parsed,
    /// The words after the flags.
    pub args: Vec<String>,
    pub format: Format,
    pub style: Style,
}

/// Text to print and the status to exit with.
pub struct Exit {
    pub text: String,
    pub code: u8,
}

impl From<String> for Exit {
    fn from(text: String) -> Exit {
        Exit { text, code: 0 }
    }
}

/// The flags every command takes besides its own.
pub const GENERAL_FLAGS: &[(&str, Kind)] = &[("address", Kind::Value), ("no-color", Kind::Bool)];

/// Runs `body` for `drover <name> <words>`; `spec` lists the command's
/// own flags (add [`super::output::FORMAT_FLAGS`] for `-json`/`-t`/`-verbose`).
pub fn run<F, Fut, T>(
    name: &str,
    words: &[String],
    spec: &[(&'static str, Kind)],
    help: &str,
    body: F,
) -> ExitCode
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Into<Exit>,
{
    let mut all = spec.to_vec();
    all.extend_from_slice(GENERAL_FLAGS);
    all.extend_from_slice(super::tls_client::AGENT_FLAGS);
    let parsed = match flags::parse(words, &all) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            emit(help.trim_end());
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("Error: {msg} (see 'drover {name} -help')");
            return ExitCode::from(1);
        }
    };
    let format = match Format::from_flags(&parsed) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let style = Style::detect(parsed.bool("no-color", false));
    let api = match Api::connect(&parsed) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let args = parsed.args.clone();
    let ctx = Ctx {
        api,
        flags: parsed,
        args,
        format,
        style,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(body(ctx)) {
        Ok(out) => {
            let out: Exit = out.into();
            if !out.text.is_empty() {
                emit(out.text.trim_end_matches('\n'));
            }
            ExitCode::from(out.code)
        }
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}

/// A subcommand's entry point: its words, its exit status.
pub type Sub = fn(&[String]) -> ExitCode;

/// Dispatches `drover <group> <sub> ...` to the subcommand named, printing
/// `usage` for `-help` or no subcommand, and an error for an unknown one.
pub fn dispatch(group: &str, args: &[String], usage: &str, subs: &[(&str, Sub)]) -> ExitCode {
    let Some((sub, rest)) = args.split_first() else {
        eprintln!("{}", usage.trim_end());
        return ExitCode::from(1);
    };
    if matches!(sub.as_str(), "-h" | "-help" | "--help" | "--h" | "help") {
        emit(usage.trim_end());
        return ExitCode::SUCCESS;
    }
    match subs.iter().find(|(n, _)| n == sub) {
        Some((_, f)) => f(rest),
        None => {
            eprintln!("Error: unknown subcommand: {group} {sub} (see 'drover {group} -help')");
            ExitCode::from(1)
        }
    }
}
