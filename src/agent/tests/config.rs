//! Defaults, dev mode, merge and validation of an already-parsed config.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::super::config::{
    AgentConfig, ClientLayer, ConfigLayer, LimitsLayer, LogLevel, PortsLayer, ServerLayer,
};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A config that passes validation, to break one field at a time.
fn valid() -> AgentConfig {
    let mut config = AgentConfig::default();
    config.server.enabled = true;
    config.server.bootstrap_expect = 3;
    config.data_dir = Some(PathBuf::from("/var/lib/drover"));
    config
}

#[test]
fn default_config_is_nomads() {
    let config = AgentConfig::default();
    assert_eq!(config.bind_addr, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(
        (config.ports.http, config.ports.rpc, config.ports.serf),
        (4646, 4647, 4648)
    );
    assert_eq!(config.datacenter, "dc1");
    assert_eq!(config.region, "global");
    assert_eq!(config.log_level, LogLevel::Info);
    assert_eq!(config.log_level.to_string(), "INFO");
    assert_eq!(config.name, "", "the loader fills in the hostname");
    assert_eq!(config.data_dir, None);
    assert!(!config.server.enabled && !config.client.enabled);
    assert_eq!(config.server.bootstrap_expect, 0);
    assert!(config.server.retry_join.is_empty() && config.client.servers.is_empty());
    assert!(!config.log_json && !config.dev_mode);
    // Nomad's `limits` defaults, and Drover's idle timeout.
    let limits = config.limits;
    assert_eq!(limits.max_conns_per_client, 100);
    assert_eq!(limits.handshake_timeout, Some(Duration::from_secs(5)));
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(60)));
}

#[test]
fn dev_config_is_nomads_dev_mode() {
    let dev = AgentConfig::dev();
    assert!(dev.server.enabled && dev.client.enabled && dev.dev_mode);
    assert_eq!(dev.server.bootstrap_expect, 1);
    assert_eq!(dev.bind_addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(dev.log_level, LogLevel::Debug);
    assert_eq!(dev.data_dir, None, "None means: use a temporary directory");
    // Everything else is the default.
    let rest = AgentConfig {
        server: AgentConfig::default().server,
        client: AgentConfig::default().client,
        bind_addr: AgentConfig::default().bind_addr,
        log_level: LogLevel::Info,
        dev_mode: false,
        ..dev.clone()
    };
    assert_eq!(rest, AgentConfig::default());
    // Dev mode validates without a data dir and without bootstrap warnings.
    let (_, warnings) = dev.validate().unwrap();
    assert_eq!(warnings, Vec::<String>::new());
}

#[test]
fn listen_addresses_join_bind_addr_and_ports() {
    let mut config = AgentConfig::dev();
    assert_eq!(
        config.http_addr(),
        "127.0.0.1:4646".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.rpc_addr(),
        "127.0.0.1:4647".parse::<SocketAddr>().unwrap()
    );
    config.bind_addr = "::1".parse().unwrap();
    config.ports.http = 8080;
    assert_eq!(
        config.http_addr(),
        "[::1]:8080".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn log_levels_parse_in_any_case() {
    let cases = [
        ("trace", Ok(LogLevel::Trace)),
        ("debug", Ok(LogLevel::Debug)),
        ("Debug", Ok(LogLevel::Debug)),
        ("INFO", Ok(LogLevel::Info)),
        ("wArN", Ok(LogLevel::Warn)),
        ("error", Ok(LogLevel::Error)),
        ("off", Ok(LogLevel::Off)),
        ("warning", Err("invalid log level \"warning\"; valid log levels are TRACE, DEBUG, INFO, WARN, ERROR, OFF")),
        ("", Err("invalid log level \"\"; valid log levels are TRACE, DEBUG, INFO, WARN, ERROR, OFF")),
    ];
    for (input, want) in cases {
        let got = input.parse::<LogLevel>();
        assert_eq!(got, want.map_err(str::to_string), "{input:?}");
    }
}

#[test]
fn merge_said_values_win_and_silent_ones_keep() {
    let base = AgentConfig::default();
    let merged = base.clone().merge(ConfigLayer {
        data_dir: Some("/data".into()),
        bind_addr: Some("10.1.2.3".parse().unwrap()),
        name: Some("n1".into()),
        datacenter: Some("dc9".into()),
        log_level: Some(LogLevel::Trace),
        log_json: Some(true),
        ports: PortsLayer {
            http: Some(1),
            ..PortsLayer::default()
        },
        server: ServerLayer {
            enabled: Some(true),
            bootstrap_expect: Some(5),
            ..ServerLayer::default()
        },
        ..ConfigLayer::default()
    });
    assert_eq!(merged.data_dir, Some(PathBuf::from("/data")));
    assert_eq!(merged.bind_addr.to_string(), "10.1.2.3");
    assert_eq!(
        (merged.name.as_str(), merged.datacenter.as_str()),
        ("n1", "dc9")
    );
    assert_eq!(merged.region, "global", "not said, kept");
    assert_eq!((merged.ports.http, merged.ports.rpc), (1, 4647));
    assert_eq!((merged.log_level, merged.log_json), (LogLevel::Trace, true));
    assert!(merged.server.enabled && !merged.client.enabled);
    assert_eq!(merged.server.bootstrap_expect, 5);
    // An empty layer changes nothing.
    assert_eq!(merged.clone().merge(ConfigLayer::default()), merged);
}

#[test]
fn merge_limits_zero_is_said_and_turns_a_limit_off() {
    let off = AgentConfig::default().merge(ConfigLayer {
        limits: LimitsLayer {
            http_max_conns_per_client: Some(0),
            https_handshake_timeout: Some(None),
            ..LimitsLayer::default()
        },
        ..ConfigLayer::default()
    });
    assert_eq!(off.limits.max_conns_per_client, 0);
    assert_eq!(off.limits.handshake_timeout, None);
    assert_eq!(
        off.limits.idle_timeout,
        Some(Duration::from_secs(60)),
        "not said, kept"
    );
    let later = off.merge(ConfigLayer {
        limits: LimitsLayer {
            http_idle_timeout: Some(Some(Duration::from_secs(5))),
            ..LimitsLayer::default()
        },
        ..ConfigLayer::default()
    });
    assert_eq!(later.limits.max_conns_per_client, 0, "an earlier 0 stays");
    assert_eq!(later.limits.idle_timeout, Some(Duration::from_secs(5)));
}

#[test]
fn merge_explicit_false_turns_a_role_off() {
    // Nomad's zero-value merge cannot do this; Drover's layers can.
    let on = AgentConfig::dev();
    let off = on.merge(ConfigLayer {
        client: ClientLayer {
            enabled: Some(false),
            ..ClientLayer::default()
        },
        ..ConfigLayer::default()
    });
    assert!(off.server.enabled && !off.client.enabled);
}

#[test]
fn merge_lists_follow_nomad() {
    let layer = |join: &[&str], deprecated: &[&str], servers: &[&str]| ConfigLayer {
        server: ServerLayer {
            retry_join: strings(join),
            deprecated_retry_join: strings(deprecated),
            ..ServerLayer::default()
        },
        client: ClientLayer {
            servers: strings(servers),
            ..ClientLayer::default()
        },
        ..ConfigLayer::default()
    };
    let merged = AgentConfig::default()
        .merge(layer(&["a"], &["x"], &["s1"]))
        .merge(layer(&["b", "c"], &["y"], &["s2"]))
        .merge(layer(&[], &[], &[]));
    // ServerJoin.Merge: a non-empty list replaces; an empty one keeps.
    assert_eq!(merged.server.retry_join, strings(&["b", "c"]));
    // ServerConfig.Merge (deprecated retry_join) and ClientConfig.Merge
    // (servers) append.
    assert_eq!(merged.server.deprecated_retry_join, strings(&["x", "y"]));
    assert_eq!(merged.client.servers, strings(&["s1", "s2"]));
}

#[test]
fn validation_errors_are_one_line_and_name_the_option() {
    type Breaker = fn(&mut AgentConfig);
    let cases: &[(Breaker, &str)] = &[
        (|c| c.server.enabled = false, "Must specify either server, client or dev mode for the agent."),
        (|c| c.ports.http = 0, "ports.http: must be between 1 and 65535, got 0"),
        (|c| c.ports.rpc = 0, "ports.rpc: must be between 1 and 65535, got 0"),
        (|c| c.ports.rpc = 4646, "ports.http and ports.rpc are both 4646: each listener needs its own port"),
        (|c| c.ports.serf = 4647, "ports.rpc and ports.serf are both 4647: each listener needs its own port"),
        (|c| c.server.bootstrap_expect = 0, "server.bootstrap_expect (-bootstrap-expect): must be at least 1 when the server is enabled"),
        (|c| c.data_dir = None, r#"Must specify "data_dir" config option or "data-dir" CLI flag"#),
        (|c| c.data_dir = Some("data".into()), "data_dir (-data-dir): must be an absolute path: got data"),
        (|c| c.region = String::new(), "region (-region): \"\" is not a region name"),
        (|c| c.datacenter = "dc*".into(), "datacenter (-dc): \"dc*\" is not a datacenter name (empty, or contains null or '*')"),
        (
            |c| {
                c.server.retry_join = vec!["a".into()];
                c.server.deprecated_retry_join = vec!["b".into()];
            },
            "server: server_join and retry_join cannot both be defined; prefer setting the server_join block",
        ),
        (
            |c| {
                c.server.retry_join = vec!["a".into()];
                c.server.start_join = vec!["b".into()];
            },
            "server_join: retry_join and start_join cannot both be defined",
        ),
        (
            |c| {
                c.client.options.insert("drover.fingerprint_period".into(), "often".into());
            },
            "client.options.drover.fingerprint_period: \"often\" is not a positive duration such as \"30s\"",
        ),
    ];
    assert!(valid().validate().is_ok());
    for (breaker, want) in cases {
        let mut config = valid();
        breaker(&mut config);
        match config.validate() {
            Ok(_) => panic!("expected {want:?}"),
            Err(e) => assert_eq!(format!("{e:#}"), *want),
        }
    }
}

#[test]
fn validation_warns_about_bootstrap_and_deprecated_retry_join() {
    let check = |expect: u32, deprecated: &[&str], want: &[&str]| {
        let mut config = valid();
        config.server.bootstrap_expect = expect;
        config.server.deprecated_retry_join = strings(deprecated);
        let (config, warnings) = config.validate().unwrap();
        assert_eq!(warnings, strings(want), "bootstrap_expect {expect}");
        // The deprecated form ends up where the server will read it.
        assert_eq!(config.server.retry_join, strings(deprecated));
        assert!(config.server.deprecated_retry_join.is_empty());
    };
    check(3, &[], &[]);
    check(
        1,
        &[],
        &["bootstrap_expect = 1: bootstrap mode enabled! Potentially unsafe operation."],
    );
    check(
        4,
        &[],
        &["bootstrap_expect = 4: the number of bootstrap servers should ideally be odd."],
    );
    check(
        5,
        &["10.0.0.1"],
        &["server.retry_join is deprecated; use server { server_join { retry_join = [...] } }"],
    );
}

#[test]
fn a_client_alone_needs_no_bootstrap_expect() {
    let mut config = valid();
    config.server = Default::default();
    config.client.enabled = true;
    let (config, warnings) = config.validate().unwrap();
    assert!(config.client.enabled && warnings.is_empty());
}
