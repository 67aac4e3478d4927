//! `drover job ...` against a real dev agent, with stdout a pipe (not a
//! terminal): `job init` then `job run` of what it wrote, the plain-line
//! progress, `-json` output that parses, `job plan`'s exit codes, an
//! unplaceable job's exit 2 with Nomad's placement failure text, prefixes,
//! and the one-line errors of bad input.
//!
//! Agents here listen on 127.0.1.130–127.0.1.139, one address per test.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dev_agent::{agent_on, ready};
use common::DEADLINE;
use serde_json::Value;

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `drover job <args>` in `dir` against `addr`, within the deadline.
fn job(dir: &Path, addr: &str, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("job")
        .args(args)
        .current_dir(dir)
        .env("DROVER_ADDR", addr)
        .env_remove("NOMAD_ADDR")
        .env_remove("NOMAD_NAMESPACE")
        .env_remove("NOMAD_REGION")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("drover runs");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("drover job {args:?} did not end within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    run
}

#[track_caller]
fn assert_ok(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(run.code, Some(code), "{run:#?}");
    for n in needles {
        assert!(run.stdout.contains(n), "stdout lacks {n:?}: {run:#?}");
    }
}

/// A failed command: `code`, and stderr's first line contains `msg`.
#[track_caller]
fn assert_fails(run: &Run, code: i32, msg: &str) {
    assert_eq!(run.code, Some(code), "{run:#?}");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains(msg),
        "first stderr line lacks {msg:?}: {run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_run_status_plan_and_json_on_a_dev_agent() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(dir.path(), "127.0.1.131");
    ready(&a).await;
    let (d, addr) = (dir.path(), a.base.as_str());

    assert_ok(&job(d, addr, &["init"]), 0, &["example.nomad.hcl"]);
    assert_fails(&job(d, addr, &["init"]), 1, "already exists");

    // Not a terminal: the progress is plain lines, no cursor movement.
    let run = job(d, addr, &["run", "example.nomad.hcl"]);
    assert_ok(
        &run,
        0,
        &[
            "Monitoring evaluation",
            "Evaluation triggered by job \"example\"",
            "\" created: node \"",
            "finished with status \"complete\"",
            "Monitoring deployment",
            "Task Group  Desired  Placed  Healthy  Unhealthy  Progress Deadline",
            "Status      = successful",
            "Allocations\nID",
        ],
    );
    assert!(
        !run.stdout.contains('\x1b'),
        "escape codes in a pipe: {run:#?}"
    );
    assert_eq!(run.stdout.matches(" created: node ").count(), 2, "{run:#?}");

    let list = job(d, addr, &["status"]);
    assert_ok(
        &list,
        0,
        &["ID       Type     Priority  Status   Submit Date"],
    );
    let one = job(d, addr, &["status", "exa"]);
    assert_ok(
        &one,
        0,
        &[
            "ID            = example",
            "Summary\nTask Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown\napp         0       0         2",
            "Latest Deployment\nID          = ",
            "Allocations\nID  ",
        ],
    );

    let status_json = job(d, addr, &["status", "-json", "example"]);
    assert_eq!(status_json.code, Some(0), "{status_json:#?}");
    let v: Value = serde_json::from_str(&status_json.stdout).expect("status -json parses");
    assert_eq!(v[0]["Summary"]["JobID"], "example", "{v}");
    assert_eq!(v[0]["Allocations"].as_array().map(Vec::len), Some(2), "{v}");
    let templated = job(
        d,
        addr,
        &[
            "status",
            "-t",
            "{{range .}}{{.Summary.JobID}}{{end}}",
            "example",
        ],
    );
    assert_eq!(templated.stdout.trim(), "example", "{templated:#?}");
    let inspect = job(d, addr, &["inspect", "example"]);
    let v: Value = serde_json::from_str(&inspect.stdout).expect("inspect parses");
    assert_eq!(v["Job"]["ID"], "example");
    // What inspect prints runs again as JSON; unchanged, it is no new version.
    std::fs::write(d.join("example.json"), &inspect.stdout).unwrap();
    assert_ok(
        &job(d, addr, &["run", "-json", "-detach", "example.json"]),
        0,
        &["Job registration successful"],
    );
    let v: Value = serde_json::from_str(&job(d, addr, &["inspect", "-json", "example"]).stdout)
        .expect("inspect -json parses");
    assert_eq!(v["Version"], 0, "{v}");
    // -namespace travels as a query parameter: another namespace is empty.
    assert_ok(
        &job(d, addr, &["status", "-namespace", "other"]),
        0,
        &["No running jobs"],
    );

    // Nomad's job_plan.go: 0 when nothing would change, 1 when it would.
    let same = job(d, addr, &["plan", "example.nomad.hcl"]);
    assert_ok(
        &same,
        0,
        &[
            "Job: \"example\"",
            "- All tasks successfully allocated.",
            "drover job run -check-index ",
        ],
    );
    let text = std::fs::read_to_string(d.join("example.nomad.hcl")).unwrap();
    std::fs::write(d.join("three.hcl"), text.replace("count = 2", "count = 3")).unwrap();
    let more = job(d, addr, &["plan", "three.hcl"]);
    assert_ok(
        &more,
        1,
        &[
            "+/- Job: \"example\"",
            "+/- Count: \"2\" => \"3\"",
            "1 create",
        ],
    );
    let stale = job(
        d,
        addr,
        &["run", "-detach", "-check-index", "1", "three.hcl"],
    );
    assert_fails(&stale, 1, "nforcing job modify index 1");
    assert!(stale.stderr.contains("Job not updated"), "{stale:#?}");

    // A second job sharing the prefix makes "exa" ambiguous.
    std::fs::write(
        d.join("two.hcl"),
        text.replace("job \"example\"", "job \"exa-two\""),
    )
    .unwrap();
    assert_ok(
        &job(d, addr, &["run", "-detach", "two.hcl"]),
        0,
        &["Job registration successful", "Evaluation ID: "],
    );
    let amb = job(d, addr, &["status", "exa"]);
    assert_fails(&amb, 1, "Prefix \"exa\" matched multiple jobs");
    assert!(
        amb.stderr.contains("exa-two") && amb.stderr.contains("example"),
        "{amb:#?}"
    );

    let scaled = job(d, addr, &["scale", "-detach", "example", "app", "1"]);
    assert_ok(&scaled, 0, &["Job scale successful"]);
    let hist = job(d, addr, &["history", "-p", "example"]);
    assert_ok(
        &hist,
        0,
        &[
            "Version     = 1",
            "Version     = 0",
            "+/- Count: \"2\" => \"1\"",
        ],
    );
    let stopped = job(d, addr, &["stop", "-detach", "exa-two"]);
    assert_eq!(stopped.code, Some(0), "{stopped:#?}");
    assert_eq!(stopped.stdout.trim().len(), 36, "an eval ID: {stopped:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unplaceable_job_exits_2_with_the_placement_failures() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(dir.path(), "127.0.1.132");
    ready(&a).await;
    let d = dir.path();
    let spec = r#"job "huge" {
  group "big" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 100"]
      }
      resources {
        memory = 99999999
      }
    }
  }
}
"#;
    std::fs::write(d.join("huge.hcl"), spec).unwrap();
    let run = job(d, &a.base, &["run", "huge.hcl"]);
    assert_ok(
        &run,
        2,
        &[
            "finished with status \"complete\" but failed to place all allocations:",
            "Task Group \"big\" (failed to place 1 allocation):",
            "      * Dimension \"memory\" exhausted on 1 nodes",
            "waiting for additional capacity to place remainder",
        ],
    );
    let status = job(d, &a.base, &["status", "huge"]);
    assert_ok(
        &status,
        0,
        &[
            "Placement Failure\nTask Group \"big\" (failed to place 1 allocation):",
            "Allocations\nNo allocations placed",
        ],
    );
    let plan = job(d, &a.base, &["plan", "huge.hcl"]);
    assert_ok(&plan, 0, &["- WARNING: Failed to place all allocations."]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(dir.path(), "127.0.1.133");
    ready(&a).await;
    let (d, addr) = (dir.path(), a.base.as_str());

    assert_fails(
        &job(d, addr, &["run", "nope.hcl"]),
        1,
        "Error reading job file nope.hcl",
    );
    // job plan's error status is 255: its 1 means "changes".
    assert_fails(
        &job(d, addr, &["plan", "nope.hcl"]),
        255,
        "Error reading job file",
    );
    std::fs::write(
        d.join("bad.hcl"),
        "job \"x\" {\n  group \"g\" {\n    count = \n  }\n}\n",
    )
    .unwrap();
    let bad = job(d, addr, &["run", "bad.hcl"]);
    assert_fails(
        &bad,
        1,
        "Error parsing job file bad.hcl: HCL syntax error at line 3",
    );
    assert_eq!(bad.stderr.lines().count(), 1, "{bad:#?}");
    assert_fails(
        &job(d, addr, &["status", "-bogus"]),
        1,
        "flag provided but not defined: -bogus",
    );
    assert_fails(
        &job(d, addr, &["status", "missing"]),
        1,
        "No job(s) with prefix or ID \"missing\" found",
    );
    assert_fails(
        &job(d, addr, &["run", "-var", "n=1", "bad.hcl"]),
        1,
        "Error parsing job file bad.hcl",
    );
    // Nothing listens on port 1 of our address.
    let down = job(d, "http://127.0.1.139:1", &["status"]);
    assert_fails(&down, 1, "cannot reach the agent at http://127.0.1.139:1");
    assert_eq!(down.stderr.lines().count(), 1, "{down:#?}");
}
