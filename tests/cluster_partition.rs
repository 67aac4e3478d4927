//! A three-server cluster and a client, each agent in its own Docker
//! container, through a network partition that cuts the leader (and the
//! client beside it) off from both followers, and through its healing.
//!
//! What Nomad does, and Drover must: the minority refuses writes with 500
//! `No cluster leader` once hashicorp/raft's leader lease has passed (a
//! write already in flight fails as leadership lost), and names no
//! leader; the majority elects one and serves; once healed, the old
//! leader follows the new term, and every server holds exactly the writes
//! the majority acknowledged. A client cut off with the old leader keeps
//! its task running throughout, then heartbeats again; cut off later from
//! only the server it uses, it heartbeats through another within its TTL.
//! How the containers are made and cut apart is in `common/netsplit.rs`.

mod common;

#[path = "../client/tests/docker_support/mod.rs"]
mod docker_support;

#[path = "common/netsplit.rs"]
mod netsplit;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{assert_never_restarted, blocked_job, job_id_set, DEADLINE};
use netsplit::{processes_in, report, Lab, Node};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// What a server answers once a request has waited for a leader in vain.
const NO_LEADER: &str = "No cluster leader";
/// What a leader answers for a write it took and could not commit.
const LEADERSHIP_LOST: &str = "leadership lost";
/// The task: busybox's `sleep`, which the test finds in `/proc` by this
/// exact command line.
const TASK: [&str; 2] = ["/bin/sleep", "3600"];
/// The bound on the minority refusing: Drover's leader lease is 500 ms
/// and its election timeout 300 to 600 ms (`server/src/raft/node.rs`).
const REFUSED_WITHIN: Duration = Duration::from_secs(5);
/// How long a request waits for a leader before `No cluster leader`
/// (Nomad's `RPCHoldTimeout`).
const HOLD: Duration = Duration::from_secs(5);

fn sleeper_job() -> Value {
    json!({"Job": {"ID": "sleeper", "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "Config": {"command": TASK[0], "args": [TASK[1]]}}]}]}})
}

/// `PUT /v1/jobs` of a job no node can run: the status, the body as text
/// and how long the answer took.
async fn register(node: &Node, id: &str) -> (StatusCode, String, Duration) {
    let started = Instant::now();
    let answer = node
        .call(Method::PUT, "/v1/jobs", Some(&blocked_job(id)))
        .await;
    let took = started.elapsed();
    let (status, _, body) = answer.unwrap_or_else(|| panic!("{} did not answer", node.name));
    let text = body
        .as_str()
        .map_or_else(|| body.to_string(), str::to_string);
    (status, text, took)
}

/// The jobs a server holds, read from its own state (`stale`).
async fn stale_jobs(node: &Node) -> Option<BTreeSet<String>> {
    node.get("/v1/jobs?stale=true")
        .await
        .map(|v| job_id_set(&v))
}

/// Three servers formed with `-bootstrap-expect 3` and each other's names
/// in `-retry-join`; returns them and the leader's index once all three
/// list the same three voters and name the same leader.
async fn form_three(lab: &Lab) -> (Vec<Node>, usize) {
    let names = ["s1", "s2", "s3"];
    let join: Vec<String> = names
        .iter()
        .flat_map(|n| ["-retry-join".to_string(), format!("{}:4647", lab.host(n))])
        .collect();
    let mut args = vec!["-server", "-bootstrap-expect", "3"];
    args.extend(join.iter().map(String::as_str));
    let mut servers = Vec::new();
    for name in names {
        servers.push(lab.agent(name, &args, "").await);
    }
    let voters: BTreeSet<String> = servers.iter().map(Node::rpc_addr).collect();
    let servers_ref = &servers;
    let voters_ref = &voters;
    let leader = lab
        .until("three voters and one leader", DEADLINE, || async move {
            let mut leaders = BTreeSet::new();
            for s in servers_ref {
                let peers = s.get("/v1/status/peers").await?;
                let peers: BTreeSet<String> = peers
                    .as_array()?
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect();
                if &peers != voters_ref {
                    return None;
                }
                leaders.insert(s.leader().await?);
            }
            if leaders.len() != 1 {
                return None;
            }
            let leader = leaders.into_iter().next()?;
            servers_ref.iter().position(|s| s.rpc_addr() == leader)
        })
        .await;
    (servers, leader)
}

/// The one leader that every node of `nodes` names, once they agree on
/// one other than `not`.
async fn agreed_leader(lab: &Lab, nodes: &[&Node], not: &str, what: &str) -> String {
    lab.until(what, DEADLINE, || async {
        let mut named = BTreeSet::new();
        for n in nodes {
            named.insert(n.leader().await?);
        }
        (named.len() == 1)
            .then(|| named.into_iter().next())
            .flatten()
            .filter(|l| !l.is_empty() && l != not)
    })
    .await
}

/// The client agent's node ID, once it has registered.
async fn node_id(lab: &Lab, client: &Node) -> String {
    lab.until("the client's node registered", DEADLINE, || async {
        let me = client.get("/v1/agent/self").await?;
        let id = me["stats"]["client"]["node_id"].as_str()?;
        (!id.is_empty()).then(|| id.to_string())
    })
    .await
}

/// Wait until `server` reads the client's node as `ready` from its own
/// state.
async fn node_ready_on(lab: &Lab, server: &Node, node: &str) {
    let path = format!("/v1/node/{node}?stale=true");
    lab.until(
        &format!("the client's node ready on {}", server.name),
        DEADLINE,
        || async { (server.get(&path).await?["Status"] == "ready").then_some(()) },
    )
    .await;
}

/// The sleeper's allocation once it runs on `node`, read through `server`.
async fn running_alloc(lab: &Lab, server: &Node, node: &str) -> Value {
    let id = lab
        .until("the sleeper running on the client", DEADLINE, || async {
            let list = server.get("/v1/job/sleeper/allocations").await?;
            let list = list.as_array()?;
            let a = list.first().filter(|_| list.len() == 1)?;
            (a["ClientStatus"] == "running" && a["NodeID"] == node)
                .then(|| a["ID"].as_str().map(str::to_string))
                .flatten()
        })
        .await;
    server
        .get(&format!("/v1/allocation/{id}"))
        .await
        .unwrap_or_else(|| panic!("allocation {id} on {}", server.name))
}

/// Go's `time.Duration` text (`1m2.5s`, `850ms`, `12µs`) as a duration.
fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut secs = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        secs += value
            * match &rest[..unit] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                "µs" | "us" => 1e-6,
                "ns" => 1e-9,
                _ => return None,
            };
        rest = &rest[unit..];
    }
    Some(Duration::from_secs_f64(secs))
}

/// How long ago the client last heartbeated, from its `/v1/agent/self`.
async fn since_heartbeat(client: &Node) -> Option<Duration> {
    let me = client.get("/v1/agent/self").await?;
    go_duration(me["stats"]["client"]["last_heartbeat"].as_str()?)
}

/// How long ago the client last heartbeated, and the TTL it was given.
async fn heartbeat_of(client: &Node) -> Option<(Duration, Duration)> {
    let me = client.get("/v1/agent/self").await?;
    let client = &me["stats"]["client"];
    Some((
        go_duration(client["last_heartbeat"].as_str()?)?,
        go_duration(client["heartbeat_ttl"].as_str()?)?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_refuses_writes_the_majority_serves_and_healing_converges() {
    const TEST: &str = "a_leader_cut_off_refuses_writes_the_majority_serves_and_healing_converges";
    let Some(lab) = Lab::start(TEST).await else {
        return;
    };
    let (servers, first) = form_three(&lab).await;
    if let Err(reason) = lab.firewall_usable(&servers[first]).await {
        netsplit::skip(TEST, &reason);
        return;
    }
    let raw_exec = "client {\n  options = {\n    \"driver.raw_exec.enable\" = \"1\"\n  }\n}\n";
    let addrs: Vec<String> = servers.iter().map(Node::http_addr).collect();
    let client = lab
        .agent(
            "client",
            &["-client", "-servers", &addrs.join(",")],
            raw_exec,
        )
        .await;
    let node = node_id(&lab, &client).await;
    node_ready_on(&lab, &servers[first], &node).await;

    // Before the partition: a task on the client, and a write everywhere.
    let (status, _, body) = servers[first]
        .call(Method::PUT, "/v1/jobs", Some(&sleeper_job()))
        .await
        .expect("the leader answers");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_never_restarted(&running_alloc(&lab, &servers[first], &node).await);
    let task = processes_in(&client, &TASK);
    assert_eq!(task.len(), 1, "one task process: {task:?}");
    let (status, body, _) = register(&servers[first], "before").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut acknowledged: BTreeSet<String> = ["before", "sleeper"].map(String::from).into();
    for s in &servers {
        lab.until("the first write on every server", DEADLINE, || async {
            (stale_jobs(s).await? == acknowledged).then_some(())
        })
        .await;
    }

    // Who leads now (on a loaded machine an election may have passed).
    let all: Vec<&Node> = servers.iter().collect();
    let leader = agreed_leader(&lab, &all, "", "one leader before the cut").await;
    let old = servers
        .iter()
        .position(|s| s.rpc_addr() == leader)
        .expect("the leader is one of the three");
    let minority = &servers[old];
    let majority: Vec<&Node> = (0..3).filter(|i| *i != old).map(|i| &servers[i]).collect();

    // Cut the client, then the leader, off from both followers; the three
    // watches below start at once and time from the leader's cut.
    lab.cut(&[&client], &majority).await;
    lab.cut(&[minority], &majority).await;
    let cut_at = Instant::now();
    let old_leader = minority.rpc_addr();
    let (in_flight, named_none, (new_leader, elected)) = tokio::join!(
        // A write the old leader takes now cannot reach a quorum: it fails
        // once the lease is gone, rather than hanging.
        register(minority, "in-flight-on-minority"),
        // It stops naming itself the leader: Nomad's `Status.Leader` reads
        // hashicorp/raft, whose leader has stepped down by then.
        async {
            lab.until(
                "the cut-off leader to name no leader",
                REFUSED_WITHIN,
                || async { minority.leader().await?.is_empty().then_some(()) },
            )
            .await;
            cut_at.elapsed()
        },
        // The majority elects one of its own.
        async {
            let leader =
                agreed_leader(&lab, &majority, &old_leader, "a leader of the majority").await;
            (leader, cut_at.elapsed())
        },
    );
    let (status, body, took) = in_flight;
    report(&format!(
        "partition: a write on the cut-off leader answered {status} in {took:?}: {body}"
    ));
    report(&format!(
        "partition: the cut-off leader named no leader {named_none:?} after the cut"
    ));
    report(&format!(
        "partition: the majority elected {new_leader} {elected:?} after the cut"
    ));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    // Taken while the lease held, it fails as leadership lost; taken once
    // the lease had passed (a slow machine), it waits for a leader first.
    if body.contains(LEADERSHIP_LOST) {
        assert!(took < REFUSED_WITHIN, "answered after {took:?}");
    } else {
        assert_eq!(body, NO_LEADER);
        assert!(
            took < HOLD + Duration::from_secs(3),
            "answered after {took:?}"
        );
    }
    let (status, _, health) = minority
        .call(Method::GET, "/v1/agent/health", None)
        .await
        .expect("the cut-off leader answers");
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{health}");
    // Its own account of its Raft state agrees: a hashicorp/raft leader
    // has stepped down by then.
    let me = minority.get("/v1/agent/self").await.expect("agent self");
    assert_ne!(me["stats"]["raft"]["state"], "Leader", "{me}");
    assert_eq!(me["stats"]["nomad"]["leader"], "false", "{me}");
    let conf = minority
        .get("/v1/operator/raft/configuration?stale=true")
        .await
        .expect("the cut-off leader's Raft configuration");
    let flagged: Vec<&Value> = conf["Servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Leader"] == true)
        .collect();
    assert!(flagged.is_empty(), "flagged the leader: {conf}");
    let new = servers
        .iter()
        .position(|s| s.rpc_addr() == new_leader)
        .filter(|i| *i != old)
        .unwrap_or_else(|| panic!("{new_leader} is not in the majority"));
    let other = majority
        .iter()
        .find(|s| s.rpc_addr() != new_leader)
        .expect("two servers in the majority");

    // While a write on the minority waits for a leader in vain, the
    // majority takes writes, on its leader and forwarded by its follower.
    let (held, ()) = tokio::join!(register(minority, "held-on-minority"), async {
        for (via, id) in [(&servers[new], "majority-1"), (*other, "majority-2")] {
            let (status, body, _) = register(via, id).await;
            assert_eq!(status, StatusCode::OK, "{id} via {}: {body}", via.name);
        }
    });
    let (status, body, took) = held;
    report(&format!(
        "partition: a write held on the minority answered {status} after {took:?}: {body}"
    ));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body, NO_LEADER);
    assert!(
        took >= HOLD - Duration::from_millis(500) && took < HOLD + Duration::from_secs(3),
        "answered after {took:?}"
    );
    acknowledged.extend(["majority-1", "majority-2"].map(String::from));
    for s in &majority {
        lab.until(
            "the majority's writes on both its servers",
            DEADLINE,
            || async { (stale_jobs(s).await? == acknowledged).then_some(()) },
        )
        .await;
        // The new leader keeps the client's node: it gave it the failover
        // TTL on taking office.
        node_ready_on(&lab, s, &node).await;
    }

    // The minority still serves stale reads of what it had, and says it
    // knows no leader.
    let (status, headers, jobs) = minority
        .call(Method::GET, "/v1/jobs?stale=true", None)
        .await
        .expect("the cut-off leader answers");
    assert_eq!(status, StatusCode::OK, "{jobs}");
    assert_eq!(
        headers
            .get("x-nomad-knownleader")
            .and_then(|v| v.to_str().ok()),
        Some("false")
    );
    let before: BTreeSet<String> = ["before", "sleeper"].map(String::from).into();
    assert_eq!(job_id_set(&jobs), before);
    assert_eq!(processes_in(&client, &TASK), task, "the task ran on");

    // Heal. The old leader follows the new term.
    lab.heal().await;
    let healed_at = Instant::now();
    let leader = agreed_leader(&lab, &all, &old_leader, "one new leader named by all three").await;
    report(&format!(
        "heal: all three named {leader} {:?} after the heal",
        healed_at.elapsed()
    ));
    let me = minority.get("/v1/agent/self").await.expect("agent self");
    assert_eq!(me["stats"]["raft"]["state"], "Follower", "{me}");

    // Every server holds exactly what the majority acknowledged: the
    // write the old leader took alone was discarded with its log.
    for s in &servers {
        lab.until(
            "every acknowledged write on every server",
            DEADLINE,
            || async { (stale_jobs(s).await? == acknowledged).then_some(()) },
        )
        .await;
    }
    report(&format!(
        "heal: every server held the {} acknowledged jobs {:?} after the heal",
        acknowledged.len(),
        healed_at.elapsed()
    ));
    let (status, body, _) = register(minority, "after-heal").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    acknowledged.insert("after-heal".to_string());
    for s in &servers {
        lab.until(
            "the write after the heal on every server",
            DEADLINE,
            || async { (stale_jobs(s).await? == acknowledged).then_some(()) },
        )
        .await;
    }

    // The client heartbeats again, its node is ready everywhere, and its
    // task is the process it was, never restarted.
    lab.until("a heartbeat after the heal", DEADLINE, || async {
        (since_heartbeat(&client).await? < healed_at.elapsed()).then_some(())
    })
    .await;
    report(&format!(
        "heal: the client heartbeated {:?} after the heal",
        healed_at.elapsed()
    ));
    for s in &servers {
        node_ready_on(&lab, s, &node).await;
    }
    assert_never_restarted(&running_alloc(&lab, &servers[new], &node).await);
    assert_eq!(processes_in(&client, &TASK), task, "the same task process");

    // The client cut off from the server it uses, and from no other: its
    // calls there meet silence (dropped, not refused), and it heartbeats
    // through another server before its TTL has passed, so the servers'
    // 10 s grace is never needed; its task runs on.
    let in_use = client
        .get("/v1/agent/servers")
        .await
        .and_then(|v| v[0].as_str().map(str::to_string))
        .expect("the client's servers");
    let silent = servers
        .iter()
        .find(|s| s.http_addr() == in_use)
        .unwrap_or_else(|| panic!("the client uses {in_use}, not a server"));
    lab.cut(&[&client], &[silent]).await;
    let cut_at = Instant::now();
    // When the last heartbeat before the cut was, and the TTL it was given.
    let mut before: Option<(Instant, Duration)> = None;
    let (through, gap) = loop {
        if let Some((ago, ttl)) = heartbeat_of(&client).await {
            let at = Instant::now() - ago;
            match before {
                // Heartbeats are seconds apart; `at` wavers by milliseconds.
                Some((last, _)) if at > cut_at && at > last + Duration::from_millis(500) => {
                    let list = client.get("/v1/agent/servers").await;
                    let through = list.and_then(|v| v[0].as_str().map(str::to_string));
                    break (through, at - last);
                }
                _ => before = Some((at, ttl)),
            }
        }
        assert!(
            cut_at.elapsed() < DEADLINE,
            "no heartbeat {:?} after cutting the client off from {}",
            cut_at.elapsed(),
            silent.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ttl = before.map(|(_, ttl)| ttl).unwrap_or_default();
    report(&format!(
        "client cut off from {}: heartbeated through {through:?} {:?} after the cut, \
         {gap:?} after the heartbeat before it (TTL {ttl:?})",
        silent.name,
        cut_at.elapsed()
    ));
    assert_ne!(through.as_deref(), Some(in_use.as_str()));
    assert!(
        gap < ttl,
        "{gap:?} between heartbeats, TTL {ttl:?}\n{}",
        lab.logs()
    );
    for s in servers.iter().filter(|s| s.name != silent.name) {
        node_ready_on(&lab, s, &node).await;
    }
    assert_eq!(processes_in(&client, &TASK), task, "the same task process");
}
