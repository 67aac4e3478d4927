//! The two properties the design rests on (design §2): replaying a log twice
//! gives byte-identical state, and a snapshot restored and replayed from
//! gives the same state as the full log. Plus: the snapshot decoder never
//! panics on garbage.

mod common;

use std::collections::BTreeMap;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::usage::{NodeUsage, Reserved};
use drover_state::{Command, EventRetention, State, WatchKey, WatchSet};
use proptest::prelude::*;

const JOBS: &[&str] = &["j0", "j1", "j2"];
const NODES: &[&str] = &["n0", "n1", "n2"];
const ALLOCS: &[&str] = &["a0", "a1", "a2", "a3", "a4", "a5"];
const EVALS: &[&str] = &["e0", "e1", "e2", "e3"];
const DEPLOYMENTS: &[&str] = &["d0", "d1"];

fn a_deployment(id: &str, job: &str, now: i64) -> Deployment {
    Deployment {
        id: id.into(),
        namespace: "default".into(),
        job_id: job.into(),
        status: deployment_status::RUNNING.into(),
        task_groups: SmallMap::from([(
            "g".to_string(),
            DeploymentState {
                desired_total: 2,
                desired_canaries: 1,
                progress_deadline: 600_000_000_000,
                ..Default::default()
            },
        )]),
        create_time: now,
        ..Default::default()
    }
}

fn pick(names: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(names)
}

fn client_status() -> impl Strategy<Value = AllocClientStatus> {
    prop::sample::select(vec![
        AllocClientStatus::Pending,
        AllocClientStatus::Running,
        AllocClientStatus::Complete,
        AllocClientStatus::Failed,
        AllocClientStatus::Lost,
        AllocClientStatus::Unknown,
    ])
}

fn eval_status() -> impl Strategy<Value = EvalStatus> {
    prop::sample::select(vec![
        EvalStatus::Blocked,
        EvalStatus::Pending,
        EvalStatus::Complete,
        EvalStatus::Failed,
        EvalStatus::Canceled,
    ])
}

fn a_job(id: &str, kind: u8, count: i32) -> Job {
    let mut j = job("default", id, &[("g", count), ("h", 1)]);
    j.job_type = match kind % 4 {
        0 => JobType::Service,
        1 => JobType::Batch,
        2 => JobType::System,
        _ => JobType::Sysbatch,
    };
    j
}

/// Commands over a small universe of IDs, so they collide and interact.
fn command() -> impl Strategy<Value = Command> {
    let now = (0i64..1_000).prop_map(|s| T0 + s * 1_000_000_000);
    prop_oneof![
        (
            pick(JOBS),
            any::<u8>(),
            0i32..4,
            pick(EVALS),
            eval_status(),
            prop::option::of(0u64..6),
            now.clone()
        )
            .prop_map(|(id, kind, count, e, es, enforce, now)| {
                let j = a_job(id, kind, count);
                let mut ev = eval(e, &j, es);
                ev.queued_allocations.insert("g".into(), i64::from(count));
                Command::JobRegister(JobRegister {
                    job: j,
                    eval: Some(ev),
                    enforce_index: enforce,
                    now,
                })
            }),
        (pick(JOBS), any::<bool>(), now.clone()).prop_map(|(id, purge, now)| {
            Command::JobDeregister(JobDeregister {
                namespace: "default".into(),
                job_id: id.into(),
                purge,
                no_shutdown_delay: false,
                eval: None,
                now,
            })
        }),
        (
            pick(JOBS),
            prop::collection::vec((pick(ALLOCS), pick(NODES), pick(EVALS)), 0..4),
            prop::collection::vec(pick(ALLOCS), 0..2),
            prop::option::of((pick(DEPLOYMENTS), any::<bool>())),
            now.clone()
        )
            .prop_map(|(id, placed, stopped, dep, now)| {
                let j = a_job(id, 0, 1);
                Command::ApplyPlanResults(ApplyPlanResults {
                    deployment: dep.map(|(d, _)| a_deployment(d, id, now)),
                    deployment_updates: Vec::new(),
                    namespace: "default".into(),
                    job_id: id.into(),
                    job_version: 0,
                    placed: placed
                        .iter()
                        .map(|(a, n, e)| {
                            let mut a = with_resources(alloc(a, &j, "g", n, e));
                            if let Some((d, canary)) = dep {
                                a.deployment_id = d.into();
                                a.deployment_status = Some(AllocDeploymentStatus {
                                    canary,
                                    ..Default::default()
                                });
                            }
                            a
                        })
                        .collect(),
                    stopped: stopped
                        .iter()
                        .map(|a| AllocStopped {
                            id: (*a).into(),
                            desired_description: "stop".into(),
                            client_status: None,
                            followup_eval_id: String::new(),
                        })
                        .collect(),
                    preempted: vec![],
                    followups: vec![],
                    evals: vec![],
                    now,
                })
            }),
        (
            prop::collection::vec((pick(ALLOCS), client_status()), 1..4),
            now.clone()
        )
            .prop_map(|(ups, now)| {
                Command::AllocClientUpdate(AllocClientUpdate {
                    updates: ups
                        .into_iter()
                        .map(|(id, st)| AllocClientState {
                            id: id.into(),
                            client_status: st,
                            client_description: format!("{st:?}"),
                            task_states: SmallMap::from([(
                                "t".to_string(),
                                TaskState {
                                    restarts: 1,
                                    started_at: Some(now),
                                    ..Default::default()
                                },
                            )]),
                            deployment_status: None,
                        })
                        .collect(),
                    evals: vec![],
                    now,
                })
            }),
        (pick(ALLOCS), any::<bool>(), now.clone()).prop_map(|(id, m, now)| {
            let tr = DesiredTransition {
                migrate: Some(m),
                ..Default::default()
            };
            Command::AllocUpdateDesiredTransition(AllocUpdateDesiredTransition {
                transitions: BTreeMap::from([(id.to_string(), tr)]),
                evals: vec![],
                now,
            })
        }),
        (pick(JOBS), pick(EVALS), eval_status(), now.clone()).prop_map(|(j, e, st, now)| {
            Command::EvalUpdate(EvalUpdate {
                evals: vec![eval(e, &a_job(j, 0, 1), st)],
                now,
            })
        }),
        (
            prop::collection::vec(pick(EVALS), 0..2),
            prop::collection::vec(pick(ALLOCS), 0..2),
            now.clone()
        )
            .prop_map(|(e, a, now)| {
                Command::EvalDelete(EvalDelete {
                    evals: e.into_iter().map(String::from).collect(),
                    allocs: a.into_iter().map(String::from).collect(),
                    user_initiated: false,
                    now,
                })
            }),
        (
            pick(DEPLOYMENTS),
            prop::collection::vec((pick(ALLOCS), any::<bool>()), 0..3),
            0u8..4,
            now.clone()
        )
            .prop_map(|(d, allocs, kind, now)| match kind {
                0 => Command::DeploymentAllocHealth(DeploymentAllocHealth {
                    deployment_id: d.into(),
                    healthy: allocs
                        .iter()
                        .filter(|(_, h)| *h)
                        .map(|(a, _)| a.to_string())
                        .collect(),
                    unhealthy: allocs
                        .iter()
                        .filter(|(_, h)| !*h)
                        .map(|(a, _)| a.to_string())
                        .collect(),
                    update: None,
                    job: None,
                    eval: None,
                    now,
                }),
                1 => Command::DeploymentPromote(DeploymentPromote {
                    deployment_id: d.into(),
                    all: true,
                    groups: vec![],
                    eval: None,
                    now,
                }),
                2 => Command::DeploymentStatusSet(DeploymentStatusSet {
                    update: DeploymentStatusUpdate {
                        deployment_id: d.into(),
                        status: deployment_status::SUCCESSFUL.into(),
                        status_description: deployment_description::SUCCESSFUL.into(),
                    },
                    job: None,
                    eval: None,
                    now,
                }),
                _ => Command::DeploymentDelete(DeploymentDelete {
                    ids: vec![d.into()],
                    now,
                }),
            }),
        (pick(NODES), now.clone()).prop_map(|(n, now)| Command::NodeRegister(NodeRegister {
            node: node(n),
            evals: vec![],
            now
        })),
        (pick(NODES), any::<bool>(), now.clone()).prop_map(|(n, down, now)| {
            let status = if down {
                NodeStatus::Down
            } else {
                NodeStatus::Ready
            };
            Command::NodeUpdateStatus(NodeUpdateStatus {
                node_id: n.into(),
                status,
                event: Some(NodeEvent {
                    message: "x".into(),
                    ..Default::default()
                }),
                evals: vec![],
                now,
            })
        }),
        (pick(NODES), any::<bool>(), now.clone()).prop_map(|(n, el, now)| {
            let eligibility = if el {
                SchedulingEligibility::Eligible
            } else {
                SchedulingEligibility::Ineligible
            };
            Command::NodeUpdateEligibility(NodeUpdateEligibility {
                node_id: n.into(),
                eligibility,
                event: None,
                evals: vec![],
                now,
            })
        }),
        (pick(NODES), any::<bool>(), any::<bool>(), now.clone()).prop_map(|(n, on, mark, now)| {
            let drain_strategy = on.then(DrainStrategy::default);
            Command::NodeUpdateDrain(NodeUpdateDrain {
                node_id: n.into(),
                drain_strategy,
                mark_eligible: mark,
                event: None,
                meta: Default::default(),
                evals: vec![],
                now,
            })
        }),
        (any::<bool>(), 0u8..3, 0u64..30, now.clone()).prop_map(|(spread, cond, at, now)| {
            let condition = match cond {
                0 => SetCondition::Always,
                1 => SetCondition::ModifyIndex(at),
                _ => SetCondition::Absent,
            };
            let mut config = SchedulerConfiguration::cluster_default();
            if spread {
                config.scheduler_algorithm = "spread".into();
            }
            Command::SchedulerConfigSet(SchedulerConfigSet {
                config,
                condition,
                now,
            })
        }),
        (1u64..20, 0u8..3, 0u64..30, now.clone()).prop_map(|(secs, cond, at, now)| {
            let condition = match cond {
                0 => SetCondition::Always,
                1 => SetCondition::ModifyIndex(at),
                _ => SetCondition::Absent,
            };
            Command::AutopilotConfigSet(AutopilotConfigSet {
                config: AutopilotConfig {
                    cleanup_dead_servers: false,
                    last_contact_threshold: 200_000_000,
                    max_trailing_logs: 250,
                    min_quorum: 0,
                    server_stabilization_time: secs * 1_000_000_000,
                    enable_redundancy_zones: false,
                    disable_upgrade_migration: false,
                    enable_custom_upgrades: false,
                    create_index: 0,
                    modify_index: 0,
                },
                condition,
                now,
            })
        }),
        (pick(NODES), now.clone()).prop_map(|(n, now)| Command::NodeDeregister(NodeDeregister {
            node_ids: vec![n.into()],
            now
        })),
        (pick(JOBS), 0u64..4, any::<bool>(), now.clone()).prop_map(|(id, version, stable, now)| {
            Command::JobStability(JobStability {
                namespace: "default".into(),
                job_id: id.into(),
                version,
                stable,
                now,
            })
        }),
        (
            pick(JOBS),
            prop::sample::select(vec!["g", "h", "x"]),
            prop::option::of(0i32..4),
            now.clone()
        )
            .prop_map(|(id, group, count, now)| {
                let register = count.map(|c| {
                    let mut j = a_job(id, 0, c);
                    j.task_groups[0].scaling = Some(ScalingPolicy {
                        id: format!("{id}-g"),
                        min: Some(0),
                        max: Some(5),
                        policy: Some(serde_json::json!({"cooldown": "1m", "n": 2})),
                        ..Default::default()
                    });
                    JobRegister {
                        job: j,
                        eval: None,
                        enforce_index: None,
                        now,
                    }
                });
                Command::ScalingEventRegister(ScalingEventRegister {
                    namespace: "default".into(),
                    job_id: id.into(),
                    task_group: group.into(),
                    event: ScalingEvent {
                        time: now,
                        count: count.map(i64::from),
                        meta: Some([("by".to_string(), serde_json::json!(1))].into()),
                        ..Default::default()
                    },
                    register,
                    now,
                })
            }),
        (
            prop::sample::select(vec!["a", "b", "default"]),
            any::<bool>(),
            now.clone()
        )
            .prop_map(|(name, delete, now)| {
                if delete {
                    Command::NamespaceDelete(NamespaceDelete {
                        names: vec![name.into()],
                        now,
                    })
                } else {
                    Command::NamespaceUpsert(NamespaceUpsert {
                        namespaces: vec![Namespace {
                            name: name.into(),
                            description: format!("at {now}"),
                            ..Default::default()
                        }],
                        now,
                    })
                }
            }),
        (pick(JOBS), 0i32..4, now.clone()).prop_map(|(id, count, now)| {
            Command::JobSubmit(JobSubmit {
                register: JobRegister {
                    job: a_job(id, 1, count),
                    eval: None,
                    enforce_index: None,
                    now,
                },
                submission: JobSubmission {
                    source: format!("job {id:?} {{ count = {count} }}"),
                    format: "hcl2".into(),
                    variable_flags: [("v".to_string(), count.to_string())].into(),
                    ..Default::default()
                },
            })
        }),
        acl_command(now),
    ]
}

/// ACL writes over two accessors, two secrets and two policies, so
/// bootstraps repeat, secrets collide and deletes miss.
fn acl_command(now: impl Strategy<Value = i64> + Clone) -> impl Strategy<Value = Command> {
    let row = || {
        (pick(&["t0", "t1"]), pick(&["h0", "h1"]), any::<bool>()).prop_map(
            |(acc, hash, management)| AclTokenRow {
                token: AclToken {
                    accessor_id: acc.into(),
                    token_type: if management { "management" } else { "client" }.into(),
                    policies: if management {
                        vec![]
                    } else {
                        vec!["p0".into()]
                    },
                    ..Default::default()
                },
                secret_hash: hash.into(),
            },
        )
    };
    prop_oneof![
        (row(), now.clone())
            .prop_map(|(token, now)| Command::AclBootstrap(AclBootstrap { token, now })),
        (row(), now.clone()).prop_map(|(t, now)| Command::AclTokenUpsert(AclTokenUpsert {
            tokens: vec![t],
            now
        })),
        (pick(&["t0", "t1"]), now.clone()).prop_map(|(a, now)| Command::AclTokenDelete(
            AclTokenDelete {
                accessors: vec![a.into()],
                now
            }
        )),
        (pick(&["p0", "p1"]), now.clone()).prop_map(|(n, now)| Command::AclPolicyUpsert(
            AclPolicyUpsert {
                policies: vec![AclPolicy {
                    name: n.into(),
                    rules: format!("namespace \"{n}\" {{ policy = \"read\" }}"),
                    ..Default::default()
                }],
                now
            }
        )),
        (pick(&["p0", "p1"]), now).prop_map(|(n, now)| Command::AclPolicyDelete(AclPolicyDelete {
            names: vec![n.into()],
            now
        })),
    ]
}

/// Small retention so pruning (by count, age and bytes) happens inside the
/// sequences too.
const RETENTION: EventRetention = EventRetention {
    max_events: 40,
    max_age: 500 * 1_000_000_000,
    max_bytes: 16 * 1024,
};

/// Legacy `Resources` with a static port: the node-usage index counts them.
fn with_resources(mut a: Allocation) -> Allocation {
    let last = i64::from(a.id.bytes().last().unwrap_or(0));
    let port = 8000 + last % 3;
    a.resources = Some(Resources {
        cpu: 100 + last,
        memory_mb: 64,
        networks: vec![NetworkResource {
            reserved_ports: vec![Port {
                label: "http".into(),
                value: port,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    a
}

fn run(cmds: &[Command]) -> State {
    let mut st = State::new(RETENTION);
    for (i, c) in cmds.iter().enumerate() {
        st.apply(i as u64 + 1, c);
    }
    st
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn replaying_the_same_log_gives_byte_identical_snapshots(cmds in prop::collection::vec(command(), 0..60)) {
        let a = run(&cmds);
        let b = run(&cmds);
        prop_assert_eq!(a.snapshot().unwrap(), b.snapshot().unwrap());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn snapshot_at_k_restored_and_replayed_equals_the_full_log(cmds in prop::collection::vec(command(), 1..60), k in any::<prop::sample::Index>()) {
        let k = k.index(cmds.len() + 1);
        let full = run(&cmds);
        let prefix = run(&cmds[..k]);
        let mut resumed = State::restore(&prefix.snapshot().unwrap(), RETENTION).unwrap();
        prop_assert_eq!(&resumed, &prefix, "restore reproduces the state exactly");
        for (i, c) in cmds.iter().enumerate().skip(k) {
            resumed.apply(i as u64 + 1, c);
        }
        prop_assert_eq!(resumed.snapshot().unwrap(), full.snapshot().unwrap());
        prop_assert_eq!(resumed, full);
    }

    #[test]
    fn node_usage_is_the_sum_over_live_allocations(cmds in prop::collection::vec(command(), 0..60)) {
        let st = run(&cmds);
        let mut want: std::collections::BTreeMap<String, NodeUsage> = Default::default();
        for row in st.allocs(&mut WatchSet::new(), None, false) {
            if !row.alloc.is_terminal() {
                want.entry(row.alloc.node_id.clone()).or_default().add(&Reserved::of(&row.alloc));
            }
        }
        for node in NODES {
            prop_assert_eq!(st.node_usage(node), want.get(*node), "node {}", node);
        }
    }

    #[test]
    fn the_leaders_change_reads_return_exactly_the_rows_changed_after_an_index(cmds in prop::collection::vec(command(), 0..60), k in any::<prop::sample::Index>()) {
        let st = run(&cmds);
        let k = k.index(cmds.len() + 1) as u64;
        let mut ws = WatchSet::new();
        let mut want: Vec<(u64, String)> = st.evals(&mut ws, None, false)
            .filter(|e| e.modify_index > k)
            .map(|e| (e.modify_index, e.id.clone()))
            .collect();
        want.sort();
        let got: Vec<(u64, String)> = st.evals_modified_after(k).map(|e| (e.modify_index, e.id.clone())).collect();
        prop_assert_eq!(got, want, "evals after {}", k);
        let mut want: Vec<(u64, String)> = st.nodes_unwatched()
            .filter(|n| n.modify_index > k)
            .map(|n| (n.modify_index, n.id.clone()))
            .collect();
        want.sort();
        let got: Vec<(u64, String)> = st.nodes_modified_after(k).map(|n| (n.modify_index, n.id.clone())).collect();
        prop_assert_eq!(got, want, "nodes after {}", k);
        let mut want: Vec<(u64, String)> = NODES.iter()
            .map(|n| (st.index_of(&WatchKey::NodeAllocs(n.to_string())), n.to_string()))
            .filter(|(i, _)| *i > k)
            .collect();
        want.sort();
        let got: Vec<(u64, String)> = st.node_allocs_changed_after(k).map(|(n, i)| (i, n.to_string())).collect();
        prop_assert_eq!(got, want, "node allocations after {}", k);
    }

    #[test]
    fn snapshot_decoder_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = State::restore(&bytes, RETENTION);
    }

    #[test]
    fn snapshot_decoder_never_panics_on_corrupted_snapshots(cmds in prop::collection::vec(command(), 1..20), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut bytes = run(&cmds).snapshot().unwrap();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let keep = cut.index(bytes.len() + 1);
        let _ = State::restore(&bytes[..keep], RETENTION);
        let _ = State::restore(&bytes, RETENTION);
    }
}

#[test]
fn restore_rejects_an_unknown_format_with_a_clear_error() {
    #[derive(serde::Serialize)]
    struct Fake {
        format: u32,
    }
    let bytes = rmp_serde::to_vec_named(&Fake { format: 99 }).unwrap();
    let err = State::restore(&bytes, RETENTION).unwrap_err().to_string();
    assert!(
        err.contains("not valid") || err.contains("format 99"),
        "{err}"
    );
    let err = State::restore(b"\xc1", RETENTION).unwrap_err().to_string();
    assert!(
        err.starts_with("snapshot is not valid MessagePack"),
        "{err}"
    );
}
