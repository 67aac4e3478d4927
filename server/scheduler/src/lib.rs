//! drover-scheduler: turns an evaluation into a plan. Which nodes can take
//! a task group ([`feasible`]), how well it fits each of them ([`rank`],
//! [`affinity`]), what to keep, stop and replace ([`reconcile`],
//! [`reschedule`]), the service/batch and system/sysbatch schedulers that
//! produce the plan ([`generic`], [`system`]), the applier's re-check of a
//! plan ([`plan_check`]) and the eval broker that hands evaluations to
//! workers ([`broker`]). The server's leader loop, workers and plan applier
//! drive them.
//!
//! Architecture Invariant: no I/O, no async, no clock, no randomness of its
//! own. Every function reads only its arguments and a `drover_state::State`;
//! the caller passes the time (`now`) and the source of new IDs (`new_id`),
//! and node order is a rotation seeded by the eval ID, so the same state,
//! evaluation, time and IDs always give the same plan. The crate depends on `drover-api`
//! and `drover-state` only; tokio, axum, openraft, sled, reqwest and bollard
//! never appear in its dependency tree (`tests/architecture.rs`).

pub mod affinity;
pub mod broker;
pub mod feasible;
pub mod generic;
pub mod plan_check;
pub mod rank;
pub mod reconcile;
pub mod reschedule;
pub mod system;

use drover_api::{Evaluation, Job, JobType};
use drover_state::State;

/// Plan `eval` against `job` (`None`: the job is gone) with the scheduler
/// its type names: `service` and `batch` go to [`generic`], `system` and
/// `sysbatch` to [`system`].
pub fn compute_job(
    st: &State,
    eval: &Evaluation,
    job: Option<&Job>,
    new_id: &mut dyn FnMut() -> String,
    now: i64,
) -> generic::Plan {
    let kind = match job.map(|j| j.job_type) {
        Some(t) => t,
        None => match eval.eval_type.as_str() {
            "system" => JobType::System,
            "sysbatch" => JobType::Sysbatch,
            _ => JobType::Service,
        },
    };
    match kind {
        JobType::System | JobType::Sysbatch => system::compute_job(st, eval, job, new_id, now),
        JobType::Service | JobType::Batch => generic::compute_job(st, eval, job, new_id, now),
    }
}

/// [`compute_job`] against the stored job.
pub fn compute(
    st: &State,
    eval: &Evaluation,
    new_id: &mut dyn FnMut() -> String,
    now: i64,
) -> generic::Plan {
    let job = st.job(
        &mut drover_state::WatchSet::new(),
        &eval.namespace,
        &eval.job_id,
    );
    compute_job(st, eval, job, new_id, now)
}
