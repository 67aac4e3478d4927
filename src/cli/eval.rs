//! `drover eval status|list`, after Nomad's `command/eval_status.go` and
//! `command/eval_list.go`: the same KV block, tables and messages.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::Value;

use super::api::form_urlencoded;
use super::command::{self, Ctx};
use super::flags::Kind;
use super::output::{kv, text, FORMAT_FLAGS};
use super::usage;
use super::views::{
    alloc_list, alloc_metrics, eval_failure_status, eval_list, int, rfc3339_nanos, when,
};

/// `drover eval <args>`.
pub fn run(args: &[String]) -> ExitCode {
    command::dispatch(
        "eval",
        args,
        usage::EVAL,
        &[("status", status), ("list", list)],
    )
}

fn status(words: &[String]) -> ExitCode {
    command::run(
        "eval status",
        words,
        FORMAT_FLAGS,
        usage::EVAL_STATUS,
        status_body,
    )
}

async fn status_body(ctx: Ctx) -> anyhow::Result<String> {
    let [prefix] = ctx.args.as_slice() else {
        bail!("This command takes one argument: <evaluation> (see 'drover eval status -help')");
    };
    if prefix.len() == 1 {
        bail!("Identifier must contain at least two characters.");
    }
    let evals = ctx
        .api
        .prefix_list("/v1/evaluations", prefix)
        .await
        .map_err(|e| anyhow!("Error querying evaluation: {e:#}"))?;
    let stub = match evals.as_slice() {
        [] => bail!("No evaluation(s) with prefix or id {prefix:?} found"),
        [one] => one,
        many => bail!(
            "Prefix matched multiple evaluations\n\n{}",
            eval_list(many, &ctx.format)
        ),
    };
    let id = text(&stub["ID"]);
    let eval = ctx
        .api
        .get(&format!(
            "/v1/evaluation/{}?related=true",
            form_urlencoded(&id)
        ))
        .await
        .map_err(|e| anyhow!("Error querying evaluation: {e:#}"))?;
    if let Some(out) = ctx.format.data(&eval)? {
        return Ok(out);
    }
    let placed = ctx
        .api
        .get(&format!(
            "/v1/evaluation/{}/allocations",
            form_urlencoded(&id)
        ))
        .await
        .map_err(|e| anyhow!("Error querying related allocations: {e:#}"))?;
    Ok(format_eval(
        &ctx,
        &eval,
        placed.as_array().map_or(&[], Vec::as_slice),
    ))
}

fn format_eval(ctx: &Ctx, eval: &Value, placed: &[Value]) -> String {
    let fmt = &ctx.format;
    let f = |k: &str| text(&eval[k]);
    let (failure, failures) = eval_failure_status(eval);
    let desc = match f("StatusDescription") {
        d if d.is_empty() => f("Status"),
        d => d,
    };
    let mut basic = vec![
        format!("ID|{}", fmt.id(&f("ID"))),
        format!("Create Time|{}", when(fmt, &eval["CreateTime"])),
        format!("Modify Time|{}", when(fmt, &eval["ModifyTime"])),
        format!("Status|{}", f("Status")),
        format!("Status Description|{desc}"),
        format!("Type|{}", f("Type")),
        format!("TriggeredBy|{}", f("TriggeredBy")),
        format!("Job ID|{}", f("JobID")),
        format!("Namespace|{}", f("Namespace")),
    ];
    match f("TriggeredBy").as_str() {
        "node-update" if !f("NodeID").is_empty() => basic.push(format!("Node ID|{}", f("NodeID"))),
        "max-plan-attempts" if !f("PreviousEval").is_empty() => {
            basic.push(format!("Previous Eval|{}", f("PreviousEval")))
        }
        _ => {}
    }
    basic.push(format!("Priority|{}", int(&eval["Priority"])));
    basic.push(format!("Placement Failures|{failure}"));
    if let Some(n) = rfc3339_nanos(&eval["WaitUntil"]) {
        basic.push(format!("Wait Until|{}", super::output::format_time(n)));
    }
    basic.push(format!("Previous Eval|{}", fmt.id(&f("PreviousEval"))));
    basic.push(format!("Next Eval|{}", fmt.id(&f("NextEval"))));
    basic.push(format!("Blocked Eval|{}", fmt.id(&f("BlockedEval"))));
    let mut out = kv(&basic);
    let related = eval["RelatedEvals"].as_array().cloned().unwrap_or_default();
    if !related.is_empty() {
        let mut rows = vec!["ID|Priority|Triggered By|Node ID|Status|Description".to_string()];
        for r in &related {
            rows.push(format!(
                "{}|{}|{}|{}|{}|{}",
                fmt.id(&text(&r["ID"])),
                int(&r["Priority"]),
                text(&r["TriggeredBy"]),
                fmt.id(&text(&r["NodeID"])),
                text(&r["Status"]),
                text(&r["StatusDescription"])
            ));
        }
        out += &format!(
            "\n\n{}\n{}",
            ctx.style.title("Related Evaluations"),
            super::output::list(&rows)
        );
    }
    if !placed.is_empty() {
        out += &format!(
            "\n\n{}\n{}",
            ctx.style.title("Placed Allocations"),
            alloc_list(placed, fmt)
        );
    }
    if failures {
        out += &format!("\n\n{}", ctx.style.title("Failed Placements"));
        if let Some(groups) = eval["FailedTGAllocs"].as_object() {
            for (tg, m) in groups {
                let coalesced = int(&m["CoalescedFailures"]);
                let noun = if coalesced > 0 {
                    "allocations"
                } else {
                    "allocation"
                };
                out += &format!(
                    "\nTask Group {tg:?} (failed to place {} {noun}):",
                    coalesced + 1
                );
                let lines = alloc_metrics(m, &ctx.style, false, "  ");
                if !lines.is_empty() {
                    out += &format!("\n{lines}");
                }
            }
        }
        if !f("BlockedEval").is_empty() {
            out += &format!(
                "\n\nEvaluation {:?} waiting for additional capacity to place remainder",
                fmt.id(&f("BlockedEval"))
            );
        }
    }
    out
}

const LIST_FLAGS: &[(&str, Kind)] = &[
    ("json", Kind::Bool),
    ("t", Kind::Value),
    ("verbose", Kind::Bool),
    ("job", Kind::Value),
    ("status", Kind::Value),
    ("filter", Kind::Value),
    ("per-page", Kind::Value),
    ("page-token", Kind::Value),
];

fn list(words: &[String]) -> ExitCode {
    command::run("eval list", words, LIST_FLAGS, usage::EVAL_LIST, list_body)
}

async fn list_body(ctx: Ctx) -> anyhow::Result<String> {
    if !ctx.args.is_empty() {
        bail!("This command takes no arguments (see 'drover eval list -help')");
    }
    let mut query = Vec::new();
    for (flag, param) in [
        ("job", "job"),
        ("status", "status"),
        ("filter", "filter"),
        ("per-page", "per_page"),
        ("page-token", "next_token"),
    ] {
        if ctx.flags.given(flag) {
            query.push(format!(
                "{param}={}",
                form_urlencoded(&ctx.flags.str(flag, ""))
            ));
        }
    }
    let path = if query.is_empty() {
        "/v1/evaluations".to_string()
    } else {
        format!("/v1/evaluations?{}", query.join("&"))
    };
    let (evals, next) = ctx
        .api
        .get_page(&path)
        .await
        .map_err(|e| anyhow!("Error querying evaluations: {e:#}"))?;
    if let Some(out) = ctx.format.data(&evals)? {
        return Ok(out);
    }
    let evals = evals.as_array().cloned().unwrap_or_default();
    if evals.is_empty() {
        return Ok("No evals found".into());
    }
    let mut out = eval_list(&evals, &ctx.format);
    if let Some(token) = next {
        // Nomad repeats the command line without its old -page-token.
        let mut words: Vec<String> = Vec::new();
        let mut skip = false;
        for w in std::env::args() {
            if skip {
                skip = false;
                continue;
            }
            match w.trim_start_matches('-') {
                "page-token" => skip = true,
                t if t.starts_with("page-token=") => {}
                _ => words.push(w),
            }
        }
        out += &format!(
            "\n\nResults have been paginated. To get the next page run:\n\n{} -page-token {token}",
            words.join(" ")
        );
    }
    Ok(out)
}
