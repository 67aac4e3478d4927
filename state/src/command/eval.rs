use drover_api::Evaluation;
use serde::{Deserialize, Serialize};

/// Upsert evaluations (status changes by workers, blocked and follow-up evals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalUpdate {
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

/// Delete evaluations and allocations (garbage collection, or an
/// operator's `DELETE /v1/evaluations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalDelete {
    pub evals: Vec<String>,
    pub allocs: Vec<String>,
    /// An operator's delete: refused unless the scheduler configuration
    /// pauses the eval broker (Nomad's `DeleteEval` with `userInitiated`).
    #[serde(default)]
    pub user_initiated: bool,
    #[serde(default)]
    pub now: i64,
}
