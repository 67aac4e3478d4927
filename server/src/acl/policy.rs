//! The ACL policy language (Nomad's `acl/policy.go`): HCL rules of
//! `namespace "<glob>" { policy = "..." capabilities = [...] }`,
//! `node_pool`, `host_volume`, `agent`, `node`, `operator`, `plugin`,
//! `quota` and `sentinel` blocks. A namespace policy (`deny`, `read`,
//! `write`, `scale`) expands to Nomad's list of capabilities. Errors name
//! the line of the rules they come from. No I/O.
//!
//! Only HCL is read; Nomad's JSON form of the rules is not.

use hcl::{Block, Body, Expression, Structure};

/// A parsed policy: what each block grants, capabilities already expanded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub namespaces: Vec<NamedRule>,
    pub node_pools: Vec<NamedRule>,
    pub host_volumes: Vec<NamedRule>,
    pub agent: Option<String>,
    pub node: Option<String>,
    pub operator: Option<Rule>,
    pub plugin: Option<String>,
    pub quota: Option<String>,
}

/// A block's `policy` and its capabilities (the policy's expansion
/// included).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    pub policy: String,
    pub capabilities: Vec<String>,
}

/// A rule for a named (or globbed) namespace, node pool or host volume.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedRule {
    pub name: String,
    pub rule: Rule,
}

/// Why rules were refused: `line` is 1-based, 0 when unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Failed to parse ACL Policy: line {line}: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub message: String,
}

pub const POLICY_DENY: &str = "deny";
pub const POLICY_READ: &str = "read";
pub const POLICY_LIST: &str = "list";
pub const POLICY_WRITE: &str = "write";
pub const POLICY_SCALE: &str = "scale";

/// Every namespace capability Nomad knows (`isNamespaceCapabilityValid`).
pub const NAMESPACE_CAPABILITIES: &[&str] = &[
    "deny",
    "list-jobs",
    "parse-job",
    "read-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-node-exec",
    "alloc-lifecycle",
    "sentinel-override",
    "csi-register-plugin",
    "csi-write-volume",
    "csi-read-volume",
    "csi-list-volume",
    "csi-mount-volume",
    "host-volume-create",
    "host-volume-register",
    "host-volume-read",
    "host-volume-write",
    "host-volume-delete",
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "submit-recommendation",
    "register-job",
    "revert-job",
    "deregister-job",
    "purge-job",
    "evaluate-job",
    "plan-job",
    "tag-job-version",
    "stable-job",
    "fail-deployment",
    "pause-deployment",
    "promote-deployment",
    "unblock-deployment",
    "cancel-deployment",
    "set-alloc-health-deployment",
    "gc-allocation",
    "pause-allocation",
    "force-periodic-job",
    "delete-service-registration",
];

const NAMESPACE_READ: &[&str] = &[
    "list-jobs",
    "parse-job",
    "read-job",
    "csi-list-volume",
    "csi-read-volume",
    "read-job-scaling",
    "list-scaling-policies",
    "read-scaling-policy",
    "host-volume-read",
];

const NAMESPACE_WRITE_EXTRA: &[&str] = &[
    "scale-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-lifecycle",
    "csi-mount-volume",
    "csi-write-volume",
    "submit-recommendation",
    "host-volume-create",
];

const NAMESPACE_SCALE: &[&str] = &[
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "read-job",
    "submit-recommendation",
];

const NODE_POOL_CAPABILITIES: &[&str] = &["delete", "deny", "read", "write"];
const HOST_VOLUME_CAPABILITIES: &[&str] = &["deny", "mount-readonly", "mount-readwrite"];
const OPERATOR_CAPABILITIES: &[&str] = &[
    "deny",
    "snapshot-save",
    "license-read",
    "keyring-rotate",
    "keyring-read",
    "keyring-delete",
];

fn owned(caps: &[&str]) -> Vec<String> {
    caps.iter().map(|c| (*c).to_string()).collect()
}

/// Nomad's `expandNamespacePolicy`.
pub fn expand_namespace_policy(policy: &str) -> Vec<String> {
    match policy {
        POLICY_DENY => owned(&["deny"]),
        POLICY_READ => owned(NAMESPACE_READ),
        POLICY_WRITE => owned(NAMESPACE_READ)
            .into_iter()
            .chain(owned(NAMESPACE_WRITE_EXTRA))
            .collect(),
        POLICY_SCALE => owned(NAMESPACE_SCALE),
        _ => Vec::new(),
    }
}

fn expand_node_pool_policy(policy: &str) -> Vec<String> {
    match policy {
        POLICY_DENY => owned(&["deny"]),
        POLICY_READ => owned(&["read"]),
        POLICY_WRITE => owned(&["delete", "read", "write"]),
        _ => Vec::new(),
    }
}

fn expand_host_volume_policy(policy: &str) -> Vec<String> {
    match policy {
        POLICY_DENY => owned(&["deny"]),
        POLICY_READ => owned(&["mount-readonly"]),
        POLICY_WRITE => owned(&["mount-readonly", "mount-readwrite"]),
        _ => Vec::new(),
    }
}

fn expand_operator_policy(policy: &str) -> Vec<String> {
    match policy {
        POLICY_DENY => owned(&["deny"]),
        POLICY_READ => owned(&["license-read", "keyring-read"]),
        POLICY_WRITE => owned(&[
            "snapshot-save",
            "license-read",
            "keyring-rotate",
            "keyring-read",
            "keyring-delete",
        ]),
        _ => Vec::new(),
    }
}

/// Nomad's `isPolicyValid`.
fn is_policy_valid(p: &str) -> bool {
    matches!(p, POLICY_DENY | POLICY_READ | POLICY_WRITE | POLICY_SCALE)
}

fn valid_name(name: &str, extra: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || extra.contains(c))
}

/// Parse and validate policy rules (Nomad's `acl.Parse` in strict mode).
pub fn parse(rules: &str) -> Result<Policy, PolicyError> {
    let body = hcl::parse(rules).map_err(|e| match e {
        hcl::Error::Parse(p) => PolicyError {
            line: p.location().line(),
            message: p.message().to_owned(),
        },
        other => PolicyError {
            line: 0,
            message: other.to_string(),
        },
    })?;
    let p = Parser { src: rules };
    let mut policy = Policy::default();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                return Err(p.err(
                    a.key.as_str(),
                    format!("unexpected key {:?}", a.key.as_str()),
                ))
            }
            Structure::Block(b) => p.block(b, &mut policy)?,
        }
    }
    if policy == Policy::default() {
        return Err(PolicyError {
            line: 1,
            message: format!("Invalid policy: {rules}"),
        });
    }
    Ok(policy)
}

struct Parser<'a> {
    src: &'a str,
}

impl Parser<'_> {
    /// An error at the first line that mentions `needle` (hcl-rs keeps no
    /// positions in a parsed body; the text that caused it is the best
    /// pointer).
    fn err(&self, needle: &str, message: String) -> PolicyError {
        let line = self
            .src
            .lines()
            .position(|l| l.contains(needle))
            .map_or(0, |i| i + 1);
        PolicyError { line, message }
    }

    fn block(&self, b: &Block, policy: &mut Policy) -> Result<(), PolicyError> {
        let ident = b.identifier.as_str();
        let label = || -> Result<String, PolicyError> {
            match b.labels.as_slice() {
                [l] => Ok(l.as_str().to_string()),
                _ => Err(self.err(ident, format!("block {ident:?} takes one label, a name"))),
            }
        };
        let unlabelled = || -> Result<(), PolicyError> {
            if b.labels.is_empty() {
                Ok(())
            } else {
                Err(self.err(ident, format!("block {ident:?} takes no label")))
            }
        };
        match ident {
            "namespace" => {
                let name = label()?;
                if !valid_name(&name, "") {
                    return Err(self.err(&name, format!("Invalid namespace name: {name:?}")));
                }
                let rule = self.rule(&b.body, ident, &["policy", "capabilities", "variables"])?;
                if !rule.policy.is_empty() && !is_policy_valid(&rule.policy) {
                    return Err(self.err(
                        &rule.policy,
                        format!("Invalid namespace policy {:?} for {name:?}", rule.policy),
                    ));
                }
                self.check_caps(&rule.capabilities, NAMESPACE_CAPABILITIES, "namespace")?;
                let mut rule = rule;
                rule.capabilities
                    .extend(expand_namespace_policy(&rule.policy));
                expand_host_volume_capabilities(&mut rule.capabilities);
                policy.namespaces.push(NamedRule { name, rule });
            }
            "node_pool" => {
                let name = label()?;
                if !valid_name(&name, "_") {
                    return Err(self.err(&name, format!("Invalid node pool name '{name}'")));
                }
                let mut rule = self.rule(&b.body, ident, &["policy", "capabilities"])?;
                if !rule.policy.is_empty() && !is_policy_valid(&rule.policy) {
                    return Err(self.err(
                        &rule.policy,
                        format!("Invalid node pool policy '{}' for '{name}'", rule.policy),
                    ));
                }
                self.check_caps(&rule.capabilities, NODE_POOL_CAPABILITIES, "node pool")?;
                rule.capabilities
                    .extend(expand_node_pool_policy(&rule.policy));
                policy.node_pools.push(NamedRule { name, rule });
            }
            "host_volume" => {
                let name = label()?;
                if !valid_name(&name, "") {
                    return Err(self.err(&name, format!("Invalid host volume name: {name:?}")));
                }
                let mut rule = self.rule(&b.body, ident, &["policy", "capabilities"])?;
                if !rule.policy.is_empty() && !is_policy_valid(&rule.policy) {
                    return Err(self.err(
                        &rule.policy,
                        format!("Invalid host volume policy {:?}", rule.policy),
                    ));
                }
                self.check_caps(&rule.capabilities, HOST_VOLUME_CAPABILITIES, "host volume")?;
                rule.capabilities
                    .extend(expand_host_volume_policy(&rule.policy));
                policy.host_volumes.push(NamedRule { name, rule });
            }
            "agent" | "node" | "quota" | "plugin" => {
                unlabelled()?;
                let rule = self.rule(&b.body, ident, &["policy"])?;
                let valid = if ident == "plugin" {
                    matches!(
                        rule.policy.as_str(),
                        POLICY_DENY | POLICY_READ | POLICY_LIST | POLICY_WRITE
                    )
                } else {
                    is_policy_valid(&rule.policy)
                };
                if !valid {
                    return Err(
                        self.err(ident, format!("Invalid {ident} policy: {:?}", rule.policy))
                    );
                }
                let slot = match ident {
                    "agent" => &mut policy.agent,
                    "node" => &mut policy.node,
                    "quota" => &mut policy.quota,
                    _ => &mut policy.plugin,
                };
                if slot.is_some() {
                    return Err(
                        self.err(ident, format!("Invalid or duplicate policy keys: {ident}"))
                    );
                }
                *slot = Some(rule.policy);
            }
            "operator" => {
                unlabelled()?;
                let mut rule = self.rule(&b.body, ident, &["policy", "capabilities"])?;
                if !rule.policy.is_empty() && !is_policy_valid(&rule.policy) {
                    return Err(self.err(
                        &rule.policy,
                        format!("Invalid operator policy {:?}", rule.policy),
                    ));
                }
                self.check_caps(&rule.capabilities, OPERATOR_CAPABILITIES, "operator")?;
                rule.capabilities
                    .extend(expand_operator_policy(&rule.policy));
                if policy.operator.is_some() {
                    return Err(
                        self.err(ident, "Invalid or duplicate policy keys: operator".into())
                    );
                }
                policy.operator = Some(rule);
            }
            other => {
                return Err(self.err(other, format!("Invalid or duplicate policy keys: {other}")))
            }
        }
        Ok(())
    }

    /// A block's `policy` and `capabilities`; any other key not in
    /// `allowed` is an error. `variables` is accepted and not modelled.
    fn rule(&self, body: &Body, ident: &str, allowed: &[&str]) -> Result<Rule, PolicyError> {
        let mut rule = Rule::default();
        for s in body.iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "policy" => {
                    rule.policy = self.string(&a.expr, "policy")?;
                }
                Structure::Attribute(a) if a.key.as_str() == "capabilities" => {
                    rule.capabilities = self.strings(&a.expr, "capabilities")?;
                }
                Structure::Block(b) if allowed.contains(&b.identifier.as_str()) => {}
                Structure::Attribute(a) => {
                    let key = a.key.as_str();
                    if !allowed.contains(&key) || matches!(key, "variables") {
                        return Err(
                            self.err(key, format!("unexpected key {key:?} in a {ident} block"))
                        );
                    }
                }
                Structure::Block(b) => {
                    let key = b.identifier.as_str();
                    return Err(
                        self.err(key, format!("unexpected block {key:?} in a {ident} block"))
                    );
                }
            }
        }
        Ok(rule)
    }

    fn string(&self, expr: &Expression, key: &str) -> Result<String, PolicyError> {
        match expr {
            Expression::String(s) => Ok(s.clone()),
            _ => Err(self.err(key, format!("{key} must be a string"))),
        }
    }

    fn strings(&self, expr: &Expression, key: &str) -> Result<Vec<String>, PolicyError> {
        match expr {
            Expression::Array(items) => items
                .iter()
                .map(|e| self.string(e, key))
                .collect::<Result<_, _>>(),
            _ => Err(self.err(key, format!("{key} must be a list of strings"))),
        }
    }

    fn check_caps(&self, caps: &[String], valid: &[&str], what: &str) -> Result<(), PolicyError> {
        match caps.iter().find(|c| !valid.contains(&c.as_str())) {
            Some(bad) => Err(self.err(
                &format!("\"{bad}\""),
                format!("Invalid {what} capability '{bad}'"),
            )),
            None => Ok(()),
        }
    }
}

/// Nomad's `expandNamespaceCapabilities`: the host-volume capabilities
/// that imply others.
fn expand_host_volume_capabilities(caps: &mut Vec<String>) {
    let mut extra = Vec::new();
    for c in caps.iter() {
        match c.as_str() {
            "host-volume-write" => extra.extend(owned(&[
                "host-volume-register",
                "host-volume-create",
                "host-volume-delete",
                "host-volume-read",
            ])),
            "host-volume-register" => {
                extra.extend(owned(&["host-volume-create", "host-volume-read"]))
            }
            "host-volume-create" => extra.extend(owned(&["host-volume-read"])),
            _ => {}
        }
    }
    caps.extend(extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(rules: &str, line: usize, contains: &str) {
        let e = parse(rules).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().contains(contains), "{e}");
    }

    #[test]
    fn namespace_policies_expand_as_nomads() {
        let p = parse(
            r#"
namespace "default" {
  policy = "read"
  capabilities = ["read-logs"]
}
namespace "team-*" { policy = "write" }
node { policy = "read" }
agent { policy = "write" }
operator { policy = "read" }
"#,
        )
        .unwrap();
        let d = &p.namespaces[0];
        assert_eq!(d.name, "default");
        assert!(d.rule.capabilities.iter().any(|c| c == "read-job"));
        assert!(d.rule.capabilities.iter().any(|c| c == "read-logs"));
        assert!(!d.rule.capabilities.iter().any(|c| c == "submit-job"));
        let w = &p.namespaces[1];
        assert!(w.rule.capabilities.iter().any(|c| c == "alloc-exec"));
        assert!(!w.rule.capabilities.iter().any(|c| c == "alloc-node-exec"));
        assert_eq!(p.node.as_deref(), Some("read"));
        assert_eq!(p.agent.as_deref(), Some("write"));
        assert_eq!(p.operator.unwrap().policy, "read");
    }

    #[test]
    fn errors_name_the_line() {
        check_err("namespace \"default\" {\n  policy = \n}", 2, "line 2");
        check_err(
            "namespace \"default\" {\n  policy = \"read\"\n  capabilities = [\"bogus\"]\n}",
            3,
            "Invalid namespace capability 'bogus'",
        );
        check_err(
            "namespace \"x\" {\n  policy = \"admin\"\n}",
            2,
            "Invalid namespace policy",
        );
        check_err("node {\n  policy = \"all\"\n}\n", 1, "Invalid node policy");
        check_err("\n\nfrobnicate {}\n", 3, "Invalid or duplicate policy keys");
        check_err("", 1, "Invalid policy");
    }
}
