//! The `tls` block: its keys in HCL and JSON, the keys read and ignored,
//! a misspelt key, and merging over an earlier file.

use std::path::PathBuf;

use drover_server::tls::TlsOptions;

use super::super::tls::merge;
use super::{parse_hcl, parse_json};

#[test]
fn tls_block_in_hcl_and_json() {
    let hcl = r#"
        tls {
          http = true
          rpc = true
          ca_file = "ca.pem"
          cert_file = "c.pem"
          key_file = "k.pem"
          verify_server_hostname = true
          verify_https_client = "true"
          tls_min_version = "tls12"
        }
    "#;
    let json = r#"{"tls": {"http": true, "rpc": true, "ca_file": "ca.pem",
        "cert_file": "c.pem", "key_file": "k.pem", "verify_server_hostname": true,
        "verify_https_client": true, "tls_min_version": "tls12"}}"#;
    let want = TlsOptions {
        http: true,
        rpc: true,
        ca_file: PathBuf::from("ca.pem"),
        cert_file: PathBuf::from("c.pem"),
        key_file: PathBuf::from("k.pem"),
        verify_server_hostname: true,
        verify_https_client: true,
    };
    let (l, warnings) = parse_hcl(hcl).unwrap();
    assert_eq!(merge(TlsOptions::default(), l.tls), want);
    assert_eq!(
        warnings,
        ["agent.hcl: tls.tls_min_version: ignored: Drover does not use this Nomad option"]
    );
    let (l, _) = parse_json(json).unwrap();
    assert_eq!(merge(TlsOptions::default(), l.tls), want);

    // A later file that says only `http = false` keeps the rest.
    let (later, _) = parse_hcl("tls {\n  http = false\n}\n").unwrap();
    let merged = merge(want.clone(), later.tls);
    assert!(!merged.http && merged.rpc && merged.ca_file == std::path::Path::new("ca.pem"));
}

#[test]
fn a_misspelt_tls_key_is_an_error() {
    let err = parse_hcl("tls {\n  verify_server_hostnam = true\n}\n").unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "agent.hcl: tls.verify_server_hostnam: unknown key (not a Nomad agent option Drover knows)"
    );
    let err = parse_hcl("tls {\n  http = 3\n}\n").unwrap_err();
    assert_eq!(format!("{err:#}"), "agent.hcl: tls.http: expected a bool");
}
