//! `drover alloc ...` against a real dev agent: exec's exit codes, stdin and
//! stderr, logs, signal, restart, stop, attach, and the error paths a user
//! hits (bad, ambiguous or one-letter prefixes, unknown or unnamed tasks).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{alloc_when, event_types, submit, Agent, DEADLINE};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What one `drover alloc ...` run left behind.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `drover alloc <args>` against `a` with `stdin` as its input (then
/// EOF), within the deadline.
async fn drover(a: &Agent, args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"));
    cmd.arg("alloc")
        .args(args)
        .env("DROVER_ADDR", &a.base)
        .env_remove("NOMAD_ADDR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("drover runs");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    tokio::spawn(async move {
        let _ = input.write_all(&data).await;
    });
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("drover alloc {args:?} did not end within {DEADLINE:?}"))
        .unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    run
}

/// Asserts a failed run: status 1 and `msg` on stderr.
#[track_caller]
fn assert_fails(run: &Run, msg: &str) {
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains(msg), "stderr lacks {msg:?}: {run:?}");
}

const SCRIPT: &str = "trap 'echo got-usr1' USR1; echo hello-from-task; echo oops-on-stderr >&2; \
     while true; do sleep 0.1; done";

fn task(name: &str, script: &str) -> Value {
    json!({"Name": name, "Driver": "raw_exec",
        "Config": {"command": "/bin/sh", "args": ["-c", script]}})
}

async fn running(a: &Agent, job: &str, tasks: Vec<Value>) -> Value {
    submit(
        a,
        json!({"ID": job, "TaskGroups": [{"Name": "g", "Tasks": tasks}]}),
    )
    .await;
    alloc_when(a, job, "the alloc running", |x| {
        x["ClientStatus"] == "running"
            && x["TaskStates"]
                .as_object()
                .is_some_and(|ts| ts.values().all(|t| t["State"] == "running"))
    })
    .await
}

/// Polls `drover alloc logs <args>` until its stdout contains `want`.
async fn logs_until(a: &Agent, args: &[&str], want: &str) -> Run {
    let started = Instant::now();
    loop {
        let run = drover(a, args, b"").await;
        if run.code == Some(0) && run.stdout.contains(want) {
            return run;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "logs never showed {want:?}: {run:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn exec_runs_commands_with_exit_codes_stdin_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = running(&a, "svc", vec![task("t", SCRIPT)]).await;
    let id = alloc["ID"].as_str().unwrap();
    let prefix = &id[..8];

    let run = drover(
        &a,
        &[
            "exec",
            prefix,
            "/bin/sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
        b"",
    )
    .await;
    assert_eq!(run.code, Some(7), "{run:?}");
    assert_eq!(run.stdout, "out\n", "{run:?}");
    assert!(run.stderr.contains("err"), "{run:?}");

    // -i (the default, given anyway) forwards stdin; -address wins over
    // the environment; the command's own flags are not ours.
    let run = drover(
        &a,
        &[
            "exec", "-address", &a.base, "-i", "-task=t", id, "cat", "-u",
        ],
        b"through cat\nline two\n",
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "through cat\nline two\n", "{run:?}");

    // -i=false: the remote stdin is closed at once, so cat ends.
    let run = drover(&a, &["exec", "-i=false", prefix, "cat"], b"unread\n").await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), ""), "{run:?}");

    // Without a terminal, -t defaults to false: stdout and stderr apart.
    let run = drover(
        &a,
        &["exec", prefix, "/bin/sh", "-c", "test -t 0 || echo no-tty"],
        b"",
    )
    .await;
    assert_eq!(run.stdout, "no-tty\n", "{run:?}");

    // A command that does not exist is the agent's refusal or exit code,
    // never a hang.
    let run = drover(&a, &["exec", prefix, "/no/such/command"], b"").await;
    assert_ne!(run.code, Some(0), "{run:?}");
}

#[tokio::test]
async fn logs_signal_restart_and_stop_reach_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = running(&a, "svc", vec![task("t", SCRIPT)]).await;
    let id = alloc["ID"].as_str().unwrap().to_string();
    let prefix = &id[..6];

    let run = logs_until(&a, &["logs", prefix], "hello-from-task").await;
    assert!(!run.stdout.contains("oops"), "{run:?}");
    logs_until(&a, &["logs", "-stderr", prefix, "t"], "oops-on-stderr").await;
    let run = drover(&a, &["logs", "-tail", "-n", "1", "-task", "t", prefix], b"").await;
    assert_eq!(run.stdout, "hello-from-task\n", "{run:?}");
    let run = drover(&a, &["logs", "-tail", "-c", "5", prefix], b"").await;
    assert_eq!(run.stdout, "task\n", "{run:?}");
    assert_fails(
        &drover(&a, &["logs", "-tail", "-n", "x", prefix], b"").await,
        "-n",
    );

    let run = drover(&a, &["signal", "-s", "SIGUSR1", prefix, "t"], b"").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    logs_until(&a, &["logs", prefix], "got-usr1").await;
    let alloc = a.get(&format!("/v1/allocation/{id}")).await.1;
    assert!(
        event_types(&alloc, "t").iter().any(|e| e == "Signaling"),
        "{alloc}"
    );
    assert_fails(
        &drover(&a, &["signal", "-s", "SIGNOPE", prefix], b"").await,
        "Error signalling allocation",
    );

    let run = drover(&a, &["restart", "-task", "t", prefix], b"").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let alloc = a
        .until(&format!("/v1/allocation/{id}"), "Restarts = 1", |x| {
            x["TaskStates"]["t"]["Restarts"] == 1
        })
        .await;
    assert!(
        event_types(&alloc, "t")
            .iter()
            .any(|e| e == "Restart Signaled"),
        "{alloc}"
    );
    assert_fails(
        &drover(&a, &["restart", "-all-tasks", prefix, "t"], b"").await,
        "-all-tasks option is not allowed",
    );

    let run = drover(&a, &["stop", "-detach", prefix], b"").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let eval = run.stdout.trim();
    assert_eq!(eval.len(), 36, "an eval ID: {run:?}");
    let (_, e, _) = a.get(&format!("/v1/evaluation/{eval}")).await;
    assert_eq!(e["ID"], eval, "{e}");
    a.until(&format!("/v1/allocation/{id}"), "the alloc stopped", |x| {
        x["DesiredStatus"] == "stop"
    })
    .await;

    // Without -detach the evaluation is watched to its end.
    let replacement = a
        .until("/v1/job/svc/allocations", "a replacement", |v| {
            v.as_array().is_some_and(|l| {
                l.iter()
                    .any(|x| x["ID"] != id.as_str() && x["ClientStatus"] == "running")
            })
        })
        .await;
    let other = replacement
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ID"] != id.as_str())
        .unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let run = drover(&a, &["stop", &other], b"").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("finished with status \"complete\""),
        "{run:?}"
    );
}

#[tokio::test]
async fn bad_input_is_a_message_and_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let one = running(&a, "svc", vec![task("t", SCRIPT)]).await;
    let two = running(
        &a,
        "pair",
        vec![task("a", "exec sleep 1000"), task("b", "exec sleep 1000")],
    )
    .await;
    let one = one["ID"].as_str().unwrap();
    let two = two["ID"].as_str().unwrap();

    for args in [
        vec!["exec", "ffffffff-no", "true"],
        vec!["logs", "ffffffff-no"],
        vec!["signal", "ffffffff-no"],
        vec!["stop", "ffffffff-no"],
    ] {
        assert_fails(
            &drover(&a, &args, b"").await,
            "No allocation(s) with prefix or id \"ffffffff-no\" found",
        );
    }
    // An empty prefix matches both allocations: they are listed.
    let run = drover(&a, &["exec", "", "true"], b"").await;
    assert_fails(&run, "Prefix matched multiple allocations");
    assert!(
        run.stderr.contains(&one[..8]) && run.stderr.contains(&two[..8]),
        "{run:?}"
    );
    assert_fails(
        &drover(&a, &["exec", "f", "true"], b"").await,
        "at least two characters",
    );

    assert_fails(
        &drover(&a, &["exec", "-task", "nope", one, "true"], b"").await,
        "Could not find task named: nope",
    );
    let run = drover(&a, &["exec", two, "true"], b"").await;
    assert_fails(&run, "Please specify the task");
    assert!(
        run.stderr.contains("* a") && run.stderr.contains("* b"),
        "{run:?}"
    );
    let run = drover(
        &a,
        &["exec", "-task", "b", two, "/bin/sh", "-c", "exit 4"],
        b"",
    )
    .await;
    assert_eq!(run.code, Some(4), "{run:?}");

    assert_fails(
        &drover(&a, &["exec", one], b"").await,
        "A command is required",
    );
    assert_fails(
        &drover(&a, &["exec", "-t", "-i=false", one, "true"], b"").await,
        "-i must be enabled",
    );
    assert_fails(
        &drover(&a, &["exec", "-t", one, "true"], b"").await,
        "stdin is not a terminal",
    );
    assert_fails(
        &drover(&a, &["exec", "-e", "ab", one, "true"], b"").await,
        "-e requires",
    );
    assert_fails(
        &drover(&a, &["exec", "-bogus", one, "true"], b"").await,
        "flag provided but not defined: -bogus",
    );
    assert_fails(
        &drover(&a, &["logs", "-task"], b"").await,
        "flag needs an argument: -task",
    );
    assert_fails(
        &drover(&a, &["frobnicate"], b"").await,
        "Unknown subcommand",
    );
    assert_fails(&drover(&a, &[], b"").await, "Subcommands:");
    let run = drover(&a, &["-help"], b"").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("exec") && run.stdout.contains("logs"),
        "{run:?}"
    );
    let run = drover(&a, &["exec", "-h"], b"").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("-task"), "{run:?}");

    // No agent there: one line naming the address, status 1.
    let run = drover(
        &a,
        &["exec", "-address=http://127.0.0.1:1", one, "true"],
        b"",
    )
    .await;
    assert_fails(&run, "127.0.0.1:1");
}

#[tokio::test]
async fn attach_writes_to_an_interactive_task_and_detaches_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let mut t = task("t", "while read l; do echo \"got:$l\"; done");
    t["Config"]["interactive"] = json!(true);
    let alloc = running(&a, "echo", vec![t]).await;
    let id = alloc["ID"].as_str().unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["alloc", "attach", "-address", &a.base, id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Output follows from the attach on, so keep writing until an answer
    // shows the session is joined.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut n = 0;
    'outer: loop {
        n += 1;
        stdin
            .write_all(format!("hello {n}\n").as_bytes())
            .await
            .unwrap();
        let poll = tokio::time::Instant::now() + Duration::from_millis(300);
        loop {
            match tokio::time::timeout_at(poll.min(deadline), lines.next_line()).await {
                Ok(Ok(Some(l))) if l.starts_with("got:hello") => break 'outer,
                Ok(Ok(Some(_))) => {}
                Ok(other) => panic!("attach ended early: {other:?}"),
                Err(_) => break,
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer through attach"
        );
    }
    let pid = child.id().unwrap() as i32;
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "detaching is a normal end");
    // The task itself keeps running.
    let (_, v, _) = a.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(v["TaskStates"]["t"]["State"], "running", "{v}");
}

#[tokio::test]
async fn logs_follow_ends_with_the_task_or_on_interrupt() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "b", "Type": "batch", "TaskGroups": [{"Name": "g",
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "Tasks": [task("t", "echo first; sleep 1; echo second")]}]}),
    )
    .await;
    let alloc = alloc_when(&a, "b", "running", |x| x["ClientStatus"] == "running").await;
    let id = alloc["ID"].as_str().unwrap();
    // -stdout: one file from the start, followed until the task is dead.
    let run = drover(&a, &["logs", "-f", "-stdout", id], b"").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "first\nsecond\n", "{run:?}");

    // -f alone: both streams from their end, each to its own fd, until
    // interrupted.
    let script = "i=0; while true; do i=$((i+1)); echo tick $i; echo tock $i >&2; sleep 0.1; done";
    let alloc = running(&a, "ticker", vec![task("t", script)]).await;
    let id = alloc["ID"].as_str().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["alloc", "logs", "-f", "-address", &a.base, id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = |l: Option<String>| l.unwrap_or_default();
    let line = tokio::time::timeout(DEADLINE, out.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(first(line.clone()).starts_with("tick "), "{line:?}");
    let line = tokio::time::timeout(DEADLINE, err.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(first(line.clone()).starts_with("tock "), "{line:?}");
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) };
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
