//! Autopilot's promotion as a leader duty (Nomad's autopilot,
//! hashicorp/raft-autopilot's promoter): a join only adds a non-voter;
//! the leader promotes it, with no further request, once it has been
//! healthy for `server_stabilization_time`, and a new leader picks up a
//! promotion the old one had not made yet.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::DEADLINE;
use reqwest::StatusCode;
use serde_json::Value;

const STABILIZATION: Duration = Duration::from_secs(3);

/// `/v1/operator/autopilot/health` on `s`: the server at `rpc_addr`'s
/// entry, once the answer is a 200.
async fn health_of(s: &Server, rpc_addr: &str) -> Option<Value> {
    let (status, v) = s.get("/v1/operator/autopilot/health").await?;
    if status != StatusCode::OK {
        return None;
    }
    v["Servers"]
        .as_array()?
        .iter()
        .find(|m| m["Address"] == rpc_addr)
        .cloned()
}

/// Wait until `s` reports the server at `rpc_addr` as a voter; returns
/// when that was first seen. Every answer before it must list it as a
/// non-voter.
async fn promoted(s: &Server, joiner: &Server) -> Instant {
    let rpc_addr = &joiner.rpc_addr();
    let started = Instant::now();
    loop {
        if let Some(h) = health_of(s, rpc_addr).await {
            if h["Voter"] == true {
                return Instant::now();
            }
            assert_eq!(h["Voter"], false, "{h}");
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{rpc_addr} was not promoted:\n{}\n---- the joiner:\n{}",
            s.log(),
            joiner.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server that leads now, among `servers`.
async fn leader_of<'a>(servers: &[&'a Server]) -> &'a Server {
    let started = Instant::now();
    loop {
        for s in servers {
            if let Some((StatusCode::OK, Value::String(l))) = s.get("/v1/status/leader").await {
                if let Some(found) = servers.iter().find(|s| s.rpc_addr() == l) {
                    return found;
                }
            }
        }
        assert!(started.elapsed() < DEADLINE, "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_server_is_promoted_by_the_leader_even_across_a_leader_change() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = [
        "127.0.1.70",
        "127.0.1.71",
        "127.0.1.72",
        "127.0.1.73",
        "127.0.1.74",
    ];
    let dirs: Vec<PathBuf> = (0..5).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let extra = "autopilot {\n  server_stabilization_time = \"3s\"\n}";
    let (servers, voters, leader) = form_three(&dirs, &ips, extra).await;
    let leader = &servers[leader];

    // The join returns once the fourth server is a member, before it
    // votes: the leader reports it as a healthy non-voter first.
    let fourth = join_fourth(&dirs[3], ips[3], &voters[0], extra).await;
    let joined_at = Instant::now();
    let h = health_of(leader, &fourth.rpc_addr())
        .await
        .expect("the fourth server is in the leader's autopilot health");
    assert_eq!(h["Voter"], false, "a voter right after the join: {h}");
    // Then it is promoted without any further request.
    let voter_at = promoted(leader, &fourth).await;
    let non_voter_for = voter_at - joined_at;
    println!("the fourth server was a non-voter for {non_voter_for:?} after its join");
    assert!(
        non_voter_for >= STABILIZATION - Duration::from_millis(500),
        "promoted after {non_voter_for:?}"
    );
    let h = health_of(leader, &fourth.rpc_addr()).await.unwrap();
    assert_eq!(h["Healthy"], true, "{h}");
    let mut four = voters.clone();
    four.push(fourth.rpc_addr());
    let all: Vec<&Server> = servers.iter().chain([&fourth]).collect();
    converged(&all, &four).await;

    // A fifth server joins; while it stabilizes, leadership moves to
    // another voter. The new leader promotes it.
    let fifth = join_fourth(&dirs[4], ips[4], &voters[1], extra).await;
    let old = leader_of(&all).await;
    let target = all
        .iter()
        .find(|s| s.rpc_addr() != old.rpc_addr())
        .expect("another voter");
    let (status, _, body) = old
        .call(
            reqwest::Method::PUT,
            &format!(
                "/v1/operator/raft/transfer-leadership?address={}",
                target.rpc_addr()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let moved_at = Instant::now();
    let new = leader_of(&all).await;
    assert_eq!(new.rpc_addr(), target.rpc_addr());
    let h = health_of(new, &fifth.rpc_addr())
        .await
        .expect("the fifth server is in the new leader's autopilot health");
    assert_eq!(
        h["Voter"], false,
        "promoted before the leadership moved: {h}"
    );
    let voter_at = promoted(new, &fifth).await;
    // The new leader counts the stabilization time from what it saw
    // itself, as raft-autopilot's state starts over with each leader.
    let after_move = voter_at - moved_at;
    println!("the fifth server was promoted {after_move:?} after the leadership moved");
    assert!(
        after_move >= STABILIZATION - Duration::from_millis(500),
        "promoted {after_move:?} after the leadership moved"
    );
    let mut five = four.clone();
    five.push(fifth.rpc_addr());
    let all: Vec<&Server> = all.into_iter().chain([&fifth]).collect();
    converged(&all, &five).await;
    assert!(
        new.log().contains("promoted to voter"),
        "the new leader did not promote it:\n{}",
        new.log()
    );
}

// Nomad's operator autopilot set-config reads the configuration, changes
// it and writes it back with `cas` (api/operator_autopilot.go).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_autopilot_configuration_is_written_through_raft_with_cas() {
    use reqwest::Method;
    let tmp = tempfile::tempdir().unwrap();
    let extra = "autopilot {\n  server_stabilization_time = \"3s\"\n}";
    let s = Server::start(
        &tmp.path().join("s0"),
        "127.0.1.75",
        common::free_port(),
        &["-bootstrap-expect".to_string(), "1".to_string()],
        extra,
    );
    // The leader stores its `autopilot` block as the configuration.
    let path = "/v1/operator/autopilot/configuration";
    s.until(path, "the leader's configuration stored", |st, v| {
        st == StatusCode::OK && v["ModifyIndex"].as_u64().is_some_and(|i| i > 0)
    })
    .await;
    let (_, mut config) = s.get(path).await.unwrap();
    assert_eq!(config["ServerStabilizationTime"], "3s", "{config}");
    assert_eq!(config["MaxTrailingLogs"], 250, "{config}");
    assert_eq!(config["LastContactThreshold"], "200ms", "{config}");
    let first = config["ModifyIndex"].as_u64().unwrap();

    // A `cas` on another index writes nothing.
    config["ServerStabilizationTime"] = "1m30s".into();
    config["MaxTrailingLogs"] = 100.into();
    let stale = format!("{path}?cas={}", first + 1000);
    let (st, _, body) = s.call(Method::PUT, &stale, Some(&config)).await;
    assert_eq!((st, &body), (StatusCode::OK, &Value::Bool(false)));
    let (_, now) = s.get(path).await.unwrap();
    assert_eq!(now["ServerStabilizationTime"], "3s", "{now}");

    // A `cas` on the stored index writes.
    let (st, _, body) = s
        .call(Method::PUT, &format!("{path}?cas={first}"), Some(&config))
        .await;
    assert_eq!((st, &body), (StatusCode::OK, &Value::Bool(true)));
    let (_, now) = s.get(path).await.unwrap();
    assert_eq!(now["ServerStabilizationTime"], "1m30s", "{now}");
    assert_eq!(now["MaxTrailingLogs"], 100, "{now}");
    assert_eq!(now["CreateIndex"], config["CreateIndex"], "{now}");
    assert!(now["ModifyIndex"].as_u64().unwrap() > first, "{now}");

    // Bad input: a 400 naming the field, and nothing written.
    for (body, want) in [
        (
            serde_json::json!({"ServerStabilizationTime": "10 parsecs"}),
            "ServerStabilizationTime",
        ),
        (
            serde_json::json!({"ServerStabilizationTime": "0s"}),
            "ServerStabilizationTime: must be a positive duration",
        ),
        (
            serde_json::json!({"ServerStabilizationTime": "1s", "LastContactThreshold": true}),
            "LastContactThreshold",
        ),
    ] {
        let (st, _, answer) = s.call(Method::PUT, path, Some(&body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer.to_string().contains(want), "{body}: {answer}");
    }
    let (st, _, answer) = s
        .call(Method::PUT, &format!("{path}?cas=x"), Some(&config))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{answer}");
    let (_, now) = s.get(path).await.unwrap();
    assert_eq!(now["ServerStabilizationTime"], "1m30s", "{now}");
}
