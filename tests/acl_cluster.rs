//! ACLs on three real servers: bootstrap, policies and tokens written on
//! followers go through the leader and Raft, every server then resolves
//! the token from its own state (a `stale` read is checked where it is
//! served), a deleted token is refused everywhere, and the three states,
//! ACL tables included, are identical. Addresses 127.0.2.21–127.0.2.23.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{assert_same_state, form_three, Server};
use common::DEADLINE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// `method path` on `s` with `token`: status and body.
async fn call(
    s: &Server,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", s.base()));
    if let Some(t) = token {
        req = req.header("X-Nomad-Token", t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Poll until `s` answers `path` (a stale read, checked on `s` itself)
/// with `want` for `token`.
async fn until_status(s: &Server, token: &str, path: &str, want: StatusCode) {
    let started = Instant::now();
    loop {
        let (got, body) = call(s, Some(token), Method::GET, path, None).await;
        if got == want {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{}: {path} still {got} ({body}), want {want}",
            s.ip
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn acl_writes_replicate_and_every_server_checks_tokens_alike() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<_> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let ips = ["127.0.2.21", "127.0.2.22", "127.0.2.23"];
    let (mut servers, _, leader) = form_three(&paths, &ips, "acl {\n  enabled = true\n}").await;
    let (f1, f2) = ((leader + 1) % 3, (leader + 2) % 3);

    // Bootstrap on a follower: forwarded, applied once.
    let (s, boot) = call(&servers[f1], None, Method::POST, "/v1/acl/bootstrap", None).await;
    assert_eq!(s, StatusCode::OK, "{boot}");
    let mgmt = boot["SecretID"].as_str().unwrap().to_string();
    let (s, again) = call(&servers[f2], None, Method::POST, "/v1/acl/bootstrap", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");
    // The harness's own reads (state saves) need the management token.
    for server in &mut servers {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("X-Nomad-Token", mgmt.parse().unwrap());
        server.client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
    }

    // A policy and a token written on the other follower.
    let policy = json!({"Rules": "namespace \"default\" { policy = \"read\" }"});
    let m = Some(mgmt.as_str());
    let (s, b) = call(
        &servers[f2],
        m,
        Method::PUT,
        "/v1/acl/policy/readonly",
        Some(&policy),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = json!({"Name": "ro", "Type": "client", "Policies": ["readonly"]});
    let (s, t) = call(&servers[f2], m, Method::PUT, "/v1/acl/token", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (secret, accessor) = (
        t["SecretID"].as_str().unwrap().to_string(),
        t["AccessorID"].as_str().unwrap().to_string(),
    );

    // Every server resolves it from its own state, and refuses what it
    // does not allow.
    for s in &servers {
        until_status(s, &secret, "/v1/jobs?stale=true", StatusCode::OK).await;
        let (got, _) = call(s, Some(&secret), Method::GET, "/v1/nodes?stale=true", None).await;
        assert_eq!(got, StatusCode::FORBIDDEN, "{}", s.ip);
        let (got, _) = call(s, None, Method::GET, "/v1/jobs?stale=true", None).await;
        assert_eq!(got, StatusCode::FORBIDDEN, "{}", s.ip);
        // A write through any server is checked on the leader.
        let job = json!({"Job": {"ID": "x", "Datacenters": ["nowhere"],
            "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}});
        let (got, _) = call(s, Some(&secret), Method::PUT, "/v1/jobs", Some(&job)).await;
        assert_eq!(got, StatusCode::FORBIDDEN, "{}", s.ip);
    }
    let all: Vec<&Server> = servers.iter().collect();
    assert_same_state(&all).await;

    // Deleted on one server, refused on every one.
    let path = format!("/v1/acl/token/{accessor}");
    let (s, b) = call(&servers[f1], m, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for s in &servers {
        until_status(s, &secret, "/v1/jobs?stale=true", StatusCode::FORBIDDEN).await;
        let (_, body) = call(s, Some(&secret), Method::GET, "/v1/jobs?stale=true", None).await;
        assert_eq!(body, "ACL token not found", "{}", s.ip);
    }
    assert_same_state(&all).await;
}
