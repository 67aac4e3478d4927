use drover_api::Namespace;
use serde::{Deserialize, Serialize};

/// Create or replace namespaces (Nomad's `NamespaceUpsertRequestType`,
/// applied by `UpsertNamespaces` in nomad/state/state_store.go). Apply
/// stamps `CreateIndex` (kept from the namespace it replaces) and
/// `ModifyIndex`; the ones carried here are ignored. All or none are
/// written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceUpsert {
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub now: i64,
}

/// Delete namespaces by name (Nomad's `NamespaceDeleteRequestType`).
/// Refused, changing nothing, when one is missing, is `default`, or
/// still holds a job that is not dead (Nomad's `DeleteNamespaces`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceDelete {
    pub names: Vec<String>,
    #[serde(default)]
    pub now: i64,
}
