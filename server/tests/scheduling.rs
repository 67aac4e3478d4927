//! The leader's scheduling loop end to end: a job registered over HTTP is
//! evaluated, planned, applied and shows up as allocations on the nodes.

mod common;

use common::{until, Srv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn node(srv: &Srv, id: &str, cpu: i64, mem: i64) {
    srv.register_sized_node(id, cpu, mem, &[]).await;
}

fn job(id: &str, count: i64, cpu: i64) -> Value {
    json!({"Job": {"ID": id, "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": count,
        "Tasks": [{"Name": "t", "Driver": "raw_exec", "Resources": {"CPU": cpu, "MemoryMB": 64}}]}]}})
}

#[tokio::test]
async fn a_registered_job_is_scheduled_onto_nodes() {
    let srv = Srv::start_scheduling().await;
    node(&srv, "n1", 4000, 4096).await;
    node(&srv, "n2", 4000, 4096).await;
    let (st, resp, text) = srv.send(Method::PUT, "/v1/jobs", &job("web", 3, 500)).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let allocs = until(&srv, "/v1/job/web/allocations", "3 allocations", |v| {
        v.as_array().is_some_and(|a| a.len() == 3)
    })
    .await;
    for a in allocs.as_array().unwrap() {
        assert_eq!(a["DesiredStatus"], "run");
        assert!(["n1", "n2"].contains(&a["NodeID"].as_str().unwrap()));
    }
    let eval_path = format!("/v1/evaluation/{}", resp["EvalID"].as_str().unwrap());
    until(&srv, &eval_path, "eval complete", |e| {
        e["Status"] == "complete"
    })
    .await;
    let (_, job) = srv.get("/v1/job/web").await;
    assert_eq!(job["Status"], "running");
    srv.s.shutdown().await;
}

#[tokio::test]
async fn an_infeasible_job_completes_its_eval_with_failed_placements() {
    let srv = Srv::start_scheduling().await;
    node(&srv, "n1", 1000, 4096).await;
    let (_, resp, _) = srv
        .send(Method::PUT, "/v1/jobs", &job("huge", 1, 5000))
        .await;
    let eval_path = format!("/v1/evaluation/{}", resp["EvalID"].as_str().unwrap());
    let eval = until(&srv, &eval_path, "eval complete", |e| {
        e["Status"] == "complete"
    })
    .await;
    assert_eq!(eval["FailedTGAllocs"]["g"]["DimensionExhausted"]["cpu"], 1);
    assert_eq!(eval["QueuedAllocations"]["g"], 1);
    let (_, allocs) = srv.get("/v1/job/huge/allocations").await;
    assert_eq!(allocs, json!([]));
    let (_, blocked) = srv
        .get(&format!(
            "/v1/evaluation/{}",
            eval["BlockedEval"].as_str().unwrap()
        ))
        .await;
    assert_eq!(blocked["Status"], "blocked");
    let (_, job) = srv.get("/v1/job/huge").await;
    assert_eq!(
        job["Status"], "pending",
        "a blocked eval keeps the job pending, as in Nomad"
    );
    srv.s.shutdown().await;
}

#[tokio::test]
async fn concurrent_jobs_never_overcommit_a_node() {
    let srv = Srv::start_scheduling().await;
    node(&srv, "n1", 2000, 8192).await;
    // Ten jobs of 300 MHz race for 2000 MHz: at most six fit.
    let mut evals = Vec::new();
    for i in 0..10 {
        let (_, resp, _) = srv
            .send(Method::PUT, "/v1/jobs", &job(&format!("j{i}"), 1, 300))
            .await;
        evals.push(resp["EvalID"].as_str().unwrap().to_string());
    }
    for e in &evals {
        until(&srv, &format!("/v1/evaluation/{e}"), "eval complete", |v| {
            v["Status"] == "complete"
        })
        .await;
    }
    let (_, allocs) = srv.get("/v1/node/n1/allocations").await;
    let cpu: i64 = allocs
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["AllocatedResources"]["Tasks"]["t"]["Cpu"]["CpuShares"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert!(cpu <= 2000, "node over-committed: {cpu} MHz");
    assert_eq!(allocs.as_array().unwrap().len(), 6);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn a_new_node_with_capacity_unblocks_a_blocked_job() {
    let srv = Srv::start_scheduling().await;
    node(&srv, "small", 1000, 4096).await;
    let (_, resp, _) = srv
        .send(Method::PUT, "/v1/jobs", &job("big", 1, 3000))
        .await;
    let eval_path = format!("/v1/evaluation/{}", resp["EvalID"].as_str().unwrap());
    let eval = until(&srv, &eval_path, "first eval complete", |e| {
        e["Status"] == "complete"
    })
    .await;
    let blocked_path = format!("/v1/evaluation/{}", eval["BlockedEval"].as_str().unwrap());
    // Re-submitting the job while it is blocked leaves one blocked eval.
    let (_, again, _) = srv
        .send(Method::PUT, "/v1/job/big/evaluate", &json!({}))
        .await;
    until(
        &srv,
        &format!("/v1/evaluation/{}", again["EvalID"].as_str().unwrap()),
        "second eval complete",
        |e| e["Status"] == "complete",
    )
    .await;
    let blocked_now = until(&srv, "/v1/job/big/evaluations", "one blocked eval", |v| {
        v.as_array()
            .is_some_and(|evals| evals.iter().filter(|e| e["Status"] == "blocked").count() == 1)
    })
    .await;
    assert!(
        blocked_now
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["Status"] == "canceled"),
        "the older blocked eval was superseded"
    );

    node(&srv, "big-node", 8000, 8192).await;
    let allocs = until(
        &srv,
        "/v1/job/big/allocations",
        "the job placed on the new node",
        |v| v.as_array().is_some_and(|a| a.len() == 1),
    )
    .await;
    assert_eq!(allocs[0]["NodeID"], "big-node");
    until(
        &srv,
        "/v1/job/big/evaluations",
        "no blocked eval left",
        |v| {
            v.as_array()
                .is_some_and(|evals| evals.iter().all(|e| e["Status"] != "blocked"))
        },
    )
    .await;
    let (_, first_blocked) = srv.get(&blocked_path).await;
    assert_ne!(first_blocked["Status"], "blocked");
    let (_, job) = srv.get("/v1/job/big").await;
    assert_eq!(job["Status"], "running");
    srv.s.shutdown().await;
}

/// Wait until `pred` holds of the leader's counters; fail with `what`.
async fn until_stats(
    srv: &Srv,
    what: &str,
    pred: impl Fn(&drover_server::leader::SchedulerStats) -> bool,
) {
    let started = std::time::Instant::now();
    while !pred(&srv.s.scheduler) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "timed out waiting for {what}: {:?}",
            srv.s.scheduler
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_cannot_unblock_anything_examine_no_blocked_eval() {
    use futures_util::stream::{self, StreamExt};
    use std::sync::atomic::Ordering::Relaxed;
    const BLOCKED: usize = 2000;
    let srv = Srv::start_scheduling().await;
    node(&srv, "n1", 4000, 4096).await;
    // Jobs that can only run in datacenter "nowhere": each leaves a blocked eval.
    stream::iter(0..BLOCKED)
        .for_each_concurrent(32, |i| {
            let srv = &srv;
            async move {
                let mut body = job(&format!("nowhere-{i}"), 1, 100);
                body["Job"]["Datacenters"] = json!(["nowhere"]);
                let (st, text) = srv.put("/v1/jobs", &body).await;
                assert_eq!(st, StatusCode::OK, "{text}");
            }
        })
        .await;
    until_stats(&srv, "every job blocked", |s| {
        s.blocked.load(Relaxed) == BLOCKED as u64
    })
    .await;
    let before = srv.s.scheduler.blocked_examined.load(Relaxed);
    assert!(
        before <= 2 * BLOCKED as u64,
        "each newly blocked eval is examined about once: {before}"
    );

    // 200 writes that cannot unblock them: dc1 nodes registered and
    // re-registered, then dc1 jobs placed on them.
    for i in 0..50 {
        node(&srv, &format!("m{i}"), 4000, 4096).await;
        node(&srv, &format!("m{i}"), 8000, 8192).await;
    }
    let placements = srv.s.scheduler.placements.load(Relaxed);
    for i in 0..100 {
        let (st, text) = srv.put("/v1/jobs", &job(&format!("dc1-{i}"), 1, 100)).await;
        assert_eq!(st, StatusCode::OK, "{text}");
    }
    until_stats(&srv, "the dc1 jobs placed", |s| {
        s.placements.load(Relaxed) >= placements + 100
    })
    .await;
    let examined = srv.s.scheduler.blocked_examined.load(Relaxed) - before;
    assert_eq!(
        examined, 0,
        "200 writes in dc1 examined {examined} of {BLOCKED} blocked evals in \"nowhere\""
    );
    assert_eq!(srv.s.scheduler.blocked.load(Relaxed), BLOCKED as u64);
    srv.s.shutdown().await;
}
