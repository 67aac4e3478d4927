//! Following an evaluation and then its deployment, as `nomad job run`
//! does after submitting (Nomad's `command/monitor.go` and the deployment
//! watcher of `command/deployment_status.go`).
//!
//! The evaluation part prints one line per change: allocations created,
//! their status changes, the evaluation's status, placement failures. The
//! deployment part shows a block (status and a per-group table) that is
//! redrawn in place with a spinner when stdout is a terminal, and printed
//! again as plain lines whenever it changes otherwise. Ctrl-C ends the
//! watching only: the job keeps running.
//!
//! Exit status, as Nomad's monitor: 0 when everything was placed (and the
//! deployment, if any, succeeded), 2 when allocations could not be placed,
//! 1 when the deployment did not succeed or the agent failed us. A failed
//! placement is not followed into its deployment: that deployment cannot
//! progress until capacity appears, which may be never.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use serde_json::Value;

use super::job::{format_time, int_of, kv, limit, str_of, Ctx};
use super::output::Style;
use super::term;
use super::views::{alloc_list, alloc_metrics, deployment_groups};

/// How often the evaluation is polled (Nomad's `updateWait` is 1s; a
/// dev agent schedules in milliseconds, so we look sooner).
const EVAL_POLL: Duration = Duration::from_millis(250);

/// The deployment's blocking query wait; the spinner turns meanwhile.
const DEPLOY_WAIT: &str = "2s";

/// Follows evaluation `eval_id` (and the evaluations it chains to), then
/// its deployment. Ctrl-C stops watching and leaves the job alone.
pub async fn monitor(ctx: &Ctx, eval_id: &str, verbose: bool) -> anyhow::Result<ExitCode> {
    tokio::select! {
        r = follow(ctx, eval_id, verbose) => r,
        _ = tokio::signal::ctrl_c() => {
            // A redrawn block may have left the cursor mid-screen.
            println!();
            eprintln!("==> Stopped watching; the job is not affected by this interrupt");
            Ok(ExitCode::from(130))
        }
    }
}

async fn follow(ctx: &Ctx, eval_id: &str, verbose: bool) -> anyhow::Result<ExitCode> {
    let outcome = follow_evals(ctx, eval_id, verbose).await?;
    if outcome.failed_placement {
        return Ok(ExitCode::from(2));
    }
    let Some(deployment) = outcome.deployment else {
        return Ok(ExitCode::SUCCESS);
    };
    info(&format!(
        "Monitoring deployment {:?}",
        limit(&deployment, verbose)
    ));
    let status = watch_deployment(ctx, &deployment, verbose).await?;
    Ok(if status == "successful" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What watching the evaluations found.
struct EvalOutcome {
    failed_placement: bool,
    deployment: Option<String>,
}

/// What the monitor last saw of one allocation.
struct AllocSeen {
    client: String,
}

fn now_str() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    format_time(nanos)
}

/// `==> <time>: <msg>` (Nomad's info prefix).
fn info(msg: &str) {
    println!("==> {}: {msg}", now_str());
}

/// `    <time>: <msg>` (Nomad's output prefix).
fn output(msg: &str) {
    println!("    {}: {msg}", now_str());
}

async fn follow_evals(ctx: &Ctx, first: &str, verbose: bool) -> anyhow::Result<EvalOutcome> {
    let mut eval_id = first.to_string();
    loop {
        info(&format!(
            "Monitoring evaluation {:?}",
            limit(&eval_id, verbose)
        ));
        let mut status = String::new();
        let mut announced_trigger = false;
        let mut deployment = String::new();
        let mut allocs: BTreeMap<String, AllocSeen> = BTreeMap::new();
        let eval = loop {
            let eval = ctx
                .get(&format!("/v1/evaluation/{eval_id}"))
                .await
                .map_err(|e| anyhow!("No evaluation with id {eval_id:?} found: {e:#}"))?;
            if !announced_trigger {
                announced_trigger = true;
                let node = str_of(&eval, "NodeID");
                if !node.is_empty() {
                    output(&format!(
                        "Evaluation triggered by node {:?}",
                        limit(&node, verbose)
                    ));
                }
                let job = str_of(&eval, "JobID");
                if !job.is_empty() {
                    output(&format!("Evaluation triggered by job {job:?}"));
                }
            }
            let d = str_of(&eval, "DeploymentID");
            if deployment.is_empty() && !d.is_empty() {
                output(&format!(
                    "Evaluation within deployment: {:?}",
                    limit(&d, verbose)
                ));
                deployment = d;
            }
            let list = ctx
                .get(&format!("/v1/evaluation/{eval_id}/allocations"))
                .await
                .map_err(|e| anyhow!("Error reading allocations: {e:#}"))?;
            let eval_index = int_of(&eval, "CreateIndex");
            for a in list.as_array().into_iter().flatten() {
                let id = str_of(a, "ID");
                let client = str_of(a, "ClientStatus");
                match allocs.get_mut(&id) {
                    None => {
                        let what = if int_of(a, "CreateIndex") < eval_index {
                            "modified"
                        } else if str_of(a, "DesiredStatus") == "run" {
                            "created"
                        } else {
                            ""
                        };
                        if !what.is_empty() {
                            output(&format!(
                                "Allocation {:?} {what}: node {:?}, group {:?}",
                                limit(&id, verbose),
                                limit(&str_of(a, "NodeID"), verbose),
                                str_of(a, "TaskGroup")
                            ));
                        }
                        allocs.insert(id, AllocSeen { client });
                    }
                    Some(seen) if seen.client != client => {
                        let desc = str_of(a, "ClientDescription");
                        let desc = if desc.is_empty() {
                            desc
                        } else {
                            format!(" ({desc})")
                        };
                        output(&format!(
                            "Allocation {:?} status changed: {:?} -> {client:?}{desc}",
                            limit(&id, verbose),
                            seen.client
                        ));
                        seen.client = client;
                    }
                    Some(_) => {}
                }
            }
            let now = str_of(&eval, "Status");
            if !status.is_empty() && now != status {
                output(&format!("Evaluation status changed: {status:?} -> {now:?}"));
            }
            status = now;
            if matches!(
                status.as_str(),
                "complete" | "failed" | "canceled" | "cancelled"
            ) {
                break eval;
            }
            tokio::time::sleep(EVAL_POLL).await;
        };
        let failures = eval["FailedTGAllocs"]
            .as_object()
            .filter(|m| !m.is_empty())
            .cloned();
        let Some(failures) = failures else {
            info(&format!(
                "Evaluation {:?} finished with status {status:?}",
                limit(&eval_id, verbose)
            ));
            let next = str_of(&eval, "NextEval");
            if !next.is_empty() {
                eval_id = next;
                continue;
            }
            return Ok(EvalOutcome {
                failed_placement: false,
                deployment: (!deployment.is_empty()).then_some(deployment),
            });
        };
        info(&format!(
            "Evaluation {:?} finished with status {status:?} but failed to place all allocations:",
            limit(&eval_id, verbose)
        ));
        for (tg, metrics) in &failures {
            output(&failed_group_header(tg, metrics));
            for line in alloc_metrics(metrics, &ctx.style, false, "  ").lines() {
                println!("    {line}");
            }
        }
        let blocked = str_of(&eval, "BlockedEval");
        if !blocked.is_empty() {
            output(&format!(
                "Evaluation {:?} waiting for additional capacity to place remainder",
                limit(&blocked, verbose)
            ));
        }
        return Ok(EvalOutcome {
            failed_placement: true,
            deployment: None,
        });
    }
}

/// `Task Group "x" (failed to place N allocation(s)):`.
fn failed_group_header(tg: &str, metrics: &Value) -> String {
    let coalesced = int_of(metrics, "CoalescedFailures");
    let noun = if coalesced > 0 {
        "allocations"
    } else {
        "allocation"
    };
    format!(
        "Task Group {tg:?} (failed to place {} {noun}):",
        coalesced + 1
    )
}

/// The "Scheduler dry-run" part of `job plan` (Nomad's `formatDryRun`,
/// `command/job_plan.go`).
pub fn format_dry_run(resp: &Value, job: &Value, style: &Style) -> String {
    let mut out = String::new();
    let failures = resp["FailedTGAllocs"]
        .as_object()
        .filter(|m| !m.is_empty())
        .cloned();
    match failures {
        None => out.push_str("- All tasks successfully allocated.\n"),
        Some(failures) => {
            if job["Type"] == "system" {
                out.push_str("- WARNING: Failed to place allocations on all nodes.\n");
            } else {
                out.push_str("- WARNING: Failed to place all allocations.\n");
            }
            for (tg, metrics) in &failures {
                out.push_str(&format!("  {}\n", failed_group_header(tg, metrics)));
                out.push_str(&alloc_metrics(metrics, style, false, "    "));
                out.push_str("\n\n");
            }
        }
    }
    let rolling = resp["CreatedEvals"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["TriggeredBy"] == "rolling-update");
    if let Some(e) = rolling {
        let wait = Duration::from_nanos(e["Wait"].as_u64().unwrap_or_default());
        out.push_str(&format!(
            "- Rolling update, next evaluation will be in {wait:?}.\n"
        ));
    }
    let next = int_of(resp, "NextPeriodicLaunch");
    if next > 0 && job["ParameterizedJob"].is_null() {
        out.push_str(&format!(
            "- If submitted now, next periodic launch would be at {}.\n",
            format_time(next)
        ));
    }
    out.trim_end_matches('\n').to_string()
}

/// The deployment block: a key/value header and the per-group table
/// (Nomad's `formatDeployment`, `command/deployment_status.go`).
pub fn format_deployment(d: &Value, verbose: bool, style: &Style) -> String {
    let mut out = kv(&[
        ("ID", limit(&str_of(d, "ID"), verbose).to_string()),
        ("Job ID", str_of(d, "JobID")),
        ("Job Version", int_of(d, "JobVersion").to_string()),
        ("Status", str_of(d, "Status")),
        ("Description", str_of(d, "StatusDescription")),
    ]);
    if d["TaskGroups"].as_object().is_some_and(|g| !g.is_empty()) {
        out.push_str(&format!(
            "\n\n{}\n{}",
            style.title("Deployed"),
            deployment_groups(d)
        ));
    }
    out
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Watches a deployment until it ends; returns its final status.
async fn watch_deployment(ctx: &Ctx, id: &str, verbose: bool) -> anyhow::Result<String> {
    let tty = term::is_tty(1);
    let mut screen = Screen::default();
    let mut index = 0u64;
    let mut last_block = String::new();
    let mut spin = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut deploy: Option<Value> = None;
    let mut fetch = Box::pin(fetch_deployment(ctx, id.to_string(), index));
    loop {
        tokio::select! {
            got = &mut fetch => {
                let (d, new_index) = got?;
                index = new_index;
                deploy = Some(d);
                fetch = Box::pin(fetch_deployment(ctx, id.to_string(), index));
            }
            _ = ticker.tick(), if tty => {
                spin = (spin + 1) % SPINNER.len();
            }
        }
        let Some(d) = &deploy else { continue };
        let status = str_of(d, "Status");
        let block = format_deployment(d, verbose, &ctx.style);
        let done = matches!(
            status.as_str(),
            "successful" | "failed" | "cancelled" | "canceled" | "blocked"
        );
        let short = limit(id, verbose);
        if tty {
            let head = if !done {
                format!("  {} Deployment {short:?} in progress...", SPINNER[spin])
            } else if status == "successful" {
                format!("  ✓ Deployment {short:?} {status}")
            } else {
                format!("  ! Deployment {short:?} {status}")
            };
            let body = indent(&format!("\n{}\n{block}", now_str()), "    ");
            screen.draw(&format!("{head}\n{body}\n"));
        } else if block != last_block {
            println!("\n{}\n{block}", now_str());
        }
        last_block = block;
        if done {
            if status == "failed" && auto_reverts(d) {
                if let Some(rollback) = rollback_deployment(ctx, d).await? {
                    println!();
                    return Box::pin(watch_deployment(ctx, &rollback, verbose)).await;
                }
            }
            summarize(ctx, id).await;
            return Ok(status);
        }
    }
}

/// One blocking read of the deployment: the object and the index to wait
/// on next.
async fn fetch_deployment(ctx: &Ctx, id: String, index: u64) -> anyhow::Result<(Value, u64)> {
    let path = ctx.path(&format!(
        "/v1/deployment/{id}?index={index}&wait={DEPLOY_WAIT}&stale=true"
    ));
    let r = ctx
        .api
        .http
        .get(ctx.api.url(&path))
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "Error fetching deployment: {}",
                super::api::connect_error(&ctx.api.base, &e)
            )
        })?;
    let next = r
        .headers()
        .get("X-Nomad-Index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(index);
    let d = super::api::decode(r)
        .await
        .map_err(|e| anyhow!("Error fetching deployment: {e:#}"))?;
    Ok((d, next))
}

fn auto_reverts(d: &Value) -> bool {
    d["TaskGroups"]
        .as_object()
        .is_some_and(|g| g.values().any(|g| g["AutoRevert"] == true))
}

/// The deployment of the version a failed deployment rolled back to, once
/// the job has one that is not `d`.
async fn rollback_deployment(ctx: &Ctx, d: &Value) -> anyhow::Result<Option<String>> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let job = str_of(d, "JobID");
    let latest = ctx
        .get(&format!("/v1/job/{job}/deployment"))
        .await
        .map_err(|e| anyhow!("Error fetching deployment of previous job version: {e:#}"))?;
    let id = str_of(&latest, "ID");
    Ok((!id.is_empty() && id != str_of(d, "ID")).then_some(id))
}

/// The deployment's allocations once it ended: what is running where.
async fn summarize(ctx: &Ctx, id: &str) {
    let Ok(allocs) = ctx.get(&format!("/v1/deployment/allocations/{id}")).await else {
        return;
    };
    let allocs = allocs.as_array().cloned().unwrap_or_default();
    if allocs.is_empty() {
        return;
    }
    println!(
        "\n{}\n{}",
        ctx.style.title("Allocations"),
        alloc_list(&allocs, &ctx.format)
    );
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{by}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A block of lines redrawn in place: each draw moves the cursor back up
/// over the previous one and clears to the end of the screen.
#[derive(Default)]
struct Screen {
    lines: usize,
}

impl Screen {
    fn draw(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        if self.lines > 0 {
            let _ = write!(out, "\x1b[{}A\r\x1b[J", self.lines);
        }
        let _ = write!(out, "{text}");
        let _ = out.flush();
        self.lines = text.matches('\n').count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failed_groups_count_coalesced_failures() {
        assert_eq!(
            failed_group_header("app", &json!({"CoalescedFailures": 1})),
            "Task Group \"app\" (failed to place 2 allocations):"
        );
        assert_eq!(
            failed_group_header("app", &json!({})),
            "Task Group \"app\" (failed to place 1 allocation):"
        );
    }

    #[test]
    fn deployment_block_has_the_group_table() {
        let d = json!({"ID": "a1376348-4b35-45e3-9b49-832dfa5be8bc", "JobID": "example",
            "JobVersion": 0, "Status": "running", "StatusDescription": "Deployment is running",
            "TaskGroups": {"app": {"DesiredTotal": 2, "PlacedAllocs": 1, "HealthyAllocs": 0,
                "UnhealthyAllocs": 0, "ProgressDeadline": 600000000000u64,
                "RequireProgressBy": "2026-12-07T13:29:06.619115076Z"}}});
        let text = format_deployment(&d, false, &Style { color: false });
        assert!(text.starts_with("ID          = a1376348\n"), "{text}");
        assert!(
            text.contains(
                "Deployed\nTask Group  Desired  Placed  Healthy  Unhealthy  Progress Deadline\n\
                 app         2        1       0        0          2026-12-0"
            ),
            "{text}"
        );
    }
}
