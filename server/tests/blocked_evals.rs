//! Which blocked evals a node change retries (server/src/blocked.rs).

#[path = "../scheduler/tests/sched/mod.rs"]
mod sched;

use drover_api::*;
use drover_server::blocked::{unblocks, BlockedEvals, CapacityWatch};
use drover_state::WatchSet;
use sched::{c, H};

fn blocked_at(h: &H, job: &str, snapshot_index: u64) -> Evaluation {
    Evaluation {
        id: format!("blocked-{job}"),
        namespace: "default".into(),
        job_id: job.into(),
        status: EvalStatus::Blocked,
        snapshot_index,
        modify_index: h.index + 100,
        ..Default::default()
    }
}

#[test]
fn a_node_registered_after_the_snapshot_unblocks_even_if_the_eval_committed_later() {
    let mut h = H::new();
    h.job("web", JobType::Service, 1, 100, 64, vec![]);
    let snapshot = h.index;
    h.node("late", 4000, 4096, &[]);
    // The plan that blocked was computed at `snapshot` and committed after
    // the node registered: the node still counts.
    let eval = blocked_at(&h, "web", snapshot);
    let nodes: Vec<&Node> = h.st.nodes(&mut WatchSet::new(), "", None, false).collect();
    assert!(unblocks(&h.st, &eval, &nodes));
    // A node the scheduler had already seen does not.
    let seen = blocked_at(&h, "web", h.index);
    assert!(!unblocks(&h.st, &seen, &nodes));
}

#[test]
fn a_node_that_cannot_run_the_job_does_not_unblock_it() {
    let mut h = H::new();
    h.job(
        "web",
        JobType::Service,
        1,
        100,
        64,
        vec![c("${attr.kernel.name}", "=", "linux")],
    );
    let eval = blocked_at(&h, "web", h.index);
    h.node("mac", 4000, 4096, &[("kernel.name", "darwin")]);
    let nodes: Vec<&Node> = h.st.nodes(&mut WatchSet::new(), "", None, false).collect();
    assert!(!unblocks(&h.st, &eval, &nodes));
    h.node("linux", 4000, 4096, &[("kernel.name", "linux")]);
    let nodes: Vec<&Node> = h.st.nodes(&mut WatchSet::new(), "", None, false).collect();
    assert!(unblocks(&h.st, &eval, &nodes));
}

#[test]
fn the_capacity_watch_reports_new_changed_and_emptier_nodes_only() {
    let mut h = H::new();
    h.node("a", 4000, 4096, &[]);
    h.node("b", 4000, 4096, &[]);
    let mut watch = CapacityWatch::default();
    assert_eq!(watch.changed(&h.st).len(), 2, "first look: everything");
    assert!(watch.changed(&h.st).is_empty(), "nothing since");
    let eval = h.job("web", JobType::Service, 2, 100, 64, vec![]);
    let plan = h.schedule(&eval);
    assert!(
        watch.changed(&h.st).is_empty(),
        "more allocations free no room"
    );
    h.report(
        &plan.placed[0].id,
        AllocClientStatus::Complete,
        None,
        sched::T0,
    );
    let changed: Vec<String> = watch.changed(&h.st).iter().map(|n| n.id.clone()).collect();
    assert_eq!(changed, vec![plan.placed[0].node_id.clone()]);
}

/// Compute and commit the plan for `eval` as the leader does: planned
/// against the current index.
fn schedule(h: &mut H, eval: &Evaluation) {
    let mut n = h.ids;
    let mut plan = drover_scheduler::compute(
        &h.st,
        eval,
        &mut || {
            n += 1;
            format!("alloc-{n:05}")
        },
        sched::T0,
    );
    h.ids = n;
    plan.snapshot_index = h.index;
    h.apply(plan.into_command(eval.clone(), format!("blocked-{}", eval.id), sched::T0));
}

/// Register a job that can only run in datacenter `dc`, with its eval.
fn job_in(h: &mut H, id: &str, dc: &str, cpu: i64) -> Evaluation {
    let mut job = H::job_spec(id, JobType::Service, 1, cpu, 64, vec![]);
    job.datacenters = vec![dc.into()];
    h.register(job)
}

/// Register (or re-register) node `id` in datacenter `dc`.
fn node_in(h: &mut H, id: &str, dc: &str, cpu: i64) {
    h.node(id, cpu, 4096, &[]);
    let mut node = h.st.node_unwatched(id).cloned().unwrap();
    node.datacenter = dc.into();
    h.apply(drover_state::Command::NodeRegister(
        drover_state::command::NodeRegister {
            node,
            evals: vec![],
            now: sched::T0,
        },
    ));
}

fn ids(evals: &[&Evaluation]) -> Vec<String> {
    let mut ids: Vec<String> = evals.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn a_node_change_examines_only_the_blocked_evals_of_its_datacenter() {
    let mut h = H::new();
    h.node("a", 4000, 4096, &[]);
    let mut blocked = BlockedEvals::default();
    blocked.look(&h.st);
    let evals: Vec<Evaluation> = (0..50)
        .map(|i| job_in(&mut h, &format!("j{i}"), "nowhere", 100))
        .collect();
    let look = blocked.look(&h.st);
    assert_eq!(look.pending.len(), 50, "new pending evals, once");
    assert_eq!(look.examined, 0);
    for e in &evals {
        schedule(&mut h, e);
    }
    let look = blocked.look(&h.st);
    assert!(look.pending.is_empty());
    assert_eq!(blocked.len(), 50);
    assert_eq!(look.examined, 50, "each newly blocked eval, once");
    assert!(look.unblocked.is_empty());

    // Writes that cannot unblock them: dc1 nodes, a dc1 job placed.
    node_in(&mut h, "b", "dc1", 4000);
    h.node("a", 8000, 8192, &[]);
    let small = job_in(&mut h, "small", "dc1", 100);
    schedule(&mut h, &small);
    let look = blocked.look(&h.st);
    assert_eq!(look.examined, 0, "no blocked eval could use a dc1 node");
    assert!(look.unblocked.is_empty());
    assert!(blocked.look(&h.st).pending.is_empty(), "nothing since");

    // A node where they can run wakes every one of them.
    node_in(&mut h, "x", "nowhere", 8000);
    let look = blocked.look(&h.st);
    assert_eq!(look.examined, 50);
    let blocked_ids: Vec<String> = (0..50)
        .map(|i| format!("blocked-{}", evals[i].id))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ids(&look.unblocked), blocked_ids);
}

#[test]
fn a_blocked_eval_wakes_when_a_node_it_could_use_frees_room_not_when_it_fills() {
    let mut h = H::new();
    h.node("a", 1000, 4096, &[]);
    let mut blocked = BlockedEvals::default();
    let big = job_in(&mut h, "big", "dc1", 600);
    schedule(&mut h, &big);
    let second = job_in(&mut h, "second", "dc1", 600);
    schedule(&mut h, &second);
    blocked.look(&h.st);
    assert_eq!(blocked.len(), 1);
    let small = job_in(&mut h, "small", "dc1", 100);
    schedule(&mut h, &small);
    let look = blocked.look(&h.st);
    assert_eq!(look.examined, 0, "a placement frees no room");
    let placed = h.live_allocs("big");
    h.report(&placed[0].id, AllocClientStatus::Complete, None, sched::T0);
    let look = blocked.look(&h.st);
    assert_eq!(look.examined, 1);
    assert_eq!(ids(&look.unblocked), vec![format!("blocked-{}", second.id)]);
}

#[test]
fn a_new_leader_reads_every_blocked_eval_once_then_only_changes() {
    let mut h = H::new();
    h.node("a", 1000, 4096, &[]);
    let evals: Vec<Evaluation> = (0..5)
        .map(|i| job_in(&mut h, &format!("j{i}"), "nowhere", 100))
        .collect();
    for e in &evals {
        schedule(&mut h, e);
    }
    let pending = job_in(&mut h, "later", "nowhere", 100);
    let mut blocked = BlockedEvals::default();
    let look = blocked.look(&h.st);
    assert_eq!(ids(&look.pending), vec![pending.id.clone()]);
    assert_eq!(look.examined, 5);
    assert!(
        look.unblocked.is_empty(),
        "no node changed after their snapshots"
    );
    blocked.reset();
    let look = blocked.look(&h.st);
    assert_eq!((look.pending.len(), look.examined), (1, 5), "all again");
    node_in(&mut h, "b", "dc1", 1000);
    let look = blocked.look(&h.st);
    assert_eq!(look.examined, 0, "then only what changed");
}

#[test]
fn blocked_evals_of_jobs_of_one_shape_share_what_they_wait_for() {
    let mut h = H::new();
    h.node("a", 1000, 4096, &[]);
    let mut blocked = BlockedEvals::default();
    let nowhere: Vec<Evaluation> = (0..10)
        .map(|i| job_in(&mut h, &format!("n{i}"), "nowhere", 100))
        .collect();
    let elsewhere: Vec<Evaluation> = (0..5)
        .map(|i| job_in(&mut h, &format!("e{i}"), "elsewhere", 100))
        .collect();
    for e in nowhere.iter().chain(&elsewhere) {
        schedule(&mut h, e);
    }
    blocked.look(&h.st);
    assert_eq!((blocked.len(), blocked.shapes()), (15, 2));

    // The "elsewhere" jobs stop: their blocked evals are written again
    // (complete), which takes them out, and their shape goes with them.
    let done: Vec<Evaluation> = elsewhere
        .iter()
        .map(|e| {
            let mut b =
                h.st.eval(&mut WatchSet::new(), &format!("blocked-{}", e.id))
                    .cloned()
                    .unwrap();
            b.status = EvalStatus::Complete;
            b
        })
        .collect();
    h.apply(drover_state::Command::EvalUpdate(
        drover_state::command::EvalUpdate {
            evals: done,
            now: sched::T0,
        },
    ));
    blocked.look(&h.st);
    assert_eq!((blocked.len(), blocked.shapes()), (10, 1));

    // And a node in "nowhere" still wakes every one of the rest.
    node_in(&mut h, "x", "nowhere", 8000);
    let look = blocked.look(&h.st);
    assert_eq!(look.unblocked.len(), 10);
}
