//! A job diff (the `Diff` of `PUT /v1/job/:id/plan`) as text with `+`,
//! `-` and `+/-` markers, aligned as Nomad's `formatJobDiff` and its
//! helpers align it (`command/job_plan.go`): markers padded to the longest
//! one in a block, field names padded to the longest name.

use serde_json::Value;

fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// The marker of a diff type and its width.
fn marker(kind: &str) -> (&'static str, usize) {
    match kind {
        "Added" => ("+ ", 2),
        "Deleted" => ("- ", 2),
        "Edited" => ("+/- ", 4),
        _ => ("", 0),
    }
}

/// The whole job diff; with `verbose`, unchanged fields too.
pub fn format_job_diff(job: &Value, verbose: bool) -> String {
    let pruned;
    let job = if verbose {
        job
    } else {
        pruned = prune(job);
        &pruned
    };
    let kind = s(job, "Type");
    let (m, _) = marker(kind);
    let mut out = format!("{m}Job: {:?}\n", s(job, "ID"));
    let (longest_field, mut longest_marker) = longest(arr(&job["Fields"]), arr(&job["Objects"]));
    for tg in arr(&job["TaskGroups"]) {
        longest_marker = longest_marker.max(marker(s(tg, "Type")).1);
    }
    if kind == "Edited" || verbose {
        let fo = fields_and_objects(
            arr(&job["Fields"]),
            arr(&job["Objects"]),
            0,
            longest_field,
            longest_marker,
        );
        if !fo.is_empty() {
            out.push_str(&fo);
            out.push('\n');
        }
    }
    for tg in arr(&job["TaskGroups"]) {
        let pad = longest_marker - marker(s(tg, "Type")).1;
        out.push_str(&format_group(tg, pad, verbose));
        out.push('\n');
    }
    out
}

fn format_group(tg: &Value, tg_pad: usize, verbose: bool) -> String {
    let kind = s(tg, "Type");
    let (m, _) = marker(kind);
    let mut out = format!("{m}{}Task Group: {:?}", " ".repeat(tg_pad), s(tg, "Name"));
    match tg["Updates"].as_object().filter(|u| !u.is_empty()) {
        Some(updates) => {
            let parts: Vec<String> = updates
                .iter()
                .map(|(k, n)| format!("{} {k}", n.as_u64().unwrap_or_default()))
                .collect();
            out.push_str(&format!(" ({})\n", parts.join(", ")));
        }
        None => out.push('\n'),
    }
    let (longest_field, mut longest_marker) = longest(arr(&tg["Fields"]), arr(&tg["Objects"]));
    for t in arr(&tg["Tasks"]) {
        longest_marker = longest_marker.max(marker(s(t, "Type")).1);
    }
    let start = tg_pad + 2;
    if kind == "Edited" || verbose {
        let fo = fields_and_objects(
            arr(&tg["Fields"]),
            arr(&tg["Objects"]),
            start,
            longest_field,
            longest_marker,
        );
        if !fo.is_empty() {
            out.push_str(&fo);
            out.push('\n');
        }
    }
    for t in arr(&tg["Tasks"]) {
        let pad = longest_marker - marker(s(t, "Type")).1;
        out.push_str(&format_task(t, start, pad, verbose));
        out.push('\n');
    }
    out
}

fn format_task(task: &Value, start: usize, pad: usize, verbose: bool) -> String {
    let kind = s(task, "Type");
    let (m, _) = marker(kind);
    let mut out = format!(
        "{}{m}{}Task: {:?}",
        " ".repeat(start),
        " ".repeat(pad),
        s(task, "Name")
    );
    let notes = annotations(task);
    if !notes.is_empty() {
        out.push_str(&format!(" ({notes})"));
    }
    if kind == "None" || ((kind == "Deleted" || kind == "Added") && !verbose) {
        return out;
    }
    out.push('\n');
    let (lf, lm) = longest(arr(&task["Fields"]), arr(&task["Objects"]));
    out.push_str(&fields_and_objects(
        arr(&task["Fields"]),
        arr(&task["Objects"]),
        start + 2,
        lf,
        lm,
    ));
    out
}

fn format_object(obj: &Value, start: usize, key_pad: usize) -> String {
    let (m, mlen) = marker(s(obj, "Type"));
    let mut out = format!(
        "{}{m}{}{} {{\n",
        " ".repeat(start),
        " ".repeat(key_pad),
        s(obj, "Name")
    );
    let (lf, lm) = longest(arr(&obj["Fields"]), arr(&obj["Objects"]));
    out.push_str(&fields_and_objects(
        arr(&obj["Fields"]),
        arr(&obj["Objects"]),
        start + key_pad + 2,
        lf,
        lm,
    ));
    format!("{out}\n{}}}", " ".repeat(start + mlen + key_pad))
}

fn format_field(f: &Value, start: usize, key_pad: usize, value_pad: usize) -> String {
    let kind = s(f, "Type");
    let (m, _) = marker(kind);
    let mut out = format!(
        "{}{m}{}{}: {}",
        " ".repeat(start),
        " ".repeat(key_pad),
        s(f, "Name"),
        " ".repeat(value_pad)
    );
    let (old, new) = (s(f, "Old"), s(f, "New"));
    match kind {
        "Added" => out.push_str(&format!("{new:?}")),
        "Deleted" => out.push_str(&format!("{old:?}")),
        "Edited" => out.push_str(&format!("{old:?} => {new:?}")),
        _ => out.push_str(&format!("{new:?}")),
    }
    let notes = annotations(f);
    if !notes.is_empty() {
        out.push_str(&format!(" ({notes})"));
    }
    out
}

fn annotations(v: &Value) -> String {
    arr(&v["Annotations"])
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn fields_and_objects(
    fields: &[Value],
    objects: &[Value],
    start: usize,
    longest_field: usize,
    longest_marker: usize,
) -> String {
    let mut lines = Vec::new();
    for f in fields {
        let key_pad = longest_marker - marker(s(f, "Type")).1;
        let value_pad = longest_field - s(f, "Name").len();
        lines.push(format_field(f, start, key_pad, value_pad));
    }
    for o in objects {
        let key_pad = longest_marker - marker(s(o, "Type")).1;
        lines.push(format_object(o, start, key_pad));
    }
    lines.join("\n")
}

/// The diff without unchanged fields and objects (`Type` "None"), which
/// the agent sends for context; only a verbose diff shows them.
fn prune(v: &Value) -> Value {
    let mut out = v.clone();
    let Some(obj) = out.as_object_mut() else {
        return out;
    };
    for key in ["Fields", "Objects"] {
        if let Some(items) = obj.get(key).and_then(Value::as_array) {
            let kept: Vec<Value> = items
                .iter()
                .filter(|i| s(i, "Type") != "None")
                .map(prune)
                .collect();
            obj.insert(key.to_string(), Value::Array(kept));
        }
    }
    for key in ["TaskGroups", "Tasks"] {
        if let Some(items) = obj.get(key).and_then(Value::as_array) {
            let all: Vec<Value> = items.iter().map(prune).collect();
            obj.insert(key.to_string(), Value::Array(all));
        }
    }
    out
}

/// The longest field name and the widest marker among fields and objects.
fn longest(fields: &[Value], objects: &[Value]) -> (usize, usize) {
    let mut field = 0;
    let mut mark = 0;
    for f in fields {
        field = field.max(s(f, "Name").len());
        mark = mark.max(marker(s(f, "Type")).1);
    }
    for o in objects {
        mark = mark.max(marker(s(o, "Type")).1);
    }
    (field, mark)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_edited_count_and_a_new_task() {
        let diff = json!({"Type": "Edited", "ID": "example", "Fields": [], "Objects": [],
            "TaskGroups": [{"Type": "Edited", "Name": "app",
                "Updates": {"create": 1, "ignore": 2},
                "Fields": [{"Type": "Edited", "Name": "Count", "Old": "2", "New": "3",
                    "Annotations": ["forces create"]}],
                "Objects": [],
                "Tasks": [{"Type": "Added", "Name": "side", "Fields": [], "Objects": []},
                          {"Type": "None", "Name": "loop"}]}]});
        assert_eq!(
            format_job_diff(&diff, false),
            "+/- Job: \"example\"\n\
             +/- Task Group: \"app\" (1 create, 2 ignore)\n  \
             +/- Count: \"2\" => \"3\" (forces create)\n  \
             +   Task: \"side\"\n      \
             Task: \"loop\"\n\n"
        );
    }

    #[test]
    fn objects_nest_with_braces() {
        let diff = json!({"Type": "Added", "ID": "j", "TaskGroups": [{"Type": "Added",
            "Name": "g", "Tasks": [{"Type": "Added", "Name": "t",
                "Fields": [{"Type": "Added", "Name": "Driver", "Old": "", "New": "raw_exec"}],
                "Objects": [{"Type": "Added", "Name": "Config",
                    "Fields": [{"Type": "Added", "Name": "command", "Old": "", "New": "/bin/sh"}]}]}]}]});
        assert_eq!(
            format_job_diff(&diff, true),
            "+ Job: \"j\"\n+ Task Group: \"g\"\n  + Task: \"t\"\n    \
             + Driver: \"raw_exec\"\n    + Config {\n      + command: \"/bin/sh\"\n      }\n\n"
        );
    }
}
