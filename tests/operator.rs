//! Operator endpoints and commands against real servers on loopback:
//! members alive then failed, the Raft configuration, removing a peer,
//! autopilot health, snapshot save and restore, and what they refuse.

mod common;

use std::path::PathBuf;

use common::cluster::*;
use common::{free_port, DEADLINE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn drover(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .output();
    let out = tokio::time::timeout(DEADLINE, out)
        .await
        .expect("the command returns")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn statuses(members: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = members["Members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let addr = format!("{}:{}", m["Addr"].as_str().unwrap_or(""), m["Port"]);
            (addr, m["Status"].as_str().unwrap_or("").to_string())
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_configuration_health_and_removing_a_failed_server() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.71", "127.0.0.72", "127.0.0.73"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, voters, leader) = form_three(&dirs, &ips, "").await;
    let follower = (leader + 1) % 3;
    let victim = (leader + 2) % 3;

    // Every server lists the three, alive.
    let all_alive: Vec<(String, String)> = {
        let mut v: Vec<_> = voters
            .iter()
            .map(|a| (a.clone(), "alive".to_string()))
            .collect();
        v.sort();
        v
    };
    for s in &servers {
        s.until("/v1/agent/members", "three alive members", |st, v| {
            st == StatusCode::OK && statuses(v) == all_alive
        })
        .await;
    }

    // The Raft configuration, asked of a follower, is the leader's: three
    // voters, one of them the leader.
    let (st, _, config) = servers[follower]
        .call(Method::GET, "/v1/operator/raft/configuration", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{config}");
    let list = config["Servers"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{config}");
    assert!(list
        .iter()
        .all(|s| s["Voter"] == true && s["RaftProtocol"] == "3"));
    let leaders: Vec<&Value> = list.iter().filter(|s| s["Leader"] == true).collect();
    assert_eq!(leaders.len(), 1, "{config}");
    assert_eq!(leaders[0]["Address"], servers[leader].rpc_addr());
    assert!(config["Index"].is_u64(), "{config}");

    // Autopilot: all healthy, one failure tolerated.
    servers[follower]
        .until(
            "/v1/operator/autopilot/health",
            "a healthy cluster",
            |st, v| {
                st == StatusCode::OK
                    && v["Healthy"] == true
                    && v["FailureTolerance"] == 1
                    && v["Servers"].as_array().is_some_and(|s| s.len() == 3)
            },
        )
        .await;

    // The commands print Nomad's tables.
    let (ok, out, err) =
        drover(&["server", "members", "-address", &servers[follower].base()]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("Name") && lines[0].contains("Raft Version"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines.iter().filter(|l| l.contains(" alive ")).count(),
        3,
        "{out}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains(" true ")).count(),
        1,
        "{out}"
    );
    let (ok, out, err) = drover(&[
        "operator",
        "raft",
        "list-peers",
        "-address",
        &servers[follower].base(),
    ])
    .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("Node") && lines[0].contains("RaftProtocol"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "{out}");
    let leader_line = lines.iter().find(|l| l.contains(" leader ")).unwrap();
    assert!(leader_line.contains(&servers[leader].rpc_addr()), "{out}");

    // A transfer names its target (tests/cluster_transfer.rs moves it).
    let (st, _, body) = servers[leader]
        .call(Method::PUT, "/v1/operator/raft/transfer-leadership", None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");

    // Kill one follower: every live server reports it failed.
    servers[victim].kill();
    let victim_addr = servers[victim].rpc_addr();
    for i in [leader, follower] {
        servers[i]
            .until("/v1/agent/members", "the killed server failed", |st, v| {
                st == StatusCode::OK
                    && statuses(v)
                        .iter()
                        .all(|(a, s)| (s == "failed") == (*a == victim_addr))
            })
            .await;
    }
    servers[follower]
        .until(
            "/v1/operator/autopilot/health",
            "unhealthy, no tolerance",
            |st, v| st == StatusCode::OK && v["Healthy"] == false && v["FailureTolerance"] == 0,
        )
        .await;

    // Bad removals change nothing.
    let (st, _, body) = servers[follower]
        .call(
            Method::DELETE,
            "/v1/operator/raft/peer?address=127.0.0.79:1",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    let (st, _, body) = servers[follower]
        .call(Method::DELETE, "/v1/operator/raft/peer", None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");

    // Remove it, through a follower: two voters everywhere.
    let path = format!("/v1/operator/raft/peer?address={victim_addr}");
    let (st, _, body) = servers[follower].call(Method::DELETE, &path, None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let rest: Vec<String> = [leader, follower]
        .iter()
        .map(|&i| servers[i].rpc_addr())
        .collect();
    let live: Vec<&Server> = [leader, follower].iter().map(|&i| &servers[i]).collect();
    converged(&live, &rest).await;
    for s in &live {
        s.until("/v1/agent/members", "two alive members", |st, v| {
            st == StatusCode::OK
                && statuses(v).len() == 2
                && statuses(v).iter().all(|(_, s)| s == "alive")
        })
        .await;
        let (st, _, config) = s
            .call(Method::GET, "/v1/operator/raft/configuration", None)
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(config["Servers"].as_array().unwrap().len(), 2, "{config}");
    }
    // Removing it again: it is unknown now.
    let (st, _, body) = servers[leader].call(Method::DELETE, &path, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_voter_stays_and_snapshots_save_and_check_what_they_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(
        &tmp.path().join("s"),
        "127.0.0.74",
        free_port(),
        &["-bootstrap-expect".to_string(), "1".to_string()],
        "",
    );
    converged(&[&s], &[s.rpc_addr()]).await;

    // The only voter is never removed.
    let path = format!("/v1/operator/raft/peer?address={}", s.rpc_addr());
    let (st, _, body) = s.call(Method::DELETE, &path, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.as_str().unwrap().contains("last voter"), "{body}");
    assert_eq!(s.peers().await, vec![s.rpc_addr()]);

    // Save, with a job in the state.
    let (st, body) = s.register("before").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let file = tmp.path().join("backup.snap");
    let file_str = file.to_str().unwrap();
    let (ok, out, err) = drover(&[
        "operator",
        "snapshot",
        "save",
        "-address",
        &s.base(),
        file_str,
    ])
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("State file written to {file_str}"));
    assert!(std::fs::metadata(&file).unwrap().len() > 0);

    // A body that is no snapshot: 400, and the state is as it was.
    let (st, _, body) = s
        .call(
            Method::PUT,
            "/v1/operator/snapshot",
            Some(&Value::String("garbage".into())),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.as_str().unwrap().contains("invalid snapshot"),
        "{body}"
    );
    let (ok, _, err) = drover(&[
        "operator",
        "snapshot",
        "restore",
        "-address",
        &s.base(),
        file!(),
    ])
    .await;
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error restoring snapshot: invalid snapshot"),
        "{err}"
    );
    let (st, _, job) = s.call(Method::GET, "/v1/job/before", None).await;
    assert_eq!(st, StatusCode::OK, "{job}");

    // A job registered after the save is gone once the save is restored;
    // the one saved is there.
    let (st, body) = s.register("after").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (ok, out, err) = drover(&[
        "operator",
        "snapshot",
        "restore",
        "-address",
        &s.base(),
        file_str,
    ])
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Snapshot Restored");
    let (st, _, body) = s.call(Method::GET, "/v1/job/after", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    let (st, _, job) = s.call(Method::GET, "/v1/job/before", None).await;
    assert_eq!(st, StatusCode::OK, "{job}");
    // Writes go on, and the leader schedules them from the restored state.
    let (st, body) = s.register("later").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    scheduled(&s, "later").await;
}

// Nomad's `nomad operator snapshot restore` replaces the state of the whole
// cluster: every server, at one log index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_snapshot_replaces_the_state_on_every_server() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.75", "127.0.0.76", "127.0.0.77"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (servers, _, leader) = form_three(&dirs, &ips, "").await;
    let all: Vec<&Server> = servers.iter().collect();
    let (st, body) = servers[leader].register("saved").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    replicated(&all, "saved").await;

    let follower = &servers[(leader + 1) % 3];
    let saved = follower
        .client
        .get(format!("{}/v1/operator/snapshot", follower.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let saved = saved.bytes().await.unwrap();
    let (st, body) = servers[leader].register("dropped").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    replicated(&all, "dropped").await;

    // Restored through a follower (forwarded to the leader).
    let r = follower
        .client
        .put(format!("{}/v1/operator/snapshot", follower.base()))
        .body(saved)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    for s in &servers {
        s.until(
            "/v1/job/dropped?stale=true",
            "the job registered after the save gone",
            |st, _| st == StatusCode::NOT_FOUND,
        )
        .await;
        let (st, _, job) = s.call(Method::GET, "/v1/job/saved?stale=true", None).await;
        assert_eq!(st, StatusCode::OK, "{job}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_only_agent_answers_the_agent_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let (sd, cd) = (tmp.path().join("server"), tmp.path().join("client"));
    std::fs::create_dir_all(&sd).unwrap();
    std::fs::create_dir_all(&cd).unwrap();
    let (server, client) = common::Agent::start_server_and_client(&sd, &cd).await;

    let health = client
        .until("/v1/agent/health", "the client healthy", |v| {
            v["client"]["ok"] == true
        })
        .await;
    assert!(health.get("server").is_none(), "{health}");

    let (st, me, _) = client.get("/v1/agent/self").await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["config"]["Client"]["Enabled"], true, "{me}");
    assert_eq!(me["config"]["Server"]["Enabled"], false, "{me}");
    assert!(
        !me["stats"]["client"]["node_id"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{me}"
    );

    // The servers' members, as a server lists them.
    let (st, members, _) = client.get("/v1/agent/members").await;
    assert_eq!(st, StatusCode::OK, "{members}");
    let (_, from_server, _) = server.get("/v1/agent/members").await;
    assert_eq!(statuses(&members), statuses(&from_server));
    assert_eq!(statuses(&members).len(), 1, "{members}");
    assert_eq!(statuses(&members)[0].1, "alive");

    let (st, servers, _) = client.get("/v1/agent/servers").await;
    assert_eq!(st, StatusCode::OK, "{servers}");
    assert_eq!(servers.as_array().unwrap().len(), 1, "{servers}");
}
