//! etcd members for the benches that set Drover beside etcd: Debian's
//! `etcd-server` binary, spoken to through its JSON gateway (`/v3/...`),
//! killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::free_port;

/// How long members may take to start and elect a leader.
const START_DEADLINE: Duration = Duration::from_secs(30);

pub struct Member {
    pub child: Child,
    /// `http://<ip>:<client port>`, where the JSON gateway answers.
    pub base: String,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an `etcd` binary runs here.
pub fn installed() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One etcd cluster, a member on each of `ips`, formed from a static
/// `--initial-cluster`, every data directory (and log) under `root`, with
/// etcd's defaults otherwise. Returns once every member reports itself
/// healthy (a leader is elected); `None` when one does not start.
pub async fn start_cluster(root: &Path, ips: &[&str]) -> Option<Vec<Member>> {
    let ports: Vec<(u16, u16)> = ips.iter().map(|_| (free_port(), free_port())).collect();
    let url = |ip: &str, port: u16| format!("http://{ip}:{port}");
    let initial: Vec<String> = ips
        .iter()
        .zip(&ports)
        .enumerate()
        .map(|(i, (ip, (_, peer)))| format!("e{i}={}", url(ip, *peer)))
        .collect();
    let mut members = Vec::new();
    for (i, (ip, (client, peer))) in ips.iter().zip(&ports).enumerate() {
        let name = format!("e{i}");
        let log = std::fs::File::create(root.join(format!("{name}.log"))).ok()?;
        let child = Command::new("etcd")
            .args(["--name", &name, "--data-dir"])
            .arg(root.join(&name))
            .args(["--listen-client-urls", &url(ip, *client)])
            .args(["--advertise-client-urls", &url(ip, *client)])
            .args(["--listen-peer-urls", &url(ip, *peer)])
            .args(["--initial-advertise-peer-urls", &url(ip, *peer)])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "drover-bench"])
            .args(["--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        members.push(Member {
            child,
            base: url(ip, *client),
        });
    }
    let http = crate::common::plain_http().build().expect("HTTP client");
    let started = Instant::now();
    for m in &members {
        loop {
            let health = match http.get(format!("{}/health", m.base)).send().await {
                Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            if health["health"] == "true" {
                break;
            }
            if started.elapsed() > START_DEADLINE {
                println!(
                    "etcd member {} not healthy after {START_DEADLINE:?}: {health}",
                    m.base
                );
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Some(members)
}

/// The index in `members` of the one they agree leads; `None` while they
/// do not agree.
pub async fn leader(members: &[Member]) -> Option<usize> {
    let http = crate::common::plain_http().build().expect("HTTP client");
    let mut ids = Vec::new();
    let mut leaders = Vec::new();
    for m in members {
        let r = http
            .post(format!("{}/v3/maintenance/status", m.base))
            .json(&json!({}))
            .send()
            .await
            .ok()?;
        let status: Value = r.json().await.ok()?;
        ids.push(status["header"]["member_id"].as_str()?.to_string());
        leaders.push(status["leader"].as_str()?.to_string());
    }
    leaders.dedup();
    match leaders.as_slice() {
        [one] => ids.iter().position(|id| id == one),
        _ => None,
    }
}

/// Wait, with a deadline, until the members agree on a leader; its index.
pub async fn wait_leader(members: &[Member]) -> usize {
    let started = Instant::now();
    loop {
        if let Some(i) = leader(members).await {
            return i;
        }
        assert!(
            started.elapsed() < START_DEADLINE,
            "etcd members did not agree on a leader within {START_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bytes as the gateway takes them (proto `bytes` in JSON: base64).
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
