//! The record of an exec or attach session (a Drover extension: Nomad
//! logs an exec only in the client's log). Each session writes two events
//! on the `Exec` topic of the event stream, `ExecSessionStarted` and
//! `ExecSessionEnded`, carrying this record: who opened it (the token's
//! accessor), where, which command, and how it ended.

use serde::{Deserialize, Serialize};

/// `Kind` of an exec session.
pub const EXEC_SESSION_EXEC: &str = "exec";
/// `Kind` of an attach session.
pub const EXEC_SESSION_ATTACH: &str = "attach";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecSession {
    /// Made by the client node that runs the session.
    #[serde(rename = "ID")]
    pub id: String,
    /// `exec` (a new command) or `attach` (the task itself).
    #[serde(rename = "Kind")]
    pub kind: String,
    #[serde(rename = "AllocID")]
    pub alloc_id: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "TaskGroup")]
    pub task_group: String,
    #[serde(rename = "Task")]
    pub task: String,
    /// The command an exec runs; empty for an attach.
    #[serde(rename = "Command", deserialize_with = "crate::null_default")]
    pub command: Vec<String>,
    #[serde(rename = "Tty")]
    pub tty: bool,
    /// The accessor of the token that opened the session: empty with ACLs
    /// off, `anonymous` for a request without a token.
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    /// Unix nanoseconds, stamped by the server that recorded the start.
    #[serde(rename = "StartedAt")]
    pub started_at: i64,
    /// Unix nanoseconds; 0 while the session is open.
    #[serde(rename = "EndedAt")]
    pub ended_at: i64,
    /// The command's (or attached task's) exit code, when it exited.
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i32>,
    /// How the session ended: `exited`, `closed by the user`, or the
    /// reason the socket was closed with (a revoked token, a stopped task).
    #[serde(rename = "EndReason")]
    pub end_reason: String,
}

/// `PUT /v1/internal/node/exec-session`: a client node reports a session
/// opening (`start`) or ending (`end`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecSessionReport {
    #[serde(rename = "Phase")]
    pub phase: String,
    #[serde(rename = "Session")]
    pub session: ExecSession,
}
