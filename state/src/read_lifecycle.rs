//! Reads of the job lifecycle's tables: scaling events and submitted
//! sources.

use std::collections::BTreeMap;

use drover_api::{JobSubmission, ScalingEvent};

use crate::watch::{WatchKey, WatchSet};
use crate::State;

impl State {
    /// A job's scaling events per task group, newest first (empty when it
    /// has none).
    pub fn job_scaling_events(
        &self,
        ws: &mut WatchSet,
        namespace: &str,
        id: &str,
    ) -> BTreeMap<String, Vec<ScalingEvent>> {
        ws.add(WatchKey::job_scaling_events(namespace, id));
        self.tables
            .scaling_events
            .get(&(namespace.to_string(), id.to_string()))
            .map(|e| e.events.clone())
            .unwrap_or_default()
    }

    /// The source submitted for `version` of the live job, if it was kept.
    pub fn job_submission(
        &self,
        ws: &mut WatchSet,
        namespace: &str,
        id: &str,
        version: u64,
    ) -> Option<&JobSubmission> {
        ws.add(WatchKey::job_versions(namespace, id));
        let current = self
            .tables
            .jobs
            .get(&(namespace.to_string(), id.to_string()))?
            .create_index;
        self.tables
            .job_submissions
            .get(&(namespace.to_string(), id.to_string(), current, version))
            .map(|s| &**s)
    }

    /// How many submitted sources are stored, over every job.
    pub fn job_submission_count(&self) -> usize {
        self.tables.job_submissions.len()
    }
}
