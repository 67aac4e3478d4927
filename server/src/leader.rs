//! Leader duties: feed pending evaluations to the broker, run scheduler
//! workers, and apply their plans one at a time (Nomad nomad/leader.go,
//! worker.go, plan_apply.go).
//!
//! The plan applier is a single lock around "check, then write": each
//! placement is re-checked against the latest applied state (its node must
//! still be ready and the allocation must still fit next to what is live
//! there and what this plan already accepted); what no longer fits is
//! dropped and the worker re-plans it against the newer state, so several
//! workers never over-commit a node.
//!
//! The feed runs after every apply and is incremental: it reads only the
//! evals and nodes written since its last look (the state's modify-index
//! reads), enqueues the new pending evals, and keeps the blocked evals in
//! [`crate::blocked::BlockedEvals`], keyed by the datacenter and pool that
//! could wake them. Its work under the state's read lock is proportional
//! to what was applied, not to how many evals are blocked or how many
//! nodes there are; after gaining leadership it reads everything once.
//! Workers plan each eval up to 3 times.
//!
//! The duties are one supervised unit per term ([`start`]): on gaining
//! leadership a fresh broker, blocked-eval set, feed loop and workers start
//! (the broker restored from state by the first feed, which reads every
//! eval once); on losing it, or on shutdown, they are told to stop and
//! awaited, commits in flight included, before anything of a later term
//! starts. A plan is committed only while the term that planned it still
//! leads (Nomad nomad/leader.go `establishLeadership`/`revokeLeadership`).
//! The first leader of a cluster also writes the cluster's ID and the
//! default scheduler configuration. The deployment watcher
//! ([`crate::deployment_watch`]), the periodic dispatcher
//! ([`crate::periodic_dispatch`]), the timed collection of terminal
//! deployments ([`crate::gc_timer`]) and autopilot's promotion of learners
//! ([`crate::cluster::promote_learners`]) are duties of the term too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use drover_api::{EvalStatus, Evaluation};
use drover_scheduler::broker::{BrokerConfig, EvalBroker};
use drover_scheduler::generic::Plan;
use drover_state::WatchSet;
use tokio::sync::Notify;

use crate::blocked::BlockedEvals;
use crate::clock::unix_nanos;
use crate::raft::node::RaftHandle;

const SCHEDULERS: &[&str] = &["service", "batch", "system", "sysbatch"];
const MAX_ATTEMPTS: usize = 3;

/// Counters the leader keeps about its scheduling work, for metrics and the
/// scheduler benchmark. Monotonic across leadership changes.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Evaluations a worker finished (acked).
    pub evals_completed: AtomicU64,
    /// Plans handed to the applier.
    pub plans: AtomicU64,
    /// Plans of which the applier rejected at least one placement.
    pub plans_partial: AtomicU64,
    /// Allocations the applier committed.
    pub placements: AtomicU64,
    /// Blocked evals the feed tested after an apply (newly blocked ones,
    /// and known ones a changed node's datacenter and pool could wake):
    /// the feed's per-write work, which a write that cannot unblock
    /// anything leaves unchanged.
    pub blocked_examined: AtomicU64,
    /// Blocked evals the leader holds (a gauge, set by each feed).
    pub blocked: AtomicU64,
    /// Times a worker looked for work and found the broker paused
    /// (`PauseEvalBroker`).
    pub paused_looks: AtomicU64,
}

impl SchedulerStats {
    fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

/// The leader duties of one term.
struct Leader {
    /// The Raft term these duties serve; they commit nothing once it ends.
    term: u64,
    stats: Arc<SchedulerStats>,
    raft: RaftHandle,
    broker: Mutex<EvalBroker>,
    work: Notify,
    applier: tokio::sync::Mutex<()>,
    /// Placements checked and on their way through Raft, by ticket.
    inflight: Mutex<std::collections::BTreeMap<u64, Vec<drover_api::Allocation>>>,
    next_ticket: AtomicU64,
    /// Final commits that may be in Raft at once.
    commit_slots: Arc<tokio::sync::Semaphore>,
    epoch: Instant,
    /// The blocked evals and what `feed` has read so far.
    blocked: Mutex<BlockedEvals>,
}

impl Leader {
    fn new(raft: RaftHandle, stats: Arc<SchedulerStats>, workers: usize, term: u64) -> Leader {
        Leader {
            term,
            stats,
            raft,
            broker: Mutex::new(EvalBroker::new(BrokerConfig::default())),
            work: Notify::new(),
            applier: tokio::sync::Mutex::new(()),
            inflight: Mutex::new(Default::default()),
            next_ticket: AtomicU64::new(0),
            commit_slots: Arc::new(tokio::sync::Semaphore::new(2 * workers.max(1))),
            epoch: Instant::now(),
            blocked: Mutex::new(BlockedEvals::default()),
        }
    }

    /// Whether this term still leads: checked before each commit.
    fn leads(&self) -> bool {
        let m = self.raft.raft.server_metrics();
        let m = m.borrow();
        m.current_leader == Some(self.raft.node_id) && m.vote.leader_id().get_term() == self.term
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn broker(&self) -> std::sync::MutexGuard<'_, EvalBroker> {
        self.broker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enqueue the evaluations written as pending since the last feed, and
    /// the blocked ones some changed node could now take
    /// ([`crate::blocked`]). Under the state's read lock, but only for work
    /// proportional to what was applied since the last feed (the first feed
    /// after gaining leadership reads everything once). The broker is fed
    /// under that lock too: a worker acks only after its eval's completion
    /// is applied, which needs the write lock, so an eval read as pending
    /// here cannot have been acked in between and is never enqueued twice.
    fn feed(&self) -> Option<drover_state::Command> {
        let leader = self.leads();
        let (now, wall) = (self.now_ms(), unix_nanos());
        let applied = self.raft.shared.read();
        let st = &applied.state;
        let mut ready: Vec<&Evaluation> = Vec::new();
        {
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            if !leader {
                blocked.reset();
            } else {
                let look = blocked.look(st);
                SchedulerStats::bump(&self.stats.blocked_examined, look.examined);
                ready = look.pending;
                ready.extend(look.unblocked);
            }
            self.stats
                .blocked
                .store(blocked.len() as u64, Ordering::Relaxed);
        }
        let mut b = self.broker();
        if b.enabled() != leader {
            b.set_enabled(leader);
        }
        let mut wake = b.next_deadline().is_some_and(|t| t <= now);
        for e in ready {
            if !b.contains(&e.id) {
                b.enqueue(e.clone(), now, wall);
                wake = true;
            }
        }
        b.tick(now, wall);
        let failed = b.take_failed();
        let canceled = b.take_cancelable();
        drop(b);
        drop(applied);
        // Waking idle workers costs context switches on every apply; only
        // when there is something for them.
        if wake {
            self.work.notify_waiters();
        }
        (!failed.is_empty() || !canceled.is_empty()).then(|| reap(failed, canceled, unix_nanos()))
    }

    /// Feed after every apply and at the broker's deadlines, until `stop`.
    /// Reaping writes run beside it and are awaited before it returns.
    async fn feed_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut applied = self.raft.shared.subscribe_applied();
        let mut reaps = JoinSet::new();
        loop {
            while reaps.try_join_next().is_some() {}
            if let Some(cmd) = self.feed() {
                let raft = self.raft.clone();
                reaps.spawn(async move {
                    if let Err(e) = raft.write_background(cmd).await {
                        tracing::warn!(error = %e, "could not mark failed or canceled evals");
                    }
                });
            }
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep(self.idle()) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        while reaps.join_next().await.is_some() {}
    }

    /// The deployment watcher ([`crate::deployment_watch`]): after every
    /// apply and at the next progress deadline, look at the deployments
    /// that changed or came due, and write what each needs, one write at
    /// a time, while this term leads.
    async fn watch_deployments(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut applied = self.raft.shared.subscribe_applied();
        let mut watcher = crate::deployment_watch::Watcher::default();
        loop {
            let now = unix_nanos();
            let writes: Vec<drover_state::Command> = {
                let guard = self.raft.shared.read();
                let st = &guard.state;
                watcher
                    .look(st, now)
                    .into_iter()
                    .filter_map(|(d, decision)| {
                        tracing::info!(deployment = %d.id, job = %d.job_id, ?decision, "deployment watcher");
                        crate::deployment_watch::command(st, &d, decision, now)
                    })
                    .collect()
            };
            for cmd in writes {
                if *stop.borrow() || !self.leads() {
                    break;
                }
                match self.raft.write_background(cmd).await {
                    Ok(out) => {
                        if let Err(e) = out.result {
                            tracing::info!(error = %e, "deployment watcher: write refused");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "deployment watcher: write failed"),
                }
            }
            let sleep = watcher
                .next_deadline()
                .map_or(Duration::from_secs(1), |at| {
                    let ns = at
                        .saturating_sub(unix_nanos())
                        .clamp(1_000_000, 1_000_000_000);
                    Duration::from_nanos(ns as u64)
                });
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    }

    /// How long the feed loop may sleep: until the broker's next timed
    /// event (a nack timeout, a delay, a `WaitUntil`), at most a second.
    fn idle(&self) -> Duration {
        let next = self.broker().next_deadline();
        let now = self.now_ms();
        let ms = next.map_or(1000, |t| t.saturating_sub(now).clamp(1, 1000));
        Duration::from_millis(ms)
    }

    /// Dequeue and plan evals until `stop`; the commits this worker left
    /// in Raft are awaited before it returns.
    async fn worker(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut commits = JoinSet::new();
        while !*stop.borrow() {
            while commits.try_join_next().is_some() {}
            // `PauseEvalBroker` (Nomad's `handleEvalBrokerStateChange`,
            // nomad/leader.go, disables its broker): evals stay queued and
            // pending until it is cleared; workers look again at least
            // every 500 ms.
            let paused = self
                .raft
                .shared
                .read()
                .state
                .scheduler_config()
                .is_some_and(|c| c.pause_eval_broker);
            let next = if paused {
                SchedulerStats::bump(&self.stats.paused_looks, 1);
                None
            } else {
                self.broker().dequeue(SCHEDULERS, self.now_ms())
            };
            let Some((eval, token)) = next else {
                tokio::select! {
                    _ = self.work.notified() => continue,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = stop.wait_for(|s| *s) => break,
                }
            };
            self.clone().process(eval, token, &mut commits).await;
        }
        while commits.join_next().await.is_some() {}
    }

    /// Ack or nack `eval` with the broker.
    fn finish(&self, eval: &Evaluation, token: &str, done: bool) {
        let mut b = self.broker();
        let result = if done {
            SchedulerStats::bump(&self.stats.evals_completed, 1);
            b.ack(&eval.id, token)
        } else {
            b.nack(&eval.id, token, self.now_ms())
        };
        if let Err(e) = result {
            tracing::debug!(eval = %eval.id, error = %e, "ack/nack after leadership change");
        }
    }

    /// Plan and apply `eval`, re-planning what the applier rejected. The
    /// final commit runs in the background, so the worker plans its next
    /// eval while this one is in Raft (at most `commit_slots` at a time);
    /// the eval is acked when its plan is applied.
    async fn process(self: Arc<Self>, eval: Evaluation, token: String, commits: &mut JoinSet<()>) {
        for attempt in 0..MAX_ATTEMPTS {
            // The scheduler plans on a copy: the tables are persistent maps,
            // so the copy costs microseconds under the lock, and applies go
            // on while this eval is planned (Nomad's workers plan on a state
            // snapshot too, nomad/worker.go).
            let (state, snapshot_index) = {
                let applied = self.raft.shared.read();
                let index = applied.last_applied.map_or(0, |l| l.index);
                (applied.state.clone(), index)
            };
            let mut plan = drover_scheduler::compute(
                &state,
                &eval,
                &mut || uuid::Uuid::new_v4().to_string(),
                unix_nanos(),
            );
            drop(state);
            plan.snapshot_index = snapshot_index;
            let last = attempt + 1 == MAX_ATTEMPTS;
            let (rejected, ticket) = self.check(&mut plan).await;
            if rejected == 0 || last {
                let slot = self.commit_slots.clone().acquire_owned().await;
                commits.spawn(async move {
                    let result = self.commit(plan, &eval, last, rejected).await;
                    self.release(ticket);
                    if let Err(e) = &result {
                        self.not_applied(&eval, e);
                    }
                    self.finish(&eval, &token, result.is_ok());
                    drop(slot);
                });
                return;
            }
            // Partial: commit what fits, then plan the rest on the newer state.
            let result = self.commit(plan, &eval, last, rejected).await;
            self.release(ticket);
            if let Err(e) = result {
                self.not_applied(&eval, &e);
                self.finish(&eval, &token, false);
                return;
            }
        }
        self.finish(&eval, &token, false);
    }

    /// The plan applier's check, one plan at a time: drop what no longer
    /// fits against the applied state plus the plans still in Raft, and
    /// count this plan's placements as in Raft from now on (until
    /// [`Self::release`]). Returns the number rejected and the ticket.
    async fn check(&self, plan: &mut Plan) -> (usize, u64) {
        let _one_at_a_time = self.applier.lock().await;
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        let pending: Vec<&drover_api::Allocation> =
            inflight.values().flat_map(|v| v.iter()).collect();
        // A plan is in `inflight` until its apply is visible, and the copy
        // is taken while `inflight` is held: each in-Raft placement is seen
        // in one or the other.
        let state = self.raft.shared.read().state.clone();
        let rejected = drover_scheduler::plan_check::check(&state, plan, &pending);
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed) + 1;
        // The check reads only what a placement takes and where: not its
        // metrics, which are most of its size.
        let taken = plan
            .placed
            .iter()
            .map(|a| drover_api::Allocation {
                id: a.id.clone(),
                node_id: a.node_id.clone(),
                allocated_resources: a.allocated_resources.clone(),
                ..Default::default()
            })
            .collect();
        inflight.insert(ticket, taken);
        (rejected, ticket)
    }

    fn release(&self, ticket: u64) {
        self.inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ticket);
    }

    /// What a leader writes once when its state lacks it: the cluster's ID
    /// (Nomad's `generateClusterID`, nomad/leader.go), then the default
    /// scheduler configuration (`getOrCreateSchedulerConfig`), written
    /// only if none is stored by then, so it never overwrites an
    /// operator's. Then it waits for the term to end, as every duty does.
    async fn first_writes(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let cluster_id = self.write_missing(
            "the cluster ID",
            |st| st.cluster().is_none(),
            || {
                let meta = drover_state::command::ClusterMetadata {
                    cluster_id: uuid::Uuid::new_v4().to_string(),
                    create_time: unix_nanos(),
                };
                tracing::info!(cluster_id = %meta.cluster_id, "generating the cluster ID");
                drover_state::Command::ClusterMetadata(meta)
            },
            &mut stop,
        );
        if !cluster_id.await {
            return;
        }
        let scheduler_config = self.write_missing(
            "the scheduler configuration",
            |st| st.scheduler_config().is_none(),
            || {
                drover_state::Command::SchedulerConfigSet(
                    drover_state::command::SchedulerConfigSet {
                        config: drover_api::SchedulerConfiguration::cluster_default(),
                        condition: drover_state::command::SetCondition::Absent,
                        now: unix_nanos(),
                    },
                )
            },
            &mut stop,
        );
        if !scheduler_config.await {
            return;
        }
        let _ = stop.wait_for(|s| *s).await;
    }

    /// Write `make()` until `missing` no longer holds for the applied
    /// state (another leader's write counts). A write that fails (the term
    /// ended, a full disk) is tried again each second while the term
    /// lasts. `false` when told to stop first.
    async fn write_missing(
        &self,
        what: &str,
        missing: impl Fn(&drover_state::State) -> bool,
        make: impl Fn() -> drover_state::Command,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        while missing(&self.raft.shared.read().state) {
            let written = tokio::select! {
                _ = stop.wait_for(|s| *s) => return false,
                written = self.raft.write(make()) => written,
            };
            let failed = match written {
                Ok(out) => out.result.err().map(|e| e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            // A refusal because another write got there first is success.
            if let Some(e) = failed.filter(|_| missing(&self.raft.shared.read().state)) {
                tracing::warn!(error = %e, "writing {what} failed; trying again");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return false,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
        true
    }

    /// A plan that was not applied: worth a warning while this term leads;
    /// after it ended (leadership moved, the server is stopping) the next
    /// leader plans the eval again, so it is only noted.
    fn not_applied(&self, eval: &Evaluation, error: &str) {
        if self.leads() {
            tracing::warn!(eval = %eval.id, error = %error, "plan not applied");
        } else {
            tracing::debug!(eval = %eval.id, error = %error, "plan not applied: leadership ended");
        }
    }

    async fn commit(
        &self,
        plan: Plan,
        eval: &Evaluation,
        last: bool,
        rejected: usize,
    ) -> Result<bool, String> {
        // Checked against this plan's term, not just "a leader": a server
        // that lost and regained leadership must not commit a plan checked
        // against the state of an earlier term.
        if !self.leads() {
            return Err(format!("term {} no longer leads", self.term));
        }
        let whole = rejected == 0;
        SchedulerStats::bump(&self.stats.plans, 1);
        if !whole {
            SchedulerStats::bump(&self.stats.plans_partial, 1);
        }
        let placed = plan.placed.len() as u64;
        let now = unix_nanos();
        let mut cmd = plan.into_command(eval.clone(), uuid::Uuid::new_v4().to_string(), now);
        if let drover_state::Command::ApplyPlanResults(r) = &mut cmd {
            if whole || last {
                cancel_superseded_blocked(&self.raft.shared.read().state, eval, r, now);
            } else {
                // Partial: commit what fits, keep the eval pending and re-plan.
                r.evals.clear();
                r.followups.clear();
            }
        }
        let out = self
            .raft
            .write_background(cmd)
            .await
            .map_err(|e| e.to_string())?;
        out.result.map_err(|e| e.to_string())?;
        SchedulerStats::bump(&self.stats.placements, placed);
        Ok(whole || last)
    }
}

/// One blocked eval per job (Nomad's blocked-evals dedup): when this plan
/// creates a new blocked eval, the job's other blocked evals are canceled in
/// the same entry.
fn cancel_superseded_blocked(
    st: &drover_state::State,
    eval: &Evaluation,
    r: &mut drover_state::command::ApplyPlanResults,
    now: i64,
) {
    let Some(new_blocked) = r
        .evals
        .iter()
        .find(|e| e.status == EvalStatus::Blocked)
        .map(|e| e.id.clone())
    else {
        return;
    };
    let older: Vec<Evaluation> = st
        .evals_by_job(&mut WatchSet::new(), &eval.namespace, &eval.job_id)
        .filter(|e| e.status == EvalStatus::Blocked && e.id != eval.id && e.id != new_blocked)
        .cloned()
        .collect();
    for mut e in older {
        e.status = EvalStatus::Canceled;
        e.status_description = format!("superseded by blocked eval {new_blocked}");
        e.modify_time = now;
        r.evals.push(e);
    }
}

/// Evals the broker gave up on are marked failed, each with a follow-up
/// eval that retries it later (Nomad `reapFailedEvaluations`: one minute
/// plus up to five more, spread so a bad job cannot hammer the servers);
/// superseded ones are marked canceled.
fn reap(failed: Vec<Evaluation>, canceled: Vec<Evaluation>, now: i64) -> drover_state::Command {
    const MINUTE: i64 = 60_000_000_000;
    let mut evals = Vec::new();
    for mut e in failed {
        let spread = i64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 5 * MINUTE / 255;
        let followup = Evaluation {
            wait_until: Some(now + MINUTE + spread),
            ..drover_scheduler::generic::chained_eval(
                &e,
                uuid::Uuid::new_v4().to_string(),
                drover_api::trigger::FAILED_FOLLOW_UP,
                EvalStatus::Pending,
                now,
            )
        };
        e.status = EvalStatus::Failed;
        e.status_description = format!(
            "evaluation reached delivery limit ({})",
            drover_scheduler::broker::BrokerConfig::default().delivery_limit
        );
        e.next_eval = followup.id.clone();
        e.modify_time = now;
        evals.push(e);
        evals.push(followup);
    }
    for mut e in canceled {
        e.status = EvalStatus::Canceled;
        e.status_description = "canceled after more recent eval was processed".to_string();
        e.modify_time = now;
        evals.push(e);
    }
    drover_state::Command::EvalUpdate(drover_state::command::EvalUpdate { evals, now })
}

/// The running leader duties: their counters, and the supervisor to await
/// on shutdown.
pub struct Duties {
    pub stats: Arc<SchedulerStats>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Duties {
    /// Wait until the duties have stopped (after `shutdown` was signalled).
    pub async fn stopped(self) {
        if let Err(e) = self.supervisor.await {
            tracing::error!(error = %e, "leader duties ended abnormally");
        }
    }
}

/// Start the leader duties: a supervisor that runs one [`Leader`] per term
/// this server leads, and ends on `shutdown` once the current term's duties
/// have stopped.
pub fn start(
    raft: RaftHandle,
    cluster: Arc<crate::cluster::Cluster>,
    workers: usize,
    gc: crate::gc_timer::GcConfig,
    shutdown: watch::Receiver<bool>,
) -> Duties {
    let stats = Arc::new(SchedulerStats::default());
    let supervisor = tokio::spawn(supervise(
        raft,
        cluster,
        workers,
        gc,
        stats.clone(),
        shutdown,
    ));
    Duties { stats, supervisor }
}

/// The term this server leads now, if it does.
fn leading_term(raft: &RaftHandle, m: &watch::Receiver<crate::raft::ServerMetrics>) -> Option<u64> {
    let m = m.borrow();
    (m.current_leader == Some(raft.node_id)).then(|| m.vote.leader_id().get_term())
}

async fn supervise(
    raft: RaftHandle,
    cluster: Arc<crate::cluster::Cluster>,
    workers: usize,
    gc: crate::gc_timer::GcConfig,
    stats: Arc<SchedulerStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Changes only with the vote, the leader or the membership, not with
    // every append.
    let mut metrics = raft.raft.server_metrics();
    // A restored state replaces everything the duties hold (the broker's
    // evals, the blocked set): they start over within the same term.
    let mut restored = raft.shared.subscribe_restored();
    loop {
        let term = loop {
            if *shutdown.borrow() {
                return;
            }
            if let Some(term) = leading_term(&raft, &metrics) {
                break term;
            }
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|s| *s) => {}
            }
        };
        tracing::info!(term, "leader duties started");
        let leader = Arc::new(Leader::new(raft.clone(), stats.clone(), workers, term));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(leader.clone().feed_loop(stop_rx.clone()));
        tasks.spawn(leader.clone().first_writes(stop_rx.clone()));
        tasks.spawn(leader.clone().watch_deployments(stop_rx.clone()));
        tasks.spawn(crate::periodic_dispatch::run(raft.clone(), stop_rx.clone()));
        tasks.spawn(crate::gc_timer::run(raft.clone(), gc, stop_rx.clone()));
        tasks.spawn(crate::cluster::promote_learners(
            cluster.clone(),
            term,
            stop_rx.clone(),
        ));
        for _ in 0..workers {
            tasks.spawn(leader.clone().worker(stop_rx.clone()));
        }
        restored.mark_unchanged();
        // Raft or the state machine went away: stop for good.
        let mut gone = false;
        while leading_term(&raft, &metrics) == Some(term) && !*shutdown.borrow() {
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { gone = true; break },
                changed = restored.changed() => {
                    gone = changed.is_err();
                    if !gone {
                        tracing::info!(term, "state restored: leader duties start over");
                    }
                    break;
                }
                _ = shutdown.wait_for(|s| *s) => {}
                Some(ended) = tasks.join_next() => {
                    // Duties run until told to stop; one ending early is a bug
                    // (a panic): stop the rest rather than lead half-staffed.
                    tracing::error!(term, ?ended, "a leader duty ended early; stopping the others");
                    break;
                }
            }
        }
        stop_tx.send_replace(true);
        leader.work.notify_waiters();
        {
            // Evals still queued are planned again by the next leader.
            let mut b = leader.broker();
            b.set_enabled(false);
        }
        while let Some(ended) = tasks.join_next().await {
            if let Err(e) = ended {
                tracing::error!(term, error = %e, "a leader duty panicked");
            }
        }
        tracing::info!(term, "leader duties stopped");
        if gone {
            return;
        }
    }
}
