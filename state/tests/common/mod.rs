//! Builders shared by the state tests. Times and IDs are fixed so the same
//! test always produces the same bytes.
#![allow(dead_code)]

use std::collections::BTreeMap;

use drover_api::*;
use drover_state::command::*;
use drover_state::{Applied, Command, State};

pub const T0: i64 = 1_700_000_000_000_000_000;

pub fn job(ns: &str, id: &str, groups: &[(&str, i32)]) -> Job {
    Job {
        region: "global".into(),
        namespace: ns.into(),
        id: id.into(),
        name: id.into(),
        job_type: JobType::Service,
        priority: 50,
        datacenters: vec!["dc1".into()],
        task_groups: groups
            .iter()
            .map(|(name, count)| TaskGroup {
                name: (*name).into(),
                count: *count,
                tasks: vec![Task {
                    name: "t".into(),
                    driver: "raw_exec".into(),
                    resources: Resources {
                        cpu: 100,
                        memory_mb: 64,
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
        meta: BTreeMap::from([("env".into(), "test".into())]),
        submit_time: T0,
        ..Default::default()
    }
}

pub fn eval(id: &str, job: &Job, status: EvalStatus) -> Evaluation {
    Evaluation {
        id: id.into(),
        namespace: job.namespace.clone(),
        priority: job.priority,
        eval_type: job.job_type.as_str().into(),
        triggered_by: trigger::JOB_REGISTER.into(),
        job_id: job.id.clone(),
        status,
        create_time: T0,
        modify_time: T0,
        ..Default::default()
    }
}

pub fn alloc(id: &str, job: &Job, tg: &str, node: &str, eval: &str) -> Allocation {
    Allocation {
        id: id.into(),
        namespace: job.namespace.clone(),
        eval_id: eval.into(),
        name: format!("{}.{}[0]", job.id, tg),
        node_id: node.into(),
        node_name: format!("name-{node}"),
        job_id: job.id.clone(),
        task_group: tg.into(),
        desired_status: AllocDesiredStatus::Run,
        client_status: AllocClientStatus::Pending,
        ..Default::default()
    }
}

pub fn node(id: &str) -> Node {
    Node {
        id: id.into(),
        secret_id: format!("secret-{id}"),
        datacenter: "dc1".into(),
        name: format!("name-{id}"),
        http_addr: "127.0.0.1:4646".into(),
        status: NodeStatus::Ready,
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: 4000,
                total_cpu_cores: 2,
                ..Default::default()
            },
            memory: NodeMemoryResources { memory_mb: 8192 },
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn register(job: &Job, eval: Option<Evaluation>) -> Command {
    Command::JobRegister(JobRegister {
        job: job.clone(),
        eval,
        enforce_index: None,
        now: T0,
    })
}

pub fn plan(job: &Job, placed: Vec<Allocation>, evals: Vec<Evaluation>) -> Command {
    Command::ApplyPlanResults(ApplyPlanResults {
        deployment: None,
        deployment_updates: Vec::new(),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        job_version: job.version,
        placed,
        stopped: vec![],
        preempted: vec![],
        followups: vec![],
        evals,
        now: T0 + 1,
    })
}

pub fn client_update(id: &str, status: AllocClientStatus) -> Command {
    Command::AllocClientUpdate(AllocClientUpdate {
        updates: vec![AllocClientState {
            id: id.into(),
            client_status: status,
            client_description: String::new(),
            task_states: SmallMap::new(),
            deployment_status: None,
        }],
        evals: vec![],
        now: T0 + 2,
    })
}

pub fn node_register(n: &Node) -> Command {
    Command::NodeRegister(NodeRegister {
        node: n.clone(),
        evals: vec![],
        now: T0,
    })
}

/// A state plus the next Raft index, applying commands in order.
pub struct Harness {
    pub state: State,
    pub index: u64,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            state: State::default(),
            index: 0,
        }
    }

    /// Apply and insist it was accepted.
    #[track_caller]
    pub fn ok(&mut self, cmd: Command) -> Applied {
        let applied = self.apply(cmd);
        assert_eq!(
            applied.result,
            Ok(()),
            "command at index {} was rejected",
            applied.index
        );
        applied
    }

    pub fn apply(&mut self, cmd: Command) -> Applied {
        self.index += 1;
        self.state.apply(self.index, &cmd)
    }
}
