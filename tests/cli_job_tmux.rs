//! `drover job run` in a real terminal (a detached tmux pane): after
//! `drover job init`, the run shows the deployment's progress redrawn in
//! place with a spinner, ends with the deployment's summary and the
//! running allocations; then `drover job status example` shows its tables
//! and `drover alloc status <prefix>` the task's events.
//!
//! Ctrl-C during the watching ends it and leaves the job alone.
//!
//! The agents listen on 127.0.1.140 and 127.0.1.141.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::dev_agent::{agent_on, ready};
use common::tmux::Tmux;
use common::DEADLINE;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn job_run_in_a_terminal_redraws_then_summarises() {
    if !Tmux::available("job_run_in_a_terminal_redraws_then_summarises") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(dir.path(), "127.0.1.140");
    ready(&a).await;
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let bin = env!("CARGO_BIN_EXE_drover");
    // The alloc prefix comes from the agent, as a user would copy it from
    // the run's summary.
    let script = work.join("script.sh");
    std::fs::write(
        &script,
        format!(
            "cd {work}\nunset NOMAD_ADDR NOMAD_NAMESPACE NOMAD_REGION\n\
             export DROVER_ADDR={addr}\n\
             {bin} job init && {bin} job run example.nomad.hcl\necho RUN-EXIT=$?\n\
             {bin} job status example\necho STATUS-EXIT=$?\n\
             sleep 600\n",
            work = work.display(),
            addr = a.base,
        ),
    )
    .unwrap();
    let tmux = Tmux::start("jobrun", &script, 50);

    let started = Instant::now();
    let mut saw_progress = false;
    let screen = loop {
        let s = tmux.screen_with_scrollback();
        saw_progress |= s.contains("in progress...");
        if s.contains("STATUS-EXIT=") {
            break s;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "job run and status did not finish:\n{s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(saw_progress, "never saw the spinner line:\n{screen}");
    for want in [
        "Example job file written to example.nomad.hcl",
        "Monitoring evaluation",
        "✓ Deployment",
        "Description = Deployment completed successfully",
        "RUN-EXIT=0",
        "Summary",
        "Task Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown",
        "STATUS-EXIT=0",
    ] {
        assert!(screen.contains(want), "screen lacks {want:?}:\n{screen}");
    }
    // Redrawn in place: the run shows the deployment's block once, not
    // once per update as in a pipe.
    let run_part = &screen[..screen.find("RUN-EXIT=0").unwrap()];
    assert_eq!(run_part.matches("Job Version = ").count(), 1, "{screen}");
    // The run's summary lists the running allocations.
    let summary = &run_part[run_part
        .rfind("Allocations")
        .expect("an allocation summary")..];
    assert_eq!(summary.matches(" running ").count(), 2, "{screen}");

    // `alloc status <prefix>` on one of them shows the task's events.
    let list: Value = reqwest::get(a.url("/v1/job/example/allocations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list[0]["ID"].as_str().unwrap().to_string();
    let out = Command::new(bin)
        .args(["alloc", "status", &id[..6]])
        .env("DROVER_ADDR", &a.base)
        .env_remove("NOMAD_ADDR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Recent Events:"), "{text}");
    assert!(text.contains("Task started by client"), "{text}");
}

/// Ctrl-C while `job run` follows a deployment stops the watching, says
/// so, and leaves the job running.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_watching_not_the_job() {
    if !Tmux::available("ctrl_c_stops_watching_not_the_job") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(dir.path(), "127.0.1.141");
    ready(&a).await;
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // A deployment that stays in progress for a minute.
    std::fs::write(
        work.join("slow.hcl"),
        r#"job "slow" {
  group "g" {
    update {
      min_healthy_time = "1m"
      healthy_deadline = "2m"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 1000"]
      }
    }
  }
}
"#,
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_drover");
    let script = work.join("script.sh");
    // The shell traps SIGINT (so it outlives the key) while the command
    // gets the default disposition, as from an interactive shell.
    std::fs::write(
        &script,
        format!(
            "cd {work}\ntrap 'true' INT\nunset NOMAD_ADDR\nexport DROVER_ADDR={addr}\n\
             {bin} job run slow.hcl\necho RUN-EXIT=$?\nsleep 600\n",
            work = work.display(),
            addr = a.base,
        ),
    )
    .unwrap();
    let tmux = Tmux::start("ctrlc", &script, 50);
    let started = Instant::now();
    while !tmux.screen_with_scrollback().contains("in progress...") {
        assert!(
            started.elapsed() < DEADLINE,
            "the deployment never showed:\n{}",
            tmux.screen_with_scrollback()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tmux.press("C-c");
    let screen = loop {
        let s = tmux.screen_with_scrollback();
        if s.contains("RUN-EXIT=") {
            break s;
        }
        assert!(started.elapsed() < DEADLINE, "run did not stop:\n{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(screen.contains("RUN-EXIT=130"), "{screen}");
    assert!(
        screen.contains("Stopped watching; the job is not affected"),
        "{screen}"
    );
    let job: Value = reqwest::get(a.url("/v1/job/slow"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["Stop"], false, "{job}");
    let allocs: Value = reqwest::get(a.url("/v1/job/slow/allocations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        allocs
            .as_array()
            .is_some_and(|l| l.iter().all(|x| x["DesiredStatus"] == "run")),
        "{allocs}"
    );
}
