//! Feasibility: can this node run this task group at all, ignoring how full
//! it is? (Nomad's `scheduler/feasible/feasible.go`.)
//!
//! Every check is a pure function of the node, the job and, for the
//! `distinct_*` constraints, the job's allocations already placed or
//! proposed. A node that fails a check is recorded in the placement's
//! [`AllocMetric`] the way Nomad records it, so `nomad alloc status` /
//! `nomad job status` explanations ("1 node(s) filtered by constraint
//! `${attr.kernel.name} = linux`") read the same against Drover.
//!
//! Nothing here panics on any input: targets, regexps, versions and counts
//! that fail to parse make the constraint unsatisfied, never an error.

use std::collections::BTreeSet;

use drover_api::{
    AllocMetric, Allocation, Constraint, Job, Node, NodeStatus, SchedulingEligibility, TaskGroup,
};

/// Nomad's `FilterConstraintDrivers`.
pub const FILTER_CONSTRAINT_DRIVERS: &str = "missing drivers";
/// Nomad's `structs.ConstraintDistinctHosts`, also the filter reason.
pub const CONSTRAINT_DISTINCT_HOSTS: &str = "distinct_hosts";
/// Nomad's `structs.ConstraintDistinctProperty`.
pub const CONSTRAINT_DISTINCT_PROPERTY: &str = "distinct_property";
/// The pool every node without an explicit one belongs to.
pub const NODE_POOL_DEFAULT: &str = "default";
/// The pseudo-pool that matches every node.
pub const NODE_POOL_ALL: &str = "all";

/// One test a node must pass for a task group to be placed there; on failure
/// the checker records why in `metric` (Nomad's `FeasibilityChecker`).
pub trait FeasibilityChecker {
    fn feasible(&self, node: &Node, metric: &mut AllocMetric) -> bool;
}

/// Checks that every task's driver is detected and healthy on the node
/// (Nomad's `DriverChecker`).
pub struct DriverChecker<'a> {
    pub tg: &'a TaskGroup,
}

impl FeasibilityChecker for DriverChecker<'_> {
    fn feasible(&self, node: &Node, metric: &mut AllocMetric) -> bool {
        let ok = self
            .tg
            .tasks
            .iter()
            .all(|task| has_driver(node, &task.driver));
        if !ok {
            filter_node(metric, node, Some(FILTER_CONSTRAINT_DRIVERS));
        }
        ok
    }
}

/// Checks a list of constraints in order; the first that fails is the
/// recorded reason (Nomad's `ConstraintChecker`). `distinct_hosts` and
/// `distinct_property` pass here: they need the job's allocations and are
/// checked by [`distinct_ok`].
pub struct ConstraintChecker<'a> {
    pub constraints: Vec<&'a Constraint>,
}

impl FeasibilityChecker for ConstraintChecker<'_> {
    fn feasible(&self, node: &Node, metric: &mut AllocMetric) -> bool {
        for c in &self.constraints {
            if !meets_constraint(c, node) {
                filter_node(metric, node, Some(&constraint_string(c)));
                return false;
            }
        }
        true
    }
}

/// Whether `node` can run `tg` of `job`, recording the outcome in `metric`.
///
/// Order follows Nomad's generic stack: the node source (status,
/// eligibility, datacenter, pool), then job constraints, then the task
/// group's drivers, then group and task constraints together.
///
/// Deviation: Nomad drops not-ready, ineligible, other-datacenter and
/// other-pool nodes before the stack, so they never show in the metric.
/// Here every node passed in counts as evaluated, and those early rejects
/// count as filtered (with the node's class) but carry no
/// `ConstraintFiltered` reason, since Nomad has no reason string for them.
pub fn node_is_feasible(node: &Node, job: &Job, tg: &TaskGroup, metric: &mut AllocMetric) -> bool {
    metric.nodes_evaluated += 1;

    if node.status != NodeStatus::Ready
        || node.scheduling_eligibility != SchedulingEligibility::Eligible
        || !datacenter_matches(&job.datacenters, &node.datacenter)
        || !pool_matches(&job.node_pool, &node.node_pool)
    {
        filter_node(metric, node, None);
        return false;
    }

    let job_constraints = ConstraintChecker {
        constraints: job.constraints.iter().collect(),
    };
    let drivers = DriverChecker { tg };
    let tg_constraints = ConstraintChecker {
        constraints: tg
            .constraints
            .iter()
            .chain(tg.tasks.iter().flat_map(|t| t.constraints.iter()))
            .collect(),
    };
    let checkers: [&dyn FeasibilityChecker; 3] = [&job_constraints, &drivers, &tg_constraints];
    checkers.iter().all(|c| c.feasible(node, metric))
}

/// The `distinct_hosts` and `distinct_property` checks, which depend on the
/// job's other allocations (Nomad's `DistinctHostsIterator` then
/// `DistinctPropertyIterator`).
///
/// `existing` is the job's non-terminal allocations, stored or proposed.
/// `all_nodes` looks up the node of each of them, to read its property value.
///
/// * `distinct_hosts` at job level: no allocation of the job on this node;
///   at group level: none of the same task group. An `RTarget` of `false`
///   disables it; anything unparsable enforces it (as Nomad).
/// * `distinct_property`: fewer than `RTarget` (default 1) allocations
///   already share this node's value of `LTarget`; at job level all of the
///   job's allocations count, at group level only the same task group's.
///
/// Does not bump `NodesEvaluated`: the node was counted by
/// [`node_is_feasible`]; a rejection only adds to the filtered counts.
pub fn distinct_ok<'n>(
    node: &Node,
    job: &Job,
    tg: &TaskGroup,
    existing: &[&Allocation],
    all_nodes: &dyn Fn(&str) -> Option<&'n Node>,
    metric: &mut AllocMetric,
) -> bool {
    let job_hosts = has_distinct_hosts(&job.constraints);
    let tg_hosts = has_distinct_hosts(&tg.constraints);
    if job_hosts || tg_hosts {
        let collision = existing.iter().any(|a| {
            let same_job = a.job_id == job.id;
            a.node_id == node.id && same_job && (job_hosts || a.task_group == tg.name)
        });
        if collision {
            filter_node(metric, node, Some(CONSTRAINT_DISTINCT_HOSTS));
            return false;
        }
    }

    let job_props = job.constraints.iter().map(|c| (c, None));
    let tg_props = tg.constraints.iter().map(|c| (c, Some(tg.name.as_str())));
    for (c, group) in job_props.chain(tg_props) {
        if c.operand != CONSTRAINT_DISTINCT_PROPERTY {
            continue;
        }
        if let Err(reason) = distinct_property_ok(c, group, node, job, existing, all_nodes) {
            filter_node(metric, node, Some(&reason));
            return false;
        }
    }
    true
}

/// Nomad's `AllocMetric.FilterNode`.
fn filter_node(metric: &mut AllocMetric, node: &Node, reason: Option<&str>) {
    metric.nodes_filtered += 1;
    if !node.node_class.is_empty() {
        *metric
            .class_filtered
            .entry(node.node_class.clone())
            .or_insert(0) += 1;
    }
    if let Some(reason) = reason {
        *metric
            .constraint_filtered
            .entry(reason.to_string())
            .or_insert(0) += 1;
    }
}

/// Nomad's `Constraint.String()`: the three fields joined by spaces.
pub fn constraint_string(c: &Constraint) -> String {
    format!("{} {} {}", c.l_target, c.operand, c.r_target)
}

/// An empty list matches everything: Nomad ≥ 1.5 canonicalizes a job
/// without datacenters to `["*"]`.
pub fn datacenter_matches(patterns: &[String], dc: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob_match(p, dc))
}

/// `*` matches any run of characters, as in the `go-glob` Nomad uses; no
/// other character is special.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*` at all: exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// A job pool of "" or `all` takes any node; a node without a pool is in
/// `default`. (Nomad canonicalizes "" to `default` at registration; here
/// the job side is taken as already canonical and "" stays permissive.)
pub fn pool_matches(job_pool: &str, node_pool: &str) -> bool {
    if job_pool.is_empty() || job_pool == NODE_POOL_ALL {
        return true;
    }
    let node_pool = if node_pool.is_empty() {
        NODE_POOL_DEFAULT
    } else {
        node_pool
    };
    job_pool == node_pool
}

/// A driver is usable if its `DriverInfo` says detected and healthy; nodes
/// without one fall back to the pre-0.8 `driver.<name>` boolean attribute.
fn has_driver(node: &Node, driver: &str) -> bool {
    if let Some(info) = node.drivers.get(driver) {
        return info.detected && info.healthy;
    }
    node.attributes
        .get(&format!("driver.{driver}"))
        .and_then(|v| parse_go_bool(v))
        .unwrap_or(false)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn has_distinct_hosts(constraints: &[Constraint]) -> bool {
    // Like Nomad, only the first distinct_hosts constraint is considered.
    constraints
        .iter()
        .find(|c| c.operand == CONSTRAINT_DISTINCT_HOSTS)
        .is_some_and(|c| c.r_target.is_empty() || parse_go_bool(&c.r_target).unwrap_or(true))
}

/// One `distinct_property` constraint; `Err` is the filter reason, worded
/// as Nomad's `propertySet` words it.
fn distinct_property_ok<'n>(
    c: &Constraint,
    group: Option<&str>,
    node: &Node,
    job: &Job,
    existing: &[&Allocation],
    all_nodes: &dyn Fn(&str) -> Option<&'n Node>,
) -> Result<(), String> {
    let allowed: u64 = if c.r_target.is_empty() {
        1
    } else {
        c.r_target
            .parse()
            .map_err(|_| format!("failed to convert RTarget {:?} to uint64", c.r_target))?
    };
    let Some(value) = resolve_target(&c.l_target, node) else {
        return Err(format!("missing property {:?}", c.l_target));
    };
    let used = existing
        .iter()
        .filter(|a| a.job_id == job.id && group.is_none_or(|g| a.task_group == g))
        .filter(|a| {
            // The candidate node itself need not be in `all_nodes`.
            let other = if a.node_id == node.id {
                Some(node)
            } else {
                all_nodes(&a.node_id)
            };
            other
                .and_then(|n| resolve_target(&c.l_target, n))
                .as_deref()
                == Some(value.as_str())
        })
        .count() as u64;
    if used < allowed {
        Ok(())
    } else {
        Err(format!(
            "{CONSTRAINT_DISTINCT_PROPERTY}: {}={value} used by {used} allocs",
            c.l_target
        ))
    }
}

/// Nomad's `resolveTarget`: a literal unless it starts with `${`; `None`
/// when the interpolation names nothing on this node.
pub fn resolve_target(target: &str, node: &Node) -> Option<String> {
    if !target.starts_with("${") {
        return Some(target.to_string());
    }
    let found = match target {
        "${node.unique.id}" => &node.id,
        "${node.datacenter}" => &node.datacenter,
        "${node.unique.name}" => &node.name,
        "${node.class}" => &node.node_class,
        "${node.pool}" => &node.node_pool,
        _ => {
            if let Some(rest) = target.strip_prefix("${attr.") {
                node.attributes
                    .get(rest.strip_suffix('}').unwrap_or(rest))?
            } else if let Some(rest) = target.strip_prefix("${meta.") {
                node.meta.get(rest.strip_suffix('}').unwrap_or(rest))?
            } else {
                return None;
            }
        }
    };
    Some(found.clone())
}

fn meets_constraint(c: &Constraint, node: &Node) -> bool {
    let l = resolve_target(&c.l_target, node);
    let r = resolve_target(&c.r_target, node);
    check_constraint(&c.operand, l.as_deref(), r.as_deref())
}

/// Nomad's `checkConstraint`. A missing target is `None`; note `!=` is the
/// one comparison that holds when a side is missing (Nomad compares the
/// empty string it resolves to).
pub fn check_constraint(operand: &str, l: Option<&str>, r: Option<&str>) -> bool {
    match operand {
        CONSTRAINT_DISTINCT_HOSTS | CONSTRAINT_DISTINCT_PROPERTY => true,
        "=" | "==" | "is" => l.is_some() && l == r,
        "!=" | "not" => l.unwrap_or("") != r.unwrap_or(""),
        "is_set" => l.is_some(),
        "is_not_set" => l.is_none(),
        _ => {
            let (Some(l), Some(r)) = (l, r) else {
                return false;
            };
            match operand {
                "<" | "<=" | ">" | ">=" => check_order(operand, l, r),
                "version" => check_version(l, r, VersionMode::Version),
                "semver" => check_version(l, r, VersionMode::Semver),
                "regexp" => regex::Regex::new(r).is_ok_and(|re| re.is_match(l)),
                "set_contains" | "set_contains_all" => {
                    let have = split_set(l);
                    r.split(',').all(|x| have.contains(x.trim()))
                }
                "set_contains_any" => {
                    let have = split_set(l);
                    r.split(',').any(|x| have.contains(x.trim()))
                }
                _ => false,
            }
        }
    }
}

fn split_set(s: &str) -> BTreeSet<&str> {
    s.split(',').map(str::trim).collect()
}

/// As integers if both parse, else as floats, else lexically (Nomad's
/// `checkOrder`).
fn check_order(op: &str, l: &str, r: &str) -> bool {
    use std::cmp::Ordering;
    let ord = if let (Ok(a), Ok(b)) = (l.parse::<i64>(), r.parse::<i64>()) {
        Some(a.cmp(&b))
    } else if let (Some(a), Some(b)) = (parse_go_float(l), parse_go_float(r)) {
        // NaN compares as unordered: every comparison is false, as in Go.
        a.partial_cmp(&b)
    } else {
        Some(l.cmp(r))
    };
    let Some(ord) = ord else { return false };
    match op {
        "<" => ord == Ordering::Less,
        "<=" => ord != Ordering::Greater,
        ">" => ord == Ordering::Greater,
        ">=" => ord != Ordering::Less,
        _ => false,
    }
}

/// Rust's float parser also accepts "inf"/"nan" spellings, as Go's does;
/// close enough for ordering attributes.
fn parse_go_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VersionMode {
    /// hashicorp/go-version: a pre-release version only satisfies a
    /// constraint set that itself mentions a pre-release.
    Version,
    /// Nomad's semver helper: pre-releases simply order below the release.
    Semver,
}

/// A dotted numeric version with an optional pre-release; build metadata
/// (`+...`) is dropped. Missing segments compare as 0, so `1.2` == `1.2.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    segments: Vec<u64>,
    pre: Option<String>,
}

impl Version {
    fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _)| v);
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_string())),
            Some(_) => return None,
            None => (s, None),
        };
        let segments = core
            .split('.')
            .map(|seg| {
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    seg.parse::<u64>().ok()
                }
            })
            .collect::<Option<Vec<u64>>>()?;
        Some(Version { segments, pre })
    }

    fn segment(&self, i: usize) -> u64 {
        self.segments.get(i).copied().unwrap_or(0)
    }

    fn cmp(&self, other: &Version) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            match self.segment(i).cmp(&other.segment(i)) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match (&self.pre, &other.pre) {
            (None, None) => Ordering::Equal,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => cmp_prerelease(a, b),
        }
    }
}

/// Dot-separated identifiers; numeric ones compare numerically and below
/// alphanumeric ones (semver §11).
fn cmp_prerelease(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// `lhs` against comma-separated constraints such as `>= 1.2, < 2.0`;
/// operators `=` (or none), `!=`, `<`, `<=`, `>`, `>=`, `~>`. Any part that
/// fails to parse makes the whole check false, as Nomad does for an
/// unparsable constraint.
fn check_version(lhs: &str, constraints: &str, mode: VersionMode) -> bool {
    use std::cmp::Ordering;
    let Some(v) = Version::parse(lhs) else {
        return false;
    };
    let mut any_pre = false;
    let mut all_ok = true;
    for part in constraints.split(',') {
        let part = part.trim();
        let (op, rest) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|rest| (*op, rest)))
            .unwrap_or(("=", part));
        let Some(c) = Version::parse(rest) else {
            return false;
        };
        any_pre |= c.pre.is_some();
        let ord = v.cmp(&c);
        let ok = match op {
            "=" => ord == Ordering::Equal,
            "!=" => ord != Ordering::Equal,
            ">" => ord == Ordering::Greater,
            "<" => ord == Ordering::Less,
            ">=" => ord != Ordering::Less,
            "<=" => ord != Ordering::Greater,
            // Pessimistic: at least `c`, and every segment of `c` but the
            // last must match exactly ("~> 1.2" is ">= 1.2, < 2.0").
            _ => {
                let fixed = c.segments.len().saturating_sub(1);
                ord != Ordering::Less && (0..fixed).all(|i| v.segment(i) == c.segment(i))
            }
        };
        all_ok &= ok;
    }
    if mode == VersionMode::Version && v.pre.is_some() && !any_pre {
        return false;
    }
    all_ok
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("dc1", "dc1"));
        assert!(!glob_match("dc1", "dc10"));
        assert!(glob_match("dc*", "dc10"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "acb"));
    }
}
