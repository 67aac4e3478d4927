//! The durable-ready event log.
//!
//! Every applied command appends its events as one batch at its Raft index.
//! Unlike Nomad's 100-event in-memory ring, retention is explicit (a count of
//! events and an age) and the log is part of the snapshot, so it survives
//! restarts. A reader asking for events from an index that retention has
//! already dropped gets [`EventLogError::Compacted`], never a silent gap.
//!
//! Age is measured against the newest batch's time, which comes inside the
//! command (stamped by the handler), so pruning stays deterministic.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use drover_api::{Event, EventPayload, Nanos, Topic};
use serde::{Deserialize, Serialize};

/// How much history to keep. Both bounds apply; whichever cuts more wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRetention {
    /// Keep at most this many events (whole batches are dropped, oldest first).
    pub max_events: usize,
    /// Drop batches older than this relative to the newest batch.
    pub max_age: Nanos,
}

impl Default for EventRetention {
    /// 100,000 events or 24 hours: a thousand times Nomad's default buffer,
    /// and enough for a consumer to reconnect after a long outage.
    fn default() -> Self {
        EventRetention {
            max_events: 100_000,
            max_age: 24 * 3600 * 1_000_000_000,
        }
    }
}

/// One event as the log keeps it: the kind of write and the object. Topic,
/// key, namespace and filter keys follow from the payload, so they are
/// derived on read instead of stored with every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// Nomad's event `Type` (`PlanResult`, `AllocationUpdated`, …).
    pub event_type: Cow<'static, str>,
    pub payload: EventPayload,
}

impl LoggedEvent {
    pub fn topic(&self) -> Topic {
        match &self.payload {
            EventPayload::Job(_) => Topic::Job,
            EventPayload::Evaluation(_) => Topic::Evaluation,
            EventPayload::Allocation(_) => Topic::Allocation,
            EventPayload::Node(_) => Topic::Node,
        }
    }

    /// The object's ID.
    pub fn key(&self) -> &str {
        match &self.payload {
            EventPayload::Job(j) => &j.id,
            EventPayload::Evaluation(e) => &e.id,
            EventPayload::Allocation(a) => &a.id,
            EventPayload::Node(n) => &n.id,
        }
    }

    /// Nodes belong to no namespace.
    pub fn namespace(&self) -> &str {
        match &self.payload {
            EventPayload::Job(j) => &j.namespace,
            EventPayload::Evaluation(e) => &e.namespace,
            EventPayload::Allocation(a) => &a.namespace,
            EventPayload::Node(_) => "",
        }
    }

    /// Other keys a `Topic:key` subscription matches: an evaluation's or
    /// allocation's job and deployment (nomad/state/events.go).
    pub fn filter_keys(&self) -> Vec<&str> {
        match &self.payload {
            EventPayload::Evaluation(e) => vec![&e.job_id, &e.deployment_id],
            EventPayload::Allocation(a) => vec![&a.job_id, &a.deployment_id],
            EventPayload::Job(_) | EventPayload::Node(_) => Vec::new(),
        }
    }

    /// Whether a subscription key matches this event: `*`, its key, or one
    /// of its filter keys.
    pub fn matches_key(&self, key: &str) -> bool {
        key == "*" || self.key() == key || self.filter_keys().contains(&key)
    }

    /// The wire form, stamped with the batch's index.
    pub fn to_event(&self, index: u64) -> Event {
        Event {
            topic: self.topic(),
            event_type: self.event_type.to_string(),
            key: self.key().to_string(),
            namespace: self.namespace().to_string(),
            filter_keys: self.filter_keys().into_iter().map(str::to_string).collect(),
            index,
            payload: self.payload.clone(),
        }
    }
}

/// All events of one Raft index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    pub index: u64,
    /// Unix nanoseconds from the command that produced it.
    pub time: i64,
    pub events: Arc<[LoggedEvent]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    #[error("events from index {requested} are no longer retained: the oldest retained index is {oldest}")]
    Compacted { requested: u64, oldest: u64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventLog {
    batches: VecDeque<EventBatch>,
    event_count: usize,
    /// The highest index whose events have been dropped (0: none yet).
    compacted_through: u64,
    #[serde(skip)]
    retention: EventRetention,
}

impl EventLog {
    pub fn new(retention: EventRetention) -> Self {
        EventLog {
            retention,
            ..Default::default()
        }
    }

    pub fn retention(&self) -> EventRetention {
        self.retention
    }

    pub(crate) fn set_retention(&mut self, retention: EventRetention) {
        self.retention = retention;
        self.prune();
    }

    pub(crate) fn append(&mut self, index: u64, time: i64, events: Vec<LoggedEvent>) {
        if events.is_empty() {
            return;
        }
        self.event_count += events.len();
        self.batches.push_back(EventBatch {
            index,
            time,
            events: events.into(),
        });
        self.prune();
    }

    fn prune(&mut self) {
        let newest = self.batches.back().map_or(i64::MIN, |b| b.time);
        while let Some(front) = self.batches.front() {
            let too_many = self.event_count > self.retention.max_events;
            let too_old = newest.saturating_sub(front.time) > self.retention.max_age;
            if !(too_many || too_old) {
                break;
            }
            self.event_count -= front.events.len();
            self.compacted_through = front.index;
            self.batches.pop_front();
        }
    }

    /// Batches with `Index >= from`, oldest first. `from == 0` means "from the
    /// oldest retained". Errs when events at or after `from` were dropped.
    pub fn read_from(&self, from: u64) -> Result<impl Iterator<Item = &EventBatch>, EventLogError> {
        if from != 0 && from <= self.compacted_through {
            return Err(EventLogError::Compacted {
                requested: from,
                oldest: self.compacted_through + 1,
            });
        }
        let start = self.batches.partition_point(|b| b.index < from);
        Ok(self.batches.range(start..))
    }

    pub fn len(&self) -> usize {
        self.event_count
    }

    pub fn is_empty(&self) -> bool {
        self.event_count == 0
    }

    /// The lowest index a reader may still ask for without a `Compacted` error.
    pub fn oldest_readable(&self) -> u64 {
        self.compacted_through + 1
    }

    pub fn last_index(&self) -> Option<u64> {
        self.batches.back().map(|b| b.index)
    }
}
