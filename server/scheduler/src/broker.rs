//! The eval broker (`nomad/eval_broker.go`): the leader's in-memory queue of
//! evaluations waiting for a scheduler worker.
//!
//! Delivery is at-least-once: [`EvalBroker::dequeue`] hands out an eval with
//! a fresh token, and the eval stays *unacked* until the worker calls
//! [`EvalBroker::ack`] or [`EvalBroker::nack`], or until the nack timeout
//! passes and [`EvalBroker::tick`] nacks it on the worker's behalf.
//!
//! Architecture Invariant: this is a plain data structure. It reads no clock,
//! spawns nothing and draws no random numbers; time arrives as arguments
//! (`now_ms`, a monotonic millisecond count chosen by the caller, and
//! `now_unix_nanos`, the wall clock for `WaitUntil`). The leader's async loop
//! owns the timers and calls [`EvalBroker::tick`] at
//! [`EvalBroker::next_deadline`]. Every collection is ordered, so the same
//! calls always give the same answers.
//!
//! Where an eval lives (exactly one place at a time):
//!
//! | state        | holds the job's slot | how it leaves                              |
//! |--------------|----------------------|--------------------------------------------|
//! | ready        | yes                  | `dequeue`                                  |
//! | unacked      | yes                  | `ack`, `nack`, nack timeout in `tick`      |
//! | nack delay   | yes                  | `tick` once the delay passed → ready       |
//! | failed       | yes                  | `take_failed`                              |
//! | pending      | no                   | promoted when the slot holder is acked     |
//! | waiting      | no                   | `tick` once `WaitUntil`/`Wait` passed      |
//!
//! "The job's slot" is Nomad's `jobEvals`: only one eval per
//! (namespace, job) is ever ready or in flight, so two workers never
//! schedule the same job at once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use drover_api::Evaluation;

/// Nomad's `failedQueue`: the pseudo-scheduler that failed evals are
/// reported under in [`BrokerStats::by_scheduler`].
pub const FAILED_QUEUE: &str = "_failed";

/// Tuning knobs; defaults are Nomad's (`nomad/config.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// How long a worker may hold an eval before it is nacked for it
    /// (`EvalNackTimeout`).
    pub nack_timeout_ms: u64,
    /// Deliveries before an eval goes to the failed queue instead of back
    /// to ready (`EvalDeliveryLimit`).
    pub delivery_limit: u32,
    /// Re-enqueue delay after the first nack (`EvalNackInitialReenqueueDelay`).
    pub initial_nack_delay_ms: u64,
    /// Re-enqueue delay after every later nack
    /// (`EvalNackSubsequentReenqueueDelay`). Flat, not compounding: Nomad's
    /// `nackReenqueueDelay` returns the same value for every nack after the first.
    pub subsequent_nack_delay_ms: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            nack_timeout_ms: 60_000,
            delivery_limit: 3,
            initial_nack_delay_ms: 1_000,
            subsequent_nack_delay_ms: 20_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// Nomad: "Evaluation ID not found". The eval is not unacked: never
    /// dequeued, already acked or nacked, or nacked by the timeout.
    #[error("evaluation {0} is not outstanding")]
    NotOutstanding(String),
    /// Nomad: "Token does not match for Evaluation ID". A stale worker
    /// whose delivery timed out and was handed to someone else.
    #[error("token does not match for evaluation {0}")]
    TokenMismatch(String),
    /// The broker runs on the leader only; a follower's broker is disabled.
    #[error("eval broker disabled")]
    Disabled,
}

/// Counts per scheduler, as in Nomad's `SchedulerStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    pub ready: usize,
    pub unacked: usize,
}

/// A snapshot of the broker's queues (Nomad's `BrokerStats`). Computed on
/// demand from the queues themselves, so it can never drift from them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerStats {
    pub total_ready: usize,
    pub total_unacked: usize,
    /// Evals waiting behind another eval of the same job.
    pub total_pending: usize,
    /// Evals delayed by `WaitUntil`/`Wait` or by a nack delay.
    pub total_waiting: usize,
    pub total_failed: usize,
    /// Superseded pending evals not yet taken by [`EvalBroker::take_cancelable`].
    pub total_cancelable: usize,
    /// Ready and unacked counts by scheduler (eval type); failed evals
    /// count as ready under [`FAILED_QUEUE`], as in Nomad.
    pub by_scheduler: BTreeMap<String, SchedulerStats>,
}

/// (namespace, job ID): the unit that may have one eval in flight.
type JobKey = (String, String);

/// Ready-queue order: highest priority first, then oldest CreateIndex, then
/// ID so ties are broken the same way every time.
type ReadyKey = (Reverse<i32>, u64, String);

/// Pending order, as Nomad's `PendingEvaluations`: highest priority first,
/// then the *newest* CreateIndex, because the newest eval sees the newest
/// job version and makes the older ones redundant.
type PendingKey = (Reverse<i32>, Reverse<u64>, String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    Ready,
    Unacked {
        token: String,
        deadline_ms: u64,
    },
    NackDelay {
        due_ms: u64,
    },
    Failed,
    Pending,
    /// `due_ms` is the caller's monotonic clock converted at enqueue; the
    /// wall-clock `until_nanos` (from `WaitUntil`) also releases it, so a
    /// wall clock that jumps forward does not hold the eval back.
    Waiting {
        due_ms: u64,
        until_nanos: Option<i64>,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    eval: Evaluation,
    /// Deliveries so far (Nomad's `evals[id]`), compared with the delivery limit.
    dequeues: u32,
    location: Location,
}

/// See the module docs.
#[derive(Debug)]
pub struct EvalBroker {
    cfg: BrokerConfig,
    enabled: bool,
    /// Every eval the broker knows, whatever its location; the dedupe key.
    evals: BTreeMap<String, Entry>,
    /// The eval holding each job's slot (Nomad's `jobEvals`).
    job_evals: BTreeMap<JobKey, String>,
    ready: BTreeMap<String, BTreeSet<ReadyKey>>,
    pending: BTreeMap<JobKey, BTreeSet<PendingKey>>,
    /// Nack timeouts of unacked evals.
    unack_deadlines: BTreeSet<(u64, String)>,
    /// Monotonic due times of nack-delayed and waiting evals.
    delayed: BTreeSet<(u64, String)>,
    /// Wall-clock `WaitUntil` of waiting evals.
    wait_until: BTreeSet<(i64, String)>,
    /// Failed eval IDs in the order they failed.
    failed: Vec<String>,
    /// Superseded evals, out of the broker already; the leader cancels them.
    cancelable: Vec<Evaluation>,
    /// Source of delivery tokens. Never reset, not even by a flush, so a
    /// token from an earlier leadership term can never match a new delivery.
    next_token: u64,
}

impl EvalBroker {
    /// A disabled broker; the leader enables it when it takes office.
    pub fn new(cfg: BrokerConfig) -> Self {
        Self {
            cfg,
            enabled: false,
            evals: BTreeMap::new(),
            job_evals: BTreeMap::new(),
            ready: BTreeMap::new(),
            pending: BTreeMap::new(),
            unack_deadlines: BTreeSet::new(),
            delayed: BTreeSet::new(),
            wait_until: BTreeSet::new(),
            failed: Vec::new(),
            cancelable: Vec::new(),
            next_token: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Enabled on the leader only. Disabling flushes every queue, including
    /// failed and cancelable evals: the next leader restores the pending
    /// evals from the state store, so nothing held here is the only copy.
    pub fn set_enabled(&mut self, enabled: bool) {
        if self.enabled && !enabled {
            self.flush();
        }
        self.enabled = enabled;
    }

    fn flush(&mut self) {
        self.evals.clear();
        self.job_evals.clear();
        self.ready.clear();
        self.pending.clear();
        self.unack_deadlines.clear();
        self.delayed.clear();
        self.wait_until.clear();
        self.failed.clear();
        self.cancelable.clear();
    }

    /// Whether the broker holds this eval in any queue (not counting
    /// evals already moved out to the cancelable list).
    pub fn contains(&self, eval_id: &str) -> bool {
        self.evals.contains_key(eval_id)
    }

    /// Enqueue a pending eval.
    ///
    /// - Ignored while disabled: a follower has no broker work, and the
    ///   leader re-reads pending evals from state when it is enabled.
    /// - Ignored if the ID is already held (ready, unacked, pending, waiting,
    ///   delayed or failed), so replays of the same Raft entry are harmless.
    /// - A `WaitUntil` after `now_unix_nanos`, or a positive `Wait`, parks the
    ///   eval in the delay heap without taking the job's slot; [`Self::tick`]
    ///   releases it.
    /// - Otherwise the eval takes its job's slot and becomes ready, or, if
    ///   another eval of the job holds the slot, waits in the job's pending
    ///   queue.
    ///
    /// The eval's status is not checked: choosing which evals to enqueue
    /// (Nomad's `ShouldEnqueue`) is the caller's job.
    pub fn enqueue(&mut self, eval: Evaluation, now_ms: u64, now_unix_nanos: i64) {
        if !self.enabled || self.evals.contains_key(&eval.id) {
            return;
        }
        let until_nanos = eval.wait_until.filter(|&until| until > now_unix_nanos);
        let wait_ms = match until_nanos {
            Some(until) => nanos_to_ms_ceil(until.saturating_sub(now_unix_nanos)),
            None => nanos_to_ms_ceil(eval.wait),
        };
        if until_nanos.is_some() || wait_ms > 0 {
            let due_ms = now_ms.saturating_add(wait_ms);
            let id = eval.id.clone();
            self.delayed.insert((due_ms, id.clone()));
            if let Some(until) = until_nanos {
                self.wait_until.insert((until, id.clone()));
            }
            self.evals.insert(
                id,
                Entry {
                    eval,
                    dequeues: 0,
                    location: Location::Waiting {
                        due_ms,
                        until_nanos,
                    },
                },
            );
            return;
        }
        let id = eval.id.clone();
        self.evals.insert(
            id.clone(),
            Entry {
                eval,
                dequeues: 0,
                location: Location::Pending,
            },
        );
        self.place(&id);
    }

    /// Puts a held eval that has no queue of its own into the ready queue if
    /// its job's slot is free (or already its own), else into the job's
    /// pending queue. Nomad's `enqueueLocked`.
    fn place(&mut self, id: &str) {
        let Some(entry) = self.evals.get_mut(id) else {
            return;
        };
        let job = job_key(&entry.eval);
        match self.job_evals.get(&job) {
            Some(holder) if holder != id => {
                entry.location = Location::Pending;
                self.pending
                    .entry(job)
                    .or_default()
                    .insert(pending_key(&entry.eval));
            }
            _ => {
                entry.location = Location::Ready;
                self.ready
                    .entry(entry.eval.eval_type.clone())
                    .or_default()
                    .insert(ready_key(&entry.eval));
                self.job_evals.insert(job, id.to_owned());
            }
        }
    }

    /// The highest-priority ready eval for any of `schedulers`, with a new
    /// delivery token; it stays unacked until acked, nacked or timed out.
    ///
    /// Ties across schedulers go to the oldest CreateIndex, then the lowest
    /// ID. Nomad picks randomly among equal-priority schedulers; we stay
    /// deterministic so tests and replays are exact. `None` when nothing is
    /// ready or the broker is disabled; the caller waits for the next
    /// enqueue or tick (this structure cannot block).
    pub fn dequeue(&mut self, schedulers: &[&str], now_ms: u64) -> Option<(Evaluation, String)> {
        if !self.enabled {
            return None;
        }
        let (sched, key) = schedulers
            .iter()
            .filter_map(|s| {
                let first = self.ready.get(*s)?.first()?;
                Some((*s, first.clone()))
            })
            .min_by(|a, b| a.1.cmp(&b.1))?;
        if let Some(queue) = self.ready.get_mut(sched) {
            queue.remove(&key);
            if queue.is_empty() {
                self.ready.remove(sched);
            }
        }
        let id = key.2;
        let entry = self.evals.get_mut(&id)?;
        self.next_token += 1;
        let token = format_token(self.next_token);
        let deadline_ms = now_ms.saturating_add(self.cfg.nack_timeout_ms);
        entry.dequeues = entry.dequeues.saturating_add(1);
        entry.location = Location::Unacked {
            token: token.clone(),
            deadline_ms,
        };
        self.unack_deadlines.insert((deadline_ms, id));
        Some((entry.eval.clone(), token))
    }

    /// The delivery token of an unacked eval.
    pub fn outstanding(&self, eval_id: &str) -> Option<&str> {
        match &self.evals.get(eval_id)?.location {
            Location::Unacked { token, .. } => Some(token),
            _ => None,
        }
    }

    /// Restarts an unacked eval's nack timeout (Nomad's `OutstandingReset`),
    /// for a worker that is still busy with it.
    pub fn outstanding_reset(
        &mut self,
        eval_id: &str,
        token: &str,
        now_ms: u64,
    ) -> Result<(), BrokerError> {
        let old_deadline = self.check_outstanding(eval_id, token)?;
        let deadline_ms = now_ms.saturating_add(self.cfg.nack_timeout_ms);
        self.unack_deadlines
            .remove(&(old_deadline, eval_id.to_owned()));
        self.unack_deadlines
            .insert((deadline_ms, eval_id.to_owned()));
        if let Some(entry) = self.evals.get_mut(eval_id) {
            entry.location = Location::Unacked {
                token: token.to_owned(),
                deadline_ms,
            };
        }
        Ok(())
    }

    /// Returns the nack deadline of an eval unacked under `token`.
    fn check_outstanding(&self, eval_id: &str, token: &str) -> Result<u64, BrokerError> {
        if !self.enabled {
            return Err(BrokerError::Disabled);
        }
        match self.evals.get(eval_id).map(|e| &e.location) {
            Some(Location::Unacked {
                token: held,
                deadline_ms,
            }) => {
                if held == token {
                    Ok(*deadline_ms)
                } else {
                    Err(BrokerError::TokenMismatch(eval_id.to_owned()))
                }
            }
            _ => Err(BrokerError::NotOutstanding(eval_id.to_owned())),
        }
    }

    /// The worker finished the eval: it leaves the broker and its job's slot
    /// passes to the job's pending evals.
    ///
    /// Of several pending evals of the job, only the best (highest priority,
    /// then newest CreateIndex) is promoted to ready; the others are
    /// superseded and move to the cancelable list, as Nomad's
    /// `MarkForCancel` (#14621): the promoted eval reads the newest state,
    /// so running the older ones too would only repeat its work.
    pub fn ack(&mut self, eval_id: &str, token: &str) -> Result<(), BrokerError> {
        let deadline_ms = self.check_outstanding(eval_id, token)?;
        self.unack_deadlines
            .remove(&(deadline_ms, eval_id.to_owned()));
        if let Some(entry) = self.evals.remove(eval_id) {
            self.release_slot(&entry.eval);
        }
        Ok(())
    }

    /// Frees the job's slot held by `eval` and promotes the best pending
    /// eval of that job, shedding the rest.
    fn release_slot(&mut self, eval: &Evaluation) {
        let job = job_key(eval);
        if self.job_evals.get(&job) == Some(&eval.id) {
            self.job_evals.remove(&job);
        }
        let Some(mut waiting) = self.pending.remove(&job) else {
            return;
        };
        let Some(best) = waiting.pop_first() else {
            return;
        };
        for (_, _, id) in waiting {
            if let Some(entry) = self.evals.remove(&id) {
                self.cancelable.push(entry.eval);
            }
        }
        self.place(&best.2);
    }

    /// The worker gave the eval back. Below the delivery limit it returns to
    /// ready after the nack delay (none if it was never delivered, the
    /// initial delay after the first delivery, the subsequent delay after
    /// later ones), keeping its job's slot meanwhile. At the limit it goes to
    /// the failed queue for the leader to mark failed ([`Self::take_failed`]).
    pub fn nack(&mut self, eval_id: &str, token: &str, now_ms: u64) -> Result<(), BrokerError> {
        let deadline_ms = self.check_outstanding(eval_id, token)?;
        self.unack_deadlines
            .remove(&(deadline_ms, eval_id.to_owned()));
        self.requeue_nacked(eval_id, now_ms);
        Ok(())
    }

    fn requeue_nacked(&mut self, eval_id: &str, now_ms: u64) {
        let Some(entry) = self.evals.get_mut(eval_id) else {
            return;
        };
        if entry.dequeues >= self.cfg.delivery_limit {
            entry.location = Location::Failed;
            self.failed.push(eval_id.to_owned());
            return;
        }
        // Nomad's `nackReenqueueDelay`.
        let delay = match entry.dequeues {
            0 => 0,
            1 => self.cfg.initial_nack_delay_ms,
            _ => self.cfg.subsequent_nack_delay_ms,
        };
        if delay == 0 {
            self.place(eval_id);
        } else {
            let due_ms = now_ms.saturating_add(delay);
            entry.location = Location::NackDelay { due_ms };
            self.delayed.insert((due_ms, eval_id.to_owned()));
        }
    }

    /// Advances time: nacks unacked evals whose timeout passed (with the
    /// usual delay and delivery limit), then releases delayed evals whose
    /// nack delay, `Wait` or `WaitUntil` has passed. Does nothing while
    /// disabled (everything was flushed).
    pub fn tick(&mut self, now_ms: u64, now_unix_nanos: i64) {
        if !self.enabled {
            return;
        }
        while let Some((deadline, _)) = self.unack_deadlines.first() {
            if *deadline > now_ms {
                break;
            }
            let Some((_, id)) = self.unack_deadlines.pop_first() else {
                break;
            };
            self.requeue_nacked(&id, now_ms);
        }
        let mut due: Vec<String> = Vec::new();
        while let Some((at, _)) = self.delayed.first() {
            if *at > now_ms {
                break;
            }
            if let Some((_, id)) = self.delayed.pop_first() {
                due.push(id);
            }
        }
        while let Some((until, _)) = self.wait_until.first() {
            if *until > now_unix_nanos {
                break;
            }
            if let Some((_, id)) = self.wait_until.pop_first() {
                due.push(id);
            }
        }
        for id in due {
            self.release_delayed(&id);
        }
    }

    /// Moves one delayed eval on; called once per index it is due in, so it
    /// clears the other index too and ignores a second call.
    fn release_delayed(&mut self, id: &str) {
        let Some(entry) = self.evals.get(id) else {
            return;
        };
        match entry.location {
            Location::NackDelay { .. } => self.place(id),
            Location::Waiting {
                due_ms,
                until_nanos,
            } => {
                self.delayed.remove(&(due_ms, id.to_owned()));
                if let Some(until) = until_nanos {
                    self.wait_until.remove(&(until, id.to_owned()));
                }
                self.place(id);
            }
            _ => {}
        }
    }

    /// The earliest monotonic time at which [`Self::tick`] has work: a nack
    /// timeout, a nack delay, or a `Wait`/`WaitUntil` (converted to the
    /// monotonic clock when enqueued). `None` when nothing is timed.
    pub fn next_deadline(&self) -> Option<u64> {
        let unack = self.unack_deadlines.first().map(|(t, _)| *t);
        let delayed = self.delayed.first().map(|(t, _)| *t);
        match (unack, delayed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn stats(&self) -> BrokerStats {
        let mut stats = BrokerStats {
            total_cancelable: self.cancelable.len(),
            ..BrokerStats::default()
        };
        for entry in self.evals.values() {
            let sched = entry.eval.eval_type.as_str();
            match entry.location {
                Location::Ready => {
                    stats.total_ready += 1;
                    stats
                        .by_scheduler
                        .entry(sched.to_owned())
                        .or_default()
                        .ready += 1;
                }
                Location::Unacked { .. } => {
                    stats.total_unacked += 1;
                    stats
                        .by_scheduler
                        .entry(sched.to_owned())
                        .or_default()
                        .unacked += 1;
                }
                Location::Failed => {
                    stats.total_failed += 1;
                    stats
                        .by_scheduler
                        .entry(FAILED_QUEUE.to_owned())
                        .or_default()
                        .ready += 1;
                }
                Location::Pending => stats.total_pending += 1,
                Location::NackDelay { .. } | Location::Waiting { .. } => stats.total_waiting += 1,
            }
        }
        stats
    }

    /// Evals that reached the delivery limit, oldest failure first. They
    /// leave the broker, and their jobs' slots pass on as on an ack: the
    /// leader now owns them (marks them failed and creates the follow-up).
    pub fn take_failed(&mut self) -> Vec<Evaluation> {
        let ids = std::mem::take(&mut self.failed);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(entry) = self.evals.remove(&id) {
                self.release_slot(&entry.eval);
                out.push(entry.eval);
            }
        }
        out
    }

    /// Superseded pending evals (see [`Self::ack`]), for the leader to write
    /// as canceled in one batch.
    pub fn take_cancelable(&mut self) -> Vec<Evaluation> {
        std::mem::take(&mut self.cancelable)
    }
}

fn job_key(eval: &Evaluation) -> JobKey {
    (eval.namespace.clone(), eval.job_id.clone())
}

fn ready_key(eval: &Evaluation) -> ReadyKey {
    (Reverse(eval.priority), eval.create_index, eval.id.clone())
}

fn pending_key(eval: &Evaluation) -> PendingKey {
    (
        Reverse(eval.priority),
        Reverse(eval.create_index),
        eval.id.clone(),
    )
}

/// Rounds up so a delay never ends early; negative durations are zero.
fn nanos_to_ms_ceil(nanos: i64) -> u64 {
    if nanos <= 0 {
        return 0;
    }
    // Positive, so the cast is lossless.
    (nanos as u64).div_ceil(1_000_000)
}

/// Tokens come from a counter, not a random UUID, so tests can name them;
/// they are UUID-shaped because Nomad's are and workers pass them back as-is.
fn format_token(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}
