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
    periodic force     Force the launch of a periodic job
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
    let command: &Command = match sub.as_str() {
        "-h" | "-help" | "--help" | "--h" | "help" => {
            println!("{USAGE}");
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
                &super::job_misc::PERIODIC_FORCE
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
    let parsed = match flags::parse(&rest, &spec) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            println!("{}", command.help.trim_end());
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("{msg}\n\n{}", command.help.trim_end());
            return ExitCode::from(command.error_code);
        }
    };
    let ctx = Ctx::new(&parsed);
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
    let result = runtime.block_on((command.run)(ctx, parsed, command.help));
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
    ("region", Kind::Value),
    ("namespace", Kind::Value),
];

pub type RunFn =
    fn(Ctx, flags::Parsed, &'static str) -> Pin<Box<dyn Future<Output = anyhow::Result<ExitCode>>>>;

/// One subcommand: its own flags, its help, what it does, and the exit
/// status of a usage or request error (1, or 255 for `job plan`, whose 1
/// means "changes").
pub struct Command {
    pub flags: &'static [(&'static str, Kind)],
    pub help: &'static str,
    pub run: RunFn,
    pub error_code: u8,
}

/// A usage error: the message, then the command's help.
pub fn usage(msg: &str, help: &str) -> anyhow::Error {
    anyhow!("{msg}\n\n{}", help.trim_end())
}

/// Which agent, region and namespace a command talks to.
pub struct Ctx {
    pub api: Api,
    pub region: Option<String>,
    pub namespace: Option<String>,
}

/// A flag's value, else the environment variable's, ignoring empty ones.
fn flag_or_env(p: &flags::Parsed, flag: &str, env: &str) -> Option<String> {
    p.given(flag)
        .then(|| p.str(flag, ""))
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
}

impl Ctx {
    fn new(p: &flags::Parsed) -> Ctx {
        Ctx {
            api: Api::new(api::address(
                p.given("address").then(|| p.str("address", "")),
            )),
            region: flag_or_env(p, "region", "NOMAD_REGION"),
            namespace: flag_or_env(p, "namespace", "NOMAD_NAMESPACE"),
        }
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
                    job_list_table(many)
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

/// Nomad's job list: `ID  Type  Priority  Status  Submit Date`
/// (`createStatusListOutput`, `command/job_status.go`).
pub fn job_list_table(jobs: &[Value]) -> String {
    let mut rows = vec![row(&["ID", "Type", "Priority", "Status", "Submit Date"])];
    for j in jobs {
        let mut kind = str_of(j, "Type");
        if j["Periodic"].as_bool() == Some(true) {
            kind.push_str("/periodic");
        }
        if j["ParameterizedJob"].as_bool() == Some(true) {
            kind.push_str("/parameterized");
        }
        rows.push(vec![
            str_of(j, "ID"),
            kind,
            int_of(j, "Priority").to_string(),
            status_string(j),
            format_time(int_of(j, "SubmitTime")),
        ]);
    }
    list(&rows)
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

pub fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Columns aligned with two spaces between them, trailing space trimmed
/// (the look of Nomad's `formatList`).
pub fn list(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let n = c.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(n),
                None => widths.push(n),
            }
        }
    }
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Key/value lines with the values aligned after ` = ` (Nomad's
/// `formatKV`).
pub fn kv(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<w$} = {v}").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Unix nanoseconds as an RFC 3339 UTC time; empty for zero, as Nomad's
/// `formatTime` shows nothing rather than the epoch.
pub fn format_time(nanos: i64) -> String {
    if nanos <= 0 {
        return String::new();
    }
    let secs = nanos.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (the well-known era-based conversion).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The first eight characters of an ID unless `-verbose` asked for all.
pub fn limit(id: &str, verbose: bool) -> &str {
    if verbose {
        id
    } else {
        api::short(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(format_time(0), "");
        assert_eq!(format_time(1_796_649_544_524_227_000), "2026-12-07T13:19:04Z");
        assert_eq!(format_time(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn lists_align_and_trim() {
        let rows = vec![row(&["ID", "Status"]), row(&["example", ""])];
        assert_eq!(list(&rows), "ID       Status\nexample");
        assert_eq!(
            kv(&[("ID", "x".into()), ("Status", "running".into())]),
            "ID     = x\nStatus = running"
        );
    }
}
