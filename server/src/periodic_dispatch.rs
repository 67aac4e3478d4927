//! The periodic dispatcher, a leader duty (Nomad's nomad/periodic.go
//! `PeriodicDispatch` and nomad/leader.go `restorePeriodicDispatcher`):
//! it launches each enabled periodic job at the times of its cron specs,
//! as a child `<parent>/periodic-<unix seconds>` registered with its
//! evaluation in one Raft entry.
//!
//! On gaining leadership it resumes from the launch table
//! ([`drover_state::periodic`]): a job whose next launch after its
//! recorded last one has already passed (no server led at that time, or
//! the old leader died first) is launched once, now, and then follows its
//! schedule from now. Since a launch registers its child only if no job of
//! that ID exists, a period launched by an earlier leader is never
//! launched again.
//!
//! `prohibit_overlap` skips a launch while a child of the job is pending
//! or running. Nomad looks at the children's allocations; looking at the
//! children's status also counts a child whose allocation is not placed
//! yet.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_api::{Job, JobStatus, PERIODIC_LAUNCH_SUFFIX};
use drover_state::{NamespaceSel, State, Table, WatchSet};
use tokio::sync::watch;

use crate::clock::unix_nanos;
use crate::periodic::{launch_command, next_launch};
use crate::raft::node::RaftHandle;

/// What the dispatcher tracks of one periodic job.
struct Tracked {
    /// The job version this schedule was computed for.
    job_modify_index: u64,
    /// Unix nanoseconds; `None` when its specs never match again.
    next: Option<i64>,
}

type Key = (String, String);

/// How often at most the dispatcher re-reads the periodic jobs while the
/// jobs table keeps changing: a busy cluster registers many jobs a second,
/// and launches are whole seconds apart. A read costs the periodic jobs
/// only (the state keeps an index of them), not every job.
const RESCAN_EVERY: Duration = Duration::from_millis(100);

/// Run until `stop`: launch what is due, sleep until the next launch or
/// the next change to the jobs table.
pub async fn run(raft: RaftHandle, mut stop: watch::Receiver<bool>) {
    let mut applied = raft.shared.subscribe_applied();
    let mut tracked: BTreeMap<Key, Tracked> = BTreeMap::new();
    let mut jobs_index = None;
    let mut restored = false;
    let mut last_scan: Option<Instant> = None;
    loop {
        let now = unix_nanos();
        // A rescan the rate limit put off: when it may run.
        let mut rescan_after = None;
        // Catch up on what changed, and launch what is due, from one
        // copy of the state.
        let due: Vec<(Job, i64)> = {
            let applied = raft.shared.read();
            let st = &applied.state;
            let index = st.table_index(Table::Jobs);
            let allowed = last_scan.map(|t| t + RESCAN_EVERY);
            if jobs_index == Some(index) {
                Vec::new()
            } else if let Some(at) = allowed.filter(|at| *at > Instant::now()) {
                rescan_after = Some(at);
                Vec::new()
            } else {
                jobs_index = Some(index);
                last_scan = Some(Instant::now());
                let catch_up = !std::mem::replace(&mut restored, true);
                let mut missed = track(st, &mut tracked, now, catch_up);
                missed.retain(|(job, _)| !overlaps(st, job));
                missed
            }
        };
        for (job, launch) in due {
            launch_one(&raft, &job, launch, "missed").await;
        }
        let due: Vec<(Job, i64)> = {
            let applied = raft.shared.read();
            let st = &applied.state;
            let mut due = Vec::new();
            for ((ns, id), t) in tracked.iter_mut() {
                let Some(at) = t.next.filter(|at| *at <= now) else {
                    continue;
                };
                // Stopped, disabled or gone since the last scan: not
                // launched, and not looked at again before the next scan.
                let Some(job) = st
                    .job(&mut WatchSet::new(), ns, id)
                    .filter(|j| j.is_periodic_active())
                else {
                    t.next = None;
                    continue;
                };
                let p = job
                    .periodic
                    .as_ref()
                    .map_or_else(Default::default, Clone::clone);
                t.next = next_launch(&p, at.max(now));
                if overlaps(st, job) {
                    tracing::info!(job = %id, "periodic launch skipped: a child is still live (prohibit_overlap)");
                    continue;
                }
                due.push((job.clone(), at));
            }
            due
        };
        for (job, launch) in due {
            launch_one(&raft, &job, launch, "scheduled").await;
        }
        let next = tracked.values().filter_map(|t| t.next).min();
        let mut wait = next.map_or(Duration::from_secs(3600), |at| {
            Duration::from_nanos(u64::try_from(at - unix_nanos()).unwrap_or(0))
        });
        if let Some(at) = rescan_after {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Bring `tracked` up to date with the active periodic jobs. With
/// `catch_up` (the first look of a term), also the jobs whose next launch
/// after their recorded last one has passed: launched once, now.
fn track(
    st: &State,
    tracked: &mut BTreeMap<Key, Tracked>,
    now: i64,
    catch_up: bool,
) -> Vec<(Job, i64)> {
    let mut missed = Vec::new();
    let mut live = BTreeMap::new();
    for job in st.periodic_jobs() {
        let key = (job.namespace.clone(), job.id.clone());
        let Some(p) = job.periodic.as_ref() else {
            continue;
        };
        let last = st
            .periodic_launch(&job.namespace, &job.id)
            .map(|l| l.launch);
        let entry = match tracked.remove(&key) {
            Some(t) if t.job_modify_index == job.job_modify_index => t,
            _ => {
                if catch_up {
                    if let Some(last) = last {
                        if next_launch(p, last).is_some_and(|n| n <= now) {
                            missed.push((job.clone(), now));
                        }
                    }
                }
                let from = last.map_or(now, |l| l.max(now));
                Tracked {
                    job_modify_index: job.job_modify_index,
                    next: next_launch(p, from),
                }
            }
        };
        live.insert(key, entry);
    }
    *tracked = live;
    missed
}

/// Whether `job` forbids overlap and a child of it is still pending or
/// running.
fn overlaps(st: &State, job: &Job) -> bool {
    if !job.periodic.as_ref().is_some_and(|p| p.prohibit_overlap) {
        return false;
    }
    let prefix = format!("{}{PERIODIC_LAUNCH_SUFFIX}", job.id);
    let live = st
        .jobs(
            &mut WatchSet::new(),
            NamespaceSel::One(&job.namespace),
            &prefix,
            None,
            false,
        )
        .any(|c| c.parent_id == job.id && !c.stop && c.status != JobStatus::Dead);
    live
}

async fn launch_one(raft: &RaftHandle, job: &Job, launch: i64, why: &str) {
    let cmd = launch_command(job, launch, unix_nanos(), false);
    let child = crate::periodic::periodic_child_id(&job.id, launch);
    match raft.write(cmd).await {
        Ok(out) => match out.result {
            Ok(()) => tracing::debug!(job = %job.id, %child, why, "periodic job launched"),
            // The child exists: this period was launched already.
            Err(e) => {
                tracing::debug!(job = %job.id, %child, error = %e, "periodic launch not written")
            }
        },
        Err(e) => tracing::warn!(job = %job.id, %child, error = %e, "periodic launch failed"),
    }
}

#[cfg(test)]
mod tests {
    use drover_api::{JobType, PeriodicConfig, Task, TaskGroup};
    use drover_state::command::JobRegister;
    use drover_state::Command;

    use super::*;

    const SEC: i64 = 1_000_000_000;
    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600 * SEC;

    fn parent(id: &str, spec: &str) -> Job {
        Job {
            id: id.into(),
            namespace: "default".into(),
            job_type: JobType::Batch,
            periodic: Some(PeriodicConfig {
                spec: spec.into(),
                ..Default::default()
            }),
            task_groups: vec![TaskGroup {
                name: "g".into(),
                count: 1,
                tasks: vec![Task {
                    name: "t".into(),
                    driver: "raw_exec".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn register(st: &mut State, index: u64, job: Job, now: i64) {
        let cmd = Command::JobRegister(JobRegister {
            job,
            eval: None,
            enforce_index: None,
            now,
        });
        assert!(st.apply(index, &cmd).result.is_ok());
    }

    /// A new term launches once what it missed, and schedules the rest
    /// from now; a later look of the same term launches nothing missed.
    #[test]
    fn a_new_term_launches_missed_periods_once() {
        let mut st = State::default();
        // Every minute, registered at T0: its first launch was due at
        // T0 + 60 s. Hourly, registered at T0: not due before T0 + 1 h.
        register(&mut st, 1, parent("minutely", "* * * * *"), T0);
        register(&mut st, 2, parent("hourly", "0 * * * *"), T0);
        let now = T0 + 90 * SEC;
        let mut tracked = BTreeMap::new();
        let missed = track(&st, &mut tracked, now, true);
        let missed: Vec<(&str, i64)> = missed.iter().map(|(j, t)| (j.id.as_str(), *t)).collect();
        assert_eq!(missed, [("minutely", now)]);
        let next =
            |t: &BTreeMap<Key, Tracked>, id: &str| t[&("default".to_string(), id.to_string())].next;
        assert_eq!(next(&tracked, "minutely"), Some(T0 + 120 * SEC));
        assert_eq!(next(&tracked, "hourly"), Some(T0 + 3600 * SEC));

        // The minutely job's child of T0 + 120 s is recorded: the next
        // term resumes after it and has nothing to catch up.
        let child = crate::periodic::derive_periodic_child(
            &parent("minutely", "* * * * *"),
            T0 + 120 * SEC,
        );
        register(&mut st, 3, child, T0 + 120 * SEC);
        let mut tracked = BTreeMap::new();
        assert!(track(&st, &mut tracked, T0 + 150 * SEC, true).is_empty());
        assert_eq!(next(&tracked, "minutely"), Some(T0 + 180 * SEC));
        // Without catch-up (a later look of a term), nothing is missed.
        let mut tracked = BTreeMap::new();
        assert!(track(&st, &mut tracked, T0 + 600 * SEC, false).is_empty());
    }

    #[test]
    fn overlap_counts_live_children_only() {
        let mut st = State::default();
        let mut p = parent("slow", "* * * * * * *");
        if let Some(c) = p.periodic.as_mut() {
            c.prohibit_overlap = true;
        }
        register(&mut st, 1, p.clone(), T0);
        assert!(!overlaps(&st, &p));
        let child = crate::periodic::derive_periodic_child(&p, T0 + SEC);
        register(&mut st, 2, child, T0 + SEC);
        // The child has no allocation yet: pending, so live.
        assert!(overlaps(&st, &p));
        let free = parent("free", "* * * * * * *");
        assert!(!overlaps(&st, &free));
    }
}
