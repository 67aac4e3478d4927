//! Job status and job summaries, computed as Nomad computes them
//! (nomad/state/state_store.go `getJobStatus`, `updateSummaryWithAlloc`,
//! `setJobSummary`), but from counters instead of scans.

use drover_api::{
    AllocClientStatus, Job, JobChildrenSummary, JobStatus, JobSummary, JobType, TaskGroupSummary,
};

use crate::tables::JobStats;

/// System, periodic and parameterized jobs run until stopped. Other jobs run
/// while any allocation is live, are pending while any evaluation is, and are
/// dead once everything they had is terminal (or their evals were collected).
pub(crate) fn job_status(job: &Job, stats: JobStats, evals_deleted: bool) -> JobStatus {
    if job.job_type == JobType::System || job.is_parent() {
        return if job.stop {
            JobStatus::Dead
        } else {
            JobStatus::Running
        };
    }
    if stats.allocs_live > 0 {
        JobStatus::Running
    } else if stats.evals_live > 0 {
        JobStatus::Pending
    } else if evals_deleted || stats.evals > 0 || stats.allocs > 0 {
        JobStatus::Dead
    } else {
        JobStatus::Pending
    }
}

/// The summary of a job registered for the first time: zero per group.
pub(crate) fn new_summary(job: &Job, index: u64) -> JobSummary {
    let mut s = JobSummary {
        job_id: job.id.clone(),
        namespace: job.namespace.clone(),
        create_index: index,
        modify_index: index,
        ..Default::default()
    };
    add_missing_groups(&mut s, job);
    if job.is_parent() {
        s.children = Some(JobChildrenSummary::default());
    }
    s
}

/// A job update may add groups; Nomad keeps counts of removed groups.
pub(crate) fn add_missing_groups(s: &mut JobSummary, job: &Job) -> bool {
    let mut changed = false;
    for tg in &job.task_groups {
        if !s.summary.contains_key(&tg.name) {
            s.summary
                .insert(tg.name.clone(), TaskGroupSummary::default());
            changed = true;
        }
    }
    changed
}

/// Move one allocation between the summary's bins. Returns whether anything
/// changed. A new allocation counts as `starting` and takes one from `queued`.
pub(crate) fn count_alloc(
    s: &mut JobSummary,
    task_group: &str,
    old: Option<AllocClientStatus>,
    new: AllocClientStatus,
) -> bool {
    let Some(tg) = s.summary.get_mut(task_group) else {
        return false;
    };
    match old {
        None => {
            if new != AllocClientStatus::Pending {
                return false;
            }
            tg.starting += 1;
            if tg.queued > 0 {
                tg.queued -= 1;
            }
            true
        }
        Some(old) if old != new => {
            *bin(tg, new) += 1;
            let prev = bin(tg, old);
            if *prev > 0 {
                *prev -= 1;
            }
            true
        }
        Some(_) => false,
    }
}

fn bin(tg: &mut TaskGroupSummary, status: AllocClientStatus) -> &mut i64 {
    match status {
        AllocClientStatus::Pending => &mut tg.starting,
        AllocClientStatus::Running => &mut tg.running,
        AllocClientStatus::Complete => &mut tg.complete,
        AllocClientStatus::Failed => &mut tg.failed,
        AllocClientStatus::Lost => &mut tg.lost,
        AllocClientStatus::Unknown => &mut tg.unknown,
    }
}

/// A child job changed status: move it between its parent's children bins.
pub(crate) fn count_child(
    children: &mut JobChildrenSummary,
    old: Option<JobStatus>,
    new: JobStatus,
) {
    fn slot(c: &mut JobChildrenSummary, st: JobStatus) -> &mut i64 {
        match st {
            JobStatus::Pending => &mut c.pending,
            JobStatus::Running => &mut c.running,
            JobStatus::Dead => &mut c.dead,
        }
    }
    if let Some(old) = old {
        let prev = slot(children, old);
        if *prev > 0 {
            *prev -= 1;
        }
    }
    *slot(children, new) += 1;
}
