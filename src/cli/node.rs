//! `drover node status|drain|eligibility|pool list`, after Nomad's
//! `command/node_status.go`, `node_drain.go`, `node_eligibility.go` and
//! `node_pool_list.go`: same tables, prompts and messages.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::api::{form_urlencoded, Api};
use super::command::{self, Ctx};
use super::flags::{self, Kind};
use super::output::{kv, list, text, Format};
use super::usage;
use super::views::{alloc_list, rfc3339_nanos};

/// `drover node <args>`.
pub fn run(args: &[String]) -> ExitCode {
    command::dispatch(
        "node",
        args,
        usage::NODE,
        &[
            ("status", status),
            ("drain", drain),
            ("eligibility", eligibility),
            ("pool", pool),
        ],
    )
}

fn pool(args: &[String]) -> ExitCode {
    command::dispatch("node pool", args, usage::NODE_POOL, &[("list", pool_list)])
}

/// The node `prefix` names, in full; Nomad's errors for none or several.
async fn node_by_prefix(
    api: &Api,
    prefix: &str,
    fmt: &Format,
    what: &str,
) -> anyhow::Result<Value> {
    if prefix.len() == 1 {
        bail!("Identifier must contain at least two characters.");
    }
    let nodes = api
        .prefix_list("/v1/nodes", prefix)
        .await
        .map_err(|e| anyhow!("{what}: {e:#}"))?;
    let stub = match nodes.as_slice() {
        [] => bail!("No node(s) with prefix or id {prefix:?} found"),
        [one] => one,
        many => bail!("Prefix matched multiple nodes\n\n{}", node_stubs(many, fmt)),
    };
    api.get(&format!("/v1/node/{}", form_urlencoded(&text(&stub["ID"]))))
        .await
        .map_err(|e| anyhow!("{what}: {e:#}"))
}

/// The node this agent's client runs (Nomad's `getLocalNodeID`).
async fn local_node_id(api: &Api) -> anyhow::Result<String> {
    let me = api
        .get("/v1/agent/self")
        .await
        .map_err(|e| anyhow!("Error querying agent info: {e:#}"))?;
    match me["stats"]["client"]["node_id"].as_str() {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => bail!("Not running in client mode"),
    }
}

/// The short table Nomad lists ambiguous matches with.
fn node_stubs(nodes: &[Value], fmt: &Format) -> String {
    let mut rows = vec!["ID|DC|Name|Class|Drain|Eligibility|Status".to_string()];
    for n in nodes {
        rows.push(format!(
            "{}|{}|{}|{}|{}|{}|{}",
            fmt.id(&text(&n["ID"])),
            text(&n["Datacenter"]),
            text(&n["Name"]),
            text(&n["NodeClass"]),
            n["Drain"] == true,
            text(&n["SchedulingEligibility"]),
            text(&n["Status"])
        ));
    }
    list(&rows)
}

const STATUS_FLAGS: &[(&str, Kind)] = &[
    ("json", Kind::Bool),
    ("t", Kind::Value),
    ("verbose", Kind::Bool),
    ("self", Kind::Bool),
    ("filter", Kind::Value),
];

fn status(words: &[String]) -> ExitCode {
    command::run(
        "node status",
        words,
        STATUS_FLAGS,
        usage::NODE_STATUS,
        status_body,
    )
}

async fn status_body(ctx: Ctx) -> anyhow::Result<String> {
    let fmt = &ctx.format;
    if ctx.args.len() > 1 {
        bail!("This command takes either one or no arguments (see 'drover node status -help')");
    }
    let self_ = ctx.flags.bool("self", false);
    if ctx.args.is_empty() && !self_ {
        let mut path = "/v1/nodes".to_string();
        if ctx.flags.given("filter") {
            path += &format!("?filter={}", form_urlencoded(&ctx.flags.str("filter", "")));
        }
        let nodes = ctx
            .api
            .get(&path)
            .await
            .map_err(|e| anyhow!("Error querying node status: {e:#}"))?;
        if let Some(out) = fmt.data(&nodes)? {
            return Ok(out);
        }
        let nodes = nodes.as_array().cloned().unwrap_or_default();
        if nodes.is_empty() {
            return Ok("No nodes registered".into());
        }
        let mut head = "ID|Node Pool|DC|Name|Class|".to_string();
        if fmt.verbose {
            head += "Address|Version|";
        }
        head += "Drain|Eligibility|Status";
        let mut rows = vec![head];
        for n in &nodes {
            let f = |k: &str| text(&n[k]);
            let mut row = format!(
                "{}|{}|{}|{}|{}",
                fmt.id(&f("ID")),
                f("NodePool"),
                f("Datacenter"),
                f("Name"),
                f("NodeClass")
            );
            if fmt.verbose {
                row += &format!("|{}|{}", f("Address"), f("Version"));
            }
            row += &format!(
                "|{}|{}|{}",
                n["Drain"] == true,
                f("SchedulingEligibility"),
                f("Status")
            );
            rows.push(row);
        }
        return Ok(list(&rows));
    }
    let node = if self_ {
        let id = local_node_id(&ctx.api).await?;
        ctx.api
            .get(&format!("/v1/node/{}", form_urlencoded(&id)))
            .await
            .map_err(|e| anyhow!("Error querying node info: {e:#}"))?
    } else {
        node_by_prefix(&ctx.api, &ctx.args[0], fmt, "Error querying node info").await?
    };
    if let Some(out) = fmt.data(&node)? {
        return Ok(out);
    }
    let id = text(&node["ID"]);
    let allocs = ctx
        .api
        .get(&format!("/v1/node/{}/allocations", form_urlencoded(&id)))
        .await
        .map_err(|e| anyhow!("Error querying node allocations: {e:#}"))?;
    let allocs = allocs.as_array().cloned().unwrap_or_default();
    Ok(format_node(&ctx, &node, &allocs))
}

fn format_node(ctx: &Ctx, node: &Value, allocs: &[Value]) -> String {
    let f = |k: &str| text(&node[k]);
    let mut drivers: Vec<String> = node["Drivers"]
        .as_object()
        .map(|d| {
            d.iter()
                .filter(|(_, v)| v["Detected"] == true && v["Healthy"] == true)
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    drivers.sort();
    let basic = vec![
        format!("ID|{}", f("ID")),
        format!("Name|{}", f("Name")),
        format!("Node Pool|{}", f("NodePool")),
        format!("Class|{}", f("NodeClass")),
        format!("DC|{}", f("Datacenter")),
        format!("Drain|{}", format_drain(node)),
        format!("Eligibility|{}", f("SchedulingEligibility")),
        format!("Status|{}", f("Status")),
        format!("Drivers|{}", drivers.join(",")),
    ];
    let mut out = kv(&basic);
    let res = &node["NodeResources"];
    let cpu = res["Cpu"]["CpuShares"].as_i64().unwrap_or(0);
    let mem = res["Memory"]["MemoryMB"].as_i64().unwrap_or(0);
    let disk = res["Disk"]["DiskMB"].as_i64().unwrap_or(0);
    let live: Vec<&Value> = allocs
        .iter()
        .filter(|a| a["ClientStatus"] == "running" || a["ClientStatus"] == "pending")
        .collect();
    let (mut used_cpu, mut used_mem, mut used_disk) = (0, 0, 0);
    for a in &live {
        let r = &a["AllocatedResources"];
        if let Some(tasks) = r["Tasks"].as_object() {
            for t in tasks.values() {
                used_cpu += t["Cpu"]["CpuShares"].as_i64().unwrap_or(0);
                used_mem += t["Memory"]["MemoryMB"].as_i64().unwrap_or(0);
            }
        }
        used_disk += r["Shared"]["DiskMB"].as_i64().unwrap_or(0);
    }
    out += &format!(
        "\n\n{}\n{}",
        ctx.style.title("Allocated Resources"),
        list(&[
            "CPU|Memory|Disk".to_string(),
            format!(
                "{used_cpu}/{cpu} MHz|{}/{}|{}/{}",
                human_mb(used_mem),
                human_mb(mem),
                human_mb(used_disk),
                human_mb(disk)
            ),
        ])
    );
    out += &format!(
        "\n\n{}\n{}",
        ctx.style.title("Allocations"),
        alloc_list(allocs, &ctx.format)
    );
    if ctx.format.verbose {
        for (title, key) in [("Attributes", "Attributes"), ("Meta", "Meta")] {
            let mut pairs: Vec<String> = node[key]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}|{}", text(v))).collect())
                .unwrap_or_default();
            pairs.sort();
            if !pairs.is_empty() {
                out += &format!("\n\n{}\n{}", ctx.style.title(title), kv(&pairs));
            }
        }
    }
    out
}

/// Megabytes as go-humanize's `IBytes` shows them: whole bytes under 10,
/// else one decimal below 10 of a unit (`1.0 GiB`), none from 10 up.
pub fn human_mb(mb: i64) -> String {
    let bytes = (mb.max(0) as f64) * 1024.0 * 1024.0;
    if bytes < 10.0 {
        return format!("{bytes} B");
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let e = (bytes.ln() / 1024f64.ln()).floor() as usize;
    let e = e.min(units.len() - 1);
    let val = (bytes / 1024f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", units[e])
    } else {
        format!("{val:.0} {}", units[e])
    }
}

/// Nomad's `formatDrain`: `false`, or `true; <deadline>` with the drain's
/// options.
fn format_drain(node: &Value) -> String {
    let s = &node["DrainStrategy"];
    if s.is_null() {
        return (node["Drain"] == true).to_string();
    }
    let mut out = "true".to_string();
    let deadline = s["Deadline"].as_i64().unwrap_or(0);
    if deadline < 0 {
        out += "; force drain";
    } else {
        match rfc3339_nanos(&s["ForceDeadline"]) {
            None => out += "; no deadline",
            Some(n) => out += &format!("; {} deadline", super::output::format_time(n)),
        }
    }
    if s["IgnoreSystemJobs"] == true {
        out += "; ignoring system jobs";
    }
    out
}

const DRAIN_FLAGS: &[(&str, Kind)] = &[
    ("enable", Kind::Bool),
    ("disable", Kind::Bool),
    ("deadline", Kind::Value),
    ("no-deadline", Kind::Bool),
    ("ignore-system", Kind::Bool),
    ("keep-ineligible", Kind::Bool),
    ("self", Kind::Bool),
    ("yes", Kind::Bool),
    ("detach", Kind::Bool),
    ("m", Kind::Value),
];

fn drain(words: &[String]) -> ExitCode {
    command::run(
        "node drain",
        words,
        DRAIN_FLAGS,
        usage::NODE_DRAIN,
        drain_body,
    )
}

async fn drain_body(ctx: Ctx) -> anyhow::Result<String> {
    let p = &ctx.flags;
    let (enable, disable) = (p.bool("enable", false), p.bool("disable", false));
    if enable == disable {
        bail!("Either the '-enable' or '-disable' flag must be set");
    }
    let self_ = p.bool("self", false);
    if self_ == (ctx.args.len() == 1) || ctx.args.len() > 1 {
        bail!("Node ID must be specified if -self isn't being used");
    }
    let configures = p.given("deadline") || p.given("no-deadline") || p.given("ignore-system");
    if disable && configures {
        bail!("-disable can't be combined with flags configuring drain strategy");
    }
    if p.given("deadline") && p.bool("no-deadline", false) {
        bail!("-deadline can't be combined with -force or -no-deadline");
    }
    // Nomad's default deadline is one hour.
    let mut deadline: i64 = 3_600_000_000_000;
    if p.given("deadline") {
        let raw = p.str("deadline", "");
        deadline = flags::go_duration(&raw)
            .map_err(|e| anyhow!("Failed to parse deadline {raw:?}: {e}"))?;
        if deadline <= 0 {
            bail!("A positive drain duration must be given");
        }
    }
    if p.bool("no-deadline", false) {
        deadline = 0;
    }
    let what = "Error toggling drain mode";
    let (node_id, typed) = if self_ {
        let id = local_node_id(&ctx.api).await?;
        (id.clone(), id)
    } else {
        let n = node_by_prefix(&ctx.api, &ctx.args[0], &ctx.format, what).await?;
        (text(&n["ID"]), ctx.args[0].clone())
    };
    if typed != node_id && !p.bool("yes", false) {
        let verb = if disable { "disable" } else { "enable" };
        println!("Are you sure you want to {verb} drain mode for node {node_id:?}? [y/N]");
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| anyhow!("Failed to parse answer: {e}"))?;
        let answer = answer.trim();
        let lower = answer.to_lowercase();
        if answer.is_empty() || lower.starts_with('n') {
            return Ok("Canceling drain toggle".into());
        }
        if lower.starts_with('y') && answer.len() > 1 {
            return Ok("For confirmation, an exact 'y' is required.".into());
        }
        if answer != "y" {
            bail!("No confirmation detected. For confirmation, an exact 'y' is required.");
        }
    }
    let mut meta = serde_json::Map::new();
    if p.given("m") {
        let key = if enable { "message" } else { "cancel_message" };
        meta.insert(key.into(), Value::String(p.str("m", "")));
    }
    let spec = enable
        .then(|| json!({"Deadline": deadline, "IgnoreSystemJobs": p.bool("ignore-system", false)}));
    let body = json!({
        "NodeID": node_id,
        "DrainSpec": spec,
        "MarkEligible": !p.bool("keep-ineligible", false),
        "Meta": meta,
    });
    ctx.api
        .put(
            &format!("/v1/node/{}/drain", form_urlencoded(&node_id)),
            &body,
        )
        .await
        .map_err(|e| anyhow!("Error updating drain specification: {e:#}"))?;
    Ok(if enable {
        format!("Node {node_id:?} drain strategy set")
    } else {
        format!("Node {node_id:?} drain strategy unset")
    })
}

fn eligibility(words: &[String]) -> ExitCode {
    let spec = &[
        ("enable", Kind::Bool),
        ("disable", Kind::Bool),
        ("self", Kind::Bool),
    ];
    command::run(
        "node eligibility",
        words,
        spec,
        usage::NODE_ELIGIBILITY,
        eligibility_body,
    )
}

async fn eligibility_body(ctx: Ctx) -> anyhow::Result<String> {
    let p = &ctx.flags;
    let (enable, disable) = (p.bool("enable", false), p.bool("disable", false));
    if enable == disable {
        bail!("Either the '-enable' or '-disable' flag must be set");
    }
    let self_ = p.bool("self", false);
    if self_ == (ctx.args.len() == 1) || ctx.args.len() > 1 {
        bail!("Node ID must be specified if -self isn't being used");
    }
    let what = "Error updating scheduling eligibility";
    let node_id = if self_ {
        local_node_id(&ctx.api).await?
    } else {
        text(&node_by_prefix(&ctx.api, &ctx.args[0], &ctx.format, what).await?["ID"])
    };
    let value = if enable { "eligible" } else { "ineligible" };
    ctx.api
        .put(
            &format!("/v1/node/{}/eligibility", form_urlencoded(&node_id)),
            &json!({"NodeID": node_id, "Eligibility": value}),
        )
        .await
        .map_err(|e| anyhow!("{what}: {e:#}"))?;
    Ok(format!(
        "Node {node_id:?} scheduling eligibility set: {value} for scheduling"
    ))
}

fn pool_list(words: &[String]) -> ExitCode {
    let spec = &[
        ("json", Kind::Bool),
        ("t", Kind::Value),
        ("filter", Kind::Value),
    ];
    command::run(
        "node pool list",
        words,
        spec,
        usage::NODE_POOL_LIST,
        |ctx: Ctx| async move {
            if !ctx.args.is_empty() {
                bail!("This command takes no arguments (see 'drover node pool list -help')");
            }
            let mut path = "/v1/node/pools".to_string();
            if ctx.flags.given("filter") {
                path += &format!("?filter={}", form_urlencoded(&ctx.flags.str("filter", "")));
            }
            let pools = ctx
                .api
                .get(&path)
                .await
                .map_err(|e| anyhow!("Error querying node pools: {e:#}"))?;
            if let Some(out) = ctx.format.data(&pools)? {
                return Ok(out);
            }
            let mut rows = vec!["Name|Description".to_string()];
            for p in pools.as_array().cloned().unwrap_or_default() {
                rows.push(format!("{}|{}", text(&p["Name"]), text(&p["Description"])));
            }
            Ok(list(&rows))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megabytes_read_as_humanize() {
        assert_eq!(human_mb(256), "256 MiB");
        assert_eq!(human_mb(1536), "1.5 GiB");
        assert_eq!(human_mb(1024), "1.0 GiB");
        assert_eq!(human_mb(0), "0 B");
    }

    #[test]
    fn drain_shapes() {
        assert_eq!(format_drain(&json!({"Drain": false})), "false");
        assert_eq!(
            format_drain(&json!({"DrainStrategy": {"Deadline": 0, "IgnoreSystemJobs": true}})),
            "true; no deadline; ignoring system jobs"
        );
    }
}
