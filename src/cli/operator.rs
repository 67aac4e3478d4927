//! `drover server members` and `drover operator raft
//! list-peers|transfer-leadership` and `snapshot save|restore`, after
//! Nomad's `command/server_members.go`, `command/operator_raft_list.go`,
//! `command/operator_raft_transfer.go` and
//! `command/operator_snapshot_*.go`: the same tables and messages, one
//! line on failure.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use super::api::{self, connect_error, Api};
use super::flags::{self, FlagError, Kind};
use super::output;

const OPERATOR_USAGE: &str = "\
Usage: drover operator <subcommand> [options] [args]

  Cluster operator commands.

Subcommands:
    raft list-peers             Display the current Raft peer configuration
    raft transfer-leadership    Hand leadership to another voter
    snapshot save               Save a snapshot of the state of the cluster
    snapshot restore            Restore a snapshot into the cluster";

const GENERAL: &str = "
General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.";

/// `drover server members [-address=...]`.
pub fn members(words: &[String]) -> ExitCode {
    let help = format!(
        "Usage: drover server members [options]\n\n  Display a list of the known servers and their status: alive when a\n  server answers the agent on its RPC port, failed otherwise.\n{GENERAL}\n\nExamples:\n\n  $ drover server members"
    );
    command(
        words,
        &help,
        "Error querying servers",
        |api, _| async move {
            let (members, leader) = tokio::join!(api.get("/v1/agent/members"), async {
                api.get("/v1/status/leader?stale=true").await.ok()
            });
            let members = members?;
            let leader = leader.as_ref().and_then(Value::as_str).unwrap_or_default();
            let mut rows = vec![[
                "Name",
                "Address",
                "Port",
                "Status",
                "Leader",
                "Raft Version",
                "Build",
                "Datacenter",
                "Region",
            ]
            .map(String::from)
            .to_vec()];
            let list = members["Members"].as_array().cloned().unwrap_or_default();
            for m in &list {
                let tag = |k: &str| m["Tags"][k].as_str().unwrap_or_default().to_string();
                let rpc = format!("{}:{}", tag("rpc_addr"), tag("port"));
                rows.push(vec![
                    s(&m["Name"]),
                    s(&m["Addr"]),
                    m["Port"].as_u64().unwrap_or(0).to_string(),
                    s(&m["Status"]),
                    (!leader.is_empty() && rpc == leader).to_string(),
                    tag("raft_vsn"),
                    tag("build"),
                    tag("dc"),
                    tag("region"),
                ]);
            }
            Ok(output::table(&rows))
        },
    )
}

/// `drover operator <args>`.
pub fn run(args: Vec<String>) -> ExitCode {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["raft", "list-peers", ..] => list_peers(&args[2..]),
        ["raft", "transfer-leadership", ..] => transfer_leadership(&args[2..]),
        ["snapshot", "save", ..] => snapshot_save(&args[2..]),
        ["snapshot", "restore", ..] => snapshot_restore(&args[2..]),
        [] | ["-h" | "-help" | "--help" | "help"] => {
            println!("{OPERATOR_USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "Unknown subcommand: operator {}\n\n{OPERATOR_USAGE}",
                args.join(" ")
            );
            ExitCode::from(1)
        }
    }
}

fn list_peers(words: &[String]) -> ExitCode {
    let help = format!(
        "Usage: drover operator raft list-peers [options]\n\n  Displays the current Raft peer configuration, as the leader has it.\n{GENERAL}\n\nExamples:\n\n  $ drover operator raft list-peers"
    );
    command(
        words,
        &help,
        "Failed to retrieve raft configuration",
        |api, _| async move {
            let config = api.get("/v1/operator/raft/configuration").await?;
            let mut rows = vec![["Node", "ID", "Address", "State", "Voter", "RaftProtocol"]
                .map(String::from)
                .to_vec()];
            for srv in config["Servers"].as_array().cloned().unwrap_or_default() {
                let state = if srv["Leader"] == true {
                    "leader"
                } else {
                    "follower"
                };
                rows.push(vec![
                    s(&srv["Node"]),
                    s(&srv["ID"]),
                    s(&srv["Address"]),
                    state.to_string(),
                    srv["Voter"].as_bool().unwrap_or(false).to_string(),
                    s(&srv["RaftProtocol"]),
                ]);
            }
            Ok(output::table(&rows))
        },
    )
}

/// `drover operator raft transfer-leadership -peer-id ID | -peer-address
/// ADDR`: `PUT /v1/operator/raft/transfer-leadership` with `id` or
/// `address`, one of the two and not both, as Nomad's command requires.
fn transfer_leadership(words: &[String]) -> ExitCode {
    let help = format!(
        "Usage: drover operator raft transfer-leadership [options]\n\n  Hands the cluster's leadership to another voter, named by its Raft ID\n  or its RPC address, and returns once that server leads.\n\nTransfer Leadership Options:\n\n  -peer-id=<id>\n    The Raft ID of the server to lead, as 'drover operator raft list-peers'\n    shows it.\n\n  -peer-address=<ip:port>\n    The RPC address of the server to lead.\n{GENERAL}\n\nExamples:\n\n  $ drover operator raft transfer-leadership -peer-address 10.0.0.2:4647"
    );
    let spec = [("peer-id", Kind::Value), ("peer-address", Kind::Value)];
    command_with(
        words,
        &spec,
        &help,
        "Error transferring leadership",
        |api, parsed| async move {
            if !parsed.args.is_empty() {
                bail!("This command takes no arguments");
            }
            let query = match (parsed.given("peer-id"), parsed.given("peer-address")) {
                (true, false) => format!("id={}", api::form_urlencoded(&parsed.str("peer-id", ""))),
                (false, true) => format!(
                    "address={}",
                    api::form_urlencoded(&parsed.str("peer-address", ""))
                ),
                (true, true) => bail!("Only one of -peer-id or -peer-address may be given"),
                (false, false) => bail!("One of -peer-id or -peer-address is required"),
            };
            let out = api
                .put(
                    &format!("/v1/operator/raft/transfer-leadership?{query}"),
                    &Value::Null,
                )
                .await?;
            let to = format!("{} ({})", s(&out["To"]["ID"]), s(&out["To"]["Address"]));
            if out["Noop"] == true {
                return Ok(format!("Server {to} is already the leader"));
            }
            Ok(format!("Transferred leadership to server {to}"))
        },
    )
}

fn snapshot_save(words: &[String]) -> ExitCode {
    let help = format!(
        "Usage: drover operator snapshot save [options] <file>\n\n  Saves the state of the cluster, as the leader holds it, to <file>.\n{GENERAL}\n\nExamples:\n\n  $ drover operator snapshot save backup.snap"
    );
    command(
        words,
        &help,
        "Error saving snapshot",
        |api, args| async move {
            let [file] = args.as_slice() else {
                bail!("This command takes one argument: <file>");
            };
            let r = api
                .http
                .get(api.url("/v1/operator/snapshot"))
                .send()
                .await
                .map_err(|e| anyhow!("{}", connect_error(&api.base, &e)))?;
            let status = r.status();
            let bytes = r.bytes().await.context("reading the snapshot")?;
            if !status.is_success() {
                bail!("{}", String::from_utf8_lossy(&bytes).trim());
            }
            // Written beside the target and renamed, so a failed save never
            // leaves half a snapshot under the name asked for.
            let tmp = format!("{file}.tmp");
            std::fs::write(&tmp, &bytes).with_context(|| format!("writing {tmp}"))?;
            std::fs::rename(&tmp, file).with_context(|| format!("renaming {tmp} to {file}"))?;
            Ok(format!("State file written to {file}"))
        },
    )
}

fn snapshot_restore(words: &[String]) -> ExitCode {
    let help = format!(
        "Usage: drover operator snapshot restore [options] <file>\n\n  Restores a snapshot saved with 'drover operator snapshot save' into\n  the cluster.\n{GENERAL}\n\nExamples:\n\n  $ drover operator snapshot restore backup.snap"
    );
    command(
        words,
        &help,
        "Error restoring snapshot",
        |api, args| async move {
            let [file] = args.as_slice() else {
                bail!("This command takes one argument: <file>");
            };
            let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
            let r = api
                .http
                .put(api.url("/v1/operator/snapshot"))
                .body(bytes)
                .send()
                .await
                .map_err(|e| anyhow!("{}", connect_error(&api.base, &e)))?;
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            if !status.is_success() {
                bail!("{}", text.trim());
            }
            Ok("Snapshot Restored".to_string())
        },
    )
}

/// Parse `-address`, run `body` against the agent on a small runtime,
/// print its text or `prefix: error` on one line.
fn command<F, Fut>(words: &[String], help: &str, prefix: &str, body: F) -> ExitCode
where
    F: FnOnce(Api, Vec<String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    command_with(words, &[], help, prefix, |api, parsed| {
        body(api, parsed.args)
    })
}

/// [`command`] with the command's own flags (`spec`) beside `-address`.
fn command_with<F, Fut>(
    words: &[String],
    spec: &[(&'static str, Kind)],
    help: &str,
    prefix: &str,
    body: F,
) -> ExitCode
where
    F: FnOnce(Api, flags::Parsed) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let spec: Vec<(&'static str, Kind)> = [("address", Kind::Value)]
        .into_iter()
        .chain(super::tls_client::AGENT_FLAGS.iter().copied())
        .chain(spec.iter().copied())
        .collect();
    let parsed = match flags::parse(words, &spec) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            println!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("{msg}\n\n{help}");
            return ExitCode::from(1);
        }
    };
    let api = match Api::connect(&parsed) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("{prefix}: {e:#}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{prefix}: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(body(api, parsed)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("{prefix}: {line}");
            ExitCode::from(1)
        }
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
