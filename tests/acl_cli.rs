//! `drover acl ...` and the CLI's token (`NOMAD_TOKEN`, `DROVER_TOKEN`)
//! against a real dev agent with ACLs on. Address 127.0.2.20.

mod common;

use std::process::Command;

use common::Agent;

/// `drover <words>` against `a` with `token` in `var`: success, stdout,
/// stderr.
fn drover(a: &Agent, var: &str, token: &str, words: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(words)
        .env_remove("DROVER_ADDR")
        .env_remove("DROVER_TOKEN")
        .env_remove("NOMAD_TOKEN")
        .env("NOMAD_ADDR", &a.base)
        .env(var, token)
        .env("NO_COLOR", "1")
        .output()
        .expect("drover runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of `key` in a KV block.
fn field(block: &str, key: &str) -> String {
    block
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_acl_commands_bootstrap_write_policies_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_on("127.0.2.20", dir.path(), "acl {\n  enabled = true\n}\n").await;

    let (ok, boot, err) = drover(&a, "NOMAD_TOKEN", "", &["acl", "bootstrap"]);
    assert!(ok, "{err}");
    assert_eq!(field(&boot, "Type"), "management");
    assert_eq!(field(&boot, "Name"), "Bootstrap Token");
    let mgmt = field(&boot, "Secret ID");
    let (ok, _, err) = drover(&a, "NOMAD_TOKEN", &mgmt, &["acl", "bootstrap"]);
    assert!(!ok);
    assert!(err.contains("ACL bootstrap already done"), "{err}");

    let rules = dir.path().join("readonly.hcl");
    std::fs::write(&rules, "namespace \"default\" {\n  policy = \"read\"\n}\n").unwrap();
    let rules = rules.to_str().unwrap();
    let (ok, out, err) = drover(
        &a,
        "DROVER_TOKEN",
        &mgmt,
        &[
            "acl",
            "policy",
            "apply",
            "-description",
            "read only",
            "readonly",
            rules,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Successfully wrote \"readonly\" ACL policy!");
    let (_, out, _) = drover(&a, "NOMAD_TOKEN", &mgmt, &["acl", "policy", "list"]);
    assert_eq!(
        out.lines()
            .nth(1)
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        Some(vec!["readonly", "read", "only"]),
        "{out}"
    );
    let (_, out, _) = drover(
        &a,
        "NOMAD_TOKEN",
        &mgmt,
        &["acl", "policy", "info", "readonly"],
    );
    assert!(out.contains("policy = \"read\""), "{out}");

    let (ok, token, err) = drover(
        &a,
        "NOMAD_TOKEN",
        &mgmt,
        &[
            "acl", "token", "create", "-name", "ci", "-policy", "readonly", "-ttl", "1h",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(field(&token, "Policies"), "[readonly]");
    assert_ne!(field(&token, "Expiry Time"), "<none>");
    let (secret, accessor) = (field(&token, "Secret ID"), field(&token, "Accessor ID"));

    // The token works for what its policy allows, and only that.
    let (ok, out, err) = drover(&a, "NOMAD_TOKEN", &secret, &["acl", "token", "self"]);
    assert!(ok, "{err}");
    assert_eq!(field(&out, "Accessor ID"), accessor);
    let (ok, _, err) = drover(&a, "NOMAD_TOKEN", &secret, &["status"]);
    assert!(ok, "{err}");
    let (ok, _, err) = drover(&a, "NOMAD_TOKEN", &secret, &["node", "status"]);
    assert!(!ok && err.contains("Permission denied"), "{err}");
    let (ok, _, err) = drover(&a, "NOMAD_TOKEN", "", &["status"]);
    assert!(!ok && err.contains("Permission denied"), "{err}");
    // `-token` is taken before the environment.
    let (ok, _, err) = drover(&a, "NOMAD_TOKEN", "", &["node", "status", "-token", &mgmt]);
    assert!(ok, "{err}");
    let (ok, out, err) = drover(
        &a,
        "NOMAD_TOKEN",
        &mgmt,
        &["acl", "token", "self", "-token", &secret],
    );
    assert!(ok, "{err}");
    assert_eq!(field(&out, "Accessor ID"), accessor);

    let (_, out, _) = drover(&a, "NOMAD_TOKEN", &mgmt, &["acl", "token", "list"]);
    assert!(
        out.lines()
            .any(|l| l.contains(&accessor) && l.starts_with("ci ")),
        "{out}"
    );
    let (ok, out, err) = drover(
        &a,
        "NOMAD_TOKEN",
        &mgmt,
        &["acl", "token", "delete", &accessor],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("Token {accessor} successfully deleted"));
    let (ok, _, err) = drover(&a, "NOMAD_TOKEN", &secret, &["status"]);
    assert!(!ok && err.contains("ACL token not found"), "{err}");
    let (ok, _, err) = drover(
        &a,
        "NOMAD_TOKEN",
        &mgmt,
        &["acl", "token", "create", "-type", "x"],
    );
    assert!(
        !ok && err.contains("token type must be client or management"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
