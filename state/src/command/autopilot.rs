use serde::{Deserialize, Serialize};

use super::SetCondition;

/// The cluster's autopilot configuration (Nomad's
/// `structs.AutopilotConfig`, nomad/structs/operator.go), one row of the
/// tables. Durations are nanoseconds; the HTTP API speaks Go duration
/// strings. Drover applies `server_stabilization_time` and
/// `max_trailing_logs`; the rest is kept and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotConfig {
    #[serde(default)]
    pub cleanup_dead_servers: bool,
    #[serde(default)]
    pub last_contact_threshold: u64,
    #[serde(default)]
    pub max_trailing_logs: u64,
    #[serde(default)]
    pub min_quorum: u64,
    #[serde(default)]
    pub server_stabilization_time: u64,
    #[serde(default)]
    pub enable_redundancy_zones: bool,
    #[serde(default)]
    pub disable_upgrade_migration: bool,
    #[serde(default)]
    pub enable_custom_upgrades: bool,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

/// Replace the autopilot configuration (Nomad's
/// `AutopilotRequestType`, applied by `AutopilotSetConfig` and
/// `AutopilotCASConfig` in nomad/state/state_store.go). Apply stamps its
/// `create_index` (kept from the configuration it replaces) and
/// `modify_index`; the ones carried here are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotConfigSet {
    pub config: AutopilotConfig,
    #[serde(default)]
    pub condition: SetCondition,
    #[serde(default)]
    pub now: i64,
}
