//! Lifecycle hooks on real raw_exec processes (Nomad's `lifecycle` block):
//! prestart before main, sidecars beside it and killed when it finishes,
//! poststart after main is running, poststop after everything else.
//! Ordering is checked by the tasks themselves: each refuses to run (exit
//! 9) unless the files of the tasks that must precede it exist.

use drover_api::{AllocClientStatus, AllocDesiredStatus, JobType, Task, TaskLifecycle};
use drover_client::runner::AllocRunner;

mod runner_harness;
use runner_harness::*;

fn hooked(mut t: Task, hook: &str, sidecar: bool) -> Task {
    t.lifecycle = Some(TaskLifecycle {
        hook: hook.to_string(),
        sidecar,
    });
    t
}

/// A task that exits 9 unless every file in `needs` exists in the shared
/// alloc dir, then creates `name` there and runs `then`.
fn step(name: &str, needs: &[&str], then: &str) -> Task {
    let checks: String = needs
        .iter()
        .map(|n| format!("[ -f \"$NOMAD_ALLOC_DIR/{n}\" ] || exit 9; "))
        .collect();
    let script = format!("{checks}touch \"$NOMAD_ALLOC_DIR/{name}\"; {then}");
    task(name, "/bin/sh", &["-c", &script])
}

#[tokio::test]
async fn hooks_run_in_order_and_sidecars_die_with_main() {
    let mut h = harness();
    let tasks = vec![
        hooked(step("init", &[], "exit 0"), "prestart", false),
        hooked(
            step("proxy", &[], "while true; do sleep 0.1; done"),
            "prestart",
            true,
        ),
        // Main waits for the poststart task, so that one surely ran while
        // main was running.
        step(
            "main",
            &["init"],
            "while [ ! -f \"$NOMAD_ALLOC_DIR/after\" ]; do sleep 0.05; done",
        ),
        // Started once main runs, which may be before main's shell
        // created its file.
        hooked(
            step(
                "after",
                &["init"],
                "while [ ! -f \"$NOMAD_ALLOC_DIR/main\" ]; do sleep 0.05; done",
            ),
            "poststart",
            false,
        ),
        hooked(
            step("cleanup", &["init", "main", "after"], "exit 0"),
            "poststop",
            false,
        ),
    ];
    let alloc = alloc_of(JobType::Batch, tasks, Some(no_restarts_delay0(0)));
    let ar = AllocRunner::start(h.cfg.clone(), alloc);
    let done = h.wait_status(AllocClientStatus::Complete).await;
    for name in ["init", "main", "after", "cleanup"] {
        let st = &done.task_states[name];
        assert!(!st.failed, "{name} failed: {:?}", types(st));
        assert!(types(st).contains(&"Started"), "{name}: {:?}", types(st));
    }
    let proxy = &done.task_states["proxy"];
    assert!(
        types(proxy).contains(&"Main Tasks Dead"),
        "the sidecar is killed because main finished: {:?}",
        types(proxy)
    );
    assert!(!proxy.failed);
    let ev = proxy
        .events
        .iter()
        .find(|e| e.event_type == "Main Tasks Dead")
        .expect("event");
    assert_eq!(ev.display_message, "Main tasks in the group died");
    assert!(ar.alloc_dir().shared_dir().join("cleanup").exists());
    // `Task Setup` comes only once the task may start: main's comes after
    // init finished.
    let main = &done.task_states["main"];
    let setup = main
        .events
        .iter()
        .find(|e| e.event_type == "Task Setup")
        .expect("setup");
    let init_done = done.task_states["init"].finished_at.expect("finished");
    assert!(setup.time >= init_done, "main was set up before init ended");
}

#[tokio::test]
async fn a_failed_prestart_keeps_main_from_starting_and_poststop_still_runs() {
    let mut h = harness();
    let tasks = vec![
        hooked(
            task("init", "/bin/sh", &["-c", "exit 1"]),
            "prestart",
            false,
        ),
        step("main", &[], "sleep 30"),
        hooked(step("cleanup", &[], "exit 0"), "poststop", false),
    ];
    let alloc = alloc_of(JobType::Batch, tasks, Some(no_restarts_delay0(0)));
    let ar = AllocRunner::start(h.cfg.clone(), alloc);
    let done = h
        .wait_for("failed with cleanup done", |u| {
            u.client_status == AllocClientStatus::Failed
                && u.task_states.get("cleanup").is_some_and(|s| {
                    s.state == drover_api::TaskStateValue::Dead && s.finished_at.is_some()
                })
        })
        .await;
    assert!(done.task_states["init"].failed);
    let main = &done.task_states["main"];
    assert!(
        !types(main).contains(&"Started"),
        "main must never start: {:?}",
        types(main)
    );
    assert!(!ar.alloc_dir().shared_dir().join("main").exists());
    assert!(ar.alloc_dir().shared_dir().join("cleanup").exists());
}

#[tokio::test]
async fn stopping_the_alloc_runs_poststop_after_main_is_killed() {
    let mut h = harness();
    let tasks = vec![
        step("main", &[], "while true; do sleep 0.1; done"),
        // The order is checked below from the task states.
        hooked(step("cleanup", &["main"], "exit 0"), "poststop", false),
    ];
    let mut alloc = alloc_of(JobType::Service, tasks, None);
    let ar = AllocRunner::start(h.cfg.clone(), alloc.clone());
    h.wait_status(AllocClientStatus::Running).await;
    wait_file(&ar.alloc_dir().shared_dir().join("main")).await;
    alloc.desired_status = AllocDesiredStatus::Stop;
    ar.update(alloc);
    let done = h.wait_status(AllocClientStatus::Complete).await;
    let main = &done.task_states["main"];
    assert!(types(main).contains(&"Killed"), "{:?}", types(main));
    let cleanup = &done.task_states["cleanup"];
    assert!(types(cleanup).contains(&"Started"), "{:?}", types(cleanup));
    assert!(
        cleanup.started_at >= main.finished_at,
        "poststop started before main ended"
    );
    assert!(ar.alloc_dir().shared_dir().join("cleanup").exists());
}
