//! HCL job specs to jobs, checked through the JSON Drover serves: each case
//! parses a spec and compares values at JSON pointers into the serialized
//! job, so the tests also pin Nomad's wire names (`/TaskGroups/0/Tasks/0/
//! Config/image`). Error cases compare the whole message.

use drover_server::jobspec::{parse_hcl, parse_hcl_with_variables, Parsed};
use serde_json::{json, Value};

const REDIS: &str = include_str!("fixtures/jobspec/redis.hcl");

/// Parses `src` (with `vars` as the Variables text) and checks either the
/// values at the given JSON pointers or the exact error message.
#[track_caller]
fn check_with(src: &str, vars: &str, want: Result<&[(&str, Value)], &str>) {
    let got = parse_hcl_with_variables(src, vars);
    match (got, want) {
        (Ok(parsed), Ok(fields)) => {
            let job = parsed.to_json().expect("a Job always serializes");
            for (pointer, want) in fields {
                let got = job.pointer(pointer).unwrap_or(&Value::Null);
                assert_eq!(got, want, "at {pointer} in\n{src}");
            }
        }
        (Ok(parsed), Err(want)) => panic!("expected error {want:?}, parsed {:#?}", parsed.job),
        (Err(err), Ok(_)) => panic!("unexpected error: {err}\nin\n{src}"),
        (Err(err), Err(want)) => assert_eq!(err.to_string(), want, "in\n{src}"),
    }
}

#[track_caller]
fn check(src: &str, want: Result<&[(&str, Value)], &str>) {
    check_with(src, "", want)
}

#[track_caller]
fn parsed(src: &str) -> Parsed {
    parse_hcl(src).unwrap_or_else(|err| panic!("unexpected error: {err}\nin\n{src}"))
}

fn job(body: &str) -> String {
    format!("job \"example\" {{\n{body}\n}}\n")
}

fn group(body: &str) -> String {
    job(&format!("group \"cache\" {{\n{body}\n}}"))
}

fn task(body: &str) -> String {
    group(&format!("task \"redis\" {{\n{body}\n}}"))
}

#[test]
fn redis_example_field_by_field() {
    let t = "/TaskGroups/0/Tasks/0";
    check(
        REDIS,
        Ok(&[
            ("/ID", json!("example")),
            ("/Name", json!("example")),
            ("/Type", json!("service")),
            ("/Priority", json!(60)),
            ("/Datacenters", json!(["dc1", "dc2"])),
            ("/NodePool", json!("default")),
            ("/Meta", json!({"owner": "platform-team"})),
            (
                "/Constraints",
                json!([{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}]),
            ),
            ("/Update/MaxParallel", json!(1)),
            ("/Update/MinHealthyTime", json!(10_000_000_000i64)),
            ("/Update/HealthyDeadline", json!(180_000_000_000i64)),
            ("/Update/ProgressDeadline", json!(600_000_000_000i64)),
            ("/Update/AutoRevert", json!(false)),
            ("/Periodic", Value::Null),
            ("/TaskGroups/0/Name", json!("cache")),
            ("/TaskGroups/0/Count", json!(1)),
            (
                "/TaskGroups/0/Networks/0/DynamicPorts",
                json!([{"Label": "db", "Value": 0, "To": 6379, "HostNetwork": ""}]),
            ),
            ("/TaskGroups/0/Networks/0/ReservedPorts", json!([])),
            ("/TaskGroups/0/RestartPolicy/Attempts", json!(2)),
            (
                "/TaskGroups/0/RestartPolicy/Interval",
                json!(1_800_000_000_000i64),
            ),
            (
                "/TaskGroups/0/RestartPolicy/Delay",
                json!(15_000_000_000i64),
            ),
            ("/TaskGroups/0/RestartPolicy/Mode", json!("fail")),
            (
                "/TaskGroups/0/ReschedulePolicy/DelayFunction",
                json!("exponential"),
            ),
            (
                "/TaskGroups/0/ReschedulePolicy/MaxDelay",
                json!(3_600_000_000_000i64),
            ),
            ("/TaskGroups/0/ReschedulePolicy/Unlimited", json!(true)),
            ("/TaskGroups/0/EphemeralDisk/SizeMB", json!(300)),
            (&format!("{t}/Name"), json!("redis")),
            (&format!("{t}/Driver"), json!("docker")),
            (&format!("{t}/Config/image"), json!("redis:7.2")),
            (&format!("{t}/Config/ports"), json!(["db"])),
            (&format!("{t}/Config/auth_soft_fail"), json!(true)),
            (
                &format!("{t}/Config/args"),
                json!(["--port", "${NOMAD_PORT_db}", "--save", ""]),
            ),
            (
                &format!("{t}/Env"),
                json!({"REDIS_ARGS": "--maxmemory 200mb", "WORKERS": "4"}),
            ),
            (&format!("{t}/Resources/CPU"), json!(500)),
            (&format!("{t}/Resources/MemoryMB"), json!(256)),
            (&format!("{t}/LogConfig/MaxFiles"), json!(5)),
            (&format!("{t}/LogConfig/MaxFileSizeMB"), json!(15)),
            (&format!("{t}/KillTimeout"), json!(20_000_000_000i64)),
        ]),
    );
    assert_eq!(
        parsed(REDIS).warnings,
        ["job.group[\"cache\"].service: ignored; Drover does not support `service` blocks yet"]
    );
}

#[test]
fn parsed_job_round_trips_through_nomad_json() {
    let job = parsed(REDIS).job;
    let text = serde_json::to_string(&job).expect("a Job always serializes");
    let back: drover_api::Job = serde_json::from_str(&text).expect("our own JSON decodes");
    assert_eq!(back, job);
    let value: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        value["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        json!("redis:7.2")
    );
    assert_eq!(
        value["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"],
        json!(256)
    );
}

#[test]
fn job_attributes() {
    check(
        &job(r#"
            region      = "eu"
            namespace   = "prod"
            type        = "batch"
            priority    = 70
            all_at_once = true
            datacenters = ["dc1"]
            node_pool   = "gpu"
        "#),
        Ok(&[
            ("/Region", json!("eu")),
            ("/Namespace", json!("prod")),
            ("/Type", json!("batch")),
            ("/Priority", json!(70)),
            ("/AllAtOnce", json!(true)),
            ("/Datacenters", json!(["dc1"])),
            ("/NodePool", json!("gpu")),
            ("/TaskGroups", json!([])),
        ]),
    );
    // Not written: left at the defaults for canonicalization to fill.
    check(
        &job(""),
        Ok(&[
            ("/ID", json!("example")),
            ("/Priority", json!(0)),
            ("/Region", json!("")),
        ]),
    );
    // `id` and `name` override the label, as in Nomad.
    check(
        &job(r#"id = "other"
                name = "Other Name""#),
        Ok(&[("/ID", json!("other")), ("/Name", json!("Other Name"))]),
    );
}

#[test]
fn job_types() {
    for ty in ["service", "batch", "system", "sysbatch"] {
        check(&job(&format!("type = {ty:?}")), Ok(&[("/Type", json!(ty))]));
    }
    check(
        &job(r#"type = "cron""#),
        Err(r#"job.type: unknown job type "cron"; expected service, batch, system or sysbatch"#),
    );
}

#[test]
fn meta_as_block_or_attribute_at_every_level() {
    let block = r#"
        meta { source = "job" }
        group "cache" {
          meta { source = "group" }
          task "redis" {
            meta { source = "task" }
          }
        }"#;
    let want: &[(&str, Value)] = &[
        ("/Meta", json!({"source": "job"})),
        ("/TaskGroups/0/Meta", json!({"source": "group"})),
        ("/TaskGroups/0/Tasks/0/Meta", json!({"source": "task"})),
    ];
    check(&job(block), Ok(want));
    check(&job(&block.replace("meta {", "meta = {")), Ok(want));
    // The attribute form allows keys that are not identifiers; values convert.
    check(
        &job(r#"meta = { "team.name" = "infra", replicas = 3, canary = true }"#),
        Ok(&[(
            "/Meta",
            json!({"team.name": "infra", "replicas": "3", "canary": "true"}),
        )]),
    );
    check(
        &job("meta = { a = \"1\" }\nmeta { b = \"2\" }"),
        Err("job.meta: defined more than once"),
    );
    check(
        &job("meta { tags = [\"a\"] }"),
        Err("job.meta.tags: expected a string, got a list"),
    );
}

#[test]
fn constraint_blocks_and_shorthands() {
    check(
        &job(r#"
            constraint {
              attribute = "${meta.rack}"
              operator  = "!="
              value     = "r1"
            }
            constraint { distinct_hosts = true }
            constraint {
              distinct_property = "${meta.rack}"
              value             = 2
            }
            constraint {
              attribute = "${attr.os.version}"
              version   = ">= 22.04"
            }
            constraint {
              attribute = "${attr.unique.hostname}"
              regexp    = "^web-"
            }
            constraint {
              attribute        = "${meta.tags}"
              set_contains_any = "a,b"
            }
            constraint { attribute = "${node.class}" }
        "#),
        Ok(&[(
            "/Constraints",
            json!([
                {"LTarget": "${meta.rack}", "RTarget": "r1", "Operand": "!="},
                {"LTarget": "", "RTarget": "true", "Operand": "distinct_hosts"},
                {"LTarget": "${meta.rack}", "RTarget": "2", "Operand": "distinct_property"},
                {"LTarget": "${attr.os.version}", "RTarget": ">= 22.04", "Operand": "version"},
                {"LTarget": "${attr.unique.hostname}", "RTarget": "^web-", "Operand": "regexp"},
                {"LTarget": "${meta.tags}", "RTarget": "a,b", "Operand": "set_contains_any"},
                {"LTarget": "${node.class}", "RTarget": "", "Operand": "="},
            ]),
        )]),
    );
    check(
        &task(
            r#"constraint {
                   attribute = "${attr.kernel.name}"
                   value     = "linux"
                 }"#,
        ),
        Ok(&[(
            "/TaskGroups/0/Tasks/0/Constraints/0",
            json!({"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}),
        )]),
    );
    check(
        &group("constraint { attribute = \"x\" }\nconstraint { atribute = \"y\" }"),
        Err(r#"job.group["cache"].constraint[1].atribute: unknown attribute"#),
    );
}

#[test]
fn affinity_blocks() {
    check(
        &group(
            r#"
            affinity {
              attribute = "${node.datacenter}"
              value     = "dc1"
              weight    = 50
            }
            affinity {
              attribute = "${meta.tags}"
              set_contains_all = "ssd"
              weight    = -20
            }
        "#,
        ),
        Ok(&[(
            "/TaskGroups/0/Affinities",
            json!([
                {"LTarget": "${node.datacenter}", "RTarget": "dc1", "Operand": "=", "Weight": 50},
                {"LTarget": "${meta.tags}", "RTarget": "ssd", "Operand": "set_contains_all", "Weight": -20},
            ]),
        )]),
    );
    check(
        &job("affinity {\nweight = 300\n}"),
        Err("job.affinity[0].weight: number 300 is out of range"),
    );
}

#[test]
fn update_block_at_job_and_group() {
    let update = r#"update {
        stagger           = "30s"
        max_parallel      = 2
        health_check      = "checks"
        min_healthy_time  = "15s"
        healthy_deadline  = "5m"
        progress_deadline = "10m"
        auto_revert       = true
        auto_promote      = true
        canary            = 1
    }"#;
    let want = json!({
        "Stagger": 30_000_000_000i64, "MaxParallel": 2, "HealthCheck": "checks",
        "MinHealthyTime": 15_000_000_000i64, "HealthyDeadline": 300_000_000_000i64,
        "ProgressDeadline": 600_000_000_000i64, "AutoRevert": true, "AutoPromote": true,
        "Canary": 1,
    });
    check(&job(update), Ok(&[("/Update", want.clone())]));
    check(&group(update), Ok(&[("/TaskGroups/0/Update", want)]));
}

#[test]
fn periodic_and_parameterized_blocks() {
    check(
        &job(r#"
            type = "batch"
            periodic {
              cron             = "*/5 * * * *"
              prohibit_overlap = true
              time_zone        = "UTC"
            }
        "#),
        Ok(&[(
            "/Periodic",
            json!({"Enabled": true, "Spec": "*/5 * * * *", "Specs": [], "SpecType": "cron",
                   "ProhibitOverlap": true, "TimeZone": "UTC"}),
        )]),
    );
    check(
        &job(r#"periodic {
                  crons   = ["0 * * * *", "30 * * * *"]
                  enabled = false
                }"#),
        Ok(&[(
            "/Periodic",
            json!({"Specs": ["0 * * * *", "30 * * * *"], "Spec": "", "SpecType": "cron",
                   "Enabled": false, "ProhibitOverlap": false, "TimeZone": "UTC"}),
        )]),
    );
    check(
        &job(r#"parameterized {
                  payload       = "required"
                  meta_required = ["input"]
                  meta_optional = ["mode"]
                }"#),
        Ok(&[(
            "/ParameterizedJob",
            json!({"Payload": "required", "MetaRequired": ["input"], "MetaOptional": ["mode"]}),
        )]),
    );
    check(
        &job("parameterized {}"),
        Ok(&[(
            "/ParameterizedJob",
            json!({"Payload": "optional", "MetaRequired": [], "MetaOptional": []}),
        )]),
    );
    check(
        &task("dispatch_payload {\n file = \"config/input.json\"\n}"),
        Ok(&[(
            "/TaskGroups/0/Tasks/0/DispatchPayload",
            json!({"File": "config/input.json"}),
        )]),
    );
    check(
        &job("periodic {\ncron = \"@daily\"\n}\nperiodic {\ncron = \"@hourly\"\n}"),
        Err("job.periodic: defined more than once"),
    );
}

#[test]
fn group_attributes() {
    check(
        &group("count = 3\nshutdown_delay = \"5s\""),
        Ok(&[
            ("/TaskGroups/0/Count", json!(3)),
            ("/TaskGroups/0/ShutdownDelay", json!(5_000_000_000i64)),
        ]),
    );
    // Count not written is null, as in Nomad's parser output
    // (canonicalization makes it 1); a written 0 stays 0.
    let unset = parsed(&group(""));
    assert_eq!(
        unset.to_json().unwrap()["TaskGroups"][0]["Count"],
        Value::Null
    );
    assert_eq!(unset.job.task_groups[0].count, 0);
    check(
        &group("count = 0"),
        Ok(&[("/TaskGroups/0/Count", json!(0))]),
    );
    // A task written in the job is a group of its own without a count,
    // placed before the written groups.
    let lone = parsed(&job(
        "task \"lone\" {\ndriver = \"raw_exec\"\n}\ngroup \"g\" {\ncount = 2\n}",
    ));
    let value = lone.to_json().unwrap();
    assert_eq!(value["TaskGroups"][0]["Name"], "lone");
    assert_eq!(value["TaskGroups"][0]["Count"], Value::Null);
    assert_eq!(value["TaskGroups"][1]["Count"], 2);
}

#[test]
fn one_or_many_groups_tasks_and_ports() {
    let src = job(r#"
        group "web" {
          network {
            port "http" {}
            port "admin" { static = 9000 }
          }
          task "nginx" { driver = "docker" }
          task "sidecar" { driver = "exec" }
        }
        group "db" {
          task "postgres" { driver = "docker" }
        }
    "#);
    check(
        &src,
        Ok(&[
            ("/TaskGroups/0/Name", json!("web")),
            ("/TaskGroups/0/Tasks/0/Name", json!("nginx")),
            ("/TaskGroups/0/Tasks/1/Name", json!("sidecar")),
            ("/TaskGroups/0/Tasks/1/Driver", json!("exec")),
            (
                "/TaskGroups/0/Networks/0/DynamicPorts/0/Label",
                json!("http"),
            ),
            (
                "/TaskGroups/0/Networks/0/ReservedPorts/0/Label",
                json!("admin"),
            ),
            ("/TaskGroups/1/Name", json!("db")),
            ("/TaskGroups/1/Tasks/0/Name", json!("postgres")),
            ("/TaskGroups/2", Value::Null),
        ]),
    );
}

#[test]
fn tasks_written_in_the_job_become_groups() {
    check(
        &job(r#"
            group "g" {
              task "a" {}
            }
            task "lone" { driver = "exec" }
        "#),
        Ok(&[
            ("/TaskGroups/0/Name", json!("lone")),
            ("/TaskGroups/0/Tasks/0/Name", json!("lone")),
            ("/TaskGroups/0/Tasks/0/Driver", json!("exec")),
            ("/TaskGroups/1/Name", json!("g")),
        ]),
    );
}

/// A partly written block keeps Nomad's defaults for what it leaves out
/// (api/tasks.go merges it onto them), by the job's type, wherever the
/// `type` and the job-level `update` are written.
#[test]
fn partly_written_blocks_take_nomads_defaults() {
    let src = r#"job "example" {
        group "cache" {
            restart {
                attempts = 0
            }
            reschedule {
                attempts = 0
                unlimited = false
            }
            update {
                canary = 1
            }
        }
        update {
            max_parallel = 3
        }
        type = "batch"
    }"#;
    check(
        src,
        Ok(&[
            (
                "/TaskGroups/0/RestartPolicy",
                json!({"Attempts": 0, "Interval": 86_400_000_000_000i64,
                    "Delay": 15_000_000_000i64, "Mode": "fail", "RenderTemplates": false}),
            ),
            ("/TaskGroups/0/ReschedulePolicy/Attempts", json!(0)),
            ("/TaskGroups/0/ReschedulePolicy/Unlimited", json!(false)),
            (
                "/TaskGroups/0/ReschedulePolicy/Interval",
                json!(86_400_000_000_000i64),
            ),
            ("/TaskGroups/0/Update/Canary", json!(1)),
            ("/TaskGroups/0/Update/MaxParallel", json!(3)),
            (
                "/TaskGroups/0/Update/MinHealthyTime",
                json!(10_000_000_000i64),
            ),
            ("/Update/MaxParallel", json!(3)),
        ]),
    );
    check(
        &group("update {\n canary = 1\n}"),
        Ok(&[("/TaskGroups/0/Update/MaxParallel", json!(1))]),
    );
}

#[test]
fn restart_block_at_group_and_task() {
    let restart = r#"restart {
        attempts         = 3
        interval         = "1h30m"
        delay            = "250ms"
        mode             = "delay"
        render_templates = true
    }"#;
    let want = json!({
        "Attempts": 3, "Interval": 5_400_000_000_000i64, "Delay": 250_000_000,
        "Mode": "delay", "RenderTemplates": true,
    });
    check(
        &group(restart),
        Ok(&[("/TaskGroups/0/RestartPolicy", want.clone())]),
    );
    check(
        &task(restart),
        Ok(&[("/TaskGroups/0/Tasks/0/RestartPolicy", want)]),
    );
    check(
        &group(&format!("{restart}\n{restart}")),
        Err(r#"job.group["cache"].restart: defined more than once"#),
    );
}

#[test]
fn reschedule_block() {
    check(
        &group(
            r#"reschedule {
            attempts       = 5
            interval       = "2h45m10s"
            delay          = "1.5m"
            delay_function = "fibonacci"
            max_delay      = "1h"
            unlimited      = false
        }"#,
        ),
        Ok(&[(
            "/TaskGroups/0/ReschedulePolicy",
            json!({
                "Attempts": 5, "Interval": 9_910_000_000_000i64, "Delay": 90_000_000_000i64,
                "DelayFunction": "fibonacci", "MaxDelay": 3_600_000_000_000i64, "Unlimited": false,
            }),
        )]),
    );
}

#[test]
fn ephemeral_disk_block() {
    check(
        &group("ephemeral_disk {\nsticky = true\nsize = 500\nmigrate = true\n}"),
        Ok(&[(
            "/TaskGroups/0/EphemeralDisk",
            json!({"Sticky": true, "SizeMB": 500, "Migrate": true}),
        )]),
    );
}

#[test]
fn network_block() {
    check(
        &group(
            r#"network {
            mode  = "bridge"
            mbits = 10
            port "http" {
              static       = 8080
              to           = 80
              host_network = "public"
            }
            port "grpc" { to = -1 }
            port "metrics" {}
        }"#,
        ),
        Ok(&[
            ("/TaskGroups/0/Networks/0/Mode", json!("bridge")),
            ("/TaskGroups/0/Networks/0/MBits", json!(10)),
            (
                "/TaskGroups/0/Networks/0/ReservedPorts",
                json!([{"Label": "http", "Value": 8080, "To": 80, "HostNetwork": "public"}]),
            ),
            (
                "/TaskGroups/0/Networks/0/DynamicPorts",
                json!([
                    {"Label": "grpc", "Value": 0, "To": -1, "HostNetwork": ""},
                    {"Label": "metrics", "Value": 0, "To": 0, "HostNetwork": ""},
                ]),
            ),
        ]),
    );
    check(
        &group("network {\nport {}\n}"),
        Err(r#"job.group["cache"].network[0].port: expected 1 block label(s), got 0"#),
    );
}

#[test]
fn task_attributes() {
    check(
        &task(
            r#"
            driver         = "raw_exec"
            user           = "nobody"
            kill_timeout   = "45s"
            kill_signal    = "SIGINT"
            leader         = true
            shutdown_delay = "2s"
        "#,
        ),
        Ok(&[
            ("/TaskGroups/0/Tasks/0/Driver", json!("raw_exec")),
            ("/TaskGroups/0/Tasks/0/User", json!("nobody")),
            (
                "/TaskGroups/0/Tasks/0/KillTimeout",
                json!(45_000_000_000i64),
            ),
            ("/TaskGroups/0/Tasks/0/KillSignal", json!("SIGINT")),
            ("/TaskGroups/0/Tasks/0/Leader", json!(true)),
            ("/TaskGroups/0/Tasks/0/ShutdownDelay", json!(2_000_000_000)),
            ("/TaskGroups/0/Tasks/0/LogConfig", Value::Null),
        ]),
    );
}

#[test]
fn task_lifecycle_block() {
    check(
        &task("lifecycle {\n  hook = \"prestart\"\n  sidecar = true\n}"),
        Ok(&[(
            "/TaskGroups/0/Tasks/0/Lifecycle",
            json!({"Hook": "prestart", "Sidecar": true}),
        )]),
    );
    check(
        &task(""),
        Ok(&[("/TaskGroups/0/Tasks/0/Lifecycle", Value::Null)]),
    );
}

#[test]
fn driver_config_keeps_nomads_shape() {
    check(
        &task(
            r#"
            config {
              image      = "nginx:1.25"
              command    = "/bin/sh"
              args       = ["-c", "echo ${NOMAD_ALLOC_ID} > ${NOMAD_TASK_DIR}/id"]
              privileged = false
              cpu_hard_limit = 1.5
              labels     = { app = "web", "com.example.tier" = "front" }
              mount {
                type   = "bind"
                source = "local"
                target = "/etc/nginx"
              }
              mount {
                type   = "tmpfs"
                target = "/tmp"
              }
              logging {
                type = "syslog"
                config { tag = "web" }
              }
              port_map "http" { container = 80 }
            }
        "#,
        ),
        Ok(&[(
            "/TaskGroups/0/Tasks/0/Config",
            json!({
                "image": "nginx:1.25",
                "command": "/bin/sh",
                "args": ["-c", "echo ${NOMAD_ALLOC_ID} > ${NOMAD_TASK_DIR}/id"],
                "privileged": false,
                "cpu_hard_limit": 1.5,
                "labels": [{"app": "web", "com.example.tier": "front"}],
                "mount": [
                    {"type": "bind", "source": "local", "target": "/etc/nginx"},
                    {"type": "tmpfs", "target": "/tmp"},
                ],
                "logging": [{"type": "syslog", "config": [{"tag": "web"}]}],
                "port_map": [{"http": [{"container": 80}]}],
            }),
        )]),
    );
    check(
        &task("config {}"),
        Ok(&[("/TaskGroups/0/Tasks/0/Config", json!({}))]),
    );
}

#[test]
fn env_block_and_attribute() {
    let want: &[(&str, Value)] = &[(
        "/TaskGroups/0/Tasks/0/Env",
        json!({"PORT": "8080", "DEBUG": "true", "NAME": "x"}),
    )];
    check(
        &task("env {\nPORT = 8080\nDEBUG = true\nNAME = \"x\"\n}"),
        Ok(want),
    );
    check(
        &task("env = { PORT = 8080, DEBUG = true, NAME = \"x\" }"),
        Ok(want),
    );
    check(
        &task(r#"env = { "key.dot" = "v" }"#),
        Ok(&[("/TaskGroups/0/Tasks/0/Env", json!({"key.dot": "v"}))]),
    );
    check(
        &task("env = { a = \"b\" }\nenv { c = \"d\" }"),
        Err(r#"job.group["cache"].task["redis"].env: defined more than once"#),
    );
}

#[test]
fn resources_block() {
    let src = task(
        r#"resources {
        cpu        = 1000
        cores      = 2
        memory     = 512
        memory_max = 1024
        disk       = 300
        network {
          mbits = 100
          port "legacy" {}
        }
    }"#,
    );
    check(
        &src,
        Ok(&[
            ("/TaskGroups/0/Tasks/0/Resources/CPU", json!(1000)),
            ("/TaskGroups/0/Tasks/0/Resources/Cores", json!(2)),
            ("/TaskGroups/0/Tasks/0/Resources/MemoryMB", json!(512)),
            ("/TaskGroups/0/Tasks/0/Resources/MemoryMaxMB", json!(1024)),
            ("/TaskGroups/0/Tasks/0/Resources/DiskMB", json!(0)),
            (
                "/TaskGroups/0/Tasks/0/Resources/Networks/0/MBits",
                json!(100),
            ),
            (
                "/TaskGroups/0/Tasks/0/Resources/Networks/0/DynamicPorts/0/Label",
                json!("legacy"),
            ),
        ]),
    );
    assert_eq!(
        parsed(&src).warnings,
        [
            r#"job.group["cache"].task["redis"].resources.disk: ignored; Drover does not support `disk` yet"#
        ]
    );
}

#[test]
fn logs_block() {
    check(
        &task("logs {\nmax_files = 3\nmax_file_size = 20\ndisabled = true\n}"),
        Ok(&[(
            "/TaskGroups/0/Tasks/0/LogConfig",
            json!({"MaxFiles": 3, "MaxFileSizeMB": 20, "Disabled": true}),
        )]),
    );
}
