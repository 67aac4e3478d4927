//! Frames of `/v1/client/fs/logs` and `/v1/client/fs/stream` (Nomad's
//! `StreamFrame`, `client/lib/streamframer`).
//!
//! The response body is JSON objects written back to back with no separator;
//! read it with `serde_json::Deserializer::from_slice(body).into_iter()`.
//! Every field is omitted when empty, so a heartbeat is `{}`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `FileEvent` when the followed file was deleted; the stream ends after it.
pub const FILE_EVENT_DELETED: &str = "file deleted";
/// `FileEvent` when the followed file shrank; reading restarts at offset 0.
pub const FILE_EVENT_TRUNCATED: &str = "file truncated";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamFrame {
    /// Offset within `File` just after the last byte of `Data`.
    #[serde(rename = "Offset", skip_serializing_if = "is_zero")]
    pub offset: i64,
    /// The bytes read; base64 (standard, padded) on the wire, as Go's `[]byte`.
    #[serde(
        rename = "Data",
        with = "base64_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub data: Vec<u8>,
    /// Path relative to the allocation directory, e.g. `alloc/logs/web.stdout.0`.
    #[serde(rename = "File", skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// [`FILE_EVENT_DELETED`], [`FILE_EVENT_TRUNCATED`] or empty.
    #[serde(rename = "FileEvent", skip_serializing_if = "String::is_empty")]
    pub file_event: String,
}

impl StreamFrame {
    /// The empty frame sent every second while a follow has nothing new.
    pub fn is_heartbeat(&self) -> bool {
        self.offset == 0
            && self.data.is_empty()
            && self.file.is_empty()
            && self.file_event.is_empty()
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Go's `encoding/json` writes `[]byte`.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64; padding is optional. `None` on any other byte.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim_end_matches('=').as_bytes();
    let value = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64_encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        let text = text.unwrap_or_default();
        base64_decode(&text).ok_or_else(|| serde::de::Error::custom("invalid base64 in Data"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_frame_wire_shape() {
        let frame = StreamFrame {
            offset: 11,
            data: b"hello world".to_vec(),
            file: "alloc/logs/web.stdout.0".into(),
            file_event: String::new(),
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(
            json,
            r#"{"Offset":11,"Data":"aGVsbG8gd29ybGQ=","File":"alloc/logs/web.stdout.0"}"#
        );
        assert_eq!(
            serde_json::to_string(&StreamFrame::default()).unwrap(),
            "{}"
        );
        assert!(StreamFrame::default().is_heartbeat());

        let body = format!(r#"{json}{{}}{{"FileEvent":"file truncated","Data":null}}"#);
        let frames: Vec<StreamFrame> = serde_json::Deserializer::from_str(&body)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], frame);
        assert!(frames[1].is_heartbeat());
        assert_eq!(frames[2].file_event, FILE_EVENT_TRUNCATED);
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(200))
                .collect();
            let text = base64_encode(&data);
            assert_eq!(text.len() % 4, 0);
            assert_eq!(base64_decode(&text), Some(data));
        }
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        assert_eq!(base64_decode("Zm9vYg"), Some(b"foob".to_vec()));
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Z"), None);
    }
}
