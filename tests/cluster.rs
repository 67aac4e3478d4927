//! Several `drover agent -server` processes on loopback forming one
//! cluster: bootstrap with `-bootstrap-expect 3 -retry-join`, replication
//! of writes, `drover server join` of a fourth server, a restart on the
//! data directory that rejoins without bootstrapping again, and what a
//! follower does with requests: forward writes, consistent and blocking
//! reads to the leader, serve stale ones itself, hold them while there is
//! no leader.
//!
//! Each server binds its own 127.0.0.x address (Linux routes all of
//! 127/8 to loopback) with free ports, logs at info to a file in its
//! directory, and is killed when dropped. Every wait has a deadline.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{blocked_job, free_port, DEADLINE};
use reqwest::StatusCode;
use serde_json::Value;

struct Server {
    child: Child,
    ip: String,
    http: u16,
    rpc: u16,
    dir: PathBuf,
    args: Vec<String>,
    client: reqwest::Client,
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
    fn start(dir: &Path, ip: &str, rpc: u16, args: &[String], extra: &str) -> Server {
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
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir, &self.ip, &self.args);
    }

    fn rpc_addr(&self) -> String {
        format!("{}:{}", self.ip, self.rpc)
    }

    fn base(&self) -> String {
        format!("http://{}:{}", self.ip, self.http)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// `GET path` as JSON; `None` while the agent does not answer.
    async fn get(&self, path: &str) -> Option<(StatusCode, Value)> {
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
    async fn until(&self, path: &str, what: &str, pred: impl Fn(StatusCode, &Value) -> bool) {
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

    async fn peers(&self) -> Vec<String> {
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
    async fn call(
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
    async fn metric(&self, name: &str) -> f64 {
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
    async fn parked(&self, n: f64) {
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
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn register(&self, id: &str) -> (StatusCode, String) {
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

fn spawn(dir: &Path, ip: &str, args: &[String]) -> Child {
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
async fn converged(servers: &[&Server], want: &[String]) -> usize {
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
async fn replicated(servers: &[&Server], id: &str) {
    for s in servers {
        s.until(
            &format!("/v1/job/{id}?stale=true"),
            &format!("job {id} replicated"),
            |status, v| status == StatusCode::OK && v["ID"] == id,
        )
        .await;
    }
}

fn bootstraps(s: &Server) -> usize {
    s.log().matches("bootstrapping the cluster").count()
}

/// An address in every `retry_join` list where nothing ever listens.
const NEVER_ANSWERS: &str = "127.0.0.1:1";

/// Three servers started at once with `-bootstrap-expect 3` and each
/// other's addresses (plus [`NEVER_ANSWERS`]), on `ips[..3]`, converged;
/// returns them, their RPC addresses and the leader's index.
async fn form_three(
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
async fn join_fourth(dir: &Path, ip: &str, via: &str, extra: &str) -> Server {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_form_one_cluster_a_fourth_joins_and_a_restart_rejoins() {
    let tmp = tempfile::tempdir().unwrap();
    // Addresses unlikely to be used by other tests, which bind 127.0.0.1.
    let ips = ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"];
    let dirs: Vec<PathBuf> = (0..4).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, voters, leader) = form_three(&dirs, &ips, "").await;
    // The address that never answered was retried and logged, not fatal.
    for s in &servers {
        let log = s.log();
        assert!(
            log.contains("retry_join: server did not answer")
                && log.contains(&format!("address={NEVER_ANSWERS}")),
            "{log}"
        );
    }

    // A write on the leader is readable on all three.
    let (status, body) = servers[leader].register("formed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all: Vec<&Server> = servers.iter().collect();
    replicated(&all, "formed").await;

    // A write sent to a follower is the leader's, and readable on all three.
    let follower = (leader + 1) % 3;
    let (status, body) = servers[follower].register("via-follower").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    replicated(&all, "via-follower").await;

    // A fourth server, started on its own, joins with `drover server join`
    // and becomes a voter.
    let fourth = join_fourth(&dirs[3], ips[3], &servers[follower].rpc_addr(), "").await;
    let mut four_voters = voters.clone();
    four_voters.push(fourth.rpc_addr());
    let all: Vec<&Server> = servers.iter().chain([&fourth]).collect();
    let leader = converged(&all, &four_voters).await;
    replicated(&[&fourth], "formed").await;
    assert_eq!(bootstraps(&fourth), 0);

    // The server that bootstrapped, killed and restarted on its data
    // directory, rejoins the same cluster and does not bootstrap again.
    let first = servers
        .iter()
        .position(|s| bootstraps(s) == 1)
        .expect("one server bootstrapped");
    let node_id = std::fs::read_to_string(dirs[first].join("data/node-id")).unwrap();
    servers[first].restart();
    let all: Vec<&Server> = servers.iter().chain([&fourth]).collect();
    let leader = if leader == first {
        converged(&all, &four_voters).await
    } else {
        leader
    };
    let leader = all[leader];
    let (status, body) = leader.register("after-restart").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    replicated(&all, "after-restart").await;
    converged(&all, &four_voters).await;
    assert_eq!(
        bootstraps(&servers[first]),
        1,
        "the restart bootstrapped again:\n{}",
        servers[first].log()
    );
    assert_eq!(
        std::fs::read_to_string(dirs[first].join("data/node-id")).unwrap(),
        node_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_joins_late_catches_up_by_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"];
    let dirs: Vec<PathBuf> = (0..4).map(|i| tmp.path().join(format!("s{i}"))).collect();
    // Snapshot every 20 entries and keep 5 behind it, so the log a late
    // server needs is gone and the leader sends the snapshot instead.
    let extra = "server {\n  raft_snapshot_threshold = 20\n  raft_trailing_logs = 5\n}";
    let (servers, voters, leader) = form_three(&dirs, &ips, extra).await;
    let jobs: Vec<String> = (0..60).map(|i| format!("job-{i:02}")).collect();
    for id in &jobs {
        let (status, body) = servers[leader].register(id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let fourth = join_fourth(&dirs[3], ips[3], &servers[leader].rpc_addr(), extra).await;
    let mut four_voters = voters.clone();
    four_voters.push(fourth.rpc_addr());
    let all: Vec<&Server> = servers.iter().chain([&fourth]).collect();
    converged(&all, &four_voters).await;
    fourth
        .until(
            "/v1/jobs?stale=true",
            "all 60 jobs on the fourth server",
            |s, v| s == StatusCode::OK && common::job_id_set(v).len() == jobs.len(),
        )
        .await;
    assert!(
        fourth.log().contains("install_full_snapshot"),
        "the fourth server caught up without a snapshot:\n{}",
        fourth.log()
    );
}

/// Wait until `s` serves a blocked evaluation of job `id`: the leader's
/// duties (broker, worker, plan applier) handled its register.
async fn scheduled(s: &Server, id: &str) {
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

// Nomad nomad/leader.go: establishLeadership starts the broker, blocked
// evals, heartbeats and the plan applier on the new leader;
// revokeLeadership stops them on the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_duties_move_with_the_leadership() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.41", "127.0.0.42", "127.0.0.43"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, voters, first) = form_three(&dirs, &ips, "").await;

    let (status, body) = servers[first].register("before").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    scheduled(&servers[first], "before").await;
    let started = |s: &Server| s.log().matches("leader duties started").count();
    assert_eq!(started(&servers[first]), 1, "{}", servers[first].log());

    // kill -9 the leader: the survivors elect another, whose duties start
    // and schedule what is registered with it.
    let _ = servers[first].child.kill();
    let _ = servers[first].child.wait();
    let alive: Vec<&Server> = (0..3)
        .filter(|i| *i != first)
        .map(|i| &servers[i])
        .collect();
    let second = converged(&alive, &voters).await;
    let second = servers
        .iter()
        .position(|s| s.rpc_addr() == alive[second].rpc_addr())
        .unwrap();
    assert_eq!(started(&servers[second]), 1, "{}", servers[second].log());
    let (status, body) = servers[second].register("after").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    scheduled(&servers[second], "after").await;

    // The old leader comes back as a follower. openraft may restart it as
    // the leader of its old term until it hears the new one; any duties it
    // starts then stop again, and the new leader goes on scheduling.
    let old_log = servers[first].log().len();
    servers[first].restart();
    let all: Vec<&Server> = servers.iter().collect();
    assert_eq!(
        all[converged(&all, &voters).await].rpc_addr(),
        servers[second].rpc_addr()
    );
    let (status, body) = servers[second].register("rejoined").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    scheduled(&servers[second], "rejoined").await;
    scheduled(&servers[first], "rejoined").await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let log = servers[first].log();
        let since = log.get(old_log..).unwrap_or_default();
        if since.matches("leader duties started").count()
            == since.matches("leader duties stopped").count()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "duties still running on a follower:\n{since}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// What a read answers, headers included, for comparing two servers.
fn answer(a: &(StatusCode, reqwest::header::HeaderMap, Value)) -> Vec<String> {
    let (status, h, body) = a;
    vec![
        status.to_string(),
        header(h, "x-nomad-index").to_string(),
        header(h, "x-nomad-knownleader").to_string(),
        header(h, "x-nomad-lastcontact").to_string(),
        header(h, "content-type").to_string(),
        body.to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_forwards_to_the_leader_and_serves_stale_reads_itself() {
    use reqwest::Method;
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (servers, _, leader) = form_three(&dirs, &ips, "").await;
    let all: Vec<&Server> = servers.iter().collect();
    let (leader, follower) = (&servers[leader], &servers[(leader + 1) % 3]);

    // The event stream is served by the follower itself, and sees a write
    // the follower forwarded.
    let mut events = follower
        .client
        .get(format!(
            "{}/v1/event/stream?topic=Job:via-follower",
            follower.base()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);

    // A write on a follower: the leader's answer, readable on all three.
    let (status, h, body) = follower
        .call(Method::PUT, "/v1/jobs", Some(&blocked_job("via-follower")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["EvalID"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let write_index: u64 = header(&h, "x-nomad-index").parse().unwrap();
    assert!(write_index > 0);
    replicated(&all, "via-follower").await;
    common::read_events(&mut events, "the job's event on the follower", |e| {
        e["Key"] == "via-follower"
    })
    .await;

    // A default read on the follower is the leader's answer, headers and
    // all. Compared between two identical leader answers, so a write that
    // lands in between (the scheduler's) cannot make them differ.
    let started = Instant::now();
    loop {
        let on_leader = answer(&leader.call(Method::GET, "/v1/job/via-follower", None).await);
        let on_follower = answer(
            &follower
                .call(Method::GET, "/v1/job/via-follower", None)
                .await,
        );
        let again = answer(&leader.call(Method::GET, "/v1/job/via-follower", None).await);
        if on_leader == again {
            assert_eq!(on_follower, on_leader);
            assert_eq!(on_leader[0], "200 OK");
            assert_eq!(on_leader[2..5], ["true", "0", "application/json"]);
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the job never settled");
    }

    // A stale read is the follower's own: it knows the leader, and the
    // leader's heartbeats (every 150 ms) keep its last contact recent.
    let (status, h, body) = follower
        .call(Method::GET, "/v1/job/via-follower?stale=true", None)
        .await;
    assert_eq!(
        (status, body["ID"].as_str()),
        (StatusCode::OK, Some("via-follower"))
    );
    assert_eq!(header(&h, "x-nomad-knownleader"), "true");
    let contact: u64 = header(&h, "x-nomad-lastcontact").parse().unwrap();
    assert!(contact < 2_000, "last contact {contact} ms ago");
    let (_, h, _) = leader
        .call(Method::GET, "/v1/job/via-follower?stale=true", None)
        .await;
    assert_eq!(header(&h, "x-nomad-lastcontact"), "0", "on the leader");

    // Blocking queries on the follower: the default one parks on the
    // leader, the stale one on the follower; a write to the leader wakes
    // both.
    let (_, h, _) = leader.call(Method::GET, "/v1/job/via-follower", None).await;
    let index: u64 = header(&h, "x-nomad-index").parse().unwrap();
    let on_leader = leader.metric("drover_blocking_queries_parked").await;
    let on_follower = follower.metric("drover_blocking_queries_parked").await;
    let path = format!("/v1/job/via-follower?index={index}&wait=60s");
    let stale_path = format!("{path}&stale=true");
    let begun = Instant::now();
    let (consistent, stale, ()) = tokio::join!(
        follower.call(Method::GET, &path, None),
        follower.call(Method::GET, &stale_path, None),
        async {
            leader.parked(on_leader + 1.0).await;
            follower.parked(on_follower + 1.0).await;
            let mut job = blocked_job("via-follower");
            job["Job"]["Meta"] = serde_json::json!({"changed": "yes"});
            let (status, _, body) = leader.call(Method::PUT, "/v1/jobs", Some(&job)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        },
    );
    for (what, (status, h, body)) in [("default", consistent), ("stale", stale)] {
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        let woke_at: u64 = header(&h, "x-nomad-index").parse().unwrap();
        assert!(woke_at > index, "{what}: {woke_at} <= {index}");
        assert_eq!(body["Meta"]["changed"], "yes", "{what}: {body}");
    }
    assert!(
        begun.elapsed() < DEADLINE,
        "the blocking queries woke on their 60 s wait, not on the write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_quorum_a_request_waits_for_a_leader_then_fails() {
    use reqwest::Method;
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.51", "127.0.0.52", "127.0.0.53"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, _, leader) = form_three(&dirs, &ips, "").await;
    let survivor = (leader + 1) % 3;
    servers[leader].kill();
    servers[(leader + 2) % 3].kill();
    let survivor = &servers[survivor];
    survivor
        .until(
            "/v1/status/leader",
            "the survivor to lose the leader",
            |s, v| s == StatusCode::OK && v == "",
        )
        .await;

    // A stale read is still served, and says there is no leader.
    let (status, h, _) = survivor
        .call(Method::GET, "/v1/jobs?stale=true", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "x-nomad-knownleader"), "false");

    // A write and a default read wait the RPC hold time (5 s), then fail.
    let timed = |method: Method, path: &'static str, body: Option<Value>| async move {
        let started = Instant::now();
        let (status, _, answer) = survivor.call(method, path, body.as_ref()).await;
        (status, answer, started.elapsed())
    };
    let (write, read) = tokio::join!(
        timed(Method::PUT, "/v1/jobs", Some(blocked_job("no-quorum"))),
        timed(Method::GET, "/v1/jobs", None),
    );
    for (what, (status, body, took)) in [("write", write), ("read", read)] {
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {body}");
        assert_eq!(body, "No cluster leader", "{what}");
        assert!(
            took >= Duration::from_millis(4_500) && took <= Duration::from_secs(8),
            "{what} answered after {took:?}"
        );
    }
}
