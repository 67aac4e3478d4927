//! ACLs beyond one agent's own endpoints: a client-only agent asks its
//! servers, and the event stream filters by token and ends with it.
//! Addresses 127.0.2.17–127.0.2.19.

mod common;

use std::time::Instant;

use common::acl::*;
use common::DEADLINE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn a_client_only_agent_checks_its_own_endpoints_with_its_servers() {
    let (_sdir, server, mgmt) =
        acl_agent_with("127.0.2.17", "", "client {\n  enabled = false\n}").await;
    let read = client_token(&server, &mgmt, "readonly", READ_RULES).await;
    let write = client_token(&server, &mgmt, "readwrite", WRITE_RULES).await;
    let cdir = tempfile::tempdir().unwrap();
    let client = client_only_agent(cdir.path(), "127.0.2.18", &server);
    server
        .until("/v1/nodes", "the client's node ready", |v| {
            v.as_array().is_some_and(|n| {
                n.iter()
                    .any(|n| n["Status"] == "ready" && n["Address"] == "127.0.2.18")
            })
        })
        .await;
    let node = server
        .get("/v1/nodes")
        .await
        .1
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["Address"] == "127.0.2.18")
        .map(|n| n["ID"].as_str().unwrap().to_string())
        .unwrap();
    common::submit(
        &server,
        json!({"ID": "remote", "Constraints": [{"LTarget": "${node.unique.id}", "Operand": "=", "RTarget": node}],
            "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1000"]}}]}]}),
    )
    .await;
    let list = server
        .until("/v1/job/remote/allocations", "the alloc running", |v| {
            v.as_array()
                .is_some_and(|l| l.len() == 1 && l[0]["TaskStates"]["t"]["State"] == "running")
        })
        .await;
    let alloc = list[0]["ID"].as_str().unwrap().to_string();
    assert_eq!(list[0]["NodeID"].as_str(), Some(node.as_str()));
    let logs = format!("/v1/client/fs/logs/{alloc}?task=t&type=stdout&plain=true");
    let stats = format!("/v1/client/allocation/{alloc}/stats");
    for (agent, name) in [(&client, "the client itself"), (&server, "the server")] {
        let want = [
            (None, &logs, StatusCode::FORBIDDEN),
            (Some(read.as_str()), &logs, StatusCode::FORBIDDEN),
            (Some(write.as_str()), &logs, StatusCode::OK),
            (Some(read.as_str()), &stats, StatusCode::OK),
            (Some("nope"), &stats, StatusCode::FORBIDDEN),
        ];
        for (token, path, status) in want {
            let (got, body) = call(agent, token, Method::GET, path, None).await;
            assert_eq!(got, status, "{path} on {name} with {token:?}: {body}");
        }
    }
    // The client's agent endpoints need what a server's do
    // (api-docs/agent.mdx): `agent` read for its self, nothing for health.
    let node_only = client_token(&server, &mgmt, "nodeonly", "node { policy = \"read\" }").await;
    let want = [
        (None, "/v1/agent/self", StatusCode::FORBIDDEN),
        (
            Some(node_only.as_str()),
            "/v1/agent/self",
            StatusCode::FORBIDDEN,
        ),
        (Some(read.as_str()), "/v1/agent/self", StatusCode::OK),
        (None, "/v1/agent/health", StatusCode::OK),
        (None, "/v1/agent/servers", StatusCode::FORBIDDEN),
        (Some(read.as_str()), "/v1/agent/servers", StatusCode::OK),
        (
            Some(node_only.as_str()),
            "/v1/agent/members",
            StatusCode::OK,
        ),
        (None, "/v1/agent/members", StatusCode::FORBIDDEN),
    ];
    for (token, path, status) in want {
        let (got, body) = call(&client, token, Method::GET, path, None).await;
        assert_eq!(got, status, "{path} on the client with {token:?}: {body}");
    }
}

#[tokio::test]
async fn the_event_stream_shows_only_what_the_token_may_read_and_ends_with_it() {
    let (_dir, a, mgmt) = acl_agent("127.0.2.19", "").await;
    let reader = client_token(
        &a,
        &mgmt,
        "defaultread",
        "namespace \"default\" { policy = \"read\" }",
    )
    .await;
    let job = |id: &str, ns: &str| {
        json!({"Job": {"ID": id, "Namespace": ns, "Datacenters": ["nowhere"],
            "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}})
    };
    // Jobs live only in namespaces that exist.
    let ns = json!({"Name": "team"});
    let (s, b) = call(
        &a,
        Some(&mgmt),
        Method::PUT,
        "/v1/namespace/team",
        Some(&ns),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (id, ns) in [("theirs", "team"), ("mine", "default")] {
        let (s, b) = call(&a, Some(&mgmt), Method::PUT, "/v1/jobs", Some(&job(id, ns))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // A list across namespaces leaves out what the token may not read;
    // the management token sees both.
    for (token, want) in [(&reader, vec!["mine"]), (&mgmt, vec!["mine", "theirs"])] {
        for (path, field) in [
            ("/v1/jobs?namespace=*", "ID"),
            ("/v1/evaluations?namespace=*", "JobID"),
        ] {
            let (s, b) = call(&a, Some(token), Method::GET, path, None).await;
            assert_eq!(s, StatusCode::OK, "{path}: {b}");
            let list: Value = serde_json::from_str(&b).unwrap();
            let mut got: Vec<&str> = list
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|o| o[field].as_str())
                .collect();
            got.sort();
            got.dedup();
            assert_eq!(got, want, "{path}: {b}");
        }
    }
    // Every topic is a management token's; nodes need node read.
    for path in ["/v1/event/stream", "/v1/event/stream?topic=Node"] {
        let (s, _) = call(&a, Some(&reader), Method::GET, path, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let mut r = reqwest::Client::new()
        .get(a.url("/v1/event/stream?topic=Job&namespace=*&index=1"))
        .header("X-Nomad-Token", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut text = String::new();
    let started = Instant::now();
    while !text.contains("\"mine\"") {
        let chunk = tokio::time::timeout(DEADLINE, r.chunk())
            .await
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        assert!(started.elapsed() < DEADLINE, "{text}");
    }
    assert!(!text.contains("\"theirs\""), "{text}");
    // Deleted, the token ends the stream at the next write.
    let (_, me) = call(&a, Some(&reader), Method::GET, "/v1/acl/token/self", None).await;
    let me: Value = serde_json::from_str(&me).unwrap();
    let path = format!("/v1/acl/token/{}", me["AccessorID"].as_str().unwrap());
    let (s, _) = call(&a, Some(&mgmt), Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::OK);
    loop {
        let chunk = tokio::time::timeout(DEADLINE, r.chunk())
            .await
            .unwrap()
            .unwrap();
        match chunk {
            Some(c) => text.push_str(&String::from_utf8_lossy(&c)),
            None => break,
        }
    }
    assert!(
        text.trim_end()
            .ends_with(r#"{"Error":"ACL token not found"}"#),
        "{text}"
    );
}

/// A node's own calls carry its secret (Nomad authenticates
/// `Node.UpdateStatus`, `Node.UpdateAlloc` by the node's secret ID): no
/// user token, not even a management one, makes them, nor records an
/// exec session for a node.
#[tokio::test]
async fn only_a_node_itself_makes_its_calls() {
    let (_dir, a, mgmt) = acl_agent("127.0.3.65", "").await;
    let (alloc, node) = sleeper(&a, "sleeper").await;
    let status = json!({"NodeID": node, "Status": "down"});
    let update = json!({"Alloc": [{"ID": alloc, "NodeID": node, "ClientStatus": "failed"}]});
    let session = json!({"Phase": "start", "Session": {"ID": "s1", "Kind": "exec",
        "AllocID": alloc, "Task": "t", "Command": ["/bin/sh"]}});
    let calls = [
        (format!("/v1/internal/node/{node}/status"), &status),
        (format!("/v1/internal/node/{node}/allocs"), &update),
        ("/v1/internal/node/exec-session".to_string(), &session),
    ];
    for (path, body) in &calls {
        for token in [None, Some(mgmt.as_str()), Some("not-a-secret")] {
            let (s, b) = call(&a, token, Method::PUT, path, Some(body)).await;
            assert_eq!(
                (s, b.as_str()),
                (StatusCode::FORBIDDEN, "Permission denied"),
                "{path} with {token:?}"
            );
        }
    }
    let (_, n, _) = a.get(&format!("/v1/node/{node}")).await;
    assert_eq!(n["Status"], "ready", "{n}");
    let (_, al, _) = a.get(&format!("/v1/allocation/{alloc}")).await;
    assert_eq!(al["ClientStatus"], "running", "{al}");
    let mut events = reqwest::Client::new()
        .get(a.url("/v1/event/stream?topic=Exec&index=0"))
        .header("X-Nomad-Token", &mgmt)
        .send()
        .await
        .unwrap();
    // Only the heartbeat comes: no session was recorded.
    let first = tokio::time::timeout(DEADLINE, events.chunk())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.as_deref(), Some(&b"{}\n"[..]));
    let next = tokio::time::timeout(std::time::Duration::from_millis(500), events.chunk()).await;
    assert!(next.is_err(), "an event came: {next:?}");
}
