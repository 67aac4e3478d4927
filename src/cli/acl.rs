//! `drover acl bootstrap|policy|token`, after Nomad's `command/acl_*.go`:
//! the same subcommands, KV blocks and messages, over `/v1/acl/*`.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use super::api::{decode, form_urlencoded};
use super::command::{self, Ctx};
use super::flags::Kind;
use super::output::{format_time, kv, list, text, FORMAT_FLAGS};

/// The options every subcommand takes, as each help prints them.
macro_rules! general {
    () => {
        "General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -token=<secret>
    The ACL token. Without it, DROVER_TOKEN, then NOMAD_TOKEN.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset."
    };
}

pub const ACL: &str = r#"Usage: drover acl <subcommand> [options] [args]

  Interact with ACL policies and tokens.

Subcommands:
    bootstrap    Make the cluster's first management token
    policy       Interact with ACL policies
    token        Interact with ACL tokens

Examples:

  $ drover acl bootstrap
  $ drover acl policy apply readonly readonly.hcl"#;

pub const BOOTSTRAP: &str = concat!(
    r#"Usage: drover acl bootstrap [options]

  Make the cluster's first management token. It can be done once; its
  Secret ID is shown only now.

"#,
    general!(),
    "\n\n",
    r#"Bootstrap Options:

  -json
    Output the token in its JSON format.

Examples:

  $ drover acl bootstrap"#
);

pub const POLICY: &str = r#"Usage: drover acl policy <subcommand> [options] [args]

  Interact with ACL policies: HCL rules under a name.

Subcommands:
    apply     Create or update a policy
    delete    Delete a policy
    info      Display a policy and its rules
    list      List the policies

Examples:

  $ drover acl policy list"#;

pub const POLICY_APPLY: &str = concat!(
    r#"Usage: drover acl policy apply [options] <name> <path>

  Create or update the policy <name> with the rules in the file <path>
  ("-" reads them from stdin).

"#,
    general!(),
    "\n\n",
    r#"Apply Options:

  -description=<text>
    The policy's description.

Examples:

  $ drover acl policy apply -description "read only" readonly readonly.hcl"#
);

pub const POLICY_DELETE: &str = concat!(
    r#"Usage: drover acl policy delete [options] <name>

  Delete the policy <name>.

"#,
    general!(),
    "\n\n",
    r#"Examples:

  $ drover acl policy delete readonly"#
);

pub const POLICY_INFO: &str = concat!(
    r#"Usage: drover acl policy info [options] <name>

  Display the policy <name> and its rules.

"#,
    general!(),
    "\n\n",
    r#"Info Options:

  -json
    Output the policy in its JSON format.

Examples:

  $ drover acl policy info readonly"#
);

pub const POLICY_LIST: &str = concat!(
    r#"Usage: drover acl policy list [options]

  List the policies the token may read (all, for a management token).

"#,
    general!(),
    "\n\n",
    r#"List Options:

  -json
    Output the policies in their JSON format.

Examples:

  $ drover acl policy list"#
);

pub const TOKEN: &str = r#"Usage: drover acl token <subcommand> [options] [args]

  Interact with ACL tokens.

Subcommands:
    create    Create a token
    delete    Delete a token
    info      Display a token
    list      List the tokens
    self      Display the token in use

Examples:

  $ drover acl token self"#;

pub const TOKEN_CREATE: &str = concat!(
    r#"Usage: drover acl token create [options]

  Create a token. Its Secret ID is shown only now.

"#,
    general!(),
    "\n\n",
    r#"Create Options:

  -name=<name>
    The token's name.

  -type=<client|management>
    The token's type; "client" by default.

  -policy=<name>
    A policy of a client token. Repeatable.

  -ttl=<duration>
    How long the token lives, e.g. "8h"; forever when not given.

  -global
    Mark the token global.

  -json
    Output the token in its JSON format.

Examples:

  $ drover acl token create -name ci -policy readonly -ttl 8h"#
);

pub const TOKEN_DELETE: &str = concat!(
    r#"Usage: drover acl token delete [options] <accessor>

  Delete the token whose Accessor ID is <accessor>.

"#,
    general!(),
    "\n\n",
    r#"Examples:

  $ drover acl token delete 7d2f47f3-3a4c-21c1-8c66-dcf5b4bd1e2c"#
);

pub const TOKEN_INFO: &str = concat!(
    r#"Usage: drover acl token info [options] <accessor>

  Display the token whose Accessor ID is <accessor>.

"#,
    general!(),
    "\n\n",
    r#"Info Options:

  -json
    Output the token in its JSON format.

Examples:

  $ drover acl token info 7d2f47f3-3a4c-21c1-8c66-dcf5b4bd1e2c"#
);

pub const TOKEN_LIST: &str = concat!(
    r#"Usage: drover acl token list [options]

  List the tokens (a management token's call).

"#,
    general!(),
    "\n\n",
    r#"List Options:

  -json
    Output the tokens in their JSON format.

Examples:

  $ drover acl token list"#
);

pub const TOKEN_SELF: &str = concat!(
    r#"Usage: drover acl token self [options]

  Display the token in use (-token, else DROVER_TOKEN, else NOMAD_TOKEN).

"#,
    general!(),
    "\n\n",
    r#"Self Options:

  -json
    Output the token in its JSON format.

Examples:

  $ drover acl token self"#
);

/// `drover acl <args>`.
pub fn run(args: &[String]) -> ExitCode {
    command::dispatch(
        "acl",
        args,
        ACL,
        &[
            ("bootstrap", bootstrap),
            ("policy", policy),
            ("token", token),
        ],
    )
}

fn policy(args: &[String]) -> ExitCode {
    command::dispatch(
        "acl policy",
        args,
        POLICY,
        &[
            ("apply", policy_apply),
            ("delete", policy_delete),
            ("info", policy_info),
            ("list", policy_list),
        ],
    )
}

fn token(args: &[String]) -> ExitCode {
    command::dispatch(
        "acl token",
        args,
        TOKEN,
        &[
            ("create", token_create),
            ("delete", token_delete),
            ("info", token_info),
            ("list", token_list),
            ("self", token_self),
        ],
    )
}

/// Nomad's token KV block (command/acl_bootstrap.go `formatKVACLToken`).
fn format_token(t: &Value) -> String {
    let policies: Vec<String> = t["Policies"]
        .as_array()
        .map(|p| p.iter().map(text).collect())
        .unwrap_or_default();
    let expiry = match t["ExpirationTime"].as_str() {
        Some(s) => drover_api::time::parse_rfc3339(s).map_or(s.to_string(), format_time),
        None => "<none>".to_string(),
    };
    let created = t["CreateTime"]
        .as_str()
        .and_then(drover_api::time::parse_rfc3339)
        .map(format_time)
        .unwrap_or_default();
    kv(&[
        format!("Accessor ID|{}", text(&t["AccessorID"])),
        format!("Secret ID|{}", text(&t["SecretID"])),
        format!("Name|{}", text(&t["Name"])),
        format!("Type|{}", text(&t["Type"])),
        format!("Global|{}", t["Global"].as_bool().unwrap_or(false)),
        format!("Create Time|{created}"),
        format!("Expiry Time|{expiry}"),
        format!("Create Index|{}", text(&t["CreateIndex"])),
        format!("Modify Index|{}", text(&t["ModifyIndex"])),
        format!("Policies|[{}]", policies.join(" ")),
    ])
}

/// One argument or the usage error naming what is wanted.
fn one<'a>(ctx: &'a Ctx, what: &str, cmd: &str) -> anyhow::Result<&'a str> {
    match ctx.args.as_slice() {
        [one] => Ok(one),
        _ => bail!("This command takes one argument: {what} (see 'drover {cmd} -help')"),
    }
}

fn bootstrap(words: &[String]) -> ExitCode {
    command::run(
        "acl bootstrap",
        words,
        FORMAT_FLAGS,
        BOOTSTRAP,
        |ctx| async move {
            if !ctx.args.is_empty() {
                bail!("This command takes no arguments (see 'drover acl bootstrap -help')");
            }
            let r = ctx
                .api
                .http
                .post(ctx.api.url("/v1/acl/bootstrap"))
                .send()
                .await
                .map_err(|e| anyhow!("Error bootstrapping: {e}"))?;
            let t = decode(r)
                .await
                .map_err(|e| anyhow!("Error bootstrapping: {e:#}"))?;
            Ok(match ctx.format.data(&t)? {
                Some(out) => out,
                None => format_token(&t),
            })
        },
    )
}

fn policy_apply(words: &[String]) -> ExitCode {
    command::run(
        "acl policy apply",
        words,
        &[("description", Kind::Value)],
        POLICY_APPLY,
        |ctx| async move {
            let [name, path] = ctx.args.as_slice() else {
                bail!("This command takes two arguments: <name> <path> (see 'drover acl policy apply -help')");
            };
            let rules = if path == "-" {
                std::io::read_to_string(std::io::stdin()).context("Error reading stdin")?
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("Error reading policy file {path:?}"))?
            };
            let body = json!({
                "Name": name,
                "Description": ctx.flags.str("description", ""),
                "Rules": rules,
            });
            ctx.api
                .put(&format!("/v1/acl/policy/{}", form_urlencoded(name)), &body)
                .await
                .map_err(|e| anyhow!("Error writing ACL policy: {e:#}"))?;
            Ok(format!("Successfully wrote {name:?} ACL policy!"))
        },
    )
}

fn policy_delete(words: &[String]) -> ExitCode {
    command::run(
        "acl policy delete",
        words,
        &[],
        POLICY_DELETE,
        |ctx| async move {
            let name = one(&ctx, "<name>", "acl policy delete")?;
            let r = ctx
                .api
                .http
                .delete(
                    ctx.api
                        .url(&format!("/v1/acl/policy/{}", form_urlencoded(name))),
                )
                .send()
                .await
                .map_err(|e| anyhow!("Error deleting ACL policy: {e}"))?;
            decode(r)
                .await
                .map_err(|e| anyhow!("Error deleting ACL policy: {e:#}"))?;
            Ok(format!("Successfully deleted {name:?} ACL policy!"))
        },
    )
}

fn policy_info(words: &[String]) -> ExitCode {
    command::run(
        "acl policy info",
        words,
        FORMAT_FLAGS,
        POLICY_INFO,
        |ctx| async move {
            let name = one(&ctx, "<name>", "acl policy info")?;
            let p = ctx
                .api
                .get(&format!("/v1/acl/policy/{}", form_urlencoded(name)))
                .await
                .map_err(|e| anyhow!("Error reading ACL policy: {e:#}"))?;
            if let Some(out) = ctx.format.data(&p)? {
                return Ok(out);
            }
            let block = kv(&[
                format!("Name|{}", text(&p["Name"])),
                format!("Description|{}", text(&p["Description"])),
                format!("CreateIndex|{}", text(&p["CreateIndex"])),
                format!("ModifyIndex|{}", text(&p["ModifyIndex"])),
            ]);
            Ok(format!(
                "{block}\n\nRules\n\n{}",
                text(&p["Rules"]).trim_end()
            ))
        },
    )
}

fn policy_list(words: &[String]) -> ExitCode {
    command::run(
        "acl policy list",
        words,
        FORMAT_FLAGS,
        POLICY_LIST,
        |ctx| async move {
            let ps = ctx
                .api
                .get("/v1/acl/policies")
                .await
                .map_err(|e| anyhow!("Error listing ACL policies: {e:#}"))?;
            if let Some(out) = ctx.format.data(&ps)? {
                return Ok(out);
            }
            let ps = ps.as_array().cloned().unwrap_or_default();
            if ps.is_empty() {
                return Ok("No policies found".to_string());
            }
            let mut lines = vec!["Name|Description".to_string()];
            lines.extend(
                ps.iter()
                    .map(|p| format!("{}|{}", text(&p["Name"]), text(&p["Description"]))),
            );
            Ok(list(&lines))
        },
    )
}

fn token_create(words: &[String]) -> ExitCode {
    let mut spec = vec![
        ("name", Kind::Value),
        ("type", Kind::Value),
        ("policy", Kind::Value),
        ("ttl", Kind::Value),
        ("global", Kind::Bool),
    ];
    spec.extend_from_slice(FORMAT_FLAGS);
    command::run(
        "acl token create",
        words,
        &spec,
        TOKEN_CREATE,
        |ctx| async move {
            if !ctx.args.is_empty() {
                bail!("This command takes no arguments (see 'drover acl token create -help')");
            }
            let ttl = match ctx.flags.given("ttl") {
                false => 0,
                true => {
                    let raw = ctx.flags.str("ttl", "");
                    let d = drover_server::http::query::parse_go_duration(&raw)
                        .ok_or_else(|| anyhow!("-ttl: {raw:?} is not a duration such as \"8h\""))?;
                    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
                }
            };
            let body = json!({
                "Name": ctx.flags.str("name", ""),
                "Type": ctx.flags.str("type", "client"),
                "Policies": ctx.flags.all("policy"),
                "Global": ctx.flags.bool("global", false),
                "ExpirationTTL": ttl,
            });
            let t = ctx
                .api
                .put("/v1/acl/token", &body)
                .await
                .map_err(|e| anyhow!("Error creating token: {e:#}"))?;
            Ok(match ctx.format.data(&t)? {
                Some(out) => out,
                None => format_token(&t),
            })
        },
    )
}

fn token_delete(words: &[String]) -> ExitCode {
    command::run(
        "acl token delete",
        words,
        &[],
        TOKEN_DELETE,
        |ctx| async move {
            let accessor = one(&ctx, "<accessor>", "acl token delete")?;
            let r = ctx
                .api
                .http
                .delete(
                    ctx.api
                        .url(&format!("/v1/acl/token/{}", form_urlencoded(accessor))),
                )
                .send()
                .await
                .map_err(|e| anyhow!("Error deleting token: {e}"))?;
            decode(r)
                .await
                .map_err(|e| anyhow!("Error deleting token: {e:#}"))?;
            Ok(format!("Token {accessor} successfully deleted"))
        },
    )
}

fn token_info(words: &[String]) -> ExitCode {
    command::run(
        "acl token info",
        words,
        FORMAT_FLAGS,
        TOKEN_INFO,
        |ctx| async move {
            let accessor = one(&ctx, "<accessor>", "acl token info")?;
            let t = ctx
                .api
                .get(&format!("/v1/acl/token/{}", form_urlencoded(accessor)))
                .await
                .map_err(|e| anyhow!("Error fetching token: {e:#}"))?;
            Ok(match ctx.format.data(&t)? {
                Some(out) => out,
                None => format_token(&t),
            })
        },
    )
}

fn token_self(words: &[String]) -> ExitCode {
    command::run(
        "acl token self",
        words,
        FORMAT_FLAGS,
        TOKEN_SELF,
        |ctx| async move {
            if !ctx.args.is_empty() {
                bail!("This command takes no arguments (see 'drover acl token self -help')");
            }
            let t = ctx
                .api
                .get("/v1/acl/token/self")
                .await
                .map_err(|e| anyhow!("Error fetching self token: {e:#}"))?;
            Ok(match ctx.format.data(&t)? {
                Some(out) => out,
                None => format_token(&t),
            })
        },
    )
}

fn token_list(words: &[String]) -> ExitCode {
    command::run(
        "acl token list",
        words,
        FORMAT_FLAGS,
        TOKEN_LIST,
        |ctx| async move {
            let ts = ctx
                .api
                .get("/v1/acl/tokens")
                .await
                .map_err(|e| anyhow!("Error listing tokens: {e:#}"))?;
            if let Some(out) = ctx.format.data(&ts)? {
                return Ok(out);
            }
            let ts = ts.as_array().cloned().unwrap_or_default();
            if ts.is_empty() {
                return Ok("No tokens found".to_string());
            }
            let now = super::output::now_nanos();
            let mut lines = vec!["Name|Type|Global|Accessor ID|Expired".to_string()];
            lines.extend(ts.iter().map(|t| {
                let expired = t["ExpirationTime"]
                    .as_str()
                    .and_then(drover_api::time::parse_rfc3339)
                    .is_some_and(|e| e <= now);
                format!(
                    "{}|{}|{}|{}|{expired}",
                    text(&t["Name"]),
                    text(&t["Type"]),
                    t["Global"].as_bool().unwrap_or(false),
                    text(&t["AccessorID"]),
                )
            }));
            Ok(list(&lines))
        },
    )
}
