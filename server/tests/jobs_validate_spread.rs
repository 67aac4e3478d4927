//! `Spread.Validate` (nomad/structs/structs.go) as Drover reports it: each
//! case breaks one spread of a small valid job and lists the exact
//! `(path, message)` pairs `validate` must give.

use drover_api::{Job, JobRegisterRequest, JobType, Spread, SpreadTarget};
use drover_server::jobs::{canonicalize, decode_job_request, validate, ValidationErrors};

const DRIVERS: &[&str] = &["docker"];

#[track_caller]
fn check(got: Result<(), ValidationErrors>, want: &[(&str, &str)]) {
    let got: Vec<(String, String)> = match got {
        Ok(()) => Vec::new(),
        Err(errs) => errs.0.into_iter().map(|e| (e.path, e.message)).collect(),
    };
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(got, want);
}

fn valid(f: impl FnOnce(&mut Job)) -> Result<(), ValidationErrors> {
    let body = br#"{"Job": {"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [
        {"Name": "web", "Tasks": [{"Name": "server", "Driver": "docker"}]}]}}"#;
    let req: JobRegisterRequest = decode_job_request(body).expect("valid fixture");
    let mut job = req.job.expect("fixture has a job");
    canonicalize(&mut job);
    f(&mut job);
    validate(&job, DRIVERS)
}

fn spread(attribute: &str, weight: i32, targets: &[(&str, u32)]) -> Spread {
    Spread {
        attribute: attribute.into(),
        weight,
        spread_target: targets
            .iter()
            .map(|(v, p)| SpreadTarget {
                value: (*v).into(),
                percent: *p,
            })
            .collect(),
    }
}

#[test]
fn valid_spreads() {
    check(
        valid(|j| {
            j.spreads = vec![spread(
                "${node.datacenter}",
                100,
                &[("dc1", 60), ("dc2", 40)],
            )];
            j.task_groups[0].spreads = vec![spread("${meta.rack}", 1, &[])];
        }),
        &[],
    );
    // Targets may sum to less than 100 (the rest goes to other values),
    // and a 0% target is allowed.
    check(
        valid(|j| j.spreads = vec![spread("${node.datacenter}", 50, &[("dc1", 0), ("dc2", 30)])]),
        &[],
    );
}

#[test]
fn spread_attribute_and_weight() {
    check(
        valid(|j| j.spreads = vec![spread("", 50, &[])]),
        &[("Spreads[0].Attribute", "Missing spread attribute")],
    );
    for weight in [0, -1, 101] {
        check(
            valid(|j| j.task_groups[0].spreads = vec![spread("${node.datacenter}", weight, &[])]),
            &[(
                "TaskGroups[0].Spreads[0].Weight",
                "Spread block must have a positive weight from 0 to 100",
            )],
        );
    }
}

#[test]
fn spread_targets() {
    check(
        valid(|j| {
            j.spreads = vec![spread(
                "${node.datacenter}",
                50,
                &[("dc1", 50), ("dc1", 20), ("dc2", 101)],
            )]
        }),
        &[
            (
                "Spreads[0].SpreadTarget[1].Value",
                r#"Spread target value "dc1" already defined"#,
            ),
            (
                "Spreads[0].SpreadTarget[2].Percent",
                r#"Spread target percentage for value "dc2" must be between 0 and 100"#,
            ),
            (
                "Spreads[0].SpreadTarget",
                "Sum of spread target percentages must not be greater than 100%; got 171%",
            ),
        ],
    );
    check(
        valid(|j| {
            j.task_groups[0].spreads = vec![spread("${meta.rack}", 50, &[("r1", 60), ("r2", 41)])]
        }),
        &[(
            "TaskGroups[0].Spreads[0].SpreadTarget",
            "Sum of spread target percentages must not be greater than 100%; got 101%",
        )],
    );
}

#[test]
fn system_jobs_refuse_spreads_sysbatch_do_not() {
    check(
        valid(|j| {
            j.job_type = JobType::System;
            j.task_groups[0].reschedule_policy = None;
            j.spreads = vec![spread("${node.datacenter}", 50, &[])];
            j.task_groups[0].spreads = vec![spread("", 0, &[])];
        }),
        &[
            ("Spreads", "System jobs may not have a spread block"),
            (
                "TaskGroups[0].Spreads",
                "System jobs may not have a spread block",
            ),
        ],
    );
    check(
        valid(|j| {
            j.job_type = JobType::Sysbatch;
            j.update = None;
            j.task_groups[0].update = None;
            j.task_groups[0].reschedule_policy = None;
            j.spreads = vec![spread("${node.datacenter}", 50, &[])];
        }),
        &[],
    );
}
