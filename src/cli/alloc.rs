//! `drover alloc exec|logs|attach|signal|restart|stop`, after Nomad's
//! `nomad alloc` commands: same flags, same messages, same exit codes.
//!
//! Each subcommand parses its Go-style flags, resolves the allocation by
//! prefix and the task, then does one thing. Errors are printed once, on
//! stderr, as sentences; exit status 1 (or the remote command's status).

use std::process::ExitCode;

use serde_json::json;

use super::api::{self, Api};
use super::flags::{self, FlagError, Kind};
use super::logs::{self, LogsRequest};
use super::session::{self, End, Options};
use super::term;

const USAGE: &str = "\
Usage: drover alloc <subcommand> [options] [args]

  Interact with allocations.

Subcommands:
    attach     Connect to a running task's own stdin, stdout and stderr
    exec       Execute commands in a task
    logs       Stream the logs of a task
    restart    Restart a running allocation or task
    signal     Signal a running allocation or task
    status     Display allocation status information and metadata
    stop       Stop and reschedule a running allocation

Every subcommand accepts -address=<addr>: the agent's HTTP address.
Without it, DROVER_ADDR, then NOMAD_ADDR, then http://127.0.0.1:4646.
Run 'drover alloc <subcommand> -help' for a subcommand's options.";

/// Runs `drover alloc <args>` (the words after `alloc`, exactly as typed:
/// Go-style flags are not rewritten, so a command's own `-la` survives).
pub fn run(args: Vec<String>) -> ExitCode {
    let Some((sub, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(1);
    };
    let command: &Command = match sub.as_str() {
        "-h" | "-help" | "--help" | "--h" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        "status" => return super::alloc_status::status(rest),
        "exec" => &EXEC,
        "attach" => &ATTACH,
        "logs" => &LOGS,
        "signal" => &SIGNAL,
        "restart" => &RESTART,
        "stop" => &STOP,
        other => {
            eprintln!("Unknown subcommand: alloc {other}\n\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    let mut words = rest.to_vec();
    if sub == "exec" {
        // `-it`/`-ti`, as docker and Nomad accept.
        words = words
            .into_iter()
            .flat_map(|w| match w.as_str() {
                "-it" | "-ti" => vec!["-i".to_string(), "-t".to_string()],
                _ => vec![w],
            })
            .collect();
        // Only flags before the allocation: the command's own words stay.
    }
    let mut spec = command.flags.to_vec();
    spec.push(("address", Kind::Value));
    spec.extend_from_slice(super::tls_client::AGENT_FLAGS);
    let parsed = match flags::parse(&words, &spec) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            println!("{}", command.help.trim_end());
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("{msg}\n\n{}", command.help.trim_end());
            return ExitCode::from(1);
        }
    };
    let api = match Api::connect(&parsed) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on((command.run)(api, parsed, command.help));
    // The stdin reader may be parked in a read(2) that never returns.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}

type RunFn = fn(
    Api,
    flags::Parsed,
    &'static str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<ExitCode>>>>;

struct Command {
    flags: &'static [(&'static str, Kind)],
    help: &'static str,
    run: RunFn,
}

/// exec and attach take the same terminal session flags.
const SESSION_FLAGS: &[(&str, Kind)] = &[
    ("task", Kind::Value),
    ("i", Kind::Bool),
    ("t", Kind::Bool),
    ("e", Kind::Value),
];

static EXEC: Command = Command {
    flags: SESSION_FLAGS,
    help: super::help::EXEC,
    run: |api, p, help| Box::pin(exec(api, p, help)),
};

static ATTACH: Command = Command {
    flags: SESSION_FLAGS,
    help: super::help::ATTACH,
    run: |api, p, help| Box::pin(attach(api, p, help)),
};

static LOGS: Command = Command {
    flags: &[
        ("task", Kind::Value),
        ("f", Kind::Bool),
        ("stderr", Kind::Bool),
        ("stdout", Kind::Bool),
        ("tail", Kind::Bool),
        ("n", Kind::Value),
        ("c", Kind::Value),
    ],
    help: super::help::LOGS,
    run: |api, p, help| Box::pin(logs_cmd(api, p, help)),
};

static SIGNAL: Command = Command {
    flags: &[("task", Kind::Value), ("s", Kind::Value)],
    help: super::help::SIGNAL,
    run: |api, p, help| Box::pin(signal(api, p, help)),
};

static RESTART: Command = Command {
    flags: &[("task", Kind::Value), ("all-tasks", Kind::Bool)],
    help: super::help::RESTART,
    run: |api, p, help| Box::pin(restart(api, p, help)),
};

static STOP: Command = Command {
    flags: &[("detach", Kind::Bool), ("no-shutdown-delay", Kind::Bool)],
    help: super::help::STOP,
    run: |api, p, help| Box::pin(stop(api, p, help)),
};

/// A usage error: the message, then the command's help.
fn usage(msg: &str, help: &str) -> anyhow::Error {
    anyhow::anyhow!("{msg}\n\n{}", help.trim_end())
}

fn int_flag(p: &flags::Parsed, name: &str) -> anyhow::Result<Option<i64>> {
    p.int(name).map_err(|e| match e {
        FlagError::Bad(m) => anyhow::anyhow!(m),
        FlagError::Help => anyhow::anyhow!("bad -{name}"),
    })
}

/// `-e`: one character, or `none`.
fn escape_char(p: &flags::Parsed) -> anyhow::Result<Option<u8>> {
    let e = p.str("e", "~");
    match e.as_bytes() {
        b"none" | b"" => Ok(None),
        [c] => Ok(Some(*c)),
        _ => anyhow::bail!("-e requires 'none' or a single character"),
    }
}

fn ws_base(api: &Api) -> String {
    if let Some(rest) = api.base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = api.base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        api.base.clone()
    }
}

/// Exit status for a session's end: the remote code (modulo 256, as the
/// kernel would), or 1 for a failed or cut session (Nomad's CLI).
fn session_exit(end: End) -> ExitCode {
    match end {
        End::Exited(code) => ExitCode::from((code & 0xff) as u8),
        End::Disconnected => ExitCode::from(1),
        End::Interrupted(why) => {
            eprintln!("failed to exec into task: {why}");
            ExitCode::from(1)
        }
        End::Failed(msg) => {
            eprintln!("failed to exec into task: {msg}");
            ExitCode::from(1)
        }
    }
}

async fn exec(api: Api, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let Some((alloc_arg, command)) = p.args.split_first() else {
        return Err(usage("An allocation ID is required", help));
    };
    if command.is_empty() {
        return Err(usage("A command is required", help));
    }
    let stdin = p.bool("i", true);
    let tty = p.bool("t", term::is_tty(0) && term::is_tty(1));
    if tty && !stdin {
        anyhow::bail!("-i must be enabled if running with tty");
    }
    let escape = escape_char(&p)?;
    let alloc = api.alloc_by_prefix(alloc_arg).await?;
    let task_flag = p.given("task").then(|| p.str("task", ""));
    let task = api::pick_task(&alloc, task_flag.as_deref())?;
    let id = alloc["ID"].as_str().unwrap_or_default();
    let command = serde_json::to_string(command)?;
    let url = format!(
        "{}/v1/client/allocation/{id}/exec?task={}&command={}&tty={tty}",
        ws_base(&api),
        api::form_urlencoded(&task),
        api::form_urlencoded(&command),
    );
    let end = session::run(Options {
        url,
        tty,
        stdin,
        escape,
        tls: api.ws_tls.clone(),
        token: api.token.clone(),
    })
    .await;
    Ok(session_exit(end))
}

async fn attach(api: Api, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let (alloc_arg, task_arg) = alloc_and_task(&p, help)?;
    let stdin = p.bool("i", true);
    // Unlike exec, a tty is opt-in: the task's own stdio is usually pipes,
    // and raw mode over a pipe would only echo nothing.
    let tty = p.bool("t", false);
    if tty && !stdin {
        anyhow::bail!("-i must be enabled if running with tty");
    }
    let escape = escape_char(&p)?;
    let alloc = api.alloc_by_prefix(&alloc_arg).await?;
    let task = api::pick_task(&alloc, task_arg.as_deref())?;
    let id = alloc["ID"].as_str().unwrap_or_default();
    let url = format!(
        "{}/v1/client/allocation/{id}/attach?task={}&tty={tty}",
        ws_base(&api),
        api::form_urlencoded(&task),
    );
    let end = session::run(Options {
        url,
        tty,
        stdin,
        escape,
        tls: api.ws_tls.clone(),
        token: api.token.clone(),
    })
    .await;
    // Detaching (`~.`, Ctrl-C without a tty, SIGTERM) is the normal way
    // to leave a task that keeps running: status 0.
    Ok(match end {
        End::Exited(code) => ExitCode::from((code & 0xff) as u8),
        End::Disconnected | End::Interrupted(_) => ExitCode::SUCCESS,
        End::Failed(msg) => {
            eprintln!("failed to attach to task: {msg}");
            ExitCode::from(1)
        }
    })
}

/// `ALLOC [task]` with `-task` as the other way to name the task.
fn alloc_and_task(p: &flags::Parsed, help: &str) -> anyhow::Result<(String, Option<String>)> {
    match p.args.as_slice() {
        [] => Err(usage("An allocation ID is required", help)),
        [alloc] => Ok((alloc.clone(), p.given("task").then(|| p.str("task", "")))),
        [alloc, task] => {
            if p.given("task") && p.str("task", "") != *task {
                return Err(usage("Task given both as -task and as an argument", help));
            }
            if task.is_empty() {
                anyhow::bail!("Task name required");
            }
            Ok((alloc.clone(), Some(task.clone())))
        }
        _ => Err(usage("This command takes one or two arguments", help)),
    }
}

async fn logs_cmd(api: Api, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let (alloc_arg, task_arg) = alloc_and_task(&p, help)?;
    let lines = int_flag(&p, "n")?;
    let bytes = int_flag(&p, "c")?;
    let alloc = api.alloc_by_prefix(&alloc_arg).await?;
    let task = api::pick_task(&alloc, task_arg.as_deref())
        .map_err(|e| anyhow::anyhow!("Failed to validate task: {e:#}"))?;
    let req = LogsRequest {
        alloc_id: alloc["ID"].as_str().unwrap_or_default().to_string(),
        task,
        follow: p.bool("f", false),
        stderr: p.bool("stderr", false),
        tail: p.bool("tail", false),
        lines,
        bytes,
    };
    tokio::select! {
        r = logs::run(&api, &req, p.bool("stdout", false)) => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn signal(api: Api, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let (alloc_arg, task_arg) = alloc_and_task(&p, help)?;
    let alloc = api.alloc_by_prefix(&alloc_arg).await?;
    // No task means every task in the allocation, as in Nomad.
    let task = match task_arg {
        Some(t) => api::pick_task(&alloc, Some(&t))?,
        None => String::new(),
    };
    let id = alloc["ID"].as_str().unwrap_or_default();
    let sig = p.str("s", "SIGKILL");
    api.put(
        &format!("/v1/client/allocation/{id}/signal"),
        &json!({"Signal": sig, "Task": task}),
    )
    .await
    .map_err(|e| anyhow::anyhow!("Error signalling allocation: {e:#}"))?;
    Ok(ExitCode::SUCCESS)
}

async fn restart(api: Api, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let (alloc_arg, task_arg) = alloc_and_task(&p, help)?;
    let all_tasks = p.bool("all-tasks", false);
    if all_tasks && task_arg.is_some() {
        anyhow::bail!("The -all-tasks option is not allowed when restarting a specific task.");
    }
    let alloc = api.alloc_by_prefix(&alloc_arg).await?;
    let task = match task_arg {
        Some(t) => api::pick_task(&alloc, Some(&t))?,
        None => String::new(),
    };
    let id = alloc["ID"].as_str().unwrap_or_default();
    let target = if task.is_empty() {
        "allocation".to_string()
    } else {
        format!("task {task:?}")
    };
    api.put(
        &format!("/v1/client/allocation/{id}/restart"),
        &json!({"TaskName": task, "AllTasks": all_tasks}),
    )
    .await
    .map_err(|e| anyhow::anyhow!("Failed to restart {target}:\n\n{e:#}"))?;
    Ok(ExitCode::SUCCESS)
}

async fn stop(api: Api, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let [alloc_arg] = p.args.as_slice() else {
        return Err(usage("This command takes one argument: <alloc-id>", help));
    };
    let alloc = api.alloc_by_prefix(alloc_arg).await?;
    let id = alloc["ID"].as_str().unwrap_or_default();
    let query = if p.bool("no-shutdown-delay", false) {
        "?no_shutdown_delay=true"
    } else {
        ""
    };
    let resp = api
        .put(&format!("/v1/allocation/{id}/stop{query}"), &json!({}))
        .await
        .map_err(|e| anyhow::anyhow!("Error stopping allocation: {e:#}"))?;
    let eval = resp["EvalID"].as_str().unwrap_or_default().to_string();
    if p.bool("detach", false) || eval.is_empty() {
        println!("{eval}");
        return Ok(ExitCode::SUCCESS);
    }
    super::monitor::eval(&api, &eval).await
}
