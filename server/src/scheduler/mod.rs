//! The scheduler's pure parts, each tested without any runtime: which nodes
//! can take a task group ([`feasible`]), how well it fits each of them
//! ([`rank`]), the service/batch scheduler that turns an evaluation into a
//! plan ([`generic`]), and the eval broker that hands evaluations to workers
//! ([`broker`]). The leader loop, workers and plan applier drive them.

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
