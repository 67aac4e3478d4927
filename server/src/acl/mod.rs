//! ACLs: the policy language ([`policy`]), a token's policies compiled
//! into an [`Acl`] (Nomad's `acl/acl.go`), token resolution against the
//! state, and which capability each `/v1` route needs ([`routes`]),
//! checked in one place ([`enforce`]).
//!
//! With ACLs off (the agent's default) none of this runs.

pub mod enforce;
pub mod handshake;
pub mod policy;
pub mod routes;
pub mod sha256;

use std::collections::{BTreeMap, BTreeSet};

use drover_api::AclToken;
use drover_state::State;

use policy::{Policy, POLICY_DENY, POLICY_LIST, POLICY_READ, POLICY_WRITE};

/// The namespace sentinel of `namespace=*` (Nomad's `AllNamespacesSentinel`).
pub const ALL_NAMESPACES: &str = "*";

/// The policy a request without a token is held to, when it exists (Nomad's
/// anonymous token's only policy).
pub const ANONYMOUS_POLICY: &str = "anonymous";

/// What a token may do: a management token anything, a client token the
/// union of its policies (deny overriding).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acl {
    management: bool,
    namespaces: BTreeMap<String, BTreeSet<String>>,
    wildcard_namespaces: BTreeMap<String, BTreeSet<String>>,
    node_pools: BTreeMap<String, BTreeSet<String>>,
    wildcard_node_pools: BTreeMap<String, BTreeSet<String>>,
    agent: String,
    node: String,
    operator: String,
    operator_capabilities: BTreeSet<String>,
    plugin: String,
}

/// Nomad's `maxPrivilege`: deny wins, then write, read, list.
fn max_privilege(a: &str, b: &str) -> String {
    for p in [POLICY_DENY, POLICY_WRITE, POLICY_READ, POLICY_LIST] {
        if a == p || b == p {
            return p.to_string();
        }
    }
    String::new()
}

/// Add `caps` to `set`; a `deny` clears the set to `deny`, and a denied set
/// takes nothing more (Nomad's `NewACL`).
fn merge_caps(set: &mut BTreeSet<String>, caps: &[String]) {
    if set.contains("deny") {
        return;
    }
    if caps.iter().any(|c| c == "deny") {
        set.clear();
        set.insert("deny".to_string());
        return;
    }
    set.extend(caps.iter().cloned());
}

/// `*` matches any run of characters (ryanuber/go-glob, which Nomad uses).
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The exact entry for `name`, else the glob closest to it (Nomad's
/// `findClosestMatchingGlob`: fewest characters the glob leaves to its
/// wildcards; the first such in name order).
fn matching<'a>(
    exact: &'a BTreeMap<String, BTreeSet<String>>,
    globs: &'a BTreeMap<String, BTreeSet<String>>,
    name: &str,
) -> Option<&'a BTreeSet<String>> {
    if let Some(set) = exact.get(name) {
        return Some(set);
    }
    globs
        .iter()
        .filter(|(g, _)| glob_match(g, name))
        .min_by_key(|(g, _)| name.len() as i64 - g.len() as i64 + g.matches('*').count() as i64)
        .map(|(_, set)| set)
}

impl Acl {
    pub fn management() -> Acl {
        Acl {
            management: true,
            ..Acl::default()
        }
    }

    /// Compile policies (Nomad's `NewACL`).
    pub fn compile(policies: &[Policy]) -> Acl {
        let mut acl = Acl::default();
        for p in policies {
            for ns in &p.namespaces {
                let table = if ns.name.contains('*') {
                    &mut acl.wildcard_namespaces
                } else {
                    &mut acl.namespaces
                };
                merge_caps(
                    table.entry(ns.name.clone()).or_default(),
                    &ns.rule.capabilities,
                );
            }
            for np in &p.node_pools {
                let table = if np.name.contains('*') {
                    &mut acl.wildcard_node_pools
                } else {
                    &mut acl.node_pools
                };
                merge_caps(
                    table.entry(np.name.clone()).or_default(),
                    &np.rule.capabilities,
                );
            }
            if let Some(a) = &p.agent {
                acl.agent = max_privilege(&acl.agent, a);
            }
            if let Some(n) = &p.node {
                acl.node = max_privilege(&acl.node, n);
            }
            if let Some(o) = &p.operator {
                acl.operator = max_privilege(&acl.operator, &o.policy);
                merge_caps(&mut acl.operator_capabilities, &o.capabilities);
            }
            if let Some(pl) = &p.plugin {
                acl.plugin = max_privilege(&acl.plugin, pl);
            }
        }
        acl
    }

    pub fn is_management(&self) -> bool {
        self.management
    }

    /// Whether `op` is granted in namespace `ns`; for `*`, in any
    /// namespace (Nomad's `AllowNamespaceOperation`).
    pub fn allow_namespace_operation(&self, ns: &str, op: &str) -> bool {
        if self.management {
            return true;
        }
        if ns == ALL_NAMESPACES {
            return self
                .namespaces
                .values()
                .chain(self.wildcard_namespaces.values())
                .any(|c| c.contains(op));
        }
        matching(&self.namespaces, &self.wildcard_namespaces, ns).is_some_and(|c| c.contains(op))
    }

    /// Whether any operation is granted in `ns` (Nomad's `AllowNamespace`).
    pub fn allow_namespace(&self, ns: &str) -> bool {
        if self.management {
            return true;
        }
        let usable = |c: &BTreeSet<String>| !c.is_empty() && !c.contains("deny");
        if ns == ALL_NAMESPACES {
            return self
                .namespaces
                .values()
                .chain(self.wildcard_namespaces.values())
                .any(usable);
        }
        matching(&self.namespaces, &self.wildcard_namespaces, ns).is_some_and(usable)
    }

    pub fn allow_node_pool_operation(&self, pool: &str, op: &str) -> bool {
        self.management
            || matching(&self.node_pools, &self.wildcard_node_pools, pool)
                .is_some_and(|c| c.contains(op))
    }

    fn level_at_least_read(&self, level: &str) -> bool {
        self.management || level == POLICY_READ || level == POLICY_WRITE
    }

    fn level_write(&self, level: &str) -> bool {
        self.management || level == POLICY_WRITE
    }

    pub fn allow_agent_read(&self) -> bool {
        self.level_at_least_read(&self.agent)
    }

    pub fn allow_agent_write(&self) -> bool {
        self.level_write(&self.agent)
    }

    pub fn allow_node_read(&self) -> bool {
        self.level_at_least_read(&self.node)
    }

    pub fn allow_node_write(&self) -> bool {
        self.level_write(&self.node)
    }

    pub fn allow_operator_read(&self) -> bool {
        self.level_at_least_read(&self.operator)
    }

    pub fn allow_operator_write(&self) -> bool {
        self.level_write(&self.operator)
    }

    /// A fine-grained operator capability such as `snapshot-save`.
    pub fn allow_operator_operation(&self, op: &str) -> bool {
        self.level_write(&self.operator)
            || (!self.operator_capabilities.contains("deny")
                && self.operator_capabilities.contains(op))
    }

    pub fn allow_plugin_read(&self) -> bool {
        self.level_at_least_read(&self.plugin)
    }
}

/// Why a token was refused; each is a 403 with Nomad's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("ACL token not found")]
    NotFound,
    #[error("ACL token expired")]
    Expired,
}

/// Who is asking: the token (None for an anonymous request) and what it
/// may do.
#[derive(Debug, Clone)]
pub struct Identity {
    pub token: Option<AclToken>,
    pub acl: Acl,
}

/// Resolve a secret against the state at `now` (unix ns). No secret is the
/// anonymous identity: the `anonymous` policy if one exists, else nothing.
/// An expired token is refused at once, whether or not a collector has
/// deleted it yet.
pub fn resolve(st: &State, secret: Option<&str>, now: i64) -> Result<Identity, ResolveError> {
    let mut ws = drover_state::WatchSet::new();
    let Some(secret) = secret else {
        let acl = st
            .acl_policy(&mut ws, ANONYMOUS_POLICY)
            .and_then(|p| policy::parse(&p.rules).ok())
            .map(|p| Acl::compile(&[p]))
            .unwrap_or_default();
        return Ok(Identity { token: None, acl });
    };
    let token = st
        .acl_token_by_secret_hash(&sha256::hex(secret.as_bytes()))
        .ok_or(ResolveError::NotFound)?;
    if token.is_expired(now) {
        return Err(ResolveError::Expired);
    }
    let acl = if token.is_management() {
        Acl::management()
    } else {
        // Policies that are gone, or whose rules no longer parse, grant
        // nothing (Nomad skips missing policies too).
        let policies: Vec<Policy> = token
            .policies
            .iter()
            .filter_map(|name| st.acl_policy(&mut ws, name))
            .filter_map(|p| policy::parse(&p.rules).ok())
            .collect();
        Acl::compile(&policies)
    };
    Ok(Identity {
        token: Some(token.clone()),
        acl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rules: &str) -> Acl {
        Acl::compile(&[policy::parse(rules).unwrap()])
    }

    #[test]
    fn globs_and_deny() {
        assert!(glob_match("team-*", "team-a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b*c", "aXcYb"));
        assert!(!glob_match("team-*", "tea"));

        let a = acl(r#"
namespace "*" { policy = "read" }
namespace "prod-*" { policy = "deny" }
namespace "prod-web" { policy = "write" }
node { policy = "read" }
"#);
        assert!(a.allow_namespace_operation("default", "read-job"));
        assert!(!a.allow_namespace_operation("default", "submit-job"));
        assert!(!a.allow_namespace_operation("prod-db", "read-job"));
        assert!(a.allow_namespace_operation("prod-web", "alloc-exec"));
        assert!(!a.allow_namespace_operation("prod-web", "alloc-node-exec"));
        assert!(a.allow_namespace_operation(ALL_NAMESPACES, "submit-job"));
        assert!(a.allow_node_read() && !a.allow_node_write());
        assert!(!a.allow_agent_read() && !a.allow_operator_read());
        assert!(Acl::management().allow_operator_write());
        assert!(!Acl::default().allow_namespace("default"));
    }

    #[test]
    fn deny_in_any_policy_overrides() {
        let a = Acl::compile(&[
            policy::parse("namespace \"default\" { policy = \"write\" }").unwrap(),
            policy::parse("namespace \"default\" { capabilities = [\"deny\"] }").unwrap(),
        ]);
        assert!(!a.allow_namespace_operation("default", "read-job"));
        assert!(!a.allow_namespace("default"));
    }
}
