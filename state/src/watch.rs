//! Watches: what a read depended on, and who to wake when it changes.
//!
//! A blocking query records the [`WatchKey`]s it read into a [`WatchSet`]
//! (one job, the allocations of one node, a whole table, …). `apply` returns
//! the keys it touched; [`WatchRegistry::wake`] wakes only the waiters
//! registered under those keys. Waiters are bare `std::task::Waker`s keyed by
//! what they read, not a broadcast, so a heartbeat from node A never wakes a
//! long-poll on `/v1/node/B/allocations`, and 10,000 parked queries cost one
//! waker and a key or two each, no thread and no channel.
//!
//! Missed-wakeup rule (Nomad #18266): a reader must read the state and
//! register its watch while holding the same read lock that `apply` takes
//! for writing, so a write either happens before the read (and is seen) or
//! after the registration (and wakes it).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use serde::{Deserialize, Serialize};

/// A table whose index a list read reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Table {
    Jobs,
    JobSummary,
    JobVersion,
    Evals,
    Allocs,
    Nodes,
    Deployment,
    Namespaces,
    AclPolicies,
    AclTokens,
}

impl Table {
    /// Nomad's lower-case table name (the key of its `index` table).
    pub fn name(self) -> &'static str {
        match self {
            Table::Jobs => "jobs",
            Table::JobSummary => "job_summary",
            Table::JobVersion => "job_version",
            Table::Evals => "evals",
            Table::Allocs => "allocs",
            Table::Nodes => "nodes",
            Table::Deployment => "deployment",
            Table::Namespaces => "namespaces",
            Table::AclPolicies => "acl_policy",
            Table::AclTokens => "acl_token",
        }
    }
}

/// One thing a read can depend on. Row keys name one object; collection keys
/// name the members of a secondary index (all allocations of a node, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WatchKey {
    Table(Table),
    Job {
        namespace: String,
        id: String,
    },
    JobSummary {
        namespace: String,
        id: String,
    },
    JobVersions {
        namespace: String,
        id: String,
    },
    JobAllocs {
        namespace: String,
        id: String,
    },
    JobEvals {
        namespace: String,
        id: String,
    },
    Eval(String),
    EvalAllocs(String),
    Alloc(String),
    Node(String),
    NodeAllocs(String),
    DeploymentAllocs(String),
    Deployment(String),
    JobDeployments {
        namespace: String,
        id: String,
    },
    /// A job's scaling events (`GET /v1/job/:id/scale`).
    JobScalingEvents {
        namespace: String,
        id: String,
    },
}

impl WatchKey {
    pub fn job(namespace: &str, id: &str) -> Self {
        WatchKey::Job {
            namespace: namespace.to_string(),
            id: id.to_string(),
        }
    }
    pub fn job_summary(namespace: &str, id: &str) -> Self {
        WatchKey::JobSummary {
            namespace: namespace.to_string(),
            id: id.to_string(),
        }
    }
    pub fn job_versions(namespace: &str, id: &str) -> Self {
        WatchKey::JobVersions {
            namespace: namespace.to_string(),
            id: id.to_string(),
        }
    }
    pub fn job_allocs(namespace: &str, id: &str) -> Self {
        WatchKey::JobAllocs {
            namespace: namespace.to_string(),
            id: id.to_string(),
        }
    }
    pub fn job_deployments(namespace: &str, id: &str) -> Self {
        WatchKey::JobDeployments {
            namespace: namespace.to_string(),
            id: id.to_string(),
        }
    }
    pub fn job_scaling_events(namespace: &str, id: &str) -> Self {
        WatchKey::JobScalingEvents {
            namespace: namespace.to_string(),
            id: id.to_string(),
        }
    }
    pub fn job_evals(namespace: &str, id: &str) -> Self {
        WatchKey::JobEvals {
            namespace: namespace.to_string(),
            id: id.to_string(),
        }
    }
}

/// The keys one read depended on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchSet {
    keys: BTreeSet<WatchKey>,
}

impl WatchSet {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, key: WatchKey) {
        self.keys.insert(key);
    }
    pub fn keys(&self) -> impl Iterator<Item = &WatchKey> {
        self.keys.iter()
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn contains(&self, key: &WatchKey) -> bool {
        self.keys.contains(key)
    }
}

/// Parked readers, keyed by what they read. Runtime-agnostic: it stores
/// `std::task::Waker`s, so any executor can park on a [`Watch`].
#[derive(Debug, Default)]
pub struct WatchRegistry {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    by_key: BTreeMap<WatchKey, BTreeMap<u64, Arc<Slot>>>,
    keys_of: BTreeMap<u64, Vec<WatchKey>>,
}

#[derive(Debug)]
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl WatchRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Park interest in `set`; the returned [`Watch`] completes when any of
    /// its keys is touched, and unregisters itself when dropped.
    pub fn watch(self: &Arc<Self>, set: &WatchSet) -> Watch {
        let slot = Arc::new(Slot {
            fired: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let keys: Vec<WatchKey> = set.keys().cloned().collect();
        for key in &keys {
            inner
                .by_key
                .entry(key.clone())
                .or_default()
                .insert(id, slot.clone());
        }
        inner.keys_of.insert(id, keys);
        Watch {
            registry: self.clone(),
            id,
            slot,
        }
    }

    /// Wake every watch registered under any of `touched`; returns how many
    /// watches fired. Each fired watch is unregistered at once.
    pub fn wake<'a>(&self, touched: impl IntoIterator<Item = &'a WatchKey>) -> usize {
        let mut fired = Vec::new();
        {
            let mut inner = self.lock();
            for key in touched {
                let Some(slots) = inner.by_key.remove(key) else {
                    continue;
                };
                for (id, slot) in slots {
                    fired.push((id, slot));
                }
            }
            for (id, _) in &fired {
                if let Some(keys) = inner.keys_of.remove(id) {
                    for key in keys {
                        if let Some(slots) = inner.by_key.get_mut(&key) {
                            slots.remove(id);
                            if slots.is_empty() {
                                inner.by_key.remove(&key);
                            }
                        }
                    }
                }
            }
        }
        let mut count = 0;
        for (_, slot) in fired {
            if !slot.fired.swap(true, Ordering::AcqRel) {
                count += 1;
                if let Some(w) = lock_ignoring_poison(&slot.waker).take() {
                    w.wake();
                }
            }
        }
        count
    }

    /// Wake everything (e.g. after a snapshot restore replaced the state).
    pub fn wake_all(&self) -> usize {
        let keys: Vec<WatchKey> = self.lock().by_key.keys().cloned().collect();
        self.wake(keys.iter())
    }

    /// Number of parked watches.
    pub fn len(&self) -> usize {
        self.lock().keys_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn unregister(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(keys) = inner.keys_of.remove(&id) {
            for key in keys {
                if let Some(slots) = inner.by_key.get_mut(&key) {
                    slots.remove(&id);
                    if slots.is_empty() {
                        inner.by_key.remove(&key);
                    }
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock_ignoring_poison(&self.inner)
    }
}

/// A poisoned lock here only means a waker panicked while being stored or
/// taken; the maps it guards are still consistent, so carry on.
fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A parked read. Resolves once any watched key is touched.
#[derive(Debug)]
pub struct Watch {
    registry: Arc<WatchRegistry>,
    id: u64,
    slot: Arc<Slot>,
}

impl Watch {
    pub fn has_fired(&self) -> bool {
        self.slot.fired.load(Ordering::Acquire)
    }
}

impl Future for Watch {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_fired() {
            return Poll::Ready(());
        }
        *lock_ignoring_poison(&self.slot.waker) = Some(cx.waker().clone());
        // Re-check: a wake between the first check and storing the waker
        // would otherwise be lost.
        if self.has_fired() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.has_fired() {
            self.registry.unregister(self.id);
        }
    }
}
