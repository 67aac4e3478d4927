//! The ACL tables (Nomad's `acl_policy` and `acl_token`), their writes and
//! their reads.
//!
//! Tokens are keyed by accessor; the secret is stored only as its SHA-256
//! (hex), and `by_secret` (hash → accessor) is the index a request's token
//! is resolved through. It is derived: not serialized, rebuilt on restore.
//! Whether the cluster was bootstrapped is the index of the bootstrap
//! write, kept even when the bootstrap token is deleted, as Nomad's
//! `acl_token_bootstrap` index is.

use std::sync::Arc;

use drover_api::{AclPolicy, AclToken};
use serde::{Deserialize, Serialize};

use crate::command::{
    AclBootstrap, AclPolicyDelete, AclPolicyUpsert, AclTokenDelete, AclTokenRow, AclTokenUpsert,
};
use crate::tables::{Ctx, Map, Tables};
use crate::watch::{Table, WatchKey, WatchSet};
use crate::{ApplyError, State};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AclTables {
    #[serde(default, deserialize_with = "crate::maps::deserialize")]
    pub policies: Map<String, Arc<AclPolicy>>,
    #[serde(default, deserialize_with = "crate::maps::deserialize")]
    pub tokens: Map<String, Arc<AclTokenRow>>,
    /// The index of the bootstrap write; 0 until one was applied.
    #[serde(default)]
    pub bootstrap_index: u64,
    /// Secret hash → accessor. Derived.
    #[serde(skip)]
    pub by_secret: Map<String, String>,
}

impl AclTables {
    /// Rebuild the derived index from the rows (after a restore).
    pub fn rebuild(&mut self) {
        self.by_secret = self
            .tokens
            .iter()
            .map(|(acc, row)| (row.secret_hash.clone(), acc.clone()))
            .collect();
    }

    fn put_token(&mut self, row: AclTokenRow) {
        if let Some(old) = self.tokens.get(&row.token.accessor_id) {
            self.by_secret.remove(&old.secret_hash);
        }
        self.by_secret
            .insert(row.secret_hash.clone(), row.token.accessor_id.clone());
        self.tokens
            .insert(row.token.accessor_id.clone(), Arc::new(row));
    }
}

fn refuse(msg: impl Into<String>) -> ApplyError {
    ApplyError::Acl(msg.into())
}

fn check_row(acl: &AclTables, row: &AclTokenRow) -> Result<(), ApplyError> {
    if row.token.accessor_id.is_empty() || row.secret_hash.is_empty() {
        return Err(refuse("token without accessor or secret"));
    }
    if !row.token.secret_id.is_empty() {
        return Err(refuse("a stored token carries no secret"));
    }
    match acl.by_secret.get(&row.secret_hash) {
        Some(acc) if *acc != row.token.accessor_id => Err(refuse(format!(
            "token {} has the secret of another token",
            row.token.accessor_id
        ))),
        _ => Ok(()),
    }
}

/// Stamp the indexes of a token about to be stored: `CreateIndex` kept
/// from the row it replaces.
fn stamped(t: &Tables, ctx: &Ctx, row: &AclTokenRow) -> AclTokenRow {
    let mut row = row.clone();
    row.token.create_index = t
        .acl
        .tokens
        .get(&row.token.accessor_id)
        .map_or(ctx.index, |old| old.token.create_index);
    row.token.modify_index = ctx.index;
    row
}

fn touch(t: &mut Tables, ctx: &mut Ctx, table: Table) {
    t.indexes.insert(table, ctx.index);
    ctx.touched.push(WatchKey::Table(table));
}

pub(crate) fn bootstrap(t: &mut Tables, ctx: &mut Ctx, c: &AclBootstrap) -> Result<(), ApplyError> {
    if t.acl.bootstrap_index != 0 {
        return Err(refuse(format!(
            "ACL bootstrap already done (reset index: {})",
            t.acl.bootstrap_index
        )));
    }
    check_row(&t.acl, &c.token)?;
    let row = stamped(t, ctx, &c.token);
    t.acl.put_token(row);
    t.acl.bootstrap_index = ctx.index;
    touch(t, ctx, Table::AclTokens);
    Ok(())
}

pub(crate) fn upsert_policies(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AclPolicyUpsert,
) -> Result<(), ApplyError> {
    if c.policies.iter().any(|p| p.name.is_empty()) {
        return Err(refuse("policy without a name"));
    }
    for p in &c.policies {
        let mut p = p.clone();
        p.create_index = t
            .acl
            .policies
            .get(&p.name)
            .map_or(ctx.index, |old| old.create_index);
        p.modify_index = ctx.index;
        t.acl.policies.insert(p.name.clone(), Arc::new(p));
    }
    touch(t, ctx, Table::AclPolicies);
    Ok(())
}

pub(crate) fn delete_policies(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AclPolicyDelete,
) -> Result<(), ApplyError> {
    if let Some(missing) = c.names.iter().find(|n| !t.acl.policies.contains_key(*n)) {
        return Err(refuse(format!("ACL policy not found: {missing}")));
    }
    for n in &c.names {
        t.acl.policies.remove(n);
    }
    touch(t, ctx, Table::AclPolicies);
    Ok(())
}

pub(crate) fn upsert_tokens(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AclTokenUpsert,
) -> Result<(), ApplyError> {
    for row in &c.tokens {
        check_row(&t.acl, row)?;
    }
    for row in &c.tokens {
        let row = stamped(t, ctx, row);
        t.acl.put_token(row);
    }
    touch(t, ctx, Table::AclTokens);
    Ok(())
}

pub(crate) fn delete_tokens(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AclTokenDelete,
) -> Result<(), ApplyError> {
    if let Some(missing) = c.accessors.iter().find(|a| !t.acl.tokens.contains_key(*a)) {
        return Err(refuse(format!(
            "Cannot delete nonexistent tokens: {missing}"
        )));
    }
    for a in &c.accessors {
        if let Some(row) = t.acl.tokens.remove(a) {
            t.acl.by_secret.remove(&row.secret_hash);
        }
    }
    touch(t, ctx, Table::AclTokens);
    Ok(())
}

impl State {
    /// Every policy, by name.
    pub fn acl_policies(&self, ws: &mut WatchSet) -> impl Iterator<Item = &AclPolicy> {
        ws.add(WatchKey::Table(Table::AclPolicies));
        self.tables.acl.policies.values().map(|p| &**p)
    }

    pub fn acl_policy(&self, ws: &mut WatchSet, name: &str) -> Option<&AclPolicy> {
        ws.add(WatchKey::Table(Table::AclPolicies));
        self.tables.acl.policies.get(name).map(|p| &**p)
    }

    /// Every token (without its secret), by accessor.
    pub fn acl_tokens(&self, ws: &mut WatchSet) -> impl Iterator<Item = &AclToken> {
        ws.add(WatchKey::Table(Table::AclTokens));
        self.tables.acl.tokens.values().map(|r| &r.token)
    }

    pub fn acl_token(&self, ws: &mut WatchSet, accessor: &str) -> Option<&AclToken> {
        ws.add(WatchKey::Table(Table::AclTokens));
        self.tables.acl.tokens.get(accessor).map(|r| &r.token)
    }

    /// The token whose secret hashes to `secret_hash` (hex SHA-256).
    pub fn acl_token_by_secret_hash(&self, secret_hash: &str) -> Option<&AclToken> {
        let acc = self.tables.acl.by_secret.get(secret_hash)?;
        self.tables.acl.tokens.get(acc).map(|r| &r.token)
    }

    /// The stored hash of a token's secret (for an update, which keeps it).
    pub fn acl_token_secret_hash(&self, accessor: &str) -> Option<&str> {
        self.tables
            .acl
            .tokens
            .get(accessor)
            .map(|r| r.secret_hash.as_str())
    }

    /// The index of the bootstrap write, 0 before any.
    pub fn acl_bootstrap_index(&self) -> u64 {
        self.tables.acl.bootstrap_index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;

    fn row(acc: &str, hash: &str, policies: &[&str]) -> AclTokenRow {
        AclTokenRow {
            token: AclToken {
                accessor_id: acc.into(),
                token_type: if policies.is_empty() {
                    "management"
                } else {
                    "client"
                }
                .into(),
                policies: policies.iter().map(|s| s.to_string()).collect(),
                ..AclToken::default()
            },
            secret_hash: hash.into(),
        }
    }

    #[test]
    fn bootstrap_once_then_tokens_resolve_by_hash_and_survive_a_snapshot() {
        let mut st = State::default();
        let boot = |acc: &str| {
            Command::AclBootstrap(AclBootstrap {
                token: row(acc, &format!("h-{acc}"), &[]),
                now: 1,
            })
        };
        assert_eq!(st.apply(1, &boot("a")).result, Ok(()));
        let again = st.apply(2, &boot("b")).result;
        assert_eq!(
            again,
            Err(ApplyError::Acl(
                "ACL bootstrap already done (reset index: 1)".into()
            ))
        );
        let up = Command::AclTokenUpsert(AclTokenUpsert {
            tokens: vec![row("c", "h-c", &["readonly"])],
            now: 2,
        });
        assert_eq!(st.apply(3, &up).result, Ok(()));
        // A second token with the same secret is refused.
        let dup = Command::AclTokenUpsert(AclTokenUpsert {
            tokens: vec![row("d", "h-c", &["readonly"])],
            now: 2,
        });
        assert!(st.apply(4, &dup).result.is_err());
        assert_eq!(
            st.acl_token_by_secret_hash("h-c").map(|t| t.create_index),
            Some(3)
        );
        let bytes = st.snapshot().unwrap();
        let back = State::restore(&bytes, crate::EventRetention::default()).unwrap();
        assert_eq!(back.differences(&st), Vec::<&str>::new());
        assert!(back.acl_token_by_secret_hash("h-a").is_some());

        let del = Command::AclTokenDelete(AclTokenDelete {
            accessors: vec!["c".into()],
            now: 3,
        });
        assert_eq!(st.apply(5, &del).result, Ok(()));
        assert!(st.acl_token_by_secret_hash("h-c").is_none());
        assert!(st.apply(6, &del).result.is_err());
        assert_eq!(st.acl_bootstrap_index(), 1);
    }

    #[test]
    fn policies_keep_their_create_index_and_delete_all_or_nothing() {
        let mut st = State::default();
        let put = |desc: &str| {
            Command::AclPolicyUpsert(AclPolicyUpsert {
                policies: vec![AclPolicy {
                    name: "p".into(),
                    description: desc.into(),
                    ..AclPolicy::default()
                }],
                now: 1,
            })
        };
        st.apply(1, &put("one"));
        st.apply(2, &put("two"));
        let p = st.acl_policy(&mut WatchSet::new(), "p").unwrap();
        assert_eq!((p.create_index, p.modify_index), (1, 2));
        let del = Command::AclPolicyDelete(AclPolicyDelete {
            names: vec!["p".into(), "q".into()],
            now: 1,
        });
        assert!(st.apply(3, &del).result.is_err());
        assert!(st.acl_policy(&mut WatchSet::new(), "p").is_some());
    }
}
