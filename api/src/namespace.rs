//! Namespaces (nomad/structs/structs.go `Namespace`, api/namespace.go):
//! the body of `PUT /v1/namespace` and what `/v1/namespaces` lists.
//! Every cluster starts with `default`, which cannot be deleted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The namespace every cluster has (Nomad's `DefaultNamespace`).
pub const DEFAULT_NAMESPACE_NAME: &str = "default";
/// Nomad's `DefaultNamespaceDescription`.
pub const DEFAULT_NAMESPACE_DESCRIPTION: &str = "Default shared namespace";

/// A namespace as `GET /v1/namespaces` and `GET /v1/namespace/:name` serve
/// it and `PUT /v1/namespace` takes it. Unset parts are `null`, as Go's
/// nil map and nil pointers are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Namespace {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Quota")]
    pub quota: String,
    #[serde(rename = "Capabilities")]
    pub capabilities: Option<NamespaceCapabilities>,
    #[serde(rename = "NodePoolConfiguration")]
    pub node_pool_configuration: Option<NamespaceNodePoolConfiguration>,
    #[serde(rename = "Meta")]
    pub meta: Option<BTreeMap<String, String>>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

/// The task drivers and network modes jobs in a namespace may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NamespaceCapabilities {
    #[serde(rename = "EnabledTaskDrivers")]
    pub enabled_task_drivers: Option<Vec<String>>,
    #[serde(rename = "DisabledTaskDrivers")]
    pub disabled_task_drivers: Option<Vec<String>>,
    #[serde(rename = "EnabledNetworkModes")]
    pub enabled_network_modes: Option<Vec<String>>,
    #[serde(rename = "DisabledNetworkModes")]
    pub disabled_network_modes: Option<Vec<String>>,
}

/// The node pools jobs in a namespace default to and may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NamespaceNodePoolConfiguration {
    #[serde(rename = "Default")]
    pub default: String,
    #[serde(rename = "Allowed")]
    pub allowed: Option<Vec<String>>,
    #[serde(rename = "Denied")]
    pub denied: Option<Vec<String>>,
}

impl Namespace {
    /// The `default` namespace as Nomad's state store creates it, at index 1
    /// (`namespaceInit`, nomad/state/state_store.go).
    pub fn default_namespace() -> Namespace {
        Namespace {
            name: DEFAULT_NAMESPACE_NAME.to_string(),
            description: DEFAULT_NAMESPACE_DESCRIPTION.to_string(),
            create_index: 1,
            modify_index: 1,
            ..Namespace::default()
        }
    }
}
