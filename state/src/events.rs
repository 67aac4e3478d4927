//! The retained event log.
//!
//! Every applied command appends its events as one batch at its Raft index.
//! Unlike Nomad's in-memory ring (nomad/stream/event_buffer.go, sized by the
//! server's `event_buffer_size`, 100 events by default), retention is
//! explicit (a count of events, an age and a size in bytes) and the log is
//! part of the snapshot, so it survives restarts. A reader asking for events
//! from an index that retention has already dropped gets
//! [`EventLogError::Compacted`], never a silent gap.
//!
//! Age is measured against the newest batch's time, which comes inside the
//! command (stamped by the handler), so pruning stays deterministic.
//!
//! Apply produces [`LoggedEvent`]s: the type and the object ([`Object`]:
//! a job, an evaluation or a deployment is the stored row itself, an
//! allocation or a node a copy). The log keeps each as a [`RetainedEvent`], one allocation
//! holding what a subscription filters on (topic, type, key, namespace,
//! filter keys) followed by the object's MessagePack encoding
//! (`rmp_serde::to_vec_named`, as snapshots use), decoded only when a reader
//! sends it ([`RetainedEvent::to_event`]). Measured on a job as the agent
//! stores it: its deep copy takes 2.2 KB of heap, its encoding 1.3 KB; a
//! blocked job's evaluation takes 4.6 KB (a `BTreeMap` leaf holds eleven
//! `AllocMetric` slots for its one task group), its encoding 0.8 KB. One
//! block is also one free when the event is dropped.
//!
//! A job, evaluation or deployment the tables still store costs less than its
//! encoding: the event keeps the row (the same `Arc`) and only the length
//! its encoding would have, which is what retention counts either way.
//! When the tables let go of the row (a newer version of it, a delete),
//! apply has the log encode it ([`EventLog::release`]); a restore shares
//! the rows again wherever a stored row encodes to the event's bytes.
//! Nothing that reads the log can tell the two forms apart.
//!
//! Snapshots write the encoding as a binary field, so a restart copies
//! bytes instead of rebuilding objects; snapshots of format 1, whose events
//! hold the objects themselves, still restore (they are encoded once, on
//! restore).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use drover_api::{
    Allocation, Deployment, Evaluation, Event, EventPayload, ExecSession, Job, Nanos, Node, Topic,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

mod codec;
pub(crate) use codec::LogWithRows;

/// How much history to keep. All bounds apply; whichever cuts more wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRetention {
    /// Keep at most this many events (whole batches are dropped, oldest first).
    pub max_events: usize,
    /// Drop batches older than this relative to the newest batch.
    pub max_age: Nanos,
    /// Keep at most this many bytes of retained events (their encoded
    /// payloads plus the keys stored beside them; whole batches are dropped,
    /// oldest first). The count alone would let 100,000 events of large jobs
    /// take gigabytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
}

impl EventRetention {
    /// 100,000 events, 24 hours or 64 MiB: a thousand times Nomad's default
    /// buffer of 100 events, and enough for a consumer to reconnect after a
    /// long outage. A job or evaluation event encodes to 0.8 to 1.4 KB, so
    /// the bytes bind from about 50,000 to 80,000 ordinary events on, and a
    /// job with large templates or many groups (tens of KB each) cannot
    /// multiply the log's memory: 64 MiB is what the count would allow for
    /// events of 0.7 KB.
    pub const DEFAULT: EventRetention = EventRetention {
        max_events: 100_000,
        max_age: 24 * 3600 * 1_000_000_000,
        max_bytes: 64 << 20,
    };
}

impl Default for EventRetention {
    fn default() -> Self {
        EventRetention::DEFAULT
    }
}

fn default_max_bytes() -> usize {
    EventRetention::DEFAULT.max_bytes
}

/// One event as apply produces it: the kind of write and the object. The
/// log keeps it packed, as a [`RetainedEvent`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Nomad's event `Type` (`PlanResult`, `AllocationUpdated`, …).
    pub event_type: Cow<'static, str>,
    pub object: Object,
}

/// The object an event carries. A job, evaluation or deployment is the row the
/// tables store (the same `Arc`), so logging it copies nothing; an
/// allocation is stored inside its row and a node's event blanks its
/// secret, so those are copies of their own.
///
/// Encodes exactly as [`EventPayload`] does (`{"Job": {…}}`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Object {
    Job(Arc<Job>),
    Evaluation(Arc<Evaluation>),
    Allocation(Box<Allocation>),
    Node(Box<Node>),
    Deployment(Arc<Deployment>),
    /// An exec or attach session's record, which no table stores.
    ExecSession(Box<ExecSession>),
}

impl Object {
    /// The wire payload: a copy of the object.
    pub fn to_payload(&self) -> EventPayload {
        match self {
            Object::Job(j) => EventPayload::Job(Box::new(Job::clone(j))),
            Object::Evaluation(e) => EventPayload::Evaluation(Box::new(Evaluation::clone(e))),
            Object::Allocation(a) => EventPayload::Allocation(a.clone()),
            Object::Node(n) => EventPayload::Node(n.clone()),
            Object::Deployment(d) => EventPayload::Deployment(Box::new(Deployment::clone(d))),
            Object::ExecSession(x) => EventPayload::ExecSession(x.clone()),
        }
    }

    pub fn topic(&self) -> Topic {
        match self {
            Object::Job(_) => Topic::Job,
            Object::Evaluation(_) => Topic::Evaluation,
            Object::Allocation(_) => Topic::Allocation,
            Object::Node(_) => Topic::Node,
            Object::Deployment(_) => Topic::Deployment,
            Object::ExecSession(_) => Topic::Exec,
        }
    }

    /// The object's ID.
    pub fn key(&self) -> &str {
        match self {
            Object::Job(j) => &j.id,
            Object::Evaluation(e) => &e.id,
            Object::Allocation(a) => &a.id,
            Object::Node(n) => &n.id,
            Object::Deployment(d) => &d.id,
            Object::ExecSession(x) => &x.id,
        }
    }

    /// Nodes belong to no namespace.
    pub fn namespace(&self) -> &str {
        match self {
            Object::Job(j) => &j.namespace,
            Object::Evaluation(e) => &e.namespace,
            Object::Allocation(a) => &a.namespace,
            Object::Node(_) => "",
            Object::Deployment(d) => &d.namespace,
            Object::ExecSession(x) => &x.namespace,
        }
    }

    /// Whether `self` and `other` are the same stored row.
    fn same_row(&self, other: &Object) -> bool {
        match (self, other) {
            (Object::Job(a), Object::Job(b)) => Arc::ptr_eq(a, b),
            (Object::Evaluation(a), Object::Evaluation(b)) => Arc::ptr_eq(a, b),
            (Object::Deployment(a), Object::Deployment(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The Raft index the row was written at (0 for copies).
    fn modify_index(&self) -> u64 {
        match self {
            Object::Job(j) => j.modify_index,
            Object::Evaluation(e) => e.modify_index,
            Object::Deployment(d) => d.modify_index,
            Object::Allocation(_) | Object::Node(_) | Object::ExecSession(_) => 0,
        }
    }
}

impl LoggedEvent {
    pub fn topic(&self) -> Topic {
        self.object.topic()
    }

    /// The object's ID.
    pub fn key(&self) -> &str {
        self.object.key()
    }

    /// Nodes belong to no namespace.
    pub fn namespace(&self) -> &str {
        self.object.namespace()
    }

    /// Other keys a `Topic:key` subscription matches: an evaluation's or
    /// allocation's job and deployment, a deployment's job
    /// (nomad/state/events.go).
    pub fn filter_keys(&self) -> Vec<&str> {
        match &self.object {
            Object::Evaluation(e) => vec![&e.job_id, &e.deployment_id],
            Object::Allocation(a) => vec![&a.job_id, &a.deployment_id],
            Object::Deployment(d) => vec![&d.job_id],
            // A session's allocation and job (a Drover extension).
            Object::ExecSession(x) => vec![&x.alloc_id, &x.job_id],
            Object::Job(_) | Object::Node(_) => Vec::new(),
        }
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
            payload: self.object.to_payload(),
        }
    }
}

/// One retained event, packed in one allocation:
///
/// ```text
/// topic: u8 | n: varint | n lengths: varint | n strings | payload
/// ```
///
/// The strings are the type, key, namespace and filter keys, in that order;
/// the payload is the object's `rmp_serde::to_vec_named` encoding. Filtering
/// reads the strings in place; only [`RetainedEvent::to_event`] decodes.
/// A `Box`, not an `Arc`: batches are shared whole (`EventBatch::events` is
/// an `Arc`), so a per-event count would be 16 bytes for nothing.
///
/// A job, evaluation or deployment that is still a stored row is kept as that row
/// instead (`shared`): the block then ends with the encoding's length as a
/// varint in place of the encoding, so the event counts the same bytes
/// against [`EventRetention::max_bytes`] either way and costs a header.
/// Encoded, a blocked job's evaluation takes 0.8 KB and the job 1.3 KB;
/// shared, about 100 bytes each. When the tables let go of the row (a
/// newer version, a delete), [`EventLog::release`] encodes it, so an event
/// never keeps a replaced object alive whole. Which form an event is in
/// never shows: reads, equality and snapshots see the same encoding.
#[derive(Clone)]
pub struct RetainedEvent {
    block: Box<[u8]>,
    /// Only ever a job, an evaluation or a deployment.
    shared: Option<Object>,
}

impl RetainedEvent {
    /// Pack `e`, encoding into `buf` (reused across a batch) and copying the
    /// result into a block of exactly its size; a job, evaluation or deployment
    /// keeps its row and only the header and the encoding's length.
    fn pack(e: &LoggedEvent, buf: &mut Vec<u8>) -> Result<RetainedEvent, rmp_serde::encode::Error> {
        buf.clear();
        let mut strings = vec![&*e.event_type, e.key(), e.namespace()];
        strings.extend(e.filter_keys());
        write_header(buf, e.topic(), &strings);
        let header = buf.len();
        rmp_serde::encode::write_named(buf, &e.object)?;
        let shared = matches!(
            e.object,
            Object::Job(_) | Object::Evaluation(_) | Object::Deployment(_)
        );
        if shared {
            let encoded = buf.len() - header;
            buf.truncate(header);
            write_varint(buf, encoded);
        }
        Ok(RetainedEvent {
            block: buf.as_slice().into(),
            shared: shared.then(|| e.object.clone()),
        })
    }

    /// Pack already-encoded parts (a snapshot's).
    fn from_parts(topic: Topic, strings: &[&str], payload: &[u8]) -> RetainedEvent {
        let strings_len: usize = strings.iter().map(|s| s.len()).sum();
        let mut buf = Vec::with_capacity(1 + 5 * (strings.len() + 1) + strings_len + payload.len());
        write_header(&mut buf, topic, strings);
        buf.extend_from_slice(payload);
        RetainedEvent {
            block: buf.into_boxed_slice(),
            shared: None,
        }
    }

    /// Replace a shared row by its encoding (the tables let go of it).
    fn unshare(&mut self) {
        let Some(object) = self.shared.take() else {
            return;
        };
        let header = self.block.len() - self.unpack().payload.len();
        let mut buf = self.block.get(..header).unwrap_or_default().to_vec();
        // Encoded once already, when it was logged, so this cannot fail;
        // were it to, the row stays shared, which only costs memory.
        if rmp_serde::encode::write_named(&mut buf, &object).is_err() {
            self.shared = Some(object);
            return;
        }
        self.block = buf.into_boxed_slice();
    }

    /// The object's encoding: the stored bytes, or the shared row encoded
    /// now (the same bytes it had when it was logged).
    fn payload_bytes(&self) -> Cow<'_, [u8]> {
        match &self.shared {
            None => Cow::Borrowed(self.unpack().payload),
            Some(object) => Cow::Owned(rmp_serde::to_vec_named(object).unwrap_or_default()),
        }
    }

    /// Whether this event holds `row` itself.
    fn shares(&self, row: &Object) -> bool {
        self.shared.as_ref().is_some_and(|o| o.same_row(row))
    }

    pub fn topic(&self) -> Topic {
        topic_of(self.block.first().copied().unwrap_or(u8::MAX))
    }

    /// Nomad's event `Type` (`PlanResult`, `AllocationUpdated`, …).
    pub fn event_type(&self) -> &str {
        self.unpack().strings().next().unwrap_or_default()
    }

    /// The object's ID.
    pub fn key(&self) -> &str {
        self.unpack().strings().nth(1).unwrap_or_default()
    }

    /// Nodes belong to no namespace.
    pub fn namespace(&self) -> &str {
        self.unpack().strings().nth(2).unwrap_or_default()
    }

    /// Other keys a `Topic:key` subscription matches: an evaluation's or
    /// allocation's job and deployment (nomad/state/events.go).
    pub fn filter_keys(&self) -> impl Iterator<Item = &str> {
        self.unpack().strings().skip(3)
    }

    /// Whether a subscription key matches this event: `*`, its key, or one
    /// of its filter keys.
    pub fn matches_key(&self, key: &str) -> bool {
        key == "*" || self.key() == key || self.filter_keys().any(|k| k == key)
    }

    /// The object, decoded (a shared row is copied).
    pub fn payload(&self) -> Result<EventPayload, rmp_serde::decode::Error> {
        match &self.shared {
            Some(object) => Ok(object.to_payload()),
            None => rmp_serde::from_slice(self.unpack().payload),
        }
    }

    /// The wire form, stamped with the batch's index. Errs only if the
    /// payload does not decode (a snapshot damaged in a way its framing did
    /// not catch).
    pub fn to_event(&self, index: u64) -> Result<Event, EventLogError> {
        let payload = self.payload().map_err(|e| EventLogError::Undecodable {
            index,
            message: e.to_string(),
        })?;
        Ok(Event {
            topic: self.topic(),
            event_type: self.event_type().to_string(),
            key: self.key().to_string(),
            namespace: self.namespace().to_string(),
            filter_keys: self.filter_keys().map(str::to_string).collect(),
            index,
            payload,
        })
    }

    /// What the event counts against [`EventRetention::max_bytes`]: the
    /// header and the object's encoding, whether it is stored or shared.
    pub fn encoded_len(&self) -> usize {
        if self.shared.is_none() {
            return self.block.len();
        }
        let payload = self.unpack().payload;
        let header = self.block.len() - payload.len();
        header + read_varint(&mut { payload })
    }

    /// Whether the event keeps a stored row rather than its encoding.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn unpack(&self) -> Packed<'_> {
        let mut rest = self.block.get(1..).unwrap_or_default();
        let count = read_varint(&mut rest);
        let lens = rest;
        let mut strings_len = 0usize;
        for _ in 0..count {
            strings_len = strings_len.saturating_add(read_varint(&mut rest));
        }
        // `rest` is a suffix of `lens`, so the subtraction cannot wrap.
        let lens = lens.get(..lens.len() - rest.len()).unwrap_or_default();
        let (strings, payload) = rest.split_at(strings_len.min(rest.len()));
        Packed {
            count,
            lens,
            strings,
            payload,
        }
    }
}

impl fmt::Debug for RetainedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedEvent")
            .field("topic", &self.topic())
            .field("event_type", &self.event_type())
            .field("key", &self.key())
            .field("namespace", &self.namespace())
            .field("filter_keys", &self.filter_keys().collect::<Vec<_>>())
            .field("encoded_len", &self.encoded_len())
            .field("shared", &self.is_shared())
            .finish()
    }
}

/// Equal when the keys and the object's encoding are: a shared row and
/// its encoding are the same event.
impl PartialEq for RetainedEvent {
    fn eq(&self, other: &Self) -> bool {
        let header = |e: &RetainedEvent| {
            let payload = e.unpack().payload.len();
            e.block.len() - payload
        };
        let (a, b) = (header(self), header(other));
        if self.block.get(..a) != other.block.get(..b) {
            return false;
        }
        match (&self.shared, &other.shared) {
            (Some(x), Some(y)) if x.same_row(y) => true,
            _ => self.payload_bytes() == other.payload_bytes(),
        }
    }
}

impl Eq for RetainedEvent {}

/// A [`RetainedEvent`] split into its parts.
#[derive(Clone, Copy)]
struct Packed<'a> {
    count: usize,
    /// The strings' lengths, as varints.
    lens: &'a [u8],
    /// The strings, end to end.
    strings: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Packed<'a> {
    fn strings(self) -> impl Iterator<Item = &'a str> {
        let (mut lens, mut strings) = (self.lens, self.strings);
        (0..self.count).map(move |_| {
            let n = read_varint(&mut lens).min(strings.len());
            let (s, rest) = strings.split_at(n);
            strings = rest;
            // Packed from `&str`s, so valid UTF-8 unless the block was
            // damaged; then an empty string, never a panic.
            std::str::from_utf8(s).unwrap_or_default()
        })
    }
}

fn topic_code(t: Topic) -> u8 {
    match t {
        Topic::Job => 0,
        Topic::Evaluation => 1,
        Topic::Allocation => 2,
        Topic::Node => 3,
        Topic::Deployment => 4,
        Topic::All => 5,
        Topic::Exec => 6,
    }
}

fn topic_of(code: u8) -> Topic {
    match code {
        0 => Topic::Job,
        1 => Topic::Evaluation,
        2 => Topic::Allocation,
        3 => Topic::Node,
        4 => Topic::Deployment,
        6 => Topic::Exec,
        // Only `topic_code` writes the byte; `*` matches every subscription,
        // so a damaged byte hides nothing.
        _ => Topic::All,
    }
}

fn write_header(buf: &mut Vec<u8>, topic: Topic, strings: &[&str]) {
    buf.push(topic_code(topic));
    write_varint(buf, strings.len());
    for s in strings {
        write_varint(buf, s.len());
    }
    for s in strings {
        buf.extend_from_slice(s.as_bytes());
    }
}

/// LEB128: IDs are short, so their lengths take one byte.
fn write_varint(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Reads one varint and advances `bytes`; a truncated one ends at the input.
fn read_varint(bytes: &mut &[u8]) -> usize {
    let (mut n, mut shift) = (0usize, 0u32);
    while let Some((&b, rest)) = bytes.split_first() {
        *bytes = rest;
        if shift < usize::BITS {
            n |= usize::from(b & 0x7f) << shift;
        }
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    n
}

/// All events of one Raft index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    pub index: u64,
    /// Unix nanoseconds from the command that produced it.
    pub time: i64,
    pub events: Arc<[RetainedEvent]>,
}

impl EventBatch {
    fn encoded_len(&self) -> usize {
        self.events.iter().map(RetainedEvent::encoded_len).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    #[error("events from index {requested} are no longer retained: the oldest retained index is {oldest}")]
    Compacted { requested: u64, oldest: u64 },
    #[error("an event at index {index} could not be decoded: {message}")]
    Undecodable { index: u64, message: String },
}

/// The retained batches are an imbl `Vector`, so copying the log (for a
/// snapshot, or with the whole state for a scheduler) shares them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventLog {
    #[serde(deserialize_with = "crate::maps::deserialize_vector")]
    batches: imbl::Vector<EventBatch>,
    event_count: usize,
    /// The highest index whose events have been dropped (0: none yet).
    compacted_through: u64,
    /// The retained events' encoded bytes; derived, recounted on restore.
    #[serde(skip)]
    encoded_bytes: usize,
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

    /// Also recounts the events and their bytes from the batches, so a
    /// restored log never trusts a stored count.
    pub(crate) fn set_retention(&mut self, retention: EventRetention) {
        self.retention = retention;
        self.event_count = self.batches.iter().map(|b| b.events.len()).sum();
        self.encoded_bytes = self.batches.iter().map(EventBatch::encoded_len).sum();
        self.prune();
    }

    pub(crate) fn append(&mut self, index: u64, time: i64, events: Vec<LoggedEvent>) {
        if events.is_empty() {
            return;
        }
        let mut buf = Vec::with_capacity(4096);
        // Encoding our own API types into a `Vec` fails only for lengths
        // past `u32::MAX`, which no request can carry; were it to happen,
        // the event is left out on every server alike, so apply stays
        // deterministic and never panics.
        let events: Vec<RetainedEvent> = events
            .iter()
            .filter_map(|e| RetainedEvent::pack(e, &mut buf).ok())
            .collect();
        let batch = EventBatch {
            index,
            time,
            events: events.into(),
        };
        self.event_count += batch.events.len();
        self.encoded_bytes += batch.encoded_len();
        self.batches.push_back(batch);
        self.prune();
    }

    /// The tables let go of `rows` at `index` (replaced or deleted): encode
    /// the events that still share one the tables do not hold elsewhere
    /// (`held`), so the log keeps 1 KB of encoding rather than a whole
    /// object. A row's events were logged at its `ModifyIndex` (the write
    /// that stored it) or at `index` (the delete that logged it last).
    pub(crate) fn release(&mut self, index: u64, rows: &[Object], held: impl Fn(&Object) -> bool) {
        for row in rows {
            if held(row) {
                continue;
            }
            for at in [row.modify_index(), index] {
                let Some(i) = self.position(at) else {
                    continue;
                };
                let Some(batch) = self.batches.get_mut(i) else {
                    continue;
                };
                if !batch.events.iter().any(|e| e.shares(row)) {
                    continue;
                }
                // In place unless a copy of the state shares the batch.
                if Arc::get_mut(&mut batch.events).is_none() {
                    batch.events = batch.events.iter().cloned().collect();
                }
                if let Some(events) = Arc::get_mut(&mut batch.events) {
                    for e in events.iter_mut().filter(|e| e.shares(row)) {
                        e.unshare();
                    }
                }
            }
        }
    }

    /// Encode every shared event whose row the tables do not hold (after
    /// the tables were replaced wholesale).
    pub(crate) fn release_all(&mut self, held: impl Fn(&Object) -> bool) {
        let rows: Vec<(u64, Object)> = self
            .batches
            .iter()
            .flat_map(|b| b.events.iter().map(move |e| (b.index, e)))
            .filter_map(|(i, e)| e.shared.clone().map(|o| (i, o)))
            .collect();
        for (index, row) in rows {
            self.release(index, std::slice::from_ref(&row), &held);
        }
    }

    /// Share the rows the tables store again after a restore: an event of a
    /// job, evaluation or deployment whose stored row was written at the event's
    /// index (`row` finds it by topic, namespace, key and index) and
    /// encodes to the event's bytes keeps that row instead of the bytes,
    /// as it did before the snapshot was taken.
    pub(crate) fn share_rows(&mut self, row: impl Fn(Topic, &str, &str, u64) -> Option<Object>) {
        let mut buf = Vec::new();
        for i in 0..self.batches.len() {
            let Some(batch) = self.batches.get_mut(i) else {
                continue;
            };
            let index = batch.index;
            let Some(events) = Arc::get_mut(&mut batch.events) else {
                continue;
            };
            for e in events.iter_mut() {
                if e.shared.is_some() {
                    continue;
                }
                let Some(object) = row(e.topic(), e.namespace(), e.key(), index) else {
                    continue;
                };
                buf.clear();
                if rmp_serde::encode::write_named(&mut buf, &object).is_err()
                    || buf != e.unpack().payload
                {
                    continue;
                }
                let header = e.block.len() - buf.len();
                let mut block = e.block.get(..header).unwrap_or_default().to_vec();
                write_varint(&mut block, buf.len());
                *e = RetainedEvent {
                    block: block.into_boxed_slice(),
                    shared: Some(object),
                };
            }
        }
    }

    /// The position of the batch at `index`, if retained.
    fn position(&self, index: u64) -> Option<usize> {
        let i = self
            .batches
            .binary_search_by(|b| b.index.cmp(&index))
            .ok()?;
        Some(i)
    }

    fn prune(&mut self) {
        let newest = self.batches.back().map_or(i64::MIN, |b| b.time);
        while let Some(front) = self.batches.front() {
            let too_many = self.event_count > self.retention.max_events;
            let too_big = self.encoded_bytes > self.retention.max_bytes;
            let too_old = newest.saturating_sub(front.time) > self.retention.max_age;
            if !(too_many || too_big || too_old) {
                break;
            }
            self.event_count = self.event_count.saturating_sub(front.events.len());
            self.encoded_bytes = self.encoded_bytes.saturating_sub(front.encoded_len());
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
        let start = self
            .batches
            .binary_search_by(|b| {
                if b.index < from {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            })
            .unwrap_or_else(|at| at);
        Ok((start..self.batches.len()).filter_map(move |i| self.batches.get(i)))
    }

    pub fn len(&self) -> usize {
        self.event_count
    }

    pub fn is_empty(&self) -> bool {
        self.event_count == 0
    }

    /// The retained events' size as [`EventRetention::max_bytes`] counts it.
    pub fn encoded_bytes(&self) -> usize {
        self.encoded_bytes
    }

    /// The lowest index a reader may still ask for without a `Compacted` error.
    pub fn oldest_readable(&self) -> u64 {
        self.compacted_through + 1
    }

    pub fn last_index(&self) -> Option<u64> {
        self.batches.back().map(|b| b.index)
    }
}

#[cfg(test)]
mod tests {
    use drover_api::{Allocation, Evaluation, Job, Node, TaskGroup};

    use super::*;

    fn logged() -> Vec<LoggedEvent> {
        let ev = |t: &'static str, object| LoggedEvent {
            event_type: Cow::Borrowed(t),
            object,
        };
        vec![
            ev(
                "JobRegistered",
                Object::Job(Arc::new(Job {
                    namespace: "prod".into(),
                    id: "web".into(),
                    task_groups: vec![TaskGroup {
                        name: "g".into(),
                        count: 3,
                        ..Default::default()
                    }],
                    meta: [("k".to_string(), "v".to_string())].into(),
                    ..Default::default()
                })),
            ),
            ev(
                "JobRegistered",
                Object::Evaluation(Arc::new(Evaluation {
                    id: "e1".into(),
                    namespace: "prod".into(),
                    job_id: "web".into(),
                    ..Default::default()
                })),
            ),
            ev(
                "PlanResult",
                Object::Allocation(Box::new(Allocation {
                    id: "a1".into(),
                    namespace: "prod".into(),
                    job_id: "web".into(),
                    deployment_id: "d1".into(),
                    ..Default::default()
                })),
            ),
            ev(
                "NodeRegistration",
                Object::Node(Box::new(Node {
                    id: "n1".into(),
                    // Longer than one varint byte.
                    name: "n".repeat(300),
                    ..Default::default()
                })),
            ),
            // Strings past one varint byte in the packed keys too.
            ev(
                "JobRegistered",
                Object::Job(Arc::new(Job {
                    id: "j".repeat(200),
                    namespace: "é".repeat(100),
                    ..Default::default()
                })),
            ),
        ]
    }

    #[test]
    fn retained_events_read_back_as_they_were_logged() {
        for e in logged() {
            let r = RetainedEvent::pack(&e, &mut Vec::new()).unwrap();
            assert_eq!(r.topic(), e.topic());
            assert_eq!(r.event_type(), e.event_type);
            assert_eq!(r.key(), e.key());
            assert_eq!(r.namespace(), e.namespace());
            assert_eq!(r.filter_keys().collect::<Vec<_>>(), e.filter_keys());
            assert_eq!(r.to_event(7).unwrap(), e.to_event(7));
            for k in ["*", "web", "d1", "a1", "e1", "n1", "", "prod", "other"] {
                let want = k == "*" || e.key() == k || e.filter_keys().contains(&k);
                assert_eq!(r.matches_key(k), want, "{k:?} on {r:?}");
            }
        }
    }

    #[test]
    fn retained_events_survive_their_snapshot_encoding() {
        for e in logged() {
            let r = RetainedEvent::pack(&e, &mut Vec::new()).unwrap();
            let bytes = rmp_serde::to_vec_named(&r).unwrap();
            let back: RetainedEvent = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn a_shared_row_counts_encodes_and_unshares_as_its_encoding() {
        for e in logged() {
            let r = RetainedEvent::pack(&e, &mut Vec::new()).unwrap();
            let want_shared = matches!(e.object, Object::Job(_) | Object::Evaluation(_));
            assert_eq!(r.is_shared(), want_shared, "{r:?}");
            // The object encodes as the wire payload does.
            let payload = rmp_serde::to_vec_named(&e.object.to_payload()).unwrap();
            assert_eq!(rmp_serde::to_vec_named(&e.object).unwrap(), payload);
            let mut strings = vec![&*e.event_type, e.key(), e.namespace()];
            strings.extend(e.filter_keys());
            let stored = RetainedEvent::from_parts(e.topic(), &strings, &payload);
            assert_eq!(r.encoded_len(), stored.encoded_len());
            assert_eq!(r, stored);
            assert_eq!(
                rmp_serde::to_vec_named(&r).unwrap(),
                rmp_serde::to_vec_named(&stored).unwrap()
            );
            let mut unshared = r.clone();
            unshared.unshare();
            assert!(!unshared.is_shared());
            assert_eq!(unshared.block, stored.block);
        }
    }

    #[test]
    fn a_damaged_block_reads_as_garbage_never_a_panic() {
        let r = RetainedEvent::pack(&logged()[2], &mut Vec::new()).unwrap();
        for len in 0..r.block.len() {
            let cut = RetainedEvent {
                block: r.block[..len].into(),
                shared: None,
            };
            let _ = (cut.topic(), cut.event_type(), cut.key(), cut.namespace());
            let _ = cut.filter_keys().count();
            let _ = cut.matches_key("web");
            assert!(
                cut.to_event(1).is_err(),
                "cut at {len} of {}",
                r.block.len()
            );
        }
        let mut flipped = r.block.to_vec();
        flipped[1] = 0xff; // an unterminated varint count
        let flipped = RetainedEvent {
            block: flipped.into(),
            shared: None,
        };
        let _ = (
            flipped.key(),
            flipped.filter_keys().count(),
            flipped.to_event(1),
        );
    }
}
