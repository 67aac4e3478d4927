//! The task environment and interpolation, on hand-built allocations.

use std::collections::BTreeMap;
use std::path::Path;

use drover_api::{
    AllocatedCpuResources, AllocatedMemoryResources, AllocatedPortMapping, AllocatedResources,
    AllocatedSharedResources, AllocatedTaskResources, Allocation, Job, NetworkResource, Node, Port,
    Resources, Task, TaskGroup,
};
use drover_client::taskenv::{alloc_index, clean_env_var, TaskEnv};
use serde_json::json;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn port(label: &str, value: i64, to: i64) -> Port {
    Port {
        label: label.into(),
        value,
        to,
        ..Port::default()
    }
}

struct Fixture {
    alloc: Allocation,
    job: Job,
    node: Node,
}

fn fixture() -> Fixture {
    let web = Task {
        name: "web".into(),
        driver: "raw_exec".into(),
        resources: Resources {
            cpu: 100,
            memory_mb: 64,
            ..Resources::default()
        },
        meta: map(&[("owner", "task"), ("task-only", "t")]),
        env: map(&[
            ("GREETING", "hi ${NOMAD_TASK_NAME} on ${node.unique.name}"),
            ("RACK", "${meta.rack}"),
            ("KERNEL", "${attr.kernel.name}"),
            ("UNKNOWN", "${nope} ${attr.nope}"),
            ("NOMAD_DC", "overridden"),
            ("NOMAD_META_from-env", "x"),
        ]),
        ..Task::default()
    };
    let sidecar = Task {
        name: "sidecar".into(),
        ..Task::default()
    };
    let tg = TaskGroup {
        name: "frontend".into(),
        meta: map(&[("owner", "group"), ("tier", "${node.class}")]),
        tasks: vec![web, sidecar],
        ..TaskGroup::default()
    };
    let job = Job {
        id: "shop".into(),
        name: "Shop".into(),
        parent_id: "shop-parent".into(),
        namespace: "prod".into(),
        region: "eu".into(),
        meta: map(&[("owner", "job"), ("team", "payments"), ("Mixed.Case", "m")]),
        task_groups: vec![tg],
        ..Job::default()
    };
    let resources = AllocatedResources {
        tasks: BTreeMap::from([
            (
                "web".to_string(),
                AllocatedTaskResources {
                    cpu: AllocatedCpuResources {
                        cpu_shares: 250,
                        reserved_cores: vec![3, 0, 1, 2, 5],
                    },
                    memory: AllocatedMemoryResources {
                        memory_mb: 128,
                        memory_max_mb: 256,
                    },
                    networks: vec![NetworkResource {
                        ip: "10.0.0.5".into(),
                        reserved_ports: vec![port("admin", 9000, 0)],
                        dynamic_ports: vec![port("http", 23456, 0)],
                        ..NetworkResource::default()
                    }],
                },
            ),
            (
                "sidecar".to_string(),
                AllocatedTaskResources {
                    networks: vec![NetworkResource {
                        ip: "10.0.0.5".into(),
                        dynamic_ports: vec![port("proxy", 25000, 0)],
                        ..NetworkResource::default()
                    }],
                    ..AllocatedTaskResources::default()
                },
            ),
        ]),
        shared: AllocatedSharedResources {
            disk_mb: 300,
            networks: vec![NetworkResource {
                ip: "10.0.0.5".into(),
                dynamic_ports: vec![port("db", 27017, 5432)],
                ..NetworkResource::default()
            }],
            ports: vec![
                AllocatedPortMapping {
                    label: "db".into(),
                    value: 27017,
                    to: 5432,
                    host_ip: "10.0.0.5".into(),
                },
                AllocatedPortMapping {
                    label: "metrics-v2".into(),
                    value: 28000,
                    to: 0,
                    host_ip: "fd00::1".into(),
                },
            ],
        },
    };
    let alloc = Allocation {
        id: "6f1d6a8c-3a1b-4e8e-9f00-aabbccddeeff".into(),
        namespace: "prod".into(),
        name: "shop.frontend[3]".into(),
        job_id: "shop".into(),
        task_group: "frontend".into(),
        allocated_resources: Some(resources),
        ..Allocation::default()
    };
    let node = Node {
        id: "node-1".into(),
        name: "worker-1".into(),
        datacenter: "dc2".into(),
        node_class: "edge".into(),
        node_pool: "default".into(),
        attributes: map(&[("kernel.name", "linux"), ("unique.hostname", "w1")]),
        meta: map(&[("rack", "r7")]),
        ..Node::default()
    };
    Fixture { alloc, job, node }
}

fn build(f: &Fixture, task: &str) -> TaskEnv {
    let tg = &f.job.task_groups[0];
    let task = tg.tasks.iter().find(|t| t.name == task).unwrap();
    TaskEnv::build(
        &f.alloc,
        &f.job,
        tg,
        task,
        &f.node,
        (
            Path::new("/a/alloc"),
            Path::new("/a/web/local"),
            Path::new("/a/web/secrets"),
        ),
    )
}

#[track_caller]
fn check(env: &BTreeMap<String, String>, key: &str, want: Option<&str>) {
    assert_eq!(env.get(key).map(String::as_str), want, "{key}");
}

#[test]
fn identity_dirs_and_limits() {
    let env = build(&fixture(), "web").env_map();
    for (k, v) in [
        ("NOMAD_ALLOC_DIR", "/a/alloc"),
        ("NOMAD_TASK_DIR", "/a/web/local"),
        ("NOMAD_SECRETS_DIR", "/a/web/secrets"),
        ("NOMAD_ALLOC_ID", "6f1d6a8c-3a1b-4e8e-9f00-aabbccddeeff"),
        ("NOMAD_SHORT_ALLOC_ID", "6f1d6a8c"),
        ("NOMAD_ALLOC_NAME", "shop.frontend[3]"),
        ("NOMAD_ALLOC_INDEX", "3"),
        ("NOMAD_JOB_ID", "shop"),
        ("NOMAD_JOB_NAME", "Shop"),
        ("NOMAD_JOB_PARENT_ID", "shop-parent"),
        ("NOMAD_GROUP_NAME", "frontend"),
        ("NOMAD_TASK_NAME", "web"),
        ("NOMAD_NAMESPACE", "prod"),
        ("NOMAD_REGION", "eu"),
        // Allocated values win over the task's ask.
        ("NOMAD_CPU_LIMIT", "250"),
        ("NOMAD_CPU_CORES", "0-3,5"),
        ("NOMAD_MEMORY_LIMIT", "128"),
        ("NOMAD_MEMORY_MAX_LIMIT", "256"),
    ] {
        check(&env, k, Some(v));
    }
    // The task's env block overrides what Nomad set.
    check(&env, "NOMAD_DC", Some("overridden"));
}

#[test]
fn without_allocated_resources_the_task_ask_is_used() {
    let mut f = fixture();
    f.alloc.allocated_resources = None;
    f.job.task_groups[0].tasks[0].env.clear();
    let env = build(&f, "web").env_map();
    check(&env, "NOMAD_CPU_LIMIT", Some("100"));
    check(&env, "NOMAD_MEMORY_LIMIT", Some("64"));
    check(&env, "NOMAD_MEMORY_MAX_LIMIT", None);
    check(&env, "NOMAD_CPU_CORES", None);
    check(&env, "NOMAD_DC", Some("dc2"));
    assert!(!env.keys().any(|k| k.starts_with("NOMAD_PORT_")));
}

#[test]
fn ports() {
    let env = build(&fixture(), "web").env_map();
    // This task's own ports.
    check(&env, "NOMAD_PORT_http", Some("23456"));
    check(&env, "NOMAD_HOST_PORT_http", Some("23456"));
    check(&env, "NOMAD_IP_http", Some("10.0.0.5"));
    check(&env, "NOMAD_IPv4_http", Some("10.0.0.5"));
    check(&env, "NOMAD_ADDR_http", Some("10.0.0.5:23456"));
    check(&env, "NOMAD_ADDR_admin", Some("10.0.0.5:9000"));
    // A sibling's ports, always host values; not our own under our name.
    check(&env, "NOMAD_ADDR_sidecar_proxy", Some("10.0.0.5:25000"));
    check(&env, "NOMAD_IP_sidecar_proxy", Some("10.0.0.5"));
    check(&env, "NOMAD_PORT_sidecar_proxy", Some("25000"));
    check(&env, "NOMAD_ADDR_web_http", None);
    // Group ports: PORT is the mapped `to`, HOST_PORT the host's.
    check(&env, "NOMAD_PORT_db", Some("5432"));
    check(&env, "NOMAD_ALLOC_PORT_db", Some("5432"));
    check(&env, "NOMAD_HOST_PORT_db", Some("27017"));
    check(&env, "NOMAD_IP_db", Some("10.0.0.5"));
    check(&env, "NOMAD_HOST_IP_db", Some("10.0.0.5"));
    check(&env, "NOMAD_ADDR_db", Some("10.0.0.5:27017"));
    check(&env, "NOMAD_HOST_ADDR_db", Some("10.0.0.5:27017"));
    // IPv6 is bracketed; the label is cleaned only under Nomad's prefixes.
    check(&env, "NOMAD_ADDR_metrics_v2", Some("[fd00::1]:28000"));
    check(&env, "NOMAD_PORT_metrics_v2", Some("28000"));
    check(&env, "NOMAD_IP_metrics_v2", Some("fd00::1"));
    check(&env, "NOMAD_HOST_ADDR_metrics-v2", Some("[fd00::1]:28000"));
    check(&env, "NOMAD_HOST_IP_metrics-v2", Some("fd00::1"));
    check(&env, "NOMAD_ALLOC_PORT_metrics-v2", Some("28000"));
    check(&env, "NOMAD_ADDR_metrics-v2", None);
}

#[test]
fn meta() {
    let f = fixture();
    let env = build(&f, "web").env_map();
    check(&env, "NOMAD_META_OWNER", Some("task"));
    check(&env, "NOMAD_META_owner", Some("task"));
    check(&env, "NOMAD_META_TEAM", Some("payments"));
    check(&env, "NOMAD_META_team", Some("payments"));
    // Group meta, interpolated against node values.
    check(&env, "NOMAD_META_TIER", Some("edge"));
    // `-` is cleaned to `_`, `.` kept, in both spellings.
    check(&env, "NOMAD_META_TASK_ONLY", Some("t"));
    check(&env, "NOMAD_META_task_only", Some("t"));
    check(&env, "NOMAD_META_MIXED.CASE", Some("m"));
    check(&env, "NOMAD_META_Mixed.Case", Some("m"));
    // The env block's keys under the meta prefix are cleaned too.
    check(&env, "NOMAD_META_from_env", Some("x"));
    // The sibling sees job and group meta but not web's task meta.
    let side = build(&f, "sidecar").env_map();
    check(&side, "NOMAD_META_OWNER", Some("group"));
    check(&side, "NOMAD_META_TASK_ONLY", None);
    check(&side, "NOMAD_TASK_NAME", Some("sidecar"));
    check(&side, "NOMAD_ADDR_web_http", Some("10.0.0.5:23456"));
}

#[test]
fn task_env_block_is_interpolated() {
    let env = build(&fixture(), "web").env_map();
    check(&env, "GREETING", Some("hi web on worker-1"));
    check(&env, "RACK", Some("r7"));
    check(&env, "KERNEL", Some("linux"));
    check(&env, "UNKNOWN", Some("${nope} ${attr.nope}"));
}

#[test]
fn interpolation_edge_cases() {
    let te = build(&fixture(), "web");
    let cases = [
        ("${NOMAD_ALLOC_INDEX}", "3"),
        ("x${NOMAD_TASK_NAME}y${NOMAD_JOB_ID}z", "xwebyshopz"),
        (
            "${node.unique.id}/${node.datacenter}/${node.class}/${node.pool}",
            "node-1/dc2/edge/default",
        ),
        ("${node.unique.name} ${node.region}", "worker-1 eu"),
        ("${attr.unique.hostname} ${meta.rack}", "w1 r7"),
        // The environment is searched before node values.
        ("${NOMAD_DC}", "overridden"),
        // Unknown names are left exactly as written.
        ("${does_not_exist}", "${does_not_exist}"),
        ("${attr.missing.key}", "${attr.missing.key}"),
        (
            "${env.HOME} ${env[\"HOME\"]}",
            "${env.HOME} ${env[\"HOME\"]}",
        ),
        // Not variables at all.
        ("${}", "${}"),
        ("${ NOMAD_TASK_NAME}", "${ NOMAD_TASK_NAME}"),
        ("${NOMAD_TASK_NAME", "${NOMAD_TASK_NAME"),
        ("$NOMAD_TASK_NAME", "$NOMAD_TASK_NAME"),
        ("$", "$"),
        ("${", "${"),
        ("plain", "plain"),
        ("", ""),
        // Nested braces: only the innermost well-formed name is replaced.
        ("${a${NOMAD_TASK_NAME}}", "${aweb}"),
        ("${${NOMAD_TASK_NAME}}", "${web}"),
        // No runtime escape: `$$` is literal and the variable still expands.
        ("$${NOMAD_TASK_NAME}", "$web"),
        ("$$", "$$"),
        // Values are not re-expanded.
        ("${UNKNOWN}", "${nope} ${attr.nope}"),
        // Non-ASCII around variables.
        ("ü${NOMAD_TASK_NAME}ü", "üwebü"),
        ("${ü}", "${ü}"),
    ];
    for (input, want) in cases {
        assert_eq!(te.interpolate(input), want, "{input:?}");
    }
}

#[test]
fn driver_config_values() {
    let te = build(&fixture(), "web");
    let config = json!({
        "command": "${NOMAD_TASK_DIR}/run.sh",
        "args": ["--port", "${NOMAD_PORT_http}", 7, true, null, {"${NOMAD_TASK_NAME}": "${meta.rack}"}],
        "nested": {"deep": ["${nope}"]},
        "n": 1.5,
    });
    assert_eq!(
        te.interpolate_value(&config),
        json!({
            "command": "/a/web/local/run.sh",
            "args": ["--port", "23456", 7, true, null, {"${NOMAD_TASK_NAME}": "r7"}],
            "nested": {"deep": ["${nope}"]},
            "n": 1.5,
        })
    );
}

#[test]
fn helpers() {
    assert_eq!(alloc_index("shop.frontend[3]", "shop", "frontend"), 3);
    assert_eq!(alloc_index("shop.frontend[12]", "shop", "frontend"), 12);
    assert_eq!(alloc_index("weird", "shop", "frontend"), 0);
    assert_eq!(alloc_index("shop.frontend[x]", "shop", "frontend"), 0);
    assert_eq!(alloc_index("shop.frontü[1]", "shop", "frontend"), 0);
    assert_eq!(alloc_index("", "", ""), 0);

    assert_eq!(clean_env_var("NOMAD_META_a-b.c d"), "NOMAD_META_a_b.c_d");
    assert_eq!(clean_env_var("9lives"), "_lives");
    assert_eq!(clean_env_var("é"), "__");
}

#[test]
fn empty_dirs_and_missing_pieces_are_unset() {
    let f = Fixture {
        alloc: Allocation::default(),
        job: Job::default(),
        node: Node::default(),
    };
    let env = TaskEnv::build(
        &f.alloc,
        &f.job,
        &TaskGroup::default(),
        &Task::default(),
        &f.node,
        (Path::new(""), Path::new(""), Path::new("")),
    )
    .env_map();
    assert_eq!(env, map(&[("NOMAD_ALLOC_INDEX", "0")]));
}

proptest::proptest! {
    #[test]
    fn interpolate_never_panics_and_leaves_plain_text(s in "\\PC{0,40}") {
        let te = build(&fixture(), "web");
        let out = te.interpolate(&s);
        if !s.contains("${") {
            proptest::prop_assert_eq!(out, s);
        }
    }

    #[test]
    fn unknown_names_round_trip(name in "[a-z0-9_.-]{1,12}", pre in "[^$]{0,5}", post in "\\PC{0,5}") {
        let te = build(&fixture(), "web");
        let s = format!("{pre}${{zz_{name}}}{post}");
        let post_expanded = te.interpolate(&post);
        proptest::prop_assert_eq!(te.interpolate(&s), format!("{pre}${{zz_{name}}}{post_expanded}"));
    }
}
