//! Handing leadership to a named server, as Nomad's `nomad operator raft
//! transfer-leadership` does (`PUT /v1/operator/raft/transfer-leadership`,
//! nomad/operator_endpoint.go `TransferLeadershipToPeer`): three real
//! servers on loopback, the request sent to a follower (forwarded to the
//! leader), by ID and by address, with writes going on meanwhile.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use common::cluster::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The Raft ID the servers' configuration gives `addr`.
async fn raft_id(s: &Server, addr: &str) -> String {
    let (st, _, cfg) = s
        .call(Method::GET, "/v1/operator/raft/configuration", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{cfg}");
    cfg["Servers"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["Address"] == addr))
        .and_then(|s| s["ID"].as_str())
        .unwrap_or_else(|| panic!("{addr} in {cfg}"))
        .to_string()
}

async fn transfer(via: &Server, query: &str) -> (StatusCode, Value) {
    let (st, _, body) = via
        .call(
            Method::PUT,
            &format!("/v1/operator/raft/transfer-leadership?{query}"),
            None,
        )
        .await;
    (st, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_to_the_named_server_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.151", "127.0.0.152", "127.0.0.153"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (servers, voters, leader) = form_three(&dirs, &ips, "client { enabled = false }").await;
    let servers = Arc::new(servers);
    let all: Vec<&Server> = servers.iter().collect();
    let target = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let target_id = raft_id(&servers[leader], &servers[target].rpc_addr()).await;

    // Writes through the third server all along: each one acknowledged
    // must survive the hand-over.
    let writer = {
        let servers = servers.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..40 {
                let id = format!("during-{i}");
                let (st, _) = servers[other].register(&id).await;
                if st == StatusCode::OK {
                    acked.push(id);
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            acked
        })
    };

    let started = Instant::now();
    let (st, body) = transfer(&servers[other], &format!("id={target_id}")).await;
    let took = started.elapsed();
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["To"]["ID"], target_id.as_str(), "{body}");
    assert_eq!(body["To"]["Address"], servers[target].rpc_addr().as_str());
    assert_eq!(body["From"]["Address"], servers[leader].rpc_addr().as_str());
    assert_eq!(body["Noop"], false);
    println!("hand-over to {} took {took:?}", servers[target].rpc_addr());
    assert_eq!(
        converged(&all, &voters).await,
        target,
        "every server names the target"
    );

    // And back, by address, through the old leader.
    let (st, body) = transfer(
        &servers[leader],
        &format!("address={}", servers[leader].rpc_addr()),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(converged(&all, &voters).await, leader);

    let acked = writer.await.unwrap();
    assert!(!acked.is_empty(), "some writes were acknowledged");
    for id in &acked {
        replicated(&all, id).await;
    }
    println!(
        "{} of 40 writes acknowledged during two hand-overs",
        acked.len()
    );

    // The leader itself: nothing to do.
    let leader_id = raft_id(&servers[leader], &servers[leader].rpc_addr()).await;
    let (st, body) = transfer(&servers[target], &format!("id={leader_id}")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["Noop"], true, "{body}");

    // Bad requests change nothing.
    let (st, body) = transfer(&servers[leader], "id=424242").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        body.as_str()
            .is_some_and(|b| b.contains("not found in the Raft configuration")),
        "{body}"
    );
    let (st, _) = transfer(&servers[leader], &format!("id={target_id}&address=x:1")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = transfer(&servers[leader], "").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(converged(&all, &voters).await, leader);
    assert_same_state(&all).await;
}

/// `drover operator raft transfer-leadership` with `args` against `via`:
/// exit code, stdout, stderr.
async fn transfer_cli(via: &Server, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["operator", "raft", "transfer-leadership", "-address"])
        .arg(via.base())
        .args(args)
        .output();
    let out = tokio::time::timeout(common::DEADLINE, out)
        .await
        .expect("the command returns")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// Nomad's command/operator_raft_transfer.go: one of -peer-id or
// -peer-address names the server that is to lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_hands_leadership_to_a_server_named_by_address_or_id() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.1.80", "127.0.1.81", "127.0.1.82"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (servers, voters, leader) = form_three(&dirs, &ips, "client { enabled = false }").await;
    let all: Vec<&Server> = servers.iter().collect();
    let target = (leader + 1) % 3;
    let follower = (leader + 2) % 3;

    // By address, asked of a follower (which forwards to the leader).
    let addr = servers[target].rpc_addr();
    let (code, out, err) = transfer_cli(&servers[follower], &["-peer-address", &addr]).await;
    assert_eq!(code, 0, "{out}{err}");
    let id = raft_id(&servers[target], &addr).await;
    assert_eq!(
        out.trim(),
        format!("Transferred leadership to server {id} ({addr})")
    );
    assert_eq!(converged(&all, &voters).await, target);

    // By ID, the server that leads now: nothing to do.
    let (code, out, err) = transfer_cli(&servers[follower], &["-peer-id", &id]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        format!("Server {id} ({addr}) is already the leader")
    );

    // By ID, back to the first leader.
    let back = servers[leader].rpc_addr();
    let back_id = raft_id(&servers[target], &back).await;
    let (code, out, err) = transfer_cli(&servers[target], &["-peer-id", &back_id]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(converged(&all, &voters).await, leader);

    // Refusals: one line on stderr, exit 1.
    for (args, want) in [
        (&[][..], "One of -peer-id or -peer-address is required"),
        (
            &["-peer-id", "1", "-peer-address", "127.0.0.1:1"][..],
            "Only one of -peer-id or -peer-address may be given",
        ),
        (
            &["-peer-id", "12345"][..],
            "id \"12345\" was not found in the Raft configuration",
        ),
    ] {
        let (code, out, err) = transfer_cli(&servers[follower], args).await;
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("Error transferring leadership: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
}
