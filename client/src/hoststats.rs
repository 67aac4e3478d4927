//! `GET /v1/client/stats`: the host's memory, per-CPU use, the disk of the
//! data directory and uptime (Nomad client/hoststats), read from procfs.
//! CPU percentages are measured between two calls, as Nomad does; the
//! first call measures since boot.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use drover_api::{HostCpuStats, HostDiskStats, HostMemoryStats, HostStats};

/// Per-CPU jiffies at the previous call: (user+nice, system, idle, total).
#[derive(Default)]
pub struct CpuSampler {
    last: Mutex<BTreeMap<String, [u64; 4]>>,
}

fn parse_meminfo(text: &str) -> HostMemoryStats {
    let kb = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_mul(1024)
    };
    let total = kb("MemTotal:");
    let available = kb("MemAvailable:");
    HostMemoryStats {
        total,
        available,
        used: total.saturating_sub(available),
        free: kb("MemFree:"),
    }
}

/// `cpuN user nice system idle iowait irq softirq steal` lines.
fn parse_stat(text: &str) -> BTreeMap<String, [u64; 4]> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields
            .next()
            .filter(|n| n.starts_with("cpu") && n.len() > 3)
        else {
            continue;
        };
        let v: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
        if v.len() < 4 {
            continue;
        }
        let total: u64 = v.iter().sum();
        out.insert(
            name.to_string(),
            [
                v[0] + v[1],
                v[2],
                v[3] + v.get(4).copied().unwrap_or(0),
                total,
            ],
        );
    }
    out
}

impl CpuSampler {
    fn sample(&self, now: BTreeMap<String, [u64; 4]>) -> (Vec<HostCpuStats>, f64) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        let mut busy_ticks = 0.0;
        for (name, cur) in &now {
            let prev = last.get(name).copied().unwrap_or([0; 4]);
            let d = |i: usize| cur[i].saturating_sub(prev[i]) as f64;
            let total = d(3).max(1.0);
            busy_ticks += d(0) + d(1);
            out.push(HostCpuStats {
                cpu: name.clone(),
                user: 100.0 * d(0) / total,
                system: 100.0 * d(1) / total,
                idle: 100.0 * d(2) / total,
            });
        }
        *last = now;
        (out, busy_ticks)
    }

    /// Read the host's statistics; `data_dir` is the disk reported.
    pub fn read(&self, data_dir: &Path) -> HostStats {
        let memory = std::fs::read_to_string("/proc/meminfo")
            .map(|t| parse_meminfo(&t))
            .unwrap_or_default();
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let (cpu, ticks) = self.sample(parse_stat(&stat));
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        let disk = disk(data_dir);
        HostStats {
            memory,
            cpu,
            disk_stats: disk.iter().cloned().collect(),
            alloc_dir_stats: disk,
            uptime,
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            cpu_ticks_consumed: ticks,
        }
    }
}

// statvfs field types differ between platforms: the casts are not noise.
#[allow(clippy::unnecessary_cast)]
fn disk(dir: &Path) -> Option<HostDiskStats> {
    let st = crate::fingerprint::statvfs(dir)?;
    let frsize = st.f_frsize as u64;
    let size = (st.f_blocks as u64).saturating_mul(frsize);
    let free = (st.f_bfree as u64).saturating_mul(frsize);
    let available = (st.f_bavail as u64).saturating_mul(frsize);
    let used = size.saturating_sub(free);
    let pct = |used: f64, total: f64| {
        if total > 0.0 {
            100.0 * used / total
        } else {
            0.0
        }
    };
    Some(HostDiskStats {
        device: String::new(),
        mountpoint: dir.display().to_string(),
        size,
        used,
        available,
        used_percent: pct(used as f64, size as f64),
        inodes_used_percent: pct(
            (st.f_files as u64).saturating_sub(st.f_ffree as u64) as f64,
            st.f_files as f64,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_and_stat_parse() {
        let m = parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 40 kB\n");
        assert_eq!(
            (m.total, m.available, m.used, m.free),
            (102_400, 40_960, 61_440, 10_240)
        );
        let s = parse_stat("cpu  1 2 3 4\ncpu0 10 0 5 85 0 0 0 0\nintr 1\n");
        assert_eq!(s.len(), 1, "the aggregate line is not a CPU");
        let sampler = CpuSampler::default();
        sampler.sample(s);
        let (cpus, ticks) = sampler.sample(parse_stat("cpu0 20 0 10 170 0 0 0 0\n"));
        assert_eq!(cpus[0].cpu, "cpu0");
        assert!((cpus[0].user - 10.0).abs() < 1e-9, "{cpus:?}");
        assert!((cpus[0].idle - 85.0).abs() < 1e-9);
        assert_eq!(ticks, 15.0);
    }

    #[test]
    fn reads_this_host() {
        let st = CpuSampler::default().read(Path::new("/"));
        assert!(st.memory.total > 0 && !st.cpu.is_empty() && st.uptime > 0);
        assert!(st.alloc_dir_stats.is_some_and(|d| d.size > 0));
    }
}
