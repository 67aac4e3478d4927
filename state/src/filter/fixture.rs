//! The fixed object the filter tests run against, and the table helpers.
//!
//! Every `check` line parses a filter and evaluates it against [`job`].
//! `Ok(b)` is the expected answer, `Err(n)` an error at byte `n` (parse or
//! evaluation).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Filter, FilterError, FilterErrorKind};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Job {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub priority: i64,
    pub stop: bool,
    pub status: String,
    pub datacenters: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub task_groups: Vec<TaskGroup>,
    pub version: u64,
    #[serde(rename = "ParentID")]
    pub parent_id: Option<String>,
    pub submit_time: i64,
    pub offset: i64,
    pub ratio: f64,
    pub labels: BTreeMap<String, bool>,
    pub description: String,
    pub constraints: Vec<String>,
    pub weights: Vec<i64>,
    pub periodic: Option<Periodic>,
    pub update: Option<Periodic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatched: Option<bool>,
    pub scheduler: Scheduler,
    pub payload: Vec<u8>,
    pub unit: (),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Periodic {
    pub enabled: bool,
    pub spec: String,
}

#[derive(Serialize)]
pub(super) enum Scheduler {
    #[allow(dead_code)]
    Service,
    Batch,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TaskGroup {
    pub name: String,
    pub count: u32,
    pub tasks: Vec<Task>,
    pub meta: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Task {
    pub name: String,
    pub driver: String,
    pub config: BTreeMap<String, serde_json::Value>,
    pub resources: Resources,
}

#[derive(Serialize)]
pub(super) struct Resources {
    #[serde(rename = "CPU")]
    pub cpu: i32,
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i32,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn task(name: &str, driver: &str, config: serde_json::Value, cpu: i32, mem: i32) -> Task {
    let config = match config {
        serde_json::Value::Object(m) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    Task {
        name: name.to_owned(),
        driver: driver.to_owned(),
        config,
        resources: Resources {
            cpu,
            memory_mb: mem,
        },
    }
}

/// The fixed object every `check` runs against.
pub(super) fn job() -> Job {
    let meta = [
        ("env", "prod"),
        ("owner", "team-a"),
        ("123", "numeric"),
        ("a b", "spaced"),
        ("blank", ""),
        ("quote\"d", "yes"),
    ];
    Job {
        id: "example-1".to_owned(),
        name: "example".to_owned(),
        namespace: "default".to_owned(),
        kind: "service".to_owned(),
        priority: 50,
        stop: false,
        status: "running".to_owned(),
        datacenters: strings(&["dc1", "dc2"]),
        meta: meta
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        task_groups: vec![
            TaskGroup {
                name: "web".to_owned(),
                count: 3,
                tasks: vec![
                    task(
                        "server",
                        "docker",
                        serde_json::json!({
                            "image": "nginx:1.25",
                            "ports": ["http", "https", 8080],
                            "privileged": false,
                            "workers": 4,
                        }),
                        500,
                        256,
                    ),
                    task("sidecar", "exec", serde_json::json!({}), 100, 64),
                ],
                meta: BTreeMap::new(),
            },
            TaskGroup {
                name: "db".to_owned(),
                count: 1,
                tasks: vec![task(
                    "postgres",
                    "docker",
                    serde_json::json!({"image": "postgres:16"}),
                    1000,
                    2048,
                )],
                meta: [("tier".to_owned(), "data".to_owned())]
                    .into_iter()
                    .collect(),
            },
        ],
        version: 3,
        parent_id: None,
        submit_time: 1_700_000_000_000,
        offset: -5,
        ratio: 0.75,
        labels: [("canary".to_owned(), true), ("legacy".to_owned(), false)]
            .into_iter()
            .collect(),
        description: String::new(),
        constraints: Vec::new(),
        weights: vec![1, -2, 30],
        periodic: Some(Periodic {
            enabled: true,
            spec: "*/5 * * * *".to_owned(),
        }),
        update: None,
        dispatched: None,
        scheduler: Scheduler::Batch,
        payload: vec![7, 8],
        unit: (),
    }
}

pub(super) fn run(expr: &str) -> Result<bool, FilterError> {
    let job = job();
    let f = Filter::parse(expr)?;
    let projected = f.matches(&job);
    let full = f.matches_unprojected(&job);
    assert_eq!(
        projected, full,
        "projection changed the answer for {expr:?}"
    );
    projected
}

#[track_caller]
pub(super) fn check(expr: &str, want: Result<bool, usize>) {
    match (run(expr), want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "filter {expr:?}"),
        (Err(e), Err(pos)) => assert_eq!(e.pos, pos, "filter {expr:?}: {e}"),
        (got, want) => panic!("filter {expr:?}: got {got:?}, want {want:?}"),
    }
}

/// Checks the full error message, for the cases where wording matters.
#[track_caller]
pub(super) fn check_msg(expr: &str, want: &str) {
    match run(expr) {
        Err(e) => assert_eq!(e.to_string(), want, "filter {expr:?}"),
        Ok(b) => panic!("filter {expr:?}: got Ok({b}), want error {want:?}"),
    }
}

#[track_caller]
pub(super) fn check_kind(expr: &str, pos: usize, pred: fn(&FilterErrorKind) -> bool) {
    match run(expr) {
        Err(e) => {
            assert_eq!(e.pos, pos, "filter {expr:?}: {e}");
            assert!(
                pred(&e.kind),
                "filter {expr:?}: unexpected kind {:?}",
                e.kind
            );
        }
        Ok(b) => panic!("filter {expr:?}: got Ok({b}), want an error"),
    }
}
