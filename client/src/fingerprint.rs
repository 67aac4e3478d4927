//! Node fingerprinting: the `Node` a client registers, with the attributes
//! and resources Nomad's client fingerprinters report (`client/fingerprint`:
//! arch, cpu, host, memory, storage, network, nomad) and the computed class.
//!
//! Reading the host is split from building the node: [`HostFacts::detect`]
//! does the I/O (procfs, sysfs, `uname`, `statvfs`), and [`build_node`] is a
//! pure function of the facts and the config, so tests can feed it anything.
//! The text parsers are public for the same reason.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use drover_api::{
    DriverInfo, NetworkResource, Node, NodeCpuResources, NodeDiskResources, NodeMemoryResources,
    NodeReservedResources, NodeResources, NodeStatus, SchedulingEligibility,
};

/// The Nomad version Drover's clients claim in `nomad.version`. Jobs and
/// tools gate features on `${attr.nomad.version}`; Drover speaks the v1 API of
/// this release line. Drover's own version is in `drover.version`.
pub const NOMAD_COMPAT_VERSION: &str = "1.10.0";

/// Nomad's default dynamic port range (`client.min_dynamic_port`/`max`).
pub const DEFAULT_MIN_DYNAMIC_PORT: i64 = 20000;
pub const DEFAULT_MAX_DYNAMIC_PORT: i64 = 32000;

/// Nomad's guess when no frequency can be read (`numalib`'s fallback core
/// speed): 1000 MHz per core.
pub const DEFAULT_CPU_MHZ: u64 = 1000;

/// Nomad's default link speed when the interface reports none.
pub const DEFAULT_NETWORK_MBITS: i64 = 1000;

const BYTES_PER_MB: u64 = 1024 * 1024;

/// What the agent configuration says about this node. Empty strings take
/// Nomad's defaults: name = hostname, datacenter `dc1`, pool `default`,
/// network IP `127.0.0.1` (the dev-agent choice).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FingerprintConfig {
    pub node_id: String,
    pub name: String,
    pub datacenter: String,
    pub node_class: String,
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    /// The client data dir; storage is measured on its file system.
    pub data_dir: PathBuf,
    /// `host:port` of the client's HTTP API.
    pub http_addr: String,
    /// The address tasks' ports are allocated on.
    pub network_ip: String,
    pub reserved: NodeReservedResources,
    /// Overrides as Nomad's `cpu_total_compute` and `memory_total_mb`; 0 = detect.
    pub cpu_total_compute: u64,
    pub memory_total_mb: u64,
    /// 0 = Nomad's defaults, 20000 and 32000.
    pub min_dynamic_port: i64,
    pub max_dynamic_port: i64,
}

/// Everything read from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    /// `uname -r`. (`kernel.name` is Go's `GOOS`, not from uname.)
    pub kernel_version: String,
    pub kernel_arch: String,
    pub os: OsRelease,
    pub cpu: CpuFacts,
    pub memory_total_bytes: u64,
    pub storage: Option<StorageFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`, e.g. `debian` (what Nomad's `os.name` holds).
    pub id: String,
    /// `VERSION_ID`, e.g. `12`.
    pub version_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuFacts {
    pub model_name: String,
    /// MHz of each online core, by core ID.
    pub core_mhz: BTreeMap<u16, u64>,
    /// Cores this process may run on (its affinity mask): what Nomad calls
    /// reservable cores.
    pub usable_cores: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageFacts {
    /// The mounted device, as `df`'s first column.
    pub volume: String,
    pub bytes_total: u64,
    /// Available to unprivileged users (`df`'s "Available").
    pub bytes_free: u64,
}

/// Fingerprint this host and build the node to register: status
/// `initializing`, eligible, with the drivers' attributes merged in.
pub fn fingerprint(cfg: &FingerprintConfig, drivers: BTreeMap<String, DriverInfo>) -> Node {
    build_node(cfg, &HostFacts::detect(&cfg.data_dir), drivers)
}

/// The pure half of [`fingerprint`].
pub fn build_node(
    cfg: &FingerprintConfig,
    facts: &HostFacts,
    drivers: BTreeMap<String, DriverInfo>,
) -> Node {
    let mut attrs = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        if !v.is_empty() {
            attrs.insert(k.to_string(), v);
        }
    };

    // host
    set("kernel.name", std::env::consts::OS.to_string());
    set("kernel.version", facts.kernel_version.clone());
    set("kernel.arch", facts.kernel_arch.clone());
    set("os.name", facts.os.id.clone());
    set("os.version", facts.os.version_id.clone());
    set("unique.hostname", facts.hostname.clone());

    // arch and cpu
    set("cpu.arch", go_arch(std::env::consts::ARCH).to_string());
    let cores = facts.cpu.core_mhz.len().max(1) as u64;
    let (total_compute, max_mhz) = match cfg.cpu_total_compute {
        0 if facts.cpu.core_mhz.is_empty() => (DEFAULT_CPU_MHZ, DEFAULT_CPU_MHZ),
        0 => (
            facts.cpu.core_mhz.values().sum(),
            facts
                .cpu
                .core_mhz
                .values()
                .copied()
                .max()
                .unwrap_or(DEFAULT_CPU_MHZ),
        ),
        forced => (forced, forced / cores),
    };
    let usable_compute = match cfg.cpu_total_compute {
        0 => facts
            .cpu
            .usable_cores
            .iter()
            .filter_map(|c| facts.cpu.core_mhz.get(c))
            .sum(),
        _ => total_compute * facts.cpu.usable_cores.len() as u64 / cores,
    };
    set("cpu.modelname", facts.cpu.model_name.clone());
    set("cpu.numcores", cores.to_string());
    set(
        "cpu.reservablecores",
        facts.cpu.usable_cores.len().to_string(),
    );
    set("cpu.frequency", max_mhz.to_string());
    set("cpu.totalcompute", total_compute.to_string());
    set("cpu.usablecompute", usable_compute.to_string());

    // memory
    let memory_bytes = match cfg.memory_total_mb {
        0 => facts.memory_total_bytes,
        mb => mb * BYTES_PER_MB,
    };
    if memory_bytes > 0 {
        set("memory.totalbytes", memory_bytes.to_string());
    }

    // storage
    let mut disk_mb = 0;
    if let Some(st) = &facts.storage {
        set("unique.storage.volume", st.volume.clone());
        set("unique.storage.bytestotal", st.bytes_total.to_string());
        set("unique.storage.bytesfree", st.bytes_free.to_string());
        disk_mb = (st.bytes_free / BYTES_PER_MB) as i64;
    }

    // network
    let ip = network_ip(cfg);
    set("unique.network.ip-address", ip.clone());
    let network = NetworkResource {
        mode: "host".to_string(),
        device: if is_loopback(&ip) { "lo" } else { "" }.to_string(),
        cidr: format!("{ip}/{}", if ip.contains(':') { 128 } else { 32 }),
        ip,
        mbits: DEFAULT_NETWORK_MBITS,
        ..NetworkResource::default()
    };

    // agent
    set("unique.advertise.address", cfg.http_addr.clone());
    set("nomad.version", NOMAD_COMPAT_VERSION.to_string());
    set("drover.version", env!("CARGO_PKG_VERSION").to_string());

    let node_resources = NodeResources {
        cpu: NodeCpuResources {
            cpu_shares: total_compute as i64,
            total_cpu_cores: u16::try_from(cores).unwrap_or(u16::MAX),
            reservable_cpu_cores: facts.cpu.usable_cores.clone(),
        },
        memory: NodeMemoryResources {
            memory_mb: (memory_bytes / BYTES_PER_MB) as i64,
        },
        disk: NodeDiskResources { disk_mb },
        networks: vec![network],
        min_dynamic_port: nonzero_or(cfg.min_dynamic_port, DEFAULT_MIN_DYNAMIC_PORT),
        max_dynamic_port: nonzero_or(cfg.max_dynamic_port, DEFAULT_MAX_DYNAMIC_PORT),
    };

    let mut node = Node {
        id: cfg.node_id.clone(),
        name: non_empty_or(&cfg.name, &facts.hostname),
        datacenter: non_empty_or(&cfg.datacenter, "dc1"),
        http_addr: cfg.http_addr.clone(),
        attributes: attrs,
        node_resources,
        reserved_resources: cfg.reserved.clone(),
        meta: cfg.meta.clone(),
        node_class: cfg.node_class.clone(),
        node_pool: non_empty_or(&cfg.node_pool, "default"),
        status: NodeStatus::Initializing,
        scheduling_eligibility: SchedulingEligibility::Eligible,
        ..Node::default()
    };
    set_drivers(&mut node, drivers);
    node
}

/// Replaces the node's driver infos and the attributes they contribute, as
/// Nomad's node updater merges them (`driver.<name> = "1"` when detected,
/// plus each driver's own attributes), and recomputes the class.
pub fn set_drivers(node: &mut Node, drivers: BTreeMap<String, DriverInfo>) {
    for (name, old) in &node.drivers {
        for k in old.attributes.keys() {
            node.attributes.remove(k);
        }
        node.attributes.remove(&format!("driver.{name}"));
    }
    for (name, info) in &drivers {
        for (k, v) in &info.attributes {
            node.attributes.insert(k.clone(), v.clone());
        }
        if info.detected {
            node.attributes
                .insert(format!("driver.{name}"), "1".to_string());
        }
    }
    node.drivers = drivers;
    node.computed_class = compute_class(node);
}

/// Whether two fingerprints of the drivers differ in what the schedulers
/// see (detection, health, attributes), ignoring when they were taken.
pub fn drivers_changed(
    old: &BTreeMap<String, DriverInfo>,
    new: &BTreeMap<String, DriverInfo>,
) -> bool {
    let strip = |m: &BTreeMap<String, DriverInfo>| -> Vec<(String, DriverInfo)> {
        m.iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.update_time = None;
                (k.clone(), v)
            })
            .collect()
    };
    strip(old) != strip(new)
}

/// `v1:<u64>`, as Nomad's `Node.ComputeClass`: a hash over exactly the
/// fields Nomad includes (datacenter, attributes and meta without `unique.*`
/// keys, node class, node pool; Nomad also includes device resources, which
/// Drover does not have). Drivers are not hashed, as in Nomad: a detected
/// driver already shows as a `driver.<name>` attribute. The hash is FNV-1a 64
/// over a length-prefixed encoding, so it is stable across runs and builds
/// (the number differs from Nomad's; only equality between nodes matters).
pub fn compute_class(node: &Node) -> String {
    let mut h = Fnv1a::new();
    h.field("Datacenter", &node.datacenter);
    h.map("Attributes", &node.attributes);
    h.map("Meta", &node.meta);
    h.field("NodeClass", &node.node_class);
    h.field("NodePool", &node.node_pool);
    format!("v1:{}", h.0)
}

struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, b: &[u8]) {
        for byte in b {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Length-prefixed, so `("ab","c")` and `("a","bc")` differ.
    fn str(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }

    fn field(&mut self, name: &str, v: &str) {
        self.str(name);
        self.str(v);
    }

    fn map(&mut self, name: &str, m: &BTreeMap<String, String>) {
        self.str(name);
        let kept = m.iter().filter(|(k, _)| !k.starts_with("unique."));
        self.bytes(&(kept.clone().count() as u64).to_le_bytes());
        for (k, v) in kept {
            self.str(k);
            self.str(v);
        }
    }
}

/// Rust's `std::env::consts::ARCH` → Go's `GOARCH`, which Nomad reports.
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        other => other,
    }
}

fn network_ip(cfg: &FingerprintConfig) -> String {
    if !cfg.network_ip.is_empty() {
        return cfg.network_ip.clone();
    }
    "127.0.0.1".to_string()
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|a| a.is_loopback())
}

fn non_empty_or(v: &str, default: &str) -> String {
    if v.is_empty() { default } else { v }.to_string()
}

fn nonzero_or(v: i64, default: i64) -> i64 {
    if v == 0 {
        default
    } else {
        v
    }
}

impl HostFacts {
    /// Read the host. Anything unreadable is left empty (and then missing
    /// from the attributes), as a Nomad fingerprinter that fails is skipped.
    pub fn detect(data_dir: &Path) -> HostFacts {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let (kernel_version, kernel_arch) = uname();
        let cpuinfo = parse_cpuinfo(&read("/proc/cpuinfo"));
        let online = parse_cpu_list(read("/sys/devices/system/cpu/online").trim());
        let mut core_ids: Vec<u16> = if online.is_empty() {
            cpuinfo.mhz.keys().copied().collect()
        } else {
            online
        };
        if core_ids.is_empty() {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            core_ids = (0..n).filter_map(|i| u16::try_from(i).ok()).collect();
        }
        let core_mhz = core_ids
            .iter()
            .map(|&id| (id, core_speed_mhz(id, &cpuinfo)))
            .collect();
        let mut usable_cores = affinity_cores();
        if usable_cores.is_empty() {
            usable_cores = core_ids.clone();
        }
        HostFacts {
            hostname: hostname(),
            kernel_version,
            kernel_arch,
            os: parse_os_release(&read("/etc/os-release")),
            cpu: CpuFacts {
                model_name: cpuinfo.model_name,
                core_mhz,
                usable_cores,
            },
            memory_total_bytes: parse_meminfo_total(&read("/proc/meminfo")).unwrap_or(0),
            storage: storage(data_dir, &read("/proc/self/mountinfo")),
        }
    }
}

/// Nomad's per-core speed order on Linux: `base_frequency`, then
/// `cpuinfo_max_freq` (both kHz, from sysfs), then the `cpu MHz` line of
/// `/proc/cpuinfo`, then [`DEFAULT_CPU_MHZ`].
fn core_speed_mhz(id: u16, cpuinfo: &CpuInfo) -> u64 {
    let sys = |f: &str| {
        let p = format!("/sys/devices/system/cpu/cpu{id}/cpufreq/{f}");
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(|khz| khz / 1000)
            .filter(|mhz| *mhz > 0)
    };
    sys("base_frequency")
        .or_else(|| sys("cpuinfo_max_freq"))
        .or_else(|| cpuinfo.mhz.get(&id).copied().filter(|m| *m > 0))
        .unwrap_or(DEFAULT_CPU_MHZ)
}

/// What `/proc/cpuinfo` tells: the model name and each processor's MHz.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfo {
    pub model_name: String,
    pub mhz: BTreeMap<u16, u64>,
}

pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut out = CpuInfo::default();
    let mut current: Option<u16> = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => {
                current = v.parse().ok();
                if let Some(id) = current {
                    out.mhz.entry(id).or_insert(0);
                }
            }
            "model name" if out.model_name.is_empty() => out.model_name = v.to_string(),
            "cpu MHz" => {
                let mhz = v.parse::<f64>().ok().filter(|m| m.is_finite() && *m > 0.0);
                if let (Some(id), Some(mhz)) = (current, mhz) {
                    out.mhz.insert(id, mhz as u64);
                }
            }
            _ => {}
        }
    }
    out
}

/// `0-3,8,10-11` → the listed IDs.
pub fn parse_cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) {
            out.extend(lo..=hi);
        }
    }
    out
}

/// `MemTotal` in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// `ID` and `VERSION_ID`, unquoted.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut out = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => out.id = v,
            "VERSION_ID" => out.version_id = v,
            _ => {}
        }
    }
    out
}

/// The mount source of the longest mount point containing `path`, from
/// `/proc/self/mountinfo` (field 5 is the mount point, the source follows
/// the ` - fstype` separator). Octal escapes (`\040`) in mount points are
/// decoded.
pub fn mount_source(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let (Some(mp), Some(source)) = (
            pre.split_whitespace().nth(4),
            post.split_whitespace().nth(1),
        ) else {
            continue;
        };
        let (mount_point, source) = (unescape_octal(mp), source.to_string());
        let mp = Path::new(&mount_point);
        if path.starts_with(mp) {
            let depth = mp.components().count();
            if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
                best = Some((depth, source));
            }
        }
    }
    best.map(|(_, s)| s)
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| {
                let n = d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0'));
                u8::try_from(n).ok()
            });
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn storage(data_dir: &Path, mountinfo: &str) -> Option<StorageFacts> {
    // The data dir may not exist yet on first start: measure its nearest
    // existing ancestor, as the agent will create it there.
    let abs = std::path::absolute(data_dir).ok()?;
    let dir = abs
        .ancestors()
        .find_map(|p| std::fs::canonicalize(p).ok())?;
    let st = statvfs(&dir)?;
    let frsize = st.f_frsize as u64;
    Some(StorageFacts {
        volume: mount_source(mountinfo, &dir).unwrap_or_default(),
        bytes_total: (st.f_blocks as u64).saturating_mul(frsize),
        bytes_free: (st.f_bavail as u64).saturating_mul(frsize),
    })
}

/// `statvfs(3)` of `dir` (which must exist).
pub(crate) fn statvfs(dir: &Path) -> Option<libc::statvfs> {
    let c_path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c_path` is a valid NUL-terminated string and `st` a properly
    // sized out-parameter that statvfs fully initializes on success.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some(st)
    }
}

/// `(release, machine)` from `uname(2)`.
fn uname() -> (String, String) {
    // SAFETY: `utsname` is plain old data; uname fills NUL-terminated fields.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return (String::new(), String::new());
        }
        let field = |f: &[libc::c_char]| CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        (field(&u.release), field(&u.machine))
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `len` bytes; gethostname NUL-terminates
    // within it (we reserve the last byte).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The CPUs in this process's affinity mask (a cpuset cgroup shows here).
fn affinity_cores() -> Vec<u16> {
    // SAFETY: `cpu_set_t` is plain old data; sched_getaffinity writes at most
    // `size_of::<cpu_set_t>()` bytes, and CPU_ISSET reads within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&i| libc::CPU_ISSET(i, &set))
            .filter_map(|i| u16::try_from(i).ok())
            .collect()
    }
}

/// Percent of space and of inodes in use on the filesystem of `dir`
/// (used / (used + available), as gopsutil computes Nomad's figure).
pub(crate) fn disk_usage(dir: &std::path::Path) -> Option<(f64, f64)> {
    let st = statvfs(dir)?;
    let pct = |used: f64, avail: f64| {
        if used + avail <= 0.0 {
            0.0
        } else {
            used / (used + avail) * 100.0
        }
    };
    let blocks = st.f_blocks as f64;
    let disk = pct(blocks - st.f_bfree as f64, st.f_bavail as f64);
    let files = st.f_files as f64;
    let inodes = pct(files - st.f_ffree as f64, st.f_favail as f64);
    Some((disk, inodes))
}
