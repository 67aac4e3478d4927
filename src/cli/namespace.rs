//! `drover namespace apply|list|status|inspect|delete`, after Nomad's
//! `command/namespace_*.go`: the same tables, KV blocks and messages.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::api::form_urlencoded;
use super::command::{self, Ctx};
use super::flags::Kind;
use super::output::{kv, list, text, FORMAT_FLAGS};

pub const USAGE: &str = r#"Usage: drover namespace <subcommand> [options] [args]

  Interact with namespaces: jobs, their allocations, evaluations and
  deployments each live in one. Every cluster has the "default" namespace,
  which cannot be deleted.

Subcommands:
    apply      Create or update a namespace
    delete     Delete a namespace
    inspect    Inspect a namespace
    list       List namespaces
    status     Display a namespace's status

Examples:

  $ drover namespace apply -description "the web team" web
  $ drover namespace list"#;

pub const APPLY: &str = r#"Usage: drover namespace apply [options] <input>

  Create or update a namespace. <input> is a file holding the
  namespace's specification (HCL, or JSON with -json), "-" for stdin, or,
  when no such file exists, the name of the namespace.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Apply Options:

  -description
    An optional description for the namespace.

  -quota
    The quota to attach to the namespace. Drover has no quotas, so any
    quota is refused.

  -json
    Read <input> as a file holding a JSON namespace specification.

Examples:

  $ drover namespace apply -description "the web team" web
  $ drover namespace apply web.hcl

  where web.hcl holds:

    name        = "web"
    description = "the web team"
    meta {
      owner = "web"
    }
    capabilities {
      enabled_task_drivers = ["docker"]
    }
    node_pool_config {
      default = "web"
      allowed = ["web", "shared-*"]
    }"#;

pub const LIST: &str = r#"Usage: drover namespace list [options]

  List the namespaces.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

List Options:

  -json
    Output the namespaces in a JSON format.

  -t <template>
    Format and display the namespaces using a Go template.

Examples:

  $ drover namespace list"#;

pub const STATUS: &str = r#"Usage: drover namespace status [options] <namespace>

  Display a namespace: its description and the task drivers and network
  modes its jobs may use. <namespace> may be a unique prefix of a name.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Status Specific Options:

  -json
    Output the namespace in a JSON format.

  -t <template>
    Format and display the namespace using a Go template.

Examples:

  $ drover namespace status default"#;

pub const INSPECT: &str = r#"Usage: drover namespace inspect [options] <namespace>

  Display a namespace as JSON. <namespace> may be a unique prefix of a
  name.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Inspect Options:

  -t <template>
    Format and display the namespace using a Go template.

Examples:

  $ drover namespace inspect default"#;

pub const DELETE: &str = r#"Usage: drover namespace delete [options] <namespace>

  Delete a namespace. A namespace that still holds a job that is not dead,
  or an allocation that is not terminal, is not deleted; "default" never
  is.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Examples:

  $ drover namespace delete web"#;

/// `drover namespace <args>`.
pub fn run(args: &[String]) -> ExitCode {
    command::dispatch(
        "namespace",
        args,
        USAGE,
        &[
            ("apply", apply),
            ("delete", delete),
            ("inspect", inspect),
            ("list", list_cmd),
            ("status", status),
        ],
    )
}

fn apply(words: &[String]) -> ExitCode {
    const SPEC: &[(&str, Kind)] = &[
        ("description", Kind::Value),
        ("quota", Kind::Value),
        ("json", Kind::Bool),
    ];
    command::run("namespace apply", words, SPEC, APPLY, apply_body)
}

async fn apply_body(ctx: Ctx) -> anyhow::Result<String> {
    let [input] = ctx.args.as_slice() else {
        bail!("This command takes one argument: <input> (see 'drover namespace apply -help')");
    };
    let json = ctx.flags.bool("json", false);
    // A file (or stdin) is a specification, anything else a name (Nomad's
    // `namespace apply` decides the same way).
    let ns = if json || input == "-" || std::path::Path::new(input).is_file() {
        let raw = if input == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| anyhow!("Failed to read stdin: {e}"))?
        } else {
            std::fs::read_to_string(input).map_err(|e| anyhow!("Failed to read file: {e}"))?
        };
        if json {
            serde_json::from_str::<Value>(&raw)
                .map_err(|e| anyhow!("Failed to parse namespace: {e}"))?
        } else {
            spec_from_hcl(&raw).map_err(|e| anyhow!("Failed to parse namespace: {e}"))?
        }
    } else {
        if input.is_empty() {
            bail!("Namespace name required");
        }
        // Start from the stored namespace, so a flag left out keeps its
        // value, as Nomad's `namespace apply` does.
        let path = format!("/v1/namespace/{}", form_urlencoded(input));
        let mut ns = match ctx.api.get(&path).await {
            Ok(v) => v,
            Err(e) if e.to_string().contains("404") => json!({ "Name": input }),
            Err(e) => bail!("Error looking up namespace: {e:#}"),
        };
        for (flag, field) in [("description", "Description"), ("quota", "Quota")] {
            if ctx.flags.given(flag) {
                ns[field] = Value::String(ctx.flags.str(flag, ""));
            }
        }
        ns
    };
    let name = text(&ns["Name"]);
    ctx.api
        .put("/v1/namespace", &ns)
        .await
        .map_err(|e| anyhow!("Error applying namespace: {e:#}"))?;
    Ok(format!("Successfully applied namespace {name:?}!"))
}

/// A namespace specification in HCL (Nomad's `parseNamespaceSpec`,
/// command/namespace_apply.go): `name`, `description`, `quota`, a `meta`
/// block, a `capabilities` block and a `node_pool_config` block, as the
/// API's JSON. Anything else is an error naming it.
pub fn spec_from_hcl(text: &str) -> anyhow::Result<Value> {
    let raw: serde_json::Map<String, Value> = hcl::from_str(text)?;
    let mut ns = serde_json::Map::new();
    for (key, value) in raw {
        let (field, inner): (&str, &[(&str, &str)]) = match key.as_str() {
            "name" => ("Name", &[]),
            "description" => ("Description", &[]),
            "quota" => ("Quota", &[]),
            "meta" => ("Meta", &[]),
            "capabilities" => (
                "Capabilities",
                &[
                    ("enabled_task_drivers", "EnabledTaskDrivers"),
                    ("disabled_task_drivers", "DisabledTaskDrivers"),
                    ("enabled_network_modes", "EnabledNetworkModes"),
                    ("disabled_network_modes", "DisabledNetworkModes"),
                ],
            ),
            "node_pool_config" => (
                "NodePoolConfiguration",
                &[
                    ("default", "Default"),
                    ("allowed", "Allowed"),
                    ("denied", "Denied"),
                ],
            ),
            other => bail!("unexpected key {other:?}"),
        };
        let value = match (inner.is_empty(), value) {
            (true, v) => v,
            (false, Value::Object(block)) => {
                let mut out = serde_json::Map::new();
                for (k, v) in block {
                    let Some((_, name)) = inner.iter().find(|(hcl, _)| *hcl == k) else {
                        bail!("{key}: unexpected key {k:?}");
                    };
                    out.insert((*name).to_string(), v);
                }
                Value::Object(out)
            }
            (false, _) => bail!("{key}: must be a block"),
        };
        ns.insert(field.to_string(), value);
    }
    if !ns.contains_key("Name") {
        bail!("name: missing");
    }
    Ok(Value::Object(ns))
}

fn list_cmd(words: &[String]) -> ExitCode {
    command::run("namespace list", words, FORMAT_FLAGS, LIST, list_body)
}

async fn list_body(ctx: Ctx) -> anyhow::Result<String> {
    if !ctx.args.is_empty() {
        bail!("This command takes no arguments (see 'drover namespace list -help')");
    }
    let all = ctx
        .api
        .get("/v1/namespaces")
        .await
        .map_err(|e| anyhow!("Error retrieving namespaces: {e:#}"))?;
    if let Some(out) = ctx.format.data(&all)? {
        return Ok(out);
    }
    Ok(format_namespaces(all.as_array().map_or(&[], Vec::as_slice)))
}

/// Nomad's `formatNamespaces`.
fn format_namespaces(all: &[Value]) -> String {
    if all.is_empty() {
        return "No namespaces found".to_string();
    }
    let mut rows = vec!["Name|Description".to_string()];
    rows.extend(
        all.iter()
            .map(|n| format!("{}|{}", text(&n["Name"]), text(&n["Description"]))),
    );
    list(&rows)
}

/// The one namespace `name` names: an exact name, else a unique prefix
/// (Nomad's `getNamespace`).
async fn lookup(ctx: &Ctx, name: &str) -> anyhow::Result<Value> {
    let all = ctx
        .api
        .get(&format!("/v1/namespaces?prefix={}", form_urlencoded(name)))
        .await
        .map_err(|e| anyhow!("Error retrieving namespaces: {e:#}"))?;
    let all = all.as_array().cloned().unwrap_or_default();
    if let Some(exact) = all.iter().find(|n| n["Name"] == name) {
        return Ok(exact.clone());
    }
    match all.as_slice() {
        [] => bail!("Error retrieving namespaces: Namespace {name:?} matched no namespaces"),
        [one] => Ok(one.clone()),
        many => bail!(
            "Prefix matched multiple namespaces\n\n{}",
            format_namespaces(many)
        ),
    }
}

fn status(words: &[String]) -> ExitCode {
    command::run("namespace status", words, FORMAT_FLAGS, STATUS, status_body)
}

async fn status_body(ctx: Ctx) -> anyhow::Result<String> {
    let [name] = ctx.args.as_slice() else {
        bail!("This command takes one argument: <namespace> (see 'drover namespace status -help')");
    };
    let ns = lookup(&ctx, name).await?;
    if let Some(out) = ctx.format.data(&ns)? {
        return Ok(out);
    }
    let mut out = format_basics(&ns);
    if let Some(meta) = ns["Meta"].as_object().filter(|m| !m.is_empty()) {
        let rows: Vec<String> = meta
            .iter()
            .map(|(k, v)| format!("{k}|{}", text(v)))
            .collect();
        out.push_str(&format!(
            "\n\n{}\n{}",
            ctx.style.title("Metadata"),
            kv(&rows)
        ));
    }
    if let Some(np) = ns["NodePoolConfiguration"].as_object() {
        let mut rows = vec![format!("Default|{}", text(&np["Default"]))];
        for (field, label) in [("Allowed", "Allowed"), ("Denied", "Denied")] {
            let items = strings(&np[field]);
            if !items.is_empty() {
                rows.push(format!("{label}|{}", items.join(", ")));
            }
        }
        out.push_str(&format!(
            "\n\n{}\n{}",
            ctx.style.title("Node Pool Configuration"),
            kv(&rows)
        ));
    }
    Ok(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default()
}

/// Nomad's `formatNamespaceBasics`: `*` where every driver or network
/// mode is enabled.
fn format_basics(ns: &Value) -> String {
    let caps = &ns["Capabilities"];
    let joined = |field: &str, all: &str| {
        let items = strings(&caps[field]);
        if items.is_empty() {
            all.to_string()
        } else {
            items.join(",")
        }
    };
    kv(&[
        format!("Name|{}", text(&ns["Name"])),
        format!("Description|{}", text(&ns["Description"])),
        format!("Quota|{}", text(&ns["Quota"])),
        format!("Enabled Drivers|{}", joined("EnabledTaskDrivers", "*")),
        format!("Disabled Drivers|{}", joined("DisabledTaskDrivers", "")),
        format!(
            "Enabled Network Modes|{}",
            joined("EnabledNetworkModes", "*")
        ),
        format!(
            "Disabled Network Modes|{}",
            joined("DisabledNetworkModes", "")
        ),
    ])
}

fn inspect(words: &[String]) -> ExitCode {
    command::run(
        "namespace inspect",
        words,
        &[("t", Kind::Value)],
        INSPECT,
        inspect_body,
    )
}

async fn inspect_body(ctx: Ctx) -> anyhow::Result<String> {
    let [name] = ctx.args.as_slice() else {
        bail!(
            "This command takes one argument: <namespace> (see 'drover namespace inspect -help')"
        );
    };
    let ns = lookup(&ctx, name).await?;
    match &ctx.format.template {
        Some(_) => Ok(ctx.format.data(&ns)?.unwrap_or_default()),
        None => Ok(super::output::pretty_json(&ns)),
    }
}

fn delete(words: &[String]) -> ExitCode {
    command::run("namespace delete", words, &[], DELETE, delete_body)
}

async fn delete_body(ctx: Ctx) -> anyhow::Result<String> {
    let [name] = ctx.args.as_slice() else {
        bail!("This command takes one argument: <namespace> (see 'drover namespace delete -help')");
    };
    ctx.api
        .delete(&format!("/v1/namespace/{}", form_urlencoded(name)))
        .await
        .map_err(|e| anyhow!("Error deleting namespace: {e:#}"))?;
    Ok(format!("Successfully deleted namespace {name:?}!"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hcl_spec_is_the_api_json() {
        let spec = r#"
name        = "web"
description = "the web team"
meta {
  owner = "web"
}
capabilities {
  enabled_task_drivers  = ["docker"]
  disabled_network_modes = ["host"]
}
node_pool_config {
  default = "web"
  allowed = ["web", "shared-*"]
}
"#;
        assert_eq!(
            spec_from_hcl(spec).unwrap(),
            json!({
                "Name": "web",
                "Description": "the web team",
                "Meta": {"owner": "web"},
                "Capabilities": {"EnabledTaskDrivers": ["docker"], "DisabledNetworkModes": ["host"]},
                "NodePoolConfiguration": {"Default": "web", "Allowed": ["web", "shared-*"]},
            })
        );
    }

    #[test]
    fn a_bad_hcl_spec_names_what_is_wrong() {
        let err = |s: &str| spec_from_hcl(s).unwrap_err().to_string();
        assert!(err("name = \"a\"\nowner = \"x\"").contains("\"owner\""));
        assert!(err("name = \"a\"\ncapabilities { drivers = [] }")
            .contains("capabilities: unexpected key \"drivers\""));
        assert!(err("description = \"x\"").contains("name: missing"));
        assert!(err("name = ").contains("expected"), "{}", err("name = "));
    }
}
