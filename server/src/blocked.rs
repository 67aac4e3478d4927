//! Which blocked evaluations to retry, and when (Nomad
//! nomad/blocked_evals.go). A blocked eval waits for room; room appears when
//! a node is added or changes (status, eligibility, resources, attributes)
//! or when allocations on a node stop.
//!
//! The leader keeps the blocked evals itself ([`BlockedEvals`]), keyed by
//! what could wake them: the datacenters and node pool their job may use
//! (Nomad keys them by computed node class, which the scheduler here does
//! not record on the eval). After each apply, [`BlockedEvals::look`] reads
//! only what changed since its last look, through the state's
//! modify-index reads (`State::evals_modified_after`,
//! `nodes_modified_after`, `node_allocs_changed_after`): new or changed
//! evals update the set, and each changed node is tested only against the
//! blocked evals of its datacenter and pool. So a write that cannot unblock
//! anything costs a few index reads, however many evals are blocked; the
//! first look after gaining leadership reads everything once.
//!
//! The test itself ([`unblocks`]) is exact: an eval is retried only when a
//! changed node could take one of its failed task groups, and only for
//! changes after the state the eval was planned against.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use drover_api::{AllocMetric, EvalStatus, Evaluation, Node, NodeStatus, SchedulingEligibility};
use drover_scheduler::feasible::{
    datacenter_matches, node_is_feasible, pool_matches, NODE_POOL_ALL, NODE_POOL_DEFAULT,
};
use drover_state::usage::NodeUsage;
use drover_state::{State, WatchKey, WatchSet};

/// What one look found.
#[derive(Debug, Default)]
pub struct Look<'s> {
    /// Evals written as pending since the last look (every pending eval on
    /// the first look).
    pub pending: Vec<&'s Evaluation>,
    /// Blocked evals some changed node could now take.
    pub unblocked: Vec<&'s Evaluation>,
    /// Blocked evals tested in this look: newly blocked ones, and known
    /// ones whose datacenter and pool a changed node is in. The leader's
    /// per-write cost, counted for [`crate::leader::SchedulerStats`].
    pub examined: u64,
}

/// A bucket of the blocked set: a datacenter and a node pool, `None`
/// standing for "any" (a job whose datacenters include a glob, a job in
/// pool `all`).
type Bucket = (Option<String>, Option<String>);

/// What one blocked eval waits for: the job's datacenter patterns and pool,
/// as they were when the eval was seen blocked. A job changed since comes
/// with an eval of its own, which supersedes this one.
///
/// Blocked evals of jobs of one shape (the same datacenters and pool) share
/// one `Waiting` ([`BlockedEvals::shapes`]): a set of 50,000 blocked jobs
/// usually holds a handful of shapes, not 50,000 copies of the same
/// datacenter and pool strings.
#[derive(Debug, Clone)]
struct Waiting {
    datacenters: Vec<String>,
    node_pool: String,
    buckets: Vec<Bucket>,
}

impl Waiting {
    /// The shape of `eval`'s job: its datacenters and pool. A gone or
    /// stopped job waits for nothing in particular (no datacenters, no
    /// pool): any node change retries the eval, which then completes.
    fn shape<'s>(st: &'s State, eval: &Evaluation) -> (&'s [String], &'s str) {
        let job = st
            .job(&mut WatchSet::new(), &eval.namespace, &eval.job_id)
            .filter(|j| !j.stop);
        match job {
            Some(j) => (&j.datacenters, &j.node_pool),
            None => (&[], ""),
        }
    }

    fn new(datacenters: Vec<String>, node_pool: String) -> Waiting {
        let pool = (!node_pool.is_empty() && node_pool != NODE_POOL_ALL).then(|| node_pool.clone());
        let mut buckets: Vec<Bucket> =
            if datacenters.is_empty() || datacenters.iter().any(|d| d.contains('*')) {
                vec![(None, pool)]
            } else {
                datacenters
                    .iter()
                    .map(|d| (Some(d.clone()), pool.clone()))
                    .collect()
            };
        buckets.sort();
        buckets.dedup();
        Waiting {
            datacenters,
            node_pool,
            buckets,
        }
    }

    /// The cheap part of feasibility: could the job run in `node`'s
    /// datacenter and pool at all.
    fn may_use(&self, node: &Node) -> bool {
        datacenter_matches(&self.datacenters, &node.datacenter)
            && pool_matches(&self.node_pool, &node.node_pool)
    }
}

/// The blocked evals the leader holds, by what could wake them, and its
/// picture of the nodes' room. Reset when leadership is lost.
#[derive(Debug, Default)]
pub struct BlockedEvals {
    /// The state index of the last look; `None` before the first.
    last: Option<u64>,
    /// Each ID is one `Arc<str>`, shared by the buckets it sits in.
    evals: BTreeMap<Arc<str>, Arc<Waiting>>,
    buckets: BTreeMap<Bucket, BTreeSet<Arc<str>>>,
    /// One `Waiting` per job shape in use, by pool, then datacenters.
    shapes: BTreeMap<String, BTreeMap<Vec<String>, Arc<Waiting>>>,
    capacity: CapacityWatch,
}

impl BlockedEvals {
    /// How many blocked evals the set holds.
    pub fn len(&self) -> usize {
        self.evals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.evals.is_empty()
    }

    /// How many job shapes (datacenters and pool) the blocked evals share.
    pub fn shapes(&self) -> usize {
        self.shapes.values().map(BTreeMap::len).sum()
    }

    /// Forget everything (leadership lost): the next look reads every eval
    /// and node once.
    pub fn reset(&mut self) {
        *self = BlockedEvals::default();
    }

    /// Read what changed since the last look: the evals written since (new
    /// pending ones to enqueue, blocked ones to add, others to drop) and the
    /// nodes that may have gained room, tested against the blocked evals
    /// that could use them. Newly blocked evals are tested against the nodes
    /// changed since their snapshot. Work is proportional to the changes.
    pub fn look<'s>(&mut self, st: &'s State) -> Look<'s> {
        let first = self.last.is_none();
        let since = self.last.unwrap_or(0);
        self.last = Some(st.latest_index());
        let mut look = Look::default();
        let mut fresh = Vec::new();
        for e in st.evals_modified_after(since) {
            // A blocked eval written again is keyed afresh: its job or
            // snapshot may have moved.
            self.remove(&e.id);
            match e.status {
                EvalStatus::Pending => look.pending.push(e),
                EvalStatus::Blocked => fresh.push(e),
                _ => {}
            }
        }
        // Every node counts as changed on the first look.
        let changed = ByBucket::of(self.capacity.changed(st));
        if !changed.is_empty() {
            self.test_known(st, &changed, &mut look);
        }
        for e in fresh {
            look.examined += 1;
            let waiting = self.waiting(st, e);
            let nodes = if first {
                changed.for_eval(&waiting)
            } else {
                changed_since(st, e.snapshot_index, &waiting)
            };
            if unblocks(st, e, &nodes) {
                look.unblocked.push(e);
            }
            // Kept while the broker retries it: the retry's outcome writes
            // the eval again, which takes it out.
            self.add(Arc::from(e.id.as_str()), waiting);
        }
        look
    }

    /// The shared `Waiting` of `eval`'s job shape.
    fn waiting(&mut self, st: &State, eval: &Evaluation) -> Arc<Waiting> {
        let (datacenters, node_pool) = Waiting::shape(st, eval);
        // Looked up by the job's own strings; copied only for a new shape.
        let by_dc = self.shapes.entry(node_pool.to_string()).or_default();
        if let Some(w) = by_dc.get(datacenters) {
            return Arc::clone(w);
        }
        let w = Arc::new(Waiting::new(datacenters.to_vec(), node_pool.to_string()));
        by_dc.insert(datacenters.to_vec(), Arc::clone(&w));
        w
    }

    /// Test the known blocked evals in the buckets of the changed nodes.
    fn test_known<'s>(&mut self, st: &'s State, changed: &ByBucket<'s>, look: &mut Look<'s>) {
        let mut ids: BTreeSet<&str> = BTreeSet::new();
        for bucket in changed.nodes.keys() {
            if let Some(set) = self.buckets.get(bucket) {
                ids.extend(set.iter().map(|id| &**id));
            }
        }
        let mut stale = Vec::new();
        for id in ids {
            look.examined += 1;
            let Some(waiting) = self.evals.get(id) else {
                continue;
            };
            let Some(e) = st
                .eval(&mut WatchSet::new(), id)
                .filter(|e| e.status == EvalStatus::Blocked)
            else {
                // Deleted without a write the look could see.
                stale.push(id.to_string());
                continue;
            };
            let nodes = changed.for_eval(waiting);
            if !nodes.is_empty() && unblocks(st, e, &nodes) {
                look.unblocked.push(e);
            }
        }
        for id in stale {
            self.remove(&id);
        }
    }

    fn add(&mut self, id: Arc<str>, waiting: Arc<Waiting>) {
        for b in &waiting.buckets {
            match self.buckets.get_mut(b) {
                Some(set) => {
                    set.insert(Arc::clone(&id));
                }
                None => {
                    self.buckets
                        .insert(b.clone(), BTreeSet::from([Arc::clone(&id)]));
                }
            }
        }
        self.evals.insert(id, waiting);
    }

    fn remove(&mut self, id: &str) {
        let Some(waiting) = self.evals.remove(id) else {
            return;
        };
        for b in &waiting.buckets {
            if let Some(set) = self.buckets.get_mut(b) {
                set.remove(id);
                if set.is_empty() {
                    self.buckets.remove(b);
                }
            }
        }
        // The last eval of its shape: only `shapes` and `waiting` hold it.
        if Arc::strong_count(&waiting) == 2 {
            if let Some(by_dc) = self.shapes.get_mut(&waiting.node_pool) {
                by_dc.remove(waiting.datacenters.as_slice());
                if by_dc.is_empty() {
                    self.shapes.remove(&waiting.node_pool);
                }
            }
        }
    }
}

/// Only a ready, eligible node can take an allocation.
fn could_take_work(node: &Node) -> bool {
    node.status == NodeStatus::Ready
        && node.scheduling_eligibility == SchedulingEligibility::Eligible
}

/// Changed nodes that could take work, under each bucket whose evals
/// could use them (its datacenter or any, its pool or any).
struct ByBucket<'s> {
    nodes: BTreeMap<Bucket, Vec<&'s Node>>,
}

impl<'s> ByBucket<'s> {
    fn of(changed: Vec<&'s Node>) -> ByBucket<'s> {
        let mut nodes: BTreeMap<Bucket, Vec<&'s Node>> = BTreeMap::new();
        for node in changed.into_iter().filter(|n| could_take_work(n)) {
            let dc = Some(node.datacenter.clone());
            let pool = Some(if node.node_pool.is_empty() {
                NODE_POOL_DEFAULT.to_string()
            } else {
                node.node_pool.clone()
            });
            for b in [
                (dc.clone(), pool.clone()),
                (dc, None),
                (None, pool),
                (None, None),
            ] {
                nodes.entry(b).or_default().push(node);
            }
        }
        ByBucket { nodes }
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes a job waiting as `waiting` could use. A node is under one
    /// datacenter, so the eval's buckets never yield it twice.
    fn for_eval(&self, waiting: &Waiting) -> Vec<&'s Node> {
        waiting
            .buckets
            .iter()
            .filter_map(|b| self.nodes.get(b))
            .flatten()
            .copied()
            .filter(|n| waiting.may_use(n))
            .collect()
    }
}

/// The nodes changed after `index` that a job waiting as `waiting` could
/// use: registered or updated, or with allocations changed (which need not
/// mean more room: this runs once per newly blocked eval, and the scheduler
/// decides).
fn changed_since<'s>(st: &'s State, index: u64, waiting: &Waiting) -> Vec<&'s Node> {
    let mut ids: BTreeSet<&str> = st
        .nodes_modified_after(index)
        .map(|n| n.id.as_str())
        .collect();
    ids.extend(st.node_allocs_changed_after(index).map(|(id, _)| id));
    ids.into_iter()
        .filter_map(|id| st.node_unwatched(id))
        .filter(|n| could_take_work(n) && waiting.may_use(n))
        .collect()
}

/// What a node's live allocations held at the last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    allocs: u32,
    cpu_mhz: i64,
    memory_mb: i64,
    disk_mb: i64,
    ports: usize,
}

impl Held {
    fn of(usage: Option<&NodeUsage>) -> Held {
        usage.map_or(
            Held {
                allocs: 0,
                cpu_mhz: 0,
                memory_mb: 0,
                disk_mb: 0,
                ports: 0,
            },
            |u| Held {
                allocs: u.allocs,
                cpu_mhz: u.cpu_mhz,
                memory_mb: u.memory_mb,
                disk_mb: u.disk_mb,
                ports: u.ports.len(),
            },
        )
    }

    /// Whether something was given back since `before`: fewer allocations,
    /// or less of some resource. Comparing totals between two looks (not
    /// each stop) misses only a stop and an equal or larger placement on
    /// the same node between them, after which the node has no more CPU,
    /// memory, disk or ports free than at the last look.
    fn freed_since(&self, before: &Held) -> bool {
        self.allocs < before.allocs
            || self.cpu_mhz < before.cpu_mhz
            || self.memory_mb < before.memory_mb
            || self.disk_mb < before.disk_mb
            || self.ports < before.ports
    }
}

/// Which nodes may have gained room since the last look, read from the
/// state's change indexes rather than by walking every node.
#[derive(Debug, Default)]
pub struct CapacityWatch {
    /// The state index of the last look; `None` before the first.
    last: Option<u64>,
    /// What each node's live allocations held at the last look. A node
    /// without an entry (deregistered, or first seen through an allocation
    /// change) counts as having gained room.
    held: BTreeMap<String, Held>,
}

impl CapacityWatch {
    /// Nodes that may have gained room since the last call: new nodes,
    /// changed nodes, and nodes whose live allocations hold less. The first
    /// call reports every node.
    pub fn changed<'s>(&mut self, st: &'s State) -> Vec<&'s Node> {
        let since = self.last;
        self.last = Some(st.latest_index());
        let Some(since) = since else {
            self.held = st
                .nodes_unwatched()
                .map(|n| (n.id.clone(), Held::of(st.node_usage(&n.id))))
                .collect();
            return st.nodes_unwatched().collect();
        };
        let mut out: BTreeMap<&str, &Node> = BTreeMap::new();
        for node in st.nodes_modified_after(since) {
            self.held
                .insert(node.id.clone(), Held::of(st.node_usage(&node.id)));
            out.insert(&node.id, node);
        }
        for (id, _) in st.node_allocs_changed_after(since) {
            if out.contains_key(id) {
                continue;
            }
            let Some(node) = st.node_unwatched(id) else {
                self.held.remove(id);
                continue;
            };
            let now = Held::of(st.node_usage(id));
            let freed = match self.held.get_mut(id) {
                Some(before) => now.freed_since(&std::mem::replace(before, now)),
                None => {
                    self.held.insert(id.to_string(), now);
                    true
                }
            };
            if freed {
                out.insert(id, node);
            }
        }
        out.into_values().collect()
    }

    /// Forget everything (leadership lost): the next look treats every node
    /// as changed, so a new leader retries its blocked evals once.
    pub fn reset(&mut self) {
        *self = CapacityWatch::default();
    }
}

/// Whether `eval` (blocked) could place something on one of `changed`
/// that changed after the state the eval was planned against. A gone or stopped job unblocks
/// too, so its eval completes.
pub fn unblocks(st: &State, eval: &Evaluation, changed: &[&Node]) -> bool {
    let Some(job) = st
        .job(&mut WatchSet::new(), &eval.namespace, &eval.job_id)
        .filter(|j| !j.stop)
    else {
        return true;
    };
    // Changes the scheduler already saw when it blocked the eval do not
    // count; those after its snapshot do, even if they committed first.
    let since = eval.snapshot_index;
    let changed: Vec<&Node> = changed
        .iter()
        .copied()
        .filter(|n| {
            n.modify_index > since || st.index_of(&WatchKey::NodeAllocs(n.id.clone())) > since
        })
        .collect();
    if changed.is_empty() {
        return false;
    }
    job.task_groups
        .iter()
        .filter(|tg| {
            eval.failed_tg_allocs.is_empty() || eval.failed_tg_allocs.contains_key(&tg.name)
        })
        .any(|tg| {
            changed
                .iter()
                .any(|n| node_is_feasible(n, job, tg, &mut AllocMetric::default()))
        })
}
