//! `drover agent -dev` runs real work: a job submitted over HTTP
//! becomes processes on the dev node, with Nomad's task events and logs,
//! and a client killed -9 re-attaches to its tasks when it comes back.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{alloc_dir, alloc_when, event_types, read_events, submit, Agent, DEADLINE};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_batch_job_runs_to_completion_with_events_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "hello", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "say", "Driver": "raw_exec",
                "Config": {"command": "/bin/sh", "args": ["-c", "echo hello from $NOMAD_TASK_NAME"]}}]}]}),
    )
    .await;
    let alloc = alloc_when(&a, "hello", "batch alloc complete", |x| {
        x["ClientStatus"] == "complete"
    })
    .await;
    let events = event_types(&alloc, "say");
    for want in ["Received", "Task Setup", "Started", "Terminated"] {
        assert!(
            events.iter().any(|e| e == want),
            "{want} missing: {events:?}"
        );
    }
    let terminated = alloc["TaskStates"]["say"]["Events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Type"] == "Terminated")
        .unwrap()
        .clone();
    assert_eq!(terminated["ExitCode"], 0);
    let log = alloc_dir(dir.path(), &alloc).join("alloc/logs/say.stdout.0");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text, "hello from say\n");
    // The same bytes through Nomad's logs endpoint, plain and framed.
    let id = alloc["ID"].as_str().unwrap();
    let plain = a
        .get_text(&format!(
            "/v1/client/fs/logs/{id}?task=say&type=stdout&plain=true"
        ))
        .await;
    assert_eq!(plain, (StatusCode::OK, "hello from say\n".to_string()));
    let framed = a
        .http
        .get(a.url(&format!(
            "/v1/client/fs/logs/{id}?task=say&type=stdout&follow=true"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        framed.contains("\"File\":\"alloc/logs/say.stdout.0\""),
        "{framed}"
    );
}

// The task events reach watchers of the event stream as Allocation topic
// updates (Nomad's AllocationUpdated with the alloc's TaskStates).
#[tokio::test]
async fn task_events_reach_the_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "evs", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/true"}}]}]}),
    )
    .await;
    let mut r = a
        .http
        .get(a.url("/v1/event/stream?index=1&topic=Allocation"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut types = Vec::<String>::new();
    read_events(&mut r, "a Terminated task event", |e| {
        if e["Topic"] == "Allocation" && e["Type"] == "AllocationUpdated" {
            types = event_types(&e["Payload"]["Allocation"], "t");
        }
        types.iter().any(|t| t == "Terminated")
    })
    .await;
    for want in ["Received", "Task Setup", "Started", "Terminated"] {
        assert!(types.iter().any(|t| t == want), "{want} missing: {types:?}");
    }
}

#[tokio::test]
async fn a_missing_command_fails_the_task_with_a_driver_failure() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "nope", "Type": "batch", "TaskGroups": [{"Name": "g",
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Unlimited": false},
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/no/such/binary"}}]}]}),
    )
    .await;
    let alloc = alloc_when(&a, "nope", "alloc failed", |x| {
        x["ClientStatus"] == "failed"
    })
    .await;
    let failure = alloc["TaskStates"]["t"]["Events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Type"] == "Driver Failure")
        .cloned()
        .expect("a Driver Failure event");
    let message = failure["DisplayMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + failure["DriverError"].as_str().unwrap_or_default();
    assert!(message.contains("/no/such/binary"), "{failure}");
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

async fn read_pid(path: &Path) -> u32 {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no pid file at {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_client_killed_9_reattaches_to_its_running_task() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "svc", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sh",
                    "args": ["-c", "echo $$ > $NOMAD_TASK_DIR/pid; exec sleep 1000"]}}]}]}),
    )
    .await;
    let alloc = alloc_when(&a, "svc", "service running", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    // NOMAD_TASK_DIR is the task's `local` directory.
    let pid_file = alloc_dir(dir.path(), &alloc).join("t/local/pid");
    let pid = read_pid(&pid_file).await;
    assert!(pid_alive(pid));
    let started_events = event_types(&alloc, "t")
        .iter()
        .filter(|e| *e == "Started")
        .count();

    a.crash();
    assert!(pid_alive(pid), "the task outlives its agent");

    let a = Agent::start(dir.path()).await;
    // The restarted client reports the task again: still running, same pid,
    // no restart and no second Started event.
    let alloc = alloc_when(&a, "svc", "service still running", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    assert!(pid_alive(pid), "the task was not restarted");
    assert_eq!(read_pid(&pid_file).await, pid);
    assert_eq!(alloc["TaskStates"]["t"]["Restarts"], 0);
    let now_started = event_types(&alloc, "t")
        .iter()
        .filter(|e| *e == "Started")
        .count();
    assert_eq!(now_started, started_events, "no new Started event");

    // Stopping the job stops the process.
    let r = a.http.delete(a.url("/v1/job/svc")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let started = Instant::now();
    while pid_alive(pid) {
        assert!(
            started.elapsed() < DEADLINE,
            "task {pid} still running after stop"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    alloc_when(&a, "svc", "alloc complete after stop", |x| {
        x["ClientStatus"] == "complete"
    })
    .await;
}

/// Waits, with the deadline, until process `pid` is gone.
async fn until_gone(pid: u32, what: &str) {
    let started = Instant::now();
    while pid_alive(pid) {
        assert!(started.elapsed() < DEADLINE, "{what}: {pid} still running");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A raw_exec service whose task writes its pid to `local/pid` and sleeps.
fn pid_job(id: &str) -> Value {
    json!({"ID": id, "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sh",
                "args": ["-c", "echo $$ > $NOMAD_TASK_DIR/pid; exec sleep 1000"]}}]}]})
}

/// SIGTERM to a `-dev` agent stops its tasks and removes its allocation
/// directories, as Nomad's dev mode does (client/client.go `Shutdown`
/// destroys every allocation in DevMode); a client-only agent stopped the
/// same way leaves its task running and re-attaches to it on its next start.
#[tokio::test]
async fn sigterm_stops_a_dev_agents_tasks_but_not_a_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(dir.path()).await;
    submit(&a, pid_job("dev")).await;
    let alloc = alloc_when(&a, "dev", "the dev task running", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    let alloc_path = alloc_dir(dir.path(), &alloc);
    let pid = read_pid(&alloc_path.join("t/local/pid")).await;
    let status = a.terminate().await;
    assert!(status.success(), "dev agent exit: {status}");
    until_gone(pid, "the dev agent's task after its shutdown").await;
    assert!(!alloc_path.exists(), "the allocation directory is removed");

    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let (server, mut client) =
        Agent::start_server_and_client(server_dir.path(), client_dir.path()).await;
    submit(&server, pid_job("kept")).await;
    let alloc = alloc_when(&server, "kept", "the client's task running", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    let pid_file = alloc_dir(client_dir.path(), &alloc).join("t/local/pid");
    let pid = read_pid(&pid_file).await;
    let status = client.terminate().await;
    assert!(status.success(), "client agent exit: {status}");
    assert!(pid_alive(pid), "a client's task outlives its agent");
    client.reap_tasks = false;
    drop(client);

    let _client = Agent::start_client(client_dir.path(), &server).await;
    let alloc = alloc_when(&server, "kept", "the task re-attached", |x| {
        x["ClientStatus"] == "running" && x["TaskStates"]["t"]["State"] == "running"
    })
    .await;
    assert!(pid_alive(pid), "the task was not restarted");
    assert_eq!(read_pid(&pid_file).await, pid);
    assert_eq!(alloc["TaskStates"]["t"]["Restarts"], 0, "{alloc}");
}

async fn put(a: &Agent, path: &str, body: Value) -> (StatusCode, String) {
    let r = a.http.put(a.url(path)).json(&body).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn signal_restart_and_stats_reach_a_running_task() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "trap", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sh", "args": ["-c",
                    "trap 'echo got >> $NOMAD_TASK_DIR/usr1' USR1; while true; do sleep 0.1; done"]}}]}]}),
    )
    .await;
    let alloc = alloc_when(&a, "trap", "running", |x| x["ClientStatus"] == "running").await;
    let id = alloc["ID"].as_str().unwrap().to_string();
    let base = format!("/v1/client/allocation/{id}");

    let (status, text) = put(
        &a,
        &format!("{base}/signal"),
        json!({"Signal": "SIGUSR1", "Task": "t"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let marker = alloc_dir(dir.path(), &alloc).join("t/local/usr1");
    let started = Instant::now();
    while !marker.exists() {
        assert!(
            started.elapsed() < DEADLINE,
            "SIGUSR1 never reached the trap"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let (status, text) = put(
        &a,
        &format!("{base}/signal"),
        json!({"Signal": "SIGNOPE", "Task": "t"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, text) = put(
        &a,
        &format!("{base}/signal"),
        json!({"Signal": "SIGUSR1", "Task": "nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("nope"), "{text}");
    let (status, _) = put(
        &a,
        "/v1/client/allocation/00000000-0000-0000-0000-000000000000/signal",
        json!({"Signal": "SIGUSR1"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, host, _) = a.get("/v1/client/stats").await;
    assert!(host["Memory"]["Total"].as_u64().unwrap_or(0) > 0, "{host}");
    assert!(
        host["CPU"].as_array().is_some_and(|c| !c.is_empty()),
        "{host}"
    );
    let (_, stats, _) = a.get(&format!("{base}/stats")).await;
    assert!(
        stats["Tasks"]["t"]["ResourceUsage"]["MemoryStats"]["RSS"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{stats}"
    );

    let (status, text) = put(&a, &format!("{base}/restart"), json!({"TaskName": "t"})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let alloc = alloc_when(&a, "trap", "restarted once", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    let alloc = if alloc["TaskStates"]["t"]["Restarts"] == 1 {
        alloc
    } else {
        a.until(&format!("/v1/allocation/{id}"), "Restarts = 1", |x| {
            x["TaskStates"]["t"]["Restarts"] == 1
        })
        .await
    };
    assert!(event_types(&alloc, "t")
        .iter()
        .any(|e| e == "Restart Signaled"));
}

#[tokio::test]
async fn a_task_that_died_while_the_client_was_down_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "dies", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sh",
                    "args": ["-c", "echo $$ > $NOMAD_TASK_DIR/pid; exec sleep 1000"]}}]}]}),
    )
    .await;
    let alloc = alloc_when(&a, "dies", "running", |x| x["ClientStatus"] == "running").await;
    let id = alloc["ID"].as_str().unwrap().to_string();
    let pid = read_pid(&alloc_dir(dir.path(), &alloc).join("t/local/pid")).await;
    a.crash();
    // The task dies while no client watches it.
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    while pid_alive(pid) {
        assert!(started.elapsed() < DEADLINE, "kill -9 {pid} did not take");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let a = Agent::start(dir.path()).await;
    let alloc = a
        .until(&format!("/v1/allocation/{id}"), "the death noticed", |x| {
            // The Terminated event is reported first, the state after it
            // (as Nomad's task runner does): wait for both.
            x["TaskStates"]["t"]["Events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["Type"] == "Terminated"))
                && x["TaskStates"]["t"]["State"] != "running"
        })
        .await;
    let terminated = alloc["TaskStates"]["t"]["Events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Type"] == "Terminated")
        .unwrap()
        .clone();
    assert!(
        terminated["Message"]
            .as_str()
            .unwrap_or_default()
            .contains("not watching"),
        "{terminated}"
    );
}

// Nomad docs, job-specification/restart: "attempts ... within interval";
// mode "fail" then fails the allocation, and the reschedule block places a
// replacement (job-specification/reschedule).
#[tokio::test]
async fn a_crashing_task_restarts_then_fails_then_is_rescheduled() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "crash", "Type": "batch", "TaskGroups": [{"Name": "g",
            "RestartPolicy": {"Attempts": 2, "Interval": 1_800_000_000_000i64, "Delay": 0, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 1, "Interval": 3_600_000_000_000i64,
                "Delay": 5_000_000_000i64, "DelayFunction": "constant", "Unlimited": false},
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sh", "args": ["-c", "exit 3"]}}]}]}),
    )
    .await;
    let first = alloc_when(&a, "crash", "first alloc failed", |x| {
        x["ClientStatus"] == "failed"
    })
    .await;
    assert_eq!(first["TaskStates"]["t"]["Restarts"], 2, "{first}");
    let events = event_types(&first, "t");
    assert_eq!(
        events.iter().filter(|e| *e == "Restarting").count(),
        2,
        "{events:?}"
    );
    assert!(events.iter().any(|e| e == "Not Restarting"), "{events:?}");
    let first_id = first["ID"].as_str().unwrap().to_string();
    // The reschedule policy's 5 s delay, then a replacement that links back.
    let allocs = a
        .until(
            "/v1/job/crash/allocations",
            "a rescheduled replacement",
            |v| v.as_array().is_some_and(|l| l.len() == 2),
        )
        .await;
    let next = allocs
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ID"] != first_id.as_str())
        .unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, next, _) = a.get(&format!("/v1/allocation/{next}")).await;
    assert_eq!(next["PreviousAllocation"], first_id.as_str());
    assert_eq!(
        next["RescheduleTracker"]["Events"][0]["PrevAllocID"],
        first_id.as_str()
    );
}

#[tokio::test]
async fn a_client_only_agent_runs_work_for_a_separate_server() {
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let (server, client) =
        Agent::start_server_and_client(server_dir.path(), client_dir.path()).await;
    submit(
        &server,
        json!({"ID": "remote", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/echo", "args": ["far away"]}}]}]}),
    )
    .await;
    let alloc = alloc_when(&server, "remote", "complete on the client", |x| {
        x["ClientStatus"] == "complete"
    })
    .await;
    // The client serves its own allocation's logs.
    let id = alloc["ID"].as_str().unwrap();
    let logs = format!("/v1/client/fs/logs/{id}?task=t&type=stdout&plain=true");
    let want = (StatusCode::OK, "far away\n".to_string());
    assert_eq!(client.get_text(&logs).await, want);
    // Any agent answers: the server forwards to the client that runs it.
    assert_eq!(server.get_text(&logs).await, want);
    let (status, _, _) = server
        .get("/v1/client/fs/logs/00000000-0000-0000-0000-000000000000?task=t&type=stdout")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// `/v1/client/fs/*` on the real agent: a NUL byte in a path is a 400, a
/// missing file a 404 naming the path as given, and no answer shows the
/// agent's data directory.
#[tokio::test]
async fn fs_errors_name_the_users_path_never_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "files", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/echo", "args": ["hi"]}}]}]}),
    )
    .await;
    let alloc = alloc_when(&a, "files", "the batch alloc complete", |x| {
        x["ClientStatus"] == "complete"
    })
    .await;
    let id = alloc["ID"].as_str().unwrap();
    let data_dir = dir.path().canonicalize().unwrap();
    let data_dir = data_dir.to_string_lossy();
    for op in ["ls", "stat", "cat", "readat", "stream"] {
        for (path, status, message) in [
            ("%00", StatusCode::BAD_REQUEST, "contains a NUL byte"),
            (
                "alloc/logs%00",
                StatusCode::BAD_REQUEST,
                "contains a NUL byte",
            ),
            ("/nope", StatusCode::NOT_FOUND, r#""/nope" not found"#),
            (
                "/alloc/logs/t.stdout.0/x",
                StatusCode::BAD_REQUEST,
                r#""/alloc/logs/t.stdout.0/x": Not a directory"#,
            ),
        ] {
            let q = format!("/v1/client/fs/{op}/{id}?path={path}");
            let (got, body) = a.get_text(&q).await;
            assert_eq!(got, status, "{q}: {body}");
            assert!(body.contains(message), "{q}: {body:?} lacks {message:?}");
            assert!(
                !body.contains(&*data_dir),
                "{q}: {body:?} shows the data dir"
            );
        }
    }
}

// Nomad client option `gc_max_allocs`: past it, terminal allocations are
// collected with their directories, oldest first; live ones stay.
#[tokio::test]
async fn the_client_collects_terminal_allocations_past_gc_max_allocs() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client {\n  gc_max_allocs = 2\n}").await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let job = format!("once-{i}");
        submit(
            &a,
            json!({"ID": job, "Type": "batch", "TaskGroups": [{"Name": "g",
                "Tasks": [{"Name": "t", "Driver": "raw_exec",
                    "Config": {"command": "/bin/true"}}]}]}),
        )
        .await;
        let alloc = alloc_when(&a, &job, "complete", |x| x["ClientStatus"] == "complete").await;
        ids.push(alloc["ID"].as_str().unwrap().to_string());
    }
    let root = dir.path().join("data/alloc");
    let started = Instant::now();
    loop {
        let left: Vec<&String> = ids.iter().filter(|id| root.join(id).exists()).collect();
        if left.len() <= 2 {
            assert!(left.contains(&&ids[3]), "the newest stays: {left:?}");
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "still {} alloc dirs",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The servers still know all four, complete, each run exactly once.
    for id in &ids {
        let (_, alloc, _) = a.get(&format!("/v1/allocation/{id}")).await;
        assert_eq!(alloc["ClientStatus"], "complete");
        let started = event_types(&alloc, "t")
            .iter()
            .filter(|e| *e == "Started")
            .count();
        assert_eq!(started, 1, "{alloc}");
    }
}

// Nomad client option `gc_disk_usage_threshold`: when the data dir's disk
// is fuller than the threshold, terminal allocations are collected, oldest
// first, every `gc_interval`. A threshold of 0 makes any use "too full".
#[tokio::test]
async fn the_client_collects_terminal_allocations_when_the_disk_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(
        dir.path(),
        "client {\n  gc_disk_usage_threshold = 0\n  gc_interval = \"100ms\"\n}",
    )
    .await;
    submit(
        &a,
        json!({"ID": "once", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/true"}}]}]}),
    )
    .await;
    submit(
        &a,
        json!({"ID": "svc", "Type": "service", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1000"]}}]}]}),
    )
    .await;
    let done = alloc_when(&a, "once", "complete", |x| x["ClientStatus"] == "complete").await;
    let live = alloc_when(&a, "svc", "running", |x| x["ClientStatus"] == "running").await;
    let root = dir.path().join("data/alloc");
    let done_dir = root.join(done["ID"].as_str().unwrap());
    let started = Instant::now();
    while done_dir.exists() {
        assert!(
            started.elapsed() < DEADLINE,
            "the finished alloc was never collected"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The running one stays, and keeps running.
    assert!(root.join(live["ID"].as_str().unwrap()).exists());
    let (_, alloc, _) = a
        .get(&format!("/v1/allocation/{}", live["ID"].as_str().unwrap()))
        .await;
    assert_eq!(alloc["ClientStatus"], "running");
}
