//! Task runner behaviour through a one-task allocation on real raw_exec
//! processes, plus the pure parts (restart policy, Go durations, display
//! messages). Every wait reads the update channel with a deadline.

use std::time::{Duration, Instant};

use drover_api::{AllocClientStatus, JobType, RestartPolicy};
use drover_client::driver::ExitResult;
use drover_client::runner::events;
use drover_client::runner::restarts::{Decision, RestartTracker};
use drover_client::runner::{go_duration, AllocRunner};

mod runner_harness;
use runner_harness::*;

#[tokio::test]
async fn batch_echo_completes_with_events_and_logs() {
    let mut h = harness();
    let alloc = alloc_of(
        JobType::Batch,
        vec![task("web", "/bin/echo", &["hi"])],
        None,
    );
    let ar = AllocRunner::start(h.cfg.clone(), alloc.clone());
    let done = h.wait_status(AllocClientStatus::Complete).await;
    assert_eq!(done.id, alloc.id);
    assert_eq!(done.node_id, "node-1");
    assert_eq!(done.client_description, "All tasks have completed");
    let st = &done.task_states["web"];
    assert_eq!(
        types(st),
        ["Received", "Task Setup", "Started", "Terminated"]
    );
    let display: Vec<&str> = st
        .events
        .iter()
        .map(|e| e.display_message.as_str())
        .collect();
    assert_eq!(
        display,
        [
            "Task received by client",
            "Building Task Directory",
            "Task started by client",
            "Exit Code: 0"
        ]
    );
    assert_eq!(st.state, drover_api::TaskStateValue::Dead);
    assert!(!st.failed);
    assert_eq!(st.restarts, 0);
    assert!(st.started_at.is_some() && st.finished_at.is_some());
    let log = ar.alloc_dir().logs_dir().join("web.stdout.0");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log).unwrap_or_default() != "hi\n" {
        assert!(Instant::now() < deadline, "web.stdout.0 never read hi");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ar.is_terminal());
    ar.destroy().await;
    assert!(!ar.alloc_dir().alloc_dir().exists());
}

#[tokio::test]
async fn failing_task_restarts_by_policy_then_fails() {
    let mut h = harness();
    let alloc = alloc_of(
        JobType::Service,
        vec![task("web", "/bin/sh", &["-c", "exit 3"])],
        Some(no_restarts_delay0(2)),
    );
    let ar = AllocRunner::start(h.cfg.clone(), alloc);
    let done = h.wait_status(AllocClientStatus::Failed).await;
    assert_eq!(done.client_description, "Failed tasks");
    let st = &done.task_states["web"];
    assert!(st.failed);
    assert_eq!(st.restarts, 2);
    assert!(st.last_restart.is_some());
    let restarting: Vec<_> = st
        .events
        .iter()
        .filter(|e| e.event_type == "Restarting")
        .collect();
    assert_eq!(restarting.len(), 2);
    assert_eq!(restarting[0].display_message, "Task restarting in 0s");
    assert_eq!(restarting[0].restart_reason, "Restart within policy");
    let last = st.events.last().expect("events");
    assert_eq!(last.event_type, "Not Restarting");
    assert!(last.fails_task);
    assert_eq!(
        last.display_message,
        "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\""
    );
    let term = st
        .events
        .iter()
        .rfind(|e| e.event_type == "Terminated")
        .expect("Terminated");
    assert_eq!(term.exit_code, 3);
    assert_eq!(term.display_message, "Exit Code: 3");
    assert!(st.events.len() <= 10);
    ar.destroy().await;
}

#[tokio::test]
async fn missing_command_is_a_driver_failure() {
    let mut h = harness();
    let alloc = alloc_of(
        JobType::Batch,
        vec![task("web", "/nonexistent/drover-no-such-cmd", &[])],
        None,
    );
    let ar = AllocRunner::start(h.cfg.clone(), alloc);
    let done = h.wait_status(AllocClientStatus::Failed).await;
    let st = &done.task_states["web"];
    let failure = st
        .events
        .iter()
        .find(|e| e.event_type == "Driver Failure")
        .expect("Driver Failure event");
    assert!(
        failure.driver_error.contains("drover-no-such-cmd"),
        "{failure:?}"
    );
    assert_eq!(failure.display_message, failure.driver_error);
    assert_eq!(
        types(st),
        ["Received", "Task Setup", "Driver Failure", "Not Restarting"]
    );
    assert_eq!(st.events[3].display_message, "Error was unrecoverable");
    assert!(st.failed);
    assert_eq!(st.state, drover_api::TaskStateValue::Dead);
    ar.destroy().await;
}

#[tokio::test]
async fn env_and_interpolated_config_reach_the_task() {
    let mut h = harness();
    let script = "env > \"$NOMAD_TASK_DIR/env\"; echo \"$1\"";
    let alloc = alloc_of(
        JobType::Batch,
        vec![task(
            "web",
            "/bin/sh",
            &["-c", script, "sh", "task=${NOMAD_TASK_NAME}"],
        )],
        None,
    );
    let ar = AllocRunner::start(h.cfg.clone(), alloc.clone());
    h.wait_status(AllocClientStatus::Complete).await;
    let dir = ar.alloc_dir();
    let env = std::fs::read_to_string(dir.task_local_dir("web").join("env")).expect("env file");
    assert!(
        env.contains(&format!("NOMAD_ALLOC_ID={}\n", alloc.id)),
        "{env}"
    );
    assert!(env.contains("NOMAD_TASK_NAME=web\n"), "{env}");
    let alloc_dir = dir.shared_dir();
    assert!(
        env.contains(&format!("NOMAD_ALLOC_DIR={}\n", alloc_dir.display())),
        "{env}"
    );
    assert!(env.contains("PATH="), "host env under the task env: {env}");
    let log = dir.logs_dir().join("web.stdout.0");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log).unwrap_or_default() != "task=web\n" {
        assert!(Instant::now() < deadline, "interpolated arg never logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ar.destroy().await;
}

#[test]
fn go_durations() {
    #[track_caller]
    fn check(d: Duration, want: &str) {
        assert_eq!(go_duration(d), want);
    }
    check(Duration::ZERO, "0s");
    check(Duration::from_secs(5), "5s");
    check(Duration::from_secs(15), "15s");
    check(Duration::from_secs(1800), "30m0s");
    check(Duration::from_secs(90), "1m30s");
    check(Duration::from_secs(86400), "24h0m0s");
    check(Duration::from_millis(1500), "1.5s");
    check(Duration::from_millis(250), "250ms");
    check(Duration::from_nanos(16_234_567_891), "16.234567891s");
}

fn policy(attempts: i32, interval_s: i64, delay_s: i64, mode: &str) -> RestartPolicy {
    RestartPolicy {
        attempts,
        interval: interval_s * SEC,
        delay: delay_s * SEC,
        mode: mode.to_string(),
        render_templates: false,
    }
}

fn exit(code: i32) -> ExitResult {
    ExitResult {
        exit_code: Some(code),
        ..ExitResult::default()
    }
}

#[test]
fn restart_tracker_policy() {
    let t0 = Instant::now();
    // Batch: success terminates, failures restart with jitter up to 25%.
    let mut rt = RestartTracker::new(policy(2, 60, 10, "fail"), JobType::Batch, t0);
    rt.set_exit(exit(0));
    assert_eq!(rt.decide(t0), Decision::Terminated);
    rt.set_exit(exit(1));
    match rt.decide(t0) {
        Decision::Restart { delay, reason } => {
            assert!(delay >= Duration::from_secs(10) && delay <= Duration::from_millis(12_500));
            assert_eq!(reason, "Restart within policy");
        }
        other => panic!("{other:?}"),
    }
    rt.set_exit(exit(1));
    assert!(matches!(rt.decide(t0), Decision::NotRestarting { .. }));
    // A new interval resets the count.
    rt.set_exit(exit(1));
    assert!(matches!(
        rt.decide(t0 + Duration::from_secs(61)),
        Decision::Restart { .. }
    ));

    // Service: a zero exit counts too; mode delay waits out the interval.
    let mut rt = RestartTracker::new(policy(1, 60, 0, "delay"), JobType::Service, t0);
    rt.set_exit(exit(0));
    assert!(matches!(rt.decide(t0), Decision::Restart { .. }));
    rt.set_exit(exit(0));
    let at = t0 + Duration::from_secs(20);
    assert_eq!(
        rt.decide(at),
        Decision::Restart {
            delay: Duration::from_secs(40),
            reason: "Exceeded allowed attempts, applying a delay".to_string()
        }
    );

    // User restarts are free; kills are final.
    let mut rt = RestartTracker::new(policy(0, 60, 0, "fail"), JobType::Service, t0);
    rt.set_restart_triggered();
    rt.set_exit(exit(130));
    assert!(matches!(rt.decide(t0), Decision::Restart { delay, .. } if delay.is_zero()));
    rt.set_exit(exit(1));
    assert_eq!(
        rt.decide(t0),
        Decision::NotRestarting {
            reason: "Policy allows no restarts".to_string()
        }
    );
    rt.set_killed();
    rt.set_exit(exit(1));
    assert_eq!(rt.decide(t0), Decision::Killed);

    // Unrecoverable start errors never restart.
    let mut rt = RestartTracker::new(policy(3, 60, 0, "fail"), JobType::Batch, t0);
    rt.set_start_error(false);
    assert_eq!(
        rt.decide(t0),
        Decision::NotRestarting {
            reason: "Error was unrecoverable".to_string()
        }
    );
}

#[test]
fn display_messages() {
    #[track_caller]
    fn check(mut ev: drover_api::TaskEvent, want: &str) {
        events::populate_display_message(&mut ev);
        assert_eq!(ev.display_message, want);
    }
    check(
        events::killing(Duration::from_secs(5)),
        "Sent interrupt. Waiting 5s before force killing",
    );
    check(events::killed(None), "Task successfully killed");
    check(
        events::terminated(0, 2, false, None),
        "Exit Code: 0, Signal: 2",
    );
    check(
        events::restarting(Duration::from_secs(15), "Restart within policy"),
        "Task restarting in 15s",
    );
    check(
        events::restarting(
            Duration::from_secs(60),
            "Exceeded allowed attempts, applying a delay",
        ),
        "Exceeded allowed attempts, applying a delay - Task restarting in 1m0s",
    );
    check(events::sibling_failed("db"), "Task's sibling \"db\" failed");
    check(
        events::signaling("SIGUSR1", ""),
        "Task being sent signal SIGUSR1",
    );
    check(
        events::restart_signaled("User requested restart"),
        "User requested restart",
    );
    check(events::new("Leader Task Dead"), "Leader Task in Group dead");
}
