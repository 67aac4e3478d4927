//! The /v1 read API over real HTTP on 127.0.0.1, against a one-server Raft
//! on real sled files. State is written through Raft directly here; the
//! job-register endpoint has its own tests.

use std::time::{Duration, Instant};

use drover_api::{
    AllocClientStatus, Allocation, EvalStatus, Evaluation, Job, JobType, Task, TaskGroup,
};
use drover_server::agent::{start, RunningServer, ServerOptions};
use drover_state::command::{AllocClientState, AllocClientUpdate, ApplyPlanResults, JobRegister};
use drover_state::Command;
use reqwest::StatusCode;
use tempfile::TempDir;

const T0: i64 = 1_700_000_000_000_000_000;

struct Srv {
    _dir: TempDir,
    s: RunningServer,
    http: reqwest::Client,
}

impl Srv {
    /// A server without scheduler workers: these tests write evaluations
    /// directly and read them back unchanged.
    async fn start() -> Srv {
        Self::start_with(|o| o.num_schedulers = 0).await
    }

    async fn start_with(f: impl FnOnce(&mut ServerOptions)) -> Srv {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ServerOptions::local(dir.path());
        f(&mut opts);
        let s = start(opts).await.expect("server starts");
        Srv {
            _dir: dir,
            s,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.s.http_addr, path)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    async fn json(&self, path: &str) -> (serde_json::Value, u64) {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let index = index_of(&r);
        (r.json().await.unwrap(), index)
    }

    async fn write(&self, cmd: Command) -> u64 {
        let out = self.s.raft.write(cmd).await.expect("write");
        assert_eq!(out.result, Ok(()));
        out.index
    }

    async fn register(&self, id: &str, team: &str) -> u64 {
        let mut j = job(id);
        j.meta.insert("team".into(), team.into());
        let eval = Evaluation {
            id: format!("eval-{id}"),
            namespace: "default".into(),
            job_id: id.into(),
            eval_type: "service".into(),
            status: EvalStatus::Pending,
            ..Default::default()
        };
        self.write(Command::JobRegister(JobRegister {
            job: j,
            eval: Some(eval),
            enforce_index: None,
            now: T0,
        }))
        .await
    }
}

fn index_of(r: &reqwest::Response) -> u64 {
    r.headers()["X-Nomad-Index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn job(id: &str) -> Job {
    Job {
        namespace: "default".into(),
        id: id.into(),
        name: id.into(),
        job_type: JobType::Service,
        priority: 50,
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "g".into(),
            count: 1,
            tasks: vec![Task {
                name: "t".into(),
                driver: "raw_exec".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn place(id: &str, alloc: &str, node: &str) -> Command {
    Command::ApplyPlanResults(ApplyPlanResults {
        deployment: None,
        deployment_updates: Vec::new(),
        namespace: "default".into(),
        job_id: id.into(),
        job_version: 0,
        placed: vec![Allocation {
            id: alloc.into(),
            namespace: "default".into(),
            eval_id: format!("eval-{id}"),
            name: format!("{id}.g[0]"),
            node_id: node.into(),
            job_id: id.into(),
            task_group: "g".into(),
            ..Default::default()
        }],
        stopped: vec![],
        preempted: vec![],
        followups: vec![],
        evals: vec![],
        now: T0,
    })
}

fn client_update(alloc: &str, st: AllocClientStatus) -> Command {
    Command::AllocClientUpdate(AllocClientUpdate {
        updates: vec![AllocClientState {
            id: alloc.into(),
            client_status: st,
            client_description: String::new(),
            task_states: Default::default(),
            deployment_status: None,
        }],
        evals: vec![],
        now: T0,
    })
}

#[tokio::test]
async fn reads_carry_nomads_headers_and_shapes() {
    let srv = Srv::start().await;
    let r = srv.get("/v1/jobs").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["X-Nomad-KnownLeader"], "true");
    assert_eq!(r.headers()["X-Nomad-LastContact"], "0");
    assert!(
        index_of(&r) >= 1,
        "indexes are floored at 1 so index=0 clients do not spin"
    );
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );

    srv.register("web", "a").await;
    let (jobs, _) = srv.json("/v1/jobs").await;
    assert_eq!(jobs[0]["ID"], "web");
    assert_eq!(jobs[0]["JobSummary"]["Summary"]["g"]["Queued"], 0);
    assert_eq!(jobs[0]["Status"], "pending");
    let (j, idx) = srv.json("/v1/job/web").await;
    assert_eq!(
        (j["ID"].as_str(), j["ModifyIndex"].as_u64()),
        (Some("web"), Some(idx)),
        "a job read reports the job's ModifyIndex"
    );
    let (evals, _) = srv.json("/v1/job/web/evaluations").await;
    assert_eq!(evals[0]["ID"], "eval-web");
    let (summary, _) = srv.json("/v1/job/web/summary").await;
    assert_eq!(summary["JobID"], "web");
    let (versions, _) = srv.json("/v1/job/web/versions").await;
    assert_eq!(versions["Versions"][0]["Version"], 0);
    let (leader, _) = srv.json("/v1/status/leader").await;
    assert_eq!(leader, srv.s.rpc_addr.to_string());
    let (peers, _) = srv.json("/v1/status/peers").await;
    assert_eq!(peers, serde_json::json!([srv.s.rpc_addr.to_string()]));
    let (regions, _) = srv.json("/v1/regions").await;
    assert_eq!(regions, serde_json::json!(["global"]));
    let (health, _) = srv.json("/v1/agent/health").await;
    assert_eq!(
        health,
        serde_json::json!({"server": {"ok": true, "message": "ok"}})
    );
    let (me, _) = srv.json("/v1/agent/self").await;
    assert_eq!(me["config"]["Region"], "global");
    srv.s.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter_and_unknown_paths_404() {
    let srv = Srv::start().await;
    let cases = [
        (
            "/v1/jobs?filter=Status%20%3D%3D",
            "failed to read filter expression: invalid filter at position 9",
        ),
        ("/v1/jobs?wait=abc&index=1", "Invalid wait time: \"abc\""),
        ("/v1/jobs?index=x", "Invalid index: \"x\""),
        (
            "/v1/allocations?next_token=abc",
            "invalid next_token \"abc\"",
        ),
        ("/v1/jobs?per_page=-1", "Expect a number for per_page"),
        (
            "/v1/evaluations?status=sleeping",
            "Invalid status: \"sleeping\"",
        ),
        (
            "/v1/evaluations?status=pending&filter=ID%20%3D%3D%20x",
            "cannot use filter and status or job parameters together",
        ),
        ("/v1/event/stream?topic=Jobs", "Invalid topic \"Jobs\""),
        (
            "/v1/jobs?filter=NoSuchField%20%3D%3D%201",
            "failed to read result page",
        ),
    ];
    srv.register("web", "a").await;
    for (path, want) in cases {
        let r = srv.get(path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains(want), "{path}: {body}");
    }
    let r = srv.get("/v1/nope").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.text().await.unwrap(), "Invalid URL: GET /v1/nope");
    assert_eq!(
        srv.get("/v1/job/missing").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        srv.get("/v1/allocation/missing").await.status(),
        StatusCode::NOT_FOUND
    );
    let r = srv.http.delete(srv.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn lists_page_filter_and_prefix() {
    let srv = Srv::start().await;
    for i in 0..12 {
        srv.register(&format!("job-{i:02}"), if i % 3 == 0 { "a" } else { "b" })
            .await;
    }
    // Evaluations, paged by CreateIndex.ID, each exactly once in order.
    let (all, _) = srv.json("/v1/evaluations").await;
    let all: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 12);
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/v1/evaluations?per_page=5&next_token={t}"),
            None => "/v1/evaluations?per_page=5".to_string(),
        };
        let r = srv.get(&path).await;
        let next = r
            .headers()
            .get("X-Nomad-NextToken")
            .map(|v| v.to_str().unwrap().to_string());
        let page: serde_json::Value = r.json().await.unwrap();
        got.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|e| e["ID"].as_str().unwrap().to_string()),
        );
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(got, all);
    let (a, _) = srv
        .json("/v1/jobs?filter=Meta.team%20%3D%3D%20%22a%22")
        .await;
    let ids: Vec<&str> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["job-00", "job-03", "job-06", "job-09"]);
    let (p, _) = srv.json("/v1/jobs?prefix=job-1").await;
    assert_eq!(p.as_array().unwrap().len(), 2);
    let (rev, _) = srv.json("/v1/jobs?reverse=true&per_page=1").await;
    assert_eq!(rev[0]["ID"], "job-11");
    srv.s.shutdown().await;
}

#[tokio::test]
async fn blocking_queries_wake_on_their_own_keys_only() {
    let srv = Srv::start().await;
    srv.register("web", "a").await;
    srv.register("db", "a").await;
    srv.write(place("web", "a-web", "node-1")).await;
    srv.write(place("db", "a-db", "node-2")).await;
    let (_, idx) = srv.json("/v1/jobs").await;
    let (_, db_idx) = srv.json("/v1/job/db").await;
    let (_, n2_idx) = srv.json("/v1/node/node-2/allocations").await;

    let jobs_q = srv
        .http
        .get(srv.url(&format!("/v1/jobs?index={idx}&wait=10s")))
        .send();
    let db_q = srv
        .http
        .get(srv.url(&format!("/v1/job/db?index={db_idx}&wait=600ms")))
        .send();
    let node_q = srv
        .http
        .get(srv.url(&format!(
            "/v1/node/node-2/allocations?index={n2_idx}&wait=600ms"
        )))
        .send();
    let started = Instant::now();
    let writer = async {
        // Write only once all three queries are parked on their keys.
        let parked = Instant::now();
        while srv.s.raft.shared.watches().len() < 3 {
            assert!(
                parked.elapsed() < Duration::from_secs(10),
                "the blocking queries never parked"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        srv.register("api", "b").await;
        srv.write(client_update("a-web", AllocClientStatus::Running))
            .await
    };
    let (jobs_r, db_r, node_r, _) = tokio::join!(jobs_q, db_q, node_q, writer);
    let jobs_r = jobs_r.unwrap();
    assert!(
        index_of(&jobs_r) > idx,
        "the jobs list woke for the new job"
    );
    let db_r = db_r.unwrap();
    assert_eq!(index_of(&db_r), db_idx, "job db did not change");
    let node_r = node_r.unwrap();
    assert_eq!(
        index_of(&node_r),
        n2_idx,
        "node-2's allocations did not change: node-1's did"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the untouched readers waited their full wait"
    );
    srv.s.shutdown().await;
}

#[tokio::test]
async fn event_stream_replays_from_an_index_then_follows() {
    let srv = Srv::start().await;
    let first = srv.register("web", "a").await;
    srv.register("db", "a").await;
    let mut r = srv
        .get(&format!("/v1/event/stream?index={first}&topic=Job"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut buf = String::new();
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    srv.register("api", "b").await;
    while seen.len() < 3 {
        assert!(Instant::now() < deadline, "saw only {seen:?} in {buf}");
        let chunk = tokio::time::timeout(Duration::from_secs(10), r.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(nl) = buf.find('\n') {
            let line: String = buf.drain(..=nl).collect();
            let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
            for e in v["Events"].as_array().into_iter().flatten() {
                assert_eq!(
                    (e["Topic"].as_str(), e["Type"].as_str()),
                    (Some("Job"), Some("JobRegistered"))
                );
                seen.push(e["Key"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(seen, ["web", "db", "api"]);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn a_compacted_start_index_is_refused_not_silently_skipped() {
    let srv = Srv::start_with(|o| {
        o.num_schedulers = 0;
        o.retention = drover_state::EventRetention {
            max_events: 4,
            max_age: i64::MAX,
            ..Default::default()
        }
    })
    .await;
    for i in 0..6 {
        srv.register(&format!("job-{i}"), "a").await;
    }
    let r = srv.get("/v1/event/stream?index=1").await;
    assert_eq!(r.status(), StatusCode::GONE);
    let body = r.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert!(
        v["Error"].as_str().unwrap().contains("no longer retained"),
        "{body}"
    );
    srv.s.shutdown().await;
}

#[tokio::test]
async fn metrics_in_json_and_prometheus_text() {
    let srv = Srv::start().await;
    srv.register("web", "a").await;
    let m: serde_json::Value = srv.get("/v1/metrics").await.json().await.unwrap();
    let gauge = |name: &str| {
        m["Gauges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["Name"] == name)
            .unwrap()["Value"]
            .clone()
    };
    assert_eq!(gauge("drover_state_jobs"), 1.0);
    // The table sizes are the lengths the lists have.
    for (name, list) in [
        ("drover_state_evaluations", "/v1/evaluations"),
        ("drover_state_allocations", "/v1/allocations"),
        ("drover_state_nodes", "/v1/nodes"),
    ] {
        let l: serde_json::Value = srv.get(list).await.json().await.unwrap();
        let len = l.as_array().unwrap().len();
        assert_eq!(gauge(name), len as f64, "{name} against {list}");
    }
    assert!(gauge("drover_state_evaluations").as_f64() >= Some(1.0));
    let text = srv
        .get("/v1/metrics?format=prometheus")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("# TYPE drover_state_jobs gauge\ndrover_state_jobs 1\n"),
        "{text}"
    );
    assert_eq!(
        srv.get("/v1/metrics?format=xml").await.status(),
        StatusCode::BAD_REQUEST
    );
    srv.s.shutdown().await;
}
