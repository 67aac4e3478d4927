//! End to end on what Nomad's own CLI sends: `nomad job run` submits the
//! parsed jobspec without defaults, every unset pointer as `null` (this is
//! the shape `nomad job run -output` prints). The body must go through
//! decode, canonicalize and validate as a handler runs them, and mutations
//! of it must never make any of the three panic.

use drover_api::JobRegisterRequest;
use drover_server::jobs::{canonicalize, decode_job_request, validate, validate_register};
use proptest::prelude::*;
use serde_json::{json, Value};

const DRIVERS: &[&str] = &["docker", "raw_exec"];
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;

/// A two-group service job as the CLI encodes it: a docker web server with
/// a dynamic port, and a raw_exec worker with its own restart block.
const CLI_BODY: &str = r#"{
  "Job": {
    "Region": null, "Namespace": null, "ID": "shop", "Name": "shop", "Type": null,
    "Priority": null, "AllAtOnce": null, "Datacenters": ["dc1", "dc2"], "NodePool": null,
    "Constraints": [{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}],
    "Affinities": null,
    "TaskGroups": [
      {
        "Name": "frontend", "Count": null, "Constraints": null, "Affinities": null,
        "Tasks": [
          {
            "Name": "nginx", "Driver": "docker", "User": "", "Lifecycle": null,
            "Config": {"image": "nginx:1.27-alpine", "ports": ["http"], "auth_soft_fail": true,
                       "entrypoint": null},
            "Constraints": null, "Affinities": null, "Env": {"NGINX_PORT": "${NOMAD_PORT_http}"},
            "Services": null,
            "Resources": {"CPU": 200, "Cores": null, "MemoryMB": 128, "MemoryMaxMB": null,
                          "DiskMB": null, "Networks": null, "Devices": null, "NUMA": null,
                          "SecretsMB": null, "IOPS": null},
            "RestartPolicy": null, "Meta": null, "KillTimeout": null, "LogConfig": null,
            "Artifacts": null, "Vault": null, "Consul": null, "Templates": null,
            "DispatchPayload": null, "VolumeMounts": null, "Leader": false,
            "ShutdownDelay": 0, "KillSignal": "", "Kind": "", "ScalingPolicies": null,
            "Identity": null, "Identities": null, "Actions": null, "Schedule": null
          }
        ],
        "Spreads": null, "Volumes": null, "RestartPolicy": null, "ReschedulePolicy": null,
        "EphemeralDisk": null, "Update": null, "Migrate": null,
        "Networks": [
          {"Mode": "", "Device": "", "CIDR": "", "IP": "", "DNS": null, "ReservedPorts": null,
           "DynamicPorts": [{"Label": "http", "Value": 0, "To": 80, "HostNetwork": "default"}],
           "Hostname": "", "MBits": null, "CNI": null}
        ],
        "Meta": null, "Services": null, "ShutdownDelay": null,
        "StopAfterClientDisconnect": null, "MaxClientDisconnect": null, "Disconnect": null,
        "Scaling": null, "Consul": null, "PreventRescheduleOnLost": null
      },
      {
        "Name": "worker", "Count": 3, "Constraints": null, "Affinities": null,
        "Tasks": [
          {
            "Name": "queue-consumer", "Driver": "raw_exec", "User": "",
            "Config": {"command": "/usr/local/bin/consume", "args": ["--queue", "orders"]},
            "Constraints": null, "Affinities": null, "Env": null, "Services": null,
            "Resources": {"CPU": null, "Cores": null, "MemoryMB": 512, "MemoryMaxMB": 1024,
                          "DiskMB": null, "Networks": null, "Devices": null, "IOPS": null},
            "RestartPolicy": {"Interval": null, "Attempts": 5, "Delay": null, "Mode": "delay",
                              "RenderTemplates": null},
            "Meta": {"tier": "background"}, "KillTimeout": 30000000000,
            "LogConfig": {"MaxFiles": 5, "MaxFileSizeMB": null, "Disabled": null},
            "Leader": false, "ShutdownDelay": 0, "KillSignal": "SIGTERM", "Kind": ""
          }
        ],
        "RestartPolicy": {"Interval": 600000000000, "Attempts": null, "Delay": null,
                          "Mode": null, "RenderTemplates": null},
        "ReschedulePolicy": {"Attempts": null, "Interval": null, "Delay": 10000000000,
                             "DelayFunction": null, "MaxDelay": null, "Unlimited": null},
        "EphemeralDisk": {"Sticky": null, "Migrate": null, "SizeMB": 500},
        "Update": {"Stagger": null, "MaxParallel": 2, "HealthCheck": null,
                   "MinHealthyTime": null, "HealthyDeadline": null, "ProgressDeadline": null,
                   "AutoRevert": true, "AutoPromote": null, "Canary": null},
        "Networks": null, "Meta": null, "ShutdownDelay": null, "Scaling": null
      }
    ],
    "Update": null, "Multiregion": null, "Spreads": null, "Periodic": null,
    "ParameterizedJob": null, "Reschedule": null, "Migrate": null,
    "Meta": {"owner": "team-shop"}, "ConsulToken": null, "VaultToken": null, "Stop": null,
    "ParentID": null, "Dispatched": false, "DispatchIdempotencyToken": null, "Payload": null,
    "ConsulNamespace": null, "VaultNamespace": null, "NomadTokenID": null, "Status": null,
    "StatusDescription": null, "Stable": null, "Version": null, "SubmitTime": null,
    "CreateIndex": null, "ModifyIndex": null, "JobModifyIndex": null, "UI": null
  }
}"#;

/// Runs the handler pipeline for `PUT /v1/job/shop`; the job must be valid
/// and its JSON must have the given values.
#[track_caller]
fn check(body: &[u8], want: &[(&str, Value)]) {
    let req: JobRegisterRequest = decode_job_request(body).expect("decodes");
    let mut job = validate_register(&req, Some("shop"))
        .expect("register request")
        .clone();
    canonicalize(&mut job);
    validate(&job, DRIVERS).expect("valid job");
    let got = serde_json::to_value(&job).expect("a Job serializes");
    for (pointer, want) in want {
        assert_eq!(got.pointer(pointer), Some(want), "at {pointer}");
    }
}

#[test]
fn nomad_cli_body_registers() {
    check(
        CLI_BODY.as_bytes(),
        &[
            ("/Namespace", json!("default")),
            ("/Region", json!("global")),
            ("/Type", json!("service")),
            ("/Priority", json!(50)),
            ("/Datacenters", json!(["dc1", "dc2"])),
            ("/NodePool", json!("default")),
            ("/Meta", json!({"owner": "team-shop"})),
            ("/Update/MaxParallel", json!(1)),
            ("/Constraints/0/Operand", json!("=")),
            // frontend: everything defaulted.
            ("/TaskGroups/0/Count", json!(1)),
            ("/TaskGroups/0/EphemeralDisk/SizeMB", json!(300)),
            ("/TaskGroups/0/RestartPolicy/Attempts", json!(2)),
            (
                "/TaskGroups/0/ReschedulePolicy/DelayFunction",
                json!("exponential"),
            ),
            ("/TaskGroups/0/Update/HealthCheck", json!("checks")),
            ("/TaskGroups/0/Networks/0/DynamicPorts/0/To", json!(80)),
            ("/TaskGroups/0/Tasks/0/KillTimeout", json!(5 * S)),
            ("/TaskGroups/0/Tasks/0/Resources/CPU", json!(200)),
            ("/TaskGroups/0/Tasks/0/Resources/MemoryMB", json!(128)),
            ("/TaskGroups/0/Tasks/0/LogConfig/MaxFiles", json!(10)),
            (
                "/TaskGroups/0/Tasks/0/RestartPolicy/Interval",
                json!(30 * M),
            ),
            (
                "/TaskGroups/0/Tasks/0/Config",
                json!({"image": "nginx:1.27-alpine", "ports": ["http"], "auth_soft_fail": true}),
            ),
            // worker: given values merged with defaults.
            ("/TaskGroups/1/Count", json!(3)),
            ("/TaskGroups/1/EphemeralDisk/SizeMB", json!(500)),
            (
                "/TaskGroups/1/RestartPolicy",
                json!({"Attempts": 2, "Interval": 10 * M, "Delay": 15 * S, "Mode": "fail", "RenderTemplates": false}),
            ),
            (
                "/TaskGroups/1/Tasks/0/RestartPolicy",
                json!({"Attempts": 5, "Interval": 10 * M, "Delay": 15 * S, "Mode": "delay", "RenderTemplates": false}),
            ),
            ("/TaskGroups/1/ReschedulePolicy/Delay", json!(10 * S)),
            ("/TaskGroups/1/ReschedulePolicy/Unlimited", json!(true)),
            ("/TaskGroups/1/Update/MaxParallel", json!(2)),
            ("/TaskGroups/1/Update/AutoRevert", json!(true)),
            ("/TaskGroups/1/Update/MinHealthyTime", json!(10 * S)),
            ("/TaskGroups/1/Tasks/0/Resources/CPU", json!(100)),
            ("/TaskGroups/1/Tasks/0/Resources/MemoryMaxMB", json!(1024)),
            ("/TaskGroups/1/Tasks/0/KillTimeout", json!(30 * S)),
            ("/TaskGroups/1/Tasks/0/KillSignal", json!("SIGTERM")),
            (
                "/TaskGroups/1/Tasks/0/LogConfig",
                json!({"MaxFiles": 5, "MaxFileSizeMB": 10, "Disabled": false}),
            ),
        ],
    );
}

/// The same body with the job at `PUT /v1/jobs` (no ID in the URL) and
/// re-encoded compactly: decoding does not depend on layout.
#[test]
fn nomad_cli_body_compact() {
    let value: Value = serde_json::from_str(CLI_BODY).expect("fixture is JSON");
    let compact = serde_json::to_vec(&value).expect("a Value serializes");
    check(
        &compact,
        &[("/ID", json!("shop")), ("/TaskGroups/1/Count", json!(3))],
    );
}

/// Any JSON value, biased towards the numbers that break arithmetic.
fn arb_json() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        any::<i64>(),
        -3i64..3,
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::from(i32::MAX)),
        Just(i64::from(i32::MIN)),
        Just(5 * S),
        Just(3_600 * S),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number.prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_ ]{0,6}".prop_map(Value::from),
        prop_oneof![
            Just("fail"),
            Just("delay"),
            Just("fibonacci"),
            Just("exponential"),
            Just("constant"),
            Just("system"),
            Just("batch")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[A-Za-z]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer in `value` (objects and arrays, not the root).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

/// The whole pipeline on one body; must never panic, and canonicalize must
/// stay idempotent on whatever decodes.
fn pipeline(body: &[u8]) {
    let Ok(req) = decode_job_request::<JobRegisterRequest>(body) else {
        return;
    };
    let Ok(job) = validate_register(&req, Some("shop")) else {
        return;
    };
    let mut job = job.clone();
    canonicalize(&mut job);
    let mut twice = job.clone();
    canonicalize(&mut twice);
    assert_eq!(twice, job);
    let _ = validate(&job, DRIVERS).map_err(|e| e.to_string());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn replacing_any_field_never_panics(pick in any::<prop::sample::Index>(), new in arb_json()) {
        let mut value: Value = serde_json::from_str(CLI_BODY).expect("fixture is JSON");
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        let target = pick.get(&all).clone();
        if let Some(slot) = value.pointer_mut(&target) {
            *slot = new;
        }
        pipeline(&serde_json::to_vec(&value).expect("a Value serializes"));
    }

    #[test]
    fn byte_mutations_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = CLI_BODY.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        pipeline(&body);
        body.truncate(cut.index(body.len()));
        pipeline(&body);
    }
}
