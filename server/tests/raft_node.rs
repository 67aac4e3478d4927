//! A one-server Raft on real sled files: writes are applied before they are
//! acknowledged, survive a restart, compact into snapshots, and wake exactly
//! the readers of the keys they touch.

use std::time::Duration;

use drover_api::{EvalStatus, Evaluation, Job, JobType, Task, TaskGroup};
use drover_server::raft::node::{start, RaftHandle, RaftSettings};
use drover_state::command::{JobRegister, NodeDeregister};
use drover_state::{ApplyError, Command, WatchKey, WatchSet};
use tempfile::TempDir;

const T0: i64 = 1_700_000_000_000_000_000;
const DEADLINE: Duration = Duration::from_secs(10);

fn job(id: &str) -> Job {
    Job {
        namespace: "default".into(),
        id: id.into(),
        name: id.into(),
        job_type: JobType::Service,
        priority: 50,
        task_groups: vec![TaskGroup {
            name: "g".into(),
            count: 1,
            tasks: vec![Task {
                name: "t".into(),
                driver: "raw_exec".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn register(id: &str) -> Command {
    let j = job(id);
    let eval = Evaluation {
        id: format!("eval-{id}"),
        namespace: "default".into(),
        job_id: id.into(),
        eval_type: "service".into(),
        status: EvalStatus::Pending,
        ..Default::default()
    };
    Command::JobRegister(JobRegister {
        job: j,
        eval: Some(eval),
        enforce_index: None,
        now: T0,
    })
}

fn settings(dir: &TempDir) -> RaftSettings {
    RaftSettings::new(dir.path().to_path_buf(), 1, "127.0.0.1:4647".into())
}

/// A snapshot every 10 entries, keeping no entries behind it.
fn snapshot_often(dir: &TempDir) -> RaftSettings {
    let mut s = settings(dir);
    s.snapshot_every = 10;
    // A fixed threshold: these tests count commands.
    s.snapshot_rows_divisor = 0;
    s.keep_after_snapshot = 0;
    s
}

/// Register `job-00` .. `job-{n-1}`, each acknowledged; the last index.
async fn register_jobs(h: &RaftHandle, n: usize) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = h
            .write(register(&format!("job-{i:02}")))
            .await
            .unwrap_or_else(|e| panic!("write of job-{i:02}: {e}"))
            .index;
    }
    last
}

async fn started(s: &RaftSettings) -> RaftHandle {
    let h = start(s).await.expect("raft starts");
    h.wait_for_leader(DEADLINE)
        .await
        .expect("a one-server cluster elects itself");
    h
}

fn has_job(h: &RaftHandle, id: &str) -> bool {
    h.shared
        .read()
        .state
        .job(&mut WatchSet::new(), "default", id)
        .is_some()
}

async fn wait_applied(h: &RaftHandle, index: u64) {
    h.raft
        .wait(Some(DEADLINE))
        .applied_index_at_least(Some(index), "replayed up to the last write")
        .await
        .expect("log replay reaches the last write");
}

#[tokio::test]
async fn an_acknowledged_write_is_applied_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let h = started(&s).await;
    let out = h.write(register("web")).await.expect("write");
    assert_eq!(out.result, Ok(()));
    assert!(has_job(&h, "web"), "applied before the write returned");
    assert_eq!(h.shared.read().state.latest_index(), out.index);
    h.shutdown().await;
    drop(h);

    let h = started(&s).await;
    wait_applied(&h, out.index).await;
    assert!(has_job(&h, "web"), "replayed from the log after restart");
    h.shutdown().await;
}

#[tokio::test]
async fn a_rejected_write_reports_why_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = started(&settings(&dir)).await;
    let before = h.shared.read().state.snapshot().unwrap();
    let out = h
        .write(Command::NodeDeregister(NodeDeregister {
            node_ids: vec!["ghost".into()],
            now: T0,
        }))
        .await
        .unwrap();
    assert_eq!(out.result, Err(ApplyError::UnknownNode("ghost".into())));
    let after = h.shared.read().state.snapshot().unwrap();
    let restored = drover_state::State::restore(&after, Default::default()).unwrap();
    let original = drover_state::State::restore(&before, Default::default()).unwrap();
    assert_eq!(
        restored.table_index(drover_state::Table::Nodes),
        original.table_index(drover_state::Table::Nodes)
    );
    assert!(
        restored.events().len() == original.events().len(),
        "no events for a rejected write"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn snapshots_compact_the_log_and_restore_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = snapshot_often(&dir);
    let h = started(&s).await;
    let last = register_jobs(&h, 35).await;
    h.raft
        .wait(Some(DEADLINE))
        .metrics(
            |m| {
                m.snapshot.is_some_and(|id| id.index >= 20)
                    && m.purged.is_some_and(|id| id.index >= 20)
            },
            "a snapshot at or after index 20, and the log purged up to it",
        )
        .await
        .expect("snapshot built");
    let before = h.shared.read().state.snapshot().unwrap();
    let kept = h.log.len();
    assert!(
        kept < 35,
        "the log was compacted after the snapshot ({kept} entries kept)"
    );
    h.shutdown().await;
    drop(h);

    let h = started(&s).await;
    wait_applied(&h, last).await;
    let after = h.shared.read().state.snapshot().unwrap();
    assert_eq!(
        after, before,
        "snapshot + log replay rebuilds byte-identical state"
    );
    assert!((0..35).all(|i| has_job(&h, &format!("job-{i:02}"))));
    h.shutdown().await;
}

/// The threshold counts commands, not entries: one entry holding a batch
/// of 25 registers is past a threshold of 20 (Nomad's
/// `raft_snapshot_threshold` counts writes), though openraft's entry count
/// is at 2 (the membership entry, then the batch).
#[tokio::test]
async fn a_batch_of_commands_in_one_entry_counts_toward_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.snapshot_every = 20;
    let h = started(&s).await;
    let batch = (0..25).map(|i| register(&format!("job-{i:02}"))).collect();
    let out = h.write(Command::Batch(batch)).await.expect("write");
    assert_eq!(out.batch.len(), 25);
    assert!(out.batch.iter().all(Result::is_ok));
    h.raft
        .wait(Some(DEADLINE))
        .metrics(
            |m| m.snapshot.is_some_and(|id| id.index >= out.index),
            "a snapshot covering the batch's entry",
        )
        .await
        .expect("a snapshot after 25 commands in one entry");
    h.shutdown().await;
    drop(h);

    // The restart restores it: every job is there before any replay.
    let h = started(&s).await;
    assert!((0..25).all(|i| has_job(&h, &format!("job-{i:02}"))));
    h.shutdown().await;
}

#[tokio::test]
async fn a_write_wakes_the_reader_of_its_key_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let h = started(&settings(&dir)).await;
    let watch = |id: &str| {
        let mut ws = WatchSet::new();
        ws.add(WatchKey::job("default", id));
        // Register under the read lock, as a blocking query does.
        let _guard = h.shared.read();
        h.shared.watches().watch(&ws)
    };
    let mine = watch("web");
    let other = watch("db");
    h.write(register("web")).await.unwrap();
    tokio::time::timeout(DEADLINE, mine)
        .await
        .expect("the reader of job web wakes");
    assert!(!other.has_fired(), "the reader of job db sleeps on");
    h.shutdown().await;
}

#[tokio::test]
async fn a_snapshot_that_cannot_be_written_keeps_the_log_it_would_replace() {
    let dir = tempfile::tempdir().unwrap();
    let s = snapshot_often(&dir);
    // A directory where the snapshot's temporary file goes: writing it
    // fails, as on a full disk.
    let blocker = dir.path().join("state").join("state.tmp");
    std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
    let h = started(&s).await;
    let last = register_jobs(&h, 35).await;
    h.raft
        .wait(Some(DEADLINE))
        .metrics(
            |m| m.snapshot.is_some_and(|id| id.index >= 20),
            "a snapshot built (in memory) at or after index 20",
        )
        .await
        .expect("snapshot built");
    assert!(
        h.log.len() >= 35,
        "nothing purged past the snapshot on disk ({} entries kept)",
        h.log.len()
    );
    h.shutdown().await;
    drop(h);

    std::fs::remove_dir_all(&blocker).unwrap();
    let h = started(&s).await;
    wait_applied(&h, last).await;
    assert!((0..35).all(|i| has_job(&h, &format!("job-{i:02}"))));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_each_gets_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let h = started(&settings(&dir)).await;
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..200 {
        let h = h.clone();
        writes.spawn(async move {
            let cmd = if i % 10 == 0 {
                Command::NodeDeregister(NodeDeregister {
                    node_ids: vec![format!("ghost-{i}")],
                    now: T0,
                })
            } else {
                register(&format!("job-{i:03}"))
            };
            (i, h.write(cmd).await.expect("write"))
        });
    }
    let mut indexes = std::collections::BTreeSet::new();
    while let Some(done) = writes.join_next().await {
        let (i, out) = done.unwrap();
        indexes.insert(out.index);
        if i % 10 == 0 {
            assert_eq!(
                out.result,
                Err(ApplyError::UnknownNode(format!("ghost-{i}"))),
                "write {i} gets its own command's result"
            );
        } else {
            assert_eq!(out.result, Ok(()), "write {i}");
            assert!(has_job(&h, &format!("job-{i:03}")));
        }
    }
    println!("200 concurrent writes in {} entries", indexes.len());
    assert!(
        indexes.len() < 150,
        "writes shared entries: {}",
        indexes.len()
    );
    let syncs = h
        .log
        .wal()
        .stats()
        .syncs
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(syncs < 200, "{syncs} syncs for 200 writes");
    h.shutdown().await;
}

/// The threshold grows with the state: at `rows / 1` here (each register
/// stores a job and its version, so the rows outgrow the commands) no
/// snapshot is built while it runs, however far past `snapshot_every`
/// the log gets; a graceful stop then writes one, so the next start
/// replays nothing.
#[tokio::test]
async fn the_threshold_grows_with_the_state_and_a_stop_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.snapshot_every = 10;
    s.snapshot_rows_divisor = 1;
    let h = started(&s).await;
    let last = register_jobs(&h, 30).await;
    let snapshot = h.raft.metrics().borrow().snapshot;
    assert!(
        snapshot.is_none_or(|id| id.index < 20),
        "no snapshot past the first commands while running: {snapshot:?}"
    );
    h.shutdown().await;
    drop(h);

    let h = started(&s).await;
    let snapshot = h.raft.metrics().borrow().snapshot;
    assert!(
        snapshot.is_some_and(|id| id.index >= last),
        "the stop wrote a snapshot of everything applied: {snapshot:?}, last {last}"
    );
    assert!((0..30).all(|i| has_job(&h, &format!("job-{i:02}"))));
    h.shutdown().await;
}
