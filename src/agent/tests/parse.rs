//! One config file, HCL and JSON, into a layer: every key, the block
//! spellings, unknown keys, and the error messages.

use std::path::{Path, PathBuf};

use super::super::config::{ConfigLayer, LogLevel};
use super::super::parse::Format;
use super::{fixture, layer, parse_hcl, parse_json};

/// One key per case, in both syntaxes, each with the layer it must give.
#[test]
fn each_key_in_hcl_and_json() {
    type Want = fn(&ConfigLayer) -> bool;
    let cases: &[(&str, &str, Want)] = &[
        (r#"data_dir = "/d""#, r#"{"data_dir": "/d"}"#, |l| {
            l.data_dir.as_deref() == Some(Path::new("/d"))
        }),
        (
            r#"bind_addr = "10.0.0.1""#,
            r#"{"bind_addr": "10.0.0.1"}"#,
            |l| l.bind_addr == Some("10.0.0.1".parse().unwrap()),
        ),
        (r#"bind_addr = "::""#, r#"{"bind_addr": "::"}"#, |l| {
            l.bind_addr == Some("::".parse().unwrap())
        }),
        (r#"name = "n""#, r#"{"name": "n"}"#, |l| {
            l.name.as_deref() == Some("n")
        }),
        (r#"name = """#, r#"{"name": ""}"#, |l| l.name.is_none()),
        (r#"datacenter = "d""#, r#"{"datacenter": "d"}"#, |l| {
            l.datacenter.as_deref() == Some("d")
        }),
        (r#"region = "r""#, r#"{"region": "r"}"#, |l| {
            l.region.as_deref() == Some("r")
        }),
        (r#"log_level = "debug""#, r#"{"log_level": "DEBUG"}"#, |l| {
            l.log_level == Some(LogLevel::Debug)
        }),
        ("acl { enabled = true }", r#"{"acl": {"enabled": true}}"#, |l| {
            l.acl.enabled == Some(true)
        }),
        (
            "acl { token_min_expiration_ttl = \"5s\" }",
            r#"{"acl": {"token_max_expiration_ttl": "5s"}}"#,
            |l| {
                l.acl.token_min_expiration_ttl == Some(std::time::Duration::from_secs(5))
                    || l.acl.token_max_expiration_ttl == Some(std::time::Duration::from_secs(5))
            },
        ),
        ("log_json = true", r#"{"log_json": true}"#, |l| {
            l.log_json == Some(true)
        }),
        ("log_json = false", r#"{"log_json": "false"}"#, |l| {
            l.log_json == Some(false)
        }),
        ("ports { http = 1 }", r#"{"ports": {"http": 1}}"#, |l| {
            l.ports.http == Some(1)
        }),
        ("ports { rpc = 2 }", r#"{"ports": {"rpc": "2"}}"#, |l| {
            l.ports.rpc == Some(2)
        }),
        ("ports { serf = 3 }", r#"{"ports": {"serf": 3}}"#, |l| {
            l.ports.serf == Some(3)
        }),
        ("ports = { http = 4 }", r#"{"ports": [{"http": 4}]}"#, |l| {
            l.ports.http == Some(4)
        }),
        (
            "server { enabled = true }",
            r#"{"server": {"enabled": true}}"#,
            |l| l.server.enabled == Some(true),
        ),
        (
            "server { bootstrap_expect = 3 }",
            r#"{"server": {"bootstrap_expect": 3}}"#,
            |l| l.server.bootstrap_expect == Some(3),
        ),
        (
            "server {\n  server_join { retry_join = [\"a\", \"b\"] }\n}",
            r#"{"server": {"server_join": {"retry_join": ["a", "b"]}}}"#,
            |l| l.server.retry_join == ["a", "b"] && l.server.deprecated_retry_join.is_empty(),
        ),
        (
            r#"server { retry_join = ["a"] }"#,
            r#"{"server": {"retry_join": "a"}}"#,
            |l| l.server.deprecated_retry_join == ["a"] && l.server.retry_join.is_empty(),
        ),
        (
            "client { enabled = true }",
            r#"{"client": {"enabled": true}}"#,
            |l| l.client.enabled == Some(true),
        ),
        (
            r#"client { servers = ["s:4647"] }"#,
            r#"{"client": {"servers": ["s:4647"]}}"#,
            |l| l.client.servers == ["s:4647"],
        ),
        (
            r#"client { options = { "driver.raw_exec.enable" = "1" } }"#,
            r#"{"client": {"options": {"driver.raw_exec.enable": "1"}}}"#,
            |l| {
                l.client
                    .options
                    .get("driver.raw_exec.enable")
                    .map(String::as_str)
                    == Some("1")
            },
        ),
        (
            "client {\n  gc_interval = \"30s\"\n  gc_disk_usage_threshold = 90\n  gc_inode_usage_threshold = 0\n}",
            r#"{"client": {"gc_interval": "30s", "gc_disk_usage_threshold": 90, "gc_inode_usage_threshold": 0}}"#,
            |l| {
                l.client.gc_interval == Some(std::time::Duration::from_secs(30))
                    && l.client.gc_disk_usage_threshold == Some(90)
                    && l.client.gc_inode_usage_threshold == Some(0)
            },
        ),
        (
            "server {\n  deployment_gc_threshold = \"2h\"\n  deployment_gc_interval = \"30s\"\n}",
            r#"{"server": {"deployment_gc_threshold": "2h", "deployment_gc_interval": "30s"}}"#,
            |l| {
                l.server.deployment_gc_threshold == Some(std::time::Duration::from_secs(7200))
                    && l.server.deployment_gc_interval == Some(std::time::Duration::from_secs(30))
            },
        ),
        (
            "autopilot {\n  server_stabilization_time = \"3s\"\n  min_quorum = 3\n}",
            r#"{"autopilot": {"server_stabilization_time": "3s"}}"#,
            |l| l.server.server_stabilization_time == Some(std::time::Duration::from_secs(3)),
        ),
        (
            "plugin \"raw_exec\" {\n  config { enabled = true }\n}",
            r#"{"plugin": {"raw_exec": {"config": {"enabled": true}}}}"#,
            |l| l.plugins.raw_exec_enabled == Some(true),
        ),
        (
            "plugin \"docker\" {\n  config {\n    endpoint = \"unix:///d.sock\"\n    gc { container = false }\n    volumes { enabled = true }\n  }\n}",
            r#"{"plugin": [{"docker": [{"config": [{"endpoint": "unix:///d.sock", "gc": {"container": false}, "volumes": {"enabled": true}}]}]}]}"#,
            |l| {
                l.plugins.docker_endpoint.as_deref() == Some("unix:///d.sock")
                    && l.plugins.docker_gc_container == Some(false)
                    && l.plugins.docker_volumes_enabled == Some(true)
            },
        ),
        (
            "limits {\n  http_max_conns_per_client = 0\n  https_handshake_timeout = \"0\"\n  http_idle_timeout = \"90s\"\n}",
            r#"{"limits": {"http_max_conns_per_client": "0", "https_handshake_timeout": 0, "http_idle_timeout": "1m30s"}}"#,
            |l| {
                l.limits.http_max_conns_per_client == Some(0)
                    && l.limits.https_handshake_timeout == Some(None)
                    && l.limits.http_idle_timeout
                        == Some(Some(std::time::Duration::from_secs(90)))
            },
        ),
        (
            "limits { http_max_conns_per_client = 250 }",
            r#"{"limits": [{"http_max_conns_per_client": 250}]}"#,
            |l| {
                l.limits.http_max_conns_per_client == Some(250)
                    && l.limits.https_handshake_timeout.is_none()
            },
        ),
        (
            // Drover's other spelling of Nomad's `https_handshake_timeout`.
            r#"limits { http_handshake_timeout = "1.5s" }"#,
            r#"{"limits": {"http_handshake_timeout": "1500ms"}}"#,
            |l| {
                l.limits.https_handshake_timeout
                    == Some(Some(std::time::Duration::from_millis(1500)))
            },
        ),
    ];
    for (hcl, json, want) in cases {
        assert!(want(&layer(Format::Hcl, hcl)), "HCL {hcl:?}");
        assert!(want(&layer(Format::Json, json)), "JSON {json:?}");
    }
}

#[test]
fn full_fixture_reads_the_same_in_hcl_and_json() {
    let read = |name: &str| {
        let path = fixture(name);
        let text = std::fs::read_to_string(&path).unwrap();
        super::super::parse::parse_config(name, &text, Format::of(&path)).unwrap()
    };
    let (hcl, hcl_warnings) = read("full.hcl");
    let (json, json_warnings) = read("full.json");
    assert_eq!(hcl, json);
    assert_eq!(hcl.data_dir, Some(PathBuf::from("/var/lib/drover")));
    assert_eq!(hcl.ports.http, Some(5646));
    assert_eq!(hcl.server.retry_join, ["10.0.0.6:5647", "10.0.0.7:5647"]);
    assert_eq!(hcl.client.servers, ["127.0.0.1:5647"]);
    let ignored = |file: &str, keys: &[&str]| -> Vec<String> {
        keys.iter()
            .map(|k| format!("{file}: {k}: ignored: Drover does not use this Nomad option"))
            .collect()
    };
    let keys = [
        "server.encrypt",
        "server.server_join.retry_interval",
        "client.meta",
        "telemetry",
        "plugin.docker.config.allow_privileged",
    ];
    assert_eq!(hcl_warnings, ignored("full.hcl", &keys));
    // JSON objects come back in key order, not file order.
    let mut want = ignored("full.json", &keys);
    want.sort();
    let mut got = json_warnings;
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn repeated_blocks_read_in_order() {
    let hcl = r#"
        server {
          enabled = true
          bootstrap_expect = 1
        }
        server { bootstrap_expect = 3 }
        server {
          server_join { retry_join = ["a"] }
        }
        server {
          server_join { retry_join = ["b"] }
        }
        client { servers = ["s1"] }
        client { servers = ["s2"] }
    "#;
    let json = r#"{
        "server": [
            {"enabled": true, "bootstrap_expect": 1},
            {"bootstrap_expect": 3},
            {"server_join": [{"retry_join": ["a"]}, {"retry_join": ["b"]}]}
        ],
        "client": [{"servers": ["s1"]}, {"servers": ["s2"]}]
    }"#;
    for (format, text) in [(Format::Hcl, hcl), (Format::Json, json)] {
        let l = layer(format, text);
        assert_eq!(l.server.enabled, Some(true), "{format:?}");
        assert_eq!(l.server.bootstrap_expect, Some(3), "{format:?}");
        // A repeat behaves like the same block in a later file.
        assert_eq!(l.server.retry_join, ["b"], "{format:?}");
        assert_eq!(l.client.servers, ["s1", "s2"], "{format:?}");
    }
}

#[test]
fn other_plugins_and_plugin_options_are_warnings() {
    let (l, warnings) = parse_hcl(
        r#"
        plugin "exec" {
          config { allow_caps = ["chown"] }
        }
        plugin "docker" {
          config {
            allow_privileged = true
            gc { image = false }
          }
        }
        "#,
    )
    .unwrap();
    assert_eq!(l.plugins, Default::default());
    let ignored =
        |k: &str| format!("agent.hcl: {k}: ignored: Drover does not use this Nomad option");
    assert_eq!(
        warnings,
        [
            ignored("plugin.exec"),
            ignored("plugin.docker.config.allow_privileged"),
            ignored("plugin.docker.config.gc.image"),
        ]
    );
}

#[test]
fn unknown_top_level_keys_are_warnings() {
    let (l, warnings) = parse_hcl(
        r#"
        region = "r"
        telemetry { collection_interval = "1s" }
        audit { enabled = true }
        vault { address = var.vault_addr }
        advertise { http = "1.2.3.4" }
        datacentre = "typo"
        "#,
    )
    .unwrap();
    assert_eq!(l.region.as_deref(), Some("r"));
    assert_eq!(
        warnings,
        [
            "agent.hcl: telemetry: ignored: Drover does not use this Nomad option",
            "agent.hcl: audit: ignored: Drover does not use this Nomad option",
            // An expression Drover would refuse is never evaluated here.
            "agent.hcl: vault: ignored: Drover does not use this Nomad option",
            "agent.hcl: advertise: ignored: Drover does not use this Nomad option",
            "agent.hcl: datacentre: ignored: not a Nomad agent option",
        ]
    );
    let (_, warnings) = parse_json(r#"{"ui": {"enabled": true}}"#).unwrap();
    assert_eq!(
        warnings,
        ["agent.json: ui: ignored: Drover does not use this Nomad option"]
    );
}

#[test]
fn nomad_keys_inside_modelled_blocks_are_warnings() {
    let (l, warnings) = parse_hcl(
        r#"
        server {
          enabled = true
          num_schedulers = 2
          server_join { retry_max = 3 }
        }
        client {
          enabled = true
          node_class = "batch"
          options {
            "driver.raw_exec.enable" = "1"
          }
          host_volume "data" { path = "/data" }
        }
        limits {
          http_max_conns_per_client = 5
          rpc_max_conns_per_client = 5
          endpoint "job" { write_rate = 10 }
        }
        "#,
    )
    .unwrap();
    assert_eq!(
        (l.server.enabled, l.client.enabled),
        (Some(true), Some(true))
    );
    let ignored =
        |k: &str| format!("agent.hcl: {k}: ignored: Drover does not use this Nomad option");
    assert_eq!(
        warnings,
        [
            ignored("server.num_schedulers"),
            ignored("server.server_join.retry_max"),
            ignored("client.node_class"),
            ignored("client.host_volume"),
            ignored("limits.rpc_max_conns_per_client"),
            ignored("limits.endpoint"),
        ]
    );
    assert_eq!(l.limits.http_max_conns_per_client, Some(5));
    assert_eq!(l.client.options["driver.raw_exec.enable"], "1");
}

#[test]
fn hcl1_quoted_attribute_names_still_load() {
    // Nomad's docs write client options this way; HCL2 refuses it, so the
    // parser retries with placeholders and restores the names.
    let text = r#"
        client {
          enabled = true
          "servers" = ["s:4647"]
          options {
            "driver.raw_exec.enable" = "1"
          }
        }
        server {
          "enbled" = true
        }
    "#;
    let err = parse_hcl(text).unwrap_err().to_string();
    assert_eq!(
        err,
        "agent.hcl: server.enbled: unknown key (not a Nomad agent option Drover knows)"
    );
    let text = text.replace("\"enbled\"", "enabled");
    let (l, warnings) = parse_hcl(&text).unwrap();
    assert_eq!(l.client.servers, ["s:4647"]);
    assert_eq!(
        (l.client.enabled, l.server.enabled),
        (Some(true), Some(true))
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(l.client.options["driver.raw_exec.enable"], "1");
    // Text that is broken for other reasons reports HCL2's own complaint.
    let err = parse_hcl("client {\n  \"a\" = \n}\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("agent.hcl: line 2, column 3: "), "{err}");
}

#[track_caller]
fn check_error(format: Format, text: &str, want: &str) {
    let result = match format {
        Format::Hcl => parse_hcl(text),
        Format::Json => parse_json(text),
    };
    match result {
        Ok(ok) => panic!("{text:?} parsed, want error {want:?}: {ok:?}"),
        Err(e) => assert_eq!(format!("{e:#}"), want, "{text:?}"),
    }
}

#[test]
fn typos_inside_modelled_blocks_are_errors() {
    let unknown = "unknown key (not a Nomad agent option Drover knows)";
    let cases = [
        (Format::Hcl, "server { enbled = true }", "server.enbled"),
        (Format::Hcl, "client { server = [] }", "client.server"),
        (Format::Hcl, "ports { htp = 1 }", "ports.htp"),
        (
            Format::Hcl,
            "autopilot { server_stabilisation_time = \"1s\" }",
            "autopilot.server_stabilisation_time",
        ),
        (
            Format::Hcl,
            "limits { http_max_conn_per_client = 1 }",
            "limits.http_max_conn_per_client",
        ),
        (
            Format::Hcl,
            "server {\n  server_join { retryjoin = [] }\n}",
            "server.server_join.retryjoin",
        ),
        (Format::Hcl, r#"server "x" { enabled = true }"#, "server.x"),
        (
            Format::Json,
            r#"{"server": {"enbled": true}}"#,
            "server.enbled",
        ),
        (
            Format::Json,
            r#"{"client": [{"enabled": true}, {"srevers": []}]}"#,
            "client.srevers",
        ),
    ];
    for (format, text, path) in cases {
        let file = if format == Format::Hcl {
            "agent.hcl"
        } else {
            "agent.json"
        };
        check_error(format, text, &format!("{file}: {path}: {unknown}"));
    }
}

#[test]
fn type_errors_name_file_and_key() {
    let cases = [
        (Format::Hcl, r#"ports { http = "x" }"#, "agent.hcl: ports.http: expected a number"),
        (Format::Hcl, "ports { http = 70000 }", "agent.hcl: ports.http: must be between 1 and 65535, got 70000"),
        (Format::Hcl, "ports { rpc = 0 }", "agent.hcl: ports.rpc: must be between 1 and 65535, got 0"),
        (Format::Hcl, "ports { http = -1 }", "agent.hcl: ports.http: expected a number"),
        (Format::Hcl, "ports { http = 1.5 }", "agent.hcl: ports.http: expected a number"),
        (Format::Hcl, "server { enabled = 1 }", "agent.hcl: server.enabled: expected a bool"),
        (Format::Hcl, "server { bootstrap_expect = 99999999999 }", "agent.hcl: server.bootstrap_expect: 99999999999 is too large"),
        (Format::Hcl, "client { servers = [1] }", "agent.hcl: client.servers: expected a list of strings"),
        (Format::Hcl, "region = 5", "agent.hcl: region: expected a string"),
        (Format::Hcl, "log_level = \"loud\"", "agent.hcl: log_level: invalid log level \"loud\"; valid log levels are TRACE, DEBUG, INFO, WARN, ERROR, OFF"),
        (Format::Hcl, "bind_addr = \"localhost\"", "agent.hcl: bind_addr: \"localhost\" is not an IP address"),
        (Format::Hcl, "bind_addr = \"{{ GetPrivateIP }}\"", "agent.hcl: bind_addr: \"{{ GetPrivateIP }}\" is a go-sockaddr template, which Drover does not evaluate; give an IP address"),
        (Format::Hcl, "ports = 4646", "agent.hcl: ports: expected a block"),
        (Format::Hcl, "name { x = 1 }", "agent.hcl: name: expected a value, found a block"),
        (Format::Json, r#"{"ports": {"http": true}}"#, "agent.json: ports.http: expected a number"),
        (Format::Json, r#"{"server": {"enabled": "yes"}}"#, "agent.json: server.enabled: expected a bool"),
        (Format::Json, r#"{"server": [1]}"#, "agent.json: server: expected a block"),
        (Format::Json, r#"{"log_json": null}"#, "agent.json: log_json: expected a bool"),
        (Format::Hcl, "client { gc_disk_usage_threshold = 101 }", "agent.hcl: client.gc_disk_usage_threshold: must be a percentage from 0 to 100, got 101"),
        (Format::Hcl, "client { gc_interval = \"soon\" }", "agent.hcl: client.gc_interval: \"soon\": expected a number before the unit"),
        (Format::Hcl, "autopilot { server_stabilization_time = \"10 s\" }", "agent.hcl: autopilot.server_stabilization_time: \"10 s\": unknown unit \" s\" (use one of ns, us, µs, ms, s, m, h)"),
        (Format::Json, r#"{"autopilot": {"server_stabilization_time": 10}}"#, "agent.json: autopilot.server_stabilization_time: expected a string"),
        (Format::Hcl, "autopilot { server_stabilization_time = \"0s\" }", "agent.hcl: autopilot.server_stabilization_time: must be a positive duration"),
        (Format::Hcl, "server { deployment_gc_threshold = \"soon\" }", "agent.hcl: server.deployment_gc_threshold: \"soon\": expected a number before the unit"),
        (Format::Hcl, "plugin \"docker\" {\n  config {\n    gc { container = \"no\" }\n  }\n}", "agent.hcl: plugin.docker.config.gc.container: expected a bool"),
        (Format::Hcl, "limits { http_max_conns_per_client = -1 }", "agent.hcl: limits.http_max_conns_per_client: expected a whole number of connections, 0 for no limit; got -1"),
        (Format::Hcl, "limits { http_max_conns_per_client = \"lots\" }", "agent.hcl: limits.http_max_conns_per_client: expected a whole number of connections, 0 for no limit; got \"lots\""),
        (Format::Hcl, "limits { http_max_conns_per_client = 2.5 }", "agent.hcl: limits.http_max_conns_per_client: expected a whole number of connections, 0 for no limit; got 2.5"),
        (Format::Json, r#"{"limits": {"http_max_conns_per_client": 5000000000}}"#, "agent.json: limits.http_max_conns_per_client: expected a whole number of connections, 0 for no limit; got 5000000000"),
        (Format::Hcl, "limits { https_handshake_timeout = \"soon\" }", "agent.hcl: limits.https_handshake_timeout: \"soon\": expected a number before the unit; expected a duration such as \"5s\", or \"0\" for no limit"),
        (Format::Hcl, "limits { https_handshake_timeout = 5 }", "agent.hcl: limits.https_handshake_timeout: expected a duration such as \"5s\", or \"0\" for no limit"),
        (Format::Hcl, "limits { http_handshake_timeout = \"-5s\" }", "agent.hcl: limits.http_handshake_timeout: \"-5s\": must not be negative"),
        (Format::Json, r#"{"limits": {"http_idle_timeout": true}}"#, "agent.json: limits.http_idle_timeout: expected a duration such as \"5s\", or \"0\" for no limit"),
    ];
    for (format, text, want) in cases {
        check_error(format, text, want);
    }
}

#[test]
fn expressions_in_modelled_keys_must_be_literal() {
    // Arithmetic is fine (it is a literal in the end); variables are not.
    assert_eq!(
        layer(Format::Hcl, "ports { http = 4000 + 646 }").ports.http,
        Some(4646)
    );
    let err = parse_hcl("region = var.region").unwrap_err().to_string();
    assert!(err.starts_with("agent.hcl: region: "), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn syntax_errors_are_one_line_with_a_position() {
    let err = parse_hcl("server {\n  enabled = \n}\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("agent.hcl: line 2, column "), "{err}");
    assert!(!err.contains('\n'), "{err}");
    check_error(
        Format::Json,
        r#"{"region": }"#,
        "agent.json: expected value at line 1 column 12",
    );
    check_error(
        Format::Json,
        r#"["region"]"#,
        "agent.json: expected a JSON object at the top level",
    );
}

#[test]
fn format_follows_the_extension() {
    let cases = [
        ("a.json", Format::Json),
        ("a.hcl", Format::Hcl),
        ("agent.conf", Format::Hcl),
        ("noext", Format::Hcl),
        ("dir.json/a.hcl", Format::Hcl),
    ];
    for (path, want) in cases {
        assert_eq!(Format::of(Path::new(path)), want, "{path}");
    }
}
