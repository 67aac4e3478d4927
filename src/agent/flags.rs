//! `drover agent`'s command line: the subset of `nomad agent`'s flags that
//! Drover acts on, spelled as Nomad spells them.
//!
//! Nomad's Go flag package takes `-data-dir=x`, `-data-dir x` and
//! `-server=false`; `normalize_go_flag` turns the single dash into two, and
//! the bool flags below take an optional `=value` so the last form works.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::ArgAction;

use super::config::{ConfigLayer, LogLevel};
use super::parse::parse_ip;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AgentArgs {
    /// Start a server and a client in one process, with data in a temporary directory.
    #[arg(
        long = "dev",
        short_alias = 'd',
        alias = "d",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        hide_default_value = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        value_name = "BOOL",
        hide_possible_values = true,
    )]
    pub dev: bool,

    /// A config file, or a directory whose *.hcl and *.json files load in
    /// lexical order. Repeatable; later files override earlier ones.
    #[arg(long = "config", value_name = "PATH")]
    pub config: Vec<PathBuf>,

    /// Directory for persistent state (Raft log, allocations).
    #[arg(long = "data-dir", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,

    /// The address every listener binds to.
    #[arg(long = "bind", value_name = "ADDR")]
    pub bind: Option<String>,

    /// Enable server mode.
    #[arg(
        long = "server",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        value_name = "BOOL",
        hide_possible_values = true,
    )]
    pub server: Option<bool>,

    /// Enable client mode.
    #[arg(
        long = "client",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        value_name = "BOOL",
        hide_possible_values = true,
    )]
    pub client: Option<bool>,

    /// Number of servers to wait for before bootstrapping the cluster.
    #[arg(long = "bootstrap-expect", value_name = "NUM")]
    pub bootstrap_expect: Option<u32>,

    /// Address of a server to join, retrying until it answers. Repeatable.
    #[arg(long = "retry-join", value_name = "ADDR")]
    pub retry_join: Vec<String>,

    /// Address of a server to join at start (its RPC address). Repeatable.
    #[arg(long = "join", value_name = "ADDR")]
    pub join: Vec<String>,

    /// Server addresses (host:port) for the client, comma-separated.
    #[arg(long = "servers", value_name = "ADDRS", value_delimiter = ',')]
    pub servers: Vec<String>,

    /// The node name (default: the hostname).
    #[arg(long = "node", value_name = "NAME")]
    pub node: Option<String>,

    /// Datacenter of this agent (default "dc1").
    #[arg(long = "dc", value_name = "DATACENTER")]
    pub dc: Option<String>,

    /// Region of this agent (default "global").
    #[arg(long = "region", value_name = "REGION")]
    pub region: Option<String>,

    /// Log verbosity: TRACE, DEBUG, INFO, WARN, ERROR or OFF (any case).
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log as JSON lines.
    #[arg(
        long = "log-json",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        value_name = "BOOL",
        hide_possible_values = true,
    )]
    pub log_json: Option<bool>,

    /// Enable ACLs: every request then needs a token that allows it.
    #[arg(
        long = "acl-enabled",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        value_name = "BOOL",
        hide_possible_values = true,
    )]
    pub acl_enabled: Option<bool>,
}

impl AgentArgs {
    /// What the command line says, as a layer to merge over the files.
    ///
    /// An absent flag says nothing, and so does an empty string (Nomad's
    /// zero-is-unset rule). A bool flag given as `-server=false` does say
    /// false and turns off a server a file enabled, where Nomad would
    /// ignore it: Drover treats every source the same way.
    pub fn layer(&self) -> anyhow::Result<ConfigLayer> {
        let mut layer = ConfigLayer {
            data_dir: self
                .data_dir
                .clone()
                .filter(|dir| !dir.as_os_str().is_empty()),
            name: non_empty(&self.node),
            datacenter: non_empty(&self.dc),
            region: non_empty(&self.region),
            log_json: self.log_json,
            ..ConfigLayer::default()
        };
        if let Some(bind) = non_empty(&self.bind) {
            let ip = parse_ip(&bind).map_err(|e| anyhow::anyhow!("-bind: {e}"))?;
            layer.bind_addr = Some(ip);
        }
        if let Some(level) = non_empty(&self.log_level) {
            let level: LogLevel = level
                .parse()
                .map_err(|e| anyhow::anyhow!("-log-level: {e}"))?;
            layer.log_level = Some(level);
        }
        layer.server.enabled = self.server;
        layer.server.bootstrap_expect = self.bootstrap_expect;
        layer.server.retry_join = self.retry_join.clone();
        layer.server.start_join = self.join.clone();
        layer.client.enabled = self.client;
        layer.acl.enabled = self.acl_enabled;
        layer.client.servers = self
            .servers
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(layer)
    }
}

/// Nomad's CLI takes Go-style single-dash long flags (`-dev`, `-data-dir`).
/// Rewrite `-name` to `--name` so clap accepts both spellings; `-h` and
/// other one-letter flags are left alone.
pub fn normalize_go_flag(arg: String) -> String {
    let is_go_long = arg.starts_with('-') && !arg.starts_with("--") && arg.len() > 2;
    if is_go_long {
        format!("-{arg}")
    } else {
        arg
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|s| !s.is_empty())
}
