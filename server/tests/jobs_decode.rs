//! Decoding request bodies: Go's nulls accepted, unknown fields ignored,
//! errors that name the field, and no panic on any input.

use drover_api::JobRegisterRequest;
use drover_server::jobs::{decode_job_request, decode_json};
use proptest::prelude::*;
use serde_json::{json, Value};

/// JSON pointers into the decoded body and the values expected there.
type Pointers<'a> = &'a [(&'a str, Value)];
/// An error's Display text and field path.
type Failure<'a> = (&'a str, Option<&'a str>);

/// `Ok(pointers)`: the body decodes (without defaults) and its JSON has
/// these values. `Err((display, path))`: the error's text and field path.
#[track_caller]
fn check(body: &str, want: Result<Pointers<'_>, Failure<'_>>) {
    let got = decode_json::<JobRegisterRequest>(body.as_bytes());
    match (got, want) {
        (Ok(req), Ok(pointers)) => {
            let got = serde_json::to_value(&req).expect("a request serializes");
            for (pointer, want) in pointers {
                assert_eq!(got.pointer(pointer), Some(want), "at {pointer}");
            }
        }
        (Err(err), Err((display, path))) => {
            assert_eq!(err.to_string(), display);
            assert_eq!(err.path(), path);
        }
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

#[test]
fn nulls_are_absent_fields() {
    check(
        r#"{"Job": {"ID": "web", "Priority": null, "Region": null, "Datacenters": null,
            "Update": null, "Periodic": null, "Meta": null,
            "TaskGroups": [{"Name": "web", "Count": null, "EphemeralDisk": null,
              "Networks": [{"MBits": null, "DynamicPorts": [{"Label": "http", "Value": null}]}],
              "Tasks": [{"Name": "server", "KillTimeout": null, "Resources": {"CPU": 500, "Cores": null}}]}]}}"#,
        Ok(&[
            ("/Job/Priority", json!(0)),
            ("/Job/Region", json!("")),
            ("/Job/Datacenters", json!([])),
            ("/Job/Update", Value::Null),
            ("/Job/Periodic", Value::Null),
            ("/Job/TaskGroups/0/Count", json!(0)),
            ("/Job/TaskGroups/0/Networks/0/MBits", json!(0)),
            (
                "/Job/TaskGroups/0/Networks/0/DynamicPorts/0/Label",
                json!("http"),
            ),
            ("/Job/TaskGroups/0/Tasks/0/KillTimeout", json!(0)),
            ("/Job/TaskGroups/0/Tasks/0/Resources/CPU", json!(500)),
        ]),
    );
}

#[test]
fn nulls_inside_driver_config_are_dropped() {
    check(
        r#"{"Job": {"TaskGroups": [{"Tasks": [{"Config": {"image": "redis:7", "entrypoint": null,
            "mounts": [{"type": "bind", "readonly": null}], "args": ["a", null]}}]}]}}"#,
        Ok(&[(
            "/Job/TaskGroups/0/Tasks/0/Config",
            json!({"image": "redis:7", "mounts": [{"type": "bind"}], "args": ["a", null]}),
        )]),
    );
}

#[test]
fn unknown_fields_are_ignored() {
    check(
        r#"{"Job": {"ID": "web", "Spreads": [{"Attribute": "${node.datacenter}"}],
            "ConsulNamespace": "x", "FutureThing": {"Deep": [1, 2]},
            "TaskGroups": [{"Name": "web", "Services": [{"Name": "web"}], "Volumes": {}}]},
            "SomethingNew": true, "EvalPriority": 0}"#,
        Ok(&[
            ("/Job/ID", json!("web")),
            ("/Job/TaskGroups/0/Name", json!("web")),
        ]),
    );
    check("{}", Ok(&[("/Job", Value::Null)]));
}

#[test]
fn malformed_json() {
    check(
        r#"{"Job": {"ID": "web""#,
        Err((
            "failed to parse JSON body: EOF while parsing an object at line 1 column 20",
            None,
        )),
    );
    check(
        "",
        Err((
            "failed to parse JSON body: EOF while parsing a value at line 1 column 0",
            None,
        )),
    );
    check(
        "{\n  \"Job\": {\"ID\": web}\n}",
        Err((
            "failed to parse JSON body: expected value at line 2 column 17",
            None,
        )),
    );
    check(
        "\u{feff}{}",
        Err((
            "failed to parse JSON body: expected value at line 1 column 1",
            None,
        )),
    );
}

#[test]
fn type_errors_name_the_field() {
    check(
        r#"{"Job": {"TaskGroups": [{"Count": "three"}]}}"#,
        Err((
            r#"invalid value for Job.TaskGroups[0].Count: invalid type: string "three", expected i32"#,
            Some("Job.TaskGroups[0].Count"),
        )),
    );
    check(
        r#"{"Job": {"TaskGroups": [{}, {"Tasks": [{"Resources": {"CPU": "lots"}}]}]}}"#,
        Err((
            r#"invalid value for Job.TaskGroups[1].Tasks[0].Resources.CPU: invalid type: string "lots", expected i64"#,
            Some("Job.TaskGroups[1].Tasks[0].Resources.CPU"),
        )),
    );
    check(
        r#"{"Job": {"Type": "core"}}"#,
        Err((
            "invalid value for Job.Type: unknown variant `core`, expected one of `service`, `batch`, `system`, `sysbatch`",
            Some("Job.Type"),
        )),
    );
    check(
        r#"{"Job": {"Priority": 4294967296}}"#,
        Err((
            "invalid value for Job.Priority: invalid value: integer `4294967296`, expected i32",
            Some("Job.Priority"),
        )),
    );
    check(
        r#"{"Job": {"Priority": 50.5}}"#,
        Err((
            "invalid value for Job.Priority: invalid type: floating point `50.5`, expected i32",
            Some("Job.Priority"),
        )),
    );
    check(
        r#"{"Job": {"Datacenters": ["dc1", null]}}"#,
        Err((
            "invalid value for Job.Datacenters[1]: invalid type: null, expected a string",
            Some("Job.Datacenters[1]"),
        )),
    );
    check(
        r#"{"Job": {"Meta": {"owner": 7}}}"#,
        Err((
            "invalid value for Job.Meta.owner: invalid type: integer `7`, expected a string",
            Some("Job.Meta.owner"),
        )),
    );
}

#[test]
fn wrong_shape_of_the_whole_body() {
    check(
        r#""web""#,
        Err((
            r#"invalid request body: invalid type: string "web", expected struct JobRegisterRequest"#,
            None,
        )),
    );
    check(
        r#"{"Job": "web"}"#,
        Err((
            r#"invalid value for Job: invalid type: string "web", expected struct Job"#,
            Some("Job"),
        )),
    );
}

/// serde reads a struct from an array of its fields in order; a job body
/// must be an object all the same.
#[test]
fn job_request_body_must_be_an_object() {
    for body in ["[]", "[{}]", "7", "null"] {
        let err = decode_job_request::<JobRegisterRequest>(body.as_bytes()).expect_err(body);
        assert_eq!(err.path(), None, "{body}");
        assert!(
            err.to_string()
                .starts_with("invalid request body: invalid type: "),
            "{body}: {err}"
        );
        assert!(
            err.to_string().ends_with(", expected a JSON object"),
            "{body}: {err}"
        );
    }
}

/// The job-aware decoder fills defaults but must not hide type errors.
#[test]
fn job_request_decoding_keeps_type_errors() {
    for (body, path) in [
        (
            r#"{"Job": {"TaskGroups": [{"Count": "three"}]}}"#,
            "Job.TaskGroups[0].Count",
        ),
        (
            r#"{"Job": {"TaskGroups": [{"RestartPolicy": 5}]}}"#,
            "Job.TaskGroups[0].RestartPolicy",
        ),
        (
            r#"{"Job": {"TaskGroups": [{"Tasks": [{"Resources": "big"}]}]}}"#,
            "Job.TaskGroups[0].Tasks[0].Resources",
        ),
        (
            r#"{"Job": {"Update": {"MaxParallel": "x"}}}"#,
            "Job.Update.MaxParallel",
        ),
        (r#"{"Job": {"TaskGroups": [null]}}"#, "Job.TaskGroups[0]"),
    ] {
        let err = decode_job_request::<JobRegisterRequest>(body.as_bytes()).expect_err(body);
        assert_eq!(err.path(), Some(path), "{body}");
    }
}

proptest! {
    #[test]
    fn decoding_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_json::<JobRegisterRequest>(&body);
        let _ = decode_job_request::<JobRegisterRequest>(&body);
    }

    #[test]
    fn decoding_never_panics_on_json_like_text(body in r#"[{}\[\]":,0-9a-zA-Z \-.null]{0,200}"#) {
        let _ = decode_json::<JobRegisterRequest>(body.as_bytes());
        let _ = decode_job_request::<JobRegisterRequest>(body.as_bytes());
    }
}
