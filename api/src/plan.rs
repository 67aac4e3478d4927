//! `PUT /v1/job/{id}/plan`: what the scheduler would do (Nomad api/jobs.go
//! `JobPlanResponse`, `PlanAnnotations`, `DesiredUpdates`).

use serde::{Deserialize, Serialize};

/// Per task group: how many allocations a plan places, stops, updates and
/// leaves alone (Nomad `DesiredUpdates`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DesiredUpdates {
    #[serde(rename = "Ignore")]
    pub ignore: u64,
    #[serde(rename = "Place")]
    pub place: u64,
    #[serde(rename = "Migrate")]
    pub migrate: u64,
    #[serde(rename = "Stop")]
    pub stop: u64,
    #[serde(rename = "InPlaceUpdate")]
    pub in_place_update: u64,
    #[serde(rename = "DestructiveUpdate")]
    pub destructive_update: u64,
    #[serde(rename = "Canary")]
    pub canary: u64,
    #[serde(rename = "Preemptions")]
    pub preemptions: u64,
}
