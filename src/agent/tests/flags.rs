//! `AgentArgs` through clap, after main.rs's Go-style flag rewrite.

use super::super::config::LogLevel;
use super::super::flags::normalize_go_flag;
use super::{args, try_args};

#[test]
fn go_style_and_gnu_style_spellings_parse_alike() {
    let go = args(&[
        "-dev",
        "-config",
        "/etc/a.hcl",
        "-config=/etc/b.d",
        "-data-dir=/d",
        "-bind",
        "0.0.0.0",
        "-server",
        "-client",
        "-bootstrap-expect=3",
        "-retry-join",
        "a",
        "-retry-join=b",
        "-servers",
        "s1,s2",
        "-servers=s3",
        "-node=n",
        "-dc",
        "dc9",
        "-region=r",
        "-log-level",
        "debug",
        "-log-json",
    ]);
    let gnu = args(&[
        "--dev",
        "--config",
        "/etc/a.hcl",
        "--config=/etc/b.d",
        "--data-dir",
        "/d",
        "--bind=0.0.0.0",
        "--server",
        "--client",
        "--bootstrap-expect",
        "3",
        "--retry-join=a",
        "--retry-join",
        "b",
        "--servers=s1,s2",
        "--servers",
        "s3",
        "--node",
        "n",
        "--dc=dc9",
        "--region",
        "r",
        "--log-level=debug",
        "--log-json",
    ]);
    assert_eq!(format!("{go:?}"), format!("{gnu:?}"));
    assert!(go.dev);
    assert_eq!(go.config.len(), 2);
    assert_eq!(go.data_dir.as_deref(), Some(std::path::Path::new("/d")));
    assert_eq!(
        (go.server, go.client, go.log_json),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(go.bootstrap_expect, Some(3));
    assert_eq!(go.retry_join, ["a", "b"]);
    assert_eq!(go.servers, ["s1", "s2", "s3"]);
    assert_eq!(
        (go.node.as_deref(), go.dc.as_deref(), go.region.as_deref()),
        (Some("n"), Some("dc9"), Some("r"))
    );
}

#[test]
fn absent_flags_say_nothing() {
    let none = args(&[]);
    assert!(!none.dev);
    assert_eq!(
        (none.server, none.client, none.log_json),
        (None, None, None)
    );
    assert_eq!(none.layer().unwrap(), Default::default());
}

#[test]
fn bool_flags_take_an_optional_equals_value() {
    let cases: &[(&[&str], bool, Option<bool>)] = &[
        (&["-dev"], true, None),
        (&["-dev=true"], true, None),
        (&["-dev=false"], false, None),
        (&["--dev"], true, None),
        (&["-d"], true, None),
        (&["-server=false"], false, Some(false)),
        (&["-server=1"], false, Some(true)),
        (&["-server=no"], false, Some(false)),
        (&["-dev", "-server"], true, Some(true)),
    ];
    for (argv, dev, server) in cases {
        let parsed = args(argv);
        assert_eq!((parsed.dev, parsed.server), (*dev, *server), "{argv:?}");
    }
    // As with Go's flag package, a bool's value must be joined with `=`.
    assert!(try_args(&["-server", "false"]).is_err());
}

#[test]
fn log_level_flag_is_case_insensitive() {
    for (given, want) in [
        ("debug", LogLevel::Debug),
        ("DEBUG", LogLevel::Debug),
        ("Trace", LogLevel::Trace),
        ("warn", LogLevel::Warn),
    ] {
        let layer = args(&["-log-level", given]).layer().unwrap();
        assert_eq!(layer.log_level, Some(want), "{given}");
    }
}

#[test]
fn servers_split_on_commas_and_drop_blanks() {
    let layer = args(&["-servers", "a:4647, b:4647,", "-servers=c:4647"])
        .layer()
        .unwrap();
    assert_eq!(layer.client.servers, ["a:4647", "b:4647", "c:4647"]);
    // As in Nomad, empty strings are unset.
    let layer = args(&["-region=", "-node", ""]).layer().unwrap();
    assert_eq!((layer.region, layer.name), (None, None));
}

#[test]
fn bad_flag_values_are_refused() {
    for argv in [
        &["-bootstrap-expect=x"][..],
        &["-bootstrap-expect=-1"],
        &["-frobnicate"],
        &["-server=maybe"],
    ] {
        assert!(try_args(argv).is_err(), "{argv:?}");
    }
}

#[test]
fn normalize_go_flag_doubles_only_long_single_dash_flags() {
    let cases = [
        ("-dev", "--dev"),
        ("-data-dir=/x", "--data-dir=/x"),
        ("--dev", "--dev"),
        ("-h", "-h"),
        ("-", "-"),
        ("agent", "agent"),
        ("/etc/drover", "/etc/drover"),
    ];
    for (given, want) in cases {
        assert_eq!(normalize_go_flag(given.to_string()), want, "{given}");
    }
}
