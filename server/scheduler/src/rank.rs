//! Resource fit and ranking: Nomad's `AllocsFit` / `ScoreFitBinPack`
//! (nomad/structs/funcs.go) and the arithmetic of `BinPackIterator`,
//! `JobAntiAffinityIterator` and `ScoreNormalizationIterator`
//! (scheduler/feasible/rank.go).
//!
//! Everything here is a plain function of a node, the usage already on it and
//! a task group, so a placement decision can be replayed exactly: there is no
//! randomness (Nomad picks dynamic ports at random; we pick the lowest free
//! ones) and nothing panics, whatever the wire types hold.

use std::collections::{BTreeMap, BTreeSet};

use drover_state::usage::{NodeUsage, Reserved};

use drover_api::{
    AllocMetric, AllocatedCpuResources, AllocatedMemoryResources, AllocatedPortMapping,
    AllocatedResources, AllocatedSharedResources, AllocatedTaskResources, Allocation,
    NetworkResource, Node, NodeScoreMeta, Port, TaskGroup,
};

/// Score name of the bin-packing fitness (Nomad's `"binpack"`).
pub const BINPACK: &str = "binpack";
/// Score name of the job anti-affinity penalty (Nomad's `"job-anti-affinity"`).
pub const JOB_ANTI_AFFINITY: &str = "job-anti-affinity";
/// `ScoreFitBinPack` never exceeds this; scores are divided by it so bin
/// packing lands in `[0, 1]` like every other scorer.
pub const BINPACK_MAX_FIT_SCORE: f64 = 18.0;
/// How many node scores an `AllocMetric` keeps (Nomad's
/// `MaxRetainedNodeScores`): enough to explain a choice, small enough to store
/// on every allocation.
pub const MAX_RETAINED_NODE_SCORES: usize = 5;
/// Nomad's default dynamic port range, used when the node reports 0.
pub const DEFAULT_MIN_DYNAMIC_PORT: u16 = 20000;
/// Nomad's default dynamic port range, used when the node reports 0.
pub const DEFAULT_MAX_DYNAMIC_PORT: u16 = 32000;
/// Ephemeral disk a group asks for when it says nothing (Nomad's
/// `DefaultEphemeralDisk`).
pub const DEFAULT_EPHEMERAL_DISK_MB: i64 = 300;

// Exhausted dimensions, spelled as Nomad's `DimensionExhausted` keys so
// `nomad alloc status`-style tooling reads them unchanged.
/// CPU MHz would exceed the node's capacity.
pub const DIM_CPU: &str = "cpu";
/// Memory MB would exceed the node's capacity.
pub const DIM_MEMORY: &str = "memory";
/// Ephemeral disk MB would exceed the node's capacity.
pub const DIM_DISK: &str = "disk";
/// A static port is already used, reserved by the node, or asked twice.
pub const DIM_RESERVED_PORT: &str = "network: reserved port collision";
/// The dynamic range has fewer free ports than the group asks for.
pub const DIM_DYNAMIC_PORT: &str = "network: dynamic port selection failed";
/// A static port outside 1..=65535 (Nomad: "invalid port (out of range)").
pub const DIM_INVALID_PORT: &str = "network: invalid port";

/// What a node offers to allocations: its resources minus what it reserves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    pub cpu_mhz: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    /// Host ports the operator kept for itself (`ReservedHostPorts`).
    pub reserved_ports: BTreeSet<u16>,
    pub min_dynamic_port: u16,
    pub max_dynamic_port: u16,
}

impl Capacity {
    /// Reservations are subtracted saturating, so a node reserving more than
    /// it has gets a negative capacity that fits nothing rather than an
    /// overflow. A dynamic bound outside `1..=65535` (0 included) falls back
    /// to Nomad's default; a range with min > max offers no dynamic ports.
    pub fn of(node: &Node) -> Capacity {
        let res = &node.node_resources;
        let rsv = &node.reserved_resources;
        Capacity {
            cpu_mhz: res.cpu.cpu_shares.saturating_sub(rsv.cpu.cpu_shares),
            memory_mb: res.memory.memory_mb.saturating_sub(rsv.memory.memory_mb),
            disk_mb: res.disk.disk_mb.saturating_sub(rsv.disk.disk_mb),
            reserved_ports: parse_port_ranges(&rsv.networks.reserved_host_ports),
            min_dynamic_port: port_or(res.min_dynamic_port, DEFAULT_MIN_DYNAMIC_PORT),
            max_dynamic_port: port_or(res.max_dynamic_port, DEFAULT_MAX_DYNAMIC_PORT),
        }
    }
}

fn port_or(value: i64, default: u16) -> u16 {
    to_port(value).unwrap_or(default)
}

/// A valid host port, 1..=65535.
fn to_port(value: i64) -> Option<u16> {
    u16::try_from(value).ok().filter(|p| *p != 0)
}

/// Parse Nomad's port-range syntax (`"22,80,8000-8100"`). Nomad rejects the
/// whole string on a bad piece at agent start-up; by the time a node reaches
/// the scheduler that has happened, so here a bad piece (non-number, port 0,
/// reversed range) is skipped and the rest still counts.
pub fn parse_port_ranges(spec: &str) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for piece in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match piece.split_once('-') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => (piece, piece),
        };
        let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
            continue;
        };
        if lo == 0 || lo > hi {
            continue;
        }
        ports.extend(lo..=hi);
    }
    ports
}

/// What a set of allocations uses on a node (non-terminal ones only; the
/// caller filters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_mhz: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    pub ports: BTreeSet<u16>,
}

impl Usage {
    /// Reads `AllocatedResources`; an allocation without them (written before
    /// Nomad 0.9) is counted from its legacy `Resources`. Sums saturate and
    /// out-of-range port values are ignored, so no input panics. The same
    /// rule ([`Reserved::of`]) keeps the state's per-node usage index.
    pub fn of(allocs: &[&Allocation]) -> Usage {
        let mut node = NodeUsage::default();
        for alloc in allocs {
            node.add(&Reserved::of(alloc));
        }
        Usage::from_node(&node)
    }

    /// The usage the state keeps for a node.
    pub fn from_node(node: &NodeUsage) -> Usage {
        Usage {
            cpu_mhz: node.cpu_mhz,
            memory_mb: node.memory_mb,
            disk_mb: node.disk_mb,
            ports: node.ports.keys().copied().collect(),
        }
    }

    /// Count one more placement, e.g. the result of [`fit`], so a scheduler
    /// placing several allocations on one node sees its own earlier choices.
    pub fn add(&mut self, ar: &AllocatedResources) {
        let mut r = Reserved::default();
        r.add_allocated(ar);
        self.cpu_mhz = self.cpu_mhz.saturating_add(r.cpu_mhz);
        self.memory_mb = self.memory_mb.saturating_add(r.memory_mb);
        self.disk_mb = self.disk_mb.saturating_add(r.disk_mb);
        self.ports.extend(r.ports);
    }
}

/// The resources a placement of `tg` would take on `node` given `used`, with
/// dynamic ports assigned; or which dimension is exhausted, as Nomad's
/// `DimensionExhausted` key.
///
/// Checked in `BinPackIterator`'s order: ports first (static collisions, then
/// dynamic selection), then `AllocsFit`'s cpu, memory, disk. Ports come from
/// every group network and every task's legacy `Resources.Networks`.
/// Negative task asks count as 0 so a malformed group can never make room.
///
/// Deviation: Nomad picks dynamic ports at random in the node's range; we take
/// the lowest free ones (skipping used, node-reserved and this ask's static
/// ports) so a plan is reproducible and testable.
pub fn fit(
    node: &Node,
    cap: &Capacity,
    used: &Usage,
    tg: &TaskGroup,
) -> Result<AllocatedResources, &'static str> {
    let host_ip = host_ip(node);
    let mut taken: BTreeSet<u16> = used.ports.union(&cap.reserved_ports).copied().collect();

    // Static ports of the whole ask first, so dynamic picks avoid them.
    let group_nets = tg.networks.iter();
    let task_nets = tg.tasks.iter().flat_map(|t| &t.resources.networks);
    for port in group_nets.chain(task_nets).flat_map(|n| &n.reserved_ports) {
        let value = to_port(port.value).ok_or(DIM_INVALID_PORT)?;
        if !taken.insert(value) {
            return Err(DIM_RESERVED_PORT);
        }
    }
    let mut dynamic = DynamicPorts {
        next: u32::from(cap.min_dynamic_port.max(1)),
        max: u32::from(cap.max_dynamic_port),
        taken: &mut taken,
    };

    let mut shared = AllocatedSharedResources {
        disk_mb: tg
            .ephemeral_disk
            .as_ref()
            .map_or(DEFAULT_EPHEMERAL_DISK_MB, |d| d.size_mb)
            .max(0),
        ..AllocatedSharedResources::default()
    };
    for net in &tg.networks {
        let offer = dynamic.assign(net, &host_ip)?;
        for port in offer.reserved_ports.iter().chain(&offer.dynamic_ports) {
            shared.ports.push(AllocatedPortMapping {
                label: port.label.clone(),
                value: port.value,
                to: port.to,
                host_ip: host_ip.clone(),
            });
        }
        shared.networks.push(offer);
    }

    let mut tasks = BTreeMap::new();
    let (mut cpu, mut memory) = (0i64, 0i64);
    for task in &tg.tasks {
        let r = &task.resources;
        let networks = r
            .networks
            .iter()
            .map(|net| dynamic.assign(net, &host_ip))
            .collect::<Result<Vec<_>, _>>()?;
        let (task_cpu, task_mem) = (r.cpu.max(0), r.memory_mb.max(0));
        cpu = cpu.saturating_add(task_cpu);
        memory = memory.saturating_add(task_mem);
        tasks.insert(
            task.name.clone(),
            AllocatedTaskResources {
                cpu: AllocatedCpuResources {
                    cpu_shares: task_cpu,
                    reserved_cores: Vec::new(),
                },
                memory: AllocatedMemoryResources {
                    memory_mb: task_mem,
                    memory_max_mb: r.memory_max_mb.max(0),
                },
                networks,
            },
        );
    }

    if i128::from(used.cpu_mhz) + i128::from(cpu) > i128::from(cap.cpu_mhz) {
        return Err(DIM_CPU);
    }
    if i128::from(used.memory_mb) + i128::from(memory) > i128::from(cap.memory_mb) {
        return Err(DIM_MEMORY);
    }
    if i128::from(used.disk_mb) + i128::from(shared.disk_mb) > i128::from(cap.disk_mb) {
        return Err(DIM_DISK);
    }
    Ok(AllocatedResources { tasks, shared })
}

/// The address ports are bound on: the node's first fingerprinted network IP,
/// else the host part of its HTTP address.
fn host_ip(node: &Node) -> String {
    let fingerprinted = node
        .node_resources
        .networks
        .iter()
        .find(|n| !n.ip.is_empty());
    match fingerprinted {
        Some(net) => net.ip.clone(),
        None => node
            .http_addr
            .rsplit_once(':')
            .map_or(node.http_addr.as_str(), |(host, _)| host)
            .to_string(),
    }
}

/// Lowest-first dynamic port picker over `next..=max`, skipping `taken`.
struct DynamicPorts<'a> {
    // u32 so stepping past 65535 needs no special case.
    next: u32,
    max: u32,
    taken: &'a mut BTreeSet<u16>,
}

impl DynamicPorts<'_> {
    fn pick(&mut self) -> Option<u16> {
        while self.next <= self.max {
            let candidate = u16::try_from(self.next).ok();
            self.next += 1;
            if let Some(port) = candidate.filter(|p| self.taken.insert(*p)) {
                return Some(port);
            }
        }
        None
    }

    /// A copy of `net` as placed: IP set, dynamic ports valued, and `To: -1`
    /// resolved to the host value as Nomad's `AssignPorts` does.
    fn assign(
        &mut self,
        net: &NetworkResource,
        host_ip: &str,
    ) -> Result<NetworkResource, &'static str> {
        let mut offer = net.clone();
        offer.ip = host_ip.to_string();
        for port in &mut offer.dynamic_ports {
            let value = self.pick().ok_or(DIM_DYNAMIC_PORT)?;
            port.value = i64::from(value);
            resolve_to(port);
        }
        offer.reserved_ports.iter_mut().for_each(resolve_to);
        Ok(offer)
    }
}

fn resolve_to(port: &mut Port) {
    if port.to == -1 {
        port.to = port.value;
    }
}

/// Nomad's `ScoreFitBinPack` divided by its maximum: `20 - (10^freeCpu +
/// 10^freeMem)`, clamped to `[0, 18]`, then `/18`, where `freeX = 1 -
/// used_after/capacity`. A fuller node scores higher, so allocations pack
/// and whole nodes stay free for large asks. A dimension with no capacity
/// counts as full (Nomad would divide by zero and propagate NaN).
pub fn binpack_score(cap: &Capacity, used_after: &Usage) -> f64 {
    fn free(used: i64, cap: i64) -> f64 {
        if cap <= 0 {
            return 0.0;
        }
        1.0 - used as f64 / cap as f64
    }
    let free_cpu = free(used_after.cpu_mhz, cap.cpu_mhz);
    let free_mem = free(used_after.memory_mb, cap.memory_mb);
    let total = 10f64.powf(free_cpu) + 10f64.powf(free_mem);
    let score = (20.0 - total).clamp(0.0, BINPACK_MAX_FIT_SCORE);
    score / BINPACK_MAX_FIT_SCORE
}

/// `JobAntiAffinityIterator`: `-(collisions + 1) / desired_count` when the
/// node already holds allocations of this job and group, else `None` (the
/// node is not scored on this, so it doesn't dilute the mean). A desired
/// count of 0 is treated as 1 rather than dividing by zero.
pub fn job_anti_affinity(collisions: usize, desired_count: usize) -> Option<f64> {
    if collisions == 0 {
        return None;
    }
    Some(-((collisions as f64) + 1.0) / desired_count.max(1) as f64)
}

/// `ScoreNormalizationIterator`: the final score is the mean of the scores a
/// node received; no scores means 0. Non-finite scores are skipped so one bad
/// scorer cannot turn every comparison into NaN.
pub fn normalize(scores: &[(&str, f64)]) -> f64 {
    let finite: Vec<f64> = scores
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| s.is_finite())
        .collect();
    if finite.is_empty() {
        return 0.0;
    }
    finite.iter().sum::<f64>() / finite.len() as f64
}

/// Record a scored node into `AllocMetric.ScoreMetaData`, keeping the top
/// [`MAX_RETAINED_NODE_SCORES`] by `NormScore`, best first. Nomad keeps a heap
/// whose tie order is arbitrary; ties here go to the smaller node ID so the
/// metric is reproducible. Re-scoring a node replaces its entry.
pub fn record_score(metric: &mut AllocMetric, node_id: &str, scores: &[(&str, f64)], norm: f64) {
    let meta = &mut metric.score_meta_data;
    // NaN sorts last: it can't be "better" than a real score.
    let key = |score: f64| {
        if score.is_nan() {
            f64::NEG_INFINITY
        } else {
            score
        }
    };
    // A node that would sort after a full list's last entry is cut again
    // at once: leave the list alone rather than build its entry.
    let full = meta.len() >= MAX_RETAINED_NODE_SCORES;
    if full && meta.iter().all(|m| m.node_id != node_id) {
        if let Some(last) = meta.last() {
            let after = key(norm)
                .total_cmp(&key(last.norm_score))
                .then_with(|| last.node_id.as_str().cmp(node_id))
                .is_lt();
            if after {
                return;
            }
        }
    }
    meta.retain(|m| m.node_id != node_id);
    meta.push(NodeScoreMeta {
        node_id: node_id.to_string(),
        scores: scores.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        norm_score: norm,
    });
    meta.sort_by(|a, b| {
        key(b.norm_score)
            .total_cmp(&key(a.norm_score))
            .then_with(|| a.node_id.cmp(&b.node_id))
    });
    meta.truncate(MAX_RETAINED_NODE_SCORES);
}

/// Count a node that was feasible but had no room (`AllocMetric.ExhaustedNode`
/// without the per-class tally, which needs the node).
pub fn exhausted(metric: &mut AllocMetric, dimension: &str) {
    metric.nodes_exhausted = metric.nodes_exhausted.saturating_add(1);
    let n = metric
        .dimension_exhausted
        .entry(dimension.to_string())
        .or_insert(0);
    *n = n.saturating_add(1);
}
