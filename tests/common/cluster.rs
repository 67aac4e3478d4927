//! Several `drover agent -server` processes on loopback: each binds its
//! own 127.0.0.x address (Linux routes all of 127/8 to loopback) with free
//! ports, logs at info to a file in its directory, and is killed when
//! dropped. Every wait has a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::{blocked_job, free_port, DEADLINE};

pub struct Server {
    pub child: Child,
    pub ip: String,
    pub http: u16,
    pub rpc: u16,
    pub dir: PathBuf,
    pub args: Vec<String>,
    pub client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `drover agent -server -bind <ip> <args>` on `dir`, its HTTP API on
    /// a fresh port, its RPC port on `rpc`, `extra` in its config file.
    /// Does not wait for it.
    pub fn start(dir: &Path, ip: &str, rpc: u16, args: &[String], extra: &str) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let http = free_port();
        std::fs::write(
            dir.join("agent.hcl"),
            format!("ports {{\n  http = {http}\n  rpc = {rpc}\n}}\n{extra}\n"),
        )
        .unwrap();
        Server {
            child: spawn(dir, ip, args),
            ip: ip.to_string(),
            http,
            rpc,
            dir: dir.to_path_buf(),
            args: args.to_vec(),
            client: reqwest::Client::new(),
        }
    }

    /// Kill the process (SIGKILL, as a crash) and start it again on the
    /// same directory, ports and arguments.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir, &self.ip, &self.args);
    }

    pub fn rpc_addr(&self) -> String {
        format!("{}:{}", self.ip, self.rpc)
    }

    pub fn base(&self) -> String {
        format!("http://{}:{}", self.ip, self.http)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// `GET path` as JSON; `None` while the agent does not answer.
    pub async fn get(&self, path: &str) -> Option<(StatusCode, Value)> {
        let r = self
            .client
            .get(format!("{}{path}", self.base()))
            .send()
            .await
            .ok()?;
        let status = r.status();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// Poll `path` until `pred` holds for its answer.
    pub async fn until(&self, path: &str, what: &str, pred: impl Fn(StatusCode, &Value) -> bool) {
        let started = Instant::now();
        loop {
            let answer = self.get(path).await;
            if answer.as_ref().is_some_and(|(s, v)| pred(*s, v)) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{}: timed out waiting for {what}: {answer:?}\n{}",
                self.ip,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn peers(&self) -> Vec<String> {
        let mut peers: Vec<String> = match self.get("/v1/status/peers").await {
            Some((_, Value::Array(a))) => a
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        peers.sort();
        peers
    }

    /// `method path` with an optional JSON body: status, headers, body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base()));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    /// A counter or gauge of `/v1/metrics?format=prometheus`.
    pub async fn metric(&self, name: &str) -> f64 {
        let r = self
            .client
            .get(format!("{}/v1/metrics?format=prometheus", self.base()))
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    /// Wait until at least `n` blocking queries are parked here.
    pub async fn parked(&self, n: f64) {
        let started = Instant::now();
        loop {
            let parked = self.metric("drover_blocking_queries_parked").await;
            if parked >= n {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{}: {parked} blocking queries parked, waited for {n}",
                self.ip
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn register(&self, id: &str) -> (StatusCode, String) {
        let r = self
            .client
            .put(format!("{}/v1/jobs", self.base()))
            .json(&blocked_job(id))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

pub fn spawn(dir: &Path, ip: &str, args: &[String]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["agent", "-server", "-log-level=info", "-bind", ip])
        .arg("-data-dir")
        .arg(dir.join("data"))
        .arg("-config")
        .arg(dir.join("agent.hcl"))
        .args(args)
        .env("NO_COLOR", "1")
        // The agent's own filter, plus openraft's line for an installed
        // snapshot, which the catch-up test looks for.
        .env(
            "RUST_LOG",
            "info,openraft=warn,openraft::engine::handler::following_handler=info,sled=warn,hyper=warn,h2=warn",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("drover starts")
}

/// Wait until every server lists exactly `want` as voters and agrees on
/// a leader; returns the leader's index in `servers`.
pub async fn converged(servers: &[&Server], want: &[String]) -> usize {
    let mut want = want.to_vec();
    want.sort();
    let started = Instant::now();
    loop {
        let mut leaders = Vec::new();
        let mut agreed = true;
        for s in servers {
            let peers = s.peers().await;
            let leader = match s.get("/v1/status/leader").await {
                Some((StatusCode::OK, Value::String(l))) if !l.is_empty() => l,
                _ => String::new(),
            };
            agreed &= peers == want && !leader.is_empty();
            leaders.push(leader);
        }
        leaders.dedup();
        if agreed && leaders.len() == 1 {
            if let Some(i) = servers.iter().position(|s| s.rpc_addr() == leaders[0]) {
                return i;
            }
        }
        if started.elapsed() > DEADLINE {
            let logs: Vec<String> = servers.iter().map(|s| s.log()).collect();
            panic!(
                "servers did not converge on peers {want:?} and one leader (leaders seen {leaders:?})\n{}",
                logs.join("\n----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until every server serves job `id` on a stale read.
pub async fn replicated(servers: &[&Server], id: &str) {
    for s in servers {
        s.until(
            &format!("/v1/job/{id}?stale=true"),
            &format!("job {id} replicated"),
            |status, v| status == StatusCode::OK && v["ID"] == id,
        )
        .await;
    }
}

/// Wait until `s` serves a blocked evaluation of job `id`: the leader's
/// duties (broker, worker, plan applier) handled its register.
pub async fn scheduled(s: &Server, id: &str) {
    s.until(
        &format!("/v1/job/{id}/evaluations?stale=true"),
        &format!("a blocked evaluation of {id}"),
        |status, v| {
            status == StatusCode::OK
                && v.as_array()
                    .is_some_and(|a| a.iter().any(|e| e["Status"] == "blocked"))
        },
    )
    .await;
}

/// How long [`assert_same_state`] waits for the servers to settle on one
/// applied index: longer than [`DEADLINE`], since a leader may still be
/// scheduling a backlog of evaluations when writers stop.
const SETTLE: Duration = Duration::from_secs(60);

/// A server's state as `GET /v1/operator/snapshot?stale=true` saves it
/// from its own memory: the Raft index it was taken at and the state's
/// encoding. `None` while the server does not answer with one.
async fn saved_state(s: &Server) -> Option<(u64, Vec<u8>)> {
    let url = format!("{}/v1/operator/snapshot?stale=true", s.base());
    let r = s.client.get(url).send().await.ok()?;
    if r.status() != StatusCode::OK {
        return None;
    }
    let bytes = r.bytes().await.ok()?;
    let (meta, state) = drover_server::raft::snapshot_file::split(&bytes).ok()?;
    Some((meta.last_log_id.map_or(0, |l| l.index), state.to_vec()))
}

/// Wait until every server has applied the same last index, then assert
/// that they hold the same state; returns that index.
///
/// Nomad has no endpoint that digests a server's state. Every Drover
/// server already saves its whole state on request, and with `stale=true`
/// from its own memory rather than the leader's (`nomad operator snapshot
/// save -stale`), in the snapshot file's format: a header with the Raft
/// log id the state was taken at, then the state's encoding. So that is
/// what is compared, rather than a digest endpoint added only for tests:
/// it covers every table and the event log, not what a list endpoint
/// shows, and it is encoded from ordered maps only (imbl's `OrdMap`,
/// `BTreeMap`; apply iterates no hash map), so equal states at one index
/// encode to equal bytes. The header's snapshot ID, which names the time
/// of the save, legitimately differs and is not compared. Encodings that
/// differ are decoded with drover-state and compared as values (whether a
/// job and its current version share one allocation changes the bytes, not
/// the state); states that differ fail the test, naming the tables.
pub async fn assert_same_state(servers: &[&Server]) -> u64 {
    let started = Instant::now();
    loop {
        let mut saved = Vec::new();
        for s in servers {
            saved.push(saved_state(s).await);
        }
        let indexes: Vec<Option<u64>> = saved.iter().map(|v| v.as_ref().map(|v| v.0)).collect();
        if let [Some((index, first)), rest @ ..] = saved.as_slice() {
            if rest
                .iter()
                .all(|v| v.as_ref().is_some_and(|(i, _)| i == index))
            {
                let decode = |bytes: &[u8]| {
                    drover_state::State::restore(bytes, Default::default())
                        .unwrap_or_else(|e| panic!("a saved state does not decode: {e}"))
                };
                let mut want = None;
                for (s, (_, state)) in servers.iter().zip(saved.iter().flatten()).skip(1) {
                    if state == first {
                        continue;
                    }
                    let want = want.get_or_insert_with(|| decode(first));
                    let differ = decode(state).differences(want);
                    assert!(
                        differ.is_empty(),
                        "{} and {} applied index {index} with different states: {differ:?}",
                        servers[0].ip,
                        s.ip
                    );
                }
                return *index;
            }
        }
        assert!(
            started.elapsed() < SETTLE,
            "the servers did not settle on one applied index within {SETTLE:?}: {indexes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn bootstraps(s: &Server) -> usize {
    s.log().matches("bootstrapping the cluster").count()
}

/// An address in every `retry_join` list where nothing ever listens.
pub const NEVER_ANSWERS: &str = "127.0.0.1:1";

/// Three servers started at once with `-bootstrap-expect 3` and each
/// other's addresses (plus [`NEVER_ANSWERS`]), on `ips[..3]`, converged;
/// returns them, their RPC addresses and the leader's index.
pub async fn form_three(
    dirs: &[PathBuf],
    ips: &[&str],
    extra: &str,
) -> (Vec<Server>, Vec<String>, usize) {
    // Ports first, so every server can be told every RPC address.
    let rpc_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let join_args: Vec<String> = ips[..3]
        .iter()
        .zip(&rpc_ports)
        .map(|(ip, port)| format!("{ip}:{port}"))
        .chain([NEVER_ANSWERS.to_string()])
        .flat_map(|addr| ["-retry-join".to_string(), addr])
        .chain(["-bootstrap-expect".to_string(), "3".to_string()])
        .collect();
    let servers: Vec<Server> = (0..3)
        .map(|i| Server::start(&dirs[i], ips[i], rpc_ports[i], &join_args, extra))
        .collect();
    let voters: Vec<String> = servers.iter().map(Server::rpc_addr).collect();
    // One cluster: every server lists the three voters and one leader.
    let all: Vec<&Server> = servers.iter().collect();
    let leader = converged(&all, &voters).await;
    let total: usize = servers.iter().map(bootstraps).sum();
    assert_eq!(total, 1, "exactly one server bootstraps");
    (servers, voters, leader)
}

/// Start a server on `ips[3]` that knows no other and join it with
/// `drover server join <via>`; returns once the command succeeded.
pub async fn join_fourth(dir: &Path, ip: &str, via: &str, extra: &str) -> Server {
    let fourth = Server::start(
        dir,
        ip,
        free_port(),
        &["-bootstrap-expect".to_string(), "3".to_string()],
        extra,
    );
    fourth
        .until("/v1/agent/self", "the fourth server answers", |s, _| {
            s == StatusCode::OK
        })
        .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["server", "join", "-address", &fourth.base(), via])
        .output();
    let out = tokio::time::timeout(DEADLINE, out)
        .await
        .expect("server join returns")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        fourth.log()
    );
    assert_eq!(stdout.trim(), "Joined 1 servers successfully");
    fourth
}
