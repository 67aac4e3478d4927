//! `GET /v1/client/allocation/:id/stats` (Nomad api/allocations.go
//! `AllocResourceUsage`, `TaskResourceUsage`, `ResourceUsage`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    #[serde(rename = "RSS")]
    pub rss: u64,
    #[serde(rename = "Cache")]
    pub cache: u64,
    #[serde(rename = "Swap")]
    pub swap: u64,
    #[serde(rename = "Usage")]
    pub usage: u64,
    #[serde(rename = "MaxUsage")]
    pub max_usage: u64,
    #[serde(rename = "KernelUsage")]
    pub kernel_usage: u64,
    #[serde(rename = "KernelMaxUsage")]
    pub kernel_max_usage: u64,
    #[serde(rename = "Measured", deserialize_with = "crate::null_default")]
    pub measured: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    #[serde(rename = "SystemMode")]
    pub system_mode: f64,
    #[serde(rename = "UserMode")]
    pub user_mode: f64,
    #[serde(rename = "TotalTicks")]
    pub total_ticks: f64,
    #[serde(rename = "ThrottledPeriods")]
    pub throttled_periods: u64,
    #[serde(rename = "ThrottledTime")]
    pub throttled_time: u64,
    #[serde(rename = "Percent")]
    pub percent: f64,
    #[serde(rename = "Measured", deserialize_with = "crate::null_default")]
    pub measured: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceUsage {
    #[serde(rename = "MemoryStats")]
    pub memory_stats: MemoryStats,
    #[serde(rename = "CpuStats")]
    pub cpu_stats: CpuStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskResourceUsage {
    #[serde(rename = "ResourceUsage")]
    pub resource_usage: ResourceUsage,
    /// Unix nanoseconds.
    #[serde(rename = "Timestamp")]
    pub timestamp: i64,
    #[serde(rename = "Pids")]
    pub pids: Option<BTreeMap<String, ResourceUsage>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocResourceUsage {
    #[serde(rename = "ResourceUsage")]
    pub resource_usage: ResourceUsage,
    #[serde(rename = "Tasks", deserialize_with = "crate::null_default")]
    pub tasks: BTreeMap<String, TaskResourceUsage>,
    /// Unix nanoseconds.
    #[serde(rename = "Timestamp")]
    pub timestamp: i64,
}

/// `PUT /v1/client/allocation/:id/signal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocSignalRequest {
    #[serde(rename = "Signal")]
    pub signal: String,
    #[serde(rename = "Task")]
    pub task: String,
}

/// `PUT /v1/client/allocation/:id/restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocRestartRequest {
    #[serde(rename = "TaskName")]
    pub task_name: String,
    #[serde(rename = "AllTasks")]
    pub all_tasks: bool,
}

/// `GET /v1/client/stats` (Nomad api/nodes.go `HostStats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostStats {
    #[serde(rename = "Memory")]
    pub memory: HostMemoryStats,
    #[serde(rename = "CPU", deserialize_with = "crate::null_default")]
    pub cpu: Vec<HostCpuStats>,
    #[serde(rename = "DiskStats", deserialize_with = "crate::null_default")]
    pub disk_stats: Vec<HostDiskStats>,
    #[serde(rename = "AllocDirStats")]
    pub alloc_dir_stats: Option<HostDiskStats>,
    /// Seconds since boot.
    #[serde(rename = "Uptime")]
    pub uptime: u64,
    /// Unix nanoseconds.
    #[serde(rename = "Timestamp")]
    pub timestamp: i64,
    #[serde(rename = "CPUTicksConsumed")]
    pub cpu_ticks_consumed: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostMemoryStats {
    #[serde(rename = "Total")]
    pub total: u64,
    #[serde(rename = "Available")]
    pub available: u64,
    #[serde(rename = "Used")]
    pub used: u64,
    #[serde(rename = "Free")]
    pub free: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostCpuStats {
    #[serde(rename = "CPU")]
    pub cpu: String,
    #[serde(rename = "User")]
    pub user: f64,
    #[serde(rename = "System")]
    pub system: f64,
    #[serde(rename = "Idle")]
    pub idle: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostDiskStats {
    #[serde(rename = "Device")]
    pub device: String,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "Used")]
    pub used: u64,
    #[serde(rename = "Available")]
    pub available: u64,
    #[serde(rename = "UsedPercent")]
    pub used_percent: f64,
    #[serde(rename = "InodesUsedPercent")]
    pub inodes_used_percent: f64,
}
