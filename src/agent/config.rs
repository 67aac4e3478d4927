//! The agent's configuration: Nomad's defaults, dev mode, how sources merge,
//! and the checks run once every source is in.
//!
//! Sources (config files in order, then the command line) each become a
//! [`ConfigLayer`] that says only what that source said; [`AgentConfig::merge`]
//! lays one over the running result. Keeping "not said" (`None`) apart from
//! "said false/0" lets a later file turn a bool off, which Nomad's
//! zero-value merge cannot do; everything else follows Nomad's `Config.Merge`
//! (`command/agent/config.go`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::bail;
use drover_server::http::serve::HttpLimits;

/// Nomad's default HTTP API port.
pub const DEFAULT_HTTP_PORT: u16 = 4646;
/// Nomad's default server RPC port.
pub const DEFAULT_RPC_PORT: u16 = 4647;
/// Nomad's default Serf gossip port.
pub const DEFAULT_SERF_PORT: u16 = 4648;

/// Everything the agent needs to start, after merging and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Where state lives. `None` only in dev mode, where the agent makes a
    /// temporary directory; `load` refuses `None` otherwise, as Nomad does.
    pub data_dir: Option<PathBuf>,
    /// The one address every listener binds to (Nomad's `bind_addr`). An IP,
    /// not a go-sockaddr template: Drover does not evaluate those.
    pub bind_addr: IpAddr,
    /// The node name. Empty until `load` fills in the hostname, so that the
    /// pure parts of this module never read the environment.
    pub name: String,
    pub datacenter: String,
    pub region: String,
    pub ports: Ports,
    pub server: ServerConfig,
    pub client: ClientConfig,
    /// Nomad's `plugin "<driver>" { config { ... } }` blocks Drover reads.
    pub plugins: Plugins,
    /// Nomad's `limits` block: the HTTP listener's connection limits.
    pub limits: HttpLimits,
    /// Nomad's `tls` block, as configured (loaded when the agent starts).
    pub tls: drover_server::tls::TlsOptions,
    /// Nomad's `acl` block (and `-acl-enabled`).
    pub acl: drover_server::acl::enforce::AclConfig,
    pub log_level: LogLevel,
    pub log_json: bool,
    /// Set only by `-dev`: relaxes the data-dir and bootstrap checks.
    pub dev_mode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub http: u16,
    pub rpc: u16,
    /// Parsed and checked for clashes so a Nomad config keeps its meaning,
    /// although Drover binds no Serf listener today.
    pub serf: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerConfig {
    pub enabled: bool,
    /// How many servers to wait for before bootstrapping Raft.
    pub bootstrap_expect: u32,
    /// `server { server_join { retry_join = [...] } }` and `-retry-join`.
    /// After `validate` this also holds the deprecated form's addresses.
    pub retry_join: Vec<String>,
    /// The deprecated `server { retry_join = [...] }` (Nomad 0.10). Kept
    /// apart while merging because Nomad merges the two forms differently
    /// (this one appends, `server_join` replaces) and refuses both at once;
    /// `validate` folds it into `retry_join` and leaves it empty.
    pub deprecated_retry_join: Vec<String>,
    /// `server { server_join { start_join = [...] } }` and `-join`: servers
    /// to join once at start; the agent exits when none can be joined.
    pub start_join: Vec<String>,
    /// Log entries between two Raft snapshots (Nomad's
    /// `raft_snapshot_threshold`); `None` keeps Drover's 10,000.
    pub raft_snapshot_threshold: Option<u32>,
    /// Log entries kept behind a snapshot for followers that lag (Nomad's
    /// `raft_trailing_logs`); `None` keeps Drover's 1,000. A follower
    /// further behind gets the snapshot.
    pub raft_trailing_logs: Option<u32>,
    /// How long a joining server must have been healthy before it is
    /// promoted from learner to voter (Nomad's top-level `autopilot {
    /// server_stabilization_time }`); `None` keeps Nomad's 10s.
    pub server_stabilization_time: Option<std::time::Duration>,
    /// How long a deployment stays after it ended before the leader
    /// collects it (Nomad's `deployment_gc_threshold`); `None` keeps 1h.
    pub deployment_gc_threshold: Option<std::time::Duration>,
    /// How often the leader looks for such deployments (Drover's
    /// `deployment_gc_interval`; Nomad fixes it at 5m); `None` keeps 5m.
    pub deployment_gc_interval: Option<std::time::Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub enabled: bool,
    /// Server addresses (`host:port`) the client registers with. Drover's
    /// clients talk to servers over their HTTP API, so these are HTTP
    /// addresses (Nomad lists RPC ones).
    pub servers: Vec<String>,
    /// Nomad's `client { options }`; `driver.raw_exec.enable = "1"`
    /// enables raw_exec outside dev mode, as Nomad still honours.
    pub options: std::collections::BTreeMap<String, String>,
    /// How many allocations the client keeps before it collects terminal
    /// ones (Nomad's `gc_max_allocs`, default 50).
    pub gc_max_allocs: u32,
    /// How often the client checks its disk for collection (Nomad's
    /// `gc_interval`, default 1m).
    pub gc_interval: std::time::Duration,
    /// Percent of the data dir's disk in use above which terminal
    /// allocations are collected, oldest first (Nomad's default 80).
    pub gc_disk_usage_threshold: u32,
    /// The same for inodes (Nomad's default 70).
    pub gc_inode_usage_threshold: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            enabled: false,
            servers: Vec::new(),
            options: Default::default(),
            gc_max_allocs: 50,
            gc_interval: std::time::Duration::from_secs(60),
            gc_disk_usage_threshold: 80,
            gc_inode_usage_threshold: 70,
        }
    }
}

/// The client option that sets how often drivers are fingerprinted.
pub const FINGERPRINT_PERIOD: &str = "drover.fingerprint_period";

/// The task driver plugin settings Drover acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugins {
    /// `plugin "raw_exec" { config { enabled = true } }`.
    pub raw_exec_enabled: bool,
    /// `plugin "docker" { config { endpoint = "unix:///..." } }`.
    pub docker_endpoint: Option<String>,
    /// `plugin "docker" { config { gc { container = false } } }` keeps
    /// a task's container after it ended (default: removed).
    pub docker_gc_container: bool,
    /// `plugin "docker" { config { volumes { enabled = true } } }` allows
    /// host paths outside the allocation dir (default: not).
    pub docker_volumes_enabled: bool,
}

impl Default for Plugins {
    fn default() -> Self {
        Plugins {
            raw_exec_enabled: false,
            docker_endpoint: None,
            docker_gc_container: true,
            docker_volumes_enabled: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginsLayer {
    pub raw_exec_enabled: Option<bool>,
    pub docker_endpoint: Option<String>,
    pub docker_gc_container: Option<bool>,
    pub docker_volumes_enabled: Option<bool>,
}

impl ClientConfig {
    /// How often drivers are fingerprinted again: Drover's client option
    /// `drover.fingerprint_period` (a Go duration), 30s by default as
    /// Nomad's drivers report.
    pub fn fingerprint_period(&self) -> anyhow::Result<std::time::Duration> {
        let Some(text) = self.options.get(FINGERPRINT_PERIOD) else {
            return Ok(std::time::Duration::from_secs(30));
        };
        match drover_server::jobspec::parse_go_duration(text.trim()) {
            Ok(n) if n > 0 => Ok(std::time::Duration::from_nanos(n as u64)),
            _ => bail!(
                "client.options.{FINGERPRINT_PERIOD}: {text:?} is not a positive duration such as \"30s\""
            ),
        }
    }

    /// Whether raw_exec may run tasks: always in dev mode, as Nomad; else
    /// by `plugin "raw_exec"` or the older client option.
    pub fn raw_exec_enabled(&self, dev: bool, plugins: &Plugins) -> bool {
        dev || plugins.raw_exec_enabled
            || self
                .options
                .get("driver.raw_exec.enable")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true"))
    }
}

/// Nomad's log levels (`command/agent/log_levels.go`), parsed
/// case-insensitively and shown upper case, as Nomad shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Off,
}

/// What one source (a config file, or the command line) said. `None` and
/// empty lists mean "this source is silent here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigLayer {
    pub data_dir: Option<PathBuf>,
    pub bind_addr: Option<IpAddr>,
    pub name: Option<String>,
    pub datacenter: Option<String>,
    pub region: Option<String>,
    pub log_level: Option<LogLevel>,
    pub log_json: Option<bool>,
    pub ports: PortsLayer,
    pub server: ServerLayer,
    pub client: ClientLayer,
    pub plugins: PluginsLayer,
    pub limits: LimitsLayer,
    pub tls: super::tls::TlsLayer,
    pub acl: AclLayer,
}

/// `acl { ... }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclLayer {
    pub enabled: Option<bool>,
    pub token_min_expiration_ttl: Option<std::time::Duration>,
    pub token_max_expiration_ttl: Option<std::time::Duration>,
}

/// `limits { ... }`. A zero duration is said, and means "no limit", so the
/// durations are `Option<Option<_>>`: outer `None` is "not said".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsLayer {
    pub http_max_conns_per_client: Option<u32>,
    pub https_handshake_timeout: Option<Option<std::time::Duration>>,
    pub http_idle_timeout: Option<Option<std::time::Duration>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortsLayer {
    pub http: Option<u16>,
    pub rpc: Option<u16>,
    pub serf: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerLayer {
    pub enabled: Option<bool>,
    pub bootstrap_expect: Option<u32>,
    /// Replaces the running list when non-empty (Nomad's `ServerJoin.Merge`).
    pub retry_join: Vec<String>,
    /// Appended to the running list (Nomad's `ServerConfig.Merge`).
    pub deprecated_retry_join: Vec<String>,
    /// Replaces the running list when non-empty (Nomad's `ServerJoin.Merge`).
    pub start_join: Vec<String>,
    pub raft_snapshot_threshold: Option<u32>,
    pub raft_trailing_logs: Option<u32>,
    pub server_stabilization_time: Option<std::time::Duration>,
    pub deployment_gc_threshold: Option<std::time::Duration>,
    pub deployment_gc_interval: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientLayer {
    pub enabled: Option<bool>,
    /// Appended to the running list (Nomad's `ClientConfig.Merge`).
    pub servers: Vec<String>,
    /// `client { options { ... } }`, merged key by key.
    pub options: std::collections::BTreeMap<String, String>,
    pub gc_max_allocs: Option<u32>,
    pub gc_interval: Option<std::time::Duration>,
    pub gc_disk_usage_threshold: Option<u32>,
    pub gc_inode_usage_threshold: Option<u32>,
}

impl Default for AgentConfig {
    /// Nomad's `DefaultConfig`: neither role enabled, so an agent started
    /// with no files and no flags is refused by `validate`.
    fn default() -> AgentConfig {
        AgentConfig {
            data_dir: None,
            bind_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            name: String::new(),
            datacenter: "dc1".to_string(),
            region: "global".to_string(),
            ports: Ports {
                http: DEFAULT_HTTP_PORT,
                rpc: DEFAULT_RPC_PORT,
                serf: DEFAULT_SERF_PORT,
            },
            server: ServerConfig::default(),
            client: ClientConfig::default(),
            plugins: Plugins::default(),
            limits: HttpLimits::default(),
            tls: Default::default(),
            acl: Default::default(),
            log_level: LogLevel::Info,
            log_json: false,
            dev_mode: false,
        }
    }
}

impl AgentConfig {
    /// Nomad's `DevConfig` on Linux: both roles in one process, a
    /// single-server cluster, loopback only, debug logs, no data dir (the
    /// agent uses a temporary one).
    pub fn dev() -> AgentConfig {
        AgentConfig {
            bind_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            log_level: LogLevel::Debug,
            server: ServerConfig {
                enabled: true,
                bootstrap_expect: 1,
                ..ServerConfig::default()
            },
            client: ClientConfig {
                enabled: true,
                ..ClientConfig::default()
            },
            dev_mode: true,
            ..AgentConfig::default()
        }
    }

    /// Lays `layer` over `self`: whatever the layer says wins, field by
    /// field. Lists follow Nomad: `client.servers` and the deprecated
    /// `server.retry_join` append, `server_join.retry_join` replaces when
    /// the layer has any.
    pub fn merge(mut self, layer: ConfigLayer) -> AgentConfig {
        fn set<T>(target: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *target = value;
            }
        }
        if layer.data_dir.is_some() {
            self.data_dir = layer.data_dir;
        }
        set(&mut self.bind_addr, layer.bind_addr);
        set(&mut self.name, layer.name);
        set(&mut self.datacenter, layer.datacenter);
        set(&mut self.region, layer.region);
        set(&mut self.log_level, layer.log_level);
        set(&mut self.log_json, layer.log_json);
        set(&mut self.ports.http, layer.ports.http);
        set(&mut self.ports.rpc, layer.ports.rpc);
        set(&mut self.ports.serf, layer.ports.serf);
        set(&mut self.server.enabled, layer.server.enabled);
        set(
            &mut self.server.bootstrap_expect,
            layer.server.bootstrap_expect,
        );
        if !layer.server.retry_join.is_empty() {
            self.server.retry_join = layer.server.retry_join;
        }
        if !layer.server.start_join.is_empty() {
            self.server.start_join = layer.server.start_join;
        }
        if layer.server.raft_snapshot_threshold.is_some() {
            self.server.raft_snapshot_threshold = layer.server.raft_snapshot_threshold;
        }
        if layer.server.raft_trailing_logs.is_some() {
            self.server.raft_trailing_logs = layer.server.raft_trailing_logs;
        }
        if layer.server.server_stabilization_time.is_some() {
            self.server.server_stabilization_time = layer.server.server_stabilization_time;
        }
        if layer.server.deployment_gc_threshold.is_some() {
            self.server.deployment_gc_threshold = layer.server.deployment_gc_threshold;
        }
        if layer.server.deployment_gc_interval.is_some() {
            self.server.deployment_gc_interval = layer.server.deployment_gc_interval;
        }
        self.server
            .deprecated_retry_join
            .extend(layer.server.deprecated_retry_join);
        set(&mut self.client.enabled, layer.client.enabled);
        self.client.servers.extend(layer.client.servers);
        self.client.options.extend(layer.client.options);
        set(&mut self.client.gc_max_allocs, layer.client.gc_max_allocs);
        set(&mut self.client.gc_interval, layer.client.gc_interval);
        set(
            &mut self.client.gc_disk_usage_threshold,
            layer.client.gc_disk_usage_threshold,
        );
        set(
            &mut self.client.gc_inode_usage_threshold,
            layer.client.gc_inode_usage_threshold,
        );
        let p = layer.plugins;
        set(&mut self.plugins.raw_exec_enabled, p.raw_exec_enabled);
        if p.docker_endpoint.is_some() {
            self.plugins.docker_endpoint = p.docker_endpoint;
        }
        set(&mut self.plugins.docker_gc_container, p.docker_gc_container);
        set(
            &mut self.plugins.docker_volumes_enabled,
            p.docker_volumes_enabled,
        );
        let l = layer.limits;
        set(
            &mut self.limits.max_conns_per_client,
            l.http_max_conns_per_client,
        );
        set(
            &mut self.limits.handshake_timeout,
            l.https_handshake_timeout,
        );
        set(&mut self.limits.idle_timeout, l.http_idle_timeout);
        self.tls = super::tls::merge(self.tls, layer.tls);
        set(&mut self.acl.enabled, layer.acl.enabled);
        set(
            &mut self.acl.token_min_expiration_ttl,
            layer.acl.token_min_expiration_ttl,
        );
        set(
            &mut self.acl.token_max_expiration_ttl,
            layer.acl.token_max_expiration_ttl,
        );
        self
    }

    /// Checks the merged result and folds the deprecated `retry_join` into
    /// `server_join`'s. Returns the config with warnings worth printing
    /// (Nomad's `IsValidConfig` warnings, deprecations). Each error is one
    /// line naming the option as both the file key and the flag spell it.
    pub fn validate(mut self) -> anyhow::Result<(AgentConfig, Vec<String>)> {
        let mut warnings = Vec::new();
        if !self.server.enabled && !self.client.enabled {
            bail!("Must specify either server, client or dev mode for the agent.");
        }
        self.client.fingerprint_period()?;
        if self.region.is_empty() || self.region.contains('\0') {
            bail!("region (-region): {:?} is not a region name", self.region);
        }
        if self.datacenter.is_empty() || self.datacenter.contains(['\0', '*']) {
            bail!(
                "datacenter (-dc): {:?} is not a datacenter name (empty, or contains null or '*')",
                self.datacenter
            );
        }
        self.validate_ports()?;
        match &self.data_dir {
            Some(dir) if !dir.is_absolute() => {
                bail!(
                    "data_dir (-data-dir): must be an absolute path: got {}",
                    dir.display()
                );
            }
            Some(_) => {}
            None if !self.dev_mode => {
                bail!(r#"Must specify "data_dir" config option or "data-dir" CLI flag"#);
            }
            None => {}
        }
        if self.server.enabled {
            let expect = self.server.bootstrap_expect;
            if expect == 0 {
                bail!("server.bootstrap_expect (-bootstrap-expect): must be at least 1 when the server is enabled");
            }
            if !self.dev_mode && expect == 1 {
                warnings.push(
                    "bootstrap_expect = 1: bootstrap mode enabled! Potentially unsafe operation."
                        .to_string(),
                );
            }
            if !self.dev_mode && expect & 1 == 0 {
                warnings.push(format!("bootstrap_expect = {expect}: the number of bootstrap servers should ideally be odd."));
            }
        }
        if !self.server.deprecated_retry_join.is_empty() {
            if !self.server.retry_join.is_empty() {
                bail!("server: server_join and retry_join cannot both be defined; prefer setting the server_join block");
            }
            warnings.push("server.retry_join is deprecated; use server { server_join { retry_join = [...] } }".to_string());
            self.server.retry_join = std::mem::take(&mut self.server.deprecated_retry_join);
        }
        if self.server.raft_snapshot_threshold == Some(0) {
            bail!("server.raft_snapshot_threshold: must be at least 1");
        }
        // Nomad's `ServerJoin.Validate` (`command/agent/config.go`).
        if !self.server.start_join.is_empty() && !self.server.retry_join.is_empty() {
            bail!("server_join: retry_join and start_join cannot both be defined");
        }
        Ok((self, warnings))
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_addr, self.ports.http)
    }

    /// Where server RPC (Raft, cluster membership) listens.
    pub fn rpc_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_addr, self.ports.rpc)
    }

    fn validate_ports(&self) -> anyhow::Result<()> {
        let ports = [
            ("ports.http", self.ports.http),
            ("ports.rpc", self.ports.rpc),
            ("ports.serf", self.ports.serf),
        ];
        for (key, port) in ports {
            if port == 0 {
                bail!("{key}: must be between 1 and 65535, got 0");
            }
        }
        for (i, (a, port_a)) in ports.iter().enumerate() {
            for (b, port_b) in &ports[i + 1..] {
                if port_a == port_b {
                    bail!("{a} and {b} are both {port_a}: each listener needs its own port");
                }
            }
        }
        Ok(())
    }
}

impl LogLevel {
    pub const ALL: [LogLevel; 6] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::Off,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Off => "OFF",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    /// A sentence for the caller to prefix with the file key or flag.
    type Err = String;

    fn from_str(s: &str) -> Result<LogLevel, String> {
        LogLevel::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let valid: Vec<&str> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
                format!(
                    "invalid log level {s:?}; valid log levels are {}",
                    valid.join(", ")
                )
            })
    }
}
