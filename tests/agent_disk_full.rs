//! A dev server whose data directory is on a small tmpfs that fills up:
//! writes fail with a 500 that says why, reads keep working, health says
//! the server is unhealthy, writes resume once space is freed (without a
//! restart), SIGTERM still stops it, and nothing acknowledged is lost.
//!
//! Mounting needs privileges; where `mount -t tmpfs` is refused the test
//! prints why and returns.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{blocked_job, job_id_set, Agent, DEADLINE};
use reqwest::StatusCode;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Register `id`; the status and body, or `None` when no answer came in
/// time (a write whose entry waits for the disk).
async fn register(agent: &Agent, id: &str) -> Option<(StatusCode, String)> {
    let send = agent
        .http
        .put(agent.url("/v1/jobs"))
        .json(&blocked_job(id))
        .send();
    let r = tokio::time::timeout(Duration::from_secs(3), send)
        .await
        .ok()?
        .ok()?;
    let status = r.status();
    Some((status, r.text().await.unwrap_or_default()))
}

/// Fill the filesystem holding `path` with one file until it is full.
fn fill(path: &Path) -> std::io::Result<u64> {
    let mut f = std::fs::File::create(path)?;
    let chunk = vec![0x5au8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => return Ok(written),
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Ok(written),
            Err(e) => return Err(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers_when_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount = match Mount::tmpfs(&dir.path().join("mnt"), "48m") {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED: cannot mount a tmpfs to fill ({why})");
            return;
        }
    };
    // Small segments, so the log needs a new one soon after the disk fills.
    std::env::set_var("DROVER_RAFT_SEGMENT_SIZE", (256 * 1024).to_string());
    let home = mount.0.join("agent");
    std::fs::create_dir_all(&home).expect("agent dir");
    let mut agent = Agent::start_with(&home, "client {\n  enabled = false\n}").await;
    let mut acked = BTreeSet::new();
    for i in 0..5 {
        let id = format!("before-{i}");
        let (status, body) = register(&agent, &id).await.expect("answers");
        assert!(status.is_success(), "{body}");
        acked.insert(id);
    }

    let filler = mount.0.join("filler");
    fill(&filler).expect("fills the disk");

    // Writes go on while the preallocated segment has room, then fail
    // with a 500 that names the cause.
    let started = Instant::now();
    let refusal = loop {
        let id = format!("during-{}", acked.len());
        match register(&agent, &id).await {
            Some((s, _)) if s.is_success() => {
                acked.insert(id);
            }
            Some((s, body)) if s == StatusCode::INTERNAL_SERVER_ERROR => break body,
            Some((s, body)) => panic!("unexpected {s}: {body}"),
            None => {}
        }
        assert!(
            started.elapsed() < DEADLINE,
            "writes never failed on a full disk"
        );
    };
    assert!(
        refusal.contains("No space left"),
        "the 500 says why: {refusal}"
    );

    // Reads still work, and hold every acknowledged job.
    let (status, jobs, _) = agent.get("/v1/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        acked.is_subset(&job_id_set(&jobs)),
        "acknowledged jobs readable"
    );

    let (status, health) = agent.get_text("/v1/agent/health").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{health}");
    assert!(health.contains("No space left"), "{health}");

    // Free the space: writes resume without a restart.
    std::fs::remove_file(&filler).expect("free");
    let started = Instant::now();
    loop {
        let id = format!("after-{}", acked.len());
        if let Some((s, _)) = register(&agent, &id).await {
            if s.is_success() {
                acked.insert(id);
                break;
            }
        }
        assert!(started.elapsed() < DEADLINE, "writes did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, health) = agent.get_text("/v1/agent/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");

    // Fill it again and stop the server while it cannot write: SIGTERM
    // still ends it.
    fill(&filler).expect("fills the disk again");
    let started = Instant::now();
    while agent.get_text("/v1/agent/health").await.0 == StatusCode::OK {
        let _ = register(&agent, &format!("again-{}", started.elapsed().as_nanos())).await;
        assert!(started.elapsed() < DEADLINE, "the disk never filled again");
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(agent.child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    loop {
        if agent.child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "SIGTERM did not stop a server that cannot write"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(agent);

    // Restarted with room again, it has every acknowledged job.
    std::fs::remove_file(&filler).expect("free");
    let agent = Agent::start_with(&home, "client {\n  enabled = false\n}").await;
    let started = Instant::now();
    loop {
        if agent
            .job_ids()
            .await
            .is_some_and(|have| acked.is_subset(&have))
        {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "acknowledged jobs lost");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(agent);
    drop(mount);
}
