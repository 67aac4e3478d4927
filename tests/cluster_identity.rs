//! A server's data directory belongs to one cluster: the cluster's first
//! leader writes a cluster ID through Raft (Nomad's `ClusterMetadata`),
//! and a server restarted on a directory of another cluster, told to join
//! a running one, refuses to with one line naming both IDs and exits
//! non-zero, while the cluster refuses it and keeps its voters. A server
//! of another region is refused too, and says why at each try.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::{free_port, DEADLINE};
use reqwest::StatusCode;
use serde_json::Value;

/// The cluster ID `s` reports (`stats.nomad.cluster_id` of
/// `/v1/agent/self`), once it has applied one.
async fn cluster_id(s: &Server) -> Option<String> {
    let (_, v) = s.get("/v1/agent/self").await?;
    let id = v["stats"]["nomad"]["cluster_id"].as_str()?;
    (!id.is_empty()).then(|| id.to_string())
}

/// Wait until every server reports one cluster ID; returns it.
async fn one_cluster_id(servers: &[&Server]) -> String {
    let started = Instant::now();
    loop {
        let mut ids = Vec::new();
        for s in servers {
            ids.push(cluster_id(s).await);
        }
        if let [Some(first), rest @ ..] = ids.as_slice() {
            if rest.iter().all(|id| id.as_ref() == Some(first)) {
                return first.clone();
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the servers did not agree on a cluster ID: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait for the process to exit; its status.
async fn exited(s: &mut Server) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} is still running:\n{}",
            s.ip,
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The members `/v1/operator/raft/configuration` lists, voters or not.
async fn raft_members(s: &Server) -> Vec<(String, bool)> {
    let Some((StatusCode::OK, v)) = s.get("/v1/operator/raft/configuration").await else {
        return Vec::new();
    };
    v["Servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let addr = m["Address"].as_str().unwrap_or_default().to_string();
            (addr, m["Voter"] == Value::Bool(true))
        })
        .collect()
}

fn retry_join(voters: &[String]) -> Vec<String> {
    voters
        .iter()
        .flat_map(|a| ["-retry-join".to_string(), a.clone()])
        .collect()
}

fn dirs(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| root.join(format!("s{i}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_from_another_cluster_refuses_to_join() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = dirs(tmp.path(), 4);
    let ips = ["127.0.0.125", "127.0.0.126", "127.0.0.127"];
    let (servers, voters, _) = form_three(&dirs, &ips, "").await;
    let all: Vec<&Server> = servers.iter().collect();
    let theirs = one_cluster_id(&all).await;

    // Server X forms a cluster of its own, then is stopped.
    let one = ["-bootstrap-expect".to_string(), "1".to_string()];
    let mut x = Server::start(&dirs[3], "127.0.0.124", free_port(), &one, "");
    let ours = one_cluster_id(&[&x]).await;
    assert_ne!(ours, theirs);
    x.kill();

    // Restarted on its data directory and told to join the three, it
    // refuses, with one line naming both clusters, and exits non-zero.
    x.args = one.iter().cloned().chain(retry_join(&voters)).collect();
    x.restart();
    let status = exited(&mut x).await;
    assert!(!status.success(), "{status:?}\n{}", x.log());
    let log = x.log();
    let reason = log
        .lines()
        .find(|l| l.starts_with("Error: "))
        .unwrap_or_else(|| panic!("no error line:\n{log}"));
    assert!(
        reason.contains(&format!("belongs to cluster {ours}"))
            && reason.contains(&format!("belongs to cluster {theirs}")),
        "{reason}"
    );
    println!("{reason}");

    // The cluster refused it and still has its three voters, no more.
    converged(&all, &voters).await;
    for s in &servers {
        let members = raft_members(s).await;
        assert_eq!(members.len(), 3, "{members:?}");
    }
    let refusal = format!("it belongs to cluster {ours}, this server to cluster {theirs}");
    assert!(
        servers.iter().any(|s| s.log().contains(&refusal)),
        "no server logged the refusal: {refusal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_of_another_region_is_refused_at_each_try() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = dirs(tmp.path(), 4);
    let ips = ["127.0.0.128", "127.0.0.129", "127.0.0.130"];
    let (servers, voters, leader) = form_three(&dirs, &ips, "").await;
    let all: Vec<&Server> = servers.iter().collect();

    let args: Vec<String> = ["-region", "west", "-bootstrap-expect", "3"]
        .iter()
        .map(|a| a.to_string())
        .chain(retry_join(&voters))
        .collect();
    let mut west = Server::start(&dirs[3], "127.0.0.131", free_port(), &args, "");
    let why = "is in region \"global\", this server in region \"west\"";
    let started = Instant::now();
    while west.log().matches(why).count() < 3 {
        assert!(
            started.elapsed() < DEADLINE,
            "the west server did not say why it does not join, three times:\n{}",
            west.log()
        );
        assert!(
            west.child.try_wait().unwrap().is_none(),
            "the west server exited:\n{}",
            west.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = west
        .log()
        .lines()
        .find(|l| l.contains(why))
        .unwrap()
        .to_string();
    println!("{line}");

    // Asked directly (`drover server join`), it fails with the same
    // reason; nothing changed in the cluster.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["server", "join", "-address", &west.base(), &voters[leader]])
        .output()
        .await
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("region"), "{said}");
    converged(&all, &voters).await;
    for s in &servers {
        let members = raft_members(s).await;
        assert_eq!(members.len(), 3, "{members:?}");
    }
}
