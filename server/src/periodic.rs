//! Periodic and parameterized jobs (Nomad's nomad/periodic.go and the
//! `Dispatch` half of nomad/job_endpoint.go): their validation, how a
//! child job is derived from its parent, and when a periodic job launches.
//! The leader duty that launches them is [`crate::periodic_dispatch`].

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;
use drover_api::{
    trigger, Job, ParameterizedJobConfig, PeriodicConfig, DISPATCH_LAUNCH_SUFFIX,
    DISPATCH_PAYLOAD_FORBIDDEN, DISPATCH_PAYLOAD_OPTIONAL, DISPATCH_PAYLOAD_REQUIRED,
    PERIODIC_LAUNCH_SUFFIX, PERIODIC_SPEC_CRON,
};

use drover_state::command::JobRegister;
use drover_state::Command;

use crate::periodic_cron::{time_zone, CronExpr};

/// Nomad's `PeriodicConfig.Validate`: a disabled block is not checked; an
/// enabled one needs exactly one of `Spec` and `Specs`, each a cron
/// expression that parses, and a known time zone. `(field, message)` pairs.
pub fn validate_periodic(p: &PeriodicConfig) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    if !p.enabled {
        return errs;
    }
    let mut add = |f: &str, m: String| errs.push((format!("Periodic.{f}"), m));
    if p.spec_type != PERIODIC_SPEC_CRON {
        add(
            "SpecType",
            format!("Unknown periodic specification type {:?}", p.spec_type),
        );
    }
    match (p.spec.is_empty(), p.specs.is_empty()) {
        (true, true) => add("Spec", "Must specify a spec".into()),
        (false, false) => add("Specs", "Only cron or crons may be used".into()),
        _ => {}
    }
    if !p.spec.is_empty() {
        if let Err(e) = CronExpr::parse(&p.spec) {
            add("Spec", format!("Invalid cron spec {:?}: {e}", p.spec));
        }
    }
    for (i, spec) in p.specs.iter().enumerate() {
        if let Err(e) = CronExpr::parse(spec) {
            add(
                &format!("Specs[{i}]"),
                format!("Invalid cron spec {spec:?}: {e}"),
            );
        }
    }
    if let Err(e) = time_zone(&p.time_zone) {
        add(
            "TimeZone",
            format!("Invalid time zone {:?}: {e}", p.time_zone),
        );
    }
    errs
}

/// Nomad's `ParameterizedJobConfig.Validate`.
pub fn validate_parameterized(p: &ParameterizedJobConfig) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    if !matches!(
        p.payload.as_str(),
        "" | DISPATCH_PAYLOAD_OPTIONAL | DISPATCH_PAYLOAD_REQUIRED | DISPATCH_PAYLOAD_FORBIDDEN
    ) {
        errs.push((
            "ParameterizedJob.Payload".into(),
            format!("Unknown payload requirement: {:?}", p.payload),
        ));
    }
    let both: Vec<&str> = p
        .meta_required
        .iter()
        .filter(|k| p.meta_optional.contains(k))
        .map(String::as_str)
        .collect();
    if !both.is_empty() {
        errs.push((
            "ParameterizedJob.MetaOptional".into(),
            format!(
                "Required and optional meta keys should be disjoint. Following keys exist in both: {both:?}"
            ),
        ));
    }
    errs
}

/// Why a `dispatch_payload { file }` is refused: it must stay inside the
/// task's `local/` directory (Nomad's `DispatchPayloadConfig.Validate`).
pub fn dispatch_file_error(file: &str) -> Option<String> {
    let escapes = file.starts_with('/')
        || file
            .split('/')
            .try_fold(0usize, |depth, part| match part {
                ".." => depth.checked_sub(1),
                "" | "." => Some(depth),
                _ => Some(depth + 1),
            })
            .is_none();
    if file.is_empty() {
        Some("dispatch_payload file must not be empty".into())
    } else if escapes {
        Some(format!(
            "dispatch_payload file {file:?} escapes the task's local directory"
        ))
    } else {
        None
    }
}

/// The first launch strictly after `after` (unix nanoseconds) of any of the
/// job's cron specs, in its time zone; `None` when no spec ever matches
/// again (or the block does not parse, which register refuses).
pub fn next_launch(p: &PeriodicConfig, after: i64) -> Option<i64> {
    let tz: Tz = time_zone(&p.time_zone).ok()?;
    let after = tz.timestamp_nanos(after);
    p.all_specs()
        .filter_map(|s| CronExpr::parse(s).ok())
        .filter_map(|e| e.next_after(after))
        .map(|t: DateTime<Tz>| t.timestamp() * 1_000_000_000)
        .min()
}

/// `<parent>/periodic-<unix seconds>`.
pub fn periodic_child_id(parent: &str, launch: i64) -> String {
    format!(
        "{parent}{PERIODIC_LAUNCH_SUFFIX}{}",
        launch.div_euclid(1_000_000_000)
    )
}

/// The child a periodic launch registers (Nomad's `deriveJob`): the
/// parent's spec under the child ID, with no `Periodic` of its own.
pub fn derive_periodic_child(parent: &Job, launch: i64) -> Job {
    let mut child = parent.clone();
    child.id = periodic_child_id(&parent.id, launch);
    child.name = child.id.clone();
    child.parent_id = parent.id.clone();
    child.periodic = None;
    reset_server_fields(&mut child);
    child
}

/// The write that launches `parent` for the period at `launch`: its child
/// and the child's evaluation, in one entry. A scheduled launch (`forced`
/// false) requires that the child not exist yet (`enforce_index` 0), so a
/// period that was launched once, by this leader or an earlier one, is
/// refused by the state machine rather than launched again. A forced
/// launch in the same second as another launch registers that child again
/// with a new evaluation, as Nomad's `ForceRun` does.
pub fn launch_command(parent: &Job, launch: i64, now: i64, forced: bool) -> Command {
    let mut child = derive_periodic_child(parent, launch);
    child.submit_time = now;
    let eval = crate::evals::pending(&child, trigger::PERIODIC_JOB, now);
    Command::JobRegister(JobRegister {
        job: child,
        eval: Some(eval),
        enforce_index: (!forced).then_some(0),
        now,
    })
}

/// The child a dispatch registers: `<parent>/dispatch-<unix>-<8 hex>`,
/// `Dispatched`, the dispatch meta over the parent's, and the compressed
/// payload (base64, as it travels).
pub fn derive_dispatch_child(
    parent: &Job,
    now: i64,
    suffix: &str,
    meta: &std::collections::BTreeMap<String, String>,
    payload: Option<String>,
    idempotency_token: &str,
) -> Job {
    let mut child = parent.clone();
    child.id = format!(
        "{}{DISPATCH_LAUNCH_SUFFIX}{}-{suffix}",
        parent.id,
        now.div_euclid(1_000_000_000)
    );
    child.name = child.id.clone();
    child.parent_id = parent.id.clone();
    child.dispatched = true;
    child.payload = payload;
    child.dispatch_idempotency_token = idempotency_token.to_owned();
    child
        .meta
        .extend(meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    reset_server_fields(&mut child);
    child
}

fn reset_server_fields(child: &mut Job) {
    child.status = Default::default();
    child.status_description.clear();
    child.stable = false;
    child.version = 0;
    child.create_index = 0;
    child.modify_index = 0;
    child.job_modify_index = 0;
}

/// The job as `GET /v1/job/:id` shows it: the payload decompressed, as
/// Nomad's `jobQuery` (command/agent/job_endpoint.go) does. A payload that
/// does not decode is shown as stored.
pub fn decode_payload(mut job: Job) -> Job {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let decoded = job
        .payload
        .as_deref()
        .and_then(|p| b64.decode(p).ok())
        .and_then(|c| snap::raw::Decoder::new().decompress_vec(&c).ok());
    if let Some(bytes) = decoded {
        job.payload = Some(b64.encode(bytes));
    }
    job
}

/// The launch time a periodic child's ID records (Nomad's
/// `PeriodicConfig.GetLaunchTime`), in unix nanoseconds.
pub fn launch_of_child(parent: &str, child: &str) -> Option<i64> {
    let secs: i64 = child
        .strip_prefix(parent)?
        .strip_prefix(PERIODIC_LAUNCH_SUFFIX)?
        .parse()
        .ok()?;
    secs.checked_mul(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launches_take_the_earliest_spec() {
        let p = PeriodicConfig {
            specs: vec!["0 0 * * *".into(), "*/10 * * * * * *".into()],
            ..Default::default()
        };
        let t0 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
        assert_eq!(next_launch(&p, t0), Some(t0 + 10_000_000_000));
        assert_eq!(
            periodic_child_id("cron", t0 + 10_000_000_000),
            "cron/periodic-1767225610"
        );
        assert_eq!(
            launch_of_child("cron", "cron/periodic-1767225610"),
            Some(t0 + 10_000_000_000)
        );
        assert_eq!(launch_of_child("cron", "cronx/periodic-1"), None);
        assert_eq!(launch_of_child("cron", "cron/dispatch-1-ab"), None);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = PeriodicConfig {
            spec: "* * *".into(),
            time_zone: "Nowhere/Else".into(),
            ..Default::default()
        };
        let fields: Vec<String> = validate_periodic(&bad).into_iter().map(|e| e.0).collect();
        assert_eq!(fields, ["Periodic.Spec", "Periodic.TimeZone"]);
        let none = PeriodicConfig::default();
        assert_eq!(validate_periodic(&none)[0].1, "Must specify a spec");
        let disabled = PeriodicConfig {
            enabled: false,
            ..bad
        };
        assert!(validate_periodic(&disabled).is_empty());
        let p = ParameterizedJobConfig {
            payload: "sometimes".into(),
            meta_required: vec!["a".into()],
            meta_optional: vec!["a".into()],
        };
        assert_eq!(validate_parameterized(&p).len(), 2);
        assert!(dispatch_file_error("in/put.txt").is_none());
        assert!(dispatch_file_error("../x").is_some());
        assert!(dispatch_file_error("a/../../x").is_some());
        assert!(dispatch_file_error("/etc/x").is_some());
    }
}
