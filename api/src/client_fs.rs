//! Files of an allocation directory as `/v1/client/fs/ls` and
//! `/v1/client/fs/stat` return them (Nomad's `api.AllocFileInfo`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One entry of an allocation directory. Go always writes every field, so
/// `ContentType` is `""` for listings and directories rather than absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocFileInfo {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "IsDir")]
    pub is_dir: bool,
    #[serde(rename = "Size")]
    pub size: i64,
    /// Go's `os.FileMode.String()`, e.g. `-rw-r--r--` or `drwxrwxrwx`.
    #[serde(rename = "FileMode")]
    pub file_mode: String,
    /// Unix nanoseconds; an RFC 3339 string on the wire (a Go `time.Time`).
    #[serde(rename = "ModTime", with = "rfc3339")]
    pub mod_time: i64,
    /// A MIME type sniffed from the content; only `stat` fills it.
    #[serde(rename = "ContentType")]
    pub content_type: String,
}

/// A required Go `time.Time`: always an RFC 3339 string; Go's zero time and
/// `null` read as 0.
mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        crate::time::rfc3339_opt::serialize(&Some(*v), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Ok(crate::time::rfc3339_opt::deserialize(d)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_file_info_wire_shape() {
        let info = AllocFileInfo {
            name: "web.stdout.0".into(),
            is_dir: false,
            size: 12,
            file_mode: "-rw-r--r--".into(),
            mod_time: 1_700_000_000_500_000_000,
            content_type: String::new(),
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Name": "web.stdout.0", "IsDir": false, "Size": 12,
                "FileMode": "-rw-r--r--", "ModTime": "2023-11-14T22:13:20.5Z",
                "ContentType": ""
            })
        );
        let back: AllocFileInfo = serde_json::from_value(json).unwrap();
        assert_eq!(back, info);
        let go: AllocFileInfo = serde_json::from_str(
            r#"{"Name":"alloc","IsDir":true,"Size":4096,"FileMode":"drwxrwxrwx",
                "ModTime":"2023-11-14T23:13:20+01:00"}"#,
        )
        .unwrap();
        assert_eq!(go.mod_time, 1_700_000_000_000_000_000);
        assert!(go.is_dir);
    }
}
