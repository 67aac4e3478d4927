//! What the ACL tests share: a dev agent with ACLs on and bootstrapped,
//! policies with client tokens, calls with a given token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::Agent;

pub const READ_RULES: &str = r#"
namespace "*" { policy = "read" }
node { policy = "read" }
agent { policy = "read" }
operator { policy = "read" }
"#;

pub const WRITE_RULES: &str = r#"
namespace "*" { policy = "write" }
node { policy = "write" }
agent { policy = "write" }
operator { policy = "write" }
"#;

/// A dev agent with ACLs on, bootstrapped; its HTTP client sends the
/// management token, which is returned too.
pub async fn acl_agent(ip: &str, extra: &str) -> (tempfile::TempDir, Agent, String) {
    acl_agent_with(ip, extra, "").await
}

/// [`acl_agent`] with more agent configuration besides the `acl` block.
pub async fn acl_agent_with(
    ip: &str,
    extra: &str,
    config: &str,
) -> (tempfile::TempDir, Agent, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("acl {{\n  enabled = true\n{extra}}}\n{config}\n");
    let mut a = Agent::start_on(ip, dir.path(), &config).await;
    let (status, boot) = call(&a, None, Method::POST, "/v1/acl/bootstrap", None).await;
    assert_eq!(status, StatusCode::OK, "{boot}");
    let boot: Value = serde_json::from_str(&boot).unwrap();
    assert_eq!(boot["Type"], "management");
    assert_eq!(boot["Name"], "Bootstrap Token");
    let secret = boot["SecretID"].as_str().unwrap().to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("X-Nomad-Token", secret.parse().unwrap());
    a.http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    (dir, a, secret)
}

/// One request with `token` (none: anonymous); the status and body text.
pub async fn call(
    a: &Agent,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, String) {
    // A client of its own: the agent's sends the management token.
    let mut req = reqwest::Client::new().request(method, a.url(path));
    if let Some(t) = token {
        req = req.header("X-Nomad-Token", t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A policy named `name` with `rules` and a client token holding it; the
/// token's secret.
pub async fn client_token(a: &Agent, mgmt: &str, name: &str, rules: &str) -> String {
    let policy = json!({"Name": name, "Description": "test", "Rules": rules});
    let (s, b) = call(
        a,
        Some(mgmt),
        Method::PUT,
        &format!("/v1/acl/policy/{name}"),
        Some(&policy),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = json!({"Name": name, "Type": "client", "Policies": [name]});
    let (s, b) = call(a, Some(mgmt), Method::PUT, "/v1/acl/token", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let t: Value = serde_json::from_str(&b).unwrap();
    t["SecretID"].as_str().unwrap().to_string()
}

/// A raw_exec service job `job` whose task `t` sleeps; its running
/// allocation's ID and node ID.
pub async fn sleeper(a: &Agent, job: &str) -> (String, String) {
    super::submit(
        a,
        json!({"ID": job, "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1000"]}}]}]}),
    )
    .await;
    let list = a
        .until(
            &format!("/v1/job/{job}/allocations"),
            "the alloc running",
            |v| {
                v.as_array()
                    .is_some_and(|l| l.len() == 1 && l[0]["TaskStates"]["t"]["State"] == "running")
            },
        )
        .await;
    (
        list[0]["ID"].as_str().unwrap().to_string(),
        list[0]["NodeID"].as_str().unwrap().to_string(),
    )
}

/// A client-only agent on `ip` with ACLs on, joined to `server`.
pub fn client_only_agent(dir: &std::path::Path, ip: &str, server: &Agent) -> Agent {
    let http = super::free_port_on(ip);
    let config = dir.join("client.hcl");
    std::fs::write(
        &config,
        format!(
            "bind_addr = \"{ip}\"\nports {{\n  http = {http}\n}}\nacl {{\n  enabled = true\n}}\nclient {{\n  options = {{\n    \"driver.raw_exec.enable\" = \"1\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let servers = server.base.trim_start_matches("http://").to_string();
    let mut agent = Agent::spawn(
        &["agent", "-client", "-servers", &servers],
        dir,
        &config,
        http,
    );
    agent.base = format!("http://{ip}:{http}");
    agent
}
