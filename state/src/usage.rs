//! What the live allocations on each node reserve, kept up to date on every
//! write so the scheduler and the plan applier read a node's usage in O(1)
//! instead of summing its allocations (hundreds on a busy node) for every
//! candidate. A derived index: rebuilt from the rows after a restore.

use std::collections::BTreeMap;

use drover_api::{AllocatedResources, Allocation, NetworkResource};

/// The resources one allocation holds: `AllocatedResources`, or for an
/// allocation written before Nomad 0.9 its legacy `Resources`. Sums
/// saturate; ports outside 1..=65535 are ignored, so no input panics;
/// each port counts once per allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reserved {
    pub cpu_mhz: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    pub ports: Vec<u16>,
}

impl Reserved {
    pub fn of(a: &Allocation) -> Reserved {
        let mut r = Reserved::default();
        if let Some(ar) = &a.allocated_resources {
            r.add_allocated(ar);
        } else if let Some(res) = &a.resources {
            r.cpu_mhz = r.cpu_mhz.saturating_add(res.cpu);
            r.memory_mb = r.memory_mb.saturating_add(res.memory_mb);
            r.disk_mb = r.disk_mb.saturating_add(res.disk_mb);
            r.add_networks(&res.networks);
        }
        // A port shows both in a network and in the port mappings: once.
        r.ports.sort_unstable();
        r.ports.dedup();
        r
    }

    pub fn add_allocated(&mut self, ar: &AllocatedResources) {
        for task in ar.tasks.values() {
            self.cpu_mhz = self.cpu_mhz.saturating_add(task.cpu.cpu_shares);
            self.memory_mb = self.memory_mb.saturating_add(task.memory.memory_mb);
            self.add_networks(&task.networks);
        }
        self.disk_mb = self.disk_mb.saturating_add(ar.shared.disk_mb);
        self.add_networks(&ar.shared.networks);
        self.ports
            .extend(ar.shared.ports.iter().filter_map(|p| to_port(p.value)));
    }

    fn add_networks(&mut self, networks: &[NetworkResource]) {
        for net in networks {
            let ports = net.reserved_ports.iter().chain(&net.dynamic_ports);
            self.ports.extend(ports.filter_map(|p| to_port(p.value)));
        }
    }
}

fn to_port(value: i64) -> Option<u16> {
    u16::try_from(value).ok().filter(|p| *p != 0)
}

/// The sum of [`Reserved`] over a node's live allocations. Ports are a
/// multiset so that removing one allocation never frees a port another
/// still holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUsage {
    pub cpu_mhz: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    pub ports: BTreeMap<u16, u32>,
    pub allocs: u32,
}

impl NodeUsage {
    pub fn add(&mut self, r: &Reserved) {
        self.cpu_mhz = self.cpu_mhz.saturating_add(r.cpu_mhz);
        self.memory_mb = self.memory_mb.saturating_add(r.memory_mb);
        self.disk_mb = self.disk_mb.saturating_add(r.disk_mb);
        for p in &r.ports {
            *self.ports.entry(*p).or_default() += 1;
        }
        self.allocs += 1;
    }

    pub fn remove(&mut self, r: &Reserved) {
        self.cpu_mhz = self.cpu_mhz.saturating_sub(r.cpu_mhz);
        self.memory_mb = self.memory_mb.saturating_sub(r.memory_mb);
        self.disk_mb = self.disk_mb.saturating_sub(r.disk_mb);
        for p in &r.ports {
            if let Some(n) = self.ports.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    self.ports.remove(p);
                }
            }
        }
        self.allocs = self.allocs.saturating_sub(1);
    }

    pub fn is_empty(&self) -> bool {
        self.allocs == 0
    }
}
