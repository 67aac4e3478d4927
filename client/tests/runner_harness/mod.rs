//! The runner tests' harness: a raw_exec driver with the real log
//! collector, a temporary alloc root, and the update channel to wait on.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_api::{
    AllocClientStatus, AllocClientUpdateEntry, Allocation, Job, JobType, Node, RestartPolicy, Task,
    TaskGroup, TaskState,
};
use drover_client::driver::raw_exec::{LogmonCommand, RawExecConfig, RawExecDriver};
use drover_client::driver::Driver;
use drover_client::runner::RunnerConfig;
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::mpsc;

pub const SEC: i64 = 1_000_000_000;

pub struct Harness {
    pub _tmp: TempDir,
    pub cfg: Arc<RunnerConfig>,
    pub rx: mpsc::UnboundedReceiver<AllocClientUpdateEntry>,
}

pub fn harness() -> Harness {
    let tmp = tempfile::tempdir().expect("tempdir");
    let driver = RawExecDriver::new(RawExecConfig {
        enabled: true,
        logmon: LogmonCommand {
            program: PathBuf::from(env!("CARGO_BIN_EXE_drover-logmon")),
            args_prefix: vec![],
        },
    });
    let mut drivers: BTreeMap<String, Arc<dyn Driver>> = BTreeMap::new();
    drivers.insert("raw_exec".to_string(), Arc::new(driver));
    let (tx, rx) = mpsc::unbounded_channel();
    let cfg = RunnerConfig {
        alloc_root: tmp.path().join("alloc"),
        node: Node {
            id: "node-1".to_string(),
            ..Node::default()
        },
        drivers,
        updates: tx,
    };
    Harness {
        _tmp: tmp,
        cfg: Arc::new(cfg),
        rx,
    }
}

impl Harness {
    /// Reads updates until one satisfies `cond`, within 20 s.
    pub async fn wait_for(
        &mut self,
        what: &str,
        cond: impl Fn(&AllocClientUpdateEntry) -> bool,
    ) -> AllocClientUpdateEntry {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(u)) if cond(&u) => return u,
                Ok(Some(u)) => last = Some(u),
                Ok(None) => panic!("update channel closed waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}; last update: {last:#?}"),
            }
        }
    }

    pub async fn wait_status(&mut self, status: AllocClientStatus) -> AllocClientUpdateEntry {
        self.wait_for(&format!("client status {status:?}"), |u| {
            u.client_status == status
        })
        .await
    }
}

pub fn task(name: &str, command: &str, args: &[&str]) -> Task {
    let config = drover_api::SmallMap::from([
        ("command".to_string(), json!(command)),
        ("args".to_string(), json!(args)),
    ]);
    Task {
        name: name.to_string(),
        driver: "raw_exec".to_string(),
        config,
        kill_timeout: 2 * SEC,
        ..Task::default()
    }
}

pub fn alloc_of(job_type: JobType, tasks: Vec<Task>, policy: Option<RestartPolicy>) -> Allocation {
    let job = Job {
        id: "example".to_string(),
        name: "example".to_string(),
        job_type,
        task_groups: vec![TaskGroup {
            name: "g".to_string(),
            count: 1,
            tasks,
            restart_policy: policy,
            ..TaskGroup::default()
        }],
        ..Job::default()
    };
    Allocation {
        id: uuid::Uuid::new_v4().to_string(),
        name: "example.g[0]".to_string(),
        node_id: "node-1".to_string(),
        job_id: "example".to_string(),
        task_group: "g".to_string(),
        job: Some(Box::new(job)),
        ..Allocation::default()
    }
}

pub fn no_restarts_delay0(attempts: i32) -> RestartPolicy {
    RestartPolicy {
        attempts,
        interval: 30 * 60 * SEC,
        delay: 0,
        mode: "fail".to_string(),
        render_templates: false,
    }
}

pub fn types(st: &TaskState) -> Vec<&str> {
    st.events.iter().map(|e| e.event_type.as_str()).collect()
}

/// Waits until `path` exists, within 10 s.
pub async fn wait_file(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
