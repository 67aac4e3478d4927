//! The last-change index of every collection a read can depend on (a node's
//! allocations, a job's evaluations, …): what a blocking read of that
//! collection reports as `X-Nomad-Index`.
//!
//! One map per kind of collection, keyed by plain strings, rather than one
//! map keyed by `WatchKey`: a client update touches three collections, and
//! looking them up by `&str` costs no allocation and no enum comparison.
//! Job-keyed collections nest namespace then ID for the same reason.

use serde::{Deserialize, Serialize};

use crate::tables::Map;
use crate::watch::WatchKey;

type ByJob = Map<String, Map<String, u64>>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CollectionIndexes {
    #[serde(deserialize_with = "crate::maps::deserialize_nested")]
    job_allocs: ByJob,
    #[serde(deserialize_with = "crate::maps::deserialize_nested")]
    job_evals: ByJob,
    #[serde(deserialize_with = "crate::maps::deserialize_nested")]
    job_versions: ByJob,
    #[serde(deserialize_with = "crate::maps::deserialize")]
    node_allocs: Map<String, u64>,
    #[serde(deserialize_with = "crate::maps::deserialize")]
    eval_allocs: Map<String, u64>,
    #[serde(deserialize_with = "crate::maps::deserialize")]
    deployment_allocs: Map<String, u64>,
    /// Added after snapshot format 3 was fixed: older snapshots have none.
    #[serde(default, deserialize_with = "crate::maps::deserialize_nested")]
    job_deployments: ByJob,
}

fn set(map: &mut Map<String, u64>, key: &str, index: u64) {
    match map.get_mut(key) {
        Some(i) => *i = index,
        None => {
            map.insert(key.to_string(), index);
        }
    }
}

fn set_job(map: &mut ByJob, ns: &str, id: &str, index: u64) {
    match map.get_mut(ns) {
        Some(jobs) => set(jobs, id, index),
        None => {
            map.insert(ns.to_string(), Map::unit(id.to_string(), index));
        }
    }
}

fn get_job(map: &ByJob, ns: &str, id: &str) -> u64 {
    map.get(ns)
        .and_then(|jobs| jobs.get(id))
        .copied()
        .unwrap_or(0)
}

impl CollectionIndexes {
    /// Record that the collection `key` changed at `index`. Row and table
    /// keys are not collections and are ignored.
    pub fn touch(&mut self, key: &WatchKey, index: u64) {
        match key {
            WatchKey::JobAllocs { namespace, id } => {
                set_job(&mut self.job_allocs, namespace, id, index)
            }
            WatchKey::JobEvals { namespace, id } => {
                set_job(&mut self.job_evals, namespace, id, index)
            }
            WatchKey::JobVersions { namespace, id } => {
                set_job(&mut self.job_versions, namespace, id, index)
            }
            WatchKey::NodeAllocs(id) => set(&mut self.node_allocs, id, index),
            WatchKey::EvalAllocs(id) => set(&mut self.eval_allocs, id, index),
            WatchKey::DeploymentAllocs(id) => set(&mut self.deployment_allocs, id, index),
            WatchKey::JobDeployments { namespace, id } => {
                set_job(&mut self.job_deployments, namespace, id, index)
            }
            WatchKey::Table(_)
            | WatchKey::Deployment(_)
            | WatchKey::Job { .. }
            | WatchKey::JobSummary { .. }
            | WatchKey::Eval(_)
            | WatchKey::Alloc(_)
            | WatchKey::Node(_)
            | WatchKey::JobScalingEvents { .. } => {}
        }
    }

    /// The last change to the collection `key` (0: never changed).
    pub fn get(&self, key: &WatchKey) -> u64 {
        match key {
            WatchKey::JobAllocs { namespace, id } => get_job(&self.job_allocs, namespace, id),
            WatchKey::JobEvals { namespace, id } => get_job(&self.job_evals, namespace, id),
            WatchKey::JobVersions { namespace, id } => get_job(&self.job_versions, namespace, id),
            WatchKey::NodeAllocs(id) => self.node_allocs.get(id).copied().unwrap_or(0),
            WatchKey::EvalAllocs(id) => self.eval_allocs.get(id).copied().unwrap_or(0),
            WatchKey::DeploymentAllocs(id) => self.deployment_allocs.get(id).copied().unwrap_or(0),
            WatchKey::JobDeployments { namespace, id } => {
                get_job(&self.job_deployments, namespace, id)
            }
            _ => 0,
        }
    }

    /// The last change to `node`'s allocations (0: never changed).
    pub fn node_allocs(&self, node: &str) -> u64 {
        self.node_allocs.get(node).copied().unwrap_or(0)
    }

    /// Every node's allocation collection with its last-change index.
    pub fn node_allocs_iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.node_allocs.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Forget an evaluation's allocation collection (the eval was collected).
    pub fn forget_eval_allocs(&mut self, eval_id: &str) {
        self.eval_allocs.remove(eval_id);
    }
}
