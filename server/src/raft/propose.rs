//! Group commit at the proposal: writes that arrive while one entry is on
//! its way through Raft are proposed together as the next entry.
//!
//! openraft 0.9's core hands each entry to the log store and waits for it
//! to be durable before it takes the next one (`RaftCore::append_to_log`
//! awaits the flush callback), so entries never share a sync however the
//! log store batches. Writers therefore go through one proposer: it takes
//! every waiting command, proposes them as one [`Command::Batch`] entry (or
//! the command itself when it is alone), and, once that entry is applied,
//! answers each writer with its own command's result. A lone writer pays
//! one entry and one sync per write; under load the batch grows with the
//! time an entry takes, which is what etcd's proposal batching does.
//!
//! Writes are foreground (a user's request waits for them) or background
//! (the leader's own: plan results, eval updates). A batch of background
//! writes alone, while users are writing, lingers for up to [`LINGER`] so
//! the next user write takes it along: a job register is followed by the
//! plan of its evaluation, and without the linger a lone user's next
//! register would wait behind that plan's entry, paying two syncs per
//! register instead of one (the group commit delay of MySQL's
//! `binlog_group_commit_sync_delay`, applied only to the leader's writes).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_state::{ApplyError, Command};
use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::node::WriteError;
use super::payload::Payload;
use super::{Raft, WriteOutcome};

/// The most commands in one entry.
const MAX_BATCH: usize = 512;
/// How long background writes wait for a foreground one to go with.
pub const LINGER: Duration = Duration::from_millis(1);
/// Users count as writing when a foreground write came this recently.
const ACTIVE: Duration = Duration::from_millis(20);

struct Proposal {
    cmd: Command,
    background: bool,
    reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
}

/// The writers' side of the proposer. Cheap to clone.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Proposal>,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Proposer {
    pub fn start(raft: Raft) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(raft, rx, stopped));
        Proposer {
            tx,
            stop: Arc::new(stop),
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Propose `cmd` and wait until it is applied. `background` marks the
    /// leader's own writes, which may wait [`LINGER`] for company.
    pub async fn write(&self, cmd: Command, background: bool) -> Result<WriteOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Proposal {
                cmd,
                background,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Stop taking proposals and wait for the proposer to end. Writes still
    /// waiting get an error; the one in Raft ends when Raft stops.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

fn stopped() -> WriteError {
    WriteError::Raft("the server is shutting down".into())
}

async fn run(
    raft: Raft,
    mut rx: mpsc::UnboundedReceiver<Proposal>,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_foreground: Option<tokio::time::Instant> = None;
    loop {
        let first = tokio::select! {
            p = rx.recv() => match p {
                Some(p) => p,
                None => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut batch = vec![first];
        take_waiting(&mut rx, &mut batch);
        let foreground = batch.iter().any(|p| !p.background);
        if foreground {
            last_foreground = Some(tokio::time::Instant::now());
        } else if last_foreground.is_some_and(|t| t.elapsed() < ACTIVE) {
            // Wait a little for a user's write to share the entry.
            let until = tokio::time::Instant::now() + LINGER;
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(p)) => {
                        let fg = !p.background;
                        batch.push(p);
                        if fg {
                            take_waiting(&mut rx, &mut batch);
                            last_foreground = Some(tokio::time::Instant::now());
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        propose(&raft, batch).await;
    }
}

/// Move every proposal already waiting into `batch` (up to the cap).
fn take_waiting(rx: &mut mpsc::UnboundedReceiver<Proposal>, batch: &mut Vec<Proposal>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
}

async fn propose(raft: &Raft, mut batch: Vec<Proposal>) {
    if batch.len() == 1 {
        if let Some(p) = batch.pop() {
            let _ = p.reply.send(client_write(raft, p.cmd).await);
        }
        return;
    }
    let (cmds, replies): (Vec<Command>, Vec<_>) =
        batch.into_iter().map(|p| (p.cmd, p.reply)).unzip();
    match client_write(raft, Command::Batch(cmds)).await {
        Ok(out) => {
            let mut results = out.batch.into_iter();
            for reply in replies {
                let result = results.next().unwrap_or_else(|| {
                    Err(ApplyError::Invalid(
                        "the batch came back without this command's result".into(),
                    ))
                });
                let _ = reply.send(Ok(WriteOutcome {
                    index: out.index,
                    result,
                    batch: Vec::new(),
                }));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

async fn client_write(raft: &Raft, cmd: Command) -> Result<WriteOutcome, WriteError> {
    let payload = Payload::new(cmd).map_err(|e| WriteError::Raft(e.to_string()))?;
    match raft.client_write(payload).await {
        Ok(resp) => Ok(resp.data),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Err(WriteError::NotLeader {
                leader: f.leader_id,
                leader_addr: f.leader_node.map(|n| n.addr),
            })
        }
        Err(e) => Err(WriteError::Raft(e.to_string())),
    }
}
