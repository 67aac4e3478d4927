//! `drover eval|deployment|node|alloc status|status|system|event|ui|
//! completion` as a user runs them, against a real `drover agent -dev`:
//! each command's output shape, `-json` that parses, `-t` templates, bad
//! and ambiguous prefixes, unknown flags, an agent that does not answer.
//! Each test runs its own agent on its own loopback address in
//! 127.0.1.100-129.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{blocked_job, submit, Agent, DEADLINE};
use serde_json::{json, Value};

/// `drover agent -dev` on `ip` (HTTP 4646, RPC 4647), ready once its node
/// is registered (or at once with `client { enabled = false }` in `extra`).
async fn agent_on(ip: &str, dir: &Path, extra: &str) -> Agent {
    agent_logging_to(ip, dir, extra, None).await
}

/// [`agent_on`]; with `log`, at the agent's own log level with stderr
/// written to that file.
async fn agent_logging_to(ip: &str, dir: &Path, extra: &str, log: Option<&Path>) -> Agent {
    let config = dir.join("agent.hcl");
    std::fs::write(
        &config,
        format!("bind_addr = \"{ip}\"\nports {{\n  http = 4646\n  rpc = 4647\n}}\n{extra}\n"),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drover"));
    cmd.args(["agent", "-dev"]);
    match log {
        Some(file) => {
            cmd.stderr(std::fs::File::create(file).unwrap())
                .env_remove("RUST_LOG");
        }
        None => {
            cmd.arg("-log-level=warn").stderr(Stdio::inherit());
        }
    }
    let child = cmd
        .arg("-data-dir")
        .arg(dir.join("data"))
        .arg("-config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("drover starts");
    let a = Agent {
        child,
        base: format!("http://{ip}:4646"),
        http: reqwest::Client::new(),
        data_dir: dir.to_path_buf(),
        reap_tasks: true,
    };
    let started = Instant::now();
    loop {
        let ready = match a.http.get(a.url("/v1/status/leader")).send().await {
            Ok(r) => r.status().is_success() && r.text().await.is_ok_and(|t| t.len() > 2),
            Err(_) => false,
        };
        if ready {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "agent on {ip} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !extra.contains("enabled = false") {
        a.until("/v1/nodes", "the dev node registered", |v| {
            v.as_array().is_some_and(|n| n.len() == 1)
        })
        .await;
    }
    a
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `drover <args>` against `base`, stdin empty, colour off.
fn drover_at(base: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env("DROVER_ADDR", base)
        .env_remove("NOMAD_ADDR")
        .stdin(Stdio::null())
        .output()
        .expect("drover runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{args:?}: {run:?}");
    run
}

fn drover(a: &Agent, args: &[&str]) -> Run {
    drover_at(&a.base, args)
}

/// A successful run's stdout.
#[track_caller]
fn ok(run: Run) -> String {
    assert_eq!(run.code, Some(0), "{run:?}");
    run.stdout
}

/// A failed run: status 1, `msg` on stderr, no usage dump.
#[track_caller]
fn fails(run: &Run, msg: &str) {
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains(msg), "stderr lacks {msg:?}: {run:?}");
}

/// The header row of the first table in `out` (columns split on 2+ spaces).
fn columns(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The value of `Key = value` in a KV block.
fn kv<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            (k.trim_end() == key).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {key:?} in:\n{out}"))
}

fn json_of(run: Run) -> Value {
    let out = ok(run);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("-json output is not JSON ({e}):\n{out}"))
}

async fn running_job(a: &Agent, id: &str) -> Value {
    submit(
        a,
        json!({"ID": id, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t",
            "Driver": "raw_exec", "Config": {"command": "/bin/sleep", "args": ["600"]}}]}]}),
    )
    .await;
    let allocs = a
        .until(
            &format!("/v1/job/{id}/allocations"),
            "the job's allocation running",
            |v| {
                v.as_array()
                    .is_some_and(|l| l.iter().any(|x| x["ClientStatus"] == "running"))
            },
        )
        .await;
    allocs[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_show_nomads_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on("127.0.1.101", dir.path(), "").await;
    let alloc = running_job(&a, "web").await;
    let alloc_id = alloc["ID"].as_str().unwrap().to_string();
    let eval_id = alloc["EvalID"].as_str().unwrap().to_string();

    // `status`: the jobs.
    let out = ok(drover(&a, &["status"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        columns(lines[0]),
        ["ID", "Type", "Priority", "Status", "Submit Date"]
    );
    assert!(lines[1].starts_with("web "), "{out}");

    // `eval list` and `eval status`.
    let out = ok(drover(&a, &["eval", "list"]));
    assert_eq!(
        columns(out.lines().next().unwrap()),
        [
            "ID",
            "Priority",
            "Triggered By",
            "Job ID",
            "Namespace",
            "Node ID",
            "Status",
            "Placement Failures"
        ]
    );
    assert!(
        out.contains(&eval_id[..8]) && !out.contains(&eval_id),
        "short IDs: {out}"
    );
    let evals = json_of(drover(&a, &["eval", "list", "-json", "-job", "web"]));
    assert!(evals
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["ID"] == eval_id.as_str())));
    let out = ok(drover(&a, &["eval", "status", &eval_id[..6]]));
    assert_eq!(kv(&out, "ID"), &eval_id[..8]);
    assert_eq!(kv(&out, "Status"), "complete");
    assert_eq!(kv(&out, "TriggeredBy"), "job-register");
    assert_eq!(kv(&out, "Placement Failures"), "false");
    assert!(out.contains("\n\nPlaced Allocations\nID "), "{out}");
    assert!(out.contains(&alloc_id[..8]), "{out}");
    let out = ok(drover(&a, &["eval", "status", "-verbose", &eval_id]));
    assert_eq!(kv(&out, "ID"), eval_id);
    assert!(
        kv(&out, "Create Time").starts_with("20"),
        "absolute time: {out}"
    );
    let t = ok(drover(
        &a,
        &[
            "eval",
            "status",
            "-t",
            "{{.JobID}}/{{.Status}}",
            &eval_id[..6],
        ],
    ));
    assert_eq!(t.trim(), "web/complete");

    // `alloc status`.
    let out = ok(drover(&a, &["alloc", "status", &alloc_id[..6]]));
    assert_eq!(kv(&out, "ID"), alloc_id);
    assert_eq!(kv(&out, "Client Status"), "running");
    assert_eq!(kv(&out, "Job ID"), "web");
    assert!(
        out.contains("Task \"t\" is \"running\"\nTask Resources:\nCPU "),
        "{out}"
    );
    assert!(out.contains("Recent Events:\nTime  "), "{out}");
    assert!(out.contains("Task started by client"), "{out}");
    assert!(!out.contains("Placement Metrics"), "{out}");
    let out = ok(drover(&a, &["alloc", "status", "-verbose", &alloc_id[..6]]));
    assert!(out.contains("\n\nPlacement Metrics\n"), "{out}");
    assert_eq!(kv(&out, "Evaluated Nodes"), "1");
    let v = json_of(drover(&a, &["alloc", "status", "-json", &alloc_id[..6]]));
    assert_eq!(v["ID"], alloc_id.as_str());
    let raw = ok(drover(&a, &["alloc", "status", "-json", &alloc_id]));
    assert!(raw.starts_with("{\n    \""), "four-space indent: {raw}");

    // `node status`: the list, -self, one node.
    let out = ok(drover(&a, &["node", "status"]));
    assert_eq!(
        columns(out.lines().next().unwrap()),
        [
            "ID",
            "Node Pool",
            "DC",
            "Name",
            "Class",
            "Drain",
            "Eligibility",
            "Status"
        ]
    );
    let node_id = ok(drover(&a, &["node", "status", "-self", "-t", "{{.ID}}"]))
        .trim()
        .to_string();
    assert_eq!(node_id.len(), 36, "{node_id}");
    let out = ok(drover(&a, &["node", "status", &node_id[..5]]));
    assert_eq!(kv(&out, "ID"), node_id);
    assert_eq!(kv(&out, "Status"), "ready");
    assert!(out.contains("\n\nAllocated Resources\nCPU "), "{out}");
    assert!(out.contains("\n\nAllocations\nID "), "{out}");
    let out = ok(drover(&a, &["node", "status", "-verbose", &node_id]));
    assert!(out.contains("\n\nAttributes\n"), "{out}");
    assert!(kv(&out, "driver.raw_exec").starts_with('1'), "{out}");
    let nodes = json_of(drover(&a, &["node", "status", "-json"]));
    assert_eq!(nodes[0]["ID"], node_id.as_str());
    let out = ok(drover(&a, &["node", "pool", "list"]));
    assert!(out.starts_with("Name     Description\nall "), "{out}");

    // `deployment list|status`.
    let out = ok(drover(&a, &["deployment", "list"]));
    assert_eq!(
        columns(out.lines().next().unwrap()),
        ["ID", "Job ID", "Job Version", "Status", "Description"]
    );
    let d = json_of(drover(&a, &["deployment", "list", "-json"]));
    let dep = d[0]["ID"].as_str().unwrap().to_string();
    let out = ok(drover(&a, &["deployment", "status", &dep[..6]]));
    assert_eq!(kv(&out, "Job ID"), "web");
    assert!(
        out.contains("\n\nDeployed\nTask Group  Desired  Placed  Healthy  Unhealthy"),
        "{out}"
    );

    // `status <prefix>` resolves through the search API to each view.
    let out = ok(drover(&a, &["status", &alloc_id[..6]]));
    assert_eq!(kv(&out, "ID"), alloc_id);
    assert!(out.contains("Recent Events:"), "{out}");
    let out = ok(drover(&a, &["status", &dep[..6]]));
    assert!(out.contains("Deployed"), "{out}");
    // A job is shown as `job status` shows it, as Nomad's
    // `command/status.go` hands a job match to `JobStatusCommand`: the
    // same header, summary, latest deployment and allocations. Ages ("5s
    // ago") tick and the deployment may progress between two runs, so the
    // pair is taken again until it agrees.
    let without_ages = |out: &str| -> String {
        let mut lines = Vec::new();
        for l in out.lines() {
            let words: Vec<&str> = l.split_whitespace().collect();
            let kept: Vec<&str> = (0..words.len())
                .filter(|&i| words[i] != "ago" && words.get(i + 1) != Some(&"ago"))
                .map(|i| words[i])
                .collect();
            lines.push(kept.join(" "));
        }
        lines.join("\n")
    };
    let started = Instant::now();
    let via_status = loop {
        let via_status = ok(drover(&a, &["status", "we"]));
        let via_job = ok(drover(&a, &["job", "status", "web"]));
        if without_ages(&via_status) == without_ages(&via_job) {
            break via_status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "`status we` is not `job status web`:\n{via_status}\n---\n{via_job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(kv(&via_status, "ID"), "web");
    for section in [
        "\n\nSummary\nTask Group  Queued",
        "\n\nLatest Deployment\n",
        "\n\nAllocations\nID ",
    ] {
        assert!(via_status.contains(section), "{section:?} in {via_status}");
    }

    // Colour: titles bold on a terminal (a pty from script(1)), never
    // with NO_COLOR, never on a pipe (every run above).
    let on_tty = |no_color: bool| {
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &format!("{} node status {node_id}", env!("CARGO_BIN_EXE_drover")),
            "/dev/null",
        ])
        .env("DROVER_ADDR", &a.base)
        .stdin(Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.output().expect("script(1) runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        on_tty(false).contains("\x1b[1mAllocations\x1b[0m"),
        "bold title on a tty"
    );
    let plain = on_tty(true);
    assert!(
        plain.contains("Allocations") && !plain.contains('\x1b'),
        "{plain:?}"
    );

    // `system gc`, `ui`.
    assert_eq!(ok(drover(&a, &["system", "gc"])), "");
    assert_eq!(ok(drover(&a, &["ui"])).trim(), format!("{}/ui/", a.base));
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_change_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on("127.0.1.102", dir.path(), "").await;
    let node = ok(drover(&a, &["node", "status", "-self", "-t", "{{.ID}}"]))
        .trim()
        .to_string();

    let out = ok(drover(&a, &["node", "eligibility", "-disable", "-self"]));
    assert_eq!(
        out.trim(),
        format!("Node {node:?} scheduling eligibility set: ineligible for scheduling")
    );
    let e = ok(drover(
        &a,
        &[
            "node",
            "status",
            "-self",
            "-t",
            "{{.SchedulingEligibility}}",
        ],
    ));
    assert_eq!(e.trim(), "ineligible");
    ok(drover(&a, &["node", "eligibility", "-enable", &node[..6]]));

    // A prefix asks for confirmation; no answer cancels.
    let out = ok(drover(&a, &["node", "drain", "-enable", &node[..6]]));
    assert!(out.contains("Canceling drain toggle"), "{out}");
    let out = ok(drover(
        &a,
        &[
            "node",
            "drain",
            "-enable",
            "-deadline",
            "10m",
            "-yes",
            &node[..6],
        ],
    ));
    assert_eq!(out.trim(), format!("Node {node:?} drain strategy set"));
    let out = ok(drover(&a, &["node", "status", &node]));
    assert!(kv(&out, "Drain").starts_with("true; 20"), "{out}");
    let out = ok(drover(&a, &["node", "drain", "-disable", "-self"]));
    assert_eq!(out.trim(), format!("Node {node:?} drain strategy unset"));
    fails(
        &drover(
            &a,
            &["node", "drain", "-enable", "-deadline", "soon", "-self"],
        ),
        "Failed to parse deadline \"soon\"",
    );
    fails(
        &drover(&a, &["node", "drain", "-self"]),
        "Either the '-enable' or '-disable' flag must be set",
    );

    running_job(&a, "api").await;
    let dep = a
        .until("/v1/deployments", "a deployment", |v| {
            v.as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let dep = dep[0]["ID"].as_str().unwrap().to_string();
    let out = ok(drover(&a, &["deployment", "pause", &dep[..6]]));
    assert_eq!(out.trim(), format!("Deployment {dep:?} paused"));
    let t = ok(drover(
        &a,
        &["deployment", "status", "-t", "{{.Status}}", &dep],
    ));
    assert_eq!(t.trim(), "paused");
    let out = ok(drover(&a, &["deployment", "resume", &dep[..6]]));
    assert!(
        out.starts_with(&format!("Deployment {dep:?} resumed")),
        "{out}"
    );
    fails(
        &drover(&a, &["deployment", "promote", &dep]),
        "Error promoting deployment: ",
    );
    let out = ok(drover(&a, &["deployment", "fail", &dep]));
    assert!(
        out.starts_with(&format!("Deployment {dep:?} failed")),
        "{out}"
    );
    assert!(out.contains("Evaluation ID: "), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on("127.0.1.103", dir.path(), "client { enabled = false }").await;
    // 40 jobs that block: 80 evaluations, so two share a two-character
    // prefix (the chance they do not is below 1e-9).
    for i in 0..40 {
        let r = a
            .http
            .put(a.url("/v1/jobs"))
            .json(&blocked_job(&format!("b{i}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let evals = a
        .until("/v1/evaluations", "80 evaluations", |v| {
            v.as_array().is_some_and(|e| e.len() >= 80)
        })
        .await;
    let ids: Vec<String> = evals
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ID"].as_str().unwrap().to_string())
        .collect();
    let shared = ids
        .iter()
        .map(|i| &i[..2])
        .find(|p| ids.iter().filter(|i| i.starts_with(*p)).count() > 1)
        .expect("two evaluations share a prefix");
    let run = drover(&a, &["eval", "status", shared]);
    fails(&run, "Prefix matched multiple evaluations\n\nID ");
    for id in ids.iter().filter(|i| i.starts_with(shared)) {
        assert!(run.stderr.contains(&id[..8]), "{run:?}");
    }

    // A job that cannot be placed: why, and the evaluation that waits.
    let e = evals
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["JobID"] == "b0" && e["TriggeredBy"] == "job-register")
        .unwrap();
    let out = ok(drover(&a, &["eval", "status", e["ID"].as_str().unwrap()]));
    assert_eq!(kv(&out, "Placement Failures"), "true");
    let blocked = kv(&out, "Blocked Eval").to_string();
    assert!(
        out.contains(
            "\n\nFailed Placements\nTask Group \"g\" (failed to place 1 allocation):\n  * No nodes were eligible for evaluation\n"
        ),
        "{out}"
    );
    assert!(out.contains("\n\nRelated Evaluations\nID "), "{out}");
    assert!(
        out.ends_with(&format!(
            "Evaluation {blocked:?} waiting for additional capacity to place remainder\n"
        )),
        "{out}"
    );

    // A page of the list ends with how to get the next one.
    let out = ok(drover(&a, &["eval", "list", "-per-page", "5"]));
    assert_eq!(out.lines().count(), 6 + 4, "{out}");
    assert!(
        out.contains("\n\nResults have been paginated. To get the next page run:\n\n"),
        "{out}"
    );
    let token = out.trim_end().rsplit(' ').next().unwrap().to_string();
    let next = ok(drover(
        &a,
        &["eval", "list", "-per-page", "5", "-page-token", &token],
    ));
    assert_ne!(
        next.lines().nth(1),
        out.lines().nth(1),
        "the next page: {next}"
    );

    fails(
        &drover(&a, &["eval", "status", "zz99"]),
        "No evaluation(s) with prefix or id \"zz99\" found",
    );
    fails(
        &drover(&a, &["eval", "status", "a"]),
        "Identifier must contain at least two characters.",
    );
    fails(
        &drover(&a, &["alloc", "status", "zz99"]),
        "No allocation(s) with prefix or id \"zz99\" found",
    );
    fails(
        &drover(&a, &["node", "status", "zz99"]),
        "No node(s) with prefix or id \"zz99\" found",
    );
    fails(
        &drover(&a, &["deployment", "status", "zz99"]),
        "Deployment ID \"zz99\" matched no deployments",
    );
    fails(
        &drover(&a, &["status", "zz99"]),
        "No matches returned for query: \"zz99\"",
    );
    let run = drover(&a, &["status", "b"]);
    fails(
        &run,
        "Multiple matches found for id \"b\"\n\nJobs:\nb0, b1, b10, ",
    );

    // Unknown flags and subcommands: one line, the way to the help.
    let run = drover(&a, &["eval", "list", "-bogus"]);
    fails(&run, "flag provided but not defined: -bogus");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    fails(
        &drover(&a, &["node", "frob"]),
        "unknown subcommand: node frob",
    );
    fails(
        &drover(&a, &["eval", "list", "-json", "-t", "x"]),
        "Both json and template formatting are not allowed",
    );
    let run = drover(&a, &["eval", "list", "-t", "{{.Nope"]);
    fails(&run, "template: :1:1: unclosed action");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");

    // No agent there.
    let run = drover_at("http://127.0.1.103:1", &["eval", "list"]);
    fails(&run, "Error querying evaluations: ");
    assert!(
        run.stderr.to_lowercase().contains("connection refused"),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn event_stream_prints_a_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on("127.0.1.104", dir.path(), "client { enabled = false }").await;
    let r = a
        .http
        .put(a.url("/v1/jobs"))
        .json(&blocked_job("ev"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    for (json_out, want) in [
        (false, " Job JobRegistered ev"),
        (true, "\"Topic\":\"Job\""),
    ] {
        let mut args = vec!["event", "stream", "-topic", "Job:ev", "-index", "1"];
        if json_out {
            args.push("-json");
        }
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(&args)
            .env("DROVER_ADDR", &a.base)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("an event within the deadline")
            .unwrap()
            .expect("a line");
        assert!(line.contains(want), "{line}");
        if json_out {
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["Key"], "ev");
        }
        child.kill().await.unwrap();
    }
}

#[test]
fn help_version_and_completion() {
    let base = "http://127.0.1.105:1";
    let top = ok(drover_at(base, &["--help"]));
    for cmd in [
        "job",
        "alloc",
        "node",
        "status",
        "eval",
        "deployment",
        "event",
        "system",
        "ui",
        "completion",
        "version",
        "operator",
        "server",
    ] {
        assert!(
            top.contains(&format!("\n    {cmd} ")),
            "-help lacks {cmd}:\n{top}"
        );
    }
    assert_eq!(ok(drover_at(base, &["-h"])), top);
    let v = format!("Drover v{}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(ok(drover_at(base, &["-version"])), v);
    assert_eq!(ok(drover_at(base, &["--version"])), v);

    let bash = ok(drover_at(base, &["completion", "bash"]));
    for want in [
        "\"eval status\") opts=\"",
        "-verbose",
        "-deadline",
        "\"node pool\") opts=\"list",
        "complete -F _drover drover",
        "-bootstrap-expect",
    ] {
        assert!(bash.contains(want), "bash completion lacks {want:?}");
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bash).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The function completes: words after `drover eval status -`.
    let probe = format!(
        "source {}\nCOMP_WORDS=(drover eval status -v)\nCOMP_CWORD=3\n_drover\necho \"${{COMPREPLY[@]}}\"\n",
        file.path().display()
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "-verbose");

    let zsh = ok(drover_at(base, &["completion", "zsh"]));
    assert!(zsh.starts_with("#compdef drover\nautoload -U +X bashcompinit && bashcompinit\n"));
    if let Ok(out) = Command::new("zsh").arg("-n").arg("-c").arg(&zsh).output() {
        assert!(
            out.status.success(),
            "zsh -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let fish = ok(drover_at(base, &["completion", "fish"]));
    assert!(fish.contains("complete -c drover -n '__fish_use_subcommand' -a deployment\n"));
    assert!(fish.contains(
        "complete -c drover -n '__fish_seen_subcommand_from node; and __fish_seen_subcommand_from drain' -o deadline\n"
    ));
    fails(
        &drover_at(base, &["completion", "tcsh"]),
        "unknown shell \"tcsh\"",
    );
    let run = drover_at(base, &["frobnicate"]);
    fails(
        &run,
        "unrecognized subcommand 'frobnicate' (see 'drover -help')",
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

/// The agent's own log on a pipe: plain text (no ANSI colour codes), and
/// at a dev agent's DEBUG level only Drover's crates speak: openraft,
/// sled and the HTTP stack stay at warn.
#[tokio::test(flavor = "multi_thread")]
async fn agent_log_is_plain_text_without_dependency_debug() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let a = agent_logging_to("127.0.1.106", dir.path(), "", Some(&log)).await;
    // Some traffic for the HTTP stack to (not) log about.
    ok(drover(&a, &["node", "status"]));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" INFO drover"), "{text}");
    assert!(
        text.contains(" DEBUG drover"),
        "a dev agent logs at debug: {text}"
    );
    assert!(!text.contains('\x1b'), "ANSI codes in a piped log: {text}");
    for dep in [
        "openraft", "sled", "hyper", "h2", "reqwest", "tower", "axum",
    ] {
        let noisy = text.lines().find(|l| {
            (l.contains(" DEBUG ") || l.contains(" TRACE ")) && l.contains(&format!(" {dep}"))
        });
        assert!(noisy.is_none(), "{dep} logs at debug: {noisy:?}");
    }
}

/// A canary deployment: `deployment status` grows Nomad's canary and
/// auto-revert columns, and `deployment promote` lets the rollout finish.
#[tokio::test(flavor = "multi_thread")]
async fn deployment_promote_finishes_a_canary_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on("127.0.1.109", dir.path(), "").await;
    let job = |secs: u32| {
        json!({"ID": "web", "TaskGroups": [{"Name": "g", "Count": 2,
            "Update": {"Canary": 1, "MaxParallel": 1, "MinHealthyTime": 1_000_000_000u64,
                       "HealthyDeadline": 60_000_000_000u64, "AutoRevert": true},
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": [secs.to_string()]}}]}]})
    };
    submit(&a, job(600)).await;
    a.until("/v1/job/web/deployment", "version 0 deployed", |d| {
        d["JobVersion"] == 0 && d["Status"] == "successful"
    })
    .await;
    submit(&a, job(601)).await;
    let d = a
        .until("/v1/job/web/deployment", "the canary healthy", |d| {
            d["JobVersion"] == 1 && d["TaskGroups"]["g"]["HealthyAllocs"] == 1
        })
        .await;
    let id = d["ID"].as_str().unwrap().to_string();

    let out = ok(drover(&a, &["deployment", "status", &id[..6]]));
    let table = out
        .split("\n\nDeployed\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    let mut rows = table.lines();
    assert_eq!(
        columns(rows.next().unwrap()),
        [
            "Task Group",
            "Auto Revert",
            "Promoted",
            "Desired",
            "Canaries",
            "Placed",
            "Healthy",
            "Unhealthy",
            "Progress Deadline"
        ]
    );
    let row = columns(rows.next().unwrap());
    assert_eq!(
        row[..8],
        ["g", "true", "false", "2", "1", "1", "1", "0"],
        "{out}"
    );

    let out = ok(drover(&a, &["deployment", "promote", &id[..6]]));
    assert!(out.starts_with("Evaluation ID: "), "{out}");
    a.until("/v1/job/web/deployment", "version 1 deployed", |d| {
        d["JobVersion"] == 1 && d["Status"] == "successful"
    })
    .await;
    let t = ok(drover(
        &a,
        &[
            "deployment",
            "status",
            "-t",
            "{{.Status}} {{.TaskGroups.g.Promoted}}",
            &id,
        ],
    ));
    assert_eq!(t.trim(), "successful true");
}
