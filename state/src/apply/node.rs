use drover_api::{DrainMetadata, Node, NodeEvent, NodeStatus, SchedulingEligibility};

use crate::apply::{upsert_evals, ApplyError};
use crate::command::{
    NodeDeregister, NodeRegister, NodeUpdateDrain, NodeUpdateEligibility, NodeUpdateStatus,
};
use crate::tables::{Ctx, Tables};

/// Nomad keeps the latest 10 node events (`MaxRetainedNodeEvents`).
pub const MAX_NODE_EVENTS: usize = 10;

fn push_event(node: &mut Node, event: Option<&NodeEvent>, index: u64) {
    let Some(e) = event else { return };
    let mut e = e.clone();
    e.create_index = index;
    node.events.push(e);
    let excess = node.events.len().saturating_sub(MAX_NODE_EVENTS);
    node.events.drain(..excess);
}

fn unix_secs(nanos: i64) -> i64 {
    nanos.div_euclid(1_000_000_000)
}

/// Nomad `upsertNodeTxn`: a re-registering node keeps what the servers own
/// (drain, eligibility, events, last drain); a new node gets a
/// "Node registered" event.
pub(super) fn register(t: &mut Tables, ctx: &mut Ctx, c: &NodeRegister) -> Result<(), ApplyError> {
    if c.node.id.is_empty() {
        return Err(ApplyError::Invalid("node ID must be set".into()));
    }
    let mut node = c.node.clone();
    match t.nodes.get(&node.id) {
        Some(old) => {
            node.create_index = old.create_index;
            node.drain_strategy = old.drain_strategy.clone();
            node.scheduling_eligibility = old.scheduling_eligibility;
            node.last_drain = old.last_drain.clone();
            node.events = old.events.clone();
            if old.status == NodeStatus::Down && node.status != NodeStatus::Down {
                let e = NodeEvent {
                    message: "Node re-registered".into(),
                    subsystem: "Cluster".into(),
                    timestamp: Some(c.now),
                    ..Default::default()
                };
                push_event(&mut node, Some(&e), ctx.index);
            }
        }
        None => {
            node.create_index = ctx.index;
            node.events.clear();
            let e = NodeEvent {
                message: "Node registered".into(),
                subsystem: "Cluster".into(),
                timestamp: Some(c.now),
                ..Default::default()
            };
            push_event(&mut node, Some(&e), ctx.index);
        }
    }
    node.modify_index = ctx.index;
    if node.status_updated_at == 0 {
        node.status_updated_at = unix_secs(c.now);
    }
    t.put_node(ctx, node);
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}

pub(super) fn deregister(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &NodeDeregister,
) -> Result<(), ApplyError> {
    if let Some(missing) = c.node_ids.iter().find(|id| !t.nodes.contains_key(*id)) {
        return Err(ApplyError::UnknownNode(missing.clone()));
    }
    for id in &c.node_ids {
        t.delete_node(ctx, id);
    }
    Ok(())
}

fn existing(t: &Tables, id: &str) -> Result<Node, ApplyError> {
    t.nodes
        .get(id)
        .map(|n| Node::clone(n))
        .ok_or_else(|| ApplyError::UnknownNode(id.to_string()))
}

pub(super) fn update_status(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &NodeUpdateStatus,
) -> Result<(), ApplyError> {
    let mut node = existing(t, &c.node_id)?;
    node.status = c.status;
    node.status_updated_at = unix_secs(c.now);
    push_event(&mut node, c.event.as_ref(), ctx.index);
    node.modify_index = ctx.index;
    t.put_node(ctx, node);
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}

pub(super) fn update_eligibility(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &NodeUpdateEligibility,
) -> Result<(), ApplyError> {
    let mut node = existing(t, &c.node_id)?;
    if node.drain_strategy.is_some() && c.eligibility == SchedulingEligibility::Eligible {
        return Err(ApplyError::EligibleWhileDraining(c.node_id.clone()));
    }
    node.scheduling_eligibility = c.eligibility;
    push_event(&mut node, c.event.as_ref(), ctx.index);
    node.modify_index = ctx.index;
    t.put_node(ctx, node);
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}

/// A drain makes the node ineligible and records `LastDrain`; cancelling
/// marks the drain canceled and restores eligibility only when asked.
pub(super) fn update_drain(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &NodeUpdateDrain,
) -> Result<(), ApplyError> {
    let mut node = existing(t, &c.node_id)?;
    match &c.drain_strategy {
        Some(ds) => {
            let mut ds = ds.clone();
            ds.started_at.get_or_insert(c.now);
            node.drain_strategy = Some(ds);
            node.scheduling_eligibility = SchedulingEligibility::Ineligible;
            node.last_drain = Some(DrainMetadata {
                started_at: Some(c.now),
                updated_at: Some(c.now),
                status: "draining".into(),
                meta: c.meta.clone(),
                ..Default::default()
            });
        }
        None => {
            if node.drain_strategy.take().is_some() {
                if let Some(ld) = node.last_drain.as_mut() {
                    ld.status = "canceled".into();
                    ld.updated_at = Some(c.now);
                }
            }
            if c.mark_eligible {
                node.scheduling_eligibility = SchedulingEligibility::Eligible;
            }
        }
    }
    push_event(&mut node, c.event.as_ref(), ctx.index);
    node.modify_index = ctx.index;
    t.put_node(ctx, node);
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}
