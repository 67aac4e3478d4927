//! The scheduler's pure parts: which nodes can take a task group
//! ([`feasible`]) and how well it fits each of them ([`rank`]). Both are
//! functions of a node, a job and the allocations already there, so they are
//! tested without any runtime. The eval broker, the schedulers' reconcilers
//! and the plan applier (issue C) build on them.

pub mod feasible;
pub mod rank;
