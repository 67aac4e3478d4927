//! What changed after a Raft index: the leader's reads. The leader keeps its
//! own picture of the blocked evaluations and the nodes' room and, after
//! each apply, reads only the rows written since its last look, so its work
//! is proportional to what the apply touched rather than to the size of the
//! tables (Nomad gets the same from the FSM pushing each change to
//! nomad/blocked_evals.go as it applies).
//!
//! Range reads over derived indexes kept by `tables.rs` (rebuilt on
//! restore, compared by `State: PartialEq`). Not watched reads: the leader
//! is woken by every apply, not by keys.

use drover_api::{Evaluation, Node};

use crate::row_ix::ByModify;
use crate::State;

/// `(index, id)` entries of `set` above `after`, in index order.
fn after<'a>(
    set: &'a crate::tables::Set<(u64, String)>,
    after: u64,
) -> impl Iterator<Item = &'a (u64, String)> + 'a {
    // `None` only at `u64::MAX`, above which nothing can be.
    let from = after.checked_add(1);
    from.into_iter()
        .flat_map(move |from| set.range((from, String::new())..))
}

impl State {
    /// Evaluations created or updated after `index`, oldest change first.
    /// Deleted evaluations are not reported.
    pub fn evals_modified_after(&self, index: u64) -> impl Iterator<Item = &Evaluation> {
        // `None` only at `u64::MAX`, above which nothing can be.
        let from = index.checked_add(1);
        from.into_iter().flat_map(move |from| {
            self.tables
                .ix
                .evals_by_modify
                .range(ByModify::probe(from)..)
                .map(|e| &*e.0)
        })
    }

    /// Nodes registered or updated (status, eligibility, drain) after
    /// `index`, oldest change first. Deregistered nodes are not reported.
    pub fn nodes_modified_after(&self, index: u64) -> impl Iterator<Item = &Node> {
        let nodes = &self.tables.nodes;
        after(&self.tables.ix.nodes_by_modify, index)
            .filter_map(move |(_, id)| nodes.get(id).map(|n| &**n))
    }

    /// IDs of the nodes whose allocations changed (placed, updated, stopped,
    /// collected) after `index`, with the index of that change, oldest
    /// first. The node itself may be gone.
    pub fn node_allocs_changed_after(&self, index: u64) -> impl Iterator<Item = (&str, u64)> {
        after(&self.tables.ix.node_allocs_by_index, index).map(|(i, id)| (id.as_str(), *i))
    }
}
