//! Random tokens and paths against a real dev agent with ACLs on: no
//! request gets a 2xx that the route table
//! (`drover_server::acl::routes`) and the token's compiled policies do not
//! allow, and an unknown token gets nothing but 403 past the open routes.
//! Address 127.0.2.15.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::acl::acl_agent;
use drover_server::acl::routes::{need, Need};
use drover_server::acl::{policy, Acl};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const POLICIES: &[&str] = &[
    "namespace \"default\" { policy = \"read\" }",
    "namespace \"default\" { capabilities = [\"read-logs\"] }",
    "node { policy = \"read\" }\nagent { policy = \"write\" }",
    "namespace \"*\" { capabilities = [\"submit-job\", \"alloc-lifecycle\"] }",
    "namespace \"def*\" { policy = \"scale\" }\noperator { policy = \"read\" }",
    "namespace \"default\" { policy = \"deny\" }\nnamespace \"*\" { policy = \"write\" }",
];

const PATHS: &[&str] = &[
    "/v1/jobs",
    "/v1/jobs/parse",
    "/v1/job/{job}",
    "/v1/job/{job}/allocations",
    "/v1/job/{job}/evaluate",
    "/v1/job/{job}/scale",
    "/v1/job/{job}/dispatch",
    "/v1/job/{job}/plan",
    "/v1/job/{job}/versions",
    "/v1/allocations",
    "/v1/allocation/{alloc}",
    "/v1/allocation/{alloc}/stop",
    "/v1/evaluations",
    "/v1/evaluation/{rand}",
    "/v1/deployments",
    "/v1/nodes",
    "/v1/node/{node}",
    "/v1/node/{node}/allocations",
    "/v1/node/{node}/eligibility",
    "/v1/node/pools",
    "/v1/client/fs/logs/{alloc}",
    "/v1/client/fs/cat/{alloc}",
    "/v1/client/fs/ls/{alloc}",
    "/v1/client/allocation/{alloc}/signal",
    "/v1/client/allocation/{alloc}/stats",
    "/v1/client/allocation/{alloc}/exec",
    "/v1/client/stats",
    "/v1/agent/self",
    "/v1/agent/members",
    "/v1/agent/servers",
    "/v1/operator/raft/configuration",
    "/v1/operator/scheduler/configuration",
    "/v1/operator/autopilot/health",
    "/v1/acl/tokens",
    "/v1/acl/token",
    "/v1/acl/token/{rand}",
    "/v1/acl/policies",
    "/v1/acl/policy/{rand}",
    "/v1/search",
    "/v1/scaling/policies",
    "/v1/namespaces",
    "/v1/system/gc",
    "/v1/status/leader",
    "/v1/{rand}",
    "/v1/job/{rand}/{rand}",
];

/// Whether the table and the ACL allow the call at all (an `Handler` or
/// named-namespace route is the handler's to refuse, so any answer goes).
fn may_succeed(acl: Option<&Acl>, method: &Method, path: &str) -> bool {
    let need = need(method, path);
    let Some(acl) = acl else {
        return matches!(need, Need::Nothing | Need::NodeRpc);
    };
    let ns = |caps: &[&str]| {
        caps.iter()
            .any(|c| acl.allow_namespace_operation("default", c))
    };
    match need {
        Need::Nothing | Need::NodeRpc | Need::Handler | Need::NamedNs | Need::EventStream => true,
        Need::AnyToken => true,
        Need::Management => acl.is_management(),
        Need::Ns(caps) | Need::JobBodyNs(caps) | Need::AllocNs(caps) => ns(caps),
        Need::NodeRead => acl.allow_node_read(),
        Need::NodeWrite => acl.allow_node_write(),
        Need::NodePoolRead => acl.is_management(),
        Need::AgentRead => acl.allow_agent_read(),
        Need::AgentWrite => acl.allow_agent_write(),
        Need::OperatorRead => acl.allow_operator_read(),
        Need::OperatorWrite => acl.allow_operator_write(),
        Need::OperatorSnapshotSave => acl.allow_operator_operation("snapshot-save"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_tokens_and_paths_never_get_past_the_authoriser() {
    let (_dir, a, _) = acl_agent("127.0.2.15", "").await;
    let http = reqwest::Client::new();
    // Each policy as a token of its own; the compiled ACL is the oracle.
    let mut tokens: Vec<(String, Acl)> = Vec::new();
    for (i, rules) in POLICIES.iter().enumerate() {
        let name = format!("p{i}");
        let r = a
            .http
            .put(a.url(&format!("/v1/acl/policy/{name}")))
            .json(&json!({"Rules": rules}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{rules}");
        let t: Value = a
            .http
            .put(a.url("/v1/acl/token"))
            .json(&json!({"Type": "client", "Policies": [name]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let acl = Acl::compile(&[policy::parse(rules).unwrap()]);
        tokens.push((t["SecretID"].as_str().unwrap().to_string(), acl));
    }
    common::submit(
        &a,
        json!({"ID": "sleeper", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1000"]}}]}]}),
    )
    .await;
    let list = a
        .until("/v1/job/sleeper/allocations", "an allocation", |v| {
            v.as_array().is_some_and(|l| l.len() == 1)
        })
        .await;
    let alloc = list[0]["ID"].as_str().unwrap().to_string();
    let node = list[0]["NodeID"].as_str().unwrap().to_string();

    let methods = [Method::GET, Method::PUT, Method::POST, Method::DELETE];
    let strategy = (
        0..tokens.len() + 2,
        // Mostly reads, which succeed more often than random writes.
        prop::sample::select(vec![0usize, 0, 0, 0, 1, 2, 3]),
        0..PATHS.len(),
        "[a-z0-9-]{1,12}",
        any::<bool>(),
    );
    let handle = tokio::runtime::Handle::current();
    // How many calls got through and how many were refused: the property
    // means little unless both happen.
    let (passed, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |(who, m, p, rand, use_real)| {
        let method = methods[m].clone();
        let job = if use_real { "sleeper" } else { rand.as_str() };
        let path = PATHS[p]
            .replace("{job}", job)
            .replace("{alloc}", if use_real { &alloc } else { &rand })
            .replace("{node}", if use_real { &node } else { &rand })
            .replace("{rand}", &rand);
        // 0: no token; 1: a token that does not exist; then the policies.
        let (secret, acl) = match who {
            0 => (None, None),
            1 => (Some(uuid_like(&rand)), None),
            i => {
                let (s, acl) = &tokens[i - 2];
                (Some(s.clone()), Some(acl))
            }
        };
        let (status, body) = tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut req = http
                    .request(method.clone(), a.url(&path))
                    .timeout(std::time::Duration::from_secs(10));
                if let Some(s) = &secret {
                    req = req.header("X-Nomad-Token", s);
                }
                if method != Method::GET && method != Method::DELETE {
                    req = req.json(&json!({}));
                }
                let r = req.send().await.unwrap();
                let status = r.status();
                (status, r.text().await.unwrap_or_default())
            })
        });
        // An anonymous request is held to no policy (there is no
        // `anonymous` policy here).
        let anon = Acl::default();
        let oracle = match who {
            1 => None,
            0 => Some(&anon),
            _ => acl,
        };
        if status.is_success() {
            passed.fetch_add(1, Ordering::Relaxed);
        } else if status == StatusCode::FORBIDDEN {
            refused.fetch_add(1, Ordering::Relaxed);
        }
        prop_assert!(
            !status.is_success() || may_succeed(oracle, &method, &path),
            "{method} {path} as token {who}: {status} {body}"
        );
        if who == 1 && !may_succeed(None, &method, &path) {
            prop_assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{} {}: {}",
                method,
                path,
                body
            );
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (passed, refused) = (passed.into_inner(), refused.into_inner());
    assert!(
        passed >= 5 && refused >= 50,
        "{passed} passed, {refused} refused"
    );
}

/// A UUID-shaped secret no token has.
fn uuid_like(seed: &str) -> String {
    let hex: String = seed
        .bytes()
        .map(|b| format!("{:x}", b % 16))
        .chain(std::iter::repeat("0".to_string()))
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
