//! The compatibility suite: Nomad's client libraries against the real
//! `drover agent -dev`. Each test starts an agent and runs one script from
//! `tests/compat/python/`, with python-nomad or nomadpy (a port of Nomad's
//! Go `api` package, whose typed models decode every answer); the script
//! asserts, and its exit status is the test's. Runner and rules in
//! `tests/compat/runner.rs`.
//!
//! To add a capability (dispatch, deployments, ...), add a script beside
//! `jobs_lifecycle.py` and a test here that starts the agent it needs.

mod common;
#[path = "compat/runner.rs"]
mod runner;

use common::Agent;

/// Register, read, versions, scale, stable, revert, submission, purge.
#[tokio::test]
async fn python_nomad_jobs_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path()).await;
    runner::run_script(&agent, "jobs_lifecycle.py").await;
}

/// Deployments (manual health, canary, pause, promote, a failure that
/// reverts), dispatch with payload and meta, and periodic force.
#[tokio::test]
async fn python_nomad_deployments_dispatch_and_periodic() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path()).await;
    runner::run_script(&agent, "deployments_dispatch.py").await;
}

/// Status (leader, peers), nodes (list, prefix, filter, eligibility),
/// allocations, evaluations, the client's files and logs, alloc signal,
/// restart and stop, and the event stream.
#[tokio::test]
async fn python_nomad_cluster_reads_client_fs_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path()).await;
    runner::run_script(&agent, "cluster_reads.py").await;
}

/// nomadpy: typed status, nodes, allocations and evaluations, a blocking
/// query, files and logs, exec over the WebSocket, signal, restart, stop
/// and the event stream.
#[tokio::test]
async fn nomadpy_typed_client() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path()).await;
    runner::run_script_with(&agent, "nomadpy_client.py", "nomadpy, websockets").await;
}
