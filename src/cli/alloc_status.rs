//! `drover alloc status`, after Nomad's `command/alloc_status.go`: the
//! allocation's KV block, then per task its resources, state and recent
//! events (newest first), and with `-verbose` the placement metrics.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::Value;

use super::api::form_urlencoded;
use super::command::{self, Ctx};
use super::output::{format_time, kv, list, list_with_spaces, text, FORMAT_FLAGS};
use super::usage;
use super::views::{alloc_metrics, int, rfc3339_nanos, when};

/// `drover alloc status [options] <allocation>`.
pub fn status(words: &[String]) -> ExitCode {
    command::run(
        "alloc status",
        words,
        FORMAT_FLAGS,
        usage::ALLOC_STATUS,
        body,
    )
}

async fn body(ctx: Ctx) -> anyhow::Result<String> {
    let [prefix] = ctx.args.as_slice() else {
        bail!("This command takes one argument: <alloc-id>");
    };
    if prefix.len() == 1 {
        bail!("Identifier must contain at least two characters.");
    }
    let stubs = ctx
        .api
        .prefix_list("/v1/allocations", prefix)
        .await
        .map_err(|e| anyhow!("Error querying allocation: {e:#}"))?;
    let stub = match stubs.as_slice() {
        [] => bail!("No allocation(s) with prefix or id {prefix:?} found"),
        [one] => one,
        many => {
            let mut rows =
                vec!["ID|Eval ID|Job ID|Task Group|Desired Status|Client Status".to_string()];
            for a in many {
                rows.push(format!(
                    "{}|{}|{}|{}|{}|{}",
                    ctx.format.id(&text(&a["ID"])),
                    ctx.format.id(&text(&a["EvalID"])),
                    text(&a["JobID"]),
                    text(&a["TaskGroup"]),
                    text(&a["DesiredStatus"]),
                    text(&a["ClientStatus"])
                ));
            }
            bail!("Prefix matched multiple allocations\n\n{}", list(&rows))
        }
    };
    let alloc = ctx
        .api
        .get(&format!(
            "/v1/allocation/{}",
            form_urlencoded(&text(&stub["ID"]))
        ))
        .await
        .map_err(|e| anyhow!("Error querying allocation: {e:#}"))?;
    if let Some(out) = ctx.format.data(&alloc)? {
        return Ok(out);
    }
    Ok(format_alloc(&ctx, &alloc))
}

fn format_alloc(ctx: &Ctx, a: &Value) -> String {
    let fmt = &ctx.format;
    let f = |k: &str| text(&a[k]);
    let mut basic = vec![
        format!("ID|{}", f("ID")),
        format!("Eval ID|{}", fmt.id(&f("EvalID"))),
        format!("Name|{}", f("Name")),
        format!("Node ID|{}", fmt.id(&f("NodeID"))),
        format!("Node Name|{}", f("NodeName")),
        format!("Job ID|{}", f("JobID")),
        format!("Job Version|{}", int(&a["Job"]["Version"])),
        format!("Client Status|{}", f("ClientStatus")),
        format!("Client Description|{}", f("ClientDescription")),
        format!("Desired Status|{}", f("DesiredStatus")),
        format!("Desired Description|{}", f("DesiredDescription")),
        format!("Created|{}", when(fmt, &a["CreateTime"])),
        format!("Modified|{}", when(fmt, &a["ModifyTime"])),
    ];
    if !f("DeploymentID").is_empty() {
        let health = match a["DeploymentStatus"]["Healthy"].as_bool() {
            Some(true) => "healthy",
            Some(false) => "unhealthy",
            None => "unset",
        };
        basic.push(format!("Deployment ID|{}", fmt.id(&f("DeploymentID"))));
        basic.push(format!("Deployment Health|{health}"));
        if a["DeploymentStatus"]["Canary"] == true {
            basic.push("Canary|true".into());
        }
    }
    if !f("NextAllocation").is_empty() {
        basic.push(format!(
            "Replacement Alloc ID|{}",
            fmt.id(&f("NextAllocation"))
        ));
    }
    let m = &a["Metrics"];
    if fmt.verbose {
        basic.extend([
            format!("Evaluated Nodes|{}", int(&m["NodesEvaluated"])),
            format!("Filtered Nodes|{}", int(&m["NodesFiltered"])),
            format!("Exhausted Nodes|{}", int(&m["NodesExhausted"])),
            format!(
                "Allocation Time|{}",
                super::output::format_duration(int(&m["AllocationTime"]))
            ),
            format!("Failures|{}", int(&m["CoalescedFailures"])),
        ]);
    }
    let mut out = kv(&basic);
    let tasks = task_order(a);
    for task in &tasks {
        let state = &a["TaskStates"][task];
        let name = if state.is_null() {
            "pending"
        } else {
            state["State"].as_str().unwrap_or("")
        };
        out += &format!(
            "\n\n{}",
            ctx.style.title(&format!("Task {task:?} is {name:?}"))
        );
        if let Some(r) = task_resources(a, task) {
            out += &format!("\n{r}\n");
        }
        out += &format!("\n{}", task_status(state));
    }
    if fmt.verbose {
        out += &format!(
            "\n\n{}\n{}",
            ctx.style.title("Placement Metrics"),
            alloc_metrics(m, &ctx.style, true, "  ")
        );
    }
    out
}

/// The group's tasks in job order, then any other task with a state.
fn task_order(a: &Value) -> Vec<String> {
    let group = text(&a["TaskGroup"]);
    let mut names: Vec<String> = a["Job"]["TaskGroups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| text(&g["Name"]) == group))
        .and_then(|g| g["Tasks"].as_array())
        .map(|ts| ts.iter().map(|t| text(&t["Name"])).collect())
        .unwrap_or_default();
    if let Some(states) = a["TaskStates"].as_object() {
        for k in states.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    names
}

fn task_resources(a: &Value, task: &str) -> Option<String> {
    let r = a["AllocatedResources"]["Tasks"].get(task)?;
    let mut addrs: Vec<String> = Vec::new();
    for p in a["AllocatedResources"]["Shared"]["Ports"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        addrs.push(format!(
            "{}: {}:{}",
            text(&p["Label"]),
            text(&p["HostIP"]),
            int(&p["Value"])
        ));
    }
    let mem = int(&r["Memory"]["MemoryMB"]);
    let max = int(&r["Memory"]["MemoryMaxMB"]);
    let disk = int(&a["AllocatedResources"]["Shared"]["DiskMB"]);
    let mut rows = vec![
        "CPU|Memory|Disk|Addresses".to_string(),
        format!(
            "{} MHz|{}|{}|{}",
            int(&r["Cpu"]["CpuShares"]),
            human_mb(mem),
            human_mb(disk),
            addrs.first().cloned().unwrap_or_default()
        ),
    ];
    let mem_max = if max != 0 && max != mem {
        format!("Max: {}", human_mb(max))
    } else {
        String::new()
    };
    if !mem_max.is_empty() || addrs.len() > 1 {
        rows.push(format!(
            "|{mem_max}||{}",
            addrs.get(1).cloned().unwrap_or_default()
        ));
    }
    for extra in addrs.iter().skip(2) {
        rows.push(format!("|||{extra}"));
    }
    // Nomad prints this table without `<none>` for empty cells.
    Some(format!("Task Resources:\n{}", list_with_spaces(&rows)))
}

fn human_mb(mb: i64) -> String {
    super::node::human_mb(mb)
}

/// `Task Events:` KV and the `Recent Events:` table, newest first.
fn task_status(state: &Value) -> String {
    let t = |k: &str| match rfc3339_nanos(&state[k]) {
        Some(n) => format_time(n),
        None => "N/A".to_string(),
    };
    let basic = kv(&[
        format!("Started At|{}", t("StartedAt")),
        format!("Finished At|{}", t("FinishedAt")),
        format!("Total Restarts|{}", int(&state["Restarts"])),
        format!("Last Restart|{}", t("LastRestart")),
    ]);
    let mut rows = vec!["Time|Type|Description".to_string()];
    let events = state["Events"].as_array().cloned().unwrap_or_default();
    for e in events.iter().rev() {
        let mut msg = text(&e["DisplayMessage"]);
        if msg.is_empty() {
            msg = text(&e["Message"]);
        }
        rows.push(format!(
            "{}|{}|{}",
            format_time(int(&e["Time"])),
            text(&e["Type"]),
            msg.replace('|', "/")
        ));
    }
    format!("Task Events:\n{basic}\n\nRecent Events:\n{}", list(&rows))
}
