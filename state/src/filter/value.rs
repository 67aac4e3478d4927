//! The value model filters are evaluated against, and a `serde::Serializer`
//! that builds it from any `T: Serialize`.
//!
//! Why not `serde_json::Value`? JSON erases the difference between a Rust
//! struct and a map, and the filter language needs it: an unknown struct
//! field is a mistake in the filter (error), while a missing map key is just
//! data (not present). The serializer sees `serialize_struct` versus
//! `serialize_map` and keeps that distinction.
//!
//! Mapping from the serde data model:
//!
//! * `None`, `()`, unit structs → [`Value::Null`]; `Some(x)`, newtype
//!   structs → `x`.
//! * unit variants → the variant name as a string (how serde writes them on
//!   the wire, so `Status == running` works for enum-typed fields);
//!   newtype variants → the inner value; tuple variants → a list; struct
//!   variants → a struct of their fields.
//! * `&[u8]` bytes → a list of unsigned integers; `char` → a string.
//! * map keys → strings (strings as-is, numbers/bools/chars via their text,
//!   unit variants by name); any other key kind is an error, not a panic.
//! * fields skipped with `skip_serializing_if` are still recorded (as
//!   `Null`) so that naming them is not an "unknown field" error.
//!
//! Because filtering runs for every object of a list endpoint, the serializer
//! can be steered by a [`Projection`]: the set of paths the filter mentions.
//! Anything off those paths is never converted (struct fields and map entries
//! are skipped, list elements become `Null` placeholders to keep indexes).

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

use super::ast::{Expr, Segment};
use super::{FilterError, FilterErrorKind};

/// A serialized object, as the evaluator sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    /// Entries in serialization order. Lookups are linear; the maps we
    /// filter on (`Meta`, `Attributes`) are small.
    Map(Vec<(String, Value)>),
    Struct(Vec<(&'static str, Value)>),
}

impl Value {
    /// The kind, phrased for error messages ("cannot look up x inside a string").
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::UInt(_) => "an unsigned integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
            Value::Struct(_) => "an object",
        }
    }
}

/// Selector paths longer than this are only materialised down to this depth
/// and in full below it. The projection is a tree, and a bounded depth keeps
/// its recursive drop/clone/compare from overflowing the stack on a filter
/// such as `a.a.a.a....` with 100,000 segments.
const MAX_PROJECTION_DEPTH: usize = 32;

/// Past this many distinct names below one node, the node is kept whole.
const MAX_PROJECTION_CHILDREN: usize = 64;

/// A trie of the selector paths used by a filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Projection {
    /// The whole value at this node is needed (a selector ends here).
    whole: bool,
    children: Vec<Child>,
}

#[derive(Debug, Clone, PartialEq)]
struct Child {
    name: String,
    /// The list index `name` denotes, if it is all digits.
    index: Option<usize>,
    node: Projection,
}

impl Projection {
    pub(crate) fn from_expr(expr: &Expr) -> Projection {
        let mut root = Projection::default();
        // Iterative walk: the expression tree is at most MAX_DEPTH deep, but
        // there is no need to recurse at all.
        let mut stack = vec![expr];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Or(items) | Expr::And(items) => stack.extend(items.iter()),
                Expr::Not(inner) => stack.push(inner),
                Expr::Match(m) => root.insert(&m.sel.segs),
            }
        }
        root
    }

    fn insert(&mut self, segs: &[Segment]) {
        let mut node = self;
        for (depth, seg) in segs.iter().enumerate() {
            if node.whole {
                return;
            }
            if depth >= MAX_PROJECTION_DEPTH {
                break;
            }
            let at = match node.children.iter().position(|c| c.name == seg.name) {
                Some(at) => at,
                // Lookups are linear; rather than let a filter with thousands
                // of distinct keys at one level make parsing and serializing
                // quadratic, keep such a node whole.
                None if node.children.len() >= MAX_PROJECTION_CHILDREN => break,
                None => {
                    node.children.push(Child {
                        name: seg.name.clone(),
                        index: seg.index,
                        node: Projection::default(),
                    });
                    node.children.len() - 1
                }
            };
            node = &mut node.children[at].node;
        }
        node.whole = true;
        node.children.clear();
    }

    fn child(&self, key: &str) -> Option<&Projection> {
        self.children
            .iter()
            .find(|c| c.name == key)
            .map(|c| &c.node)
    }

    /// The projection for list element `index`: `None` if no selector uses
    /// it, `Some(None)` if it is needed in full. Spellings such as `.1` and
    /// `.01` name the same element but are different map keys, so they are
    /// separate children; if several match, the element is kept whole.
    fn child_index(&self, index: usize) -> Option<Option<&Projection>> {
        let mut found = self.children.iter().filter(|c| c.index == Some(index));
        let first = found.next()?;
        if found.next().is_some() {
            return Some(None);
        }
        Some(norm(Some(&first.node)))
    }
}

/// `None` means "everything"; a node that needs its whole value is the same.
fn norm(p: Option<&Projection>) -> Option<&Projection> {
    p.filter(|p| !p.whole)
}

/// Converts `value` into a [`Value`], keeping only what `proj` selects (or
/// everything when `proj` is `None`).
pub(crate) fn to_value<T: Serialize + ?Sized>(
    value: &T,
    proj: Option<&Projection>,
) -> Result<Value, FilterError> {
    value
        .serialize(Ser { proj: norm(proj) })
        .map_err(|e| FilterError::new(0, FilterErrorKind::Serialize(e.0)))
}

/// The serializer's error: a message only.
#[derive(Debug)]
pub(crate) struct SerError(String);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

#[derive(Clone, Copy)]
struct Ser<'p> {
    proj: Option<&'p Projection>,
}

fn i128_value(v: i128) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::Int(i),
        Err(_) => match u64::try_from(v) {
            Ok(u) => Value::UInt(u),
            Err(_) => Value::Float(v as f64),
        },
    }
}

impl<'p> ser::Serializer for Ser<'p> {
    type Ok = Value;
    type Error = SerError;
    type SerializeSeq = SeqSer<'p>;
    type SerializeTuple = SeqSer<'p>;
    type SerializeTupleStruct = SeqSer<'p>;
    type SerializeTupleVariant = SeqSer<'p>;
    type SerializeMap = MapSer<'p>;
    type SerializeStruct = StructSer<'p>;
    type SerializeStructVariant = StructSer<'p>;

    fn serialize_bool(self, v: bool) -> Result<Value, SerError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, SerError> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, SerError> {
        Ok(i128_value(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, SerError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, SerError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, SerError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, SerError> {
        Ok(Value::UInt(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, SerError> {
        Ok(match u64::try_from(v) {
            Ok(u) => Value::UInt(u),
            Err(_) => Value::Float(v as f64),
        })
    }
    fn serialize_f32(self, v: f32) -> Result<Value, SerError> {
        // Widen through the shortest decimal text so that an f32 field
        // holding 0.1 equals the literal 0.1 (go-bexpr compares float32
        // fields in float32 for the same reason).
        let wide = v.to_string().parse::<f64>().unwrap_or(f64::from(v));
        Ok(Value::Float(wide))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, SerError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, SerError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, SerError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, SerError> {
        Ok(Value::Seq(
            v.iter().map(|b| Value::UInt(u64::from(*b))).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, SerError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<Value, SerError> {
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer<'p>, SerError> {
        Ok(SeqSer {
            proj: self.proj,
            items: Vec::with_capacity(len.unwrap_or(0).min(1024)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer<'p>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqSer<'p>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        len: usize,
    ) -> Result<SeqSer<'p>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer<'p>, SerError> {
        let cap = if self.proj.is_some() {
            0
        } else {
            len.unwrap_or(0).min(1024)
        };
        Ok(MapSer {
            proj: self.proj,
            entries: Vec::with_capacity(cap),
            pending: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<StructSer<'p>, SerError> {
        let cap = match self.proj {
            Some(p) => p.children.len(),
            None => len,
        };
        Ok(StructSer {
            proj: self.proj,
            fields: Vec::with_capacity(cap.min(1024)),
        })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        _variant: &'static str,
        len: usize,
    ) -> Result<StructSer<'p>, SerError> {
        self.serialize_struct(name, len)
    }
}

pub(crate) struct SeqSer<'p> {
    proj: Option<&'p Projection>,
    items: Vec<Value>,
}

impl SeqSer<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        let v = match self.proj {
            None => value.serialize(Ser { proj: None })?,
            Some(p) => match p.child_index(self.items.len()) {
                Some(c) => value.serialize(Ser { proj: c })?,
                // Not selected: keep a placeholder so later indexes line up.
                None => Value::Null,
            },
        };
        self.items.push(v);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqSer<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Seq(self.items))
    }
}

impl ser::SerializeTuple for SeqSer<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Seq(self.items))
    }
}

impl ser::SerializeTupleStruct for SeqSer<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Seq(self.items))
    }
}

impl ser::SerializeTupleVariant for SeqSer<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Seq(self.items))
    }
}

pub(crate) struct MapSer<'p> {
    proj: Option<&'p Projection>,
    entries: Vec<(String, Value)>,
    /// The key passed to `serialize_key`, waiting for its value.
    pending: Option<String>,
}

impl ser::SerializeMap for MapSer<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerError> {
        self.pending = Some(key.serialize(KeySer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        let Some(key) = self.pending.take() else {
            return Err(SerError("map value serialized before its key".to_owned()));
        };
        let child = match self.proj {
            None => None,
            Some(p) => match p.child(&key) {
                Some(c) => norm(Some(c)),
                None => return Ok(()),
            },
        };
        let v = value.serialize(Ser { proj: child })?;
        self.entries.push((key, v));
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Map(self.entries))
    }
}

pub(crate) struct StructSer<'p> {
    proj: Option<&'p Projection>,
    fields: Vec<(&'static str, Value)>,
}

impl StructSer<'_> {
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        let child = match self.proj {
            None => None,
            Some(p) => match p.child(key) {
                Some(c) => norm(Some(c)),
                None => return Ok(()),
            },
        };
        let v = value.serialize(Ser { proj: child })?;
        self.fields.push((key, v));
        Ok(())
    }

    fn skip(&mut self, key: &'static str) {
        // The field exists but was left out (`skip_serializing_if`); record it
        // so that selecting it means "not present" rather than "unknown".
        if self.proj.is_none_or(|p| p.child(key).is_some()) {
            self.fields.push((key, Value::Null));
        }
    }
}

impl ser::SerializeStruct for StructSer<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.field(key, value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), SerError> {
        self.skip(key);
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Struct(self.fields))
    }
}

impl ser::SerializeStructVariant for StructSer<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.field(key, value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), SerError> {
        self.skip(key);
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Struct(self.fields))
    }
}

/// Serializes a map key to the string a selector would use for it.
struct KeySer;

fn bad_key(what: &str) -> SerError {
    SerError(format!(
        "map keys must be strings, numbers or booleans, found {what}"
    ))
}

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = SerError;
    type SerializeSeq = Impossible<String, SerError>;
    type SerializeTuple = Impossible<String, SerError>;
    type SerializeTupleStruct = Impossible<String, SerError>;
    type SerializeTupleVariant = Impossible<String, SerError>;
    type SerializeMap = Impossible<String, SerError>;
    type SerializeStruct = Impossible<String, SerError>;
    type SerializeStructVariant = Impossible<String, SerError>;

    fn serialize_bool(self, v: bool) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<String, SerError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, SerError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, SerError> {
        Err(bad_key("bytes"))
    }
    fn serialize_none(self) -> Result<String, SerError> {
        Err(bad_key("an absent option"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, SerError> {
        Err(bad_key("a unit value"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, SerError> {
        Err(bad_key("a unit struct"))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, SerError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, SerError> {
        Err(bad_key("an enum with data"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Err(bad_key("a list"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(bad_key("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(bad_key("a tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(bad_key("an enum with data"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(bad_key("a map"))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Err(bad_key("a struct"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(bad_key("an enum with data"))
    }
}
