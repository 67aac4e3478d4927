//! Node heartbeats end to end: simulated nodes register and heartbeat over
//! `/v1/internal/node/...`; a node that stops heartbeating is marked down
//! by the leader after its TTL and grace, and its allocations are replaced.

mod common;

use std::time::{Duration, Instant};

use common::{until, Srv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Short TTLs so a missed heartbeat shows within about a second.
async fn server(num_schedulers: usize) -> Srv {
    Srv::start_opts(num_schedulers, |o| {
        o.min_heartbeat_ttl = Duration::from_millis(400);
        o.heartbeat_grace = Duration::from_millis(300);
        o.failover_heartbeat_ttl = Duration::from_secs(2);
    })
    .await
}

fn node(id: &str, cpu: i64) -> Value {
    json!({"Node": {
        "ID": id, "Name": id, "Datacenter": "dc1", "Status": "ready",
        "Attributes": {"kernel.name": "linux"},
        "Drivers": {"raw_exec": {"Detected": true, "Healthy": true}},
        "NodeResources": {"Cpu": {"CpuShares": cpu}, "Memory": {"MemoryMB": 4096},
            "Disk": {"DiskMB": 100000}}
    }})
}

fn job(id: &str, count: i64, cpu: i64) -> Value {
    json!({"Job": {"ID": id, "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": count,
        "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "sleep"},
            "Resources": {"CPU": cpu, "MemoryMB": 64}}]}]}})
}

async fn register(srv: &Srv, body: &Value) -> Value {
    let (st, v, text) = srv
        .send(Method::PUT, "/v1/internal/node/register", body)
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    v
}

/// Heartbeat `id` until aborted, a third of each returned TTL apart, as a
/// client does; panics (ending the task) if a heartbeat is refused.
fn heartbeat(srv: &Srv, id: &str) -> tokio::task::JoinHandle<()> {
    let url = srv.url(&format!("/v1/internal/node/{id}/status"));
    let http = srv.http.clone();
    tokio::spawn(async move {
        loop {
            let r = http
                .put(&url)
                .json(&json!({"Status": "ready"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            let ttl = v["HeartbeatTTL"].as_u64().unwrap();
            tokio::time::sleep(Duration::from_nanos(ttl / 3)).await;
        }
    })
}

fn allocs_on<'a>(allocs: &'a Value, node: &str) -> Vec<&'a Value> {
    allocs
        .as_array()
        .map(|a| a.iter().filter(|x| x["NodeID"] == node).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_node_that_stops_heartbeating_goes_down_and_its_allocs_are_replaced() {
    let srv = server(2).await;
    // B alone first, so both allocations land on it.
    register(&srv, &node("node-b", 1000)).await;
    let hb_b = heartbeat(&srv, "node-b");
    let (st, _, text) = srv.send(Method::PUT, "/v1/jobs", &job("web", 2, 400)).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    until(&srv, "/v1/job/web/allocations", "2 allocs on node-b", |v| {
        allocs_on(v, "node-b").len() == 2
    })
    .await;
    register(&srv, &node("node-a", 2000)).await;
    let hb_a = heartbeat(&srv, "node-a");

    hb_b.abort();
    let b = until(&srv, "/v1/node/node-b", "node-b down", |n| {
        n["Status"] == "down"
    })
    .await;
    let events: Vec<&str> = b["Events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["Message"].as_str())
        .collect();
    assert!(events.contains(&"Node heartbeat missed"), "{events:?}");
    let allocs = until(
        &srv,
        "/v1/job/web/allocations",
        "replacements on node-a",
        |v| {
            let lost = allocs_on(v, "node-b")
                .iter()
                .filter(|a| a["ClientStatus"] == "lost" && a["DesiredStatus"] == "stop")
                .count();
            let placed = allocs_on(v, "node-a")
                .iter()
                .filter(|a| a["DesiredStatus"] == "run")
                .count();
            lost == 2 && placed == 2
        },
    )
    .await;
    assert_eq!(allocs.as_array().unwrap().len(), 4);
    // Node A kept heartbeating and stayed ready throughout.
    let (_, a) = srv.get("/v1/node/node-a").await;
    assert_eq!(a["Status"], "ready");
    assert!(!hb_a.is_finished(), "node-a's heartbeats were refused");
    hb_a.abort();
    srv.s.shutdown().await;
}

#[tokio::test]
async fn a_heartbeating_node_stays_ready_across_many_ttls() {
    let srv = server(0).await;
    let resp = register(&srv, &node("steady", 1000)).await;
    let ttl = Duration::from_nanos(resp["HeartbeatTTL"].as_u64().unwrap());
    assert!(ttl >= Duration::from_millis(400) && ttl < Duration::from_millis(800));
    let hb = heartbeat(&srv, "steady");
    // A silent node, registered at the same time, is the control: once it
    // is down, "steady" has been through more than one TTL.
    register(&srv, &node("silent", 1000)).await;
    until(&srv, "/v1/node/silent", "silent down", |n| {
        n["Status"] == "down"
    })
    .await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let (_, n) = srv.get("/v1/node/steady").await;
        assert_eq!(n["Status"], "ready", "after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!hb.is_finished(), "heartbeats were refused");
    hb.abort();
    srv.s.shutdown().await;
}

#[tokio::test]
async fn a_down_node_that_heartbeats_again_is_ready_and_reregistered() {
    let srv = server(0).await;
    register(&srv, &node("flaky", 1000)).await;
    until(&srv, "/v1/node/flaky", "flaky down", |n| {
        n["Status"] == "down"
    })
    .await;
    let (st, v, text) = srv
        .send(
            Method::PUT,
            "/v1/internal/node/flaky/status",
            &json!({"Status": "ready"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert!(v["HeartbeatTTL"].as_u64().unwrap() > 0);
    let (_, n) = srv.get("/v1/node/flaky").await;
    assert_eq!(n["Status"], "ready");
    let last = n["Events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["Message"], "Node reregistered by heartbeat");
    srv.s.shutdown().await;
}

#[tokio::test]
async fn heartbeats_of_unknown_nodes_and_bad_registrations_are_refused() {
    let srv = server(0).await;
    let (st, v, text) = srv
        .send(
            Method::PUT,
            "/v1/internal/node/nope/status",
            &json!({"Status": "ready"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{text}");
    assert!(text.contains("node not found"), "{text} {v}");

    let mut no_dc = node("x", 1000);
    no_dc["Node"]["Datacenter"] = json!("");
    let (st, _, text) = srv
        .send(Method::PUT, "/v1/internal/node/register", &no_dc)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("Node.Datacenter"), "{text}");
    // Nothing was registered, so nothing is armed either.
    assert_eq!(srv.get("/v1/node/x").await.0, StatusCode::NOT_FOUND);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn a_restarted_leader_gives_live_nodes_the_failover_ttl() {
    use drover_server::agent::{start, ServerOptions};
    let dir = tempfile::tempdir().unwrap();
    let opts = {
        let mut o = ServerOptions::local(dir.path());
        o.num_schedulers = 0;
        o.min_heartbeat_ttl = Duration::from_millis(400);
        o.heartbeat_grace = Duration::from_millis(300);
        o.failover_heartbeat_ttl = Duration::from_millis(2500);
        o
    };
    let http = reqwest::Client::new();
    let s = start(opts.clone()).await.unwrap();
    let r = http
        .put(format!("http://{}/v1/internal/node/register", s.http_addr))
        .json(&node("survivor", 1000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.shutdown().await;

    let restarted = Instant::now();
    let s = start(opts).await.unwrap();
    let url = format!("http://{}/v1/node/survivor", s.http_addr);
    let get = || async {
        let v: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        v
    };
    assert_eq!(get().await["Status"], "ready");
    // Not before the failover TTL (from when the timers were rebuilt,
    // which is after the restart began), but soon after it.
    loop {
        let n = get().await;
        if n["Status"] == "down" {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "never down: {n}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        restarted.elapsed() >= Duration::from_millis(2500),
        "down after {:?}, before the failover TTL",
        restarted.elapsed()
    );
    s.shutdown().await;
}
