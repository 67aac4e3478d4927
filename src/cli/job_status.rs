//! `drover job status|allocs|deployments`, after Nomad's
//! `command/job_status.go`, `job_allocs.go` and `job_deployments.go`: the
//! job list, one job's header, summary, latest deployment and
//! allocations, and the job's allocation and deployment lists.

use std::process::ExitCode;

use anyhow::anyhow;
use serde_json::{json, Value};

use super::api::form_urlencoded;
use super::flags::{self, Kind};
use super::job::{
    format_time, int_of, job_list_table, kv, limit, row, status_string, str_of, usage, Command, Ctx,
};
use super::job_help as help;
use super::job_monitor::format_deployment;
use super::output::{emit, table, Style};
use super::views::{alloc_list, alloc_metrics, deployment_groups};

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
    run: |ctx, p, name| Box::pin(status(ctx, p, name)),
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
    run: |ctx, p, name| Box::pin(allocs(ctx, p, name)),
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
    run: |ctx, p, name| Box::pin(deployments(ctx, p, name)),
    error_code: 1,
};

/// Prints `v` as `-json` or `-t` asked; false when neither was given.
pub fn print_formatted(ctx: &Ctx, v: &Value) -> anyhow::Result<bool> {
    match ctx.formatted(v)? {
        Some(text) => {
            emit(&text);
            Ok(true)
        }
        None => Ok(false),
    }
}

fn wants_formatted(ctx: &Ctx) -> bool {
    ctx.format.json || ctx.format.template.is_some()
}

/// The one `<job>` argument.
pub fn job_arg<'a>(p: &'a flags::Parsed, name: &str) -> anyhow::Result<&'a str> {
    match p.args.as_slice() {
        [one] => Ok(one.trim()),
        _ => Err(usage("This command takes one argument: <job>", name)),
    }
}

async fn status(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let verbose = p.bool("verbose", false);
    let all_allocs = p.bool("all-allocs", false);
    if p.args.len() > 1 {
        return Err(usage(
            "This command takes either no arguments or one: <job>",
            &name,
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
        } else if wants_formatted(&ctx) {
            let mut out = Vec::new();
            for j in &jobs {
                let ctx = ctx.in_namespace(&str_of(j, "Namespace"));
                out.push(job_json(&ctx, &str_of(j, "ID"), all_allocs).await?);
            }
            print_formatted(&ctx, &Value::Array(out))?;
        } else {
            println!("{}", job_list_table(&jobs, ctx.all_namespaces()));
        }
        return Ok(ExitCode::SUCCESS);
    };
    let job = ctx.job(prefix.trim()).await?;
    let id = str_of(&job, "ID");
    if wants_formatted(&ctx) {
        let out = job_json(&ctx, &id, all_allocs).await?;
        print_formatted(&ctx, &Value::Array(vec![out]))?;
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
            let failed = e["FailedTGAllocs"]
                .as_object()
                .is_some_and(|m| !m.is_empty());
            rows.push(vec![
                limit(&str_of(e, "ID"), verbose).to_string(),
                int_of(e, "Priority").to_string(),
                str_of(e, "TriggeredBy"),
                str_of(e, "Status"),
                failed.to_string(),
            ]);
        }
        println!("\n{}\n{}", ctx.style.title("Evaluations"), table(&rows));
    }
    let blocked = evals.iter().any(|e| e["Status"] == "blocked");
    let latest_failed = evals
        .iter()
        .filter(|e| {
            e["FailedTGAllocs"]
                .as_object()
                .is_some_and(|m| !m.is_empty())
        })
        .max_by_key(|e| int_of(e, "CreateIndex"));
    if let (true, Some(e)) = (blocked, latest_failed) {
        println!("\n{}", ctx.style.title("Placement Failure"));
        if let Some(failures) = e["FailedTGAllocs"].as_object() {
            let mut lines = Vec::new();
            for (tg, m) in failures {
                let n = int_of(m, "CoalescedFailures") + 1;
                let noun = if n > 1 { "allocations" } else { "allocation" };
                lines.push(format!("Task Group {tg:?} (failed to place {n} {noun}):"));
                lines.push(alloc_metrics(m, &ctx.style, false, "  "));
            }
            println!("{}", lines.join("\n"));
        }
    }
    let latest = ctx
        .get(&format!("/v1/job/{enc}/deployment"))
        .await
        .map_err(|e| anyhow!("Error querying latest job deployment: {e:#}"))?;
    if latest.is_object() {
        println!(
            "\n{}\n{}",
            ctx.style.title("Latest Deployment"),
            status_deployment(&latest, verbose, &ctx.style)
        );
    }
    let allocs = job_allocs(&ctx, &enc, all_allocs).await?;
    println!(
        "\n{}\n{}",
        ctx.style.title("Allocations"),
        alloc_list(&allocs, &ctx.format)
    );
    Ok(ExitCode::SUCCESS)
}

/// The job status's deployment block: ID, status, description, groups.
fn status_deployment(d: &Value, verbose: bool, style: &Style) -> String {
    let head = kv(&[
        ("ID", limit(&str_of(d, "ID"), verbose).to_string()),
        ("Status", str_of(d, "Status")),
        ("Description", str_of(d, "StatusDescription")),
    ]);
    if d["TaskGroups"].as_object().is_some_and(|g| !g.is_empty()) {
        return format!(
            "{head}\n\n{}\n{}",
            style.title("Deployed"),
            deployment_groups(d)
        );
    }
    head
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
            table(&[
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
    println!("\n{}\n{}", ctx.style.title("Summary"), table(&rows));
    Ok(())
}

/// The children of a periodic or parameterized job.
async fn children(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let kids = ctx
        .get(&format!(
            "/v1/jobs?prefix={}",
            form_urlencoded(&format!("{id}/"))
        ))
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
    rows.extend(
        kids.iter()
            .map(|k| vec![str_of(k, "ID"), str_of(k, "Status")]),
    );
    println!("\nPreviously Launched Jobs\n{}", table(&rows));
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

async fn allocs(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let id = ctx.job_id(job_arg(&p, &name)?).await?;
    let allocs = job_allocs(&ctx, &form_urlencoded(&id), p.bool("all", false)).await?;
    if wants_formatted(&ctx) {
        print_formatted(&ctx, &Value::Array(allocs))?;
        return Ok(ExitCode::SUCCESS);
    }
    if allocs.is_empty() {
        println!("No allocations found for job {id:?}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", alloc_list(&allocs, &ctx.format));
    Ok(ExitCode::SUCCESS)
}

async fn deployments(ctx: Ctx, p: flags::Parsed, name: String) -> anyhow::Result<ExitCode> {
    let id = ctx.job_id(job_arg(&p, &name)?).await?;
    let enc = form_urlencoded(&id);
    let verbose = p.bool("verbose", false);
    if p.bool("latest", false) {
        let d = ctx
            .get(&format!("/v1/job/{enc}/deployment"))
            .await
            .map_err(|e| anyhow!("Error retrieving deployments: {e:#}"))?;
        if wants_formatted(&ctx) {
            print_formatted(&ctx, &d)?;
        } else if d.is_object() {
            println!("{}", format_deployment(&d, verbose, &ctx.style));
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
    if wants_formatted(&ctx) {
        print_formatted(&ctx, &Value::Array(ds))?;
        return Ok(ExitCode::SUCCESS);
    }
    if ds.is_empty() {
        println!("No deployments found for job {id:?}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![row(&[
        "ID",
        "Job ID",
        "Job Version",
        "Status",
        "Description",
    ])];
    for d in &ds {
        rows.push(vec![
            limit(&str_of(d, "ID"), verbose).to_string(),
            str_of(d, "JobID"),
            int_of(d, "JobVersion").to_string(),
            str_of(d, "Status"),
            str_of(d, "StatusDescription"),
        ]);
    }
    println!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}
