//! Files, directories and flags together, through `load`.

use std::path::PathBuf;

use super::super::config::{AgentConfig, LogLevel};
use super::super::load::load;
use super::{args, fixture};

/// Writes `files` into a fresh directory and runs `load` with `argv`, where
/// `{dir}` stands for that directory.
fn load_with(files: &[(&str, &str)], argv: &[&str]) -> anyhow::Result<(AgentConfig, Vec<String>)> {
    let dir = tempfile::tempdir()?;
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text)?;
    }
    let shown = dir.path().display().to_string();
    let argv: Vec<String> = argv.iter().map(|a| a.replace("{dir}", &shown)).collect();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    load(&args(&argv), "host-1")
}

#[track_caller]
fn loaded(files: &[(&str, &str)], argv: &[&str]) -> AgentConfig {
    match load_with(files, argv) {
        Ok((config, _)) => config,
        Err(e) => panic!("{argv:?}: {e:#}"),
    }
}

#[track_caller]
fn check_error(files: &[(&str, &str)], argv: &[&str], want: &str) {
    match load_with(files, argv) {
        Ok((config, _)) => panic!("{argv:?} loaded, want {want:?}: {config:?}"),
        Err(e) => {
            let got = format!("{e:#}");
            assert!(!got.contains('\n'), "{got}");
            assert_eq!(got, want, "{argv:?}");
        }
    }
}

#[test]
fn dev_flag_alone_is_a_valid_agent() {
    let (config, warnings) = load(&args(&["-dev"]), "host-1").unwrap();
    let mut want = AgentConfig::dev();
    want.name = "host-1".to_string();
    assert_eq!(config, want);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn flags_alone_configure_a_server() {
    let config = loaded(
        &[],
        &[
            "-server",
            "-data-dir=/srv/drover",
            "-bootstrap-expect",
            "3",
            "-bind",
            "10.0.0.1",
            "-node",
            "n7",
            "-dc",
            "dc2",
            "-region",
            "eu",
            "-log-level",
            "debug",
            "-log-json",
            "-retry-join",
            "10.0.0.2",
            "-retry-join=10.0.0.3",
        ],
    );
    assert!(config.server.enabled && !config.client.enabled && !config.dev_mode);
    assert_eq!(config.data_dir, Some(PathBuf::from("/srv/drover")));
    assert_eq!(config.server.bootstrap_expect, 3);
    assert_eq!(config.http_addr().to_string(), "10.0.0.1:4646");
    assert_eq!(
        (config.name.as_str(), config.datacenter.as_str()),
        ("n7", "dc2")
    );
    assert_eq!(config.region, "eu");
    assert_eq!((config.log_level, config.log_json), (LogLevel::Debug, true));
    assert_eq!(config.server.retry_join, ["10.0.0.2", "10.0.0.3"]);
}

#[test]
fn the_hostname_names_the_node_unless_told_otherwise() {
    let files = [("a.hcl", r#"name = "from-file""#)];
    let base = ["-dev"];
    assert_eq!(loaded(&[], &base).name, "host-1");
    assert_eq!(loaded(&files, &["-dev", "-config={dir}"]).name, "from-file");
    assert_eq!(
        loaded(&files, &["-dev", "-config={dir}", "-node", "flag"]).name,
        "flag"
    );
}

#[test]
fn a_directory_loads_in_lexical_order_skipping_the_rest() {
    let dir = fixture("dir");
    let (config, warnings) = load(&args(&["-config", dir.to_str().unwrap()]), "h").unwrap();
    assert_eq!(config.datacenter, "dc-last", "20-last.hcl is read last");
    assert_eq!(config.region, "base");
    assert_eq!(config.log_level, LogLevel::Debug);
    assert!(config.server.enabled && config.client.enabled);
    assert_eq!(config.client.servers, ["10.0.0.1:4647", "10.0.0.2:4647"]);
    assert_eq!(
        warnings,
        Vec::<String>::new(),
        "README, backups, locks, subdirs are skipped silently"
    );
}

#[test]
fn later_config_paths_override_earlier_ones() {
    let files = [
        (
            "one.hcl",
            "region = \"one\"\ndatacenter = \"one\"\nclient { servers = [\"a\"] }",
        ),
        (
            "two.json",
            r#"{"region": "two", "client": {"servers": ["b"]}}"#,
        ),
    ];
    let argv = [
        "-dev",
        "-config",
        "{dir}/one.hcl",
        "-config",
        "{dir}/two.json",
    ];
    let config = loaded(&files, &argv);
    assert_eq!(
        (config.region.as_str(), config.datacenter.as_str()),
        ("two", "one")
    );
    assert_eq!(config.client.servers, ["a", "b"]);
    // The other order.
    let argv = [
        "-dev",
        "-config",
        "{dir}/two.json",
        "-config",
        "{dir}/one.hcl",
    ];
    let config = loaded(&files, &argv);
    assert_eq!(config.region, "one");
    assert_eq!(config.client.servers, ["b", "a"]);
}

#[test]
fn flags_override_files() {
    let files = [(
        "agent.hcl",
        r#"
        data_dir = "/from/file"
        bind_addr = "10.0.0.9"
        log_level = "error"
        server {
          enabled = true
          bootstrap_expect = 5
          server_join { retry_join = ["file-a"] }
        }
        client {
          enabled = true
          servers = ["file:4647"]
        }
        "#,
    )];
    let config = loaded(
        &files,
        &[
            "-config={dir}",
            "-data-dir=/from/flag",
            "-bind=127.0.0.2",
            "-log-level=WARN",
            "-bootstrap-expect=3",
            "-retry-join=flag-a",
            "-servers=flag:4647",
            "-client=false",
        ],
    );
    assert_eq!(config.data_dir, Some(PathBuf::from("/from/flag")));
    assert_eq!(config.bind_addr.to_string(), "127.0.0.2");
    assert_eq!(config.log_level, LogLevel::Warn);
    assert_eq!(config.server.bootstrap_expect, 3);
    // Flags are one more layer: retry_join replaces, servers appends.
    assert_eq!(config.server.retry_join, ["flag-a"]);
    assert_eq!(config.client.servers, ["file:4647", "flag:4647"]);
    assert!(!config.client.enabled, "-client=false turns the client off");
}

#[test]
fn files_merge_over_dev_mode() {
    let files = [("a.hcl", "ports { http = 5646 }\nlog_level = \"info\"")];
    let config = loaded(&files, &["-dev", "-config={dir}"]);
    assert!(config.dev_mode && config.server.enabled && config.client.enabled);
    assert_eq!(config.http_addr().to_string(), "127.0.0.1:5646");
    assert_eq!(config.log_level, LogLevel::Info);
}

#[test]
fn load_errors_name_the_flag_or_the_file() {
    let typo = fixture("typo.hcl");
    let typo_arg = format!("-config={}", typo.display());
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], String);
    let cases: &[Case] = &[
        (&[], &[], "Must specify either server, client or dev mode for the agent.".into()),
        (&[], &["-server", "-bootstrap-expect=1"], r#"Must specify "data_dir" config option or "data-dir" CLI flag"#.into()),
        (&[], &["-server", "-data-dir=rel"], "data_dir (-data-dir): must be an absolute path: got rel".into()),
        (&[], &["-server", "-data-dir=/d"], "server.bootstrap_expect (-bootstrap-expect): must be at least 1 when the server is enabled".into()),
        (&[], &["-client", "-data-dir=/d", "-bootstrap-expect=3"], "-bootstrap-expect: Bootstrap requires server mode to be enabled".into()),
        (&[], &["-dev", "-log-level=loud"], "-log-level: invalid log level \"loud\"; valid log levels are TRACE, DEBUG, INFO, WARN, ERROR, OFF".into()),
        (&[], &["-dev", "-bind=my-host"], "-bind: \"my-host\" is not an IP address".into()),
        (&[], &["-dev", "-dc=*"], "datacenter (-dc): \"*\" is not a datacenter name (empty, or contains null or '*')".into()),
        (&[("p.hcl", "ports {\n http = 4647\n}")], &["-dev", "-config={dir}"], "ports.http and ports.rpc are both 4647: each listener needs its own port".into()),
        (
            &[("a.hcl", "server { retry_join = [\"x\"] }")],
            &["-dev", "-config={dir}", "-retry-join=y"],
            "server: server_join and retry_join cannot both be defined; prefer setting the server_join block".into(),
        ),
        (&[], &["-dev", &typo_arg], format!("{}: server.enbled: unknown key (not a Nomad agent option Drover knows)", typo.display())),
    ];
    for (files, argv, want) in cases {
        check_error(files, argv, want);
    }
}

#[test]
fn a_missing_config_path_is_an_error() {
    let err = load_with(&[], &["-dev", "-config={dir}/nope.hcl"]).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.starts_with("-config /"), "{msg}");
    assert!(msg.contains("nope.hcl: No such file or directory"), "{msg}");
}

#[test]
fn a_bad_file_in_a_directory_is_named() {
    let err = load_with(
        &[("10-bad.json", "{\"ports\": {\"http\": \"x\"}}")],
        &["-dev", "-config={dir}"],
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.ends_with("/10-bad.json: ports.http: expected a number"),
        "{msg}"
    );
}

#[test]
fn load_collects_warnings_in_order() {
    let files = [
        (
            "a.hcl",
            "telemetry {}\nserver { retry_join = [\"10.0.0.1\"] }",
        ),
        ("b.hcl", ""),
    ];
    let (config, warnings) = load_with(
        &files,
        &[
            "-server",
            "-data-dir=/d",
            "-bootstrap-expect=1",
            "-config={dir}",
        ],
    )
    .unwrap();
    assert_eq!(config.server.retry_join, ["10.0.0.1"]);
    let warnings: Vec<String> = warnings
        .into_iter()
        .map(|w| w.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        warnings,
        [
            "a.hcl: telemetry: ignored: Drover does not use this Nomad option",
            "b.hcl: no configuration loaded",
            "bootstrap_expect = 1: bootstrap mode enabled! Potentially unsafe operation.",
            "server.retry_join is deprecated; use server { server_join { retry_join = [...] } }",
        ]
    );
    let (_, warnings) = load_with(&[], &["-dev", "-config={dir}"]).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].ends_with(": no configuration loaded (no .hcl or .json files)"),
        "{warnings:?}"
    );
}

#[test]
fn start_join_and_raft_log_keys_from_files_and_flags() {
    let files = [(
        "agent.hcl",
        r#"
        data_dir = "/d"
        server {
          enabled = true
          bootstrap_expect = 3
          raft_snapshot_threshold = 20
          raft_trailing_logs = 5
          server_join { start_join = ["10.0.0.1", "10.0.0.2:4647"] }
        }
        "#,
    )];
    let config = loaded(&files, &["-config={dir}"]);
    assert_eq!(config.server.start_join, ["10.0.0.1", "10.0.0.2:4647"]);
    assert_eq!(
        (
            config.server.raft_snapshot_threshold,
            config.server.raft_trailing_logs
        ),
        (Some(20), Some(5))
    );
    // -join replaces the file's list, as retry_join does.
    let config = loaded(
        &files,
        &["-config={dir}", "-join=10.0.0.9", "-join", "10.0.0.8"],
    );
    assert_eq!(config.server.start_join, ["10.0.0.9", "10.0.0.8"]);
}
