//! Reading one Nomad agent config file (HCL or JSON) into a [`ConfigLayer`].
//!
//! Both syntaxes are first turned into the same small tree of entries, then
//! one walker reads the keys Drover models. A hand walk rather than serde:
//! it has to tell three kinds of unknown key apart, which derive cannot.
//! - A top-level key Drover does not model (`telemetry`, `acl`, a typo):
//!   a warning, so a whole Nomad config file loads.
//! - A Nomad key inside a block Drover models (`server { encrypt = ".." }`):
//!   a warning too; the key is valid Nomad, Drover just does not act on it.
//! - Any other key inside a modelled block (`server { enbled = true }`): an
//!   error, because there a typo is far likelier than a future Nomad option.
//!
//! Errors and warnings name the file and the dotted key path, in one line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use hcl::structure::Structure;
use serde_json::Value;

use super::config::{ConfigLayer, LogLevel};

mod acl;

/// The syntax of a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Hcl,
    Json,
}

impl Format {
    /// `.json` is JSON; anything else is HCL. A directory load only picks up
    /// `.hcl` and `.json`, but a file named on `-config` may be called
    /// anything, and Nomad reads such files as HCL.
    pub fn of(path: &Path) -> Format {
        match path.extension() {
            Some(ext) if ext == "json" => Format::Json,
            _ => Format::Hcl,
        }
    }
}

/// Parses `text`, naming it `file` in messages. Returns what it said and the
/// warnings about keys it ignored.
pub fn parse_config(
    file: &str,
    text: &str,
    format: Format,
) -> anyhow::Result<(ConfigLayer, Vec<String>)> {
    let entries = match format {
        Format::Hcl => parse_hcl(file, text)?,
        Format::Json => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map.into_iter().map(|(k, v)| (k, Item::Json(v))).collect(),
            Ok(_) => return Err(anyhow!("{file}: expected a JSON object at the top level")),
            Err(e) => return Err(anyhow!("{file}: {e}")),
        },
    };
    let mut walker = Walker {
        file,
        warnings: Vec::new(),
    };
    let mut layer = ConfigLayer::default();
    walker.top(entries, &mut layer)?;
    Ok((layer, walker.warnings))
}

/// Top-level keys of Nomad's agent `Config` that Drover reads nowhere.
const NOMAD_TOP_LEVEL: &[&str] = &[
    "addresses",
    "advertise",
    "audit",
    "consul",
    "disable_anonymous_signature",
    "disable_update_check",
    "enable_debug",
    "enable_syslog",
    "eventlog",
    "http_api_response_headers",
    "keyring",
    "leave_on_interrupt",
    "leave_on_terminate",
    "log_file",
    "log_include_location",
    "log_rotate_bytes",
    "log_rotate_duration",
    "log_rotate_max_files",
    "plugin_dir",
    "reporting",
    "rpc",
    "sentinel",
    "syslog_facility",
    "telemetry",
    "ui",
    "vault",
];

/// Keys of Nomad's `ServerConfig` that Drover does not model.
const NOMAD_SERVER: &[&str] = &[
    "acl_token_gc_threshold",
    "authoritative_region",
    "batch_eval_gc_threshold",
    "client_introduction",
    "csi_plugin_gc_threshold",
    "csi_volume_claim_gc_interval",
    "csi_volume_claim_gc_threshold",
    "data_dir",
    "default_scheduler_config",
    "deploy_query_rate_limit",
    "enable_event_broker",
    "enabled_schedulers",
    "encrypt",
    "eval_gc_threshold",
    "event_buffer_size",
    "failover_heartbeat_ttl",
    "heartbeat_grace",
    "job_default_priority",
    "job_gc_interval",
    "job_gc_threshold",
    "job_max_count",
    "job_max_priority",
    "job_max_source_size",
    "job_tracked_versions",
    "license_path",
    "log_file",
    "max_heartbeats_per_second",
    "min_heartbeat_ttl",
    "node_gc_threshold",
    "non_production",
    "non_voting_server",
    "num_schedulers",
    "oidc_issuer",
    "plan_apply_pipeline",
    "plan_rejection_tracker",
    "protocol_version",
    "raft_boltdb",
    "raft_logstore",
    "raft_multiplier",
    "raft_protocol",
    "raft_snapshot_interval",
    "redundancy_zone",
    "rejoin_after_leave",
    "retry_interval",
    "retry_max",
    "root_key_gc_interval",
    "root_key_gc_threshold",
    "root_key_rotation_threshold",
    "search",
    "start_join",
    "start_timeout",
    "upgrade_version",
];

/// Keys of Nomad's `autopilot` block that Drover does not model.
const NOMAD_AUTOPILOT: &[&str] = &[
    "cleanup_dead_servers",
    "disable_upgrade_migration",
    "enable_custom_upgrades",
    "enable_redundancy_zones",
    "last_contact_threshold",
    "max_trailing_logs",
    "min_quorum",
];

/// Keys of Nomad's `Limits` that Drover does not model: the RPC ones
/// (Drover's servers talk HTTP) and the RPC rate limits.
const NOMAD_LIMITS: &[&str] = &[
    "endpoint",
    "endpoint_limits",
    "rpc_default_list_rate",
    "rpc_default_read_rate",
    "rpc_default_write_rate",
    "rpc_handshake_timeout",
    "rpc_max_conns_per_client",
];

/// Keys of Nomad's `ServerJoin` that Drover does not model.
const NOMAD_SERVER_JOIN: &[&str] = &["retry_interval", "retry_max"];

/// Keys of Nomad's `ClientConfig` that Drover does not model (`stats` is
/// one Nomad itself silently ignores).
const NOMAD_CLIENT: &[&str] = &[
    "alloc_dir",
    "alloc_mounts_dir",
    "artifact",
    "bind_wildcard_default_host_network",
    "bridge_network_hairpin_mode",
    "bridge_network_name",
    "bridge_network_subnet",
    "bridge_network_subnet_ipv6",
    "cgroup_parent",
    "chroot_env",
    "client_max_port",
    "client_min_port",
    "cni_config_dir",
    "cni_path",
    "common_plugin_dir",
    "cpu_disable_dmidecode",
    "cpu_total_compute",
    "default_ineligible",
    "disable_remote_exec",
    "disk_free_mb",
    "disk_total_mb",
    "drain_on_shutdown",
    "fingerprint",
    "gc_max_allocs",
    "gc_parallel_destroys",
    "gc_volumes_on_node_gc",
    "host_network",
    "host_volume",
    "host_volume_plugin_dir",
    "host_volumes_dir",
    "log_file",
    "max_dynamic_port",
    "max_kill_timeout",
    "memory_total_mb",
    "meta",
    "min_dynamic_port",
    "network_interface",
    "network_speed",
    "no_host_uuid",
    "node_class",
    "node_max_allocs",
    "node_pool",
    "nomad_service_discovery",
    "options",
    "preferred_address_family",
    "reservable_cores",
    "reserved",
    "server_join",
    "state_dir",
    "stats",
    "template",
    "users",
];

/// One value in either syntax, read lazily so that only keys Drover models
/// are ever evaluated: an HCL expression in an ignored block may use
/// anything without failing the load.
pub(super) enum Item {
    Json(Value),
    Expr(hcl::Expression),
    Block(Entries),
}

/// A block's contents in source order; a key may repeat (repeated blocks).
pub(super) type Entries = Vec<(String, Item)>;

/// Parses HCL2, and failing that, retries with HCL1's quoted attribute
/// names (`options { "driver.raw_exec.enable" = "1" }`, common in Nomad
/// client configs) swapped for placeholders that `hcl_entries` swaps back.
/// Errors report the first attempt, which points at the real text.
fn parse_hcl(file: &str, text: &str) -> anyhow::Result<Entries> {
    let first = match hcl::parse(text) {
        Ok(body) => return Ok(hcl_entries(body, &[])),
        Err(e) => e,
    };
    if let Some((rewritten, names)) = placeholder_quoted_keys(text) {
        if let Ok(body) = hcl::parse(&rewritten) {
            return Ok(hcl_entries(body, &names));
        }
    }
    Err(hcl_error(file, first))
}

const QUOTED_KEY_PREFIX: &str = "__drover_quoted_key_";

/// Rewrites each line of the form `"name" = value` to `<placeholder N> =
/// value`, returning the new text and the names by N; `None` if no line
/// has that form. A line-based rewrite, so it could touch a heredoc line
/// shaped the same way; it only runs on text HCL2 already refused.
fn placeholder_quoted_keys(text: &str) -> Option<(String, Vec<String>)> {
    let mut names = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let quoted = body.strip_prefix('"').and_then(|rest| {
            let end = rest.find('"')?;
            let name = &rest[..end];
            let after = rest[end + 1..].trim_start();
            let is_assignment = after.starts_with('=') && !after.starts_with("==");
            (is_assignment && !name.contains('\\')).then(|| (name, &rest[end + 1..]))
        });
        match quoted {
            Some((name, rest)) => {
                out.push_str(indent);
                out.push_str(&format!("{QUOTED_KEY_PREFIX}{}", names.len()));
                out.push_str(rest);
                names.push(name.to_string());
            }
            None => out.push_str(line),
        }
    }
    (!names.is_empty()).then_some((out, names))
}

/// HCL blocks become nested entries; a labelled block `a "b" { .. }` nests
/// as `a { b { .. } }`, which is how Nomad's HCL1 decoder sees it.
fn hcl_entries(body: hcl::Body, quoted: &[String]) -> Entries {
    body.into_inner()
        .into_iter()
        .map(|structure| match structure {
            Structure::Attribute(attr) => {
                let key = attr.key.into_inner();
                let original = key
                    .strip_prefix(QUOTED_KEY_PREFIX)
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| quoted.get(n));
                (original.cloned().unwrap_or(key), Item::Expr(attr.expr))
            }
            Structure::Block(block) => {
                let mut item = Item::Block(hcl_entries(block.body, quoted));
                for label in block.labels.into_iter().rev() {
                    item = Item::Block(vec![(label.into_inner(), item)]);
                }
                (block.identifier.into_inner(), item)
            }
        })
        .collect()
}

/// hcl-rs renders parse errors as a multi-line snippet; keep one line.
fn hcl_error(file: &str, err: hcl::Error) -> anyhow::Error {
    match err {
        hcl::Error::Parse(e) => anyhow!(
            "{file}: line {}, column {}: {}",
            e.location().line(),
            e.location().column(),
            e.message().replace('\n', " ")
        ),
        other => anyhow!("{file}: {}", other.to_string().replace('\n', " ")),
    }
}

fn hcl_to_json(value: hcl::Value) -> Value {
    match value {
        hcl::Value::Null => Value::Null,
        hcl::Value::Bool(b) => Value::Bool(b),
        hcl::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                n.as_f64().map_or(Value::Null, Value::from)
            }
        }
        hcl::Value::String(s) => Value::String(s),
        hcl::Value::Array(items) => Value::Array(items.into_iter().map(hcl_to_json).collect()),
        hcl::Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, hcl_to_json(v))).collect())
        }
    }
}

pub(super) struct Walker<'a> {
    file: &'a str,
    warnings: Vec<String>,
}

impl Walker<'_> {
    fn top(&mut self, entries: Entries, layer: &mut ConfigLayer) -> anyhow::Result<()> {
        for (key, item) in entries {
            let path = key.as_str();
            match path {
                "data_dir" => {
                    if let Some(dir) = self.string(path, item)? {
                        layer.data_dir = Some(PathBuf::from(dir));
                    }
                }
                "bind_addr" => {
                    if let Some(addr) = self.string(path, item)? {
                        layer.bind_addr = Some(self.ip(path, &addr)?);
                    }
                }
                "name" => set_some(&mut layer.name, self.string(path, item)?),
                "datacenter" => set_some(&mut layer.datacenter, self.string(path, item)?),
                "region" => set_some(&mut layer.region, self.string(path, item)?),
                "log_level" => {
                    if let Some(level) = self.string(path, item)? {
                        let level: LogLevel = level.parse().map_err(|e| self.error(path, e))?;
                        layer.log_level = Some(level);
                    }
                }
                "log_json" => layer.log_json = Some(self.bool(path, item)?),
                "ports" => self.ports(self.block(path, item)?, layer)?,
                "server" => self.server(self.block(path, item)?, layer)?,
                "plugin" => self.plugins(self.block(path, item)?, layer)?,
                "client" => self.client(self.block(path, item)?, layer)?,
                "limits" => self.limits(self.block(path, item)?, layer)?,
                "tls" => self.tls(self.block(path, item)?, &mut layer.tls)?,
                "acl" => self.acl(self.block(path, item)?, layer)?,
                "autopilot" => {
                    for (key, item) in self.block(path, item)? {
                        let path = format!("autopilot.{key}");
                        match key.as_str() {
                            "server_stabilization_time" => {
                                let d = self.duration(&path, item)?;
                                layer.server.server_stabilization_time = Some(d);
                            }
                            k if NOMAD_AUTOPILOT.contains(&k) => self.ignored(&path),
                            _ => return Err(self.unknown(&path)),
                        }
                    }
                }
                _ if NOMAD_TOP_LEVEL.contains(&path) => self.ignored(path),
                _ => self.warn(path, "ignored: not a Nomad agent option"),
            }
        }
        Ok(())
    }

    fn ports(&mut self, entries: Entries, layer: &mut ConfigLayer) -> anyhow::Result<()> {
        for (key, item) in entries {
            let path = format!("ports.{key}");
            let port = match key.as_str() {
                "http" => &mut layer.ports.http,
                "rpc" => &mut layer.ports.rpc,
                "serf" => &mut layer.ports.serf,
                _ => return Err(self.unknown(&path)),
            };
            *port = Some(self.port(&path, item)?);
        }
        Ok(())
    }

    fn server(&mut self, entries: Entries, layer: &mut ConfigLayer) -> anyhow::Result<()> {
        let server = &mut layer.server;
        for (key, item) in entries {
            let path = format!("server.{key}");
            match key.as_str() {
                "enabled" => server.enabled = Some(self.bool(&path, item)?),
                "bootstrap_expect" => server.bootstrap_expect = Some(self.count(&path, item)?),
                "raft_snapshot_threshold" => {
                    server.raft_snapshot_threshold = Some(self.count(&path, item)?)
                }
                "raft_trailing_logs" => server.raft_trailing_logs = Some(self.count(&path, item)?),
                "deployment_gc_threshold" => {
                    server.deployment_gc_threshold = Some(self.duration(&path, item)?)
                }
                "deployment_gc_interval" => {
                    server.deployment_gc_interval = Some(self.duration(&path, item)?)
                }
                "retry_join" => server
                    .deprecated_retry_join
                    .extend(self.string_list(&path, item)?),
                "server_join" => {
                    for (key, item) in self.block(&path, item)? {
                        let path = format!("{path}.{key}");
                        match key.as_str() {
                            "retry_join" => {
                                let list = self.string_list(&path, item)?;
                                if !list.is_empty() {
                                    server.retry_join = list;
                                }
                            }
                            "start_join" => {
                                let list = self.string_list(&path, item)?;
                                if !list.is_empty() {
                                    server.start_join = list;
                                }
                            }
                            k if NOMAD_SERVER_JOIN.contains(&k) => self.ignored(&path),
                            _ => return Err(self.unknown(&path)),
                        }
                    }
                }
                k if NOMAD_SERVER.contains(&k) => self.ignored(&path),
                _ => return Err(self.unknown(&path)),
            }
        }
        Ok(())
    }

    fn client(&mut self, entries: Entries, layer: &mut ConfigLayer) -> anyhow::Result<()> {
        for (key, item) in entries {
            let path = format!("client.{key}");
            match key.as_str() {
                "enabled" => layer.client.enabled = Some(self.bool(&path, item)?),
                "servers" => layer.client.servers.extend(self.string_list(&path, item)?),
                "gc_max_allocs" => layer.client.gc_max_allocs = Some(self.count(&path, item)?),
                "gc_interval" => layer.client.gc_interval = Some(self.duration(&path, item)?),
                "gc_disk_usage_threshold" => {
                    layer.client.gc_disk_usage_threshold = Some(self.percent(&path, item)?)
                }
                "gc_inode_usage_threshold" => {
                    layer.client.gc_inode_usage_threshold = Some(self.percent(&path, item)?)
                }
                "options" => {
                    // `options { "k" = "v" }` (Nomad's documented form) or
                    // `options = { ... }`.
                    let pairs: Vec<(String, Value)> = match item {
                        Item::Block(entries) => {
                            let mut out = Vec::new();
                            for (k, item) in entries {
                                let v = self.value(&format!("{path}.{k}"), item)?;
                                out.push((k, v));
                            }
                            out
                        }
                        item => match self.value(&path, item)? {
                            Value::Object(map) => map.into_iter().collect(),
                            _ => return Err(self.error(&path, "expected a map of strings")),
                        },
                    };
                    for (k, v) in pairs {
                        let v = match v {
                            Value::String(s) => s,
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            _ => {
                                return Err(self.error(&format!("{path}.{k}"), "expected a string"))
                            }
                        };
                        layer.client.options.insert(k, v);
                    }
                }
                k if NOMAD_CLIENT.contains(&k) => self.ignored(&path),
                _ => return Err(self.unknown(&path)),
            }
        }
        Ok(())
    }

    /// `limits { ... }`: the HTTP connection limits (Nomad's
    /// `command/agent/http.go` reads the same two keys), and Drover's idle
    /// timeout. `http_handshake_timeout` is taken as another spelling of
    /// Nomad's `https_handshake_timeout`, which bounds the TLS handshake
    /// too when `tls { http = true }`.
    fn limits(&mut self, entries: Entries, layer: &mut ConfigLayer) -> anyhow::Result<()> {
        let limits = &mut layer.limits;
        for (key, item) in entries {
            let path = format!("limits.{key}");
            match key.as_str() {
                "http_max_conns_per_client" => {
                    limits.http_max_conns_per_client = Some(self.connection_limit(&path, item)?)
                }
                "https_handshake_timeout" | "http_handshake_timeout" => {
                    limits.https_handshake_timeout = Some(self.timeout(&path, item)?)
                }
                "http_idle_timeout" => limits.http_idle_timeout = Some(self.timeout(&path, item)?),
                k if NOMAD_LIMITS.contains(&k) => self.ignored(&path),
                _ => return Err(self.unknown(&path)),
            }
        }
        Ok(())
    }

    /// `plugin "<name>" { config { ... } }`: the raw_exec and docker
    /// settings Drover acts on; other plugins and options are warnings.
    fn plugins(&mut self, entries: Entries, layer: &mut ConfigLayer) -> anyhow::Result<()> {
        for (name, item) in entries {
            let path = format!("plugin.{name}");
            if name != "raw_exec" && name != "docker" {
                self.ignored(&path);
                continue;
            }
            for (key, item) in self.block(&path, item)? {
                let path = format!("{path}.{key}");
                if key != "config" {
                    self.ignored(&path);
                    continue;
                }
                for (key, item) in self.block(&path, item)? {
                    let path = format!("{path}.{key}");
                    let l = &mut layer.plugins;
                    match (name.as_str(), key.as_str()) {
                        ("raw_exec", "enabled") => {
                            l.raw_exec_enabled = Some(self.bool(&path, item)?)
                        }
                        ("docker", "endpoint") => l.docker_endpoint = self.string(&path, item)?,
                        ("docker", "gc") => {
                            for (key, item) in self.block(&path, item)? {
                                let path = format!("{path}.{key}");
                                match key.as_str() {
                                    "container" => {
                                        l.docker_gc_container = Some(self.bool(&path, item)?)
                                    }
                                    _ => self.ignored(&path),
                                }
                            }
                        }
                        ("docker", "volumes") => {
                            for (key, item) in self.block(&path, item)? {
                                let path = format!("{path}.{key}");
                                match key.as_str() {
                                    "enabled" => {
                                        l.docker_volumes_enabled = Some(self.bool(&path, item)?)
                                    }
                                    _ => self.ignored(&path),
                                }
                            }
                        }
                        _ => self.ignored(&path),
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn error(&self, path: &str, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}: {path}: {msg}", self.file)
    }

    pub(super) fn unknown(&self, path: &str) -> anyhow::Error {
        self.error(path, "unknown key (not a Nomad agent option Drover knows)")
    }

    fn warn(&mut self, path: &str, msg: &str) {
        self.warnings.push(format!("{}: {path}: {msg}", self.file));
    }

    pub(super) fn ignored(&mut self, path: &str) {
        self.warn(path, "ignored: Drover does not use this Nomad option");
    }

    /// The value of an attribute; a block where a value belongs is an error.
    fn value(&self, path: &str, item: Item) -> anyhow::Result<Value> {
        match item {
            Item::Json(value) => Ok(value),
            Item::Expr(expr) => {
                use hcl::eval::Evaluate;
                // No variables or functions: Nomad's agent config has none.
                let value = expr
                    .evaluate(&hcl::eval::Context::new())
                    .map_err(|e| self.error(path, e.to_string().replace('\n', " ")))?;
                Ok(hcl_to_json(value))
            }
            Item::Block(_) => Err(self.error(path, "expected a value, found a block")),
        }
    }

    /// The entries of a block. Also takes the spellings HCL1 accepted for
    /// one: an object attribute (`ports = { .. }`), and in JSON an object or
    /// a list of objects (repeated blocks).
    fn block(&self, path: &str, item: Item) -> anyhow::Result<Entries> {
        let value = match item {
            Item::Block(entries) => return Ok(entries),
            other => self.value(path, other)?,
        };
        let objects = match value {
            Value::Object(map) => vec![map],
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(self.error(path, "expected a block")),
                })
                .collect::<anyhow::Result<_>>()?,
            _ => return Err(self.error(path, "expected a block")),
        };
        Ok(objects
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, Item::Json(v)))
            .collect())
    }

    /// A string; `None` for the empty string, which Nomad treats as unset.
    pub(super) fn string(&self, path: &str, item: Item) -> anyhow::Result<Option<String>> {
        match self.value(path, item)? {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(self.error(path, "expected a string")),
        }
    }

    /// A bool; also `"true"`/`"false"`, which HCL1 and JSON configs use.
    pub(super) fn bool(&self, path: &str, item: Item) -> anyhow::Result<bool> {
        match self.value(path, item)? {
            Value::Bool(b) => Ok(b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(self.error(path, "expected a bool")),
        }
    }

    /// A whole number that fits `u64`; a numeric string counts, as in HCL1.
    fn number(&self, path: &str, item: Item) -> anyhow::Result<u64> {
        let value = self.value(path, item)?;
        let parsed = match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| self.error(path, "expected a number"))
    }

    fn port(&self, path: &str, item: Item) -> anyhow::Result<u16> {
        match self.number(path, item)? {
            port @ 1..=65535 => Ok(port as u16),
            other => Err(self.error(path, format!("must be between 1 and 65535, got {other}"))),
        }
    }

    /// A whole percentage, 0 to 100.
    fn percent(&self, path: &str, item: Item) -> anyhow::Result<u32> {
        match self.number(path, item)? {
            n @ 0..=100 => Ok(n as u32),
            n => Err(self.error(path, format!("must be a percentage from 0 to 100, got {n}"))),
        }
    }

    /// A Go duration string (`"1m"`, `"30s"`).
    fn duration(&self, path: &str, item: Item) -> anyhow::Result<std::time::Duration> {
        let Some(text) = self.string(path, item)? else {
            return Err(self.error(path, "expected a duration such as \"1m\""));
        };
        match drover_server::jobspec::parse_go_duration(text.trim()) {
            Ok(n) if n > 0 => Ok(std::time::Duration::from_nanos(n as u64)),
            Ok(_) => Err(self.error(path, "must be a positive duration")),
            Err(e) => Err(self.error(path, format!("{text:?}: {e}"))),
        }
    }

    /// A timeout as a Go duration string, where `"0"` (or `0`) turns the
    /// limit off: `None`.
    fn timeout(&self, path: &str, item: Item) -> anyhow::Result<Option<std::time::Duration>> {
        let usage = "expected a duration such as \"5s\", or \"0\" for no limit";
        let text = match self.value(path, item)? {
            Value::String(s) => s,
            Value::Number(n) if n.as_u64() == Some(0) => return Ok(None),
            _ => return Err(self.error(path, usage)),
        };
        match drover_server::jobspec::parse_go_duration(text.trim()) {
            Ok(0) => Ok(None),
            Ok(n) if n > 0 => Ok(Some(std::time::Duration::from_nanos(n as u64))),
            Ok(_) => Err(self.error(path, format!("{text:?}: must not be negative"))),
            Err(e) => Err(self.error(path, format!("{text:?}: {e}; {usage}"))),
        }
    }

    /// A per-client connection limit: a whole number, 0 for none.
    fn connection_limit(&self, path: &str, item: Item) -> anyhow::Result<u32> {
        let value = self.value(path, item)?;
        let parsed = match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match parsed.map(u32::try_from) {
            Some(Ok(n)) => Ok(n),
            _ => Err(self.error(
                path,
                format!("expected a whole number of connections, 0 for no limit; got {value}"),
            )),
        }
    }

    fn count(&self, path: &str, item: Item) -> anyhow::Result<u32> {
        let n = self.number(path, item)?;
        u32::try_from(n).map_err(|_| self.error(path, format!("{n} is too large")))
    }

    /// A list of strings; a lone string is a list of one.
    fn string_list(&self, path: &str, item: Item) -> anyhow::Result<Vec<String>> {
        match self.value(path, item)? {
            Value::String(s) => Ok(vec![s]),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(self.error(path, "expected a list of strings")),
                })
                .collect(),
            _ => Err(self.error(path, "expected a list of strings")),
        }
    }

    fn ip(&self, path: &str, addr: &str) -> anyhow::Result<IpAddr> {
        parse_ip(addr).map_err(|e| self.error(path, e))
    }
}

/// Shared with the `-bind` flag so both say the same thing.
pub(crate) fn parse_ip(addr: &str) -> Result<IpAddr, String> {
    addr.parse().map_err(|_| {
        if addr.contains("{{") {
            format!("{addr:?} is a go-sockaddr template, which Drover does not evaluate; give an IP address")
        } else {
            format!("{addr:?} is not an IP address")
        }
    })
}

fn set_some(target: &mut Option<String>, value: Option<String>) {
    if value.is_some() {
        *target = value;
    }
}
