//! Client nodes as the servers record them (nomad/structs/structs.go `Node`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Nanos, NetworkResource};

/// `initializing` until the first heartbeat, `ready` while heartbeats arrive,
/// `down` after a missed TTL, `disconnected` while allocations may reconnect.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    #[default]
    Initializing,
    Ready,
    Down,
    Disconnected,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SchedulingEligibility {
    #[default]
    Eligible,
    Ineligible,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    /// Never served: the HTTP layer blanks it (Nomad redacts it on read).
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    #[serde(rename = "TLSEnabled")]
    pub tls_enabled: bool,
    #[serde(rename = "Attributes", deserialize_with = "crate::null_default")]
    pub attributes: BTreeMap<String, String>,
    #[serde(rename = "NodeResources", deserialize_with = "crate::null_default")]
    pub node_resources: NodeResources,
    #[serde(rename = "ReservedResources", deserialize_with = "crate::null_default")]
    pub reserved_resources: NodeReservedResources,
    #[serde(rename = "Links", deserialize_with = "crate::null_default")]
    pub links: BTreeMap<String, String>,
    #[serde(rename = "Meta", deserialize_with = "crate::null_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "NodeClass")]
    pub node_class: String,
    #[serde(rename = "NodePool")]
    pub node_pool: String,
    #[serde(rename = "ComputedClass")]
    pub computed_class: String,
    #[serde(rename = "DrainStrategy")]
    pub drain_strategy: Option<DrainStrategy>,
    #[serde(rename = "SchedulingEligibility")]
    pub scheduling_eligibility: SchedulingEligibility,
    #[serde(rename = "Status")]
    pub status: NodeStatus,
    #[serde(rename = "StatusDescription")]
    pub status_description: String,
    /// Unix seconds (Nomad's unit for this one field).
    #[serde(rename = "StatusUpdatedAt")]
    pub status_updated_at: i64,
    /// The latest node events, oldest first; at most 10 are kept.
    #[serde(rename = "Events", deserialize_with = "crate::null_default")]
    pub events: Vec<NodeEvent>,
    #[serde(rename = "Drivers", deserialize_with = "crate::null_default")]
    pub drivers: BTreeMap<String, DriverInfo>,
    #[serde(rename = "LastDrain")]
    pub last_drain: Option<DrainMetadata>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

impl Node {
    /// Nomad's `Node.Drain` bool is derived: a drain strategy is set.
    pub fn is_draining(&self) -> bool {
        self.drain_strategy.is_some()
    }

    pub fn stub(&self, with_resources: bool, with_os: bool) -> NodeListStub {
        let address = self
            .http_addr
            .rsplit_once(':')
            .map_or(self.http_addr.as_str(), |(host, _)| host);
        NodeListStub {
            address: address.to_string(),
            id: self.id.clone(),
            // Nomad's `Node.Stub` copies exactly `os.name` (empty if unset).
            attributes: with_os.then(|| {
                let os_name = self.attributes.get("os.name").cloned();
                BTreeMap::from([("os.name".to_string(), os_name.unwrap_or_default())])
            }),
            datacenter: self.datacenter.clone(),
            name: self.name.clone(),
            node_class: self.node_class.clone(),
            node_pool: self.node_pool.clone(),
            version: self
                .attributes
                .get("nomad.version")
                .cloned()
                .unwrap_or_default(),
            drain: self.is_draining(),
            scheduling_eligibility: self.scheduling_eligibility,
            status: self.status,
            status_description: self.status_description.clone(),
            drivers: self.drivers.clone(),
            node_resources: with_resources.then(|| self.node_resources.clone()),
            reserved_resources: with_resources.then(|| self.reserved_resources.clone()),
            last_drain: self.last_drain.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeListStub {
    #[serde(rename = "Address")]
    pub address: String,
    #[serde(rename = "ID")]
    pub id: String,
    /// Only with `?os=true`: just `os.name`, as Nomad's `Node.Stub` fills it.
    #[serde(rename = "Attributes", skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "NodeClass")]
    pub node_class: String,
    #[serde(rename = "NodePool")]
    pub node_pool: String,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Drain")]
    pub drain: bool,
    #[serde(rename = "SchedulingEligibility")]
    pub scheduling_eligibility: SchedulingEligibility,
    #[serde(rename = "Status")]
    pub status: NodeStatus,
    #[serde(rename = "StatusDescription")]
    pub status_description: String,
    #[serde(rename = "Drivers", deserialize_with = "crate::null_default")]
    pub drivers: BTreeMap<String, DriverInfo>,
    #[serde(rename = "NodeResources", skip_serializing_if = "Option::is_none")]
    pub node_resources: Option<NodeResources>,
    #[serde(rename = "ReservedResources", skip_serializing_if = "Option::is_none")]
    pub reserved_resources: Option<NodeReservedResources>,
    #[serde(rename = "LastDrain")]
    pub last_drain: Option<DrainMetadata>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriverInfo {
    #[serde(rename = "Attributes", deserialize_with = "crate::null_default")]
    pub attributes: BTreeMap<String, String>,
    #[serde(rename = "Detected")]
    pub detected: bool,
    #[serde(rename = "Healthy")]
    pub healthy: bool,
    #[serde(rename = "HealthDescription")]
    pub health_description: String,
    #[serde(rename = "UpdateTime", with = "crate::time::rfc3339_opt")]
    pub update_time: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeResources {
    #[serde(rename = "Cpu")]
    pub cpu: NodeCpuResources,
    #[serde(rename = "Memory")]
    pub memory: NodeMemoryResources,
    #[serde(rename = "Disk")]
    pub disk: NodeDiskResources,
    #[serde(rename = "Networks", deserialize_with = "crate::null_default")]
    pub networks: Vec<NetworkResource>,
    #[serde(rename = "MinDynamicPort")]
    pub min_dynamic_port: i64,
    #[serde(rename = "MaxDynamicPort")]
    pub max_dynamic_port: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeCpuResources {
    /// Total MHz across cores.
    #[serde(rename = "CpuShares")]
    pub cpu_shares: i64,
    #[serde(rename = "TotalCpuCores")]
    pub total_cpu_cores: u16,
    #[serde(
        rename = "ReservableCpuCores",
        deserialize_with = "crate::null_default"
    )]
    pub reservable_cpu_cores: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeMemoryResources {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeDiskResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
}

/// What the node keeps back for itself and never offers to allocations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeReservedResources {
    #[serde(rename = "Cpu")]
    pub cpu: NodeReservedCpuResources,
    #[serde(rename = "Memory")]
    pub memory: NodeMemoryResources,
    #[serde(rename = "Disk")]
    pub disk: NodeDiskResources,
    #[serde(rename = "Networks")]
    pub networks: NodeReservedNetworkResources,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeReservedCpuResources {
    #[serde(rename = "CpuShares")]
    pub cpu_shares: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeReservedNetworkResources {
    /// A port list such as `"22,80,8000-8100"`.
    #[serde(rename = "ReservedHostPorts")]
    pub reserved_host_ports: String,
}

/// Nomad embeds `DrainSpec` in `DrainStrategy`, so its fields sit at the
/// same level on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrainStrategy {
    #[serde(rename = "Deadline")]
    pub deadline: Nanos,
    #[serde(rename = "IgnoreSystemJobs")]
    pub ignore_system_jobs: bool,
    #[serde(rename = "ForceDeadline", with = "crate::time::rfc3339_opt")]
    pub force_deadline: Option<i64>,
    #[serde(rename = "StartedAt", with = "crate::time::rfc3339_opt")]
    pub started_at: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrainSpec {
    #[serde(rename = "Deadline")]
    pub deadline: Nanos,
    #[serde(rename = "IgnoreSystemJobs")]
    pub ignore_system_jobs: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrainMetadata {
    #[serde(rename = "StartedAt", with = "crate::time::rfc3339_opt")]
    pub started_at: Option<i64>,
    #[serde(rename = "UpdatedAt", with = "crate::time::rfc3339_opt")]
    pub updated_at: Option<i64>,
    /// `draining`, `complete` or `canceled`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "Meta", deserialize_with = "crate::null_default")]
    pub meta: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeEvent {
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Subsystem")]
    pub subsystem: String,
    #[serde(rename = "Details", deserialize_with = "crate::null_default")]
    pub details: BTreeMap<String, String>,
    #[serde(rename = "Timestamp", with = "crate::time::rfc3339_opt")]
    pub timestamp: Option<i64>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
}
