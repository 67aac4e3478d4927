//! `drover agent` serves Nomad's exec WebSocket: commands run
//! inside a raw_exec task with pipes or a pty, Nomad's frames and close
//! codes, and a server agent relays a session to the client agent that
//! runs the allocation. The task itself never notices.

mod common;
mod ws_client;

use std::time::{Duration, Instant};

use common::{submit, Agent, DEADLINE};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use ws_client::{
    assert_closed, check_tty_resize, close_and_read_answer, connect, finish, read_until, send,
    send_oversized, stdin, Outcome, Socket,
};

/// A service job whose task `t` sleeps; returns its alloc ID once running.
async fn sleeping_task(a: &Agent, job: &str) -> String {
    submit(
        a,
        json!({"ID": job, "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Env": {"GREETING": "hello"},
                "Config": {"command": "/bin/sleep", "args": ["1000"]}}]}]}),
    )
    .await;
    let list = a
        .until(
            &format!("/v1/job/{job}/allocations"),
            "the alloc running",
            |v| {
                v.as_array().is_some_and(|l| {
                    l.len() == 1
                        && l[0]["ClientStatus"] == "running"
                        && l[0]["TaskStates"]["t"]["State"] == "running"
                })
            },
        )
        .await;
    list[0]["ID"].as_str().unwrap().to_string()
}

/// The task still runs, never restarted, after whatever the test did.
async fn assert_task_untouched(a: &Agent, alloc: &str) {
    let (_, v, _) = a.get(&format!("/v1/allocation/{alloc}")).await;
    assert_eq!(v["ClientStatus"], "running", "{v}");
    assert_eq!(v["TaskStates"]["t"]["State"], "running", "{v}");
    assert_eq!(v["TaskStates"]["t"]["Restarts"], 0, "{v}");
}

fn exec_url(a: &Agent, alloc: &str, task: &str, command: &str, tty: bool) -> String {
    let tty = if tty { "true" } else { "false" };
    ws_client::url(
        &a.base,
        alloc,
        "exec",
        &[("task", task), ("command", command), ("tty", tty)],
    )
}

async fn open(
    a: &Agent,
    alloc: &str,
    task: &str,
    command: &[&str],
    tty: bool,
) -> Result<Socket, tungstenite::Error> {
    let command = serde_json::to_string(command).unwrap();
    connect(exec_url(a, alloc, task, &command, tty), DEADLINE).await
}

/// The session ends with a close frame of `code` whose reason contains
/// `reason`, or (`or_400`) the upgrade is refused with 400.
async fn assert_refused(
    opened: Result<Socket, tungstenite::Error>,
    code: CloseCode,
    reason: &str,
    or_400: bool,
) {
    match opened {
        Ok(mut ws) => {
            let out = finish(&mut ws, DEADLINE).await;
            assert_closed(&out, u16::from(code), reason);
        }
        Err(tungstenite::Error::Http(r)) if or_400 => {
            assert_eq!(r.status(), StatusCode::BAD_REQUEST.as_u16());
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[tokio::test]
async fn exec_runs_commands_with_exit_codes_stdin_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = sleeping_task(&a, "svc").await;

    // The exit code, then a normal close.
    let mut ws = open(&a, &alloc, "t", &["/bin/sh", "-c", "exit 3"], false)
        .await
        .unwrap();
    // Frames the user sends while the command is ending do not cost it
    // the exit frame.
    for _ in 0..50 {
        let _ = ws.send(Message::Text("{}".into())).await;
    }
    let out = finish(&mut ws, DEADLINE).await;
    assert_eq!(out.exit_code(), Some(3), "{out:?}");
    assert_eq!(out.close.as_ref().map(|c| c.0), Some(1000), "{out:?}");

    // stdin through to cat, closed, read back; the task's env and dir.
    let mut ws = open(&a, &alloc, "t", &["cat"], false).await.unwrap();
    // The optional handshake frame and a heartbeat are harmless.
    send(&mut ws, json!({"version": 1, "auth_token": "x"})).await;
    send(&mut ws, json!({})).await;
    stdin(&mut ws, b"through cat\n").await;
    send(&mut ws, json!({"stdin": {"close": true}})).await;
    let out = finish(&mut ws, DEADLINE).await;
    assert_eq!(out.stdout(), "through cat\n");
    assert_eq!(out.exit_code(), Some(0));

    let mut ws = open(
        &a,
        &alloc,
        "t",
        &["/bin/sh", "-c", "echo $GREETING; echo err >&2; pwd"],
        false,
    )
    .await
    .unwrap();
    let out = finish(&mut ws, DEADLINE).await;
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines[0], "hello");
    assert!(lines[1].ends_with(&format!("{alloc}/t")), "{lines:?}");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code(), Some(0));

    assert_task_untouched(&a, &alloc).await;
}

#[tokio::test]
async fn exec_with_a_tty_sizes_and_resizes_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = sleeping_task(&a, "svc").await;

    let mut ws = open(&a, &alloc, "t", &["/bin/sh"], true).await.unwrap();
    let out = check_tty_resize(&mut ws, DEADLINE).await;
    assert_eq!(out.close.as_ref().map(|c| c.0), Some(1000));

    assert_task_untouched(&a, &alloc).await;
}

#[tokio::test]
async fn exec_refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = sleeping_task(&a, "svc").await;

    let opened = open(&a, &alloc, "nosuchtask", &["true"], false).await;
    assert_refused(opened, CloseCode::Policy, "nosuchtask", true).await;

    let opened = open(&a, &alloc, "t", &[], false).await;
    assert_refused(opened, CloseCode::Policy, "command", true).await;

    // Not a JSON array at all: refused before the upgrade.
    let url = exec_url(&a, &alloc, "t", "ls -l", false);
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }

    // An unknown allocation is a 404 before the upgrade.
    let unknown = "00000000-0000-0000-0000-000000000000";
    match open(&a, unknown, "t", &["true"], false).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("expected 404, got {:?}", other.map(|_| ())),
    }

    // A frame that is not JSON ends the session with 1008.
    let mut ws = open(&a, &alloc, "t", &["cat"], false).await.unwrap();
    ws.send(Message::Text("hello?".into())).await.unwrap();
    assert_refused(Ok(ws), CloseCode::Policy, "invalid exec frame", false).await;

    // So does base64 that does not decode.
    let mut ws = open(&a, &alloc, "t", &["cat"], false).await.unwrap();
    send(&mut ws, json!({"stdin": {"data": "%%% not base64"}})).await;
    assert_refused(Ok(ws), CloseCode::Policy, "stdin", false).await;

    // A command that does not exist is the agent's failure to run it.
    let opened = open(&a, &alloc, "t", &["/no/such/program"], false).await;
    assert_refused(opened, CloseCode::Error, "/no/such/program", false).await;

    // A session the user walks away from: its command is killed, the task
    // is not.
    let mut ws = open(
        &a,
        &alloc,
        "t",
        &["/bin/sh", "-c", "echo $$; exec sleep 100"],
        false,
    )
    .await
    .unwrap();
    let mut out = Outcome::default();
    read_until(&mut ws, &mut out, DEADLINE, |o| o.stdout.ends_with(b"\n")).await;
    let pid: u32 = out.stdout().trim().parse().unwrap();
    drop(ws);
    let started = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "))
    {
        assert!(
            started.elapsed() < DEADLINE,
            "exec {pid} outlived its socket"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_task_untouched(&a, &alloc).await;
}

#[tokio::test]
async fn a_server_relays_exec_to_the_client_agent_and_reports_its_loss() {
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let (server, client) =
        Agent::start_server_and_client(server_dir.path(), client_dir.path()).await;
    let alloc = sleeping_task(&server, "far").await;

    let mut ws = open(
        &server,
        &alloc,
        "t",
        &["/bin/sh", "-c", "cat; exit 4"],
        false,
    )
    .await
    .unwrap();
    stdin(&mut ws, b"relayed\n").await;
    send(&mut ws, json!({"stdin": {"close": true}})).await;
    let out = finish(&mut ws, DEADLINE).await;
    assert_eq!(out.stdout(), "relayed\n");
    assert_eq!(out.exit_code(), Some(4));
    assert_eq!(out.close.as_ref().map(|c| c.0), Some(1000), "{out:?}");

    // An unknown task's refusal comes through too.
    let opened = open(&server, &alloc, "nosuchtask", &["true"], false).await;
    assert_refused(opened, CloseCode::Policy, "nosuchtask", true).await;

    // The client node dies mid-session: the user's socket is closed with
    // 1011 and a reason, it does not hang.
    let mut ws = open(
        &server,
        &alloc,
        "t",
        &["/bin/sh", "-c", "echo up; sleep 100"],
        false,
    )
    .await
    .unwrap();
    let mut out = Outcome::default();
    read_until(&mut ws, &mut out, DEADLINE, |o| o.stdout() == "up\n").await;
    client.crash();
    read_until(&mut ws, &mut out, DEADLINE, |_| false).await;
    assert_closed(&out, 1011, "lost connection to client node");
    common::kill_processes_under(client_dir.path());
}

/// Every error about a task names it; none says `task ""`. Signal and
/// restart of every task, when none runs, name the allocation instead.
#[tokio::test]
async fn errors_name_the_task_they_concern() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "done", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/true"}}]}]}),
    )
    .await;
    let allocs = a
        .until(
            "/v1/job/done/allocations",
            "the batch alloc complete",
            |v| {
                v.as_array()
                    .is_some_and(|l| l.len() == 1 && l[0]["ClientStatus"] == "complete")
            },
        )
        .await;
    let alloc = allocs[0]["ID"].as_str().unwrap().to_string();

    let cases = [
        (
            "signal",
            json!({"Signal": "SIGUSR1"}),
            format!("no task of allocation {alloc} is running"),
        ),
        (
            "signal",
            json!({"Signal": "SIGUSR1", "Task": ""}),
            format!("no task of allocation {alloc} is running"),
        ),
        (
            "signal",
            json!({"Signal": "SIGUSR1", "Task": "t"}),
            r#"task "t" not running"#.to_string(),
        ),
        (
            "signal",
            json!({"Signal": "SIGUSR1", "Task": "nope"}),
            r#"unknown task name "nope""#.to_string(),
        ),
        (
            "restart",
            json!({}),
            format!("no task of allocation {alloc} is running"),
        ),
        (
            "restart",
            json!({"TaskName": "t"}),
            r#"task "t" not running"#.to_string(),
        ),
    ];
    for (op, body, want) in cases {
        let r = a
            .http
            .put(a.url(&format!("/v1/client/allocation/{alloc}/{op}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{op} {body}: {text}");
        assert!(text.contains(&want), "{op} {body}: {text:?} lacks {want:?}");
        assert!(!text.contains(r#"task """#), "{op} {body}: {text:?}");
    }

    // Exec into the dead task: the close reason names it.
    let opened = open(&a, &alloc, "t", &["true"], false).await;
    assert_refused(opened, CloseCode::Policy, r#"task "t" not running"#, true).await;
    // No task at all is refused before the upgrade.
    let url = ws_client::url(&a.base, &alloc, "exec", &[("command", "[\"true\"]")]);
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
}

/// A client's close frame is answered with the agent's own (not a dropped
/// connection, 1006), and a message over the 1 MiB limit with 1009: on the
/// client agent itself and through a server that relays the session.
#[tokio::test]
async fn close_frames_are_answered_and_oversized_messages_get_1009() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = sleeping_task(&a, "svc").await;
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let (server, _client) =
        Agent::start_server_and_client(server_dir.path(), client_dir.path()).await;
    let far = sleeping_task(&server, "far").await;

    for (agent, alloc, hop) in [(&a, &alloc, "local"), (&server, &far, "relayed")] {
        for tty in [false, true] {
            let mut ws = open(agent, alloc, "t", &["cat"], tty).await.unwrap();
            let answer = close_and_read_answer(&mut ws, DEADLINE).await;
            assert_eq!(answer, Some(1000), "{hop} tty={tty}: the close is answered");

            let mut ws = open(agent, alloc, "t", &["cat"], tty).await.unwrap();
            let out = send_oversized(&mut ws, 1 << 20, DEADLINE).await;
            assert_closed(&out, 1009, "message too big");
            assert!(out.stdout.is_empty(), "{hop}: nothing of it reached cat");
        }
        // Just under the limit is fine: 700 KiB of stdin, base64 in JSON.
        let mut ws = open(agent, alloc, "t", &["wc", "-c"], false).await.unwrap();
        stdin(&mut ws, &vec![b'x'; 700 << 10]).await;
        send(&mut ws, json!({"stdin": {"close": true}})).await;
        let out = finish(&mut ws, DEADLINE).await;
        assert_eq!(
            out.stdout().trim(),
            (700 << 10).to_string(),
            "{hop}: {out:?}"
        );
        assert_eq!(out.exit_code(), Some(0), "{hop}");
    }
    assert_task_untouched(&a, &alloc).await;
    common::kill_processes_under(client_dir.path());
}
