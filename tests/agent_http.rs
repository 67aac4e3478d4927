//! The real `drover agent` binary on loopback: the HTTP API end to end.
//! Each agent gets its own data directory and free ports; a guard kills it.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::{read_events, Agent, DEADLINE};

fn ids(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

fn index(h: &reqwest::header::HeaderMap) -> u64 {
    h["X-Nomad-Index"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn register_120_jobs_then_list_page_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    for i in 0..120 {
        let r = a
            .register(&format!("job-{i:03}"), if i % 4 == 0 { "a" } else { "b" })
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let (_, v, _) = a.get("/v1/jobs?prefix=job-01").await;
    assert_eq!(
        ids(&v, "ID"),
        (10..20).map(|i| format!("job-{i:03}")).collect::<Vec<_>>()
    );

    // The scheduler adds blocked evals while we read (there are no nodes), so
    // page the registration evals: a set that no longer changes.
    let registered = "filter=TriggeredBy%20%3D%3D%20%22job-register%22";
    let (_, all, _) = a.get(&format!("/v1/evaluations?{registered}")).await;
    let all = ids(&all, "ID");
    assert_eq!(all.len(), 120);
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let (st, page, h) = a
            .get(&format!(
                "/v1/evaluations?{registered}&per_page=7&next_token={token}"
            ))
            .await;
        assert_eq!(st, StatusCode::OK);
        let page = ids(&page, "ID");
        match h.get("X-Nomad-NextToken") {
            Some(t) => {
                assert_eq!(page.len(), 7);
                token = t.to_str().unwrap().to_string();
            }
            None => {
                paged.extend(page);
                break;
            }
        }
        paged.extend(page);
    }
    assert_eq!(
        paged, all,
        "each evaluation exactly once, in the unpaginated order"
    );

    let (_, team_a, _) = a.get("/v1/jobs?filter=Meta.team%20%3D%3D%20%22a%22").await;
    assert_eq!(
        ids(&team_a, "ID"),
        (0..120)
            .step_by(4)
            .map(|i| format!("job-{i:03}"))
            .collect::<Vec<_>>()
    );
    let (st, _, _) = a.get("/v1/jobs?filter=Meta.team%20%3D%3D").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn blocking_queries_wake_for_their_keys_and_wait_out_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // No client: nothing but the writes below may move an index.
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    a.register("web", "a").await.unwrap();
    a.register("db", "a").await.unwrap();
    // Let the scheduler finish with both jobs (they end up blocked: there
    // are no nodes), so only the register below can move the indexes.
    a.wait_scheduled(&["web", "db"]).await;
    let (_, _, h) = a.get("/v1/jobs").await;
    let (_, _, dbh) = a.get("/v1/job/db").await;
    let (jobs_idx, db_idx) = (index(&h), index(&dbh));
    let table = a
        .http
        .get(a.url(&format!("/v1/jobs?index={jobs_idx}&wait=30s")))
        .send();
    let other = a
        .http
        .get(a.url(&format!("/v1/job/db?index={db_idx}&wait=1s")))
        .send();
    let write = async {
        a.wait_parked(2).await;
        let r = a.register("api", "b").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        Instant::now()
    };
    let started = Instant::now();
    let (table, other, written) = tokio::join!(
        async { (table.await.unwrap(), Instant::now()) },
        other,
        write
    );
    let (table, woke) = table;
    assert!(index(table.headers()) > jobs_idx);
    // Printed, not asserted: timing on shared machines is a benchmark's job.
    eprintln!(
        "jobs-table watcher woke {:?} after the register returned",
        woke.saturating_duration_since(written)
    );
    assert!(
        woke.duration_since(started) < Duration::from_secs(10),
        "woke by the write, long before its 30s wait"
    );
    let other = other.unwrap();
    assert_eq!(index(other.headers()), db_idx, "job db never changed");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the db watcher waited its full wait"
    );
}

#[tokio::test]
async fn the_event_stream_replays_every_job_registered_from_index_1() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    for i in 0..5 {
        a.register(&format!("job-{i}"), "a").await.unwrap();
    }
    let mut r = a
        .http
        .get(a.url("/v1/event/stream?index=1&topic=Job"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut seen = Vec::new();
    read_events(&mut r, "5 JobRegistered events", |e| {
        if e["Type"] == "JobRegistered" {
            seen.push(e["Key"].as_str().unwrap().to_string());
        }
        seen.len() >= 5
    })
    .await;
    assert_eq!(seen, (0..5).map(|i| format!("job-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn kill_9_during_writes_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(dir.path()).await;
    // Four writers stream registrations; the agent is SIGKILLed while
    // requests are in flight. Every write that got a 200 must survive.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, url, acked) = (a.http.clone(), a.url("/v1/jobs"), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("w{w}-job-{i:04}");
                let job = json!({"Job": {"ID": id, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}});
                match http.put(&url).json(&job).send().await {
                    Ok(r) if r.status() == StatusCode::OK => acked.lock().unwrap().push(id),
                    _ => return,
                }
            }
        }));
    }
    let started = Instant::now();
    while acked.lock().unwrap().len() < 150 {
        assert!(
            started.elapsed() < DEADLINE,
            "writes are not being acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    drop(a);
    let a = Agent::start(dir.path()).await;
    for id in &acked {
        let (st, job, _) = a.get(&format!("/v1/job/{id}")).await;
        assert_eq!(
            st,
            StatusCode::OK,
            "acknowledged job {id} lost after kill -9"
        );
        assert_eq!(job["ID"], id.as_str());
    }
    eprintln!("{} acknowledged writes all survived kill -9", acked.len());
}

#[tokio::test]
async fn sigterm_and_sigint_shut_the_agent_down_cleanly() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Agent::start(dir.path()).await;
        a.register("web", "a").await.unwrap();
        // A parked blocking query must not hold the shutdown up.
        let parked = a.http.get(a.url("/v1/job/web?index=999999&wait=5m")).send();
        let parked = tokio::spawn(parked);
        // Signal only once the query is parked on the agent.
        a.wait_parked(1).await;
        let status = Command::new("kill")
            .arg(signal)
            .arg(a.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let exit = loop {
            if let Some(s) = a.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "agent still running {DEADLINE:?} after {signal}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(exit.success(), "{signal}: exit status {exit}");
        let r = parked.await.unwrap();
        assert!(
            r.is_ok_and(|r| r.status() == StatusCode::OK),
            "the parked query was answered on shutdown"
        );
    }
}

/// The memory gauges read the allocator the binary ships with (jemalloc):
/// live bytes are reported, never more than the allocator holds, and the
/// kernel's resident set is there beside them.
#[tokio::test]
async fn metrics_report_the_processs_memory() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = a.metric("drover_runtime_alloc_bytes").await;
    let resident = a.metric("drover_runtime_resident_bytes").await;
    let rss = a.metric("drover_runtime_rss_bytes").await;
    // An agent with a server, a client and their tables holds megabytes.
    assert!(alloc > 1e6, "alloc {alloc}");
    assert!(alloc <= resident, "alloc {alloc} > resident {resident}");
    assert!(rss > 1e6, "rss {rss}");
}
