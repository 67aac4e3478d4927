//! Namespace writes (Nomad's `UpsertNamespaces` and `DeleteNamespaces`,
//! nomad/state/state_store.go). Nothing blocks on one namespace alone:
//! reads watch the table.

use std::sync::Arc;

use crate::command::{NamespaceDelete, NamespaceUpsert};
use crate::namespaces::{is_default, live_job, problems};
use crate::tables::{Ctx, Tables};
use crate::watch::Table;
use crate::ApplyError;

pub(super) fn upsert(t: &mut Tables, ctx: &mut Ctx, c: &NamespaceUpsert) -> Result<(), ApplyError> {
    if c.namespaces.is_empty() {
        return Err(ApplyError::Namespace(
            "must specify at least one namespace".into(),
        ));
    }
    for ns in &c.namespaces {
        if let Some(p) = problems(ns).into_iter().next() {
            return Err(ApplyError::Namespace(format!(
                "Invalid namespace {:?}: {p}",
                ns.name
            )));
        }
    }
    for ns in &c.namespaces {
        let mut ns = ns.clone();
        ns.create_index = t
            .namespaces
            .0
            .get(&ns.name)
            .map_or(ctx.index, |old| old.create_index);
        ns.modify_index = ctx.index;
        t.namespaces.0.insert(ns.name.clone(), Arc::new(ns));
    }
    t.touch_table(ctx, Table::Namespaces);
    Ok(())
}

pub(super) fn delete(t: &mut Tables, ctx: &mut Ctx, c: &NamespaceDelete) -> Result<(), ApplyError> {
    if c.names.is_empty() {
        return Err(ApplyError::Namespace(
            "must specify at least one namespace to delete".into(),
        ));
    }
    for name in &c.names {
        if !t.namespaces.0.contains_key(name) {
            return Err(ApplyError::Namespace("namespace not found".into()));
        }
        if is_default(name) {
            return Err(ApplyError::Namespace(
                "default namespace can not be deleted".into(),
            ));
        }
        if let Some(job) = live_job(t, name) {
            return Err(ApplyError::Namespace(format!(
                "namespace {name:?} contains at least one non-terminal job {job:?}. \
                 All jobs must be terminal in namespace before it can be deleted"
            )));
        }
    }
    for name in &c.names {
        t.namespaces.0.remove(name);
    }
    t.touch_table(ctx, Table::Namespaces);
    Ok(())
}
