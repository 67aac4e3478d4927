//! The persistent ordered collections the tables are kept in, and how a
//! map of them is read from a snapshot.
//!
//! imbl's own `Deserialize` preallocates the element count the input
//! claims, so a corrupt or hostile snapshot (a flipped length byte) could
//! ask for terabytes and abort the process. Tables deserialize through
//! [`deserialize`] instead, which grows only with entries actually read.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The ordered map every table and collection index is kept in: imbl's
/// B+tree, whose clones share nodes until one side writes.
pub(crate) type Map<K, V> = imbl::OrdMap<K, V>;
/// The ordered set every secondary index is kept in.
pub(crate) type Set<K> = imbl::OrdSet<K>;

struct MapVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
where
    K: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de> + Clone,
{
    type Value = Map<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some((k, v)) = access.next_entry()? {
            map.insert(k, v);
        }
        Ok(map)
    }
}

/// `#[serde(deserialize_with)]` for a [`Map`] field.
pub(crate) fn deserialize<'de, D, K, V>(d: D) -> Result<Map<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de> + Clone,
{
    d.deserialize_map(MapVisitor(PhantomData))
}

struct VectorVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Clone> Visitor<'de> for VectorVisitor<T> {
    type Value = imbl::Vector<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut v = imbl::Vector::new();
        while let Some(x) = access.next_element()? {
            v.push_back(x);
        }
        Ok(v)
    }
}

/// `#[serde(deserialize_with)]` for an imbl `Vector` field, for the same
/// reason as [`deserialize`].
pub(crate) fn deserialize_vector<'de, D, T>(d: D) -> Result<imbl::Vector<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Clone,
{
    d.deserialize_seq(VectorVisitor(PhantomData))
}

/// A [`Map`] that deserializes through [`deserialize`], for maps nested
/// in maps.
#[derive(Clone)]
pub(crate) struct Nested<K: Ord + Clone, V: Clone>(pub Map<K, V>);

impl<'de, K, V> Deserialize<'de> for Nested<K, V>
where
    K: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de> + Clone,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d).map(Nested)
    }
}

/// `#[serde(deserialize_with)]` for a [`Map`] of [`Map`]s.
pub(crate) fn deserialize_nested<'de, D, K, K2, V>(d: D) -> Result<Map<K, Map<K2, V>>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + Clone,
    K2: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de> + Clone,
{
    let outer: Map<K, Nested<K2, V>> = deserialize(d)?;
    Ok(outer.into_iter().map(|(k, v)| (k, v.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "deserialize")]
        m: Map<String, u64>,
        #[serde(deserialize_with = "deserialize_nested")]
        n: Map<String, Map<String, u64>>,
    }

    #[test]
    fn a_claimed_length_far_beyond_the_input_is_an_error_not_an_allocation() {
        // {"m": <map claiming 2^32-1 entries> ...}: MessagePack map32.
        let mut bytes = vec![0x82, 0xa1, b'm', 0xdf, 0xff, 0xff, 0xff, 0xff];
        bytes.extend_from_slice(&[0xa1, b'k', 0x01]);
        let err = rmp_serde::from_slice::<Holder>(&bytes);
        assert!(err.is_err());
    }

    #[test]
    fn nested_maps_read_back() {
        let bytes = rmp_serde::to_vec_named(&serde_json::json!({
            "m": {"a": 1, "b": 2},
            "n": {"x": {"y": 3}},
        }))
        .expect("encode");
        let h: Holder = rmp_serde::from_slice(&bytes).expect("decode");
        assert_eq!(h.m.get("b"), Some(&2));
        assert_eq!(h.n.get("x").and_then(|m| m.get("y")), Some(&3));
    }
}
