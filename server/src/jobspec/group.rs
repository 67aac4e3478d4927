//! The `group` block and the blocks only groups (or networks) have:
//! `network` and its `port`s, `restart` (shared with tasks), `reschedule`,
//! `ephemeral_disk`, `scaling`.

use drover_api::{
    EphemeralDisk, NetworkResource, Port, ReschedulePolicy, RestartPolicy, ScalingPolicy, TaskGroup,
};
use hcl::{Block, Body, Structure};

use super::body::{leaf_block, no_labels, one_label, set_once, Decoder, Result};
use super::error::Path;
use super::job::{decode_affinity, decode_constraint, decode_spread, decode_update};
use super::task::{decode_config, decode_task};

const GROUP_IGNORED_ATTRS: &[&str] = &[
    "max_run_duration",
    "stop_after_client_disconnect",
    "max_client_disconnect",
    "prevent_reschedule_on_lost",
];

const GROUP_IGNORED_BLOCKS: &[&str] = &[
    "volume",
    "disconnect",
    "migrate",
    "service",
    "consul",
    "vault",
    "secret",
];

/// Decodes the body of `group "<name>" { .. }`, and says whether it wrote
/// `count`.
///
/// `count` not written stays 0 in the `TaskGroup`, and the `false` returned
/// with it keeps that apart from a written `count = 0`: Nomad's parser
/// leaves the count nil (api.TaskGroup.Count is a pointer) and
/// canonicalization makes it 1, while a written 0 stays 0.
pub(super) fn decode_group(
    d: &mut Decoder<'_>,
    path: &Path,
    name: &str,
    body: &Body,
) -> Result<(TaskGroup, bool)> {
    let mut group = TaskGroup {
        name: name.to_owned(),
        ..TaskGroup::default()
    };
    let mut meta_seen = false;
    let mut count_written = false;
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let at = path.attr(name);
                let expr = &attr.expr;
                match name {
                    "count" => {
                        group.count = d.int(&at, expr)?;
                        count_written = true;
                    }
                    "shutdown_delay" => group.shutdown_delay = Some(d.duration(&at, expr)?),
                    "meta" => d.string_map_attr(&at, expr, &mut meta_seen, &mut group.meta)?,
                    _ => d.other_attr(path, name, GROUP_IGNORED_ATTRS)?,
                }
            }
            Structure::Block(block) => {
                let kind = block.identifier.as_str();
                let at = path.attr(kind);
                match kind {
                    "task" => {
                        let name = one_label(path, block)?;
                        let task = decode_task(d, &path.labelled(kind, name), name, &block.body)?;
                        group.tasks.push(task);
                    }
                    "constraint" => {
                        let at = at.index(group.constraints.len());
                        group.constraints.push(decode_constraint(d, &at, block)?);
                    }
                    "affinity" => {
                        let at = at.index(group.affinities.len());
                        group.affinities.push(decode_affinity(d, &at, block)?);
                    }
                    "spread" => {
                        let at = at.index(group.spreads.len());
                        group.spreads.push(decode_spread(d, &at, block)?);
                    }
                    "network" => {
                        let at = at.index(group.networks.len());
                        group.networks.push(decode_network(d, &at, block)?);
                    }
                    "restart" => {
                        let restart = decode_restart(d, &at, block)?;
                        set_once(&mut group.restart_policy, &at, restart)?;
                    }
                    "reschedule" => {
                        let reschedule = decode_reschedule(d, &at, block)?;
                        set_once(&mut group.reschedule_policy, &at, reschedule)?;
                    }
                    "ephemeral_disk" => {
                        let disk = decode_ephemeral_disk(d, &at, block)?;
                        set_once(&mut group.ephemeral_disk, &at, disk)?;
                    }
                    "update" => {
                        let update = decode_update(d, &at, block)?;
                        set_once(&mut group.update, &at, update)?;
                    }
                    "scaling" => {
                        let scaling = decode_scaling(d, &at, block)?;
                        set_once(&mut group.scaling, &at, scaling)?;
                    }
                    "meta" => d.string_map_block(&at, block, &mut meta_seen, &mut group.meta)?,
                    _ => d.other_block(path, block, GROUP_IGNORED_BLOCKS)?,
                }
            }
        }
    }
    Ok((group, count_written))
}

/// `network { mode, port "label" { static, to, host_network } }`, at group
/// level or (deprecated in Nomad) inside a task's `resources`.
///
/// A port with a non-zero `static` is a reserved port, any other a dynamic
/// one, as Nomad's parser sorts them. `to` not written stays 0 (Nomad's
/// "same as the host port" is `-1` only when written so).
pub(super) fn decode_network(
    d: &mut Decoder<'_>,
    path: &Path,
    block: &Block,
) -> Result<NetworkResource> {
    no_labels(path, block)?;
    let mut network = NetworkResource::default();
    for structure in block.body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let at = path.attr(name);
                let expr = &attr.expr;
                match name {
                    "mode" => network.mode = d.string(&at, expr)?,
                    "device" => network.device = d.string(&at, expr)?,
                    "cidr" => network.cidr = d.string(&at, expr)?,
                    "ip" => network.ip = d.string(&at, expr)?,
                    "hostname" => network.hostname = d.string(&at, expr)?,
                    "mbits" => network.mbits = d.int(&at, expr)?,
                    _ => d.other_attr(path, name, &[])?,
                }
            }
            Structure::Block(port) if port.identifier.as_str() == "port" => {
                let label = one_label(path, port)?;
                let port = decode_port(d, &path.labelled("port", label), label, &port.body)?;
                if port.value > 0 {
                    network.reserved_ports.push(port);
                } else {
                    network.dynamic_ports.push(port);
                }
            }
            Structure::Block(other) => {
                d.other_block(path, other, &["dns", "cni", "reserved_ports"])?
            }
        }
    }
    Ok(network)
}

fn decode_port(d: &mut Decoder<'_>, path: &Path, label: &str, body: &Body) -> Result<Port> {
    let mut port = Port {
        label: label.to_owned(),
        ..Port::default()
    };
    leaf_block(d, path, body, &["ignore_collision"], |d, at, name, expr| {
        match name {
            "static" => port.value = d.int(at, expr)?,
            "to" => port.to = d.int(at, expr)?,
            "host_network" => port.host_network = d.string(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(port)
}

/// A group's `scaling { enabled, min, max, policy { .. } }` (Nomad
/// jobspec2 `ScalingPolicy`). What is not written stays absent, for
/// canonicalization (`Min` becomes the group's count); `policy` is free-form
/// and kept in the shape driver `config` blocks take.
fn decode_scaling(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<ScalingPolicy> {
    no_labels(path, block)?;
    let mut policy = ScalingPolicy::default();
    for structure in block.body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let at = path.attr(name);
                let expr = &attr.expr;
                match name {
                    "enabled" => policy.enabled = Some(d.bool(&at, expr)?),
                    "min" => policy.min = Some(d.int(&at, expr)?),
                    "max" => policy.max = Some(d.int(&at, expr)?),
                    "type" => policy.policy_type = d.string(&at, expr)?,
                    _ => d.other_attr(path, name, &[])?,
                }
            }
            Structure::Block(inner) if inner.identifier.as_str() == "policy" => {
                let at = path.attr("policy");
                no_labels(&at, inner)?;
                let value = serde_json::Value::Object(decode_config(d, &at, &inner.body)?);
                set_once(&mut policy.policy, &at, value)?;
            }
            Structure::Block(other) => d.other_block(path, other, &[])?,
        }
    }
    Ok(policy)
}

/// `restart { attempts, interval, delay, mode, render_templates }`, at group
/// or task level.
pub(super) fn decode_restart(
    d: &mut Decoder<'_>,
    path: &Path,
    block: &Block,
) -> Result<RestartPolicy> {
    no_labels(path, block)?;
    let mut policy = crate::jobs::default_restart_policy(d.job_type);
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "attempts" => policy.attempts = d.int(at, expr)?,
            "interval" => policy.interval = d.duration(at, expr)?,
            "delay" => policy.delay = d.duration(at, expr)?,
            "mode" => policy.mode = d.string(at, expr)?,
            "render_templates" => policy.render_templates = d.bool(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(policy)
}

fn decode_reschedule(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<ReschedulePolicy> {
    no_labels(path, block)?;
    let mut policy = crate::jobs::default_reschedule_policy(d.job_type).unwrap_or_default();
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "attempts" => policy.attempts = d.int(at, expr)?,
            "interval" => policy.interval = d.duration(at, expr)?,
            "delay" => policy.delay = d.duration(at, expr)?,
            "delay_function" => policy.delay_function = d.string(at, expr)?,
            "max_delay" => policy.max_delay = d.duration(at, expr)?,
            "unlimited" => policy.unlimited = d.bool(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(policy)
}

fn decode_ephemeral_disk(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<EphemeralDisk> {
    no_labels(path, block)?;
    let mut disk = EphemeralDisk::default();
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "sticky" => disk.sticky = d.bool(at, expr)?,
            "size" => disk.size_mb = d.int(at, expr)?,
            "migrate" => disk.migrate = d.bool(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(disk)
}
