//! Alloc runner behaviour on real raw_exec processes: signals, restarts,
//! stop, sibling failure, unknown names, deployment health, restore.
//! Every wait reads the update channel or polls a file with a deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_api::{AllocClientStatus, Allocation, JobType, TaskState};
use drover_client::runner::{AllocRunner, RunnerConfig, RunnerError};

mod runner_harness;
use runner_harness::*;

const SERVICE: &str =
    "trap 'echo got >> \"$NOMAD_TASK_DIR/sig\"' USR1; while true; do sleep 0.1; done";

fn count(st: &TaskState, ty: &str) -> usize {
    st.events.iter().filter(|e| e.event_type == ty).count()
}

/// No process is left in the task's process group (its pid, via setsid).
fn group_gone(pid: u32) -> bool {
    let Ok(pgid) = i32::try_from(pid) else {
        return true;
    };
    // SAFETY: kill with signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) != 0 }
}

/// Waits until the shell has installed its trap and entered its loop
/// (its first `sleep` child exists), so a signal is not lost.
async fn wait_loop(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "shell never started its loop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn running_service(h: &mut Harness) -> (AllocRunner, Allocation) {
    let alloc = alloc_of(
        JobType::Service,
        vec![task("web", "/bin/sh", &["-c", SERVICE])],
        None,
    );
    let ar = AllocRunner::start(h.cfg.clone(), alloc.clone());
    h.wait_status(AllocClientStatus::Running).await;
    (ar, alloc)
}

#[tokio::test]
async fn signal_reaches_the_task_and_unknown_names_are_refused() {
    let mut h = harness();
    let (ar, _) = running_service(&mut h).await;
    let pid = ar.task_handles()["web"].pid.expect("pid");
    wait_loop(pid).await;
    ar.signal(Some("web"), "SIGUSR1").await.expect("signal");
    wait_file(&ar.alloc_dir().task_local_dir("web").join("sig")).await;
    let st = ar.client_state().task_states["web"].clone();
    let sig = st.events.last().expect("event");
    assert_eq!(sig.event_type, "Signaling");
    assert_eq!(sig.display_message, "Task being sent signal SIGUSR1");

    assert!(matches!(
        ar.signal(Some("nope"), "SIGUSR1").await,
        Err(RunnerError::UnknownTask(t)) if t == "nope"
    ));
    assert!(matches!(
        ar.restart(Some("nope"), false).await,
        Err(RunnerError::UnknownTask(_))
    ));
    assert!(matches!(
        ar.signal(Some("web"), "SIGNOPE").await,
        Err(RunnerError::UnknownSignal(_))
    ));
    let stats = ar.stats().await.expect("stats");
    assert!(stats["web"].pids >= 1);
    ar.destroy().await;
    assert!(group_gone(pid));
}

#[tokio::test]
async fn user_restart_is_signaled_and_counted_once() {
    let mut h = harness();
    let (ar, _) = running_service(&mut h).await;
    let first = ar.task_handles()["web"].clone();
    ar.restart(None, false).await.expect("restart");
    let u = h
        .wait_for("the task to run again", |u| {
            let st = &u.task_states["web"];
            st.state == drover_api::TaskStateValue::Running && count(st, "Started") == 2
        })
        .await;
    let st = &u.task_states["web"];
    assert_eq!(st.restarts, 1);
    assert!(!st.failed);
    assert_eq!(
        types(st),
        [
            "Received",
            "Task Setup",
            "Started",
            "Restart Signaled",
            "Terminated",
            "Restarting",
            "Started"
        ]
    );
    assert_eq!(st.events[3].display_message, "User requested restart");
    let second = ar.task_handles()["web"].clone();
    assert_ne!(first.pid, second.pid);
    assert!(group_gone(first.pid.expect("pid")));
    ar.destroy().await;
}

#[tokio::test]
async fn desired_stop_kills_everything_and_completes() {
    let mut h = harness();
    let (ar, mut alloc) = running_service(&mut h).await;
    let pid = ar.task_handles()["web"].pid.expect("pid");
    alloc.desired_status = drover_api::AllocDesiredStatus::Stop;
    ar.update(alloc);
    let done = h.wait_status(AllocClientStatus::Complete).await;
    let st = &done.task_states["web"];
    assert_eq!(&types(st)[3..], ["Killing", "Terminated", "Killed"]);
    assert_eq!(
        st.events[3].display_message,
        "Sent interrupt. Waiting 2s before force killing"
    );
    assert_eq!(st.events[5].display_message, "Task successfully killed");
    assert!(!st.failed);
    assert!(group_gone(pid));
    assert!(ar.task_handles().is_empty());
    ar.destroy().await;
    assert!(ar.is_terminal());
}

#[tokio::test]
async fn failed_sibling_kills_the_other_task() {
    let mut h = harness();
    let alloc = alloc_of(
        JobType::Batch,
        vec![
            task("bad", "/bin/sh", &["-c", "sleep 0.3; exit 1"]),
            task("web", "/bin/sh", &["-c", SERVICE]),
        ],
        Some(no_restarts_delay0(0)),
    );
    let ar = AllocRunner::start(h.cfg.clone(), alloc);
    let done = h
        .wait_for("both tasks dead", |u| {
            u.task_states
                .values()
                .all(|s| s.state == drover_api::TaskStateValue::Dead)
        })
        .await;
    assert_eq!(done.client_status, AllocClientStatus::Failed);
    assert!(done.task_states["bad"].failed);
    let web = &done.task_states["web"];
    assert!(!web.failed);
    assert_eq!(
        &types(web)[3..],
        ["Sibling Task Failed", "Killing", "Terminated", "Killed"]
    );
    assert_eq!(web.events[3].failed_sibling, "bad");
    assert_eq!(
        web.events[3].display_message,
        "Task's sibling \"bad\" failed"
    );
    ar.destroy().await;
}

#[tokio::test]
async fn deployment_health_after_min_healthy_time() {
    let mut h = harness();
    let mut alloc = alloc_of(
        JobType::Service,
        vec![task("web", "/bin/sh", &["-c", SERVICE])],
        None,
    );
    alloc.deployment_id = "d1".into();
    alloc.deployment_status = Some(drover_api::AllocDeploymentStatus {
        canary: true,
        ..Default::default()
    });
    with_update(&mut alloc, SEC / 2, 60 * SEC);
    let ar = AllocRunner::start(h.cfg.clone(), alloc);
    let running = h.wait_status(AllocClientStatus::Running).await;
    assert_eq!(running.deployment_status, None);
    let healthy = h
        .wait_for("healthy", |u| u.deployment_status.is_some())
        .await;
    let ds = healthy.deployment_status.expect("status");
    assert_eq!(ds.healthy, Some(true));
    assert!(ds.canary, "the canary flag the scheduler set is kept");
    assert!(ds.timestamp.is_some());
    ar.destroy().await;
}

fn with_update(alloc: &mut Allocation, min_healthy_time: i64, healthy_deadline: i64) {
    if let Some(job) = alloc.job.as_mut() {
        job.task_groups[0].update = Some(drover_api::UpdateStrategy {
            min_healthy_time,
            healthy_deadline,
            ..Default::default()
        });
    }
}

#[tokio::test]
async fn deployment_unhealthy_when_not_running_by_the_deadline() {
    let mut h = harness();
    // Running, but the deadline comes before min_healthy_time is served.
    let mut alloc = alloc_of(
        JobType::Service,
        vec![task("web", "/bin/sh", &["-c", SERVICE])],
        None,
    );
    alloc.deployment_id = "d1".into();
    with_update(&mut alloc, 30 * SEC, SEC);
    let ar = AllocRunner::start(h.cfg.clone(), alloc);
    let u = h
        .wait_for("a verdict", |u| u.deployment_status.is_some())
        .await;
    assert_eq!(u.deployment_status.and_then(|d| d.healthy), Some(false));
    assert_eq!(u.client_status, AllocClientStatus::Running);
    ar.destroy().await;
}

#[tokio::test]
async fn no_deployment_health_outside_a_deployment_or_when_manual() {
    for (deployment, check) in [("", "task_states"), ("d1", "manual")] {
        let mut h = harness();
        let mut alloc = alloc_of(
            JobType::Service,
            vec![task("web", "/bin/sh", &["-c", SERVICE])],
            None,
        );
        alloc.deployment_id = deployment.into();
        with_update(&mut alloc, 0, SEC / 10);
        if let Some(u) = alloc
            .job
            .as_mut()
            .and_then(|j| j.task_groups[0].update.as_mut())
        {
            u.health_check = check.into();
        }
        let ar = AllocRunner::start(h.cfg.clone(), alloc);
        h.wait_status(AllocClientStatus::Running).await;
        // Past both min_healthy_time and healthy_deadline: a watched
        // allocation would have a verdict by the next report.
        ar.restart(None, false).await.expect("restart");
        let u = h
            .wait_for("running again", |u| {
                count(&u.task_states["web"], "Started") == 2
            })
            .await;
        assert_eq!(u.deployment_status, None, "{deployment:?} {check}");
        ar.destroy().await;
    }
}

#[tokio::test]
async fn restore_reattaches_without_a_new_start() {
    let mut h = harness();
    let (ar, alloc) = running_service(&mut h).await;
    let handles = ar.task_handles();
    let pid = handles["web"].pid.expect("pid");
    let reported = ar.client_state();
    drop(ar);

    // A new agent: fresh channel, the servers' copy of the task states.
    let mut h2 = harness();
    let cfg = RunnerConfig {
        alloc_root: h.cfg.alloc_root.clone(),
        node: h.cfg.node.clone(),
        drivers: h2.cfg.drivers.clone(),
        updates: h2.cfg.updates.clone(),
    };
    let mut alloc = alloc;
    alloc.task_states = reported.task_states.clone();
    alloc.client_status = reported.client_status;
    let ar = AllocRunner::restore(Arc::new(cfg), alloc, handles);
    let u = h2.wait_status(AllocClientStatus::Running).await;
    let st = &u.task_states["web"];
    assert_eq!(count(st, "Started"), 1);
    assert_eq!(st.restarts, 0);
    assert_eq!(st.events, reported.task_states["web"].events);
    assert_eq!(ar.task_handles()["web"].pid, Some(pid));
    // Signals work on the recovered task too.
    wait_loop(pid).await;
    ar.signal(None, "SIGUSR1").await.expect("signal");
    wait_file(&ar.alloc_dir().task_local_dir("web").join("sig")).await;
    ar.destroy().await;
    assert!(group_gone(pid));
    drop(h);
}

#[tokio::test]
async fn shutdown_delay_holds_the_kill_back() {
    let mut h = harness();
    let mut t = task("web", "/bin/sh", &["-c", SERVICE]);
    t.shutdown_delay = SEC / 2;
    let mut alloc = alloc_of(JobType::Service, vec![t], None);
    let ar = AllocRunner::start(h.cfg.clone(), alloc.clone());
    h.wait_status(AllocClientStatus::Running).await;
    alloc.desired_status = drover_api::AllocDesiredStatus::Stop;
    ar.update(alloc);
    let done = h.wait_status(AllocClientStatus::Complete).await;
    let st = &done.task_states["web"];
    let at = |ty: &str| {
        st.events
            .iter()
            .find(|e| e.event_type == ty)
            .unwrap_or_else(|| panic!("no {ty} event in {:?}", types(st)))
            .time
    };
    let waiting = st
        .events
        .iter()
        .find(|e| e.event_type == "Waiting for shutdown delay")
        .expect("waiting event");
    assert_eq!(
        waiting.display_message,
        "Waiting for shutdown_delay of 500ms before killing the task."
    );
    // Nomad's order: Killing, Waiting for shutdown delay, then the kill.
    assert!(at("Killing") <= waiting.time);
    assert!(
        at("Killed") - waiting.time >= SEC / 2,
        "killed before the delay"
    );
}

#[tokio::test]
async fn group_shutdown_delay_comes_before_killing() {
    let mut h = harness();
    let mut alloc = alloc_of(
        JobType::Service,
        vec![task("web", "/bin/sh", &["-c", SERVICE])],
        None,
    );
    if let Some(job) = alloc.job.as_deref_mut() {
        job.task_groups[0].shutdown_delay = Some(SEC / 2);
    }
    let ar = AllocRunner::start(h.cfg.clone(), alloc.clone());
    h.wait_status(AllocClientStatus::Running).await;
    alloc.desired_status = drover_api::AllocDesiredStatus::Stop;
    let asked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    ar.update(alloc);
    let done = h.wait_status(AllocClientStatus::Complete).await;
    let st = &done.task_states["web"];
    let killing = st
        .events
        .iter()
        .find(|e| e.event_type == "Killing")
        .expect("killing");
    assert!(killing.time - asked >= SEC / 2, "killed before the delay");
}

// Nomad's task runner takes the new restart policy of an in-place update:
// a task that would have failed now restarts.
#[tokio::test]
async fn an_in_place_update_changes_the_restart_policy_of_a_running_task() {
    let mut h = harness();
    let mut alloc = alloc_of(
        JobType::Service,
        vec![task("web", "/bin/sh", &["-c", SERVICE])],
        Some(no_restarts_delay0(0)),
    );
    let ar = AllocRunner::start(h.cfg.clone(), alloc.clone());
    h.wait_status(AllocClientStatus::Running).await;
    if let Some(job) = alloc.job.as_deref_mut() {
        job.version += 1;
        job.task_groups[0].restart_policy = Some(no_restarts_delay0(2));
    }
    ar.update(alloc);
    let pid = ar.task_handles()["web"].pid.expect("pid");
    // SAFETY: kill(2) on the task's own process group.
    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
    let back = h
        .wait_for("the task restarted", |u| {
            u.task_states
                .get("web")
                .is_some_and(|s| s.restarts == 1 && s.state == drover_api::TaskStateValue::Running)
        })
        .await;
    assert_eq!(back.client_status, AllocClientStatus::Running);
    assert!(types(&back.task_states["web"]).contains(&"Restarting"));
}
