//! One sample of a container's resource usage as [`TaskStats`].

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::daemon_error;
use crate::driver::{DriverError, TaskStats};

/// Nanoseconds per clock tick (`USER_HZ` = 100 on Linux).
const NANOS_PER_TICK: u64 = 10_000_000;

pub async fn sample(docker: &Docker, container: &str) -> Result<TaskStats, DriverError> {
    // stream=false without one_shot: the daemon takes two samples, so
    // precpu_stats is filled and the CPU percent means something.
    let opts = StatsOptions {
        stream: false,
        one_shot: false,
    };
    let mut stream = docker.stats(container, Some(opts));
    match stream.next().await {
        Some(Ok(s)) => Ok(to_task_stats(&s)),
        Some(Err(e)) if super::is_not_found(&e) => Err(DriverError::TaskNotRunning),
        Some(Err(e)) => Err(daemon_error("reading container stats", e)),
        None => Err(DriverError::Daemon("no container stats returned".into())),
    }
}

pub fn to_task_stats(s: &ContainerStatsResponse) -> TaskStats {
    let mut out = TaskStats {
        timestamp: crate::now_nanos(),
        ..TaskStats::default()
    };
    if let Some(mem) = &s.memory_stats {
        let usage = mem.usage.unwrap_or(0);
        let stats = mem.stats.as_ref();
        let get = |k: &str| stats.and_then(|m| m.get(k)).copied();
        // cgroup v1 reports rss itself; v2 only usage and inactive_file.
        out.rss_bytes = get("rss").or_else(|| get("total_rss")).unwrap_or_else(|| {
            usage.saturating_sub(get("inactive_file").or(get("cache")).unwrap_or(0))
        });
    }
    if let Some(cpu) = &s.cpu_stats {
        let usage = cpu.cpu_usage.as_ref();
        let user = usage.and_then(|u| u.usage_in_usermode).unwrap_or(0);
        let system = usage.and_then(|u| u.usage_in_kernelmode).unwrap_or(0);
        let total = usage.and_then(|u| u.total_usage).unwrap_or(0);
        out.cpu_user_ticks = user / NANOS_PER_TICK;
        out.cpu_system_ticks = system / NANOS_PER_TICK;
        out.cpu_ticks = total / NANOS_PER_TICK;

        let pre = s.precpu_stats.as_ref();
        let pre_total = pre
            .and_then(|p| p.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0);
        let pre_system = pre.and_then(|p| p.system_cpu_usage).unwrap_or(0);
        let cpu_delta = total.saturating_sub(pre_total) as f64;
        let system_delta = cpu.system_cpu_usage.unwrap_or(0).saturating_sub(pre_system) as f64;
        let cpus = cpu
            .online_cpus
            .map(f64::from)
            .or_else(|| {
                usage
                    .and_then(|u| u.percpu_usage.as_ref())
                    .map(|v| v.len() as f64)
            })
            .unwrap_or(1.0);
        if system_delta > 0.0 && pre_system > 0 {
            out.cpu_percent = cpu_delta / system_delta * cpus * 100.0;
        }
    }
    out.pids = s
        .pids_stats
        .as_ref()
        .and_then(|p| p.current)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_and_rss_from_a_v1_sample() {
        let s: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {
                "cpu_usage": {"total_usage": 3_000_000_000u64, "usage_in_usermode": 2_000_000_000u64,
                              "usage_in_kernelmode": 1_000_000_000u64},
                "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2
            },
            "precpu_stats": {
                "cpu_usage": {"total_usage": 2_000_000_000u64},
                "system_cpu_usage": 18_000_000_000u64
            },
            "memory_stats": {"usage": 10_000_000, "stats": {"rss": 4_000_000, "cache": 6_000_000}},
            "pids_stats": {"current": 3}
        }))
        .unwrap();
        let t = to_task_stats(&s);
        assert_eq!(t.cpu_percent, 100.0);
        assert_eq!(
            (t.cpu_ticks, t.cpu_user_ticks, t.cpu_system_ticks),
            (300, 200, 100)
        );
        assert_eq!(t.rss_bytes, 4_000_000);
        assert_eq!(t.pids, 3);
    }
}
