//! Reads. Each takes the caller's [`WatchSet`] and adds exactly the keys it
//! read, so a blocking query parks on what it depends on and nothing else.
//! [`State::index_of`] gives the index a read reports for a key.

use std::ops::Bound;
use std::sync::Arc;

use drover_api::{
    Allocation, Deployment, Evaluation, Job, JobSummary, Node, SchedulerConfiguration,
};

use crate::pagination::SortKey;
use crate::row_ix::{ByCreate, ByJob, DeploymentByCreate, DeploymentByJob};
use crate::tables::{AllocRow, Map, Set};
use crate::watch::{Table, WatchKey, WatchSet};
use crate::State;

/// Which namespaces a list covers: one, or all (`namespace=*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceSel<'a> {
    One(&'a str),
    All,
}

impl NamespaceSel<'_> {
    pub fn matches(&self, ns: &str) -> bool {
        match self {
            NamespaceSel::One(n) => *n == ns,
            NamespaceSel::All => true,
        }
    }
}

type Iter<'a, T> = Box<dyn Iterator<Item = T> + 'a>;

/// Iterate `set` from `start` (inclusive) forwards, or down from it backwards.
fn walk<'a, K: Ord + Clone + 'a>(
    set: &'a Set<K>,
    start: Option<K>,
    reverse: bool,
) -> Iter<'a, &'a K> {
    match (start, reverse) {
        (None, false) => Box::new(set.iter()),
        (None, true) => Box::new(set.iter().rev()),
        (Some(k), false) => Box::new(set.range((Bound::Included(k), Bound::Unbounded))),
        (Some(k), true) => Box::new(set.range((Bound::Unbounded, Bound::Included(k))).rev()),
    }
}

fn walk_map<'a, K: Ord + Clone + 'a, V>(
    map: &'a Map<K, V>,
    start: Option<K>,
    reverse: bool,
) -> Iter<'a, (&'a K, &'a V)> {
    match (start, reverse) {
        (None, false) => Box::new(map.iter()),
        (None, true) => Box::new(map.iter().rev()),
        (Some(k), false) => Box::new(map.range((Bound::Included(k), Bound::Unbounded))),
        (Some(k), true) => Box::new(map.range((Bound::Unbounded, Bound::Included(k))).rev()),
    }
}

/// The smallest string above every string that starts with `prefix`
/// (`None` when there is none: an empty prefix or one of `char::MAX`s).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        let next = match c {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Walk the contiguous key range `[lower, upper)` whose members satisfy
/// `in_range`, from the page token when given: a prefix scan touches only
/// the keys it returns (plus at most the keys between a token above the
/// range and the range itself).
fn scan<'a, K: Ord + Clone + 'a, V>(
    map: &'a Map<K, V>,
    lower: K,
    upper: Option<K>,
    token: Option<K>,
    reverse: bool,
    in_range: impl Fn(&K) -> bool + Copy + 'a,
) -> Iter<'a, (&'a K, &'a V)> {
    if !reverse {
        let start = match token {
            Some(t) if t > lower => t,
            _ => lower,
        };
        return Box::new(map.range(start..).take_while(move |(k, _)| in_range(k)));
    }
    let it: Iter<'a, (&'a K, &'a V)> = match (token, upper) {
        (Some(t), _) => Box::new(map.range(..=t).rev()),
        (None, Some(u)) => Box::new(map.range(..u).rev()),
        (None, None) => Box::new(map.iter().rev()),
    };
    // Keys at or above `lower` that are out of range lie above it: skip them.
    Box::new(
        it.skip_while(move |(k, _)| !in_range(k) && **k >= lower)
            .take_while(move |(k, _)| in_range(k)),
    )
}

/// IDs starting with `prefix`, in ID order, from the token `start`.
fn id_prefix_scan<'a, V>(
    map: &'a Map<String, Arc<V>>,
    prefix: &'a str,
    start: Option<&SortKey>,
    reverse: bool,
) -> Iter<'a, &'a V> {
    let it = scan(
        map,
        prefix.to_string(),
        prefix_successor(prefix),
        id_start(start),
        reverse,
        move |k: &String| k.starts_with(prefix),
    );
    Box::new(it.map(|(_, v)| &**v))
}

fn create_start(start: Option<&SortKey>) -> Option<(u64, String)> {
    match start {
        Some(SortKey::CreateIndexId(i, id)) => Some((*i, id.clone())),
        _ => None,
    }
}

fn id_start(start: Option<&SortKey>) -> Option<String> {
    match start {
        Some(SortKey::Id(id)) => Some(id.clone()),
        _ => None,
    }
}

impl State {
    /// The index a read of `key` reports: the object's `ModifyIndex`, the
    /// table index when the object is absent (as Nomad), or the last change to
    /// a collection.
    pub fn index_of(&self, key: &WatchKey) -> u64 {
        self.stored_index_of(key).max(self.restored_at)
    }

    fn stored_index_of(&self, key: &WatchKey) -> u64 {
        let t = &self.tables;
        let table = |tb: Table| t.indexes.get(&tb).copied().unwrap_or(0);
        match key {
            WatchKey::Table(tb) => table(*tb),
            WatchKey::Job { namespace, id } => t
                .jobs
                .get(&(namespace.clone(), id.clone()))
                .map_or(table(Table::Jobs), |j| j.modify_index),
            WatchKey::JobSummary { namespace, id } => t
                .job_summaries
                .get(&(namespace.clone(), id.clone()))
                .map_or(table(Table::JobSummary), |s| s.modify_index),
            WatchKey::Eval(id) => t
                .evals
                .get(id)
                .map_or(table(Table::Evals), |e| e.modify_index),
            WatchKey::Alloc(id) => t
                .allocs
                .get(id)
                .map_or(table(Table::Allocs), |r| r.alloc.modify_index),
            WatchKey::Node(id) => t
                .nodes
                .get(id)
                .map_or(table(Table::Nodes), |n| n.modify_index),
            WatchKey::Deployment(id) => t
                .deployments
                .get(id)
                .map_or(table(Table::Deployment), |d| d.modify_index),
            // No table index of its own: 0 until the job has events.
            WatchKey::JobScalingEvents { namespace, id } => t
                .scaling_events
                .get(&(namespace.clone(), id.clone()))
                .map_or(0, |e| e.modify_index),
            other => t.key_indexes.get(other),
        }
    }

    /// The index a read over `ws` reports: the newest of its keys.
    pub fn index_of_set(&self, ws: &WatchSet) -> u64 {
        ws.keys().map(|k| self.index_of(k)).max().unwrap_or(0)
    }

    pub fn table_index(&self, table: Table) -> u64 {
        self.index_of(&WatchKey::Table(table))
    }

    // ----- jobs -------------------------------------------------------------

    pub fn job(&self, ws: &mut WatchSet, namespace: &str, id: &str) -> Option<&Job> {
        ws.add(WatchKey::job(namespace, id));
        self.tables
            .jobs
            .get(&(namespace.to_string(), id.to_string()))
            .map(|j| &**j)
    }

    /// Jobs in (namespace, ID) order, optionally only IDs with `prefix`,
    /// starting at the page token `start`.
    pub fn jobs<'a>(
        &'a self,
        ws: &mut WatchSet,
        ns: NamespaceSel<'a>,
        prefix: &'a str,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a Job> {
        ws.add(WatchKey::Table(Table::Jobs));
        let token = match start {
            Some(SortKey::NamespaceId(n, i)) => Some((n.clone(), i.clone())),
            _ => None,
        };
        match ns {
            NamespaceSel::One(ns) => {
                let lower = (ns.to_string(), prefix.to_string());
                let upper = if prefix.is_empty() {
                    prefix_successor(ns).map(|n| (n, String::new()))
                } else {
                    prefix_successor(prefix).map(|p| (ns.to_string(), p))
                };
                let in_range = move |(n, i): &(String, String)| n == ns && i.starts_with(prefix);
                Box::new(
                    scan(&self.tables.jobs, lower, upper, token, reverse, in_range)
                        .map(|(_, j)| &**j),
                )
            }
            // IDs with a prefix are not contiguous across namespaces.
            NamespaceSel::All => Box::new(
                walk_map(&self.tables.jobs, token, reverse)
                    .filter(move |((_, i), _)| i.starts_with(prefix))
                    .map(|(_, j)| &**j),
            ),
        }
    }

    pub fn job_summary(&self, ws: &mut WatchSet, namespace: &str, id: &str) -> Option<&JobSummary> {
        ws.add(WatchKey::job_summary(namespace, id));
        self.tables
            .job_summaries
            .get(&(namespace.to_string(), id.to_string()))
            .map(|s| &**s)
    }

    /// Tracked versions of a job, newest first (as `/v1/job/:id/versions`).
    pub fn job_versions(&self, ws: &mut WatchSet, namespace: &str, id: &str) -> Vec<Arc<Job>> {
        ws.add(WatchKey::job_versions(namespace, id));
        self.tables
            .tracked_versions(namespace, id)
            .into_iter()
            .rev()
            .cloned()
            .collect()
    }

    /// A version of the live job (not of an earlier, purged incarnation).
    pub fn job_version(&self, namespace: &str, id: &str, version: u64) -> Option<&Arc<Job>> {
        let current = self
            .tables
            .jobs
            .get(&(namespace.to_string(), id.to_string()))?
            .create_index;
        self.tables
            .job_versions
            .get(&(namespace.to_string(), id.to_string(), current, version))
    }

    // ----- evaluations ------------------------------------------------------

    pub fn eval(&self, ws: &mut WatchSet, id: &str) -> Option<&Evaluation> {
        ws.add(WatchKey::Eval(id.to_string()));
        self.tables.evals.get(id).map(|e| &**e)
    }

    /// Evaluations in (CreateIndex, ID) order from the token `start`.
    pub fn evals<'a>(
        &'a self,
        ws: &mut WatchSet,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a Evaluation> {
        ws.add(WatchKey::Table(Table::Evals));
        let start = create_start(start).map(|(i, id)| ByCreate::probe(i, &id));
        Box::new(walk(&self.tables.ix.evals_by_create, start, reverse).map(|e| &*e.0))
    }

    /// Evaluations whose ID starts with `prefix`, in ID order.
    pub fn evals_by_prefix<'a>(
        &'a self,
        ws: &mut WatchSet,
        prefix: &'a str,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a Evaluation> {
        ws.add(WatchKey::Table(Table::Evals));
        id_prefix_scan(&self.tables.evals, prefix, start, reverse)
    }

    pub fn evals_by_job<'a>(
        &'a self,
        ws: &mut WatchSet,
        namespace: &str,
        job_id: &str,
    ) -> Iter<'a, &'a Evaluation> {
        ws.add(WatchKey::job_evals(namespace, job_id));
        let (ns, job) = (namespace.to_string(), job_id.to_string());
        Box::new(
            self.tables
                .ix
                .evals_by_job
                .range(ByJob::probe(namespace, job_id)..)
                .take_while(move |e| e.is_of(&ns, &job))
                .map(|e| &*e.0),
        )
    }

    // ----- allocations ------------------------------------------------------

    pub fn alloc(&self, ws: &mut WatchSet, id: &str) -> Option<&AllocRow> {
        ws.add(WatchKey::Alloc(id.to_string()));
        self.tables.allocs.get(id).map(|r| &**r)
    }

    /// The job version an allocation runs, if still stored.
    pub fn alloc_job(&self, row: &AllocRow) -> Option<&Arc<Job>> {
        self.tables
            .job_versions
            .get(&crate::tables::version_key(row))
    }

    /// The allocation as the API serves it: with its `Job` attached.
    pub fn alloc_with_job(&self, row: &AllocRow) -> Allocation {
        let mut a = row.alloc.clone();
        a.job = self.alloc_job(row).map(|j| Box::new(Job::clone(j)));
        a
    }

    /// Allocations in (CreateIndex, ID) order from the token `start`.
    pub fn allocs<'a>(
        &'a self,
        ws: &mut WatchSet,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a AllocRow> {
        ws.add(WatchKey::Table(Table::Allocs));
        let allocs = &self.tables.allocs;
        Box::new(
            walk(
                &self.tables.ix.allocs_by_create,
                create_start(start),
                reverse,
            )
            .filter_map(move |(_, id)| allocs.get(id).map(|r| &**r)),
        )
    }

    /// Allocations whose ID starts with `prefix`, in ID order.
    pub fn allocs_by_prefix<'a>(
        &'a self,
        ws: &mut WatchSet,
        prefix: &'a str,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a AllocRow> {
        ws.add(WatchKey::Table(Table::Allocs));
        id_prefix_scan(&self.tables.allocs, prefix, start, reverse)
    }

    pub fn allocs_by_job<'a>(
        &'a self,
        ws: &mut WatchSet,
        namespace: &str,
        job_id: &str,
    ) -> Iter<'a, &'a AllocRow> {
        ws.add(WatchKey::job_allocs(namespace, job_id));
        let (ns, job) = (namespace.to_string(), job_id.to_string());
        let lo = (ns.clone(), job.clone(), String::new());
        let allocs = &self.tables.allocs;
        Box::new(
            self.tables
                .ix
                .allocs_by_job
                .range(lo..)
                .take_while(move |(n, j, _)| *n == ns && *j == job)
                .filter_map(move |(_, _, id)| allocs.get(id).map(|r| &**r)),
        )
    }

    /// A node by ID without registering a watch: for the scheduler, which
    /// reads a snapshot and never blocks.
    pub fn node_unwatched(&self, id: &str) -> Option<&Node> {
        self.tables.nodes.get(id).map(|n| &**n)
    }

    /// Every node in ID order, without a watch or a prefix test: the
    /// scheduler walks all of them for every evaluation.
    pub fn nodes_unwatched(&self) -> impl ExactSizeIterator<Item = &Node> {
        self.tables.nodes.values().map(|n| &**n)
    }

    /// What the live allocations on a node reserve (`None`: nothing).
    /// Not a watched read: the scheduler uses it against a snapshot.
    pub fn node_usage(&self, node_id: &str) -> Option<&crate::usage::NodeUsage> {
        self.tables.ix.node_usage.get(node_id)
    }

    pub fn allocs_by_node<'a>(
        &'a self,
        ws: &mut WatchSet,
        node_id: &str,
    ) -> Iter<'a, &'a AllocRow> {
        ws.add(WatchKey::NodeAllocs(node_id.to_string()));
        pair_range(&self.tables.ix.allocs_by_node, node_id, &self.tables.allocs)
    }

    pub fn allocs_by_eval<'a>(
        &'a self,
        ws: &mut WatchSet,
        eval_id: &str,
    ) -> Iter<'a, &'a AllocRow> {
        ws.add(WatchKey::EvalAllocs(eval_id.to_string()));
        pair_range(&self.tables.ix.allocs_by_eval, eval_id, &self.tables.allocs)
    }

    pub fn allocs_by_deployment<'a>(
        &'a self,
        ws: &mut WatchSet,
        deployment_id: &str,
    ) -> Iter<'a, &'a AllocRow> {
        ws.add(WatchKey::DeploymentAllocs(deployment_id.to_string()));
        pair_range(
            &self.tables.ix.allocs_by_deployment,
            deployment_id,
            &self.tables.allocs,
        )
    }

    // ----- nodes ------------------------------------------------------------

    pub fn node(&self, ws: &mut WatchSet, id: &str) -> Option<&Node> {
        ws.add(WatchKey::Node(id.to_string()));
        self.tables.nodes.get(id).map(|n| &**n)
    }

    /// Nodes in ID order, optionally only IDs with `prefix`, from the token `start`.
    pub fn nodes<'a>(
        &'a self,
        ws: &mut WatchSet,
        prefix: &'a str,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a Node> {
        ws.add(WatchKey::Table(Table::Nodes));
        id_prefix_scan(&self.tables.nodes, prefix, start, reverse)
    }

    // ----- deployments ------------------------------------------------------

    pub fn deployment(&self, ws: &mut WatchSet, id: &str) -> Option<&Deployment> {
        ws.add(WatchKey::Deployment(id.to_string()));
        self.tables.deployments.get(id).map(|d| &**d)
    }

    /// Deployments in (CreateIndex, ID) order from the token `start`.
    pub fn deployments<'a>(
        &'a self,
        ws: &mut WatchSet,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a Deployment> {
        ws.add(WatchKey::Table(Table::Deployment));
        let start = create_start(start).map(|(i, id)| DeploymentByCreate::probe(i, &id));
        Box::new(walk(&self.tables.ix.deployments_by_create, start, reverse).map(|d| &*d.0))
    }

    /// Deployments whose ID starts with `prefix`, in ID order.
    pub fn deployments_by_prefix<'a>(
        &'a self,
        ws: &mut WatchSet,
        prefix: &'a str,
        start: Option<&SortKey>,
        reverse: bool,
    ) -> Iter<'a, &'a Deployment> {
        ws.add(WatchKey::Table(Table::Deployment));
        id_prefix_scan(&self.tables.deployments, prefix, start, reverse)
    }

    /// A job's deployments, every incarnation of the job included, in ID
    /// order (Nomad `DeploymentsByJobID` with `all`; callers that want only
    /// the live job's compare `JobCreateIndex`).
    pub fn deployments_by_job<'a>(
        &'a self,
        ws: &mut WatchSet,
        namespace: &str,
        job_id: &str,
    ) -> Iter<'a, &'a Deployment> {
        ws.add(WatchKey::job_deployments(namespace, job_id));
        let (ns, job) = (namespace.to_string(), job_id.to_string());
        Box::new(
            self.tables
                .ix
                .deployments_by_job
                .range(DeploymentByJob::probe(namespace, job_id)..)
                .take_while(move |d| d.is_of(&ns, &job))
                .map(|d| &*d.0),
        )
    }

    /// The job's deployment with the highest `CreateIndex` (Nomad
    /// `LatestDeploymentByJobID`).
    pub fn latest_deployment_by_job(
        &self,
        ws: &mut WatchSet,
        namespace: &str,
        job_id: &str,
    ) -> Option<&Deployment> {
        self.deployments_by_job(ws, namespace, job_id)
            .max_by_key(|d| (d.create_index, d.id.clone()))
    }

    // ----- configuration ----------------------------------------------------

    /// The cluster's scheduler configuration, once its first leader wrote
    /// it. Never blocked on, so it takes no watch set.
    pub fn scheduler_config(&self) -> Option<&SchedulerConfiguration> {
        self.tables.scheduler_config.as_deref()
    }

    /// The cluster's autopilot configuration, once its first leader wrote
    /// it. Never blocked on, so it takes no watch set.
    pub fn autopilot_config(&self) -> Option<&crate::command::AutopilotConfig> {
        self.tables.autopilot_config.as_deref()
    }
}

fn pair_range<'a>(
    set: &'a Set<(String, String)>,
    first: &str,
    allocs: &'a Map<String, Arc<AllocRow>>,
) -> Iter<'a, &'a AllocRow> {
    let first = first.to_string();
    let lo = (first.clone(), String::new());
    Box::new(
        set.range(lo..)
            .take_while(move |(f, _)| *f == first)
            .filter_map(move |(_, id)| allocs.get(id).map(|r| &**r)),
    )
}
