//! Which blocked evals a node change retries (server/src/blocked.rs).

mod sched;

use drover_api::*;
use drover_server::blocked::{unblocks, CapacityWatch};
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
