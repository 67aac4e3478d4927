//! Nomad's `autopilot { server_stabilization_time }`: a server that joins
//! a running cluster is a non-voter until it has caught up and been
//! healthy for that long, and only then a voter.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::DEADLINE;
use reqwest::StatusCode;

const STABILIZATION: Duration = Duration::from_secs(3);

/// Whether the leader lists a member outside `voters`, and if so whether
/// it is a voter.
async fn newcomer(leader: &Server, voters: &[String]) -> Option<bool> {
    let (status, v) = leader.get("/v1/operator/raft/configuration").await?;
    if status != StatusCode::OK {
        return None;
    }
    v["Servers"].as_array()?.iter().find_map(|m| {
        let addr = m["Address"].as_str()?;
        (!voters.iter().any(|a| a == addr)).then(|| m["Voter"] == true)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_server_votes_only_after_the_stabilization_time() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.132", "127.0.0.133", "127.0.0.134", "127.0.0.135"];
    let dirs: Vec<PathBuf> = (0..4).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let extra = "autopilot {\n  server_stabilization_time = \"3s\"\n}";
    // The three bootstrap voters are voters from the start.
    let (servers, voters, leader) = form_three(&dirs, &ips, extra).await;
    let leader = &servers[leader];
    let (status, config) = leader
        .get("/v1/operator/autopilot/configuration")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["ServerStabilizationTime"], "3s", "{config}");

    // While `drover server join` runs, watch the leader's configuration:
    // the fourth server is listed as a non-voter, then as a voter.
    let watch = async {
        let started = Instant::now();
        let mut learner_at = None;
        loop {
            match newcomer(leader, &voters).await {
                Some(false) if learner_at.is_none() => learner_at = Some(Instant::now()),
                Some(true) => {
                    let learner_at =
                        learner_at.expect("listed as a voter without being a non-voter first");
                    return learner_at.elapsed();
                }
                _ => {}
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the fourth server was not promoted (non-voter since {learner_at:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (fourth, non_voter_for) =
        tokio::join!(join_fourth(&dirs[3], ips[3], &voters[0], extra), watch);
    println!("the fourth server was a non-voter for {non_voter_for:?}");
    assert!(
        non_voter_for >= STABILIZATION - Duration::from_millis(100),
        "promoted after {non_voter_for:?}"
    );
    assert!(
        non_voter_for < STABILIZATION + Duration::from_secs(10),
        "promoted after {non_voter_for:?}"
    );
    let mut four = voters.clone();
    four.push(fourth.rpc_addr());
    let all: Vec<&Server> = servers.iter().chain([&fourth]).collect();
    converged(&all, &four).await;
}
