//! The top-level commands without a group of their own: `status` (after
//! Nomad's `command/status.go`), `system gc`, `ui`, `version`, and
//! `event stream` (a Drover command over Nomad's `/v1/event/stream`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::api::form_urlencoded;
use super::command::{self, Ctx};
use super::flags::Kind;
use super::output::{emit, format_time, list, text};
use super::usage;
use super::views::int;

/// `drover version`.
pub fn version(words: &[String], version: &str) -> ExitCode {
    if words
        .iter()
        .any(|w| matches!(w.as_str(), "-h" | "-help" | "--help"))
    {
        emit(usage::VERSION);
    } else {
        emit(version);
    }
    ExitCode::SUCCESS
}

/// `drover system <args>`.
pub fn system(args: &[String]) -> ExitCode {
    command::dispatch("system", args, usage::SYSTEM, &[("gc", gc)])
}

fn gc(words: &[String]) -> ExitCode {
    command::run(
        "system gc",
        words,
        &[],
        usage::SYSTEM_GC,
        |ctx: Ctx| async move {
            if !ctx.args.is_empty() {
                bail!("This command takes no arguments (see 'drover system gc -help')");
            }
            ctx.api
                .put("/v1/system/gc", &Value::Null)
                .await
                .map_err(|e| anyhow!("Error running system garbage-collection: {e:#}"))?;
            Ok(String::new())
        },
    )
}

/// `drover ui [-open]`.
pub fn ui(words: &[String]) -> ExitCode {
    command::run(
        "ui",
        words,
        &[("open", Kind::Bool)],
        usage::UI,
        |ctx: Ctx| async move {
            let url = format!("{}/ui/", ctx.api.base);
            if !ctx.flags.bool("open", false) {
                return Ok(url);
            }
            match std::process::Command::new("xdg-open").arg(&url).status() {
                Ok(s) if s.success() => Ok(format!("Opening URL {url:?}")),
                Ok(s) => bail!("Error opening URL {url:?}: xdg-open exited with {s}"),
                Err(e) => bail!("Error opening URL {url:?}: xdg-open: {e} (the address is {url})"),
            }
        },
    )
}

/// The kinds `status` searches, in the order it lists them, with the
/// command that shows one.
const CONTEXTS: &[(&str, &str)] = &[
    ("jobs", "Jobs"),
    ("evals", "Evals"),
    ("allocs", "Allocs"),
    ("nodes", "Nodes"),
    ("deployment", "Deployment"),
    ("namespaces", "Namespaces"),
    ("node_pools", "Node_pools"),
];

/// `drover status [identifier]`.
pub fn status(words: &[String]) -> ExitCode {
    let spec = &[("verbose", Kind::Bool)];
    let verbose = words.iter().any(|w| w == "-verbose" || w == "--verbose");
    let pass: Vec<String> = if verbose {
        vec!["-verbose".into()]
    } else {
        vec![]
    };
    // Resolve first, then run the matching command with the same words.
    let target: std::cell::RefCell<Option<(String, String)>> = Default::default();
    let slot = &target;
    let code = command::run(
        "status",
        words,
        spec,
        usage::STATUS,
        |ctx: Ctx| async move {
            let Some(id) = ctx.args.last().cloned() else {
                return jobs(&ctx).await;
            };
            let res = ctx
                .api
                .put("/v1/search", &json!({"Prefix": id, "Context": "all"}))
                .await
                .map_err(|e| anyhow!("Error querying search with id: {e:#}"))?;
            let matches = &res["Matches"];
            let found: Vec<(&str, &str, Vec<String>)> = CONTEXTS
                .iter()
                .map(|(k, title)| {
                    let ids: Vec<String> = matches[*k]
                        .as_array()
                        .map(|a| a.iter().map(text).collect())
                        .unwrap_or_default();
                    (*k, *title, ids)
                })
                .filter(|(_, _, ids)| !ids.is_empty())
                .collect();
            let exact: Vec<&(&str, &str, Vec<String>)> =
                found.iter().filter(|(_, _, ids)| ids[0] == id).collect();
            let one = match (exact.as_slice(), found.as_slice()) {
                ([one], _) => Some(*one),
                ([], [one]) if one.2.len() == 1 => Some(one),
                ([], []) => bail!("No matches returned for query: {id:?}"),
                _ => None,
            };
            let Some((kind, _, ids)) = one else {
                let mut msg = format!("Multiple matches found for id {id:?}");
                for (_, title, ids) in &found {
                    msg += &format!("\n\n{title}:\n{}", ids.join(", "));
                }
                bail!("{msg}");
            };
            *slot.borrow_mut() = Some((kind.to_string(), ids[0].clone()));
            Ok(String::new())
        },
    );
    let Some((kind, id)) = target.into_inner() else {
        return code;
    };
    let mut args = pass;
    args.extend(address_flags(words));
    args.push(id.clone());
    match kind.as_str() {
        "evals" => super::eval::run(&[vec!["status".to_string()], args].concat()),
        "allocs" => super::alloc_status::status(&args),
        "nodes" => super::node::run(&[vec!["status".to_string()], args].concat()),
        "deployment" => super::deployment::run(&[vec!["status".to_string()], args].concat()),
        // As Nomad's `command/status.go`, a job is shown by `job status`.
        "jobs" => super::job::run([vec!["status".to_string()], args].concat()),
        other => {
            eprintln!("Unable to resolve ID: {id:?} (a {other} match has no status view)");
            ExitCode::from(1)
        }
    }
}

/// The general flags among `words`, to pass on to the command resolved.
fn address_flags(words: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let bare = w.trim_start_matches('-');
        if bare == "address" && i + 1 < words.len() {
            out.extend([w.clone(), words[i + 1].clone()]);
            i += 1;
        } else if bare.starts_with("address=") || bare == "no-color" {
            out.push(w.clone());
        }
        i += 1;
    }
    out
}

/// `drover status` with no identifier: the jobs (Nomad's
/// `createStatusListOutput`).
async fn jobs(ctx: &Ctx) -> anyhow::Result<String> {
    let jobs = ctx
        .api
        .get("/v1/jobs")
        .await
        .map_err(|e| anyhow!("Error querying jobs: {e:#}"))?;
    let jobs = jobs.as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        return Ok("No running jobs".into());
    }
    let mut rows = vec!["ID|Type|Priority|Status|Submit Date".to_string()];
    for j in &jobs {
        rows.push(format!(
            "{}|{}|{}|{}|{}",
            text(&j["ID"]),
            job_type(j),
            int(&j["Priority"]),
            job_status(j),
            format_time(int(&j["SubmitTime"]))
        ));
    }
    Ok(list(&rows))
}

/// `service`, `batch/periodic`, `batch/parameterized` (Nomad's
/// `getTypeString`).
fn job_type(j: &Value) -> String {
    let t = text(&j["Type"]);
    if j["Periodic"] == true || !j["Periodic"].is_null() && j["Periodic"].is_object() {
        format!("{t}/periodic")
    } else if j["ParameterizedJob"] == true || j["ParameterizedJob"].is_object() {
        format!("{t}/parameterized")
    } else {
        t
    }
}

/// `dead (stopped)` for a stopped job (Nomad's `getStatusString`).
fn job_status(j: &Value) -> String {
    if j["Stop"] == true {
        "dead (stopped)".into()
    } else {
        text(&j["Status"])
    }
}

/// `drover event <args>`.
pub fn event(args: &[String]) -> ExitCode {
    command::dispatch("event", args, usage::EVENT, &[("stream", stream)])
}

fn stream(words: &[String]) -> ExitCode {
    let spec = &[
        ("topic", Kind::Value),
        ("index", Kind::Value),
        ("json", Kind::Bool),
    ];
    command::run(
        "event stream",
        words,
        spec,
        usage::EVENT_STREAM,
        stream_body,
    )
}

async fn stream_body(ctx: Ctx) -> anyhow::Result<String> {
    let mut query: Vec<String> = ctx
        .flags
        .all("topic")
        .iter()
        .map(|t| {
            if t.contains(':') {
                format!("topic={}", form_urlencoded(t))
            } else {
                format!("topic={}", form_urlencoded(&format!("{t}:*")))
            }
        })
        .collect();
    if let Some(i) = ctx
        .flags
        .int("index")
        .map_err(|_| anyhow!("invalid value for flag -index: not a number"))?
    {
        if i < 0 {
            bail!("invalid value for flag -index: must not be negative");
        }
        query.push(format!("index={i}"));
    }
    let path = if query.is_empty() {
        "/v1/event/stream".to_string()
    } else {
        format!("/v1/event/stream?{}", query.join("&"))
    };
    let r = ctx
        .api
        .http
        .get(ctx.api.url(&path))
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "Error querying event stream: {}",
                super::api::connect_error(&ctx.api.base, &e)
            )
        })?;
    if !r.status().is_success() {
        let code = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        bail!(
            "Error querying event stream: Unexpected response code: {code} ({})",
            body.trim()
        );
    }
    let json_out = ctx.format.json;
    let mut body = r.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let stdout = std::io::stdout();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| anyhow!("Error reading event stream: {e}"))?;
        buf.extend_from_slice(&chunk);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(frame) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let mut out = stdout.lock();
            for e in frame["Events"].as_array().cloned().unwrap_or_default() {
                let text_line = if json_out {
                    e.to_string()
                } else {
                    format!(
                        "{} {} {} {}",
                        int(&e["Index"]),
                        text(&e["Topic"]),
                        text(&e["Type"]),
                        text(&e["Key"])
                    )
                };
                // A closed stdout (`| head`) ends the command quietly.
                if writeln!(out, "{text_line}")
                    .and_then(|_| out.flush())
                    .is_err()
                {
                    return Ok(String::new());
                }
            }
        }
    }
    Ok(String::new())
}
