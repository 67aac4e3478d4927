//! How retained events are written into a snapshot and read back.
//!
//! An event is a map of its keys (`event_type`, `topic`, `key`,
//! `namespace`, `filter_keys`) and either `payload`, the object's own
//! MessagePack encoding as a binary (copied on restore, never decoded), or
//! `row`, the length that encoding has. `row` is written for an event that
//! shares the row the snapshot's tables hold for its topic, namespace, key
//! and index ([`LogWithRows`]): the row is in the snapshot already, so
//! writing its encoding again would cost the encoding on every snapshot,
//! the bytes in the file, and on restore a decode and a comparison. A
//! restore takes the row from the tables ([`EventLog::resolve_rows`]).
//! Format 1 snapshots held the object itself (`payload: {"Job": {…}}`);
//! those are encoded as they are read.

use super::*;

/// Set on the topic byte of an event read as a `row` reference until
/// [`EventLog::resolve_rows`] gives it its row; `topic_of` reads such a
/// byte as `*`, which hides nothing from a subscription meanwhile.
const ROW_PENDING: u8 = 0x80;

impl RetainedEvent {
    /// Serialize with the payload, or, when `by_row`, with only the length
    /// of its encoding (the row is in the snapshot).
    fn write<S: Serializer>(&self, s: S, by_row: bool) -> Result<S::Ok, S::Error> {
        struct Bin<'a>(&'a [u8]);
        impl Serialize for Bin<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        struct Keys<'a>(&'a RetainedEvent);
        impl Serialize for Keys<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.filter_keys())
            }
        }
        let mut st = s.serialize_struct("RetainedEvent", 6)?;
        st.serialize_field("event_type", self.event_type())?;
        st.serialize_field("topic", self.topic().as_str())?;
        st.serialize_field("key", self.key())?;
        st.serialize_field("namespace", self.namespace())?;
        st.serialize_field("filter_keys", &Keys(self))?;
        if by_row {
            let header = self.block.len() - self.unpack().payload.len();
            let encoded = self.encoded_len() - header;
            st.serialize_field("row", &(encoded as u64))?;
        } else {
            st.serialize_field("payload", &Bin(&self.payload_bytes()))?;
        }
        st.end()
    }

    /// An event read as a `row` reference: its header and the length of
    /// the row's encoding, marked until its row is found.
    fn pending_row(topic: Topic, strings: &[&str], encoded: usize) -> RetainedEvent {
        let mut buf = Vec::new();
        write_header(&mut buf, topic, strings);
        if let Some(code) = buf.first_mut() {
            *code |= ROW_PENDING;
        }
        write_varint(&mut buf, encoded);
        RetainedEvent {
            block: buf.into_boxed_slice(),
            shared: None,
        }
    }

    fn is_pending_row(&self) -> bool {
        self.block.first().is_some_and(|c| c & ROW_PENDING != 0)
    }
}

/// Every event with its payload: the form of formats 2 and 3, and of a
/// log serialized on its own.
impl Serialize for RetainedEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.write(s, false)
    }
}

/// The event log as a snapshot writes it: the shape of [`EventLog`]'s own
/// `Serialize`, with an event written as a `row` reference when it shares
/// the row `row` finds for it (the same `Arc`), which is exactly what
/// [`EventLog::resolve_rows`] will look up.
pub(crate) struct LogWithRows<'a, F> {
    pub log: &'a EventLog,
    pub row: F,
}

impl<F> Serialize for LogWithRows<'_, F>
where
    F: Fn(Topic, &str, &str, u64) -> Option<Object>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Batches<'a, F>(&'a LogWithRows<'a, F>);
        impl<F: Fn(Topic, &str, &str, u64) -> Option<Object>> Serialize for Batches<'_, F> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.log.batches.iter().map(|b| Batch(b, &self.0.row)))
            }
        }
        struct Batch<'a, F>(&'a EventBatch, &'a F);
        impl<F: Fn(Topic, &str, &str, u64) -> Option<Object>> Serialize for Batch<'_, F> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut st = s.serialize_struct("EventBatch", 3)?;
                st.serialize_field("index", &self.0.index)?;
                st.serialize_field("time", &self.0.time)?;
                st.serialize_field("events", &Events(self.0, self.1))?;
                st.end()
            }
        }
        struct Events<'a, F>(&'a EventBatch, &'a F);
        impl<F: Fn(Topic, &str, &str, u64) -> Option<Object>> Serialize for Events<'_, F> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let (batch, row) = (self.0, self.1);
                s.collect_seq(batch.events.iter().map(|e| {
                    let by_row = e.shared.as_ref().is_some_and(|o| {
                        row(e.topic(), e.namespace(), e.key(), batch.index)
                            .is_some_and(|r| r.same_row(o))
                    });
                    Event(e, by_row)
                }))
            }
        }
        struct Event<'a>(&'a RetainedEvent, bool);
        impl Serialize for Event<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.write(s, self.1)
            }
        }
        let mut st = s.serialize_struct("EventLog", 3)?;
        st.serialize_field("batches", &Batches(self))?;
        st.serialize_field("event_count", &self.log.event_count)?;
        st.serialize_field("compacted_through", &self.log.compacted_through)?;
        st.end()
    }
}

impl EventLog {
    /// Give every event read as a `row` reference its row. `rows` are the
    /// restored tables' jobs, evaluations and deployments; each is offered
    /// to the batch at its `ModifyIndex`, the index its event was logged
    /// at, so finding it costs a search by index rather than a lookup by
    /// key per event. A reference left without its row is a damaged
    /// snapshot: an error naming the event, never an event without its
    /// object.
    pub(crate) fn resolve_rows(
        &mut self,
        rows: impl IntoIterator<Item = Object>,
    ) -> Result<(), String> {
        for row in rows {
            let Some(i) = self.position(row.modify_index()) else {
                continue;
            };
            let Some(batch) = self.batches.get_mut(i) else {
                continue;
            };
            let pending = |e: &RetainedEvent| {
                e.is_pending_row()
                    && topic_of(e.block.first().map_or(u8::MAX, |c| c & !ROW_PENDING))
                        == row.topic()
                    && e.key() == row.key()
                    && e.namespace() == row.namespace()
            };
            if !batch.events.iter().any(pending) {
                continue;
            }
            if Arc::get_mut(&mut batch.events).is_none() {
                batch.events = batch.events.iter().cloned().collect();
            }
            let Some(events) = Arc::get_mut(&mut batch.events) else {
                continue;
            };
            for e in events.iter_mut().filter(|e| pending(e)) {
                if let Some(code) = e.block.first_mut() {
                    *code &= !ROW_PENDING;
                }
                e.shared = Some(row.clone());
            }
        }
        for batch in &self.batches {
            if let Some(e) = batch.events.iter().find(|e| e.is_pending_row()) {
                return Err(format!(
                    "the {} event for {:?} at index {} names a row the snapshot does not hold",
                    e.event_type(),
                    e.key(),
                    batch.index
                ));
            }
        }
        Ok(())
    }
}

/// Reads every shape: a payload as a binary (formats 2 to 4), a `row`
/// reference (format 4), and format 1's `{event_type, payload: {"Job":
/// {…}}}`, which is encoded here.
impl<'de> Deserialize<'de> for RetainedEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Shape<'a> {
            #[serde(borrow)]
            event_type: Str<'a>,
            #[serde(default, borrow)]
            topic: Option<Str<'a>>,
            #[serde(default, borrow)]
            key: Str<'a>,
            #[serde(default, borrow)]
            namespace: Str<'a>,
            #[serde(default, borrow)]
            filter_keys: Vec<Str<'a>>,
            #[serde(default, borrow)]
            payload: Option<PayloadShape<'a>>,
            #[serde(default)]
            row: Option<u64>,
        }
        let Shape {
            event_type,
            topic,
            key,
            namespace,
            filter_keys,
            payload,
            row,
        } = Shape::deserialize(d)?;
        let topic = || {
            topic
                .as_ref()
                .and_then(|t| Topic::parse(&t.0))
                .ok_or_else(|| de::Error::custom("retained event without a known topic"))
        };
        let mut strings = vec![&*event_type.0, &*key.0, &*namespace.0];
        strings.extend(filter_keys.iter().map(|k| &*k.0));
        match (payload, row) {
            (None, Some(encoded)) => {
                let encoded = usize::try_from(encoded).map_err(de::Error::custom)?;
                Ok(RetainedEvent::pending_row(topic()?, &strings, encoded))
            }
            (Some(PayloadShape::Encoded(bytes)), None) => {
                Ok(RetainedEvent::from_parts(topic()?, &strings, &bytes))
            }
            (Some(PayloadShape::Object(payload)), None) => {
                let mut buf = Vec::new();
                rmp_serde::encode::write_named(&mut buf, &payload).map_err(de::Error::custom)?;
                let e = LoggedEvent {
                    event_type: Cow::Owned(event_type.0.to_string()),
                    object: match payload {
                        EventPayload::Job(j) => Object::Job(Arc::new(*j)),
                        EventPayload::Evaluation(e) => Object::Evaluation(Arc::new(*e)),
                        EventPayload::Allocation(a) => Object::Allocation(a),
                        EventPayload::Node(n) => Object::Node(n),
                        EventPayload::Deployment(d) => Object::Deployment(Arc::new(*d)),
                        EventPayload::ExecSession(x) => Object::ExecSession(x),
                    },
                };
                let mut strings = vec![&*e.event_type, e.key(), e.namespace()];
                strings.extend(e.filter_keys());
                Ok(RetainedEvent::from_parts(e.topic(), &strings, &buf))
            }
            (None, None) => Err(de::Error::custom(
                "retained event with neither a payload nor a row",
            )),
            (Some(_), Some(_)) => Err(de::Error::custom(
                "retained event with both a payload and a row",
            )),
        }
    }
}

/// A string borrowed from the snapshot when the decoder can (`Cow`'s own
/// `Deserialize` always copies).
#[derive(Default)]
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(s))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(s))
            }
        }
        d.deserialize_str(V).map(Str)
    }
}

enum PayloadShape<'a> {
    /// Formats 2 to 4: the object's encoding.
    Encoded(Cow<'a, [u8]>),
    /// Format 1: the object itself.
    Object(EventPayload),
}

impl<'de: 'a, 'a> Deserialize<'de> for PayloadShape<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PayloadShape<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an encoded event payload or an event payload object")
            }
            fn visit_borrowed_bytes<E>(self, b: &'de [u8]) -> Result<Self::Value, E> {
                Ok(PayloadShape::Encoded(Cow::Borrowed(b)))
            }
            fn visit_bytes<E>(self, b: &[u8]) -> Result<Self::Value, E> {
                Ok(PayloadShape::Encoded(Cow::Owned(b.to_vec())))
            }
            fn visit_byte_buf<E>(self, b: Vec<u8>) -> Result<Self::Value, E> {
                Ok(PayloadShape::Encoded(Cow::Owned(b)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                // `{"Job": {…}}`: the externally tagged enum, as rmp_serde
                // writes a newtype variant.
                EventPayload::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PayloadShape::Object)
            }
        }
        d.deserialize_any(V)
    }
}
