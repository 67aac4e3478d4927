//! The scheduler and autopilot configurations: one row each, replaced
//! whole.

use std::sync::Arc;

use crate::command::{AutopilotConfigSet, SchedulerConfigSet, SetCondition};
use crate::tables::{Ctx, Tables};
use crate::ApplyError;

/// Write the configuration when its condition holds, keeping the stored
/// one's `CreateIndex` and stamping `ModifyIndex` (Nomad's
/// `schedulerSetConfigTxn`). It is read only by request, never blocked
/// on, so no watcher wakes.
pub(super) fn set(t: &mut Tables, ctx: &mut Ctx, c: &SchedulerConfigSet) -> Result<(), ApplyError> {
    let stored = t.scheduler_config.as_ref().map(|s| s.modify_index);
    let holds = match c.condition {
        SetCondition::Always => true,
        SetCondition::ModifyIndex(i) => stored == Some(i),
        SetCondition::Absent => stored.is_none(),
    };
    if !holds {
        return Err(ApplyError::SchedulerConfigCondition {
            condition: c.condition,
            stored,
        });
    }
    let mut config = c.config.clone();
    config.create_index = t
        .scheduler_config
        .as_ref()
        .map_or(ctx.index, |s| s.create_index);
    config.modify_index = ctx.index;
    t.scheduler_config = Some(Arc::new(config));
    Ok(())
}

/// Write the autopilot configuration when its condition holds, as
/// [`set`] does the scheduler's (Nomad's `autopilotSetConfigTxn`).
pub(super) fn set_autopilot(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AutopilotConfigSet,
) -> Result<(), ApplyError> {
    let stored = t.autopilot_config.as_ref().map(|s| s.modify_index);
    let holds = match c.condition {
        SetCondition::Always => true,
        SetCondition::ModifyIndex(i) => stored == Some(i),
        SetCondition::Absent => stored.is_none(),
    };
    if !holds {
        return Err(ApplyError::AutopilotConfigCondition {
            condition: c.condition,
            stored,
        });
    }
    let mut config = c.config.clone();
    config.create_index = t
        .autopilot_config
        .as_ref()
        .map_or(ctx.index, |s| s.create_index);
    config.modify_index = ctx.index;
    t.autopilot_config = Some(Arc::new(config));
    Ok(())
}
