//! A task group's `scaling` block: Nomad's defaults and its checks
//! (nomad/structs/structs.go `ScalingPolicy.Canonicalize`, `Validate`,
//! `TaskGroup.validateScalingPolicy`; api/scaling.go `Canonicalize`).

use drover_api::{Job, TaskGroup, SCALING_POLICY_TYPE_HORIZONTAL};

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

/// Give each scaling policy of `new` the ID its group's policy has in
/// `old`, or a fresh one from `new_id` (Nomad nomad/job_endpoint.go
/// `propagateScalingPolicyIDs`), so a policy keeps its ID across versions.
/// An ID the submitter wrote is ignored, as in Nomad.
pub fn propagate_scaling_policy_ids(
    old: Option<&Job>,
    new: &mut Job,
    mut new_id: impl FnMut() -> String,
) {
    let key =
        |p: &drover_api::ScalingPolicy, group: &str| (p.policy_type.clone(), group.to_owned());
    let old_ids: Vec<((String, String), String)> = old
        .into_iter()
        .flat_map(|j| &j.task_groups)
        .filter_map(|tg| {
            tg.scaling
                .as_ref()
                .map(|p| (key(p, &tg.name), p.id.clone()))
        })
        .collect();
    for tg in &mut new.task_groups {
        let name = tg.name.clone();
        if let Some(p) = tg.scaling.as_mut() {
            let k = key(p, &name);
            p.id = old_ids
                .iter()
                .find(|(ok, _)| *ok == k)
                .map(|(_, id)| id.clone())
                .unwrap_or_else(&mut new_id);
        }
    }
}
