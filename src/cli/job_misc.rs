//! The `drover job` commands that change or show one job by ID: stop,
//! inspect, history, revert, scale, dispatch, eval, periodic force, and
//! init (which writes a file). After Nomad's `command/job_stop.go`,
//! `job_inspect.go`, `job_history.go`, `job_revert.go`, `job_scale.go`,
//! `job_dispatch.go`, `job_eval.go`, `job_periodic_force.go` and
//! `job_init.go`. Those that create an evaluation follow it unless
//! `-detach` is given.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use base64::Engine;
use serde_json::{json, Value};

use super::api::form_urlencoded;
use super::flags::{self, Kind};
use super::job::{format_time, kv, limit, str_of, usage, Command, Ctx};
use super::job_help as help;
use super::job_monitor;
use super::job_status::{job_arg, print_formatted};
use super::output::{emit, pretty_json};

const DETACH: (&str, Kind) = ("detach", Kind::Bool);
const VERBOSE: (&str, Kind) = ("verbose", Kind::Bool);

pub static STOP: Command = Command {
    flags: &[("purge", Kind::Bool), ("yes", Kind::Bool), DETACH, VERBOSE],
    help: help::STOP,
    run: |ctx, p, name| Box::pin(stop(ctx, p, name)),
    error_code: 1,
};

pub static INSPECT: Command = Command {
    flags: &[
        ("version", Kind::Value),
        ("json", Kind::Bool),
        ("t", Kind::Value),
    ],
    help: help::INSPECT,
    run: |ctx, p, name| Box::pin(inspect(ctx, p, name)),
    error_code: 1,
};

pub static HISTORY: Command = Command {
    flags: &[
        ("p", Kind::Bool),
        ("version", Kind::Value),
        ("full", Kind::Bool),
        ("json", Kind::Bool),
        ("t", Kind::Value),
    ],
    help: help::HISTORY,
    run: |ctx, p, name| Box::pin(history(ctx, p, name)),
    error_code: 1,
};

pub static REVERT: Command = Command {
    flags: &[DETACH, VERBOSE],
    help: help::REVERT,
    run: |ctx, p, name| Box::pin(revert(ctx, p, name)),
    error_code: 1,
};

pub static SCALE: Command = Command {
    flags: &[DETACH, VERBOSE],
    help: help::SCALE,
    run: |ctx, p, name| Box::pin(scale(ctx, p, name)),
    error_code: 1,
};

pub static DISPATCH: Command = Command {
    flags: &[
        ("meta", Kind::Value),
        ("idempotency-token", Kind::Value),
        DETACH,
        VERBOSE,
    ],
    help: help::DISPATCH,
    run: |ctx, p, name| Box::pin(dispatch(ctx, p, name)),
    error_code: 1,
};

pub static EVAL: Command = Command {
    flags: &[("force-reschedule", Kind::Bool), DETACH, VERBOSE],
    help: help::EVAL,
    run: |ctx, p, name| Box::pin(eval(ctx, p, name)),
    error_code: 1,
};

pub static PERIODIC_FORCE: Command = Command {
    flags: &[DETACH, VERBOSE],
    help: help::PERIODIC_FORCE,
    run: |ctx, p, name| Box::pin(periodic_force(ctx, p, name)),
    error_code: 1,
};

pub static INIT: Command = Command {
    flags: &[("short", Kind::Bool)],
    help: help::INIT,
    run: |_ctx, p, name| Box::pin(async move { init(&p, &name) }),
    error_code: 1,
};

/// Follows `eval_id` unless `-detach`, when it prints `detached` instead.
async fn follow_or_detach(
    ctx: &Ctx,
    p: &flags::Parsed,
    eval_id: &str,
    detached: &str,
) -> anyhow::Result<ExitCode> {
    if p.bool("detach", false) || eval_id.is_empty() {
        if !detached.is_empty() {
            println!("{detached}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    job_monitor::monitor(ctx, eval_id, p.bool("verbose", false)).await
}

async fn stop(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let prefix = match p.args.as_slice() {
        [one] => one.trim(),
        _ => return Err(usage("This command takes one argument: <job>", &name)),
    };
    let id = ctx.job_id(prefix).await?;
    // Nomad asks when the prefix is not the job's exact ID.
    if id != prefix && !p.bool("yes", false) {
        print!("Are you sure you want to stop job {id:?}? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| anyhow!("Failed to parse answer: {e}"))?;
        match answer.trim() {
            "y" | "Y" | "yes" | "Yes" => {}
            "" | "n" | "N" | "no" | "No" => {
                println!("Cancelling job stop");
                return Ok(ExitCode::SUCCESS);
            }
            _ => {
                println!("For confirmation, an exact 'y' is required.");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    let purge = if p.bool("purge", false) {
        "?purge=true"
    } else {
        ""
    };
    let resp = ctx
        .delete(&format!("/v1/job/{}{purge}", form_urlencoded(&id)))
        .await
        .map_err(|e| anyhow!("Error deregistering job with id {id} err: {e:#}"))?;
    let eval_id = str_of(&resp, "EvalID");
    follow_or_detach(&ctx, &p, &eval_id, &eval_id).await
}

async fn inspect(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let prefix = job_arg(&p, &name)?;
    let id = ctx.job_id(prefix).await?;
    let enc = form_urlencoded(&id);
    let job = match p.int("version").map_err(|_| {
        anyhow!(
            "Error parsing version value {:?}: not a number",
            p.str("version", "")
        )
    })? {
        None => ctx
            .get(&format!("/v1/job/{enc}"))
            .await
            .map_err(|e| anyhow!("Error inspecting job: {e:#}"))?,
        Some(v) => version_of(&ctx, &enc, v).await?,
    };
    if !print_formatted(&ctx, &job)? {
        emit(&pretty_json(&json!({"Job": job})));
    }
    Ok(ExitCode::SUCCESS)
}

async fn versions(ctx: &Ctx, enc: &str, diffs: bool) -> anyhow::Result<Value> {
    let q = if diffs { "?diffs=true" } else { "" };
    ctx.get(&format!("/v1/job/{enc}/versions{q}"))
        .await
        .map_err(|e| anyhow!("Error retrieving job versions: {e:#}"))
}

async fn version_of(ctx: &Ctx, enc: &str, v: i64) -> anyhow::Result<Value> {
    let all = versions(ctx, enc, false).await?;
    all["Versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|j| j["Version"].as_i64() == Some(v))
        .cloned()
        .ok_or_else(|| anyhow!("job has no version {v}"))
}

async fn history(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let id = ctx.job_id(job_arg(&p, &name)?).await?;
    let enc = form_urlencoded(&id);
    let diff = p.bool("p", false);
    let full = p.bool("full", false);
    if (p.bool("json", false) || p.given("t")) && (diff || full) {
        bail!("-json and -t are exclusive with -p and -full");
    }
    let resp = versions(&ctx, &enc, diff).await?;
    let jobs = resp["Versions"].as_array().cloned().unwrap_or_default();
    let diffs = resp["Diffs"].as_array().cloned().unwrap_or_default();
    let want = match p.str("version", "").as_str() {
        "" => None,
        v => Some(
            v.parse::<i64>()
                .map_err(|e| anyhow!("Error parsing version value {v:?}: {e}"))?,
        ),
    };
    let mut shown = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        if want.is_some_and(|w| job["Version"].as_i64() != Some(w)) {
            continue;
        }
        if p.bool("json", false) || p.given("t") {
            shown.push(job.clone());
            continue;
        }
        if full {
            shown.push(json!(pretty_json(job)));
            continue;
        }
        let mut pairs = vec![
            (
                "Version",
                job["Version"].as_i64().unwrap_or_default().to_string(),
            ),
            (
                "Stable",
                job["Stable"].as_bool().unwrap_or_default().to_string(),
            ),
            (
                "Submit Date",
                format_time(job["SubmitTime"].as_i64().unwrap_or_default()),
            ),
        ];
        // Diffs[i] is version i against version i+1 (the one before it).
        if let Some(d) = diffs.get(i).filter(|_| diff && i + 1 < jobs.len()) {
            pairs.push((
                "Diff",
                format!("\n{}", super::job_diff::format_job_diff(d, false).trim()),
            ));
        }
        shown.push(json!(kv(&pairs)));
    }
    if want.is_some() && shown.is_empty() {
        bail!("job {id:?} has no version {}", want.unwrap_or_default());
    }
    if p.bool("json", false) || p.given("t") {
        print_formatted(&ctx, &Value::Array(shown))?;
        return Ok(ExitCode::SUCCESS);
    }
    let texts: Vec<&str> = shown.iter().filter_map(Value::as_str).collect();
    println!("{}", texts.join("\n\n"));
    Ok(ExitCode::SUCCESS)
}

async fn revert(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let [prefix, version] = p.args.as_slice() else {
        return Err(usage(
            "This command takes two arguments: <job> <version>",
            &name,
        ));
    };
    let version: u64 = version
        .parse()
        .map_err(|e| anyhow!("The job version must be a number, got {version:?}: {e}"))?;
    let id = ctx.job_id(prefix.trim()).await?;
    let resp = ctx
        .put(
            &format!("/v1/job/{}/revert", form_urlencoded(&id)),
            &json!({"JobID": id, "JobVersion": version}),
        )
        .await
        .map_err(|e| anyhow!("Error retrieving job versions: {e:#}"))?;
    let eval_id = str_of(&resp, "EvalID");
    follow_or_detach(&ctx, &p, &eval_id, &format!("Evaluation ID: {eval_id}")).await
}

async fn scale(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let (prefix, group, count) = match p.args.as_slice() {
        [j, c] => (j, None, c),
        [j, g, c] => (j, Some(g.clone()), c),
        _ => {
            return Err(usage(
                "Command requires at least two arguments and no more than three",
                &name,
            ))
        }
    };
    let count: i64 = count
        .parse()
        .map_err(|e| anyhow!("Failed to convert count string to int: {e}"))?;
    let job = ctx.job(prefix.trim()).await?;
    let id = str_of(&job, "ID");
    let group = match group {
        Some(g) => g,
        None => {
            let groups: Vec<String> = job["TaskGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| str_of(g, "Name"))
                .collect();
            match groups.as_slice() {
                [one] => one.clone(),
                _ => bail!(
                    "Job {id:?} has {} task groups; name the group to scale",
                    groups.len()
                ),
            }
        }
    };
    let resp = ctx
        .put(
            &format!("/v1/job/{}/scale", form_urlencoded(&id)),
            &json!({"Count": count, "Target": {"Group": group}}),
        )
        .await
        .map_err(|e| anyhow!("Error submitting scaling request: {e:#}"))?;
    let warnings = str_of(&resp, "Warnings");
    if !warnings.is_empty() {
        println!("Job Warnings:\n{warnings}\n");
    }
    let eval_id = str_of(&resp, "EvalID");
    if p.bool("detach", false) || eval_id.is_empty() {
        println!("Job scale successful");
        if !eval_id.is_empty() {
            println!("Evaluation ID: {eval_id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    job_monitor::monitor(&ctx, &eval_id, p.bool("verbose", false)).await
}

async fn dispatch(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let (prefix, input) = match p.args.as_slice() {
        [j] => (j, None),
        [j, i] => (j, Some(i.as_str())),
        _ => {
            return Err(usage(
                "This command takes one or two argument: <parameterized job> [input source]",
                &name,
            ))
        }
    };
    let payload = match input {
        None => Vec::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| anyhow!("Error reading input data: {e}"))?;
            buf
        }
        Some(path) => std::fs::read(path).map_err(|e| anyhow!("Error reading input data: {e}"))?,
    };
    let mut meta = serde_json::Map::new();
    for m in p.all("meta") {
        let Some((k, v)) = m.split_once('=') else {
            bail!("Error parsing meta value: {m}");
        };
        meta.insert(k.to_string(), json!(v));
    }
    let id = ctx.job_id(prefix.trim()).await?;
    let mut body = json!({"JobID": id, "Meta": meta});
    if !payload.is_empty() {
        body["Payload"] = json!(base64::engine::general_purpose::STANDARD.encode(&payload));
    }
    if p.given("idempotency-token") {
        body["IdempotencyToken"] = json!(p.str("idempotency-token", ""));
    }
    let resp = ctx
        .put(&format!("/v1/job/{}/dispatch", form_urlencoded(&id)), &body)
        .await
        .map_err(|e| anyhow!("Failed to dispatch job: {e:#}"))?;
    let verbose = p.bool("verbose", false);
    let eval_id = str_of(&resp, "EvalID");
    let mut pairs = vec![("Dispatched Job ID", str_of(&resp, "DispatchedJobID"))];
    if !eval_id.is_empty() {
        pairs.push(("Evaluation ID", limit(&eval_id, verbose).to_string()));
    }
    println!("{}", kv(&pairs));
    if p.bool("detach", false) || eval_id.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    job_monitor::monitor(&ctx, &eval_id, verbose).await
}

async fn eval(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let id = ctx.job_id(job_arg(&p, &name)?).await?;
    let resp = ctx
        .put(
            &format!("/v1/job/{}/evaluate", form_urlencoded(&id)),
            &json!({"JobID": id,
                "EvalOptions": {"ForceReschedule": p.bool("force-reschedule", false)}}),
        )
        .await
        .map_err(|e| anyhow!("Error evaluating job: {e:#}"))?;
    let eval_id = str_of(&resp, "EvalID");
    let verbose = p.bool("verbose", false);
    let detached = format!("Created eval ID: {:?} ", limit(&eval_id, verbose));
    follow_or_detach(&ctx, &p, &eval_id, &detached).await
}

async fn periodic_force(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let prefix = match p.args.as_slice() {
        [one] => one.trim(),
        _ => return Err(usage("This command takes one argument: <job id>", &name)),
    };
    let id = ctx.job_id(prefix).await?;
    let resp = ctx
        .put(
            &format!("/v1/job/{}/periodic/force", form_urlencoded(&id)),
            &json!({}),
        )
        .await
        .map_err(|e| anyhow!("Error forcing periodic job {id:?}: {e:#}"))?;
    let eval_id = str_of(&resp, "EvalID");
    let detached = format!("Force periodic successful\nEvaluation ID: {eval_id}");
    follow_or_detach(&ctx, &p, &eval_id, &detached).await
}

/// The example `job init` writes: a service job whose one task is a shell
/// loop under raw_exec, which a dev agent runs without Docker or network.
pub const EXAMPLE: &str = r#"# An example job: one group of two instances of a shell loop.
# Run it on a dev agent ('drover agent -dev') with
#   drover job run example.nomad.hcl
# and follow it with 'drover job status example'.
job "example" {
  # A long-running service (the other types are batch, system and sysbatch).
  type = "service"

  group "app" {
    # How many instances of this group to run.
    count = 2

    # Replace instances one at a time; an instance counts as healthy once
    # its task has been running for min_healthy_time.
    update {
      max_parallel     = 1
      min_healthy_time = "3s"
      healthy_deadline = "1m"
    }

    # raw_exec runs the command as a plain process; dev agents enable it.
    task "loop" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do echo alive; sleep 10; done"]
      }

      resources {
        cpu    = 100 # MHz
        memory = 64  # MB
      }
    }
  }
}
"#;

fn short_example() -> String {
    EXAMPLE
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| match l.find(" # ") {
            Some(at) => l[..at].trim_end(),
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\n\n\n", "\n\n")
        + "\n"
}

fn init(p: &flags::Parsed, name: &str) -> anyhow::Result<ExitCode> {
    let filename = match p.args.as_slice() {
        [] => "example.nomad.hcl",
        [one] => one.as_str(),
        _ => {
            return Err(usage(
                "This command takes either no arguments or one: <filename>",
                name,
            ))
        }
    };
    match std::fs::symlink_metadata(filename) {
        Ok(_) => bail!("Job '{filename}' already exists"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("Failed to stat '{filename}': {e}"),
    }
    let text = if p.bool("short", false) {
        short_example()
    } else {
        EXAMPLE.to_string()
    };
    std::fs::write(filename, text).map_err(|e| anyhow!("Failed to write '{filename}': {e}"))?;
    println!("Example job file written to {filename}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_example_has_no_comments() {
        let s = short_example();
        assert!(!s.contains('#') || !s.lines().any(|l| l.trim_start().starts_with('#')));
        assert!(!s.contains("# MHz"), "{s}");
        assert!(s.starts_with("job \"example\" {\n"), "{s}");
        assert!(!s.contains("\n\n\n"), "{s}");
    }
}
