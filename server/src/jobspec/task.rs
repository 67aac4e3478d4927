//! The `task` block: driver, `config`, `env`, `resources`, `logs` and the
//! shared `restart` / `constraint` / `affinity` / `meta`.

use std::collections::BTreeMap;

use drover_api::{LogConfig, Resources, Task, TaskLifecycle};
use hcl::{Block, Body, Expression, Structure};
use serde_json::{Map, Value};

use super::body::{leaf_block, no_labels, set_once, Decoder, Result};
use super::error::{JobspecErrorKind as Kind, Path};
use super::group::{decode_network, decode_restart};
use super::job::{decode_affinity, decode_constraint};

const TASK_IGNORED_ATTRS: &[&str] = &["kind"];

const TASK_IGNORED_BLOCKS: &[&str] = &[
    "service",
    "artifact",
    "vault",
    "consul",
    "template",
    "volume_mount",
    "csi_plugin",
    "scaling",
    "secret",
    "identity",
    "action",
    "schedule",
];

/// Decodes the body of `task "<name>" { .. }`.
pub(super) fn decode_task(
    d: &mut Decoder<'_>,
    path: &Path,
    name: &str,
    body: &Body,
) -> Result<Task> {
    let mut task = Task {
        name: name.to_owned(),
        ..Task::default()
    };
    let mut meta_seen = false;
    let mut env_seen = false;
    let mut config_seen = false;
    let mut resources = None;
    let mut logs = None;
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let at = path.attr(name);
                let expr = &attr.expr;
                match name {
                    "driver" => task.driver = d.string(&at, expr)?,
                    "user" => task.user = d.string(&at, expr)?,
                    "kill_timeout" => task.kill_timeout = d.duration(&at, expr)?,
                    "kill_signal" => task.kill_signal = d.string(&at, expr)?,
                    "leader" => task.leader = d.bool(&at, expr)?,
                    "shutdown_delay" => task.shutdown_delay = d.duration(&at, expr)?,
                    "env" => d.string_map_attr(&at, expr, &mut env_seen, &mut task.env)?,
                    "meta" => d.string_map_attr(&at, expr, &mut meta_seen, &mut task.meta)?,
                    _ => d.other_attr(path, name, TASK_IGNORED_ATTRS)?,
                }
            }
            Structure::Block(block) => {
                let kind = block.identifier.as_str();
                let at = path.attr(kind);
                match kind {
                    "config" => {
                        no_labels(&at, block)?;
                        if std::mem::replace(&mut config_seen, true) {
                            return Err(at.err(Kind::Duplicate));
                        }
                        task.config = decode_config(d, &at, &block.body)?.into_iter().collect();
                    }
                    "constraint" => {
                        let at = at.index(task.constraints.len());
                        task.constraints.push(decode_constraint(d, &at, block)?);
                    }
                    "affinity" => {
                        let at = at.index(task.affinities.len());
                        task.affinities.push(decode_affinity(d, &at, block)?);
                    }
                    "resources" => {
                        let value = decode_resources(d, &at, block)?;
                        set_once(&mut resources, &at, value)?;
                    }
                    "restart" => {
                        let restart = decode_restart(d, &at, block)?;
                        set_once(&mut task.restart_policy, &at, restart)?;
                    }
                    "logs" => {
                        let value = decode_logs(d, &at, block)?;
                        set_once(&mut logs, &at, value)?;
                    }
                    "dispatch_payload" => {
                        no_labels(&at, block)?;
                        let mut file = String::new();
                        leaf_block(d, &at, &block.body, &[], |d, at, name, expr| {
                            if name != "file" {
                                return Ok(false);
                            }
                            file = d.string(at, expr)?;
                            Ok(true)
                        })?;
                        let value = drover_api::DispatchPayloadConfig { file };
                        set_once(&mut task.dispatch_payload, &at, value)?;
                    }
                    "lifecycle" => {
                        let value = decode_lifecycle(d, &at, block)?;
                        set_once(&mut task.lifecycle, &at, value)?;
                    }
                    "env" => d.string_map_block(&at, block, &mut env_seen, &mut task.env)?,
                    "meta" => d.string_map_block(&at, block, &mut meta_seen, &mut task.meta)?,
                    _ => d.other_block(path, block, TASK_IGNORED_BLOCKS)?,
                }
            }
        }
    }
    task.resources = resources.unwrap_or_default();
    task.log_config = logs;
    Ok(task)
}

/// `resources { cpu, cores, memory, memory_max }`. `disk` and `iops` have
/// been ignored by Nomad for years (the group's `ephemeral_disk` sizes the
/// disk), so they are warnings here rather than fields.
fn decode_resources(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<Resources> {
    no_labels(path, block)?;
    let mut r = Resources::default();
    for structure in block.body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let at = path.attr(name);
                let expr = &attr.expr;
                match name {
                    "cpu" => r.cpu = d.int(&at, expr)?,
                    "cores" => r.cores = d.int(&at, expr)?,
                    "memory" => r.memory_mb = d.int(&at, expr)?,
                    "memory_max" => r.memory_max_mb = d.int(&at, expr)?,
                    _ => d.other_attr(path, name, &["disk", "iops", "secrets"])?,
                }
            }
            Structure::Block(network) if network.identifier.as_str() == "network" => {
                let at = path.attr("network").index(r.networks.len());
                r.networks.push(decode_network(d, &at, network)?);
            }
            Structure::Block(other) => d.other_block(path, other, &["device", "numa"])?,
        }
    }
    Ok(r)
}

/// `logs { max_files, max_file_size, disabled }`; the old `enabled` is
/// ignored, as Nomad's own canonicalization ignores it.
fn decode_logs(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<LogConfig> {
    no_labels(path, block)?;
    let mut logs = LogConfig::default();
    leaf_block(d, path, &block.body, &["enabled"], |d, at, name, expr| {
        match name {
            "max_files" => logs.max_files = d.int(at, expr)?,
            "max_file_size" => logs.max_file_size_mb = d.int(at, expr)?,
            "disabled" => logs.disabled = d.bool(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(logs)
}

/// `lifecycle { hook sidecar }`; the hook's value is checked by job
/// validation, as Nomad does.
fn decode_lifecycle(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<TaskLifecycle> {
    no_labels(path, block)?;
    let mut lc = TaskLifecycle::default();
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "hook" => lc.hook = d.string(at, expr)?,
            "sidecar" => lc.sidecar = d.bool(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(lc)
}

/// A task driver's `config` block, free-form, in the JSON shape Nomad's
/// HCL2 parser produces (`jobspec2/hclutil.BlocksAsAttrs`), because task
/// drivers decode that shape:
///
/// - attributes keep their names and values (`image = "redis:7"`);
/// - an attribute written as an object literal is wrapped in a one-element
///   list (`labels = { a = "b" }` → `"labels": [{"a": "b"}]`);
/// - nested blocks become a list of objects, one per block of that name
///   (`mount { .. } mount { .. }` → `"mount": [{..}, {..}]`);
/// - a labelled block nests its labels as keys, each wrapping a one-element
///   list (`port_map "http" { .. }` → `"port_map": [{"http": [{..}]}]`).
///
/// `${...}` runtime references inside values are kept as text.
pub(super) fn decode_config(
    d: &mut Decoder<'_>,
    path: &Path,
    body: &Body,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut blocks: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let value = d.value(&path.attr(name), &attr.expr)?;
                let value = match attr.expr {
                    Expression::Object(_) => Value::Array(vec![value]),
                    _ => value,
                };
                out.insert(name.to_owned(), value);
            }
            Structure::Block(block) => {
                let name = block.identifier.as_str();
                if name == "dynamic" {
                    // Always an error (nothing is ignored here); `other_block`
                    // words it the same way as everywhere else.
                    d.other_block(path, block, &[])?;
                }
                let list = blocks.entry(name).or_default();
                let at = path.attr(name).index(list.len());
                let mut value = Value::Object(decode_config(d, &at, &block.body)?);
                for label in block.labels.iter().rev() {
                    let mut wrapper = Map::new();
                    wrapper.insert(label.as_str().to_owned(), Value::Array(vec![value]));
                    value = Value::Object(wrapper);
                }
                list.push(value);
            }
        }
    }
    for (name, list) in blocks {
        if out.contains_key(name) {
            return Err(path.attr(name).err(Kind::Duplicate));
        }
        out.insert(name.to_owned(), Value::Array(list));
    }
    Ok(out)
}
