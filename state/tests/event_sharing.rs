//! Retained events of jobs, evaluations and deployments keep the stored
//! row while the tables hold it, and its encoding once they let go;
//! neither form shows in what the log serves, counts or snapshots.

mod common;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::{Command, EventRetention, State};

/// `(index, topic, key, shared)` of every retained event, oldest first.
fn events(st: &State) -> Vec<(u64, Topic, String, bool)> {
    st.events()
        .read_from(0)
        .unwrap()
        .flat_map(|b| {
            b.events
                .iter()
                .map(move |e| (b.index, e.topic(), e.key().to_string(), e.is_shared()))
        })
        .collect()
}

fn shared(st: &State, index: u64, topic: Topic, key: &str) -> Vec<bool> {
    events(st)
        .into_iter()
        .filter(|(i, t, k, _)| (*i, *t, k.as_str()) == (index, topic, key))
        .map(|(.., s)| s)
        .collect()
}

/// Every retained event as the stream serves it.
fn served(st: &State) -> Vec<Event> {
    st.events()
        .read_from(0)
        .unwrap()
        .flat_map(|b| b.events.iter().map(|e| e.to_event(b.index).unwrap()))
        .collect()
}

#[test]
fn events_share_rows_until_the_tables_let_go() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    // 1: the job and its pending eval.
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    assert_eq!(shared(&h.state, 1, Topic::Job, "web"), [true]);
    assert_eq!(shared(&h.state, 1, Topic::Evaluation, "e1"), [true]);
    let bytes_before = h.state.events().encoded_bytes();

    // 2: the eval completes and leaves a blocked one: the pending eval's
    // row is gone, so its event holds the encoding.
    let mut done = eval("e1", &j, EvalStatus::Complete);
    done.blocked_eval = "b1".into();
    h.ok(Command::EvalUpdate(EvalUpdate {
        evals: vec![done, eval("b1", &j, EvalStatus::Blocked)],
        now: T0 + 1,
    }));
    assert_eq!(shared(&h.state, 1, Topic::Evaluation, "e1"), [false]);
    assert_eq!(shared(&h.state, 2, Topic::Evaluation, "e1"), [true]);
    assert_eq!(shared(&h.state, 2, Topic::Evaluation, "b1"), [true]);
    // The job did not change.
    assert_eq!(shared(&h.state, 1, Topic::Job, "web"), [true]);
    assert!(h.state.events().encoded_bytes() > bytes_before);

    // What is served is what was logged, whichever form it is kept in.
    let statuses: Vec<EvalStatus> = served(&h.state)
        .into_iter()
        .filter_map(|e| match e.payload {
            EventPayload::Evaluation(e) if e.id == "e1" => Some(e.status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [EvalStatus::Pending, EvalStatus::Complete]);

    // Versions of the job stay shared while they are tracked; once pruned,
    // their events hold the encoding.
    for v in 0..TRACKED_VERSIONS_PLUS_ONE {
        let mut next = j.clone();
        next.meta.insert("v".into(), v.to_string());
        h.ok(register(&next, None));
    }
    let job_events = shared(&h.state, 1, Topic::Job, "web");
    assert_eq!(job_events, [false], "version 0 was pruned");
    let newest = h.index;
    assert_eq!(shared(&h.state, newest, Topic::Job, "web"), [true]);

    // Deleting the eval lets go of its row too.
    h.ok(Command::EvalDelete(EvalDelete {
        evals: vec!["b1".into()],
        allocs: vec![],
        user_initiated: false,
        now: T0 + 2,
    }));
    assert_eq!(shared(&h.state, 2, Topic::Evaluation, "b1"), [false]);

    // A deregistered (purged) job: its last event holds the encoding.
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: true,
        no_shutdown_delay: false,
        eval: None,
        now: T0 + 3,
    }));
    assert!(events(&h.state)
        .iter()
        .filter(|(_, t, k, _)| *t == Topic::Job && k == "web")
        .all(|(.., s)| !s));
}

const TRACKED_VERSIONS_PLUS_ONE: usize = 7;

#[test]
fn deployment_events_share_the_row_until_it_changes_or_goes() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    // 2: a plan that placed nothing still creates the version's deployment.
    let Command::ApplyPlanResults(mut p) = plan(&j, vec![], vec![]) else {
        unreachable!()
    };
    p.deployment = Some(Deployment {
        id: "d1".into(),
        namespace: "default".into(),
        job_id: "web".into(),
        job_create_index: 1,
        status: deployment_status::RUNNING.into(),
        status_description: deployment_description::RUNNING.into(),
        task_groups: SmallMap::from([(
            "g".to_string(),
            DeploymentState {
                desired_total: 1,
                ..Default::default()
            },
        )]),
        ..Default::default()
    });
    h.ok(Command::ApplyPlanResults(p));
    assert_eq!(shared(&h.state, 2, Topic::Deployment, "d1"), [true]);
    let logged = served(&h.state);

    // A restore shares it again.
    let restored = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(shared(&restored, 2, Topic::Deployment, "d1"), [true]);
    assert_eq!(served(&restored), logged);

    // 3: a status change replaces the row: the old event holds the
    // encoding of what was logged, the new one shares the new row.
    h.ok(Command::DeploymentStatusSet(DeploymentStatusSet {
        update: DeploymentStatusUpdate {
            deployment_id: "d1".into(),
            status: deployment_status::PAUSED.into(),
            status_description: deployment_description::PAUSED.into(),
        },
        job: None,
        eval: None,
        now: T0 + 2,
    }));
    assert_eq!(shared(&h.state, 2, Topic::Deployment, "d1"), [false]);
    assert_eq!(shared(&h.state, 3, Topic::Deployment, "d1"), [true]);
    let statuses: Vec<String> = served(&h.state)
        .into_iter()
        .filter_map(|e| match e.payload {
            EventPayload::Deployment(d) => Some(d.status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [deployment_status::RUNNING, deployment_status::PAUSED]
    );
    assert_eq!(served(&h.state)[..logged.len()], logged[..]);

    // Purging the job deletes its deployment: no event keeps the row.
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: true,
        eval: None,
        now: T0 + 3,
        no_shutdown_delay: false,
    }));
    assert!(events(&h.state)
        .iter()
        .filter(|(_, t, ..)| *t == Topic::Deployment)
        .all(|(.., s)| !s));
    assert!(h
        .state
        .deployments_by_job(&mut Default::default(), "default", "web")
        .next()
        .is_none());
}

#[test]
fn a_restored_log_shares_the_rows_again_and_reads_the_same() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    let mut done = eval("e1", &j, EvalStatus::Complete);
    done.blocked_eval = "b1".into();
    h.ok(Command::EvalUpdate(EvalUpdate {
        evals: vec![done, eval("b1", &j, EvalStatus::Blocked)],
        now: T0 + 1,
    }));
    let n = node("n1");
    h.ok(node_register(&n));

    let snap = h.state.snapshot().unwrap();
    let back = State::restore(&snap, EventRetention::default()).unwrap();
    assert_eq!(back, h.state);
    assert_eq!(events(&back), events(&h.state), "the same rows are shared");
    assert_eq!(served(&back), served(&h.state));
    assert_eq!(
        back.events().encoded_bytes(),
        h.state.events().encoded_bytes()
    );
    assert_eq!(back.snapshot().unwrap(), snap, "re-encoded exactly");
}

#[test]
fn byte_retention_counts_a_shared_row_as_its_encoding() {
    // Room for about two jobs' events: sharing must not let more in.
    let mut a = State::new(EventRetention {
        max_bytes: 4000,
        ..EventRetention::default()
    });
    for i in 0..20u64 {
        let j = job("default", &format!("job-{i}"), &[("g", 1)]);
        let cmd = register(&j, Some(eval(&format!("e{i}"), &j, EvalStatus::Pending)));
        assert!(a.apply(i + 1, &cmd).result.is_ok());
    }
    let kept = a.events().len();
    assert!(kept < 20, "{kept} events kept in 4000 bytes");
    assert!(a.events().encoded_bytes() <= 4000);
    let per_event = a.events().encoded_bytes() / kept;
    assert!(per_event > 500, "{per_event} bytes counted per event");
}
