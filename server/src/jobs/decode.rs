//! Request bodies to typed values, with errors that name the field.
//!
//! Nomad's Go client encodes every unset pointer as `null`, and `nomad job
//! run` never fills defaults before sending, so a real submission is full of
//! `"Priority": null`, `"KillTimeout": null`, `"MBits": null`. Drover's wire
//! structs keep plain scalars behind `#[serde(default)]`, which treats a
//! *missing* field as its default but rejects `null`. Rather than annotate
//! every scalar of every struct, decoding goes through a `serde_json::Value`
//! and drops every `null` object member first: to Go, `null` and "absent"
//! mean the same thing (a nil pointer), so nothing is lost.
//!
//! Nulls are dropped everywhere, including inside free-form maps: a task's
//! driver `Config`, `Meta`, `Env`. For `Meta` and `Env` (string to string)
//! a null could only be a type error, so dropping it is merely lenient. For a
//! driver `Config`, Nomad's drivers decode a null key as an unset option,
//! which is exactly what dropping it gives. Null *elements of arrays* are
//! kept: `"Datacenters": ["dc1", null]` is a mistake worth a 400 with a path,
//! not something to guess about.
//!
//! The typed decode runs through `serde_path_to_error`, so an error says
//! where it happened, using the JSON field names as the client sent them:
//! `invalid value for Job.TaskGroups[0].Count: invalid type: string "three",
//! expected i32`.

use serde::de::{DeserializeOwned, Unexpected};
use serde_json::Value;

use super::value::canonicalize_value;

/// Why a request body could not be decoded. Every variant is a client error
/// (HTTP 400); the Display text is the body of that response.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all. serde_json's message already ends in
    /// `at line L column C`.
    #[error("failed to parse JSON body: {0}")]
    Syntax(#[source] serde_json::Error),
    /// JSON, but the body as a whole has the wrong shape (an array where an
    /// object was expected), so there is no field to name.
    #[error("invalid request body: {0}")]
    Body(#[source] serde_json::Error),
    /// A field has the wrong type or an impossible value.
    #[error("invalid value for {path}: {source}")]
    Field {
        /// Dotted path from the body's root, e.g. `Job.TaskGroups[0].Count`.
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl DecodeError {
    /// The path of the offending field, when the error is about one field.
    pub fn path(&self) -> Option<&str> {
        match self {
            DecodeError::Field { path, .. } => Some(path),
            DecodeError::Syntax(_) | DecodeError::Body(_) => None,
        }
    }
}

/// Decodes any request body: parse, drop `null` members, decode with paths.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let value = parse(body)?;
    from_value(value)
}

/// Decodes a body that carries a job in its top-level `Job` member
/// (`JobRegisterRequest`, job validate and plan requests), filling the job's
/// absent fields with Nomad's API defaults ([`canonicalize_value`]) between
/// the null stripping and the typed decode: the only point at which an
/// absent `Count` can still be told from an explicit `0`.
///
/// A body whose `Job` is missing or not an object decodes unchanged; the
/// handler's [`super::validate_register`] or the typed decode reports it.
///
/// The body must be a JSON object: serde would otherwise read a struct from
/// an array of its fields in order, and `[{...}]` is not a job submission.
pub fn decode_job_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let mut value = parse(body)?;
    let Value::Object(members) = &mut value else {
        let found = match &value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(_) => Unexpected::Other("number"),
            Value::String(s) => Unexpected::Str(s),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        };
        return Err(DecodeError::Body(serde::de::Error::invalid_type(
            found,
            &"a JSON object",
        )));
    };
    if let Some(job) = members.get_mut("Job") {
        canonicalize_value(job);
    }
    from_value(value)
}

/// Removes every object member whose value is `null`, at any depth (objects
/// nested in objects and in arrays). Array elements that are `null` stay.
///
/// Recursion depth is bounded by serde_json's parser, which refuses input
/// nested more than 128 levels, so a hostile body cannot overflow the stack
/// here.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn parse(body: &[u8]) -> Result<Value, DecodeError> {
    let mut value: Value = serde_json::from_slice(body).map_err(DecodeError::Syntax)?;
    strip_nulls(&mut value);
    Ok(value)
}

fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let source = err.into_inner();
        // serde_path_to_error spells the root (no segment at all) as ".".
        if path == "." {
            DecodeError::Body(source)
        } else {
            DecodeError::Field { path, source }
        }
    })
}
