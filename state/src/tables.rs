//! Indexed tables and the only functions that change them.
//!
//! Primary rows live in persistent ordered maps ([`Map`], imbl's B+tree:
//! deterministic iteration, range scans for prefixes and page tokens), each
//! row behind an `Arc`. Cloning the tables is therefore cheap (the trees
//! share every node until one side writes, and then only the path to the
//! change is copied): a snapshot or a scheduler takes a copy under the lock
//! in microseconds and reads it after the lock is gone, while applies go on.
//! A job's current version and its entry in `job_versions` are one `Arc`.
//! Secondary indexes are [`Set`]s of key tuples, derived from the rows: they
//! are not serialized and are rebuilt on restore, so a snapshot cannot
//! disagree with itself. Every mutation goes
//! through a `put_*`/`delete_*` here, which keeps the indexes, the per-table
//! indexes, the touched watch keys and the events in step.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(crate) use crate::maps::{Map, Set};

use drover_api::{
    AllocClientStatus, Allocation, Deployment, EvalStatus, Evaluation, Job, JobSubmission,
    JobSummary, Node, ScalingEvent, SchedulerConfiguration, Topic,
};
use serde::{Deserialize, Serialize};

use crate::collections::CollectionIndexes;
use crate::events::{LoggedEvent, Object};
use crate::row_ix::{ByCreate, ByJob, ByModify, DeploymentByCreate, DeploymentByJob};
use crate::usage::{NodeUsage, Reserved};
use crate::watch::{Table, WatchKey};
use crate::Join;

/// (namespace, id)
pub type NsKey = (String, String);

/// How many versions of a job `/v1/job/:id/versions` keeps (Nomad's
/// `JobTrackedVersions`). Older versions stay only while an allocation runs them.
pub const TRACKED_JOB_VERSIONS: usize = 6;

/// An allocation as stored: without its `Job` (allocations reference the
/// stored job version instead of carrying a copy each, which would make 100k
/// allocations cost 100k job copies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocRow {
    pub alloc: Allocation,
    pub job_version: u64,
    /// The `CreateIndex` of the job incarnation it runs: a job purged and
    /// registered again starts at version 0 again, and its old allocations
    /// must keep pointing at the old version 0.
    #[serde(default)]
    pub job_create_index: u64,
}

/// (namespace, job ID, job CreateIndex, version): one stored job version.
pub type VersionKey = (String, String, u64, u64);

/// Serialized by hand ([`Tables::serialize`]): a version that is its job's
/// current row is written as `nil` rather than a second copy of the job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct Tables {
    #[serde(deserialize_with = "crate::maps::deserialize")]
    pub jobs: Map<NsKey, Arc<Job>>,
    /// After a restore, until [`Tables::rebuild_with`]: a version written as
    /// `nil` holds [`unresolved_version`].
    #[serde(deserialize_with = "deserialize_versions")]
    pub job_versions: Map<VersionKey, Arc<Job>>,
    #[serde(deserialize_with = "crate::maps::deserialize")]
    pub job_summaries: Map<NsKey, Arc<JobSummary>>,
    #[serde(deserialize_with = "crate::maps::deserialize")]
    pub evals: Map<String, Arc<Evaluation>>,
    #[serde(deserialize_with = "crate::maps::deserialize")]
    pub allocs: Map<String, Arc<AllocRow>>,
    #[serde(deserialize_with = "crate::maps::deserialize")]
    pub nodes: Map<String, Arc<Node>>,
    /// Per-table index: the Raft index of the last change to the table.
    pub indexes: BTreeMap<Table, u64>,
    /// Last change to each collection (a node's allocations, a job's evals, …),
    /// which is what a blocking read of that collection reports.
    pub key_indexes: CollectionIndexes,
    /// The cluster's scheduler configuration, once its first leader wrote
    /// it. Added within snapshot format 3: older snapshots have none.
    #[serde(default)]
    pub scheduler_config: Option<Arc<SchedulerConfiguration>>,
    /// The cluster's autopilot configuration, once its first leader wrote
    /// it. Added after snapshot format 3: older snapshots have none.
    #[serde(default)]
    pub autopilot_config: Option<Arc<crate::command::AutopilotConfig>>,
    /// Deployments by ID. Added after snapshot format 3: older snapshots
    /// have none.
    #[serde(default, deserialize_with = "crate::maps::deserialize")]
    pub deployments: Map<String, Arc<Deployment>>,
    /// Each job's scaling events per task group, newest first (Nomad's
    /// `scaling_event` table). Added within snapshot format 3.
    #[serde(default, deserialize_with = "crate::maps::deserialize")]
    pub scaling_events: Map<NsKey, Arc<JobScalingEvents>>,
    /// The source submitted for a stored job version (Nomad's
    /// `job_submission` table): kept while the version is, deleted with it.
    /// Added within snapshot format 3.
    #[serde(default, deserialize_with = "crate::maps::deserialize")]
    pub job_submissions: Map<VersionKey, Arc<JobSubmission>>,
    /// Each periodic job's last launch ([`crate::periodic`]). Snapshots
    /// written before it have none.
    #[serde(default, deserialize_with = "crate::maps::deserialize")]
    pub periodic_launches: Map<NsKey, crate::periodic::PeriodicLaunch>,
    /// Namespaces by name ([`crate::namespaces`]). Snapshots written
    /// before it read as `default` alone.
    #[serde(default)]
    pub namespaces: crate::namespaces::Namespaces,
    /// ACL policies and tokens ([`crate::acl`]). Snapshots written before
    /// it have none.
    #[serde(default)]
    pub acl: crate::acl::AclTables,
    #[serde(skip)]
    pub ix: Secondary,
}

/// A job's scaling events (Nomad structs.JobScalingEvents): per task group,
/// newest first, at most [`drover_api::JOB_TRACKED_SCALING_EVENTS`] each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobScalingEvents {
    pub namespace: String,
    pub job_id: String,
    pub events: BTreeMap<String, Vec<ScalingEvent>>,
    pub modify_index: u64,
}

/// The placeholder a restored version written as `nil` holds until
/// [`Tables::rebuild_with`] points it at its job's current row.
fn unresolved_version() -> Arc<Job> {
    static UNRESOLVED: std::sync::OnceLock<Arc<Job>> = std::sync::OnceLock::new();
    Arc::clone(UNRESOLVED.get_or_init(|| Arc::new(Job::default())))
}

fn deserialize_versions<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Map<VersionKey, Arc<Job>>, D::Error> {
    let written: Map<VersionKey, Option<Arc<Job>>> = crate::maps::deserialize(d)?;
    Ok(written
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_else(unresolved_version)))
        .collect())
}

/// `job_versions` as written: `nil` for a version that is its job's current
/// row (the reader takes it from `jobs`).
struct VersionsOut<'a>(&'a Tables);

impl Serialize for VersionsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let t = self.0;
        let mut map = s.serialize_map(Some(t.job_versions.len()))?;
        // Both maps are ordered by namespace and job ID: walk them together
        // instead of looking each job up.
        let mut jobs = t.jobs.iter().peekable();
        for (k, v) in &t.job_versions {
            while jobs
                .peek()
                .is_some_and(|((ns, id), _)| (ns.as_str(), id.as_str()) < (&k.0, &k.1))
            {
                jobs.next();
            }
            let current = jobs.peek().is_some_and(|((ns, id), job)| {
                (ns.as_str(), id.as_str()) == (&k.0, &k.1) && Arc::ptr_eq(job, v)
            });
            map.serialize_entry(k, &(!current).then_some(v))?;
        }
        map.end()
    }
}

impl Serialize for Tables {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Tables", 16)?;
        st.serialize_field("jobs", &self.jobs)?;
        st.serialize_field("job_versions", &VersionsOut(self))?;
        st.serialize_field("job_summaries", &self.job_summaries)?;
        st.serialize_field("evals", &self.evals)?;
        st.serialize_field("allocs", &self.allocs)?;
        st.serialize_field("nodes", &self.nodes)?;
        st.serialize_field("indexes", &self.indexes)?;
        st.serialize_field("key_indexes", &self.key_indexes)?;
        st.serialize_field("scheduler_config", &self.scheduler_config)?;
        st.serialize_field("deployments", &self.deployments)?;
        st.serialize_field("scaling_events", &self.scaling_events)?;
        st.serialize_field("job_submissions", &self.job_submissions)?;
        st.serialize_field("periodic_launches", &self.periodic_launches)?;
        st.serialize_field("autopilot_config", &self.autopilot_config)?;
        st.serialize_field("namespaces", &self.namespaces)?;
        st.serialize_field("acl", &self.acl)?;
        st.end()
    }
}

/// Derived indexes and counters. Rebuilt by [`Tables::rebuild_with`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Secondary {
    /// The eval indexes hold the rows themselves (`row_ix`).
    pub evals_by_create: Set<ByCreate>,
    /// Evaluations by `ModifyIndex`, so the leader reads only the evals
    /// written since its last look instead of every eval.
    pub evals_by_modify: Set<ByModify>,
    pub evals_by_job: Set<ByJob>,
    pub allocs_by_create: Set<(u64, String)>,
    pub allocs_by_job: Set<(String, String, String)>,
    pub allocs_by_node: Set<(String, String)>,
    pub allocs_by_eval: Set<(String, String)>,
    pub allocs_by_deployment: Set<(String, String)>,
    /// Counters that make job status O(1) instead of a scan of the job's
    /// allocations and evaluations on every write.
    pub job_stats: Map<NsKey, JobStats>,
    /// How many allocations run each stored job version.
    pub version_refs: Map<VersionKey, u32>,
    /// What the live allocations on each node reserve.
    pub node_usage: Map<String, NodeUsage>,
    /// Nodes by `ModifyIndex` (registration, status, eligibility, drain).
    pub nodes_by_modify: Set<(u64, String)>,
    /// Each node's allocation collection by its last-change index: the
    /// reverse of the node entries of [`CollectionIndexes`], so the nodes
    /// whose allocations changed since an index are a range read.
    pub node_allocs_by_index: Set<(u64, String)>,
    /// The deployment indexes hold the rows themselves (`row_ix`).
    pub deployments_by_create: Set<DeploymentByCreate>,
    /// By (namespace, job ID, deployment ID).
    pub deployments_by_job: Set<DeploymentByJob>,
    /// The jobs with a `periodic` block, so the periodic dispatcher reads
    /// those instead of every job.
    pub periodic_jobs: Set<NsKey>,
}

impl Secondary {
    fn count_usage(&mut self, a: &Allocation, live: bool, add: bool) {
        if !live {
            return;
        }
        let r = Reserved::of(a);
        if add {
            self.node_usage
                .entry(a.node_id.clone())
                .or_default()
                .add(&r);
        } else if let Some(u) = self.node_usage.get_mut(&a.node_id) {
            u.remove(&r);
            if u.is_empty() {
                self.node_usage.remove(&a.node_id);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JobStats {
    pub allocs: u64,
    pub allocs_live: u64,
    pub evals: u64,
    pub evals_live: u64,
}

impl JobStats {
    fn is_zero(&self) -> bool {
        *self == JobStats::default()
    }
}

/// What an in-place allocation update changed, for the job summary.
#[derive(Debug)]
pub(crate) struct AllocChange {
    pub job: NsKey,
    pub task_group: String,
    pub old_status: AllocClientStatus,
    pub new_status: AllocClientStatus,
}

/// What one `apply` has done so far: touched keys, events, jobs whose status
/// must be recomputed at the end.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub index: u64,
    pub event_type: &'static str,
    /// Pushed as touched; sorted and deduplicated once, when apply returns.
    pub touched: Vec<WatchKey>,
    pub events: Vec<LoggedEvent>,
    /// Job and eval rows the tables let go of (replaced or deleted), whose
    /// events [`crate::EventLog::release`] encodes unless a table still
    /// holds them.
    pub released: Vec<Object>,
    pub dirty_jobs: BTreeSet<NsKey>,
    pub eval_deleted_jobs: BTreeSet<NsKey>,
    /// The whole state was replaced: every reader must look again.
    pub everything: bool,
}

impl Ctx {
    pub fn new(index: u64, event_type: &'static str) -> Self {
        Ctx {
            index,
            event_type,
            touched: Vec::new(),
            events: Vec::new(),
            released: Vec::new(),
            dirty_jobs: BTreeSet::new(),
            eval_deleted_jobs: BTreeSet::new(),
            everything: false,
        }
    }

    pub(crate) fn event(&mut self, object: Object) {
        self.events.push(LoggedEvent {
            event_type: Cow::Borrowed(self.event_type),
            object,
        });
    }
}

/// The stored job version an allocation row runs.
pub(crate) fn version_key(row: &AllocRow) -> VersionKey {
    let a = &row.alloc;
    (
        a.namespace.clone(),
        a.job_id.clone(),
        row.job_create_index,
        row.job_version,
    )
}

fn ns_key(namespace: &str, id: &str) -> NsKey {
    (namespace.to_string(), id.to_string())
}

impl Tables {
    pub(crate) fn touch_table(&mut self, ctx: &mut Ctx, table: Table) {
        self.indexes.insert(table, ctx.index);
        ctx.touched.push(WatchKey::Table(table));
    }

    fn touch_collection(&mut self, ctx: &mut Ctx, key: WatchKey) {
        if let WatchKey::NodeAllocs(node) = &key {
            // Once per node and apply: later touches find it at this index.
            let old = self.key_indexes.node_allocs(node);
            if old != ctx.index {
                self.ix.node_allocs_by_index.remove(&(old, node.clone()));
                self.ix
                    .node_allocs_by_index
                    .insert((ctx.index, node.clone()));
            }
        }
        self.key_indexes.touch(&key, ctx.index);
        ctx.touched.push(key);
    }

    // ----- jobs -------------------------------------------------------------

    /// Store `job` as the current version of its job (indexes already stamped).
    pub fn put_job(&mut self, ctx: &mut Ctx, job: Arc<Job>) {
        let key = ns_key(&job.namespace, &job.id);
        self.touch_table(ctx, Table::Jobs);
        ctx.touched.push(WatchKey::job(&job.namespace, &job.id));
        ctx.event(Object::Job(Arc::clone(&job)));
        if job.periodic.is_some() {
            self.ix.periodic_jobs.insert(key.clone());
        } else {
            self.ix.periodic_jobs.remove(&key);
        }
        if let Some(old) = self.jobs.insert(key, job) {
            ctx.released.push(Object::Job(old));
        }
    }

    /// Record a new tracked version and forget versions that are neither
    /// among the newest [`TRACKED_JOB_VERSIONS`] nor run by an allocation.
    /// The version shares `job` with the jobs table until the job changes.
    pub fn put_job_version(&mut self, ctx: &mut Ctx, job: &Arc<Job>) {
        let (ns, id) = (job.namespace.clone(), job.id.clone());
        let key = (ns.clone(), id.clone(), job.create_index, job.version);
        self.job_versions.insert(key, Arc::clone(job));
        self.touch_table(ctx, Table::JobVersion);
        self.touch_collection(ctx, WatchKey::job_versions(&ns, &id));
        let dropped = self.prune_versions(&ns, &id, Some(job.create_index));
        ctx.released.extend(dropped);
    }

    fn version_range(
        &self,
        ns: &str,
        id: &str,
    ) -> impl DoubleEndedIterator<Item = (&VersionKey, &Arc<Job>)> {
        let lo = (ns.to_string(), id.to_string(), 0, 0);
        let hi = (ns.to_string(), id.to_string(), u64::MAX, u64::MAX);
        self.job_versions.range(lo..=hi)
    }

    /// Keep the newest [`TRACKED_JOB_VERSIONS`] of the `current` incarnation
    /// (the live job's `CreateIndex`, `None` once it is gone) and every
    /// version an allocation runs; drop the rest.
    fn prune_versions(&mut self, ns: &str, id: &str, current: Option<u64>) -> Vec<Object> {
        let mut dropped = Vec::new();
        let keys: Vec<VersionKey> = self.version_range(ns, id).map(|(k, _)| k.clone()).collect();
        let live = keys.iter().filter(|k| Some(k.2) == current).count();
        let mut skipped_live = 0;
        for k in keys {
            let tracked = Some(k.2) == current && {
                skipped_live += 1;
                skipped_live > live.saturating_sub(TRACKED_JOB_VERSIONS)
            };
            if !tracked && self.ix.version_refs.get(&k).copied().unwrap_or(0) == 0 {
                dropped.extend(self.job_versions.remove(&k).map(Object::Job));
                self.job_submissions.remove(&k);
            }
        }
        dropped
    }

    /// The versions `/v1/job/:id/versions` lists: the newest tracked ones of
    /// the live job, oldest first.
    pub fn tracked_versions(&self, ns: &str, id: &str) -> Vec<&Arc<Job>> {
        let Some(current) = self.jobs.get(&ns_key(ns, id)).map(|j| j.create_index) else {
            return Vec::new();
        };
        let all: Vec<&Arc<Job>> = self
            .version_range(ns, id)
            .filter(|(k, _)| k.2 == current)
            .map(|(_, j)| j)
            .collect();
        let skip = all.len().saturating_sub(TRACKED_JOB_VERSIONS);
        all.into_iter().skip(skip).collect()
    }

    pub fn delete_job(&mut self, ctx: &mut Ctx, ns: &str, id: &str) {
        let Some(job) = self.jobs.remove(&ns_key(ns, id)) else {
            return;
        };
        self.periodic_launches.remove(&ns_key(ns, id));
        self.ix.periodic_jobs.remove(&ns_key(ns, id));
        self.touch_table(ctx, Table::Jobs);
        ctx.touched.push(WatchKey::job(ns, id));
        ctx.event(Object::Job(Arc::clone(&job)));
        ctx.released.push(Object::Job(job));
        if self.job_summaries.remove(&ns_key(ns, id)).is_some() {
            self.touch_table(ctx, Table::JobSummary);
            ctx.touched.push(WatchKey::job_summary(ns, id));
        }
        let dropped = self.prune_versions(ns, id, None);
        ctx.released.extend(dropped);
        // A purged job's sources and scaling events go with it, even those
        // of versions an allocation still runs (Nomad `DeleteJobTxn`).
        let lo = (ns.to_string(), id.to_string(), 0, 0);
        let hi = (ns.to_string(), id.to_string(), u64::MAX, u64::MAX);
        let sources: Vec<VersionKey> = self
            .job_submissions
            .range(lo..=hi)
            .map(|(k, _)| k.clone())
            .collect();
        for k in sources {
            self.job_submissions.remove(&k);
        }
        if self.scaling_events.remove(&ns_key(ns, id)).is_some() {
            ctx.touched.push(WatchKey::job_scaling_events(ns, id));
        }
        self.touch_table(ctx, Table::JobVersion);
        self.touch_collection(ctx, WatchKey::job_versions(ns, id));
    }

    pub fn put_summary(&mut self, ctx: &mut Ctx, summary: JobSummary) {
        let summary = Arc::new(summary);
        self.touch_table(ctx, Table::JobSummary);
        ctx.touched
            .push(WatchKey::job_summary(&summary.namespace, &summary.job_id));
        self.job_summaries
            .insert(ns_key(&summary.namespace, &summary.job_id), summary);
    }

    // ----- evaluations ------------------------------------------------------

    /// Insert or replace an evaluation (indexes already stamped).
    pub fn put_eval(&mut self, ctx: &mut Ctx, eval: Evaluation) {
        if let Some(old) = self.evals.get(&eval.id).cloned() {
            self.unindex_eval(&old);
            ctx.released.push(Object::Evaluation(old));
        }
        let eval = Arc::new(eval);
        self.index_eval(&eval);
        self.touch_table(ctx, Table::Evals);
        ctx.touched.push(WatchKey::Eval(eval.id.clone()));
        self.touch_collection(ctx, WatchKey::job_evals(&eval.namespace, &eval.job_id));
        ctx.dirty_jobs.insert(ns_key(&eval.namespace, &eval.job_id));
        ctx.event(Object::Evaluation(Arc::clone(&eval)));
        self.evals.insert(eval.id.clone(), eval);
    }

    pub fn delete_eval(&mut self, ctx: &mut Ctx, id: &str) {
        let Some(eval) = self.evals.remove(id) else {
            return;
        };
        self.unindex_eval(&eval);
        ctx.released.push(Object::Evaluation(Arc::clone(&eval)));
        self.touch_table(ctx, Table::Evals);
        ctx.touched.push(WatchKey::Eval(eval.id.clone()));
        self.touch_collection(ctx, WatchKey::job_evals(&eval.namespace, &eval.job_id));
        let key = ns_key(&eval.namespace, &eval.job_id);
        ctx.dirty_jobs.insert(key.clone());
        ctx.eval_deleted_jobs.insert(key);
        let has_allocs = self
            .ix
            .allocs_by_eval
            .range((id.to_string(), String::new())..)
            .next()
            .is_some_and(|(e, _)| e == id);
        if !has_allocs {
            self.key_indexes.forget_eval_allocs(&eval.id);
        }
    }

    fn index_eval(&mut self, e: &Arc<Evaluation>) {
        self.ix.evals_by_create.insert(ByCreate(Arc::clone(e)));
        self.ix.evals_by_modify.insert(ByModify(Arc::clone(e)));
        self.ix.evals_by_job.insert(ByJob(Arc::clone(e)));
        let st = self
            .ix
            .job_stats
            .entry(ns_key(&e.namespace, &e.job_id))
            .or_default();
        st.evals += 1;
        st.evals_live += u64::from(!e.status.is_terminal());
    }

    /// `e` is the row as stored, so each index finds its entry by key.
    fn unindex_eval(&mut self, e: &Arc<Evaluation>) {
        self.ix.evals_by_create.remove(&ByCreate(Arc::clone(e)));
        self.ix.evals_by_modify.remove(&ByModify(Arc::clone(e)));
        self.ix.evals_by_job.remove(&ByJob(Arc::clone(e)));
        let key = ns_key(&e.namespace, &e.job_id);
        if let Some(st) = self.ix.job_stats.get_mut(&key) {
            st.evals = st.evals.saturating_sub(1);
            st.evals_live = st
                .evals_live
                .saturating_sub(u64::from(!e.status.is_terminal()));
            if st.is_zero() {
                self.ix.job_stats.remove(&key);
            }
        }
    }

    /// Blocked evals of a job, for cancellation when a later eval succeeds.
    pub fn blocked_evals_of_job(&self, ns: &str, job_id: &str) -> Vec<String> {
        self.ix
            .evals_by_job
            .range(ByJob::probe(ns, job_id)..)
            .take_while(|e| e.is_of(ns, job_id))
            .filter(|e| e.0.status == EvalStatus::Blocked)
            .map(|e| e.0.id.clone())
            .collect()
    }

    // ----- allocations ------------------------------------------------------

    /// Insert or replace an allocation (indexes already stamped, `Job` None).
    pub fn put_alloc(&mut self, ctx: &mut Ctx, row: AllocRow) {
        let old = self.allocs.get(&row.alloc.id).cloned();
        if let Some(old) = &old {
            self.unindex_alloc(ctx, old);
        }
        self.index_alloc(ctx, &row);
        let a = &row.alloc;
        self.touch_table(ctx, Table::Allocs);
        ctx.touched.push(WatchKey::Alloc(a.id.clone()));
        ctx.dirty_jobs.insert(ns_key(&a.namespace, &a.job_id));
        ctx.event(Object::Allocation(Box::new(a.clone())));
        self.allocs.insert(a.id.clone(), Arc::new(row));
    }

    /// Change an allocation in place: the hot path of client updates, stops
    /// and transitions. `f` must leave the indexed fields (ID, namespace, job,
    /// node, eval, deployment, create index) alone; it may change statuses.
    /// Returns what the caller needs to keep the job summary in step, or
    /// `None` when the allocation does not exist.
    pub fn update_alloc(
        &mut self,
        ctx: &mut Ctx,
        id: &str,
        f: impl FnOnce(&mut Allocation),
    ) -> Option<AllocChange> {
        let row = Arc::make_mut(self.allocs.get_mut(id)?);
        let old_status = row.alloc.client_status;
        let was_live = !row.alloc.is_terminal();
        f(&mut row.alloc);
        let a = &row.alloc;
        let is_live = !a.is_terminal();
        ctx.event(Object::Allocation(Box::new(a.clone())));
        let change = AllocChange {
            job: ns_key(&a.namespace, &a.job_id),
            task_group: a.task_group.clone(),
            old_status,
            new_status: a.client_status,
        };
        let collections = Self::alloc_collections(a);
        // Job status depends only on how many allocations are live, so an
        // update that keeps liveness (running → running with new task events,
        // the common report) leaves the job alone.
        if was_live != is_live {
            let a = a.clone();
            self.ix.count_usage(&a, true, is_live);
            if let Some(st) = self.ix.job_stats.get_mut(&change.job) {
                if is_live {
                    st.allocs_live += 1;
                } else {
                    st.allocs_live = st.allocs_live.saturating_sub(1);
                }
            }
            ctx.dirty_jobs.insert(change.job.clone());
        }
        ctx.touched.push(WatchKey::Alloc(id.to_string()));
        self.touch_table(ctx, Table::Allocs);
        for key in collections {
            self.touch_collection(ctx, key);
        }
        Some(change)
    }

    /// Mark a summary changed in place (its `ModifyIndex` already stamped).
    pub fn touch_summary(&mut self, ctx: &mut Ctx, namespace: &str, job_id: &str) {
        self.touch_table(ctx, Table::JobSummary);
        ctx.touched.push(WatchKey::job_summary(namespace, job_id));
    }

    pub fn delete_alloc(&mut self, ctx: &mut Ctx, id: &str) {
        let Some(row) = self.allocs.remove(id) else {
            return;
        };
        self.unindex_alloc(ctx, &row);
        self.touch_table(ctx, Table::Allocs);
        ctx.touched.push(WatchKey::Alloc(id.to_string()));
        ctx.dirty_jobs
            .insert(ns_key(&row.alloc.namespace, &row.alloc.job_id));
    }

    fn alloc_collections(a: &Allocation) -> Vec<WatchKey> {
        let mut keys = vec![
            WatchKey::job_allocs(&a.namespace, &a.job_id),
            WatchKey::NodeAllocs(a.node_id.clone()),
            WatchKey::EvalAllocs(a.eval_id.clone()),
        ];
        if !a.deployment_id.is_empty() {
            keys.push(WatchKey::DeploymentAllocs(a.deployment_id.clone()));
        }
        keys
    }

    fn index_alloc(&mut self, ctx: &mut Ctx, row: &AllocRow) {
        let a = &row.alloc;
        self.ix
            .allocs_by_create
            .insert((a.create_index, a.id.clone()));
        self.ix
            .allocs_by_job
            .insert((a.namespace.clone(), a.job_id.clone(), a.id.clone()));
        self.ix
            .allocs_by_node
            .insert((a.node_id.clone(), a.id.clone()));
        self.ix
            .allocs_by_eval
            .insert((a.eval_id.clone(), a.id.clone()));
        if !a.deployment_id.is_empty() {
            self.ix
                .allocs_by_deployment
                .insert((a.deployment_id.clone(), a.id.clone()));
        }
        let st = self
            .ix
            .job_stats
            .entry(ns_key(&a.namespace, &a.job_id))
            .or_default();
        st.allocs += 1;
        st.allocs_live += u64::from(!a.is_terminal());
        *self.ix.version_refs.entry(version_key(row)).or_default() += 1;
        self.ix.count_usage(a, !a.is_terminal(), true);
        for key in Self::alloc_collections(a) {
            self.touch_collection(ctx, key);
        }
    }

    fn unindex_alloc(&mut self, ctx: &mut Ctx, row: &AllocRow) {
        let a = &row.alloc;
        self.ix
            .allocs_by_create
            .remove(&(a.create_index, a.id.clone()));
        self.ix
            .allocs_by_job
            .remove(&(a.namespace.clone(), a.job_id.clone(), a.id.clone()));
        self.ix
            .allocs_by_node
            .remove(&(a.node_id.clone(), a.id.clone()));
        self.ix
            .allocs_by_eval
            .remove(&(a.eval_id.clone(), a.id.clone()));
        self.ix
            .allocs_by_deployment
            .remove(&(a.deployment_id.clone(), a.id.clone()));
        self.ix.count_usage(a, !a.is_terminal(), false);
        let key = ns_key(&a.namespace, &a.job_id);
        if let Some(st) = self.ix.job_stats.get_mut(&key) {
            st.allocs = st.allocs.saturating_sub(1);
            st.allocs_live = st.allocs_live.saturating_sub(u64::from(!a.is_terminal()));
            if st.is_zero() {
                self.ix.job_stats.remove(&key);
            }
        }
        let vkey = version_key(row);
        if let Some(n) = self.ix.version_refs.get_mut(&vkey) {
            *n -= 1;
            if *n == 0 {
                self.ix.version_refs.remove(&vkey);
                // An untracked version kept alive only for this allocation goes with it.
                let current = self.jobs.get(&key).map(|j| j.create_index);
                self.prune_versions(&key.0, &key.1, current);
            }
        }
        for key in Self::alloc_collections(a) {
            self.touch_collection(ctx, key);
        }
    }

    // ----- nodes ------------------------------------------------------------

    pub fn put_node(&mut self, ctx: &mut Ctx, node: Node) {
        self.touch_table(ctx, Table::Nodes);
        ctx.touched.push(WatchKey::Node(node.id.clone()));
        let mut public = node.clone();
        public.secret_id.clear();
        ctx.event(Object::Node(Box::new(public)));
        if let Some(old) = self.nodes.get(&node.id) {
            self.ix
                .nodes_by_modify
                .remove(&(old.modify_index, node.id.clone()));
        }
        self.ix
            .nodes_by_modify
            .insert((node.modify_index, node.id.clone()));
        self.nodes.insert(node.id.clone(), Arc::new(node));
    }

    pub fn delete_node(&mut self, ctx: &mut Ctx, id: &str) {
        let Some(node) = self.nodes.remove(id) else {
            return;
        };
        self.ix
            .nodes_by_modify
            .remove(&(node.modify_index, node.id.clone()));
        self.touch_table(ctx, Table::Nodes);
        ctx.touched.push(WatchKey::Node(id.to_string()));
        let mut node = Arc::unwrap_or_clone(node);
        node.secret_id.clear();
        ctx.event(Object::Node(Box::new(node)));
    }

    /// Whether `row` is still a stored job, job version or evaluation (the
    /// same `Arc`), for [`crate::EventLog::release`].
    pub fn holds(&self, row: &Object) -> bool {
        match row {
            Object::Job(j) => {
                let key = ns_key(&j.namespace, &j.id);
                let vkey = (key.0.clone(), key.1.clone(), j.create_index, j.version);
                self.jobs.get(&key).is_some_and(|c| Arc::ptr_eq(c, j))
                    || self
                        .job_versions
                        .get(&vkey)
                        .is_some_and(|v| Arc::ptr_eq(v, j))
            }
            Object::Evaluation(e) => self.evals.get(&e.id).is_some_and(|c| Arc::ptr_eq(c, e)),
            Object::Deployment(d) => self
                .deployments
                .get(&d.id)
                .is_some_and(|c| Arc::ptr_eq(c, d)),
            Object::Allocation(_) | Object::Node(_) | Object::ExecSession(_) => false,
        }
    }

    /// Every stored row an event may share: jobs, evaluations and
    /// deployments.
    pub fn shareable_rows(&self) -> impl Iterator<Item = Object> + '_ {
        let jobs = self.jobs.values().map(|j| Object::Job(Arc::clone(j)));
        let evals = self
            .evals
            .values()
            .map(|e| Object::Evaluation(Arc::clone(e)));
        let deployments = self
            .deployments
            .values()
            .map(|d| Object::Deployment(Arc::clone(d)));
        jobs.chain(evals).chain(deployments)
    }

    /// The stored job or evaluation an event at `index` may share: the row
    /// of that key, when it was written at `index`.
    pub fn row_written_at(&self, topic: Topic, ns: &str, key: &str, index: u64) -> Option<Object> {
        match topic {
            Topic::Job => self
                .jobs
                .get(&ns_key(ns, key))
                .filter(|j| j.modify_index == index)
                .map(|j| Object::Job(Arc::clone(j))),
            Topic::Evaluation => self
                .evals
                .get(key)
                .filter(|e| e.modify_index == index && e.namespace == ns)
                .map(|e| Object::Evaluation(Arc::clone(e))),
            Topic::Deployment => self
                .deployments
                .get(key)
                .filter(|d| d.modify_index == index && d.namespace == ns)
                .map(|d| Object::Deployment(Arc::clone(d))),
            _ => None,
        }
    }

    // ----- deployments ------------------------------------------------------

    /// Insert or replace a deployment (indexes already stamped).
    pub fn put_deployment(&mut self, ctx: &mut Ctx, d: Deployment) {
        if let Some(old) = self.deployments.get(&d.id).cloned() {
            self.ix
                .deployments_by_create
                .remove(&DeploymentByCreate(Arc::clone(&old)));
            self.ix
                .deployments_by_job
                .remove(&DeploymentByJob(Arc::clone(&old)));
            ctx.released.push(Object::Deployment(old));
        }
        self.touch_table(ctx, Table::Deployment);
        ctx.touched.push(WatchKey::Deployment(d.id.clone()));
        self.touch_collection(ctx, WatchKey::job_deployments(&d.namespace, &d.job_id));
        // The event and the indexes share the stored row rather than
        // holding copies.
        let d = Arc::new(d);
        self.ix
            .deployments_by_create
            .insert(DeploymentByCreate(Arc::clone(&d)));
        self.ix
            .deployments_by_job
            .insert(DeploymentByJob(Arc::clone(&d)));
        ctx.event(Object::Deployment(Arc::clone(&d)));
        self.deployments.insert(d.id.clone(), d);
    }

    pub fn delete_deployment(&mut self, ctx: &mut Ctx, id: &str) {
        let Some(d) = self.deployments.remove(id) else {
            return;
        };
        self.ix
            .deployments_by_create
            .remove(&DeploymentByCreate(Arc::clone(&d)));
        self.ix
            .deployments_by_job
            .remove(&DeploymentByJob(Arc::clone(&d)));
        self.touch_table(ctx, Table::Deployment);
        ctx.touched.push(WatchKey::Deployment(d.id.clone()));
        self.touch_collection(ctx, WatchKey::job_deployments(&d.namespace, &d.job_id));
        ctx.released.push(Object::Deployment(d));
    }

    /// The IDs of a job's deployments (every incarnation), in ID order.
    pub fn deployments_of_job(&self, ns: &str, job_id: &str) -> Vec<String> {
        self.ix
            .deployments_by_job
            .range(DeploymentByJob::probe(ns, job_id)..)
            .take_while(|d| d.is_of(ns, job_id))
            .map(|d| d.0.id.clone())
            .collect()
    }

    // ----- restore ----------------------------------------------------------

    /// Make each job and its current version one `Arc` again, as they were
    /// when the snapshot was taken, so a restart does not double what the
    /// jobs cost in memory. Format 3 writes such a version as `nil`; older
    /// formats wrote it whole, and an equal copy is shared too.
    fn share_current_versions(&mut self) {
        let placeholder = unresolved_version();
        let mut relink: Vec<(VersionKey, Option<Arc<Job>>)> = Vec::new();
        for (k, version) in &self.job_versions {
            if Arc::ptr_eq(version, &placeholder) {
                let job = self
                    .jobs
                    .get(&(k.0.clone(), k.1.clone()))
                    .filter(|j| (j.create_index, j.version) == (k.2, k.3));
                relink.push((k.clone(), job.cloned()));
            }
        }
        for (k, job) in relink {
            match job {
                Some(job) => self.job_versions.insert(k, job),
                // A `nil` without its job: only a damaged snapshot.
                None => self.job_versions.remove(&k),
            };
        }
        let same: Vec<(NsKey, Arc<Job>)> = self
            .jobs
            .iter()
            .filter_map(|(k, job)| {
                let vkey = (k.0.clone(), k.1.clone(), job.create_index, job.version);
                let version = self.job_versions.get(&vkey)?;
                (!Arc::ptr_eq(version, job) && **version == **job)
                    .then(|| (k.clone(), Arc::clone(version)))
            })
            .collect();
        for (k, version) in same {
            self.jobs.insert(k, version);
        }
    }

    /// Recompute every derived index from the rows (after a restore), the
    /// evaluations' two string-keyed sets beside the rest by `join` (on a restart with 100,000
    /// evaluations they are the larger half of the work, and nothing else
    /// runs then). They are built from a copy of the table, which shares
    /// its rows. Each index has one builder, so the result does not depend
    /// on how `join` runs them.
    pub fn rebuild_with(&mut self, join: &impl Join) {
        let evals = self.evals.clone();
        let eval_sets = move || {
            let (mut by_create, mut by_job) = (Set::new(), Set::new());
            for e in evals.values() {
                by_create.insert(ByCreate(Arc::clone(e)));
                by_job.insert(ByJob(Arc::clone(e)));
            }
            (by_create, by_job)
        };
        let ((by_create, by_job), mut ix) = join.join(eval_sets, || self.rebuild_rest());
        ix.evals_by_create = by_create;
        ix.evals_by_job = by_job;
        self.ix = ix;
    }

    /// Every derived index but the evaluations' sets by creation and by
    /// job.
    fn rebuild_rest(&mut self) -> Secondary {
        self.share_current_versions();
        self.acl.rebuild();
        let mut ix = Secondary {
            periodic_jobs: self
                .jobs
                .iter()
                .filter(|(_, j)| j.periodic.is_some())
                .map(|(k, _)| k.clone())
                .collect(),
            ..Secondary::default()
        };
        for e in self.evals.values() {
            ix.evals_by_modify.insert(ByModify(Arc::clone(e)));
            let st = ix
                .job_stats
                .entry(ns_key(&e.namespace, &e.job_id))
                .or_default();
            st.evals += 1;
            st.evals_live += u64::from(!e.status.is_terminal());
        }
        for row in self.allocs.values() {
            let a = &row.alloc;
            ix.allocs_by_create.insert((a.create_index, a.id.clone()));
            ix.allocs_by_job
                .insert((a.namespace.clone(), a.job_id.clone(), a.id.clone()));
            ix.allocs_by_node.insert((a.node_id.clone(), a.id.clone()));
            ix.allocs_by_eval.insert((a.eval_id.clone(), a.id.clone()));
            if !a.deployment_id.is_empty() {
                ix.allocs_by_deployment
                    .insert((a.deployment_id.clone(), a.id.clone()));
            }
            let st = ix
                .job_stats
                .entry(ns_key(&a.namespace, &a.job_id))
                .or_default();
            st.allocs += 1;
            st.allocs_live += u64::from(!a.is_terminal());
            *ix.version_refs.entry(version_key(row)).or_default() += 1;
            ix.count_usage(a, !a.is_terminal(), true);
        }
        for n in self.nodes.values() {
            ix.nodes_by_modify.insert((n.modify_index, n.id.clone()));
        }
        for (node, index) in self.key_indexes.node_allocs_iter() {
            ix.node_allocs_by_index.insert((index, node.to_string()));
        }
        for d in self.deployments.values() {
            ix.deployments_by_create
                .insert(DeploymentByCreate(Arc::clone(d)));
            ix.deployments_by_job.insert(DeploymentByJob(Arc::clone(d)));
        }
        ix
    }
}
