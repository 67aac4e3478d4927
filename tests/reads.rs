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
