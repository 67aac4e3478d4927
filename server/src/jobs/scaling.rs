//! A task group's `scaling` block: Nomad's defaults and its checks
//! (nomad/structs/structs.go `ScalingPolicy.Canonicalize`, `Validate`,
//! `TaskGroup.validateScalingPolicy`; api/scaling.go `Canonicalize`).

use drover_api::{TaskGroup, SCALING_POLICY_TYPE_HORIZONTAL};

use super::validate::{field, Errors};

/// Fill what a `scaling` block left out: enabled, `Min` = the group's count,
/// type `horizontal`, and the target (namespace, job, group).
pub(super) fn canonicalize_scaling(namespace: &str, job_id: &str, tg: &mut TaskGroup) {
    let count = i64::from(tg.count);
    let Some(p) = tg.scaling.as_mut() else {
        return;
    };
    p.enabled.get_or_insert(true);
    p.min.get_or_insert(count);
    if p.policy_type.is_empty() {
        p.policy_type = SCALING_POLICY_TYPE_HORIZONTAL.to_owned();
    }
    p.namespace = namespace.to_owned();
    p.target = [
        ("Namespace", namespace),
        ("Job", job_id),
        ("Group", tg.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
}

/// The bounds must make sense and hold the group's count.
pub(super) fn validate_scaling(tg: &TaskGroup, path: &str, errs: &mut Errors) {
    let Some(p) = &tg.scaling else {
        return;
    };
    let at = field(path, "Scaling");
    if p.policy_type != SCALING_POLICY_TYPE_HORIZONTAL {
        errs.add(
            field(&at, "Type"),
            format!(
                "Scaling policy invalid: scaling policy type {:?} is not valid",
                p.policy_type
            ),
        );
    }
    let min = p.min.unwrap_or(i64::from(tg.count));
    match p.max {
        None => errs.add(
            field(&at, "Max"),
            "Scaling policy invalid: maximum count must be specified and non-negative",
        ),
        Some(max) if max < 0 => errs.add(
            field(&at, "Max"),
            "Scaling policy invalid: maximum count must be specified and non-negative",
        ),
        Some(max) if max < min => errs.add(
            field(&at, "Max"),
            "Scaling policy invalid: maximum count must not be less than minimum count",
        ),
        Some(_) => {}
    }
    if min < 0 {
        errs.add(
            field(&at, "Min"),
            "Scaling policy invalid: minimum count must be specified and non-negative",
        );
    }
    let count = i64::from(tg.count);
    if p.max.is_some_and(|max| max >= 0 && max < count) {
        errs.add(
            field(path, "Count"),
            "Scaling policy invalid: task group count must not be greater than maximum count in scaling policy",
        );
    }
    if count < min {
        errs.add(
            field(path, "Count"),
            "Scaling policy invalid: task group count must not be less than minimum count in scaling policy",
        );
    }
}
