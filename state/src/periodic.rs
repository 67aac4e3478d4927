//! The last launch of each periodic job (Nomad's `periodic_launch` table,
//! nomad/state/state_store.go `UpsertPeriodicLaunch`, and the launch
//! bookkeeping of nomad/fsm.go `applyUpsertJob`). A new leader reads it to
//! resume each schedule after the launch the old leader made, so no period
//! is launched twice and a period missed while no server led is launched
//! once.
//!
//! Kept by the job register apply, not by a command of its own: a periodic
//! child's ID carries its launch time (`<parent>/periodic-<unix seconds>`),
//! so the child and the record of its launch are one Raft entry. A newly
//! registered active periodic job records its submit time as its first
//! "launch", so a new leader does not launch periods from before it existed.

use drover_api::{Job, PERIODIC_LAUNCH_SUFFIX};
use serde::{Deserialize, Serialize};

use crate::tables::{Ctx, NsKey, Tables};
use crate::State;

/// One periodic job's last launch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodicLaunch {
    /// Unix nanoseconds.
    pub launch: i64,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Called by the register apply with the job as stored.
pub(crate) fn on_register(t: &mut Tables, ctx: &Ctx, job: &Job, now: i64) {
    let key: NsKey = (job.namespace.clone(), job.id.clone());
    if job.is_periodic_active() && !t.periodic_launches.contains_key(&key) {
        let launch = if now != 0 { now } else { job.submit_time };
        upsert(t, ctx, key, launch);
        return;
    }
    if job.parent_id.is_empty() {
        return;
    }
    let Some(secs) = job
        .id
        .strip_prefix(job.parent_id.as_str())
        .and_then(|s| s.strip_prefix(PERIODIC_LAUNCH_SUFFIX))
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return;
    };
    let pkey: NsKey = (job.namespace.clone(), job.parent_id.clone());
    if !t.jobs.get(&pkey).is_some_and(|p| p.is_periodic()) {
        return;
    }
    let launch = secs.saturating_mul(1_000_000_000);
    // Launches only move forward (a forced launch may land before one
    // already recorded).
    if t.periodic_launches
        .get(&pkey)
        .is_none_or(|l| l.launch < launch)
    {
        upsert(t, ctx, pkey, launch);
    }
}

fn upsert(t: &mut Tables, ctx: &Ctx, key: NsKey, launch: i64) {
    let create_index = t
        .periodic_launches
        .get(&key)
        .map_or(ctx.index, |l| l.create_index);
    t.periodic_launches.insert(
        key,
        PeriodicLaunch {
            launch,
            create_index,
            modify_index: ctx.index,
        },
    );
}

impl State {
    /// The last launch recorded for a periodic job.
    pub fn periodic_launch(&self, namespace: &str, job_id: &str) -> Option<PeriodicLaunch> {
        self.tables
            .periodic_launches
            .get(&(namespace.to_string(), job_id.to_string()))
            .copied()
    }

    /// Every job the periodic dispatcher launches (Nomad's
    /// `IsPeriodicActive`), in (namespace, ID) order.
    /// Read from an index of the jobs with a `periodic` block, not a scan.
    pub fn periodic_jobs(&self) -> Vec<&Job> {
        let t = &self.tables;
        t.ix.periodic_jobs
            .iter()
            .filter_map(|k| t.jobs.get(k))
            .map(|j| j.as_ref())
            .filter(|j| j.is_periodic_active())
            .collect()
    }
}
