use drover_api::Evaluation;
use serde::{Deserialize, Serialize};

/// Upsert evaluations (status changes by workers, blocked and follow-up evals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalUpdate {
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

/// Delete evaluations and allocations (garbage collection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalDelete {
    pub evals: Vec<String>,
    pub allocs: Vec<String>,
    #[serde(default)]
    pub now: i64,
}
