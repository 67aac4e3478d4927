//! The real `drover agent -dev` binary on loopback, for the root package's
//! integration tests: its own data directory and free ports, killed when
//! dropped.
#![allow(dead_code)]

pub mod acl;
pub mod cluster;
pub mod dev_agent;
pub mod tls;
pub mod tmux;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Agent {
    pub child: Child,
    pub base: String,
    pub http: reqwest::Client,
    /// The agent's data directory; its tasks run below it.
    pub data_dir: std::path::PathBuf,
    /// Whether dropping the agent also kills the tasks it left running.
    pub reap_tasks: bool,
}

impl Drop for Agent {
    /// Kill the agent, then the tasks its client left running (they live in
    /// their own sessions, by design), unless the test kept them on purpose.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.reap_tasks {
            kill_processes_under(&self.data_dir);
        }
    }
}

/// SIGKILL every process whose working directory is under `dir`: the tasks
/// (which run in their task directories) and their log collectors' peers.
/// A job no node can run (datacenter `nowhere`): registering it writes the
/// job, then the scheduler writes its blocked evaluation. The write-path
/// tests and benches register these so nothing starts a process.
pub fn blocked_job(id: &str) -> Value {
    json!({"Job": {"ID": id, "Datacenters": ["nowhere"], "TaskGroups": [
        {"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
         "Config": {"command": "/bin/true"}}]}]}})
}

/// The `ID`s in a job list (`GET /v1/jobs`); empty for anything else.
pub fn job_id_set(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["ID"].as_str().map(str::to_string))
        .collect()
}

pub fn kill_processes_under(dir: &Path) {
    let Ok(dir) = dir.canonicalize() else { return };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let inside =
            std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir));
        if inside {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A port free on loopback address `ip` (a test file's own range).
pub fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Agent {
    /// Start `drover agent -dev` on `data_dir` with fresh ports and wait
    /// until it answers with a leader.
    pub async fn start(data_dir: &Path) -> Agent {
        Self::start_with(data_dir, "").await
    }

    /// A server-only agent and a client-only agent that joins it, each on
    /// its own data directory: the two-node shape of the relay tests.
    pub async fn start_server_and_client(server_dir: &Path, client_dir: &Path) -> (Agent, Agent) {
        let server = Self::start_with(server_dir, "client { enabled = false }").await;
        let client = Self::start_client(client_dir, &server).await;
        (server, client)
    }

    /// A client-only agent (`agent -client -servers <server>`) on its own
    /// data directory and HTTP port; ready once its node is registered.
    pub async fn start_client(data_dir: &Path, server: &Agent) -> Agent {
        let http = free_port();
        let config = data_dir.join("client.hcl");
        std::fs::write(
            &config,
            format!(
                "bind_addr = \"127.0.0.1\"\nports {{\n  http = {http}\n}}\nclient {{\n  options = {{\n    \"driver.raw_exec.enable\" = \"1\"\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let servers = server.base.trim_start_matches("http://").to_string();
        let agent = Self::spawn(
            &["agent", "-client", "-servers", &servers],
            data_dir,
            &config,
            http,
        );
        server
            .until("/v1/nodes", "the client's node registered", |v| {
                v.as_array().is_some_and(|n| !n.is_empty())
            })
            .await;
        agent
    }

    /// [`Agent::start`] with more agent configuration (HCL), e.g.
    /// `client { enabled = false }` for a dev server without a node.
    pub async fn start_with(data_dir: &Path, extra: &str) -> Agent {
        let (http, rpc) = (free_port(), free_port());
        let config = data_dir.join("ports.hcl");
        std::fs::write(
            &config,
            format!("ports {{\n  http = {http}\n  rpc = {rpc}\n}}\n{extra}\n"),
        )
        .unwrap();
        let agent = Self::spawn(&["agent", "-dev"], data_dir, &config, http);
        agent.wait_for_leader().await
    }

    /// [`Agent::start_with`] listening on loopback address `ip` rather
    /// than 127.0.0.1 (`bind_addr`), for test files given an address
    /// range of their own.
    pub async fn start_on(ip: &str, data_dir: &Path, extra: &str) -> Agent {
        let (http, rpc) = (free_port_on(ip), free_port_on(ip));
        let config = data_dir.join("ports.hcl");
        std::fs::write(
            &config,
            format!(
                "bind_addr = \"{ip}\"\nports {{\n  http = {http}\n  rpc = {rpc}\n}}\n{extra}\n"
            ),
        )
        .unwrap();
        let mut agent = Self::spawn(&["agent", "-dev"], data_dir, &config, http);
        agent.base = format!("http://{ip}:{http}");
        agent.wait_for_leader().await
    }

    /// Returns the agent once `/v1/status/leader` names a leader.
    async fn wait_for_leader(self) -> Agent {
        let agent = self;
        let started = Instant::now();
        loop {
            if let Ok(r) = agent.http.get(agent.url("/v1/status/leader")).send().await {
                if r.status() == StatusCode::OK && r.text().await.is_ok_and(|t| t.len() > 2) {
                    return agent;
                }
            }
            assert!(
                started.elapsed() < DEADLINE,
                "agent did not come up within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs the binary with `args`, warn-level logs, `<data_dir>/data` and
    /// `config`; the agent will listen on `http`. Does not wait for it.
    fn spawn(args: &[&str], data_dir: &Path, config: &Path, http: u16) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(args)
            .args(["-log-level=warn", "-data-dir"])
            .arg(data_dir.join("data"))
            .arg("-config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("drover starts");
        Agent {
            child,
            base: format!("http://127.0.0.1:{http}"),
            http: reqwest::Client::new(),
            data_dir: data_dir.to_path_buf(),
            reap_tasks: true,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Wait until no evaluation of `jobs` is still pending.
    pub async fn wait_scheduled(&self, jobs: &[&str]) {
        let started = Instant::now();
        for job in jobs {
            loop {
                let (_, evals, _) = self.get(&format!("/v1/job/{job}/evaluations")).await;
                let evals = evals.as_array().cloned().unwrap_or_default();
                if !evals.is_empty() && evals.iter().all(|e| e["Status"] != "pending") {
                    break;
                }
                assert!(
                    started.elapsed() < DEADLINE,
                    "job {job} still has pending evals: {evals:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// The agent's gauge or counter `name` from its Prometheus metrics; 0
    /// when it is not reported.
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get_text("/v1/metrics?format=prometheus").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    /// Wait until the agent reports at least `n` parked blocking queries.
    pub async fn wait_parked(&self, n: u64) {
        let started = Instant::now();
        loop {
            let parked = self.metric("drover_blocking_queries_parked").await;
            if parked >= n as f64 {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "only {parked} blocking queries parked, waited for {n}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn register(&self, id: &str, team: &str) -> reqwest::Result<reqwest::Response> {
        let job = json!({"Job": {"ID": id, "Meta": {"team": team}, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}});
        self.http.put(self.url("/v1/jobs")).json(&job).send().await
    }

    /// `GET path` with the body as text (plain logs, Prometheus metrics).
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, r.json().await.unwrap_or(Value::Null), headers)
    }

    /// The IDs of every job `GET /v1/jobs` lists, or `None` when the agent
    /// does not answer with a list (it may be starting or gone).
    pub async fn job_ids(&self) -> Option<BTreeSet<String>> {
        let r = self.http.get(self.url("/v1/jobs")).send().await.ok()?;
        let list: Value = r.json().await.ok()?;
        list.as_array().map(|_| job_id_set(&list))
    }

    /// SIGTERM the agent and wait, with the deadline, for it to exit; its
    /// exit status. What it does with its tasks is the test's to check.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "agent {pid} still running {DEADLINE:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` the agent and leave its tasks running, as a crash would.
    pub fn crash(mut self) {
        self.reap_tasks = false;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Poll `path` until `pred` holds, with the deadline.
    pub async fn until(&self, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (_, v, _) = self.get(path).await;
            if pred(&v) {
                return v;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "timed out waiting for {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Registers `job` (Nomad's JSON job) and asserts the server took it.
pub async fn submit(a: &Agent, job: Value) {
    let r = a
        .http
        .put(a.url("/v1/jobs"))
        .json(&json!({ "Job": job }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, StatusCode::OK, "{}", r.text().await.unwrap());
}

/// The job's single allocation once `pred` holds for it.
pub async fn alloc_when(a: &Agent, job: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let list = a
        .until(&format!("/v1/job/{job}/allocations"), what, |v| {
            v.as_array().is_some_and(|l| l.len() == 1 && pred(&l[0]))
        })
        .await;
    let id = list[0]["ID"].as_str().unwrap().to_string();
    let (_, alloc, _) = a.get(&format!("/v1/allocation/{id}")).await;
    alloc
}

/// The event types of `task` in an allocation, oldest first.
pub fn event_types(alloc: &Value, task: &str) -> Vec<String> {
    alloc["TaskStates"][task]["Events"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["Type"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads an event stream (`/v1/event/stream`, newline-delimited JSON),
/// calling `until` on each event of each `Events` batch, until it has
/// returned true for some event of a chunk (the rest of that chunk is
/// still read); panics with `what` after the deadline or at the stream's end.
pub async fn read_events(
    resp: &mut reqwest::Response,
    what: &str,
    mut until: impl FnMut(&Value) -> bool,
) {
    let (mut buf, mut last) = (String::new(), Value::Null);
    let started = Instant::now();
    let mut done = false;
    while !done {
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting for {what}; last {last}"
        );
        let chunk = tokio::time::timeout(DEADLINE, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; last {last}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended before {what}; last {last}"));
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(nl) = buf.find('\n') {
            let line: String = buf.drain(..=nl).collect();
            let v: Value = serde_json::from_str(line.trim()).unwrap();
            for e in v["Events"].as_array().into_iter().flatten() {
                done |= until(e);
            }
            last = v;
        }
    }
}

/// The allocation's directory under the agent's data dir.
pub fn alloc_dir(data: &Path, alloc: &Value) -> PathBuf {
    data.join("data/alloc").join(alloc["ID"].as_str().unwrap())
}

/// Task `t` of `alloc` started once, is running, and was never restarted,
/// terminated or killed.
pub fn assert_never_restarted(alloc: &Value) {
    let task = &alloc["TaskStates"]["t"];
    assert_eq!(task["State"], "running", "{alloc}");
    assert_eq!(task["Restarts"], 0, "{alloc}");
    let types: Vec<&str> = task["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["Type"].as_str())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "Started").count(),
        1,
        "{types:?}"
    );
    for t in ["Restarting", "Terminated", "Killing", "Killed"] {
        assert!(!types.contains(&t), "{t} in {types:?}");
    }
}

/// A client builder for plain HTTP. With its `rustls` feature, reqwest
/// loads the system's CA store into every client it builds by default; a
/// bench that starts 64 clients inside its timed window would time that
/// instead of the agent.
pub fn plain_http() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls(drover_server::tls::no_tls())
}
