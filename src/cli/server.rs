//! `drover server join`, after Nomad's `nomad server join`
//! (`command/server_join.go`): ask the local agent to join the cluster of
//! the servers named, by their RPC addresses.

use std::process::ExitCode;

use super::api::{form_urlencoded, Api};
use super::flags::{self, FlagError, Kind};

const USAGE: &str = "\
Usage: drover server <subcommand> [options] [args]

  Commands for managing Drover servers.

Subcommands:
    join       Join server nodes together
    members    Display a list of the known servers and their status

Run 'drover server <subcommand> -help' for a subcommand's options.";

const JOIN_HELP: &str = "\
Usage: drover server join [options] <addr> [<addr>...]

  Joins the local server to one or more servers of a cluster. Each <addr>
  is a server's RPC address (host or host:port, port 4647 by default). The
  local server is added as a non-voter, catches up, and becomes a voter;
  the command returns once it is one. An address of a server that belongs
  to no cluster yet is remembered towards bootstrap_expect.

General Options:

  -address=<addr>
    The address of the local agent's HTTP API. Without it, DROVER_ADDR,
    then NOMAD_ADDR, then http://127.0.0.1:4646.

Examples:

  $ drover server join 10.0.0.2:4647";

/// Runs `drover server <args>`.
pub fn run(args: Vec<String>) -> ExitCode {
    let Some((sub, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(1);
    };
    match sub.as_str() {
        "-h" | "-help" | "--help" | "--h" | "help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        "join" => join(rest),
        "members" => super::operator::members(rest),
        other => {
            eprintln!("Unknown subcommand: server {other}\n\n{USAGE}");
            ExitCode::from(1)
        }
    }
}

fn join(words: &[String]) -> ExitCode {
    let mut spec = vec![("address", Kind::Value)];
    spec.extend_from_slice(super::tls_client::AGENT_FLAGS);
    let parsed = match flags::parse(words, &spec) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            println!("{JOIN_HELP}");
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("{msg}\n\n{JOIN_HELP}");
            return ExitCode::from(1);
        }
    };
    if parsed.args.is_empty() {
        eprintln!("One or more node addresses must be given as arguments\n\n{JOIN_HELP}");
        return ExitCode::from(1);
    }
    let api = match Api::connect(&parsed) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("Error joining: {e:#}");
            return ExitCode::from(1);
        }
    };
    let query: Vec<String> = parsed
        .args
        .iter()
        .map(|a| format!("address={}", form_urlencoded(a)))
        .collect();
    let path = format!("/v1/agent/join?{}", query.join("&"));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error joining: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let answer = runtime.block_on(api.put(&path, &serde_json::Value::Null));
    match answer {
        Err(e) => {
            eprintln!("Error joining: {e:#}");
            ExitCode::from(1)
        }
        Ok(v) => match v["error"].as_str().filter(|e| !e.is_empty()) {
            Some(e) => {
                eprintln!("Error joining: {e}");
                ExitCode::from(1)
            }
            None => {
                let n = v["num_joined"].as_u64().unwrap_or(0);
                println!("Joined {n} servers successfully");
                ExitCode::SUCCESS
            }
        },
    }
}
