//! A server on 127.0.0.1 for HTTP tests: real Raft on real sled files in a
//! temporary directory, real sockets.
#![allow(dead_code)]

use drover_api::{DriverInfo, Node, NodeStatus};
use drover_server::agent::{start, RunningServer, ServerOptions};
use drover_state::command::NodeRegister;
use drover_state::Command;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

pub const T0: i64 = 1_700_000_000_000_000_000;

pub struct Srv {
    _dir: TempDir,
    pub s: RunningServer,
    pub http: reqwest::Client,
}

impl Srv {
    /// A server without scheduler workers: evaluations stay as written.
    pub async fn start() -> Srv {
        Self::start_with(0).await
    }

    /// A server whose leader schedules evaluations.
    pub async fn start_scheduling() -> Srv {
        Self::start_with(2).await
    }

    async fn start_with(num_schedulers: usize) -> Srv {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ServerOptions::local(dir.path());
        opts.num_schedulers = num_schedulers;
        let s = start(opts).await.expect("server starts");
        Srv {
            _dir: dir,
            s,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.s.http_addr, path)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value, String) {
        let r = self
            .http
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }

    /// `PUT` a JSON body; the status and the body as text.
    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, String) {
        let r = self
            .http
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Write a command through Raft; insist it was accepted.
    pub async fn write(&self, cmd: Command) -> u64 {
        let out = self.s.raft.write(cmd).await.expect("write");
        assert_eq!(out.result, Ok(()));
        out.index
    }

    /// Register a ready dc1 node with a healthy raw_exec driver, `cpu` MHz,
    /// `mem` MB, 100 GB of disk and the given attributes.
    pub async fn register_sized_node(
        &self,
        id: &str,
        cpu: i64,
        mem: i64,
        attrs: &[(&str, &str)],
    ) -> u64 {
        let node = Node {
            id: id.into(),
            name: id.into(),
            datacenter: "dc1".into(),
            node_pool: "default".into(),
            status: NodeStatus::Ready,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            drivers: [(
                "raw_exec".to_string(),
                DriverInfo {
                    detected: true,
                    healthy: true,
                    ..Default::default()
                },
            )]
            .into(),
            node_resources: drover_api::NodeResources {
                cpu: drover_api::NodeCpuResources {
                    cpu_shares: cpu,
                    ..Default::default()
                },
                memory: drover_api::NodeMemoryResources { memory_mb: mem },
                disk: drover_api::NodeDiskResources { disk_mb: 100_000 },
                ..Default::default()
            },
            ..Default::default()
        };
        self.write(Command::NodeRegister(NodeRegister {
            node,
            evals: vec![],
            now: T0,
        }))
        .await
    }

    pub async fn register_node(&self, id: &str) -> u64 {
        let node = Node {
            id: id.into(),
            name: format!("node-{id}"),
            datacenter: "dc1".into(),
            status: NodeStatus::Ready,
            drivers: [(
                "raw_exec".to_string(),
                DriverInfo {
                    detected: true,
                    healthy: true,
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        };
        self.write(Command::NodeRegister(NodeRegister {
            node,
            evals: vec![],
            now: T0,
        }))
        .await
    }
}

impl Srv {
    /// A server with `num_schedulers` workers and options adjusted by `f`
    /// (heartbeat TTLs, for instance).
    pub async fn start_opts(num_schedulers: usize, f: impl FnOnce(&mut ServerOptions)) -> Srv {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ServerOptions::local(dir.path());
        opts.num_schedulers = num_schedulers;
        f(&mut opts);
        let s = start(opts).await.expect("server starts");
        Srv {
            _dir: dir,
            s,
            http: reqwest::Client::new(),
        }
    }
}

/// Poll `path` until `pred` holds; fail with `what` after 20 s.
pub async fn until(srv: &Srv, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (_, v) = srv.get(path).await;
        if pred(&v) {
            return v;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
