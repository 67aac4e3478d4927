use drover_api::ExecSession;
use serde::{Deserialize, Serialize};

/// An exec or attach session opened (event `ExecSessionStarted` on the
/// `Exec` topic). The record is complete as the server stamped it
/// (namespace, job, accessor, start time); apply stores nothing but the
/// event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecSessionStart {
    pub session: ExecSession,
    #[serde(default)]
    pub now: i64,
}

/// An exec or attach session ended (event `ExecSessionEnded`), with its
/// end time, exit code and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecSessionEnd {
    pub session: ExecSession,
    #[serde(default)]
    pub now: i64,
}
