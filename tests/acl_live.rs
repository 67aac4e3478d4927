//! ACLs beyond one agent's own endpoints: a client-only agent asks its
//! servers, and the event stream filters by token and ends with it.
//! Addresses 127.0.2.17–127.0.2.19.

mod common;

use std::time::Instant;

use common::acl::*;
use common::{Agent, DEADLINE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A client-only agent on `ip` with ACLs on, joined to `server`.
fn client_only(dir: &std::path::Path, ip: &str, server: &Agent) -> Agent {
    let http = common::free_port_on(ip);
    let config = dir.join("client.hcl");
    std::fs::write(
        &config,
        format!(
            "bind_addr = \"{ip}\"\nports {{\n  http = {http}\n}}\nacl {{\n  enabled = true\n}}\nclient {{\n  options = {{\n    \"driver.raw_exec.enable\" = \"1\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let servers = server.base.trim_start_matches("http://").to_string();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args([
            "agent",
            "-client",
            "-servers",
            &servers,
            "-log-level=warn",
            "-data-dir",
        ])
        .arg(dir.join("data"))
        .arg("-config")
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("drover starts");
    Agent {
        child,
        base: format!("http://{ip}:{http}"),
        http: reqwest::Client::new(),
        data_dir: dir.to_path_buf(),
        reap_tasks: true,
    }
}

#[tokio::test]
async fn a_client_only_agent_checks_its_own_endpoints_with_its_servers() {
    let (_sdir, server, mgmt) =
        acl_agent_with("127.0.2.17", "", "client {\n  enabled = false\n}").await;
    let read = client_token(&server, &mgmt, "readonly", READ_RULES).await;
    let write = client_token(&server, &mgmt, "readwrite", WRITE_RULES).await;
    let cdir = tempfile::tempdir().unwrap();
    let client = client_only(cdir.path(), "127.0.2.18", &server);
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
