use drover_api::SchedulerConfiguration;
use serde::{Deserialize, Serialize};

/// Replace the cluster's scheduler configuration (Nomad's
/// `SchedulerConfigRequestType`, applied by `SchedulerSetConfig` and
/// `SchedulerCASConfig` in nomad/state/state_store.go). Apply stamps its
/// `CreateIndex` (kept from the configuration it replaces) and
/// `ModifyIndex`; the ones carried here are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfigSet {
    pub config: SchedulerConfiguration,
    #[serde(default)]
    pub condition: SetCondition,
    #[serde(default)]
    pub now: i64,
}

/// When a [`SchedulerConfigSet`] writes. A condition that does not hold is
/// refused with [`crate::ApplyError::SchedulerConfigCondition`], which
/// changes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    /// Whatever is stored.
    #[default]
    Always,
    /// Only over a configuration with this `ModifyIndex` (the `cas`
    /// query parameter; never when none is stored, as in Nomad).
    ModifyIndex(u64),
    /// Only when none is stored: the first leader's default, which must
    /// not overwrite an operator's write that got in first.
    Absent,
}
