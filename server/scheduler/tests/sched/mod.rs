//! A scheduler harness over a real `State`: nodes and jobs are registered
//! and plans committed by applying commands, as the leader would.
#![allow(dead_code)]

use std::collections::BTreeMap;

use drover_api::*;
use drover_scheduler::compute;
use drover_scheduler::generic::Plan;
use drover_state::command::{AllocClientState, AllocClientUpdate, JobRegister, NodeRegister};
use drover_state::{Command, State, WatchSet};

pub const T0: i64 = 1_700_000_000_000_000_000;

pub struct H {
    pub st: State,
    pub index: u64,
    pub ids: u64,
}

impl H {
    pub fn new() -> H {
        H {
            st: State::default(),
            index: 0,
            ids: 0,
        }
    }

    pub fn apply(&mut self, cmd: Command) {
        self.index += 1;
        let out = self.st.apply(self.index, &cmd);
        assert_eq!(out.result, Ok(()), "command {} rejected", self.index);
    }

    pub fn node(&mut self, id: &str, cpu: i64, mem: i64, attrs: &[(&str, &str)]) {
        let node = Node {
            id: id.into(),
            name: id.into(),
            datacenter: "dc1".into(),
            node_pool: "default".into(),
            status: NodeStatus::Ready,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            drivers: BTreeMap::from([(
                "raw_exec".to_string(),
                DriverInfo {
                    detected: true,
                    healthy: true,
                    ..Default::default()
                },
            )]),
            node_resources: NodeResources {
                cpu: NodeCpuResources {
                    cpu_shares: cpu,
                    ..Default::default()
                },
                memory: NodeMemoryResources { memory_mb: mem },
                disk: NodeDiskResources { disk_mb: 100_000 },
                ..Default::default()
            },
            ..Default::default()
        };
        self.apply(Command::NodeRegister(NodeRegister {
            node,
            evals: vec![],
            now: T0,
        }));
    }

    pub fn job_spec(
        id: &str,
        kind: JobType,
        count: i32,
        cpu: i64,
        mem: i64,
        constraints: Vec<Constraint>,
    ) -> Job {
        Job {
            namespace: "default".into(),
            id: id.into(),
            name: id.into(),
            job_type: kind,
            priority: 50,
            datacenters: vec!["dc1".into()],
            node_pool: "default".into(),
            constraints,
            task_groups: vec![TaskGroup {
                name: "g".into(),
                count,
                ephemeral_disk: Some(EphemeralDisk {
                    size_mb: 10,
                    ..Default::default()
                }),
                tasks: vec![Task {
                    name: "t".into(),
                    driver: "raw_exec".into(),
                    resources: Resources {
                        cpu,
                        memory_mb: mem,
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    pub fn job(
        &mut self,
        id: &str,
        kind: JobType,
        count: i32,
        cpu: i64,
        mem: i64,
        constraints: Vec<Constraint>,
    ) -> Evaluation {
        let job = Self::job_spec(id, kind, count, cpu, mem, constraints);
        self.register(job)
    }

    /// Register `job` (a new version when it exists) with a pending eval.
    pub fn register(&mut self, job: Job) -> Evaluation {
        self.index += 1;
        let eval = self.eval_for(&job.id, job.job_type);
        let out = self.st.apply(
            self.index,
            &Command::JobRegister(JobRegister {
                job,
                eval: Some(eval.clone()),
                enforce_index: None,
                now: T0,
            }),
        );
        assert_eq!(out.result, Ok(()));
        eval
    }

    /// A pending eval for `job` (not written).
    pub fn eval_for(&mut self, job: &str, kind: JobType) -> Evaluation {
        self.ids += 1;
        Evaluation {
            id: format!("eval-{job}-{}", self.ids),
            namespace: "default".into(),
            job_id: job.into(),
            eval_type: kind.as_str().into(),
            status: EvalStatus::Pending,
            ..Default::default()
        }
    }

    /// The stored job.
    pub fn stored_job(&self, id: &str) -> Job {
        self.st
            .job(&mut WatchSet::new(), "default", id)
            .cloned()
            .expect("job exists")
    }

    /// Report client state for one allocation, as a client would.
    pub fn report(
        &mut self,
        alloc: &str,
        status: AllocClientStatus,
        healthy: Option<bool>,
        at: i64,
    ) {
        let mut task_states = SmallMap::default();
        if status.is_terminal() {
            task_states.insert(
                "t".to_string(),
                TaskState {
                    state: TaskStateValue::Dead,
                    failed: status == AllocClientStatus::Failed,
                    finished_at: Some(at),
                    ..Default::default()
                },
            );
        }
        self.apply(Command::AllocClientUpdate(AllocClientUpdate {
            updates: vec![AllocClientState {
                id: alloc.into(),
                client_status: status,
                client_description: String::new(),
                task_states,
                deployment_status: healthy.map(|h| AllocDeploymentStatus {
                    healthy: Some(h),
                    ..Default::default()
                }),
            }],
            evals: vec![],
            now: at,
        }));
    }

    /// Compute and commit the plan for `eval`.
    pub fn schedule(&mut self, eval: &Evaluation) -> Plan {
        self.schedule_at(eval, T0)
    }

    /// [`H::schedule`] at time `now`.
    pub fn schedule_at(&mut self, eval: &Evaluation, now: i64) -> Plan {
        let mut n = self.ids;
        let plan = compute(
            &self.st,
            eval,
            &mut || {
                n += 1;
                format!("alloc-{n:05}")
            },
            now,
        );
        self.ids = n;
        self.apply(
            plan.clone()
                .into_command(eval.clone(), format!("blocked-{}", eval.id), now),
        );
        plan
    }

    pub fn live_allocs(&self, job: &str) -> Vec<Allocation> {
        self.st
            .allocs_by_job(&mut WatchSet::new(), "default", job)
            .filter(|r| {
                r.alloc.desired_status == AllocDesiredStatus::Run
                    && !r.alloc.client_status.is_terminal()
            })
            .map(|r| r.alloc.clone())
            .collect()
    }
}

pub fn c(l: &str, op: &str, r: &str) -> Constraint {
    Constraint {
        l_target: l.into(),
        operand: op.into(),
        r_target: r.into(),
    }
}
