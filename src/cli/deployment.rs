//! `drover deployment list|status|promote|fail|pause|resume`, after
//! Nomad's `command/deployment_*.go`. The writes print the evaluation they
//! created and return, as Nomad's do with `-detach`.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::api::{form_urlencoded, Api};
use super::command::{self, Ctx};
use super::flags::Kind;
use super::output::{kv, list, text, Format, FORMAT_FLAGS};
use super::usage;
use super::views::{deployment_groups, int};

/// `drover deployment <args>`.
pub fn run(args: &[String]) -> ExitCode {
    command::dispatch(
        "deployment",
        args,
        usage::DEPLOYMENT,
        &[
            ("list", list_cmd),
            ("status", status),
            ("promote", promote),
            ("fail", fail),
            ("pause", pause),
            ("resume", resume),
        ],
    )
}

/// Nomad's `formatDeployments`.
fn deployments(ds: &[Value], fmt: &Format) -> String {
    if ds.is_empty() {
        return "No deployments found".into();
    }
    let mut rows = vec!["ID|Job ID|Job Version|Status|Description".to_string()];
    for d in ds {
        rows.push(format!(
            "{}|{}|{}|{}|{}",
            fmt.id(&text(&d["ID"])),
            text(&d["JobID"]),
            int(&d["JobVersion"]),
            text(&d["Status"]),
            text(&d["StatusDescription"])
        ));
    }
    list(&rows)
}

/// The deployment `prefix` names, in full (Nomad's `getDeployment`).
async fn by_prefix(api: &Api, prefix: &str, fmt: &Format) -> anyhow::Result<Value> {
    if prefix.len() == 1 {
        bail!("Identifier must contain at least two characters.");
    }
    let found = api
        .prefix_list("/v1/deployments", prefix)
        .await
        .map_err(|e| anyhow!("Error retrieving deployment: {e:#}"))?;
    let stub = match found.as_slice() {
        [] => bail!("Deployment ID {prefix:?} matched no deployments"),
        [one] => one,
        many => bail!(
            "Prefix matched multiple deployments\n\n{}",
            deployments(many, fmt)
        ),
    };
    api.get(&format!(
        "/v1/deployment/{}",
        form_urlencoded(&text(&stub["ID"]))
    ))
    .await
    .map_err(|e| anyhow!("Error retrieving deployment: {e:#}"))
}

fn one_arg(ctx: &Ctx) -> anyhow::Result<String> {
    match ctx.args.as_slice() {
        [id] => Ok(id.clone()),
        _ => bail!("This command takes one argument: <deployment id>"),
    }
}

fn list_cmd(words: &[String]) -> ExitCode {
    let spec = &[
        ("json", Kind::Bool),
        ("t", Kind::Value),
        ("verbose", Kind::Bool),
        ("filter", Kind::Value),
    ];
    command::run(
        "deployment list",
        words,
        spec,
        usage::DEPLOYMENT_LIST,
        |ctx: Ctx| async move {
            if !ctx.args.is_empty() {
                bail!("This command takes no arguments (see 'drover deployment list -help')");
            }
            let mut path = "/v1/deployments".to_string();
            if ctx.flags.given("filter") {
                path += &format!("?filter={}", form_urlencoded(&ctx.flags.str("filter", "")));
            }
            let ds = ctx
                .api
                .get(&path)
                .await
                .map_err(|e| anyhow!("Error retrieving deployments: {e:#}"))?;
            if let Some(out) = ctx.format.data(&ds)? {
                return Ok(out);
            }
            Ok(deployments(
                ds.as_array().map_or(&[], Vec::as_slice),
                &ctx.format,
            ))
        },
    )
}

fn status(words: &[String]) -> ExitCode {
    command::run(
        "deployment status",
        words,
        FORMAT_FLAGS,
        usage::DEPLOYMENT_STATUS,
        |ctx: Ctx| async move {
            let id = one_arg(&ctx)?;
            let d = by_prefix(&ctx.api, &id, &ctx.format).await?;
            if let Some(out) = ctx.format.data(&d)? {
                return Ok(out);
            }
            Ok(format_deployment(&ctx, &d))
        },
    )
}

/// Nomad's `formatDeployment`: the KV block, then the groups.
pub fn format_deployment(ctx: &Ctx, d: &Value) -> String {
    let mut out = kv(&[
        format!("ID|{}", ctx.format.id(&text(&d["ID"]))),
        format!("Job ID|{}", text(&d["JobID"])),
        format!("Job Version|{}", int(&d["JobVersion"])),
        format!("Status|{}", text(&d["Status"])),
        format!("Description|{}", text(&d["StatusDescription"])),
    ]);
    if d["TaskGroups"].as_object().is_some_and(|g| !g.is_empty()) {
        out += &format!(
            "\n\n{}\n{}",
            ctx.style.title("Deployed"),
            deployment_groups(d)
        );
    }
    out
}

/// The `Evaluation ID: ...` line Nomad prints after a write.
fn eval_line(resp: &Value) -> String {
    match resp["EvalID"].as_str() {
        Some(e) if !e.is_empty() => format!("\nEvaluation ID: {e}"),
        _ => String::new(),
    }
}

const WRITE_FLAGS: &[(&str, Kind)] = &[("detach", Kind::Bool), ("verbose", Kind::Bool)];

fn promote(words: &[String]) -> ExitCode {
    let spec = &[
        ("detach", Kind::Bool),
        ("verbose", Kind::Bool),
        ("group", Kind::Value),
    ];
    command::run(
        "deployment promote",
        words,
        spec,
        usage::DEPLOYMENT_PROMOTE,
        |ctx: Ctx| async move {
            let prefix = one_arg(&ctx)?;
            let d = by_prefix(&ctx.api, &prefix, &ctx.format).await?;
            let id = text(&d["ID"]);
            let groups = ctx.flags.all("group");
            let body = if groups.is_empty() {
                json!({"DeploymentID": id, "All": true})
            } else {
                json!({"DeploymentID": id, "Groups": groups})
            };
            let resp = ctx
                .api
                .put(
                    &format!("/v1/deployment/promote/{}", form_urlencoded(&id)),
                    &body,
                )
                .await
                .map_err(|e| anyhow!("Error promoting deployment: {e:#}"))?;
            // Nomad's -detach output: the evaluation the promotion created.
            match resp["EvalID"].as_str() {
                Some(e) if !e.is_empty() => Ok(format!("Evaluation ID: {e}")),
                _ => Ok(format!("Deployment {id:?} promoted")),
            }
        },
    )
}

fn fail(words: &[String]) -> ExitCode {
    command::run(
        "deployment fail",
        words,
        WRITE_FLAGS,
        usage::DEPLOYMENT_FAIL,
        |ctx: Ctx| async move {
            let prefix = one_arg(&ctx)?;
            let d = by_prefix(&ctx.api, &prefix, &ctx.format).await?;
            let id = text(&d["ID"]);
            let resp = ctx
                .api
                .put(
                    &format!("/v1/deployment/fail/{}", form_urlencoded(&id)),
                    &json!({"DeploymentID": id}),
                )
                .await
                .map_err(|e| anyhow!("Error failing deployment: {e:#}"))?;
            let head = match resp["RevertedJobVersion"].as_u64() {
                Some(v) => format!("Deployment {id:?} failed. Auto-reverted to job version {v}."),
                None => format!("Deployment {id:?} failed"),
            };
            Ok(format!("{head}{}", eval_line(&resp)))
        },
    )
}

fn pause(words: &[String]) -> ExitCode {
    command::run(
        "deployment pause",
        words,
        WRITE_FLAGS,
        usage::DEPLOYMENT_PAUSE,
        |ctx: Ctx| set_paused(ctx, true),
    )
}

fn resume(words: &[String]) -> ExitCode {
    command::run(
        "deployment resume",
        words,
        WRITE_FLAGS,
        usage::DEPLOYMENT_RESUME,
        |ctx: Ctx| set_paused(ctx, false),
    )
}

async fn set_paused(ctx: Ctx, pause: bool) -> anyhow::Result<String> {
    let prefix = one_arg(&ctx)?;
    let d = by_prefix(&ctx.api, &prefix, &ctx.format).await?;
    let id = text(&d["ID"]);
    let (verb, done) = if pause {
        ("pausing", "paused")
    } else {
        ("resuming", "resumed")
    };
    let resp = ctx
        .api
        .put(
            &format!("/v1/deployment/pause/{}", form_urlencoded(&id)),
            &json!({"DeploymentID": id, "Pause": pause}),
        )
        .await
        .map_err(|e| anyhow!("Error {verb} deployment: {e:#}"))?;
    let eval = if pause {
        String::new()
    } else {
        eval_line(&resp)
    };
    Ok(format!("Deployment {id:?} {done}{eval}"))
}
