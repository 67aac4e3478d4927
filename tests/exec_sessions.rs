//! Exec and attach sessions on the event stream (`Exec` topic, a Drover
//! extension): each session's start and end, with who opened it, which
//! command and how it ended; visible only with `read-job` in its
//! namespace; and an open session closed with 1008 as soon as its token
//! is deleted or loses the capability, on a dev agent and on a
//! client-only agent that asks its servers. Addresses 127.0.3.60–.69.

mod common;
mod ws_client;

use std::time::{Duration, Instant};

use common::acl::*;
use common::{Agent, DEADLINE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The first `n` events of the `Exec` topic (from index 0) with `token`.
async fn exec_events(a: &Agent, token: Option<&str>, filter: &str, n: usize) -> Vec<Value> {
    let mut req =
        reqwest::Client::new().get(a.url(&format!("/v1/event/stream?topic=Exec:{filter}&index=0")));
    if let Some(t) = token {
        req = req.header("X-Nomad-Token", t);
    }
    let mut resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut events = Vec::new();
    common::read_events(&mut resp, &format!("{n} Exec events"), |e| {
        events.push(e.clone());
        events.len() >= n
    })
    .await;
    events
}

/// The events of each session, started then ended, in the order the
/// sessions started (one's end may come after the next one's start).
fn sessions(events: &[Value]) -> Vec<(Value, Value)> {
    let mut keys: Vec<&Value> = Vec::new();
    for e in events {
        if !keys.contains(&&e["Key"]) {
            keys.push(&e["Key"]);
        }
    }
    keys.iter()
        .map(|k| {
            let mine: Vec<&Value> = events.iter().filter(|e| &e["Key"] == *k).collect();
            assert_eq!(mine.len(), 2, "{mine:?}");
            (mine[0].clone(), mine[1].clone())
        })
        .collect()
}

/// Checks one session's two events and returns the ended record.
#[track_caller]
fn session_pair(started: &Value, ended: &Value, kind: &str, alloc: &str) -> Value {
    assert_eq!(started["Topic"], "Exec", "{started}");
    assert_eq!(started["Type"], "ExecSessionStarted", "{started}");
    assert_eq!(ended["Type"], "ExecSessionEnded", "{ended}");
    assert_eq!(started["Key"], ended["Key"]);
    let s = &started["Payload"]["ExecSession"];
    let e = ended["Payload"]["ExecSession"].clone();
    for x in [s, &e] {
        assert_eq!(x["Kind"], kind, "{x}");
        assert_eq!(x["AllocID"], alloc, "{x}");
        assert_eq!(x["JobID"], "sleeper", "{x}");
        assert_eq!(x["Namespace"], "default", "{x}");
        assert_eq!(x["TaskGroup"], "g", "{x}");
        assert_eq!(x["Task"], "t", "{x}");
        assert!(x["StartedAt"].as_i64().unwrap() > 0, "{x}");
    }
    assert_eq!(s["EndedAt"], 0, "{s}");
    assert!(e["EndedAt"].as_i64().unwrap() >= e["StartedAt"].as_i64().unwrap());
    assert_eq!(s["StartedAt"], e["StartedAt"]);
    assert_eq!(started["FilterKeys"], json!([alloc, "sleeper"]));
    e
}

#[tokio::test]
async fn every_exec_and_attach_session_is_recorded_with_how_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_on("127.0.3.60", dir.path(), "").await;
    let (alloc, node) = sleeper(&a, "sleeper").await;

    let command = r#"["/bin/sh","-c","echo hi; exit 3"]"#;
    let url = ws_client::url(
        &a.base,
        &alloc,
        "exec",
        &[("task", "t"), ("command", command)],
    );
    let mut ws = ws_client::connect(url, DEADLINE).await.unwrap();
    let out = ws_client::finish(&mut ws, DEADLINE).await;
    assert_eq!((out.stdout().as_str(), out.exit_code()), ("hi\n", Some(3)));

    let url = ws_client::url(&a.base, &alloc, "attach", &[("task", "t")]);
    let mut ws = ws_client::connect(url, DEADLINE).await.unwrap();
    assert_eq!(
        ws_client::close_and_read_answer(&mut ws, DEADLINE).await,
        Some(1000)
    );

    let events = exec_events(&a, None, "*", 4).await;
    let both = sessions(&events);
    let exec = session_pair(&both[0].0, &both[0].1, "exec", &alloc);
    assert_eq!(exec["Command"], json!(["/bin/sh", "-c", "echo hi; exit 3"]));
    assert_eq!(exec["NodeID"], node.as_str());
    assert_eq!(exec["Tty"], false);
    // No ACLs: nobody to name.
    assert_eq!(exec["AccessorID"], "");
    assert_eq!(
        (exec["ExitCode"].as_i64(), &exec["EndReason"]),
        (Some(3), &json!("exited"))
    );
    let attach = session_pair(&both[1].0, &both[1].1, "attach", &alloc);
    assert_eq!(attach["Command"], json!([]));
    assert_eq!(attach["ExitCode"], Value::Null);
    assert_eq!(attach["EndReason"], "closed by the user");
    // A session's allocation is one of its keys, another allocation not.
    let by_alloc = exec_events(&a, None, &alloc, 1).await;
    assert_eq!(by_alloc[0]["Key"], events[0]["Key"]);
}

/// A client token allowed to exec into the raw_exec sleeper; its secret
/// and accessor.
async fn exec_token(a: &Agent, mgmt: &str, name: &str) -> (String, String) {
    let secret = client_token(
        a,
        mgmt,
        name,
        "namespace \"default\" { capabilities = [\"alloc-exec\", \"alloc-node-exec\"] }",
    )
    .await;
    let (s, b) = call(a, Some(&secret), Method::GET, "/v1/acl/token/self", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let me: Value = serde_json::from_str(&b).unwrap();
    (secret, me["AccessorID"].as_str().unwrap().to_string())
}

/// Opens an exec of a shell that waits on its stdin, as `token`, through
/// `via`, and waits until its start is on record.
async fn open_shell(via: &Agent, alloc: &str, token: &str) -> ws_client::Socket {
    let url = ws_client::url(
        &via.base,
        alloc,
        "exec",
        &[("task", "t"), ("command", r#"["/bin/cat"]"#)],
    );
    let mut ws = ws_client::connect_with_token(url, token, DEADLINE)
        .await
        .unwrap();
    // The session answers: it is open and its watch is running.
    ws_client::stdin(&mut ws, b"ping\n").await;
    let mut out = ws_client::Outcome::default();
    ws_client::read_until(&mut ws, &mut out, DEADLINE, |o| o.stdout() == "ping\n").await;
    assert_eq!(out.close, None, "{out:?}");
    ws
}

/// Runs `revoke`, then waits for the session's close: 1008 with `reason`,
/// within a second of the revoke's answer.
async fn closed_within_a_second(
    ws: &mut ws_client::Socket,
    reason: &str,
    revoke: impl std::future::Future<Output = ()>,
) {
    revoke.await;
    let revoked = Instant::now();
    let out = ws_client::finish(ws, DEADLINE).await;
    let took = revoked.elapsed();
    ws_client::assert_closed(&out, 1008, reason);
    eprintln!("session closed {took:?} after the revoke");
    assert!(
        took < Duration::from_secs(1),
        "closed {took:?} after the revoke"
    );
}

#[tokio::test]
async fn a_revoked_token_closes_its_open_exec_session_at_once() {
    let (_dir, a, mgmt) = acl_agent("127.0.3.61", "").await;
    let (alloc, _) = sleeper(&a, "sleeper").await;
    let (secret, accessor) = exec_token(&a, &mgmt, "execer").await;

    let mut ws = open_shell(&a, &alloc, &secret).await;
    let started = exec_events(&a, Some(&mgmt), "*", 1).await;
    assert_eq!(
        started[0]["Payload"]["ExecSession"]["AccessorID"],
        accessor.as_str()
    );
    closed_within_a_second(&mut ws, "ACL token not found", async {
        let (s, b) = call(
            &a,
            Some(&mgmt),
            Method::DELETE,
            &format!("/v1/acl/token/{accessor}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    })
    .await;
    let events = exec_events(&a, Some(&mgmt), "*", 2).await;
    let ended = session_pair(&events[0], &events[1], "exec", &alloc);
    assert_eq!(ended["AccessorID"], accessor.as_str());
    assert_eq!(ended["EndReason"], "ACL token not found");
    // The deleted token opens nothing more, and the refusal is no session.
    let url = ws_client::url(
        &a.base,
        &alloc,
        "exec",
        &[("task", "t"), ("command", r#"["/bin/cat"]"#)],
    );
    assert!(ws_client::connect_with_token(url, &secret, DEADLINE)
        .await
        .is_err());

    // A policy that loses the capability ends the session too.
    let (secret, _) = exec_token(&a, &mgmt, "shrinking").await;
    let mut ws = open_shell(&a, &alloc, &secret).await;
    closed_within_a_second(&mut ws, "Permission denied", async {
        let policy =
            json!({"Name": "shrinking", "Rules": "namespace \"default\" { policy = \"read\" }"});
        let (s, b) = call(
            &a,
            Some(&mgmt),
            Method::PUT,
            "/v1/acl/policy/shrinking",
            Some(&policy),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    })
    .await;

    // Exec events need read-job in their namespace: a read token sees
    // them, a node-only token may not subscribe.
    let read = client_token(&a, &mgmt, "readonly", READ_RULES).await;
    assert_eq!(exec_events(&a, Some(&read), "*", 4).await.len(), 4);
    let node_only = client_token(&a, &mgmt, "nodeonly", "node { policy = \"read\" }").await;
    let (s, _) = call(
        &a,
        Some(&node_only),
        Method::GET,
        "/v1/event/stream?topic=Exec",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_client_only_agent_records_and_ends_sessions_through_its_servers() {
    let (_sdir, server, mgmt) =
        acl_agent_with("127.0.3.62", "", "client {\n  enabled = false\n}").await;
    let cdir = tempfile::tempdir().unwrap();
    let client = client_only_agent(cdir.path(), "127.0.3.63", &server);
    server
        .until("/v1/nodes", "the client's node ready", |v| {
            v.as_array()
                .is_some_and(|n| n.iter().any(|n| n["Status"] == "ready"))
        })
        .await;
    let (alloc, _) = sleeper(&server, "sleeper").await;
    // Straight to the client agent, and through the server.
    for (i, (via, name)) in [(&client, "the client"), (&server, "the server")]
        .into_iter()
        .enumerate()
    {
        let (secret, accessor) = exec_token(&server, &mgmt, &format!("execer-{i}")).await;
        let mut ws = open_shell(via, &alloc, &secret).await;
        closed_within_a_second(&mut ws, "ACL token not found", async {
            let (s, b) = call(
                &server,
                Some(&mgmt),
                Method::DELETE,
                &format!("/v1/acl/token/{accessor}"),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{name}: {b}");
        })
        .await;
    }
    let events = exec_events(&server, Some(&mgmt), "*", 4).await;
    for (started, ended) in sessions(&events) {
        let ended = session_pair(&started, &ended, "exec", &alloc);
        assert_eq!(ended["EndReason"], "ACL token not found", "{ended}");
        assert!(!ended["AccessorID"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_expiring_token_closes_its_session_when_it_expires() {
    let (_dir, a, mgmt) = acl_agent("127.0.3.64", "  token_min_expiration_ttl = \"1s\"\n").await;
    let (alloc, _) = sleeper(&a, "sleeper").await;
    let policy = json!({"Name": "execer", "Rules":
        "namespace \"default\" { capabilities = [\"alloc-exec\", \"alloc-node-exec\"] }"});
    let (s, b) = call(
        &a,
        Some(&mgmt),
        Method::PUT,
        "/v1/acl/policy/execer",
        Some(&policy),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token =
        json!({"Type": "client", "Policies": ["execer"], "ExpirationTTL": 3_000_000_000i64});
    let (s, b) = call(&a, Some(&mgmt), Method::PUT, "/v1/acl/token", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token: Value = serde_json::from_str(&b).unwrap();
    let expires =
        drover_api::time::parse_rfc3339(token["ExpirationTime"].as_str().unwrap()).unwrap();
    let mut ws = open_shell(&a, &alloc, token["SecretID"].as_str().unwrap()).await;
    let out = ws_client::finish(&mut ws, DEADLINE).await;
    ws_client::assert_closed(&out, 1008, "ACL token expired");
    // Closed at the expiry, not before: the token was good until then.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(
        now >= expires,
        "closed at {now}, the token expires at {expires}"
    );
}
