//! Views of API objects that several commands print the same way, after
//! the Nomad helpers of the same purpose: `formatAllocListStubs`
//! (`command/job_status.go`), `formatEvalList` (`command/eval_list.go`),
//! `formatAllocMetrics` (`command/monitor.go`), `evalFailureStatus`
//! (`command/helpers.go`), `formatDeploymentGroups`
//! (`command/deployment_status.go`).

use serde_json::Value;

use super::output::{format_time, list, now_nanos, pretty_time_diff, text, Format, Style};

/// An integer field, 0 when absent.
pub fn int(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

/// A time field as Nomad shows it: absolute with `-verbose`, else how
/// long ago.
pub fn when(fmt: &Format, nanos: &Value) -> String {
    let n = int(nanos);
    if fmt.verbose {
        format_time(n)
    } else {
        pretty_time_diff(n, now_nanos())
    }
}

/// `true`/`false` for placement failures, or `N/A - In Progress` for a
/// blocked evaluation.
pub fn eval_failure_status(eval: &Value) -> (String, bool) {
    let failures = eval["FailedTGAllocs"]
        .as_object()
        .is_some_and(|m| !m.is_empty());
    if eval["Status"] == "blocked" {
        return ("N/A - In Progress".into(), failures);
    }
    (failures.to_string(), failures)
}

/// The evaluations table.
pub fn eval_list(evals: &[Value], fmt: &Format) -> String {
    let mut rows = vec![
        "ID|Priority|Triggered By|Job ID|Namespace|Node ID|Status|Placement Failures".to_string(),
    ];
    for e in evals {
        rows.push(format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            fmt.id(&text(&e["ID"])),
            int(&e["Priority"]),
            text(&e["TriggeredBy"]),
            text(&e["JobID"]),
            text(&e["Namespace"]),
            fmt.id(&text(&e["NodeID"])),
            text(&e["Status"]),
            eval_failure_status(e).0
        ));
    }
    list(&rows)
}

/// The allocations table (a job's, an evaluation's, a node's).
pub fn alloc_list(stubs: &[Value], fmt: &Format) -> String {
    if stubs.is_empty() {
        return "No allocations placed".into();
    }
    let mut rows = Vec::new();
    if fmt.verbose {
        rows.push(
            "ID|Eval ID|Node ID|Node Name|Task Group|Version|Desired|Status|Created|Modified"
                .to_string(),
        );
    } else {
        rows.push("ID|Node ID|Task Group|Version|Desired|Status|Created|Modified".to_string());
    }
    for a in stubs {
        let f = |k: &str| text(&a[k]);
        let mut row = vec![fmt.id(&f("ID")).to_string()];
        if fmt.verbose {
            row.push(f("EvalID"));
        }
        row.push(fmt.id(&f("NodeID")).to_string());
        if fmt.verbose {
            row.push(f("NodeName"));
        }
        row.extend([
            f("TaskGroup"),
            int(&a["JobVersion"]).to_string(),
            f("DesiredStatus"),
            f("ClientStatus"),
            when(fmt, &a["CreateTime"]),
            when(fmt, &a["ModifyTime"]),
        ]);
        rows.push(row.join("|"));
    }
    list(&rows)
}

/// Why placements failed, one `* ...` line each, each line led by
/// `prefix`; with `scores`, the per-node score table as well.
pub fn alloc_metrics(m: &Value, style: &Style, scores: bool, prefix: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let map = |k: &str| m[k].as_object().cloned().unwrap_or_default();
    if int(&m["NodesEvaluated"]) == 0 {
        out.push(format!("{prefix}* No nodes were eligible for evaluation"));
    }
    for (dc, n) in map("NodesAvailable") {
        if int(&n) == 0 {
            out.push(format!(
                "{prefix}* No nodes are available in datacenter {dc:?}"
            ));
        }
    }
    for (class, n) in map("ClassFiltered") {
        out.push(format!(
            "{prefix}* Class {class:?}: {} nodes excluded by filter",
            int(&n)
        ));
    }
    for (c, n) in map("ConstraintFiltered") {
        let line = format!(
            "{prefix}* Constraint {c:?}: {} nodes excluded by filter",
            int(&n)
        );
        out.push(if c.contains("missing drivers") {
            style.red(&line)
        } else {
            line
        });
    }
    let exhausted = int(&m["NodesExhausted"]);
    if exhausted > 0 {
        out.push(format!(
            "{prefix}* Resources exhausted on {exhausted} nodes"
        ));
    }
    for (class, n) in map("ClassExhausted") {
        out.push(format!(
            "{prefix}* Class {class:?} exhausted on {} nodes",
            int(&n)
        ));
    }
    for (dim, n) in map("DimensionExhausted") {
        out.push(format!(
            "{prefix}* Dimension {dim:?} exhausted on {} nodes",
            int(&n)
        ));
    }
    for q in m["QuotaExhausted"].as_array().cloned().unwrap_or_default() {
        out.push(format!("{prefix}* Quota limit hit {:?}", text(&q)));
    }
    let mut text_out = out.join("\n");
    let metas = m["ScoreMetaData"].as_array().cloned().unwrap_or_default();
    if scores && !metas.is_empty() {
        let mut names: Vec<String> = metas
            .iter()
            .flat_map(|s| {
                s["Scores"]
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        names.sort();
        names.dedup();
        let mut rows = vec![format!("Node|{}|final score", names.join("|"))];
        for s in &metas {
            let mut row = vec![text(&s["NodeID"])];
            for n in &names {
                row.push(go_g3(s["Scores"][n].as_f64().unwrap_or(0.0)));
            }
            row.push(go_g3(s["NormScore"].as_f64().unwrap_or(0.0)));
            rows.push(row.join("|"));
        }
        if !text_out.is_empty() {
            text_out.push('\n');
        }
        text_out.push_str(&list(&rows));
    }
    text_out
}

/// Go's `%.3g`: three significant digits, trailing zeros dropped.
fn go_g3(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-4..3).contains(&exp) {
        let s = format!("{f:.2e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (2 - exp).max(0) as usize;
    let s = format!("{f:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A deployment's per-group table (Nomad's `formatDeploymentGroups`):
/// canary, auto-revert and deadline columns only when some group has them.
pub fn deployment_groups(d: &Value) -> String {
    let groups = d["TaskGroups"].as_object().cloned().unwrap_or_default();
    let auto_revert = groups.values().any(|g| g["AutoRevert"] == true);
    let canaries = groups.values().any(|g| int(&g["DesiredCanaries"]) > 0);
    let deadline = groups.values().any(|g| int(&g["ProgressDeadline"]) != 0);
    let mut head = vec!["Task Group"];
    if auto_revert {
        head.push("Auto Revert");
    }
    if canaries {
        head.push("Promoted");
    }
    head.push("Desired");
    if canaries {
        head.push("Canaries");
    }
    head.extend(["Placed", "Healthy", "Unhealthy"]);
    if deadline {
        head.push("Progress Deadline");
    }
    let mut rows = vec![head.join("|")];
    for (name, g) in &groups {
        let mut row = vec![name.clone()];
        if auto_revert {
            row.push((g["AutoRevert"] == true).to_string());
        }
        if canaries {
            row.push(if int(&g["DesiredCanaries"]) > 0 {
                (g["Promoted"] == true).to_string()
            } else {
                "N/A".into()
            });
        }
        row.push(int(&g["DesiredTotal"]).to_string());
        if canaries {
            row.push(int(&g["DesiredCanaries"]).to_string());
        }
        row.push(int(&g["PlacedAllocs"]).to_string());
        row.push(int(&g["HealthyAllocs"]).to_string());
        row.push(int(&g["UnhealthyAllocs"]).to_string());
        if deadline {
            row.push(match rfc3339_nanos(&g["RequireProgressBy"]) {
                Some(n) => format_time(n),
                None => "N/A".into(),
            });
        }
        rows.push(row.join("|"));
    }
    list(&rows)
}

/// An RFC 3339 time field as Unix nanoseconds; `None` for Go's zero time,
/// null or junk.
pub fn rfc3339_nanos(v: &Value) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    let n = t.timestamp_nanos_opt()?;
    (t.timestamp() > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g3_matches_go() {
        assert_eq!(go_g3(0.5), "0.5");
        assert_eq!(go_g3(0.123456), "0.123");
        assert_eq!(go_g3(12.345), "12.3");
        assert_eq!(go_g3(1.0), "1");
        assert_eq!(go_g3(1234.0), "1.23e+03");
    }
}
