//! The deployment watcher: a leader duty that moves deployments on as
//! their allocations' health changes and their deadlines pass (Nomad
//! nomad/deploymentwatcher/deployment_watcher.go).
//!
//! What to do about one deployment is [`decide`], a pure function of the
//! state and the time:
//! - an unhealthy allocation fails the deployment at once when its group
//!   has no `progress_deadline` or the allocation may not be rescheduled
//!   any more; otherwise it is marked for replacement
//!   (`DesiredTransition.Reschedule`, Nomad's `allowReplacements`);
//! - a group that has not finished by its `RequireProgressBy` fails the
//!   deployment (`Failed due to progress deadline`), unless its canaries
//!   are all healthy and wait for a promotion;
//! - a failed deployment of a group with `auto_revert` registers the
//!   latest stable version of the job again, unless that version has the
//!   same spec as the one that failed;
//! - once every canary of every group with canaries is healthy and all
//!   those groups have `auto_promote`, the deployment is promoted.
//!
//! Advancing a rolling update needs no watcher write here: a client's
//! report that makes an allocation healthy already comes with an eval
//! for its job (`/v1/node/:id/allocations` handler), and so does
//! `/v1/deployment/allocation-health/:id`. Success is the scheduler's
//! to declare, when its plan finds every group done (Nomad's reconciler).
//!
//! [`Watcher`] keeps its work proportional to what changed: after each
//! apply it looks only at the deployments named by events written since
//! its last look (their own events, and their allocations' through the
//! event `FilterKeys`), plus those whose earliest deadline has come. It
//! reads every deployment once after gaining leadership, and again if the
//! event log no longer reaches back to its last look.

use std::collections::{BTreeMap, BTreeSet};

use drover_api::{
    deployment_description, deployment_status, trigger, AllocClientStatus, Deployment,
    DeploymentState, DeploymentStatusUpdate, DesiredTransition, Evaluation, Job, ReschedulePolicy,
    Topic,
};
use drover_state::command::{AllocUpdateDesiredTransition, DeploymentPromote, DeploymentStatusSet};
use drover_state::{Command, State, WatchSet};

/// What the watcher does about one deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Mark it failed with this description; with `rollback`, register
    /// that job version again.
    Fail {
        description: String,
        rollback: Option<Box<Job>>,
    },
    /// Promote every group (all canaries healthy, `auto_promote` set).
    Promote,
    /// Let these unhealthy allocations be replaced.
    Replace(Vec<String>),
}

/// Nomad `Allocation.RescheduleEligible`: whether a replacement is still
/// allowed by the group's `reschedule` policy at `now`.
fn reschedule_eligible(
    a: &drover_api::Allocation,
    policy: Option<&ReschedulePolicy>,
    now: i64,
) -> bool {
    let Some(p) = policy else { return false };
    if p.unlimited {
        return true;
    }
    if p.attempts <= 0 {
        return false;
    }
    let events = a
        .reschedule_tracker
        .as_ref()
        .map(|t| t.events.as_slice())
        .unwrap_or_default();
    let recent = events
        .iter()
        .filter(|e| p.interval > 0 && now.saturating_sub(e.reschedule_time) < p.interval)
        .count();
    recent < usize::try_from(p.attempts).unwrap_or(0)
}

/// Whether a group has nothing left to do: enough healthy allocations,
/// and its canaries promoted if it has any.
fn group_done(s: &DeploymentState) -> bool {
    (s.desired_canaries == 0 || s.promoted) && s.healthy_allocs >= s.desired_total
}

/// The earliest `RequireProgressBy` of the groups still in progress
/// (Nomad `getDeploymentProgressCutoff`); `None` while no group has one.
pub fn progress_cutoff(d: &Deployment) -> Option<i64> {
    d.task_groups
        .iter()
        .filter(|(_, s)| !group_done(s))
        .filter_map(|(_, s)| s.require_progress_by)
        .min()
}

/// Nomad `shouldFail`: whether a deployment past its deadline fails, and
/// whether a group that fails wants the job rolled back.
fn should_fail(d: &Deployment) -> (bool, bool) {
    if d.status == deployment_status::PAUSED {
        return (false, false);
    }
    let mut fail = false;
    for s in d.task_groups.values() {
        let enough = if s.desired_canaries > 0 && !s.promoted {
            s.healthy_allocs >= s.desired_canaries
        } else {
            s.healthy_allocs >= s.desired_total
        };
        if enough {
            continue;
        }
        fail = true;
        if s.auto_revert {
            return (true, true);
        }
    }
    (fail, false)
}

/// What to do about deployment `d` at `now` (unix ns); `None` when
/// nothing is due.
pub fn decide(st: &State, d: &Deployment, now: i64) -> Option<Decision> {
    if d.status != deployment_status::RUNNING {
        return None;
    }
    let mut ws = WatchSet::new();
    let job = st.job(&mut ws, &d.namespace, &d.job_id);
    let mut fail_early = false;
    let mut rollback = false;
    let mut replace = Vec::new();
    let mut healthy_canaries: BTreeMap<&str, i32> = BTreeMap::new();
    for row in st.allocs_by_deployment(&mut ws, &d.id) {
        let a = &row.alloc;
        let Some(s) = d.task_groups.get(&a.task_group) else {
            continue;
        };
        let health = a.deployment_status.as_ref().and_then(|h| h.healthy);
        if health == Some(true) && s.placed_canaries.contains(&a.id) {
            *healthy_canaries.entry(a.task_group.as_str()).or_default() += 1;
        }
        if health != Some(false) {
            continue;
        }
        let policy = job
            .and_then(|j| j.task_group(&a.task_group))
            .and_then(|g| g.reschedule_policy.as_ref());
        if s.progress_deadline == 0 || !reschedule_eligible(a, policy, now) {
            fail_early = true;
            rollback |= s.auto_revert;
        } else if a.desired_transition.reschedule != Some(true)
            && a.client_status != AllocClientStatus::Lost
        {
            replace.push(a.id.clone());
        }
    }
    let mut failed = fail_early.then_some(deployment_description::FAILED_ALLOCATIONS);
    if failed.is_none() && progress_cutoff(d).is_some_and(|t| t <= now) {
        let (fail, back) = should_fail(d);
        if fail {
            failed = Some(deployment_description::PROGRESS_DEADLINE);
            rollback = back;
        }
    }
    if let Some(base) = failed {
        let (rollback, description) = match rollback.then_some(job).flatten() {
            Some(current) => rollback_target(st, current, base),
            None => (None, base.to_string()),
        };
        return Some(Decision::Fail {
            description,
            rollback,
        });
    }
    if !replace.is_empty() {
        return Some(Decision::Replace(replace));
    }
    let promotable = d.requires_promotion()
        && d.has_placed_canaries()
        && d.task_groups
            .iter()
            .filter(|(_, s)| s.desired_canaries > 0)
            .all(|(tg, s)| {
                s.auto_promote
                    && healthy_canaries.get(tg.as_str()).copied().unwrap_or(0) >= s.desired_canaries
            });
    promotable.then_some(Decision::Promote)
}

/// The job version a failed deployment rolls back to, with the failure's
/// description (Nomad `latestStableJob` and `handleRollbackValidity`).
fn rollback_target(st: &State, current: &Job, base: &str) -> (Option<Box<Job>>, String) {
    let versions = st.job_versions(&mut WatchSet::new(), &current.namespace, &current.id);
    let Some(stable) = versions
        .iter()
        .filter(|j| j.stable)
        .max_by_key(|j| j.version)
    else {
        return (
            None,
            format!("{base} - no stable job version to auto revert to"),
        );
    };
    if !crate::http::job_writes::spec_changed(stable, current) {
        return (
            None,
            format!(
                "{base} - not rolling back to stable job version {} as current job has same specification",
                stable.version
            ),
        );
    }
    let mut job = Job::clone(stable);
    job.stable = false;
    (
        Some(Box::new(job)),
        format!("{base} - rolling back to job version {}", stable.version),
    )
}

/// The eval a watcher write carries (Nomad `deploymentWatcher.getEval`).
fn eval_for(job: &Job, d: &Deployment, now: i64) -> Evaluation {
    Evaluation {
        deployment_id: d.id.clone(),
        job_modify_index: job.job_modify_index,
        ..crate::evals::pending(job, trigger::DEPLOYMENT_WATCHER, now)
    }
}

/// The write for a decision, stamped at `now`.
pub fn command(st: &State, d: &Deployment, decision: Decision, now: i64) -> Option<Command> {
    let job = st.job(&mut WatchSet::new(), &d.namespace, &d.job_id)?;
    let eval = eval_for(job, d, now);
    Some(match decision {
        Decision::Fail {
            description,
            rollback,
        } => Command::DeploymentStatusSet(DeploymentStatusSet {
            update: DeploymentStatusUpdate {
                deployment_id: d.id.clone(),
                status: deployment_status::FAILED.to_string(),
                status_description: description,
            },
            job: rollback.map(|j| *j),
            eval: Some(eval),
            now,
        }),
        Decision::Promote => Command::DeploymentPromote(DeploymentPromote {
            deployment_id: d.id.clone(),
            all: true,
            groups: Vec::new(),
            eval: Some(eval),
            now,
        }),
        Decision::Replace(ids) => {
            Command::AllocUpdateDesiredTransition(AllocUpdateDesiredTransition {
                transitions: ids
                    .into_iter()
                    .map(|id| {
                        (
                            id,
                            DesiredTransition {
                                reschedule: Some(true),
                                ..DesiredTransition::default()
                            },
                        )
                    })
                    .collect(),
                evals: vec![eval],
                now,
            })
        }
    })
}

/// The watcher's picture between looks: where it left off in the event
/// log, and the running deployments' next deadlines.
#[derive(Debug, Default)]
pub struct Watcher {
    /// The state index of the last look; `None` before the first.
    last: Option<u64>,
    /// `(cutoff, deployment ID)` of running deployments with a deadline
    /// still to come.
    deadlines: BTreeSet<(i64, String)>,
    cutoffs: BTreeMap<String, i64>,
}

impl Watcher {
    /// The deployments due a look at `now`, with what to do about each.
    pub fn look(&mut self, st: &State, now: i64) -> Vec<(Deployment, Decision)> {
        let mut ids = match self.last.map(|l| touched_since(st, l)) {
            Some(Some(ids)) => ids,
            // The first look, or the events no longer reach back: all.
            _ => {
                self.deadlines.clear();
                self.cutoffs.clear();
                st.deployments(&mut WatchSet::new(), None, false)
                    .filter(|d| d.active())
                    .map(|d| d.id.clone())
                    .collect()
            }
        };
        self.last = Some(st.latest_index());
        while let Some((at, _)) = self.deadlines.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.deadlines.pop_first() {
                self.cutoffs.remove(&id);
                ids.insert(id);
            }
        }
        let mut out = Vec::new();
        for id in ids {
            self.forget(&id);
            let Some(d) = st.deployment(&mut WatchSet::new(), &id) else {
                continue;
            };
            if d.status != deployment_status::RUNNING {
                continue;
            }
            // A deadline already past that did not fail the deployment
            // (its canaries wait for a promotion) is not looked at again
            // until the deployment changes.
            if let Some(at) = progress_cutoff(d).filter(|at| *at > now) {
                self.deadlines.insert((at, id.clone()));
                self.cutoffs.insert(id.clone(), at);
            }
            if let Some(decision) = decide(st, d, now) {
                out.push((d.clone(), decision));
            }
        }
        out
    }

    fn forget(&mut self, id: &str) {
        if let Some(at) = self.cutoffs.remove(id) {
            self.deadlines.remove(&(at, id.to_string()));
        }
    }

    /// When the next deadline comes (unix ns).
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Deployments tracked with a deadline, for tests.
    pub fn tracked(&self) -> usize {
        self.cutoffs.len()
    }
}

/// The deployments named by the events after `index`: their own, and
/// their allocations' (whose `FilterKeys` hold the job and the
/// deployment). `None` when the log no longer reaches back that far.
fn touched_since(st: &State, index: u64) -> Option<BTreeSet<String>> {
    let batches = st.events().read_from(index.saturating_add(1)).ok()?;
    let mut ws = WatchSet::new();
    let mut ids = BTreeSet::new();
    for batch in batches {
        for e in batch.events.iter() {
            match e.topic() {
                Topic::Deployment => {
                    ids.insert(e.key().to_string());
                }
                // An allocation's filter keys are its job and its
                // deployment; one in no deployment (a batch or system
                // job's, a group without `update`) names none.
                Topic::Allocation => {
                    if let Some(k) = e.filter_keys().nth(1).filter(|k| !k.is_empty()) {
                        if !ids.contains(k) && st.deployment(&mut ws, k).is_some() {
                            ids.insert(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Some(ids)
}
