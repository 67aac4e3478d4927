//! The plan applier's re-check (Nomad nomad/plan_apply.go `evaluatePlan`):
//! before a plan is committed, every placement is checked again against the
//! latest state, because other workers may have committed plans since this
//! one was computed. What no longer fits is dropped (a partial commit) and
//! the worker plans it again against the newer state.
//!
//! The check counts exactly what will be live on each node after the commit:
//! the node's live allocations, less those this plan stops or updates in
//! place, plus the placements accepted so far. A placement must keep CPU,
//! memory and disk within the node's capacity and take no port that is in
//! use or reserved; its node must still be ready and its job still there.
//!
//! Deviation: Nomad rejects a node's whole share of a plan when any of it
//! does not fit; here single placements are rejected, and a rejected
//! replacement keeps the allocation it would have replaced running.

use std::collections::{BTreeMap, BTreeSet};

use drover_api::{AllocatedResources, Allocation, NodeStatus};
use drover_state::{State, WatchSet};

use super::generic::{live_usage_excluding, Plan, DESC_LOST};
use super::rank::{Capacity, Usage};

/// Whether `ar` fits on a node with capacity `cap` next to `used`.
pub fn fits(cap: &Capacity, used: &Usage, ar: &AllocatedResources) -> bool {
    let mut mine = Usage::default();
    mine.add(ar);
    used.cpu_mhz.saturating_add(mine.cpu_mhz) <= cap.cpu_mhz
        && used.memory_mb.saturating_add(mine.memory_mb) <= cap.memory_mb
        && used.disk_mb.saturating_add(mine.disk_mb) <= cap.disk_mb
        && mine.ports.is_disjoint(&used.ports)
        && mine.ports.is_disjoint(&cap.reserved_ports)
}

/// Drop from `plan` what no longer fits against `st` plus `pending`
/// (placements of plans accepted but not yet applied); returns how many
/// placements were dropped.
pub fn check(st: &State, plan: &mut Plan, pending: &[&Allocation]) -> usize {
    let mut ws = WatchSet::new();
    let job_ok = st
        .job(&mut ws, &plan.namespace, &plan.job_id)
        .is_some_and(|j| !j.stop);
    let mut freed: BTreeSet<String> = plan.stopped.iter().map(|s| s.id.clone()).collect();
    freed.extend(
        plan.placed
            .iter()
            .filter(|a| st.alloc(&mut ws, &a.id).is_some())
            .map(|a| a.id.clone()),
    );
    let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
    let mut rejected: Vec<String> = Vec::new();
    plan.placed.retain(|a| {
        let ok = job_ok
            && st.node(&mut ws, &a.node_id).is_some_and(|node| {
                if node.status != NodeStatus::Ready {
                    return false;
                }
                let used = usage.entry(node.id.clone()).or_insert_with(|| {
                    let mut u = live_usage_excluding(st, &node.id, &freed);
                    for p in pending.iter().filter(|p| p.node_id == node.id) {
                        if let Some(ar) = &p.allocated_resources {
                            if st.alloc(&mut WatchSet::new(), &p.id).is_none() {
                                u.add(ar);
                            }
                        }
                    }
                    u
                });
                let none = AllocatedResources::default();
                let ar = a.allocated_resources.as_ref().unwrap_or(&none);
                if !fits(&Capacity::of(node), used, ar) {
                    return false;
                }
                used.add(ar);
                true
            });
        if !ok {
            rejected.push(a.previous_allocation.clone());
        }
        ok
    });
    // A replacement that did not make it leaves its predecessor running,
    // unless that one is lost anyway.
    plan.stopped
        .retain(|s| s.desired_description == DESC_LOST || !rejected.contains(&s.id));
    rejected.len()
}
