//! Several `drover agent -server` processes on loopback forming one
//! cluster: bootstrap with `-bootstrap-expect 3 -retry-join`, replication
//! of writes, `drover server join` of a fourth server, a restart on the
//! data directory that rejoins without bootstrapping again, and what a
//! follower does with requests: forward writes, consistent and blocking
//! reads to the leader, serve stale ones itself, hold them while there is
//! no leader. The servers and the waits are in `common/cluster.rs`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::{blocked_job, DEADLINE};
use reqwest::StatusCode;
use serde_json::Value;

/// A joining server is promoted after 200 ms of health rather than
/// Nomad's 10 s, so the tests that join one stay quick.
const QUICK_PROMOTION: &str = "autopilot {\n  server_stabilization_time = \"200ms\"\n}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_form_one_cluster_a_fourth_joins_and_a_restart_rejoins() {
    let tmp = tempfile::tempdir().unwrap();
    // Addresses unlikely to be used by other tests, which bind 127.0.0.1.
    let ips = ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"];
    let dirs: Vec<PathBuf> = (0..4).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, voters, leader) = form_three(&dirs, &ips, QUICK_PROMOTION).await;
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
    let fourth = join_fourth(
        &dirs[3],
        ips[3],
        &servers[follower].rpc_addr(),
        QUICK_PROMOTION,
    )
    .await;
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
    let extra = &format!(
        "server {{\n  raft_snapshot_threshold = 20\n  raft_trailing_logs = 5\n}}\n{QUICK_PROMOTION}"
    );
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
    // So is a stale snapshot save: the survivor's own state.
    let (status, _, _) = survivor
        .call(Method::GET, "/v1/operator/snapshot?stale=true", None)
        .await;
    assert_eq!(status, StatusCode::OK);

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

// A server restarted on its data directory is a voter at once and skips
// discovery; it still learns who the other members are (names, HTTP
// addresses) by greeting them, as Nomad's servers re-join the gossip pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_learns_the_members_it_already_belongs_with() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.91", "127.0.0.92", "127.0.0.93"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, voters, leader) = form_three(&dirs, &ips, "").await;
    let follower = (leader + 1) % 3;
    servers[follower].restart();
    let all: Vec<&Server> = servers.iter().collect();
    converged(&all, &voters).await;
    // Served by the restarted server itself: each member is named by its
    // identity ("name.region"), not by its bare RPC address.
    servers[follower]
        .until(
            "/v1/operator/raft/configuration?stale=true",
            "every member named",
            |st, v| {
                st == StatusCode::OK
                    && v["Servers"].as_array().is_some_and(|s| {
                        s.len() == 3 && s.iter().all(|m| m["Node"] != m["Address"])
                    })
            },
        )
        .await;
}

// hashicorp/raft fails a write whose leader steps down
// (`ErrLeadershipLost`); openraft's leader would wait for its quorum
// forever. A write taken just before the quorum went away gets a 500 once
// the leader's lease has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_leader_that_lost_its_quorum_fails_instead_of_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.95", "127.0.0.96", "127.0.0.97"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (mut servers, _, leader) = form_three(&dirs, &ips, "").await;
    let (status, body) = servers[leader].register("before").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for i in (0..3).filter(|i| *i != leader) {
        let _ = servers[i].child.kill();
        let _ = servers[i].child.wait();
    }
    let started = Instant::now();
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(20), servers[leader].register("after"))
            .await
            .expect("the write is answered, not left hanging");
    let took = started.elapsed();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body.contains("leadership lost") || body.contains("No cluster leader"),
        "{body}"
    );
    assert!(took < Duration::from_secs(8), "answered after {took:?}");
}
