//! `Constraint.Validate`, `Affinity.Validate` and `Spread.Validate`
//! (nomad/structs/structs.go) and `validateConstraintAttribute`
//! (nomad/structs/constraint.go).
//!
//! One deliberate gap: `regexp` targets are not compiled here, because the
//! server crate carries no regular expression engine; a bad pattern is
//! reported by the scheduler as a constraint no node satisfies. Version and
//! semver targets get a syntax check of the constraint grammar shared by
//! hashicorp/go-version and Nomad's semver helper.

use std::collections::BTreeSet;

use drover_api::{Affinity, Constraint, Spread};

use super::validate::{field, Errors};

/// Comparison operators that need a right-hand value.
const COMPARISONS: [&str; 9] = ["=", "==", "is", "!=", "not", "<", "<=", ">", ">="];
const SET_CONTAINS: [&str; 3] = ["set_contains", "set_contains_all", "set_contains_any"];

/// Interpolations a constraint may name exactly, and prefixes it may use
/// (`validConstraintExactTargets`, `validConstraintPrefixTargets`).
const EXACT_TARGETS: [&str; 5] = [
    "${node.unique.id}",
    "${node.datacenter}",
    "${node.unique.name}",
    "${node.class}",
    "${node.pool}",
];
const PREFIX_TARGETS: [&str; 3] = ["${attr.", "${device.", "${meta."];

pub(super) fn validate_constraint(c: &Constraint, path: &str, errs: &mut Errors) {
    let operand_path = field(path, "Operand");
    let rtarget_path = field(path, "RTarget");
    let op = c.operand.as_str();
    let mut requires_ltarget = true;
    match op {
        // Nomad also reports `Unknown constraint type ""`; once is enough.
        "" => errs.add(operand_path, "Missing constraint operand"),
        "distinct_hosts" => requires_ltarget = false,
        _ if SET_CONTAINS.contains(&op) => {
            if c.r_target.is_empty() {
                errs.add(rtarget_path, "Set contains constraint requires an RTarget");
            }
        }
        "regexp" => {}
        "version" => {
            if let Err(e) = check_version_constraint(&c.r_target) {
                errs.add(rtarget_path, format!("Version constraint is invalid: {e}"));
            }
        }
        "semver" => {
            if let Err(e) = check_version_constraint(&c.r_target) {
                errs.add(rtarget_path, format!("Semver constraint is invalid: {e}"));
            }
        }
        "distinct_property" => {
            if !c.r_target.is_empty() {
                match c.r_target.parse::<u64>() {
                    Err(_) => errs.add(
                        rtarget_path,
                        format!("Failed to convert RTarget {:?} to uint64", c.r_target),
                    ),
                    Ok(0) => errs.add(
                        rtarget_path,
                        "Distinct Property must have an allowed count of 1 or greater: 0 < 1",
                    ),
                    Ok(_) => {}
                }
            }
        }
        "is_set" | "is_not_set" => {
            if !c.r_target.is_empty() {
                errs.add(
                    rtarget_path,
                    format!("Operator {op:?} does not support an RTarget"),
                );
            }
        }
        _ if COMPARISONS.contains(&op) => {
            if c.r_target.is_empty() {
                errs.add(rtarget_path, format!("Operator {op:?} requires an RTarget"));
            }
        }
        _ => errs.add(operand_path, format!("Unknown constraint type {op:?}")),
    }

    if requires_ltarget {
        let ltarget_path = field(path, "LTarget");
        if c.l_target.is_empty() {
            errs.add(
                ltarget_path,
                "no attribute provided but is required by operator",
            );
        } else if let Err(e) = check_attribute(&c.l_target) {
            errs.add(ltarget_path, e);
        }
    }
}

pub(super) fn validate_affinity(a: &Affinity, path: &str, errs: &mut Errors) {
    let operand_path = field(path, "Operand");
    let rtarget_path = field(path, "RTarget");
    let op = a.operand.as_str();
    match op {
        "" => errs.add(operand_path, "Missing affinity operand"),
        _ if SET_CONTAINS.contains(&op) => {
            if a.r_target.is_empty() {
                errs.add(rtarget_path, "Set contains operators require an RTarget");
            }
        }
        "regexp" => {}
        "version" => {
            if let Err(e) = check_version_constraint(&a.r_target) {
                errs.add(rtarget_path, format!("Version affinity is invalid: {e}"));
            }
        }
        "semver" => {
            if let Err(e) = check_version_constraint(&a.r_target) {
                errs.add(rtarget_path, format!("Semver affinity is invalid: {e}"));
            }
        }
        _ if COMPARISONS.contains(&op) => {
            if a.r_target.is_empty() {
                errs.add(rtarget_path, format!("Operator {op:?} requires an RTarget"));
            }
        }
        _ => errs.add(operand_path, format!("Unknown affinity operator {op:?}")),
    }
    if a.l_target.is_empty() {
        errs.add(
            field(path, "LTarget"),
            "No LTarget provided but is required",
        );
    }
    let weight_path = field(path, "Weight");
    if a.weight == 0 {
        errs.add(weight_path, "Affinity weight cannot be zero");
    } else if !(-100..=100).contains(&a.weight) {
        errs.add(
            weight_path,
            "Affinity weight must be within the range [-100,100]",
        );
    }
}

/// Nomad's `Spread.Validate`: an attribute, a weight in 1..=100, target
/// values each named once with percentages of at most 100 that sum to at
/// most 100. Nomad does not check the attribute's syntax here (an
/// unresolvable one makes every node score -1).
pub(super) fn validate_spread(s: &Spread, path: &str, errs: &mut Errors) {
    if s.attribute.is_empty() {
        errs.add(field(path, "Attribute"), "Missing spread attribute");
    }
    if !(1..=100).contains(&s.weight) {
        errs.add(
            field(path, "Weight"),
            "Spread block must have a positive weight from 0 to 100",
        );
    }
    let mut seen = BTreeSet::new();
    let mut sum: u64 = 0;
    for (i, target) in s.spread_target.iter().enumerate() {
        let at = field(path, &format!("SpreadTarget[{i}]"));
        if !seen.insert(target.value.as_str()) {
            errs.add(
                field(&at, "Value"),
                format!("Spread target value {:?} already defined", target.value),
            );
        }
        if target.percent > 100 {
            errs.add(
                field(&at, "Percent"),
                format!(
                    "Spread target percentage for value {:?} must be between 0 and 100",
                    target.value
                ),
            );
        }
        sum += u64::from(target.percent);
    }
    if sum > 100 {
        errs.add(
            field(path, "SpreadTarget"),
            format!("Sum of spread target percentages must not be greater than 100%; got {sum}%"),
        );
    }
}

/// An interpolated target must be one the scheduler can resolve; anything
/// not starting with `$` is a literal and always fine.
fn check_attribute(target: &str) -> Result<(), String> {
    if !target.starts_with('$') {
        return Ok(());
    }
    if !target.starts_with("${") {
        return Err(format!("attribute {target:?} is missing an opening brace"));
    }
    if !target.ends_with('}') {
        return Err(format!("attribute {target:?} is missing a closing brace"));
    }
    if EXACT_TARGETS.contains(&target) || PREFIX_TARGETS.iter().any(|p| target.starts_with(p)) {
        return Ok(());
    }
    Err(format!("unsupported attribute {target:?}"))
}

/// A comma-separated list of `[op] version` clauses, where op is one of
/// `= != > < >= <= ~>` and a version is `v?N(.N)*` with an optional
/// `-prerelease` and `+metadata`. The error text is go-version's.
fn check_version_constraint(constraint: &str) -> Result<(), String> {
    const OPERATORS: [&str; 7] = [">=", "<=", "!=", "~>", "=", ">", "<"];
    for clause in constraint.split(',') {
        let trimmed = clause.trim();
        let rest = OPERATORS
            .iter()
            .find_map(|op| trimmed.strip_prefix(op))
            .unwrap_or(trimmed)
            .trim_start();
        if !is_version(rest) {
            return Err(format!("Malformed constraint: {clause}"));
        }
    }
    Ok(())
}

fn is_version(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (v, metadata) = match v.split_once('+') {
        Some((v, m)) => (v, Some(m)),
        None => (v, None),
    };
    let (core, prerelease) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '~'))
    };
    !core.is_empty()
        && core
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && prerelease.is_none_or(ident)
        && metadata.is_none_or(ident)
}
