//! Affinity and spread scoring: the `node-affinity` and `allocation-spread`
//! scores of Nomad's ranking stack (`NodeAffinityIterator` in
//! scheduler/feasible/rank.go, `SpreadIterator` in
//! scheduler/feasible/spread.go, counting as `propertySet` does in
//! scheduler/feasible/propertyset.go).
//!
//! Attributes resolve and operators compare exactly as for constraints
//! ([`resolve_target`], [`check_constraint`]), so `${meta.rack}` or
//! `version` mean the same in an affinity, a spread and a constraint.
//!
//! Both scores are plain numbers for the caller to add to a node's score
//! list; averaging them with the other scores is the caller's job (Nomad's
//! `ScoreNormalizationIterator`). Nothing here panics on any input.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use drover_api::{Affinity, Allocation, Job, Node, TaskGroup};

use super::feasible::{check_constraint, resolve_target};

/// Score name of the affinity score (Nomad's `"node-affinity"`).
pub const NODE_AFFINITY: &str = "node-affinity";
/// Score name of the spread score (Nomad's `"allocation-spread"`).
pub const ALLOCATION_SPREAD: &str = "allocation-spread";

/// Nomad's `implicitTarget`: the bucket of every value a spread with
/// targets does not name.
const IMPLICIT_TARGET: &str = "*";

/// Job, group and task affinities that match `node`: the sum of the matched
/// weights over the sum of all weights' magnitudes, so in [-1, 1]
/// (`NodeAffinityIterator.Next`). `None` when there are no affinities, in
/// which case Nomad adds no score either.
///
/// Deviation: if every weight is 0 (which validation rejects) Nomad divides
/// by zero and scores NaN; this returns `None`.
pub fn affinity_score(node: &Node, job: &Job, tg: &TaskGroup) -> Option<f64> {
    let affinities: Vec<&Affinity> = job
        .affinities
        .iter()
        .chain(&tg.affinities)
        .chain(tg.tasks.iter().flat_map(|t| &t.affinities))
        .collect();
    let sum_weight: f64 = affinities.iter().map(|a| f64::from(a.weight).abs()).sum();
    if sum_weight == 0.0 {
        return None;
    }
    let matched: f64 = affinities
        .iter()
        .filter(|a| matches_affinity(a, node))
        .map(|a| f64::from(a.weight))
        .sum();
    Some(matched / sum_weight)
}

/// Nomad's `matchesAffinity`: affinities use the constraint operators.
fn matches_affinity(a: &Affinity, node: &Node) -> bool {
    let l = resolve_target(&a.l_target, node);
    let r = resolve_target(&a.r_target, node);
    check_constraint(&a.operand, l.as_deref(), r.as_deref())
}

/// Spread state for one task group during one plan: per spread block, how
/// many of the group's live allocations sit on each attribute value, and
/// how many each value should get.
///
/// Build it once per task group with the allocations the plan starts from,
/// score candidate nodes with [`SpreadScorer::score`], and report each
/// placement with [`SpreadScorer::add`] so the next one sees it.
#[derive(Debug)]
pub struct SpreadScorer {
    spreads: Vec<SpreadState>,
    /// Sum of all the group's spread weights (job and group level).
    sum_weights: f64,
    /// Nomad's `lowestSpreadBoost`: the lowest weighted boost any node has
    /// scored so far, never above -1. A node whose value has a 0% target
    /// scores this, so it always ranks at or below the worst other node.
    lowest_boost: Cell<f64>,
}

#[derive(Debug)]
struct SpreadState {
    attribute: String,
    weight: f64,
    /// The values the spread names; empty means "spread evenly".
    targets: BTreeSet<String>,
    /// Desired allocation counts per target value, plus
    /// [`IMPLICIT_TARGET`] for the share the targets leave over (Nomad's
    /// `spreadInfo.desiredCounts`). Empty when there are no targets.
    desired: BTreeMap<String, f64>,
    /// Allocations per (targeted) value, Nomad's `GetCombinedUseMap`.
    used: BTreeMap<String, u64>,
}

impl SpreadState {
    /// Nomad's `targetedPropertyValue`: with targets, values not named are
    /// counted together under `*`.
    fn bucket(&self, value: String) -> String {
        if self.targets.is_empty() || self.targets.contains(&value) {
            value
        } else {
            IMPLICIT_TARGET.to_owned()
        }
    }

    /// The node's bucket, `None` when the node lacks the attribute
    /// (Nomad's `getProperty`, which also refuses an empty attribute).
    fn bucket_of(&self, node: &Node) -> Option<String> {
        if self.attribute.is_empty() {
            return None;
        }
        resolve_target(&self.attribute, node).map(|v| self.bucket(v))
    }
}

impl SpreadScorer {
    /// `None` when neither the job nor the group has spreads.
    ///
    /// `existing`: the job's live allocations, stored and already proposed
    /// in this plan (allocations the plan stops must be left out); only
    /// non-terminal ones of this job and task group count, as in Nomad,
    /// where job-level spreads are also counted per task group. `node_of`
    /// resolves an allocation's node; allocations whose node is unknown or
    /// lacks the attribute are not counted.
    ///
    /// Desired counts are `percent / 100 * tg.count` per target, and when
    /// targets are given but sum to less than the count, the rest is the
    /// desired count of all other values together (`computeSpreadInfo`).
    pub fn new<'a>(
        job: &Job,
        tg: &TaskGroup,
        existing: &[&Allocation],
        node_of: &dyn Fn(&str) -> Option<&'a Node>,
    ) -> Option<SpreadScorer> {
        if job.spreads.is_empty() && tg.spreads.is_empty() {
            return None;
        }
        let count = f64::from(tg.count);
        let mut spreads = Vec::new();
        let mut sum_weights = 0.0;
        for spread in tg.spreads.iter().chain(&job.spreads) {
            let mut desired = BTreeMap::new();
            let mut sum_desired = 0.0;
            for target in &spread.spread_target {
                let want = f64::from(target.percent) / 100.0 * count;
                desired.insert(target.value.clone(), want);
                sum_desired += want;
            }
            if sum_desired > 0.0 && sum_desired < count {
                desired.insert(IMPLICIT_TARGET.to_owned(), count - sum_desired);
            }
            sum_weights += f64::from(spread.weight);
            spreads.push(SpreadState {
                attribute: spread.attribute.clone(),
                weight: f64::from(spread.weight),
                targets: spread
                    .spread_target
                    .iter()
                    .map(|t| t.value.clone())
                    .collect(),
                desired,
                used: BTreeMap::new(),
            });
        }
        let mut scorer = SpreadScorer {
            spreads,
            sum_weights,
            lowest_boost: Cell::new(-1.0),
        };
        let counted = existing
            .iter()
            .filter(|a| a.job_id == job.id && a.task_group == tg.name && !a.is_terminal());
        for alloc in counted {
            if let Some(node) = node_of(&alloc.node_id) {
                scorer.add(node);
            }
        }
        Some(scorer)
    }

    /// Nomad's spread score for putting one more allocation of the group on
    /// `node`, summed over the spread blocks (`SpreadIterator.Next`):
    ///
    /// * node lacks the attribute, or its value has no desired count (not a
    ///   target, and the targets leave nothing over): -1;
    /// * with targets: `(desired - (used + 1)) / desired`, times the
    ///   block's share `weight / sum_weights`; a 0% target scores the
    ///   lowest boost seen so far (at most -1) instead;
    /// * without targets: Nomad's `evenSpreadScoreBoost` (see
    ///   [`even_spread_boost`]), not scaled by weight, as in Nomad.
    ///
    /// Deviation: Nomad's sum can leave [-1, 1] (two blocks the node fails
    /// give -2; a very uneven spread boosts by more than 1); here the sum is
    /// clamped to [-1, 1] so it weighs like every other score in the mean.
    ///
    /// A result of exactly 0.0 is one Nomad does not record at all (it is
    /// left out of the node's score list, so it does not pull the mean
    /// toward 0); callers should skip it likewise.
    pub fn score(&self, node: &Node) -> f64 {
        let mut total = 0.0;
        for s in &self.spreads {
            let Some(bucket) = s.bucket_of(node) else {
                total -= 1.0;
                continue;
            };
            if s.desired.is_empty() {
                total += even_spread_boost(&s.used, &bucket);
                continue;
            }
            let desired = s
                .desired
                .get(&bucket)
                .or_else(|| s.desired.get(IMPLICIT_TARGET));
            let Some(&desired) = desired else {
                total -= 1.0;
                continue;
            };
            if desired == 0.0 {
                total += self.lowest_boost.get();
                continue;
            }
            let share = if self.sum_weights > 0.0 {
                s.weight / self.sum_weights
            } else {
                0.0
            };
            let used = s.used.get(&bucket).copied().unwrap_or(0) + 1;
            let boost = (desired - used as f64) / desired * share;
            total += boost;
            if boost < self.lowest_boost.get() {
                self.lowest_boost.set(boost);
            }
        }
        total.clamp(-1.0, 1.0)
    }

    /// Record that one allocation of the group was placed on `node`. Do not
    /// call it for allocations already passed to [`SpreadScorer::new`].
    pub fn add(&mut self, node: &Node) {
        for s in &mut self.spreads {
            if let Some(bucket) = s.bucket_of(node) {
                *s.used.entry(bucket).or_insert(0) += 1;
            }
        }
    }
}

/// Nomad's `evenSpreadScoreBoost`, for a spread without targets; `used`
/// holds only values that have allocations.
///
/// * nothing placed yet: 0;
/// * the node's value has more or fewer than the least-used value:
///   `(min - current) / min` (so 1 for a value with none yet);
/// * it is the least used and all are equal: -1;
/// * it is the least used and others have more: `(max - min) / min`.
fn even_spread_boost(used: &BTreeMap<String, u64>, value: &str) -> f64 {
    let (Some(&min), Some(&max)) = (used.values().min(), used.values().max()) else {
        return 0.0;
    };
    let current = used.get(value).copied().unwrap_or(0);
    if min == 0 {
        // Unreachable with counts built by `add`, kept for Nomad's shape.
        return if current == 0 && min != max {
            1.0
        } else {
            -1.0
        };
    }
    if current != min {
        (min as f64 - current as f64) / min as f64
    } else if min == max {
        -1.0
    } else {
        (max - min) as f64 / min as f64
    }
}
