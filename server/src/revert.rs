//! Building a revert: the named old version of a job registered again as a
//! new version (Nomad nomad/job_endpoint.go `Job.Revert`). The HTTP handler
//! of `POST /v1/job/:id/revert` and the deployment watcher's auto-revert
//! both build it here, so the two cannot drift apart.

use drover_api::{trigger, Job};
use drover_state::command::JobRegister;
use drover_state::{State, WatchSet};

/// Why a revert was refused; nothing was written. The messages are Nomad's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevertError {
    #[error("job {0:?} not found")]
    UnknownJob(String),
    #[error("can't revert to current version")]
    CurrentVersion,
    #[error("job {job_id:?} in namespace {namespace:?} at version {version} not found")]
    UnknownVersion {
        namespace: String,
        job_id: String,
        version: u64,
    },
    #[error("Current job has version {current}; enforcing version {enforced}")]
    PriorVersion { current: u64, enforced: u64 },
}

/// The register that reverts `job_id` to `version`: that version's spec,
/// not stable, submitted `now`, with a pending evaluation (none for a
/// periodic or parameterized job). With `enforce_prior`, the revert
/// applies only while the current version is that one, checked here and
/// again at apply through the current `JobModifyIndex`. The new version's
/// number is the current one's plus one, stamped at apply. The source of
/// the old version is not carried over, as in Nomad.
pub fn revert_command(
    state: &State,
    namespace: &str,
    job_id: &str,
    version: u64,
    enforce_prior: Option<u64>,
    now: i64,
) -> Result<JobRegister, RevertError> {
    let current = state
        .job(&mut WatchSet::new(), namespace, job_id)
        .ok_or_else(|| RevertError::UnknownJob(job_id.to_string()))?;
    if version == current.version {
        return Err(RevertError::CurrentVersion);
    }
    let old = state
        .job_version(namespace, job_id, version)
        .ok_or_else(|| RevertError::UnknownVersion {
            namespace: namespace.to_string(),
            job_id: job_id.to_string(),
            version,
        })?;
    if let Some(enforced) = enforce_prior {
        if current.version != enforced {
            return Err(RevertError::PriorVersion {
                current: current.version,
                enforced,
            });
        }
    }
    let mut job = Job::clone(old);
    job.stable = false;
    job.submit_time = now;
    let eval = (!job.is_parent()).then(|| crate::evals::pending(&job, trigger::JOB_REGISTER, now));
    Ok(JobRegister {
        job,
        eval,
        enforce_index: enforce_prior.map(|_| current.job_modify_index),
        now,
    })
}
