//! A dev agent bound to one loopback address of the caller's choosing,
//! for test files that keep their agents inside an address range of
//! their own.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Agent, DEADLINE};

/// `drover agent -dev` with every listener on `ip`, on free ports, its
/// data under `dir`. Does not wait for it: see [`ready`].
pub fn agent_on(dir: &Path, ip: &str) -> Agent {
    let port = || {
        TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (http, rpc) = (port(), port());
    let config = dir.join("agent.hcl");
    std::fs::write(
        &config,
        format!("bind_addr = \"{ip}\"\nports {{\n  http = {http}\n  rpc = {rpc}\n}}\n"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["agent", "-dev", "-log-level=warn", "-data-dir"])
        .arg(dir.join("data"))
        .arg("-config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
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

/// Waits until the agent answers and its own node is ready.
pub async fn ready(a: &Agent) {
    let started = Instant::now();
    loop {
        if let Ok(r) = a.http.get(a.url("/v1/nodes")).send().await {
            let nodes: Value = r.json().await.unwrap_or(Value::Null);
            let up = nodes
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["Status"] == "ready"));
            if up {
                return;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the dev agent at {} has no ready node after {DEADLINE:?}",
            a.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
