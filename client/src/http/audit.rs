//! What the exec and attach endpoints ask of whoever records their
//! sessions ([`SessionAudit`]; the agent's is [`crate::session_record`]).
//!
//! A session is recorded once its command has started and before the
//! user's socket is accepted: a session that cannot be recorded is not
//! opened (a refusal is answered 403, an unreachable recorder 500, both
//! before the upgrade). While it is open, [`OpenSession::revoked`] ends
//! it with close 1008 when its token may no longer open it; when it
//! ends, for whatever reason, [`OpenSession::ended`] records how.

use axum::http::HeaderMap;

use super::alloc::BoxFuture;

/// A session about to be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStart {
    /// `exec` or `attach` ([`drover_api::EXEC_SESSION_EXEC`], ...).
    pub kind: &'static str,
    pub alloc_id: String,
    pub task: String,
    /// Empty for an attach.
    pub command: Vec<String>,
    pub tty: bool,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub exit_code: Option<i32>,
    pub reason: String,
}

impl SessionEnd {
    pub fn exited(code: Option<i32>) -> SessionEnd {
        SessionEnd {
            exit_code: code,
            reason: "exited".to_string(),
        }
    }

    pub fn because(reason: impl Into<String>) -> SessionEnd {
        SessionEnd {
            exit_code: None,
            reason: reason.into(),
        }
    }
}

/// Why a session could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// The token may not open it (403, with the servers' message).
    Refused(String),
    /// No server recorded it (500).
    Unavailable(String),
}

pub trait SessionAudit: Send + Sync + 'static {
    /// Record the start, as the caller whose request headers are
    /// `headers` (its token).
    fn open<'a>(
        &'a self,
        start: SessionStart,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Result<Box<dyn OpenSession>, AuditError>>;
}

pub trait OpenSession: Send + Sync {
    /// Resolves, with the reason, once the session's token may no longer
    /// open it; never while it may.
    fn revoked(&self) -> BoxFuture<'_, String>;
    /// Record the end.
    fn ended(self: Box<Self>, end: SessionEnd) -> BoxFuture<'static, ()>;
}
