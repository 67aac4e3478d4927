//! Which blocked evaluations to retry (Nomad nomad/blocked_evals.go). A
//! blocked eval waits for room; room appears when a node is added or
//! changes (status, eligibility, resources, attributes) or when allocations
//! on a node stop. Nomad keys this on computed node classes; here each
//! changed node is tested against the eval's failed task groups directly,
//! so an eval is retried only when some changed node could take it.

use std::collections::BTreeMap;

use drover_api::{AllocMetric, Evaluation, Node};
use drover_state::{State, WatchKey, WatchSet};

use crate::scheduler::feasible::node_is_feasible;

/// What each node looked like at the last look.
#[derive(Debug, Default)]
pub struct CapacityWatch {
    seen: BTreeMap<String, (u64, u32)>,
}

impl CapacityWatch {
    /// Nodes that may have gained room since the last call: new nodes,
    /// changed nodes, and nodes with fewer live allocations.
    pub fn changed<'s>(&mut self, st: &'s State) -> Vec<&'s Node> {
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for node in st.nodes_unwatched() {
            let live = st.node_usage(&node.id).map_or(0, |u| u.allocs);
            let now = (node.modify_index, live);
            match self.seen.get(&node.id) {
                Some(&(index, before)) if index == node.modify_index && live >= before => {}
                _ => out.push(node),
            }
            seen.insert(node.id.clone(), now);
        }
        self.seen = seen;
        out
    }

    /// Forget everything (leadership lost): the next look treats every node
    /// as changed, so a new leader retries its blocked evals once.
    pub fn reset(&mut self) {
        self.seen.clear();
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
