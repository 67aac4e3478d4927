//! What Drover reads of `/proc` about processes: a process's stat line,
//! whether a pid is still the process that started at a given time, the
//! members of a process group. Shared by the drivers (raw_exec tasks,
//! docker's logger processes).

use std::fs;
use std::path::Path;

/// The fields of `/proc/<pid>/stat` Drover uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub pgrp: i64,
    pub session: i64,
    pub utime: u64,
    pub stime: u64,
    /// Field 22, clock ticks after boot.
    pub start_time: u64,
    pub rss_pages: u64,
}

/// Reads `/proc/<pid>/stat`; `None` if the process does not exist.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses a stat line. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted after its last `)`.
fn parse_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state), so field N is f[N - 3].
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

/// Whether `pid` is still the process that started at `start_time` and
/// has not exited (a zombie has exited; it only awaits reaping).
pub fn is_alive(pid: u32, start_time: u64) -> bool {
    read_stat(pid).is_some_and(|s| s.start_time == start_time && !matches!(s.state, 'Z' | 'X'))
}

/// Live processes of process group `pgid`.
pub(crate) fn group_members(pgid: u32) -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_stat)
        .filter(|s| s.pgrp == i64::from(pgid) && !matches!(s.state, 'Z' | 'X'))
        .collect()
}

pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(4096)
}

pub(crate) fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(100)
}

pub(crate) fn uptime_secs() -> Option<f64> {
    let s = fs::read_to_string(Path::new("/proc/uptime")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_handles_parens_in_comm() {
        let line =
            "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 1000 250 1844";
        let s = parse_stat(line);
        assert_eq!(
            s,
            Some(ProcStat {
                state: 'S',
                pgrp: 42,
                session: 42,
                utime: 7,
                stime: 3,
                start_time: 12345,
                rss_pages: 250
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }
}
