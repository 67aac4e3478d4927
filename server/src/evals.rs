//! Building evaluations: the one place where the HTTP handlers, the
//! heartbeat timers and the leader duties make a new evaluation (Nomad
//! builds them in each endpoint: nomad/job_endpoint.go, node_endpoint.go
//! `createNodeEvals`, heartbeat.go).

use std::collections::BTreeMap;

use drover_api::{trigger, EvalStatus, Evaluation, Job, JobType};
use drover_state::{NamespaceSel, State, WatchSet};

/// A new evaluation or allocation ID.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A pending evaluation of `job`.
pub fn pending(job: &Job, triggered_by: &str, now: i64) -> Evaluation {
    Evaluation {
        id: new_id(),
        namespace: job.namespace.clone(),
        priority: job.priority,
        eval_type: job.job_type.as_str().to_string(),
        triggered_by: triggered_by.to_string(),
        job_id: job.id.clone(),
        status: EvalStatus::Pending,
        create_time: now,
        modify_time: now,
        ..Default::default()
    }
}

/// A pending evaluation of `job` triggered by a change to `node_id`.
pub fn for_node(job: &Job, triggered_by: &str, node_id: &str, now: i64) -> Evaluation {
    Evaluation {
        node_id: node_id.to_string(),
        ..pending(job, triggered_by, now)
    }
}

/// Nomad `createNodeEvals`: one eval per job with allocations on the node,
/// plus one per system and sysbatch job, each job once.
pub fn node_evals(st: &State, node_id: &str, now: i64) -> Vec<Evaluation> {
    let mut ws = WatchSet::new();
    let mut jobs: BTreeMap<(String, String), &Job> = BTreeMap::new();
    for row in st.allocs_by_node(&mut ws, node_id) {
        let key = (row.alloc.namespace.clone(), row.alloc.job_id.clone());
        if let Some(job) = st.job(&mut ws, &key.0, &key.1) {
            jobs.entry(key).or_insert(job);
        }
    }
    for job in st.jobs(&mut ws, NamespaceSel::All, "", None, false) {
        if matches!(job.job_type, JobType::System | JobType::Sysbatch) && !job.stop {
            jobs.entry((job.namespace.clone(), job.id.clone()))
                .or_insert(job);
        }
    }
    jobs.values()
        .map(|j| for_node(j, trigger::NODE_UPDATE, node_id, now))
        .collect()
}
