//! `drover job <subcommand>`, after Nomad's `nomad job` commands
//! (`command/job_*.go`): the same names, flags, output and exit codes.
//!
//! This file dispatches: each subcommand names its flags, help text and
//! runner; the general options (`-address`, `-region`, `-namespace`) are
//! parsed here once and travel in a [`Ctx`]. Job IDs may be given as
//! unique prefixes, resolved by [`Ctx::job_id`] as Nomad's
//! `JobIDByPrefix` (`command/meta.go`) does.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::Value;

use super::api::{self, form_urlencoded, Api};
use super::flags::{self, FlagError, Kind};
use super::job_help as help;
use super::output::{emit, short_id, table, Format, Style};

pub use super::output::format_time;

const USAGE: &str = "\
Usage: drover job <subcommand> [options] [args]

  Interact with jobs: submit, plan, inspect, stop and follow them.

Subcommands:
    allocs             List allocations for a job
    deployments        List deployments for a job
    dispatch           Dispatch an instance of a parameterized job
    eval               Force an evaluation for the job
    history            Display all tracked versions of a job
    init               Create an example job file
    inspect            Inspect a submitted job
    periodic           Interact with periodic jobs
    plan               Dry-run a job update to determine its effects
    revert             Revert to a prior version of the job
    run                Run a new job or update an existing job
    scale              Change the count of a task group
    status             Display status information about a job
    stop               Stop a running job
    validate           Check a job specification for syntax errors

Every subcommand accepts -address, -region and -namespace.
Run 'drover job <subcommand> -help' for a subcommand's options.";

/// Runs `drover job <args>` (the words after `job`).
pub fn run(args: Vec<String>) -> ExitCode {
    // Output piped into `head` ends quietly, as with any Unix tool, rather
    // than as a failed print: these commands write nothing that matters
    // after their reader has gone.
    // SAFETY: restores the default disposition of one signal before any
    // thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let Some((sub, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(1);
    };
    let mut rest = rest.to_vec();
    let mut name = format!("job {sub}");
    let command: &Command = match sub.as_str() {
        "-h" | "-help" | "--help" | "--h" | "help" => {
            emit(USAGE);
            return ExitCode::SUCCESS;
        }
        "run" => &super::job_run::RUN,
        "plan" => &super::job_run::PLAN,
        "validate" => &super::job_run::VALIDATE,
        "status" => &super::job_status::STATUS,
        "stop" => &super::job_misc::STOP,
        "inspect" => &super::job_misc::INSPECT,
        "history" => &super::job_misc::HISTORY,
        "revert" => &super::job_misc::REVERT,
        "scale" => &super::job_misc::SCALE,
        "dispatch" => &super::job_misc::DISPATCH,
        "eval" => &super::job_misc::EVAL,
        "init" => &super::job_misc::INIT,
        "deployments" => &super::job_status::DEPLOYMENTS,
        "allocs" => &super::job_status::ALLOCS,
        "periodic" => match rest.first().map(String::as_str) {
            Some("force") => {
                rest.remove(0);
                name = "job periodic force".into();
                &super::job_misc::PERIODIC_FORCE
            }
            Some("-h" | "-help" | "--help" | "--h" | "help") => {
                emit(help::PERIODIC.trim_end());
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("{}", help::PERIODIC.trim_end());
                return ExitCode::from(1);
            }
        },
        other => {
            eprintln!("Unknown subcommand: job {other}\n\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    let mut spec = command.flags.to_vec();
    spec.extend_from_slice(GENERAL_FLAGS);
    spec.extend_from_slice(super::tls_client::AGENT_FLAGS);
    let parsed = match flags::parse(&rest, &spec) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            emit(command.help.trim_end());
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("Error: {msg} (see 'drover {name} -help')");
            return ExitCode::from(command.error_code);
        }
    };
    let ctx = match Ctx::new(&parsed) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(command.error_code);
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
    let result = runtime.block_on((command.run)(ctx, parsed, name));
    // A stdin reader (`job run -`) may be parked in a read that never ends.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(command.error_code)
        }
    }
}

/// The options every `job` subcommand takes (Nomad's `FlagSetClient`).
const GENERAL_FLAGS: &[(&str, Kind)] = &[
    ("address", Kind::Value),
    ("no-color", Kind::Bool),
    ("region", Kind::Value),
    ("namespace", Kind::Value),
];

/// A subcommand's body: the context, its flags, and its name for messages
/// (`job run`).
pub type RunFn =
    fn(Ctx, flags::Parsed, String) -> Pin<Box<dyn Future<Output = anyhow::Result<ExitCode>>>>;

/// One subcommand: its own flags, its help, what it does, and the exit
/// status of a usage or request error (1, or 255 for `job plan`, whose 1
/// means "changes").
pub struct Command {
    pub flags: &'static [(&'static str, Kind)],
    pub help: &'static str,
    pub run: RunFn,
    pub error_code: u8,
}

/// A usage error in one line, pointing at the command's help.
pub fn usage(msg: &str, name: &str) -> anyhow::Error {
    anyhow!("Error: {msg} (see 'drover {name} -help')")
}

/// Which agent, region and namespace a command talks to.
pub struct Ctx {
    pub api: Api,
    pub region: Option<String>,
    pub namespace: Option<String>,
    /// `-json`, `-t` and `-verbose` for the commands that print objects
    /// (`job run -json` reads its input as JSON instead, and ignores it).
    pub format: Format,
    pub style: Style,
}

impl Ctx {
    /// Whether the command covers every namespace (`-namespace '*'`).
    pub fn all_namespaces(&self) -> bool {
        self.namespace.as_deref() == Some("*")
    }

    /// The same agent, region and output, for one namespace: the reads
    /// of one job that a list over every namespace named.
    pub fn in_namespace(&self, namespace: &str) -> Ctx {
        Ctx {
            api: Api {
                base: self.api.base.clone(),
                http: self.api.http.clone(),
                ws_tls: self.api.ws_tls.clone(),
                token: self.api.token.clone(),
            },
            region: self.region.clone(),
            namespace: Some(namespace.to_string()),
            format: self.format.clone(),
            style: self.style,
        }
    }
}

/// A flag's value, else the environment variable's, ignoring empty ones.
fn flag_or_env(p: &flags::Parsed, flag: &str, env: &str) -> Option<String> {
    p.given(flag)
        .then(|| p.str(flag, ""))
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
}

impl Ctx {
    fn new(p: &flags::Parsed) -> anyhow::Result<Ctx> {
        Ok(Ctx {
            api: Api::connect(p)?,
            region: flag_or_env(p, "region", "NOMAD_REGION"),
            namespace: flag_or_env(p, "namespace", "NOMAD_NAMESPACE"),
            format: Format::from_flags(p)?,
            style: Style::detect(p.bool("no-color", false)),
        })
    }

    /// `value` as `-json` or `-t` asked; `None` when neither was given.
    pub fn formatted(&self, value: &Value) -> anyhow::Result<Option<String>> {
        self.format.data(value)
    }

    /// `path` with the region and namespace as query parameters, as Nomad's
    /// API client sends them on every request.
    pub fn path(&self, path: &str) -> String {
        let mut out = path.to_string();
        for (k, v) in [("region", &self.region), ("namespace", &self.namespace)] {
            if let Some(v) = v {
                out.push(if out.contains('?') { '&' } else { '?' });
                out.push_str(&format!("{k}={}", form_urlencoded(v)));
            }
        }
        out
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.api.get(&self.path(path)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.api.put(&self.path(path), body).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .api
            .http
            .delete(self.api.url(&self.path(path)))
            .send()
            .await
            .map_err(|e| anyhow!("{}", api::connect_error(&self.api.base, &e)))?;
        api::decode(r).await
    }

    /// The ID of the one job `prefix` names: an exact ID wins over longer
    /// IDs it prefixes; several matches are listed (Nomad's
    /// `JobIDByPrefix`, `command/meta.go`).
    pub async fn job_id(&self, prefix: &str) -> anyhow::Result<String> {
        let jobs = self
            .get(&format!(
                "/v1/jobs?prefix={}&per_page=20",
                form_urlencoded(prefix)
            ))
            .await
            .map_err(|e| anyhow!("Error querying job prefix {prefix:?}: {e:#}"))?;
        let jobs = jobs.as_array().cloned().unwrap_or_default();
        match jobs.as_slice() {
            [] => bail!("No job(s) with prefix or ID {prefix:?} found"),
            [one] => Ok(str_of(one, "ID")),
            [first, ..] if first["ID"] == prefix => Ok(prefix.to_string()),
            many => {
                let truncated = if many.len() >= 20 {
                    "\n(results may be truncated)"
                } else {
                    ""
                };
                bail!(
                    "Prefix {prefix:?} matched multiple jobs\n\n{}{truncated}",
                    job_list_table(many, self.all_namespaces())
                )
            }
        }
    }

    /// The job `prefix` names, in full.
    pub async fn job(&self, prefix: &str) -> anyhow::Result<Value> {
        let id = self.job_id(prefix).await?;
        self.get(&format!("/v1/job/{}", form_urlencoded(&id)))
            .await
            .map_err(|e| anyhow!("Error querying job {id:?}: {e:#}"))
    }
}

/// A string field of a JSON object, empty when absent.
pub fn str_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// An integer field of a JSON object, 0 when absent.
pub fn int_of(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_default()
}

/// Nomad's job list: `ID  Type  Priority  Status  Submit Date`, with a
/// `Namespace` column after the ID when the list covers every namespace
/// (`createStatusListOutput`, `command/job_status.go`).
pub fn job_list_table(jobs: &[Value], all_namespaces: bool) -> String {
    let mut header = vec!["ID", "Type", "Priority", "Status", "Submit Date"];
    if all_namespaces {
        header.insert(1, "Namespace");
    }
    let mut rows = vec![row(&header)];
    for j in jobs {
        let mut kind = str_of(j, "Type");
        if j["Periodic"].as_bool() == Some(true) {
            kind.push_str("/periodic");
        }
        if j["ParameterizedJob"].as_bool() == Some(true) {
            kind.push_str("/parameterized");
        }
        let mut cells = vec![
            str_of(j, "ID"),
            kind,
            int_of(j, "Priority").to_string(),
            status_string(j),
            format_time(int_of(j, "SubmitTime")),
        ];
        if all_namespaces {
            cells.insert(1, str_of(j, "Namespace"));
        }
        rows.push(cells);
    }
    table(&rows)
}

/// A job's status, with ` (stopped)` when it is stopped.
pub fn status_string(job: &Value) -> String {
    let status = str_of(job, "Status");
    if job["Stop"].as_bool() == Some(true) {
        format!("{status} (stopped)")
    } else {
        status
    }
}

/// A table row from string slices.
pub fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// A key/value block from pairs (values may hold `|`, which the shared
/// `Key|Value` form cannot).
pub fn kv(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| {
            let v = if v.trim().is_empty() { "<none>" } else { v };
            format!("{k:<width$} = {v}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first eight characters of an ID unless `-verbose` asked for all.
pub fn limit(id: &str, verbose: bool) -> &str {
    if verbose {
        id
    } else {
        short_id(id)
    }
}
