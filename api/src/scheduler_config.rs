//! The cluster's scheduler configuration (nomad/structs/operator.go
//! `SchedulerConfiguration`), read and written at
//! `/v1/operator/scheduler/configuration`.

use serde::{Deserialize, Serialize};

use crate::QueryMetaBody;

/// Nomad's `SchedulerAlgorithmBinpack`.
pub const SCHEDULER_ALGORITHM_BINPACK: &str = "binpack";
/// Nomad's `SchedulerAlgorithmSpread`.
pub const SCHEDULER_ALGORITHM_SPREAD: &str = "spread";

/// The settings, as stored and served. A written body that leaves a field
/// out sets it to its zero value (`false`, `""`), as Nomad decodes one;
/// the configuration a cluster starts with is [`Self::cluster_default`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerConfiguration {
    /// `binpack`, `spread`, or `""` (binpack).
    #[serde(rename = "SchedulerAlgorithm")]
    pub scheduler_algorithm: String,
    #[serde(rename = "PreemptionConfig", deserialize_with = "crate::null_default")]
    pub preemption_config: PreemptionConfig,
    #[serde(rename = "MemoryOversubscriptionEnabled")]
    pub memory_oversubscription_enabled: bool,
    /// Refuse job registrations (Nomad: unless with a management token).
    #[serde(rename = "RejectJobRegistration")]
    pub reject_job_registration: bool,
    /// Hand no evaluation to the schedulers while set.
    #[serde(rename = "PauseEvalBroker")]
    pub pause_eval_broker: bool,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

/// Which schedulers may preempt lower-priority allocations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreemptionConfig {
    #[serde(rename = "SystemSchedulerEnabled")]
    pub system_scheduler_enabled: bool,
    #[serde(rename = "SysBatchSchedulerEnabled")]
    pub sys_batch_scheduler_enabled: bool,
    #[serde(rename = "BatchSchedulerEnabled")]
    pub batch_scheduler_enabled: bool,
    #[serde(rename = "ServiceSchedulerEnabled")]
    pub service_scheduler_enabled: bool,
}

impl SchedulerConfiguration {
    /// What a new cluster's first leader writes (Nomad's
    /// `DefaultSchedulerConfig`, nomad/config.go): bin packing, and
    /// preemption for system jobs only.
    pub fn cluster_default() -> SchedulerConfiguration {
        SchedulerConfiguration {
            scheduler_algorithm: SCHEDULER_ALGORITHM_BINPACK.to_string(),
            preemption_config: PreemptionConfig {
                system_scheduler_enabled: true,
                ..PreemptionConfig::default()
            },
            ..SchedulerConfiguration::default()
        }
    }

    /// Nomad's `SchedulerConfiguration.Validate`: the algorithm is
    /// `binpack`, `spread` or empty.
    pub fn validate(&self) -> Result<(), String> {
        match self.scheduler_algorithm.as_str() {
            "" | SCHEDULER_ALGORITHM_BINPACK | SCHEDULER_ALGORITHM_SPREAD => Ok(()),
            other => Err(format!("invalid scheduler algorithm: {other}")),
        }
    }
}

/// `GET /v1/operator/scheduler/configuration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerConfigurationResponse {
    #[serde(rename = "SchedulerConfig")]
    pub scheduler_config: Option<SchedulerConfiguration>,
    #[serde(flatten)]
    pub meta: QueryMetaBody,
}

/// `PUT /v1/operator/scheduler/configuration`: whether the configuration
/// was written (`false` only when a `cas` index did not match) and the
/// write's index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerSetConfigurationResponse {
    #[serde(rename = "Updated")]
    pub updated: bool,
    #[serde(rename = "Index")]
    pub index: u64,
}
