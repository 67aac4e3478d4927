//! `drover job status|allocs|deployments`, after Nomad's
//! `command/job_status.go`, `job_allocs.go` and `job_deployments.go`: the
//! job list, one job's header, summary, latest deployment and
//! allocations, and the job's allocation and deployment lists.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::api::form_urlencoded;
use super::flags::{self, Kind};
use super::job::{
    format_time, int_of, job_list_table, kv, limit, list, row, status_string, str_of, usage,
    Command, Ctx,
};
use super::job_help as help;
use super::job_monitor::format_deployment;

pub static STATUS: Command = Command {
    flags: &[
        ("short", Kind::Bool),
        ("verbose", Kind::Bool),
        ("json", Kind::Bool),
        ("t", Kind::Value),
        ("all-allocs", Kind::Bool),
        ("evals", Kind::Bool),
    ],
    help: help::STATUS,
    run: |ctx, p, help| Box::pin(status(ctx, p, help)),
    error_code: 1,
};

pub static ALLOCS: Command = Command {
    flags: &[
        ("all", Kind::Bool),
        ("verbose", Kind::Bool),
        ("json", Kind::Bool),
        ("t", Kind::Value),
    ],
    help: help::ALLOCS,
    run: |ctx, p, help| Box::pin(allocs(ctx, p, help)),
    error_code: 1,
};

pub static DEPLOYMENTS: Command = Command {
    flags: &[
        ("latest", Kind::Bool),
        ("all", Kind::Bool),
        ("verbose", Kind::Bool),
        ("json", Kind::Bool),
        ("t", Kind::Value),
    ],
    help: help::DEPLOYMENTS,
    run: |ctx, p, help| Box::pin(deployments(ctx, p, help)),
    error_code: 1,
};

/// Prints `v` as indented JSON for `-json`; `-t` needs the template
/// engine, which these commands do not have yet.
pub fn print_formatted(p: &flags::Parsed, v: &Value) -> anyhow::Result<()> {
    if p.given("t") {
        bail!("-t templates are not supported by this command yet; use -json");
    }
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn wants_formatted(p: &flags::Parsed) -> bool {
    p.bool("json", false) || p.given("t")
}

/// The one `<job>` argument.
pub fn job_arg<'a>(p: &'a flags::Parsed, help: &str) -> anyhow::Result<&'a str> {
    match p.args.as_slice() {
        [one] => Ok(one.trim()),
        _ => Err(usage("This command takes one argument: <job>", help)),
    }
}

async fn status(ctx: Ctx, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let verbose = p.bool("verbose", false);
    let all_allocs = p.bool("all-allocs", false);
    if p.args.len() > 1 {
        return Err(usage(
            "This command takes either no arguments or one: <job>",
            help,
        ));
    }
    let Some(prefix) = p.args.first() else {
        let jobs = ctx
            .get("/v1/jobs")
            .await
            .map_err(|e| anyhow!("Error querying jobs: {e:#}"))?;
        let jobs = jobs.as_array().cloned().unwrap_or_default();
        if jobs.is_empty() {
            println!("No running jobs");
        } else if wants_formatted(&p) {
            let mut out = Vec::new();
            for j in &jobs {
                out.push(job_json(&ctx, &str_of(j, "ID"), all_allocs).await?);
            }
            print_formatted(&p, &Value::Array(out))?;
        } else {
            println!("{}", job_list_table(&jobs));
        }
        return Ok(ExitCode::SUCCESS);
    };
    let job = ctx.job(prefix.trim()).await?;
    let id = str_of(&job, "ID");
    if wants_formatted(&p) {
        let out = job_json(&ctx, &id, all_allocs).await?;
        print_formatted(&p, &Value::Array(vec![out]))?;
        return Ok(ExitCode::SUCCESS);
    }
    let periodic = !job["Periodic"].is_null() && job["Periodic"]["Enabled"] != false;
    let parameterized = !job["ParameterizedJob"].is_null();
    let datacenters: Vec<&str> = job["Datacenters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut header = vec![
        ("ID", id.clone()),
        ("Name", str_of(&job, "Name")),
        ("Submit Date", format_time(int_of(&job, "SubmitTime"))),
        ("Type", str_of(&job, "Type")),
        ("Priority", int_of(&job, "Priority").to_string()),
        ("Datacenters", datacenters.join(",")),
        ("Namespace", str_of(&job, "Namespace")),
        ("Node Pool", str_of(&job, "NodePool")),
        ("Status", status_string(&job)),
        ("Periodic", periodic.to_string()),
        ("Parameterized", parameterized.to_string()),
    ];
    let token = str_of(&job, "DispatchIdempotencyToken");
    if !token.is_empty() {
        header.push(("Idempotency Token", token));
    }
    println!("{}", kv(&header));
    if p.bool("short", false) {
        return Ok(ExitCode::SUCCESS);
    }
    let enc = form_urlencoded(&id);
    summary(&ctx, &enc, periodic || parameterized).await?;
    if periodic || parameterized {
        children(&ctx, &id).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let evals = ctx
        .get(&format!("/v1/job/{enc}/evaluations"))
        .await
        .map_err(|e| anyhow!("Error querying job evaluations: {e:#}"))?;
    let evals = evals.as_array().cloned().unwrap_or_default();
    if verbose || p.bool("evals", false) {
        let mut rows = vec![row(&[
            "ID",
            "Priority",
            "Triggered By",
            "Status",
            "Placement Failures",
        ])];
        for e in &evals {
            let failed = e["FailedTGAllocs"].as_object().is_some_and(|m| !m.is_empty());
            rows.push(vec![
                limit(&str_of(e, "ID"), verbose).to_string(),
                int_of(e, "Priority").to_string(),
                str_of(e, "TriggeredBy"),
                str_of(e, "Status"),
                failed.to_string(),
            ]);
        }
        println!("\nEvaluations\n{}", list(&rows));
    }
    let blocked = evals.iter().any(|e| e["Status"] == "blocked");
    let latest_failed = evals
        .iter()
        .filter(|e| e["FailedTGAllocs"].as_object().is_some_and(|m| !m.is_empty()))
        .max_by_key(|e| int_of(e, "CreateIndex"));
    if let (true, Some(e)) = (blocked, latest_failed) {
        println!("\nPlacement Failure");
        if let Some(failures) = e["FailedTGAllocs"].as_object() {
            let mut lines = Vec::new();
            for (tg, m) in failures {
                let n = int_of(m, "CoalescedFailures") + 1;
                let noun = if n > 1 { "allocations" } else { "allocation" };
                lines.push(format!("Task Group {tg:?} (failed to place {n} {noun}):"));
                lines.push(super::job_monitor::format_alloc_metrics(m, "  "));
            }
            println!("{}", lines.join("\n"));
        }
    }
    let latest = ctx
        .get(&format!("/v1/job/{enc}/deployment"))
        .await
        .map_err(|e| anyhow!("Error querying latest job deployment: {e:#}"))?;
    if latest.is_object() {
        println!("\nLatest Deployment\n{}", status_deployment(&latest, verbose));
    }
    let allocs = job_allocs(&ctx, &enc, all_allocs).await?;
    println!("\nAllocations\n{}", alloc_list(&allocs, verbose));
    Ok(ExitCode::SUCCESS)
}

/// The job status's deployment block: ID, status, description, groups.
fn status_deployment(d: &Value, verbose: bool) -> String {
    let full = format_deployment(d, verbose);
    let head = kv(&[
        ("ID", limit(&str_of(d, "ID"), verbose).to_string()),
        ("Status", str_of(d, "Status")),
        ("Description", str_of(d, "StatusDescription")),
    ]);
    match full.split_once("\n\nDeployed\n") {
        Some((_, groups)) => format!("{head}\n\nDeployed\n{groups}"),
        None => head,
    }
}

async fn summary(ctx: &Ctx, enc: &str, parent: bool) -> anyhow::Result<()> {
    let s = ctx
        .get(&format!("/v1/job/{enc}/summary"))
        .await
        .map_err(|e| anyhow!("Error querying job summary: {e:#}"))?;
    if parent {
        let c = &s["Children"];
        println!(
            "\nChildren Job Summary\n{}",
            list(&[
                row(&["Pending", "Running", "Dead"]),
                vec![
                    int_of(c, "Pending").to_string(),
                    int_of(c, "Running").to_string(),
                    int_of(c, "Dead").to_string(),
                ],
            ])
        );
        return Ok(());
    }
    let cols = [
        "Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown",
    ];
    let mut header = vec!["Task Group"];
    header.extend(cols);
    let mut rows = vec![row(&header)];
    for (tg, counts) in s["Summary"].as_object().into_iter().flatten() {
        let mut r = vec![tg.clone()];
        r.extend(cols.iter().map(|c| int_of(counts, c).to_string()));
        rows.push(r);
    }
    println!("\nSummary\n{}", list(&rows));
    Ok(())
}

/// The children of a periodic or parameterized job.
async fn children(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let kids = ctx
        .get(&format!("/v1/jobs?prefix={}", form_urlencoded(&format!("{id}/"))))
        .await
        .map_err(|e| anyhow!("Error querying job: {e:#}"))?;
    let kids: Vec<&Value> = kids
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["ParentID"] == id)
        .collect();
    if kids.is_empty() {
        println!("\nNo dispatched or launched instances found");
        return Ok(());
    }
    let mut rows = vec![row(&["ID", "Status"])];
    rows.extend(kids.iter().map(|k| vec![str_of(k, "ID"), str_of(k, "Status")]));
    println!("\nPreviously Launched Jobs\n{}", list(&rows));
    Ok(())
}

async fn job_allocs(ctx: &Ctx, enc: &str, all: bool) -> anyhow::Result<Vec<Value>> {
    let path = if all {
        format!("/v1/job/{enc}/allocations?all=true")
    } else {
        format!("/v1/job/{enc}/allocations")
    };
    let allocs = ctx
        .get(&path)
        .await
        .map_err(|e| anyhow!("Error querying job allocations: {e:#}"))?;
    Ok(allocs.as_array().cloned().unwrap_or_default())
}

/// Nomad's `JobJson`: what `job status -json` prints per job.
async fn job_json(ctx: &Ctx, id: &str, all: bool) -> anyhow::Result<Value> {
    let enc = form_urlencoded(id);
    let summary = ctx
        .get(&format!("/v1/job/{enc}/summary"))
        .await
        .map_err(|e| anyhow!("Error querying job summary: {e:#}"))?;
    let allocs = job_allocs(ctx, &enc, all).await?;
    let latest = ctx
        .get(&format!("/v1/job/{enc}/deployment"))
        .await
        .map_err(|e| anyhow!("Error querying latest job deployment: {e:#}"))?;
    let evals = ctx
        .get(&format!("/v1/job/{enc}/evaluations"))
        .await
        .map_err(|e| anyhow!("Error querying job evaluations: {e:#}"))?;
    Ok(json!({
        "Summary": summary,
        "Allocations": allocs,
        "LatestDeployment": latest,
        "Evaluations": evals,
    }))
}

/// "5s ago", "3m2s ago", "2h3m ago", "4d2h ago".
fn ago(nanos: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    if nanos <= 0 {
        return String::new();
    }
    let s = ((now - nanos) / 1_000_000_000).max(0);
    let text = match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    };
    format!("{text} ago")
}

/// Nomad's allocation list; relative times unless `verbose`.
pub fn alloc_list(allocs: &[Value], verbose: bool) -> String {
    if allocs.is_empty() {
        return "No allocations placed".into();
    }
    let mut rows = if verbose {
        vec![row(&[
            "ID",
            "Eval ID",
            "Node ID",
            "Node Name",
            "Task Group",
            "Version",
            "Desired",
            "Status",
            "Created",
            "Modified",
        ])]
    } else {
        vec![row(&[
            "ID",
            "Node ID",
            "Task Group",
            "Version",
            "Desired",
            "Status",
            "Created",
            "Modified",
        ])]
    };
    for a in allocs {
        let mut r = vec![str_of(a, "ID")];
        if verbose {
            r.push(str_of(a, "EvalID"));
            r.push(str_of(a, "NodeID"));
            r.push(str_of(a, "NodeName"));
        } else {
            r[0] = limit(&r[0], false).to_string();
            r.push(limit(&str_of(a, "NodeID"), false).to_string());
        }
        r.push(str_of(a, "TaskGroup"));
        r.push(int_of(a, "JobVersion").to_string());
        r.push(str_of(a, "DesiredStatus"));
        r.push(str_of(a, "ClientStatus"));
        if verbose {
            r.push(format_time(int_of(a, "CreateTime")));
            r.push(format_time(int_of(a, "ModifyTime")));
        } else {
            r.push(ago(int_of(a, "CreateTime")));
            r.push(ago(int_of(a, "ModifyTime")));
        }
        rows.push(r);
    }
    list(&rows)
}

async fn allocs(ctx: Ctx, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let id = ctx.job_id(job_arg(&p, help)?).await?;
    let allocs = job_allocs(&ctx, &form_urlencoded(&id), p.bool("all", false)).await?;
    if wants_formatted(&p) {
        print_formatted(&p, &Value::Array(allocs))?;
        return Ok(ExitCode::SUCCESS);
    }
    if allocs.is_empty() {
        println!("No allocations found for job {id:?}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", alloc_list(&allocs, p.bool("verbose", false)));
    Ok(ExitCode::SUCCESS)
}

async fn deployments(ctx: Ctx, p: flags::Parsed, help: &'static str) -> anyhow::Result<ExitCode> {
    let id = ctx.job_id(job_arg(&p, help)?).await?;
    let enc = form_urlencoded(&id);
    let verbose = p.bool("verbose", false);
    if p.bool("latest", false) {
        let d = ctx
            .get(&format!("/v1/job/{enc}/deployment"))
            .await
            .map_err(|e| anyhow!("Error retrieving deployments: {e:#}"))?;
        if wants_formatted(&p) {
            print_formatted(&p, &d)?;
        } else if d.is_object() {
            println!("{}", format_deployment(&d, verbose));
        } else {
            println!("No deployment found");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let list_all = ctx
        .get(&format!("/v1/job/{enc}/deployments"))
        .await
        .map_err(|e| anyhow!("Error retrieving deployments: {e:#}"))?;
    let ds = list_all.as_array().cloned().unwrap_or_default();
    if wants_formatted(&p) {
        print_formatted(&p, &Value::Array(ds))?;
        return Ok(ExitCode::SUCCESS);
    }
    if ds.is_empty() {
        println!("No deployments found for job {id:?}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![row(&["ID", "Job ID", "Job Version", "Status", "Description"])];
    for d in &ds {
        rows.push(vec![
            limit(&str_of(d, "ID"), verbose).to_string(),
            str_of(d, "JobID"),
            int_of(d, "JobVersion").to_string(),
            str_of(d, "Status"),
            str_of(d, "StatusDescription"),
        ]);
    }
    println!("{}", list(&rows));
    Ok(ExitCode::SUCCESS)
}
