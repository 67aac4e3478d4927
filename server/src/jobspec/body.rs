//! The decoder's shared machinery: typed reads of attribute expressions,
//! block label checks, and the policy for names a block does not model.
//!
//! Every block decoder is a `match` on attribute and block names. What is
//! left over goes through [`Decoder::other_attr`] / [`Decoder::other_block`]
//! with that block's list of Nomad names Drover does not model: those become
//! warnings, anything else an error. Keeping the ignore lists next to each
//! decoder (rather than one global list) is what lets a typo such as
//! `cout = 3` fail while `max_client_disconnect = "1h"` passes.

use std::collections::BTreeMap;

use drover_api::{JobType, Nanos, UpdateStrategy};
use hcl::{Block, Body, Expression, Structure};
use serde_json::Value;

use super::error::{JobspecErrorKind as Kind, Path};
use super::eval::{self, Scope};
use super::JobspecError;

pub(super) type Result<T> = std::result::Result<T, JobspecError>;

/// Decoding state: the evaluated variables, the warnings so far, and what
/// a partly written `restart`, `reschedule` or group `update` block starts
/// from.
pub(super) struct Decoder<'s> {
    scope: &'s Scope,
    pub(super) warnings: Vec<String>,
    /// The job's `type`, read before its groups: the unwritten fields of
    /// a `restart` or `reschedule` block take that type's defaults, as
    /// Nomad merges such a block onto them (api/tasks.go
    /// `TaskGroup.Canonicalize`, `RestartPolicy.Merge`).
    pub(super) job_type: JobType,
    /// The job-level `update` block over Nomad's defaults: a group's
    /// `update` block starts from it (api/jobs.go merges the job's update
    /// into each group's, then the defaults).
    pub(super) update_base: UpdateStrategy,
}

impl<'s> Decoder<'s> {
    pub(super) fn new(scope: &'s Scope) -> Self {
        Decoder {
            scope,
            warnings: Vec::new(),
            job_type: JobType::default(),
            update_base: crate::jobs::default_update_strategy(),
        }
    }

    pub(super) fn value(&self, path: &Path, expr: &Expression) -> Result<Value> {
        self.scope.eval(path, expr)
    }

    pub(super) fn string(&self, path: &Path, expr: &Expression) -> Result<String> {
        eval::to_string(path, self.value(path, expr)?)
    }

    pub(super) fn int<T: TryFrom<i64> + Default>(
        &self,
        path: &Path,
        expr: &Expression,
    ) -> Result<T> {
        eval::to_int(path, self.value(path, expr)?)
    }

    pub(super) fn bool(&self, path: &Path, expr: &Expression) -> Result<bool> {
        eval::to_bool(path, self.value(path, expr)?)
    }

    pub(super) fn duration(&self, path: &Path, expr: &Expression) -> Result<Nanos> {
        eval::to_duration(path, self.value(path, expr)?)
    }

    pub(super) fn string_list(&self, path: &Path, expr: &Expression) -> Result<Vec<String>> {
        eval::to_string_list(path, self.value(path, expr)?)
    }

    /// `meta` and `env`: Nomad accepts both `meta { k = "v" }` and
    /// `meta = { "k.with.dots" = "v" }` (block keys must be identifiers), but
    /// not both in one body. `seen` tracks that across the body.
    pub(super) fn string_map_attr(
        &self,
        path: &Path,
        expr: &Expression,
        seen: &mut bool,
        into: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        if std::mem::replace(seen, true) {
            return Err(path.err(Kind::Duplicate));
        }
        *into = eval::to_string_map(path, self.value(path, expr)?)?;
        Ok(())
    }

    /// The block form of [`Decoder::string_map_attr`].
    pub(super) fn string_map_block(
        &self,
        path: &Path,
        block: &Block,
        seen: &mut bool,
        into: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        no_labels(path, block)?;
        if std::mem::replace(seen, true) {
            return Err(path.err(Kind::Duplicate));
        }
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let key = attr.key.as_str();
                    let value = self.string(&path.key(key), &attr.expr)?;
                    into.insert(key.to_owned(), value);
                }
                Structure::Block(inner) => {
                    return Err(path.attr(inner.identifier.as_str()).err(Kind::Type {
                        expected: "a string",
                        got: "a block",
                    }))
                }
            }
        }
        Ok(())
    }

    /// An attribute the decoder did not match: a warning if Nomad has it
    /// (`ignored`), an error otherwise.
    pub(super) fn other_attr(&mut self, path: &Path, name: &str, ignored: &[&str]) -> Result<()> {
        let at = path.attr(name);
        if ignored.contains(&name) {
            self.warnings.push(format!(
                "{at}: ignored; Drover does not support `{name}` yet"
            ));
            Ok(())
        } else {
            Err(at.err(Kind::UnknownAttribute))
        }
    }

    /// A block the decoder did not match: a warning if Nomad has it
    /// (`ignored`), an error otherwise. `dynamic` blocks are refused
    /// outright: ignoring one would silently drop what it generates.
    pub(super) fn other_block(
        &mut self,
        path: &Path,
        block: &Block,
        ignored: &[&str],
    ) -> Result<()> {
        let name = block.identifier.as_str();
        let at = match block.labels.first() {
            Some(label) => path.labelled(name, label.as_str()),
            None => path.attr(name),
        };
        if name == "dynamic" {
            Err(at.err(Kind::Unsupported(
                "`dynamic` blocks are not supported yet".to_owned(),
            )))
        } else if ignored.contains(&name) {
            self.warnings.push(format!(
                "{at}: ignored; Drover does not support `{name}` blocks yet"
            ));
            Ok(())
        } else {
            Err(at.err(Kind::UnknownBlock))
        }
    }
}

/// The single label of a `group "name"`-style block.
pub(super) fn one_label<'b>(path: &Path, block: &'b Block) -> Result<&'b str> {
    match block.labels.as_slice() {
        [label] => Ok(label.as_str()),
        labels => Err(path.attr(block.identifier.as_str()).err(Kind::LabelCount {
            expected: 1,
            got: labels.len(),
        })),
    }
}

/// Blocks such as `restart { .. }` take no label.
pub(super) fn no_labels(path: &Path, block: &Block) -> Result<()> {
    if block.labels.is_empty() {
        Ok(())
    } else {
        Err(path.err(Kind::LabelCount {
            expected: 0,
            got: block.labels.len(),
        }))
    }
}

/// Stores a block that may appear at most once.
pub(super) fn set_once<T>(slot: &mut Option<T>, path: &Path, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(path.err(Kind::Duplicate));
    }
    *slot = Some(value);
    Ok(())
}

/// Decodes a block whose body holds attributes only (`restart`, `update`,
/// ...): each attribute goes to `on_attr`, which returns `false` for a name
/// it does not know; those are checked against `ignored`.
pub(super) fn leaf_block(
    d: &mut Decoder<'_>,
    path: &Path,
    body: &Body,
    ignored: &[&str],
    mut on_attr: impl FnMut(&Decoder<'_>, &Path, &str, &Expression) -> Result<bool>,
) -> Result<()> {
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                if !on_attr(d, &path.attr(name), name, &attr.expr)? {
                    d.other_attr(path, name, ignored)?;
                }
            }
            Structure::Block(block) => d.other_block(path, block, ignored)?,
        }
    }
    Ok(())
}
