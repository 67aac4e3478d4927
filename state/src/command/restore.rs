use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Replace the whole state with a saved one (Nomad's operator snapshot
/// restore, nomad/operator_endpoint.go `snapshotRestore`): `snapshot` is a
/// [`crate::State::snapshot`] encoding. Applied at one index on every
/// server; this cluster's event log is kept, and every read reports at
/// least the restore's index from then on, so every blocking query wakes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRestore {
    #[serde(serialize_with = "as_binary", deserialize_with = "from_binary")]
    pub snapshot: Vec<u8>,
    #[serde(default)]
    pub now: i64,
}

/// A MessagePack binary, not an array of integers.
fn as_binary<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(v)
}

fn from_binary<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    d.deserialize_byte_buf(V)
}
