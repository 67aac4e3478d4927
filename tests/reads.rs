//! The read endpoints Nomad's CLI, UI and Terraform provider call beyond
//! jobs, allocations, evaluations and nodes, against the real agent: node
//! pools, namespaces, search and the scheduler configuration. Each test
//! runs its own agent on 127.0.0.1 with free ports.
//!
//! Nodes in pools other than `default` are registered through the client
//! registration call (`/v1/internal/node/register`), as a client agent
//! registers its node: Drover's client agent cannot be put in another pool
//! yet.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::Agent;

fn index(h: &reqwest::header::HeaderMap) -> u64 {
    h["X-Nomad-Index"].to_str().unwrap().parse().unwrap()
}

fn names(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

/// `GET path` with the body as text (for errors).
async fn get_text(a: &Agent, path: &str) -> (StatusCode, String) {
    a.get_text(path).await
}

/// `method path` with a JSON body: status, headers and the body as JSON
/// (`Value::String` of the text when it is not JSON).
async fn send(
    a: &Agent,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = a
        .http
        .request(method, a.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, v)
}

/// Register a node the way a client agent does; returns its `CreateIndex`.
async fn register_node(a: &Agent, id: &str, pool: &str) -> u64 {
    let node = json!({"Node": {"ID": id, "Name": id, "Datacenter": "dc1",
        "NodePool": pool, "Status": "ready"}});
    let (status, _, body) =
        send(a, reqwest::Method::PUT, "/v1/internal/node/register", &node).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, n, _) = a.get(&format!("/v1/node/{id}")).await;
    n["CreateIndex"].as_u64().unwrap()
}

/// A dev server without a client of its own, so the nodes are exactly the
/// ones a test registers.
async fn server(dir: &std::path::Path) -> Agent {
    Agent::start_with(dir, "client { enabled = false }").await
}

#[tokio::test]
async fn node_pools_are_the_built_in_ones_and_those_nodes_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path()).await;

    // Before any node: the two built-in pools, created at index 1.
    let (status, v, h) = a.get("/v1/node/pools").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v,
        json!([
            {"Name": "all", "Description": "Node pool with all nodes in the cluster.",
             "Meta": null, "SchedulerConfiguration": null, "CreateIndex": 1, "ModifyIndex": 1},
            {"Name": "default", "Description": "Default node pool.",
             "Meta": null, "SchedulerConfiguration": null, "CreateIndex": 1, "ModifyIndex": 1},
        ])
    );
    assert_eq!(index(&h), 1);
    assert_eq!(h["X-Nomad-KnownLeader"], "true");

    let in_default = register_node(&a, "n-default", "").await;
    let gpu = register_node(&a, "n-gpu-1", "gpu").await;
    register_node(&a, "n-gpu-2", "gpu").await;
    let web = register_node(&a, "n-web", "web").await;
    assert!(in_default < gpu && gpu < web);

    let (_, v, h) = a.get("/v1/node/pools").await;
    assert_eq!(names(&v, "Name"), ["all", "default", "gpu", "web"]);
    assert_eq!(
        v[2],
        json!({"Name": "gpu", "Description": "", "Meta": null,
               "SchedulerConfiguration": null, "CreateIndex": gpu, "ModifyIndex": gpu})
    );
    assert_eq!(index(&h), web, "the list reports the newest pool's index");

    // prefix, filter, pagination and reverse as other lists.
    let (_, v, _) = a.get("/v1/node/pools?prefix=g").await;
    assert_eq!(names(&v, "Name"), ["gpu"]);
    let filter = "filter=Description%20%3D%3D%20%22Default%20node%20pool.%22";
    let (_, v, _) = a.get(&format!("/v1/node/pools?{filter}")).await;
    assert_eq!(names(&v, "Name"), ["default"]);
    let (_, v, h) = a.get("/v1/node/pools?per_page=2").await;
    assert_eq!(names(&v, "Name"), ["all", "default"]);
    assert_eq!(h["X-Nomad-NextToken"], "gpu");
    let (_, v, h) = a.get("/v1/node/pools?per_page=2&next_token=gpu").await;
    assert_eq!(names(&v, "Name"), ["gpu", "web"]);
    assert!(h.get("X-Nomad-NextToken").is_none());
    let (_, v, _) = a.get("/v1/node/pools?reverse=true").await;
    assert_eq!(names(&v, "Name"), ["web", "gpu", "default", "all"]);
    let (status, text) = get_text(&a, "/v1/node/pools?filter=Name%20%3D%3D").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.starts_with("failed to read filter expression"),
        "{text}"
    );

    // One pool.
    let (status, v, h) = a.get("/v1/node/pool/web").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (v["Name"].as_str(), v["CreateIndex"].as_u64()),
        (Some("web"), Some(web))
    );
    assert_eq!(index(&h), web);
    let (_, v, h) = a.get("/v1/node/pool/default").await;
    assert_eq!(v["Description"], "Default node pool.");
    assert_eq!(index(&h), 1);
    let (status, text) = get_text(&a, "/v1/node/pool/nope").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::NOT_FOUND, "node pool not found")
    );

    // A pool's nodes; `all` holds every node.
    let (status, v, _) = a.get("/v1/node/pool/gpu/nodes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&v, "ID"), ["n-gpu-1", "n-gpu-2"]);
    assert_eq!(v[0]["NodePool"], "gpu");
    assert!(v[0].get("NodeResources").is_none(), "a stub");
    let (_, v, _) = a.get("/v1/node/pool/default/nodes").await;
    assert_eq!(names(&v, "ID"), ["n-default"]);
    let (_, v, _) = a.get("/v1/node/pool/all/nodes").await;
    assert_eq!(
        names(&v, "ID"),
        ["n-default", "n-gpu-1", "n-gpu-2", "n-web"]
    );
    let (_, v, h) = a.get("/v1/node/pool/all/nodes?per_page=3").await;
    assert_eq!(names(&v, "ID"), ["n-default", "n-gpu-1", "n-gpu-2"]);
    assert_eq!(h["X-Nomad-NextToken"], "n-web");
    let (_, v, _) = a
        .get("/v1/node/pool/all/nodes?resources=true&filter=NodePool%20%3D%3D%20%22web%22")
        .await;
    assert_eq!(names(&v, "ID"), ["n-web"]);
    assert!(v[0].get("NodeResources").is_some());
    let (status, v, _) = a.get("/v1/node/pool/nope/nodes").await;
    assert_eq!((status, v), (StatusCode::OK, json!([])));
    let (status, text) = get_text(&a, "/v1/node/pool/gpu/nodes?prefix=n").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::BAD_REQUEST, "prefix argument not allowed")
    );
}

#[tokio::test]
async fn a_blocking_node_pool_list_answers_when_a_pool_appears() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path()).await;
    register_node(&a, "n-1", "gpu").await;
    let (_, _, h) = a.get("/v1/node/pools").await;
    let seen = index(&h);

    let url = a.url(&format!("/v1/node/pools?index={seen}&wait=20s"));
    let http = a.http.clone();
    let waiting = tokio::spawn(async move {
        let r = http.get(url).send().await.unwrap();
        let h = r.headers().clone();
        (index(&h), r.json::<Value>().await.unwrap())
    });
    a.wait_parked(1).await;
    let late = register_node(&a, "n-2", "late").await;
    let (at, v) = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the blocking list answered once the pool appeared")
        .unwrap();
    assert_eq!(at, late);
    assert_eq!(names(&v, "Name"), ["all", "default", "gpu", "late"]);
}

#[tokio::test]
async fn the_default_namespace_is_the_only_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path()).await;
    let default = json!({"Name": "default", "Description": "Default shared namespace",
        "Quota": "", "Capabilities": null, "NodePoolConfiguration": null, "Meta": null,
        "CreateIndex": 1, "ModifyIndex": 1});

    let (status, v, h) = a.get("/v1/namespaces").await;
    assert_eq!((status, v), (StatusCode::OK, json!([default.clone()])));
    assert_eq!(index(&h), 1);
    let (_, v, _) = a.get("/v1/namespaces?prefix=def").await;
    assert_eq!(names(&v, "Name"), ["default"]);
    let (status, v, _) = a.get("/v1/namespaces?prefix=prod").await;
    assert_eq!((status, v), (StatusCode::OK, json!([])));

    let (status, v, h) = a.get("/v1/namespace/default").await;
    assert_eq!((status, v), (StatusCode::OK, default));
    assert_eq!(index(&h), 1);
    let (status, text) = get_text(&a, "/v1/namespace/prod").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::NOT_FOUND, "Namespace not found")
    );
    let (status, text) = get_text(&a, "/v1/namespace/").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::BAD_REQUEST, "Missing Namespace Name")
    );
    let (status, text) = get_text(&a, "/v1/namespaces?stale=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

/// `PUT path` with a JSON body, asserting a 200: the body and the index
/// header.
async fn search(a: &Agent, path: &str, body: Value) -> (Value, u64) {
    let (status, h, v) = send(a, reqwest::Method::PUT, path, &body).await;
    assert_eq!(status, StatusCode::OK, "{path} {body}: {v}");
    (v, index(&h))
}

const GPU_NODE: &str = "5e1f0a00-0000-4000-8000-000000000001";

/// A dev agent running `web-api` (group `frontend`, task `server`, command
/// `/bin/sleep`), with `api-gw` and `z-00`..`z-20` blocked and a node
/// named `gpu-box-1` in pool `gpu`. Returns the agent, the allocation's
/// ID and the ID of `web-api`'s evaluation.
async fn searchable(dir: &std::path::Path) -> (Agent, String, String) {
    let a = Agent::start(dir).await;
    common::submit(
        &a,
        json!({"ID": "web-api", "Type": "batch", "TaskGroups": [{"Name": "frontend",
            "Tasks": [{"Name": "server", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["300"]}}]}]}),
    )
    .await;
    for id in std::iter::once("api-gw".to_string()).chain((0..21).map(|i| format!("z-{i:02}"))) {
        let (status, _, v) = send(
            &a,
            reqwest::Method::PUT,
            "/v1/jobs",
            &common::blocked_job(&id),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    register_node(&a, GPU_NODE, "gpu").await;
    let (_, node, _) = a.get(&format!("/v1/node/{GPU_NODE}")).await;
    assert_eq!(
        node["Name"], GPU_NODE,
        "register_node names a node by its ID"
    );
    let rename = json!({"Node": {"ID": GPU_NODE, "Name": "gpu-box-1", "Datacenter": "dc1",
        "NodePool": "gpu", "Status": "ready"}});
    let (status, _, v) = send(
        &a,
        reqwest::Method::PUT,
        "/v1/internal/node/register",
        &rename,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let alloc = common::alloc_when(&a, "web-api", "web-api placed", |_| true).await;
    let (_, evals, _) = a.get("/v1/job/web-api/evaluations").await;
    (
        a,
        alloc["ID"].as_str().unwrap().to_string(),
        evals[0]["ID"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn prefix_search_per_context_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let (a, alloc, eval) = searchable(dir.path()).await;
    let (v, at) = search(
        &a,
        "/v1/search",
        json!({"Prefix": "web", "Context": "jobs"}),
    )
    .await;
    assert_eq!(v["Matches"], json!({"jobs": ["web-api"]}));
    assert_eq!(v["Truncations"], json!({"jobs": false}));
    assert_eq!(v["Index"].as_u64(), Some(at));
    assert_eq!(
        (v["KnownLeader"].as_bool(), v["LastContact"].as_u64()),
        (Some(true), Some(0))
    );
    assert_eq!(v["NextToken"], "");

    // Twenty per context, then truncated.
    let (v, _) = search(&a, "/v1/search", json!({"Prefix": "z-", "Context": "jobs"})).await;
    let t: Vec<String> = (0..20).map(|i| format!("z-{i:02}")).collect();
    assert_eq!(v["Matches"]["jobs"], json!(t));
    assert_eq!(v["Truncations"]["jobs"], true);

    // UUIDs: an odd prefix is walked from one character less, and still
    // matched whole; POST works as PUT.
    let (status, _, v) = send(
        &a,
        reqwest::Method::POST,
        "/v1/search",
        &json!({"Prefix": &alloc[..5], "Context": "allocs"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        v["Matches"]["allocs"]
            .as_array()
            .unwrap()
            .contains(&json!(alloc)),
        "{v}"
    );
    let (v, _) = search(
        &a,
        "/v1/search",
        json!({"Prefix": &eval[..8], "Context": "evals"}),
    )
    .await;
    assert_eq!(v["Matches"]["evals"], json!([eval]));
    let (v, _) = search(
        &a,
        "/v1/search",
        json!({"Prefix": "5e1f0a", "Context": "nodes"}),
    )
    .await;
    assert_eq!(v["Matches"]["nodes"], json!([GPU_NODE]));
    let (v, _) = search(
        &a,
        "/v1/search",
        json!({"Prefix": "gp", "Context": "node_pools"}),
    )
    .await;
    assert_eq!(v["Matches"]["node_pools"], json!(["gpu"]));
    let (v, _) = search(
        &a,
        "/v1/search",
        json!({"Prefix": "def", "Context": "namespaces"}),
    )
    .await;
    assert_eq!(v["Matches"]["namespaces"], json!(["default"]));
    let (v, _) = search(
        &a,
        "/v1/search",
        json!({"Prefix": "abcdef01", "Context": "deployment"}),
    )
    .await;
    assert_eq!(v["Matches"], json!({"deployment": null}));

    // `all`: a prefix that is no UUID leaves the UUID contexts out.
    let (v, _) = search(&a, "/v1/search", json!({"Prefix": "web", "Context": "all"})).await;
    assert_eq!(
        v["Matches"],
        json!({"jobs": ["web-api"], "node_pools": null, "namespaces": null, "plugins": null,
               "volumes": null, "scaling_policy": null, "vars": null, "host_volumes": null})
    );
    assert_eq!(v["Truncations"].as_object().unwrap().len(), 8);

    // Another namespace holds nothing; the query string wins over the body.
    let body = json!({"Prefix": "web", "Context": "jobs", "Namespace": "other"});
    let (v, _) = search(&a, "/v1/search", body.clone()).await;
    assert_eq!(v["Matches"], json!({"jobs": null}));
    let (v, _) = search(&a, "/v1/search?namespace=*", body).await;
    assert_eq!(v["Matches"], json!({"jobs": ["web-api"]}));

    let bad = json!({"Prefix": "web", "Context": "job"});
    let (status, _, v) = send(&a, reqwest::Method::PUT, "/v1/search", &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v.as_str()
            .unwrap()
            .ends_with("or 'all' for all contexts; got \"job\""),
        "{v}"
    );
    let r = a.http.put(a.url("/v1/search")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.text().await.unwrap(), "Request body is empty");
    let (status, _) = get_text(&a, "/v1/search").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn fuzzy_search_matches_names_inside_jobs_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let (a, alloc, _) = searchable(dir.path()).await;
    let fuzzy = |text: &str, context: &str| json!({"Text": text, "Context": context});

    // Earliest match first: "api-gw" (at 0) before "web-api" (at 4).
    let (v, _) = search(&a, "/v1/search/fuzzy", fuzzy("API", "jobs")).await;
    assert_eq!(
        v["Matches"],
        json!({"jobs": [{"ID": "api-gw", "Scope": ["default", "api-gw"]},
                        {"ID": "web-api", "Scope": ["default", "web-api"]}]})
    );
    assert_eq!(v["Truncations"], json!({"jobs": false}));
    // Only 20 jobs are read (api-gw, web-api, z-00..z-17), and reading the
    // 20th while more are left truncates what it matched.
    let (v, _) = search(&a, "/v1/search/fuzzy", fuzzy("z-1", "jobs")).await;
    let z: Vec<Value> = (10..18)
        .map(|i| json!({"ID": format!("z-{i}"), "Scope": ["default", format!("z-{i}")]}))
        .collect();
    assert_eq!(v["Matches"]["jobs"], json!(z));
    assert_eq!(v["Truncations"]["jobs"], true);
    let (v, _) = search(&a, "/v1/search/fuzzy", fuzzy("z-19", "jobs")).await;
    assert_eq!(v["Matches"], json!({}), "z-19 is not read");

    // Groups, tasks and commands of what was read, scoped by their parents.
    let (v, _) = search(&a, "/v1/search/fuzzy", fuzzy("true", "all")).await;
    let commands = v["Matches"]["commands"].as_array().unwrap();
    assert_eq!(
        commands[0],
        json!({"ID": "/bin/true", "Scope": ["default", "api-gw", "g", "t"]})
    );

    // Every namespace (`*`) holds the same here.
    let (v, _) = search(&a, "/v1/search/fuzzy?namespace=*", fuzzy("front", "all")).await;
    assert_eq!(
        v["Matches"]["groups"],
        json!([{"ID": "frontend", "Scope": ["default", "web-api"]}])
    );
    assert_eq!(
        v["Matches"]["allocs"],
        json!([{"ID": "web-api.frontend[0]", "Scope": ["default", alloc]}])
    );
    let (v, _) = search(&a, "/v1/search/fuzzy", fuzzy("SERV", "allocs")).await;
    assert_eq!(v["Matches"], json!({}), "allocations match by name only");

    let (v, _) = search(&a, "/v1/search/fuzzy", fuzzy("gpu", "all")).await;
    assert_eq!(
        v["Matches"]["nodes"],
        json!([{"ID": "gpu-box-1", "Scope": [GPU_NODE]}])
    );
    assert_eq!(
        v["Matches"]["node_pools"],
        json!([{"ID": "gpu", "Scope": ["gpu"]}])
    );
    assert_eq!(v["Matches"]["evals"], json!([]), "evals match by ID prefix");
    // The 20 evaluations looked at were not all of them.
    assert_eq!(v["Truncations"]["evals"], true);
    assert_eq!(v["Matches"]["deployment"], json!([]));
    for ctx in [
        "allocs",
        "jobs",
        "nodes",
        "node_pools",
        "namespaces",
        "vars",
    ] {
        assert_eq!(v["Truncations"][ctx], false, "{ctx}: {v}");
    }
    let (v, _) = search(&a, "/v1/search/fuzzy", fuzzy("fault", "namespaces")).await;
    assert_eq!(v["Matches"], json!({"namespaces": [{"ID": "default"}]}));

    let (status, _, v) = send(
        &a,
        reqwest::Method::PUT,
        "/v1/search/fuzzy",
        &fuzzy("a", "all"),
    )
    .await;
    assert_eq!(
        (status, v),
        (
            StatusCode::BAD_REQUEST,
            json!("fuzzy search query must be at least 2 characters, got 1")
        )
    );
    let (status, _, _) = send(
        &a,
        reqwest::Method::PUT,
        "/v1/search/fuzzy",
        &fuzzy("ab", "x"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// `GET /v1/operator/scheduler/configuration` once the leader's first
/// write is applied.
async fn scheduler_config(a: &Agent) -> (Value, u64) {
    let path = "/v1/operator/scheduler/configuration";
    a.until(path, "the leader's scheduler configuration", |v| {
        v["SchedulerConfig"].is_object()
    })
    .await;
    let (status, v, h) = a.get(path).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    (v, index(&h))
}

async fn set_scheduler_config(a: &Agent, query: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/v1/operator/scheduler/configuration{query}");
    let (status, _, v) = send(a, reqwest::Method::PUT, &path, &body).await;
    (status, v)
}

#[tokio::test]
async fn the_scheduler_configuration_is_nomads_default_then_what_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path()).await;
    let (v, at) = scheduler_config(&a).await;
    assert_eq!(
        v,
        json!({"SchedulerConfig": {"SchedulerAlgorithm": "binpack",
            "PreemptionConfig": {"SystemSchedulerEnabled": true, "SysBatchSchedulerEnabled": false,
                "BatchSchedulerEnabled": false, "ServiceSchedulerEnabled": false},
            "MemoryOversubscriptionEnabled": false, "RejectJobRegistration": false,
            "PauseEvalBroker": false, "CreateIndex": at, "ModifyIndex": at},
          "Index": at, "LastContact": 0, "KnownLeader": true, "NextToken": ""})
    );

    // The body is the configuration; what it leaves out is zero.
    let (status, v) = set_scheduler_config(
        &a,
        "",
        json!({"SchedulerAlgorithm": "spread", "MemoryOversubscriptionEnabled": true,
               "PreemptionConfig": {"BatchSchedulerEnabled": true}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["Updated"], true);
    let written = v["Index"].as_u64().unwrap();
    let (v, index_now) = scheduler_config(&a).await;
    let c = &v["SchedulerConfig"];
    assert_eq!(c["SchedulerAlgorithm"], "spread");
    assert_eq!(
        c["PreemptionConfig"],
        json!({"SystemSchedulerEnabled": false, "SysBatchSchedulerEnabled": false,
               "BatchSchedulerEnabled": true, "ServiceSchedulerEnabled": false})
    );
    assert_eq!(c["MemoryOversubscriptionEnabled"], true);
    assert_eq!(
        (c["CreateIndex"].as_u64(), c["ModifyIndex"].as_u64()),
        (Some(at), Some(written))
    );
    assert_eq!(index_now, written);

    // Check-and-set: a stale index changes nothing, the current one writes.
    let (status, v) = set_scheduler_config(
        &a,
        &format!("?cas={at}"),
        json!({"SchedulerAlgorithm": "binpack"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["Updated"], false);
    assert!(v["Index"].as_u64().unwrap() > written);
    let (v, _) = scheduler_config(&a).await;
    assert_eq!(v["SchedulerConfig"]["SchedulerAlgorithm"], "spread");
    let (_, v) = set_scheduler_config(
        &a,
        &format!("?cas={written}"),
        json!({"SchedulerAlgorithm": "binpack"}),
    )
    .await;
    assert_eq!(v["Updated"], true);
    let (v, _) = scheduler_config(&a).await;
    assert_eq!(v["SchedulerConfig"]["SchedulerAlgorithm"], "binpack");

    for (query, body, want) in [
        (
            "",
            json!({"SchedulerAlgorithm": "fastest"}),
            "invalid scheduler algorithm: fastest",
        ),
        ("?cas=x", json!({}), "Error parsing cas value: \"x\""),
        ("", json!([1]), "Error parsing scheduler config"),
        (
            "",
            json!({"PauseEvalBroker": "yes"}),
            "Error parsing scheduler config",
        ),
    ] {
        let (status, v) = set_scheduler_config(&a, query, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert!(v.as_str().unwrap().starts_with(want), "{v}");
    }
    let r = a
        .http
        .post(a.url("/v1/operator/scheduler/configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text().await.unwrap(),
        "Error parsing scheduler config: Request body is empty"
    );
}

#[tokio::test]
async fn reject_job_registration_refuses_registrations_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path()).await;
    scheduler_config(&a).await;
    let (status, _) = set_scheduler_config(&a, "", json!({"RejectJobRegistration": true})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, v) = send(
        &a,
        reqwest::Method::PUT,
        "/v1/jobs",
        &common::blocked_job("web"),
    )
    .await;
    assert_eq!(
        (status, v),
        (
            StatusCode::FORBIDDEN,
            json!(
                "Job registration, dispatch, and scale are disabled by the scheduler configuration"
            )
        )
    );
    let (status, _, _) = send(
        &a,
        reqwest::Method::PUT,
        "/v1/job/web",
        &common::blocked_job("web"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = a.get("/v1/job/web").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");

    let (status, _) = set_scheduler_config(&a, "", json!({"RejectJobRegistration": false})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, v) = send(
        &a,
        reqwest::Method::PUT,
        "/v1/jobs",
        &common::blocked_job("web"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// The evaluations of `job`, once it has one.
async fn evals_of(a: &Agent, job: &str) -> Vec<Value> {
    let v = a
        .until(
            &format!("/v1/job/{job}/evaluations"),
            "an evaluation",
            |v| v.as_array().is_some_and(|l| !l.is_empty()),
        )
        .await;
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn pause_eval_broker_holds_evaluations_pending_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path()).await;
    scheduler_config(&a).await;
    // The workers run: an evaluation of a job no node can run is planned
    // (complete, with a blocked follow-up).
    submit_blocked(&a, "before").await;
    a.wait_scheduled(&["before"]).await;

    let (status, _) = set_scheduler_config(&a, "", json!({"PauseEvalBroker": true})).await;
    assert_eq!(status, StatusCode::OK);
    submit_blocked(&a, "paused").await;
    // The workers look for work when the eval is enqueued and every
    // 500 ms; wait until they have looked and found the broker paused a
    // few times since, then check that nobody planned it.
    let looks = a.metric("drover_scheduler_paused_looks").await;
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while a.metric("drover_scheduler_paused_looks").await < looks + 4.0 {
        assert!(std::time::Instant::now() < deadline, "workers never looked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let evals = evals_of(&a, "paused").await;
    assert_eq!(evals.len(), 1, "{evals:?}");
    assert_eq!(evals[0]["Status"], "pending", "planned while paused");

    let (status, _) = set_scheduler_config(&a, "", json!({"PauseEvalBroker": false})).await;
    assert_eq!(status, StatusCode::OK);
    a.wait_scheduled(&["paused"]).await;
}

async fn submit_blocked(a: &Agent, id: &str) {
    let (status, _, v) = send(
        a,
        reqwest::Method::PUT,
        "/v1/jobs",
        &common::blocked_job(id),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn the_scheduler_configuration_is_replicated_to_every_server() {
    use common::cluster::{assert_same_state, form_three};
    let dir = tempfile::tempdir().unwrap();
    let dirs: Vec<std::path::PathBuf> = (0..3).map(|i| dir.path().join(format!("s{i}"))).collect();
    let (servers, _, leader) = form_three(&dirs, &["127.0.0.1"; 3], "").await;
    let follower = &servers[(leader + 1) % 3];
    let path = "/v1/operator/scheduler/configuration";
    follower
        .until(path, "the leader's scheduler configuration", |s, v| {
            s == StatusCode::OK && v["SchedulerConfig"].is_object()
        })
        .await;
    // Written through a follower, which forwards it to the leader.
    let body = json!({"SchedulerAlgorithm": "spread", "PauseEvalBroker": false});
    let (status, _, v) = follower.call(reqwest::Method::PUT, path, Some(&body)).await;
    assert_eq!(
        (status, &v["Updated"]),
        (StatusCode::OK, &json!(true)),
        "{v}"
    );
    let written = v["Index"].as_u64().unwrap();
    for s in &servers {
        s.until(
            &format!("{path}?stale=true"),
            "the write applied here",
            |s, v| {
                s == StatusCode::OK && v["SchedulerConfig"]["ModifyIndex"].as_u64() == Some(written)
            },
        )
        .await;
        let (_, _, v) = s
            .call(reqwest::Method::GET, &format!("{path}?stale=true"), None)
            .await;
        assert_eq!(v["SchedulerConfig"]["SchedulerAlgorithm"], "spread");
    }
    let refs: Vec<&common::cluster::Server> = servers.iter().collect();
    assert_same_state(&refs).await;
}
