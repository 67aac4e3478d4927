//! A client-only agent given three servers: it learns their list, fails
//! over when the one it talks to is killed, keeps its task running (same
//! process, no restart) with no leader at all, and heartbeats again once
//! a leader is back. Real processes on 127.0.0.81–84; every wait has a
//! deadline, and every process started here is killed when the test ends,
//! failing or not.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{converged, form_three, Server};
use common::{assert_never_restarted, free_port, kill_processes_under, DEADLINE};
use reqwest::StatusCode;
use serde_json::{json, Value};

const IPS: [&str; 3] = ["127.0.0.81", "127.0.0.82", "127.0.0.83"];
const CLIENT_IP: &str = "127.0.0.84";
/// The task's command line, which finds its process in `/proc`.
const FOREVER: &str = "while true; do sleep 1; done";
/// What the servers answer while none leads.
const NO_LEADER: &str = "No cluster leader";

/// `drover agent -client -servers <all three>`, logging at info to a file
/// in its directory. Dropping it kills it and every process under its
/// directory (its tasks run in their own sessions, by design).
struct Client {
    child: Child,
    dir: PathBuf,
    base: String,
    http: reqwest::Client,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_processes_under(&self.dir);
    }
}

impl Client {
    fn start(dir: &Path, servers: &[String]) -> Client {
        std::fs::create_dir_all(dir).unwrap();
        let http = free_port();
        let config = dir.join("client.hcl");
        std::fs::write(
            &config,
            format!(
                "bind_addr = \"{CLIENT_IP}\"\nports {{\n  http = {http}\n}}\nclient {{\n  options = {{\n    \"driver.raw_exec.enable\" = \"1\"\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("agent.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["agent", "-client", "-log-level=info", "-servers"])
            .arg(servers.join(","))
            .arg("-data-dir")
            .arg(dir.join("data"))
            .arg("-config")
            .arg(&config)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info,sled=warn,hyper=warn,h2=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("drover starts");
        Client {
            child,
            dir: dir.to_path_buf(),
            base: format!("http://{CLIENT_IP}:{http}"),
            http: reqwest::Client::new(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?;
        if r.status() != StatusCode::OK {
            return None;
        }
        r.json().await.ok()
    }

    /// The servers it knows, the one in use first.
    async fn servers(&self) -> Vec<String> {
        match self.get("/v1/agent/servers").await {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Time since its last successful heartbeat, from `/v1/agent/self`.
    async fn since_heartbeat(&self) -> Option<Duration> {
        let me = self.get("/v1/agent/self").await?;
        go_duration(me["stats"]["client"]["last_heartbeat"].as_str()?)
    }

    /// Wait until `pred` holds, polling every 50 ms.
    async fn until<F, Fut>(&self, what: &str, pred: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !pred().await {
            assert!(
                started.elapsed() < DEADLINE,
                "timed out waiting for {what}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Go's `time.Duration.String` back to a duration, enough for
/// `1m2.5s`, `3.2s`, `850ms`, `12µs`.
fn go_duration(s: &str) -> Option<Duration> {
    let (mins, rest) = match s.split_once('m') {
        Some((m, r)) if !r.starts_with('s') => (m.parse::<f64>().ok()?, r),
        _ => (0.0, s),
    };
    let secs = if let Some(ms) = rest.strip_suffix("ms") {
        ms.parse::<f64>().ok()? / 1e3
    } else if let Some(us) = rest.strip_suffix("µs") {
        us.parse::<f64>().ok()? / 1e6
    } else if let Some(ns) = rest.strip_suffix("ns") {
        ns.parse::<f64>().ok()? / 1e9
    } else if rest.is_empty() {
        0.0
    } else {
        rest.strip_suffix('s')?.parse::<f64>().ok()?
    };
    Some(Duration::from_secs_f64(mins * 60.0 + secs))
}

fn forever_job(id: &str) -> Value {
    json!({"Job": {"ID": id, "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sh", "args": ["-c", FOREVER]}}]}]}})
}

/// The processes (pid, start time in ticks) running the task's shell in a
/// directory under `root`.
fn task_processes(root: &Path) -> Vec<(i32, u64)> {
    let root = root.canonicalize().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let inside =
            std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&root));
        if !inside || !String::from_utf8_lossy(&cmdline).contains(FOREVER) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // After the parenthesised comm: field 4 (ppid) is the second word,
        // field 22 (starttime) the twentieth.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ppid = fields.get(1).and_then(|v| v.parse::<i32>().ok());
        let start = fields.get(19).and_then(|v| v.parse::<u64>().ok());
        if let (Some(ppid), Some(start)) = (ppid, start) {
            found.push((pid, ppid, start));
        }
    }
    // The loop's shell forks for every `sleep`, and the child carries the
    // same command line until it execs: only a task's own shell counts.
    let pids: Vec<i32> = found.iter().map(|&(pid, _, _)| pid).collect();
    let mut tasks: Vec<(i32, u64)> = found
        .into_iter()
        .filter(|(_, ppid, _)| !pids.contains(ppid))
        .map(|(pid, _, start)| (pid, start))
        .collect();
    tasks.sort();
    tasks
}

/// The allocation of `job` once it runs on `node`, read from `server`.
async fn running_alloc(server: &Server, job: &str, node: &str) -> Value {
    let path = format!("/v1/job/{job}/allocations");
    server
        .until(&path, &format!("{job} running on the client"), |s, v| {
            s == StatusCode::OK
                && v.as_array().is_some_and(|l| {
                    l.len() == 1 && l[0]["ClientStatus"] == "running" && l[0]["NodeID"] == node
                })
        })
        .await;
    let (_, _, list) = server.call(reqwest::Method::GET, &path, None).await;
    let id = list[0]["ID"].as_str().unwrap().to_string();
    let (_, _, alloc) = server
        .call(reqwest::Method::GET, &format!("/v1/allocation/{id}"), None)
        .await;
    alloc
}

async fn node_ready_on(server: &Server, node: &str) {
    server
        .until(
            &format!("/v1/node/{node}?stale=true"),
            "the client's node ready",
            |s, v| s == StatusCode::OK && v["Status"] == "ready",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_fails_over_and_keeps_its_task_through_leader_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, voters, _) = form_three(&dirs, &IPS, "client { enabled = false }").await;
    let http: Vec<String> = servers
        .iter()
        .map(|s| format!("{}:{}", s.ip, s.http))
        .collect();
    let client = Client::start(&tmp.path().join("client"), &http);
    let c = &client;
    let tasks = client.dir.clone();

    // The client registers and learns the servers' list (all three, by
    // their HTTP addresses).
    c.until("the node registered", move || async move {
        c.get("/v1/agent/self")
            .await
            .is_some_and(|v| v["stats"]["client"]["node_id"] != "")
    })
    .await;
    let me = c.get("/v1/agent/self").await.unwrap();
    let node = me["stats"]["client"]["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    node_ready_on(&servers[0], &node).await;
    let all = &http;
    c.until("the three servers listed", move || async move {
        let mut known = c.servers().await;
        known.sort();
        known == *all
    })
    .await;

    // A task that runs until killed.
    let (st, _, body) = servers[0]
        .call(
            reqwest::Method::PUT,
            "/v1/jobs",
            Some(&forever_job("forever")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let alloc = running_alloc(&servers[0], "forever", &node).await;
    assert_never_restarted(&alloc);
    let procs = task_processes(&tasks);
    assert_eq!(procs.len(), 1, "one task process: {procs:?}");

    // Kill the server the client talks to.
    let in_use = c.servers().await[0].clone();
    let victim = http.iter().position(|h| *h == in_use).unwrap();
    servers[victim].kill();
    let killed_at = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();

    // It moves to another server and heartbeats there.
    let was = &in_use;
    c.until("the client to use another server", move || async move {
        c.servers().await.first().is_some_and(|s| s != was)
    })
    .await;
    let live: Vec<&Server> = survivors.iter().map(|i| &servers[*i]).collect();
    converged(&live, &voters).await;
    c.until("a heartbeat after the kill", move || async move {
        c.since_heartbeat()
            .await
            .is_some_and(|d| d < killed_at.elapsed())
    })
    .await;
    for s in &live {
        node_ready_on(s, &node).await;
    }

    // The task ran on untouched: same process, no restart.
    let alloc = running_alloc(live[0], "forever", &node).await;
    assert_never_restarted(&alloc);
    assert_eq!(task_processes(&tasks), procs, "the same task process");

    // A job registered now is placed on the client and runs.
    let (st, _, body) = live[0]
        .call(
            reqwest::Method::PUT,
            "/v1/jobs",
            Some(&forever_job("after")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let after = running_alloc(live[0], "after", &node).await;
    assert_never_restarted(&after);
    let with_after = task_processes(&tasks);
    assert_eq!(with_after.len(), 2, "{with_after:?}");
    assert!(with_after.contains(&procs[0]), "{with_after:?}");

    // Kill a second server: the last one has no leader, and the client's
    // calls say so.
    let (second, last) = (survivors[0], survivors[1]);
    let before = c.log().matches(NO_LEADER).count();
    servers[second].kill();
    c.until("the client to see no leader", move || async move {
        c.log().matches(NO_LEADER).count() > before
    })
    .await;
    // The tasks run on while nobody leads.
    assert_eq!(task_processes(&tasks), with_after, "the tasks ran on");

    // A server comes back: a leader is elected, the client heartbeats
    // again, and its node is still ready (the new leader gave it the
    // failover TTL).
    servers[second].restart();
    let back_at = Instant::now();
    let live: Vec<&Server> = [second, last].iter().map(|i| &servers[*i]).collect();
    converged(&live, &voters).await;
    c.until("a heartbeat after a leader is back", move || async move {
        c.since_heartbeat()
            .await
            .is_some_and(|d| d < back_at.elapsed())
    })
    .await;
    for s in &live {
        node_ready_on(s, &node).await;
    }
    let alloc = running_alloc(live[0], "forever", &node).await;
    assert_never_restarted(&alloc);
    assert_eq!(
        task_processes(&tasks),
        with_after,
        "the same task processes"
    );
}
