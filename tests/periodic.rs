//! Periodic jobs against the real binary: a seconds cron launches a child
//! each period and the children run; `prohibit_overlap` holds a launch back
//! while a child runs; a forced launch answers as Nomad's; a stopped job
//! launches no more; and neither a server killed and restarted on its data
//! directory nor a new leader after the old one died launches a period
//! twice.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::cluster::{converged, form_three, Server};
use common::{free_port, submit, Agent};

/// A batch job launched by `periodic`, its task running `sh -c script`.
fn periodic_job(id: &str, periodic: Value, script: &str) -> Value {
    json!({"ID": id, "Type": "batch", "Datacenters": ["dc1"], "Periodic": periodic,
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/sh", "args": ["-c", script]}}]}]})
}

/// The children of `parent` in a job list: ID → the job's stub.
fn children(list: &Value, parent: &str) -> Vec<Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["ParentID"] == parent)
        .cloned()
        .collect()
}

/// Unix seconds of a child `<parent>/periodic-<unix>`.
fn launch_secs(child: &Value) -> u64 {
    let id = child["ID"].as_str().unwrap();
    let (_, secs) = id.rsplit_once("/periodic-").expect(id);
    secs.parse().expect(id)
}

#[tokio::test]
async fn a_seconds_cron_launches_children_that_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        periodic_job(
            "tick",
            json!({"Spec": "*/2 * * * * * *", "TimeZone": "Europe/Paris"}),
            "echo tick",
        ),
    )
    .await;
    let (_, parent, _) = a.get("/v1/job/tick").await;
    assert_eq!(parent["Periodic"]["Enabled"], true, "{parent}");
    assert_eq!(parent["Periodic"]["SpecType"], "cron", "{parent}");
    // A plan tells when it would launch next: an even second, in Paris.
    let r = a
        .http
        .put(a.url("/v1/job/tick/plan"))
        .json(&json!({"Job": parent}))
        .send()
        .await
        .unwrap();
    let plan: Value = r.json().await.unwrap();
    let next = plan["NextPeriodicLaunch"].as_str().unwrap_or_default();
    assert!(next.starts_with("20"), "{plan}");
    let (_, secs) = next.rsplit_once(':').unwrap();
    assert_eq!(secs[..2].parse::<u32>().unwrap() % 2, 0, "{plan}");

    // Three launches, on even seconds (two apart, unless a loaded machine
    // woke the leader late and a period passed unlaunched).
    let list = a
        .until("/v1/jobs?prefix=tick/", "three periodic children", |l| {
            children(l, "tick").len() >= 3
        })
        .await;
    let kids = children(&list, "tick");
    let secs: Vec<u64> = kids.iter().map(launch_secs).collect();
    for s in &secs {
        assert_eq!(s % 2, 0, "{secs:?}");
    }
    for w in secs.windows(2) {
        assert!(w[1] > w[0] && (w[1] - w[0]) % 2 == 0, "{secs:?}");
    }
    let mut late_ms = Vec::new();
    for k in &kids {
        assert_eq!(k["Type"], "batch", "{k}");
        assert_eq!(k["Periodic"], false, "{k}");
        // How long after its scheduled second each child was registered.
        let (_, job, _) = a
            .get(&format!("/v1/job/{}", k["ID"].as_str().unwrap()))
            .await;
        let submit = job["SubmitTime"].as_i64().unwrap();
        let scheduled = i64::try_from(launch_secs(k)).unwrap() * 1_000_000_000;
        assert!(submit >= scheduled, "{job}");
        late_ms.push((submit - scheduled) / 1_000_000);
    }
    eprintln!("periodic launches registered {late_ms:?} ms after their second");
    // They run to completion, and the parent counts them.
    let first = kids[0]["ID"].as_str().unwrap().to_string();
    common::alloc_when(&a, &first, "the first child completed", |al| {
        al["ClientStatus"] == "complete"
    })
    .await;
    a.until("/v1/job/tick/summary", "two children dead", |s| {
        s["Children"]["Dead"].as_u64() >= Some(2)
    })
    .await;

    // A forced launch answers with its evaluation and adds a child now.
    let r = a
        .http
        .post(a.url("/v1/job/tick/periodic/force"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    let forced: Value = serde_json::from_str(&text).unwrap();
    let index = forced["Index"].as_u64().unwrap();
    assert!(index > 0, "{forced}");
    assert_eq!(forced["EvalCreateIndex"].as_u64(), Some(index), "{forced}");
    let eval_id = forced["EvalID"].as_str().unwrap();
    let (status, eval, _) = a.get(&format!("/v1/evaluation/{eval_id}")).await;
    assert_eq!(status, StatusCode::OK, "{eval}");
    assert_eq!(eval["TriggeredBy"], "periodic-job", "{eval}");
    assert!(
        eval["JobID"]
            .as_str()
            .unwrap()
            .starts_with("tick/periodic-"),
        "{eval}"
    );

    // Stopped, it launches no more: no child is scheduled after the stop.
    // Measured against a second periodic job: once that one has launched
    // twice after the stop, the stopped one has had two periods to launch
    // in. (A launch already on its way at the stop is for a second before
    // it.)
    let r = a.http.delete(a.url("/v1/job/tick")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stopped_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    submit(
        &a,
        periodic_job("tock", json!({"Spec": "*/2 * * * * * *"}), "true"),
    )
    .await;
    a.until("/v1/jobs?prefix=tock/", "two launches of tock", |l| {
        children(l, "tock").len() >= 2
    })
    .await;
    let (_, list, _) = a.get("/v1/jobs?prefix=tick/").await;
    let after: Vec<u64> = children(&list, "tick")
        .iter()
        .map(launch_secs)
        .filter(|s| *s > stopped_at)
        .collect();
    assert!(after.is_empty(), "launched after the stop: {after:?}");
}

#[tokio::test]
async fn prohibit_overlap_waits_for_the_running_child() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    // Every second, but each child runs for 4 seconds.
    submit(
        &a,
        periodic_job(
            "slow",
            json!({"Spec": "* * * * * * *", "ProhibitOverlap": true}),
            "sleep 4",
        ),
    )
    .await;
    let list = a
        .until("/v1/jobs?prefix=slow/", "two periodic children", |l| {
            children(l, "slow").len() >= 2
        })
        .await;
    let kids = children(&list, "slow");
    let (first, second) = (launch_secs(&kids[0]), launch_secs(&kids[1]));
    // Without the prohibition the second launch would come a second after
    // the first; it waits until the first child's 4-second task ended.
    assert!(second - first >= 4, "launches at {first} and {second}");
    let (_, allocs, _) = a
        .get(&format!(
            "/v1/job/{}/allocations",
            kids[0]["ID"].as_str().unwrap()
        ))
        .await;
    assert_eq!(allocs[0]["ClientStatus"], "complete", "{allocs}");
    // At no time were two children live: each launched after the one
    // before it finished.
    let (_, summary, _) = a.get("/v1/job/slow/summary").await;
    let c = &summary["Children"];
    let live = c["Pending"].as_u64().unwrap() + c["Running"].as_u64().unwrap();
    assert!(live <= 1, "{summary}");
}

/// Wait until a single server answers with itself as leader.
async fn wait_leader(s: &Server) {
    s.until("/v1/status/leader", "a leader", |st, v| {
        st == StatusCode::OK && v.as_str().is_some_and(|l| !l.is_empty())
    })
    .await;
}

async fn jobs(s: &Server) -> Value {
    s.get("/v1/jobs?prefix=cron/")
        .await
        .map(|(_, v)| v)
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_restarted_server_launches_no_period_twice() {
    let dir = tempfile::tempdir().unwrap();
    let args = vec!["-bootstrap-expect".to_string(), "1".to_string()];
    let mut s = Server::start(dir.path(), "127.0.0.171", free_port(), &args, "");
    wait_leader(&s).await;
    let job = json!({"Job": periodic_job("cron", json!({"Spec": "*/2 * * * * * *"}), "true")});
    let (status, _, body) = s.call(reqwest::Method::PUT, "/v1/jobs", Some(&job)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.until("/v1/jobs?prefix=cron/", "two children", |_, l| {
        children(l, "cron").len() >= 2
    })
    .await;

    // Crash (SIGKILL) and start again on the same data directory.
    s.restart();
    wait_leader(&s).await;
    let before: BTreeSet<u64> = children(&jobs(&s).await, "cron")
        .iter()
        .map(launch_secs)
        .collect();
    let latest = *before.last().unwrap();
    s.until(
        "/v1/jobs?prefix=cron/",
        "two launches after the restart",
        |_, l| {
            children(l, "cron")
                .iter()
                .filter(|c| launch_secs(c) > latest)
                .count()
                >= 2
        },
    )
    .await;

    // No period was launched a second time, by the new term or by the
    // catch-up launch.
    assert_each_launched_once(&s).await;
}

/// Every child of `cron` as `s` serves it (stale: any server answers) was
/// registered once: version 0, created and last changed by the same
/// write, and no two for the same second.
async fn assert_each_launched_once(s: &Server) {
    let list = jobs(s).await;
    let mut seen = BTreeSet::new();
    for k in children(&list, "cron") {
        let id = k["ID"].as_str().unwrap();
        let (_, job) = s.get(&format!("/v1/job/{id}?stale=true")).await.unwrap();
        assert_eq!(job["Version"], 0, "{job}");
        assert_eq!(job["CreateIndex"], job["JobModifyIndex"], "{job}");
        assert!(seen.insert(launch_secs(&k)), "{id} twice");
    }
}

#[tokio::test]
async fn a_new_leader_resumes_without_launching_a_period_twice() {
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<std::path::PathBuf> = (0..3).map(|i| root.path().join(format!("s{i}"))).collect();
    let ips = ["127.0.0.172", "127.0.0.173", "127.0.0.174"];
    let (mut servers, voters, leader) = form_three(&dirs, &ips, "").await;
    let job = json!({"Job": periodic_job("cron", json!({"Spec": "*/2 * * * * * *"}), "true")});
    let (status, _, body) = servers[leader]
        .call(reqwest::Method::PUT, "/v1/jobs", Some(&job))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    servers[leader]
        .until("/v1/jobs?prefix=cron/", "two children", |_, l| {
            children(l, "cron").len() >= 2
        })
        .await;

    // The leader dies; another takes over its duties.
    servers[leader].kill();
    let rest: Vec<&Server> = servers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, s)| s)
        .collect();
    let new = rest[converged(&rest, &voters).await];
    let latest = children(&jobs(new).await, "cron")
        .iter()
        .map(launch_secs)
        .max()
        .unwrap();
    new.until(
        "/v1/jobs?prefix=cron/",
        "two launches by the new leader",
        |_, l| {
            children(l, "cron")
                .iter()
                .filter(|c| launch_secs(c) > latest)
                .count()
                >= 2
        },
    )
    .await;
    assert_each_launched_once(new).await;
}
