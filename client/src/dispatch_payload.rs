//! A dispatched job's payload, written where its task reads it (Nomad's
//! client/allocrunner/taskrunner/dispatch_hook.go): before the task starts,
//! `Job.Payload` (base64 on the wire of the Snappy-compressed bytes, as the
//! server stores it) is decompressed into `local/<dispatch_payload.file>`.

use base64::Engine;
use drover_api::{Job, Task};

use crate::allocdir::AllocDir;

/// Write the payload for `task`, if the job carries one and the task asks
/// for it. An error names what failed; the task then fails to start.
pub fn write(dir: &AllocDir, job: &Job, task: &Task) -> Result<(), String> {
    let Some(file) = task.dispatch_payload.as_ref().map(|d| d.file.as_str()) else {
        return Ok(());
    };
    let Some(encoded) = job.payload.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("dispatch payload is not base64: {e}"))?;
    let bytes = snap::raw::Decoder::new()
        .decompress_vec(&compressed)
        .map_err(|e| format!("dispatch payload does not decompress: {e}"))?;
    let rel = format!("{}/{}", crate::allocdir::TASK_LOCAL, file);
    let task_dir = dir.task_dir(&task.name);
    // The server refuses a file that leaves `local/`; checked again here,
    // since the path comes from the job.
    let path = task_dir.join(&rel);
    if file.starts_with('/') || file.split('/').any(|p| p == "..") {
        return Err(format!(
            "dispatch payload file {file:?} leaves the task directory"
        ));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}
