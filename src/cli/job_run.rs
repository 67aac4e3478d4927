//! `drover job run|plan|validate`, after Nomad's `command/job_run.go`,
//! `job_plan.go` and `job_validate.go`: read a job file (HCL parsed by the
//! agent's `PUT /v1/jobs/parse` with the `-var`/`-var-file` values, or
//! JSON with `-json`), then register, plan or validate it.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use super::api::form_urlencoded;
use super::flags::{self, Kind};
use super::job::{str_of, usage, Command, Ctx};
use super::{job_diff, job_help as help, job_monitor};

/// The flags that say how to read a job file.
const SOURCE_FLAGS: [(&str, Kind); 3] = [
    ("var", Kind::Value),
    ("var-file", Kind::Value),
    ("json", Kind::Bool),
];

pub static RUN: Command = Command {
    flags: &[
        SOURCE_FLAGS[0],
        SOURCE_FLAGS[1],
        SOURCE_FLAGS[2],
        ("detach", Kind::Bool),
        ("check-index", Kind::Value),
        ("verbose", Kind::Bool),
    ],
    help: help::RUN,
    run: |ctx, p, name| Box::pin(run(ctx, p, name)),
    error_code: 1,
};

pub static PLAN: Command = Command {
    flags: &[
        SOURCE_FLAGS[0],
        SOURCE_FLAGS[1],
        SOURCE_FLAGS[2],
        ("diff", Kind::Bool),
        ("verbose", Kind::Bool),
    ],
    help: help::PLAN,
    run: |ctx, p, name| Box::pin(plan(ctx, p, name)),
    error_code: 255,
};

pub static VALIDATE: Command = Command {
    flags: &SOURCE_FLAGS,
    help: help::VALIDATE,
    run: |ctx, p, name| Box::pin(validate(ctx, p, name)),
    error_code: 1,
};

/// The one `<path>` argument of run, plan and validate.
fn path_arg<'a>(p: &'a flags::Parsed, name: &str) -> anyhow::Result<&'a str> {
    match p.args.as_slice() {
        [one] => Ok(one),
        _ => Err(usage("This command takes one argument: <path>", name)),
    }
}

/// The job a file describes, as the agent's JSON job. Region and namespace
/// left unset in the file come from `-region`/`-namespace` (or their
/// environment variables), as Nomad's API client fills them.
pub async fn load_job(ctx: &Ctx, p: &flags::Parsed, path: &str) -> anyhow::Result<Value> {
    let text = read_source(path)?;
    let name = if path == "-" { "<stdin>" } else { path };
    let mut job = if p.bool("json", false) {
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("Error parsing job file {name}: {e}"))?;
        match v.get("Job") {
            Some(inner) if inner.is_object() => inner.clone(),
            _ => v,
        }
    } else {
        let variables = variables(p)?;
        let body = json!({"JobHCL": text, "Variables": variables, "Canonicalize": false});
        ctx.put("/v1/jobs/parse", &body).await.map_err(|e| {
            anyhow!(
                "Error parsing job file {name}: {}",
                agent_message(&format!("{e:#}"))
            )
        })?
    };
    if !job.is_object() {
        bail!("Error parsing job file {name}: not a job object");
    }
    for (field, given) in [("Region", &ctx.region), ("Namespace", &ctx.namespace)] {
        let unset = job[field].as_str().is_none_or(str::is_empty);
        if let (true, Some(v)) = (unset, given) {
            job[field] = json!(v);
        }
    }
    Ok(job)
}

/// The agent's own words from an `Unexpected response code: 400 (...)`
/// error, so a parse error reads as one line naming the problem.
fn agent_message(err: &str) -> String {
    err.strip_prefix("Unexpected response code: 400 (")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(err)
        .to_string()
}

fn read_source(path: &str) -> anyhow::Result<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("Error reading job from stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| anyhow!("Error reading job file {path}: {e}"))
}

/// `-var-file` contents, then each `-var key=value` as an HCL attribute:
/// numbers and booleans as they are, anything else as a string.
fn variables(p: &flags::Parsed) -> anyhow::Result<String> {
    let mut out = String::new();
    for file in p.all("var-file") {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| anyhow!("Error reading variable file {file}: {e}"))?;
        out.push_str(&text);
        out.push('\n');
    }
    for var in p.all("var") {
        let Some((k, v)) = var.split_once('=') else {
            bail!("Invalid -var {var:?}: expected key=value");
        };
        let k = k.trim();
        let literal = v.parse::<f64>().is_ok() || v == "true" || v == "false";
        if literal {
            out.push_str(&format!("{k} = {v}\n"));
        } else {
            out.push_str(&format!("{k} = {}\n", json!(v)));
        }
    }
    Ok(out)
}

async fn run(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let path = path_arg(&p, &name)?;
    let job = load_job(&ctx, &p, path).await?;
    let verbose = p.bool("verbose", false);
    let mut body = json!({"Job": job});
    if p.given("check-index") {
        let raw = p.str("check-index", "");
        let index: u64 = raw
            .parse()
            .map_err(|e| anyhow!("Error parsing check-index value {raw:?}: {e}"))?;
        body["EnforceIndex"] = json!(true);
        body["JobModifyIndex"] = json!(index);
    }
    let resp = match ctx.put("/v1/jobs", &body).await {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("{e:#}");
            let lower = msg.to_ascii_lowercase();
            if let Some(at) = lower.find("enforcing job modify index") {
                let detail = msg[at..].trim_end_matches(')');
                bail!("{detail}\nJob not updated");
            }
            bail!("Error submitting job: {msg}");
        }
    };
    let warnings = str_of(&resp, "Warnings");
    if !warnings.is_empty() {
        println!("Job Warnings:\n{warnings}\n");
    }
    let eval_id = str_of(&resp, "EvalID");
    let periodic = !job["Periodic"].is_null() && job["Periodic"]["Enabled"] != false;
    let parameterized = !job["ParameterizedJob"].is_null();
    if p.bool("detach", false) || periodic || parameterized || eval_id.is_empty() {
        println!("Job registration successful");
        if !eval_id.is_empty() {
            println!("Evaluation ID: {eval_id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    job_monitor::monitor(&ctx, &eval_id, verbose).await
}

async fn plan(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let path = path_arg(&p, &name)?;
    let job = load_job(&ctx, &p, path).await?;
    let id = str_of(&job, "ID");
    let resp = ctx
        .put(
            &format!("/v1/job/{}/plan", form_urlencoded(&id)),
            &json!({"Job": job, "Diff": true}),
        )
        .await
        .map_err(|e| anyhow!("Error during plan: {e:#}"))?;
    let verbose = p.bool("verbose", false);
    if p.bool("diff", true) {
        println!(
            "{}\n",
            job_diff::format_job_diff(&resp["Diff"], verbose).trim()
        );
    }
    println!("Scheduler dry-run:");
    println!("{}", job_monitor::format_dry_run(&resp, &job, &ctx.style));
    println!();
    let warnings = str_of(&resp, "Warnings");
    if !warnings.is_empty() {
        println!("Job Warnings:\n{warnings}\n");
    }
    let mut run_args = String::new();
    for v in p.all("var") {
        run_args.push_str(&format!("-var={v:?} "));
    }
    for f in p.all("var-file") {
        run_args.push_str(&format!("-var-file={f:?} "));
    }
    if let Some(ns) = &ctx.namespace {
        run_args.push_str(&format!("-namespace={ns:?} "));
    }
    let index = resp["JobModifyIndex"].as_u64().unwrap_or_default();
    println!(
        "Job Modify Index: {index}\n\
         To submit the job with version verification run:\n\n\
         drover job run -check-index {index} {run_args}{path}\n\n\
         When running the job with the check-index flag, the job will only be run if the\n\
         job modify index given matches the server-side version. If the index has\n\
         changed, another user has modified the job and the plan's results are\n\
         potentially invalid."
    );
    Ok(ExitCode::from(plan_exit_code(&resp)))
}

/// Nomad's `getExitCode` (`command/job_plan.go`): 0 when the diff is empty
/// or no group would stop, place, migrate, replace or canary anything;
/// 1 otherwise.
fn plan_exit_code(resp: &Value) -> u8 {
    if resp["Diff"]["Type"] == "None" {
        return 0;
    }
    let updates = resp["Annotations"]["DesiredTGUpdates"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let changes = updates.values().any(|u| {
        ["Stop", "Place", "Migrate", "DestructiveUpdate", "Canary"]
            .iter()
            .map(|k| u[k].as_u64().unwrap_or_default())
            .sum::<u64>()
            > 0
    });
    u8::from(changes)
}

async fn validate(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let path = path_arg(&p, &name)?;
    let job = load_job(&ctx, &p, path).await?;
    let resp = ctx
        .put("/v1/validate/job", &json!({"Job": job}))
        .await
        .map_err(|e| anyhow!("Error validating job: {e:#}"))?;
    let errors: Vec<String> = resp["ValidationErrors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let warnings = str_of(&resp, "Warnings");
    if !errors.is_empty() || !str_of(&resp, "Error").is_empty() {
        let text = if errors.is_empty() {
            str_of(&resp, "Error")
        } else {
            errors
                .iter()
                .map(|e| format!("* {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        bail!("Job validation errors:\n{text}");
    }
    if !warnings.is_empty() {
        println!("Job Warnings:\n{warnings}\n");
    }
    println!("Job validation successful");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_exit_codes_follow_nomad() {
        assert_eq!(plan_exit_code(&json!({"Diff": {"Type": "None"}})), 0);
        let place = json!({"Diff": {"Type": "Added"},
            "Annotations": {"DesiredTGUpdates": {"g": {"Place": 2, "Ignore": 0}}}});
        assert_eq!(plan_exit_code(&place), 1);
        let inplace = json!({"Diff": {"Type": "Edited"},
            "Annotations": {"DesiredTGUpdates": {"g": {"InPlaceUpdate": 1}}}});
        assert_eq!(plan_exit_code(&inplace), 0);
    }

    #[test]
    fn parse_errors_keep_the_agents_words() {
        assert_eq!(
            agent_message("Unexpected response code: 400 (HCL syntax error at line 3)"),
            "HCL syntax error at line 3"
        );
        assert_eq!(agent_message("cannot reach"), "cannot reach");
    }
}
