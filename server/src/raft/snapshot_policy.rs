//! When to snapshot: every `raft_snapshot_threshold` commands, not
//! entries.
//!
//! openraft's only policy counts log entries (`LogsSinceLast`), but the
//! proposer puts every write waiting into one entry ([`super::propose`]),
//! so under load an entry holds tens of commands and the entry count
//! hardly moves: 50,000 job registers (each followed by its plan) made
//! about 100,000 commands in fewer than 10,000 entries, no snapshot was
//! ever built, and a restart replayed all of them (1.2 s of the 2.5 s it
//! took). Nomad's `raft_snapshot_threshold` counts log entries of one
//! write each, so counting commands keeps its meaning: what a restart
//! replays after the snapshot stays bounded however writes are batched.
//!
//! The threshold grows with the state: a snapshot is due after
//! `max(raft_snapshot_threshold, rows / 4)` commands (the divisor is
//! `RaftSettings::snapshot_rows_divisor`), `rows` being the
//! objects the state stores ([`drover_state::State::row_count`]). A
//! snapshot writes the whole state, so at a fixed threshold its cost per
//! write grows with the state: at 64 writers and 50,000 jobs, building
//! one every 10,000 commands took 45 % of the agent's CPU (`perf record`),
//! and the register rate fell with every job stored. Scaled, the cost per
//! write stays flat, and what a restart replays stays a quarter of what
//! it loads from the snapshot, so a restart's time stays proportional to
//! the state (etcd's `--snapshot-count` is 100,000 entries at any size).
//! A graceful stop writes a snapshot when more than the configured
//! threshold is unsnapshotted ([`super::node::RaftHandle::shutdown`]), so
//! a restart after it replays nothing.
//!
//! The state machine counts commands as it applies them and wakes this
//! task when the threshold is crossed; the task asks openraft for a
//! snapshot (`Trigger::snapshot`, ignored while one is being built). The
//! count since the last snapshot restarts when a build copies the state.
//! openraft's own policy is off (`SnapshotPolicy::Never`): its count of
//! entries knows nothing of the state's size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::Raft;

/// Commands applied, and at what count the last snapshot copied the state.
#[derive(Debug, Default)]
pub struct CommandCount {
    applied: AtomicU64,
    at_snapshot: AtomicU64,
    /// The state's row count after the last apply.
    rows: AtomicU64,
    /// A snapshot is due after at least `rows / rows_divisor` commands (0:
    /// a fixed threshold).
    rows_divisor: AtomicU64,
    /// At which count the task last asked for a snapshot.
    asked: AtomicU64,
    due: Notify,
}

impl CommandCount {
    /// Count `n` commands applied, after which the state holds `rows`
    /// objects; wake the task once a snapshot is due.
    pub fn applied(&self, n: u64, rows: u64, every: u64) {
        self.rows.store(rows, Ordering::Relaxed);
        let applied = self.applied.fetch_add(n, Ordering::Relaxed) + n;
        let since = applied.saturating_sub(self.at_snapshot.load(Ordering::Relaxed));
        if every > 0 && since >= self.threshold(every) {
            self.due.notify_one();
        }
    }

    /// The commands between snapshots for the configured `every` at the
    /// state's present size (0: never).
    pub fn threshold(&self, every: u64) -> u64 {
        if every == 0 {
            return 0;
        }
        match self.rows_divisor.load(Ordering::Relaxed) {
            0 => every,
            d => every.max(self.rows.load(Ordering::Relaxed) / d),
        }
    }

    /// Scale the threshold with the state: at least `rows / divisor`
    /// commands between snapshots (0 keeps it fixed).
    pub fn set_rows_divisor(&self, divisor: u64) {
        self.rows_divisor.store(divisor, Ordering::Relaxed);
    }

    /// A snapshot build copied the state: count from here.
    pub fn snapshot_taken(&self) {
        self.at_snapshot
            .store(self.applied.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Commands applied since the last snapshot's copy.
    pub fn since_snapshot(&self) -> u64 {
        self.applied
            .load(Ordering::Relaxed)
            .saturating_sub(self.at_snapshot.load(Ordering::Relaxed))
    }
}

/// The task that asks openraft for a snapshot when the count is due.
#[derive(Clone)]
pub struct SnapshotTrigger {
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl SnapshotTrigger {
    pub fn start(raft: Raft, count: Arc<CommandCount>, every: u64) -> SnapshotTrigger {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(raft, count, every, stopped));
        SnapshotTrigger {
            stop: Arc::new(stop),
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Stop and wait for the task to end (a build it asked for is
    /// openraft's, and ends with Raft).
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(raft: Raft, count: Arc<CommandCount>, every: u64, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = count.due.notified() => {}
        }
        // Ask once per threshold's worth of commands: while a build runs
        // (openraft ignores the request then) the count keeps growing, and
        // asking on every apply would only queue requests.
        let applied = count.applied.load(Ordering::Relaxed);
        let asked = count.asked.load(Ordering::Relaxed);
        let due = count.threshold(every);
        if count.since_snapshot() < due || applied.saturating_sub(asked) < due / 4 {
            continue;
        }
        count.asked.store(applied, Ordering::Relaxed);
        if let Err(e) = raft.trigger().snapshot().await {
            tracing::warn!(error = %e, "asking for a snapshot");
            return;
        }
    }
}
