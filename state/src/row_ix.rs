//! The entries of the evaluations' and deployments' secondary indexes.
//!
//! Each entry is the row itself (the `Arc` its table holds), ordered by a
//! key read from the row, rather than a tuple of copied strings: an entry
//! is one pointer, and the indexes cost no copy of a row's ID, namespace
//! or job ID. With two evals per job (the registration's, then a blocked
//! one), tuples of copied strings took about 120 bytes per entry and 36 MB
//! for 50,000 jobs; a deployment's two entries took about 300 bytes. An
//! entry must be the row as stored: [`crate::tables::Tables`] takes the
//! old row out of the indexes before it replaces it, so a key never
//! changes under an entry.
//!
//! A range read starts from a [`probe`](ByCreate::probe): a row that
//! carries only the fields the key reads.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use drover_api::{Deployment, Evaluation};

macro_rules! index_entry {
    ($(#[$doc:meta])* $name:ident($row:ty), |$e:ident| $key:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub(crate) struct $name(pub Arc<$row>);

        impl $name {
            fn key(&self) -> impl Ord + fmt::Debug + '_ {
                let $e = &*self.0;
                $key
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Equal
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                self.key().cmp(&other.key())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.key()).finish()
            }
        }
    };
}

index_entry!(
    /// Evaluations by `(CreateIndex, ID)`: the order `/v1/evaluations` lists.
    ByCreate(Evaluation),
    |e| (e.create_index, e.id.as_str())
);

index_entry!(
    /// Evaluations by `(ModifyIndex, ID)`, so the leader reads only the
    /// evals written since its last look.
    ByModify(Evaluation),
    |e| (e.modify_index, e.id.as_str())
);

index_entry!(
    /// Evaluations by `(namespace, job ID, ID)`.
    ByJob(Evaluation),
    |e| (e.namespace.as_str(), e.job_id.as_str(), e.id.as_str())
);

index_entry!(
    /// Deployments by `(CreateIndex, ID)`: the order `/v1/deployments` lists.
    DeploymentByCreate(Deployment),
    |d| (d.create_index, d.id.as_str())
);

index_entry!(
    /// Deployments by `(namespace, job ID, ID)`.
    DeploymentByJob(Deployment),
    |d| (d.namespace.as_str(), d.job_id.as_str(), d.id.as_str())
);

impl DeploymentByCreate {
    pub fn probe(create_index: u64, id: &str) -> DeploymentByCreate {
        DeploymentByCreate(Arc::new(Deployment {
            create_index,
            id: id.to_string(),
            ..Default::default()
        }))
    }
}

impl DeploymentByJob {
    /// Below every deployment of the job.
    pub fn probe(namespace: &str, job_id: &str) -> DeploymentByJob {
        DeploymentByJob(Arc::new(Deployment {
            namespace: namespace.to_string(),
            job_id: job_id.to_string(),
            ..Default::default()
        }))
    }

    pub fn is_of(&self, namespace: &str, job_id: &str) -> bool {
        self.0.namespace == namespace && self.0.job_id == job_id
    }
}

impl ByCreate {
    pub fn probe(create_index: u64, id: &str) -> ByCreate {
        ByCreate(Arc::new(Evaluation {
            create_index,
            id: id.to_string(),
            ..Default::default()
        }))
    }
}

impl ByModify {
    pub fn probe(modify_index: u64) -> ByModify {
        ByModify(Arc::new(Evaluation {
            modify_index,
            ..Default::default()
        }))
    }
}

impl ByJob {
    /// Below every eval of the job.
    pub fn probe(namespace: &str, job_id: &str) -> ByJob {
        ByJob(Arc::new(Evaluation {
            namespace: namespace.to_string(),
            job_id: job_id.to_string(),
            ..Default::default()
        }))
    }

    pub fn is_of(&self, namespace: &str, job_id: &str) -> bool {
        self.0.namespace == namespace && self.0.job_id == job_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::Set;

    fn eval(id: &str, ns: &str, job: &str, create: u64, modify: u64) -> Arc<Evaluation> {
        Arc::new(Evaluation {
            id: id.into(),
            namespace: ns.into(),
            job_id: job.into(),
            create_index: create,
            modify_index: modify,
            ..Default::default()
        })
    }

    #[test]
    fn entries_order_by_their_key_and_probes_start_ranges() {
        let evals = [
            eval("b", "default", "web", 5, 9),
            eval("a", "default", "web", 5, 7),
            eval("c", "default", "api", 3, 9),
            eval("d", "prod", "web", 8, 8),
        ];
        let by_create: Set<ByCreate> = evals.iter().cloned().map(ByCreate).collect();
        let order: Vec<&str> = by_create.iter().map(|e| e.0.id.as_str()).collect();
        assert_eq!(order, ["c", "a", "b", "d"]);
        let from: Vec<&str> = by_create
            .range(ByCreate::probe(5, "b")..)
            .map(|e| e.0.id.as_str())
            .collect();
        assert_eq!(from, ["b", "d"]);

        let by_modify: Set<ByModify> = evals.iter().cloned().map(ByModify).collect();
        let after_8: Vec<&str> = by_modify
            .range(ByModify::probe(9)..)
            .map(|e| e.0.id.as_str())
            .collect();
        assert_eq!(after_8, ["b", "c"]);

        let by_job: Set<ByJob> = evals.iter().cloned().map(ByJob).collect();
        let web: Vec<&str> = by_job
            .range(ByJob::probe("default", "web")..)
            .take_while(|e| e.is_of("default", "web"))
            .map(|e| e.0.id.as_str())
            .collect();
        assert_eq!(web, ["a", "b"]);

        // Removal needs only an equal key, not the same row.
        let mut by_job = by_job;
        assert!(by_job
            .remove(&ByJob(eval("a", "default", "web", 0, 0)))
            .is_some());
        assert_eq!(by_job.len(), 3);
    }
}
