//! Nomad's HTTP API documentation, page by page, against the real agent:
//! the query parameters, headers and response fields each page documents
//! (Nomad website/content/api-docs/*.mdx). Each test runs its own
//! `drover agent -dev` on 127.0.0.1 with free ports.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::{blocked_job, Agent};

/// A dev server without a client node: nothing runs, every job blocks.
async fn server(dir: &tempfile::TempDir) -> Agent {
    Agent::start_with(dir.path(), "client { enabled = false }").await
}

/// Register jobs no node can run and wait until each has its blocked
/// evaluation: two evaluations per job.
async fn blocked_jobs(a: &Agent, ids: &[&str]) {
    for id in ids {
        let r = a
            .http
            .put(a.url("/v1/jobs"))
            .json(&blocked_job(id))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "register {id}");
        a.until(
            &format!("/v1/job/{id}/evaluations"),
            "the job's blocked evaluation",
            |v| {
                v.as_array()
                    .is_some_and(|e| e.iter().any(|e| e["Status"] == "blocked"))
            },
        )
        .await;
    }
}

fn index(h: &reqwest::header::HeaderMap) -> u64 {
    h["X-Nomad-Index"].to_str().unwrap().parse().unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// api-docs/evaluations.mdx, "Read Evaluation": `related=true` fills
/// `RelatedEvals` with the stubs of every evaluation reachable through
/// `NextEval`, `PreviousEval` and `BlockedEval`; without it the field is
/// null.
#[tokio::test]
async fn evaluations_read_with_related() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(&dir).await;
    blocked_jobs(&a, &["web"]).await;
    let (_, evals, _) = a.get("/v1/job/web/evaluations").await;
    let evals = evals.as_array().unwrap();
    let first = evals.iter().find(|e| e["BlockedEval"] != "").unwrap();
    let blocked = evals.iter().find(|e| e["Status"] == "blocked").unwrap();
    assert_eq!(first["BlockedEval"], blocked["ID"]);

    let (status, plain, _) = a
        .get(&format!("/v1/evaluation/{}", first["ID"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plain["RelatedEvals"], Value::Null, "only with related=true");

    let (status, with, h) = a
        .get(&format!(
            "/v1/evaluation/{}?related=true",
            first["ID"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        index(&h),
        first["ModifyIndex"].as_u64().unwrap(),
        "the eval's own index"
    );
    let related = with["RelatedEvals"].as_array().unwrap();
    assert_eq!(related.len(), 1, "{related:?}");
    let stub = &related[0];
    assert_eq!(stub["ID"], blocked["ID"]);
    assert_eq!(stub["Status"], "blocked");
    assert_eq!(stub["PreviousEval"], first["ID"]);
    // Nomad's EvaluationStub (nomad/structs/eval.go): no metrics, no
    // queued counts.
    let want: BTreeSet<String> = [
        "ID",
        "Namespace",
        "Priority",
        "Type",
        "TriggeredBy",
        "JobID",
        "NodeID",
        "DeploymentID",
        "Status",
        "StatusDescription",
        "WaitUntil",
        "NextEval",
        "PreviousEval",
        "BlockedEval",
        "CreateIndex",
        "ModifyIndex",
        "CreateTime",
        "ModifyTime",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys(stub), want);

    // The trail is followed backwards too, and never lists the eval itself.
    let (_, back, _) = a
        .get(&format!(
            "/v1/evaluation/{}?related=true",
            blocked["ID"].as_str().unwrap()
        ))
        .await;
    let ids: Vec<&Value> = back["RelatedEvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["ID"])
        .collect();
    assert_eq!(ids, [&first["ID"]]);
}

/// api-docs/evaluations.mdx, "Count Evaluations": `GET
/// /v1/evaluations/count` with `prefix`, `filter` and `namespace`; the
/// body embeds the query meta, the index is the evaluations table's.
#[tokio::test]
async fn evaluations_count() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(&dir).await;
    blocked_jobs(&a, &["web", "db"]).await;
    let (_, list, lh) = a.get("/v1/evaluations").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);

    let (status, c, h) = a.get("/v1/evaluations/count").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["Count"], 4);
    assert_eq!(index(&h), index(&lh));
    assert_eq!(c["Index"].as_u64(), Some(index(&h)));
    assert_eq!(c["KnownLeader"], true);
    assert!(
        c.get("LastContact").is_some() && c.get("NextToken").is_some(),
        "{c}"
    );

    let (_, c, _) = a
        .get("/v1/evaluations/count?filter=JobID%20%3D%3D%20%22web%22")
        .await;
    assert_eq!(c["Count"], 2);
    let id = list[0]["ID"].as_str().unwrap();
    let (_, c, _) = a
        .get(&format!("/v1/evaluations/count?prefix={}", &id[..8]))
        .await;
    assert_eq!(c["Count"], 1);
    let (_, c, _) = a.get("/v1/evaluations/count?namespace=other").await;
    assert_eq!(c["Count"], 0);
    let (_, c, _) = a.get("/v1/evaluations/count?namespace=*").await;
    assert_eq!(c["Count"], 4);

    let (status, body) = a
        .get_text("/v1/evaluations/count?filter=JobID%20%3D%3D")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("filter"), "{body}");

    // A blocking count wakes when an evaluation is written.
    let i = index(&h);
    let waiter = {
        let (http, url) = (
            a.http.clone(),
            a.url(&format!("/v1/evaluations/count?index={i}")),
        );
        tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    a.wait_parked(1).await;
    blocked_jobs(&a, &["cache"]).await;
    let c = tokio::time::timeout(common::DEADLINE, waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(c["Count"].as_u64().unwrap() > 4, "{c}");
    assert!(c["Index"].as_u64().unwrap() > i);
}

/// api-docs/index.mdx, "Formatted JSON Output": `?pretty` indents a JSON
/// answer (fields in the same order, a final newline); `pretty=0` does not,
/// and errors stay plain text.
#[tokio::test]
async fn index_pretty_json() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(&dir).await;
    blocked_jobs(&a, &["web"]).await;
    let (_, compact) = a.get_text("/v1/job/web").await;
    let (status, pretty) = a.get_text("/v1/job/web?pretty").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!compact.contains('\n'), "compact by default");
    assert!(pretty.starts_with("{\n    \""), "{pretty}");
    assert!(pretty.ends_with("}\n"));
    let first_field = |s: &str| s.split('"').nth(1).map(str::to_string);
    assert_eq!(
        first_field(&compact),
        first_field(&pretty),
        "field order kept"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&compact).unwrap(),
        serde_json::from_str::<Value>(&pretty).unwrap()
    );
    let (_, listed) = a.get_text("/v1/evaluations?pretty=true").await;
    assert!(listed.starts_with("[\n    {\n        \"ID\": "), "{listed}");
    let (_, zero) = a.get_text("/v1/job/web?pretty=0").await;
    assert_eq!(zero, compact);
    let (status, err) = a.get_text("/v1/job/nope?pretty").await;
    assert_eq!(
        (status, err.as_str()),
        (StatusCode::NOT_FOUND, "job not found")
    );
}

/// api-docs/index.mdx, "Cross-Region Requests": `?region=` names the region
/// that serves a request. Drover's agent serves its own (`global` for a dev
/// agent); any other has no path, as in Nomad without federation. The
/// agent's own endpoints do not look at it.
#[tokio::test]
async fn index_region_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(&dir).await;
    for path in [
        "/v1/jobs?region=global",
        "/v1/nodes?region=",
        "/v1/status/leader?region=global",
    ] {
        let (status, body) = a.get_text(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    for path in [
        "/v1/jobs?region=mars",
        "/v1/evaluations?region=mars",
        "/v1/status/leader?region=mars",
        "/v1/event/stream?region=mars",
    ] {
        let (status, body) = a.get_text(path).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(body, "No path to region \"mars\"", "{path}");
    }
    let r = a
        .http
        .put(a.url("/v1/jobs?region=mars"))
        .json(&blocked_job("web"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(a.job_ids().await.unwrap().is_empty(), "nothing written");
    let (status, _) = a.get_text("/v1/agent/self?region=mars").await;
    assert_eq!(status, StatusCode::OK);
}

/// api-docs/agent.mdx, "Health": an agent that is a server and a client
/// reports both; `type=` asks for one, and a kind the agent does not run is
/// reported as not enabled, which makes the answer a 500.
#[tokio::test]
async fn agent_health_sections_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Agent::start(dir.path()).await;
    let both = dev
        .until("/v1/agent/health", "the client section healthy", |v| {
            v["client"]["ok"] == true
        })
        .await;
    assert_eq!(
        both,
        serde_json::json!({"client": {"ok": true, "message": "ok"},
                           "server": {"ok": true, "message": "ok"}})
    );
    let (status, v, _) = dev.get("/v1/agent/health?type=server").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v,
        serde_json::json!({"server": {"ok": true, "message": "ok"}})
    );
    let (status, v, _) = dev.get("/v1/agent/health?type=client&type=server").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&v).len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let only_server = server(&dir).await;
    let (status, v, _) = only_server.get("/v1/agent/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v,
        serde_json::json!({"server": {"ok": true, "message": "ok"}})
    );
    let (status, text) = only_server.get_text("/v1/agent/health?type=client").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        serde_json::json!({"client": {"ok": false, "message": "client not enabled"}})
    );
}

/// api-docs/agent.mdx, "Health", on a client-only agent: `type=server`
/// reports the server as not enabled (a 500), `type=client` only the
/// client.
#[tokio::test]
async fn agent_health_type_on_a_client_only_agent() {
    let (sdir, cdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_server, client) = Agent::start_server_and_client(sdir.path(), cdir.path()).await;
    let v = client
        .until("/v1/agent/health", "the client healthy", |v| {
            v["client"]["ok"] == true
        })
        .await;
    assert_eq!(
        v,
        serde_json::json!({"client": {"ok": true, "message": "ok"}})
    );
    let (status, v, _) = client.get("/v1/agent/health?type=client").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v,
        serde_json::json!({"client": {"ok": true, "message": "ok"}})
    );
    let (status, v, _) = client.get("/v1/agent/health?type=server").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        v,
        serde_json::json!({"server": {"ok": false, "message": "server not enabled"}})
    );
    // `?pretty` (api-docs/index.mdx) on a client-only agent too.
    let (status, text) = client.get_text("/v1/agent/self?pretty").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.starts_with("{\n    \"") && text.ends_with("}\n"),
        "{text}"
    );
}

/// api-docs/allocations.mdx and api-docs/jobs.mdx, list stubs:
/// `AllocatedResources` only with `resources=true`, and `Meta` only with
/// `meta=true` for a job that has some; otherwise the fields are left
/// out, as Nomad's `omitempty` does.
#[tokio::test]
async fn list_stubs_leave_out_empty_optional_fields() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let r = a.register("web", "blue").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    blocked_jobs(&a, &["plain"]).await;
    let allocs = a
        .until("/v1/allocations", "web's allocation", |v| {
            v.as_array().is_some_and(|l| !l.is_empty())
        })
        .await;
    assert!(
        allocs[0].get("AllocatedResources").is_none(),
        "{}",
        allocs[0]
    );
    let (_, with, _) = a.get("/v1/allocations?resources=true").await;
    assert!(with[0]["AllocatedResources"].is_object(), "{}", with[0]);

    let (_, jobs, _) = a.get("/v1/jobs?meta=true").await;
    let by_id = |id: &str| {
        jobs.as_array()
            .unwrap()
            .iter()
            .find(|j| j["ID"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("web")["Meta"], serde_json::json!({"team": "blue"}));
    assert!(by_id("plain").get("Meta").is_none(), "{}", by_id("plain"));
    let (_, jobs, _) = a.get("/v1/jobs").await;
    assert!(jobs[0].get("Meta").is_none());
}

/// api-docs/node-pools.mdx, "List Node Pool Jobs": the stubs of the jobs
/// that name the pool, paged by namespace and ID, with `filter` and
/// `meta`; none for a pool that does not exist.
#[tokio::test]
async fn node_pool_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(&dir).await;
    blocked_jobs(&a, &["web", "db"]).await;
    let mut everywhere = blocked_job("everywhere");
    everywhere["Job"]["NodePool"] = "all".into();
    let r = a
        .http
        .put(a.url("/v1/jobs"))
        .json(&everywhere)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Its evaluation moves the jobs' index once more; compare after it.
    a.until(
        "/v1/job/everywhere/evaluations",
        "the job's blocked evaluation",
        |v| {
            v.as_array()
                .is_some_and(|e| e.iter().any(|e| e["Status"] == "blocked"))
        },
    )
    .await;

    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|j| j["ID"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, v, h) = a.get("/v1/node/pool/default/jobs").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), ["db", "web"]);
    assert_eq!(v[0]["JobSummary"]["JobID"], "db", "stubs carry summaries");
    let (_, _, jh) = a.get("/v1/jobs").await;
    assert_eq!(index(&h), index(&jh), "the jobs list's index");

    let (_, v, h) = a.get("/v1/node/pool/default/jobs?per_page=1").await;
    assert_eq!(ids(&v), ["db"]);
    let next = h["X-Nomad-NextToken"].to_str().unwrap().to_string();
    assert_eq!(next, "default.web");
    let (_, v, h) = a
        .get(&format!(
            "/v1/node/pool/default/jobs?per_page=1&next_token={next}"
        ))
        .await;
    assert_eq!(ids(&v), ["web"]);
    assert!(h.get("X-Nomad-NextToken").is_none());

    let (_, v, _) = a
        .get("/v1/node/pool/default/jobs?filter=ID%20%3D%3D%20%22web%22")
        .await;
    assert_eq!(ids(&v), ["web"]);
    let (_, v, _) = a.get("/v1/node/pool/all/jobs").await;
    assert_eq!(ids(&v), ["everywhere"]);
    let (_, v, _) = a.get("/v1/node/pool/default/jobs?namespace=other").await;
    assert_eq!(ids(&v), Vec::<String>::new());
    let (status, v, _) = a.get("/v1/node/pool/nope/jobs").await;
    assert_eq!((status, ids(&v)), (StatusCode::OK, vec![]));
    let (status, body) = a.get_text("/v1/node/pool/default/jobs?per_page=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// api-docs/nodes.mdx, "Create Node Evaluation": one `node-update`
/// evaluation per job with allocations on the node; `NodeModifyIndex` is 0,
/// since the node is not written; an unknown node is a 404.
#[tokio::test]
async fn node_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let nodes = a
        .until("/v1/nodes", "the dev node", |v| {
            v.as_array().is_some_and(|l| !l.is_empty())
        })
        .await;
    let node = nodes[0]["ID"].as_str().unwrap().to_string();
    let r = a.register("web", "blue").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    a.until(
        &format!("/v1/node/{node}/allocations"),
        "web placed on the node",
        |v| v.as_array().is_some_and(|l| !l.is_empty()),
    )
    .await;

    let r = a
        .http
        .post(a.url(&format!("/v1/node/{node}/evaluate")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    let ids = body["EvalIDs"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{body}");
    assert_eq!(body["NodeModifyIndex"], 0);
    assert_eq!(body["EvalCreateIndex"].as_u64(), Some(index(&h)));
    let (status, eval, _) = a
        .get(&format!("/v1/evaluation/{}", ids[0].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&eval["JobID"], &eval["NodeID"], &eval["TriggeredBy"]),
        (
            &Value::from("web"),
            &Value::from(node.clone()),
            &Value::from("node-update")
        )
    );

    let r = a
        .http
        .put(a.url("/v1/node/00000000-0000-0000-0000-000000000000/evaluate"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (status, _) = a.get_text(&format!("/v1/node/{node}/evaluate")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// api-docs/allocations.mdx, "Allocation Services" and "Allocation
/// Checks": an allocation's service registrations, an empty list since
/// Drover registers none, and its check results, an empty map; an
/// allocation that does not exist (or, for services, not in the namespace
/// asked) is a 404.
#[tokio::test]
async fn allocation_services_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let r = a.register("web", "blue").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let allocs = a
        .until("/v1/allocations", "web's allocation", |v| {
            v.as_array().is_some_and(|l| !l.is_empty())
        })
        .await;
    let id = allocs[0]["ID"].as_str().unwrap();
    let (status, v, h) = a.get(&format!("/v1/allocation/{id}/services")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, serde_json::json!([]));
    assert!(index(&h) >= 1);
    let (status, body) = a
        .get_text(&format!("/v1/allocation/{id}/services?namespace=other"))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "alloc not found")
    );
    let (status, body) = a
        .get_text("/v1/allocation/00000000-0000-0000-0000-000000000000/services")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "alloc not found")
    );

    // "Allocation Checks": no service checks, so no results.
    let (status, v, _) = a.get(&format!("/v1/allocation/{id}/checks")).await;
    assert_eq!((status, v), (StatusCode::OK, serde_json::json!({})));
    let (status, body) = a
        .get_text("/v1/allocation/00000000-0000-0000-0000-000000000000/checks")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        "Unknown allocation \"00000000-0000-0000-0000-000000000000\""
    );
}

/// api-docs/jobs.mdx, "List Jobs": `prefix`, `namespace` (`*` for all),
/// `filter`, `per_page` and `next_token` (`<namespace>.<ID>`), `meta`;
/// and "Stop a Job": `purge=true` removes the job, which a stop does not.
#[tokio::test]
async fn jobs_list_parameters_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(&dir).await;
    blocked_jobs(&a, &["api", "app", "db"]).await;
    let r = a
        .http
        .put(a.url("/v1/namespace/team"))
        .json(&json!({"Name": "team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut other = blocked_job("api");
    other["Job"]["Namespace"] = "team".into();
    let r = a
        .http
        .put(a.url("/v1/jobs"))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|j| {
                format!(
                    "{}.{}",
                    j["Namespace"].as_str().unwrap(),
                    j["ID"].as_str().unwrap()
                )
            })
            .collect()
    };

    let (_, v, _) = a.get("/v1/jobs").await;
    assert_eq!(ids(&v), ["default.api", "default.app", "default.db"]);
    let (_, v, _) = a.get("/v1/jobs?prefix=a").await;
    assert_eq!(ids(&v), ["default.api", "default.app"]);
    let (_, v, _) = a.get("/v1/jobs?namespace=team").await;
    assert_eq!(ids(&v), ["team.api"]);
    let (_, v, _) = a.get("/v1/jobs?namespace=*&prefix=api").await;
    assert_eq!(ids(&v), ["default.api", "team.api"]);
    let (_, v, _) = a.get("/v1/jobs?filter=ID%20%3D%3D%20%22db%22").await;
    assert_eq!(ids(&v), ["default.db"]);

    let (_, v, h) = a.get("/v1/jobs?namespace=*&per_page=2").await;
    assert_eq!(ids(&v), ["default.api", "default.app"]);
    let next = h["X-Nomad-NextToken"].to_str().unwrap().to_string();
    assert_eq!(next, "default.db");
    let (_, v, h) = a
        .get(&format!(
            "/v1/jobs?namespace=*&per_page=2&next_token={next}"
        ))
        .await;
    assert_eq!(ids(&v), ["default.db", "team.api"]);
    assert!(h.get("X-Nomad-NextToken").is_none());

    let (status, body) = a.get_text("/v1/jobs?per_page=two").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("per_page"), "{body}");

    // Stop keeps the job (stopped); purge removes it.
    let r = a.http.delete(a.url("/v1/job/app")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, job, _) = a.get("/v1/job/app").await;
    assert_eq!((status, &job["Stop"]), (StatusCode::OK, &Value::Bool(true)));
    let r = a
        .http
        .delete(a.url("/v1/job/app?purge=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _, _) = a.get("/v1/job/app").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
