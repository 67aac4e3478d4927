//! The `job` block and the blocks shared by job, group and task:
//! `constraint`, `affinity`, `spread`, `update`; plus `periodic` and
//! `parameterized` as Nomad's `PeriodicConfig` and `ParameterizedJobConfig`.

use drover_api::{
    Affinity, Constraint, Job, JobType, ParameterizedJobConfig, PeriodicConfig, Spread,
    SpreadTarget, TaskGroup, UpdateStrategy,
};
use hcl::{Block, Body, Structure};

use super::body::{leaf_block, no_labels, one_label, set_once, Decoder, Result};
use super::error::{JobspecErrorKind as Kind, Path};
use super::group::decode_group;
use super::task::decode_task;

/// Job-level blocks Nomad has and Drover does not model (yet).
const JOB_IGNORED_BLOCKS: &[&str] = &[
    "multiregion",
    "reschedule",
    "migrate",
    "ui",
    "vault",
    "secret",
    "consul",
];

/// Decodes the body of `job "<label>" { .. }`; returns the job and the
/// indices of its groups that set no `count` (see [`decode_group`]).
///
/// `ID` and `Name` default to the label, as in Nomad (an `id` or `name`
/// attribute overrides them). Nothing else is defaulted: that is
/// canonicalization's job, so a missing `type` stays `service` only because
/// that is `JobType::default()`, and a missing `priority` stays 0.
pub(super) fn decode_job(
    d: &mut Decoder<'_>,
    label: &str,
    body: &Body,
) -> Result<(Job, Vec<usize>)> {
    let path = Path::root("job");
    let mut job = Job {
        id: label.to_owned(),
        name: label.to_owned(),
        ..Job::default()
    };
    let mut meta_seen = false;
    // Nomad turns tasks written directly in the job into groups of one
    // task each, named after the task, placed before the written groups.
    let mut lone_task_groups = Vec::new();
    // Whether each of `job.task_groups` wrote `count`, in the same order.
    let mut count_written = Vec::new();
    read_bases(d, &path, body);

    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let at = path.attr(name);
                let expr = &attr.expr;
                match name {
                    "id" => job.id = d.string(&at, expr)?,
                    "name" => job.name = d.string(&at, expr)?,
                    "region" => job.region = d.string(&at, expr)?,
                    "namespace" => job.namespace = d.string(&at, expr)?,
                    "type" => job.job_type = job_type(&at, &d.string(&at, expr)?)?,
                    "priority" => job.priority = d.int(&at, expr)?,
                    "all_at_once" => job.all_at_once = d.bool(&at, expr)?,
                    "datacenters" => job.datacenters = d.string_list(&at, expr)?,
                    "node_pool" => job.node_pool = d.string(&at, expr)?,
                    "meta" => d.string_map_attr(&at, expr, &mut meta_seen, &mut job.meta)?,
                    _ => d.other_attr(&path, name, &[])?,
                }
            }
            Structure::Block(block) => {
                let kind = block.identifier.as_str();
                match kind {
                    "group" => {
                        let name = one_label(&path, block)?;
                        let (group, written) =
                            decode_group(d, &path.labelled(kind, name), name, &block.body)?;
                        job.task_groups.push(group);
                        count_written.push(written);
                    }
                    "task" => {
                        let name = one_label(&path, block)?;
                        let task = decode_task(d, &path.labelled(kind, name), name, &block.body)?;
                        lone_task_groups.push(TaskGroup {
                            name: name.to_owned(),
                            tasks: vec![task],
                            ..TaskGroup::default()
                        });
                    }
                    "constraint" => {
                        let at = path.attr(kind).index(job.constraints.len());
                        job.constraints.push(decode_constraint(d, &at, block)?);
                    }
                    "affinity" => {
                        let at = path.attr(kind).index(job.affinities.len());
                        job.affinities.push(decode_affinity(d, &at, block)?);
                    }
                    "spread" => {
                        let at = path.attr(kind).index(job.spreads.len());
                        job.spreads.push(decode_spread(d, &at, block)?);
                    }
                    "update" => {
                        let at = path.attr(kind);
                        let update = decode_update(d, &at, block)?;
                        set_once(&mut job.update, &at, update)?;
                    }
                    "periodic" => {
                        let at = path.attr(kind);
                        let periodic = decode_periodic(d, &at, block)?;
                        set_once(&mut job.periodic, &at, periodic)?;
                    }
                    "parameterized" => {
                        let at = path.attr(kind);
                        let parameterized = decode_parameterized(d, &at, block)?;
                        set_once(&mut job.parameterized_job, &at, parameterized)?;
                    }
                    "meta" => {
                        let at = path.attr(kind);
                        d.string_map_block(&at, block, &mut meta_seen, &mut job.meta)?;
                    }
                    _ => d.other_block(&path, block, JOB_IGNORED_BLOCKS)?,
                }
            }
        }
    }

    // A lone task's group has no `count` of its own.
    let mut count_written_all = vec![false; lone_task_groups.len()];
    count_written_all.append(&mut count_written);
    if !lone_task_groups.is_empty() {
        lone_task_groups.append(&mut job.task_groups);
        job.task_groups = lone_task_groups;
    }
    let count_unset = count_written_all
        .iter()
        .enumerate()
        .filter_map(|(i, written)| (!written).then_some(i))
        .collect();
    Ok((job, count_unset))
}

fn job_type(path: &Path, value: &str) -> Result<JobType> {
    [
        JobType::Service,
        JobType::Batch,
        JobType::System,
        JobType::Sysbatch,
    ]
    .into_iter()
    .find(|t| t.as_str() == value)
    .ok_or_else(|| {
        path.err(Kind::Invalid(format!(
            "unknown job type {value:?}; expected service, batch, system or sysbatch"
        )))
    })
}

/// `constraint { attribute, operator, value }`, or one of Nomad's
/// shorthands (`distinct_hosts = true`, `distinct_property = "${meta.rack}"`,
/// `version = ">= 1.2"`, `regexp = ".."`, ...), which set the operator.
/// When several are written the later one in Nomad's order wins, as there.
pub(super) fn decode_constraint(
    d: &mut Decoder<'_>,
    path: &Path,
    block: &Block,
) -> Result<Constraint> {
    no_labels(path, block)?;
    let mut c = Constraint::default();
    let mut shorthands: Vec<(&'static str, String)> = Vec::new();
    let mut distinct_hosts = None;
    let mut distinct_property = String::new();
    leaf_block(
        d,
        path,
        &block.body,
        &["is_set", "is_not_set"],
        |d, at, name, expr| {
            match name {
                "attribute" => c.l_target = d.string(at, expr)?,
                "value" => c.r_target = d.string(at, expr)?,
                "operator" => c.operand = d.string(at, expr)?,
                "distinct_hosts" => distinct_hosts = Some(d.bool(at, expr)?),
                "distinct_property" => distinct_property = d.string(at, expr)?,
                _ => match OPERATOR_SHORTHANDS.iter().find(|op| **op == name) {
                    Some(op) => shorthands.push((op, d.string(at, expr)?)),
                    None => return Ok(false),
                },
            }
            Ok(true)
        },
    )?;
    apply_shorthands(&mut c.operand, &mut c.r_target, shorthands);
    if let Some(hosts) = distinct_hosts {
        c.operand = "distinct_hosts".to_owned();
        c.r_target = hosts.to_string();
    }
    if !distinct_property.is_empty() {
        c.operand = "distinct_property".to_owned();
        c.l_target = distinct_property;
    }
    if c.operand.is_empty() {
        c.operand = "=".to_owned();
    }
    Ok(c)
}

/// `affinity { attribute, operator, value, weight }` with the same operator
/// shorthands as constraints. `weight` is an int8 in Nomad, so values
/// outside -128..=127 are rejected here; the -100..=100 rule is validation's.
pub(super) fn decode_affinity(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<Affinity> {
    no_labels(path, block)?;
    let mut a = Affinity::default();
    let mut shorthands: Vec<(&'static str, String)> = Vec::new();
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "attribute" => a.l_target = d.string(at, expr)?,
            "value" => a.r_target = d.string(at, expr)?,
            "operator" => a.operand = d.string(at, expr)?,
            "weight" => a.weight = i32::from(d.int::<i8>(at, expr)?),
            _ => match OPERATOR_SHORTHANDS.iter().find(|op| **op == name) {
                Some(op) => shorthands.push((op, d.string(at, expr)?)),
                None => return Ok(false),
            },
        }
        Ok(true)
    })?;
    apply_shorthands(&mut a.operand, &mut a.r_target, shorthands);
    if a.operand.is_empty() {
        a.operand = "=".to_owned();
    }
    Ok(a)
}

/// `spread { attribute, weight, target "<value>" { percent } }`. `weight`
/// is an int8 and `percent` a uint8 in Nomad, so values outside those types
/// are rejected here; the 1..=100 and sum-to-100 rules are validation's, and
/// an unwritten weight stays 0 here (canonicalization's 50 is Nomad's API
/// default, not the parser's).
pub(super) fn decode_spread(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<Spread> {
    no_labels(path, block)?;
    let mut spread = Spread::default();
    for structure in block.body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str();
                let at = path.attr(name);
                match name {
                    "attribute" => spread.attribute = d.string(&at, &attr.expr)?,
                    "weight" => spread.weight = i32::from(d.int::<i8>(&at, &attr.expr)?),
                    _ => d.other_attr(path, name, &[])?,
                }
            }
            Structure::Block(target) if target.identifier.as_str() == "target" => {
                let value = one_label(path, target)?;
                let at = path.labelled("target", value);
                spread
                    .spread_target
                    .push(decode_spread_target(d, &at, value, &target.body)?);
            }
            Structure::Block(other) => d.other_block(path, other, &[])?,
        }
    }
    Ok(spread)
}

fn decode_spread_target(
    d: &mut Decoder<'_>,
    path: &Path,
    value: &str,
    body: &Body,
) -> Result<SpreadTarget> {
    let mut target = SpreadTarget {
        value: value.to_owned(),
        ..SpreadTarget::default()
    };
    leaf_block(d, path, body, &[], |d, at, name, expr| {
        match name {
            "percent" => target.percent = u32::from(d.int::<u8>(at, expr)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(target)
}

/// Attributes that name their operator: `regexp = "^linux"` means
/// `operator = "regexp", value = "^linux"`. Listed in the order Nomad
/// applies them, so the last one written in this order wins.
const OPERATOR_SHORTHANDS: &[&str] = &[
    "version",
    "semver",
    "regexp",
    "set_contains_any",
    "set_contains_all",
    "set_contains",
];

fn apply_shorthands(operand: &mut String, r_target: &mut String, written: Vec<(&str, String)>) {
    for op in OPERATOR_SHORTHANDS {
        if let Some((_, value)) = written.iter().find(|(name, v)| name == op && !v.is_empty()) {
            *operand = (*op).to_owned();
            *r_target = value.clone();
        }
    }
}

/// Reads the job's `type` and job-level `update` block ahead of its
/// groups, whatever the order they are written in, as the bases of the
/// groups' partly written blocks ([`Decoder::job_type`],
/// [`Decoder::update_base`]). Errors are left for the main pass to report
/// with their position, and so are warnings.
fn read_bases(d: &mut Decoder<'_>, path: &Path, body: &Body) {
    let warnings = d.warnings.len();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) if attr.key.as_str() == "type" => {
                let at = path.attr("type");
                if let Ok(t) = d.string(&at, &attr.expr).and_then(|s| job_type(&at, &s)) {
                    d.job_type = t;
                }
            }
            Structure::Block(block) if block.identifier.as_str() == "update" => {
                if let Ok(u) = decode_update(d, &path.attr("update"), block) {
                    d.update_base = u;
                }
            }
            _ => {}
        }
    }
    d.warnings.truncate(warnings);
}

/// `update { .. }` at job or group level.
pub(super) fn decode_update(
    d: &mut Decoder<'_>,
    path: &Path,
    block: &Block,
) -> Result<UpdateStrategy> {
    no_labels(path, block)?;
    let mut u = d.update_base.clone();
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "stagger" => u.stagger = d.duration(at, expr)?,
            "max_parallel" => u.max_parallel = d.int(at, expr)?,
            "health_check" => u.health_check = d.string(at, expr)?,
            "min_healthy_time" => u.min_healthy_time = d.duration(at, expr)?,
            "healthy_deadline" => u.healthy_deadline = d.duration(at, expr)?,
            "progress_deadline" => u.progress_deadline = d.duration(at, expr)?,
            "auto_revert" => u.auto_revert = d.bool(at, expr)?,
            "auto_promote" => u.auto_promote = d.bool(at, expr)?,
            "canary" => u.canary = d.int(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(u)
}

/// `periodic { cron = "*/5 * * * *" }` as Nomad's `PeriodicConfig`; what
/// is not written keeps the API's defaults (enabled, cron, UTC).
fn decode_periodic(d: &mut Decoder<'_>, path: &Path, block: &Block) -> Result<PeriodicConfig> {
    no_labels(path, block)?;
    let mut out = PeriodicConfig::default();
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "enabled" => out.enabled = d.bool(at, expr)?,
            "cron" => out.spec = d.string(at, expr)?,
            "crons" => out.specs = d.string_list(at, expr)?,
            "prohibit_overlap" => out.prohibit_overlap = d.bool(at, expr)?,
            "time_zone" => out.time_zone = d.string(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

/// `parameterized { payload, meta_required, meta_optional }` as Nomad's
/// `ParameterizedJobConfig` (an unwritten `payload` is `optional`).
fn decode_parameterized(
    d: &mut Decoder<'_>,
    path: &Path,
    block: &Block,
) -> Result<ParameterizedJobConfig> {
    no_labels(path, block)?;
    let mut out = ParameterizedJobConfig {
        payload: drover_api::DISPATCH_PAYLOAD_OPTIONAL.to_owned(),
        ..Default::default()
    };
    leaf_block(d, path, &block.body, &[], |d, at, name, expr| {
        match name {
            "payload" => out.payload = d.string(at, expr)?,
            "meta_required" => out.meta_required = d.string_list(at, expr)?,
            "meta_optional" => out.meta_optional = d.string_list(at, expr)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}
