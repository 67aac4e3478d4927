//! ACLs on a real dev agent (`acl { enabled = true }`): bootstrap, policies
//! and tokens, and every endpoint's check against Nomad's documented
//! capability, with no token, a read token, a write token and a management
//! token. Addresses 127.0.2.10–127.0.2.14 and 127.0.2.16.

mod common;
mod ws_client;

use std::time::{Duration, Instant};

use common::acl::*;
use common::{Agent, DEADLINE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn every_endpoint_answers_each_kind_of_token_as_nomad_documents() {
    let (_dir, a, mgmt) = acl_agent("127.0.2.10", "").await;
    let read = client_token(&a, &mgmt, "readonly", READ_RULES).await;
    let write = client_token(&a, &mgmt, "readwrite", WRITE_RULES).await;
    let (alloc, node) = sleeper(&a, "sleeper").await;
    let tokens = [
        None,
        Some(read.as_str()),
        Some(write.as_str()),
        Some(mgmt.as_str()),
    ];

    let ok = StatusCode::OK;
    let no = StatusCode::FORBIDDEN;
    let blocked = json!({"Job": {"ID": "other", "Datacenters": ["nowhere"],
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/true"}}]}]}});
    let policy = json!({"Rules": "node { policy = \"read\" }"});
    let eligible = json!({"Eligibility": "eligible"});
    let signal = json!({"Task": "t", "Signal": "SIGCONT"});
    #[rustfmt::skip]
    let table: Vec<(Method, String, Option<&Value>, [StatusCode; 4])> = vec![
        (Method::GET, "/v1/status/leader".into(), None, [ok, ok, ok, ok]),
        (Method::GET, "/v1/agent/health".into(), None, [ok, ok, ok, ok]),
        (Method::GET, "/v1/regions".into(), None, [ok, ok, ok, ok]),
        (Method::GET, "/v1/jobs".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/job/sleeper".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/job/sleeper/allocations".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/job/sleeper/evaluations".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/job/sleeper/summary".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/job/sleeper/versions".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/allocations".into(), None, [no, ok, ok, ok]),
        (Method::GET, format!("/v1/allocation/{alloc}"), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/evaluations".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/deployments".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/nodes".into(), None, [no, ok, ok, ok]),
        (Method::GET, format!("/v1/node/{node}"), None, [no, ok, ok, ok]),
        (Method::GET, format!("/v1/node/{node}/allocations"), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/agent/self".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/agent/members".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/operator/raft/configuration".into(), None, [no, no, no, ok]),
        (Method::GET, "/v1/operator/scheduler/configuration".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/operator/autopilot/configuration".into(), None, [no, ok, ok, ok]),
        (Method::GET, format!("/v1/client/allocation/{alloc}/stats"), None, [no, ok, ok, ok]),
        (Method::GET, format!("/v1/client/fs/ls/{alloc}"), None, [no, no, ok, ok]),
        (Method::GET, format!("/v1/client/fs/logs/{alloc}?task=t&type=stdout"), None, [no, no, ok, ok]),
        (Method::GET, "/v1/acl/token/self".into(), None, [no, ok, ok, ok]),
        (Method::GET, "/v1/acl/policy/readonly".into(), None, [no, ok, no, ok]),
        (Method::GET, "/v1/acl/tokens".into(), None, [no, no, no, ok]),
        (Method::GET, "/v1/operator/snapshot".into(), None, [no, no, ok, ok]),
        (Method::POST, "/v1/job/sleeper/evaluate".into(), None, [no, no, ok, ok]),
        (Method::PUT, "/v1/jobs".into(), Some(&blocked), [no, no, ok, ok]),
        (Method::POST, format!("/v1/node/{node}/eligibility"), Some(&eligible), [no, no, ok, ok]),
        (Method::POST, format!("/v1/client/allocation/{alloc}/signal"), Some(&signal), [no, no, ok, ok]),
        (Method::PUT, "/v1/acl/policy/extra".into(), Some(&policy), [no, no, no, ok]),
        (Method::PUT, "/v1/system/gc".into(), None, [no, no, no, ok]),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, want) in &table {
        for (who, token) in tokens.iter().enumerate() {
            let (got, text) = call(&a, *token, method.clone(), path, *body).await;
            if got != want[who] {
                wrong.push(format!(
                    "{method} {path} as {}: {got} ({text}), want {}",
                    ["no token", "read", "write", "management"][who],
                    want[who]
                ));
            }
            if got == StatusCode::FORBIDDEN {
                assert!(
                    text == "Permission denied" || text == "ACL token not found",
                    "{method} {path}: 403 says {text:?}"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A refused register registers nothing.
    let refused = json!({"Job": {"ID": "refused", "Datacenters": ["nowhere"],
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}});
    let (s, _) = call(&a, Some(&read), Method::PUT, "/v1/jobs", Some(&refused)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(a.get("/v1/job/refused").await.0, StatusCode::NOT_FOUND);
    // The anonymous policy, once written, is what a request without a
    // token may do.
    let anon = json!({"Rules": "namespace \"default\" { policy = \"read\" }"});
    let (s, b) = call(
        &a,
        Some(&mgmt),
        Method::PUT,
        "/v1/acl/policy/anonymous",
        Some(&anon),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        call(&a, None, Method::GET, "/v1/jobs", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&a, None, Method::GET, "/v1/nodes", None).await.0,
        StatusCode::FORBIDDEN
    );
    // A bearer token works as the header does; an unknown one is refused.
    let r = reqwest::Client::new()
        .get(a.url("/v1/jobs"))
        .header("Authorization", format!("Bearer {read}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bogus = "00000000-0000-0000-0000-000000000000";
    let (s, b) = call(&a, Some(bogus), Method::GET, "/v1/jobs", None).await;
    assert_eq!(
        (s, b.as_str()),
        (StatusCode::FORBIDDEN, "ACL token not found")
    );
    // The token list pages as Nomad's, by CreateIndex.AccessorID.
    let mut seen = Vec::new();
    let mut path = "/v1/acl/tokens?per_page=2".to_string();
    loop {
        let (s, page, headers) = a.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        assert!(page.len() <= 2 && !page.is_empty(), "{page:?}");
        seen.extend(page.iter().map(|t| t["Name"].as_str().unwrap().to_string()));
        match headers.get("X-Nomad-NextToken") {
            Some(next) => {
                path = format!(
                    "/v1/acl/tokens?per_page=2&next_token={}",
                    next.to_str().unwrap()
                )
            }
            None => break,
        }
    }
    assert_eq!(seen, ["Bootstrap Token", "readonly", "readwrite"]);
    // While the scheduler configuration rejects registrations, only a
    // management token registers.
    let reject = json!({"SchedulerAlgorithm": "binpack", "RejectJobRegistration": true});
    let path = "/v1/operator/scheduler/configuration";
    let (s, b) = call(&a, Some(&mgmt), Method::PUT, path, Some(&reject)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = call(&a, Some(&write), Method::PUT, "/v1/jobs", Some(&blocked)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b.contains("disabled by the scheduler configuration"), "{b}");
    let (s, b) = call(&a, Some(&mgmt), Method::PUT, "/v1/jobs", Some(&blocked)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = call(&a, Some(bogus), Method::GET, "/v1/jobs", None).await;
    assert_eq!(
        (s, b.as_str()),
        (StatusCode::FORBIDDEN, "ACL token not found")
    );
}

#[tokio::test]
async fn a_read_token_cannot_exec_signal_restart_stop_or_read_logs() {
    let (_dir, a, mgmt) = acl_agent("127.0.2.11", "").await;
    let read = client_token(&a, &mgmt, "readonly", READ_RULES).await;
    let write = client_token(&a, &mgmt, "readwrite", WRITE_RULES).await;
    let node_exec = client_token(
        &a,
        &mgmt,
        "nodeexec",
        "namespace \"default\" { capabilities = [\"alloc-exec\", \"alloc-node-exec\"] }",
    )
    .await;
    let logs = client_token(
        &a,
        &mgmt,
        "readlogs",
        "namespace \"default\" {\n  policy = \"read\"\n  capabilities = [\"read-logs\"]\n}",
    )
    .await;
    let (alloc, node) = sleeper(&a, "sleeper").await;
    // Node read alone lists the node, not its allocations' jobs.
    let node_only = client_token(&a, &mgmt, "nodeonly", "node { policy = \"read\" }").await;
    let path = format!("/v1/node/{node}/allocations");
    let (s, b) = call(&a, Some(&node_only), Method::GET, &path, None).await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "[]"));
    let (s, b) = call(&a, Some(&read), Method::GET, &path, None).await;
    assert!(s == StatusCode::OK && b.contains(&alloc), "{b}");
    let exec = format!("/v1/client/allocation/{alloc}/exec?task=t&command=%5B%22echo%22%5D");
    let refused: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, exec.clone(), None),
        (
            Method::GET,
            format!("/v1/client/allocation/{alloc}/attach?task=t"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/client/allocation/{alloc}/signal"),
            Some(json!({"Task": "t", "Signal": "SIGKILL"})),
        ),
        (
            Method::POST,
            format!("/v1/client/allocation/{alloc}/restart"),
            Some(json!({"TaskName": "t"})),
        ),
        (Method::POST, format!("/v1/allocation/{alloc}/stop"), None),
        (Method::DELETE, "/v1/job/sleeper?purge=true".into(), None),
        (
            Method::GET,
            format!("/v1/client/fs/logs/{alloc}?task=t&type=stdout"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/client/fs/cat/{alloc}?path=alloc/logs/t.stdout.0"),
            None,
        ),
    ];
    for (method, path, body) in &refused {
        let (s, b) = call(&a, Some(&read), method.clone(), path, body.as_ref()).await;
        assert_eq!(
            (s, b.as_str()),
            (StatusCode::FORBIDDEN, "Permission denied"),
            "{method} {path}"
        );
    }
    // `write` grants alloc-exec, but a raw_exec task also needs
    // alloc-node-exec; with both the check passes (and the plain GET is
    // then refused only for not being a WebSocket).
    let (s, _) = call(&a, Some(&write), Method::GET, &exec, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = call(&a, Some(&node_exec), Method::GET, &exec, None).await;
    assert!(s != StatusCode::FORBIDDEN && !s.is_success(), "{s} {b}");
    // read-logs added to read: the logs, and still not the files.
    let logs_path = format!("/v1/client/fs/logs/{alloc}?task=t&type=stdout&plain=true");
    assert_eq!(
        call(&a, Some(&logs), Method::GET, &logs_path, None).await.0,
        StatusCode::OK
    );
    // Nothing happened to the task.
    let (_, v, _) = a.get(&format!("/v1/allocation/{alloc}")).await;
    assert_eq!(v["DesiredStatus"], "run", "{v}");
    assert_eq!(v["TaskStates"]["t"]["State"], "running", "{v}");
    assert_eq!(v["TaskStates"]["t"]["Restarts"], 0, "{v}");
    let (_, job, _) = a.get("/v1/job/sleeper").await;
    assert_eq!(job["Stop"], false, "{job}");
}

#[tokio::test]
async fn the_exec_handshake_frame_carries_the_token() {
    let (_dir, a, mgmt) = acl_agent("127.0.2.16", "").await;
    let read = client_token(&a, &mgmt, "readonly", READ_RULES).await;
    let exec = client_token(
        &a,
        &mgmt,
        "nodeexec",
        "namespace \"default\" { capabilities = [\"alloc-exec\", \"alloc-node-exec\"] }",
    )
    .await;
    let (alloc, _) = sleeper(&a, "sleeper").await;
    let url = ws_client::url(
        &a.base,
        &alloc,
        "exec",
        &[
            ("task", "t"),
            ("command", r#"["echo","hi"]"#),
            ("ws_handshake", "true"),
        ],
    );
    let mut ws = ws_client::connect(url.clone(), DEADLINE).await.unwrap();
    ws_client::send(&mut ws, json!({"version": 1, "auth_token": exec})).await;
    let out = ws_client::finish(&mut ws, DEADLINE).await;
    assert_eq!(
        (out.stdout().as_str(), out.exit_code()),
        ("hi\n", Some(0)),
        "{out:?}"
    );

    // A header token must be the frame's.
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.clone())
            .unwrap();
    req.headers_mut()
        .insert("X-Nomad-Token", read.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws_client::send(&mut ws, json!({"version": 1, "auth_token": exec})).await;
    let out = ws_client::finish(&mut ws, DEADLINE).await;
    ws_client::assert_closed(&out, 1008, "mismatched auth header token");
    for (token, reason) in [
        (read.as_str(), "Permission denied"),
        ("nope", "ACL token not found"),
    ] {
        let mut ws = ws_client::connect(url.clone(), DEADLINE).await.unwrap();
        ws_client::send(&mut ws, json!({"version": 1, "auth_token": token})).await;
        let out = ws_client::finish(&mut ws, DEADLINE).await;
        ws_client::assert_closed(&out, 1008, reason);
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

#[tokio::test]
async fn bad_policies_bootstraps_and_tokens_are_400s_naming_the_problem() {
    let (_dir, a, mgmt) = acl_agent("127.0.2.12", "").await;
    let m = Some(mgmt.as_str());
    let (s, b) = call(&a, None, Method::POST, "/v1/acl/bootstrap", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b.starts_with("ACL bootstrap already done (reset index: "),
        "{b}"
    );

    let put = |rules: &str| json!({"Rules": rules});
    let cases = [
        (
            "namespace \"default\" {\n  policy = \"read\"\n  capabilities = [\n",
            "line 3",
        ),
        (
            "namespace \"default\" {\n  policy = \"read\"\n  capabilities = [\"frobnicate\"]\n}",
            "line 3: Invalid namespace capability 'frobnicate'",
        ),
        (
            "namespace \"default\" {\n  policy = \"admin\"\n}",
            "line 2: Invalid namespace policy",
        ),
        ("\nfrobnicate { policy = \"read\" }", "line 2"),
    ];
    for (rules, want) in cases {
        let (s, b) = call(&a, m, Method::PUT, "/v1/acl/policy/bad", Some(&put(rules))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{rules}: {b}");
        assert!(b.contains(want) && b.starts_with("Rules: "), "{rules}: {b}");
    }
    let (s, b) = call(&a, m, Method::GET, "/v1/acl/policy/bad", None).await;
    assert_eq!(
        (s, b.as_str()),
        (StatusCode::NOT_FOUND, "ACL policy not found")
    );
    let (s, b) = call(
        &a,
        m,
        Method::PUT,
        "/v1/acl/policy/bad%20name",
        Some(&put(READ_RULES)),
    )
    .await;
    assert!(
        s == StatusCode::BAD_REQUEST && b.starts_with("Name: "),
        "{s} {b}"
    );

    let tokens = [
        (
            json!({"Type": "root"}),
            "token type must be client or management",
        ),
        (json!({"Type": "client"}), "client token missing policies"),
        (
            json!({"Type": "management", "Policies": ["x"]}),
            "management token cannot be associated with policies",
        ),
        (
            json!({"Type": "client", "Policies": ["x"], "ExpirationTTL": 1_000_000_000}),
            "expiration time cannot be less than 1m0s in the future",
        ),
        (
            json!({"Type": "client", "Policies": ["x"], "ExpirationTTL": -1}),
            "should not be negative",
        ),
    ];
    for (body, want) in tokens {
        let (s, b) = call(&a, m, Method::PUT, "/v1/acl/token", Some(&body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert!(b.contains(want), "{body}: {b}");
    }
    let (s, b) = call(&a, m, Method::GET, "/v1/acl/tokens", None).await;
    assert_eq!(s, StatusCode::OK);
    let list: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "only the bootstrap token: {list}"
    );
    assert!(list[0].get("SecretID").is_none(), "{list}");

    // An update changes name, type and policies; secret, creation and
    // expiry stay, and what Nomad forbids changing is refused.
    let read = json!({"Rules": READ_RULES});
    let (s, b) = call(&a, m, Method::PUT, "/v1/acl/policy/readonly", Some(&read)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let new = json!({"Name": "before", "Type": "management"});
    let (s, b) = call(&a, m, Method::PUT, "/v1/acl/token", Some(&new)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let t: Value = serde_json::from_str(&b).unwrap();
    let (secret, accessor) = (
        t["SecretID"].as_str().unwrap(),
        t["AccessorID"].as_str().unwrap(),
    );
    let path = format!("/v1/acl/token/{accessor}");
    let change = json!({"Name": "after", "Type": "client", "Policies": ["readonly"]});
    let (s, b) = call(&a, m, Method::POST, &path, Some(&change)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, me) = call(&a, Some(secret), Method::GET, "/v1/acl/token/self", None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(
        (me["Name"].as_str(), me["Type"].as_str()),
        (Some("after"), Some("client"))
    );
    assert_eq!(me["CreateTime"], t["CreateTime"]);
    assert_eq!(
        call(&a, Some(secret), Method::GET, "/v1/acl/tokens", None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let global = json!({"Type": "client", "Policies": ["readonly"], "Global": true});
    let (s, b) = call(&a, m, Method::POST, &path, Some(&global)).await;
    assert!(
        s == StatusCode::BAD_REQUEST && b.contains("cannot toggle global mode"),
        "{s} {b}"
    );
    let other = json!({"AccessorID": "someone-else", "Type": "client", "Policies": ["readonly"]});
    let (s, b) = call(&a, m, Method::POST, &path, Some(&other)).await;
    assert!(
        s == StatusCode::BAD_REQUEST && b.starts_with("AccessorID: "),
        "{s} {b}"
    );
    let missing = "/v1/acl/token/00000000-0000-0000-0000-000000000000";
    let (s, b) = call(&a, m, Method::POST, missing, Some(&change)).await;
    assert!(
        s == StatusCode::BAD_REQUEST && b.contains("cannot find token"),
        "{s} {b}"
    );
    // Only a management token, or the token itself, reads a token.
    let (s, _) = call(&a, Some(secret), Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::OK);
    let boot = format!("/v1/acl/token/{}", list[0]["AccessorID"].as_str().unwrap());
    let (s, b) = call(&a, Some(secret), Method::GET, &boot, None).await;
    assert_eq!(
        (s, b.as_str()),
        (StatusCode::FORBIDDEN, "Permission denied")
    );
}

#[tokio::test]
async fn expired_and_deleted_tokens_are_refused_at_once() {
    let (_dir, a, mgmt) = acl_agent("127.0.2.13", "  token_min_expiration_ttl = \"1s\"\n").await;
    let m = Some(mgmt.as_str());
    let policy = json!({"Rules": READ_RULES});
    let (s, b) = call(&a, m, Method::PUT, "/v1/acl/policy/readonly", Some(&policy)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let new_token = |ttl: i64| json!({"Name": "t", "Type": "client", "Policies": ["readonly"], "ExpirationTTL": ttl});
    let (s, b) = call(
        &a,
        m,
        Method::PUT,
        "/v1/acl/token",
        Some(&new_token(2_000_000_000)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let short: Value = serde_json::from_str(&b).unwrap();
    let secret = short["SecretID"].as_str().unwrap().to_string();
    assert!(short["ExpirationTime"].is_string(), "{short}");
    let expires =
        drover_api::time::parse_rfc3339(short["ExpirationTime"].as_str().unwrap()).unwrap();
    // Usable until it expires, refused from then on.
    let started = Instant::now();
    loop {
        let (s, b) = call(&a, Some(&secret), Method::GET, "/v1/jobs", None).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        if s == StatusCode::FORBIDDEN {
            assert_eq!(b, "ACL token expired");
            assert!(now >= expires, "refused before its expiry");
            break;
        }
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(
            now < expires + 1_000_000_000,
            "still accepted a second after its expiry"
        );
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (s, b) = call(&a, m, Method::PUT, "/v1/acl/token", Some(&new_token(0))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let t: Value = serde_json::from_str(&b).unwrap();
    let (secret, accessor) = (
        t["SecretID"].as_str().unwrap(),
        t["AccessorID"].as_str().unwrap(),
    );
    assert_eq!(
        call(&a, Some(secret), Method::GET, "/v1/jobs", None)
            .await
            .0,
        StatusCode::OK
    );
    let (s, me) = call(&a, Some(secret), Method::GET, "/v1/acl/token/self", None).await;
    assert_eq!(s, StatusCode::OK);
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(
        (me["AccessorID"].as_str(), me["SecretID"].as_str()),
        (Some(accessor), Some(secret))
    );
    let (s, b) = call(
        &a,
        m,
        Method::DELETE,
        &format!("/v1/acl/token/{accessor}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = call(&a, Some(secret), Method::GET, "/v1/jobs", None).await;
    assert_eq!(
        (s, b.as_str()),
        (StatusCode::FORBIDDEN, "ACL token not found")
    );
}

#[tokio::test]
async fn without_acls_the_acl_endpoints_say_so_and_nothing_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_on("127.0.2.14", dir.path(), "").await;
    let (s, b) = call(&a, None, Method::POST, "/v1/acl/bootstrap", None).await;
    assert_eq!(
        (s, b.as_str()),
        (StatusCode::BAD_REQUEST, "ACL support disabled")
    );
    let bogus = "00000000-0000-0000-0000-000000000000";
    assert_eq!(
        call(&a, Some(bogus), Method::GET, "/v1/jobs", None).await.0,
        StatusCode::OK
    );
}
