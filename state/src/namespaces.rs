//! The namespaces table (Nomad's `namespaces`), its validation and reads.
//!
//! `default` always exists. A fresh state holds it at index 1, as Nomad's
//! `namespaceInit` creates it (nomad/state/state_store.go), and so does a
//! snapshot written before this table existed: the table's serde default
//! is the table with `default` alone. It may be changed (a description)
//! but never deleted, so every state has it.

use std::sync::Arc;

use drover_api::{JobStatus, Namespace, DEFAULT_NAMESPACE_NAME};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tables::{Map, Tables};
use crate::watch::{Table, WatchKey, WatchSet};
use crate::State;

/// Nomad's `maxNamespaceDescriptionLength` (nomad/structs/structs.go).
pub const MAX_DESCRIPTION_LENGTH: usize = 256;

/// Namespaces by name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Namespaces(pub Map<String, Arc<Namespace>>);

impl Default for Namespaces {
    fn default() -> Self {
        let default = Namespace::default_namespace();
        Namespaces(Map::unit(default.name.clone(), Arc::new(default)))
    }
}

impl Serialize for Namespaces {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Namespaces {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::maps::deserialize(d).map(Namespaces)
    }
}

/// Whether `name` is a valid namespace name: Nomad's `validNamespaceName`,
/// `^[a-zA-Z0-9-]{1,128}$`.
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What is wrong with a namespace a user wrote, in Nomad's words
/// (`Namespace.Validate`); empty when nothing is. Drover has no quotas,
/// so any quota is one that does not exist (Nomad's state store refuses
/// those), and no node pool governance.
pub fn problems(ns: &Namespace) -> Vec<String> {
    let mut out = Vec::new();
    if !valid_name(&ns.name) {
        out.push(format!(
            "invalid name {:?}. Must match regex ^[a-zA-Z0-9-]{{1,128}}$",
            ns.name
        ));
    }
    if ns.description.len() > MAX_DESCRIPTION_LENGTH {
        out.push(format!("description longer than {MAX_DESCRIPTION_LENGTH}"));
    }
    // Nomad's community edition refuses any (nomad/structs/structs_ce.go);
    // Drover, which has no node pool governance either, does the same.
    if ns.node_pool_configuration.is_some() {
        out.push(
            "invalid node pool configuration: Node Pools Governance is unlicensed.".to_string(),
        );
    }
    if !ns.quota.is_empty() {
        out.push(format!(
            "namespace {:?} using non-existent quota {:?}",
            ns.name, ns.quota
        ));
    }
    out
}

/// The first job of namespace `name` that is not dead, if any: such a job
/// keeps its namespace from being deleted.
pub(crate) fn live_job(t: &Tables, name: &str) -> Option<String> {
    t.jobs
        .range((name.to_string(), String::new())..)
        .take_while(|((ns, _), _)| ns == name)
        .find(|(_, j)| j.status != JobStatus::Dead)
        .map(|((_, id), _)| id.clone())
}

impl State {
    /// Whether namespace `name` exists (unwatched: for handlers that check
    /// a write before they send it).
    pub fn namespace_exists(&self, name: &str) -> bool {
        self.tables.namespaces.0.contains_key(name)
    }

    /// One namespace by name.
    pub fn namespace(&self, ws: &mut WatchSet, name: &str) -> Option<&Namespace> {
        ws.add(WatchKey::Table(Table::Namespaces));
        self.tables.namespaces.0.get(name).map(|n| &**n)
    }

    /// Namespaces whose name starts with `prefix`, in name order.
    pub fn namespaces<'a>(
        &'a self,
        ws: &mut WatchSet,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Namespace> + 'a {
        ws.add(WatchKey::Table(Table::Namespaces));
        self.tables
            .namespaces
            .0
            .range(prefix.to_string()..)
            .take_while(move |(name, _)| name.starts_with(prefix))
            .map(|(_, n)| &**n)
    }

    /// Every namespace name, in order (what `namespace=*` stands for).
    pub fn namespace_names(&self) -> Vec<String> {
        self.tables.namespaces.0.keys().cloned().collect()
    }
}

/// The namespace a fresh state and an old snapshot start with.
pub fn is_default(name: &str) -> bool {
    name == DEFAULT_NAMESPACE_NAME
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_nomads_pattern() {
        for ok in ["default", "a", "team-a", "A9", &"x".repeat(128)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a.b", "a b", "a_b", "*", "ü", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn problems_name_each_field() {
        let ns = Namespace {
            name: "a.b".into(),
            description: "d".repeat(257),
            quota: "q".into(),
            node_pool_configuration: Some(Default::default()),
            ..Namespace::default()
        };
        let p = problems(&ns);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].starts_with("invalid name \"a.b\""), "{p:?}");
        assert_eq!(p[1], "description longer than 256");
        assert_eq!(
            p[2],
            "invalid node pool configuration: Node Pools Governance is unlicensed."
        );
        assert_eq!(p[3], "namespace \"a.b\" using non-existent quota \"q\"");
        assert!(problems(&Namespace::default_namespace()).is_empty());
    }
}
